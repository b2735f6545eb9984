/*
 * sigmoid_simd_impl.h — vmath.h's sigmoids written out in intrinsics: mlp_sigmoid on the four doubles of an AVX2
 * vector (mlp_sigmoid4: the lecture's four-row epoch, rows4_impl.h) and on the eight of an AVX-512 vector
 * (mlp_sigmoid8), mlp_sigmoidf's leaner double likewise (mlp_sigmoidf4, mlp_sigmoidf8), and over a buffer of
 * either precision (mlp_sigmoid_lanes_f64 and _f32: a sigmoid layer's activations, activations_simd_impl.h), with
 * float's tanh on mlp_sigmoid (mlp_tanh_lanes_f32: vmath.h's mlp_tanhf).
 *
 * A template body, included once per instruction set through each_isa.h, with MLP_FI(name) (the suffix),
 * MLP_ISA_ATTR (the target attribute), MLP_ISA_LEVEL (3: AVX-512) and MLP_ISA_VL where AVX-512VL may be used. It
 * performs the scalar function's operations one for one, so it gives the same bits (tests/c/test_kernels.c
 * compares them).
 *
 * Why not let the compiler vectorize mlp_sigmoid: it turns the table look-ups into gathers or lane-by-lane loads,
 * which lengthen the critical path of the lecture's epoch (rows4_impl.h) and take a layer's activations longer
 * than the arithmetic does (docs/benchmarks.md, "Does the sigmoid's table look-up pay as a permute?"). With an
 * 8-entry table the look-up is vector registers instead: AVX-512 looks up 8 entries in one instruction (vpermpd),
 * AVX-512VL 4 (vpermt2pd); plain AVX2 permutes each 4-entry half with vpermps and blends.
 */
#define MLP_V_FN MLP_TARGET_INLINE(MLP_ISA_ATTR)

/* table[m & 7] in each lane (the other bits of m are ignored). */
MLP_V_FN __m256d MLP_FI(mlp_lookup8)(const double *table, __m256i m)
{
#if MLP_ISA_VL
    return _mm256_permutex2var_pd(_mm256_loadu_pd(table), m, _mm256_loadu_pd(table + 4));
#else
    /* vpermps moves 32-bit halves: entry i of a 4-entry half is the pair (2i, 2i + 1); bit 2 of m picks the half */
    const __m256i i2 = _mm256_slli_epi64(_mm256_and_si256(m, _mm256_set1_epi64x(3)), 1);
    const __m256i pair = _mm256_or_si256(i2, _mm256_slli_epi64(_mm256_add_epi64(i2, _mm256_set1_epi64x(1)), 32));
    const __m256 low = _mm256_permutevar8x32_ps(_mm256_castpd_ps(_mm256_loadu_pd(table)), pair);
    const __m256 high = _mm256_permutevar8x32_ps(_mm256_castpd_ps(_mm256_loadu_pd(table + 4)), pair);
    return _mm256_blendv_pd(_mm256_castps_pd(low), _mm256_castps_pd(high),
                            _mm256_castsi256_pd(_mm256_slli_epi64(m, 61)));
#endif
}

/* mlp_sigmoid (vmath.h) of each lane, step for step. */
MLP_V_FN __m256d MLP_FI(mlp_sigmoid4)(__m256d z)
{
#define MLP_C(x) _mm256_set1_pd(x)
    const __m256d shift = MLP_C(0x1.8p52), one = MLP_C(1.0);
    __m256d md = _mm256_fmadd_pd(z, MLP_C(-(0x1.71547652b82fep0 * 8)), shift);
    const __m256i mi = _mm256_castpd_si256(md);
    md = _mm256_sub_pd(md, shift);
    const __m256d rn = _mm256_fmadd_pd(md, MLP_C(0x1.abc9e3b39803fp-59),
                                       _mm256_fmadd_pd(md, MLP_C(0x1.62e42fefa39efp-4), z));
    const __m256i scale = _mm256_add_epi64(_mm256_slli_epi64(_mm256_srli_epi64(mi, 3), 52),
                                           _mm256_set1_epi64x((int64_t)1023 << 52));
    const __m256d ts = _mm256_mul_pd(MLP_FI(mlp_lookup8)(MLP_EXP2_8, mi), _mm256_castsi256_pd(scale));
    const __m256d r2 = _mm256_mul_pd(rn, rn), r4 = _mm256_mul_pd(r2, r2);
    const __m256d c = _mm256_fmadd_pd(
        r4, _mm256_fmadd_pd(r2, MLP_C(1.0 / 40320), _mm256_fmadd_pd(rn, MLP_C(-1.0 / 5040), MLP_C(1.0 / 720))),
        _mm256_fmadd_pd(r2, _mm256_fmadd_pd(rn, MLP_C(-1.0 / 120), MLP_C(1.0 / 24)),
                        _mm256_fmadd_pd(rn, MLP_C(-1.0 / 6), MLP_C(0.5))));
    const __m256d hi = _mm256_add_pd(one, ts), hi_ts = _mm256_sub_pd(hi, ts);
    const __m256d lo = _mm256_add_pd(_mm256_sub_pd(ts, _mm256_sub_pd(hi, hi_ts)), _mm256_sub_pd(one, hi_ts));
    const __m256d tail = _mm256_sub_pd(MLP_FI(mlp_lookup8)(MLP_EXP2_8_TAIL, mi), rn);
    const __m256d den = _mm256_add_pd(hi, _mm256_fmadd_pd(_mm256_mul_pd(ts, r2), c, _mm256_fmadd_pd(ts, tail, lo)));
    const __m256d s = _mm256_div_pd(one, den);
    /* beyond ±MLP_SIGMOID_FLUSH: 1 above, 0 below; NaN compares false and stays NaN */
    const __m256d above = _mm256_cmp_pd(z, MLP_C(MLP_SIGMOID_FLUSH), _CMP_GT_OQ);
    const __m256d below = _mm256_cmp_pd(z, MLP_C(-MLP_SIGMOID_FLUSH), _CMP_LT_OQ);
    return _mm256_blendv_pd(s, _mm256_and_pd(above, one), _mm256_or_pd(above, below));
#undef MLP_C
}

#if MLP_ISA_LEVEL == 3
/* mlp_sigmoid of each of the eight lanes, step for step (mlp_sigmoid4's steps on AVX-512 vectors). */
MLP_V_FN __m512d MLP_FI(mlp_sigmoid8)(__m512d z)
{
#define MLP_C(x) _mm512_set1_pd(x)
    const __m512d shift = MLP_C(0x1.8p52), one = MLP_C(1.0);
    __m512d md = _mm512_fmadd_pd(z, MLP_C(-(0x1.71547652b82fep0 * 8)), shift);
    const __m512i mi = _mm512_castpd_si512(md);
    md = _mm512_sub_pd(md, shift);
    const __m512d rn = _mm512_fmadd_pd(md, MLP_C(0x1.abc9e3b39803fp-59),
                                       _mm512_fmadd_pd(md, MLP_C(0x1.62e42fefa39efp-4), z));
    const __m512i scale = _mm512_add_epi64(_mm512_slli_epi64(_mm512_srli_epi64(mi, 3), 52),
                                           _mm512_set1_epi64((int64_t)1023 << 52));
    /* vpermpd reads the low 3 bits of each lane of mi: table[m & 7] */
    const __m512d ts = _mm512_mul_pd(_mm512_permutexvar_pd(mi, _mm512_loadu_pd(MLP_EXP2_8)),
                                     _mm512_castsi512_pd(scale));
    const __m512d r2 = _mm512_mul_pd(rn, rn), r4 = _mm512_mul_pd(r2, r2);
    const __m512d c = _mm512_fmadd_pd(
        r4, _mm512_fmadd_pd(r2, MLP_C(1.0 / 40320), _mm512_fmadd_pd(rn, MLP_C(-1.0 / 5040), MLP_C(1.0 / 720))),
        _mm512_fmadd_pd(r2, _mm512_fmadd_pd(rn, MLP_C(-1.0 / 120), MLP_C(1.0 / 24)),
                        _mm512_fmadd_pd(rn, MLP_C(-1.0 / 6), MLP_C(0.5))));
    const __m512d hi = _mm512_add_pd(one, ts), hi_ts = _mm512_sub_pd(hi, ts);
    const __m512d lo = _mm512_add_pd(_mm512_sub_pd(ts, _mm512_sub_pd(hi, hi_ts)), _mm512_sub_pd(one, hi_ts));
    const __m512d tail = _mm512_sub_pd(_mm512_permutexvar_pd(mi, _mm512_loadu_pd(MLP_EXP2_8_TAIL)), rn);
    const __m512d den = _mm512_add_pd(hi, _mm512_fmadd_pd(_mm512_mul_pd(ts, r2), c, _mm512_fmadd_pd(ts, tail, lo)));
    const __m512d s = _mm512_div_pd(one, den);
    /* beyond ±MLP_SIGMOID_FLUSH: 1 above, 0 below; NaN compares false and stays NaN */
    const __mmask8 above = _mm512_cmp_pd_mask(z, MLP_C(MLP_SIGMOID_FLUSH), _CMP_GT_OQ);
    const __mmask8 below = _mm512_cmp_pd_mask(z, MLP_C(-MLP_SIGMOID_FLUSH), _CMP_LT_OQ);
    return _mm512_mask_mov_pd(_mm512_mask_mov_pd(s, above, one), below, _mm512_setzero_pd());
#undef MLP_C
}
#endif

/* a[0..len) = mlp_sigmoid(a), in place: eight lanes at a time on AVX-512, four on AVX2, the last few by the scalar
   function. */
MLP_V_FN void MLP_FI(mlp_sigmoid_lanes_f64)(size_t len, double *a)
{
    size_t k = 0;
#if MLP_ISA_LEVEL == 3
    for (; k + 8 <= len; k += 8) {
        _mm512_storeu_pd(a + k, MLP_FI(mlp_sigmoid8)(_mm512_loadu_pd(a + k)));
    }
#else
    for (; k + 4 <= len; k += 4) {
        _mm256_storeu_pd(a + k, MLP_FI(mlp_sigmoid4)(_mm256_loadu_pd(a + k)));
    }
#endif
    for (; k < len; k++) {
        a[k] = mlp_sigmoid(a[k]);
    }
}

/* mlp_sigmoidf (vmath.h) of each lane, step for step: z the floats widened to double, the result the doubles
   before their rounding to float. max(LOW, z) and min(HIGH, ·) return their second operand where it is NaN, so
   NaN is kept, as the scalar clamp keeps it. */
MLP_V_FN __m256d MLP_FI(mlp_sigmoidf4)(__m256d z)
{
#define MLP_C(x) _mm256_set1_pd(x)
    const __m256d x = _mm256_min_pd(MLP_C(MLP_SIGMOIDF_HIGH), _mm256_max_pd(MLP_C(MLP_SIGMOIDF_LOW), z));
    __m256d md = _mm256_fmadd_pd(x, MLP_C(-0x1.71547652b82fep0), MLP_C(0x1.8p52));
    const __m256i mi = _mm256_castpd_si256(md);
    md = _mm256_sub_pd(md, MLP_C(0x1.8p52));
    const __m256d rn = _mm256_fmadd_pd(md, MLP_C(0x1.62e42fefa39efp-1), x);
    __m256d p = MLP_C(MLP_SIGMOIDF_TAYLOR[MLP_SIGMOIDF_DEGREE]);
    for (int k = MLP_SIGMOIDF_DEGREE - 1; k >= 0; k--) {
        p = _mm256_fmadd_pd(p, rn, MLP_C(MLP_SIGMOIDF_TAYLOR[k]));
    }
    const __m256i scale = _mm256_add_epi64(_mm256_slli_epi64(mi, 52), _mm256_set1_epi64x((int64_t)1023 << 52));
    const __m256d e = _mm256_mul_pd(p, _mm256_castsi256_pd(scale));
    return _mm256_div_pd(MLP_C(1.0), _mm256_add_pd(MLP_C(1.0), e));
#undef MLP_C
}

#if MLP_ISA_LEVEL == 3
/* mlp_sigmoidf4's steps on the eight lanes of an AVX-512 vector. */
MLP_V_FN __m512d MLP_FI(mlp_sigmoidf8)(__m512d z)
{
#define MLP_C(x) _mm512_set1_pd(x)
    const __m512d x = _mm512_min_pd(MLP_C(MLP_SIGMOIDF_HIGH), _mm512_max_pd(MLP_C(MLP_SIGMOIDF_LOW), z));
    __m512d md = _mm512_fmadd_pd(x, MLP_C(-0x1.71547652b82fep0), MLP_C(0x1.8p52));
    const __m512i mi = _mm512_castpd_si512(md);
    md = _mm512_sub_pd(md, MLP_C(0x1.8p52));
    const __m512d rn = _mm512_fmadd_pd(md, MLP_C(0x1.62e42fefa39efp-1), x);
    __m512d p = MLP_C(MLP_SIGMOIDF_TAYLOR[MLP_SIGMOIDF_DEGREE]);
    for (int k = MLP_SIGMOIDF_DEGREE - 1; k >= 0; k--) {
        p = _mm512_fmadd_pd(p, rn, MLP_C(MLP_SIGMOIDF_TAYLOR[k]));
    }
    const __m512i scale = _mm512_add_epi64(_mm512_slli_epi64(mi, 52), _mm512_set1_epi64((int64_t)1023 << 52));
    const __m512d e = _mm512_mul_pd(p, _mm512_castsi512_pd(scale));
    return _mm512_div_pd(MLP_C(1.0), _mm512_add_pd(MLP_C(1.0), e));
#undef MLP_C
}
#endif

/* a[0..len) = mlp_sigmoidf(a), in place: each value widened to double, its sigmoid rounded to float once and 0
   below FLT_MIN (NaN kept), as the scalar function does. */
MLP_V_FN void MLP_FI(mlp_sigmoid_lanes_f32)(size_t len, float *a)
{
    size_t k = 0;
#if MLP_ISA_LEVEL == 3
    const __m256 min = _mm256_set1_ps(FLT_MIN);
    for (; k + 8 <= len; k += 8) {
        const __m256 s = _mm512_cvtpd_ps(MLP_FI(mlp_sigmoidf8)(_mm512_cvtps_pd(_mm256_loadu_ps(a + k))));
        _mm256_storeu_ps(a + k, _mm256_and_ps(s, _mm256_cmp_ps(s, min, _CMP_NLT_UQ)));
    }
#else
    const __m128 min = _mm_set1_ps(FLT_MIN);
    for (; k + 4 <= len; k += 4) {
        const __m128 s = _mm256_cvtpd_ps(MLP_FI(mlp_sigmoidf4)(_mm256_cvtps_pd(_mm_loadu_ps(a + k))));
        _mm_storeu_ps(a + k, _mm_and_ps(s, _mm_cmp_ps(s, min, _CMP_NLT_UQ)));
    }
#endif
    for (; k < len; k++) {
        a[k] = mlp_sigmoidf(a[k]);
    }
}

/* a[0..len) = mlp_tanhf(a), in place: 2·σ(2x) − 1 on the sigmoid's lanes, x itself where |x| < 2^-12. */
MLP_V_FN void MLP_FI(mlp_tanh_lanes_f32)(size_t len, float *a)
{
    size_t k = 0;
#if MLP_ISA_LEVEL == 3
    const __m512d two = _mm512_set1_pd(2.0), one = _mm512_set1_pd(1.0);
    const __m256 tiny = _mm256_set1_ps(0x1p-12f), sign = _mm256_set1_ps(-0.0f);
    for (; k + 8 <= len; k += 8) {
        const __m256 x = _mm256_loadu_ps(a + k);
        const __m512d s = MLP_FI(mlp_sigmoid8)(_mm512_mul_pd(two, _mm512_cvtps_pd(x)));
        const __m256 t = _mm512_cvtpd_ps(_mm512_sub_pd(_mm512_mul_pd(two, s), one));
        _mm256_storeu_ps(a + k, _mm256_blendv_ps(t, x, _mm256_cmp_ps(_mm256_andnot_ps(sign, x), tiny, _CMP_LT_OQ)));
    }
#else
    const __m256d two = _mm256_set1_pd(2.0), one = _mm256_set1_pd(1.0);
    const __m128 tiny = _mm_set1_ps(0x1p-12f), sign = _mm_set1_ps(-0.0f);
    for (; k + 4 <= len; k += 4) {
        const __m128 x = _mm_loadu_ps(a + k);
        const __m256d s = MLP_FI(mlp_sigmoid4)(_mm256_mul_pd(two, _mm256_cvtps_pd(x)));
        const __m128 t = _mm256_cvtpd_ps(_mm256_sub_pd(_mm256_mul_pd(two, s), one));
        _mm_storeu_ps(a + k, _mm_blendv_ps(t, x, _mm_cmp_ps(_mm_andnot_ps(sign, x), tiny, _CMP_LT_OQ)));
    }
#endif
    for (; k < len; k++) {
        a[k] = mlp_tanhf(a[k]);
    }
}
#undef MLP_V_FN
