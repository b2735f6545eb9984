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
   compile-time constants (4 × 4 builds of the epoch). Measured on the lecture's 2-3-1 network with batch 4:
   about 82 ns an epoch, against 120 ns composed from the dense layer's kernels. */
#define MLP_SMALL_MAX_ROWS 64

static int mlp_lecture_is_small(const mlp_dims *d)
{
    return d->in <= MLP_SMALL_WIDTH && d->hidden <= MLP_SMALL_WIDTH && d->out == 1 && d->n <= MLP_SMALL_MAX_ROWS;
}

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

#define MLP_IMPL "lecture_impl.h"
#include "each_precision.h"
