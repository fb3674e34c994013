"""trace_backward records the engine's own backward: its order, its gradients, and a check of each VJP."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mnist import Tensor
from tinygrad_mnist.autograd import Function
from tinygrad_mnist.models import build_model
from tinygrad_mnist.recipes import get_recipe, make_loss
from tinygrad_mnist.viz import retain_all_grads, trace_backward

CALLS: list[str] = []  # the order in which the engine really calls Tap.backward


class Tap(Function):
    """Identity that notes when the engine runs its backward: an observation independent of the trace."""

    formula = "x (tap {tag})"

    def __init__(self, tag: str):
        self.tag = tag

    def forward(self, x):
        return x.copy()

    def backward(self, g, out, x):
        CALLS.append(self.tag)
        return (g,)


class WrongSquare(Function):
    """x² with a deliberately wrong VJP (3x g instead of 2x g)."""

    formula = "x² (wrong VJP)"

    def forward(self, x):
        return x * x

    def backward(self, g, out, x):
        return (3 * x * g,)


def branching_graph():
    rng = np.random.default_rng(0)
    a = Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="a")
    w = Tensor(rng.standard_normal((2, 2)), requires_grad=True, name="w")
    h = Tap.apply(a @ w, tag="h")
    left = Tap.apply(h.tanh(), tag="left")
    right = Tap.apply(h * h, tag="right")
    loss = Tap.apply((left + right.exp() * a.sum()).sum(), tag="loss")
    return loss, a, w, h


def test_order_is_the_order_in_which_the_engine_runs_each_backward():
    loss, *_ = branching_graph()
    CALLS.clear()
    trace = trace_backward(loss)
    recorded = [s.tensor._ctx.tag for s in trace.steps if s.op == "tap"]
    assert recorded == CALLS and len(CALLS) == 4


def test_order_is_newest_first_and_visits_exactly_the_tensors_that_get_a_gradient():
    loss, a, w, h = branching_graph()
    trace = trace_backward(loss)
    ids = [s.tensor._id for s in trace.steps]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert trace.steps[0].tensor is loss and trace.steps[-1].tensor in (a, w)
    assert {id(s.tensor) for s in trace.steps if s.op is None} == {id(a), id(w)}


def test_recorded_gradients_are_the_engines_grad_and_retained_grads():
    loss, a, w, _ = branching_graph()
    kept = retain_all_grads(loss)
    trace = trace_backward(loss)
    assert {id(t) for t in kept} <= {id(s.tensor) for s in trace.steps}
    for step in trace.steps:
        assert step.tensor.grad is not None, step.label
        np.testing.assert_array_equal(step.grad, step.tensor.grad)
    np.testing.assert_array_equal(trace.step_of(a).grad, a.grad)


def test_grads_equal_a_plain_backward_of_the_same_graph():
    loss, a, w, _ = branching_graph()
    trace_backward(loss)
    traced = a.grad.copy(), w.grad.copy()
    a.grad = w.grad = None
    loss.backward()  # the graph was retained; the check's probes left the ops as they were
    np.testing.assert_array_equal(traced[0], a.grad)
    np.testing.assert_array_equal(traced[1], w.grad)


def test_paths_that_meet_are_recorded_and_add_up_to_the_gradient():
    loss, a, w, h = branching_graph()
    trace = trace_backward(loss)
    h_step, a_step = trace.step_of(h), trace.step_of(a)
    assert h_step.paths_meet and len(h_step.received) == 3  # through tanh, and twice through h * h
    assert len({sender for sender, _ in h_step.received}) == 2
    assert len(a_step.received) == 2  # a feeds the matmul and the sum
    for step in trace.steps[1:]:
        senders = [trace.steps[i] for i, _ in step.received]
        assert all(s.index < step.index for s in senders)
        np.testing.assert_allclose(sum(piece for _, piece in step.received), step.grad, rtol=1e-12)
    assert trace.steps[0].received == []  # the root starts from the seed


def test_handed_gradients_are_what_each_vjp_returned():
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    c = Tensor([4.0, 5.0, 6.0])
    loss = (x * c).sum()
    step = trace_backward(loss).steps[1]
    assert step.op == "mul" and step.formula == "a · b"
    (to_x, to_c) = step.handed
    np.testing.assert_array_equal(to_x.grad, c.data)
    assert to_c.grad is None and to_c.input is c  # a constant gets nothing


def test_every_op_of_the_classic_networks_passes_its_vjp_check():
    for name in ("sigmoid-16-16", "sigmoid-24", "relu-10"):
        model = build_model(name)
        x = Tensor(np.random.default_rng(1).random((1, 784), dtype=np.float32))
        loss = make_loss(get_recipe(name).loss)(model(x), np.array([7]))
        trace = trace_backward(loss, module=model)
        assert trace.all_checks_pass, [str(s.check) for s in trace.steps]
        assert trace.steps[-1].label == "fc1.weight"
        assert all(s.check.elements > 0 for s in trace.steps if s.op is not None)


def test_a_wrong_vjp_fails_its_own_check_and_only_it():
    x = Tensor([0.5, -1.5, 2.0], requires_grad=True)
    loss = (WrongSquare.apply(x.exp()) * 2.0).sum()
    trace = trace_backward(loss)
    verdicts = {s.op: s.check.passed for s in trace.steps if s.check is not None}
    assert verdicts == {"sum": True, "mul": True, "wrong_square": False, "exp": True}
    failed = trace.steps[[s.op for s in trace.steps].index("wrong_square")].check
    assert failed.max_error > 1 and "FAIL" in str(failed)


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="expected a Tensor"):
        trace_backward(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        trace_backward(Tensor([1.0]).sum())
    with pytest.raises(RuntimeError, match="not a scalar"):
        trace_backward(Tensor([1.0, 2.0], requires_grad=True) * 2)
