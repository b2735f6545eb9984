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
    const MLP_V zero = MLP_FN(mlp512_set1)(0);
    const MLP_K up = MLP_FN(mlp512_cmp)(r1, zero, _CMP_GT_OQ);
    const MLP_V n = MLP_FN(mlp512_from_bits)(MLP_FN(mlp512_step)(up, MLP_FN(mlp512_bits)(q1)));
    /* b·|n − q1|/2, exactly */
    const MLP_V half_b = MLP_FN(mlp512_mul)(b, MLP_FN(mlp512_set1)(0.5));
    const MLP_V half_gap = MLP_FN(mlp512_mul)(half_b, MLP_FN(mlp512_sub)(n, q1));
    const MLP_K past = MLP_FN(mlp512_cmp)(MLP_FN(mlp512_abs)(r1), MLP_FN(mlp512_abs)(half_gap), _CMP_GT_OQ);
    return MLP_FN(mlp512_blend)(past, q1, n);
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

#undef MLP_V
#undef MLP_K
