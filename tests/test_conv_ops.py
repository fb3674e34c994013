"""The CNN ops (autograd/conv.py): equal to direct loop-based references in float64, gradient-checked
to first and second order (the cases in op_cases_conv.py), equal to their reference compositions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases_conv import CASES

from tinygrad_mnist.autograd import Tensor, registry
from tinygrad_mnist.autograd.conv import AvgPool2d, BatchNorm, Conv2d, MaxPool2d
from tinygrad_mnist.gradcheck import gradcheck, gradgradcheck


def leaf(a: np.ndarray) -> Tensor:
    return Tensor(a, requires_grad=True, dtype=np.float64)


def out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def loop_conv2d(x, w, b, stride, padding, dilation):
    """The definition, one output element at a time."""
    (n, c, h, wd), (o, _, kh, kw) = x.shape, w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = out_size(h, kh, sh, ph, dh), out_size(wd, kw, sw, pw, dw)
    out = np.zeros((n, o, ho, wo))
    for i, f, r, q in itertools.product(range(n), range(o), range(ho), range(wo)):
        total = 0.0 if b is None else b[f]
        for ch, a, e in itertools.product(range(c), range(kh), range(kw)):
            total += xp[i, ch, r * sh + a * dh, q * sw + e * dw] * w[f, ch, a, e]
        out[i, f, r, q] = total
    return out


def loop_pool(x, kernel, stride, padding, dilation, reduce, pad_value):
    (n, c, h, wd), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = x.shape, kernel, stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    ho, wo = out_size(h, kh, sh, ph, dh), out_size(wd, kw, sw, pw, dw)
    out = np.zeros((n, c, ho, wo))
    for i, ch, r, q in itertools.product(range(n), range(c), range(ho), range(wo)):
        window = [xp[i, ch, r * sh + a * dh, q * sw + e * dw] for a in range(kh) for e in range(kw)]
        out[i, ch, r, q] = reduce(window)
    return out


pairs = st.tuples(st.integers(1, 3), st.integers(1, 3))


@settings(max_examples=30)
@given(
    data=st.data(), kernel=pairs, stride=pairs, dilation=pairs,
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)), bias=st.booleans(),
)  # fmt: skip
def test_conv2d_equals_the_loop_definition(data, kernel, stride, dilation, padding, bias):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    c, o = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    h, w = (data.draw(st.integers(d * (k - 1) + 1, 7)) for d, k in zip(dilation, kernel))
    x, weight = rng.standard_normal((2, c, h, w)), rng.standard_normal((o, c, *kernel))
    b = rng.standard_normal(o) if bias else None
    expected = loop_conv2d(x, weight, b, stride, padding, dilation)
    args = [leaf(x), leaf(weight)] + ([leaf(b)] if bias else [])
    got = Conv2d(stride, padding, dilation)
    np.testing.assert_allclose(
        args[0].conv2d(*args[1:], stride=stride, padding=padding, dilation=dilation).data,
        expected,
        rtol=1e-10,
        atol=1e-12,
    )
    np.testing.assert_allclose(got.reference(*args).data, expected, rtol=1e-10, atol=1e-12)


@settings(max_examples=30)
@given(data=st.data(), kernel=pairs, stride=pairs, dilation=pairs)
def test_pooling_equals_the_loop_definition(data, kernel, stride, dilation):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    padding = tuple(data.draw(st.integers(0, k // 2)) for k in kernel)
    h, w = (data.draw(st.integers(d * (k - 1) + 1, 7)) for d, k in zip(dilation, kernel))
    x = rng.standard_normal((2, 2, h, w))
    expected = loop_pool(x, kernel, stride, padding, dilation, max, -np.inf)
    np.testing.assert_allclose(leaf(x).max_pool2d(kernel, stride, padding, dilation).data, expected)
    np.testing.assert_allclose(MaxPool2d(kernel, stride, padding, dilation).reference(leaf(x)).data, expected)
    expected = loop_pool(x, kernel, stride, padding, (1, 1), np.mean, 0.0)
    np.testing.assert_allclose(leaf(x).avg_pool2d(kernel, stride, padding).data, expected, rtol=1e-12)
    np.testing.assert_allclose(
        AvgPool2d(kernel, stride, padding).reference(leaf(x)).data, expected, rtol=1e-12
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.op)
@settings(max_examples=4)
@given(data=st.data())
def test_registry_cases_pass_first_and_second_order_gradcheck(case, data):
    arrays = data.draw(case.inputs)
    inputs = [Tensor(a, requires_grad=i not in case.constant, dtype=np.float64) for i, a in enumerate(arrays)]
    gradcheck(case.fn, inputs)
    if case.second_order:
        gradgradcheck(case.fn, inputs)


def test_every_cnn_op_is_registered_and_has_cases():
    for name in ("conv2d", "max_pool2d", "avg_pool2d", "batch_norm"):
        assert name in registry
        assert any(c.op == name for c in CASES)
    assert not [name for name in registry if name.startswith("_")]  # the pooling mixin is no op


def test_fused_backward_equals_the_reference_gradient():
    """The numpy-only backward gives what differentiating the primitive composition gives."""
    rng = np.random.default_rng(0)
    cases = [
        (Conv2d(stride=(2, 1), padding=1, dilation=(1, 2)), [(2, 3, 7, 6), (4, 3, 3, 2), (4,)]),
        (Conv2d(padding=(2, 1), dilation=(1, 2)), [(2, 3, 6, 7), (4, 3, 3, 2), (4,)]),
        (MaxPool2d(3, stride=2, padding=1), [(2, 2, 7, 7)]),
        (MaxPool2d(2), [(2, 2, 5, 4)]),  # tiled, the last row in no window
        (MaxPool2d(2), [(2, 2, 4, 6)]),  # tiled, every input in one window
        (AvgPool2d(2, stride=1), [(2, 2, 5, 4)]),
        (BatchNorm(), [(6, 3, 2, 2), (3,), (3,)]),
    ]
    for op, shapes in cases:
        arrays = [rng.standard_normal(s) for s in shapes]
        g = None
        grads = []
        for fused in (True, False):
            ts = [leaf(a) for a in arrays]
            out = op._record(tuple(ts), tuple(t.data for t in ts)) if fused else op.reference(*ts)
            g = rng.standard_normal(out.shape) if g is None else g
            out.backward(g)
            grads.append([t.grad for t in ts])
        for fused, composed in zip(*grads):
            np.testing.assert_allclose(fused, composed, rtol=1e-10, atol=1e-12)


def test_max_pool_splits_tied_gradients_evenly_as_max_does():
    x = leaf(np.array([[[[1.0, 1.0], [0.0, 1.0]]]]))
    x.max_pool2d(2).sum().backward()
    np.testing.assert_allclose(x.grad, [[[[1 / 3, 1 / 3], [0.0, 1 / 3]]]])


def test_overlapping_windows_add_their_gradients():
    x = leaf(np.arange(9.0).reshape(1, 1, 3, 3))
    x.max_pool2d(2, stride=1).sum().backward()  # the four windows' maxima: 4, 5, 7, 8
    np.testing.assert_allclose(x.grad[0, 0], [[0, 0, 0], [0, 1, 1], [0, 1, 1]])


def test_conv2d_keeps_float32_and_frees_its_im2col_buffer():
    rng = np.random.default_rng(0)
    x = Tensor(rng.random((2, 1, 6, 6), dtype=np.float32))
    w = Tensor(rng.random((3, 1, 3, 3), dtype=np.float32), requires_grad=True)
    out = x.conv2d(w, padding=1)
    assert out.dtype == np.float32 and "cols" in vars(out.grad_fn)
    out.sum().backward()
    assert w.grad.dtype == np.float32
    assert "cols" not in vars(out.grad_fn)  # not kept past backward
    unrecorded = Tensor(x.data).conv2d(Tensor(w.data))
    assert "cols" not in vars(unrecorded.grad_fn)  # nothing to differentiate: dropped at once


def test_conv2d_backward_twice_with_retain_graph():
    rng = np.random.default_rng(1)
    x, w = leaf(rng.standard_normal((1, 2, 4, 4))), leaf(rng.standard_normal((2, 2, 3, 3)))
    out = x.conv2d(w).sum()
    out.backward(retain_graph=True)
    first = w.grad.copy()
    out.backward()
    np.testing.assert_allclose(w.grad, 2 * first)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: Tensor(np.ones((1, 2, 4, 4))).conv2d(Tensor(np.ones((1, 3, 3, 3)))), "in_channels"),
        (lambda: Tensor(np.ones((2, 4, 4))).conv2d(Tensor(np.ones((1, 2, 3, 3)))), "4-D"),
        (lambda: Tensor(np.ones((1, 1, 2, 2))).conv2d(Tensor(np.ones((1, 1, 3, 3)))), "does not fit"),
        (
            lambda: Tensor(np.ones((1, 1, 4, 4))).conv2d(Tensor(np.ones((2, 1, 3, 3))), Tensor(np.ones(3))),
            "bias",
        ),
        (lambda: Tensor(np.ones((1, 1, 4, 4))).conv2d(Tensor(np.ones((1, 1, 3, 3))), stride=0), "stride"),
        (lambda: Tensor(np.ones((1, 1, 4, 4))).max_pool2d(2, padding=2), "padding"),
        (lambda: Tensor(np.ones((1, 3))).batch_norm(), "more than one value"),
    ],
)
def test_bad_shapes_and_settings_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
