"""MLPEXT_SIMD, the switch that caps the kernels' instruction set: read once when the module is imported, reported by
build_info(), refused with a ValueError when it names no instruction set or one this CPU lacks; and the portable
kernels it forces give NumPy's results (.ci/run runs the numeric test files under MLPEXT_SIMD=generic too)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from mlp_helpers import subprocess_env
from mlpext import _core

REPORT = "import json, mlpext._core as c; i = c.build_info(); print(json.dumps([i['simd'], i['simd_forced']]))"


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], env=subprocess_env(**env), capture_output=True, text=True,
                          cwd="/", timeout=120)


def test_build_info_reports_no_forcing_by_default():
    # the suite itself may run under MLPEXT_SIMD (.ci/run): then build_info reports it
    done = run_python(REPORT, MLPEXT_SIMD="")
    assert done.returncode == 0, done.stderr
    simd, forced = json.loads(done.stdout)
    assert forced is None
    assert simd.split()[0] in {"avx512f", "avx2", "sse2", "generic"}


@pytest.mark.parametrize("value", ["generic", "auto"])
def test_simd_generic_runs_the_portable_kernels(value):
    done = run_python(REPORT, MLPEXT_SIMD=value)
    assert done.returncode == 0, done.stderr
    simd, forced = json.loads(done.stdout)
    if value == "generic":
        assert forced == "generic" and simd in {"sse2", "generic"}  # the portable kernels (x86-64: built for SSE2)
    else:
        assert forced is None and simd == json.loads(run_python(REPORT, MLPEXT_SIMD="").stdout)[0]


@pytest.mark.parametrize("value", ["avx", "GENERIC", "sse2", " generic", "1"])
def test_an_unknown_simd_value_is_a_value_error_naming_it(value):
    done = run_python("import mlpext", MLPEXT_SIMD=value)
    assert done.returncode != 0
    assert "ValueError" in done.stderr and "MLPEXT_SIMD" in done.stderr and repr(value) in done.stderr


def test_a_simd_value_beyond_this_cpu_is_refused_or_taken():
    """avx2 and avx512 are taken where the CPU (and build) have them, and refused with a ValueError elsewhere;
    never silently replaced by another instruction set."""
    best = _core.build_info()["simd"]
    for value, prefix in (("avx2", "avx2"), ("avx512", "avx512f")):
        done = run_python(REPORT, MLPEXT_SIMD=value)
        if done.returncode == 0:
            simd, forced = json.loads(done.stdout)
            assert forced == value and simd.startswith(prefix)
        else:
            assert "ValueError" in done.stderr and "does not have" in done.stderr
            assert not (value == "avx2" and best.startswith(("avx2", "avx512f")))


CHECK_GENERIC = """
import json, numpy as np, mlpext
from mlpext.reference_net import NumpyMLP
rng = np.random.default_rng(5)
X, y = rng.standard_normal((300, 40)), rng.standard_normal((300, 20))
nets = [cls([40, 64, 20], activation="tanh", output_activation="identity", loss="mse", dtype=np.float64, seed=1)
        for cls in (mlpext.MLP, NumpyMLP)]
out = [np.asarray(net.forward(X)).tolist() for net in nets]
grads = [[np.asarray(W).ravel().tolist() for W, _ in net.gradients(X, y)] for net in nets]
print(json.dumps([out, grads]))
"""


@pytest.mark.parametrize("value", ["generic", ""])
def test_a_layer_with_fused_sums_agrees_with_numpy_either_way(value):
    """A network whose layers have more than MLP_DENSE_FMA_MIN weights: fused sums on AVX2/AVX-512, each product
    rounded under MLPEXT_SIMD=generic; NumPy's results within float64 rounding both ways."""
    done = run_python(CHECK_GENERIC, MLPEXT_SIMD=value)
    assert done.returncode == 0, done.stderr
    (out, ref_out), (grads, ref_grads) = json.loads(done.stdout)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


CHECK_BCE = """
import json, numpy as np, mlpext
rng = np.random.default_rng(6)
X = rng.standard_normal((500, 6)).astype(np.float32)
y = np.where(rng.uniform(size=(500, 40)) < 0.3, rng.uniform(size=(500, 40)) > 0.5, rng.uniform(size=(500, 40)))
net = mlpext.MLP([6, 40], loss="bce", dtype=np.float32, seed=2)
grads = [a for pair in net.gradients(X, y.astype(np.float32)) for a in pair]
print(json.dumps([float(net.loss(X, y.astype(np.float32))).hex(), [a.tobytes().hex() for a in grads]]))
"""


def assert_same_output_on_every_instruction_set(script):
    """script prints JSON: the same under MLPEXT_SIMD=generic and each wider instruction set this CPU has."""
    runs = {}
    for value in ("generic", "avx2", "avx512"):
        done = run_python(script, MLPEXT_SIMD=value)
        if done.returncode == 0:
            runs[value] = json.loads(done.stdout)
        else:
            assert "does not have" in done.stderr, done.stderr
    assert "generic" in runs
    for value, result in runs.items():
        assert result == runs["generic"], f"MLPEXT_SIMD={value}"


def test_float32_bce_has_the_same_bits_on_every_instruction_set():
    """BCE's float32 logarithms are computed in double by code that vectorizes (csrc/vmath.h, mlp_log): the
    portable loop and the AVX2 and AVX-512 ones give the same loss and gradients, bit for bit. (A 6 → 40 layer:
    fewer than MLP_DENSE_FMA_MIN weights, so its products round alike on every path too.)"""
    assert_same_output_on_every_instruction_set(CHECK_BCE)


CHECK_UNFUSED_FIT = """
import json, numpy as np, mlpext
rng = np.random.default_rng(7)
X = 3 * rng.standard_normal((200, 12))
labels, Y = rng.integers(0, 4, 200), rng.standard_normal((200, 4))
runs = []
for dtype in (np.float32, np.float64):
    for optimizer, options in (("sgd", {}), ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
                               ("adam", {"weight_decay": 1e-3}), ("adamw", {}), ("rmsprop", {"weight_decay": 1e-3})):
        for activation, loss, output in (("sigmoid", "cross_entropy", None), ("tanh", "bce", None),
                                         ("gelu", "mse", "softmax"), ("leaky_relu", "mae", "sigmoid")):
            net = mlpext.MLP([12, 20, 4], activation=activation, output_activation=output, loss=loss,
                             optimizer=optimizer, learning_rate=1e-2, dtype=dtype, seed=3, **options)
            y = labels if loss == "cross_entropy" else (Y > 0).astype(dtype) if loss == "bce" else Y
            history = net.fit(X, y, 3, batch_size=64)
            arrays = [history, net.forward(X), *(a for pair in net.params for a in pair), *net._state, net._rng]
            runs.append([np.ascontiguousarray(a).tobytes().hex() for a in arrays])
print(json.dumps(runs))
"""


def test_networks_whose_layers_do_not_fuse_train_to_the_same_bits_on_every_instruction_set():
    """Layers of fewer than MLP_DENSE_FMA_MIN weights (12·20, 20·4) round every product on every path, and the rest
    of a step is held to the portable kernels' bits too (docs/design.md): the sigmoid's and tanh's SIMD lanes, the
    element loops, softmax, the losses, and the optimizers' steps (Adam's loop has AVX2 builds from 64 values; every
    division and square root correctly rounded). So a whole fit with shuffled mini-batches — every optimizer, both
    dtypes — ends with the same parameters, optimizer state, losses and outputs under MLPEXT_SIMD=generic and on
    each wider instruction set this CPU has."""
    assert_same_output_on_every_instruction_set(CHECK_UNFUSED_FIT)
