"""Train the weights that ship in the package and write their manifest: the one source of both.

    python benchmarks/make_weights.py            # `make weights`: retrain all, rewrite tinygrad_mnist/weights/
    python benchmarks/make_weights.py --check    # only check the shipped files against the manifest
    python benchmarks/make_weights.py --only mlp # retrain one (the others keep their manifest entries)

Each model is trained by this project's own command line with its seeded recipe (the command is
recorded verbatim in the manifest), saved by `train --save` (so in whatever format `checkpoint.save`
writes), then loaded back through `checkpoint.load` and evaluated on the full MNIST test set. The
manifest records the file's SHA-256, its test accuracy and the command. Retraining prints whether each
file came out byte-for-byte the same as the manifest's, and how its accuracy moved.

To ship another model, add one line to SHIPPED.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a clone without installing

from tinygrad_mnist import pretrained  # noqa: E402
from tinygrad_mnist.atomic import atomic_write, atomic_write_text  # noqa: E402


@dataclass(frozen=True)
class Recipe:
    """One shipped model: its name (models.MODELS) and the `train` flags that make it."""

    name: str
    train_args: tuple[str, ...]


SHIPPED = [  # the first is the default weights of predict, eval, plot and serve
    Recipe("mlp", ("--model", "mlp", "--seed", "1")),
    Recipe("sigmoid-16-16", ("--model", "sigmoid-16-16", "--seed", "1")),
    Recipe("cnn", ("--model", "cnn", "--seed", "1")),
]
FILE_SUFFIX = ".safetensors"  # the checkpoint format's file name ending
QUICK_ARGS = ("--train-size", "10000", "--epochs", "1")  # --quick: the test suite's smoke run


def train(recipe: Recipe, dest: Path, extra: tuple[str, ...], data_dir: str | None) -> str:
    """Run `tinygrad-mnist train ... --save` into a temporary file, move it to `dest`; returns the command."""
    args = (*recipe.train_args, *extra)
    command = "tinygrad-mnist train " + " ".join(args) + f" --save {dest.name}"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / dest.name
        cli = [sys.executable, "-m", "tinygrad_mnist", "train", *args, "--no-progress", "--save", str(out)]
        if data_dir:
            cli += ["--data-dir", data_dir]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        print(f"$ {command}", flush=True)
        subprocess.run(cli, check=True, env=env, cwd=ROOT)
        with atomic_write(dest) as f:
            f.write(out.read_bytes())
    return command


def count_correct(path: Path, data_dir: str | None) -> tuple[int, int]:
    """(correct, images) of the checkpoint at `path` on the full MNIST test set, loaded as any checkpoint."""

    from tinygrad_mnist.predict import predict_proba
    from tinygrad_mnist.recipes import mnist_test_arrays

    model = pretrained.load_checkpoint(path).model
    x, y = mnist_test_arrays(data_dir)
    return int((predict_proba(model, x).argmax(axis=1) == y).sum()), len(y)


def check(directory: Path, data_dir: str | None) -> list[str]:
    """Problems with the shipped files (checksum, accuracy); empty when all match the manifest."""
    problems = []
    manifest = pretrained.read_manifest(directory)
    for name, weights in pretrained.shipped(directory).items():
        try:
            pretrained.verify(weights)
        except pretrained.PretrainedError as error:
            problems.append(str(error))
            continue
        correct, n = count_correct(weights.path, data_dir)
        expected = manifest["weights"][name]["test_correct"]
        status = "ok" if correct == expected else f"MISMATCH: manifest says {expected}"
        print(f"{name}: sha256 ok, {correct}/{n} test images right ({correct / n:.2%}) {status}")
        if correct != expected:
            problems.append(f"{weights.path}: {correct} test images right, the manifest says {expected}")
    return problems


def build(directory: Path, only: list[str], quick: bool, data_dir: str | None) -> dict:
    try:
        old = pretrained.read_manifest(directory)["weights"]
    except pretrained.PretrainedError:
        old = {}
    entries = {}
    for recipe in SHIPPED:
        if only and recipe.name not in only:
            if recipe.name in old:
                entries[recipe.name] = old[recipe.name]
            continue
        dest = directory / f"{recipe.name}{FILE_SUFFIX}"
        command = train(recipe, dest, QUICK_ARGS if quick else (), data_dir)
        correct, n = count_correct(dest, data_dir)
        entry = {
            "file": dest.name,
            "sha256": pretrained.sha256_of(dest),
            "bytes": dest.stat().st_size,
            "test_accuracy": correct / n,
            "test_correct": correct,
            "test_images": n,
            "command": command,
            "description": pretrained_description(recipe.name),
        }
        previous = old.get(recipe.name)
        if previous is None:
            change = "new"
        elif previous.get("sha256") == entry["sha256"]:
            change = "byte-for-byte the same as before"
        else:
            change = f"changed (test accuracy was {previous.get('test_accuracy', 0):.2%})"
        print(
            f"{recipe.name}: {entry['bytes']:,} bytes, test accuracy {correct / n:.2%}; {change}", flush=True
        )
        entries[recipe.name] = entry
    default = next(r.name for r in SHIPPED if r.name in entries)  # the first in SHIPPED that was built
    manifest = {"format": pretrained.MANIFEST_FORMAT, "default": default, "weights": entries}
    atomic_write_text(directory / pretrained.MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return manifest


def pretrained_description(name: str) -> str:
    from tinygrad_mnist.recipes import get_recipe

    return get_recipe(name).description


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=pretrained.WEIGHTS_DIR, help="folder of the weights")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="retrain only these models")
    parser.add_argument("--check", action="store_true", help="check the shipped files; train nothing")
    parser.add_argument("--quick", action="store_true", help=f"train briefly ({' '.join(QUICK_ARGS)}): tests")
    parser.add_argument("--data-dir", help="MNIST folder (default: $TINYGRAD_MNIST_DATA)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only) - {r.name for r in SHIPPED})
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; shipped: {', '.join(r.name for r in SHIPPED)}")
    try:
        if not args.check:
            build(args.out, args.only, args.quick, args.data_dir)
        problems = check(args.out, args.data_dir)
    except (pretrained.PretrainedError, subprocess.CalledProcessError) as error:
        problems = [str(error)]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
