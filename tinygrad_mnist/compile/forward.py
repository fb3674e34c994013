"""`compile_forward`: a model's forward pass, captured once and replayed as straight-line numpy.

    forward = compile_forward(model)   # e.g. after model.eval()
    logits = forward(images)           # an ndarray: the eager forward's numbers, bit for bit
    print(forward.source)

For inference: no loss, no gradients, no optimiser. Capture works as for `compile_step` (two eager
calls per input signature that must record the same graph, then the program), with the parameters'
arrays, the layers and `model.training` as the guard. The eager calls record the graph with grad
enabled (the replay needs it, and a graph under `no_grad` is not recorded); later eager calls, for a
signature that cannot replay, run under `no_grad`. Each call returns a new array (the program's
output buffer is copied), as the eager forward does.

Where it pays: the Python per op, small batches. A batch of 1,000 images is matrix products
either way (docs/performance.md measures both).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor, enable_grad, no_grad
from tinygrad_mnist.compile.builder import CompileError
from tinygrad_mnist.compile.program import Recorder
from tinygrad_mnist.compile.step import Captured


class CompiledForward(Captured):
    """Callable `x -> output` (an ndarray); see the module docstring."""

    what, graph = "compile_forward", "forward pass's graph"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if type(x) is not np.ndarray:
            x = np.asarray(x)
        key = (x.shape, x.dtype)
        program = self.programs.get(key)
        if program is not None:
            out = program.run(x)
            if out is not None:
                self.replays += 1
                return out
            self._forget(key)
        if key in self.eager_reasons:
            with no_grad():
                return self.model(Tensor(x)).data
        return self._capture(x, key)

    def _capture(self, x: np.ndarray, key: tuple) -> np.ndarray:
        with enable_grad():  # even inside a caller's no_grad: the graph is what capture reads
            out = self.model(Tensor(x))
        try:
            recorder = Recorder(self.model, None, x, None, self.exact)
            recorder.record_output(out)
            self.captures += 1
            self._keep(key, recorder.finish_output())
        except CompileError as error:
            self._give_up(key, error)
        return out.data


def compile_forward(
    model: Any, strict: bool = False, warn: bool = True, exact: bool = True
) -> CompiledForward:
    """`model`'s forward pass, recorded once per input signature and replayed as generated numpy; the
    same numbers as `model(Tensor(x)).data`. A forward that cannot be replayed raises `CompileError`
    if `strict`, else runs eagerly (with a warning if `warn`). `exact=False`: the fast mode's forward
    lines (`np.dot` for small products, activations in place), equal up to float32 rounding."""
    return CompiledForward(model, strict=strict, warn=warn, exact=exact)
