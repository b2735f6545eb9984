/*
 * each_precision.h — instantiates a kernel template once per precision.
 *
 * A .c file defines MLP_IMPL as the name of its template body ("dense_impl.h", ...) and includes this header;
 * the body is compiled twice, with MLP_T = double / MLP_FN(name) = name##_f64 and MLP_T = float /
 * MLP_FN(name) = name##_f32. One body, no copy-pasted twins.
 */
#ifndef MLP_IMPL
#error "define MLP_IMPL before including each_precision.h"
#endif

#define MLP_T double
#define MLP_FN(name) name##_f64
#include MLP_IMPL
#undef MLP_T
#undef MLP_FN

#define MLP_T float
#define MLP_FN(name) name##_f32
#include MLP_IMPL
#undef MLP_T
#undef MLP_FN

#undef MLP_IMPL
