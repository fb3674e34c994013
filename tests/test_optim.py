"""SGD and Adam against reference updates written out here in numpy, plus in-place, dtype and error behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mnist import Tensor, nn
from tinygrad_mnist.optim import SGD, Adam, Optimizer

STEPS = 6


def _gradients(shape, steps=STEPS, seed=0):
    """Read-only gradient arrays: an optimiser writing into `.grad` would raise."""
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(shape) for _ in range(steps)]
    for g in grads:
        g.flags.writeable = False
    return grads


def _run(make_optimizer, p0, grads):
    """Apply `grads` one step at a time; returns the parameter after every step."""
    p = Tensor(p0.copy(), requires_grad=True, dtype=p0.dtype)
    opt = make_optimizer([p])
    data, history = p.data, []
    for g in grads:
        p.grad = g
        opt.step()
        assert p.data is data  # updated in place: the same array object throughout
        np.testing.assert_array_equal(p.grad, g)  # and the gradient untouched
        history.append(p.data.copy())
    return history


def sgd_reference(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """SGD as in Sutskever et al. / PyTorch's docs, step by step."""
    velocity, history = None, []
    for g in grads:
        d = g + weight_decay * p
        if momentum:
            velocity = d.copy() if velocity is None else momentum * velocity + (1 - dampening) * d
            d = d + momentum * velocity if nesterov else velocity
        p = p - lr * d
        history.append(p)
    return history


def adam_reference(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Adam as written in Kingma & Ba (Algorithm 1), with bias-corrected moments m_hat and v_hat."""
    b1, b2 = betas
    m, v, history = np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        history.append(p)
    return history


SGD_SETTINGS = [
    dict(lr=0.1),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.3),
    dict(lr=0.1, momentum=0.8, weight_decay=0.01),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.02, momentum=0.5, weight_decay=0.2, nesterov=True),
]


@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=str)
def test_sgd_matches_reference(settings):
    p0 = np.random.default_rng(1).standard_normal((3, 4))
    grads = _gradients(p0.shape)
    got = _run(lambda params: SGD(params, **settings), p0, grads)
    for step, (a, b) in enumerate(zip(got, sgd_reference(p0, grads, **settings))):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"step {step + 1}")


ADAM_SETTINGS = [
    dict(lr=1e-3),
    dict(lr=0.01, betas=(0.8, 0.99)),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.1, betas=(0.0, 0.5), eps=1e-3),
]


@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=str)
def test_adam_matches_reference(settings):
    p0 = np.random.default_rng(2).standard_normal((5,))
    grads = _gradients(p0.shape, seed=3)
    got = _run(lambda params: Adam(params, **settings), p0, grads)
    for step, (a, b) in enumerate(zip(got, adam_reference(p0, grads, **settings))):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14, err_msg=f"step {step + 1}")


def test_adam_first_step_moves_each_weight_by_about_lr():
    p0 = np.zeros(4)
    grads = [np.array([1e-4, -3.0, 250.0, -0.5])]
    (after,) = _run(lambda params: Adam(params, lr=0.01), p0, grads)
    np.testing.assert_allclose(after, -0.01 * np.sign(grads[0]), rtol=1e-3)


def test_parameters_without_grad_are_skipped_and_their_state_does_not_advance():
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0], requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad = np.array([1.0, 1.0], dtype=np.float32)
    opt.step()
    opt.step()
    np.testing.assert_array_equal(b.data, [3.0])
    assert opt.state[a]["step"] == 2 and b not in opt.state
    sgd = SGD([b], lr=0.1, momentum=0.9)
    sgd.step()
    np.testing.assert_array_equal(b.data, [3.0])


def test_generator_of_parameters_is_materialised():
    model = nn.Linear(3, 2, rng=0)
    opt = SGD(model.parameters(), lr=1.0)
    start = model.weight.data.copy()
    for _ in range(2):
        model.weight.grad = np.ones((2, 3), dtype=np.float32)
        opt.step()
    np.testing.assert_allclose(model.weight.data, start - 2.0)


def test_zero_grad_sets_none():
    model = nn.Linear(3, 2, rng=0)
    opt = Adam(model.parameters())
    model(np.ones((1, 3))).sum().backward()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.5),
        lambda ps: Adam(ps, lr=0.01, weight_decay=0.01),
    ],
    ids=["sgd-nesterov", "sgd-dampening", "adam"],
)
def test_float32_model_stays_float32_through_training(make):
    model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.Sigmoid(), nn.Linear(3, 2, rng=1), nn.LogSoftmax())
    opt = make(model.parameters())
    x = np.random.default_rng(0).standard_normal((6, 4))  # float64 data on purpose
    for _ in range(3):
        hidden = model[0](x)
        assert hidden.dtype == np.float32 and model[1](hidden).dtype == np.float32
        loss = nn.NLLLoss()(model(x), np.arange(6) % 2)
        assert loss.dtype == np.float32
        opt.zero_grad()
        loss.backward()
        assert all(p.grad.dtype == np.float32 for p in model.parameters())
        opt.step()
    assert all(p.dtype == np.float32 for p in model.parameters())
    buffers = [a for s in opt.state.values() for a in s.values() if isinstance(a, np.ndarray)]
    assert buffers and all(b.dtype == np.float32 for b in buffers)


def test_float64_gradient_on_float32_parameter_does_not_upcast_it():
    p = Tensor([1.0, 2.0], requires_grad=True)
    opt = Adam([p], lr=0.1)
    p.grad = np.array([0.5, -0.5])  # float64
    opt.step()
    assert p.dtype == np.float32 and opt.state[p]["exp_avg"].dtype == np.float32


def test_param_groups_have_their_own_settings_and_lr_can_change():
    a, b = Tensor([1.0], requires_grad=True), Tensor([1.0], requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad = b.grad = np.ones(1, dtype=np.float32)
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.5])
    for group in opt.param_groups:
        group["lr"] = 0.0
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.5])
    assert "Parameter Group 1" in repr(opt) and "lr: 0.0" in repr(opt)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda ps: SGD(ps, lr=-0.1), "lr must be >= 0"),
        (lambda ps: SGD(ps, lr=float("nan")), "lr must be >= 0"),
        (lambda ps: SGD(ps, lr="0.1"), "lr must be a number"),
        (lambda ps: SGD(ps, lr=0.1, momentum=-1), "momentum"),
        (lambda ps: SGD(ps, lr=0.1, weight_decay=-1), "weight_decay"),
        (lambda ps: SGD(ps, lr=0.1, nesterov=True), "nesterov"),
        (lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
        (lambda ps: Adam(ps, lr=-1), "lr"),
        (lambda ps: Adam(ps, betas=(1.0, 0.999)), r"betas\[0\]"),
        (lambda ps: Adam(ps, betas=(0.9, -0.1)), r"betas\[1\]"),
        (lambda ps: Adam(ps, betas=0.9), "pair"),
        (lambda ps: Adam(ps, eps=-1e-8), "eps"),
        (lambda ps: SGD([{"params": ps, "momentun": 0.9}], lr=0.1), "unknown setting"),
    ],
)
def test_invalid_settings_are_rejected_with_the_name(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make([Tensor([1.0], requires_grad=True)])


def test_invalid_parameter_lists_are_rejected():
    p = Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD(iter(()), lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="leaf"):
        SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="not a Tensor"):
        SGD([np.zeros(2)], lr=0.1)
    opt = SGD([p], lr=0.1)
    p.grad = np.ones(3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"gradient shape \(3,\).*\(1,\)"):
        opt.step()
    with pytest.raises(NotImplementedError):
        Optimizer([p], dict(lr=0.1)).step()


def _general_sgd_step(opt: SGD) -> None:
    """SGD's general update (through `_gradients`), which `step()` bypasses for plain groups."""
    for group in opt.param_groups:
        for p, d_p in opt._gradients(group):
            p.data -= float(group["lr"]) * d_p


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_sgd_fast_path_equals_the_general_update_bit_for_bit(dtype):
    rng = np.random.default_rng(4)
    shapes = [(24, 784), (24,), (10, 24), (10,)]
    fast = [Tensor(rng.standard_normal(s), requires_grad=True, dtype=dtype) for s in shapes]
    slow = [Tensor(p.data.copy(), requires_grad=True, dtype=dtype) for p in fast]
    fast_opt, slow_opt = SGD(fast, lr=0.01), SGD(slow, lr=0.01)
    for step in range(3):
        for i, (a, b) in enumerate(zip(fast, slow)):
            # a float64 gradient on a float32 parameter is cast first; the last one is skipped once
            grad = None if (step, i) == (1, 3) else rng.standard_normal(a.shape)
            a.grad = b.grad = grad if grad is None else grad.astype(dtype if i else np.float64)
        fast_opt.step()
        _general_sgd_step(slow_opt)
        for a, b in zip(fast, slow):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a.data, b.data)


def test_plain_sgd_groups_skip_the_gradient_generator_and_others_use_it(monkeypatch):
    plain, heavy = Tensor([1.0, 2.0], requires_grad=True), Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([{"params": [plain]}, {"params": [heavy], "momentum": 0.9}], lr=0.5)
    seen = []
    general = SGD._gradients

    def spy(self, group):
        seen.extend(group["params"])
        return general(self, group)

    monkeypatch.setattr(SGD, "_gradients", spy)
    plain.grad = heavy.grad = np.array([1.0, -1.0], dtype=np.float32)
    opt.step()
    assert seen == [heavy]
    np.testing.assert_array_equal(plain.data, [0.5, 2.5])
    np.testing.assert_array_equal(heavy.data, [0.5, 2.5])  # momentum's first step is plain SGD


def test_plain_sgd_names_a_gradient_of_the_wrong_shape():
    p = Tensor([1.0], requires_grad=True)
    p.grad = np.ones(3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"SGD: gradient shape \(3,\) does not match parameter shape \(1,\)"):
        SGD([p], lr=0.1).step()
    np.testing.assert_array_equal(p.data, [1.0])
