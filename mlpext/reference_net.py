"""mlpext.reference_net — general multilayer perceptrons in pure NumPy: the baseline for mlpext.MLP.

`NumpyMLP` has mlpext.MLP's constructor and methods and computes the same numbers, written plainly in NumPy:
the activations, losses, backpropagation, optimizers (torch.optim's SGD and Adam) and the xoshiro256**
shuffling of mini-batches that mlpext's C core implements. The tests and benchmarks compare mlpext.MLP against
it. It never imports the C extension.

This module also holds `_NetBase`, the part of both classes that is not arithmetic: checking the configuration,
initializing the parameters and the optimizer state, the `fit` loop's printing / callback / progress bar,
`predict`, `predict_proba`, `save` and `load`. A subclass supplies three computations:

    _net_forward(X)                           -> the network's output
    _net_loss(X, y, grads)                    -> the loss (float); fills grads (list of 2L arrays) if given
    _net_fit(X, y, epochs, batch_size, shuffle) -> float64 losses of each epoch; updates the parameters, the
                                                 optimizer state and the shuffle RNG state in place

Because both classes share this code, a file saved by one loads into the other.
"""
import json
import math
import numbers
import os
import time

import numpy as np

__all__ = ["NumpyMLP", "activate", "activation_derivative", "xoshiro256ss_next", "shuffled_order"]

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax", "identity")
LOSSES = ("lecture", "mse", "bce", "cross_entropy")
OPTIMIZERS = ("sgd", "adam")
CLASSIFICATION_LOSSES = ("bce", "cross_entropy")
# The output activation that output_activation=None picks for each loss.
NATURAL_OUTPUT = {"lecture": "sigmoid", "mse": "identity", "bce": "sigmoid", "cross_entropy": "softmax"}
# The output activation a loss requires, if it requires one.
REQUIRED_OUTPUT = {"bce": "sigmoid", "cross_entropy": "softmax"}

SAVE_FORMAT = "mlpext.MLP"
SAVE_VERSION = 1

_MASK64 = (1 << 64) - 1


# ------------------------------------------------------------------------------------------------------------
# The math, plainly
# ------------------------------------------------------------------------------------------------------------

def activate(name, z, slope=0.01):
    """The activation `name` of the pre-activation z (n, units), in z's dtype."""
    if name == "sigmoid":
        with np.errstate(over="ignore"):  # e^-z = inf for very negative z: sigmoid 0, as intended
            return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, z * slope)
    if name == "identity":
        return z
    if name == "softmax":  # row-wise, with the row's maximum subtracted first
        e = np.exp(z - np.max(z, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)
    raise ValueError(f"unknown activation {name!r}")


def activation_derivative(name, a, slope=0.01):
    """d act / dz, written in terms of the activation's output a (as the lecture does for sigmoid).

    Not for softmax, whose derivative is a matrix (see _output_delta).
    """
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    if name == "relu":  # 0 at z = 0, as PyTorch
        return (a > 0).astype(a.dtype)
    if name == "leaky_relu":  # slope >= 0, so a > 0 exactly when z > 0
        return np.where(a > 0, 1, slope).astype(a.dtype)
    if name == "identity":
        return np.ones_like(a)
    raise ValueError(f"no elementwise derivative for {name!r}")


def _log_softmax(z):
    shifted = z - np.max(z, axis=1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


def _target_rows(y, classes, dtype):
    """cross_entropy's y as (n, classes) rows of its dtype: int labels become one-hot rows."""
    if y.ndim == 1:
        rows = np.zeros((y.shape[0], classes), dtype=dtype)
        rows[np.arange(y.shape[0]), y] = 1
        return rows
    return y


def loss_value(loss, Z, P, y):
    """The loss (a Python float) of output P = act(Z) against y, with PyTorch's definitions.

    lecture        ½·Σ(y − P)², summed over the batch (the lecture's loss)
    mse            mean((P − y)²) over all elements (nn.MSELoss)
    bce            mean of (y − 1)·max(log1p(−P), −100) − y·max(log P, −100) (nn.BCELoss on sigmoid outputs)
    cross_entropy  mean over the rows of −Σ_c y_c·log_softmax(Z)_c (nn.CrossEntropyLoss); y int labels (n,) or
                   probability rows (n, classes)
    Elementwise terms are computed in the dtype, their sum in float64.
    """
    if loss == "lecture":
        e = y - P
        return float(0.5 * np.sum(e * e, dtype=np.float64))
    if loss == "mse":
        e = P - y
        return float(np.sum(e * e, dtype=np.float64) / e.size)
    if loss == "bce":
        with np.errstate(divide="ignore"):
            terms = (y - 1) * np.maximum(np.log1p(-P), -100) - y * np.maximum(np.log(P), -100)
        return float(np.sum(terms, dtype=np.float64) / terms.size)
    if loss == "cross_entropy":
        logp = _log_softmax(Z)
        if y.ndim == 1:
            picked = logp[np.arange(y.shape[0]), y]
            return float(-np.sum(picked, dtype=np.float64) / y.shape[0])
        return float(-np.sum(y * logp, dtype=np.float64) / y.shape[0])
    raise ValueError(f"unknown loss {loss!r}")


def output_delta(loss, out_act, P, y, slope=0.01):
    """∂loss/∂Z of the last layer (Z its pre-activation, P = out_act(Z)), in P's dtype."""
    if loss == "bce":  # sigmoid + BCE, fused: (P − y) / N
        return (P - y) / P.size
    if loss == "cross_entropy":  # softmax + CE, fused: (softmax·Σ_c y_c − y) / n
        rows = _target_rows(y, P.shape[1], P.dtype)
        return (P * np.sum(rows, axis=1, keepdims=True) - rows) / P.shape[0]
    if loss == "lecture":
        dP = P - y  # −(y − P): the lecture's error with the gradient's sign
    elif loss == "mse":
        dP = (P - y) * (2 / P.size)
    else:
        raise ValueError(f"unknown loss {loss!r}")
    if out_act == "softmax":  # the softmax Jacobian times dP, row by row
        return P * (dP - np.sum(dP * P, axis=1, keepdims=True))
    return dP * activation_derivative(out_act, P, slope)


def xoshiro256ss_next(state):
    """One step of xoshiro256** on state (a list of 4 Python ints < 2**64, updated in place); the 64-bit output."""
    s0, s1, s2, s3 = state
    x = (s1 * 5) & _MASK64
    result = ((((x << 7) | (x >> 57)) & _MASK64) * 9) & _MASK64
    t = (s1 << 17) & _MASK64
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = ((s3 << 45) | (s3 >> 19)) & _MASK64
    state[:] = [s0, s1, s2, s3]
    return result


def shuffled_order(n, state):
    """A Fisher–Yates permutation of 0..n−1: j = next() % (i + 1) for i = n−1 … 1, swapping perm[i], perm[j]."""
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        j = xoshiro256ss_next(state) % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm, dtype=np.intp)


# ------------------------------------------------------------------------------------------------------------
# Configuration checks
# ------------------------------------------------------------------------------------------------------------

def _name(value, what, choices):
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, one of {', '.join(map(repr, choices))}; got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value


def _real(value, what, low=0.0, high=math.inf, high_open=False):
    """value as a float in [low, high] (or [low, high) if high_open), finite; not a bool."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < low or value > high or (high_open and value == high):
        interval = f"[{low:g}, {high:g}{')' if high_open else ']'}" if math.isfinite(high) else f">= {low:g}"
        raise ValueError(f"{what} must be finite and {interval}, got {value!r}")
    return value


def _count(value, what, low=0):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < low:
        raise ValueError(f"{what} must be >= {low}, got {value}")
    return value


def _float_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


# ------------------------------------------------------------------------------------------------------------
# The shared part of mlpext.MLP and NumpyMLP
# ------------------------------------------------------------------------------------------------------------

class _NetBase:
    """Configuration, initialization, optimizer state, the fit loop, prediction and files, without arithmetic.

    See mlpext.MLP for the documentation of the constructor and the methods.
    """

    _MAX_LAYERS = None  # the most weight layers a subclass's computation supports (None: no limit)

    def __init__(self, layer_sizes, activation="relu", output_activation=None, loss="mse", optimizer="sgd",
                 learning_rate=0.01, momentum=0.0, nesterov=False, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, dtype=np.float32, seed=None, leaky_slope=0.01):
        # --- layer sizes
        if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
            raise TypeError(f"layer_sizes must be a sequence of ints, got {type(layer_sizes).__name__}")
        sizes = tuple(_count(s, f"layer_sizes[{k}]", low=1) for k, s in enumerate(layer_sizes))
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs at least 2 entries (inputs and outputs), got {list(sizes)}")
        n_layers = len(sizes) - 1
        if self._MAX_LAYERS is not None and n_layers > self._MAX_LAYERS:
            raise ValueError(f"{type(self).__name__} supports up to {self._MAX_LAYERS} weight layers "
                             f"({self._MAX_LAYERS + 1} layer sizes), got {n_layers}")
        # --- activations
        if isinstance(activation, str):
            hidden = (_name(activation, "activation", HIDDEN_ACTIVATIONS),) * (n_layers - 1)
            activation_config = activation
        else:
            try:
                hidden = tuple(activation)
            except TypeError:
                raise TypeError("activation must be a str or a sequence of str (one per hidden layer), "
                                f"got {type(activation).__name__}") from None
            if len(hidden) != n_layers - 1:
                raise ValueError(f"activation has {len(hidden)} entries; this network has {n_layers - 1} "
                                 "hidden layers (give one str for all, or one per hidden layer)")
            hidden = tuple(_name(a, f"activation[{k}]", HIDDEN_ACTIVATIONS) for k, a in enumerate(hidden))
            activation_config = list(hidden)
        loss = _name(loss, "loss", LOSSES)
        if output_activation is None:
            output_activation = NATURAL_OUTPUT[loss]
        output_activation = _name(output_activation, "output_activation", OUTPUT_ACTIVATIONS)
        required = REQUIRED_OUTPUT.get(loss)
        if required is not None and output_activation != required:
            raise ValueError(f"loss {loss!r} requires output_activation={required!r} (or None), "
                             f"got {output_activation!r}")
        # --- optimizer and its hyperparameters
        optimizer = _name(optimizer, "optimizer", OPTIMIZERS)
        learning_rate = _real(learning_rate, "learning_rate")
        momentum = _real(momentum, "momentum")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")
        nesterov = bool(nesterov)
        if optimizer == "sgd" and nesterov and momentum == 0:
            raise ValueError("nesterov=True requires momentum > 0")
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        betas = (_real(beta1, "betas[0]", 0.0, 1.0, True), _real(beta2, "betas[1]", 0.0, 1.0, True))
        eps = _real(eps, "eps")
        weight_decay = _real(weight_decay, "weight_decay")
        leaky_slope = _real(leaky_slope, "leaky_slope")
        dtype = _float_dtype(dtype)
        if seed is not None:
            seed = _count(seed, "seed")

        self._layer_sizes = sizes
        self._activation_config = activation_config
        self._activations = hidden + (output_activation,)
        self._loss = loss
        self._optimizer = optimizer
        self._learning_rate = learning_rate
        self._momentum = momentum
        self._nesterov = nesterov
        self._betas = betas
        self._eps = eps
        self._weight_decay = weight_decay
        self._dtype = dtype
        self._seed = seed
        self._leaky_slope = leaky_slope

        # --- parameters: nn.Linear's default, U(−1/√fan_in, 1/√fan_in), W then b for each layer in order;
        # then the shuffle RNG's state, from the same generator
        rng = np.random.default_rng(seed)
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(fan_in)
            W = rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(dtype)
            b = rng.uniform(-bound, bound, size=fan_out).astype(dtype)
            self.params.append((W, b))
        self._rng = np.zeros(4, dtype=np.uint64)
        while not self._rng.any():  # xoshiro256**'s state must not be all zero
            self._rng = rng.integers(0, 2**64 - 1, size=4, dtype=np.uint64, endpoint=True)

        # --- optimizer state, zero (torch's first step is the same as starting from zeros)
        zeros = [np.zeros_like(a) for pair in self.params for a in pair]
        if optimizer == "adam":
            self._state = [np.zeros(1, dtype=np.int64)] + zeros + [np.zeros_like(a) for a in zeros]
        elif momentum != 0:
            self._state = zeros
        else:
            self._state = []

    # --- configuration, read only except learning_rate and weight_decay

    @property
    def layer_sizes(self):
        """The number of units of each layer, inputs first, as a tuple."""
        return self._layer_sizes

    @property
    def activations(self):
        """The activation of each layer (the hidden layers', then the output's), as a tuple of str."""
        return self._activations

    @property
    def activation(self):
        """The hidden layers' activation as given: a str, or a list of str (one per hidden layer)."""
        return self._activation_config if isinstance(self._activation_config, str) else list(
            self._activation_config)

    @property
    def output_activation(self):
        """The output activation ("sigmoid", "softmax" or "identity"; resolved if None was given)."""
        return self._activations[-1]

    @property
    def loss_name(self):
        """The loss: "lecture", "mse", "bce" or "cross_entropy"."""
        return self._loss

    @property
    def optimizer(self):
        """The optimizer: "sgd" or "adam"."""
        return self._optimizer

    @property
    def learning_rate(self):
        """The learning rate (writable: takes effect at the next step or fit)."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = _real(value, "learning_rate")

    @property
    def weight_decay(self):
        """The L2 penalty coefficient added to the gradients (writable: takes effect at the next step or fit)."""
        return self._weight_decay

    @weight_decay.setter
    def weight_decay(self, value):
        self._weight_decay = _real(value, "weight_decay")

    momentum = property(lambda self: self._momentum, doc="SGD's momentum (0: plain SGD).")
    nesterov = property(lambda self: self._nesterov, doc="SGD with Nesterov momentum.")
    betas = property(lambda self: self._betas, doc="Adam's (beta1, beta2).")
    eps = property(lambda self: self._eps, doc="Adam's epsilon.")
    dtype = property(lambda self: self._dtype, doc="The dtype of the parameters and of the computation.")
    seed = property(lambda self: self._seed, doc="The seed the network was initialized from (None: random).")
    leaky_slope = property(lambda self: self._leaky_slope, doc="leaky_relu's slope for z < 0.")

    @property
    def n_layers(self):
        """The number of weight layers L (len(layer_sizes) − 1)."""
        return len(self._layer_sizes) - 1

    def get_config(self):
        """The constructor's keyword arguments that rebuild this network's configuration (a dict)."""
        return {
            "layer_sizes": list(self._layer_sizes),
            "activation": self.activation,
            "output_activation": self.output_activation,
            "loss": self._loss,
            "optimizer": self._optimizer,
            "learning_rate": self._learning_rate,
            "momentum": self._momentum,
            "nesterov": self._nesterov,
            "betas": list(self._betas),
            "eps": self._eps,
            "weight_decay": self._weight_decay,
            "dtype": self._dtype.name,
            "seed": self._seed,
            "leaky_slope": self._leaky_slope,
        }

    def __repr__(self):
        c = self.get_config()
        parts = [f"{c['layer_sizes']!r}", f"activation={c['activation']!r}",
                 f"output_activation={c['output_activation']!r}", f"loss={c['loss']!r}",
                 f"optimizer={c['optimizer']!r}", f"learning_rate={c['learning_rate']!r}"]
        if self._optimizer == "sgd" and self._momentum:
            parts += [f"momentum={self._momentum!r}", f"nesterov={self._nesterov!r}"]
        if self._optimizer == "adam":
            parts += [f"betas={self._betas!r}", f"eps={self._eps!r}"]
        if self._weight_decay:
            parts.append(f"weight_decay={self._weight_decay!r}")
        if "leaky_relu" in self._activations:
            parts.append(f"leaky_slope={self._leaky_slope!r}")
        parts += [f"dtype=np.{self._dtype.name}", f"seed={self._seed!r}"]
        return f"{type(self).__name__}({', '.join(parts)})"

    # --- pieces the subclasses pass to their computations

    def _weights(self):
        return [W for W, _ in self.params]

    def _biases(self):
        return [b for _, b in self.params]

    def _hyper(self):
        beta1, beta2 = self._betas
        return (self._learning_rate, self._momentum, self._nesterov, beta1, beta2, self._eps,
                self._weight_decay)

    def _optimizer_state(self):
        """The state arrays in net_fit's layout (see mlpext.MLP)."""
        if self._optimizer == "sgd" and self._momentum == 0:
            return []
        return self._state

    def _prepare_y(self, y):
        """y as given, except that a 1-D y becomes a column when the network has one output and the loss is not
        cross_entropy, and that cross_entropy's 1-D y must hold integers (class labels)."""
        if self._loss == "cross_entropy":
            y = y if isinstance(y, np.ndarray) else np.asarray(y)
            if y.ndim == 1 and y.dtype.kind not in "iu":
                raise ValueError(f"cross_entropy takes y as int class labels (n,) or as rows (n, classes); got a "
                                 f"1-D array of dtype {y.dtype} (if these are labels, pass y.astype(int))")
        elif self._layer_sizes[-1] == 1:
            y = y if isinstance(y, np.ndarray) else np.asarray(y)
            if y.ndim == 1:
                y = y.reshape(-1, 1)
        return y

    @staticmethod
    def _rows(X):
        """The number of rows of X (0 if X is not at least 1-D); the computation reports bad shapes."""
        shape = np.shape(X)
        return shape[0] if len(shape) >= 1 else 0

    # --- the public methods

    def forward(self, X):
        """The network's output for X (n, inputs): the output activation's values, (n, outputs)."""
        return self._net_forward(X)

    def predict(self, X):
        """Predictions for X.

        Regression losses (lecture, mse): forward(X). bce: (sigmoid output >= 0.5) as int64, (n, outputs).
        cross_entropy: the index of the largest output, int64 (n,).
        """
        out = self._net_forward(X)
        if self._loss == "cross_entropy":
            return np.argmax(out, axis=1).astype(np.int64)
        if self._loss == "bce":
            return (out >= 0.5).astype(np.int64)
        return out

    def predict_proba(self, X):
        """Class probabilities for X; classification losses only (bce: the sigmoid outputs, cross_entropy: the
        softmax rows). ValueError for the regression losses."""
        if self._loss not in CLASSIFICATION_LOSSES:
            raise ValueError(f"predict_proba needs a classification loss (bce or cross_entropy); this network's "
                             f"loss is {self._loss!r}")
        return self._net_forward(X)

    def loss(self, X, y):
        """The loss of the network on (X, y), a float. Nothing is updated."""
        return self._net_loss(X, self._prepare_y(y), None)

    def gradients(self, X, y):
        """∂loss/∂param on (X, y): a list of (dW, db) pairs of new arrays, one per layer. Nothing is updated."""
        flat = [np.empty_like(a) for pair in self.params for a in pair]
        self._net_loss(X, self._prepare_y(y), flat)
        return [(flat[2 * k], flat[2 * k + 1]) for k in range(len(flat) // 2)]

    def step(self, X, y):
        """One optimizer step on the batch (X, y), in place; returns the loss before the step."""
        y = self._prepare_y(y)
        losses = self._net_fit(X, y, 1, max(self._rows(X), 1), False)
        return float(losses[0])

    def fit(self, X, y, epochs, batch_size=None, shuffle=True, verbose=0, callback=None, progress=False):
        """Train for `epochs` epochs on (X, y), in place; returns each epoch's mean loss (float64 array).

        batch_size: None trains on the whole batch at once, in the given order (no shuffling); an int k splits
            each epoch into consecutive mini-batches of k rows (the last may be smaller), in an order reshuffled
            every epoch when shuffle is true. An epoch's loss is the sample-weighted mean of its mini-batches'
            losses, each taken before that mini-batch's update.
        verbose: 0/False prints nothing; N (an int >= 1) prints the lecture's line `Epoch: e, Loss: l` (4
            decimals) after every epoch e with e % N == 0, counting this call's epochs from 0 (as
            mlpext.train(log_every=N)); True is the same as 1: every epoch.
        callback: called as callback(epoch, loss) after every epoch (epoch counted from 0 in this call), with
            the network in its state after that epoch. If it returns True, training stops there and the
            returned history holds the epochs run.
        progress: show a tqdm progress bar (needs the tqdm package; ImportError if it is missing).

        Without verbose, callback or progress, all epochs run in one call to the computation; otherwise the
        computation returns to Python every few epochs (every epoch with a callback). The results are the same.
        """
        epochs = _count(epochs, "epochs")
        if batch_size is not None:
            batch_size = _count(batch_size, "batch_size", low=1)
        if isinstance(verbose, (bool, np.bool_)):
            verbose = int(verbose)
        verbose = _count(verbose, "verbose")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        bar = None
        if progress:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                raise ImportError("fit(progress=True) shows a tqdm progress bar and needs the tqdm package: "
                                  "pip install tqdm (or pass progress=False)") from None
        shuffle = bool(shuffle)
        X = X if isinstance(X, np.ndarray) else np.asarray(X)
        y = self._prepare_y(y)
        if batch_size is None:
            batch_size, shuffle = max(self._rows(X), 1), False

        if not (verbose or callback is not None or progress):
            return self._net_fit(X, y, epochs, batch_size, shuffle)

        history = np.empty(epochs, dtype=np.float64)
        done = 0
        chunk = 1  # with a progress bar alone: grown so that each call lasts about 0.1 s
        write = print
        if progress:
            bar = tqdm(total=epochs, unit="epoch")
            write = bar.write
        try:
            while done < epochs:
                if callback is not None:
                    stop = done + 1
                elif verbose:
                    # run up to and including the next epoch that prints
                    stop = done + (-done) % verbose + 1
                    if progress:
                        stop = min(stop, done + chunk)
                else:
                    stop = done + chunk
                stop = min(stop, epochs)
                started = time.perf_counter()
                losses = self._net_fit(X, y, stop - done, batch_size, shuffle)
                elapsed = time.perf_counter() - started
                history[done:stop] = losses
                halt = False
                for e in range(done, stop):
                    loss = float(history[e])
                    if verbose and e % verbose == 0:
                        write(f"Epoch: {e}, Loss: {loss:.4f}")
                    if callback is not None:
                        result = callback(e, loss)
                        halt = isinstance(result, (bool, np.bool_)) and bool(result)
                if bar is not None:
                    bar.update(stop - done)
                    bar.set_postfix(loss=f"{history[stop - 1]:.4f}", refresh=False)
                    chunk = max(1, min(chunk * 4, int(chunk * 0.1 / max(elapsed, 1e-9))))
                done = stop
                if halt:
                    return history[:done].copy()
        finally:
            if bar is not None:
                bar.close()
        return history

    # --- files

    def save(self, path):
        """Save the configuration, the parameters, the optimizer state and the shuffle RNG state to an .npz file
        (NumPy's zip of .npy arrays; the configuration is JSON text; no pickles). load() gives back a network
        that continues bit-identically.

        path: a file name (str or os.PathLike), written exactly as given (no ".npz" is appended), or a writable
        binary file object.
        """
        arrays = {"config": np.array(json.dumps({"format": SAVE_FORMAT, "version": SAVE_VERSION,
                                                 "config": self.get_config()})),
                  "rng": self._rng}
        for k, (W, b) in enumerate(self.params):
            arrays[f"W{k}"] = W
            arrays[f"b{k}"] = b
        for k, a in enumerate(self._state):
            arrays[f"state{k}"] = a
        if isinstance(path, (str, os.PathLike)):
            with open(path, "wb") as f:
                np.savez(f, **arrays)
        else:
            np.savez(path, **arrays)

    @classmethod
    def load(cls, path):
        """A network read from a file written by save() (by mlpext.MLP or NumpyMLP): a file name or a readable
        binary file object. ValueError if the file is not such a file or does not match its configuration."""
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: not a file written by {SAVE_FORMAT}.save (not an .npz file)")
        with f:
            try:
                header = json.loads(str(f["config"][()]))
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}: not a file written by {SAVE_FORMAT}.save ({exc})") from None
            if not isinstance(header, dict) or header.get("format") != SAVE_FORMAT:
                raise ValueError(f"{path}: not a file written by {SAVE_FORMAT}.save")
            if header.get("version") != SAVE_VERSION:
                raise ValueError(f"{path}: unsupported {SAVE_FORMAT} file version {header.get('version')!r}")
            try:
                config = dict(header["config"])
                config["betas"] = tuple(config["betas"])
                net = cls(**config)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}: bad configuration in the file: {exc}") from None
            targets = {"rng": net._rng}
            for k, (W, b) in enumerate(net.params):
                targets[f"W{k}"] = W
                targets[f"b{k}"] = b
            for k, a in enumerate(net._state):
                targets[f"state{k}"] = a
            expected = set(targets) | {"config"}
            if set(f.files) != expected:
                raise ValueError(f"{path}: arrays {sorted(f.files)} do not match the configuration, which needs "
                                 f"{sorted(expected)}")
            values = {}
            for key, target in targets.items():
                value = f[key]
                if value.dtype != target.dtype or value.shape != target.shape:
                    raise ValueError(f"{path}: {key} is {value.dtype} {value.shape}, the configuration needs "
                                     f"{target.dtype} {target.shape}")
                values[key] = value
            if not values["rng"].any():
                raise ValueError(f"{path}: the shuffle RNG state is all zero")
        for key, target in targets.items():
            target[...] = values[key]
        return net


# ------------------------------------------------------------------------------------------------------------
# NumpyMLP
# ------------------------------------------------------------------------------------------------------------

class NumpyMLP(_NetBase):
    """mlpext.MLP in pure NumPy: the same constructor, methods, initialization, files and numbers.

    Forward:   A_0 = X;  Z_l = np.dot(A_{l-1}, W_l) + b_l;  A_l = act_l(Z_l).
    Backward:  G_L = ∂loss/∂Z_L (output_delta);  dW_l = np.dot(A_{l-1}.T, G_l);  db_l = G_l.sum(axis=0);
               G_{l-1} = np.dot(G_l, W_l.T) * act_{l-1}'(A_{l-1}).
    Updates:   torch.optim.SGD / Adam (see _update), parameter by parameter in the order W_0, b_0, W_1, b_1, …,
               after all the gradients of the batch are computed.
    Shuffling: xoshiro256** Fisher–Yates (shuffled_order), as mlpext's C core.
    """

    # --- checking arrays (the C core does the same checks for mlpext.MLP)

    def _check_params(self):
        for k, (W, b) in enumerate(self.params):
            for name, a, shape in ((f"W{k}", W, self._layer_sizes[k:k + 2]),
                                   (f"b{k}", b, self._layer_sizes[k + 1:k + 2])):
                if not isinstance(a, np.ndarray) or a.dtype != self._dtype:
                    raise TypeError(f"{name} must be a {self._dtype} ndarray")
                if a.shape != tuple(shape):
                    raise ValueError(f"{name} has shape {a.shape}, expected {tuple(shape)}")

    def _data(self, a, what, shape):
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{what} must hold real numbers, got dtype {a.dtype}")
        if a.ndim != len(shape) or any(s is not None and d != s for d, s in zip(a.shape, shape)):
            raise ValueError(f"{what} has shape {a.shape}, expected {shape}")
        if a.shape[0] < 1:
            raise ValueError(f"{what} has no rows")
        return a.astype(self._dtype)

    def _check_X(self, X):
        self._check_params()
        return self._data(X, "X", (None, self._layer_sizes[0]))

    def _check_y(self, y, n):
        classes = self._layer_sizes[-1]
        y = np.asarray(y)
        if self._loss == "cross_entropy" and y.ndim == 1 and y.dtype.kind in "iu":  # class labels
            if y.shape != (n,):
                raise ValueError(f"y has shape {y.shape}, expected ({n},)")
            if y.size and (y.min() < 0 or y.max() >= classes):
                raise ValueError(f"class labels must be in [0, {classes}), got values in [{y.min()}, {y.max()}]")
            return y.astype(np.intp)
        y = self._data(y, "y", (n, classes))
        if np.any(np.isnan(y)):
            raise ValueError("y holds NaN")
        return y

    # --- the three computations

    def _forward_all(self, X):
        """The activations A_0 = X, A_1, …, A_L, and Z_L."""
        A = [X]
        Z = None
        for (W, b), act in zip(self.params, self._activations):
            Z = np.dot(A[-1], W) + b
            A.append(activate(act, Z, self._leaky_slope))
        return A, Z

    def _backward(self, A, Z, y):
        """The loss and the gradients [dW_0, db_0, dW_1, …] of a batch, from its forward pass."""
        loss = loss_value(self._loss, Z, A[-1], y)
        G = output_delta(self._loss, self._activations[-1], A[-1], y, self._leaky_slope)
        grads = [None] * (2 * self.n_layers)
        for l in range(self.n_layers - 1, -1, -1):
            W = self.params[l][0]
            grads[2 * l] = np.dot(A[l].T, G)
            grads[2 * l + 1] = G.sum(axis=0)
            if l > 0:
                G = np.dot(G, W.T) * activation_derivative(self._activations[l - 1], A[l], self._leaky_slope)
        return loss, grads

    def _update(self, grads):
        """One optimizer step, torch.optim's formulas, in place."""
        lr, momentum, nesterov, beta1, beta2, eps, wd = self._hyper()
        params = [a for pair in self.params for a in pair]
        P = len(params)
        if self._optimizer == "adam":
            t_array, m, v = self._state[0], self._state[1:1 + P], self._state[1 + P:]
            t_array += 1
            t = int(t_array[0])
            bias_correction1 = 1 - beta1 ** t
            bias_correction2 = 1 - beta2 ** t
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2 ** 0.5
            weight = self._dtype.type(1 - beta1)
            for p, g, m_k, v_k in zip(params, grads, m, v):
                if wd != 0:
                    g = g + wd * p
                # torch's exp_avg.lerp_(g, 1 − beta1), whose formula depends on the weight's size
                if 1 - beta1 < 0.5:
                    m_k[...] = m_k + weight * (g - m_k)
                else:
                    m_k[...] = g - (g - m_k) * (1 - weight)
                v_k[...] = v_k * beta2 + (1 - beta2) * g * g  # exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 − beta2)
                denom = np.sqrt(v_k) / bias_correction2_sqrt + eps
                p += (-step_size * m_k) / denom  # param.addcdiv_(exp_avg, denom, value=−step_size)
            return
        for k, (p, g) in enumerate(zip(params, grads)):
            if wd != 0:
                g = g + wd * p
            if momentum != 0:
                buf = self._state[k]
                buf[...] = momentum * buf + g
                g = g + momentum * buf if nesterov else buf
            p -= lr * g

    def _net_forward(self, X):
        return self._forward_all(self._check_X(X))[0][-1]

    def _net_loss(self, X, y, grads):
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        A, Z = self._forward_all(X)
        if grads is None:
            return loss_value(self._loss, Z, A[-1], y)
        loss, computed = self._backward(A, Z, y)
        for out, g in zip(grads, computed):
            out[...] = g
        return loss

    def _net_fit(self, X, y, epochs, batch_size, shuffle):
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        n = X.shape[0]
        state = [int(s) for s in self._rng]
        losses = np.empty(epochs, dtype=np.float64)
        for epoch in range(epochs):
            if shuffle and batch_size < n:
                order = shuffled_order(n, state)
            else:
                order = np.arange(n)
            total = 0.0
            for start in range(0, n, batch_size):
                rows = order[start:start + batch_size]
                if batch_size >= n:  # the whole batch, as given
                    Xb, yb = X, y
                else:
                    Xb, yb = X[rows], y[rows]
                A, Z = self._forward_all(Xb)
                loss, grads = self._backward(A, Z, yb)
                self._update(grads)
                total += loss * len(rows)
            losses[epoch] = total / n
        self._rng[...] = np.array(state, dtype=np.uint64)
        return losses
