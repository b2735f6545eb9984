"""Small helpers shared by mlpext's test modules (plain functions, no fixtures, so Hypothesis tests can use them)."""
import os
import platform
import threading
import warnings

import numpy as np

import mlpext

# The lecture's data set: XOR, as integer arrays exactly as MLP.py writes them.
XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
XOR_Y = np.array([[0], [1], [1], [0]])

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def param_shapes(n_in, hidden, n_out):
    """Shapes of W1, b1, W2, b2 for an in-hidden-out network."""
    return [(n_in, hidden), (hidden,), (hidden, n_out), (n_out,)]


def make_params(seed, n_in=2, hidden=3, n_out=1, dtype=np.float64):
    """W1, b1, W2, b2 drawn as the lecture does (standard normal), from np.random.default_rng(seed)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in param_shapes(n_in, hidden, n_out)]


def copies(arrays):
    """Independent C-contiguous copies of a list of arrays."""
    return [np.array(a, copy=True, order="C") for a in arrays]


def snapshot(arrays):
    """The exact bytes of each array, to check later that nothing was written."""
    return [a.tobytes() for a in arrays]


def assert_unchanged(arrays, before):
    """Every array still holds exactly the bytes recorded by snapshot()."""
    for name, a, b in zip(PARAM_NAMES + tuple(f"arg{k}" for k in range(10)), arrays, before):
        assert a.tobytes() == b, f"{name} was modified"


def assert_close_to_scale(actual, expected, rtol, err_msg=""):
    """|actual - expected| <= rtol * max|expected|, elementwise.

    A norm-wise relative comparison: an entry near zero is judged against the size of the whole array rather
    than its own size. Rounding errors in a trajectory of many epochs are made at the size of the array's
    largest entries (parameters and their updates are sums of terms of that size), so an entry that happens to
    pass close to zero carries an absolute error of that size, not a small relative one.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape} {err_msg}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype} {err_msg}"
    scale = float(np.max(np.abs(expected.astype(np.float64)))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale, err_msg=err_msg)


def train_each(problems, learning_rate, epochs, at_once=False):
    """mlpext.train on each (X, y, params) of `problems`, on copies of the parameters: one after the other, or
    all at once from as many Python threads, released together by a barrier. Returns [(losses, params), ...] in
    the problems' order."""
    results = [None] * len(problems)
    barrier = threading.Barrier(len(problems)) if at_once else None

    def work(k):
        X, y, params = problems[k]
        p = copies(params)
        if barrier is not None:
            barrier.wait()
        results[k] = (mlpext.train(X, y, *p, learning_rate, epochs), p)

    if not at_once:
        for k in range(len(problems)):
            work(k)
        return results
    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(problems))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def assert_same_training(got, want):
    """Each (losses, params) of train_each's `got` has the bits of the same one in `want`."""
    for (losses, params), (want_losses, want_params) in zip(got, want):
        np.testing.assert_array_equal(losses, want_losses)
        for a, b in zip(params, want_params):
            np.testing.assert_array_equal(a, b)


def subprocess_env(**extra):
    """os.environ (with `extra`) for a subprocess that must import the mlpext this test imported, installed or in
    the source tree: its parent directory first on PYTHONPATH. Run the subprocess outside the checkout (cwd),
    whose mlpext/ may have no built extension."""
    env = dict(os.environ, **extra)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(mlpext.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def x86_avx2():
    """Whether this is an x86-64 CPU with AVX2 and FMA, as NumPy sees it (its own kernels dispatch on them)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # NumPy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    return platform.machine() in ("x86_64", "AMD64") and features.get("AVX2", False) and features.get("FMA3", False)


def unitless_timedelta(n):
    """np.timedelta64(n), in NumPy's generic unit: a signed integer to NumPy, so it passes for a number wherever its
    unit is not looked at (mlpext refuses it). NumPy 2.5 deprecates the generic unit; where NumPy no longer makes
    one, np.timedelta64(n, "s"), which mlpext refuses the same way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return np.timedelta64(n)
        except (TypeError, ValueError):
            return np.timedelta64(n, "s")
