"""`Sequential`: modules applied one after another, named "0", "1", ... like PyTorch's."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tinygrad_mnist.nn.module import Module


class Sequential(Module):
    """Chain of modules: `Sequential(Linear(784, 128), Sigmoid(), Linear(128, 10))(x)`.

    Sub-modules are named by position ("0.weight", "2.bias" in the state_dict), or by the keys of a
    single dict argument. Indexing gives a module; slicing gives a Sequential of the same module
    objects, keeping their original names (as PyTorch does).
    """

    def __init__(self, *modules: Module | Mapping[str, Module]):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            named = list(modules[0].items())
        else:
            named = [(str(i), m) for i, m in enumerate(modules)]
        for name, module in named:
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential: entry {name} is a {type(module).__name__}, not a Module "
                    "(wrap functions in a Module subclass)"
                )
            self.add_module(name, module)

    def append(self, module: Module) -> Sequential:
        """Add `module` at the end, named one past the highest numeric name (a slice keeps its
        original names, so its length may already be taken); returns self."""
        numbers = [int(name) for name in self._modules if name.isdigit()]
        self.add_module(str(max(numbers, default=-1) + 1), module)
        return self

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(dict(items[index]))
        try:
            return items[index][1]
        except IndexError:
            raise IndexError(f"Sequential index {index} is out of range for {len(items)} modules") from None
        except TypeError:
            raise TypeError(
                f"Sequential indices must be ints or slices, got {type(index).__name__}"
            ) from None

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))
