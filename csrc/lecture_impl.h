/* lecture_impl.h — template body of lecture.c (see each_precision.h). */

/* The lecture's phases, composed from the engine's dense-layer kernels (forward, backward and update called one at a
   time from Python, and trace_step); its epochs are the engine's (mlp_net_fit). */
void MLP_FN(mlp_lecture_forward)(const mlp_dims *d, const MLP_T *X, const MLP_FN(mlp_params) *p, MLP_T *A1,
                                 MLP_T *P, MLP_T *work)
{
    MLP_FN(mlp_dense_forward)(d->n, d->in, d->hidden, X, p->W1, p->b1, MLP_ACT(MLP_SIGMOID), A1, work, d->threads);
    MLP_FN(mlp_dense_forward)(d->n, d->hidden, d->out, A1, p->W2, p->b2, MLP_ACT(MLP_SIGMOID), P, work, d->threads);
}

double MLP_FN(mlp_lecture_backward)(const mlp_dims *d, const MLP_T *y, const MLP_T *A1, const MLP_T *P,
                                    const MLP_T *W2, MLP_T *D2, MLP_T *D1)
{
    const size_t len = d->n * d->out;
    const double abs_sum = MLP_FN(mlp_abs_difference_sum)(len, y, P, D2); /* D2 = E2 = y − P, then ⊙ P(1 − P) */
    MLP_FN(mlp_mul_activation_grad)(d->threads.isa, MLP_ACT(MLP_SIGMOID), d->n, d->out, P, D2);
    MLP_FN(mlp_dense_backward_delta)(d->n, d->hidden, d->out, D2, W2, A1, MLP_ACT(MLP_SIGMOID), D1, d->threads);
    return abs_sum / (double)len;
}

void MLP_FN(mlp_lecture_update)(const mlp_dims *d, const MLP_T *X, const MLP_T *A1, const MLP_T *D2,
                                const MLP_T *D1, const MLP_FN(mlp_params) *p, MLP_T lr, MLP_T *work)
{
    MLP_T *dW1 = work, *db1 = dW1 + d->in * d->hidden;
    MLP_T *dW2 = db1 + d->hidden, *db2 = dW2 + d->hidden * d->out;
    /* The lecture's order, W2, b2, W1, b1; neither gradient reads a parameter, so each is applied as it is made. */
    MLP_FN(mlp_dense_param_step)(d->n, d->hidden, d->out, A1, D2, dW2, db2, lr, p->W2, p->b2, d->threads);
    MLP_FN(mlp_dense_param_step)(d->n, d->in, d->hidden, X, D1, dW1, db1, lr, p->W1, p->b1, d->threads);
}

/* The lecture's network trained by the engine, as MLP(loss="lecture") is: two sigmoid layers, the lecture's loss,
   plain SGD at rate lr, one full batch (net.c, whose one-pass epoch serves the textbook's toy networks). */
void MLP_FN(mlp_lecture_train)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                               MLP_T lr, size_t epochs, double *losses, MLP_T *work)
{
    lecture_net ln;
    lecture_net_of(d, &ln);
    const mlp_optimizer opt = {MLP_SGD, (double)lr, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0};
    MLP_T *W[2] = {p->W1, p->W2}, *b[2] = {p->b1, p->b2};
    const MLP_FN(mlp_net_params) params = {W, b};
    const MLP_FN(mlp_optim_state) state = {{NULL}, NULL};
    uint64_t rng[4] = {1, 0, 0, 0}; /* unused: one full batch, in order */
    MLP_FN(mlp_net_fit)(&ln.net, d->n, X, y, NULL, &params, &opt, &state, epochs, d->n, 0, rng, losses, work, NULL);
}

double MLP_FN(mlp_lecture_step)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                                MLP_T lr, MLP_T *work)
{
    double loss;
    MLP_FN(mlp_lecture_train)(d, X, y, p, lr, 1, &loss, work);
    return loss;
}

void MLP_FN(mlp_lecture_trace)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                               MLP_T lr, const MLP_FN(mlp_trace) *t, MLP_T *work)
{
    const size_t nh = d->n * d->hidden, no = d->n * d->out;
    MLP_FN(mlp_dense_forward)(d->n, d->in, d->hidden, X, p->W1, p->b1, MLP_ACT(MLP_IDENTITY), t->Z1, t->A1,
                              d->threads); /* A1 the second half's scratch, then σ(Z1) */
    memcpy(t->A1, t->Z1, nh * sizeof *t->A1);
    MLP_FN(mlp_activate)(d->threads.isa, MLP_ACT(MLP_SIGMOID), d->n, d->hidden, t->A1);
    MLP_FN(mlp_dense_forward)(d->n, d->hidden, d->out, t->A1, p->W2, p->b2, MLP_ACT(MLP_IDENTITY), t->Z2, t->P,
                              d->threads);
    memcpy(t->P, t->Z2, no * sizeof *t->P);
    MLP_FN(mlp_activate)(d->threads.isa, MLP_ACT(MLP_SIGMOID), d->n, d->out, t->P);
    MLP_FN(mlp_lecture_backward)(d, y, t->A1, t->P, p->W2, t->D2, t->D1);
    for (size_t k = 0; k < no; k++) {
        t->E2[k] = y[k] - t->P[k];
    }
    MLP_FN(mlp_dense_backward_delta)(d->n, d->hidden, d->out, t->D2, p->W2, t->A1, MLP_ACT(MLP_IDENTITY), t->E1,
                                     d->threads);
    memcpy(t->W1_new, p->W1, d->in * d->hidden * sizeof *t->W1_new);
    memcpy(t->b1_new, p->b1, d->hidden * sizeof *t->b1_new);
    memcpy(t->W2_new, p->W2, d->hidden * d->out * sizeof *t->W2_new);
    memcpy(t->b2_new, p->b2, d->out * sizeof *t->b2_new);
    const MLP_FN(mlp_params) updated = {t->W1_new, t->b1_new, t->W2_new, t->b2_new};
    MLP_FN(mlp_lecture_update)(d, X, t->A1, t->D2, t->D1, &updated, lr, work);
}
