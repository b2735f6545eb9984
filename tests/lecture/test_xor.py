"""The lecture's XOR training run (MLP.py): 10,000 epochs at learning rate 0.5, in every way mlpext can run it.

For several seeds the parameters start as np.random.default_rng(seed).standard_normal draws (the lecture uses
np.random.randn) and are trained

  * phase by phase: a Python loop over mlpext.forward / backward / update,
  * by a Python loop over mlpext.train_step,
  * by one call to mlpext.train,

and compared with the pure NumPy loop of mlpext.reference: float64 parameters within 1e-10 (relative to each
array's scale, see mlp_helpers.assert_close_to_scale) and the per-epoch losses within 1e-10 relative. The
trained network must also solve XOR where NumPy's does. float32 runs the same comparisons over fewer epochs with
a tolerance derived below. Finally the lecture's own loop, copied verbatim from MLP.py, is run inline against
mlpext.train, including what it prints.
"""
import functools

import numpy as np
import pytest

import mlpext
import mlpext.reference as reference
from mlp_helpers import XOR_X, XOR_Y, assert_close_to_scale, make_params

EPOCHS = 10_000
LEARNING_RATE = 0.5
SEEDS = [0, 1, 2]
RTOL64 = 1e-10

# float32 tolerance. The C core and NumPy evaluate the same formulas in float32 but round differently (other
# summation orders in the dot products and sums, another exp). Each epoch rounds every parameter's update a few
# times at the scale of the parameters, each rounding off by at most u = 2**-24 relative. Over E epochs of this
# smooth, non-chaotic descent (lr * curvature < 2: the loss decreases monotonically, nothing amplifies a
# perturbation) those differences add up to at most about c * E * u * scale; we take c = 4 roundings per
# parameter per epoch and scale = the largest parameter magnitude (at least 1). With E = 1000 that is ~2.4e-4 *
# scale; the differences actually seen are ~1e-6, while any real error (wrong order of updates, wrong
# learning rate, a missing term) moves the parameters by 1e-2 or more over the same run.
EPOCHS32 = 1000
U32 = 2.0 ** -24
TOL32 = 4 * EPOCHS32 * U32


@functools.lru_cache(maxsize=None)
def reference_run(seed, dtype_name, epochs):
    """The pure NumPy loop's final parameters and per-epoch losses (computed once per seed/dtype)."""
    params = make_params(seed, dtype=np.dtype(dtype_name))
    losses = reference.train(XOR_X, XOR_Y, *params, LEARNING_RATE, epochs)
    for p in params:
        p.setflags(write=False)
    return params, losses


def run_phases(X, y, params, epochs):
    losses = np.empty(epochs)
    for epoch in range(epochs):
        hidden_activation, predicted_output = mlpext.forward(X, *params)
        losses[epoch] = np.mean(np.abs(y - predicted_output.astype(np.float64)))
        delta_output, delta_hidden = mlpext.backward(y, hidden_activation, predicted_output, params[2])
        mlpext.update(X, hidden_activation, delta_output, delta_hidden, *params, LEARNING_RATE)
    return losses


def run_train_step(X, y, params, epochs):
    return np.array([mlpext.train_step(X, y, *params, LEARNING_RATE) for _ in range(epochs)])


def run_train(X, y, params, epochs):
    return mlpext.train(X, y, *params, LEARNING_RATE, epochs)


MODES = [pytest.param(run_phases, id="phases"), pytest.param(run_train_step, id="train_step"),
         pytest.param(run_train, id="train")]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", SEEDS)
def test_float64_matches_numpy_loop(seed, mode):
    expected_params, expected_losses = reference_run(seed, "float64", EPOCHS)
    params = make_params(seed)
    losses = mode(XOR_X, XOR_Y, params, EPOCHS)
    for name, actual, expected in zip("W1 b1 W2 b2".split(), params, expected_params):
        assert_close_to_scale(actual, expected, RTOL64, err_msg=name)
    assert losses.shape == (EPOCHS,)
    np.testing.assert_allclose(losses, expected_losses, rtol=RTOL64, atol=0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", SEEDS)
def test_float32_matches_numpy_loop(seed, mode):
    expected_params, expected_losses = reference_run(seed, "float32", EPOCHS32)
    params = make_params(seed, dtype=np.float32)
    losses = mode(XOR_X, XOR_Y, params, EPOCHS32)
    for name, actual, expected in zip("W1 b1 W2 b2".split(), params, expected_params):
        assert actual.dtype == np.float32, name
        scale = max(1.0, float(np.max(np.abs(expected))))
        np.testing.assert_allclose(actual, expected, rtol=0, atol=TOL32 * scale, err_msg=name)
    np.testing.assert_allclose(losses, expected_losses, rtol=0, atol=TOL32)


def test_float32_follows_float64_trajectory():
    """float32 training is the same computation: it stays near the float64 run (looser, see TOL32)."""
    params = make_params(0, dtype=np.float32)
    # The float64 NumPy loop, started from exactly the same (float32-rounded) values.
    ref_from_rounded = [p.astype(np.float64) for p in params]
    ref_losses = reference.train(XOR_X, XOR_Y, *ref_from_rounded, LEARNING_RATE, EPOCHS32)
    losses = mlpext.train(XOR_X, XOR_Y, *params, LEARNING_RATE, EPOCHS32)
    for actual, expected in zip(params, ref_from_rounded):
        scale = max(1.0, float(np.max(np.abs(expected))))
        np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=0, atol=TOL32 * scale)
    np.testing.assert_allclose(losses, ref_losses, rtol=0, atol=TOL32)


def solves_xor(params):
    return np.array_equal(reference.predict(XOR_X, *params).round(), XOR_Y)


@pytest.mark.parametrize("mode", MODES)
def test_trained_network_solves_xor(mode):
    seed = 0
    expected_params, _ = reference_run(seed, "float64", EPOCHS)
    assert solves_xor(expected_params), "NumPy's run should solve XOR for this seed"
    params = make_params(seed)
    losses = mode(XOR_X, XOR_Y, params, EPOCHS)
    predicted = mlpext.predict(XOR_X, *params)
    np.testing.assert_array_equal(predicted.round(), XOR_Y)
    assert losses[-1] < 0.05 < losses[0]


def test_untrained_network_does_not_solve_xor():
    """The check above is not vacuous: a network trained for 0 epochs does not pass it."""
    params = make_params(0)
    assert not np.array_equal(mlpext.predict(XOR_X, *params).round(), XOR_Y)


def lecture_loop(X, y, W1, b1, W2, b2, learning_rate, epochs):
    """Section 4 of MLP.py, copied verbatim (its parameters come in as arguments instead of np.random.randn)."""

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def sigmoid_derivative(x):
        return x * (1 - x)

    # ---- copied from MLP.py ----
    for epoch in range(epochs):
        # forward: hidden layer
        hidden_output = np.dot(X, W1) + b1
        hidden_activation = sigmoid(hidden_output)
        # forward: output layer
        output_output = np.dot(hidden_activation, W2) + b2
        predicted_output = sigmoid(output_output)

        # backward step 1: output error and delta
        error_output = y - predicted_output
        delta_output = error_output * sigmoid_derivative(predicted_output)
        # backward step 2: hidden error and delta
        error_hidden = np.dot(delta_output, W2.T)
        delta_hidden = error_hidden * sigmoid_derivative(hidden_activation)

        # step 3: update weights and biases (in place)
        W2 += np.dot(hidden_activation.T, delta_output) * learning_rate
        b2 += np.sum(delta_output, axis=0) * learning_rate
        W1 += np.dot(X.T, delta_hidden) * learning_rate
        b1 += np.sum(delta_hidden, axis=0) * learning_rate

        # print the mean absolute error every 1000 epochs
        if epoch % 1000 == 0:
            loss = np.mean(np.abs(error_output))
            print(f"Epoch: {epoch}, Loss: {loss:.4f}")
    # ---- end of copy ----


@pytest.mark.parametrize("seed", [0, 2])
def test_lecture_script_loop_inline(seed, capsys):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    lecture_params = make_params(seed)
    lecture_loop(X, y, *lecture_params, 0.5, 10000)
    lecture_printed = capsys.readouterr().out

    params = make_params(seed)
    mlpext.train(X, y, *params, 0.5, 10000, log_every=1000)
    printed = capsys.readouterr().out

    assert printed == lecture_printed
    assert printed.count("\n") == 10
    for name, actual, expected in zip("W1 b1 W2 b2".split(), params, lecture_params):
        assert_close_to_scale(actual, expected, RTOL64, err_msg=name)
    # The lecture's final prediction, step 5 of MLP.py.
    hidden_activation_final = 1 / (1 + np.exp(-(np.dot(X, lecture_params[0]) + lecture_params[1])))
    predicted_final = 1 / (1 + np.exp(-(np.dot(hidden_activation_final, lecture_params[2]) + lecture_params[3])))
    np.testing.assert_array_equal(mlpext.predict(X, *params).round(), predicted_final.round())
