"""mlpext.reference — the lecture's MLP in pure NumPy, written the way the lecture writes it.

The same six functions as mlpext, with the same signatures and the same numbers: the baseline that the tests
and benchmarks compare the C core against. X and y are cast to the parameters' dtype, as mlpext does.
The NumPy baseline of general networks (mlpext.MLP) is NumpyMLP, from mlpext.reference_net.
"""
import numpy as np

from mlpext.reference_net import NumpyMLP

__all__ = [
    "sigmoid", "sigmoid_derivative", "forward", "backward", "update", "train_step", "train", "predict", "trace_step",
    "NumpyMLP",
]


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(x):
    """The derivative of sigmoid, taken from sigmoid's output x."""
    return x * (1 - x)


def _cast(a, like):
    return np.asarray(a, dtype=like.dtype)


def _written(out, index, value):
    """value, or value copied into out[index] when an out= tuple was given."""
    if out is None:
        return value
    out[index][...] = value
    return out[index]


def forward(X, W1, b1, W2, b2, out=None):
    X = _cast(X, W1)
    hidden_output = np.dot(X, W1) + b1
    hidden_activation = sigmoid(hidden_output)
    output_output = np.dot(hidden_activation, W2) + b2
    predicted_output = sigmoid(output_output)
    return _written(out, 0, hidden_activation), _written(out, 1, predicted_output)


def backward(y, hidden_activation, predicted_output, W2, out=None):
    y = _cast(y, W2)
    error_output = y - predicted_output
    delta_output = error_output * sigmoid_derivative(predicted_output)
    error_hidden = np.dot(delta_output, W2.T)
    delta_hidden = error_hidden * sigmoid_derivative(hidden_activation)
    return _written(out, 0, delta_output), _written(out, 1, delta_hidden)


def update(X, hidden_activation, delta_output, delta_hidden, W1, b1, W2, b2, learning_rate):
    X = _cast(X, W1)
    W2 += np.dot(hidden_activation.T, delta_output) * learning_rate
    b2 += np.sum(delta_output, axis=0) * learning_rate
    W1 += np.dot(X.T, delta_hidden) * learning_rate
    b1 += np.sum(delta_hidden, axis=0) * learning_rate


def train_step(X, y, W1, b1, W2, b2, learning_rate):
    hidden_activation, predicted_output = forward(X, W1, b1, W2, b2)
    delta_output, delta_hidden = backward(y, hidden_activation, predicted_output, W2)
    update(X, hidden_activation, delta_output, delta_hidden, W1, b1, W2, b2, learning_rate)
    error_output = _cast(y, W2) - predicted_output
    return float(np.mean(np.abs(error_output)))


def train(X, y, W1, b1, W2, b2, learning_rate, epochs, log_every=0, history="all"):
    if history not in ("all", "log", None):
        raise ValueError(f"history must be 'all', 'log' or None, got {history!r}")
    if history == "log" and not log_every:
        raise ValueError("history='log' keeps the losses of the epochs log_every prints, but log_every is 0")
    losses = []
    for epoch in range(epochs):
        loss = train_step(X, y, W1, b1, W2, b2, learning_rate)
        logged = log_every and epoch % log_every == 0
        if history == "all" or (history == "log" and logged):
            losses.append(loss)
        if logged:
            print(f"Epoch: {epoch}, Loss: {loss:.4f}")
    return None if history is None else np.array(losses, dtype=np.float64)


def predict(X, W1, b1, W2, b2, out=None):
    predicted_output = forward(X, W1, b1, W2, b2)[1]
    if isinstance(out, tuple):
        (out,) = out
    return predicted_output if out is None else _written((out,), 0, predicted_output)


def trace_step(X, y, W1, b1, W2, b2, learning_rate):
    """Every quantity of one step, as the slides write them out; the parameters passed in are left untouched."""
    X, y = _cast(X, W1), _cast(y, W1)
    Z1 = np.dot(X, W1) + b1
    A1 = sigmoid(Z1)
    Z2 = np.dot(A1, W2) + b2
    y_hat = sigmoid(Z2)
    E2 = y - y_hat
    delta2 = E2 * sigmoid_derivative(y_hat)
    E1 = np.dot(delta2, W2.T)
    delta1 = E1 * sigmoid_derivative(A1)
    W1_new, b1_new, W2_new, b2_new = W1.copy(), b1.copy(), W2.copy(), b2.copy()
    update(X, A1, delta2, delta1, W1_new, b1_new, W2_new, b2_new, learning_rate)
    return {
        "Z1": Z1, "A1": A1, "Z2": Z2, "y_hat": y_hat, "E2": E2, "delta2": delta2, "E1": E1, "delta1": delta1,
        "W1_new": W1_new, "b1_new": b1_new, "W2_new": W2_new, "b2_new": b2_new,
    }
