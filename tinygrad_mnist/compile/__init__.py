"""Capture a training step once, replay it as straight-line numpy (`compile_step`).

`step.py` is the user-facing wrapper (when to capture, when to replay, when to fall back to eager);
`program.py` reads a recorded graph and writes the program; `rules.py` holds each op's numpy lines,
`optimizers.py` each optimiser's, `builder.py` the buffers they write into, and `blas.py` the fast mode's
one-call weight updates (`compile_step(..., exact=False)`). See docs/performance.md.
"""

from tinygrad_mnist.compile.builder import CompileError
from tinygrad_mnist.compile.rules import supported
from tinygrad_mnist.compile.step import CompiledStep, compile_step

__all__ = ["CompileError", "CompiledStep", "compile_step", "supported"]
