/*
 * mlp_t.h — declarations of the kernels of one precision. Included by mlp.h only, twice: with MLP_T the
 * scalar type (double, float) and MLP_FN(name) adding the suffix (_f64, _f32).
 */

/* The lecture's parameters: W1 (in, hidden), b1 (hidden), W2 (hidden, out), b2 (out). */
typedef struct {
    MLP_T *W1, *b1, *W2, *b2;
} MLP_FN(mlp_params);

/* ---- activations (activations.c) ---- */

/* a (rows, cols) = act(a), in place (softmax works row by row; the others element by element). */
void MLP_FN(mlp_activate)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, MLP_T *a);
/* d (rows, cols) = d ⊙ act'(z, a) in place — the gradient through the activation, from its pre-activation z
   and/or its output a, as its table row says (for softmax, the Jacobian-vector product a ⊙ (d − Σ_row a ⊙ d)).
   z may be NULL for an activation whose row does not need it. */
void MLP_FN(mlp_activation_backward)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const MLP_T *z,
                                     const MLP_T *a, MLP_T *d);
/* mlp_activation_backward without z: for the activations whose row does not need it (the dense layer's). */
void MLP_FN(mlp_mul_activation_grad)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const MLP_T *a,
                                     MLP_T *d);
/* For each row r of z (rows, cols): e (rows, cols) = e^(z − max_r), in double and rounded once; sums (rows)
   = Σ_j e[r][j] in column order — softmax's numerators and denominators; maxes (rows, unless NULL) = max_r, the
   row's max. e may be z (in place). */
void MLP_FN(mlp_exp_shifted_rows)(mlp_isa isa, size_t rows, size_t cols, const MLP_T *z, MLP_T *e, MLP_T *sums,
                                  MLP_T *maxes);
/* a (rows, cols) = the softmax of each row of z, e / sums with e, sums and maxes as mlp_exp_shifted_rows leaves
   them (the network's cross-entropy takes its log-sum-exp from the same sums and maxes). a may be z. */
void MLP_FN(mlp_softmax_rows)(mlp_isa isa, size_t rows, size_t cols, const MLP_T *z, MLP_T *a, MLP_T *sums,
                               MLP_T *maxes);

/* ---- the dense layer (dense.c): forward and backward side by side ---- */

/* Each may split its matrix product among threads (mlp_threads, mlp_parallel), with the same result. */

/* X (n, in), W (in, out), b (out) -> A (n, out) = act(X·W + b). S: n·out scalars of scratch where the layer
   sums in halves (mlp_dense_halves_at(in, out) != 0), else unused (may be NULL). */
void MLP_FN(mlp_dense_forward)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *W, const MLP_T *b,
                               mlp_activation act, MLP_T *A, MLP_T *S, mlp_threads threads);

/* To the layer's input. D (n, out), W (in, out), A_prev (n, in) -> D_prev (n, in) = (D·Wᵀ) ⊙ act_prev'(A_prev). */
void MLP_FN(mlp_dense_backward_delta)(size_t n, size_t in, size_t out, const MLP_T *D, const MLP_T *W,
                                      const MLP_T *A_prev, mlp_activation act_prev, MLP_T *D_prev, mlp_threads threads);

/* To the layer's parameters. X (n, in), D (n, out) -> dW (in, out) = Xᵀ·D, db (out) = Σ over rows of D. */
void MLP_FN(mlp_dense_param_grads)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *D, MLP_T *dW,
                                   MLP_T *db, mlp_threads threads);
/* mlp_dense_param_grads, then the lecture's update W += dW·lr, b += db·lr (each rounded as mlp_add_scaled), W's
   split among the product's threads. dW is working memory: the SIMD kernels add the finished sums to W as they
   store them, so dW need not end holding the gradient (db does). */
void MLP_FN(mlp_dense_param_step)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *D, MLP_T *dW,
                                  MLP_T *db, MLP_T lr, MLP_T *W, MLP_T *b, mlp_threads threads);

/* p[0..len) += g[0..len)·lr, rounded as NumPy's `p += g * lr` (the product first). */
void MLP_FN(mlp_add_scaled)(size_t len, const MLP_T *g, MLP_T lr, MLP_T *p);

/* ---- the lecture's network: two sigmoid dense layers (lecture.c) ---- */

/* X (n, in) -> A1 (n, hidden) = σ(X·W1 + b1), P (n, out) = σ(A1·W2 + b2). work: mlp_lecture_forward_workspace(d)
   scalars. */
void MLP_FN(mlp_lecture_forward)(const mlp_dims *d, const MLP_T *X, const MLP_FN(mlp_params) *p, MLP_T *A1,
                                 MLP_T *P, MLP_T *work);

/* e (len) = u − v, and returns 0.0 + Σ|u − v| in double, in NumPy's pairwise order (pairwise.h): the lecture's
   error and the sum of its loss, one definition for backward() (u = y) and the engine's loss (u = P). */
double MLP_FN(mlp_abs_difference_sum)(size_t len, const MLP_T *u, const MLP_T *v, MLP_T *e);

/* y, P (n, out), A1 (n, hidden), W2 (hidden, out) -> D2 (n, out) = (y − P) ⊙ P(1 − P),
   D1 (n, hidden) = (D2·W2ᵀ) ⊙ A1(1 − A1). Returns the lecture's loss, mean |y − P| over the n·out entries,
   summed in double in NumPy's pairwise order (pairwise.h). */
double MLP_FN(mlp_lecture_backward)(const mlp_dims *d, const MLP_T *y, const MLP_T *A1, const MLP_T *P,
                                    const MLP_T *W2, MLP_T *D2, MLP_T *D1);

/* In place: W2 += (A1ᵀ·D2)·lr, b2 += (Σ D2)·lr, W1 += (Xᵀ·D1)·lr, b1 += (Σ D1)·lr.
   work: mlp_lecture_update_workspace(d) scalars. */
void MLP_FN(mlp_lecture_update)(const mlp_dims *d, const MLP_T *X, const MLP_T *A1, const MLP_T *D2,
                                const MLP_T *D1, const MLP_FN(mlp_params) *p, MLP_T lr, MLP_T *work);

/* One epoch — forward, backward, update — in place. X (n, in), y (n, out). Returns the loss from before the
   update, as mlp_lecture_backward's. The engine's epoch (mlp_net_fit of the lecture's network on one full batch)
   with the same bits as the three phases. work: mlp_lecture_step_workspace(d) scalars. */
double MLP_FN(mlp_lecture_step)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                                MLP_T lr, MLP_T *work);

/* `epochs` steps; losses[e] (double) is step e's loss. work as for mlp_lecture_step. */
void MLP_FN(mlp_lecture_train)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                               MLP_T lr, size_t epochs, double *losses, MLP_T *work);

/* Every quantity of one step, for teaching: where mlp_lecture_trace writes them. Shapes as above;
   W1_new.. are the parameters after the update (the inputs are not modified). */
typedef struct {
    MLP_T *Z1, *A1, *Z2, *P, *E2, *D2, *E1, *D1, *W1_new, *b1_new, *W2_new, *b2_new;
} MLP_FN(mlp_trace);

/* One step of the lecture written out: Z1 = X·W1 + b1, A1 = σ(Z1), Z2 = A1·W2 + b2, P = σ(Z2), E2 = y − P,
   D2 = E2 ⊙ P(1 − P), E1 = D2·W2ᵀ, D1 = E1 ⊙ A1(1 − A1), then the update applied to copies of the parameters.
   Every value equals what mlp_lecture_step computes. work: mlp_lecture_update_workspace(d) scalars. */
void MLP_FN(mlp_lecture_trace)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, const MLP_FN(mlp_params) *p,
                               MLP_T lr, const MLP_FN(mlp_trace) *t, MLP_T *work);

/* ---- general networks (net.c, optim.c) ---- */

/* L weight matrices W[l] (sizes[l], sizes[l+1]) and L biases b[l] (sizes[l+1]); gradients have the same form. */
typedef struct {
    MLP_T *const *W;
    MLP_T *const *b;
} MLP_FN(mlp_net_params);

/* The optimizer's state, in the layout of its table row (mlp_optimizer_info): buffers[j][i] is buffer j of
   parameter tensor i (in the order W[0], b[0], W[1], b[1], ...), t the step count. Unused fields are NULL. */
typedef struct {
    MLP_T *const *buffers[MLP_OPTIM_MAX_BUFFERS];
    int64_t *t;
} MLP_FN(mlp_optim_state);

/* X (n, sizes[0]) -> out (n, sizes[L]), the output layer's activation. work: mlp_net_workspace(net, n, 0). */
void MLP_FN(mlp_net_forward)(const mlp_net *net, size_t n, const MLP_T *X, const MLP_FN(mlp_net_params) *p,
                             MLP_T *out, MLP_T *work);

/* The loss on X (n, sizes[0]) against y (n, sizes[L]) — or, for cross-entropy with y NULL, labels (n) in
   [0, sizes[L]) — and, if grads is not NULL, its gradient with respect to every parameter. Products and an
   element-wise loss (from 2 × MLP_LOSS_SPLIT_MIN terms on) are split among net->threads, with the same bits on
   any number of them. work: mlp_net_workspace(net, n, 0). */
double MLP_FN(mlp_net_loss)(const mlp_net *net, size_t n, const MLP_T *X, const MLP_T *y, const size_t *labels,
                            const MLP_FN(mlp_net_params) *p, const MLP_FN(mlp_net_params) *grads, MLP_T *work);

/* One optimizer step on a parameter tensor of len values with gradient g, in place on p and the tensor's state
   buffers state[0 .. mlp_optim_buffers(opt)) (each of len values), with t the step count already incremented for
   this step (ignored by the optimizers that count none). */
void MLP_FN(mlp_optim_update)(mlp_isa isa, const mlp_optimizer *opt, size_t len, MLP_T *p, const MLP_T *g,
                              MLP_T *const *state, int64_t t);
/* The same, with the step's scalars already computed (mlp_optim_scalars_of). */
void MLP_FN(mlp_optim_update_step)(mlp_isa isa, const mlp_optimizer *opt, const mlp_optim_scalars *scalars,
                                   size_t len, MLP_T *p, const MLP_T *g, MLP_T *const *state);

/* One optimizer step on every tensor (W[0], b[0], W[1], ...) with the given gradients, in place on p and state
   (an optimizer that counts steps: t incremented first): the step mlp_net_fit takes after each mini-batch. From
   2 × MLP_OPTIM_SPLIT_MIN values on, split among net->threads (the same bits on any number of them). */
void MLP_FN(mlp_net_apply)(const mlp_net *net, const MLP_FN(mlp_net_params) *p, const MLP_FN(mlp_net_params) *grads,
                           const mlp_optimizer *opt, const MLP_FN(mlp_optim_state) *state);

/* `epochs` epochs of mini-batch training, in place on p and state. Each epoch: if shuffle and batch < n, a
   Fisher–Yates permutation of the rows drawn from rng (j = next % (i + 1), i = n−1 … 1, from the identity), else
   the rows in order; then consecutive mini-batches of `batch` rows (the last may be smaller), each: loss and
   gradients, then one optimizer step. losses[e] is the sample-weighted mean of epoch e's mini-batch losses, each
   taken before its update. y or labels as for mlp_net_loss. Products, the loss (as in mlp_net_loss), steps
   (mlp_net_apply) and a shuffled mini-batch's gather (from 2 × MLP_GATHER_SPLIT_MIN values of X on) are split
   among net->threads, with the same bits on any number of them.
   work: mlp_net_workspace(net, batch, 1) scalars; iwork: mlp_net_iworkspace(n, batch). */
void MLP_FN(mlp_net_fit)(const mlp_net *net, size_t n, const MLP_T *X, const MLP_T *y, const size_t *labels,
                         const MLP_FN(mlp_net_params) *p, const mlp_optimizer *opt,
                         const MLP_FN(mlp_optim_state) *state, size_t epochs, size_t batch, int shuffle,
                         uint64_t rng[4], double *losses, MLP_T *work, size_t *iwork);
/* mlp_net_fit that asks `poll` (NULL: never) after each mini-batch but an epoch's last, and after each epoch but
   the last, whether to stop there. Returns the epochs completed (their losses written); *batches: the mini-batches
   applied in the epoch after them (0 when it ran every epoch or stopped at an epoch's end). p, state and rng are
   then exactly as after those steps. */
size_t MLP_FN(mlp_net_fit_polled)(const mlp_net *net, size_t n, const MLP_T *X, const MLP_T *y,
                                  const size_t *labels, const MLP_FN(mlp_net_params) *p, const mlp_optimizer *opt,
                                  const MLP_FN(mlp_optim_state) *state, size_t epochs, size_t batch, int shuffle,
                                  uint64_t rng[4], double *losses, MLP_T *work, size_t *iwork, const mlp_poll *poll,
                                  size_t *batches);
