/* kernels_impl.h — template body of kernels.c (see each_precision.h): the untyped face of this precision's
   kernels. Each function turns its pointers into the typed kernel's arguments and calls it. */

/* A source value as a number: itself, or for NumPy's bool (a byte) whether it is nonzero, as NumPy's casts read
   it; a bool array viewed from other bytes holds 2 or 255 for True. */
#define MLP_AS_IS(v) (v)
#define MLP_NONZERO(v) ((v) != 0)
#define MLP_CONVERT_FROM(SRC_T, VALUE)                                                                           \
    if (cs == (ptrdiff_t)sizeof(SRC_T) && rs == (ptrdiff_t)cols * cs) { /* C order: one loop */                  \
        for (size_t k = 0; k < rows * cols; k++) {                                                               \
            out[k] = (MLP_T)VALUE(((const SRC_T *)src)[k]);                                                      \
        }                                                                                                        \
        break;                                                                                                   \
    }                                                                                                            \
    for (size_t r = 0; r < rows; r++) {                                                                          \
        const char *p = (const char *)src + (ptrdiff_t)r * rs;                                                   \
        for (size_t c = 0; c < cols; c++, p += cs) {                                                             \
            *out++ = (MLP_T)VALUE(*(const SRC_T *)p);                                                            \
        }                                                                                                        \
    }                                                                                                            \
    break

static void MLP_FN(convert)(mlp_source type, const void *src, size_t rows, size_t cols, ptrdiff_t rs,
                            ptrdiff_t cs, void *dst)
{
    MLP_T *out = dst;
    switch (type) {
    case MLP_SRC_BOOL: MLP_CONVERT_FROM(uint8_t, MLP_NONZERO);
    case MLP_SRC_I8: MLP_CONVERT_FROM(int8_t, MLP_AS_IS);
    case MLP_SRC_U8: MLP_CONVERT_FROM(uint8_t, MLP_AS_IS);
    case MLP_SRC_I16: MLP_CONVERT_FROM(int16_t, MLP_AS_IS);
    case MLP_SRC_U16: MLP_CONVERT_FROM(uint16_t, MLP_AS_IS);
    case MLP_SRC_I32: MLP_CONVERT_FROM(int32_t, MLP_AS_IS);
    case MLP_SRC_U32: MLP_CONVERT_FROM(uint32_t, MLP_AS_IS);
    case MLP_SRC_I64: MLP_CONVERT_FROM(int64_t, MLP_AS_IS);
    case MLP_SRC_U64: MLP_CONVERT_FROM(uint64_t, MLP_AS_IS);
    case MLP_SRC_F32: MLP_CONVERT_FROM(float, MLP_AS_IS);
    case MLP_SRC_F64: MLP_CONVERT_FROM(double, MLP_AS_IS);
    }
}
#undef MLP_CONVERT_FROM
#undef MLP_AS_IS
#undef MLP_NONZERO

/* ---- the lecture's network: params = W1, b1, W2, b2 ---- */

static MLP_FN(mlp_params) MLP_FN(lecture_params)(void *const *params)
{
    return (MLP_FN(mlp_params)){params[0], params[1], params[2], params[3]};
}

static void MLP_FN(lecture_forward)(const mlp_dims *d, const void *X, void *const *params, void *A1, void *P,
                                    void *work)
{
    const MLP_FN(mlp_params) p = MLP_FN(lecture_params)(params);
    MLP_FN(mlp_lecture_forward)(d, X, &p, A1, P, work);
}

static double MLP_FN(lecture_backward)(const mlp_dims *d, const void *y, const void *A1, const void *P,
                                       const void *W2, void *D2, void *D1)
{
    return MLP_FN(mlp_lecture_backward)(d, y, A1, P, W2, D2, D1);
}

static void MLP_FN(lecture_update)(const mlp_dims *d, const void *X, const void *A1, const void *D2, const void *D1,
                                   void *const *params, double lr, void *work)
{
    const MLP_FN(mlp_params) p = MLP_FN(lecture_params)(params);
    MLP_FN(mlp_lecture_update)(d, X, A1, D2, D1, &p, (MLP_T)lr, work);
}

static double MLP_FN(lecture_step)(const mlp_dims *d, const void *X, const void *y, void *const *params, double lr,
                                   void *work)
{
    const MLP_FN(mlp_params) p = MLP_FN(lecture_params)(params);
    return MLP_FN(mlp_lecture_step)(d, X, y, &p, (MLP_T)lr, work);
}

static void MLP_FN(lecture_train)(const mlp_dims *d, const void *X, const void *y, void *const *params, double lr,
                                  size_t epochs, double *losses, void *work)
{
    const MLP_FN(mlp_params) p = MLP_FN(lecture_params)(params);
    MLP_FN(mlp_lecture_train)(d, X, y, &p, (MLP_T)lr, epochs, losses, work);
}

static void MLP_FN(lecture_trace)(const mlp_dims *d, const void *X, const void *y, void *const *params, double lr,
                                  void *const *trace, void *work)
{
    const MLP_FN(mlp_params) p = MLP_FN(lecture_params)(params);
    void *const *t = trace;
    const MLP_FN(mlp_trace) tr = {t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11]};
    MLP_FN(mlp_lecture_trace)(d, X, y, &p, (MLP_T)lr, &tr, work);
}

/* ---- networks: tensors = W[0], b[0], W[1], b[1], ... ---- */

/* A network's tensors, typed: W and b point into it, so it is used where it was filled. */
typedef struct {
    MLP_T *W[MLP_MAX_LAYERS], *b[MLP_MAX_LAYERS];
    MLP_FN(mlp_net_params) p;
} MLP_FN(net_tensors);

static void MLP_FN(net_tensors_of)(const mlp_net *net, void *const *tensors, MLP_FN(net_tensors) *t)
{
    for (size_t l = 0; l < net->n_layers; l++) {
        t->W[l] = tensors[2 * l];
        t->b[l] = tensors[2 * l + 1];
    }
    t->p = (MLP_FN(mlp_net_params)){t->W, t->b};
}

/* An optimizer's state, typed (as net_tensors). */
typedef struct {
    MLP_T *buffers[MLP_OPTIM_MAX_BUFFERS][2 * MLP_MAX_LAYERS];
    MLP_FN(mlp_optim_state) s;
} MLP_FN(optim_state);

static void MLP_FN(optim_state_of)(const mlp_net *net, const mlp_optimizer *opt, void *const *state,
                                   MLP_FN(optim_state) *st)
{
    size_t count;
    const size_t steps = (size_t)mlp_optimizer_table(&count)[opt->kind].counts_steps, tensors = 2 * net->n_layers;
    st->s = (MLP_FN(mlp_optim_state)){{NULL}, steps ? state[0] : NULL};
    for (size_t j = 0; j < mlp_optim_buffers(opt); j++) {
        for (size_t i = 0; i < tensors; i++) {
            st->buffers[j][i] = state[steps + j * tensors + i];
        }
        st->s.buffers[j] = st->buffers[j];
    }
}

static void MLP_FN(net_forward)(const mlp_net *net, size_t n, const void *X, void *const *params, void *out,
                                void *work)
{
    MLP_FN(net_tensors) p;
    MLP_FN(net_tensors_of)(net, params, &p);
    MLP_FN(mlp_net_forward)(net, n, X, &p.p, out, work);
}

static double MLP_FN(net_loss)(const mlp_net *net, size_t n, const void *X, const void *y, const size_t *labels,
                               void *const *params, void *const *grads, void *work)
{
    MLP_FN(net_tensors) p, g;
    MLP_FN(net_tensors_of)(net, params, &p);
    if (grads != NULL) {
        MLP_FN(net_tensors_of)(net, grads, &g);
    }
    return MLP_FN(mlp_net_loss)(net, n, X, y, labels, &p.p, grads != NULL ? &g.p : NULL, work);
}

static void MLP_FN(net_apply)(const mlp_net *net, void *const *params, void *const *grads, const mlp_optimizer *opt,
                              void *const *state)
{
    MLP_FN(net_tensors) p, g;
    MLP_FN(optim_state) st;
    MLP_FN(net_tensors_of)(net, params, &p);
    MLP_FN(net_tensors_of)(net, grads, &g);
    MLP_FN(optim_state_of)(net, opt, state, &st);
    MLP_FN(mlp_net_apply)(net, &p.p, &g.p, opt, &st.s);
}

static size_t MLP_FN(net_fit)(const mlp_net *net, size_t n, const void *X, const void *y, const size_t *labels,
                              void *const *params, const mlp_optimizer *opt, void *const *state, size_t epochs,
                              size_t batch, int shuffle, uint64_t rng[4], double *losses, void *work, size_t *iwork,
                              const mlp_poll *poll, size_t *batches)
{
    MLP_FN(net_tensors) p;
    MLP_FN(optim_state) st;
    MLP_FN(net_tensors_of)(net, params, &p);
    MLP_FN(optim_state_of)(net, opt, state, &st);
    return MLP_FN(mlp_net_fit_polled)(net, n, X, y, labels, &p.p, opt, &st.s, epochs, batch, shuffle, rng, losses,
                                      work, iwork, poll, batches);
}

static const mlp_kernels MLP_FN(kernels) = {
    _Generic((MLP_T)0, float: MLP_F32, default: MLP_F64), sizeof(MLP_T), MLP_FN(convert),
    MLP_FN(lecture_forward), MLP_FN(lecture_backward), MLP_FN(lecture_update), MLP_FN(lecture_step),
    MLP_FN(lecture_train), MLP_FN(lecture_trace), MLP_FN(net_forward), MLP_FN(net_loss), MLP_FN(net_apply),
    MLP_FN(net_fit),
};
