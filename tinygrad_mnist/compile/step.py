"""`compile_step`: a training step that records itself once and then replays as straight-line numpy.

    step = compile_step(model, loss_fn, optimizer)
    for xb, yb in loader:
        loss, out = step(xb, yb)      # forward, loss, zero_grad, backward, optimizer.step()
    print(step.source)                # the whole step as numpy lines

Per input signature (shapes and dtypes of x and y) the first call runs eagerly and records the graph,
the second runs eagerly again and builds the program, which must come out the same as the first
call's (otherwise the step's graph depends on the data: value-dependent control flow); later calls
run the program. A shorter last batch is a new signature, so it captures its own program. A failed
guard (a parameter swapped, `requires_grad` changed, the optimiser's settings changed shape) makes
the step capture again. At most `MAX_PROGRAMS` programs are kept (the oldest is dropped first). A
step that cannot be replayed (`CompileError`) runs eagerly from then on, with a warning (unless
`warn=False`), or raises if `strict=True`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.compile.builder import CompileError
from tinygrad_mnist.compile.program import Program, Recorder

MAX_PROGRAMS = 8
"""Programs kept per step (one per input signature, oldest dropped first): each holds its own buffers,
so a caller that changes the batch size all the time cannot grow memory without bound."""


def _remember(table: dict, key: tuple, value: object, limit: int = MAX_PROGRAMS) -> None:
    table.pop(key, None)
    table[key] = value
    while len(table) > limit:
        del table[next(iter(table))]


class Captured:
    """What `CompiledStep` and `CompiledForward` share: one program per input signature, built from
    two eager calls that must agree, dropped when a guard fails; signatures that cannot replay run
    eagerly (`eager_reasons` says why)."""

    what, graph = "compile_step", "step's graph"  # how messages name the wrapper and what it records

    def __init__(self, model: Any, strict: bool = False, warn: bool = True, exact: bool = True):
        self.model, self.strict, self.warn, self.exact = model, strict, warn, exact
        self.programs: dict[tuple, Program] = {}
        self._pending: dict[tuple, str] = {}  # first call's program text, waiting for the second's
        self.eager_reasons: dict[tuple, str] = {}  # signatures that replay failed for, and why
        self.replays = self.captures = 0

    @property
    def source(self) -> str:
        """The most recently built program, as text (a learner's view of the whole step)."""
        if not self.programs:
            raise RuntimeError(f"{self.what}: nothing captured yet; call it at least twice")
        return list(self.programs.values())[-1].source

    def _forget(self, key: tuple) -> None:
        """A guard failed: the program is stale; the next calls capture afresh."""
        del self.programs[key]
        self._pending.pop(key, None)

    def _keep(self, key: tuple, program: Program) -> None:
        first = self._pending.pop(key, None)
        if first is None:
            _remember(self._pending, key, program.source)
        elif first == program.source:
            _remember(self.programs, key, program)
        else:
            raise CompileError(
                f"the {self.graph} changed between two calls with the same shapes: its ops or constants "
                "depend on the data (value-dependent control flow), so no single program replays it"
            )

    def _give_up(self, key: tuple, error: CompileError) -> None:
        if self.strict:
            raise error
        _remember(self.eager_reasons, key, str(error), limit=8 * MAX_PROGRAMS)
        if self.warn:
            warnings.warn(f"{self.what}: running eagerly for inputs {key[0]}: {error}", stacklevel=4)


class CompiledStep(Captured):
    """Callable `(x, y) -> (loss, output)` doing one full training step; see the module docstring."""

    def __init__(
        self,
        model: Any,
        loss_fn: Any,
        optimizer: Any,
        strict: bool = False,
        warn: bool = True,
        exact: bool = True,
    ):
        super().__init__(model, strict, warn, exact)
        self.loss_fn, self.optimizer = loss_fn, optimizer

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        if type(x) is not np.ndarray or type(y) is not np.ndarray:
            x, y = np.asarray(x), np.asarray(y)
        key = (x.shape, x.dtype, y.shape, y.dtype)
        program = self.programs.get(key)
        if program is not None:
            result = program.run(x, y, self.optimizer.param_groups)
            if result is not None:
                self.replays += 1
                return float(result[0]), result[1]
            self._forget(key)
        if key in self.eager_reasons:
            return self._eager(x, y, None)
        return self._eager(x, y, key)

    def _eager(self, x: np.ndarray, y: np.ndarray, key: tuple | None) -> tuple[float, np.ndarray]:
        """The textbook step with the real engine; with a `key`, also recorded into a program."""
        out = self.model(Tensor(x))
        loss = self.loss_fn(out, y)
        recorder = None
        if key is not None:
            try:
                recorder = Recorder(self.model, self.optimizer, x, y, self.exact)
                recorder.record_graph(loss, out)
            except CompileError as error:
                self._give_up(key, error)
                recorder = None
        value = float(loss.data)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if recorder is not None:
            self.captures += 1
            try:
                self._keep(key, recorder.finish())
            except CompileError as error:
                self._give_up(key, error)
        return value, out.data


def compile_step(
    model: Any, loss_fn: Any, optimizer: Any, strict: bool = False, warn: bool = True, exact: bool = True
) -> CompiledStep:
    """One training step (forward, `loss_fn(output, y)`, zero_grad, backward, `optimizer.step()`) that
    records itself and replays as generated numpy; same numbers as the eager step. A step that cannot
    be replayed raises `CompileError` if `strict`, else runs eagerly (with a warning if `warn`).
    `exact=False` is the fast mode: plain SGD's learning rate folded into the loss gradient (no true
    `.grad` then), `np.dot` for products, a BLAS dot for the squared error: equal to the eager step
    up to float32 rounding, not bit for bit (docs/performance.md says where)."""
    return CompiledStep(model, loss_fn, optimizer, strict=strict, warn=warn, exact=exact)
