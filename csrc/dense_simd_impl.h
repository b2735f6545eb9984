/*
 * dense_simd_impl.h — the dense layer's three products as SIMD kernels, for one precision (MLP_T, MLP_FN) and one
 * instruction set (MLP_ISA, MLP_ISA_ATTR, MLP_ISA_LEVEL: each_isa.h, through dense_impl.h), named MLP_FK(name) =
 * name_f32_avx512, ... It sets, and #undefs at its end:
 *   MLP_MR, MLP_NV the register tile: MLP_MR rows × MLP_NV vectors of C. AVX-512: 32 vector registers, a
 *                  12 × 2-vector tile (24 sums); AVX2: 16 registers, a 6 × 2-vector tile (12 sums)
 *   MLP_KC         the depth of a block of the sum (a strip of B, MLP_KC × MLP_NV vectors, stays in L1)
 *   MLP_KC_ROW, MLP_FEW_ROWS  the depth for up to MLP_FEW_ROWS rows of X through some Ws larger than L2
 *                  (nn_depth says which)
 *   MLP_PREFETCH_A, MLP_PREFETCH_B  how far ahead the packed tile's loop prefetches its panels (gemm_tile)
 *
 * One micro-kernel serves all three products: a tile of C in registers, and for each p one row of B
 * (vectors) times a scalar of A per row of the tile (broadcast), added into the tile. A is read either by rows
 * (X·W, D·Wᵀ) or by columns (Xᵀ·D, in place: no transposed copy); D·Wᵀ reads Wᵀ from a small packed panel, and
 * a strip of B read by several tiles is packed too (B's rows can be 4 KB apart, all in one set of L1).
 *
 * Every element of C is the same chain whatever the tile, the block or the instruction set:
 *     s = a_0·b_0 (rounded),  then for p = 1, 2, ... in increasing order
 *         fused:   s = fma(a_p, b_p, s)        (one rounding)
 *         unfused: s = s + a_p·b_p             (the product rounded, then the sum: the portable build's bits)
 *     then s + bias.
 * Blocks of the sum (MLP_KC) store s in C and load it back, which changes nothing: s is a rounded value either
 * way. So the AVX2 and AVX-512 builds agree to the bit, and with a plain loop of fma() (tests/c).
 */

#if MLP_ISA_LEVEL == 3 /* AVX-512 */
#define MLP_MR 12
#else
#define MLP_MR 6
#endif
_Static_assert(MLP_MR == 6 || MLP_MR == 12, "gemm_strip has a tile for each count of rows left after full tiles");
#define MLP_NV 2
#define MLP_KC 256
#define MLP_KC_ROW 8
#define MLP_FEW_ROWS 3
#define MLP_V MLP_FK(mlp_vec)
#define MLP_M MLP_FK(mlp_mask)
#define MLP_VL (sizeof(MLP_V) / sizeof(MLP_T)) /* lanes */
#define MLP_NR (MLP_NV * MLP_VL)               /* columns of a full tile */
#define MLP_CHUNK (8 * MLP_NR)                  /* columns of a shared B that a part packs at a time */
#define MLP_SUM_VECS 8                          /* vectors of columns whose sums pack_b keeps in registers */
#define MLP_KFN MLP_TARGET_INLINE(MLP_ISA_ATTR)

/* The register tile: C (mr, nv vectors) (+)= A (mr, kc) · B (kc, nv vectors). fused, mr, nv, masked, trans_a
   are constants at each call, so the loops over them unroll and acc lives in registers.
   A(i, p) is A[i·lda + p], or A[p·lda + i] if trans_a. B's rows are ldb apart, C's ldc.
   If masked, the last vector has only the lanes of `last`: the others read 0 and are not written. first: start
   the sums (C's values are not read); else continue the sums held in C. bias (NULL if none): added to the
   finished sums. U (NULL if none; shaped as C, rows ldc apart): U += sums · rate in place of storing the sums to C
   (the lecture's update W += dW·lr with dW's sums as they are finished, rounded as mlp_add_scaled: the product,
   then the sum). */
#define MLP_AIP(i, p) (trans_a ? A[(p) * lda + (i)] : A[(i) * lda + (p)])
#define MLP_LOADV(v, ptr) (masked && (v) == nv - 1 ? MLP_FK(MLP_VLOADM)((ptr), last) : MLP_FK(MLP_VLOADU)(ptr))

/* Term p of the tile's sums: acc[i] = A(i, p) · B's row p if start (the rounded product), else acc[i] += it, in
   the order the header states. */
MLP_KFN void MLP_FK(tile_term)(const int start, const int fused, const size_t mr, const size_t nv, const int masked,
                               const int trans_a, size_t p, const MLP_T *A, size_t lda, const MLP_T *B, size_t ldb,
                               MLP_M last, MLP_V acc[MLP_MR][MLP_NV])
{
    const MLP_T *bp = B + p * ldb;
    MLP_V b[MLP_NV];
#pragma GCC unroll 4
    for (size_t v = 0; v < nv; v++) {
        b[v] = MLP_LOADV(v, bp + v * MLP_VL);
    }
#pragma GCC unroll 16
    for (size_t i = 0; i < mr; i++) {
        const MLP_V a = MLP_FK(MLP_VSET1)(MLP_AIP(i, p));
#pragma GCC unroll 4
        for (size_t v = 0; v < nv; v++) {
            if (start) {
                acc[i][v] = a * b[v];
            } else if (fused) {
                acc[i][v] = MLP_FK(MLP_VFMA)(a, b[v], acc[i][v]);
            } else {
                acc[i][v] = acc[i][v] + a * b[v]; /* rounded product, then sum (-ffp-contract=off) */
            }
        }
    }
}

/* packed: A and B are packed panels (pack_a, pack_b: A(i, p) at A[p·MLP_MR + i], B's rows MLP_NR apart), streamed
   from L2 as the full tile's loop runs, so it prefetches their rows a few iterations ahead (the next tile's, past
   the panels' end: a prefetch never faults). */
#define MLP_PREFETCH_A 32 /* terms of the sum ahead: 1.5 KB of A's panel for the AVX-512 float32 tile */
#define MLP_PREFETCH_B 8  /* rows of B's strip ahead: 1 KB for it */
MLP_KFN void MLP_FK(gemm_tile)(const int fused, const int packed, const size_t mr, const size_t nv, const int masked,
                               const int trans_a, size_t kc, const MLP_T *A, size_t lda, const MLP_T *B, size_t ldb,
                               MLP_T *C, size_t ldc, int first, const MLP_T *bias, MLP_M last, MLP_T *U,
                               const MLP_T rate)
{
    MLP_V acc[MLP_MR][MLP_NV];
    size_t p = 0;
    if (first) {
        MLP_FK(tile_term)(1, fused, mr, nv, masked, trans_a, 0, A, lda, B, ldb, last, acc);
        p = 1;
    } else {
#pragma GCC unroll 16
        for (size_t i = 0; i < mr; i++) {
#pragma GCC unroll 4
            for (size_t v = 0; v < nv; v++) {
                acc[i][v] = MLP_LOADV(v, C + i * ldc + v * MLP_VL);
            }
        }
    }
    if (mr == MLP_MR && nv == MLP_NV && !masked) { /* a full tile, the large products' loop: 4 terms a turn */
#pragma GCC unroll 4
        for (; p < kc; p++) {
            if (packed) {
                _mm_prefetch((const char *)(A + (p + MLP_PREFETCH_A) * MLP_MR), _MM_HINT_T0);
                const char *b_ahead = (const char *)(B + (p + MLP_PREFETCH_B) * MLP_NR);
                for (size_t line = 0; line < MLP_NR * sizeof(MLP_T); line += 64) {
                    _mm_prefetch(b_ahead + line, _MM_HINT_T0);
                }
            }
            MLP_FK(tile_term)(0, fused, MLP_MR, MLP_NV, 0, trans_a, p, A, lda, B, ldb, last, acc);
        }
    } else {
        for (; p < kc; p++) {
            MLP_FK(tile_term)(0, fused, mr, nv, masked, trans_a, p, A, lda, B, ldb, last, acc);
        }
    }
    if (bias != NULL) {
#pragma GCC unroll 4
        for (size_t v = 0; v < nv; v++) {
            const MLP_V bv = MLP_LOADV(v, bias + v * MLP_VL);
#pragma GCC unroll 16
            for (size_t i = 0; i < mr; i++) {
                acc[i][v] = acc[i][v] + bv;
            }
        }
    }
#pragma GCC unroll 16
    for (size_t i = 0; i < mr; i++) {
#pragma GCC unroll 4
        for (size_t v = 0; v < nv; v++) {
            if (U != NULL) {
                MLP_T *u = U + i * ldc + v * MLP_VL;
                const MLP_V step = acc[i][v] * MLP_FK(MLP_VSET1)(rate);
                if (masked && v == nv - 1) {
                    MLP_FK(MLP_VSTOREM)(u, last, MLP_FK(MLP_VLOADM)(u, last) + step);
                } else {
                    MLP_FK(MLP_VSTOREU)(u, MLP_FK(MLP_VLOADU)(u) + step);
                }
                continue;
            }
            MLP_T *c = C + i * ldc + v * MLP_VL;
            if (masked && v == nv - 1) {
                MLP_FK(MLP_VSTOREM)(c, last, acc[i][v]);
            } else {
                MLP_FK(MLP_VSTOREU)(c, acc[i][v]);
            }
        }
    }
}
#undef MLP_AIP
#undef MLP_LOADV

/* One strip of C, nv vectors wide: its `rows` rows in tiles of MLP_MR, the rest in one tile of as many rows, so
   that every tile reads its own rows of A and the strip of B once. Rows fewer than a tile in tiles of 8, 4, 2, 1
   read the strip once per tile: from L3 or memory when it is deep and B's rows a multiple of 4 KB apart (its lines
   fall into a few sets of L1 and L2, and do not stay), which made 5 and 7 rows slower than 12 (docs/benchmarks.md,
   "A few rows in one tile"). U, rate: gemm_tile's, for the strip (NULL: none). */
MLP_KFN void MLP_FK(gemm_strip)(const int fused, const size_t nv, const int masked, const int trans_a, size_t rows,
                                size_t kc, const MLP_T *A, size_t lda, const MLP_T *B, size_t ldb, MLP_T *C, size_t ldc,
                                int first, const MLP_T *bias, MLP_M last, MLP_T *U, const MLP_T rate)
{
    const size_t astep = trans_a ? 1 : lda; /* from A's row i to row i + 1 */
    size_t i = 0;
    for (; i + MLP_MR <= rows; i += MLP_MR) {
        MLP_FK(gemm_tile)(fused, 0, MLP_MR, nv, masked, trans_a, kc, A + i * astep, lda, B, ldb, C + i * ldc, ldc,
                          first, bias, last, U != NULL ? U + i * ldc : NULL, rate);
    }
#define MLP_TAIL_TILE(R)                                                                                         \
    case (R):                                                                                                    \
        MLP_FK(gemm_tile)(fused, 0, (R), nv, masked, trans_a, kc, A + i * astep, lda, B, ldb, C + i * ldc, ldc, first, \
                          bias, last, U != NULL ? U + i * ldc : NULL, rate);                                     \
        break;
    switch (rows - i) {
        MLP_TAIL_TILE(1)
        MLP_TAIL_TILE(2)
        MLP_TAIL_TILE(3)
        MLP_TAIL_TILE(4)
        MLP_TAIL_TILE(5)
#if MLP_MR > 6
        MLP_TAIL_TILE(6)
        MLP_TAIL_TILE(7)
        MLP_TAIL_TILE(8)
        MLP_TAIL_TILE(9)
        MLP_TAIL_TILE(10)
        MLP_TAIL_TILE(11)
#endif
    default: break; /* none */
    }
#undef MLP_TAIL_TILE
}

/* Copies the strip B (kc, nv vectors), rows ldb apart, to panel (kc, MLP_NR), rows MLP_NR apart: contiguous, so
   that it stays in L1 while every tile of the strip reads it (B's rows may be 4 KB apart, all in one cache set). */
MLP_KFN void MLP_FK(pack_strip)(const size_t nv, const int masked, size_t kc, const MLP_T *B, size_t ldb,
                                MLP_T *panel, MLP_M last)
{
    for (size_t p = 0; p < kc; p++) {
#pragma GCC unroll 4
        for (size_t v = 0; v < nv; v++) {
            const MLP_T *b = B + p * ldb + v * MLP_VL;
            const MLP_V x = masked && v == nv - 1 ? MLP_FK(MLP_VLOADM)(b, last) : MLP_FK(MLP_VLOADU)(b);
            MLP_FK(MLP_VSTOREU)(panel + p * MLP_NR + v * MLP_VL, x);
        }
    }
}

/* One strip: packed first (into panel, if not NULL) when more than one tile of rows will read it and its rows span
   more than MLP_PACK_SPAN bytes. A shorter span is read in place: its lines fall at most 8 times into any set of
   L1 (48 KB, 12 ways: the sets repeat every 4 KB), so the tiles after the first still find it there, and the copy
   would be wasted (docs/benchmarks.md, "Dense products against OpenBLAS"). */
#define MLP_PACK_SPAN (32 * 1024)
MLP_KFN void MLP_FK(gemm_strip_packed)(const int fused, const size_t nv, const int masked, const int trans_a,
                                       size_t rows, size_t kc, const MLP_T *A, size_t lda, const MLP_T *B, size_t ldb,
                                       MLP_T *C, size_t ldc, int first, const MLP_T *bias, MLP_M last, MLP_T *panel,
                                       MLP_T *U, const MLP_T rate)
{
    if (panel != NULL && rows > MLP_MR && kc * ldb * sizeof(MLP_T) > MLP_PACK_SPAN) {
        MLP_FK(pack_strip)(nv, masked, kc, B, ldb, panel, last);
        B = panel;
        ldb = MLP_NR;
    }
    MLP_FK(gemm_strip)(fused, nv, masked, trans_a, rows, kc, A, lda, B, ldb, C, ldc, first, bias, last, U, rate);
}

/* C (rows, cols) (+)= A (rows, kc) · B (kc, cols): strips of MLP_NV vectors, then one narrower strip whose last
   vector is masked. panel: MLP_KC × MLP_NR scalars to pack B's strips into, or NULL to read B in place. U, rate:
   gemm_tile's, for the block (NULL: none). */
MLP_KFN void MLP_FK(gemm_block)(const int fused, const int trans_a, size_t rows, size_t cols, size_t kc,
                                const MLP_T *A, size_t lda, const MLP_T *B, size_t ldb, MLP_T *C, size_t ldc, int first,
                                const MLP_T *bias, MLP_T *panel, MLP_T *U, const MLP_T rate)
{
    size_t j = 0;
    const MLP_M all = MLP_FK(mlp_mask_first)(MLP_VL);
    for (; j + MLP_NR <= cols; j += MLP_NR) {
        MLP_FK(gemm_strip_packed)(fused, MLP_NV, 0, trans_a, rows, kc, A, lda, B + j, ldb, C + j, ldc, first,
                                  bias != NULL ? bias + j : NULL, all, panel, U != NULL ? U + j : NULL, rate);
    }
    if (j < cols) {
        const size_t rest = cols - j, nv = (rest + MLP_VL - 1) / MLP_VL;
        const MLP_M last = MLP_FK(mlp_mask_first)(rest - (nv - 1) * MLP_VL);
        const MLP_T *bj = bias != NULL ? bias + j : NULL;
#define MLP_STRIP(NV)                                                                                            \
    MLP_FK(gemm_strip_packed)(fused, (NV), 1, trans_a, rows, kc, A, lda, B + j, ldb, C + j, ldc, first, bj, last,   \
                              panel, U != NULL ? U + j : NULL, rate)
        switch (nv) {
#if MLP_NV > 3
        case 4: MLP_STRIP(4); break;
#endif
#if MLP_NV > 2
        case 3: MLP_STRIP(3); break;
#endif
        case 2: MLP_STRIP(2); break;
        default: MLP_STRIP(1); break;
        }
#undef MLP_STRIP
    }
}

/* The size of the blocks `total` is cut into: at most `most`, all about equal (784 terms of at most 256: 4 of 196,
   not 3 of 256 and one of 16, whose tiles would spend as long loading and storing C as adding). */
MLP_KFN size_t MLP_FK(even_block)(size_t total, size_t most)
{
    const size_t blocks = (total + most - 1) / most;
    return blocks > 1 ? (total + blocks - 1) / blocks : total;
}

/* ---- Large products: both factors packed, blocks sized for the caches (mlp_blocks, dense.c) ---- */

/* Copies a block of at most MLP_VL × MLP_VL scalars transposed: S(r, c) = src[r·ld + c], r < rows, c < cols, to
   dst[c·dst_ld + r]. If pad, lanes r ≥ rows are written as 0; else they are left as they are. In registers:
   log2(MLP_VL) rounds that interleave rows j and j + MLP_VL/2 into rows 2j and 2j + 1 (each round rotates the
   bits of the index (row, column) by one place; after log2(MLP_VL) rounds, row and column have traded places). */
MLP_KFN void MLP_FK(copy_transposed)(const size_t rows, const size_t cols, const int pad, const MLP_T *src, size_t ld,
                                     MLP_T *dst, size_t dst_ld)
{
    MLP_V r[MLP_VL], t[MLP_VL];
    const MLP_M in = MLP_FK(mlp_mask_first)(cols);
#pragma GCC unroll 16
    for (size_t i = 0; i < MLP_VL; i++) {
        r[i] = i >= rows        ? MLP_FK(MLP_VSET1)(0)
               : cols == MLP_VL ? MLP_FK(MLP_VLOADU)(src + i * ld)
                                : MLP_FK(MLP_VLOADM)(src + i * ld, in);
    }
#pragma GCC unroll 4
    for (size_t round = 1; round < MLP_VL; round *= 2) {
#pragma GCC unroll 8
        for (size_t j = 0; j < MLP_VL / 2; j++) {
            MLP_FK(mlp_vzip)(r[j], r[j + MLP_VL / 2], &t[2 * j], &t[2 * j + 1]);
        }
#pragma GCC unroll 16
        for (size_t j = 0; j < MLP_VL; j++) {
            r[j] = t[j];
        }
    }
#pragma GCC unroll 16
    for (size_t j = 0; j < MLP_VL && j < cols; j++) {
        if (pad || rows == MLP_VL) {
            MLP_FK(MLP_VSTOREU)(dst + j * dst_ld, r[j]);
        } else {
            MLP_FK(MLP_VSTOREN)(dst + j * dst_ld, rows < 1 ? 1 : rows, r[j]);
        }
    }
}

/* A full panel of pack_a from A read along its rows: A(i, p) = A[i·lda + p], i < MLP_MR, p < kc, to
   dst[p·MLP_MR + i], in blocks of MLP_VL rows × MLP_VL terms transposed in registers. */
MLP_KFN void MLP_FK(pack_panel)(size_t kc, const MLP_T *A, size_t lda, MLP_T *dst)
{
#pragma GCC unroll 4
    for (size_t g = 0; g < MLP_MR; g += MLP_VL) {
        const size_t rows = MLP_MR - g < MLP_VL ? MLP_MR - g : MLP_VL;
        size_t p = 0;
        for (; p + MLP_VL <= kc; p += MLP_VL) {
            MLP_FK(copy_transposed)(rows, MLP_VL, 0, A + g * lda + p, lda, dst + p * MLP_MR + g, MLP_MR);
        }
        if (p < kc) {
            MLP_FK(copy_transposed)(rows, kc - p, 0, A + g * lda + p, lda, dst + p * MLP_MR + g, MLP_MR);
        }
    }
}

/* Packs A's block (rows, kc) — A(i, p) = A[i·lda + p], or A[p·lda + i] if trans_a — into panels of MLP_MR rows:
   A(t + i, p) at ap[t·kc + p·MLP_MR + i] for t a multiple of MLP_MR (the last panel may have fewer rows). The
   source is read along its rows (up to MLP_VL of them at once, transposed in registers: pack_panel; or with
   trans_a one at a time, in vectors), never down a column of lines lda apart, which the hardware does not
   prefetch. With trans_a each of the kc rows gives only `rows` values, a few lines, and the next row is lda
   further (a page further at 1024 float32): the hardware does not prefetch that walk either, so the loop fetches
   the lines of the row MLP_PACK_A_AHEAD ahead (Xᵀ·D at 1024³ on one Zen 3 thread: 83 to 89 % of its FMA peak;
   docs/benchmarks.md, "Does prefetching Xᵀ's rows pay?"). */
#define MLP_PACK_A_AHEAD 8
MLP_KFN void MLP_FK(pack_a)(const int trans_a, size_t rows, size_t kc, const MLP_T *A, size_t lda, MLP_T *ap)
{
    if (trans_a) {
        for (size_t p = 0; p < kc; p++) {
            const MLP_T *row = A + p * lda;
            if (p + MLP_PACK_A_AHEAD < kc) {
                const MLP_T *ahead = row + MLP_PACK_A_AHEAD * lda;
                for (size_t at = 0; at < rows; at += MLP_LINE_BYTES / sizeof(MLP_T)) {
                    _mm_prefetch((const char *)(ahead + at), _MM_HINT_T0);
                }
                _mm_prefetch((const char *)(ahead + rows - 1), _MM_HINT_T0); /* its last line, if it starts mid-line */
            }
            size_t t = 0;
            for (; t + MLP_MR <= rows; t += MLP_MR) {
#pragma GCC unroll 4
                for (size_t i = 0; i < MLP_MR; i += MLP_VL) {
                    MLP_T *dst = ap + t * kc + p * MLP_MR + i;
                    if (MLP_MR - i >= MLP_VL) {
                        MLP_FK(MLP_VSTOREU)(dst, MLP_FK(MLP_VLOADU)(row + t + i));
                    } else {
                        const MLP_M live = MLP_FK(mlp_mask_first)(MLP_MR - i);
                        MLP_FK(MLP_VSTOREN)(dst, MLP_MR - i, MLP_FK(MLP_VLOADM)(row + t + i, live));
                    }
                }
            }
            for (size_t i = 0; t + i < rows; i++) {
                ap[t * kc + p * MLP_MR + i] = row[t + i];
            }
        }
        return;
    }
    size_t t = 0;
    for (; t + MLP_MR <= rows; t += MLP_MR) {
        MLP_FK(pack_panel)(kc, A + t * lda, lda, ap + t * kc);
    }
    if (t < rows) {
        MLP_T *dst = ap + t * kc;
        for (size_t p = 0; p < kc; p++) {
            for (size_t i = 0; i < rows - t; i++) {
                dst[p * MLP_MR + i] = A[(t + i) * lda + p];
            }
        }
    }
}

/* Packs B's block (kc, cols) — B(p, c) = B[p·ldb + c], or B[c·ldb + p] if trans_b — into strips MLP_NR wide:
   B(p, s + c) at bp[s·kc + p·MLP_NR + c] for s a multiple of MLP_NR, zeros past the last column. With sums (B not
   transposed), also carries its columns' sums down the block's rows, in their order as sum_rows: sums[c] =
   B(0, c) + B(1, c) + ... if first (the sum's first block), else sums[c] + B(0, c) + ... (Xᵀ·D's B is D: so its
   column sums, the bias gradient, cost no second pass over D.) */
MLP_KFN void MLP_FK(pack_b)(const int trans_b, size_t kc, size_t cols, const MLP_T *B, size_t ldb, MLP_T *bp,
                            MLP_T *sums, int first)
{
    for (size_t s = 0; s < cols; s += MLP_NR) {
        const size_t w = cols - s < MLP_NR ? cols - s : MLP_NR;
        MLP_T *dst = bp + s * kc;
        if (trans_b) { /* MLP_VL columns of the strip at a time, from MLP_VL of B's rows transposed in registers */
#pragma GCC unroll 4
            for (size_t c = 0; c < MLP_NR; c += MLP_VL) {
                const size_t live = w <= c ? 0 : w - c < MLP_VL ? w - c : MLP_VL;
                const MLP_T *rows = live > 0 ? B + (s + c) * ldb : B; /* (none read if live is 0: zeros) */
                size_t p = 0;
                for (; p + MLP_VL <= kc; p += MLP_VL) {
                    MLP_FK(copy_transposed)(live, MLP_VL, 1, rows + p, ldb, dst + p * MLP_NR + c, MLP_NR);
                }
                if (p < kc) {
                    MLP_FK(copy_transposed)(live, kc - p, 1, rows + p, ldb, dst + p * MLP_NR + c, MLP_NR);
                }
            }
        } else if (w == MLP_NR) {
            continue; /* below, row by row */
        } else {
            for (size_t p = 0; p < kc; p++) {
                for (size_t c = 0; c < MLP_NR; c++) {
                    dst[p * MLP_NR + c] = c < w ? B[p * ldb + s + c] : 0;
                }
            }
            for (size_t p = 0; p < kc && sums != NULL; p++) {
                for (size_t c = 0; c < w; c++) {
                    sums[s + c] = first && p == 0 ? dst[c] : sums[s + c] + dst[p * MLP_NR + c];
                }
            }
        }
    }
    /* The full strips of B, row by row: each of B's rows read from start to end (prefetched), not a strip's
       kc lines ldb apart. */
    const size_t full = trans_b ? 0 : cols / MLP_NR * MLP_NR;
    if (sums != NULL) { /* the same, MLP_SUM_VECS vectors of columns at a time: their sums in registers */
        for (size_t g = 0; g < full / MLP_VL; g += MLP_SUM_VECS) {
            const size_t live = full / MLP_VL - g; /* vectors of this group, if fewer than MLP_SUM_VECS */
            MLP_V acc[MLP_SUM_VECS];
            for (size_t j = 0; j < MLP_SUM_VECS; j++) {
                acc[j] = MLP_FK(MLP_VSET1)(0); /* (the live ones are set at row 0) */
            }
            for (size_t p = 0; p < kc; p++) {
#pragma GCC unroll 16
                for (size_t j = 0; j < MLP_SUM_VECS; j++) {
                    if (j < live) {
                        const size_t col = (g + j) * MLP_VL;
                        const MLP_V x = MLP_FK(MLP_VLOADU)(B + p * ldb + col);
                        MLP_FK(MLP_VSTOREU)(bp + col / MLP_NR * MLP_NR * kc + p * MLP_NR + col % MLP_NR, x);
                        acc[j] = p > 0   ? MLP_FK(MLP_VADD)(acc[j], x)
                                 : first ? x /* (a copy, as sum_rows starts) */
                                         : MLP_FK(MLP_VADD)(MLP_FK(MLP_VLOADU)(sums + col), x);
                    }
                }
            }
#pragma GCC unroll 16
            for (size_t j = 0; j < MLP_SUM_VECS; j++) {
                if (j < live) {
                    MLP_FK(MLP_VSTOREU)(sums + (g + j) * MLP_VL, acc[j]);
                }
            }
        }
        return;
    }
    for (size_t p = 0; p < kc && full > 0; p++) {
        const MLP_T *row = B + p * ldb;
        for (size_t s = 0; s < full; s += MLP_NR) {
#pragma GCC unroll 4
            for (size_t v = 0; v < MLP_NV; v++) {
                MLP_FK(MLP_VSTOREU)(bp + s * kc + p * MLP_NR + v * MLP_VL, MLP_FK(MLP_VLOADU)(row + s + v * MLP_VL));
            }
        }
    }
}

/* One strip of C, nv vectors (ncols columns) wide, from packed A (pack_a: rows, kc) and a packed strip of B
   (pack_b: kc × MLP_NR): tiles of MLP_MR rows, the rest in one tile (gemm_strip). */
MLP_KFN void MLP_FK(gemm_strip_pa)(const int fused, const size_t nv, const int masked, size_t rows, size_t kc,
                                   const MLP_T *ap, const MLP_T *bp, MLP_T *C, size_t ldc, int first, const MLP_T *bias,
                                   MLP_M last, size_t ncols, MLP_T *U, const MLP_T rate)
{
    size_t i = 0;
    for (; i + MLP_MR <= rows; i += MLP_MR) {
        if (!first) { /* the next tile's sums, from L3 or memory: rows ldc apart are not prefetched */
            const size_t next = i + 2 * MLP_MR <= rows ? MLP_MR : rows - i - MLP_MR;
            for (size_t r = 0; r < next; r++) {
                const MLP_T *c = C + (i + MLP_MR + r) * ldc;
                _mm_prefetch((const char *)c, _MM_HINT_T0);
                _mm_prefetch((const char *)(c + ncols - 1), _MM_HINT_T0);
            }
        }
        MLP_FK(gemm_tile)(fused, 1, MLP_MR, nv, masked, 1, kc, ap + i * kc, MLP_MR, bp, MLP_NR, C + i * ldc, ldc, first,
                          bias, last, U != NULL ? U + i * ldc : NULL, rate);
    }
    if (i < rows) { /* the last panel's fewer than MLP_MR rows, A(i + r, p) at ap[i·kc + p·MLP_MR + r] */
        MLP_FK(gemm_strip)(fused, nv, masked, 1, rows - i, kc, ap + i * kc, MLP_MR, bp, MLP_NR, C + i * ldc, ldc, first,
                           bias, last, U != NULL ? U + i * ldc : NULL, rate);
    }
}

/* Makes sure the chunk of a shared B whose flag is `ready` is packed: packs it (pack_b) if no part has taken it, else
   waits for the part that did. That part waits for nothing while it packs, so this ends whichever threads run
   the parts and in whatever order (a part run after another, on the same thread, finds every chunk ready). */
MLP_KFN void MLP_FK(take_chunk)(mlp_atomic_int *ready, const int trans_b, size_t kc, size_t cols, const MLP_T *B,
                                size_t ldb, MLP_T *bp, MLP_T *sums, int first)
{
    if (mlp_atomic_load_int(ready) == MLP_CHUNK_READY) {
        return;
    }
    if (mlp_atomic_cas_int(ready, MLP_CHUNK_FREE, MLP_CHUNK_TAKEN)) {
        MLP_FK(pack_b)(trans_b, kc, cols, B, ldb, bp, sums, first);
        mlp_atomic_store_int(ready, MLP_CHUNK_READY);
        return;
    }
    mlp_spin_until(ready, MLP_CHUNK_READY);
}

/* C (rows, cols) = A (rows, k) · B (k, cols) (+ bias), the factors as pack_a and pack_b read them; C(i, c) at
   C[i·ldc + c]. The loops of BLIS: blocks of bk->nc columns; in them, blocks of
   bk->kc of the sum, whose B block is packed once (bp: bk->kc × bk->nc rounded up to MLP_NR); in them, blocks of
   bk->mc rows, whose A block is packed once (ap: bk->mc × bk->kc, a multiple of MLP_MR rows); then chunks of
   MLP_CHUNK columns, strips of MLP_NR columns (a strip of B stays in L1) and tiles of rows (the A block stays in
   L2). With `share`, B is packed in share->bp, one chunk at a time by whichever part needs it first; each part
   walks a block's chunks from its own place (part/parts of the way), so that the parts start by packing
   different ones. With sums (B not transposed), B's column sums (cols) as pack_b makes them: the packing of a
   chunk of block pc continues the sums of the same chunk of block pc − 1, which every part has seen ready before
   it reaches block pc. With U (shaped as C), the last block of the sum adds its finished sums times rate to U
   instead of storing them (gemm_tile): C then holds only the earlier blocks' partial sums. */
MLP_KFN void MLP_FK(gemm_packed)(const int fused, const int trans_a, const int trans_b, size_t rows, size_t cols,
                                 size_t k, const MLP_T *A, size_t lda, const MLP_T *B, size_t ldb,
                                 MLP_T *C, size_t ldc, const MLP_T *bias, const mlp_blocks *bk, MLP_T *ap, MLP_T *bp,
                                 const mlp_shared_b *share, MLP_T *sums, MLP_T *U, const MLP_T rate)
{
    mlp_atomic_int *ready = share != NULL ? share->ready : NULL; /* the next block's flags */
    const size_t block_chunks = ((cols < bk->nc ? cols : bk->nc) + MLP_CHUNK - 1) / MLP_CHUNK;
    for (size_t jc = 0; jc < cols; jc += bk->nc) {
        const size_t nc = cols - jc < bk->nc ? cols - jc : bk->nc;
        /* (unshared, the whole block is one chunk: walking its strips in chunks cost time there) */
        const size_t width = share != NULL ? MLP_CHUNK : nc, chunks = (nc + width - 1) / width;
        const size_t start = share != NULL ? chunks * share->part / share->parts : 0;
        for (size_t pc = 0; pc < k; pc += bk->kc) {
            const size_t kc = k - pc < bk->kc ? k - pc : bk->kc;
            const int first = pc == 0;
            const MLP_T *bias_block = bias != NULL && pc + kc == k ? bias + jc : NULL;
            MLP_T *U_block = U != NULL && pc + kc == k ? U + jc : NULL;
            const MLP_T *Bb = trans_b ? B + jc * ldb + pc : B + pc * ldb + jc;
            MLP_T *bb = bp;
            if (share != NULL) {
                bb = (MLP_T *)share->bp + jc * k + pc * ((nc + MLP_NR - 1) / MLP_NR * MLP_NR);
            } else {
                MLP_FK(pack_b)(trans_b, kc, nc, Bb, ldb, bp, sums != NULL ? sums + jc : NULL, first);
            }
            for (size_t ic = 0; ic < rows; ic += bk->mc) {
                const size_t mc = rows - ic < bk->mc ? rows - ic : bk->mc;
                MLP_FK(pack_a)(trans_a, mc, kc, trans_a ? A + pc * lda + ic : A + ic * lda + pc, lda, ap);
                for (size_t q = 0; q < chunks; q++) {
                    const size_t chunk = start + q < chunks ? start + q : start + q - chunks;
                    const size_t c0 = chunk * width, c1 = nc - c0 < width ? nc : c0 + width;
                    if (share != NULL) {
                        MLP_FK(take_chunk)(&ready[chunk], trans_b, kc, c1 - c0, trans_b ? Bb + c0 * ldb : Bb + c0,
                                           ldb, bb + c0 * kc, sums != NULL ? sums + jc + c0 : NULL, first);
                    }
                    for (size_t jr = c0; jr < c1; jr += MLP_NR) {
                        const size_t w = c1 - jr < MLP_NR ? c1 - jr : MLP_NR;
                        const MLP_T *bs = bb + jr * kc, *bj = bias_block != NULL ? bias_block + jr : NULL;
                        MLP_T *Cs = C + ic * ldc + jc + jr, *Us = U_block != NULL ? U_block + ic * ldc + jr : NULL;
                        if (w == MLP_NR) {
                            MLP_FK(gemm_strip_pa)(fused, MLP_NV, 0, mc, kc, ap, bs, Cs, ldc, first, bj,
                                                  MLP_FK(mlp_mask_first)(MLP_VL), MLP_NR, Us, rate);
                            continue;
                        }
                        const size_t nv = (w + MLP_VL - 1) / MLP_VL;
                        const MLP_M last = MLP_FK(mlp_mask_first)(w - (nv - 1) * MLP_VL);
#define MLP_STRIP(NV) MLP_FK(gemm_strip_pa)(fused, (NV), 1, mc, kc, ap, bs, Cs, ldc, first, bj, last, w, Us, rate)
                        switch (nv) {
#if MLP_NV > 3
                        case 4: MLP_STRIP(4); break;
#endif
#if MLP_NV > 2
                        case 3: MLP_STRIP(3); break;
#endif
                        case 2: MLP_STRIP(2); break;
                        default: MLP_STRIP(1); break;
                        }
#undef MLP_STRIP
                    }
                }
            }
            ready = ready != NULL ? ready + block_chunks : NULL;
        }
    }
}

/* The memory simd_gemm_packed needs for products blocked for `cache` none of whose dimensions exceeds `most`: a
   block of A, and unless the parts share B a block of B, each from a cache line. */
static size_t MLP_FK(pack_bytes)(const mlp_cache *cache, size_t most, int shared_b)
{
    const mlp_blocks bk = mlp_blocks_for(cache, MLP_MR, MLP_NR, sizeof(MLP_T));
    const size_t nc = most < bk.nc ? most : bk.nc, kc = most < bk.kc ? most : bk.kc, mc = most < bk.mc ? most : bk.mc;
    const size_t a_len = (mc + MLP_MR - 1) / MLP_MR * MLP_MR * kc, b_len = (nc + MLP_NR - 1) / MLP_NR * MLP_NR * kc;
    return ((a_len + 63) / 64 * 64 + (shared_b ? 0 : b_len)) * sizeof(MLP_T) + 64;
}

/* A shared B (mlp_shared_b) for B (k, cols) blocked for `cache`: its scalars, and its flags (*flags). */
MLP_TARGET(MLP_ISA_ATTR) static size_t MLP_FK(shared_b_len)(const mlp_cache *cache, size_t k, size_t cols,
                                                            size_t *flags)
{
    const mlp_blocks bk = mlp_blocks_for(cache, MLP_MR, MLP_NR, sizeof(MLP_T));
    const size_t kc = MLP_FK(even_block)(k, bk.kc), nc = cols < bk.nc ? cols : bk.nc;
    *flags = (cols + bk.nc - 1) / bk.nc * ((k + kc - 1) / kc) * ((nc + MLP_CHUNK - 1) / MLP_CHUNK);
    return (cols + MLP_NR - 1) / MLP_NR * MLP_NR * k;
}

/* gemm_packed for a constant `fused`, its A block (and unless `share` is given its B block) in `memory`
   (pack_bytes of it, for dimensions this large); with sums, B's column sums too. */
MLP_TARGET(MLP_ISA_ATTR) static void MLP_FK(simd_gemm_packed)(int fused, int trans_a, int trans_b, size_t rows,
                                                              size_t cols, size_t k, const MLP_T *A,
                                                              size_t lda, const MLP_T *B, size_t ldb, MLP_T *C,
                                                              size_t ldc, const MLP_T *bias, const mlp_cache *cache,
                                                              unsigned char *memory, const mlp_shared_b *share,
                                                              MLP_T *sums, MLP_T *U, MLP_T rate)
{
    const mlp_blocks bk = mlp_blocks_for(cache, MLP_MR, MLP_NR, sizeof(MLP_T));
    const size_t mc = rows < bk.mc ? rows : bk.mc, kc = k < bk.kc ? k : bk.kc;
    const size_t a_len = (mc + MLP_MR - 1) / MLP_MR * MLP_MR * kc;
    MLP_T *ap = (MLP_T *)(memory + (64 - (uintptr_t)memory % 64)); /* 64-byte aligned: a cache line */
    MLP_T *bp = share != NULL ? NULL : ap + (a_len + 63) / 64 * 64;
    /* blocks as equal as their count allows, none larger than the caches': 512 rows as 4 × 108 + 80 rather than
       4 × 126 + 8 (a last block that streams all of B's block for 8 rows) */
    const size_t even_mc = MLP_FK(even_block)(rows, bk.mc);
    const mlp_blocks use = {MLP_FK(even_block)(k, bk.kc), (even_mc + MLP_MR - 1) / MLP_MR * MLP_MR, bk.nc};
    if (fused) {
        MLP_FK(gemm_packed)(1, trans_a, trans_b, rows, cols, k, A, lda, B, ldb, C, ldc, bias, &use, ap, bp, share,
                            sums, U, rate);
    } else {
        MLP_FK(gemm_packed)(0, trans_a, trans_b, rows, cols, k, A, lda, B, ldb, C, ldc, bias, &use, ap, bp, share,
                            sums, U, rate);
    }
}

/* The three products, as always-inline bodies for a constant `fused`, then one function each (per instruction set)
   choosing between the two at its entry. */

/* The depth of nn_bias_body's blocks of the sum, for n rows of A and `cols` of B's m columns (B: k × m): MLP_KC,
   or MLP_KC_ROW for at most MLP_FEW_ROWS rows whose share of B is larger than L2 (l2_bytes), unless three things
   hold: the product is split among parts by columns (cols < m), B's rows are not a multiple of an L1 way
   (way_bytes: L1's bytes over its ways) apart, and a block of the share MLP_KC deep fits in L2. Few rows read each
   element of B once. At MLP_KC a tile walks its columns down MLP_KC rows of B, m apart, and the next tile walks
   the lines beside them. With rows a multiple of an L1 way apart, all those lines fall in the same few sets of L1
   and L2, and evict each other and the prefetchers' lines before they are read; with a block larger than L2, the
   lines the prefetchers brought for the next tile are gone when it comes. At MLP_KC_ROW a block is MLP_KC_ROW
   streams, each read on along its row by the next tile, at the cost of storing and loading C every MLP_KC_ROW
   terms. When all three hold the deep walk is one constant stride, which the prefetchers follow, and the deeper
   blocks win: fewer stores and loads of C. On one thread they lost one and two rows (measured, not understood), so
   an unsplit product keeps MLP_KC_ROW (docs/benchmarks.md, "One row through a layer larger than L2", "Rows of W a
   multiple of 4 KB apart"). Either depth gives the same bits. */
MLP_KFN size_t MLP_FK(nn_depth)(size_t n, size_t k, size_t m, size_t cols, size_t l2_bytes, size_t way_bytes)
{
    const size_t l2_scalars = l2_bytes / sizeof(MLP_T);
    if (n > MLP_FEW_ROWS || cols == 0 || k <= l2_scalars / cols) {
        return MLP_KC;
    }
    const int deep_walk_pays = cols < m && m * sizeof(MLP_T) % way_bytes != 0 && cols <= l2_scalars / MLP_KC;
    return deep_walk_pays ? MLP_KC : MLP_KC_ROW;
}

/* Columns c0 .. c1 − 1 of C (n, m) = A (n, k) · B (k, m) + bias (m, or none if NULL); A's rows lda apart; blocks
   of the sum for the caches `cache` (nn_depth). */
MLP_KFN void MLP_FK(nn_bias_body)(const int fused, size_t n, size_t k, size_t m, const MLP_T *A, size_t lda,
                                  const MLP_T *B, const MLP_T *bias, MLP_T *C, size_t c0, size_t c1,
                                  const mlp_cache *cache)
{
    _Alignas(64) MLP_T panel[MLP_KC * MLP_NR];
    const size_t way_bytes = cache->l1_bytes / cache->l1_ways;
    const size_t depth = MLP_FK(even_block)(k, MLP_FK(nn_depth)(n, k, m, c1 - c0, cache->l2_bytes, way_bytes));
    for (size_t pc = 0; pc < k; pc += depth) {
        const size_t kc = k - pc < depth ? k - pc : depth;
        MLP_FK(gemm_block)(fused, 0, n, c1 - c0, kc, A + pc, lda, B + pc * m + c0, m, C + c0, m, pc == 0,
                           pc + kc == k && bias != NULL ? bias + c0 : NULL, panel, NULL, 0);
    }
}

/* Columns c0 .. c1 − 1 of C (n, k) = D (n, m) · Wᵀ, W (k, m). Wᵀ is read from a panel: MLP_KC rows of it, one tile
   wide, packed on the stack (zeros beyond the last column). */
MLP_KFN void MLP_FK(nt_body)(const int fused, size_t n, size_t k, size_t m, const MLP_T *D, const MLP_T *W, MLP_T *C,
                             size_t c0, size_t c1)
{
    _Alignas(64) MLP_T panel[MLP_KC * MLP_NR];
    const size_t depth = MLP_FK(even_block)(m, MLP_KC);
    for (size_t pc = 0; pc < m; pc += depth) {
        const size_t kc = m - pc < depth ? m - pc : depth;
        for (size_t q0 = c0; q0 < c1; q0 += MLP_NR) {
            const size_t cols = c1 - q0 < MLP_NR ? c1 - q0 : MLP_NR;
            for (size_t q = 0; q < cols; q++) {
                const MLP_T *w = W + (q0 + q) * m + pc;
                for (size_t j = 0; j < kc; j++) {
                    panel[j * MLP_NR + q] = w[j];
                }
            }
            for (size_t q = cols; q < MLP_NR; q++) {
                for (size_t j = 0; j < kc; j++) {
                    panel[j * MLP_NR + q] = 0;
                }
            }
            const MLP_T *wt = panel;
            MLP_OPAQUE(wt); /* hides that wt is on the stack: else GCC copies its rows to spill slots */
            MLP_FK(gemm_block)(fused, 0, n, cols, kc, D + pc, m, wt, MLP_NR, C + q0, k, pc == 0, NULL, NULL, NULL, 0);
        }
    }
}

/* G (k, m) = Xᵀ · D, X (n, k), D (n, m): the sums run down the rows of X and D, in place; tiles of G broadcast X
   and take D in vectors. G's rows q0 .. q1 − 1. With U (k, m), U += G·rate as the last block of the sum finishes
   each tile, G then holding only the earlier blocks' partial sums (gemm_tile). */
MLP_KFN void MLP_FK(tn_body)(const int fused, size_t n, size_t k, size_t m, const MLP_T *X, const MLP_T *D, MLP_T *G,
                             size_t q0, size_t q1, MLP_T *U, MLP_T rate)
{
    _Alignas(64) MLP_T panel[MLP_KC * MLP_NR];
    const size_t depth = MLP_FK(even_block)(n, MLP_KC);
    for (size_t pc = 0; pc < n; pc += depth) {
        const size_t kc = n - pc < depth ? n - pc : depth;
        MLP_FK(gemm_block)(fused, 1, q1 - q0, m, kc, X + pc * k + q0, k, D + pc * m, m, G + q0 * m, m, pc == 0, NULL,
                           panel, U != NULL && pc + kc == n ? U + q0 * m : NULL, rate);
    }
}

/* Columns c0 .. c1 − 1 of C (n, m) = A (n, k) · B (k, m) + bias; A's rows lda apart; for the caches `cache` (as
   mlp_cache_or_fallback returns it). */
MLP_TARGET(MLP_ISA_ATTR) static void MLP_FK(simd_gemm_nn_bias)(int fused, size_t n, size_t k, size_t m,
                                                               const MLP_T *A, size_t lda, const MLP_T *B,
                                                               const MLP_T *bias, MLP_T *C, size_t c0, size_t c1,
                                                               const mlp_cache *cache)
{
    if (fused) {
        MLP_FK(nn_bias_body)(1, n, k, m, A, lda, B, bias, C, c0, c1, cache);
    } else {
        MLP_FK(nn_bias_body)(0, n, k, m, A, lda, B, bias, C, c0, c1, cache);
    }
}

/* Columns c0 .. c1 − 1 of C (n, k) = D (n, m) · Wᵀ. */
MLP_TARGET(MLP_ISA_ATTR) static void MLP_FK(simd_gemm_nt)(int fused, size_t n, size_t k, size_t m,
                                                          const MLP_T *D, const MLP_T *W, MLP_T *C, size_t c0,
                                                          size_t c1)
{
    if (fused) {
        MLP_FK(nt_body)(1, n, k, m, D, W, C, c0, c1);
    } else {
        MLP_FK(nt_body)(0, n, k, m, D, W, C, c0, c1);
    }
}

/* G's rows q0 .. q1 − 1 (of k) of Xᵀ·D; with U, added to U times rate instead (tn_body). */
MLP_TARGET(MLP_ISA_ATTR) static void MLP_FK(simd_gemm_tn_rows)(int fused, size_t n, size_t k, size_t m,
                                                               const MLP_T *X, const MLP_T *D, MLP_T *G, size_t q0,
                                                               size_t q1, MLP_T *U, MLP_T rate)
{
    if (fused) {
        MLP_FK(tn_body)(1, n, k, m, X, D, G, q0, q1, U, rate);
    } else {
        MLP_FK(tn_body)(0, n, k, m, X, D, G, q0, q1, U, rate);
    }
}

MLP_TARGET(MLP_ISA_ATTR) static void MLP_FK(simd_gemm_tn)(int fused, size_t n, size_t k, size_t m,
                                                          const MLP_T *X, const MLP_T *D, MLP_T *G)
{
    MLP_FK(simd_gemm_tn_rows)(fused, n, k, m, X, D, G, 0, k, NULL, 0);
}

#undef MLP_PACK_SPAN
#undef MLP_V
#undef MLP_M
#undef MLP_VL
#undef MLP_NR
#undef MLP_CHUNK
#undef MLP_SUM_VECS
#undef MLP_KFN
#undef MLP_MR
#undef MLP_NV
#undef MLP_KC
#undef MLP_KC_ROW
#undef MLP_FEW_ROWS
#undef MLP_PREFETCH_A
#undef MLP_PACK_A_AHEAD
#undef MLP_PREFETCH_B
