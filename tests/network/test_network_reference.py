"""The pure-NumPy baseline mlpext.reference_net.NumpyMLP against independent computations.

NumpyMLP is the oracle the C core is compared with (tests/network/test_network.py), so it is checked here on its own,
without the C extension:

  * xoshiro256** against the published reference outputs, and the Fisher–Yates shuffle;
  * forward passes and losses against scalar Python (math module) transcriptions of the definitions, and known
    PyTorch values;
  * SGD (momentum, Nesterov, weight decay) and Adam against scalar transcriptions of torch.optim's update loops;
  * fit's mini-batch loop against step() on the same batches;
  * the lecture's network against mlpext.reference.train (the lecture's NumPy loop);
  * the initialization (PyTorch's nn.Linear default, from np.random.default_rng(seed)).
"""
import math

import numpy as np
import pytest

import mlpext
import mlpext.reference as lecture_reference
from mlp_helpers import XOR_X, XOR_Y, assert_close_to_scale, make_params
from mlpext.reference_net import NumpyMLP, shuffled_order, xoshiro256ss_next

# ------------------------------------------------------------------------------------------------------------
# xoshiro256** and the shuffle
# ------------------------------------------------------------------------------------------------------------

# The first outputs of xoshiro256** from the state {1, 2, 3, 4}, as produced by the reference C implementation
# (https://prng.di.unimi.it/xoshiro256starstar.c; the test vector of the rand_xoshiro crate).
XOSHIRO_1234 = [11520, 0, 1509978240, 1215971899390074240, 1216172134540287360, 607988272756665600,
                16172922978634559625, 8476171486693032832, 10595114339597558777, 2904607092377533576]


def test_xoshiro256ss_reference_outputs():
    state = [1, 2, 3, 4]
    assert [xoshiro256ss_next(state) for _ in XOSHIRO_1234] == XOSHIRO_1234


def test_shuffled_order_is_fisher_yates():
    state = [1, 2, 3, 4]
    perm = shuffled_order(10, state)
    # by hand: perm = 0..9; for i = 9 … 1, j = next() % (i + 1), swap
    expected, s = list(range(10)), [1, 2, 3, 4]
    for i in range(9, 0, -1):
        j = xoshiro256ss_next(s) % (i + 1)
        expected[i], expected[j] = expected[j], expected[i]
    assert perm.tolist() == expected
    assert sorted(perm.tolist()) == list(range(10))
    assert state == s  # exactly n − 1 draws
    one = [5, 6, 7, 8]
    assert shuffled_order(1, one).tolist() == [0] and one == [5, 6, 7, 8]  # n = 1 draws nothing


# ------------------------------------------------------------------------------------------------------------
# Scalar transcriptions of the definitions
# ------------------------------------------------------------------------------------------------------------

def scalar_act(name, z, slope):
    if name == "sigmoid":
        return 1 / (1 + math.exp(-z))
    if name == "tanh":
        return math.tanh(z)
    if name == "relu":
        return max(z, 0.0)
    if name == "leaky_relu":
        return z if z > 0 else slope * z
    if name == "gelu":
        return z * 0.5 * (1 + math.erf(z / math.sqrt(2)))
    return z


def scalar_forward(net, X):
    """The output of every row, element by element, with math's functions; also the last layer's Z."""
    out, logits = [], []
    for row in X.tolist():
        a = row
        for (W, b), act in zip(net.params, net.activations):
            z = [sum(a[i] * W[i, j] for i in range(len(a))) + b[j] for j in range(W.shape[1])]
            if act == "softmax":
                m = max(z)
                total = sum(math.exp(v - m) for v in z)
                a = [math.exp(v - m) / total for v in z]
            else:
                a = [scalar_act(act, v, net.leaky_slope) for v in z]
        out.append(a)
        logits.append(z)
    return np.array(out), np.array(logits)


def scalar_loss(loss, P, Z, y):
    if loss == "lecture":  # the figure the lecture prints (its gradient is that of ½·Σ(y − ŷ)²)
        return sum(abs(t - p) for t, p in zip(y.ravel(), P.ravel())) / P.size
    if loss == "mse":
        return sum((p - t) ** 2 for t, p in zip(y.ravel(), P.ravel())) / P.size
    if loss == "mae":
        return sum(abs(p - t) for t, p in zip(y.ravel(), P.ravel())) / P.size
    if loss == "bce":
        def clamped_log(x):
            return -100.0 if x <= 0 else max(math.log(x), -100.0)
        return sum(-(t * clamped_log(p) + (1 - t) * clamped_log(1 - p))
                   for t, p in zip(y.ravel(), P.ravel())) / P.size
    # cross_entropy
    rows = np.eye(Z.shape[1])[y] if y.ndim == 1 else y
    total = 0.0
    for z, t in zip(Z.tolist(), rows.tolist()):
        log_sum = math.log(sum(math.exp(v) for v in z))
        total -= sum(tc * (v - log_sum) for tc, v in zip(t, z))
    return total / Z.shape[0]


CONFIGS = [  # (hidden activation, loss, output activation, target kind)
    ("sigmoid", "lecture", "sigmoid", "real"),
    ("tanh", "lecture", "softmax", "real"),
    ("relu", "mse", "identity", "real"),
    ("leaky_relu", "mse", "sigmoid", "real"),
    ("identity", "mse", "softmax", "real"),
    ("tanh", "bce", "sigmoid", "binary"),
    ("relu", "cross_entropy", "softmax", "labels"),
    ("sigmoid", "cross_entropy", "softmax", "probabilities"),
    ("gelu", "mse", "identity", "real"),
    ("gelu", "cross_entropy", "softmax", "labels"),
    ("tanh", "mae", "identity", "real"),
    ("relu", "mae", "sigmoid", "real"),
]


def data(kind, n=9, inputs=4, outputs=3, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, inputs))
    if kind == "real":
        y = rng.standard_normal((n, outputs))
    elif kind == "binary":
        y = rng.integers(0, 2, (n, outputs)).astype(np.float64)
    elif kind == "labels":
        y = rng.integers(0, outputs, n)
    else:
        y = rng.dirichlet(np.ones(outputs), n)
    return X, y


@pytest.mark.parametrize("hidden, loss, out, kind", CONFIGS)
def test_forward_and_loss_against_scalar_code(hidden, loss, out, kind):
    net = NumpyMLP([4, 5, 3], activation=hidden, output_activation=out, loss=loss, dtype=np.float64, seed=2,
                   leaky_slope=0.3)
    X, y = data(kind)
    P, Z = scalar_forward(net, X)
    np.testing.assert_allclose(net.forward(X), P, rtol=1e-13, atol=1e-15)
    assert net.loss(X, y) == pytest.approx(scalar_loss(loss, P, Z, y), rel=1e-12)


@pytest.mark.parametrize("loss", ["lecture", "mse", "mae"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 9, 40, 700])
def test_elementwise_losses_are_numpys_means_in_double(loss, dtype, rows):
    """MLP.loss of an element-wise loss is NumPy's mean of its float64 terms to the bit: the C core sums them in
    np.add.reduce's pairwise order (csrc/pairwise.h), whatever the number of terms (5 to 3500 here)."""
    net = mlpext.MLP([4, 6, 5], activation="tanh", output_activation="identity", loss=loss, dtype=dtype, seed=3)
    X, y = data("real", n=rows, outputs=5)
    X, y = X.astype(dtype), y.astype(dtype)
    e = (net.forward(X) - y).astype(np.float64)  # P − y rounded to the dtype, as the kernel
    assert net.loss(X, y) == np.mean(e * e if loss == "mse" else np.abs(e))


def test_gelu_is_torchs_exact_gelu():
    """nn.GELU() (approximate="none") and its gradient at a few points, as torch 2 gives them in float64; and
    mlpext.MLP's C core agrees with the oracle there."""
    from mlpext import MLP
    z = np.array([[-3.0, -1.0, 0.0, 0.5, 2.0]])
    values = [-0.00404969409489031, -0.15865525393145702, 0.0, 0.34573123063700656, 1.9544997361036416]
    slopes = [-0.01194564720418392, -0.08331547058768635, 0.5, 0.8674951246561629, 1.085231801078197]
    for cls in (NumpyMLP, MLP):
        # a [1, 5, 1] network whose hidden pre-activation is z: W0 = z, b0 = 0; the output sums the units
        net = cls([1, 5, 1], activation="gelu", output_activation="identity", loss="lecture", dtype=np.float64)
        net.params[0][0][...] = z
        net.params[0][1][...] = 0
        net.params[1][0][...] = 1
        net.params[1][1][...] = 0
        assert net.forward([[1.0]])[0, 0] == pytest.approx(sum(values), rel=1e-15)
        # lecture loss ½(ŷ − y)² with y = ŷ − 1: ∂/∂W0 = (ŷ − y)·gelu'(z) = gelu'(z)
        out = float(net.forward([[1.0]])[0, 0])
        (dW0, _), _ = net.gradients([[1.0]], [[out - 1.0]])
        np.testing.assert_allclose(dW0[0], slopes, rtol=1e-14, atol=1e-17)


def test_mae_is_torchs_l1_loss():
    """nn.L1Loss()(ŷ, y): the mean of |ŷ − y| over all elements, and its gradient sign(ŷ − y)/N with sign 0 where
    ŷ = y (torch: L1Loss()(tensor([[1., 2., 3.]]), tensor([[0., 2., 5.]])) = 1, grad [1/3, 0, −1/3]); the same
    in mlpext.MLP's C core."""
    from mlpext import MLP
    for cls in (NumpyMLP, MLP):
        net = cls([1, 3], loss="mae", dtype=np.float64)
        assert net.output_activation == "identity"  # its natural output
        net.params[0][0][...] = 0
        net.params[0][1][...] = [1, 2, 3]
        assert net.loss([[0.0]], [[0, 2, 5]]) == 1.0
        (_, db), = net.gradients([[0.0]], [[0, 2, 5]])
        assert db.tolist() == [1 / 3, 0.0, -1 / 3]
        (_, db), = net.gradients([[0.0]], [[1, 2, 3]])  # ŷ = y everywhere: a zero gradient, no step
        assert db.tolist() == [0.0, 0.0, 0.0]
        with np.errstate(invalid="ignore"):
            (_, db), = net.gradients([[0.0]], [[np.nan, 2, 3]])  # NaN in gives NaN out
        assert np.isnan(db[0]) and db[1:].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("logits, label", [
    ([-math.inf, 0.0, 1.0], 2),  # a masked class: probability 0, loss and gradient finite
    ([-math.inf, -math.inf, 0.0], 2),  # one class left: probability 1, loss 0, no gradient
    ([1e30, 1e30, -1e30], 0),  # equal logits far beyond exp's range: an even split
    ([1e30, 0.0, -1e30], 1),  # the right class 1e30 below the best: loss 1e30, gradient finite
], ids=["masked", "one-left", "equal-huge", "wrong-huge"])
def test_softmax_cross_entropy_at_infinite_and_huge_logits(dtype, logits, label):
    """nn.CrossEntropyLoss on logits that exp cannot take as they are (±inf, ±1e30): softmax and log-softmax after
    subtracting the row's maximum, so a −inf logit is a class of probability 0, equal huge logits split evenly and a
    right class far below the best costs its distance; the fused gradient softmax − onehot stays finite. Expected
    values from the definitions in the math module; the C core and the oracle alike, both dtypes."""
    top = max(logits)
    shifted = [z - top for z in logits]
    total = sum(math.exp(v) for v in shifted)
    probabilities = [math.exp(v) / total for v in shifted]
    loss = math.log(total) - shifted[label]
    gradient = [p - (k == label) for k, p in enumerate(probabilities)]
    rtol = 1e-15 if dtype == np.float64 else 1e-6
    for cls in (NumpyMLP, mlpext.MLP):
        net = cls([1, 3], loss="cross_entropy", dtype=dtype)
        net.params[0][0][...] = 0
        net.params[0][1][...] = logits
        with np.errstate(invalid="ignore", over="ignore"):  # (the oracle's −inf − (−inf) never reaches a result)
            out = net.forward([[0.0]])
            value = net.loss([[0.0]], [label])
            (dW, db), = net.gradients([[0.0]], [label])
        np.testing.assert_allclose(out[0], probabilities, rtol=rtol, atol=0, err_msg=cls.__name__)
        assert value == pytest.approx(loss, rel=rtol, abs=rtol), cls.__name__
        np.testing.assert_allclose(db, gradient, rtol=rtol, atol=0, err_msg=cls.__name__)
        assert dW.tolist() == [[0.0, 0.0, 0.0]], cls.__name__  # X = 0


def test_known_pytorch_values():
    # torch.nn.CrossEntropyLoss()(torch.tensor([[1., 2., 3.]]), torch.tensor([2])) = 0.40760596444438
    net = NumpyMLP([1, 3], loss="cross_entropy", dtype=np.float64)
    net.params[0][0][...] = 0
    net.params[0][1][...] = [1, 2, 3]
    assert net.loss([[0.0]], [2]) == pytest.approx(0.40760596444438, rel=1e-13)
    assert net.loss([[0.0]], [[0.0, 0.0, 1.0]]) == pytest.approx(0.40760596444438, rel=1e-13)
    # nn.BCELoss clamps each log at −100: a saturated wrong output costs exactly 100
    net = NumpyMLP([1, 2], loss="bce", dtype=np.float64)
    net.params[0][0][...] = 0
    net.params[0][1][...] = [-800, 800]  # sigmoid: exactly 0 and 1 in float64
    assert net.forward([[0.0]]).tolist() == [[0.0, 1.0]]
    assert net.loss([[0.0]], [[1, 0]]) == 100.0
    assert net.loss([[0.0]], [[0, 1]]) == 0.0
    # mse is the mean of the squares over all elements, lecture the mean of the absolute errors
    net = NumpyMLP([1, 2], loss="mse", dtype=np.float64)
    net.params[0][0][...] = 0
    net.params[0][1][...] = [1, 3]
    assert net.loss([[0.0], [0.0]], [[0, 0], [1, 1]]) == pytest.approx((1 + 9 + 0 + 4) / 4)
    net = NumpyMLP([1, 2], loss="lecture", output_activation="identity", dtype=np.float64)
    net.params[0][0][...] = 0
    net.params[0][1][...] = [1, 3]
    assert net.loss([[0.0], [0.0]], [[0, 0], [1, 1]]) == pytest.approx((1 + 3 + 0 + 2) / 4)


# ------------------------------------------------------------------------------------------------------------
# Optimizers against scalar transcriptions of torch.optim (single-tensor path)
# ------------------------------------------------------------------------------------------------------------

def torch_sgd(params, grads, bufs, lr, momentum, nesterov, wd):
    for k, (p, g) in enumerate(zip(params, grads)):
        for i in range(p.size):
            d = g.flat[i]
            if wd != 0:
                d = d + wd * p.flat[i]
            if momentum != 0:
                bufs[k].flat[i] = bufs[k].flat[i] * momentum + d
                d = d + momentum * bufs[k].flat[i] if nesterov else bufs[k].flat[i]
            p.flat[i] = p.flat[i] + (-lr) * d


def torch_adam(params, grads, ms, vs, t, lr, beta1, beta2, eps, wd):
    bias_correction1 = 1 - beta1 ** t
    bias_correction2 = 1 - beta2 ** t
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2 ** 0.5
    for p, g, m, v in zip(params, grads, ms, vs):
        for i in range(p.size):
            d = g.flat[i]
            if wd != 0:
                d = d + wd * p.flat[i]
            w = 1 - beta1
            m.flat[i] = m.flat[i] + w * (d - m.flat[i]) if abs(w) < 0.5 else d - (d - m.flat[i]) * (1 - w)
            v.flat[i] = v.flat[i] * beta2 + (1 - beta2) * d * d
            denom = math.sqrt(v.flat[i]) / bias_correction2_sqrt + eps
            p.flat[i] = p.flat[i] + (-step_size) * m.flat[i] / denom


def torch_adamw(params, grads, ms, vs, t, lr, beta1, beta2, eps, wd):
    for p in params:  # param.mul_(1 - lr * weight_decay), then Adam without L2
        p *= 1 - lr * wd
    torch_adam(params, grads, ms, vs, t, lr, beta1, beta2, eps, 0.0)


def torch_rmsprop(params, grads, sqs, lr, alpha, eps, wd):
    for p, g, sq in zip(params, grads, sqs):
        for i in range(p.size):
            d = g.flat[i]
            if wd != 0:
                d = d + wd * p.flat[i]
            sq.flat[i] = sq.flat[i] * alpha + (1 - alpha) * d * d
            p.flat[i] = p.flat[i] + (-lr) * d / (math.sqrt(sq.flat[i]) + eps)


OPTIMIZERS = [
    dict(optimizer="sgd", learning_rate=0.1),
    dict(optimizer="sgd", learning_rate=0.1, weight_decay=0.01),
    dict(optimizer="sgd", learning_rate=0.05, momentum=0.9),
    dict(optimizer="sgd", learning_rate=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
    dict(optimizer="adam", learning_rate=0.01),
    dict(optimizer="adam", learning_rate=0.02, betas=(0.3, 0.9), eps=1e-6, weight_decay=0.05),
    dict(optimizer="rmsprop", learning_rate=0.01),
    dict(optimizer="rmsprop", learning_rate=0.02, alpha=0.5, eps=1e-6, weight_decay=0.05),
    dict(optimizer="adamw", learning_rate=0.01),
    dict(optimizer="adamw", learning_rate=0.02, betas=(0.3, 0.9), eps=1e-6, weight_decay=0.2),
    dict(optimizer="adamw", learning_rate=0.02, weight_decay=0.0),
]


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_optimizer_steps_against_torch_formulas(opt):
    net = NumpyMLP([4, 5, 3], activation="tanh", loss="cross_entropy", dtype=np.float64, seed=4, **opt)
    X, y = data("labels")
    params = [p.copy() for pair in net.params for p in pair]
    zeros = [np.zeros_like(p) for p in params]
    bufs, ms, vs = [z.copy() for z in zeros], [z.copy() for z in zeros], [z.copy() for z in zeros]
    for t in range(1, 6):
        batch = slice(2 * t - 2, 2 * t + 1)
        grads = [g for pair in net.gradients(X[batch], y[batch]) for g in pair]
        loss_before = net.loss(X[batch], y[batch])
        assert net.step(X[batch], y[batch]) == loss_before
        beta1, beta2 = opt.get("betas", (0.9, 0.999))
        eps = opt.get("eps", 1e-8)
        if opt["optimizer"] == "sgd":
            torch_sgd(params, grads, bufs, opt["learning_rate"], opt.get("momentum", 0.0),
                      opt.get("nesterov", False), opt.get("weight_decay", 0.0))
        elif opt["optimizer"] == "adam":
            torch_adam(params, grads, ms, vs, t, opt["learning_rate"], beta1, beta2, eps, opt.get("weight_decay", 0.0))
        elif opt["optimizer"] == "adamw":  # torch.optim.AdamW's default weight_decay: 0.01
            torch_adamw(params, grads, ms, vs, t, opt["learning_rate"], beta1, beta2, eps,
                        opt.get("weight_decay", 0.01))
        else:
            torch_rmsprop(params, grads, bufs, opt["learning_rate"], opt.get("alpha", 0.99), eps,
                          opt.get("weight_decay", 0.0))
        for got, want in zip([p for pair in net.params for p in pair], params):
            assert_close_to_scale(got, want, 1e-14)
    if opt["optimizer"] in ("adam", "adamw"):
        assert net._state[0].tolist() == [5]
    if opt["optimizer"] == "rmsprop":  # its one buffer, square_avg, as the formula's
        for got, want in zip(net._state, bufs):
            assert_close_to_scale(got, want, 1e-14)


# ------------------------------------------------------------------------------------------------------------
# fit
# ------------------------------------------------------------------------------------------------------------

def test_fit_is_steps_on_shuffled_batches():
    """fit(batch_size=k) = step() on consecutive k-row slices of each epoch's xoshiro256** permutation; the epoch
    loss is the sample-weighted mean of the batch losses."""
    X, y = data("labels", n=11)
    a = NumpyMLP([4, 6, 3], activation="relu", loss="cross_entropy", optimizer="adam", dtype=np.float64, seed=7)
    b = NumpyMLP([4, 6, 3], activation="relu", loss="cross_entropy", optimizer="adam", dtype=np.float64, seed=7)
    history = a.fit(X, y, epochs=3, batch_size=4)
    state = [int(s) for s in b._rng]
    for epoch in range(3):
        order = shuffled_order(11, state)
        losses = [b.step(X[order[s:s + 4]], y[order[s:s + 4]]) * len(order[s:s + 4]) for s in range(0, 11, 4)]
        assert history[epoch] == pytest.approx(sum(losses) / 11, rel=1e-15)
    assert a._rng.tolist() == state
    for (Wa, ba), (Wb, bb) in zip(a.params, b.params):
        assert np.array_equal(Wa, Wb) and np.array_equal(ba, bb)


def test_fit_without_shuffle_or_full_batch_draws_nothing():
    X, y = data("real", n=10)
    net = NumpyMLP([4, 3, 3], dtype=np.float64, seed=1)
    rng = net._rng.copy()
    net.fit(X, y, epochs=2)  # batch_size=None: the whole batch
    net.fit(X, y, epochs=2, batch_size=3, shuffle=False)
    net.fit(X, y, epochs=2, batch_size=10)  # batch >= n: the whole batch, in order
    assert np.array_equal(net._rng, rng)
    net.fit(X, y, epochs=1, batch_size=3)
    assert not np.array_equal(net._rng, rng)


# ------------------------------------------------------------------------------------------------------------
# The lecture
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lecture_network_is_the_lectures_loop(dtype):
    params = make_params(0, dtype=np.dtype(dtype))
    net = NumpyMLP([2, 3, 1], activation="sigmoid", output_activation="sigmoid", loss="lecture", optimizer="sgd",
                   learning_rate=0.5, dtype=dtype)
    for (W, b), W_l, b_l in zip(net.params, params[0::2], params[1::2]):
        W[...] = W_l
        b[...] = b_l
    lecture_reference.train(XOR_X, XOR_Y, *params, 0.5, 2000)
    net.fit(XOR_X, XOR_Y, epochs=2000)
    for (W, b), W_l, b_l in zip(net.params, params[0::2], params[1::2]):
        # the same operations up to the sign of the delta (−δ·lr subtracted vs δ·lr added): identical
        assert np.array_equal(W, W_l) and np.array_equal(b, b_l)


# ------------------------------------------------------------------------------------------------------------
# Initialization
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_initialization_is_nn_linear_default_from_default_rng(dtype):
    sizes = [5, 7, 2]
    net = NumpyMLP(sizes, dtype=dtype, seed=123)
    rng = np.random.default_rng(123)
    for (W, b), fan_in, fan_out in zip(net.params, sizes[:-1], sizes[1:]):
        k = 1 / math.sqrt(fan_in)
        assert np.array_equal(W, rng.uniform(-k, k, (fan_in, fan_out)).astype(dtype))
        assert np.array_equal(b, rng.uniform(-k, k, fan_out).astype(dtype))
        assert W.dtype == b.dtype == np.dtype(dtype)
        assert W.flags.c_contiguous and b.flags.c_contiguous and W.flags.writeable
    assert np.array_equal(net._rng, rng.integers(0, 2**64 - 1, size=4, dtype=np.uint64, endpoint=True))
    assert net._rng.dtype == np.uint64 and net._rng.any()


@pytest.mark.parametrize("residual", [1e30, 1e-30])
def test_float32_mse_loss_squares_in_double_in_the_oracle_too(residual):
    """A float32 residual whose square leaves float32's range (1e30: 1e60; 1e-30: 1e-60) gives the same loss in the
    C core and the oracle: both square P − y in float64, not inf or 0."""
    losses = []
    for cls in (mlpext.MLP, NumpyMLP):
        net = cls([1, 1], output_activation="identity", loss="mse", dtype=np.float32)
        net.params[0][0][...] = 0
        net.params[0][1][...] = 0
        losses.append(net.loss(np.zeros((2, 1), np.float32), np.full((2, 1), residual, np.float32)))
    expected = float(np.float32(residual)) ** 2
    assert losses[0] == losses[1] == expected
