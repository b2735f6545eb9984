"""README.md (and docs/notebooks.md's commands) against the repository: what can be checked without running the
long commands.

- It opens with the two set-up commands (the main job and the tests), the ones CI runs in a fresh venv.
- Every file or folder it names exists: link targets, paths in its code, and the bare file names of its Layout.
- Every command it shows refers to something that exists: `python path.py` to a script that has the options shown,
  `python -m module` to a module, `pip install ".[extra]"` to an extra of pyproject.toml, `jupyter lab` to a
  Jupyter front end in the notebooks extra.
- The Python version it asks for is pyproject.toml's, and `python docs/xor_loss.py` draws its picture.
"""
import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

from mlp_helpers import subprocess_env

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None

ROOT = pathlib.Path(__file__).resolve().parents[2]  # the repository: this file is tests/<concern>/*.py
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUP_COMMANDS = ['pip install . && python examples/demo.py', 'pip install ".[test]" && pytest']
TOP_DIRS = ("benchmarks", "csrc", "docs", "examples", "mlpext", "notebooks", "tests", "tools", ".ci")
REPOSITORY_ONLY = (".ci/", ".github/")  # what tools/check_sdist.sh keeps out of the sdist
SOURCE_SUFFIXES = (".py", ".c", ".h", ".md", ".ipynb", ".toml", ".sh", ".png", ".npz", ".json")

CODE_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
BLOCKS = CODE_BLOCK.findall(README)
PROSE = CODE_BLOCK.sub("", README)
INLINE = re.findall(r"`([^`\n]+)`", PROSE)


def strip_comment(line):
    return line.split("  #")[0].strip()


def command_lines(text=README):
    """Every shell command a document shows: the lines of its shell and console blocks (without a `$ ` prompt or
    a trailing comment), and the inline code that starts with a command."""
    lines = []
    for lang, body in CODE_BLOCK.findall(text):
        if lang in ("sh", "bash", "console", ""):
            for line in body.splitlines():
                line = strip_comment(line.removeprefix("$ "))
                if re.match(r"(python|pip|pytest|jupyter|diff)\b", line):
                    lines.append(line)
    inline = re.findall(r"`([^`\n]+)`", CODE_BLOCK.sub("", text))
    lines += [code for code in inline if re.match(r"(python|pip|pytest|jupyter|diff)\s", code)]
    return lines


COMMANDS = command_lines()
NOTEBOOKS_DOC = command_lines((ROOT / "docs" / "notebooks.md").read_text(encoding="utf-8"))


def pyproject():
    if tomllib is None:
        pytest.skip("reading pyproject.toml needs tomllib (Python >= 3.11)")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_first_code_block_is_the_two_setup_commands():
    lang, body = BLOCKS[0]
    assert lang == "sh"
    assert [strip_comment(line) for line in body.strip().splitlines()] == SETUP_COMMANDS
    assert README.index("```sh\n" + body) < README.index("\n## ", README.index("## Set up"))  # under Set up


def test_the_readme_and_pyproject_ask_for_the_same_python():
    wanted = re.search(r"Python ≥ (3\.\d+)", README).group(1)
    assert pyproject()["project"]["requires-python"] == f">={wanted}"


def test_link_targets_exist():
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", README)
               if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, missing


@pytest.mark.skipif(not (ROOT / "mlpext" / "__init__.py").exists(),
                    reason="run against an installed copy: the package's source is not beside the tests")
def test_paths_in_code_exist():
    """Paths under the repository's folders, wherever the README writes them in code (commands, inline code)."""
    text = "\n".join([body for _, body in BLOCKS] + INLINE)
    paths = set(re.findall(r"(?<![\w/.-])((?:%s)/[\w./*-]*)" % "|".join(map(re.escape, TOP_DIRS)), text))
    assert {"examples/demo.py", "csrc/module.c", "notebooks/"} <= paths
    if not (ROOT / ".git").exists():  # an unpacked sdist: it leaves out the repository's CI files on purpose
        paths = {p for p in paths if not p.startswith(REPOSITORY_ONLY)}
    missing = [p for p in sorted(paths) if not (any(ROOT.glob(p)) if "*" in p else (ROOT / p).exists())]
    assert not missing, missing


def test_file_names_in_the_layout_exist():
    """Bare names (`dense.c`, `network.py`, `*_impl.h`) name files in csrc/ or mlpext/."""
    names = {code for code in INLINE if "/" not in code and " " not in code and code.endswith(SOURCE_SUFFIXES)}
    assert {"parallel.c", "network.py", "mlp.h"} <= names
    missing = [n for n in sorted(names) if not any((ROOT / d).glob(n) for d in ("csrc", "mlpext"))]
    assert not missing, missing


@pytest.mark.parametrize("commands, least", [(COMMANDS, 6), (NOTEBOOKS_DOC, 2)], ids=["README", "notebooks.md"])
def test_python_scripts_exist_and_take_the_options_shown(commands, least):
    scripts = 0
    for command in commands:
        for segment in re.split(r"&&|\||;|<\(|\)", command):
            match = re.match(r"\s*python\s+(?!-m\s)(\S+\.py)(.*)", segment)
            if not match:
                continue
            script = ROOT / match.group(1)
            assert script.is_file(), command
            source = script.read_text(encoding="utf-8")
            for option in re.findall(r"(?<![\w-])--[\w-]+", match.group(2)):
                assert f'"{option}"' in source, f"{command}: {script.name} has no option {option}"
            scripts += 1
    assert scripts >= least  # README: demo, both lecture scripts, three benchmarks, the picture's script


@pytest.mark.skipif(not (ROOT / "mlpext" / "__init__.py").exists(),
                    reason="run against an installed copy: the package's source is not beside the tests")
def test_python_m_modules_exist():
    modules = {m for command in COMMANDS for m in re.findall(r"python\s+-m\s+([\w.]+)", command)}
    assert "mlpext.digits" in modules
    for module in sorted(modules):
        if module.split(".")[0] == "mlpext":  # the checkout's file, whichever mlpext is installed
            path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
            assert path.is_file(), module
            options = [o for c in COMMANDS if re.search(rf"-m\s+{re.escape(module)}\b", c)
                       for o in re.findall(r"(?<![\w-])--[\w-]+", c)]
            missing = [o for o in options if f'"{o}"' not in path.read_text(encoding="utf-8")]
            assert not missing, (module, missing)
        else:
            assert importlib.util.find_spec(module) is not None, module


@pytest.mark.parametrize("commands, named", [(COMMANDS, {"test", "notebooks", "sklearn", "digits", "progress"}),
                                             (NOTEBOOKS_DOC, {"notebooks"})], ids=["README", "notebooks.md"])
def test_pip_extras_exist(commands, named):
    extras = {e for command in commands for group in re.findall(r'pip install (?:-e )?"\.\[([\w,-]+)\]"', command)
              for e in group.split(",")}
    assert named <= extras
    declared = pyproject()["project"]["optional-dependencies"]
    assert not extras - set(declared), extras - set(declared)


def test_jupyter_lab_comes_with_the_notebooks_extra():
    assert "jupyter lab notebooks/" in COMMANDS and "jupyter lab notebooks/" in NOTEBOOKS_DOC
    notebooks = pyproject()["project"]["optional-dependencies"]["notebooks"]
    assert any(re.match(r"jupyterlab\b", requirement) for requirement in notebooks)


def test_the_readme_picture_script_draws_it(tmp_path):
    """`python docs/xor_loss.py` (here into a temporary file): both loss curves and their difference in one run."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "xor_loss.png"
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "xor_loss.py"), "--out", str(out)],
                          capture_output=True, text=True, env=subprocess_env(), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"\x89PNG")
    loss_gap, weight_gap = map(float, re.search(r"loss (\S+), weights (\S+)$", done.stdout.strip()).groups())
    assert loss_gap < 1e-12 and weight_gap < 1e-12  # the README: "differ by about 4e-15"
