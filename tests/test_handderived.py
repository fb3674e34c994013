"""The hand-derived backprop formulas equal what autograd computes, for random networks, batches and values.

Each formula in `tinygrad_mnist/handderived.py` (plain numpy, chain rule by hand) is compared with
`loss.backward()` twice: on a model built from the project's `nn` modules, and on the same math written
with raw `Tensor` ops. Tolerance is rtol=1e-10 in float64: these are the same numbers, summed in another
order, not approximations of each other. docs/backprop.md derives each formula and links here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tinygrad_mnist import handderived as hd
from tinygrad_mnist import nn, optim
from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.testing import arrays, floats

ROOT = Path(__file__).resolve().parents[1]
F64 = np.float64


def assert_same(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12, err_msg=what)


# ---------------------------------------------------------------------- strategies
@st.composite
def sigmoid_problems(draw, hidden_layers: int | None = None, max_batch: int = 4):
    """Layer sizes (input 1-8, others 1-6), weights (out, in), biases, a batch x (N, in) and targets y."""
    n_hidden = draw(st.integers(0, 3)) if hidden_layers is None else hidden_layers
    sizes = [draw(st.integers(1, 8))] + [draw(st.integers(1, 6)) for _ in range(n_hidden + 1)]
    weights = [draw(arrays((n_out, n_in), floats(2.0))) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [draw(arrays((n_out,), floats(2.0))) for n_out in sizes[1:]]
    n = draw(st.integers(1, max_batch))
    x = draw(arrays((n, sizes[0])))
    y = draw(arrays((n, sizes[-1]), floats(1.0)))
    return weights, biases, x, y


@st.composite
def two_layer_problems(draw):
    """Column-per-sample ReLU/softmax network: W1 (h, d), b1 (h, 1), W2 (c, h), b2 (c, 1), X (d, m), labels (m,)."""
    d, h, c, m = (
        draw(st.integers(1, 8)),
        draw(st.integers(1, 6)),
        draw(st.integers(1, 6)),
        draw(st.integers(1, 5)),
    )
    W1, b1 = draw(arrays((h, d), floats(2.0))), draw(arrays((h, 1), floats(2.0)))
    W2, b2 = draw(arrays((c, h), floats(2.0))), draw(arrays((c, 1), floats(2.0)))
    X = draw(arrays((d, m)))
    labels = np.array(draw(st.lists(st.integers(0, c - 1), min_size=m, max_size=m)), dtype=np.int64)
    return W1, b1, W2, b2, X, labels


# ---------------------------------------------------------------------- the same networks with autograd
def linear(weight: np.ndarray, bias: np.ndarray) -> nn.Linear:
    """nn.Linear(in, out) in float64 holding the given (out, in) weight and (out,) bias."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], dtype=F64)
    layer.weight.data, layer.bias.data = np.array(weight, dtype=F64), np.array(bias, dtype=F64)
    return layer


def nn_model(weights, biases, activation) -> tuple[nn.Sequential, list[nn.Linear]]:
    """Linear + activation per layer; returns the model and its Linear layers (to read their gradients)."""
    linears = [linear(w, b) for w, b in zip(weights, biases)]
    return nn.Sequential(*[m for layer in linears for m in (layer, activation())]), linears


def raw_sigmoid_net(weights, biases, x, y, transpose: bool, reduction: str):
    """The same network with bare Tensor ops; returns the leaves (W..., b...) after backward."""
    ws = [Tensor(w, requires_grad=True, dtype=F64) for w in weights]
    bs = [Tensor(b, requires_grad=True, dtype=F64) for b in biases]
    a = Tensor(x, dtype=F64)
    for w, b in zip(ws, bs):
        a = ((a @ w.T if transpose else a @ w) + b).sigmoid()
    squared = (a - Tensor(y, dtype=F64)) ** 2
    (squared.sum() if reduction == "sum" else squared.mean()).backward()
    return ws, bs


# ====================================================================== 1. sigmoid network, squared error, per sample
@pytest.mark.parametrize("hidden_layers", [0, 1, 2, 3])
@given(data=st.data())
def test_sigmoid_squared_error_per_sample_matches_autograd(hidden_layers, data):
    weights, biases, x, y = data.draw(sigmoid_problems(hidden_layers, max_batch=1))
    model, linears = nn_model(weights, biases, nn.Sigmoid)
    loss = nn.MSELoss(reduction="sum")(model(Tensor(x, dtype=F64)), Tensor(y, dtype=F64))
    loss.backward()
    assert loss.item() == pytest.approx(hd.sigmoid_squared_error_cost(weights, biases, x[0], y[0]), rel=1e-12)

    raw_w, raw_b = raw_sigmoid_net(weights, biases, x, y, transpose=True, reduction="sum")
    for formula in (hd.sigmoid_squared_error_gradients, hd.sigmoid_squared_error_gradients_by_index):
        grad_w, grad_b = formula(weights, biases, x[0], y[0])
        for l, layer in enumerate(linears):
            assert_same(grad_w[l], layer.weight.grad, f"{formula.__name__}: dC/dW layer {l + 1}")
            assert_same(grad_b[l], layer.bias.grad, f"{formula.__name__}: dC/db layer {l + 1}")
            assert_same(grad_w[l], raw_w[l].grad, f"{formula.__name__}: dC/dW layer {l + 1} (raw engine)")
            assert_same(grad_b[l], raw_b[l].grad, f"{formula.__name__}: dC/db layer {l + 1} (raw engine)")


@given(sigmoid_problems())
def test_sigmoid_squared_error_batch_sum_matches_autograd(problem):
    weights, biases, x, y = problem
    model, linears = nn_model(weights, biases, nn.Sigmoid)
    nn.MSELoss(reduction="sum")(model(Tensor(x, dtype=F64)), Tensor(y, dtype=F64)).backward()
    grad_w, grad_b = hd.sigmoid_squared_error_batch_gradients(weights, biases, x, y)
    for l, layer in enumerate(linears):
        assert_same(grad_w[l], layer.weight.grad, f"dC/dW layer {l + 1}")
        assert_same(grad_b[l], layer.bias.grad, f"dC/db layer {l + 1}")


@pytest.mark.parametrize("sizes", [(784, 24, 10), (784, 16, 16, 10)], ids=["784-24-10", "784-16-16-10"])
def test_mnist_sized_sigmoid_networks_match_autograd(sizes):
    """The write-ups' own networks, at full size, on one pixel-like sample with a one-hot target."""
    rng = np.random.default_rng(sum(sizes))
    weights = [rng.normal(0, n_in**-0.5, (n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 1, n_out) for n_out in sizes[1:]]
    x, y = rng.uniform(0, 1, (1, sizes[0])), np.eye(sizes[-1])[[3]]
    model, linears = nn_model(weights, biases, nn.Sigmoid)
    nn.MSELoss(reduction="sum")(model(Tensor(x, dtype=F64)), Tensor(y, dtype=F64)).backward()
    for formula in (hd.sigmoid_squared_error_gradients, hd.sigmoid_squared_error_gradients_by_index):
        grad_w, grad_b = formula(weights, biases, x[0], y[0])
        for l, layer in enumerate(linears):
            assert np.abs(layer.weight.grad).max() > 1e-6  # a real gradient, not a saturated zero
            assert_same(grad_w[l], layer.weight.grad, f"{formula.__name__}: dC/dW layer {l + 1}")
            assert_same(grad_b[l], layer.bias.grad, f"{formula.__name__}: dC/db layer {l + 1}")


# ====================================================================== 2. ReLU + softmax + cross-entropy, columns
def _relu_net(W1, b1, W2, b2) -> nn.Sequential:
    """nn.Linear holds the same (out, in) weights; its bias is the (out,) vector, not the (out, 1) column."""
    return nn.Sequential(linear(W1, b1[:, 0]), nn.ReLU(), linear(W2, b2[:, 0]))


@given(two_layer_problems())
def test_relu_softmax_cross_entropy_matches_autograd(problem):
    W1, b1, W2, b2, X, labels = problem
    model = _relu_net(W1, b1, W2, b2)
    # relu'(0) is 0 in both, but Z1 summed in another order can land on the other side of 0 when it is
    # within rounding of the kink; such ties say nothing about the formulas, so skip them.
    engine_z1 = model[0](Tensor(X.T, dtype=F64)).data.T
    assume(np.array_equal(engine_z1 > 0, hd.relu_softmax_forward(W1, b1, W2, b2, X).Z1 > 0))

    rows = Tensor(X.T, dtype=F64)  # nn works with one row per sample: the transpose of X
    loss = nn.CrossEntropyLoss()(model(rows), Tensor(labels))
    loss.backward()
    Y = hd.one_hot_columns(labels, W2.shape[0])
    assert loss.item() == pytest.approx(hd.relu_softmax_cross_entropy_cost(W1, b1, W2, b2, X, Y), rel=1e-12)

    leaves = [Tensor(t, requires_grad=True, dtype=F64) for t in (W1, b1[:, 0], W2, b2[:, 0])]
    logits = (rows @ leaves[0].T + leaves[1]).relu() @ leaves[2].T + leaves[3]
    logits.cross_entropy(labels).backward()

    g = hd.relu_softmax_cross_entropy_gradients(W1, b1, W2, b2, X, Y)
    for name, mine, via_nn, raw in [
        ("dW1", g.dW1, model[0].weight.grad, leaves[0].grad),
        ("db1", g.db1[:, 0], model[0].bias.grad, leaves[1].grad),
        ("dW2", g.dW2, model[2].weight.grad, leaves[2].grad),
        ("db2", g.db2[:, 0], model[2].bias.grad, leaves[3].grad),
    ]:
        assert_same(mine, via_nn, name)
        assert_same(mine, raw, f"{name} (raw engine)")


def test_relu_derivative_at_the_kink_is_zero_in_both():
    """Z1 exactly 0 (zero input, zero bias): the formula's g'(0) = 0 and Tensor.relu's backward agree."""
    W1, b1 = np.array([[1.5, -2.0], [0.5, 1.0]]), np.zeros((2, 1))
    W2, b2 = np.array([[1.0, -1.0], [2.0, 0.5], [-0.3, 0.7]]), np.array([[0.1], [0.2], [0.3]])
    X, labels = np.zeros((2, 3)), np.array([0, 2, 1])
    assert (hd.relu_softmax_forward(W1, b1, W2, b2, X).Z1 == 0).all()
    model = _relu_net(W1, b1, W2, b2)
    nn.CrossEntropyLoss()(model(Tensor(X.T, dtype=F64)), Tensor(labels)).backward()
    g = hd.relu_softmax_cross_entropy_gradients(W1, b1, W2, b2, X, hd.one_hot_columns(labels, 3))
    assert (g.db1 == 0).all() and (model[0].bias.grad == 0).all()
    assert_same(g.db2[:, 0], model[2].bias.grad, "db2")


# ====================================================================== 3. sigmoid + MSE, rows, W (in, out)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@given(problem=sigmoid_problems())
def test_sigmoid_mse_rows_matches_autograd(reduction, problem):
    out_in, biases, x, y = problem
    weights = [w.T for w in out_in]  # this write-up's W_L is (in, out): a_{L-1} W_L
    model, linears = nn_model(out_in, biases, nn.Sigmoid)
    loss = nn.MSELoss(reduction=reduction)(model(Tensor(x, dtype=F64)), Tensor(y, dtype=F64))
    loss.backward()
    assert loss.item() == pytest.approx(hd.sigmoid_mse_loss(weights, biases, x, y, reduction), rel=1e-12)

    raw_w, raw_b = raw_sigmoid_net(weights, biases, x, y, transpose=False, reduction=reduction)
    grad_w, grad_b = hd.sigmoid_mse_gradients(weights, biases, x, y, reduction)
    for l, layer in enumerate(linears):
        assert_same(
            grad_w[l], layer.weight.grad.T, f"dLoss/dW layer {l + 1} (nn.Linear's weight is W_L transposed)"
        )
        assert_same(grad_b[l], layer.bias.grad, f"dLoss/db layer {l + 1}")
        assert_same(grad_w[l], raw_w[l].grad, f"dLoss/dW layer {l + 1} (raw engine)")
        assert_same(grad_b[l], raw_b[l].grad, f"dLoss/db layer {l + 1} (raw engine)")


def test_mse_mean_scale_counts_samples_and_outputs():
    """2/(N·outputs), not 2/N: the mean runs over every squared error. 3 samples, 4 outputs: 2/12."""
    assert hd.mse_scale("mean", 3, 4) == pytest.approx(2 / 12)
    assert hd.mse_scale("sum", 3, 4) == 2.0
    with pytest.raises(ValueError, match="reduction"):
        hd.mse_scale("max", 3, 4)


# ====================================================================== 4. one SGD step, weight by weight
@given(problem=sigmoid_problems(max_batch=3), lr=st.floats(1e-3, 1.0))
def test_scalar_update_rule_equals_one_optim_sgd_step(problem, lr):
    weights, biases, x, y = problem
    model, linears = nn_model(weights, biases, nn.Sigmoid)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    optimizer.zero_grad()
    nn.MSELoss(reduction="sum")(model(Tensor(x, dtype=F64)), Tensor(y, dtype=F64)).backward()
    optimizer.step()
    new_w, new_b = hd.sgd_step_by_scalar_rule(weights, biases, x, y, lr)
    for l, layer in enumerate(linears):
        assert_same(new_w[l], layer.weight.data, f"W layer {l + 1} after one step")
        assert_same(new_b[l], layer.bias.data, f"b layer {l + 1} after one step")


@given(problem=sigmoid_problems(max_batch=3), lr=st.floats(1e-3, 1.0))
def test_y_minus_a_convention_is_the_same_step(problem, lr):
    """w ← w + lr·2(y-a)σ'(z)a_prev and w ← w - lr·2(a-y)σ'(z)a_prev: both signs flip, bit for bit."""
    weights, biases, x, y = problem
    minus = hd.sgd_step_by_scalar_rule(weights, biases, x, y, lr, convention="a - y")
    plus = hd.sgd_step_by_scalar_rule(weights, biases, x, y, lr, convention="y - a")
    for a, b in zip(minus[0] + minus[1], plus[0] + plus[1]):
        np.testing.assert_array_equal(a, b)


def test_mixing_the_conventions_climbs_the_cost():
    """(y - a) with the update *subtracted* is gradient ascent: the consistent step lowers C, the mix raises it."""
    rng = np.random.default_rng(6)
    weights, biases = (
        [rng.normal(size=(3, 4)), rng.normal(size=(2, 3))],
        [rng.normal(size=3), rng.normal(size=2)],
    )
    x, y, lr = rng.normal(size=4), np.array([1.0, 0.0]), 0.05
    before = hd.sigmoid_squared_error_cost(weights, biases, x, y)
    step_w, step_b = hd.sgd_step_by_scalar_rule(weights, biases, x[None], y[None], lr, convention="y - a")
    assert hd.sigmoid_squared_error_cost(step_w, step_b, x, y) < before
    grad_w, grad_b = hd.sigmoid_squared_error_gradients(weights, biases, x, y)
    # "w - lr·2(y - a)σ'a_prev" is w - lr·(-dC/dw) = w + lr·dC/dw
    mixed_w = [w + lr * g for w, g in zip(weights, grad_w)]
    mixed_b = [b + lr * g for b, g in zip(biases, grad_b)]
    assert hd.sigmoid_squared_error_cost(mixed_w, mixed_b, x, y) > before


# ====================================================================== the module itself and the docs
def test_handderived_does_not_import_the_engine():
    """Plain numpy only: a formula checked against autograd must not be computed by autograd."""
    tree = ast.parse((ROOT / "tinygrad_mnist/handderived.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"numpy", "__future__", "collections.abc", "typing"}, imported


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: hd.sigmoid_squared_error_gradients(
                [np.ones((2, 3))], [np.ones(2)], np.ones(4), np.ones(2)
            ),
            r"\(2, 3\)",
        ),
        (
            lambda: hd.sigmoid_squared_error_gradients(
                [np.ones((2, 3))], [np.ones(3)], np.ones(3), np.ones(2)
            ),
            "biases",
        ),
        (
            lambda: hd.sigmoid_squared_error_cost([np.ones((2, 3))], [np.ones(2)], np.ones(3), np.ones(3)),
            "target",
        ),
        (
            lambda: hd.sigmoid_mse_gradients([np.ones((3, 2))], [np.ones(2)], np.ones(3), np.ones(2)),
            "samples",
        ),
        (lambda: hd.one_hot_columns(np.array([0, 3]), 3), r"\[0, 3\)"),
        (
            lambda: hd.relu_softmax_cross_entropy_gradients(
                np.ones((2, 3)),
                np.ones((2, 1)),
                np.ones((4, 2)),
                np.ones((4, 1)),
                np.ones((3, 5)),
                np.ones((4, 5)),
            ),
            "one-hot",
        ),
        (
            lambda: hd.relu_softmax_forward(
                np.ones((2, 3)), np.ones(2), np.ones((4, 2)), np.ones((4, 1)), np.ones((3, 5))
            ),
            "columns",
        ),
        (
            lambda: hd.sgd_step_by_scalar_rule(
                [np.ones((2, 3))], [np.ones(2)], np.ones((1, 3)), np.ones((1, 2)), 0.1, "a + y"
            ),
            "convention",
        ),
    ],
)
def test_bad_inputs_raise_errors_that_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# [label](../path) or [label](../path#Ln); a label may hold one level of brackets, as in `grad_w[l]`.
DOC_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])+)\]\(\.\./([^)#]+)(?:#L(\d+))?\)")


def test_docs_line_links_land_on_the_named_code():
    """docs/backprop.md links `[file: `code`](../file#Ln)`; line n must still hold that code, or the link rotted.

    Engine links carry no line number (the engine is edited by others); they must name an op (a Function
    subclass) of the linked file.
    """
    text = (ROOT / "docs/backprop.md").read_text()
    links = DOC_LINK.findall(text)
    anchored = [link for link in links if link[2]]
    assert len(anchored) >= 30 and "#L?" not in text
    for label, path, line in links:
        code = label.split(": ", 1)[-1].strip("`")
        lines = (ROOT / path).read_text().splitlines()
        if line:
            assert int(line) <= len(lines), f"{label}: {path} has only {len(lines)} lines"
            assert code in lines[int(line) - 1], (
                f"docs link {label} -> {path}#L{line} is {lines[int(line) - 1]!r}"
            )
        elif "/autograd/" in path:
            assert any(re.match(rf"class {code}\((Function|_\w+)\):", l) for l in lines), (
                f"docs link {label}: no op {code} in {path}"
            )


def test_docs_cover_every_public_formula():
    text = (ROOT / "docs/backprop.md").read_text()
    public = [
        n
        for n, v in vars(hd).items()
        if callable(v) and not n.startswith("_") and getattr(v, "__module__", "") == hd.__name__
    ]
    missing = [n for n in public if f"handderived.py: `{n}`]" not in text]
    assert not missing, f"docs/backprop.md does not link {missing}"
