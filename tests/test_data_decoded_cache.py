"""The decompressed copies of the MNIST .gz files: read instead of the .gz, checked on every load."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinygrad_mnist.data import DATA_ENV_VAR, MNIST, ChecksumError, decoded_cache_dir
from tinygrad_mnist.data import idx as idx_module

TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def test_split(mnist_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the real test split's two .gz files, and an empty per-user cache."""
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "data"
    folder.mkdir()
    for name in TEST_FILES:
        shutil.copy(mnist_dir / name, folder / name)
    return folder


def _copies() -> list[Path]:
    return sorted(decoded_cache_dir().glob("t10k-*")) if decoded_cache_dir().is_dir() else []


def _no_gunzip(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the .gz was decompressed although its checked copy was there")

    monkeypatch.setattr(idx_module.gzip, "GzipFile", refuse)


def test_the_first_load_keeps_a_copy_the_next_reads_instead_of_the_gz(test_split, monkeypatch):
    first = MNIST(test_split, train=False, download=False)
    copies = _copies()
    assert [p.name.split(".")[0] for p in copies] == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    with gzip.open(test_split / TEST_FILES[0]) as f:
        assert copies[0].read_bytes() == f.read()  # the decompressed file, byte for byte
    _no_gunzip(monkeypatch)
    again = MNIST(test_split, train=False, download=False)
    np.testing.assert_array_equal(again.images, first.images)
    np.testing.assert_array_equal(again.labels, first.labels)


def test_a_damaged_copy_is_ignored_and_rewritten(test_split):
    expected = MNIST(test_split, train=False, download=False).images
    copy = _copies()[0]
    damaged = bytearray(copy.read_bytes())
    damaged[5000] ^= 0xFF  # one pixel: the SHA-256 check must catch it
    copy.write_bytes(bytes(damaged))
    np.testing.assert_array_equal(MNIST(test_split, train=False, download=False).images, expected)
    with gzip.open(test_split / TEST_FILES[0]) as f:
        assert copy.read_bytes() == f.read()


def test_a_damaged_gz_is_reported_although_a_good_copy_exists(test_split):
    MNIST(test_split, train=False, download=False)
    gz = test_split / TEST_FILES[0]
    with gzip.open(gz) as f:
        raw = bytearray(f.read())
    raw[5000] ^= 0xFF
    gz.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ChecksumError, match="t10k-images-idx3-ubyte.gz: SHA-256 of the decompressed"):
        MNIST(test_split, train=False, download=False)


def test_a_recompressed_gz_gets_its_own_copy_and_the_old_one_goes(test_split):
    MNIST(test_split, train=False, download=False)
    old = _copies()
    gz = test_split / TEST_FILES[0]
    with gzip.open(gz) as f:
        gz.write_bytes(gzip.compress(f.read(), compresslevel=1))  # same contents, other bytes
    MNIST(test_split, train=False, download=False)
    new = _copies()
    assert len(new) == 2 and new[0] != old[0] and not old[0].exists() and new[1] == old[1]


def test_no_copies_without_verification_or_where_the_cache_cannot_be_written(
    test_split, monkeypatch, tmp_path
):
    MNIST(test_split, train=False, download=False, verify=False)
    assert _copies() == []
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert len(MNIST(test_split, train=False, download=False)) == 10_000
