/*
 * adjacent_columns.c — what two threads pay to update halves of a float32 weight matrix (784 × 128, a 784-128-10
 * network's W1) that are adjacent in memory, against halves that are apart: the cost behind the choice of how a
 * layer's products share W between threads (docs/design.md, "Threads, and no BLAS"; docs/benchmarks.md, "A sum in
 * halves").
 *
 *     cc -O2 -pthread benchmarks/adjacent_columns.c -o adjacent_columns && ./adjacent_columns
 *
 * Two threads, each in turn of ROUNDS rounds (a barrier between rounds, as between training steps), scale their own
 * half of W, w += 1e-3·w, row by row:
 *   - "columns": the halves are columns 0..63 and 64..127 of one row-major array, so every 512-byte row holds
 *     256 bytes of each thread's — as when both of a layer's products are cut by C's columns;
 *   - "rows": the halves are rows 0..391 and 392..783 of that array, each 200 KB in one piece — as when the sum of
 *     X·W + b is cut in halves and Xᵀ·D by rows of G.
 *   - "apart": each thread's 784 × 64 half in an array of its own (the same work as "columns", nothing shared).
 * No thread ever touches the other's values; any difference is the memory system's. Prints, for each layout, the
 * mean time of a round over ROUNDS rounds, best of RUNS runs.
 */
#define _POSIX_C_SOURCE 200112L /* pthread barriers under -std=c11 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { K = 784, M = 128, H = M / 2, ROUNDS = 4000, RUNS = 5 };

typedef struct {
    float *w;              /* "columns" and "rows": the shared array */
    float *own[2];         /* "apart": each thread's */
    int layout;            /* 0 columns, 1 rows, 2 apart */
    pthread_barrier_t bar;
} job;

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void round_of(const job *j, int t)
{
    if (j->layout == 0) {
        for (int k = 0; k < K; k++) {
            float *w = j->w + k * M + t * H;
            for (int c = 0; c < H; c++) {
                w[c] += 1e-3f * w[c];
            }
        }
    } else if (j->layout == 1) {
        float *w = j->w + t * (K / 2) * M;
        for (int i = 0; i < K / 2 * M; i++) {
            w[i] += 1e-3f * w[i];
        }
    } else {
        float *w = j->own[t];
        for (int i = 0; i < K * H; i++) {
            w[i] += 1e-3f * w[i];
        }
    }
}

static void *helper(void *arg)
{
    job *j = arg;
    for (int r = 0; r < ROUNDS; r++) {
        pthread_barrier_wait(&j->bar);
        round_of(j, 1);
    }
    pthread_barrier_wait(&j->bar);
    return NULL;
}

/* ns per round of one run: both threads, from the first barrier to the last */
static double run(job *j)
{
    pthread_t th;
    if (pthread_create(&th, NULL, helper, j) != 0) {
        return -1;
    }
    const double start = now_ns();
    for (int r = 0; r < ROUNDS; r++) {
        pthread_barrier_wait(&j->bar);
        round_of(j, 0);
    }
    pthread_barrier_wait(&j->bar);
    const double ns = (now_ns() - start) / ROUNDS;
    pthread_join(th, NULL);
    return ns;
}

int main(void)
{
    static const char *const names[3] = {"columns (adjacent in each row)", "rows (one piece each)",
                                         "apart (an array each)"};
    job j;
    j.w = aligned_alloc(64, sizeof(float) * K * M);
    j.own[0] = aligned_alloc(64, sizeof(float) * K * H);
    j.own[1] = aligned_alloc(64, sizeof(float) * K * H);
    if (j.w == NULL || j.own[0] == NULL || j.own[1] == NULL || pthread_barrier_init(&j.bar, NULL, 2) != 0) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int i = 0; i < K * M; i++) {
        j.w[i] = 1.0f;
    }
    for (int i = 0; i < K * H; i++) {
        j.own[0][i] = j.own[1][i] = 1.0f;
    }
    for (int layout = 0; layout < 3; layout++) {
        j.layout = layout;
        double best = -1;
        for (int r = 0; r < RUNS; r++) {
            const double ns = run(&j);
            best = best < 0 || ns < best ? ns : best;
        }
        printf("%-32s %7.2f us a round\n", names[layout], best / 1e3);
    }
    free(j.w), free(j.own[0]), free(j.own[1]);
    return 0;
}
