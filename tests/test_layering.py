"""The folder layout is the architecture: lower layers never import higher ones."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tinygrad_mnist"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def project_imports(folder_or_file: Path) -> set[str]:
    files = [folder_or_file] if folder_or_file.is_file() else sorted(folder_or_file.rglob("*.py"))
    return {m for f in files for m in imported_modules(f) if m.startswith("tinygrad_mnist")}


def test_the_engine_imports_nothing_of_the_project():
    assert {
        m for m in project_imports(PACKAGE / "autograd") if not m.startswith("tinygrad_mnist.autograd")
    } == set()


def test_data_is_numpy_only():
    assert {
        m
        for m in project_imports(PACKAGE / "data")
        if not m.startswith(("tinygrad_mnist.data", "tinygrad_mnist.atomic"))
    } == set()


def test_nn_and_optim_sit_on_the_engine_only():
    allowed = ("tinygrad_mnist.autograd", "tinygrad_mnist.nn", "tinygrad_mnist.optim")
    for layer in ("nn", "optim"):
        assert {m for m in project_imports(PACKAGE / layer) if not m.startswith(allowed)} == set(), layer


def test_handderived_uses_plain_numpy():
    assert project_imports(PACKAGE / "handderived.py") == set()


def test_importing_the_engine_or_the_data_layer_loads_no_higher_layer():
    code = (
        "import sys, tinygrad_mnist.data, tinygrad_mnist.autograd; "
        "loaded = [m for m in ('tinygrad_mnist.nn', 'tinygrad_mnist.optim', 'tinygrad_mnist.train', 'tinygrad_mnist.cli') if m in sys.modules]; "
        "assert not loaded, loaded; "
        "import tinygrad_mnist; assert tinygrad_mnist.nn.Linear and tinygrad_mnist.optim.SGD"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_the_page_sits_below_the_command_line_and_nothing_below_imports_it():
    assert not {m for m in project_imports(PACKAGE / "serve") if m.startswith("tinygrad_mnist.cli")}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "serve") or path.is_relative_to(PACKAGE / "cli"):
            continue
        assert not {m for m in project_imports(path) if m.startswith("tinygrad_mnist.serve")}, path.name


def test_pretrained_weights_load_through_the_checkpoint_api_only():
    """The shipped files are ordinary checkpoints: nothing but checkpoint.py reads their format."""
    for path in (PACKAGE / "pretrained.py", *sorted((PACKAGE / "serve").rglob("*.py"))):
        assert "np.load" not in path.read_text() and "zipfile" not in path.read_text(), path.name


def test_compile_sits_on_the_engine_and_optim_only():
    allowed = ("tinygrad_mnist.autograd", "tinygrad_mnist.optim", "tinygrad_mnist.compile")
    assert {m for m in project_imports(PACKAGE / "compile") if not m.startswith(allowed)} == set()
