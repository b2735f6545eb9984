/* optim.c — optimizers over flat parameter buffers, with torch.optim's arithmetic. */
#include <math.h>

#include "mlp.h"
#include "simd.h"

#include <float.h>

#define MLP_SQRT_OF(x) _Generic((x), float: sqrtf, default: sqrt)(x)

/* x, or 0 if |x| is below `below` (optim_impl.h says why): the smallest normal number (MLP_T_MIN) to flush
   subnormal state, 0 not to. A compare and a select, which vectorize where a condition on the flush itself did
   not. */
#define MLP_FLUSH_BELOW(x, below) (MLP_ABS_OF(x) < (below) ? (MLP_T)0 : (x))
#define MLP_ABS_OF(x) _Generic((x), float: fabsf, default: fabs)(x)

/* Adam on fewer parameters than this runs the portable build (a layer's biases, say): dispatch would cost more. */
#define MLP_ADAM_SIMD_MIN 64

#define MLP_IMPL "optim_impl.h"
#include "each_precision.h"
/* The public kernels this file defines, by their full names (the template spells them MLP_FN(name); tests/c/run.sh
   checks this list against the object file):
     mlp_optim_update_f64              mlp_optim_update_f32
     mlp_optim_update_step_f64         mlp_optim_update_step_f32 */

/* The optimizer table: one row per optimizer, in mlp_optimizer_kind's order. Adding an optimizer is a step
   function (optim_impl.h), a row here and its kind in mlp.h; the binding and the Python package read the names
   and the state's layout from here. */
static const mlp_optimizer_info optimizers[] = {
    {"sgd", 0, {"momentum_buffer", NULL}, 1, sgd_step_f64, sgd_step_f32},
    {"adam", 1, {"exp_avg", "exp_avg_sq"}, 0, adam_step_f64, adam_step_f32},
    {"rmsprop", 0, {"square_avg", NULL}, 0, rmsprop_step_f64, rmsprop_step_f32},
    {"adamw", 1, {"exp_avg", "exp_avg_sq"}, 0, adamw_step_f64, adamw_step_f32},
};
#define N_OPTIMIZERS (sizeof optimizers / sizeof optimizers[0])
_Static_assert(N_OPTIMIZERS == MLP_ADAMW + 1, "one row per mlp_optimizer_kind");

const mlp_optimizer_info *mlp_optimizer_table(size_t *count)
{
    *count = N_OPTIMIZERS;
    return optimizers;
}

size_t mlp_optim_buffers(const mlp_optimizer *opt)
{
    const mlp_optimizer_info *row = &optimizers[opt->kind];
    if (row->buffers_need_momentum && opt->momentum == 0.0) {
        return 0;
    }
    size_t n = 0;
    while (n < MLP_OPTIM_MAX_BUFFERS && row->buffers[n] != NULL) {
        n++;
    }
    return n;
}

mlp_optim_scalars mlp_optim_scalars_of(const mlp_optimizer *opt, int64_t t)
{
    mlp_optim_scalars sc = {0.0, 1.0};
    if (optimizers[opt->kind].counts_steps) { /* Adam's bias corrections (AdamW's too) */
        const double bias_correction1 = 1.0 - pow(opt->beta1, (double)t);
        const double bias_correction2 = 1.0 - pow(opt->beta2, (double)t);
        sc.step_size = opt->lr / bias_correction1;
        sc.bias_correction2_sqrt = pow(bias_correction2, 0.5);
    }
    return sc;
}

void mlp_optim_update_step_f64(mlp_isa isa, const mlp_optimizer *opt, const mlp_optim_scalars *scalars, size_t len,
                               double *p, const double *g, double *const *state)
{
    optimizers[opt->kind].step_f64(isa, opt, scalars, len, p, g, state);
}

void mlp_optim_update_step_f32(mlp_isa isa, const mlp_optimizer *opt, const mlp_optim_scalars *scalars, size_t len,
                               float *p, const float *g, float *const *state)
{
    optimizers[opt->kind].step_f32(isa, opt, scalars, len, p, g, state);
}

void mlp_optim_update_f64(mlp_isa isa, const mlp_optimizer *opt, size_t len, double *p, const double *g,
                          double *const *state, int64_t t)
{
    const mlp_optim_scalars sc = mlp_optim_scalars_of(opt, t);
    mlp_optim_update_step_f64(isa, opt, &sc, len, p, g, state);
}

void mlp_optim_update_f32(mlp_isa isa, const mlp_optimizer *opt, size_t len, float *p, const float *g,
                          float *const *state, int64_t t)
{
    const mlp_optim_scalars sc = mlp_optim_scalars_of(opt, t);
    mlp_optim_update_step_f32(isa, opt, &sc, len, p, g, state);
}
