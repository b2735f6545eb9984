/* activations_impl.h — template body of activations.c (see each_precision.h). */

void MLP_FN(mlp_activate)(mlp_activation act, size_t len, MLP_T *a)
{
    switch (act) {
    case MLP_SIGMOID: /* the lecture's 1 / (1 + e^-z) */
        MLP_FN(sigmoid)(len, a);
        break;
    case MLP_IDENTITY:
        break;
    }
}

void MLP_FN(mlp_mul_activation_grad)(mlp_activation act, size_t len, const MLP_T *a, MLP_T *d)
{
    switch (act) {
    case MLP_SIGMOID: /* the lecture's error * sigmoid_derivative(a), sigmoid_derivative(a) = a * (1 - a) */
        for (size_t k = 0; k < len; k++) {
            d[k] = d[k] * (a[k] * ((MLP_T)1 - a[k]));
        }
        break;
    case MLP_IDENTITY:
        break;
    }
}
