/* lecture_impl.h — template body of lecture.c (see each_precision.h). */

/* The lecture's phases composed from the dense layer's kernels: every network's path, and the oracle that the
   small networks' fast paths below are tested against (trace_step runs only these). */
static void MLP_FN(lecture_forward_dense)(const mlp_dims *d, const MLP_T *X, const MLP_FN(mlp_params) *p,
                                          MLP_T *A1, MLP_T *P)
{
    MLP_FN(mlp_dense_forward)(d->n, d->in, d->hidden, X, p->W1, p->b1, MLP_ACT(MLP_SIGMOID), A1, d->threads);
    MLP_FN(mlp_dense_forward)(d->n, d->hidden, d->out, A1, p->W2, p->b2, MLP_ACT(MLP_SIGMOID), P, d->threads);
}

static double MLP_FN(lecture_backward_dense)(const mlp_dims *d, const MLP_T *y, const MLP_T *A1, const MLP_T *P,
                                             const MLP_T *W2, MLP_T *D2, MLP_T *D1)
{
    const size_t len = d->n * d->out;
    double abs_sum = 0.0;
    for (size_t k = 0; k < len; k++) { /* E2 = y − P; D2 = E2 ⊙ P(1 − P) */
        const MLP_T e = y[k] - P[k];
        abs_sum += fabs((double)e);
        D2[k] = e;
    }
    MLP_FN(mlp_mul_activation_grad)(d->threads.isa, MLP_ACT(MLP_SIGMOID), d->n, d->out, P, D2);
    MLP_FN(mlp_dense_backward_delta)(d->n, d->hidden, d->out, D2, W2, A1, MLP_ACT(MLP_SIGMOID), D1, d->threads);
    return abs_sum / (double)len;
}

static void MLP_FN(lecture_update_dense)(const mlp_dims *d, const MLP_T *X, const MLP_T *A1, const MLP_T *D2,
                                         const MLP_T *D1, const MLP_FN(mlp_params) *p, MLP_T lr, MLP_T *work)
{
    MLP_T *dW1 = work, *db1 = dW1 + d->in * d->hidden;
    MLP_T *dW2 = db1 + d->hidden, *db2 = dW2 + d->hidden * d->out;
    /* The lecture's order, W2, b2, W1, b1; neither gradient reads a parameter, so each is applied as it is made. */
    MLP_FN(mlp_dense_param_step)(d->n, d->hidden, d->out, A1, D2, dW2, db2, lr, p->W2, p->b2, d->threads);
    MLP_FN(mlp_dense_param_step)(d->n, d->in, d->hidden, X, D1, dW1, db1, lr, p->W1, p->b1, d->threads);
}

/* One sigmoid layer's forward in small_step: Y (n, m) = σ(A·W + b), A (n, k), W (k, m), b (m); each sum over k in
   increasing order, then + b, as gemm_nn_bias. */
MLP_INLINE void MLP_FN(small_forward)(const size_t n, const size_t k, const size_t m, const MLP_T *restrict A,
                                      const MLP_T *restrict W, const MLP_T *restrict b, MLP_T *restrict Y)
{
    for (size_t i = 0; i < n; i++) {
        const MLP_T *a = A + i * k;
        for (size_t j = 0; j < m; j++) {
            MLP_T s = a[0] * W[j];
            for (size_t q = 1; q < k; q++) {
                s += a[q] * W[q * m + j];
            }
            Y[i * m + j] = MLP_SIGMOID_OF((MLP_T)(s + b[j]));
        }
    }
}

/* One layer's update in small_step: W (k, m) += (Aᵀ·D)·lr, then b (m) += (Σ_rows D)·lr, A (n, k), D (n, m), each
   sum over the rows in increasing order (as gemm_tn and sum_rows). */
MLP_INLINE void MLP_FN(small_update)(const size_t n, const size_t k, const size_t m, const MLP_T *restrict A,
                                     const MLP_T *restrict D, MLP_T *restrict W, MLP_T *restrict b, const MLP_T lr)
{
    for (size_t q = 0; q < k; q++) {
        for (size_t j = 0; j < m; j++) {
            MLP_T s = A[q] * D[j];
            for (size_t r = 1; r < n; r++) {
                s += A[r * k + q] * D[r * m + j];
            }
            W[q * m + j] += s * lr;
        }
    }
    for (size_t j = 0; j < m; j++) {
        MLP_T s = D[j];
        for (size_t r = 1; r < n; r++) {
            s += D[r * m + j];
        }
        b[j] += s * lr;
    }
}

/* The backward pass of a small network (o == 1 output): D2 = (y − P) ⊙ P(1 − P), D1 = (D2·W2ᵀ) ⊙ A1(1 − A1);
   returns Σ|y − P|, summed in row order. */
MLP_INLINE double MLP_FN(small_backward)(const size_t n, const size_t h, const size_t o, const MLP_T *restrict y,
                                         const MLP_T *restrict A1, const MLP_T *restrict P,
                                         const MLP_T *restrict W2, MLP_T *restrict D2, MLP_T *restrict D1)
{
    double abs_sum = 0.0;
    for (size_t k = 0; k < n * o; k++) { /* E2 = y − P, D2 = E2 ⊙ P(1 − P) */
        const MLP_T e = y[k] - P[k];
        abs_sum += fabs((double)e);
        D2[k] = e * (P[k] * ((MLP_T)1 - P[k]));
    }
    for (size_t i = 0; i < n; i++) { /* D1 = (D2·W2ᵀ) ⊙ A1(1 − A1) */
        for (size_t q = 0; q < h; q++) {
            MLP_T s = D2[i * o] * W2[q * o];
            for (size_t j = 1; j < o; j++) {
                s += D2[i * o + j] * W2[q * o + j];
            }
            const MLP_T a = A1[i * h + q];
            D1[i * h + q] = s * (a * ((MLP_T)1 - a));
        }
    }
    return abs_sum;
}

/* One epoch of a small network in one pass (mlp_lecture_step's fast path): the same operations in the same order
   as the dense layer's kernels — every sum over its index in increasing order, each product rounded before it is
   added — so the same bits; but with no call between the phases, each sigmoid taken as soon as its sum is known,
   and the widths IN, h, o compile-time constants (small_train), so that everything but the loops over the n
   samples unrolls, and those vectorize. The epoch is a chain of dependent operations two sigmoids deep, and this
   form keeps that chain short. n <= MLP_SMALL_MAX_ROWS, IN and h <= MLP_SMALL_WIDTH,
   o == 1. */
MLP_INLINE double MLP_FN(small_step)(const size_t n, const size_t IN, const size_t h, const size_t o,
                                     const MLP_T *restrict X, const MLP_T *restrict y, MLP_T *restrict W1,
                                     MLP_T *restrict b1, MLP_T *restrict W2, MLP_T *restrict b2, const MLP_T lr)
{
    MLP_T A1[MLP_SMALL_MAX_ROWS * MLP_SMALL_WIDTH], P[MLP_SMALL_MAX_ROWS], D2[MLP_SMALL_MAX_ROWS],
        D1[MLP_SMALL_MAX_ROWS * MLP_SMALL_WIDTH];
    if (n == 0) { /* never (dimensions are >= 1): telling the compiler shows it every row is written before read */
        MLP_UNREACHABLE();
    }
    MLP_FN(small_forward)(n, IN, h, X, W1, b1, A1); /* A1 = σ(X·W1 + b1) */
    MLP_FN(small_forward)(n, h, o, A1, W2, b2, P);  /* P = σ(A1·W2 + b2) */
    const double abs_sum = MLP_FN(small_backward)(n, h, o, y, A1, P, W2, D2, D1);
    /* The update in the lecture's order: W2, b2, W1, b1. */
    MLP_FN(small_update)(n, h, o, A1, D2, W2, b2, lr);
    MLP_FN(small_update)(n, IN, h, X, D1, W1, b1, lr);
    return abs_sum / (double)(n * o);
}

/* `epochs` epochs of small_step, losses[e] each one's loss, with every width a compile-time constant: the input
   and hidden widths 1 to MLP_SMALL_WIDTH, one output (mlp_lecture_is_small). */
MLP_INLINE void MLP_FN(small_train)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                                    MLP_T lr, size_t epochs, double *losses)
{
#define MLP_SMALL_EPOCHS(IN, H, O)                                                                               \
    for (size_t e = 0; e < epochs; e++) {                                                                        \
        losses[e] = MLP_FN(small_step)(d->n, IN, H, O, X, y, p->W1, p->b1, p->W2, p->b2, lr);                   \
    }
    MLP_CONST_SWITCH(IN, d->in, MLP_CONST_SWITCH(H, d->hidden, MLP_SMALL_EPOCHS(IN, H, 1)));
#undef MLP_SMALL_EPOCHS
}
#ifdef MLP_X86_DISPATCH
/* ... compiled for AVX2, which vectorizes the loops over the samples: that is where the gain is (without it the
   one-pass epoch is no faster than the modular one), so other CPUs keep the modular path — the same bits. */
MLP_TARGET("avx2,fma") static void MLP_FN(small_train_avx2)(const mlp_dims *d, const MLP_T *X,
                                                            const MLP_T *y, const MLP_FN(mlp_params) *p,
                                                            MLP_T lr, size_t epochs, double *losses)
{
    MLP_FN(small_train)(d, X, y, p, lr, epochs, losses);
}
#endif

/* Runs the epochs in one pass and returns 1 where that is the faster way; returns 0 (nothing done) elsewhere. */
static int MLP_FN(small_train_if_faster)(const mlp_dims *d, const MLP_T *X, const MLP_T *y,
                                          const MLP_FN(mlp_params) *p, MLP_T lr, size_t epochs, double *losses)
{
    if (MLP_FN(rows4_train)(d, X, y, p, lr, epochs, losses)) { /* at most four samples, float64 (lecture.c) */
        return 1;
    }
#ifdef MLP_X86_DISPATCH
    if (mlp_lecture_is_small(d) && MLP_HAS_AVX2_FMA(d->threads.isa)) {
        MLP_FN(small_train_avx2)(d, X, y, p, lr, epochs, losses);
        return 1;
    }
#endif
    (void)d, (void)X, (void)y, (void)p, (void)lr, (void)epochs, (void)losses;
    return 0;
}

/* The three phases of a small network one at a time (forward, backward, update called from Python), each with
   the same small kernels and compile-time widths as the one-pass epoch, compiled for AVX2 — the same bits as the
   dense path. Each returns 1 where it ran, 0 (nothing done) where the dense path is the one to take. */
#ifdef MLP_X86_DISPATCH
MLP_TARGET("avx2,fma") static void MLP_FN(small_forward_avx2)(const mlp_dims *d, const MLP_T *X,
                                                              const MLP_FN(mlp_params) *p, MLP_T *A1,
                                                              MLP_T *P)
{
#define MLP_SMALL_FORWARD(IN, H)                                                                                 \
    MLP_FN(small_forward)(d->n, IN, H, X, p->W1, p->b1, A1);                                                     \
    MLP_FN(small_forward)(d->n, H, 1, A1, p->W2, p->b2, P)
    MLP_CONST_SWITCH(IN, d->in, MLP_CONST_SWITCH(H, d->hidden, MLP_SMALL_FORWARD(IN, H)));
#undef MLP_SMALL_FORWARD
}

MLP_TARGET("avx2,fma") static double MLP_FN(small_backward_avx2)(const mlp_dims *d, const MLP_T *y,
                                                                 const MLP_T *A1, const MLP_T *P,
                                                                 const MLP_T *W2, MLP_T *D2, MLP_T *D1)
{
    double abs_sum = 0.0;
    MLP_CONST_SWITCH(H, d->hidden, abs_sum = MLP_FN(small_backward)(d->n, H, 1, y, A1, P, W2, D2, D1));
    return abs_sum;
}

MLP_TARGET("avx2,fma") static void MLP_FN(small_update_avx2)(const mlp_dims *d, const MLP_T *X,
                                                             const MLP_T *A1, const MLP_T *D2,
                                                             const MLP_T *D1, const MLP_FN(mlp_params) *p,
                                                             MLP_T lr)
{
#define MLP_SMALL_UPDATE(IN, H)                                                                                  \
    MLP_FN(small_update)(d->n, H, 1, A1, D2, p->W2, p->b2, lr);                                                  \
    MLP_FN(small_update)(d->n, IN, H, X, D1, p->W1, p->b1, lr)
    MLP_CONST_SWITCH(IN, d->in, MLP_CONST_SWITCH(H, d->hidden, MLP_SMALL_UPDATE(IN, H)));
#undef MLP_SMALL_UPDATE
}
#ifndef MLP_SMALL_PHASES
#define MLP_SMALL_PHASES() (mlp_lecture_is_small(d) && MLP_HAS_AVX2_FMA(d->threads.isa))
#endif
#endif

void MLP_FN(mlp_lecture_forward)(const mlp_dims *d, const MLP_T *X, const MLP_FN(mlp_params) *p, MLP_T *A1,
                                 MLP_T *P)
{
    if (MLP_FN(rows4_forward)(d, X, p, A1, P)) {
        return;
    }
#ifdef MLP_X86_DISPATCH
    if (MLP_SMALL_PHASES()) {
        MLP_FN(small_forward_avx2)(d, X, p, A1, P);
        return;
    }
#endif
    MLP_FN(lecture_forward_dense)(d, X, p, A1, P);
}

double MLP_FN(mlp_lecture_backward)(const mlp_dims *d, const MLP_T *y, const MLP_T *A1, const MLP_T *P,
                                    const MLP_T *W2, MLP_T *D2, MLP_T *D1)
{
#ifdef MLP_X86_DISPATCH
    if (MLP_SMALL_PHASES()) {
        return MLP_FN(small_backward_avx2)(d, y, A1, P, W2, D2, D1) / (double)d->n;
    }
#endif
    return MLP_FN(lecture_backward_dense)(d, y, A1, P, W2, D2, D1);
}

void MLP_FN(mlp_lecture_update)(const mlp_dims *d, const MLP_T *X, const MLP_T *A1, const MLP_T *D2,
                                const MLP_T *D1, const MLP_FN(mlp_params) *p, MLP_T lr, MLP_T *work)
{
#ifdef MLP_X86_DISPATCH
    if (MLP_SMALL_PHASES()) {
        MLP_FN(small_update_avx2)(d, X, A1, D2, D1, p, lr);
        return;
    }
#endif
    MLP_FN(lecture_update_dense)(d, X, A1, D2, D1, p, lr, work);
}

double MLP_FN(mlp_lecture_step)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                                MLP_T lr, MLP_T *work)
{
    double loss;
    if (MLP_FN(small_train_if_faster)(d, X, y, p, lr, 1, &loss)) {
        return loss;
    }
    MLP_T *A1 = work, *P = A1 + d->n * d->hidden;
    MLP_T *D2 = P + d->n * d->out, *D1 = D2 + d->n * d->out;
    MLP_T *update_work = D1 + d->n * d->hidden;
    MLP_FN(lecture_forward_dense)(d, X, p, A1, P);
    loss = MLP_FN(lecture_backward_dense)(d, y, A1, P, p->W2, D2, D1);
    MLP_FN(lecture_update_dense)(d, X, A1, D2, D1, p, lr, update_work);
    return loss;
}

void MLP_FN(mlp_lecture_train)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                               MLP_T lr, size_t epochs, double *losses, MLP_T *work)
{
    if (MLP_FN(small_train_if_faster)(d, X, y, p, lr, epochs, losses)) {
        return;
    }
    for (size_t e = 0; e < epochs; e++) {
        losses[e] = MLP_FN(mlp_lecture_step)(d, X, y, p, lr, work);
    }
}

void MLP_FN(mlp_lecture_trace)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                               MLP_T lr, const MLP_FN(mlp_trace) *t, MLP_T *work)
{
    const size_t nh = d->n * d->hidden, no = d->n * d->out;
    MLP_FN(mlp_dense_forward)(d->n, d->in, d->hidden, X, p->W1, p->b1, MLP_ACT(MLP_IDENTITY), t->Z1, d->threads);
    memcpy(t->A1, t->Z1, nh * sizeof *t->A1);
    MLP_FN(mlp_activate)(d->threads.isa, MLP_ACT(MLP_SIGMOID), d->n, d->hidden, t->A1);
    MLP_FN(mlp_dense_forward)(d->n, d->hidden, d->out, t->A1, p->W2, p->b2, MLP_ACT(MLP_IDENTITY), t->Z2, d->threads);
    memcpy(t->P, t->Z2, no * sizeof *t->P);
    MLP_FN(mlp_activate)(d->threads.isa, MLP_ACT(MLP_SIGMOID), d->n, d->out, t->P);
    MLP_FN(lecture_backward_dense)(d, y, t->A1, t->P, p->W2, t->D2, t->D1);
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
    MLP_FN(lecture_update_dense)(d, X, t->A1, t->D2, t->D1, &updated, lr, work);
}
