/* dense.c — the dense layer: forward and backward side by side. */
#include "mlp.h"

#define MLP_INLINE __attribute__((always_inline)) static inline

/* Runs STMT with MLP_K bound to `width`: a compile-time constant for widths 1..4 (tiny layers, where loop
   overhead would dominate: the loops over MLP_K unroll), the runtime value otherwise. */
#define MLP_SMALL_SWITCH(width, STMT)                                                                            \
    switch (width) {                                                                                             \
    case 1: { const size_t MLP_K = 1; STMT; } break;                                                             \
    case 2: { const size_t MLP_K = 2; STMT; } break;                                                             \
    case 3: { const size_t MLP_K = 3; STMT; } break;                                                             \
    case 4: { const size_t MLP_K = 4; STMT; } break;                                                             \
    default: { const size_t MLP_K = (width); STMT; } break;                                                      \
    }

#define MLP_IMPL "dense_impl.h"
#include "each_precision.h"
