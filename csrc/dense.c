/* dense.c — the dense layer: forward and backward side by side. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "simd.h"
#include "small.h"

/* Below this many multiply-adds a call runs the portable build: dispatch would cost more than it brings. */
#define MLP_DENSE_SIMD_MIN 2048
/* The bias gradient's column sums on fewer values than this run the portable build. */
#define MLP_SUM_ROWS_SIMD_MIN 256

/* mlp.h: the geometry to block for (4 GB written as 2^22 KB, for a 32-bit size_t) */
mlp_cache mlp_cache_or_fallback(const mlp_cache *cache)
{
    if (cache == NULL || cache->l1_ways < 1 || cache->l1_ways > 256 || cache->l1_bytes < 1024 ||
        cache->l1_bytes > ((size_t)1 << 24) || cache->l1_bytes / cache->l1_ways < 64 || cache->l2_bytes < 1024 ||
        cache->l2_bytes / 1024 > ((size_t)1 << 22)) {
        return MLP_CACHE_FALLBACK;
    }
    return *cache;
}

size_t mlp_dense_halves_at(size_t in, size_t out)
{
    if (out <= MLP_SMALL_WIDTH || in < MLP_HALVES_MIN_IN || out > MLP_HALVES_MAX_WEIGHTS / in) {
        return 0;
    }
    return (in + 15) / 16 / 2 * 16; /* part_rows(in, 16, 0, 2)'s end (dense_impl.h) */
}

#ifdef MLP_X86_DISPATCH
/* The blocks of a packed product: kc terms of the sum, mc rows of A, nc columns of B. */
typedef struct {
    size_t kc, mc, nc;
} mlp_blocks;

/* B packed once for all the parts of a product, which each pack a share of it (gemm_packed): its blocks one after
   another, and for each block a flag per chunk of its columns (MLP_CHUNK_FREE, then _TAKEN by the part that packs
   it, then _READY). For the parts cut by rows, which all read the whole of B (dense_product): each packing all of
   it took a few percent of its time, more with both threads streaming B at once, and as much memory again
   (docs/benchmarks.md, "Does sharing packed B pay?", "A float32 strip of B larger than L1"). */
typedef struct {
    void *bp;              /* block (jc, pc) at bp + jc·k + pc·(its columns, a multiple of the tile's) */
    mlp_atomic_int *ready; /* the flags, block after block in the order gemm_packed walks them */
    size_t part, parts;    /* the part that reads it (where its walk over a block's chunks starts), of how many */
} mlp_shared_b;
enum { MLP_CHUNK_FREE, MLP_CHUNK_TAKEN, MLP_CHUNK_READY };
/* The most memory a shared B takes (a 2048 × 2048 float32 B; larger ones are packed a block per part). */
#define MLP_SHARED_B_MAX ((size_t)16 << 20)

/* The blocks for a register tile of mr rows × nr columns of `size`-byte scalars (docs/design.md, "Dense kernels"):
   a packed strip of B (kc × nr, contiguous, so spread evenly over L1's sets whatever its ways) as large as L1 in
   float64, 8⁄3 of it in float32 (streamed from L2 in part, its rows prefetched; fewer passes over C:
   docs/benchmarks.md, "A float32 strip of B larger than L1"); the A block (mc × kc, a multiple of mr rows) half of
   L2; the B block (kc × nc, a multiple of nr columns) at most 4 × L2 (a share of L3, whose size virtual machines
   misreport). */
static mlp_blocks mlp_blocks_for(const mlp_cache *cache, size_t mr, size_t nr, size_t size)
{
    const mlp_cache c = mlp_cache_or_fallback(cache);
    mlp_blocks b;
    b.kc = (size == 4 ? 8 : 3) * c.l1_bytes / (3 * nr * size);
    b.kc = b.kc < 1 ? 1 : b.kc > 4096 ? 4096 : b.kc;
    b.mc = c.l2_bytes / 2 / (b.kc * size) / mr * mr;
    b.mc = b.mc < mr ? mr : b.mc > 4096 ? 4096 / mr * mr : b.mc;
    b.nc = 4 * c.l2_bytes / (b.kc * size) / nr * nr;
    b.nc = b.nc < nr ? nr : b.nc;
    return b;
}

/* ---- the SIMD kernels' vocabulary (dense_simd_impl.h), one set per (precision, instruction set) ----
   The template names them MLP_FK(name): name_f64_avx512, name_f32_avx2, ... (simd.h). Intrinsics are usable
   inside functions with the matching target attribute without any -m flag (GCC >= 4.9, Clang). */
#include <immintrin.h>

typedef __m512d mlp_vec_f64_avx512;
typedef __m512 mlp_vec_f32_avx512;
typedef __m256d mlp_vec_f64_avx2;
typedef __m256 mlp_vec_f32_avx2;
/* which lanes of a vector are live, for a partial last vector of a row */
typedef __mmask8 mlp_mask_f64_avx512;
typedef __mmask16 mlp_mask_f32_avx512;
typedef __m256i mlp_mask_f64_avx2;
typedef __m256i mlp_mask_f32_avx2;

#define MLP_AVX512_FN MLP_TARGET_INLINE("avx512f")
#define MLP_AVX2_FN MLP_TARGET_INLINE("avx2,fma")

/* The first `live` lanes (1 to the vector's length). */
MLP_AVX512_FN __mmask8 mlp_mask_first_f64_avx512(size_t live) { return (__mmask8)((1u << live) - 1u); }
MLP_AVX512_FN __mmask16 mlp_mask_first_f32_avx512(size_t live) { return (__mmask16)((1u << live) - 1u); }
MLP_AVX2_FN __m256i mlp_mask_first_f64_avx2(size_t live)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)live), _mm256_setr_epi64x(0, 1, 2, 3));
}
MLP_AVX2_FN __m256i mlp_mask_first_f32_avx2(size_t live)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)live), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define MLP_VSET1_f64_avx512 _mm512_set1_pd
#define MLP_VSET1_f32_avx512 _mm512_set1_ps
#define MLP_VSET1_f64_avx2 _mm256_set1_pd
#define MLP_VSET1_f32_avx2 _mm256_set1_ps
#define MLP_VLOADU_f64_avx512 _mm512_loadu_pd
#define MLP_VLOADU_f32_avx512 _mm512_loadu_ps
#define MLP_VLOADU_f64_avx2 _mm256_loadu_pd
#define MLP_VLOADU_f32_avx2 _mm256_loadu_ps
#define MLP_VSTOREU_f64_avx512 _mm512_storeu_pd
#define MLP_VSTOREU_f32_avx512 _mm512_storeu_ps
#define MLP_VSTOREU_f64_avx2 _mm256_storeu_pd
#define MLP_VSTOREU_f32_avx2 _mm256_storeu_ps
#define MLP_VADD_f64_avx512 _mm512_add_pd
#define MLP_VADD_f32_avx512 _mm512_add_ps
#define MLP_VADD_f64_avx2 _mm256_add_pd
#define MLP_VADD_f32_avx2 _mm256_add_ps
/* masked load (dead lanes read as 0, their memory untouched) and store (dead lanes not written) */
#define MLP_VLOADM_f64_avx512(p, k) _mm512_maskz_loadu_pd((k), (p))
#define MLP_VLOADM_f32_avx512(p, k) _mm512_maskz_loadu_ps((k), (p))
#define MLP_VLOADM_f64_avx2(p, k) _mm256_maskload_pd((p), (k))
#define MLP_VLOADM_f32_avx2(p, k) _mm256_maskload_ps((p), (k))
#define MLP_VSTOREM_f64_avx512(p, k, v) _mm512_mask_storeu_pd((p), (k), (v))
#define MLP_VSTOREM_f32_avx512(p, k, v) _mm512_mask_storeu_ps((p), (k), (v))
#define MLP_VSTOREM_f64_avx2(p, k, v) _mm256_maskstore_pd((p), (k), (v))
#define MLP_VSTOREM_f32_avx2(p, k, v) _mm256_maskstore_ps((p), (k), (v))
/* The first n lanes stored (1 ≤ n ≤ the vector's length), the memory past them untouched. AVX2's masked store
   (vmaskmovps/pd) takes a dozen cycles or more on AMD's cores: packing A with it took a fifth of a 1024³ Xᵀ·D
   held to AVX2 on a Zen 4. So AVX2 stores whole 128-bit halves, then 64- and 32-bit pieces (docs/benchmarks.md,
   "A masked store on AMD"); AVX-512's opmask stores are fast on both vendors' cores. */
MLP_AVX2_FN void mlp_vstoren_f32_avx2(float *p, size_t n, __m256 v)
{
    __m128 part = _mm256_castps256_ps128(v);
    if (n >= 4) {
        _mm_storeu_ps(p, part);
        part = _mm256_extractf128_ps(v, 1);
        p += 4;
        n -= 4;
        if (n == 4) {
            _mm_storeu_ps(p, part);
            return;
        }
    }
    if (n >= 2) {
        _mm_storel_pi((__m64 *)(void *)p, part);
        part = _mm_movehl_ps(part, part);
        p += 2;
        n -= 2;
    }
    if (n == 1) {
        _mm_store_ss(p, part);
    }
}
/* n doubles are 2n floats' bits: the same pieces, never the 32-bit one */
MLP_AVX2_FN void mlp_vstoren_f64_avx2(double *p, size_t n, __m256d v)
{
    mlp_vstoren_f32_avx2((float *)(void *)p, 2 * n, _mm256_castpd_ps(v));
}
#define MLP_VSTOREN_f64_avx512(p, n, v) _mm512_mask_storeu_pd((p), mlp_mask_first_f64_avx512(n), (v))
#define MLP_VSTOREN_f32_avx512(p, n, v) _mm512_mask_storeu_ps((p), mlp_mask_first_f32_avx512(n), (v))
#define MLP_VSTOREN_f64_avx2 mlp_vstoren_f64_avx2
#define MLP_VSTOREN_f32_avx2 mlp_vstoren_f32_avx2
/* a·b + c, rounded once */
#define MLP_VFMA_f64_avx512 _mm512_fmadd_pd
#define MLP_VFMA_f32_avx512 _mm512_fmadd_ps
#define MLP_VFMA_f64_avx2 _mm256_fmadd_pd
#define MLP_VFMA_f32_avx2 _mm256_fmadd_ps
/* lo, hi = the lanes of a and b interleaved: lo = a0 b0 a1 b1 ... (their first halves), hi = the same of their
   second halves. */
MLP_AVX512_FN void mlp_vzip_f64_avx512(__m512d a, __m512d b, __m512d *lo, __m512d *hi)
{
    *lo = _mm512_permutex2var_pd(a, _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), b);
    *hi = _mm512_permutex2var_pd(a, _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15), b);
}
MLP_AVX512_FN void mlp_vzip_f32_avx512(__m512 a, __m512 b, __m512 *lo, __m512 *hi)
{
    *lo = _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), b);
    *hi = _mm512_permutex2var_ps(a, _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31),
                                 b);
}
MLP_AVX2_FN void mlp_vzip_f64_avx2(__m256d a, __m256d b, __m256d *lo, __m256d *hi)
{
    const __m256d even = _mm256_unpacklo_pd(a, b), odd = _mm256_unpackhi_pd(a, b); /* a0 b0 a2 b2, a1 b1 a3 b3 */
    *lo = _mm256_permute2f128_pd(even, odd, 0x20);
    *hi = _mm256_permute2f128_pd(even, odd, 0x31);
}
MLP_AVX2_FN void mlp_vzip_f32_avx2(__m256 a, __m256 b, __m256 *lo, __m256 *hi)
{
    const __m256 l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b); /* a0 b0 a1 b1 a4 .., a2 b2 a3 b3 a6 .. */
    *lo = _mm256_permute2f128_ps(l, h, 0x20);
    *hi = _mm256_permute2f128_ps(l, h, 0x31);
}
#endif

/* A layer's three products, as dense_impl.h's dense functions hand them to dense_product, and the builds that
   run them. */
typedef enum { MLP_NN_BIAS, MLP_NT, MLP_TN } mlp_product_kind;
typedef enum { MLP_BUILD_GENERIC, MLP_BUILD_AVX2, MLP_BUILD_AVX512 } mlp_build;

#define MLP_IMPL "dense_impl.h"
#include "each_precision.h"
/* The public kernels this file defines, by their full names (the template spells them MLP_FN(name); tests/c/run.sh
   checks this list against the object file):
     mlp_add_scaled_f64                mlp_add_scaled_f32
     mlp_dense_backward_delta_f64      mlp_dense_backward_delta_f32
     mlp_dense_forward_f64             mlp_dense_forward_f32
     mlp_dense_param_grads_f64         mlp_dense_param_grads_f32
     mlp_dense_param_step_f64          mlp_dense_param_step_f32
     mlp_dense_product_blocked_f64     mlp_dense_product_blocked_f32
     mlp_dense_product_path_f64        mlp_dense_product_path_f32 */
