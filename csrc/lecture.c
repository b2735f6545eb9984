/* lecture.c — the lecture's two-layer sigmoid network, composed from the dense layer. */
#include <math.h>
#include <string.h>

#include "mlp.h"

/* a·b and a+b, clearing *ok when the result does not fit in size_t. */
static size_t mul_ok(size_t a, size_t b, int *ok)
{
    if (a != 0 && b > (size_t)-1 / a) {
        *ok = 0;
        return 0;
    }
    return a * b;
}

static size_t add_ok(size_t a, size_t b, int *ok)
{
    if (b > (size_t)-1 - a) {
        *ok = 0;
        return 0;
    }
    return a + b;
}

/* mlp_lecture_update: dW1 (in, hidden), db1 (hidden), dW2 (hidden, out), db2 (out). */
size_t mlp_lecture_update_workspace(const mlp_dims *d)
{
    int ok = 1;
    size_t w1 = mul_ok(d->in, d->hidden, &ok), w2 = mul_ok(d->hidden, d->out, &ok);
    size_t total = add_ok(add_ok(w1, d->hidden, &ok), add_ok(w2, d->out, &ok), &ok);
    return ok ? total : 0;
}

/* mlp_lecture_step: A1 (n, hidden), P (n, out), D2 (n, out), D1 (n, hidden), then the update's workspace. */
size_t mlp_lecture_step_workspace(const mlp_dims *d)
{
    int ok = 1;
    size_t per_row = add_ok(d->hidden, d->out, &ok);
    size_t acts = mul_ok(mul_ok(d->n, per_row, &ok), 2, &ok);
    size_t update = mlp_lecture_update_workspace(d);
    size_t total = add_ok(acts, update, &ok);
    return ok && update ? total : 0;
}

#define MLP_IMPL "lecture_impl.h"
#include "each_precision.h"
