"""mlpext.show_config and _core.build_info: what was built and which kernels run here."""
import os
import platform

import numpy as np
import pytest

import mlpext
from mlp_helpers import subprocess_env, x86_avx2
from mlpext import _core


def test_build_info_names_a_known_simd_path():
    info = _core.build_info()
    assert info["simd"].split()[0] in {"avx512f", "avx2", "sse2", "generic"}
    if platform.machine() in ("x86_64", "AMD64"):
        assert info["simd"] != "generic"
    assert info["max_layers"] == 64
    assert "-ffast-math" not in info["cflags"] and "-march" not in info["cflags"]
    assert "-ffp-contract=off" in info["cflags"]


def test_an_x86_cpu_with_avx2_gets_simd_kernels():
    """The run-time dispatch finds the AVX2 (or AVX-512) that NumPy finds on this CPU. A build whose CPU detection
    never ran (compiler-rt's, under clang-cl, if built without load-time constructors) would run the portable
    kernels, many times slower, with every result still right: only this test would tell."""
    info = _core.build_info()
    if not x86_avx2() or info["simd_forced"] is not None:
        pytest.skip("needs an x86-64 CPU with AVX2 and FMA, and MLPEXT_SIMD unset")
    assert info["simd"].split()[0] in {"avx2", "avx512f"}, info["simd"]


def test_show_config_prints_the_build(capsys):
    mlpext.show_config()
    text = capsys.readouterr().out
    info = _core.build_info()
    assert info["simd"] in text and info["cflags"] in text and mlpext.__version__ in text
    assert f"at least {info['fma_min_weights']} weights use fused multiply-adds" in text
    assert (f"at least {info['halves_min_in']} inputs and at most {info['halves_max_weights']} weights sums its "
            f"inputs in two halves") in text


def test_show_config_reports_the_caches(capsys):
    """The cache geometry the large products are blocked for: the system's (sysconf on Linux), else the fallback."""
    info = _core.build_info()
    geometry = (info["l1d_bytes"], info["l1d_ways"], info["l2_bytes"])
    names = ("SC_LEVEL1_DCACHE_SIZE", "SC_LEVEL1_DCACHE_ASSOC", "SC_LEVEL2_CACHE_SIZE")
    if platform.system() == "Linux" and all(n in os.sysconf_names for n in names):
        reported = tuple(os.sysconf(n) for n in names)
        plausible = 1024 <= reported[0] <= 2**24 and 1 <= reported[1] <= 256 and reported[0] // reported[1] >= 64 \
            and 1024 <= reported[2] <= 2**32
        assert info["cache_detected"] == plausible
        assert geometry == (reported if plausible else (32768, 8, 524288))
    if not info["cache_detected"]:
        assert geometry == (32768, 8, 524288)
    assert info["pack_min_ops"] == 2**25
    mlpext.show_config()
    text = capsys.readouterr().out
    assert f"L1d {geometry[0] // 1024} KB {geometry[1]}-way, L2 {geometry[2] // 1024} KB" in text


def test_show_config_reports_the_threads(capsys, monkeypatch):
    info = _core.build_info()
    assert info["cpus"] >= 1 and info["parallel_min_ops"] == 2**19 and info["parallel_min_rows"] == 48
    assert info["optim_split_min"] == 4096 and info["gather_split_min"] == 8192 and info["loss_split_min"] == 8192
    monkeypatch.delenv("MLPEXT_NUM_THREADS", raising=False)
    mlpext.show_config()
    text = capsys.readouterr().out
    assert f"up to {info['cpus']} threads" in text
    assert ("and so are that call's optimizer step, shuffled mini-batch gather and element-wise loss, each part at "
            "least 4096, 8192 and 8192 values" in text)
    monkeypatch.setenv("MLPEXT_NUM_THREADS", "3")
    mlpext.show_config()
    assert "up to 3 threads (MLPEXT_NUM_THREADS='3'" in capsys.readouterr().out
    monkeypatch.setenv("MLPEXT_NUM_THREADS", "1")
    mlpext.show_config()
    out = capsys.readouterr().out
    assert "up to 1 thread (MLPEXT_NUM_THREADS='1'" in out and "1 threads" not in out
    monkeypatch.setenv("MLPEXT_NUM_THREADS", " 1000")
    mlpext.show_config()  # the core uses at most 64 threads, whatever the variable says
    assert "up to 64 threads (MLPEXT_NUM_THREADS=' 1000'" in capsys.readouterr().out
    assert _core.build_info()["thread_limit"] == 64


@pytest.mark.parametrize("value", ["0", "-2", "abc", "2.5", "99999999999999999999", "\x1c4"])
def test_show_config_names_an_invalid_thread_count_as_the_core_does(value, capsys, monkeypatch):
    """show_config reads MLPEXT_NUM_THREADS by the core's rule: what it calls invalid, a split product rejects."""
    monkeypatch.setenv("MLPEXT_NUM_THREADS", value)
    mlpext.show_config()
    assert f"MLPEXT_NUM_THREADS={value!r} is not a positive integer" in capsys.readouterr().out
    rng = np.random.default_rng(0)
    X, y = rng.random((128, 256)), rng.random((128, 4))
    params = [0.1 * rng.standard_normal(s) for s in ((256, 64), (64,), (64, 4), (4,))]
    with pytest.raises(ValueError, match="MLPEXT_NUM_THREADS must be a positive integer"):
        mlpext.train(X, y, *params, 0.01, 1)  # 2.1 M multiply-adds: a product the core would split


def test_show_config_reports_the_team_once_started(tmp_path):
    """No helper thread exists until a call splits a product; then show_config names the team (in a fresh
    interpreter, so that no earlier test has started it)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import numpy as np, mlpext
        from mlpext import _core
        before = _core.build_info()["team_helpers"]
        rng = np.random.default_rng(0)
        X = rng.random((128, 256)); y = rng.random((128, 4))
        params = [0.1 * rng.standard_normal(s) for s in ((256, 64), (64,), (64, 4), (4,))]
        mlpext.train(X, y, *params, 0.01, 1)  # 128·256·64 = 2.1 M multiply-adds: split
        print(before, _core.build_info()["team_helpers"])
        mlpext.show_config()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=subprocess_env(MLPEXT_NUM_THREADS="3"), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    first, _, config = done.stdout.partition("\n")
    before, after = map(int, first.split())
    assert before == 0
    assert after == 2  # MLPEXT_NUM_THREADS − 1
    assert f"a team of {after} helper thread" in config


def test_the_python_vocabulary_is_the_cores_tables():
    """mlpext.MLP lists no activation, loss or optimizer of its own: it reads the C core's tables."""
    from mlpext import network
    info = _core.build_info()
    assert network.HIDDEN_ACTIVATIONS == info["hidden_activations"]
    assert network.OUTPUT_ACTIVATIONS == info["output_activations"]
    assert network.LOSSES == tuple(info["losses"]) and network.OPTIMIZERS == info["optimizers"]
    assert {"gelu", "relu", "tanh"} <= set(info["hidden_activations"]) and "softmax" not in info["hidden_activations"]
    assert info["losses"]["mae"] == {"natural_output": "identity", "requires_natural_output": False,
                                     "classification": False, "labels": False, "mean": True}
    assert info["losses"]["lecture"]["mean"] is False and info["losses"]["cross_entropy"]["labels"] is True
    assert network.NATURAL_OUTPUT["cross_entropy"] == "softmax" and network.REQUIRED_OUTPUT == {
        "bce": "sigmoid", "cross_entropy": "softmax"}
    assert set(info["optimizers"]) == {"sgd", "adam", "rmsprop", "adamw"}
    assert _core.optimizer_state("sgd", 0.0) == () and _core.optimizer_state("sgd", 0.9) == ("momentum_buffer",)
    assert _core.optimizer_state("adam", 0.0) == _core.optimizer_state("adamw", 0.0) == (
        "step", "exp_avg", "exp_avg_sq")
    assert _core.optimizer_state("rmsprop", 0.0) == ("square_avg",)
    with pytest.raises(ValueError, match="optimizer"):
        _core.optimizer_state("lbfgs", 0.0)
    with pytest.raises(TypeError, match="optimizer"):
        _core.optimizer_state(None, 0.0)
    with pytest.raises(ValueError, match="momentum"):
        _core.optimizer_state("sgd", float("nan"))


def test_show_config_names_the_thread_count_the_core_reads(capsys, monkeypatch):
    """The calls read MLPEXT_NUM_THREADS with getenv, which os.putenv (or a C library's setenv) changes without
    os.environ: show_config names the value the core read, not os.environ's copy."""
    monkeypatch.delenv("MLPEXT_NUM_THREADS", raising=False)
    try:
        os.putenv("MLPEXT_NUM_THREADS", "3")  # the process environment only
        info = _core.build_info()
        assert info["thread_limit"] == 3 and info["num_threads_env"] == "3"
        mlpext.show_config()
        assert "up to 3 threads (MLPEXT_NUM_THREADS='3'" in capsys.readouterr().out
        os.putenv("MLPEXT_NUM_THREADS", "zero")
        mlpext.show_config()
        assert "MLPEXT_NUM_THREADS='zero' is not a positive integer" in capsys.readouterr().out
    finally:
        os.unsetenv("MLPEXT_NUM_THREADS")
    assert _core.build_info()["num_threads_env"] is None


@pytest.mark.parametrize("simd", ["generic", "auto"])
def test_show_config_says_whether_these_kernels_fuse(simd, tmp_path):
    """Only the AVX2+FMA and AVX-512 kernels fuse a product and its sum: under MLPEXT_SIMD=generic (or on a CPU
    without them) show_config says every layer rounds like NumPy, even where the CPU has FMA."""
    import subprocess
    import sys

    script = "import mlpext; mlpext.show_config(); print(mlpext._core.build_info()['simd'])"
    done = subprocess.run([sys.executable, "-c", script], env=subprocess_env(MLPEXT_SIMD=simd), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    text, path = done.stdout.rstrip("\n").rsplit("\n", 1)  # (the last line: "avx512f (avx2 for short loops)")
    fuses = path.startswith("avx")
    assert ("use fused multiply-adds (these kernels have them)" in text) == fuses
    assert ("every layer rounds like NumPy's loops" in text) == (not fuses)
    if simd == "generic":
        assert not fuses
