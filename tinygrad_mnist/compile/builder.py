"""`Builder`: the generated program's lines and the arrays they name, allocated once at capture time.

A replay rule asks the builder for a buffer shaped like a value it saw during capture (`buffer`), for
a view or constant fixed for the program's life (`bind`), and adds numpy lines (`line`). Every name
in the program refers to one of these objects, so the lines read as plain numpy and run with no
allocation except where a rule says so.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np


class CompileError(RuntimeError):
    """The step cannot be replayed faithfully (an op without a replay rule, an array computed outside
    the engine, a graph that changed between two calls, ...): the message names what and where."""


class Builder:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"np": np}
        self.setup: dict[str, list[str]] = {}  # what each bound name is, by kind, shown above the program
        self.lines: list[str] = []
        self._count = 0
        self._constants: set[str] = set()
        self._memo: dict[int, dict[str, str]] = {}

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}{self._count}"

    def memo(self, fn: Any) -> dict[str, str]:
        """Names a forward rule leaves for the same op's backward rule (the op's `saved`, as names)."""
        return self._memo.setdefault(id(fn), {})

    def note(self, kind: str, text: str) -> None:
        self.setup.setdefault(kind, []).append(text)

    def bind(self, value: Any, hint: str, kind: str, how: str = "") -> str:
        """A name for an object fixed for the program's life (a parameter's array, optimiser state)."""
        name = self.fresh(hint) if hint in self.namespace else hint
        self.namespace[name] = value
        self.note(kind, f"{name} = {how}" if how else name)
        return name

    def describe_setup(self) -> str:
        """The bound names, one short paragraph per kind, as comments above the program."""
        lines = ["# set up once, at capture:"]
        for kind, names in self.setup.items():
            lines += textwrap.wrap(
                f"{kind}: {', '.join(names)}", 100, initial_indent="#   ", subsequent_indent="#       "
            )
        return "\n".join(lines)

    def buffer(self, like: np.ndarray, hint: str = "t", dtype: Any = None) -> str:
        """A preallocated array with `like`'s shape (and dtype unless given): written with `out=`."""
        dtype = np.dtype(like.dtype if dtype is None else dtype)
        shape = tuple(np.shape(like))
        name = self.fresh(hint)
        self.namespace[name] = np.empty(shape, dtype=dtype)
        self.note("buffers (np.empty)", f"{name} {shape}" + ("" if dtype == np.float32 else f" {dtype.name}"))
        return name

    def view(self, base: str, expression: str, hint: str) -> str:
        """`expression` of a bound array (e.g. `w.T`), computed once: the same memory, a new name."""
        value = eval(expression.format(base), {"np": np}, {base: self.namespace[base]})  # noqa: S307
        name = self.fresh(hint)
        self.namespace[name] = value
        self.note("views", f"{name} = {expression.format(base)}")
        return name

    def constant(self, value: np.ndarray, hint: str = "c") -> str:
        """A scalar constant of the step (e.g. the 1/N of a mean), baked into the program."""
        name = self.fresh(hint)
        self._constants.add(name)
        self.namespace[name] = np.array(value)
        self.note("constants", f"{name} = {np.asarray(value).item()!r}")
        return name

    def is_constant(self, name: str) -> bool:
        """Whether `name` is a constant of the step (never rewritten), so arithmetic on it can be done now."""
        return name in self._constants

    def scalar(self, value: float, dtype: Any, hint: str) -> str:
        """A 0-d array of `dtype` holding `value`: what numpy turns a Python number into inside a ufunc,
        made once (a Python number costs a conversion on every call, several µs on a busy machine)."""
        key = f"{hint}_{np.dtype(dtype).name}"
        if key not in self.namespace:
            self.namespace[key] = np.array(value, dtype=dtype)
            self._constants.add(key)
            self.note("constants", f"{key} = {value!r}")
        return key

    def line(self, code: str) -> None:
        self.lines.append(code)

    def value(self, name: str) -> Any:
        return self.namespace[name]
