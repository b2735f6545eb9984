/*
 * products.c — the dense layer's three products (float32, n = in = out = N) against this machine's FMA peak:
 * X·W + b, D·Wᵀ, Xᵀ·D with the bias gradient's column sums, and Xᵀ·D alone (what the sums cost).
 * Built and run by benchmarks/bench_products.py, which also times NumPy's np.matmul on the same products.
 *
 *     products N THREADS [avx2]
 *
 * Prints, for 1 and THREADS threads, the FMA peak (independent vector FMAs of the widest set the CPU has, or of
 * AVX2 with "avx2", on that many threads at once; best of 3) and each product's GFLOP/s (best, first quartile,
 * median of 30), one line each:
 *     peak THREADS GFLOPS
 *     product NAME THREADS BEST Q25 MEDIAN
 * The products run through the core's public kernels with a team of helper threads, blocked for the detected
 * caches, as a network's do; with "avx2", held to the AVX2 kernels (as MLPEXT_SIMD=avx2 holds the module).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define PEAK_ACC 16 /* independent accumulators (AVX-512): more than latency × units on any current x86 core */
#define PEAK_STEPS 20000000L

/* FMAs on PEAK_ACC registers of 16 floats; returns a value that depends on all of them (so none is dropped). */
__attribute__((target("avx512f"))) static float peak_avx512(void)
{
    __m512 acc[PEAK_ACC];
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int j = 0; j < PEAK_ACC; j++) {
        acc[j] = _mm512_set1_ps((float)j); /* distinct: no two chains the compiler may merge */
    }
    for (long s = 0; s < PEAK_STEPS; s++) {
        for (int j = 0; j < PEAK_ACC; j++) {
            acc[j] = _mm512_fmadd_ps(acc[j], x, y);
        }
    }
    float total = 0;
    for (int j = 0; j < PEAK_ACC; j++) {
        total += _mm512_reduce_add_ps(acc[j]);
    }
    return total;
}

/* The same on 12 registers of 8 floats: AVX2 has 16 (the 16 above would spill), and 12 chains still outnumber
   latency × units (4 × 2 on current cores). */
#define PEAK_ACC_AVX2 12
__attribute__((target("avx2,fma"))) static float peak_avx2(void)
{
    __m256 acc[PEAK_ACC_AVX2];
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int j = 0; j < PEAK_ACC_AVX2; j++) {
        acc[j] = _mm256_set1_ps((float)j);
    }
    for (long s = 0; s < PEAK_STEPS; s++) {
        for (int j = 0; j < PEAK_ACC_AVX2; j++) {
            acc[j] = _mm256_fmadd_ps(acc[j], x, y);
        }
    }
    float lanes[8], total = 0;
    for (int j = 0; j < PEAK_ACC_AVX2; j++) {
        _mm256_storeu_ps(lanes, acc[j]);
        for (int k = 0; k < 8; k++) {
            total += lanes[k];
        }
    }
    return total;
}

/* Lanes of the widest vector FMA the CPU has (AVX2's if isa caps it), 0 without AVX2 and FMA. */
static int width(mlp_isa isa)
{
    return __builtin_cpu_supports("avx512f") && isa != MLP_ISA_AVX2 ? 16 : __builtin_cpu_supports("fma") ? 8 : 0;
}

typedef struct {
    int lanes;
    float sink;
} peak_job;

static void *peak_thread(void *arg)
{
    peak_job *job = arg;
    job->sink = job->lanes == 16 ? peak_avx512() : peak_avx2();
    return NULL;
}

/* GFLOP/s of `threads` threads each running the FMA loop at once (0 without AVX2 and FMA). */
static double peak(size_t threads, mlp_isa isa)
{
    const int lanes = width(isa);
    if (lanes == 0) {
        return 0.0;
    }
    pthread_t t[64];
    peak_job jobs[64];
    const int64_t start = mlp_now_ns();
    for (size_t k = 0; k < threads; k++) {
        jobs[k].lanes = lanes;
    }
    for (size_t k = 1; k < threads; k++) {
        pthread_create(&t[k], NULL, peak_thread, &jobs[k]);
    }
    peak_thread(&jobs[0]);
    for (size_t k = 1; k < threads; k++) {
        pthread_join(t[k], NULL);
    }
    const double seconds = (double)(mlp_now_ns() - start) * 1e-9;
    const int chains = lanes == 16 ? PEAK_ACC : PEAK_ACC_AVX2;
    return (double)threads * PEAK_STEPS * chains * lanes * 2.0 / seconds / 1e9;
}
#else
static double peak(size_t threads, mlp_isa isa)
{
    (void)threads, (void)isa;
    return 0.0;
}
#endif

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const size_t N = argc > 1 ? (size_t)atol(argv[1]) : 1024, T = argc > 2 ? (size_t)atol(argv[2]) : 2;
    const mlp_isa isa = argc > 3 && strcmp(argv[3], "avx2") == 0 ? MLP_ISA_AVX2 : MLP_ISA_BEST;
    enum { REPS = 30 };
    float *X = malloc(N * N * sizeof *X), *W = malloc(N * N * sizeof *W), *D = malloc(N * N * sizeof *D);
    float *C = malloc(N * N * sizeof *C), *b = calloc(N, sizeof *b), *db = malloc(N * sizeof *db);
    float *S = malloc(N * N * sizeof *S); /* X.W+b's scratch where it sums in halves (mlp_dense_halves_at) */
    void *team_memory = malloc(mlp_team_bytes());
    if (X == NULL || W == NULL || D == NULL || C == NULL || b == NULL || db == NULL || team_memory == NULL || T < 1) {
        fprintf(stderr, "usage: products N THREADS (and the memory for three N x N matrices)\n");
        return 2;
    }
    srand(1);
    for (size_t i = 0; i < N * N; i++) {
        X[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        W[i] = ((float)rand() / (float)RAND_MAX - 0.5f) * 0.1f;
        D[i] = ((float)rand() / (float)RAND_MAX - 0.5f) * 0.01f;
    }
    mlp_team *team = T > 1 ? mlp_team_start(team_memory, T - 1) : NULL;
    const size_t counts[2] = {1, T};
    for (size_t c = 0; c < (T > 1 ? 2u : 1u); c++) {
        const size_t threads = counts[c];
        double best_peak = 0.0; /* best of 3: a run that shares its core for a moment understates the peak */
        for (int r = 0; r < 3; r++) {
            const double p = peak(threads, isa);
            best_peak = p > best_peak ? p : best_peak;
        }
        printf("peak %zu %.1f\n", threads, best_peak);
        const mlp_threads th = {threads, threads > 1 ? team : NULL, isa, mlp_cache_detect(), {malloc, free}};
        static const char *const names[4] = {"X.W+b", "D.W^T", "X^T.D+colsums", "X^T.D"};
        for (int which = 0; which < 4; which++) {
            double ns[REPS];
            for (int r = -3; r < REPS; r++) {
                const int64_t start = mlp_now_ns();
                if (which == 0) {
                    mlp_dense_forward_f32(N, N, N, X, W, b, MLP_ACT(MLP_IDENTITY), C, S, th);
                } else if (which == 1) {
                    mlp_dense_backward_delta_f32(N, N, N, D, W, X, MLP_ACT(MLP_IDENTITY), C, th);
                } else {
                    mlp_dense_param_grads_f32(N, N, N, X, D, C, which == 2 ? db : NULL, th); /* NULL: no sums */
                }
                if (r >= 0) {
                    ns[r] = (double)(mlp_now_ns() - start);
                }
            }
            qsort(ns, REPS, sizeof *ns, by_value);
            const double flops = 2.0 * (double)N * (double)N * (double)N;
            printf("product %s %zu %.1f %.1f %.1f\n", names[which], threads, flops / ns[0], flops / ns[REPS / 4],
                   flops / ns[REPS / 2]);
        }
    }
    if (team != NULL) {
        mlp_team_stop(team);
    }
    free(team_memory);
    free(X), free(W), free(D), free(C), free(S), free(b), free(db);
    return 0;
}
