"""Update rules: the optimiser's `step()` written out as numpy lines for each parameter.

They mirror `optim.SGD.step` and `optim.Adam.step` operation for operation. The learning rate (and
every other number) is read from the optimiser's `param_groups` on each call, so schedulers work;
the choices that change which lines run (momentum or not, Nesterov, weight decay, dampening) are
checked by the program's guard instead, and a change makes the step capture again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_mnist.compile.builder import Builder, CompileError
from tinygrad_mnist.optim import SGD, Adam


def emit_update(b: Builder, optimizer: Any, grads: dict[int, str], params: dict[int, str]) -> list[str]:
    """Lines of one optimiser step; returns the guard conditions (each True while the lines are valid)."""
    guards: list[str] = []
    if type(optimizer) not in (SGD, Adam):
        raise CompileError(f"no update rule for optimizer {type(optimizer).__name__} (SGD and Adam replay)")
    guards.append(f"len(groups) == {len(optimizer.param_groups)}")  # a group added: more to update
    for i, group in enumerate(optimizer.param_groups):
        name = b.bind(group, f"group{i}", "optimizer", f"optimizer.param_groups[{i}]")
        guards += [f"groups[{i}] is {name}", f"len({name}['params']) == {len(group['params'])}"]
        for j, p in enumerate(group["params"]):  # the group still holds the captured parameters
            b.namespace[f"{name}_param{j}"] = p
            guards.append(f"{name}['params'][{j}] is {name}_param{j}")
        if isinstance(optimizer, SGD):
            guards += _sgd(b, optimizer, group, name, grads, params)
        else:
            b.line(f"lr = float({name}['lr'])  # read every step: a scheduler may have changed it")
            guards += _adam(b, optimizer, group, name, grads, params)
    return guards


def _decayed(b: Builder, group_name: str, p: str, grad: str, group: dict[str, Any]) -> str:
    """`grad + weight_decay * p` (a fresh array in the engine, a buffer here), or `grad` itself."""
    if group.get("weight_decay", 0) == 0:
        return grad
    decayed = b.buffer(b.value(p), "wd")
    b.line(
        f"np.multiply({p}, float({group_name}['weight_decay']), out={decayed}); np.add({decayed}, {grad}, out={decayed})"
    )
    return decayed


def _sgd(b: Builder, opt: SGD, group: dict[str, Any], gname: str, grads, params) -> list[str]:
    momentum, dampening, nesterov = group["momentum"], group["dampening"], group["nesterov"]
    guards = [f"({gname}['momentum'] == 0) is {momentum == 0}", f"{gname}['nesterov'] is {nesterov}",
              f"({gname}['weight_decay'] == 0) is {group['weight_decay'] == 0}",
              f"({gname}['dampening'] == 0) is {dampening == 0}"]  # fmt: skip
    dtypes = {p.dtype for p in group["params"]}
    for setting in ("lr", "momentum") if momentum != 0 else ("lr",):  # read every step (schedulers)
        if len(dtypes) == 1:  # into a 0-d array of the parameters' dtype, what numpy makes of the float
            holder = b.bind(np.zeros((), next(iter(dtypes))), f"{setting}_{gname}", "optimizer settings")
            b.line(f"{setting} = {holder}; {setting}[()] = float({gname}[{setting!r}])")
        else:
            b.line(f"{setting} = float({gname}[{setting!r}])")
    for p_tensor in group["params"]:
        grad = grads.get(id(p_tensor))
        if grad is None:
            continue  # no gradient reached it: the engine's step skips it too
        p = params[id(p_tensor)]
        d_p = _decayed(b, gname, p, grad, group)
        step = b.buffer(b.value(p), "step")
        if momentum != 0:
            buf_array = opt.state.get(p_tensor, {}).get("momentum_buffer")
            if buf_array is None:
                raise CompileError("SGD: a momentum buffer is missing after two eager steps")
            buf = b.bind(buf_array, p + "_momentum", "optimizer state (updated in place)")
            state = b.bind(opt.state[p_tensor], p + "_state", "optimizer state (updated in place)")
            guards.append(f"{state}.get('momentum_buffer') is {buf}")
            b.line(f"np.multiply({buf}, momentum, out={buf})")
            if dampening == 0:
                b.line(f"np.add({buf}, {d_p}, out={buf})")
            else:
                b.line(f"np.add({buf}, (1 - float({gname}['dampening'])) * {d_p}, out={buf})")
            if nesterov:
                b.line(f"np.multiply(momentum, {buf}, out={step}); np.add({d_p}, {step}, out={step})")
                d_p = step
            else:
                d_p = buf
        b.line(f"np.multiply(lr, {d_p}, out={step}); np.subtract({p}, {step}, out={p})")
    return guards


def _adam(b: Builder, opt: Adam, group: dict[str, Any], gname: str, grads, params) -> list[str]:
    b.line(f"beta1, beta2 = (float(beta) for beta in {gname}['betas']); eps = float({gname}['eps'])")
    guards = [f"({gname}['weight_decay'] == 0) is {group['weight_decay'] == 0}"]
    for p_tensor in group["params"]:
        grad = grads.get(id(p_tensor))
        if grad is None:
            continue
        p = params[id(p_tensor)]
        state_dict = opt.state.get(p_tensor)
        if not state_dict:
            raise CompileError("Adam: a parameter's state is missing after two eager steps")
        state = b.bind(state_dict, p + "_state", "optimizer state (updated in place)")
        m = b.bind(state_dict["exp_avg"], p + "_m", "optimizer state (updated in place)")
        v = b.bind(state_dict["exp_avg_sq"], p + "_v", "optimizer state (updated in place)")
        guards += [f"{state}['exp_avg'] is {m}", f"{state}['exp_avg_sq'] is {v}"]
        d_p = _decayed(b, gname, p, grad, group)
        tmp, denom = b.buffer(b.value(p), "tmp"), b.buffer(b.value(p), "denom")
        b.line(f"{state}['step'] += 1; t = {state}['step']")
        b.line(
            f"np.multiply({m}, beta1, out={m}); np.multiply(1 - beta1, {d_p}, out={tmp}); np.add({m}, {tmp}, out={m})"
        )
        b.line(
            f"np.multiply({v}, beta2, out={v}); np.multiply(1 - beta2, {d_p}, out={tmp}); np.multiply({tmp}, {d_p}, out={tmp}); np.add({v}, {tmp}, out={v})"
        )
        b.line(
            f"np.sqrt({v}, out={denom}); np.divide({denom}, math.sqrt(1 - beta2**t), out={denom}); np.add({denom}, eps, out={denom})"
        )
        b.line(
            f"np.divide({m}, {denom}, out={denom}); np.multiply({denom}, lr / (1 - beta1**t), out={denom}); np.subtract({p}, {denom}, out={p})"
        )
    return guards
