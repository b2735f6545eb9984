/*
 * parallel.c — the one place the C core starts threads: a matrix product split into parts, run by a team of
 * helper threads kept between products, or by threads started for that product alone.
 *
 * No global state and no allocation: the binding gives a team its memory (mlp_team_bytes, from Python's allocator),
 * starts it once per module (mlp_team_start) and hands it to the calls whose products are split
 * (mlp_threads.team); everything about the team lives in that memory.
 *
 * Why a team. Starting and joining a thread costs 20–30 µs here, and waking a thread that sleeps in the kernel
 * costs more on this VM; products of a few million multiply-adds take 50–200 µs, so a thread per product lost
 * what it saved. A helper of the team, once it has run a part, polls for the next product for a while
 * (MLP_TEAM_POLL_NS) before it sleeps: in a training loop, whose products follow each other within a
 * millisecond, the helpers stay awake and a product starts on them in well under a microsecond.
 *
 * One product at a time runs on a team: a call that finds it running another (two Python threads training at
 * once) starts threads of its own, as without a team. Every part of every product, the result does not depend
 * on where the parts ran.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mlp.h"

typedef void (*mlp_part_fn)(void *arg, size_t part, size_t parts);

/* How long a helper polls for the next product after finishing a part, before it sleeps on the team's condition
   variable. Longer than the gaps between the products of a training loop (docs/design.md, "Threads"); short
   enough that a finished loop leaves no core busy for long. */
#define MLP_TEAM_POLL_NS 500000

/* A helper and the part it runs of each product (1 .. helpers). */
typedef struct {
    mlp_team *team;
    size_t part;
} mlp_helper;

struct mlp_team {
    pthread_mutex_t busy; /* held by the product running on the team */
    pthread_mutex_t lock; /* with `wake`: where idle helpers sleep; `job` changes under it */
    pthread_cond_t wake;
    atomic_uint_fast64_t job; /* the number of products posted so far: a helper runs its part of each new one */
    atomic_size_t pending;    /* helpers that have not yet finished the current product */
    atomic_int quit;          /* set by mlp_team_stop */
    /* the current product: written by the caller before it increments `job`, read by the helpers after they see
       the increment, and not written again until every helper has finished (pending == 0) */
    mlp_part_fn fn;
    void *arg;
    size_t parts;
    pid_t pid;      /* the process that started the helpers */
    size_t helpers; /* how many were started */
    pthread_t threads[MLP_MAX_THREADS - 1];
    mlp_helper roles[MLP_MAX_THREADS - 1];
};

static void mlp_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t mlp_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Waits until the team's product number differs from `seen` (or the team is stopping), polling for
   MLP_TEAM_POLL_NS, then asleep; returns the new number. */
static uint_fast64_t mlp_team_wait(mlp_team *t, uint_fast64_t seen)
{
    const int64_t start = mlp_now_ns();
    for (unsigned i = 1;; i++) {
        const uint_fast64_t job = atomic_load_explicit(&t->job, memory_order_acquire);
        if (job != seen || atomic_load_explicit(&t->quit, memory_order_acquire)) {
            return job;
        }
        mlp_pause();
        if (i % 64 == 0) {
            if (mlp_now_ns() - start > MLP_TEAM_POLL_NS) {
                break;
            }
            sched_yield(); /* lets a thread that shares this core run (and valgrind, which runs one at a time) */
        }
    }
    pthread_mutex_lock(&t->lock);
    uint_fast64_t job;
    while ((job = atomic_load_explicit(&t->job, memory_order_acquire)) == seen &&
           !atomic_load_explicit(&t->quit, memory_order_acquire)) {
        pthread_cond_wait(&t->wake, &t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return job;
}

static void *mlp_helper_main(void *p)
{
    const mlp_helper *h = p;
    mlp_team *t = h->team;
    uint_fast64_t seen = 0;
    for (;;) {
        seen = mlp_team_wait(t, seen);
        if (atomic_load_explicit(&t->quit, memory_order_acquire)) {
            return NULL;
        }
        if (h->part < t->parts) {
            t->fn(t->arg, h->part, t->parts);
        }
        atomic_fetch_sub_explicit(&t->pending, 1, memory_order_acq_rel);
    }
}

size_t mlp_team_bytes(void) { return sizeof(mlp_team); }

mlp_team *mlp_team_start(void *memory, size_t helpers)
{
    helpers = helpers < MLP_MAX_THREADS - 1 ? helpers : MLP_MAX_THREADS - 1;
    if (helpers == 0) {
        return NULL;
    }
    mlp_team *t = memory;
    memset(t, 0, sizeof *t);
    if (pthread_mutex_init(&t->busy, NULL) != 0) {
        return NULL;
    }
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        pthread_mutex_destroy(&t->busy);
        return NULL;
    }
    if (pthread_cond_init(&t->wake, NULL) != 0) {
        pthread_mutex_destroy(&t->lock);
        pthread_mutex_destroy(&t->busy);
        return NULL;
    }
    atomic_init(&t->job, 0);
    atomic_init(&t->pending, 0);
    atomic_init(&t->quit, 0);
    t->pid = getpid();
    /* the helpers block every signal (they inherit the mask): signals are the calling threads' to handle */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (size_t k = 0; k < helpers; k++) {
        t->roles[k] = (mlp_helper){t, k + 1};
        if (pthread_create(&t->threads[k], NULL, mlp_helper_main, &t->roles[k]) != 0) {
            break;
        }
        t->helpers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (t->helpers == 0) {
        mlp_team_stop(t);
        return NULL;
    }
    return t;
}

size_t mlp_team_helpers(const mlp_team *team) { return team->helpers; }

int mlp_team_ours(const mlp_team *team) { return team->pid == getpid(); }

void mlp_team_stop(mlp_team *t)
{
    pthread_mutex_lock(&t->lock);
    atomic_store_explicit(&t->quit, 1, memory_order_release);
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    for (size_t k = 0; k < t->helpers; k++) {
        pthread_join(t->threads[k], NULL);
    }
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->busy);
}

/* Runs the product on the team: part 0 here, part k on helper k. Returns 0 without running anything if the
   team has too few helpers or is running another product. */
static int mlp_team_run(mlp_team *t, size_t parts, mlp_part_fn fn, void *arg)
{
    if (parts - 1 > t->helpers || pthread_mutex_trylock(&t->busy) != 0) {
        return 0;
    }
    t->fn = fn;
    t->arg = arg;
    t->parts = parts;
    atomic_store_explicit(&t->pending, t->helpers, memory_order_relaxed);
    pthread_mutex_lock(&t->lock);
    atomic_fetch_add_explicit(&t->job, 1, memory_order_release);
    pthread_cond_broadcast(&t->wake); /* for the helpers that sleep; those that poll see `job` change */
    pthread_mutex_unlock(&t->lock);
    fn(arg, 0, parts);
    for (unsigned i = 1; atomic_load_explicit(&t->pending, memory_order_acquire) != 0; i++) {
        mlp_pause();
        if (i % 64 == 0) {
            sched_yield();
        }
    }
    pthread_mutex_unlock(&t->busy);
    return 1;
}

typedef struct {
    mlp_part_fn fn;
    void *arg;
    size_t part, parts;
} mlp_part;

static void *mlp_run_part(void *p)
{
    const mlp_part *job = p;
    job->fn(job->arg, job->part, job->parts);
    return NULL;
}

void mlp_parallel(mlp_threads threads, void (*fn)(void *arg, size_t part, size_t parts), void *arg)
{
    const size_t parts = threads.count < MLP_MAX_THREADS ? threads.count : MLP_MAX_THREADS;
    if (parts <= 1) {
        fn(arg, 0, 1);
        return;
    }
    if (threads.team != NULL && mlp_team_run(threads.team, parts, fn, arg)) {
        return;
    }
    pthread_t started_threads[MLP_MAX_THREADS];
    mlp_part jobs[MLP_MAX_THREADS];
    int started[MLP_MAX_THREADS] = {0};
    for (size_t t = 1; t < parts; t++) {
        jobs[t] = (mlp_part){fn, arg, t, parts};
        started[t] = pthread_create(&started_threads[t], NULL, mlp_run_part, &jobs[t]) == 0;
    }
    fn(arg, 0, parts);
    for (size_t t = 1; t < parts; t++) {
        if (started[t]) {
            pthread_join(started_threads[t], NULL);
        } else { /* the system refused a thread: its part runs here, the result is the same */
            fn(arg, t, parts);
        }
    }
}
