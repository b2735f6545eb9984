"""Free-threaded CPython (3.13t, 3.14t): importing mlpext leaves the GIL off. csrc/module.c declares
Py_mod_gil = Py_MOD_GIL_NOT_USED; without that declaration the interpreter would turn the GIL back on at import
(with a RuntimeWarning), and every thread calling mlpext would run one at a time.

The wheel workflow runs the suite on free-threaded builds with PYTHON_GIL=0, which forces the GIL off whatever the
modules declare; so this test starts an interpreter without it, as a user's would start.
"""
import subprocess
import sys
import sysconfig

import pytest

from mlp_helpers import subprocess_env

pytestmark = pytest.mark.skipif(not sysconfig.get_config_var("Py_GIL_DISABLED"),
                                reason="needs a free-threaded CPython build (3.13t, 3.14t)")

CHECK = """
import sys, warnings
warnings.simplefilter("error")  # the warning the interpreter gives when an import turns the GIL on
import mlpext
print(sys._is_gil_enabled())
"""


def test_importing_mlpext_leaves_the_gil_off(tmp_path):
    env = subprocess_env()
    env.pop("PYTHON_GIL", None)
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", (done.stdout, done.stderr)
