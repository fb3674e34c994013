"""Engine v2: user-defined Functions, gradients of gradients, the PyTorch-style API, and the fixes found
by an outside check (each of those tests fails on the engine before v2)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_mnist as tg
from tinygrad_mnist import (
    Function,
    Tensor,
    enable_grad,
    grad,
    gradcheck,
    gradgradcheck,
    no_grad,
    set_grad_enabled,
)
from tinygrad_mnist.autograd import registry
from tinygrad_mnist.gradcheck import GradcheckError
from tinygrad_mnist.testing import arrays


def f64(a, requires_grad=True):
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad, dtype=np.float64)


def gradient_at(fn, values):
    """d fn / dx at `values`, as a numpy array (first order only)."""
    x = f64(values)
    (g,) = grad(fn(x), x)
    return g.data


# ---------------------------------------------------------------- your own op
class Cube(Function):
    """x³, written as a user would: forward on arrays, backward with operators only."""

    formula = "x³"

    def forward(self, x):
        return x * x * x

    def backward(self, g, out, x):
        return (3 * x * x * g,)


class NumpyOnlyCube(Function):
    formula = "x³"

    def forward(self, x):
        return np.power(x, 3)

    def backward(self, g, out, x):
        return (np.multiply(3 * x * x, g),)  # numpy call: works on arrays, not on Tensors


def test_a_user_function_is_registered_and_passes_gradcheck_to_second_order():
    assert registry["cube"] is Cube and Cube.name == "cube"
    x = f64([0.5, -1.5, 2.0])
    y = Cube.apply(x)
    assert y.op == "cube" and y.grad_fn.describe() == "x³" and y.parents == (x,)
    assert gradcheck(Cube.apply, [x]) and gradgradcheck(Cube.apply, [x])
    (g,) = grad(y.sum(), x, create_graph=True)
    (h,) = grad(g.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data)


def test_a_numpy_only_backward_says_why_it_cannot_be_differentiated_twice():
    x = f64([1.0, 2.0])
    NumpyOnlyCube.apply(x).sum().backward()  # first order is fine
    np.testing.assert_allclose(x.grad, 3 * x.data**2)
    with pytest.raises(TypeError, match="backward of 'numpy_only_cube' does not work on Tensors"):
        NumpyOnlyCube.apply(x).sum().backward(create_graph=True)


def test_apply_on_plain_arrays_just_computes():
    out = Cube.apply(np.array([2.0]))
    assert isinstance(out, np.ndarray) and out[0] == 8.0


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class WrongCurvature(Function):
        def forward(self, x):
            return x * x * x

        def backward(self, g, out, x):
            return (3 * g * x.detach() * x if isinstance(x, Tensor) else 3 * g * x * x,)  # misses a term

    x = f64([0.5, 1.5])
    assert gradcheck(WrongCurvature.apply, [x])
    with pytest.raises(GradcheckError):
        gradgradcheck(WrongCurvature.apply, [x])


# ---------------------------------------------------------------- gradients of gradients
def test_backward_create_graph_leaves_differentiable_grads():
    x = f64([1.0, 2.0])
    y = (x.sin() * x).sum()
    y.backward(create_graph=True)
    assert isinstance(x.grad, Tensor) and x.grad.requires_grad
    first = x.grad
    np.testing.assert_allclose(first.data, np.cos(x.data) * x.data + np.sin(x.data))
    x.grad = None
    first.sum().backward()
    np.testing.assert_allclose(x.grad, -np.sin(x.data) * x.data + 2 * np.cos(x.data))


def test_grad_returns_gradients_without_touching_dot_grad():
    x, w = f64([1.0, 2.0]), f64([3.0, -1.0])
    y = (x * w).sum()
    gx, gw = grad(y, [x, w])
    np.testing.assert_array_equal(gx.data, w.data)
    np.testing.assert_array_equal(gw.data, x.data)
    assert x.grad is None and w.grad is None
    with pytest.raises(RuntimeError, match="input 1 .* was not used"):
        grad((x * 2).sum(), [x, w])
    assert grad((x * 2).sum(), [x, w], allow_unused=True)[1] is None
    with pytest.raises(ValueError, match="does not require grad"):
        grad(y, [Tensor([1.0])])


@settings(max_examples=20)
@given(arrays((3,)), arrays((3,)))
def test_hessian_vector_product_equals_finite_differences_of_the_gradient(a, v):
    def f(x):
        return (x.tanh() * x.sin()).sum() + (x * x).prod()

    _, (hv,) = tg.hvp(f, [a], [v])
    eps = 1e-6
    numeric = (gradient_at(f, a + eps * v) - gradient_at(f, a - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv.data, numeric, rtol=1e-5, atol=1e-6)


def test_hessian_of_a_small_mlp_loss_is_symmetric_and_matches_finite_differences():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 2, 5)
    b1, w2 = rng.standard_normal(4), rng.standard_normal((2, 4))

    def loss(w1):  # 3-4-2 MLP, sigmoid hidden layer, cross-entropy
        return (
            Tensor(x, dtype=np.float64)
            .linear(w1, Tensor(b1, dtype=np.float64))
            .sigmoid()
            .linear(Tensor(w2, dtype=np.float64))
            .cross_entropy(y)
        )

    w1 = rng.standard_normal((4, 3))
    H = tg.hessian(loss, w1)
    assert H.shape == (4, 3, 4, 3)
    flat = H.reshape(12, 12)
    np.testing.assert_allclose(flat, flat.T, atol=1e-10)
    eps, numeric = 1e-5, np.zeros((12, 12))
    for j in range(12):
        step = np.zeros(12)
        step[j] = eps
        plus, minus = gradient_at(loss, w1 + step.reshape(4, 3)), gradient_at(loss, w1 - step.reshape(4, 3))
        numeric[:, j] = (plus - minus).ravel() / (2 * eps)
    np.testing.assert_allclose(flat, numeric, rtol=1e-5, atol=1e-7)


def test_newtons_method_solves_a_quadratic_in_one_step():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])

    def f(x):
        return (x @ Tensor(A, dtype=np.float64) @ x) * 0.5 - (x * Tensor(b, dtype=np.float64)).sum()

    x0 = f64([5.0, 5.0])
    step = np.linalg.solve(tg.hessian(f, x0.data), gradient_at(f, x0.data))
    np.testing.assert_allclose(x0.data - step, np.linalg.solve(A, b))


# ---------------------------------------------------------------- the op set and the PyTorch API
def test_comparisons_give_boolean_tensors_outside_the_graph():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for mask in (x > 1.5, x >= 2, x < 2, x <= 1, x == 2, x != 2, (x > 1) & (x < 3), ~(x > 1) | (x > 2)):
        assert mask.dtype == np.bool_ and not mask.requires_grad and mask.grad_fn is None
    np.testing.assert_array_equal((x == 2).data, [False, True, False])
    assert {x: 1}[x] == 1  # still usable as a dict key (by identity)


def test_float_bool_int_and_casts_follow_pytorch():
    assert float(Tensor([2.5])) == 2.5 and int(Tensor(3)) == 3 and bool(Tensor([1.0])) is True
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]))
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert x.double().dtype == np.float64 and x.float() is x and x.long().dtype == np.int64
    assert not x.long().requires_grad and x.bool().dtype == np.bool_
    x.double().sum().backward()
    assert x.grad.dtype == np.float32


def test_new_ops_compute_what_numpy_computes():
    a = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    x = Tensor(a, dtype=np.float64)
    checks = {
        "sqrt": (abs(x).sqrt(), np.sqrt(abs(a))),
        "clip": (x.clip(-1, 2), np.clip(a, -1, 2)),
        "min": (x.min(axis=1), a.min(axis=1)),
        "prod": (x.prod(), a.prod()),
        "var": (x.var(axis=1), a.var(axis=1, ddof=1)),
        "std": (x.std(), a.std(ddof=1)),
        "logsumexp": (x.logsumexp(axis=0), np.log(np.exp(a).sum(axis=0))),
        "log1p": (abs(x).log1p(), np.log1p(abs(a))),
        "softplus": (x.softplus(), np.log1p(np.exp(a))),
        "leaky_relu": (x.leaky_relu(0.1), np.where(a > 0, a, 0.1 * a)),
        "gelu": (x.gelu(), a * 0.5 * (1 + np.vectorize(__import__("math").erf)(a / np.sqrt(2)))),
        "cat": (tg.cat([x, x], axis=1), np.concatenate([a, a], axis=1)),
        "stack": (tg.stack([x, x]), np.stack([a, a])),
        "pad": (x.pad((1, 1)), np.pad(a, ((0, 0), (1, 1)))),
        "expand": (x[:1].expand(3, -1), np.broadcast_to(a[:1], (3, 3))),
        "squeeze": (x[:1].squeeze(0), a[0]),
        "unsqueeze": (x.unsqueeze(1), a[:, None]),
        "flatten": (x.flatten(), a.ravel()),
        "permute": (x.permute(1, 0), a.T),
        "gather": (x.gather(1, np.array([[2], [0]])), np.take_along_axis(a, np.array([[2], [0]]), 1)),
        "masked_fill": (x.masked_fill(a < 0, 0.0), np.where(a < 0, 0, a)),
        "where": (tg.where(a > 0, x, -x), np.abs(a)),
        "maximum": (tg.maximum(x, 0.5), np.maximum(a, 0.5)),
        "minimum": (tg.minimum(x, 0.5), np.minimum(a, 0.5)),
        "rpow": (2**x, 2**a),
        "tensor pow": (abs(x) ** x, abs(a) ** a),
    }
    for name, (ours, theirs) in checks.items():
        np.testing.assert_allclose(ours.data, theirs, rtol=1e-12, err_msg=name)


def test_torch_style_transpose_of_two_axes_and_numpy_style_permutation():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.transpose(0, 1).shape == (3, 2, 4)
    assert x.transpose(2, 0, 1).shape == (4, 2, 3)
    assert x.T.shape == (4, 3, 2)


# ---------------------------------------------------------------- fixes found by an outside check
def test_repeated_indices_of_every_advanced_kind_accumulate():
    a = np.arange(6.0).reshape(3, 2)
    for index in ((0, 0), ((0, 0), slice(None)), range(2), [1, 1, 1]):
        x = f64(a)
        picked = x[index]
        picked.sum().backward()
        expected = np.zeros_like(a)
        np.add.at(expected, index if not isinstance(index, range) else list(index), 1.0)
        np.testing.assert_array_equal(x.grad, expected, err_msg=str(index))


def test_max_with_nan_sends_the_gradient_to_the_nan():
    x = f64([1.0, np.nan, 3.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0])


def test_numpy_integers_are_accepted_as_shapes_and_axes():
    x = Tensor(np.arange(6.0), requires_grad=True)
    assert x.reshape(np.int64(6)).shape == (6,) and x.reshape(np.int64(2), np.int64(3)).shape == (2, 3)
    assert x.transpose(np.int64(0)).shape == (6,)
    assert x.sum(axis=np.int64(0)).shape == ()


def test_grad_mode_is_per_thread():
    x = Tensor([1.0], requires_grad=True)
    inside, recorded = threading.Event(), {}

    def evaluate():
        with no_grad():
            inside.set()
            done.wait(5)

    done = threading.Event()
    worker = threading.Thread(target=evaluate)
    worker.start()
    inside.wait(5)
    recorded["main"] = (x * 2).requires_grad  # the other thread is inside no_grad() right now
    done.set()
    worker.join()
    assert recorded["main"] is True


def test_grad_mode_stays_right_in_every_thread_whatever_the_others_do():
    """Ops read a shared count of switched-off threads before their own switch (it is cheaper): the
    answer must still be each thread's own, while others switch, nest, and even end switched off."""
    from tinygrad_mnist.autograd import grad_mode

    x = Tensor([1.0], requires_grad=True)
    start = grad_mode._off.threads
    errors = []

    def churn(seed: int) -> None:
        rng, mode = np.random.default_rng(seed), True
        for _ in range(300):
            with no_grad():
                if (x * 2).requires_grad:
                    errors.append("recorded inside no_grad")
                with enable_grad():
                    if not (x * 2).requires_grad:
                        errors.append("not recorded inside enable_grad")
            if (x * 2).requires_grad is not mode:
                errors.append("the thread's own mode was not restored")
            mode = bool(rng.integers(2))
            set_grad_enabled(mode)
        set_grad_enabled(False)  # this thread ends switched off

    workers = [threading.Thread(target=churn, args=(seed,)) for seed in range(4)]
    for w in workers:
        w.start()
    for _ in range(300):
        if not (x * 2).requires_grad:
            errors.append("main thread stopped recording")
    for w in workers:
        w.join()
    assert errors == []
    assert (x * 2).requires_grad and tg.is_grad_enabled()
    assert grad_mode._off.threads == start + 4  # the ended threads still count: slower, never wrong
    with no_grad():
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_enable_grad_and_set_grad_enabled():
    x = Tensor([1.0], requires_grad=True)
    with no_grad():
        assert not (x * 2).requires_grad
        with enable_grad():
            assert (x * 2).requires_grad
    with set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    set_grad_enabled(False)
    assert not tg.is_grad_enabled()
    set_grad_enabled(True)
    assert tg.is_grad_enabled()


@settings(max_examples=10)
@given(st.integers(1, 4), st.integers(1, 4))
def test_second_derivative_through_linear_falls_back_to_its_reference(n, m):
    rng = np.random.default_rng(n * 10 + m)
    x, w, b = f64(rng.standard_normal((n, 3))), f64(rng.standard_normal((m, 3))), f64(rng.standard_normal(m))
    assert gradgradcheck(lambda x, w, b: x.linear(w, b).sigmoid(), [x, w, b])


def test_nn_functional_spells_the_ops_as_pytorch_does():
    from tinygrad_mnist.nn import functional as F

    a = np.array([[-1.0, 0.5, 2.0]])
    x = Tensor(a, dtype=np.float64)
    np.testing.assert_allclose(F.relu(x).data, np.maximum(a, 0))
    np.testing.assert_allclose(F.sigmoid(x).data, 1 / (1 + np.exp(-a)))
    np.testing.assert_allclose(F.tanh(x).data, np.tanh(a))
    np.testing.assert_allclose(F.softmax(x, dim=1).data, np.exp(a) / np.exp(a).sum())
    np.testing.assert_allclose(F.log_softmax(x, dim=1).data, a - np.log(np.exp(a).sum()))
    np.testing.assert_allclose(F.leaky_relu(x, 0.2).data, np.where(a > 0, a, 0.2 * a))
    np.testing.assert_allclose(F.softplus(x).data, np.log1p(np.exp(a)))
    np.testing.assert_allclose(F.logsigmoid(x).data, -np.log1p(np.exp(-a)))
    assert F.gelu(x).shape == (1, 3) and F.pad(x, (1, 1)).shape == (1, 5)
    np.testing.assert_allclose(F.linear(x, Tensor(np.eye(3), dtype=np.float64)).data, a)


def test_graphs_show_each_op_with_its_formula():
    from tinygrad_mnist.viz import draw_graph

    x = Tensor([[1.0, 2.0]], requires_grad=True)
    w = Tensor(np.ones((3, 2), np.float32), requires_grad=True)
    source = draw_graph((Cube.apply(x).linear(w).sigmoid() ** 2).sum()).source
    for tooltip in ("cube: x³", "sigmoid: σ(x) = 1 / (1 + e⁻ˣ)", "pow: aᵇ", "sum: Σ x"):
        assert f'tooltip="{tooltip}"' in source, tooltip
    assert "x·Wᵀ" in source  # a fused op also says what it computes under its name


def test_graph_edges_name_the_argument_each_input_is():
    from tinygrad_mnist.viz import draw_graph

    x = Tensor(np.ones((2, 3), np.float32), name="x")
    w = Tensor(np.ones((4, 3), np.float32), requires_grad=True, name="w")
    b = Tensor(np.zeros(4, np.float32), requires_grad=True, name="b")
    source = draw_graph(x.linear(w, b).cross_entropy(np.array([0, 3]))).source
    for name in ("x", "W", "b", "z", "y"):  # Linear's x·Wᵀ + b and CrossEntropy's z (logits), y (labels)
        assert f"label={name} " in source or f'label="{name}"' in source, name
    assert "int64" in source  # the labels are drawn as cross_entropy's input
