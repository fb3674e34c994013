"""A model's layer list as JSON data, and the model rebuilt from it: how a checkpoint says what it holds.

`describe(model)` turns an `nn.Sequential` (nested ones too) of our layers -- Flatten, Linear, ReLU,
Sigmoid, Tanh, Softmax, LogSoftmax -- into plain data, and `build(description)` makes a fresh model
from it, so `tinygrad-mnist eval/predict/plot` work for a model you wrote yourself, not only for the
registry's names:

    {"type": "Sequential", "modules": [
        ["0", {"type": "Flatten", "start_dim": 1, "end_dim": -1}],
        ["1", {"type": "Linear", "in_features": 784, "out_features": 128, "bias": true, "dtype": "float32"}],
        ["2", {"type": "Sigmoid"}], ...]}

A model with a layer of your own (a Module subclass) has no description (`describe` returns None):
its code is needed to rebuild it. Descriptions come from files, so `build` checks every field and
`parameter_shapes` lets a caller compare the shapes with the saved tensors before anything is
allocated (a forged `Linear(10**6, 10**6)` is refused, not built).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tinygrad_mnist import nn

MAX_DEPTH = 16
MAX_MODULES = 1000


class ArchitectureError(ValueError):
    """A layer description that is malformed or names a layer we don't know."""


def _ints(*names: str) -> dict[str, Callable[[Any], bool]]:
    return {
        n: (lambda v: isinstance(v, int) and not isinstance(v, bool) and -64 <= v <= 1 << 31) for n in names
    }


# type name -> (class, the constructor arguments it records and their checks)
_SIMPLE: dict[str, tuple[type, dict[str, Callable[[Any], bool]]]] = {
    "Flatten": (nn.Flatten, _ints("start_dim", "end_dim")),
    "ReLU": (nn.ReLU, {}),
    "Sigmoid": (nn.Sigmoid, {}),
    "Tanh": (nn.Tanh, {}),
    "Softmax": (nn.Softmax, _ints("dim")),
    "LogSoftmax": (nn.LogSoftmax, _ints("dim")),
}
_LINEAR_DTYPES = ("float32", "float64")


def describe(module: nn.Module) -> dict[str, Any] | None:
    """`module` as JSON-ready data, or None if it holds a layer type this module cannot rebuild."""
    kind = type(module).__name__
    if type(module) is nn.Sequential:
        modules = []
        for name, child in module._modules.items():
            described = describe(child)
            if described is None:
                return None
            modules.append([name, described])
        return {"type": "Sequential", "modules": modules}
    if type(module) is nn.Linear:
        return {
            "type": "Linear",
            "in_features": module.in_features,
            "out_features": module.out_features,
            "bias": module.bias is not None,
            "dtype": str(module.weight.dtype),
        }
    if (
        kind in _SIMPLE
        and type(module) is _SIMPLE[kind][0]
        and not module._modules
        and not module._parameters
    ):
        return {"type": kind, **{arg: getattr(module, arg) for arg in _SIMPLE[kind][1]}}
    return None


def parameter_shapes(description: Any) -> dict[str, tuple[int, ...]]:
    """The state-dict names and shapes a description's model has, computed without building it."""
    shapes: dict[str, tuple[int, ...]] = {}
    _walk(description, "", shapes, depth=0, count=[0])
    return shapes


def build(description: Any, seed: int = 0) -> nn.Module:
    """A fresh model (weights drawn from `seed`) from `describe`'s data; ArchitectureError if malformed."""
    parameter_shapes(description)  # validates everything first
    return _build(description, np.random.default_rng(seed))


def _walk(spec: Any, prefix: str, shapes: dict[str, tuple[int, ...]], depth: int, count: list[int]) -> None:
    where = prefix.rstrip(".") or "the model"
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_MODULES:
        raise ArchitectureError(
            f"layer description too large (over {MAX_DEPTH} levels or {MAX_MODULES} modules)"
        )
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ArchitectureError(f"{where}: a layer must be an object with a 'type', got {_short(spec)}")
    kind = spec["type"]
    if kind == "Sequential":
        modules = spec.get("modules")
        if set(spec) != {"type", "modules"} or not isinstance(modules, list):
            raise ArchitectureError(f"{where}: Sequential needs exactly 'modules': [[name, layer], ...]")
        names = set()
        for entry in modules:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                raise ArchitectureError(
                    f"{where}: Sequential entries must be [name, layer], got {_short(entry)}"
                )
            name = entry[0]
            if not name or "." in name or name in names:
                raise ArchitectureError(f"{where}: bad or repeated module name {name!r}")
            names.add(name)
            _walk(entry[1], f"{prefix}{name}.", shapes, depth + 1, count)
    elif kind == "Linear":
        fields = {"type", "in_features", "out_features", "bias", "dtype"}
        ok = set(spec) == fields and isinstance(spec["bias"], bool) and spec["dtype"] in _LINEAR_DTYPES
        sizes = (spec.get("in_features"), spec.get("out_features"))
        if not ok or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 < s < 1 << 31 for s in sizes
        ):
            raise ArchitectureError(f"{where}: malformed Linear {_short(spec)}")
        shapes[f"{prefix}weight"] = (sizes[1], sizes[0])
        if spec["bias"]:
            shapes[f"{prefix}bias"] = (sizes[1],)
    elif kind in _SIMPLE:
        checks = _SIMPLE[kind][1]
        if set(spec) != {"type", *checks} or not all(check(spec[arg]) for arg, check in checks.items()):
            raise ArchitectureError(f"{where}: malformed {kind} {_short(spec)}")
    else:
        known = ", ".join(["Sequential", "Linear", *_SIMPLE])
        raise ArchitectureError(f"{where}: unknown layer type {kind!r} (known: {known})")


def _build(spec: Mapping[str, Any], rng: np.random.Generator) -> nn.Module:
    kind = spec["type"]
    if kind == "Sequential":
        return nn.Sequential({name: _build(child, rng) for name, child in spec["modules"]})
    if kind == "Linear":
        return nn.Linear(
            spec["in_features"],
            spec["out_features"],
            bias=spec["bias"],
            rng=rng,
            dtype=np.dtype(spec["dtype"]),
        )
    cls, args = _SIMPLE[kind]
    return cls(**{arg: spec[arg] for arg in args})


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
