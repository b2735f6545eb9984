"""Fuzzing mlpext.MLP's entry points (forward, predict, loss, gradients, step, fit) with hypothesis.

Each example builds a small network and throws arbitrary data at one method: X and y of random dtype (bool, ints,
float16/32/64, complex, object, big-endian), shape (0 and 1 included, wrong widths, wrong ndim), layout (Fortran
order, strided and negative-stride views), NaN/inf, labels in and out of range, non-arrays. Every call must end in
one of two ways:

- a result — for finite data, equal to what the pure-NumPy NumpyMLP computes on the same inputs (float64: 1e-9
  relative to the values' scale, so an error in any term shows; the two run the same operations in the same
  order; not compared where one of NumpyMLP's sigmoids is subnormal, which mlpext makes 0 by design; the BCE
  loss not compared where a float32 sigmoid is so close to 1 that NumPy's 1 − σ, coarser than mlpext's sigmoid
  rounded once from double, is off by more than 1e-4 relative; the parameters after an Adam step or fit (and a
  fit's losses) not compared where Adam's first step, which divides by √v + ε, amplifies the gradients' ulp
  differences beyond the tolerance) — or
- TypeError / ValueError, with every parameter, the optimizer state and the shuffle generator unchanged, bit for bit.

Examples per method: the hypothesis profile's (HYPOTHESIS_PROFILE=ci in .ci/run), times MLPEXT_FUZZ_SCALE
(default 1; .ci/run sets 10, for 10,000 examples per entry point).
"""
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from unittest import mock

import mlpext.reference_net as reference_net
from mlp_helpers import x86_avx2
from mlpext.network import MLP
from mlpext.reference_net import NumpyMLP

SCALE = int(os.environ.get("MLPEXT_FUZZ_SCALE", "1"))
EXAMPLES = settings().max_examples * SCALE
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

DTYPES = ["bool", "int8", "uint8", "int32", "int64", "uint64", "float16", "float32", "float64", ">f8", "<i4",
          "complex128", "object"]
LAYOUTS = ["C", "F", "strided", "reversed"]
CONFIGS = [  # (loss, output activation, hidden activation, optimizer)
    ("mse", "identity", "relu", "sgd"),
    ("lecture", "sigmoid", "sigmoid", "sgd"),
    ("bce", "sigmoid", "tanh", "adam"),
    ("cross_entropy", "softmax", "leaky_relu", "adam"),
    ("mse", "softmax", "identity", "sgd"),
    ("mse", "identity", "gelu", "rmsprop"),
    ("cross_entropy", "softmax", "relu", "adamw"),
    ("mae", "sigmoid", "tanh", "sgd"),
]


def snapshot(net):
    arrays = [a for pair in net.params for a in pair] + list(net._state) + [net._rng]
    return [a.copy() for a in arrays]


def unchanged(net, before):
    after = [a for pair in net.params for a in pair] + list(net._state) + [net._rng]
    return all(a.tobytes() == b.tobytes() and a.dtype == b.dtype for a, b in zip(after, before))


def layout(a, how):
    """The same values as a, in another memory layout."""
    if a.ndim == 0 or a.size == 0:
        return a
    if how == "F":
        return np.asfortranarray(a)
    if how == "strided":
        wide = np.zeros((a.shape[0] * 2,) + a.shape[1:], dtype=a.dtype)
        wide[::2] = a
        return wide[::2]
    if how == "reversed":
        return np.ascontiguousarray(a[::-1])[::-1]
    return a


@st.composite
def cases(draw):
    config = draw(st.sampled_from(CONFIGS))
    sizes = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(2, 4)))]
    if config[0] == "cross_entropy":  # one softmax output is refused by the constructor (it learns nothing)
        sizes[-1] = max(sizes[-1], 2)
    n = draw(st.integers(0, 6))
    x_cols = sizes[0] if draw(st.integers(0, 9)) else draw(st.integers(0, 7))  # sometimes the wrong width
    x_dtype = draw(st.sampled_from(DTYPES)) if draw(st.booleans()) else "float64"
    values = draw(st.sampled_from(["normal", "huge", "nan", "inf"]))
    x_shape = draw(st.sampled_from([(n, x_cols), (n, x_cols), (n,), (n, x_cols, 1), ()]))
    kind = draw(st.sampled_from(["rows", "labels", "wrong_width", "nan", "out_of_range", "list", "none"]))
    return dict(config=config, sizes=sizes, n=n, x_shape=x_shape, x_dtype=x_dtype, values=values,
                x_layout=draw(st.sampled_from(LAYOUTS)), y_kind=kind, seed=draw(st.integers(0, 2**16)),
                dtype=draw(st.sampled_from([np.float64, np.float32])), batch=draw(st.integers(1, 8)),
                shuffle=draw(st.booleans()))


def make_x(c, rng):
    base = rng.standard_normal(c["x_shape"]) * (1e300 if c["values"] == "huge" else 1.0)
    if c["values"] == "nan" and base.size:
        base.flat[0] = np.nan
    if c["values"] == "inf" and base.size:
        base.flat[-1] = np.inf
    if c["x_dtype"] == "object":
        return base.astype(object)
    with np.errstate(all="ignore"):
        return layout(base.astype(c["x_dtype"]), c["x_layout"])


def make_y(c, rng):
    n, out = c["n"], c["sizes"][-1]
    kind = c["y_kind"]
    if kind == "none":
        return None
    if kind == "labels" or kind == "out_of_range":
        labels = rng.integers(0, out, n)
        if kind == "out_of_range" and n:
            labels[rng.integers(0, n)] = out + rng.integers(0, 3) if rng.integers(0, 2) else -1
        return labels
    y = rng.random((n, out + (1 if kind == "wrong_width" else 0)))
    if kind == "nan" and y.size:
        y.flat[0] = np.nan
    return y.tolist() if kind == "list" else y


def build(c, cls):
    loss, out_act, hidden, optimizer = c["config"]
    return cls(c["sizes"], activation=hidden, output_activation=out_act, loss=loss, optimizer=optimizer,
               learning_rate=0.05, momentum=0.5 if optimizer == "sgd" else 0.0, dtype=c["dtype"], seed=c["seed"])


def run(method, net, X, y, c):
    if method == "forward":
        return net.forward(X)
    if method == "predict":
        return net.predict(X)
    if method == "loss":
        return net.loss(X, y)
    if method == "gradients":
        return [a for pair in net.gradients(X, y) for a in pair]
    if method == "step":
        return net.step(X, y)
    return net.fit(X, y, 2, batch_size=c["batch"], shuffle=c["shuffle"])


def run_reference(method, ref, X, y, c):
    """run() on the reference network, whether one of its sigmoids fell below the smallest normal number, and
    whether one of its float32 sigmoids is close enough to 1 that NumPy's 1 − σ is off by more than 1e-4 relative.

    Both are documented differences (docs/design.md, "Exactness"), not bugs:
    - below the smallest normal number mlpext's sigmoid is 0 (float32 z < −87.3, float64 z < −708.39), where
      NumPy's is subnormal (float32 down to z = −88.7). A loss that takes the log of that output (BCE, clamped
      at −100) then differs by up to 12 per such value; the fuzz does not compare that example.
    - mlpext's float32 sigmoid is the double one rounded once. Near 1, NumPy's float32 `1 / (1 + exp(−z))` is
      coarser (1 + e^−z rounds to a float32 first): for z in about (16.6, 17.3) it is 1.0 where mlpext's is
      0.99999994. The outputs agree within float32 tolerances, but BCE's log(1 − σ) turns those ulps into a
      loss difference of up to 83 per value (1 − σ = 0, clamped, against 6e-8); the fuzz does not compare the
      BCE loss values of that example, and compares everything else."""
    flushed, near_one = [], []
    activate = reference_net.activate

    def watched(name, z, *args, **kwargs):
        a = activate(name, z, *args, **kwargs)
        if name == "sigmoid" and a.dtype.kind == "f":
            flushed.append(bool(np.any((a > 0) & (a < np.finfo(a.dtype).tiny))))
            if a.dtype == np.float32:
                once = (1 / (1 + np.exp(-np.asarray(z, dtype=np.float64)))).astype(np.float32)
                gap = np.abs(a.astype(np.float64) - once)  # as much off in 1 − σ
                near_one.append(bool(np.any(gap > 1e-4 * (1 - once.astype(np.float64)))))
        return a

    with mock.patch.object(reference_net, "activate", watched):
        expected = run(method, ref, X, y, c)
    return expected, any(flushed), any(near_one)


def adam_amplifies_ulps(c, X, y):
    """Whether Adam's (AdamW's, RMSprop's) first step turns the ulp-level differences between mlpext's and
    NumpyMLP's gradients into parameter differences beyond the comparison's tolerance.

    Adam divides by √v + ε: on its first step a gradient element g moves its parameter by lr·g/(|g| + ε), so a
    difference Δg between the two gradients moves it by up to lr·Δg·ε/(|g| + ε)², lr·Δg/ε where g is near 0.
    Where an activation saturates, its derivative (1 − a², a(1 − a)) is a cancellation, and the gradients
    (compared on their own, within the tolerance of their scale) can differ by 1e-16 (float64) or 1e-8 (float32)
    in elements that are themselves near 0: ×lr/ε = 5e6. Where that bound exceeds a quarter of the tolerance (a
    fit's later steps add their own), the parameters after an Adam step or fit are not compared, nor the losses of
    a fit, which follow from them (the gradients, and the loss a step returns, still are)."""
    if c["config"][3] not in ("adam", "adamw", "rmsprop"):
        return False
    net, ref = build(c, MLP), build(c, NumpyMLP)
    # RMSprop's first step divides by √(1 − alpha)·|g| + ε: the same bound with |g| scaled so
    scale = math.sqrt(1 - net.alpha) if net.optimizer == "rmsprop" else 1.0
    with np.errstate(all="ignore"):
        got, expected = net.gradients(X, y), ref.gradients(X, y)
        moves = [net.learning_rate * np.abs(np.asarray(g, np.float64) - e) * net.eps
                 / (scale * np.minimum(np.abs(np.asarray(g, np.float64)), np.abs(e)) + net.eps) ** 2
                 for pair, ref_pair in zip(got, expected) for g, e in zip(pair, ref_pair)]
    return max(float(np.max(m, initial=0.0)) for m in moves) > rtol(c["dtype"]) / 4


def rtol(dtype):
    """The comparison's tolerance, relative to the values' scale."""
    return 1e-9 if dtype == np.float64 else 1e-3


def assert_close(a, b, dtype, extra_nan=False):
    """a equals b within rtol(dtype), with non-finite values in the same places. extra_nan: a may also be NaN where
    b is finite — with NaN targets, NumPy's BLAS skips a zero multiplier (0·NaN gives 0 there) where mlpext
    computes 0·NaN = NaN, so NaN reaches further in mlpext (a dead ReLU's weights)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    finite = np.isfinite(b)
    if extra_nan:
        assert not np.any(np.isfinite(a) & ~finite)
        finite &= np.isfinite(a)
    else:
        assert np.array_equal(np.isfinite(a), finite)
    scale = np.max(np.abs(b[finite]), initial=1.0)
    assert np.all(np.abs(a[finite] - b[finite]) <= rtol(dtype) * scale)


def assert_pairs_close(got, expected, dtype, extra_nan=False):
    """assert_close on each (weights, biases) pair: parameters, or gradients."""
    for (W, b), (Wr, br) in zip(got, expected):
        assert_close(W, Wr, dtype, extra_nan)
        assert_close(b, br, dtype, extra_nan)


def pinned(c):
    """A pinned case's inputs (as the fuzz draws them) and its two networks: (X, y, mlpext's, NumpyMLP)."""
    rng = np.random.default_rng(c["seed"])
    X, y = make_x(c, rng), make_y(c, rng)
    return X, y, build(c, MLP), build(c, NumpyMLP)


# The pinned cases below were found by this fuzz on x86-64 with AVX2, and their tests assert what happened there,
# bit for bit (a float32 sigmoid exactly 1.0 or subnormal in NumPy, gradients a few ulps apart): NumPy's exp and
# tanh take other code on other CPUs (aarch64's NEON, x86 without AVX2), where these exact events need not occur.
# The fuzz itself, and its @example of each case, compare within tolerances and run everywhere.
x86_avx2_bits = pytest.mark.skipif(not x86_avx2(), reason="asserts the bits of NumPy and mlpext on x86-64 with AVX2")


# A float32 sigmoid output in (−88.7, −87.3): subnormal in NumPy, 0 in mlpext (found by this fuzz in CI)
FLUSH_CASE = {"config": ("bce", "sigmoid", "tanh", "adam"), "sizes": [1, 2], "n": 1, "x_shape": (1, 1),
              "x_dtype": "uint8", "values": "normal", "x_layout": "C", "y_kind": "rows", "seed": 8,
              "dtype": np.float32, "batch": 1, "shuffle": False}


# A float32 sigmoid output of 0.99999994 where NumPy's is 1.0, under BCE (found by this fuzz in CI)
NEAR_ONE_CASE = {"config": ("bce", "sigmoid", "tanh", "adam"), "sizes": [5, 3], "n": 3, "x_shape": (3, 5),
                 "x_dtype": "uint8", "values": "normal", "x_layout": "C", "y_kind": "rows", "seed": 4149,
                 "dtype": np.float32, "batch": 1, "shuffle": False}


@x86_avx2_bits
def test_the_float32_sigmoid_near_one_is_seen_and_documented():
    """The case the fuzz found: where NumPy's float32 sigmoid is 1.0, mlpext's is 1.0 or, where the double
    sigmoid is below 1 − 2^-25, 0.99999994. run_reference says so (the fuzz then does not compare the BCE loss);
    the outputs, the gradients and a step's parameters still agree within float32 tolerances."""
    c = NEAR_ONE_CASE
    X, y, net, ref = pinned(c)
    got = net.forward(X)
    with np.errstate(all="ignore"):
        expected, flushed, near_one = run_reference("forward", ref, X, y, c)
    assert near_one and not flushed
    ones = expected == 1
    below_one = np.float32(1) - np.finfo(np.float32).epsneg
    assert np.any(got[ones] == below_one) and np.all((got[ones] == 1) | (got[ones] == below_one))
    assert_close(got, expected, np.float32)
    assert_pairs_close(net.gradients(X, y), ref.gradients(X, y), np.float32)
    net.step(X, y)
    ref.step(X, y)
    assert_pairs_close(net.params, ref.params, np.float32)


# Saturated tanh units (inputs of 255): gradients 2e-16 apart in elements near 0, 1.1e-9 apart after one Adam
# step (found by this fuzz in CI)
ADAM_ULPS_CASE = {"config": ("bce", "sigmoid", "tanh", "adam"), "sizes": [5, 4, 1], "n": 2, "x_shape": (2, 5),
                  "x_dtype": "uint8", "values": "normal", "x_layout": "C", "y_kind": "rows", "seed": 37371,
                  "dtype": np.float64, "batch": 1, "shuffle": False}


# The same in float32, with one saturated hidden unit: a fit's second-epoch loss 0.85 against 0.81 (found by this
# fuzz)
ADAM_ULPS_FLOAT32_CASE = {"config": ("bce", "sigmoid", "tanh", "adam"), "sizes": [5, 1, 1], "n": 2,
                          "x_shape": (2, 5), "x_dtype": "uint8", "values": "normal", "x_layout": "C",
                          "y_kind": "rows", "seed": 4951, "dtype": np.float32, "batch": 1, "shuffle": False}


@x86_avx2_bits
def test_adam_amplifying_gradient_ulps_is_seen():
    """The case the fuzz found: the two gradients agree within their tolerance, one Adam step later the
    parameters are 1.1e-9 apart; adam_amplifies_ulps says so. The same data with SGD is not flagged, and its
    parameters agree after the step."""
    c = ADAM_ULPS_CASE
    X, y, net, ref = pinned(c)
    assert_pairs_close(net.gradients(X, y), ref.gradients(X, y), np.float64)
    net.step(X, y)
    ref.step(X, y)
    apart = max(float(np.max(np.abs(W - Wr))) for (W, _), (Wr, _) in zip(net.params, ref.params))
    assert apart > 1e-9 and adam_amplifies_ulps(c, X, y)
    sgd = dict(c, config=("bce", "sigmoid", "tanh", "sgd"))
    assert not adam_amplifies_ulps(sgd, X, y)
    _, _, net, ref = pinned(sgd)
    net.step(X, y)
    ref.step(X, y)
    assert_pairs_close(net.params, ref.params, np.float64)
    X, y, net, ref = pinned(ADAM_ULPS_FLOAT32_CASE)
    assert_pairs_close(net.gradients(X, y), ref.gradients(X, y), np.float32)
    assert adam_amplifies_ulps(ADAM_ULPS_FLOAT32_CASE, X, y)


@x86_avx2_bits
def test_the_float32_sigmoid_flush_is_seen_and_documented():
    """The case the fuzz found: mlpext's output is exactly 0 where NumPy's is subnormal, and run_reference says
    so (the fuzz then does not compare); every other output still agrees."""
    X, y, net, ref = pinned(FLUSH_CASE)
    got = net.forward(X)
    with np.errstate(all="ignore"):
        expected, flushed, _ = run_reference("forward", ref, X, y, FLUSH_CASE)
    assert flushed
    tiny = np.finfo(np.float32).tiny
    below = (expected > 0) & (expected < tiny)
    assert below.any() and np.all(got[below] == 0)
    assert_close(got[~below], expected[~below], np.float32)


@pytest.mark.parametrize("method", ["forward", "predict", "loss", "gradients", "step", "fit"])
@FUZZ
@example(c=FLUSH_CASE)
@example(c=NEAR_ONE_CASE)
@example(c=ADAM_ULPS_CASE)
@example(c=ADAM_ULPS_FLOAT32_CASE)
@given(c=cases())
def test_method_returns_the_reference_or_raises_cleanly(method, c):
    rng = np.random.default_rng(c["seed"])
    X, y = make_x(c, rng), make_y(c, rng)
    net, ref = build(c, MLP), build(c, NumpyMLP)
    before = snapshot(net)
    try:
        with np.errstate(all="ignore"):
            got = run(method, net, X, y, c)
    except (TypeError, ValueError) as error:
        event(f"raised {type(error).__name__}")
        assert unchanged(net, before), f"{method} raised {error!r} but changed the network"
        return
    event("returned")
    if c["values"] != "normal":
        # inf and overflow reach inf·0 somewhere: IEEE (mlpext) gives NaN where NumPy's BLAS skips zero
        # factors and gives a number — both are right by their own rules; nothing to compare.
        return
    # It worked: the pure-NumPy network must agree, on the same inputs cast the same way.
    try:
        with np.errstate(all="ignore"):
            expected, flushed, near_one = run_reference(method, ref, X, y, c)
    except (TypeError, ValueError, OverflowError) as error:
        pytest.fail(f"mlpext accepted what NumpyMLP rejects ({error!r})")
    if flushed:
        event("a sigmoid below the normal range: 0 in mlpext by design, not compared")
        return
    nan_targets = c.get("y_kind") == "nan"
    amplified = method in ("step", "fit") and adam_amplifies_ulps(c, X, y)
    if amplified:
        event("Adam's first step amplifies the gradients' ulp differences beyond the tolerance: parameters (and a "
              "fit's losses) not compared")
    if near_one and c["config"][0] == "bce" and method in ("loss", "step", "fit"):
        event("a float32 BCE loss of a sigmoid near 1 (rounded once in mlpext): the loss not compared")
    elif method in ("forward", "loss", "step") or (method == "fit" and not amplified):
        assert_close(got, expected, c["dtype"], nan_targets)
    elif method == "gradients":
        for g, e in zip(got, expected):
            assert_close(g, e, c["dtype"], nan_targets)
    if method in ("step", "fit") and not amplified:
        assert_pairs_close(net.params, ref.params, c["dtype"], nan_targets)


# ------------------------------------------------------------------------------------------------------------
# Conversions that run Python code mutating the other arguments (the binding's ownership and re-proving)
# ------------------------------------------------------------------------------------------------------------

MUTATIONS = ["replace", "resize", "setstate", "read_only", "nothing"]


class _MutatingX:
    """X given as an object whose __array__ first mutates another argument of the same call."""

    def __init__(self, X, action):
        self.X, self.action = X, action

    def __array__(self, dtype=None, copy=None):
        self.action()
        return self.X


def _mutate(kind, holder, index):
    a = holder[index]
    if kind == "replace":
        holder[index] = np.zeros_like(a)  # the list's item, and its last reference outside the call, dropped
    elif kind == "resize":
        a.resize((a.shape[0] * 64 + 3,) + a.shape[1:], refcheck=False)
    elif kind == "setstate":
        version, shape, dtype, _, _ = a.__reduce__()[2]
        a.__setstate__((version, shape, dtype, True, np.asfortranarray(a).tobytes(order="A")))
    elif kind == "read_only":
        a.flags.writeable = False


@FUZZ
@given(st.lists(st.integers(1, 6), min_size=2, max_size=4), st.integers(1, 5), st.sampled_from(MUTATIONS),
       st.sampled_from(["weights", "biases", "grads"]), st.integers(0, 7), st.booleans(), st.integers(0, 2**32 - 1))
def test_conversion_mutating_other_arguments(sizes, n, kind, where, index, with_grads, seed):
    """_core.net_loss(X, y, weights, biases, ..., grads) where X.__array__ mutates an item of weights, biases or
    grads: either TypeError/ValueError with nothing written (the grads untouched), or the loss equal to NumPy's on
    the arrays the call was given and gradients equal to a clean call's — never a crash."""
    from mlpext import _core
    rng = np.random.default_rng(seed)
    L = len(sizes) - 1
    W = [rng.standard_normal((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    b = [rng.standard_normal(s) for s in sizes[1:]]
    X, y = rng.standard_normal((n, sizes[0])), rng.standard_normal((n, sizes[-1]))
    acts = ["tanh"] * (L - 1) + ["identity"]
    grads = [np.full_like(a, -7.0) for pair in zip(W, b) for a in pair] if with_grads else None
    lists = {"weights": W, "biases": b, "grads": grads}
    holder = lists[where] if lists[where] is not None else W
    index %= len(holder)
    given_W, given_b = list(W), list(b)  # what the call is given: it must use these, whatever the mutation
    clean = [a.copy() for a in W + b]
    # the reference, on copies taken before the mutation
    A = X
    for l in range(L):
        Z = A @ clean[l] + clean[L + l]
        A = np.tanh(Z) if l < L - 1 else Z
    ref_loss = float(np.mean((A - y) ** 2))
    ref_grads = [np.empty_like(a) for pair in zip(W, b) for a in pair]
    _core.net_loss(X, y, [a.copy() for a in clean[:L]], [a.copy() for a in clean[L:]], acts, 0.01, "mse",
                   ref_grads)
    grads_before = [g.copy() for g in grads] if grads is not None else None
    try:
        loss = _core.net_loss(_MutatingX(X, lambda: _mutate(kind, holder, index)), y, W, b, acts, 0.01, "mse",
                              grads)
    except (TypeError, ValueError):
        event(f"{kind} {where}: raised")
        if grads is not None:
            live = [g for g in grads]
            for g, g0 in zip(live, grads_before):
                if g.shape == g0.shape:
                    assert np.array_equal(g, g0) or (kind == "setstate"), "a raising call wrote the gradients"
        return
    event(f"{kind} {where}: ran")
    # a resized array, or read-only gradients, can never pass; new memory from __setstate__ can (the same
    # address reused, for an array both C- and F-contiguous): then nothing the call holds has changed
    assert kind != "resize" and not (kind == "read_only" and where == "grads" and grads is not None)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-9)
    for a, c in zip(given_W + given_b, clean):
        if a.shape == c.shape and a.flags.c_contiguous:
            assert np.array_equal(a, c)  # read-only parameters: never written
    if grads is not None:
        written = grads if not (where == "grads" and kind == "replace") else None
        if written is not None:
            for g, r in zip(written, ref_grads):
                np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)
