"""IDX reader/writer: round trips (raw and gzip) and a clear error for each kind of corrupt file."""

from __future__ import annotations

import gzip
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_mnist.data import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    IDXError,
    check_same_count,
    read_idx,
    read_images,
    read_labels,
    write_idx,
)


def _images(n: int = 3) -> np.ndarray:
    return np.arange(n * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(n, 28, 28)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_images_and_labels(tmp_path: Path, suffix: str) -> None:
    images, labels = _images(), np.array([7, 0, 9], dtype=np.uint8)
    write_idx(tmp_path / f"img{suffix}", images)
    write_idx(tmp_path / f"lbl{suffix}", labels)
    got_images, got_labels = read_images(tmp_path / f"img{suffix}"), read_labels(tmp_path / f"lbl{suffix}")
    assert got_images.dtype == np.uint8 and got_images.shape == (3, 28, 28)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.flags.writeable


def test_written_header_is_standard(tmp_path: Path) -> None:
    write_idx(tmp_path / "img", _images(2))
    write_idx(tmp_path / "lbl.gz", np.zeros(5, np.uint8))
    raw = (tmp_path / "img").read_bytes()
    assert struct.unpack(">IIII", raw[:16]) == (IMAGES_MAGIC, 2, 28, 28)
    assert len(raw) == 16 + 2 * 28 * 28
    lbl = gzip.decompress((tmp_path / "lbl.gz").read_bytes())
    assert struct.unpack(">II", lbl[:8]) == (LABELS_MAGIC, 5)


def test_gzip_is_detected_from_content_not_name(tmp_path: Path) -> None:
    write_idx(tmp_path / "a.gz", np.arange(4, dtype=np.uint8))
    (tmp_path / "a.gz").rename(tmp_path / "plain-name")
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-name"), np.arange(4))


_dtypes = st.sampled_from(["uint8", "int8", ">i2", "<i2", "int32", "float32", "float64"])


@given(hnp.arrays(_dtypes, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6)), st.booleans())
def test_round_trip_property(array: np.ndarray, gz: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = write_idx(Path(d) / ("x.gz" if gz else "x"), array)
        got = read_idx(path)
    assert got.shape == array.shape
    assert got.dtype == array.dtype.newbyteorder("=")
    assert got.tobytes() == array.astype(got.dtype).tobytes()  # bytes: NaN payloads and -0.0 survive too


def test_writer_rejects_unsupported(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        write_idx(tmp_path / "x", np.array(3, np.uint8))
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_write_is_atomic_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.gz"
    write_idx(target, np.arange(3, dtype=np.uint8))
    before = target.read_bytes()

    class FailingGzip(gzip.GzipFile):
        def write(self, data):  # the header goes through, the data write fails
            if len(memoryview(data)) > 8:
                raise OSError("disk full")
            return super().write(data)

    monkeypatch.setattr(gzip, "GzipFile", FailingGzip)
    with pytest.raises(OSError, match="disk full"):
        write_idx(target, np.arange(100, dtype=np.uint8))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.gz"]  # no temporary file left


# --- corrupt files: each gets an error naming the file and the problem ---------------------------------


def _write_bytes(tmp_path: Path, data: bytes, gz: bool) -> Path:
    path = tmp_path / ("bad.gz" if gz else "bad")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


GOOD_LABELS = struct.pack(">II", LABELS_MAGIC, 4) + bytes([1, 2, 3, 4])


@pytest.mark.parametrize("gz", [False, True])
def test_wrong_magic(tmp_path: Path, gz: bool) -> None:
    path = _write_bytes(tmp_path, b"\x12\x34\x56\x78" + GOOD_LABELS[4:], gz)
    with pytest.raises(IDXError, match="wrong magic number 305419896") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_labels_file_read_as_images(tmp_path: Path) -> None:
    path = _write_bytes(tmp_path, GOOD_LABELS, False)
    with pytest.raises(
        IDXError, match=r"wrong magic number 2049 \(IDX labels\), expected 2051 \(IDX images\)"
    ):
        read_images(path)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_data(tmp_path: Path, gz: bool) -> None:
    path = _write_bytes(tmp_path, GOOD_LABELS[:-1], gz)
    with pytest.raises(
        IDXError, match="truncated data: dimensions 4 need 4 bytes after the header, only 3"
    ) as e:
        read_labels(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("cut", [0, 3, 6])
def test_truncated_header(tmp_path: Path, cut: int) -> None:
    with pytest.raises(IDXError, match="truncated header"):
        read_idx(_write_bytes(tmp_path, GOOD_LABELS[:cut], False))


@pytest.mark.parametrize("gz", [False, True])
def test_size_mismatch_extra_data(tmp_path: Path, gz: bool) -> None:
    path = _write_bytes(tmp_path, GOOD_LABELS + b"\0\0", gz)
    with pytest.raises(
        IDXError, match=r"size mismatch: dimensions 4 need 4 bytes .* 6 are present \(2 extra\)"
    ):
        read_labels(path)


def test_images_dimensions_bigger_than_data(tmp_path: Path) -> None:
    header = struct.pack(">IIII", IMAGES_MAGIC, 60000, 28, 28)
    path = _write_bytes(tmp_path, header + bytes(100), False)
    with pytest.raises(
        IDXError, match="dimensions 60000x28x28 need 47040000 bytes after the header, only 100"
    ):
        read_images(path)


def test_absurd_header_does_not_allocate(tmp_path: Path) -> None:
    header = struct.pack(">IIIII", 0x00000804, 2**32 - 1, 2**32 - 1, 2**32 - 1, 2**32 - 1)
    with pytest.raises(IDXError, match="over the limit"):
        read_idx(_write_bytes(tmp_path, header + bytes(10), True))


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(GOOD_LABELS)[:-10])
    with pytest.raises(IDXError, match="corrupt or truncated gzip") as e:
        read_labels(path)
    assert str(path) in str(e.value)


def test_image_label_count_mismatch() -> None:
    with pytest.raises(IDXError, match="different counts: img.gz has 3 images, lbl.gz has 2 labels"):
        check_same_count(_images(3), np.zeros(2, np.uint8), "img.gz", "lbl.gz")
    check_same_count(_images(2), np.zeros(2, np.uint8), "img.gz", "lbl.gz")


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")
