/*
 * dense_impl.h — template body of dense.c (see each_precision.h).
 *
 * The three matrix products of a dense layer — X·W (forward), D·Wᵀ (delta to the input), Xᵀ·D (weight
 * gradient, with no transposed copy) — and their dispatch. Every sum runs over its index in increasing order,
 * starting from the first product; X·W + b of a layer that sums in halves (mlp_dense_halves_at) sums each half
 * so, then adds them. Two kinds of step:
 *   - unfused, every product rounded before it is added (-ffp-contract=off): NumPy's rounding for these sums, up
 *     to the order its BLAS picks. Layers of fewer than MLP_DENSE_FMA_MIN weights, and every layer on a CPU
 *     without FMA. Below MLP_DENSE_SIMD_MIN multiply-adds (the lecture's network) the portable loops of this file;
 *     above, the SIMD kernels of dense_simd_impl.h run unfused — the same bits;
 *   - fused (one rounding per multiply-add): layers of at least MLP_DENSE_FMA_MIN weights, with the SIMD kernels
 *     (dense_simd_impl.h), the same bits on AVX2 and AVX-512.
 * The choice depends on the layer's shape and the CPU, never on the number of rows.
 *
 * The portable loops below are register-tiled: a tile of sums (MLP_TR × MLP_TC, a plain array the compiler
 * vectorizes: standard C, no vector extension) lives in registers while its index runs, and is written once.
 */

#define MLP_TR 4 /* tile rows */
#define MLP_TC 8 /* tile columns */
#define MLP_TN_ROWWISE_BYTES (128 * 1024) /* Xᵀ·D goes row by row while its result fits in L2 ... */
#define MLP_TN_ROWWISE_MIN_ROWS 16        /* ... and has more rows than this (else registers are faster) */
#define MLP_TN_TILE_BYTES (256 * 1024)     /* ... and X, D are larger than this (else tiles read them from cache) */

/* C (n, m) = A (n, k) · B (k, m) + bias (m): sums over k, then the bias (none if NULL), as `np.dot(A, B) + bias`.
   A's rows are lda apart. Column strips of 8 outer (the strip of B stays in cache), 4 × 8 tiles of C in registers
   inner. */
MLP_INLINE void MLP_FN(gemm_nn_bias)(size_t n, size_t k, size_t m, const MLP_T *A, size_t lda, const MLP_T *B,
                                     const MLP_T *bias, MLP_T *C)
{
    size_t j = 0;
    for (; j + MLP_TC <= m; j += MLP_TC) {
        const MLP_T *bj = bias != NULL ? bias + j : NULL;
        size_t r = 0;
        for (; r + MLP_TR <= n; r += MLP_TR) {
            const MLP_T *a = A + r * lda;
            MLP_T acc[MLP_TR][MLP_TC];
            for (size_t i = 0; i < MLP_TR; i++) {
                for (size_t c = 0; c < MLP_TC; c++) {
                    acc[i][c] = B[j + c] * a[i * lda];
                }
            }
            for (size_t p = 1; p < k; p++) {
                const MLP_T *b = B + p * m + j;
                for (size_t i = 0; i < MLP_TR; i++) {
                    for (size_t c = 0; c < MLP_TC; c++) {
                        acc[i][c] += b[c] * a[i * lda + p];
                    }
                }
            }
            for (size_t i = 0; i < MLP_TR; i++) {
                for (size_t c = 0; c < MLP_TC; c++) {
                    C[(r + i) * m + j + c] = bj != NULL ? acc[i][c] + bj[c] : acc[i][c];
                }
            }
        }
        for (; r < n; r++) { /* the last rows, one at a time */
            const MLP_T *a = A + r * lda;
            MLP_T acc[MLP_TC];
            for (size_t c = 0; c < MLP_TC; c++) {
                acc[c] = B[j + c] * a[0];
            }
            for (size_t p = 1; p < k; p++) {
                for (size_t c = 0; c < MLP_TC; c++) {
                    acc[c] += B[p * m + j + c] * a[p];
                }
            }
            for (size_t c = 0; c < MLP_TC; c++) {
                C[r * m + j + c] = bj != NULL ? acc[c] + bj[c] : acc[c];
            }
        }
    }
    for (; j < m; j++) { /* the last columns, 4 rows at a time */
        size_t r = 0;
        for (; r + MLP_TR <= n; r += MLP_TR) {
            const MLP_T *a = A + r * lda;
            MLP_T acc[MLP_TR];
            for (size_t i = 0; i < MLP_TR; i++) {
                acc[i] = a[i * lda] * B[j];
            }
            for (size_t p = 1; p < k; p++) {
                for (size_t i = 0; i < MLP_TR; i++) {
                    acc[i] += a[i * lda + p] * B[p * m + j];
                }
            }
            for (size_t i = 0; i < MLP_TR; i++) {
                C[(r + i) * m + j] = bias != NULL ? acc[i] + bias[j] : acc[i];
            }
        }
        for (; r < n; r++) {
            const MLP_T *a = A + r * lda;
            MLP_T s = a[0] * B[j];
            for (size_t p = 1; p < k; p++) {
                s += a[p] * B[p * m + j];
            }
            C[r * m + j] = bias != NULL ? s + bias[j] : s;
        }
    }
}

/* C (n, k) = D (n, m) · Wᵀ, W (k, m): C[r, q] = Σ_j D[r, j]·W[q, j], over j — dot products of rows, 4 × 4 at
   a time so that 16 independent sums are in flight. */
MLP_INLINE void MLP_FN(gemm_nt)(size_t n, size_t k, size_t m, const MLP_T *D, const MLP_T *W, MLP_T *C)
{
    size_t r = 0;
    for (; r + MLP_TR <= n; r += MLP_TR) {
        size_t q = 0;
        for (; q + 4 <= k; q += 4) {
            MLP_T acc[MLP_TR][4];
            for (size_t i = 0; i < MLP_TR; i++) {
                for (size_t t = 0; t < 4; t++) {
                    acc[i][t] = D[(r + i) * m] * W[(q + t) * m];
                }
            }
            for (size_t j = 1; j < m; j++) {
                for (size_t i = 0; i < MLP_TR; i++) {
                    for (size_t t = 0; t < 4; t++) {
                        acc[i][t] += D[(r + i) * m + j] * W[(q + t) * m + j];
                    }
                }
            }
            for (size_t i = 0; i < MLP_TR; i++) {
                for (size_t t = 0; t < 4; t++) {
                    C[(r + i) * k + q + t] = acc[i][t];
                }
            }
        }
        for (; q < k; q++) {
            for (size_t i = 0; i < MLP_TR; i++) {
                const MLP_T *d = D + (r + i) * m, *w = W + q * m;
                MLP_T s = d[0] * w[0];
                for (size_t j = 1; j < m; j++) {
                    s += d[j] * w[j];
                }
                C[(r + i) * k + q] = s;
            }
        }
    }
    for (; r < n; r++) {
        const MLP_T *d = D + r * m;
        for (size_t q = 0; q < k; q++) {
            const MLP_T *w = W + q * m;
            MLP_T s = d[0] * w[0];
            for (size_t j = 1; j < m; j++) {
                s += d[j] * w[j];
            }
            C[r * k + q] = s;
        }
    }
}

/* G (k, m) = Xᵀ·D, X (n, k), D (n, m): G[q, j] = Σ_r X[r, q]·D[r, j], over r, read in place.
   When G is narrow, or small (it stays in cache) while X and D are not, and there are enough rows: row by row,
   G[q, :] = X[0, q]·D[0, :], then += X[r, q]·D[r, :] for r = 1, 2, ... — X and D are each read once, in order.
   Otherwise the sums stay in registers (4 × 8 tiles of G, or one at a time at the edges), each running down the
   rows of X and D (from cache, when they fit). */
MLP_INLINE void MLP_FN(gemm_tn)(size_t n, size_t k, size_t m, const MLP_T *X, const MLP_T *D, MLP_T *G)
{
    const int narrow = k < MLP_TR || m < MLP_TC;
    const int streaming = k * m * sizeof(MLP_T) <= MLP_TN_ROWWISE_BYTES && n * (k + m) * sizeof(MLP_T) > MLP_TN_TILE_BYTES;
    if (n > MLP_TN_ROWWISE_MIN_ROWS && (narrow || streaming)) {
        for (size_t r = 0; r < n; r++) {
            const MLP_T *x = X + r * k, *d = D + r * m;
            for (size_t q = 0; q < k; q++) {
                MLP_T *g = G + q * m;
                const MLP_T xq = x[q];
                if (r == 0) {
                    for (size_t j = 0; j < m; j++) {
                        g[j] = xq * d[j];
                    }
                } else {
                    for (size_t j = 0; j < m; j++) {
                        g[j] += xq * d[j];
                    }
                }
            }
        }
        return;
    }
    size_t j = 0;
    for (; j + MLP_TC <= m; j += MLP_TC) {
        size_t q = 0;
        for (; q + MLP_TR <= k; q += MLP_TR) {
            MLP_T acc[MLP_TR][MLP_TC];
            for (size_t i = 0; i < MLP_TR; i++) {
                for (size_t c = 0; c < MLP_TC; c++) {
                    acc[i][c] = D[j + c] * X[q + i];
                }
            }
            for (size_t r = 1; r < n; r++) {
                const MLP_T *d = D + r * m + j, *x = X + r * k + q;
                for (size_t i = 0; i < MLP_TR; i++) {
                    for (size_t c = 0; c < MLP_TC; c++) {
                        acc[i][c] += d[c] * x[i];
                    }
                }
            }
            for (size_t i = 0; i < MLP_TR; i++) {
                for (size_t c = 0; c < MLP_TC; c++) {
                    G[(q + i) * m + j + c] = acc[i][c];
                }
            }
        }
        for (; q < k; q++) {
            MLP_T acc[MLP_TC];
            for (size_t c = 0; c < MLP_TC; c++) {
                acc[c] = D[j + c] * X[q];
            }
            for (size_t r = 1; r < n; r++) {
                for (size_t c = 0; c < MLP_TC; c++) {
                    acc[c] += D[r * m + j + c] * X[r * k + q];
                }
            }
            for (size_t c = 0; c < MLP_TC; c++) {
                G[q * m + j + c] = acc[c];
            }
        }
    }
    for (; j < m; j++) {
        for (size_t q = 0; q < k; q++) {
            MLP_T s = X[q] * D[j];
            for (size_t r = 1; r < n; r++) {
                s += X[r * k + q] * D[r * m + j];
            }
            G[q * m + j] = s;
        }
    }
}

/* Σ over rows: db (m) = Σ_r D[r, :] for D's first m columns, rows ld apart, row by row as NumPy's
   np.sum(D, axis=0). */
MLP_INLINE void MLP_FN(sum_rows)(size_t n, size_t m, size_t ld, const MLP_T *D, MLP_T *db)
{
    enum { COLS = 32 }; /* columns whose sums stay in registers down the rows (not in db: no add waits on a store) */
    size_t j0 = 0;
    for (; j0 + COLS <= m; j0 += COLS) {
        MLP_T acc[COLS];
        for (size_t j = 0; j < COLS; j++) {
            acc[j] = D[j0 + j];
        }
        for (size_t r = 1; r < n; r++) {
            for (size_t j = 0; j < COLS; j++) {
                acc[j] += D[r * ld + j0 + j];
            }
        }
        for (size_t j = 0; j < COLS; j++) {
            db[j0 + j] = acc[j];
        }
    }
    for (size_t j = j0; j < m; j++) {
        db[j] = D[j];
    }
    for (size_t r = 1; r < n; r++) {
        for (size_t j = j0; j < m; j++) {
            db[j] += D[r * ld + j];
        }
    }
}

/* p += g·lr, element by element: the lecture's update (mlp_add_scaled, and dense_loops_impl.h's builds). */
MLP_INLINE void MLP_FN(add_scaled_all)(size_t len, const MLP_T *g, MLP_T lr, MLP_T *p)
{
    for (size_t k = 0; k < len; k++) {
        p[k] += g[k] * lr;
    }
}

/* a = (a + t) + bias, bias repeated every `cols` values of the len: a layer's two halves joined, row by row. */
MLP_INLINE void MLP_FN(join_rows)(size_t len, size_t cols, MLP_T *a, const MLP_T *t, const MLP_T *bias)
{
    for (size_t r = 0; r < len; r += cols) {
        for (size_t j = 0; j < cols; j++) {
            a[r + j] = (a[r + j] + t[r + j]) + bias[j];
        }
    }
}

#define MLP_ISA_IMPL "dense_loops_impl.h"
#define MLP_ISA_SETS (MLP_SET_GENERIC | MLP_SET_AVX2 | MLP_SET_AVX512)
#include "each_isa.h"

/* The portable build (x86-64 baseline, no FMA): small products, and every product where the CPU has neither
   AVX2+FMA nor AVX-512. */
static void MLP_FN(gemm_nn_bias_generic)(size_t n, size_t k, size_t m, const MLP_T *A, size_t lda, const MLP_T *B,
                                         const MLP_T *bias, MLP_T *C)
{
    MLP_FN(gemm_nn_bias)(n, k, m, A, lda, B, bias, C);
}
static void MLP_FN(gemm_nt_generic)(size_t n, size_t k, size_t m, const MLP_T *D, const MLP_T *W, MLP_T *C)
{
    MLP_FN(gemm_nt)(n, k, m, D, W, C);
}
static void MLP_FN(gemm_tn_generic)(size_t n, size_t k, size_t m, const MLP_T *X, const MLP_T *D, MLP_T *G)
{
    MLP_FN(gemm_tn)(n, k, m, X, D, G);
}

#ifdef MLP_X86_DISPATCH
/* The SIMD kernels (dense_simd_impl.h), fused or not. */
#define MLP_ISA_IMPL "dense_simd_impl.h"
#define MLP_ISA_SETS (MLP_SET_AVX2 | MLP_SET_AVX512)
#include "each_isa.h"
#endif

/* What each part of a product does to its rows of C right after computing them, on its own thread and while they
   are warm: X·W + b is activated with act; D·Wᵀ is multiplied by act'(act_of), act_of the layer's input
   activation (shaped as C); Xᵀ·D, when update is not NULL, is added to update times rate (update += C·rate,
   rounded as mlp_add_scaled: by the SIMD kernels as they store the finished sums, which then never reach C; by
   a pass after the product on the portable build), and when col_sums is not NULL, the part also sums a share of
   D's columns into it (the bias gradient, sum_rows: the same bits however the columns are shared). */
typedef struct {
    mlp_activation act;
    const MLP_T *act_of;
    MLP_T *update;
    MLP_T rate;
    MLP_T *col_sums;
} MLP_FN(epilogue);

/* A product to run, in parts (product_part): its kind, build, arguments. */
typedef struct {
    mlp_product_kind which;
    mlp_build build;
    int fused;
    int by_cols;           /* X·W + b or D·Wᵀ unpacked: the parts share out C's columns (all its rows each) */
    size_t n, k, m;         /* the product's own arguments (gemm_nn_bias, gemm_nt, gemm_tn) */
    const MLP_T *A, *B, *bias;
    size_t lda;             /* X·W + b: A's rows lda apart (k, or more for one half of a sum in halves) */
    MLP_T *C;
    const mlp_cache *cache; /* the SIMD builds pack both factors, in blocks for these caches, if `pack` is set: */
    unsigned char *pack;    /* pack_bytes for each part, part p's from pack + p · pack_bytes */
    size_t pack_bytes;
    MLP_T *shared_b;        /* with pack: B packed once for all the parts (mlp_shared_b), and its flags; or NULL */
    mlp_atomic_int *ready;
    mlp_isa isa;
    MLP_FN(epilogue) epi;
} MLP_FN(product);

/* Rows lo .. hi − 1 of part `part` of `parts` of a range of `total`, cut at multiples of `align`. */
static void MLP_FN(part_rows)(size_t total, size_t align, size_t part, size_t parts, size_t *lo, size_t *hi)
{
    const size_t blocks = (total + align - 1) / align;
    *lo = blocks * part / parts * align;
    *hi = blocks * (part + 1) / parts * align;
    *lo = *lo < total ? *lo : total;
    *hi = *hi < total ? *hi : total;
}

/* The rows a product is cut by for parts: X·W + b and D·Wᵀ by rows of X and D, Xᵀ·D by rows of G (columns of X). */
static size_t MLP_FN(product_cut_rows)(const MLP_FN(product) *p) { return p->which == MLP_TN ? p->k : p->n; }

#ifdef MLP_X86_DISPATCH
/* A build's simd_gemm_packed (dense_simd_impl.h). */
typedef void (*MLP_FN(packed_fn))(int fused, int trans_a, int trans_b, size_t rows, size_t cols,
                                   size_t k, const MLP_T *A, size_t lda, const MLP_T *B, size_t ldb, MLP_T *C,
                                   size_t ldc, const MLP_T *bias, const mlp_cache *cache, unsigned char *memory,
                                   const mlp_shared_b *share, MLP_T *sums, MLP_T *U, MLP_T rate);

/* Rows lo .. hi − 1 (product_cut_rows) of a product, part `part` of `parts`, both factors packed by `packed`: its
   A (and unless p->shared_b its B) in `memory`. For Xᵀ·D, sums as gemm_packed's: D's column sums, or NULL. */
static void MLP_FN(packed_part)(const MLP_FN(product) *p, size_t lo, size_t hi, size_t part, size_t parts,
                                MLP_FN(packed_fn) packed, unsigned char *memory, MLP_T *sums)
{
    const size_t rows = hi - lo, n = p->n, k = p->k, m = p->m;
    const MLP_T *A = p->A, *B = p->B;
    MLP_T *C = p->C;
    const mlp_cache *cache = p->cache;
    const mlp_shared_b shared = {p->shared_b, p->ready, part, parts}, *share = p->shared_b ? &shared : NULL;
    switch (p->which) {
    case MLP_NN_BIAS:
        packed(p->fused, 0, 0, rows, m, k, A + lo * p->lda, p->lda, B, m, C + lo * m, m, p->bias, cache, memory,
               share, NULL, NULL, 0);
        break;
    case MLP_NT:
        packed(p->fused, 0, 1, rows, k, m, A + lo * m, m, B, m, C + lo * k, k, NULL, cache, memory, share, NULL, NULL,
               0);
        break;
    default:
        packed(p->fused, 1, 0, rows, m, n, A + lo, k, B, m, C + lo * m, m, NULL, cache, memory, share, sums,
               p->epi.update != NULL ? p->epi.update + lo * m : NULL, p->epi.rate);
    }
}

/* The memory packed_part needs per part with build `build`'s kernels for a product of p's dimensions, B shared or
   not; 0 if none. */
static size_t MLP_FN(product_pack_bytes)(const MLP_FN(product) *p, mlp_build build, int shared_b)
{
    size_t most = p->n > p->k ? p->n : p->k;
    most = most > p->m ? most : p->m;
    return build == MLP_BUILD_AVX512 ? MLP_FKI(pack_bytes, avx512)(p->cache, most, shared_b)
           : build == MLP_BUILD_AVX2 ? MLP_FKI(pack_bytes, avx2)(p->cache, most, shared_b)
                                     : 0;
}

/* p's packing memory for `parts` parts (p->pack, p->pack_bytes); with `share`, a B packed once for all the parts
   (p->shared_b, p->ready) where every part reads all of B and it takes at most MLP_SHARED_B_MAX bytes. NULL if
   `take` had none. */
static void *MLP_FN(product_pack_memory)(MLP_FN(product) *p, size_t parts, int share, void *(*take)(size_t bytes))
{
    size_t b_len = 0, flags = 0, shared_bytes = 0; /* the shared B's scalars and flags, and its bytes */
    share = share && parts > 1;
    if (share) {
        const size_t b_rows = p->which == MLP_NT ? p->m : p->which == MLP_TN ? p->n : p->k; /* B's (k, cols) */
        const size_t b_cols = p->which == MLP_NT ? p->k : p->m;
        b_len = p->build == MLP_BUILD_AVX512 ? MLP_FKI(shared_b_len, avx512)(p->cache, b_rows, b_cols, &flags)
                                             : MLP_FKI(shared_b_len, avx2)(p->cache, b_rows, b_cols, &flags);
        shared_bytes = b_len * sizeof(MLP_T) + flags * sizeof(mlp_atomic_int) + 64;
        share = shared_bytes <= MLP_SHARED_B_MAX;
    }
    p->pack_bytes = MLP_FN(product_pack_bytes)(p, p->build, share);
    p->shared_b = NULL;
    p->ready = NULL;
    p->pack = p->pack_bytes <= SIZE_MAX / parts ? take(parts * p->pack_bytes + (share ? shared_bytes : 0)) : NULL;
    if (p->pack == NULL) {
        return NULL;
    }
    if (share) {
        unsigned char *end = p->pack + parts * p->pack_bytes;
        p->shared_b = (MLP_T *)(end + (64 - (uintptr_t)end % 64));
        p->ready = (mlp_atomic_int *)(p->shared_b + b_len);
        for (size_t f = 0; f < flags; f++) {
            mlp_atomic_init_int(&p->ready[f], MLP_CHUNK_FREE);
        }
    }
    return p->pack;
}
#endif

/* Part `part` of `parts` of a product: a range of the rows product_cut_rows names, cut at multiples of 16 — or, if
   by_cols, all of C's rows and a range of its columns, cut at multiples of MLP_COLS_ALIGN. Every output value is
   the same chain of operations wherever the range is cut, so the result does not depend on `parts`. */
static void MLP_FN(product_part)(void *arg, size_t part, size_t parts)
{
    const MLP_FN(product) *p = arg;
    size_t lo, hi;
    /* Xᵀ·D's bias gradient, the column sums of B = D (n, m): made as D is packed where one packing of D serves all
       the parts (shared, or one part), else this part's share of them first (the same bits either way) */
    MLP_T *const packed_sums = p->which == MLP_TN && p->pack != NULL && (p->shared_b != NULL || parts == 1)
                                   ? p->epi.col_sums
                                   : NULL;
    if (p->which == MLP_TN && p->epi.col_sums != NULL && packed_sums == NULL) {
        MLP_FN(part_rows)(p->m, 32, part, parts, &lo, &hi);
        MLP_SIMD_CALL(sum_rows_v, p->isa, p->n * (hi - lo), MLP_SUM_ROWS_SIMD_MIN, MLP_SUM_ROWS_SIMD_MIN,
                      (p->n, hi - lo, p->m, p->B + lo, p->epi.col_sums + lo));
    }
    const size_t n = p->n, k = p->k, m = p->m;
    const size_t width = p->which == MLP_NT ? k : m; /* C's columns */
    size_t c0 = 0, c1 = width;                        /* this part's columns of C */
    if (p->by_cols) {
        MLP_FN(part_rows)(width, MLP_COLS_ALIGN, part, parts, &c0, &c1);
        lo = 0, hi = n;
    } else {
        MLP_FN(part_rows)(MLP_FN(product_cut_rows)(p), 16, part, parts, &lo, &hi);
    }
    if (lo >= hi || c0 >= c1) {
        return;
    }
    const size_t rows = hi - lo;
    const MLP_T *A = p->A, *B = p->B;
    MLP_T *C = p->C;
    switch (p->build) {
#ifdef MLP_X86_DISPATCH
#define MLP_BUILD_CASE(BUILD, ISA)                                                                               \
    case BUILD:                                                                                                  \
        if (p->pack != NULL) {                                                                                   \
            MLP_FN(packed_part)(p, lo, hi, part, parts, MLP_FKI(simd_gemm_packed, ISA),                          \
                                p->pack + part * p->pack_bytes, packed_sums);                                    \
            break;                                                                                               \
        }                                                                                                        \
        switch (p->which) {                                                                                      \
        case MLP_NN_BIAS: {                                                                                      \
            const mlp_cache cache = mlp_cache_or_fallback(p->cache);                                             \
            MLP_FKI(simd_gemm_nn_bias, ISA)(p->fused, rows, k, m, A + lo * p->lda, p->lda, B, p->bias, C + lo * m, \
                                            c0, c1, &cache);                                                     \
            break;                                                                                               \
        }                                                                                                        \
        case MLP_NT: MLP_FKI(simd_gemm_nt, ISA)(p->fused, rows, k, m, A + lo * m, B, C + lo * k, c0, c1); break; \
        case MLP_TN:                                                                                             \
            MLP_FKI(simd_gemm_tn_rows, ISA)(p->fused, n, k, m, A, B, C, lo, hi, p->epi.update, p->epi.rate);     \
            break;                                                                                               \
        }                                                                                                        \
        break;
    MLP_BUILD_CASE(MLP_BUILD_AVX512, avx512)
    MLP_BUILD_CASE(MLP_BUILD_AVX2, avx2)
#undef MLP_BUILD_CASE
#endif
    default: /* the portable build: Xᵀ·D is never split (parts == 1), nor is anything cut by columns */
        switch (p->which) {
        case MLP_NN_BIAS:
            MLP_FN(gemm_nn_bias_generic)(rows, k, m, A + lo * p->lda, p->lda, B, p->bias, C + lo * m);
            break;
        case MLP_NT: MLP_FN(gemm_nt_generic)(rows, k, m, A + lo * m, B, C + lo * k); break;
        case MLP_TN: MLP_FN(gemm_tn_generic)(n, k, m, A, B, C); break;
        }
    }
    /* the epilogue: element by element, or softmax row by row, so the same wherever the rows are cut; on a share
       of the columns (strided in C), one call per row */
    if (p->which == MLP_TN) {
        if (p->epi.update != NULL && p->build == MLP_BUILD_GENERIC) { /* SIMD builds: in the store */
            MLP_SIMD_CALL(add_scaled_v, p->isa, rows * m, MLP_ELEMENT_SIMD_MIN, MLP_ELEMENT_SIMD_MIN,
                          (rows * m, C + lo * m, p->epi.rate, p->epi.update + lo * m));
        }
        return;
    }
    const size_t step = c1 - c0 == width ? rows : 1; /* rows per call */
    for (size_t r = lo; r < hi; r += step) {
        MLP_T *c = C + r * width + c0;
        if (p->which == MLP_NN_BIAS) {
            MLP_FN(mlp_activate)(p->isa, p->epi.act, step, c1 - c0, c);
        } else {
            MLP_FN(mlp_mul_activation_grad)(p->isa, p->epi.act, step, c1 - c0, p->epi.act_of + r * width + c0, c);
        }
    }
}

/* A product of a layer (in, out) on n rows, on the build dense_product states; not yet cut or packed. */
static MLP_FN(product) MLP_FN(product_of)(mlp_product_kind which, size_t n, size_t in, size_t out, const MLP_T *A,
                                          const MLP_T *B, const MLP_T *bias, MLP_T *C, MLP_FN(epilogue) epi,
                                          const mlp_threads *threads)
{
    MLP_FN(product) p = {which, MLP_BUILD_GENERIC, in * out >= MLP_DENSE_FMA_MIN, 0, n, in, out, A, B, bias, in, C,
                         &threads->cache, NULL, 0, NULL, NULL, threads->isa, epi};
#ifdef MLP_X86_DISPATCH
    if (p.fused || n * in * out >= MLP_DENSE_SIMD_MIN) {
        p.build = MLP_HAS_AVX512(threads->isa)     ? MLP_BUILD_AVX512
                  : MLP_HAS_AVX2_FMA(threads->isa) ? MLP_BUILD_AVX2
                                                   : MLP_BUILD_GENERIC;
    }
#endif
    return p;
}

/* p's packing memory, for `parts` parts, where it is large enough to pack (dense_product). */
static void MLP_FN(product_pack)(MLP_FN(product) *p, size_t parts, const mlp_threads *threads)
{
#ifdef MLP_X86_DISPATCH
    if (p->n * p->k * p->m >= MLP_DENSE_PACK_MIN && threads->alloc.take != NULL && p->build != MLP_BUILD_GENERIC) {
        /* B packed once for all the parts (benchmarks.md, "Does sharing packed B pay?") */
        MLP_FN(product_pack_memory)(p, parts, 1, threads->alloc.take);
    } /* else, or without the memory, the unpacked kernels: the same result */
#else
    (void)p, (void)parts, (void)threads;
#endif
}

/* Runs a product of a layer (in, out), out > MLP_SMALL_WIDTH, on n rows:
   - a layer of at least MLP_DENSE_FMA_MIN weights: the fused kernel of the widest instruction set the CPU has;
   - a smaller one: below MLP_DENSE_SIMD_MIN multiply-adds the portable build, else the unfused SIMD kernel
     (the same bits).
   Whether a layer fuses depends on its shape only, never on n: a row's output (forward, delta) is the same
   whatever batch it comes in. From MLP_PARALLEL_MIN_OPS multiply-adds on, the product is split among up to
   threads.count threads (mlp_parallel), as many as give each part MLP_PARALLEL_MIN_ROWS of the rows it is cut
   by — or, for an unpacked X·W + b or D·Wᵀ with an element-wise epilogue on rows too few for a part on every
   thread, MLP_COLS_ALIGN of C's columns (by_cols) where those give more parts; the same result. Each part
   then applies the epilogue to its share, so that work is split among the threads too. */
static void MLP_FN(dense_product)(mlp_product_kind which, size_t n, size_t in, size_t out, const MLP_T *A,
                                  const MLP_T *B, const MLP_T *bias, MLP_T *C, MLP_FN(epilogue) epi,
                                  mlp_threads threads)
{
    MLP_FN(product) p = MLP_FN(product_of)(which, n, in, out, A, B, bias, C, epi, &threads);
    /* X·W + b and D·Wᵀ below the packed size, their epilogue element by element, on rows too few for a part of
       MLP_PARALLEL_MIN_ROWS on every thread, are cut by columns instead where that makes more parts (by_cols:
       small batches) */
    const size_t row_parts = MLP_FN(product_cut_rows)(&p) / MLP_PARALLEL_MIN_ROWS;
    const size_t col_parts = (which == MLP_NT ? in : out) / MLP_COLS_ALIGN;
    const int cols = which != MLP_TN && p.build != MLP_BUILD_GENERIC && n * in * out < MLP_DENSE_PACK_MIN &&
                     epi.act.kind != MLP_SOFTMAX && row_parts < threads.count && col_parts > row_parts;
    size_t parts = 1;
    if (threads.count > 1 && n * in * out >= MLP_PARALLEL_MIN_OPS &&
        !(which == MLP_TN && p.build == MLP_BUILD_GENERIC)) {
        const size_t most = cols ? col_parts : row_parts; /* 0 below MLP_PARALLEL_MIN_ROWS rows: one part */
        parts = most < 2 ? 1 : threads.count < most ? threads.count : most;
    }
    p.by_cols = cols && parts > 1;
    threads.count = parts;
    MLP_FN(product_pack)(&p, parts, &threads);
    mlp_parallel(threads, n * in * out, MLP_FN(product_part), &p);
    if (p.pack != NULL) {
        threads.alloc.give(p.pack);
    }
}

/* X·W + b of a layer that sums in halves (mlp_dense_halves_at): its two halves, and what joins them. */
typedef struct {
    MLP_FN(product) half[2]; /* X[:, :h]·W[:h] into A and X[:, h:]·W[h:] into S, each without the bias */
    size_t row_parts;        /* the parts each half's rows are cut into */
    size_t n, out;
    MLP_T *A;
    const MLP_T *S, *bias;
    mlp_activation act;
    mlp_isa isa;
} MLP_FN(halves_sum);

/* Part `part` of `parts` of the two halves: of their 2 · row_parts pieces (half, part of its rows), a range as even
   as the count allows, whatever `parts` (mlp_parallel may run fewer). On two threads each runs one half: the rows
   of W that its part of the layer's Xᵀ·D updates (cut at the same multiple of 16), so W stays in its cache. */
static void MLP_FN(halves_part)(void *arg, size_t part, size_t parts)
{
    const MLP_FN(halves_sum) *s = arg;
    const size_t pieces = 2 * s->row_parts;
    for (size_t q = pieces * part / parts; q < pieces * (part + 1) / parts; q++) {
        MLP_FN(product_part)((void *)&s->half[q / s->row_parts], q % s->row_parts, s->row_parts);
    }
}

/* A part's rows of A = act((A + S) + b). */
static void MLP_FN(halves_join_part)(void *arg, size_t part, size_t parts)
{
    const MLP_FN(halves_sum) *s = arg;
    size_t lo, hi;
    MLP_FN(part_rows)(s->n, 16, part, parts, &lo, &hi);
    if (lo < hi) {
        const size_t len = (hi - lo) * s->out;
        MLP_SIMD_CALL(join_rows_v, s->isa, len, MLP_ELEMENT_SIMD_MIN, MLP_ELEMENT_SIMD_MIN,
                      (len, s->out, s->A + lo * s->out, s->S + lo * s->out, s->bias));
        MLP_FN(mlp_activate)(s->isa, s->act, hi - lo, s->out, s->A + lo * s->out);
    }
}

/* mlp_dense_forward of a layer that sums in halves, cut at h: both halves (from MLP_PARALLEL_MIN_OPS on, one per
   thread, each half's rows cut among more threads where there are), then the join, cut by rows. */
static void MLP_FN(dense_forward_halves)(size_t n, size_t in, size_t out, size_t h, const MLP_T *X, const MLP_T *W,
                                         const MLP_T *b, mlp_activation act, MLP_T *A, MLP_T *S, mlp_threads threads)
{
    const size_t ops = n * in * out, count = threads.count;
    const int parallel = count > 1 && ops >= MLP_PARALLEL_MIN_OPS;
    MLP_FN(halves_sum) s = {.row_parts = 1, .n = n, .out = out, .A = A, .S = S, .bias = b, .act = act,
                            .isa = threads.isa};
    if (parallel && n / MLP_PARALLEL_MIN_ROWS > 1 && count / 2 > 1) {
        s.row_parts = n / MLP_PARALLEL_MIN_ROWS < count / 2 ? n / MLP_PARALLEL_MIN_ROWS : count / 2;
    }
    for (size_t half = 0; half < 2; half++) {
        const size_t k0 = half ? h : 0;
        MLP_FN(product) *p = &s.half[half];
        *p = MLP_FN(product_of)(MLP_NN_BIAS, n, in, out, X + k0, W + k0 * out, NULL, half ? S : A,
                                (MLP_FN(epilogue)){MLP_ACT(MLP_IDENTITY), NULL, NULL, 0, NULL}, &threads);
        p->k = half ? in - h : h;
        MLP_FN(product_pack)(p, s.row_parts, &threads);
    }
    threads.count = parallel ? 2 * s.row_parts : 1;
    mlp_parallel(threads, ops, MLP_FN(halves_part), &s);
    for (size_t half = 0; half < 2; half++) {
        if (s.half[half].pack != NULL) {
            threads.alloc.give(s.half[half].pack);
        }
    }
    const size_t join_parts = n / MLP_PARALLEL_MIN_ROWS;
    threads.count = !parallel || join_parts < 2 ? 1 : join_parts < count ? join_parts : count;
    mlp_parallel(threads, ops, MLP_FN(halves_join_part), &s);
}

/* X (n, in), W (in, out), b (out) -> A (n, out) = act(X·W + b); S: scratch (n, out) where the layer sums in halves. */
void MLP_FN(mlp_dense_forward)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *W, const MLP_T *b,
                               mlp_activation act, MLP_T *A, MLP_T *S, mlp_threads threads)
{
    const size_t h = mlp_dense_halves_at(in, out);
    if (out <= MLP_SMALL_WIDTH) { /* the lecture's layers: out a constant, the loops unrolled */
        MLP_SMALL_SWITCH(out, MLP_FN(gemm_nn_bias)(n, in, MLP_K, X, in, W, b, A));
        MLP_FN(mlp_activate)(threads.isa, act, n, out, A);
    } else if (h != 0) {
        MLP_FN(dense_forward_halves)(n, in, out, h, X, W, b, act, A, S, threads);
    } else {
        MLP_FN(dense_product)(MLP_NN_BIAS, n, in, out, X, W, b, A, (MLP_FN(epilogue)){act, NULL, NULL, 0, NULL},
                              threads);
    }
}

/* D (n, out), W (in, out), A_prev (n, in) -> D_prev (n, in) = (D·Wᵀ) ⊙ act_prev'(A_prev). */
void MLP_FN(mlp_dense_backward_delta)(size_t n, size_t in, size_t out, const MLP_T *D, const MLP_T *W,
                                      const MLP_T *A_prev, mlp_activation act_prev, MLP_T *D_prev, mlp_threads threads)
{
    if (out <= MLP_SMALL_WIDTH) {
        MLP_SMALL_SWITCH(out, MLP_FN(gemm_nt)(n, in, MLP_K, D, W, D_prev));
        MLP_FN(mlp_mul_activation_grad)(threads.isa, act_prev, n, in, A_prev, D_prev);
    } else {
        MLP_FN(dense_product)(MLP_NT, n, in, out, D, W, NULL, D_prev,
                              (MLP_FN(epilogue)){act_prev, A_prev, NULL, 0, NULL}, threads);
    }
}

/* dW = Xᵀ·D, db = Σ over rows of D; then, if W is not NULL, W += dW·lr and b += db·lr (W's update as the
   product's epilogue). */
static void MLP_FN(param_grads)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *D, MLP_T *dW,
                                MLP_T *db, MLP_T lr, MLP_T *W, MLP_T *b, mlp_threads threads)
{
    if (out <= MLP_SMALL_WIDTH) {
        MLP_SMALL_SWITCH(out, MLP_FN(gemm_tn)(n, in, MLP_K, X, D, dW); MLP_FN(sum_rows)(n, MLP_K, MLP_K, D, db));
        if (W != NULL) {
            MLP_FN(mlp_add_scaled)(in * out, dW, lr, W);
        }
    } else {
        MLP_FN(dense_product)(MLP_TN, n, in, out, X, D, NULL, dW,
                              (MLP_FN(epilogue)){MLP_ACT(MLP_IDENTITY), NULL, W, lr, db}, threads);
    }
    if (W != NULL) {
        MLP_FN(mlp_add_scaled)(out, db, lr, b);
    }
}

/* X (n, in), D (n, out) -> dW (in, out) = Xᵀ·D, db (out) = Σ over rows of D. */
void MLP_FN(mlp_dense_param_grads)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *D, MLP_T *dW,
                                   MLP_T *db, mlp_threads threads)
{
    MLP_FN(param_grads)(n, in, out, X, D, dW, db, 0, NULL, NULL, threads);
}

void MLP_FN(mlp_dense_param_step)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *D, MLP_T *dW,
                                  MLP_T *db, MLP_T lr, MLP_T *W, MLP_T *b, mlp_threads threads)
{
    MLP_FN(param_grads)(n, in, out, X, D, dW, db, lr, W, b, threads);
}

/* For the C tests (tests/c): one product through one build, whatever its size. which: 0 C (n, m) = A (n, k) ·
   B (k, m) + bias; 1 C (n, k) = A (n, m) · Bᵀ, B (k, m); 2 C (k, m) = Aᵀ · B, A (n, k), B (n, m). path: 0 the
   portable build; 1 AVX2 and 2 AVX-512, fused; 3 AVX2 and 4 AVX-512, unfused (A·B + bias blocked for
   MLP_CACHE_FALLBACK's caches: nn_depth). Returns 0, and does nothing, if this CPU or compiler lacks the path. */
int MLP_FN(mlp_dense_product_path)(int which, int path, size_t n, size_t k, size_t m, const MLP_T *A, const MLP_T *B,
                                   const MLP_T *bias, MLP_T *C)
{
#ifdef MLP_X86_DISPATCH
    const mlp_cache cache = MLP_CACHE_FALLBACK;
#define MLP_PATH_CASES(ISA, fused)                                                                               \
    switch (which) {                                                                                             \
    case 0: MLP_FKI(simd_gemm_nn_bias, ISA)((fused), n, k, m, A, k, B, bias, C, 0, m, &cache); return 1;         \
    case 1: MLP_FKI(simd_gemm_nt, ISA)((fused), n, k, m, A, B, C, 0, k); return 1;                               \
    default: MLP_FKI(simd_gemm_tn, ISA)((fused), n, k, m, A, B, C); return 1;                                    \
    }
    if (path == 2 || path == 4) {
        if (!MLP_CPU_AVX512()) {
            return 0;
        }
        MLP_PATH_CASES(avx512, path == 2)
    }
    if (path == 1 || path == 3) {
        if (!MLP_CPU_AVX2_FMA()) {
            return 0;
        }
        MLP_PATH_CASES(avx2, path == 1)
    }
#undef MLP_PATH_CASES
#endif
    if (path != 0) {
        return 0;
    }
    switch (which) {
    case 0: MLP_FN(gemm_nn_bias_generic)(n, k, m, A, k, B, bias, C); break;
    case 1: MLP_FN(gemm_nt_generic)(n, k, m, A, B, C); break;
    default: MLP_FN(gemm_tn_generic)(n, k, m, A, B, C); break;
    }
    return 1;
}

/* For the C tests: as mlp_dense_product_path (paths 1 to 4 only), through the packed kernels (gemm_packed)
   blocked for `cache` (NULL: MLP_CACHE_FALLBACK) in memory from `alloc`, whatever the size, in `parts` parts run
   one after another on this thread, the last first (sharing B, on either instruction set); for Aᵀ·B (which 2),
   B's column sums into `sums` too, if not NULL (the bias gradient's, made as B is packed). Returns 0, and does
   nothing, if this CPU or compiler lacks the path or the memory could not be had. */
int MLP_FN(mlp_dense_product_blocked)(int which, int path, const mlp_cache *cache, mlp_alloc alloc, size_t parts,
                                      size_t n, size_t k, size_t m, const MLP_T *A, const MLP_T *B, const MLP_T *bias,
                                      MLP_T *C, MLP_T *sums)
{
#ifdef MLP_X86_DISPATCH
    const mlp_cache fallback = MLP_CACHE_FALLBACK;
    MLP_FN(product) p = {(mlp_product_kind)which, MLP_BUILD_GENERIC, path <= 2, 0, n, k, m, A, B, bias, k, C,
                         cache != NULL ? cache : &fallback, NULL, 0, NULL, NULL, MLP_ISA_BEST,
                         {MLP_ACT(MLP_IDENTITY), C, NULL, 0, which == 2 ? sums : NULL}}; /* (no other epilogue) */
    p.build = (path == 2 || path == 4) && MLP_CPU_AVX512()  ? MLP_BUILD_AVX512
              : (path == 1 || path == 3) && MLP_CPU_AVX2_FMA() ? MLP_BUILD_AVX2
                                                              : MLP_BUILD_GENERIC;
    if (p.build == MLP_BUILD_GENERIC) {
        return 0;
    }
    p.isa = p.build == MLP_BUILD_AVX512 ? MLP_ISA_AVX512 : MLP_ISA_AVX2;
    if (MLP_FN(product_pack_memory)(&p, parts, 1, alloc.take) == NULL) {
        return 0;
    }
    for (size_t part = parts; part-- > 0;) {
        MLP_FN(product_part)(&p, part, parts);
    }
    alloc.give(p.pack);
    return 1;
#else
    (void)which, (void)path, (void)cache, (void)alloc, (void)parts, (void)n, (void)k, (void)m, (void)A, (void)B,
        (void)bias, (void)C, (void)sums;
    return 0;
#endif
}

void MLP_FN(mlp_add_scaled)(size_t len, const MLP_T *g, MLP_T lr, MLP_T *p) { MLP_FN(add_scaled_all)(len, g, lr, p); }
