/*
 * module.c — mlpext._core: the only file that knows Python and NumPy.
 *
 * Each entry point is a descriptor run by a driver: lecture_call for the lecture's seven functions, net_call_run for
 * the networks' four. Both do the same four things, in this order:
 *   1. parse its arguments (METH_FASTCALL, keywords allowed);
 *   2. validate all of them against a table of specs (name, role, shape in named dimensions) before touching
 *      any memory — wrong type or dtype: TypeError; shape, layout, read-only or overlap: ValueError;
 *   3. allocate what it returns and one scratch block (converted inputs + kernel workspace);
 *   4. release the GIL, convert inputs and run the kernel from csrc/ (from the table of the parameters' dtype,
 *      mlp_kernels_for: no entry tests the dtype), take the GIL back.
 * So a call that raises has written nothing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <numpy/arrayobject.h>
#include <numpy/arrayscalars.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "mlp.h"
#include "size_math.h"

/* ------------------------------------------------------------------------------------------------------------
 * Argument specs
 * ------------------------------------------------------------------------------------------------------------ */

/* The named dimensions that tie the shapes of one call together: the lecture's four, or for a network the
   number of samples and its L + 1 layer sizes. */
enum { DIM_N, DIM_IN, DIM_HIDDEN, DIM_OUT, N_LECTURE_DIMS };
static const char *const lecture_dim_names[N_LECTURE_DIMS] = {"n", "in", "hidden", "out"};
#define DIM_SIZE(l) (1 + (l)) /* a network's sizes[l] */
#define MAX_DIMS (MLP_MAX_LAYERS + 2)

typedef enum {
    PARAM,        /* a parameter, read only: float32/float64 ndarray, C-contiguous; sets the call's dtype */
    PARAM_RW,     /* a parameter (or optimizer state) updated in place: as PARAM, and writable */
    INPUT,        /* data (X, y): any real numeric array-like, converted to the call's dtype */
    INTERMEDIATE, /* a value returned by forward/backward: an array of the call's dtype, any layout */
    OUTPUT,       /* an out= array: ndarray of the call's dtype, C-contiguous, writable */
    COUNTER,      /* integer state updated in place (Adam's step, the shuffle's generator): ndarray of the spec's
                     own dtype, C-contiguous, writable */
    LABELS,       /* class labels: an integer array-like, converted to npy_intp and checked against a range */
} arg_role;

/* What each role implies, looked up once per argument. */
enum {
    ROLE_PARAM = 1,   /* a parameter: sets the call's dtype */
    ROLE_EXACT = 2,   /* used in place, so never converted: an ndarray of the exact dtype, C-contiguous, aligned */
    ROLE_WRITTEN = 4, /* written in place: writable, and sharing memory with no other argument */
};
static const unsigned char role_flags[] = {
    [PARAM] = ROLE_PARAM | ROLE_EXACT,      [PARAM_RW] = ROLE_PARAM | ROLE_EXACT | ROLE_WRITTEN,
    [INPUT] = 0,                            [INTERMEDIATE] = 0,
    [OUTPUT] = ROLE_EXACT | ROLE_WRITTEN,   [COUNTER] = ROLE_EXACT | ROLE_WRITTEN,
    [LABELS] = 0,
};

typedef struct {
    const char *name;
    arg_role role;
    int ndim;
    int dims[2];  /* the named dimension of each axis, or -1 with fixed_len for a fixed size */
    int type_num; /* COUNTER: its dtype */
    npy_intp fixed_len;
} arg_spec;

#define MAX_ARGS (8 * MLP_MAX_LAYERS + 4) /* a network's apply: parameters, gradients, optimizer step and 2 buffers */
#define LECTURE_MAX_ARGS 12
#define MAX_OUTS 12 /* trace_step's */

/* One validated array argument. */
typedef struct {
    const arg_spec *spec;
    PyArrayObject *arr;  /* the array, a reference the call owns until it ends: the object passed, or what NumPy
                            made of it (a list's array, a cast copy) */
    void *data;          /* C-contiguous data of the call's dtype; NULL until the scratch block exists */
    int convert;         /* 1: arr is copied (and cast) into the scratch block inside the kernel section */
    mlp_source source;   /* then: its scalar type */
    size_t len;          /* number of elements */
    const char *lo, *hi; /* bytes [lo, hi) of the array NumPy made of obj (obj's own memory, or a copy) */
    int written;         /* the call writes it (PARAM_RW, OUTPUT, COUNTER) */
    /* arr as validated, for call_prove: its data, dtype, flags, and shape and strides (ndim is the spec's) */
    const char *seen_bytes;
    /* the dtype by value, not by address (a freed dtype's address can be another dtype's later): its type number
       and byte order, which fix a numeric dtype's item size */
    int seen_type;
    char seen_byteorder;
    int seen_flags;
    npy_intp seen_dims[2], seen_strides[2];
} arg_val;

/* The state of one call, on the C stack. */
typedef struct {
    const char *fname;
    int type_num; /* NPY_DOUBLE or NPY_FLOAT */
    const mlp_kernels *K; /* the kernels of that precision */
    int ndims;
    const char *const *dim_names; /* names of the dimensions for messages; NULL: a network's "n", "sizes[l]" */
    npy_intp dims[MAX_DIMS];
    int dim_arg[MAX_DIMS]; /* which argument set each dimension (-1: not yet) */
    arg_val *args; /* room for every array argument of the call */
    int nargs;
    int writers; /* how many of the arguments are written */
    int unproved; /* Python code may have run since the arguments were validated or last proved (call_prove) */
    int convert_begin, convert_end; /* the arguments with convert = 1 are among [begin, end) */
    size_t scratch_len; /* elements of the call's dtype needed for converted inputs */
    size_t work;        /* scalars of kernel workspace the lecture's function needs for these sizes */
    int work_ok;        /* 0: that count overflowed */
    mlp_costs cost;     /* what its kernels cost per row (mlp_lecture_costs; a network's: mlp_net_costs) */
} call_ctx;

static void ctx_init(call_ctx *c, const char *fname, int ndims, const char *const *dim_names, arg_val *args)
{
    c->args = args;
    c->fname = fname; /* args[] is filled as arguments are taken: no need to clear it */
    c->nargs = 0;
    c->writers = 0;
    c->unproved = 0;
    c->convert_begin = c->convert_end = 0;
    c->scratch_len = 0;
    c->work = 0;
    c->work_ok = 1;
    c->cost = (mlp_costs){0.0, 0.0, 0.0};
    c->type_num = -1;
    c->K = NULL; /* set with the dtype (take_dtype) */
    c->ndims = ndims;
    c->dim_names = dim_names;
    for (int k = 0; k < ndims; k++) {
        c->dim_arg[k] = -1;
        c->dims[k] = 0; /* stays 0 for a dimension no argument gives (backward() takes no X: no "in") */
    }
}

static void ctx_release(call_ctx *c)
{
    for (int k = 0; k < c->nargs; k++) {
        Py_DECREF(c->args[k].arr);
    }
    c->nargs = 0;
    c->writers = 0;
    c->convert_begin = c->convert_end = 0;
}

/* The flags whose change call_prove detects (OWNDATA and the like say nothing about the memory used). */
#define PROVED_FLAGS (NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_WRITEABLE)

/* Records v's array as validated. */
static inline void snapshot(arg_val *v)
{
    PyArrayObject *a = v->arr;
    v->seen_bytes = PyArray_BYTES(a);
    v->seen_type = PyArray_TYPE(a);
    v->seen_byteorder = PyArray_DESCR(a)->byteorder;
    v->seen_flags = PyArray_FLAGS(a) & PROVED_FLAGS;
    for (int k = 0; k < v->spec->ndim; k++) {
        v->seen_dims[k] = PyArray_DIM(a, k);
        v->seen_strides[k] = PyArray_STRIDE(a, k);
    }
}

/* Whether v's array is still as snapshot() saw it. */
static inline int unchanged(const arg_val *v)
{
    PyArrayObject *a = v->arr;
    int same = PyArray_BYTES(a) == v->seen_bytes && PyArray_TYPE(a) == v->seen_type &&
               PyArray_DESCR(a)->byteorder == v->seen_byteorder &&
               (PyArray_FLAGS(a) & PROVED_FLAGS) == v->seen_flags && PyArray_NDIM(a) == v->spec->ndim;
    for (int k = 0; same && k < v->spec->ndim; k++) {
        same = PyArray_DIM(a, k) == v->seen_dims[k] && PyArray_STRIDE(a, k) == v->seen_strides[k];
    }
    return same;
}

/* Python code can run inside a call — another argument's conversion (__array__, a subclass's
   __array_finalize__), a log line written to sys.stdout, a signal handler, other threads once the GIL is taken
   back — and it can resize an array the call holds (ndarray.resize(refcheck=False)), give it other memory
   (ndarray.__setstate__), reshape it or make it read-only. The call owns a reference to every array, so none is
   freed; and before it uses them again after such a point (c->unproved), this proves each one unchanged since it
   was validated: the same data pointer, dtype, flags, shape and strides. Returns 0, or -1 with a ValueError
   naming the first changed one (and the call must not touch the arrays). */
static int call_prove(call_ctx *c)
{
    if (!c->unproved) {
        return 0;
    }
    for (int k = 0; k < c->nargs; k++) {
        if (!unchanged(&c->args[k])) {
            PyErr_Format(PyExc_ValueError, "%s(): %s was resized, reshaped or given other memory, dtype or flags "
                         "by Python code that ran during the call (a conversion of another argument, a log line, "
                         "a signal handler or another thread); the call stopped before using it again",
                         c->fname, c->args[k].spec->name);
            return -1;
        }
    }
    c->unproved = 0;
    return 0;
}

/* "(4, 2)" */
static void shape_str(char *buf, size_t size, int ndim, const npy_intp *shape)
{
    int used = snprintf(buf, size, "(");
    for (int k = 0; k < ndim && used < (int)size; k++) {
        used += snprintf(buf + used, size - used, k ? ", %" NPY_INTP_FMT : "%" NPY_INTP_FMT, shape[k]);
    }
    if (used < (int)size) {
        snprintf(buf + used, size - used, ndim == 1 ? ",)" : ")");
    }
}

/* The expected shape, with the dimensions known so far as numbers: "(2, hidden)". */
static void expected_str(const call_ctx *c, const arg_spec *s, char *buf, size_t size)
{
    int used = snprintf(buf, size, "(");
    for (int k = 0; k < s->ndim && used < (int)size; k++) {
        int d = s->dims[k];
        const char *sep = k ? ", " : "";
        if (d < 0) {
            used += snprintf(buf + used, size - used, "%s%" NPY_INTP_FMT, sep, s->fixed_len);
        } else if (c->dim_arg[d] >= 0) {
            used += snprintf(buf + used, size - used, "%s%" NPY_INTP_FMT, sep, c->dims[d]);
        } else if (c->dim_names != NULL) {
            used += snprintf(buf + used, size - used, "%s%s", sep, c->dim_names[d]);
        } else if (d == DIM_N) {
            used += snprintf(buf + used, size - used, "%sn", sep);
        } else {
            used += snprintf(buf + used, size - used, "%ssizes[%d]", sep, d - 1);
        }
    }
    if (used < (int)size) {
        snprintf(buf + used, size - used, s->ndim == 1 ? ",)" : ")");
    }
}

static const char *dtype_name(int type_num) { return type_num == NPY_FLOAT ? "float32" : "float64"; }

/* The name NumPy gives an array's dtype ("int64", ">f8"), for messages. Returns a new reference or NULL. */
static PyObject *dtype_repr(PyArrayObject *a) { return PyObject_Str((PyObject *)PyArray_DESCR(a)); }

static int is_float_param_dtype(PyArrayObject *a)
{
    return (PyArray_TYPE(a) == NPY_DOUBLE || PyArray_TYPE(a) == NPY_FLOAT) && PyArray_ISNOTSWAPPED(a);
}

MLP_COLD static int type_error_dtype(const call_ctx *c, const char *name, PyArrayObject *a,
                                                             const char *expected)
{
    PyObject *got = dtype_repr(a);
    if (got) {
        PyErr_Format(PyExc_TypeError, "%s(): %s must have dtype %s, got %U", c->fname, name, expected, got);
        Py_DECREF(got);
    }
    return -1;
}

/* The messages of check_shape, out of its way: formatting needs buffers that the checks do not. */
enum { SHAPE_NDIM, SHAPE_FIXED, SHAPE_EMPTY, SHAPE_MISMATCH };
MLP_COLD static int shape_error(const call_ctx *c, int index, PyArrayObject *a, int what,
                                                       int dim)
{
    const arg_spec *s = c->args[index].spec;
    char got[96], want[96];
    shape_str(got, sizeof got, PyArray_NDIM(a), PyArray_DIMS(a));
    expected_str(c, s, want, sizeof want);
    switch (what) {
    case SHAPE_NDIM:
        PyErr_Format(PyExc_ValueError, "%s(): %s must be %d-D with shape %s, got a %d-D array of shape %s", c->fname,
                     s->name, s->ndim, want, PyArray_NDIM(a), got);
        break;
    case SHAPE_FIXED:
        PyErr_Format(PyExc_ValueError, "%s(): %s must have shape %s, got shape %s", c->fname, s->name, want, got);
        break;
    case SHAPE_EMPTY:
        PyErr_Format(PyExc_ValueError, "%s(): %s has shape %s, but every dimension must be at least 1", c->fname,
                     s->name, got);
        break;
    default: {
        const arg_val *src = &c->args[c->dim_arg[dim]];
        char src_shape[96];
        shape_str(src_shape, sizeof src_shape, PyArray_NDIM(src->arr), PyArray_DIMS(src->arr));
        PyErr_Format(PyExc_ValueError, "%s(): %s must have shape %s to match %s of shape %s, got shape %s", c->fname,
                     s->name, want, src->spec->name, src_shape, got);
    }
    }
    return -1;
}

/* Checks ndim and shape of a against spec s, binding named dimensions on first sight; sets *len to the number
   of elements. */
static int check_shape(call_ctx *c, int index, PyArrayObject *a, size_t *len)
{
    const arg_spec *s = c->args[index].spec;
    if (PyArray_NDIM(a) != s->ndim) {
        return shape_error(c, index, a, SHAPE_NDIM, 0);
    }
    size_t elements = 1; /* each dimension checked before it is multiplied in: no overflow (NumPy's sizes fit) */
    for (int k = 0; k < s->ndim; k++) {
        int d = s->dims[k];
        npy_intp size = PyArray_DIM(a, k);
        if (d < 0) {
            if (size != s->fixed_len) {
                return shape_error(c, index, a, SHAPE_FIXED, d);
            }
        } else if (c->dim_arg[d] < 0) {
            if (size < 1) {
                return shape_error(c, index, a, SHAPE_EMPTY, d);
            }
            c->dims[d] = size;
            c->dim_arg[d] = index;
        } else if (size != c->dims[d]) {
            return shape_error(c, index, a, SHAPE_MISMATCH, d);
        }
        elements *= (size_t)size;
    }
    *len = elements;
    return 0;
}

/* The core's name of a dtype the kernel section copies and casts itself (native, aligned: no temporary array),
   or -1. */
static int source_type(PyArrayObject *a)
{
    static const signed char ints[9][2] = {{-1, -1}, {MLP_SRC_I8, MLP_SRC_U8}, {MLP_SRC_I16, MLP_SRC_U16}, {-1, -1},
                                           {MLP_SRC_I32, MLP_SRC_U32}, {-1, -1}, {-1, -1}, {-1, -1},
                                           {MLP_SRC_I64, MLP_SRC_U64}};
    const npy_intp size = PyArray_ITEMSIZE(a);
    if (!PyArray_ISNOTSWAPPED(a) || !PyArray_ISALIGNED(a) || size > 8) {
        return -1;
    }
    switch (PyArray_DESCR(a)->kind) {
    case 'b': return size == 1 ? MLP_SRC_BOOL : -1;
    case 'i': return ints[size][0];
    case 'u': return ints[size][1];
    case 'f': return size == 4 ? MLP_SRC_F32 : size == 8 ? MLP_SRC_F64 : -1;
    default: return -1;
    }
}

/* Byte range [lo, hi) that array a of len elements can touch. */
static void memory_extent(PyArrayObject *a, size_t len, const char **lo, const char **hi)
{
    const char *low = PyArray_BYTES(a), *high = low;
    if (PyArray_IS_C_CONTIGUOUS(a)) { /* nearly always: no strides to look at */
        *lo = low;
        *hi = low + len * (size_t)PyArray_ITEMSIZE(a);
        return;
    }
    for (int k = 0; k < PyArray_NDIM(a); k++) {
        npy_intp reach = (PyArray_DIM(a, k) - 1) * PyArray_STRIDE(a, k);
        if (reach < 0) {
            low += reach;
        } else {
            high += reach;
        }
    }
    *lo = low;
    *hi = high + PyArray_ITEMSIZE(a);
}

/* The ValueError for an array used in place (a parameter, an out= array, a counter) that is not a C array: what
   came (strides that are not C order's, or data at an address that is no multiple of the item size) and what gives
   one. np.ascontiguousarray copies a non-contiguous array, but returns a misaligned C-contiguous one as it is: a
   copy (.copy()) is aligned. */
MLP_COLD static int layout_error(const call_ctx *c, const arg_spec *s, PyArrayObject *a)
{
    const char *use = s->role == PARAM ? "used" : "written";
    if (!PyArray_IS_C_CONTIGUOUS(a)) {
        char shape[96], strides[96];
        shape_str(shape, sizeof shape, PyArray_NDIM(a), PyArray_DIMS(a));
        shape_str(strides, sizeof strides, PyArray_NDIM(a), PyArray_STRIDES(a));
        PyErr_Format(PyExc_ValueError, "%s(): %s must be C-contiguous and aligned (it is %s in place, so it is never "
                     "copied), got a%s array of shape %s with strides %s; pass np.ascontiguousarray(%s) and keep that "
                     "array", c->fname, s->name, use, PyArray_IS_F_CONTIGUOUS(a) ? " Fortran-ordered" :
                     " non-contiguous", shape, strides, s->name);
    } else {
        PyErr_Format(PyExc_ValueError, "%s(): %s must be C-contiguous and aligned (it is %s in place, so it is never "
                     "copied), got data at an address that is not a multiple of its %zd-byte items; pass %s.copy() "
                     "and keep that array", c->fname, s->name, use, (Py_ssize_t)PyArray_ITEMSIZE(a), s->name);
    }
    return -1;
}

/* NumPy's array of obj, the data argument `name` of fname. Where NumPy cannot make one (ragged nested lists, a dtype
   it does not understand in an __array_interface__, an __array__ that raises TypeError or ValueError), a TypeError
   naming the function and the argument, with NumPy's reason in its message and as its __cause__. Other exceptions
   (MemoryError, KeyboardInterrupt, whatever else an __array__ raises) pass as they are. A new reference, or NULL. */
static PyObject *array_of_data(const char *fname, const char *name, PyObject *obj)
{
    PyObject *a = PyArray_FromAny(obj, NULL, 0, 0, 0, NULL);
    if (a != NULL || !(PyErr_ExceptionMatches(PyExc_ValueError) || PyErr_ExceptionMatches(PyExc_TypeError))) {
        return a;
    }
    PyObject *type, *cause, *tb;
    PyErr_Fetch(&type, &cause, &tb);
    PyErr_NormalizeException(&type, &cause, &tb);
    if (cause != NULL && tb != NULL) {
        PyException_SetTraceback(cause, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    PyObject *reason = cause != NULL ? PyObject_Str(cause) : NULL; /* an exception's __str__ may fail: then none */
    if (reason == NULL) {
        PyErr_Clear();
    }
    if (reason != NULL && PyUnicode_GET_LENGTH(reason) > 0) {
        PyErr_Format(PyExc_TypeError, "%s(): %s must be a real numeric array, got %.200s that NumPy cannot turn into "
                     "one (%U)", fname, name, Py_TYPE(obj)->tp_name, reason);
    } else {
        PyErr_Format(PyExc_TypeError, "%s(): %s must be a real numeric array, got %.200s that NumPy cannot turn into "
                     "one", fname, name, Py_TYPE(obj)->tp_name);
    }
    Py_XDECREF(reason);
    if (cause != NULL) { /* raise ... from cause */
        PyObject *etype, *value, *etb;
        PyErr_Fetch(&etype, &value, &etb);
        PyErr_NormalizeException(&etype, &value, &etb);
        if (value != NULL) {
            PyException_SetContext(value, Py_NewRef(cause));
            PyException_SetCause(value, cause); /* steals cause */
        } else {
            Py_DECREF(cause);
        }
        PyErr_Restore(etype, value, etb);
    }
    return NULL;
}

/* Validates the object passed for spec s (argument index) and records it. The call's dtype is already known. */
static int take_array(call_ctx *c, const arg_spec *s, PyObject *obj)
{
    int index = c->nargs;
    arg_val *v = &c->args[index];
    v->spec = s;
    v->data = NULL;
    v->convert = 0;
    const int flags = role_flags[s->role];
    v->written = (flags & ROLE_WRITTEN) != 0;
    c->writers += v->written;
    const int is_param = (flags & ROLE_PARAM) != 0;
    const int exact = (flags & ROLE_EXACT) != 0; /* used in place: never converted */
    const int type_num = s->role == COUNTER ? s->type_num : c->type_num;

    if (PyArray_Check(obj)) {
        v->arr = (PyArrayObject *)Py_NewRef(obj);
    } else if (exact) {
        PyErr_Format(PyExc_TypeError, "%s(): %s must be a numpy.ndarray of dtype %s, got %.200s", c->fname, s->name,
                     type_num == NPY_INT64 ? "int64" : type_num == NPY_UINT64 ? "uint64" : dtype_name(type_num),
                     Py_TYPE(obj)->tp_name);
        return -1;
    } else {
        c->unproved = 1; /* __array__, __len__, __getitem__, ... */
        v->arr = (PyArrayObject *)array_of_data(c->fname, s->name, obj);
        if (v->arr == NULL) {
            return -1;
        }
    }
    c->nargs++; /* from here on ctx_release owns v */
    PyArrayObject *a = v->arr;

    /* dtype */
    const char kind = PyArray_DESCR(a)->kind;
    switch (s->role) {
    case INPUT:
        if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f') {
            return type_error_dtype(c, s->name, a, "of real numbers (bool, int, uint or float)");
        }
        break;
    case LABELS:
        if (kind != 'i' && kind != 'u') {
            return type_error_dtype(c, s->name, a, "of integers (class labels)");
        }
        break;
    case COUNTER: /* by kind and size: int64 is two type numbers (long, long long) on some platforms */
        if (kind != (type_num == NPY_INT64 ? 'i' : 'u') || PyArray_ITEMSIZE(a) != 8 || !PyArray_ISNOTSWAPPED(a)) {
            return type_error_dtype(c, s->name, a, type_num == NPY_INT64 ? "int64" : "uint64");
        }
        break;
    default: /* PARAM, PARAM_RW, INTERMEDIATE, OUTPUT: the call's dtype */
        if (PyArray_TYPE(a) != type_num || !PyArray_ISNOTSWAPPED(a)) {
            return type_error_dtype(c, s->name, a, type_num == NPY_FLOAT ? (is_param ? "float32 like the other "
                                    "parameters" : "float32 (the parameters' dtype)") : (is_param ? "float64 like "
                                    "the other parameters" : "float64 (the parameters' dtype)"));
        }
    }

    if (check_shape(c, index, a, &v->len) < 0) {
        return -1;
    }
    memory_extent(a, v->len, &v->lo, &v->hi); /* the caller's memory, when obj is an array or exposes a buffer */

    /* layout */
    const int carray = PyArray_IS_C_CONTIGUOUS(a) && PyArray_ISALIGNED(a);
    if (exact) {
        if (!carray) {
            return layout_error(c, s, a);
        }
        if (s->role != PARAM && !PyArray_ISWRITEABLE(a)) {
            PyErr_Format(PyExc_ValueError, "%s(): %s is read-only, but it is %s in place", c->fname, s->name,
                         s->role == OUTPUT ? "written" : "updated");
            return -1;
        }
        v->data = PyArray_DATA(a);
        snapshot(v);
        return 0;
    }
    const int target = s->role == LABELS ? NPY_INTP : c->type_num;
    if (s->role != LABELS && PyArray_TYPE(a) == target && PyArray_ISNOTSWAPPED(a) && carray) {
        v->data = PyArray_DATA(a);
    } else if (s->role != LABELS && source_type(a) >= 0) {
        v->convert = 1;
        v->source = (mlp_source)source_type(a);
        c->scratch_len += v->len;
        c->convert_begin = c->convert_end == 0 ? index : c->convert_begin;
        c->convert_end = index + 1;
    } else { /* half, long double, byte-swapped, misaligned: NumPy casts into a temporary C array. Labels are
                always copied: they are range-checked once, and Python code run later (a signal handler, another
                thread) could change the caller's array, which call_prove does not read */
        c->unproved = 1; /* NumPy's cast (no Python code is known to run in it; proved all the same) */
        const int copy = s->role == LABELS ? NPY_ARRAY_ENSURECOPY : 0;
        /* ENSUREARRAY: the copy is a base-class ndarray. A subclass's would run its __array_finalize__ on the
           copy before NumPy fills it, which could give it other memory, keep it and change the labels after
           their range check, ... */
        PyArrayObject *conv = (PyArrayObject *)PyArray_FromAny((PyObject *)a, PyArray_DescrFromType(target), 0, 0,
                                                               NPY_ARRAY_CARRAY_RO | NPY_ARRAY_FORCECAST |
                                                                   NPY_ARRAY_ENSUREARRAY | copy,
                                                               NULL);
        if (conv == NULL) {
            return -1;
        }
        /* ... and, whatever NumPy does, the kernels read v->len values of `target` from v->data: the copy must be
           that, laid out as validated */
        int same = Py_IS_TYPE(conv, &PyArray_Type) && PyArray_TYPE(conv) == target && PyArray_ISNOTSWAPPED(conv) &&
                   PyArray_IS_C_CONTIGUOUS(conv) && PyArray_ISALIGNED(conv) && PyArray_NDIM(conv) == PyArray_NDIM(a);
        for (int d = 0; same && d < PyArray_NDIM(a); d++) {
            same = PyArray_DIM(conv, d) == PyArray_DIM(a, d);
        }
        if (!same || (size_t)PyArray_SIZE(conv) != v->len) {
            Py_DECREF(conv);
            PyErr_Format(PyExc_ValueError, "%s(): %s changed while NumPy converted it", c->fname, s->name);
            return -1;
        }
        Py_SETREF(v->arr, conv);
        v->data = PyArray_DATA(conv);
    }
    snapshot(v);
    return 0;
}

/* A written array (PARAM_RW, OUTPUT, COUNTER) must not share memory with any other argument as the caller
   passed it. Each pair that holds a written array is compared once, without a branch: nearly always none
   overlaps. Only then are the pairs looked at again, in argument order, so that the message names the first
   written array that overlaps and the first argument it overlaps (read-only arguments may share memory). */
static int check_overlaps(const call_ctx *c)
{
    if (c->writers == 0) {
        return 0;
    }
    const arg_val *args = c->args;
    int overlaps = 0;
    for (int w = 0; w < c->nargs; w++) {
        if (!args[w].written) {
            continue;
        }
        const char *lo = args[w].lo, *hi = args[w].hi;
        for (int k = 0; k < w; k++) { /* every argument before w */
            overlaps |= (args[k].lo < hi) & (lo < args[k].hi);
        }
        for (int k = w + 1; k < c->nargs; k++) { /* the read-only ones after it (a written one compares with w) */
            overlaps |= !args[k].written & (args[k].lo < hi) & (lo < args[k].hi);
        }
    }
    for (int w = 0; overlaps && w < c->nargs; w++) {
        for (int k = 0; args[w].written && k < c->nargs; k++) {
            if (k != w && args[k].lo < args[w].hi && args[w].lo < args[k].hi) {
                const char *name = args[w].spec->name;
                PyErr_Format(PyExc_ValueError, "%s(): %s shares memory with %s, but %s is written in place; pass "
                             "separate arrays", c->fname, name, args[k].spec->name, name);
                return -1;
            }
        }
    }
    return 0;
}

/* Sets the call's dtype from its parameters: all float32 or all float64, native byte order. */
static int take_dtype(call_ctx *c, const arg_spec *specs, PyObject *const *objs, int n)
{
    const char *first = NULL;
    for (int k = 0; k < n; k++) {
        if (specs[k].role != PARAM && specs[k].role != PARAM_RW) {
            continue;
        }
        PyObject *o = objs[k];
        if (!PyArray_Check(o)) {
            PyErr_Format(PyExc_TypeError, "%s(): %s must be a numpy.ndarray of dtype float32 or float64, got %.200s",
                         c->fname, specs[k].name, Py_TYPE(o)->tp_name);
            return -1;
        }
        PyArrayObject *a = (PyArrayObject *)o;
        if (!is_float_param_dtype(a)) {
            return type_error_dtype(c, specs[k].name, a, "float32 or float64 (native byte order)");
        }
        if (first == NULL) {
            first = specs[k].name;
            c->type_num = PyArray_TYPE(a);
            c->K = mlp_kernels_for(c->type_num == NPY_FLOAT ? MLP_F32 : MLP_F64);
        } else if (PyArray_TYPE(a) != c->type_num) {
            char expected[64];
            snprintf(expected, sizeof expected, "%s like %s", dtype_name(c->type_num), first);
            return type_error_dtype(c, specs[k].name, a, expected);
        }
    }
    return 0;
}

/* Validates n array arguments. On error, releases what it took and returns -1. */
static int take_arrays(call_ctx *c, const arg_spec *specs, PyObject *const *objs, int n)
{
    if (c->type_num < 0 && take_dtype(c, specs, objs, n) < 0) {
        return -1;
    }
    for (int k = 0; k < n; k++) {
        if (take_array(c, &specs[k], objs[k]) < 0) {
            ctx_release(c);
            return -1;
        }
    }
    return 0;
}

/* The out= argument: None, or a tuple of n arrays (a single array is also accepted when n == 1). */
static int unpack_out(const call_ctx *c, PyObject *out, int n, PyObject **items)
{
    if (out == NULL || out == Py_None) {
        for (int k = 0; k < n; k++) {
            items[k] = NULL;
        }
        return 0;
    }
    if (n == 1 && PyArray_Check(out)) {
        items[0] = out;
        return 0;
    }
    if (!PyTuple_Check(out) || PyTuple_GET_SIZE(out) != n) {
        PyErr_Format(PyExc_TypeError, "%s(): out must be None or a tuple of %d arrays, got %.200s%s", c->fname, n,
                     Py_TYPE(out)->tp_name, PyTuple_Check(out) ? " of another length" : "");
        return -1;
    }
    for (int k = 0; k < n; k++) {
        items[k] = PyTuple_GET_ITEM(out, k);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------
 * Recycled results
 *
 * forward, backward and predict return new arrays, as NumPy would; in the lecture's loop creating and freeing
 * them is a large part of each phase (docs/benchmarks.md, "Does result recycling still pay?"). So the module
 * keeps a reference to its last few small results, and once the caller has dropped one (the module's reference
 * is the only one left: no name, no view, no buffer, no weak reference) the next call that needs that shape and
 * dtype fills and returns that array instead of a new one. Nothing else can observe it: a result the caller can
 * still reach, directly or not, is never reused. In
 * free-threaded builds, where another thread could take a reference between the check and the reuse, results
 * are always new.
 * ------------------------------------------------------------------------------------------------------------ */

/* Each output of forward, backward and predict is a site with its last two small results: in a loop, the previous
   call's result is still held by the caller's name while the one before it is free. */
enum { SITE_FORWARD = 0, SITE_BACKWARD = 2, SITE_PREDICT = 4, RECYCLE_SITES = 5 };
#define RECYCLE_DEPTH 2
#define RECYCLE_MAX_BYTES 16384 /* larger results cost little to create next to the work that fills them */

typedef struct {
    PyObject *arrays[RECYCLE_DEPTH]; /* NULL, or an array made by new_result() */
    int last; /* the slot handed out last: in a loop, the one whose array the caller's name still holds */
} recycle_site;

/* A lecture function's successful validation (see recall()): its call_ctx as validation left it (copy_validation)
   and its arguments. */
typedef struct {
    const PyObject *objs[LECTURE_MAX_ARGS]; /* the objects passed: compared by identity, never used */
    arg_val args[LECTURE_MAX_ARGS];
    call_ctx c;
} remembered;

/* Two per lecture function: forward's results come back to backward and update from two recycled arrays in turn
   (RECYCLE_DEPTH). */
#define REMEMBERED_CALLS 16
typedef struct {
    /* slot[s]'s function, together: a call looks for its slot in one place. Each function has its own specs
       (never shared, not even with the same content), since a validation holds the function's workspace. */
    const arg_spec *specs[REMEMBERED_CALLS];
    remembered slot[REMEMBERED_CALLS];
    unsigned next; /* the slot the next validation remembered takes */
} remembered_calls;

/* The names of the items of a network's lists of arrays, for messages: made once (core_exec), since formatting
   them on every call cost more than the rest of a small network's validation. */
#define N_STATE_ITEMS (1 + MLP_OPTIM_MAX_BUFFERS * 2 * MLP_MAX_LAYERS)
typedef struct {
    char weights[MLP_MAX_LAYERS][16], biases[MLP_MAX_LAYERS][16], grads[2 * MLP_MAX_LAYERS][16];
    char state[N_STATE_ITEMS][16];
} item_names;

/* The module's state: its recycled results, the lecture functions' last validations, its team of helper threads
   (parallel.c), started by the first call that splits a product (mlp_team_shared), and what core_exec sets once.
   Zeroed by Python. */
typedef struct {
    recycle_site sites[RECYCLE_SITES];
    remembered_calls recent;
    mlp_atomic_ptr team; /* an mlp_team, NULL until then; read and set with atomics (free-threaded builds) */
    mlp_isa isa;         /* the kernels' instruction set: MLPEXT_SIMD, read once by core_exec */
    mlp_cache cache;     /* the caches large products are blocked for: mlp_cache_detect, once by core_exec */
    mlp_atomic_ptr spare; /* the scratch block kept between calls (scratch_free), or NULL */
    item_names names;
} core_state;

/* An array the module made that is as new: nobody else refers to it (not even weakly), and the caller did not
   reshape it, view it as another dtype, make it read-only or give it other data before dropping it. */
static inline int reusable(PyObject *o, int ndim, const npy_intp *shape, int type_num)
{
    const int flags = NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_WRITEABLE | NPY_ARRAY_OWNDATA;
    PyArrayObject *a = (PyArrayObject *)o;
    /* the tests that most often fail first: held by the caller, or another shape */
    if (Py_REFCNT(o) != 1 || PyArray_NDIM(a) != ndim) {
        return 0;
    }
    for (int k = 0; k < ndim; k++) {
        if (PyArray_DIM(a, k) != shape[k]) {
            return 0;
        }
    }
    return PyArray_CheckExact(o) && ((PyArrayObject_fields *)a)->weakreflist == NULL && PyArray_BASE(a) == NULL &&
           (PyArray_FLAGS(a) & flags) == flags && PyArray_TYPE(a) == type_num && PyArray_ISNOTSWAPPED(a);
}

/* Whether a slot may take another array: it is empty, or its array is only the module's and releasing it runs no
   code (no weak reference to call back, no base object to release). Code run from here could change arguments
   already validated; an array that fails this stays in its slot until the module goes. */
static inline int releasable(PyObject *o)
{
    return o == NULL || (Py_REFCNT(o) == 1 && ((PyArrayObject_fields *)o)->weakreflist == NULL &&
                         PyArray_BASE((PyArrayObject *)o) == NULL);
}

/* A C-contiguous array of that shape and dtype, its contents undefined: recycled from site (may be NULL) where
   one is free, else new (and kept at the site if small). A new reference, or NULL with an exception. */
static PyObject *new_result(recycle_site *site, int ndim, npy_intp *shape, int type_num)
{
#ifndef Py_GIL_DISABLED
    if (site != NULL) {
        int slot = -1; /* an empty slot, or one whose array nobody else holds */
        for (int k = 0; k < RECYCLE_DEPTH; k++) {
            PyObject *o = site->arrays[k];
            if (o != NULL && reusable(o, ndim, shape, type_num)) {
                site->last = k;
                return Py_NewRef(o);
            }
            if (slot < 0 && releasable(o)) {
                slot = k;
            }
        }
        /* Else every slot's array is still held elsewhere. One the caller keeps for good (a variable left in a
           notebook) would block its slot forever, so the module gives up another than the one handed out last:
           its count only drops, and it stays the caller's (a count above 1 runs no code when dropped). */
        for (int k = 0; slot < 0 && k < RECYCLE_DEPTH; k++) {
            slot = k != site->last && Py_REFCNT(site->arrays[k]) > 1 ? k : -1;
        }
        PyObject *a = PyArray_SimpleNew(ndim, shape, type_num);
        if (a != NULL && slot >= 0 && PyArray_NBYTES((PyArrayObject *)a) <= RECYCLE_MAX_BYTES) {
            Py_XSETREF(site->arrays[slot], Py_NewRef(a)); /* frees the dropped array that was there */
            site->last = slot;
        }
        return a;
    }
#endif
    return PyArray_SimpleNew(ndim, shape, type_num);
}

/* The sites of a function's outputs, from the module's state: first, first + 1, ... */
static recycle_site *result_sites(PyObject *module, int first)
{
    core_state *state = PyModule_GetState(module);
    return state != NULL ? &state->sites[first] : NULL;
}

/* Validates the out= arrays that were given (items[k] != NULL); allocates the others (recycled from sites[k]
   where sites is not NULL), after all checks passed. The new arrays are returned in items as new references;
   given ones get a new reference too. */
static int take_outputs(call_ctx *c, const arg_spec *specs, PyObject **items, int n, recycle_site *sites)
{
    int given = 0;
    for (int k = 0; k < n; k++) {
        if (items[k] != NULL && take_array(c, &specs[k], items[k]) < 0) {
            return -1;
        }
        given |= items[k] != NULL;
    }
    if (given && check_overlaps(c) < 0) { /* (the arguments among themselves are checked already) */
        return -1;
    }
    for (int k = 0; k < n; k++) {
        if (items[k] != NULL) {
            Py_INCREF(items[k]);
            continue;
        }
        npy_intp shape[2];
        for (int a = 0; a < specs[k].ndim; a++) {
            shape[a] = c->dims[specs[k].dims[a]];
        }
        items[k] = new_result(sites != NULL ? &sites[k] : NULL, specs[k].ndim, shape, c->type_num);
        if (items[k] == NULL && (PyErr_ExceptionMatches(PyExc_ValueError) || /* NumPy: "array is too big" */
                                 PyErr_ExceptionMatches(PyExc_MemoryError))) {
            PyErr_Clear();
            if (specs[k].ndim > 1) {
                PyErr_Format(PyExc_MemoryError, "%s(): the result %s, %s of shape (%zd, %zd), does not fit in "
                             "memory", c->fname, specs[k].name, dtype_name(c->type_num), (Py_ssize_t)shape[0],
                             (Py_ssize_t)shape[1]);
            } else {
                PyErr_Format(PyExc_MemoryError, "%s(): the result %s, %s of shape (%zd,), does not fit in memory",
                             c->fname, specs[k].name, dtype_name(c->type_num), (Py_ssize_t)shape[0]);
            }
        }
        if (items[k] == NULL) {
            for (int j = 0; j < k; j++) {
                Py_CLEAR(items[j]);
            }
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------
 * Validations remembered
 *
 * The lecture's loop calls one function with the same arrays thousands of times, and validating six arrays
 * costs more than the tiny network's epoch. A lecture function's validation of an array it uses as it is depends
 * only on what unchanged() compares: data pointer, dtype, flags, shape and strides. So when every argument is the
 * very object of one of the function's recent successful calls and unchanged since, the call takes that
 * validation again
 * (an input the kernel section converts, such as the lecture's integer X, is converted again: only the checks
 * are skipped). Only calls that took every array as it was passed (no temporary made by NumPy, no Python code
 * run) are remembered; in free-threaded builds, where another thread could change a slot meanwhile, none is.
 * ------------------------------------------------------------------------------------------------------------ */

/* The module's remembered validations; NULL: remember none. */
static remembered_calls *recent_calls(PyObject *module)
{
#ifdef Py_GIL_DISABLED
    (void)module;
    return NULL;
#else
    core_state *state = PyModule_GetState(module);
    return state != NULL ? &state->recent : NULL;
#endif
}

/* What take_arrays and check_overlaps leave in a call's context, besides its arguments (c->args): from `from` to
   `to`, whose ndims is the same. */
static void copy_validation(call_ctx *to, const call_ctx *from)
{
    memcpy(to->dims, from->dims, (size_t)from->ndims * sizeof *to->dims);
    memcpy(to->dim_arg, from->dim_arg, (size_t)from->ndims * sizeof *to->dim_arg);
    to->nargs = from->nargs;
    to->type_num = from->type_num;
    to->K = from->K;
    to->writers = from->writers;
    to->scratch_len = from->scratch_len;
    to->convert_begin = from->convert_begin;
    to->convert_end = from->convert_end;
    to->work = from->work;
    to->work_ok = from->work_ok;
    to->cost = from->cost;
}

/* Takes the validation remembered for this function (specs) and these objects, if any (see above): returns 1
   with c holding the arrays as take_arrays and check_overlaps would have left them, else 0 with c untouched. */
static int recall(remembered_calls *rc, call_ctx *c, const arg_spec *specs, PyObject *const *objs, int n)
{
    for (int s = 0; rc != NULL && s < REMEMBERED_CALLS; s++) {
        if (rc->specs[s] != specs) {
            continue;
        }
        remembered *r = &rc->slot[s];
        int k = 0;
        while (k < n && objs[k] == r->objs[k]) {
            k++;
        }
        if (k < n || r->c.nargs != n) {
            continue;
        }
        for (k = 0; k < n; k++) { /* only now is objs[k] known to be the array unchanged() reads */
            if (!PyArray_Check(objs[k]) || !unchanged(&r->args[k])) {
                rc->specs[s] = NULL; /* changed since: validated afresh (and remembered again) */
                return 0;
            }
        }
        memcpy(c->args, r->args, (size_t)n * sizeof *c->args);
        for (k = 0; k < n; k++) {
            Py_INCREF(c->args[k].arr);
        }
        copy_validation(c, &r->c);
        return 1;
    }
    return 0;
}

/* Keeps c's validation of objs[0..n) in the next slot round, if every array was taken as passed (before
   assign_scratch: the converted inputs' data pointers are still to be set). */
static void remember(remembered_calls *rc, const call_ctx *c, const arg_spec *specs, PyObject *const *objs, int n)
{
    if (rc == NULL || c->unproved || c->nargs != n || n > LECTURE_MAX_ARGS) {
        return;
    }
    for (int k = 0; k < n; k++) {
        if ((PyObject *)c->args[k].arr != objs[k]) {
            return;
        }
    }
    const unsigned s = rc->next++ % REMEMBERED_CALLS;
    remembered *r = &rc->slot[s];
    rc->specs[s] = NULL;
    for (int k = 0; k < n; k++) {
        r->objs[k] = objs[k];
    }
    memcpy(r->args, c->args, (size_t)n * sizeof *c->args);
    r->c.ndims = c->ndims;
    copy_validation(&r->c, c);
    rc->specs[s] = specs;
}

/* ------------------------------------------------------------------------------------------------------------
 * Scratch memory and input conversion
 * ------------------------------------------------------------------------------------------------------------ */

/* Small calls use a stack buffer; larger ones a PyMem block (seen by tracemalloc) that the module then keeps for the
   next call (mlp_block_put, up to MLP_BLOCK_KEEP_MAX): a fresh block of many MB costs a page fault per 4 KiB on
   first use (docs/benchmarks.md, "Does keeping the scratch block pay?"). mlpext.release_memory() frees it. */
#define STACK_SCRATCH_BYTES 4096
#define SCRATCH_ALLOC ((mlp_alloc){PyMem_Malloc, PyMem_Free})

typedef struct {
    double stack[STACK_SCRATCH_BYTES / sizeof(double)];
    void *heap;            /* a block from mlp_block_get, or NULL */
    mlp_atomic_ptr *spare; /* where the module keeps a block between calls; NULL: none is kept */
} scratch;

/* elems (converted inputs) + work elements of the call's dtype, with overflow checks. */
static void *scratch_get(scratch *s, const call_ctx *c, size_t work)
{
    size_t item = c->K->size;
    size_t elems = c->scratch_len + work;
    s->heap = NULL;
    if (elems < work || elems > (size_t)(PY_SSIZE_T_MAX - MLP_BLOCK_HEAD) / item) {
        PyErr_Format(PyExc_MemoryError, "%s(): the workspace for these sizes does not fit in memory", c->fname);
        return NULL;
    }
    if (elems * item <= sizeof s->stack) {
        return s->stack;
    }
    if ((s->heap = mlp_block_get(s->spare, elems * item, SCRATCH_ALLOC)) == NULL) {
        PyErr_NoMemory();
    }
    return s->heap;
}

/* Keeps the heap block as the module's spare, or frees it. */
static void scratch_free(scratch *s)
{
    mlp_block_put(s->spare, s->heap, SCRATCH_ALLOC);
    s->heap = NULL;
}

/* Hands out the scratch block: first the converted inputs (their data pointers), then the kernel workspace. */
static void *assign_scratch(call_ctx *c, void *block)
{
    const size_t item = c->K->size;
    char *p = block;
    for (int k = c->convert_begin; k < c->convert_end; k++) {
        if (c->args[k].convert) {
            c->args[k].data = p;
            p += c->args[k].len * item;
        }
    }
    return p;
}

/* Copies (and casts) the inputs marked for conversion into their scratch slots. Needs no GIL. */
static void convert_inputs(const call_ctx *c)
{
    for (int k = c->convert_begin; k < c->convert_end; k++) {
        const arg_val *v = &c->args[k];
        if (v->convert) { /* 2-D: INPUT and INTERMEDIATE specs are */
            PyArrayObject *a = v->arr;
            /* A float source is read with IEEE subnormals, as NumPy's casts read it: float32's subnormals are
               normal float64 numbers, which a kernel section's flush-to-zero mode would read as 0. (Integers make
               no subnormal; the kernels then read the converted values in their own mode.) */
            const int ieee = v->source == MLP_SRC_F32 || v->source == MLP_SRC_F64;
            const mlp_fpmode mode = ieee ? mlp_fpmode_keep() : 0;
            c->K->convert(v->source, PyArray_DATA(a), (size_t)PyArray_DIM(a, 0), (size_t)PyArray_DIM(a, 1),
                          PyArray_STRIDE(a, 0), PyArray_STRIDE(a, 1), v->data);
            if (ieee) {
                mlp_fpmode_restore(mode);
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------------------------
 * Argument parsing (METH_FASTCALL | METH_KEYWORDS)
 * ------------------------------------------------------------------------------------------------------------ */

/* Binds positional and keyword arguments to names[0..nnames); the first nrequired are required, the others
   are left as NULL when absent. (Inlined: the lecture's loop runs it once an epoch.) */
MLP_INLINE int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                      const char *const *names, int nnames, int nrequired, PyObject **values)
{
    if (nargs > nnames) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fname, nnames, nargs);
        return -1;
    }
    for (int k = 0; k < nnames; k++) {
        values[k] = k < nargs ? args[k] : NULL;
    }
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t j = 0; j < nkw; j++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, j);
        int k = 0;
        while (k < nnames && PyUnicode_CompareWithASCIIString(key, names[k]) != 0) {
            k++;
        }
        if (k == nnames) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, key);
            return -1;
        }
        if (values[k] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname, names[k]);
            return -1;
        }
        values[k] = args[nargs + j];
    }
    for (int k = 0; k < nrequired; k++) {
        if (values[k] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s' (pos %d)", fname, names[k], k + 1);
            return -1;
        }
    }
    return 0;
}

/* Whether o is a NumPy timedelta64 scalar: NumPy makes it a signedinteger, but a duration is no count and no
   hyperparameter (float() and __index__ of one with a unit fail with messages that name no argument). */
static inline int is_timedelta(PyObject *o) { return PyArray_IsScalar(o, Timedelta); }

/* A finite real number: int, float, or a NumPy integer/floating scalar (not bool, not complex, not timedelta64).
   Every scalar the entry points take is a hyperparameter (a learning rate, a slope, ...), and NaN or inf there
   would make every parameter NaN or inf without an error; NaN and inf in data propagate instead. */
static int parse_real(const char *fname, const char *name, PyObject *o, double *value)
{
    if (PyBool_Check(o) || is_timedelta(o) ||
        !(PyFloat_Check(o) || PyLong_Check(o) || PyArray_IsScalar(o, Integer) || PyArray_IsScalar(o, Floating))) {
        PyErr_Format(PyExc_TypeError, "%s(): %s must be a real number (int or float), got %.200s", fname, name,
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    *value = PyFloat_AsDouble(o);
    if (*value == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) { /* an int beyond the double range */
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s(): %s is too large for a float", fname, name);
        }
        return -1;
    }
    if (!isfinite(*value)) {
        PyErr_Format(PyExc_ValueError, "%s(): %s must be a finite number, got %s", fname, name,
                     *value != *value ? "nan" : *value > 0 ? "inf" : "-inf");
        return -1;
    }
    return 0;
}

/* A non-negative int (Python or NumPy integer, not bool, not timedelta64). */
static int parse_count(const char *fname, const char *name, PyObject *o, Py_ssize_t *value)
{
    if (PyBool_Check(o) || is_timedelta(o) || !(PyLong_Check(o) || PyArray_IsScalar(o, Integer))) {
        PyErr_Format(PyExc_TypeError, "%s(): %s must be an int, got %.200s", fname, name, Py_TYPE(o)->tp_name);
        return -1;
    }
    PyObject *index = PyNumber_Index(o);
    if (index == NULL) {
        return -1;
    }
    *value = PyLong_AsSsize_t(index);
    int rc = 0;
    if (*value == -1 && PyErr_Occurred()) { /* beyond Py_ssize_t: too large, or too negative */
        PyErr_Clear();
        PyObject *zero = PyLong_FromLong(0);
        rc = zero != NULL ? PyObject_RichCompareBool(index, zero, Py_LT) : -1;
        Py_XDECREF(zero);
        if (rc >= 0) { /* (no value in the message: printing a huge int can itself fail) */
            PyErr_Format(PyExc_ValueError, rc ? "%s(): %s must be non-negative" : "%s(): %s is too large", fname,
                         name);
            rc = -1;
        }
    } else if (*value < 0) {
        PyErr_Format(PyExc_ValueError, "%s(): %s must be non-negative, got %zd", fname, name, *value);
        rc = -1;
    }
    Py_DECREF(index);
    return rc;
}

/* The k-th of names `stride` bytes apart: a plain array of names (stride sizeof(char *)), or the name fields of
   a table's rows (&table[0].name, stride sizeof *table). */
static inline const char *nth_name(const char *const *names, size_t stride, size_t k)
{
    return *(const char *const *)((const char *)names + k * stride);
}

/* The index of the str `o` among the n names (nth_name), or -1 with a ValueError listing them. */
static int parse_name(const char *fname, const char *what, PyObject *o, const char *const *names, size_t stride,
                      size_t n)
{
    for (size_t k = 0; PyUnicode_Check(o) && k < n; k++) {
        if (PyUnicode_CompareWithASCIIString(o, nth_name(names, stride, k)) == 0) {
            return (int)k;
        }
    }
    PyObject *choices = PyUnicode_FromString(nth_name(names, stride, 0));
    for (size_t k = 1; choices != NULL && k < n; k++) {
        Py_SETREF(choices, PyUnicode_FromFormat("%U, %s", choices, nth_name(names, stride, k)));
    }
    if (choices != NULL) {
        PyErr_Format(PyUnicode_Check(o) ? PyExc_ValueError : PyExc_TypeError, "%s(): unknown %s %R; expected one of "
                     "%U", fname, what, o, choices);
        Py_DECREF(choices);
    }
    return -1;
}

/* ------------------------------------------------------------------------------------------------------------
 * The GIL
 * ------------------------------------------------------------------------------------------------------------ */

/* Kernels whose work (multiply-adds and exps, roughly) is below this run with the GIL held: releasing and taking
   it back costs about as much as 1000 such operations, and no other thread could do much in that time. NumPy
   does the same (NPY_BEGIN_THREADS_THRESHOLDED). Everything larger, and every train(), releases it. */
#define GIL_RELEASE_MIN_WORK 4096.0

/* A rough count of a call's operations, its rows' training passes (mlp_costs), for the use above and for pacing
   train(). */
#define PASS_WORK(k) ((k)->c.cost.pass * (double)(k)->c.dims[DIM_N])

/* A kernel section of the call whose call_ctx is c: first its arrays are proved unchanged if Python code may have
   run since they were last (call_prove; if not, `on_error` runs with the ValueError set), then the GIL is released
   for `work` of at least GIL_RELEASE_MIN_WORK, and the kernels run with subnormal numbers flushed to zero
   (mlp_fpmode_flush; docs/design.md, "Exactness"). END_KERNEL puts the thread's mode back and takes the
   GIL back; other threads may have run Python code meanwhile, so the arrays must be proved again before any later
   kernel section. */
#define BEGIN_KERNEL(c, work, on_error)                                                                          \
    if (call_prove(c) < 0) {                                                                                     \
        on_error;                                                                                                \
    }                                                                                                            \
    {                                                                                                            \
        PyThreadState *_save = (work) >= GIL_RELEASE_MIN_WORK ? PyEval_SaveThread() : NULL;                      \
        const mlp_fpmode _mode = mlp_fpmode_flush();
#define END_KERNEL(c)                                                                                            \
    mlp_fpmode_restore(_mode);                                                                                   \
    if (_save != NULL) {                                                                                         \
        PyEval_RestoreThread(_save);                                                                             \
        (c)->unproved = 1;                                                                                       \
    }                                                                                                            \
    }

/* ------------------------------------------------------------------------------------------------------------
 * Threads
 * ------------------------------------------------------------------------------------------------------------ */

/* How a call whose largest matrix product has `ops` multiply-adds may use threads: one below MLP_PARALLEL_MIN_OPS
   (without looking further); else up to mlp_thread_limit(MLPEXT_NUM_THREADS), with the module's team
   (mlp_team_shared: started on first need; a child process after fork() starts its own). Returns 0, or -1 with
   ValueError if MLPEXT_NUM_THREADS is not a positive integer. */
static int call_threads(PyObject *module, const char *fname, double ops, mlp_threads *threads)
{
    core_state *state = PyModule_GetState(module);
    const mlp_isa isa = state != NULL ? state->isa : MLP_ISA_BEST;
    const mlp_cache cache = state != NULL ? state->cache : (mlp_cache){0, 0, 0};
    const mlp_alloc alloc = {PyMem_RawMalloc, PyMem_RawFree}; /* callable without the GIL, traced */
    *threads = (mlp_threads){1, NULL, isa, cache, alloc};
    if (ops < (double)MLP_PARALLEL_MIN_OPS) {
        return 0;
    }
    const char *env = getenv("MLPEXT_NUM_THREADS");
    const size_t count = mlp_thread_limit(env);
    if (count == 0) {
        PyErr_Format(PyExc_ValueError, "%s(): the environment variable MLPEXT_NUM_THREADS must be a positive "
                     "integer (the most threads a call may use), got '%.50s'", fname, env);
        return -1;
    }
    mlp_team *team = count > 1 && state != NULL ? mlp_team_shared(&state->team, count, alloc) : NULL;
    *threads = (mlp_threads){count, team, isa, cache, alloc};
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------
 * One call: validated arguments, its out= arrays, its scratch block
 * ------------------------------------------------------------------------------------------------------------ */

typedef struct {
    call_ctx c;
    PyObject *outs[MAX_OUTS]; /* new references: the out= arrays given, or allocated */
    int nouts;
    void *work; /* kernel workspace, after the converted inputs */
    mlp_dims d;
    arg_val lecture_args[LECTURE_MAX_ARGS]; /* the lecture's functions' arguments (a network's are elsewhere) */
    scratch s; /* last: its 4 KiB would otherwise put the arguments at a multiple of 4 KiB from the data written
                  into it, and the CPU would take those loads for dependent on the stores (4K aliasing) */
} call;

static void call_abort(call *k);

/* The lecture's sizes from a validated call (threads: the calling one; call_begin sets them). */
static mlp_dims lecture_dims(const call_ctx *c)
{
    return (mlp_dims){(size_t)c->dims[DIM_N], (size_t)c->dims[DIM_IN], (size_t)c->dims[DIM_HIDDEN],
                      (size_t)c->dims[DIM_OUT], MLP_THREADS(1)};
}

/* Validates the n arguments and the out= argument (nouts arrays; out_arg may be NULL) and allocates the missing
   outputs (recycled from sites where it is not NULL); a lecture's function (its dimensions are the lecture's)
   also gets its costs and the workspace its sizes need (c.cost, c.work; workspace NULL: none). Returns 0, or -1
   with an exception set and nothing left to free. */
static int call_validate(call *k, const char *fname, int ndims, const char *const *dim_names, arg_val *args,
                         const arg_spec *specs, PyObject *const *objs, int n, const arg_spec *out_specs, int nouts,
                         PyObject *out_arg, recycle_site *sites, remembered_calls *recent,
                         size_t (*workspace)(const mlp_dims *))
{
    ctx_init(&k->c, fname, ndims, dim_names, args);
    k->nouts = 0;
    k->s.heap = NULL;
    k->s.spare = NULL;
    if (unpack_out(&k->c, out_arg, nouts, k->outs) < 0) {
        return -1;
    }
    if (!recall(recent, &k->c, specs, objs, n)) {
        if (take_arrays(&k->c, specs, objs, n) < 0) {
            return -1;
        }
        if (check_overlaps(&k->c) < 0) {
            ctx_release(&k->c);
            return -1;
        }
        if (dim_names == lecture_dim_names) { /* remembered with the rest: they depend on the sizes alone */
            const mlp_dims d = lecture_dims(&k->c);
            k->c.cost = mlp_lecture_costs(&d);
            if (workspace != NULL) {
                k->c.work = workspace(&d);
                k->c.work_ok = k->c.work != 0;
            }
        }
        remember(recent, &k->c, specs, objs, n);
    }
    if (take_outputs(&k->c, out_specs, k->outs, nouts, sites) < 0) {
        ctx_release(&k->c);
        return -1;
    }
    k->nouts = nouts;
    if (call_prove(&k->c) < 0) { /* after the conversions: what they may have changed is known before anything */
        call_abort(k);
        return -1;
    }
    return 0;
}

/* After call_validate, on an error before the kernel: drops the outputs and releases the arguments. */
static void call_abort(call *k)
{
    for (int j = 0; j < k->nouts; j++) {
        Py_CLEAR(k->outs[j]);
    }
    ctx_release(&k->c);
}

/* After call_validate: the scratch block, with `work` scalars of kernel workspace (work_ok = 0: the size
   overflowed). Returns 0, or -1 with an exception set and everything released. */
static int call_alloc(call *k, PyObject *module, size_t work, int work_ok)
{
    core_state *state = PyModule_GetState(module);
    void *block = NULL;
    k->s.spare = state != NULL ? &state->spare : NULL;
    if (!work_ok) {
        PyErr_Format(PyExc_MemoryError, "%s(): the workspace for these sizes does not fit in memory", k->c.fname);
    } else {
        block = scratch_get(&k->s, &k->c, work);
    }
    if (block == NULL) {
        call_abort(k);
        return -1;
    }
    k->work = assign_scratch(&k->c, block);
    return 0;
}

/* call_validate and call_alloc for the lecture's functions: workspace(d) scalars of workspace (workspace may be
   NULL for none). */
static int call_begin(call *k, PyObject *module, const char *fname, const arg_spec *specs, PyObject *const *objs,
                      int n, const arg_spec *out_specs, int nouts, PyObject *out_arg,
                      size_t (*workspace)(const mlp_dims *), recycle_site *sites)
{
    if (call_validate(k, fname, N_LECTURE_DIMS, lecture_dim_names, k->lecture_args, specs, objs, n, out_specs, nouts,
                      out_arg, sites, recent_calls(module), workspace) < 0) {
        return -1;
    }
    k->d = lecture_dims(&k->c);
    if (call_threads(module, fname, k->c.cost.largest * (double)k->d.n, &k->d.threads) < 0) {
        call_abort(k);
        return -1;
    }
    return call_alloc(k, module, k->c.work, k->c.work_ok);
}

/* Frees the call's scratch and temporaries; returns result (NULL on error, then the outputs are dropped). */
static PyObject *call_end(call *k, PyObject *result)
{
    scratch_free(&k->s);
    ctx_release(&k->c);
    for (int j = 0; j < k->nouts; j++) {
        Py_CLEAR(k->outs[j]);
    }
    return result;
}

/* The outputs as the call's result: one array, a tuple of them, or with names (NULL: none) a dict. */
static PyObject *call_outputs(call *k, const arg_spec *names)
{
    if (k->nouts == 1 && names == NULL) {
        return Py_NewRef(k->outs[0]);
    }
    PyObject *result = names != NULL ? PyDict_New() : PyTuple_New(k->nouts);
    for (int j = 0; result != NULL && j < k->nouts; j++) {
        if (names == NULL) {
            PyTuple_SET_ITEM(result, j, Py_NewRef(k->outs[j]));
        } else if (PyDict_SetItemString(result, names[j].name, k->outs[j]) < 0) {
            Py_CLEAR(result);
        }
    }
    return result;
}

#define DATA(k, i) ((k)->c.args[i].data)
#define OUT(k, i) PyArray_DATA((PyArrayObject *)(k)->outs[i])
/* The parameters W1, b1, W2, b2 as arguments i..i+3 (the lecture kernels' `params`). */
#define PARAMS(k, i) ((void *const[4]){DATA(k, i), DATA(k, (i) + 1), DATA(k, (i) + 2), DATA(k, (i) + 3)})

/* ------------------------------------------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------------------------------------------ */

#define SPEC_X {"X", INPUT, 2, {DIM_N, DIM_IN}, 0, 0}
#define SPEC_Y {"y", INPUT, 2, {DIM_N, DIM_OUT}, 0, 0}
#define SPEC_A1 {"hidden_activation", INTERMEDIATE, 2, {DIM_N, DIM_HIDDEN}, 0, 0}
#define SPEC_PARAMS(ROLE)                                                                                        \
    {"W1", ROLE, 2, {DIM_IN, DIM_HIDDEN}, 0, 0}, {"b1", ROLE, 1, {DIM_HIDDEN}, 0, 0},                           \
        {"W2", ROLE, 2, {DIM_HIDDEN, DIM_OUT}, 0, 0},                                                            \
        {"b2", ROLE, 1, {DIM_OUT}, 0, 0}
#define LECTURE_ARGS "X, y, W1, b1, W2, b2, learning_rate"

/* A lecture function's kernel on a validated call (k->c.K: the arrays' precision); lr is its learning rate (0 where
   it takes none). Returns its loss (0 where it returns none). */
typedef double (*lecture_kernel)(call *k, double lr);

typedef enum { RETURNS_NONE, RETURNS_OUTPUTS, RETURNS_DICT, RETURNS_LOSS } lecture_result; /* DICT: no out= */

/* What train takes besides its arrays and learning rate. */
typedef struct {
    Py_ssize_t epochs, log_every;
    int history; /* HISTORY_* */
} lecture_options;

/* One lecture function: its keywords (out= last where it returns its outputs), its array arguments in the order
   they are validated (order[i]: the keyword each takes; NULL: the first nspecs, in order), its outputs, which
   keyword is the learning rate (-1: none), its workspace, where its results are recycled (-1: nowhere), its kernel
   and what it returns; or, for train, a parser of its other arguments (run before any array is looked at) and a
   loop of its own in place of the kernel's section. */
typedef struct {
    const char *name;
    const char *const *keywords;
    int nkeywords, nrequired;
    const arg_spec *specs;
    int nspecs;
    const int *order;
    const arg_spec *out_specs;
    int nouts;
    int lr_keyword;
    size_t (*workspace)(const mlp_dims *);
    int site;
    lecture_kernel kernel;
    lecture_result returns;
    int (*options)(const char *fname, PyObject *const *v, lecture_options *o); /* NULL: none */
    PyObject *(*run)(call *k, const lecture_options *o, double lr); /* NULL: the kernel's section. Returns the
                                                                       result and ends the call (call_end). */
} lecture_entry;

/* The driver of every lecture function: parse, validate, run the kernel with the GIL released, return. */
static PyObject *lecture_call(PyObject *m, const lecture_entry *e, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    PyObject *v[LECTURE_MAX_ARGS], *arrays[LECTURE_MAX_ARGS];
    double lr = 0.0, loss = 0.0;
    lecture_options o;
    call k;
    if (parse_args(e->name, args, nargs, kwnames, e->keywords, e->nkeywords, e->nrequired, v) < 0 ||
        (e->lr_keyword >= 0 && parse_real(e->name, "learning_rate", v[e->lr_keyword], &lr) < 0) ||
        (e->options != NULL && e->options(e->name, v, &o) < 0)) {
        return NULL;
    }
    for (int i = 0; i < e->nspecs; i++) {
        arrays[i] = v[e->order != NULL ? e->order[i] : i];
    }
    if (call_begin(&k, m, e->name, e->specs, arrays, e->nspecs, e->out_specs, e->nouts,
                   e->returns == RETURNS_OUTPUTS ? v[e->nkeywords - 1] : NULL, e->workspace,
                   e->site >= 0 ? result_sites(m, e->site) : NULL) < 0) {
        return NULL;
    }
    if (e->run != NULL) {
        return e->run(&k, &o, lr);
    }
    BEGIN_KERNEL(&k.c, PASS_WORK(&k), return call_end(&k, NULL))
    convert_inputs(&k.c);
    loss = e->kernel(&k, lr);
    END_KERNEL(&k.c)
    PyObject *result = e->returns == RETURNS_OUTPUTS ? call_outputs(&k, NULL)
                       : e->returns == RETURNS_DICT  ? call_outputs(&k, e->out_specs)
                       : e->returns == RETURNS_LOSS  ? PyFloat_FromDouble(loss)
                                                     : Py_NewRef(Py_None);
    return call_end(&k, result);
}

/* Defines py_NAME, the method that runs the lecture function NAME_entry. */
#define LECTURE_METHOD(NAME)                                                                                     \
    static PyObject *py_##NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)          \
    {                                                                                                            \
        return lecture_call(m, &NAME##_entry, args, nargs, kwnames);                                             \
    }

PyDoc_STRVAR(forward_doc,
"forward($module, X, W1, b1, W2, b2, out=None)\n--\n\n"
"The lecture's forward pass.\n\n"
"    hidden_activation = sigmoid(np.dot(X, W1) + b1)                  # (n, hidden)\n"
"    predicted_output  = sigmoid(np.dot(hidden_activation, W2) + b2)  # (n, out)\n\n"
"X (n, in): any real numeric array, cast to the parameters' dtype (float32 or float64).\n"
"out: None, or a tuple (hidden_activation, predicted_output) of preallocated C-contiguous arrays,\n"
"which are written and returned.\n\n"
"Returns (hidden_activation, predicted_output). Without out=, a small result you have dropped may be\n"
"refilled and returned by a later call (docs/design.md in the mlpext repository, \"Recycled results\").");

static const char *const forward_keywords[] = {"X", "W1", "b1", "W2", "b2", "out"};
static const arg_spec forward_specs[] = {SPEC_X, SPEC_PARAMS(PARAM)};
static const arg_spec forward_outs[] = {{"out[0] (hidden_activation)", OUTPUT, 2, {DIM_N, DIM_HIDDEN}, 0, 0},
                                        {"out[1] (predicted_output)", OUTPUT, 2, {DIM_N, DIM_OUT}, 0, 0}};
static double forward_kernel(call *k, double lr)
{
    (void)lr;
    k->c.K->lecture_forward(&k->d, DATA(k, 0), PARAMS(k, 1), OUT(k, 0), OUT(k, 1), k->work);
    return 0.0;
}
static const lecture_entry forward_entry = {
    .name = "forward", .keywords = forward_keywords, .nkeywords = 6, .nrequired = 5, .specs = forward_specs,
    .nspecs = 5, .out_specs = forward_outs, .nouts = 2, .lr_keyword = -1,
    .workspace = mlp_lecture_forward_workspace, .site = SITE_FORWARD, .kernel = forward_kernel,
    .returns = RETURNS_OUTPUTS};
LECTURE_METHOD(forward)

PyDoc_STRVAR(backward_doc,
"backward($module, y, hidden_activation, predicted_output, W2, out=None)\n--\n\n"
"The lecture's backward pass: the deltas of the output and hidden layers.\n\n"
"    delta_output = (y - predicted_output) * predicted_output * (1 - predicted_output)      # (n, out)\n"
"    delta_hidden = np.dot(delta_output, W2.T) * hidden_activation * (1 - hidden_activation)  # (n, hidden)\n\n"
"(each product rounded as the lecture's code rounds it). y (n, out): any real numeric array;\n"
"hidden_activation and predicted_output: arrays of W2's dtype, as forward() returns them.\n"
"out: None, or a tuple (delta_output, delta_hidden) of preallocated arrays, written and returned.\n\n"
"Returns (delta_output, delta_hidden). Without out=, a small result you have dropped may be refilled and\n"
"returned by a later call (docs/design.md in the mlpext repository, \"Recycled results\").");

static const char *const backward_keywords[] = {"y", "hidden_activation", "predicted_output", "W2", "out"};
static const arg_spec backward_specs[] = {
    {"W2", PARAM, 2, {DIM_HIDDEN, DIM_OUT}, 0, 0}, SPEC_Y, SPEC_A1,
    {"predicted_output", INTERMEDIATE, 2, {DIM_N, DIM_OUT}, 0, 0}};
static const int backward_order[] = {3, 0, 1, 2}; /* W2 first: it sets the dtype and the layer sizes */
static const arg_spec backward_outs[] = {{"out[0] (delta_output)", OUTPUT, 2, {DIM_N, DIM_OUT}, 0, 0},
                                         {"out[1] (delta_hidden)", OUTPUT, 2, {DIM_N, DIM_HIDDEN}, 0, 0}};
static double backward_kernel(call *k, double lr)
{
    (void)lr;
    return k->c.K->lecture_backward(&k->d, DATA(k, 1), DATA(k, 2), DATA(k, 3), DATA(k, 0), OUT(k, 0), OUT(k, 1));
}
static const lecture_entry backward_entry = {
    .name = "backward", .keywords = backward_keywords, .nkeywords = 5, .nrequired = 4, .specs = backward_specs,
    .nspecs = 4, .order = backward_order, .out_specs = backward_outs, .nouts = 2, .lr_keyword = -1,
    .site = SITE_BACKWARD, .kernel = backward_kernel, .returns = RETURNS_OUTPUTS};
LECTURE_METHOD(backward)

PyDoc_STRVAR(update_doc,
"update($module, X, hidden_activation, delta_output, delta_hidden, W1, b1, W2, b2, learning_rate)\n--\n\n"
"The lecture's gradient-descent update, in place on W1, b1, W2, b2:\n\n"
"    W2 += np.dot(hidden_activation.T, delta_output) * learning_rate\n"
"    b2 += np.sum(delta_output, axis=0) * learning_rate\n"
"    W1 += np.dot(X.T, delta_hidden) * learning_rate\n"
"    b1 += np.sum(delta_hidden, axis=0) * learning_rate\n\n"
"The parameters must be C-contiguous, writable, float32 or float64 (all the same). Returns None.");

static const char *const update_keywords[] = {"X",  "hidden_activation", "delta_output", "delta_hidden", "W1",
                                              "b1", "W2",                "b2",           "learning_rate"};
static const arg_spec update_specs[] = {SPEC_X, SPEC_A1, {"delta_output", INTERMEDIATE, 2, {DIM_N, DIM_OUT}, 0, 0},
                                        {"delta_hidden", INTERMEDIATE, 2, {DIM_N, DIM_HIDDEN}, 0, 0},
                                        SPEC_PARAMS(PARAM_RW)};
static double update_kernel(call *k, double lr)
{
    k->c.K->lecture_update(&k->d, DATA(k, 0), DATA(k, 1), DATA(k, 2), DATA(k, 3), PARAMS(k, 4), lr, k->work);
    return 0.0;
}
static const lecture_entry update_entry = {
    .name = "update", .keywords = update_keywords, .nkeywords = 9, .nrequired = 9, .specs = update_specs, .nspecs = 8,
    .lr_keyword = 8, .workspace = mlp_lecture_update_workspace, .site = -1, .kernel = update_kernel,
    .returns = RETURNS_NONE};
LECTURE_METHOD(update)

static const char *const step_names[] = {"X", "y", "W1", "b1", "W2", "b2", "learning_rate", "epochs", "log_every",
                                         "history"};
static const arg_spec step_specs[] = {SPEC_X, SPEC_Y, SPEC_PARAMS(PARAM_RW)};

PyDoc_STRVAR(train_step_doc,
"train_step($module, " LECTURE_ARGS ")\n--\n\n"
"One epoch of the lecture's loop — forward, backward, update — in place on W1, b1, W2, b2.\n\n"
"Returns the loss before the update, np.mean(np.abs(y - predicted_output)), as a float.");

static double train_step_kernel(call *k, double lr)
{
    return k->c.K->lecture_step(&k->d, DATA(k, 0), DATA(k, 1), PARAMS(k, 2), lr, k->work);
}
static const lecture_entry train_step_entry = {
    .name = "train_step", .keywords = step_names, .nkeywords = 7, .nrequired = 7, .specs = step_specs, .nspecs = 6,
    .lr_keyword = 6, .workspace = mlp_lecture_step_workspace, .site = -1, .kernel = train_step_kernel,
    .returns = RETURNS_LOSS};
LECTURE_METHOD(train_step)

/* Epochs between two looks at Python (signals, printing): about 10 ms of work, for epochs of this much work. */
static size_t epochs_per_chunk(double work_per_epoch)
{
    double chunk = 1e7 / work_per_epoch;
    return chunk < 1.0 ? 1 : chunk > 1e6 ? 1000000 : (size_t)chunk;
}

/* Prints the lecture's log line through sys.stdout (so it shows in Jupyter). */
static int print_epoch(size_t epoch, double loss)
{
    char *text = PyOS_double_to_string(loss, 'f', 4, 0, NULL);
    if (text == NULL) {
        return -1;
    }
    PyObject *line = PyUnicode_FromFormat("Epoch: %zu, Loss: %s\n", epoch, text);
    PyMem_Free(text);
    if (line == NULL) {
        return -1;
    }
    PyObject *out = PySys_GetObject("stdout"); /* borrowed */
    int rc = 0;
    if (out != NULL && out != Py_None) {
        PyObject *r = PyObject_CallMethod(out, "write", "O", line);
        rc = r ? 0 : -1;
        Py_XDECREF(r);
    }
    Py_DECREF(line);
    return rc;
}

/* Training that raises after it has applied steps (a signal handler raised, sys.stdout's write failed, an array was
   changed under it) says how far it got on the exception being raised: mlpext_epochs (the complete epochs this
   call applied), mlpext_losses (a float64 array of the n_losses losses kept for them) and mlpext_batches (the
   mini-batch steps applied in the epoch after them). If the exception cannot take them, it is raised as it is. */
static void attach_progress(size_t epochs, const double *losses, size_t n_losses, size_t batches)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    npy_intp len = (npy_intp)n_losses;
    PyObject *kept = PyArray_SimpleNew(1, &len, NPY_DOUBLE);
    PyObject *e = PyLong_FromSize_t(epochs), *b = PyLong_FromSize_t(batches);
    if (kept != NULL && n_losses > 0) {
        memcpy(PyArray_DATA((PyArrayObject *)kept), losses, n_losses * sizeof *losses);
    }
    if (value == NULL || kept == NULL || e == NULL || b == NULL ||
        PyObject_SetAttrString(value, "mlpext_epochs", e) < 0 ||
        PyObject_SetAttrString(value, "mlpext_losses", kept) < 0 ||
        PyObject_SetAttrString(value, "mlpext_batches", b) < 0) {
        PyErr_Clear();
    }
    Py_XDECREF(kept);
    Py_XDECREF(e);
    Py_XDECREF(b);
    PyErr_Restore(type, value, tb);
}

/* The MemoryError for a loss history too large to allocate, with what avoids it (hint). */
static void history_too_large(const char *fname, Py_ssize_t epochs, const char *hint)
{
    if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_MemoryError) && !PyErr_ExceptionMatches(PyExc_ValueError)) {
        return;
    }
    PyErr_Clear();
    char size[32]; /* (PyErr_Format has no %f) */
    snprintf(size, sizeof size, "%.1f", (double)epochs * 8.0 / (1024.0 * 1024.0 * 1024.0));
    PyErr_Format(PyExc_MemoryError, "%s(): the loss history of %zd epochs (%s GiB) does not fit in memory%s", fname,
                 epochs, size, hint);
}

PyDoc_STRVAR(train_doc,
"train($module, " LECTURE_ARGS ", epochs, log_every=0, history='all')\n--\n\n"
"The lecture's whole training loop in one C call: `epochs` times train_step, in place.\n\n"
"log_every=N > 0 prints 'Epoch: e, Loss: l' (4 decimals) through sys.stdout for every epoch e that is a\n"
"multiple of N, as the lecture does with N = 1000.\n\n"
"Returns the losses (the values train_step returns) that `history` keeps: 'all' (the default), a float64\n"
"array of all `epochs` of them; 'log', only those of the epochs log_every prints (0, N, 2N, ...; needs\n"
"log_every > 0); None keeps none and returns None. Use 'log' or None for runs whose full history would not\n"
"fit in memory (8 bytes an epoch).\n\n"
"learning_rate must be finite (ValueError); NaN or inf in the data propagate to the losses and parameters.\n\n"
"If an exception stops the loop after it started — Ctrl-C (KeyboardInterrupt) or another signal handler's,\n"
"checked between chunks of about 10 ms of work; a failing sys.stdout.write; an array changed by Python code\n"
"run meanwhile (ValueError) — the parameters are left as after the whole epochs already run, and the\n"
"exception carries how far training got: e.mlpext_epochs (int, the epochs applied), e.mlpext_losses (float64\n"
"array of the losses `history` kept of them) and e.mlpext_batches (always 0 here: an epoch is one step).");

enum { HISTORY_ALL, HISTORY_LOG, HISTORY_NONE };

static int train_options(const char *fname, PyObject *const *v, lecture_options *o)
{
    o->log_every = 0;
    o->history = HISTORY_ALL;
    if (parse_count(fname, "epochs", v[7], &o->epochs) < 0 ||
        (v[8] != NULL && parse_count(fname, "log_every", v[8], &o->log_every) < 0)) {
        return -1;
    }
    if (v[9] != NULL && v[9] != Py_None) {
        static const char *const history_names[] = {"all", "log"};
        if ((o->history = parse_name(fname, "history", v[9], history_names, sizeof *history_names, 2)) < 0) {
            if (PyErr_ExceptionMatches(PyExc_ValueError) || PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear(); /* parse_name's message names the strings only */
                PyErr_Format(PyUnicode_Check(v[9]) ? PyExc_ValueError : PyExc_TypeError, "%s(): unknown history %R; "
                             "expected 'all', 'log' or None", fname, v[9]);
            }
            return -1;
        }
    } else if (v[9] == Py_None) {
        o->history = HISTORY_NONE;
    }
    if (o->history == HISTORY_LOG && o->log_every == 0) {
        PyErr_SetString(PyExc_ValueError, "train(): history='log' keeps the losses of the epochs log_every prints, "
                        "but log_every is 0; give log_every=N > 0, or history=None to keep none");
        return -1;
    }
    return 0;
}

static PyObject *train_run(call *k, const lecture_options *o, double lr)
{
    const size_t total = (size_t)o->epochs, every = (size_t)o->log_every;
    /* the chunk's losses go straight into the history ('all'), else into `buffer` */
    size_t chunk = epochs_per_chunk(2.0 * PASS_WORK(k));
    const size_t n_kept = o->history == HISTORY_ALL   ? total
                          : o->history == HISTORY_LOG ? (total + every - 1) / every
                                                      : 0;
    double *buffer = NULL;
    PyObject *losses = NULL;
    if (o->history != HISTORY_NONE) {
        npy_intp len = (npy_intp)n_kept;
        losses = PyArray_SimpleNew(1, &len, NPY_DOUBLE); /* after every check: nothing to undo */
        if (losses == NULL) {
            history_too_large("train", (Py_ssize_t)n_kept, o->history == HISTORY_ALL ? "; pass history='log' to keep "
                              "only the losses log_every prints, or history=None to keep none" : "; pass a larger "
                              "log_every, or history=None to keep none");
            return call_end(k, NULL);
        }
    }
    double *kept = losses != NULL ? PyArray_DATA((PyArrayObject *)losses) : NULL;
    if (o->history != HISTORY_ALL && total > 0) {
        chunk = chunk < 4096 ? chunk : 4096;
        buffer = PyMem_Malloc((chunk < total ? chunk : total) * sizeof *buffer);
        if (buffer == NULL) {
            PyErr_NoMemory();
            Py_XDECREF(losses);
            return call_end(k, NULL);
        }
    }
    size_t done = 0, n_done_kept = 0;
    while (done < total) {
        size_t stop = total - done > chunk ? done + chunk : total;
        size_t next_print = every ? (done + every - 1) / every * every : total; /* first multiple >= done */
        if (every && next_print + 1 < stop) {
            stop = next_print + 1; /* come back right after the epoch to print */
        }
        double *loss = o->history == HISTORY_ALL ? kept + done : buffer; /* loss[e - done], e in [done, stop) */
        BEGIN_KERNEL(&k->c, (double)(stop - done) * PASS_WORK(k), goto failed)
        if (done == 0) {
            convert_inputs(&k->c);
        }
        k->c.K->lecture_train(&k->d, DATA(k, 0), DATA(k, 1), PARAMS(k, 2), lr, stop - done, loss, k->work);
        END_KERNEL(&k->c)
        const size_t first = done;
        done = stop;
        n_done_kept = o->history == HISTORY_ALL ? done : n_done_kept;
        for (size_t e = first; e < stop; e++) { /* at most one print per chunk, at its end, by construction */
            if (every && e % every == 0) {
                if (o->history == HISTORY_LOG) {
                    kept[n_done_kept++] = loss[e - first];
                }
                k->c.unproved = 1; /* sys.stdout.write is Python code */
                if (print_epoch(e, loss[e - first]) < 0) {
                    goto failed;
                }
            }
        }
        /* After the last chunk too: a signal that came during it raises here, with the epochs attached, not in the
           interpreter once train has returned, where its losses would be lost */
        k->c.unproved = 1; /* a signal handler is Python code */
        if (PyErr_CheckSignals() < 0) {
            goto failed;
        }
    }
    PyMem_Free(buffer);
    return call_end(k, o->history == HISTORY_NONE ? Py_NewRef(Py_None) : losses);
failed: /* the parameters are at epoch `done` */
    attach_progress(done, kept, n_done_kept, 0);
    PyMem_Free(buffer);
    Py_XDECREF(losses);
    return call_end(k, NULL);
}
static const arg_spec train_specs[] = {SPEC_X, SPEC_Y, SPEC_PARAMS(PARAM_RW)}; /* train_step's, but train's own */
static const lecture_entry train_entry = {
    .name = "train", .keywords = step_names, .nkeywords = 10, .nrequired = 8, .specs = train_specs, .nspecs = 6,
    .lr_keyword = 6, .workspace = mlp_lecture_step_workspace, .site = -1, .returns = RETURNS_NONE,
    .options = train_options, .run = train_run};
LECTURE_METHOD(train)

/* The trace's arrays: their names (the keys of worked_example.json) and shapes. */
static const arg_spec trace_outs[] = {
    {"Z1", OUTPUT, 2, {DIM_N, DIM_HIDDEN}, 0, 0},      {"A1", OUTPUT, 2, {DIM_N, DIM_HIDDEN}, 0, 0},
    {"Z2", OUTPUT, 2, {DIM_N, DIM_OUT}, 0, 0},         {"y_hat", OUTPUT, 2, {DIM_N, DIM_OUT}, 0, 0},
    {"E2", OUTPUT, 2, {DIM_N, DIM_OUT}, 0, 0},         {"delta2", OUTPUT, 2, {DIM_N, DIM_OUT}, 0, 0},
    {"E1", OUTPUT, 2, {DIM_N, DIM_HIDDEN}, 0, 0},      {"delta1", OUTPUT, 2, {DIM_N, DIM_HIDDEN}, 0, 0},
    {"W1_new", OUTPUT, 2, {DIM_IN, DIM_HIDDEN}, 0, 0}, {"b1_new", OUTPUT, 1, {DIM_HIDDEN}, 0, 0},
    {"W2_new", OUTPUT, 2, {DIM_HIDDEN, DIM_OUT}, 0, 0}, {"b2_new", OUTPUT, 1, {DIM_OUT}, 0, 0},
};
#define N_TRACE ((int)(sizeof trace_outs / sizeof trace_outs[0]))
_Static_assert(N_TRACE <= MAX_OUTS, "a call holds at most MAX_OUTS outputs");

PyDoc_STRVAR(trace_step_doc,
"trace_step($module, " LECTURE_ARGS ")\n--\n\n"
"Every quantity of one training step, as the lecture's slides write them out, computed by the C core:\n"
"a dict of new arrays Z1, A1, Z2, y_hat, E2, delta2, E1, delta1 and the updated parameters W1_new,\n"
"b1_new, W2_new, b2_new. The parameters passed in are left untouched. The values are those train_step\n"
"computes (E1 = delta2 @ W2.T is the hidden layer's error before the sigmoid's derivative).");

static double trace_step_kernel(call *k, double lr)
{
    void *t[N_TRACE];
    for (int a = 0; a < N_TRACE; a++) {
        t[a] = OUT(k, a);
    }
    k->c.K->lecture_trace(&k->d, DATA(k, 0), DATA(k, 1), PARAMS(k, 2), lr, t, k->work);
    return 0.0;
}
static const arg_spec trace_args[] = {SPEC_X, SPEC_Y, SPEC_PARAMS(PARAM)};
static const lecture_entry trace_step_entry = {
    .name = "trace_step", .keywords = step_names, .nkeywords = 7, .nrequired = 7, .specs = trace_args, .nspecs = 6,
    .out_specs = trace_outs, .nouts = N_TRACE, .lr_keyword = 6, .workspace = mlp_lecture_update_workspace,
    .site = -1, .kernel = trace_step_kernel, .returns = RETURNS_DICT};
LECTURE_METHOD(trace_step)

static size_t predict_workspace(const mlp_dims *d)
{
    int ok = 1; /* the hidden activation, (n, hidden), then forward's (0: its count overflowed) */
    const size_t forward = mlp_lecture_forward_workspace(d);
    const size_t len = mlp_size_add(mlp_size_mul(d->n, d->hidden, &ok), forward, &ok);
    return ok && forward != 0 ? len : 0;
}

PyDoc_STRVAR(predict_doc,
"predict($module, X, W1, b1, W2, b2, out=None)\n--\n\n"
"The network's output for X: forward()'s predicted_output, without returning the hidden activation.\n"
"out: None, or a preallocated (n, out) array (or a 1-tuple of one), written and returned. Without out=, a small\n"
"result you have dropped may be refilled and returned by a later call\n"
"(docs/design.md in the mlpext repository, \"Recycled results\").");

static const char *const predict_keywords[] = {"X", "W1", "b1", "W2", "b2", "out"};
static const arg_spec predict_specs[] = {SPEC_X, SPEC_PARAMS(PARAM)}; /* forward's, but predict's own (recall) */
static const arg_spec predict_outs[] = {{"out", OUTPUT, 2, {DIM_N, DIM_OUT}, 0, 0}};
static double predict_kernel(call *k, double lr) /* the hidden activation in the workspace */
{
    (void)lr;
    char *hidden = k->work; /* then forward's workspace */
    k->c.K->lecture_forward(&k->d, DATA(k, 0), PARAMS(k, 1), hidden, OUT(k, 0),
                            hidden + k->d.n * k->d.hidden * k->c.K->size);
    return 0.0;
}
static const lecture_entry predict_entry = {
    .name = "predict", .keywords = predict_keywords, .nkeywords = 6, .nrequired = 5, .specs = predict_specs,
    .nspecs = 5, .out_specs = predict_outs, .nouts = 1, .lr_keyword = -1, .workspace = predict_workspace,
    .site = SITE_PREDICT, .kernel = predict_kernel, .returns = RETURNS_OUTPUTS};
LECTURE_METHOD(predict)

/* ------------------------------------------------------------------------------------------------------------
 * General networks: the private functions behind mlpext.MLP (mlpext/network.py) and mlpext.distributed
 *
 * Each is a net_entry: which of the network arguments it takes, how it uses the parameters and gradients, and its
 * kernel section. One driver, net_call_run, parses, validates and allocates for all of them.
 * ------------------------------------------------------------------------------------------------------------ */

/* The loss named `o`, a row of the loss table (mlp_loss_table): its index, or -1 with the error set. */
static int parse_loss(const char *fname, PyObject *o)
{
    size_t count;
    const mlp_loss_info *table = mlp_loss_table(&count);
    return parse_name(fname, "loss", o, &table[0].name, sizeof *table, count);
}

/* The optimizer named `name`, a row of the optimizer table (mlp_optimizer_table), with hyper = (learning_rate,
   momentum, nesterov, beta1, beta2, eps, weight_decay, alpha), each real one finite (parse_real), nesterov any
   truth value. hyper NULL: the name alone. */
static int parse_optimizer(const char *fname, PyObject *name, PyObject *hyper, mlp_optimizer *opt)
{
    static const char *const hyper_names[] = {"learning_rate", "momentum", "nesterov", "beta1", "beta2", "eps",
                                              "weight_decay", "alpha"};
    size_t count;
    const mlp_optimizer_info *table = mlp_optimizer_table(&count);
    const int kind = parse_name(fname, "optimizer", name, &table[0].name, sizeof *table, count);
    if (kind < 0) {
        return -1;
    }
    if (hyper == NULL) {
        opt->kind = (mlp_optimizer_kind)kind;
        return 0;
    }
    if (!PyTuple_Check(hyper) || PyTuple_GET_SIZE(hyper) != 8) {
        PyErr_Format(PyExc_TypeError, "%s(): hyper must be a tuple (learning_rate, momentum, nesterov, beta1, beta2, "
                     "eps, weight_decay, alpha)", fname);
        return -1;
    }
    double h[8];
    for (int i = 0; i < 8; i++) {
        PyObject *item = PyTuple_GET_ITEM(hyper, i);
        if (i == 2 ? (h[i] = PyObject_IsTrue(item)) < 0 : parse_real(fname, hyper_names[i], item, &h[i]) < 0) {
            return -1;
        }
    }
    *opt = (mlp_optimizer){(mlp_optimizer_kind)kind, h[0], h[1], h[3], h[4], h[5], h[6], (int)h[2], h[7]};
    return 0;
}

/* The arguments a network entry may take. Each entry takes some of them, in this order (its keywords). */
enum {
    NK_X, NK_Y, NK_WEIGHTS, NK_BIASES, NK_ACTIVATIONS, NK_SLOPE, NK_LOSS, NK_GRADS, NK_OPTIMIZER, NK_HYPER, NK_STATE,
    NK_EPOCHS, NK_BATCH_SIZE, NK_SHUFFLE, NK_RNG, NK_OUT, NK_RECORD, NK_EXPECT, N_NET_KEYS
};
static const char *const net_keywords[N_NET_KEYS] = {
    "X", "y", "weights", "biases", "activations", "slope", "loss", "grads", "optimizer", "hyper", "state", "epochs",
    "batch_size", "shuffle", "rng", "out", "record", "expect"};
#define NK(key) (1u << NK_##key)

typedef struct net_call net_call;

/* One network entry point. */
typedef struct {
    const char *name;  /* for messages: the public method it serves */
    unsigned keys;     /* the arguments it takes (NK) */
    unsigned optional; /* those of them that may be omitted or None: the last ones */
    arg_role params;   /* PARAM: the parameters are read; PARAM_RW: updated */
    arg_role grads;    /* OUTPUT: the gradients are written; PARAM: read */
    PyObject *(*run)(net_call *nc); /* its kernel section on the validated call; returns the result and ends the
                                       call (call_end) */
} net_entry;

/* Everything one network call is given, parsed and validated. */
struct net_call {
    call k;
    mlp_net net;
    size_t sizes[MLP_MAX_LAYERS + 1];
    mlp_activation acts[MLP_MAX_LAYERS];
    mlp_optimizer opt;
    Py_ssize_t epochs, batch;
    int shuffle;
    size_t n, nb; /* the rows (1 without X), the rows of a mini-batch */
    int L;
    int x, y, grads, state, rng; /* the arguments (specs) where each starts; -1: not taken */
    int labels;                  /* y is a vector of class labels; 2: of an unsigned type (wrapped to intp) */
    PyObject *v[N_NET_KEYS];     /* the arguments passed; NULL: not taken, or an optional one None */
    int nspecs;
    arg_spec specs[MAX_ARGS], out_spec;
    const item_names *names; /* the module's */
    PyObject *objs[MAX_ARGS];
    arg_val args[MAX_ARGS];
    void *data[MAX_ARGS];     /* the arguments' data (after call_alloc), in spec order: the kernels' pointers */
    PyObject *y_array;        /* y as an array (owned), to look at its ndim before choosing its spec */
    PyObject *held[MAX_ARGS]; /* the items of the lists of arrays (weights, biases, grads, state), owned */
    int nheld;
    int expect_type;                       /* expect=: the parameters' dtype (type number), or -1: not given */
    Py_ssize_t expect[MLP_MAX_LAYERS + 1]; /* and the layer sizes */
};

/* The items of *o, a list or tuple of arrays, as references the call owns (taken before any Python code can run):
   that code (a conversion's __array__, another thread) may replace the list's items, and the call must keep using,
   and holding, the arrays it validated. On success *o points to them (as a PyObject **) and *n is their count. (A
   tuple copy would do the same, but CPython keeps freed small tuples: memory tracemalloc sees as kept.) */
static int own_list(net_call *nc, const char *fname, const char *what, PyObject **o, int max, Py_ssize_t *n)
{
    if (!PyList_Check(*o) && !PyTuple_Check(*o)) {
        PyErr_Format(PyExc_TypeError, "%s(): %s must be a list of arrays, got %.200s", fname, what,
                     Py_TYPE(*o)->tp_name);
        return -1;
    }
    *n = PySequence_Fast_GET_SIZE(*o);
    if (*n > max || nc->nheld + *n > MAX_ARGS) {
        return 1; /* the caller reports the length */
    }
    PyObject **first = &nc->held[nc->nheld];
    for (Py_ssize_t i = 0; i < *n; i++) {
        first[i] = Py_NewRef(PySequence_Fast_GET_ITEM(*o, i));
    }
    nc->nheld += (int)*n;
    *o = (PyObject *)first;
    return 0;
}

#define HELD(o) ((PyObject **)(o)) /* the items own_list took */

/* The layer list (weights or biases): a list or tuple of arrays, owned (own_list). */
static int parse_layers(net_call *nc, const char *fname, const char *what, PyObject **o, int *L)
{
    Py_ssize_t n;
    const int rc = own_list(nc, fname, what, o, MLP_MAX_LAYERS, &n);
    if (rc < 0) {
        return -1;
    }
    if (rc > 0 || n < 1 || (*L >= 0 && n != *L)) {
        PyErr_Format(PyExc_ValueError, "%s(): %s must hold one array per layer (1 to %d%s), got %zd", fname, what,
                     MLP_MAX_LAYERS, *L >= 0 ? ", as many as weights" : "", n);
        return -1;
    }
    *L = (int)n;
    return 0;
}

/* A list or tuple of exactly `count` arrays, owned (own_list). */
static int parse_list(net_call *nc, const char *fname, const char *what, PyObject **o, int count)
{
    Py_ssize_t n;
    const int rc = own_list(nc, fname, what, o, count, &n);
    if (rc < 0) {
        return -1;
    }
    if (rc > 0 || n != count) {
        PyErr_Format(PyExc_ValueError, "%s(): %s must hold %d arrays here, got %zd", fname, what, count, n);
        return -1;
    }
    return 0;
}

/* expect=: (dtype number, sizes[0], ..., sizes[L]), the network's configuration (mlpext.MLP passes it), which the
   parameters must match: checked after their validation (net_expected), but their count here, before the
   arguments sized by it (activations) say otherwise. None: nothing expected (expect_type -1). */
static int parse_expect(net_call *nc, const char *fname, PyObject *expect)
{
    nc->expect_type = -1;
    if (expect == NULL) {
        return 0;
    }
    if (!PyTuple_CheckExact(expect) || PyTuple_GET_SIZE(expect) < 3 ||
        PyTuple_GET_SIZE(expect) > MLP_MAX_LAYERS + 2) {
        PyErr_Format(PyExc_TypeError, "%s(): expect must be a tuple (dtype number, sizes[0], ..., sizes[L]) or None",
                     fname);
        return -1;
    }
    const Py_ssize_t layers = PyTuple_GET_SIZE(expect) - 2;
    for (Py_ssize_t i = 0; i < layers + 2; i++) {
        const Py_ssize_t value = PyLong_AsSsize_t(PyTuple_GET_ITEM(expect, i));
        if (value < 0) {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_ValueError, "%s(): expect holds a negative number", fname);
            }
            return -1;
        }
        if (i == 0) {
            nc->expect_type = (int)value;
        } else {
            nc->expect[i - 1] = value;
        }
    }
    if (layers != nc->L) {
        PyErr_Format(PyExc_ValueError, "%s(): params must hold %zd (W, b) pairs, one per layer of the network, "
                     "got %d", fname, layers, nc->L);
        return -1;
    }
    return 0;
}

/* After validation: the parameters against expect= (parse_expect). They agree with each other already, so the
   first weight's dtype and each layer's size are theirs. */
static int net_expected(net_call *nc)
{
    const call_ctx *c = &nc->k.c;
    if (nc->expect_type < 0) {
        return 0;
    }
    if (c->type_num != nc->expect_type) {
        PyErr_Format(PyExc_TypeError, "%s(): %s must have the network's dtype %s, got %s", c->fname,
                     nc->names->weights[0], dtype_name(nc->expect_type == NPY_FLOAT ? NPY_FLOAT : NPY_DOUBLE),
                     dtype_name(c->type_num));
        return -1;
    }
    for (int l = 0; l < nc->L; l++) {
        const npy_intp in = c->dims[DIM_SIZE(l)], out = c->dims[DIM_SIZE(l + 1)];
        if (in != nc->expect[l] || out != nc->expect[l + 1]) {
            PyErr_Format(PyExc_ValueError, "%s(): %s must have shape (%zd, %zd), the network's layer sizes, got "
                         "shape (%zd, %zd)", c->fname, nc->names->weights[l], nc->expect[l], nc->expect[l + 1],
                         (Py_ssize_t)in, (Py_ssize_t)out);
            return -1;
        }
    }
    return 0;
}

/* The L activations: names of the activation table's rows (mlp_activation_table), only the last an output-only
   one. */
static int parse_activations(net_call *nc, const char *fname, PyObject *activations, double slope)
{
    const int L = nc->L;
    if ((!PyList_Check(activations) && !PyTuple_Check(activations)) ||
        PySequence_Fast_GET_SIZE(activations) != L) {
        PyErr_Format(PyList_Check(activations) || PyTuple_Check(activations) ? PyExc_ValueError : PyExc_TypeError,
                     "%s(): activations must be a list of %d names, one per layer, got %.200s", fname, L,
                     Py_TYPE(activations)->tp_name);
        return -1;
    }
    size_t count;
    const mlp_activation_info *table = mlp_activation_table(&count);
    for (int l = 0; l < L; l++) {
        int a = parse_name(fname, "activation", PySequence_Fast_GET_ITEM(activations, l), &table[0].name,
                           sizeof *table, count);
        if (a < 0) {
            return -1;
        }
        if (!table[a].hidden && l != L - 1) {
            PyErr_Format(PyExc_ValueError, "%s(): %s can only be the output layer's activation", fname, table[a].name);
            return -1;
        }
        nc->acts[l] = (mlp_activation){(mlp_activation_kind)a, slope};
    }
    return 0;
}

/* Adds the array `obj` with this spec to the call's list. */
static void add_spec(net_call *nc, PyObject *obj, const char *name, arg_role role, int ndim, int d0, int d1)
{
    int i = nc->nspecs++;
    nc->specs[i] = (arg_spec){name, role, ndim, {d0, d1}, 0, 0};
    nc->objs[i] = obj;
}

/* Adds the 2L arrays of a list shaped as the parameters W[0], b[0], W[1], ..., named names[0], names[1], .... */
static void add_tensors(net_call *nc, PyObject *const *items, const char (*names)[16], arg_role role)
{
    for (int l = 0; l < nc->L; l++) {
        add_spec(nc, items[2 * l], names[2 * l], role, 2, DIM_SIZE(l), DIM_SIZE(l + 1));
        add_spec(nc, items[2 * l + 1], names[2 * l + 1], role, 1, DIM_SIZE(l + 1), 0);
    }
}

/* y for this loss: (n, out) values, or for cross-entropy also (n,) integer labels. */
static int net_add_y(net_call *nc, PyObject *y, const char *fname)
{
    nc->y_array = array_of_data(fname, "y", y); /* as take_array's */
    if (nc->y_array == NULL) {
        return -1;
    }
    PyArrayObject *ya = (PyArrayObject *)nc->y_array;
    const char kind = PyArray_DESCR(ya)->kind;
    size_t count;
    const int labels = mlp_loss_table(&count)[nc->net.loss].labels && PyArray_NDIM(ya) == 1 &&
                       (kind == 'i' || kind == 'u');
    nc->labels = labels ? 1 + (kind == 'u') : 0;
    nc->y = nc->nspecs;
    if (nc->labels) {
        add_spec(nc, nc->y_array, "y", LABELS, 1, DIM_N, 0);
    } else {
        add_spec(nc, nc->y_array, "y", INPUT, 2, DIM_N, DIM_SIZE(nc->L));
    }
    return 0;
}

/* The optimizer's state list, in its table row's layout (mlp_optimizer_info): the step count (a 1-element int64
   counter) if it keeps one, then for each buffer 2L tensors [W0, b0, W1, b1, ...]. */
static int add_optimizer_state(net_call *nc, const char *fname, PyObject **state)
{
    size_t count;
    const int steps = mlp_optimizer_table(&count)[nc->opt.kind].counts_steps;
    const int n_buffers = (int)mlp_optim_buffers(&nc->opt), n_state = steps + n_buffers * 2 * nc->L;
    if (parse_list(nc, fname, "state (the optimizer's buffers)", state, n_state) < 0) {
        return -1;
    }
    nc->state = nc->nspecs;
    if (steps) {
        add_spec(nc, HELD(*state)[0], "state[0] (step)", COUNTER, 1, -1, 0);
        nc->specs[nc->state].type_num = NPY_INT64;
        nc->specs[nc->state].fixed_len = 1;
    }
    for (int j = 0; j < n_buffers; j++) {
        const int first = steps + j * 2 * nc->L;
        add_tensors(nc, HELD(*state) + first, nc->names->state + first, PARAM_RW);
    }
    return 0;
}

/* Parses the arguments of entry e and lists the arrays to validate: the parameters (W[0], b[0], W[1], ...), then
   X, y, the gradients, the optimizer's state and rng, those the entry takes. */
static int net_parse(net_call *nc, const net_entry *e, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    const char *keywords[N_NET_KEYS], *fname = e->name;
    PyObject *given[N_NET_KEYS], **v = nc->v;
    int at[N_NET_KEYS], n = 0, required = 0;
    for (int key = 0; key < N_NET_KEYS; key++) {
        at[key] = e->keys >> key & 1 ? n : -1;
        if (at[key] >= 0) {
            required += !(e->optional >> key & 1);
            keywords[n++] = net_keywords[key];
        }
    }
    if (parse_args(fname, args, nargs, kwnames, keywords, n, required, given) < 0) {
        return -1;
    }
    for (int key = 0; key < N_NET_KEYS; key++) {
        v[key] = at[key] < 0 || (e->optional >> key & 1 && given[at[key]] == Py_None) ? NULL : given[at[key]];
    }
    double slope = 0.0;
    int loss = MLP_LOSS_MSE;
    nc->L = -1;
    nc->x = nc->y = nc->grads = nc->state = nc->rng = -1;
    nc->labels = 0;
    nc->nspecs = 0;
    if (parse_layers(nc, fname, "weights", &v[NK_WEIGHTS], &nc->L) < 0 ||
        parse_layers(nc, fname, "biases", &v[NK_BIASES], &nc->L) < 0 || parse_expect(nc, fname, v[NK_EXPECT]) < 0 ||
        (v[NK_SLOPE] != NULL && parse_real(fname, "slope", v[NK_SLOPE], &slope) < 0) ||
        (v[NK_ACTIVATIONS] != NULL && parse_activations(nc, fname, v[NK_ACTIVATIONS], slope) < 0) ||
        (v[NK_LOSS] != NULL && (loss = parse_loss(fname, v[NK_LOSS])) < 0) ||
        (v[NK_OPTIMIZER] != NULL && parse_optimizer(fname, v[NK_OPTIMIZER], v[NK_HYPER], &nc->opt) < 0) ||
        (v[NK_EPOCHS] != NULL && parse_count(fname, "epochs", v[NK_EPOCHS], &nc->epochs) < 0) ||
        (v[NK_BATCH_SIZE] != NULL && parse_count(fname, "batch_size", v[NK_BATCH_SIZE], &nc->batch) < 0) ||
        (v[NK_SHUFFLE] != NULL && (nc->shuffle = PyObject_IsTrue(v[NK_SHUFFLE])) < 0)) {
        return -1;
    }
    if (v[NK_RECORD] != NULL && !PyList_CheckExact(v[NK_RECORD])) {
        PyErr_Format(PyExc_TypeError, "%s(): record must be a list or None, got %.200s", fname,
                     Py_TYPE(v[NK_RECORD])->tp_name);
        return -1;
    }
    if (v[NK_BATCH_SIZE] != NULL && nc->batch < 1) {
        PyErr_Format(PyExc_ValueError, "%s(): batch_size must be at least 1", fname);
        return -1;
    }
    for (int l = 0; v[NK_ACTIVATIONS] == NULL && l < nc->L; l++) {
        nc->acts[l] = MLP_ACT(MLP_IDENTITY); /* (an optimizer step does not look at them) */
    }
    nc->net = (mlp_net){(size_t)nc->L, nc->sizes, nc->acts, (mlp_loss)loss, MLP_THREADS(1)};
    for (int l = 0; l < nc->L; l++) {
        add_spec(nc, HELD(v[NK_WEIGHTS])[l], nc->names->weights[l], e->params, 2, DIM_SIZE(l), DIM_SIZE(l + 1));
        add_spec(nc, HELD(v[NK_BIASES])[l], nc->names->biases[l], e->params, 1, DIM_SIZE(l + 1), 0);
    }
    if (v[NK_X] != NULL) {
        nc->x = nc->nspecs;
        add_spec(nc, v[NK_X], "X", INPUT, 2, DIM_N, DIM_SIZE(0));
    }
    if (v[NK_Y] != NULL && net_add_y(nc, v[NK_Y], fname) < 0) {
        return -1;
    }
    if (v[NK_GRADS] != NULL) {
        if (parse_list(nc, fname, "grads (dW_0, db_0, dW_1, ...)", &v[NK_GRADS], 2 * nc->L) < 0) {
            return -1;
        }
        nc->grads = nc->nspecs;
        add_tensors(nc, HELD(v[NK_GRADS]), nc->names->grads, e->grads);
    }
    if (v[NK_STATE] != NULL && add_optimizer_state(nc, fname, &v[NK_STATE]) < 0) {
        return -1;
    }
    if (v[NK_RNG] != NULL) {
        nc->rng = nc->nspecs;
        add_spec(nc, v[NK_RNG], "rng", COUNTER, 1, -1, 0);
        nc->specs[nc->rng].type_num = NPY_UINT64;
        nc->specs[nc->rng].fixed_len = 4;
    }
    return 0;
}

/* After net_validate's conversions (with the GIL: they are checked here): class labels against the number of
   outputs. Real-valued targets are not checked: NaN and inf in them propagate to the loss and gradients, as in
   X. */
static int net_check_labels(net_call *nc)
{
    const arg_val *yv = &nc->k.c.args[nc->y];
    const size_t out = nc->sizes[nc->L];
    const npy_intp *lab = yv->data;
    for (size_t i = 0; nc->labels && i < yv->len; i++) {
        if (lab[i] < 0 || (size_t)lab[i] >= out) {
            char label[32]; /* an unsigned label above the intp range wrapped: its own value is the size_t one */
            if (nc->labels == 2) {
                snprintf(label, sizeof label, "%zu", (size_t)lab[i]);
            } else {
                snprintf(label, sizeof label, "%zd", (Py_ssize_t)lab[i]);
            }
            PyErr_Format(PyExc_ValueError, "%s(): y holds the class label %s at index %zu, but the network has %zu "
                         "outputs (labels 0 to %zu)", nc->k.c.fname, label, i, out, out - 1);
            return -1;
        }
    }
    return 0;
}

/* Validates every array listed (and out=), then sizes the call: its threads and its scratch, with the workspace of
   its kernel; converts the inputs and checks y's labels if it has a y. Returns 0, or -1 with an exception set and
   the call ended. */
static int net_validate(net_call *nc, const net_entry *e, PyObject *module)
{
    call *k = &nc->k;
    const int nouts = e->keys & NK(OUT) ? 1 : 0;
    nc->out_spec = (arg_spec){"out", OUTPUT, 2, {DIM_N, DIM_SIZE(nc->L)}, 0, 0};
    if (call_validate(k, e->name, DIM_SIZE(nc->L) + 1, NULL, nc->args, nc->specs, nc->objs, nc->nspecs,
                      &nc->out_spec, nouts, nc->v[NK_OUT], NULL, NULL, NULL) < 0) {
        return -1;
    }
    if (net_expected(nc) < 0) {
        call_abort(k);
        return -1;
    }
    for (int l = 0; l <= nc->L; l++) {
        nc->sizes[l] = (size_t)k->c.dims[DIM_SIZE(l)];
    }
    k->c.cost = mlp_net_costs(&nc->net);
    nc->n = nc->x >= 0 ? (size_t)k->c.dims[DIM_N] : 1;
    nc->nb = nc->v[NK_BATCH_SIZE] != NULL && (size_t)nc->batch < nc->n ? (size_t)nc->batch : nc->n;
    const size_t work = nc->x >= 0 ? mlp_net_workspace(&nc->net, nc->nb, nc->v[NK_EPOCHS] != NULL) : 0;
    if (call_threads(module, e->name, k->c.cost.largest * (double)nc->nb, &nc->net.threads) < 0) {
        call_abort(k);
        return -1;
    }
    if (call_alloc(k, module, work, work != 0 || nc->x < 0) < 0) {
        return -1;
    }
    for (int i = 0; i < k->c.nargs; i++) {
        nc->data[i] = k->c.args[i].data;
    }
    if (nc->y >= 0) {
        convert_inputs(&k->c); /* (in the caller's mode: only float sources would care, read in IEEE mode) */
        if (net_check_labels(nc) < 0) {
            call_end(k, NULL);
            return -1;
        }
    }
    return 0;
}

/* The driver of every network entry point. */
static PyObject *net_call_run(PyObject *m, const net_entry *e, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    const core_state *state = PyModule_GetState(m);
    net_call *nc = state != NULL ? PyMem_Malloc(sizeof *nc) : NULL;
    if (nc == NULL) {
        return state != NULL ? PyErr_NoMemory() : NULL;
    }
    nc->names = &state->names;
    nc->y_array = NULL;
    nc->nheld = 0;
    PyObject *result = NULL;
    if (net_parse(nc, e, args, nargs, kwnames) == 0 && net_validate(nc, e, m) == 0) {
        result = e->run(nc);
    }
    Py_CLEAR(nc->y_array);
    while (nc->nheld > 0) {
        Py_DECREF(nc->held[--nc->nheld]);
    }
    PyMem_Free(nc);
    return result;
}

/* Defines py_NAME, the method that runs the network entry NAME_entry. */
#define NET_METHOD(NAME)                                                                                         \
    static PyObject *py_##NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)          \
    {                                                                                                            \
        return net_call_run(m, &NAME##_entry, args, nargs, kwnames);                                             \
    }

#define NET_X(nc) ((nc)->data[(nc)->x])
#define NET_Y(nc) ((nc)->labels ? NULL : (nc)->data[(nc)->y])
#define NET_LABELS(nc) ((nc)->labels ? (const size_t *)(nc)->data[(nc)->y] : NULL)

PyDoc_STRVAR(net_forward_doc,
"net_forward($module, X, weights, biases, activations, slope, out=None, expect=None)\n--\n\n"
"A network's output for X (n, sizes[0]): (n, sizes[L]).\n"
"expect (every network entry): None, or (dtype number, sizes[0], ..., sizes[L]), the network's configuration,\n"
"which the parameters must match (TypeError / ValueError before anything is written).\n"
"Private: mlpext.MLP.forward is the public face.");

static PyObject *net_forward_run(net_call *nc)
{
    call *k = &nc->k;
    BEGIN_KERNEL(&k->c, PASS_WORK(k) / 3, return call_end(k, NULL))
    convert_inputs(&k->c);
    k->c.K->net_forward(&nc->net, nc->n, NET_X(nc), nc->data, OUT(k, 0), k->work);
    END_KERNEL(&k->c)
    return call_end(k, call_outputs(k, NULL));
}
static const net_entry net_forward_entry = {"MLP.forward", NK(X) | NK(WEIGHTS) | NK(BIASES) | NK(ACTIVATIONS) |
                                            NK(SLOPE) | NK(OUT) | NK(EXPECT), NK(OUT) | NK(EXPECT), PARAM, PARAM,
                                            net_forward_run};
NET_METHOD(net_forward)

PyDoc_STRVAR(net_loss_doc,
"net_loss($module, X, y, weights, biases, activations, slope, loss, grads=None, expect=None)\n--\n\n"
"A network's loss on (X, y), and with grads (a list of 2L arrays dW_0, db_0, dW_1, ...) its gradient.\n"
"Private: mlpext.MLP.loss and .gradients are the public face.");

static PyObject *net_loss_run(net_call *nc)
{
    call *k = &nc->k;
    double value;
    BEGIN_KERNEL(&k->c, PASS_WORK(k), return call_end(k, NULL))
    value = k->c.K->net_loss(&nc->net, nc->n, NET_X(nc), NET_Y(nc), NET_LABELS(nc), nc->data,
                             nc->grads >= 0 ? nc->data + nc->grads : NULL, k->work);
    END_KERNEL(&k->c)
    return call_end(k, PyFloat_FromDouble(value));
}
static const net_entry net_loss_entry = {"MLP.loss", NK(X) | NK(Y) | NK(WEIGHTS) | NK(BIASES) | NK(ACTIVATIONS) |
                                         NK(SLOPE) | NK(LOSS) | NK(GRADS) | NK(EXPECT), NK(GRADS) | NK(EXPECT), PARAM,
                                         OUTPUT, net_loss_run};
NET_METHOD(net_loss)

PyDoc_STRVAR(net_fit_doc,
"net_fit($module, X, y, weights, biases, activations, slope, loss, optimizer, hyper, state, epochs, batch_size,\n"
"        shuffle, rng, record=None, expect=None)\n--\n\n"
"`epochs` epochs of mini-batch training in place on the parameters, the optimizer state and rng; returns the\n"
"per-epoch losses. hyper = (learning_rate, momentum, nesterov, beta1, beta2, eps, weight_decay, alpha);\n"
"state: the optimizer's, as optimizer_state(optimizer, momentum) names it: the step count (int64 (1,)) if\n"
"it keeps one, then 2L arrays (W0, b0, W1, ...) per buffer. rng: uint64 (4,).\n"
"The hyperparameters and slope must be finite; NaN and inf in X and real-valued y propagate; class labels\n"
"must be valid indices.\n\n"
"Signals are checked between mini-batches, about every 10 ms of work. An exception raised there (Ctrl-C:\n"
"KeyboardInterrupt; or ValueError if Python code run meanwhile changed an array the call holds) stops the\n"
"fit after the current mini-batch and carries how far it got: e.mlpext_epochs (int, the complete epochs\n"
"applied), e.mlpext_losses (float64 array of their losses) and e.mlpext_batches (int, the mini-batch steps\n"
"applied in the unfinished epoch; 0 if it stopped at an epoch's end). The parameters, optimizer state and\n"
"rng are exactly as after those steps.\n"
"record: a list, or None. When every epoch ran, the losses are appended to it before the call returns, so that\n"
"a signal raised by the interpreter as the call returns (after its last check) cannot lose them.\n"
"Private: mlpext.MLP.fit and .step are the public face.");

/* How a fit whose kernel runs without the GIL looks at Python between its mini-batches (mlp_poll): after about
   POLL_WORK operations (~10 ms; the estimate counts each mini-batch's rows and its optimizer step) it takes the GIL
   back, runs the signal handlers (Ctrl-C: KeyboardInterrupt), proves the call's arrays (the handlers, and the
   threads that held the GIL meanwhile, ran Python code: call_prove), and releases the GIL again. Any exception
   stops the fit there. */
#define POLL_WORK 1e7
typedef struct {
    call_ctx *c;
    PyThreadState *save; /* the GIL released (the thread's state), or NULL: the fit runs with it, unpolled */
    double row_work, step_work, pending;
    mlp_fpmode mode; /* the thread's own floating-point mode, while the fit runs with subnormals flushed */
} fit_poll;

static int fit_poll_stop(void *arg, size_t rows)
{
    fit_poll *p = arg;
    p->pending += (double)rows * p->row_work + p->step_work;
    if (p->pending < POLL_WORK) {
        return 0;
    }
    p->pending = 0.0;
    mlp_fpmode_restore(p->mode); /* Python's signal handlers run in the thread's own mode */
    PyEval_RestoreThread(p->save);
    p->c->unproved = 1;
    const int stop = PyErr_CheckSignals() < 0 || call_prove(p->c) < 0;
    p->save = PyEval_SaveThread();
    p->mode = mlp_fpmode_flush();
    return stop;
}

static PyObject *net_fit_run(net_call *nc)
{
    call *k = &nc->k;
    const size_t n = nc->n, nb = nc->nb;
    uint64_t *rng = nc->data[nc->rng];
    if (rng[0] == 0 && rng[1] == 0 && rng[2] == 0 && rng[3] == 0) {
        PyErr_Format(PyExc_ValueError, "%s(): rng must not be all zero (xoshiro256** would stay at zero)",
                     k->c.fname);
        return call_end(k, NULL);
    }
    npy_intp n_losses = nc->epochs;
    PyObject *losses = PyArray_SimpleNew(1, &n_losses, NPY_DOUBLE);
    if (losses == NULL) {
        history_too_large(k->c.fname, nc->epochs, "; run fewer epochs per call");
        return call_end(k, NULL);
    }
    size_t *iwork = PyMem_Malloc(mlp_net_iworkspace(n, nb) * sizeof *iwork);
    if (iwork == NULL || call_prove(&k->c) < 0) { /* (the kernel section by hand: fit_poll takes the GIL back) */
        if (iwork == NULL) {
            PyErr_NoMemory();
        }
        PyMem_Free(iwork);
        Py_DECREF(losses);
        return call_end(k, NULL);
    }
    double *loss_out = PyArray_DATA((PyArrayObject *)losses);
    fit_poll poll = {&k->c, NULL, 2.0 * k->c.cost.pass, 10.0 * k->c.cost.values, 0.0, 0};
    const mlp_poll poller = {fit_poll_stop, &poll};
    const double steps = (double)nc->epochs * (double)((n + nb - 1) / nb);
    if (steps * ((double)nb * poll.row_work + poll.step_work) >= GIL_RELEASE_MIN_WORK) {
        poll.save = PyEval_SaveThread();
    }
    size_t batches = 0;
    poll.mode = mlp_fpmode_flush(); /* as in BEGIN_KERNEL */
    const size_t epochs_done = k->c.K->net_fit(&nc->net, n, NET_X(nc), NET_Y(nc), NET_LABELS(nc), nc->data, &nc->opt,
                                               nc->data + nc->state, (size_t)nc->epochs, nb, nc->shuffle, rng,
                                               loss_out, k->work, iwork, poll.save != NULL ? &poller : NULL,
                                               &batches);
    mlp_fpmode_restore(poll.mode);
    if (poll.save != NULL) {
        PyEval_RestoreThread(poll.save);
    }
    PyMem_Free(iwork);
    /* fit_poll_stop raised; or, once every epoch ran, a signal came after the last poll: it raises here, with the
       epochs attached, not in the interpreter once the call has returned, where its losses would be lost. A
       signal can still come after this check: the interpreter raises it as the call returns, so the losses go
       to record first (appending runs no Python code), where the caller finds them either way. */
    if (epochs_done < (size_t)nc->epochs || PyErr_CheckSignals() < 0 ||
        (nc->v[NK_RECORD] != NULL && PyList_Append(nc->v[NK_RECORD], losses) < 0)) {
        attach_progress(epochs_done, loss_out, epochs_done, epochs_done < (size_t)nc->epochs ? batches : 0);
        Py_CLEAR(losses);
    }
    return call_end(k, losses);
}
static const net_entry net_fit_entry = {"MLP.fit", NK(X) | NK(Y) | NK(WEIGHTS) | NK(BIASES) | NK(ACTIVATIONS) |
                                        NK(SLOPE) | NK(LOSS) | NK(OPTIMIZER) | NK(HYPER) | NK(STATE) | NK(EPOCHS) |
                                        NK(BATCH_SIZE) | NK(SHUFFLE) | NK(RNG) | NK(RECORD) | NK(EXPECT),
                                        NK(RECORD) | NK(EXPECT), PARAM_RW, PARAM, net_fit_run};
NET_METHOD(net_fit)

/* ------------------------------------------------------------------------------------------------------------
 * Data-parallel training (mlpext/distributed.py): the optimizer step on gradients summed across processes, and
 * the epoch's shuffled order of the rows, so that every process takes the steps and batches net_fit takes
 * ------------------------------------------------------------------------------------------------------------ */

PyDoc_STRVAR(net_apply_doc,
"net_apply($module, weights, biases, grads, optimizer, hyper, state)\n--\n\n"
"One optimizer step with the given gradients (grads: dW_0, db_0, dW_1, ...), in place on the parameters and the\n"
"optimizer state (hyper and state as for net_fit): the step net_fit takes after each mini-batch. Private:\n"
"mlpext.distributed applies the gradients summed over every process with it.");

static PyObject *net_apply_run(net_call *nc)
{
    call *k = &nc->k;
    BEGIN_KERNEL(&k->c, 8.0 * k->c.cost.values, return call_end(k, NULL))
    k->c.K->net_apply(&nc->net, nc->data, nc->data + nc->grads, &nc->opt, nc->data + nc->state);
    END_KERNEL(&k->c)
    return call_end(k, Py_NewRef(Py_None));
}
static const net_entry net_apply_entry = {"MLP.fit", NK(WEIGHTS) | NK(BIASES) | NK(GRADS) | NK(OPTIMIZER) |
                                          NK(HYPER) | NK(STATE), 0, PARAM_RW, PARAM, net_apply_run};
NET_METHOD(net_apply)

PyDoc_STRVAR(net_shuffle_doc,
"net_shuffle($module, n, rng)\n--\n\n"
"The permutation of 0..n-1 (intp) that net_fit draws for an epoch from rng (uint64 (4,), advanced in place as\n"
"that epoch advances it). Private: mlpext.distributed takes every process's batches from it.");

static PyObject *py_net_shuffle(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"n", "rng"};
    static const arg_spec rng_spec = {"rng", COUNTER, 1, {-1, 0}, NPY_UINT64, 4};
    const char *fname = "MLP.fit";
    (void)m;
    PyObject *v[2];
    Py_ssize_t n;
    call k;
    arg_val arg;
    if (parse_args(fname, args, nargs, kwnames, names, 2, 2, v) < 0 || parse_count(fname, "n", v[0], &n) < 0 ||
        call_validate(&k, fname, 1, NULL, &arg, &rng_spec, &v[1], 1, NULL, 0, NULL, NULL, NULL, NULL) < 0) {
        return NULL;
    }
    uint64_t *rng = arg.data;
    if (rng[0] == 0 && rng[1] == 0 && rng[2] == 0 && rng[3] == 0) {
        PyErr_Format(PyExc_ValueError, "%s(): rng must not be all zero (xoshiro256** would stay at zero)", fname);
        call_abort(&k);
        return NULL;
    }
    if ((size_t)n > (size_t)PY_SSIZE_T_MAX / sizeof(npy_intp)) {
        PyErr_Format(PyExc_ValueError, "%s(): n is too large for a permutation in memory, got %zd", fname, n);
        call_abort(&k);
        return NULL;
    }
    npy_intp len = n;
    PyObject *perm = PyArray_SimpleNew(1, &len, NPY_INTP);
    if (perm == NULL) {
        call_abort(&k);
        return NULL;
    }
    _Static_assert(sizeof(npy_intp) == sizeof(size_t), "a permutation of size_t is read as intp");
    if (n > 0) {
        BEGIN_KERNEL(&k.c, 4.0 * (double)n, Py_DECREF(perm); call_abort(&k); return NULL)
        mlp_shuffle_rows((size_t)n, PyArray_DATA((PyArrayObject *)perm), rng);
        END_KERNEL(&k.c)
    }
    ctx_release(&k.c);
    return perm;
}

PyDoc_STRVAR(optimizer_state_doc,
"optimizer_state($module, optimizer, momentum)\n--\n\n"
"The names of the state `optimizer` keeps with this momentum, in the order net_fit takes it: \"step\" (the step\n"
"count, int64 (1,)) if it keeps one, then each buffer's name (torch.optim's state keys), each standing for 2L\n"
"arrays of the parameters' shapes (W0, b0, W1, ...). A tuple of str, from the C core's optimizer table.");

static PyObject *py_optimizer_state(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"optimizer", "momentum"};
    PyObject *v[2];
    (void)m;
    mlp_optimizer opt = {0};
    if (parse_args("optimizer_state", args, nargs, kwnames, names, 2, 2, v) < 0 ||
        parse_optimizer("optimizer_state", v[0], NULL, &opt) < 0 ||
        parse_real("optimizer_state", "momentum", v[1], &opt.momentum) < 0) {
        return NULL;
    }
    size_t count;
    const mlp_optimizer_info *row = &mlp_optimizer_table(&count)[opt.kind];
    const size_t n_buffers = mlp_optim_buffers(&opt);
    PyObject *result = PyTuple_New((Py_ssize_t)(row->counts_steps + n_buffers));
    for (size_t j = 0, i = 0; result != NULL && i < (size_t)row->counts_steps + n_buffers; i++) {
        PyObject *name = PyUnicode_FromString(i == 0 && row->counts_steps ? "step" : row->buffers[j++]);
        if (name == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)i, name);
    }
    return result;
}

/* The names of a table's rows, as a tuple: the `name` fields of its n rows, `stride` bytes apart (&table[0].name,
   sizeof *table), those whose int `flag` at the same stride is set (NULL: all). build_info's "hidden_activations",
   "output_activations" and "optimizers". */
static PyObject *table_names(const char *const *name, const int *flag, size_t stride, size_t n)
{
    PyObject *result = PyList_New(0);
    for (size_t k = 0; result != NULL && k < n; k++) {
        PyObject *item = NULL;
        if ((flag == NULL || *(const int *)((const char *)flag + k * stride)) &&
            ((item = PyUnicode_FromString(nth_name(name, stride, k))) == NULL || PyList_Append(result, item) < 0)) {
            Py_CLEAR(result);
        }
        Py_XDECREF(item);
    }
    if (result != NULL) {
        Py_SETREF(result, PyList_AsTuple(result));
    }
    return result;
}

/* The loss table as {name: {"natural_output": str, "requires_natural_output", "classification", "labels",
   "mean": bool}} (build_info's "losses"; mlp_loss_info says what each means). */
static PyObject *loss_rows(void)
{
    size_t count, n_acts;
    const mlp_loss_info *table = mlp_loss_table(&count);
    const mlp_activation_info *acts = mlp_activation_table(&n_acts);
    PyObject *result = PyDict_New();
    for (size_t k = 0; result != NULL && k < count; k++) {
        PyObject *row = Py_BuildValue("{s:s,s:N,s:N,s:N,s:N}", "natural_output", acts[table[k].natural_output].name,
                                      "requires_natural_output", PyBool_FromLong(table[k].requires_natural_output),
                                      "classification", PyBool_FromLong(table[k].classification), "labels",
                                      PyBool_FromLong(table[k].labels), "mean", PyBool_FromLong(table[k].mean));
        if (row == NULL || PyDict_SetItemString(result, table[k].name, row) < 0) {
            Py_XDECREF(row);
            Py_CLEAR(result);
            break;
        }
        Py_DECREF(row);
    }
    return result;
}

PyDoc_STRVAR(build_info_doc,
"build_info($module)\n--\n\n"
"How this extension was built and which code paths it takes on this CPU, as a dict (see mlpext.show_config);\n"
"and the core's tables, which mlpext.MLP reads its vocabulary from: \"hidden_activations\",\n"
"\"output_activations\" (tuples of names), \"losses\" ({name: {natural_output, requires_natural_output,\n"
"classification, labels, mean}}) and \"optimizers\" (a tuple of names; optimizer_state gives their state).\n"
"\"thread_limit\": the most threads a call may use now (MLPEXT_NUM_THREADS or the CPUs, at most 64; 0 if\n"
"MLPEXT_NUM_THREADS is not a positive integer); \"num_threads_env\": the MLPEXT_NUM_THREADS it was read from\n"
"(None if unset), from the process environment the calls read, which os.environ need not match.");

#define MLP_STR2(x) #x
#define MLP_STR(x) MLP_STR2(x)
#ifndef MLPEXT_BUILD_FLAGS
#define MLPEXT_BUILD_FLAGS "unknown"
#endif

static PyObject *py_build_info(PyObject *m, PyObject *Py_UNUSED(args))
{
    core_state *state = PyModule_GetState(m);
    mlp_team *team = state != NULL ? mlp_atomic_load_ptr(&state->team) : NULL;
    static const char *const forced[] = {NULL, "generic", "avx2", "avx512"}; /* by mlp_isa */
    const mlp_isa isa = state != NULL ? state->isa : MLP_ISA_BEST;
    /* -1: a team a fork() without os.fork() left behind (the next call that splits a product replaces it) */
    const Py_ssize_t helpers = team == NULL ? 0 : mlp_team_ours(team) ? (Py_ssize_t)mlp_team_helpers(team) : -1;
    const mlp_cache detected = state != NULL ? state->cache : (mlp_cache){0, 0, 0};
    const mlp_cache used = mlp_cache_or_fallback(&detected);
    const int fallback = used.l1_bytes != detected.l1_bytes || used.l1_ways != detected.l1_ways ||
                         used.l2_bytes != detected.l2_bytes;
    const Py_ssize_t kept_bytes = state != NULL ? (Py_ssize_t)mlp_block_kept(&state->spare, 0, SCRATCH_ALLOC) : 0;
    size_t n_acts, n_opts;
    const mlp_activation_info *acts = mlp_activation_table(&n_acts);
    const mlp_optimizer_info *opts = mlp_optimizer_table(&n_opts);
    /* read once: the limit and the value show_config names come from the same reading, of the environment the
       calls read (getenv), which os.environ need not match (os.putenv, a library's setenv) */
    const char *env = getenv("MLPEXT_NUM_THREADS");
    const Py_ssize_t thread_limit = (Py_ssize_t)mlp_thread_limit(env); /* 0: invalid */
    PyObject *env_value = env != NULL ? PyUnicode_DecodeFSDefault(env) : Py_NewRef(Py_None); /* as os.environ */
    if (env_value == NULL) {
        return NULL;
    }
    return Py_BuildValue("{s:s,s:z,s:s,s:s,s:s,s:d,s:i,s:n,s:d,s:n,s:n,s:n,s:n,s:n,s:d,s:n,s:n,s:n,s:O,s:O,s:n,s:n,s:N,"
                         "s:N,s:N,s:N,s:n,s:N,s:n,s:n,s:n}",
                         "simd", mlp_simd_path(isa),
                         "simd_forced", forced[isa], "compiler",
#ifdef __VERSION__
                         __VERSION__,
#else
                         "unknown",
#endif
                         "cflags", MLPEXT_BUILD_FLAGS, "numpy_target_api", MLP_STR(NPY_TARGET_VERSION),
                         "gil_release_min_work", GIL_RELEASE_MIN_WORK, "max_layers", MLP_MAX_LAYERS, "cpus",
                         (Py_ssize_t)mlp_cpu_count(), "parallel_min_ops", (double)MLP_PARALLEL_MIN_OPS,
                         "parallel_min_rows", (Py_ssize_t)MLP_PARALLEL_MIN_ROWS, "team_helpers", helpers,
                         "fma_min_weights", (Py_ssize_t)MLP_DENSE_FMA_MIN, "halves_min_in",
                         (Py_ssize_t)MLP_HALVES_MIN_IN, "halves_max_weights", (Py_ssize_t)MLP_HALVES_MAX_WEIGHTS,
                         "pack_min_ops",
                         (double)MLP_DENSE_PACK_MIN, "l1d_bytes", (Py_ssize_t)used.l1_bytes, "l1d_ways",
                         (Py_ssize_t)used.l1_ways, "l2_bytes", (Py_ssize_t)used.l2_bytes, "cache_detected",
                         fallback ? Py_False : Py_True, "flushes_subnormals",
                         MLP_FPMODE_FLUSH_BITS != 0 ? Py_True : Py_False, "kept_block_bytes",
                         kept_bytes, "kept_block_max",
                         (Py_ssize_t)MLP_BLOCK_KEEP_MAX, "optimizers",
                         table_names(&opts[0].name, NULL, sizeof *opts, n_opts),
                         "hidden_activations",
                         table_names(&acts[0].name, &acts[0].hidden, sizeof *acts, n_acts), "output_activations",
                         table_names(&acts[0].name, &acts[0].output, sizeof *acts, n_acts), "losses", loss_rows(),
                         "thread_limit", thread_limit, "num_threads_env", env_value, "optim_split_min",
                         (Py_ssize_t)MLP_OPTIM_SPLIT_MIN,
                         "gather_split_min", (Py_ssize_t)MLP_GATHER_SPLIT_MIN, "loss_split_min",
                         (Py_ssize_t)MLP_LOSS_SPLIT_MIN);
}

/* ------------------------------------------------------------------------------------------------------------
 * Module (multi-phase init; its state is the recycled results and the team of helper threads, nothing else is
 * mutable)
 * ------------------------------------------------------------------------------------------------------------ */

static int core_traverse(PyObject *module, visitproc visit, void *arg)
{
    core_state *state = PyModule_GetState(module);
    for (int k = 0; state != NULL && k < RECYCLE_SITES; k++) {
        for (int j = 0; j < RECYCLE_DEPTH; j++) {
            Py_VISIT(state->sites[k].arrays[j]);
        }
    }
    return 0;
}

static int core_clear(PyObject *module)
{
    core_state *state = PyModule_GetState(module);
    for (int k = 0; state != NULL && k < RECYCLE_SITES; k++) {
        for (int j = 0; j < RECYCLE_DEPTH; j++) {
            Py_CLEAR(state->sites[k].arrays[j]);
        }
    }
    return 0;
}

/* No call is running: each holds a reference to the module. The team is stopped (its helpers joined), unless it
   is a parent's inherited through fork(), whose threads this process does not have. */
static void core_free(void *module)
{
    core_clear((PyObject *)module);
    core_state *state = PyModule_GetState((PyObject *)module);
    if (state != NULL) {
        mlp_block_kept(&state->spare, 1, SCRATCH_ALLOC);
        mlp_team_drop(&state->team, (mlp_alloc){PyMem_RawMalloc, PyMem_RawFree});
    }
}

/* After os.fork(), in the child: the team's threads are the parent's, so the module forgets it (without touching
   it) and the next call that splits a product starts one. mlpext/__init__.py registers it (os.register_at_fork). */
static PyObject *py_after_fork_in_child(PyObject *m, PyObject *Py_UNUSED(args))
{
    core_state *state = PyModule_GetState(m);
    if (state != NULL) {
        mlp_atomic_store_ptr(&state->team, NULL);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(release_memory_doc,
"release_memory($module)\n--\n\n"
"Frees the scratch block mlpext keeps between calls: the workspace of the last call that needed a block\n"
"(more than 4 KiB, at most 128 MiB), kept so that the next call does not pay for touching new memory.\n"
"Returns the bytes freed (0 if none was kept). The next call that needs a block allocates one again.");

static PyObject *py_release_memory(PyObject *m, PyObject *Py_UNUSED(args))
{
    core_state *state = PyModule_GetState(m);
    return PyLong_FromSize_t(state != NULL ? mlp_block_kept(&state->spare, 1, SCRATCH_ALLOC) : 0);
}

#define FASTCALL_KW METH_FASTCALL | METH_KEYWORDS
static PyMethodDef core_methods[] = {
    {"forward", (PyCFunction)(void (*)(void))py_forward, FASTCALL_KW, forward_doc},
    {"backward", (PyCFunction)(void (*)(void))py_backward, FASTCALL_KW, backward_doc},
    {"update", (PyCFunction)(void (*)(void))py_update, FASTCALL_KW, update_doc},
    {"train_step", (PyCFunction)(void (*)(void))py_train_step, FASTCALL_KW, train_step_doc},
    {"train", (PyCFunction)(void (*)(void))py_train, FASTCALL_KW, train_doc},
    {"predict", (PyCFunction)(void (*)(void))py_predict, FASTCALL_KW, predict_doc},
    {"trace_step", (PyCFunction)(void (*)(void))py_trace_step, FASTCALL_KW, trace_step_doc},
    {"net_forward", (PyCFunction)(void (*)(void))py_net_forward, FASTCALL_KW, net_forward_doc},
    {"build_info", py_build_info, METH_NOARGS, build_info_doc},
    {"optimizer_state", (PyCFunction)(void (*)(void))py_optimizer_state, FASTCALL_KW, optimizer_state_doc},
    {"_after_fork_in_child", py_after_fork_in_child, METH_NOARGS, NULL},
    {"release_memory", py_release_memory, METH_NOARGS, release_memory_doc},
    {"net_loss", (PyCFunction)(void (*)(void))py_net_loss, FASTCALL_KW, net_loss_doc},
    {"net_fit", (PyCFunction)(void (*)(void))py_net_fit, FASTCALL_KW, net_fit_doc},
    {"net_apply", (PyCFunction)(void (*)(void))py_net_apply, FASTCALL_KW, net_apply_doc},
    {"net_shuffle", (PyCFunction)(void (*)(void))py_net_shuffle, FASTCALL_KW, net_shuffle_doc},
    {NULL, NULL, 0, NULL},
};

/* The kernels' instruction set from MLPEXT_SIMD (generic, avx2, avx512; unset, empty or auto: the widest the CPU
   has), read once, here. ValueError if it names no such set, or one this CPU or build does not have. */
static int read_simd_env(core_state *state)
{
    const char *env = getenv("MLPEXT_SIMD");
    if (!mlp_isa_parse(env != NULL ? env : "", &state->isa)) {
        PyErr_Format(PyExc_ValueError, "the environment variable MLPEXT_SIMD must be 'generic', 'avx2', 'avx512' "
                     "or 'auto' (the kernels' instruction set), got '%.50s'", env);
        return -1;
    }
    if (!mlp_isa_available(state->isa)) {
        PyErr_Format(PyExc_ValueError, "MLPEXT_SIMD=%.50s: this CPU or build does not have those kernels (it has "
                     "%s)", env, mlp_simd_path(MLP_ISA_BEST));
        return -1;
    }
    return 0;
}

static int core_exec(PyObject *module)
{
    import_array1(-1); /* NumPy's C API table */
    core_state *state = PyModule_GetState(module);
    if (state == NULL || read_simd_env(state) < 0) {
        return -1;
    }
    state->cache = mlp_cache_detect();
    item_names *names = &state->names;
    for (int i = 0; i < N_STATE_ITEMS; i++) {
        if (i < MLP_MAX_LAYERS) {
            snprintf(names->weights[i], sizeof names->weights[i], "weights[%d]", i);
            snprintf(names->biases[i], sizeof names->biases[i], "biases[%d]", i);
        }
        if (i < 2 * MLP_MAX_LAYERS) {
            snprintf(names->grads[i], sizeof names->grads[i], "grads[%d]", i);
        }
        snprintf(names->state[i], sizeof names->state[i], "state[%d]", i);
    }
    return 0;
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
#ifdef Py_mod_multiple_interpreters
    /* NumPy itself does not support subinterpreters. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#ifdef Py_mod_gil
    /* No global state (results are not recycled without the GIL); arrays shared between threads are the caller's
       to synchronize, as in NumPy. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mlpext._core",
    .m_doc = "The C core of mlpext: the lecture's MLP in place on NumPy arrays.",
    .m_size = sizeof(core_state), /* zeroed by Python: no results, no team */
    .m_methods = core_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC PyInit__core(void) { return PyModuleDef_Init(&core_module); }
