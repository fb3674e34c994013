"""The model registry: every named architecture builds with the documented sizes, seeds reproduce."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mnist import Tensor, nn
from tinygrad_mnist.models import MODELS, build_model, mlp_from_sizes

# name: (layer sizes, activation, activation after the output layer too, parameter count)
EXPECTED = {
    "mlp": ([784, 256, 256, 10], nn.ReLU, False, 269_322),
    "mlp-128": ([784, 128, 10], nn.ReLU, False, 101_770),
    "sigmoid-24": ([784, 24, 10], nn.Sigmoid, True, 19_090),
    "sigmoid-16-16": ([784, 16, 16, 10], nn.Sigmoid, True, 13_002),
    "relu-10": ([784, 10, 10], nn.ReLU, False, 7_960),
}


def test_registry_lists_exactly_the_documented_models():
    assert list(MODELS) == [*EXPECTED, "cnn"]  # the cnn: tests/test_cnn.py


@pytest.mark.parametrize("name", list(EXPECTED))
def test_architecture(name):
    sizes, activation, activate_output, n_params = EXPECTED[name]
    model = build_model(name)
    assert isinstance(model, nn.Module)
    params = dict(model.named_parameters())
    assert sum(p.size for p in params.values()) == n_params
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        assert params[f"fc{i}.weight"].shape == (fan_out, fan_in)
        assert params[f"fc{i}.bias"].shape == (fan_out,)
    modules = dict(model.named_modules())
    n_act = len(sizes) - 2 + activate_output
    assert [type(modules[f"act{i}"]) for i in range(1, n_act + 1)] == [activation] * n_act
    assert f"act{n_act + 1}" not in modules
    out = model(Tensor(np.full((2, 784), 3.0, np.float32))).data
    if activate_output:
        assert ((out > 0) & (out < 1)).all()  # sigmoid activations
    else:
        assert out.min() < 0  # logits: softmax is in the loss


@pytest.mark.parametrize("name", list(EXPECTED))
def test_forward_gives_logits_for_flat_and_square_images(name):
    model = build_model(name)
    images = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    flat = model(Tensor(images.reshape(3, 784)))
    square = model(Tensor(images))
    assert flat.shape == (3, 10) and flat.dtype == np.float32
    np.testing.assert_array_equal(flat.data, square.data)


def test_seed_fixes_the_weights():
    a, b, c = (
        build_model("sigmoid-24", seed=3),
        build_model("sigmoid-24", seed=3),
        build_model("sigmoid-24", seed=4),
    )
    for (name, pa), (_, pb), (_, pc) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=name)
        assert not np.array_equal(pa.data, pc.data), name


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'mlp-9000'.*mlp, mlp-128, sigmoid-24"):
        build_model("mlp-9000")


def test_mlp_from_sizes_checks_its_arguments():
    with pytest.raises(ValueError, match="layer sizes"):
        mlp_from_sizes([784])
    with pytest.raises(ValueError, match="layer sizes"):
        mlp_from_sizes([784, 0, 10])
    with pytest.raises(ValueError, match="activation"):
        mlp_from_sizes([784, 10], "swish")
    model = mlp_from_sizes([4, 3, 2], "sigmoid", seed=1)
    assert model(Tensor(np.ones((5, 4), np.float32))).shape == (5, 2)
    assert [name for name, _ in model.named_children()] == ["flatten", "fc1", "act1", "fc2"]
    activated = mlp_from_sizes([4, 3, 2], "sigmoid", seed=1, activate_output=True)
    assert [name for name, _ in activated.named_children()][-1] == "act2"


def test_load_trained_model_rebuilds_the_named_architecture(tmp_path):
    import numpy as np
    import pytest

    from tinygrad_mnist.checkpoint import CheckpointError, save
    from tinygrad_mnist.models import build_model, load_trained_model

    model = build_model("relu-10", seed=3)
    save(model, tmp_path / "m.npz", metadata={"model": "relu-10"})
    restored, metadata = load_trained_model(tmp_path / "m.npz")
    assert metadata["model"] == "relu-10" and not restored.training
    x = np.random.default_rng(0).random((2, 784), dtype=np.float32)
    np.testing.assert_array_equal(restored(x).data, model(x).data)
    save(model.state_dict(), tmp_path / "anonymous.npz")  # no layer description, no name
    with pytest.raises(CheckpointError, match="names no known model"):
        load_trained_model(tmp_path / "anonymous.npz")
