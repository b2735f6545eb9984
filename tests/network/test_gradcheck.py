"""Finite-difference checks of gradients(): for every hidden activation and every loss / output activation.

In float64, each parameter entry p is moved by ±h and the loss recomputed: fd = (L(p + h) − L(p − h)) / 2h.
Central differences have a truncation error of about h²·|L'''|/6 and a rounding error of about u·|L|/h
(u = 2**-53): with h = 1e-6 and |L|, |L'''| of order 1 both are ~1e-10 or below, against gradient entries of
order 1e-3 … 1. Each gradient array must satisfy max|gradient − fd| <= 1e-6 · max|fd| (a scale-relative
error: entries near zero are judged against the array's size, where the rounding happens). A wrong sign,
factor or missing term gives an error of order 1.

The points are random and fixed (seeded); a ReLU kink within h of a pre-activation would spoil a check, and
test_no_kink_nearby makes sure the points used are at least 1e-3 away from every kink.

Both mlpext.MLP (the C core) and the NumPy baseline NumpyMLP are checked.
"""
import numpy as np
import pytest

from mlpext.network import MLP
from mlpext.reference_net import NumpyMLP

H = 1e-6
RTOL = 1e-6
IMPLEMENTATIONS = [MLP, NumpyMLP]
HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity", "gelu"]
# (loss, output activation, kind of target)
LOSS_CASES = [
    ("lecture", "sigmoid", "real"),
    ("lecture", "identity", "real"),
    ("lecture", "softmax", "real"),
    ("mse", "identity", "real"),
    ("mse", "sigmoid", "real"),
    ("mse", "softmax", "real"),
    ("bce", "sigmoid", "soft"),
    ("bce", "sigmoid", "binary"),
    ("cross_entropy", "softmax", "labels"),
    ("cross_entropy", "softmax", "onehot"),
    ("cross_entropy", "softmax", "probabilities"),
    ("mae", "identity", "real"),
    ("mae", "sigmoid", "real"),
    ("mae", "softmax", "real"),
]
SIZES = [3, 5, 4, 3]  # two hidden layers, so the hidden activation's derivative is chained through a layer
N = 7


def target(kind, rng, n=N, classes=SIZES[-1]):
    if kind == "real":
        return rng.standard_normal((n, classes))
    if kind == "soft":
        return rng.uniform(0.05, 0.95, (n, classes))
    if kind == "binary":
        return rng.integers(0, 2, (n, classes)).astype(np.float64)
    labels = rng.integers(0, classes, n)
    if kind == "labels":
        return labels
    if kind == "onehot":
        return np.eye(classes)[labels]
    if kind == "probabilities":
        return rng.dirichlet(np.ones(classes), n)
    raise AssertionError(kind)


def make_case(cls, hidden, loss, out, kind, seed=0, slope=0.2):
    net = cls(SIZES, activation=hidden, output_activation=out, loss=loss, dtype=np.float64, seed=seed,
              leaky_slope=slope)
    rng = np.random.default_rng(100 + seed)
    X = rng.standard_normal((N, SIZES[0]))
    return net, X, target(kind, rng)


def objective(net, X, y):
    """What gradients() differentiates: the loss, but for loss="lecture" ½·Σ(y − ŷ)², whose gradient the lecture's
    update takes (its loss() is the figure the lecture prints, mean |y − ŷ|)."""
    if net.loss_name == "lecture":
        e = y - net.forward(X)
        return 0.5 * float(np.sum(e * e))
    return net.loss(X, y)


def test_lecture_objective_differs_from_its_reported_loss():
    """The lecture's loss() is mean |y − ŷ| while its gradient is that of ½·Σ(y − ŷ)²: the check above must use
    the latter, and the two must differ here, or it would check nothing new."""
    net, X, y = make_case(MLP, "sigmoid", "lecture", "sigmoid", "real")
    P = net.forward(X)
    assert net.loss(X, y) == pytest.approx(np.mean(np.abs(y - P)), rel=1e-12)
    assert objective(net, X, y) != pytest.approx(net.loss(X, y), rel=1e-3)


def finite_differences(net, X, y):
    result = []
    for W, b in net.params:
        pair = []
        for p in (W, b):
            fd = np.empty_like(p)
            flat, fd_flat = p.reshape(-1), fd.reshape(-1)
            for k in range(flat.size):
                keep = flat[k]
                flat[k] = keep + H
                up = objective(net, X, y)
                flat[k] = keep - H
                down = objective(net, X, y)
                flat[k] = keep
                fd_flat[k] = (up - down) / (2 * H)
            pair.append(fd)
        result.append(tuple(pair))
    return result


def assert_gradients_match(net, X, y, rtol=RTOL):
    before = [p.copy() for pair in net.params for p in pair]
    grads = net.gradients(X, y)
    after = [p for pair in net.params for p in pair]
    for a, b in zip(before, after):  # gradients() updates nothing
        assert a.tobytes() == b.tobytes()
    fds = finite_differences(net, X, y)
    assert len(grads) == len(fds) == len(net.params)
    for layer, ((dW, db), (fW, fb), (W, b)) in enumerate(zip(grads, fds, net.params)):
        for name, g, fd, p in ((f"dW{layer}", dW, fW, W), (f"db{layer}", db, fb, b)):
            assert g.shape == p.shape and g.dtype == p.dtype, name
            scale = np.max(np.abs(fd))
            assert scale > 1e-8, f"{name}: the finite differences vanish; the check would be empty"
            err = np.max(np.abs(g - fd)) / scale
            assert err <= rtol, f"{name}: relative error {err:.2e}\ngradient\n{g}\nfinite differences\n{fd}"


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("loss, out, kind", LOSS_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradients_match_finite_differences(cls, hidden, loss, out, kind):
    net, X, y = make_case(cls, hidden, loss, out, kind)
    assert_gradients_match(net, X, y)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("slope", [0.0, 0.01, 1.5])
def test_leaky_relu_slopes(cls, slope):
    net, X, y = make_case(cls, "leaky_relu", "mse", "identity", "real", slope=slope)
    assert_gradients_match(net, X, y)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("sizes", [[4, 2], [2, 1, 1], [3, 6, 6, 6, 2]], ids=str)
def test_other_depths(cls, sizes):
    """No hidden layer (L = 1), width-1 layers, and a deeper network."""
    rng = np.random.default_rng(5)
    net = cls(sizes, activation="tanh", loss="bce", dtype=np.float64, seed=3)
    X = rng.standard_normal((5, sizes[0]))
    y = rng.integers(0, 2, (5, sizes[-1]))
    assert_gradients_match(net, X, y)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_cross_entropy_unnormalized_rows(cls):
    """nn.CrossEntropyLoss takes any non-negative target rows (e.g. weighted or unnormalized counts):
    loss = −mean Σ_c y_c·log_softmax(z)_c, whose gradient is softmax·Σ_c y_c − y, not softmax − y."""
    net, X, _ = make_case(cls, "tanh", "cross_entropy", "softmax", "labels")
    y = np.random.default_rng(9).uniform(0, 2, (N, SIZES[-1]))
    assert_gradients_match(net, X, y)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_single_sample(cls):
    net, X, y = make_case(cls, "sigmoid", "cross_entropy", "softmax", "labels")
    assert_gradients_match(net, X[:1], y[:1])


def test_no_kink_nearby():
    """The relu / leaky_relu points above stay away from the kink at z = 0 (see the module docstring).

    Moving one parameter by h = 1e-6 moves a pre-activation by at most h·max(1, |input|) times the weights
    between them (all < 1 here): about 4e-6. The points keep every hidden pre-activation 1e-4 away from 0."""
    for kind in {k for _, _, k in LOSS_CASES}:
        for hidden, slope in (("relu", 0.0), ("leaky_relu", 0.2)):
            net, X, _ = make_case(NumpyMLP, hidden, "mse", "identity", kind)
            assert np.max(np.abs(X)) < 4
            A = X
            for W, b in net.params[:-1]:
                Z = A @ W + b
                assert np.min(np.abs(Z)) > 1e-4
                A = np.where(Z > 0, Z, slope * Z)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_gradient_keeps_pulling_a_saturated_output_back(cls, dtype):
    """The sigmoid + BCE gradient is (σ − y)/N at every z (docs/design.md, "Exactness"): the derivative of the loss
    wherever the loss is not clamped, nn.BCEWithLogitsLoss's and scikit-learn's. nn.BCELoss's own gradient would
    vanish from |z| ≈ 27.6 on and leave a confidently wrong output (loss 30 to 100) almost none. One output
    (z = the bias, the weight 0), from the unsaturated range into saturation, for both targets."""
    zs = [0.5, 10.0, 30.0, 50.0, 90.0] if dtype == np.float64 else [0.5, 10.0, 30.0, 80.0]
    for z in zs:
        for target, sign in ((0.0, 1.0), (1.0, -1.0)):
            net = cls([1, 1], activation="sigmoid", loss="bce", dtype=dtype, seed=0)
            net.params[0][0][...] = 0
            net.params[0][1][...] = sign * z  # wrong side: target 0 with z > 0, target 1 with z < 0
            X, y = np.zeros((1, 1), dtype), np.full((1, 1), target, dtype)
            p = float(net.forward(X)[0, 0])
            got = float(net.gradients(X, y)[0][1][0])
            assert got == pytest.approx(p - target, rel=1e-6), (z, target)
            assert z < 10 or abs(got) > 0.99  # nearly ±1: the output is pulled back however saturated
            loss = net.loss(X, y)
            if dtype == np.float64 and loss < 99:  # not clamped: the gradient is the loss's slope
                # (near σ = 1, 1 − σ moves in steps of 2^-53: a wide step h, and a tolerance to match)
                h, rel = (1e-6, 1e-4) if z < 10 else (0.05, 2e-2)
                b = net.params[0][1]
                b[...] = sign * z + h
                up = net.loss(X, y)
                b[...] = sign * z - h
                down = net.loss(X, y)
                assert (up - down) / (2 * h) == pytest.approx(got, rel=rel), (z, target)
