"""setup.py's choice of compiler: MLPEXT_CC=clang-cl (the Windows wheels' compiler, with MSVC's toolchain) or unset;
any other value, or clang-cl without MSVC's toolchain, stops the build with a message before anything is compiled.
The clang-cl build itself runs where MSVC and LLVM are (the wheel workflow's Windows job, which then runs this
suite against the wheel: tests/binding/test_config.py checks that its kernels are the CPU's widest)."""
import importlib.metadata
import os
import subprocess
import sys

import pytest

SETUP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "setup.py")


def setuptools_major():
    """The installed setuptools' major version, or 0 if there is none."""
    try:
        return int(importlib.metadata.version("setuptools").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return 0


# setuptools 77 is the build's own floor (pyproject.toml), and the test extra's: older ones reject its SPDX licence
# before any command runs
pytestmark = pytest.mark.skipif(not os.path.isfile(SETUP) or setuptools_major() < 77,
                                reason="needs the source tree's setup.py and setuptools >= 77 (the build's)")


def build(tmp_path, cc):
    """setup.py build_ext with MLPEXT_CC=cc, into tmp_path (the checkout is left as it is)."""
    env = dict(os.environ, MLPEXT_CC=cc)
    return subprocess.run([sys.executable, SETUP, "build_ext", "--build-temp", str(tmp_path / "temp"),
                           "--build-lib", str(tmp_path / "lib")], cwd=os.path.dirname(SETUP), env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("cc", ["gcc", "clang", "cl", "Clang-CL"])
def test_an_unknown_mlpext_cc_stops_the_build(tmp_path, cc):
    done = build(tmp_path, cc)
    assert done.returncode != 0
    assert f"MLPEXT_CC must be clang-cl or unset, got {cc!r}" in done.stderr
    assert not (tmp_path / "temp").exists()  # nothing compiled


@pytest.mark.skipif(os.name == "nt", reason="on Windows setuptools' compiler is MSVC's: clang-cl would build")
def test_clang_cl_without_msvc_stops_the_build(tmp_path):
    done = build(tmp_path, "clang-cl")
    assert done.returncode != 0
    assert "MLPEXT_CC=clang-cl needs setuptools' MSVC toolchain" in done.stderr
    assert not (tmp_path / "temp").exists()
