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
MLP_SIMD_VARIANTS(adam_loop_v, MLP_ADAM_PARAMS, MLP_FN(adam_loop), MLP_ADAM_ARGS)

void MLP_FN(mlp_optim_update)(const mlp_optimizer *opt, size_t len, MLP_T *p, const MLP_T *g, MLP_T *buf, MLP_T *m,
                              MLP_T *v, int64_t t)
{
    const MLP_T lr = (MLP_T)opt->lr, wd = (MLP_T)opt->weight_decay;
    const int decay = opt->weight_decay != 0.0;
    if (opt->kind == MLP_SGD) {
        const MLP_T mu = (MLP_T)opt->momentum;
        const int momentum = opt->momentum != 0.0;
        for (size_t k = 0; k < len; k++) {
            MLP_T gk = decay ? g[k] + wd * p[k] : g[k]; /* grad.add(param, alpha=weight_decay) */
            if (momentum) {
                buf[k] = MLP_FLUSH(buf[k] * mu + gk);       /* buf.mul_(momentum).add_(grad) */
                gk = opt->nesterov ? gk + mu * buf[k] : buf[k]; /* grad.add(buf, alpha=momentum) */
            }
            p[k] = p[k] - lr * gk; /* param.add_(grad, alpha=-lr) */
        }
        return;
    }
    /* Adam */
    const double bias_correction1 = 1.0 - pow(opt->beta1, (double)t);
    const double bias_correction2 = 1.0 - pow(opt->beta2, (double)t);
    const MLP_T weight = (MLP_T)(1.0 - opt->beta1), beta2 = (MLP_T)opt->beta2, one_minus_beta2 = (MLP_T)(1.0 - opt->beta2);
    const MLP_T step_size = (MLP_T)(opt->lr / bias_correction1), eps = (MLP_T)opt->eps;
    const MLP_T bias_correction2_sqrt = (MLP_T)pow(bias_correction2, 0.5);
    const int lerp_low = 1.0 - opt->beta1 < 0.5;
    MLP_SIMD_CALL(adam_loop_v, len, MLP_ADAM_SIMD_MIN, MLP_ADAM_SIMD_MIN, MLP_ADAM_ARGS);
}
#undef MLP_ADAM_PARAMS
#undef MLP_ADAM_ARGS
