"""Threads inside one call: matrix products of at least MLP_PARALLEL_MIN_OPS (2**25) multiply-adds are split among
up to MLPEXT_NUM_THREADS threads (default: the CPUs the process may use), by ranges of output rows. Every output
value is the same chain of operations wherever the ranges are cut, so the results are bit-identical whatever the
thread count — which is what these tests check, on the lecture API and on mlpext.MLP, together with the
environment variable's validation. (No timing is asserted: docs/benchmarks.md has the speed.)
"""
import sys

import numpy as np
import pytest

import mlpext
from mlp_helpers import copies

# Big enough that the first layer's products (n·in·hidden = 37.7 M multiply-adds) are split.
N, IN, HIDDEN, OUT = 256, 384, 384, 12
THREAD_COUNTS = ["1", "2", "3", "5"]


def lecture_problem(dtype):
    rng = np.random.default_rng(7)
    X = rng.uniform(-1, 1, (N, IN)).astype(dtype)
    y = (rng.uniform(size=(N, OUT)) > 0.5).astype(dtype)
    shapes = ((IN, HIDDEN), (HIDDEN,), (HIDDEN, OUT), (OUT,))
    params = [(0.05 * rng.standard_normal(shape)).astype(dtype) for shape in shapes]
    return X, y, params


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lecture_api_same_bits_for_any_thread_count(monkeypatch, dtype):
    X, y, params = lecture_problem(dtype)
    results = {}
    for threads in THREAD_COUNTS:
        monkeypatch.setenv("MLPEXT_NUM_THREADS", threads)
        p = copies(params)
        losses = mlpext.train(X, y, *p, 0.01, 2)
        A1, P = mlpext.forward(X, *p)
        D2, D1 = mlpext.backward(y, A1, P, p[2])
        mlpext.update(X, A1, D2, D1, *p, 0.01)
        results[threads] = [losses, A1, P, D1, *p]
    for threads in THREAD_COUNTS[1:]:
        for got, want in zip(results[threads], results["1"]):
            np.testing.assert_array_equal(got, want, err_msg=f"MLPEXT_NUM_THREADS={threads}")


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mlp_fit_same_bits_for_any_thread_count(monkeypatch, optimizer):
    rng = np.random.default_rng(8)
    X = rng.standard_normal((300, IN)).astype(np.float32)
    labels = rng.integers(0, 10, 300)
    results = {}
    for threads in THREAD_COUNTS:
        monkeypatch.setenv("MLPEXT_NUM_THREADS", threads)
        net = mlpext.MLP([IN, HIDDEN, HIDDEN, 10], activation="tanh", loss="cross_entropy", optimizer=optimizer,
                         learning_rate=1e-3, seed=3)
        history = net.fit(X, labels, epochs=2, batch_size=256)
        results[threads] = [history, net.forward(X), *(a for pair in net.params for a in pair)]
    for threads in THREAD_COUNTS[1:]:
        for got, want in zip(results[threads], results["1"]):
            np.testing.assert_array_equal(got, want, err_msg=f"MLPEXT_NUM_THREADS={threads}")


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", "3x", " "])
def test_bad_thread_count_is_a_clear_error_and_changes_nothing(monkeypatch, value):
    X, y, params = lecture_problem(np.float64)
    before = copies(params)
    monkeypatch.setenv("MLPEXT_NUM_THREADS", value)
    with pytest.raises(ValueError, match="MLPEXT_NUM_THREADS must be a positive integer"):
        mlpext.train(X, y, *params, 0.01, 1)
    for got, want in zip(params, before):
        np.testing.assert_array_equal(got, want)
    refs = [sys.getrefcount(a) for a in (X, y, *params)]
    for _ in range(50):  # the error path releases what it took
        with pytest.raises(ValueError):
            mlpext.forward(X, *params, out=(np.empty((N, HIDDEN)), np.empty((N, OUT))))
    assert [sys.getrefcount(a) for a in (X, y, *params)] == refs
    net = mlpext.MLP([IN, HIDDEN, 2], seed=0)
    with pytest.raises(ValueError, match="MLPEXT_NUM_THREADS"):
        net.fit(X, y[:, :2], epochs=1)


def test_small_calls_never_read_the_thread_count(monkeypatch):
    """Below the threshold a call runs on the calling thread without looking at MLPEXT_NUM_THREADS (so a bad value
    only matters where threads would be used)."""
    monkeypatch.setenv("MLPEXT_NUM_THREADS", "not a number")
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    params = [np.full((2, 3), 0.5), np.zeros(3), np.full((3, 1), 0.5), np.zeros(1)]
    assert mlpext.train(X, y, *params, 0.5, 10).shape == (10,)
