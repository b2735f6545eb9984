/*
 * dense_impl.h — template body of dense.c (see each_precision.h).
 *
 * Every sum runs over its index in increasing order, starting from the first product, and every product is
 * rounded before it is added (the build has -ffp-contract=off): NumPy's rounding for these sums, up to the
 * order its BLAS picks. Sums are kept in registers, MLP_JB output columns at a time, and written once.
 */

#define MLP_JB 8 /* columns per register block: one AVX-512 vector of double, two of float… */

/* X (n, in), W (in, out), b (out) -> A (n, out) = X·W + b, before the activation. */
MLP_INLINE void MLP_FN(affine)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *W, const MLP_T *b,
                               MLP_T *A)
{
    for (size_t r = 0; r < n; r++) {
        const MLP_T *x = X + r * in; /* row r of X, (in) */
        MLP_T *a = A + r * out;      /* row r of A, (out) */
        size_t j = 0;
        for (; j + MLP_JB <= out; j += MLP_JB) { /* a[j:j+JB] = x · W[:, j:j+JB] + b[j:j+JB] */
            MLP_T acc[MLP_JB];
            for (size_t c = 0; c < MLP_JB; c++) {
                acc[c] = x[0] * W[j + c];
            }
            for (size_t k = 1; k < in; k++) {
                const MLP_T *w = W + k * out + j;
                for (size_t c = 0; c < MLP_JB; c++) {
                    acc[c] += x[k] * w[c];
                }
            }
            for (size_t c = 0; c < MLP_JB; c++) { /* (X·W) + b, as NumPy's `np.dot(X, W) + b` */
                a[j + c] = acc[c] + b[j + c];
            }
        }
        for (; j < out; j++) {
            MLP_T s = x[0] * W[j];
            for (size_t k = 1; k < in; k++) {
                s += x[k] * W[k * out + j];
            }
            a[j] = s + b[j];
        }
    }
}

/* X (n, in), W (in, out), b (out) -> A (n, out) = act(X·W + b). */
void MLP_FN(mlp_dense_forward)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *W, const MLP_T *b,
                               mlp_activation act, MLP_T *A)
{
    MLP_SMALL_SWITCH(out, MLP_FN(affine)(n, in, MLP_K, X, W, b, A));
    MLP_FN(mlp_activate)(act, n, out, A);
}

/* D (n, out), W (in, out) -> D_prev (n, in) = D·Wᵀ. */
MLP_INLINE void MLP_FN(times_transposed)(size_t n, size_t in, size_t out, const MLP_T *D, const MLP_T *W,
                                         MLP_T *D_prev)
{
    for (size_t r = 0; r < n; r++) {
        const MLP_T *d = D + r * out; /* row r of D, (out) */
        MLP_T *dp = D_prev + r * in;  /* row r of D_prev, (in) */
        for (size_t k = 0; k < in; k++) { /* dp[k] = d · W[k, :] */
            const MLP_T *w = W + k * out;
            MLP_T s = d[0] * w[0];
            for (size_t j = 1; j < out; j++) {
                s += d[j] * w[j];
            }
            dp[k] = s;
        }
    }
}

/* D (n, out), W (in, out), A_prev (n, in) -> D_prev (n, in) = (D·Wᵀ) ⊙ act_prev'(A_prev). */
void MLP_FN(mlp_dense_backward_delta)(size_t n, size_t in, size_t out, const MLP_T *D, const MLP_T *W,
                                      const MLP_T *A_prev, mlp_activation act_prev, MLP_T *D_prev)
{
    MLP_SMALL_SWITCH(out, MLP_FN(times_transposed)(n, in, MLP_K, D, W, D_prev));
    MLP_FN(mlp_mul_activation_grad)(act_prev, n, in, A_prev, D_prev);
}

/* X (n, in), D (n, out) -> dW (in, out) = Xᵀ·D, db (out) = Σ over rows of D. No transposed copy of X. */
MLP_INLINE void MLP_FN(param_grads)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *D, MLP_T *dW,
                                    MLP_T *db)
{
    for (size_t k = 0; k < in; k++) {
        MLP_T *g = dW + k * out; /* row k of dW = Σ_r X[r, k] · D[r, :] */
        size_t j = 0;
        for (; j + MLP_JB <= out; j += MLP_JB) {
            MLP_T acc[MLP_JB];
            for (size_t c = 0; c < MLP_JB; c++) {
                acc[c] = X[k] * D[j + c];
            }
            for (size_t r = 1; r < n; r++) {
                const MLP_T xrk = X[r * in + k], *d = D + r * out + j;
                for (size_t c = 0; c < MLP_JB; c++) {
                    acc[c] += xrk * d[c];
                }
            }
            for (size_t c = 0; c < MLP_JB; c++) {
                g[j + c] = acc[c];
            }
        }
        for (; j < out; j++) {
            MLP_T s = X[k] * D[j];
            for (size_t r = 1; r < n; r++) {
                s += X[r * in + k] * D[r * out + j];
            }
            g[j] = s;
        }
    }
    for (size_t j = 0; j < out; j++) { /* as NumPy's np.sum(D, axis=0): row by row */
        MLP_T s = D[j];
        for (size_t r = 1; r < n; r++) {
            s += D[r * out + j];
        }
        db[j] = s;
    }
}

void MLP_FN(mlp_dense_param_grads)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *D, MLP_T *dW,
                                   MLP_T *db)
{
    MLP_SMALL_SWITCH(out, MLP_FN(param_grads)(n, in, MLP_K, X, D, dW, db));
}

void MLP_FN(mlp_add_scaled)(size_t len, const MLP_T *g, MLP_T lr, MLP_T *p)
{
    for (size_t k = 0; k < len; k++) {
        p[k] += g[k] * lr;
    }
}
