"""`CLIError`: a user-facing error of the command line, printed as one line with exit code 1.

In its own module so every subcommand raises the class that `main` catches, even when `cli/main.py`
itself runs as `__main__`.
"""


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 1, no traceback (unless --debug)."""
