"""Numerics at the edges: saturated sigmoids, huge weights, NaN and inf, float32.

- The sigmoid never overflows: z = -1000 gives exactly 0 and z = 1000 exactly 1 — no warnings (the C core raises
  none; NumPy's reference would warn "overflow in exp"), no NaN from finite input, in float32 and float64.
- Over the whole real line the sigmoid is accurate: float64 within 4 ulp of NumPy's 1/(1 + exp(-z)) in float64
  (tests/c/test_kernels.c bounds it at 1.5 ulp of the exact value), float32 within 1 ulp of that value rounded to
  float32 (the C core computes float32 sigmoids in double and rounds once, so it is right even where float32's
  own exp overflows). Results below the normal range (float64: z < -708.39; float32: z < -87.34) are 0.
- Training with huge weights stays finite: deltas at saturated units are exactly 0.
- NaN and inf propagate as IEEE arithmetic says: a NaN in row r of X makes row r of the outputs NaN and leaves
  the other rows exactly as without it; NaN parameters or data give NaN results, never an exception; +-inf
  inputs saturate the sigmoid to exactly 0 or 1 (and 0 * inf is NaN). A learning rate (a hyperparameter) must
  be finite: NaN or inf there is a ValueError.
- The loss is np.mean(np.abs(y - P)) taken in float64, to the bit (NumPy's pairwise order), also for float32
  networks.
"""
import warnings

import numpy as np
import pytest

import mlpext

DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def no_warnings():
    """Any warning (NumPy's overflow/invalid ones included) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


def sigmoid_via_forward(z, dtype):
    """sigmoid(z) for a vector z, computed by mlpext.forward as the hidden activation with W1 = [[1]], b1 = 0."""
    z = np.asarray(z, dtype=dtype).reshape(-1, 1)
    W1, b1 = np.ones((1, 1), dtype), np.zeros(1, dtype)
    W2, b2 = np.ones((1, 1), dtype), np.zeros(1, dtype)
    A1, P = mlpext.forward(z, W1, b1, W2, b2)
    return A1[:, 0]


def ordered(a):
    """Integer images of floats whose differences are distances in ulps (for values of one sign)."""
    a = np.asarray(a)
    i = a.view(np.int32 if a.dtype == np.float32 else np.int64).astype(np.int64)
    return np.where(i < 0, np.iinfo(i.dtype).min - i, i)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_at_plus_minus_1000(dtype):
    s = sigmoid_via_forward([1000, -1000, 1e30, -1e30, 750, -750, 0], dtype)
    assert s.dtype == dtype
    assert s[0] == 1 and s[2] == 1 and s[4] == 1
    assert s[1] == 0 and s[3] == 0 and s[5] == 0
    assert s[6] == 0.5


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_with_huge_weights(dtype):
    """|z| in the thousands at both layers: every activation exactly 0 or 1, nothing NaN, no warning."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 4)).astype(dtype)
    W1 = (1000 * rng.choice([-1, 1], (4, 8)) * rng.uniform(1, 3, (4, 8))).astype(dtype)
    b1 = np.zeros(8, dtype)
    W2 = (5000 * rng.choice([-1, 1], (8, 3))).astype(dtype)
    b2 = np.full(3, 0.5, dtype)
    A1, P = mlpext.forward(X, W1, b1, W2, b2)
    for a in (A1, P):
        assert a.dtype == dtype and not np.isnan(a).any() and ((a >= 0) & (a <= 1)).all()
    assert np.isin(A1, (0, 1)).mean() > 0.75  # mostly saturated to exactly 0 or 1
    assert np.array_equal(mlpext.predict(X, W1, b1, W2, b2), P)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_accurate_over_the_real_line(dtype):
    z = np.concatenate([
        np.linspace(-800, 800, 16001), np.linspace(-40, 40, 8001), -np.logspace(-40, 3, 500),
        np.logspace(-40, 3, 500), [-745.2, -745.1, -709.79, -709.78, -708.4, -708.39, -103.98, -88.73, -88.72,
                                   -87.34, 36.73, 36.74, 16.64, 16.65, 709.78, 745.2],
    ])
    with np.errstate(all="ignore"):
        z = z.astype(dtype)
    s = sigmoid_via_forward(z, dtype)
    assert not np.isnan(s).any() and ((s >= 0) & (s <= 1)).all()
    order = np.argsort(z, kind="stable")
    assert (np.diff(s[order]) >= 0).all(), "sigmoid decreases somewhere"
    with np.errstate(all="ignore"):
        true = 1 / (1 + np.exp(-z.astype(np.float64)))  # float64 NumPy: accurate to ~1 ulp of float64
    if dtype == np.float64:
        bound = 4  # NumPy's formula within 2.4 ulp, ours within 1.5 (tests/c/test_kernels.c)
        want = true.copy()
        want[want < np.finfo(np.float64).tiny] = 0  # flushed below DBL_MIN (vmath.h)
        dist = np.abs(ordered(s) - ordered(want))
    else:
        bound = 1  # one rounding of an (almost) correct double: at most one float32 ulp off
        with np.errstate(all="ignore"):
            want = true.astype(np.float32)
        want[want < np.finfo(np.float32).tiny] = 0  # flushed below FLT_MIN (vmath.h)
        dist = np.abs(ordered(s) - ordered(want))
    worst = int(dist.max())
    print(f"{np.dtype(dtype).name}: sigmoid at most {worst} ulp from the float64 reference over {z.size} points")
    assert worst <= bound, f"z = {z[np.argmax(dist)]!r}: {s[np.argmax(dist)]!r} vs {true[np.argmax(dist)]!r}"
    # Below the normal range the sigmoid is 0 (float32 from z < -87.34, where NumPy's is 0 from -88.7 on as its
    # float32 exp overflows; float64 from z < -708.39): subnormal activations would slow every product they
    # enter, for a difference below the smallest normal number.
    tiny = np.finfo(dtype).tiny
    edge = -87.33 if dtype == np.float32 else -708.39
    low = sigmoid_via_forward([edge, edge - 0.01, edge - 1, -1000.0, -1e30], dtype)
    assert low[0] >= tiny and (low[1:] == 0).all(), low


@pytest.mark.parametrize("dtype", DTYPES)
def test_training_with_huge_weights_stays_finite(dtype):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((32, 5)).astype(dtype)
    y = (rng.uniform(size=(32, 2)) > 0.5).astype(dtype)
    params = [(s * rng.standard_normal(shape)).astype(dtype)
              for s, shape in ((1e3, (5, 7)), (1e3, (7,)), (1e4, (7, 2)), (1e3, (2,)))]
    losses = mlpext.train(X, y, *params, 0.5, 50)
    assert np.isfinite(losses).all() and ((losses >= 0) & (losses <= 1)).all()
    assert all(np.isfinite(p).all() for p in params)
    loss = mlpext.train_step(X, y, *params, 0.5)
    assert np.isfinite(loss)
    trace = mlpext.trace_step(X, y, *params, 0.5)
    assert all(np.isfinite(v).all() for v in trace.values())
    # at saturated outputs the output delta is exactly 0
    sat = np.isin(trace["y_hat"], (0, 1))
    assert sat.any() and (trace["delta2"][sat] == 0).all()


def small_net(dtype, n=6, n_in=3, hidden=4, n_out=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    y = rng.uniform(0, 1, (n, n_out)).astype(dtype)
    params = [rng.standard_normal(s).astype(dtype) for s in ((n_in, hidden), (hidden,), (hidden, n_out), (n_out,))]
    return X, y, params


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_in_a_row_stays_in_that_row(dtype):
    X, y, params = small_net(dtype)
    Xn = X.copy()
    Xn[2, 1] = np.nan
    A1, P = mlpext.forward(Xn, *params)
    assert np.isnan(A1[2]).all() and np.isnan(P[2]).all()
    keep = [0, 1, 3, 4, 5]
    A1k, Pk = mlpext.forward(X[keep], *params)  # rows are independent: bit for bit the same
    assert np.array_equal(A1[keep], A1k) and np.array_equal(P[keep], Pk)
    D2, D1 = mlpext.backward(y, A1, P, params[2])
    assert np.isnan(D2[2]).all() and np.isnan(D1[2]).all() and np.isfinite(D2[keep]).all()
    loss = mlpext.train_step(Xn, y, *[p.copy() for p in params], 0.5)
    assert np.isnan(loss)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", ["W1", "b1", "W2", "b2"])
def test_nan_parameters(dtype, where):
    X, y, params = small_net(dtype)
    k = ("W1", "b1", "W2", "b2").index(where)
    params[k].reshape(-1)[0] = np.nan
    A1, P = mlpext.forward(X, *params)
    if where in ("W1", "b1"):
        assert np.isnan(A1[:, 0]).all() and np.isfinite(A1[:, 1:]).all()
        assert np.isnan(P).all()  # hidden unit 0 feeds every output
    elif where == "W2":
        assert np.isfinite(A1).all() and np.isnan(P[:, 0]).all() and np.isfinite(P[:, 1:]).all()
    else:
        assert np.isnan(P[:, 0]).all() and np.isfinite(P[:, 1]).all()
    losses = mlpext.train(X, y, *params, 0.5, 3)
    assert np.isnan(losses).all()
    assert any(np.isnan(p).any() for p in params)


@pytest.mark.parametrize("dtype", DTYPES)
def test_infinite_inputs_saturate(dtype):
    X, y, params = small_net(dtype)
    W1 = params[0]
    W1[0] = [2.0, -1.0, 0.0, 3.0]  # hidden unit 2 multiplies X[:, 0] by 0
    Xi = X.copy()
    Xi[1, 0] = np.inf
    Xi[3, 0] = -np.inf
    A1, P = mlpext.forward(Xi, *params)
    assert A1[1, 0] == 1 and A1[1, 1] == 0 and A1[1, 3] == 1  # sigmoid(+-inf) exactly
    assert A1[3, 0] == 0 and A1[3, 1] == 1 and A1[3, 3] == 0
    assert np.isnan(A1[1, 2]) and np.isnan(A1[3, 2])  # inf * 0 is NaN
    assert np.isfinite(A1[[0, 2, 4, 5]]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lr", [np.nan, np.inf, -np.inf])
def test_nonfinite_learning_rate_is_rejected(dtype, lr):
    """Data may hold NaN and inf (they propagate); a hyperparameter may not: ValueError, nothing written."""
    X, y, params = small_net(dtype)
    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match="learning_rate must be a finite number"):
        mlpext.train_step(X, y, *params, lr)
    assert all(np.array_equal(p, q) for p, q in zip(params, before))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nonfinite_targets(dtype):
    X, y, params = small_net(dtype)
    y = y.copy()
    y[0, 0], y[1, 1] = np.nan, np.inf
    A1, P = mlpext.forward(X, *params)
    D2, D1 = mlpext.backward(y, A1, P, params[2])
    assert np.isnan(D2[0, 0]) and D2[1, 1] == np.inf  # (inf - P) * P(1 - P), P strictly inside (0, 1)
    assert np.isnan(D1[0]).all() and not np.isfinite(D1[1]).any()
    assert np.isfinite(D2[2:]).all() and np.isfinite(D1[2:]).all()
    assert np.isnan(mlpext.train_step(X, y, *params, 0.1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_subnormal_and_tiny_inputs(dtype):
    X, y, params = small_net(dtype)
    tiny = np.finfo(dtype).smallest_subnormal
    Xt = np.full_like(X, tiny)
    A1, P = mlpext.forward(Xt, *params)
    A1_0, P_0 = mlpext.forward(np.zeros_like(X), *params)
    assert np.allclose(A1, A1_0, rtol=0, atol=np.finfo(dtype).eps) and np.allclose(P, P_0, rtol=0,
                                                                                   atol=np.finfo(dtype).eps)


# Loss shapes by their number of terms: below 8 (summed in order), 8 to 128 (eight chains), more (halves summed
# alone), and past 8192, where NumPy 1.x sums in buffers of 8192 and NumPy 2 the whole array at once.
LOSS_SHAPES = [(1, 1), (4, 1), (7, 1), (8, 1), (7, 3), (33, 5), (128, 10), (300, 7), (64, 128), (100, 100)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LOSS_SHAPES)
def test_loss_is_numpys_mean_abs_error_in_double(dtype, shape):
    """train_step's loss is np.mean(np.abs(y − P)) with y − P rounded to the dtype and the mean taken in float64,
    to the bit: the C core sums in NumPy's pairwise order (csrc/pairwise.h). For a float64 network that is the figure
    the lecture's script prints; a float32 network's is summed in double, not in float32 as np.mean would."""
    n, n_out = shape
    if n * n_out > 8192 and np.lib.NumpyVersion(np.__version__) < "2.0.0":
        pytest.skip("NumPy 1.x sums more than 8192 values in buffers of 8192")
    X, y, params = small_net(dtype, n=n, n_out=n_out, seed=5)
    A1, P = mlpext.forward(X, *params)
    expected = np.mean(np.abs((y - P).astype(np.float64)))  # y − P in the dtype, as the kernel
    assert mlpext.train_step(X, y, *params, 0.1) == expected


@pytest.mark.parametrize("shape", [(7, 3), (128, 10), (64, 128)])
def test_phase_and_engine_losses_are_train_steps(shape):
    """The one loss, three ways: mlpext.train's history, MLP(loss="lecture").loss and train_step's, to the bit."""
    n, n_out = shape
    X, y, params = small_net(np.float64, n=n, n_out=n_out, seed=6)
    first = mlpext.train(X, y, *[p.copy() for p in params], 0.1, 1)[0]
    net = mlpext.MLP([X.shape[1], params[0].shape[1], n_out], activation="sigmoid", loss="lecture", optimizer="sgd",
                     dtype=np.float64)
    net.params = [(params[0].copy(), params[1].copy()), (params[2].copy(), params[3].copy())]
    assert first == net.loss(X, y) == mlpext.train_step(X, y, *params, 0.1)

@pytest.mark.parametrize("n, out", [(4, 1), (7, 1), (8, 2), (64, 3)])
def test_bias_update_is_numpys_sum_where_the_design_says(n, out):
    """docs/design.md: the bias update sums δ row by row, which is np.sum(δ, axis=0)'s order for two columns or
    more, or fewer than 8 rows (a single column of 8 rows or more NumPy sums pairwise). There b2 is the
    reference's to the bit; W2 is not compared (np.dot's BLAS order is not specified)."""
    import mlpext.reference as reference

    rng = np.random.default_rng(n * 10 + out)
    for _ in range(50):
        X, A1, d1 = rng.normal(size=(n, 2)), rng.random((n, 3)), rng.normal(size=(n, 3))
        d2 = rng.normal(size=(n, out)) * 10.0 ** rng.integers(-6, 6, size=(n, out))
        params = [rng.normal(size=(2, 3)), rng.normal(size=3), rng.normal(size=(3, out)), rng.normal(size=out)]
        expected = [p.copy() for p in params]
        mlpext.update(X, A1, d2, d1, *params, 0.5)
        reference.update(X, A1, d2, d1, *expected, 0.5)
        np.testing.assert_array_equal(params[3], expected[3])
