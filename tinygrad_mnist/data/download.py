"""Download files from a list of mirrors, checked against a checksum and placed atomically.

Why so careful: MNIST's original host is often down, and a half-finished or corrupted download that
lands under the final name would be picked up by every later run. So each mirror is tried in turn, the
bytes stream into a temporary file next to the destination while their MD5 is computed, and only a file
whose checksum matches is renamed into place. Uses `urllib` only, so there is no extra dependency.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tinygrad_mnist.atomic import atomic_write

if TYPE_CHECKING:
    import http.client

__all__ = [
    "DEFAULT_MIRRORS",
    "MIRRORS_ENV_VAR",
    "ChecksumError",
    "DownloadError",
    "download_file",
    "file_digest",
    "resolve_mirrors",
]

DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MIRRORS_ENV_VAR = "TINYGRAD_MNIST_MIRRORS"  # whitespace- or comma-separated base URLs, tried in order

_CHUNK = 1 << 16
_USER_AGENT = "tinygrad_mnist (python urllib)"


class DownloadError(OSError):
    """Every URL failed; `attempts` holds (url, reason) pairs, and the message lists them all."""

    def __init__(self, message: str, attempts: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.attempts = list(attempts)


class ChecksumError(ValueError):
    """A file's content does not match its published checksum."""


def resolve_mirrors(mirrors: Sequence[str] | None = None) -> list[str]:
    """The mirror base URLs to try, in order: `mirrors` if given, else $TINYGRAD_MNIST_MIRRORS, else defaults.

    Each returned URL ends with ``/`` so a file name can be appended.
    """
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV_VAR, "").replace(",", " ").split()
        mirrors = env or DEFAULT_MIRRORS
    if isinstance(mirrors, str):
        raise TypeError("mirrors must be a sequence of base URLs, not a single string")
    return [m if m.endswith("/") else m + "/" for m in mirrors]


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (as stored, i.e. still compressed for a .gz)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(
    url: str,
    dest: Path,
    md5: str | None,
    progress: bool | None,
    timeout: float,
    deadline: float,
    max_bytes: int | None,
) -> None:
    """Download one URL into `dest` atomically; raise with a one-line reason on any failure.

    `deadline` is a `time.monotonic()` instant: reads return after each network packet (`read1`),
    so a server trickling a byte a second is cut off there, not after `timeout` per read forever."""
    import urllib.request  # here, not at the top: loading files already on disk needs no network code

    from tqdm import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=min(timeout, _left(deadline))) as response:
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        if max_bytes is not None and length is not None and length > max_bytes:
            raise _Failed(f"the server announces {length} bytes, more than the {max_bytes} expected")
        h = hashlib.md5(usedforsecurity=False)
        received = 0
        # disable=None: tqdm turns itself off when stderr is not a terminal (CI logs, pipes)
        disable = None if progress is None else not progress
        with (
            atomic_write(dest) as out,
            tqdm(
                total=length, unit="B", unit_scale=True, desc=dest.name, disable=disable, leave=False
            ) as bar,
        ):
            while True:
                _set_read_timeout(response, min(timeout, _left(deadline)))
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                received += len(chunk)
                if max_bytes is not None and received > max_bytes:
                    raise _Failed(f"more than the {max_bytes} bytes expected arrived; nothing was kept")
                out.write(chunk)
                h.update(chunk)
                bar.update(len(chunk))
                if _left(deadline) <= 0:
                    raise _Failed(f"too slow: only {received} bytes before the deadline; nothing was kept")
            if length is not None and received != length:
                raise _Failed(f"incomplete transfer: got {received} of {length} bytes; nothing was kept")
            if md5 is not None and h.hexdigest() != md5.lower():
                raise _Failed(
                    f"MD5 mismatch: expected {md5.lower()}, got {h.hexdigest()}; "
                    "the corrupted download was deleted"
                )


def _left(deadline: float) -> float:
    return deadline - time.monotonic()


def _set_read_timeout(response: http.client.HTTPResponse, seconds: float) -> None:
    """Shorten the socket's per-read timeout to what is left of the deadline (at least 1 ms)."""
    sock = getattr(getattr(response, "fp", None), "raw", None)
    sock = getattr(sock, "_sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


class _Failed(Exception):
    """Internal: one attempt failed for a reason already worded for the user."""


def download_file(
    urls: Sequence[str],
    dest: str | os.PathLike[str],
    md5: str | None = None,
    *,
    progress: bool | None = None,
    timeout: float = 30.0,
    deadline: float = 600.0,
    max_bytes: int | None = None,
) -> Path:
    """Download the first URL that works into `dest`, verifying its MD5 if given; returns `dest`.

    `timeout` bounds each network read and `deadline` each URL's whole transfer (seconds); a body
    longer than `max_bytes` (announced or actually sent) is cut off and that URL fails.

    URLs are tried in order; a network error, HTTP error, short transfer or checksum mismatch moves on
    to the next. Data is written to a temporary file in `dest`'s folder and renamed onto `dest` only
    once complete and verified, so `dest` never holds a partial or corrupted file (an existing `dest`
    is left untouched on failure). `progress`: True/False forces the tqdm bar on/off; None shows it only
    on a terminal. Raises `DownloadError` listing every URL and why it failed.
    """
    import http.client
    import urllib.error

    dest = Path(dest)
    if isinstance(urls, str):
        raise TypeError("urls must be a sequence of URLs, not a single string")
    if not urls:
        raise ValueError("download_file needs at least one URL")
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempts: list[tuple[str, str]] = []
    for url in urls:
        try:
            _fetch(url, dest, md5, progress, timeout, time.monotonic() + deadline, max_bytes)
            return dest
        except _Failed as err:
            attempts.append((url, str(err)))
        except urllib.error.HTTPError as err:
            attempts.append((url, f"HTTP {err.code} {err.reason}"))
        except urllib.error.URLError as err:
            attempts.append((url, f"cannot connect: {err.reason}"))
        except TimeoutError:
            attempts.append(
                (url, f"timed out (timeout={timeout:g} s per read, deadline={deadline:g} s in all)")
            )
        except (OSError, http.client.HTTPException, ValueError) as err:
            attempts.append((url, f"{type(err).__name__}: {err}"))
    lines = "\n".join(f"  - {url}: {reason}" for url, reason in attempts)
    raise DownloadError(
        f"could not download {dest.name} to {dest.parent}; every URL failed:\n{lines}", attempts
    )
