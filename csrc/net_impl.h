/* net_impl.h — template body of net.c (see each_precision.h). */

/* Where the workspace's parts are, for `batch` rows. */
typedef struct {
    MLP_T *A[MLP_MAX_LAYERS + 1]; /* A[l] (batch, sizes[l]) for l ≥ 1: layer outputs, after their activation */
    MLP_T *Z;                     /* (batch, sizes[L]): the output layer before its activation */
    MLP_T *Zh[MLP_MAX_LAYERS];    /* Zh[l] (batch, sizes[l]) for 1 ≤ l < L: a hidden layer before its activation,
                                     kept where the activation's backward needs z (NULL elsewhere) */
    MLP_T *G[2];                  /* (batch, widest): the delta ∂loss/∂(pre-activation), ping-pong */
    MLP_T *sums, *maxes;          /* (batch): a softmax output's row sums Σ e^(z − max) and maxes */
    MLP_T *dW[MLP_MAX_LAYERS];    /* train: gradients, W[l]'s shape */
    MLP_T *db[MLP_MAX_LAYERS];    /* train: gradients, b[l]'s shape */
    MLP_T *Xb, *yb;               /* train: the gathered mini-batch, (batch, sizes[0]) and (batch, sizes[L]) */
} MLP_FN(net_work);

/* The next part of the workspace, of len scalars, from a cache line: *work advanced past it (to a line). */
static MLP_T *MLP_FN(take_lines)(MLP_T **work, size_t len)
{
    const size_t line = MLP_LINE_BYTES / sizeof(MLP_T);
    MLP_T *part = *work;
    *work += (len + line - 1) / line * line;
    return part;
}

static void MLP_FN(net_layout)(const mlp_net *net, size_t batch, int train, MLP_T *work, MLP_FN(net_work) *w)
{
    const size_t L = net->n_layers, *s = net->sizes;
    size_t widest = 0;
    work += (MLP_LINE_BYTES - (uintptr_t)work % MLP_LINE_BYTES) % MLP_LINE_BYTES / sizeof(MLP_T); /* to a line */
    for (size_t l = 1; l <= L; l++) {
        w->A[l] = MLP_FN(take_lines)(&work, batch * s[l]);
        widest = s[l] > widest ? s[l] : widest;
    }
    w->Z = MLP_FN(take_lines)(&work, batch * s[L]); /* the output's z, or, where neither its activation's backward
                                                       nor the loss reads it, A[L] */
    if (!mlp_output_needs_z(net)) {
        w->Z = w->A[L];
    }
    for (size_t l = 1; l < L; l++) {
        w->Zh[l] = MLP_NEEDS_Z(net->acts[l - 1]) ? MLP_FN(take_lines)(&work, batch * s[l]) : NULL;
    }
    w->G[0] = MLP_FN(take_lines)(&work, batch * widest);
    w->G[1] = MLP_FN(take_lines)(&work, batch * widest);
    w->sums = MLP_FN(take_lines)(&work, batch);
    w->maxes = MLP_FN(take_lines)(&work, batch);
    if (train) {
        for (size_t l = 0; l < L; l++) {
            w->dW[l] = MLP_FN(take_lines)(&work, s[l] * s[l + 1]);
            w->db[l] = MLP_FN(take_lines)(&work, s[l + 1]);
        }
        w->Xb = MLP_FN(take_lines)(&work, batch * s[0]);
        w->yb = MLP_FN(take_lines)(&work, batch * s[L]);
    }
}

/* An element-wise pass over a layer's (m, cols) values, row by row, that is not a product's epilogue (net.c,
   mlp_rows_pass): on the call's threads in parts of rows, each at least MLP_LOSS_SPLIT_MIN values (mlp.h). Each row
   is computed alone, so the bits are one thread's. */
typedef struct {
    const mlp_net *net;
    mlp_rows_pass pass;
    mlp_activation act;
    size_t m, cols;
    const MLP_T *Z; /* z, or NULL where none is kept (BACKWARD, of an activation whose gradient reads a alone) */
    const MLP_T *a; /* BACKWARD: the activation */
    MLP_T *out;     /* ACTIVATE, SOFTMAX: the activation, from Z; BACKWARD: the delta, times act'(z, a) in place */
    MLP_T *sums, *maxes; /* SOFTMAX: each row's, for the cross-entropy */
} MLP_FN(rows_job);

static void MLP_FN(rows_part)(void *arg, size_t part, size_t parts)
{
    const MLP_FN(rows_job) *j = arg;
    const size_t lo = j->m * part / parts, rows = j->m * (part + 1) / parts - lo, at = lo * j->cols;
    const mlp_isa isa = j->net->threads.isa;
    if (j->pass == MLP_ROWS_ACTIVATE) {
        memcpy(j->out + at, j->Z + at, rows * j->cols * sizeof *j->out);
        MLP_FN(mlp_activate)(isa, j->act, rows, j->cols, j->out + at);
    } else if (j->pass == MLP_ROWS_SOFTMAX) {
        MLP_FN(mlp_softmax_rows)(isa, rows, j->cols, j->Z + at, j->out + at, j->sums + lo, j->maxes + lo);
    } else {
        MLP_FN(mlp_activation_backward)(isa, j->act, rows, j->cols, j->Z != NULL ? j->Z + at : NULL, j->a + at,
                                        j->out + at);
    }
}

static void MLP_FN(rows_pass)(const MLP_FN(rows_job) *job)
{
    const size_t most = job->m * job->cols / MLP_LOSS_SPLIT_MIN;
    mlp_run_split(job->net->threads, most < job->m ? most : job->m, MLP_FN(rows_part), (void *)job);
}

/* m rows of X through every layer: A[1..L], and Z for the output layer (G[1]: the scratch of layers that sum in
   halves). */
static void MLP_FN(net_forward_rows)(const mlp_net *net, size_t m, const MLP_T *X, const MLP_FN(mlp_net_params) *p,
                                     MLP_FN(net_work) *w)
{
    const size_t L = net->n_layers, *s = net->sizes;
    const MLP_T *in = X;
    for (size_t l = 0; l + 1 < L; l++) {
        if (w->Zh[l + 1] != NULL) { /* z kept for the backward: the layer without its activation, then a = act(z) */
            MLP_FN(mlp_dense_forward)(m, s[l], s[l + 1], in, p->W[l], p->b[l], MLP_ACT(MLP_IDENTITY), w->Zh[l + 1],
                                      w->G[1], net->threads);
            const MLP_FN(rows_job) job = {net, MLP_ROWS_ACTIVATE, net->acts[l], m, s[l + 1], w->Zh[l + 1], NULL,
                                          w->A[l + 1], NULL, NULL};
            MLP_FN(rows_pass)(&job);
        } else {
            MLP_FN(mlp_dense_forward)(m, s[l], s[l + 1], in, p->W[l], p->b[l], net->acts[l], w->A[l + 1],
                                      w->G[1], net->threads);
        }
        in = w->A[l + 1];
    }
    if (w->Z == w->A[L]) { /* z not needed (net_layout): the activation as the product's epilogue */
        MLP_FN(mlp_dense_forward)(m, s[L - 1], s[L], in, p->W[L - 1], p->b[L - 1], net->acts[L - 1], w->A[L],
                                  w->G[1], net->threads);
        return;
    }
    MLP_FN(mlp_dense_forward)(m, s[L - 1], s[L], in, p->W[L - 1], p->b[L - 1], MLP_ACT(MLP_IDENTITY), w->Z,
                              w->G[1], net->threads);
    /* a softmax keeps its rows' sums and maxes for the cross-entropy */
    const int softmax = net->acts[L - 1].kind == MLP_SOFTMAX;
    const MLP_FN(rows_job) job = {net, softmax ? MLP_ROWS_SOFTMAX : MLP_ROWS_ACTIVATE, net->acts[L - 1], m, s[L], w->Z,
                                  NULL, w->A[L], w->sums, w->maxes};
    MLP_FN(rows_pass)(&job);
}

/* One row of the cross-entropy (net_output_grad): adds its loss −Σ y·log_softmax(z) to *sum (term by term, in
   column order) and writes its gradient g = (p·Σy − y)/m; the row's target is t (o), or the label c when t is
   NULL. max is the row's max and total Σ e^(z − max) (mlp_exp_shifted_rows). A division by m is a multiplication
   by 1/m when m is a power of two (inverse = 1/m, else 0): the same result, without the divider. */
static void MLP_FN(cross_entropy_row)(size_t o, size_t m, MLP_T inverse, const MLP_T *z, const MLP_T *p,
                                      const MLP_T *t, size_t c, MLP_T max, MLP_T total, MLP_T *g, double *sum)
{
    const MLP_T log_total = MLP_LOG_OF(total);
    if (t == NULL) {
        *sum += (double)(log_total - (z[c] - max));
        for (size_t j = 0; j < o; j++) {
            const MLP_T d = j == c ? p[j] - 1 : p[j];
            g[j] = inverse != 0 ? d * inverse : d / (MLP_T)m;
        }
        return;
    }
    MLP_T t_sum = 0; /* ∂/∂z_j = P_j·Σ y − y_j: P − y for rows that sum to 1 */
    for (size_t j = 0; j < o; j++) {
        t_sum += t[j];
    }
    for (size_t j = 0; j < o; j++) {
        *sum += (double)(t[j] * (log_total - (z[j] - max)));
        const MLP_T d = p[j] * t_sum - t[j];
        g[j] = inverse != 0 ? d * inverse : d / (MLP_T)m;
    }
}

/* ---- the losses: one function each, listed in the loss table (net.c), with mlp_loss_info's contract: the loss
   of m rows (summed in double) and its gradient G (m, o) with respect to the output layer's pre-activation Z.
   The element-wise ones sum their N = m·o terms in NumPy's pairwise order (pairwise.h). ---- */

/* What an element-wise loss's terms are made of (the `arg` of its mlp_pairwise_terms). */
typedef struct {
    const MLP_T *y, *P;
    MLP_T *G;
    MLP_T scale; /* what the loss multiplies or divides its gradient by */
    mlp_isa isa; /* the widest loops the call may run (BCE's) */
} MLP_FN(loss_args);

/* The lecture's terms (mlp_pairwise_terms; loss_args' y and P stand for u and v): e = u − v into G, |e| into t. */
static void MLP_FN(abs_difference_terms)(const void *arg, size_t lo, size_t n, double *t)
{
    const MLP_FN(loss_args) *a = arg;
    for (size_t i = 0; i < n; i++) {
        const MLP_T e = a->y[lo + i] - a->P[lo + i];
        a->G[lo + i] = e;
        t[i] = fabs((double)e);
    }
}
double MLP_FN(mlp_abs_difference_sum)(size_t len, const MLP_T *u, const MLP_T *v, MLP_T *e)
{
    const MLP_FN(loss_args) a = {u, v, e, 0, MLP_ISA_BEST};
    return mlp_pairwise_sum(MLP_FN(abs_difference_terms), &a, len);
}

static void MLP_FN(output_backward)(const mlp_net *net, size_t m, size_t o, const MLP_T *Z, const MLP_T *P, MLP_T *G)
{
    const MLP_FN(rows_job) job = {net, MLP_ROWS_BACKWARD, net->acts[net->n_layers - 1], m, o, Z, P, G, NULL, NULL};
    MLP_FN(rows_pass)(&job);
}

/* the figure the lecture prints, Σ|y − P|/N; G = (P − y) ⊙ act'(P), the lecture's −δ (the gradient of ½·Σ(y − P)²) */
static double MLP_FN(lecture_loss)(const mlp_net *net, size_t m, const MLP_T *y, const size_t *labels,
                                   const MLP_T *Z, const MLP_T *P, MLP_T *sums, MLP_T *maxes, MLP_T *G)
{
    const size_t o = net->sizes[net->n_layers];
    (void)labels, (void)sums, (void)maxes;
    const MLP_FN(loss_args) a = {P, y, G, 0, net->threads.isa}; /* (abs_difference_terms: e = P − y) */
    const double loss = mlp_pairwise_sum_split(net->threads, MLP_FN(abs_difference_terms), &a, m * o) / (double)(m * o);
    MLP_FN(output_backward)(net, m, o, Z, P, G);
    return loss;
}

/* Σ(P − y)²/N (nn.MSELoss); G = ((P − y)·(2/N)) ⊙ act'(P) */
static void MLP_FN(mse_terms)(const void *arg, size_t lo, size_t n, double *t)
{
    const MLP_FN(loss_args) *a = arg;
    for (size_t i = 0; i < n; i++) {
        const MLP_T e = a->P[lo + i] - a->y[lo + i];
        t[i] = (double)e * (double)e;
        a->G[lo + i] = e * a->scale;
    }
}
static double MLP_FN(mse_loss)(const mlp_net *net, size_t m, const MLP_T *y, const size_t *labels, const MLP_T *Z,
                               const MLP_T *P, MLP_T *sums, MLP_T *maxes, MLP_T *G)
{
    const size_t o = net->sizes[net->n_layers], N = m * o;
    (void)labels, (void)sums, (void)maxes;
    const MLP_FN(loss_args) a = {y, P, G, (MLP_T)(2.0 / (double)N), net->threads.isa};
    const double loss = mlp_pairwise_sum_split(net->threads, MLP_FN(mse_terms), &a, N) / (double)N;
    MLP_FN(output_backward)(net, m, o, Z, P, G);
    return loss;
}

/* mean of (y − 1)·max(log1p(−P), −100) − y·max(log P, −100) (nn.BCELoss on a sigmoid); fused G = (P − y)/N.
   n terms: t, and G's entries. The logarithms are MLP_BCE_LOGS' (net.c): float's vectorize, so the loop has a
   build per instruction set (loss_simd_impl.h). */
MLP_INLINE void MLP_FN(bce_loop)(size_t n, const MLP_T *y, const MLP_T *P, MLP_T *G, MLP_T scale, double *t)
{
    for (size_t i = 0; i < n; i++) {
        const MLP_T p = P[i], yi = y[i];
        MLP_T log_p, log_1mp;
        MLP_BCE_LOGS(p, &log_p, &log_1mp);
        const MLP_T lp = log_p < -100 ? (MLP_T)-100 : log_p, l1mp = log_1mp < -100 ? (MLP_T)-100 : log_1mp;
        t[i] = (double)((yi - 1) * l1mp - yi * lp);
        G[i] = (p - yi) / scale;
    }
}

#define MLP_ISA_IMPL "loss_simd_impl.h"
#define MLP_ISA_SETS (MLP_SET_GENERIC | MLP_SET_AVX2 | MLP_SET_AVX512)
#include "each_isa.h"

static void MLP_FN(bce_terms)(const void *arg, size_t lo, size_t n, double *t)
{
    const MLP_FN(loss_args) *a = arg;
    MLP_SIMD_CALL(bce_v, a->isa, n, MLP_BCE_SIMD_MIN, MLP_BCE_SIMD_MIN,
                  (n, a->y + lo, a->P + lo, a->G + lo, a->scale, t));
}
static double MLP_FN(bce_loss)(const mlp_net *net, size_t m, const MLP_T *y, const size_t *labels, const MLP_T *Z,
                               const MLP_T *P, MLP_T *sums, MLP_T *maxes, MLP_T *G)
{
    const size_t N = m * net->sizes[net->n_layers];
    (void)labels, (void)Z, (void)sums, (void)maxes;
    const MLP_FN(loss_args) a = {y, P, G, (MLP_T)N, net->threads.isa};
    return mlp_pairwise_sum_split(net->threads, MLP_FN(bce_terms), &a, N) / (double)N;
}

/* mean over rows of −Σ y·log_softmax(Z) (nn.CrossEntropyLoss); fused G = (P·Σy − y)/m; y NULL: labels */
static double MLP_FN(cross_entropy_loss)(const mlp_net *net, size_t m, const MLP_T *y, const size_t *labels,
                                         const MLP_T *Z, const MLP_T *P, MLP_T *sums, MLP_T *maxes, MLP_T *G)
{
    const size_t o = net->sizes[net->n_layers];
    double sum = 0.0;
    if (net->acts[net->n_layers - 1].kind != MLP_SOFTMAX) { /* (the Python API allows only softmax) */
        /* G the scratch for the exponentials */
        MLP_FN(mlp_exp_shifted_rows)(net->threads.isa, m, o, Z, G, sums, maxes);
    } /* else the forward pass's softmax left them */
    const MLP_T inverse = (m & (m - 1)) == 0 ? (MLP_T)1 / (MLP_T)m : 0; /* exact for a power of two */
    for (size_t r = 0; r < m; r++) {
        MLP_FN(cross_entropy_row)(o, m, inverse, Z + r * o, P + r * o, y == NULL ? NULL : y + r * o,
                                  y == NULL ? labels[r] : 0, maxes[r], sums[r], G + r * o, &sum);
    }
    return sum / (double)m;
}

/* Σ|P − y|/N (nn.L1Loss); G = (sign(P − y)/N) ⊙ act'(P), sign 0 at 0 as torch's, NaN for NaN */
static void MLP_FN(mae_terms)(const void *arg, size_t lo, size_t n, double *t)
{
    const MLP_FN(loss_args) *a = arg;
    for (size_t i = 0; i < n; i++) {
        const MLP_T e = a->P[lo + i] - a->y[lo + i];
        t[i] = (double)MLP_ABS_OF(e);
        const MLP_T sign = e > 0 ? (MLP_T)1 : e < 0 ? (MLP_T)-1 : e == 0 ? (MLP_T)0 : e;
        a->G[lo + i] = sign / a->scale;
    }
}
static double MLP_FN(mae_loss)(const mlp_net *net, size_t m, const MLP_T *y, const size_t *labels, const MLP_T *Z,
                               const MLP_T *P, MLP_T *sums, MLP_T *maxes, MLP_T *G)
{
    const size_t o = net->sizes[net->n_layers], N = m * o;
    (void)labels, (void)sums, (void)maxes;
    const MLP_FN(loss_args) a = {y, P, G, (MLP_T)N, net->threads.isa};
    const double loss = mlp_pairwise_sum_split(net->threads, MLP_FN(mae_terms), &a, N) / (double)N;
    MLP_FN(output_backward)(net, m, o, Z, P, G);
    return loss;
}

/* The loss of m rows and its gradient G (m, out) with respect to the output layer's pre-activation Z: the loss
   table's row (y (m, out), or labels (m) when y is NULL). */
static double MLP_FN(net_output_grad)(const mlp_net *net, size_t m, const MLP_T *y, const size_t *labels,
                                      const MLP_FN(net_work) *w, MLP_T *G)
{
    size_t count;
    const mlp_loss_info *row = &mlp_loss_table(&count)[net->loss];
    return MLP_LOSS_FN(row)(net, m, y, labels, w->Z, w->A[net->n_layers], w->sums, w->maxes, G);
}

/* From G (the output layer's delta) down to the input: every parameter's gradient into dW, db; and where `step`,
   plain SGD's step at rate −rate applied as each gradient is made (each layer's delta is taken first, from its
   weights before the step): p + g·rate = p − lr·g, the optimizer table's bits (optim_impl.h). */
static void MLP_FN(net_backward_rows)(const mlp_net *net, size_t m, const MLP_T *X, const MLP_FN(mlp_net_params) *p,
                                      MLP_FN(net_work) *w, MLP_T *const *dW, MLP_T *const *db, int step, MLP_T rate)
{
    const size_t *s = net->sizes;
    int cur = 0;
    for (size_t l = net->n_layers; l-- > 0;) {
        if (l > 0) {
            const int with_z = w->Zh[l] != NULL; /* the activation's gradient from z, after the product */
            MLP_FN(mlp_dense_backward_delta)(m, s[l], s[l + 1], w->G[cur], p->W[l], w->A[l],
                                             with_z ? MLP_ACT(MLP_IDENTITY) : net->acts[l - 1], w->G[1 - cur],
                                             net->threads);
            if (with_z) {
                const MLP_FN(rows_job) job = {net, MLP_ROWS_BACKWARD, net->acts[l - 1], m, s[l], w->Zh[l], w->A[l],
                                              w->G[1 - cur], NULL, NULL};
                MLP_FN(rows_pass)(&job);
            }
        }
        const MLP_T *in = l == 0 ? X : w->A[l];
        if (step) {
            MLP_FN(mlp_dense_param_step)(m, s[l], s[l + 1], in, w->G[cur], dW[l], db[l], rate, p->W[l], p->b[l],
                                         net->threads);
        } else {
            MLP_FN(mlp_dense_param_grads)(m, s[l], s[l + 1], in, w->G[cur], dW[l], db[l], net->threads);
        }
        cur = 1 - cur;
    }
}

void MLP_FN(mlp_net_forward)(const mlp_net *net, size_t n, const MLP_T *X, const MLP_FN(mlp_net_params) *p,
                             MLP_T *out, MLP_T *work)
{
    MLP_FN(net_work) w;
    MLP_FN(net_layout)(net, n, 0, work, &w);
    MLP_FN(net_forward_rows)(net, n, X, p, &w);
    memcpy(out, w.A[net->n_layers], n * net->sizes[net->n_layers] * sizeof *out);
}

double MLP_FN(mlp_net_loss)(const mlp_net *net, size_t n, const MLP_T *X, const MLP_T *y, const size_t *labels,
                            const MLP_FN(mlp_net_params) *p, const MLP_FN(mlp_net_params) *grads, MLP_T *work)
{
    MLP_FN(net_work) w;
    MLP_FN(net_layout)(net, n, 0, work, &w);
    MLP_FN(net_forward_rows)(net, n, X, p, &w);
    const double loss = MLP_FN(net_output_grad)(net, n, y, labels, &w, w.G[0]);
    if (grads != NULL) {
        MLP_FN(net_backward_rows)(net, n, X, p, &w, grads->W, grads->b, 0, 0);
    }
    return loss;
}

/* An optimizer step (mlp_net_apply): on the parameters' values numbered in the order W[0], b[0], W[1], ..., total of
   them, the values [lo, hi) at a time (apply_range). */
typedef struct {
    const mlp_net *net;
    const MLP_FN(mlp_net_params) *p, *grads;
    const mlp_optimizer *opt;
    const MLP_FN(mlp_optim_state) *state;
    mlp_optim_scalars scalars;
    size_t n_buffers, total;
} MLP_FN(apply_job);

static void MLP_FN(apply_range)(const MLP_FN(apply_job) *j, size_t lo, size_t hi)
{ /* (each value's step reads only its own values: the same bits however the range is cut) */
    const size_t *s = j->net->sizes;
    for (size_t i = 0, start = 0; i < 2 * j->net->n_layers && start < hi; i++) {
        const size_t l = i / 2, k = i % 2, len = k ? s[l + 1] : s[l] * s[l + 1];
        const size_t a = lo > start ? lo - start : 0, b = hi - start < len ? hi - start : len;
        if (a < b) {
            MLP_T *tensor_state[MLP_OPTIM_MAX_BUFFERS] = {NULL};
            for (size_t q = 0; q < j->n_buffers; q++) {
                tensor_state[q] = j->state->buffers[q][i] + a;
            }
            MLP_FN(mlp_optim_update_step)(j->net->threads.isa, j->opt, &j->scalars, b - a,
                                          (k ? j->p->b[l] : j->p->W[l]) + a, (k ? j->grads->b[l] : j->grads->W[l]) + a,
                                          tensor_state);
        }
        start += len;
    }
}

/* Part `part` of `parts` (mlp_parallel): an equal share of the values, cut at multiples of a cache line's. */
static void MLP_FN(apply_part)(void *arg, size_t part, size_t parts)
{
    const MLP_FN(apply_job) *j = arg;
    const size_t line = MLP_LINE_BYTES / sizeof(MLP_T);
    const size_t lo = part == 0 ? 0 : j->total / parts * part / line * line;
    const size_t hi = part + 1 == parts ? j->total : j->total / parts * (part + 1) / line * line;
    MLP_FN(apply_range)(j, lo, hi);
}

void MLP_FN(mlp_net_apply)(const mlp_net *net, const MLP_FN(mlp_net_params) *p, const MLP_FN(mlp_net_params) *grads,
                           const mlp_optimizer *opt, const MLP_FN(mlp_optim_state) *state)
{
    const size_t *s = net->sizes;
    size_t count, total = 0;
    int64_t t = 0;
    if (mlp_optimizer_table(&count)[opt->kind].counts_steps) { /* the count stops at int64's largest, no overflow */
        t = *state->t < INT64_MAX ? ++*state->t : *state->t;
    }
    for (size_t l = 0; l < net->n_layers; l++) {
        total += s[l] * s[l + 1] + s[l + 1];
    }
    MLP_FN(apply_job) job = {net, p, grads, opt, state, mlp_optim_scalars_of(opt, t), mlp_optim_buffers(opt), total};
    mlp_run_split(net->threads, total / MLP_OPTIM_SPLIT_MIN, MLP_FN(apply_part), &job);
}

/* A shuffled mini-batch's gather (mlp_net_fit): rows perm[0 .. m) of X and y (or of the labels) copied to Xb and yb
   (label_batch), the rows [m·part/parts, m·(part + 1)/parts) at a time. */
typedef struct {
    const MLP_T *X, *y;
    const size_t *labels, *perm;
    size_t in, o;
    MLP_T *Xb, *yb;
    size_t *label_batch;
    size_t m;
} MLP_FN(gather_job);

static void MLP_FN(gather_part)(void *arg, size_t part, size_t parts)
{
    const MLP_FN(gather_job) *j = arg;
    const size_t lo = j->m * part / parts, hi = j->m * (part + 1) / parts, in = j->in, o = j->o;
    for (size_t r = lo; r < hi; r++) {
        const size_t src = j->perm[r];
        memcpy(j->Xb + r * in, j->X + src * in, in * sizeof *j->X);
        if (j->y) {
            memcpy(j->yb + r * o, j->y + src * o, o * sizeof *j->y);
        } else {
            j->label_batch[r] = j->labels[src];
        }
    }
}

#include "tiny_impl.h" /* the one-pass epoch of the lecture's network on a few samples */

/* Epochs after which mlp_net_fit_polled polls while it runs the one-pass epoch. */
#define MLP_TINY_POLL_EPOCHS 1024

/* mlp_net_fit_polled's general path, from epoch `first` on (kept out of line: its frame is large, and the
   one-pass epoch's calls should not pay for it). */
static MLP_NOINLINE size_t MLP_FN(net_fit_from)(const mlp_net *net, size_t n, const MLP_T *X, const MLP_T *y,
                                                 const size_t *labels, const MLP_FN(mlp_net_params) *p,
                                                 const mlp_optimizer *opt, const MLP_FN(mlp_optim_state) *state,
                                                 size_t first, size_t epochs, size_t batch, int shuffle,
                                                 uint64_t rng[4], double *losses, MLP_T *work, size_t *iwork,
                                                 const mlp_poll *poll, size_t *batches)
{
    const size_t in = net->sizes[0], o = net->sizes[net->n_layers];
    const int gather = shuffle && batch < n;
    size_t *perm = iwork, *label_batch = gather ? iwork + n : NULL;
    MLP_FN(net_work) w;
    MLP_FN(net_layout)(net, batch, 1, work, &w);
    const MLP_FN(mlp_net_params) grads = {w.dW, w.db};
    const int plain_sgd = mlp_plain_sgd(opt); /* its step fused with the gradients' products */
    for (size_t e = first; e < epochs; e++) {
        if (gather) {
            mlp_shuffle_rows(n, perm, rng);
        }
        double total = 0.0, loss = 0.0;
        size_t m = 0;
        for (size_t start = 0, done = 0; start < n; start += batch) {
            if (done != 0 && poll != NULL && poll->stop(poll->arg, m)) { /* between two of the epoch's steps */
                *batches = done;
                return e;
            }
            m = n - start < batch ? n - start : batch;
            const MLP_T *Xm = X + start * in, *ym = y ? y + start * o : NULL;
            const size_t *lm = y ? NULL : labels + start;
            if (gather) { /* rows perm[start .. start + m) */
                MLP_FN(gather_job) job = {X, y, labels, perm + start, in, o, w.Xb, w.yb, label_batch, m};
                mlp_run_split(net->threads, m * in / MLP_GATHER_SPLIT_MIN, MLP_FN(gather_part), &job);
                Xm = w.Xb;
                ym = y ? w.yb : NULL;
                lm = y ? NULL : label_batch;
            }
            MLP_FN(net_forward_rows)(net, m, Xm, p, &w);
            loss = MLP_FN(net_output_grad)(net, m, ym, lm, &w, w.G[0]);
            total += loss * (double)m;
            MLP_FN(net_backward_rows)(net, m, Xm, p, &w, w.dW, w.db, plain_sgd, -(MLP_T)opt->lr);
            if (!plain_sgd) {
                MLP_FN(mlp_net_apply)(net, p, &grads, opt, state);
            }
            done++;
        }
        losses[e] = m == n ? loss : total / (double)n; /* one batch: its loss as it is */
        if (e + 1 < epochs && poll != NULL && poll->stop(poll->arg, m)) {
            return e + 1;
        }
    }
    return epochs;
}

size_t MLP_FN(mlp_net_fit_polled)(const mlp_net *net, size_t n, const MLP_T *X, const MLP_T *y,
                                  const size_t *labels, const MLP_FN(mlp_net_params) *p, const mlp_optimizer *opt,
                                  const MLP_FN(mlp_optim_state) *state, size_t epochs, size_t batch, int shuffle,
                                  uint64_t rng[4], double *losses, MLP_T *work, size_t *iwork, const mlp_poll *poll,
                                  size_t *batches)
{
    batch = batch < n ? batch : n;
    *batches = 0;
    size_t e = 0;
    if (MLP_FN(tiny_fits)(net, opt, n, batch, y)) { /* the lecture's network on a few samples, where the CPU has it */
        while (e < epochs) {
            const size_t chunk = epochs - e < MLP_TINY_POLL_EPOCHS ? epochs - e : MLP_TINY_POLL_EPOCHS;
            if (!MLP_FN(tiny_train)(net, n, X, y, p, (MLP_T)opt->lr, chunk, losses + e)) {
                break;
            }
            e += chunk;
            if (e == epochs || (poll != NULL && poll->stop(poll->arg, chunk * n))) {
                return e;
            }
        }
    }
    return MLP_FN(net_fit_from)(net, n, X, y, labels, p, opt, state, e, epochs, batch, shuffle, rng, losses, work,
                                iwork, poll, batches);
}

void MLP_FN(mlp_net_fit)(const mlp_net *net, size_t n, const MLP_T *X, const MLP_T *y, const size_t *labels,
                         const MLP_FN(mlp_net_params) *p, const mlp_optimizer *opt,
                         const MLP_FN(mlp_optim_state) *state, size_t epochs, size_t batch, int shuffle,
                         uint64_t rng[4], double *losses, MLP_T *work, size_t *iwork)
{
    size_t batches;
    MLP_FN(mlp_net_fit_polled)(net, n, X, y, labels, p, opt, state, epochs, batch, shuffle, rng, losses, work, iwork,
                               NULL, &batches);
}
