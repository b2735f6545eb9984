/* div512_impl.h — template body of div512.h (see each_precision.h and div512.h for the method). */

#define MLP_V MLP_FN(mlp512_vec)
#define MLP_K MLP_FN(mlp512_mask)

/* RN(a/b) for a = +0 or in the fast range, b in the fast range, y = RN(1/b) (div512.h). */
MLP_512_INLINE MLP_V MLP_FN(mlp512_div_cr)(MLP_V a, MLP_V b, MLP_V y)
{
    const MLP_V q0 = MLP_FN(mlp512_mul)(a, y);
    const MLP_V r0 = MLP_FN(mlp512_fnmadd)(b, q0, a);
    const MLP_V q1 = MLP_FN(mlp512_fmadd)(r0, y, q0); /* faithful */
    const MLP_V r1 = MLP_FN(mlp512_fnmadd)(b, q1, a); /* exact */
    return MLP_FN(mlp512_fmadd)(r1, y, q1);           /* RN(a/b): Markstein's theorem */
}

/* The lanes where a (>= 0 or NaN) is at most the fast path's maximum. */
MLP_512_INLINE MLP_K MLP_FN(mlp512_div_a_small)(MLP_V a)
{
    return MLP_FN(mlp512_cmp)(a, MLP_FN(mlp512_set1)(MLP_FN(MLP_DIV512_A_MAX)), _CMP_LE_OQ);
}

/* The lanes where a is +0 or in the fast range. */
MLP_512_INLINE MLP_K MLP_FN(mlp512_div_a_ok)(MLP_V a)
{
    const MLP_K large = MLP_FN(mlp512_cmp)(a, MLP_FN(mlp512_set1)(MLP_FN(MLP_DIV512_A_MIN)), _CMP_GE_OQ);
    return (large & MLP_FN(mlp512_div_a_small)(a)) | MLP_FN(mlp512_is_plus_zero)(a);
}

/* 1 if b is in the fast range. */
static inline int MLP_FN(mlp512_div_b_ok)(MLP_T b)
{
    return b >= MLP_FN(MLP_DIV512_B_MIN) && b <= MLP_FN(MLP_DIV512_B_MAX);
}

/* RN(√v) for v = +0 or in [MLP_SQRT512_MIN, MLP_SQRT512_MAX] (div512.h). */
MLP_512_INLINE MLP_V MLP_FN(mlp512_sqrt_cr)(MLP_V v)
{
    const MLP_V half = MLP_FN(mlp512_set1)(0.5);
    const MLP_V y = MLP_FN(mlp512_rsqrt14)(v); /* 1/√v, relative error below 2^-14 */
    MLP_V s = MLP_FN(mlp512_mul)(v, y), h = MLP_FN(mlp512_mul)(half, y);
    if (sizeof(MLP_T) == sizeof(double)) { /* float64: two of Goldschmidt's iterations (float32: none) */
        MLP_V r = MLP_FN(mlp512_fnmadd)(s, h, half);
        s = MLP_FN(mlp512_fmadd)(s, r, s);
        h = MLP_FN(mlp512_fmadd)(h, r, h);
        r = MLP_FN(mlp512_fnmadd)(s, h, half);
        s = MLP_FN(mlp512_fmadd)(s, r, s);
    }
    const MLP_V d = MLP_FN(mlp512_fnmadd)(s, s, v);
    const MLP_V c = MLP_FN(mlp512_fmadd)(d, h, s); /* faithful */
    /* Tuckerman's test: RN(√v) is c's successor iff v > c·succ(c), its predecessor iff v <= c·pred(c) */
    const __m512i bits = MLP_FN(mlp512_bits)(c);
    const MLP_V succ = MLP_FN(mlp512_from_bits)(MLP_FN(mlp512_step)(MLP_FN(mlp512_all), bits));
    const MLP_V pred = MLP_FN(mlp512_from_bits)(MLP_FN(mlp512_step)(0, bits));
    const MLP_V zero = MLP_FN(mlp512_set1)(0);
    const MLP_K up = MLP_FN(mlp512_cmp)(MLP_FN(mlp512_fnmadd)(c, succ, v), zero, _CMP_GT_OQ);
    const MLP_K down = MLP_FN(mlp512_cmp)(MLP_FN(mlp512_fnmadd)(c, pred, v), zero, _CMP_LE_OQ);
    const MLP_V rounded = MLP_FN(mlp512_blend)(up, MLP_FN(mlp512_blend)(down, c, pred), succ);
    return MLP_FN(mlp512_blend)(MLP_FN(mlp512_is_plus_zero)(v), rounded, zero);
}

/* The lanes where v is +0 or in mlp512_sqrt_cr's range. */
MLP_512_INLINE MLP_K MLP_FN(mlp512_sqrt_ok)(MLP_V v)
{
    const MLP_K large = MLP_FN(mlp512_cmp)(v, MLP_FN(mlp512_set1)(MLP_FN(MLP_SQRT512_MIN)), _CMP_GE_OQ);
    const MLP_K small = MLP_FN(mlp512_cmp)(v, MLP_FN(mlp512_set1)(MLP_FN(MLP_SQRT512_MAX)), _CMP_LE_OQ);
    return (large & small) | MLP_FN(mlp512_is_plus_zero)(v);
}

#undef MLP_V
#undef MLP_K
