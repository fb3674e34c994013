"""The CNN layers, AdamW, OneCycleLR, augmentation and the `cnn` model, and training it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinygrad_mnist import checkpoint, nn, optim
from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.data.augment import RandomAffine, RandomShift
from tinygrad_mnist.models import MnistCNN, build_model
from tinygrad_mnist.nn import functional as F


# ---------------------------------------------------------------------- layers
def test_conv2d_layer_has_pytorch_shapes_and_default_init():
    conv = nn.Conv2d(3, 8, 5, stride=2, padding=1, rng=0)
    assert conv.weight.shape == (8, 3, 5, 5) and conv.bias.shape == (8,)
    bound = 1 / math.sqrt(3 * 25)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.weight.data).max() > 0.9 * bound
    out = conv(np.zeros((2, 3, 11, 11), np.float32))
    assert out.shape == (2, 8, 5, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out.data, np.broadcast_to(conv.bias.data[:, None, None], (2, 8, 5, 5)))
    assert nn.Conv2d(1, 2, 3, bias=False).bias is None
    with pytest.raises(ValueError, match=r"expected \(batch, 3, height, width\)"):
        conv(np.zeros((2, 1, 11, 11), np.float32))


def test_pooling_layers_default_stride_is_the_kernel():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).data, [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(nn.AvgPool2d(2)(x).data, [[[[2.5, 4.5], [10.5, 12.5]]]])
    with pytest.raises(ValueError, match="kernel_size"):
        nn.MaxPool2d(0)


def test_flatten_merges_channels_and_pixels_of_nchw():
    x = Tensor(np.arange(24.0).reshape(2, 3, 2, 2))
    assert nn.Flatten()(x).shape == (2, 12)
    np.testing.assert_array_equal(nn.Flatten()(x).data[1], np.arange(12.0, 24.0))


def test_dropout_is_inverted_seeded_and_off_in_eval():
    x = np.ones((200, 50), np.float32)
    drop = nn.Dropout(0.3, rng=5)
    out = drop(x).data
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((out == 0).mean() - 0.3) < 0.02 and abs(out.mean() - 1) < 0.03
    np.testing.assert_array_equal(nn.Dropout(0.3, rng=5)(x).data, out)  # the seed fixes the mask
    assert not np.array_equal(drop(x).data, out)  # a new mask each call
    assert drop.eval()(x).data is not None and np.array_equal(drop(x).data, x)
    t = Tensor(x, requires_grad=True)
    masked = F.dropout(t, 0.5, generator=np.random.default_rng(0))
    masked.sum().backward()
    np.testing.assert_array_equal(t.grad, masked.data)  # gradient: the same scaled mask
    for p in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match="probability"):
            nn.Dropout(p)


def test_batchnorm2d_normalises_in_training_and_tracks_pytorch_running_stats():
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(3, momentum=0.2)
    x = (rng.standard_normal((4, 3, 5, 5)) * 3 + 2).astype(np.float32)
    out = bn(x).data
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-3)
    batch_var = x.var(axis=(0, 2, 3), ddof=1)  # unbiased, as PyTorch keeps it
    np.testing.assert_allclose(bn.running_mean.data, 0.2 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data, 0.8 + 0.2 * batch_var, rtol=1e-5)
    assert int(bn.num_batches_tracked.data) == 1
    bn.eval()
    y = bn(x).data
    expected = (x - bn.running_mean.data[:, None, None]) / np.sqrt(bn.running_var.data[:, None, None] + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    assert int(bn.num_batches_tracked.data) == 1  # eval does not count


def test_batchnorm_momentum_none_is_the_cumulative_average():
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [rng.standard_normal((8, 2)).astype(np.float32) for _ in range(3)]
    for b in batches:
        bn(b)
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-5)


def test_batchnorm_eval_gradients_flow_to_input_and_affine_parameters():
    bn = nn.BatchNorm1d(3, dtype=np.float64).eval()
    bn.running_mean.data[:] = [1.0, 2.0, 3.0]
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True, dtype=np.float64)
    bn(x).sum().backward()
    np.testing.assert_allclose(x.grad, np.broadcast_to(1 / np.sqrt(1 + 1e-5), (4, 3)))
    np.testing.assert_allclose(bn.bias.grad, [4.0, 4.0, 4.0])


def test_batchnorm_checks_its_input():
    with pytest.raises(ValueError, match=r"4-D with 3 channels"):
        nn.BatchNorm2d(3)(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="more than one value"):
        nn.BatchNorm1d(3)(np.zeros((1, 3), np.float32))


def test_buffers_are_in_state_dict_and_checkpoints_but_not_trained(tmp_path):
    model = build_model("cnn", seed=0)
    names = dict(model.named_parameters())
    state = model.state_dict()
    for buffer in ("bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked", "bn2.running_var"):
        assert buffer in state and buffer not in names
    model(np.random.default_rng(0).random((8, 784), dtype=np.float32))  # training: stats move
    checkpoint.save(model, tmp_path / "cnn.npz")
    fresh = build_model("cnn", seed=1)
    checkpoint.load_into(fresh, tmp_path / "cnn.npz")
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[name], value)
    assert int(fresh.bn1.num_batches_tracked.data) == 1
    with pytest.raises(ValueError, match="bn1.running_mean"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "bn1.running_mean"})


def test_register_buffer_rules():
    m = nn.Module()
    m.register_buffer("stat", np.zeros(3))
    m.stat = np.ones(3)  # reassigning keeps it a buffer
    assert list(m.state_dict()) == ["stat"] and list(m.parameters()) == []
    with pytest.raises(ValueError, match="not trained"):
        m.stat = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match="expected a Tensor"):
        m.register_buffer("other", [1, 2])


# ---------------------------------------------------------------------- optimisers and schedules
def test_adamw_decays_weights_apart_from_the_adam_step():
    p = Tensor(np.array([1.0, -2.0]), requires_grad=True, dtype=np.float64)
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = np.array([0.3, 0.3])
    opt.step()
    # step 1: p * (1 - lr * wd), then Adam's bias-corrected m / sqrt(v) = sign(g) -> minus lr
    np.testing.assert_allclose(p.data, np.array([1.0, -2.0]) * 0.95 - 0.1 * 0.3 / (0.3 + 1e-8), rtol=1e-12)
    q = Tensor(np.array([1.0, -2.0]), requires_grad=True, dtype=np.float64)
    adam = optim.Adam([q], lr=0.1, weight_decay=0.5)
    q.grad = np.array([0.3, 0.3])
    adam.step()
    assert not np.allclose(q.data, p.data)  # Adam's L2 decay is a different update


def one_cycle_lrs(total: int, **kwargs) -> tuple[list[float], list[float]]:
    p = Tensor(np.zeros(1), requires_grad=True)
    opt = optim.AdamW([p], lr=1.0)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total, **kwargs)
    lrs, betas = [opt.param_groups[0]["lr"]], [opt.param_groups[0]["betas"][0]]
    for _ in range(total - 1):
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        betas.append(opt.param_groups[0]["betas"][0])
    sched.step()  # after the last batch, as a training loop does
    with pytest.raises(ValueError, match="total_steps"):
        sched.step()
    return lrs, betas


def test_one_cycle_warms_up_then_anneals_with_momentum_mirrored():
    lrs, betas = one_cycle_lrs(100)
    assert lrs[0] == pytest.approx(0.1 / 25) and max(lrs) == pytest.approx(0.1)
    assert int(np.argmax(lrs)) == 29  # the end of the first 30%
    assert lrs[-1] == pytest.approx(0.1 / 25 / 1e4)
    assert (
        betas[0] == pytest.approx(0.95)
        and betas[29] == pytest.approx(0.85)
        and betas[-1] == pytest.approx(0.95)
    )
    linear, _ = one_cycle_lrs(10, anneal_strategy="linear", cycle_momentum=False)
    assert linear[1] == pytest.approx((0.1 - 0.004) / 2 + 0.004)


def test_one_cycle_matches_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    ours, our_betas = one_cycle_lrs(50, pct_start=0.25)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=50, pct_start=0.25)
    theirs, their_betas = [opt.param_groups[0]["lr"]], [opt.param_groups[0]["betas"][0]]
    for _ in range(49):
        opt.step()
        sched.step()
        theirs.append(opt.param_groups[0]["lr"])
        their_betas.append(opt.param_groups[0]["betas"][0])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    np.testing.assert_allclose(our_betas, their_betas, rtol=1e-12)


def test_one_cycle_checks_its_arguments():
    opt = optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="epochs and steps_per_epoch"):
        optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="pct_start"):
        optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.5)


# ---------------------------------------------------------------------- augmentation
def test_augmentations_are_seeded_shape_keeping_and_do_not_touch_the_input():
    images = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    before = images.copy()
    for make in (lambda: RandomShift(2, seed=3), lambda: RandomAffine(seed=3)):
        a, b = make()(images), make()(images)
        assert a.shape == images.shape and a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, images)
    np.testing.assert_array_equal(images, before)


def test_identity_affine_and_a_known_shift():
    images = np.random.default_rng(1).random((3, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(RandomAffine(0, 0, (1, 1))(images), images, atol=1e-6)
    one = np.zeros((1, 28, 28), np.float32)
    one[0, 10, 10] = 1
    shifted = RandomShift(3, seed=0)(one)
    (r,), (c,) = np.nonzero(shifted[0])[0], np.nonzero(shifted[0])[1]
    assert max(abs(r - 10), abs(c - 10)) <= 3 and shifted.sum() == 1


def test_augment_rejects_bad_input():
    with pytest.raises(ValueError, match="28x28"):
        RandomShift()(np.zeros((2, 100), np.float32))
    with pytest.raises(TypeError, match="float"):
        RandomAffine()(np.zeros((2, 784), np.uint8))


# ---------------------------------------------------------------------- the model
def test_cnn_shapes_names_and_modes():
    model = build_model("cnn", seed=0)
    assert isinstance(model, MnistCNN)
    assert sum(p.size for p in model.parameters()) == 207_226
    assert model.conv1.weight.shape == (16, 1, 5, 5) and model.conv2.weight.shape == (32, 16, 3, 3)
    images = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    model.eval()  # no dropout, running statistics: the layout of the input doesn't matter
    flat, square = model(images.reshape(3, 784)), model(images[:, None])
    assert flat.shape == (3, 10)
    np.testing.assert_allclose(flat.data, square.data, rtol=1e-6)
    with pytest.raises(ValueError, match="28x28"):
        model(np.zeros((2, 100), np.float32))


def test_cnn_quick_training_learns(mnist_dir):
    """The quick mode of the cnn recipe: 4,000 images, one epoch, well above chance."""
    from tinygrad_mnist.recipes import get_recipe, make_loss, make_optimizer, make_scheduler, mnist_arrays
    from tinygrad_mnist.train import fit

    x, y, xt, yt = mnist_arrays(mnist_dir, 4000, 1000, download=False)
    recipe = get_recipe("cnn")
    nn.manual_seed(0)
    model = build_model("cnn", seed=0)
    opt = make_optimizer(recipe.optimizer, model.parameters(), recipe.lr)
    history = fit(
        model, opt, make_loss(recipe.loss), x, y, epochs=1, batch_size=recipe.batch_size, test=(xt, yt),
        scheduler=make_scheduler(recipe.lr_schedule, opt, 1, -(-len(y) // recipe.batch_size), recipe.pct_start),
        log=None,
    )  # fmt: skip
    assert history[-1].test_accuracy > 0.85


@pytest.mark.slow
def test_cnn_recipe_reaches_99_2_percent(mnist_dir, tmp_path):
    from clitools import run_cli

    result = run_cli(
        "train", "--model", "cnn", "--no-progress", "--save", str(tmp_path / "cnn.npz"), data=mnist_dir
    )
    assert result.returncode == 0, result.stderr
    accuracy = float(result.stdout.rsplit("test accuracy ", 1)[1].split("%")[0])
    assert accuracy >= 99.2, result.stdout


# ---------------------------------------------------------------------- tools: plot, graph, command line
def test_plot_draws_the_first_conv_filters(tmp_path):
    pytest.importorskip("matplotlib")
    from tinygrad_mnist import plots

    model = build_model("cnn", seed=0)
    assert plots.first_layer_is_conv(model) and not plots.first_layer_is_conv(build_model("mlp"))
    written = plots.write_figures(model, tmp_path, which=["weights"])
    assert written["weights"].stat().st_size > 1000
    fig = plots.plot_filters(model)
    assert "16 filters" in fig.texts[0].get_text()
    with pytest.raises(ValueError, match="no Conv2d"):
        plots.plot_filters(build_model("mlp"))


def test_graph_of_the_cnn_frames_each_layer(tmp_path):
    from clitools import run_cli

    out = tmp_path / "cnn.dot"
    result = run_cli("graph", "--model", "cnn", "--cluster", "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    for cluster in (
        "conv1 (Conv2d)",
        "bn1 (BatchNorm2d)",
        "conv2 (Conv2d)",
        "bn2 (BatchNorm2d)",
        "fc1 (Linear)",
    ):
        assert cluster in text
    assert "conv2d" in text and "max_pool2d" in text and "batch_norm" in text


def test_train_cli_runs_the_cnn_recipe_with_augmentation(mnist_dir, tmp_path):
    from clitools import run_cli

    result = run_cli(
        "train", "--model", "cnn", "--epochs", "1", "--train-size", "512", "--test-size", "200",
        "--augment", "--no-progress", "--save", str(tmp_path / "cnn.npz"), data=mnist_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "adamw lr 0.01 (onecycle)" in result.stdout and "augmented" in result.stdout
    ckpt = checkpoint.load(tmp_path / "cnn.npz")
    assert "bn2.running_var" in ckpt.state_dict and ckpt.metadata["augment"] is True
