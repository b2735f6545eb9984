/* activations_impl.h — template body of activations.c (see each_precision.h). */

/* a[0..len) = 1 / (1 + e^-a), the lecture's sigmoid, in double (vmath.h's MLP_SIGMOID_OF). */
MLP_INLINE void MLP_FN(sigmoid)(size_t len, MLP_T *a)
{
    for (size_t k = 0; k < len; k++) {
        a[k] = MLP_SIGMOID_OF(a[k]);
    }
}

/* a[0..len) = tanh a, in the element's precision (MLP_TANH_OF). */
MLP_INLINE void MLP_FN(tanh_all)(size_t len, MLP_T *a)
{
    for (size_t k = 0; k < len; k++) {
        a[k] = MLP_TANH_OF(a[k]);
    }
}

/* a[0..len) = e^a, in double (vmath.h's mlp_exp) and rounded once: one loop over a whole block, so the
   SIMD builds take several rows' exponentials at a time. */
MLP_INLINE void MLP_FN(exp_all)(size_t len, MLP_T *a)
{
    for (size_t k = 0; k < len; k++) {
        a[k] = (MLP_T)mlp_exp((double)a[k]);
    }
}

/* ReLU and leaky ReLU, forward (a = a < 0 ? slope·a : a; ReLU's slope 0 writes 0, keeping NaN) and backward
   (d = a > 0 ? d : d·slope, d·0 for ReLU): element by element, dispatched to the SIMD builds. */
MLP_INLINE void MLP_FN(rectify)(size_t len, MLP_T *a, int leaky, MLP_T slope)
{
    for (size_t k = 0; k < len; k++) {
        a[k] = a[k] < 0 ? (leaky ? slope * a[k] : 0) : a[k];
    }
}

MLP_INLINE void MLP_FN(rectify_grad)(size_t len, const MLP_T *a, MLP_T *d, MLP_T slope)
{
    for (size_t k = 0; k < len; k++) {
        d[k] = a[k] > 0 ? d[k] : d[k] * slope;
    }
}

/* d = d·(a·(1 − a)) and d = d·(1 − a·a): the sigmoid's and tanh's gradient from their output. */
MLP_INLINE void MLP_FN(sigmoid_grad)(size_t len, const MLP_T *a, MLP_T *d)
{
    for (size_t k = 0; k < len; k++) {
        d[k] = d[k] * (a[k] * ((MLP_T)1 - a[k]));
    }
}

MLP_INLINE void MLP_FN(tanh_grad)(size_t len, const MLP_T *a, MLP_T *d)
{
    for (size_t k = 0; k < len; k++) {
        d[k] = d[k] * ((MLP_T)1 - a[k] * a[k]);
    }
}

/* Their builds for each instruction set (activations_simd_impl.h), among which MLP_SIMD_CALL picks per call. */
#define MLP_ISA_IMPL "activations_simd_impl.h"
#define MLP_ISA_SETS (MLP_SET_GENERIC | MLP_SET_AVX2 | MLP_SET_AVX512)
#include "each_isa.h"

void MLP_FN(mlp_exp_shifted_rows)(mlp_isa isa, size_t rows, size_t cols, const MLP_T *z, MLP_T *e, MLP_T *sums,
                                  MLP_T *maxes)
{
    for (size_t r = 0; r < rows; r++) {
        const MLP_T *zr = z + r * cols;
        MLP_T max = zr[0];
        for (size_t j = 1; j < cols; j++) {
            max = zr[j] > max ? zr[j] : max;
        }
        for (size_t j = 0; j < cols; j++) {
            e[r * cols + j] = zr[j] - max;
        }
        if (maxes != NULL) {
            maxes[r] = max;
        }
    }
    MLP_SIMD_CALL(exp_v, isa, rows * cols, MLP_EXP_SIMD_MIN, MLP_EXP_SIMD_MIN, (rows * cols, e));
    for (size_t r = 0; r < rows; r++) {
        MLP_T sum = 0;
        for (size_t j = 0; j < cols; j++) {
            sum += e[r * cols + j];
        }
        sums[r] = sum;
    }
}

void MLP_FN(mlp_softmax_rows)(mlp_isa isa, size_t rows, size_t cols, const MLP_T *z, MLP_T *a, MLP_T *sums,
                               MLP_T *maxes)
{
    MLP_FN(mlp_exp_shifted_rows)(isa, rows, cols, z, a, sums, maxes);
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = 0; j < cols; j++) {
            a[r * cols + j] = a[r * cols + j] / sums[r];
        }
    }
}

/* a (rows, cols) = softmax of each row, in place (mlp_softmax_rows), in blocks of MLP_SOFTMAX_BLOCK rows, their
   sums on the stack. */
static void MLP_FN(softmax_rows)(mlp_isa isa, size_t rows, size_t cols, MLP_T *a)
{
    for (size_t r0 = 0; r0 < rows; r0 += MLP_SOFTMAX_BLOCK) {
        const size_t n = rows - r0 < MLP_SOFTMAX_BLOCK ? rows - r0 : MLP_SOFTMAX_BLOCK;
        MLP_T sums[MLP_SOFTMAX_BLOCK];
        MLP_FN(mlp_softmax_rows)(isa, n, cols, a + r0 * cols, a + r0 * cols, sums, NULL);
    }
}

/* ---- the activations: one forward (a = act(a) in place, a holding z on entry) and one backward (d = d ⊙ act',
   from the pre-activation z and/or the output a as the table row says) each, listed in the activation table
   (activations.c). ---- */

static void MLP_FN(identity_forward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, MLP_T *a)
{
    (void)isa, (void)act, (void)rows, (void)cols, (void)a;
}

static void MLP_FN(identity_backward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const MLP_T *z,
                                      const MLP_T *a, MLP_T *d)
{
    (void)isa, (void)act, (void)rows, (void)cols, (void)z, (void)a, (void)d;
}

/* the lecture's 1 / (1 + e^-z) */
static void MLP_FN(sigmoid_forward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, MLP_T *a)
{
    const size_t len = rows * cols;
    (void)act;
    MLP_SIMD_CALL(sigmoid_v, isa, len, 1, MLP_SIGMOID_AVX512_MIN, (len, a));
}

/* the lecture's error * sigmoid_derivative(a), sigmoid_derivative(a) = a * (1 - a) */
static void MLP_FN(sigmoid_backward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const MLP_T *z,
                                     const MLP_T *a, MLP_T *d)
{
    const size_t len = rows * cols;
    (void)act, (void)z;
    MLP_SIMD_CALL(sigmoid_grad_v, isa, len, MLP_ELEMENT_SIMD_MIN, MLP_ELEMENT_SIMD_MIN, (len, a, d));
}

static void MLP_FN(tanh_forward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, MLP_T *a)
{
    const size_t len = rows * cols;
    (void)act;
    MLP_SIMD_CALL(tanh_v, isa, len, 1, MLP_SIGMOID_AVX512_MIN, (len, a));
}

static void MLP_FN(tanh_backward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const MLP_T *z,
                                  const MLP_T *a, MLP_T *d)
{
    const size_t len = rows * cols;
    (void)act, (void)z;
    MLP_SIMD_CALL(tanh_grad_v, isa, len, MLP_ELEMENT_SIMD_MIN, MLP_ELEMENT_SIMD_MIN, (len, a, d));
}

/* z < 0 ? 0 : z keeps NaN */
static void MLP_FN(relu_forward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, MLP_T *a)
{
    const size_t len = rows * cols;
    (void)act;
    MLP_SIMD_CALL(rectify_v, isa, len, MLP_ELEMENT_SIMD_MIN, MLP_ELEMENT_SIMD_MIN, (len, a, 0, 0));
}

/* d·0, not 0: NaN and infinities in d stay NaN */
static void MLP_FN(relu_backward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const MLP_T *z,
                                  const MLP_T *a, MLP_T *d)
{
    const size_t len = rows * cols;
    (void)act, (void)z;
    MLP_SIMD_CALL(rectify_grad_v, isa, len, MLP_ELEMENT_SIMD_MIN, MLP_ELEMENT_SIMD_MIN, (len, a, d, 0));
}

static void MLP_FN(leaky_relu_forward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, MLP_T *a)
{
    const size_t len = rows * cols;
    const MLP_T slope = (MLP_T)act.slope;
    MLP_SIMD_CALL(rectify_v, isa, len, MLP_ELEMENT_SIMD_MIN, MLP_ELEMENT_SIMD_MIN, (len, a, 1, slope));
}

static void MLP_FN(leaky_relu_backward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const MLP_T *z,
                                        const MLP_T *a, MLP_T *d)
{
    const size_t len = rows * cols;
    const MLP_T slope = (MLP_T)act.slope;
    (void)z;
    MLP_SIMD_CALL(rectify_grad_v, isa, len, MLP_ELEMENT_SIMD_MIN, MLP_ELEMENT_SIMD_MIN, (len, a, d, slope));
}

static void MLP_FN(softmax_forward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, MLP_T *a)
{
    (void)act;
    MLP_FN(softmax_rows)(isa, rows, cols, a);
}

/* d = a ⊙ (d − Σ_row a ⊙ d) */
static void MLP_FN(softmax_backward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const MLP_T *z,
                                     const MLP_T *a, MLP_T *d)
{
    (void)isa, (void)act, (void)z;
    for (size_t r = 0; r < rows; r++) {
        const MLP_T *ar = a + r * cols;
        MLP_T *dr = d + r * cols, dot = 0;
        for (size_t j = 0; j < cols; j++) {
            dot += ar[j] * dr[j];
        }
        for (size_t j = 0; j < cols; j++) {
            dr[j] = ar[j] * (dr[j] - dot);
        }
    }
}

/* nn.GELU() (the exact form): a = z·½·(1 + erf(z/√2)), in double and rounded once. */
static void MLP_FN(gelu_forward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, MLP_T *a)
{
    (void)isa, (void)act;
    for (size_t k = 0; k < rows * cols; k++) {
        const double z = (double)a[k];
        a[k] = (MLP_T)(z * 0.5 * (1.0 + erf(z * MLP_SQRT1_2)));
    }
}

/* GELU's derivative needs z: Φ(z) + z·φ(z) = ½·(1 + erf(z/√2)) + z·e^(−z²/2)/√(2π), in double, rounded once,
   then d times it. */
static void MLP_FN(gelu_backward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const MLP_T *z,
                                  const MLP_T *a, MLP_T *d)
{
    (void)isa, (void)act, (void)a;
    for (size_t k = 0; k < rows * cols; k++) {
        const double x = (double)z[k];
        const double cdf = 0.5 * (1.0 + erf(x * MLP_SQRT1_2)), pdf = MLP_INV_SQRT_2PI * exp(x * x * -0.5);
        d[k] = d[k] * (MLP_T)(cdf + x * pdf);
    }
}
