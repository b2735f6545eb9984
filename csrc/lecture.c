/* lecture.c — the lecture's two-layer sigmoid network, composed from the dense layer. */
#include <math.h>
#include <string.h>

#include "mlp.h"
#include "simd.h"
#include "size_math.h"
#include "small.h"
#include "vmath.h"

/* mlp_lecture_step's one-pass epoch (lecture_impl.h) serves the textbook's toy networks — at most MLP_SMALL_WIDTH
   inputs and hidden units, one output, at most MLP_SMALL_MAX_ROWS samples — with their widths as
   compile-time constants (4 × 4 builds of the epoch): on such networks, calls between the phases cost more than
   the arithmetic (docs/benchmarks.md, "The lecture's one-pass epochs"). */
#define MLP_SMALL_MAX_ROWS 64

#ifdef MLP_X86_DISPATCH /* the portable-only build (MSVC, not x86) has no one-pass epoch */
static int mlp_lecture_is_small(const mlp_dims *d)
{
    return d->in <= MLP_SMALL_WIDTH && d->hidden <= MLP_SMALL_WIDTH && d->out == 1 && d->n <= MLP_SMALL_MAX_ROWS;
}
#endif

/* mlp_lecture_update: dW1 (in, hidden), db1 (hidden), dW2 (hidden, out), db2 (out). */
size_t mlp_lecture_update_workspace(const mlp_dims *d)
{
    int ok = 1;
    size_t w1 = mlp_size_mul(d->in, d->hidden, &ok), w2 = mlp_size_mul(d->hidden, d->out, &ok);
    size_t total = mlp_size_add(mlp_size_add(w1, d->hidden, &ok), mlp_size_add(w2, d->out, &ok), &ok);
    return ok ? total : 0;
}

/* mlp_lecture_step: A1 (n, hidden), P (n, out), D2 (n, out), D1 (n, hidden), then the update's workspace. */
size_t mlp_lecture_step_workspace(const mlp_dims *d)
{
    int ok = 1;
    size_t per_row = mlp_size_add(d->hidden, d->out, &ok);
    size_t acts = mlp_size_mul(mlp_size_mul(d->n, per_row, &ok), 2, &ok);
    size_t update = mlp_lecture_update_workspace(d);
    size_t total = mlp_size_add(acts, update, &ok);
    return ok && update ? total : 0;
}

/* The four-row path (rows4_impl.h), for float64 networks of at most four samples, at most MLP_SMALL_WIDTH inputs
   and hidden units, and one output, on CPUs with AVX2 and FMA (with AVX-512VL: a faster table look-up). Its
   functions return 1 where they ran, 0 (nothing done) elsewhere; the float32 ones always return 0. */
#ifdef MLP_X86_DISPATCH
#define MLP_SIMD4_IMPL "rows4_impl.h"
#include "each_simd4.h"

static int rows4_fits(const mlp_dims *d)
{
    return d->n <= 4 && d->in <= MLP_SMALL_WIDTH && d->hidden <= MLP_SMALL_WIDTH && d->out == 1;
}
#endif

static int rows4_train_f64(const mlp_dims *d, const double *X, const double *y, const mlp_params_f64 *p, double lr,
                           size_t epochs, double *losses)
{
#ifdef MLP_X86_DISPATCH
    if (rows4_fits(d) && MLP_HAS_AVX512VL(d->threads.isa)) {
        rows4_train_avx512vl(d, X, y, p, lr, epochs, losses);
        return 1;
    }
    if (rows4_fits(d) && MLP_HAS_AVX2_FMA(d->threads.isa)) {
        rows4_train_avx2(d, X, y, p, lr, epochs, losses);
        return 1;
    }
#endif
    (void)d, (void)X, (void)y, (void)p, (void)lr, (void)epochs, (void)losses;
    return 0;
}

static int rows4_forward_f64(const mlp_dims *d, const double *X, const mlp_params_f64 *p, double *A1, double *P)
{
#ifdef MLP_X86_DISPATCH
    if (rows4_fits(d) && MLP_HAS_AVX512VL(d->threads.isa)) {
        rows4_forward_avx512vl(d, X, p, A1, P);
        return 1;
    }
    if (rows4_fits(d) && MLP_HAS_AVX2_FMA(d->threads.isa)) {
        rows4_forward_avx2(d, X, p, A1, P);
        return 1;
    }
#endif
    (void)d, (void)X, (void)p, (void)A1, (void)P;
    return 0;
}

static int rows4_train_f32(const mlp_dims *d, const float *X, const float *y, const mlp_params_f32 *p, float lr,
                           size_t epochs, double *losses)
{
    (void)d, (void)X, (void)y, (void)p, (void)lr, (void)epochs, (void)losses;
    return 0;
}

static int rows4_forward_f32(const mlp_dims *d, const float *X, const mlp_params_f32 *p, float *A1, float *P)
{
    (void)d, (void)X, (void)p, (void)A1, (void)P;
    return 0;
}

#define MLP_IMPL "lecture_impl.h"
#include "each_precision.h"
