"""Hypothesis strategies for property-testing ops: import them to test your own ops the way we test ours.

    from hypothesis import given
    from tinygrad_mnist import gradcheck
    from tinygrad_mnist.testing import tensors, broadcastable_shapes

    @given(tensors(shape=(3, 4)))
    def test_my_op(x):
        gradcheck(my_op, [x])

Values are finite and well scaled (no NaN, no infinities, no subnormals), so finite differences mean
something; the *kink-aware* strategies keep inputs a margin away from points where an op is not
differentiable (relu at 0, ties in max, the edge of log's domain), where a numeric derivative is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_mnist.autograd import Tensor

Shape = tuple[int, ...]


def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[Shape]:
    """Array shapes, small by default: a full-Jacobian gradcheck costs (input size x output size)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(
    num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[Shape, ...]]:
    """Tuples of shapes that broadcast together, like numpy's rules (size-1 and missing axes included)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda s: s.input_shapes)


def floats(scale: float = 3.0) -> st.SearchStrategy[float]:
    """Finite float64 values in [-scale, scale], no subnormals."""
    return st.floats(-scale, scale, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


def away_from(
    points: tuple[float, ...] = (0.0,), margin: float = 1e-2, scale: float = 3.0
) -> st.SearchStrategy[float]:
    """Floats in [-scale, scale] at least `margin` from each of `points` (e.g. relu's kink at 0)."""
    return floats(scale).filter(lambda x: all(abs(x - p) >= margin for p in points))


def positive(margin: float = 0.1, scale: float = 3.0) -> st.SearchStrategy[float]:
    """Floats in [margin, scale]: inside log's and sqrt's domain with room for a finite difference."""
    return st.floats(margin, scale, allow_nan=False, allow_infinity=False, width=64)


def arrays(
    shape: Shape | st.SearchStrategy[Shape] | None = None,
    elements: st.SearchStrategy[float] | None = None,
    dtype: Any = np.float64,
) -> st.SearchStrategy[np.ndarray]:
    """numpy arrays of `shape` (or of random small shapes) with finite, well-scaled elements."""
    return hnp.arrays(
        dtype, shapes() if shape is None else shape, elements=floats() if elements is None else elements
    )


def distinct_arrays(
    shape: Shape | st.SearchStrategy[Shape] | None = None, min_gap: float = 1e-2, dtype: Any = np.float64
) -> st.SearchStrategy[np.ndarray]:
    """Arrays whose elements differ pairwise by at least `min_gap`: no ties, so max/argmax are smooth."""
    grid = st.integers(-300, 300).map(lambda k: k * min_gap)
    return hnp.arrays(dtype, shapes() if shape is None else shape, elements=grid, unique=True)


def tensors(
    shape: Shape | st.SearchStrategy[Shape] | None = None,
    elements: st.SearchStrategy[float] | None = None,
    requires_grad: bool = True,
    dtype: Any = np.float64,
) -> st.SearchStrategy[Tensor]:
    """Tensors (float64 by default, for gradient checks) built from `arrays(shape, elements)`."""
    return arrays(shape, elements, dtype).map(lambda a: Tensor(a, requires_grad=requires_grad, dtype=dtype))


def kink_free_tensors(
    op: str, shape: Shape | st.SearchStrategy[Shape] | None = None, margin: float = 1e-2
) -> st.SearchStrategy[Tensor]:
    """Tensors a margin away from `op`'s non-differentiable points: "relu", "max" or "log"."""
    if op == "relu":
        source = arrays(shape, away_from((0.0,), margin))
    elif op == "max":
        source = distinct_arrays(shape, margin)
    elif op == "log":
        source = arrays(shape, positive(margin))
    else:
        raise ValueError(f"kink_free_tensors: unknown op {op!r}; expected 'relu', 'max' or 'log'")
    return source.map(lambda a: Tensor(a, requires_grad=True, dtype=np.float64))


@dataclass(frozen=True)
class OpCase:
    """How to test one op: the registry test runs `check_op` on every case, so no op ships unchecked.

    `fn` builds the op from Tensors; `inputs` draws its inputs as float64 arrays (all require grad,
    except the indices in `constant`: labels, masks, targets). `second_order=False` only for an op
    whose second derivative is not defined where it is tested.
    """

    op: str
    fn: Callable[..., Tensor]
    inputs: st.SearchStrategy[list[np.ndarray]]
    constant: tuple[int, ...] = ()
    second_order: bool = True


def inputs_of(*strategies: st.SearchStrategy[np.ndarray]) -> st.SearchStrategy[list[np.ndarray]]:
    """A list of arrays, one from each strategy: the `inputs` of an `OpCase`."""
    return st.tuples(*strategies).map(list)


def check_op(case: OpCase, arrays: list[np.ndarray]) -> None:
    """First derivatives against finite differences (`gradcheck`), then second ones (`gradgradcheck`)."""
    from tinygrad_mnist.gradcheck import gradcheck, gradgradcheck

    leaves = [
        Tensor(a, requires_grad=i not in case.constant and a.dtype.kind == "f", dtype=a.dtype)
        for i, a in enumerate(arrays)
    ]
    gradcheck(case.fn, leaves)
    if case.second_order:
        gradgradcheck(case.fn, leaves)
