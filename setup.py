"""Build of mlpext's C extension, mlpext._core. Everything else about the package is in pyproject.toml."""
import glob
import os

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCES = [
    "csrc/module.c",
    "csrc/activations.c",
    "csrc/dense.c",
    "csrc/kernels.c",
    "csrc/lecture.c",
    "csrc/net.c",
    "csrc/optim.c",
    "csrc/parallel.c",
]

# GCC and Clang (Linux, macOS, mingw-w64).
GNU_ARGS = [
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
# MSVC: C11 (the core uses _Generic, _Alignas, compound literals), the sources are UTF-8 (a Korean Windows
# defaults to code page 949), and IEEE semantics with no contraction (/fp:precise contracts nothing in C).
# Atomics are Interlocked* (compiler.h), so no /experimental:c11atomics. Only the portable kernels (docs/design.md).
MSVC_ARGS = ["/std:c11", "/utf-8", "/O2", "/fp:precise"]


class BuildExt(build_ext):
    """Picks the compiler flags by the compiler setuptools will run (not by the platform: mingw-w64 on Windows is
    GCC, clang-cl is MSVC-like)."""

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        args = list(MSVC_ARGS if msvc else GNU_ARGS)
        # MLPEXT_CFLAGS / MLPEXT_LDFLAGS add flags to a local build (e.g. sanitizers); the shipped build sets neither.
        args += os.environ.get("MLPEXT_CFLAGS", "").split()
        link = ([] if msvc or os.name == "nt" else ["-pthread"]) + os.environ.get("MLPEXT_LDFLAGS", "").split()
        for ext in self.extensions:
            ext.extra_compile_args = args
            ext.extra_link_args = link
            ext.define_macros = [m for m in ext.define_macros if m[0] != "MLPEXT_BUILD_FLAGS"]
            ext.define_macros.append(("MLPEXT_BUILD_FLAGS", '"' + " ".join(args) + '"'))
        super().build_extensions()


setup(
    cmdclass={"build_ext": BuildExt},
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
            ],
        )
    ],
)
