"""mlpext/_core.pyi, the type stub of the C extension, declares every name that the package takes from mlpext._core,
private ones too (`_after_fork_in_child`, the `net_*` functions), and each of them exists in the built module.

A type checker reads the stub, not the module: a name used but missing from the stub is an error for it
("Module 'mlpext._core' has no attribute ..."). The names are read from the package's source with ast: every
`from mlpext._core import NAME` (or `from ._core import NAME`), and every `_core.NAME` in a module that binds
`_core` by `from mlpext import _core`.
"""
import ast
import pathlib

import pytest

import mlpext
import mlpext._core

PACKAGE = pathlib.Path(mlpext.__file__).resolve().parent
STUB = PACKAGE / "_core.pyi"


def stub_names(functions_only=False):
    """The names that _core.pyi declares at its top level: functions (overloads too) and classes, and unless
    functions_only, variables and type aliases (`_Param = ...`, which exist only in the stub)."""
    names = set()
    for node in ast.parse(STUB.read_text(encoding="utf-8"), filename=str(STUB)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif functions_only:
            continue
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def is_core_module(node):
    """`from mlpext._core import ...` or `from ._core import ...`."""
    return isinstance(node, ast.ImportFrom) and (
        (node.level == 0 and node.module == "mlpext._core") or (node.level == 1 and node.module == "_core"))


def binds_core(node):
    """`from mlpext import _core` or `from . import _core` (not renamed)."""
    return (isinstance(node, ast.ImportFrom)
            and ((node.level == 0 and node.module == "mlpext") or (node.level == 1 and node.module is None))
            and any(alias.name == "_core" and alias.asname is None for alias in node.names))


def core_names_used(path):
    """The names that the module at path takes from mlpext._core."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if is_core_module(node):
            names.update(alias.name for alias in node.names)
    if any(binds_core(node) for node in ast.walk(tree)):
        names.update(node.attr for node in ast.walk(tree)
                     if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                     and node.value.id == "_core")
    return names


MODULES = sorted(PACKAGE.glob("*.py"))


def test_the_init_module_takes_names_from_the_core():
    # The rule below must see __init__.py's imports (the public functions and the private fork hook).
    assert {"forward", "train", "_after_fork_in_child"} <= core_names_used(PACKAGE / "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_name_taken_from_the_core_is_in_the_stub_and_the_module(path):
    used = core_names_used(path)
    assert "*" not in used, f"{path.name}: `from mlpext._core import *` cannot be checked"
    not_in_stub = sorted(used - stub_names())
    assert not not_in_stub, f"{path.name} takes these names from mlpext._core, which _core.pyi lacks: {not_in_stub}"
    not_in_module = sorted(n for n in used if not hasattr(mlpext._core, n))
    assert not not_in_module, f"{path.name} takes these names from mlpext._core, which it lacks: {not_in_module}"


def test_every_function_in_the_stub_is_in_the_module():
    missing = sorted(stub_names(functions_only=True) - set(dir(mlpext._core)))
    assert not missing, f"_core.pyi declares functions that mlpext._core lacks: {missing}"
