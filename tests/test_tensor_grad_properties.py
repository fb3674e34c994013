"""Every primitive op's gradient equals central finite differences (float64, full Jacobian), for
hypothesis-generated shapes and values.

Outputs are reduced with random non-uniform weights where a scalar is needed: `.mean()` would send the
same upstream gradient to every element and hide a VJP that mixes elements up. Tolerances: gradcheck's
defaults, atol 1e-5 and rtol 1e-3 on each Jacobian entry, with eps 1e-6 (float64 differences are accurate
to about 1e-9 here, so these bounds only fail on a wrong derivative).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mnist import Tensor, gradcheck
from tinygrad_mnist.testing import (
    arrays,
    away_from,
    broadcastable_shapes,
    distinct_arrays,
    kink_free_tensors,
    positive,
    shapes,
    tensors,
)


def f64(array: np.ndarray) -> Tensor:
    return Tensor(array, requires_grad=True, dtype=np.float64)


@given(broadcastable_shapes(), st.data())
def test_binary_ops_with_broadcasting(shape_pair, data):
    a = f64(data.draw(arrays(shape_pair[0])))
    b = f64(data.draw(arrays(shape_pair[1], elements=away_from((0.0,), 0.3))))  # b also divides
    for op in (
        lambda x, y: x + y,
        lambda x, y: x - y,
        lambda x, y: x * y,
        lambda x, y: x / y,
    ):
        gradcheck(op, [a, b])


@given(tensors(), st.sampled_from(["neg", "exp", "sigmoid", "tanh", "square", "cube"]))
def test_smooth_unary_ops(x, name):
    fn = {
        "neg": lambda t: -t,
        "exp": lambda t: t.exp(),
        "sigmoid": lambda t: t.sigmoid(),
        "tanh": lambda t: t.tanh(),
        "square": lambda t: t**2,
        "cube": lambda t: t**3,
    }[name]
    gradcheck(fn, [x])


@given(kink_free_tensors("log"), st.sampled_from([0.5, -1.0, 2.5]))
def test_log_and_fractional_powers(x, p):
    gradcheck(lambda t: t.log(), [x])
    gradcheck(lambda t: t**p, [x])


@given(kink_free_tensors("relu"))
def test_relu_away_from_its_kink(x):
    gradcheck(lambda t: t.relu(), [x])


@given(st.data(), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4))
def test_matmul_2d(data, n, k, m):
    a = f64(data.draw(arrays((n, k))))
    b = f64(data.draw(arrays((k, m))))
    gradcheck(lambda x, y: x @ y, [a, b])


@given(
    st.data(),
    st.sampled_from(
        [
            ((2, 3, 4), (4, 2)),
            ((3, 4), (2, 4, 2)),
            ((2, 1, 2, 3), (3, 3, 2)),
            ((3,), (3, 2)),
            ((2, 3), (3,)),
            ((3,), (3,)),
        ]
    ),
)
def test_matmul_batched_and_vectors(data, shape_pair):
    a = f64(data.draw(arrays(shape_pair[0])))
    b = f64(data.draw(arrays(shape_pair[1])))
    gradcheck(lambda x, y: x @ y, [a, b])


@given(
    st.data(),
    st.sampled_from([(3,), (1, 3), (2, 3), (2, 2, 3)]),  # a vector, one sample, a batch, batched rows
    st.integers(1, 4),
    st.booleans(),
    st.booleans(),
)
def test_fused_linear(data, x_shape, out_features, with_bias, input_needs_grad):
    x = Tensor(data.draw(arrays(x_shape)), requires_grad=input_needs_grad, dtype=np.float64)
    w = f64(data.draw(arrays((out_features, x_shape[-1]))))
    b = f64(data.draw(arrays((out_features,))))
    inputs = ([x] if input_needs_grad else []) + [w] + ([b] if with_bias else [])

    def fn(*args):
        t = args[0] if input_needs_grad else x
        weight = args[1] if input_needs_grad else args[0]
        return t.linear(weight, args[-1] if with_bias else None)

    gradcheck(fn, inputs)
    expected = x.data @ w.data.T + (b.data if with_bias else 0)
    np.testing.assert_allclose(fn(*inputs).data, expected, rtol=1e-12, atol=1e-12)  # x @ W.T + b


def _axis_and_keepdims(data, ndim):
    axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1))) if ndim else None
    return axis, data.draw(st.booleans())


@given(tensors(shapes(min_dims=1)), st.data())
def test_sum_and_mean_any_axis(x, data):
    axis, keepdims = _axis_and_keepdims(data, x.ndim)
    gradcheck(lambda t: t.sum(axis=axis, keepdims=keepdims), [x])
    gradcheck(lambda t: t.mean(axis=axis, keepdims=keepdims), [x])


@given(st.data())
def test_max_without_ties(data):
    x = f64(data.draw(distinct_arrays(shapes(min_dims=1))))
    axis, keepdims = _axis_and_keepdims(data, x.ndim)
    gradcheck(lambda t: t.max(axis=axis, keepdims=keepdims), [x])


@given(tensors(shapes(min_dims=1)), st.data())
def test_reshape_and_transpose(x, data):
    perm = data.draw(st.permutations(range(x.ndim)))
    gradcheck(lambda t: t.reshape(-1), [x])
    gradcheck(lambda t: t.reshape(x.size, 1), [x])
    gradcheck(lambda t: t.transpose(*perm), [x])
    gradcheck(lambda t: t.T, [x])


@given(tensors(shapes(min_dims=2, max_dims=2, min_side=2)), st.data())
def test_indexing_slices_and_integer_arrays(x, data):
    n, c = x.shape
    rows = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6)))  # repeats allowed
    cols = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=len(rows), max_size=len(rows))))
    gradcheck(lambda t: t[rows, cols], [x])  # e.g. the target class of each row
    gradcheck(lambda t: t[1:, ::2], [x])
    gradcheck(lambda t: t[0], [x])
    gradcheck(lambda t: t[rows], [x])


@given(tensors(shapes(min_dims=1)), st.data())
def test_softmax_and_log_softmax(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    gradcheck(lambda t: t.softmax(axis), [x])
    gradcheck(lambda t: t.log_softmax(axis), [x])


@given(st.integers(1, 5), st.integers(2, 5), st.data())
def test_fused_cross_entropy(n, c, data):
    logits = f64(data.draw(arrays((n, c))))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    probabilities = data.draw(arrays((n, c), elements=positive(0.1, 1.0)))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    for reduction in ("mean", "sum", "none"):
        gradcheck(lambda t, r=reduction: t.cross_entropy(labels, reduction=r), [logits])
    gradcheck(lambda t: t.cross_entropy(probabilities), [logits])


@given(tensors(), st.data(), st.booleans())
def test_fused_mse_loss(x, data, target_needs_grad):
    """Gradient 2(x - t) (over the element count for "mean") to the input, its negative to a target
    that requires grad; values equal the unfused `(x - t) ** 2` reduced."""
    target = Tensor(data.draw(arrays(x.shape)), requires_grad=target_needs_grad, dtype=np.float64)
    inputs = [x, target] if target_needs_grad else [x]
    squared = (x.data - target.data) ** 2
    expected = {"mean": squared.mean(), "sum": squared.sum(), "none": squared}
    for reduction in ("mean", "sum", "none"):

        def fn(t, *rest, r=reduction):
            return t.mse_loss(rest[0] if rest else target.data, reduction=r)

        gradcheck(fn, inputs)
        out = fn(*inputs)
        assert out.op == "mse_loss" and out.shape == np.shape(expected[reduction])
        np.testing.assert_allclose(out.data, expected[reduction], rtol=1e-12, atol=1e-12)


@given(st.data(), st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), st.integers(2, 4))
def test_two_layer_mlp_with_loss(data, batch, n_in, hidden, classes):
    x = data.draw(arrays((batch, n_in)))
    w1 = f64(data.draw(arrays((hidden, n_in))))
    b1 = f64(data.draw(arrays((hidden,))))
    w2 = f64(data.draw(arrays((classes, hidden))))
    b2 = f64(data.draw(arrays((classes,))))
    labels = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)))

    def mlp_loss(w1, b1, w2, b2):
        hidden_act = (Tensor(x, dtype=np.float64) @ w1.T + b1).tanh()
        return (hidden_act @ w2.T + b2).cross_entropy(labels)

    def sigmoid_mse(w1, b1, w2, b2):
        out = ((Tensor(x, dtype=np.float64) @ w1.T + b1).sigmoid() @ w2.T + b2).sigmoid()
        target = np.eye(classes)[labels]
        return ((out - target) ** 2).sum()

    gradcheck(mlp_loss, [w1, b1, w2, b2])
    gradcheck(sigmoid_mse, [w1, b1, w2, b2])


@given(tensors(shapes(min_dims=1)), st.data())
def test_composite_with_reuse_and_nonuniform_weights(x, data):
    weights = data.draw(arrays(x.shape))

    def fn(t):
        return ((t * t.sigmoid() + t.tanh() * 2 - t.exp() / 3) * weights).sum()

    gradcheck(fn, [x])
