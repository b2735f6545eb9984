/* kernels.c — the binding's kernels with one signature for both precisions (mlp.h, mlp_kernels). */
#include <stdint.h>

#include "mlp.h"

#define MLP_IMPL "kernels_impl.h"
#include "each_precision.h"

const mlp_kernels *mlp_kernels_for(mlp_dtype dtype) { return dtype == MLP_F32 ? &kernels_f32 : &kernels_f64; }
