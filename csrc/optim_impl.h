/*
 * optim_impl.h — template body of optim.c (see each_precision.h).
 *
 * The order of operations is torch.optim's (single-tensor path), so results agree to rounding: scalars are
 * computed in double, as Python computes them there, and then cast to the tensor's precision.
 *
 * One difference: the optimizer's state (momentum buffer, Adam's m and v) is flushed to 0 when it falls below the
 * smallest normal number (MLP_FLUSH). A parameter whose gradient stays exactly 0 (a dead ReLU unit, an input
 * that is always 0) has its state decay geometrically into subnormal numbers, on which every multiply takes a
 * microcode assist (~150 cycles): Adam on the digits ran 1.4–2.6× slower for it. The step such a state would
 * still make, lr·m/(√v + eps) < 1e-3 · FLT_MIN / 1e-8 in float32 (and far less in float64), is below half an ulp
 * of any parameter larger than about 1e-26, so the parameters keep torch's bits.
 */

/* Adam's loop over the parameters (mlp_optim_update); compiled for SSE2, AVX2 and AVX-512 (simd.h): its square
   roots and divisions are correctly rounded at every width, so the builds agree to the bit. */
MLP_INLINE void MLP_FN(adam_loop)(size_t len, MLP_T *p, const MLP_T *g, MLP_T *m, MLP_T *v, int decay, MLP_T wd,
                                  int lerp_low, MLP_T weight, MLP_T beta2, MLP_T one_minus_beta2, MLP_T step_size,
                                  MLP_T bias_correction2_sqrt, MLP_T eps)
{
    for (size_t k = 0; k < len; k++) {
        const MLP_T gk = decay ? g[k] + wd * p[k] : g[k];
        /* exp_avg.lerp_(grad, 1 - beta1), with torch's two-sided lerp formula */
        m[k] = MLP_FLUSH(lerp_low ? m[k] + weight * (gk - m[k]) : gk - (gk - m[k]) * ((MLP_T)1 - weight));
        /* exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2) */
        v[k] = MLP_FLUSH(v[k] * beta2 + (one_minus_beta2 * gk) * gk);
        const MLP_T denom = MLP_SQRT_OF(v[k]) / bias_correction2_sqrt + eps;
        p[k] = p[k] + (-step_size * m[k]) / denom; /* param.addcdiv_(exp_avg, denom, value=-step_size) */
    }
}
#define MLP_ADAM_PARAMS                                                                                          \
    (size_t len, MLP_T *p, const MLP_T *g, MLP_T *m, MLP_T *v, int decay, MLP_T wd, int lerp_low, MLP_T weight,  \
     MLP_T beta2, MLP_T one_minus_beta2, MLP_T step_size, MLP_T bias_correction2_sqrt, MLP_T eps)
#define MLP_ADAM_ARGS                                                                                            \
    (len, p, g, m, v, decay, wd, lerp_low, weight, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps)
static void MLP_FN(adam_loop_generic) MLP_ADAM_PARAMS { MLP_FN(adam_loop) MLP_ADAM_ARGS; }

#ifdef MLP_X86_DISPATCH
MLP_TARGET("avx2,fma") static void MLP_FN(adam_loop_avx2) MLP_ADAM_PARAMS
{
    MLP_FN(adam_loop) MLP_ADAM_ARGS;
}

/* x, or +0 where |x| < the smallest normal number: MLP_FLUSH on a vector */
MLP_512_INLINE MLP_FN(mlp512_vec) MLP_FN(adam512_flush)(MLP_FN(mlp512_vec) x)
{
    const MLP_FN(mlp512_mask) tiny = MLP_FN(mlp512_cmp)(MLP_FN(mlp512_abs)(x), MLP_FN(mlp512_set1)(MLP_NORMAL_MIN),
                                                        _CMP_LT_OQ);
    return MLP_FN(mlp512_blend)(tiny, x, MLP_FN(mlp512_set1)(0));
}

/* The parameters (8 or 16) at k: adam_loop's operations in its order. The division by c takes div512.h's
   correctly rounded division on the FMA units, unless a square root is beyond its range (NaN, infinity, huge);
   the other division stays on the divider. With fma_sqrt the square root takes the FMA units too (div512.h),
   unless a v is beyond its range: the divider then has one operation per parameter instead of two. s = √v is
   0 or at least √(smallest normal) = 2^-511 (float: 2^-63), above div512.h's minimum for a; s = −0 (from
   v = −0, a state set so by hand) gives +0 instead of −0, and the same denominator, eps. */
typedef struct {
    MLP_FN(mlp512_vec) weight, rest, beta2, one_minus_beta2, neg_step, c, c_inverse, eps, wd;
    int decay, lerp_low, c_fast;
} MLP_FN(adam512_consts);

MLP_512_INLINE void MLP_FN(adam512_block)(const MLP_FN(adam512_consts) *K, size_t k, MLP_T *p, const MLP_T *g,
                                          MLP_T *m, MLP_T *v, int fma_sqrt)
{
    typedef MLP_FN(mlp512_vec) vec;
    const vec pk = MLP_FN(mlp512_load)(p + k);
    vec gk = MLP_FN(mlp512_load)(g + k), mk = MLP_FN(mlp512_load)(m + k), vk = MLP_FN(mlp512_load)(v + k);
    if (K->decay) {
        gk = MLP_FN(mlp512_add)(gk, MLP_FN(mlp512_mul)(K->wd, pk));
    }
    const vec diff = MLP_FN(mlp512_sub)(gk, mk);
    mk = MLP_FN(adam512_flush)(K->lerp_low ? MLP_FN(mlp512_add)(mk, MLP_FN(mlp512_mul)(K->weight, diff))
                                           : MLP_FN(mlp512_sub)(gk, MLP_FN(mlp512_mul)(diff, K->rest)));
    vk = MLP_FN(adam512_flush)(MLP_FN(mlp512_add)(MLP_FN(mlp512_mul)(vk, K->beta2),
                                                  MLP_FN(mlp512_mul)(MLP_FN(mlp512_mul)(K->one_minus_beta2, gk), gk)));
    MLP_FN(mlp512_store)(m + k, mk);
    MLP_FN(mlp512_store)(v + k, vk);
    vec scaled; /* √v / c */
    if (fma_sqrt && K->c_fast && MLP_FN(mlp512_sqrt_ok)(vk) == MLP_FN(mlp512_all)) {
        scaled = MLP_FN(mlp512_div_cr)(MLP_FN(mlp512_sqrt_cr)(vk), K->c, K->c_inverse);
    } else {
        const vec s = MLP_FN(mlp512_sqrt)(vk);
        scaled = K->c_fast && MLP_FN(mlp512_div_a_small)(s) == MLP_FN(mlp512_all)
                     ? MLP_FN(mlp512_div_cr)(s, K->c, K->c_inverse)
                     : MLP_FN(mlp512_div)(s, K->c);
    }
    const vec denom = MLP_FN(mlp512_add)(scaled, K->eps);
    const vec step = MLP_FN(mlp512_div)(MLP_FN(mlp512_mul)(K->neg_step, mk), denom);
    MLP_FN(mlp512_store)(p + k, MLP_FN(mlp512_add)(pk, step));
}

/* adam_loop for AVX-512, written out in intrinsics (adam512_block); the last len % lanes parameters take
   adam_loop. Same bits as adam_loop. */
MLP_TARGET("avx512f") static void MLP_FN(adam_loop_avx512) MLP_ADAM_PARAMS
{
    const MLP_FN(adam512_consts) K = {
        MLP_FN(mlp512_set1)(weight), MLP_FN(mlp512_set1)((MLP_T)1 - weight), MLP_FN(mlp512_set1)(beta2),
        MLP_FN(mlp512_set1)(one_minus_beta2), MLP_FN(mlp512_set1)(-step_size),
        MLP_FN(mlp512_set1)(bias_correction2_sqrt),
        MLP_FN(mlp512_set1)((MLP_T)1 / bias_correction2_sqrt), /* 1/c correctly rounded: no estimate needed */
        MLP_FN(mlp512_set1)(eps), MLP_FN(mlp512_set1)(wd), decay, lerp_low,
        MLP_FN(mlp512_div_b_ok)(bias_correction2_sqrt)};
    const size_t lanes = MLP_FN(mlp512_lanes);
    size_t k = 0;
    /* float64: every other vector takes its square root on the FMA units, so the divider has three operations
       per two vectors instead of four (float32's square root is cheap on the divider) */
    const int fma_sqrt = sizeof(MLP_T) == sizeof(double);
    for (; k + 2 * lanes <= len; k += 2 * lanes) {
        MLP_FN(adam512_block)(&K, k, p, g, m, v, fma_sqrt);
        MLP_FN(adam512_block)(&K, k + lanes, p, g, m, v, 0);
    }
    for (; k + lanes <= len; k += lanes) {
        MLP_FN(adam512_block)(&K, k, p, g, m, v, 0);
    }
    MLP_FN(adam_loop)(len - k, p + k, g + k, m + k, v + k, decay, wd, lerp_low, weight, beta2, one_minus_beta2,
                      step_size, bias_correction2_sqrt, eps);
}

/* q[k] = a[k] / b for k < len as Adam divides by c (adam512_block), for the tests. */
MLP_TARGET("avx512f") static void MLP_FN(divide_avx512)(size_t len, const MLP_T *a, MLP_T b, MLP_T *q)
{
    const size_t lanes = MLP_FN(mlp512_lanes);
    const MLP_FN(mlp512_vec) vb = MLP_FN(mlp512_set1)(b), vy = MLP_FN(mlp512_set1)((MLP_T)1 / b);
    const int b_fast = MLP_FN(mlp512_div_b_ok)(b);
    size_t k = 0;
    for (; k + lanes <= len; k += lanes) {
        const MLP_FN(mlp512_vec) ak = MLP_FN(mlp512_load)(a + k);
        MLP_FN(mlp512_store)(q + k, b_fast && MLP_FN(mlp512_div_a_ok)(ak) == MLP_FN(mlp512_all)
                                        ? MLP_FN(mlp512_div_cr)(ak, vb, vy)
                                        : MLP_FN(mlp512_div)(ak, vb));
    }
    for (; k < len; k++) {
        q[k] = a[k] / b;
    }
}

/* s[k] = √v[k] for k < len as Adam takes it (adam512_block), for the tests. */
MLP_TARGET("avx512f") static void MLP_FN(sqrt_avx512)(size_t len, const MLP_T *v, MLP_T *s)
{
    const size_t lanes = MLP_FN(mlp512_lanes);
    size_t k = 0;
    for (; k + lanes <= len; k += lanes) {
        const MLP_FN(mlp512_vec) vk = MLP_FN(mlp512_load)(v + k);
        MLP_FN(mlp512_store)(s + k, MLP_FN(mlp512_sqrt_ok)(vk) == MLP_FN(mlp512_all) ? MLP_FN(mlp512_sqrt_cr)(vk)
                                                                                      : MLP_FN(mlp512_sqrt)(vk));
    }
    for (; k < len; k++) {
        s[k] = MLP_SQRT_OF(v[k]);
    }
}
#endif

int MLP_FN(mlp_sqrt_avx512)(size_t len, const MLP_T *v, MLP_T *s)
{
#ifdef MLP_X86_DISPATCH
    if (MLP_CPU_AVX512()) {
        MLP_FN(sqrt_avx512)(len, v, s);
        return 1;
    }
#endif
    (void)len, (void)v, (void)s;
    return 0;
}

int MLP_FN(mlp_divide_avx512)(size_t len, const MLP_T *a, MLP_T b, MLP_T *q)
{
#ifdef MLP_X86_DISPATCH
    if (MLP_CPU_AVX512()) {
        MLP_FN(divide_avx512)(len, a, b, q);
        return 1;
    }
#endif
    (void)len, (void)a, (void)b, (void)q;
    return 0;
}

/* ---- the optimizers' steps: one function each, listed in the optimizer table (optim.c). Each takes the
   tensor's state buffers in its row's order. ---- */

/* torch.optim.SGD: buffers {momentum_buffer} when momentum != 0. */
static void MLP_FN(sgd_step)(mlp_isa isa, const mlp_optimizer *opt, const mlp_optim_scalars *sc, size_t len,
                             MLP_T *p, const MLP_T *g, MLP_T *const *state)
{
    (void)isa, (void)sc;
    const MLP_T lr = (MLP_T)opt->lr, wd = (MLP_T)opt->weight_decay, mu = (MLP_T)opt->momentum;
    const int decay = opt->weight_decay != 0.0, momentum = opt->momentum != 0.0;
    MLP_T *buf = momentum ? state[0] : NULL;
    for (size_t k = 0; k < len; k++) {
        MLP_T gk = decay ? g[k] + wd * p[k] : g[k]; /* grad.add(param, alpha=weight_decay) */
        if (momentum) {
            buf[k] = MLP_FLUSH(buf[k] * mu + gk);           /* buf.mul_(momentum).add_(grad) */
            gk = opt->nesterov ? gk + mu * buf[k] : buf[k]; /* grad.add(buf, alpha=momentum) */
        }
        p[k] = p[k] - lr * gk; /* param.add_(grad, alpha=-lr) */
    }
}

/* Adam's update of p, m, v (adam_loop) on the widest code path this CPU and isa allow; decay: L2 weight decay
   added to the gradient (Adam's), not AdamW's. */
static void MLP_FN(adam_update)(mlp_isa isa, const mlp_optimizer *opt, const mlp_optim_scalars *sc, size_t len,
                                MLP_T *p, const MLP_T *g, MLP_T *m, MLP_T *v, int decay)
{
    const MLP_T wd = (MLP_T)opt->weight_decay;
    const MLP_T weight = (MLP_T)(1.0 - opt->beta1), beta2 = (MLP_T)opt->beta2;
    const MLP_T one_minus_beta2 = (MLP_T)(1.0 - opt->beta2);
    const MLP_T step_size = (MLP_T)sc->step_size, eps = (MLP_T)opt->eps;
    const MLP_T bias_correction2_sqrt = (MLP_T)sc->bias_correction2_sqrt;
    const int lerp_low = 1.0 - opt->beta1 < 0.5;
#ifdef MLP_X86_DISPATCH
    if (len >= MLP_ADAM_SIMD_MIN && MLP_HAS_AVX512(isa)) {
        MLP_FN(adam_loop_avx512) MLP_ADAM_ARGS;
        return;
    }
    if (len >= MLP_ADAM_SIMD_MIN && MLP_HAS_AVX2_FMA(isa)) {
        MLP_FN(adam_loop_avx2) MLP_ADAM_ARGS;
        return;
    }
#else
    (void)isa;
#endif
    MLP_FN(adam_loop_generic) MLP_ADAM_ARGS;
}

/* torch.optim.Adam: step count, buffers {exp_avg, exp_avg_sq}; weight_decay is an L2 term in the gradient. */
static void MLP_FN(adam_step)(mlp_isa isa, const mlp_optimizer *opt, const mlp_optim_scalars *sc, size_t len,
                              MLP_T *p, const MLP_T *g, MLP_T *const *state)
{
    MLP_FN(adam_update)(isa, opt, sc, len, p, g, state[0], state[1], opt->weight_decay != 0.0);
}

/* torch.optim.AdamW: Adam after the decoupled decay param.mul_(1 − lr·weight_decay) (the factor computed in
   double, then rounded to the precision, as torch's scalar). */
static void MLP_FN(adamw_step)(mlp_isa isa, const mlp_optimizer *opt, const mlp_optim_scalars *sc, size_t len,
                               MLP_T *p, const MLP_T *g, MLP_T *const *state)
{
    if (opt->weight_decay != 0.0) {
        const MLP_T keep = (MLP_T)(1.0 - opt->lr * opt->weight_decay);
        for (size_t k = 0; k < len; k++) {
            p[k] = p[k] * keep;
        }
    }
    MLP_FN(adam_update)(isa, opt, sc, len, p, g, state[0], state[1], 0);
}

/* torch.optim.RMSprop (momentum 0, centered False): buffers {square_avg}; weight_decay is an L2 term. */
static void MLP_FN(rmsprop_step)(mlp_isa isa, const mlp_optimizer *opt, const mlp_optim_scalars *sc, size_t len,
                                 MLP_T *p, const MLP_T *g, MLP_T *const *state)
{
    (void)isa, (void)sc;
    const MLP_T lr = (MLP_T)opt->lr, wd = (MLP_T)opt->weight_decay, eps = (MLP_T)opt->eps;
    const MLP_T alpha = (MLP_T)opt->alpha, one_minus_alpha = (MLP_T)(1.0 - opt->alpha);
    const int decay = opt->weight_decay != 0.0;
    MLP_T *sq = state[0];
    for (size_t k = 0; k < len; k++) {
        const MLP_T gk = decay ? g[k] + wd * p[k] : g[k]; /* grad.add(param, alpha=weight_decay) */
        sq[k] = MLP_FLUSH(sq[k] * alpha + (one_minus_alpha * gk) * gk); /* square_avg.mul_(alpha).addcmul_ */
        const MLP_T avg = MLP_SQRT_OF(sq[k]) + eps;                      /* square_avg.sqrt().add_(eps) */
        p[k] = p[k] + (-lr * gk) / avg;                                  /* param.addcdiv_(grad, avg, value=-lr) */
    }
}

#undef MLP_ADAM_PARAMS
#undef MLP_ADAM_ARGS
