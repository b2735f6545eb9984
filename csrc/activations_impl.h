/* activations_impl.h — template body of activations.c (see each_precision.h). */

/* a[0..len) = 1 / (1 + e^-a), the lecture's sigmoid, in double (vmath.h's MLP_SIGMOID_OF). */
MLP_INLINE void MLP_FN(sigmoid)(size_t len, MLP_T *a)
{
    for (size_t k = 0; k < len; k++) {
        a[k] = MLP_SIGMOID_OF(a[k]);
    }
}

MLP_SIMD_VARIANTS(sigmoid_v, (size_t len, MLP_T *a), MLP_FN(sigmoid), (len, a))

/* row (cols) = softmax(row): e^(z − max) / Σ e^(z − max); NaN anywhere in the row gives a NaN row. */
static void MLP_FN(softmax_row)(size_t cols, MLP_T *row)
{
    MLP_T max = row[0];
    for (size_t j = 1; j < cols; j++) {
        max = row[j] > max ? row[j] : max;
    }
    MLP_T sum = 0;
    for (size_t j = 0; j < cols; j++) {
        row[j] = (MLP_T)mlp_exp((double)(row[j] - max));
        sum += row[j];
    }
    for (size_t j = 0; j < cols; j++) {
        row[j] = row[j] / sum;
    }
}

void MLP_FN(mlp_activate)(mlp_activation act, size_t rows, size_t cols, MLP_T *a)
{
    const size_t len = rows * cols;
    const MLP_T slope = (MLP_T)act.slope;
    switch (act.kind) {
    case MLP_IDENTITY:
        break;
    case MLP_SIGMOID: /* the lecture's 1 / (1 + e^-z) */
        MLP_SIMD_CALL(sigmoid_v, len, 1, MLP_SIGMOID_AVX512_MIN, (len, a));
        break;
    case MLP_TANH:
        for (size_t k = 0; k < len; k++) {
            a[k] = MLP_TANH_OF(a[k]);
        }
        break;
    case MLP_RELU: /* z < 0 ? 0 : z keeps NaN */
        for (size_t k = 0; k < len; k++) {
            a[k] = a[k] < 0 ? 0 : a[k];
        }
        break;
    case MLP_LEAKY_RELU:
        for (size_t k = 0; k < len; k++) {
            a[k] = a[k] < 0 ? slope * a[k] : a[k];
        }
        break;
    case MLP_SOFTMAX:
        for (size_t r = 0; r < rows; r++) {
            MLP_FN(softmax_row)(cols, a + r * cols);
        }
        break;
    }
}

void MLP_FN(mlp_mul_activation_grad)(mlp_activation act, size_t rows, size_t cols, const MLP_T *a, MLP_T *d)
{
    const size_t len = rows * cols;
    const MLP_T slope = (MLP_T)act.slope;
    switch (act.kind) {
    case MLP_IDENTITY:
        break;
    case MLP_SIGMOID: /* the lecture's error * sigmoid_derivative(a), sigmoid_derivative(a) = a * (1 - a) */
        for (size_t k = 0; k < len; k++) {
            d[k] = d[k] * (a[k] * ((MLP_T)1 - a[k]));
        }
        break;
    case MLP_TANH:
        for (size_t k = 0; k < len; k++) {
            d[k] = d[k] * ((MLP_T)1 - a[k] * a[k]);
        }
        break;
    case MLP_RELU:
        for (size_t k = 0; k < len; k++) {
            d[k] = a[k] > 0 ? d[k] : d[k] * 0;
        }
        break;
    case MLP_LEAKY_RELU:
        for (size_t k = 0; k < len; k++) {
            d[k] = a[k] > 0 ? d[k] : d[k] * slope;
        }
        break;
    case MLP_SOFTMAX: /* d = a ⊙ (d − Σ_row a ⊙ d) */
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
        break;
    }
}
