"""Finite-difference gradient checking: is the engine's gradient the true derivative?

`gradcheck(fn, inputs)` compares the analytic Jacobian (from `backward`) with central differences in
float64, over the full Jacobian (or random projections of it for big inputs), and makes the structural
checks PyTorch's gradcheck makes. A failure names the input, the element, both values and the error, so
a wrong VJP is found in seconds instead of guessed at.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor, topological_order


class GradcheckWarning(UserWarning):
    """Raised (as a warning) when a float32 input is up-cast to float64 for checking."""


@dataclass
class GradcheckFailure:
    """One disagreement: which check, which input and element, and the two values compared."""

    check: str
    input_index: int | None = None
    input_name: str | None = None
    element: tuple[int, ...] | None = None
    output_element: tuple[int, ...] | None = None
    analytic: float | None = None
    numeric: float | None = None
    message: str = ""

    def __str__(self) -> str:
        where = "" if self.input_index is None else f"input {self.input_index}"
        if self.input_name:
            where += f" ({self.input_name})"
        if self.element is not None:
            where += f", element {self.element}"
        if self.output_element is not None:
            where += f", d output{list(self.output_element)}"
        values = ""
        if self.analytic is not None:
            error = abs(self.analytic - self.numeric)
            values = f": analytic {self.analytic:.8g} vs numeric {self.numeric:.8g} (error {error:.3g})"
        return f"[{self.check}] {where}{values} {self.message}".strip()


@dataclass
class GradcheckReport:
    """Result of `gradcheck`: truthy when every check passed; `str()` lists the failures."""

    failures: list[GradcheckFailure] = field(default_factory=list)
    comparisons: int = 0
    max_abs_error: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = f"gradcheck {'passed' if self.ok else 'FAILED'}: {self.comparisons} comparisons, "
        head += f"max abs error {self.max_abs_error:.3g}"
        shown = [f"  {f}" for f in self.failures[:10]]
        if len(self.failures) > 10:
            shown.append(f"  ... and {len(self.failures) - 10} more")
        return "\n".join([head, *shown])


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with finite differences (the report says where)."""

    def __init__(self, report: GradcheckReport):
        super().__init__(str(report))
        self.report = report


def _evaluate(fn: Callable[..., Tensor], arrays: Sequence[np.ndarray], wants_grad: Sequence[bool]):
    leaves = [Tensor(a, requires_grad=w, dtype=a.dtype) for a, w in zip(arrays, wants_grad)]
    out = fn(*leaves)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    return leaves, out


def _grads(leaves: Sequence[Tensor], checked: Sequence[int]) -> list[np.ndarray]:
    """Each checked leaf's gradient; an input the output doesn't depend on has gradient zero."""
    return [leaves[i].grad if leaves[i].grad is not None else np.zeros_like(leaves[i].data) for i in checked]


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor | np.ndarray],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    *,
    fast: bool = False,
    projections: int = 8,
    seed: int = 0,
    raise_exception: bool = True,
) -> GradcheckReport:
    """Check the gradients of `fn(*inputs)` with respect to every input that has `requires_grad=True`.

    - full mode: the whole Jacobian, one column per input element by central differences, one row per
      output element by backward; each entry must satisfy |analytic - numeric| <= atol + rtol * |numeric|.
    - `fast=True`: `projections` random directions u (per input) and upstream gradients v, comparing
      v . J u from backward with (f(x + eps u) - f(x - eps u)) . v / (2 eps): cheap for big inputs.
    - structural checks: backward twice gives the same gradients, a zero upstream gradient gives zero
      gradients, and every op's VJP returns its input's dtype (checked in the inputs' own dtypes, at each
      node; shapes are checked by the engine itself, which names an op whose VJP returns a wrong shape).

    Inputs are up-cast to float64 (with a warning for float32 ones: float32 differences are too coarse to
    judge). Returns a `GradcheckReport`; raises `GradcheckError` on failure unless `raise_exception=False`.
    """
    originals = [x if isinstance(x, Tensor) else Tensor(x, dtype=np.asarray(x).dtype) for x in inputs]
    wants_grad = [t.requires_grad for t in originals]
    checked = [i for i, w in enumerate(wants_grad) if w]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is no gradient to check")
    if any(originals[i].dtype != np.float64 for i in checked):
        warnings.warn(
            "gradcheck: float32 inputs were up-cast to float64; finite differences in float32 are too "
            "inaccurate to judge a gradient",
            GradcheckWarning,
            stacklevel=2,
        )
    arrays = [t.data.astype(np.float64) if t.dtype.kind == "f" else t.data for t in originals]
    names = [t.name for t in originals]
    report = GradcheckReport()
    rng = np.random.default_rng(seed)

    def compare(check: str, analytic: float, numeric: float, **where: Any) -> None:
        error = abs(analytic - numeric)
        report.comparisons += 1
        report.max_abs_error = max(report.max_abs_error, error)
        if not error <= atol + rtol * abs(numeric):  # `not <=` also catches NaN
            report.failures.append(GradcheckFailure(check, analytic=analytic, numeric=numeric, **where))

    def output_of(perturbed: list[np.ndarray]) -> np.ndarray:
        return _evaluate(fn, perturbed, wants_grad)[1].data.astype(np.float64)

    def numeric_derivative(i: int, direction: np.ndarray) -> np.ndarray:
        plus, minus = list(arrays), list(arrays)
        plus[i], minus[i] = arrays[i] + eps * direction, arrays[i] - eps * direction
        return (output_of(plus) - output_of(minus)) / (2 * eps)

    leaves, out = _evaluate(fn, arrays, wants_grad)
    if out.dtype.kind != "f":
        raise TypeError(f"gradcheck: fn must return a floating-point Tensor, got {out.dtype}")
    if not out.requires_grad:
        raise ValueError("gradcheck: the output does not depend on any input that requires grad")

    if fast:
        for _ in range(projections):
            v = rng.standard_normal(out.shape)
            for leaf in leaves:
                leaf.grad = None
            out.backward(v, retain_graph=True)
            for i, grad in zip(checked, _grads(leaves, checked)):
                u = rng.standard_normal(arrays[i].shape)
                numeric = float((numeric_derivative(i, u) * v).sum())
                compare("projection", float((grad * u).sum()), numeric, input_index=i, input_name=names[i])
    else:
        analytic = {i: np.zeros((out.size, arrays[i].size)) for i in checked}
        for k in range(out.size):
            upstream = np.zeros(out.size)
            upstream[k] = 1.0
            for leaf in leaves:
                leaf.grad = None
            out.backward(upstream.reshape(out.shape), retain_graph=True)
            for i, grad in zip(checked, _grads(leaves, checked)):
                analytic[i][k] = grad.ravel()
        for i in checked:
            for j in range(arrays[i].size):
                basis = np.zeros(arrays[i].size)
                basis[j] = 1.0
                column = numeric_derivative(i, basis.reshape(arrays[i].shape)).ravel()
                for k in range(out.size):
                    element = np.unravel_index(j, arrays[i].shape)
                    output_element = np.unravel_index(k, out.shape)
                    compare(
                        "jacobian",
                        float(analytic[i][k, j]),
                        float(column[k]),
                        input_index=i,
                        input_name=names[i],
                        element=tuple(int(e) for e in element),
                        output_element=tuple(int(e) for e in output_element),
                    )

    _structural_checks(fn, arrays, originals, wants_grad, checked, names, out.shape, rng, report)
    if raise_exception and not report.ok:
        raise GradcheckError(report)
    return report


def _structural_checks(fn, arrays, originals, wants_grad, checked, names, out_shape, rng, report) -> None:
    v = rng.standard_normal(out_shape)
    runs = []
    for upstream in (v, v, np.zeros(out_shape)):
        leaves, out = _evaluate(fn, arrays, wants_grad)
        out.backward(upstream)
        runs.append(_grads(leaves, checked))
    for i, first, second, zero in zip(checked, *runs):
        if not np.array_equal(first, second):
            report.failures.append(
                GradcheckFailure("reentrant", i, names[i], message="backward twice gave different gradients")
            )
        if np.any(zero != 0):
            report.failures.append(
                GradcheckFailure(
                    "zero-upstream", i, names[i], message="a zero upstream gradient gave nonzero grad"
                )
            )
    # Dtypes are checked in the inputs' own dtypes (float32 in, float32 gradients out) at every node:
    # leaves cast what they receive, so a VJP that up-casts would be invisible in the leaves' .grad.
    own = [t.data for t in originals]
    _, out = _evaluate(fn, own, wants_grad)
    grads = {out: rng.standard_normal(out.shape).astype(out.dtype)}
    for node in reversed(topological_order(out, needs_grad_only=True)):
        g = grads.pop(node, None)
        fn = node.grad_fn
        if g is None or fn is None or not fn.inputs:
            continue
        for parent, parent_grad in zip(node.parents, fn.vjp(g, node.data)):
            if parent_grad is None or not parent.requires_grad:
                continue
            if parent_grad.dtype != parent.dtype:
                message = f"'{node.op}' returns a {parent_grad.dtype} gradient for a {parent.dtype} input"
                report.failures.append(GradcheckFailure("vjp-dtype", message=message))
                continue
            grads[parent] = parent_grad if parent not in grads else grads[parent] + parent_grad


def gradgradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor | np.ndarray],
    grad_outputs: np.ndarray | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    *,
    seed: int = 0,
    raise_exception: bool = True,
) -> GradcheckReport:
    """Check second derivatives: the gradient of the gradient against finite differences of the gradient.

    The first-order VJP `x -> d(v · fn(x))/dx` (v a fixed random upstream gradient, or `grad_outputs`) is
    itself a function of the inputs, computed with `grad(create_graph=True)`; `gradcheck` then compares
    its backward (second-order autograd) with central differences of it (like PyTorch's gradgradcheck).
    """
    from tinygrad_mnist.autograd import cat, grad

    originals = [x if isinstance(x, Tensor) else Tensor(x, dtype=np.asarray(x).dtype) for x in inputs]
    checked = [i for i, t in enumerate(originals) if t.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input has requires_grad=True, so there is no gradient to check")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradcheckWarning)
        probe = fn(
            *[
                Tensor(t.data, requires_grad=t.requires_grad, dtype=np.float64) if t.dtype.kind == "f" else t
                for t in originals
            ]
        )
    v = (
        np.random.default_rng(seed).standard_normal(probe.shape)
        if grad_outputs is None
        else np.asarray(grad_outputs, dtype=np.float64)
    )

    def first_order(*xs: Tensor) -> Tensor:
        out = fn(*xs)
        wanted = [xs[i] for i in checked]
        grads = grad(
            out, wanted, grad_outputs=Tensor(v, dtype=out.dtype), create_graph=True, allow_unused=True
        )
        flat = [(g if g is not None else x * 0).reshape(-1) for g, x in zip(grads, wanted)]
        joined = cat(flat) if len(flat) > 1 else flat[0]
        if not joined.requires_grad:  # fn is linear: its gradient is constant, so H = 0 must be what
            joined = joined + sum(x.sum() for x in wanted) * 0.0  # the finite differences find too
        return joined

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradcheckWarning)
        return gradcheck(first_order, originals, eps, atol, rtol, seed=seed, raise_exception=raise_exception)
