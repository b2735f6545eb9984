/*
 * vmath.h — an exp and a sigmoid written to vectorize: no branches, no libm call but fma(), so a loop over a
 * buffer compiles to SIMD code at whatever width the enclosing function is built for (SSE2, AVX2, AVX-512; the
 * table look-ups become gathers). Every step is one IEEE operation, so every build and every dispatch path gives
 * bit-identical results.
 *
 * mlp_exp (softmax, the cross-entropy loss) uses no FMA. Accuracy (tests/c/test_kernels.c measures it against
 * long double): within 0.52 ulp for x in [-708.39, 709.78],
 * i.e. nearly always correctly rounded; +inf above (the true value overflows); 0 below, where the true value is
 * subnormal (flushed: the sigmoid built on it is exactly 1 there either way); NaN stays NaN.
 *
 * Method (the table-driven scheme of Tang, as in ARM's optimized-routines): x = (k·128 + j)·ln2/128 + r with
 * |r| <= ln2/256, split so the product with ln2/128's high part is exact; then
 *     e^x = 2^k · 2^(j/128) · e^r,   e^r ≈ 1 + r + r²/2 + r³/6 + r⁴/24 + r⁵/120  (truncation < 1e-18),
 * where 2^(j/128) comes from exp_table.h as a double plus the relative error of that double, which is added
 * to the polynomial so the table costs no accuracy.
 *
 * mlp_sigmoid has an exp of its own, rearranged for latency (see there).
 */
#ifndef MLPEXT_VMATH_H
#define MLPEXT_VMATH_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "compiler.h"
#include "exp_table.h"

static inline uint64_t mlp_bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double mlp_from_bits(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define MLP_EXP_OVERFLOW 0x1.62e42fefa39efp+9   /* ln(DBL_MAX) = 709.78...: above, e^x is +inf */
#define MLP_EXP_SUBNORMAL -0x1.6232bdd7abcd2p+9 /* ln(DBL_MIN) = -708.39...: below, e^x is flushed to 0 */

MLP_INLINE double mlp_exp(double x)
{
    const double n_over_ln2 = 0x1.71547652b82fep0 * 128;
    const double shift = 0x1.8p52; /* adding it rounds to an integer, which lands in the low mantissa bits */
    const double ln2_hi = 0x1.62e42fef80000p-8, ln2_lo = 0x1.1cf79abc9e3b4p-43; /* ln2/128: hi·m exact, |m| < 2^18 */
    double md = x * n_over_ln2 + shift;
    uint64_t mi = mlp_bits(md); /* low bits: 0x4338000000000000 + m, m = 128·k + j */
    md -= shift;
    double r = (x - md * ln2_hi) - md * ln2_lo;
    uint64_t j = mi & (MLP_EXP_TABLE_SIZE - 1);
    /* k reaches 1024 just below the overflow threshold, so for x > 0 the scale is 2^(k−1) and t is doubled */
    double t = MLP_EXP2_TABLE[j][0] * (x > 0 ? 2.0 : 1.0), t_err = MLP_EXP2_TABLE[j][1];
    double r2 = r * r;
    double p = (t_err + r) + (r2 * (0.5 + r * (1.0 / 6)) + (r2 * r2) * (1.0 / 24 + r * (1.0 / 120)));
    /* 2^k into the exponent bits: (mi − j) << 45 is k << 52 modulo the shift's bits, which the bias clears. */
    uint64_t bias = x > 0 ? (uint64_t)1022 << 52 : (uint64_t)1023 << 52;
    double y = (t + t * p) * mlp_from_bits(((mi - j) << 45) + bias);
    y = x > MLP_EXP_OVERFLOW ? (double)INFINITY : y;
    return x < MLP_EXP_SUBNORMAL ? 0.0 : y;
}

/* x·2^e, x in [1, 2) or any x whose result is normal: steps of 2^±1000 that stay normal, then one multiply, so
   the result is rounded once (when it is subnormal) or exact. */
static inline double mlp_scale2(double x, int e)
{
    while (e > 1000) {
        x *= 0x1p1000;
        e -= 1000;
    }
    while (e < -1000) {
        x *= 0x1p-1000;
        e += 1000;
    }
    /* 2^e, e in [-1000, 1000]: a normal double */
    return x * mlp_from_bits((uint64_t)(e + 1023) << 52);
}

/* The binary exponent of a finite x != 0 (ilogb). */
static inline int mlp_exponent(double x)
{
    const int e = (int)((mlp_bits(x) >> 52) & 0x7ff);
    return e == 0 ? mlp_exponent(x * 0x1p64) - 64 : e - 1023;
}

/* s + err = x + y exactly (Knuth's TwoSum), s the rounded sum. */
static inline double mlp_two_sum(double x, double y, double *err)
{
    const double s = x + y, bb = s - x;
    *err = (x - (s - bb)) + (y - bb);
    return s;
}

/* a·b + c rounded once, in plain double arithmetic: the portable path's fused multiply-add where the C library's
   fma() cannot be trusted (mingw-w64's rounds wrongly on about 30 % of inputs; tests/c/test_kernels.c checks the
   one a build uses). Boldo and Melquiond's emulation ("Emulation of FMA and correctly rounded sums: proved
   algorithms using rounding to odd", IEEE TC 2008): with a·b = uh + ul exactly (Veltkamp/Dekker), c + uh = th + tl
   exactly (TwoSum), RN(th + RO(tl + ul)) = RN(a·b + c), RO rounding to odd. Run on a, b scaled to [1, 2) and c by
   the same power of two, so that no step overflows or underflows. Correctly rounded wherever the result is normal,
   zero, infinite or NaN; a subnormal result (the sigmoid has none) is rounded to odd, then to nearest, and may
   differ from the correctly rounded one in its last bit. Requires FLT_EVAL_METHOD 0 (SSE2, not x87) and no
   contraction (-ffp-contract=off, /fp:precise). */
static inline double mlp_fma_soft(double a, double b, double c)
{
    if (!isfinite(a) || !isfinite(b) || a == 0 || b == 0) {
        return a * b + c; /* exact product (±0) or IEEE's own special cases */
    }
    if (!isfinite(c)) {
        return c;
    }
    if (c == 0) {
        return a * b; /* the exact sum is the exact product: one rounding */
    }
    const int ea = mlp_exponent(a), eb = mlp_exponent(b), ep = ea + eb, d = mlp_exponent(c) - ep;
    if (d >= 56) { /* |a·b| < 2^(ep + 2) <= half the gap below |c|: c is the rounded sum */
        return c;
    }
    const double as = mlp_scale2(a, -ea), bs = mlp_scale2(b, -eb); /* exact, in [1, 2) */
    /* c on the same scale, exact; or, far below the product (whose lowest bit weighs at least 2^-104), any
       value of its sign that decides the same roundings */
    const double cs = d >= -200 ? mlp_scale2(c, -ep) : (c > 0 ? 0x1p-300 : -0x1p-300);
    const double split = 0x1p27 + 1, ta = split * as, tb = split * bs;
    const double ah = ta - (ta - as), al = as - ah, bh = tb - (tb - bs), bl = bs - bh;
    const double uh = as * bs, ul = ((ah * bh - uh) + ah * bl + al * bh) + al * bl;
    double tl, e;
    const double th = mlp_two_sum(cs, uh, &tl);
    double v = mlp_two_sum(tl, ul, &e);
    if (e != 0 && (mlp_bits(v) & 1) == 0) { /* round to odd: the odd neighbour on e's side */
        v = mlp_from_bits(mlp_bits(v) + ((e > 0) == (v > 0) ? 1 : (uint64_t)-1));
    }
    double r = th + v;
    if (r == 0) {
        return r; /* exact cancellation: +0, as a·b + c gives in round-to-nearest */
    }
    const int er = mlp_exponent(r);
    if (er + ep < -1022) { /* subnormal: round to odd here, to nearest once in the scaling */
        r = mlp_two_sum(th, v, &e);
        if (e != 0 && (mlp_bits(r) & 1) == 0) {
            r = mlp_from_bits(mlp_bits(r) + ((e > 0) == (r > 0) ? 1 : (uint64_t)-1));
        }
    }
    return mlp_scale2(mlp_scale2(r, -er), er + ep);
}

/* a·b + c rounded once, which every build gets right:
   - GCC/Clang where the target has FMA (aarch64, x86 built with -mfma): the instruction;
   - GCC/Clang on x86 otherwise: MLP_BUILTIN_FMA, the instruction in the functions built for AVX2 or AVX-512
     (simd.h) and the C library's fma() in the portable ones — glibc's and macOS's round correctly;
   - Windows (mingw-w64, MSVC, clang-cl), whose C libraries' fma() is not to be trusted, or a build with
     -DMLP_SOFT_FMA: mlp_fma_soft above, in every function (slower, the same bits).
   MLP_FMA_LIBM says whether the build calls the C library's fma() anywhere (tests/c checks that it rounds right). */
#if defined(MLP_GNU) && (defined(__FMA__) || defined(__aarch64__))
#define MLP_FMA(a, b, c) MLP_BUILTIN_FMA((a), (b), (c))
#define MLP_FMA_LIBM 0
#elif defined(MLP_GNU) && !defined(_WIN32) && !defined(MLP_SOFT_FMA)
#define MLP_FMA(a, b, c) MLP_BUILTIN_FMA((a), (b), (c))
#define MLP_FMA_LIBM 1
#else
#define MLP_FMA(a, b, c) mlp_fma_soft((a), (b), (c))
#define MLP_FMA_LIBM 0
#endif

/* ln(1/DBL_MIN) = 708.39...: for z beyond ∓ this, σ(z) is below DBL_MIN (flushed to 0) or exactly 1. */
#define MLP_SIGMOID_FLUSH 0x1.6232bdd7abcd2p+9

/* The lecture's sigmoid 1 / (1 + e^−z), in double, with an exp of its own built for latency: in the lecture's
   one-pass epoch two sigmoids sit on the chain of dependent operations and are most of it. Every step is an
   IEEE operation (FMA included), so this scalar code, the loops the compiler vectorizes from it and the hand-
   written SIMD versions (sigmoid_simd_impl.h) give the same bits.

   Method: −z = m·ln2/8 − rn with m = 8k + j an integer (the FMA makes m·ln2_hi exact), |rn| <= ln2/16; then
       e^−z = 2^k · 2^(j/8) · e^r,  r = −rn,  e^r = 1 + r + r²·c(r),  c(r) = 1/2 + r/6 + ... + r⁶/8!
   (degree 8: truncation below 2e-18), with 2^(j/8) from an 8-entry table (exp_table.h) plus that entry's
   rounding error ("tail"), c by Estrin's scheme (4 operations deep), and
       1 + e^−z = hi + (ts·r²·c + (ts·(tail + r) + lo)),   ts = 2^k · 2^(j/8),  hi + lo = 1 + ts exactly (2Sum),
   so that 1 + e^−z is formed without rounding e^−z first, and the result is divided into 1.

   Accuracy, against long double over 20 million points: 1 + e^−z within 0.62 ulp, the sigmoid within 1.5 ulp
   of the exact 1 / (1 + e^−z) (tests/c/test_kernels.c checks that bound) — the same formula in double on glibc's
   exp is within 2.4 ulp. σ(z) is exactly 1 for z > 708.39 and, like the float32 sigmoid below FLT_MIN, flushed to 0 for
   z < −708.39, where it is below DBL_MIN (subnormal: it would only slow the products it enters); NaN stays
   NaN. */
MLP_INLINE double mlp_sigmoid(double z)
{
    const double n_over_ln2 = 0x1.71547652b82fep0 * 8, shift = 0x1.8p52; /* + shift: rounds to an integer */
    const double ln2_hi = 0x1.62e42fefa39efp-4, ln2_lo = 0x1.abc9e3b39803fp-59;  /* ln2/8 = hi + lo */
    double md = MLP_FMA(z, -n_over_ln2, shift);
    const uint64_t mi = mlp_bits(md); /* low bits: m = 8·k + j */
    md -= shift;
    const double rn = MLP_FMA(md, ln2_lo, MLP_FMA(md, ln2_hi, z)); /* z + m·ln2/8 = −r */
    const uint64_t j = mi & 7;
    /* 2^k into the exponent bits: (mi − j) << 49 is k << 52 modulo the shift's bits, which the bias clears;
       |z| <= 708.39 keeps k in [−1022, 1022], a normal scale */
    const double ts = MLP_EXP2_8[j] * mlp_from_bits(((mi - j) << 49) + ((uint64_t)1023 << 52));
    const double r2 = rn * rn, r4 = r2 * r2;
    const double c = MLP_FMA(r4, MLP_FMA(r2, 1.0 / 40320, MLP_FMA(rn, -1.0 / 5040, 1.0 / 720)),
                             MLP_FMA(r2, MLP_FMA(rn, -1.0 / 120, 1.0 / 24), MLP_FMA(rn, -1.0 / 6, 0.5)));
    const double hi = 1.0 + ts, hi_ts = hi - ts, lo = (ts - (hi - hi_ts)) + (1.0 - hi_ts);
    const double den = hi + MLP_FMA(ts * r2, c, MLP_FMA(ts, MLP_EXP2_8_TAIL[j] - rn, lo));
    const double s = 1.0 / den;
    return z > MLP_SIGMOID_FLUSH ? 1.0 : z < -MLP_SIGMOID_FLUSH ? 0.0 : s;
}

/* Where mlp_sigmoidf clamps z: below, σ(z) < 6.1e-39 is flushed to 0 either way; above, σ(z) is 1 in double. */
#define MLP_SIGMOIDF_LOW -88.0
#define MLP_SIGMOIDF_HIGH 40.0
/* e^−rn's Taylor coefficients (−1)^k / k!, k = 0 .. MLP_SIGMOIDF_DEGREE, for mlp_sigmoidf's Horner rule */
#define MLP_SIGMOIDF_DEGREE 9
static const double MLP_SIGMOIDF_TAYLOR[MLP_SIGMOIDF_DEGREE + 1] = {
    1.0, -1.0, 1.0 / 2, -1.0 / 6, 1.0 / 24, -1.0 / 120, 1.0 / 720, -1.0 / 5040, 1.0 / 40320, -1.0 / 362880};

/* The sigmoid for float: computed in double and rounded once, and a result below FLT_MIN (z < −87.34) flushed to
   0. NumPy's float32 sigmoid returns 0 from z < −88.7 on (its float exp overflows); a subnormal activation would
   only slow every product it enters (a multiply-add on a subnormal takes a microcode assist) for a difference below
   FLT_MIN.

   A float keeps 24 bits, so the double it is rounded from needs far fewer than mlp_sigmoid's 53, and is made with
   half the work (docs/benchmarks.md, "A leaner float32 sigmoid"):
       z clamped to [−88, 40] (MLP_SIGMOIDF_LOW, _HIGH; NaN kept),  e^−z = 2^n · e^−rn,  n = round(−z/ln2),
       rn = z + n·ln2 in one FMA (|rn| <= ln2/2; ln2's rounding error times |n| <= 127 moves rn by under 2^-45),
       e^−rn by its Taylor polynomial of degree 9 (Horner's rule; truncation below 1.4e-11 of e^−rn: |rn|^10/10!
       · e^|rn| over e^−|rn|), 1 / (1 + 2^n·e^−rn) in double, then rounded to float.
   The double is within about 1.4e-11 (2^-36) of the exact value; rounded to float it is the correctly rounded float
   but where the exact value lies within that of a point halfway between two floats: tools/exhaustive_sigmoid.c
   --accuracy counts those over every float (docs/design.md, "Exactness"), and no result is more than an ulp off.
   Every step is one IEEE operation (the FMA included), so this scalar code and the SIMD loops
   (sigmoid_simd_impl.h) give the same bits. */
MLP_INLINE float mlp_sigmoidf(float z)
{
    double x = z;
    x = x > MLP_SIGMOIDF_HIGH ? MLP_SIGMOIDF_HIGH : x;
    x = x < MLP_SIGMOIDF_LOW ? MLP_SIGMOIDF_LOW : x;
    double md = MLP_FMA(x, -0x1.71547652b82fep0, 0x1.8p52); /* + 2^52·1.5 rounds −x/ln2 to an integer n */
    const uint64_t mi = mlp_bits(md);                        /* its low bits: n */
    md -= 0x1.8p52;
    const double rn = MLP_FMA(md, 0x1.62e42fefa39efp-1, x); /* x + n·ln2 */
    double p = MLP_SIGMOIDF_TAYLOR[MLP_SIGMOIDF_DEGREE];
    for (int k = MLP_SIGMOIDF_DEGREE - 1; k >= 0; k--) {
        p = MLP_FMA(p, rn, MLP_SIGMOIDF_TAYLOR[k]);
    }
    /* 2^n: n (in [−58, 127]) into the exponent bits, modulo the shift's bits, which the bias clears */
    const double e = p * mlp_from_bits((mi << 52) + ((uint64_t)1023 << 52));
    const float s = (float)(1.0 / (1.0 + e));
    return s < FLT_MIN ? 0.0f : s;
}

/* tanh for float from the sigmoid in double: 2·σ(2x) − 1, rounded once; x itself where |x| < 2^-12 (there tanh x
   rounds to x, and the formula's absolute error, a few ulps of 1/2 in double, would be large beside x). Elsewhere
   that error is below 2^-40 of the result, so it is nearly always the correctly rounded float (tests/c/
   test_kernels.c measures it against long double); ±1 beyond |x| > 9.01, NaN for NaN. libm's tanhf is a scalar
   call, several times the sigmoid's cost. */
MLP_INLINE float mlp_tanhf(float x)
{
    const float t = (float)(2.0 * mlp_sigmoid(2.0 * (double)x) - 1.0);
    return fabsf(x) < 0x1p-12f ? x : t;
}

/* ln x in double, written to vectorize as mlp_exp is (BCE's float32 logarithms, net_impl.h). fdlibm's method
   (e_log.c): x = 2^k·m, m in [√2/2, √2), f = m − 1, s = f/(2 + f), so that ln m = 2·atanh(s) = f − (f²/2 −
   s·(f²/2 + R(s²))) with R a degree-7 minimax polynomial in s² (|s| <= 0.1716); then k·ln2 added in two parts,
   the high one exact. Within 1 ulp (tests/c/test_kernels.c measures it against long double). x = 0: −inf;
   x < 0 or NaN: NaN; +inf: +inf; a subnormal x is scaled by 2^54 first. */
MLP_INLINE double mlp_log(double x)
{
    const double lg1 = 6.666666666666735130e-01, lg2 = 3.999999999940941908e-01, lg3 = 2.857142874366239149e-01;
    const double lg4 = 2.222219843214978396e-01, lg5 = 1.818357216161805012e-01, lg6 = 1.531383769920937332e-01;
    const double lg7 = 1.479819860511658591e-01;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10; /* k·ln2_hi exact */
    const int tiny = x < DBL_MIN;
    /* + (0x3ff00000 − 0x3fe6a09e) in the high word: the exponent field then holds k + 1023, where m = x/2^k is
       in [√2/2, √2) */
    const uint64_t hx = mlp_bits(tiny ? x * 0x1p54 : x) + ((uint64_t)(0x3ff00000 - 0x3fe6a09e) << 32);
    /* k as a double: 2^52 + the exponent field, less 2^52 + 1023 (and 54 if scaled); exact */
    const double dk = (mlp_from_bits((hx >> 52) | 0x4330000000000000) - (0x1p52 + 1023)) - (tiny ? 54.0 : 0.0);
    const double f = mlp_from_bits((hx & 0x000fffffffffffff) + ((uint64_t)0x3fe6a09e << 32)) - 1.0;
    const double hfsq = 0.5 * f * f, s = f / (2.0 + f), z = s * s, w = z * z;
    const double R = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7))) + w * (lg2 + w * (lg4 + w * lg6));
    const double r = (((s * (hfsq + R) + dk * ln2_lo) - hfsq) + f) + dk * ln2_hi;
    return x > 0 && x < (double)INFINITY ? r : x == 0 ? -(double)INFINITY : x > 0 ? x : (double)NAN;
}

/* ln p and ln(1 − p) for a float p in [0, 1], each computed in double (mlp_log) and rounded once: ln(1 − p) as
   ln u + ((1 − u) − p), u = 1 − p rounded, whose rounding error (1 − u) − p is exact and is all that ln(1 − p) is
   when p < 2^-53. NaN gives NaN. */
MLP_INLINE void mlp_log_and_log1m_f(float p, float *log_p, float *log_1mp)
{
    const double pd = p, u = 1.0 - pd;
    *log_p = (float)mlp_log(pd);
    *log_1mp = (float)(mlp_log(u) + ((1.0 - u) - pd));
}

/* The sigmoid of the precision of z. */
#define MLP_SIGMOID_OF(z) _Generic((z), float: mlp_sigmoidf, default: mlp_sigmoid)(z)

#endif /* MLPEXT_VMATH_H */
