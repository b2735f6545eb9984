/*
 * activations.c — activation functions over buffers, and their derivatives taken from the activation.
 *
 * The sigmoid runs on mlp_exp (vmath.h). Its loop is compiled for the x86-64 baseline (SSE2), AVX2 and
 * AVX-512 (simd.h), and chosen at run time; all three agree to the bit. float32 is computed in double and
 * rounded once.
 */
#include <math.h>
#include <string.h>

#include "mlp.h"
#include "simd.h"
#include "vmath.h"

/* tanh of the argument's own precision, as NumPy's np.tanh keeps the dtype. */
#define MLP_TANH_OF(x) _Generic((x), float: tanhf, default: tanh)(x)

/* Below this length, AVX-512's wider vectors (and its gathers) cost more than they bring: measured on the
   lecture's 4×3 and 4×1 activations, the AVX2 loop has the lower latency. */
#define MLP_SIGMOID_AVX512_MIN 64
/* Exponentials of a softmax: fewer than this run the portable build (one short row, say). */
#define MLP_EXP_SIMD_MIN 16
/* ReLU and leaky ReLU (and their gradients) on fewer values than this run the portable build. */
#define MLP_RECTIFY_SIMD_MIN 64
/* Rows whose softmax is taken together (their exponentials in one loop). */
#define MLP_SOFTMAX_BLOCK 64

const char *mlp_simd_path(mlp_isa isa)
{
#ifdef MLP_X86_DISPATCH
    return MLP_HAS_AVX512(isa) ? "avx512f (avx2 for short loops)" : MLP_HAS_AVX2_FMA(isa) ? "avx2" : "sse2";
#else
    (void)isa;
    return "generic";
#endif
}

int mlp_isa_parse(const char *name, mlp_isa *isa)
{
    static const struct {
        const char *name;
        mlp_isa isa;
    } names[] = {{"", MLP_ISA_BEST}, {"auto", MLP_ISA_BEST}, {"generic", MLP_ISA_GENERIC},
                 {"avx2", MLP_ISA_AVX2}, {"avx512", MLP_ISA_AVX512}};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        if (strcmp(name, names[k].name) == 0) {
            *isa = names[k].isa;
            return 1;
        }
    }
    return 0;
}

int mlp_isa_available(mlp_isa isa)
{
    switch (isa) {
    case MLP_ISA_BEST:
    case MLP_ISA_GENERIC:
        return 1;
#ifdef MLP_X86_DISPATCH
    case MLP_ISA_AVX2:
        return MLP_CPU_AVX2_FMA();
    case MLP_ISA_AVX512:
        return MLP_CPU_AVX512();
#endif
    default:
        return 0;
    }
}

#define MLP_IMPL "activations_impl.h"
#include "each_precision.h"
