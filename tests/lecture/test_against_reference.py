"""Property tests: every mlpext function against the pure NumPy oracle mlpext.reference, on random networks.

Hypothesis draws the sizes n, in, hidden, out in 1..12, the dtype (float64 or float32), every array and the
learning rate, and checks forward, backward, update, train_step, train (1-4 epochs) and predict.

How close is close enough
-------------------------
Both implementations evaluate the same formulas; they differ only in rounding (summation order of the dot
products and sums, the exp implementation, FMA or not). A sum of k terms has a rounding error of at most about
k·u·Σ|terms|, where u is the unit roundoff (2**-53 for float64, 2**-24 for float32); products and the sigmoid
add a few u relative. Comparing with a bare relative tolerance fails for entries that come out near zero
through cancellation (Σ terms ≈ 0 while Σ|terms| is not), and comparing with a fixed absolute tolerance is
meaningless for entries that are legitimately tiny. So the tests propagate, alongside the values, an error
*magnitude* M for every quantity: Σ|terms| of its sums, carried through the sigmoid (times σ' = a(1-a)), the
deltas and the updates to first order (and through several epochs for train). Each entry must then satisfy

    |mlpext - reference| <= rtol * (|reference| + M) + tiny

with rtol = 1e-12 for float64 (k <= ~30 operations here, so the true worst case is ~30 * 2 * 1.1e-16 = 7e-15:
more than 100x headroom) and rtol = 1e-5 for float32 (30 * 2 * 6e-8 = 3.6e-6: about 3x headroom over the
worst case, which real rounding errors, being random, are far below). `tiny` is the dtype's smallest normal
number: below it values lose relative precision (gradual underflow), and an implementation computing sigmoid(z)
for very negative z as exp(z)/(1+exp(z)) gets a subnormal where NumPy's 1/(1+exp(-z)) gets exactly 0.

mlpext flushes subnormal numbers to zero (docs/design.md, "Exactness"): a result below `tiny` is off by less than
`tiny`, and an operand below it is read as 0, which puts a product a·b off by |b|·tiny. So a sum Σ a_k·b_k can be
off by Σ (|a_k| + |b_k| + 2)·tiny (0.5 times FLT_MIN three times is 1.5·FLT_MIN in NumPy, 0 in mlpext). The
magnitudes carry that too, in units of `tiny / rtol` (the `floor` argument below), and propagate it like any
other error.

Also: X given in any real dtype, layout or as a list gives exactly the result of the converted C array, and
out= arrays are the returned objects and hold the same numbers.
"""
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mlpext
import mlpext.reference as reference
from mlpext import _core
from mlp_helpers import copies, make_params, param_shapes

DTYPES = [np.dtype(np.float64), np.dtype(np.float32)]
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}

# train runs several epochs per example and costs more: a quarter of the profile's examples.
FEWER = settings(max_examples=max(10, settings.default.max_examples // 4))


# ------------------------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------------------------

@dataclass
class Net:
    dtype: np.dtype
    X: np.ndarray
    y: np.ndarray
    params: list
    lr: float

    @property
    def sizes(self):
        return self.X.shape[0], self.X.shape[1], self.params[0].shape[1], self.y.shape[1]


def arrays(draw, dtype, shape, lo, hi):
    elements = st.floats(lo, hi, width=dtype.itemsize * 8, allow_nan=False, allow_infinity=False)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def nets(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n, n_in, hidden, n_out = (draw(st.integers(1, 12)) for _ in range(4))
    X = arrays(draw, dtype, (n, n_in), -4, 4)
    y = arrays(draw, dtype, (n, n_out), -1, 2)
    params = [arrays(draw, dtype, shape, -4, 4) for shape in param_shapes(n_in, hidden, n_out)]
    lr = draw(st.one_of(st.floats(-2, 2, allow_nan=False), st.integers(-2, 2)))
    return Net(dtype, X, y, params, lr)


# ------------------------------------------------------------------------------------------------------------
# Error magnitudes (float64, first order; see the module docstring)
# ------------------------------------------------------------------------------------------------------------

def f64(a):
    return np.asarray(a, dtype=np.float64)


def sigmoid64(z):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


def flush_floor(dtype):
    """What an error of `tiny` adds to a magnitude M: tiny / rtol (see the docstring)."""
    dtype = np.dtype(dtype)
    return float(np.finfo(dtype).tiny) / RTOL[dtype]


def flushes(A, B):
    """For A @ B, in units of tiny: how far flushing subnormals can move each entry, Σ_k (|A_ik| + |B_kj| + 2) (an
    operand read as 0, the product's and the sum's results flushed)."""
    return np.abs(A).sum(1)[:, None] + np.abs(B).sum(0)[None, :] + 2 * A.shape[1]


def forward_magnitudes(X, params, dparams, floor):
    """A1, M_A1, P, M_P for parameters carrying error magnitudes dparams."""
    X = f64(X)
    W1, b1, W2, b2 = map(f64, params)
    dW1, db1, dW2, db2 = dparams
    # Flushes: the products' sums, the bias (read as 0, the sum flushed) and the sigmoid's own result.
    A1 = sigmoid64(X @ W1 + b1)
    M_A1 = A1 * (1 - A1) * (np.abs(X) @ (np.abs(W1) + dW1) + np.abs(b1) + db1 + (flushes(X, W1) + 2) * floor) + floor
    P = sigmoid64(A1 @ W2 + b2)
    M_P = P * (1 - P) * ((A1 + M_A1) @ (np.abs(W2) + dW2) + np.abs(b2) + db2 + (flushes(A1, W2) + 2) * floor) + floor
    return A1, M_A1, P, M_P


def backward_magnitudes(y, A1, M_A1, P, M_P, W2, dW2, floor):
    """D2, M_D2, D1, M_D1 from inputs carrying error magnitudes M_A1, M_P, dW2."""
    y, A1, P, W2 = map(f64, (y, A1, P, W2))
    E = y - P
    D2 = E * P * (1 - P)
    # |d D2 / d P| <= 1/4 + |E|; P's error is its own rounding (relative: |P|) plus what it inherits (M_P). The
    # first matters: for P near 1, 1 - P has few correct digits (P = 1 - 6e-6 in float32 leaves 1 - P 1% off).
    # Flushes: y and P read as 0 (P also in E·P, where |E| <= 2), y - P and both products flushed: below 6·tiny.
    M_D2 = np.abs(D2) + (0.25 + np.abs(E)) * (np.abs(P) + M_P) + 6 * floor
    G = D2 @ W2.T
    S1 = np.abs(A1 * (1 - A1))
    D1 = G * S1
    # Flushes: G's sums (times S1), A1 and S1 read as 0 or S1 flushed (times |G|), and the product G·S1.
    M_D1 = (((np.abs(D2) + M_D2) @ (np.abs(W2) + dW2).T) * S1 + np.abs(G) * np.abs(1 - 2 * A1) * (np.abs(A1) + M_A1)
            + (flushes(D2, W2.T) * S1 + 3 * np.abs(G) + 1) * floor)
    return D2, M_D2, D1, M_D1


def update_magnitudes(X, A1, M_A1, D2, M_D2, D1, M_D1, params, dparams, lr, floor):
    """The updated parameters (float64) and their error magnitudes."""
    X, A1, D2, D1 = map(f64, (X, A1, D2, D1))
    W1, b1, W2, b2 = map(f64, params)
    dW1, db1, dW2, db2 = dparams
    lr = abs(float(lr))
    n = X.shape[0]
    # Flushes: the sums over the n rows (before or after the scaling by lr: 1 + lr times them), the scaling, and
    # the parameter read as 0 or the addition flushed; a bias's sum has 2n (each term read as 0, each sum flushed).
    weights1, weights2 = (((1 + lr) * flushes(X.T, D1) + 3) * floor, ((1 + lr) * flushes(A1.T, D2) + 3) * floor)
    biases = ((1 + lr) * 2 * n + 3) * floor
    new = [W1 + X.T @ D1 * lr, b1 + D1.sum(0) * lr, W2 + A1.T @ D2 * lr, b2 + D2.sum(0) * lr]
    mags = [np.abs(W1) + dW1 + lr * (np.abs(X).T @ (np.abs(D1) + M_D1)) + weights1,
            np.abs(b1) + db1 + lr * (np.abs(D1) + M_D1).sum(0) + biases,
            np.abs(W2) + dW2 + lr * ((np.abs(A1) + M_A1).T @ (np.abs(D2) + M_D2)) + weights2,
            np.abs(b2) + db2 + lr * (np.abs(D2) + M_D2).sum(0) + biases]
    return new, mags


def zero_magnitudes(params):
    return [np.zeros(p.shape) for p in params]


def step_magnitudes(X, y, params, dparams, lr, floor):
    """One training step: new params, their magnitudes, and the loss's magnitude."""
    A1, M_A1, P, M_P = forward_magnitudes(X, params, dparams, floor)
    D2, M_D2, D1, M_D1 = backward_magnitudes(y, A1, M_A1, P, M_P, params[2], dparams[2], floor)
    new, mags = update_magnitudes(X, A1, M_A1, D2, M_D2, D1, M_D1, params, dparams, lr, floor)
    # y - P cancels: P's own rounding counts; y and P read as 0 where subnormal (two tiny)
    M_loss = float(np.mean(np.abs(f64(y) - P) + np.abs(P) + M_P + 2 * floor))
    return new, mags, M_loss


def assert_within(actual, expected, M, what, precision=None):
    """|actual - expected| <= rtol * (|expected| + M) + tiny, elementwise; same dtype and shape.

    rtol and tiny are those of `precision`, the dtype the values were computed in (by default expected's).
    """
    expected = np.asarray(expected)
    actual = np.asarray(actual)
    dtype = np.dtype(precision or expected.dtype)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    err = np.abs(f64(actual) - f64(expected))
    tol = RTOL[dtype] * (np.abs(f64(expected)) + M) + np.finfo(dtype).tiny
    bad = ~(err <= tol)
    assert not bad.any(), (f"{what}: {bad.sum()} of {bad.size} entries off; worst |err|/tol = "
                           f"{np.max(err / tol):.3g}\nactual={actual!r}\nexpected={expected!r}")


def quiet(fn, *args, **kwargs):
    """The reference, without NumPy's overflow warning for exp(-z) at large |z| (it still returns 0 or 1)."""
    with np.errstate(over="ignore"):
        return fn(*args, **kwargs)


# ------------------------------------------------------------------------------------------------------------
# Each function against the reference
# ------------------------------------------------------------------------------------------------------------

@given(nets())
def test_forward(net):
    A1, P = mlpext.forward(net.X, *net.params)
    A1_ref, P_ref = quiet(reference.forward, net.X, *net.params)
    _, M_A1, _, M_P = forward_magnitudes(net.X, net.params, zero_magnitudes(net.params), flush_floor(net.dtype))
    assert_within(A1, A1_ref, M_A1, "hidden_activation")
    assert_within(P, P_ref, M_P, "predicted_output")


@given(nets())
def test_predict(net):
    P = mlpext.predict(net.X, *net.params)
    P_ref = quiet(reference.predict, net.X, *net.params)
    _, _, _, M_P = forward_magnitudes(net.X, net.params, zero_magnitudes(net.params), flush_floor(net.dtype))
    assert_within(P, P_ref, M_P, "predicted")


@given(nets(), st.data())
def test_backward(net, data):
    n, _, hidden, n_out = net.sizes
    A1 = arrays(data.draw, net.dtype, (n, hidden), 0, 1)  # activations, as forward returns them
    P = arrays(data.draw, net.dtype, (n, n_out), 0, 1)
    W2 = net.params[2]
    D2, D1 = mlpext.backward(net.y, A1, P, W2)
    D2_ref, D1_ref = reference.backward(net.y, A1, P, W2)
    _, M_D2, _, M_D1 = backward_magnitudes(net.y, A1, 0.0, P, 0.0, W2, 0.0, flush_floor(net.dtype))
    # M_D2 includes |D2| itself; with exact inputs D2 is a few correctly rounded products, relative error only,
    # and what flushing subnormals costs (backward_magnitudes).
    assert_within(D2, D2_ref, 6 * flush_floor(net.dtype), "delta_output")
    assert_within(D1, D1_ref, M_D1, "delta_hidden")


@given(nets(), st.data())
def test_update(net, data):
    n, _, hidden, n_out = net.sizes
    A1 = arrays(data.draw, net.dtype, (n, hidden), 0, 1)
    D2 = arrays(data.draw, net.dtype, (n, n_out), -1, 1)
    D1 = arrays(data.draw, net.dtype, (n, hidden), -1, 1)
    params, params_ref = copies(net.params), copies(net.params)
    assert mlpext.update(net.X, A1, D2, D1, *params, net.lr) is None
    reference.update(net.X, A1, D2, D1, *params_ref, net.lr)
    _, mags = update_magnitudes(net.X, A1, 0.0, D2, 0.0, D1, 0.0, net.params, zero_magnitudes(net.params), net.lr,
                                 flush_floor(net.dtype))
    for name, actual, expected, M in zip("W1 b1 W2 b2".split(), params, params_ref, mags):
        assert_within(actual, expected, M, name)


@given(nets())
def test_train_step(net):
    params, params_ref = copies(net.params), copies(net.params)
    loss = mlpext.train_step(net.X, net.y, *params, net.lr)
    loss_ref = quiet(reference.train_step, net.X, net.y, *params_ref, net.lr)
    _, mags, M_loss = step_magnitudes(net.X, net.y, net.params, zero_magnitudes(net.params), net.lr,
                                       flush_floor(net.dtype))
    assert type(loss) is float
    assert_within(np.float64(loss), np.float64(loss_ref), M_loss, "loss", net.dtype)
    for name, actual, expected, M in zip("W1 b1 W2 b2".split(), params, params_ref, mags):
        assert_within(actual, expected, M, name)


@FEWER
@given(nets(), st.integers(1, 4))
def test_train(net, epochs):
    params, params_ref = copies(net.params), copies(net.params)
    losses = mlpext.train(net.X, net.y, *params, net.lr, epochs)
    losses_ref = quiet(reference.train, net.X, net.y, *params_ref, net.lr, epochs)
    assert losses.dtype == np.float64 and losses.shape == (epochs,)
    current, mags = [f64(p) for p in net.params], zero_magnitudes(net.params)
    for epoch in range(epochs):
        with np.errstate(over="ignore", invalid="ignore"):
            current, mags, M_loss = step_magnitudes(net.X, net.y, current, mags, net.lr, flush_floor(net.dtype))
        assert_within(losses[epoch], losses_ref[epoch], M_loss, f"loss of epoch {epoch}", net.dtype)
    for name, actual, expected, M in zip("W1 b1 W2 b2".split(), params, params_ref, mags):
        assert_within(actual, expected, M, name)


def test_magnitudes_are_not_vacuous():
    """The tolerance catches a real slip: a learning rate off by 1e-9 in float64 fails the check."""
    params = make_params(3, 3, 4, 2)
    X = np.random.default_rng(3).standard_normal((5, 3))
    y = np.random.default_rng(4).uniform(size=(5, 2))
    good, wrong = copies(params), copies(params)
    reference.train_step(X, y, *good, 0.5)
    mlpext.train_step(X, y, *wrong, 0.5 * (1 + 1e-9))
    _, mags, _ = step_magnitudes(X, y, params, zero_magnitudes(params), 0.5, flush_floor(X.dtype))
    with pytest.raises(AssertionError):
        for actual, expected, M in zip(wrong, good, mags):
            assert_within(actual, expected, M, "W")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_flushed_sums_are_within_the_floor(dtype):
    """A sum of subnormal products: 0 in mlpext, k·tiny/2 in NumPy. The flush floor admits it, and is needed."""
    if not _core.build_info()["flushes_subnormals"]:
        pytest.skip("this build keeps subnormal numbers")
    n = 3
    tiny = np.finfo(dtype).tiny
    X, y = np.zeros((n, 1), dtype), np.zeros((n, 1), dtype)
    A1, D2, D1 = np.full((n, 1), 0.5, dtype), np.full((n, 1), tiny, dtype), np.zeros((n, 1), dtype)
    params = [np.zeros(shape, dtype) for shape in param_shapes(1, 1, 1)]
    ours, theirs = copies(params), copies(params)
    mlpext.update(X, A1, D2, D1, *ours, 1.0)
    reference.update(X, A1, D2, D1, *theirs, 1.0)
    assert ours[2][0, 0] == 0 and theirs[2][0, 0] == dtype.type(1.5 * tiny)  # 0.5·tiny is subnormal: flushed
    _, mags = update_magnitudes(X, A1, 0.0, D2, 0.0, D1, 0.0, params, zero_magnitudes(params), 1.0,
                                flush_floor(dtype))
    assert_within(ours[2], theirs[2], mags[2], "W2")
    _, bare = update_magnitudes(X, A1, 0.0, D2, 0.0, D1, 0.0, params, zero_magnitudes(params), 1.0, 0.0)
    with pytest.raises(AssertionError):
        assert_within(ours[2], theirs[2], bare[2], "W2")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_subnormal_inputs_are_within_the_floor(dtype):
    """A subnormal input read as 0: P = 0.9·tiny and y = 2 give D2 = 0 in mlpext, about 1.8·tiny in NumPy, and D1
    (through W2 = 4) is off by more. The flush floor admits both, and is needed."""
    if not _core.build_info()["flushes_subnormals"]:
        pytest.skip("this build keeps subnormal numbers")
    tiny = np.finfo(dtype).tiny
    y, P = np.full((1, 1), 2, dtype), np.full((1, 1), 0.9 * tiny, dtype)
    A1, W2 = np.full((1, 3), 0.5, dtype), np.full((3, 1), 4, dtype)
    ours, theirs = mlpext.backward(y, A1, P, W2), reference.backward(y, A1, P, W2)
    assert ours[0][0, 0] == 0 and theirs[0][0, 0] > tiny  # D2
    floor = flush_floor(dtype)
    _, _, _, M_D1 = backward_magnitudes(y, A1, 0.0, P, 0.0, W2, 0.0, floor)
    assert_within(ours[0], theirs[0], 6 * floor, "delta_output")
    assert_within(ours[1], theirs[1], M_D1, "delta_hidden")
    with pytest.raises(AssertionError):
        assert_within(ours[0], theirs[0], 0.0, "delta_output")
    _, _, _, bare = backward_magnitudes(y, A1, 0.0, P, 0.0, W2, 0.0, 0.0)
    with pytest.raises(AssertionError):
        assert_within(ours[1], theirs[1], bare, "delta_hidden")


# ------------------------------------------------------------------------------------------------------------
# X (and y) in any real dtype and layout: exactly the result of the converted C array
# ------------------------------------------------------------------------------------------------------------

KINDS = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float16",
         "float32", "float64", "longdouble"]


def values_of_kind(kind, shape, rng):
    if kind == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    dtype = np.dtype(kind)
    if dtype.kind in "iu":
        lo = 0 if dtype.kind == "u" else -5
        return rng.integers(lo, 6, shape).astype(dtype)
    return rng.uniform(-3, 3, shape).astype(dtype)


def layout(a, how):
    """a (a C array) re-presented with the same values in another layout or container."""
    if how == "C":
        return a
    if how == "fortran":
        return np.asfortranarray(a)
    if how == "strided":
        big = np.zeros((a.shape[0] * 2, a.shape[1] * 3), dtype=a.dtype)
        big[::2, ::3] = a
        return big[::2, ::3]
    if how == "negative_strides":
        return np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]
    if how == "byteswapped":
        return a.astype(a.dtype.newbyteorder())
    if how == "misaligned":
        raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
        view = raw[1:].view(a.dtype).reshape(a.shape)
        view[...] = a
        return view
    if how == "broadcast":  # stride 0 along the rows: only valid when all rows are equal
        return np.broadcast_to(a[:1], a.shape)
    if how == "list":
        return a.tolist()
    if how == "tuple":
        return tuple(tuple(row) for row in a.tolist())
    raise AssertionError(how)


LAYOUTS = ["C", "fortran", "strided", "negative_strides", "byteswapped", "misaligned", "broadcast", "list", "tuple"]


def converted(a, how, dtype):
    """The C array of the params' dtype that mlpext should see for layout(a, how)."""
    return np.ascontiguousarray(np.asarray(layout(a, how)), dtype=dtype)


@pytest.mark.parametrize("how", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_input_conversion(kind, how, dtype):
    rng = np.random.default_rng([KINDS.index(kind), LAYOUTS.index(how)])
    n, n_in, hidden, n_out = 5, 3, 4, 2
    X_raw = values_of_kind(kind, (n, n_in), rng)
    y_raw = values_of_kind(kind, (n, n_out), rng)
    X, y = layout(X_raw, how), layout(y_raw, how)
    Xc, yc = converted(X_raw, how, dtype), converted(y_raw, how, dtype)
    params = make_params(7, n_in, hidden, n_out, dtype)

    for got, want in zip(mlpext.forward(X, *params), mlpext.forward(Xc, *params)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(mlpext.predict(X, *params), mlpext.predict(Xc, *params))

    A1, P = mlpext.forward(Xc, *params)
    for got, want in zip(mlpext.backward(y, A1, P, params[2]), mlpext.backward(yc, A1, P, params[2])):
        np.testing.assert_array_equal(got, want)

    D2, D1 = mlpext.backward(yc, A1, P, params[2])
    a, b = copies(params), copies(params)
    mlpext.update(X, A1, D2, D1, *a, 0.5)
    mlpext.update(Xc, A1, D2, D1, *b, 0.5)
    for got, want in zip(a, b):
        np.testing.assert_array_equal(got, want)

    a, b = copies(params), copies(params)
    assert mlpext.train_step(X, y, *a, 0.5) == mlpext.train_step(Xc, yc, *b, 0.5)
    np.testing.assert_array_equal(mlpext.train(X, y, *a, 0.5, 3), mlpext.train(Xc, yc, *b, 0.5, 3))
    for got, want in zip(a, b):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_intermediates_in_any_layout(dtype):
    """hidden_activation, predicted_output and the deltas may be non-contiguous (same dtype): same result."""
    rng = np.random.default_rng(11)
    X, y = rng.standard_normal((6, 3)), rng.uniform(size=(6, 2))
    params = make_params(11, 3, 4, 2, dtype)
    A1, P = mlpext.forward(X, *params)
    D2, D1 = mlpext.backward(y, A1, P, params[2])
    for how in ["fortran", "strided", "negative_strides", "misaligned"]:
        A1v, Pv, D2v, D1v = (layout(a, how) for a in (A1, P, D2, D1))
        for got, want in zip(mlpext.backward(y, A1v, Pv, params[2]), (D2, D1)):
            np.testing.assert_array_equal(got, want, err_msg=how)
        a, b = copies(params), copies(params)
        mlpext.update(X, A1v, D2v, D1v, *a, 0.3)
        mlpext.update(X, A1, D2, D1, *b, 0.3)
        for got, want in zip(a, b):
            np.testing.assert_array_equal(got, want, err_msg=how)


# ------------------------------------------------------------------------------------------------------------
# out=
# ------------------------------------------------------------------------------------------------------------

@given(nets())
def test_out_arrays(net):
    n, _, hidden, n_out = net.sizes
    fill = np.nan  # poison: every entry must be written
    A1_out, P_out = np.full((n, hidden), fill, net.dtype), np.full((n, n_out), fill, net.dtype)
    A1_new, P_new = mlpext.forward(net.X, *net.params)
    A1, P = mlpext.forward(net.X, *net.params, out=(A1_out, P_out))
    assert A1 is A1_out and P is P_out
    np.testing.assert_array_equal(A1, A1_new)
    np.testing.assert_array_equal(P, P_new)

    D2_out, D1_out = np.full((n, n_out), fill, net.dtype), np.full((n, hidden), fill, net.dtype)
    D2_new, D1_new = mlpext.backward(net.y, A1, P, net.params[2])
    D2, D1 = mlpext.backward(net.y, A1, P, net.params[2], out=(D2_out, D1_out))
    assert D2 is D2_out and D1 is D1_out
    np.testing.assert_array_equal(D2, D2_new)
    np.testing.assert_array_equal(D1, D1_new)

    for wrap in (lambda a: a, lambda a: (a,)):
        out = np.full((n, n_out), fill, net.dtype)
        got = mlpext.predict(net.X, *net.params, out=wrap(out))
        assert got is out
        np.testing.assert_array_equal(got, P_new)


# ------------------------------------------------------------------------------------------------------------
# The one-pass epoch of tiny networks
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 64, 65])
def test_one_pass_epoch_is_bit_identical_to_the_phases(dtype, n):
    """train and train_step are the engine's epochs, which run networks of at most 4 inputs, 4 hidden units and
    one output (and at most 64 samples) through a one-pass epoch on CPUs with AVX2 (float64 with at most 4
    samples: with the samples in the lanes of one vector, rows4_impl.h); forward/backward/update and trace_step
    run the dense layer's kernels. All evaluate the same operations in the same order, so they must agree to the
    bit: here on every input and hidden width 1-4, with batches inside and just outside (65) the one-pass
    range."""
    rng = np.random.default_rng(n)
    lr, epochs = 0.7, 6
    for n_in in range(1, 5):
        for hidden in range(1, 5):
            X = rng.standard_normal((n, n_in)).astype(dtype)
            y = rng.uniform(size=(n, 1)).astype(dtype)
            params = make_params(n_in * 10 + hidden, n_in, hidden, 1, dtype)
            fused, stepped, phased, traced = copies(params), copies(params), copies(params), copies(params)
            losses = mlpext.train(X, y, *fused, lr, epochs)
            step_losses = [mlpext.train_step(X, y, *stepped, lr) for _ in range(epochs)]
            phase_losses = []
            for _ in range(epochs):
                A1, P = mlpext.forward(X, *phased)
                phase_losses.append(np.abs((y - P).astype(np.float64)).mean())
                D2, D1 = mlpext.backward(y, A1, P, phased[2])
                mlpext.update(X, A1, D2, D1, *phased, lr)
                trace = mlpext.trace_step(X, y, *traced, lr)
                np.testing.assert_array_equal(A1, trace["A1"])
                np.testing.assert_array_equal(P, trace["y_hat"])
                np.testing.assert_array_equal(D2, trace["delta2"])
                np.testing.assert_array_equal(D1, trace["delta1"])
                traced = [trace[k] for k in ("W1_new", "b1_new", "W2_new", "b2_new")]
            where = f"n={n} in={n_in} hidden={hidden}"
            for a, b, c, t in zip(fused, stepped, phased, traced):
                np.testing.assert_array_equal(a, t, err_msg=where)
                np.testing.assert_array_equal(b, t, err_msg=where)
                np.testing.assert_array_equal(c, t, err_msg=where)
            np.testing.assert_array_equal(losses, step_losses, err_msg=where)
            np.testing.assert_allclose(losses, phase_losses, rtol=1e-13, err_msg=where)
