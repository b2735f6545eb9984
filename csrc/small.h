/* small.h — compile-time widths for the smallest layers (the lecture's are 1 to 3 wide). */
#ifndef MLPEXT_SMALL_H
#define MLPEXT_SMALL_H

/* Layers at most this wide take MLP_SMALL_SWITCH: their width becomes a compile-time constant. */
#define MLP_SMALL_WIDTH 4

/* The most samples the engine's one-pass epoch of the lecture's network takes (net.c, tiny_impl.h). */
#define MLP_SMALL_MAX_ROWS 64

/* Runs STMT with NAME bound to `width` (1 to MLP_SMALL_WIDTH) as a constant, so that the loops over it unroll:
   on the lecture's tiny layers, loop overhead would otherwise cost more than the arithmetic. */
#define MLP_CONST_SWITCH(NAME, width, STMT)                                                                      \
    switch (width) {                                                                                             \
    case 1: { const size_t NAME = 1; STMT; } break;                                                              \
    case 2: { const size_t NAME = 2; STMT; } break;                                                              \
    case 3: { const size_t NAME = 3; STMT; } break;                                                              \
    default: { const size_t NAME = 4; STMT; } break;                                                             \
    }

/* MLP_CONST_SWITCH with the name MLP_K. */
#define MLP_SMALL_SWITCH(width, STMT) MLP_CONST_SWITCH(MLP_K, width, STMT)

#endif /* MLPEXT_SMALL_H */
