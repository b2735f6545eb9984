"""mlpext — the lecture's multilayer perceptron, trained in place on NumPy arrays by a C core.

The six functions below carry the lecture's variable names and do what its NumPy script does, in C:

    hidden_activation, predicted_output = mlpext.forward(X, W1, b1, W2, b2)
    delta_output, delta_hidden = mlpext.backward(y, hidden_activation, predicted_output, W2)
    mlpext.update(X, hidden_activation, delta_output, delta_hidden, W1, b1, W2, b2, learning_rate)
    loss = mlpext.train_step(X, y, W1, b1, W2, b2, learning_rate)
    losses = mlpext.train(X, y, W1, b1, W2, b2, learning_rate, epochs, log_every=0, history="all")
    predicted = mlpext.predict(X, W1, b1, W2, b2)
    values = mlpext.trace_step(X, y, W1, b1, W2, b2, learning_rate)  # every intermediate of one step, as a dict

`mlpext.reference` holds the same functions in pure NumPy, written as the lecture writes them.

Networks of any depth, with other activations, losses (PyTorch's definitions) and optimizers (SGD, Adam),
trained by the same C core:

    net = mlpext.MLP([2, 16, 1], activation="tanh", loss="bce", optimizer="adam", learning_rate=0.01, seed=0)
    history = net.fit(X, y, epochs=500, batch_size=32)

scikit-learn estimators are in `mlpext.sklearn` (scikit-learn is optional).
"""
import os

from mlpext import reference
from mlpext._core import backward, forward, predict, trace_step, train, train_step, update
from mlpext.network import MLP

__version__ = "0.1.0"
__all__ = ["forward", "backward", "update", "train_step", "train", "predict", "trace_step", "MLP", "show_config"]


def show_config():
    """Print how mlpext was built and which code paths it takes here: SIMD kernels, flags, NumPy, threads."""
    import numpy

    from mlpext import _core

    info = _core.build_info()
    print(f"mlpext {__version__}")
    print(f"  kernels: {info['simd']} (chosen at run time; the AVX2 and AVX-512 paths give the same bits)")
    print(f"  matrix products: mlpext's own register-tiled kernels, no BLAS; layers more than 4 wide with at least "
          f"{info['fma_min_weights']} weights use fused multiply-adds where the CPU has them (AVX2+FMA, AVX-512), "
          f"the others round like NumPy's loops")
    env = os.environ.get("MLPEXT_NUM_THREADS")
    source = f"MLPEXT_NUM_THREADS={env!r}" if env else f"the {info['cpus']} CPUs this process may use"
    helpers = info["team_helpers"]
    team = (f"a team of {helpers} helper thread{'s' if helpers != 1 else ''} kept between products" if helpers > 0
            else "its helper threads start with the first call that splits a product")
    print(f"  threads: a product of at least {info['parallel_min_ops']:.0f} multiply-adds is split among up to "
          f"{env if env else info['cpus']} threads ({source}; same results for any count), each part at least "
          f"{info['parallel_min_rows']} rows; {team}; the GIL is released when a call does more than "
          f"{info['gil_release_min_work']:.0f} operations")
    print(f"  compiler: {info['compiler']}")
    print(f"  flags: {info['cflags']}")
    print(f"  NumPy C API target: {info['numpy_target_api']}; running with NumPy {numpy.__version__}")
    print(f"  network depth: at most {info['max_layers']} layers")
