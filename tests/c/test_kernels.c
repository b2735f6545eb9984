/*
 * test_kernels.c — unit tests of mlpext's C core (csrc/), compiled alone: no Python, no NumPy.
 *
 *     cc -std=c11 -O2 -Wall -Wextra -Werror -ffp-contract=off -fno-math-errno -fno-trapping-math \
 *        csrc/activations.c csrc/dense.c csrc/lecture.c csrc/net.c csrc/optim.c csrc/parallel.c \
 *        tests/c/test_kernels.c -lm -pthread -o test_kernels
 *     ./test_kernels            (tests/c/run.sh does this, then again under valgrind and with sanitizers)
 *
 * Every kernel of mlp.h is checked, in both precisions, against a naive loop written here.
 *
 * Exact (bit-for-bit) comparisons: the naive loops evaluate the same operations in the same order as the
 * kernels document (dense_impl.h: "every sum runs over its index in increasing order, starting from the first
 * product", each product rounded before it is added unless the layer fuses; sigmoid = vmath.h's
 * MLP_SIGMOID_OF(z): mlp_sigmoid, or mlp_sigmoidf for float), and both
 * are compiled with -ffp-contract=off on x86-64 (FLT_EVAL_METHOD 0), so IEEE arithmetic gives one answer. Any
 * difference is a kernel bug: a reordered sum, a contracted FMA, a SIMD path that differs from the scalar one, a
 * read or write of the wrong element. The dense layers of at least 256 weights sum with fused multiply-adds
 * (dense_simd_impl.h): the same sums in the same order, each step one fma; the naive loops then use test_fma /
 * test_fmaf (correctly rounded whatever the C library's fma: dense_fused, below), still bit for bit.
 *
 * Tolerances only where the two sides compute differently, each explained where it is used:
 *   - mlp_exp, mlp_sigmoid and mlp_log against long double (the documented bounds: 0.52, 1.5 and 1 ulp), and
 *     mlp_sigmoidf and mlp_tanhf against it rounded to float (within one ulp, nearly always that float);
 *   - the sigmoid against the same formula built on libm's exp (two different exps);
 *   - the dense layer against sums accumulated in long double (another rounding order: the standard error
 *     bound of a k-term dot product, gamma_k * sum|terms|).
 *
 * Every output buffer has guard zones before and after it: a kernel writing out of bounds fails a test
 * natively, not only under valgrind/ASan. Inputs are checked unchanged after each call.
 *
 * Output: one line per test ("ok" / "FAIL"), then a last line "N passed, M failed". Exit status 1 if any
 * failed. MLPEXT_C_SEED=<integer> changes the random data (default: fixed).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, pthreads */
#include <float.h>
#include <pthread.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* test_team_shared forks a threaded process, and the child starts threads of its own. Some runners cannot:
   ThreadSanitizer cannot start threads there, AddressSanitizer's allocator can be left locked by a thread of the
   parent, and qemu-user aborts (tools/cross_aarch64.sh defines MLP_TEST_NO_FORK). The check runs without them. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define FORK_CHECKED 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define FORK_CHECKED 0
#endif
#endif
#if !defined(FORK_CHECKED) && (defined(_WIN32) || defined(MLP_TEST_NO_FORK))
#define FORK_CHECKED 0
#endif
#ifndef FORK_CHECKED
#define FORK_CHECKED 1
#endif
#ifndef _WIN32
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "../../csrc/mlp.h"
#include "../../csrc/vmath.h" /* mlp_exp, mlp_sigmoid: the naive loops use the kernels' own, to compare exactly */
#include "../../csrc/simd.h"

#ifdef MLP_X86_DISPATCH /* the SIMD sigmoid of the lecture's four-row epoch (net.c builds it the same way) */
#define MLP_ISA_IMPL "sigmoid_simd_impl.h"
#define MLP_ISA_SETS (MLP_SET_AVX2 | MLP_SET_AVX512VL)
#include "../../csrc/each_isa.h"
/* Out-of-line callers (a function without the target cannot inline them), taking and returning memory. */
__attribute__((target("avx2,fma"), noinline)) static void sigmoid4_call_avx2(const double *z, double *out)
{
    _mm256_storeu_pd(out, mlp_sigmoid4_avx2(_mm256_loadu_pd(z)));
}
__attribute__((target("avx2,fma,avx512f,avx512vl"), noinline)) static void sigmoid4_call_avx512vl(const double *z,
                                                                                               double *out)
{
    _mm256_storeu_pd(out, mlp_sigmoid4_avx512vl(_mm256_loadu_pd(z)));
}
#endif

/* ------------------------------------------------------------------------------------------------------------
 * Harness
 * ------------------------------------------------------------------------------------------------------------ */

static const char *current_test;
static int failures_in_test;
static int tests_passed, tests_failed;

#define MAX_REPORTS_PER_TEST 8

static void report(int line, const char *fmt, ...)
{
    failures_in_test++;
    if (failures_in_test > MAX_REPORTS_PER_TEST) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  %s: line %d: ", current_test, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

#define CHECK(cond)                                                                                              \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            report(__LINE__, "check failed: %s", #cond);                                                         \
        }                                                                                                        \
    } while (0)

#define CHECKF(cond, ...)                                                                                        \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            report(__LINE__, __VA_ARGS__);                                                                       \
        }                                                                                                        \
    } while (0)

static void run_test(const char *name, void (*fn)(void))
{
    current_test = name;
    failures_in_test = 0;
    fn();
    if (failures_in_test == 0) {
        tests_passed++;
        printf("ok   %s\n", name);
    } else {
        tests_failed++;
        printf("FAIL %s (%d failed checks)\n", name, failures_in_test);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------------------------------------------
 * Random numbers (xorshift64*), deterministic
 * ------------------------------------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

/* uniform in [lo, hi) */
static double rng_uniform(double lo, double hi) { return lo + (hi - lo) * (double)(rng_next() >> 11) * 0x1p-53; }

/* ------------------------------------------------------------------------------------------------------------
 * Guarded buffers: GUARD bytes of a known pattern before and after the payload
 * ------------------------------------------------------------------------------------------------------------ */

#define GUARD 64
#define GUARD_BYTE 0xA5

static void *guarded_alloc(size_t bytes)
{
    unsigned char *raw = malloc(bytes + 2 * GUARD);
    if (raw == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    memset(raw, GUARD_BYTE, bytes + 2 * GUARD);
    memcpy(raw, &bytes, sizeof bytes); /* the size, for the check and the free */
    return raw + GUARD;
}

static int guards_intact(const void *p)
{
    const unsigned char *raw = (const unsigned char *)p - GUARD;
    size_t bytes;
    memcpy(&bytes, raw, sizeof bytes);
    for (size_t k = sizeof bytes; k < GUARD; k++) {
        if (raw[k] != GUARD_BYTE) {
            return 0;
        }
    }
    for (size_t k = 0; k < GUARD; k++) {
        if (raw[GUARD + bytes + k] != GUARD_BYTE) {
            return 0;
        }
    }
    return 1;
}

static void guarded_free(void *p)
{
    if (p != NULL) {
        free((unsigned char *)p - GUARD);
    }
}

/* Ordered integer images of doubles: |ord(a) - ord(b)| is the distance in ulps (same sign, finite). */
static int64_t ord64(double x)
{
    int64_t i;
    memcpy(&i, &x, sizeof i);
    return i < 0 ? INT64_MIN - i : i;
}

static int32_t ord32(float x)
{
    int32_t i;
    memcpy(&i, &x, sizeof i);
    return i < 0 ? INT32_MIN - i : i;
}

/* The sizes every shape test runs over: 1 and small sizes around the kernels' special cases (widths 1..4 are
   compile-time constants, 8 output columns per register block of the portable build, 8/16 lanes of a SIMD vector),
   and a few beyond, up to layers of more than 2048 weights (from 256 weights on, the FMA kernels). */
static const size_t N_SIZES[] = {1, 2, 3, 5, 8, 13};
static const size_t IN_SIZES[] = {1, 2, 3, 4, 5, 9, 17, 64, 65, 300}; /* 17·16, 64·5 ... 65·33: FMA layers; 300 ·
                                                                          5 and more: sums in halves */
static const size_t OUT_SIZES[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The lecture tests run over this grid of (n, in, hidden, out) and over two weight scales: 1 (the lecture's
   regime) and 40 (saturated sigmoids, exact 0 and 1). */
static const size_t L_N[] = {1, 2, 5, 8};
static const size_t L_IN[] = {1, 2, 3, 9};
static const size_t L_HIDDEN[] = {1, 3, 4, 8, 9, 17};
static const size_t L_OUT[] = {1, 2, 5, 8, 9};
static const double L_SCALES[] = {1.0, 40.0};

#define FOR_LECTURE_SHAPES(...)                                                                                 \
    for (size_t i_s = 0; i_s < COUNT(L_SCALES); i_s++)                                                           \
        for (size_t i_n = 0; i_n < COUNT(L_N); i_n++)                                                            \
            for (size_t i_i = 0; i_i < COUNT(L_IN); i_i++)                                                       \
                for (size_t i_h = 0; i_h < COUNT(L_HIDDEN); i_h++)                                               \
                    for (size_t i_o = 0; i_o < COUNT(L_OUT); i_o++) {                                            \
                        MLP_FN(net) t = MLP_FN(net_new)(L_N[i_n], L_IN[i_i], L_HIDDEN[i_h], L_OUT[i_o],          \
                                                        L_SCALES[i_s]);                                          \
                        const mlp_dims *d = &t.d;                                                                \
                        const MLP_FN(mlp_params) p = {t.W1, t.b1, t.W2, t.b2};                                   \
                        (void)p;                                                                                 \
                        __VA_ARGS__;                                                                             \
                        MLP_FN(net_free)(&t);                                                                    \
                    }

#define FOR_DENSE_SHAPES(...)                                                                                   \
    for (size_t i_n = 0; i_n < COUNT(N_SIZES); i_n++)                                                            \
        for (size_t i_i = 0; i_i < COUNT(IN_SIZES); i_i++)                                                       \
            for (size_t i_o = 0; i_o < COUNT(OUT_SIZES); i_o++) {                                                \
                const size_t n = N_SIZES[i_n], in = IN_SIZES[i_i], out = OUT_SIZES[i_o];                         \
                __VA_ARGS__;                                                                                     \
            }

/* csrc/dense.c's test hook (not in mlp.h): one product through one build; 0 if the CPU lacks that build. */
int mlp_dense_product_path_f64(int which, int path, size_t n, size_t k, size_t m, const double *A, const double *B,
                               const double *bias, double *C);
int mlp_dense_product_path_f32(int which, int path, size_t n, size_t k, size_t m, const float *A, const float *B,
                               const float *bias, float *C);
/* and through the packed kernels of large products, blocked for `cache` (NULL: the fallback geometry), in memory
   from `alloc`, in `parts` parts run one after another, the last first (B shared by them, on either instruction
   set); for which 2, B's column sums into sums if not NULL */
int mlp_dense_product_blocked_f64(int which, int path, const mlp_cache *cache, mlp_alloc alloc, size_t parts,
                                  size_t n, size_t k, size_t m, const double *A, const double *B, const double *bias,
                                  double *C, double *sums);
int mlp_dense_product_blocked_f32(int which, int path, const mlp_cache *cache, mlp_alloc alloc, size_t parts,
                                  size_t n, size_t k, size_t m, const float *A, const float *B, const float *bias,
                                  float *C, float *sums);

/* Does a dense layer (in, out) sum with fused multiply-adds? dense.c's dispatch: layers more than 4 wide
   (MLP_SMALL_WIDTH) with at least MLP_DENSE_FMA_MIN weights (256) do, if the CPU has AVX-512 or AVX2 with FMA,
   whatever the number of rows n; all others round each product before adding it. */
static int dense_fused(size_t n, size_t in, size_t out)
{
#ifdef MLP_X86_DISPATCH /* a build with the SIMD kernels (simd.h) */
    const int fma_cpu = MLP_CPU_AVX512() || MLP_CPU_AVX2_FMA();
#else
    const int fma_cpu = 0;
#endif
    (void)n;
    return out > 4 && in * out >= MLP_DENSE_FMA_MIN && fma_cpu;
}

/* ------------------------------------------------------------------------------------------------------------
 * Fused multiply-add: the one the build uses (vmath.h's MLP_FMA), the software one (mlp_fma_soft), the C library's
 * ------------------------------------------------------------------------------------------------------------ */

/* The oracles' fma, correctly rounded whatever the C library's (mingw-w64's is not): the build's own, which
   test_fma_hard_cases checks. */
static double test_fma(double a, double b, double c) { return MLP_FMA(a, b, c); }

/* fmaf through double: a·b is exact in double (24 + 24 bits), the sum is rounded to odd in double, then to float:
   rounding to odd with 29 more bits than the target makes the second rounding the only one that counts. */
static float test_fmaf(float a, float b, float c)
{
    const double p = (double)a * (double)b, s = p + (double)c, bb = s - p;
    const double e = (p - (s - bb)) + ((double)c - bb);
    double r = s;
    if (e != 0 && (mlp_bits(s) & 1) == 0) {
        r = mlp_from_bits(mlp_bits(s) + ((e > 0) == (s > 0) ? 1 : (uint64_t)-1));
    }
    return (float)r;
}

typedef double (*fma_fn)(double, double, double);
static double fma_libm(double a, double b, double c) { return fma(a, b, c); }
static double fma_soft(double a, double b, double c) { return mlp_fma_soft(a, b, c); }
/* through pointers held in volatile: no call is folded or inlined with known arguments */
static fma_fn volatile fma_of_libm = fma_libm, fma_of_soft = fma_soft, fma_of_build = test_fma;

/* How many of `count` cases whose exact result is known f gets wrong (printing the first few). The cases:
   a = ±(1 + x·2^-26)·2^s, b = (1 + y·2^-27)·2^t, x, y < 2^26, so a·b·2^(53 − s − t) = P = 2^53 + x·2^27 + y·2^26 +
   x·y exactly, an integer below 2^55; c = ±k·2^(s + t − 53) with k chosen so that P + k lands on, next to and
   between the halfway points of the doubles around it (k small), or cancels all but P's last bits (k near −P, a
   multiple of 4 so that it is a double).
   The correctly rounded result is then (double)(P + k)·2^(s + t − 53): an integer conversion, which rounds
   correctly, and exact scalings. These are the cases an fma built on a rounded product, or on an 80-bit long
   double, gets wrong. */
static int fma_wrong(fma_fn f, int count, const char *name)
{
    int wrong = 0;
    for (int i = 0; i < count; i++) {
        const uint64_t x = rng_next() >> 38, y = rng_next() >> 38; /* 26 bits each */
        const int64_t P = (int64_t)(((uint64_t)1 << 53) + (x << 27) + (y << 26) + x * y);
        const int64_t t = (int64_t)(rng_next() % 17) - 8;
        const int64_t k = i % 4 == 3 ? -((P >> 2) << 2) + 4 * t : -(P & 7) + t; /* |k| < 2^55: a multiple of 4 */
        const int s = (int)(rng_next() % 1601) - 800, u = (int)(rng_next() % 201) - 100;
        const double sign = i % 2 ? -1.0 : 1.0;
        const double a = sign * (1.0 + (double)x * 0x1p-26) * ldexp(1.0, s);
        const double b = (1.0 + (double)y * 0x1p-27) * ldexp(1.0, u);
        const double c = sign * (double)k * ldexp(1.0, s + u - 53);
        /* an exact 0 is +0 in round-to-nearest, whatever the signs */
        const double want = P + k == 0 ? 0.0 : sign * (double)(P + k) * ldexp(1.0, s + u - 53);
        const double got = f(a, b, c);
        if (mlp_bits(got) != mlp_bits(want)) {
            if (wrong < 3) {
                printf("     %s(%a, %a, %a) = %a, correctly rounded %a\n", name, a, b, c, got, want);
            }
            wrong++;
        }
    }
    return wrong;
}

/* MLP_FMA, the fused multiply-add the sigmoid is built on, rounds correctly on the hard cases; so does the software
   one (mlp_fma_soft), whether the build uses it or not. */
static void test_fma_hard_cases(void)
{
    const int count = 200000;
    const int build = fma_wrong(fma_of_build, count, "MLP_FMA"), soft = fma_wrong(fma_of_soft, count, "mlp_fma_soft");
    CHECKF(build == 0, "MLP_FMA rounds wrongly in %d of %d hard cases", build, count);
    CHECKF(soft == 0, "mlp_fma_soft rounds wrongly in %d of %d hard cases", soft, count);
    float worst = 0; /* test_fmaf against the build's double fma where that cannot round twice: |result| exact */
    for (int i = 0; i < 1000; i++) {
        const float a = (float)rng_uniform(-4, 4), b = (float)rng_uniform(-4, 4), c = -a * b;
        worst = fmaxf(worst, fabsf(test_fmaf(a, b, c) - (float)test_fma(a, b, c)));
    }
    CHECKF(worst == 0, "test_fmaf differs from an exact fma by %g", (double)worst);
}

/* The C library's fma() rounds correctly on the hard cases — required where the build calls it (MLP_FMA_LIBM: the
   portable sigmoid on x86 with GCC/Clang outside mingw-w64); elsewhere the build has its own and this only says how
   the library does. */
static void test_fma_libm(void)
{
    const int count = 200000, wrong = fma_wrong(fma_of_libm, count, "fma");
    if (MLP_FMA_LIBM) {
        CHECKF(wrong == 0, "the C library's fma rounds wrongly in %d of %d hard cases, and the build uses it", wrong,
               count);
    } else {
        printf("     the C library's fma: %d of %d hard cases wrong (the build does not use it)\n", wrong, count);
    }
}

#if defined(MLP_X86_DISPATCH) || defined(__aarch64__)
#ifdef MLP_X86_DISPATCH
MLP_TARGET("fma") static double fma_hw(double a, double b, double c) { return __builtin_fma(a, b, c); }
static int fma_hw_present(void) { return __builtin_cpu_supports("fma"); }
#else
static double fma_hw(double a, double b, double c) { return __builtin_fma(a, b, c); }
static int fma_hw_present(void) { return 1; }
#endif
/* mlp_fma_soft against the FMA instruction, on operands of random signs, significands and exponents (products from
   2^-1100 to 2^1100, c around them): the same bits wherever the result is normal or zero (its documented range). */
static void test_fma_soft_vs_hardware(void)
{
    if (!fma_hw_present()) {
        printf("     skipped: no FMA instruction on this CPU\n");
        return;
    }
    int wrong = 0, compared = 0;
    for (int i = 0; i < 400000; i++) {
        const double a = ldexp(rng_uniform(-2, 2), (int)(rng_next() % 1100) - 550);
        const double b = ldexp(rng_uniform(-2, 2), (int)(rng_next() % 1100) - 550);
        const int shift = (int)(rng_next() % 140) - 70; /* c from far below a·b to far above it */
        double c = ldexp(rng_uniform(-2, 2), ilogb(a) + ilogb(b) + shift);
        if (i % 8 == 0) {
            c = -a * b; /* cancellation: the exact residue of the product */
        }
        const double want = fma_hw(a, b, c), got = fma_of_soft(a, b, c);
        if ((isfinite(want) && want != 0 && fabs(want) < DBL_MIN) || (want == 0 && c == 0)) {
            continue; /* subnormal, or a product that underflowed to a signed zero: not covered by the contract */
        }
        compared++;
        if (mlp_bits(got) != mlp_bits(want)) {
            if (wrong < 3) {
                printf("     mlp_fma_soft(%a, %a, %a) = %a, the instruction %a\n", a, b, c, got, want);
            }
            wrong++;
        }
    }
    CHECKF(wrong == 0, "mlp_fma_soft differs from the FMA instruction in %d of %d cases", wrong, compared);
}
#endif

/* NumPy's pairwise summation of a[0..n) (pairwise_sum in numpy/_core/src/umath/loops_utils.h.src), started from
   add's identity as np.add.reduce is: the order of the losses' sums (csrc/pairwise.h), written out again here. */
static double numpy_pairwise(const double *a, size_t n)
{
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++) {
            res += a[i];
        }
        return res;
    }
    if (n <= 128) {
        double r[8], res;
        size_t i;
        for (i = 0; i < 8; i++) {
            r[i] = a[i];
        }
        for (i = 8; i < n - (n % 8); i += 8) {
            r[0] += a[i + 0], r[1] += a[i + 1], r[2] += a[i + 2], r[3] += a[i + 3];
            r[4] += a[i + 4], r[5] += a[i + 5], r[6] += a[i + 6], r[7] += a[i + 7];
        }
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) {
            res += a[i];
        }
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return numpy_pairwise(a, n2) + numpy_pairwise(a + n2, n - n2);
}
static double numpy_sum(const double *a, size_t n) { return 0. + numpy_pairwise(a, n); }

/* Helpers the template uses; MLP_FN picks the precision at the place of use. */
#define SAME(what, a, b, len) MLP_FN(same_bits)(__LINE__, (what), (a), (b), (len))
#define GUARDS_OK(p) CHECKF(guards_intact(p), "a kernel wrote outside the buffer %s", #p)

/* ------------------------------------------------------------------------------------------------------------
 * The precision-generic tests: kernels_t.h, compiled once per precision
 * ------------------------------------------------------------------------------------------------------------ */

#define MLP_T double
#define MLP_FN(name) name##_f64
#define MLP_ORD ord64
#define MLP_UINT_T uint64_t
#include "kernels_t.h"
#undef MLP_T
#undef MLP_FN
#undef MLP_ORD
#undef MLP_UINT_T

#define MLP_T float
#define MLP_FN(name) name##_f32
#define MLP_ORD ord32
#define MLP_UINT_T uint32_t
#include "kernels_t.h"
#undef MLP_T
#undef MLP_FN
#undef MLP_ORD
#undef MLP_UINT_T

/* ------------------------------------------------------------------------------------------------------------
 * Precision-independent tests
 * ------------------------------------------------------------------------------------------------------------ */

/* Does long double carry more precision than double here? Not under valgrind, which runs x87 arithmetic in
   double precision: the exp reference is then only as accurate as what it checks. */
static int long_double_is_extended(void)
{
    volatile long double one = 1.0L, tiny = 0x1p-60L;
    return LDBL_MANT_DIG >= 64 && one + tiny != one;
}

/* How many points the accuracy tests (exp, log, sigmoid) sample: MLPEXT_C_EXP_SAMPLES, or 400,000. */
static long accuracy_samples(void)
{
    const char *samples_env = getenv("MLPEXT_C_EXP_SAMPLES");
    return samples_env ? atol(samples_env) : 400000;
}

/* Error of y against the exact value ref, in ulps of double at ref. */
static double ulp_error(double y, long double ref)
{
    int e;
    frexpl(ref, &e);                                    /* ref = m * 2^e, m in [0.5, 1) */
    long double ulp = ldexpl(1.0L, (e - 53 < -1074) ? -1074 : e - 53); /* ulp of a double of that binade */
    return (double)(fabsl((long double)y - ref) / ulp);
}

/* mlp_exp's documented accuracy (vmath.h): within 0.52 ulp on [-708.39, 709.78]; +inf above; 0 below; NaN -> NaN.
   The reference is expl, accurate to about 2^-63 relative = 0.001 ulp of double: the bound is tested as
   0.52 + 0.002. When long double has no extra precision (valgrind), the reference itself is ~0.5 ulp off and
   only a loose 2 ulp sanity bound can be checked; the native run of run.sh checks the tight one. */
static void test_exp_accuracy(void)
{
    const int extended = long_double_is_extended();
    const double bound = extended ? 0.522 : 2.0;
    const long samples = accuracy_samples();
    double worst = 0, worst_x = 0;
    for (long s = 0; s < samples + 64; s++) {
        double x;
        if (s < samples / 2) {
            x = rng_uniform(MLP_EXP_SUBNORMAL, MLP_EXP_OVERFLOW); /* the whole range */
        } else if (s < samples) {
            x = rng_uniform(-1.0, 1.0) * pow(2.0, rng_uniform(-30, 3)); /* near 0, where e^x ~ 1 + x */
        } else {
            /* ends of the range and exact table points j·ln2/128 */
            static const double fixed[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, -1e-300, 0x1p-1074, 700, -700};
            const size_t nf = sizeof fixed / sizeof fixed[0];
            const long k = s - samples;
            x = (size_t)k < nf ? fixed[k] : (double)(k - (long)nf - 27) * 0.6931471805599453 / 128;
        }
        double y = mlp_exp(x);
        double err = ulp_error(y, expl((long double)x));
        if (!(err <= worst)) { /* also catches NaN */
            worst = err;
            worst_x = x;
        }
    }
    CHECKF(worst <= bound, "mlp_exp: %.4f ulp at x = %a (bound %.3f)", worst, worst_x, bound);
    printf("     mlp_exp: max error %.4f ulp over %ld samples (reference: %s)\n", worst, samples + 64,
           extended ? "long double expl" : "expl without extended precision, loose bound");

    CHECK(mlp_exp(0.0) == 1.0);
    CHECK(mlp_exp(-0.0) == 1.0);
    CHECK(mlp_exp(MLP_EXP_OVERFLOW) < INFINITY && mlp_exp(MLP_EXP_OVERFLOW) > 1e307);
    CHECK(mlp_exp(nextafter(MLP_EXP_OVERFLOW, INFINITY)) == INFINITY);
    CHECK(mlp_exp(710.0) == INFINITY && mlp_exp(1e300) == INFINITY && mlp_exp(INFINITY) == INFINITY);
    CHECK(mlp_exp(MLP_EXP_SUBNORMAL) >= DBL_MIN);
    CHECK(mlp_exp(nextafter(MLP_EXP_SUBNORMAL, -INFINITY)) == 0.0);
    CHECK(mlp_exp(-745.2) == 0.0 && mlp_exp(-1e300) == 0.0 && mlp_exp(-INFINITY) == 0.0);
    CHECK(isnan(mlp_exp(NAN)) && isnan(mlp_exp(-NAN)));
}

/* mlp_log's documented accuracy (vmath.h): within 1 ulp for every positive x, subnormal ones included (bound
   1.002 against logl; 2 without extended precision); 0 at 1, −inf at 0, NaN below 0 and for NaN, +inf at +inf.
   Then BCE's float32 pair (mlp_log_and_log1m_f): ln p and ln(1 − p) within one float ulp of the correctly rounded
   values, and equal to them nearly always (a double within 1 ulp is rounded to float wrongly only when the exact
   value lies within 2^-52 of a half-way point); both exact at 0 and 1. */
static void test_log_accuracy(void)
{
    const int extended = long_double_is_extended();
    const double bound = extended ? 1.002 : 2.0;
    const long samples = accuracy_samples();
    double worst = 0, worst_x = 0;
    for (long s = 0; s < samples; s++) {
        const double x = s % 3 == 0   ? ldexp(rng_uniform(1.0, 2.0), (int)rng_uniform(-1074, 1024))
                         : s % 3 == 1 ? 1.0 + rng_uniform(-1.0, 1.0) * pow(2.0, rng_uniform(-52, -1))
                                      : rng_uniform(0.0, 1.0);
        if (!(x > 0) || !isfinite(x)) {
            continue;
        }
        const double err = ulp_error(mlp_log(x), logl((long double)x));
        if (!(err <= worst)) {
            worst = err;
            worst_x = x;
        }
    }
    CHECKF(worst <= bound, "mlp_log: %.4f ulp at x = %a (bound %.3f)", worst, worst_x, bound);
    printf("     mlp_log: max error %.4f ulp over %ld samples (reference: %s)\n", worst, samples,
           extended ? "long double logl" : "logl without extended precision, loose bound");
    CHECK(mlp_log(1.0) == 0.0 && mlp_log(2.0) == 0x1.62e42fefa39efp-1 && mlp_log(0x1p-1074) < -744);
    CHECK(mlp_log(0.0) == -INFINITY && mlp_log(-0.0) == -INFINITY && mlp_log(INFINITY) == INFINITY);
    CHECK(isnan(mlp_log(-1.0)) && isnan(mlp_log(-INFINITY)) && isnan(mlp_log(NAN)) && isnan(mlp_log(-0x1p-1074)));

    long off = 0, far = 0, n = 0;
    for (long s = 0; s < samples; s++) {
        const float p = s % 4 == 0   ? (float)rng_uniform(0.0, 1.0)
                        : s % 4 == 1 ? (float)ldexp(rng_uniform(1.0, 2.0), (int)rng_uniform(-126, 0))
                        : s % 4 == 2 ? 1.0f - (float)ldexp(rng_uniform(1.0, 2.0), (int)rng_uniform(-24, -1))
                                     : (float)s / (float)samples;
        if (!(p > 0 && p < 1)) {
            continue;
        }
        float lp, l1mp;
        mlp_log_and_log1m_f(p, &lp, &l1mp);
        const float want_lp = (float)logl((long double)p), want_l1mp = (float)log1pl(-(long double)p);
        for (int k = 0; k < 2; k++) {
            const float got = k ? l1mp : lp, want = k ? want_l1mp : want_lp;
            off += got != want;
            far += got != want && nextafterf(got, want) != want;
        }
        n += 2;
    }
    CHECKF(far == 0 && off <= n / 100000 + (extended ? 0 : n / 100), "BCE's float logs: %ld of %ld not the "
           "correctly rounded value, %ld more than one ulp from it", off, n, far);
    printf("     BCE's float logs: %ld of %ld values not correctly rounded, none by more than one ulp\n", off, n);
    float a, b;
    mlp_log_and_log1m_f(0.0f, &a, &b);
    CHECK(a == -INFINITY && b == 0.0f);
    mlp_log_and_log1m_f(1.0f, &a, &b);
    CHECK(a == 0.0f && b == -INFINITY);
    mlp_log_and_log1m_f(FLT_MIN, &a, &b);
    CHECK(a == (float)logl(FLT_MIN) && b == -FLT_MIN);
    mlp_log_and_log1m_f(NAN, &a, &b);
    CHECK(isnan(a) && isnan(b));
}

/* mlp_sigmoid's documented accuracy (vmath.h): within 1.5 ulp of the exact 1 / (1 + e^−z) where that is at least
   DBL_MIN; 0 below, exactly 1 for z > 708.39, 0.5 at 0; NaN -> NaN. The reference is computed in long double
   (about 2^-63 relative: 0.002 ulp of double, hence the bound 1.502); without extended precision (valgrind)
   only a loose 3 ulp sanity bound can be checked. */
static void test_sigmoid_accuracy(void)
{
    const int extended = long_double_is_extended();
    const double bound = extended ? 1.502 : 3.0;
    const long samples = accuracy_samples();
    double worst = 0, worst_z = 0;
    for (long s = 0; s < samples; s++) {
        const double z = s % 3 == 0   ? rng_uniform(-MLP_SIGMOID_FLUSH, MLP_SIGMOID_FLUSH)
                         : s % 3 == 1 ? rng_uniform(-40, 40)
                                      : rng_uniform(-1.0, 1.0) * pow(2.0, rng_uniform(-40, 3));
        const long double ref = 1.0L / (1.0L + expl(-(long double)z));
        if (ref < DBL_MIN) {
            continue;
        }
        const double err = ulp_error(mlp_sigmoid(z), ref);
        if (!(err <= worst)) { /* also catches NaN */
            worst = err;
            worst_z = z;
        }
    }
    CHECKF(worst <= bound, "mlp_sigmoid: %.4f ulp at z = %a (bound %.3f)", worst, worst_z, bound);
    printf("     mlp_sigmoid: max error %.4f ulp over %ld samples (reference: %s)\n", worst, samples,
           extended ? "long double" : "long double without extended precision, loose bound");

    CHECK(mlp_sigmoid(0.0) == 0.5 && mlp_sigmoid(-0.0) == 0.5);
    CHECK(mlp_sigmoid(-MLP_SIGMOID_FLUSH) >= DBL_MIN && mlp_sigmoid(nextafter(-MLP_SIGMOID_FLUSH, -INFINITY)) == 0);
    CHECK(mlp_sigmoid(-709.78) == 0 && mlp_sigmoid(-1e300) == 0 && mlp_sigmoid(-INFINITY) == 0);
    CHECK(mlp_sigmoid(30.0) < 1 && mlp_sigmoid(38.0) == 1 && mlp_sigmoid(709.0) == 1);
    CHECK(mlp_sigmoid(1e300) == 1 && mlp_sigmoid(INFINITY) == 1);
    CHECK(isnan(mlp_sigmoid(NAN)) && isnan(mlp_sigmoid(-NAN)));
}

/* mlp_sigmoidf (vmath.h: a leaner double, within about 2^-36 of σ(z), rounded once) against 1/(1 + expl(−z))
   rounded to float: within one ulp, and the correctly rounded value but for at most one in 10,000 (every float
   through it, tools/exhaustive_sigmoid.sh --accuracy: 702 of them); 0 where σ(z) < FLT_MIN (z < −87.34), 1 from
   z = 17.33 on, 0.5 at 0, NaN for NaN. Without extended precision (valgrind) the reference is only double's, and
   up to one in 100 may differ. */
static void test_sigmoidf_accuracy(void)
{
    const int extended = long_double_is_extended();
    const long samples = accuracy_samples();
    long off = 0, far = 0;
    float worst_z = 0;
    for (long s = 0; s < samples; s++) {
        const float z = s % 3 == 0   ? (float)rng_uniform(-90, 20)
                        : s % 3 == 1 ? (float)rng_uniform(-4, 4)
                                     : (float)(rng_uniform(-1.0, 1.0) * pow(2.0, rng_uniform(-30, 0)));
        const long double exact = 1.0L / (1.0L + expl(-(long double)z));
        const float got = mlp_sigmoidf(z), want = exact < FLT_MIN ? 0.0f : (float)exact;
        off += got != want;
        if (got != want && nextafterf(got, want) != want) {
            far++;
            worst_z = z;
        }
    }
    CHECKF(far == 0 && off <= samples / 10000 + (extended ? 0 : samples / 100), "mlp_sigmoidf: %ld of %ld not the "
           "correctly rounded value, %ld more than one ulp from it (one at z = %a)", off, samples, far,
           (double)worst_z);
    printf("     mlp_sigmoidf: %ld of %ld values not correctly rounded, none by more than one ulp\n", off, samples);
    CHECK(mlp_sigmoidf(0.0f) == 0.5f && mlp_sigmoidf(-0.0f) == 0.5f);
    CHECK(mlp_sigmoidf(-87.33f) >= FLT_MIN && mlp_sigmoidf(-87.34f) == 0.0f && mlp_sigmoidf(-88.0f) == 0.0f &&
          mlp_sigmoidf(-1e30f) == 0.0f && mlp_sigmoidf(-INFINITY) == 0.0f);
    CHECK(mlp_sigmoidf(17.0f) < 1.0f && mlp_sigmoidf(17.5f) == 1.0f && mlp_sigmoidf(40.5f) == 1.0f &&
          mlp_sigmoidf(1e30f) == 1.0f && mlp_sigmoidf(INFINITY) == 1.0f);
    CHECK(isnan(mlp_sigmoidf(NAN)) && isnan(mlp_sigmoidf(-NAN)));
}

/* mlp_tanhf (vmath.h: 2·σ(2x) − 1 in double, rounded once) against tanhl rounded to float: within one ulp, and the
   correctly rounded value but for at most one in 10,000 (the double's error is below 2^-40 of the result); x itself
   below 2^-12 in magnitude, ±1 beyond 9.01, NaN for NaN. Without extended precision (valgrind) the reference is
   only double's, and up to one in 100 may differ. */
static void test_tanhf_accuracy(void)
{
    const int extended = long_double_is_extended();
    const long samples = accuracy_samples();
    long off = 0, far = 0;
    float worst_x = 0;
    for (long s = 0; s < samples; s++) {
        const float x = s % 3 == 0   ? (float)rng_uniform(-10, 10)
                        : s % 3 == 1 ? (float)rng_uniform(-1, 1)
                                     : (float)(rng_uniform(-1.0, 1.0) * pow(2.0, rng_uniform(-30, 0)));
        const float got = mlp_tanhf(x), want = (float)tanhl((long double)x);
        off += got != want;
        if (got != want && nextafterf(got, want) != want) {
            far++;
            worst_x = x;
        }
    }
    CHECKF(far == 0 && off <= samples / 10000 + (extended ? 0 : samples / 100), "mlp_tanhf: %ld of %ld not the "
           "correctly rounded value, %ld more than one ulp from it (one at x = %a)", off, samples, far,
           (double)worst_x);
    printf("     mlp_tanhf: %ld of %ld values not correctly rounded, none by more than one ulp\n", off, samples);
    CHECK(mlp_tanhf(0x1p-13f) == 0x1p-13f && mlp_tanhf(-0x1p-13f) == -0x1p-13f && signbit(mlp_tanhf(-0.0f)));
    CHECK(mlp_tanhf(9.1f) == 1.0f && mlp_tanhf(-9.1f) == -1.0f && mlp_tanhf(INFINITY) == 1.0f &&
          mlp_tanhf(-INFINITY) == -1.0f && mlp_tanhf(1e30f) == 1.0f && mlp_tanhf(-1e30f) == -1.0f);
    CHECK(isnan(mlp_tanhf(NAN)));
}

/* The SIMD sigmoid (sigmoid_simd_impl.h's four lanes, both look-ups where the CPU has them) gives the scalar one's
   bits in every lane. */
static void test_sigmoid4_same_bits(void)
{
#ifdef MLP_X86_DISPATCH
    const int has_avx2 = MLP_CPU_AVX2_FMA(), has_vl = MLP_CPU_AVX512VL();
    const double special[] = {0.0, -0.0, 1e-300, -1e-300, 0.5, -0.5, MLP_SIGMOID_FLUSH, -MLP_SIGMOID_FLUSH,
                              nextafter(-MLP_SIGMOID_FLUSH, -INFINITY), 708.5, -708.5, 709.78, -709.78, 745.2,
                              -745.2, 1e300, -1e300, INFINITY, -INFINITY, NAN, 36.7, -36.7, 16.6, -16.6};
    const long nspecial = (long)(sizeof special / sizeof special[0]), samples = 200000;
    long mismatches = 0;
    for (long s = 0; s < samples; s++) {
        double z[4], got[4];
        for (int l = 0; l < 4; l++) {
            const long k = 4 * s + l;
            z[l] = k < nspecial ? special[k]
                   : l % 2     ? rng_uniform(-800, 800)
                               : rng_uniform(-1.0, 1.0) * pow(2.0, rng_uniform(-30, 6));
        }
        for (int variant = 0; variant < 2; variant++) {
            if (variant == 0 ? !has_avx2 : !has_vl) {
                continue;
            }
            (variant == 0 ? sigmoid4_call_avx2 : sigmoid4_call_avx512vl)(z, got);
            for (int l = 0; l < 4; l++) {
                const double want = mlp_sigmoid(z[l]);
                if (memcmp(&want, &got[l], sizeof want) != 0 && !(isnan(want) && isnan(got[l]))) {
                    if (mismatches++ < 4) {
                        CHECKF(0, "sigmoid4 (%s): %a at z = %a, scalar %a", variant ? "avx512vl" : "avx2", got[l],
                               z[l], want);
                    }
                }
            }
        }
    }
    CHECKF(mismatches == 0, "%ld lanes differ from the scalar sigmoid", mismatches);
    printf("     sigmoid4: %s%s against the scalar sigmoid\n", has_avx2 ? "avx2 " : "", has_vl ? "avx512vl " : "");
#endif
}

/* A sigmoid layer's loop (mlp_activate) in each build the CPU has — portable, AVX2 (sigmoid_simd_impl.h's four
   lanes), AVX-512 (its eight, from 64 values on) — gives the scalar function's bits in both precisions, on buffers
   of every length up to 80 and one of 1000 (full vectors and every tail), specials included; and so does float's
   tanh, which runs on the same lanes. */
static void test_sigmoid_loops_same_bits(void)
{
    const double special[] = {0.0, -0.0, 1e-300, 0.5, -0.5, MLP_SIGMOID_FLUSH, -MLP_SIGMOID_FLUSH, 708.5, -708.5,
                              88.7, -88.7, 87.3, -87.4, 103.3, -103.3, 1e300, -1e300, INFINITY, -INFINITY, NAN,
                              16.6, -16.6, 36.7, -36.7};
    const size_t nspecial = sizeof special / sizeof special[0];
    const mlp_isa isas[] = {MLP_ISA_GENERIC, MLP_ISA_AVX2, MLP_ISA_AVX512};
    static double z64[1000], a64[1000];
    static float z32[1000], a32[1000], t32[1000];
    long mismatches = 0, runs = 0;
    for (size_t len = 1; len <= 1000; len = len < 80 ? len + 1 : len == 80 ? 1000 : 1001) {
        for (int round = 0; round < 20; round++) {
            for (size_t k = 0; k < len; k++) {
                const size_t pick = (size_t)(rng_next() % (4 * nspecial));
                z64[k] = pick < nspecial ? special[pick]
                         : k % 2        ? rng_uniform(-120, 120)
                                        : rng_uniform(-1.0, 1.0) * pow(2.0, rng_uniform(-30, 6));
                z32[k] = (float)z64[k];
            }
            for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
                if (!mlp_isa_available(isas[i])) {
                    continue;
                }
                runs++;
                memcpy(a64, z64, len * sizeof *a64);
                memcpy(a32, z32, len * sizeof *a32);
                memcpy(t32, z32, len * sizeof *t32);
                mlp_activate_f64(isas[i], MLP_ACT(MLP_SIGMOID), 1, len, a64);
                mlp_activate_f32(isas[i], MLP_ACT(MLP_SIGMOID), 1, len, a32);
                mlp_activate_f32(isas[i], MLP_ACT(MLP_TANH), 1, len, t32);
                for (size_t k = 0; k < len; k++) {
                    const double want = mlp_sigmoid(z64[k]);
                    const float want32 = mlp_sigmoidf(z32[k]), tanh32 = mlp_tanhf(z32[k]);
                    const int same64 = memcmp(&want, &a64[k], sizeof want) == 0 || (isnan(want) && isnan(a64[k]));
                    const int same32 = (memcmp(&want32, &a32[k], sizeof want32) == 0 ||
                                        (isnan(want32) && isnan(a32[k]))) &&
                                       (memcmp(&tanh32, &t32[k], sizeof tanh32) == 0 ||
                                        (isnan(tanh32) && isnan(t32[k])));
                    if ((!same64 || !same32) && mismatches++ < 4) {
                        CHECKF(0, "sigmoid loops (isa %d, length %zu): z = %a gives %a / %a, tanh %a; scalar %a / "
                               "%a, tanh %a", (int)isas[i], len, z64[k], a64[k], (double)a32[k], (double)t32[k], want,
                               (double)want32, (double)tanh32);
                    }
                }
            }
        }
    }
    CHECKF(mismatches == 0, "%ld values differ from the scalar sigmoid", mismatches);
    printf("     sigmoid loops: %ld runs against the scalar sigmoid and tanhf (avx2 %s, avx512 %s)\n", runs,
           mlp_isa_available(MLP_ISA_AVX2) ? "yes" : "no", mlp_isa_available(MLP_ISA_AVX512) ? "yes" : "no");
}

static void test_workspace_sizes(void)
{
    mlp_dims d = {4, 2, 3, 1, MLP_THREADS(1)};
    /* update: dW1 (2·3) + db1 (3) + dW2 (3·1) + db2 (1) */
    CHECK(mlp_lecture_update_workspace(&d) == 6 + 3 + 3 + 1);
    /* step: the engine's for training the 2-3-1 network on batches of 4 rows: per row Z (1), A1 (3), P (1), two
       deltas (2·3), a row sum and max (2), the gathered X and y (2 + 1); then the gradients, as the update's; and
       a float's cache line for each of its 4L + 6 parts and its start, which net_layout puts on lines */
    CHECK(mlp_lecture_step_workspace(&d) == 4 * (1 + 3 + 1 + 6 + 2 + 3) + 13 + (4 * 2 + 7) * MLP_LINE_BYTES / 4);
    const size_t big = SIZE_MAX / 2 + 1;
    const mlp_threads one = MLP_THREADS(1);
    mlp_dims huge_n = {big, 1, 1, 1, one}, huge_in = {1, big, 3, 1, one}, huge_hidden = {1, 1, SIZE_MAX, 1, one};
    mlp_dims huge_out = {1, 1, 1, SIZE_MAX, one}, square = {(size_t)1 << 33, 1, (size_t)1 << 31, 1, one};
    CHECK(mlp_lecture_step_workspace(&huge_n) == 0);      /* n·(per row) overflows */
    CHECK(mlp_lecture_update_workspace(&huge_n) == 1 + 1 + 1 + 1); /* does not depend on n */
    CHECK(mlp_lecture_update_workspace(&huge_in) == 0);  /* in·hidden overflows */
    CHECK(mlp_lecture_step_workspace(&huge_in) == 0);
    CHECK(mlp_lecture_update_workspace(&huge_hidden) == 0); /* hidden + ... overflows */
    CHECK(mlp_lecture_step_workspace(&huge_hidden) == 0);
    CHECK(mlp_lecture_update_workspace(&huge_out) == 0);
    CHECK(mlp_lecture_step_workspace(&square) == 0); /* 2^33 · (2^31 + 1) · 2 > 2^64 */
    /* the largest that fits: 1·1 + 1 + 1·K + K = SIZE_MAX − 1 for K = (SIZE_MAX − 3) / 2; one more overflows */
    const size_t K = (SIZE_MAX - 3) / 2;
    mlp_dims edge = {1, 1, 1, K, MLP_THREADS(1)}, over = {1, 1, 1, K + 1, MLP_THREADS(1)};
    CHECK(mlp_lecture_update_workspace(&edge) == SIZE_MAX - 1);
    CHECK(mlp_lecture_update_workspace(&over) == 0);
}

/* Which layers' X·W + b sum in halves, and where the sum is cut: more than 4 wide, at least 256 inputs, at most
   2^19 weights; at the multiple of 16 that halves the sum's 16-blocks (rounded down), the end of the first of two
   row parts of the layer's Xᵀ·D. The forward's workspace holds the scratch of a layer that does, else 1 scalar. */
static void test_dense_halves(void)
{
    static const size_t cases[][3] = {{784, 128, 384}, {784, 512, 384}, {300, 5, 144}, {256, 2048, 128},
                                      {257, 10, 128},  {272, 10, 128},  {288, 10, 144}, {300, 4, 0},
                                      {255, 100, 0},   {256, 2049, 0},  {1024, 1024, 0}, {64, 64, 0}};
    for (size_t c = 0; c < COUNT(cases); c++) {
        const size_t got = mlp_dense_halves_at(cases[c][0], cases[c][1]);
        CHECKF(got == cases[c][2], "mlp_dense_halves_at(%zu, %zu) = %zu, expected %zu", cases[c][0], cases[c][1], got,
               cases[c][2]);
    }
    mlp_dims lecture = {4, 2, 3, 1, MLP_THREADS(1)}, mnist = {128, 784, 128, 10, MLP_THREADS(1)};
    mlp_dims second = {6, 3, 300, 20, MLP_THREADS(1)}, huge = {SIZE_MAX / 64, 784, 128, 10, MLP_THREADS(1)};
    CHECK(mlp_lecture_forward_workspace(&lecture) == 1);
    CHECK(mlp_lecture_forward_workspace(&mnist) == 128 * 128);
    CHECK(mlp_lecture_forward_workspace(&second) == 6 * 20); /* the second layer's (300, 20) only */
    CHECK(mlp_lecture_forward_workspace(&huge) == 0);        /* n·hidden overflows */
}

/* MLPEXT_NUM_THREADS as the core reads it: a positive integer (strtol's form, trailing spaces allowed), capped at
   MLP_MAX_THREADS; unset or empty: the CPUs this process may use; anything else: 0 (the binding's ValueError). */
static void test_thread_limit(void)
{
    const size_t cpus = mlp_cpu_count() < MLP_MAX_THREADS ? mlp_cpu_count() : MLP_MAX_THREADS;
    CHECK(mlp_thread_limit(NULL) == cpus && mlp_thread_limit("") == cpus);
    CHECK(mlp_thread_limit("1") == 1 && mlp_thread_limit("3") == 3 && mlp_thread_limit(" +3  ") == 3);
    CHECK(mlp_thread_limit("64") == MLP_MAX_THREADS && mlp_thread_limit("100000") == MLP_MAX_THREADS);
    static const char *const bad[] = {"0", "-2", "abc", "2x", "2.5", " ", "99999999999999999999999", "\t2\t"};
    for (size_t k = 0; k < COUNT(bad); k++) {
        CHECKF(mlp_thread_limit(bad[k]) == 0, "MLPEXT_NUM_THREADS='%s' is refused", bad[k]);
    }
}

/* Each part of a product records its thread's floating-point flush bits and x87 control word
   (test_parts_take_the_callers_fpmode). */
typedef struct {
    mlp_fpmode seen[MLP_MAX_THREADS];
    unsigned short x87[MLP_MAX_THREADS];
    mlp_atomic_int ran; /* bit k: part k ran */
} fpmode_parts;
static void record_fpmode(void *arg, size_t part, size_t parts)
{
    fpmode_parts *r = arg;
    r->seen[part] = mlp_fpmode_get() & MLP_FPMODE_FLUSH_BITS;
    r->x87[part] = mlp_fpenv_get().x87;
    mlp_atomic_add_int(&r->ran, 1 << part);
    /* part 0 (the caller's) waits up to a second for the others, so that the helpers run theirs rather than the
       caller taking them over */
    const int all = (1 << parts) - 1;
    for (const int64_t start = mlp_now_ns(); part == 0 && mlp_atomic_load_int(&r->ran) != all &&
                                             mlp_now_ns() - start < 1000000000;) {
        MLP_CPU_RELAX();
    }
}

/* The parts of a product run in the caller's floating-point mode — subnormals flushed (the binding's kernel
   sections: mlp_fpmode_flush) or kept (mlp_fpmode_keep) — on threads started for them and on a team's helpers,
   whatever mode the helpers ran their last part in; and the caller's mode is back after mlp_fpmode_restore. The
   mode as it holds: valgrind does not emulate FTZ and DAZ (it reads MXCSR back without them), so there both
   rounds expect subnormals kept, and the arithmetic check is left out. On x86 with GCC the parts also take the
   caller's x87 control word (mlp_fpenv), its precision set to double and to extended in turn. */
static void test_parts_take_the_callers_fpmode(void)
{
    const mlp_fpmode own = mlp_fpmode_get();
    const mlp_fpenv own_env = mlp_fpenv_get();
    void *memory = malloc(mlp_team_bytes());
    mlp_team *team = mlp_team_start(memory, 2);
    CHECKF(team != NULL, "a team of 2 helpers starts");
    for (int round = 0; round < 4; round++) { /* flush, keep, flush, keep: each mode after the other on the team */
        const int flush = round % 2 == 0;
        for (int on_team = 0; on_team < 2; on_team++) {
            mlp_fpenv precision = own_env; /* precision control, bits 8-9: 2 double, 3 extended */
            precision.x87 = (unsigned short)((own_env.x87 & ~0x300u) | (round < 2 ? 0x200u : 0x300u));
            mlp_fpenv_set(precision);
            const unsigned short want_x87 = mlp_fpenv_get().x87;
            const mlp_fpmode before = flush ? mlp_fpmode_flush() : mlp_fpmode_keep();
            const mlp_fpmode want = mlp_fpmode_get() & MLP_FPMODE_FLUSH_BITS;
            fpmode_parts r;
            mlp_atomic_init_int(&r.ran, 0);
            for (size_t k = 0; k < MLP_MAX_THREADS; k++) {
                r.seen[k] = want ^ MLP_FPMODE_FLUSH_BITS; /* the other mode: a part that did not record fails */
            }
            mlp_threads threads = MLP_THREADS(3);
            threads.team = on_team ? team : NULL;
            mlp_parallel(threads, MLP_PARALLEL_START_MIN_OPS, record_fpmode, &r);
            mlp_fpmode_restore(before);
            const int ran = mlp_atomic_load_int(&r.ran);
            CHECKF(ran == 7, "3 parts ran (%s), got the set %x", on_team ? "on a team" : "started", ran);
            for (size_t k = 0; k < 3; k++) {
                CHECKF(r.seen[k] == want, "part %zu (%s) ran with subnormals %s, as its caller", k,
                       on_team ? "on a team" : "started", flush ? "flushed" : "kept");
                CHECKF(r.x87[k] == want_x87, "part %zu (%s) ran with the x87 control word %#x, its caller's %#x", k,
                       on_team ? "on a team" : "started", r.x87[k], want_x87);
            }
            mlp_fpenv_set(own_env);
            CHECKF(mlp_fpmode_get() == own, "the caller's own mode is back (round %d)", round);
        }
    }
    if (team != NULL) {
        mlp_team_stop(team);
    }
    free(memory);
#if MLP_FPMODE_FLUSH_BITS != 0 /* where the core can flush: it does, and arithmetic shows it */
    volatile double tiny = DBL_MIN, half = 0.5;
    const mlp_fpmode before = mlp_fpmode_flush();
    const int holds = (mlp_fpmode_get() & MLP_FPMODE_FLUSH_BITS) == MLP_FPMODE_FLUSH_BITS;
    volatile double flushed = tiny * half; /* stored before the mode is restored */
    mlp_fpmode_restore(before);
    const double kept = tiny * half;
    if (holds) {
        CHECKF(flushed == 0.0 && kept == DBL_MIN / 2, "DBL_MIN / 2 is 0 flushed (got %g), subnormal after (got %g)",
               flushed, kept);
    } else {
        printf("     the flush-to-zero mode does not hold here (valgrind does not emulate it)\n");
    }
#endif
}

/* An allocator that counts what it hands out and gets back (test_team_shared, test_block_kept reset them). */
static size_t counted_takes, counted_gives;
static void *counted_take(size_t bytes) { counted_takes++; return malloc(bytes); }
static void counted_give(void *memory) { counted_gives++; free(memory); }

/* The team a module keeps: started once, found again, replaced when a parent process left it, stopped on drop. */
static void test_team_shared(void)
{
    const mlp_alloc alloc = {counted_take, counted_give};
    counted_takes = counted_gives = 0;
    mlp_atomic_ptr slot;
    mlp_atomic_store_ptr(&slot, NULL);
    mlp_team *team = mlp_team_shared(&slot, 3, alloc);
    CHECKF(team != NULL && mlp_atomic_load_ptr(&slot) == team && mlp_team_helpers(team) == 2,
           "a team of 2 helpers is started and kept");
    CHECK(mlp_team_shared(&slot, 5, alloc) == team && counted_takes == 1); /* kept: not started again */
#if FORK_CHECKED /* (see FORK_CHECKED) */
    /* The child has none of the team's threads: it must start its own. It reports through a pipe, not its exit
       status, which valgrind would set to its own on any error in the child. */
    int fds[2];
    const int piped = pipe(fds) == 0;
    const pid_t child = piped ? fork() : -1;
    if (child == 0) {
        alarm(60); /* a child that hangs is killed: the parent then hears nothing and the check fails */
        close(fds[0]);
        mlp_team *own = mlp_team_shared(&slot, 2, alloc);
        int ok = own != NULL && own != team && mlp_atomic_load_ptr(&slot) == own && mlp_team_ours(own);
        mlp_team_drop(&slot, alloc);
        const char said = ok && mlp_atomic_load_ptr(&slot) == NULL ? 'y' : 'n';
        ok = write(fds[1], &said, 1) == 1;
        free(team); /* the parent's copy, which the core leaves alone: freed here for valgrind's leak check */
        _exit(ok ? 0 : 1);
    }
    char heard = 0;
    if (piped) {
        close(fds[1]);
        if (child > 0 && read(fds[0], &heard, 1) != 1) {
            heard = 0;
        }
        close(fds[0]);
    }
    int status = -1;
    CHECKF(child > 0 && waitpid(child, &status, 0) == child && heard == 'y',
           "after fork() the child starts a team of its own (it said '%c')", heard ? heard : '?');
#endif
    mlp_team_drop(&slot, alloc);
    CHECK(mlp_atomic_load_ptr(&slot) == NULL && counted_gives == 1);
    mlp_team_drop(&slot, alloc); /* nothing kept: nothing to do */
    CHECK(counted_gives == 1);
}

/* The scratch block a module keeps between calls: reused when large enough, replaced when not, never kept above
   MLP_BLOCK_KEEP_MAX or without a slot, given back on request; every block taken is given back once. */
static void test_block_kept(void)
{
    const mlp_alloc alloc = {counted_take, counted_give};
    counted_takes = counted_gives = 0;
    mlp_atomic_ptr slot;
    mlp_atomic_store_ptr(&slot, NULL);
    char *a = mlp_block_get(&slot, 1000, alloc);
    CHECK(a != NULL && counted_takes == 1 && (uintptr_t)a % 16 == 0);
    memset(a, 1, 1000);
    mlp_block_put(&slot, a, alloc);
    CHECK(mlp_block_kept(&slot, 0, alloc) == MLP_BLOCK_HEAD + 1000 && counted_gives == 0);
    char *b = mlp_block_get(&slot, 600, alloc); /* the kept block, taken out of the slot */
    CHECK(b == a && counted_takes == 1 && mlp_block_kept(&slot, 0, alloc) == 0);
    memset(b, 2, 600);
    mlp_block_put(&slot, b, alloc);
    char *c = mlp_block_get(&slot, 5000, alloc); /* too small: given back, a new one taken */
    CHECK(c != NULL && counted_takes == 2 && counted_gives == 1);
    memset(c, 3, 5000);
    char *d = mlp_block_get(&slot, 100, alloc); /* none kept: a second block */
    CHECK(d != NULL && d != c && counted_takes == 3);
    mlp_block_put(&slot, c, alloc);
    mlp_block_put(&slot, d, alloc); /* replaces c, which is given back */
    CHECK(counted_gives == 2 && mlp_block_kept(&slot, 0, alloc) == MLP_BLOCK_HEAD + 100);
    CHECK(mlp_block_kept(&slot, 1, alloc) == MLP_BLOCK_HEAD + 100 && counted_gives == 3);
    CHECK(mlp_block_kept(&slot, 1, alloc) == 0 && counted_gives == 3);
    char *e = mlp_block_get(NULL, 100, alloc); /* no slot: nothing kept */
    mlp_block_put(NULL, e, alloc);
    CHECK(counted_takes == 4 && counted_gives == 4);
    char *big = mlp_block_get(&slot, MLP_BLOCK_KEEP_MAX + 1, alloc); /* above the limit: never kept */
    if (big != NULL) {
        mlp_block_put(&slot, big, alloc);
        CHECK(mlp_block_kept(&slot, 0, alloc) == 0 && counted_takes == counted_gives);
    }
    mlp_block_put(&slot, NULL, alloc);
    CHECK(mlp_block_get(&slot, SIZE_MAX - 8, alloc) == NULL && counted_takes == counted_gives);
}

static void test_simd_path(void)
{
    const char *path = mlp_simd_path(MLP_ISA_BEST);
    CHECK(path != NULL);
    if (path != NULL) {
        CHECKF(strncmp(path, "avx512f", 7) == 0 || strcmp(path, "avx2") == 0 || strcmp(path, "sse2") == 0 ||
                   strcmp(path, "generic") == 0,
               "unexpected SIMD path '%s'", path);
        printf("     SIMD path: %s\n", path);
    }
}

int main(void)
{
    const char *seed = getenv("MLPEXT_C_SEED");
    if (seed != NULL && *seed) {
        rng_state = strtoull(seed, NULL, 0) | 1;
    }
#define BOTH(name)                                                                                               \
    run_test(#name "_f64", name##_f64);                                                                          \
    run_test(#name "_f32", name##_f32);

    run_test("simd_path", test_simd_path);
    run_test("thread_limit", test_thread_limit);
    run_test("team_shared", test_team_shared);
    run_test("parts_take_the_callers_fpmode", test_parts_take_the_callers_fpmode);
    run_test("block_kept", test_block_kept);
    run_test("exp_accuracy", test_exp_accuracy);
    run_test("log_accuracy", test_log_accuracy);
    run_test("sigmoid_accuracy", test_sigmoid_accuracy);
    run_test("sigmoidf_accuracy", test_sigmoidf_accuracy);
    run_test("tanhf_accuracy", test_tanhf_accuracy);
    run_test("sigmoid4_same_bits", test_sigmoid4_same_bits);
    run_test("sigmoid_loops_same_bits", test_sigmoid_loops_same_bits);
    run_test("workspace_sizes", test_workspace_sizes);
    run_test("dense_halves", test_dense_halves);
    run_test("fma_hard_cases", test_fma_hard_cases);
    run_test("fma_libm", test_fma_libm);
#if defined(MLP_X86_DISPATCH) || defined(__aarch64__)
    run_test("fma_soft_vs_hardware", test_fma_soft_vs_hardware);
#endif
    BOTH(test_sigmoid_exact)
    BOTH(test_sigmoid_same_bits_any_length)
    BOTH(test_sigmoid_special_values)
    BOTH(test_sigmoid_vs_libm)
    BOTH(test_activation_identity)
    BOTH(test_all_activations_exact)
    BOTH(test_softmax_properties)
    BOTH(test_mul_activation_grad_exact)
    BOTH(test_dense_forward_exact)
    BOTH(test_dense_forward_vs_long_double)
    BOTH(test_dense_backward_delta_exact)
    BOTH(test_dense_param_grads_exact)
    BOTH(test_dense_products_each_path)
    BOTH(test_dense_rows_independent_of_batch)
    BOTH(test_dense_products_blocked)
    BOTH(test_dense_threads_same_bits)
    BOTH(test_dense_team_same_bits)
    BOTH(test_dense_shared_b_same_bits)
    BOTH(test_add_scaled_exact)
    BOTH(test_lecture_forward_exact)
    BOTH(test_lecture_backward_exact)
    BOTH(test_lecture_loss_order)
    BOTH(test_lecture_update_exact)
    BOTH(test_lecture_step_exact)
    BOTH(test_lecture_train_is_repeated_step)
    BOTH(test_lecture_trace_exact)
    BOTH(test_lecture_xor_learns)
    BOTH(test_saturated_no_nan)

    printf("%d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed ? 1 : 0;
}
