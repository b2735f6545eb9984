/* dense.c — the dense layer: forward and backward side by side. */
#include <string.h>

#include "mlp.h"
#include "simd.h"
#include "small.h"

/* Unaligned loads and stores of a GCC/Clang vector (dense_impl.h's MLP_FN(vec)). */
#define MLP_VLOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define MLP_VSTORE(p, v) memcpy((p), &(v), sizeof(v))

/* Below this many multiply-adds a call runs the portable build: dispatch would cost more than it brings. */
#define MLP_DENSE_SIMD_MIN 2048

#define MLP_IMPL "dense_impl.h"
#include "each_precision.h"
