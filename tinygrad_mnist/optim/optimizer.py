"""`Optimizer`: holds the parameters to train and per-parameter state; subclasses define `step()`.

Updates happen in place on `param.data` (the same array objects, the same dtype), with numpy only and
no graph: an optimiser step is bookkeeping, not part of the model. `param.grad` is only read, never
written, because the engine may hand the same gradient array to several places.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn

import numpy as np

from tinygrad_mnist.autograd import Tensor

ParamsArg = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer:
    """Base class: `param_groups` is a list of dicts, each with "params" and its hyperparameters.

    `params` is an iterable (a generator is fine: it is materialised once) of Tensors, or of dicts
    `{"params": [...], "lr": ...}` to give groups their own settings, as in PyTorch. Change a setting
    during training with `for g in opt.param_groups: g["lr"] = new_lr`.
    """

    def __init__(self, params: ParamsArg, defaults: dict[str, Any]):
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Tensors (e.g. model.parameters()), "
                "got a single Tensor; wrap it in a list"
            )
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters; settings it doesn't give come from the optimiser's defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{type(self).__name__}: a parameter group must be a dict with a 'params' key")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        known = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if not p.is_leaf or p.dtype.kind != "f":
                raise ValueError(
                    f"{type(self).__name__}: parameter {i} must be a floating-point leaf Tensor "
                    f"(got op={p.op!r}, dtype={p.dtype})"
                )
            if id(p) in known:
                raise ValueError(
                    f"{type(self).__name__}: parameter {i} (shape {p.shape}) appears more than once; "
                    "it would be updated twice per step"
                )
            known.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown setting(s) {sorted(unknown)}")
        merged = {**self.defaults, **group, "params": params}
        self._check_group(merged)
        self.param_groups.append(merged)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a group's hyperparameters (subclasses extend this)."""
        _check_number(self, "lr", group["lr"])
        _check_number(self, "weight_decay", group.get("weight_decay", 0.0))

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to None (not zeros: no array is written, nothing is shared)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    def _gradients(self, group: dict[str, Any]) -> Iterator[tuple[Tensor, np.ndarray]]:
        """(param, gradient) for each param of `group` that has a `.grad`, with L2 weight decay added.

        The gradient is checked against the param's shape and is in the param's dtype. It is `p.grad`
        itself or a new array, never `p.grad` modified, so callers must not write into it either.
        """
        weight_decay = float(group.get("weight_decay", 0.0))
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.shape != p.shape:
                self._gradient_shape_error(p)
            if grad.dtype != p.dtype:
                grad = grad.astype(p.dtype)
            if weight_decay != 0:
                grad = grad + weight_decay * p.data
            yield p, grad

    def _gradient_shape_error(self, p: Tensor) -> NoReturn:
        raise ValueError(
            f"{type(self).__name__}: gradient shape {p.grad.shape} does not match parameter shape {p.shape}"
        )

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {value}" for key, value in group.items() if key != "params"]
        return "\n".join(lines) + "\n)"


def _check_number(opt: Optimizer, name: str, value: Any, upper: float | None = None) -> None:
    """`value` must be a finite real number >= 0 (and < `upper` if given), else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{type(opt).__name__}: {name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0 or (upper is not None and value >= upper):
        bound = f"in [0, {upper})" if upper is not None else ">= 0"
        raise ValueError(f"{type(opt).__name__}: {name} must be {bound}, got {value!r}")
