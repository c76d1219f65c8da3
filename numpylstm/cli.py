"""The ``numpylstm`` command line (also ``python -m numpylstm``): it parses arguments and prints.

What it runs lives in ``numpylstm.tasks`` (the built-in experiments and their training
recipes), which Python users and notebooks can call directly.

::

    numpylstm demo      [--out DIR] [--quick]
    numpylstm train     --task {sine,adding,reverse,classify,chars} [--hidden N] [--layers N]
                        [--epochs N] [--lr X] [--batch-size N] [--samples N] [--seed N]
                        [--dtype {float32,float64}] [--out DIR] [--quiet]
    numpylstm gradcheck [--layers N] [--hidden N] [--input-size N] [--seq-len N] [--batch N]
                        [--bidirectional] [--proj-size N] [--seed N]

Every command has ``--help``. A bad argument, and any ``ValueError`` or
``TypeError`` the library raises for a bad value, ends in one line
``numpylstm: error: ...`` and exit code 2, never a traceback.

``main(argv)`` runs a command and returns its exit code (0 success, 1 a
failed gradient check or a file that could not be written, 2 bad arguments),
so tests and scripts can call it without a subprocess.
"""
import argparse
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from . import __version__, io, tasks
from .plot import plot_loss, plot_prediction, save_figure
from .tasks import DEFAULTS, TASKS
from .threads import limit_blas_threads

DEMO_OUT = "demo-output"
TRAIN_OUT = "runs"


# ------------------------------------------------------------------ argument types
def _int_at_least(minimum, description):
    """An argparse type: a whole number >= ``minimum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {description} integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a {description} integer, got {value}")
        return value
    return parse


_positive_int = _int_at_least(1, "positive")
_non_negative_int = _int_at_least(0, "non-negative")


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


# ------------------------------------------------------------------------- parser
def build_parser():
    """The argparse parser of every command (``numpylstm --help`` prints it)."""
    parser = argparse.ArgumentParser(
        prog="numpylstm",
        description="A NumPy-only LSTM with hand-written backpropagation through time: "
                    "check its gradients, train it on built-in tasks, see the results.",
        epilog="Run 'numpylstm COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"numpylstm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _add_demo(commands)
    _add_train(commands)
    _add_gradcheck(commands)
    return parser


def _add_demo(commands):
    demo = commands.add_parser(
        "demo", help="gradient check, then train on a noisy sine and plot (a few seconds)",
        description="The main demo: checks every gradient of a small LSTM against finite "
                    "differences, trains an LSTM to predict the next value of a noisy sine, "
                    "compares its test error with the naive last-value forecast, and writes "
                    "loss.png and prediction.png.")
    demo.add_argument("--out", default=DEMO_OUT, metavar="DIR",
                      help=f"folder for the figures (created if missing; default: {DEMO_OUT})")
    demo.add_argument("--quick", action="store_true",
                      help="a few seconds: a smaller model, less data and 2 epochs (a smoke test, "
                           "not a result)")
    demo.set_defaults(run=run_demo)


def _add_train(commands):
    train = commands.add_parser(
        "train", help="train a model on a built-in task, save its weights and figures",
        description="Train on a built-in task with good defaults, print progress and the final "
                    "metric, and save the weights (numpylstm.io format) and figures into --out.",
        epilog=describe_tasks(), formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--task", required=True, choices=TASKS, help="which task (see below)")
    train.add_argument("--hidden", type=_positive_int, metavar="N", help="LSTM hidden size")
    train.add_argument("--layers", type=_positive_int, metavar="N", help="number of stacked LSTM layers")
    train.add_argument("--epochs", type=_positive_int, metavar="N", help="passes over the training data")
    train.add_argument("--lr", type=_positive_float, metavar="X", help="Adam learning rate")
    train.add_argument("--batch-size", type=_positive_int, metavar="N", help="sequences per step")
    train.add_argument("--samples", type=_positive_int, metavar="N",
                       help="training sequences (chars: the first N windows of the text)")
    train.add_argument("--seed", type=_non_negative_int, default=0, metavar="N",
                       help="seeds the data, the initial weights and the batch order (default: 0)")
    train.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                       help="float type of weights and data (default: float32, twice as fast)")
    train.add_argument("--out", metavar="DIR",
                       help=f"folder for weights and figures (default: {TRAIN_OUT}/TASK)")
    train.add_argument("--quiet", action="store_true", help="no progress line per epoch")
    train.set_defaults(run=run_train)


def _add_gradcheck(commands):
    gradcheck = commands.add_parser(
        "gradcheck", help="check every LSTM gradient against finite differences, gate by gate",
        description="Builds a float64 LSTM, runs forward and the hand-written backward, and "
                    "compares every gradient (input, initial state, each weight and bias) with "
                    "central finite differences. Prints one row per tensor and one column per "
                    "gate; exits with 1 if any gradient is wrong.")
    gradcheck.add_argument("--layers", type=_positive_int, default=2, metavar="N", help="default: 2")
    gradcheck.add_argument("--hidden", type=_positive_int, default=4, metavar="N", help="default: 4")
    gradcheck.add_argument("--input-size", type=_positive_int, default=3, metavar="N", help="default: 3")
    gradcheck.add_argument("--seq-len", type=_positive_int, default=5, metavar="N", help="default: 5")
    gradcheck.add_argument("--batch", type=_positive_int, default=2, metavar="N", help="default: 2")
    gradcheck.add_argument("--bidirectional", action="store_true", help="check both directions")
    gradcheck.add_argument("--proj-size", type=_non_negative_int, default=0, metavar="N",
                           help="LSTM with projection (must be < --hidden; default: 0, none)")
    gradcheck.add_argument("--seed", type=_non_negative_int, default=0, metavar="N", help="default: 0")
    gradcheck.set_defaults(run=run_gradcheck)


# ------------------------------------------------------------------------ main
def main(argv=None):
    """Run the command in ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        with single_threaded_blas():
            return args.run(args)
    except SystemExit as stop:  # argparse: --help (0) or a bad argument (2, message printed)
        return stop.code if isinstance(stop.code, int) else 1
    except (ValueError, TypeError) as error:  # a size too large for memory too (_validate.TooLargeError)
        return _fail(2, error)
    except (OSError, MemoryError) as error:  # an --out that cannot be written; memory that ran out anyway
        return _fail(1, error)
    except KeyboardInterrupt:
        print("numpylstm: interrupted", file=sys.stderr)
        return 130


def single_threaded_blas():
    """``limit_blas_threads(1)`` (small matrix products; ``numpylstm/threads.py`` says why)."""
    return limit_blas_threads(1)


def _fail(code, error):
    """Print the error as one line (multi-line messages joined) and return ``code``."""
    message = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
    print(f"numpylstm: error: {message}", file=sys.stderr)
    return code


# ------------------------------------------------------------------- gradcheck
def run_gradcheck(args):
    started = time.perf_counter()
    lstm, report = tasks.gradient_check(args.layers, args.hidden, args.input_size, args.seq_len, args.batch,
                                        args.bidirectional, args.proj_size, args.seed)
    print(f"Gradient check of LSTM({lstm.extra_repr()}) in float64 on an input of shape "
          f"(T={args.seq_len}, N={args.batch}, {args.input_size}) with random initial states:")
    print("each analytic gradient against central finite differences (eps 1e-6); "
          "relative error = ||analytic - numeric|| / max(||analytic||, ||numeric||)")
    print()
    print(report)
    print(f"({time.perf_counter() - started:.1f}s)")
    return 0 if report.passed else 1


# ------------------------------------------------------------------------ train
def describe_tasks(width=79):
    """The task list for ``numpylstm train --help``: each task, its model and metric, its defaults."""
    lines = ["tasks:"]
    for task in TASKS:
        d = DEFAULTS[task]
        defaults = (f"defaults: --hidden {d.hidden} --layers {d.layers} --epochs {d.epochs} --lr {d.lr:g} "
                    f"--batch-size {d.batch_size}" + (f" --samples {d.samples}" if d.samples else ""))
        lines.append(textwrap.fill(tasks.DESCRIPTIONS[task], width, initial_indent=f"  {task:<9} ",
                                   subsequent_indent=" " * 12, break_on_hyphens=False))
        lines.append(textwrap.fill(defaults, width, initial_indent=" " * 12, subsequent_indent=" " * 12,
                                   break_on_hyphens=False))
    return "\n".join(lines)


def run_train(args):
    out = Path(args.out) if args.out else Path(TRAIN_OUT) / args.task
    options = {name: getattr(args, name) for name in
               ("hidden", "layers", "epochs", "lr", "batch_size", "samples") if getattr(args, name) is not None}
    settings = tasks.settings_for(args.task, seed=args.seed, dtype=args.dtype, **options)
    train_and_report(args.task, settings, out, quiet=args.quiet)
    return 0


def train_and_report(task, settings, out, quiet=False):
    """Train ``task``, print what it measured, save its weights and figures into ``out``; the TaskResult."""
    out.mkdir(parents=True, exist_ok=True)
    print(f"Training on the {task} task: {tasks.DESCRIPTIONS[task]}")
    shown = ", ".join(f"{name} {value}" for name, value in settings._asdict().items() if value is not None)
    print(f"settings: {shown}")
    print(tasks.describe_recipe(settings))
    started = time.perf_counter()
    result = tasks.run(task, settings, quiet=quiet)
    print(tasks.summary(result))
    metadata = {"settings": result.settings._asdict(), "results": result.metrics}
    print(f"weights: {io.save(result.model, out / task, metadata=metadata)}")
    print(f"loss curve: {save_figure(plot_loss(result.history, title=tasks.LOSS_TITLES[task]), out / 'loss.png')}")
    if task == "sine":
        figure = plot_prediction(result.details["y_true"], result.details["y_pred"], result.details["baseline"],
                                 title="sine: test part of the series", labels=("truth", "LSTM", "last value"))
        print(f"prediction plot: {save_figure(figure, out / 'prediction.png')}")
    print(f"done in {time.perf_counter() - started:.1f}s; files in {out}/")
    return result


# ------------------------------------------------------------------------- demo
def run_demo(args):
    return demo(Path(args.out), quick=args.quick)


def demo(out, quick=False):
    """The main job: a gradient check, a training run on the sine task, figures in ``out``."""
    started = time.perf_counter()
    print("numpylstm demo: an LSTM in NumPy, every gradient written by hand\n")
    print("[1/2] Gradient check: every gradient of a small 2-layer LSTM against finite differences\n")
    _, report = tasks.gradient_check(layers=2, hidden=3, input_size=2, seq_len=4, batch=2)
    print(report)
    print("\n[2/2] Training: predict the next value of a noisy sine from the last 25 values\n")
    settings = tasks.DEMO_QUICK if quick else DEFAULTS["sine"]
    result = train_and_report("sine", settings, Path(out))
    ratio = result.metrics["test_mse"] / result.metrics["baseline_mse"]
    verdict = "below" if ratio < 0.1 else "NOT below"
    print(f"\nThe LSTM's test error is {ratio:.1%} of the naive forecast's ({verdict} the 10% target"
          f"{', as expected of a --quick run' if quick and verdict != 'below' else ''}).")
    print(f"Figures: {Path(out) / 'loss.png'} and {Path(out) / 'prediction.png'}   "
          f"(total {time.perf_counter() - started:.1f}s)")
    return 0 if report.passed else 1
