"""DataLoader: batch shapes, len, drop_last, seeded shuffling, every sample once per epoch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mnist.data import DataLoader


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n * 6, dtype=np.float32).reshape(n, 2, 3), np.arange(n)


def test_batches_in_order_are_views() -> None:
    x, y = _data(10)
    batches = list(DataLoader(x, y, batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 2, 3), (4, 2, 3), (2, 2, 3)]
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(np.shares_memory(bx, x) for bx, _ in batches)  # contiguous slices, no copies


def test_len_and_drop_last() -> None:
    x, y = _data(10)
    assert len(DataLoader(x, y, 4)) == 3
    assert len(DataLoader(x, y, 4, drop_last=True)) == 2
    assert len(DataLoader(x, y, 5, drop_last=True)) == 2
    assert len(DataLoader(x, y, 11)) == 1 and len(DataLoader(x, y, 11, drop_last=True)) == 0
    dropped = list(DataLoader(x, y, 4, drop_last=True))
    assert [len(b[1]) for b in dropped] == [4, 4]
    assert list(DataLoader(x, y, 11, drop_last=True)) == []
    assert DataLoader(x, y, 4, drop_last=True).num_samples == 8


def test_empty_dataset() -> None:
    loader = DataLoader(np.zeros((0, 3)), np.zeros(0), 4, shuffle=True, seed=0)
    assert len(loader) == 0 and list(loader) == []


def test_seeded_shuffle_is_reproducible_and_new_each_epoch() -> None:
    x, y = _data(50)

    def epochs(loader: DataLoader, n: int) -> list[list[int]]:
        return [np.concatenate([b[1] for b in loader]).tolist() for _ in range(n)]

    a = epochs(DataLoader(x, y, 8, shuffle=True, seed=123), 3)
    b = epochs(DataLoader(x, y, 8, shuffle=True, seed=123), 3)
    assert a == b
    assert a[0] != a[1] != a[2]  # a new permutation every epoch
    assert a[0] != list(range(50))
    assert epochs(DataLoader(x, y, 8, shuffle=True, seed=124), 1)[0] != a[0]
    gen_a = epochs(DataLoader(x, y, 8, shuffle=True, generator=np.random.default_rng(7)), 2)
    gen_b = epochs(DataLoader(x, y, 8, shuffle=True, generator=np.random.default_rng(7)), 2)
    assert gen_a == gen_b


def test_shuffled_pairs_stay_together() -> None:
    x, y = _data(20)
    for bx, by in DataLoader(x, y, 6, shuffle=True, seed=0):
        np.testing.assert_array_equal(bx, x[by])


@given(
    n=st.integers(0, 60),
    batch_size=st.integers(1, 70),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_sample_exactly_once_per_epoch(
    n: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int
):
    x, y = _data(n)
    loader = DataLoader(x, y, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        assert all(len(bx) == len(by) == batch_size for bx, by in batches[:-1])
        seen = np.concatenate([by for _, by in batches]) if batches else np.zeros(0, int)
        assert len(np.unique(seen)) == len(seen)  # no sample twice
        if drop_last:
            assert len(seen) == (n // batch_size) * batch_size
        else:
            assert sorted(seen.tolist()) == list(range(n))  # every sample once


def test_argument_errors() -> None:
    x, y = _data(10)
    with pytest.raises(ValueError, match=r"batch_size must be >= 1, got 0"):
        DataLoader(x, y, 0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        DataLoader(x, y, 2.5)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        DataLoader(x, y, True)
    with pytest.raises(ValueError, match=r"x has shape \(10, 2, 3\), y has shape \(9,\)"):
        DataLoader(x, y[:9], 2)
    with pytest.raises(ValueError, match="either seed or generator"):
        DataLoader(x, y, 2, seed=1, generator=np.random.default_rng(1))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        DataLoader(x, y, 2, generator=np.random.RandomState(1))
    assert len(DataLoader(x, y, np.int64(3))) == 4
