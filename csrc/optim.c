/* optim.c — optimizers over flat parameter buffers, with torch.optim's arithmetic. */
#include <math.h>

#include "mlp.h"
#include "simd.h"

#include <float.h>

#define MLP_SQRT_OF(x) _Generic((x), float: sqrtf, default: sqrt)(x)

/* x, or 0 if x is subnormal (optim_impl.h says why). */
#define MLP_FLUSH(x) mlp_flush_of(x)
static inline float mlp_flush_f(float x) { return fabsf(x) < FLT_MIN ? 0.0f : x; }
static inline double mlp_flush_d(double x) { return fabs(x) < DBL_MIN ? 0.0 : x; }
#define mlp_flush_of(x) _Generic((x), float: mlp_flush_f, default: mlp_flush_d)(x)
#define MLP_NORMAL_MIN _Generic((MLP_T)0, float: FLT_MIN, default: DBL_MIN)

#ifdef MLP_X86_DISPATCH
#include "div512.h"
#endif

/* Adam on fewer parameters than this runs the portable build (a layer's biases, say): dispatch would cost more. */
#define MLP_ADAM_SIMD_MIN 64

mlp_adam_step mlp_adam_step_of(const mlp_optimizer *opt, int64_t t)
{
    mlp_adam_step step = {0.0, 1.0};
    if (opt->kind == MLP_ADAM) {
        const double bias_correction1 = 1.0 - pow(opt->beta1, (double)t);
        const double bias_correction2 = 1.0 - pow(opt->beta2, (double)t);
        step.step_size = opt->lr / bias_correction1;
        step.bias_correction2_sqrt = pow(bias_correction2, 0.5);
    }
    return step;
}

#define MLP_IMPL "optim_impl.h"
#include "each_precision.h"
