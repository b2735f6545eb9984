"""Every way to call mlpext wrongly: the right exception (TypeError for a wrong type or dtype, ValueError for a wrong
shape, layout, size, writability, overlap or value), a message that names the argument, and parameters (and every
other array passed) left bit-for-bit unchanged.

Also the inputs that are not errors although they look unusual: read-only parameters for the functions that only
read them, disjoint parameters cut from one buffer, NaN/inf (they propagate) and huge |z| (sigmoid saturates to
finite values in [0, 1], without warnings).
"""
import re
import warnings

import numpy as np
import pytest

import mlpext
import mlpext.reference as reference
from mlpext import _core
from mlp_helpers import copies, make_params, snapshot, unitless_timedelta

SIGNATURES = {
    "forward": ["X", "W1", "b1", "W2", "b2"],
    "backward": ["y", "hidden_activation", "predicted_output", "W2"],
    "update": ["X", "hidden_activation", "delta_output", "delta_hidden", "W1", "b1", "W2", "b2", "learning_rate"],
    "train_step": ["X", "y", "W1", "b1", "W2", "b2", "learning_rate"],
    "train": ["X", "y", "W1", "b1", "W2", "b2", "learning_rate", "epochs"],
    "predict": ["X", "W1", "b1", "W2", "b2"],
}
FUNCTIONS = list(SIGNATURES)
IN_PLACE = {"update", "train_step", "train"}
WITH_OUT = {"forward": ["out[0] (hidden_activation)", "out[1] (predicted_output)"],
            "backward": ["out[0] (delta_output)", "out[1] (delta_hidden)"],
            "predict": ["out"]}
PARAMS = ["W1", "b1", "W2", "b2"]
INPUTS = ["X", "y"]
INTERMEDIATES = ["hidden_activation", "predicted_output", "delta_output", "delta_hidden"]


def fresh(dtype=np.float64, n=4, n_in=2, hidden=3, n_out=1):
    """Valid values for every argument of every function, for an n_in-hidden-n_out net on n samples."""
    W1, b1, W2, b2 = make_params(0, n_in, hidden, n_out, dtype)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, n_in))
    y = rng.uniform(size=(n, n_out))
    A1, P = reference.forward(X, W1, b1, W2, b2)
    D2, D1 = reference.backward(y, A1, P, W2)
    return {"X": X, "y": y, "W1": W1, "b1": b1, "W2": W2, "b2": b2, "hidden_activation": A1, "predicted_output": P,
            "delta_output": D2, "delta_hidden": D1, "learning_rate": 0.5, "epochs": 3}


def out_arrays(fname, v):
    """Valid out= arrays for fname."""
    n, hidden, n_out = v["X"].shape[0], v["W1"].shape[1], v["W2"].shape[1]
    dtype = v["W1"].dtype
    shapes = {"forward": [(n, hidden), (n, n_out)], "backward": [(n, n_out), (n, hidden)], "predict": [(n, n_out)]}
    return [np.zeros(s, dtype) for s in shapes[fname]]


def call(fname, v, **kwargs):
    return getattr(mlpext, fname)(*[v[name] for name in SIGNATURES[fname]], **kwargs)


def watched(v, extra=()):
    """Every ndarray among the call's values (the parameters first) and extra."""
    arrays = [v[p] for p in PARAMS] + [a for k, a in v.items() if k not in PARAMS]
    if isinstance(extra, np.ndarray):
        extra = [extra]
    elif not isinstance(extra, (tuple, list)):
        extra = []
    return [a for a in arrays + list(extra) if isinstance(a, np.ndarray)]


def expect_error(fname, v, exc, pattern, **kwargs):
    """fname(*v, **kwargs) raises exc with a message matching pattern; no array passed was written."""
    arrays = watched(v, kwargs.get("out"))
    before = snapshot(arrays)
    with pytest.raises(exc, match=pattern):
        call(fname, v, **kwargs)
    for a, b in zip(arrays, before):
        assert a.tobytes() == b, "an array was modified by a call that raised"


def names(fname, arg):
    """A pattern: the message starts with 'fname(): ' (or 'fname() ') and names arg as a whole word."""
    return rf"^{fname}\(\):? .*(?<![\w\[]){re.escape(arg)}(?![\w\]])"


# ------------------------------------------------------------------------------------------------------------
# Parameters
# ------------------------------------------------------------------------------------------------------------

def strided(a):
    """The same values, not contiguous."""
    return np.repeat(a, 2, axis=-1)[..., ::2]


def read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def misaligned(a):
    raw = np.zeros(a.nbytes + 1, np.uint8)
    view = raw[1:].view(a.dtype).reshape(a.shape)
    view[...] = a
    return view


PARAM_MUTATIONS = {
    # name: (mutation, exception, message fragment)
    "int64": (lambda a: a.astype(np.int64), TypeError, "dtype"),
    "float16": (lambda a: a.astype(np.float16), TypeError, "dtype"),
    "byteswapped": (lambda a: a.astype(a.dtype.newbyteorder()), TypeError, "native byte order"),
    "list": (lambda a: a.tolist(), TypeError, "numpy.ndarray"),
    "strided": (strided, ValueError, "C-contiguous"),
    "misaligned": (misaligned, ValueError, "aligned"),
    "one_more_column": (lambda a: np.concatenate([a, a[..., :1]], axis=-1), ValueError, "shape"),
    "one_more_row": (lambda a: np.concatenate([a, a[:1]], axis=0), ValueError, "shape"),
    "extra_axis": (lambda a: a[None], ValueError, "-D"),
    "zero_size": (lambda a: a[..., :0], ValueError, "shape"),
}


def param_cases():
    for fname, signature in SIGNATURES.items():
        for p in PARAMS:
            if p in signature:
                for mutation in PARAM_MUTATIONS:
                    yield pytest.param(fname, p, mutation, id=f"{fname}-{p}-{mutation}")


@pytest.mark.parametrize("fname, param, mutation", list(param_cases()))
def test_bad_parameter(fname, param, mutation):
    mutate, exc, fragment = PARAM_MUTATIONS[mutation]
    v = fresh(n_out=2)  # every parameter has a dimension > 1, so "strided" is never contiguous
    original = v[param]
    v[param] = mutate(original)
    # Checked only on the remaining valid arrays: the parameters must survive.
    expect_error(fname, v, exc, names(fname, param))
    with pytest.raises(exc, match=re.escape(fragment)):
        call(fname, v)


@pytest.mark.parametrize("fname", [f for f in FUNCTIONS if f != "backward"])
@pytest.mark.parametrize("param", PARAMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mixed_float_parameters(fname, param, dtype):
    """All parameters float32 or all float64: one of the other precision is a TypeError naming it."""
    v = fresh(dtype)
    other = np.float64 if dtype == np.float32 else np.float32
    v[param] = v[param].astype(other)
    # W1 sets the call's dtype, so a W1 of the other precision is reported at b1, "like W1".
    expect_error(fname, v, TypeError, names(fname, param) + ".*" if param != "W1" else rf"b1 must .* like W1")


def test_fortran_order_weights():
    for fname in ["forward", "train", "predict", "update", "train_step"]:
        for p in ["W1", "W2"]:
            v = fresh(n_out=2)
            v[p] = np.asfortranarray(v[p])
            expect_error(fname, v, ValueError, names(fname, p) + ".*C-contiguous")


@pytest.mark.parametrize("fname", ["forward", "train"])
def test_layout_message_says_what_came_and_its_advice_works(fname):
    """A parameter that is not a C array: the message says what came (its strides, or misaligned data) and how to get
    one, and that advice works. np.ascontiguousarray returns a misaligned C-contiguous array as it is, so a message
    that advised it for one (as it did) sent the caller round in circles; a copy is aligned."""
    v = fresh(n_out=2)
    use = "used" if fname == "forward" else "written"
    cases = [(misaligned(v["W1"]), rf"got data at an address that is not a multiple of its 8-byte items; pass "
                                   rf"W1\.copy\(\) and keep that array$", lambda a: a.copy()),
             (np.asfortranarray(v["W1"]), r"got a Fortran-ordered array of shape \(2, 3\) with strides \(8, 16\); "
                                          r"pass np\.ascontiguousarray\(W1\)", np.ascontiguousarray),
             (strided(v["W1"]), r"got a non-contiguous array of shape \(2, 3\) with strides \(48, 16\); pass "
                                r"np\.ascontiguousarray\(W1\)", np.ascontiguousarray)]
    for bad, message, advice in cases:
        w = dict(v, W1=bad)
        expect_error(fname, w, ValueError, rf"^{fname}\(\): W1 must be C-contiguous and aligned \(it is {use} in "
                                           rf"place, so it is never copied\), {message}")
        call(fname, dict(w, W1=advice(bad)))  # as the message says: accepted


@pytest.mark.parametrize("fname", sorted(IN_PLACE))
@pytest.mark.parametrize("param", PARAMS)
def test_read_only_parameter_of_in_place_function(fname, param):
    v = fresh()
    v[param] = read_only(v[param])
    expect_error(fname, v, ValueError, names(fname, param) + ".*read-only")


@pytest.mark.parametrize("fname", ["forward", "backward", "predict"])
def test_read_only_parameters_allowed_when_only_read(fname):
    v = fresh()
    expected = call(fname, v)
    for p in PARAMS:
        v[p] = read_only(v[p])
    got = call(fname, v)
    for g, e in zip(got if isinstance(got, tuple) else (got,), expected if isinstance(expected, tuple) else (expected,)):
        np.testing.assert_array_equal(g, e)


def test_float32_weights_with_float64_intermediates_in_backward():
    """backward's only parameter is W2: it sets the dtype, so float64 activations are then the wrong dtype."""
    v = fresh()
    v["W2"] = v["W2"].astype(np.float32)
    expect_error("backward", v, TypeError, names("backward", "hidden_activation") + ".*float32")


def test_float32_parameters_with_float64_intermediates_in_update():
    v = fresh(np.float32)
    for arg in INTERMEDIATES:
        v[arg] = v[arg].astype(np.float64)
    expect_error("update", v, TypeError, names("update", "hidden_activation") + ".*float32")


# ------------------------------------------------------------------------------------------------------------
# Data (X, y) and intermediates
# ------------------------------------------------------------------------------------------------------------

INPUT_MUTATIONS = {
    "complex": (lambda a: a.astype(complex), TypeError),
    "object": (lambda a: a.astype(object), TypeError),
    "str": (lambda a: a.astype(str), TypeError),
    "datetime": (lambda a: a.astype(np.int64).astype("datetime64[s]"), TypeError),
    "ragged_list": (lambda a: [list(a[0]), list(a[1, :-1])] + a[2:].tolist(), TypeError),
    "none": (lambda a: None, TypeError),
    "one_d": (lambda a: a[:, 0], ValueError),
    "three_d": (lambda a: a[None], ValueError),
    "scalar": (lambda a: 1.0, ValueError),
    "zero_rows": (lambda a: a[:0], ValueError),
    "zero_columns": (lambda a: a[:, :0], ValueError),
    "one_more_column": (lambda a: np.concatenate([a, a[:, :1]], axis=1), ValueError),
}


def input_cases():
    for fname, signature in SIGNATURES.items():
        for arg in INPUTS:
            if arg in signature:
                for mutation in INPUT_MUTATIONS:
                    yield pytest.param(fname, arg, mutation, id=f"{fname}-{arg}-{mutation}")


@pytest.mark.parametrize("fname, arg, mutation", list(input_cases()))
def test_bad_input(fname, arg, mutation):
    mutate, exc = INPUT_MUTATIONS[mutation]
    v = fresh()
    v[arg] = mutate(v[arg])
    expect_error(fname, v, exc, names(fname, arg))


@pytest.mark.parametrize("fname", ["backward", "train_step", "train"])
def test_y_with_other_number_of_samples(fname):
    v = fresh()
    v["y"] = np.concatenate([v["y"], v["y"][:1]])
    expect_error(fname, v, ValueError, names(fname, "y") + r".*\(5, 1\)")


def test_shape_message_gives_expected_and_actual():
    v = fresh()
    v["b1"] = np.zeros(4)
    expect_error("forward", v, ValueError, re.escape("forward(): b1 must have shape (3,) to match W1 of shape (2, 3), "
                                                     "got shape (4,)"))
    v = fresh()
    v["X"] = v["X"][:, 0]
    expect_error("forward", v, ValueError, re.escape("forward(): X must be 2-D with shape (n, in), got a 1-D array "
                                                     "of shape (4,)"))


INTERMEDIATE_MUTATIONS = {
    "float32": (lambda a: a.astype(np.float32), TypeError),
    "int64": (lambda a: a.astype(np.int64), TypeError),
    "complex": (lambda a: a.astype(complex), TypeError),
    "byteswapped": (lambda a: a.astype(a.dtype.newbyteorder()), TypeError),
    "one_d": (lambda a: a[:, 0], ValueError),
    "one_more_row": (lambda a: np.concatenate([a, a[:1]]), ValueError),
    "one_more_column": (lambda a: np.concatenate([a, a[:, :1]], axis=1), ValueError),
    "zero_rows": (lambda a: a[:0], ValueError),
}


def intermediate_cases():
    for fname, signature in SIGNATURES.items():
        for arg in INTERMEDIATES:
            if arg in signature:
                for mutation in INTERMEDIATE_MUTATIONS:
                    yield pytest.param(fname, arg, mutation, id=f"{fname}-{arg}-{mutation}")


@pytest.mark.parametrize("fname, arg, mutation", list(intermediate_cases()))
def test_bad_intermediate(fname, arg, mutation):
    mutate, exc = INTERMEDIATE_MUTATIONS[mutation]
    v = fresh()
    v[arg] = mutate(v[arg])
    expect_error(fname, v, exc, names(fname, arg))


# ------------------------------------------------------------------------------------------------------------
# Scalars
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fname", ["update", "train_step", "train"])
@pytest.mark.parametrize("lr", ["0.5", True, np.bool_(True), 1j, np.complex128(1), None, [0.5], unitless_timedelta(1),
                                np.timedelta64(1, "s")],
                         ids=["str", "bool", "np.bool", "complex", "np.complex", "None", "list", "timedelta",
                              "timedelta_s"])
def test_bad_learning_rate(fname, lr):
    """timedelta64 is a NumPy signedinteger, but no learning rate: it was taken as a number (no unit), or failed in
    float() with a message naming neither the function nor the argument (a unit)."""
    v = fresh()
    v["learning_rate"] = lr
    expect_error(fname, v, TypeError, names(fname, "learning_rate"))


@pytest.mark.parametrize("lr", [1, np.int32(1), np.float32(0.5), np.float16(0.5), 0.5])
def test_real_learning_rates_accepted(lr):
    v, w = fresh(), fresh()
    w["learning_rate"] = float(lr)
    v["learning_rate"] = lr
    assert call("train_step", v) == call("train_step", w)
    for a, b in zip((v[p] for p in PARAMS), (w[p] for p in PARAMS)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("arg", ["epochs", "log_every"])
@pytest.mark.parametrize("value, exc", [(True, TypeError), (np.bool_(False), TypeError), (3.0, TypeError),
                                        (np.float64(3), TypeError), ("3", TypeError), (None, TypeError),
                                        (-1, ValueError), (np.int64(-5), ValueError),
                                        (unitless_timedelta(3), TypeError), (np.timedelta64(3, "D"), TypeError)],
                         ids=["bool", "np.bool", "float", "np.float", "str", "None", "negative", "np.negative",
                              "timedelta", "timedelta_days"])
def test_bad_count(arg, value, exc):
    v = fresh()
    kwargs = {}
    if arg == "epochs":
        v["epochs"] = value
    else:
        kwargs["log_every"] = value
    expect_error("train", v, exc, names("train", arg), **kwargs)


@pytest.mark.parametrize("value, words", [(-10**30, "epochs must be non-negative"), (-7, "non-negative, got -7"),
                                          (10**30, "epochs is too large")])
def test_counts_beyond_the_index_range_say_which_way(value, words):
    """A count below -2**63 is negative, not "too large"."""
    with pytest.raises(ValueError, match=words):
        call("train", dict(fresh(), epochs=value))


def test_network_entry_messages_name_function_and_argument():
    W, b = [np.ones((2, 2))], [np.ones(2)]
    with pytest.raises(TypeError, match=r"MLP.forward\(\): activations must be a list of 1 names.*got str"):
        _core.net_forward(np.ones((3, 2)), W, b, "identity", 0.0)
    with pytest.raises(ValueError, match=r"MLP.forward\(\): activations must be a list of 1 names.*got list"):
        _core.net_forward(np.ones((3, 2)), W, b, ["identity", "identity"], 0.0)
    with pytest.raises(ValueError, match=r"MLP.fit\(\): n is too large"):
        _core.net_shuffle(2**62, np.array([1, 2, 3, 4], dtype=np.uint64))
    net = mlpext.MLP([3, 4, 3], loss="cross_entropy", seed=0)
    for labels, shown in ((np.array([0, 2**63, 1], dtype=np.uint64), "9223372036854775808"),
                          (np.array([0, -2, 1]), "-2")):  # an unsigned label as the caller gave it
        with pytest.raises(ValueError, match=f"class label {shown} at index 1"):
            net.fit(np.ones((3, 3)), labels, 1)


def test_network_entry_ragged_y_is_a_type_error_naming_y():
    # as a ragged X is: NumPy's own ValueError named neither the function nor the argument
    X, y, W, b = np.ones((3, 2)), np.ones((3, 1)), [np.ones((2, 1))], [np.zeros(1)]
    ragged = [[1.0], [2.0, 3.0], [4.0]]
    message = r"{}\(\): {} must be a real numeric array, got list that NumPy cannot turn into one"
    with pytest.raises(TypeError, match=message.format("MLP.loss", "X")):
        _core.net_loss(ragged, y, W, b, ["identity"], 0.0, "mse")
    with pytest.raises(TypeError, match=message.format("MLP.loss", "y")):
        _core.net_loss(X, ragged, W, b, ["identity"], 0.0, "mse")
    net = mlpext.MLP([2, 1], activation="identity", seed=0)
    with pytest.raises(TypeError, match=message.format("MLP.fit", "y")):
        net._net_fit(X, ragged, 1, 3, False)


class _UnknownDtype:
    """An __array_interface__ whose dtype NumPy does not understand ('<x8'): NumPy's conversion raises TypeError."""

    def __init__(self, shape, memory):
        self.__array_interface__ = {"shape": shape, "typestr": "<x8", "data": (memory.ctypes.data, True), "version": 3}


class _Refuses:
    """An array-like whose __array__ raises, saying why."""

    def __init__(self, error):
        self.error = error

    def __array__(self, dtype=None, copy=None):
        raise self.error


def test_data_numpy_cannot_convert_is_a_type_error_naming_it_and_why():
    """X or y that NumPy cannot turn into an array: a TypeError naming the function and the argument, with NumPy's
    reason in its message and as its __cause__. Before, NumPy's TypeError (a dtype it does not understand) came
    through naming neither, and its ValueError's reason (an __array__ that says why it fails) was dropped."""
    memory = np.zeros(8)
    reason = re.escape("(data type '<x8' not understood)")
    for fname, arg, shape in [("forward", "X", (4, 2)), ("train_step", "y", (4, 1)), ("train", "X", (4, 2))]:
        v = fresh()
        v[arg] = _UnknownDtype(shape, memory)
        expect_error(fname, v, TypeError, names(fname, arg) + r" must be a real numeric array, got _UnknownDtype that "
                                                              r"NumPy cannot turn into one " + reason)
    v = fresh()
    v["X"] = _Refuses(ValueError("sensor 3 is offline"))
    with pytest.raises(TypeError, match=r"^forward\(\): X .* cannot turn into one \(sensor 3 is offline\)$") as info:
        call("forward", v)
    assert isinstance(info.value.__cause__, ValueError) and str(info.value.__cause__) == "sensor 3 is offline"
    v["X"] = _Refuses(KeyError("not NumPy's"))  # what else an __array__ raises passes as it is
    with pytest.raises(KeyError, match="not NumPy's"):
        call("forward", v)
    W, b = [np.ones((2, 1))], [np.zeros(1)]
    for X, y, arg in [(_UnknownDtype((3, 2), memory), np.ones((3, 1)), "X"),
                      (np.ones((3, 2)), _UnknownDtype((3, 1), memory), "y")]:
        with pytest.raises(TypeError, match=rf"^MLP.loss\(\): {arg} must be .*NumPy cannot turn into one {reason}"):
            _core.net_loss(X, y, W, b, ["identity"], 0.0, "mse")
    with pytest.raises(TypeError, match=rf"^MLP.forward\(\): X must be .*NumPy cannot turn into one {reason}"):
        mlpext.MLP([2, 3, 1]).forward(_UnknownDtype((4, 2), memory))


def test_network_entries_hold_the_parameters_to_expect():
    """expect=(dtype number, sizes[0], ..., sizes[L]): the configuration mlpext.MLP gives each network entry. The
    parameters agree with each other and with X and y here, in every case, but not with it: TypeError (dtype) or
    ValueError (count, sizes) naming the first weight that differs, before anything is written."""
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))]
    b = [np.zeros(4), np.zeros(2)]
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    acts, hyper = ["tanh", "identity"], (0.1, 0.0, False, 0.9, 0.999, 1e-8, 0.0, 0.99)
    rng_state = np.array([1, 2, 3, 4], dtype=np.uint64)
    before = snapshot(W + b + [rng_state])
    calls = {"MLP.forward": lambda e: _core.net_forward(X, W, b, acts, 0.0, expect=e),
             "MLP.loss": lambda e: _core.net_loss(X, y, W, b, acts, 0.0, "mse", expect=e),
             "MLP.fit": lambda e: _core.net_fit(X, y, W, b, acts, 0.0, "mse", "sgd", hyper, [], 2, 2, True,
                                                rng_state, expect=e)}
    f64, f32 = np.dtype(np.float64).num, np.dtype(np.float32).num
    cases = [((f32, 3, 4, 2), TypeError, r"weights\[0\] must have the network's dtype float32, got float64"),
             ((f64, 3, 5, 2), ValueError, r"weights\[0\] must have shape \(3, 5\), the network's layer sizes, got "
                                          r"shape \(3, 4\)"),
             ((f64, 3, 4, 4, 2), ValueError, r"params must hold 3 \(W, b\) pairs, one per layer of the network, "
                                             r"got 2"),
             ((f64, 3), TypeError, r"expect must be a tuple"), ([f64, 3, 4, 2], TypeError, r"expect must be a tuple"),
             ((f64, 3, -4, 2), ValueError, r"expect holds a negative number")]
    for name, call in calls.items():
        for expect, error, message in cases:
            with pytest.raises(error, match=rf"^{re.escape(name)}\(\): {message}"):
                call(expect)
            assert snapshot(W + b + [rng_state]) == before
        call((f64, 3, 4, 2))  # the configuration they match
        call(None)


@pytest.mark.parametrize("fname", ["forward", "predict"])
def test_a_result_too_large_is_a_memory_error_naming_it(fname):
    # X a broadcast view (no memory); the float64 result (2**59, 4) would need 2**64 bytes: NumPy's "array is
    # too big" ValueError named no argument
    X = np.broadcast_to(np.bool_(True), (2**59, 3))
    W1, b1, W2, b2 = np.ones((3, 4)), np.ones(4), np.ones((4, 2)), np.ones(2)
    shape = "(576460752303423488, 4)" if fname == "forward" else "(576460752303423488, 2)"
    with pytest.raises(MemoryError, match=rf"{fname}\(\): the result .*float64 of shape {re.escape(shape)}, does "
                                          "not fit in memory"):
        getattr(mlpext, fname)(X, W1, b1, W2, b2)


@pytest.mark.parametrize("bad, exc", [("every", ValueError), (3, TypeError)])
def test_unknown_history_lists_every_choice(bad, exc):
    with pytest.raises(exc, match=r"train\(\): unknown history .*; expected 'all', 'log' or None"):
        call("train", dict(fresh(), learning_rate=0.1, epochs=3), history=bad)


def test_numpy_integer_counts_accepted():
    v, w = fresh(), fresh()
    v["epochs"] = np.int64(3)
    np.testing.assert_array_equal(call("train", v, log_every=np.uint8(0)), call("train", w))


# ------------------------------------------------------------------------------------------------------------
# out=
# ------------------------------------------------------------------------------------------------------------

OUT_MUTATIONS = {
    "float32": (lambda a: a.astype(np.float32), TypeError),
    "int64": (lambda a: a.astype(np.int64), TypeError),
    "byteswapped": (lambda a: a.astype(a.dtype.newbyteorder()), TypeError),
    "list": (lambda a: a.tolist(), TypeError),
    "one_more_row": (lambda a: np.zeros((a.shape[0] + 1, a.shape[1])), ValueError),
    "one_more_column": (lambda a: np.zeros((a.shape[0], a.shape[1] + 1)), ValueError),
    "one_d": (lambda a: np.zeros(a.size), ValueError),
    "fortran": (lambda a: np.zeros(a.shape[::-1]).T, ValueError),
    "strided": (strided, ValueError),
    "read_only": (read_only, ValueError),
    "misaligned": (misaligned, ValueError),
}


def out_cases():
    for fname, labels in WITH_OUT.items():
        for k, label in enumerate(labels):
            for mutation in OUT_MUTATIONS:
                yield pytest.param(fname, k, label, mutation, id=f"{fname}-out{k}-{mutation}")


@pytest.mark.parametrize("fname, index, label, mutation", list(out_cases()))
def test_bad_out_array(fname, index, label, mutation):
    mutate, exc = OUT_MUTATIONS[mutation]
    # A 3-hidden, 2-output net on 4 samples: every out array has two dims > 1 (so "fortran" is not C order).
    v = fresh(n_out=2)
    outs = out_arrays(fname, v)
    outs[index] = mutate(outs[index])
    expect_error(fname, v, exc, names(fname, label), out=tuple(outs))
    if fname == "predict":
        expect_error(fname, v, exc, names(fname, label), out=outs[0])


@pytest.mark.parametrize("fname, how", [(f, how) for f in sorted(WITH_OUT)
                                       for how in ["list", "short_tuple", "long_tuple", "int", "dict", "array_for_two"]
                                       if not (f == "predict" and how == "array_for_two")])  # predict takes one
def test_bad_out_container(fname, how):
    v = fresh()
    outs = out_arrays(fname, v)
    out = {"list": list(outs), "short_tuple": tuple(outs[:-1]), "long_tuple": tuple(outs) + (outs[0].copy(),),
           "int": 0, "dict": {}, "array_for_two": outs[0]}[how]
    expect_error(fname, v, TypeError, names(fname, "out"), out=out)


# ------------------------------------------------------------------------------------------------------------
# Written arrays sharing memory with other arguments
# ------------------------------------------------------------------------------------------------------------

def cube():
    """A 3-3-3 net on 3 samples: every 2-D argument has shape (3, 3), every 1-D one (3,)."""
    return fresh(n=3, n_in=3, hidden=3, n_out=3)


@pytest.mark.parametrize("fname", sorted(IN_PLACE))
@pytest.mark.parametrize("written, other", [("W1", "W2"), ("W2", "W1"), ("b1", "b2"), ("b2", "b1")])
def test_parameter_is_another_parameter(fname, written, other):
    v = cube()
    v[written] = v[other]
    expect_error(fname, v, ValueError, r"shares memory")


@pytest.mark.parametrize("fname", sorted(IN_PLACE))
@pytest.mark.parametrize("param", ["W1", "W2"])
@pytest.mark.parametrize("view", ["itself", "transposed", "reversed", "as_float32"])
def test_x_is_a_parameter(fname, param, view):
    v = cube()
    p = v[param]
    v["X"] = {"itself": p, "transposed": p.T, "reversed": p[::-1, ::-1],
              "as_float32": p.view(np.float32)[:, :3]}[view]  # X may be of any dtype: same bytes still
    expect_error(fname, v, ValueError, names(fname, param) + r" shares memory with X")


@pytest.mark.parametrize("fname", ["train_step", "train"])
def test_y_is_a_view_of_a_parameter(fname):
    v = cube()
    v["y"] = v["W2"][::-1]
    expect_error(fname, v, ValueError, names(fname, "W2") + r" shares memory with y")


@pytest.mark.parametrize("arg", ["hidden_activation", "delta_output", "delta_hidden"])
def test_update_intermediate_is_a_parameter_view(arg):
    v = cube()
    v[arg] = v["W1"].T  # a transposed view: any layout is fine for an intermediate, overlap is not
    expect_error("update", v, ValueError, r"^update\(\): W1 shares memory with " + re.escape(arg))


def test_bias_is_a_row_of_the_weights():
    v = cube()
    v["b1"] = v["W1"][1]
    expect_error("train", v, ValueError, r"shares memory")


@pytest.mark.parametrize("fname, index, arg", [("forward", 0, "X"), ("forward", 1, "X"), ("forward", 0, "W1"),
                                               ("forward", 1, "W2"), ("backward", 0, "y"),
                                               ("backward", 1, "hidden_activation"), ("backward", 0, "W2"),
                                               ("predict", 0, "X"), ("predict", 0, "W1")])
def test_out_aliases_an_argument(fname, index, arg):
    v = cube()
    outs = out_arrays(fname, v)
    outs[index] = v[arg]
    label = WITH_OUT[fname][index]
    expect_error(fname, v, ValueError, re.escape(label) + r" shares memory with " + re.escape(arg), out=tuple(outs))


@pytest.mark.parametrize("fname", ["forward", "backward"])
def test_out_arrays_are_one_array(fname):
    v = cube()
    out = np.zeros((3, 3))
    expect_error(fname, v, ValueError, r"shares memory", out=(out, out))


def test_out_overlaps_x_partially():
    v = fresh(n=4, n_in=3, hidden=3)
    buf = np.zeros((5, 3))
    buf[:4] = v["X"]
    v["X"] = buf[:4]
    expect_error("forward", v, ValueError, r"shares memory", out=(buf[1:], np.zeros((4, 1))))


def test_disjoint_parameters_from_one_buffer_are_fine():
    """No false alarm: parameters cut from one buffer without overlapping train like separate arrays."""
    separate = fresh()
    buf = np.empty(6 + 3 + 3 + 1)
    shared = dict(separate)
    shared["W1"], shared["b1"] = buf[:6].reshape(2, 3), buf[6:9]
    shared["W2"], shared["b2"] = buf[9:12].reshape(3, 1), buf[12:]
    for p in PARAMS:
        shared[p][...] = separate[p]
    separate = {k: (a.copy() if isinstance(a, np.ndarray) else a) for k, a in separate.items()}
    np.testing.assert_array_equal(call("train", shared), call("train", separate))
    for p in PARAMS:
        np.testing.assert_array_equal(shared[p], separate[p])


@pytest.mark.parametrize("fname, first, second", [("forward", "X", "W1"), ("backward", "hidden_activation", "W2"),
                                                  ("backward", "y", "hidden_activation"),
                                                  ("update", "hidden_activation", "delta_hidden"),
                                                  ("update", "X", "delta_hidden"), ("train_step", "X", "y")])
def test_arguments_only_read_may_share_memory(fname, first, second):
    """Only a written array must not share memory: two arguments a call only reads may be one array, next to
    parameters it writes, and the call gives what it gives on two copies."""
    shared = cube()
    shared[first] = shared[second]
    separate = {k: (a.copy() if isinstance(a, np.ndarray) else a) for k, a in shared.items()}
    got, expected = call(fname, shared), call(fname, separate)
    if isinstance(expected, tuple):
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)
    else:
        assert got == expected
    for p in PARAMS:
        np.testing.assert_array_equal(shared[p], separate[p])


# Buffer-protocol objects that are not ndarrays (memoryview, array.array, ...) are converted with NumPy, and the
# resulting array may share the caller's memory. The rule "a written array must not share memory with any other
# argument" applies to them too: otherwise train reads X from memory that its own updates overwrite.

def test_memoryview_of_parameter_as_x_in_train():
    v = cube()
    expected_X = v["W1"].copy()
    v["X"] = memoryview(v["W1"])
    expect_error("train", v, ValueError, r"^train\(\): W1 shares memory with X")
    # (and if it were accepted, it would have to train on X's values at call time)
    assert np.array_equal(np.asarray(v["X"]), expected_X)


def test_memoryview_of_out_as_x_in_forward():
    v = cube()
    out0 = v["X"].copy()
    v["X"] = memoryview(out0)
    expect_error("forward", v, ValueError, r"shares memory with X", out=(out0, np.zeros((3, 3))))


# ------------------------------------------------------------------------------------------------------------
# The call itself
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fname", FUNCTIONS)
def test_unknown_keyword(fname):
    v = fresh()
    expect_error(fname, v, TypeError, rf"^{fname}\(\) got an unexpected keyword argument 'bogus'", bogus=1)


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_missing_argument(fname):
    v = fresh()
    signature = SIGNATURES[fname]
    arrays = watched(v)
    before = snapshot(arrays)
    with pytest.raises(TypeError, match=rf"^{fname}\(\) missing required argument '{signature[-1]}'"):
        getattr(mlpext, fname)(*[v[name] for name in signature[:-1]])
    with pytest.raises(TypeError, match=rf"^{fname}\(\) missing required argument '{signature[0]}'"):
        getattr(mlpext, fname)(**{name: v[name] for name in signature[1:]})
    with pytest.raises(TypeError, match=rf"{fname}\(\)"):
        getattr(mlpext, fname)()
    assert snapshot(arrays) == before


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_too_many_arguments(fname):
    v = fresh()
    args = [v[name] for name in SIGNATURES[fname]]
    extra = {"forward": [None, None], "backward": [None, None], "predict": [None, None], "update": [None],
             "train_step": [None], "train": [0, "all", None]}[fname]
    arrays = watched(v)
    before = snapshot(arrays)
    with pytest.raises(TypeError, match=rf"^{fname}\(\) takes at most \d+ arguments"):
        getattr(mlpext, fname)(*args, *extra)
    assert snapshot(arrays) == before


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_argument_given_twice(fname):
    v = fresh()
    first = SIGNATURES[fname][0]
    expect_error(fname, v, TypeError, rf"^{fname}\(\) got multiple values for argument '{first}'",
                 **{first: v[first]})


# ------------------------------------------------------------------------------------------------------------
# Not errors: non-finite and huge values
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bool_data_from_other_bytes_reads_as_numpy_reads_it(dtype):
    """A bool array viewed from bytes other than 0 and 1 (np.frombuffer, a uint8 array's .view(bool)) holds True as
    2 or 255: X and y read every nonzero byte as 1, as NumPy's casts do, C order and strided, in the lecture's
    functions and the network's (they read 2, 255, 128 as those numbers)."""
    raw = np.array([[0, 2, 255], [1, 0, 128], [7, 0, 1], [0, 3, 0]], dtype=np.uint8)
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(dtype) for s in ((3, 4), (4,), (4, 2), (2,))]
    for Xb in (raw.view(bool), raw.view(bool)[::-1], np.asfortranarray(raw).view(bool)):
        Xf = Xb.astype(dtype)
        assert not np.array_equal(Xb.view(np.uint8), Xf)  # the bytes themselves are not the values
        for got, want in zip(mlpext.forward(Xb, *params), mlpext.forward(Xf, *params)):
            assert got.tobytes() == want.tobytes()
        yb = raw[:len(Xb), 1:].view(bool)
        p1, p2 = copies(params), copies(params)
        assert mlpext.train_step(Xb, yb, *p1, 0.1) == mlpext.train_step(Xf, yb.astype(dtype), *p2, 0.1)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(p1, p2))
        net = mlpext.MLP([Xb.shape[1], 4, 2], dtype=dtype, seed=0)
        assert net.forward(Xb).tobytes() == net.forward(Xf).tobytes()
        assert net.loss(Xb, yb) == net.loss(Xf, yb.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_propagate(dtype, bad):
    v = fresh(dtype)
    v["X"] = v["X"].copy()
    v["X"][1, 0] = bad
    with np.errstate(all="ignore"):
        A1_ref, P_ref = reference.forward(v["X"], *(v[p] for p in PARAMS))
    A1, P = call("forward", v)
    # NaN where NumPy has NaN (assert_allclose requires NaNs in the same places), saturated 0/1 where it has those.
    np.testing.assert_allclose(A1, A1_ref, rtol=1e-5)
    np.testing.assert_allclose(P, P_ref, rtol=1e-5)
    if np.isnan(bad):
        assert np.isnan(A1[1]).all() and np.isnan(P[1]).all()
    else:  # z = ±inf: sigmoid is exactly 0 or 1
        assert np.isin(A1[1], [0.0, 1.0]).all()
    assert np.isfinite(A1[[0, 2, 3]]).all() and np.isfinite(P[[0, 2, 3]]).all()
    losses = call("train", v)
    assert losses.shape == (3,) and losses.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_everywhere_gives_nan(dtype):
    v = fresh(dtype)
    for p in PARAMS:
        v[p][...] = np.nan
    A1, P = call("forward", v)
    assert np.isnan(A1).all() and np.isnan(P).all()
    losses = call("train", v)
    assert np.isnan(losses).all()
    assert all(np.isnan(v[p]).all() for p in PARAMS)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fname", ["update", "train_step", "train", "trace_step"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, np.float32("nan")])
def test_nonfinite_learning_rate_is_rejected(dtype, fname, bad):
    """A hyperparameter must be finite (NaN or inf would make every weight NaN or inf without an error), as
    mlpext.MLP requires; NaN and inf in data propagate instead."""
    v = fresh(dtype)
    v["learning_rate"] = bad
    if fname == "trace_step":
        args = [v[name] for name in SIGNATURES["train_step"]]
    else:
        args = [v[name] for name in SIGNATURES[fname]]
    arrays = watched(v)
    before = snapshot(arrays)
    with pytest.raises(ValueError, match=rf"^{fname}\(\): learning_rate must be a finite number, got -?(nan|inf)$"):
        getattr(mlpext, fname)(*args)
    assert snapshot(arrays) == before


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("z", [1000.0, -1000.0, 100.0, -100.0, 1e30, -1e30])
def test_huge_pre_activations_saturate_without_warnings(dtype, z):
    """|z| = 1000 (far past exp's overflow in both precisions): finite values in [0, 1], no warning."""
    W1 = np.array([[1.0, -1.0]], dtype)
    b1 = np.zeros(2, dtype)
    W2 = np.array([[z], [z]], dtype)  # A1 is (1, 0) or (0, 1): z2 = z
    b2 = np.zeros(1, dtype)
    X = np.array([[z], [-z], [0.0]])
    y = np.array([[1.0], [0.0], [0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A1, P = mlpext.forward(X, W1, b1, W2, b2)
        D2, D1 = mlpext.backward(y, A1, P, W2)
        losses = mlpext.train(X, y, W1, b1, W2, b2, 0.1, 5)
        predicted = mlpext.predict(X, W1, b1, W2, b2)
    for a in (A1, P, D2, D1, losses, predicted, W1, b1, W2, b2):
        assert np.isfinite(a).all()
    for a in (A1, P, predicted):
        assert ((a >= 0) & (a <= 1)).all()
    # Saturated where it must be: sigmoid(±|z|) is 0 or 1 to within rounding.
    sign = 1 if z > 0 else -1
    np.testing.assert_allclose(A1[:2], [[1, 0], [0, 1]] if sign > 0 else [[0, 1], [1, 0]], atol=1e-6)
