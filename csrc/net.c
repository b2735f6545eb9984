/* net.c — networks of any depth, composed from the dense layer: forward, loss, backward, mini-batch fit. */
#include <math.h>
#include <string.h>

#include "mlp.h"
#include "pairwise.h"
#include "simd.h"
#include "size_math.h"
#include "small.h"
#include "vmath.h"

#define MLP_LOG_OF(x) _Generic((x), float: logf, default: log)(x)
/* BCE's ln p and ln(1 − p): float's computed in double and rounded once, by code that vectorizes (vmath.h: the
   same bits on every build and instruction set); double's from the C library */
static inline void mlp_log_and_log1m(double p, double *log_p, double *log_1mp)
{
    *log_p = log(p);
    *log_1mp = log1p(-p);
}
#define MLP_BCE_LOGS(p, log_p, log_1mp) \
    _Generic((p), float: mlp_log_and_log1m_f, default: mlp_log_and_log1m)((p), (log_p), (log_1mp))
/* BCE's terms on fewer than this run the portable build (a block holds at most MLP_PAIRWISE_BLOCK) */
#define MLP_BCE_SIMD_MIN 16
#define MLP_ABS_OF(x) _Generic((x), float: fabsf, default: fabs)(x)
/* A loss table row's function of the template's precision */
#define MLP_LOSS_FN(row) _Generic((MLP_T)0, float: (row)->value_and_grad_f32, default: (row)->value_and_grad_f64)

/* Whether the network keeps a layer's pre-activation for its activation's backward (the activation table). */
static int mlp_needs_z(mlp_activation act)
{
    size_t count;
    return mlp_activation_table(&count)[act.kind].needs_z;
}
#define MLP_NEEDS_Z(act) mlp_needs_z(act)

/* Whether anything reads the output layer's pre-activation Z: a softmax (the cross-entropy's log-sum-exp), a
   cross-entropy, or an output activation whose backward needs z. Elsewhere the forward pass applies the
   activation as the product's epilogue and keeps no Z. */
static int mlp_output_needs_z(const mlp_net *net)
{
    const mlp_activation out = net->acts[net->n_layers - 1];
    return out.kind == MLP_SOFTMAX || net->loss == MLP_LOSS_CROSS_ENTROPY || mlp_needs_z(out);
}

/* fn(arg, part, parts) on the call's threads (those granted for its products), in at most `most` parts, or on the
   calling thread alone: an optimizer step or a mini-batch's gather, split only where the products are (mlp.h,
   MLP_OPTIM_SPLIT_MIN). ops 0 for mlp_parallel: a busy team leaves the work to the calling thread. */
static void mlp_run_split(mlp_threads threads, size_t most, void (*fn)(void *arg, size_t part, size_t parts), void *arg)
{
    threads.count = threads.count < most ? threads.count : most;
    if (threads.count > 1) {
        mlp_parallel(threads, 0, fn, arg);
    } else {
        fn(arg, 0, 1);
    }
}

/* A sum of n terms in NumPy's pairwise order (pairwise.h) on the call's threads: its tree cut into `leaves`
   subtrees (a power of two, at most 2 per thread, each about MLP_LOSS_SPLIT_MIN terms or more), whole subtrees to
   a part, their sums then added as the tree adds them: mlp_pairwise_sum's bits, whatever the parts. */
#define MLP_PAIRWISE_LEAVES_MAX 64
_Static_assert(MLP_LOSS_SPLIT_MIN >= MLP_PAIRWISE_BLOCK, "each subtree is cut as mlp_pairwise_range cuts it");
typedef struct {
    mlp_pairwise_terms terms;
    const void *arg;
    size_t leaves, lo[MLP_PAIRWISE_LEAVES_MAX + 1]; /* subtree q: terms lo[q] .. lo[q + 1] − 1 */
    double sum[MLP_PAIRWISE_LEAVES_MAX];
} mlp_pairwise_job;

static void mlp_pairwise_part(void *arg, size_t part, size_t parts)
{
    mlp_pairwise_job *j = arg;
    for (size_t q = j->leaves * part / parts; q < j->leaves * (part + 1) / parts; q++) {
        j->sum[q] = mlp_pairwise_range(j->terms, j->arg, j->lo[q], j->lo[q + 1] - j->lo[q]);
    }
}

static double mlp_pairwise_sum_split(mlp_threads threads, mlp_pairwise_terms terms, const void *arg, size_t n)
{
    mlp_pairwise_job j = {terms, arg, 1, {0, n}, {0}};
    while (threads.count > 1 && j.leaves < 2 * threads.count && j.leaves < MLP_PAIRWISE_LEAVES_MAX &&
           n / (2 * j.leaves) >= MLP_LOSS_SPLIT_MIN) {
        for (size_t q = j.leaves; q-- > 0;) { /* each subtree's halves, cut where mlp_pairwise_range cuts it */
            const size_t a = j.lo[q], b = j.lo[q + 1];
            j.lo[2 * q + 2] = b;
            j.lo[2 * q + 1] = a + mlp_pairwise_split(b - a);
            j.lo[2 * q] = a;
        }
        j.leaves *= 2;
    }
    if (j.leaves == 1) {
        return mlp_pairwise_sum(terms, arg, n);
    }
    mlp_run_split(threads, j.leaves, mlp_pairwise_part, &j);
    for (size_t w = j.leaves; w > 1; w /= 2) {
        for (size_t q = 0; q < w / 2; q++) {
            j.sum[q] = j.sum[2 * q] + j.sum[2 * q + 1];
        }
    }
    return 0.0 + j.sum[0];
}

/* The element-wise passes over a layer that run after its product rather than as its epilogue (net_impl.h,
   rows_job): the activation of a layer whose z is kept, a softmax output, an activation's gradient from z. */
typedef enum { MLP_ROWS_ACTIVATE, MLP_ROWS_SOFTMAX, MLP_ROWS_BACKWARD } mlp_rows_pass;

/* SGD without momentum or weight decay: a step p − lr·g that mlp_net_fit applies as each gradient is made. */
static int mlp_plain_sgd(const mlp_optimizer *opt)
{
    return opt->kind == MLP_SGD && opt->momentum == 0.0 && opt->weight_decay == 0.0;
}

/* Workspace (see net_layout in net_impl.h): the activations A[1..L] and the output's pre-activation Z (and that
   of each hidden layer whose activation needs it), two delta buffers of the widest layer, a softmax's row sums
   and maxes, all for `batch` rows; for training also the gradients of every parameter and the gathered
   mini-batch of X and y. Each starts a cache line: a product's tiles then store whole lines of C. */
size_t mlp_net_workspace(const mlp_net *net, size_t batch, int train)
{
    size_t count;
    const mlp_activation_info *table = mlp_activation_table(&count);
    int ok = 1;
    const size_t L = net->n_layers, *s = net->sizes;
    size_t widest = 0, per_row = s[L], params = 0; /* per_row starts with Z's width */
    for (size_t l = 1; l <= L; l++) {
        per_row = mlp_size_add(per_row, s[l], &ok);
        if (l < L && table[net->acts[l - 1].kind].needs_z) { /* the hidden layer's z too */
            per_row = mlp_size_add(per_row, s[l], &ok);
        }
        widest = s[l] > widest ? s[l] : widest;
        params = mlp_size_add(params, mlp_size_add(mlp_size_mul(s[l - 1], s[l], &ok), s[l], &ok), &ok);
    }
    per_row = mlp_size_add(per_row, mlp_size_add(mlp_size_mul(2, widest, &ok), 2, &ok), &ok); /* G, sums, maxes */
    if (train) {
        per_row = mlp_size_add(per_row, mlp_size_add(s[0], s[L], &ok), &ok);
    }
    size_t total = mlp_size_add(mlp_size_mul(batch, per_row, &ok), train ? params : 0, &ok);
    /* each of its parts from a cache line (net_layout): at most 4L + 6 parts, and the start */
    const size_t line = MLP_LINE_BYTES / sizeof(float), gaps = 4 * L + 7; /* (float's: the more scalars) */
    total = mlp_size_add(total, mlp_size_mul(gaps, line, &ok), &ok);
    return ok ? total : 0;
}

size_t mlp_net_iworkspace(size_t n, size_t batch) { return n + batch; }

mlp_costs mlp_net_costs(const mlp_net *net)
{
    mlp_costs c = {0.0, 0.0, 0.0};
    for (size_t l = 0; l < net->n_layers; l++) {
        const double weights = (double)net->sizes[l] * (double)net->sizes[l + 1], out = (double)net->sizes[l + 1];
        c.pass += 3.0 * weights + 30.0 * out;
        c.largest = weights > c.largest ? weights : c.largest;
        c.values += weights + out;
    }
    return c;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mlp_rng_next(uint64_t s[4])
{
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void mlp_shuffle_rows(size_t n, size_t *perm, uint64_t rng[4])
{
    for (size_t i = 0; i < n; i++) {
        perm[i] = i;
    }
    for (size_t i = n - 1; i >= 1; i--) {
        size_t j = (size_t)(mlp_rng_next(rng) % (uint64_t)(i + 1)), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

/* The one-pass epoch of the lecture's network with the samples in the lanes of one vector (rows4_impl.h), for
   float64 networks of at most four samples that tiny_fits (tiny_impl.h: at most MLP_SMALL_WIDTH inputs and hidden
   units, one output), on CPUs with AVX2 and FMA (with AVX-512VL: a faster table look-up): 1 where it ran, 0
   (nothing done) elsewhere; the float32 one always returns 0. tiny_impl.h is the rest of this kernel choice. */
#ifdef MLP_X86_DISPATCH
#define MLP_ISA_IMPL "rows4_impl.h"
#define MLP_ISA_SETS (MLP_SET_AVX2 | MLP_SET_AVX512VL)
#include "each_isa.h"
#endif

static int rows4_train_f64(const mlp_dims *d, const double *X, const double *y, const mlp_params_f64 *p, double lr,
                           size_t epochs, double *losses)
{
#ifdef MLP_X86_DISPATCH
    const int fits = d->n <= 4; /* and what tiny_fits checked before: the widths, one output */
    if (fits && MLP_HAS_AVX512VL(d->threads.isa)) {
        rows4_train_avx512vl(d, X, y, p, lr, epochs, losses);
        return 1;
    }
    if (fits && MLP_HAS_AVX2_FMA(d->threads.isa)) {
        rows4_train_avx2(d, X, y, p, lr, epochs, losses);
        return 1;
    }
#endif
    (void)d, (void)X, (void)y, (void)p, (void)lr, (void)epochs, (void)losses;
    return 0;
}

static int rows4_train_f32(const mlp_dims *d, const float *X, const float *y, const mlp_params_f32 *p, float lr,
                           size_t epochs, double *losses)
{
    (void)d, (void)X, (void)y, (void)p, (void)lr, (void)epochs, (void)losses;
    return 0;
}

#define MLP_IMPL "net_impl.h"
#include "each_precision.h"
/* The public kernels this file defines, by their full names (the template spells them MLP_FN(name); tests/c/run.sh
   checks this list against the object file):
     mlp_abs_difference_sum_f64        mlp_abs_difference_sum_f32
     mlp_net_apply_f64                 mlp_net_apply_f32
     mlp_net_fit_f64                   mlp_net_fit_f32
     mlp_net_fit_polled_f64            mlp_net_fit_polled_f32
     mlp_net_forward_f64               mlp_net_forward_f32
     mlp_net_loss_f64                  mlp_net_loss_f32 */

/* The loss table: one row per loss, in mlp_loss's order. Adding a loss is a function (net_impl.h), a row here
   and its kind in mlp.h; the binding and the Python package read the names, natural output activations and
   the rest from here. */
#define MLP_LOSS_ROW(name, natural, requires, classification, labels, mean)                                      \
    {#name, natural, requires, classification, labels, mean, name##_loss_f64, name##_loss_f32}
static const mlp_loss_info losses[] = {
    MLP_LOSS_ROW(lecture, MLP_SIGMOID, 0, 0, 0, 0),   MLP_LOSS_ROW(mse, MLP_IDENTITY, 0, 0, 0, 1),
    MLP_LOSS_ROW(bce, MLP_SIGMOID, 1, 1, 0, 1),       MLP_LOSS_ROW(cross_entropy, MLP_SOFTMAX, 1, 1, 1, 1),
    MLP_LOSS_ROW(mae, MLP_IDENTITY, 0, 0, 0, 1),
};
#define N_LOSSES (sizeof losses / sizeof losses[0])
_Static_assert(N_LOSSES == MLP_LOSS_MAE + 1, "one row per mlp_loss");

const mlp_loss_info *mlp_loss_table(size_t *count)
{
    *count = N_LOSSES;
    return losses;
}
