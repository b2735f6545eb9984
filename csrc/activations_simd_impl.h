/* activations_simd_impl.h — the element loops of activations_impl.h built for one instruction set (each_isa.h):
   each an out-of-line function of that set's target, its always-inline body compiled for it. */

MLP_ISA_TARGET static void MLP_FK(sigmoid_v)(size_t len, MLP_T *a)
{
#if MLP_ISA_LEVEL >= 2 /* the table look-ups as permutes (sigmoid_simd_impl.h), not gathers */
    MLP_FK(mlp_sigmoid_lanes)(len, a);
#else
    MLP_FN(sigmoid)(len, a);
#endif
}

MLP_ISA_TARGET static void MLP_FK(tanh_v)(size_t len, MLP_T *a)
{
#if MLP_ISA_LEVEL >= 2 /* float's on the sigmoid's lanes; double's is libm's, one call a value */
    if (sizeof(MLP_T) == sizeof(float)) {
        MLP_FI(mlp_tanh_lanes_f32)(len, (float *)a);
        return;
    }
#endif
    MLP_FN(tanh_all)(len, a);
}

MLP_ISA_TARGET static void MLP_FK(exp_v)(size_t len, MLP_T *a) { MLP_FN(exp_all)(len, a); }

MLP_ISA_TARGET static void MLP_FK(rectify_v)(size_t len, MLP_T *a, int leaky, MLP_T slope)
{
    MLP_FN(rectify)(len, a, leaky, slope);
}

MLP_ISA_TARGET static void MLP_FK(rectify_grad_v)(size_t len, const MLP_T *a, MLP_T *d, MLP_T slope)
{
    MLP_FN(rectify_grad)(len, a, d, slope);
}

MLP_ISA_TARGET static void MLP_FK(sigmoid_grad_v)(size_t len, const MLP_T *a, MLP_T *d)
{
    MLP_FN(sigmoid_grad)(len, a, d);
}

MLP_ISA_TARGET static void MLP_FK(tanh_grad_v)(size_t len, const MLP_T *a, MLP_T *d) { MLP_FN(tanh_grad)(len, a, d); }
