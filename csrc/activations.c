/*
 * activations.c — activation functions over buffers, and their derivatives taken from the activation.
 *
 * The sigmoid runs on mlp_exp (vmath.h). Its loop is compiled three times — for the x86-64 baseline (SSE2),
 * for AVX2 and for AVX-512 — and the widest one the CPU supports runs (runtime dispatch; the shipped build has
 * no -march flag). All three compute the same operations, so they agree to the bit. float32 is computed in
 * double and rounded once.
 */
#include <math.h>

#include "mlp.h"
#include "vmath.h"

/* tanh of the argument's own precision, as NumPy's np.tanh keeps the dtype. */
#define MLP_TANH_OF(x) _Generic((x), float: tanhf, default: tanh)(x)

#define SIGMOID_LOOP(T, len, a)                                                                                  \
    for (size_t k = 0; k < (len); k++) {                                                                         \
        (a)[k] = (T)(1.0 / (1.0 + mlp_exp(-(double)(a)[k])));                                                    \
    }

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MLP_X86_DISPATCH 1
/* Below this length, AVX-512's wider vectors (and its gathers) cost more than they bring: measured on the
   lecture's 4×3 and 4×1 activations, the AVX2 loop has the lower latency. */
#define MLP_AVX512_MIN_LEN 64
#define SIGMOID_VARIANTS(T, S)                                                                                   \
    static void sigmoid_generic_##S(size_t len, T *a) { SIGMOID_LOOP(T, len, a) }                                \
    __attribute__((target("avx2"))) static void sigmoid_avx2_##S(size_t len, T *a) { SIGMOID_LOOP(T, len, a) }   \
    __attribute__((target("avx512f"))) static void sigmoid_avx512_##S(size_t len, T *a)                        \
    {                                                                                                            \
        SIGMOID_LOOP(T, len, a)                                                                                  \
    }                                                                                                            \
    static void sigmoid_##S(size_t len, T *a)                                                                    \
    {                                                                                                            \
        if (len >= MLP_AVX512_MIN_LEN && __builtin_cpu_supports("avx512f")) {                                    \
            sigmoid_avx512_##S(len, a);                                                                          \
        } else if (__builtin_cpu_supports("avx2")) {                                                             \
            sigmoid_avx2_##S(len, a);                                                                            \
        } else {                                                                                                 \
            sigmoid_generic_##S(len, a);                                                                         \
        }                                                                                                        \
    }
#else
#define SIGMOID_VARIANTS(T, S)                                                                                   \
    static void sigmoid_##S(size_t len, T *a) { SIGMOID_LOOP(T, len, a) }
#endif

SIGMOID_VARIANTS(double, f64)
SIGMOID_VARIANTS(float, f32)

/* Which SIMD width the kernels dispatch to on this CPU. */
const char *mlp_simd_path(void)
{
#ifdef MLP_X86_DISPATCH
    return __builtin_cpu_supports("avx512f") ? "avx512f (avx2 below 64 elements)"
           : __builtin_cpu_supports("avx2")  ? "avx2"
                                             : "sse2";
#else
    return "generic";
#endif
}

#define MLP_IMPL "activations_impl.h"
#include "each_precision.h"
