/* loss_simd_impl.h — the element loops of net_impl.h's losses built for one instruction set (each_isa.h): each an
   out-of-line function of that set's target, its always-inline body compiled for it. */

MLP_ISA_TARGET static void MLP_FK(bce_v)(size_t n, const MLP_T *y, const MLP_T *P, MLP_T *G, MLP_T scale, double *t)
{
    MLP_FN(bce_loop)(n, y, P, G, scale, t);
}
