"""Registry cases of the CNN ops (conv2d, max_pool2d, avg_pool2d, batch_norm) for the op-registry test.

Each case names a registered op, a function of Tensors that exercises it, and a strategy for its
float64 inputs (small: the gradient checks build full Jacobians). Inputs of the pooling ops are drawn
without ties (distinct values), where max is differentiable.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_mnist.testing import floats

try:
    from tinygrad_mnist.testing import OpCase
except ImportError:  # until the registry test's OpCase lands on main: the same fields
    from typing import Any, NamedTuple

    class OpCase(NamedTuple):  # type: ignore[no-redef]
        op: str
        fn: Any
        inputs: Any
        constant: tuple[int, ...] = ()
        second_order: bool = True


def _array(shape: tuple[int, ...]) -> st.SearchStrategy:
    return hnp.arrays("float64", shape, elements=floats(2.0))


def _distinct(shape: tuple[int, ...]) -> st.SearchStrategy:
    grid = st.integers(-300, 300).map(lambda k: k * 0.01)
    return hnp.arrays("float64", shape, elements=grid, unique=True)


def _conv_inputs(bias: bool) -> st.SearchStrategy:
    def build(sizes: tuple[int, int, int, int]) -> st.SearchStrategy:
        c, o, k, side = sizes
        parts = [_array((2, c, side, side)), _array((o, c, k, k))] + ([_array((o,))] if bias else [])
        return st.tuples(*parts).map(list)

    return st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 3), st.integers(3, 4)).flatmap(
        build
    )


def _spread_channels(arrays: list) -> bool:
    """Batch norm divides by each channel's spread: keep it well away from 0 for finite differences."""
    x = arrays[0]
    return bool((x.swapaxes(0, 1).reshape(x.shape[1], -1).std(axis=1) > 0.2).all())


CASES = [
    OpCase("conv2d", lambda x, w, b: x.conv2d(w, b, stride=1, padding=1), _conv_inputs(bias=True)),
    OpCase("conv2d", lambda x, w: x.conv2d(w, stride=2, padding=(1, 0)), _conv_inputs(bias=False)),
    OpCase("conv2d", lambda x, w: x.conv2d(w, padding=2, dilation=2), _conv_inputs(bias=False)),
    # max and average are piecewise linear: the square makes their second derivatives worth checking
    OpCase("max_pool2d", lambda x: x.max_pool2d(2).square(), st.tuples(_distinct((2, 2, 4, 4))).map(list)),
    OpCase(
        "max_pool2d", lambda x: x.max_pool2d(3, stride=2, padding=1).square(),
        st.tuples(_distinct((1, 2, 5, 5))).map(list),
    ),
    OpCase("avg_pool2d", lambda x: x.avg_pool2d(2, stride=1, padding=1).square(), st.tuples(_array((2, 2, 3, 3))).map(list)),
    OpCase(
        "batch_norm", lambda x, w, b: x.batch_norm(w, b),
        st.tuples(_array((4, 3, 2, 2)), _array((3,)), _array((3,))).map(list).filter(_spread_channels),
    ),
    OpCase("batch_norm", lambda x: x.batch_norm(), st.tuples(_array((5, 3))).map(list).filter(_spread_channels)),
]  # fmt: skip
