"""Shared pytest configuration for mlpext's tests: Hypothesis profiles and the helpers' import path.

Hypothesis profiles, chosen with the HYPOTHESIS_PROFILE environment variable:

    default  ~100 examples per property (the suite stays well under a minute)
    ci       1000 examples per property, for a slower and more thorough run

No deadline in either profile: the C extension may be rebuilt (and its speed change) while the suite runs, and
a test here is about numbers, never about time.

The tests are grouped by concern, one directory each (its conftest.py says what it holds): lecture/, network/,
binding/, sklearn/ and docs/; c/ has the C unit tests (tests/c/run.sh, not pytest). The helpers every directory
uses stay here: this file, mlp_helpers.py, mpi_worker.py and data/.
"""
import importlib.abc
import importlib.machinery
import os
import signal
import sys

import pytest
from hypothesis import HealthCheck, settings

# mlp_helpers.py and mpi_worker.py live next to this file; make them importable from every directory below,
# whatever pytest's import mode is.
TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS)


class _NoTestDirectoryPackages(importlib.abc.MetaPathFinder):
    """With tests/ on sys.path, its directories (no __init__.py) would pass for namespace packages of their names:
    `import sklearn` would give a folder tests/sklearn/ where scikit-learn is not installed, and
    importorskip("sklearn") would not skip. Such an import fails here, as it would without these directories."""

    def find_spec(self, name, path=None, target=None):
        if path is None and os.path.isdir(os.path.join(TESTS, name)):
            spec = importlib.machinery.PathFinder.find_spec(name)
            if spec is not None and spec.origin is None and all(
                    os.path.dirname(location) == TESTS for location in spec.submodule_search_locations):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoTestDirectoryPackages())

settings.register_profile("default", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler (raise KeyboardInterrupt) for the test, whatever the runner installed. A process
    started with SIGINT ignored (under nohup, as a background job of a script, by some CI runners) has none, and
    _thread.interrupt_main() then does nothing: a test waiting for its KeyboardInterrupt would run on for minutes."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
