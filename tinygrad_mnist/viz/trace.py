"""`trace_backward(loss)`: run the engine's real `backward()` and record it node by node, to watch the chain rule.

    from tinygrad_mnist.viz import trace_backward
    trace = trace_backward(loss, module=model)
    for step in trace.steps:          # in the order the engine visited the nodes
        print(step.label, step.op, step.formula, step.grad.shape, step.check)

Nothing is re-derived: the engine calls an observer (the `observer=` hook of its `_backprop`) for every
node it takes off its queue, with the summed gradient that reached the node and what the node's VJP
handed each input. The trace keeps copies of those arrays, notes which later node sent each piece of a
gradient (two or more pieces: two paths met and were added), and checks each op's VJP on its own by
central finite differences of that op's forward on its saved inputs, so a wrong gradient is pinned to
the one node that made it. `.grad` is filled as by `loss.backward()` (leaves, and tensors that
`retain_grad()`); the graph is kept (retain_graph=True) so it can still be drawn.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.autograd.tensor import _backprop, _seed
from tinygrad_mnist.viz.grouping import group_by_module, parameter_names

CHECK_ELEMENTS = 24  # finite differences for at most this many elements per input (chosen at random)
CHECK_EPS = 1e-6  # in float64
CHECK_ATOL, CHECK_RTOL = 1e-5, 1e-3  # the VJP is computed in the graph's dtype (float32 as a rule)


@dataclass
class VJPCheck:
    """One op's VJP against central differences of that op alone: |analytic - numeric| <= atol + rtol |numeric|."""

    passed: bool
    max_error: float  # the largest |analytic - numeric| over the checked elements
    elements: int  # how many input elements were compared

    def __str__(self) -> str:
        verdict = "pass" if self.passed else "FAIL"
        return f"{verdict}: max error {self.max_error:.2g} over {self.elements} elements"


@dataclass
class HandedGrad:
    """What a node's VJP handed one of its inputs."""

    input: Tensor
    arg_name: str  # how the op's formula calls this input ("x", "W", ...)
    grad: np.ndarray | None  # None: the input is a constant (no gradient flows to it)


@dataclass
class Step:
    """One node of the backward pass, as the engine visited it."""

    index: int
    tensor: Tensor
    label: str  # parameter name, tensor name, or "op output"
    op: str | None  # None for a leaf (where a gradient ends in .grad)
    formula: str
    grad: np.ndarray  # the gradient that reached this node, summed over every path: dloss/dtensor
    #: (index of the step that sent it, the piece) for every path into this node; empty for the root
    received: list[tuple[int, np.ndarray]] = field(default_factory=list)
    handed: list[HandedGrad] = field(default_factory=list)
    check: VJPCheck | None = None  # None for a leaf

    @property
    def paths_meet(self) -> bool:
        """True where two or more paths reach this node and their gradients are added up."""
        return len(self.received) > 1


@dataclass
class BackwardTrace:
    root: Tensor
    steps: list[Step]

    def step_of(self, tensor: Tensor) -> Step:
        for step in self.steps:
            if step.tensor is tensor:
                return step
        raise KeyError("this tensor received no gradient in the traced backward pass")

    @property
    def all_checks_pass(self) -> bool:
        return all(s.check.passed for s in self.steps if s.check is not None)


def _unnamed(node: Tensor, groups: dict[int, str]) -> str:
    if node._ctx is None:
        return "leaf"
    return (
        f"{groups[id(node)]} output ({node._ctx.name})" if id(node) in groups else f"{node._ctx.name} output"
    )


def _copy(g: Any) -> np.ndarray:
    return np.array(g.data if isinstance(g, Tensor) else g, copy=True)


def trace_backward(
    loss: Tensor, gradient: Any = None, *, module: Any = None, check: bool = True, seed: int = 0
) -> BackwardTrace:
    """Run `loss.backward(gradient, retain_graph=True)` and return every step it took (see the module doc).

    module: name parameters in the labels ("fc1.weight"). check: run the per-node finite-difference
    check (`seed` picks the elements checked in large inputs).
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"trace_backward: expected a Tensor, got {type(loss).__name__}")
    if not loss.requires_grad:
        raise RuntimeError("trace_backward: the loss does not require grad, so there is no backward to trace")
    names = parameter_names(module)
    groups = group_by_module(loss, module) if names else {}
    rng = np.random.default_rng(seed)
    steps: list[Step] = []
    pending: dict[int, list[tuple[int, np.ndarray]]] = {}  # id(tensor) -> pieces sent to it so far

    def observe(node: Tensor, g: Any, input_grads: tuple[Any, ...]) -> None:
        fn = node._ctx
        index = len(steps)
        step = Step(
            index=index,
            tensor=node,
            label=names.get(id(node)) or node.name or _unnamed(node, groups),
            op=None if fn is None else fn.name,
            formula="" if fn is None else fn.describe(),
            grad=_copy(g),
            received=pending.pop(id(node), []),
        )
        if fn is not None:
            arg_names = list(fn.arg_names) + [f"input {i}" for i in range(len(fn.arg_names), len(fn.inputs))]
            for parent, arg, pg in zip(fn.inputs, arg_names, input_grads):
                flows = pg is not None and parent.requires_grad  # the engine's own rule
                step.handed.append(HandedGrad(parent, arg, _copy(pg) if flows else None))
                if flows:
                    pending.setdefault(id(parent), []).append((index, step.handed[-1].grad))
            if check:
                step.check = check_vjp(fn, g, node.data, input_grads, rng)
        steps.append(step)

    seed_grad = _seed(loss, gradient, "trace_backward", create_graph=False)
    _backprop([loss], [seed_grad], retain_graph=True, create_graph=False, observer=observe)
    return BackwardTrace(loss, steps)


def check_vjp(
    fn: Any, g: Any, out: np.ndarray, input_grads: tuple[Any, ...], rng: np.random.Generator
) -> VJPCheck:
    """Compare `input_grads` (what `fn`'s backward returned for upstream `g`) with central differences of
    sum(g * fn.forward(inputs)), in float64, on up to CHECK_ELEMENTS elements of each input that gets a
    gradient. Runs forward on a copy of `fn`, so the recorded op is left as it was."""
    probe = copy.copy(fn)
    xs = [np.array(x, dtype=np.float64) if np.asarray(x).dtype.kind == "f" else x for x in fn.saved]
    upstream = np.asarray(g, dtype=np.float64)

    def objective() -> float:
        return float((upstream * np.asarray(probe.forward(*xs), dtype=np.float64)).sum())

    worst, compared, passed = 0.0, 0, True
    for i, (x, analytic, needed) in enumerate(zip(xs, input_grads, fn.needs_input_grad)):
        if analytic is None or not needed or np.asarray(x).dtype.kind != "f":
            continue
        analytic = np.asarray(analytic, dtype=np.float64)
        flat = xs[i].reshape(-1)  # a view: perturbing it perturbs xs[i]
        chosen = np.arange(flat.size)
        if flat.size > CHECK_ELEMENTS:
            chosen = rng.choice(flat.size, CHECK_ELEMENTS, replace=False)
        for k in chosen:
            original = flat[k]
            flat[k] = original + CHECK_EPS
            up = objective()
            flat[k] = original - CHECK_EPS
            down = objective()
            flat[k] = original
            numeric = (up - down) / (2 * CHECK_EPS)
            error = abs(float(analytic.reshape(-1)[k]) - numeric)
            worst = max(worst, error)
            passed = passed and error <= CHECK_ATOL + CHECK_RTOL * abs(numeric)
            compared += 1
    return VJPCheck(passed, worst, compared)
