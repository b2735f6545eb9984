/*
 * mlp.h — the C core of mlpext: plain C11, no Python types.
 *
 * Every kernel takes sizes and pointers to C-contiguous (row-major) buffers and exists in two precisions:
 * the suffix _f64 works on double, _f32 on float (declared once, in mlp_t.h, which this header includes twice).
 * Shapes are written (rows, cols). Written buffers never overlap read buffers unless a comment says so; the
 * caller (the binding) checks that.
 *
 * Names follow the lecture: X input (n, in), W weights (in, out), b bias (out), A = act(X·W + b) (n, out),
 * D the delta of a layer's output (n, out) — the lecture's δ, which carries the sign of (y − ŷ), so the update
 * is an ascent step: W += (Xᵀ·δ)·η.
 */
#ifndef MLPEXT_MLP_H
#define MLPEXT_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Activation functions, in the order of the activation table (activations.c, mlp_activation_table). Their
   derivatives are taken from the activation's output, as the lecture does, except GELU's, from z. */
typedef enum {
    MLP_IDENTITY = 0,   /* a = z,                  a' = 1                          */
    MLP_SIGMOID = 1,    /* a = 1 / (1 + e^-z),     a' = a(1 − a)                   */
    MLP_TANH = 2,       /* a = tanh z,             a' = 1 − a²                     */
    MLP_RELU = 3,       /* a = max(z, 0),          a' = [a > 0]                    */
    MLP_LEAKY_RELU = 4, /* a = z > 0 ? z : s·z,    a' = a > 0 ? 1 : s   (s = slope ≥ 0) */
    MLP_SOFTMAX = 5,    /* a = e^z / Σ_row e^z, over each row (output layers only); its Jacobian is applied
                           as a(d − Σ_row a⊙d) */
    MLP_GELU = 6,       /* a = z·Φ(z) = z·½(1 + erf(z/√2)) (nn.GELU()), a' = Φ(z) + z·φ(z): needs z */
} mlp_activation_kind;

/* An activation and its parameter. */
typedef struct {
    mlp_activation_kind kind;
    double slope; /* MLP_LEAKY_RELU's slope for z < 0 */
} mlp_activation;

#define MLP_ACT(kind) ((mlp_activation){(kind), 0.0})

/* ---- threads (parallel.c) ---- */

/* Helper threads kept between matrix products (parallel.c): the binding starts one team per module and gives it
   to the calls that split products. Opaque. */
typedef struct mlp_team mlp_team;

/* The widest instruction set the kernels may use (simd.h): MLP_ISA_BEST lets them take the widest this CPU and
   build have; the others cap that (the binding's MLPEXT_SIMD), so that the portable kernels can be run and tested
   on a CPU that has more. A cap above what the CPU has runs what it has. */
typedef enum { MLP_ISA_BEST = 0, MLP_ISA_GENERIC = 1, MLP_ISA_AVX2 = 2, MLP_ISA_AVX512 = 3 } mlp_isa;

/* The data caches of the core a call runs on, which size the blocks of large matrix products (dense.c; docs/design.md,
   "Dense kernels"). Any field 0 or out of range: the whole geometry is replaced by MLP_CACHE_FALLBACK. The blocks
   change where sums pause, never their order: the results are the same bits for any geometry. */
typedef struct {
    size_t l1_bytes, l1_ways; /* L1 data cache, per core */
    size_t l2_bytes;          /* L2, per core */
} mlp_cache;

#define MLP_CACHE_FALLBACK ((mlp_cache){32 * 1024, 8, 512 * 1024})

/* `cache` if it is plausible (L1 of 1 KB to 16 MB in 1 to 256 ways of at least a line, L2 of 1 KB to 4 GB), else
   MLP_CACHE_FALLBACK: the geometry the products are blocked for. */
mlp_cache mlp_cache_or_fallback(const mlp_cache *cache);

/* This machine's caches as the system reports them (sysconf on Linux, GetLogicalProcessorInformation on Windows,
   sysctl on macOS), 0 where it does not: to be called once (it may trap to a hypervisor), not per product. */
mlp_cache mlp_cache_detect(void);

/* A monotonic clock, in nanoseconds (parallel.c). */
int64_t mlp_now_ns(void);
/* Returns once *flag holds `value` (acquire), spinning and now and then yielding the CPU to a thread that shares
   it (parallel.c): for a wait of microseconds on another thread that waits for nothing meanwhile. */
void mlp_spin_until(mlp_atomic_int *flag, int value);

/* Where the kernels get memory of their own, the packing buffers of large products: `take` returns `bytes` bytes
   (or NULL), `give` returns them. The core calls no allocator of its own (but for mlp_cache_detect's query on
   Windows): the binding passes Python's raw allocator, callable without the GIL and traced by tracemalloc like
   the rest of mlpext's memory. */
typedef struct {
    void *(*take)(size_t bytes);
    void (*give)(void *memory);
} mlp_alloc;

/* How a call runs: its large products split among up to `count` threads (0 or 1: the calling thread alone), on
   the helpers of `team` when it is given (see mlp_parallel for when it cannot take a product), else on threads
   started for the product; every kernel with at most the instruction set `isa`; large products blocked for
   `cache` (all 0: MLP_CACHE_FALLBACK) in buffers from `alloc` (NULL take: not packed, the same result). */
typedef struct {
    size_t count;
    mlp_team *team; /* may be NULL */
    mlp_isa isa;
    mlp_cache cache;
    mlp_alloc alloc;
} mlp_threads;

/* no team: threads started per product; large products not packed */
#define MLP_THREADS(count) ((mlp_threads){(count), NULL, MLP_ISA_BEST, {0, 0, 0}, {NULL, NULL}})

/* Sizes of the lecture's two-layer network: n samples, in inputs, hidden units, out outputs. Every size given to
   a kernel is at least 1. */
typedef struct {
    size_t n, in, hidden, out;
    mlp_threads threads; /* where its large products may run (mlp_parallel) */
} mlp_dims;

/* Scalars of workspace that mlp_lecture_update_* (resp. _forward_*, _step_* and _train_*) need for these sizes,
   or 0 if the count overflows size_t. */
size_t mlp_lecture_update_workspace(const mlp_dims *d);
size_t mlp_lecture_forward_workspace(const mlp_dims *d);
size_t mlp_lecture_step_workspace(const mlp_dims *d);

/* ---- general networks (net.c, optim.c) ---- */

/* Losses, as PyTorch defines them, in the order of the loss table (net.c, mlp_loss_table). P is the output
   layer's activation, Z its pre-activation, N the number of output values (n·out), n the number of samples. */
typedef enum {
    MLP_LOSS_LECTURE = 0,       /* the lecture's: the gradient of ½·Σ(y − P)² summed over the batch (its update),
                                   reported as the figure it prints, Σ|y − P| / N */
    MLP_LOSS_MSE = 1,           /* Σ(P − y)² / N (nn.MSELoss) */
    MLP_LOSS_BCE = 2,           /* nn.BCELoss on a sigmoid output, mean; fused gradient (P − y)/N */
    MLP_LOSS_CROSS_ENTROPY = 3, /* nn.CrossEntropyLoss on the logits Z (softmax output), mean over the n samples;
                                   y one-hot/probability rows or class labels; fused gradient (P·Σ_row y − y)/n */
    MLP_LOSS_MAE = 4,           /* Σ|P − y| / N (nn.L1Loss); gradient sign(P − y)/N, sign 0 at 0 */
} mlp_loss;

/* The most layers a network may have (the kernels keep per-layer pointers on the stack). */
#define MLP_MAX_LAYERS 64

/* A network of L dense layers: layer l maps sizes[l] inputs to sizes[l+1] outputs with acts[l]. */
typedef struct {
    size_t n_layers;            /* 1 ≤ L ≤ MLP_MAX_LAYERS */
    const size_t *sizes;        /* L + 1 sizes, each ≥ 1 */
    const mlp_activation *acts; /* L activations; only the last may be MLP_SOFTMAX */
    mlp_loss loss;
    mlp_threads threads; /* as mlp_dims.threads */
} mlp_net;

/* The optimizers, in the order of the optimizer table (optim.c, mlp_optimizer_table). */
typedef enum { MLP_SGD = 0, MLP_ADAM = 1, MLP_RMSPROP = 2, MLP_ADAMW = 3 } mlp_optimizer_kind;

/* An optimizer and its hyperparameters, torch.optim's: SGD (momentum, nesterov, weight_decay; dampening 0), Adam and
   AdamW (betas, eps, weight_decay: L2 for Adam, decoupled for AdamW), RMSprop (alpha, eps, weight_decay; no
   momentum, not centered). Each uses the fields it names and ignores the others. */
typedef struct {
    mlp_optimizer_kind kind;
    double lr, momentum, beta1, beta2, eps, weight_decay;
    int nesterov;
    double alpha; /* RMSprop's smoothing constant */
} mlp_optimizer;

/* The most state tensors an optimizer keeps per parameter tensor. */
#define MLP_OPTIM_MAX_BUFFERS 2

/* How many buffers per parameter tensor `opt` keeps (0 .. MLP_OPTIM_MAX_BUFFERS): its row's, or none for an
   optimizer whose buffers need momentum and which has momentum 0. */
size_t mlp_optim_buffers(const mlp_optimizer *opt);

/* A question a long kernel asks its caller between units of work (mlp_net_fit_polled): stop(arg, rows) != 0 stops
   it there; rows is how many rows the unit just done covered, for the caller to pace itself. */
typedef struct {
    int (*stop)(void *arg, size_t rows);
    void *arg;
} mlp_poll;

/* The scalars of step t shared by every tensor of the step, in double as torch computes them; for the optimizers
   that count steps (Adam, AdamW) step_size = lr / (1 − beta1^t) and bias_correction2_sqrt = (1 − beta2^t)^0.5
   (pow); otherwise 0 and 1. */
typedef struct {
    double step_size, bias_correction2_sqrt;
} mlp_optim_scalars;
mlp_optim_scalars mlp_optim_scalars_of(const mlp_optimizer *opt, int64_t t);

/* What a network's calls cost, roughly, for a caller that paces them (whether to release the GIL, how often to
   look at signals, whether to split products among threads). Per row of data, but `values`. */
typedef struct {
    double pass;    /* operations of a training pass: for each layer, 3 × (its multiply-adds + 10 per output
                       value), for the forward pass, the backward pass and the gradients' products */
    double largest; /* multiply-adds of the largest matrix product */
    double values;  /* the parameters' values: what an optimizer step touches */
} mlp_costs;
mlp_costs mlp_net_costs(const mlp_net *net);
/* The same for the lecture's network of sizes d (lecture.c). */
mlp_costs mlp_lecture_costs(const mlp_dims *d);

/* A cache line's bytes: the workspace's parts start on one (mlp_net_workspace). */
#define MLP_LINE_BYTES 64

/* Scalars of workspace for the net kernels on `batch` rows at a time (all n rows for forward and loss); `train`:
   room for gradients and the mini-batch gather too. 0 if the count overflows. */
size_t mlp_net_workspace(const mlp_net *net, size_t batch, int train);
/* size_t slots of integer workspace mlp_net_fit needs: the permutation and a mini-batch of labels. */
size_t mlp_net_iworkspace(size_t n, size_t batch);

/* xoshiro256**: the next number of the shuffle's generator, whose state s (not all zero) lives with the net. */
uint64_t mlp_rng_next(uint64_t s[4]);
/* perm[0..n) = the Fisher–Yates permutation of 0..n−1 that mlp_net_fit draws for an epoch (j = next % (i + 1),
   i = n−1 … 1, from the identity); advances s as that epoch does. Data-parallel training draws the same one. */
void mlp_shuffle_rows(size_t n, size_t *perm, uint64_t s[4]);

/* ---- dense layers (dense.c) ---- */

/* Layers more than 4 wide with at least this many weights (in·out) sum with fused multiply-adds where the CPU has
   them (AVX2+FMA, AVX-512), whatever the number of rows; the others, the lecture's among them, round every product
   before adding it, as NumPy's loops do. From this size on the fused SIMD kernel beats the portable loops for every
   product and batch measured but D·Wᵀ on one row (docs/design.md and docs/benchmarks.md, "Which layers fuse"). */
#define MLP_DENSE_FMA_MIN 256

/* X·W + b of a layer (in, out) more than MLP_SMALL_WIDTH wide, with at least MLP_HALVES_MIN_IN inputs and at most
   MLP_HALVES_MAX_WEIGHTS weights, sums its inputs in two halves, cut at mlp_dense_halves_at(in, out): each half's sum
   in order, then (first + second) + b (docs/design.md, "Numerics"). Why: on two threads each computes one half,
   over the rows of W that its part of the layer's Xᵀ·D updates, so they stay in its core's cache; cut by rows of
   X, every step each thread read the rows of W the other had just written. */
#ifndef MLP_HALVES_MIN_IN /* (-D for measurements only) */
#define MLP_HALVES_MIN_IN 256
#endif
#ifndef MLP_HALVES_MAX_WEIGHTS
#define MLP_HALVES_MAX_WEIGHTS ((size_t)1 << 19)
#endif
/* Where X·W + b of a layer (in, out) cuts its sum: at a multiple of 16, as Xᵀ·D's rows are cut for two threads;
   0 if it does not. It depends on the layer's shape only. */
size_t mlp_dense_halves_at(size_t in, size_t out);

/* From this many multiply-adds on, a product on the SIMD kernels packs both its factors in blocks sized for the
   caches (mlp_threads.cache); below, it reads A in place and packs only the strips of B it must: there the copies
   cost more than they save (docs/design.md, "Dense kernels"). */
#define MLP_DENSE_PACK_MIN ((size_t)1 << 25)

/* ---- threads (parallel.c), continued ---- */

/* A matrix product of at least this many multiply-adds is split among the threads a call allows (mlp_dims.threads,
   mlp_net.threads), if each part gets at least MLP_PARALLEL_MIN_ROWS of the rows it is cut by; smaller ones run
   on the calling thread, where waking a helper would cost more than it saves (docs/benchmarks.md, "Threads", and
   "Does splitting from 2¹⁹ multiply-adds pay?"). */
#ifndef MLP_PARALLEL_MIN_OPS /* (-D for measurements only) */
#define MLP_PARALLEL_MIN_OPS ((size_t)1 << 19)
#endif
#ifndef MLP_PARALLEL_MIN_ROWS
#define MLP_PARALLEL_MIN_ROWS 48
#endif
/* X·W + b and D·Wᵀ below MLP_DENSE_PACK_MIN with an element-wise epilogue, on rows too few to give any thread a
   second part of MLP_PARALLEL_MIN_ROWS, are cut by C's columns instead, at multiples of this many (each part at
   least that many), where that makes as many parts: small batches then use every thread too. */
#define MLP_COLS_ALIGN 32
#define MLP_MAX_THREADS 64

/* An optimizer step (mlp_net_apply) is split among the threads its call was granted for its products, in equal
   parts of the parameters' values, each at least this many: the steps of Adam and RMSprop are bound by the core's
   divider, SGD's momentum by memory. A call whose products are too small to split runs its steps on the calling
   thread, since a split step would move the values between the cores at every step (docs/design.md,
   "Threads"). */
#ifndef MLP_OPTIM_SPLIT_MIN /* (-D for measurements only) */
#define MLP_OPTIM_SPLIT_MIN ((size_t)4096)
#endif
/* So is a shuffled mini-batch's gather (mlp_net_fit), in parts of its rows of at least this many values of X: a
   copy of X's rows bound by memory, which ran on the calling thread before the products. */
#ifndef MLP_GATHER_SPLIT_MIN /* (-D for measurements only) */
#define MLP_GATHER_SPLIT_MIN ((size_t)8192)
#endif
/* So is an element-wise loss (net_output_grad: its terms, their sum in NumPy's pairwise order, and the output
   activation's backward), in parts of at least this many terms: on a wide output (an autoencoder's, say) one pass
   over it, BCE's two logarithms a term, ran on the calling thread between the products. And so are the other
   passes over a layer that are not its product's epilogue (net_impl.h, rows_job: a softmax, and the activation
   and gradient of a layer that keeps z, GELU's erf and exp), in parts of rows of at least this many values. */
#ifndef MLP_LOSS_SPLIT_MIN /* (-D for measurements only) */
#define MLP_LOSS_SPLIT_MIN ((size_t)8192)
#endif

/* Without the team's helpers, threads are started for a product only from this many multiply-adds on: below it,
   starting and joining them cost more than they save (docs/design.md, "Threads"). */
#define MLP_PARALLEL_START_MIN_OPS ((size_t)1 << 25)

/* Runs fn(arg, part, parts) for part = 0 .. parts − 1, parts = threads.count capped at MLP_MAX_THREADS, part 0 on
   the calling thread; returns when every part has finished. fn must give the same result whatever the parts.
   The other parts run
   - without a team (threads.team NULL): each on a thread started for it and joined before returning;
   - on the team's helpers if it was started by this process and runs no other product; a team with fewer
     helpers than asked runs the product in helpers + 1 parts, unless it has at least MLP_PARALLEL_START_MIN_OPS
     multiply-adds (`ops`);
   - else on threads started for them if `ops` reaches MLP_PARALLEL_START_MIN_OPS, or all on the calling thread.
   A part whose thread cannot be started runs on the calling thread. */
void mlp_parallel(mlp_threads threads, size_t ops, void (*fn)(void *arg, size_t part, size_t parts), void *arg);

/* The bytes a team needs: its caller allocates them (aligned as malloc would) and frees them after mlp_team_stop,
   or after mlp_team_start returned NULL. */
size_t mlp_team_bytes(void);
/* Starts a team of `helpers` threads (at most MLP_MAX_THREADS − 1) in `memory`. NULL if no helper could be
   started; it may have fewer helpers than asked if the system refused some (mlp_team_helpers). */
mlp_team *mlp_team_start(void *memory, size_t helpers);
/* How many helpers the team has. */
size_t mlp_team_helpers(const mlp_team *team);
/* Whether the team was started by this process: after fork(), the child has none of its threads. */
int mlp_team_ours(const mlp_team *team);
/* Stops and joins its helpers. No product may be running on it. Its memory is then the caller's to free. */
void mlp_team_stop(mlp_team *team);
/* The CPUs this process may run on (its affinity mask where the system has one), at least 1. */
size_t mlp_cpu_count(void);
/* The most threads a call may use: `env` (MLPEXT_NUM_THREADS), a positive integer, if it is set and not empty;
   else mlp_cpu_count(); at most MLP_MAX_THREADS. 0 if env is not a positive integer (leading blanks, a sign and
   trailing spaces allowed, as strtol reads it). */
size_t mlp_thread_limit(const char *env);
/* The team kept in *slot (NULL: none yet), for a call that may use `count` > 1 threads: the team there if this
   process started it; else a new one of count − 1 helpers, in memory from `alloc`, put in *slot unless another
   thread put one there first (then that one is returned and the new one stopped). A team a parent process left
   (fork) is replaced, never touched: its threads are not in this process. NULL if no helper could be started. */
mlp_team *mlp_team_shared(mlp_atomic_ptr *slot, size_t count, mlp_alloc alloc);
/* Empties *slot: a team this process started is stopped and its memory given back to `alloc`; a parent's is
   forgotten. */
void mlp_team_drop(mlp_atomic_ptr *slot, mlp_alloc alloc);

/* A scratch block kept between calls in *slot (NULL: none kept), so that a call does not touch fresh memory (a page
   fault per 4 KiB) when the last call's block is large enough. Blocks come from `alloc` and carry their size in a
   head of MLP_BLOCK_HEAD bytes, which keeps their data's alignment modulo 64 the allocator's. */
#define MLP_BLOCK_HEAD 64
/* The largest block mlp_block_put keeps; a larger one is given back. */
#define MLP_BLOCK_KEEP_MAX ((size_t)128 << 20)
/* `bytes` bytes of scratch: the kept block if it is large enough (taken out of *slot; slot may be NULL), else a new
   one (a kept block too small is given back). NULL if the allocator fails (then none is kept any more). */
void *mlp_block_get(mlp_atomic_ptr *slot, size_t bytes, mlp_alloc alloc);
/* Returns a block from mlp_block_get (NULL: nothing to do): kept in *slot if it is at most MLP_BLOCK_KEEP_MAX bytes
   and slot is not NULL (a block another thread kept meanwhile is given back), else given back. */
void mlp_block_put(mlp_atomic_ptr *slot, void *data, mlp_alloc alloc);
/* The bytes of the block kept in *slot, head included (0: none); with give != 0 the block is also given back. */
size_t mlp_block_kept(mlp_atomic_ptr *slot, int give, mlp_alloc alloc);

/* The SIMD code path the kernels take on this CPU with at most `isa`: "avx512f (avx2 for short loops)", "avx2",
   "sse2" (the portable kernels, built for x86-64's baseline) or "generic" (the portable kernels elsewhere). */
const char *mlp_simd_path(mlp_isa isa);
/* The cap named `name` ("generic", "avx2", "avx512"; "" or "auto": MLP_ISA_BEST) into *isa: 1, or 0 if the name is
   not one of those. */
int mlp_isa_parse(const char *name, mlp_isa *isa);
/* Whether this build and CPU have the kernels of `isa` (MLP_ISA_BEST and MLP_ISA_GENERIC: always). It first runs the
   CPU detection that every dispatch reads, so a binding calls it before any kernel (the module's import does). */
int mlp_isa_available(mlp_isa isa);

#define MLP_T double
#define MLP_FN(name) name##_f64
#include "mlp_t.h"
#undef MLP_T
#undef MLP_FN

#define MLP_T float
#define MLP_FN(name) name##_f32
#include "mlp_t.h"
#undef MLP_T
#undef MLP_FN

/* ---- one signature for both precisions (kernels.c) ----

   The kernels the binding runs, each with the same signature in both precisions: a caller that holds untyped
   buffers picks the precision once per call (mlp_kernels_for) and branches on it nowhere else. Every buffer is of
   the table's precision. A lecture network's parameters are the 4 pointers W1, b1, W2, b2; a network's parameters
   (and its gradients) the 2L pointers W[0], b[0], W[1], b[1], ...; an optimizer's state its table row's layout
   (mlp_optimizer_info) flattened: the step count (int64) if it keeps one, then each buffer's 2L tensors in that
   order. A learning rate is given in double and rounded once to the precision. Each entry has the contract of the
   typed kernel of the same name (mlp_t.h). */

/* The precision of a call's floating-point buffers. */
typedef enum { MLP_F64 = 0, MLP_F32 = 1 } mlp_dtype;

/* The scalar types `convert` reads: native byte order, aligned. */
typedef enum {
    MLP_SRC_BOOL, MLP_SRC_I8, MLP_SRC_U8, MLP_SRC_I16, MLP_SRC_U16, MLP_SRC_I32, MLP_SRC_U32, MLP_SRC_I64,
    MLP_SRC_U64, MLP_SRC_F32, MLP_SRC_F64
} mlp_source;

typedef struct {
    mlp_dtype dtype;
    size_t size; /* bytes per scalar */
    /* dst (rows, cols), C order = src (rows, cols) of type `type` at byte strides rs, cs, each value cast (C's
       conversion, as NumPy's astype). */
    void (*convert)(mlp_source type, const void *src, size_t rows, size_t cols, ptrdiff_t rs, ptrdiff_t cs,
                    void *dst);
    void (*lecture_forward)(const mlp_dims *d, const void *X, void *const *params, void *A1, void *P, void *work);
    double (*lecture_backward)(const mlp_dims *d, const void *y, const void *A1, const void *P, const void *W2,
                               void *D2, void *D1);
    void (*lecture_update)(const mlp_dims *d, const void *X, const void *A1, const void *D2, const void *D1,
                           void *const *params, double lr, void *work);
    double (*lecture_step)(const mlp_dims *d, const void *X, const void *y, void *const *params, double lr,
                           void *work);
    void (*lecture_train)(const mlp_dims *d, const void *X, const void *y, void *const *params, double lr,
                          size_t epochs, double *losses, void *work);
    /* trace: the 12 buffers of mlp_trace, in its order (Z1, A1, Z2, P, E2, D2, E1, D1, W1_new, ..., b2_new) */
    void (*lecture_trace)(const mlp_dims *d, const void *X, const void *y, void *const *params, double lr,
                          void *const *trace, void *work);
    void (*net_forward)(const mlp_net *net, size_t n, const void *X, void *const *params, void *out, void *work);
    double (*net_loss)(const mlp_net *net, size_t n, const void *X, const void *y, const size_t *labels,
                       void *const *params, void *const *grads, void *work);
    void (*net_apply)(const mlp_net *net, void *const *params, void *const *grads, const mlp_optimizer *opt,
                      void *const *state);
    /* mlp_net_fit_polled */
    size_t (*net_fit)(const mlp_net *net, size_t n, const void *X, const void *y, const size_t *labels,
                      void *const *params, const mlp_optimizer *opt, void *const *state, size_t epochs,
                      size_t batch, int shuffle, uint64_t rng[4], double *losses, void *work, size_t *iwork,
                      const mlp_poll *poll, size_t *batches);
} mlp_kernels;

/* The kernels of buffers of `dtype`. */
const mlp_kernels *mlp_kernels_for(mlp_dtype dtype);

/* A row of the loss table (net.c): a loss's name, its natural output activation (the one the Python API picks
   when none is given), whether it requires that one (its gradient is fused with it), whether it is a
   classification loss (predict thresholds / argmaxes), whether y may be class labels, whether its gradient is of
   a mean over the batch's rows (else of a sum: the lecture's), and its value and gradient
   in each precision: for m rows of the output layer's pre-activation Z and activation P (m, o), against y (m, o)
   or, y NULL, labels (m), the loss (summed in double: the element-wise losses in NumPy's pairwise order,
   pairwise.h; the cross-entropy row by row) and G (m, o) = ∂loss/∂Z. sums and maxes (m) are a
   softmax output's row sums and maxes (mlp_exp_shifted_rows) where the forward pass left them, else scratch. */
typedef struct {
    const char *name;
    mlp_activation_kind natural_output;
    int requires_natural_output, classification, labels, mean;
    double (*value_and_grad_f64)(const mlp_net *net, size_t m, const double *y, const size_t *labels,
                                 const double *Z, const double *P, double *sums, double *maxes, double *G);
    double (*value_and_grad_f32)(const mlp_net *net, size_t m, const float *y, const size_t *labels, const float *Z,
                                 const float *P, float *sums, float *maxes, float *G);
} mlp_loss_info;

/* The loss table, indexed by mlp_loss; *count is its length. */
const mlp_loss_info *mlp_loss_table(size_t *count);

/* A row of the activation table (activations.c): an activation's name, whether its backward needs the
   pre-activation z (a network then keeps z for every layer with it), where the Python API offers it (hidden
   and/or output layers), and its forward and backward in each precision (mlp_activate's and
   mlp_activation_backward's contracts). */
typedef struct {
    const char *name;
    int needs_z;
    int hidden, output;
    void (*forward_f64)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, double *a);
    void (*forward_f32)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, float *a);
    void (*backward_f64)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const double *z,
                         const double *a, double *d);
    void (*backward_f32)(mlp_isa isa, mlp_activation act, size_t rows, size_t cols, const float *z,
                         const float *a, float *d);
} mlp_activation_info;

/* The activation table, indexed by mlp_activation_kind; *count is its length. */
const mlp_activation_info *mlp_activation_table(size_t *count);

/* A row of the optimizer table (optim.c): an optimizer's name, what it keeps between steps and its step function
   in each precision (mlp_optim_update_step's contract). Its state is, in this order: the step count (if
   `counts_steps`: one int64 for the whole network, incremented before each step), then for each buffer name in
   turn one tensor per parameter tensor (W[0], b[0], W[1], b[1], ...), of that parameter's shape. The names are
   torch.optim's state keys. */
typedef struct {
    const char *name;
    int counts_steps;
    const char *buffers[MLP_OPTIM_MAX_BUFFERS]; /* NULL after the last */
    int buffers_need_momentum;                  /* the buffers are kept only when momentum != 0 (SGD) */
    void (*step_f64)(mlp_isa isa, const mlp_optimizer *opt, const mlp_optim_scalars *scalars, size_t len, double *p,
                     const double *g, double *const *state);
    void (*step_f32)(mlp_isa isa, const mlp_optimizer *opt, const mlp_optim_scalars *scalars, size_t len, float *p,
                     const float *g, float *const *state);
} mlp_optimizer_info;

/* The optimizer table, indexed by mlp_optimizer_kind; *count is its length. */
const mlp_optimizer_info *mlp_optimizer_table(size_t *count);

#ifdef __cplusplus
}
#endif

#endif /* MLPEXT_MLP_H */
