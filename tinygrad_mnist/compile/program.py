"""Capture: turn one eagerly recorded training step into a flat numpy program.

The graph of the step's loss is read before `backward()` releases it: every tensor in creation order
(`topological_order`), each op's `Function` instance with its inputs and parameters. Leaves are
sorted into the step's inputs (the batch `x`, the labels `y`, a one-hot of `y`), the parameters, and
scalar constants (baked in); anything else (an array computed outside the engine) is refused, since
the program could not know how to recompute it. The forward lines follow creation order; the
backward lines follow the engine's order, newest op first, summing gradients that meet in the same
order the engine does, so the replayed numbers are the engine's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor, topological_order
from tinygrad_mnist.autograd.ops import Reshape
from tinygrad_mnist.compile.builder import Builder, CompileError
from tinygrad_mnist.compile.rules import BACKWARD, FORWARD, supported


@dataclass
class Program:
    """A captured step: `run(x, y, groups)` returns (loss, output), or None when a guard fails."""

    source: str  # the step
    guard_source: str  # the checks it runs first
    run: Any
    namespace: dict[str, Any]  # what its names are bound to (buffers, parameters' arrays, constants)


def _is_one_hot(data: np.ndarray, y: np.ndarray | None) -> bool:
    if y is None or data.ndim != 2 or data.shape[0] != len(y) or y.ndim != 1 or y.dtype.kind not in "iu":
        return False
    return bool(((0 <= y) & (y < data.shape[1])).all()) and np.array_equal(data, np.eye(data.shape[1])[y])


def _identifier(name: str) -> str:
    """`fc1.weight` -> `fc1_weight`; `0.weight` (a numbered Sequential) -> `layer0_weight`."""
    name = name.replace(".", "_")
    return "layer" + name if name[:1].isdigit() else name


def _parameter_names(model: Any, params: list[Tensor]) -> dict[int, str]:
    names = {}
    if hasattr(model, "named_parameters"):
        names = {id(p): _identifier(name) for name, p in model.named_parameters()}
    return {id(p): names.get(id(p), f"param{i}") for i, p in enumerate(params)}


def _folds_lr(optimizer: Any, frozen: list[Tensor]) -> bool:
    """Whether the fast mode may fold the learning rate into the loss gradient: plain SGD (one group,
    no momentum, no weight decay), where `p -= lr * grad` is `p -= grad of (lr * loss)`, and no
    parameter outside the optimiser that would need its true gradient."""
    from tinygrad_mnist.optim import SGD

    groups = getattr(optimizer, "param_groups", [])
    return (
        type(optimizer) is SGD
        and len(groups) == 1
        and groups[0]["momentum"] == 0
        and groups[0]["weight_decay"] == 0
        and not any(p.requires_grad for p in frozen)
    )


_UFUNC_OUT = re.compile(
    r"\bnp\.(add|subtract|multiply|divide|negative|positive|exp|log|sqrt|tanh|greater|matmul|dot)"
    r"\(([^()]*), out=(\w+)\)"
)


def _positional_out(line: str) -> str:
    """`np.add(a, b, out=c)` -> `np.add(a, b, c)`: numpy parses a keyword argument in about 0.05 µs
    more per call (the fast mode's program; ufuncs and `np.dot` take `out` as their last argument)."""
    return _UFUNC_OUT.sub(r"np.\1(\2, \3)", line)


def _closure(code: str, namespace: dict[str, Any], function: str = "step") -> Any:
    """`function` (`step`) compiled inside a function whose locals are the bound names, so the program
    reads each buffer as a closure variable instead of a global (a dict lookup per name per step)."""
    names = sorted(namespace)
    factory = ["def _make(" + ", ".join(names) + "):"]
    factory += ["    " + line for line in code.splitlines()]
    factory.append(f"    return {function}")
    scope: dict[str, Any] = {}
    exec(compile("\n".join(factory) + "\n", "<compiled step>", "exec"), scope)  # noqa: S102
    return scope["_make"](**namespace)


class Recorder:
    """Builds the program of one step from its live graph (forward, backward), then its update."""

    def __init__(
        self, model: Any, optimizer: Any, x: np.ndarray, y: np.ndarray | None, exact: bool = True
    ) -> None:
        """`optimizer=None` (and `y=None`): the forward pass only (`compile_forward`), every parameter
        a leaf whose array the program reads."""
        self.b = Builder(exact)
        self.b.namespace["math"] = math
        self.model, self.optimizer, self.x, self.y = model, optimizer, x, y
        self.result = "loss" if optimizer is not None else "output"  # what the messages say a leaf feeds
        groups = optimizer.param_groups if optimizer is not None else []
        self.params = [p for group in groups for p in group["params"]]
        self.param_ids = {id(p) for p in self.params}
        model_params = list(model.parameters()) if hasattr(model, "parameters") else []
        self.frozen = [p for p in model_params if id(p) not in self.param_ids]  # trained by no one
        self.param_names = _parameter_names(model, self.params + self.frozen)
        self.param_arrays: dict[int, str] = {}
        self.param_tensors: dict[int, str] = {}
        self.param_grads: dict[int, str] = {}
        self.checks_labels = False
        self.fold_lr = not exact and optimizer is not None and _folds_lr(optimizer, self.frozen)
        self.param_kind = "Parameters (checked, .grad set)" if exact and optimizer else "Parameters (checked)"

    # ------------------------------------------------------------------ leaves
    def _leaf(self, t: Tensor) -> str:
        b = self.b
        if id(t) in self.param_ids or any(t is p for p in self.frozen):
            name = self.param_names[id(t)]
            self.param_tensors[id(t)] = b.bind(t, name + "_param", self.param_kind)
            self.param_arrays[id(t)] = b.bind(t.data, name, "their arrays (updated in place)")
            return self.param_arrays[id(t)]
        if t.requires_grad:
            raise CompileError(
                f"a tensor of shape {t.shape} requires grad but is a parameter of neither the optimizer "
                "nor the model (made during the step?), so the program could not find it again"
            )
        if t._ctx is not None and self._is_reshaped_x(t):  # Flatten of images: a view of the batch
            name = b.fresh("x")
            b.line(f"{name} = x.reshape({t.data.shape})")
            return name
        if t._ctx is not None:
            raise CompileError(
                f"a value computed by '{t.op}' outside the graph (shape {t.shape}, no input requires grad) "
                f"feeds the {self.result}: it may depend on the batch, so it cannot be baked in"
            )
        if t.data is self.x:
            return "x"
        if t.data is self.y:
            self.checks_labels = True
            return "y"
        if _is_one_hot(t.data, self.y):
            self.checks_labels = True
            eye = b.bind(
                np.eye(t.data.shape[1], dtype=t.data.dtype), "eye", "constants", f"np.eye({t.data.shape[1]})"
            )
            target = b.one_hot_of_y = b.buffer(t.data, "onehot")
            b.defer(target, f"np.take({eye}, y, axis=0, out={target})  # one_hot(y)")
            return target
        if t.data.size == 1 and t.data.ndim == 0:
            return b.constant(t.data)
        raise CompileError(
            f"an array of shape {t.shape} computed outside the engine feeds the {self.result}; only the batch x, "
            "its labels y (or one_hot(y)), parameters and scalars can be replayed"
        )

    def _is_reshaped_x(self, t: Tensor) -> bool:
        """Whether `t` is the batch reshaped (all of it, C-ordered): then `x.reshape(shape)` remakes it."""
        root = self.x if self.x.base is None else self.x.base
        return (
            type(t._ctx) is Reshape
            and t.data.base is root
            and t.data.size == self.x.size
            and t.data.flags.c_contiguous
            and self.x.flags.c_contiguous
        )

    # ------------------------------------------------------------------ forward and backward
    def record_graph(self, loss: Tensor, out: Tensor) -> None:
        b = self.b
        if loss.data.size != 1:
            raise CompileError(f"the loss must be a scalar, got shape {loss.shape}")
        if not loss.requires_grad:
            raise CompileError("the loss does not require grad: nothing to train")
        nodes = topological_order(loss)
        start = len(b.lines)
        values = self._forward(nodes, {id(out), id(loss)})
        if id(out) not in values:
            raise CompileError("the model's output does not feed the loss")
        self.loss_name, self.out_name = values[id(loss)], values[id(out)]
        if self.checks_labels:  # what one_hot and cross_entropy check in the engine (one sample: cheaply)
            bad = "not 0 <= y[0] < LABELS" if self.y.shape == (1,) else "y.min() < 0 or y.max() >= LABELS"
            b.lines.insert(start, f"if {bad}: raise ValueError(")
            b.lines.insert(start + 1, "    f'labels must be in [0, {LABELS}), got {y.min()}..{y.max()}')")
            b.namespace["LABELS"] = out.shape[1]
            b.note("constants", f"LABELS = {out.shape[1]}")
        b.line("# backward: the engine's order, newest op first")
        self._backward(loss, nodes, values)

    def record_output(self, out: Tensor) -> None:
        """The forward pass alone, from the graph of the model's output (`compile_forward`)."""
        if out._ctx is None or not out.requires_grad:
            raise CompileError(
                "the model's output has no recorded graph (no parameter requires grad), so there is no "
                "forward pass to replay"
            )
        self.out_name = self._forward(topological_order(out), {id(out)})[id(out)]

    def _forward(self, nodes: list[Tensor], protected: set[int]) -> dict[int, str]:
        """Each node's forward lines, in creation order; returns each node's name in the program."""
        b = self.b
        for t in nodes:
            for parent in t._ctx.inputs if t._ctx is not None else ():
                b.consumers[id(parent)] = b.consumers.get(id(parent), 0) + 1
        b.protected = protected  # nodes whose buffers must not be written over in place
        values: dict[int, str] = {}
        for t in nodes:
            fn = t._ctx
            if fn is None or not fn.inputs:
                values[id(t)] = self._leaf(t)
                continue
            if t._retain_grad:
                raise CompileError("retain_grad() on an intermediate tensor does not replay")
            rule = FORWARD.get(type(fn))
            if rule is None:
                raise CompileError(
                    f"op '{fn.name}' has no replay rule (ops that replay: {', '.join(supported())})"
                )
            values[id(t)] = rule(b, fn, t, [values[id(i)] for i in fn.inputs])
        return values

    def _backward(self, loss: Tensor, nodes: list[Tensor], values: dict[int, str]) -> None:
        b = self.b
        if self.fold_lr:  # d (lr * loss) / d loss: every gradient comes out times lr, ready to subtract
            seed_name = b.lr_times(1.0, loss.data.dtype)
        else:
            seed_name = b.constant(np.array(1, dtype=loss.data.dtype).reshape(loss.data.shape), "seed")
        self.backward_start = len(b.lines)
        grads: dict[int, str] = {id(loss): seed_name}  # d loss / d loss
        for t in reversed(nodes):
            g = grads.get(id(t))
            if g is None:
                continue
            fn = t._ctx
            if fn is None or not fn.inputs:
                if id(t) in self.param_arrays:
                    self.param_grads[id(t)] = g
                continue
            in_grads = BACKWARD[type(fn)](b, fn, t, g, values[id(t)], [values[id(i)] for i in fn.inputs])
            for parent, pg in zip(fn.inputs, in_grads):
                if pg is None or not parent.requires_grad:
                    continue
                if id(parent) in grads:  # a second path: summed into a new buffer, as the engine adds
                    total = b.buffer(parent.data, "sum")
                    b.line(f"np.add({grads[id(parent)]}, {pg}, out={total})")
                    grads[id(parent)] = total
                else:
                    grads[id(parent)] = pg

    # ------------------------------------------------------------------ update and the finished program
    def finish(self) -> Program:
        """Add the optimiser's update and the guards; compile the source."""
        from tinygrad_mnist.compile.optimizers import emit_update

        b = self.b
        if self.fold_lr:
            b.line("# update: the gradients already carry the learning rate")
            guards = emit_update(b, self.optimizer, self.param_grads, self.param_arrays, folded=True)
            read = [(name, k) for name, k in b.lr_scaled.items() if b.is_read(name)]
            lr = "float(group0['lr'])" if len(read) == 1 else "lr"
            lines = [] if len(read) == 1 else [f"lr = {lr}"]
            lines += [f"{name}[()] = {lr} * {k!r}  # the learning rate, read every step" for name, k in read]
            b.lines[self.backward_start : self.backward_start] = lines
        else:
            b.line("# update: the optimizer's step")
            guards = emit_update(b, self.optimizer, self.param_grads, self.param_arrays)
        for pid, grad in self.param_grads.items():
            if not b.exact and pid in self.param_ids:  # fast mode: no gradients handed out, as after
                b.line(f"{self.param_tensors[pid]}.grad = None")  # zero_grad (buffers may hold lr * grad)
                continue
            p = self.param_tensors[pid]
            if pid in self.param_ids:  # zero_grad() cleared it: the gradient is stored as is
                b.line(f"{p}.grad = {grad}")
            else:  # no optimizer clears it: gradients add up from step to step, as in the engine
                b.line(f"{p}.grad = {grad}.copy() if {p}.grad is None else np.add({p}.grad, {grad})")
        guards += self._state_guards(requires_grad=True)
        return self._program("step", "x, y, groups", "groups", guards, f"{self.loss_name}, {self.out_name}")

    def finish_output(self) -> Program:
        """The forward pass's program (`compile_forward`): `forward(x)` returns a copy of the output,
        or None when a guard fails."""
        guards = self._state_guards(requires_grad=False)  # no gradient is taken: requires_grad is free
        returned = f"{self.out_name}.copy()  # its buffer is the next call's"
        return self._program("forward", "x", "", guards, returned)

    def _state_guards(self, requires_grad: bool) -> list[str]:
        """What the program assumes of the model: the same parameters, holding the same arrays (and
        the same `requires_grad`), the same layers, the same training mode."""
        b = self.b
        b.resolve_deferred()  # now that every line is written: which deferred values are read
        if not b.exact:
            b.prune()
        guards = []
        for p in self.params + self.frozen:
            if id(p) not in self.param_tensors:  # a parameter no gradient reaches: it must stay so
                name = b.bind(p, self.param_names[id(p)] + "_param", self.param_kind)
                self.param_tensors[id(p)] = name
            name = self.param_tensors[id(p)]
            if id(p) in self.param_arrays:
                guards.append(f"{name}.data is {self.param_arrays[id(p)]}")
            if requires_grad:
                guards.append(f"{name}.requires_grad is {p.requires_grad}")
        guards += self._module_guards()
        if hasattr(self.model, "training"):
            guards.append(f"model.training is {self.model.training}")
        else:
            guards.append("getattr(model, 'training', None) is None")
        b.namespace["model"] = self.model
        return guards

    def _program(
        self, name: str, arguments: str, guard_arguments: str, guards: list[str], returned: str
    ) -> Program:
        """`def name(arguments)` around the written lines, after `valid(guard_arguments)`, compiled."""
        b = self.b
        checks = [
            f"def valid({guard_arguments}):",
            "    # this program is valid only while these hold",
            "    return (",
        ]
        checks += ["        " + ("and " if i else "") + guard for i, guard in enumerate(guards)]
        checks.append("    )")
        body = [
            f"def {name}({arguments}):",
            f"    if not valid({guard_arguments}):",
            "        return None  # stale",
        ]
        body += ["    " + line for line in ["# forward", *b.lines]]
        body.append(f"    return {returned}")
        if not b.exact:
            body = [_positional_out(line) for line in body]
        code, guard_code = "\n".join(body) + "\n", "\n".join(checks) + "\n"
        run = _closure(guard_code + code, b.namespace, name)
        return Program(f"{b.describe_setup()}\n{code}", guard_code, run, b.namespace)

    def _module_guards(self) -> list[str]:
        """Every module's registered layers and parameters are the ones captured: a layer or Parameter
        swapped in the model, even one the optimiser does not know, makes the step stale. A registry
        that stamps each change with a new `version` (`nn.Module`'s do: `nn.module.Registry`) is
        checked with one comparison; any other mapping entry by entry (by identity)."""
        if not hasattr(self.model, "named_modules"):
            return []
        guards = []
        for i, (_, module) in enumerate(self.model.named_modules()):
            name = f"MODULE{i}"
            self.b.namespace[name] = module
            for kind in ("_modules", "_parameters"):
                entries = getattr(module, kind)
                if type(getattr(entries, "version", None)) is int:
                    guards.append(f"{name}.{kind}.version == {entries.version}")
                    continue
                guards.append(f"len({name}.{kind}) == {len(entries)}" if entries else f"not {name}.{kind}")
                for key, value in entries.items():
                    self.b.namespace[f"{name}_{kind}_{key}"] = value
                    guards.append(f"{name}.{kind}.get({key!r}) is {name}_{kind}_{key}")
        return guards
