"""mlpext.MLP (general networks on the C core) against the NumPy baseline NumpyMLP, and its public behaviour.

Every valid combination of hidden activation × loss / output activation × optimizer, in float64 and float32:
forward, loss and gradients at the initial point, six step() calls on batches of changing size, then fit() with
shuffled mini-batches (three epochs of four batches); the parameters, the optimizer state, the shuffle RNG
state and the loss histories must agree.

How close is close enough
-------------------------
Both sides evaluate the same formulas in the same order except for the summation order of NumPy's BLAS and the
exp/tanh implementations, so they differ by rounding only. Arrays are compared relative to their largest entry
(mlp_helpers.assert_close_to_scale): entries that pass near zero carry absolute errors of the array's scale.

* float64: ≤ 1e-10. A step rounds each parameter a few dozen times (sums over ≤ 17 rows and ≤ 6 inputs, the
  activations, the optimizer's formula), each time by ≤ u = 2**-53 ≈ 1.1e-16 of the scale; over 18 steps that
  is ~1e-13 at worst. The differences seen are ~3e-15; a wrong term or order of updates gives ≥ 1e-4.
* float32: ≤ 1e-4. The same count with u = 2**-24 ≈ 6e-8: 18 steps × ~50 roundings × u ≈ 5e-5. The
  differences seen are ~2e-6.
The RNG state is compared exactly: both sides must draw the same permutations.
"""
import _thread
import contextlib
import io
import re
import sys
import threading
import time
import types

import numpy as np
import pytest

import mlpext
from mlp_helpers import XOR_X, XOR_Y, assert_close_to_scale, make_params, unitless_timedelta
from mlpext.network import MLP
from mlpext.reference_net import NumpyMLP

RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}
IMPLEMENTATIONS = [MLP, NumpyMLP]
HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity", "gelu"]
LOSS_CASES = [  # (loss, output activation, target kind)
    ("lecture", "sigmoid", "real"),
    ("lecture", "identity", "real"),
    ("lecture", "softmax", "real"),
    ("mse", "identity", "real"),
    ("mse", "sigmoid", "real"),
    ("mse", "softmax", "real"),
    ("bce", "sigmoid", "binary"),
    ("cross_entropy", "softmax", "labels"),
    ("cross_entropy", "softmax", "probabilities"),
    ("mae", "identity", "real"),
    ("mae", "sigmoid", "real"),
]
OPTIMIZERS = {
    "sgd": dict(optimizer="sgd", learning_rate=0.1),
    "momentum": dict(optimizer="sgd", learning_rate=0.05, momentum=0.9),
    "nesterov-wd": dict(optimizer="sgd", learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": dict(optimizer="adam", learning_rate=0.01),
    "adam-wd-lowbeta": dict(optimizer="adam", learning_rate=0.01, betas=(0.4, 0.99), eps=1e-6, weight_decay=0.1),
    "rmsprop-wd": dict(optimizer="rmsprop", learning_rate=0.005, alpha=0.9, eps=1e-6, weight_decay=0.01),
    "adamw": dict(optimizer="adamw", learning_rate=0.01),  # weight_decay: AdamW's default, 0.01
}
SIZES = [4, 6, 5, 3]
N = 17


def make_data(kind, n=N, inputs=SIZES[0], outputs=SIZES[-1], seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, inputs))
    if kind == "real":
        y = rng.standard_normal((n, outputs))
    elif kind == "binary":
        y = rng.integers(0, 2, (n, outputs))
    elif kind == "labels":
        y = rng.integers(0, outputs, n)
    else:
        y = rng.dirichlet(np.ones(outputs), n)
    return X, y


def config(hidden, loss, out, opt, dtype):
    opt = dict(OPTIMIZERS[opt])
    if loss == "lecture":  # a sum over the batch, not a mean: smaller steps keep these runs from diverging
        opt["learning_rate"] /= 5
    return dict(activation=hidden, output_activation=out, loss=loss, dtype=dtype, seed=3, leaky_slope=0.1, **opt)


def flat_params(net):
    return [p for pair in net.params for p in pair]


def state_of(net):
    """Everything a step changes: parameters, optimizer state (with Adam's step count) and the RNG state."""
    return flat_params(net) + list(net._state) + [net._rng]


def snapshot(net):
    return [a.tobytes() for a in state_of(net)]


def assert_same_trajectory(a, b, rtol, what=""):
    pa, pb = flat_params(a) + a._state, flat_params(b) + b._state
    assert len(pa) == len(pb)
    for k, (x, y) in enumerate(zip(pa, pb)):
        if x.dtype == np.int64:
            assert np.array_equal(x, y), f"{what}: the optimizer's step count"
        else:
            assert_close_to_scale(x, y, rtol, err_msg=f"{what}: array {k}")
    assert np.array_equal(a._rng, b._rng), f"{what}: RNG state"


# ------------------------------------------------------------------------------------------------------------
# MLP against NumpyMLP
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("loss, out, kind", LOSS_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_matches_numpy_baseline(hidden, loss, out, kind, opt, dtype):
    cfg = config(hidden, loss, out, opt, dtype)
    c, r = MLP(SIZES, **cfg), NumpyMLP(SIZES, **cfg)
    rtol = RTOL[np.dtype(dtype)]
    X, y = make_data(kind)
    for p, q in zip(flat_params(c), flat_params(r)):  # the same initialization
        assert p.tobytes() == q.tobytes()
    # forward, loss, gradients at the start
    assert_close_to_scale(c.forward(X), r.forward(X), rtol)
    assert c.loss(X, y) == pytest.approx(r.loss(X, y), rel=rtol)
    for gc, gr in zip(c.gradients(X, y), r.gradients(X, y)):
        for a, b in zip(gc, gr):
            assert_close_to_scale(a, b, rtol)
    # steps on batches of 3 … 8 rows
    for k in range(6):
        batch = slice(k, 2 * k + 3)
        lc, lr = c.step(X[batch], y[batch]), r.step(X[batch], y[batch])
        assert isinstance(lc, float)
        assert lc == pytest.approx(lr, rel=rtol)
    assert_same_trajectory(c, r, rtol, "after step()")
    # fit with shuffled mini-batches: 4 batches per epoch, the last smaller
    hc, hr = c.fit(X, y, 3, batch_size=5), r.fit(X, y, 3, batch_size=5)
    assert hc.dtype == np.float64 and hc.shape == (3,)
    assert_close_to_scale(hc, hr, rtol)
    assert_same_trajectory(c, r, rtol, "after fit()")
    assert_close_to_scale(c.forward(X), r.forward(X), rtol)
    if loss in ("bce", "cross_entropy"):
        assert_close_to_scale(c.predict_proba(X), r.predict_proba(X), rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes", [[3, 2], [2, 1, 1], [5, 8, 8, 8, 8, 4], [300, 40, 4]], ids=str)
def test_other_depths_match(sizes, dtype):
    """No hidden layer, width-1 layers, a deeper network, a first layer that sums in halves (300 inputs: 144 +
    156); full-batch and unshuffled mini-batch fits."""
    cfg = dict(activation="tanh", loss="mse", optimizer="adam", learning_rate=0.01, dtype=dtype, seed=1)
    c, r = MLP(sizes, **cfg), NumpyMLP(sizes, **cfg)
    X, y = make_data("real", n=9, inputs=sizes[0], outputs=sizes[-1])
    assert_close_to_scale(c.fit(X, y, 4), r.fit(X, y, 4), RTOL[np.dtype(dtype)])
    assert_close_to_scale(c.fit(X, y, 3, batch_size=2, shuffle=False), r.fit(X, y, 3, batch_size=2, shuffle=False),
                          RTOL[np.dtype(dtype)])
    assert_same_trajectory(c, r, RTOL[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_step_subtracts_learning_rate_times_gradient(dtype):
    """gradients() has the sign of ∂loss/∂param: one plain SGD step is exactly p − lr·gradient."""
    net = MLP([4, 6, 3], activation="relu", loss="cross_entropy", learning_rate=0.3, dtype=dtype, seed=2)
    X, y = make_data("labels", outputs=3)
    before = [p.copy() for p in flat_params(net)]
    grads = [g for pair in net.gradients(X, y) for g in pair]
    net.step(X, y)
    for p, p0, g in zip(flat_params(net), before, grads):
        assert np.array_equal(p, p0 - 0.3 * g)


# ------------------------------------------------------------------------------------------------------------
# The lecture
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1])
def test_lecture_compatibility(seed, dtype):
    """MLP([2, 3, 1], sigmoid, lecture loss, SGD 0.5) with the lecture's weights = mlpext.train, bit for bit."""
    W1, b1, W2, b2 = make_params(seed, dtype=np.dtype(dtype))
    net = MLP([2, 3, 1], activation="sigmoid", output_activation="sigmoid", loss="lecture", optimizer="sgd",
              learning_rate=0.5, dtype=dtype)
    (nW1, nb1), (nW2, nb2) = net.params
    nW1[...], nb1[...], nW2[...], nb2[...] = W1, b1, W2, b2
    losses = mlpext.train(XOR_X, XOR_Y, W1, b1, W2, b2, 0.5, 10000, log_every=0, history="all")
    history = net.fit(XOR_X, XOR_Y, epochs=10000)
    for a, b in zip((nW1, nb1, nW2, nb2), (W1, b1, W2, b2)):
        assert a.tobytes() == b.tobytes()
    assert history.tobytes() == losses.tobytes()  # both the lecture's figure, mean |y − ŷ|
    assert history[-1] == pytest.approx(np.mean(np.abs(XOR_Y - net.forward(XOR_X).astype(np.float64))), rel=1e-3)
    if seed == 0:  # this start solves XOR, as the lecture's does
        assert (net.predict(XOR_X) > 0.5).astype(int).tolist() == XOR_Y.tolist()


# ------------------------------------------------------------------------------------------------------------
# Reproducibility and the fit loop
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_same_seed_is_bit_identical(cls, dtype):
    X, y = make_data("labels", n=40)
    runs = []
    for _ in range(2):
        net = cls(SIZES, activation="relu", loss="cross_entropy", optimizer="adam", learning_rate=0.01,
                  dtype=dtype, seed=42)
        history = net.fit(X, y, epochs=5, batch_size=8)
        runs.append((history.tobytes(), snapshot(net)))
    assert runs[0] == runs[1]
    other = cls(SIZES, dtype=dtype, seed=43)
    assert flat_params(other)[0].tobytes() != flat_params(cls(SIZES, dtype=dtype, seed=42))[0].tobytes()
    assert flat_params(cls(SIZES, dtype=dtype))[0].tobytes() != flat_params(cls(SIZES, dtype=dtype))[0].tobytes()


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_chunked_fit_is_the_same_run(cls, capsys):
    """verbose and callback split fit into several calls: same parameters, same history, bit for bit."""
    X, y = make_data("binary", n=30)
    kwargs = dict(activation="tanh", loss="bce", optimizer="sgd", learning_rate=0.1, momentum=0.5, seed=5)
    plain, chunked, called = cls(SIZES, **kwargs), cls(SIZES, **kwargs), cls(SIZES, **kwargs)
    h_plain = plain.fit(X, y, epochs=23, batch_size=7)
    h_verbose = chunked.fit(X, y, epochs=23, batch_size=7, verbose=10)
    seen = []
    h_callback = called.fit(X, y, epochs=23, batch_size=7, callback=lambda e, l: seen.append((e, l)))
    assert h_plain.tobytes() == h_verbose.tobytes() == h_callback.tobytes()
    assert snapshot(plain) == snapshot(chunked) == snapshot(called)
    assert seen == [(e, float(h_plain[e])) for e in range(23)]
    assert all(type(l) is float for _, l in seen)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Epoch: {e}, Loss: {h_plain[e]:.4g}" for e in (0, 10, 20)]


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_verbose_true_prints_every_epoch(cls, capsys):
    net = cls([2, 3, 1], activation="sigmoid", loss="lecture", learning_rate=0.5, seed=0)
    history = net.fit(XOR_X, XOR_Y, epochs=3, verbose=True)
    assert capsys.readouterr().out == "".join(
        f"Epoch: {e}, Loss: {history[e]:.4g}\n" for e in range(3))
    net.fit(XOR_X, XOR_Y, epochs=3, verbose=0)
    net.fit(XOR_X, XOR_Y, epochs=3, verbose=False)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_verbose_shows_four_significant_digits(cls, capsys):
    """A regression loss of order 1e-6 is printed as such, not as 0.0000."""
    X, y = make_data("real", n=12)
    net = cls(SIZES, loss="mse", learning_rate=1e-3, seed=1)
    for a in net.params[-1]:
        a *= 1e-3  # outputs of order 1e-3, like the targets
    history = net.fit(X, y * 1e-3, epochs=2, verbose=1)
    assert history[0] < 1e-3
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Epoch: {e}, Loss: {history[e]:.4g}" for e in range(2)]
    assert float(lines[1].split("Loss: ")[1]) == pytest.approx(history[1], rel=1e-3) and "0.0000" not in lines[1]


# ------------------------------------------------------------------------------------------------------------
# An exception inside fit carries what the call applied
# ------------------------------------------------------------------------------------------------------------

def check_carried(cls, exc, X, y, net, epochs_run, **fit_kwargs):
    """exc carries epochs_run complete epochs (None: whatever it says), with their losses, at an epoch boundary;
    net equals a twin trained exactly that many epochs."""
    if epochs_run is not None:
        assert exc.mlpext_epochs == epochs_run
    twin = cls(SIZES, **NET_KWARGS)
    history = twin.fit(X, y, epochs=exc.mlpext_epochs, batch_size=4)
    assert type(exc.mlpext_epochs) is int and exc.mlpext_batches == 0
    assert exc.mlpext_losses.dtype == np.float64 and exc.mlpext_losses.tobytes() == history.tobytes()
    assert snapshot(net) == snapshot(twin)


NET_KWARGS = dict(activation="tanh", loss="mse", optimizer="adam", learning_rate=0.01, seed=3)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_raising_callback_carries_what_ran(cls, error):
    X, y = make_data("real", n=14)
    net = cls(SIZES, **NET_KWARGS)

    def callback(epoch, loss):
        if epoch == 4:
            raise error("stop")

    with pytest.raises(error) as info:
        net.fit(X, y, epochs=30, batch_size=4, callback=callback)
    check_carried(cls, info.value, X, y, net, 5)  # the callback of epoch 4 runs after epoch 4 was applied


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_raising_stdout_carries_what_ran(cls, monkeypatch):
    """verbose's print fails (a closed pipe) on its third line, epoch 6: epochs 0-6 were applied (verbose=3 runs
    chunks up to each printing epoch: 0, 1-3, 4-6)."""
    class BrokenPipe:
        lines = 0

        def write(self, text):
            if text.startswith("Epoch"):
                BrokenPipe.lines += 1
                if BrokenPipe.lines == 3:
                    raise BrokenPipeError(32, "Broken pipe")
            return len(text)

        def flush(self):
            pass

    X, y = make_data("real", n=14)
    net = cls(SIZES, **NET_KWARGS)
    monkeypatch.setattr(sys, "stdout", BrokenPipe())
    with pytest.raises(BrokenPipeError) as info:
        net.fit(X, y, epochs=30, batch_size=4, verbose=3)
    monkeypatch.undo()
    check_carried(cls, info.value, X, y, net, 7)


def fake_tqdm(monkeypatch, bar):
    auto = types.ModuleType("tqdm.auto")
    auto.tqdm = bar
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)


class QuietBar:
    def __init__(self, total, unit):
        pass

    def update(self, k):
        pass

    def set_postfix(self, **kwargs):
        pass

    def write(self, line):
        pass

    def close(self):
        pass


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_raising_progress_bar_carries_what_ran(cls, monkeypatch):
    """The bar's update fails on its second call, after a chunk whose length the timing chose."""
    class FailingBar(QuietBar):
        calls = 0

        def update(self, k):
            FailingBar.calls += 1
            if FailingBar.calls == 2:
                raise OSError("the notebook's frontend went away")

    fake_tqdm(monkeypatch, FailingBar)
    X, y = make_data("real", n=14)
    net = cls(SIZES, **NET_KWARGS)
    with pytest.raises(OSError) as info:
        net.fit(X, y, epochs=10**6, batch_size=4, progress=True)
    assert info.value.mlpext_epochs >= 2
    check_carried(cls, info.value, X, y, net, None)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("hooks", [{"callback": lambda e, loss: None}, {"verbose": 1}], ids=["callback", "verbose"])
def test_a_progress_bar_with_a_callback_or_verbose_runs_every_epoch(cls, hooks, monkeypatch):
    """With a callback (or verbose=1) every call to the computation runs one epoch, whatever the bar's chunk
    length says; that length grew fourfold a call regardless, and after about 512 calls int(chunk * 0.1 /
    elapsed) met an infinite float: OverflowError in the middle of the fit. 1200 epochs, as many as the hooks
    alone (bit for bit)."""
    fake_tqdm(monkeypatch, QuietBar)
    X, y = make_data("real", n=6)
    net, twin = cls(SIZES, **NET_KWARGS), cls(SIZES, **NET_KWARGS)
    with contextlib.redirect_stdout(io.StringIO()):
        history = net.fit(X, y, 1200, batch_size=4, progress=True, **hooks)
    assert history.tobytes() == twin.fit(X, y, 1200, batch_size=4).tobytes()
    assert snapshot(net) == snapshot(twin)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("stop", ["callback", "bar", "none"])
def test_a_progress_bar_that_cannot_close_does_not_hide_what_ran(cls, stop, monkeypatch):
    """The bar's close() writes its last state; with stderr a closed pipe it raises too. It ran in fit's finally
    clause, so its exception replaced the one fit had recorded (a callback's KeyboardInterrupt became the bar's
    BrokenPipeError, without mlpext_epochs), and after a complete fit it escaped with no attributes at all. Now
    the first exception propagates with what ran, and a close() that fails after every epoch says they all ran."""
    class BrokenPipeBar(QuietBar):
        def update(self, k):
            if stop == "bar":
                raise BrokenPipeError(32, "Broken pipe")

        def close(self):
            raise BrokenPipeError(32, "Broken pipe")

    fake_tqdm(monkeypatch, BrokenPipeBar)
    X, y = make_data("real", n=14)
    net = cls(SIZES, **NET_KWARGS)

    def callback(epoch, loss):
        if stop == "callback" and epoch == 4:
            raise KeyboardInterrupt

    expected = {"callback": KeyboardInterrupt, "bar": BrokenPipeError, "none": BrokenPipeError}[stop]
    with pytest.raises(expected) as info:
        net.fit(X, y, 7, batch_size=4, progress=True, callback=callback)
    check_carried(cls, info.value, X, y, net, {"callback": 5, "bar": 1, "none": 7}[stop])


class InterruptedMLP(MLP):
    """An MLP whose computation is interrupted in its third call after one epoch, and sets the attributes as
    mlpext's C core does for an interrupt between mini-batches (here at an epoch boundary)."""
    calls = 0

    def _net_fit(self, X, y, epochs, batch_size, shuffle, vector=False, record=None):
        type(self).calls += 1
        if type(self).calls < 3:
            return super()._net_fit(X, y, epochs, batch_size, shuffle, vector=vector, record=record)
        losses = super()._net_fit(X, y, 1, batch_size, shuffle, vector=vector)  # (a call cut short: no record)
        exc = KeyboardInterrupt()
        exc.mlpext_epochs, exc.mlpext_losses, exc.mlpext_batches = 1, losses, 0
        raise exc


@pytest.mark.parametrize("chunked", [True, False])
def test_interrupt_in_a_chunk_adds_the_earlier_chunks(chunked):
    """The computation's own count (epochs of its chunk) is added to the epochs of fit's earlier chunks."""
    X, y = make_data("real", n=14)
    InterruptedMLP.calls = 0 if chunked else 2
    net = InterruptedMLP(SIZES, **NET_KWARGS)
    with pytest.raises(KeyboardInterrupt) as info:
        net.fit(X, y, epochs=30, batch_size=4, callback=(lambda e, l: None) if chunked else None)
    check_carried(MLP, info.value, X, y, net, 3 if chunked else 1)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_errors_of_the_data_checks_carry_zero_epochs(cls):
    X, y = make_data("real", n=14)
    net = cls(SIZES, **NET_KWARGS)
    before = snapshot(net)
    for kwargs in ({}, {"verbose": 1}):
        with pytest.raises(ValueError) as info:
            net.fit(X[:, :2], y, epochs=3, batch_size=4, **kwargs)
        assert info.value.mlpext_epochs == 0 and info.value.mlpext_losses.shape == (0,)
        assert info.value.mlpext_batches == 0
    assert snapshot(net) == before
    # the checks made before the computation is called: float class labels (ValueError); data NumPy cannot make
    # an array of (TypeError naming it, as the computation's own check says it), in fit and in step
    classifier = cls([3, 4, 2], loss="cross_entropy", seed=0)
    ragged = [[1.0, 2.0, 3.0], [1.0]]
    for X_bad, y_bad, error, name in ((np.ones((4, 3)), np.zeros(4), ValueError, "cross_entropy"),
                                      (ragged, np.zeros(2, dtype=int), TypeError, "X"),
                                      (np.ones((2, 3)), [[1, 0], [1]], TypeError, "y")):
        with pytest.raises(error, match=f"{name} ") as info:
            classifier.fit(X_bad, y_bad, 2)
        assert info.value.mlpext_epochs == 0 and info.value.mlpext_batches == 0
        with pytest.raises(error, match=f"{name} "):
            classifier.step(X_bad, y_bad)
    assert snapshot(classifier) == snapshot(cls([3, 4, 2], loss="cross_entropy", seed=0))


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_hyperparameters_beyond_the_float_range_are_value_errors(cls):
    from fractions import Fraction
    for kwargs in (dict(momentum=10**400), dict(eps=Fraction(10**400, 1)), dict(learning_rate=-10**400)):
        with pytest.raises(ValueError, match="must be finite"):
            cls([3, 2], **kwargs)
    net = cls([3, 2], seed=0)
    with pytest.raises(ValueError, match="learning_rate must be finite"):
        net.learning_rate = 10**400
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got None"):
        cls([3, 2], dtype=None)  # np.dtype(None) would be float64, not the default


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_callback_returning_true_stops(cls):
    X, y = make_data("real", n=12)
    net, twin = cls(SIZES, seed=1), cls(SIZES, seed=1)
    history = net.fit(X, y, epochs=50, batch_size=4, callback=lambda e, l: e == 6)
    assert history.shape == (7,)
    assert history.tobytes() == twin.fit(X, y, epochs=7, batch_size=4).tobytes()
    assert snapshot(net) == snapshot(twin)
    # anything but True (None, a number, a non-empty list…) continues
    assert net.fit(X, y, epochs=3, callback=lambda e, l: l).shape == (3,)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_progress_bar(cls, monkeypatch, capsys):
    events = []

    class FakeBar(QuietBar):
        def __init__(self, total, unit):
            events.append(("total", total))

        def update(self, k):
            events.append(("update", k))

        def write(self, line):
            events.append(("write", line))

        def close(self):
            events.append(("close",))

    fake_tqdm(monkeypatch, FakeBar)
    X, y = make_data("real", n=12)
    net, twin = cls(SIZES, seed=1), cls(SIZES, seed=1)
    history = net.fit(X, y, epochs=40, batch_size=5, progress=True, verbose=25)
    assert history.tobytes() == twin.fit(X, y, epochs=40, batch_size=5).tobytes()
    assert snapshot(net) == snapshot(twin)
    assert events[0] == ("total", 40) and events[-1] == ("close",)
    assert sum(k for kind, *k in events if kind == "update" for k in k) == 40
    assert [e[1] for e in events if e[0] == "write"] == [f"Epoch: {e}, Loss: {history[e]:.4g}" for e in (0, 25)]
    assert capsys.readouterr().out == ""  # printed through the bar


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_progress_without_tqdm_is_a_clear_import_error(cls, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    net = cls(SIZES, seed=1)
    before = snapshot(net)
    X, y = make_data("real")
    with pytest.raises(ImportError, match="pip install tqdm"):
        net.fit(X, y, epochs=2, progress=True)
    assert snapshot(net) == before


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sizes", [(784, 2048, 10), (4096, 256, 10), (1024, 1024, 1024), (300, 40, 300), (64, 64, 10),
                                   (2, 3, 1)])
def test_a_row_gives_the_same_bits_in_any_batch(dtype, sizes):
    """docs/design.md, "Numerics": a row's output is the same in any batch. One row, a few, or 300 (with 300 rows
    the first layers of the two large networks pass 2**25 multiply-adds: packed in cache-sized blocks, split among
    threads): the same bits, so predicting one sample at a time agrees exactly with predicting the batch. Up to
    three rows through 784-2048-10 sum in blocks of 8 terms; through 4096-256-10, split among threads, 256 deep
    (nn_depth)."""
    rng = np.random.default_rng(7)
    net = MLP(list(sizes), activation="tanh", dtype=dtype, seed=3)
    X = rng.normal(size=(300, sizes[0])).astype(dtype)
    full = net.forward(X)
    for rows in (slice(0, 1), slice(150, 151), slice(299, 300), slice(10, 12), slice(20, 24), slice(40, 53)):
        assert net.forward(X[rows]).tobytes() == full[rows].tobytes(), rows


@pytest.mark.usefixtures("default_sigint")
@pytest.mark.parametrize("chunked", [False, True])
def test_ctrl_c_stops_at_an_epoch(chunked):
    """KeyboardInterrupt (here from another thread, as Ctrl-C would be) stops a long fit within a fraction of a
    second; the network is left usable (exactly where the exception says: test_network_hardening.py)."""
    X, y = make_data("real", n=8)
    net = MLP(SIZES, seed=0)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    started = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            net.fit(X, y, epochs=5_000_000, batch_size=3, verbose=10**9 if chunked else 0)
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 5  # the whole fit would take ~10 s or more
    assert all(np.all(np.isfinite(p)) for p in flat_params(net))
    assert net.fit(X, y, epochs=2).shape == (2,)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_fit_edge_cases(cls):
    X, y = make_data("real", n=5)
    net = cls(SIZES, seed=1)
    before = snapshot(net)
    assert net.fit(X, y, epochs=0).shape == (0,)
    assert net.fit(X, y, epochs=0, verbose=1, callback=print).shape == (0,)
    assert snapshot(net) == before
    big = cls(SIZES, seed=1)
    # batch_size >= n is the whole batch in the given order: no RNG draws, same as batch_size=None
    assert net.fit(X, y, epochs=2, batch_size=100).tobytes() == big.fit(X, y, epochs=2).tobytes()
    assert snapshot(net) == snapshot(big)
    assert np.array_equal(net._rng, cls(SIZES, seed=1)._rng)
    for bad in (0, -1):
        with pytest.raises(ValueError):
            net.fit(X, y, epochs=1, batch_size=bad)
    for bad in (1.5, "2", True, unitless_timedelta(2)):
        with pytest.raises(TypeError, match="epochs must be an int"):
            net.fit(X, y, epochs=bad)
    with pytest.raises(ValueError):
        net.fit(X, y, epochs=-1)
    with pytest.raises(TypeError):
        net.fit(X, y, epochs=1, callback="not callable")
    assert snapshot(net) == snapshot(big)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_learning_rate_can_change(cls):
    X, y = make_data("real")
    a, b = cls(SIZES, seed=2, learning_rate=0.1), cls(SIZES, seed=2, learning_rate=0.05)
    a.learning_rate = 0.05
    assert a.learning_rate == 0.05
    a.fit(X, y, 2)
    b.fit(X, y, 2)
    assert snapshot(a) == snapshot(b)
    with pytest.raises(ValueError):
        a.learning_rate = -1.0
    with pytest.raises(TypeError):
        a.learning_rate = "0.1"


# ------------------------------------------------------------------------------------------------------------
# predict, predict_proba, y's forms
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_predict_and_predict_proba(cls):
    X, labels = make_data("labels", n=10)
    ce = cls(SIZES, loss="cross_entropy", seed=0, dtype=np.float64)
    proba = ce.predict_proba(X)
    assert proba.shape == (10, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-14)
    np.testing.assert_array_equal(proba, ce.forward(X))
    pred = ce.predict(X)
    assert pred.dtype == np.int64 and pred.shape == (10,)
    np.testing.assert_array_equal(pred, np.argmax(proba, axis=1))

    bce = cls([4, 5, 2], loss="bce", seed=0)
    proba = bce.predict_proba(X)
    assert proba.shape == (10, 2) and proba.dtype == np.float32 and np.all((proba > 0) & (proba < 1))
    pred = bce.predict(X)
    assert pred.dtype == np.int64 and pred.shape == (10, 2)
    np.testing.assert_array_equal(pred, (proba >= 0.5).astype(np.int64))

    for loss in ("mse", "lecture"):
        reg = cls(SIZES, loss=loss, seed=0)
        np.testing.assert_array_equal(reg.predict(X), reg.forward(X))
        with pytest.raises(ValueError, match="classification"):
            reg.predict_proba(X)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_natural_output_activations(cls):
    expected = {"lecture": "sigmoid", "mse": "identity", "bce": "sigmoid", "cross_entropy": "softmax"}
    for loss, out in expected.items():
        net = cls([2, 3, 2], loss=loss)
        assert net.output_activation == out and net.activations == ("relu", out) and net.loss_name == loss
    assert cls([2, 3, 4, 1], activation=["tanh", "sigmoid"]).activations == ("tanh", "sigmoid", "identity")


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_y_forms(cls):
    """A 1-D y is a column for single-output networks; cross_entropy takes labels, one-hot rows or lists."""
    X, y = make_data("real", outputs=1)
    net = cls([4, 3, 1], seed=0, dtype=np.float64)
    assert net.loss(X, y[:, 0]) == net.loss(X, y) == net.loss(X.tolist(), y.tolist())
    X, labels = make_data("labels")
    ce = cls(SIZES, loss="cross_entropy", seed=0, dtype=np.float64)
    onehot = np.eye(3)[labels]
    for form in (labels.astype(np.int32), labels.astype(np.uint8), labels.tolist(), onehot, onehot.astype(bool)):
        assert ce.loss(X, form) == pytest.approx(ce.loss(X, labels), rel=1e-15)
    # int y for bce, X of any real dtype
    b = cls([4, 3, 1], loss="bce", seed=0, dtype=np.float64)
    assert b.loss(X.astype(np.float32), labels % 2) == b.loss(X.astype(np.float32).astype(np.float64),
                                                              (labels % 2).astype(np.float64))


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_params_are_owned_and_writable(cls):
    net = cls([3, 4, 2], dtype=np.float64, seed=0)
    assert isinstance(net.params, list) and len(net.params) == 2
    for (W, b), (fan_in, fan_out) in zip(net.params, [(3, 4), (4, 2)]):
        assert W.shape == (fan_in, fan_out) and b.shape == (fan_out,)
        assert W.flags.c_contiguous and W.flags.owndata and W.flags.writeable
    W, b = net.params[0]
    W[...] = 0
    b[...] = 0
    net.params[1][0][...] = 0
    net.params[1][1][...] = [1, 2]
    np.testing.assert_array_equal(net.forward(np.ones((2, 3))), [[1, 2], [1, 2]])
    X, y = make_data("real", inputs=3, outputs=2)
    net.fit(X, y, 1)
    assert net.params[0][0] is W  # updated in place


# ------------------------------------------------------------------------------------------------------------
# Bad configuration and bad input
# ------------------------------------------------------------------------------------------------------------

BAD_CONFIGS = [
    (dict(activation="softmax"), ValueError),
    (dict(activation="swish"), ValueError),
    (dict(activation=3), TypeError),
    (dict(activation=["relu"]), ValueError),  # two hidden layers in SIZES
    (dict(output_activation="tanh"), ValueError),
    (dict(output_activation="Softmax"), ValueError),
    (dict(loss="hinge"), ValueError),
    (dict(loss="MAE"), ValueError),
    (dict(loss="l1"), ValueError),
    (dict(loss=None), TypeError),
    (dict(loss="bce", output_activation="softmax"), ValueError),
    (dict(loss="bce", output_activation="identity"), ValueError),
    (dict(loss="cross_entropy", output_activation="sigmoid"), ValueError),
    (dict(optimizer="lbfgs"), ValueError),
    (dict(optimizer="RMSprop"), ValueError),
    (dict(optimizer="rmsprop", momentum=0.9), ValueError),  # torch's momentum form is not implemented
    (dict(optimizer="rmsprop", alpha=1.5), ValueError),
    (dict(optimizer="rmsprop", alpha=-0.1), ValueError),
    (dict(alpha=float("nan")), ValueError),
    (dict(alpha="0.9"), TypeError),
    (dict(alpha=1e-4), ValueError),  # scikit-learn's L2 alpha: not silently ignored by sgd
    (dict(optimizer="adam", alpha=0.9), ValueError),
    (dict(optimizer="adamw", weight_decay=-0.01), ValueError),
    (dict(learning_rate=-0.1), ValueError),
    (dict(learning_rate=float("nan")), ValueError),
    (dict(learning_rate="0.1"), TypeError),
    (dict(learning_rate=True), TypeError),
    (dict(learning_rate=unitless_timedelta(1)), TypeError),  # a NumPy signedinteger, but no number
    (dict(learning_rate=np.timedelta64(1, "s")), TypeError),
    (dict(momentum=-0.5), ValueError),
    (dict(nesterov=True), ValueError),  # without momentum
    (dict(nesterov=1), TypeError),
    (dict(betas=(0.9, 1.0)), ValueError),
    (dict(betas=(-0.1, 0.9)), ValueError),
    (dict(betas=0.9), TypeError),
    (dict(eps=-1e-8), ValueError),
    (dict(eps=0.0), ValueError),  # 0/0 on a unit whose gradient is 0
    (dict(weight_decay=-0.01), ValueError),
    (dict(leaky_slope=-0.01), ValueError),
    (dict(dtype=np.float16), TypeError),
    (dict(dtype=np.int32), TypeError),
    (dict(dtype="not a dtype"), TypeError),
    (dict(seed=-1), ValueError),
    (dict(seed=1.5), TypeError),
    (dict(seed=unitless_timedelta(1)), TypeError),
]


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kwargs, error", BAD_CONFIGS, ids=lambda v: str(v))
def test_bad_configuration(cls, kwargs, error):
    with pytest.raises(error):
        cls(SIZES, **kwargs)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("sizes, error", [([3], ValueError), ([], ValueError), ([3, 0, 2], ValueError),
                                          ([3, 2.0], TypeError), ("32", TypeError), (5, TypeError),
                                          ([3, True], TypeError)], ids=str)
def test_bad_layer_sizes(cls, sizes, error):
    with pytest.raises(error):
        cls(sizes)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_cross_entropy_needs_two_outputs(cls):
    """softmax over one output is always 1: the loss is 0 and fit would learn nothing, silently."""
    with pytest.raises(ValueError, match=r"layer_sizes=\[\.\.\., 2\] with labels 0/1, or loss='bce'"):
        cls([4, 3, 1], loss="cross_entropy")
    assert cls([4, 3, 2], loss="cross_entropy").layer_sizes == (4, 3, 2)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("given, meant", [("lr", "'learning_rate'"), ("learning_rat", "'learning_rate'"),
                                          ("momentum_", "'momentum'"), ("epsilon", "'eps'"),
                                          ("beta1", "betas=(beta1, beta2)"), ("activation_fn", "'activation'"),
                                          ("hidden_layer_sizes", "layer_sizes=[inputs, *hidden_sizes, outputs]"),
                                          ("random_state", "'seed'"), ("Seed", "'seed'")])
def test_unknown_keyword_names_the_class_and_the_meant_parameter(cls, given, meant):
    with pytest.raises(TypeError) as info:
        cls([2, 3, 1], **{given: 0.1})
    message = str(info.value)
    assert message.startswith(f"{cls.__name__}() got an unexpected keyword argument {given!r}; did you mean {meant}?")
    assert "_NetBase" not in message


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_bad_calls_name_the_class(cls):
    """Every way a call can miss the signature is Python's TypeError, naming the public class."""
    name = cls.__name__
    with pytest.raises(TypeError, match=rf"^{name}\(\) got an unexpected keyword argument 'colour' \(the param"):
        cls([2, 1], colour="blue")  # nothing close: no guess, the list of parameters
    with pytest.raises(TypeError, match=rf"^{name}\(\): missing a required argument: 'layer_sizes'"):
        cls()
    with pytest.raises(TypeError, match=rf"^{name}\(\): multiple values for argument 'layer_sizes'"):
        cls([2, 1], layer_sizes=[2, 1])
    with pytest.raises(TypeError, match=rf"^{name}\(\): too many positional arguments"):
        cls([2, 1], *range(15))
    # the signature stays visible to help() and inspect
    import inspect
    assert list(inspect.signature(cls).parameters)[:3] == ["layer_sizes", "activation", "output_activation"]
    # arguments given by position still work
    assert cls([2, 3, 1], "tanh", "sigmoid", "bce").activations == ("tanh", "sigmoid")


def test_layer_limit():
    assert MLP([2] * 65).n_layers == 64
    with pytest.raises(ValueError, match="up to 64"):
        MLP([2] * 66)
    assert NumpyMLP([2] * 66).n_layers == 65  # the NumPy baseline has no such limit


def test_good_configurations():
    for dtype in (np.float32, np.float64, "float32", np.dtype("float64")):
        assert MLP([2, 2], dtype=dtype).params[0][0].dtype == np.dtype(dtype)
    net = MLP([2, 2], optimizer="adam", momentum=0.9, nesterov=True)  # sgd's options: ignored by adam
    assert net.optimizer == "adam" and net._state[0].dtype == np.int64
    assert MLP([2, 2], leaky_slope=0, activation="leaky_relu").leaky_slope == 0.0
    assert MLP([2, 2], seed=np.int64(3)).seed == 3
    assert "MLP([2, 3, 1]" in repr(MLP([2, 3, 1]))


def bad_inputs(cls):
    """(description, network kwargs, method name, X, y) of calls that must raise, and their error types."""
    X, labels = make_data("labels")
    _, real = make_data("real")
    yield "label too large", dict(loss="cross_entropy"), (X, np.where(labels == 0, 3, labels)), ValueError
    yield "negative label", dict(loss="cross_entropy"), (X, labels - 1), ValueError
    yield "float labels", dict(loss="cross_entropy"), (X, labels.astype(np.float64)), ValueError
    yield "y too narrow", dict(loss="mse"), (X, real[:, :2]), ValueError
    yield "y too wide", dict(loss="cross_entropy"), (X, np.eye(4)[labels]), ValueError
    yield "1-D y, 3 outputs", dict(loss="mse"), (X, real[:, 0]), ValueError
    yield "y rows", dict(loss="mse"), (X, real[:-1]), ValueError
    yield "X width", dict(loss="mse"), (X[:, :3], real), ValueError
    yield "X 1-D", dict(loss="mse"), (X[0], real[0]), ValueError
    yield "X complex", dict(loss="mse"), (X.astype(complex), real), TypeError
    yield "X strings", dict(loss="mse"), (X.astype(str), real), TypeError
    yield "no rows", dict(loss="mse"), (X[:0], real[:0]), ValueError


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("loss", ["mse", "lecture", "bce", "cross_entropy"])
def test_nan_target_propagates(cls, loss):
    """NaN in real-valued targets (regression values, BCE targets, cross-entropy probability rows) is data, not
    an error: the loss is NaN, as in NumPy; only class labels must be valid indices."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, SIZES[0]))
    y = np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], 6)]
    y[3, 1] = np.nan
    net = cls(SIZES, seed=0, loss=loss)
    assert np.isnan(net.loss(X, y))
    clean = y.copy()
    clean[3, 1] = 0.0
    assert np.isfinite(net.loss(X, clean))


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", ["fit", "fit-minibatch", "fit-verbose", "step", "loss", "gradients"])
@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam"])
def test_bad_input_touches_nothing(cls, method, opt, capsys):
    for what, kwargs, (X, y), error in bad_inputs(cls):
        net = cls(SIZES, seed=0, **kwargs, **OPTIMIZERS[opt])
        before = snapshot(net)
        with pytest.raises(error):
            if method == "fit":
                net.fit(X, y, epochs=3)
            elif method == "fit-minibatch":
                net.fit(X, y, epochs=3, batch_size=4)
            elif method == "fit-verbose":
                net.fit(X, y, epochs=3, batch_size=4, verbose=1, callback=lambda e, l: None)
            else:
                getattr(net, method)(X, y)
        assert snapshot(net) == before, f"{what}: {method} changed the network"
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("loss", ["lecture", "mse", "bce", "cross_entropy"])
def test_nan_in_real_targets_propagates(cls, loss):
    """One rule for NaN, as in mlpext.train: NaN in X or in a real-valued y (targets, 0/1 floats, one-hot rows) is
    a value, not an error. The loss is NaN, the rows' gradients are NaN, a step writes NaN; the other rows' outputs
    are untouched by a NaN in X's row."""
    X, labels = make_data("labels")
    y = {"lecture": make_data("real")[1], "mse": make_data("real")[1], "bce": (make_data("binary")[1]).astype(float),
         "cross_entropy": np.eye(3)[labels]}[loss]
    y[3, 1] = np.nan
    net = cls(SIZES, loss=loss, seed=0, dtype=np.float64)
    assert np.isnan(net.loss(X, y))
    assert all(np.isnan(g).any() for pair in net.gradients(X, y) for g in pair)
    assert np.isnan(net.step(X, y)) and all(np.isnan(p).any() for p in flat_params(net))
    fresh = cls(SIZES, loss=loss, seed=0, dtype=np.float64)
    X_nan = X.copy()
    X_nan[2, 0] = np.nan
    out, clean = fresh.forward(X_nan), fresh.forward(X)
    assert np.all(np.isnan(out[2])) and np.array_equal(np.delete(out, 2, 0), np.delete(clean, 2, 0))
    assert np.isnan(fresh.fit(X_nan, y, 1)[0])
    if loss == "cross_entropy":  # integer labels are still checked
        with pytest.raises(ValueError):
            fresh.fit(X, np.where(labels == 0, 3, labels), 1)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_bad_parameters_touch_nothing(cls):
    """Parameters replaced by arrays of the wrong dtype or shape: TypeError / ValueError, nothing written."""
    X, y = make_data("real")
    net = cls(SIZES, seed=0, optimizer="adam")
    W0, b0 = net.params[0]
    for replacement, error in (((W0.astype(np.float64), b0), TypeError), ((W0[:, :5].copy(), b0), ValueError),
                               ((W0, b0.astype(np.float64)), TypeError)):
        net.params[0] = replacement
        before = snapshot(net)
        for call in (lambda: net.fit(X, y, 2, batch_size=3), lambda: net.step(X, y), lambda: net.forward(X)):
            with pytest.raises(error):
                call()
            assert snapshot(net) == before
    net.params[0] = (W0, b0)
    net.step(X, y)


@pytest.mark.parametrize("cls", [MLP, NumpyMLP])
@pytest.mark.parametrize("change", ["dtype", "hidden", "fewer_layers"])
def test_all_parameters_replaced_consistently_are_checked_against_the_configuration(cls, change, tmp_path):
    """Every parameter replaced, so that they agree with each other and with X and y, but not with the
    configuration (another dtype, another hidden width, another number of layers), with plain SGD (no optimizer
    state to disagree with): MLP ran another network than its own (net.dtype and net.layer_sizes stale) and
    save() wrote a file load() refuses. Now every method raises, naming params[k][i], with nothing written."""
    X, y = make_data("real")
    net = cls([X.shape[1], 4, y.shape[1]], seed=0, optimizer="sgd", dtype=np.float32)
    if change == "dtype":
        net.params = [(W.astype(np.float64), b.astype(np.float64)) for W, b in net.params]
        error, where = TypeError, r"params\[0\]\[0\] must have the network's dtype float32, got float64"
    elif change == "hidden":
        wider = cls([X.shape[1], 8, y.shape[1]], seed=1, optimizer="sgd", dtype=np.float32)
        net.params = wider.params
        error, where = ValueError, r"params\[0\]\[0\] must have shape \(\d+, 4\).*, got shape \(\d+, 8\)"
    else:
        single = cls([X.shape[1], y.shape[1]], seed=1, optimizer="sgd", dtype=np.float32)
        net.params = single.params
        error, where = ValueError, r"params must hold 2 \(W, b\) pairs, one per layer of .*, got 1"
    before = snapshot(net)
    calls = {"fit": lambda: net.fit(X, y, 2, batch_size=3), "step": lambda: net.step(X, y),
             "forward": lambda: net.forward(X), "predict": lambda: net.predict(X), "loss": lambda: net.loss(X, y),
             "gradients": lambda: net.gradients(X, y)}
    for method, call in calls.items():
        with pytest.raises(error) as info:
            call()
        if cls is MLP:
            assert re.search(rf"^MLP\.{method}\(\): {where}", str(info.value)), str(info.value)
        assert snapshot(net) == before
    if cls is MLP:
        with pytest.raises(error, match=rf"^MLP\.save\(\): {where}"):
            net.save(tmp_path / "net.npz")
        assert not (tmp_path / "net.npz").exists()


def test_a_network_pickled_before_the_shape_check_existed_still_runs():
    """The check above holds the parameters to _expect, the configuration the computation is given. A network
    pickled by a version that had no such attribute has none in its state: it is derived from the configuration
    when first asked for (as here after a pickle round trip of a state without it), so such a network still runs,
    and is still checked."""
    import pickle

    X, y = make_data("real")
    net = MLP(SIZES, seed=0)
    before = net.predict(X)
    state = dict(net.__dict__)
    state.pop("_expect", None)
    old = MLP.__new__(MLP)
    old.__dict__.update(state)
    revived = pickle.loads(pickle.dumps(old))
    assert "_expect" not in revived.__dict__
    assert revived.predict(X).tobytes() == before.tobytes()
    assert revived.step(X, y) == MLP(SIZES, seed=0).step(X, y)
    other = np.float64 if revived.dtype == np.float32 else np.float32
    revived.params = [(W.astype(other), b.astype(other)) for W, b in revived.params]
    with pytest.raises(TypeError, match=rf"params\[0\]\[0\] must have the network's dtype {revived.dtype}"):
        revived.predict(X)


def test_mlp_rejects_what_the_c_core_needs():
    """The C core's own checks stay reachable through MLP: non-contiguous or read-only parameters."""
    X, y = make_data("real")
    net = MLP(SIZES, seed=0)
    W0, b0 = net.params[0]
    net.params[0] = (np.asfortranarray(W0), b0)
    with pytest.raises(ValueError, match="contiguous"):
        net.step(X, y)
    ro = W0.copy()
    ro.setflags(write=False)
    net.params[0] = (ro, b0)
    with pytest.raises(ValueError):
        net.step(X, y)
    np.testing.assert_array_equal(net.forward(X), MLP(SIZES, seed=0).forward(X))  # reading needs no write access


# ------------------------------------------------------------------------------------------------------------
# Optimizer state that decays into subnormal numbers
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("opt", ["adam", "sgd_momentum"])
def test_optimizer_state_is_flushed_below_the_normal_range(opt):
    """An input that is always 0 gives its weights a gradient of exactly 0: the momentum / Adam averages of those
    weights then decay geometrically, into subnormal numbers after ~800 float32 steps (every multiply on them a
    microcode assist). The C core flushes that state to 0 once it leaves the normal range (csrc/optim_impl.h); the
    parameters stay those of the unflushed formulas (NumpyMLP, torch's) to the usual tolerance, because the step
    such a state would still make is far below half an ulp of the parameters."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 6)).astype(np.float32)
    X_zero = X.copy()
    X_zero[:, 2] = 0  # from the second fit on, input 2 is always 0
    y = rng.integers(0, 3, 40)
    cfg = dict(activation="tanh", loss="cross_entropy", dtype=np.float32, seed=11)
    cfg.update(optimizer="adam", learning_rate=1e-3) if opt == "adam" else cfg.update(
        optimizer="sgd", learning_rate=1e-2, momentum=0.9)
    c, r = MLP([6, 5, 3], **cfg), NumpyMLP([6, 5, 3], **cfg)
    hc, hr = c.fit(X, y, 1, batch_size=10), r.fit(X, y, 1, batch_size=10)
    # 212 epochs of 4 batches: 848 steps, over which 0.9^steps takes the averages of input 2's weights from
    # about 1e-3 into the subnormal range (below 1.2e-38) but not yet to 0
    hc = np.concatenate([hc, c.fit(X_zero, y, 212, batch_size=10)])
    hr = np.concatenate([hr, r.fit(X_zero, y, 212, batch_size=10)])
    tiny = np.finfo(np.float32).tiny

    def subnormals(net):
        return sum(int(((a != 0) & (np.abs(a) < tiny)).sum()) for a in net._optimizer_state() if a.dtype.kind == "f")

    assert subnormals(r) > 0, "the unflushed state should have decayed into subnormals here"
    assert subnormals(c) == 0
    assert_close_to_scale(hc, hr, RTOL[np.dtype(np.float32)])
    for p, q in zip(flat_params(c), flat_params(r)):
        assert_close_to_scale(p, q, RTOL[np.dtype(np.float32)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", ["adam", "adamw", "rmsprop"])
def test_subnormal_eps_leaves_a_weight_without_gradient_alone(opt, dtype):
    """eps below the smallest normal number of the dtype (1e-40 in float32, 1e-310 in float64): a weight whose
    gradient is exactly 0 keeps its value, as in NumpyMLP and torch. eps was converted in the kernel section's
    flush-to-zero mode, became 0, and 0 / 0 made that weight NaN. An eps that rounds to 0 in the dtype is refused."""
    eps, tiny = (1e-40, 1e-46) if dtype == np.float32 else (1e-310, None)  # (every positive float is a float64)
    X = np.array([[1.0, 0.0], [2.0, 0.0]], dtype)  # the second input is 0: its weight's gradient is exactly 0
    y = np.array([[1.0], [0.0]], dtype)
    nets = []
    for cls in (MLP, NumpyMLP):
        net = cls([2, 1], loss="mse", optimizer=opt, learning_rate=1e-3, eps=eps, weight_decay=0.0, dtype=dtype,
                  seed=0)
        for _ in range(3):
            net.step(X, y)
        nets.append(net)
    c, r = nets
    assert c.params[0][0][1, 0] == r.params[0][0][1, 0] and np.isfinite(c.params[0][0]).all()
    for p, q in zip(flat_params(c), flat_params(r)):
        assert_close_to_scale(p, q, RTOL[np.dtype(dtype)])
    if tiny is not None:
        with pytest.raises(ValueError, match=f"eps must not round to 0 in {np.dtype(dtype).name}"):
            MLP([2, 1], optimizer=opt, eps=tiny, dtype=dtype)
    MLP([2, 1], optimizer="sgd", eps=1e-46, dtype=dtype)  # SGD does not use eps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", ["adam", "adamw", "rmsprop"])
def test_state_is_kept_where_eps_is_too_small_to_hide_it(opt, dtype):
    """A gradient g whose square is subnormal (1e-20 in float32, 1e-160 in float64) gives a subnormal v. Flushed,
    it left eps alone in the denominator: with eps = 1e-30 the step became lr·m/eps, and the weight went from 0.5
    to 6e7 in three steps where torch and NumpyMLP move it by 3e-3. Flushing is only done where eps hides √v."""
    x, eps = (1e-20, 1e-30) if dtype == np.float32 else (1e-160, 1e-300)
    X, y = np.array([[x]], dtype), np.array([[1.0]], dtype)
    nets = []
    for cls in (MLP, NumpyMLP):
        net = cls([1, 1], loss="mse", optimizer=opt, learning_rate=1e-3, eps=eps, dtype=dtype, seed=0)
        net.params[0][0][...] = 0.5
        net.params[0][1][...] = 0.0
        for _ in range(3):
            net.step(X, y)
        nets.append(net)
    c, r = nets
    assert abs(float(r.params[0][0][0, 0]) - 0.5) > 1e-3  # the unflushed formulas take a real step
    for p, q in zip(flat_params(c), flat_params(r)):
        assert_close_to_scale(p, q, RTOL[np.dtype(dtype)])
    for a, b in zip(c._optimizer_state(), r._optimizer_state()):
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=RTOL[np.dtype(dtype)], atol=0)  # the subnormal v kept too


@pytest.mark.parametrize("hooks", [{}, {"callback": lambda e, loss: None}, {"verbose": 1}])
def test_a_loss_history_too_large_is_the_same_memory_error_with_or_without_hooks(hooks):
    """fit(epochs=2**62): the history of 2**62 losses cannot be allocated. Without hooks the computation says so;
    with a callback or verbose fit allocates it itself, and said NumPy's "array is too big" (a ValueError). Both
    are now the MemoryError naming the history, with mlpext_epochs = 0 and the network untouched."""
    net = MLP([2, 3, 1], seed=0)
    before = snapshot(net)
    with pytest.raises(MemoryError, match=r"MLP\.fit\(\): the loss history of 4611686018427387904 epochs") as info:
        net.fit(np.zeros((4, 2)), np.zeros((4, 1)), 2**62, **hooks)
    assert info.value.mlpext_epochs == 0 and info.value.mlpext_batches == 0
    assert snapshot(net) == before


@pytest.mark.parametrize("hooks", [{}, {"callback": lambda e, loss: None}])
def test_a_one_d_y_of_the_wrong_length_is_named_by_its_own_shape(hooks):
    """A 1-D y for a one-output network reaches the computation as a column; its shape errors said "got shape
    (4, 1)" for the y of shape (4,) the caller passed. They give the shape passed, and that (n,) is taken; a 2-D
    y's error is unchanged."""
    net = MLP([3, 4, 1], seed=0)
    X = np.zeros((5, 3))
    for method, call in (("loss", lambda y: net.loss(X, y)), ("gradients", lambda y: net.gradients(X, y)),
                         ("step", lambda y: net.step(X, y)), ("fit", lambda y: net.fit(X, y, 2, **hooks))):
        for y in (np.zeros(4), [0.0] * 4, np.zeros(8)[::2]):
            with pytest.raises(ValueError, match=rf"^MLP\.{method}\(\): y must have shape \(5, 1\) or \(5,\) to "
                                                 rf"match X of shape \(5, 3\), got shape \(4,\)$"):
                call(y)
        with pytest.raises(ValueError, match=rf"^MLP\.{method}\(\): y must have shape \(5, 1\) to match X of "
                                             rf"shape \(5, 3\), got shape \(4, 1\)$"):
            call(np.zeros((4, 1)))


def test_errors_name_the_method_called_and_the_networks_own_arrays():
    """predict, predict_proba, gradients and step run the computation's forward, loss and fit entry points: their
    errors name the method the caller called, and a parameter as params[k][0] or params[k][1] (the computation's
    weights[k] and biases[k]); the exception keeps its type and attributes."""
    net = MLP([3, 4, 2], loss="cross_entropy", seed=0)
    X, y = np.ones((5, 3)), np.zeros(5, dtype=np.int64)
    for method, call in (("forward", lambda: net.forward(X[:, :2])), ("predict", lambda: net.predict(X[:, :2])),
                         ("predict_proba", lambda: net.predict_proba(X[:, :2])),
                         ("loss", lambda: net.loss(X[:, :2], y)), ("gradients", lambda: net.gradients(X[:, :2], y)),
                         ("step", lambda: net.step(X[:, :2], y)), ("fit", lambda: net.fit(X[:, :2], y, 1))):
        with pytest.raises(ValueError, match=rf"^MLP\.{method}\(\): X must have shape \(5, 3\) to match "
                                             rf"params\[0\]\[0\] of shape \(3, 4\), got shape \(5, 2\)$"):
            call()
    W, b = net.params[1]
    net.params[1] = (np.asfortranarray(W), b)
    with pytest.raises(ValueError, match=r"^MLP\.step\(\): params\[1\]\[0\] must be C-contiguous.*"
                                         r"np\.ascontiguousarray\(params\[1\]\[0\]\)") as info:
        net.step(X, y)
    assert info.type is ValueError
    net.params[1] = (W, b[:1])
    with pytest.raises(ValueError, match=r"^MLP\.fit\(\): params\[1\]\[1\] ") as info:
        net.fit(X, y, 1)
    assert info.value.mlpext_epochs == 0
