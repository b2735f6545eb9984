/*
 * div512.h — division by a constant and square root, correctly rounded, on the FMA units (AVX-512F).
 *
 * Why. A division (vdivpd / vdivps) or a square root goes through the core's one divider, at about two (division)
 * and three (square root) cycles per double, and Adam divides twice per parameter and takes a square root: on the
 * digits it was bound by the divider. One of the two divisions is by a constant of the step (√(bias correction
 * 2)), and the square root can be built from an estimate and fused multiply-adds too. Both return the bits of
 * the IEEE operation rounded to nearest, so Adam's results do not change.
 *
 * Division, for a >= 0 and b > 0, given y = RN(1/b) (one scalar division per step; u = 2^-p):
 *   q0 = RN(a·y)                    within about 2 ulps of a/b
 *   r0 = RN(a − b·q0)               (one FMA)
 *   q1 = RN(q0 + r0·y)              the error of q0 times (1 − b·y), about 4u² relative: q1 is faithful, one of
 *                                   the two floating-point numbers around a/b
 *   r1 = a − b·q1                   exact (one FMA): for a faithful q1 the residual is a multiple of
 *                                   ulp(b)·ulp(q1) below b·ulp(q1) in size, so it fits in p bits
 *   q2 = RN(q1 + r1·y) = RN(a/b)    Markstein's theorem: q1 faithful, and y within half an ulp of 1/b
 *                                   (J.-M. Muller et al., Handbook of Floating-Point Arithmetic, "Markstein's
 *                                   theorem"). a = +0 gives +0 (a = −0 would give +0 too: it takes the divider).
 *
 * Square root, for v = +0 or v > 0 in the range below (v = +0 is set to +0 at the end):
 *   y  = rsqrt14(v)                 1/√v within a relative 2^-14 (vrsqrt14)
 *   s = v·y, h = y/2, then (float64 only) two of Goldschmidt's iterations r = 1/2 − s·h, s += s·r, h += h·r
 *                                   (the second without h): s within about 2^-50 of √v, h within 2^-26 of
 *                                   1/(2√v) (float32: 2^-14 each)
 *   c  = RN(s + (v − s²)·h)         within half an ulp plus about 2^-24 ulp (float32: 2^-3) of √v: faithful
 *   RN(√v) = succ(c) iff v > c·succ(c), pred(c) iff v <= c·pred(c), else c   (Tuckerman's test)
 * The test is exact: (c + g/2)² = c·succ(c) + g²/4 and (c − g'/2)² = c·pred(c) + g'²/4, g and g' the gaps above
 * and below c; v − c·succ(c) and v − c·pred(c) are multiples of ulp(c)², at least g² and g'², so each is above its
 * quarter-gap term iff it is above 0; the FMA's one rounding keeps the sign. A square root is never a tie (a midpoint has p + 1 significant
 * bits; its square, with a last bit set beyond 2p, is no p-bit v).
 *
 * The arguments need every value along the way in the normal range, so they hold where
 *     a = +0 or MLP_DIV512_A_MIN <= a <= MLP_DIV512_A_MAX,  MLP_DIV512_B_MIN <= b <= MLP_DIV512_B_MAX,
 *     v = +0 or MLP_SQRT512_MIN <= v <= MLP_SQRT512_MAX:
 * float32 a in [2^-90, 2^60], b in [2^-30, 2^30], v in [2^-100, 2^100]; float64 a in [2^-600, 2^500], b in
 * [2^-400, 2^400], v in [2^-960, 2^960]. The quotient then lies in [2^-120, 2^90] (float64: [2^-1000, 2^900]),
 * r0 and r1 are normal, and v − c·succ(c) is 0 or at least ulp(c)² >= 2^-1064 in size (float32: 2^-146), which
 * rounds to a number of its sign. Callers take the divider for a vector with a lane outside (NaN and infinities
 * included) or a b outside.
 *
 * tests/c/test_kernels.c checks mlp_divide_avx512 and mlp_sqrt_avx512 (these operations over an array) bit for
 * bit against the division and sqrt: every float32 significand in [1, 2) against seven divisors (significands
 * of all ones, of 1 + ulp, ...), every float32 in [1, 4) under the square root, random operands over the whole
 * range, operands that take the divider, and results within about u² of a midpoint, built by number theory.
 *
 * Included by optim.c inside MLP_X86_DISPATCH; the names carry the precision suffix (MLP_FN).
 */
#ifndef MLPEXT_DIV512_H
#define MLPEXT_DIV512_H
#include <immintrin.h>
#include <stdint.h>

#define MLP_512_INLINE MLP_TARGET_INLINE("avx512f")

/* The per-precision names: MLP_FN(mlp512_x) is mlp512_x_f64 or mlp512_x_f32. */
typedef __m512d mlp512_vec_f64;
typedef __m512 mlp512_vec_f32;
typedef __mmask8 mlp512_mask_f64;
typedef __mmask16 mlp512_mask_f32;
#define mlp512_lanes_f64 8
#define mlp512_lanes_f32 16
#define mlp512_all_f64 ((__mmask8)0xFF)
#define mlp512_all_f32 ((__mmask16)0xFFFF)
#define mlp512_set1_f64 _mm512_set1_pd
#define mlp512_set1_f32 _mm512_set1_ps
#define mlp512_load_f64 _mm512_loadu_pd
#define mlp512_load_f32 _mm512_loadu_ps
#define mlp512_store_f64 _mm512_storeu_pd
#define mlp512_store_f32 _mm512_storeu_ps
#define mlp512_add_f64 _mm512_add_pd
#define mlp512_add_f32 _mm512_add_ps
#define mlp512_sub_f64 _mm512_sub_pd
#define mlp512_sub_f32 _mm512_sub_ps
#define mlp512_mul_f64 _mm512_mul_pd
#define mlp512_mul_f32 _mm512_mul_ps
#define mlp512_div_f64 _mm512_div_pd
#define mlp512_div_f32 _mm512_div_ps
#define mlp512_sqrt_f64 _mm512_sqrt_pd
#define mlp512_sqrt_f32 _mm512_sqrt_ps
#define mlp512_rsqrt14_f64 _mm512_rsqrt14_pd /* 1/√x within a relative 2^-14 */
#define mlp512_rsqrt14_f32 _mm512_rsqrt14_ps
#define mlp512_fmadd_f64 _mm512_fmadd_pd   /* a·b + c, rounded once */
#define mlp512_fmadd_f32 _mm512_fmadd_ps
#define mlp512_fnmadd_f64 _mm512_fnmadd_pd /* c − a·b, rounded once */
#define mlp512_fnmadd_f32 _mm512_fnmadd_ps
#define mlp512_abs_f64 _mm512_abs_pd
#define mlp512_abs_f32 _mm512_abs_ps
#define mlp512_cmp_f64 _mm512_cmp_pd_mask
#define mlp512_cmp_f32 _mm512_cmp_ps_mask
#define mlp512_blend_f64 _mm512_mask_blend_pd /* (k, a, b): b where k, else a */
#define mlp512_blend_f32 _mm512_mask_blend_ps
#define mlp512_bits_f64 _mm512_castpd_si512
#define mlp512_bits_f32 _mm512_castps_si512
#define mlp512_from_bits_f64 _mm512_castsi512_pd
#define mlp512_from_bits_f32 _mm512_castsi512_ps
/* the lanes holding +0 */
#define mlp512_is_plus_zero_f64(x) _mm512_cmpeq_epi64_mask(_mm512_castpd_si512(x), _mm512_setzero_si512())
#define mlp512_is_plus_zero_f32(x) _mm512_cmpeq_epi32_mask(_mm512_castps_si512(x), _mm512_setzero_si512())
/* bits + (k ? 1 : -1), lane by lane, as integers of the precision's width */
#define mlp512_step_f64(k, bits)                                                                                 \
    _mm512_mask_add_epi64(_mm512_sub_epi64((bits), _mm512_set1_epi64(1)), (k), (bits), _mm512_set1_epi64(1))
#define mlp512_step_f32(k, bits)                                                                                 \
    _mm512_mask_add_epi32(_mm512_sub_epi32((bits), _mm512_set1_epi32(1)), (k), (bits), _mm512_set1_epi32(1))

/* The fast path's ranges (see above). */
#define MLP_DIV512_A_MIN_f64 0x1p-600
#define MLP_DIV512_A_MAX_f64 0x1p500
#define MLP_DIV512_B_MIN_f64 0x1p-400
#define MLP_DIV512_B_MAX_f64 0x1p400
#define MLP_DIV512_A_MIN_f32 0x1p-90f
#define MLP_DIV512_A_MAX_f32 0x1p60f
#define MLP_DIV512_B_MIN_f32 0x1p-30f
#define MLP_DIV512_B_MAX_f32 0x1p30f
#define MLP_SQRT512_MIN_f64 0x1p-960
#define MLP_SQRT512_MAX_f64 0x1p960
#define MLP_SQRT512_MIN_f32 0x1p-100f
#define MLP_SQRT512_MAX_f32 0x1p100f

#define MLP_IMPL "div512_impl.h"
#include "each_precision.h"

#endif /* MLPEXT_DIV512_H */
