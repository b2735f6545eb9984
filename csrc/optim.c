/* optim.c — optimizers over flat parameter buffers, with torch.optim's arithmetic. */
#include <math.h>

#include "mlp.h"

#define MLP_SQRT_OF(x) _Generic((x), float: sqrtf, default: sqrt)(x)

#define MLP_IMPL "optim_impl.h"
#include "each_precision.h"
