"""Reference and memory leaks: every entry point, on success and on its error paths, called many times.

Each scenario calls one entry point MLPEXT_LEAK_CALLS times (default 20,000; .ci/run sets 100,000) after a
warm-up, and checks:
  - sys.getrefcount of every argument, of the out= arrays, of the dtypes and of None/True/False is unchanged
    (a missing Py_DECREF leaks one reference per call; an extra one would eventually free a live object);
  - tracemalloc's traced memory grew by less than 64 KiB. It sees PyMem/PyObject allocations, NumPy's array
    data (NumPy reports it to tracemalloc) and the binding's heap scratch block (PyMem_Malloc): a leaked array or
    block of even 8 bytes per call grows it by >= 160 KB;
  - the process's resident set grew by less than 8 MiB: a backstop for memory tracemalloc cannot see (raw
    malloc). Skipped under AddressSanitizer (tools/sanitize.sh), whose allocator quarantines freed memory.

Scenarios cover the conversion paths (X as the parameters' dtype, as ints converted by the binding, as float16
converted by NumPy into a temporary array, as a list), small calls (stack scratch, GIL kept) and large ones
(heap scratch, GIL released), out= arrays, and errors raised at each stage: argument parsing, the parameters'
dtype, a later argument after temporaries were made, overlaps, out= arrays, the learning rate, allocation
failures (MemoryError), and an exception raised from inside train()'s loop (its log line's sys.stdout.write).
"""
import contextlib
import gc
import os
import sys
import tracemalloc

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import mlpext

CALLS = int(os.environ.get("MLPEXT_LEAK_CALLS", "20000"))
WARMUP = 300
TRACED_LIMIT = 64 * 1024
RSS_LIMIT = 8 * 1024 * 1024
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
SINGLETONS = (None, True, False, np.dtype(np.float64), np.dtype(np.float32))


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def net(n=4, n_in=2, hidden=3, n_out=1, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    y = rng.uniform(0, 1, (n, n_out)).astype(dtype)
    params = [rng.standard_normal(s).astype(dtype) for s in ((n_in, hidden), (hidden,), (hidden, n_out), (n_out,))]
    return X, y, params


class Sink:
    """A sys.stdout that discards what train() prints."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass


class BrokenStdout:
    """A sys.stdout whose write raises: train() must fail cleanly from inside its loop."""

    def write(self, text):
        raise RuntimeError("stdout is broken")

    def flush(self):
        pass


def scenarios():
    """name -> factory() returning (call, watched objects, expected exception or None, stdout or None)."""
    s = {}

    def add(name, stdout=None):
        def register(factory):
            s[name] = (factory, stdout)
            return factory
        return register

    # ---- success ----
    for label, size in (("small", dict()), ("large", dict(n=32, n_in=8, hidden=32, n_out=4))):
        for xkind in ("same", "int", "float16", "list"):
            def forward_ok(size=size, xkind=xkind):
                X, y, p = net(**size)
                Xa = {"same": X, "int": (X * 3).astype(np.int32), "float16": X.astype(np.float16),
                      "list": X.tolist()}[xkind]
                return (lambda: mlpext.forward(Xa, *p)), [Xa, *p], None
            add(f"forward-{label}-X_{xkind}")(forward_ok)

        def forward_out(size=size):
            X, y, p = net(**size)
            A1, P = mlpext.forward(X, *p)
            out = (np.empty_like(A1), np.empty_like(P))
            return (lambda: mlpext.forward(X, *p, out=out)), [X, *p, out, *out], None
        add(f"forward-{label}-out")(forward_out)

        def backward_ok(size=size):
            X, y, p = net(**size)
            A1, P = mlpext.forward(X, *p)
            A1_f = np.asfortranarray(A1)  # an intermediate the binding copies
            return (lambda: mlpext.backward(y, A1_f, P, p[2])), [y, A1_f, P, p[2]], None
        add(f"backward-{label}")(backward_ok)

        def backward_out(size=size):
            X, y, p = net(**size)
            A1, P = mlpext.forward(X, *p)
            out = mlpext.backward(y, A1, P, p[2])
            return (lambda: mlpext.backward(y, A1, P, p[2], out=out)), [y, A1, P, p[2], out, *out], None
        add(f"backward-{label}-out")(backward_out)

        def update_ok(size=size):
            X, y, p = net(**size)
            A1, P = mlpext.forward(X, *p)
            D2, D1 = mlpext.backward(y, A1, P, p[2])
            Xi = (X * 3).astype(np.int16)
            return (lambda: mlpext.update(Xi, A1, D2, D1, *p, 0.0)), [Xi, A1, D2, D1, *p], None
        add(f"update-{label}")(update_ok)

        def train_step_ok(size=size):
            X, y, p = net(**size)
            Xl = X.tolist()
            return (lambda: mlpext.train_step(Xl, y, *p, 1e-4)), [Xl, y, *p], None
        add(f"train_step-{label}")(train_step_ok)

        def train_ok(size=size):
            X, y, p = net(**size)
            X16 = X.astype(np.float16)
            return (lambda: mlpext.train(X16, y, *p, 1e-4, 3)), [X16, y, *p], None
        add(f"train-{label}")(train_ok)

        def predict_ok(size=size):
            X, y, p = net(**size)
            out = np.empty((X.shape[0], p[3].shape[0]))
            return (lambda: mlpext.predict(X, *p, out=(out,))), [X, *p, out], None
        add(f"predict-{label}")(predict_ok)

        def trace_ok(size=size):
            X, y, p = net(**size)
            yi = (y > 0.5).astype(np.uint8)
            return (lambda: mlpext.trace_step(X, yi, *p, 0.5)), [X, yi, *p], None
        add(f"trace_step-{label}")(trace_ok)

    @add("train-printing", stdout=Sink())
    def train_printing():
        X, y, p = net(dtype=np.float32)
        return (lambda: mlpext.train(X, y, *p, 0.1, 4, log_every=2)), [X, y, *p], None

    # ---- errors ----
    @add("error-parse-unknown-keyword")
    def err_kw():
        X, y, p = net()
        return (lambda: mlpext.forward(X, *p, bogus=1)), [X, *p], TypeError

    @add("error-param-dtype")
    def err_dtype():
        X, y, p = net()
        bad = p[0].astype(np.int64)
        return (lambda: mlpext.train_step(X, y, bad, *p[1:], 0.1)), [X, y, bad, *p], TypeError

    @add("error-after-converted-list")
    def err_late_shape():  # X (a list) converted into a temporary array, then y has the wrong shape
        X, y, p = net()
        Xl, y_bad = X.tolist(), np.ones((5, 1))
        return (lambda: mlpext.train_step(Xl, y_bad, *p, 0.1)), [Xl, y_bad, *p], ValueError

    @add("error-after-numpy-cast")
    def err_after_cast():  # X (float16) cast by NumPy into a temporary array, then b2 is read-only
        X, y, p = net()
        X16, b2 = X.astype(np.float16), p[3].copy()
        b2.setflags(write=False)
        return (lambda: mlpext.train(X16, y, *p[:3], b2, 0.1, 2)), [X16, y, *p, b2], ValueError

    @add("error-overlap")
    def err_overlap():
        X, y, p = net(n=2, n_in=2, hidden=2, n_out=1)
        Xv = p[0][:]  # a view of W1
        return (lambda: mlpext.train_step(Xv, y, *p, 0.1)), [Xv, y, *p], ValueError

    @add("error-overlap-memoryview")
    def err_overlap_mv():
        X, y, p = net(n=2, n_in=2, hidden=2, n_out=1)
        Xv = memoryview(p[0])
        return (lambda: mlpext.train(Xv, y, *p, 0.1, 2)), [Xv, y, *p], ValueError

    @add("error-out-dtype")
    def err_out():
        X, y, p = net()
        A1, P = mlpext.forward(X, *p)
        out = (A1, P.astype(np.float32))
        return (lambda: mlpext.forward(X, *p, out=out)), [X, *p, out, *out], TypeError

    @add("error-out-overlap")
    def err_out_overlap():
        X, y, p = net(n=3, n_in=3, hidden=3, n_out=3)
        out = (X, np.empty((3, 3)))
        return (lambda: mlpext.forward(X, *p, out=out)), [X, *p, out, *out], ValueError

    @add("error-learning-rate")
    def err_lr():
        X, y, p = net()
        lr = "0.1"
        return (lambda: mlpext.update(X, X[:, :1], y, X[:, :1], *p, lr)), [X, y, *p, lr], TypeError

    @add("error-learning-rate-overflow")
    def err_lr_big():
        X, y, p = net()
        lr = 10 ** 400
        return (lambda: mlpext.train_step(X, y, *p, lr)), [X, y, *p, lr], (TypeError, ValueError)

    @add("error-intermediate-dtype")
    def err_inter():
        X, y, p = net()
        A1, P = mlpext.forward(X, *p)
        A1_32 = A1.astype(np.float32)
        return (lambda: mlpext.backward(y, A1_32, P, p[2])), [y, A1_32, P, p[2]], TypeError

    @add("error-memory-outputs")
    def err_mem_out():
        X, y, p = net()
        Xh = as_strided(np.ones(1), shape=(2 ** 46, 2), strides=(0, 0))
        return (lambda: mlpext.forward(Xh, *p)), [Xh, *p], (MemoryError, ValueError)

    @add("error-memory-scratch")
    def err_mem_scratch():
        X, y, p = net()
        Xh = as_strided(np.ones(1, np.int8), shape=(2 ** 46, 2), strides=(0, 0))
        yh = as_strided(np.ones(1), shape=(2 ** 46, 1), strides=(0, 0))
        return (lambda: mlpext.train_step(Xh, yh, *p, 0.1)), [Xh, yh, *p], (MemoryError, ValueError)

    @add("error-memory-numpy-cast")
    def err_mem_cast():
        X, y, p = net()
        Xh = as_strided(np.ones(1, np.float16), shape=(2 ** 46, 2), strides=(0, 0))
        return (lambda: mlpext.predict(Xh, *p)), [Xh, *p], (MemoryError, ValueError)

    @add("error-memory-losses")
    def err_mem_losses():
        X, y, p = net()
        return (lambda: mlpext.train(X, y, *p, 0.1, 2 ** 46)), [X, y, *p], (MemoryError, ValueError)

    @add("error-inside-train-loop", stdout=BrokenStdout())
    def err_in_loop():
        X, y, p = net()
        return (lambda: mlpext.train(X, y, *p, 0.0, 3, log_every=1)), [X, y, *p], RuntimeError

    return s


SCENARIOS = scenarios()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_leak(name):
    factory, stdout = SCENARIOS[name]
    call, watched, exc = factory()
    watched = list(watched) + list(SINGLETONS) + [call]
    if exc is not None:
        def once():
            try:
                call()
            except exc:
                return
            raise AssertionError(f"{name}: expected {exc}")
    else:
        once = call

    redirect = contextlib.redirect_stdout(stdout) if stdout is not None else contextlib.nullcontext()
    with redirect:
        tracemalloc.start()
        try:
            for _ in range(WARMUP):
                once()
            gc.collect()
            refs = [sys.getrefcount(o) for o in watched]
            traced0, rss0 = tracemalloc.get_traced_memory()[0], rss_bytes()
            for _ in range(CALLS):
                once()
            gc.collect()
            traced1, rss1 = tracemalloc.get_traced_memory()[0], rss_bytes()
            refs_after = [sys.getrefcount(o) for o in watched]
        finally:
            tracemalloc.stop()

    print(f"{name}: {CALLS} calls, traced memory {traced1 - traced0:+d} B, RSS {rss1 - rss0:+d} B")
    # Arguments: exactly unchanged. Shared singletons (None, True, False, the dtypes) are referenced from all over
    # the interpreter and may move by a few for unrelated reasons; a leak in the call moves them by ~CALLS.
    exact = len(watched) - len(SINGLETONS) - 1
    changed = [(k, type(o).__name__, a, b) for k, (o, a, b) in enumerate(zip(watched, refs, refs_after))
               if (a != b if k < exact or k == len(watched) - 1 else abs(a - b) > CALLS // 4)]
    assert not changed, f"reference counts changed (index, type, before, after): {changed}"
    assert traced1 - traced0 < TRACED_LIMIT, f"traced memory grew by {traced1 - traced0} B over {CALLS} calls"
    if not UNDER_ASAN:
        assert rss1 - rss0 < RSS_LIMIT, f"RSS grew by {rss1 - rss0} B over {CALLS} calls"
