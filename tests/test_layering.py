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


def test_viz_is_a_tool_on_the_engine_only():
    """Graph pictures, backward traces and the stepping page know nothing of MNIST (backprop_steps.py does)."""
    allowed = ("tinygrad_mnist.autograd", "tinygrad_mnist.viz", "tinygrad_mnist.atomic")
    assert {m for m in project_imports(PACKAGE / "viz") if not m.startswith(allowed)} == set()


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


# Every top-level module or package of tinygrad_mnist, by layer (lowest first). A module may import
# its own layer and the layers below it, never above: that is the architecture docs/architecture.md draws.
LAYERS: list[tuple[str, set[str]]] = [
    ("utilities", {"atomic", "inputs", "threads", "samples", "handderived"}),
    ("engine", {"autograd", "tensor"}),
    ("engine tools", {"gradcheck", "testing", "viz"}),
    ("modules and optimisers", {"nn", "optim"}),
    ("data", {"data"}),
    ("checkpoints", {"architecture", "checkpoint"}),
    (
        "the MNIST application",
        {"models", "recipes", "train", "predict", "plots", "pretrained", "backprop_steps", "serve"},
    ),
    ("command line", {"cli", "__main__"}),
]
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}


def _top_level(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer():
    found = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert found - set(RANK) == set(), f"modules without a layer in LAYERS: {sorted(found - set(RANK))}"


def test_no_module_imports_a_higher_layer():
    """Imports go down or sideways only (`from tinygrad_mnist import nn` counts as importing nn; the
    package's own `__init__` exposes the engine and loads nn/optim/checkpoint lazily)."""
    wrong = []
    for name, rank in RANK.items():
        path = PACKAGE / f"{name}.py" if (PACKAGE / f"{name}.py").exists() else PACKAGE / name
        for f in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(f.read_text())):
                targets = []
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.module
                    and node.module.startswith("tinygrad_mnist")
                ):
                    top = _top_level(node.module)
                    targets = [a.name for a in node.names] if top == "__init__" else [top]
                elif isinstance(node, ast.Import):
                    targets = [_top_level(a.name) for a in node.names if a.name.startswith("tinygrad_mnist.")]
                for target in targets:
                    if target in RANK and RANK[target] > rank:
                        wrong.append(
                            f"{f.relative_to(ROOT)} ({LAYERS[rank][0]}) imports {target} ({LAYERS[RANK[target]][0]})"
                        )
    assert not wrong, "\n".join(wrong)
