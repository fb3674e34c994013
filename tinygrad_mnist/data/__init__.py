"""MNIST data: IDX files, locating/downloading/verifying the dataset, preprocessing and batching.

Numpy-only: nothing here imports the autograd engine. See docs/data.md for where files are looked
for, downloading and offline use.
"""

from tinygrad_mnist.data.download import (
    DEFAULT_MIRRORS,
    MIRRORS_ENV_VAR,
    ChecksumError,
    DownloadError,
    download_file,
    file_digest,
    resolve_mirrors,
)
from tinygrad_mnist.data.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    IDXError,
    check_same_count,
    read_idx,
    read_images,
    read_labels,
    write_idx,
)
from tinygrad_mnist.data.loader import DataLoader
from tinygrad_mnist.data.mnist import (
    DATA_ENV_VAR,
    MNIST,
    MNIST_FILES,
    MNISTData,
    MNISTFile,
    MNISTNotFoundError,
    decoded_cache_dir,
    default_cache_dir,
    ensure_mnist,
    load_mnist,
    locate_mnist,
    search_dirs,
)
from tinygrad_mnist.data.transforms import (
    MNIST_MEAN,
    MNIST_STD,
    flatten,
    normalize,
    one_hot,
    preprocess,
    scale,
    train_val_split,
)

__all__ = [
    "DATA_ENV_VAR",
    "DEFAULT_MIRRORS",
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "MIRRORS_ENV_VAR",
    "MNIST",
    "MNIST_FILES",
    "MNIST_MEAN",
    "MNIST_STD",
    "ChecksumError",
    "DataLoader",
    "DownloadError",
    "IDXError",
    "MNISTData",
    "MNISTFile",
    "MNISTNotFoundError",
    "check_same_count",
    "decoded_cache_dir",
    "default_cache_dir",
    "download_file",
    "ensure_mnist",
    "file_digest",
    "flatten",
    "load_mnist",
    "locate_mnist",
    "normalize",
    "one_hot",
    "preprocess",
    "read_idx",
    "read_images",
    "read_labels",
    "resolve_mirrors",
    "scale",
    "search_dirs",
    "train_val_split",
    "write_idx",
]
