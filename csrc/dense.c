/* dense.c — the dense layer: forward and backward side by side. */
#include <string.h>

#include "mlp.h"
#include "simd.h"

/* Unaligned loads and stores of a GCC/Clang vector (dense_impl.h's MLP_FN(vec)). */
#define MLP_VLOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define MLP_VSTORE(p, v) memcpy((p), &(v), sizeof(v))

/* Below this many multiply-adds a call runs the portable build: dispatch would cost more than it brings. */
#define MLP_DENSE_SIMD_MIN 2048

/* Layers at most this wide take MLP_SMALL_SWITCH: their width becomes a compile-time constant. */
#define MLP_SMALL_WIDTH 4

/* Runs STMT with MLP_K bound to `width` (1 to MLP_SMALL_WIDTH) as a constant, so that the loops over it unroll:
   on the lecture's tiny layers, loop overhead would otherwise cost more than the arithmetic. */
#define MLP_SMALL_SWITCH(width, STMT)                                                                            \
    switch (width) {                                                                                             \
    case 1: { const size_t MLP_K = 1; STMT; } break;                                                             \
    case 2: { const size_t MLP_K = 2; STMT; } break;                                                             \
    case 3: { const size_t MLP_K = 3; STMT; } break;                                                             \
    default: { const size_t MLP_K = 4; STMT; } break;                                                            \
    }

#define MLP_IMPL "dense_impl.h"
#include "each_precision.h"
