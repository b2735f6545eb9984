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

/* mlp_lecture_forward: the scratch of a layer that sums in halves (mlp_dense_halves_at), (n, its width); at least 1
   scalar. */
size_t mlp_lecture_forward_workspace(const mlp_dims *d)
{
    int ok = 1;
    const size_t hidden = mlp_dense_halves_at(d->in, d->hidden) ? d->hidden : 0;
    const size_t out = mlp_dense_halves_at(d->hidden, d->out) ? d->out : 0;
    const size_t len = mlp_size_mul(d->n, hidden > out ? hidden : out, &ok);
    return !ok ? 0 : len > 1 ? len : 1;
}

/* The lecture's network as the engine describes it: two sigmoid layers, in → hidden → out, the lecture's loss.
   `net` points into the struct, so it is used where it was filled. */
typedef struct {
    size_t sizes[3];
    mlp_activation acts[2];
    mlp_net net;
} lecture_net;

static void lecture_net_of(const mlp_dims *d, lecture_net *ln)
{
    ln->sizes[0] = d->in, ln->sizes[1] = d->hidden, ln->sizes[2] = d->out;
    ln->acts[0] = ln->acts[1] = MLP_ACT(MLP_SIGMOID);
    ln->net = (mlp_net){2, ln->sizes, ln->acts, MLP_LOSS_LECTURE, d->threads};
}

/* mlp_lecture_step and _train: the engine's training workspace for the lecture's network on one batch of n rows. */
size_t mlp_lecture_step_workspace(const mlp_dims *d)
{
    lecture_net ln;
    lecture_net_of(d, &ln);
    return mlp_net_workspace(&ln.net, d->n, 1);
}

mlp_costs mlp_lecture_costs(const mlp_dims *d)
{
    lecture_net ln;
    lecture_net_of(d, &ln);
    return mlp_net_costs(&ln.net);
}

#define MLP_IMPL "lecture_impl.h"
#include "each_precision.h"
/* The public kernels this file defines, by their full names (the template spells them MLP_FN(name); tests/c/run.sh
   checks this list against the object file):
     mlp_lecture_backward_f64          mlp_lecture_backward_f32
     mlp_lecture_forward_f64           mlp_lecture_forward_f32
     mlp_lecture_step_f64              mlp_lecture_step_f32
     mlp_lecture_trace_f64             mlp_lecture_trace_f32
     mlp_lecture_train_f64             mlp_lecture_train_f32
     mlp_lecture_update_f64            mlp_lecture_update_f32 */
