"""Update rules: the optimiser's `step()` written out as numpy lines for each parameter.

They mirror `optim.SGD.step`, `optim.Adam.step` and `optim.AdamW`'s decoupled decay operation for operation. The learning rate (and
every other number) is read from the optimiser's `param_groups` on each call, so schedulers work;
the choices that change which lines run (momentum or not, Nesterov, weight decay, dampening) are
checked by the program's guard instead, and a change makes the step capture again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_mnist.compile import blas
from tinygrad_mnist.compile.builder import Builder, CompileError
from tinygrad_mnist.optim import SGD, Adam, AdamW


def emit_update(
    b: Builder, optimizer: Any, grads: dict[int, str], params: dict[int, str], folded: bool = False
) -> list[str]:
    """Lines of one optimiser step; returns the guard conditions (each True while the lines are valid).
    `folded`: plain SGD whose gradients already carry the learning rate (the fast mode): `p -= grad`."""
    guards: list[str] = []
    if type(optimizer) not in (SGD, Adam, AdamW):
        raise CompileError(
            f"no update rule for optimizer {type(optimizer).__name__} (SGD, Adam and AdamW replay)"
        )
    guards.append(f"len(groups) == {len(optimizer.param_groups)}")  # a group added: more to update
    for i, group in enumerate(optimizer.param_groups):
        name = b.bind(group, f"group{i}", "optimizer", f"optimizer.param_groups[{i}]")
        guards += [f"groups[{i}] is {name}", f"len({name}['params']) == {len(group['params'])}"]
        for j, p in enumerate(group["params"]):  # the group still holds the captured parameters
            b.namespace[f"{name}_param{j}"] = p
            guards.append(f"{name}['params'][{j}] is {name}_param{j}")
        if folded:
            guards += _sgd_folded(b, group, name, grads, params)
        elif isinstance(optimizer, SGD):
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


def _sgd_guards(group: dict[str, Any], gname: str) -> list[str]:
    """The SGD choices that decide which update lines run: a change makes the step capture again."""
    return [_is_zero(f"{gname}[{key!r}]", group[key] == 0) for key in ("momentum", "weight_decay", "dampening")
            ] + [f"{gname}['nesterov'] is {group['nesterov']}"]  # fmt: skip


def _is_zero(setting: str, zero: bool) -> str:
    """The guard that `setting` is still zero (or still not): `not x` is the cheapest test of zero."""
    return f"not {setting}" if zero else f"{setting} != 0"


def _can_product_update(b: Builder, target: str, grad: str, beta: str) -> bool:
    """Whether `_product_update` can write `target = g.T @ x + beta * target` as one BLAS call."""
    lib = None if b.exact or grad not in b.products else blas.library()
    if lib is None:
        return False
    g, x, x_dtype = b.products[grad]
    G, T = b.value(g), b.value(target)
    if not blas.usable(G, T) or x_dtype != np.float32 or (G.shape[0] == 1 and beta != "1"):
        return False
    return x not in b.namespace or blas.usable(b.value(x))


def _can_axpy(b: Builder, target: str, buf: str) -> bool:
    """Whether `_axpy_update` can write `target += alpha * buf` as one BLAS pass (big enough to repay)."""
    lib = None if b.exact else blas.library()
    T, B = b.value(target), b.value(buf)
    return lib is not None and T.size >= 4096 and T.shape == B.shape and blas.usable(T, B)


def _product_update(b: Builder, target: str, grad: str, alpha: float, beta: str) -> bool:
    """Fast mode: `target = alpha * g.T @ x + beta * target` as one BLAS call, when `grad` is a weight
    gradient `g.T @ x` not yet computed (`Builder.products`) and BLAS can read every array; returns
    whether it was written (then `grad` itself is never computed)."""
    if not _can_product_update(b, target, grad, beta):
        return False
    lib = blas.library()
    g, x, _ = b.products[grad]
    G, T = b.value(g), b.value(target)
    one_row = G.shape[0] == 1
    outer = not one_row or blas.single_threaded(lib)  # sger on one thread only: OpenBLAS splits it
    fixed = x in b.namespace  # a buffer of the program; else the batch (or a view of it) of each step
    if one_row and not fixed:  # a copy into a buffer (0.5 µs) is cheaper than reading a new address
        row = b.buffer(np.empty((1, T.shape[1]), np.float32), "row")
        b.line(f"np.copyto({row}, {x})")
        x, fixed = row, True
    sign = "+" if alpha > 0 else "-"
    scaled = "" if abs(alpha) == 1 else f"{abs(alpha):g} * "
    if beta == "1":
        how = f"{target} {sign}= {scaled}{g}.T @ {x}"
    else:
        how = f"{target} = {beta} * {target} {sign} {scaled}{g}.T @ {x}"
    update = b.bind(blas.gemm_update(lib, T, G, b.value(x) if fixed else None, alpha, outer),
                    f"{target}_update", "BLAS updates (one call each)", how)  # fmt: skip
    args = ([] if fixed else [x]) + ([] if one_row else [beta])
    b.line(f"{update}({', '.join(args)})  # {how}, one BLAS call")
    return True


def _axpy_update(b: Builder, target: str, buf: str, alpha: str) -> bool:
    """Fast mode: `target += alpha * buf` in one BLAS pass, for arrays big enough to repay the call."""
    if not _can_axpy(b, target, buf):
        return False
    axpy = blas.axpy_update(blas.library(), b.value(target), b.value(buf))
    update = b.bind(axpy, f"{target}_axpy", "BLAS updates (one call each)", f"{target} += {alpha} * {buf}")
    b.line(f"{update}({alpha})  # {target} += {alpha} * {buf}, one BLAS call")
    return True


def _sgd_folded(b: Builder, group: dict[str, Any], gname: str, grads, params) -> list[str]:
    for p_tensor in group["params"]:
        grad = grads.get(id(p_tensor))
        if grad is not None:  # no gradient reached it: the engine's step skips it too
            p = params[id(p_tensor)]
            if not _product_update(b, p, grad, -1.0, "1"):
                b.line(f"np.subtract({p}, {grad}, out={p})")
    return _sgd_guards(group, gname)


def _sgd(b: Builder, opt: SGD, group: dict[str, Any], gname: str, grads, params) -> list[str]:
    momentum, dampening, nesterov = group["momentum"], group["dampening"], group["nesterov"]
    guards = _sgd_guards(group, gname)
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
            if nesterov and dampening == 0 and _nesterov_in_place(b, p, buf, d_p):
                continue
            if not nesterov and dampening == 0 and _product_update(b, buf, d_p, 1.0, "momentum"):
                pass  # buf = momentum * buf + g.T @ x, one BLAS call
            elif dampening == 0:
                b.line(f"np.multiply({buf}, momentum, out={buf})")
                b.line(f"np.add({buf}, {d_p}, out={buf})")
            else:
                b.line(f"np.multiply({buf}, momentum, out={buf})")
                b.line(f"np.add({buf}, (1 - float({gname}['dampening'])) * {d_p}, out={buf})")
            if nesterov:
                b.line(f"np.multiply(momentum, {buf}, out={step}); np.add({d_p}, {step}, out={step})")
                d_p = step
            else:
                d_p = buf
        if not _axpy_update(b, p, d_p, "-lr"):
            b.line(f"np.multiply(lr, {d_p}, out={step}); np.subtract({p}, {step}, out={p})")
    return guards


def _nesterov_in_place(b: Builder, p: str, buf: str, grad: str) -> bool:
    """Fast mode, Nesterov momentum without its gradient ever written: three BLAS calls.

    SGD's Nesterov step is `buf = momentum * buf + g`, then `p -= lr * (g + momentum * buf)`. With
    the new buffer, `g + momentum * buf` is `(1 + momentum) * buf - momentum * old buf`, so: add
    `lr * momentum * buf` to `p` while `buf` still holds the old value, add the product into `buf`
    (`sgemm` with beta = momentum), and take `lr * (1 + momentum) * buf` off `p`. The gradient `g`
    itself (`g.T @ x`) is computed once, inside the `sgemm`, and never stored: the textbook lines
    need it twice (once for `buf`, once for the step), so they would write it, or compute it twice.
    """
    if not (_can_product_update(b, buf, grad, "momentum") and _can_axpy(b, p, buf)):
        return False
    axpy = b.bind(blas.axpy_update(blas.library(), b.value(p), b.value(buf)), f"{p}_axpy",
                  "BLAS updates (one call each)", f"{p} += alpha * {buf}")  # fmt: skip
    b.line(f"{axpy}(lr * momentum)  # {p} += lr * momentum * {buf} (the old buffer), one BLAS call")
    _product_update(b, buf, grad, 1.0, "momentum")
    b.line(f"{axpy}(-lr * (1 + momentum))  # {p} -= lr * (1 + momentum) * {buf} (the new one)")
    return True


def _adam(b: Builder, opt: Adam, group: dict[str, Any], gname: str, grads, params) -> list[str]:
    b.line(f"beta1, beta2 = (float(beta) for beta in {gname}['betas']); eps = float({gname}['eps'])")
    decoupled = type(opt) is AdamW  # p *= 1 - lr * weight_decay before Adam's update, raw gradients
    guards = [] if decoupled else [_is_zero(f"{gname}['weight_decay']", group["weight_decay"] == 0)]
    if decoupled:
        b.line(f"decay = 1.0 - lr * float({gname}['weight_decay'])  # AdamW's decoupled weight decay")
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
        if decoupled:
            d_p = grad
            b.line(f"if decay != 1.0: np.multiply({p}, np.{b.value(p).dtype.name}(decay), out={p})")
        else:
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
