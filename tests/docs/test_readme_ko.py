"""README.ko.md, the Korean edition of the README, is kept in step with README.md, and so are the Korean notebooks.

- Both READMEs show the same shell commands (fenced `sh` blocks, and `$ ` lines of plain blocks), and the two
  set-up commands come first in both, identical.
- The Python blocks of README.ko.md are README.md's "lecture's loop next to mlpext's" blocks, in the same order,
  with only the comments translated.
- Every command-like inline code span of README.ko.md (`pip ...`, `python ...`) is one that README.md shows too.
- Its relative links point at files that exist (and anchors into README.md at its headings), and it links every
  notebook in notebooks/ko/.
- notebooks/ko/ has a Korean version of the English notebooks 01-04, in Korean, with the lecture's Korean terms.

tests/docs/test_notebooks.py executes the Korean notebooks with the English ones.
"""
import ast
import io
import json
import pathlib
import re
import tokenize

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]  # the repository: this file is tests/<concern>/*.py
README = ROOT / "README.md"
README_KO = ROOT / "README.ko.md"
NOTEBOOKS_KO = ROOT / "notebooks" / "ko"
KOREAN_NOTEBOOKS = ["01_worked_example.ipynb", "02_xor_training.ipynb", "03_learning_rate.ipynb",
                    "04_linear_vs_nonlinear.ipynb"]
LECTURE_TERMS = ["순전파", "역전파", "경사하강법", "학습률", "활성화 함수", "손실함수"]
SHELL_LANGS = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def fenced_blocks(text):
    """[(info string, body)] of every fenced code block, in order."""
    return [(info.strip().lower(), body) for info, body in FENCE.findall(text)]


def shell_commands(text):
    """The shell commands shown in fenced blocks, in order: every line of an sh/bash/shell block (its trailing
    comment dropped; comment lines skipped) and the `$ ` lines of a console or plain block."""
    commands = []
    for info, body in fenced_blocks(text):
        for line in body.splitlines():
            line = line.strip()
            if line.startswith("$ "):
                commands.append(line[2:].strip())
            elif info in SHELL_LANGS - {"console"} and line and not line.startswith("#"):
                commands.append(re.sub(r"\s+#.*$", "", line))
    return [" ".join(c.split()) for c in commands]


def without_comments(code):
    """Python code with its comments removed and trailing blanks stripped, line by line."""
    lines = code.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            lines[row - 1] = lines[row - 1][:col]
    return "\n".join(line.rstrip() for line in lines).strip()


def same_code(code):
    """A notebook cell's code without its comments and docstrings (which the Korean notebooks translate), as an
    AST dump; IPython magic lines kept as they are."""
    magics = [line for line in code.splitlines() if line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join("" if line in magics else line for line in code.splitlines()))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return magics, ast.dump(tree)


def python_blocks(text):
    return [without_comments(body) for info, body in fenced_blocks(text) if info == "python"]


def sections(text):
    """The `## ` sections of a Markdown text (fenced blocks left alone): [(heading, body)]."""
    out, heading, body, fenced = [], None, [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            out.append((heading, "".join(body)))
            heading, body = line[3:].strip(), []
        else:
            body.append(line)
    out.append((heading, "".join(body)))
    return out


def inline_code(text):
    prose = FENCE.sub("", text)
    return [span.strip() for span in re.findall(r"`([^`\n]+)`", prose)]


def is_command(span):
    return re.match(r"(pip|python|python3|pytest|jupyter)( |$)", span) is not None


def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.fixture(scope="module")
def en():
    return README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ko():
    return README_KO.read_text(encoding="utf-8")


def test_shell_block_parser_sees_the_set_up_commands(en):
    # The parser itself: README.md's set-up is an sh block of commands with trailing comments.
    commands = shell_commands(en)
    assert len(commands) >= 2, commands
    assert all("#" not in c for c in commands), commands
    assert shell_commands("```sh\npip install .   # a comment\n# a line\n```\n```\n$ python -m x\nout\n```\n") == \
        ["pip install .", "python -m x"]


def test_set_up_commands_are_the_same_and_first(en, ko):
    assert shell_commands(ko)[:2] == shell_commands(en)[:2]


def test_same_shell_commands(en, ko):
    en_commands, ko_commands = set(shell_commands(en)), set(shell_commands(ko))
    assert not en_commands - ko_commands, f"README.md's commands missing from README.ko.md: {en_commands - ko_commands}"
    assert not ko_commands - en_commands, f"README.ko.md's commands not in README.md: {ko_commands - en_commands}"


def test_python_blocks_are_the_lecture_loop_section_of_readme(en, ko):
    lecture_sections = [body for heading, body in sections(en)
                        if any("sigmoid_derivative(predicted_output)" in b for b in python_blocks(body))]
    assert len(lecture_sections) == 1, "README.md should have one section with the lecture's loop"
    expected = python_blocks(lecture_sections[0])
    assert len(expected) >= 2
    assert python_blocks(ko) == expected


def test_inline_commands_are_readme_commands(en, ko):
    known = set(shell_commands(en)) | {" ".join(s.split()) for s in inline_code(en) if is_command(s)}
    ko_commands = {" ".join(s.split()) for s in inline_code(ko) if is_command(s)}
    assert ko_commands, "README.ko.md should name commands such as python -m mlpext.digits"
    assert not ko_commands - known, f"commands in README.ko.md that README.md does not show: {ko_commands - known}"


def test_links_resolve(en, ko):
    links = re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", ko))
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert local
    en_anchors = {slug(h) for h, _ in sections(en) if h} | {slug(m) for m in re.findall(r"^#+ (.*)$", en, re.M)}
    for link in local:
        path, _, anchor = link.partition("#")
        assert (ROOT / path).exists(), f"README.ko.md links to a missing file: {link}"
        if anchor:
            assert path == "README.md" and anchor in en_anchors, f"README.ko.md links to a missing anchor: {link}"
    linked = {pathlib.PurePosixPath(link).name for link in local if link.startswith("notebooks/ko/")}
    on_disk = {p.name for p in NOTEBOOKS_KO.glob("*.ipynb")}
    assert on_disk and on_disk <= linked, f"notebooks/ko/ notebooks not linked from README.ko.md: {on_disk - linked}"


def notebook_cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell):
    return "".join(cell["source"])


@pytest.mark.parametrize("name", KOREAN_NOTEBOOKS)
def test_korean_notebook_follows_the_english_one(name):
    english, korean = ROOT / "notebooks" / name, NOTEBOOKS_KO / name
    assert korean.exists(), f"no Korean version of {name} in notebooks/ko/"
    cells = notebook_cells(korean)
    markdown = [source(c) for c in cells if c["cell_type"] == "markdown"]
    assert markdown and all(HANGUL.search(m) for m in markdown), "every markdown cell should be in Korean"
    # The same computation as the English notebook: its code cells, comments and docstrings aside (translated).
    korean_code = [same_code(source(c)) for c in cells if c["cell_type"] == "code"]
    english_code = [same_code(source(c)) for c in notebook_cells(english) if c["cell_type"] == "code"]
    assert len(korean_code) == len(english_code)
    for i, (k, e) in enumerate(zip(korean_code, english_code)):
        assert k == e, f"code cell {i} differs from the English notebook's"
    # Committed with outputs, as the English notebooks are.
    assert all(c.get("outputs") for c in cells if c["cell_type"] == "code" and "plt.show()" in source(c))


def test_korean_notebooks_use_the_lecture_terms():
    text = "".join(source(c) for name in KOREAN_NOTEBOOKS if (NOTEBOOKS_KO / name).exists()
                   for c in notebook_cells(NOTEBOOKS_KO / name) if c["cell_type"] == "markdown")
    missing = [term for term in LECTURE_TERMS if term not in text]
    assert not missing, f"the lecture's terms missing from the Korean notebooks: {missing}"
