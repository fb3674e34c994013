"""Checks on a file a user names as input (a checkpoint, an image), made before it is opened.

`open()` on a FIFO blocks until someone writes to it, a symlink loop looks like a missing file to
`Path.exists()`, and a device can be read forever: so the path is `stat`ed first and only a regular
file is let through, with an error that says what the path is instead.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotAFileError(OSError):
    """The path exists but is not a regular file (a folder, FIFO, device, socket, symlink loop)."""


def check_regular_file(path: str | os.PathLike[str], what: str = "file") -> os.stat_result:
    """`os.stat(path)` if it is a regular file; otherwise an OSError whose message names the path.

    Raises FileNotFoundError ("<what> not found"), IsADirectoryError, or NotAFileError for a symlink
    loop, a FIFO, a device or a socket.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} not found") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotAFileError(f"{path}: a symbolic link loop, not a {what}") from None
        raise OSError(f"{path}: cannot read it ({error.strerror})") from None
    mode = info.st_mode
    if stat.S_ISREG(mode):
        return info
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path}: is a folder, not a {what}")
    kind = (
        "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )
    raise NotAFileError(f"{path}: is {kind}, not a regular {what}; only regular files are read")
