/*
 * parallel.c — the one place the C core starts threads: a matrix product split into parts, run by a team of
 * helper threads kept between products, or by threads started for that product alone. POSIX threads, or on
 * Windows its own primitives (threads from _beginthreadex, SRW locks, condition variables), behind the same few
 * names (below); the atomics are compiler.h's.
 *
 * No global state, and no allocation but Windows' cache query (mlp_cache_detect): the binding keeps a team in its
 * module (mlp_team_shared: started on first need, in memory from Python's allocator; mlp_team_drop) and hands it
 * to the calls whose products are split (mlp_threads.team); everything about the team lives in that memory. How
 * many threads a call may use is read here too (mlp_thread_limit), and the module's other resource shared across
 * calls through an atomic slot is kept here: its scratch block (mlp_block_get, mlp_block_put).
 *
 * Why a team. Starting and joining a thread, or waking one that sleeps in the kernel, costs about as much as a
 * product of a few million multiply-adds saves, so a thread per product loses what it gains (docs/benchmarks.md,
 * "Threads"). A helper of the team, once it has run a part, polls for its next part for a while
 * (MLP_TEAM_POLL_NS) before it sleeps: in a training loop, whose products follow each other within a
 * millisecond, the helpers stay awake and a product starts on them at once.
 *
 * The protocol. Each helper has its own job counter, written only by the caller that holds the team (`busy`), and
 * its part's state. To post a product in `parts` parts the caller writes fn, arg and parts, sets `pending` to
 * parts − 1 and the states of helpers 1 .. parts − 1 to POSTED (release), and increments their counters under
 * `lock`, broadcasting `wake` for those that sleep. A helper that sees its counter change takes its part (state
 * POSTED → TAKEN, acquire), runs it and decrements `pending` (release). The caller runs part 0, then takes for
 * itself every part still POSTED (→ STOLEN) and runs it, and waits for `pending` to reach 0 (acquire) before it
 * returns and before anything is posted again, so no helper reads fn, arg or parts while they change. A helper
 * whose part was stolen finds it STOLEN and waits again; one that wakes late finds the next product's part
 * POSTED (or none) and takes that. Helpers not in a product are not counted and never read them: a broadcast that
 * wakes them finds their counter unchanged, and they sleep again.
 *
 * Why the caller steals: a helper that sleeps, or that the system has not scheduled (a loaded machine, another
 * library's spinning threads), would otherwise hold the product up by a wake-up or a time slice; now only a part
 * already started is waited for, and the parts give the same bits wherever they run.
 *
 * One product at a time runs on a team: a caller that finds it running another (two Python threads training at
 * once), or whose process is not the team's (a child after fork(), which has none of its threads), does without
 * it (mlp_parallel). Wherever the parts run, the result is the same.
 */
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <process.h>
#else
#if defined(__linux__)
#define _GNU_SOURCE /* sched_getaffinity */
#elif defined(__APPLE__)
#define _DARWIN_C_SOURCE /* sysconf's _SC_NPROCESSORS_ONLN */
#else
#define _POSIX_C_SOURCE 200809L
#endif
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "mlp.h"

/* ---- the system's threads, locks and clocks: Win32 or POSIX behind one set of names ----
   mlp_thread_start returns 0 on success (as pthread_create); mlp_mutex_trylock 1 if it took the lock. */
#if defined(_WIN32)
typedef HANDLE mlp_thread;
typedef SRWLOCK mlp_mutex;
typedef CONDITION_VARIABLE mlp_cond;
typedef DWORD mlp_pid;
#define MLP_THREAD_FN unsigned __stdcall
#define MLP_THREAD_RETURN 0
static int mlp_mutex_init(mlp_mutex *m) { InitializeSRWLock(m); return 0; }
static void mlp_mutex_destroy(mlp_mutex *m) { (void)m; }
static void mlp_mutex_lock(mlp_mutex *m) { AcquireSRWLockExclusive(m); }
static int mlp_mutex_trylock(mlp_mutex *m) { return TryAcquireSRWLockExclusive(m) != 0; }
static void mlp_mutex_unlock(mlp_mutex *m) { ReleaseSRWLockExclusive(m); }
static int mlp_cond_init(mlp_cond *c) { InitializeConditionVariable(c); return 0; }
static void mlp_cond_destroy(mlp_cond *c) { (void)c; }
static void mlp_cond_wait(mlp_cond *c, mlp_mutex *m) { SleepConditionVariableSRW(c, m, INFINITE, 0); }
static void mlp_cond_broadcast(mlp_cond *c) { WakeAllConditionVariable(c); }
/* _beginthreadex, not CreateThread: the C runtime's per-thread state is set up for the thread */
static int mlp_thread_start(mlp_thread *t, unsigned(__stdcall *fn)(void *), void *arg)
{
    *t = (HANDLE)_beginthreadex(NULL, 0, fn, arg, 0, NULL);
    return *t == 0;
}
static void mlp_thread_join(mlp_thread t)
{
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}
static void mlp_yield(void) { SwitchToThread(); }
static mlp_pid mlp_getpid(void) { return GetCurrentProcessId(); }
size_t mlp_cpu_count(void)
{
    DWORD_PTR process, system;
    size_t n = 0;
    if (GetProcessAffinityMask(GetCurrentProcess(), &process, &system)) {
        for (; process != 0; process &= process - 1) {
            n++;
        }
    }
    if (n == 0) {
        n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    }
    return n > 0 ? n : 1;
}
int64_t mlp_now_ns(void)
{
    LARGE_INTEGER count, freq;
    QueryPerformanceCounter(&count);
    QueryPerformanceFrequency(&freq);
    return (int64_t)((double)count.QuadPart * (1e9 / (double)freq.QuadPart));
}
#else
typedef pthread_t mlp_thread;
typedef pthread_mutex_t mlp_mutex;
typedef pthread_cond_t mlp_cond;
typedef pid_t mlp_pid;
#define MLP_THREAD_FN void *
#define MLP_THREAD_RETURN NULL
static int mlp_mutex_init(mlp_mutex *m) { return pthread_mutex_init(m, NULL); }
static void mlp_mutex_destroy(mlp_mutex *m) { pthread_mutex_destroy(m); }
static void mlp_mutex_lock(mlp_mutex *m) { pthread_mutex_lock(m); }
static int mlp_mutex_trylock(mlp_mutex *m) { return pthread_mutex_trylock(m) == 0; }
static void mlp_mutex_unlock(mlp_mutex *m) { pthread_mutex_unlock(m); }
static int mlp_cond_init(mlp_cond *c) { return pthread_cond_init(c, NULL); }
static void mlp_cond_destroy(mlp_cond *c) { pthread_cond_destroy(c); }
static void mlp_cond_wait(mlp_cond *c, mlp_mutex *m) { pthread_cond_wait(c, m); }
static void mlp_cond_broadcast(mlp_cond *c) { pthread_cond_broadcast(c); }
static int mlp_thread_start(mlp_thread *t, void *(*fn)(void *), void *arg) { return pthread_create(t, NULL, fn, arg); }
static void mlp_thread_join(mlp_thread t) { pthread_join(t, NULL); }
static void mlp_yield(void) { sched_yield(); }
static mlp_pid mlp_getpid(void) { return getpid(); }
size_t mlp_cpu_count(void)
{
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
        return (size_t)CPU_COUNT(&set);
    }
#endif
#ifdef _SC_NPROCESSORS_ONLN
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
#else
    return 1;
#endif
}
int64_t mlp_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
#endif

typedef void (*mlp_part_fn)(void *arg, size_t part, size_t parts);

/* How long a helper polls for its next part after finishing one, before it sleeps on the team's condition
   variable. Longer than the gaps between the products of a training loop (docs/design.md, "Threads"); short
   enough that a finished loop leaves no core busy for long. */
#define MLP_TEAM_POLL_NS 500000

enum { PART_POSTED = 1, PART_TAKEN = 2, PART_STOLEN = 3 }; /* a helper's part of the current product */

/* A helper: the part it runs of each product it is in (1 .. helpers), its job counter and its part's state, padded
   so that helpers polling their own counters do not share a cache line. */
typedef struct {
    mlp_team *team;
    size_t part;
    mlp_atomic_int job;   /* products posted to it so far (compared for equality only: wrapping is harmless) */
    mlp_atomic_int state; /* PART_*: who runs its part of the last product posted to it */
    char pad[128 - sizeof(void *) - sizeof(size_t) - 2 * sizeof(mlp_atomic_int)];
} mlp_helper;

struct mlp_team {
    mlp_mutex busy; /* held by the caller whose product runs on the team */
    mlp_mutex lock; /* with `wake`: where idle helpers sleep; the job counters change under it */
    mlp_cond wake;
    mlp_atomic_int pending; /* helpers that have not yet finished their part of the current product */
    mlp_atomic_int quit;    /* set by mlp_team_stop */
    /* the current product: written by the caller before it posts, read by the helpers in it */
    mlp_part_fn fn;
    void *arg;
    size_t parts;
    mlp_fpenv env; /* the caller's floating-point state, which its parts run in */
    mlp_pid pid;    /* the process that started the helpers */
    size_t helpers; /* how many were started */
    mlp_thread threads[MLP_MAX_THREADS - 1];
    mlp_helper roles[MLP_MAX_THREADS - 1];
};

/* Waits until the helper's job counter differs from `seen` (or the team is stopping), polling for
   MLP_TEAM_POLL_NS, then asleep; returns the new counter. */
static int mlp_team_wait(mlp_team *t, mlp_helper *h, int seen)
{
    const int64_t start = mlp_now_ns();
    for (unsigned i = 1;; i++) {
        const int job = mlp_atomic_load_int(&h->job);
        if (job != seen || mlp_atomic_load_int(&t->quit)) {
            return job;
        }
        MLP_CPU_RELAX();
        if (i % 64 == 0) {
            if (mlp_now_ns() - start > MLP_TEAM_POLL_NS) {
                break;
            }
            mlp_yield(); /* lets a thread that shares this core run (and valgrind, which runs one at a time) */
        }
    }
    mlp_mutex_lock(&t->lock);
    int job;
    while ((job = mlp_atomic_load_int(&h->job)) == seen && !mlp_atomic_load_int(&t->quit)) {
        mlp_cond_wait(&t->wake, &t->lock);
    }
    mlp_mutex_unlock(&t->lock);
    return job;
}

static MLP_THREAD_FN mlp_helper_main(void *p)
{
    mlp_helper *h = p;
    mlp_team *t = h->team;
    int seen = 0;
    for (;;) {
        seen = mlp_team_wait(t, h, seen);
        if (mlp_atomic_load_int(&t->quit)) {
            return MLP_THREAD_RETURN;
        }
        if (mlp_atomic_cas_int(&h->state, PART_POSTED, PART_TAKEN)) { /* else the caller ran it */
            mlp_fpenv_set(t->env); /* a helper runs nothing else: no need to restore its own */
            t->fn(t->arg, h->part, t->parts);
            mlp_atomic_add_int(&t->pending, -1);
        }
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
    if (mlp_mutex_init(&t->busy) != 0) {
        return NULL;
    }
    if (mlp_mutex_init(&t->lock) != 0) {
        mlp_mutex_destroy(&t->busy);
        return NULL;
    }
    if (mlp_cond_init(&t->wake) != 0) {
        mlp_mutex_destroy(&t->lock);
        mlp_mutex_destroy(&t->busy);
        return NULL;
    }
    mlp_atomic_init_int(&t->pending, 0);
    mlp_atomic_init_int(&t->quit, 0);
    t->pid = mlp_getpid();
#if !defined(_WIN32)
    /* The helpers start with every asynchronous signal blocked (they inherit the mask): those are the calling
       threads' to handle. Signals raised by a fault in a helper's own work stay deliverable, so that the
       process's handlers (faulthandler's, or the default action) see them. (Windows has no signal masks.) */
    sigset_t mask, old;
    sigfillset(&mask);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (size_t k = 0; k < sizeof faults / sizeof faults[0]; k++) {
        sigdelset(&mask, faults[k]);
    }
    pthread_sigmask(SIG_SETMASK, &mask, &old);
#endif
    for (size_t k = 0; k < helpers; k++) {
        t->roles[k].team = t;
        t->roles[k].part = k + 1;
        mlp_atomic_init_int(&t->roles[k].job, 0);
        mlp_atomic_init_int(&t->roles[k].state, PART_STOLEN);
        if (mlp_thread_start(&t->threads[k], mlp_helper_main, &t->roles[k]) != 0) {
            break;
        }
        t->helpers++;
    }
#if !defined(_WIN32)
    pthread_sigmask(SIG_SETMASK, &old, NULL);
#endif
    if (t->helpers == 0) {
        mlp_team_stop(t);
        return NULL;
    }
    return t;
}

size_t mlp_team_helpers(const mlp_team *team) { return team->helpers; }

/* Under AddressSanitizer (tools/sanitize.sh) only the bytes a call asked for are addressable in a kept block that
   is larger, so that a kernel writing past its workspace is caught as it would be in a block of its own. */
#if defined(__SANITIZE_ADDRESS__)
#define MLP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MLP_ASAN 1
#endif
#endif
#ifdef MLP_ASAN
#include <sanitizer/asan_interface.h>
#define MLP_BLOCK_LIMIT(block, used) \
    ASAN_POISON_MEMORY_REGION((block) + MLP_BLOCK_HEAD + (used), *(size_t *)(block) - (used))
#define MLP_BLOCK_UNLIMIT(block) ASAN_UNPOISON_MEMORY_REGION((block) + MLP_BLOCK_HEAD, *(size_t *)(block))
#else
#define MLP_BLOCK_LIMIT(block, used) ((void)0)
#define MLP_BLOCK_UNLIMIT(block) ((void)0)
#endif

void *mlp_block_get(mlp_atomic_ptr *slot, size_t bytes, mlp_alloc alloc)
{
    char *block = slot != NULL ? mlp_atomic_exchange_ptr(slot, NULL) : NULL;
    if (block != NULL && *(size_t *)block < bytes) {
        alloc.give(block);
        block = NULL;
    }
    if (block == NULL && bytes <= SIZE_MAX - MLP_BLOCK_HEAD && (block = alloc.take(MLP_BLOCK_HEAD + bytes)) != NULL) {
        *(size_t *)block = bytes;
    }
    if (block == NULL) {
        return NULL;
    }
    MLP_BLOCK_LIMIT(block, bytes);
    return block + MLP_BLOCK_HEAD;
}

void mlp_block_put(mlp_atomic_ptr *slot, void *data, mlp_alloc alloc)
{
    if (data == NULL) {
        return;
    }
    char *block = (char *)data - MLP_BLOCK_HEAD;
    MLP_BLOCK_UNLIMIT(block);
    if (slot != NULL && *(size_t *)block <= MLP_BLOCK_KEEP_MAX) {
        block = mlp_atomic_exchange_ptr(slot, block);
    }
    if (block != NULL) {
        alloc.give(block);
    }
}

size_t mlp_block_kept(mlp_atomic_ptr *slot, int give, mlp_alloc alloc)
{
    char *block = mlp_atomic_exchange_ptr(slot, NULL); /* held while it is read: another thread could free it */
    const size_t bytes = block != NULL ? MLP_BLOCK_HEAD + *(const size_t *)block : 0;
    void *none = NULL;
    if (block != NULL && (give || !mlp_atomic_cas_ptr(slot, &none, block))) {
        alloc.give(block); /* (not put back: another call kept its block meanwhile) */
    }
    return bytes;
}

size_t mlp_thread_limit(const char *env)
{
    size_t count = mlp_cpu_count();
    if (env != NULL && env[0] != '\0') {
        char *end;
        errno = 0;
        const long n = strtol(env, &end, 10);
        while (*end == ' ') {
            end++;
        }
        if (errno != 0 || end == env || *end != '\0' || n < 1) {
            return 0;
        }
        count = (size_t)n;
    }
    return count < MLP_MAX_THREADS ? count : MLP_MAX_THREADS;
}

mlp_team *mlp_team_shared(mlp_atomic_ptr *slot, size_t count, mlp_alloc alloc)
{
    void *team = mlp_atomic_load_ptr(slot);
    if (team != NULL && mlp_team_ours(team)) {
        return team;
    }
    void *memory = alloc.take(mlp_team_bytes());
    mlp_team *fresh = memory != NULL ? mlp_team_start(memory, count - 1) : NULL;
    if (fresh == NULL) {
        if (memory != NULL) {
            alloc.give(memory);
        }
        return NULL;
    }
    if (!mlp_atomic_cas_ptr(slot, &team, fresh)) { /* `team` is now the one another thread put there */
        mlp_team_stop(fresh);
        alloc.give(memory);
        return team;
    }
    return fresh;
}

void mlp_team_drop(mlp_atomic_ptr *slot, mlp_alloc alloc)
{
    mlp_team *team = mlp_atomic_exchange_ptr(slot, NULL);
    if (team != NULL && mlp_team_ours(team)) {
        mlp_team_stop(team);
        alloc.give(team);
    }
}

int mlp_team_ours(const mlp_team *team) { return team->pid == mlp_getpid(); }

void mlp_team_stop(mlp_team *t)
{
    mlp_mutex_lock(&t->lock);
    mlp_atomic_store_int(&t->quit, 1);
    mlp_cond_broadcast(&t->wake);
    mlp_mutex_unlock(&t->lock);
    for (size_t k = 0; k < t->helpers; k++) {
        mlp_thread_join(t->threads[k]);
    }
    mlp_cond_destroy(&t->wake);
    mlp_mutex_destroy(&t->lock);
    mlp_mutex_destroy(&t->busy);
}

void mlp_spin_until(mlp_atomic_int *flag, int value)
{
    for (unsigned i = 1; mlp_atomic_load_int(flag) != value; i++) {
        MLP_CPU_RELAX();
        if (i % 64 == 0) {
            mlp_yield();
        }
    }
}

/* Runs the product on the team in `parts` parts (at most helpers + 1): part 0 here, part k on helper k unless it
   has not started it when part 0 is done (then here too). Returns 0 without running anything if the team is
   running another product. */
static int mlp_team_run(mlp_team *t, size_t parts, mlp_part_fn fn, void *arg)
{
    if (!mlp_mutex_trylock(&t->busy)) {
        return 0;
    }
    t->fn = fn;
    t->arg = arg;
    t->parts = parts;
    t->env = mlp_fpenv_get();
    mlp_atomic_store_int(&t->pending, (int)parts - 1);
    mlp_mutex_lock(&t->lock);
    for (size_t k = 0; k + 1 < parts; k++) { /* only the caller holding `busy` writes the states and counters */
        mlp_atomic_store_int(&t->roles[k].state, PART_POSTED);
        mlp_atomic_add_int(&t->roles[k].job, 1);
    }
    mlp_cond_broadcast(&t->wake); /* for the helpers that sleep; those that poll see their counter change */
    mlp_mutex_unlock(&t->lock);
    fn(arg, 0, parts);
    for (size_t k = 0; k + 1 < parts; k++) { /* the parts no helper has started */
        if (mlp_atomic_cas_int(&t->roles[k].state, PART_POSTED, PART_STOLEN)) {
            fn(arg, k + 1, parts);
            mlp_atomic_add_int(&t->pending, -1);
        }
    }
    mlp_spin_until(&t->pending, 0);
    mlp_mutex_unlock(&t->busy);
    return 1;
}

typedef struct {
    mlp_part_fn fn;
    void *arg;
    size_t part, parts;
    mlp_fpenv env;
} mlp_part;

static MLP_THREAD_FN mlp_run_part(void *p)
{
    const mlp_part *job = p;
    mlp_fpenv_set(job->env);
    job->fn(job->arg, job->part, job->parts);
    return MLP_THREAD_RETURN;
}

/* Parts 1 .. parts − 1 each on a thread started for it, part 0 here; joined before returning. */
static void mlp_start_parts(size_t parts, mlp_part_fn fn, void *arg)
{
    mlp_thread threads[MLP_MAX_THREADS];
    mlp_part jobs[MLP_MAX_THREADS];
    int started[MLP_MAX_THREADS] = {0};
    for (size_t t = 1; t < parts; t++) {
        jobs[t] = (mlp_part){fn, arg, t, parts, mlp_fpenv_get()};
        started[t] = mlp_thread_start(&threads[t], mlp_run_part, &jobs[t]) == 0;
    }
    fn(arg, 0, parts);
    for (size_t t = 1; t < parts; t++) {
        if (started[t]) {
            mlp_thread_join(threads[t]);
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

/* ---- the caches (mlp_cache_detect) ---- */

#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

mlp_cache mlp_cache_detect(void)
{
    mlp_cache c = {0, 0, 0};
#if defined(_WIN32)
    DWORD bytes = 0;
    GetLogicalProcessorInformation(NULL, &bytes);
    SYSTEM_LOGICAL_PROCESSOR_INFORMATION *info = bytes > 0 ? HeapAlloc(GetProcessHeap(), 0, bytes) : NULL;
    if (info != NULL && GetLogicalProcessorInformation(info, &bytes)) {
        for (size_t i = 0; i < bytes / sizeof *info; i++) {
            const CACHE_DESCRIPTOR *d = &info[i].Cache;
            if (info[i].Relationship != RelationCache || (d->Type != CacheData && d->Type != CacheUnified)) {
                continue;
            }
            if (d->Level == 1 && c.l1_bytes == 0) {
                c.l1_bytes = d->Size;
                c.l1_ways = d->Associativity == CACHE_FULLY_ASSOCIATIVE ? 0 : d->Associativity;
            } else if (d->Level == 2 && c.l2_bytes == 0) {
                c.l2_bytes = d->Size;
            }
        }
    }
    if (info != NULL) {
        HeapFree(GetProcessHeap(), 0, info);
    }
#elif defined(__APPLE__)
    int64_t value = 0;
    size_t len = sizeof value;
    if (sysctlbyname("hw.l1dcachesize", &value, &len, NULL, 0) == 0 && value > 0) {
        c.l1_bytes = (size_t)value;
        c.l1_ways = 8; /* macOS does not report it */
    }
    len = sizeof value;
    if (sysctlbyname("hw.l2cachesize", &value, &len, NULL, 0) == 0 && value > 0) {
        c.l2_bytes = (size_t)value;
    }
#else
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL1_DCACHE_ASSOC) && defined(_SC_LEVEL2_CACHE_SIZE)
    const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), ways = sysconf(_SC_LEVEL1_DCACHE_ASSOC),
               l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    c.l1_bytes = l1 > 0 ? (size_t)l1 : 0;
    c.l1_ways = ways > 0 ? (size_t)ways : 0;
    c.l2_bytes = l2 > 0 ? (size_t)l2 : 0;
#endif
#endif
    return c;
}
