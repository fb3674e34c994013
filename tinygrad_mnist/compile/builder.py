"""`Builder`: the generated program's lines and the arrays they name, allocated once at capture time.

A replay rule asks the builder for a buffer shaped like a value it saw during capture (`buffer`), for
a view or constant fixed for the program's life (`bind`), and adds numpy lines (`line`). Every name
in the program refers to one of these objects, so the lines read as plain numpy and run with no
allocation except where a rule says so.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import numpy as np


class CompileError(RuntimeError):
    """The step cannot be replayed faithfully (an op without a replay rule, an array computed outside
    the engine, a graph that changed between two calls, ...): the message names what and where."""


class Builder:
    def __init__(self, exact: bool = True) -> None:
        self.exact = exact  # False: the fast mode's shortcuts (rules check it), equal to rounding only
        self.namespace: dict[str, Any] = {"np": np}
        self.setup: dict[str, list[str]] = {}  # what each bound name is, by kind, shown above the program
        self.lines: list[str] = []
        self._count = 0
        self._constants: set[str] = set()
        self._memo: dict[int, dict[str, str]] = {}
        self.one_hot_of_y: str | None = None  # the name of one_hot(y), when the step uses it
        self.products: dict[str, tuple[str, str, Any]] = {}  # fast mode: weight gradient -> (g, x), g.T @ x
        self.consumers: dict[int, int] = {}  # tensor id -> how many ops of the step read it
        self.protected: set[int] = set()  # tensor ids whose values the program returns
        self.scratch: set[str] = set()  # gradient buffers one node owns (fast mode: writable in place)
        self.lr_scaled: dict[str, float] = {}  # name -> k: a 0-d array set to lr * k at each step
        self._deferred: dict[str, tuple[str, str]] = {}  # placeholder -> line: kept only if its name is used

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

    def is_known(self, name: str) -> bool:
        """A constant or an `lr_times` scalar: a value `scaled` can multiply without an array op."""
        return name in self._constants or name in self.lr_scaled

    def lr_times(self, k: float, dtype: Any) -> str:
        """A 0-d array holding `lr * k`, set once at the start of each step's backward (the fast mode's
        learning rate folded into the loss gradient: the scalar chain is worked out at capture)."""
        name = self.fresh("lr_times")
        self.namespace[name] = np.zeros((), dtype)
        self.lr_scaled[name] = float(k)
        self.note("learning-rate scalars (set every step)", f"{name} = lr * {float(k)!r}")
        return name

    def scaled(self, g: str, factor: Any) -> str | None:
        """A name for `g * factor` known without touching an array (`g` a constant or an `lr_times`
        scalar), or None when `g` is an array the program computes."""
        if g in self._constants:
            return self.constant(self.value(g) * factor)
        if g in self.lr_scaled:
            return self.lr_times(self.lr_scaled[g] * float(factor), self.value(g).dtype)
        return None

    def defer(self, name: str, code: str) -> None:
        """A line that computes `name`, kept at this place only if a later line reads `name` (the fast
        mode's one-hot target, which its squared error does without)."""
        placeholder = f"<deferred {name}>"
        self._deferred[placeholder] = (name, code)
        self.lines.append(placeholder)

    def is_read(self, name: str, besides: str = "") -> bool:
        """Whether a line of the program (other than `besides`) mentions `name`."""
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        return any(pattern.search(line) for line in self.lines if line != besides)

    def prune(self) -> None:
        """Forget the buffers, views and scalars no line reads (the fast mode's deferred values that
        BLAS made unnecessary, a one-hot it does without): no memory held, none listed."""
        kinds = ("buffers (np.empty)", "views", "constants", "learning-rate scalars (set every step)")
        for kind in kinds:
            kept = []
            for entry in self.setup.get(kind, []):
                name = entry.split()[0]
                if self.is_read(name):
                    kept.append(entry)
                else:
                    self.namespace.pop(name, None)
                    self.lr_scaled.pop(name, None)
            if kind in self.setup:
                self.setup[kind] = kept
        self.setup = {kind: entries for kind, entries in self.setup.items() if entries}

    def resolve_deferred(self) -> None:
        """Put back the deferred lines whose names are read; drop the others."""
        for placeholder, (name, code) in self._deferred.items():
            i = self.lines.index(placeholder)
            if self.is_read(name, besides=placeholder):
                self.lines[i] = code
            else:
                del self.lines[i]
        self._deferred.clear()

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
