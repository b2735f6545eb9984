/*
 * compiler.h — the one place that spells compiler-specific features; everything else in csrc/ is standard C11
 * plus what this header names. GCC and Clang (Linux, macOS, mingw-w64) get their attributes and builtins; MSVC
 * (/std:c11) gets its own keywords; any other C11 compiler gets plain C (every macro here then degrades to
 * nothing or to a standard construct with the same meaning).
 *
 *   MLP_INLINE          a static inline function the compiler should always inline (kernel bodies)
 *   MLP_NOINLINE        never inline (keeps a rarely used body out of its callers)
 *   MLP_COLD            a function on an error path (laid out away from the hot code)
 *   MLP_UNUSED          a static function that some builds do not call (no warning)
 *   MLP_UNREACHABLE()   a point the program never reaches (lets the optimizer assume it)
 *   MLP_LIKELY(c)       a condition that is nearly always true
 *   MLP_ALIGNED(n)      _Alignas(n): standard C11, named here for symmetry
 *   MLP_OPAQUE(x)       hides a variable's value from the optimizer (an empty asm on GCC/Clang)
 *   MLP_CPU_RELAX()     the spin-wait hint of the CPU
 *   MLP_TARGET(isa)     compile one function for an instruction set (GCC/Clang only: see MLP_HAS_TARGET), and
 *                       MLP_CPU_SUPPORTS(feature) to ask whether the CPU has it (after MLP_CPU_INIT())
 *   mlp_atomic_int, mlp_atomic_ptr and their operations: C11 <stdatomic.h> on GCC/Clang, Interlocked* on MSVC
 *   mlp_fpmode and its operations: the thread's floating-point mode, to flush subnormal numbers to zero
 *
 * `restrict` is C99/C11 and spelled as such; MSVC's C11 mode accepts it.
 */
#ifndef MLPEXT_COMPILER_H
#define MLPEXT_COMPILER_H

/* MLP_PLAIN_C (a -D for tools/pedantic.sh) builds the core as any C11 compiler would: none of the below. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(MLP_PLAIN_C)
#define MLP_GNU 1
#endif

#if defined(MLP_GNU)
#define MLP_INLINE __attribute__((always_inline)) static inline
#define MLP_NOINLINE __attribute__((noinline))
#define MLP_COLD __attribute__((cold, noinline))
#define MLP_UNUSED __attribute__((unused))
#define MLP_UNREACHABLE() __builtin_unreachable()
#define MLP_LIKELY(c) __builtin_expect(!!(c), 1)
#elif defined(_MSC_VER)
#define MLP_INLINE static __forceinline
#define MLP_NOINLINE __declspec(noinline)
#define MLP_COLD __declspec(noinline)
#define MLP_UNUSED
#define MLP_UNREACHABLE() __assume(0)
#define MLP_LIKELY(c) (c)
#else
#define MLP_INLINE static inline
#define MLP_NOINLINE
#define MLP_COLD
#define MLP_UNUSED
#define MLP_UNREACHABLE() ((void)0)
#define MLP_LIKELY(c) (c)
#endif

#define MLP_ALIGNED(n) _Alignas(n)

/* MLP_OPAQUE(x): the optimizer forgets what it knows of the value of x (a register variable), at no cost. */
#if defined(MLP_GNU)
#define MLP_OPAQUE(x) __asm__("" : "+r"(x))
#else
#define MLP_OPAQUE(x) ((void)0)
#endif

/* MLP_BUILTIN_FMA(a, b, c): GCC/Clang's fma, the instruction where the function's target has FMA, else a call of
   the C library's fma() (vmath.h's MLP_FMA decides where that may be used). */
#if defined(MLP_GNU)
#define MLP_BUILTIN_FMA(a, b, c) __builtin_fma((a), (b), (c))
#endif

/* MLP_CPU_RELAX(): a spin-wait hint (x86 pause, ARM yield); nothing elsewhere. */
#if defined(MLP_GNU) && (defined(__x86_64__) || defined(__i386__))
#define MLP_CPU_RELAX() __builtin_ia32_pause()
#elif defined(MLP_GNU) && (defined(__aarch64__) || defined(__arm__))
#define MLP_CPU_RELAX() __asm__ __volatile__("yield")
#elif defined(_MSC_VER)
#define MLP_CPU_RELAX() YieldProcessor() /* <windows.h> */
#else
#define MLP_CPU_RELAX() ((void)0)
#endif

/* Per-function instruction sets: GCC and Clang compile a function for an ISA the rest of the file is not built
   for (target attribute), which is what the runtime dispatch of simd.h needs. MSVC has no such attribute. */
#if defined(MLP_GNU)
#define MLP_HAS_TARGET 1
#define MLP_TARGET(isa) __attribute__((target(isa)))
#define MLP_TARGET_INLINE(isa) __attribute__((always_inline, target(isa))) static inline
#define MLP_CPU_SUPPORTS(feature) __builtin_cpu_supports(feature) /* at run time: "avx2", "fma", "avx512f"... */
/* Runs the runtime's CPU detection (libgcc's, or compiler-rt's under clang-cl), which is idempotent. Its load-time
   constructor runs it too, but a compiler-rt built without constructors (MSVC) would leave every feature unset. */
#define MLP_CPU_INIT() __builtin_cpu_init()
#endif

/* ---- atomics: an int and a pointer, with the orders the thread team and the module state need ----
   Loads acquire, stores release, read-modify-writes are acquire-release. */
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
typedef volatile long mlp_atomic_int;
typedef void *volatile mlp_atomic_ptr;
static inline void mlp_atomic_init_int(mlp_atomic_int *p, int v) { *p = v; }
static inline int mlp_atomic_load_int(mlp_atomic_int *p) { return (int)_InterlockedOr(p, 0); }
static inline void mlp_atomic_store_int(mlp_atomic_int *p, int v) { _InterlockedExchange(p, v); }
/* adds v, returns the value before */
static inline int mlp_atomic_add_int(mlp_atomic_int *p, int v) { return (int)_InterlockedExchangeAdd(p, v); }
/* if *p == expected, *p = desired and 1; else 0 */
static inline int mlp_atomic_cas_int(mlp_atomic_int *p, int expected, int desired)
{
    return _InterlockedCompareExchange(p, desired, expected) == expected;
}
static inline void *mlp_atomic_load_ptr(mlp_atomic_ptr *p) { return _InterlockedCompareExchangePointer(p, 0, 0); }
static inline void mlp_atomic_store_ptr(mlp_atomic_ptr *p, void *v) { _InterlockedExchangePointer(p, v); }
/* stores v, returns the value before */
static inline void *mlp_atomic_exchange_ptr(mlp_atomic_ptr *p, void *v) { return _InterlockedExchangePointer(p, v); }
/* if *p == *expected, *p = desired and 1; else *expected = *p and 0 */
static inline int mlp_atomic_cas_ptr(mlp_atomic_ptr *p, void **expected, void *desired)
{
    void *seen = _InterlockedCompareExchangePointer(p, desired, *expected);
    if (seen == *expected) {
        return 1;
    }
    *expected = seen;
    return 0;
}
#else
#include <stdatomic.h>
typedef atomic_int mlp_atomic_int;
typedef _Atomic(void *) mlp_atomic_ptr;
static inline void mlp_atomic_init_int(mlp_atomic_int *p, int v) { atomic_init(p, v); }
static inline int mlp_atomic_load_int(mlp_atomic_int *p) { return atomic_load_explicit(p, memory_order_acquire); }
static inline void mlp_atomic_store_int(mlp_atomic_int *p, int v)
{
    atomic_store_explicit(p, v, memory_order_release);
}
static inline int mlp_atomic_add_int(mlp_atomic_int *p, int v)
{
    return atomic_fetch_add_explicit(p, v, memory_order_acq_rel);
}
static inline int mlp_atomic_cas_int(mlp_atomic_int *p, int expected, int desired)
{
    return atomic_compare_exchange_strong_explicit(p, &expected, desired, memory_order_acq_rel, memory_order_acquire);
}
static inline void *mlp_atomic_load_ptr(mlp_atomic_ptr *p) { return atomic_load_explicit(p, memory_order_acquire); }
static inline void mlp_atomic_store_ptr(mlp_atomic_ptr *p, void *v)
{
    atomic_store_explicit(p, v, memory_order_release);
}
static inline void *mlp_atomic_exchange_ptr(mlp_atomic_ptr *p, void *v)
{
    return atomic_exchange_explicit(p, v, memory_order_acq_rel);
}
static inline int mlp_atomic_cas_ptr(mlp_atomic_ptr *p, void **expected, void *desired)
{
    return atomic_compare_exchange_strong_explicit(p, expected, desired, memory_order_acq_rel,
                                                   memory_order_acquire);
}
#endif

/* ---- the floating-point mode: subnormal numbers flushed to zero ----
   mlp_fpmode_flush() makes the calling thread read subnormal operands as 0 and write subnormal results as 0 (x86:
   MXCSR's DAZ and FTZ bits, which every SSE and AVX instruction obeys; AArch64: FPCR.FZ) and returns the mode it
   replaced; mlp_fpmode_keep() clears them (IEEE subnormals) and returns the mode it replaced; mlp_fpmode_restore()
   puts a returned mode back. mlp_fpmode_get/set read and write the whole mode (the thread team gives its helpers
   the caller's). Elsewhere (plain C, other CPUs, MSVC on ARM, 32-bit x86 with x87 arithmetic) they do nothing and
   subnormals are kept. */
#if !defined(MLP_PLAIN_C) && (defined(__x86_64__) || defined(_M_X64) || (defined(__i386__) && defined(__SSE2_MATH__)))
#include <xmmintrin.h>
typedef unsigned mlp_fpmode;
#define MLP_FPMODE_FLUSH_BITS 0x8040u /* FTZ (bit 15) and DAZ (bit 6) */
#define MLP_FPMODE_STATUS 0x3Fu       /* the exception flags, which computations set: not part of the mode */
static inline mlp_fpmode mlp_fpmode_get(void) { return _mm_getcsr(); }
static inline void mlp_fpmode_set(mlp_fpmode mode) { _mm_setcsr(mode); }
#elif defined(MLP_GNU) && !defined(MLP_PLAIN_C) && defined(__aarch64__)
typedef unsigned long long mlp_fpmode;
#define MLP_FPMODE_FLUSH_BITS (1ull << 24) /* FZ */
#define MLP_FPMODE_STATUS 0ull              /* (the flags are in FPSR) */
static inline mlp_fpmode mlp_fpmode_get(void)
{
    mlp_fpmode mode;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(mode));
    return mode;
}
static inline void mlp_fpmode_set(mlp_fpmode mode) { __asm__ __volatile__("msr fpcr, %0" : : "r"(mode) : "memory"); }
#else
typedef unsigned mlp_fpmode;
#define MLP_FPMODE_FLUSH_BITS 0u
#define MLP_FPMODE_STATUS 0u
static inline mlp_fpmode mlp_fpmode_get(void) { return 0; }
static inline void mlp_fpmode_set(mlp_fpmode mode) { (void)mode; }
#endif
static inline mlp_fpmode mlp_fpmode_flush(void)
{
    const mlp_fpmode mode = mlp_fpmode_get();
    if ((mode & MLP_FPMODE_FLUSH_BITS) != MLP_FPMODE_FLUSH_BITS) {
        mlp_fpmode_set(mode | MLP_FPMODE_FLUSH_BITS);
    }
    return mode;
}
static inline mlp_fpmode mlp_fpmode_keep(void)
{
    const mlp_fpmode mode = mlp_fpmode_get();
    if ((mode & MLP_FPMODE_FLUSH_BITS) != 0) {
        mlp_fpmode_set(mode & ~MLP_FPMODE_FLUSH_BITS);
    }
    return mode;
}
/* after mlp_fpmode_flush or mlp_fpmode_keep: the mode `before` they returned, without a write where it is so;
   exception flags raised meanwhile are kept */
static inline void mlp_fpmode_restore(mlp_fpmode before)
{
    const mlp_fpmode now = mlp_fpmode_get();
    if ((now ^ before) & ~MLP_FPMODE_STATUS) {
        mlp_fpmode_set((before & ~MLP_FPMODE_STATUS) | (now & MLP_FPMODE_STATUS));
    }
}

/* All of a thread's floating-point state that its results depend on, which the thread team gives the threads that
   run a call's parts (parallel.c): the mode above and, on x86 with GCC or Clang, the x87 control word. A C library
   whose functions compute on the x87 unit (mingw-w64's exp, under GELU's gradient) rounds by its precision, which
   mingw-w64 sets to extended precision in the main thread while Windows starts other threads at double. */
typedef struct {
    mlp_fpmode mode;
    unsigned short x87; /* (0 where not read) */
} mlp_fpenv;
#if defined(MLP_GNU) && !defined(MLP_PLAIN_C) && (defined(__x86_64__) || defined(__i386__))
static inline mlp_fpenv mlp_fpenv_get(void)
{
    mlp_fpenv env = {mlp_fpmode_get(), 0};
    __asm__ __volatile__("fnstcw %0" : "=m"(env.x87));
    return env;
}
static inline void mlp_fpenv_set(mlp_fpenv env)
{
    mlp_fpmode_set(env.mode);
    __asm__ __volatile__("fldcw %0" : : "m"(env.x87));
}
#else
static inline mlp_fpenv mlp_fpenv_get(void) { return (mlp_fpenv){mlp_fpmode_get(), 0}; }
static inline void mlp_fpenv_set(mlp_fpenv env) { mlp_fpmode_set(env.mode); }
#endif

#endif /* MLPEXT_COMPILER_H */
