"""Which module each op of a graph belongs to, worked out from the parameters the ops consume.

The engine records ops, not modules, so grouping is inferred after the fact with one rule:

- a tensor is *parameter-derived* from module M if it is a parameter of M (`fc1.weight` belongs to `fc1`),
  or an op computed it only from M's parameter-derived tensors and scalar constants (`fc1.weight.T`);
- an op belongs to M if its output is parameter-derived from M, or if its inputs include
  parameter-derived tensors of M and of no other module (`x @ fc1.weight.T`, `... + fc1.bias`).

So `nn.Linear`'s one fused `linear` op, which consumes `fc1.weight` and `fc1.bias`, belongs to `fc1`; a
layer written out by hand as `x @ w.T + b` puts its transpose, matmul and add in one group the same way.
Parameter-free layers (ReLU, Sigmoid, the loss) stay separate ops between the groups, which is how a
network diagram is drawn anyway. An op that mixes parameters of two modules (e.g. an L2 penalty summing
both) belongs to neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tinygrad_mnist.autograd import Tensor, topological_order


def parameter_names(module: Any = None, params: Mapping[str, Tensor] | None = None) -> dict[int, str]:
    """id(parameter) -> dotted name, from `module.named_parameters()` and/or a `{name: tensor}` mapping."""
    names: dict[int, str] = {}
    if module is not None:
        if not hasattr(module, "named_parameters"):
            raise TypeError(
                f"module= must have named_parameters() (a tinygrad_mnist.nn.Module), got {type(module).__name__}"
            )
        for name, p in module.named_parameters():
            names.setdefault(id(p), name)
    for name, p in (params or {}).items():
        if not isinstance(p, Tensor):
            raise TypeError(f"params[{name!r}] must be a Tensor, got {type(p).__name__}")
        names[id(p)] = name
    return names


def module_types(module: Any) -> dict[str, str]:
    """Dotted module name -> class name ("fc1" -> "Linear"), when the module can list its submodules."""
    if module is None or not hasattr(module, "named_modules"):
        return {}
    return {name: type(m).__name__ for name, m in module.named_modules()}


def owner_of(param_name: str) -> str:
    """The module that holds a parameter: "fc1.weight" -> "fc1", "weight" -> "" (the root module)."""
    return param_name.rpartition(".")[0]


def group_by_module(
    roots: Tensor | Iterable[Tensor], module: Any = None, params: Mapping[str, Tensor] | None = None
) -> dict[int, str]:
    """id(non-leaf tensor) -> name of the module whose op produced it (absent: the op belongs to none).

    Parameters themselves are not in the result; their module is `owner_of(name)`.
    """
    names = parameter_names(module, params)
    derived: dict[int, str] = {pid: owner_of(n) for pid, n in names.items()}
    groups: dict[int, str] = {}
    for t in topological_order(roots):
        if t.op is None or not t.parents:
            continue
        owners = {derived[id(p)] for p in t.parents if id(p) in derived}
        if len(owners) != 1:
            continue
        (owner,) = owners
        groups[id(t)] = owner
        if all(id(p) in derived or (p.is_leaf and not p.requires_grad and p.size == 1) for p in t.parents):
            derived[id(t)] = owner
    return groups
