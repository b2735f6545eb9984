"""Subnormal numbers inside mlpext's computations (docs/design.md, "Exactness"): read and written as 0 on
every thread a call uses, where the build can set the CPU's flush-to-zero mode (build_info()["flushes_subnormals"]:
x86-64 and AArch64); the calling thread's own mode is back whenever Python code runs: after a call, and in the
signal handlers a long fit runs between its mini-batches."""
import _thread
import signal
import sys
import threading

import numpy as np
import pytest

import mlpext
from mlpext import _core

FLUSHES = _core.build_info()["flushes_subnormals"]
DTYPES = [np.float64, np.float32]


def ieee_here():
    """Whether this thread computes with subnormal numbers, as Python and NumPy expect it to."""
    f32_min = np.finfo(np.float32).tiny
    return (sys.float_info.min / 2 > 0 and (np.array([sys.float_info.min]) / 2)[0] > 0
            and np.float32(f32_min) / np.float32(2) > 0)


def one_layer(dtype, weight):
    """A 1024-64 identity layer with every weight `weight` and zero biases: forward(X) is X·W."""
    net = mlpext.MLP([1024, 64], output_activation="identity", loss="mse", optimizer="sgd", dtype=dtype, seed=0)
    W, b = net.params[0]
    W[...], b[...] = weight, 0
    return net


def test_build_info_says_whether_this_build_flushes(capsys):
    import platform

    if platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64") and sys.platform != "win32":
        assert FLUSHES is True
    mlpext.show_config()
    text = capsys.readouterr().out
    assert ("subnormal numbers: flushed to zero" in text) == FLUSHES


@pytest.mark.parametrize("threads", ["1", "2"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sums_below_the_smallest_normal_are_zero_on_every_thread(monkeypatch, dtype, threads):
    """Each output is a sum of 1024 subnormal products (256 rows: split between two threads where asked), below the
    smallest normal number: 0 where the build flushes, on the helper's rows as on the caller's."""
    monkeypatch.setenv("MLPEXT_NUM_THREADS", threads)
    x, w = (1e-200, 1e-112) if dtype == np.float64 else (1e-20, 1e-22)
    net = one_layer(dtype, w)
    X = np.full((256, 1024), x, dtype=dtype)
    expected = X.astype(np.float64) @ net.params[0][0].astype(np.float64)
    assert (0 < expected).all() and (expected < np.finfo(dtype).tiny).all()
    out = net.forward(X)
    if FLUSHES:
        assert not out.any(), f"{np.count_nonzero(out)} of {out.size} outputs kept a subnormal"
    else:
        assert (out > 0).all()
    assert ieee_here()


@pytest.mark.parametrize("dtype", DTYPES)
def test_subnormal_inputs_are_read_as_zero(dtype):
    """A subnormal input times a large weight would be a normal number; flushed, the input counts as 0."""
    x, w = (1e-310, 1e300) if dtype == np.float64 else (1e-40, 1e30)
    net = one_layer(dtype, w)
    X = np.full((4, 1024), x, dtype=dtype)
    assert 0 < X[0, 0] < np.finfo(dtype).tiny
    out = net.forward(X)
    if FLUSHES:
        assert not out.any()
    else:
        np.testing.assert_allclose(out, X.astype(np.float64) @ net.params[0][0].astype(np.float64), rtol=1e-2)


def test_float32_subnormal_data_reaches_a_float64_network_as_the_numbers_they_are():
    """float32 data below float32's smallest normal number are normal float64 numbers: a float64 network, the
    lecture's functions included, reads them as NumPy's cast does, whichever byte order they come in (native
    float32 was converted in the kernels' flush-to-zero mode, and read as 0; big-endian went through NumPy)."""
    X32 = np.array([[1e-39], [-5e-40], [1e-38], [2e-38]], dtype=np.float32)  # the first three are subnormal
    assert (np.abs(X32[:3]) < np.finfo(np.float32).tiny).all()
    want = X32.astype(np.float64) * 1e38
    for X in (X32, X32.astype(">f4")):
        net = mlpext.MLP([1, 1], output_activation="identity", loss="mse", dtype=np.float64, seed=0)
        net.params[0][0][...], net.params[0][1][...] = 1e38, 0.0
        np.testing.assert_allclose(net.forward(X), want, rtol=1e-15)
        W1, b1 = np.full((1, 1), 1e38), np.zeros(1)
        W2, b2 = np.ones((1, 1)), np.zeros(1)
        A1, _ = mlpext.forward(X, W1, b1, W2, b2)
        np.testing.assert_allclose(A1, 1 / (1 + np.exp(-want)), rtol=1e-15)
    assert ieee_here()


def test_the_callers_mode_is_back_after_every_kind_of_call():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    rng = np.random.default_rng(0)
    params = [rng.uniform(size=(2, 3)), rng.uniform(size=3), rng.uniform(size=(3, 1)), rng.uniform(size=1)]
    calls = {
        "forward": lambda: mlpext.forward(X, *params),
        "train_step": lambda: mlpext.train_step(X, y, *params, 0.1),
        "train": lambda: mlpext.train(X, y, *params, 0.1, 100),
        "predict": lambda: mlpext.predict(X, *params),
    }
    net = mlpext.MLP([2, 8, 1], activation="tanh", loss="mse", optimizer="adam", seed=0)
    calls.update({
        "MLP.fit": lambda: net.fit(X, y, 50, batch_size=2),
        "MLP.predict": lambda: net.predict(X),
        "MLP.loss": lambda: net.loss(X, y),
        "MLP.gradients": lambda: net.gradients(X, y),
    })
    for name, call in calls.items():
        call()
        assert ieee_here(), f"{name} left this thread flushing subnormals"


class Enough(Exception):
    pass


def test_signal_handlers_run_in_the_callers_mode_during_a_long_fit():
    """A fit of many epochs runs in one call of the computation, which takes the GIL back now and then to run the
    signal handlers (Ctrl-C): they are Python code and must see the thread's own mode, not the core's."""
    net = mlpext.MLP([64, 256, 8], activation="sigmoid", loss="mse", optimizer="sgd", seed=0)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((512, 64)), rng.uniform(size=(512, 8))
    seen = []

    def handler(signum, frame):
        if done.is_set():  # a tick that came after the fit stopped
            return
        seen.append(ieee_here())
        if len(seen) >= 3:
            done.set()
            raise Enough

    def interrupt():
        while not done.wait(0.05):
            _thread.interrupt_main()

    done = threading.Event()
    previous = signal.signal(signal.SIGINT, handler)
    ticker = threading.Thread(target=interrupt)
    ticker.start()
    try:
        with pytest.raises(Enough):
            net.fit(X, y, 10**6, batch_size=32)
    finally:
        done.set()
        ticker.join()
        signal.signal(signal.SIGINT, previous)
    assert seen == [True] * len(seen) and len(seen) >= 3
    assert ieee_here()
