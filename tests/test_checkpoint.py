"""Checkpoints: exact round trips, and a clear CheckpointError naming the file for every bad file."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from tinygrad_mnist import checkpoint, nn
from tinygrad_mnist.checkpoint import CheckpointError


def make_model(seed: int = 0, hidden: int = 5, dtype=np.float32) -> nn.Module:
    gen = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(6, hidden, rng=gen, dtype=dtype),
        nn.Sigmoid(),
        nn.Linear(hidden, 3, rng=gen, dtype=dtype),
    )


X = np.random.default_rng(9).standard_normal((4, 2, 3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_gives_identical_outputs_metadata_and_architecture(tmp_path: Path, dtype):
    model, other = make_model(0, dtype=dtype), make_model(1, dtype=dtype)
    path = checkpoint.save(
        model, tmp_path / "mlp.npz", metadata={"model": "mlp", "layers": [6, 5, 3], "epoch": 2}
    )
    ckpt = checkpoint.load_into(other, path)
    assert other(X).data.tobytes() == model(X).data.tobytes()
    assert ckpt.metadata == {"model": "mlp", "layers": [6, 5, 3], "epoch": 2}
    assert ckpt.architecture == repr(model) and ckpt.format_version == checkpoint.FORMAT_VERSION
    assert ckpt.path == path
    loaded = checkpoint.load(path).state_dict
    assert list(loaded) == list(model.state_dict())
    assert all(
        loaded[k].dtype == dtype and np.array_equal(loaded[k], v) for k, v in model.state_dict().items()
    )


def test_a_plain_state_dict_can_be_saved_and_any_names_work(tmp_path: Path):
    state = {"file": np.arange(3), "allow_pickle": np.ones((2, 2), dtype=np.float32), "a.b/c": np.zeros(0)}
    checkpoint.save(state, tmp_path / "s.npz")
    ckpt = checkpoint.load(tmp_path / "s.npz")
    assert ckpt.architecture is None and ckpt.metadata == {}
    assert set(ckpt.state_dict) == set(state)
    assert all(
        np.array_equal(ckpt.state_dict[k], v) and ckpt.state_dict[k].dtype == v.dtype
        for k, v in state.items()
    )


def test_saved_file_has_ordinary_permissions(tmp_path: Path):
    checkpoint.save(make_model(), tmp_path / "m.npz")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o666 & ~umask


def test_overwriting_replaces_the_previous_checkpoint(tmp_path: Path):
    path = tmp_path / "m.npz"
    checkpoint.save(make_model(0), path)
    checkpoint.save(make_model(1), path)
    other = make_model(2)
    checkpoint.load_into(other, path)
    assert np.array_equal(other(X).data, make_model(1)(X).data)
    assert os.listdir(tmp_path) == ["m.npz"]


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_interrupted_save_keeps_the_previous_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch, error):
    path = tmp_path / "m.npz"
    checkpoint.save(make_model(0), path)
    real_write = checkpoint._write_npz

    def crash_midway(f, arrays):
        real_write(f, dict(list(arrays.items())[:1]))  # some bytes really reach the temporary file
        assert f.tell() > 0
        raise error

    monkeypatch.setattr(checkpoint, "_write_npz", crash_midway)
    with pytest.raises(type(error)):
        checkpoint.save(make_model(1), path)
    assert os.listdir(tmp_path) == ["m.npz"]
    monkeypatch.undo()
    restored = make_model(5)
    checkpoint.load_into(restored, path)
    assert np.array_equal(restored(X).data, make_model(0)(X).data)


def _saved_bytes(tmp_path: Path) -> bytes:
    checkpoint.save(make_model(), tmp_path / "good.npz", metadata={"model": "mlp"})
    return (tmp_path / "good.npz").read_bytes()


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_a_clear_error(tmp_path: Path, keep):
    data = _saved_bytes(tmp_path)
    bad = tmp_path / "cut.npz"
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=r"cut\.npz.*(corrupt|truncated)"):
        checkpoint.load(bad)


def test_flipped_byte_inside_an_array_is_caught_by_the_zip_checksum(tmp_path: Path):
    data = bytearray(_saved_bytes(tmp_path))
    offset = bytes(data).find(make_model().state_dict()["1.weight"].tobytes())
    assert offset > 0  # stored uncompressed: the raw float bytes are in the file
    data[offset + 8] ^= 0xFF  # a value inside the float data of "1.weight"
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"flipped\.npz.*corrupt"):
        checkpoint.load(bad)


def test_files_that_are_not_npz_are_clear_errors(tmp_path: Path):
    cases = {
        "empty.npz": b"",
        "text.npz": b"hello, this is not a checkpoint",
        "pickled.npz": pickle.dumps({"weights": [1.0, 2.0]}),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(CheckpointError, match=r"empty\.npz.*empty"):
        checkpoint.load(tmp_path / "empty.npz")
    with pytest.raises(CheckpointError, match=r"text\.npz.*not an \.npz"):
        checkpoint.load(tmp_path / "text.npz")
    with pytest.raises(CheckpointError, match=r"pickled\.npz.*pickle"):
        checkpoint.load(tmp_path / "pickled.npz")
    with pytest.raises(FileNotFoundError):
        checkpoint.load(tmp_path / "missing.npz")


def test_pickled_objects_are_never_loaded(tmp_path: Path):
    evil = np.array([{"run": "code"}], dtype=object)
    np.save(tmp_path / "object.npy", evil, allow_pickle=True)
    os.replace(tmp_path / "object.npy", tmp_path / "object.npz")
    np.savez(tmp_path / "member.npz", weights=evil)
    with pytest.raises(CheckpointError, match=r"object\.npz.*\.npy"):
        checkpoint.load(tmp_path / "object.npz")
    with pytest.raises(CheckpointError, match=r"member\.npz.*pickled Python objects"):
        checkpoint.load(tmp_path / "member.npz")


def test_npz_without_our_metadata_is_a_clear_error(tmp_path: Path):
    np.savez(tmp_path / "foreign.npz", **make_model().state_dict())
    with pytest.raises(CheckpointError, match=r"foreign\.npz.*not a tinygrad_mnist checkpoint.*1\.weight"):
        checkpoint.load(tmp_path / "foreign.npz")


def _write_raw(path: Path, arrays: dict, header: dict | str) -> None:
    text = header if isinstance(header, str) else json.dumps(header)
    arrays = {**arrays, checkpoint.METADATA_KEY: np.frombuffer(text.encode(), dtype=np.uint8)}
    with open(path, "wb") as f:
        checkpoint._write_npz(f, arrays)


def test_damaged_metadata_or_manifest_is_a_clear_error(tmp_path: Path):
    state = make_model().state_dict()
    good = {
        "format": checkpoint.FORMAT_NAME,
        "format_version": 1,
        "architecture": None,
        "metadata": {},
        "tensors": {k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in state.items()},
    }
    _write_raw(tmp_path / "ok.npz", state, good)
    assert set(checkpoint.load(tmp_path / "ok.npz").state_dict) == set(state)

    dropped = dict(state)
    del dropped["3.bias"]
    _write_raw(tmp_path / "dropped.npz", dropped, good)
    with pytest.raises(CheckpointError, match=r"dropped\.npz.*missing: \['3\.bias'\]"):
        checkpoint.load(tmp_path / "dropped.npz")

    reshaped = {**state, "3.bias": np.zeros(4, dtype=np.float32)}
    _write_raw(tmp_path / "reshaped.npz", reshaped, good)
    with pytest.raises(CheckpointError, match=r"reshaped\.npz.*'3\.bias'.*\(4,\).*\(3,\)"):
        checkpoint.load(tmp_path / "reshaped.npz")

    _write_raw(tmp_path / "json.npz", state, "{not json")
    with pytest.raises(CheckpointError, match=r"json\.npz.*metadata entry is unreadable"):
        checkpoint.load(tmp_path / "json.npz")

    _write_raw(tmp_path / "other.npz", state, {**good, "format": "something.else"})
    with pytest.raises(CheckpointError, match=r"other\.npz.*format name"):
        checkpoint.load(tmp_path / "other.npz")

    _write_raw(tmp_path / "future.npz", state, {**good, "format_version": 99})
    with pytest.raises(CheckpointError, match=r"future\.npz.*format 99.*upgrade"):
        checkpoint.load(tmp_path / "future.npz")


def test_loading_into_a_model_with_missing_keys_or_wrong_shapes(tmp_path: Path):
    path = checkpoint.save(make_model(0), tmp_path / "m.npz")
    wider = make_model(1, hidden=7)
    before = wider.state_dict()
    with pytest.raises(CheckpointError, match=r"m\.npz.*different architecture"):
        checkpoint.load_into(wider, path)
    with pytest.raises(CheckpointError, match=r"(?s)m\.npz.*'1\.weight'.*\(5, 6\).*\(7, 6\)"):
        checkpoint.load_into(wider, path, check_architecture=False)
    assert all(np.array_equal(before[k], v) for k, v in wider.state_dict().items())  # unchanged

    partial = make_model(0).state_dict()
    del partial["3.bias"]
    checkpoint.save(partial, tmp_path / "partial.npz")
    with pytest.raises(CheckpointError, match=r"(?s)partial\.npz.*missing key\(s\): '3\.bias'"):
        checkpoint.load_into(make_model(1), tmp_path / "partial.npz")
    result_model = make_model(1)
    checkpoint.load_into(result_model, tmp_path / "partial.npz", strict=False)
    assert np.array_equal(result_model[1].weight.data, make_model(0)[1].weight.data)


def test_architecture_check_catches_same_shapes_different_model(tmp_path: Path):
    path = checkpoint.save(make_model(0), tmp_path / "sigmoid.npz")
    relu = make_model(0)
    relu.add_module("2", nn.ReLU())  # same parameter shapes, different function
    with pytest.raises(CheckpointError, match=r"Sigmoid\(\)(.|\n)*ReLU\(\)"):
        checkpoint.load_into(relu, path)
    checkpoint.load_into(relu, path, check_architecture=False)


def test_save_rejects_what_it_cannot_store(tmp_path: Path):
    with pytest.raises(TypeError, match="JSON"):
        checkpoint.save(make_model(), tmp_path / "m.npz", metadata={"when": object()})
    with pytest.raises(TypeError, match="dict"):
        checkpoint.save(make_model(), tmp_path / "m.npz", metadata=["not", "a", "dict"])
    with pytest.raises(TypeError, match="'w'.*dtype object"):
        checkpoint.save({"w": np.array([None])}, tmp_path / "m.npz")
    with pytest.raises(ValueError, match="__meta"):
        checkpoint.save({"__meta": np.zeros(1)}, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="Module or a state dict"):
        checkpoint.save([np.zeros(1)], tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []
