"""Deterministic behaviour of the engine: accumulation, reuse, no_grad, deep graphs, stability, dtypes, errors."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from tinygrad_mnist import Tensor, is_grad_enabled, no_grad, topological_order
from tinygrad_mnist.autograd.ops import EXP_LIMIT


def test_float_data_defaults_to_float32_and_ints_stay_ints():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.ones(3)).dtype == np.float32
    assert Tensor([1.0], dtype=np.float64).dtype == np.float64
    assert Tensor(np.array([1, 2, 3])).dtype == np.int64
    assert Tensor(np.array([1, 2], dtype=np.uint8)).dtype == np.uint8


def test_scalars_and_arrays_mix_in_and_keep_the_tensor_dtype():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for y in (x * 2, 1 - x, x + np.ones(3), np.ones(3) * x, 2.5 / x, x**2, x @ np.ones(3), -x):
        assert y.dtype == np.float32, y
    np.testing.assert_allclose((1 - x).data, [0, -1, -2])
    np.testing.assert_allclose((np.ones(3) - x).data, [0, -1, -2])
    assert (Tensor([1.0], dtype=np.float64) * 3).dtype == np.float64


def test_gradient_accumulates_until_zero_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_tensor_used_on_several_paths_gets_the_sum_of_its_paths():
    x = Tensor(3.0, requires_grad=True)
    y = x * x + x * 2 + x.exp() * 0  # d/dx = 2x + 2
    y.backward()
    assert x.grad == pytest.approx(8.0)
    a = Tensor([1.0, 2.0], requires_grad=True)
    (a + a).sum().backward()  # same array flows to both inputs of add
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])


def test_backward_runs_each_vjp_once_newest_first_after_all_its_consumers():
    x = Tensor([0.5, -1.0], requires_grad=True, dtype=np.float64)
    h = x * 3.0  # used by a consumer made right after it and by one made much later
    e = h.exp()
    ignored = Tensor([1.0, 1.0], dtype=np.float64) * 2.0  # needs no gradient: its VJP must not run
    out = (e * h).sum() + (h * ignored).sum()  # f = sum(3x e^(3x)) + sum(6x)
    calls = []
    for node in topological_order(out):
        if node.grad_fn is not None:
            fn = node.grad_fn
            fn.backward = (lambda vjp, n: lambda *args, **kw: (calls.append(n), vjp(*args, **kw))[1])(
                fn.backward, node
            )
    out.backward()
    assert len(calls) == len(set(calls)) == 7  # mul, exp, mul, sum, mul, sum, add: each once
    assert [n._id for n in calls] == sorted((n._id for n in calls), reverse=True)
    xd = x.data
    np.testing.assert_allclose(x.grad, 3 * np.exp(3 * xd) + 9 * xd * np.exp(3 * xd) + 6.0, rtol=1e-12)


def test_leaf_gradients_never_share_memory():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad, b.grad)
    a.grad[0] = 100.0
    assert b.grad[0] == 1.0


def test_linear_bias_gradient_of_one_sample_is_its_row_in_memory_of_its_own():
    rng = np.random.default_rng(5)
    x = Tensor(rng.standard_normal((1, 3)))  # one sample: the bias gradient is g's only row, no reduction
    w1, w2 = (Tensor(rng.standard_normal((2, 3)), requires_grad=True) for _ in range(2))
    b1, b2 = (Tensor(rng.standard_normal(2), requires_grad=True) for _ in range(2))
    y = x.linear(w1, b1) + x.linear(w2, b2)  # add hands the same gradient array to both linear nodes
    g = rng.standard_normal((1, 2)).astype(np.float32)
    y.backward(g)
    np.testing.assert_array_equal(b1.grad, g[0])
    np.testing.assert_array_equal(b2.grad, g[0])
    assert b1.grad.shape == (2,) and not np.shares_memory(b1.grad, b2.grad)
    b1.grad[0] = 100.0  # a .grad may be written by its owner without touching another's
    assert b2.grad[0] == g[0, 0]


def test_gradients_are_summed_back_over_broadcast_axes():
    x = Tensor(np.ones((4, 3)), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    c = Tensor(np.ones((4, 1)), requires_grad=True)
    ((x + b) * c).sum().backward()
    assert b.grad.shape == (3,) and c.grad.shape == (4, 1)
    np.testing.assert_array_equal(b.grad, [4, 4, 4])
    np.testing.assert_array_equal(c.grad, np.full((4, 1), 6.0))


def test_no_grad_records_nothing_and_restores_state():
    w = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = w * 2
    assert is_grad_enabled()
    assert not y.requires_grad and y.parents == ()

    @no_grad()
    def infer(t):
        return t * 3

    assert not infer(w).requires_grad


def test_detach_cuts_the_graph_and_requires_grad_switches_on():
    w = Tensor([1.0, 2.0], requires_grad=True)
    d = (w * 2).detach()
    assert not d.requires_grad and d.is_leaf
    d.requires_grad_()
    (d * w).sum().backward()
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])
    np.testing.assert_array_equal(d.grad, [1.0, 2.0])


def test_backward_through_a_100k_op_chain_has_no_recursion_error():
    x = Tensor(1.0, requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward()
    assert x.grad == pytest.approx(1.00001**100_000)


def test_backward_releases_saved_intermediates_unless_retained():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    hidden = (x * 2).exp()
    probe = weakref.ref(hidden)
    loss = hidden.sum()
    del hidden
    loss.backward()
    gc.collect()
    assert probe() is None, "the graph kept an intermediate tensor alive after backward"
    assert loss.parents == ()


def test_retain_graph_allows_a_second_backward_and_second_without_it_explains():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_explicit_upstream_gradient_for_non_scalars():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, -6.0])


def test_retain_grad_keeps_intermediate_gradients():
    x = Tensor([1.0, -2.0], requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad, [6.0, -12.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_are_finite_at_extreme_logits(dtype):
    logits = Tensor([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]], requires_grad=True, dtype=dtype)
    weights = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    for fn in (lambda t: t.softmax(-1), lambda t: t.log_softmax(-1)):
        logits.zero_grad()
        out = fn(logits)
        (out * weights).sum().backward()
        assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(logits.grad))
    np.testing.assert_allclose(logits.softmax(-1).data[1], [1 / 3] * 3, rtol=1e-6)
    loss = logits.cross_entropy(np.array([1, 0]))
    logits.zero_grad()
    loss.backward()
    assert loss.item() == pytest.approx((2000.0 + np.log(3)) / 2, rel=1e-6)
    assert np.all(np.isfinite(logits.grad))


def test_cross_entropy_value_and_gradient_is_softmax_minus_onehot():
    logits = Tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], requires_grad=True, dtype=np.float64)
    labels = np.array([0, 2])
    loss = logits.cross_entropy(labels)
    p = np.exp(logits.data) / np.exp(logits.data).sum(1, keepdims=True)
    assert loss.item() == pytest.approx(-np.log(p[[0, 1], labels]).mean())
    loss.backward()
    np.testing.assert_allclose(logits.grad, (p - np.eye(3)[labels]) / 2)


@pytest.mark.parametrize("x", [1000.0, -1000.0, 0.0, 30.0, -30.0])
def test_sigmoid_and_its_gradient_are_finite_and_accurate(x):
    for dtype in (np.float32, np.float64):
        t = Tensor([x], requires_grad=True, dtype=dtype)
        s = t.sigmoid()
        s.sum().backward()
        expected = 1 / (1 + np.exp(np.float64(-x))) if x > -700 else 0.0
        assert np.isfinite(s.data).all() and np.isfinite(t.grad).all()
        # exact to rounding; below the exponent's cap (x < -88 in float32) the true value is under
        # 6.1e-39, and so is σ, which stays at σ(-88) there instead of overflowing to 0
        floor = 1 / (1 + np.exp(np.float64(EXP_LIMIT[np.dtype(dtype)])))
        np.testing.assert_allclose(s.data, [expected], rtol=1e-6, atol=floor * 1.0001)
        assert 0 < s.data[0] <= 1
        assert s.dtype == dtype and t.grad.dtype == dtype


def test_max_splits_the_gradient_evenly_among_ties():
    x = Tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    x.max(axis=1).backward(np.array([1.0, 3.0]))
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1, 1, 1]])
    y = Tensor([5.0, 5.0], requires_grad=True)
    y.max().backward()
    np.testing.assert_allclose(y.grad, [0.5, 0.5])


def test_integer_array_indexing_adds_repeated_picks():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    picked = x[np.array([0, 0, 1]), np.array([2, 2, 0])]
    np.testing.assert_array_equal(picked.data, [2.0, 2.0, 3.0])
    picked.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0, 2], [1, 0, 0]])
    x.zero_grad()
    x[Tensor(np.array([1]))].sum().backward()  # an integer Tensor works as an index too
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [1, 1, 1]])


def test_float32_stays_float32_through_forward_and_backward():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((5, 4)))
    w = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = Tensor(np.zeros(3), requires_grad=True)
    h = (x @ w.T + b).relu()
    for out in (h, h.sigmoid(), h.tanh(), h.softmax(1), h.log_softmax(1), h.mean(), h.max(1)):
        assert out.dtype == np.float32
    loss = (h.sigmoid() * 0.5).sum() + h.cross_entropy(np.array([0, 1, 2, 0, 1])) + (h**2).mean()
    assert loss.dtype == np.float32
    loss.backward()
    assert w.grad.dtype == np.float32 and b.grad.dtype == np.float32


def test_graph_records_op_names_and_inputs():
    a, b = Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)
    c = Tensor([3.0])
    out = (a * b + c).sum()
    assert out.op == "sum" and out.parents[0].op == "add"
    assert out.parents[0].parents[0].op == "mul" and out.parents[0].parents[1] is c
    order = topological_order(out)
    assert [t.op for t in order if t.op] == ["mul", "add", "sum"]
    assert order[-1] is out and {id(a), id(b), id(c)} <= {id(t) for t in order}


def test_repr_is_readable():
    text = repr(Tensor([[1.0, 2.0]], requires_grad=True) * 2)
    assert "shape=(1, 2)" in text and "float32" in text and "requires_grad=True" in text and "op=mul" in text


def test_item_numpy_shape():
    t = Tensor([[2.5]])
    assert t.item() == 2.5 and t.shape == (1, 1) and isinstance(t.numpy(), np.ndarray)
    with pytest.raises(ValueError, match=r"one-element.*\(2,\)"):
        Tensor([1.0, 2.0]).item()


# ---------------------------------------------------------------- clear errors


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))


def test_broadcast_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        Tensor(np.ones((2, 3))) + np.ones(4)


def test_backward_on_non_scalar_without_gradient_explains():
    with pytest.raises(RuntimeError, match=r"not a scalar.*\.sum\(\)"):
        (Tensor([1.0, 2.0], requires_grad=True) * 2).backward()


def test_backward_on_tensor_without_grad_explains():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor([1.0]) * 2).sum().backward()


def test_wrong_upstream_gradient_shape():
    with pytest.raises(ValueError, match=r"gradient shape \(3,\) must equal output shape \(2,\)"):
        (Tensor([1.0, 2.0], requires_grad=True) * 2).backward(np.ones(3))


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        Tensor(np.array([1, 2]), requires_grad=True)


def test_cross_entropy_rejects_bad_targets():
    logits = Tensor(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        logits.cross_entropy(np.array([0, 3]))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        logits.cross_entropy(np.array([0, 1, 2]))


def test_pow_takes_tensor_exponents_and_reflected_bases():
    a = Tensor([1.5, 2.0], requires_grad=True, dtype=np.float64)
    b = Tensor([2.0, 3.0], requires_grad=True, dtype=np.float64)
    (a**b).sum().backward()
    np.testing.assert_allclose(a.grad, b.data * a.data ** (b.data - 1))
    np.testing.assert_allclose(b.grad, a.data**b.data * np.log(a.data))
    x = Tensor([0.0, 1.0], requires_grad=True, dtype=np.float64)
    (2.0**x).sum().backward()
    np.testing.assert_allclose(x.grad, 2.0**x.data * np.log(2.0))


def test_reusing_a_released_intermediate_in_a_new_graph_explains():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    with pytest.raises(RuntimeError, match="already released"):
        (h * 3).sum().backward()
