"""`Function`: one op of the engine, its forward value and its vector-Jacobian product side by side.

Every op, built in or your own, is a subclass (as in DeZero and PyTorch's `autograd.Function`):

    class Square(Function):
        formula = "x²"

        def forward(self, x):            # numpy arrays in, a numpy array out
            return x * x

        def backward(self, g, out, x):   # g = d loss / d out; one gradient per input
            return (2 * x * g,)

    y = Square.apply(t)                  # a Tensor that remembers Square and its input

`backward` gets the upstream gradient `g`, the op's output `out` and its inputs (the output comes
first, so optional inputs such as a bias can come last). Normally these are
numpy arrays. Under `backward(create_graph=True)` they are the Tensors themselves, so the very same
lines build a graph of the backward pass, and gradients of gradients come for free. That is why a
backward is written with operators and with ops that work on both (`x * g`, `x.sum(axis)`,
`x.reshape(s)`, `where(...)`), never with `np.exp(x)`. A fused op (several primitives in one node, for
speed) may write a numpy-only backward if it gives a `reference` composition: under create_graph the
engine differentiates the reference instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from tinygrad_mnist.autograd.grad_mode import _mode, _off
from tinygrad_mnist.autograd.tensor import Tensor, _creation_counter

#: Every Function subclass by name: the tests enumerate it, so no op ships without a gradient check.
registry: dict[str, type[Function]] = {}


_NEEDS = {True: (True,), False: (False,)}  # one input's needs_input_grad, shared


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class Function:
    """Base class of every op. Subclasses define `forward` and `backward`; `apply` runs and records them.

    Class attributes describe the op for pictures and traces: `name` (from the class name unless set),
    `formula` (one line of math; `{field}`s are filled from the instance, as in `x^{exponent:g}`) and
    `arg_names` (how the formula calls the inputs). Parameters that are not tensors (an axis, a shape)
    are arguments of `__init__`, stored on the instance.
    """

    name: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    arg_names: ClassVar[tuple[str, ...]] = ("x",)
    #: the same op written with primitives; set for fused ops, compared to them by the tests
    reference: ClassVar[Callable[..., Tensor] | None] = None

    # Set by `_record`: the graph's edges and what backward will need (empty when not recorded).
    # Slots, because setting them is part of every op's cost; parameters go in the instance's dict.
    __slots__ = ("inputs", "saved", "needs_input_grad", "__dict__", "__weakref__")
    inputs: tuple[Tensor, ...]
    saved: tuple[Any, ...]
    needs_input_grad: tuple[bool, ...]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = _snake_case(cls.__name__)
        if not cls.__name__.startswith("_"):  # a private base shared by several ops is not an op itself
            registry[cls.name] = cls

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, *inputs)")

    def backward(self, g: Any, out: Any, *xs: Any) -> tuple[Any, ...]:
        raise NotImplementedError(f"{type(self).__name__} must define backward(self, g, out, *inputs)")

    def vjp(self, g: np.ndarray, out: np.ndarray) -> tuple[Any, ...]:
        """This recorded op's backward on numpy arrays, one gradient per input (for tools and tests)."""
        grads = self.backward(g, out, *self.saved)
        return tuple(grads) if isinstance(grads, tuple | list) else (grads,)

    def describe(self) -> str:
        """The formula with this instance's parameters filled in (what a graph node shows)."""
        return self.formula.format(**vars(self)) if "{" in self.formula else self.formula

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Any:
        """Run the op. On Tensors it returns a Tensor, recorded in the graph when grad mode is on and an
        input requires grad. On plain numpy arrays (what a backward receives) it returns forward's array:
        the same call serves both, which is what makes every backward differentiable."""
        fn = cls(**params) if params else cls()
        if len(inputs) == 1 and type(inputs[0]) is Tensor:  # one tensor: nothing to lift
            return fn._record(inputs, (inputs[0].data,))
        like = None  # the tensor whose dtype Python numbers and arrays adopt: the first float one
        for x in inputs:
            if isinstance(x, Tensor) and (
                like is None or (like.data.dtype.kind != "f" and x.data.dtype.kind == "f")
            ):
                like = x
        if like is None:
            return fn.forward(*inputs)
        tensors = tuple([x if isinstance(x, Tensor) else like._lift(x) for x in inputs])
        return fn._record(tensors, tuple([t.data for t in tensors]))

    def _record(self, tensors: tuple[Tensor, ...], arrays: tuple[np.ndarray, ...]) -> Tensor:
        """Run forward and wrap its result; link it into the graph only if gradients are on and an input
        needs one (this is the hot path of every op: no generator, no loop, no extra call)."""
        n = len(tensors)  # spelled out for one to three inputs: a loop, or a call with *arrays, costs 3x more
        if n == 1:
            data, needs = self.forward(arrays[0]), _NEEDS[tensors[0].requires_grad]
        elif n == 2:
            data = self.forward(arrays[0], arrays[1])
            needs = (tensors[0].requires_grad, tensors[1].requires_grad)
        elif n == 3:  # linear: x, W, b
            data = self.forward(arrays[0], arrays[1], arrays[2])
            needs = (tensors[0].requires_grad, tensors[1].requires_grad, tensors[2].requires_grad)
        else:
            data, needs = self.forward(*arrays), tuple([t.requires_grad for t in tensors])
        if type(data) is not np.ndarray:  # a numpy scalar (a full reduction) becomes a 0-d array
            data = np.asarray(data)
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = out.name = None
        out._retain_grad = out.requires_grad = False
        out._ctx, out._id = self, next(_creation_counter)
        if (
            True in needs
            and (_off.threads == 0 or _mode.enabled)  # is_grad_enabled(), inline
            and data.dtype.kind == "f"  # ints and bools carry no gradient
        ):
            self.inputs, self.saved, self.needs_input_grad = tensors, arrays, needs
            out.requires_grad = True
        else:
            self.inputs = self.saved = ()  # not recorded: no edges
        return out
