/* activations_impl.h — template body of activations.c (see each_precision.h). */

void MLP_FN(mlp_activate)(mlp_activation act, size_t len, MLP_T *a)
{
    switch (act) {
    case MLP_SIGMOID:
        /* The lecture's 1 / (1 + e^-z): e^-z overflows to inf for z < -709 (double), giving 0, as NumPy does. */
        for (size_t k = 0; k < len; k++) {
            a[k] = (MLP_T)1 / ((MLP_T)1 + MLP_EXP(-a[k]));
        }
        break;
    case MLP_IDENTITY:
        break;
    }
}

void MLP_FN(mlp_mul_activation_grad)(mlp_activation act, size_t len, const MLP_T *a, MLP_T *d)
{
    switch (act) {
    case MLP_SIGMOID:
        /* The lecture's error * sigmoid_derivative(a) with sigmoid_derivative(a) = a * (1 - a). */
        for (size_t k = 0; k < len; k++) {
            d[k] = d[k] * (a[k] * ((MLP_T)1 - a[k]));
        }
        break;
    case MLP_IDENTITY:
        break;
    }
}
