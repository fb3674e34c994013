"""Capture a training step once, replay it as straight-line numpy (`compile_step`); the same for a
model's forward pass alone, for inference (`compile_forward`).

`step.py` is the user-facing wrapper (when to capture, when to replay, when to fall back to eager),
`forward.py` its forward-only twin;
`program.py` reads a recorded graph and writes the program; `rules.py` holds each op's numpy lines,
`optimizers.py` each optimiser's, `builder.py` the buffers they write into, and `blas.py` the fast mode's
one-call weight updates (`compile_step(..., exact=False)`). See docs/performance.md.
"""

from tinygrad_mnist.compile.builder import CompileError
from tinygrad_mnist.compile.forward import CompiledForward, compile_forward
from tinygrad_mnist.compile.rules import supported
from tinygrad_mnist.compile.step import CompiledStep, compile_step

__all__ = ["CompileError", "CompiledForward", "CompiledStep", "compile_forward", "compile_step", "supported"]
