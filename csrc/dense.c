/* dense.c — the dense layer: forward and backward side by side. */
#include <string.h>

#include "mlp.h"

#define MLP_IMPL "dense_impl.h"
#include "each_precision.h"
