/*
 * parallel.c — the one place the C core starts threads: a fork-join over parts of a product.
 *
 * No pool and no global state: each call starts its helpers and joins them before returning. Starting and
 * joining a thread costs tens of microseconds, so callers use it only for work of milliseconds
 * (MLP_PARALLEL_MIN_OPS).
 */
#include <pthread.h>

#include "mlp.h"

typedef struct {
    void (*fn)(void *arg, size_t part, size_t parts);
    void *arg;
    size_t part, parts;
} mlp_part;

static void *mlp_run_part(void *p)
{
    const mlp_part *job = p;
    job->fn(job->arg, job->part, job->parts);
    return NULL;
}

void mlp_parallel(size_t parts, void (*fn)(void *arg, size_t part, size_t parts), void *arg)
{
    if (parts > MLP_MAX_THREADS) {
        parts = MLP_MAX_THREADS;
    }
    if (parts <= 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_t threads[MLP_MAX_THREADS];
    mlp_part jobs[MLP_MAX_THREADS];
    int started[MLP_MAX_THREADS] = {0};
    for (size_t t = 1; t < parts; t++) {
        jobs[t] = (mlp_part){fn, arg, t, parts};
        started[t] = pthread_create(&threads[t], NULL, mlp_run_part, &jobs[t]) == 0;
    }
    fn(arg, 0, parts);
    for (size_t t = 1; t < parts; t++) {
        if (started[t]) {
            pthread_join(threads[t], NULL);
        } else { /* the system refused a thread: its part runs here, the result is the same */
            fn(arg, t, parts);
        }
    }
}
