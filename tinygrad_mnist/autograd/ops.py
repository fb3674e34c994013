"""The primitive ops: each one's forward value and vector-Jacobian product (VJP), side by side.

Read one and you have read them all. `forward` gets numpy arrays; `backward(g, out, *inputs)` gets the
gradient of the output, the output and the inputs, and returns one gradient per input (None where none is needed). Backwards are
written with operators and with the ops of this file called as functions (`where`, `exp`, ...), which
work on numpy arrays and on Tensors alike: that is all `backward(create_graph=True)` needs to
differentiate a backward again. Everything else (var, softplus, stack, ...) is composed of these in
`composed.py`; the fused ops, one node for several of these for speed, are in `fused.py`.

Families: elementwise binary, elementwise unary, reductions, movement and indexing, matrix product.
Constants next to arrays are written as floats (`1.0 - out`): numpy 2 takes a Python int that meets a
float array through a slower conversion (a third more work for `1 / (1 + exp(-x))` on a small array).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import fast
from tinygrad_mnist.autograd.function import Function


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum `g` down to `shape`: the VJP of numpy broadcasting (an input used many times gets the sum)."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _broadcasting(name: str, ufunc: np.ufunc, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Apply a binary ufunc, turning numpy's broadcast error into one that names the op and both shapes."""
    try:
        return ufunc(a, b)
    except ValueError:
        raise ValueError(
            f"{name}: shapes {np.shape(a)} and {np.shape(b)} cannot be broadcast together"
        ) from None


def normalize_axis(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimension(s)")
    return tuple(int(a) % ndim for a in axes)


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """`shape` with the reduced `axes` kept as size 1 (what keepdims=True gives): the reduction's
    gradient reshaped to it broadcasts against the reduction's input."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def as_shape(args: tuple[Any, ...]) -> tuple[int, ...]:
    """`f(2, 3)`, `f((2, 3))` and numpy integers all name the shape (2, 3)."""
    if len(args) == 1 and not isinstance(args[0], int | np.integer):
        args = tuple(args[0])
    for n in args:
        if type(n) is not int:  # numpy integers (or a wrong type, which operator.index names)
            return tuple(map(operator.index, args))
    return args


# ---------------------------------------------------------------------- elementwise, two inputs
class Add(Function):
    formula, arg_names = "a + b", ("a", "b")

    def forward(self, a, b):
        return _broadcasting("add", np.add, a, b)

    def backward(self, g, out, a, b):
        da, db = self.needs_input_grad
        return (unbroadcast(g, a.shape) if da else None), (unbroadcast(g, b.shape) if db else None)


class Sub(Function):
    formula, arg_names = "a − b", ("a", "b")

    def forward(self, a, b):
        return _broadcasting("sub", np.subtract, a, b)

    def backward(self, g, out, a, b):
        da, db = self.needs_input_grad
        return (unbroadcast(g, a.shape) if da else None), (unbroadcast(-g, b.shape) if db else None)


class Mul(Function):
    formula, arg_names = "a · b", ("a", "b")

    def forward(self, a, b):
        return _broadcasting("mul", np.multiply, a, b)

    def backward(self, g, out, a, b):
        da, db = self.needs_input_grad
        return (unbroadcast(g * b, a.shape) if da else None), (unbroadcast(g * a, b.shape) if db else None)


class Div(Function):
    formula, arg_names = "a / b", ("a", "b")

    def forward(self, a, b):
        return _broadcasting("div", np.divide, a, b)

    def backward(self, g, out, a, b):  # d(a/b)/db = -a/b² = -out/b
        da, db = self.needs_input_grad
        return (unbroadcast(g / b, a.shape) if da else None), (
            unbroadcast(-g * out / b, b.shape) if db else None
        )


class Pow(Function):
    """a ** b for a tensor or scalar exponent. 0**0 = 1 is flat in a (gradient 0, not 0 · 0⁻¹)."""

    formula, arg_names = "aᵇ", ("a", "b")

    def forward(self, a, b):
        if type(b) is np.ndarray and b.ndim == 0 and b.item() >= 0:  # x ** 2 and the like: nothing
            return np.power(a, b)  # to warn about (and a 0-d exponent fits any shape)
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 = inf is the honest value
            return _broadcasting("pow", np.power, a, b)

    def backward(self, g, out, a, b):
        da, db = self.needs_input_grad
        if not db and type(g) is np.ndarray and b.ndim == 0:  # x ** p on arrays: the power rule
            p = b.item()  # without the masks below; x ** 0 is flat, even at 0 (as in PyTorch)
            ga = np.zeros_like(g) if p == 0 else g * (2.0 * a if p == 2 else p * a ** (p - 1))
            return unbroadcast(ga, a.shape), None
        ga = unbroadcast(where((b == 0) & (a == 0), 0, g * b * power(a, b - 1)), a.shape) if da else None
        gb = unbroadcast(g * out * log(where(a == 0, 1, a)), b.shape) if db else None  # 0 at a = 0
        return ga, gb


class Maximum(Function):
    """Elementwise max; where a == b the gradient is split evenly (the mean of both one-sided slopes)."""

    formula, arg_names = "max(a, b)", ("a", "b")

    def forward(self, a, b):
        return _broadcasting("maximum", np.maximum, a, b)

    def backward(self, g, out, a, b):
        da, db = self.needs_input_grad
        half = where(a == b, g * 0.5, 0)
        ga = unbroadcast(where(a > b, g, half), a.shape) if da else None
        gb = unbroadcast(where(b > a, g, half), b.shape) if db else None
        return ga, gb


class Where(Function):
    """`a` where `cond` holds, else `b`: the gradient goes to whichever was picked."""

    formula, arg_names = "cond ? a : b", ("cond", "a", "b")

    def forward(self, cond, a, b):
        return np.where(cond, a, b)

    def backward(self, g, out, cond, a, b):
        _, da, db = self.needs_input_grad
        ga = unbroadcast(where(cond, g, 0), a.shape) if da else None
        gb = unbroadcast(where(cond, 0, g), b.shape) if db else None
        return None, ga, gb


# ---------------------------------------------------------------------- elementwise, one input
class Neg(Function):
    formula = "−x"

    def forward(self, x):
        return -x

    def backward(self, g, out, x):
        return (-g,)


class Exp(Function):
    formula = "eˣ"

    def forward(self, x):
        return np.exp(x)

    def backward(self, g, out, x):  # (eˣ)' = eˣ: the output itself
        return (g * out,)


class Log(Function):
    formula = "ln x"

    def forward(self, x):
        return np.log(x)

    def backward(self, g, out, x):
        return (g / x,)


class Log1p(Function):
    formula = "ln(1 + x)"

    def forward(self, x):
        return np.log1p(x)

    def backward(self, g, out, x):
        return (g / (1.0 + x),)


class Sqrt(Function):
    formula = "√x"

    def forward(self, x):
        return np.sqrt(x)

    def backward(self, g, out, x):
        return (g / (2 * out),)


class Sin(Function):
    formula = "sin x"

    def forward(self, x):
        return np.sin(x)

    def backward(self, g, out, x):
        return (g * cos(x),)


class Cos(Function):
    formula = "cos x"

    def forward(self, x):
        return np.cos(x)

    def backward(self, g, out, x):
        return (-g * sin(x),)


#: where Sigmoid caps its exponent: a whole number under the log of the dtype's largest number
EXP_LIMIT = {np.dtype(np.float32): np.float32(88.0), np.dtype(np.float64): np.float64(709.0)}


class Tanh(Function):
    formula = "tanh x"

    def forward(self, x):
        return np.tanh(x)

    def backward(self, g, out, x):
        return (g * (1.0 - out * out),)


class Sigmoid(Function):
    """exp(-x) overflows below x = -88.7 in float32 (-709.8 in float64), so -x is capped first: below
    -88 σ is then about 6e-39 instead of the 0 of an overflow (the true value is smaller still), with
    no overflow to warn about (silencing the warning, `np.errstate`, costs more than the whole op).
    float16, whose cap would be 11, overflows to 0 instead, silenced."""

    formula = "σ(x) = 1 / (1 + e⁻ˣ)"

    def forward(self, x):
        limit = EXP_LIMIT.get(x.dtype)
        if limit is not None:
            return 1.0 / (1.0 + np.exp(np.minimum(-x, limit)))
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-x))

    def backward(self, g, out, x):  # σ' = σ(1 − σ)
        return (g * out * (1.0 - out),)


class Softplus(Function):
    """log(1 + eˣ), a smooth relu; numpy's logaddexp(0, x) computes it without overflow."""

    formula = "ln(1 + eˣ)"

    def forward(self, x):
        return np.logaddexp(0, x)

    def backward(self, g, out, x):  # its derivative is the sigmoid
        return (g * sigmoid(x),)


class Relu(Function):
    formula = "max(x, 0)"

    def forward(self, x):
        return np.maximum(x, 0)

    def backward(self, g, out, x):  # gradient 0 at the kink x == 0, as PyTorch does
        return (g * (out > 0.0),)


class Abs(Function):
    formula = "|x|"

    def forward(self, x):
        return np.abs(x)

    def backward(self, g, out, x):  # gradient 0 at x == 0, as PyTorch does
        return (g * sign(x),)


class Sign(Function):
    """−1, 0 or 1: flat everywhere it has a derivative, so the gradient is 0."""

    formula = "sign x"

    def forward(self, x):
        return np.sign(x)

    def backward(self, g, out, x):
        return (g * 0.0,)


class Clip(Function):
    """x limited to [min, max] (either may be None); gradient 1 inside, boundaries included, as PyTorch."""

    formula = "clip(x, {min}, {max})"

    def __init__(self, min: float | None = None, max: float | None = None):
        if min is None and max is None:
            raise ValueError("clip: give at least one of min and max")
        self.min, self.max = min, max

    def forward(self, x):
        return np.clip(x, self.min, self.max)

    def backward(self, g, out, x):  # where clipping left x unchanged, the slope is 1
        return (g * (out == x),)


class Erf(Function):
    """The error function (numpy has none, so math.erf per element: fine for activations, not fast)."""

    formula = "erf x"

    def forward(self, x):
        return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()

    def backward(self, g, out, x):  # erf'(x) = 2/√π · e^(−x²)
        return (g * (2 / math.sqrt(math.pi)) * exp(-(x * x)),)


class Cast(Function):
    """A change of dtype; the gradient goes back in the input's dtype."""

    formula = "x as {dtype}"

    def __init__(self, dtype: Any):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, g, out, x):
        return (cast(g, dtype=x.dtype),)


# ---------------------------------------------------------------------- reductions
class _Reduction(Function):
    """What the reductions share: `axis` (None, an int or several) and `keepdims` as numpy takes them,
    checked once against the input, and the way back: the gradient with the reduced axes kept as 1."""

    def __init__(self, axis: int | Sequence[int] | None = None, keepdims: bool = False):
        if axis is not None and type(axis) is not int:  # numpy integers, lists: a tuple numpy takes
            axis = operator.index(axis) if isinstance(axis, np.integer) else tuple(map(operator.index, axis))
        self.axis, self.keepdims = axis, keepdims

    def _checked(self, x: np.ndarray) -> int | tuple[int, ...] | None:
        """The axis, once it is known to exist in `x` (numpy's own error doesn't say which op)."""
        axis = self.axis
        if axis is not None and (type(axis) is not int or not -x.ndim <= axis < x.ndim):
            normalize_axis(axis, x.ndim)  # raises if out of range
        return axis

    def _kept(self, g: Any, x: Any) -> Any:
        """`g` reshaped with the reduced axes kept as size 1, so it broadcasts against the input `x`."""
        if self.keepdims:
            return g
        if self.axis is None:
            return g.reshape((1,) * x.ndim)
        return g.reshape(kept_shape(x.shape, normalize_axis(self.axis, x.ndim)))


class Sum(_Reduction):
    formula = "Σ x"

    def forward(self, x):
        return x.sum(axis=self._checked(x), keepdims=self.keepdims)

    def backward(self, g, out, x):  # every element gets the gradient of the total it went into
        return (expand(self._kept(g, x), x.shape),)


class Mean(_Reduction):
    formula = "Σ x / n"

    def forward(self, x):
        return x.mean(axis=self._checked(x), keepdims=self.keepdims)

    def backward(self, g, out, x):  # n = how many elements each mean averaged
        return (expand(self._kept(g, x) / (x.size // out.size if x.size else 1), x.shape),)


class Max(_Reduction):
    """Maximum along `axis`. Ties split the gradient evenly among the tied elements (like tinygrad); a
    NaN is the maximum, and its position gets the gradient (like PyTorch)."""

    formula = "max x"

    def forward(self, x):
        return x.max(axis=self._checked(x), keepdims=self.keepdims)

    def backward(self, g, out, x):
        top = self._kept(out, x)
        winners = x == top
        if not (top == top).all():  # a NaN maximum: the NaNs (x != x) are the winners
            winners = winners | ((x != x) & (top != top))
        share = winners.astype(x.dtype)
        return (self._kept(g, x) * share / share.sum(axis=self.axis, keepdims=True),)


class Prod(_Reduction):
    """Product along `axis`. Each element's gradient is the product of the others, zeros included."""

    formula = "Π x"

    def forward(self, x):
        return x.prod(axis=self._checked(x), keepdims=self.keepdims)

    def backward(self, g, out, x):
        g, out = self._kept(g, x), self._kept(out, x)
        if type(x) is np.ndarray and not (x == 0).any():  # first order: the product of the others is
            return (g * out / x,)  # out / x, fast and exact enough
        return (g * _product_of_others(x, normalize_axis(self.axis, x.ndim)),)  # zeros, or second order


def _product_of_others(x: Any, axes: tuple[int, ...]) -> Any:
    """For each element, the product of the other elements of its slice along `axes`: the slice is
    laid out n times as the rows of an n×n matrix, each row with its own element replaced by 1."""
    rest = [i for i in range(x.ndim) if i not in axes]
    order = tuple(rest + list(axes))
    moved = x.transpose(order)  # reduced axes last
    lead, n = moved.shape[: len(rest)], math.prod(moved.shape[len(rest) :])
    rows = where(np.eye(n, dtype=bool), 1, moved.reshape(lead + (1, n)))
    others = prod(rows, axis=-1).reshape(moved.shape)
    return others.transpose(tuple(np.argsort(order)))


# ---------------------------------------------------------------------- movement and indexing
class Reshape(Function):
    formula = "reshape to {shape}"

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x):
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} into {self.shape}"
            ) from None

    def backward(self, g, out, x):
        return (g.reshape(x.shape),)


class Transpose(Function):
    """Permute axes (all reversed when none are given), like numpy's `transpose`."""

    formula = "permute axes {axes}"

    def __init__(self, axes: tuple[int, ...] | None = None):
        self.axes = axes or None

    def forward(self, x):
        out = x.transpose(self.axes)  # numpy checks the axes; None reverses them all
        self.inverse = None  # `.T`: a reversal is its own inverse
        if self.axes is not None:
            position = [axis % x.ndim for axis in self.axes]  # negative axes counted from the end
            self.inverse = tuple(sorted(range(len(position)), key=position.__getitem__))
        return out

    def backward(self, g, out, x):
        return (g.transpose(self.inverse) if self.inverse is not None else g.transpose(),)


class BroadcastTo(Function):
    formula = "broadcast to {shape}"

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(shape)

    def forward(self, x):
        try:
            return fast.spread(x, self.shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {self.shape}") from None

    def backward(self, g, out, x):
        return (unbroadcast(g, x.shape),)


def expand(g: Any, shape: tuple[int, ...]) -> Any:
    """`g` broadcast to `shape`, the VJP of a sum: the recorded `broadcast_to` op on Tensors, and on
    arrays its forward called directly (the hot path of every reduction's backward)."""
    return fast.spread(g, shape) if type(g) is np.ndarray else BroadcastTo.apply(g, shape=shape)


_BASIC = (int, np.integer, slice, type(None), type(Ellipsis))


def _is_basic(index: Any) -> bool:
    """Ints, slices, None and ... pick each element at most once; anything else (lists, arrays, tuples
    inside the index, ranges, masks) is numpy's advanced indexing, which may pick one several times."""
    for part in index if type(index) is tuple else (index,):
        if not isinstance(part, _BASIC):
            return False
    return True


def put_back(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    """zeros(shape) with `g` added at `index` (IndexAdd's forward, called directly on arrays)."""
    grad = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        grad[index] = g
    else:
        np.add.at(grad, index, g)  # repeated indices must add up, not overwrite
    return grad


class Getitem(Function):
    """Slicing and integer-array indexing, e.g. `logp[np.arange(n), labels]` picks one class per row."""

    formula = "x[index]"

    def __init__(self, index: Any):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def backward(self, g, out, x):  # put each picked gradient back where it came from
        if type(g) is np.ndarray:  # on arrays: IndexAdd's forward, without making the op
            return (put_back(g, self.index, x.shape),)
        return (index_add(g, index=self.index, shape=x.shape),)


class IndexAdd(Function):
    """zeros(shape) with `g` added at `index`: getitem's VJP (repeated picks add up), and getitem is its."""

    formula = "zeros[index] += g"
    arg_names = ("g",)

    def __init__(self, index: Any, shape: tuple[int, ...]):
        self.index, self.shape = index, shape

    def forward(self, g):
        return put_back(g, self.index, self.shape)

    def backward(self, gg, out, g):
        return (getitem(gg, index=self.index),)


class Pad(Function):
    """Pad with a constant; `pad_width` is numpy's ((before, after), ...) per axis."""

    formula = "pad {pad_width}"

    def __init__(self, pad_width: tuple[tuple[int, int], ...], value: float = 0.0):
        self.pad_width, self.value = pad_width, value

    def forward(self, x):
        return np.pad(x, self.pad_width, constant_values=self.value)

    def backward(self, g, out, x):  # the gradient of the padding is dropped: cut out the middle
        middle = tuple(slice(before, before + n) for (before, _), n in zip(self.pad_width, x.shape))
        return (g[middle],)


class Cat(Function):
    """Join tensors along an existing axis; each gets its own slice of the gradient back."""

    formula = "concatenate along axis {axis}"
    arg_names = ()

    def __init__(self, axis: int = 0):
        self.axis = axis

    def forward(self, *xs):
        try:
            return np.concatenate(xs, axis=self.axis)
        except ValueError as error:
            raise ValueError(
                f"cat: shapes {[x.shape for x in xs]} can't be joined on axis {self.axis}: {error}"
            ) from None

    def backward(self, g, out, *xs):
        axis, start, grads = self.axis % g.ndim, 0, []
        for x in xs:
            grads.append(g[(slice(None),) * axis + (slice(start, start + x.shape[axis]),)])
            start += x.shape[axis]
        return tuple(grads)


# ---------------------------------------------------------------------- matrix product
def _swap(x: Any) -> Any:
    return x.swapaxes(-1, -2)


class MatMul(Function):
    """a @ b: matrices, batches of matrices (broadcast), or vectors, as numpy's matmul."""

    name, formula, arg_names = "matmul", "a · b", ("a", "b")

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned (inner sizes differ)")
        return a @ b

    def backward(self, g, out, a, b):
        da, db = self.needs_input_grad
        if type(g) is np.ndarray and a.ndim == 2 and b.ndim == 2:  # the common case, in the best layout
            return (fast.matmul_like(g, b.T, a) if da else None), (
                fast.matmul_like(a.T, g, b) if db else None
            )
        # 1-D operands are treated as a row (left) / column (right) matrix, as numpy does.
        a2 = a.reshape((1, a.shape[0])) if a.ndim == 1 else a
        b2 = b.reshape((b.shape[0], 1)) if b.ndim == 1 else b
        g2 = g.reshape(g.shape + (1,)) if b.ndim == 1 else g
        g2 = g2.reshape(g2.shape[:-2] + (1,) + g2.shape[-1:]) if a.ndim == 1 else g2
        ga = unbroadcast(g2 @ _swap(b2), a2.shape).reshape(a.shape) if da else None
        gb = unbroadcast(_swap(a2) @ g2, b2.shape).reshape(b.shape) if db else None
        return ga, gb


# ---------------------------------------------------------------------- the ops as functions
# Used by the backwards above (on arrays or Tensors alike) and by `composed.py`.
where, maximum, exp, log, sin, cos, sign = (
    Where.apply,
    Maximum.apply,
    Exp.apply,
    Log.apply,
    Sin.apply,
    Cos.apply,
    Sign.apply,
)
power, prod, cast, broadcast_to, getitem, index_add = (
    Pow.apply,
    Prod.apply,
    Cast.apply,
    BroadcastTo.apply,
    Getitem.apply,
    IndexAdd.apply,
)
sigmoid = Sigmoid.apply
