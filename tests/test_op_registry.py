"""Every op is tested by construction: this file enumerates the op registry, so an op without a case,
or with a VJP that is wrong to first or second order, fails here (MyGrad's rule: no op ships unchecked).

Cases live in `tests/op_cases_*.py` (a `CASES` list of `tinygrad_mnist.testing.OpCase` each), so a new
family of ops brings its own file. Ops composed of primitives are checked the same way, and each fused
op is compared with its reference composition in value and in gradient.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_mnist import Tensor, grad, topological_order
from tinygrad_mnist.autograd import composed, registry
from tinygrad_mnist.testing import OpCase, check_op

CASE_FILES = sorted(Path(__file__).parent.glob("op_cases_*.py"))
CASES: list[OpCase] = [case for f in CASE_FILES for case in importlib.import_module(f.stem).CASES]
COMPOSED_CASES: dict[str, OpCase] = importlib.import_module("op_cases_core").COMPOSED_CASES
BUILT_IN = {name: op for name, op in registry.items() if op.__module__.startswith("tinygrad_mnist.")}


def test_every_built_in_op_has_a_case():
    covered = {case.op for case in CASES}
    missing = sorted(set(BUILT_IN) - covered)
    assert not missing, f"ops without a test case (add an OpCase to tests/op_cases_*.py): {missing}"
    assert not covered - set(registry), (
        f"cases name ops that aren't registered: {sorted(covered - set(registry))}"
    )


def test_every_op_is_described_for_pictures():
    for name, op in BUILT_IN.items():
        assert op.name == name and op.formula, f"{op.__name__} needs a formula (viz and traces show it)"
        assert op.__doc__ is None or op.__doc__.strip(), name


def test_every_composed_op_has_a_case():
    public = [
        n
        for n, f in vars(composed).items()
        if inspect.isfunction(f) and not n.startswith("_") and f.__module__ == composed.__name__
    ]
    missing = sorted(set(public) - set(COMPOSED_CASES))
    assert not missing, f"composed ops without a case in op_cases_core.COMPOSED_CASES: {missing}"


def _ids(cases: list[OpCase]) -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for c in cases:
        seen[c.op] = seen.get(c.op, 0) + 1
        ids.append(c.op if seen[c.op] == 1 else f"{c.op}-{seen[c.op]}")
    return ids


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
@settings(max_examples=12)
@given(data=st.data())
def test_op_first_and_second_derivatives(case, data):
    check_op(case, data.draw(case.inputs))


@pytest.mark.parametrize("case", list(COMPOSED_CASES.values()), ids=list(COMPOSED_CASES))
@settings(max_examples=8)
@given(data=st.data())
def test_composed_op_first_and_second_derivatives(case, data):
    check_op(case, data.draw(case.inputs))


FUSED_CASES = [c for c in CASES if BUILT_IN.get(c.op) is not None and BUILT_IN[c.op].reference is not None]


@pytest.mark.parametrize("case", FUSED_CASES, ids=_ids(FUSED_CASES))
@settings(max_examples=12)
@given(data=st.data())
def test_fused_op_equals_its_reference_in_value_and_gradient(case, data):
    arrays = data.draw(case.inputs)
    leaves = [Tensor(a, requires_grad=i not in case.constant, dtype=a.dtype) for i, a in enumerate(arrays)]
    out = case.fn(*leaves)
    nodes = [t for t in topological_order(out) if t.grad_fn is not None and t.grad_fn.reference is not None]
    assert nodes, f"the case for {case.op} records no fused node"
    for node in nodes:
        fn = node.grad_fn
        reference = fn.reference(*fn.inputs)
        np.testing.assert_allclose(reference.data, node.data, rtol=1e-10, atol=1e-12)
        wanted = [t for t, needed in zip(fn.inputs, fn.needs_input_grad) if needed]
        v = np.random.default_rng(0).standard_normal(node.shape)
        fused_grads = grad(node, wanted, v, retain_graph=True)
        reference_grads = grad(reference, wanted, v, allow_unused=True)
        for a, b in zip(fused_grads, reference_grads):
            np.testing.assert_allclose(a.data, 0 if b is None else b.data, rtol=1e-9, atol=1e-12)
