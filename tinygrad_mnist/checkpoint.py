"""Save and load model parameters as `.npz` files that can never run code, written atomically.

Format (version 1): an uncompressed `.npz` (a zip of `.npy` arrays), one array per state_dict entry
under its dotted name ("layers.0.weight"), plus one entry `__tinygrad_mnist_checkpoint__`: a uint8 array
holding UTF-8 JSON

    {"format": "tinygrad_mnist.checkpoint", "format_version": 1,
     "architecture": "<repr(model)>" or null, "metadata": {...user dict...},
     "tensors": {"layers.0.weight": {"shape": [128, 784], "dtype": "float32"}, ...}}

Why this shape: `.npz` is read with `allow_pickle=False`, so loading a checkpoint cannot execute code
(unlike pickle-based formats); the JSON entry makes a foreign or damaged file fail with a clear
`CheckpointError` naming the file (not a silent mismatch), and the tensor manifest catches a file whose
arrays were dropped or altered. Saving writes a temporary file in the same folder and `os.replace`s it
onto the target, so a crash mid-save leaves the previous checkpoint intact.

    checkpoint.save(model, "mlp.npz", metadata={"model": "mlp", "layers": [784, 128, 10]})
    ckpt = checkpoint.load("mlp.npz")           # Checkpoint(state_dict, metadata, architecture, ...)
    checkpoint.load_into(model, "mlp.npz")      # checks the architecture, then loads the parameters
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from tinygrad_mnist.atomic import atomic_write
from tinygrad_mnist.nn.module import Module
from tinygrad_mnist.tensor import Tensor

FORMAT_NAME = "tinygrad_mnist.checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "__tinygrad_mnist_checkpoint__"

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members / an empty zip
_NPY_MAGIC = b"\x93NUMPY"
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


class CheckpointError(ValueError):
    """A file is not a readable tinygrad_mnist checkpoint, or doesn't fit the model (message names the file)."""


@dataclass(frozen=True)
class Checkpoint:
    """What `load` returns: the arrays by name, the user's metadata, and the saved model's description."""

    path: Path
    state_dict: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)
    architecture: str | None = None
    format_version: int = FORMAT_VERSION


def save(
    obj: Module | Mapping[str, np.ndarray | Tensor],
    path: str | os.PathLike[str],
    *,
    metadata: dict | None = None,
) -> Path:
    """Write a module's `state_dict()` (or a state dict) to `path` atomically; returns the path.

    A module's `repr` is stored as its architecture, which `load_into` checks. `metadata` is any
    JSON-serialisable dict (e.g. {"model": "mlp", "layers": [784, 128, 10], "epoch": 3}).
    """
    path = Path(path)
    if isinstance(obj, Module):
        state, architecture = obj.state_dict(), repr(obj)
    elif isinstance(obj, Mapping):
        state, architecture = obj, None
    else:
        raise TypeError(f"checkpoint.save: expected a Module or a state dict, got {type(obj).__name__}")
    arrays = _checked_arrays(state)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"checkpoint.save: metadata must be a dict, got {type(metadata).__name__}")
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "metadata": metadata or {},
        "tensors": {name: {"shape": list(a.shape), "dtype": a.dtype.str} for name, a in arrays.items()},
    }
    try:
        encoded = json.dumps(header, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise TypeError(f"checkpoint.save: metadata must be JSON-serialisable ({error})") from None
    arrays[METADATA_KEY] = np.frombuffer(encoded, dtype=np.uint8)
    with atomic_write(path) as f:
        _write_npz(f, arrays)
    return path


def _checked_arrays(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str) or not name or name.startswith("__"):
            raise ValueError(
                f"checkpoint.save: invalid entry name {name!r} (non-empty, not starting with '__')"
            )
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
        if array.dtype.kind not in "fiub":
            raise TypeError(
                f"checkpoint.save: entry {name!r} has dtype {array.dtype}; only numeric arrays are saved"
            )
        arrays[name] = np.ascontiguousarray(array).reshape(array.shape)  # keeps 0-d arrays 0-d
    return arrays


def _write_npz(f: IO[bytes], arrays: Mapping[str, np.ndarray]) -> None:
    """The `.npz` layout `np.load` reads: one `<name>.npy` member per array, never pickled."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def load(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by `save`, checking that it is one and that it is complete.

    Raises FileNotFoundError if there is no file, and CheckpointError (naming the file) if it is empty,
    truncated, not an `.npz`, holds pickled objects, lacks our metadata entry, or its arrays don't match
    the manifest in that entry.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise CheckpointError(f"{path}: the file is empty, not a checkpoint")
    if head.startswith(_NPY_MAGIC):
        raise CheckpointError(f"{path}: this is a single .npy array (np.save), not an .npz checkpoint")
    if head[:1] == b"\x80":
        raise CheckpointError(
            f"{path}: this is a pickle file; pickles are never loaded (unpickling can run arbitrary code)"
        )
    if not head.startswith(_ZIP_MAGIC):
        raise CheckpointError(
            f"{path}: not an .npz checkpoint (the file starts with {head[:4]!r}, not a zip header)"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except _READ_ERRORS as error:
        if "pickle" in str(error) or "Object arrays" in str(error):
            raise CheckpointError(
                f"{path}: an entry holds pickled Python objects, which are never loaded (they could run code)"
            ) from None
        raise CheckpointError(
            f"{path}: the file is corrupt or truncated ({type(error).__name__}: {error})"
        ) from None
    header = _read_header(path, arrays.pop(METADATA_KEY, None), sorted(arrays))
    _check_manifest(path, header["tensors"], arrays)
    return Checkpoint(
        path=path,
        state_dict=arrays,
        metadata=header.get("metadata") or {},
        architecture=header.get("architecture"),
        format_version=header["format_version"],
    )


def _read_header(path: Path, raw: np.ndarray | None, names: list[str]) -> dict[str, Any]:
    if raw is None:
        found = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "") if names else "none"
        raise CheckpointError(
            f"{path}: an .npz file but not a tinygrad_mnist checkpoint (no '{METADATA_KEY}' entry; "
            f"arrays found: {found}). Save checkpoints with tinygrad_mnist.checkpoint.save"
        )
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"expected a 1-D uint8 array, got {raw.dtype} {raw.shape}")
        header = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise ValueError("the format name is missing or wrong")
        version = header.get("format_version")
        if not isinstance(version, int) or not isinstance(header.get("tensors"), dict):
            raise ValueError("format_version or the tensor manifest is missing")
    except (ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: the checkpoint metadata entry is unreadable ({error})") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written in checkpoint format {version}, newer than this version of tinygrad_mnist "
            f"reads ({FORMAT_VERSION}); upgrade tinygrad_mnist"
        )
    return header


def _check_manifest(path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    missing = [name for name in manifest if name not in arrays]
    extra = [name for name in arrays if name not in manifest]
    if missing or extra:
        raise CheckpointError(
            f"{path}: the arrays don't match the checkpoint's own manifest (missing: {missing}, extra: {extra}); "
            "the file was altered or damaged"
        )
    for name, entry in manifest.items():
        array = arrays[name]
        if list(array.shape) != entry.get("shape") or array.dtype.str != entry.get("dtype"):
            raise CheckpointError(
                f"{path}: entry {name!r} is {array.dtype.str} {array.shape} but the manifest says "
                f"{entry.get('dtype')} {tuple(entry.get('shape') or ())}; the file was altered or damaged"
            )


def load_into(
    module: Module, path: str | os.PathLike[str], *, strict: bool = True, check_architecture: bool = True
) -> Checkpoint:
    """Load a checkpoint's parameters into `module` (in place) and return the Checkpoint.

    With `check_architecture`, a checkpoint saved from a module must have been saved from one with the
    same `repr` (so a Sigmoid model's weights don't silently go into a ReLU model of equal shapes).
    Missing or unexpected entries and shape mismatches raise CheckpointError naming the file, the keys
    and both shapes; the module is left unchanged on any error.
    """
    checkpoint = load(path)
    if check_architecture and checkpoint.architecture is not None and checkpoint.architecture != repr(module):
        raise CheckpointError(
            f"{checkpoint.path}: saved from a different architecture.\n"
            f"checkpoint:\n{checkpoint.architecture}\nthis model:\n{module!r}\n"
            "(pass check_architecture=False to load matching parameters anyway)"
        )
    try:
        module.load_state_dict(checkpoint.state_dict, strict=strict)
    except ValueError as error:
        raise CheckpointError(f"{checkpoint.path}: does not fit the model. {error}") from None
    return checkpoint
