"""The slides' one-step worked example, checked against the exact float64 values in data/worked_example.json.

X = [[1, 0]], y = [[1]], W1 = [[.1, .2], [.3, .4]], b1 = [.5, .6], W2 = [[.7], [.8]], b2 = [.9], η = 0.1.

The API does not return Z1, Z2, E1 or E2; we check what it returns (A1, ŷ, δ2, δ1 and the updated parameters),
E2 through y − ŷ, and |E2| as the loss of train_step / train; trace_step returns all twelve. The C core (mlpext)
must give the JSON's every value to the bit: the example is promised bit-exact, its exp is its own, and a tolerance
(1e-13 relative was ~450 ulp here) would let a changed order pass. The pure NumPy oracle (mlpext.reference) is
held to 2 ulp: it calls NumPy's exp, which some NumPy builds (AVX-512, Apple's libm) may round otherwise.
"""
import json
import pathlib

import numpy as np
import pytest

import mlpext
import mlpext.reference

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "worked_example.json"  # tests/data/
EXPECTED = {key: np.array(value, dtype=np.float64) for key, value in json.loads(DATA.read_text()).items()}

IMPLEMENTATIONS = [pytest.param(mlpext, id="mlpext"), pytest.param(mlpext.reference, id="reference")]
LEARNING_RATE = 0.1


def slide_data():
    X = np.array([[1.0, 0.0]])
    y = np.array([[1.0]])
    return X, y


def slide_params():
    W1 = np.array([[0.1, 0.2], [0.3, 0.4]])
    b1 = np.array([0.5, 0.6])
    W2 = np.array([[0.7], [0.8]])
    b2 = np.array([0.9])
    return [W1, b1, W2, b2]


def check(actual, key, impl=mlpext, expected=None):
    """actual is the JSON's value of key (or expected, derived from it): to the bit from the C core, within 2 ulp
    from the NumPy oracle."""
    expected = EXPECTED[key] if expected is None else expected
    actual = np.asarray(actual)
    assert actual.dtype == np.float64, key
    assert actual.shape == expected.shape, key
    if impl is mlpext:
        np.testing.assert_array_equal(actual, expected, err_msg=key)
    else:
        np.testing.assert_array_max_ulp(actual, expected, maxulp=2)


def check_loss(losses, impl):
    """The loss of train_step / train: |E2|, the lecture's mean |y − ŷ| of one value."""
    check(losses, "E2", impl, expected=np.abs(EXPECTED["E2"]).ravel())


def check_updated_params(params, impl):
    for array, key in zip(params, ["W1_new", "b1_new", "W2_new", "b2_new"]):
        check(array, key, impl)


def test_json_copy_is_self_consistent():
    """The copied data are the slides' example: Z1 = X·W1 + b1 and ŷ = 1 − E2 hold in the file itself."""
    X, y = slide_data()
    W1, b1, _, _ = slide_params()
    np.testing.assert_array_equal(EXPECTED["Z1"], X @ W1 + b1)
    np.testing.assert_array_equal(EXPECTED["E2"], y - EXPECTED["y_hat"])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_forward(impl):
    X, _ = slide_data()
    A1, y_hat = impl.forward(X, *slide_params())
    check(A1, "A1", impl)
    check(y_hat, "y_hat", impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_output_error_through_y_minus_y_hat(impl):
    X, y = slide_data()
    _, y_hat = impl.forward(X, *slide_params())
    check(y - y_hat, "E2", impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_backward(impl):
    _, y = slide_data()
    W2 = slide_params()[2]
    delta2, delta1 = impl.backward(y, EXPECTED["A1"], EXPECTED["y_hat"], W2)
    check(delta2, "delta2", impl)
    check(delta1, "delta1", impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_backward_from_own_forward(impl):
    X, y = slide_data()
    params = slide_params()
    A1, y_hat = impl.forward(X, *params)
    delta2, delta1 = impl.backward(y, A1, y_hat, params[2])
    check(delta2, "delta2", impl)
    check(delta1, "delta1", impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_update(impl):
    X, _ = slide_data()
    params = slide_params()
    result = impl.update(X, EXPECTED["A1"], EXPECTED["delta2"], EXPECTED["delta1"], *params, LEARNING_RATE)
    assert result is None
    check_updated_params(params, impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_phase_by_phase(impl):
    X, y = slide_data()
    params = slide_params()
    A1, y_hat = impl.forward(X, *params)
    delta2, delta1 = impl.backward(y, A1, y_hat, params[2])
    impl.update(X, A1, delta2, delta1, *params, LEARNING_RATE)
    check_updated_params(params, impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_train_step(impl):
    X, y = slide_data()
    params = slide_params()
    loss = impl.train_step(X, y, *params, LEARNING_RATE)
    assert type(loss) is float
    check_loss([loss], impl)
    check_updated_params(params, impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_train_one_epoch(impl):
    X, y = slide_data()
    params = slide_params()
    losses = impl.train(X, y, *params, LEARNING_RATE, 1)
    assert losses.dtype == np.float64 and losses.shape == (1,)
    check_loss(losses, impl)
    check_updated_params(params, impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_integer_input_as_on_the_slide(impl):
    """X and y written as integers, as on the slide, give the same step."""
    params = slide_params()
    loss = impl.train_step([[1, 0]], [[1]], *params, LEARNING_RATE)
    check_loss([loss], impl)
    check_updated_params(params, impl)


def test_predict_is_y_hat():
    X, _ = slide_data()
    check(mlpext.predict(X, *slide_params()), "y_hat")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_trace_step_gives_every_quantity_of_the_slides(impl):
    """trace_step returns all of them, Z1, Z2, E1 and E2 included (the only check of those three against the C
    core, so it must never be skipped); the parameters passed stay untouched."""
    X, y = slide_data()
    params = slide_params()
    trace = impl.trace_step(X, y, *params, LEARNING_RATE)
    assert sorted(trace) == sorted(EXPECTED)
    for key in EXPECTED:
        check(trace[key], key, impl)
    for array, original in zip(params, slide_params()):
        np.testing.assert_array_equal(array, original)
