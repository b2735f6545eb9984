/*
 * tiny_impl.h — template body of net.c, included by net_impl.h: the engine's kernel choice for the lecture's network
 * (two sigmoid layers, the lecture's loss, plain SGD, one full batch) on a few samples: at most MLP_SMALL_WIDTH
 * inputs and hidden units, one output, at most MLP_SMALL_MAX_ROWS samples. There, calls between the phases cost
 * more than the arithmetic, so an epoch runs in one pass with the widths as compile-time constants (the textbook's
 * truth tables: docs/benchmarks.md, "The lecture's one-pass epochs"). The same operations in the same order as the
 * dense layer's kernels, so the same bits as the engine's general path (tests compare them).
 *
 * Written with the lecture's sign: D = (y − P) ⊙ act'(P) and W += (Aᵀ·D)·lr, which is exactly the engine's
 * G = (P − y) ⊙ act'(P) and W −= lr·(Aᵀ·G): negation is exact.
 */

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
   returns 0.0 + Σ|y − P|, summed in pairwise.h's order (n·o <= MLP_PAIRWISE_BLOCK: one block). */
_Static_assert(MLP_SMALL_MAX_ROWS <= MLP_PAIRWISE_BLOCK, "a small network's loss is one block of terms");
MLP_INLINE double MLP_FN(small_backward)(const size_t n, const size_t h, const size_t o, const MLP_T *restrict y,
                                         const MLP_T *restrict A1, const MLP_T *restrict P,
                                         const MLP_T *restrict W2, MLP_T *restrict D2, MLP_T *restrict D1)
{
    double abs_e[MLP_SMALL_MAX_ROWS];
    for (size_t k = 0; k < n * o; k++) { /* E2 = y − P, D2 = E2 ⊙ P(1 − P) */
        const MLP_T e = y[k] - P[k];
        abs_e[k] = fabs((double)e);
        D2[k] = e * (P[k] * ((MLP_T)1 - P[k]));
    }
    const double abs_sum = 0.0 + mlp_pairwise_block(abs_e, n * o);
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

/* One epoch of a small network in one pass (tiny_train): the same operations in the same order
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
   and hidden widths 1 to MLP_SMALL_WIDTH, one output (tiny_fits). */
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

/* Whether mlp_net_fit may run `net` on n rows of y through the one-pass epoch (given a CPU for it: tiny_train). */
static int MLP_FN(tiny_fits)(const mlp_net *net, const mlp_optimizer *opt, size_t n, size_t batch, const MLP_T *y)
{
    const size_t *s = net->sizes;
    return y != NULL && batch >= n && n <= MLP_SMALL_MAX_ROWS && net->n_layers == 2 &&
           net->loss == MLP_LOSS_LECTURE && net->acts[0].kind == MLP_SIGMOID && net->acts[1].kind == MLP_SIGMOID &&
           mlp_plain_sgd(opt) && s[0] <= MLP_SMALL_WIDTH && s[1] <= MLP_SMALL_WIDTH && s[2] == 1;
}

/* `epochs` epochs of a network that tiny_fits, in one pass each, and returns 1 where that is the faster way (a CPU
   with AVX2 and FMA: on four samples or fewer in float64, with the samples in the lanes of one vector,
   rows4_impl.h); returns 0 (nothing done) elsewhere. losses[e]: epoch e's loss. */
static int MLP_FN(tiny_train)(const mlp_net *net, size_t n, const MLP_T *X, const MLP_T *y,
                              const MLP_FN(mlp_net_params) *p, MLP_T lr, size_t epochs, double *losses)
{
    const mlp_dims d = {n, net->sizes[0], net->sizes[1], net->sizes[2], net->threads};
    const MLP_FN(mlp_params) lp = {p->W[0], p->b[0], p->W[1], p->b[1]};
    if (MLP_FN(rows4_train)(&d, X, y, &lp, lr, epochs, losses)) { /* (net.c) */
        return 1;
    }
#ifdef MLP_X86_DISPATCH
    if (MLP_HAS_AVX2_FMA(d.threads.isa)) {
        MLP_FN(small_train_avx2)(&d, X, y, &lp, lr, epochs, losses);
        return 1;
    }
#endif
    (void)d, (void)X, (void)y, (void)lp, (void)lr, (void)epochs, (void)losses;
    return 0;
}
