/*
 * dense_impl.h — template body of dense.c (see each_precision.h).
 *
 * Every sum runs over its index in increasing order, starting from the first product, and every product is
 * rounded before it is added (the build keeps -ffp-contract=off): the same rounding as NumPy's dot for these
 * sizes, up to the order its BLAS picks.
 */

/* X (n, in), W (in, out), b (out) -> A (n, out) = act(X·W + b). */
void MLP_FN(mlp_dense_forward)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *W, const MLP_T *b,
                               mlp_activation act, MLP_T *A)
{
    for (size_t r = 0; r < n; r++) {
        const MLP_T *x = X + r * in; /* row r of X, (in) */
        MLP_T *a = A + r * out;      /* row r of A, (out) */
        memset(a, 0, out * sizeof *a);
        for (size_t k = 0; k < in; k++) { /* a += x[k] · W[k, :] */
            const MLP_T xk = x[k];
            const MLP_T *w = W + k * out;
            for (size_t j = 0; j < out; j++) {
                a[j] += xk * w[j];
            }
        }
        for (size_t j = 0; j < out; j++) { /* (X·W) + b, as NumPy's `np.dot(X, W) + b` */
            a[j] += b[j];
        }
    }
    MLP_FN(mlp_activate)(act, n * out, A);
}

/* D (n, out), W (in, out), A_prev (n, in) -> D_prev (n, in) = (D·Wᵀ) ⊙ act_prev'(A_prev). */
void MLP_FN(mlp_dense_backward_delta)(size_t n, size_t in, size_t out, const MLP_T *D, const MLP_T *W,
                                      const MLP_T *A_prev, mlp_activation act_prev, MLP_T *D_prev)
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
    MLP_FN(mlp_mul_activation_grad)(act_prev, n * in, A_prev, D_prev);
}

/* X (n, in), D (n, out) -> dW (in, out) = Xᵀ·D, db (out) = Σ over rows of D. */
void MLP_FN(mlp_dense_param_grads)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *D, MLP_T *dW,
                                   MLP_T *db)
{
    /* Row 0 sets, rows 1.. accumulate: dW[k, :] += X[r, k] · D[r, :] — no transposed copy of X. */
    for (size_t k = 0; k < in; k++) {
        const MLP_T xk = X[k];
        for (size_t j = 0; j < out; j++) {
            dW[k * out + j] = xk * D[j];
        }
    }
    memcpy(db, D, out * sizeof *db);
    for (size_t r = 1; r < n; r++) {
        const MLP_T *x = X + r * in;
        const MLP_T *d = D + r * out;
        for (size_t k = 0; k < in; k++) {
            const MLP_T xk = x[k];
            MLP_T *g = dW + k * out;
            for (size_t j = 0; j < out; j++) {
                g[j] += xk * d[j];
            }
        }
        for (size_t j = 0; j < out; j++) {
            db[j] += d[j];
        }
    }
}

void MLP_FN(mlp_add_scaled)(size_t len, const MLP_T *g, MLP_T lr, MLP_T *p)
{
    for (size_t k = 0; k < len; k++) {
        p[k] += g[k] * lr;
    }
}
