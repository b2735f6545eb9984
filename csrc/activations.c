/*
 * activations.c — activation functions over buffers, and their derivatives taken from the activation.
 *
 * The sigmoid runs on mlp_exp (vmath.h). Its loop is compiled for the x86-64 baseline (SSE2), AVX2 and
 * AVX-512 (simd.h), and chosen at run time; all three agree to the bit. float32 is computed in double and
 * rounded once.
 */
#include <math.h>

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

/* Which SIMD width the kernels dispatch to on this CPU. */
const char *mlp_simd_path(void)
{
#ifdef MLP_X86_DISPATCH
    return MLP_HAS_AVX512() ? "avx512f (avx2 for short loops)" : MLP_HAS_AVX2_FMA() ? "avx2" : "sse2";
#else
    return "generic";
#endif
}

#define MLP_IMPL "activations_impl.h"
#include "each_precision.h"
