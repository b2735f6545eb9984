/*
 * activations.c — activation functions over buffers and their derivatives, from the activation table.
 *
 * The sigmoid and softmax's exponentials run on vmath.h. Their loops are compiled for the x86-64 baseline (SSE2),
 * AVX2 and AVX-512 (simd.h), and chosen at run time; all three agree to the bit (the sigmoid's AVX2 and AVX-512
 * loops are vmath.h's steps in intrinsics, sigmoid_simd_impl.h). float32 is computed in double and rounded once.
 */
#include <math.h>
#include <string.h>

#include "mlp.h"
#include "simd.h"
#include "vmath.h"

/* tanh of the argument's own precision, as NumPy's np.tanh keeps the dtype: float's from the sigmoid in double
   (vmath.h's mlp_tanhf), double's libm's. */
#define MLP_TANH_OF(x) _Generic((x), float: mlp_tanhf, default: tanh)(x)

/* Below this length, AVX-512's wider vectors cost more than they bring: on the lecture's 4×3 and 4×1
   activations, the AVX2 loop has the lower latency. (float32's tanh, on the sigmoid's lanes, too.) */
#define MLP_SIGMOID_AVX512_MIN 64
/* Exponentials of a softmax: fewer than this run the portable build (one short row, say). */
#define MLP_EXP_SIMD_MIN 16
/* Rows whose softmax is taken together (their exponentials in one loop). */
#define MLP_SOFTMAX_BLOCK 64
/* 1/√2 and 1/√(2π), GELU's constants, to double's precision */
#define MLP_SQRT1_2 0.70710678118654752440
#define MLP_INV_SQRT_2PI 0.39894228040143267794

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
#ifdef MLP_X86_DISPATCH
    MLP_CPU_INIT();
#endif
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

#ifdef MLP_X86_DISPATCH /* the sigmoid's loops for the AVX2 and AVX-512 builds of activations_simd_impl.h */
#define MLP_ISA_IMPL "sigmoid_simd_impl.h"
#define MLP_ISA_SETS (MLP_SET_AVX2 | MLP_SET_AVX512)
#include "each_isa.h"
#endif

#define MLP_IMPL "activations_impl.h"
#include "each_precision.h"
/* The public kernels this file defines, by their full names (the template spells them MLP_FN(name); tests/c/run.sh
   checks this list against the object file):
     mlp_activate_f64                  mlp_activate_f32
     mlp_activation_backward_f64       mlp_activation_backward_f32
     mlp_exp_shifted_rows_f64          mlp_exp_shifted_rows_f32
     mlp_mul_activation_grad_f64       mlp_mul_activation_grad_f32
     mlp_softmax_rows_f64              mlp_softmax_rows_f32 */

/* The activation table: one row per activation, in mlp_activation_kind's order. Adding an activation is a
   forward and a backward function (activations_impl.h), a row here and its kind in mlp.h; the binding and the
   Python package read the names and where each may be used from here. */
#define MLP_ACTIVATION_ROW(name, needs_z, hidden, output)                                                        \
    {#name, needs_z, hidden, output, name##_forward_f64, name##_forward_f32, name##_backward_f64,                \
     name##_backward_f32}
static const mlp_activation_info activations[] = {
    MLP_ACTIVATION_ROW(identity, 0, 1, 1),   MLP_ACTIVATION_ROW(sigmoid, 0, 1, 1),
    MLP_ACTIVATION_ROW(tanh, 0, 1, 0),       MLP_ACTIVATION_ROW(relu, 0, 1, 0),
    MLP_ACTIVATION_ROW(leaky_relu, 0, 1, 0), MLP_ACTIVATION_ROW(softmax, 0, 0, 1),
    MLP_ACTIVATION_ROW(gelu, 1, 1, 0),
};
#define N_ACTIVATIONS (sizeof activations / sizeof activations[0])
_Static_assert(N_ACTIVATIONS == MLP_GELU + 1, "one row per mlp_activation_kind");

const mlp_activation_info *mlp_activation_table(size_t *count)
{
    *count = N_ACTIVATIONS;
    return activations;
}

void mlp_activate_f64(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, double *a)
{
    activations[act.kind].forward_f64(isa, act, rows, cols, a);
}

void mlp_activate_f32(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, float *a)
{
    activations[act.kind].forward_f32(isa, act, rows, cols, a);
}

void mlp_activation_backward_f64(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const double *z,
                                 const double *a, double *d)
{
    activations[act.kind].backward_f64(isa, act, rows, cols, z, a, d);
}

void mlp_activation_backward_f32(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const float *z,
                                 const float *a, float *d)
{
    activations[act.kind].backward_f32(isa, act, rows, cols, z, a, d);
}

void mlp_mul_activation_grad_f64(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const double *a,
                                 double *d)
{
    activations[act.kind].backward_f64(isa, act, rows, cols, NULL, a, d);
}

void mlp_mul_activation_grad_f32(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const float *a, float *d)
{
    activations[act.kind].backward_f32(isa, act, rows, cols, NULL, a, d);
}
