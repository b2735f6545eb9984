/* activations.c — activation functions applied over buffers, and their derivatives from the activation. */
#include <math.h>

#include "mlp.h"

/* exp of the argument's own precision (expf for float), as NumPy's np.exp keeps the dtype. */
#define MLP_EXP(x) _Generic((x), float: expf, default: exp)(x)

#define MLP_IMPL "activations_impl.h"
#include "each_precision.h"
