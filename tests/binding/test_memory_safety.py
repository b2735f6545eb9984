"""Python code that runs inside a call and changes the arrays the call holds.

A call can run Python code after it validated an array and before it uses it: the conversion of a later argument
(`__array__`), the `train` log line written to `sys.stdout`, a signal handler, other threads once the GIL is taken
back. (A subclass's `__array_finalize__` ran on the copies NumPy made for a call, too; they are plain arrays now.)
The binding (csrc/module.c) therefore
  - owns every array it uses from validation to last use (a strong reference, taken to each item of each list of
    arrays when the call starts), so replacing a list's items frees nothing the call still uses;
  - records each validated array (data pointer, dtype, flags, shape, strides) and, after any point where Python
    code may have run, proves it unchanged before using it again — or raises ValueError naming the function and
    the argument, having written nothing since that point.
Before this, each case below read or wrote freed memory (a crash, "free(): corrupted unsorted chunks", or garbage).

Results are compared with the NumPy reference (mlpext.reference, mlpext.reference_net.NumpyMLP) or with the same
computation on untouched copies.
"""
import signal
import sys
import threading

import numpy as np
import pytest

import mlpext
from mlpext import _core, reference
from mlpext.reference_net import NumpyMLP
from mlp_helpers import make_params

# These tests change validated arrays in place, as another thread or an __array__ could: `a.shape = ...` and
# `a.dtype = ...`, which NumPy 2.5 deprecates (a DeprecationWarning, no change of behaviour). Where NumPy removes
# them, those ways of changing an array under a call are gone too, and the tests that use them must go with them.
pytestmark = pytest.mark.filterwarnings("ignore:Setting the (shape|dtype) on a NumPy array:DeprecationWarning")


def lecture_problem(dtype=np.float64, n=6, n_in=3, hidden=5, n_out=2):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    y = rng.uniform(size=(n, n_out)).astype(dtype)
    return X, y, make_params(3, n_in, hidden, n_out, dtype)


class ArrayLike:
    """An object NumPy converts by calling __array__, which first runs `action` (the mutation under test)."""

    def __init__(self, value, action):
        self.value, self.action = value, action

    def __array__(self, dtype=None, copy=None):
        self.action()
        return self.value if dtype is None else self.value.astype(dtype)


def resize(a):
    a.resize((a.shape[0] * 400 + 7, *a.shape[1:]), refcheck=False)  # frees a's buffer


def setstate(a):
    """New memory holding the same values in Fortran order (a state of the same shape and order could land at
    the address just freed: then nothing the call holds has changed)."""
    version, shape, dtype, _, data = a.__reduce__()[2]
    a.__setstate__((version, shape, dtype, True, np.asfortranarray(a).tobytes(order="A")))


def read_only(a):
    a.flags.writeable = False


def reshape(a):
    a.shape = a.shape[::-1]


# ------------------------------------------------------------------------------------------------------------
# The lecture's functions: another argument's conversion changes a validated array
# ------------------------------------------------------------------------------------------------------------

MUTATIONS = {"resize(refcheck=False)": resize, "__setstate__": setstate, "read-only": read_only,
             "reshape": reshape}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_backward_W2_changed_by_y_conversion(mutation):
    """backward() validates W2 first, then converts y: y.__array__ changing W2 is caught before any use."""
    X, y, (W1, b1, W2, b2) = lecture_problem()
    A1, P = reference.forward(X, W1, b1, W2, b2)
    out = (np.full(P.shape, -1.0), np.full(A1.shape, -1.0))
    with pytest.raises(ValueError, match=r"^backward\(\): W2 was resized, reshaped or given other memory"):
        mlpext.backward(ArrayLike(y, lambda: MUTATIONS[mutation](W2)), A1, P, W2, out=out)
    assert (out[0] == -1).all() and (out[1] == -1).all(), "backward() wrote its outputs"


@pytest.mark.parametrize("fname", ["train_step", "train", "trace_step"])
@pytest.mark.parametrize("mutation", ["resize(refcheck=False)", "__setstate__", "read-only"])
def test_X_changed_by_y_conversion(fname, mutation):
    """X is validated (and used in place) before y is converted; y.__array__ changing X is caught and nothing is
    written."""
    X, y, params = lecture_problem()
    before = [p.copy() for p in params]
    args = (X, ArrayLike(y, lambda: MUTATIONS[mutation](X)), *params, 0.5) + ((3,) if fname == "train" else ())
    with pytest.raises(ValueError, match=rf"^{fname}\(\): X was resized, reshaped or given other memory"):
        getattr(mlpext, fname)(*args)
    for p, q in zip(params, before):
        assert np.array_equal(p, q) and p.tobytes() == q.tobytes()


def test_harmless_conversion_gives_the_reference():
    """A conversion that runs Python code but changes nothing the call holds: the call proceeds and matches
    the reference."""
    X, y, params = lecture_problem()
    expected = [p.copy() for p in params]
    loss_ref = reference.train_step(X, y, *expected, 0.5)
    side = []
    loss = mlpext.train_step(X, ArrayLike(y, lambda: side.append(np.zeros(1000))), *params, 0.5)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-12)
    for p, q in zip(params, expected):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------------------------------------
# train(): the log line (sys.stdout.write) changes a parameter between two chunks
# ------------------------------------------------------------------------------------------------------------

class Stdout:
    """A sys.stdout whose write runs `action(lines written so far)`."""

    def __init__(self, action):
        self.lines, self.action = [], action

    def write(self, text):
        self.lines.append(text)
        self.action(len(self.lines))
        return len(text)

    def flush(self):
        pass


@pytest.mark.parametrize("mutation", ["resize(refcheck=False)", "__setstate__"])
def test_train_log_line_changes_W2(monkeypatch, mutation):
    """The first log line (after epoch 0) changes W2: train stops with ValueError before the next epoch, after
    exactly one epoch (mlpext_epochs), whose loss it reports; W1, b1, b2 are as after one train_step."""
    X, y, params = lecture_problem()
    W2 = params[2]
    ref = [p.copy() for p in params]
    ref_loss = mlpext.train_step(X, y, *ref, 0.5)
    monkeypatch.setattr(sys, "stdout", Stdout(lambda count: MUTATIONS[mutation](W2)))
    with pytest.raises(ValueError, match=r"^train\(\): W2 was resized") as info:
        mlpext.train(X, y, *params, 0.5, 100, log_every=1)
    e = info.value
    assert e.mlpext_epochs == 1 and e.mlpext_batches == 0
    assert e.mlpext_losses.dtype == np.float64 and e.mlpext_losses.tolist() == [ref_loss]
    for k in (0, 1, 3):
        assert params[k].tobytes() == ref[k].tobytes()
    if mutation == "__setstate__":  # W2 kept its values in its new memory: those of after one epoch
        assert np.array_equal(W2, ref[2])


@pytest.mark.parametrize("history", ["all", "log", None])
def test_train_broken_pipe_carries_progress(monkeypatch, history):
    """sys.stdout.write raising (a broken pipe) on the 3rd line, printed after epoch 4 (log_every=2): the
    exception carries the 5 epochs applied and their kept losses; the parameters are those of 5 train_steps."""
    X, y, params = lecture_problem()
    ref = [p.copy() for p in params]
    ref_losses = [mlpext.train_step(X, y, *ref, 0.5) for _ in range(5)]

    def fail(count):
        if count == 3:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Stdout(fail))
    with pytest.raises(BrokenPipeError) as info:
        mlpext.train(X, y, *params, 0.5, 50, log_every=2, history=history)
    e = info.value
    assert e.mlpext_epochs == 5 and e.mlpext_batches == 0
    kept = {"all": ref_losses, "log": ref_losses[::2], None: []}[history]
    assert e.mlpext_losses.dtype == np.float64 and e.mlpext_losses.tolist() == kept
    assert all(p.tobytes() == q.tobytes() for p, q in zip(params, ref))


# ------------------------------------------------------------------------------------------------------------
# Networks: lists of arrays whose items are replaced during the call
# ------------------------------------------------------------------------------------------------------------

ACTS = ["tanh", "identity"]


def net_arrays(seed=0, sizes=(4, 300, 2)):
    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((a, b)) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
    b = [rng.standard_normal(s) for s in sizes[1:]]
    return W, b


def test_net_forward_list_items_replaced_by_X_conversion():
    """X.__array__ replaces (and so frees) the items of the weights and biases lists, their only owners: the
    call keeps using, and holding, the arrays it was given; its result is the reference on them."""
    W, b = net_arrays()
    X = np.random.default_rng(5).standard_normal((5, 4))
    ref = np.tanh(X @ W[0] + b[0]) @ W[1] + b[1]

    def replace():
        W[0], W[1], b[0], b[1] = np.zeros((4, 300)), None, "gone", np.zeros(2)
        [np.full((4, 300), 7.0) for _ in range(20)]  # would reuse the freed memory

    out = _core.net_forward(ArrayLike(X, replace), W, b, ACTS, 0.01)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_mlp_forward_params_replaced_by_X_conversion():
    """MLP.forward(X) where X.__array__ replaces net.params[0]: the result is that of the parameters the call
    was given (NumpyMLP on a copy made before)."""
    net = mlpext.MLP([4, 300, 2], activation="tanh", seed=0, dtype=np.float64)
    ref = NumpyMLP([4, 300, 2], activation="tanh", seed=0, dtype=np.float64)
    X = np.random.default_rng(1).standard_normal((5, 4))

    def replace():
        net.params[0] = (np.zeros((4, 300)), np.zeros(300))

    out = net.forward(ArrayLike(X, replace))
    np.testing.assert_allclose(out, ref.forward(X), rtol=1e-10, atol=1e-12)


def test_mlp_fit_state_replaced_by_X_conversion():
    """The fit's X an object whose __array__ (run as the call validates X, after it took the optimizer's state
    list) replaces net._state entries (Adam's moments): the call trains the state arrays it was given, exactly as
    a fit with a plain X does."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 4))
    y = rng.standard_normal((40, 2))
    net = mlpext.MLP([4, 300, 2], activation="tanh", optimizer="adam", seed=0, dtype=np.float64)
    twin = mlpext.MLP([4, 300, 2], activation="tanh", optimizer="adam", seed=0, dtype=np.float64)
    expected = twin.fit(X, y, 3, batch_size=8, shuffle=False)
    state = list(net._state)  # what the call is given
    ran = []

    def replace():
        ran.append(1)
        net._state[1:] = [np.zeros_like(a) for a in net._state[1:]]
        [np.full(a.shape, 7.0) for a in state[1:]]

    # (MLP.fit turns a non-array X into one before the call: its private _net_fit is what passes X as it is)
    losses = net._net_fit(ArrayLike(X.astype(">f8"), replace), y, 3, 8, False)
    assert ran == [1]
    assert net._state[1] is not state[1]  # replaced, for later calls
    assert np.array_equal(losses, expected)
    for (W, b), (W2, b2) in zip(net.params, twin.params):
        assert np.array_equal(W, W2) and np.array_equal(b, b2)
    for a, a2 in zip(state, twin._state):
        assert np.array_equal(a, a2)


class Keeper(np.ndarray):
    """Keeps every instance NumPy makes of it (views, and copies made with the subclass kept): on_finalize(self),
    if set, runs as each is made."""
    kept = []
    on_finalize = None

    def __array_finalize__(self, obj):
        Keeper.kept.append(self)
        if Keeper.on_finalize is not None:
            Keeper.on_finalize(self)


@pytest.fixture
def keeper():
    yield Keeper
    Keeper.kept.clear()
    Keeper.on_finalize = None


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_class_labels_stay_private_from_a_subclass(keeper):
    """y's class labels are copied and range-checked once. With y a subclass, the copy NumPy makes would be one
    too, reachable from __array_finalize__: a signal handler run between mini-batches then wrote labels 2**40
    into it, and the fit indexed far out of the gradient (a crash). The copy is a plain ndarray: the handler
    changes only the arrays it can reach, and the fit gives the plain labels' losses and weights."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2048, 16))
    labels = rng.integers(0, 10, 2048).astype(np.intp)
    twin = mlpext.MLP([16, 64, 10], loss="cross_entropy", seed=0, dtype=np.float64)
    expected = twin.fit(X, labels, 30, batch_size=32)
    y = labels.view(keeper)
    calls = []

    def clobber(*_):
        calls.append(1)
        for a in keeper.kept:
            if a.dtype == np.intp and not np.shares_memory(a, labels):  # any copy of the labels
                a[...] = 1 << 40

    net = mlpext.MLP([16, 64, 10], loss="cross_entropy", seed=0, dtype=np.float64)
    previous = signal.signal(signal.SIGALRM, clobber)
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:
        losses = net.fit(X, y, 30, batch_size=32)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert calls  # the handler ran during the fit
    assert np.array_equal(losses, expected)
    for (W, b), (W2, b2) in zip(net.params, twin.params):
        assert np.array_equal(W, W2) and np.array_equal(b, b2)


@pytest.mark.parametrize("what", ["X float16", "X big-endian", "labels int8"])
@pytest.mark.parametrize("change", ["dtype", "shape"])
def test_a_subclass_never_sees_the_cast_copy(keeper, what, change):
    """An input the binding has NumPy cast (here float16, big-endian, and class labels, which are always copied):
    a subclass's __array_finalize__ ran on NumPy's copy before it was filled, and could give it other memory of
    another dtype or shape, which the call then read as the validated array (wrong numbers, or a read past the
    buffer). The copy is a plain ndarray: the hook never runs on it, and the results are the reference's."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 3))
    armed = [True]

    def swap(self):  # on the first array of the call's dtype made after arming: other memory, the wrong size
        if armed[0] and self.dtype in (np.float64, np.intp):
            armed[0] = False
            dtype, shape = (np.float32, self.shape) if change == "dtype" else (self.dtype, (0,) * self.ndim)
            self.__setstate__((1, shape, np.dtype(dtype), False, bytes(int(np.prod(shape)) * np.dtype(dtype).itemsize)))

    if what.startswith("X"):
        W1, b1, W2, b2 = make_params(11, 3, 4, 2, np.float64)
        Xc = X.astype(np.float16 if what == "X float16" else ">f8")
        expected = reference.predict(Xc.astype(np.float64), W1, b1, W2, b2)
        Xs = Xc.view(keeper)
        keeper.on_finalize = swap
        got = mlpext.predict(Xs, W1, b1, W2, b2)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    else:
        net = mlpext.MLP([3, 5, 4], loss="cross_entropy", seed=0, dtype=np.float64)
        labels = rng.integers(0, 4, 6).astype(np.int8)
        expected = net.loss(X, labels.astype(np.intp))
        ys = labels.view(keeper)
        keeper.on_finalize = swap
        assert net.loss(X, ys) == expected
    assert armed[0]  # no array of the call's dtype was made a Keeper


def test_fit_while_another_thread_resets_adam():
    """Another thread replaces net._state[1:] (resetting Adam) while net.fit(X, y, 400) runs: no crash; the fit
    keeps training the arrays it was given (the other thread's reset only reaches later calls)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((256, 8))
    y = np.eye(3)[rng.integers(0, 3, 256)]
    net = mlpext.MLP([8, 64, 64, 3], loss="cross_entropy", optimizer="adam", seed=0, dtype=np.float64)
    stop = threading.Event()
    resets = []

    def reset():
        while not stop.is_set():
            net._state[1:] = [np.zeros_like(a) for a in net._state[1:]]
            resets.append(1)

    t = threading.Thread(target=reset)
    t.start()
    try:
        losses = net.fit(X, y, 400, batch_size=32)
    finally:
        stop.set()
        t.join()
    assert losses.shape == (400,) and np.isfinite(losses).all()
    assert resets, "the other thread never ran"
    assert net.loss(X, y) < losses[0]


@pytest.mark.parametrize("mutation", ["resize(refcheck=False)", "__setstate__", "read-only"])
def test_net_fit_weights_changed_by_X_conversion(mutation):
    """_core.net_fit validates the weights, then converts X: X.__array__ changing weights[1] is caught before
    anything is written."""
    W, b = net_arrays(sizes=(4, 8, 2))
    before = [a.copy() for a in W + b]
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((10, 4)), rng.standard_normal((10, 2))
    state, rng_state = [], np.array([1, 2, 3, 4], dtype=np.uint64)
    with pytest.raises(ValueError, match=r"weights\[1\] was resized, reshaped or given other memory"):
        _core.net_fit(ArrayLike(X, lambda: MUTATIONS[mutation](W[1])), y, W, b, ACTS, 0.01, "mse", "sgd",
                      (0.1, 0.0, False, 0.9, 0.999, 1e-8, 0.0, 0.99), state, 2, 4, True, rng_state)
    for k, a in enumerate(W + b):
        if k != 1 or mutation == "read-only":
            assert a.tobytes() == before[k].tobytes()
    assert rng_state.tolist() == [1, 2, 3, 4]


LABELS_CHANGED_BY_SIGNAL = """
import signal, numpy as np, mlpext
rng = np.random.default_rng(0)
X = rng.standard_normal((2048, 16)).astype(np.float32)
y = rng.integers(0, 10, 2048).astype(np.intp)  # the core's own label type: nothing for NumPy to convert
original = y.copy()
hits = []
def clobber(*_):  # runs between mini-batches, where the fit looks at signals
    hits.append(1)
    y[:] = 1 << 60  # far out of range: the kernel would read far outside its rows
signal.signal(signal.SIGALRM, clobber)
signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
make = lambda: mlpext.MLP([16, 64, 10], loss="cross_entropy", seed=0)
net = make()
losses = net.fit(X, y, epochs=60, batch_size=32)
signal.setitimer(signal.ITIMER_REAL, 0)
clean = make()
expected = clean.fit(X, original, epochs=60, batch_size=32)
assert hits, "the handler never ran during the fit"
assert np.array_equal(losses, expected)
assert all(np.array_equal(a, b) for p, q in zip(net.params, clean.params) for a, b in zip(p, q))
print("ok")
"""


@pytest.mark.skipif(not hasattr(__import__("signal"), "setitimer"), reason="needs signal.setitimer (POSIX)")
def test_class_labels_changed_by_a_signal_handler_during_fit_are_not_read(tmp_path):
    """The labels are checked against the number of outputs once; a signal handler run between mini-batches then
    sets them out of range. The fit uses the labels it checked (its own copy), as if nothing had changed — before,
    it read far outside its rows (a crash)."""
    import subprocess
    done = subprocess.run([sys.executable, "-c", LABELS_CHANGED_BY_SIGNAL], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stdout, done.stderr)


def test_dtype_swapped_for_one_of_the_same_size_during_the_call():
    """y's conversion gives X another dtype of the same item size, which NumPy may place at the address of the
    dtype it frees: the call compares the dtype by value, so it still sees the change, raises and writes
    nothing."""
    X, y, params = lecture_problem()
    X = X.astype(np.dtype("f8", metadata={"tag": 1}))

    def swap():
        X.dtype = np.int64  # frees X's own dtype object
        X.dtype = np.dtype("i8", metadata={"tag": 1})

    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match=r"train_step\(\): X was resized, reshaped or given other memory, dtype"):
        mlpext.train_step(X, ArrayLike(y, swap), *params, 0.1)
    assert all(np.array_equal(p, q) for p, q in zip(params, before))


def test_remembered_validation_of_a_dtype_at_a_reused_address():
    """A validation is remembered with the arrays it saw; an array of another dtype made later at the same
    addresses (the object, its data and its dtype object) must be validated again, here converted from int64."""
    rng = np.random.default_rng(0)
    params = make_params(1, 3, 4, 2, np.float64)
    buffer = np.zeros(48, dtype=np.uint8)  # both arrays view it: the same data pointer
    values = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64)
    converted = mlpext.predict(values.astype(np.float64), *params)  # (exp may differ from NumPy's by an ulp)
    np.testing.assert_allclose(converted, reference.predict(values.astype(np.float64), *params), rtol=1e-12, atol=0)
    reused = 0
    for _ in range(300):
        d = np.dtype("f8", metadata={"tag": 1})
        X = np.ndarray((2, 3), dtype=d, buffer=buffer)
        X[...] = rng.standard_normal((2, 3))
        mlpext.predict(X, *params)  # remembered: float64, used in place
        old = id(X), id(d)
        del X, d
        d = np.dtype("i8", metadata={"tag": 1})
        X = np.ndarray((2, 3), dtype=d, buffer=buffer)
        X[...] = values
        reused += (id(X), id(d)) == old
        np.testing.assert_array_equal(mlpext.predict(X, *params), converted)
        del X, d
    print(f"{reused} of 300 arrays at the old addresses")


@pytest.mark.parametrize("name", ["longlong", "ulonglong"])
def test_counters_take_every_spelling_of_64_bit_integers(name):
    """np.longlong and np.int64 (np.ulonglong, np.uint64) are different type numbers on some platforms but the
    same integers: the step count and the generator take both."""
    rng_state = np.array([1, 2, 3, 4], dtype=np.ulonglong if name == "ulonglong" else np.uint64)
    expected = _core.net_shuffle(9, np.array([1, 2, 3, 4], dtype=np.uint64))
    np.testing.assert_array_equal(_core.net_shuffle(9, rng_state), expected)
    W, b = [np.ones((2, 2))], [np.ones(2)]
    grads = [np.full((2, 2), 0.5), np.full(2, 0.5)]
    step = np.zeros(1, dtype=np.longlong if name == "longlong" else np.int64)
    state = [step, np.zeros((2, 2)), np.zeros(2), np.zeros((2, 2)), np.zeros(2)]
    _core.net_apply(W, b, grads, "adam", (0.1, 0.0, False, 0.9, 0.999, 1e-8, 0.0, 0.99), state)
    assert step[0] == 1 and not np.array_equal(W[0], np.ones((2, 2)))
