/*
 * test_net.c — C unit tests of the general-network kernels (csrc/net.c, csrc/optim.c), no Python involved.
 *
 *   - plain SGD on one full batch — the one-pass epochs of the lecture's network, the general path with its
 *     fused step, and mlp_lecture_train — bit-identically to gradients plus the optimizer table's step;
 *   - the optimizers against their formulas written out naively (torch.optim's order of operations), and their
 *     steps split among threads against one thread's;
 *   - every loss × hidden activation: mlp_net_loss's gradient against central finite differences;
 *   - the cross-entropy's gradient bit for bit against its formula, for batches of 1 to 17 rows;
 *   - mini-batch fit visits every row once per epoch, and the generator makes the same run twice; on threads
 *     (its shuffled gather, products and steps split) it gives one thread's bits;
 *   - the untyped face (mlp_kernels_for: conversions, the state's flat layout) gives the typed kernels' bits.
 * Prints "k passed, m failed"; exit status 1 if anything failed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/mlp.h"

static int passed, failed;

static void check(int ok, const char *what)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAILED: %s\n", what);
    }
}

static uint64_t seed_state = 0x9E3779B97F4A7C15u;
static double uniform(void) /* in [-1, 1) */
{
    seed_state ^= seed_state << 13;
    seed_state ^= seed_state >> 7;
    seed_state ^= seed_state << 17;
    return (double)(seed_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static void fill(double *a, size_t n, double scale)
{
    for (size_t k = 0; k < n; k++) {
        a[k] = uniform() * scale;
    }
}

/* mlp_net_fit with plain SGD on one full batch against the same epochs composed by hand — mlp_net_loss's gradients,
   then the optimizer table's step (mlp_net_apply) — bit for bit, weights and losses: the lecture's network on XOR
   (the one-pass epoch with the samples in one vector's lanes, on CPUs with AVX2), on 7 samples (the one-pass epoch
   with compile-time widths), and wider (the general path, its SGD step fused with the gradients' products); and
   mlp_lecture_train, the lecture's entry, gives the same. */
static void test_plain_sgd_paths(void)
{
    enum { MAX_W = 64, EPOCHS = 300 };
    static const size_t shapes[3][4] = {{4, 2, 3, 1}, {7, 3, 4, 1}, {9, 5, 6, 2}}; /* n, in, hidden, out */
    for (int c = 0; c < 3; c++) {
        const size_t n = shapes[c][0], in = shapes[c][1], h = shapes[c][2], o = shapes[c][3];
        double X[64], y[32], P[3][4 * MAX_W], losses[2][EPOCHS], lecture_losses[EPOCHS];
        memset(P, 0, sizeof P);
        fill(X, n * in, 1);
        for (size_t k = 0; k < n * o; k++) {
            y[k] = fabs(uniform());
        }
        const size_t len[4] = {in * h, h, h * o, o};
        for (int t = 0; t < 4; t++) {
            fill(P[0] + MAX_W * t, len[t], 1);
            memcpy(P[1] + MAX_W * t, P[0] + MAX_W * t, len[t] * sizeof(double));
            memcpy(P[2] + MAX_W * t, P[0] + MAX_W * t, len[t] * sizeof(double));
        }
        const size_t sizes[3] = {in, h, o};
        const mlp_activation acts[2] = {MLP_ACT(MLP_SIGMOID), MLP_ACT(MLP_SIGMOID)};
        const mlp_net net = {2, sizes, acts, MLP_LOSS_LECTURE, MLP_THREADS(1)};
        const mlp_optimizer sgd = {MLP_SGD, 0.5, 0.0, 0.9, 0.999, 1e-8, 0.0, 0, 0.99};
        const mlp_optim_state_f64 none = {{NULL}, NULL};
        double *work = malloc(mlp_net_workspace(&net, n, 1) * sizeof *work);
        uint64_t rng[4] = {1, 2, 3, 4};
        size_t iwork[32];
        double *Wf[2] = {P[0], P[0] + 2 * MAX_W}, *bf[2] = {P[0] + MAX_W, P[0] + 3 * MAX_W};
        const mlp_net_params_f64 fitted = {Wf, bf};
        mlp_net_fit_f64(&net, n, X, y, NULL, &fitted, &sgd, &none, EPOCHS, n, 0, rng, losses[0], work, iwork);
        double gW0[MAX_W], gb0[MAX_W], gW1[MAX_W], gb1[MAX_W];
        double *Wh[2] = {P[1], P[1] + 2 * MAX_W}, *bh[2] = {P[1] + MAX_W, P[1] + 3 * MAX_W};
        double *gW[2] = {gW0, gW1}, *gb[2] = {gb0, gb1};
        const mlp_net_params_f64 by_hand = {Wh, bh}, grads = {gW, gb};
        for (int e = 0; e < EPOCHS; e++) {
            losses[1][e] = mlp_net_loss_f64(&net, n, X, y, NULL, &by_hand, &grads, work);
            mlp_net_apply_f64(&net, &by_hand, &grads, &sgd, &none);
        }
        free(work);
        const mlp_dims d = {n, in, h, o, MLP_THREADS(1)};
        const mlp_params_f64 lp = {P[2], P[2] + MAX_W, P[2] + 2 * MAX_W, P[2] + 3 * MAX_W};
        double *lwork = malloc(mlp_lecture_step_workspace(&d) * sizeof *lwork);
        mlp_lecture_train_f64(&d, X, y, &lp, 0.5, EPOCHS, lecture_losses, lwork);
        free(lwork);
        char what[160];
        snprintf(what, sizeof what, "plain SGD, %zu-%zu-%zu on %zu rows: fit = gradients + table step = lecture", in,
                 h, o, n);
        check(memcmp(P[0], P[1], sizeof P[0]) == 0 && memcmp(P[0], P[2], sizeof P[0]) == 0 &&
                  memcmp(losses[0], losses[1], sizeof losses[0]) == 0 &&
                  memcmp(losses[0], lecture_losses, sizeof lecture_losses) == 0 && losses[0][EPOCHS - 1] < losses[0][0],
              what);
    }
}

static void test_optimizers(void)
{
    enum { N = 37 };
    double p[N], g[N], buf[N], m[N], v[N], q[N], qb[N], qm[N], qv[N];
    fill(p, N, 1), fill(g, N, 1), fill(buf, N, 0.1), fill(m, N, 0.1);
    for (size_t k = 0; k < N; k++) {
        v[k] = fabs(uniform()) * 0.01;
    }
    for (int nesterov = 0; nesterov <= 1; nesterov++) {
        memcpy(q, p, sizeof p), memcpy(qb, buf, sizeof buf);
        const mlp_optimizer sgd = {MLP_SGD, 0.1, 0.9, 0.9, 0.999, 1e-8, 0.01, nesterov, 0.99};
        double *const sgd_state[] = {qb};
        mlp_optim_update_f64(MLP_ISA_BEST, &sgd, N, q, g, sgd_state, 0);
        int same = 1;
        for (size_t k = 0; k < N; k++) {
            double gk = g[k] + 0.01 * p[k], b = buf[k] * 0.9 + gk;
            double step = nesterov ? gk + 0.9 * b : b;
            same &= q[k] == p[k] - 0.1 * step && qb[k] == b;
        }
        check(same, nesterov ? "SGD with Nesterov momentum and weight decay, as its formula"
                             : "SGD with momentum and weight decay, as its formula");
    }
    memcpy(q, p, sizeof p), memcpy(qm, m, sizeof m), memcpy(qv, v, sizeof v);
    const mlp_optimizer adam = {MLP_ADAM, 0.001, 0.0, 0.9, 0.999, 1e-8, 0.01, 0, 0.99};
    double *const adam_state[] = {qm, qv};
    mlp_optim_update_f64(MLP_ISA_BEST, &adam, N, q, g, adam_state, 3);
    int same = 1;
    const double bc1 = 1 - pow(0.9, 3), bc2 = 1 - pow(0.999, 3);
    for (size_t k = 0; k < N; k++) {
        double gk = g[k] + 0.01 * p[k];
        double mk = m[k] + (1 - 0.9) * (gk - m[k]);
        double vk = v[k] * 0.999 + ((1 - 0.999) * gk) * gk;
        double denom = sqrt(vk) / pow(bc2, 0.5) + 1e-8;
        same &= qm[k] == mk && qv[k] == vk && q[k] == p[k] + (-(0.001 / bc1) * mk) / denom;
    }
    check(same, "Adam with weight decay at step 3, as torch.optim.Adam's formula");

    memcpy(q, p, sizeof p), memcpy(qm, m, sizeof m), memcpy(qv, v, sizeof v);
    const mlp_optimizer adamw = {MLP_ADAMW, 0.001, 0.0, 0.9, 0.999, 1e-8, 0.01, 0, 0.99};
    mlp_optim_update_f64(MLP_ISA_BEST, &adamw, N, q, g, adam_state, 3);
    same = 1;
    for (size_t k = 0; k < N; k++) {
        double pk = p[k] * (1 - 0.001 * 0.01); /* decoupled: param.mul_(1 - lr * weight_decay), g unchanged */
        double mk = m[k] + (1 - 0.9) * (g[k] - m[k]);
        double vk = v[k] * 0.999 + ((1 - 0.999) * g[k]) * g[k];
        double denom = sqrt(vk) / pow(bc2, 0.5) + 1e-8;
        same &= qm[k] == mk && qv[k] == vk && q[k] == pk + (-(0.001 / bc1) * mk) / denom;
    }
    check(same, "AdamW at step 3, as torch.optim.AdamW's formula");

    memcpy(q, p, sizeof p), memcpy(qv, v, sizeof v);
    const mlp_optimizer rmsprop = {MLP_RMSPROP, 0.01, 0.0, 0.9, 0.999, 1e-8, 0.01, 0, 0.9};
    double *const rmsprop_state[] = {qv};
    mlp_optim_update_f64(MLP_ISA_BEST, &rmsprop, N, q, g, rmsprop_state, 0);
    same = 1;
    for (size_t k = 0; k < N; k++) {
        double gk = g[k] + 0.01 * p[k];
        double sk = v[k] * 0.9 + ((1 - 0.9) * gk) * gk;
        same &= qv[k] == sk && q[k] == p[k] + (-0.01 * gk) / (sqrt(sk) + 1e-8);
    }
    check(same, "RMSprop with weight decay, as torch.optim.RMSprop's formula");

    size_t count;
    const mlp_optimizer_info *table = mlp_optimizer_table(&count);
    const mlp_optimizer plain = {MLP_SGD, 0.1, 0.0, 0.9, 0.999, 1e-8, 0.0, 0, 0.99};
    check(count == 4 && strcmp(table[MLP_RMSPROP].name, "rmsprop") == 0 && mlp_optim_buffers(&plain) == 0 &&
              mlp_optim_buffers(&adamw) == 2 && table[MLP_ADAMW].counts_steps && !table[MLP_RMSPROP].counts_steps,
          "the optimizer table: one row per kind, in its order; SGD keeps a buffer only with momentum");
}

/* Adam over tensors long enough for the SIMD build (AVX2, where the CPU has it), against torch's formula written
   out per element, bit for bit: both ways of torch's lerp, weight decay, the flush of tiny states to 0, zero states,
   and NaN, infinite and huge values, in both precisions.
   T the scalar type; the formula computes in T, as the kernel does. */
#define ADAM_REFERENCE(T, SQRT, FLUSH_MIN)                                                                       \
    static int adam_reference_##T(size_t len, const T *p0, const T *g, const T *m0, const T *v0, const T *p,     \
                                  const T *m, const T *v, double beta1, double eps, double wd, int64_t t)        \
    {                                                                                                            \
        const double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(0.999, (double)t);                      \
        const T weight = (T)(1.0 - beta1), step = (T)(1e-3 / bc1), c = (T)pow(bc2, 0.5);                         \
        int same = 1;                                                                                            \
        for (size_t k = 0; k < len; k++) {                                                                       \
            const T gk = wd != 0 ? g[k] + (T)wd * p0[k] : g[k];                                                  \
            T mk = 1.0 - beta1 < 0.5 ? m0[k] + weight * (gk - m0[k]) : gk - (gk - m0[k]) * ((T)1 - weight);      \
            mk = (mk < 0 ? -mk : mk) < FLUSH_MIN ? 0 : mk;                                                        \
            T vk = v0[k] * (T)0.999 + ((T)(1.0 - 0.999) * gk) * gk;                                               \
            vk = (vk < 0 ? -vk : vk) < FLUSH_MIN ? 0 : vk;                                                        \
            const T pk = p0[k] + (-step * mk) / (SQRT(vk) / c + (T)eps);                                          \
            same &= memcmp(&pk, &p[k], sizeof pk) == 0 && memcmp(&mk, &m[k], sizeof mk) == 0 &&                   \
                    memcmp(&vk, &v[k], sizeof vk) == 0;                                                          \
        }                                                                                                        \
        return same;                                                                                             \
    }
ADAM_REFERENCE(double, sqrt, 2.2250738585072014e-308)
ADAM_REFERENCE(float, sqrtf, 1.17549435e-38f)

#define ADAM_PATHS(T, SUFFIX)                                                                                    \
    static void test_adam_paths_##T(void)                                                                        \
    {                                                                                                            \
        enum { N = 1003 };                                                                                       \
        T p0[N], g[N], m0[N], v0[N], p[N], m[N], v[N];                                                           \
        for (int trial = 0; trial < 8; trial++) {                                                                \
            for (size_t k = 0; k < N; k++) {                                                                     \
                const int kind = (int)(k % 17);                                                                  \
                p0[k] = (T)uniform();                                                                            \
                g[k] = kind == 0 ? 0 : kind == 1 ? (T)(uniform() * 1e-30) : (T)(uniform() * pow(10, -4 * (uniform() + 1))); \
                m0[k] = kind == 0 ? 0 : kind == 2 ? (T)1e-37 : (T)(uniform() * 1e-3);                          \
                v0[k] = kind == 0   ? 0                                                                      \
                        : kind == 3 ? (T)1.5e-38                                                                 \
                        : kind == 4 ? (T)(sizeof(T) == 4 ? 1e-34 : 1e-300) /* small, but normal */               \
                                    : (T)(fabs(uniform()) * 1e-6);                                               \
            }                                                                                                    \
            if (trial == 7) { /* NaN, infinite and huge values, each in a vector of its own */                   \
                g[100] = (T)NAN, g[200] = (T)INFINITY, v0[300] = (T)(sizeof(T) == 4 ? 1e38 : 1e300);             \
                v0[308] = v0[300];                                                                               \
                m0[400] = (T)(sizeof(T) == 4 ? 1e30 : 1e200);                                                    \
            }                                                                                                    \
            memcpy(p, p0, sizeof p), memcpy(m, m0, sizeof m), memcpy(v, v0, sizeof v);                           \
            const double beta1 = trial % 2 ? 0.9 : 0.3, wd = trial % 4 >= 2 ? 0.01 : 0.0, eps = 1e-8;           \
            const int64_t t = 1 + trial * 37;                                                                    \
            const mlp_optimizer adam = {MLP_ADAM, 1e-3, 0.0, beta1, 0.999, eps, wd, 0, 0.99};                          \
            T *const adam_state[] = {m, v};                                                                      \
            mlp_optim_update_##SUFFIX(MLP_ISA_BEST, &adam, N, p, g, adam_state, t);                              \
            char what[96];                                                                                       \
            snprintf(what, sizeof what, "Adam (%s, %zu parameters, trial %d) as torch's formula, bit for bit",  \
                     #T, (size_t)N, trial);                                                                      \
            check(adam_reference_##T(N, p0, g, m0, v0, p, m, v, beta1, eps, wd, t), what);                      \
        }                                                                                                        \
    }
ADAM_PATHS(double, f64)
ADAM_PATHS(float, f32)

/* mlp_net_apply split among threads gives one thread's bits: every optimizer with its state (SGD with Nesterov
   momentum and weight decay, Adam with weight decay, AdamW, RMSprop, and Adam with an eps so small that its steps
   keep subnormal states, which the helpers must then keep too), in both precisions, from states with subnormal
   values and gradients with zeros, on a network whose values (21,880, sizes not multiples of 16) make several
   parts, cut inside tensors and between them; on 2 and 7 threads started for the step, and on a team of 2 helpers
   asked for 3 and for 7 (then all its helpers), three steps each. */
#define APPLY_IN_PARTS(T, SUFFIX)                                                                                \
    static void test_apply_in_parts_##T(void)                                                                    \
    {                                                                                                            \
        enum { L = 3, RUNS = 5 };                                                                                \
        size_t sizes[L + 1] = {97, 131, 65, 7}, total = 0, off[2 * L + 1] = {0};                                 \
        for (size_t i = 0; i < 2 * L; i++) {                                                                     \
            const size_t len = i % 2 ? sizes[i / 2 + 1] : sizes[i / 2] * sizes[i / 2 + 1];                       \
            off[i + 1] = off[i] + len;                                                                           \
        }                                                                                                        \
        total = off[2 * L];                                                                                      \
        check(total >= 4 * MLP_OPTIM_SPLIT_MIN, "the network's values make at least 4 parts");                  \
        void *team_memory = malloc(mlp_team_bytes());                                                            \
        mlp_team *team = team_memory != NULL ? mlp_team_start(team_memory, 2) : NULL;                            \
        check(team != NULL, "a team of 2 helpers starts");                                                       \
        const size_t counts[RUNS] = {1, 2, 7, 3, 7};                                                             \
        /* the last Adam's eps is too small to hide a flushed state: its step keeps subnormals (optim_impl.h) */   \
        const mlp_optimizer opts[5] = {{MLP_SGD, 0.1, 0.9, 0.9, 0.999, 1e-8, 0.01, 1, 0.99},                     \
                                       {MLP_ADAM, 1e-3, 0.0, 0.9, 0.999, 1e-8, 0.01, 0, 0.99},                   \
                                       {MLP_ADAMW, 1e-3, 0.0, 0.9, 0.999, 1e-8, 0.01, 0, 0.99},                  \
                                       {MLP_RMSPROP, 1e-2, 0.0, 0.9, 0.999, 1e-8, 0.01, 0, 0.9},                 \
                                       {MLP_ADAM, 1e-3, 0.0, 0.9, 0.999, 1e-30, 0.0, 0, 0.99}};                  \
        T *p0 = malloc(total * sizeof *p0), *g = malloc(total * sizeof *g);                                      \
        T *s0 = malloc(2 * total * sizeof *s0); /* the state at the start */                                    \
        T *runs = malloc(RUNS * 3 * total * sizeof *runs); /* per run: parameters, then two state buffers */     \
        if (p0 == NULL || g == NULL || s0 == NULL || runs == NULL) {                                             \
            check(0, "test_apply_in_parts: memory");                                                             \
            return;                                                                                              \
        }                                                                                                        \
        const T tiny = (T)(sizeof(T) == 4 ? 1e-39 : 1e-310); /* subnormal */                                     \
        for (size_t k = 0; k < total; k++) { /* every 5th gradient 0, every 7th state subnormal */              \
            p0[k] = (T)uniform(), g[k] = k % 5 ? (T)(uniform() * 1e-2) : 0;                                     \
            s0[k] = k % 7 ? (T)(uniform() * 1e-3) : tiny, s0[total + k] = k % 7 ? (T)(fabs(uniform()) * 1e-5) : tiny; \
        }                                                                                                        \
        mlp_activation acts[L] = {MLP_ACT(MLP_IDENTITY), MLP_ACT(MLP_IDENTITY), MLP_ACT(MLP_IDENTITY)};          \
        for (int o = 0; o < 5; o++) {                                                                            \
            const size_t n_buffers = mlp_optim_buffers(&opts[o]);                                                \
            for (int r = 0; r < RUNS; r++) {                                                                     \
                T *p = runs + (size_t)r * 3 * total, *b0 = p + total, *b1 = b0 + total;                          \
                memcpy(p, p0, total * sizeof *p);                                                                \
                memcpy(b0, s0, 2 * total * sizeof *b0);                                                          \
                T *W[L], *b[L], *dW[L], *db[L], *s0[2 * L], *s1[2 * L];                                          \
                for (size_t i = 0; i < 2 * L; i++) {                                                             \
                    T **params = i % 2 ? b : W, **grads = i % 2 ? db : dW;                                       \
                    params[i / 2] = p + off[i], grads[i / 2] = g + off[i];                                       \
                    s0[i] = b0 + off[i], s1[i] = b1 + off[i];                                                    \
                }                                                                                                \
                mlp_threads threads = MLP_THREADS(counts[r]);                                                   \
                threads.team = r >= 3 ? team : NULL;                                                             \
                const mlp_net net = {L, sizes, acts, MLP_LOSS_MSE, threads};                                     \
                const mlp_net_params_##SUFFIX pp = {W, b}, gg = {dW, db};                                        \
                int64_t t = 0;                                                                                   \
                const mlp_optim_state_##SUFFIX state = {{s0, s1}, &t};                                           \
                for (int step = 0; step < 3; step++) {                                                           \
                    mlp_net_apply_##SUFFIX(&net, &pp, &gg, &opts[o], &state);                                    \
                }                                                                                                \
                if (r > 0) {                                                                                     \
                    char what[128];                                                                              \
                    snprintf(what, sizeof what, "%s (%s, eps %g), 3 steps on %zu threads%s: one thread's bits",  \
                             mlp_optimizer_table(&(size_t){0})[opts[o].kind].name, #T, opts[o].eps, counts[r],   \
                             r >= 3 ? " of a team of 2 helpers" : " started for it");                            \
                    check(memcmp(p, runs, (1 + n_buffers) * total * sizeof *p) == 0, what);                      \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
        if (team != NULL) {                                                                                      \
            mlp_team_stop(team);                                                                                 \
        }                                                                                                        \
        free(team_memory), free(p0), free(g), free(s0), free(runs);                                              \
    }
APPLY_IN_PARTS(double, f64)
APPLY_IN_PARTS(float, f32)

/* What mlp_net_loss's gradient is of: the loss, but for the lecture's ½·Σ(y − P)² (its value is the figure the
   lecture prints, mean |y − P|). */
static double objective(const mlp_net *net, size_t n, const double *X, const double *y, const size_t *labels,
                        const mlp_net_params_f64 *p, double *work)
{
    if (net->loss != MLP_LOSS_LECTURE) {
        return mlp_net_loss_f64(net, n, X, y, labels, p, NULL, work);
    }
    const size_t o = net->sizes[net->n_layers];
    double P[64], sum = 0.0;
    check(n * o <= 64, "objective: at most 64 outputs");
    mlp_net_forward_f64(net, n, X, p, P, work);
    for (size_t k = 0; k < n * o; k++) {
        sum += (y[k] - P[k]) * (y[k] - P[k]);
    }
    return 0.5 * sum;
}

/* Central finite differences of mlp_net_loss against its gradient, for one loss and hidden activation. */
static void test_gradient(mlp_loss loss, mlp_activation_kind hidden, mlp_activation_kind output, int labels)
{
    enum { n = 5, L = 2 };
    const size_t sizes[L + 1] = {3, 4, 3};
    const mlp_activation acts[L] = {{hidden, 0.2}, {output, 0.0}};
    const mlp_net net = {L, sizes, acts, loss, MLP_THREADS(1)};
    double W0[12], b0[4], W1[12], b1[3], dW0[12], db0[4], dW1[12], db1[3], X[n * 3], y[n * 3];
    size_t lab[n];
    fill(W0, 12, 1), fill(b0, 4, 1), fill(W1, 12, 1), fill(b1, 3, 1), fill(X, n * 3, 1);
    for (size_t k = 0; k < n * 3; k++) {
        y[k] = loss == MLP_LOSS_BCE ? (uniform() > 0 ? 1.0 : 0.0) : fabs(uniform());
    }
    for (size_t r = 0; r < n; r++) {
        lab[r] = r % 3;
    }
    double *Ws[L] = {W0, W1}, *bs[L] = {b0, b1}, *dWs[L] = {dW0, dW1}, *dbs[L] = {db0, db1};
    const mlp_net_params_f64 p = {Ws, bs}, g = {dWs, dbs};
    double *work = malloc(mlp_net_workspace(&net, n, 0) * sizeof *work);
    const double *yy = labels ? NULL : y;
    const size_t *ll = labels ? lab : NULL;
    mlp_net_loss_f64(&net, n, X, yy, ll, &p, &g, work);
    double worst = 0, scale = 0;
    double *tensors[4] = {W0, b0, W1, b1}, *grads[4] = {dW0, db0, dW1, db1};
    const size_t lens[4] = {12, 4, 12, 3};
    for (int t = 0; t < 4; t++) {
        for (size_t k = 0; k < lens[t]; k++) {
            const double old = tensors[t][k], h = 1e-6;
            tensors[t][k] = old + h;
            const double up = objective(&net, n, X, yy, ll, &p, work);
            tensors[t][k] = old - h;
            const double down = objective(&net, n, X, yy, ll, &p, work);
            tensors[t][k] = old;
            const double fd = (up - down) / (2 * h);
            worst = fmax(worst, fabs(fd - grads[t][k]));
            scale = fmax(scale, fabs(fd));
        }
    }
    free(work);
    char what[160];
    snprintf(what, sizeof what, "gradient of loss %d with hidden activation %d, output %d%s: max error %.2e of %.2e",
             (int)loss, (int)hidden, (int)output, labels ? " (labels)" : "", worst, scale);
    check(scale > 1e-6 && worst <= 1e-6 * scale, what);
}

static void test_fit_visits_every_row(void)
{
    /* With a zero learning rate nothing moves, and the loss of each epoch is the full-batch loss whatever the
       order: the sample-weighted mean of mini-batch losses of an additive loss. */
    enum { n = 23 };
    const size_t sizes[3] = {2, 3, 2};
    const mlp_activation acts[2] = {MLP_ACT(MLP_TANH), MLP_ACT(MLP_IDENTITY)};
    const mlp_net net = {2, sizes, acts, MLP_LOSS_MSE, MLP_THREADS(1)};
    double W0[6], b0[3], W1[6], b1[2], X[n * 2], y[n * 2], losses[3];
    fill(W0, 6, 1), fill(b0, 3, 1), fill(W1, 6, 1), fill(b1, 2, 1), fill(X, n * 2, 1), fill(y, n * 2, 1);
    double *Ws[2] = {W0, W1}, *bs[2] = {b0, b1};
    const mlp_net_params_f64 p = {Ws, bs};
    double *full_work = malloc(mlp_net_workspace(&net, n, 0) * sizeof *full_work);
    const double full = mlp_net_loss_f64(&net, n, X, y, NULL, &p, NULL, full_work);
    free(full_work);
    const mlp_optimizer sgd = {MLP_SGD, 0.0, 0.0, 0.9, 0.999, 1e-8, 0.0, 0, 0.99};
    const mlp_optim_state_f64 none = {{NULL}, NULL};
    uint64_t rng[4] = {5, 6, 7, 8}, rng2[4] = {5, 6, 7, 8};
    double *work = malloc(mlp_net_workspace(&net, 4, 1) * sizeof *work);
    size_t iwork[n + 4];
    mlp_net_fit_f64(&net, n, X, y, NULL, &p, &sgd, &none, 3, 4, 1, rng, losses, work, iwork);
    int ok = 1;
    for (int e = 0; e < 3; e++) {
        ok &= fabs(losses[e] - full) <= 1e-12 * full;
    }
    check(ok, "shuffled mini-batches cover every row once per epoch");
    int perm_ok = 1, seen[n] = {0};
    for (size_t i = 0; i < n; i++) {
        perm_ok &= iwork[i] < n && !seen[iwork[i]]++;
    }
    check(perm_ok, "the shuffle is a permutation");
    double again[3];
    mlp_net_fit_f64(&net, n, X, y, NULL, &p, &sgd, &none, 3, 4, 1, rng2, again, work, iwork);
    check(memcmp(rng, rng2, sizeof rng) == 0 && memcmp(losses, again, sizeof losses) == 0,
          "the same generator state gives the same run");
    free(work);
}

/* mlp_net_fit on threads gives one thread's bits: shuffled mini-batches of 71 rows of 300 inputs (21,300 values:
   a gather in 2 parts, MLP_GATHER_SPLIT_MIN) and the last one of 58, through 300-72-5 (products of 1.5 M
   multiply-adds: split) with Adam (a step of 22,037 values: in up to 5 parts), against targets and against labels;
   on 2 and 7 threads started for the call and on a team of 2 helpers asked for 3, two epochs each. */
static void test_fit_on_threads(void)
{
    enum { n = 200, in = 300, hidden = 72, out = 5, batch = 71, RUNS = 4 };
    const size_t sizes[3] = {in, hidden, out}, counts[RUNS] = {1, 2, 7, 3};
    const size_t len[4] = {in * hidden, hidden, hidden * out, out}, total = in * hidden + hidden + hidden * out + out;
    check(batch * in >= 2 * MLP_GATHER_SPLIT_MIN && total >= 4 * MLP_OPTIM_SPLIT_MIN,
          "the fit's gather and step are large enough to split");
    const mlp_activation acts[2] = {MLP_ACT(MLP_RELU), MLP_ACT(MLP_SOFTMAX)};
    const mlp_optimizer adam = {MLP_ADAM, 1e-2, 0.0, 0.9, 0.999, 1e-8, 0.0, 0, 0.99};
    double *X = malloc(n * in * sizeof *X), *y = malloc(n * out * sizeof *y), *p0 = malloc(total * sizeof *p0);
    double *runs = malloc(RUNS * 3 * total * sizeof *runs), losses[RUNS][2];
    size_t labels[n], *iwork = malloc(mlp_net_iworkspace(n, batch) * sizeof *iwork);
    void *team_memory = malloc(mlp_team_bytes());
    mlp_team *team = team_memory != NULL ? mlp_team_start(team_memory, 2) : NULL;
    mlp_net net = {2, sizes, acts, MLP_LOSS_CROSS_ENTROPY, MLP_THREADS(1)};
    double *work = malloc(mlp_net_workspace(&net, batch, 1) * sizeof *work);
    if (X == NULL || y == NULL || p0 == NULL || runs == NULL || iwork == NULL || work == NULL || team == NULL) {
        check(0, "test_fit_on_threads: memory and a team of 2 helpers");
        return;
    }
    fill(X, n * in, 1), fill(p0, total, 0.1);
    for (size_t r = 0; r < n; r++) {
        labels[r] = r % out;
        for (size_t j = 0; j < out; j++) {
            y[r * out + j] = j == labels[r] ? 0.8 : 0.05;
        }
    }
    for (int targets = 0; targets < 2; targets++) {
        for (int r = 0; r < RUNS; r++) {
            double *p = runs + (size_t)r * 3 * total, *m = p + total, *v = m + total;
            memcpy(p, p0, total * sizeof *p), memset(m, 0, 2 * total * sizeof *m);
            double *W[2] = {p, p + len[0] + len[1]}, *b[2] = {p + len[0], p + len[0] + len[1] + len[2]};
            double *mW[2] = {m, m + len[0] + len[1]}, *mb[2] = {m + len[0], m + len[0] + len[1] + len[2]};
            double *vW[2] = {v, v + len[0] + len[1]}, *vb[2] = {v + len[0], v + len[0] + len[1] + len[2]};
            double *ms[4] = {mW[0], mb[0], mW[1], mb[1]}, *vs[4] = {vW[0], vb[0], vW[1], vb[1]};
            int64_t t = 0;
            const mlp_optim_state_f64 state = {{ms, vs}, &t};
            const mlp_net_params_f64 params = {W, b};
            net.threads = (mlp_threads){counts[r], r == 3 ? team : NULL, MLP_ISA_BEST, {0, 0, 0}, {malloc, free}};
            uint64_t rng[4] = {1, 2, 3, 4};
            mlp_net_fit_f64(&net, n, X, targets ? y : NULL, targets ? NULL : labels, &params, &adam, &state, 2,
                            batch, 1, rng, losses[r], work, iwork);
            if (r > 0) {
                char what[128];
                snprintf(what, sizeof what, "a shuffled Adam fit against %s on %zu threads%s: one thread's bits",
                         targets ? "targets" : "labels", counts[r], r == 3 ? " of a team of 2 helpers" : "");
                check(memcmp(p, runs, 3 * total * sizeof *p) == 0 &&
                          memcmp(losses[r], losses[0], sizeof losses[0]) == 0,
                      what);
            }
        }
    }
    mlp_team_stop(team);
    free(team_memory), free(X), free(y), free(p0), free(runs), free(iwork), free(work);
}

/* mlp_net_loss with its loss split among threads (MLP_LOSS_SPLIT_MIN): the element-wise losses' pairwise sums cut
   into subtrees, the output activation's backward into rows; one thread's loss and gradients, bit for bit, on 2
   and 7 threads started for the call and on a team of 2 helpers asked for 3 (2 to 8 subtrees); and on one thread
   held to the portable loops and to AVX2 (BCE's logarithms vectorize: the same bits on every instruction set). */
#define LOSS_ON_THREADS(T, SUFFIX)                                                                                 \
    static void test_loss_on_threads_##SUFFIX(void)                                                                \
    {                                                                                                              \
        enum { n = 67, in = 6, out = 1031, RUNS = 6, CASES = 8 };                                                  \
        const size_t sizes[2] = {in, out}, counts[RUNS] = {1, 2, 7, 3, 1, 1}, total = in * out + out;              \
        const mlp_isa isas[RUNS] = {MLP_ISA_BEST, MLP_ISA_BEST, MLP_ISA_BEST, MLP_ISA_BEST, MLP_ISA_GENERIC,       \
                                    MLP_ISA_AVX2};                                                                 \
        check(n * out >= 8 * MLP_LOSS_SPLIT_MIN, "the losses are large enough to split in 8");                     \
        const mlp_loss losses[CASES] = {MLP_LOSS_LECTURE, MLP_LOSS_MSE, MLP_LOSS_MSE,  MLP_LOSS_MSE,               \
                                        MLP_LOSS_BCE,     MLP_LOSS_MAE, MLP_LOSS_MAE,  MLP_LOSS_LECTURE};          \
        const mlp_activation_kind outs[CASES] = {MLP_SIGMOID, MLP_IDENTITY, MLP_SOFTMAX, MLP_GELU,                 \
                                                 MLP_SIGMOID, MLP_SIGMOID,  MLP_TANH,    MLP_RELU};                \
        T *X = malloc(n * in * sizeof *X), *y = malloc(n * out * sizeof *y), *W = malloc(total * sizeof *W);       \
        T *grads = malloc(RUNS * total * sizeof *grads);                                                           \
        void *team_memory = malloc(mlp_team_bytes());                                                              \
        mlp_team *team = team_memory != NULL ? mlp_team_start(team_memory, 2) : NULL;                              \
        mlp_activation act[1];                                                                                     \
        mlp_net net = {1, sizes, act, MLP_LOSS_MSE, MLP_THREADS(1)};                                               \
        T *work = malloc(mlp_net_workspace(&net, n, 0) * sizeof *work);                                            \
        if (X == NULL || y == NULL || W == NULL || grads == NULL || team == NULL || work == NULL) {                \
            check(0, "test_loss_on_threads: memory and a team of 2 helpers");                                      \
            return;                                                                                                \
        }                                                                                                          \
        /* X in {0, ±½, ±1}, W multiples of 2^-8: every product exact, so fused and unfused sums (the SIMD and the  \
           portable products) agree and the runs held to an instruction set compare the losses alone */          \
        for (size_t k = 0; k < n * in; k++) {                                                                      \
            X[k] = (T)((int)(k % 5) - 2) / 2;                                                                      \
        }                                                                                                          \
        for (size_t k = 0; k < total; k++) {                                                                       \
            W[k] = (T)ldexp(floor(uniform() * 128), -8);                                                           \
        }                                                                                                          \
        for (int c = 0; c < CASES; c++) {                                                                          \
            for (size_t k = 0; k < n * out; k++) { /* BCE: 0, ½, 1; else 2^-20 .. 2^20: sums that the order rounds */ \
                y[k] = losses[c] == MLP_LOSS_BCE ? (T)(k % 3) / 2 : (T)ldexp(uniform(), (int)(k % 41) - 20);       \
            }                                                                                                      \
            act[0] = MLP_ACT(outs[c]), net.loss = losses[c];                                                       \
            double value[RUNS];                                                                                    \
            for (int r = 0; r < RUNS; r++) {                                                                       \
                T *Ws[1] = {W}, *bs[1] = {W + in * out};                                                           \
                T *dW[1] = {grads + r * total}, *db[1] = {grads + r * total + in * out};                           \
                const mlp_net_params_##SUFFIX p = {Ws, bs}, g = {dW, db};                                          \
                net.threads = (mlp_threads){counts[r], r == 3 ? team : NULL, isas[r], {0, 0, 0}, {malloc, free}};  \
                value[r] = mlp_net_loss_##SUFFIX(&net, n, X, y, NULL, &p, &g, work);                               \
                if (r > 0) {                                                                                       \
                    char what[160];                                                                                \
                    snprintf(what, sizeof what, "%s loss, %s output (%s) on %zu threads%s: one thread's bits",     \
                             mlp_loss_table(&(size_t){0})[losses[c]].name,                                         \
                             mlp_activation_table(&(size_t){0})[outs[c]].name, #T, counts[r],                      \
                             r == 3 ? " of a team of 2 helpers" : r == 4 ? ", portable loops"                     \
                             : r == 5 ? ", AVX2 at most" : " started for it");                                     \
                    check(isfinite(value[r]) && memcmp(&value[r], &value[0], sizeof value[0]) == 0 &&              \
                              memcmp(grads + r * total, grads, total * sizeof *grads) == 0,                        \
                          what);                                                                                   \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
        mlp_team_stop(team);                                                                                       \
        free(team_memory), free(X), free(y), free(W), free(grads), free(work);                                     \
    }
LOSS_ON_THREADS(double, f64)
LOSS_ON_THREADS(float, f32)

/* The pairwise sum's cut for many threads: MSE on 500 rows × 1200 outputs (600,000 terms) on 5, 13 and 64 threads
   started for the call (8 to 64 subtrees, the cap), and on row counts that leave uneven subtrees; one thread's
   loss and gradients each time. */
static void test_loss_on_many_threads(void)
{
    enum { in = 2, out = 1200, most = 500 };
    const size_t sizes[2] = {in, out}, counts[3] = {5, 13, 64}, rows[3] = {most, 333, 29};
    const size_t total = in * out + out;
    check(most * out >= 64 * MLP_LOSS_SPLIT_MIN, "the loss is large enough for 64 subtrees");
    mlp_activation act[1] = {MLP_ACT(MLP_SIGMOID)};
    const mlp_net one = {1, sizes, act, MLP_LOSS_MSE, MLP_THREADS(1)};
    float *X = malloc(most * in * sizeof *X), *y = malloc(most * out * sizeof *y), *W = malloc(total * sizeof *W);
    float *g0 = malloc(total * sizeof *g0), *g1 = malloc(total * sizeof *g1);
    float *work = malloc(mlp_net_workspace(&one, most, 0) * sizeof *work);
    if (X == NULL || y == NULL || W == NULL || g0 == NULL || g1 == NULL || work == NULL) {
        check(0, "test_loss_on_many_threads: memory");
        return;
    }
    for (size_t k = 0; k < most * in; k++) {
        X[k] = (float)uniform();
    }
    for (size_t k = 0; k < most * out; k++) {
        y[k] = (float)ldexp(uniform(), (int)(k % 41) - 20);
    }
    for (size_t k = 0; k < total; k++) {
        W[k] = (float)uniform();
    }
    float *Ws[1] = {W}, *bs[1] = {W + in * out}, *d0W[1] = {g0}, *d0b[1] = {g0 + in * out};
    float *d1W[1] = {g1}, *d1b[1] = {g1 + in * out};
    const mlp_net_params_f32 p = {Ws, bs}, grads0 = {d0W, d0b}, grads1 = {d1W, d1b};
    for (int r = 0; r < 3; r++) {
        const double want = mlp_net_loss_f32(&one, rows[r], X, y, NULL, &p, &grads0, work);
        for (int c = 0; c < 3; c++) {
            mlp_net net = one;
            net.threads = (mlp_threads){counts[c], NULL, MLP_ISA_BEST, {0, 0, 0}, {malloc, free}};
            const double got = mlp_net_loss_f32(&net, rows[r], X, y, NULL, &p, &grads1, work);
            char what[128];
            snprintf(what, sizeof what, "MSE over %zu terms on %zu threads: one thread's bits", rows[r] * out,
                     counts[c]);
            check(memcmp(&got, &want, sizeof got) == 0 && memcmp(g0, g1, total * sizeof *g0) == 0, what);
        }
    }
    free(X), free(y), free(W), free(g0), free(g1), free(work);
}

/* The cross-entropy's gradient bit for bit, on a one-layer softmax network small enough for the portable loops
   (3 inputs, 4 classes): G = (P − onehot)/m (labels) or (P·Σt − t)/m (targets), with the division written out,
   for batches of every size up to 17 (the powers of two multiply by the exact 1/m instead: the same bits); then
   db = Σ_r G[r] and dW = Xᵀ·G in row order, each product rounded. Also: the loss with an identity output layer
   (the network keeps no softmax sums then, so the loss computes its own) equals the softmax network's loss. */
static void test_cross_entropy_gradient_bits(void)
{
    enum { IN = 3, OUT = 4, MAXN = 17 };
    const size_t sizes[2] = {IN, OUT};
    const mlp_activation softmax[1] = {MLP_ACT(MLP_SOFTMAX)}, identity[1] = {MLP_ACT(MLP_IDENTITY)};
    const mlp_net net = {1, sizes, softmax, MLP_LOSS_CROSS_ENTROPY, MLP_THREADS(1)};
    const mlp_net plain = {1, sizes, identity, MLP_LOSS_CROSS_ENTROPY, MLP_THREADS(1)};
    double W[IN * OUT], b[OUT], dW[IN * OUT], db[OUT], X[MAXN * IN], T[MAXN * OUT], P[MAXN * OUT], G[MAXN * OUT];
    size_t labels[MAXN];
    fill(W, IN * OUT, 2), fill(b, OUT, 1), fill(X, MAXN * IN, 2), fill(T, MAXN * OUT, 1);
    for (size_t r = 0; r < MAXN; r++) {
        labels[r] = r * 7 % OUT;
    }
    double *Ws[1] = {W}, *bs[1] = {b}, *dWs[1] = {dW}, *dbs[1] = {db};
    const mlp_net_params_f64 p = {Ws, bs}, g = {dWs, dbs};
    const size_t work_len = mlp_net_workspace(&net, MAXN, 0);
    double *work = malloc(work_len * sizeof *work), *other = malloc(work_len * sizeof *other);
    int same = 1, same_loss = 1;
    for (size_t m = 1; m <= MAXN; m++) {
        for (int with_labels = 0; with_labels < 2; with_labels++) {
            const double *y = with_labels ? NULL : T;
            const size_t *lab = with_labels ? labels : NULL;
            const double loss = mlp_net_loss_f64(&net, m, X, y, lab, &p, &g, work);
            for (size_t k = 0; k < work_len; k++) { /* nothing left over from the softmax network */
                other[k] = NAN;
            }
            same_loss &= loss == mlp_net_loss_f64(&plain, m, X, y, lab, &p, NULL, other);
            mlp_net_forward_f64(&net, m, X, &p, P, work);
            for (size_t r = 0; r < m; r++) {
                double t_sum = 0;
                for (size_t j = 0; j < OUT; j++) {
                    t_sum += T[r * OUT + j];
                }
                for (size_t j = 0; j < OUT; j++) {
                    const double pj = P[r * OUT + j];
                    G[r * OUT + j] = with_labels ? (j == labels[r] ? pj - 1 : pj) / (double)m
                                                 : (pj * t_sum - T[r * OUT + j]) / (double)m;
                }
            }
            for (size_t j = 0; j < OUT; j++) {
                double s = G[j];
                for (size_t r = 1; r < m; r++) {
                    s += G[r * OUT + j];
                }
                same &= s == db[j];
                for (size_t i = 0; i < IN; i++) {
                    double w = X[i] * G[j];
                    for (size_t r = 1; r < m; r++) {
                        w += X[r * IN + i] * G[r * OUT + j];
                    }
                    same &= w == dW[i * OUT + j];
                }
            }
        }
    }
    check(same, "cross-entropy gradient (labels and targets, 1 to 17 rows) as (P - y)/m, bit for bit");
    check(same_loss, "cross-entropy loss after an identity output layer as after the softmax");
    free(work);
    free(other);
}

/* A hidden layer's pre-activation is kept only for an activation whose backward needs it (GELU): room for it in
   the workspace, and none for the others. */
static void test_workspace_keeps_z_where_asked(void)
{
    const size_t sizes[4] = {2, 3, 5, 1}, batch = 7;
    const mlp_activation plain[3] = {MLP_ACT(MLP_TANH), MLP_ACT(MLP_RELU), MLP_ACT(MLP_IDENTITY)};
    const mlp_activation gelu[3] = {MLP_ACT(MLP_GELU), MLP_ACT(MLP_RELU), MLP_ACT(MLP_IDENTITY)};
    const mlp_activation both[3] = {MLP_ACT(MLP_GELU), MLP_ACT(MLP_GELU), MLP_ACT(MLP_IDENTITY)};
    const mlp_net a = {3, sizes, plain, MLP_LOSS_MSE, MLP_THREADS(1)};
    const mlp_net b = {3, sizes, gelu, MLP_LOSS_MSE, MLP_THREADS(1)}, c = {3, sizes, both, MLP_LOSS_MSE, MLP_THREADS(1)};
    size_t count;
    const mlp_activation_info *table = mlp_activation_table(&count);
    check(mlp_net_workspace(&b, batch, 1) == mlp_net_workspace(&a, batch, 1) + batch * 3 &&
              mlp_net_workspace(&c, batch, 0) == mlp_net_workspace(&a, batch, 0) + batch * (3 + 5) &&
              count == MLP_GELU + 1 && table[MLP_GELU].needs_z && !table[MLP_TANH].needs_z &&
              strcmp(table[MLP_GELU].name, "gelu") == 0,
          "the workspace keeps a hidden layer's z only for an activation whose backward needs it (gelu)");
}

/* The workspace's parts start on cache lines (net_layout), whatever the address it is given: fits and a forward
   pass from a workspace of exactly mlp_net_workspace scalars at every offset within a line (valgrind and ASan see
   any access past its end) give the bits of a workspace that starts a line. A GELU hidden layer (its z kept),
   a softmax output and Adam: every part is there. */
#define WORKSPACE_ANYWHERE(T, SUFFIX)                                                                              \
    static void test_workspace_anywhere_##SUFFIX(void)                                                             \
    {                                                                                                              \
        enum { n = 19, batch = 7, in = 5, hid = 6, out = 3, total = in * hid + hid + hid * out + out };            \
        const size_t sizes[3] = {in, hid, out}, line = MLP_LINE_BYTES / sizeof(T);                                 \
        const mlp_activation acts[2] = {MLP_ACT(MLP_GELU), MLP_ACT(MLP_SOFTMAX)};                                  \
        const mlp_net net = {2, sizes, acts, MLP_LOSS_CROSS_ENTROPY, MLP_THREADS(1)};                              \
        const size_t train_len = mlp_net_workspace(&net, batch, 1), forward_len = mlp_net_workspace(&net, n, 0);  \
        const mlp_optimizer adam = {MLP_ADAM, 0.01, 0.0, 0.9, 0.999, 1e-8, 0.0, 0, 0.99};                          \
        T X[n * in], y[n * out], first[total], firstout[n * out];                                                  \
        for (size_t k = 0; k < n * in; k++) {                                                                      \
            X[k] = (T)uniform();                                                                                   \
        }                                                                                                          \
        for (size_t k = 0; k < n * out; k++) { /* rows of probabilities: softmax targets */                        \
            y[k] = (T)(k % out == k / out % out);                                                                  \
        }                                                                                                          \
        int same = 1;                                                                                              \
        for (size_t off = 0; off <= line; off++) { /* off == line: the reference, a workspace from a line */       \
            /* each offset's block ends where the workspace does; the reference's starts at a line inside its own */ \
            const size_t at = off == line ? line : off;                                                            \
            T *tw = malloc((train_len + at) * sizeof(T)), *fw = malloc((forward_len + at) * sizeof(T));            \
            T params[total], m[total], v[total], outv[n * out];                                                    \
            if (tw == NULL || fw == NULL) {                                                                        \
                free(tw), free(fw);                                                                                \
                check(0, "test_workspace_anywhere: memory");                                                       \
                return;                                                                                            \
            }                                                                                                      \
            for (size_t k = 0; k < total; k++) { /* the same parameters for every offset */                        \
                params[k] = (T)((double)((k * 37) % 17) / 16 - 0.5);                                               \
            }                                                                                                      \
            memset(m, 0, sizeof m), memset(v, 0, sizeof v);                                                        \
            T *Ws[2] = {params, params + in * hid + hid}, *bs[2] = {params + in * hid, params + total - out};       \
            T *const ms[4] = {m, m + in * hid, m + in * hid + hid, m + total - out};                               \
            T *const vs[4] = {v, v + in * hid, v + in * hid + hid, v + total - out};                               \
            const mlp_net_params_##SUFFIX p = {Ws, bs};                                                            \
            int64_t t = 0;                                                                                         \
            const mlp_optim_state_##SUFFIX state = {{ms, vs}, &t};                                                 \
            uint64_t rng[4] = {1, 2, 3, 4};                                                                        \
            double losses[2];                                                                                      \
            size_t iwork[n + batch];                                                                               \
            T *work = tw + at, *fwork = fw + at;                                                                   \
            if (off == line) { /* back to the line at or before tw + line */                                       \
                work -= (uintptr_t)work % MLP_LINE_BYTES / sizeof(T);                                              \
                fwork -= (uintptr_t)fwork % MLP_LINE_BYTES / sizeof(T);                                            \
            }                                                                                                      \
            mlp_net_fit_##SUFFIX(&net, n, X, y, NULL, &p, &adam, &state, 2, batch, 1, rng, losses, work, iwork);   \
            mlp_net_forward_##SUFFIX(&net, n, X, &p, outv, fwork);                                                 \
            if (off == 0) {                                                                                        \
                memcpy(first, params, sizeof first), memcpy(firstout, outv, sizeof firstout);                      \
            } else {                                                                                               \
                same &= memcmp(first, params, sizeof first) == 0 && memcmp(firstout, outv, sizeof firstout) == 0;  \
            }                                                                                                      \
            free(tw), free(fw);                                                                                    \
        }                                                                                                          \
        check(same, "a fit and a forward pass (" #T ") from a workspace of exactly its size at any offset: the "   \
                    "bits of one that starts a line");                                                             \
    }
WORKSPACE_ANYWHERE(double, f64)
WORKSPACE_ANYWHERE(float, f32)

/* The untyped face (mlp_kernels_for) against the typed kernels: conversion from every source type, C order and
   strided (a negative stride among them), to both precisions, equals C's cast; an Adam fit and an SGD-momentum
   step through the table, with the state flattened as its row lays it out (step, then each buffer's tensors), give
   the typed kernels' bits; so does the lecture's train. */
static void test_untyped_kernels(void)
{
    const mlp_kernels *k64 = mlp_kernels_for(MLP_F64), *k32 = mlp_kernels_for(MLP_F32);
    check(k64->dtype == MLP_F64 && k64->size == 8 && k32->dtype == MLP_F32 && k32->size == 4, "the two tables");
    /* 2 × 3 of each type, read C order and transposed back to front (rows = the 3 columns, negative strides) */
    const int8_t i8[6] = {-128, -1, 0, 1, 5, 127};
    const uint8_t u8[6] = {0, 1, 2, 128, 200, 255}, b8[6] = {0, 1, 1, 0, 1, 0};
    const int16_t i16[6] = {-32768, -300, 0, 7, 300, 32767};
    const uint16_t u16[6] = {0, 1, 300, 40000, 65534, 65535};
    const int32_t i32[6] = {INT32_MIN, -70000, 0, 3, 70000, INT32_MAX};
    const uint32_t u32[6] = {0, 1, 70000, 3000000000u, 4294967294u, UINT32_MAX};
    const int64_t i64[6] = {INT64_MIN, -(INT64_C(1) << 53) - 1, -1, 0, (INT64_C(1) << 53) + 1, INT64_MAX};
    const uint64_t u64[6] = {0, 1, (UINT64_C(1) << 53) + 1, UINT64_C(1) << 63, UINT64_MAX - 1, UINT64_MAX};
    const float f32[6] = {-1.5f, 0.1f, 0.0f, 1e30f, -1e-40f, 3.0f};
    const double f64[6] = {-1.5, 0.1, 0.0, 1e300, -1e-310, 1e-40};
#define CONVERT_CHECK(SRC, arr)                                                                                  \
    do {                                                                                                         \
        double d[6], dt[6];                                                                                      \
        float f[6], ft[6];                                                                                       \
        const ptrdiff_t es = (ptrdiff_t)sizeof arr[0];                                                           \
        k64->convert(SRC, arr, 2, 3, 3 * es, es, d);                                                             \
        k32->convert(SRC, arr, 2, 3, 3 * es, es, f);                                                             \
        k64->convert(SRC, arr + 5, 3, 2, -es, -3 * es, dt); /* dt[r][c] = arr[5 − r − 3c] */                    \
        k32->convert(SRC, arr + 5, 3, 2, -es, -3 * es, ft);                                                      \
        int ok = 1;                                                                                              \
        for (int i = 0; i < 6; i++) {                                                                            \
            const int t = 5 - i / 2 - 3 * (i % 2);                                                               \
            ok &= d[i] == (double)arr[i] && f[i] == (float)arr[i] && dt[i] == (double)arr[t] &&                  \
                  ft[i] == (float)arr[t];                                                                        \
        }                                                                                                        \
        check(ok, "convert from " #SRC);                                                                         \
    } while (0)
    CONVERT_CHECK(MLP_SRC_BOOL, b8);
    CONVERT_CHECK(MLP_SRC_I8, i8);
    CONVERT_CHECK(MLP_SRC_U8, u8);
    CONVERT_CHECK(MLP_SRC_I16, i16);
    CONVERT_CHECK(MLP_SRC_U16, u16);
    CONVERT_CHECK(MLP_SRC_I32, i32);
    CONVERT_CHECK(MLP_SRC_U32, u32);
    CONVERT_CHECK(MLP_SRC_I64, i64);
    CONVERT_CHECK(MLP_SRC_U64, u64);
    CONVERT_CHECK(MLP_SRC_F32, f32);
    CONVERT_CHECK(MLP_SRC_F64, f64);
#undef CONVERT_CHECK
    {   /* NumPy's bool is a byte read as nonzero: a bool array viewed from other bytes holds 2 or 255 for True */
        const uint8_t raw[6] = {0, 2, 255, 1, 0, 128};
        double d[6];
        float f[6];
        k64->convert(MLP_SRC_BOOL, raw, 2, 3, 3, 1, d);
        k32->convert(MLP_SRC_BOOL, raw + 5, 3, 2, -1, -3, f); /* strided: f[r][c] = raw[5 − r − 3c] */
        int ok = 1;
        for (int i = 0; i < 6; i++) {
            ok &= d[i] == (raw[i] != 0) && f[i] == (raw[5 - i / 2 - 3 * (i % 2)] != 0);
        }
        check(ok, "convert from MLP_SRC_BOOL: any nonzero byte is 1");
    }

    /* an Adam fit, typed and through the table, from the same start */
    enum { n = 9, P = 3 * 4 + 4 + 4 * 2 + 2 };
    const size_t sizes[3] = {3, 4, 2};
    const mlp_activation acts[2] = {MLP_ACT(MLP_TANH), MLP_ACT(MLP_IDENTITY)};
    const mlp_net net = {2, sizes, acts, MLP_LOSS_MSE, MLP_THREADS(1)};
    double X[n * 3], y[n * 2], start[P], a[P], b[P], ma[P], va[P], mb[P], vb[P], la[4], lb[4];
    fill(X, n * 3, 1), fill(y, n * 2, 1), fill(start, P, 0.5);
    memcpy(a, start, sizeof a), memcpy(b, start, sizeof b);
    memset(ma, 0, sizeof ma), memset(va, 0, sizeof va), memset(mb, 0, sizeof mb), memset(vb, 0, sizeof vb);
    const size_t off[4] = {0, 12, 16, 24}; /* W0, b0, W1, b1 within a parameter block */
    double *Wa[2] = {a + off[0], a + off[2]}, *ba[2] = {a + off[1], a + off[3]};
    double *mta[4] = {ma + off[0], ma + off[1], ma + off[2], ma + off[3]};
    double *vta[4] = {va + off[0], va + off[1], va + off[2], va + off[3]};
    int64_t ta = 0, tb = 0;
    const mlp_net_params_f64 pa = {Wa, ba};
    const mlp_optim_state_f64 sa = {{mta, vta}, &ta};
    const mlp_optimizer adam = {MLP_ADAM, 0.01, 0.0, 0.9, 0.999, 1e-8, 0.0, 0, 0.99};
    uint64_t ra[4] = {1, 2, 3, 4}, rb[4] = {1, 2, 3, 4};
    double *work = malloc(mlp_net_workspace(&net, 4, 1) * sizeof *work);
    size_t iwork[n + 4], batches = 1;
    mlp_net_fit_f64(&net, n, X, y, NULL, &pa, &adam, &sa, 4, 4, 1, ra, la, work, iwork);
    void *params_b[4] = {b + off[0], b + off[1], b + off[2], b + off[3]};
    void *state_b[9] = {&tb,          mb + off[0], mb + off[1], mb + off[2], mb + off[3],
                        vb + off[0], vb + off[1], vb + off[2], vb + off[3]};
    const size_t done = k64->net_fit(&net, n, X, y, NULL, params_b, &adam, state_b, 4, 4, 1, rb, lb, work, iwork,
                                     NULL, &batches);
    check(done == 4 && batches == 0 && ta == tb && memcmp(a, b, sizeof a) == 0 && memcmp(ma, mb, sizeof ma) == 0 &&
              memcmp(va, vb, sizeof va) == 0 && memcmp(la, lb, sizeof la) == 0 && memcmp(ra, rb, sizeof ra) == 0,
          "an Adam fit through the table: the typed fit's bits");

    /* one SGD-momentum step through the table (one buffer, no step count) */
    const mlp_optimizer sgd = {MLP_SGD, 0.1, 0.9, 0.9, 0.999, 1e-8, 0.01, 1, 0.99};
    double g[P];
    fill(g, P, 1);
    double *ga[2] = {g + off[0], g + off[2]}, *gb[2] = {g + off[1], g + off[3]};
    const mlp_net_params_f64 grads = {ga, gb};
    const mlp_optim_state_f64 sm = {{mta, NULL}, NULL};
    mlp_net_apply_f64(&net, &pa, &grads, &sgd, &sm);
    void *grads_b[4] = {g + off[0], g + off[1], g + off[2], g + off[3]};
    void *state_m[4] = {mb + off[0], mb + off[1], mb + off[2], mb + off[3]};
    k64->net_apply(&net, params_b, grads_b, &sgd, state_m);
    check(memcmp(a, b, sizeof a) == 0 && memcmp(ma, mb, sizeof ma) == 0,
          "an SGD-momentum step through the table: the typed step's bits");
    free(work);

    /* the lecture's train, float32 */
    const mlp_dims d = {4, 2, 3, 1, MLP_THREADS(1)};
    float Xf[8] = {0, 0, 0, 1, 1, 0, 1, 1}, yf[4] = {0, 1, 1, 0}, pf[2][13];
    for (int i = 0; i < 13; i++) {
        pf[0][i] = pf[1][i] = (float)uniform();
    }
    float *wf = malloc(mlp_lecture_step_workspace(&d) * sizeof *wf);
    const mlp_params_f32 typed = {pf[0], pf[0] + 6, pf[0] + 9, pf[0] + 12};
    double lt[50], lu[50];
    mlp_lecture_train_f32(&d, Xf, yf, &typed, 0.5f, 50, lt, wf);
    void *untyped[4] = {pf[1], pf[1] + 6, pf[1] + 9, pf[1] + 12};
    k32->lecture_train(&d, Xf, yf, untyped, 0.5, 50, lu, wf);
    check(memcmp(pf[0], pf[1], sizeof pf[0]) == 0 && memcmp(lt, lu, sizeof lt) == 0,
          "the lecture's train through the table: the typed train's bits");
    free(wf);
}

int main(void)
{
    test_workspace_keeps_z_where_asked();
    test_workspace_anywhere_f64();
    test_workspace_anywhere_f32();
    test_plain_sgd_paths();
    test_optimizers();
    test_adam_paths_double();
    test_adam_paths_float();
    test_apply_in_parts_double();
    test_apply_in_parts_float();
    const mlp_activation_kind hidden[6] = {MLP_SIGMOID, MLP_TANH, MLP_RELU, MLP_LEAKY_RELU, MLP_IDENTITY, MLP_GELU};
    for (int h = 0; h < 6; h++) {
        test_gradient(MLP_LOSS_LECTURE, hidden[h], MLP_SIGMOID, 0);
        test_gradient(MLP_LOSS_MSE, hidden[h], MLP_IDENTITY, 0);
        test_gradient(MLP_LOSS_MSE, hidden[h], MLP_SOFTMAX, 0);
        test_gradient(MLP_LOSS_BCE, hidden[h], MLP_SIGMOID, 0);
        test_gradient(MLP_LOSS_CROSS_ENTROPY, hidden[h], MLP_SOFTMAX, 0);
        test_gradient(MLP_LOSS_CROSS_ENTROPY, hidden[h], MLP_SOFTMAX, 1);
        test_gradient(MLP_LOSS_MAE, hidden[h], MLP_IDENTITY, 0);
        test_gradient(MLP_LOSS_MAE, hidden[h], MLP_SIGMOID, 0);
    }
    test_fit_visits_every_row();
    test_fit_on_threads();
    test_loss_on_threads_f64();
    test_loss_on_threads_f32();
    test_loss_on_many_threads();
    test_cross_entropy_gradient_bits();
    test_untyped_kernels();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
