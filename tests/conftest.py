"""Shared pytest configuration for mlpext's tests: Hypothesis profiles and the helpers' import path.

Hypothesis profiles, chosen with the HYPOTHESIS_PROFILE environment variable:

    default  ~100 examples per property (the suite stays well under a minute)
    ci       1000 examples per property, for a slower and more thorough run

No deadline in either profile: the C extension may be rebuilt (and its speed change) while the suite runs, and
a test here is about numbers, never about time.
"""
import os
import sys

from hypothesis import HealthCheck, settings

# mlp_helpers.py lives next to this file; make it importable whatever pytest's import mode is.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

settings.register_profile("default", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
