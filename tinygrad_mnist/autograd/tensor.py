"""`Tensor`: an array that remembers the op that made it, and reverse-mode backprop over that graph.

A Tensor holds numpy `data`, and, when it was computed by an op, that op's `Function` instance
(`_ctx`), which remembers the inputs. `backward()` walks this graph from the output back to the leaves,
asking each op for its vector-Jacobian product (`Function.backward`) and summing what reaches each
tensor. The ops themselves live in `ops.py` (primitives) and `fused.py`; `methods.py` attaches them to
Tensor under their PyTorch names (`+`, `@`, `.sum()`, `.relu()`, ...).

Rules the engine keeps, so it stays correct and cheap:
- a backward never modifies `g` in place (the same array may flow to several inputs);
- float data is float32 unless asked otherwise; Python scalars and numpy arrays adopt the tensor's dtype;
- `.grad` of a leaf is a numpy array after `backward()`, and a Tensor (with its own graph, ready to be
  differentiated again) after `backward(create_graph=True)`.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Sequence
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_mnist.autograd import fast
from tinygrad_mnist.autograd.grad_mode import enable_grad

if TYPE_CHECKING:
    from tinygrad_mnist.autograd.function import Function

_creation_counter = itertools.count()  # one clock for leaves and op outputs: inputs are always older
_creation_number = operator.attrgetter("_id")


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """numpy array for `data`: float becomes float32 unless `dtype` says otherwise; ints and bools stay."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data)
    if array.dtype.kind == "f" and array.dtype != np.float32:
        return array.astype(np.float32)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"Tensor data must be numeric, got dtype {array.dtype}")
    return array


class Tensor:
    """An n-dimensional array that records the op that produced it, so `backward()` can run the chain rule."""

    # _ctx: the Function that computed this tensor (None for a leaf); _id: creation number
    __slots__ = ("data", "grad", "requires_grad", "name", "_ctx", "_retain_grad", "_id", "__weakref__")
    __array_ufunc__ = None  # `ndarray + Tensor` defers to Tensor.__radd__ instead of looping over elements
    __hash__ = object.__hash__  # tensors are dict keys by identity; `==` compares elements (below)

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None):
        self.data: np.ndarray = _to_array(data, dtype)
        self.grad: Any = None
        self._ctx: Function | None = None
        self._retain_grad = False
        self.name = name
        self._id = next(_creation_counter)
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    # ------------------------------------------------------------------ graph bookkeeping
    @staticmethod
    def _constant(data: np.ndarray) -> Tensor:
        """A leaf that needs no gradient, built without __init__'s checks (the hot path of `x * 2`)."""
        out = Tensor.__new__(Tensor)
        out.data, out.grad, out._ctx, out._retain_grad, out.name = data, None, None, False, None
        out.requires_grad, out._id = False, next(_creation_counter)
        return out

    def _lift(self, other: Any) -> Tensor:
        """A Python scalar or numpy array joins an op as a constant of this tensor's dtype (masks stay bool)."""
        kind, kind_of = self.data.dtype.kind, type(other)
        if kind == "f" and (
            kind_of is float or kind_of is int or (kind_of is np.ndarray and other.dtype.kind != "b")
        ):  # `x * 0.5`, `x - target`: the hot paths
            return Tensor._constant(np.asarray(other, dtype=self.data.dtype))
        if isinstance(other, Tensor):
            return other
        is_mask = isinstance(other, bool | np.bool_) or (
            isinstance(other, np.ndarray) and other.dtype.kind == "b"
        )
        if kind == "f" and not is_mask:
            return Tensor._constant(np.asarray(other, dtype=self.data.dtype))
        return Tensor(other)

    @property
    def op(self) -> str | None:
        """The name of the op that made this tensor (`"mul"`, `"linear"`, ...); None for a leaf."""
        return None if self._ctx is None else self._ctx.name

    @property
    def grad_fn(self) -> Function | None:
        """The op (a `Function` instance) that made this tensor, as PyTorch calls it; None for a leaf."""
        return self._ctx

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The inputs of the op that made this tensor (empty for leaves and after the graph is released)."""
        return () if self._ctx is None else self._ctx.inputs

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    # ------------------------------------------------------------------ backward pass
    def backward(
        self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Fill `.grad` of every leaf that requires grad with d(self)/d(leaf), added to any earlier `.grad`.

        The graph's saved intermediates are released afterwards (a training loop can't leak through them)
        unless `retain_graph=True`, which allows calling backward through the same graph again.
        `create_graph=True` records the backward pass itself: the `.grad` Tensors it leaves are
        differentiable, for second derivatives (it retains the graph unless told otherwise).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad, so there is nothing to differentiate. "
                "Create the inputs you want gradients for with requires_grad=True, and don't compute "
                "the output under no_grad()."
            )
        if gradient is None and not create_graph and self.data.size == 1:  # loss.backward(), inline
            seed = np.array(1, dtype=self.data.dtype).reshape(self.data.shape)  # np.ones costs 4x more
        else:
            seed = _seed(self, gradient, "backward()", create_graph)
        keep = create_graph if retain_graph is None else retain_graph
        if create_graph:
            _backprop([self], [seed], keep, True)
        else:
            _backprop_to_leaves(self, seed, keep)  # positional: loss.backward() is every step's call

    def _accumulate_grad(self, g: Any, handed_out: set[int]) -> None:
        if type(g) is Tensor or type(self.grad) is Tensor:  # create_graph: a Tensor that remembers how
            self.grad = g if self.grad is None else g + self.grad  # it was computed
        else:
            self.grad = fast.accumulate(self.grad, g, self.data.dtype, handed_out)

    # ------------------------------------------------------------------ conveniences
    def zero_grad(self) -> None:
        self.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, this one is {self.data.dtype}"
            )
        if self._ctx is not None and not requires_grad:
            raise RuntimeError(
                "requires_grad_(False) only works on leaves; use .detach() on a computed tensor"
            )
        if requires_grad and self._ctx is not None and not self.requires_grad:
            self._ctx = None  # computed from constants (e.g. `Tensor(w) * 0.01`): it becomes a leaf to train
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> Tensor:
        """Keep this intermediate tensor's gradient in `.grad` after backward (leaves always keep theirs)."""
        self._retain_grad = True
        return self

    def detach(self) -> Tensor:
        """The same data, cut off from the graph: no gradient flows back through it."""
        return Tensor(self.data, dtype=self.data.dtype)

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(
                f"item(): only a one-element tensor converts to a Python number, shape {self.shape}"
            )
        return self.data.item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, this one is {self.data.dtype}")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"bool(): the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.data.item())

    def numpy(self) -> np.ndarray:
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor(self.data.argmax(axis=axis, keepdims=keepdims))

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor(self.data.argmin(axis=axis, keepdims=keepdims))

    def any(self, axis: int | None = None) -> Tensor:
        return Tensor(self.data.any(axis=axis))

    def all(self, axis: int | None = None) -> Tensor:
        return Tensor(self.data.all(axis=axis))

    # Comparisons and logic give boolean tensors, outside the graph: a step has no useful derivative.
    def _no_grad(self, ufunc: np.ufunc, other: Any, symbol: str) -> Tensor:
        b = other.data if isinstance(other, Tensor) else other
        try:
            return Tensor._constant(np.asarray(ufunc(self.data, b)))
        except ValueError:
            raise ValueError(
                f"{symbol}: shapes {self.shape} and {np.shape(b)} cannot be broadcast together"
            ) from None

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._no_grad(np.equal, other, "==")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._no_grad(np.not_equal, other, "!=")

    def __lt__(self, other: Any) -> Tensor:
        return self._no_grad(np.less, other, "<")

    def __le__(self, other: Any) -> Tensor:
        return self._no_grad(np.less_equal, other, "<=")

    def __gt__(self, other: Any) -> Tensor:
        return self._no_grad(np.greater, other, ">")

    def __ge__(self, other: Any) -> Tensor:
        return self._no_grad(np.greater_equal, other, ">=")

    def __and__(self, other: Any) -> Tensor:
        return self._no_grad(np.bitwise_and, other, "&")

    def __or__(self, other: Any) -> Tensor:
        return self._no_grad(np.bitwise_or, other, "|")

    def __xor__(self, other: Any) -> Tensor:
        return self._no_grad(np.bitwise_xor, other, "^")

    def __invert__(self) -> Tensor:
        return Tensor._constant(np.invert(self.data))

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def isnan(self) -> Tensor:
        return Tensor._constant(np.isnan(self.data))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2, prefix="Tensor(")
        extras = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self.requires_grad:
            extras.append("requires_grad=True")
        if self._ctx is not None:
            extras.append(f"op={self.op}")
        return f"Tensor({body}, {', '.join(extras)})"

    # ------------------------------------------------------------------ constructors
    @staticmethod
    def zeros(*shape: int, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
        return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad, dtype=dtype)

    @staticmethod
    def ones(*shape: int, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
        return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad, dtype=dtype)


# ---------------------------------------------------------------------- the backward pass
def _seed(output: Tensor, gradient: Any, where: str, create_graph: bool) -> Any:
    """The gradient backward starts from: 1 for a scalar output, else the caller's `gradient`."""
    if gradient is None:
        if output.data.size != 1:
            raise RuntimeError(
                f"{where}: output of shape {output.data.shape} is not a scalar; reduce it first "
                "(e.g. .sum() or .mean()) or pass gradient= with the same shape"
            )
        seed = np.array(1, dtype=output.data.dtype).reshape(output.data.shape)  # np.ones costs 4x more
    elif isinstance(gradient, Tensor) and create_graph:
        seed = gradient
    else:
        seed = np.array(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=output.data.dtype)
    if seed.shape != output.data.shape:
        raise ValueError(f"{where}: gradient shape {seed.shape} must equal output shape {output.data.shape}")
    return Tensor(seed, dtype=output.data.dtype) if create_graph and not isinstance(seed, Tensor) else seed


def _backprop_to_leaves(root: Tensor, seed: np.ndarray, retain_graph: bool) -> None:
    """The chain rule from `root`, seeded with `seed`, into the `.grad` of the leaves: `loss.backward()`.

    Newest node first: every consumer of a node was created after it, so by the time a node comes
    off the heap all the gradient flowing into it has been summed (PyTorch orders its engine the same
    way). Only nodes that receive a gradient are visited: no separate topological sort. `_backprop`
    below is the same walk with the options `grad()`, `create_graph` and the tracer need.
    """
    grads: dict[Tensor, Any] = {root: seed}
    heap: list[tuple[int, Tensor]] = [(-root._id, root)]
    handed_out: set[int] = set()  # memory already stored in some .grad: never share it between tensors
    while heap:
        node = heappop(heap)[1]
        g = grads.pop(node)
        fn = node._ctx
        if fn is None:  # a leaf: all its gradient has arrived
            if type(node.grad) is Tensor:  # left by an earlier backward(create_graph=True)
                node._accumulate_grad(g, handed_out)
            else:
                node.grad = fast.accumulate(node.grad, g, node.data.dtype, handed_out)
            continue
        inputs, saved = fn.inputs, fn.saved
        if not inputs:
            raise _released(fn)
        if node._retain_grad:
            node._accumulate_grad(g, handed_out)
        n = len(saved)  # spelled out for one to three inputs: a call with *saved costs 3x more
        if n == 1:
            input_grads = fn.backward(g, node.data, saved[0])
        elif n == 2:
            input_grads = fn.backward(g, node.data, saved[0], saved[1])
        elif n == 3:
            input_grads = fn.backward(g, node.data, saved[0], saved[1], saved[2])
        else:
            input_grads = fn.backward(g, node.data, *saved)
        if type(input_grads) is not tuple:
            input_grads = tuple(input_grads) if isinstance(input_grads, list) else (input_grads,)
        for parent, parent_grad in zip(inputs, input_grads):
            if parent_grad is None or not parent.requires_grad:  # constants get no gradient
                continue
            if parent_grad.shape != parent.data.shape:
                raise _misshapen(fn, parent_grad, parent)
            if parent in grads:  # reached along a second path: add (never in place)
                grads[parent] = grads[parent] + parent_grad
            else:
                grads[parent] = parent_grad
                heappush(heap, (-parent._id, parent))
        if not retain_graph:
            fn.inputs = fn.saved = ()


def _released(fn: Function) -> RuntimeError:
    return RuntimeError(
        f"backward(): the graph through '{fn.name}' was already released by an earlier "
        "backward(). Pass retain_graph=True to the first backward() to back-propagate "
        "through it twice."
    )


def _misshapen(fn: Function, grad: Any, parent: Tensor) -> RuntimeError:
    return RuntimeError(
        f"backward of '{fn.name}' returned a gradient of shape {grad.shape} "
        f"for an input of shape {parent.data.shape}: that op's VJP is wrong"
    )


def _backprop(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    wanted: Sequence[Tensor] | None = None,
    observer: Callable[[Tensor, Any, tuple[Any, ...]], None] | None = None,
) -> dict[Tensor, Any]:
    """`_backprop_to_leaves` from several roots (each seeded with its gradient), with options.

    Without `wanted`, gradients land in the `.grad` of leaves (and of tensors that `retain_grad()`);
    with it, the gradients of exactly those tensors are returned instead and no `.grad` is touched.
    `create_graph` runs each VJP on Tensors, recorded (`_vjp_graph`), so the gradients can be
    differentiated again. `observer(node, g, input_grads)`, if given, is called for every node in the
    order it is visited, with the summed gradient `g` that reached it and what its VJP handed each
    input (`()` for a leaf), before the graph is released: `tinygrad_mnist.viz.trace_backward` records
    a backward pass with it.
    """
    grads: dict[Tensor, Any] = {}
    heap: list[tuple[int, Tensor]] = []
    for root, seed in zip(roots, seeds):
        if root in grads:
            grads[root] = grads[root] + seed
        else:
            grads[root] = seed
            heappush(heap, (-root._id, root))
    targets = None if wanted is None else set(wanted)
    found: dict[Tensor, Any] = {}
    handed_out: set[int] = set()
    while heap:
        node = heappop(heap)[1]
        g = grads.pop(node)
        fn = node._ctx
        if targets is not None and node in targets:
            found[node] = g
            if len(found) == len(targets):
                break
        if fn is None:  # a leaf
            if observer is not None:
                observer(node, g, ())
            if targets is None:
                node._accumulate_grad(g, handed_out)
            continue
        if not fn.inputs:
            raise _released(fn)
        if node._retain_grad and targets is None:
            node._accumulate_grad(g, handed_out)
        if create_graph:
            input_grads = _vjp_graph(fn, g, node)
        else:
            input_grads = fn.backward(g, node.data, *fn.saved)
        if type(input_grads) is not tuple:
            input_grads = tuple(input_grads) if isinstance(input_grads, list) else (input_grads,)
        if observer is not None:
            observer(node, g, input_grads)
        for parent, parent_grad in zip(fn.inputs, input_grads):
            if parent_grad is None or not parent.requires_grad:  # constants get no gradient
                continue
            if parent_grad.shape != parent.data.shape:
                raise _misshapen(fn, parent_grad, parent)
            if create_graph and type(parent_grad) is not Tensor:
                parent_grad = Tensor._constant(np.asarray(parent_grad))
            if parent in grads:  # reached along a second path: add (never in place)
                grads[parent] = grads[parent] + parent_grad
            else:
                grads[parent] = parent_grad
                heappush(heap, (-parent._id, parent))
        if not retain_graph:
            fn.inputs = fn.saved = ()
    return found


def _vjp_graph(fn: Function, g: Tensor, out: Tensor) -> Sequence[Any]:
    """An op's VJP on Tensors, recorded: the backward of a primitive run on its input Tensors, or, for a
    fused op whose backward is numpy-only, the gradient of its `reference` composition."""
    with enable_grad():
        if fn.reference is None:
            try:
                return fn.backward(g, out, *fn.inputs)
            except TypeError as error:
                raise TypeError(
                    f"backward(create_graph=True): the backward of '{fn.name}' does not work on Tensors "
                    f"({error}); write it with Tensor operations (or give the op a `reference`) to "
                    "differentiate it twice"
                ) from error
        needed = [t for t, n in zip(fn.inputs, fn.needs_input_grad) if n]
        grads = iter(grad(fn.reference(*fn.inputs), needed, g, create_graph=True, allow_unused=True))
        return tuple(next(grads) if n else None for n in fn.needs_input_grad)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of `outputs` with respect to `inputs`, returned instead of stored in `.grad`
    (like `torch.autograd.grad`). With `create_graph=True` they are differentiable: `grad` of a `grad`
    gives second derivatives. Returns one Tensor per input (None for an unused one if `allow_unused`).
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor | np.ndarray):
        grad_outputs = [grad_outputs] * len(outs) if len(outs) == 1 or grad_outputs is None else None
    if grad_outputs is None or len(grad_outputs) != len(outs):
        raise ValueError(f"grad: give one grad_output per output ({len(outs)} outputs)")
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError(f"grad: input {i} does not require grad, so it has no gradient")
    for i, t in enumerate(outs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: output {i} does not require grad (nothing connects it to the inputs)")
    seeds = [_seed(o, go, "grad", create_graph) for o, go in zip(outs, grad_outputs)]
    keep = create_graph if retain_graph is None else retain_graph
    found = _backprop(outs, seeds, retain_graph=keep, create_graph=create_graph, wanted=ins)
    result = []
    for i, t in enumerate(ins):
        if t not in found:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
                    "pass allow_unused=True to get None for it"
                )
            result.append(None)
            continue
        g = found[t]
        result.append(g if isinstance(g, Tensor) else Tensor(g, dtype=t.dtype))
    return tuple(result)


def topological_order(roots: Iterable[Tensor] | Tensor, needs_grad_only: bool = False) -> list[Tensor]:
    """Every tensor that produced `roots`, inputs before outputs (for drawing and inspecting a graph).

    A tensor is always created after its inputs, so sorting the reachable tensors by creation number is
    a topological order: no recursion (a chain of 100,000 ops is fine) and no per-node Python bookkeeping
    beyond one set. `needs_grad_only` skips constants and data that no gradient flows to.
    """
    stack = [roots] if isinstance(roots, Tensor) else list(roots)
    seen = set(stack)
    while stack:
        for parent in stack.pop().parents:
            if parent not in seen and (parent.requires_grad or not needs_grad_only):
                seen.add(parent)
                stack.append(parent)
    return sorted(seen, key=_creation_number)
