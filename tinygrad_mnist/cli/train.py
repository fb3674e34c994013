"""`tinygrad-mnist train`: train a named model on MNIST with its recipe, report test accuracy, save it."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from tinygrad_mnist import nn
from tinygrad_mnist.cli.arguments import SEED_MAX, check_outputs, float_in, int_in
from tinygrad_mnist.cli.errors import CLIError
from tinygrad_mnist.data import scale
from tinygrad_mnist.models import MODELS, build_model
from tinygrad_mnist.recipes import (
    LR_SCHEDULES,
    OPTIMIZERS,
    RECIPES,
    get_recipe,
    make_augment,
    make_loss,
    make_optimizer,
    make_scheduler,
    mnist_arrays,
)
from tinygrad_mnist.threads import describe_blas_threads
from tinygrad_mnist.train import TrainingDiverged, fit

COMPILE_MODES = {"exact": True, "fast": "fast", "off": False}  # --compile -> fit(compile=...)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--data-dir / --no-download, shared by every command that reads MNIST."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder with the four MNIST files (default: $TINYGRAD_MNIST_DATA, then ~/.cache/tinygrad_mnist/mnist)",
    )
    parser.add_argument(
        "--no-download", action="store_true", help="fail instead of downloading missing files"
    )


def add_parser(subparsers: Any) -> None:
    models = "\n".join(f"  {name:<14} {recipe.description}" for name, recipe in RECIPES.items())
    parser = subparsers.add_parser(
        "train",
        help="train a model on MNIST and report its test accuracy",
        description="Train a model on MNIST (downloaded on first use), printing one line per epoch, "
        "then report test accuracy and optionally save a checkpoint. Unset options take the model's "
        f"recipe defaults.\n\nmodels:\n{models}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", default="mlp", choices=list(MODELS), help="architecture and recipe (default: mlp)"
    )
    parser.add_argument("--epochs", type=int_in(1, 10_000), metavar="N", help="passes over the training set")
    parser.add_argument("--lr", type=float_in(0, 1e6, low_open=True), metavar="LR", help="learning rate")
    parser.add_argument(
        "--batch-size", type=int_in(1, 60_000), metavar="N", help="training batch size (1 = per-sample SGD)"
    )
    parser.add_argument(
        "--test-batch-size", type=int_in(1, 60_000), metavar="N", help="evaluation batch size"
    )
    parser.add_argument("--momentum", type=float_in(0, 1, high_open=True), metavar="M", help="SGD momentum")
    parser.add_argument(
        "--nesterov",
        action=argparse.BooleanOptionalAction,
        help="Nesterov momentum for SGD (default: the recipe's choice)",
    )
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="optimiser")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, help="learning rate over the run")
    parser.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="randomly shift, turn and resize the training images (default: the recipe's choice)",
    )
    parser.add_argument(
        "--seed",
        type=int_in(0, SEED_MAX),
        default=1,
        help="seed for the weights and the batch order (default: 1)",
    )
    parser.add_argument(
        "--train-size", type=int_in(1, 60_000), metavar="N", help="train on the first N images only"
    )
    parser.add_argument(
        "--test-size", type=int_in(1, 10_000), metavar="N", help="evaluate on the first N test images only"
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--save",
        metavar="PATH",
        help="write the trained model here: a .npz name keeps the .npz layout, any other (model.safetensors) is safetensors",
    )
    parser.add_argument(
        "--save-best", metavar="PATH", help="write the epoch with the best test accuracy here"
    )
    parser.add_argument(
        "--history", metavar="PATH", help="write per-epoch results to this .json or .csv file"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (it is off anyway when not a terminal)"
    )
    compiled = parser.add_mutually_exclusive_group()
    compiled.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        default="exact",
        help="how each step runs: exact (default) replays a captured numpy program with the eager "
        "engine's numbers, fast replays a faster one equal to them up to float32 rounding, off runs "
        "the eager engine (docs/performance.md)",
    )
    compiled.add_argument(
        "--no-compile", action="store_true", help="the same as --compile off: every step in the eager engine"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    recipe = get_recipe(args.model)

    def chosen(flag: Any, default: Any) -> Any:
        return default if flag is None else flag

    settings = {
        "epochs": chosen(args.epochs, recipe.epochs),
        "lr": chosen(args.lr, recipe.lr),
        "batch_size": chosen(args.batch_size, recipe.batch_size),
        "optimizer": chosen(args.optimizer, recipe.optimizer),
        "momentum": chosen(args.momentum, recipe.momentum),
        "nesterov": chosen(args.nesterov, recipe.nesterov),
        "lr_schedule": chosen(args.lr_schedule, recipe.lr_schedule),
        "train_size": chosen(args.train_size, recipe.train_size),
        "augment": chosen(args.augment, recipe.augment),
    }
    if settings["optimizer"] in ("adam", "adamw"):
        for flag, value in (("--momentum", args.momentum), ("--nesterov", args.nesterov)):
            if value is not None:
                raise CLIError(f"{flag} applies to SGD only; Adam keeps its own moving averages (betas)")
        settings["nesterov"] = False  # the recipe's SGD setting, not Adam's
    elif settings["nesterov"] and settings["momentum"] == 0:
        raise CLIError("Nesterov momentum needs a momentum above 0: give --momentum M, or --no-nesterov")
    if args.history is not None and Path(args.history).suffix not in (".json", ".csv"):
        raise CLIError(f"--history {args.history} must end in .json or .csv")
    check_outputs([("--save", args.save), ("--save-best", args.save_best), ("--history", args.history)])
    x_train, y_train, x_test, y_test = mnist_arrays(  # uint8: fit scales each batch (same numbers)
        args.data_dir, settings["train_size"], args.test_size, download=not args.no_download, scaled=False
    )
    nn.manual_seed(args.seed)
    mode = "off" if args.no_compile else args.compile
    model = build_model(args.model, seed=args.seed)
    optimizer = make_optimizer(
        settings["optimizer"], model.parameters(), settings["lr"], settings["momentum"], settings["nesterov"]
    )
    print(
        f"training {args.model} ({recipe.description}) on {len(y_train)} images: "
        f"{settings['optimizer']} lr {settings['lr']:g} ({settings['lr_schedule']}){_momentum(settings)}, "
        f"batch {settings['batch_size']}{', augmented' if settings['augment'] else ''}, "
        f"{settings['epochs']} epoch{'' if settings['epochs'] == 1 else 's'}, seed {args.seed}, "
        f"{describe_blas_threads()}{', fast compiled steps' if mode == 'fast' else ''}"
    )
    metadata = {"model": args.model, "loss": recipe.loss, "seed": args.seed, **settings}
    if mode == "fast":  # the one mode whose numbers differ from the eager engine's (by rounding)
        metadata["compile"] = mode
    try:
        history = fit(
            model,
            optimizer,
            make_loss(recipe.loss),
            x_train,
            y_train,
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            seed=args.seed,
            test=(x_test, y_test),
            eval_batch_size=args.test_batch_size or 1000,
            progress=False if args.no_progress else None,
            checkpoint=args.save,
            best_checkpoint=args.save_best,
            history_path=args.history,
            metadata=metadata,
            scheduler=make_scheduler(
                settings["lr_schedule"],
                optimizer,
                settings["epochs"],
                -(-len(y_train) // settings["batch_size"]),
                recipe.pct_start,
            ),
            augment=make_augment(settings["augment"], args.seed),
            log_every=recipe.log_every if args.epochs is None else 1,
            compile=COMPILE_MODES[mode],
            transform=scale,
            log=lambda line: print(f"{line}  ({_since_start():.1f} s since start)"),
        )
    except TrainingDiverged as err:
        raise CLIError(str(err)) from None
    final = history[-1]
    total = sum(e.seconds for e in history.epochs)
    epochs = f"{len(history)} epoch{'' if len(history) == 1 else 's'}"
    print(
        f"test accuracy {final.test_accuracy:.2%} on {len(y_test)} images after {epochs} "
        f"({total:.1f} s training, {_since_start():.1f} s since start)"
    )
    for what, path in (("model", args.save), ("best model", args.save_best), ("history", args.history)):
        if path:
            print(f"saved {what} to {path}")
    return 0


def _momentum(settings: dict[str, Any]) -> str:
    """How the header names SGD's momentum; the one-cycle schedule moves it against the learning rate."""
    if settings["optimizer"] != "sgd" or not (settings["momentum"] or settings["lr_schedule"] == "onecycle"):
        return ""
    kind = "Nesterov momentum" if settings["nesterov"] else "momentum"
    if settings["lr_schedule"] == "onecycle":
        return f", {kind} 0.95 to 0.85 and back (cycled)"
    return f", {kind} {settings['momentum']:g}"


_STARTED = time.perf_counter()  # the fallback start: when this module was imported


def _since_start() -> float:
    """Seconds since this process started, as `time` in the shell counts them (Linux's /proc), or
    since this module was imported where /proc is not there: what a user reads "98% after 4 s" from."""
    imported = time.perf_counter() - _STARTED
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start time in clock ticks
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return imported
    return max(imported, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))  # never before the import
