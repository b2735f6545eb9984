"""Build of mlpext's C extension, mlpext._core. Everything else about the package is in pyproject.toml."""
import glob
import os
import shutil
import subprocess

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
# clang-cl (LLVM's MSVC-compatible driver; MLPEXT_CC=clang-cl, as the Windows wheels are built): MSVC's command line,
# ABI and C library, Clang's compiler, so the x86 kernels and their run-time dispatch are built as with GCC/Clang
# (docs/design.md, "Portability"). Clang's own options go through /clang:; no /fp:precise, which clang-cl takes
# as leave to contract a·b + c into an FMA.
CLANG_CL_ARGS = ["/std:c11", "/utf-8", "/O2"] + ["/clang:" + a for a in GNU_ARGS if a.startswith("-f")]


def clang_cl():
    """The clang-cl that MLPEXT_CC=clang-cl asks for (on PATH, else LLVM's default install), and the compiler-rt
    builtins library to link: it holds __cpu_model, which the run-time dispatch (__builtin_cpu_supports) reads."""
    cc = shutil.which("clang-cl") or os.path.join(os.environ.get("ProgramFiles", r"C:\Program Files"), "LLVM", "bin",
                                                  "clang-cl.exe")
    if not os.path.isfile(cc):
        raise RuntimeError(f"MLPEXT_CC=clang-cl: clang-cl is not on PATH nor at {cc}; install LLVM, or unset "
                           "MLPEXT_CC")
    builtins = subprocess.run([cc, "/clang:--rtlib=compiler-rt", "/clang:-print-libgcc-file-name"],
                              capture_output=True, text=True, check=True).stdout.strip()
    if not os.path.isfile(builtins):
        raise RuntimeError(f"MLPEXT_CC=clang-cl: {cc} names {builtins!r} as its compiler-rt builtins, which is "
                           "not there; install LLVM with compiler-rt")
    return cc, builtins


class BuildExt(build_ext):
    """Picks the compiler flags by the compiler setuptools will run (not by the platform: mingw-w64 on Windows is
    GCC, clang-cl is MSVC-like)."""

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        args = list(MSVC_ARGS if msvc else GNU_ARGS)
        link = [] if msvc or os.name == "nt" else ["-pthread"]
        wanted = os.environ.get("MLPEXT_CC", "")
        if wanted not in ("", "clang-cl"):
            raise RuntimeError(f"MLPEXT_CC must be clang-cl or unset, got {wanted!r}")
        if wanted == "clang-cl":
            if not msvc:
                raise RuntimeError("MLPEXT_CC=clang-cl needs setuptools' MSVC toolchain (Windows), whose linker, "
                                   f"SDK and C library it uses; this build's compiler is {self.compiler.compiler_type}")
            if not getattr(self.compiler, "initialized", False):
                self.compiler.initialize()  # finds MSVC's linker, the SDK and their environment (sets cc: cl.exe)
            self.compiler.cc, builtins = clang_cl()
            args, link = list(CLANG_CL_ARGS), [builtins]
        # MLPEXT_CFLAGS / MLPEXT_LDFLAGS add flags to a local build (e.g. sanitizers); the shipped build sets neither.
        args += os.environ.get("MLPEXT_CFLAGS", "").split()
        link += os.environ.get("MLPEXT_LDFLAGS", "").split()
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
