/*
 * mlp.h — the C core of mlpext: plain C11, no Python types.
 *
 * Every kernel takes sizes and pointers to C-contiguous (row-major) buffers and exists in two precisions:
 * the suffix _f64 works on double, _f32 on float (declared once, in mlp_t.h, which this header includes twice).
 * Shapes are written (rows, cols). Written buffers never overlap read buffers unless a comment says so; the
 * caller (the binding) checks that.
 *
 * Names follow the lecture: X input (n, in), W weights (in, out), b bias (out), A = act(X·W + b) (n, out),
 * D the delta of a layer's output (n, out) — the lecture's δ, which carries the sign of (y − ŷ), so the update
 * is an ascent step: W += (Xᵀ·δ)·η.
 */
#ifndef MLPEXT_MLP_H
#define MLPEXT_MLP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Activation functions. Their derivatives are taken from the activation's output, as the lecture does. */
typedef enum {
    MLP_IDENTITY = 0, /* a = z,               a' = 1        */
    MLP_SIGMOID = 1,  /* a = 1 / (1 + e^-z),  a' = a(1 − a) */
} mlp_activation;

/* Sizes of the lecture's two-layer network: n samples, in inputs, hidden units, out outputs. Every size given to
   a kernel is at least 1. */
typedef struct {
    size_t n, in, hidden, out;
} mlp_dims;

/* Scalars of workspace that mlp_lecture_update_* (resp. _step_* and _train_*) need for these sizes,
   or 0 if the count overflows size_t. */
size_t mlp_lecture_update_workspace(const mlp_dims *d);
size_t mlp_lecture_step_workspace(const mlp_dims *d);

/* The SIMD code path the kernels take on this CPU: "avx512f", "avx2", "sse2" or "generic". */
const char *mlp_simd_path(void);

#define MLP_T double
#define MLP_FN(name) name##_f64
#include "mlp_t.h"
#undef MLP_T
#undef MLP_FN

#define MLP_T float
#define MLP_FN(name) name##_f32
#include "mlp_t.h"
#undef MLP_T
#undef MLP_FN

#ifdef __cplusplus
}
#endif

#endif /* MLPEXT_MLP_H */
