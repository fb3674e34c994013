"""Atomic file writes: every file the project writes (data, checkpoints, histories, pictures) goes
through here, so a crash or Ctrl-C mid-write never leaves a half-written file under the final name.

Temporary files are named `.<target name>.<pid>.<random>.part` in the target's folder. A process
killed with `kill -9` cannot delete its own, so the next write to the same target removes those whose
process is gone (and, from before the pid was in the name, `.<target name>.<random>.part` files older
than an hour): killed saves and downloads don't pile up on disk.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

STALE_AFTER_S = 3600.0  # a temp file without a pid in its name is stale after this long


def _file_target(dest: str | os.PathLike[str]) -> Path:
    """`dest` as a Path, refused (naming it) when it can't name a file: empty, ".", a folder."""
    if not os.fspath(dest) or Path(dest).name in ("", ".", ".."):
        raise ValueError(f"{os.fspath(dest)!r} is not a file name to write to")
    dest = Path(dest)
    if dest.is_dir():
        raise IsADirectoryError(f"{dest}: is a folder; give a file name to write to")
    return dest


def check_writable_target(dest: str | os.PathLike[str]) -> Path:
    """Raise OSError/ValueError naming `dest` unless a file can be written there (the folder is created).

    Tries for real (a temporary file in the folder) rather than asking `os.access`, which says yes to
    root whatever the permissions, so a bad output path is reported before hours of training.
    """
    dest = _file_target(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".probe")
    except OSError as error:
        raise OSError(f"{dest}: cannot write there ({error.strerror or error})") from None
    os.close(fd)
    os.unlink(probe)
    return dest


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_file_mode(dest: Path) -> int:
    """The mode `dest` gets: an existing file keeps its own, a new one gets 0666 less the umask (as `open`)."""
    try:
        return stat.S_IMODE(os.stat(dest).st_mode)
    except OSError:
        return 0o666 & ~_current_umask()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # another user's live process
    except (ProcessLookupError, OverflowError):
        return False
    return True


def remove_stale_parts(dest: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files of earlier, killed writes to `dest`; returns what was removed."""
    dest = Path(dest)
    pattern = re.compile(rf"^\.{re.escape(dest.name)}\.(?:(\d+)\.)?[A-Za-z0-9_]+\.part$")
    removed = []
    try:
        candidates = list(dest.parent.iterdir())
    except OSError:
        return removed
    now = time.time()
    for path in candidates:
        match = pattern.match(path.name)
        if match is None:
            continue
        pid = match.group(1)
        try:
            if pid is not None:
                stale = int(pid) != os.getpid() and not _pid_alive(int(pid))
            else:
                stale = now - path.lstat().st_mtime > STALE_AFTER_S
            if stale and path.is_file() and not path.is_symlink():
                path.unlink()
                removed.append(path)
        except OSError:
            continue  # raced with another cleaner, or not ours to delete
    return removed


@contextmanager
def atomic_write(dest: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a temporary file next to `dest` for binary writing; on success rename it onto `dest`.

    On any exception (or Ctrl-C) the temporary file is deleted and `dest` is left as it was. The
    folder is created if needed. The file gets the permissions `open` would give (0666 less the
    umask), or keeps those of the file it replaces.
    """
    dest = _file_target(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(dest)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.{os.getpid()}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(dest))  # mkstemp creates 0600
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(dest: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `dest` atomically."""
    with atomic_write(dest) as f:
        f.write(text.encode("utf-8"))
