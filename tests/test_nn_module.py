"""Module mechanics: registration, traversal and names, modes, repr, state_dict, seeding, Sequential."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mnist import Tensor, nn


class MLP(nn.Module):
    def __init__(self, rng=None, dtype=np.float32):
        super().__init__()
        gen = nn.init.get_generator(rng)
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(12, 5, rng=gen, dtype=dtype),
            nn.Sigmoid(),
            nn.Linear(5, 3, rng=gen, dtype=dtype),
        )
        self.scale = 2.0  # a plain attribute: not a parameter

    def forward(self, x):
        return self.layers(x) * self.scale


def test_parameters_and_dotted_names_follow_assignment_order():
    model = MLP(rng=0)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["layers.1.weight", "layers.1.bias", "layers.3.weight", "layers.3.bias"]
    assert [p.shape for p in model.parameters()] == [(5, 12), (5,), (3, 5), (3,)]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())
    assert model.layers[1].weight is dict(model.named_parameters())["layers.1.weight"]
    assert [name for name, _ in model.named_parameters(recurse=False)] == []


def test_named_modules_children_and_modules():
    model = MLP(rng=0)
    assert [name for name, _ in model.named_modules()] == [
        "",
        "layers",
        "layers.0",
        "layers.1",
        "layers.2",
        "layers.3",
    ]
    assert list(model.children()) == [model.layers]
    assert [type(m).__name__ for m in model.modules()] == [
        "MLP",
        "Sequential",
        "Flatten",
        "Linear",
        "Sigmoid",
        "Linear",
    ]
    assert [name for name, _ in model.named_modules(prefix="net")][:2] == ["net", "net.layers"]


def test_every_parameter_id_maps_to_a_name_for_the_graph_drawing():
    model = MLP(rng=0)
    names_by_id = {id(p): name for name, p in model.named_parameters()}
    x = Tensor(np.ones((2, 3, 4)))
    out = model(x).sum()
    from tinygrad_mnist import topological_order

    leaves = [t for t in topological_order(out) if t.is_leaf and t.requires_grad]
    assert sorted(names_by_id[id(t)] for t in leaves) == sorted(names_by_id.values())


def test_shared_module_and_parameter_are_listed_once():
    shared = nn.Linear(2, 2, rng=0)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert [name for name, _ in model.named_modules()] == ["", "0", "1"]


def test_reassigning_and_deleting_attributes_updates_the_registry():
    layer = nn.Linear(3, 2, rng=0)
    layer.bias = None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert layer.bias is None
    layer.extra = nn.Parameter(np.zeros(2))
    assert "extra" in dict(layer.named_parameters())
    del layer.extra
    assert "extra" not in dict(layer.named_parameters())
    with pytest.raises(AttributeError, match="no attribute 'extra'"):
        _ = layer.extra
    layer.weight = nn.Parameter(np.ones((2, 3)))
    assert np.array_equal(dict(layer.named_parameters())["weight"].data, np.ones((2, 3)))
    # A plain leaf tensor that requires grad is a parameter too (so nothing is silently left untrained).
    layer.other = Tensor([1.0], requires_grad=True)
    assert "other" in dict(layer.named_parameters())
    # A computed tensor (e.g. a cached activation) is not.
    layer.cached = layer.other * 2
    assert "cached" not in dict(layer.named_parameters())


def test_clear_errors_for_misuse():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()

    class Listed(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(2, 2), nn.Linear(2, 2)]

    with pytest.raises(TypeError, match="Sequential"):
        Listed()
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        layer.weight = Tensor(np.ones((2, 2)))
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


def test_train_eval_flags_reach_every_submodule():
    model = MLP(rng=0)
    assert model.training and all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    with pytest.raises(TypeError):
        model.train("no")


def test_zero_grad_clears_every_parameter():
    model = MLP(rng=0)
    model(np.ones((2, 12))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_repr_lists_layers_like_pytorch():
    assert repr(MLP(rng=0)) == (
        "MLP(\n"
        "  (layers): Sequential(\n"
        "    (0): Flatten(start_dim=1, end_dim=-1)\n"
        "    (1): Linear(in_features=12, out_features=5, bias=True)\n"
        "    (2): Sigmoid()\n"
        "    (3): Linear(in_features=5, out_features=3, bias=True)\n"
        "  )\n"
        ")"
    )
    assert repr(nn.Softmax(dim=0)) == "Softmax(dim=0)"
    assert repr(nn.Linear(2, 1, bias=False)) == "Linear(in_features=2, out_features=1, bias=False)"


def test_same_seed_gives_identical_parameters_bit_for_bit():
    def params(model):
        return [p.data for p in model.parameters()]

    a, b, c = MLP(rng=42), MLP(rng=np.random.default_rng(42)), MLP(rng=43)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(params(a), params(b)))
    assert not all(np.array_equal(x, y) for x, y in zip(params(a), params(c)))
    nn.manual_seed(7)
    d = MLP()
    nn.manual_seed(7)
    e = MLP()
    f = MLP()  # the default generator moved on
    assert all(x.tobytes() == y.tobytes() for x, y in zip(params(d), params(e)))
    assert not all(np.array_equal(x, y) for x, y in zip(params(e), params(f)))
    # float64 and float32 models from one seed hold the same numbers up to float32 rounding.
    g = MLP(rng=42, dtype=np.float64)
    assert all(
        y.dtype == np.float64 and np.array_equal(x, y.astype(np.float32))
        for x, y in zip(params(a), params(g))
    )


def test_manual_seed_rejects_non_integers():
    for bad in (1.5, "3", -1, True):
        with pytest.raises(TypeError, match="seed"):
            nn.manual_seed(bad)


def test_state_dict_round_trip_is_an_independent_copy():
    a, b = MLP(rng=1), MLP(rng=2)
    state = a.state_dict()
    assert list(state) == [name for name, _ in a.named_parameters()]
    state["layers.1.bias"][0] = 123.0  # editing the copy leaves the model alone
    assert a.layers[1].bias.data[0] != 123.0
    before = [id(p.data) for p in b.parameters()]
    result = b.load_state_dict(a.state_dict())
    assert result == nn.LoadResult([], [])
    assert [id(p.data) for p in b.parameters()] == before  # copied in place: optimisers keep their arrays
    x = np.random.default_rng(0).standard_normal((4, 12))
    assert np.array_equal(a(x).data, b(x).data)


def test_load_state_dict_names_missing_unexpected_and_misshaped_entries():
    model = MLP(rng=0)
    original = model.state_dict()
    state = model.state_dict()
    del state["layers.3.bias"]
    state["layers.9.weight"] = np.zeros(1)
    state["layers.1.weight"] = np.zeros((12, 5), dtype=np.float32)
    with pytest.raises(ValueError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "missing key(s): 'layers.3.bias'" in message
    assert "unexpected key(s): 'layers.9.weight'" in message
    assert "'layers.1.weight'" in message and "(12, 5)" in message and "(5, 12)" in message
    # Nothing was copied: a failed load leaves the model unchanged.
    assert all(np.array_equal(original[k], v) for k, v in model.state_dict().items())


def test_non_strict_load_reports_but_allows_missing_and_unexpected():
    model = MLP(rng=0)
    state = {"layers.1.bias": np.full(5, 3.0), "other": np.zeros(2)}
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["layers.1.weight", "layers.3.weight", "layers.3.bias"]
    assert result.unexpected_keys == ["other"]
    assert np.array_equal(model.layers[1].bias.data, np.full(5, 3.0, dtype=np.float32))
    assert model.layers[1].bias.dtype == np.float32  # loading keeps the parameter's dtype
    with pytest.raises(ValueError, match="size mismatch"):
        model.load_state_dict({"layers.1.bias": np.zeros(4)}, strict=False)


def test_sequential_indexing_slicing_iteration_and_append():
    layers = [nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head) == layers[1:]
    assert [name for name, _ in head.named_parameters()] == ["2.weight", "2.bias"]  # names kept, as PyTorch
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_array_equal(seq(x).data, head(seq[0](x)).data)
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    seq.append(nn.Softmax())
    assert len(seq) == 4 and isinstance(seq[3], nn.Softmax)
    with pytest.raises(IndexError, match="out of range"):
        seq[10]
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    named = nn.Sequential({"hidden": nn.Linear(2, 2), "act": nn.Tanh()})
    assert [name for name, _ in named.named_parameters()] == ["hidden.weight", "hidden.bias"]


def test_deepcopy_gives_an_independent_model():
    import copy

    model = MLP(rng=0)
    clone = copy.deepcopy(model)
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in model.named_parameters()]
    x = np.ones((2, 12))
    np.testing.assert_array_equal(clone(x).data, model(x).data)
    model.layers[1].weight.data += 1.0
    assert not np.array_equal(clone(x).data, model(x).data)


def test_replacing_a_layer_or_parameter_keeps_its_position():
    model = nn.Sequential({"fc1": nn.Linear(4, 3, rng=0), "act": nn.ReLU(), "fc2": nn.Linear(3, 2, rng=1)})
    model.fc1 = nn.Linear(4, 3, rng=2)
    assert [name for name, _ in model.named_children()] == ["fc1", "act", "fc2"]
    x = np.ones((1, 4), np.float32)
    expected = model.fc2(model.act(model.fc1(x)))
    np.testing.assert_array_equal(model(x).data, expected.data)  # fc1 still runs first
    layer = nn.Linear(2, 3, rng=0)
    layer.weight = nn.Parameter(np.zeros((3, 2), np.float32))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_calling_a_module_runs_its_forward_with_any_arguments():
    class Affine(nn.Module):
        def forward(self, x, scale=1.0, *, shift=0.0):
            return x * scale + shift

    m = Affine()
    assert callable(m) and m(2.0) == 2.0 and m(2.0, 3.0) == 6.0 and m(2.0, scale=3.0, shift=1.0) == 7.0
    m.forward = lambda x: -x  # an instance's own forward is the one called, as before
    assert m(2.0) == -2.0

    class Logged(Affine):
        def __call__(self, *args, **kwargs):  # a subclass may still wrap the call
            return ("logged", super().forward(*args, **kwargs))

    assert Logged()(2.0, 3.0) == ("logged", 6.0)
    assert nn.Sequential(Affine(), Logged())(1.0) == ("logged", 1.0)
    with pytest.raises(NotImplementedError, match="Bare must define forward"):
        type("Bare", (nn.Module,), {})()(1.0)


def test_append_after_slicing_adds_instead_of_replacing():
    a, b, c, d = (nn.Linear(2, 2, rng=i) for i in range(4))
    tail = nn.Sequential(a, b, c)[1:]
    tail.append(d)
    assert list(tail) == [b, c, d]
