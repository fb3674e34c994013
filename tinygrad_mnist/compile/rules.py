"""Replay rules: for each supported `Function`, the numpy lines of its forward and of its backward.

Each rule emits exactly the arithmetic of its op's `forward`/`backward` (same ufuncs, same order,
same operand layouts), only into preallocated buffers with `out=`, so a replayed step gives the very
numbers the engine gives. An op with no rule here is refused at capture (`CompileError`), never
approximated. A rule gets the builder, the recorded op `fn`, the output tensor `node` (its shape and
dtype as seen during capture) and the names of its inputs; a backward rule also gets the names of
the upstream gradient `g` and of the output, and returns one gradient name (or None) per input.
In the fast mode (`Builder.exact` False) some rules take shortcuts that change rounding only
(`np.dot`, a BLAS dot for the squared error, label indexing instead of a one-hot, writing in place);
each says so where it branches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import fused, ops
from tinygrad_mnist.compile.builder import Builder, CompileError

Forward = Callable[[Builder, Any, Any, list[str]], str]
Backward = Callable[[Builder, Any, Any, str, str, list[str]], list[str | None]]
FORWARD: dict[type, Forward] = {}
BACKWARD: dict[type, Backward] = {}


def rule(op: type) -> Callable[[type], type]:
    """Register a class's `forward` and `backward` static methods as the replay rule of `op`."""

    def register(cls: type) -> type:
        FORWARD[op], BACKWARD[op] = cls.forward, cls.backward
        return cls

    return register


def _times(b: Builder, g: str, scale: float) -> str:
    """`g * scale`: worked out at capture when `g` is fixed (the loss's seed 1, or the fast mode's
    `lr_times` scalar), else every step."""
    scaled = b.scaled(g, scale)
    return f"{g} * {scale!r}" if scaled is None else scaled


def _matmul(b: Builder, out: np.ndarray) -> str:
    """The matrix product's function: the engine's `np.matmul`, or in the fast mode `np.dot` for a
    small product, the same BLAS product with less of numpy's overhead (1.2 against 3.1 µs for
    24x10); `np.dot` zeroes its output first, which a big one (over 4,096 numbers) pays for."""
    return "np.dot" if not b.exact and out.size <= 4096 else "np.matmul"


def _ones(b: Builder, n: int, dtype: Any) -> str:
    """A constant vector of n ones: the fast mode sums along an axis as a BLAS product with it."""
    name = f"ONES{n}" if np.dtype(dtype) == np.float32 else f"ONES{n}_{np.dtype(dtype).name}"
    if name not in b.namespace:
        b.bind(np.ones(n, dtype), name, "constants", f"np.ones({n})")
    return name


# ---------------------------------------------------------------------- fused ops
@rule(fused.Linear)
class _Linear:
    @staticmethod
    def forward(b, fn, node, ins):
        x, w, *bias = ins
        if node.data.ndim != 2 or fn.inputs[0].data.ndim != 2:
            raise CompileError(f"linear: only 2-D (batch, features) inputs replay, got {fn.inputs[0].shape}")
        out = b.buffer(node.data)
        w_t = b.view(w, "{}.T", w + "_T")
        b.line(f"{_matmul(b, node.data)}({x}, {w_t}, out={out})")
        if bias:
            b.line(f"np.add({out}, {bias[0]}, out={out})")
        return out

    @staticmethod
    def backward(b, fn, node, g, out, ins):
        x, w, *bias = ins
        needs = fn.needs_input_grad
        gx = gw = gb = None
        if needs[0]:
            gx = b.buffer(fn.inputs[0].data, "dx")
            b.line(f"{_matmul(b, fn.inputs[0].data)}({g}, {w}, out={gx})")
            b.scratch.add(gx)  # made for one node: its consumer's backward may overwrite it
        if needs[1]:
            gw = b.buffer(fn.inputs[1].data, "d" + w)
            g_t = b.view(g, "{}.T", g + "_T")
            if node.data.shape[0] == 1 and b.exact:  # fast.matmul_2d: one sample's gradient is an outer
                line = f"np.multiply({g_t}, {x}, out={gw})"  # product (np.dot below: the same numbers)
            else:
                line = f"{_matmul(b, fn.inputs[1].data)}({g_t}, {x}, out={gw})"
            if b.exact:
                b.line(line)
            else:  # the update may add g.T @ x into the weight in one BLAS call: then gw is never written
                b.defer(gw, line)
                b.products[gw] = (g, x, fn.inputs[0].data.dtype)
        if bias and needs[2]:
            if node.data.shape[0] == 1:  # fast.sum_rows: one row is its own sum
                gb = b.view(g, "{}[0]", "d" + bias[0])
            else:
                gb = b.buffer(fn.inputs[2].data, "d" + bias[0])
                if b.exact:
                    b.line(f"np.add.reduce({g}, axis=0, out={gb})")  # np.sum without its Python wrapper
                else:  # the column sums as a BLAS product with ones: 2.4 against 9.8 µs for 128x128
                    ones = _ones(b, node.data.shape[0], node.data.dtype)
                    b.line(f"np.dot({ones}, {g}, out={gb})  # sum over the batch")
        return [gx, gw, gb][: len(ins)]


@rule(fused.CrossEntropy)
class _CrossEntropy:
    @staticmethod
    def forward(b, fn, node, ins):
        logits, labels = ins
        if fn.labels is None:
            raise CompileError("cross_entropy: only integer class labels replay (not probability targets)")
        z = fn.inputs[0].data
        n, classes = z.shape
        b.memo(fn)["rows"] = rows = b.bind(np.arange(n), "rows", "constants", f"np.arange({n})")
        top, total = b.buffer(z[:, :1], "zmax"), b.buffer(z[:, :1], "zsum")
        shifted, e = b.buffer(z, "shifted"), b.buffer(z, "e")
        log_probs = b.buffer(z, "log_probs")
        b.memo(fn)["log_probs"] = log_probs
        loss = b.fresh("loss")
        if b.exact or labels != "y":  # the fast mode leaves y to the program's own check of the labels
            b.line(f"if {labels}.min() < 0 or {labels}.max() >= {classes}: raise ValueError(")
            b.line(
                f"    f'cross_entropy: class indices must be in [0, {classes}), got {{{labels}.min()}}..{{{labels}.max()}}')"
            )
        b.line(f"np.maximum.reduce({logits}, axis=1, keepdims=True, out={top})")  # np.max, unwrapped
        b.line(f"np.subtract({logits}, {top}, out={shifted})")
        b.line(f"np.exp({shifted}, out={e})")
        if b.exact or n == 1:
            b.line(f"np.add.reduce({e}, axis=1, keepdims=True, out={total})")
        else:  # each row's sum as a BLAS product with ones: 1 against 6 µs for 128x10, 2 against 16 for 512
            total_flat = b.view(total, "{}.reshape(-1)", total + "_flat")
            b.line(f"np.dot({e}, {_ones(b, classes, z.dtype)}, out={total_flat})  # sum over classes")
        b.line(f"np.log({total}, out={total})")
        b.line(f"np.subtract({shifted}, {total}, out={log_probs})")
        per_row = f"(-{log_probs}[{rows}, {labels}])"
        if not b.exact and n > 1:  # one flat index per label, made once, for the loss and the gradient
            flat_index = b.memo(fn)["flat"] = b.buffer(np.empty(n, np.intp), "label_at", dtype=np.intp)
            offsets = b.bind(np.arange(n) * classes, "row_starts", "constants", f"np.arange({n}) * {classes}")
            b.line(f"np.add({labels}, {offsets}, out={flat_index})  # row * {classes} + label")
            flat = b.view(log_probs, "{}.reshape(-1)", log_probs + "_flat")
            per_row = f"(-np.take({flat}, {flat_index}))"
            if fn.reduction != "none":  # picked into a buffer, summed by a BLAS dot: 3 against 6 µs alone
                picked = b.buffer(np.empty(n, z.dtype), "picked", dtype=z.dtype)
                minus_scale = b.constant(z.dtype.type(-fn.scale))
                b.line(
                    f"np.take({flat}, {flat_index}, out={picked})  # each row's log-probability at its label"
                )
                b.line(
                    f"{loss} = np.asarray(np.dot({_ones(b, n, z.dtype)}, {picked}) * {minus_scale}, dtype=np.{z.dtype.name})"
                )
                return loss
        dtype = z.dtype.name
        if fn.reduction == "none":
            b.line(f"{loss} = np.asarray({per_row}, dtype=np.{dtype})")
        else:
            scale = b.constant(z.dtype.type(fn.scale))
            b.line(f"{loss} = np.asarray({per_row}.sum() * {scale}, dtype=np.{dtype})")
        return loss

    @staticmethod
    def backward(b, fn, node, g, out, ins):
        logits, labels = ins
        grad = b.buffer(fn.inputs[0].data, "dlogits")
        b.line(f"np.exp({b.memo(fn)['log_probs']}, out={grad})")
        if "flat" in b.memo(fn):
            flat = b.view(grad, "{}.reshape(-1)", grad + "_flat")
            b.line(f"{flat}[{b.memo(fn)['flat']}] -= 1  # softmax - onehot")
        else:
            b.line(f"{grad}[{b.memo(fn)['rows']}, {labels}] -= 1  # softmax - onehot")
        g_rows = f"{g}[:, None]" if fn.reduction == "none" else _times(b, g, fn.scale)
        b.line(f"np.multiply({grad}, {g_rows}, out={grad})")
        return [grad, None]


def _minus_one_at_labels(b: Builder, array: str, n: int) -> str:
    """`array[range(n), y] -= 1` (one-hot subtracted by indexing); one sample indexes by scalars,
    several times cheaper than numpy's fancy indexing."""
    if n == 1:
        return f"{array}[0, y[0]] -= 1"
    rows = b.bind(np.arange(n), "rows", "constants", f"np.arange({n})")
    return f"{array}[{rows}, y] -= 1"


def _mse_one_hot_fast(b: Builder, fn: Any, x: str, d: str) -> str:
    """Fast mode, squared error against `one_hot(y)`: `d = x - onehot` as a copy with 1 taken off at
    each label (no one-hot array), and `sum(d * d)` as one BLAS dot product (another summation
    order than numpy's pairwise sum: the loss differs in the last bits)."""
    n, size = fn.inputs[0].data.shape[0], fn.inputs[0].data.size
    loss = b.fresh("loss")
    b.line(f"np.copyto({d}, {x}); {_minus_one_at_labels(b, d, n)}  # {x} - one_hot(y)")
    mean = "" if fn.reduction == "sum" else f" / {size}"
    b.line(f"{loss} = np.vdot({d}, {d}){mean}")
    return loss


@rule(fused.MseLoss)
class _MseLoss:
    @staticmethod
    def forward(b, fn, node, ins):
        x, t = ins
        if fn.needs_input_grad[1]:
            raise CompileError("mse_loss: a target that requires grad does not replay")
        d = b.memo(fn)["d"] = b.buffer(fn.inputs[0].data, "diff")
        if not b.exact and t == b.one_hot_of_y and fn.reduction != "none":
            return _mse_one_hot_fast(b, fn, x, d)
        squared = b.buffer(fn.inputs[0].data, "squared")
        b.line(f"np.subtract({x}, {t}, out={d})")
        b.line(f"np.multiply({d}, {d}, out={squared})")
        if fn.reduction == "none":
            return squared
        loss = b.fresh("loss")
        reduce = "sum" if fn.reduction == "sum" else "mean"
        b.line(f"{loss} = np.asarray({squared}.{reduce}())")
        return loss

    @staticmethod
    def backward(b, fn, node, g, out, ins):
        gd = b.buffer(fn.inputs[0].data, "dout")
        b.line(f"np.multiply({b.memo(fn)['d']}, {_times(b, g, fn.scale)}, out={gd})")
        return [gd, None]


# ---------------------------------------------------------------------- elementwise
def _unary(ufunc: str) -> Forward:
    def forward(b, fn, node, ins):
        out = b.buffer(node.data)
        b.line(f"np.{ufunc}({ins[0]}, out={out})")
        return out

    return forward


def _activation_out(b: Builder, fn: Any, node: Any, ins: list[str], hint: str) -> str:
    """Where an activation writes: a new buffer, or in the fast mode its input's own buffer when that
    is a `linear` output nothing else reads (its backward needs x and W, not its output): fewer
    buffers, so more of the step stays in cache."""
    source = fn.inputs[0]
    if not b.exact and type(source._ctx) is fused.Linear and b.consumers.get(id(source)) == 1:
        if id(source) not in b.protected and ins[0] in b.namespace:
            return ins[0]
    return b.buffer(node.data, hint)


def _gradient_out(b: Builder, node: Any, g: str, hint: str) -> str:
    """Where an activation's backward writes: a new buffer, or in the fast mode the incoming gradient
    itself when it is a linear layer's input gradient made for this node alone (`Builder.scratch`)."""
    return g if not b.exact and g in b.scratch else b.buffer(node.data, hint)


@rule(ops.Sigmoid)
class _Sigmoid:
    @staticmethod
    def forward(b, fn, node, ins):  # 1 / (1 + exp(min(-x, limit))), step by step in one buffer
        out, one = _activation_out(b, fn, node, ins, "s"), b.scalar(1, node.data.dtype, "ONE")
        limit = ops.EXP_LIMIT.get(node.data.dtype)  # the engine's cap on the exponent
        if limit is None:
            raise CompileError(
                f"sigmoid: no replay rule for dtype {node.data.dtype} (float32 and float64 only)"
            )
        cap = b.scalar(float(limit), node.data.dtype, "EXP_LIMIT")
        if not b.exact:  # e / (1 + e) with e = exp(min(x, cap)): one call fewer, the same to rounding
            one_plus = b.memo(fn)["one_plus"] = b.buffer(node.data, "ope")
            b.line(f"np.minimum({ins[0]}, {cap}, out={out}); np.exp({out}, out={out})")
            b.line(f"np.add({one}, {out}, out={one_plus}); np.divide({out}, {one_plus}, out={out})")
            return out
        b.line(f"np.negative({ins[0]}, out={out}); np.minimum({out}, {cap}, out={out})")
        b.line(f"np.exp({out}, out={out}); np.add({one}, {out}, out={out})")
        b.line(f"np.divide({one}, {out}, out={out})")
        return out

    @staticmethod
    def backward(b, fn, node, g, out, ins):  # g * out * (1 - out)
        grad = _gradient_out(b, node, g, "ds")
        if "one_plus" in b.memo(fn):  # fast mode: 1 - out is 1 / (1 + e), so out * (1 - out) = out / (1 + e)
            b.line(
                f"np.multiply({g}, {out}, out={grad}); np.divide({grad}, {b.memo(fn)['one_plus']}, out={grad})"
            )
            return [grad]
        one_minus, one = b.buffer(node.data, "u"), b.scalar(1, node.data.dtype, "ONE")
        b.line(f"np.multiply({g}, {out}, out={grad}); np.subtract({one}, {out}, out={one_minus})")
        b.line(f"np.multiply({grad}, {one_minus}, out={grad})")
        return [grad]


@rule(ops.Tanh)
class _Tanh:
    forward = staticmethod(_unary("tanh"))

    @staticmethod
    def backward(b, fn, node, g, out, ins):  # g * (1 - out * out)
        grad, slope = b.buffer(node.data, "dt"), b.buffer(node.data, "u")
        one = b.scalar(1, node.data.dtype, "ONE")
        b.line(f"np.multiply({out}, {out}, out={slope}); np.subtract({one}, {slope}, out={slope})")
        b.line(f"np.multiply({g}, {slope}, out={grad})")
        return [grad]


@rule(ops.Relu)
class _Relu:
    @staticmethod
    def forward(b, fn, node, ins):
        out, zero = _activation_out(b, fn, node, ins, "r"), b.scalar(0, node.data.dtype, "ZERO")
        b.line(f"np.maximum({ins[0]}, {zero}, out={out})")
        return out

    @staticmethod
    def backward(b, fn, node, g, out, ins):  # g * (out > 0)
        grad, mask = _gradient_out(b, node, g, "dr"), b.buffer(node.data, "mask", dtype=bool)
        zero = b.scalar(0, node.data.dtype, "ZERO")
        b.line(f"np.greater({out}, {zero}, out={mask}); np.multiply({g}, {mask}, out={grad})")
        return [grad]


def _binary(ufunc: str) -> Forward:
    def forward(b, fn, node, ins):
        out = b.buffer(node.data)
        b.line(f"np.{ufunc}({ins[0]}, {ins[1]}, out={out})")
        return out

    return forward


def _to_input(b: Builder, fn: Any, i: int, expression: str, node: Any) -> str:
    """`unbroadcast(expression, input_shape)` into a buffer: a plain copy-free write when shapes agree."""
    like = fn.inputs[i].data
    grad = b.buffer(like, "d")
    if like.shape == node.data.shape:
        b.line(f"np.{expression.format(out=grad)}")
    else:  # a broadcast input: numpy computes the product, the engine's own unbroadcast sums it down
        b.namespace.setdefault("unbroadcast", ops.unbroadcast)
        b.line(f"np.copyto({grad}, unbroadcast(np.{expression.format(out='None')}, {like.shape}))")
    return grad


@rule(ops.Add)
class _Add:
    forward = staticmethod(_binary("add"))

    @staticmethod
    def backward(b, fn, node, g, out, ins):
        return [_to_input(b, fn, i, f"positive({g}, out={{out}})", node) if need else None
                for i, need in enumerate(fn.needs_input_grad)]  # fmt: skip


@rule(ops.Sub)
class _Sub:
    forward = staticmethod(_binary("subtract"))

    @staticmethod
    def backward(b, fn, node, g, out, ins):
        da, db = fn.needs_input_grad
        return [
            _to_input(b, fn, 0, f"positive({g}, out={{out}})", node) if da else None,
            _to_input(b, fn, 1, f"negative({g}, out={{out}})", node) if db else None,
        ]


@rule(ops.Mul)
class _Mul:
    forward = staticmethod(_binary("multiply"))

    @staticmethod
    def backward(b, fn, node, g, out, ins):
        da, db = fn.needs_input_grad
        if b.is_known(g) and node.data.ndim == 0:  # a scaled loss's gradient: known at capture
            return [b.scaled(g, b.value(ins[1 - i])) if need and b.is_constant(ins[1 - i])
                    else _to_input(b, fn, i, f"multiply({g}, {ins[1 - i]}, out={{out}})", node) if need else None
                    for i, need in enumerate((da, db))]  # fmt: skip
        return [
            _to_input(b, fn, 0, f"multiply({g}, {ins[1]}, out={{out}})", node) if da else None,
            _to_input(b, fn, 1, f"multiply({g}, {ins[0]}, out={{out}})", node) if db else None,
        ]


# ---------------------------------------------------------------------- movement and matrix product
@rule(ops.Reshape)
class _Reshape:
    @staticmethod
    def forward(b, fn, node, ins):
        if ins[0] in b.namespace:
            return b.view(ins[0], f"{{}}.reshape({node.data.shape})", "v")
        name = b.fresh("v")
        b.line(f"{name} = {ins[0]}.reshape({node.data.shape})")
        return name

    @staticmethod
    def backward(b, fn, node, g, out, ins):
        return [b.view(g, f"{{}}.reshape({fn.inputs[0].data.shape})", "dv")]


@rule(ops.MatMul)
class _MatMul:
    @staticmethod
    def forward(b, fn, node, ins):
        a, c = (t.data for t in fn.inputs)
        if a.ndim != 2 or c.ndim != 2:
            raise CompileError(f"matmul: only matrices replay, got shapes {a.shape} and {c.shape}")
        for t in (a, c):
            if t.flags.f_contiguous and not t.flags.c_contiguous:
                raise CompileError("matmul: a transposed (Fortran-ordered) operand does not replay")
        out = b.buffer(node.data)
        b.line(f"np.matmul({ins[0]}, {ins[1]}, out={out})")
        return out

    @staticmethod
    def backward(b, fn, node, g, out, ins):  # fast.matmul_like on C-ordered operands: matmul_2d
        a, c = (t.data for t in fn.inputs)
        da, dc = fn.needs_input_grad
        grads: list[str | None] = [None, None]
        if da:  # g @ c.T, an outer product when the inner size is 1
            grads[0] = b.buffer(a, "dm")
            op = "multiply" if node.data.shape[1] == 1 else "matmul"
            b.line(f"np.{op}({g}, {ins[1]}.T, out={grads[0]})")
        if dc:  # a.T @ g
            grads[1] = b.buffer(c, "dm")
            op = "multiply" if a.shape[0] == 1 else "matmul"
            b.line(f"np.{op}({ins[0]}.T, {g}, out={grads[1]})")
        return grads


def supported() -> list[str]:
    """Names of the ops that have a replay rule (for docs and error messages)."""
    return sorted(op.name for op in FORWARD)
