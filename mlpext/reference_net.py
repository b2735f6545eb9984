"""mlpext.reference_net — general multilayer perceptrons in pure NumPy: the oracle for mlpext.MLP.

`NumpyMLP` has mlpext.MLP's constructor and methods and computes the same numbers, written plainly in NumPy:
the activations, losses, backpropagation, optimizers (torch.optim's SGD, Adam, RMSprop and AdamW) and the xoshiro256**
shuffling of mini-batches that mlpext's C core implements. The tests and benchmarks compare mlpext.MLP against
it. Its arithmetic never calls the C extension; the part that is not arithmetic (configuration, initialization,
the fit loop, files) is mlpext.MLP's own base class, `mlpext.network._NetBase`, so a file saved by one class
loads into the other.
"""
import math

import numpy as np

from mlpext.network import _NetBase, _as_array

__all__ = ["NumpyMLP", "activate", "activation_derivative", "xoshiro256ss_next", "shuffled_order"]

_MASK64 = (1 << 64) - 1


# ------------------------------------------------------------------------------------------------------------
# The math, plainly
# ------------------------------------------------------------------------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def _gelu_parts(z):
    """GELU's Φ(z) = ½·(1 + erf(z/√2)) and φ(z) = e^(−z²/2)/√(2π), of z in float64."""
    x = np.asarray(z, np.float64)
    cdf = 0.5 * (1.0 + _erf(x * 0.7071067811865476).astype(np.float64))
    with np.errstate(under="ignore"):
        pdf = 0.3989422804014327 * np.exp(x * x * -0.5)
    return x, cdf, pdf


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
    if name == "gelu":  # nn.GELU(): z·½·(1 + erf(z/√2)), in float64, rounded once to z's dtype
        x = np.asarray(z, np.float64)
        return (x * 0.5 * (1.0 + _erf(x * 0.7071067811865476).astype(np.float64))).astype(z.dtype)
    if name == "softmax":  # row-wise, with the row's maximum subtracted first
        e = np.exp(z - np.max(z, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)
    raise ValueError(f"unknown activation {name!r}")


def activation_derivative(name, a, slope=0.01, z=None):
    """d act / dz, written in terms of the activation's output a (as the lecture does for sigmoid), or of the
    pre-activation z for the activations whose derivative needs it (gelu: Φ(z) + z·φ(z)).

    Not for softmax, whose derivative is a matrix (see _output_delta).
    """
    if name == "gelu":  # in float64, rounded once to the dtype
        x, cdf, pdf = _gelu_parts(z)
        return (cdf + x * pdf).astype(a.dtype)
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

    lecture        mean(|y − P|), the figure the lecture prints (its gradient, output_delta, is that of ½·Σ(y − P)²
                   summed over the batch: the lecture's update)
    mse            mean((P − y)²) over all elements (nn.MSELoss)
    mae            mean(|P − y|) over all elements (nn.L1Loss)
    bce            mean of (y − 1)·max(log1p(−P), −100) − y·max(log P, −100) (nn.BCELoss on sigmoid outputs)
    cross_entropy  mean over the rows of −Σ_c y_c·log_softmax(Z)_c (nn.CrossEntropyLoss); y int labels (n,) or
                   probability rows (n, classes)
    Elementwise terms are computed in the dtype, their sum in float64; mse squares its term (P − y, rounded to the
    dtype) in float64, as the C core does, so a float32 residual beyond 1.8e19 gives a finite loss, not inf.
    """
    if loss == "lecture":
        return float(np.sum(np.abs(y - P), dtype=np.float64) / P.size)
    if loss == "mse":
        e = (P - y).astype(np.float64)
        return float(np.sum(e * e) / e.size)
    if loss == "mae":
        return float(np.sum(np.abs(P - y), dtype=np.float64) / P.size)
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


def output_delta(loss, out_act, P, y, slope=0.01, Z=None):
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
    elif loss == "mae":  # sign 0 at 0, as torch's; NaN stays NaN
        dP = np.sign(P - y) / P.dtype.type(P.size)
    else:
        raise ValueError(f"unknown loss {loss!r}")
    if out_act == "softmax":  # the softmax Jacobian times dP, row by row
        return P * (dP - np.sum(dP * P, axis=1, keepdims=True))
    return dP * activation_derivative(out_act, P, slope, Z)


# --- the optimizers: one function each, step(net, p, g, buffers, t) in place on the parameter p and its state
# buffers (in the order of the C core's table, network.state_names), t the step count after its increment

def _sgd_step(net, p, g, buffers, t):
    lr, momentum, nesterov, _, _, _, wd, _ = net._hyper()
    if wd != 0:
        g = g + wd * p
    if momentum != 0:
        buf = buffers[0]
        buf[...] = momentum * buf + g
        g = g + momentum * buf if nesterov else buf
    p -= lr * g


def _adam_update(net, p, g, m, v, t):
    lr, _, _, beta1, beta2, eps, _, _ = net._hyper()
    step_size = lr / (1 - beta1 ** t)
    bias_correction2_sqrt = (1 - beta2 ** t) ** 0.5
    weight = net._dtype.type(1 - beta1)
    # torch's exp_avg.lerp_(g, 1 − beta1), whose formula depends on the weight's size
    if 1 - beta1 < 0.5:
        m[...] = m + weight * (g - m)
    else:
        m[...] = g - (g - m) * (1 - weight)
    v[...] = v * beta2 + (1 - beta2) * g * g  # exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 − beta2)
    denom = np.sqrt(v) / bias_correction2_sqrt + eps
    p += (-step_size * m) / denom  # param.addcdiv_(exp_avg, denom, value=−step_size)


def _adam_step(net, p, g, buffers, t):
    wd = net._weight_decay
    if wd != 0:  # L2: into the gradient
        g = g + wd * p
    _adam_update(net, p, g, buffers[0], buffers[1], t)


def _adamw_step(net, p, g, buffers, t):
    wd = net._weight_decay
    if wd != 0:  # decoupled: param.mul_(1 − lr·weight_decay), the factor rounded to the dtype
        p *= net._dtype.type(1 - net._learning_rate * wd)
    _adam_update(net, p, g, buffers[0], buffers[1], t)


def _rmsprop_step(net, p, g, buffers, t):
    lr, _, _, _, _, eps, wd, alpha = net._hyper()
    if wd != 0:
        g = g + wd * p
    sq = buffers[0]
    sq[...] = sq * alpha + (1 - alpha) * g * g  # square_avg.mul_(alpha).addcmul_(g, g, value=1 − alpha)
    avg = np.sqrt(sq) + eps
    p += (-lr * g) / avg  # param.addcdiv_(g, avg, value=−lr)


OPTIMIZER_STEPS = {"sgd": _sgd_step, "adam": _adam_step, "rmsprop": _rmsprop_step, "adamw": _adamw_step}


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
# NumpyMLP
# ------------------------------------------------------------------------------------------------------------

class NumpyMLP(_NetBase):
    """mlpext.MLP in pure NumPy: the same constructor, methods, initialization, files and numbers.

    Forward:   A_0 = X;  Z_l = np.dot(A_{l-1}, W_l) + b_l;  A_l = act_l(Z_l).
    Backward:  G_L = ∂loss/∂Z_L (output_delta);  dW_l = np.dot(A_{l-1}.T, G_l);  db_l = G_l.sum(axis=0);
               G_{l-1} = np.dot(G_l, W_l.T) * act_{l-1}'(A_{l-1}) (gelu: act'(Z_{l-1}), from the pre-activation).
    Updates:   torch.optim.SGD / Adam / RMSprop / AdamW (OPTIMIZER_STEPS), parameter by parameter in the order
               W_0, b_0, W_1, b_1, …, after all the gradients of the batch are computed.
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
        a = _as_array(a, what)
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
        y = _as_array(y, "y")
        if self._loss == "cross_entropy" and y.ndim == 1 and y.dtype.kind in "iu":  # class labels
            if y.shape != (n,):
                raise ValueError(f"y has shape {y.shape}, expected ({n},)")
            if y.size and (y.min() < 0 or y.max() >= classes):
                raise ValueError(f"class labels must be in [0, {classes}), got values in [{y.min()}, {y.max()}]")
            return y.astype(np.intp)
        return self._data(y, "y", (n, classes))  # NaN and inf are values: they propagate

    # --- the three computations

    def _forward_all(self, X):
        """The activations A_0 = X, A_1, …, A_L, and the pre-activations [Z_1, …, Z_L]."""
        A, Z = [X], []
        for (W, b), act in zip(self.params, self._activations):
            Z.append(np.dot(A[-1], W) + b)
            A.append(activate(act, Z[-1], self._leaky_slope))
        return A, Z

    def _backward(self, A, Z, y):
        """The loss and the gradients [dW_0, db_0, dW_1, …] of a batch, from its forward pass."""
        loss = loss_value(self._loss, Z[-1], A[-1], y)
        G = output_delta(self._loss, self._activations[-1], A[-1], y, self._leaky_slope, Z[-1])
        grads = [None] * (2 * self.n_layers)
        for l in range(self.n_layers - 1, -1, -1):
            W = self.params[l][0]
            grads[2 * l] = np.dot(A[l].T, G)
            grads[2 * l + 1] = G.sum(axis=0)
            if l > 0:
                G = np.dot(G, W.T) * activation_derivative(self._activations[l - 1], A[l], self._leaky_slope,
                                                           Z[l - 1])
        return loss, grads

    def _update(self, grads):
        """One optimizer step, torch.optim's formulas, in place (OPTIMIZER_STEPS)."""
        state = self._state_by_name()
        t = 0
        if "step" in state:
            if state["step"][0] < np.iinfo(np.int64).max:  # the count stops there, as the C core's does
                state["step"] += 1
            t = int(state["step"][0])
        params = [a for pair in self.params for a in pair]
        step = OPTIMIZER_STEPS[self._optimizer]
        for k, (p, g) in enumerate(zip(params, grads)):
            step(self, p, g, [state[name][k] for name in state if name != "step"], t)

    def _net_forward(self, X, where=None):
        return self._forward_all(self._check_X(X))[0][-1]

    def _net_loss(self, X, y, grads, where=None, vector=False):
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        A, Z = self._forward_all(X)
        if grads is None:
            return loss_value(self._loss, Z[-1], A[-1], y)
        loss, computed = self._backward(A, Z, y)
        for out, g in zip(grads, computed):
            out[...] = g
        return loss

    def _net_fit(self, X, y, epochs, batch_size, shuffle, where=None, vector=False, record=None):
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
            losses[epoch] = loss if batch_size >= n else total / n  # one batch: its loss as it is
        self._rng[...] = np.array(state, dtype=np.uint64)
        if record is not None:
            record.append(losses)
        return losses
