"""The gradient checker itself: it must catch wrong gradients, say where, and not cry wolf."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mnist import Function, GradcheckError, Tensor, gradcheck
from tinygrad_mnist.autograd.ops import unbroadcast as _unbroadcast
from tinygrad_mnist.gradcheck import GradcheckWarning
from tinygrad_mnist.testing import (
    away_from,
    broadcastable_shapes,
    distinct_arrays,
    kink_free_tensors,
    positive,
    shapes,
    tensors,
)


class BrokenSquare(Function):
    """x**2 whose backward is wrong at one element: what gradcheck exists to find."""

    def forward(self, x):
        return x**2

    def backward(self, g, out, x):
        grad = 2 * x * g
        grad.flat[-1] *= 1.5
        return (grad,)


broken_square = BrokenSquare.apply


class Squashed(Function):
    def forward(self, x):
        return x * 2

    def backward(self, g, out, x):
        return (g.sum(keepdims=True),)


class Noisy(Function):
    rng = np.random.default_rng(0)

    def forward(self, x):
        return x * 2

    def backward(self, g, out, x):
        return (g * 2 + self.rng.standard_normal() * 1e-3,)


class Upcast(Function):
    def forward(self, x):
        return x * 2

    def backward(self, g, out, x):
        return (g.astype(np.float64) * 2,)


def test_wrong_gradient_is_reported_with_input_element_and_values():
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True, dtype=np.float64, name="x")
    with pytest.raises(GradcheckError) as info:
        gradcheck(broken_square, [x])
    report = info.value.report
    assert not report.ok and not bool(report)
    failure = report.failures[0]
    assert failure.input_index == 0 and failure.input_name == "x"
    assert failure.element == (1, 1) and failure.output_element == (1, 1)
    assert failure.analytic == pytest.approx(12.0) and failure.numeric == pytest.approx(8.0)
    text = str(info.value)
    assert (
        "input 0 (x)" in text and "element (1, 1)" in text and "analytic 12" in text and "numeric 8" in text
    )


def test_fast_projection_mode_also_catches_it_and_names_the_input():
    a = Tensor(np.ones(3), requires_grad=True, dtype=np.float64)
    x = Tensor(np.linspace(1, 2, 50), requires_grad=True, dtype=np.float64)
    report = gradcheck(lambda a, x: broken_square(x) * a.sum(), [a, x], fast=True, raise_exception=False)
    assert not report.ok
    assert {f.input_index for f in report.failures if f.check == "projection"} == {1}


def test_correct_gradients_pass_in_both_modes():
    x = Tensor(np.linspace(-2, 2, 12).reshape(3, 4), requires_grad=True, dtype=np.float64)
    assert gradcheck(lambda t: (t.tanh() * t).sum(axis=0), [x])
    report = gradcheck(lambda t: t.sigmoid() * 3, [x], fast=True)
    assert report.ok and report.comparisons == 8


def test_float32_inputs_warn_and_are_upcast_instead_of_failing():
    x = Tensor(np.linspace(0.1, 1.0, 6), requires_grad=True)  # float32
    with pytest.warns(GradcheckWarning, match="float64"):
        assert gradcheck(lambda t: (t.exp() * t).log(), [x])


def test_a_vjp_returning_the_wrong_shape_is_named_by_the_engine():
    squashed = Squashed.apply
    x = Tensor(np.ones(3), requires_grad=True, dtype=np.float64)
    with pytest.raises(
        RuntimeError, match=r"'squashed' returned a gradient of shape \(1,\) for an input of shape \(3,\)"
    ):
        gradcheck(squashed, [x])


def test_structural_check_catches_nondeterministic_and_nonlinear_backward():
    noisy = Noisy.apply
    x = Tensor(np.ones(2), requires_grad=True, dtype=np.float64)
    report = gradcheck(noisy, [x], raise_exception=False)
    checks = {f.check for f in report.failures}
    assert "reentrant" in checks and "zero-upstream" in checks


def test_no_input_requiring_grad_is_an_error():
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda t: t * 2, [Tensor([1.0])])


def test_constant_numpy_inputs_are_allowed():
    w = Tensor(np.array([0.5, -1.0]), requires_grad=True, dtype=np.float64)
    assert gradcheck(lambda c, w: (c * w).sum(), [np.array([3.0, 4.0]), w])


# ---------------------------------------------------------------- the public strategies keep their promises


@given(broadcastable_shapes(num_shapes=3))
def test_broadcastable_shapes_broadcast(shapes_):
    np.broadcast_shapes(*shapes_)


@given(tensors(shapes(max_dims=2), elements=away_from((0.0, 1.0), margin=0.05)))
def test_away_from_keeps_the_margin(t):
    assert np.all(np.abs(t.data) >= 0.05) and np.all(np.abs(t.data - 1.0) >= 0.05)


@given(distinct_arrays(shapes(min_dims=1), min_gap=0.01))
def test_distinct_arrays_have_no_ties(a):
    flat = np.sort(a.ravel())
    assert np.all(np.diff(flat) >= 0.01 - 1e-12)


@given(kink_free_tensors("log", margin=0.1), st.floats(0.1, 3.0))
def test_positive_and_log_kink_free(t, _):
    assert np.all(t.data >= 0.1) and t.dtype == np.float64 and t.requires_grad


def test_kink_free_rejects_unknown_op():
    with pytest.raises(ValueError, match="unknown op"):
        kink_free_tensors("sqrt")


@given(st.data())
def test_unbroadcast_is_the_adjoint_of_broadcasting(data):
    """<broadcast(x), g> == <x, unbroadcast(g)> for every x and g: the definition of a VJP."""
    small, big = data.draw(broadcastable_shapes(num_shapes=2))
    out_shape = np.broadcast_shapes(small, big)
    x = data.draw(tensors(small)).data
    g = data.draw(tensors(out_shape)).data
    lhs = (np.broadcast_to(x, out_shape) * g).sum()
    rhs = (x * _unbroadcast(g, small)).sum()
    assert _unbroadcast(g, small).shape == small
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9)


@given(positive(0.5, 2.0))
def test_positive_strategy_bounds(x):
    assert 0.5 <= x <= 2.0


def test_a_vjp_that_upcasts_float32_is_caught_at_its_node():
    upcasting = Upcast.apply
    x = Tensor(np.ones(3), requires_grad=True)  # float32: the leaf would cast the float64 gradient back
    with pytest.warns(GradcheckWarning):
        report = gradcheck(lambda t: upcasting(t * 1), [x], raise_exception=False)
    assert [f.check for f in report.failures] == ["vjp-dtype"]
    assert "'upcast' returns a float64 gradient for a float32 input" in str(report)
