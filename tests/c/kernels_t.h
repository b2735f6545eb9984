/*
 * kernels_t.h — the tests of one precision. Included by test_kernels.c only, twice: MLP_T the scalar type
 * (double, float), MLP_FN(name) adding the suffix (_f64, _f32), MLP_ORD the ordered-integer image (ulp distances).
 *
 * The naive_* functions are the reference: plain loops in the order the kernels document (see test_kernels.c).
 */

/* ---- buffers ---- */

static MLP_T *MLP_FN(buf)(size_t len) { return guarded_alloc(len * sizeof(MLP_T)); }

static MLP_T *MLP_FN(rand_buf)(size_t len, double lo, double hi)
{
    MLP_T *p = MLP_FN(buf)(len);
    for (size_t k = 0; k < len; k++) {
        p[k] = (MLP_T)rng_uniform(lo, hi);
    }
    return p;
}

static MLP_T *MLP_FN(copy_of)(const MLP_T *src, size_t len)
{
    MLP_T *p = MLP_FN(buf)(len);
    memcpy(p, src, len * sizeof(MLP_T));
    return p;
}

/* 1 if a[0..len) and b[0..len) hold the same bits; otherwise reports the first difference. */
static int MLP_FN(same_bits)(int line, const char *what, const MLP_T *a, const MLP_T *b, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        if (memcmp(&a[k], &b[k], sizeof(MLP_T)) != 0) {
            report(line, "%s: element %zu differs: %.17g (%a) vs %.17g (%a) expected", what, k, (double)a[k],
                   (double)a[k], (double)b[k], (double)b[k]);
            return 0;
        }
    }
    return 1;
}

/* same_bits, except that any NaN matches any NaN: the sign and payload of a NaN a computation makes are not part
   of any result's contract (a vectorized exp and a scalar one may make different ones). */
static int MLP_FN(same_bits_or_nan)(int line, const char *what, const MLP_T *a, const MLP_T *b, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        if (isnan(a[k]) != isnan(b[k]) || (!isnan(a[k]) && memcmp(&a[k], &b[k], sizeof(MLP_T)) != 0)) {
            report(line, "%s: element %zu differs: %.17g (%a) vs %.17g (%a) expected", what, k, (double)a[k],
                   (double)a[k], (double)b[k], (double)b[k]);
            return 0;
        }
    }
    return 1;
}

/* ---- the naive reference ---- */

/* The lecture's sigmoid: vmath.h's scalar function (test_sigmoid_accuracy checks it against long double), in
   double and rounded once; float results below FLT_MIN flushed to 0. */
static MLP_T MLP_FN(naive_sigmoid)(MLP_T z)
{
    return MLP_SIGMOID_OF(z);
}

/* One step of a sum as the dense kernels take it: s + a·b, with the product rounded first (the portable build),
   or fused, rounded once (the FMA kernels): test_fmaf / test_fma (test_kernels.c: correctly rounded whatever the
   C library's fma), as a double fma of floats would round twice. */
static MLP_T MLP_FN(madd)(int fused, MLP_T s, MLP_T a, MLP_T b)
{
    if (!fused) {
        return s + a * b;
    }
    return sizeof(MLP_T) == 4 ? (MLP_T)test_fmaf((float)a, (float)b, (float)s)
                              : (MLP_T)test_fma((double)a, (double)b, (double)s);
}

/* Σ X[r, k]·W[k, j] for k0 <= k < k1: from the first product, k increasing. */
static MLP_T MLP_FN(naive_dot)(int fused, size_t in, size_t out, const MLP_T *X, const MLP_T *W, size_t r, size_t j,
                               size_t k0, size_t k1)
{
    MLP_T s = X[r * in + k0] * W[k0 * out + j];
    for (size_t k = k0 + 1; k < k1; k++) {
        s = MLP_FN(madd)(fused, s, X[r * in + k], W[k * out + j]);
    }
    return s;
}

/* A (n, out) = X (n, in) · W (in, out) + b: each sum from the first product, k increasing, then + b; fused as
   mlp_dense_forward dispatches (dense_fused). A layer more than 4 wide with at least 256 inputs and at most 2^19
   weights sums in two halves, cut at the multiple of 16 that halves in's 16-blocks (rounded down), then
   (first + second) + b. */
static void MLP_FN(naive_affine)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *W, const MLP_T *b,
                                 MLP_T *A)
{
    const int fused = dense_fused(n, in, out);
    const size_t h = out > 4 && in >= 256 && in * out <= ((size_t)1 << 19) ? (in + 15) / 16 / 2 * 16 : 0;
    for (size_t r = 0; r < n; r++) {
        for (size_t j = 0; j < out; j++) {
            const MLP_T s = h == 0 ? MLP_FN(naive_dot)(fused, in, out, X, W, r, j, 0, in)
                                   : MLP_FN(naive_dot)(fused, in, out, X, W, r, j, 0, h) +
                                         MLP_FN(naive_dot)(fused, in, out, X, W, r, j, h, in);
            A[r * out + j] = s + b[j];
        }
    }
}

static void MLP_FN(naive_dense_forward)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *W,
                                        const MLP_T *b, mlp_activation act, MLP_T *A)
{
    MLP_FN(naive_affine)(n, in, out, X, W, b, A);
    if (act.kind == MLP_SIGMOID) {
        for (size_t k = 0; k < n * out; k++) {
            A[k] = MLP_FN(naive_sigmoid)(A[k]);
        }
    }
}

/* D_prev (n, in) = (D (n, out) · Wᵀ) ⊙ act'(A_prev), act' of sigmoid = a (1 − a). */
static void MLP_FN(naive_backward_delta)(size_t n, size_t in, size_t out, const MLP_T *D, const MLP_T *W,
                                         const MLP_T *A_prev, mlp_activation act, MLP_T *D_prev)
{
    const int fused = dense_fused(n, in, out);
    for (size_t r = 0; r < n; r++) {
        for (size_t k = 0; k < in; k++) {
            MLP_T s = D[r * out] * W[k * out];
            for (size_t j = 1; j < out; j++) {
                s = MLP_FN(madd)(fused, s, D[r * out + j], W[k * out + j]);
            }
            const MLP_T a = A_prev[r * in + k];
            D_prev[r * in + k] = act.kind == MLP_SIGMOID ? s * (a * ((MLP_T)1 - a)) : s;
        }
    }
}

/* dW (in, out) = Xᵀ · D, db (out) = Σ_r D[r, :]; sums over r increasing. */
static void MLP_FN(naive_param_grads)(size_t n, size_t in, size_t out, const MLP_T *X, const MLP_T *D, MLP_T *dW,
                                      MLP_T *db)
{
    const int fused = dense_fused(n, in, out);
    for (size_t k = 0; k < in; k++) {
        for (size_t j = 0; j < out; j++) {
            MLP_T s = X[k] * D[j];
            for (size_t r = 1; r < n; r++) {
                s = MLP_FN(madd)(fused, s, X[r * in + k], D[r * out + j]);
            }
            dW[k * out + j] = s;
        }
    }
    for (size_t j = 0; j < out; j++) {
        MLP_T s = D[j];
        for (size_t r = 1; r < n; r++) {
            s += D[r * out + j];
        }
        db[j] = s;
    }
}

/* A product whose C is (rows, cols) over `depth` terms, in the test hook's own convention (naive_product below):
   its (n, k, m) and the lengths of A and B. */
typedef struct {
    size_t n, k, m, la, lb;
} MLP_FN(product_shape);
static MLP_FN(product_shape) MLP_FN(shape_of)(int which, size_t rows, size_t cols, size_t depth)
{
    const size_t n = which == 2 ? depth : rows, k = which == 0 ? depth : which == 1 ? cols : rows;
    const size_t m = which == 1 ? depth : cols;
    return (MLP_FN(product_shape)){n, k, m, which == 1 ? n * m : n * k, which == 2 ? n * m : k * m};
}

/* The three products of dense.c's test hook (mlp_dense_product_path): which 0: C (n, m) = A (n, k)·B (k, m) + bias;
   1: C (n, k) = A (n, m)·Bᵀ, B (k, m); 2: C (k, m) = Aᵀ·B, A (n, k), B (n, m). Each element a sum from the first
   product, p increasing, fused or not. */
static void MLP_FN(naive_product)(int which, int fused, size_t n, size_t k, size_t m, const MLP_T *A,
                                  const MLP_T *B, const MLP_T *bias, MLP_T *C)
{
    const size_t rows = which == 2 ? k : n, cols = which == 1 ? k : m, depth = which == 0 ? k : which == 1 ? m : n;
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) {
            MLP_T s = 0;
            for (size_t p = 0; p < depth; p++) {
                const MLP_T a = which == 0 ? A[r * k + p] : which == 1 ? A[r * m + p] : A[p * k + r];
                const MLP_T b = which == 0 ? B[p * m + c] : which == 1 ? B[c * m + p] : B[p * m + c];
                s = p == 0 ? a * b : MLP_FN(madd)(fused, s, a, b);
            }
            C[r * cols + c] = which == 0 ? s + bias[c] : s;
        }
    }
}

static void MLP_FN(naive_add_scaled)(size_t len, const MLP_T *g, MLP_T lr, MLP_T *p)
{
    for (size_t k = 0; k < len; k++) {
        p[k] += g[k] * lr;
    }
}

static double MLP_FN(naive_lecture_backward)(const mlp_dims *d, const MLP_T *y, const MLP_T *A1, const MLP_T *P,
                                             const MLP_T *W2, MLP_T *D2, MLP_T *D1)
{
    const size_t len = d->n * d->out;
    double *abs_e = malloc(len * sizeof *abs_e);
    for (size_t k = 0; k < len; k++) {
        const MLP_T e = y[k] - P[k];
        abs_e[k] = fabs((double)e);
        D2[k] = e * (P[k] * ((MLP_T)1 - P[k]));
    }
    MLP_FN(naive_backward_delta)(d->n, d->hidden, d->out, D2, W2, A1, MLP_ACT(MLP_SIGMOID), D1);
    const double abs_sum = numpy_sum(abs_e, len); /* np.mean(np.abs(y − P)): NumPy's order */
    free(abs_e);
    return abs_sum / (double)len;
}

static void MLP_FN(naive_lecture_update)(const mlp_dims *d, const MLP_T *X, const MLP_T *A1, const MLP_T *D2,
                                         const MLP_T *D1, MLP_T *W1, MLP_T *b1, MLP_T *W2, MLP_T *b2, MLP_T lr)
{
    MLP_T *dW1 = malloc(d->in * d->hidden * sizeof(MLP_T)), *db1 = malloc(d->hidden * sizeof(MLP_T));
    MLP_T *dW2 = malloc(d->hidden * d->out * sizeof(MLP_T)), *db2 = malloc(d->out * sizeof(MLP_T));
    MLP_FN(naive_param_grads)(d->n, d->hidden, d->out, A1, D2, dW2, db2);
    MLP_FN(naive_param_grads)(d->n, d->in, d->hidden, X, D1, dW1, db1);
    MLP_FN(naive_add_scaled)(d->hidden * d->out, dW2, lr, W2);
    MLP_FN(naive_add_scaled)(d->out, db2, lr, b2);
    MLP_FN(naive_add_scaled)(d->in * d->hidden, dW1, lr, W1);
    MLP_FN(naive_add_scaled)(d->hidden, db1, lr, b1);
    free(dW1);
    free(db1);
    free(dW2);
    free(db2);
}

static double MLP_FN(naive_lecture_step)(const mlp_dims *d, const MLP_T *X, const MLP_T *y, MLP_T *W1, MLP_T *b1,
                                         MLP_T *W2, MLP_T *b2, MLP_T lr)
{
    MLP_T *A1 = malloc(d->n * d->hidden * sizeof(MLP_T)), *D1 = malloc(d->n * d->hidden * sizeof(MLP_T));
    MLP_T *P = malloc(d->n * d->out * sizeof(MLP_T)), *D2 = malloc(d->n * d->out * sizeof(MLP_T));
    MLP_FN(naive_dense_forward)(d->n, d->in, d->hidden, X, W1, b1, MLP_ACT(MLP_SIGMOID), A1);
    MLP_FN(naive_dense_forward)(d->n, d->hidden, d->out, A1, W2, b2, MLP_ACT(MLP_SIGMOID), P);
    const double loss = MLP_FN(naive_lecture_backward)(d, y, A1, P, W2, D2, D1);
    MLP_FN(naive_lecture_update)(d, X, A1, D2, D1, W1, b1, W2, b2, lr);
    free(A1);
    free(D1);
    free(P);
    free(D2);
    return loss;
}

/* ---- one random network: data, parameters (guarded), and their untouched copies ---- */

typedef struct {
    mlp_dims d;
    MLP_T *X, *y, *W1, *b1, *W2, *b2;
    MLP_T *X0, *y0, *W10, *b10, *W20, *b20; /* copies, to check what must stay unchanged */
} MLP_FN(net);

static MLP_FN(net) MLP_FN(net_new)(size_t n, size_t in, size_t hidden, size_t out, double scale)
{
    MLP_FN(net) t;
    t.d = (mlp_dims){n, in, hidden, out, MLP_THREADS(1)};
    t.X = MLP_FN(rand_buf)(n * in, -2, 2);
    t.y = MLP_FN(rand_buf)(n * out, 0, 1);
    t.W1 = MLP_FN(rand_buf)(in * hidden, -scale, scale);
    t.b1 = MLP_FN(rand_buf)(hidden, -scale, scale);
    t.W2 = MLP_FN(rand_buf)(hidden * out, -scale, scale);
    t.b2 = MLP_FN(rand_buf)(out, -scale, scale);
    t.X0 = MLP_FN(copy_of)(t.X, n * in);
    t.y0 = MLP_FN(copy_of)(t.y, n * out);
    t.W10 = MLP_FN(copy_of)(t.W1, in * hidden);
    t.b10 = MLP_FN(copy_of)(t.b1, hidden);
    t.W20 = MLP_FN(copy_of)(t.W2, hidden * out);
    t.b20 = MLP_FN(copy_of)(t.b2, out);
    return t;
}

static void MLP_FN(net_free)(MLP_FN(net) *t)
{
    MLP_T *all[] = {t->X, t->y, t->W1, t->b1, t->W2, t->b2, t->X0, t->y0, t->W10, t->b10, t->W20, t->b20};
    for (size_t k = 0; k < COUNT(all); k++) {
        guarded_free(all[k]);
    }
}

/* The data unchanged and every buffer's guards intact; the parameters unchanged too if params_too. */
static void MLP_FN(check_inputs)(const MLP_FN(net) *t, int params_too)
{
    const mlp_dims *d = &t->d;
    SAME("X unchanged", t->X, t->X0, d->n * d->in);
    SAME("y unchanged", t->y, t->y0, d->n * d->out);
    if (params_too) {
        SAME("W1 unchanged", t->W1, t->W10, d->in * d->hidden);
        SAME("b1 unchanged", t->b1, t->b10, d->hidden);
        SAME("W2 unchanged", t->W2, t->W20, d->hidden * d->out);
        SAME("b2 unchanged", t->b2, t->b20, d->out);
    }
    GUARDS_OK(t->X);
    GUARDS_OK(t->y);
    GUARDS_OK(t->W1);
    GUARDS_OK(t->b1);
    GUARDS_OK(t->W2);
    GUARDS_OK(t->b2);
}

/* ---- activations ---- */

/* mlp_activate(SIGMOID) is the naive formula, bit for bit, at every length (SIMD widths and their tails). */
static void MLP_FN(test_sigmoid_exact)(void)
{
    for (size_t len = 1; len <= 300; len += (len < 80 ? 1 : 7)) {
        MLP_T *a = MLP_FN(buf)(len), *ref = MLP_FN(buf)(len);
        for (size_t k = 0; k < len; k++) {
            /* mostly the interesting range, some saturated values */
            a[k] = (MLP_T)(k % 7 == 3 ? rng_uniform(-800, 800) : rng_uniform(-40, 40));
            ref[k] = MLP_FN(naive_sigmoid)(a[k]);
        }
        MLP_FN(mlp_activate)(MLP_ISA_BEST, MLP_ACT(MLP_SIGMOID), 1, len, a);
        SAME("sigmoid", a, ref, len);
        GUARDS_OK(a);
        guarded_free(a);
        guarded_free(ref);
    }
}

/* The same input gives the same bits whether it is activated in a long buffer (AVX-512 path from 64 elements,
   if the CPU has it), a short one (AVX2/SSE2) or alone: the dispatch paths agree, as activations.c promises. */
static void MLP_FN(test_sigmoid_same_bits_any_length)(void)
{
    const size_t len = 517;
    MLP_T *whole = MLP_FN(buf)(len), *pieces = MLP_FN(buf)(len), *single = MLP_FN(buf)(len);
    MLP_T *tall = MLP_FN(buf)(len), *matrix = MLP_FN(buf)(len);
    for (size_t k = 0; k < len; k++) {
        whole[k] = pieces[k] = single[k] = tall[k] = matrix[k] = (MLP_T)rng_uniform(-60, 60);
    }
    MLP_FN(mlp_activate)(MLP_ISA_BEST, MLP_ACT(MLP_SIGMOID), len, 1, tall);
    MLP_FN(mlp_activate)(MLP_ISA_BEST, MLP_ACT(MLP_SIGMOID), 11, 47, matrix); /* 517 = 11 · 47 */
    MLP_FN(mlp_activate)(MLP_ISA_BEST, MLP_ACT(MLP_SIGMOID), 1, len, whole);
    static const size_t chunks[] = {63, 64, 65, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 127, 5};
    size_t at = 0;
    for (size_t c = 0; at < len; c = (c + 1) % COUNT(chunks)) {
        size_t m = chunks[c] < len - at ? chunks[c] : len - at;
        MLP_FN(mlp_activate)(MLP_ISA_BEST, MLP_ACT(MLP_SIGMOID), 1, m, pieces + at);
        at += m;
    }
    for (size_t k = 0; k < len; k++) {
        MLP_FN(mlp_activate)(MLP_ISA_BEST, MLP_ACT(MLP_SIGMOID), 1, 1, single + k);
    }
    SAME("chunked vs whole", pieces, whole, len);
    SAME("one by one vs whole", single, whole, len);
    SAME("(len, 1) vs (1, len)", tall, whole, len);
    SAME("(11, 47) vs (1, len)", matrix, whole, len);
    GUARDS_OK(tall);
    GUARDS_OK(matrix);
    guarded_free(tall);
    guarded_free(matrix);
    GUARDS_OK(whole);
    GUARDS_OK(pieces);
    GUARDS_OK(single);
    guarded_free(whole);
    guarded_free(pieces);
    guarded_free(single);
}

static void MLP_FN(test_sigmoid_special_values)(void)
{
    /* each of these 8 copies lands in some SIMD lane: a run of 100 exercises the long-buffer path too */
    const MLP_T big = sizeof(MLP_T) == 4 ? FLT_MAX : DBL_MAX;
    const MLP_T zs[] = {1000, -1000, (MLP_T)INFINITY, -(MLP_T)INFINITY, big, -big, 0, -(MLP_T)0.0,
                        (MLP_T)1e-30, (MLP_T)-1e-30, 100, -100, 750, -750, (MLP_T)NAN};
    const size_t nz = COUNT(zs), reps = 8, len = nz * reps;
    MLP_T *a = MLP_FN(buf)(len);
    for (size_t k = 0; k < len; k++) {
        a[k] = zs[k % nz];
    }
    MLP_FN(mlp_activate)(MLP_ISA_BEST, MLP_ACT(MLP_SIGMOID), 1, len, a);
    for (size_t k = 0; k < len; k++) {
        const MLP_T z = zs[k % nz], s = a[k];
        if (isnan(z)) {
            CHECKF(isnan(s), "sigmoid(NaN) = %g, not NaN", (double)s);
            continue;
        }
        CHECKF(!isnan(s) && s >= 0 && s <= 1, "sigmoid(%g) = %g outside [0, 1]", (double)z, (double)s);
        if (z >= 750) {
            CHECKF(s == 1, "sigmoid(%g) = %a, not exactly 1", (double)z, (double)s);
        }
        if (z <= -750) {
            CHECKF(s == 0, "sigmoid(%g) = %a, not exactly 0", (double)z, (double)s);
        }
        if (z == 0) {
            CHECKF(s == (MLP_T)0.5, "sigmoid(%g) = %a, not exactly 0.5", (double)z, (double)s);
        }
    }
    /* a coarse sweep is nondecreasing, and never NaN */
    const size_t m = 3201;
    MLP_T *sweep = MLP_FN(buf)(m);
    for (size_t k = 0; k < m; k++) {
        sweep[k] = (MLP_T)(-800.0 + 0.5 * (double)k);
    }
    MLP_FN(mlp_activate)(MLP_ISA_BEST, MLP_ACT(MLP_SIGMOID), 1, m, sweep);
    for (size_t k = 1; k < m; k++) {
        CHECKF(sweep[k - 1] <= sweep[k], "sigmoid decreases between %g and %g", -800.0 + 0.5 * (double)(k - 1),
               -800.0 + 0.5 * (double)k);
    }
    GUARDS_OK(a);
    GUARDS_OK(sweep);
    guarded_free(a);
    guarded_free(sweep);
}

/* Tolerance: the kernel's sigmoid against the same formula on libm's exp. In double they round differently (ours
   forms 1 + e^−z in one step, within 0.62 ulp; libm's exp within about 0.5 ulp, then 1 + e rounds once more) and
   the division rounds both: they can differ by a few ulps (bound 4). Results below DBL_MIN are flushed to 0. In
   float the value is computed in double and rounded once, so the two differ by at most the one float ulp of a
   double rounding near a float midpoint. */
static void MLP_FN(test_sigmoid_vs_libm)(void)
{
    const int64_t bound = sizeof(MLP_T) == 8 ? 4 : 1;
    const size_t len = 20000;
    MLP_T *a = MLP_FN(buf)(len);
    for (size_t k = 0; k < len; k++) {
        a[k] = (MLP_T)(k % 4 == 0 ? rng_uniform(-745, 745) : rng_uniform(-40, 40));
    }
    MLP_T *z = MLP_FN(copy_of)(a, len);
    MLP_FN(mlp_activate)(MLP_ISA_BEST, MLP_ACT(MLP_SIGMOID), 1, len, a);
    int64_t worst = 0;
    for (size_t k = 0; k < len; k++) {
        MLP_T ref = (MLP_T)(1.0 / (1.0 + exp(-(double)z[k])));
        ref = ref < (sizeof(MLP_T) == sizeof(float) ? FLT_MIN : DBL_MIN) ? 0 : ref; /* flushed (vmath.h) */
        int64_t dist = (int64_t)MLP_ORD(a[k]) - (int64_t)MLP_ORD(ref);
        dist = dist < 0 ? -dist : dist;
        if (dist > worst) {
            worst = dist;
        }
        CHECKF(dist <= bound, "sigmoid(%a) = %a, libm-based %a: %" PRId64 " ulp apart", (double)z[k], (double)a[k],
               (double)ref, dist);
    }
    printf("     sigmoid vs libm (%s): at most %" PRId64 " ulp apart\n", sizeof(MLP_T) == 8 ? "f64" : "f32", worst);
    guarded_free(a);
    guarded_free(z);
}

static void MLP_FN(test_activation_identity)(void)
{
    const size_t len = 100;
    MLP_T *a = MLP_FN(rand_buf)(len, -5, 5), *d = MLP_FN(rand_buf)(len, -5, 5);
    MLP_T *a0 = MLP_FN(copy_of)(a, len), *d0 = MLP_FN(copy_of)(d, len);
    MLP_FN(mlp_activate)(MLP_ISA_BEST, MLP_ACT(MLP_IDENTITY), 1, len, a);
    MLP_FN(mlp_mul_activation_grad)(MLP_ISA_BEST, MLP_ACT(MLP_IDENTITY), 1, len, a, d);
    SAME("identity activation", a, a0, len);
    SAME("identity derivative", d, d0, len);
    GUARDS_OK(a);
    GUARDS_OK(d);
    guarded_free(a);
    guarded_free(d);
    guarded_free(a0);
    guarded_free(d0);
}

static void MLP_FN(test_mul_activation_grad_exact)(void)
{
    for (size_t len = 1; len <= 130; len++) {
        MLP_T *a = MLP_FN(rand_buf)(len, 0, 1), *d = MLP_FN(rand_buf)(len, -3, 3);
        MLP_T *a0 = MLP_FN(copy_of)(a, len), *ref = MLP_FN(copy_of)(d, len);
        a[0] = 1; /* saturated: derivative exactly 0 */
        a0[0] = 1;
        for (size_t k = 0; k < len; k++) {
            ref[k] = ref[k] * (a[k] * ((MLP_T)1 - a[k]));
        }
        MLP_FN(mlp_mul_activation_grad)(MLP_ISA_BEST, MLP_ACT(MLP_SIGMOID), 1, len, a, d);
        SAME("d * a(1 - a)", d, ref, len);
        SAME("a unchanged", a, a0, len);
        CHECK(d[0] == 0);
        GUARDS_OK(a);
        GUARDS_OK(d);
        guarded_free(a);
        guarded_free(d);
        guarded_free(a0);
        guarded_free(ref);
    }
}

/* The other activations (tanh, ReLU, leaky ReLU, softmax) and their gradients, against the formulas of mlp.h,
   in the kernel's precision: tanh of the element's own type (vmath.h's mlp_tanhf for float, as NumPy keeps the
   dtype), softmax row by row as e^(z − max) / Σ e^(z − max) with the exp in double rounded to the type and the sum in the type,
   in column order. Exact. */
static MLP_T MLP_FN(naive_tanh)(MLP_T z)
{
    return sizeof(MLP_T) == 4 ? (MLP_T)mlp_tanhf((float)z) : (MLP_T)tanh((double)z);
}

static void MLP_FN(naive_softmax_row)(size_t cols, MLP_T *row)
{
    MLP_T max = row[0];
    for (size_t j = 1; j < cols; j++) {
        max = row[j] > max ? row[j] : max;
    }
    MLP_T sum = 0;
    for (size_t j = 0; j < cols; j++) {
        row[j] = (MLP_T)mlp_exp((double)(row[j] - max));
        sum += row[j];
    }
    for (size_t j = 0; j < cols; j++) {
        row[j] = row[j] / sum;
    }
}

static void MLP_FN(naive_activate)(mlp_activation act, size_t rows, size_t cols, MLP_T *a)
{
    const MLP_T slope = (MLP_T)act.slope;
    for (size_t k = 0; k < rows * cols; k++) {
        switch (act.kind) {
        case MLP_SIGMOID: a[k] = MLP_FN(naive_sigmoid)(a[k]); break;
        case MLP_TANH: a[k] = MLP_FN(naive_tanh)(a[k]); break;
        case MLP_RELU: a[k] = a[k] < 0 ? 0 : a[k]; break;
        case MLP_LEAKY_RELU: a[k] = a[k] < 0 ? slope * a[k] : a[k]; break;
        default: break;
        }
    }
    if (act.kind == MLP_SOFTMAX) {
        for (size_t r = 0; r < rows; r++) {
            MLP_FN(naive_softmax_row)(cols, a + r * cols);
        }
    }
}

static void MLP_FN(naive_mul_activation_grad)(mlp_activation act, size_t rows, size_t cols, const MLP_T *a, MLP_T *d)
{
    const MLP_T slope = (MLP_T)act.slope;
    for (size_t k = 0; k < rows * cols; k++) {
        switch (act.kind) {
        case MLP_SIGMOID: d[k] = d[k] * (a[k] * ((MLP_T)1 - a[k])); break;
        case MLP_TANH: d[k] = d[k] * ((MLP_T)1 - a[k] * a[k]); break;
        case MLP_RELU: d[k] = a[k] > 0 ? d[k] : d[k] * 0; break;
        case MLP_LEAKY_RELU: d[k] = a[k] > 0 ? d[k] : d[k] * slope; break;
        default: break;
        }
    }
    if (act.kind == MLP_SOFTMAX) {
        for (size_t r = 0; r < rows; r++) {
            const MLP_T *ar = a + r * cols;
            MLP_T *dr = d + r * cols, dot = 0;
            for (size_t j = 0; j < cols; j++) {
                dot += ar[j] * dr[j];
            }
            for (size_t j = 0; j < cols; j++) {
                dr[j] = ar[j] * (dr[j] - dot);
            }
        }
    }
}

static void MLP_FN(test_all_activations_exact)(void)
{
    static const mlp_activation acts[] = {
        {MLP_IDENTITY, 0}, {MLP_SIGMOID, 0}, {MLP_TANH, 0}, {MLP_RELU, 0},
        {MLP_LEAKY_RELU, 0.01}, {MLP_LEAKY_RELU, 0.3}, {MLP_LEAKY_RELU, 0}, {MLP_SOFTMAX, 0},
    };
    static const size_t shapes[][2] = {{1, 1}, {1, 7}, {7, 1}, {3, 5}, {4, 64}, {65, 3}, {2, 130}, {130, 10}};
    for (size_t i = 0; i < COUNT(acts); i++) {
        for (size_t s = 0; s < COUNT(shapes); s++) {
            const size_t rows = shapes[s][0], cols = shapes[s][1], len = rows * cols;
            MLP_T *a = MLP_FN(buf)(len), *ref = MLP_FN(buf)(len);
            for (size_t k = 0; k < len; k++) {
                /* mostly moderate values, some huge, exact zeros and negative zeros, a few NaN and infinities */
                double v = k % 11 == 5 ? rng_uniform(-900, 900) : rng_uniform(-6, 6);
                v = k % 13 == 7 ? 0.0 : (k % 17 == 3 ? -0.0 : v);
                v = k % 101 == 50 ? NAN : k % 103 == 51 ? INFINITY : k % 107 == 52 ? -INFINITY : v;
                a[k] = ref[k] = (MLP_T)v;
            }
            MLP_FN(mlp_activate)(MLP_ISA_BEST, acts[i], rows, cols, a);
            MLP_FN(naive_activate)(acts[i], rows, cols, ref);
            if (!MLP_FN(same_bits_or_nan)(__LINE__, "activate", a, ref, len)) {
                report(__LINE__, "  activation kind %d slope %g, shape (%zu, %zu)", (int)acts[i].kind,
                       acts[i].slope, rows, cols);
            }
            /* the gradient, taken from the activation just computed, in each build the CPU has */
            MLP_T *d0 = MLP_FN(rand_buf)(len, -2, 2), *dref = MLP_FN(copy_of)(d0, len), *a0 = MLP_FN(copy_of)(a, len);
            MLP_FN(naive_mul_activation_grad)(acts[i], rows, cols, a, dref);
            static const mlp_isa isas[] = {MLP_ISA_GENERIC, MLP_ISA_AVX2, MLP_ISA_AVX512};
            for (size_t k = 0; k < COUNT(isas); k++) {
                if (!mlp_isa_available(isas[k])) {
                    continue;
                }
                MLP_T *d = MLP_FN(copy_of)(d0, len);
                MLP_FN(mlp_mul_activation_grad)(isas[k], acts[i], rows, cols, a, d);
                if (!MLP_FN(same_bits_or_nan)(__LINE__, "activation gradient", d, dref, len)) {
                    report(__LINE__, "  activation kind %d slope %g, shape (%zu, %zu), isa %d", (int)acts[i].kind,
                           acts[i].slope, rows, cols, (int)isas[k]);
                }
                GUARDS_OK(d);
                guarded_free(d);
            }
            SAME("a unchanged by the gradient", a, a0, len);
            GUARDS_OK(a);
            MLP_T *all[] = {a, ref, d0, dref, a0};
            for (size_t k = 0; k < COUNT(all); k++) {
                guarded_free(all[k]);
            }
        }
    }
}

/* Softmax rows: in [0, 1], summing to 1 within the rounding of a cols-term sum and cols divisions
   (tolerance (cols + 2)·u: each output is rounded once by the exp, once by the division, and the sum
   accumulates cols roundings); logits of ±1000 do not overflow (the row max is subtracted first); a NaN logit
   makes its whole row NaN and leaves the other rows alone. */
static void MLP_FN(test_softmax_properties)(void)
{
    const double u = sizeof(MLP_T) == 8 ? 0x1p-53 : 0x1p-24;
    const size_t rows = 6, cols = 9, len = rows * cols;
    MLP_T *a = MLP_FN(rand_buf)(len, -10, 10);
    a[1 * cols + 2] = 1000;
    a[2 * cols + 0] = -1000;
    a[3 * cols + 4] = 1000;
    a[3 * cols + 5] = 1000;
    a[4 * cols + 1] = (MLP_T)NAN;
    a[5 * cols + 3] = -(MLP_T)INFINITY;
    MLP_FN(mlp_activate)(MLP_ISA_BEST, MLP_ACT(MLP_SOFTMAX), rows, cols, a);
    for (size_t r = 0; r < rows; r++) {
        double sum = 0;
        int any_nan = 0;
        for (size_t j = 0; j < cols; j++) {
            const MLP_T v = a[r * cols + j];
            any_nan |= isnan(v);
            if (r != 4) {
                CHECKF(v >= 0 && v <= 1, "softmax[%zu, %zu] = %g outside [0, 1]", r, j, (double)v);
            }
            sum += (double)v;
        }
        if (r == 4) {
            for (size_t j = 0; j < cols; j++) {
                CHECKF(isnan(a[r * cols + j]), "row with a NaN logit: softmax[%zu, %zu] = %g", r, j,
                       (double)a[r * cols + j]);
            }
        } else {
            CHECKF(!any_nan && fabs(sum - 1) <= (double)(cols + 2) * u, "row %zu sums to %.17g", r, sum);
        }
    }
    CHECK(a[1 * cols + 2] == 1);                                  /* one logit 1000 above the rest */
    CHECK(a[3 * cols + 4] == (MLP_T)0.5 && a[3 * cols + 5] == (MLP_T)0.5); /* two equal maxima */
    CHECK(a[5 * cols + 3] == 0);                                  /* e^-inf */
    GUARDS_OK(a);
    guarded_free(a);
}

/* ---- the dense layer ---- */

static void MLP_FN(test_dense_forward_exact)(void)
{
    FOR_DENSE_SHAPES({
        for (int act = 0; act < 2; act++) {
            MLP_T *X = MLP_FN(rand_buf)(n * in, -2, 2), *W = MLP_FN(rand_buf)(in * out, -2, 2);
            MLP_T *b = MLP_FN(rand_buf)(out, -1, 1), *A = MLP_FN(buf)(n * out), *ref = MLP_FN(buf)(n * out);
            MLP_T *X0 = MLP_FN(copy_of)(X, n * in), *W0 = MLP_FN(copy_of)(W, in * out), *b0 = MLP_FN(copy_of)(b, out);
            MLP_T *S = MLP_FN(buf)(n * out);
            const mlp_activation a = MLP_ACT(act ? MLP_SIGMOID : MLP_IDENTITY);
            MLP_FN(mlp_dense_forward)(n, in, out, X, W, b, a, A, S, MLP_THREADS(1));
            MLP_FN(naive_dense_forward)(n, in, out, X, W, b, a, ref);
            if (!SAME("dense forward", A, ref, n * out)) {
                report(__LINE__, "  at n=%zu in=%zu out=%zu act=%d", n, in, out, act);
            }
            SAME("X unchanged", X, X0, n * in);
            SAME("W unchanged", W, W0, in * out);
            SAME("b unchanged", b, b0, out);
            GUARDS_OK(A);
            GUARDS_OK(S);
            MLP_T *all[] = {X, W, b, A, S, ref, X0, W0, b0};
            for (size_t k = 0; k < COUNT(all); k++) {
                guarded_free(all[k]);
            }
        }
    });
}

/* Tolerance: against sums accumulated in long double (another rounding than the kernel's, which rounds each
   step to MLP_T). The classic bound for a k-term dot product computed in working precision is
   |computed − exact| <= gamma_k · Σ|terms|, gamma_k = k·u / (1 − k·u); here k = in + 1 (the bias is the last
   term; a sum in halves is a shallower tree, within the same bound). The long-double reference is itself inexact
   (tiny, or as large as the kernel's error under valgrind, where long double is double), hence the factor 2. */
static void MLP_FN(test_dense_forward_vs_long_double)(void)
{
    const long double u = sizeof(MLP_T) == 8 ? 0x1p-53L : 0x1p-24L;
    FOR_DENSE_SHAPES({
        MLP_T *X = MLP_FN(rand_buf)(n * in, -3, 3), *W = MLP_FN(rand_buf)(in * out, -3, 3);
        MLP_T *b = MLP_FN(rand_buf)(out, -3, 3), *A = MLP_FN(buf)(n * out), *S = MLP_FN(buf)(n * out);
        MLP_FN(mlp_dense_forward)(n, in, out, X, W, b, MLP_ACT(MLP_IDENTITY), A, S, MLP_THREADS(1));
        const long double k = (long double)(in + 1), gamma = k * u / (1 - k * u);
        for (size_t r = 0; r < n; r++) {
            for (size_t j = 0; j < out; j++) {
                long double s = b[j], mag = fabsl((long double)b[j]);
                for (size_t i = 0; i < in; i++) {
                    const long double term = (long double)X[r * in + i] * (long double)W[i * out + j];
                    s += term;
                    mag += fabsl(term);
                }
                const long double err = fabsl((long double)A[r * out + j] - s);
                CHECKF(err <= 2 * gamma * mag, "n=%zu in=%zu out=%zu A[%zu,%zu]: error %Lg > bound %Lg", n, in, out,
                       r, j, err, 2 * gamma * mag);
            }
        }
        guarded_free(X);
        guarded_free(W);
        guarded_free(b);
        guarded_free(A);
        guarded_free(S);
    });
}

static void MLP_FN(test_dense_backward_delta_exact)(void)
{
    FOR_DENSE_SHAPES({
        for (int act = 0; act < 2; act++) {
            MLP_T *D = MLP_FN(rand_buf)(n * out, -1, 1), *W = MLP_FN(rand_buf)(in * out, -2, 2);
            MLP_T *Ap = MLP_FN(rand_buf)(n * in, 0, 1), *Dp = MLP_FN(buf)(n * in), *ref = MLP_FN(buf)(n * in);
            MLP_T *D0 = MLP_FN(copy_of)(D, n * out), *W0 = MLP_FN(copy_of)(W, in * out);
            MLP_T *Ap0 = MLP_FN(copy_of)(Ap, n * in);
            const mlp_activation a = MLP_ACT(act ? MLP_SIGMOID : MLP_IDENTITY);
            MLP_FN(mlp_dense_backward_delta)(n, in, out, D, W, Ap, a, Dp, MLP_THREADS(1));
            MLP_FN(naive_backward_delta)(n, in, out, D, W, Ap, a, ref);
            if (!SAME("backward delta", Dp, ref, n * in)) {
                report(__LINE__, "  at n=%zu in=%zu out=%zu act=%d", n, in, out, act);
            }
            SAME("D unchanged", D, D0, n * out);
            SAME("W unchanged", W, W0, in * out);
            SAME("A_prev unchanged", Ap, Ap0, n * in);
            GUARDS_OK(Dp);
            MLP_T *all[] = {D, W, Ap, Dp, ref, D0, W0, Ap0};
            for (size_t k = 0; k < COUNT(all); k++) {
                guarded_free(all[k]);
            }
        }
    });
}

static void MLP_FN(test_dense_param_grads_exact)(void)
{
    FOR_DENSE_SHAPES({
        MLP_T *X = MLP_FN(rand_buf)(n * in, -2, 2), *D = MLP_FN(rand_buf)(n * out, -1, 1);
        MLP_T *dW = MLP_FN(buf)(in * out), *db = MLP_FN(buf)(out);
        MLP_T *dW_ref = MLP_FN(buf)(in * out), *db_ref = MLP_FN(buf)(out);
        MLP_T *X0 = MLP_FN(copy_of)(X, n * in), *D0 = MLP_FN(copy_of)(D, n * out);
        MLP_FN(mlp_dense_param_grads)(n, in, out, X, D, dW, db, MLP_THREADS(1));
        MLP_FN(naive_param_grads)(n, in, out, X, D, dW_ref, db_ref);
        if (!SAME("dW", dW, dW_ref, in * out) || !SAME("db", db, db_ref, out)) {
            report(__LINE__, "  at n=%zu in=%zu out=%zu", n, in, out);
        }
        SAME("X unchanged", X, X0, n * in);
        SAME("D unchanged", D, D0, n * out);
        GUARDS_OK(dW);
        GUARDS_OK(db);
        MLP_T *all[] = {X, D, dW, db, dW_ref, db_ref, X0, D0};
        for (size_t k = 0; k < COUNT(all); k++) {
            guarded_free(all[k]);
        }
    });
}

/* Each build of each product (the portable one; AVX2 and AVX-512, fused and unfused: those this CPU has) against
   the naive loop, bit for bit: the portable build and the unfused kernels sum products rounded one by one, the
   fused kernels chains of fma (see dense_simd_impl.h), in the same order. Sizes around the register tiles
   (AVX-512: 12 rows × 2 vectors, AVX2: 6 × 2; a vector is 16 or 8 floats, 8 or 4 doubles), every count of rows
   fewer than a tile (one tile of their own: gemm_strip), their masked last vectors, the blocks of the sum
   (256 deep), and for up to 3 rows of A times a B larger than mlp_dense_product_path's L2 (512 KB), the blocks
   of 8 (nn_depth: that path runs a product unsplit; the same sizes with 4 rows keep 256). */
static void MLP_FN(test_dense_products_each_path)(void)
{
    static const size_t ROWS[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 24, 25};
    static const size_t COLS[] = {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 50};
    static const size_t DEPTH[] = {1, 2, 7};
    static const size_t DEEP_ROWS[] = {1, 3, 5, 7, 10, 13, 25}, DEEP_COLS[] = {1, 17, 33};
    static const size_t DEEP[] = {255, 256, 257, 600};
    /* 1031 × 129 floats: more than 512 KB; and rows of 4096 bytes, a multiple of an L1 way, as 784-2048-10's */
    static const size_t ROW_ROWS[] = {1, 3, 4, 5, 7}, ROW_COLS[] = {129, 250, 4096 / sizeof(MLP_T)};
    static const size_t ROW_DEEP[] = {1031};
    static const size_t *const GROUP_ROWS[] = {ROWS, DEEP_ROWS, ROW_ROWS};
    static const size_t *const GROUP_COLS[] = {COLS, DEEP_COLS, ROW_COLS};
    static const size_t *const GROUP_DEPTH[] = {DEPTH, DEEP, ROW_DEEP};
    static const size_t GROUP_SIZES[][3] = {{COUNT(ROWS), COUNT(COLS), COUNT(DEPTH)},
                                            {COUNT(DEEP_ROWS), COUNT(DEEP_COLS), COUNT(DEEP)},
                                            {COUNT(ROW_ROWS), COUNT(ROW_COLS), COUNT(ROW_DEEP)}};
    static const char *const names[] = {"A·B + bias", "A·Bᵀ", "Aᵀ·B"}, *const paths[] = {"portable", "avx2 fused", "avx512 fused", "avx2 unfused", "avx512 unfused"};
    int ran[5] = {0, 0, 0, 0, 0};
    for (int which = 0; which < 3; which++) {
        for (int path = 0; path < 5; path++) {
            for (size_t g = 0; g < COUNT(GROUP_ROWS); g++) {
                const size_t *R = GROUP_ROWS[g], *Cs = GROUP_COLS[g], *K = GROUP_DEPTH[g];
                const size_t nr = GROUP_SIZES[g][0], nc = GROUP_SIZES[g][1], nk = GROUP_SIZES[g][2];
                for (size_t ir = 0; ir < nr; ir++) {
                    for (size_t ic = 0; ic < nc; ic++) {
                        for (size_t ik = 0; ik < nk; ik++) {
                            const size_t rows = R[ir], cols = Cs[ic], depth = K[ik];
                            const MLP_FN(product_shape) sh = MLP_FN(shape_of)(which, rows, cols, depth);
                            const size_t n = sh.n, k = sh.k, m = sh.m, la = sh.la, lb = sh.lb;
                            MLP_T *A = MLP_FN(rand_buf)(la, -2, 2), *B = MLP_FN(rand_buf)(lb, -2, 2);
                            MLP_T *bias = MLP_FN(rand_buf)(cols, -1, 1), *C = MLP_FN(buf)(rows * cols);
                            MLP_T *ref = MLP_FN(buf)(rows * cols);
                            MLP_T *A0 = MLP_FN(copy_of)(A, la), *B0 = MLP_FN(copy_of)(B, lb);
                            if (MLP_FN(mlp_dense_product_path)(which, path, n, k, m, A, B, bias, C)) {
                                ran[path] = 1;
                                MLP_FN(naive_product)(which, path == 1 || path == 2, n, k, m, A, B, bias, ref);
                                if (!SAME("product", C, ref, rows * cols)) {
                                    report(__LINE__, "  %s, %s: rows %zu cols %zu depth %zu", names[which],
                                           paths[path], rows, cols, depth);
                                }
                                SAME("A unchanged", A, A0, la);
                                SAME("B unchanged", B, B0, lb);
                                GUARDS_OK(C);
                            }
                            MLP_T *all[] = {A, B, bias, C, ref, A0, B0};
                            for (size_t q = 0; q < COUNT(all); q++) {
                                guarded_free(all[q]);
                            }
                        }
                    }
                }
            }
        }
    }
    CHECKF(ran[0], "the portable build did not run");
    printf("     dense products (%s): checked the builds", sizeof(MLP_T) == 8 ? "f64" : "f32");
    const char *sep = ": ";
    for (int path = 0; path < 5; path++) {
        if (ran[path]) {
            printf("%s%s", sep, paths[path]);
            sep = ", ";
        }
    }
    printf("\n");
}

/* The data of the split-product tests, in one of two shapes, and the products on one thread. Shape 0: n·in·out =
   3.4 M multiply-adds (>= MLP_PARALLEL_MIN_OPS), X·W and D·Wᵀ cut into up to 5 parts of 48 rows
   (MLP_PARALLEL_MIN_ROWS), Xᵀ·D into up to 8, none a multiple of any tile — except D·Wᵀ on 7 threads, which no more
   than one such part each would reach: cut into 7 ranges of columns (MLP_COLS_ALIGN, of its 12). Shape 1: 1.4 M on
   70 rows, 130 → 150, so X·W + b and D·Wᵀ are cut by columns (up to 4 parts, the last 22 or 2 wide), Xᵀ·D into 2.
   Shape 2: 33.6 M, 200 rows, 400 → 420, large enough to pack both factors. */
typedef struct {
    size_t n, in, out;
    MLP_T *X, *W, *b, *D;
    MLP_T *A, *Dp, *dW, *db; /* X·W + b (sigmoid), D·Wᵀ (tanh'), Xᵀ·D, Σ D: one thread */
    MLP_T *Wu, *bu;          /* W + dW·lr, b + db·lr (mlp_add_scaled): one thread */
} MLP_FN(split_case);

#define SPLIT_OUTS 6
#define SPLIT_LR ((MLP_T)0.375)

static MLP_FN(split_case) MLP_FN(split_case_new)(int with_subnormals, int shape)
{
    MLP_FN(split_case) c = {261, 389, 33, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    if (shape == 1) {
        c.n = 70, c.in = 130, c.out = 150;
    } else if (shape == 2) { /* 33.6 M: packed (MLP_DENSE_PACK_MIN) */
        c.n = 200, c.in = 400, c.out = 420;
    }
    const size_t n = c.n, in = c.in, out = c.out;
    CHECKF(n * in * out >= MLP_PARALLEL_MIN_OPS, "the sizes must reach the threshold (%zu)", n * in * out);
    c.X = MLP_FN(rand_buf)(n * in, -2, 2), c.W = MLP_FN(rand_buf)(in * out, -0.1, 0.1);
    c.b = MLP_FN(rand_buf)(out, -1, 1), c.D = MLP_FN(rand_buf)(n * out, -1, 1);
    const MLP_T subnormal = sizeof(MLP_T) == sizeof(float) ? (MLP_T)1e-40 : (MLP_T)1e-310;
    for (size_t k = 0; with_subnormals && k < n * out; k += 37) {
        c.D[k] = subnormal;
    }
    c.A = MLP_FN(buf)(n * out), c.Dp = MLP_FN(buf)(n * in), c.dW = MLP_FN(buf)(in * out), c.db = MLP_FN(buf)(out);
    MLP_T *S = MLP_FN(buf)(n * out);
    MLP_FN(mlp_dense_forward)(n, in, out, c.X, c.W, c.b, MLP_ACT(MLP_SIGMOID), c.A, S, MLP_THREADS(1));
    guarded_free(S);
    MLP_FN(mlp_dense_backward_delta)(n, in, out, c.D, c.W, c.X, MLP_ACT(MLP_TANH), c.Dp, MLP_THREADS(1));
    MLP_FN(mlp_dense_param_grads)(n, in, out, c.X, c.D, c.dW, c.db, MLP_THREADS(1));
    c.Wu = MLP_FN(buf)(in * out), c.bu = MLP_FN(buf)(out);
    memcpy(c.Wu, c.W, in * out * sizeof *c.W);
    memcpy(c.bu, c.b, out * sizeof *c.b);
    MLP_FN(mlp_add_scaled)(in * out, c.dW, SPLIT_LR, c.Wu);
    MLP_FN(mlp_add_scaled)(out, c.db, SPLIT_LR, c.bu);
    return c;
}

static void MLP_FN(split_case_free)(MLP_FN(split_case) *c)
{
    MLP_T *bufs[] = {c->X, c->W, c->b, c->D, c->A, c->Dp, c->dW, c->db, c->Wu, c->bu};
    for (size_t k = 0; k < COUNT(bufs); k++) {
        guarded_free(bufs[k]);
    }
}

/* The case's three products with `threads`, into fresh buffers: A, Dp, dW, db (mlp_dense_param_grads); and the
   update mlp_dense_param_step makes of copies of W and b, its dW and db in working buffers of their own (the SIMD
   kernels add the sums to W as they store them, and leave dW unfinished; db is checked here). */
static void MLP_FN(split_case_run)(const MLP_FN(split_case) *c, mlp_threads threads, MLP_T *out[SPLIT_OUTS])
{
    const size_t n = c->n, in = c->in, m = c->out;
    out[0] = MLP_FN(buf)(n * m), out[1] = MLP_FN(buf)(n * in), out[2] = MLP_FN(buf)(in * m), out[3] = MLP_FN(buf)(m);
    out[4] = MLP_FN(buf)(in * m), out[5] = MLP_FN(buf)(m);
    memcpy(out[4], c->W, in * m * sizeof *c->W);
    memcpy(out[5], c->b, m * sizeof *c->b);
    MLP_T *S = MLP_FN(buf)(n * m);
    MLP_FN(mlp_dense_forward)(n, in, m, c->X, c->W, c->b, MLP_ACT(MLP_SIGMOID), out[0], S, threads);
    guarded_free(S);
    MLP_FN(mlp_dense_backward_delta)(n, in, m, c->D, c->W, c->X, MLP_ACT(MLP_TANH), out[1], threads);
    MLP_FN(mlp_dense_param_grads)(n, in, m, c->X, c->D, out[2], out[3], threads);
    MLP_T *dW = MLP_FN(buf)(in * m), *db = MLP_FN(buf)(m);
    MLP_FN(mlp_dense_param_step)(n, in, m, c->X, c->D, dW, db, SPLIT_LR, out[4], out[5], threads);
    SAME("Σ D, mlp_dense_param_step's db", db, c->db, m);
    GUARDS_OK(dW);
    GUARDS_OK(db);
    guarded_free(dW);
    guarded_free(db);
}

/* Checks split_case_run's buffers against the one-thread results, and frees them. */
static void MLP_FN(split_case_check)(const MLP_FN(split_case) *c, MLP_T *out[SPLIT_OUTS], const char *how)
{
    char what[SPLIT_OUTS][96];
    snprintf(what[0], sizeof what[0], "X·W + b, %s", how);
    snprintf(what[1], sizeof what[1], "D·Wᵀ, %s", how);
    snprintf(what[2], sizeof what[2], "Xᵀ·D, %s", how);
    snprintf(what[3], sizeof what[3], "Σ D, %s", how);
    snprintf(what[4], sizeof what[4], "W + Xᵀ·D·lr, %s", how);
    snprintf(what[5], sizeof what[5], "b + Σ D·lr, %s", how);
    SAME(what[0], out[0], c->A, c->n * c->out);
    SAME(what[1], out[1], c->Dp, c->n * c->in);
    SAME(what[2], out[2], c->dW, c->in * c->out);
    SAME(what[3], out[3], c->db, c->out);
    SAME(what[4], out[4], c->Wu, c->in * c->out);
    SAME(what[5], out[5], c->bu, c->out);
    for (size_t k = 0; k < SPLIT_OUTS; k++) {
        GUARDS_OK(out[k]);
        guarded_free(out[k]);
    }
}

/* The three products split among threads started for them (mlp_parallel without a team) give the bits of one
   thread, with the range cut in several places (2, 3 and 7 threads asked); with clean data, and with a share of
   subnormal deltas (the tests run with subnormals kept: the binding's flush is the caller's mode, which the parts
   take, test_parts_take_the_callers_fpmode). */
static void MLP_FN(test_dense_threads_same_bits)(void)
{
    for (int case_ = 0; case_ < 4; case_++) { /* with and without subnormals, each shape */
        MLP_FN(split_case) c = MLP_FN(split_case_new)(case_ & 1, case_ >> 1);
        static const size_t parts[] = {2, 3, 7};
        for (size_t t = 0; t < COUNT(parts); t++) {
            MLP_T *out[SPLIT_OUTS];
            MLP_FN(split_case_run)(&c, MLP_THREADS(parts[t]), out);
            char how[96];
            snprintf(how, sizeof how, "shape %d, %zu threads started for it", case_ >> 1, parts[t]);
            MLP_FN(split_case_check)(&c, out, how);
        }
        MLP_FN(split_case_free)(&c);
    }
}

/* Products large enough to pack both factors, split among 2 and 3 threads on the AVX2 kernels, whose parts share
   one packed B (dense_impl.h, product_pack_memory), blocked for the fallback geometry and for a tiny one (many
   blocks, and chunks for the parts to claim): on threads started for them and on a team of 2 helpers, the bits of
   one thread. */
static void MLP_FN(test_dense_shared_b_same_bits)(void)
{
#ifdef MLP_X86_DISPATCH /* a build with the SIMD kernels (simd.h) */
    const int avx2 = MLP_CPU_AVX2_FMA();
#else
    const int avx2 = 0;
#endif
    if (!avx2) {
        printf("     shared B (%s): no AVX2 kernels in this build or on this CPU\n",
               sizeof(MLP_T) == 8 ? "f64" : "f32");
        return;
    }
    MLP_FN(split_case) c = MLP_FN(split_case_new)(0, 2);
    void *memory = malloc(mlp_team_bytes());
    mlp_team *team = mlp_team_start(memory, 2);
    CHECKF(team != NULL, "a team of 2 helpers starts");
    const mlp_cache caches[] = {{0, 0, 0}, {3072, 3, 20000}};
    for (int on_team = 0; on_team < 2; on_team++) {
        for (size_t count = 2; count <= 3; count++) {
            MLP_T *out[SPLIT_OUTS];
            const mlp_threads threads = {count, on_team ? team : NULL, MLP_ISA_AVX2, caches[on_team], {malloc, free}};
            MLP_FN(split_case_run)(&c, threads, out);
            char how[96];
            snprintf(how, sizeof how, "B shared by %zu parts, %s", count, on_team ? "on a team, tiny caches" :
                     "threads started for it");
            MLP_FN(split_case_check)(&c, out, how);
        }
    }
    if (team != NULL) {
        mlp_team_stop(team);
    }
    free(memory);
    MLP_FN(split_case_free)(&c);
}

/* A Python thread's training on a shared team (test_dense_team_same_bits). */
typedef struct {
    const MLP_FN(split_case) *c;
    mlp_team *team;
    MLP_T *out[8][SPLIT_OUTS];
} MLP_FN(team_user);

static void *MLP_FN(team_user_main)(void *p)
{
    MLP_FN(team_user) *u = p;
    for (size_t r = 0; r < COUNT(u->out); r++) {
        MLP_FN(split_case_run)(u->c, (mlp_threads){2, u->team, MLP_ISA_BEST, {0, 0, 0}, {malloc, free}}, u->out[r]);
    }
    return NULL;
}

/* The same products on a team of helpers kept between products (parallel.c): teams of 1, 3 and 6 helpers, asked
   for 2, 4 and 7 threads (more than the team has: these products, below MLP_PARALLEL_START_MIN_OPS, run on all
   its helpers; fewer: the other helpers sit out); each product run twice, the second time after the helpers have
   gone to sleep (2 ms > MLP_TEAM_POLL_NS); and three threads sharing one team at once (one product runs on it at
   a time, the others on their calling thread). Every result has the bits of one thread. */
static void MLP_FN(test_dense_team_same_bits)(void)
{
    MLP_FN(split_case) c = MLP_FN(split_case_new)(0, 0);
    static const size_t helpers[] = {1, 3, 6}, counts[] = {2, 4, 7};
    for (size_t h = 0; h < COUNT(helpers); h++) {
        void *memory = malloc(mlp_team_bytes());
        mlp_team *team = mlp_team_start(memory, helpers[h]);
        CHECKF(team != NULL && mlp_team_helpers(team) == helpers[h] && mlp_team_ours(team),
               "a team of %zu helpers starts", helpers[h]);
        if (team == NULL) {
            free(memory);
            continue;
        }
        for (size_t t = 0; t < COUNT(counts); t++) {
            for (int round = 0; round < 2; round++) {
                if (round == 1) {
                    nanosleep(&(struct timespec){0, 2000000}, NULL);
                }
                MLP_T *out[SPLIT_OUTS];
                const mlp_threads threads = {counts[t], team, MLP_ISA_BEST, {0, 0, 0}, {malloc, free}};
                MLP_FN(split_case_run)(&c, threads, out);
                char how[96];
                snprintf(how, sizeof how, "%zu threads on a team of %zu helpers%s", counts[t], helpers[h],
                         round ? ", woken" : "");
                MLP_FN(split_case_check)(&c, out, how);
            }
        }
        if (h == 0) {
            MLP_FN(team_user) users[3];
            pthread_t threads[3];
            int started[3];
            for (size_t u = 0; u < 3; u++) {
                users[u].c = &c, users[u].team = team;
                started[u] = pthread_create(&threads[u], NULL, MLP_FN(team_user_main), &users[u]) == 0;
                CHECKF(started[u], "thread %zu starts", u);
            }
            for (size_t u = 0; u < 3; u++) {
                if (!started[u]) {
                    continue;
                }
                pthread_join(threads[u], NULL);
                for (size_t r = 0; r < COUNT(users[u].out); r++) {
                    MLP_FN(split_case_check)(&c, users[u].out[r], "three threads sharing a team of 1 helper");
                }
            }
        }
        mlp_team_stop(team);
        free(memory);
    }
    CHECKF(mlp_team_start(NULL, 0) == NULL, "a team of no helpers is NULL (its memory untouched)");
    MLP_FN(split_case_free)(&c);
}

/* The packed kernels of large products (dense.c: gemm_packed), blocked for several cache geometries — this
   machine's or the fallback (NULL), 32 KB 8-way, 48 KB 12-way, tiny caches whose blocks cut every dimension many
   times (kc of 8 to 48, mc of a tile or two), odd sizes, and implausible ones (the fallback) — give the bits of
   the naive loop, fused and unfused, and those of the unblocked kernels; in one part, and in 2 and 3 parts run
   last first, so that parts find B's chunks packed by others, or pack those an empty part would have. Aᵀ·B also
   sums B's columns as it packs B (the bias gradient): the bits of summing them row after row. */
static void MLP_FN(test_dense_products_blocked)(void)
{
    const mlp_cache detected = mlp_cache_detect();
    const mlp_cache geometries[] = {{0, 0, 0},       {32768, 8, 524288}, {49152, 12, 1048576}, {1024, 2, 2048},
                                    {3072, 3, 20000}, {24576, 6, 327680}, {5, 100, 7},         detected};
    static const size_t shapes[][3] = {{1, 1, 1}, {7, 17, 20}, {13, 33, 100}, {50, 150, 37}, {6, 16, 512},
                                       {61, 129, 257}, {100, 150, 50}};
    int ran = 0;
    for (size_t g = 0; g < COUNT(geometries) + 1; g++) {
        const mlp_cache *cache = g < COUNT(geometries) ? &geometries[g] : NULL;
        for (int which = 0; which < 3; which++) {
            for (int path = 1; path < 5; path++) {
                for (size_t s = 0; s < COUNT(shapes); s++) {
                    const size_t rows = shapes[s][0], cols = shapes[s][1], depth = shapes[s][2];
                    const MLP_FN(product_shape) sh = MLP_FN(shape_of)(which, rows, cols, depth);
                    const size_t n = sh.n, k = sh.k, m = sh.m, la = sh.la, lb = sh.lb;
                    MLP_T *A = MLP_FN(rand_buf)(la, -2, 2), *B = MLP_FN(rand_buf)(lb, -2, 2);
                    MLP_T *bias = MLP_FN(rand_buf)(cols, -1, 1), *C = MLP_FN(buf)(rows * cols);
                    MLP_T *ref = MLP_FN(buf)(rows * cols), *unblocked = MLP_FN(buf)(rows * cols);
                    MLP_T *A0 = MLP_FN(copy_of)(A, la), *B0 = MLP_FN(copy_of)(B, lb);
                    MLP_FN(naive_product)(which, path == 1 || path == 2, n, k, m, A, B, bias, ref);
                    MLP_FN(mlp_dense_product_path)(which, path, n, k, m, A, B, bias, unblocked);
                    MLP_T *sums = MLP_FN(buf)(m), *sums_ref = MLP_FN(buf)(m); /* Aᵀ·B: B (n, m)'s column sums */
                    for (size_t c = 0; c < m && which == 2; c++) {
                        sums_ref[c] = B[c];
                        for (size_t r = 1; r < n; r++) {
                            sums_ref[c] += B[r * m + c];
                        }
                    }
                    for (size_t parts = 1; parts <= 3; parts++) {
                        memset(C, 0, rows * cols * sizeof *C);
                        memset(sums, 0xff, m * sizeof *sums); /* NaN: every sum must be written */
                        if (!MLP_FN(mlp_dense_product_blocked)(which, path, cache, (mlp_alloc){malloc, free},
                                                               parts, n, k, m, A, B, bias, C,
                                                               which == 2 ? sums : NULL)) {
                            continue;
                        }
                        ran = 1;
                        if (!SAME("blocked product", C, ref, rows * cols) ||
                            !SAME("blocked = unblocked", C, unblocked, rows * cols) ||
                            (which == 2 && !SAME("B's column sums as it is packed", sums, sums_ref, m))) {
                            report(__LINE__, "  which %d path %d, %zu parts: rows %zu cols %zu depth %zu, "
                                   "cache %zu/%zu/%zu", which, path, parts, rows, cols, depth,
                                   cache ? cache->l1_bytes : 0, cache ? cache->l1_ways : 0,
                                   cache ? cache->l2_bytes : 0);
                        }
                        SAME("A unchanged", A, A0, la);
                        SAME("B unchanged", B, B0, lb);
                        GUARDS_OK(C);
                        GUARDS_OK(sums);
                    }
                    MLP_T *all[] = {A, B, bias, C, ref, unblocked, A0, B0, sums, sums_ref};
                    for (size_t q = 0; q < COUNT(all); q++) {
                        guarded_free(all[q]);
                    }
                }
            }
        }
    }
    printf("     blocked products (%s): %s; this machine's caches: L1 %zu bytes, %zu ways; L2 %zu bytes\n",
           sizeof(MLP_T) == 8 ? "f64" : "f32", ran ? "checked" : "no SIMD kernels in this build or on this CPU",
           detected.l1_bytes, detected.l1_ways, detected.l2_bytes);
}

/* A row's output of the forward product and of the delta to the input does not depend on the batch it comes in:
   every row of a batch of n equals the same row computed alone (n = 1) and in a batch of 3, on either side of the
   FMA layer size (256 weights) and of the portable build's size (2048 multiply-adds per call). */
static void MLP_FN(test_dense_rows_independent_of_batch)(void)
{
    static const size_t shapes[][2] = {{64, 32}, {63, 32}, {128, 10}, {100, 20}, {7, 300}, {300, 7}, {33, 5},
                                       {784, 40}}; /* (300, 7) and (784, 40) sum in halves */
    const size_t n = 29;
    for (size_t s = 0; s < COUNT(shapes); s++) {
        const size_t in = shapes[s][0], out = shapes[s][1];
        MLP_T *X = MLP_FN(rand_buf)(n * in, -2, 2), *W = MLP_FN(rand_buf)(in * out, -1, 1);
        MLP_T *b = MLP_FN(rand_buf)(out, -1, 1), *D = MLP_FN(rand_buf)(n * out, -1, 1);
        MLP_T *A = MLP_FN(buf)(n * out), *Dp = MLP_FN(buf)(n * in), *A1 = MLP_FN(buf)(3 * out);
        MLP_T *Dp1 = MLP_FN(buf)(3 * in), *S = MLP_FN(buf)(n * out);
        MLP_FN(mlp_dense_forward)(n, in, out, X, W, b, MLP_ACT(MLP_IDENTITY), A, S, MLP_THREADS(1));
        MLP_FN(mlp_dense_backward_delta)(n, in, out, D, W, X, MLP_ACT(MLP_IDENTITY), Dp, MLP_THREADS(1));
        for (size_t r = 0; r < n; r++) {
            const size_t rows = r + 3 <= n ? 3 : 1;
            MLP_FN(mlp_dense_forward)(rows, in, out, X + r * in, W, b, MLP_ACT(MLP_IDENTITY), A1, S, MLP_THREADS(1));
            MLP_FN(mlp_dense_backward_delta)(rows, in, out, D + r * out, W, X + r * in, MLP_ACT(MLP_IDENTITY), Dp1,
                                             MLP_THREADS(1));
            if (!SAME("forward row", A1, A + r * out, rows * out) || !SAME("delta row", Dp1, Dp + r * in, rows * in)) {
                report(__LINE__, "  in=%zu out=%zu, rows %zu..%zu of %zu", in, out, r, r + rows - 1, n);
            }
        }
        MLP_T *all[] = {X, W, b, D, A, Dp, A1, Dp1, S};
        for (size_t k = 0; k < COUNT(all); k++) {
            guarded_free(all[k]);
        }
    }
}

static void MLP_FN(test_add_scaled_exact)(void)
{
    static const double lrs[] = {0.1, -0.37, 0, 1, 1e-3, 12.5};
    for (size_t len = 1; len <= 70; len++) {
        for (size_t i = 0; i < COUNT(lrs); i++) {
            const MLP_T lr = (MLP_T)lrs[i];
            MLP_T *g = MLP_FN(rand_buf)(len, -4, 4), *p = MLP_FN(rand_buf)(len, -4, 4);
            MLP_T *g0 = MLP_FN(copy_of)(g, len), *ref = MLP_FN(copy_of)(p, len);
            MLP_FN(mlp_add_scaled)(len, g, lr, p);
            MLP_FN(naive_add_scaled)(len, g, lr, ref);
            SAME("p += g * lr", p, ref, len);
            SAME("g unchanged", g, g0, len);
            GUARDS_OK(p);
            guarded_free(g);
            guarded_free(p);
            guarded_free(g0);
            guarded_free(ref);
        }
    }
}

/* ---- the lecture's network ---- */

static void MLP_FN(test_lecture_forward_exact)(void)
{
    FOR_LECTURE_SHAPES({
        MLP_T *A1 = MLP_FN(buf)(d->n * d->hidden), *P = MLP_FN(buf)(d->n * d->out);
        MLP_T *A1r = MLP_FN(buf)(d->n * d->hidden), *Pr = MLP_FN(buf)(d->n * d->out);
        MLP_T *work = MLP_FN(buf)(mlp_lecture_forward_workspace(d));
        MLP_FN(mlp_lecture_forward)(d, t.X, &p, A1, P, work);
        guarded_free(work);
        MLP_FN(naive_dense_forward)(d->n, d->in, d->hidden, t.X, t.W1, t.b1, MLP_ACT(MLP_SIGMOID), A1r);
        MLP_FN(naive_dense_forward)(d->n, d->hidden, d->out, A1r, t.W2, t.b2, MLP_ACT(MLP_SIGMOID), Pr);
        SAME("A1", A1, A1r, d->n * d->hidden);
        SAME("P", P, Pr, d->n * d->out);
        MLP_FN(check_inputs)(&t, 1);
        GUARDS_OK(A1);
        GUARDS_OK(P);
        guarded_free(A1);
        guarded_free(P);
        guarded_free(A1r);
        guarded_free(Pr);
    });
}

/* The loss of outputs with more than 128 entries, where NumPy's order splits the sum into halves (up to 10,000
   entries): mlp_lecture_backward's against the naive backward's, to the bit. */
static void MLP_FN(test_lecture_loss_order)(void)
{
    static const size_t shapes[][2] = {{33, 5}, {129, 1}, {300, 7}, {64, 128}, {100, 100}}; /* n, out */
    for (size_t s = 0; s < COUNT(shapes); s++) {
        MLP_FN(net) t = MLP_FN(net_new)(shapes[s][0], 2, 3, shapes[s][1], 1.0);
        const mlp_dims *d = &t.d;
        const size_t nh = d->n * d->hidden, no = d->n * d->out;
        MLP_T *A1 = MLP_FN(buf)(nh), *P = MLP_FN(buf)(no);
        MLP_FN(naive_dense_forward)(d->n, d->in, d->hidden, t.X, t.W1, t.b1, MLP_ACT(MLP_SIGMOID), A1);
        MLP_FN(naive_dense_forward)(d->n, d->hidden, d->out, A1, t.W2, t.b2, MLP_ACT(MLP_SIGMOID), P);
        MLP_T *D2 = MLP_FN(buf)(no), *D1 = MLP_FN(buf)(nh), *D2r = MLP_FN(buf)(no), *D1r = MLP_FN(buf)(nh);
        const double loss = MLP_FN(mlp_lecture_backward)(d, t.y, A1, P, t.W2, D2, D1);
        const double loss_ref = MLP_FN(naive_lecture_backward)(d, t.y, A1, P, t.W2, D2r, D1r);
        CHECKF(memcmp(&loss, &loss_ref, sizeof loss) == 0, "%zu x %zu: loss %a != %a", d->n, d->out, loss, loss_ref);
        SAME("D2", D2, D2r, no);
        MLP_T *all[] = {A1, P, D2, D1, D2r, D1r};
        for (size_t k = 0; k < COUNT(all); k++) {
            guarded_free(all[k]);
        }
        MLP_FN(net_free)(&t);
    }
}

static void MLP_FN(test_lecture_backward_exact)(void)
{
    FOR_LECTURE_SHAPES({
        const size_t nh = d->n * d->hidden, no = d->n * d->out;
        MLP_T *A1 = MLP_FN(buf)(nh), *P = MLP_FN(buf)(no);
        MLP_FN(naive_dense_forward)(d->n, d->in, d->hidden, t.X, t.W1, t.b1, MLP_ACT(MLP_SIGMOID), A1);
        MLP_FN(naive_dense_forward)(d->n, d->hidden, d->out, A1, t.W2, t.b2, MLP_ACT(MLP_SIGMOID), P);
        MLP_T *A10 = MLP_FN(copy_of)(A1, nh), *P0 = MLP_FN(copy_of)(P, no);
        MLP_T *D2 = MLP_FN(buf)(no), *D1 = MLP_FN(buf)(nh), *D2r = MLP_FN(buf)(no), *D1r = MLP_FN(buf)(nh);
        const double loss = MLP_FN(mlp_lecture_backward)(d, t.y, A1, P, t.W2, D2, D1);
        const double loss_ref = MLP_FN(naive_lecture_backward)(d, t.y, A1, P, t.W2, D2r, D1r);
        CHECKF(memcmp(&loss, &loss_ref, sizeof loss) == 0, "loss %a != %a", loss, loss_ref);
        SAME("D2", D2, D2r, no);
        SAME("D1", D1, D1r, nh);
        SAME("A1 unchanged", A1, A10, nh);
        SAME("P unchanged", P, P0, no);
        MLP_FN(check_inputs)(&t, 1);
        GUARDS_OK(D2);
        GUARDS_OK(D1);
        MLP_T *all[] = {A1, P, A10, P0, D2, D1, D2r, D1r};
        for (size_t k = 0; k < COUNT(all); k++) {
            guarded_free(all[k]);
        }
    });
}

static void MLP_FN(test_lecture_update_exact)(void)
{
    FOR_LECTURE_SHAPES({
        const size_t nh = d->n * d->hidden, no = d->n * d->out;
        const MLP_T lr = (MLP_T)0.37;
        MLP_T *A1 = MLP_FN(rand_buf)(nh, 0, 1), *D2 = MLP_FN(rand_buf)(no, -0.3, 0.3);
        MLP_T *D1 = MLP_FN(rand_buf)(nh, -0.3, 0.3);
        MLP_T *A10 = MLP_FN(copy_of)(A1, nh), *D20 = MLP_FN(copy_of)(D2, no), *D10 = MLP_FN(copy_of)(D1, nh);
        MLP_T *work = MLP_FN(buf)(mlp_lecture_update_workspace(d));
        MLP_FN(mlp_lecture_update)(d, t.X, A1, D2, D1, &p, lr, work);
        MLP_FN(naive_lecture_update)(d, t.X, A1, D2, D1, t.W10, t.b10, t.W20, t.b20, lr); /* on the copies */
        SAME("W1", t.W1, t.W10, d->in * d->hidden);
        SAME("b1", t.b1, t.b10, d->hidden);
        SAME("W2", t.W2, t.W20, d->hidden * d->out);
        SAME("b2", t.b2, t.b20, d->out);
        SAME("A1 unchanged", A1, A10, nh);
        SAME("D2 unchanged", D2, D20, no);
        SAME("D1 unchanged", D1, D10, nh);
        MLP_FN(check_inputs)(&t, 0);
        GUARDS_OK(work);
        MLP_T *all[] = {A1, D2, D1, A10, D20, D10, work};
        for (size_t k = 0; k < COUNT(all); k++) {
            guarded_free(all[k]);
        }
    });
}

static void MLP_FN(test_lecture_step_exact)(void)
{
    FOR_LECTURE_SHAPES({
        const MLP_T lr = (MLP_T)0.5;
        MLP_T *work = MLP_FN(buf)(mlp_lecture_step_workspace(d));
        const double loss = MLP_FN(mlp_lecture_step)(d, t.X, t.y, &p, lr, work);
        const double loss_ref = MLP_FN(naive_lecture_step)(d, t.X, t.y, t.W10, t.b10, t.W20, t.b20, lr);
        CHECKF(memcmp(&loss, &loss_ref, sizeof loss) == 0, "loss %a != %a", loss, loss_ref);
        SAME("W1", t.W1, t.W10, d->in * d->hidden);
        SAME("b1", t.b1, t.b10, d->hidden);
        SAME("W2", t.W2, t.W20, d->hidden * d->out);
        SAME("b2", t.b2, t.b20, d->out);
        MLP_FN(check_inputs)(&t, 0);
        GUARDS_OK(work);
        guarded_free(work);
    });
}

/* mlp_lecture_train(epochs) is exactly `epochs` calls of mlp_lecture_step, and of the naive step. */
static void MLP_FN(test_lecture_train_is_repeated_step)(void)
{
    const size_t epochs = 6;
    FOR_LECTURE_SHAPES({
        const MLP_T lr = (MLP_T)0.8;
        MLP_FN(net) s = MLP_FN(net_new)(d->n, d->in, d->hidden, d->out, 1.0); /* parameters for the steps */
        memcpy(s.X, t.X, d->n * d->in * sizeof(MLP_T));
        memcpy(s.y, t.y, d->n * d->out * sizeof(MLP_T));
        memcpy(s.W1, t.W1, d->in * d->hidden * sizeof(MLP_T));
        memcpy(s.b1, t.b1, d->hidden * sizeof(MLP_T));
        memcpy(s.W2, t.W2, d->hidden * d->out * sizeof(MLP_T));
        memcpy(s.b2, t.b2, d->out * sizeof(MLP_T));
        const MLP_FN(mlp_params) ps = {s.W1, s.b1, s.W2, s.b2};
        double *losses = guarded_alloc(epochs * sizeof(double));
        MLP_T *work = MLP_FN(buf)(mlp_lecture_step_workspace(d)), *work2 = MLP_FN(buf)(mlp_lecture_step_workspace(d));
        MLP_FN(mlp_lecture_train)(d, t.X, t.y, &p, lr, epochs, losses, work);
        for (size_t e = 0; e < epochs; e++) {
            const double step_loss = MLP_FN(mlp_lecture_step)(d, s.X, s.y, &ps, lr, work2);
            const double naive_loss = MLP_FN(naive_lecture_step)(d, t.X0, t.y0, t.W10, t.b10, t.W20, t.b20, lr);
            CHECKF(memcmp(&losses[e], &step_loss, sizeof step_loss) == 0, "epoch %zu: train loss %a, step loss %a",
                   e, losses[e], step_loss);
            CHECKF(memcmp(&losses[e], &naive_loss, sizeof naive_loss) == 0, "epoch %zu: loss %a, naive %a", e,
                   losses[e], naive_loss);
        }
        SAME("W1 train vs steps", t.W1, s.W1, d->in * d->hidden);
        SAME("b1 train vs steps", t.b1, s.b1, d->hidden);
        SAME("W2 train vs steps", t.W2, s.W2, d->hidden * d->out);
        SAME("b2 train vs steps", t.b2, s.b2, d->out);
        SAME("W1 train vs naive", t.W1, t.W10, d->in * d->hidden);
        SAME("b2 train vs naive", t.b2, t.b20, d->out);
        CHECKF(guards_intact(losses), "train wrote outside losses");
        GUARDS_OK(work);
        guarded_free(losses);
        guarded_free(work);
        guarded_free(work2);
        MLP_FN(net_free)(&s);
    });
}

static void MLP_FN(test_lecture_trace_exact)(void)
{
    FOR_LECTURE_SHAPES({
        const size_t nh = d->n * d->hidden, no = d->n * d->out;
        const MLP_T lr = (MLP_T)0.25;
        MLP_T *Z1 = MLP_FN(buf)(nh), *A1 = MLP_FN(buf)(nh), *Z2 = MLP_FN(buf)(no), *P = MLP_FN(buf)(no);
        MLP_T *E2 = MLP_FN(buf)(no), *D2 = MLP_FN(buf)(no), *E1 = MLP_FN(buf)(nh), *D1 = MLP_FN(buf)(nh);
        MLP_T *W1n = MLP_FN(buf)(d->in * d->hidden), *b1n = MLP_FN(buf)(d->hidden);
        MLP_T *W2n = MLP_FN(buf)(d->hidden * d->out), *b2n = MLP_FN(buf)(d->out);
        MLP_T *work = MLP_FN(buf)(mlp_lecture_update_workspace(d));
        const MLP_FN(mlp_trace) tr = {Z1, A1, Z2, P, E2, D2, E1, D1, W1n, b1n, W2n, b2n};
        MLP_FN(mlp_lecture_trace)(d, t.X, t.y, &p, lr, &tr, work);
        MLP_FN(check_inputs)(&t, 1); /* the trace does not touch the parameters */

        /* the naive intermediates */
        MLP_T *rZ1 = MLP_FN(buf)(nh), *rA1 = MLP_FN(buf)(nh), *rZ2 = MLP_FN(buf)(no), *rP = MLP_FN(buf)(no);
        MLP_T *rE2 = MLP_FN(buf)(no), *rD2 = MLP_FN(buf)(no), *rE1 = MLP_FN(buf)(nh), *rD1 = MLP_FN(buf)(nh);
        MLP_FN(naive_affine)(d->n, d->in, d->hidden, t.X, t.W1, t.b1, rZ1);
        for (size_t k = 0; k < nh; k++) {
            rA1[k] = MLP_FN(naive_sigmoid)(rZ1[k]);
        }
        MLP_FN(naive_affine)(d->n, d->hidden, d->out, rA1, t.W2, t.b2, rZ2);
        for (size_t k = 0; k < no; k++) {
            rP[k] = MLP_FN(naive_sigmoid)(rZ2[k]);
            rE2[k] = t.y[k] - rP[k];
        }
        MLP_FN(naive_lecture_backward)(d, t.y, rA1, rP, t.W2, rD2, rD1);
        MLP_FN(naive_backward_delta)(d->n, d->hidden, d->out, rD2, t.W2, rA1, MLP_ACT(MLP_IDENTITY), rE1);
        MLP_FN(naive_lecture_step)(d, t.X, t.y, t.W10, t.b10, t.W20, t.b20, lr); /* updates the copies */
        SAME("Z1", Z1, rZ1, nh);
        SAME("A1", A1, rA1, nh);
        SAME("Z2", Z2, rZ2, no);
        SAME("P", P, rP, no);
        SAME("E2", E2, rE2, no);
        SAME("D2", D2, rD2, no);
        SAME("E1", E1, rE1, nh);
        SAME("D1", D1, rD1, nh);
        SAME("W1_new", W1n, t.W10, d->in * d->hidden);
        SAME("b1_new", b1n, t.b10, d->hidden);
        SAME("W2_new", W2n, t.W20, d->hidden * d->out);
        SAME("b2_new", b2n, t.b20, d->out);
        MLP_T *all[] = {Z1, A1, Z2, P, E2, D2, E1, D1, W1n, b1n, W2n, b2n, work,
                        rZ1, rA1, rZ2, rP, rE2, rD2, rE1, rD1};
        for (size_t k = 0; k < COUNT(all); k++) {
            CHECKF(guards_intact(all[k]), "trace wrote outside buffer %zu", k);
            guarded_free(all[k]);
        }
    });
}

/* The lecture's job: XOR, 2-3-1, lr 0.1. The loss falls and stays finite. */
static void MLP_FN(test_lecture_xor_learns)(void)
{
    const MLP_T X[] = {0, 0, 0, 1, 1, 0, 1, 1}, y[] = {0, 1, 1, 0};
    MLP_T W1[] = {(MLP_T)0.5, (MLP_T)-0.3, (MLP_T)0.8, (MLP_T)-0.6, (MLP_T)0.9, (MLP_T)0.2};
    MLP_T b1[] = {(MLP_T)0.1, (MLP_T)-0.1, (MLP_T)0.05}, W2[] = {(MLP_T)0.7, (MLP_T)-0.4, (MLP_T)0.3};
    MLP_T b2[] = {(MLP_T)-0.2};
    const mlp_dims d = {4, 2, 3, 1, MLP_THREADS(1)};
    const MLP_FN(mlp_params) p = {W1, b1, W2, b2};
    const size_t epochs = 20000;
    double *losses = malloc(epochs * sizeof(double));
    MLP_T *work = MLP_FN(buf)(mlp_lecture_step_workspace(&d));
    MLP_FN(mlp_lecture_train)(&d, X, y, &p, (MLP_T)0.5, epochs, losses, work);
    int finite = 1;
    for (size_t e = 0; e < epochs; e++) {
        finite &= isfinite(losses[e]) && losses[e] >= 0 && losses[e] <= 1;
    }
    CHECKF(finite, "a loss is not finite or outside [0, 1]");
    CHECKF(losses[epochs - 1] < 0.5 * losses[0], "loss %g -> %g: did not fall by half", losses[0],
           losses[epochs - 1]);
    printf("     XOR (%s): loss %.4f -> %.4f\n", sizeof(MLP_T) == 8 ? "f64" : "f32", losses[0], losses[epochs - 1]);
    GUARDS_OK(work);
    guarded_free(work);
    free(losses);
}

/* Huge weights with finite data: every sigmoid saturates to exactly 0 or 1, the deltas are exactly 0 there, and
   nothing becomes NaN (1/(1 + e^1000) is 0, not inf/inf). */
static void MLP_FN(test_saturated_no_nan)(void)
{
    MLP_FN(net) t = MLP_FN(net_new)(6, 3, 5, 2, 1.0);
    const mlp_dims *d = &t.d;
    for (size_t k = 0; k < d->in * d->hidden; k++) {
        t.W1[k] = (MLP_T)(k % 2 ? 1e3 : -1e3) * (MLP_T)(1 + k % 3);
    }
    for (size_t k = 0; k < d->hidden * d->out; k++) {
        t.W2[k] = (MLP_T)(k % 3 ? 5e3 : -5e3);
    }
    for (size_t k = 0; k < d->n * d->in; k++) {
        t.X[k] = (MLP_T)(k % 5 == 0 ? 1 : (k % 5 == 1 ? -1 : 0.5)) * (MLP_T)(1 + k % 2);
    }
    const MLP_FN(mlp_params) p = {t.W1, t.b1, t.W2, t.b2};
    MLP_T *A1 = MLP_FN(buf)(d->n * d->hidden), *P = MLP_FN(buf)(d->n * d->out);
    MLP_T *D2 = MLP_FN(buf)(d->n * d->out), *D1 = MLP_FN(buf)(d->n * d->hidden);
    MLP_T *fwork = MLP_FN(buf)(mlp_lecture_forward_workspace(d));
    MLP_FN(mlp_lecture_forward)(d, t.X, &p, A1, P, fwork);
    guarded_free(fwork);
    const double loss = MLP_FN(mlp_lecture_backward)(d, t.y, A1, P, t.W2, D2, D1);
    CHECK(isfinite(loss));
    for (size_t k = 0; k < d->n * d->out; k++) {
        CHECKF(P[k] >= 0 && P[k] <= 1, "P[%zu] = %g outside [0, 1]", k, (double)P[k]);
        CHECKF(!(P[k] == 0 || P[k] == 1) || D2[k] == 0, "D2[%zu] = %g, not 0 at saturation", k, (double)D2[k]);
        CHECKF(!isnan(D2[k]), "D2[%zu] is NaN", k);
    }
    for (size_t k = 0; k < d->n * d->hidden; k++) {
        CHECKF(!isnan(A1[k]) && !isnan(D1[k]), "NaN at hidden %zu", k);
    }
    MLP_T *work = MLP_FN(buf)(mlp_lecture_step_workspace(d));
    for (int e = 0; e < 10; e++) {
        CHECK(isfinite(MLP_FN(mlp_lecture_step)(d, t.X, t.y, &p, (MLP_T)0.5, work)));
    }
    for (size_t k = 0; k < d->in * d->hidden; k++) {
        CHECK(isfinite(t.W1[k]));
    }
    for (size_t k = 0; k < d->hidden * d->out; k++) {
        CHECK(isfinite(t.W2[k]));
    }
    guarded_free(A1);
    guarded_free(P);
    guarded_free(D2);
    guarded_free(D1);
    guarded_free(work);
    MLP_FN(net_free)(&t);
}
