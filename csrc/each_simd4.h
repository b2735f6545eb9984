/*
 * each_simd4.h — instantiates a four-lane template body (sigmoid4_impl.h, rows4_impl.h) once per x86 instruction
 * set that it is written for, as each_precision.h does per precision.
 *
 * The includer defines MLP_SIMD4_IMPL as the template's file name and includes this header (x86 with GCC/Clang
 * only: MLP_X86_DISPATCH). The body is compiled twice, with
 *     MLP_V(name) = name##_avx2,      MLP_V_TARGET = "avx2,fma";
 *     MLP_V(name) = name##_avx512vl,  MLP_V_TARGET = "avx2,fma,avx512f,avx512vl", MLP_V_AVX512VL defined.
 */
#ifndef MLP_SIMD4_IMPL
#error "define MLP_SIMD4_IMPL before including each_simd4.h"
#endif

#include <immintrin.h>

#define MLP_V(name) name##_avx2
#define MLP_V_TARGET "avx2,fma"
#include MLP_SIMD4_IMPL
#undef MLP_V
#undef MLP_V_TARGET

#define MLP_V(name) name##_avx512vl
#define MLP_V_TARGET "avx2,fma,avx512f,avx512vl"
#define MLP_V_AVX512VL 1
#include MLP_SIMD4_IMPL
#undef MLP_V
#undef MLP_V_TARGET
#undef MLP_V_AVX512VL

#undef MLP_SIMD4_IMPL
