"""How to test each op of the engine (the registry test runs them all, first and second order).

Inputs keep a margin from each op's kinks (relu and abs at 0, ties in max, clip's bounds, log's domain
edge), where finite differences can't judge a derivative. Shapes are small: a full-Jacobian check of
a gradient costs (input size)² evaluations.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_mnist as tg
from tinygrad_mnist.autograd import composed, fused, ops
from tinygrad_mnist.testing import OpCase, arrays, away_from, distinct_arrays, inputs_of, positive

SMALL = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3)
MATRIX = hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=3)


def any_(shape=SMALL):
    return arrays(shape)


def nonzero(shape=SMALL, margin=0.3):
    return arrays(shape, away_from((0.0,), margin))


def pos(shape=SMALL):
    return arrays(shape, positive(0.3))


def pair(first, second_of_shape):
    """Two arrays of one shape: `second_of_shape(shape)` gives the second's strategy."""
    return SMALL.flatmap(lambda s: inputs_of(first(s), second_of_shape(s)))


def same_shape(*strategies_of_shape):
    return SMALL.flatmap(lambda s: inputs_of(*(f(s) for f in strategies_of_shape)))


def apart(shape):
    """a and b at least 0.1 apart everywhere, so max(a, b) is smooth: b = a + offset."""
    return inputs_of(arrays(shape), arrays(shape, away_from((0.0,), 0.1))).map(
        lambda ab: [ab[0], ab[0] + ab[1]]
    )


def matmul_shapes():
    return st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)).flatmap(
        lambda nkm: inputs_of(arrays((nkm[0], nkm[1])), arrays((nkm[1], nkm[2])))
    )


def linear_inputs():
    return st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)).flatmap(
        lambda nkm: inputs_of(arrays((nkm[0], nkm[1])), arrays((nkm[2], nkm[1])), arrays((nkm[2],)))
    )


def labels_for(logits):
    n, c = logits.shape
    return np.arange(n) % c


CASES = [
    # elementwise, two inputs (broadcasting is covered by tests/test_tensor_grad_properties.py)
    OpCase("add", lambda a, b: a + b, same_shape(any_, any_)),
    OpCase("sub", lambda a, b: a - b, same_shape(any_, any_)),
    OpCase("mul", lambda a, b: a * b, same_shape(any_, any_)),
    OpCase("div", lambda a, b: a / b, same_shape(any_, nonzero)),
    OpCase("pow", lambda a, b: a**b, same_shape(pos, any_)),
    OpCase("pow", lambda a: a**3 + a**0.5 * 0, inputs_of(pos())),
    OpCase("maximum", lambda a, b: tg.maximum(a, b), SMALL.flatmap(apart)),
    OpCase("where", lambda c, a, b: tg.where(c.data > 0, a, b), same_shape(any_, any_, any_), constant=(0,)),
    # elementwise, one input
    OpCase("neg", lambda x: -x, inputs_of(any_())),
    OpCase("exp", lambda x: x.exp(), inputs_of(any_())),
    OpCase("log", lambda x: x.log(), inputs_of(pos())),
    OpCase("log1p", lambda x: x.log1p(), inputs_of(pos())),
    OpCase("sqrt", lambda x: x.sqrt(), inputs_of(pos())),
    OpCase("sin", lambda x: x.sin(), inputs_of(any_())),
    OpCase("cos", lambda x: x.cos(), inputs_of(any_())),
    OpCase("tanh", lambda x: x.tanh(), inputs_of(any_())),
    OpCase("sigmoid", lambda x: x.sigmoid(), inputs_of(any_())),
    OpCase("softplus", lambda x: x.softplus(), inputs_of(any_())),
    OpCase("relu", lambda x: x.relu(), inputs_of(nonzero(margin=0.01))),
    OpCase("abs", lambda x: x.abs(), inputs_of(nonzero(margin=0.01))),
    OpCase("sign", lambda x: x.sign() * x, inputs_of(nonzero(margin=0.01))),
    OpCase("clip", lambda x: x.clip(-1.0, 1.0), inputs_of(arrays(SMALL, away_from((-1.0, 1.0), 0.01)))),
    OpCase("erf", lambda x: x.erf(), inputs_of(any_())),
    OpCase("cast", lambda x: x.astype(np.longdouble).astype(np.float64), inputs_of(any_())),
    # reductions
    OpCase("sum", lambda x: x.sum(axis=0) * x.sum(), inputs_of(any_())),
    OpCase("mean", lambda x: x.mean(axis=-1, keepdims=True) * x, inputs_of(any_())),
    OpCase("max", lambda x: x.max(axis=0), inputs_of(distinct_arrays(SMALL))),
    OpCase("prod", lambda x: x.prod(axis=-1), inputs_of(any_())),
    OpCase("prod", lambda x: x.prod(), inputs_of(arrays(SMALL, st.sampled_from([0.0, 0.0, 1.5, -2.0])))),
    # movement and indexing
    OpCase("reshape", lambda x: x.reshape(-1) * x.reshape(-1), inputs_of(any_())),
    OpCase("transpose", lambda x: x.T * x.T, inputs_of(any_(MATRIX))),
    OpCase("broadcast_to", lambda x: x.broadcast_to((2,) + x.shape) * x, inputs_of(any_())),
    OpCase("getitem", lambda x: x[[0, 0, -1]] * x[[0, 0, -1]], inputs_of(any_())),
    OpCase("getitem", lambda x: x[..., :1] * x[..., :1], inputs_of(any_())),
    OpCase(
        "index_add",
        lambda g: ops.IndexAdd.apply(g, index=np.array([0, 0, 1]), shape=(2,) + g.shape[1:]) ** 2,
        inputs_of(arrays(st.integers(1, 3).map(lambda n: (3, n)))),
    ),
    OpCase("pad", lambda x: x.pad((1, 2)) * x.pad((1, 2)), inputs_of(any_())),
    OpCase("cat", lambda a, b: tg.cat([a, b * a], axis=0), same_shape(any_, any_)),
    # matrix product
    OpCase("matmul", lambda a, b: (a @ b) * (a @ b), matmul_shapes()),
    OpCase("matmul", lambda a, b: a[0] @ b * (a @ b[:, 0]).sum(), matmul_shapes()),
    # fused ops: the registry test also compares each to its reference
    OpCase("linear", lambda x, w, b: x.linear(w, b).tanh(), linear_inputs()),
    OpCase("softmax", lambda x: x.softmax(axis=-1), inputs_of(any_())),
    OpCase("log_softmax", lambda x: x.log_softmax(axis=0), inputs_of(any_())),
    OpCase("cross_entropy", lambda z: z.cross_entropy(labels_for(z)), inputs_of(any_(MATRIX))),
    OpCase(
        "cross_entropy",
        lambda z, p: z.cross_entropy(p.softmax(axis=1).data, reduction="sum"),
        MATRIX.flatmap(lambda s: inputs_of(arrays(s), arrays(s))),
        constant=(1,),
    ),
    OpCase("mse_loss", lambda x, t: x.mse_loss(t, reduction="sum"), same_shape(any_, any_)),
    OpCase("mse_loss", lambda x, t: x.mse_loss(t, reduction="none"), same_shape(any_, any_), constant=(1,)),
]

# Ops composed of the primitives above: no VJP of their own, but checked all the same.
COMPOSED_CASES = {
    "where": OpCase("where", lambda a, b: tg.where(a.data > b.data, a, b * 2), SMALL.flatmap(apart)),
    "maximum": OpCase(
        "maximum", lambda a: tg.maximum(a, 0.5), inputs_of(arrays(SMALL, away_from((0.5,), 0.01)))
    ),
    "minimum": OpCase("minimum", lambda a, b: tg.minimum(a, b), SMALL.flatmap(apart)),
    "clip": OpCase("clip", lambda x: x.clamp(min=0.0), inputs_of(nonzero(margin=0.01))),
    "square": OpCase("square", lambda x: x.square(), inputs_of(any_())),
    "masked_fill": OpCase(
        "masked_fill", lambda x: x.masked_fill(x.data > 0, 0.5), inputs_of(nonzero(margin=0.01))
    ),
    "log_sigmoid": OpCase("log_sigmoid", lambda x: x.log_sigmoid(), inputs_of(any_())),
    "softplus": OpCase("softplus", lambda x: x.softplus(beta=2.0), inputs_of(any_())),
    "leaky_relu": OpCase("leaky_relu", lambda x: x.leaky_relu(0.1), inputs_of(nonzero(margin=0.01))),
    "gelu": OpCase("gelu", lambda x: x.gelu() + x.gelu(approximate="tanh"), inputs_of(any_())),
    "erf": OpCase("erf", lambda x: composed.erf(x), inputs_of(any_())),
    "min": OpCase("min", lambda x: x.min(axis=-1), inputs_of(distinct_arrays(SMALL))),
    "logsumexp": OpCase("logsumexp", lambda x: x.logsumexp(axis=0), inputs_of(any_())),
    "var": OpCase("var", lambda x: x.var(axis=-1, correction=0), inputs_of(any_())),
    "std": OpCase(
        "std",
        lambda x: x.std(),
        inputs_of(arrays((3,), st.integers(-3, 3).map(lambda k: k * 0.5)).filter(lambda a: np.ptp(a) > 0.4)),
    ),
    "unsqueeze": OpCase(
        "unsqueeze", lambda x: x.unsqueeze(0) * x.unsqueeze(-1).reshape((1,) + x.shape), inputs_of(any_())
    ),
    "squeeze": OpCase("squeeze", lambda x: x.reshape((1,) + x.shape).squeeze(0) * x, inputs_of(any_())),
    "flatten": OpCase("flatten", lambda x: x.flatten() * x.flatten(), inputs_of(any_())),
    "permute": OpCase("permute", lambda x: x.permute(1, 0) * x.T, inputs_of(any_(MATRIX))),
    "swapaxes": OpCase("swapaxes", lambda x: x.swapaxes(0, 1) * x.T, inputs_of(any_(MATRIX))),
    "expand": OpCase(
        "expand", lambda x: x.reshape((1,) + x.shape).expand(2, *x.shape) * x, inputs_of(any_())
    ),
    "cat": OpCase(
        "cat", lambda a, b: tg.cat([a, b], axis=-1) * tg.cat([b, a], axis=-1), same_shape(any_, any_)
    ),
    "stack": OpCase("stack", lambda a, b: tg.stack([a, b * a], axis=1), same_shape(any_, any_)),
    "pad": OpCase("pad", lambda x: tg.pad(x, [(1, 0)] * x.ndim, value=2.0) ** 2, inputs_of(any_())),
    "take_along_axis": OpCase(
        "take_along_axis",
        lambda x: tg.take_along_axis(x, np.zeros((2,) + x.shape[1:], dtype=np.intp), axis=0) * x[:1],
        inputs_of(any_()),
    ),
    "gather": OpCase(
        "gather", lambda x: x.gather(-1, np.zeros(x.shape, dtype=np.intp)) ** 2, inputs_of(any_())
    ),
}

FUSED = {
    name: getattr(fused, name) for name in ("Linear", "Softmax", "LogSoftmax", "CrossEntropy", "MseLoss")
}
