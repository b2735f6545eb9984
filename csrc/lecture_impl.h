/* lecture_impl.h — template body of lecture.c (see each_precision.h). */

void MLP_FN(mlp_lecture_forward)(const mlp_dims *d, const MLP_T *X, const MLP_FN(mlp_params) *p, MLP_T *A1,
                                 MLP_T *P)
{
    MLP_FN(mlp_dense_forward)(d->n, d->in, d->hidden, X, p->W1, p->b1, MLP_SIGMOID, A1);
    MLP_FN(mlp_dense_forward)(d->n, d->hidden, d->out, A1, p->W2, p->b2, MLP_SIGMOID, P);
}

double MLP_FN(mlp_lecture_backward)(const mlp_dims *d, const MLP_T *y, const MLP_T *A1, const MLP_T *P,
                                    const MLP_T *W2, MLP_T *D2, MLP_T *D1)
{
    const size_t len = d->n * d->out;
    double abs_sum = 0.0;
    for (size_t k = 0; k < len; k++) { /* E2 = y − P; D2 = E2 ⊙ P(1 − P) */
        const MLP_T e = y[k] - P[k];
        abs_sum += fabs((double)e);
        D2[k] = e;
    }
    MLP_FN(mlp_mul_activation_grad)(MLP_SIGMOID, len, P, D2);
    MLP_FN(mlp_dense_backward_delta)(d->n, d->hidden, d->out, D2, W2, A1, MLP_SIGMOID, D1);
    return abs_sum / (double)len;
}

void MLP_FN(mlp_lecture_update)(const mlp_dims *d, const MLP_T *X, const MLP_T *A1, const MLP_T *D2,
                                const MLP_T *D1, const MLP_FN(mlp_params) *p, MLP_T lr, MLP_T *work)
{
    MLP_T *dW1 = work, *db1 = dW1 + d->in * d->hidden;
    MLP_T *dW2 = db1 + d->hidden, *db2 = dW2 + d->hidden * d->out;
    MLP_FN(mlp_dense_param_grads)(d->n, d->hidden, d->out, A1, D2, dW2, db2);
    MLP_FN(mlp_dense_param_grads)(d->n, d->in, d->hidden, X, D1, dW1, db1);
    /* The lecture's order: W2, b2, W1, b1. */
    MLP_FN(mlp_add_scaled)(d->hidden * d->out, dW2, lr, p->W2);
    MLP_FN(mlp_add_scaled)(d->out, db2, lr, p->b2);
    MLP_FN(mlp_add_scaled)(d->in * d->hidden, dW1, lr, p->W1);
    MLP_FN(mlp_add_scaled)(d->hidden, db1, lr, p->b1);
}

double MLP_FN(mlp_lecture_step)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                                MLP_T lr, MLP_T *work)
{
    MLP_T *A1 = work, *P = A1 + d->n * d->hidden;
    MLP_T *D2 = P + d->n * d->out, *D1 = D2 + d->n * d->out;
    MLP_T *update_work = D1 + d->n * d->hidden;
    MLP_FN(mlp_lecture_forward)(d, X, p, A1, P);
    const double loss = MLP_FN(mlp_lecture_backward)(d, y, A1, P, p->W2, D2, D1);
    MLP_FN(mlp_lecture_update)(d, X, A1, D2, D1, p, lr, update_work);
    return loss;
}

void MLP_FN(mlp_lecture_train)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                               MLP_T lr, size_t epochs, double *losses, MLP_T *work)
{
    for (size_t e = 0; e < epochs; e++) {
        losses[e] = MLP_FN(mlp_lecture_step)(d, X, y, p, lr, work);
    }
}
