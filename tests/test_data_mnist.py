"""Locating and loading MNIST (the real files via the `mnist_dir` fixture), and the preprocessing helpers."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinygrad_mnist.data import (
    DATA_ENV_VAR,
    MIRRORS_ENV_VAR,
    MNIST,
    MNIST_FILES,
    MNIST_MEAN,
    MNIST_STD,
    ChecksumError,
    IDXError,
    MNISTData,
    MNISTNotFoundError,
    default_cache_dir,
    flatten,
    load_mnist,
    locate_mnist,
    normalize,
    one_hot,
    preprocess,
    scale,
    search_dirs,
    train_val_split,
    write_idx,
)

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No data folder from the environment, an empty cache, and no way to reach the real mirrors."""
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(MIRRORS_ENV_VAR, "http://127.0.0.1:9/unreachable/")
    return tmp_path / "xdg" / "tinygrad_mnist" / "mnist"


# --- the real data set ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist(mnist_dir: Path) -> MNISTData:
    return load_mnist(mnist_dir, download=False)  # verify=True: SHA-256 of all four files


def test_real_mnist_shapes_and_dtypes(mnist: MNISTData) -> None:
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == np.uint8
    assert mnist.test_images.shape == (10000, 28, 28) and mnist.test_images.dtype == np.uint8
    assert mnist.train_labels.shape == (60000,) and mnist.train_labels.dtype == np.int64
    assert mnist.test_labels.shape == (10000,) and mnist.test_labels.dtype == np.int64


def test_real_mnist_label_counts(mnist: MNISTData) -> None:
    assert np.bincount(mnist.train_labels).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.test_labels).tolist() == TEST_COUNTS


def test_real_mnist_pixel_statistics(mnist: MNISTData) -> None:
    x = scale(mnist.train_images)
    assert abs(float(x.mean()) - MNIST_MEAN) < 1e-4
    assert abs(float(x.std()) - MNIST_STD) < 1e-4


def test_raw_files_and_env_var(mnist_dir: Path, tmp_path: Path, clean_env: Path, monkeypatch) -> None:
    """Decompressed files load too (and are preferred), found through $TINYGRAD_MNIST_DATA."""
    for key in ("test_images", "test_labels"):
        name = MNIST_FILES[key].name
        with gzip.open(mnist_dir / f"{name}.gz") as src, open(tmp_path / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    test = MNIST(train=False, download=False)
    assert len(test) == 10000 and test.images.shape == (10000, 28, 28)
    image, label = test[0]
    assert image.shape == (28, 28) and label == 7
    assert locate_mnist(keys=["test_images"])["test_images"] == tmp_path / "t10k-images-idx3-ubyte"


def test_checksum_mismatch_names_file(mnist_dir: Path, tmp_path: Path, clean_env: Path) -> None:
    """A valid IDX file with one label changed: caught by SHA-256, loads with verify=False."""
    for key in ("test_images", "test_labels"):
        shutil.copy(mnist_dir / f"{MNIST_FILES[key].name}.gz", tmp_path)
    labels = MNIST(tmp_path, train=False, download=False).labels.astype(np.uint8)
    labels[0] = (labels[0] + 1) % 10
    bad = tmp_path / "t10k-labels-idx1-ubyte"  # the raw file is picked before the .gz
    write_idx(bad, labels)
    with pytest.raises(ChecksumError) as err:
        MNIST(tmp_path, train=False, download=False)
    message = str(err.value)
    assert str(bad) in message and "SHA-256" in message
    assert "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2" in message
    assert "delete it" in message and "re-download" in message
    assert MNIST(tmp_path, train=False, download=False, verify=False).labels[0] == labels[0]


# --- where files are looked for ---------------------------------------------------------------------------


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "tinygrad_mnist" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "tinygrad_mnist" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "tinygrad_mnist" / "mnist"


def test_search_order_root_env_cache(tmp_path: Path, clean_env: Path, monkeypatch) -> None:
    root, env = tmp_path / "root", tmp_path / "env"
    monkeypatch.setenv(DATA_ENV_VAR, str(env))
    assert search_dirs(root) == [root, env, clean_env]
    assert search_dirs() == [env, clean_env]
    for folder in (root, env, clean_env):
        folder.mkdir(parents=True)
    (clean_env / "t10k-labels-idx1-ubyte.gz").touch()
    assert locate_mnist(root, keys=["test_labels"])["test_labels"] == clean_env / "t10k-labels-idx1-ubyte.gz"
    (env / "t10k-labels-idx1-ubyte.gz").touch()
    assert locate_mnist(root, keys=["test_labels"])["test_labels"] == env / "t10k-labels-idx1-ubyte.gz"
    (root / "t10k-labels-idx1-ubyte.gz").touch()
    assert locate_mnist(root, keys=["test_labels"])["test_labels"] == root / "t10k-labels-idx1-ubyte.gz"


def test_offline_error_lists_missing_files_and_places(tmp_path: Path, clean_env: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "train-labels-idx1-ubyte.gz").touch()  # one present: only the other three are reported
    with pytest.raises(MNISTNotFoundError) as err:
        load_mnist(empty, download=False)
    assert isinstance(err.value, FileNotFoundError)
    message = str(err.value)
    missing = ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    assert message.startswith(f"MNIST files not found: {', '.join(missing)}")
    assert err.value.missing == missing
    assert err.value.searched == [empty, clean_env]
    assert f"1. {empty}" in message and f"2. {clean_env}" in message
    assert "download=False" in message
    assert "TINYGRAD_MNIST_DATA" in message and "root=" in message
    assert "--data-dir" in err.value.cli_message() and "root=" not in err.value.cli_message()
    assert "http://127.0.0.1:9/unreachable/" in message  # the mirror list
    assert list(empty.iterdir()) == [empty / "train-labels-idx1-ubyte.gz"]  # nothing written


def test_count_mismatch_at_load(tmp_path: Path, clean_env: Path) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    with pytest.raises(
        IDXError, match=r"different counts: .*t10k-images-idx3-ubyte has 3 images, .* has 2 labels"
    ):
        MNIST(tmp_path, train=False, download=False, verify=False)


def test_corrupt_file_at_load_suggests_redownload(tmp_path: Path, clean_env: Path) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\x05\1\2")
    with pytest.raises(IDXError, match=r"truncated data(.|\n)*delete the file and run again"):
        MNIST(tmp_path, train=False, download=False, verify=False)


def test_wrong_image_size_at_load(tmp_path: Path, clean_env: Path) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 14, 14), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(IDXError, match=r"28x28"):
        MNIST(tmp_path, train=False, download=False, verify=False)


# --- preprocessing ----------------------------------------------------------------------------------------


def test_scale_normalize_flatten() -> None:
    images = np.array([[[0, 255], [51, 102]]], np.uint8)
    x = scale(images)
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(x[0, 1], [0.2, 0.4], rtol=1e-6)
    z = normalize(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z, (x - 0.1307) / 0.3081, rtol=1e-6)
    assert flatten(x).shape == (1, 4) and np.shares_memory(flatten(x), x)
    np.testing.assert_allclose(preprocess(images, flatten=True), z.reshape(1, 4), rtol=1e-6)
    np.testing.assert_array_equal(preprocess(images, normalize=False), x)
    with pytest.raises(TypeError, match="uint8"):
        scale(x)  # scaling twice is a bug, not a no-op
    with pytest.raises(TypeError, match="scale"):
        normalize(images)


def test_train_val_split_is_classic_and_views() -> None:
    images, labels = np.arange(60000 * 2, dtype=np.uint8).reshape(60000, 2), np.arange(60000)
    x_tr, y_tr, x_val, y_val = train_val_split(images, labels)
    assert len(x_tr) == len(y_tr) == 50000 and len(x_val) == len(y_val) == 10000
    assert y_tr[-1] == 49999 and y_val[0] == 50000
    assert np.shares_memory(x_tr, images) and np.shares_memory(x_val, images)
    with pytest.raises(ValueError, match="same length"):
        train_val_split(images, labels[:5])
    with pytest.raises(ValueError, match="val_size"):
        train_val_split(images[:10], labels[:10], val_size=10)


def test_one_hot() -> None:
    out = one_hot(np.array([3, 0, 9]))
    assert out.shape == (3, 10) and out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(1), [3, 0, 9])
    assert out.sum() == 3
    assert one_hot(np.array([1], np.uint8), num_classes=2, dtype=np.int64).tolist() == [[0, 1]]
    assert one_hot(np.array([], np.int64)).shape == (0, 10)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        one_hot(np.array([10]))
    with pytest.raises(TypeError, match="integer"):
        one_hot(np.array([1.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scale_is_the_plain_division_by_255_for_every_pixel_value(dtype):
    from tinygrad_mnist.data.transforms import scale

    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    got = scale(pixels, dtype)
    assert got.dtype == dtype and got.shape == pixels.shape
    np.testing.assert_array_equal(got, np.divide(pixels, 255, dtype=dtype))
