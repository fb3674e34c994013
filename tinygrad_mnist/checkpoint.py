"""Save and load model parameters as safetensors (or, for `.npz` names, `.npz`) files that never run code.

Two layouts, one header. `save` writes **safetensors** -- the field's standard: 8 bytes of header
length, a JSON header giving each tensor's dtype, shape and byte range, then the raw little-endian
bytes -- for any file name except `*.npz`, which keeps the older uncompressed-`.npz` layout. Either way
the file carries our JSON header

    {"format": "tinygrad_mnist.checkpoint", "format_version": 2,
     "architecture": "<repr(model)>" or null, "layers": {...buildable description...} or null,
     "metadata": {...user dict...}}

(in safetensors under `__metadata__["tinygrad_mnist"]`; in an `.npz` as the uint8 entry
`__tinygrad_mnist_checkpoint__`, with a `tensors` manifest). `layers` (see `architecture.describe`)
lets `models.load_trained_model` rebuild any `nn.Sequential` of our layers without knowing its name.

Why it is safe to load a file from anyone: nothing is unpickled, and every size the file declares
(header length, byte ranges, `.npy` shapes, zip member sizes) is checked against the file's own
size *before* anything is allocated, so a loader never allocates more than about the file's size
(a 34 KB file claiming a 4 TiB array is an error, not an allocation). Compressed `.npz` members are
refused (we never write them; they are how zip bombs work). Saving writes a temporary file in the
same folder and `os.replace`s it onto the target, so a crash mid-save leaves the previous file intact.
docs/nn.md says why safetensors.

    checkpoint.save(model, "mlp.safetensors", metadata={"model": "mlp", "epoch": 3})
    ckpt = checkpoint.load("mlp.safetensors")        # Checkpoint(state_dict, metadata, architecture, ...)
    checkpoint.load_into(model, "mlp.safetensors")   # checks the architecture, then loads the parameters
"""

from __future__ import annotations

import ast
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from tinygrad_mnist import architecture
from tinygrad_mnist.atomic import atomic_write
from tinygrad_mnist.inputs import check_regular_file
from tinygrad_mnist.nn.module import Module
from tinygrad_mnist.tensor import Tensor

FORMAT_NAME = "tinygrad_mnist.checkpoint"
FORMAT_VERSION = 2  # 2: safetensors layout and the `layers` description; 1: .npz only
METADATA_KEY = "__tinygrad_mnist_checkpoint__"  # the .npz entry holding our header
SAFETENSORS_KEY = "tinygrad_mnist"  # the key of our header in safetensors' __metadata__

MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit on its JSON header
NPY_MAX_HEADER_BYTES = 10_000  # numpy's limit on an .npy header (np.load's max_header_size)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members / an empty zip
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)

# safetensors dtype names <-> numpy (little-endian, as stored)
_ST_TO_NUMPY = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "|i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "|u1", "BOOL": "|b1",
}  # fmt: skip
_NUMPY_TO_ST = {np.dtype(v).str: k for k, v in _ST_TO_NUMPY.items()}


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
    layers: dict[str, Any] | None = None  # architecture.describe(model): enough to rebuild it


# ---------------------------------------------------------------------------------------------- save
def save(
    obj: Module | Mapping[str, np.ndarray | Tensor],
    path: str | os.PathLike[str],
    *,
    metadata: dict | None = None,
) -> Path:
    """Write a module's `state_dict()` (or a state dict) to `path` atomically; returns the path.

    A `.npz` name gets the `.npz` layout, any other name safetensors (`.safetensors` recommended).
    A module's `repr` is stored as its architecture, which `load_into` checks, and for an
    `nn.Sequential` of our layers a buildable description (`layers`). `metadata` is any
    JSON-serialisable dict (e.g. {"model": "mlp", "epoch": 3}).
    """
    if not os.fspath(path):
        raise ValueError("checkpoint.save: the path is empty ('' is not a file name to write to)")
    path = Path(path)
    if isinstance(obj, Module):
        state, arch, layers = obj.state_dict(), repr(obj), architecture.describe(obj)
    elif isinstance(obj, Mapping):
        state, arch, layers = obj, None, None
    else:
        raise TypeError(f"checkpoint.save: expected a Module or a state dict, got {type(obj).__name__}")
    arrays = _checked_arrays(state)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"checkpoint.save: metadata must be a dict, got {type(metadata).__name__}")
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "architecture": arch,
        "layers": layers,
        "metadata": metadata or {},
    }
    try:
        json.dumps(header, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise TypeError(f"checkpoint.save: metadata must be JSON-serialisable ({error})") from None
    if path.suffix == ".npz":
        header["tensors"] = {n: {"shape": list(a.shape), "dtype": a.dtype.str} for n, a in arrays.items()}
        encoded = json.dumps(header, allow_nan=False).encode("utf-8")
        arrays[METADATA_KEY] = np.frombuffer(encoded, dtype=np.uint8)
        with atomic_write(path) as f:
            _write_npz(f, arrays)
    else:
        with atomic_write(path) as f:
            _write_safetensors(f, arrays, {SAFETENSORS_KEY: json.dumps(header, allow_nan=False)})
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
    """The `.npz` layout `np.load` reads: one uncompressed `<name>.npy` member per array, never pickled."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def _write_safetensors(f: IO[bytes], arrays: Mapping[str, np.ndarray], metadata: dict[str, str]) -> None:
    """safetensors: u64 header length, JSON header (space-padded to 8 bytes), then the tensors' bytes.

    Tensors are laid out by decreasing item size (so each one starts aligned, as the reference
    writer does), in state-dict order within a size."""
    order = sorted(arrays, key=lambda name: -arrays[name].dtype.itemsize)
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name in order:
        array = arrays[name]
        dtype = _NUMPY_TO_ST.get(_little(array.dtype).str)
        if dtype is None:
            raise TypeError(
                f"checkpoint.save: entry {name!r} has dtype {array.dtype}, which safetensors lacks"
            )
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-(8 + len(encoded)) % 8)
    f.write(struct.pack("<Q", len(encoded)))
    f.write(encoded)
    for name in order:
        array = arrays[name]
        f.write(memoryview(np.ascontiguousarray(array, dtype=_little(array.dtype))).cast("B"))


def _little(dtype: np.dtype) -> np.dtype:
    """`dtype` stored little-endian, as safetensors requires (one-byte types have no byte order)."""
    return dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype


# ---------------------------------------------------------------------------------------------- load
def load(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by `save` (safetensors or `.npz`), checking that it is one, complete.

    Raises FileNotFoundError if there is no file, and CheckpointError (naming the file) if it is not
    a regular file, is empty, truncated, neither safetensors nor an uncompressed `.npz`, declares
    sizes its bytes don't hold, holds pickled objects, lacks our header, or the header is malformed.
    """
    path = Path(path)
    try:
        size = check_regular_file(path, "checkpoint").st_size
    except FileNotFoundError:
        raise
    except OSError as error:
        raise CheckpointError(str(error)) from None
    with open(path, "rb") as f:
        head = f.read(9)
        if not head:
            raise CheckpointError(f"{path}: the file is empty, not a checkpoint")
        if head.startswith(_NPY_MAGIC):
            raise CheckpointError(f"{path}: this is a single .npy array (np.save), not a checkpoint")
        if head[:1] == b"\x80":
            raise CheckpointError(
                f"{path}: this is a pickle file; pickles are never loaded (unpickling can run arbitrary code)"
            )
        if head.startswith(_ZIP_MAGIC):
            header, arrays = _load_npz(path, size)
        elif len(head) == 9 and head[8:9] == b"{":
            f.seek(0)
            header, arrays = _load_safetensors(path, f, size)
        else:
            raise CheckpointError(
                f"{path}: not an .npz or safetensors checkpoint (the file starts with {head[:4]!r})"
            )
    return Checkpoint(
        path=path,
        state_dict=arrays,
        metadata=header["metadata"],
        architecture=header["architecture"],
        format_version=header["format_version"],
        layers=header["layers"],
    )


def _load_safetensors(path: Path, f: IO[bytes], size: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    (length,) = struct.unpack("<Q", f.read(8))
    if length > min(size - 8, MAX_HEADER_BYTES):
        raise CheckpointError(
            f"{path}: truncated or corrupt safetensors file: its header claims {length} bytes, "
            f"the file has {size - 8} after the length field"
        )
    raw = _parse_json(path, f.read(length), "safetensors header")
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: the safetensors header is a {type(raw).__name__}, not an object")
    meta = raw.pop("__metadata__", None)
    if meta is None or not isinstance(meta, dict) or not isinstance(meta.get(SAFETENSORS_KEY), str):
        raise CheckpointError(
            f"{path}: a safetensors file but not a tinygrad_mnist checkpoint (no '{SAFETENSORS_KEY}' "
            f"entry in its __metadata__; tensors: {_some(list(raw))}). Save checkpoints with "
            "tinygrad_mnist.checkpoint.save"
        )
    header = _check_header(
        path, _parse_json(path, meta[SAFETENSORS_KEY].encode("utf-8"), "checkpoint header")
    )
    data_size = size - 8 - length
    entries = sorted(
        (_safetensors_entry(path, name, info, data_size) for name, info in raw.items()), key=lambda e: e[2]
    )
    position = 0
    for name, _, begin, end in entries:
        if begin != position:
            raise CheckpointError(
                f"{path}: tensor {name!r} starts at byte {begin} of the data, expected {position} "
                "(overlapping or gapped byte ranges); the file was altered or damaged"
            )
        position = end
    if position != data_size:
        raise CheckpointError(
            f"{path}: truncated or corrupt: the tensors need {position} bytes of data, the file holds {data_size}"
        )
    by_name = {name: (kind, begin) for name, kind, begin, _ in entries}
    arrays: dict[str, np.ndarray] = {}
    for name in raw:  # the header's order: the state dict's order when we wrote it
        (dtype, shape), begin = by_name[name]
        f.seek(8 + length + begin)
        arrays[name] = _read_exact(f, dtype, shape, path, name)
    return header, arrays


def _safetensors_entry(path: Path, name: str, info: Any, data_size: int) -> tuple[str, tuple, int, int]:
    """One header entry checked: (name, (dtype, shape), begin, end) with end - begin == the tensor's bytes."""
    if (
        not isinstance(info, dict)
        or set(info) != {"dtype", "shape", "data_offsets"}
        or info["dtype"] not in _ST_TO_NUMPY
        or not _is_shape(info["shape"])
        or not (isinstance(info["data_offsets"], list) and len(info["data_offsets"]) == 2)
        or not all(_is_count(o) for o in info["data_offsets"])
    ):
        raise CheckpointError(
            f"{path}: malformed safetensors entry {name!r}: {_short(info)} (need dtype one of "
            f"{', '.join(_ST_TO_NUMPY)}, shape a list of ints >= 0, data_offsets [begin, end])"
        )
    dtype, shape = np.dtype(_ST_TO_NUMPY[info["dtype"]]), tuple(info["shape"])
    begin, end = info["data_offsets"]
    need = math.prod(shape) * dtype.itemsize
    if end < begin or end - begin != need or end > data_size:
        raise CheckpointError(
            f"{path}: tensor {name!r} is {info['dtype']} {list(shape)} ({need} bytes) but its byte range "
            f"is [{begin}, {end}) of the {data_size} data bytes; the file is truncated or corrupt"
        )
    return name, (dtype, shape), begin, end


def _load_npz(path: Path, size: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The `.npz` layout, with every member's declared size checked against the file before reading."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = _check_members(path, infos, size)
            arrays = {}
            for name, info in zip(names, infos):
                with archive.open(info) as member:
                    arrays[name] = _read_npy(member, info.file_size, path, name)
    except _ZIP_ERRORS as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(
            f"{path}: the file is corrupt or truncated ({type(error).__name__}: {error})"
        ) from None
    raw = arrays.pop(METADATA_KEY, None)
    if raw is None:
        raise CheckpointError(
            f"{path}: an .npz file but not a tinygrad_mnist checkpoint (no '{METADATA_KEY}' entry; "
            f"arrays found: {_some(sorted(arrays))}). Save checkpoints with tinygrad_mnist.checkpoint.save"
        )
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(
            f"{path}: the checkpoint metadata entry is unreadable (expected a 1-D uint8 array, got {raw.dtype} {raw.shape})"
        )
    header = _check_header(path, _parse_json(path, raw.tobytes(), "checkpoint metadata entry"), npz=True)
    _check_manifest(path, header["tensors"], arrays)
    return header, arrays


def _check_members(path: Path, infos: list[zipfile.ZipInfo], size: int) -> list[str]:
    names = []
    for info in infos:
        member = info.filename
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(
                f"{path}: member {member!r} is compressed; checkpoints store arrays uncompressed "
                "(compressed members are refused: their unpacked size is not bounded by the file's)"
            )
        if info.file_size != info.compress_size or info.header_offset + info.compress_size > size:
            raise CheckpointError(
                f"{path}: member {member!r} declares {info.file_size} bytes, more than the file holds; "
                "the file is corrupt or truncated"
            )
        if not member.endswith(".npy"):
            raise CheckpointError(f"{path}: member {member!r} is not an .npy array; not a checkpoint")
        names.append(member[: -len(".npy")])
    if len(set(names)) != len(names):
        raise CheckpointError(f"{path}: the zip holds the same member twice; the file was altered")
    return names


def _read_npy(member: IO[bytes], member_size: int, path: Path, name: str) -> np.ndarray:
    """One `.npy` member: its header parsed and its declared shape checked against the member's size."""
    where = f"{path}: entry {name!r}"
    magic = member.read(8)
    if len(magic) < 8 or not magic.startswith(_NPY_MAGIC) or magic[6] not in (1, 2, 3):
        raise CheckpointError(f"{where} is not an .npy array (bad magic {magic[:8]!r})")
    version = magic[6]
    length_bytes = member.read(2 if version == 1 else 4)
    (length,) = struct.unpack(
        "<H" if version == 1 else "<I", length_bytes.ljust(4 if version > 1 else 2, b"\0")
    )
    if length > NPY_MAX_HEADER_BYTES:
        raise CheckpointError(
            f"{where}: its .npy header is {length} bytes, over the {NPY_MAX_HEADER_BYTES} numpy reads "
            "safely; not an array tinygrad_mnist wrote"
        )
    text = member.read(length)
    if len(text) < length:
        raise CheckpointError(f"{where}: truncated .npy header; the file is corrupt or truncated")
    try:
        described = ast.literal_eval(text.decode("utf-8" if version == 3 else "latin1"))
        descr, fortran, shape = described["descr"], described["fortran_order"], described["shape"]
        dtype = np.lib.format.descr_to_dtype(descr)
        if not isinstance(fortran, bool) or not _is_shape(list(shape)) or not isinstance(shape, tuple):
            raise ValueError("bad fortran_order or shape")
    except (ValueError, SyntaxError, KeyError, TypeError, RecursionError, MemoryError, UnicodeDecodeError):
        raise CheckpointError(f"{where}: unreadable .npy header {_short(text)}") from None
    if dtype.hasobject:
        raise CheckpointError(
            f"{where} holds pickled Python objects, which are never loaded (they could run code)"
        )
    if dtype.kind not in "fiub":
        raise CheckpointError(f"{where} has dtype {dtype}; checkpoints hold numeric arrays only")
    need = math.prod(shape) * dtype.itemsize
    have = member_size - len(magic) - len(length_bytes) - length
    if need != have:
        raise CheckpointError(
            f"{where}: its header declares {dtype} {shape} ({need} bytes) but the entry holds {have}; "
            "the file is corrupt or truncated"
        )
    return np.ascontiguousarray(
        _read_exact(member, dtype, shape, path, name, "F" if fortran else "C")
    ).reshape(shape)


def _read_exact(
    f: IO[bytes], dtype: np.dtype, shape: tuple, path: Path, name: str, order: str = "C"
) -> np.ndarray:
    """Read exactly one array's bytes into a fresh array (sizes were checked against the file first)."""
    array = np.empty(shape, dtype=dtype, order=order)
    view = memoryview(array.reshape(-1, order="A")).cast("B") if array.size else memoryview(b"")
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    if got != len(view):
        raise CheckpointError(f"{path}: entry {name!r} is truncated ({got} of {len(view)} bytes)")
    return array.astype(dtype.newbyteorder("="), copy=False)


# -------------------------------------------------------------------------------------------- header
def _parse_json(path: Path, raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise CheckpointError(f"{path}: the {what} is unreadable ({reason})") from None


def _check_header(path: Path, header: Any, npz: bool = False) -> dict[str, Any]:
    """Our header's schema: every field the right type, so later code never trips over a list or dict."""

    def bad(problem: str) -> CheckpointError:
        return CheckpointError(f"{path}: the checkpoint metadata entry is unreadable ({problem})")

    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise bad("the format name is missing or wrong")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise bad(f"format_version must be a positive int, got {_short(version)}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written in checkpoint format {version}, newer than this version of tinygrad_mnist "
            f"reads ({FORMAT_VERSION}); upgrade tinygrad_mnist"
        )
    arch = header.get("architecture")
    if arch is not None and not isinstance(arch, str):
        raise bad(f"'architecture' must be a string or null, got {type(arch).__name__}")
    layers = header.get("layers")
    if layers is not None and not isinstance(layers, dict):
        raise bad(f"'layers' must be an object or null, got {type(layers).__name__}")
    metadata = header.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise bad(f"'metadata' must be an object, got {type(metadata).__name__}")
    checked = {"format_version": version, "architecture": arch, "layers": layers, "metadata": metadata}
    if npz:
        tensors = header.get("tensors")
        if not isinstance(tensors, dict):
            raise bad("format_version or the tensor manifest is missing")
        for name, entry in tensors.items():
            if not (
                isinstance(entry, dict)
                and _is_shape(entry.get("shape"))
                and isinstance(entry.get("dtype"), str)
            ):
                raise bad(
                    f"manifest entry {name!r} must be {{'shape': [ints], 'dtype': str}}, got {_short(entry)}"
                )
        checked["tensors"] = tensors
    return checked


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
        if list(array.shape) != list(entry["shape"]) or array.dtype != _manifest_dtype(entry["dtype"]):
            raise CheckpointError(
                f"{path}: entry {name!r} is {array.dtype.str} {array.shape} but the manifest says "
                f"{entry['dtype']} {tuple(entry['shape'])}; the file was altered or damaged"
            )


def _manifest_dtype(text: str) -> np.dtype | None:
    """A manifest's dtype string in native byte order (how arrays are loaded), None if it is no dtype."""
    try:
        return np.dtype(text).newbyteorder("=")
    except (TypeError, ValueError):
        return None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_shape(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) <= 64 and all(_is_count(d) for d in value)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _some(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "") if names else "none"


# ------------------------------------------------------------------------------------------ load_into
def load_into(
    module: Module,
    path: str | os.PathLike[str] | Checkpoint,
    *,
    strict: bool = True,
    check_architecture: bool = True,
) -> Checkpoint:
    """Load a checkpoint's parameters into `module` (in place) and return the Checkpoint.

    `path` may also be a `Checkpoint` that `load` already returned (the file is then not read again).

    With `check_architecture`, a checkpoint saved from a module must have been saved from one with the
    same `repr` (so a Sigmoid model's weights don't silently go into a ReLU model of equal shapes).
    Missing or unexpected entries and shape mismatches raise CheckpointError naming the file, the keys
    and both shapes; the module is left unchanged on any error.
    """
    checkpoint = path if isinstance(path, Checkpoint) else load(path)
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
