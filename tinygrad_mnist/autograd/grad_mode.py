"""Whether ops record a graph: one switch per thread, as in PyTorch.

Inference and data handling don't need a graph, so `no_grad()` turns recording off. The switch is
thread-local: a thread that enters `no_grad()` (say, an evaluation thread) never turns recording off
for another thread that is training.

Every op asks "is recording on?", and a thread-local read costs three times a plain one, so the
answer is kept in two places: `_mode.enabled` (this thread's switch) and `_off.threads` (how many
threads have theirs off). While no thread has, the plain read alone says yes: `is_grad_enabled()`'s
expression, which `Function._record` writes out inline.
"""

from __future__ import annotations

import contextlib
import threading


class _GradMode(threading.local):
    """Read by every op; each thread starts with recording on (a class attribute is every thread's default)."""

    enabled = True


class _Off:
    """How many threads have recording off right now (a thread that ends inside `no_grad()` keeps its
    count: ops in other threads then read their own switch, a little slower, never wrong)."""

    threads = 0


_mode = _GradMode()
_off = _Off()
_lock = threading.Lock()


def _set_mode(enabled: bool) -> None:
    """Switch recording for this thread, keeping the count of switched-off threads true."""
    with _lock:
        if enabled != _mode.enabled:
            _off.threads += -1 if enabled else 1
            _mode.enabled = enabled


def is_grad_enabled() -> bool:
    """True when ops on tensors that require grad record the graph (in this thread)."""
    return _off.threads == 0 or _mode.enabled


class set_grad_enabled:
    """Turn recording on or off, as a call (`set_grad_enabled(False)`) or as a context manager that
    restores the mode it found on exit (`with set_grad_enabled(is_training): ...`), like PyTorch."""

    def __init__(self, mode: bool) -> None:
        self._previous = _mode.enabled
        _set_mode(bool(mode))

    def __enter__(self) -> set_grad_enabled:
        return self

    def __exit__(self, *exc: object) -> None:
        _set_mode(self._previous)


class no_grad(contextlib.ContextDecorator):
    """Context manager (and decorator) that records no graph: inference costs only the numpy math."""

    _mode = False

    def __init__(self) -> None:
        self._previous: list[bool] = []

    def __enter__(self):
        self._previous.append(_mode.enabled)
        _set_mode(self._mode)
        return self

    def __exit__(self, *exc: object) -> None:
        _set_mode(self._previous.pop())


class enable_grad(no_grad):
    """Record the graph again inside a `no_grad()` block (what `backward(create_graph=True)` uses)."""

    _mode = True
