/* lecture.c — the lecture's two-layer sigmoid network: its phases composed from the dense layer, its epochs the
   engine's (net.c). */
#include <math.h>
#include <string.h>

#include "mlp.h"
#include "size_math.h"

/* mlp_lecture_update: dW1 (in, hidden), db1 (hidden), dW2 (hidden, out), db2 (out). */
size_t mlp_lecture_update_workspace(const mlp_dims *d)
{
    int ok = 1;
    size_t w1 = mlp_size_mul(d->in, d->hidden, &ok), w2 = mlp_size_mul(d->hidden, d->out, &ok);
    size_t total = mlp_size_add(mlp_size_add(w1, d->hidden, &ok), mlp_size_add(w2, d->out, &ok), &ok);
    return ok ? total : 0;
}

/* mlp_lecture_step and _train: the engine's training workspace for the lecture's network on one batch of n rows. */
size_t mlp_lecture_step_workspace(const mlp_dims *d)
{
    const size_t sizes[3] = {d->in, d->hidden, d->out};
    const mlp_activation acts[2] = {MLP_ACT(MLP_SIGMOID), MLP_ACT(MLP_SIGMOID)};
    const mlp_net net = {2, sizes, acts, MLP_LOSS_LECTURE, d->threads};
    return mlp_net_workspace(&net, d->n, 1);
}

#define MLP_IMPL "lecture_impl.h"
#include "each_precision.h"
