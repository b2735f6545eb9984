/* dense_loops_impl.h — dense_impl.h's element loops built for one instruction set (each_isa.h): the bias
   gradient's column sums, the lecture's update of W, and the join of a layer's two halves. */

MLP_ISA_TARGET static void MLP_FK(sum_rows_v)(size_t n, size_t m, size_t ld, const MLP_T *D, MLP_T *db)
{
    MLP_FN(sum_rows)(n, m, ld, D, db);
}

MLP_ISA_TARGET static void MLP_FK(add_scaled_v)(size_t len, const MLP_T *g, MLP_T lr, MLP_T *p)
{
    MLP_FN(add_scaled_all)(len, g, lr, p);
}

MLP_ISA_TARGET static void MLP_FK(join_rows_v)(size_t len, size_t cols, MLP_T *a, const MLP_T *t, const MLP_T *bias)
{
    MLP_FN(join_rows)(len, cols, a, t, bias);
}
