"""mlpext — the lecture's multilayer perceptron, trained in place on NumPy arrays by a C core.

The seven functions below carry the lecture's variable names and do what its NumPy script does, in C:

    hidden_activation, predicted_output = mlpext.forward(X, W1, b1, W2, b2)
    delta_output, delta_hidden = mlpext.backward(y, hidden_activation, predicted_output, W2)
    mlpext.update(X, hidden_activation, delta_output, delta_hidden, W1, b1, W2, b2, learning_rate)
    loss = mlpext.train_step(X, y, W1, b1, W2, b2, learning_rate)
    losses = mlpext.train(X, y, W1, b1, W2, b2, learning_rate, epochs, log_every=0, history="all")
    predicted = mlpext.predict(X, W1, b1, W2, b2)
    values = mlpext.trace_step(X, y, W1, b1, W2, b2, learning_rate)  # every intermediate of one step, as a dict

`mlpext.reference` holds the same functions in pure NumPy, written as the lecture writes them.

Networks of any depth, with other activations, losses (PyTorch's definitions) and optimizers (SGD, Adam,
RMSprop, AdamW), trained by the same C core:

    net = mlpext.MLP([2, 16, 1], activation="tanh", loss="bce", optimizer="adam", learning_rate=0.01, seed=0)
    history = net.fit(X, y, epochs=500, batch_size=32)

scikit-learn estimators are in `mlpext.sklearn` (scikit-learn is optional).
"""
import os


def _missing_core_message():
    """Why mlpext._core could not be found, and what to do: the usual cause is a checkout whose extension is not
    built, imported because the current directory (first on sys.path) is the checkout's root."""
    package = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(package)
    others = sorted(name for name in os.listdir(package) if name.startswith("_core.") and name != "_core.pyi")
    if any(os.path.exists(os.path.join(root, name)) for name in ("pyproject.toml", "setup.py")):
        built = (f"Its C extension here ({', '.join(others)}) was built for another Python or platform" if others
                 else "Its C extension, mlpext._core, is not built there")
        return (f"You are importing mlpext from its source directory, {root}. {built}. To work in this checkout, "
                f"run `pip install -e .` in it (builds the C core in place; the first build takes 1-4 minutes). "
                f"To use an installed mlpext instead, change to another directory.")
    return (f"mlpext's C extension, mlpext._core, is missing from {package}: the installation is incomplete. "
            f"Reinstall mlpext (from a checkout: `pip install --force-reinstall .`).")


try:
    from mlpext._core import backward, forward, predict, release_memory, trace_step, train, train_step, update
except ModuleNotFoundError as error:
    if error.name != "mlpext._core":
        raise
    raise ImportError(_missing_core_message(), name="mlpext._core") from None

if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's helper threads: forget their team
    from mlpext._core import _after_fork_in_child

    os.register_at_fork(after_in_child=_after_fork_in_child)

from mlpext import reference  # noqa: E402  (after the check above: it imports the C core too)
from mlpext.network import MLP  # noqa: E402

__version__ = "0.1.0"
__all__ = ["forward", "backward", "update", "train_step", "train", "predict", "trace_step", "MLP", "show_config",
           "release_memory"]


def show_config():
    """Print how mlpext was built and which code paths it takes here: SIMD kernels, flags, NumPy, threads."""
    import numpy

    from mlpext import _core

    info = _core.build_info()
    print(f"mlpext {__version__}")
    print(f"  kernels: {info['simd']} (chosen at run time; the AVX2 and AVX-512 paths give the same bits)")
    print(f"  kernels forced by MLPEXT_SIMD: {info['simd_forced'] or 'no (the widest this CPU has)'}")
    # only the AVX2+FMA and AVX-512 kernels fuse: not the portable ones (sse2, generic), MLPEXT_SIMD=generic included
    fused = ("use fused multiply-adds (these kernels have them), the others round like NumPy's loops"
             if info["simd"].startswith("avx") else
             f"use fused multiply-adds only with the AVX2+FMA or AVX-512 kernels: with these ({info['simd']}) every "
             f"layer rounds like NumPy's loops")
    print(f"  matrix products: mlpext's own register-tiled kernels, no BLAS; layers more than 4 wide with at least "
          f"{info['fma_min_weights']} weights {fused}; a layer more than 4 wide with at least {info['halves_min_in']} "
          f"inputs and at most {info['halves_max_weights']} weights sums its inputs in two halves (each in order, "
          f"then added), one per thread, so that each thread keeps the rows of W it updates")
    source = "as the system reports them" if info["cache_detected"] else "a fallback: the system reports none"
    print(f"  caches: L1d {info['l1d_bytes'] // 1024} KB {info['l1d_ways']}-way, L2 {info['l2_bytes'] // 1024} KB "
          f"({source}); products of at least {info['pack_min_ops']:.0f} multiply-adds pack their factors in "
          f"blocks sized for them")
    flush = ("flushed to zero inside mlpext's computations (read and written as 0, on every thread a call uses; "
             "the calling thread's own mode is back when it returns)" if info["flushes_subnormals"]
             else "kept (this build cannot set the CPU's flush-to-zero mode)")
    print(f"  subnormal numbers: {flush}")
    print(f"  workspace: a call's block of more than 4 KiB is kept for the next call if at most "
          f"{info['kept_block_max'] // 2 ** 20} MiB (now {info['kept_block_bytes'] / 2 ** 20:.1f} MiB kept); "
          f"mlpext.release_memory() frees it")
    env = info["num_threads_env"]  # as the core read it (getenv), with thread_limit: os.environ may differ
    cpus = info["cpus"]
    helpers = info["team_helpers"]
    team = (f"a team of {helpers} helper thread{'s' if helpers != 1 else ''} kept between products" if helpers > 0
            else "its helper threads start with the first call that splits a product")
    count = info["thread_limit"]  # the core's own reading of MLPEXT_NUM_THREADS (0: invalid), capped as it caps it
    if count == 0:
        threads = (f"MLPEXT_NUM_THREADS={env!r} is not a positive integer: a call that would split a product "
                   f"raises ValueError")
    else:
        source = (f"MLPEXT_NUM_THREADS={env!r}" if env
                  else f"the {cpus} CPU{'s' if cpus != 1 else ''} this process may use")
        threads = (f"a product of at least {info['parallel_min_ops']:.0f} multiply-adds is split among up to "
                   f"{count} thread{'s' if count != 1 else ''} ({source}; same results for any count), each part at "
                   f"least {info['parallel_min_rows']} rows, and so are that call's optimizer step, shuffled "
                   f"mini-batch gather and element-wise loss, each part at least {info['optim_split_min']}, "
                   f"{info['gather_split_min']} and {info['loss_split_min']} values; {team}")
    print(f"  threads: {threads}; the GIL is released when a call does more than "
          f"{info['gil_release_min_work']:.0f} operations")
    print(f"  compiler: {info['compiler']}")
    print(f"  flags: {info['cflags']}")
    print(f"  NumPy C API target: {info['numpy_target_api']}; running with NumPy {numpy.__version__}")
    print(f"  network depth: at most {info['max_layers']} layers")
