/*
 * div512.h — division by a constant, correctly rounded, on the FMA units (AVX-512F).
 *
 * Why. A division (vdivpd / vdivps) goes through the core's one divider, at about two cycles per double, and
 * Adam divides twice per parameter and takes a square root on that same divider: on the digits it was bound by
 * it. One of the two divisions is by a constant of the step (√(bias correction 2)); this division does it with a
 * multiply and fused multiply-adds, on other ports, and returns the bits of the IEEE division, a / b rounded to
 * nearest, so Adam's results do not change.
 *
 * How, for a >= 0 and b > 0, given y = RN(1/b) (one scalar division per step):
 *   q0 = RN(a·y)                    within about 2 ulps of a/b
 *   r0 = RN(a − b·q0)               (one FMA)
 *   q1 = RN(q0 + r0·y)              the error of q0 times (1 − b·y), about 4u² relative (u = 2^-p): q1 is
 *                                   faithful, one of the two floating-point numbers around a/b
 *   r1 = a − b·q1                   exact (one FMA): for a faithful q1 the residual is a multiple of
 *                                   ulp(b)·ulp(q1) below b·ulp(q1) in size, so it fits in p bits
 *   n  = q1's neighbour on r1's side (its bits plus or minus one); RN(a/b) is q1 or n
 *   RN(a/b) = n  iff  |a/b − q1| > |n − q1|/2  iff  |r1| > |b·(n − q1)/2|
 * The last comparison is exact: b·(n − q1)/2 is b times a power of two. It cannot be a tie (a midpoint between
 * two p-bit numbers has p + 1 significant bits, and b times it has a last bit below a's). r1 = 0 (a/b exact)
 * keeps q1; a = +0 gives q1 = +0, a NaN neighbour, and keeps q1 (a = −0 would give +0: it takes the divider).
 *
 * The argument needs every value along the way in the normal range, so it holds where
 *     a = +0 or MLP_DIV512_A_MIN <= a <= MLP_DIV512_A_MAX,  and  MLP_DIV512_B_MIN <= b <= MLP_DIV512_B_MAX:
 * float32 a in [2^-90, 2^60], b in [2^-30, 2^30]; float64 a in [2^-600, 2^500], b in [2^-400, 2^400]. The
 * quotient then lies in [2^-120, 2^90] (float64: [2^-1000, 2^900]), and r0, r1 and b·(n − q1)/2 are normal.
 * Callers take the divider for a vector with a lane outside (NaN and infinities included) or a b outside.
 *
 * q1 alone is already RN(a/b) by Markstein's theorem (y within half an ulp of 1/b, q0 within an ulp of a/b);
 * the last step does not lean on that, and costs nothing here (Adam is bound by the divider).
 *
 * tests/c/test_kernels.c checks mlp_divide_avx512 (this division over an array) bit for bit against the
 * division: every float32 significand in [1, 2) against seven divisors (significands of all ones, of 1 + ulp,
 * ...), random operands over the whole range, operands that take the divider, and quotients within about u²
 * of a midpoint.
 *
 * Included by optim.c inside MLP_X86_DISPATCH; the names carry the precision suffix (MLP_FN).
 */
#ifndef MLPEXT_DIV512_H
#define MLPEXT_DIV512_H
#include <immintrin.h>
#include <stdint.h>

#define MLP_512_INLINE __attribute__((always_inline, target("avx512f"))) static inline

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

#define MLP_IMPL "div512_impl.h"
#include "each_precision.h"

#endif /* MLPEXT_DIV512_H */
