"""scikit-learn estimators backed by mlpext: ``MLPClassifier`` and ``MLPRegressor``.

They take scikit-learn's own parameter names where they overlap with
:class:`sklearn.neural_network.MLPClassifier` / ``MLPRegressor``, and train an :class:`mlpext.MLP` in C::

    from mlpext.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(64,), batch_size=32, random_state=0).fit(X_train, y_train)
    clf.predict(X_test), clf.predict_proba(X_test), clf.score(X_test, y_test)

This module needs scikit-learn (``pip install scikit-learn``, or ``pip install ".[sklearn]"`` from the root of a
checkout of mlpext); ``import mlpext`` never imports it.

What maps to what
-----------------
- ``hidden_layer_sizes``: the hidden layers; the network is ``[n_features, *hidden_layer_sizes, n_outputs]``.
- ``activation``: scikit-learn's names, ``"identity"``, ``"logistic"`` (mlpext's ``"sigmoid"``), ``"tanh"``,
  ``"relu"``; mlpext's other hidden activations (``"sigmoid"``, ``"leaky_relu"``, ``"gelu"``) are accepted too.
- ``solver``: ``"sgd"`` (with ``momentum`` and ``nesterovs_momentum``) or ``"adam"`` (``beta_1``, ``beta_2``,
  ``epsilon``). There is no ``"lbfgs"``. The learning rate is constant (``learning_rate_init``). mlpext.MLP's
  ``"rmsprop"`` and ``"adamw"`` are not offered here: scikit-learn has no such solvers, its ``alpha`` is the L2
  penalty (mlpext.MLP's ``alpha`` is RMSprop's smoothing constant), and AdamW's decoupled decay would be a second
  penalty beside ``alpha``; use :class:`mlpext.MLP` for them.
- ``alpha`` (the L2 penalty): scikit-learn adds ``0.5 * alpha * ||W||²`` to the *sum* of a batch's losses, so the
  gradient of the *mean* batch loss grows by ``(alpha / batch_size) * W``. mlpext's optimizers take a
  torch-style ``weight_decay`` that adds ``weight_decay * p`` to the mean gradient, so the classifier passes
  ``weight_decay = alpha / batch_size`` (the batch size actually used; ``partial_fit``: that call's). That is the
  same penalty per step on the weights for every full batch. Unlike scikit-learn, mlpext's weight decay also
  applies to the biases (a negligible difference at the usual values of ``alpha``).
- The regressor's loss: mlpext's MSE is ``mean((y - ŷ)²)`` over the batch's ``n·k`` values (``k`` targets), whose
  gradient is ``2/k`` times the one scikit-learn's squared loss steps by. So the regressor passes ``2/k`` times
  the classifier's weight decay, ``k/2`` times ``learning_rate_init`` with ``solver="sgd"`` (with ``"adam"``,
  whose steps do not depend on the gradient's scale, ``2/k`` times ``epsilon``), and reports half mlpext's
  loss. Each step, ``loss_``, ``loss_curve_`` and ``tol`` are then scikit-learn's (a linear model trained to
  convergence lands on ``Ridge(alpha)``), but for the L2 term scikit-learn adds to the loss it reports.
- ``batch_size``: ``"auto"`` is ``min(200, n_samples)``; an int is clipped to ``[1, n_samples]`` with a warning,
  as scikit-learn does.
- ``max_iter``, ``tol``, ``n_iter_no_change``: epochs and stopping as in scikit-learn. Training stops when the
  epoch's loss (or, with ``early_stopping=True``, the validation score) has not improved by ``tol`` for more than
  ``n_iter_no_change`` consecutive epochs; reaching ``max_iter`` first raises a ``ConvergenceWarning``. A fit
  whose loss or weights are no longer finite (it diverged: unscaled data, too large a learning rate) stops at that
  epoch and raises scikit-learn's ``ValueError`` ("Solver produced non-finite parameter weights"). With
  ``early_stopping=True``, a network whose predictions are not all finite scores NaN, as in scikit-learn from 1.6
  on, which counts as no improvement (scikit-learn's comparison would start the count again); a fit whose loss is
  no longer finite stops at that epoch (its validation score NaN) and keeps the weights of the best validation
  score, with a ``ConvergenceWarning`` saying so; it raises the ``ValueError`` only when there are none to keep (it
  diverged in its first epoch, say) or they are not finite.
- ``random_state``: an int is passed to :class:`mlpext.MLP` as its ``seed`` (so ``random_state=0`` gives the same
  initial weights as ``mlpext.MLP(..., seed=0)``); the same seed drives the shuffling. Same ``random_state``,
  same data, same result.
- ``dtype``: the precision the network computes in, ``"float64"`` (the default, as scikit-learn) or
  ``"float32"`` (faster). ``X`` and the regressor's ``y`` must be finite in it (a value beyond float32's range is
  refused, as scikit-learn refuses inf). Predictions and probabilities are returned as float64 either way.
- ``warm_start=True``: as in scikit-learn, ``fit`` starts from the weights the last fit left and takes every
  hyper-parameter as it is now, with a new optimizer (no momentum or Adam moments carried over); with other
  layer sizes it starts a new network. ``partial_fit`` goes on with the network *and* its optimizer's state, so it
  takes a changed ``learning_rate_init`` or ``alpha`` but raises ``ValueError`` for a changed solver, activation,
  optimizer setting or ``dtype`` (scikit-learn would ignore most of them silently).
- A ``fit`` or ``partial_fit`` that raises before training (bad data, bad parameters) leaves the estimator as it
  was: a fitted one keeps its network, classes and attributes; an unfitted one stays unfitted.

Losses: mlpext.MLP's ``"mae"`` is not offered (scikit-learn's ``MLPRegressor`` has no absolute-error loss). The
classifier minimises the log-loss, with one sigmoid output unit and binary cross-entropy for two
classes (as scikit-learn) and a softmax output with cross-entropy for more. The regressor minimises the mean
squared error over all outputs, reported as scikit-learn does, ``mean((y - ŷ)²) / 2`` (see ``alpha`` above).

Distributed training: ``fit(X, y, comm=comm)`` and ``partial_fit(..., comm=comm)`` train across the ranks of an
mpi4py communicator (:mod:`mlpext.distributed`): ``X``, ``y`` are this rank's rows, the data set is the
concatenation of every rank's rows, and every rank ends with the same fitted estimator (the classes and the batch
size are those of the whole data set; only rank 0 prints). A fit parameter, not a constructor one, since a
communicator belongs to the run, not to the model (``clone`` and ``get_params`` never see it); in a ``Pipeline``,
``pipe.fit(X, y, mlpclassifier__comm=comm)``. Not with ``early_stopping=True`` (each rank's validation split would
stop it at a different epoch). A ``comm`` that is neither None nor an mpi4py intracommunicator is a ``TypeError``
before anything is done: scikit-learn's ``fit(X, y, sample_weight)``, say, whose third argument is here ``comm``.

Not supported: ``solver="lbfgs"``, the ``learning_rate`` schedules ("invscaling", "adaptive"), ``power_t``,
``max_fun``, ``sample_weight`` (``fit(..., sample_weight=w)`` is a ``TypeError``), a sparse ``X`` or ``y``
(rejected with scikit-learn's usual ``TypeError``) and multi-label classification.
"""
import difflib
import functools
import inspect
import math
import numbers
import sys
import types
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, unique_labels
    from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d
    from scipy.sparse import issparse  # (a dependency of scikit-learn)
except ModuleNotFoundError as error:
    if not (error.name == "sklearn" or (error.name or "").startswith("sklearn.")):
        raise
    raise ImportError(
        "mlpext.sklearn needs scikit-learn, which is not installed: pip install scikit-learn "
        '(or, from the root of a checkout of mlpext, pip install ".[sklearn]")', name="sklearn") from None

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6
    _sk_validate_data = None

__all__ = ["MLPClassifier", "MLPRegressor"]



def _activations():
    """{name this face takes: mlpext's name}: scikit-learn's "logistic", and every hidden activation of the C
    core's activation table under its own name."""
    from mlpext.network import HIDDEN_ACTIVATIONS

    return {"logistic": "sigmoid", **{name: name for name in HIDDEN_ACTIVATIONS}}


def _check_labels_in(labels, classes):
    """ValueError if any of labels (unique) is not one of classes."""
    unknown = np.setdiff1d(labels, classes)
    if unknown.size:
        raise ValueError(f"y has labels that are not in classes_ {classes!r}: {unknown!r}")


_SOLVERS = ("sgd", "adam")
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Not numbers, although numbers.Real and numbers.Integral take them: bools, and NumPy's timedelta64 (a
# signedinteger to NumPy; a duration is no count, rate or seed).
_NOT_NUMBERS = (bool, np.bool_, np.timedelta64)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, _NOT_NUMBERS)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, _NOT_NUMBERS)


def _validate_data(estimator, *args, **kwargs):
    """scikit-learn's validate_data (>= 1.6) or the BaseEstimator._validate_data method (older)."""
    if _sk_validate_data is not None:
        return _sk_validate_data(estimator, *args, **kwargs)
    return estimator._validate_data(*args, **kwargs)  # pragma: no cover


# Names users bring from mlpext.MLP, PyTorch, Keras or older habits, and scikit-learn's parameters that this face
# does not have: what to write instead.
_RENAMED = {
    "lr": "learning_rate_init",
    "eta": "learning_rate_init",
    "learning_rate": "learning_rate_init",
    "epochs": "max_iter",
    "n_epochs": "max_iter",
    "seed": "random_state",
    "optimizer": "solver",
    "weight_decay": "alpha",
    "eps": "epsilon",
    "betas": ("beta_1", "beta_2"),
    "nesterov": "nesterovs_momentum",
    "layers": "hidden_layer_sizes",
    "hidden_sizes": "hidden_layer_sizes",
}
_NOTES = {
    "learning_rate": "scikit-learn's learning_rate is the schedule ('constant', ...); mlpext's rate is constant",
    "power_t": "mlpext has no learning-rate schedules, so no power_t",
    "max_fun": "mlpext has no 'lbfgs' solver, so no max_fun",
}


def _unexpected_keyword(cls, name, parameters):
    """Python's message for an unknown keyword, naming the public class, with the parameter probably meant."""
    message = f"{cls.__name__}() got an unexpected keyword argument {name!r}"
    meant = _RENAMED.get(name) or difflib.get_close_matches(name, parameters, n=1, cutoff=0.75)
    if meant:
        message += f"; did you mean {' and '.join(map(repr, [meant] if isinstance(meant, str) else meant))}?"
    if name in _NOTES:
        message += f" ({_NOTES[name]})"
    return message


def _public_init(init):
    """Wraps the estimators' __init__ so that a call it cannot take raises Python's TypeError naming the class
    called (MLPClassifier, not _BaseMLP) and suggesting the parameter meant. Its signature stays init's
    (inspect.signature follows __wrapped__), so scikit-learn's get_params, clone and help() see the parameters."""
    signature = inspect.signature(init)
    parameters = [name for name in signature.parameters if name != "self"]
    positional = [p.name for p in signature.parameters.values()
                  if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"]

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        cls = type(self)
        for name in kwargs:
            if name not in parameters:
                raise TypeError(_unexpected_keyword(cls, name, parameters))
        if len(args) > len(positional):
            raise TypeError(f"{cls.__name__}() takes at most {len(positional)} positional arguments "
                            f"({', '.join(positional)}) but {len(args)} were given; pass the others by name")
        for name in positional[:len(args)]:
            if name in kwargs:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
        init(self, *args, **kwargs)

    return __init__


def _public_fit(method):
    """Wraps fit and partial_fit so that a call they cannot take raises Python's TypeError naming the public class
    and method (MLPClassifier.fit(), not _BaseMLP.fit()), sample_weight with a note that it is not supported, and a
    comm that is not an mpi4py communicator (scikit-learn's sample_weight passed as the third argument, say) is a
    TypeError before anything is done. The signature stays method's (inspect.signature follows __wrapped__): no
    sample_weight in it, so scikit-learn's has_fit_parameter(est, "sample_weight") stays False."""
    signature = inspect.signature(method)
    arguments = ", ".join(name for name in signature.parameters if name != "self")

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        name = f"{type(self).__name__}.{method.__name__}"
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as error:
            unknown = [key for key in kwargs if key not in signature.parameters]
            if unknown:
                message = f"{name}() got an unexpected keyword argument {unknown[0]!r}"
                if unknown[0] == "sample_weight":
                    message += " (mlpext.sklearn does not support sample_weight)"
            else:
                message = f"{name}(): {error}"
            raise TypeError(message) from None
        comm = bound.arguments.get("comm")
        if comm is not None:
            MPI = sys.modules.get("mpi4py.MPI")  # (a communicator was made with it: imported already)
            if MPI is None or not isinstance(comm, MPI.Intracomm):
                message = (f"{name}(): comm must be an mpi4py intracommunicator or None, got "
                           f"{type(comm).__name__}")
                if isinstance(comm, (list, tuple)) or hasattr(comm, "__array__"):
                    message += f" ({name} takes {arguments}: scikit-learn's sample_weight is not supported)"
                raise TypeError(message)
        return method(self, *args, **kwargs)

    return wrapper


def _mlp_class():
    from mlpext import MLP

    return MLP


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share: parameters, validation and the training loop."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        dtype="float64",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype

    __init__ = _public_init(__init__)

    # ------------------------------------------------------------------ parameters
    def _check_params(self):
        """Validate the hyper-parameters; returns (hidden sizes tuple, mlpext activation, numpy dtype)."""
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, numbers.Integral):
            hidden = (hidden,)
        try:
            hidden = tuple(hidden)
        except TypeError:
            raise ValueError(f"hidden_layer_sizes must be an int or a sequence of ints, got {hidden!r}.") from None
        if not all(_is_int(h) and h >= 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must contain only positive ints, got {self.hidden_layer_sizes!r}.")
        if not isinstance(self.activation, str) or self.activation not in _activations():
            raise ValueError(
                f"activation must be one of {sorted(_activations())}, got {self.activation!r}."
            )
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be 'sgd' or 'adam' (mlpext has no 'lbfgs'; its 'rmsprop' and 'adamw' "
                             f"are mlpext.MLP's only), got {self.solver!r}.")
        for name, low in (("max_iter", 1), ("n_iter_no_change", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
        for name in ("learning_rate_init", "epsilon"):
            value = getattr(self, name)
            if not _is_real(value) or not 0 < value < math.inf:
                raise ValueError(f"{name} must be a finite real number > 0, got {value!r}.")
        for name in ("alpha", "tol", "momentum"):
            value = getattr(self, name)
            if not _is_real(value) or not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite real number >= 0, got {value!r}.")
        if not 0 <= self.momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {self.momentum!r}.")
        for name in ("beta_1", "beta_2"):
            value = getattr(self, name)
            if not _is_real(value) or not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}.")
        if not _is_real(self.validation_fraction) or not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}.")
        if not (_is_int(self.batch_size) or (isinstance(self.batch_size, str) and self.batch_size == "auto")):
            raise ValueError(f"batch_size must be 'auto' or an int, got {self.batch_size!r}.")
        if isinstance(self.random_state, np.timedelta64):  # an int to check_random_state, whose seeding then fails
            raise ValueError(f"random_state must be None, an int or a numpy.random.RandomState, got "
                             f"{self.random_state!r}.")
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}.")
        return hidden, _activations()[self.activation], dtype

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if not 1 <= self.batch_size <= n_samples:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        return int(np.clip(self.batch_size, 1, n_samples))

    # ------------------------------------------------------------------ the network
    # mlpext's loss against scikit-learn's, for the same outputs: the gradient of mlpext's mean batch loss is
    # _gradient_scale(n_outputs) times the gradient scikit-learn steps by, and mlpext's reported loss times
    # _LOSS_SCALE is scikit-learn's (its L2 term aside). 1 for the classifier's log-losses.
    _LOSS_SCALE = 1.0

    def _gradient_scale(self, n_outputs):
        return 1.0

    def _net_kwargs(self, loss, batch_size, activation, dtype, seed, n_outputs):
        """mlpext.MLP's keyword arguments for the current hyper-parameters: each step the step scikit-learn's
        solver takes (see the module docstring)."""
        scale = self._gradient_scale(n_outputs)
        lr_scale = scale if self.solver == "sgd" else 1.0
        kwargs = dict(
            activation=activation,
            loss=loss,
            optimizer=self.solver,
            learning_rate=self._scaled("learning_rate_init", "learning rate", lambda v: v / lr_scale,
                                       f"learning_rate_init / {lr_scale:g}", positive=True),
            weight_decay=self._scaled("alpha", "weight decay", lambda v: scale * v / batch_size,
                                      f"{scale:g} * alpha / {batch_size}", positive=False),
            dtype=dtype,
            seed=seed,
        )
        if self.solver == "sgd":
            kwargs.update(momentum=float(self.momentum),
                          nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        else:
            kwargs.update(betas=(float(self.beta_1), float(self.beta_2)),
                          eps=self._scaled("epsilon", "epsilon", lambda v: scale * v, f"{scale:g} * epsilon",
                                           positive=True))
        return kwargs

    def _scaled(self, name, what, rescale, formula, positive):
        """rescale(float(parameter `name`)): the value mlpext.MLP takes for it, checked here so that a parameter
        _check_params accepts but whose rescaling leaves the floats (alpha=1e308) raises naming it, before the
        network or its settings change (partial_fit sets the learning rate and the weight decay of the network
        it goes on with: neither may then fail)."""
        try:
            value = rescale(float(getattr(self, name)))
        except OverflowError:  # (an int beyond the floats)
            value = math.inf
        if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
            raise ValueError(f"{name}={getattr(self, name)!r} is out of mlpext's range: the {what} it gives the "
                             f"network, {formula}, is {value!r} (it must be finite and {'>' if positive else '>='} 0)")
        return value

    def _make_net(self, n_features, n_outputs, loss, batch_size, activation, hidden, dtype, seed):
        kwargs = self._net_kwargs(loss, batch_size, activation, dtype, seed, n_outputs)
        self._net = _mlp_class()([n_features, *hidden, n_outputs], **kwargs)

    def _changed_config(self, kwargs):
        """The names of the network's settings that kwargs (_net_kwargs) would make otherwise, besides the
        learning rate and weight decay (which a continued network takes as they are now)."""
        have = self._net.get_config()
        have["dtype"] = np.dtype(have["dtype"])
        have["betas"] = tuple(have["betas"])
        return [name for name, value in kwargs.items()
                if name not in ("learning_rate", "weight_decay", "seed", "loss") and have[name] != value]

    def _expose_params(self):
        self.coefs_ = [W for W, _ in self._net.params]
        self.intercepts_ = [b for _, b in self._net.params]
        self.n_layers_ = len(self.coefs_) + 1

    def __setstate__(self, state):
        """Unpickling: coefs_ and intercepts_ are the network's own arrays again. pickle restores that sharing by
        itself, but joblib (and any pickler that stores arrays on their own) brings back copies, which an edit in
        place would no longer reach and the next partial_fit would not update."""
        super().__setstate__(state)
        if hasattr(self, "_net"):
            self._expose_params()

    # ------------------------------------------------------------------ training
    def _fit(self, X, y, incremental, classes=None, comm=None, precheck=None):
        """precheck: the caller's own checks of its arguments (raising ValueError), run where the other checks
        are, so that with comm one rank's error raises on every rank."""
        saved = dict(self.__dict__)  # a fit that raises before training leaves the estimator as it was
        try:
            if comm is None and precheck is not None:
                precheck()
            training = self._prepare_fit(X, y, incremental, classes, comm, precheck)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        self._train(*training)
        return self

    def _prepare_fit(self, X, y, incremental, classes, comm, precheck=None):
        """Checks everything, then makes or updates the network; returns _train's arguments."""
        n_total = None
        if comm is not None:  # the ranks' rows are one data set: agree on its size and classes, or all raise
            X, y, classes, n_total = self._agree_on_rows(X, y, incremental, classes, comm, precheck)

        if comm is None:
            p = self._plan_fit(X, y, incremental, classes, n_total)
        else:  # every rank's checks, then one collective: any rank's error raises on every rank, and the ranks
            # must make the same network (mlpext.distributed.fit would refuse it only after this estimator changed)
            from mlpext.distributed import agree
            kept = []

            def check():
                kept.append(self._plan_fit(X, y, incremental, classes, n_total))
                return kept[0].signature

            signatures = agree(comm, check)
            p = kept[0]
            for rank, signature in enumerate(signatures[1:], 1):
                if signature != signatures[0]:
                    raise ValueError(
                        f"fit(comm=...): rank {rank} would train another network than rank 0's (the layer sizes, "
                        f"the network's settings, the batch size, shuffle and whether the estimator's network goes "
                        f"on must agree): {signature!r} against {signatures[0]!r}")

        if not p.continuing:
            self._make_net(p.X.shape[1], p.n_outputs, p.loss, p.batch_size, p.activation, p.hidden, p.dtype, p.seed)
            self.n_outputs_ = p.n_outputs
            self.out_activation_ = {"bce": "logistic", "cross_entropy": "softmax", "mse": "identity"}[p.loss]
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self.best_loss_ = np.inf
            self._no_improvement_count = 0
        elif not incremental:  # warm start: the weights go on, every hyper-parameter is taken afresh and the
            old = self._net      # optimizer starts again, as in scikit-learn
            self._make_net(p.X.shape[1], p.n_outputs, p.loss, p.batch_size, p.activation, p.hidden, p.dtype, p.seed)
            for (W, b), (W_old, b_old) in zip(self._net.params, old.params):
                W[...] = W_old
                b[...] = b_old
        else:  # partial_fit: the learning rate and alpha may have been changed with set_params
            self._net.learning_rate = p.kwargs["learning_rate"]
            self._net.weight_decay = p.kwargs["weight_decay"]
        if not incremental:
            self.n_iter_ = 0
            self._no_improvement_count = 0
        if p.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None  # as scikit-learn: the validation score is the measure
        else:
            if not p.continuing:
                self.validation_scores_ = None
                self.best_validation_score_ = None
            if self.best_loss_ is None:  # going on after an early-stopping fit, which had no best loss
                self.best_loss_ = np.inf
        return p.X, p.y_net, p.X_val, p.y_val, p.batch_size, incremental, comm, n_total

    def _plan_fit(self, X, y, incremental, classes, n_total):
        """The checks after the rows', and what the network will be: a namespace of _prepare_fit's values, whose
        `signature` the ranks of fit(comm=...) compare. Changes nothing but the seed drawn."""
        hidden, activation, dtype = self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        fitted = hasattr(self, "_net")
        # A new network for fit() (unless warm_start) and for the first partial_fit(); otherwise continue.
        continuing = fitted and (incremental or self.warm_start)
        X, y = self._validate_xy(X, y, reset=not continuing, dtype=dtype)
        y_net, n_outputs, loss = self._encode_y(y, continuing, classes, incremental)
        if continuing and self._net_sizes() != [X.shape[1], *hidden, n_outputs]:
            if incremental:
                raise ValueError(
                    f"partial_fit: the network's layer sizes {self._net_sizes()} do not match "
                    f"{[X.shape[1], *hidden, n_outputs]} (were hidden_layer_sizes changed?)")
            continuing = False  # a new network: y encoded for it
            y_net, n_outputs, loss = self._encode_y(y, False, classes, incremental)

        early_stopping = bool(self.early_stopping) and not incremental
        X_val = y_val = None
        if early_stopping:
            # stratified for two classes only, as scikit-learn does (its n_outputs_ == 1)
            stratify = y_net if isinstance(self, ClassifierMixin) and y_net.ndim == 2 else None
            X, X_val, y_net, y_val = train_test_split(
                X, y_net, random_state=np.random.RandomState(self._seed if continuing else self._draw_seed()),
                test_size=self.validation_fraction, stratify=stratify)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size "
                                 "of your dataset.")
            X, y_net = np.ascontiguousarray(X), np.ascontiguousarray(y_net)
            y_val = self._decode_y(y_val)
        batch_size = self._batch_size(X.shape[0] if n_total is None else n_total)
        seed = self._seed if early_stopping or continuing else self._draw_seed()
        kwargs = self._net_kwargs(loss, batch_size, activation, dtype, seed, n_outputs)
        if continuing and incremental:  # the network and its optimizer's state go on: nothing else may change
            changed = self._changed_config(kwargs)
            if changed:
                raise ValueError(f"partial_fit continues the network and its optimizer's state, but these "
                                 f"settings changed since it was made: {', '.join(changed)} (call fit() to "
                                 "start again)")
        signature = ([X.shape[1], *hidden, n_outputs], {k: v for k, v in kwargs.items() if k != "seed"},
                     batch_size, continuing, bool(self.shuffle))
        return types.SimpleNamespace(
            hidden=hidden, activation=activation, dtype=dtype, continuing=continuing, X=X, y_net=y_net,
            n_outputs=n_outputs, loss=loss, early_stopping=early_stopping, X_val=X_val, y_val=y_val,
            batch_size=batch_size, seed=seed, kwargs=kwargs, signature=signature)

    def _agree_on_rows(self, X, y, incremental, classes, comm, precheck=None):
        """fit(comm=...): every rank validates its rows (at least one), then one collective
        (mlpext.distributed.agree) gives the number of rows of the whole data set and, for a new classifier, its
        classes; any rank's error raises on every rank. Returns (X, y) validated, the classes to encode with and
        the number of rows."""
        from mlpext.distributed import agree
        kept = []

        def check():
            if precheck is not None:
                precheck()
            _, _, dtype = self._check_params()
            if self.early_stopping and not incremental:
                raise ValueError("early_stopping=True is not supported with comm (each rank's validation split "
                                 "would stop training at a different epoch)")
            continuing = hasattr(self, "_net") and (incremental or self.warm_start)
            Xc, yc = self._validate_xy(X, y, reset=not continuing, dtype=dtype)
            kept[:] = Xc, yc
            labels = None
            if isinstance(self, ClassifierMixin):
                labels = unique_labels(yc)
                known = self.classes_ if continuing else unique_labels(classes) if classes is not None else None
                if known is not None:
                    _check_labels_in(labels, known)
            return Xc.shape[0], labels

        reports = agree(comm, check)
        n_total = sum(n for n, _ in reports)
        if classes is None and isinstance(self, ClassifierMixin):
            classes = unique_labels(*[labels for _, labels in reports])
        return kept[0], kept[1], classes, n_total

    def _draw_seed(self):
        """The seed of a new network: random_state itself when it is an int, else one drawn from it."""
        if _is_int(self.random_state):
            self._seed = int(self.random_state)
        else:
            self._seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        return self._seed

    def _train(self, X, y, X_val, y_val, batch_size, incremental, comm=None, n_total=None):
        """The epochs: max_iter of them (one for partial_fit), with scikit-learn's stopping rule."""
        net = self._net
        n_samples = X.shape[0] if n_total is None else n_total
        verbose = self.verbose and (comm is None or comm.Get_rank() == 0)
        best_params = best_epoch = None
        diverged = False
        for _ in range(1 if incremental else self.max_iter):
            try:
                losses = net.fit(X, y, epochs=1, batch_size=batch_size, shuffle=bool(self.shuffle), comm=comm)
            except KeyboardInterrupt:
                warnings.warn("Training interrupted by user.")
                break
            loss = float(np.asarray(losses, dtype=np.float64).ravel()[-1]) * self._LOSS_SCALE
            self.n_iter_ += 1
            self.t_ += n_samples
            self.loss_ = loss
            self.loss_curve_.append(loss)
            if verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, loss))
            diverged = not math.isfinite(loss)
            if diverged:  # no later epoch mends it: stop (below: the best epoch's weights, or raise)
                if X_val is not None:
                    self.validation_scores_.append(np.nan)  # (one score an epoch: this one has none)
                break

            if X_val is not None:
                self._expose_params()
                score = self._validation_score(X_val, y_val)
                self.validation_scores_.append(score)
                if verbose:
                    print("Validation score: %f" % score)
                # NaN (non-finite predictions) is no improvement (scikit-learn's comparison resets the count)
                if not score >= self.best_validation_score_ + self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    best_params = [(W.copy(), b.copy()) for W, b in net.params]
                    best_epoch = self.n_iter_
            else:
                if loss > self.best_loss_ - self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                if loss < self.best_loss_:
                    self.best_loss_ = loss

            if self._no_improvement_count > self.n_iter_no_change:
                if verbose:
                    what = "Validation score" if X_val is not None else "Training loss"
                    print("%s did not improve more than tol=%f for %d consecutive epochs. Stopping."
                          % (what, self.tol, self.n_iter_no_change))
                break
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) reached and the optimization hasn't "
                    "converged yet." % self.max_iter,
                    ConvergenceWarning,
                )
        if best_params is not None:  # early_stopping: keep the weights of the best validation score
            for (W, b), (W_best, b_best) in zip(net.params, best_params):
                W[...] = W_best
                b[...] = b_best
        self._expose_params()
        finite = all(np.isfinite(a).all() for pair in net.params for a in pair)
        if (diverged and best_params is None) or not finite:
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large values "
                             "and need to be preprocessed.")
        if diverged:  # early_stopping, with the finite weights of an earlier epoch
            warnings.warn(f"Training diverged at epoch {self.n_iter_} (its loss is {self.loss_}): stopped there, "
                          f"with the weights of epoch {best_epoch}, the best validation score.", ConvergenceWarning)

    def _validation_score(self, X_val, y_val):
        """score(X_val, y_val) of the split fit() validated already: not validated again (a DataFrame's feature
        names, checked once, are not there to warn about). NaN when the network's outputs are not all finite, as
        scikit-learn's _score_with_function."""
        out = np.asarray(self._net.forward(X_val), dtype=np.float64)
        if not np.isfinite(out).all():
            return np.nan
        if isinstance(self, ClassifierMixin):
            return accuracy_score(y_val, self._classes_of(out))
        with np.errstate(over="ignore"):  # finite outputs whose squared errors overflow: a score of -inf
            return r2_score(y_val, self._decode_y(out))

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_net")

    def _net_sizes(self):
        return [self._net.params[0][0].shape[0]] + [W.shape[1] for W, _ in self._net.params]

    def _forward(self, X):
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=np.dtype(self._net.params[0][0].dtype), order="C",
                           accept_sparse=False)
        return np.asarray(self._net.forward(X), dtype=np.float64)

    @_public_fit
    def fit(self, X, y, comm=None):
        """Train the network on ``X`` (n_samples, n_features) and ``y`` for up to ``max_iter`` epochs.

        comm: an mpi4py communicator to train across its ranks, ``X``, ``y`` being this rank's rows (see the module
        docstring); None trains in this process."""
        return self._fit(X, y, incremental=False, comm=comm)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by mlpext (log-loss; sgd or adam).

    Parameters are scikit-learn's (see the module docstring for how each maps onto :class:`mlpext.MLP`).
    Labels can be of any type (ints, strings, ...); ``predict`` returns them as given.

    Attributes: ``classes_``, ``n_features_in_``, ``feature_names_in_`` (for DataFrames with string column
    names), ``n_iter_``, ``loss_``, ``loss_curve_``, ``best_loss_`` (None with ``early_stopping``, as in
    scikit-learn), ``t_``, ``coefs_`` and ``intercepts_`` (the network's own weight arrays, also after pickle or
    joblib.load; ``W`` of shape (fan_in, fan_out)), ``n_layers_``, ``n_outputs_``, ``out_activation_``,
    ``validation_scores_`` and ``best_validation_score_`` (with ``early_stopping``).
    """

    def _validate_xy(self, X, y, reset, dtype):
        X, y = _validate_data(self, X, y, reset=reset, dtype=dtype, order="C", accept_sparse=False,
                              multi_output=True, y_numeric=False)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return X, y

    def _encode_y(self, y, continuing, classes=None, incremental=False):
        """Labels -> what the network trains on: (n, 1) 0/1 floats for 2 classes (bce), else int indices."""
        if not continuing:
            self.classes_ = unique_labels(y if classes is None else classes)
        classes = self.classes_
        if len(classes) < 2:
            raise ValueError(
                "MLPClassifier needs samples of at least 2 classes in the data, but the data contains only one "
                "class: %r" % classes[0]
            )
        _check_labels_in(unique_labels(y), classes)
        index = np.searchsorted(classes, y)
        if len(classes) == 2:
            return np.ascontiguousarray(index.reshape(-1, 1), dtype=np.dtype(self.dtype)), 1, "bce"
        return np.ascontiguousarray(index, dtype=np.int64), len(classes), "cross_entropy"

    def _decode_y(self, y_net):
        if y_net.ndim == 2:
            return self.classes_[y_net[:, 0].astype(np.intp)]
        return self.classes_[y_net.astype(np.intp)]

    @_public_fit
    def partial_fit(self, X, y, classes=None, comm=None):
        """One epoch over ``(X, y)``, keeping the network and the optimizer's state between calls.

        ``classes`` (every label that will ever appear) is required on the first call, as in scikit-learn.
        ``comm``: as for ``fit``.
        """
        fitted = hasattr(self, "_net")

        def check_classes():
            if not fitted:
                if classes is None:
                    raise ValueError("classes must be passed on the first call to partial_fit.")
            elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
                raise ValueError(
                    "`classes=%r` is not the same as on last call to partial_fit, was: %r" % (classes, self.classes_))

        return self._fit(X, y, incremental=True, classes=classes if not fitted else None, comm=comm,
                         precheck=check_classes)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``."""
        return self._proba_of(self._forward(X))

    @staticmethod
    def _proba_of(out):
        if out.shape[1] == 1:
            p = out[:, 0]
            return np.column_stack([1.0 - p, p])
        return out

    def _classes_of(self, out):
        return self.classes_[np.argmax(self._proba_of(out), axis=1)]

    def predict_log_proba(self, X):
        """The logarithm of ``predict_proba(X)``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each row, as one of ``classes_``."""
        return self._classes_of(self._forward(X))  # (which checks that the estimator is fitted)


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by mlpext (mean squared error; identity output; sgd or adam).

    ``y`` can be (n_samples,) or (n_samples, n_targets). Parameters are scikit-learn's (see the module
    docstring). Attributes as :class:`MLPClassifier`, without ``classes_``.
    """

    def _validate_xy(self, X, y, reset, dtype):
        if issparse(y):  # multi_output=True lets a sparse y through: scikit-learn's TypeError, as the classifier
            check_array(y, accept_sparse=False, ensure_2d=False, input_name="y")
        X, y = _validate_data(self, X, y, reset=reset, dtype=dtype, order="C", accept_sparse=False,
                              multi_output=True, y_numeric=True)
        # y is validated as float64: in float32 a value beyond its range is inf, refused as X's would be
        with np.errstate(over="ignore"):
            y = np.asarray(y, dtype=dtype)
        check_array(y, ensure_2d=False, dtype=None, input_name="y")
        return X, y

    # mlpext's MSE is mean((ŷ − y)²) over the batch's n·k values: its gradient 2(ŷ − y)/(n·k), where
    # scikit-learn's squared loss, ½·mean((ŷ − y)²), steps by (ŷ − y)/n
    _LOSS_SCALE = 0.5

    def _gradient_scale(self, n_outputs):
        return 2.0 / n_outputs

    def _encode_y(self, y, continuing, classes=None, incremental=False):
        """y as the network's (n, n_targets) outputs. The output shape predict gives is this y's, but for a
        partial_fit going on, which keeps that of its first call."""
        y = np.asarray(y, dtype=np.dtype(self.dtype))
        if not (continuing and incremental):
            self._y_1d = y.ndim == 1
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        return np.ascontiguousarray(y2), y2.shape[1], "mse"

    def _decode_y(self, y_net):
        return y_net[:, 0] if self._y_1d else y_net

    @_public_fit
    def partial_fit(self, X, y, comm=None):
        """One epoch over ``(X, y)``, keeping the network and the optimizer's state between calls (``comm``: as
        for ``fit``)."""
        return self._fit(X, y, incremental=True, comm=comm)

    def predict(self, X):
        """The network's output: (n_samples,) for a 1-D ``y`` at fit time, else (n_samples, n_targets)."""
        return self._decode_y(self._forward(X))  # (which checks that the estimator is fitted)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}
