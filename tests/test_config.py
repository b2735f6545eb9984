"""mlpext.show_config and _core.build_info: what was built and which kernels run here."""
import platform

import mlpext
from mlpext import _core


def test_build_info_names_a_known_simd_path():
    info = _core.build_info()
    assert info["simd"].split()[0] in {"avx512f", "avx2", "sse2", "generic"}
    if platform.machine() in ("x86_64", "AMD64"):
        assert info["simd"] != "generic"
    assert info["max_layers"] == 64
    assert "-ffast-math" not in info["cflags"] and "-march" not in info["cflags"]
    assert "-ffp-contract=off" in info["cflags"]


def test_show_config_prints_the_build(capsys):
    mlpext.show_config()
    text = capsys.readouterr().out
    info = _core.build_info()
    assert info["simd"] in text and info["cflags"] in text and mlpext.__version__ in text
    assert f"at least {info['fma_min_weights']} weights use fused multiply-adds" in text


def test_show_config_reports_the_threads(capsys, monkeypatch):
    info = _core.build_info()
    assert info["cpus"] >= 1 and info["parallel_min_ops"] == 2**25
    monkeypatch.delenv("MLPEXT_NUM_THREADS", raising=False)
    mlpext.show_config()
    assert f"up to {info['cpus']} threads" in capsys.readouterr().out
    monkeypatch.setenv("MLPEXT_NUM_THREADS", "3")
    mlpext.show_config()
    assert "up to 3 threads (MLPEXT_NUM_THREADS='3'" in capsys.readouterr().out
