"""mlpext.network — general multilayer perceptrons trained in place by mlpext's C core (exported as mlpext.MLP).

`_NetBase` is the part of mlpext.MLP that is not arithmetic: checking the configuration, initializing the
parameters and the optimizer state, the `fit` loop's printing / callback / progress bar, `predict`,
`predict_proba`, `save` and `load`. A subclass supplies three computations:

    _net_forward(X)                           -> the network's output
    _net_loss(X, y, grads)                    -> the loss (float); fills grads (list of 2L arrays) if given
    _net_fit(X, y, epochs, batch_size, shuffle) -> float64 losses of each epoch; updates the parameters, the
                                                 optimizer state and the shuffle RNG state in place

`MLP` supplies them from the C core; the NumPy oracle `mlpext.reference_net.NumpyMLP` supplies them in plain
NumPy, so a file saved by one loads into the other.
"""
import json
import math
import numbers
import os
import time

import numpy as np

from mlpext import _core

__all__ = ["MLP"]

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

    def fit(self, X, y, epochs, batch_size=None, shuffle=True, verbose=0, callback=None, progress=False, comm=None):
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

        comm: an mpi4py communicator trains data-parallel across its ranks (X, y: this rank's rows; the data set is
            their concatenation in rank order); see mlpext.distributed. None: this process alone.
        """
        if comm is not None:
            from mlpext import distributed
            return distributed.fit(self, X, y, epochs, batch_size, shuffle, verbose, callback, progress, comm)
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


class MLP(_NetBase):
    """A multilayer perceptron whose forward pass, backpropagation, optimizer and training loop run in C.

        net = mlpext.MLP(layer_sizes, activation="relu", output_activation=None, loss="mse", optimizer="sgd",
                         learning_rate=0.01, momentum=0.0, nesterov=False, betas=(0.9, 0.999), eps=1e-8,
                         weight_decay=0.0, dtype=np.float32, seed=None, leaky_slope=0.01)
        history = net.fit(X, y, epochs=100, batch_size=32)

    Layers
        layer_sizes: the number of units of each layer, inputs first: [2, 3, 1] is the lecture's 2-3-1 network.
        L = len(layer_sizes) − 1 weight layers (1 to 64); layer l computes A_l = act_l(A_{l−1}·W_l + b_l).
        activation: the hidden layers' activation — "sigmoid", "tanh", "relu", "leaky_relu" (z for z > 0,
            leaky_slope·z otherwise; leaky_slope >= 0) or "identity" — or a sequence of those, one per hidden
            layer.
        output_activation: "sigmoid", "softmax" or "identity"; None picks the loss's natural one: lecture →
            sigmoid, mse → identity, bce → sigmoid, cross_entropy → softmax. bce requires sigmoid and
            cross_entropy softmax (ValueError otherwise).

    Losses (PyTorch's definitions)
        "lecture": ½·Σ(y − ŷ)², summed over the batch: with SGD, exactly the lecture's update.
        "mse": mean((ŷ − y)²) over all elements (nn.MSELoss).
        "bce": nn.BCELoss on the sigmoid outputs, mean of (y − 1)·max(log1p(−ŷ), −100) − y·max(log ŷ, −100).
        "cross_entropy": softmax + nn.CrossEntropyLoss, the mean over the rows; y holds int class labels (n,) or
            one-hot / probability rows (n, classes).
        For the other losses y is (n, outputs); with one output, a 1-D y (n,) is taken as a column.

    Optimizers (torch.optim's formulas, state kept in the network and updated in place)
        "sgd": g = grad + weight_decay·p; with momentum: buf = momentum·buf + g, g = g + momentum·buf if nesterov
            else buf; p = p − learning_rate·g.
        "adam": t += 1; g = grad + weight_decay·p; m = lerp(m, g, 1 − β1) (torch's two-sided formula:
            with w = 1 − β1, m + w·(g − m) if w < 0.5, else g − (g − m)·(1 − w)); v = β2·v + (1 − β2)·g·g;
            p = p + (−step_size·m) / (sqrt(v) / sqrt(1 − β2^t) + eps), step_size = learning_rate / (1 − β1^t).
        Scalars are computed in float64 and rounded to dtype, as torch does for float32 tensors.
        momentum and nesterov are used by sgd only, betas and eps by adam only (checked, otherwise ignored).
        learning_rate and weight_decay can be changed between calls (net.learning_rate = 0.001).

    Parameters and reproducibility
        net.params is the list of (W, b) pairs, W (fan_in, fan_out) and b (fan_out,), C-contiguous arrays of
        `dtype` (float32 or float64; the computation runs in it) that the C core updates in place. Read them, or
        assign into them (W[...] = values). Initialization is PyTorch's nn.Linear default: with
        rng = np.random.default_rng(seed), for each layer in order W = rng.uniform(−k, k, (fan_in, fan_out)) and
        then b = rng.uniform(−k, k, fan_out), k = 1/√fan_in, drawn in float64 and cast to dtype; then the
        state of the mini-batch shuffler (xoshiro256**, 4 × uint64, redrawn while all zero) is
        rng.integers(0, 2**64 − 1, size=4, dtype=np.uint64, endpoint=True). The same seed therefore gives
        bit-identical training; seed=None draws a fresh one from the OS.

    Methods
        forward(X) → the output activation's values (n, outputs).
        predict(X) → lecture, mse: forward(X); bce: (ŷ >= 0.5) as int64 (n, outputs); cross_entropy: the argmax
            class index, int64 (n,).
        predict_proba(X) → bce, cross_entropy: the sigmoid / softmax outputs (ValueError for other losses).
        loss(X, y) → float. gradients(X, y) → [(dW, db), …], ∂loss/∂param as new arrays; nothing is updated.
        step(X, y) → one optimizer step on this batch; returns the loss before it.
        fit(X, y, epochs, batch_size=None, shuffle=True, verbose=0, callback=None, progress=False) → the
            per-epoch mean losses, float64. batch_size=None: the whole batch in the given order. verbose=N prints
            `Epoch: e, Loss: l` when e % N == 0 (True: every epoch); callback(epoch, loss) runs after every epoch
            and stops training by returning True; progress=True shows a tqdm bar (ImportError without tqdm).
            See fit's docstring.
        save(path) / MLP.load(path): an .npz file with the configuration, the parameters, the optimizer state and
            the shuffle RNG state; a loaded network continues bit-identically.

    Attributes (read only unless noted)
        params (a list, see above), layer_sizes (tuple), n_layers, activations (every layer's, a tuple),
        activation, output_activation, loss_name, optimizer, learning_rate (writable), momentum, nesterov, betas,
        eps, weight_decay (writable), dtype, seed, leaky_slope; get_config() → the constructor's keyword
        arguments as a dict.

    Data X (n, inputs) and y may be any real numeric arrays (or nested lists); they are cast to dtype and never
    modified. Bad arrays (shapes, dtypes, labels out of range, NaN labels) raise TypeError or ValueError before
    anything is written, so the parameters and the optimizer state are left as they were.
    """

    _MAX_LAYERS = 64  # the C core's MLP_MAX_LAYERS

    def _net_forward(self, X):
        return _core.net_forward(X, self._weights(), self._biases(), self._activations, self._leaky_slope)

    def _net_loss(self, X, y, grads):
        return _core.net_loss(X, y, self._weights(), self._biases(), self._activations, self._leaky_slope,
                              self._loss, grads)

    def _net_fit(self, X, y, epochs, batch_size, shuffle):
        return _core.net_fit(X, y, self._weights(), self._biases(), self._activations, self._leaky_slope,
                             self._loss, self._optimizer, self._hyper(), self._optimizer_state(), epochs,
                             batch_size, shuffle, self._rng)
