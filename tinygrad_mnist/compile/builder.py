"""`Builder`: the generated program's lines and the arrays they name, allocated once at capture time.

A replay rule asks the builder for a buffer shaped like a value it saw during capture (`buffer`), for
a view or constant fixed for the program's life (`bind`), and adds numpy lines (`line`). Every name
in the program refers to one of these objects, so the lines read as plain numpy and run with no
allocation except where a rule says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class CompileError(RuntimeError):
    """The step cannot be replayed faithfully (an op without a replay rule, an array computed outside
    the engine, a graph that changed between two calls, ...): the message names what and where."""


class Builder:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"np": np}
        self.setup: list[str] = []  # how each bound name was made, shown above the program
        self.lines: list[str] = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}{self._count}"

    def bind(self, value: Any, hint: str, how: str) -> str:
        """A name for an object fixed for the program's life (a parameter's array, a view, a constant)."""
        name = self.fresh(hint) if hint in self.namespace else hint
        self.namespace[name] = value
        self.setup.append(f"{name} = {how}")
        return name

    def buffer(self, like: np.ndarray, hint: str = "t", dtype: Any = None) -> str:
        """A preallocated array with `like`'s shape (and dtype unless given): written with `out=`."""
        dtype = np.dtype(like.dtype if dtype is None else dtype)
        shape = tuple(np.shape(like))
        name = self.fresh(hint)
        self.namespace[name] = np.empty(shape, dtype=dtype)
        self.setup.append(f"{name} = np.empty({shape}, {dtype.name})")
        return name

    def view(self, base: str, expression: str, hint: str) -> str:
        """`expression` of a bound array (e.g. `w.T`), computed once: the same memory, a new name."""
        value = eval(expression.format(base), {"np": np}, {base: self.namespace[base]})  # noqa: S307
        name = self.fresh(hint)
        self.namespace[name] = value
        self.setup.append(f"{name} = {expression.format(base)}")
        return name

    def constant(self, value: np.ndarray) -> str:
        """A scalar constant of the step (e.g. the 1/N of a mean), baked into the program."""
        name = self.fresh("c")
        self.namespace[name] = np.array(value)
        self.setup.append(f"{name} = np.{np.asarray(value).dtype.name}({np.asarray(value).item()!r})")
        return name

    def line(self, code: str) -> None:
        self.lines.append(code)

    def value(self, name: str) -> Any:
        return self.namespace[name]
