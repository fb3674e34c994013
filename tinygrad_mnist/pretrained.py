"""The trained weights shipped inside the package, and which weights a command uses.

`tinygrad-mnist predict digit.png` should work on a fresh install, before anything is trained, as the
classic write-ups promise ("an already trained set is provided"). So a few models are trained by
`benchmarks/make_weights.py` (this project's own `train` command, seeded recipes) and shipped in
`tinygrad_mnist/weights/` with a manifest: for each model its file, SHA-256, test accuracy and the exact
command that made it. The files are ordinary checkpoints, read by `checkpoint.load` like any other,
and their checksum is checked before each load, so a damaged install fails loudly instead of predicting
nonsense.

    from tinygrad_mnist import pretrained
    weights = pretrained.resolve()                  # the default shipped weights
    weights = pretrained.resolve(pretrained="sigmoid-16-16")
    weights = pretrained.resolve(checkpoint="mine.npz")
    weights.model, weights.label                    # the model in eval mode; "the shipped mlp weights (...)"
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "tinygrad_mnist.weights"


class PretrainedError(ValueError):
    """The shipped weights are missing, damaged or unknown (message names the file or the name)."""


@dataclass(frozen=True)
class ShippedWeights:
    """One entry of the manifest: a trained checkpoint that ships with the package."""

    name: str  # the model's name in models.MODELS
    path: Path
    sha256: str
    test_accuracy: float
    command: str  # what made the file, as a user would type it
    description: str = ""

    def describe(self) -> str:
        return f"the shipped {self.name} weights ({self.test_accuracy:.2%} test accuracy, {self.path.name})"


@dataclass
class LoadedWeights:
    """A model ready to predict, its checkpoint's metadata, and a sentence saying where it came from."""

    model: Any
    metadata: dict[str, Any]
    label: str
    path: Path
    shipped: ShippedWeights | None = None


def read_manifest(directory: str | os.PathLike[str] = WEIGHTS_DIR) -> dict[str, Any]:
    """The manifest as a dict: {"format", "default", "weights": {name: {file, sha256, ...}}}."""
    path = Path(directory) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PretrainedError(
            f"{path}: no manifest of shipped weights; run `make weights` (benchmarks/make_weights.py)"
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise PretrainedError(f"{path}: the manifest is not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise PretrainedError(
            f"{path}: not a manifest of tinygrad_mnist weights (format is not {MANIFEST_FORMAT!r})"
        )
    if not isinstance(manifest.get("weights"), dict) or manifest.get("default") not in manifest["weights"]:
        raise PretrainedError(f"{path}: the manifest lacks its 'weights' table or its 'default' entry")
    return manifest


def shipped(directory: str | os.PathLike[str] = WEIGHTS_DIR) -> dict[str, ShippedWeights]:
    """Every shipped model by name, in the manifest's order."""
    manifest = read_manifest(directory)
    table = {}
    for name, entry in manifest["weights"].items():
        try:
            table[name] = ShippedWeights(
                name=name,
                path=Path(directory) / entry["file"],
                sha256=entry["sha256"],
                test_accuracy=float(entry["test_accuracy"]),
                command=entry["command"],
                description=entry.get("description", ""),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise PretrainedError(
                f"{Path(directory) / MANIFEST_NAME}: entry {name!r} is incomplete ({error!r})"
            ) from None
    return table


def default_name(directory: str | os.PathLike[str] = WEIGHTS_DIR) -> str:
    """The name of the weights used when none is asked for."""
    return read_manifest(directory)["default"]


def get(name: str | None = None, directory: str | os.PathLike[str] = WEIGHTS_DIR) -> ShippedWeights:
    """The shipped weights called `name` (the default when None); unknown names list the known ones."""
    table = shipped(directory)
    name = default_name(directory) if name is None else name
    if name not in table:
        raise PretrainedError(f"no shipped weights named {name!r}; shipped: {', '.join(table)}")
    return table[name]


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(weights: ShippedWeights) -> None:
    """Raise PretrainedError unless the file exists and its SHA-256 is the manifest's."""
    if not weights.path.is_file():
        raise PretrainedError(f"{weights.path}: the shipped {weights.name} weights are missing")
    actual = sha256_of(weights.path)
    if actual != weights.sha256:
        raise PretrainedError(
            f"{weights.path}: SHA-256 {actual[:12]}... differs from the manifest's {weights.sha256[:12]}...; "
            "the file is damaged or was replaced (rebuild with `make weights`)"
        )


def load_shipped(name: str | None = None, directory: str | os.PathLike[str] = WEIGHTS_DIR) -> LoadedWeights:
    """Check the shipped file's checksum, then load it as any checkpoint (`models.load_trained_model`)."""
    from tinygrad_mnist.models import load_trained_model

    weights = get(name, directory)
    verify(weights)
    model, metadata = load_trained_model(weights.path)
    return LoadedWeights(model, metadata, weights.describe(), weights.path, weights)


def load_checkpoint(path: str | os.PathLike[str]) -> LoadedWeights:
    """A checkpoint written by `train --save`, described by its path."""
    from tinygrad_mnist.models import load_trained_model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    model, metadata = load_trained_model(path)
    return LoadedWeights(model, metadata, f"checkpoint {path} (model {metadata.get('model')})", path)


def resolve(checkpoint: str | os.PathLike[str] | None = None, pretrained: str | None = None) -> LoadedWeights:
    """Which weights a command uses: `checkpoint` if given, else the shipped `pretrained` (or the default)."""
    if checkpoint is not None and pretrained is not None:
        raise ValueError("give a checkpoint or the name of shipped weights, not both")
    return load_checkpoint(checkpoint) if checkpoint is not None else load_shipped(pretrained)
