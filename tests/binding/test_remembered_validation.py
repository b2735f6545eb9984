"""The lecture functions remember their last successful validation and take it again when the same array objects
come back unchanged (csrc/module.c, "Validations remembered"). These tests change an array in every way that
matters between two calls with the same objects, and check that the second call sees it exactly as a first call
would: the same error, nothing written, or the new memory used."""
import numpy as np
import pytest

import mlpext
from mlpext import reference

# These tests change validated arrays in place, as another thread or an __array__ could: `a.shape = ...` and
# `a.dtype = ...`, which NumPy 2.5 deprecates (a DeprecationWarning, no change of behaviour). Where NumPy removes
# them, those ways of changing an array under a call are gone too, and the tests that use them must go with them.
pytestmark = pytest.mark.filterwarnings("ignore:Setting the (shape|dtype) on a NumPy array:DeprecationWarning")


def lecture_arrays(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype)
    y = np.array([[0], [1], [1], [0]], dtype)
    return X, y, rng.random((2, 3)).astype(dtype), rng.random(3).astype(dtype), \
        rng.random((3, 1)).astype(dtype), rng.random(1).astype(dtype)


def copies(args):
    """Arrays equal to args, of the same layout and flags, that the module has never seen."""
    out = []
    for a in args:
        c = a.copy(order="K")
        c.flags.writeable = a.flags.writeable
        out.append(c)
    return out


def outcome(args):
    """What train_step does with these arrays: ("ok", loss, parameters after) or ("error", type, message), and
    then the arrays must be unchanged."""
    before = [a.copy() for a in args]
    try:
        loss = mlpext.train_step(*args, 0.1)
    except Exception as error:
        for a, b in zip(args, before):
            np.testing.assert_array_equal(a, b)  # nothing written
        return ("error", type(error), str(error))
    return ("ok", loss, [a.copy() for a in args[2:]])


def mutations():
    """(name, function that changes the arrays of a valid call in place, index of the array it changes)."""
    def read_only(args, i):
        args[i].flags.writeable = False

    def reshape(args, i):
        args[i].shape = (1,) + args[i].shape

    def resize(args, i):
        args[i].resize((args[i].shape[0] + 1,) + args[i].shape[1:], refcheck=False)

    def other_dtype(args, i):
        args[i].dtype = np.float32 if args[i].dtype == np.float64 else np.int32

    def fortran(args, i):  # the same shape and values in Fortran order (in other memory)
        a = args[i]
        if a.ndim == 2 and a.shape[0] > 1 and a.shape[1] > 1:
            a.__setstate__((1, a.shape, a.dtype, True, a.tobytes(order="F")))
            assert not a.flags.c_contiguous
        else:
            a.shape = a.shape + (1,)

    return [("read_only", read_only), ("reshape", reshape), ("resize", resize), ("other_dtype", other_dtype),
            ("fortran", fortran)]


@pytest.mark.parametrize("index", range(6), ids=["X", "y", "W1", "b1", "W2", "b2"])
@pytest.mark.parametrize("name,change", mutations(), ids=[m[0] for m in mutations()])
@pytest.mark.parametrize("data_dtype", [np.float64, np.int64], ids=["float_data", "int_data"])
def test_train_step_sees_every_change_of_a_remembered_array(name, change, index, data_dtype):
    args = list(lecture_arrays())
    args[0], args[1] = args[0].astype(data_dtype), args[1].astype(data_dtype)  # int: converted by every call
    mlpext.train_step(*args, 0.1)  # remembered
    mlpext.train_step(*args, 0.1)  # taken again
    change(args, index)
    want = outcome(copies(args))
    got = outcome(args)
    assert got[0] == want[0], (got, want)
    if want[0] == "error":
        assert got[1:] == want[1:]
    else:  # X and y may be read-only or of any layout: the call must read them as they now are
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
        for a, b in zip(got[2], want[2]):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def assert_step_as_reference(X, y, params, X_seen, y_seen):
    """mlpext.train_step on X, y and params (updated in place) gives the loss and the parameters the reference
    step gives on the values X_seen, y_seen the call must read."""
    want_params = [p.copy() for p in params]
    want = reference.train_step(X_seen, y_seen, *want_params, 0.1)
    got = mlpext.train_step(X, y, *params, 0.1)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    for a, b in zip(params, want_params):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_converted_data_is_converted_again():
    """The lecture's integer X and y are converted by every call, remembered or not: new values in the same
    arrays are seen."""
    X, y, W1, b1, W2, b2 = lecture_arrays()
    X, y = X.astype(np.int64), y.astype(np.int64)
    mlpext.train_step(X, y, W1, b1, W2, b2, 0.1)
    mlpext.train_step(X, y, W1, b1, W2, b2, 0.1)
    X[...] = X[::-1].copy()
    y[...] = 1 - y
    assert_step_as_reference(X, y, [W1, b1, W2, b2], X.astype(np.float64), y.astype(np.float64))


def test_new_memory_under_the_same_object_is_used():
    """X given other memory of the same shape (__setstate__): the call reads the new values."""
    X, y, W1, b1, W2, b2 = lecture_arrays()
    mlpext.train_step(X, y, W1, b1, W2, b2, 0.1)
    new_X = np.array([[1, 1], [1, 0], [0, 1], [0, 0]], np.float64)
    X.__setstate__(new_X.__reduce__()[2])
    assert np.array_equal(X, new_X)
    assert_step_as_reference(X, y, [W1, b1, W2, b2], new_X, y)


def test_aliasing_after_a_remembered_call_is_refused():
    """The same objects but W1 now a view of b1's memory is a different object: checked for overlap again."""
    X, y, W1, b1, W2, b2 = lecture_arrays()
    mlpext.train_step(X, y, W1, b1, W2, b2, 0.1)
    with pytest.raises(ValueError, match="shares memory"):
        mlpext.train_step(X, y, W1, W1[0], W2, b2, 0.1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_interleaved_functions_and_networks_match_the_reference(dtype):
    """The lecture's phase loop, alternating two networks of different sizes, each function and each network
    called with remembered and new validations in turn: every value as the NumPy reference's."""
    nets = [list(lecture_arrays(dtype, seed)) for seed in (1, 2)]
    nets[1][2] = np.random.default_rng(3).random((2, 5)).astype(dtype)
    nets[1][3] = np.zeros(5, dtype)
    nets[1][4] = np.random.default_rng(4).random((5, 1)).astype(dtype)
    refs = [[a.copy() for a in net] for net in nets]
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for step in range(12):
        for net, ref in zip(nets, refs):
            X, y, W1, b1, W2, b2 = net
            hidden, out = mlpext.forward(X, W1, b1, W2, b2)
            r_hidden, r_out = reference.forward(ref[0], *ref[2:])
            np.testing.assert_allclose(out, r_out, rtol=tol)
            d_out, d_hidden = mlpext.backward(y, hidden, out, W2)
            r_d_out, r_d_hidden = reference.backward(ref[1], r_hidden, r_out, ref[4])
            np.testing.assert_allclose(d_hidden, r_d_hidden, rtol=tol, atol=tol)
            if step % 3 == 2:
                loss = mlpext.train_step(X, y, W1, b1, W2, b2, 0.5)
                r_loss = reference.train_step(ref[0], ref[1], *ref[2:], 0.5)
                np.testing.assert_allclose(loss, r_loss, rtol=tol)
            else:
                mlpext.update(X, hidden, d_out, d_hidden, W1, b1, W2, b2, 0.5)
                reference.update(ref[0], r_hidden, r_d_out, r_d_hidden, *ref[2:], 0.5)
            for a, b in zip(net[2:], ref[2:]):
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
            np.testing.assert_allclose(mlpext.predict(X, W1, b1, W2, b2), reference.predict(ref[0], *ref[2:]),
                                       rtol=tol)


def test_a_slot_found_changed_is_validated_afresh_and_remembered_again():
    """W1 made read-only after two calls: refused; writable again: the next calls (validated afresh, then
    remembered again) train as the reference does."""
    X, y, W1, b1, W2, b2 = lecture_arrays()
    ref = [p.copy() for p in (W1, b1, W2, b2)]
    for _ in range(2):
        np.testing.assert_allclose(mlpext.train_step(X, y, W1, b1, W2, b2, 0.1),
                                   reference.train_step(X, y, *ref, 0.1), rtol=1e-12)
    W1.flags.writeable = False
    with pytest.raises(ValueError, match="W1 is read-only"):
        mlpext.train_step(X, y, W1, b1, W2, b2, 0.1)
    W1.flags.writeable = True
    for _ in range(3):
        np.testing.assert_allclose(mlpext.train_step(X, y, W1, b1, W2, b2, 0.1),
                                   reference.train_step(X, y, *ref, 0.1), rtol=1e-12)
    for a, b in zip((W1, b1, W2, b2), ref):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_functions_with_the_same_arrays_keep_their_own_validations(dtype):
    """forward and predict take the same arrays, but only predict needs a workspace (the hidden activation, here
    larger than the call's stack scratch), and train_step and train take the same arrays: each function must
    recall its own validation, with its own workspace, whatever the order of the calls."""
    rng = np.random.default_rng(5)
    n, n_in, hidden = 300, 3, 8
    X = rng.standard_normal((n, n_in)).astype(dtype)
    y = rng.uniform(size=(n, 1)).astype(dtype)
    params = [rng.standard_normal((n_in, hidden)).astype(dtype), np.zeros(hidden, dtype),
              rng.standard_normal((hidden, 1)).astype(dtype), np.zeros(1, dtype)]
    ref = [p.copy() for p in params]
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for _ in range(3):
        _, out = mlpext.forward(X, *params)
        np.testing.assert_array_equal(mlpext.predict(X, *params), out)
        np.testing.assert_allclose(out, reference.predict(X, *ref), rtol=tol)
        loss = mlpext.train_step(X, y, *params, 0.1)
        np.testing.assert_allclose(loss, reference.train_step(X, y, *ref, 0.1), rtol=tol)
        losses = mlpext.train(X, y, *params, 0.1, 2, log_every=0, history="all")
        for expected in [reference.train_step(X, y, *ref, 0.1) for _ in range(2)]:
            np.testing.assert_allclose(losses[0], expected, rtol=tol)
            losses = losses[1:]
        for a, b in zip(params, ref):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
