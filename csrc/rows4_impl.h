/*
 * rows4_impl.h — the lecture's epoch for float64 networks of at most four samples, with the samples in the lanes of
 * one AVX2 vector: the engine's fastest kernel for the lecture's network (tiny_impl.h; the textbook's truth
 * tables — XOR, AND, OR — have four samples).
 *
 * A template body, instantiated by net.c once per instruction set through each_isa.h (MLP_FI, MLP_ISA_ATTR,
 * MLP_ISA_VL). Each column of X, A1 and the deltas is one vector over the rows; each parameter is a vector
 * holding its value in every lane, so that the next epoch needs no broadcast. The operations and their order are
 * the dense layer's — each sum over its index in increasing order from the first product, each product rounded
 * before it is added — so the bits are those of the engine's other paths (tests compare them):
 *     A1 = σ(X·W1 + b1), P = σ(A1·W2 + b2), D2 = (y − P) ⊙ P(1 − P), D1 = (D2·W2ᵀ) ⊙ A1(1 − A1),
 *     W2 += (A1ᵀ·D2)·lr, b2 += (Σ D2)·lr, W1 += (Xᵀ·D1)·lr, b1 += (Σ D1)·lr.
 * A sum over the rows is a sequence of adds of lanes 0, 1, 2, 3 in every lane; a lane beyond n holds −0.0 there,
 * which leaves any sum unchanged. It is faster than the one-pass epoch the compiler vectorizes (tiny_impl.h):
 * docs/benchmarks.md, "The lecture's one-pass epochs".
 */
#include "sigmoid_simd_impl.h"

#define MLP_V_INLINE MLP_TARGET_INLINE(MLP_ISA_ATTR)

/* ((v0 + v1) + v2) + v3, in every lane. */
MLP_V_INLINE __m256d MLP_FI(rows4_sum)(__m256d v)
{
    const __m256d s = _mm256_add_pd(_mm256_permute4x64_pd(v, 0x00), _mm256_permute4x64_pd(v, 0x55));
    return _mm256_add_pd(_mm256_add_pd(s, _mm256_permute4x64_pd(v, 0xAA)), _mm256_permute4x64_pd(v, 0xFF));
}

/* The sum over the rows of v; lanes beyond the n rows (where `pad` is set) become −0.0 first. */
MLP_V_INLINE __m256d MLP_FI(rows4_sum_live)(__m256d v, const int pad, __m256d live)
{
    return MLP_FI(rows4_sum)(pad ? _mm256_blendv_pd(_mm256_set1_pd(-0.0), v, live) : v);
}

/* Column i (of `cols`) of the row-major (n, cols) matrix M as a vector over its n <= 4 rows, 0 beyond. */
MLP_V_INLINE __m256d MLP_FI(rows4_column)(const double *M, size_t n, size_t cols, size_t i)
{
    double lanes[4] = {0, 0, 0, 0};
    for (size_t r = 0; r < n; r++) {
        lanes[r] = M[r * cols + i];
    }
    return _mm256_loadu_pd(lanes);
}

/* The forward pass over the four rows: a1[q] = σ(Σ_i x[i]·w1[i][q] + b1[q]) for q < H, and the returned
   P = σ(Σ_q a1[q]·w2[q] + b2); x[i] (i < IN) are the columns of X, the parameters broadcast vectors. */
MLP_V_INLINE __m256d MLP_FI(rows4_forward_pass)(const size_t IN, const size_t H, const __m256d *x,
                                               const __m256d (*w1)[MLP_SMALL_WIDTH], const __m256d *b1,
                                               const __m256d *w2, const __m256d b2, __m256d *a1)
{
    for (size_t q = 0; q < H; q++) {
        __m256d s = _mm256_mul_pd(x[0], w1[0][q]);
        for (size_t i = 1; i < IN; i++) {
            s = _mm256_add_pd(s, _mm256_mul_pd(x[i], w1[i][q]));
        }
        a1[q] = MLP_FI(mlp_sigmoid4)(_mm256_add_pd(s, b1[q]));
    }
    __m256d s = _mm256_mul_pd(a1[0], w2[0]);
    for (size_t q = 1; q < H; q++) {
        s = _mm256_add_pd(s, _mm256_mul_pd(a1[q], w2[q]));
    }
    return MLP_FI(mlp_sigmoid4)(_mm256_add_pd(s, b2));
}

/* The parameters as broadcast vectors: w1 (IN, H), b1 (H), w2 (H), b2. */
MLP_V_INLINE void MLP_FI(rows4_broadcast)(const size_t IN, const size_t H, const mlp_params_f64 *p,
                                         __m256d (*w1)[MLP_SMALL_WIDTH], __m256d *b1, __m256d *w2, __m256d *b2)
{
    for (size_t i = 0; i < IN; i++) {
        for (size_t q = 0; q < H; q++) {
            w1[i][q] = _mm256_set1_pd(p->W1[i * H + q]);
        }
    }
    for (size_t q = 0; q < H; q++) {
        b1[q] = _mm256_set1_pd(p->b1[q]);
        w2[q] = _mm256_set1_pd(p->W2[q]);
    }
    *b2 = _mm256_set1_pd(p->b2[0]);
}

/* The epochs, with the widths IN, H (1 to MLP_SMALL_WIDTH) compile-time constants and pad = n < 4. */
MLP_V_INLINE void MLP_FI(rows4_epochs)(const size_t IN, const size_t H, const int pad, const size_t n,
                                      const double *X, const double *y, const mlp_params_f64 *p, const double lr,
                                      const size_t epochs, double *losses)
{
    __m256d x[MLP_SMALL_WIDTH], w1[MLP_SMALL_WIDTH][MLP_SMALL_WIDTH], b1[MLP_SMALL_WIDTH], w2[MLP_SMALL_WIDTH], b2;
    for (size_t i = 0; i < IN; i++) {
        x[i] = MLP_FI(rows4_column)(X, n, IN, i);
    }
    MLP_FI(rows4_broadcast)(IN, H, p, w1, b1, w2, &b2);
    const __m256d yv = MLP_FI(rows4_column)(y, n, 1, 0), one = _mm256_set1_pd(1.0), rate = _mm256_set1_pd(lr);
    const __m256d live = _mm256_cmp_pd(_mm256_set_pd(3, 2, 1, 0), _mm256_set1_pd((double)n), _CMP_LT_OQ);
    const double rows = (double)n;

    for (size_t e = 0; e < epochs; e++) {
        __m256d a1[MLP_SMALL_WIDTH], d1[MLP_SMALL_WIDTH];
        const __m256d P = MLP_FI(rows4_forward_pass)(IN, H, x, w1, b1, w2, b2, a1);
        const __m256d err = _mm256_sub_pd(yv, P); /* E2 = y − P, D2 = E2 ⊙ P(1 − P) */
        const __m256d d2 = _mm256_mul_pd(err, _mm256_mul_pd(P, _mm256_sub_pd(one, P)));
        for (size_t q = 0; q < H; q++) { /* D1 = (D2·W2ᵀ) ⊙ A1(1 − A1) */
            d1[q] = _mm256_mul_pd(_mm256_mul_pd(d2, w2[q]), _mm256_mul_pd(a1[q], _mm256_sub_pd(one, a1[q])));
        }
        const __m256d abs_err = _mm256_andnot_pd(_mm256_set1_pd(-0.0), err); /* summed in order: pairwise.h's */
        losses[e] = _mm256_cvtsd_f64(MLP_FI(rows4_sum_live)(abs_err, pad, live)) / rows;
        /* the update in the lecture's order: W2, b2, W1, b1 */
        for (size_t q = 0; q < H; q++) {
            const __m256d g = MLP_FI(rows4_sum_live)(_mm256_mul_pd(a1[q], d2), pad, live);
            w2[q] = _mm256_add_pd(w2[q], _mm256_mul_pd(g, rate));
        }
        b2 = _mm256_add_pd(b2, _mm256_mul_pd(MLP_FI(rows4_sum_live)(d2, pad, live), rate));
        for (size_t i = 0; i < IN; i++) {
            for (size_t q = 0; q < H; q++) {
                const __m256d g = MLP_FI(rows4_sum_live)(_mm256_mul_pd(x[i], d1[q]), pad, live);
                w1[i][q] = _mm256_add_pd(w1[i][q], _mm256_mul_pd(g, rate));
            }
        }
        for (size_t q = 0; q < H; q++) {
            b1[q] = _mm256_add_pd(b1[q], _mm256_mul_pd(MLP_FI(rows4_sum_live)(d1[q], pad, live), rate));
        }
    }

    for (size_t i = 0; i < IN; i++) {
        for (size_t q = 0; q < H; q++) {
            p->W1[i * H + q] = _mm256_cvtsd_f64(w1[i][q]);
        }
    }
    for (size_t q = 0; q < H; q++) {
        p->b1[q] = _mm256_cvtsd_f64(b1[q]);
        p->W2[q] = _mm256_cvtsd_f64(w2[q]);
    }
    p->b2[0] = _mm256_cvtsd_f64(b2);
}

/* tiny_train for d->n <= 4, d->in and d->hidden <= MLP_SMALL_WIDTH, d->out == 1 (rows4_train_f64, net.c). */
MLP_TARGET(MLP_ISA_ATTR) static void MLP_FI(rows4_train)(const mlp_dims *d, const double *X,
                                                        const double *y, const mlp_params_f64 *p,
                                                        double lr, size_t epochs, double *losses)
{
#define MLP_ROWS4(IN, H)                                                                                         \
    if (d->n == 4) {                                                                                             \
        MLP_FI(rows4_epochs)(IN, H, 0, 4, X, y, p, lr, epochs, losses);                                           \
    } else {                                                                                                     \
        MLP_FI(rows4_epochs)(IN, H, 1, d->n, X, y, p, lr, epochs, losses);                                        \
    }
    MLP_CONST_SWITCH(IN, d->in, MLP_CONST_SWITCH(H, d->hidden, MLP_ROWS4(IN, H)));
#undef MLP_ROWS4
}

#undef MLP_V_INLINE
