"""Second-order tools built on `grad(create_graph=True)`: Hessian-vector products and small Hessians.

A Hessian-vector product H·v is the gradient of (∇f · v): two backward passes, never the n×n matrix,
which is how Newton-type methods and curvature probes scale (Pearlmutter's trick).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinygrad_mnist.autograd.tensor import Tensor, grad


def _leaves(inputs: Tensor | Sequence[Any]) -> list[Tensor]:
    """Fresh leaves (float, requiring grad) with the inputs' values: the caller's tensors are untouched."""
    items = [inputs] if isinstance(inputs, Tensor | np.ndarray) else list(inputs)
    leaves = []
    for x in items:
        data = x.data if isinstance(x, Tensor) else np.asarray(x, dtype=np.float64)
        leaves.append(Tensor(data, requires_grad=True, dtype=data.dtype))
    return leaves


def hvp(
    fn: Callable[..., Tensor], inputs: Tensor | Sequence[Any], v: Tensor | Sequence[Any]
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """`(fn(*inputs), H·v)`: the value of a scalar function and its Hessian times `v` (one per input),
    like `torch.autograd.functional.hvp`."""
    leaves = _leaves(inputs)
    vs = [v] if isinstance(v, Tensor | np.ndarray) else list(v)
    if len(vs) != len(leaves) or any(np.shape(getattr(u, "data", u)) != x.shape for u, x in zip(vs, leaves)):
        raise ValueError(f"hvp: v must match the inputs' shapes {[x.shape for x in leaves]}")
    out = fn(*leaves)
    if out.size != 1:
        raise ValueError(f"hvp: fn must return a scalar, got shape {out.shape}")
    grads = grad(out, leaves, create_graph=True, allow_unused=True)
    dot = None
    for g, u in zip(grads, vs):
        if g is not None:
            term = (g * (u.data if isinstance(u, Tensor) else np.asarray(u, dtype=g.dtype))).sum()
            dot = term if dot is None else dot + term
    if dot is None or not dot.requires_grad:  # fn is linear (or constant) in its inputs: H = 0
        return out.detach(), tuple(Tensor(np.zeros_like(x.data)) for x in leaves)
    products = grad(dot, leaves, allow_unused=True)
    return out.detach(), tuple(
        p if p is not None else Tensor(np.zeros_like(x.data), dtype=x.dtype) for p, x in zip(products, leaves)
    )


def hessian(fn: Callable[[Tensor], Tensor], x: Tensor | np.ndarray) -> np.ndarray:
    """The full Hessian of a scalar function of one tensor, shape x.shape + x.shape: one Hessian-vector
    product per element (fine for the small problems it is for: a tiny network, a Newton step)."""
    (leaf,) = _leaves(x)
    rows = []
    for j in range(leaf.size):
        basis = np.zeros(leaf.size, dtype=leaf.dtype)
        basis[j] = 1
        rows.append(hvp(fn, leaf, basis.reshape(leaf.shape))[1][0].data.ravel())
    return np.array(rows).reshape(leaf.shape + leaf.shape)
