"""Read and write IDX files, the format MNIST ships in.

An IDX file is a 4-byte magic number -- two zero bytes, a type code, the number of dimensions -- then
one big-endian uint32 per dimension, then the data, row-major and big-endian. MNIST uses two magics:
2049 (``0x00000801``: uint8, 1 dimension) for labels and 2051 (``0x00000803``: uint8, 3 dimensions) for
images. Files may be raw or gzip-compressed; compression is recognised from the content, not the name.

The reader is strict on purpose: a corrupt or truncated download must fail loudly, naming the file and
what is wrong, instead of yielding a silently shorter array that trains a worse model.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

from tinygrad_mnist.atomic import atomic_write

__all__ = [
    "IDXError",
    "LABELS_MAGIC",
    "MAX_BYTES",
    "IMAGES_MAGIC",
    "atomic_write",
    "check_same_count",
    "idx_header",
    "read_idx",
    "read_images",
    "read_labels",
    "write_idx",
]

LABELS_MAGIC = 2049  # uint8, 1 dimension
IMAGES_MAGIC = 2051  # uint8, 3 dimensions

# IDX type code -> numpy dtype (big-endian, as stored in the file)
_CODE_TO_DTYPE: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_KIND_TO_CODE: dict[tuple[str, int], int] = {
    (dt.kind, dt.itemsize): code for code, dt in _CODE_TO_DTYPE.items()
}

GZIP_MAGIC = b"\x1f\x8b"  # how a gzip file starts: compression is recognised by content
_CHUNK = 1 << 22  # 4 MiB per read: memory stays bounded by the real content, whatever the header claims
MAX_BYTES = 1 << 30  # default cap on an IDX file's data: 20x MNIST's largest file, far below a bomb
_EXTRA_COUNTED = 1 << 26  # trailing data is counted up to 64 MiB past the end, then reported as "more than"


class IDXError(ValueError):
    """A file is not a valid IDX file; the message names the file and the problem."""


def _describe_magic(magic: int) -> str:
    if magic == LABELS_MAGIC:
        return f"{magic} (IDX labels)"
    if magic == IMAGES_MAGIC:
        return f"{magic} (IDX images)"
    return f"{magic} (0x{magic:08x})"


def _read_upto(f: IO[bytes], n: int) -> bytes:
    """Read up to `n` bytes, looping over short reads (gzip streams may return less than asked)."""
    parts = []
    while n > 0:
        part = f.read(n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


@contextmanager
def _open_maybe_gzip(path: Path) -> Iterator[tuple[IO[bytes], int | None]]:
    """The file's content stream, and its size when it is not compressed (None for gzip)."""
    with open(path, "rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if compressed:
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield gz, None
        else:
            yield raw, os.fstat(raw.fileno()).st_size


def read_idx(
    path: str | os.PathLike[str], expected_magic: int | None = None, *, max_bytes: int = MAX_BYTES
) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a writable, native-endian numpy array.

    `expected_magic` (e.g. ``LABELS_MAGIC``) rejects any other kind of IDX file. Raises `IDXError` for a
    wrong magic number, a truncated header or data, data longer than the header's dimensions say, or
    dimensions needing more than `max_bytes` (1 GiB by default): the header's claim is checked before
    any data is read, and reading stops one byte past it, so a gzip bomb costs no more than the cap.
    """
    path = Path(path)
    try:
        with _open_maybe_gzip(path) as (f, raw_size):
            return _parse(f, path, expected_magic, max_bytes, raw_size)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise IDXError(f"{path}: corrupt or truncated gzip stream ({err})") from err


def _parse(
    f: IO[bytes], path: Path, expected_magic: int | None, max_bytes: int, raw_size: int | None
) -> np.ndarray:
    head = _read_upto(f, 4)
    if len(head) < 4:
        raise IDXError(
            f"{path}: truncated header: only {len(head)} bytes, an IDX file starts with 4 magic bytes"
        )
    (magic,) = struct.unpack(">I", head)
    zero, code, ndim = head[:2], head[2], head[3]
    if expected_magic is not None and magic != expected_magic:
        raise IDXError(
            f"{path}: wrong magic number {_describe_magic(magic)}, expected {_describe_magic(expected_magic)}"
        )
    if zero != b"\0\0" or code not in _CODE_TO_DTYPE or ndim == 0:
        raise IDXError(
            f"{path}: wrong magic number {_describe_magic(magic)}: not an IDX file "
            f"(MNIST labels use {LABELS_MAGIC}, images {IMAGES_MAGIC})"
        )
    dim_bytes = _read_upto(f, 4 * ndim)
    if len(dim_bytes) < 4 * ndim:
        raise IDXError(
            f"{path}: truncated header: {ndim} dimensions need {4 * ndim} bytes of sizes, "
            f"only {len(dim_bytes)} present"
        )
    shape = struct.unpack(f">{ndim}I", dim_bytes)
    dtype = _CODE_TO_DTYPE[code]
    expected = dtype.itemsize * int(np.prod(shape, dtype=object))
    dims = "x".join(map(str, shape))
    if raw_size is not None and raw_size - 4 - 4 * ndim < expected:  # an uncompressed file: its size is known
        raise IDXError(
            f"{path}: truncated data: dimensions {dims} need {expected} bytes after the header, "
            f"only {raw_size - 4 - 4 * ndim} present"
        )
    if expected > max_bytes:
        raise IDXError(
            f"{path}: dimensions {dims} need {expected} bytes, over the limit of {max_bytes} "
            "(a corrupt header, or not the file it should be); nothing was read"
        )

    chunks, total = [], 0
    while total <= expected:  # read one byte past the end to detect trailing data
        chunk = f.read(min(_CHUNK, expected + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total < expected:
        raise IDXError(
            f"{path}: truncated data: dimensions {dims} need {expected} bytes after the header, "
            f"only {total} present"
        )
    if total > expected:
        extra = total - expected + sum(len(c) for c in _chunks_upto(f, _EXTRA_COUNTED))
        counted = f"{extra}" if extra <= _EXTRA_COUNTED else f"more than {_EXTRA_COUNTED}"
        present = (
            f"{expected + extra}" if extra <= _EXTRA_COUNTED else f"more than {expected + _EXTRA_COUNTED}"
        )
        raise IDXError(
            f"{path}: size mismatch: dimensions {dims} need {expected} bytes after the header, "
            f"but {present} are present ({counted} extra)"
        )
    buf = np.empty(expected, dtype=np.uint8)
    pos = 0
    for chunk in chunks:
        buf[pos : pos + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        pos += len(chunk)
    array = buf.view(dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def _chunks_upto(f: IO[bytes], limit: int) -> Iterator[bytes]:
    """Chunks of what is left, stopping once more than `limit` bytes were seen (a bomb is not drained)."""
    seen = 0
    while seen <= limit:
        chunk = f.read(_CHUNK)
        if not chunk:
            return
        seen += len(chunk)
        yield chunk


def read_images(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read an IDX image file (magic 2051): a uint8 array of shape (N, rows, cols)."""
    return read_idx(path, expected_magic=IMAGES_MAGIC, max_bytes=max_bytes)


def read_labels(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read an IDX label file (magic 2049): a uint8 array of shape (N,)."""
    return read_idx(path, expected_magic=LABELS_MAGIC, max_bytes=max_bytes)


def check_same_count(
    images: np.ndarray,
    labels: np.ndarray,
    images_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str],
) -> None:
    """Raise `IDXError` naming both files unless there is exactly one label per image."""
    if len(images) != len(labels):
        raise IDXError(
            f"images and labels have different counts: {images_path} has {len(images)} images, "
            f"{labels_path} has {len(labels)} labels"
        )


def idx_header(array: np.ndarray) -> bytes:
    """The IDX header (magic number and big-endian dimensions) that `write_idx` writes for `array`."""
    dtype = np.asarray(array).dtype
    code = _KIND_TO_CODE.get((dtype.kind, dtype.itemsize))
    if code is None:
        supported = ", ".join(str(dt.newbyteorder("=")) for dt in _CODE_TO_DTYPE.values())
        raise TypeError(f"IDX cannot store dtype {dtype}; supported: {supported}")
    shape = np.shape(array)
    if not 1 <= len(shape) <= 255:
        raise ValueError(f"IDX stores arrays with 1 to 255 dimensions, got shape {shape}")
    if any(d >= 2**32 for d in shape):
        raise ValueError(f"IDX dimensions must be below 2**32, got shape {shape}")
    return struct.pack(f">BBBB{len(shape)}I", 0, 0, code, len(shape), *shape)


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write `array` as an IDX file, gzip-compressed when `path` ends in ``.gz``; returns the path.

    The write is atomic (temporary file in the same folder, then `os.replace`). Supported dtypes:
    uint8, int8, int16, int32, float32, float64.
    """
    path = Path(path)
    array = np.asarray(array)
    header = idx_header(array)
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).reshape(-1).view(np.uint8)
    with atomic_write(path) as f:
        if path.name.endswith(".gz"):
            # fixed mtime and no file name in the header: the same array gives the same bytes
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=6, mtime=0) as gz:
                gz.write(header)
                gz.write(data)
        else:
            f.write(header)
            f.write(data)
    return path
