"""Every Python code block in README.md and docs/*.md runs as written, and code the docs quote exists.

Rules the docs follow (so this test can hold them to it):
- a ```python block is a whole program: it runs on its own, in a fresh process, in an empty folder,
  with the real MNIST files (TINYGRAD_MNIST_DATA) when it reads MNIST; functions it defines named
  `test_*` are then called, so a test shown in the docs is exercised, not just defined;
- a block that quotes part of a file says so in its info string, ```python excerpt=PATH (repository
  path): it is not run, but every code line of it must appear in PATH; ```python from=PATH runs
  *and* must be PATH's code line by line (after the docstring);
- a block that needs files made by the page's shell commands names them under runs/ (a checkpoint
  `runs/NAME.npz`, a history `runs/NAME.json`): they are made first with the real command line;
- signatures and formulas are fenced as ```text, not python;
- inline code placed before a link to a file ("the bias gradient `db = g.sum(0)` of [tensor.py: ...]"),
  and the code in a link label ("[handderived.py: `delta = ...`](...)"), must appear in that file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
NEEDS_MNIST = re.compile(r"\b(example_data|load_mnist|mnist_arrays|mnist_test_arrays|MNIST)\(")
RUN_FILES = re.compile(r"\bruns/([\w-]+)\.(npz|json)\b")
# `code` of/in/from [label](path.py...): the code is said to be in the linked file
QUOTED_BEFORE_LINK = re.compile(
    r"`([^`\n]+)`\)?\s+(?:of|in|from)\s+(?:the\s+[\w-]+\s+)?\[[^\]]*\]\(([^)#\s]+\.py)"
)
# [label](path.py...) (`code` ...  or  [label](path.py...): `code`: the code right after the link
QUOTED_AFTER_LINK = re.compile(r"\]\(([^)#\s]+\.py)[^)]*\)(?::| \()\s*`([^`\n]+)`")
# [file.py: `code`](path.py#L12)
CODE_IN_LINK_LABEL = re.compile(r"\[[\w./-]+\.py: `([^`]+)`\]\(([^)#\s]+\.py)")

RUNNER = """
import sys, types
source = sys.stdin.read()
module = types.ModuleType("__main__")
sys.modules["__main__"] = module
exec(compile(source, sys.argv[1], "exec"), module.__dict__)
for name, value in list(vars(module).items()):
    if name.startswith("test_") and callable(value):
        value()
        print(f"called {name}()")
"""


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    info: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    def option(self, key: str) -> str | None:
        for word in self.info.split()[1:]:
            if word.startswith(f"{key}="):
                return word.split("=", 1)[1]
        return None


def code_blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [
        Block(page, text.count("\n", 0, m.start()) + 1, m.group(1).strip(), m.group(2))
        for m in FENCE.finditer(text)
    ]


PYTHON_BLOCKS = [b for page in PAGES for b in code_blocks(page) if b.language == "python"]
RUNNABLE = [b for b in PYTHON_BLOCKS if b.option("excerpt") is None]
QUOTING = [b for b in PYTHON_BLOCKS if b.option("excerpt") or b.option("from")]


def code_lines(code: str) -> list[str]:
    """The code of each line, comments and blank lines dropped, whitespace normalised."""
    lines = []
    for line in code.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            lines.append(" ".join(line.split()))
    return lines


def normalised(path: Path) -> str:
    return " ".join(path.read_text().split())


def test_the_docs_have_python_blocks_to_run():
    assert len(RUNNABLE) >= 10, [b.id for b in RUNNABLE]
    assert {b.page.name for b in RUNNABLE} >= {"README.md", "nn.md", "visualisation.md", "pictures.md"}


@pytest.fixture(scope="session")
def run_files(tmp_path_factory, request) -> Path:
    """runs/NAME.npz and runs/NAME.json, as the pages' `train --save runs/NAME.npz --history ...` make them
    (a short training: the blocks use the files, not their accuracy)."""
    folder = tmp_path_factory.mktemp("runs")
    names = sorted({m.group(1) for b in RUNNABLE for m in RUN_FILES.finditer(b.code)})
    if not names:
        return folder
    mnist_dir = request.getfixturevalue("mnist_dir")
    for name in names:
        result = subprocess.run(
            [sys.executable, "-m", "tinygrad_mnist", "train", "--model", "mlp-128", "--epochs", "1",
             "--train-size", "3000", "--test-size", "1000", "--no-progress",
             "--save", str(folder / f"{name}.npz"), "--history", str(folder / f"{name}.json")],
            capture_output=True, text=True, cwd=ROOT, timeout=600,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TINYGRAD_MNIST_DATA": str(mnist_dir)},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_python_block_runs_as_written(block, tmp_path, request):
    if "render(" in block.code and shutil.which("dot") is None and not os.environ.get("CI"):
        pytest.skip("needs Graphviz's dot program (CI installs it)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    if NEEDS_MNIST.search(block.code):
        env["TINYGRAD_MNIST_DATA"] = str(request.getfixturevalue("mnist_dir"))
    if RUN_FILES.search(block.code):
        (tmp_path / "runs").symlink_to(request.getfixturevalue("run_files"), target_is_directory=True)
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, block.id],
        input=block.code,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, f"{block.id} failed:\n{result.stderr[-4000:]}"
    defined = re.findall(r"^def (test_\w+)", block.code, re.MULTILINE)
    assert all(f"called {name}()" in result.stdout for name in defined), result.stdout


@pytest.mark.parametrize("block", QUOTING, ids=lambda b: b.id)
def test_quoted_block_matches_its_file(block):
    path = ROOT / (block.option("excerpt") or block.option("from"))
    assert path.is_file(), f"{block.id}: {path} does not exist"
    source = normalised(path)
    missing = [line for line in code_lines(block.code) if line not in source]
    assert not missing, f"{block.id}: not in {path.relative_to(ROOT)}: {missing}"
    if block.option(
        "from"
    ):  # the whole program: the file from the block's first line on (after its docstring)
        lines, file_lines = code_lines(block.code), code_lines(path.read_text())
        assert file_lines[file_lines.index(lines[0]) :] == lines, f"{block.id} differs from {path}"


def inline_quotes(pages: list[Path]) -> list[tuple[str, str, Path]]:
    """(where, code, file) for every piece of inline code the pages say is in a linked Python file."""
    quotes = []
    for page in pages:
        text = page.read_text()
        for pattern in (QUOTED_BEFORE_LINK, CODE_IN_LINK_LABEL, QUOTED_AFTER_LINK):
            for m in pattern.finditer(text):
                code, link = m.group(1), m.group(2)
                if pattern is QUOTED_AFTER_LINK:
                    code, link = link, code
                if not re.search(r"[()\[\]=.@*+-]", code):
                    continue  # a bare name ("Tensor", "loss") is prose, not a quote
                where = f"{page.name}:{text.count(chr(10), 0, m.start()) + 1}"
                quotes.append((where, code, (page.parent / link).resolve()))
    return quotes


def wrong_quotes(quotes: list[tuple[str, str, Path]]) -> list[str]:
    wrong = []
    for where, code, path in quotes:
        method = re.sub(r"^Tensor\.", "def ", code)  # `Tensor.sigmoid` names the method
        if not path.is_file():
            wrong.append(f"{where}: links to {path}, which does not exist")
        elif " ".join(code.split()) not in normalised(path) and method not in path.read_text():
            wrong.append(f"{where}: `{code}` is not in {path.name}")
    return wrong


def test_inline_code_quoted_from_a_file_is_in_that_file():
    quotes = inline_quotes(PAGES)
    assert len(quotes) >= 15  # backprop.md alone quotes more than that
    wrong = wrong_quotes(quotes)
    assert not wrong, "\n".join(wrong)


def test_the_quote_checks_catch_drift(tmp_path):
    """A quote that is not in its file, and a link to a missing file, are reported; true ones are not."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "ops.py").write_text(
        "class Tensor:\n    def linear(self, w, b):\n        return _sum_rows(g2)\n"
    )
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "the bias gradient `g2.sum(axis=0)` of [ops.py: `Tensor.linear`](../ops.py)\n"
        "the bias gradient `_sum_rows(g2)` of [ops.py: `Tensor.linear`](../ops.py)\n"
        "see [ops.py: `return _sum_rows(g2)`](../ops.py#L3) and `f(x)` in [gone.py](../gone.py)\n"
        "the backward of [ops.py: `Tensor.linear`](../ops.py) (`g.sum(0)` with ...)\n"
    )
    assert wrong_quotes(inline_quotes([page])) == [
        "page.md:1: `g2.sum(axis=0)` is not in ops.py",
        f"page.md:3: links to {tmp_path / 'gone.py'}, which does not exist",
        "page.md:4: `g.sum(0)` is not in ops.py",
    ]
    assert code_lines("out = f(x)  # a comment\n\n# only a comment\n") == ["out = f(x)"]


def readme_command_block() -> list[str]:
    """The commands of README's "The command line" block, without the line that activates .venv."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The command line") :]
    block = next(m.group(2) for m in FENCE.finditer(section) if m.group(2).startswith("."))
    return [line for line in block.splitlines() if line.strip() and not line.startswith(". ")]


@pytest.mark.slow
def test_readme_command_line_block_runs_as_written(mnist_dir, tmp_path):
    """Each command of the block, in order, in a folder laid out like the checkout; outputs go to runs/."""
    (tmp_path / "tinygrad_mnist").symlink_to(ROOT / "tinygrad_mnist", target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TINYGRAD_MNIST_DATA": str(mnist_dir), "MPLBACKEND": "Agg"}
    commands = readme_command_block()
    names = [c.split()[1] for c in commands]
    assert names == ["train", "eval", "graph", "predict", "plot", "predict", "serve"]
    for command in commands[:-1]:  # serve runs until stopped: tests/test_serve_*.py start it themselves
        args = command.split("#")[0].split()
        assert args[0] == "tinygrad-mnist"
        result = subprocess.run(
            [sys.executable, "-m", "tinygrad_mnist", *args[1:]],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=1200,
        )  # fmt: skip
        assert result.returncode == 0, f"{command}:\n{result.stderr}"
    assert (tmp_path / "runs" / "graph.svg").is_file() and (
        tmp_path / "runs" / "figures" / "curves.png"
    ).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "tinygrad_mnist"]  # nothing outside runs/
