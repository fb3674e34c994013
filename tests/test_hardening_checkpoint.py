"""Issue 15 items 1, 2 and 10 (.npy header), and issue 18 item 5: checkpoints from anyone are safe to load.

Crafted files are loaded in a subprocess under an address-space limit (RLIMIT_AS) of the
interpreter's own size plus a small multiple of the file's: a loader that believed a size the file
declares would hit MemoryError there instead of a clean CheckpointError.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from clitools import ROOT, assert_one_line_error, run_cli

from tinygrad_mnist import checkpoint, nn
from tinygrad_mnist.checkpoint import CheckpointError
from tinygrad_mnist.models import load_trained_model


def hand_built(seed: int = 0) -> nn.Sequential:
    nn.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.Sigmoid(), nn.Linear(16, 10))


X = np.random.default_rng(0).random((3, 784), dtype=np.float32)


def npy_bytes(header: str, body: bytes = b"") -> bytes:
    text = header.encode("latin1")
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + body


def our_header(**changes) -> bytes:
    header = {"format": checkpoint.FORMAT_NAME, "format_version": 2, "architecture": None, "layers": None}
    header |= {"metadata": {}, "tensors": {}} | changes
    array = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return npy_bytes(
        f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({array.size},), }}", array.tobytes()
    )


def write_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def safetensors_bytes(header: dict, data: bytes = b"") -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


# --------------------------------------------------------------------------- format and interop
def test_safetensors_is_the_default_layout_and_round_trips(tmp_path: Path):
    model = hand_built(1)
    path = checkpoint.save(model, tmp_path / "m.safetensors", metadata={"model": "mine", "epoch": 2})
    (length,) = struct.unpack("<Q", path.read_bytes()[:8])
    assert path.read_bytes()[8:9] == b"{" and (8 + length) % 8 == 0
    ckpt = checkpoint.load(path)
    assert ckpt.metadata == {"model": "mine", "epoch": 2} and ckpt.format_version == 2
    assert ckpt.layers["type"] == "Sequential" and ckpt.architecture == repr(model)
    restored = hand_built(5)
    checkpoint.load_into(restored, path)
    np.testing.assert_array_equal(restored(X).data, model(X).data)
    other = checkpoint.save({"i": np.arange(5, dtype=np.int64), "b": np.array([True])}, tmp_path / "s")
    assert checkpoint.load(other).state_dict["i"].tolist() == [0, 1, 2, 3, 4]


def test_the_safetensors_package_reads_our_files_and_we_read_its_files(tmp_path: Path):
    st = pytest.importorskip("safetensors.numpy")
    model = hand_built(2)
    path = checkpoint.save(model, tmp_path / "m.safetensors", metadata={"epoch": 1})
    theirs = st.load_file(str(path))
    assert set(theirs) == set(model.state_dict())
    assert all(np.array_equal(theirs[k], v) for k, v in model.state_dict().items())
    header = json.dumps({"format": checkpoint.FORMAT_NAME, "format_version": 2, "metadata": {"by": "them"}})
    st.save_file(
        model.state_dict(), str(tmp_path / "theirs.safetensors"), metadata={"tinygrad_mnist": header}
    )
    ckpt = checkpoint.load(tmp_path / "theirs.safetensors")
    assert ckpt.metadata == {"by": "them"}
    restored = hand_built(7)
    checkpoint.load_into(restored, ckpt)
    np.testing.assert_array_equal(restored(X).data, model(X).data)


# --------------------------------------------------------------------------- item 1: memory bombs
def _crafted_files(folder: Path) -> dict[str, Path]:
    """Small files whose declared sizes are huge: each must be refused without the allocation."""
    files = {}
    zeros = bytes(64 << 20)  # 64 MiB of zeros deflate to ~64 KB
    files["zip_bomb"] = write_zip(
        folder / "bomb.npz",
        {"w.npy": npy_bytes(f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({len(zeros) // 4},), }}", zeros),
         checkpoint.METADATA_KEY + ".npy": our_header()},
        zipfile.ZIP_DEFLATED,
    )  # fmt: skip
    files["npy_4tib"] = write_zip(
        folder / "huge_shape.npz",
        {"w.npy": npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }", bytes(34_000)),
         checkpoint.METADATA_KEY + ".npy": our_header()},
    )  # fmt: skip
    meta = {"tinygrad_mnist": json.dumps({"format": checkpoint.FORMAT_NAME, "format_version": 2})}
    files["st_shape"] = folder / "huge.safetensors"
    files["st_shape"].write_bytes(
        safetensors_bytes(
            {"__metadata__": meta, "w": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 2**42]}},
            bytes(34_000),
        )
    )
    files["st_header"] = folder / "header.safetensors"
    files["st_header"].write_bytes(struct.pack("<Q", 2**60) + b"{" + bytes(34_000))
    return files


def test_crafted_files_are_refused_within_a_small_multiple_of_their_size(tmp_path: Path):
    files = _crafted_files(tmp_path)
    assert max(p.stat().st_size for p in files.values()) < 2 << 20  # all small files
    from tinygrad_mnist.models import build_model

    good = {"good_npz": tmp_path / "good.npz", "good_st": tmp_path / "good.safetensors"}
    for path in good.values():
        checkpoint.save(build_model("mlp"), path)  # 1 MB of weights: loads under the same limit
    script = textwrap.dedent(
        """
        import json, resource, sys
        from tinygrad_mnist import checkpoint
        def vm_size():
            for line in open("/proc/self/status"):
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
        results = {}
        for name, path in json.loads(sys.argv[1]).items():
            size = __import__("os").path.getsize(path)
            limit = vm_size() + 64 * 2**20 + 4 * size  # the interpreter, plus a small multiple of the file
            resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
            try:
                checkpoint.load(path)
                results[name] = "loaded"
            except checkpoint.CheckpointError as error:
                results[name] = "refused: " + str(error)
            except MemoryError:
                results[name] = "MemoryError"
            resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        print(json.dumps(results))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    paths = json.dumps({k: str(v) for k, v in (files | good).items()})
    result = subprocess.run(
        [sys.executable, "-c", script, paths], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert results.pop("good_npz") == results.pop("good_st") == "loaded"
    for name, outcome in results.items():
        assert outcome.startswith("refused: "), (name, outcome)
    assert "compressed" in results["zip_bomb"]
    assert "1099511627776" in results["npy_4tib"] and "huge_shape.npz" in results["npy_4tib"]
    assert "byte range" in results["st_shape"]
    assert "header claims" in results["st_header"]


def test_truncated_and_gapped_safetensors_are_clear_errors(tmp_path: Path):
    path = checkpoint.save(hand_built(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    for keep in (0.3, 0.9, 0.999):
        (tmp_path / "cut.safetensors").write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(CheckpointError, match=r"cut\.safetensors.*(truncated|corrupt)"):
            checkpoint.load(tmp_path / "cut.safetensors")
    (tmp_path / "long.safetensors").write_bytes(data + b"junk")
    with pytest.raises(CheckpointError, match=r"long\.safetensors.*need \d+ bytes of data, the file holds"):
        checkpoint.load(tmp_path / "long.safetensors")
    meta = {"tinygrad_mnist": json.dumps({"format": checkpoint.FORMAT_NAME, "format_version": 2})}
    overlap = {
        "__metadata__": meta,
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }
    (tmp_path / "overlap.safetensors").write_bytes(safetensors_bytes(overlap, bytes(12)))
    with pytest.raises(CheckpointError, match=r"overlap\.safetensors.*'b' starts at byte 4"):
        checkpoint.load(tmp_path / "overlap.safetensors")
    foreign = {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    (tmp_path / "foreign.safetensors").write_bytes(safetensors_bytes(foreign, bytes(4)))
    with pytest.raises(CheckpointError, match=r"foreign\.safetensors.*not a tinygrad_mnist checkpoint.*w"):
        checkpoint.load(tmp_path / "foreign.safetensors")


# --------------------------------------------------------------------------- item 2: malformed metadata
def test_malformed_metadata_in_the_cli_is_one_line_naming_the_file(tmp_path: Path):
    model = hand_built()
    checkpoint.save(model.state_dict(), tmp_path / "list.npz", metadata={"model": ["relu-10"]})
    assert_one_line_error(run_cli("eval", "--checkpoint", str(tmp_path / "list.npz")), "list.npz", "'model'")
    checkpoint.save(model, tmp_path / "loss.npz", metadata={"loss": {"name": "cross_entropy"}})
    assert_one_line_error(run_cli("eval", "--checkpoint", str(tmp_path / "loss.npz")), "loss.npz", "'loss'")


def test_malformed_headers_are_checkpoint_errors_not_tracebacks(tmp_path: Path):
    cases = {
        "suffix.npz": {"w": b"raw bytes, no .npy suffix", checkpoint.METADATA_KEY + ".npy": our_header()},
        "list.npz": {checkpoint.METADATA_KEY + ".npy": our_header(tensors=[["w", [1]]])},
        "entry.npz": {checkpoint.METADATA_KEY + ".npy": our_header(tensors={"w": [1, "<f4"]})},
        "meta.npz": {checkpoint.METADATA_KEY + ".npy": our_header(metadata=["a", "list"])},
        "arch.npz": {checkpoint.METADATA_KEY + ".npy": our_header(architecture={"not": "a string"})},
        "version.npz": {checkpoint.METADATA_KEY + ".npy": our_header(format_version=True)},
    }
    deep = np.frombuffer(("[" * 100_000 + "]" * 100_000).encode(), dtype=np.uint8)
    cases["deep.npz"] = {
        checkpoint.METADATA_KEY + ".npy": npy_bytes(
            f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({deep.size},), }}", deep.tobytes()
        )
    }
    for name, members in cases.items():
        write_zip(tmp_path / name, members)
        with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
            checkpoint.load(tmp_path / name)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        checkpoint.load(tmp_path / "deep.npz")


def test_an_npy_header_over_numpys_limit_is_named_as_such(tmp_path: Path):
    """Item 10: numpy's "header too large" mentions allow_pickle; it was reported as pickled objects."""
    long_header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }" + " " * 12_000
    write_zip(
        tmp_path / "long.npz",
        {"w.npy": npy_bytes(long_header, bytes(4)), checkpoint.METADATA_KEY + ".npy": our_header()},
    )
    with pytest.raises(CheckpointError, match=r"long\.npz.*'w'.*header is \d+ bytes, over the 10000") as info:
        checkpoint.load(tmp_path / "long.npz")
    assert "pickle" not in str(info.value)


def test_a_fifo_or_a_folder_is_refused_without_opening_it(tmp_path: Path):
    os.mkfifo(tmp_path / "pipe.npz")
    with pytest.raises(CheckpointError, match=r"pipe\.npz.*FIFO"):
        checkpoint.load(tmp_path / "pipe.npz")  # open() would block forever
    with pytest.raises(CheckpointError, match=r"folder"):
        checkpoint.load(tmp_path)


# --------------------------------------------------------------------------- issue 18.5: your own model
@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_a_hand_built_model_loads_from_its_checkpoint_alone(tmp_path: Path, suffix: str):
    model = hand_built(3)
    path = checkpoint.save(
        model, tmp_path / f"mine{suffix}", metadata={"model": "mlp"}
    )  # docs/nn.md's example
    restored, metadata = load_trained_model(path)
    assert repr(restored) == repr(model) and not restored.training
    np.testing.assert_array_equal(restored(X).data, model(X).data)


def test_predict_works_for_a_hand_built_model(tmp_path: Path):
    pytest.importorskip("PIL")
    path = checkpoint.save(hand_built(3), tmp_path / "mine.safetensors", metadata={"model": "mlp"})
    result = run_cli(
        "predict", "--checkpoint", str(path), str(ROOT / "tinygrad_mnist/sample_digits/seven.png")
    )
    assert result.returncode == 0, result.stderr
    assert "seven.png" in result.stdout and "top-3" in result.stdout


def test_a_forged_layer_description_is_refused_before_it_is_built(tmp_path: Path):
    model = hand_built()
    path = checkpoint.save(model, tmp_path / "m.npz")
    data = zipfile.ZipFile(path).read(checkpoint.METADATA_KEY + ".npy")
    header = json.loads(np.lib.format.read_array(__import__("io").BytesIO(data)).tobytes())
    header["layers"]["modules"][1][1] |= {"in_features": 10**6, "out_features": 10**6}
    forged = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(tmp_path / "forged.npz", "wb") as f:
        checkpoint._write_npz(f, {**model.state_dict(), checkpoint.METADATA_KEY: forged})
    with pytest.raises(CheckpointError, match=r"forged\.npz.*are not the saved tensors"):
        load_trained_model(tmp_path / "forged.npz")
    header["layers"]["modules"][2][1] = {"type": "os.system"}
    forged = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(tmp_path / "unknown.npz", "wb") as f:
        checkpoint._write_npz(f, {**model.state_dict(), checkpoint.METADATA_KEY: forged})
    with pytest.raises(CheckpointError, match=r"unknown\.npz.*unknown layer type 'os.system'"):
        load_trained_model(tmp_path / "unknown.npz")


def test_a_model_with_a_layer_of_its_own_needs_its_code(tmp_path: Path):
    class Double(nn.Module):
        def forward(self, x):
            return x * 2

    model = nn.Sequential(nn.Linear(784, 10), Double())
    path = checkpoint.save(model, tmp_path / "custom.safetensors")
    assert checkpoint.load(path).layers is None
    with pytest.raises(CheckpointError, match=r"custom\.safetensors.*layer of its own.*load_into"):
        load_trained_model(path)


@pytest.mark.parametrize("name", ["x.safetensors", "x.npz"])
def test_byte_orders_dtypes_and_fortran_arrays_round_trip(tmp_path: Path, name: str):
    state = {
        "big_endian": np.arange(6, dtype=">f4").reshape(2, 3),
        "ints": np.array([1, -2], dtype=">i8"),
        "flags": np.array([True, False]),
        "half": np.arange(3, dtype=np.float16),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    }
    loaded = checkpoint.load(checkpoint.save(state, tmp_path / name)).state_dict
    for key, value in state.items():
        assert np.array_equal(loaded[key], value) and loaded[key].dtype == value.dtype.newbyteorder("="), key


@pytest.mark.parametrize("name", ["scalars.npz", "scalars.safetensors"])
def test_zero_dimensional_entries_stay_zero_dimensional(tmp_path, name):
    """Batch norm's `num_batches_tracked` is a 0-d counter: both layouts must give it back 0-d."""
    path = tmp_path / name
    checkpoint.save({"count": np.array(3, dtype=np.int64), "w": np.ones(2, np.float32)}, path)
    loaded = checkpoint.load(path).state_dict
    assert loaded["count"].shape == () and loaded["count"] == 3 and loaded["w"].shape == (2,)
