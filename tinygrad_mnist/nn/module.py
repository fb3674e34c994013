"""`Module`: the base class of every layer and model, and `Parameter`, the tensors it trains.

A module finds its parameters and sub-modules by *attribute assignment*, as in PyTorch:

    class MLP(Module):
        def __init__(self):
            super().__init__()
            self.hidden = Linear(784, 128)   # a sub-module: its parameters become "hidden.weight", ...
            self.out = Linear(128, 10)

        def forward(self, x):
            return self.out(self.hidden(x).sigmoid())

So `parameters()` hands the optimiser everything to train, `state_dict()` names everything to save, and
`named_parameters()` / `named_modules()` let a graph drawing label a tensor "hidden.weight".
*Buffers* (`register_buffer`) are state that is saved but not trained, such as batch norm's running
statistics: they are in `state_dict()` beside the parameters, but not in `parameters()`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from tinygrad_mnist.autograd import Tensor


class Parameter(Tensor):
    """A leaf Tensor that a `Module` trains: `requires_grad=True` unless told otherwise.

    Any leaf Tensor that requires grad is registered when assigned to a module attribute; `Parameter`
    just says so explicitly (and `repr` shows it).
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None, name: str | None = None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, name=name)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _is_parameter(value: Any) -> bool:
    return isinstance(value, Parameter) or (
        isinstance(value, Tensor) and value.is_leaf and value.requires_grad
    )


class LoadResult(NamedTuple):
    """What `load_state_dict(strict=False)` skipped: model keys absent from the state, and extra keys."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


_changes = itertools.count(1)  # one clock for every registry: a version is never reused


class Registry(dict):
    """A module's `_parameters` / `_modules`: a dict that stamps every change with a new `version`
    (from one clock for all registries), so a compiled step checks one number per registry instead of
    every entry (`tinygrad_mnist.compile`), and a registry swapped in whole has a version of its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.version = next(_changes)

    def _changed(self) -> None:
        self.version = next(_changes)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._changed()
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._changed()
        super().__delitem__(key)

    def pop(self, key: Any, *default: Any) -> Any:
        if key in self:  # popping what is not there changes nothing (plain attributes do it)
            self._changed()
        return super().pop(key, *default)

    def popitem(self) -> tuple[Any, Any]:
        self._changed()
        return super().popitem()

    def clear(self) -> None:
        self._changed()
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._changed()
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self._changed()
        return super().setdefault(key, default)

    def __ior__(self, other: Any) -> Registry:
        self.update(other)
        return self


class Module:
    """Base class for layers and models: subclass it, assign layers in `__init__`, define `forward`.

    Calling a module (`model(x)`) runs `forward(x)`. `training` is True after construction; `eval()`
    clears it (for layers that behave differently at inference) and `train()` sets it back.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", Registry())
        object.__setattr__(self, "_modules", Registry())
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        registry = self.__dict__.get("_parameters")
        if registry is None and isinstance(value, Module | Tensor):
            raise AttributeError(
                f"cannot assign {type(value).__name__} to '{name}' before Module.__init__() ran: "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        # Replacing a registered entry keeps its position (a Sequential's replaced layer runs where
        # the old one did); only an entry of the other kind under the same name is dropped.
        if name in self.__dict__.get("_buffers", ()):
            self.register_buffer(name, value)  # a buffer stays a buffer (checked there)
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._modules[name] = value
            self.__dict__[name] = value  # mirrored: reading `self.fc1` is then a plain (fast) lookup
        elif _is_parameter(value):
            self._modules.pop(name, None)
            self._parameters[name] = value
            self.__dict__[name] = value
        elif registry is not None and name in registry and isinstance(value, Tensor):
            raise TypeError(
                f"cannot assign a Tensor that does not require grad as parameter '{name}' of "
                f"{type(self).__name__}: use a Parameter (or a leaf Tensor with requires_grad=True), "
                "or None to remove the parameter"
            )
        else:
            if isinstance(value, list | tuple) and any(isinstance(v, Module | Parameter) for v in value):
                raise TypeError(
                    f"'{name}' is a {type(value).__name__} of modules/parameters, which a Module cannot see "
                    "(they would be missing from parameters() and state_dict()): use Sequential(*modules) "
                    "or assign each one to its own attribute"
                )
            if registry is not None:
                self._unregister(name)
            object.__setattr__(self, name, value)

    def _unregister(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self.__dict__.get("_buffers", {}).pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails (registered names are mirrored in __dict__, so this is
        # the fallback for registries changed directly).
        for registry in ("_parameters", "_modules", "_buffers"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters or name in self._modules or name in self._buffers:
            self._unregister(name)
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(
            set(super().__dir__()) | set(self._parameters) | set(self._modules) | set(self._buffers)
        )

    def add_module(self, name: str, module: Module) -> None:
        """Register `module` under `name`, which may be any string (Sequential uses "0", "1", ...)."""
        if not isinstance(module, Module):
            raise TypeError(f"add_module('{name}'): expected a Module, got {type(module).__name__}")
        if not name or "." in name:
            raise ValueError(f"module name must be a non-empty string without '.', got {name!r}")
        self.__setattr__(name, module)

    def register_parameter(self, name: str, param: Tensor) -> None:
        """Register `param` under `name` (same as assigning it as an attribute)."""
        if not _is_parameter(param):
            raise TypeError(f"register_parameter('{name}'): expected a Parameter, got {param!r}")
        if not name or "." in name:
            raise ValueError(f"parameter name must be a non-empty string without '.', got {name!r}")
        self.__setattr__(name, param)

    def register_buffer(self, name: str, value: Tensor | np.ndarray | None) -> None:
        """Keep `value` as state that is saved in `state_dict()` but not trained (no gradient, not in
        `parameters()`), e.g. running statistics. Assigning `self.name = ...` later replaces it."""
        if not name or "." in name:
            raise ValueError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if name in self._parameters or name in self._modules:
            raise KeyError(f"register_buffer('{name}'): a parameter or module of that name exists")
        if value is not None and not isinstance(value, Tensor | np.ndarray):
            raise TypeError(f"register_buffer('{name}'): expected a Tensor, array or None, got {value!r}")
        if isinstance(value, np.ndarray):
            value = Tensor(value, dtype=value.dtype)
        if isinstance(value, Tensor) and value.requires_grad:
            raise ValueError(
                f"register_buffer('{name}'): a buffer is not trained; pass a tensor without grad"
            )
        self._buffers[name] = value
        self.__dict__[name] = value

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every buffer (None ones skipped) with its dotted name ("bn1.running_mean")."""
        for module_name, module in self.named_modules(prefix):
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    yield (f"{module_name}.{name}" if module_name else name), buffer

    # ------------------------------------------------------------------ forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    @property
    def __call__(self) -> Any:
        """`module(x)` runs `module.forward(x)`: handing back the bound `forward` (rather than a method
        that calls it) saves a Python call per layer per step, a few percent of per-sample training."""
        return self.forward

    # ------------------------------------------------------------------ traversal
    def children(self) -> Iterator[Module]:
        """The direct sub-modules, in assignment order."""
        for _, module in self.named_children():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, module in self._modules.items():
            if id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named `prefix`, "" by default) and every sub-module, with dotted names like "layers.0".

        Depth-first in assignment order; a module reachable by two paths is listed once, under the first.
        """
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            stack.extend(
                (f"{name}.{child_name}" if name else child_name, child)
                for child_name, child in reversed(module._modules.items())
            )

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Every parameter with its dotted name ("layers.0.weight"); a shared parameter is listed once."""
        seen: set[int] = set()
        owners = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for module_name, module in owners:
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (`.grad = None`), before the next backward accumulates."""
        for param in self.parameters():
            param.grad = None

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Set `training` on this module and all sub-modules; returns self so calls chain."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode): mode must be a bool, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Inference mode: same as `train(False)`."""
        return self.train(False)

    # ------------------------------------------------------------------ saving and loading
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's and buffer's values by dotted name: later training won't change
        what you saved."""
        state = {name: param.data.copy() for name, param in self.named_parameters()}
        state.update((name, buffer.data.copy()) for name, buffer in self.named_buffers())
        return state

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> LoadResult:
        """Copy `state` (name -> ndarray or Tensor) into the parameters, in place, keeping their dtypes.

        Everything is checked before anything is copied, so a failed load leaves the model unchanged.
        Raises ValueError listing every missing key, unexpected key and shape mismatch (with both shapes).
        With `strict=False`, missing and unexpected keys are allowed and returned; shapes must still match.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict expects a mapping of name -> array, got {type(state).__name__}")
        params = {**dict(self.named_parameters()), **dict(self.named_buffers())}
        missing = [name for name in params if name not in state]
        unexpected = [name for name in state if name not in params]
        problems = []
        if strict and missing:
            problems.append("missing key(s): " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
        values = {}
        for name, param in params.items():
            if name not in state:
                continue
            value = state[name]
            value = value.data if isinstance(value, Tensor) else np.asarray(value)
            if value.dtype.kind not in "fiub":
                problems.append(f"value for {name!r} is not numeric (dtype {value.dtype})")
            elif value.shape != param.shape:
                problems.append(
                    f"size mismatch for {name!r}: the state has shape {value.shape}, "
                    f"the model has shape {param.shape}"
                )
            else:
                values[name] = value
        if problems:
            raise ValueError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n  " + "\n  ".join(problems)
            )
        for name, value in values.items():
            np.copyto(params[name].data, value, casting="same_kind")
        return LoadResult(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in `repr`, e.g. "in_features=784, out_features=10"."""
        return ""

    def __repr__(self) -> str:
        lines = [self.extra_repr()] if self.extra_repr() else []
        lines += [f"({name}): {_indent(repr(module))}" for name, module in self._modules.items()]
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
