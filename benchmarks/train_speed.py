"""Training speed: this framework vs hand-written numpy vs PyTorch, on the same model, data, batch order
and recipe, timed in one process and interleaved epoch by epoch (so machine noise hits all alike).

    python benchmarks/train_speed.py                 # batch 128, 32, 512 and per-sample; ~2-4 minutes
    python benchmarks/train_speed.py --quick         # a few batches of each, to check the script runs

Mini-batch runs: model "mlp-128" (784-128-10 ReLU), softmax cross-entropy (mean), plain SGD lr 0.1,
float32, full epochs of 60,000 images. Per-sample run: model "sigmoid-24" (784-24-10, sigmoid
everywhere), squared error sum_k (a_k - onehot_k)^2, SGD lr 0.01, batch 1, on the first 10,000 images
(per-op overhead dominates there, so a pass over 10,000 samples is timed rather than an epoch).

Contestants, each starting from the same weights (copied from our model) and visiting the same batches:
- "ours": a bare loop doing exactly the steps of `tinygrad_mnist.train.fit` (forward, loss,
  zero_grad, backward, step, read the loss) with batches gathered by index from one permutation, on
  the library as it is: `nn.Linear` records one fused `linear` op, the squared error (`F.mse_loss`)
  one fused `mse_loss` op;
- "ours via fit()": `tinygrad_mnist.train.fit` itself (compiled, its default), one call per epoch with the same permutation
  (it also counts correct predictions per batch, which the others don't);
- "ours, unfused": the bare loop with those two written out as before they were fused, `nn.Linear` as
  `x @ weight.T + bias` (transpose, matmul, add) and the squared error as `((out - onehot) ** 2).sum()`
  (sub, pow, sum): what the fused ops save (`--no-unfused` skips it);
- "ours, compiled": the bare loop through `tinygrad_mnist.compile.compile_step`, the step captured
  once per batch shape and replayed as generated numpy (bit-for-bit the numbers of "ours");
- "ours, compiled fast": the same with `exact=False` (equal to "ours" up to float32 rounding);
- "numpy": the hand-written step in benchmarks/numpy_mlp.py, the floor;
- "PyTorch": eager CPU torch with `torch.set_num_threads(2)`, when torch can be imported.
Each epoch's batch order is `np.random.default_rng(seed + epoch).permutation(n)`, the order
`fit(..., seed=seed + epoch)` draws. The contestants' order rotates from epoch to epoch.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # numpy_mlp, and the package when it isn't installed

import numpy_mlp  # noqa: E402

from tinygrad_mnist import optim  # noqa: E402
from tinygrad_mnist.atomic import atomic_write_text  # noqa: E402
from tinygrad_mnist.autograd import Tensor  # noqa: E402
from tinygrad_mnist.compile import compile_step  # noqa: E402
from tinygrad_mnist.models import build_model  # noqa: E402
from tinygrad_mnist.nn import Linear  # noqa: E402
from tinygrad_mnist.nn import functional as F  # noqa: E402
from tinygrad_mnist.recipes import mnist_arrays, squared_error  # noqa: E402
from tinygrad_mnist.train import evaluate, fit  # noqa: E402

MB = 1024 * 1024


# ---------------------------------------------------------------------------------------------- setups
class Setup:
    """One benchmarked configuration: which model, loss, learning rate, batch size and samples."""

    def __init__(self, name: str, model: str, loss: str, lr: float, batch_size: int, train_size: int):
        self.name, self.model, self.loss, self.lr = name, model, loss, lr
        self.batch_size, self.train_size = batch_size, train_size

    @property
    def activation(self) -> str:
        return "sigmoid" if self.model.startswith("sigmoid") else "relu"

    def ours_loss(self) -> Callable[[Tensor, np.ndarray], Tensor]:
        return F.cross_entropy if self.loss == "cross_entropy" else squared_error


# ---------------------------------------------------------------------------------------------- contestants
class Ours:
    """This framework, in a bare loop: the same steps as `fit`'s inner loop, nothing else."""

    label = "ours"

    def __init__(self, setup: Setup, seed: int):
        self.setup = setup
        self.model = build_model(setup.model, seed=seed)
        self.optimizer = optim.SGD(self.model.parameters(), lr=setup.lr)
        self.loss_fn = setup.ours_loss()

    def train(self, x: np.ndarray, y: np.ndarray, order: np.ndarray, epoch_seed: int) -> float:
        model, optimizer, loss_fn, b = self.model, self.optimizer, self.loss_fn, self.setup.batch_size
        total = 0.0
        for start in range(0, len(order), b):
            index = order[start : start + b]
            yb = y[index]
            loss = loss_fn(model(Tensor(x[index])), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.data) * len(yb)
        return total / len(order)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return evaluate(self.model, x, y)[1]


class OursCompiled(Ours):
    """This framework with the step captured once and replayed as numpy (`tinygrad_mnist.compile`)."""

    label = "ours, compiled"

    def __init__(self, setup: Setup, seed: int):
        super().__init__(setup, seed)
        self.step = compile_step(self.model, self.loss_fn, self.optimizer, strict=True)

    def train(self, x: np.ndarray, y: np.ndarray, order: np.ndarray, epoch_seed: int) -> float:
        step, b, total = self.step, self.setup.batch_size, 0.0
        if b == 1:  # one sample: a view of its row, as the numpy floor takes `x[i]` (no gather)
            for i in order.tolist():
                total += step(x[i : i + 1], y[i : i + 1])[0]
            return total / len(order)
        for start in range(0, len(order), b):
            index = order[start : start + b]
            total += step(x[index], y[index])[0] * len(index)
        return total / len(order)


class OursCompiledFast(OursCompiled):
    """`compile_step(..., exact=False)`: the fast mode (learning rate folded into the loss gradient,
    weight updates as one BLAS call), equal to "ours" up to float32 rounding."""

    label = "ours, compiled fast"

    def __init__(self, setup: Setup, seed: int):
        Ours.__init__(self, setup, seed)
        self.step = compile_step(self.model, self.loss_fn, self.optimizer, strict=True, exact=False)


class _UnfusedLinear(Linear):
    """`nn.Linear` as it was before the fused op: `x @ weight.T + bias`, three recorded ops."""

    def forward(self, x: Any) -> Tensor:
        out = F.as_tensor(x, self.weight.dtype, where="Linear") @ self.weight.T
        return out + self.bias if self.bias is not None else out


def _unfused_squared_error(out: Tensor, labels: np.ndarray) -> Tensor:
    """`recipes.squared_error` as it was before the fused op: sub, pow and sum, then the 1/N."""
    target = F.one_hot(labels, out.shape[1], dtype=out.dtype)
    return ((out - target) ** 2).sum() * (1.0 / len(labels))


class OursUnfused(Ours):
    """The bare loop on the same model with Linear and the squared error recorded op by op."""

    label = "ours, unfused"

    def __init__(self, setup: Setup, seed: int):
        super().__init__(setup, seed)
        for module in self.model.modules():
            if type(module) is Linear:
                module.__class__ = _UnfusedLinear  # same attributes, only forward differs
        if setup.loss == "squared_error":
            self.loss_fn = _unfused_squared_error


class OursFit(Ours):
    """This framework through `tinygrad_mnist.train.fit`, one call (one epoch) per timed epoch."""

    label = "ours via fit()"

    def train(self, x: np.ndarray, y: np.ndarray, order: np.ndarray, epoch_seed: int) -> float:
        history = fit(
            self.model,
            self.optimizer,
            self.loss_fn,
            x[: len(order)],
            y[: len(order)],
            epochs=1,
            batch_size=self.setup.batch_size,
            seed=epoch_seed,
            progress=False,
            log=None,
        )
        return history[-1].train_loss


class Numpy:
    """The hand-written numpy floor (benchmarks/numpy_mlp.py), starting from our model's weights."""

    label = "numpy (by hand)"

    def __init__(self, setup: Setup, seed: int):
        self.setup = setup
        self.layers = numpy_mlp.copy_layers(build_model(setup.model, seed=seed))

    def train(self, x: np.ndarray, y: np.ndarray, order: np.ndarray, epoch_seed: int) -> float:
        layers, lr, b = self.layers, self.setup.lr, self.setup.batch_size
        total = 0.0
        if self.setup.loss == "cross_entropy":
            step = numpy_mlp.relu_mlp_train_step
            for start in range(0, len(order), b):
                index = order[start : start + b]
                total += step(layers, x[index], y[index], lr) * len(index)
        else:
            if b != 1:
                raise ValueError("the numpy squared-error step is per-sample (batch size 1)")
            step = numpy_mlp.sigmoid_squared_error_step
            for i in order.tolist():
                total += step(layers, x[i], y[i], lr)
        return total / len(order)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((numpy_mlp.predict(self.layers, x, self.setup.activation) == y).mean())


class Torch:
    """Eager PyTorch on the CPU, same weights, same batches, torch.optim.SGD."""

    label = "PyTorch"

    def __init__(self, setup: Setup, seed: int):
        import torch

        self.torch, self.setup = torch, setup
        layers = []
        for W, b in numpy_mlp.copy_layers(build_model(setup.model, seed=seed)):
            linear = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            layers.append(torch.nn.Sigmoid() if setup.activation == "sigmoid" else torch.nn.ReLU())
        if setup.activation == "relu":
            layers.pop()  # logits out
        self.model = torch.nn.Sequential(*layers)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=setup.lr)
        self._data: tuple[Any, ...] | None = None

    def _tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        if self._data is None or self._data[0] is not x:
            self._data = (x, self.torch.from_numpy(x), self.torch.from_numpy(y))  # shares memory
        return self._data[1], self._data[2]

    def train(self, x: np.ndarray, y: np.ndarray, order: np.ndarray, epoch_seed: int) -> float:
        torch, model, optimizer, b = self.torch, self.model, self.optimizer, self.setup.batch_size
        F_torch = torch.nn.functional
        X, Y = self._tensors(x, y)
        order_t = torch.from_numpy(order)
        total = 0.0
        for start in range(0, len(order), b):
            index = order_t[start : start + b]
            yb = Y[index]
            out = model(X[index])
            if self.setup.loss == "cross_entropy":
                loss = F_torch.cross_entropy(out, yb)
            else:
                target = F_torch.one_hot(yb, out.shape[1]).to(out.dtype)
                loss = F_torch.mse_loss(out, target, reduction="sum") * (1.0 / len(yb))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
        return total / len(order)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        with self.torch.no_grad():
            out = self.model(self.torch.from_numpy(x))
        return float((out.argmax(dim=1).numpy() == y).mean())


# ---------------------------------------------------------------------------------------------- machine
def machine_description() -> dict[str, Any]:
    """CPU model, cores, Python, numpy and the BLAS numpy calls, for the record next to the numbers."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or platform.machine()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_description(),
        "platform": platform.platform(),
    }


def blas_description() -> str:
    """The BLAS numpy runs on, with its thread count (threadpoolctl when installed, else numpy's config)."""
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return (
                    f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')}), "
                    f"{pool.get('num_threads')} threads"
                )
    except ImportError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')} (threads: see OPENBLAS_NUM_THREADS/OMP_NUM_THREADS)"
    except Exception:  # older numpy: no mode="dicts"
        return "unknown (install threadpoolctl to see it)"


def torch_version() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    return torch.__version__


# ---------------------------------------------------------------------------------------------- timing
def race(
    setup: Setup,
    contestants: list[type],
    data: tuple[np.ndarray, ...],
    epochs: int,
    seed: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Train every contestant `1 + epochs` times over the same batches (the first epoch is a warm-up),
    interleaved, and return per-contestant seconds per epoch, final train loss and test accuracy."""
    x_train, y_train, x_test, y_test = data
    x, y = x_train[: setup.train_size], y_train[: setup.train_size]
    runners = [cls(setup, seed) for cls in contestants]
    times: dict[str, list[float]] = {r.label: [] for r in runners}
    losses: dict[str, float] = {}
    for epoch in range(epochs + 1):
        order = np.random.default_rng(seed + epoch).permutation(len(x))
        shift = epoch % len(runners)
        for runner in runners[shift:] + runners[:shift]:
            gc.collect()
            start = time.perf_counter()
            losses[runner.label] = runner.train(x, y, order, seed + epoch)
            seconds = time.perf_counter() - start
            if epoch > 0:
                times[runner.label].append(seconds)
        if epoch > 0:
            log(f"    epoch {epoch}: " + "  ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()))
    result = {"setup": vars(setup), "samples": len(x), "contestants": {}}
    for runner in runners:
        median = statistics.median(times[runner.label])
        result["contestants"][runner.label] = {
            "seconds": times[runner.label],
            "median_s": median,
            "samples_per_s": len(x) / median,
            "train_loss": losses[runner.label],
            "test_accuracy": runner.accuracy(x_test, y_test),
        }
    return result


def working_memory(setup: Setup, contestant: type, data: tuple[np.ndarray, ...], batches: int) -> int:
    """Peak bytes numpy allocates while `contestant` trains `batches` batches (tracemalloc; data excluded)."""
    x_train, y_train = data[0], data[1]
    runner = contestant(setup, 0)
    order = np.random.default_rng(0).permutation(len(x_train))[: batches * setup.batch_size]
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        runner.train(x_train, y_train, order, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - base


def model_bytes(name: str) -> int:
    return sum(p.data.nbytes for p in build_model(name).parameters())


# ---------------------------------------------------------------------------------------------- report
def ratio(result: dict[str, Any], a: str, b: str) -> float | None:
    c = result["contestants"]
    return c[a]["median_s"] / c[b]["median_s"] if a in c and b in c else None


COMPILED_TARGETS = {1: 0.70, 32: 0.90}  # issue 14: compiled / hand-written numpy; 0.95 at 128 and 512


def format_race(result: dict[str, Any], unit: str) -> str:
    s = result["setup"]
    lines = [
        f"{s['name']}: {s['model']}, {s['loss']}, SGD lr {s['lr']}, batch {s['batch_size']}, "
        f"{result['samples']:,} samples per {unit}, median of {len(next(iter(result['contestants'].values()))['seconds'])}",
        f"  {'':18}{'s/' + unit:>10}{'min s':>9}{'samples/s':>12}{'train loss':>12}{'test acc':>10}",
    ]
    for label, c in result["contestants"].items():
        lines.append(
            f"  {label:18}{c['median_s']:10.3f}{min(c['seconds']):9.3f}{c['samples_per_s']:12,.0f}"
            f"{c['train_loss']:12.4f}{c['test_accuracy']:10.2%}"
        )
    for ours in ("ours", "ours via fit()", "ours, unfused", "ours, compiled", "ours, compiled fast"):
        parts = []
        for other in ("numpy (by hand)", "PyTorch"):
            r = ratio(result, ours, other)
            if r is not None:
                parts.append(f"/{other.split()[0]} {r:.2f}")
        if parts:
            lines.append(f"  {ours + ':':20}" + "   ".join(parts))
    for label in ("ours, compiled", "ours, compiled fast"):
        compiled = ratio(result, label, "numpy (by hand)")
        if compiled is not None:
            target = COMPILED_TARGETS.get(s["batch_size"], 0.95)
            verdict = "met" if compiled <= target else "NOT met"
            name = label.removeprefix("ours, ")
            lines.append(f"  {'issue 14 target:':20}{name}/numpy {compiled:.2f} <= {target:.2f}: {verdict}")
    saved = ratio(result, "ours", "ours, unfused")
    if saved is not None:
        lines.append(f"  {'fused ops:':20}ours/unfused {saved:.2f}")
    return "\n".join(lines)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--epochs", type=int, default=5, help="timed epochs per setup, after one warm-up (default 5)"
    )
    p.add_argument("--quick", "--tiny", action="store_true", help="a few batches of each setup (for tests)")
    p.add_argument(
        "--data", default=None, help="MNIST folder (default: $TINYGRAD_MNIST_DATA, then the cache)"
    )
    p.add_argument("--batch-sizes", default="128,32,512", help="mini-batch sizes, the first is the headline")
    p.add_argument(
        "--per-sample", type=int, default=10_000, help="samples per timed per-sample pass (0: skip)"
    )
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even when it is installed")
    p.add_argument("--no-fit", action="store_true", help="skip the fit() contestant")
    p.add_argument(
        "--no-unfused",
        action="store_true",
        help="skip the unfused contestant (Linear and squared error op by op, as before they were fused)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    train_size, test_size = (512, 256) if args.quick else (None, None)
    epochs = 1 if args.quick else args.epochs
    per_sample = min(args.per_sample, 64) if args.quick else args.per_sample
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]

    machine = machine_description()
    print(
        f"machine: {machine['cpu']}, {machine['cores']} cores; Python {machine['python']}, numpy {machine['numpy']}"
    )
    print(f"BLAS: {machine['blas']}")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    data = mnist_arrays(args.data, train_size, test_size, download=False)
    x_train = data[0]
    data_bytes = sum(a.nbytes for a in data)
    print(
        f"data: {x_train.shape[0]:,} train and {data[2].shape[0]:,} test images, float32, {data_bytes / MB:.0f} MB"
    )

    # Memory first, before torch is imported, so ru_maxrss is ours + numpy's only.
    mem_setup = Setup("memory", "mlp-128", "cross_entropy", 0.1, batch_sizes[0], len(x_train))
    mem_batches = 3 if args.quick else 100
    memory = {
        "data_mb": data_bytes / MB,
        "model_mb": model_bytes("mlp-128") / MB,
        "ours_working_mb": working_memory(mem_setup, Ours, data, mem_batches) / MB,
        "numpy_working_mb": working_memory(mem_setup, Numpy, data, mem_batches) / MB,
    }
    memory["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    total = memory["data_mb"] + memory["model_mb"]
    memory["ours_peak_over_data_and_model"] = (total + memory["ours_working_mb"]) / total

    torch_v = None if args.no_torch else torch_version()
    if torch_v is None:
        print("PyTorch: skipped" + (" (--no-torch)" if args.no_torch else " (not importable)"))
    else:
        print(f"PyTorch: {torch_v}, torch.set_num_threads(2)")
    contestants: list[type] = [Ours, OursCompiled, OursCompiledFast] + ([] if args.no_fit else [OursFit])
    contestants += ([] if args.no_unfused else [OursUnfused]) + [Numpy]
    if torch_v is not None:
        contestants.append(Torch)

    results = []
    for b in batch_sizes:
        setup = Setup(f"batch {b}", "mlp-128", "cross_entropy", 0.1, b, len(x_train))
        print(f"\n[{setup.name}]", flush=True)
        results.append(race(setup, contestants, data, epochs, args.seed, lambda s: print(s, flush=True)))
        print(format_race(results[-1], "epoch"), flush=True)
    if per_sample:
        setup = Setup("per-sample", "sigmoid-24", "squared_error", 0.01, 1, min(per_sample, len(x_train)))
        print(
            f"\n[{setup.name}] (timing {setup.train_size:,} samples per pass, not a full epoch)", flush=True
        )
        results.append(race(setup, contestants, data, epochs, args.seed, lambda s: print(s, flush=True)))
        print(format_race(results[-1], "pass"), flush=True)

    print(f"\nmemory: float32 data {memory['data_mb']:.0f} MB + model {memory['model_mb']:.2f} MB")
    print(
        f"  numpy allocations while training, beyond data and model (tracemalloc peak over {mem_batches} "
        f"batches of {batch_sizes[0]}): ours {memory['ours_working_mb']:.1f} MB, numpy {memory['numpy_working_mb']:.1f} MB"
    )
    print(f"  ours' peak = {memory['ours_peak_over_data_and_model']:.3f}x (data + model)   (target < 2x)")
    print(
        f"  process peak RSS before torch was imported (interpreter, libraries, loading the data, both "
        f"trainings): {memory['ru_maxrss_mb']:.0f} MB = {memory['ru_maxrss_mb'] / total:.2f}x (data + model)"
    )
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    payload = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine,
        "torch": torch_v,
        "load_average_end": os.getloadavg(),
        "memory": memory,
        "results": results,
    }
    if args.json is not None:
        _write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
