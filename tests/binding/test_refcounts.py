"""Reference counting: no call of any function, on its success paths or its error paths, leaks or steals a
reference to anything it was given (arrays, out arrays, the out tuple, scalars) or to the dtypes it uses.

Each case runs once to warm up, then many times; sys.getrefcount of every object involved must be the same
before and after. Temporaries the binding creates itself (X converted from a list, say) hold no reference to
anything the caller can count, so their leaks are caught by memory growth under tracemalloc instead.
"""
import sys
import tracemalloc

import numpy as np
import pytest

import mlpext
from mlp_helpers import make_params

REPEAT = 200
F64, F32 = np.dtype(np.float64), np.dtype(np.float32)


def setup(dtype=np.float64, n=5, n_in=3, hidden=4, n_out=2):
    W1, b1, W2, b2 = make_params(0, n_in, hidden, n_out, dtype)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, n_in))
    y = rng.uniform(size=(n, n_out))
    A1, P = mlpext.forward(X, W1, b1, W2, b2)
    D2, D1 = mlpext.backward(y, A1, P, W2)
    return dict(X=X, y=y, W1=W1, b1=b1, W2=W2, b2=b2, A1=A1, P=P, D2=D2, D1=D1,
                lr=float("0.25"),  # a float object of our own, not a shared constant
                outs=(np.zeros_like(A1), np.zeros_like(P)), douts=(np.zeros_like(D2), np.zeros_like(D1)),
                pout=np.zeros_like(P))


def call_succeeds(fn):
    def run():
        result = fn()
        del result
    return run


def call_fails(fn, exc):
    def run():
        try:
            fn()
        except exc:
            pass
        else:
            raise AssertionError(f"{fn} did not raise {exc.__name__}")
    return run


def assert_refcounts_stable(run, objects):
    run()
    objects = list(objects) + [F64, F32]
    before = [sys.getrefcount(o) for o in objects]
    for _ in range(REPEAT):
        run()
    after = [sys.getrefcount(o) for o in objects]
    changed = [(k, type(o).__name__, b, a) for k, (o, b, a) in enumerate(zip(objects, before, after)) if a != b]
    assert not changed, f"reference counts changed (index, type, before, after): {changed}"


def test_the_check_detects_a_leak():
    kept = []
    X = np.zeros(3)
    with pytest.raises(AssertionError, match="reference counts changed"):
        assert_refcounts_stable(lambda: kept.append(X), [X])


def objects_of(v):
    objs = []
    for value in v.values():
        objs.append(value)
        if isinstance(value, tuple):
            objs.extend(value)
    return objs


# ------------------------------------------------------------------------------------------------------------
# Success paths
# ------------------------------------------------------------------------------------------------------------

SUCCESS = {
    "forward": lambda v: mlpext.forward(v["X"], v["W1"], v["b1"], v["W2"], v["b2"]),
    "forward_out": lambda v: mlpext.forward(v["X"], v["W1"], v["b1"], v["W2"], v["b2"], out=v["outs"]),
    "forward_kw": lambda v: mlpext.forward(X=v["X"], W1=v["W1"], b1=v["b1"], W2=v["W2"], b2=v["b2"], out=None),
    "backward": lambda v: mlpext.backward(v["y"], v["A1"], v["P"], v["W2"]),
    "backward_out": lambda v: mlpext.backward(v["y"], v["A1"], v["P"], v["W2"], out=v["douts"]),
    "update": lambda v: mlpext.update(v["X"], v["A1"], v["D2"], v["D1"], v["W1"], v["b1"], v["W2"], v["b2"], v["lr"]),
    "train_step": lambda v: mlpext.train_step(v["X"], v["y"], v["W1"], v["b1"], v["W2"], v["b2"], v["lr"]),
    "train": lambda v: mlpext.train(v["X"], v["y"], v["W1"], v["b1"], v["W2"], v["b2"], v["lr"], 3),
    "train_kw": lambda v: mlpext.train(v["X"], v["y"], v["W1"], v["b1"], v["W2"], v["b2"], learning_rate=v["lr"],
                                       epochs=2, log_every=0),
    "predict": lambda v: mlpext.predict(v["X"], v["W1"], v["b1"], v["W2"], v["b2"]),
    "predict_out": lambda v: mlpext.predict(v["X"], v["W1"], v["b1"], v["W2"], v["b2"], out=v["pout"]),
    "predict_out_tuple": lambda v: mlpext.predict(v["X"], v["W1"], v["b1"], v["W2"], v["b2"], out=(v["pout"],)),
}

# X and y as the binding converts them: fast path (int, strided), NumPy's cast (float16, byte-swapped), lists.
X_FORMS = {
    "float64": lambda X: X,
    "int32": lambda X: (X * 10).astype(np.int32),
    "fortran": np.asfortranarray,
    "float16": lambda X: X.astype(np.float16),
    "byteswapped": lambda X: X.astype(X.dtype.newbyteorder()),
    "list": lambda X: X.tolist(),
}


@pytest.mark.parametrize("case", sorted(SUCCESS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_success_paths(case, dtype):
    v = setup(dtype)
    assert_refcounts_stable(call_succeeds(lambda: SUCCESS[case](v)), objects_of(v))


@pytest.mark.parametrize("form", sorted(X_FORMS))
@pytest.mark.parametrize("case", ["forward", "update", "train_step", "train", "predict_out", "backward"])
def test_success_paths_with_converted_inputs(case, form):
    v = setup()
    v["X"] = X_FORMS[form](v["X"])
    v["y"] = X_FORMS[form](v["y"])
    assert_refcounts_stable(call_succeeds(lambda: SUCCESS[case](v)), objects_of(v))


def test_returned_out_arrays_gain_exactly_the_returned_references():
    v = setup()
    A1_out, P_out = v["outs"]
    counts = sys.getrefcount(A1_out), sys.getrefcount(P_out)
    result = mlpext.forward(v["X"], v["W1"], v["b1"], v["W2"], v["b2"], out=v["outs"])
    assert (sys.getrefcount(A1_out), sys.getrefcount(P_out)) == (counts[0] + 1, counts[1] + 1)  # held by result
    del result
    assert (sys.getrefcount(A1_out), sys.getrefcount(P_out)) == counts


def test_new_results_are_owned_by_the_caller():
    v = setup()
    A1, P = mlpext.forward(v["X"], v["W1"], v["b1"], v["W2"], v["b2"])
    losses = mlpext.train(v["X"], v["y"], v["W1"], v["b1"], v["W2"], v["b2"], 0.1, 2)
    # one reference from the local name, one from getrefcount's argument; small results of forward, backward and
    # predict have one more, from the module's pool of results to recycle once the caller drops them
    # (tests/binding/test_recycling.py)
    assert sys.getrefcount(losses) == 2
    kept_by_module = 1 if getattr(sys, "_is_gil_enabled", lambda: True)() else 0  # free-threaded: never recycled
    assert sys.getrefcount(A1) == sys.getrefcount(P) == 2 + kept_by_module


# ------------------------------------------------------------------------------------------------------------
# Error paths
# ------------------------------------------------------------------------------------------------------------

def read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def with_(v, **changes):
    w = dict(v)
    w.update(changes)
    return w


ERRORS = {
    # name: (function of v that raises, exception, changes to v)
    "param_dtype": (SUCCESS["forward"], TypeError, lambda v: dict(W2=v["W2"].astype(np.float32))),
    "param_int": (SUCCESS["train"], TypeError, lambda v: dict(b1=v["b1"].astype(np.int64))),
    "param_list": (SUCCESS["update"], TypeError, lambda v: dict(b2=v["b2"].tolist())),
    "param_shape": (SUCCESS["train_step"], ValueError, lambda v: dict(b1=v["b1"][:2])),
    "param_fortran": (SUCCESS["predict"], ValueError, lambda v: dict(W1=np.asfortranarray(v["W1"]))),
    "param_read_only": (SUCCESS["train"], ValueError, lambda v: dict(W2=read_only(v["W2"]))),
    "x_complex": (SUCCESS["forward"], TypeError, lambda v: dict(X=v["X"].astype(complex))),
    "x_list_complex": (SUCCESS["forward"], TypeError, lambda v: dict(X=[[1j, 2, 3]] * 5)),
    "x_ragged": (SUCCESS["train"], TypeError, lambda v: dict(X=[[1.0, 2.0, 3.0], [1.0]])),
    "x_list_bad_shape": (SUCCESS["update"], ValueError, lambda v: dict(X=v["X"][:, :2].tolist())),
    "x_float16_then_bad_y": (SUCCESS["train_step"], ValueError,
                             lambda v: dict(X=v["X"].astype(np.float16), y=v["y"][:3].tolist())),
    "x_list_then_bad_param": (SUCCESS["update"], ValueError,
                              lambda v: dict(X=v["X"].tolist(), D1=v["D1"][:, :2])),
    "y_object": (SUCCESS["backward"], TypeError, lambda v: dict(y=v["y"].astype(object))),
    "intermediate_dtype": (SUCCESS["backward"], TypeError, lambda v: dict(A1=v["A1"].astype(np.float32))),
    "out_dtype": (SUCCESS["forward_out"], TypeError,
                  lambda v: dict(outs=(v["outs"][0], v["outs"][1].astype(np.float32)))),
    "out_shape": (SUCCESS["backward_out"], ValueError, lambda v: dict(douts=(v["douts"][0], v["douts"][0]))),
    "out_not_array": (SUCCESS["forward_out"], TypeError, lambda v: dict(outs=(v["outs"][0], [[0.0]]))),
    "out_tuple_length": (SUCCESS["forward_out"], TypeError, lambda v: dict(outs=v["outs"][:1])),
    "out_list": (SUCCESS["forward_out"], TypeError, lambda v: dict(outs=list(v["outs"]))),
    "out_read_only": (SUCCESS["predict_out"], ValueError, lambda v: dict(pout=np.broadcast_to(v["pout"], (5, 2)))),
    "out_aliases_out": (SUCCESS["forward_out"], ValueError,
                        lambda v: dict(outs=(v["outs"][0], v["outs"][0][:, :2]))),
    "out_aliases_x": (SUCCESS["predict_out"], ValueError, lambda v: dict(pout=v["X"][:, :2])),
    "param_aliases_param": (SUCCESS["train"], ValueError, lambda v: dict(b1=v["W1"][0])),
    "lr_str": (SUCCESS["train"], TypeError, lambda v: dict(lr="0.1")),
    "lr_bool": (SUCCESS["update"], TypeError, lambda v: dict(lr=True)),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_error_paths(case):
    fn, exc, changes = ERRORS[case]
    v = setup()
    w = with_(v, **changes(v))
    assert_refcounts_stable(call_fails(lambda: fn(w), exc), objects_of(w) + objects_of(v))


COUNT_ERRORS = {
    "epochs_negative": (dict(epochs=-1), ValueError),
    "epochs_float": (dict(epochs=2.0), TypeError),
    "epochs_bool": (dict(epochs=True), TypeError),
    "log_every_negative": (dict(epochs=2, log_every=-3), ValueError),
    "unknown_keyword": (dict(epochs=2, bogus=1), TypeError),
    "duplicate": (dict(epochs=2, X=None), TypeError),
}


@pytest.mark.parametrize("case", sorted(COUNT_ERRORS))
def test_error_paths_of_the_call(case):
    kwargs, exc = COUNT_ERRORS[case]
    v = setup()
    args = [v["X"], v["y"], v["W1"], v["b1"], v["W2"], v["b2"], v["lr"]]
    values = list(kwargs.values())
    assert_refcounts_stable(call_fails(lambda: mlpext.train(*args, **kwargs), exc), args + values)


@pytest.mark.parametrize("fname, nargs", [("forward", 4), ("backward", 3), ("update", 8), ("train_step", 6),
                                          ("train", 7), ("predict", 4), ("forward", 7), ("train", 10)])
def test_wrong_number_of_arguments(fname, nargs):
    v = setup()
    pool = [v["X"], v["W1"], v["b1"], v["W2"], v["b2"], v["A1"], v["D1"], v["D2"], v["y"], v["lr"]]
    args = pool[:nargs]
    assert_refcounts_stable(call_fails(lambda: getattr(mlpext, fname)(*args), TypeError), args)


# ------------------------------------------------------------------------------------------------------------
# Temporaries: memory must not grow
# ------------------------------------------------------------------------------------------------------------

def memory_growth(run, repeat=50):
    run()
    tracemalloc.start()
    try:
        run()
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(repeat):
            run()
        return tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("form", ["list", "float16", "int32", "fortran"])
def test_converted_inputs_are_freed(form):
    v = setup(n=2000)  # X: 2000 x 3, about 48 kB as float64; 50 leaked copies would be 2.4 MB
    v["X"] = X_FORMS[form](v["X"])
    v["y"] = X_FORMS[form](v["y"])
    for case in ["forward", "train", "predict_out", "update"]:
        assert memory_growth(call_succeeds(lambda: SUCCESS[case](v))) < 20_000, case


@pytest.mark.parametrize("case", ["x_list_bad_shape", "x_float16_then_bad_y", "x_list_then_bad_param", "x_complex",
                                  "out_dtype"])
def test_temporaries_freed_on_error(case):
    fn, exc, changes = ERRORS[case]
    v = setup(n=2000)
    w = with_(v, **changes(v))
    assert memory_growth(call_fails(lambda: fn(w), exc)) < 20_000
