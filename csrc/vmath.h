/*
 * vmath.h — an exp written to vectorize: no branches, no tables, no libm call, so a loop over a buffer compiles
 * to SIMD code at whatever width the enclosing function is built for (SSE2, AVX2, AVX-512). It uses no FMA, so
 * every build and every dispatch path gives bit-identical results.
 *
 * Accuracy (tests/test_vmath.py measures it against long double): at most 1 ulp for x in [-708.39, 709.78];
 * +inf above (as the true value overflows); 0 below, where the true value is subnormal (flushed); NaN stays NaN.
 * Method: x = k·ln2 + r with |r| <= ln2/2 (Cody–Waite, ln2 split in two so k·ln2_hi is exact), e^r − 1 by its
 * Taylor series to r^13 (truncation error below 1e-17 relative), evaluated by Estrin's scheme for a short
 * dependency chain; then 2^k is put into the exponent bits.
 */
#ifndef MLPEXT_VMATH_H
#define MLPEXT_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

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

__attribute__((always_inline)) static inline double mlp_exp(double x)
{
    const double inv_ln2 = 0x1.71547652b82fep0, shift = 0x1.8p52; /* shift: rounds to an integer in the low bits */
    const double ln2_hi = 0x1.62e42fefa3800p-1, ln2_lo = 0x1.ef35793c76730p-45;
    double xc = x > 709.79 ? 709.79 : x; /* keep k in range; NaN passes through the comparisons */
    xc = xc < -708.4 ? -708.4 : xc;
    double kd = xc * inv_ln2 + shift;
    uint64_t ki = mlp_bits(kd); /* low bits: 0x4338000000000000 + k */
    kd -= shift;
    double r = (xc - kd * ln2_hi) - kd * ln2_lo;
    /* e^r − 1 = r + r² q(r), q(r) = Σ_{m=0..11} r^m / (m+2)! */
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double a0 = 1.0 / 2 + r * (1.0 / 6), a1 = 1.0 / 24 + r * (1.0 / 120), a2 = 1.0 / 720 + r * (1.0 / 5040);
    double a3 = 1.0 / 40320 + r * (1.0 / 362880), a4 = 1.0 / 3628800 + r * (1.0 / 39916800);
    double a5 = 1.0 / 479001600 + r * (1.0 / 6227020800.0);
    double q = ((a0 + a1 * r2) + (a2 + a3 * r2) * r4) + (a4 + a5 * r2) * r8;
    double p = r + r2 * q;
    /* 2^k in the exponent bits; k reaches 1024 just below the overflow threshold, so for x > 0 the scale is
       2^(k−1) and the product is doubled (exact). */
    uint64_t bias = x > 0 ? (uint64_t)(1022 - 0x4338000000000000LL) : (uint64_t)(1023 - 0x4338000000000000LL);
    double two = x > 0 ? 2.0 : 1.0;
    double y = ((1.0 + p) * mlp_from_bits((ki + bias) << 52)) * two;
    y = x > MLP_EXP_OVERFLOW ? (double)INFINITY : y;
    return x < MLP_EXP_SUBNORMAL ? 0.0 : y;
}

#endif /* MLPEXT_VMATH_H */
