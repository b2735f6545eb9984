"""Hardening of mlpext.MLP and its C side (net_forward / net_loss / net_fit): leaks on success and error
paths, out-of-memory, numerical stability at |z| = 1000, threads, and Ctrl-C during fit (what the exception
carries).

Leak scenarios run MLPEXT_LEAK_CALLS calls each (default 20,000; .ci/run sets 100,000), as tests/binding/test_leaks.py
does for the lecture's functions: reference counts unchanged, tracemalloc growth below 64 KiB, RSS growth below
8 MiB (skipped under AddressSanitizer, whose allocator keeps freed memory in quarantine).
"""
import gc
import os
import sys
import threading
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import mlpext
from mlpext import _core
from mlpext.reference_net import NumpyMLP, shuffled_order

CALLS = int(os.environ.get("MLPEXT_LEAK_CALLS", "20000"))
TRACED_LIMIT = 64 * 1024
RSS_LIMIT = 8 * 1024 * 1024
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def network(loss="cross_entropy", optimizer="adam", sizes=(4, 8, 3), dtype=np.float64, seed=0):
    return mlpext.MLP(list(sizes), activation="tanh", loss=loss, optimizer=optimizer, learning_rate=0.01,
                      momentum=0.9 if optimizer == "sgd" else 0.0, dtype=dtype, seed=seed)


def data(n=16, sizes=(4, 8, 3), seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, sizes[0])), rng.integers(0, sizes[-1], n)


def state_bytes(net):
    return [a.tobytes() for pair in net.params for a in pair] + [a.tobytes() for a in net._state] + [
        net._rng.tobytes()]


SCENARIOS = {
    "fit": lambda net, X, y: net.fit(X, y, 2, batch_size=5),
    "step": lambda net, X, y: net.step(X, y),
    "forward": lambda net, X, y: net.forward(X),
    "loss": lambda net, X, y: net.loss(X, y),
    "gradients": lambda net, X, y: net.gradients(X, y),
    "fit, label out of range": lambda net, X, y: net.fit(X, np.full_like(y, 7), 1, batch_size=4),
    "fit, NaN target (propagates)": lambda net, X, y: net.fit(X, np.eye(3)[y] * np.nan, 1),
    "loss, X of the wrong width": lambda net, X, y: net.loss(X[:, :3], y),
    "forward, complex X": lambda net, X, y: net.forward(X.astype(complex)),
    "step, float16 X (converted by NumPy)": lambda net, X, y: net.step(X.astype(np.float16), y),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_leaks(name):
    call = SCENARIOS[name]
    net, (X, y) = network(), data()
    arrays = [X, y] + [a for pair in net.params for a in pair] + list(net._state) + [net._rng]

    def run(count):
        for _ in range(count):
            try:
                call(net, X, y)
            except (TypeError, ValueError):
                pass

    run(50)
    refs = [sys.getrefcount(a) for a in arrays]
    gc.collect()
    rss_start = rss_bytes()
    run(CALLS // 2)  # without tracemalloc: the RSS backstop, for memory tracemalloc cannot see (raw malloc)
    gc.collect()
    rss_grown = rss_bytes() - rss_start
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        run(CALLS - CALLS // 2)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(a) for a in arrays] == refs
    assert grown < TRACED_LIMIT, f"{name}: traced memory grew by {grown} bytes over {CALLS} calls"
    if not UNDER_ASAN:
        assert rss_grown < RSS_LIMIT, f"{name}: RSS grew by {rss_grown} bytes"


def test_impossible_allocation_is_a_memory_error():
    """A zero-stride X with 2^40 rows asks for a conversion copy and workspace that cannot exist."""
    net = network(sizes=(4, 8, 3))
    before = state_bytes(net)
    X = as_strided(np.zeros(4), shape=(2**40, 4), strides=(0, 8))
    with pytest.raises(MemoryError):
        net.forward(X)
    y = as_strided(np.zeros(1, dtype=np.int64), shape=(2**40,), strides=(0,))
    with pytest.raises(MemoryError):
        net.fit(X, y, 1, batch_size=32)
    assert state_bytes(net) == before


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, output", [("bce", "sigmoid"), ("cross_entropy", "softmax"), ("mse", "softmax"),
                                          ("lecture", "sigmoid")])
def test_stable_at_large_logits(loss, output, dtype):
    """Logits of ±1000: sigmoid and softmax saturate without overflow, the logs of BCE and cross-entropy stay
    finite (cross-entropy from the logits, BCE clamped at −100 as nn.BCELoss), no NaN, no warning."""
    net = mlpext.MLP([2, 3], activation="identity", output_activation=output, loss=loss, dtype=dtype, seed=0)
    W, b = net.params[0]
    W[...] = [[1000, -1000, 0], [0, 0, 1000]]
    b[...] = 0
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=dtype)
    y = np.array([1, 0, 2, 1]) if loss == "cross_entropy" else np.array(
        [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 1, 0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            out = net.forward(X)
            value = net.loss(X, y)
            grads = net.gradients(X, y)
    assert np.all(np.isfinite(out)) and np.all((out >= 0) & (out <= 1))
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for pair in grads for g in pair)
    if loss == "cross_entropy":  # the wrong class of row 0 has logit 2000 below the right one's: loss ≈ 2000/4
        reference = NumpyMLP([2, 3], activation="identity", output_activation=output, loss=loss,
                             dtype=np.float64, seed=0)
        reference.params[0][0][...] = W
        reference.params[0][1][...] = b
        with np.errstate(all="ignore"):
            assert value == pytest.approx(reference.loss(X.astype(np.float64), y), rel=1e-6)


def test_threads_train_networks_in_parallel_with_serial_results():
    """Several MLPs trained from several threads end bit-identical to the same MLPs trained one after another."""
    X, y = data(n=256, sizes=(16, 32, 4), seed=2)
    serial = [network(sizes=(16, 32, 4), seed=s) for s in range(4)]
    for net in serial:
        net.fit(X, y, 5, batch_size=32)
    threaded = [network(sizes=(16, 32, 4), seed=s) for s in range(4)]
    workers = [threading.Thread(target=net.fit, args=(X, y, 5), kwargs={"batch_size": 32}) for net in threaded]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for a, b in zip(serial, threaded):
        assert state_bytes(a) == state_bytes(b)


def replay(sizes, seed, X, y, epochs, batches, batch_size):
    """network(sizes, sgd, seed) trained `epochs` whole epochs, then `batches` mini-batch steps of the next epoch
    in fit's order (its shuffle drawn from the generator at the epoch's start); and the epochs' losses."""
    net = network(sizes=sizes, optimizer="sgd", seed=seed)
    history = net.fit(X, y, epochs, batch_size=batch_size)
    if batches:
        state = [int(s) for s in net._rng]
        order = shuffled_order(len(X), state)
        net._rng[...] = np.array(state, dtype=np.uint64)
        for k in range(batches):
            rows = order[k * batch_size:(k + 1) * batch_size]
            net.step(X[rows], y[rows])
    return net, history


def test_replay_of_mini_batch_steps_is_fit():
    """replay's steps in fit's order: 2 epochs and all 8 mini-batches of the third are 3 epochs of fit."""
    sizes = (32, 128, 8)
    X, y = data(n=512, sizes=sizes, seed=3)
    stepped, _ = replay(sizes, 5, X, y, 2, 8, 64)
    fitted, _ = replay(sizes, 5, X, y, 3, 0, 64)
    assert state_bytes(stepped) == state_bytes(fitted)
    assert state_bytes(replay(sizes, 5, X, y, 2, 3, 64)[0]) != state_bytes(fitted)


@pytest.mark.usefixtures("default_sigint")
@pytest.mark.parametrize("chunked", [False, True])
def test_ctrl_c_in_fit_carries_what_ran(chunked):
    """KeyboardInterrupt from another thread during a long fit (in one call to the computation, or in fit's
    chunks: verbose) carries mlpext_epochs, mlpext_losses and mlpext_batches, and the network is exactly where
    that many epochs and mini-batch steps from the same start leave it (an interrupt may stop fit between two
    mini-batches)."""
    sizes, batch_size = (32, 128, 8), 64
    X, y = data(n=512, sizes=sizes, seed=3)
    net = network(sizes=sizes, optimizer="sgd", seed=5)
    import _thread

    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            net.fit(X, y, 10**6, batch_size=batch_size, verbose=10**9 if chunked else 0)
    finally:
        timer.cancel()
    exc = info.value
    assert type(exc.mlpext_epochs) is int and type(exc.mlpext_batches) is int
    assert 0 <= exc.mlpext_batches < len(X) // batch_size
    assert exc.mlpext_losses.dtype == np.float64 and exc.mlpext_losses.shape == (exc.mlpext_epochs,)
    twin, history = replay(sizes, 5, X, y, exc.mlpext_epochs, exc.mlpext_batches, batch_size)
    assert history.tobytes() == exc.mlpext_losses.tobytes()
    assert state_bytes(twin) == state_bytes(net)


def test_private_functions_check_their_arrays():
    """The C side validates what mlpext.MLP hands it, so a direct call cannot crash it either."""
    net, (X, y) = network(), data()
    W = [w for w, _ in net.params]
    b = [bb for _, bb in net.params]
    with pytest.raises(ValueError, match="weights"):
        _core.net_forward(X, W[:1], b, ("tanh", "softmax"), 0.0)
    with pytest.raises(ValueError, match="softmax"):
        _core.net_forward(X, W, b, ("softmax", "softmax"), 0.0)
    with pytest.raises(ValueError, match="activation"):
        _core.net_forward(X, W, b, ("tanh", "swish"), 0.0)
    with pytest.raises(ValueError, match="state"):
        _core.net_fit(X, y, W, b, ("tanh", "softmax"), 0.0, "cross_entropy", "adam",
                      (0.01, 0.0, False, 0.9, 0.999, 1e-8, 0.0, 0.99), [], 1, 4, True, net._rng)
    with pytest.raises(ValueError, match="rng"):
        _core.net_fit(X, y, W, b, ("tanh", "softmax"), 0.0, "cross_entropy", "sgd",
                      (0.01, 0.0, False, 0.9, 0.999, 1e-8, 0.0, 0.99), [], 1, 4, True, np.zeros(4, np.uint64))
    with pytest.raises(ValueError, match="shares memory"):
        _core.net_fit(X, y, W, b, ("tanh", "softmax"), 0.0, "cross_entropy", "sgd",
                      (0.01, 0.0, False, 0.9, 0.999, 1e-8, 0.0, 0.99), [], 1, 4, True, W[0][0, :4].view(np.uint64))


def test_errors_name_the_public_method():
    """Messages from the C side name the MLP method the caller called (predict, not the forward pass it runs;
    tests/network/test_network.py checks every method), not the private _core function."""
    net = mlpext.MLP([2, 3, 1], seed=0)
    bad_X, y = np.zeros((4, 3)), np.zeros((4, 1))
    calls = {
        "MLP.fit()": lambda: net.fit(bad_X, y, epochs=1),
        "MLP.predict()": lambda: net.predict(bad_X),
        "MLP.loss()": lambda: net.loss(bad_X, y),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value).startswith(name + ": X must have shape (4, 2)"), str(info.value)
