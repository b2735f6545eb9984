/*
 * optim_impl.h — template body of optim.c (see each_precision.h).
 *
 * The order of operations is torch.optim's (single-tensor path), so results agree to rounding: scalars are
 * computed in double, as Python computes them there, and then cast to the tensor's precision.
 *
 * One difference: the optimizer's state (momentum buffer, Adam's m and v) is flushed to 0 when it falls below the
 * smallest normal number (MLP_FLUSH_BELOW). A parameter whose gradient stays exactly 0 (a dead ReLU unit, an input
 * that is always 0) has its state decay geometrically into subnormal numbers, on which every multiply takes a
 * microcode assist (~150 cycles): Adam on the digits ran 1.4–2.6× slower for it. What that changes is small,
 * not nothing: a flushed m drops a step below lr·FLT_MIN/(bc1·eps) (at lr 1e-3 and eps 1e-8, under half an ulp
 * of any float32 parameter above about 1e-26); a flushed v leaves the step it is flushed in as it was (its
 * square root is under half an ulp of eps: state_flush_below) but enters later averages, so a later step can differ
 * from torch's in its last bit. Tests compare with the usual tolerance. Adam and RMSprop flush only where eps
 * hides √v: with a small eps (below about 1e-10 in float32) a flushed v would leave eps alone in the denominator
 * where torch has √v, and the step would be lr·m/eps, orders of magnitude larger; there the state is kept,
 * subnormals and all, and the step runs with the CPU's flush-to-zero mode off (mlp_fpmode_keep: the binding's
 * kernel sections flush subnormals everywhere else).
 */

#define MLP_T_MIN ((MLP_T)(sizeof(MLP_T) == sizeof(float) ? FLT_MIN : DBL_MIN)) /* the smallest normal */

/* Where Adam's or RMSprop's state is flushed, for MLP_FLUSH_BELOW: MLP_T_MIN if eps hides a flushed state (√v /
   scale for any subnormal v, scale Adam's bias correction √(1 − β2ᵗ) or 1 for RMSprop, is below half an ulp of
   eps, so the step's denominator rounds the same), else 0, and then the step runs with the CPU's flush-to-zero mode
   off (see the header comment). *mode: the thread's mode, to restore after the step. */
static MLP_T MLP_FN(state_flush_below)(double eps, double scale, mlp_fpmode *mode)
{
    const double half_ulp = sizeof(MLP_T) == sizeof(float) ? 0x1p-25 : 0x1p-54; /* relative, at the low end */
    if (sqrt((double)MLP_T_MIN) / scale < 0.5 * eps * half_ulp) {
        *mode = mlp_fpmode_get();
        return MLP_T_MIN;
    }
    *mode = mlp_fpmode_keep(); /* kept: subnormals as torch has them */
    return 0;
}

/* Adam's loop over the parameters (mlp_optim_update); compiled for SSE2 and AVX2 (simd.h): its square roots and
   divisions are correctly rounded at every width, so the builds agree to the bit. There is no AVX-512 build: the
   loop waits on its square root and two divisions, which take about as long per value at 512 bits as at 256, and
   one measured gained too little (benchmarks.md, "Does Adam's loop pay on AVX-512, or with one division fewer?"). */
MLP_INLINE void MLP_FN(adam_loop)(size_t len, MLP_T *p, const MLP_T *g, MLP_T *m, MLP_T *v, int decay, MLP_T wd,
                                  int lerp_low, MLP_T weight, MLP_T beta2, MLP_T one_minus_beta2, MLP_T step_size,
                                  MLP_T bias_correction2_sqrt, MLP_T eps, MLP_T flush_below)
{
    for (size_t k = 0; k < len; k++) {
        const MLP_T gk = decay ? g[k] + wd * p[k] : g[k];
        /* exp_avg.lerp_(grad, 1 - beta1), with torch's two-sided lerp formula */
        const MLP_T mk = lerp_low ? m[k] + weight * (gk - m[k]) : gk - (gk - m[k]) * ((MLP_T)1 - weight);
        m[k] = MLP_FLUSH_BELOW(mk, flush_below);
        /* exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2) */
        const MLP_T vk = v[k] * beta2 + (one_minus_beta2 * gk) * gk;
        v[k] = MLP_FLUSH_BELOW(vk, flush_below);
        const MLP_T denom = MLP_SQRT_OF(v[k]) / bias_correction2_sqrt + eps;
        p[k] = p[k] + (-step_size * m[k]) / denom; /* param.addcdiv_(exp_avg, denom, value=-step_size) */
    }
}
#define MLP_ADAM_PARAMS                                                                                          \
    (size_t len, MLP_T *p, const MLP_T *g, MLP_T *m, MLP_T *v, int decay, MLP_T wd, int lerp_low, MLP_T weight,  \
     MLP_T beta2, MLP_T one_minus_beta2, MLP_T step_size, MLP_T bias_correction2_sqrt, MLP_T eps,             \
     MLP_T flush_below)
#define MLP_ADAM_ARGS                                                                                            \
    (len, p, g, m, v, decay, wd, lerp_low, weight, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps,  \
     flush_below)
static void MLP_FN(adam_loop_generic) MLP_ADAM_PARAMS { MLP_FN(adam_loop) MLP_ADAM_ARGS; }

#ifdef MLP_X86_DISPATCH
MLP_TARGET("avx2,fma") static void MLP_FN(adam_loop_avx2) MLP_ADAM_PARAMS
{
    MLP_FN(adam_loop) MLP_ADAM_ARGS;
}
#endif

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
            const MLP_T bk = buf[k] * mu + gk; /* buf.mul_(momentum).add_(grad) */
            buf[k] = MLP_FLUSH_BELOW(bk, MLP_T_MIN);
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
    /* the mode first: in the kernel section's flush-to-zero mode, an eps below the smallest normal would round
       to 0 as it is converted, and 0 / 0 give NaN where a gradient is 0 */
    mlp_fpmode mode;
    const MLP_T flush_below = MLP_FN(state_flush_below)(opt->eps, sc->bias_correction2_sqrt, &mode);
    const MLP_T wd = (MLP_T)opt->weight_decay;
    const MLP_T weight = (MLP_T)(1.0 - opt->beta1), beta2 = (MLP_T)opt->beta2;
    const MLP_T one_minus_beta2 = (MLP_T)(1.0 - opt->beta2);
    const MLP_T step_size = (MLP_T)sc->step_size, eps = (MLP_T)opt->eps;
    const MLP_T bias_correction2_sqrt = (MLP_T)sc->bias_correction2_sqrt;
    const int lerp_low = 1.0 - opt->beta1 < 0.5;
#ifdef MLP_X86_DISPATCH
    if (len >= MLP_ADAM_SIMD_MIN && MLP_HAS_AVX2_FMA(isa)) {
        MLP_FN(adam_loop_avx2) MLP_ADAM_ARGS;
    } else {
        MLP_FN(adam_loop_generic) MLP_ADAM_ARGS;
    }
#else
    (void)isa;
    MLP_FN(adam_loop_generic) MLP_ADAM_ARGS;
#endif
    mlp_fpmode_restore(mode);
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
    mlp_fpmode mode; /* first: see adam_update */
    const MLP_T flush_below = MLP_FN(state_flush_below)(opt->eps, 1.0, &mode);
    const MLP_T lr = (MLP_T)opt->lr, wd = (MLP_T)opt->weight_decay, eps = (MLP_T)opt->eps;
    const MLP_T alpha = (MLP_T)opt->alpha, one_minus_alpha = (MLP_T)(1.0 - opt->alpha);
    const int decay = opt->weight_decay != 0.0;
    MLP_T *sq = state[0];
    for (size_t k = 0; k < len; k++) {
        const MLP_T gk = decay ? g[k] + wd * p[k] : g[k]; /* grad.add(param, alpha=weight_decay) */
        const MLP_T sk = sq[k] * alpha + (one_minus_alpha * gk) * gk; /* square_avg.mul_(alpha).addcmul_ */
        sq[k] = MLP_FLUSH_BELOW(sk, flush_below);
        const MLP_T avg = MLP_SQRT_OF(sq[k]) + eps;                      /* square_avg.sqrt().add_(eps) */
        p[k] = p[k] + (-lr * gk) / avg;                                  /* param.addcdiv_(grad, avg, value=-lr) */
    }
    mlp_fpmode_restore(mode);
}

#undef MLP_ADAM_PARAMS
#undef MLP_ADAM_ARGS
#undef MLP_T_MIN
