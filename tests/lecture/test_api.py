"""The Python-facing contract of mlpext: signatures, docstrings, keywords, out= semantics (identity, no
allocation), train's logging and return value, the agreement of train / train_step / predict / forward with each
other, and the release of the GIL while training.
"""
import inspect
import random
import threading
import tracemalloc
import _thread

import numpy as np
import pytest

import mlpext
import mlpext.reference as reference
from mlp_helpers import XOR_X, XOR_Y, assert_same_training, copies, make_params, snapshot, train_each

FUNCTIONS = ["forward", "backward", "update", "train_step", "train", "predict"]
SIGNATURES = {
    "forward": ["X", "W1", "b1", "W2", "b2", "out"],
    "backward": ["y", "hidden_activation", "predicted_output", "W2", "out"],
    "update": ["X", "hidden_activation", "delta_output", "delta_hidden", "W1", "b1", "W2", "b2", "learning_rate"],
    "train_step": ["X", "y", "W1", "b1", "W2", "b2", "learning_rate"],
    "train": ["X", "y", "W1", "b1", "W2", "b2", "learning_rate", "epochs", "log_every", "history"],
    "predict": ["X", "W1", "b1", "W2", "b2", "out"],
}
DEFAULTS = {("forward", "out"): None, ("backward", "out"): None, ("predict", "out"): None, ("train", "log_every"): 0,
            ("train", "history"): "all"}
DTYPES = [np.float64, np.float32]


def problem(dtype=np.float64, n=6, n_in=3, hidden=4, n_out=2, seed=0):
    rng = np.random.default_rng(seed + 100)
    X = rng.standard_normal((n, n_in))
    y = rng.uniform(size=(n, n_out))
    return X, y, make_params(seed, n_in, hidden, n_out, dtype)


# ------------------------------------------------------------------------------------------------------------
# Introspection
# ------------------------------------------------------------------------------------------------------------

def test_public_names():
    """Every public name exists; the lecture's functions and trace_step have their NumPy twins in reference,
    and MLP has NumpyMLP."""
    assert set(FUNCTIONS) <= set(mlpext.__all__)
    for name in mlpext.__all__:
        assert callable(getattr(mlpext, name))
    for name in [*FUNCTIONS, "trace_step"]:
        assert callable(getattr(reference, name))
    assert callable(reference.NumpyMLP)


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_signature(fname):
    signature = inspect.signature(getattr(mlpext, fname))
    assert list(signature.parameters) == SIGNATURES[fname]
    for name, parameter in signature.parameters.items():
        assert parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, name
        if (fname, name) in DEFAULTS:
            assert parameter.default == DEFAULTS[fname, name]
        else:
            assert parameter.default is inspect.Parameter.empty, name


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_reference_has_the_same_signature(fname):
    ours = inspect.signature(getattr(mlpext, fname))
    theirs = inspect.signature(getattr(reference, fname))
    assert [(p.name, p.default) for p in ours.parameters.values()] == \
           [(p.name, p.default) for p in theirs.parameters.values()]


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_docstring(fname):
    doc = getattr(mlpext, fname).__doc__
    assert doc and len(doc.strip()) > 40
    assert not doc.lstrip().startswith(fname + "("), "the text signature leaked into __doc__"
    assert "$module" not in doc
    assert mlpext.__doc__ and mlpext.reference.__doc__


# ------------------------------------------------------------------------------------------------------------
# Keyword calls
# ------------------------------------------------------------------------------------------------------------

def arguments(fname, dtype=np.float64):
    X, y, params = problem(dtype)
    A1, P = mlpext.forward(X, *params)
    D2, D1 = mlpext.backward(y, A1, P, params[2])
    values = dict(X=X, y=y, W1=params[0], b1=params[1], W2=params[2], b2=params[3], hidden_activation=A1,
                  predicted_output=P, delta_output=D2, delta_hidden=D1, learning_rate=0.3, epochs=4, log_every=0,
                  history="all")
    return {name: values[name] for name in SIGNATURES[fname] if name != "out"}


def results_equal(a, b):
    if isinstance(a, tuple):
        return len(a) == len(b) and all(results_equal(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("fname", FUNCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_keyword_calls(fname, dtype):
    fn = getattr(mlpext, fname)
    positional = arguments(fname, dtype)
    keyword = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in positional.items()}
    expected = fn(*positional.values())
    items = list(keyword.items())
    random.Random(fname).shuffle(items)  # any order
    got = fn(**dict(items))
    assert results_equal(got, expected)
    for name in ("W1", "b1", "W2", "b2"):
        if name in keyword:
            np.testing.assert_array_equal(keyword[name], positional[name])
    # some positional, the rest by keyword
    mixed = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in arguments(fname, dtype).items()}
    names = list(mixed)
    assert results_equal(fn(*[mixed[k] for k in names[:2]], **{k: mixed[k] for k in names[2:]}), expected)


# ------------------------------------------------------------------------------------------------------------
# out=
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_out_arrays_are_returned(dtype):
    X, y, params = problem(dtype)
    A1_out, P_out = np.empty((6, 4), dtype), np.empty((6, 2), dtype)
    result = mlpext.forward(X, *params, out=(A1_out, P_out))
    assert type(result) is tuple and result[0] is A1_out and result[1] is P_out
    D2_out, D1_out = np.empty((6, 2), dtype), np.empty((6, 4), dtype)
    result = mlpext.backward(y, A1_out, P_out, params[2], out=(D2_out, D1_out))
    assert type(result) is tuple and result[0] is D2_out and result[1] is D1_out
    out = np.empty((6, 2), dtype)
    assert mlpext.predict(X, *params, out=out) is out
    assert mlpext.predict(X, *params, out=(out,)) is out
    np.testing.assert_array_equal(out, P_out)


@pytest.mark.parametrize("dtype", DTYPES)
def test_without_out_new_arrays_are_returned(dtype):
    X, y, params = problem(dtype)
    A1, P = mlpext.forward(X, *params, out=None)
    A1b, Pb = mlpext.forward(X, *params)
    assert A1 is not A1b and not np.shares_memory(A1, A1b)
    for a in (A1, P):
        assert a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable and a.flags.owndata
    for a in mlpext.backward(y, A1, P, params[2]):
        assert a.dtype == dtype and a.flags.c_contiguous and a.flags.owndata
    assert mlpext.predict(X, *params).dtype == dtype


def traced_peak(fn):
    """Peak bytes allocated (as tracemalloc sees them: Python, PyMem and NumPy data) while fn() runs."""
    tracemalloc.start()
    try:
        fn()  # warm up anything allocated once
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_nothing_allocated_when_out_is_given():
    """With out= given (and X already a C array of the params' dtype), forward and backward allocate nothing
    the size of their outputs; predict only its (n, hidden) workspace."""
    n, n_in, hidden, n_out = 20000, 3, 8, 20
    X, y, params = problem(np.float64, n, n_in, hidden, n_out)
    A1, P = np.empty((n, hidden)), np.empty((n, n_out))
    D2, D1 = np.empty((n, n_out)), np.empty((n, hidden))
    out_bytes = A1.nbytes + P.nbytes

    def forward():
        mlpext.forward(X, *params, out=(A1, P))

    def backward():
        mlpext.backward(y, A1, P, params[2], out=(D2, D1))

    def predict():
        mlpext.predict(X, *params, out=P)

    assert traced_peak(forward) < 4096
    assert traced_peak(backward) < D1.nbytes // 10 + 4096  # y needs no conversion either (float64, C order)
    assert traced_peak(predict) <= A1.nbytes + 4096  # the hidden activation it must hold, not the (n, 20) out
    # The measurement is not vacuous: without out= the outputs show up.
    assert traced_peak(lambda: mlpext.forward(X, *params)) >= out_bytes


# ------------------------------------------------------------------------------------------------------------
# train: logging, epochs=0, the returned losses
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("epochs, log_every", [(10, 1), (20, 3), (25, 7), (5, 5), (4, 10), (2500, 500)])
def test_log_lines_match_reference(epochs, log_every, capsys):
    params, params_ref = make_params(1), make_params(1)
    losses = mlpext.train(XOR_X, XOR_Y, *params, 0.5, epochs, log_every=log_every)
    printed = capsys.readouterr()
    reference.train(XOR_X, XOR_Y, *params_ref, 0.5, epochs, log_every=log_every)
    expected = capsys.readouterr()
    assert printed.out == expected.out
    assert printed.err == expected.err == ""
    assert printed.out.count("\n") == len(range(0, epochs, log_every))
    assert printed.out.splitlines()[0] == f"Epoch: 0, Loss: {losses[0]:.4f}"


@pytest.mark.parametrize("log_every", [1, 2, 3, 5, 7, 39, 40])
def test_log_lines_across_chunks_of_a_big_net(log_every, capsys):
    """A net big enough that train works in short chunks (a few epochs) between looks at Python: lines still
    come at every multiple of log_every, in order, with the right losses."""
    X, y, params = problem(np.float64, n=200, n_in=20, hidden=50, n_out=5)
    params_ref = copies(params)
    losses = mlpext.train(X, y, *params, 0.1, 40, log_every=log_every)
    printed = capsys.readouterr().out
    reference.train(X, y, *params_ref, 0.1, 40, log_every=log_every)
    assert printed == capsys.readouterr().out
    assert printed == "".join(f"Epoch: {e}, Loss: {losses[e]:.4f}\n" for e in range(0, 40, log_every))


@pytest.mark.parametrize("log_every", [0, None])
def test_no_log_by_default_or_with_zero(log_every, capsys):
    params = make_params(1)
    if log_every is None:
        mlpext.train(XOR_X, XOR_Y, *params, 0.5, 50)
    else:
        mlpext.train(XOR_X, XOR_Y, *params, 0.5, 50, log_every=log_every)
    assert capsys.readouterr() == ("", "")


def test_log_goes_through_sys_stdout(monkeypatch):
    lines = []

    class Sink:
        def write(self, text):
            lines.append(text)
            return len(text)

        def flush(self):
            pass

    monkeypatch.setattr("sys.stdout", Sink())
    losses = mlpext.train(XOR_X, XOR_Y, *make_params(1), 0.5, 6, log_every=2)
    monkeypatch.undo()
    assert "".join(lines) == "".join(f"Epoch: {e}, Loss: {losses[e]:.4f}\n" for e in (0, 2, 4))


def test_log_write_error_propagates(monkeypatch):
    class Broken:
        def write(self, text):
            raise RuntimeError("stdout is broken")

    monkeypatch.setattr("sys.stdout", Broken())
    with pytest.raises(RuntimeError, match="stdout is broken"):
        mlpext.train(XOR_X, XOR_Y, *make_params(1), 0.5, 10, log_every=3)


def test_log_without_stdout_is_silent(monkeypatch):
    monkeypatch.setattr("sys.stdout", None)
    params, params_ref = make_params(1), make_params(1)
    losses = mlpext.train(XOR_X, XOR_Y, *params, 0.5, 10, log_every=3)
    monkeypatch.undo()
    np.testing.assert_array_equal(losses, mlpext.train(XOR_X, XOR_Y, *params_ref, 0.5, 10))


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_epochs(dtype, capsys):
    X, y, params = problem(dtype)
    before = snapshot(params)
    losses = mlpext.train(X, y, *params, 0.5, 0, log_every=1)
    assert isinstance(losses, np.ndarray) and losses.dtype == np.float64 and losses.shape == (0,)
    assert snapshot(params) == before
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("dtype", DTYPES)
def test_train_losses_are_train_step_losses(dtype):
    X, y, params = problem(dtype)
    stepped = copies(params)
    losses = mlpext.train(X, y, *params, 0.7, 25)
    step_losses = [mlpext.train_step(X, y, *stepped, 0.7) for _ in range(25)]
    assert losses.dtype == np.float64 and losses.shape == (25,)
    assert all(type(loss) is float for loss in step_losses)
    np.testing.assert_array_equal(losses, step_losses)
    for a, b in zip(params, stepped):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_train_step_is_forward_backward_update(dtype):
    """train_step is the three phases, and its loss is mean|y - predicted_output| before the update."""
    X, y, params = problem(dtype)
    phased = copies(params)
    loss = mlpext.train_step(X, y, *params, 0.7)
    A1, P = mlpext.forward(X, *phased)
    D2, D1 = mlpext.backward(y, A1, P, phased[2])
    mlpext.update(X, A1, D2, D1, *phased, 0.7)
    for a, b in zip(params, phased):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loss, np.mean(np.abs(y - P.astype(np.float64))), rtol=1e-6 if dtype == np.float32
                               else 1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_is_forward_output(dtype):
    X, _, params = problem(dtype)
    np.testing.assert_array_equal(mlpext.predict(X, *params), mlpext.forward(X, *params)[1])


def test_train_returns_a_new_array_each_call():
    X, y, params = problem()
    a = mlpext.train(X, y, *params, 0.1, 3)
    b = mlpext.train(X, y, *params, 0.1, 3)
    assert a is not b and not np.shares_memory(a, b)
    assert a.flags.owndata and a.flags.writeable


# ------------------------------------------------------------------------------------------------------------
# Threads and the GIL
# ------------------------------------------------------------------------------------------------------------

def test_concurrent_training_matches_serial():
    """Two threads training separate networks at once get exactly the serial results (no shared state)."""
    setups = [problem(np.float64, 64, 8, 16, 3, seed=1), problem(np.float32, 64, 8, 16, 3, seed=2)]
    serial = train_each(setups, 0.2, 3000)
    assert_same_training(train_each(setups, 0.2, 3000, at_once=True), serial)


@pytest.mark.usefixtures("default_sigint")
def test_gil_is_released_while_training():
    """While train runs in the main thread, another thread runs Python code: it reads W1 (which needs the GIL)
    and sees it at two different values after the start, so it read W1 while train was still writing it.

    If train held the GIL, the helper could only run before the call or after it returned, and would never see
    two successive changes: train would then run its whole (long) course and the test fail with DID NOT RAISE.
    The helper then interrupts the main thread, which also checks that train stops on KeyboardInterrupt.
    No clock is involved.
    """
    X, y, params = problem(np.float64, 64, 16, 32, 4)
    W1 = params[0]
    initial = W1.copy()
    done = threading.Event()
    seen = []

    def helper():
        last = initial
        while not done.is_set():
            now = W1.copy()
            if not np.array_equal(now, last):
                seen.append(now)
                last = now
                if len(seen) == 2:
                    _thread.interrupt_main()
                    return

    thread = threading.Thread(target=helper)
    with pytest.raises(KeyboardInterrupt):
        try:
            thread.start()
            mlpext.train(X, y, *params, 0.01, 200_000)
        finally:
            done.set()
            thread.join()
    assert len(seen) == 2
    # Interrupted at a whole epoch: some number of train_step calls from the start reproduces the parameters.
    replay = problem(np.float64, 64, 16, 32, 4)[2]
    for _ in range(200_000):
        if all(np.array_equal(a, b) for a, b in zip(replay, params)):
            break
        mlpext.train_step(X, y, *replay, 0.01)
    else:
        pytest.fail("the interrupted parameters are not those after a whole number of epochs")


# ------------------------------------------------------------------------------------------------------------
# trace_step (added after the six: one step's every intermediate, as a dict)
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(mlpext, "trace_step"), reason="no trace_step in this build")
@pytest.mark.parametrize("dtype", DTYPES)
def test_trace_step_is_train_step(dtype):
    """trace_step leaves the parameters alone and reports what train_step computes."""
    assert list(inspect.signature(mlpext.trace_step).parameters) == SIGNATURES["train_step"]
    X, y, params = problem(dtype)
    before = snapshot(params)
    trace = mlpext.trace_step(X, y, *params, 0.7)
    assert snapshot(params) == before
    A1, P = mlpext.forward(X, *params)
    D2, D1 = mlpext.backward(y, A1, P, params[2])
    np.testing.assert_array_equal(trace["A1"], A1)
    np.testing.assert_array_equal(trace["y_hat"], P)
    np.testing.assert_array_equal(trace["delta2"], D2)
    np.testing.assert_array_equal(trace["delta1"], D1)
    loss = mlpext.train_step(X, y, *params, 0.7)
    for name, p in zip(["W1_new", "b1_new", "W2_new", "b2_new"], params):
        assert trace[name].dtype == dtype
        np.testing.assert_array_equal(trace[name], p)
    np.testing.assert_allclose(np.mean(np.abs(trace["E2"].astype(np.float64))), loss, rtol=1e-6)
