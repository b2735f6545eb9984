/* sum_rows_impl.h — dense_impl.h's column sums built for one instruction set (each_isa.h). */

MLP_ISA_TARGET static void MLP_FK(sum_rows_v)(size_t n, size_t m, size_t ld, const MLP_T *D, MLP_T *db)
{
    MLP_FN(sum_rows)(n, m, ld, D, db);
}
