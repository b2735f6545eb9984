/*
 * parallel.c — the one place the C core starts threads: a matrix product split into parts, run by a team of
 * helper threads kept between products, or by threads started for that product alone.
 *
 * No global state and no allocation: the binding gives a team its memory (mlp_team_bytes, from Python's allocator),
 * starts it once per module (mlp_team_start) and hands it to the calls whose products are split
 * (mlp_threads.team); everything about the team lives in that memory.
 *
 * Why a team. Starting and joining a thread costs 20–30 µs here, and waking a thread that sleeps in the kernel
 * some 30 µs on this VM; products of a few million multiply-adds take 20–200 µs, so a thread per product lost
 * what it saved. A helper of the team, once it has run a part, polls for its next part for a while
 * (MLP_TEAM_POLL_NS) before it sleeps: in a training loop, whose products follow each other within a
 * millisecond, the helpers stay awake and a product starts on them in about a microsecond.
 *
 * The protocol. Each helper has its own job counter, written only by the caller that holds the team (`busy`).
 * To post a product in `parts` parts the caller writes fn, arg and parts, sets `pending` to parts − 1, and
 * increments the counters of helpers 1 .. parts − 1 (release) under `lock`, broadcasting `wake` for those that
 * sleep. A helper that sees its counter change (acquire) runs its part and decrements `pending` (release); the
 * caller runs part 0 and waits for `pending` to reach 0 (acquire) before it returns and before anything is
 * posted again, so no helper reads fn, arg or parts while they change. Helpers not in a product are not counted
 * and never read them: a broadcast that wakes them finds their counter unchanged, and they sleep again.
 *
 * One product at a time runs on a team: a caller that finds it running another (two Python threads training at
 * once), or whose process is not the team's (a child after fork(), which has none of its threads), does without
 * it (mlp_parallel). Every part of every product, the result does not depend on where the parts ran.
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

/* How long a helper polls for its next part after finishing one, before it sleeps on the team's condition
   variable. Longer than the gaps between the products of a training loop (docs/design.md, "Threads"); short
   enough that a finished loop leaves no core busy for long. */
#define MLP_TEAM_POLL_NS 500000

/* A helper: the part it runs of each product it is in (1 .. helpers), and its job counter, padded so that
   helpers polling their own counters do not share a cache line. */
typedef struct {
    mlp_team *team;
    size_t part;
    atomic_uint job; /* products posted to it so far (compared for equality only: wrapping is harmless) */
    char pad[128 - sizeof(void *) - sizeof(size_t) - sizeof(atomic_uint)];
} mlp_helper;

struct mlp_team {
    pthread_mutex_t busy; /* held by the caller whose product runs on the team */
    pthread_mutex_t lock; /* with `wake`: where idle helpers sleep; the job counters change under it */
    pthread_cond_t wake;
    atomic_size_t pending; /* helpers that have not yet finished their part of the current product */
    atomic_int quit;       /* set by mlp_team_stop */
    /* the current product: written by the caller before it posts, read by the helpers in it */
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
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t mlp_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Waits until the helper's job counter differs from `seen` (or the team is stopping), polling for
   MLP_TEAM_POLL_NS, then asleep; returns the new counter. */
static unsigned mlp_team_wait(mlp_team *t, mlp_helper *h, unsigned seen)
{
    const int64_t start = mlp_now_ns();
    for (unsigned i = 1;; i++) {
        const unsigned job = atomic_load_explicit(&h->job, memory_order_acquire);
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
    unsigned job;
    while ((job = atomic_load_explicit(&h->job, memory_order_acquire)) == seen &&
           !atomic_load_explicit(&t->quit, memory_order_acquire)) {
        pthread_cond_wait(&t->wake, &t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return job;
}

static void *mlp_helper_main(void *p)
{
    mlp_helper *h = p;
    mlp_team *t = h->team;
    unsigned seen = 0;
    for (;;) {
        seen = mlp_team_wait(t, h, seen);
        if (atomic_load_explicit(&t->quit, memory_order_acquire)) {
            return NULL;
        }
        t->fn(t->arg, h->part, t->parts);
        atomic_fetch_sub_explicit(&t->pending, 1, memory_order_release);
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
    atomic_init(&t->pending, 0);
    atomic_init(&t->quit, 0);
    t->pid = getpid();
    /* The helpers start with every asynchronous signal blocked (they inherit the mask): those are the calling
       threads' to handle. Signals raised by a fault in a helper's own work stay deliverable, so that the
       process's handlers (faulthandler's, or the default action) see them. */
    sigset_t mask, old;
    sigfillset(&mask);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (size_t k = 0; k < sizeof faults / sizeof faults[0]; k++) {
        sigdelset(&mask, faults[k]);
    }
    pthread_sigmask(SIG_SETMASK, &mask, &old);
    for (size_t k = 0; k < helpers; k++) {
        t->roles[k].team = t;
        t->roles[k].part = k + 1;
        atomic_init(&t->roles[k].job, 0);
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

/* Runs the product on the team in `parts` parts (at most helpers + 1): part 0 here, part k on helper k. Returns 0
   without running anything if the team is running another product. */
static int mlp_team_run(mlp_team *t, size_t parts, mlp_part_fn fn, void *arg)
{
    if (pthread_mutex_trylock(&t->busy) != 0) {
        return 0;
    }
    t->fn = fn;
    t->arg = arg;
    t->parts = parts;
    atomic_store_explicit(&t->pending, parts - 1, memory_order_relaxed);
    pthread_mutex_lock(&t->lock);
    for (size_t k = 0; k + 1 < parts; k++) { /* only the caller holding `busy` writes the counters */
        mlp_helper *h = &t->roles[k];
        atomic_store_explicit(&h->job, atomic_load_explicit(&h->job, memory_order_relaxed) + 1,
                              memory_order_release);
    }
    pthread_cond_broadcast(&t->wake); /* for the helpers that sleep; those that poll see their counter change */
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

/* Parts 1 .. parts − 1 each on a thread started for it, part 0 here; joined before returning. */
static void mlp_start_parts(size_t parts, mlp_part_fn fn, void *arg)
{
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

void mlp_parallel(mlp_threads threads, size_t ops, void (*fn)(void *arg, size_t part, size_t parts), void *arg)
{
    const size_t parts = threads.count < MLP_MAX_THREADS ? threads.count : MLP_MAX_THREADS;
    if (parts <= 1) {
        fn(arg, 0, 1);
        return;
    }
    if (threads.team == NULL) {
        mlp_start_parts(parts, fn, arg);
        return;
    }
    mlp_team *t = threads.team;
    if (mlp_team_ours(t)) { /* else a parent's team, after fork(): its helpers do not exist here */
        size_t on_team = parts;
        if (parts > t->helpers + 1) { /* a team smaller than asked: all its helpers, or threads of the product's own */
            on_team = ops < MLP_PARALLEL_START_MIN_OPS ? t->helpers + 1 : 0;
        }
        if (on_team > 1 && mlp_team_run(t, on_team, fn, arg)) {
            return;
        }
    }
    /* no team that can take it (busy, another process's, or the product is large): threads started for it from
       MLP_PARALLEL_START_MIN_OPS on, else the calling thread */
    if (ops >= MLP_PARALLEL_START_MIN_OPS) {
        mlp_start_parts(parts, fn, arg);
    } else {
        fn(arg, 0, 1);
    }
}
