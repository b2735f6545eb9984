"""Recycled results: forward, backward and predict may return an array of an earlier call that the caller has
dropped (csrc/module.c, "Recycled results"). That must be invisible: a result the caller can still reach —
by name, through a view, a buffer or a weak reference — is never reused, an array the caller changed before
dropping it (shape, dtype, flags) is never handed back as it is, and the values are always the call's own.
"""
import sys
import threading
import weakref

import numpy as np
import pytest

import mlpext
from mlpext import reference
from mlp_helpers import make_params

RECYCLE_MAX_BYTES = 16384  # csrc/module.c
# free-threaded builds never recycle (csrc/module.c): the tests that expect reuse do not apply there
gil_only = pytest.mark.skipif(not getattr(sys, "_is_gil_enabled", lambda: True)(),
                              reason="results are not recycled without the GIL")


def lecture(seed=0, n=4, n_in=2, hidden=3, n_out=1):
    W1, b1, W2, b2 = make_params(seed, n_in, hidden, n_out, np.float64)
    X = np.random.default_rng(seed).standard_normal((n, n_in))
    return X, [W1, b1, W2, b2]


@gil_only
def test_a_dropped_result_is_reused():
    X, params = lecture()
    A1, P = mlpext.forward(X, *params)
    ids = {id(A1), id(P)}
    del A1, P
    # arrays of the same size now take the memory a freed result would have left, so the next result can only
    # have one of the old identities if the module kept those arrays alive
    blockers = [np.empty((4, 3)) for _ in range(64)] + [np.empty((4, 1)) for _ in range(64)]
    A1, P = mlpext.forward(X, *params)
    assert id(A1) in ids and id(P) in ids
    want_A1, want_P = reference.forward(X, *params)
    np.testing.assert_allclose(A1, want_A1, rtol=1e-14)
    np.testing.assert_allclose(P, want_P, rtol=1e-14)
    del blockers


@gil_only
def test_a_result_the_caller_keeps_does_not_stop_recycling():
    """A result kept for good (a variable left in a notebook) must not take a slot from the loop that follows: the
    module lets go of it (it stays the caller's, unchanged) and recycles the loop's results again."""
    X, params = lecture()
    kept_A1, kept_P = mlpext.forward(X, *params)
    snapshot = kept_A1.copy(), kept_P.copy()
    other = [p * 3 + 1 for p in params]
    for _ in range(4):
        A1, P = mlpext.forward(X + 1, *other)
    assert sys.getrefcount(kept_A1) == sys.getrefcount(kept_P) == 2  # the name and getrefcount's argument
    ids = set()
    for _ in range(20):
        A1, P = mlpext.forward(X + 1, *other)
        ids.add(id(P))
        assert sys.getrefcount(P) == 3  # ... and the module's pool: the loop's results are recycled
    assert len(ids) == 2  # two arrays in turn: the one the name holds and the one dropped before it
    np.testing.assert_allclose(P, reference.forward(X + 1, *other)[1], rtol=1e-14)
    np.testing.assert_array_equal(kept_A1, snapshot[0])
    np.testing.assert_array_equal(kept_P, snapshot[1])


def test_results_the_caller_holds_are_never_reused():
    X, params = lecture()
    held = [mlpext.forward(X, *params) for _ in range(40)]  # far more than the module keeps
    ids = {id(a) for pair in held for a in pair}
    assert len(ids) == 80
    for k, (A1, P) in enumerate(held):
        want_A1, want_P = reference.forward(X, *params)
        np.testing.assert_allclose(A1, want_A1, rtol=1e-14, err_msg=f"result {k} was overwritten")


@pytest.mark.parametrize("keep", ["view", "weakref", "memoryview", "element_view"])
def test_a_result_reachable_another_way_is_not_reused(keep):
    X, params = lecture()
    A1, P = mlpext.forward(X, *params)
    snapshot = A1.copy()
    if keep == "view":
        kept = A1[1:]
    elif keep == "element_view":
        kept = A1.reshape(-1)
    elif keep == "memoryview":
        kept = memoryview(A1)
    else:
        kept = weakref.ref(A1)
    target = A1
    del A1, P
    other = [p * 3 + 1 for p in params]
    for _ in range(40):  # every slot the module keeps gets its chance
        B1, Q = mlpext.forward(X + 1, *other)
        assert B1 is not (kept() if keep == "weakref" else target)
        del B1, Q
    if keep == "weakref":
        np.testing.assert_array_equal(kept(), snapshot)
    else:
        np.testing.assert_array_equal(np.asarray(kept).reshape(-1), snapshot.reshape(-1)[-np.asarray(kept).size:])


@gil_only  # without the GIL the module keeps no results: the callbacks run at `del`, as for any array
def test_no_code_runs_when_the_module_lets_go_of_a_result():
    """A dropped result with a weak reference (whose callback could run any code, in the middle of a call whose
    arguments are already validated) is neither reused nor released by a later call."""
    X, params = lecture()
    events = []
    A1, P = mlpext.forward(X, *params)
    kept = [weakref.ref(A1, lambda _: events.append("A1")), weakref.ref(P, lambda _: events.append("P"))]
    del A1, P
    X5, params5 = lecture(n=5, n_in=2, hidden=3)  # other shapes: each call wants a slot for a new array
    for _ in range(10):
        A1, P = mlpext.forward(X5, *params5)
        assert not events, "a weak reference's callback ran inside mlpext.forward"
        np.testing.assert_allclose(P, reference.forward(X5, *params5)[1], rtol=1e-14)
        del A1, P
    assert all(ref() is not None for ref in kept)


def change_in_place(a, shape, dtype):
    """Gives the array object a another shape or dtype, keeping its bytes, as unpickling does (ndarray.__setstate__,
    public in every NumPy). NumPy 2.5 deprecates the shape and dtype setters and ndarray.resize, which did the same."""
    a.__setstate__((1, shape, np.dtype(dtype), False, a.tobytes()))
    # only that changed: the array is otherwise one the module could hand back
    assert a.shape == shape and a.dtype == dtype and a.base is None
    assert a.flags.owndata and a.flags.writeable and a.flags.c_contiguous and a.flags.aligned


@pytest.mark.parametrize("change", ["shape", "dtype", "read_only"])
def test_a_result_changed_before_it_was_dropped_is_not_handed_back_changed(change):
    X, params = lecture()
    for _ in range(3):
        A1, P = mlpext.forward(X, *params)
        if change == "shape":
            change_in_place(A1, (2, 6), np.float64)
            change_in_place(P, (1, 4), np.float64)
        elif change == "dtype":
            change_in_place(A1, (4, 3), np.int64)
            change_in_place(P, (4, 1), np.int64)
        else:
            A1.flags.writeable = False
            P.flags.writeable = False
        del A1, P
    A1, P = mlpext.forward(X, *params)
    assert A1.shape == (4, 3) and P.shape == (4, 1)
    assert A1.dtype == P.dtype == np.float64
    assert A1.flags.writeable and P.flags.writeable and A1.flags.c_contiguous
    want_A1, want_P = reference.forward(X, *params)
    np.testing.assert_allclose(A1, want_A1, rtol=1e-14)
    np.testing.assert_allclose(P, want_P, rtol=1e-14)


def test_backward_and_predict_values_in_a_long_loop():
    """The lecture's loop recycles the four results of every epoch; each epoch's values are its own."""
    X, params = lecture(seed=3)
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    ref_params = [p.copy() for p in params]
    for _ in range(200):
        A1, P = mlpext.forward(X, *params)
        D2, D1 = mlpext.backward(y, A1, P, params[2])
        mlpext.update(X, A1, D2, D1, *params, 0.5)
        rA1, rP = reference.forward(X, *ref_params)
        rD2, rD1 = reference.backward(y, rA1, rP, ref_params[2])
        reference.update(X, rA1, rD2, rD1, *ref_params, 0.5)
        np.testing.assert_allclose(P, rP, rtol=1e-12)
        np.testing.assert_allclose(D1, rD1, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(mlpext.predict(X, *params), reference.predict(X, *ref_params), rtol=1e-12)


@gil_only
def test_only_small_results_are_kept():
    X, params = lecture(n=RECYCLE_MAX_BYTES // 8, n_in=2, hidden=3)
    A1, P = mlpext.forward(X, *params)  # A1 is 3 × 16 KiB: too large to keep; P (16 KiB) is kept
    assert sys.getrefcount(A1) == 2  # the name and getrefcount's argument: the module keeps no reference
    assert sys.getrefcount(P) == 3  # ... and one from the module's pool


def test_threads_get_their_own_results():
    X, params = lecture()
    want = reference.forward(X, *params)
    other_X, other_params = lecture(seed=1)
    other_want = reference.forward(other_X, *other_params)
    errors = []

    def work(x, p, expected):
        try:
            for _ in range(2000):
                A1, P = mlpext.forward(x, *p)
                np.testing.assert_allclose(A1, expected[0], rtol=1e-14)
                np.testing.assert_allclose(P, expected[1], rtol=1e-14)
        except AssertionError as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=a) for a in
               [(X, params, want), (other_X, other_params, other_want)] * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
