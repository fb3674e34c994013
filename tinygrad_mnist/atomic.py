"""Atomic file writes: every file the project writes (data, checkpoints, histories, pictures) goes
through here, so a crash or Ctrl-C mid-write never leaves a half-written file under the final name."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_write(dest: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a temporary file next to `dest` for binary writing; on success rename it onto `dest`.

    On any exception (or Ctrl-C) the temporary file is deleted and `dest` is left as it was. The
    folder is created if needed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; these files are not secret
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(dest: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `dest` atomically."""
    with atomic_write(dest) as f:
        f.write(text.encode("utf-8"))
