"""mlpext.network — general multilayer perceptrons trained in place by mlpext's C core (exported as mlpext.MLP).

`_NetBase` is the part of mlpext.MLP that is not arithmetic: checking the configuration, initializing the
parameters and the optimizer state, the `fit` loop's printing / callback / progress bar, `predict`,
`predict_proba`, `save` and `load`. A subclass supplies three computations:

    _net_forward(X, where)                    -> the network's output
    _net_loss(X, y, grads, where, vector)     -> the loss (float); fills grads (list of 2L arrays) if given
    _net_fit(X, y, epochs, batch_size, shuffle, where, vector, record) -> float64 losses of each epoch;
                                                 updates the parameters, the optimizer state and the shuffle RNG
                                                 state in place; once every epoch ran, also appends the losses to
                                                 the list record (if given) before it returns
    (where and vector, with defaults: the public method called and whether the caller's y was 1-D, made a
    column by _prepare_y; for the names and shapes in an error's message)

`MLP` supplies them from the C core; the NumPy oracle `mlpext.reference_net.NumpyMLP` supplies them in plain
NumPy, so a file saved by one loads into the other.
"""
import contextlib
import difflib
import functools
import inspect
import io
import json
import math
import numbers
import os
import re
import shutil
import stat
import struct
import time
import zipfile
import zlib

import numpy as np

from mlpext import _core

__all__ = ["MLP"]

# The activations offered for hidden and for output layers, from the C core's activation table.
HIDDEN_ACTIVATIONS = tuple(_core.build_info()["hidden_activations"])
OUTPUT_ACTIVATIONS = tuple(_core.build_info()["output_activations"])
# The losses, from the C core's loss table: {name: {"natural_output", "requires_natural_output",
# "classification", "labels", "mean"}} (see mlp_loss_info in csrc/mlp.h).
LOSS_TABLE = _core.build_info()["losses"]
LOSSES = tuple(LOSS_TABLE)
# The optimizers, from the C core's optimizer table (their state's layout: state_names).
OPTIMIZERS = tuple(_core.build_info()["optimizers"])
# The default weight_decay of each optimizer where it is not 0, as in torch.optim (AdamW's decoupled decay).
DEFAULT_WEIGHT_DECAY = {"adamw": 0.01}
# State buffers that hold running means of squares: a square root is taken of them, so a file's must be >= 0.
SQUARE_STATE = ("exp_avg_sq", "square_avg")
CLASSIFICATION_LOSSES = tuple(name for name, row in LOSS_TABLE.items() if row["classification"])
# The output activation that output_activation=None picks for each loss.
NATURAL_OUTPUT = {name: row["natural_output"] for name, row in LOSS_TABLE.items()}
# The output activation a loss requires, if it requires one (its gradient is fused with it).
REQUIRED_OUTPUT = {name: row["natural_output"] for name, row in LOSS_TABLE.items()
                   if row["requires_natural_output"]}

SAVE_FORMAT = "mlpext.MLP"
SAVE_VERSION = 2  # version 1 (no "alpha" in the configuration) is read too



# ------------------------------------------------------------------------------------------------------------
# Configuration checks
# ------------------------------------------------------------------------------------------------------------

def _name(value, what, choices):
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, one of {', '.join(map(repr, choices))}; got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value


# Not numbers although numbers.Real and numbers.Integral take them: bools, and NumPy's timedelta64 (a signedinteger
# to NumPy; float() of one with a unit fails with a message that names no parameter).
_NOT_NUMBERS = (bool, np.bool_, np.timedelta64)


def _real(value, what, low=0.0, high=math.inf, high_open=False, low_open=False):
    """value as a float in [low, high] (( for low_open, ) for high_open), finite; not a bool or a timedelta64."""
    if isinstance(value, _NOT_NUMBERS) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # an int or Fraction beyond the float range
        raise ValueError(f"{what} must be finite, got a value too large for a float") from None
    if (not math.isfinite(value) or value < low or value > high or (high_open and value == high)
            or (low_open and value == low)):
        if math.isfinite(high):
            interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        else:
            interval = f"{'>' if low_open else '>='} {low:g}"
        raise ValueError(f"{what} must be finite and {interval}, got {value!r}")
    return value


def _as_array(value, what):
    """value as an ndarray (itself if it is one); NumPy's failure to make one (a ragged list, an __array__ that
    returns something else) is the TypeError naming `what` that the computation's own checks raise."""
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a real numeric array, got {type(value).__name__} that NumPy cannot turn "
                        f"into one ({exc})") from None


_CORE_ENTRIES = ("MLP.forward()", "MLP.loss()", "MLP.fit()")  # the names the computation's entry points give
_CORE_LISTS = re.compile(r"\b(weights|biases)\[(\d+)\]")  # its list arguments: params[k][0], params[k][1]


_CORE_Y_COLUMN = re.compile(r"^(: y must have shape \((\d+), 1\))(.*, got shape )\((\d+), 1\)$", re.S)


def _name_core_error(exc, where, vector=False):
    """exc, raised by the computation for the public method `where`, named as the caller knows things: the
    computation's entry points name themselves (MLP.forward, MLP.loss, MLP.fit, which predict, gradients and step
    call too) and the parameters as their list arguments weights[k] and biases[k], which are params[k][0] and
    params[k][1]. vector: the caller's y was 1-D, and the computation got it as a column (_prepare_y); a shape
    error then gives the shape the caller passed, and says that (n,) is taken too. The exception keeps its type
    and attributes; only its message changes."""
    text = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else ""
    entry = next((e for e in _CORE_ENTRIES if text.startswith(e)), None)
    if entry is not None:
        text = _CORE_LISTS.sub(lambda m: f"params[{m[2]}][{0 if m[1] == 'weights' else 1}]", text[len(entry):])
        if vector:
            text = _CORE_Y_COLUMN.sub(lambda m: f"{m[1]} or ({m[2]},){m[3]}({m[4]},)", text)
        exc.args = (f"{where}(){text}",)


def _count(value, what, low=0):
    if isinstance(value, _NOT_NUMBERS) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < low:
        raise ValueError(f"{what} must be >= {low}, got {value}")
    return value


def state_names(optimizer, momentum):
    """The optimizer's state in net_fit's order, from the C core's table: "step" (the step count, int64 (1,)) if it
    keeps one, then the name of each buffer that stands for one array per parameter (W0, b0, W1, b1, ...)."""
    return _core.optimizer_state(optimizer, momentum)


def _float_dtype(dtype):
    if dtype is None:  # (np.dtype(None) is float64, not this class's default)
        raise TypeError("dtype must be float32 or float64, got None")
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

    def __init__(self, *args, **kwargs):
        try:
            _CONFIG_SIGNATURE.bind(*args, **kwargs)
        except TypeError as exc:  # Python's own message would name _NetBase.__init__, not the public class
            raise TypeError(_signature_message(type(self).__name__, exc, kwargs)) from None
        self._set_config(self._check_config(*args, **kwargs))
        self._initialize()

    @classmethod
    def _check_config(cls, layer_sizes, activation="relu", output_activation=None, loss="mse", optimizer="sgd",
                      learning_rate=0.01, momentum=0.0, nesterov=False, betas=(0.9, 0.999), eps=1e-8,
                      weight_decay=None, dtype=np.float32, seed=None, leaky_slope=0.01, alpha=0.99):
        """The constructor's arguments checked and normalized, as a dict; allocates nothing (load() checks a
        file's configuration with it before any array is made)."""
        # --- layer sizes
        if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
            raise TypeError(f"layer_sizes must be a sequence of ints, got {type(layer_sizes).__name__}")
        sizes = tuple(_count(s, f"layer_sizes[{k}]", low=1) for k, s in enumerate(layer_sizes))
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs at least 2 entries (inputs and outputs), got {list(sizes)}")
        n_layers = len(sizes) - 1
        if cls._MAX_LAYERS is not None and n_layers > cls._MAX_LAYERS:
            raise ValueError(f"{cls.__name__} supports up to {cls._MAX_LAYERS} weight layers "
                             f"({cls._MAX_LAYERS + 1} layer sizes), got {n_layers}")
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
        if loss == "cross_entropy" and sizes[-1] == 1:
            # softmax over one unit is 1 whatever the input: the loss is 0 and nothing would be learnt
            raise ValueError("loss 'cross_entropy' needs one output per class (at least 2); with "
                             "layer_sizes[-1] = 1 it learns nothing. For two classes use layer_sizes=[..., 2] "
                             "with labels 0/1, or loss='bce' with one sigmoid output")
        # --- optimizer and its hyperparameters
        optimizer = _name(optimizer, "optimizer", OPTIMIZERS)
        learning_rate = _real(learning_rate, "learning_rate")
        momentum = _real(momentum, "momentum")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")
        nesterov = bool(nesterov)
        if optimizer == "sgd" and nesterov and momentum == 0:
            raise ValueError("nesterov=True requires momentum > 0")
        if optimizer == "rmsprop" and momentum != 0:  # torch's RMSprop has it; this one has not: no silent change
            raise ValueError(f"optimizer 'rmsprop' takes no momentum (it is torch.optim.RMSprop with momentum=0), "
                             f"got momentum={momentum!r}")
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        betas = (_real(beta1, "betas[0]", 0.0, 1.0, True), _real(beta2, "betas[1]", 0.0, 1.0, True))
        eps = _real(eps, "eps", low_open=True)  # eps = 0 divides 0 by 0 on a unit whose gradient is 0
        if weight_decay is None:
            weight_decay = DEFAULT_WEIGHT_DECAY.get(optimizer, 0.0)
        weight_decay = _real(weight_decay, "weight_decay")
        alpha = _real(alpha, "alpha", 0.0, 1.0)
        if alpha != 0.99 and optimizer != "rmsprop":  # scikit-learn's alpha is an L2 penalty: no silent no-op
            raise ValueError(f"alpha is RMSprop's smoothing constant (optimizer='rmsprop'); optimizer {optimizer!r} "
                             f"does not use it (for an L2 penalty, pass weight_decay), got alpha={alpha!r}")
        leaky_slope = _real(leaky_slope, "leaky_slope")
        dtype = _float_dtype(dtype)
        if optimizer in ("adam", "adamw", "rmsprop") and dtype.type(eps) == 0:  # 0 / 0 again, in the network's dtype
            raise ValueError(f"eps must not round to 0 in {dtype.name} (its smallest positive value is "
                             f"{float(np.finfo(dtype).smallest_subnormal):.3g}), got {eps!r}")
        if seed is not None:
            seed = _count(seed, "seed")
        return dict(layer_sizes=sizes, activation_config=activation_config,
                    activations=hidden + (output_activation,), loss=loss, optimizer=optimizer,
                    learning_rate=learning_rate, momentum=momentum, nesterov=nesterov, betas=betas, eps=eps,
                    weight_decay=weight_decay, dtype=dtype, seed=seed, leaky_slope=leaky_slope, alpha=alpha)

    def _set_config(self, c):
        self._layer_sizes = c["layer_sizes"]
        self._activation_config = c["activation_config"]
        self._activations = c["activations"]
        self._loss = c["loss"]
        self._optimizer = c["optimizer"]
        self._learning_rate = c["learning_rate"]
        self._momentum = c["momentum"]
        self._nesterov = c["nesterov"]
        self._betas = c["betas"]
        self._eps = c["eps"]
        self._weight_decay = c["weight_decay"]
        self._dtype = c["dtype"]
        self.__dict__.pop("_expect", None)  # (derived from the configuration: made again when next asked for)
        self._seed = c["seed"]
        self._leaky_slope = c["leaky_slope"]
        self._alpha = c["alpha"]

    def _initialize(self):
        """Fresh parameters, shuffle RNG state and optimizer state, from the seed."""
        sizes, dtype, seed = self._layer_sizes, self._dtype, self._seed
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

        # --- optimizer state, zero (torch's first step is the same as starting from zeros), in the C core's layout
        self._state = []
        for name in state_names(self._optimizer, self._momentum):
            if name == "step":
                self._state.append(np.zeros(1, dtype=np.int64))
            else:
                self._state += [np.zeros_like(a) for pair in self.params for a in pair]

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
        """The loss: one of LOSSES ("lecture", "mse", "bce", "cross_entropy", "mae")."""
        return self._loss

    @property
    def optimizer(self):
        """The optimizer: one of OPTIMIZERS ("sgd", "adam", "rmsprop", "adamw")."""
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
        """The weight decay: weight_decay·p added to each gradient (sgd, adam, rmsprop: an L2 penalty), or for adamw
        decoupled, p = p·(1 − learning_rate·weight_decay) before the step. Writable: takes effect at the next step
        or fit."""
        return self._weight_decay

    @weight_decay.setter
    def weight_decay(self, value):
        self._weight_decay = _real(value, "weight_decay")

    momentum = property(lambda self: self._momentum, doc="SGD's momentum (0: plain SGD).")
    nesterov = property(lambda self: self._nesterov, doc="SGD with Nesterov momentum.")
    betas = property(lambda self: self._betas, doc="Adam's and AdamW's (beta1, beta2).")
    eps = property(lambda self: self._eps, doc="Adam's, AdamW's and RMSprop's epsilon.")
    alpha = property(lambda self: self._alpha, doc="RMSprop's smoothing constant.")
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
            "alpha": self._alpha,
        }

    def __repr__(self):
        c = self.get_config()
        parts = [f"{c['layer_sizes']!r}", f"activation={c['activation']!r}",
                 f"output_activation={c['output_activation']!r}", f"loss={c['loss']!r}",
                 f"optimizer={c['optimizer']!r}", f"learning_rate={c['learning_rate']!r}"]
        if self._optimizer == "sgd" and self._momentum:
            parts += [f"momentum={self._momentum!r}", f"nesterov={self._nesterov!r}"]
        if self._optimizer in ("adam", "adamw"):
            parts += [f"betas={self._betas!r}", f"eps={self._eps!r}"]
        if self._optimizer == "rmsprop":
            parts += [f"alpha={self._alpha!r}", f"eps={self._eps!r}"]
        if self._weight_decay != DEFAULT_WEIGHT_DECAY.get(self._optimizer, 0.0):
            parts.append(f"weight_decay={self._weight_decay!r}")
        if "leaky_relu" in self._activations:
            parts.append(f"leaky_slope={self._leaky_slope!r}")
        parts += [f"dtype=np.{self._dtype.name}", f"seed={self._seed!r}"]
        return f"{type(self).__name__}({', '.join(parts)})"

    # --- pieces the subclasses pass to their computations

    @functools.cached_property
    def _expect(self):
        """(dtype number, *layer_sizes): the configuration the computation holds the parameters to (its expect=
        argument). It checks that they agree with each other, with X, y and the optimizer state; all of them
        replaced by arrays of another dtype or other sizes agree with each other, and would run another network
        than this one (one save() could not write). Derived, not set, so a network pickled before it existed has
        it too."""
        return (self._dtype.num, *self._layer_sizes)

    def _weights(self):
        return [W for W, _ in self.params]

    def _biases(self):
        return [b for _, b in self.params]

    def _check_layers(self, where):
        """TypeError (not an array, another dtype) or ValueError (another count or shape) naming params[k][i], unless
        net.params holds one (W, b) pair per layer of the configuration's dtype and shapes (layer_sizes): for
        save(), whose file load() would refuse otherwise (the computations check the same with expect=)."""
        sizes = self._layer_sizes
        if len(self.params) != len(sizes) - 1:
            raise ValueError(f"{where}(): params must hold {len(sizes) - 1} (W, b) pairs, one per layer of "
                             f"layer_sizes {list(sizes)}, got {len(self.params)}")
        for k, (W, b) in enumerate(self.params):
            for i, a, shape in ((0, W, tuple(sizes[k:k + 2])), (1, b, (sizes[k + 1],))):
                if not isinstance(a, np.ndarray):
                    raise TypeError(f"{where}(): params[{k}][{i}] must be a numpy array, got {type(a).__name__}")
                if a.dtype != self._dtype:
                    raise TypeError(f"{where}(): params[{k}][{i}] must have the network's dtype {self._dtype}, got "
                                    f"{a.dtype}")
                if a.shape != shape:
                    raise ValueError(f"{where}(): params[{k}][{i}] must have shape {shape} (layer_sizes "
                                     f"{list(sizes)}), got shape {a.shape}")

    def _hyper(self):
        beta1, beta2 = self._betas
        return (self._learning_rate, self._momentum, self._nesterov, beta1, beta2, self._eps,
                self._weight_decay, self._alpha)

    def _optimizer_state(self):
        """The state arrays in net_fit's layout (state_names)."""
        return self._state

    def _state_by_name(self):
        """{name: the step count array, or the list of one array per parameter} of the optimizer's state."""
        out, k, P = {}, 0, 2 * self.n_layers
        for name in state_names(self._optimizer, self._momentum):
            if name == "step":
                out[name], k = self._state[k], k + 1
            else:
                out[name], k = self._state[k:k + P], k + P
        return out

    def _prepare_y(self, y):
        """(y, vector): y as given, except that a 1-D y becomes a column when the network has one output and the
        loss is not cross_entropy (vector is then True, for the computations' errors to name it by the shape
        given), and that cross_entropy's 1-D y must hold integers (class labels)."""
        if self._loss == "cross_entropy":
            y = _as_array(y, "y")
            if y.ndim == 1 and y.dtype.kind not in "iu":
                raise ValueError(f"cross_entropy takes y as int class labels (n,) or as rows (n, classes); got a "
                                 f"1-D array of dtype {y.dtype} (if these are labels, pass y.astype(int))")
        elif self._layer_sizes[-1] == 1:
            y = _as_array(y, "y")
            if y.ndim == 1:
                return y.reshape(-1, 1), True
        return y, False

    @staticmethod
    def _rows(X):
        """The number of rows of X (0 if X is not at least 1-D); the computation reports bad shapes."""
        try:
            shape = np.shape(X)
        except (TypeError, ValueError):  # NumPy cannot make an array of X: the computation says so, naming X
            return 0
        return shape[0] if len(shape) >= 1 else 0

    # --- the public methods

    def forward(self, X):
        """The network's output for X (n, inputs): the output activation's values, (n, outputs)."""
        return self._net_forward(X)

    def predict(self, X):
        """Predictions for X.

        Regression losses (lecture, mse, mae): forward(X). bce: (sigmoid output >= 0.5) as int64, (n, outputs).
        cross_entropy: the index of the largest output, int64 (n,). An integer cannot be NaN: a row whose outputs
        are NaN (NaN in X, or a network that diverged) predicts 0; predict_proba shows the NaN.
        """
        out = self._net_forward(X, "MLP.predict")
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
        return self._net_forward(X, "MLP.predict_proba")

    def loss(self, X, y):
        """The loss of the network on (X, y), a float. Nothing is updated."""
        y, vector = self._prepare_y(y)
        return self._net_loss(X, y, None, vector=vector)

    def gradients(self, X, y):
        """∂loss/∂param on (X, y): a list of (dW, db) pairs of new arrays, one per layer. Nothing is updated.

        For loss="lecture", the gradient of ½·Σ(y − ŷ)², the objective whose step the lecture takes (loss() reports
        the figure the lecture prints, mean |y − ŷ|)."""
        flat = [np.empty_like(a) for pair in self.params for a in pair]
        y, vector = self._prepare_y(y)
        self._net_loss(X, y, flat, "MLP.gradients", vector=vector)
        return [(flat[2 * k], flat[2 * k + 1]) for k in range(len(flat) // 2)]

    def step(self, X, y):
        """One optimizer step on the batch (X, y), in place; returns the loss before the step."""
        y, vector = self._prepare_y(y)
        losses = self._net_fit(X, y, 1, max(self._rows(X), 1), False, "MLP.step", vector=vector)
        return float(losses[0])

    def fit(self, X, y, epochs, batch_size=None, shuffle=True, verbose=0, callback=None, progress=False, comm=None):
        """Train for `epochs` epochs on (X, y), in place; returns each epoch's mean loss (float64 array).

        batch_size: None trains on the whole batch at once, in the given order (no shuffling); an int k splits
            each epoch into consecutive mini-batches of k rows (the last may be smaller), in an order reshuffled
            every epoch when shuffle is true. An epoch's loss is the sample-weighted mean of its mini-batches'
            losses, each taken before that mini-batch's update.
        verbose: 0/False prints nothing; N (an int >= 1) prints the lecture's line `Epoch: e, Loss: l` after
            every epoch e with e % N == 0, counting this call's epochs from 0 (as mlpext.train(log_every=N));
            True is the same as 1: every epoch. l is the epoch's mean loss (the figure fit returns, the loss the
            optimizer minimises; for loss="lecture" the mean |y − ŷ| the lecture's script prints) with 4
            significant digits.
        callback: called as callback(epoch, loss) after every epoch (epoch counted from 0 in this call), with
            the network in its state after that epoch. If it returns True, training stops there and the
            returned history holds the epochs run.
        progress: show a tqdm progress bar (needs the tqdm package; ImportError if it is missing).

        Without verbose, callback or progress, all epochs run in one call to the computation; otherwise the
        computation returns to Python every few epochs (every epoch with a callback). The results are the same.

        comm: an mpi4py communicator trains data-parallel across its ranks (X, y: this rank's rows; the data set is
            their concatenation in rank order); see mlpext.distributed. None: this process alone.

        Data: X and a real-valued y may hold NaN or ±inf; they propagate through the arithmetic (a NaN target
        gives a NaN loss and NaN parameters after the step that uses it), nothing is rejected for them. Integer
        class labels (cross_entropy's 1-D y) must be in [0, outputs): ValueError otherwise, before anything is
        written. Every hyperparameter is finite (checked when it is set).

        An exception after training began: Ctrl-C (KeyboardInterrupt) or an exception from callback, from
        verbose's printing (sys.stdout raising, e.g. BrokenPipeError) or from the progress bar propagates with
        three attributes saying what this call applied: exc.mlpext_epochs, the number of complete epochs (int);
        exc.mlpext_losses, their mean losses (float64 array of that length, what fit would have returned for
        them); exc.mlpext_batches, the mini-batch steps applied in the epoch that was cut short (int, 0 when it
        stopped between epochs). The parameters, the optimizer state and the shuffle RNG state are exactly as
        after those steps. Errors from the checks of X and y carry them too (mlpext_epochs = 0 when nothing was
        written); the checks of fit's own arguments come before training and add nothing.
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
                                  "pip install tqdm, or pip install \".[progress]\" from a checkout of mlpext "
                                  "(or pass progress=False)") from None
        shuffle = bool(shuffle)
        try:  # the checks of X and y: their errors carry mlpext_epochs = 0 as the computation's do
            X = _as_array(X, "X")
            y, vector = self._prepare_y(y)
        except BaseException as exc:
            _record_run(exc, np.empty(0), from_computation=False)
            raise
        if batch_size is None:
            batch_size, shuffle = max(self._rows(X), 1), False

        # The computation appends the losses of a call that ran every epoch to `record` before returning: a signal
        # the interpreter raises as it returns (after the computation's last check) then still finds them there.
        record = []
        if not (verbose or callback is not None or progress):
            try:
                return self._net_fit(X, y, epochs, batch_size, shuffle, vector=vector, record=record)
            except BaseException as exc:
                _record_run(exc, record[0] if record else np.empty(0), from_computation=not record)
                raise

        try:
            history = np.empty(epochs, dtype=np.float64)
        except (MemoryError, ValueError):  # (NumPy's "array is too big" is a ValueError): as the computation says it
            exc = MemoryError(f"MLP.fit(): the loss history of {epochs} epochs ({epochs * 8 / 2**30:.1f} GiB) does "
                              "not fit in memory; run fewer epochs per call")
            _record_run(exc, np.empty(0), from_computation=False)
            raise exc from None
        done = 0
        chunk = 1  # with a progress bar alone: grown so that each call lasts about 0.1 s
        write = print
        applied, computing = 0, False  # epochs applied by this call (history[:applied]); in the computation
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
                computing = True
                self._net_fit(X, y, stop - done, batch_size, shuffle, vector=vector, record=record)
                history[done:stop] = record[0]  # (read, not popped: an interrupt before the next line finds it)
                applied, computing = stop, False
                record.clear()
                elapsed = time.perf_counter() - started
                halt = False
                for e in range(done, stop):
                    loss = float(history[e])
                    if verbose and e % verbose == 0:
                        write(self._verbose_line(e, loss))
                    if callback is not None:
                        result = callback(e, loss)
                        halt = isinstance(result, (bool, np.bool_)) and bool(result)
                if bar is not None:
                    bar.update(stop - done)
                    bar.set_postfix(loss=f"{history[stop - 1]:.4g}", refresh=False)
                    # from the epochs this call ran (a callback's or verbose's calls run fewer than chunk)
                    ran = stop - done
                    chunk = max(1, min(ran * 4, int(ran * 0.1 / max(elapsed, 1e-9))))
                done = stop
                if halt:
                    break
            if bar is not None:
                bar, closing = None, bar
                closing.close()  # (an error here still says what ran: every epoch done)
        except BaseException as exc:
            if computing and record:  # every epoch of the call ran: raised as it returned, or just after
                history[done:stop] = record[0]
                applied, computing = stop, False
            _record_run(exc, history[:applied], from_computation=computing)
            if bar is not None:  # the bar's last write failing too (a closed stderr) must not replace exc
                with contextlib.suppress(Exception):
                    bar.close()
            raise
        return history if done == epochs else history[:done].copy()

    def _verbose_line(self, epoch, loss):
        """verbose's line: the lecture's `Epoch: e, Loss: l`, l with 4 significant digits (a regression loss of
        3e-5 is not 0.0000)."""
        return f"Epoch: {epoch}, Loss: {loss:.4g}"

    # --- files

    def save(self, path):
        """Save the configuration, the parameters, the optimizer state and the shuffle RNG state to an .npz file
        (NumPy's zip of .npy arrays; the configuration is JSON text; no pickles). load() gives back a network
        that continues bit-identically.

        path: a file name (str, bytes or os.PathLike), written exactly as given (no ".npz" is appended), or a writable
        binary file object (a text-mode file is a TypeError).

        An error while saving (a full disk, Ctrl-C) leaves no half-written file under a file name: a new file is
        removed, and an existing one that is yours to replace (a regular file you own and may write, with no other
        hard link) is only replaced once the archive is complete (written beside it, then os.replace; its
        permission bits are kept), unless no new file can be made in its folder. Any other existing path is written
        in place, as open(path, "wb") would: a read-only file is a PermissionError, a device or FIFO is written to,
        a hard link stays linked.
        """
        self._check_layers("MLP.save")  # (a file load() would refuse)
        arrays = {"config": np.array(json.dumps({"format": SAVE_FORMAT, "version": SAVE_VERSION,
                                                 "config": self.get_config()})),
                  "rng": self._rng}
        for k, (W, b) in enumerate(self.params):
            arrays[f"W{k}"] = W
            arrays[f"b{k}"] = b
        for k, a in enumerate(self._state):
            arrays[f"state{k}"] = a
        if isinstance(path, (str, bytes, os.PathLike)):
            _write_whole(path, lambda f: np.savez(f, **arrays))
        else:
            _binary_file(path, "save", "write")
            np.savez(path, **arrays)

    @classmethod
    def load(cls, path):
        """A network read from a file written by save() (by mlpext.MLP or NumpyMLP): a file name or a readable,
        seekable binary file object.

        The file is checked before anything is built: the archive's member list and every member's .npy header
        (dtype, shape, order) against the configuration, and each member's size against what the file can hold,
        so a small hostile file cannot make load allocate or inflate more than the network it describes; then the
        arrays are allocated once and each member is read straight into its array. Then the values: the shuffle
        RNG state must not be all zero, an optimizer's step count t must be non-negative and its running means of
        squares (exp_avg_sq, square_avg) >= 0. Files of the first format (before alpha) load too.
        No pickle is ever read. Anything that is not such a file (not a regular file, not a zip archive, a
        damaged or truncated one, a configuration or array that does not match) is a ValueError naming the
        file; a failure to read it is an OSError; an object that is not a binary file (None, a text-mode file) is
        a TypeError."""
        if isinstance(path, (str, bytes, os.PathLike)):
            name = os.fsdecode(path)
            if not stat.S_ISREG(os.stat(path).st_mode):  # a directory, a FIFO (whose open would block), a device
                raise ValueError(f"{name}: not a regular file; {cls.__name__}.load reads .npz files written by "
                                 f"{cls.__name__}.save")
            with open(path, "rb") as f:
                return _load(cls, f, name)
        _binary_file(path, "load", "read")
        name = getattr(path, "name", None)
        return _load(cls, path, name if isinstance(name, str) else f"<{type(path).__name__} object>")


def _binary_file(f, method, access):
    """TypeError unless f is a binary file object that has the method `access` (read or write). Text is told by
    io.TextIOBase, or by probing: read(0) returns str, write(b"") refuses bytes; nothing is read or written."""
    kind = "readable" if access == "read" else "writable"
    if not callable(getattr(f, access, None)):
        raise TypeError(f"MLP.{method}(): path must be a file name (str, bytes or os.PathLike) or a {kind} binary "
                        f"file object, got {type(f).__name__}")
    text = isinstance(f, io.TextIOBase)
    if not text and access == "read":
        text = isinstance(f.read(0), str)
    elif not text:
        try:
            f.write(b"")
        except TypeError:
            text = True
    if text:
        raise TypeError(f"MLP.{method}(): {getattr(f, 'name', type(f).__name__)!r} is a file opened in text mode; "
                        f"open it in binary mode ('{access[0]}b')")


def _replaceable(path):
    """os.stat(path) if path is an existing regular file the caller may replace as a whole (owned, writable, one
    link): replacing it then changes nothing but its contents. None if it does not exist; False otherwise."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    mine = not hasattr(os, "geteuid") or st.st_uid == os.geteuid()
    return st if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and mine and os.access(path, os.W_OK) else False


def _write_whole(path, write):
    """write(f) into the file `path` (MLP.save's file name), leaving no half-written file on an error: see save()."""
    target = os.path.realpath(path) if os.path.islink(path) else os.fspath(path)
    st = _replaceable(target)

    def in_place():
        with open(target, "wb") as f:
            write(f)

    if st is None:  # a new file: removed if writing it fails
        try:
            in_place()
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(target)
            raise
        return
    if st is False:  # not ours to replace: in place, as open(path, "wb")
        in_place()
        return
    folder, name = (os.fsdecode(part) for part in os.path.split(target))
    temp = os.path.join(folder, f".{name[:64]}.{os.urandom(4).hex()}.tmp")  # short: any name that fits fits
    try:
        try:
            f = open(temp, "xb")
        except OSError:  # no new file can be made in that folder: the file itself, in place
            temp = None
            in_place()
            return
        with f:
            write(f)
        with contextlib.suppress(OSError):  # a file system without POSIX modes (FAT, some shares): its default
            os.chmod(temp, stat.S_IMODE(st.st_mode))
        try:
            os.replace(temp, target)
        except OSError:  # refused (a bind mount, a file held open on Windows): the finished archive, in place
            with open(temp, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.remove(temp)


def _record_run(exc, losses, from_computation):
    """Attach to exc, raised inside fit, what fit applied: mlpext_epochs, mlpext_losses, mlpext_batches.

    losses: the losses of the complete epochs fit knows were applied (the earlier chunks', and the current one's
    once the computation returned it). from_computation: exc came from the computation, which sets the same
    attributes for what it applied of its chunk (an interrupt between mini-batches); those are added after."""
    epochs, batches = len(losses), 0
    own = getattr(exc, "mlpext_epochs", None) if from_computation else None
    if isinstance(own, numbers.Integral) and not isinstance(own, bool):
        losses = np.concatenate([losses, np.asarray(getattr(exc, "mlpext_losses", ()), np.float64).ravel()])
        epochs += int(own)
        batches = int(getattr(exc, "mlpext_batches", 0))
    try:
        exc.mlpext_epochs, exc.mlpext_losses, exc.mlpext_batches = epochs, np.array(losses, np.float64), batches
    except (AttributeError, TypeError):  # an exception type that takes no attributes
        pass


# ------------------------------------------------------------------------------------------------------------
# Reading a saved network: headers first, then one allocation, then the data straight into place
# ------------------------------------------------------------------------------------------------------------

_CONFIG_MAX_CHARS = 1 << 20  # the configuration's JSON (a few hundred characters for any MLP)
_DEFLATE_MAX_RATIO = 1032    # deflate inflates at most ~1032:1; a member claiming more is damaged or a bomb
_READ_CHUNK = 1 << 20        # bytes per read while inflating a member into its array
_MAX_STEP = 2**63 - 1        # a step count: int64's (the core's count stops there)
# What zipfile, zlib and NumPy's header parser raise for a damaged archive (a ValueError for the caller).
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, struct.error, OverflowError, ValueError,
            NotImplementedError)  # NotImplementedError: a zip feature or version zipfile does not read


def _file_layout(config):
    """{member key: (dtype, shape)} of every array save() writes for this checked configuration, in order."""
    sizes, dt = config["layer_sizes"], config["dtype"]
    layout = {"rng": (np.dtype(np.uint64), (4,))}
    shapes = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layout[f"W{k}"] = (dt, (fan_in, fan_out))
        layout[f"b{k}"] = (dt, (fan_out,))
        shapes += [(fan_in, fan_out), (fan_out,)]
    state = []
    for name in state_names(config["optimizer"], config["momentum"]):
        state += [(np.dtype(np.int64), (1,))] if name == "step" else [(dt, shape) for shape in shapes]
    for k, spec in enumerate(state):
        layout[f"state{k}"] = spec
    return layout


class _Counted:
    """A file's read(), counting the bytes read (the length of a member's .npy header)."""

    def __init__(self, f):
        self.f, self.count = f, 0

    def read(self, n=-1):
        data = self.f.read(n)
        self.count += len(data)
        return data


def _npy_header(member):
    """(shape, fortran_order, dtype, header length) of an open .npy member; reads only its header."""
    counted = _Counted(member)
    version = np.lib.format.read_magic(counted)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(counted)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(counted)
    else:
        raise ValueError(f".npy format version {version[0]}.{version[1]} (save() writes 1.0)")
    return shape, fortran, dtype, counted.count


def _read_exact(member, view, what):
    """Fill the byte memoryview `view` from member, in chunks; the member must end exactly there (which also
    makes zipfile check its CRC)."""
    done, n = 0, len(view)
    while done < n:
        chunk = member.read(min(_READ_CHUNK, n - done))
        if not chunk:
            raise ValueError(f"{what} ends after {done} of its {n} bytes")
        view[done:done + len(chunk)] = chunk
        done += len(chunk)
    if member.read(1):
        raise ValueError(f"{what} has data after its {n} bytes")


def _opening_kind(f):
    """What a file that is not a zip archive looks like, for the message."""
    try:
        f.seek(0)
        start = f.read(8)
    except (OSError, ValueError):
        return "not a zip archive"
    if start.startswith(b"\x93NUMPY"):
        return "an .npy file (one array), not the .npz archive save() writes"
    if start.startswith(b"PK"):
        return "a damaged or truncated zip archive"
    return "not a zip archive (.npz)"


def _load(cls, f, name):
    save = f"{SAVE_FORMAT}.save"
    try:
        f.seek(0, os.SEEK_END)
        size = f.tell()  # (not seek's result: io's contract gives it, some file-likes return None)
        f.seek(0)
    except (AttributeError, io.UnsupportedOperation) as exc:  # a zip archive is read from its end
        raise ValueError(f"{name}: load needs a seekable binary file ({exc})") from None
    try:
        archive = zipfile.ZipFile(f)
    except _DAMAGED as exc:
        raise ValueError(f"{name}: not a file written by {save}: {_opening_kind(f)} ({exc})") from None
    with archive:
        try:
            return _load_archive(cls, archive, size)
        except _DAMAGED as exc:
            raise ValueError(f"{name}: {exc}") from None


def _load_archive(cls, archive, size):
    save = f"{SAVE_FORMAT}.save"
    # --- the member list: .npy members only, each stored or deflated, no more than the file can hold
    members = {}
    for info in archive.infolist():
        key = info.filename[:-4]
        if not info.filename.endswith(".npy") or info.is_dir() or key in members:
            raise ValueError(f"member {info.filename!r} is not one of the arrays {save} writes")
        if info.flag_bits & 0x1:
            raise ValueError(f"member {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"member {info.filename!r} uses compression method {info.compress_type}; "
                             "save() writes stored or deflated members only")
        limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED else (
            _DEFLATE_MAX_RATIO * info.compress_size + 1024)
        if info.file_size > limit:
            raise ValueError(f"member {info.filename!r} claims {info.file_size} bytes from "
                             f"{info.compress_size} compressed bytes, more than deflate can give")
        members[key] = info
    if sum(info.compress_size for info in members.values()) > size:
        raise ValueError(f"its members claim more bytes than the file's {size}")
    if "config" not in members:
        raise ValueError(f"not a file written by {save} (no configuration member 'config.npy')")

    # --- the configuration: a 0-d str array of JSON, bounded in size
    with archive.open(members["config"]) as member:
        shape, _, dtype, header_length = _npy_header(member)
        if dtype.kind != "U" or shape != () or dtype.itemsize > 4 * _CONFIG_MAX_CHARS:
            raise ValueError(f"not a file written by {save} (its 'config' is {dtype} {shape}, not a JSON str)")
        if members["config"].file_size != header_length + dtype.itemsize:
            raise ValueError("member 'config.npy' does not hold exactly its header's array")
        text = bytearray(dtype.itemsize)
        _read_exact(member, memoryview(text), "member 'config.npy'")
    try:
        header = json.loads(str(np.frombuffer(text, dtype=dtype)[0]))
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser goes
        raise ValueError(f"not a file written by {save}: its configuration is not JSON "
                         f"({type(exc).__name__}: {exc})"[:300]) from None
    del text
    if not isinstance(header, dict) or header.get("format") != SAVE_FORMAT:
        raise ValueError(f"not a file written by {save}")
    if type(header.get("version")) is not int or header["version"] not in (1, SAVE_VERSION):  # not True, not 1.0
        raise ValueError(f"unsupported {SAVE_FORMAT} file version {header.get('version')!r}"[:300])
    config = header.get("config")
    names = set(_CONFIG_SIGNATURE.parameters)
    if header["version"] == 1:  # written before RMSprop's alpha existed
        names.discard("alpha")
    if not isinstance(config, dict) or set(config) != names:
        got = sorted(map(str, config))[:30] if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"bad configuration in the file: needs the keys {sorted(names)}, got {got}"[:500])
    try:
        checked = cls._check_config(**config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad configuration in the file: {exc}"[:500]) from None
    if header["version"] == 1 and checked["optimizer"] not in ("sgd", "adam"):
        raise ValueError(f"bad configuration in the file: version 1 had no optimizer {checked['optimizer']!r}")

    # --- every array's header against the configuration, before anything is allocated
    layout = _file_layout(checked)
    if set(members) != set(layout) | {"config"}:
        have, need = sorted(set(members) - {"config"}), sorted(layout)
        raise ValueError(f"its arrays {have[:20]} do not match the configuration, which needs {need[:20]}"
                         f"{' ...' if max(len(have), len(need)) > 20 else ''}")
    found = {}
    for key, (want_dtype, want_shape) in layout.items():
        info = members[key]
        with archive.open(info) as member:
            shape, fortran, dtype, header_length = _npy_header(member)
        if dtype.newbyteorder("=") != want_dtype or tuple(shape) != want_shape:
            raise ValueError(f"{key} is {dtype} {tuple(shape)}, the configuration needs {want_dtype} {want_shape}")
        if info.file_size != header_length + want_dtype.itemsize * math.prod(want_shape):
            raise ValueError(f"member {info.filename!r} does not hold exactly its header's array")
        found[key] = (header_length, dtype, fortran and len(want_shape) > 1 and min(want_shape) > 1)

    # --- one allocation of the final arrays; each member read straight into its array
    arrays = {}
    for key, (want_dtype, want_shape) in layout.items():
        header_length, dtype, fortran = found[key]
        target = np.empty(want_shape, dtype=want_dtype)
        # Fortran order (a transposed array's file) is read into a transposed buffer, then copied once
        into = np.empty(want_shape[::-1], dtype=want_dtype) if fortran else target
        with archive.open(members[key]) as member:
            member.read(header_length)
            _read_exact(member, memoryview(into).cast("B"), f"member '{key}.npy'")
        if fortran:
            target[...] = into.T
            del into
        if not dtype.isnative and dtype.itemsize > 1:
            target.byteswap(inplace=True)
        arrays[key] = target

    # --- values the computation relies on
    if not arrays["rng"].any():
        raise ValueError("the shuffle RNG state is all zero (xoshiro256** would draw only zeros)")
    n_layers = len(checked["layer_sizes"]) - 1
    state = [arrays[f"state{k}"] for k in range(len(layout) - 1 - 2 * n_layers)]
    k = 0
    for name in state_names(checked["optimizer"], checked["momentum"]):
        if name == "step":
            t = int(state[k][0])
            if not 0 <= t <= _MAX_STEP:
                raise ValueError(f"the optimizer's step count (state{k}) is {t}; it must be non-negative")
            k += 1
            continue
        for k in range(k, k + 2 * n_layers):
            if name in SQUARE_STATE and np.any(state[k] < 0):
                raise ValueError(f"the optimizer's {name} state{k} holds negative values (its square root is NaN)")
        k += 1
    net = cls.__new__(cls)
    net._set_config(checked)
    net.params = [(arrays[f"W{k}"], arrays[f"b{k}"]) for k in range(n_layers)]
    net._rng = arrays["rng"]
    net._state = state
    return net


# The constructor's parameters: __init__ takes *args, **kwargs and binds them to this signature itself, so that a
# wrong call names the public class (MLP(), not _NetBase.__init__()) and suggests the right name.
_CONFIG_SIGNATURE = inspect.signature(_NetBase._check_config)
_NetBase.__init__.__signature__ = _CONFIG_SIGNATURE.replace(parameters=[
    inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *_CONFIG_SIGNATURE.parameters.values()])
# Other libraries' names for the constructor's parameters (PyTorch, Keras, scikit-learn), for the hint.
_ALIASES = {
    "lr": "learning_rate", "learning_rate_init": "learning_rate", "eta": "learning_rate",
    "beta1": "betas", "beta2": "betas", "beta_1": "betas", "beta_2": "betas",
    "epsilon": "eps", "adam_epsilon": "eps",
    "activation_fn": "activation", "activation_function": "activation", "hidden_activation": "activation",
    "out_activation": "output_activation", "final_activation": "output_activation",
    "hidden_layer_sizes": "layer_sizes", "sizes": "layer_sizes", "layers": "layer_sizes", "shape": "layer_sizes",
    "loss_fn": "loss", "criterion": "loss", "solver": "optimizer", "optim": "optimizer",
    "nesterovs_momentum": "nesterov", "l2": "weight_decay", "rho": "alpha", "smoothing_constant": "alpha",
    "random_state": "seed", "negative_slope": "leaky_slope", "alpha_leaky": "leaky_slope",
}

# How the hint shows a parameter whose form differs from the other libraries' (one pair, sizes with the ends).
_HINT_FORMS = {"betas": "betas=(beta1, beta2)", "layer_sizes": "layer_sizes=[inputs, *hidden_sizes, outputs]"}


def _signature_message(cls_name, exc, kwargs):
    """The TypeError message of a constructor call that does not fit _CONFIG_SIGNATURE: as Python's, naming the
    public class, with the likely meant name for an unknown keyword."""
    names = list(_CONFIG_SIGNATURE.parameters)
    for key in kwargs:
        if key in names:
            continue
        message = f"{cls_name}() got an unexpected keyword argument {key!r}"
        guess = _ALIASES.get(key) or _ALIASES.get(key.lower())
        if guess is None:
            close = difflib.get_close_matches(key.lower(), names, n=1, cutoff=0.6)
            guess = close[0] if close else None
        if guess is not None:
            message += f"; did you mean {_HINT_FORMS.get(guess, repr(guess))}?"
        return message + f" (the parameters are {', '.join(names)})"
    return f"{cls_name}(): {exc}"


class MLP(_NetBase):
    """A multilayer perceptron whose forward pass, backpropagation, optimizer and training loop run in C.

        net = mlpext.MLP(layer_sizes, activation="relu", output_activation=None, loss="mse", optimizer="sgd",
                         learning_rate=0.01, momentum=0.0, nesterov=False, betas=(0.9, 0.999), eps=1e-8,
                         weight_decay=None, dtype=np.float32, seed=None, leaky_slope=0.01, alpha=0.99)
        history = net.fit(X, y, epochs=100, batch_size=32)

    Layers
        layer_sizes: the number of units of each layer, inputs first: [2, 3, 1] is the lecture's 2-3-1 network.
        L = len(layer_sizes) − 1 weight layers (1 to 64); layer l computes A_l = act_l(A_{l−1}·W_l + b_l).
        activation: the hidden layers' activation — "sigmoid", "tanh", "relu", "leaky_relu" (z for z > 0,
            leaky_slope·z otherwise; leaky_slope >= 0), "gelu" (nn.GELU(), the exact z·Φ(z) = z·½(1 + erf(z/√2)))
            or "identity" — or a sequence of those, one per hidden layer.
        output_activation: "sigmoid", "softmax" or "identity"; None picks the loss's natural one: lecture →
            sigmoid, mse → identity, bce → sigmoid, cross_entropy → softmax, mae → identity. bce requires sigmoid
            and cross_entropy softmax (ValueError otherwise).

    Losses (PyTorch's definitions)
        "lecture": the lecture's: the gradient of ½·Σ(y − ŷ)² summed over the batch (with SGD, exactly the
            lecture's update), reported as the figure the lecture prints, mean(|y − ŷ|).
        "mse": mean((ŷ − y)²) over all elements (nn.MSELoss).
        "mae": mean(|ŷ − y|) over all elements (nn.L1Loss); its gradient's sign(ŷ − y) is 0 where ŷ = y.
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
        "adamw": torch.optim.AdamW: p = p·(1 − learning_rate·weight_decay) (decoupled decay), then "adam"'s step
            with g = grad.
        "rmsprop": torch.optim.RMSprop (momentum=0, centered=False): g = grad + weight_decay·p;
            s = alpha·s + (1 − alpha)·g·g; p = p + (−learning_rate·g) / (sqrt(s) + eps).
        weight_decay=None is each optimizer's torch default: 0.01 for adamw, 0 for the others.
        Scalars are computed in float64 and rounded to dtype, as torch does for float32 tensors.
        momentum and nesterov are used by sgd only (rmsprop refuses momentum != 0), betas by adam and adamw, eps
        by adam, adamw and rmsprop (all checked, otherwise ignored; those three refuse an eps that rounds to 0 in
        dtype, below about 7e-46 in float32); alpha by rmsprop only (another optimizer with alpha other than its
        default 0.99 is a ValueError: scikit-learn's alpha is an L2 penalty, here weight_decay).
        The state each keeps is named by the C core's optimizer table (torch's state keys: momentum_buffer;
        step, exp_avg, exp_avg_sq; square_avg): see mlpext.network.state_names.
        learning_rate and weight_decay can be changed between calls (net.learning_rate = 0.001).

    Parameters and reproducibility
        net.params is the list of (W, b) pairs, W (fan_in, fan_out) and b (fan_out,), C-contiguous arrays of
        `dtype` (float32 or float64; the computation runs in it) that the C core updates in place. Read them, or
        assign into them (W[...] = values). Arrays put in their place must have the configuration's dtype and
        shapes (layer_sizes): every method, and save(), raises TypeError / ValueError naming params[k][i]
        otherwise, before anything is written. Initialization is PyTorch's nn.Linear default: with
        rng = np.random.default_rng(seed), for each layer in order W = rng.uniform(−k, k, (fan_in, fan_out)) and
        then b = rng.uniform(−k, k, fan_out), k = 1/√fan_in, drawn in float64 and cast to dtype; then the
        state of the mini-batch shuffler (xoshiro256**, 4 × uint64, redrawn while all zero) is
        rng.integers(0, 2**64 − 1, size=4, dtype=np.uint64, endpoint=True). The same seed therefore gives
        bit-identical training; seed=None draws a fresh one from the OS.

    Methods
        forward(X) → the output activation's values (n, outputs).
        predict(X) → lecture, mse, mae: forward(X); bce: (ŷ >= 0.5) as int64 (n, outputs); cross_entropy: the
            argmax class index, int64 (n,).
        predict_proba(X) → bce, cross_entropy: the sigmoid / softmax outputs (ValueError for other losses).
        loss(X, y) → float. gradients(X, y) → [(dW, db), …], ∂loss/∂param as new arrays; nothing is updated.
        step(X, y) → one optimizer step on this batch; returns the loss before it.
        fit(X, y, epochs, batch_size=None, shuffle=True, verbose=0, callback=None, progress=False) → the
            per-epoch mean losses, float64. batch_size=None: the whole batch in the given order. verbose=N prints
            `Epoch: e, Loss: l` when e % N == 0 (True: every epoch); callback(epoch, loss) runs after every epoch
            and stops training by returning True; progress=True shows a tqdm bar (ImportError without tqdm).
            See fit's docstring.
        save(path) / MLP.load(path): an .npz file with the configuration, the parameters, the optimizer state and
            the shuffle RNG state; a loaded network continues bit-identically. load checks the whole file against
            its configuration before it allocates (memory: the network's size plus a small constant); anything
            else is a ValueError naming the file.

    Attributes (read only unless noted)
        params (a list, see above), layer_sizes (tuple), n_layers, activations (every layer's, a tuple),
        activation, output_activation, loss_name, optimizer, learning_rate (writable), momentum, nesterov, betas,
        eps, weight_decay (writable), dtype, seed, leaky_slope, alpha; get_config() → the constructor's keyword
        arguments as a dict.

    Data X (n, inputs) and y may be any real numeric arrays (or nested lists); they are cast to dtype and never
    modified. Bad arrays (shapes, dtypes, integer class labels out of range) raise TypeError or ValueError before
    anything is written, so the parameters and the optimizer state are left as they were. NaN and ±inf are
    values, not errors: in X and in a real-valued y (targets, one-hot or probability rows) they propagate as
    IEEE arithmetic says (NaN in gives NaN out: in the outputs, the loss, and the parameters a step updates from
    them); only integer class labels are checked (in [0, outputs)). Hyperparameters must be finite: NaN or
    ±inf for learning_rate, momentum, betas, eps, weight_decay, leaky_slope or alpha is a ValueError.

    Interrupted fit: an exception that stops fit after training began (Ctrl-C, or one from callback, from
    verbose's sys.stdout, from the progress bar) carries exc.mlpext_epochs, exc.mlpext_losses and
    exc.mlpext_batches, what the call applied; see fit's docstring.
    """

    _MAX_LAYERS = 64  # the C core's MLP_MAX_LAYERS

    def _net_forward(self, X, where="MLP.forward"):
        try:
            return _core.net_forward(X, self._weights(), self._biases(), self._activations, self._leaky_slope,
                                     None, self._expect)
        except (TypeError, ValueError, MemoryError) as exc:
            _name_core_error(exc, where)
            raise

    def _net_loss(self, X, y, grads, where="MLP.loss", vector=False):
        try:
            return _core.net_loss(X, y, self._weights(), self._biases(), self._activations, self._leaky_slope,
                                  self._loss, grads, self._expect)
        except (TypeError, ValueError, MemoryError) as exc:
            _name_core_error(exc, where, vector)
            raise

    def _net_fit(self, X, y, epochs, batch_size, shuffle, where="MLP.fit", vector=False, record=None):
        try:
            return _core.net_fit(X, y, self._weights(), self._biases(), self._activations, self._leaky_slope,
                                 self._loss, self._optimizer, self._hyper(), self._optimizer_state(), epochs,
                                 batch_size, shuffle, self._rng, record, self._expect)
        except (TypeError, ValueError, MemoryError) as exc:
            _name_core_error(exc, where, vector)
            raise
