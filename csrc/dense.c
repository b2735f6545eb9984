/* dense.c — the dense layer: forward and backward side by side. */
#include "mlp.h"
#include "simd.h"

/* Below this many multiply-adds a call runs the portable build: dispatch would cost more than it brings. */
#define MLP_DENSE_SIMD_MIN 2048

#define MLP_IMPL "dense_impl.h"
#include "each_precision.h"
