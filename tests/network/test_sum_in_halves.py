"""X·W + b of a layer more than 4 wide with at least `halves_min_in` inputs and at most `halves_max_weights`
weights sums its inputs in two halves (docs/design.md, "Numerics"): each half's sum in order, then
(first + second) + b, cut at the multiple of 16 that halves the inputs' blocks of 16. Checked bit for bit against
the engine's own sums of the two halves, each a layer too small to be cut again."""
import numpy as np
import pytest

import mlpext
from mlpext import _core

INFO = _core.build_info()


def halves_at(n_in, n_out):
    """Where the rule cuts a layer's sum; 0 if it does not."""
    if n_out <= 4 or n_in < INFO["halves_min_in"] or n_in * n_out > INFO["halves_max_weights"]:
        return 0
    return (n_in + 15) // 16 // 2 * 16


def forward(X, W, b):
    return _core.net_forward(X, [W], [b], ["identity"], 0.01)


def test_the_rule_is_the_documented_one():
    assert (INFO["halves_min_in"], INFO["halves_max_weights"]) == (256, 2**19)
    assert halves_at(784, 128) == 384 and halves_at(300, 20) == 144 and halves_at(257, 5) == 128
    assert halves_at(255, 100) == halves_at(300, 4) == halves_at(1024, 1024) == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_in, n_out", [(300, 20), (257, 5), (480, 40)])
def test_a_layer_sums_in_halves(dtype, n_in, n_out):
    h = halves_at(n_in, n_out)
    assert 0 < h and halves_at(h, n_out) == halves_at(n_in - h, n_out) == 0  # each half summed in order
    rng = np.random.default_rng(n_in + n_out)
    X = rng.uniform(-2, 2, (37, n_in)).astype(dtype)
    W = rng.uniform(-1, 1, (n_in, n_out)).astype(dtype)
    b = rng.uniform(-1, 1, n_out).astype(dtype)
    zero = np.zeros(n_out, dtype)
    first = forward(np.ascontiguousarray(X[:, :h]), np.ascontiguousarray(W[:h]), zero)
    second = forward(np.ascontiguousarray(X[:, h:]), np.ascontiguousarray(W[h:]), zero)
    whole = forward(X, W, b)
    np.testing.assert_array_equal(whole, (first + second) + b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_network_and_the_lecture_agree_on_a_layer_in_halves(dtype):
    """MLP(loss="lecture") and mlpext.train, a hidden layer that sums in halves: the same bits (one engine)."""
    rng = np.random.default_rng(7)
    X = rng.uniform(0, 1, (64, 300)).astype(dtype)
    y = rng.integers(0, 2, (64, 6)).astype(dtype)
    W1, b1 = (0.1 * rng.standard_normal((300, 24))).astype(dtype), np.zeros(24, dtype)
    W2, b2 = (0.1 * rng.standard_normal((24, 6))).astype(dtype), np.zeros(6, dtype)
    assert halves_at(300, 24) == 144
    net = mlpext.MLP([300, 24, 6], activation="sigmoid", output_activation="sigmoid", loss="lecture",
                     optimizer="sgd", learning_rate=0.5, dtype=dtype)
    net.params = [(W1.copy(), b1.copy()), (W2.copy(), b2.copy())]
    losses = mlpext.train(X, y, W1, b1, W2, b2, 0.5, 3, log_every=0, history="all")
    history = net.fit(X, y, epochs=3)
    for a, b in zip((p for layer in net.params for p in layer), (W1, b1, W2, b2)):
        assert a.tobytes() == b.tobytes()
    assert history.tobytes() == losses.tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_lecture_functions_with_both_layers_in_halves(dtype):
    """forward (its workspace), predict (the hidden activation, then forward's workspace) and trace_step (its own
    arrays as scratch) with both layers in halves: the same bits as each other and as train_step, and NumPy's
    values (mlpext.reference) within the dtype's rounding."""
    assert halves_at(300, 260) == 144 and halves_at(260, 8) == 128
    rng = np.random.default_rng(11)
    X = rng.uniform(-1, 1, (40, 300)).astype(dtype)
    y = rng.integers(0, 2, (40, 8)).astype(dtype)
    params = [(0.1 * rng.standard_normal(s)).astype(dtype) for s in ((300, 260), (260,), (260, 8), (8,))]
    A1, P = mlpext.forward(X, *params)
    np.testing.assert_array_equal(mlpext.predict(X, *params), P)
    trace = mlpext.trace_step(X, y, *params, 0.25)
    np.testing.assert_array_equal(trace["A1"], A1)
    np.testing.assert_array_equal(trace["y_hat"], P)
    rA1, rP = mlpext.reference.forward(X, *params)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(A1, rA1, rtol=rtol)
    np.testing.assert_allclose(P, rP, rtol=rtol)
    stepped = [p.copy() for p in params]
    mlpext.train_step(X, y, *stepped, 0.25)
    for got, key in zip(stepped, ("W1_new", "b1_new", "W2_new", "b2_new")):
        np.testing.assert_array_equal(got, trace[key])
