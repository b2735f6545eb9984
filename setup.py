"""Build of mlpext's C extension, mlpext._core. Everything else about the package is in pyproject.toml."""
import glob
import os
import sys

import numpy
from setuptools import Extension, setup

SOURCES = [
    "csrc/module.c",
    "csrc/activations.c",
    "csrc/dense.c",
    "csrc/lecture.c",
    "csrc/net.c",
    "csrc/optim.c",
    "csrc/parallel.c",
]


def compile_args():
    if sys.platform == "win32":
        return ["/O2", "/fp:precise"]
    args = [
        "-std=c11",
        "-O3",
        "-Wall",
        "-Wextra",
        # Exact arithmetic: round every product before adding it (no FMA contraction), keep IEEE semantics
        # (no -ffast-math); errno from libm is never read.
        "-ffp-contract=off",
        "-fno-math-errno",
        # Lets the compiler turn the selects in vmath.h into SIMD blends; FP results are unchanged (no code
        # here reads the floating-point exception flags).
        "-fno-trapping-math",
    ]
    # MLPEXT_CFLAGS adds flags to a local build (e.g. sanitizers); the shipped build never sets it.
    return args + os.environ.get("MLPEXT_CFLAGS", "").split()


setup(
    ext_modules=[
        Extension(
            "mlpext._core",
            sources=SOURCES,
            depends=sorted(glob.glob("csrc/*.h")),  # rebuild when a header or template body changes
            include_dirs=["csrc", numpy.get_include()],
            define_macros=[
                # Built against NumPy 2.x, runs on NumPy >= 1.25: the oldest C API we may use.
                ("NPY_TARGET_VERSION", "NPY_1_25_API_VERSION"),
                ("NPY_NO_DEPRECATED_API", "NPY_1_25_API_VERSION"),
                ("MLPEXT_BUILD_FLAGS", '"' + " ".join(compile_args()) + '"'),
            ],
            extra_compile_args=compile_args(),
            extra_link_args=["-pthread"] + os.environ.get("MLPEXT_LDFLAGS", "").split(),
        )
    ],
)
