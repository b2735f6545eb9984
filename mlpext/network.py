"""mlpext.network — general multilayer perceptrons trained in place by mlpext's C core (exported as mlpext.MLP)."""
from mlpext import _core
from mlpext.reference_net import _NetBase

__all__ = ["MLP"]


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
