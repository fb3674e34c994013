"""Find, download, verify and load the four MNIST files.

Files are looked for, in order, in: the `root` argument, the folder in $TINYGRAD_MNIST_DATA, and the
per-user cache ($XDG_CACHE_HOME/tinygrad_mnist/mnist, else ~/.cache/tinygrad_mnist/mnist). Each file
may be raw (``train-images-idx3-ubyte``) or gzipped (``train-images-idx3-ubyte.gz``). Missing files are
downloaded (if allowed) into `root`, or the cache folder when no `root` is given.

Loading checks the decompressed contents against the published SHA-256 (the .gz bytes themselves vary
with how a file was recompressed, so their MD5 is only checked right after a download). Decompressing
the training images takes 0.2 to 0.4 s, so a verified load keeps the decompressed copy of each .gz in
`decoded_cache_dir()` (~/.cache/tinygrad_mnist/decoded, 55 MB) and reads it next time, checking the
same SHA-256 every time; a copy is named by its .gz's own SHA-256, so a replaced or damaged .gz is
decompressed (and its damage reported) as before.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinygrad_mnist.data.download import (
    MIRRORS_ENV_VAR,
    ChecksumError,
    DownloadError,
    download_file,
    resolve_mirrors,
)
from tinygrad_mnist.data.idx import (
    GZIP_MAGIC,
    IDXError,
    check_same_count,
    idx_header,
    read_images,
    read_labels,
    write_idx,
)

__all__ = [
    "DATA_ENV_VAR",
    "MNIST",
    "MNIST_FILES",
    "MNISTData",
    "MNISTFile",
    "MNISTNotFoundError",
    "decoded_cache_dir",
    "default_cache_dir",
    "ensure_mnist",
    "load_mnist",
    "locate_mnist",
    "search_dirs",
]

DATA_ENV_VAR = "TINYGRAD_MNIST_DATA"
_ROOT_LABEL = "root argument"
_CLI_LABELS = {_ROOT_LABEL: "--data-dir"}  # how the command line names the same folder


@dataclass(frozen=True)
class MNISTFile:
    """One data file: its raw name, the MD5 of the published .gz, the SHA-256 of the raw bytes, and the
    .gz's size in bytes (a download is cut off past it; None: no cap)."""

    name: str
    md5_gz: str
    sha256: str
    gz_size: int | None = None

    @property
    def gz_name(self) -> str:
        return self.name + ".gz"


MNIST_FILES: Mapping[str, MNISTFile] = {
    "train_images": MNISTFile(
        "train-images-idx3-ubyte",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        9_912_422,
    ),
    "train_labels": MNISTFile(
        "train-labels-idx1-ubyte",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        28_881,
    ),
    "test_images": MNISTFile(
        "t10k-images-idx3-ubyte",
        "9fb629c4189551a2d022fa330f9573f3",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        1_648_877,
    ),
    "test_labels": MNISTFile(
        "t10k-labels-idx1-ubyte",
        "ec29112dd5afa0611ce80d1b7f02629c",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        4_542,
    ),
}
_SPLITS = {"train": ("train_images", "train_labels"), "test": ("test_images", "test_labels")}
_MAX_IMAGES = 60_000  # the training split; a header claiming more is refused before reading


class MNISTNotFoundError(FileNotFoundError):
    """MNIST files are missing and could not be downloaded; the message says which, where and what to do.

    `str(err)` speaks the Python API (`root=`, `download=`); `cli_message()` says the same with the
    command line's flags, for `tinygrad-mnist`. Both are several lines, one fact per line.
    """

    def __init__(
        self,
        missing: Sequence[str],
        searched: Sequence[tuple[Path, str]],
        reason: str,
        mirrors: Sequence[str],
        *,
        download_failed: bool,
    ) -> None:
        self.missing = list(missing)
        self.searched = [d for d, _ in searched]
        self._labels = [label for _, label in searched]
        self.reason = reason
        self.mirrors = list(mirrors)
        self.download_failed = download_failed
        super().__init__(self._message(cli=False))

    def cli_message(self) -> str:
        """The message in the command line's terms (--data-dir, --no-download)."""
        return self._message(cli=True)

    def _message(self, cli: bool) -> str:
        where = "\n".join(
            f"  {i}. {d}  ({_CLI_LABELS.get(label, label) if cli else label})"
            for i, (d, label) in enumerate(zip(self.searched, self._labels), 1)
        )
        urls = "\n".join(f"      {m}" for m in self.mirrors)
        if self.download_failed:
            reason = self.reason
        else:
            reason = "--no-download was given" if cli else "download=False"
            reason += ", so nothing was downloaded."
        folder = "pass --data-dir FOLDER" if cli else "pass root=FOLDER"
        allow = "run again without --no-download" if cli else "pass download=True"
        overrides = "" if cli else "mirrors=[...] or "
        return (
            f"MNIST files not found: {', '.join(self.missing)} (raw or .gz)\n"
            f"Looked in:\n{where}\n"
            f"{reason}\n"
            "To provide them, either:\n"
            f"  - put the files (raw or .gz) in a folder and {folder}, or set {DATA_ENV_VAR}=FOLDER;\n"
            f"  - or download them: {allow}, with network access; the mirrors are tried in order\n"
            f"    (set {overrides}${MIRRORS_ENV_VAR} to use others), or fetch the .gz files by hand:\n"
            f"{urls}"
        )


@dataclass(frozen=True)
class MNISTData:
    """The two MNIST splits: uint8 images (N, 28, 28) and int64 labels (N,) in 0..9."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def default_cache_dir() -> Path:
    """The per-user download folder: $XDG_CACHE_HOME/tinygrad_mnist/mnist, else ~/.cache/tinygrad_mnist/mnist."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"  # XDG: ignore relative paths
    return base / "tinygrad_mnist" / "mnist"


def _search_dirs_labelled(root: str | os.PathLike[str] | None) -> list[tuple[Path, str]]:
    dirs: list[tuple[Path, str]] = []
    if root is not None:
        dirs.append((Path(root).expanduser(), _ROOT_LABEL))
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        dirs.append((Path(env).expanduser(), f"${DATA_ENV_VAR}"))
    dirs.append((default_cache_dir(), "per-user cache"))
    return dirs


def search_dirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for MNIST files, in order: `root`, $TINYGRAD_MNIST_DATA, the cache folder."""
    return [d for d, _ in _search_dirs_labelled(root)]


def _find(file: MNISTFile, dirs: Sequence[Path]) -> Path | None:
    for d in dirs:
        for name in (file.name, file.gz_name):  # raw first: it loads faster
            if (d / name).is_file():
                return d / name
    return None


def locate_mnist(
    root: str | os.PathLike[str] | None = None,
    files: Mapping[str, MNISTFile] = MNIST_FILES,
    keys: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Paths of the MNIST files (key -> path), each from the first search folder that has it.

    Raises `MNISTNotFoundError` listing the missing files and the folders searched.
    """
    return ensure_mnist(root, download=False, files=files, keys=keys)


def _not_found(
    root: str | os.PathLike[str] | None,
    files: Mapping[str, MNISTFile],
    missing: Sequence[str],
    mirrors: Sequence[str] | None,
    download_error: str | None = None,
) -> MNISTNotFoundError:
    return MNISTNotFoundError(
        [files[k].name for k in missing],
        _search_dirs_labelled(root),
        download_error or "",
        resolve_mirrors(mirrors),
        download_failed=download_error is not None,
    )


def ensure_mnist(
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    *,
    mirrors: Sequence[str] | None = None,
    files: Mapping[str, MNISTFile] = MNIST_FILES,
    keys: Sequence[str] | None = None,
    progress: bool | None = None,
) -> dict[str, Path]:
    """Like `locate_mnist`, but first downloads missing files (if `download`) into `root` or the cache.

    Each .gz is checked against its published MD5 before it is renamed into place. If a file cannot be
    obtained, raises `MNISTNotFoundError` with the per-mirror failure reasons.
    """
    keys = list(files) if keys is None else list(keys)
    dirs = search_dirs(root)
    found = {k: p for k in keys if (p := _find(files[k], dirs)) is not None}
    missing = [k for k in keys if k not in found]
    if not missing:
        return found
    if not download:
        raise _not_found(root, files, missing, mirrors)
    target = Path(root).expanduser() if root is not None else default_cache_dir()
    bases = resolve_mirrors(mirrors)
    for k in missing:
        f = files[k]
        try:
            found[k] = download_file(
                [b + f.gz_name for b in bases],
                target / f.gz_name,
                f.md5_gz,
                progress=progress,
                max_bytes=f.gz_size,
            )
        except DownloadError as err:
            # Stop here: when one file fails on every mirror the others almost surely would too, and
            # each dead mirror may cost a full timeout.
            still = [k for k in keys if k not in found]
            why = f"Downloading into {target} failed (later files were not attempted):\n{err}"
            raise _not_found(root, files, still, mirrors, why) from err
    return found


def _verify(array: np.ndarray, path: Path, expected_sha256: str) -> None:
    # The reader accepts only exact IDX files, so header + data reproduces the decompressed bytes exactly.
    h = hashlib.sha256(idx_header(array))
    h.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
    if h.hexdigest() != expected_sha256:
        raise ChecksumError(
            f"{path}: SHA-256 of the decompressed contents is {h.hexdigest()}, expected {expected_sha256}. "
            "The file is corrupted or is not the official MNIST file: delete it and run again to "
            "re-download it (or pass verify=False to load it anyway)."
        )


def decoded_cache_dir() -> Path:
    """Where decompressed copies of the .gz files are kept: `decoded/` beside the download cache."""
    return default_cache_dir().parent / "decoded"


def _decoded_copy(path: Path, file: MNISTFile) -> Path | None:
    """The decompressed copy of the gzip file `path`, named by the SHA-256 of its compressed bytes
    (so another .gz, even a damaged one, never finds it); None for a raw file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        if f.read(2) != GZIP_MAGIC:  # a raw file: nothing to keep
            return None
        f.seek(0)
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return decoded_cache_dir() / f"{file.name}.{digest.hexdigest()[:32]}"


def _read_verified(
    path: Path, file: MNISTFile, read: Callable[..., np.ndarray], max_bytes: int
) -> np.ndarray:
    """`read(path)` checked against the published SHA-256; a .gz is decompressed (0.2 to 0.4 s for the
    training images) only the first time: its decompressed copy, checked the same way on every load,
    is read instead afterwards (written atomically; a copy that is missing, unwritable or fails the
    check is ignored and the .gz decoded again)."""
    copy = _decoded_copy(path, file)
    if copy is not None and copy.is_file():
        try:
            array = read(copy, max_bytes=max_bytes)
            _verify(array, copy, file.sha256)
            return array
        except (OSError, IDXError, ChecksumError):
            pass  # damaged or not ours: decode the .gz, and rewrite the copy below
    array = read(path, max_bytes=max_bytes)
    _verify(array, path, file.sha256)
    if copy is not None:
        try:
            write_idx(copy, array)  # header + data: the decompressed file, byte for byte
            for stale in copy.parent.glob(f"{file.name}.*"):  # copies of .gz files since replaced
                if stale.name != copy.name and not stale.name.startswith("."):
                    stale.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only or full cache only costs the decompression next time
    return array


def _load_split(
    paths: Mapping[str, Path], keys: tuple[str, str], files: Mapping[str, MNISTFile], verify: bool
):
    images_path, labels_path = paths[keys[0]], paths[keys[1]]
    try:
        if verify:
            images = _read_verified(images_path, files[keys[0]], read_images, _MAX_IMAGES * 28 * 28)
            labels = _read_verified(labels_path, files[keys[1]], read_labels, _MAX_IMAGES)
        else:
            images = read_images(images_path, max_bytes=_MAX_IMAGES * 28 * 28)
            labels = read_labels(labels_path, max_bytes=_MAX_IMAGES)
    except IDXError as err:
        raise IDXError(f"{err}\n(delete the file and run again to re-download it)") from err
    if images.shape[1:] != (28, 28):
        raise IDXError(f"{images_path}: MNIST images are 28x28, this file holds {images.shape[1:]} images")
    check_same_count(images, labels, images_path, labels_path)
    if labels.size and labels.max() > 9:  # checked even with verify=False: a label 200 trains nonsense
        bad = int(np.argmax(labels > 9))
        raise IDXError(f"{labels_path}: label {labels[bad]} at index {bad}; MNIST labels are digits 0..9")
    return images, labels.astype(np.int64)


def load_mnist(
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
    *,
    mirrors: Sequence[str] | None = None,
    files: Mapping[str, MNISTFile] = MNIST_FILES,
    progress: bool | None = None,
) -> MNISTData:
    """Load both MNIST splits, downloading missing files first when `download` is true.

    `verify` checks the SHA-256 of each file's decompressed contents against the published value and
    raises `ChecksumError` (naming the file, suggesting deletion) on mismatch. Measured cost: about
    0.03 s for all four files (55 MB) with hardware SHA, next to about 0.2 s to gunzip them -- cheap
    enough to leave on; a verified .gz is decompressed once, then read from its checked copy in
    `decoded_cache_dir()` (module docstring). `files` replaces the file table (names and checksums), for tests.

    Raises `MNISTNotFoundError` (a FileNotFoundError) when files are missing and cannot be downloaded,
    `IDXError` (a ValueError) for a corrupt file.
    """
    paths = ensure_mnist(root, download, mirrors=mirrors, files=files, progress=progress)
    train = _load_split(paths, _SPLITS["train"], files, verify)
    test = _load_split(paths, _SPLITS["test"], files, verify)
    return MNISTData(train[0], train[1], test[0], test[1])


class MNIST:
    """One split as a PyTorch-style dataset: ``len(ds)`` and ``ds[i] -> (image (28, 28) uint8, label)``.

    Loads only the two files of its split. `images` and `labels` hold the whole split as numpy arrays,
    which is what the `DataLoader` wants.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool = True,
        download: bool = True,
        verify: bool = True,
        *,
        mirrors: Sequence[str] | None = None,
        files: Mapping[str, MNISTFile] = MNIST_FILES,
        progress: bool | None = None,
    ) -> None:
        self.train = train
        keys = _SPLITS["train" if train else "test"]
        paths = ensure_mnist(root, download, mirrors=mirrors, files=files, keys=keys, progress=progress)
        self.images, self.labels = _load_split(paths, keys, files, verify)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], int(self.labels[index])

    def __repr__(self) -> str:
        return f"MNIST(split={'train' if self.train else 'test'}, n={len(self)})"
