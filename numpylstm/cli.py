"""The ``numpylstm`` command line (also ``python -m numpylstm``): it parses arguments and prints.

What it runs lives in ``numpylstm.tasks`` (the built-in experiments and their training
recipes), which Python users and notebooks can call directly.

::

    numpylstm demo      [--out DIR] [--quick] [--force] [--format {png,svg,pdf}] [--dpi N]
    numpylstm train     --task {sine,adding,reverse,classify,chars} [--hidden N] [--layers N]
                        [--epochs N] [--lr X] [--batch-size N] [--samples N] [--seed N]
                        [--dtype {float32,float64}] [--out DIR] [--force] [--quiet]
                        [--format {png,svg,pdf}] [--dpi N]
    numpylstm gradcheck [--layers N] [--hidden N] [--input-size N] [--seq-len N] [--batch N]
                        [--bidirectional] [--proj-size N] [--seed N]
    numpylstm predict   MODEL (--input X.npy [--output FILE] [--force] | --task TASK [--seed N])
    numpylstm sample    MODEL [--prompt TEXT] [--length N] [--temperature X] [--seed N]

Every command has ``--help``. Every error is one line ``numpylstm: error: ...`` on
stderr, never a traceback: exit code 2 for a bad argument (or a value the library
refuses), 1 for a file that cannot be read or written (or a failed gradient check).
Commands that write check first that they can: the folder is created and written to,
and files of an earlier run are replaced only with ``--force``, before any training.

``main(argv)`` runs a command and returns its exit code, so tests and scripts can call
it without a subprocess.
"""
import argparse
import math
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from . import __version__, io, tasks
from ._atomic_write import write_atomically
from .tasks import DEFAULTS, TASKS
from .threads import limit_blas_threads

DEMO_OUT = "demo-output"
TRAIN_OUT = "runs"
FIGURE_FORMATS = ("png", "svg", "pdf")
FIGURE_DPI = 150   # plot.DEFAULT_DPI, for --help without loading matplotlib (a test holds them equal)
PROGRESS_AFTER_SECONDS = 5.0  # gradient checks estimated to take longer print a line per tensor
DTYPE_HELP = ("float type of the weights and data (default: float32, about twice as fast as float64, and "
              "training needs no more; numpylstm's modules default to float64 in Python, the precision a "
              "gradient check needs)")


class UsageError(Exception):
    """A bad command line: exit code 2."""


class FileProblem(Exception):
    """A file or folder that cannot be read or written: exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as one line (no usage block) for ``main`` to print."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


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
    parser = _Parser(
        prog="numpylstm",
        description="A NumPy-only LSTM with hand-written backpropagation through time: "
                    "check its gradients, train it on built-in tasks, see the results, reuse the models.",
        epilog="Run 'numpylstm COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"numpylstm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for add in (_add_demo, _add_train, _add_gradcheck, _add_predict, _add_sample):
        add(commands)
    return parser


def _add_output_options(command, default_out):
    """--out, --force, --format and --dpi: where a command writes and how its figures look."""
    command.add_argument("--out", metavar="DIR",
                         help=f"folder for weights and figures, created if missing (default: {default_out})")
    command.add_argument("--force", action="store_true",
                         help="replace the files of an earlier run in --out (without it they are never "
                              "overwritten: the command stops before training)")
    command.add_argument("--format", choices=FIGURE_FORMATS, default="png",
                         help="figure file format (default: png; svg and pdf scale for slides and print)")
    command.add_argument("--dpi", type=_positive_int, metavar="N",   # None: plot.DEFAULT_DPI
                         help=f"resolution of png figures (default: {FIGURE_DPI})")


def _add_demo(commands):
    demo = commands.add_parser(
        "demo", help="gradient check, then train on a noisy sine and plot (a few seconds)",
        description="The main demo: checks every gradient of a small LSTM against finite "
                    "differences, trains an LSTM to predict the next value of a noisy sine, "
                    "compares its test error with the naive last-value forecast, and writes "
                    "sine.npz, loss.png and prediction.png.")
    _add_output_options(demo, DEMO_OUT)
    demo.add_argument("--quick", action="store_true",
                      help="about a second of training: a smaller model, less data, 6 epochs (a smoke test)")
    demo.set_defaults(run=run_demo)


def _add_train(commands):
    train = commands.add_parser(
        "train", help="train a model on a built-in task, save its weights and figures",
        description="Train on a built-in task with good defaults, print progress and the final "
                    "metric, and save the weights (numpylstm.io format) and figures into --out. "
                    "It trains in float32 unless --dtype float64 is given.",
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
    train.add_argument("--dtype", choices=("float32", "float64"), default="float32", help=DTYPE_HELP)
    _add_output_options(train, f"{TRAIN_OUT}/TASK")
    train.add_argument("--quiet", action="store_true", help="no progress line per epoch")
    train.set_defaults(run=run_train)


def _add_gradcheck(commands):
    gradcheck = commands.add_parser(
        "gradcheck", help="check every LSTM gradient against finite differences, gate by gate",
        description="Builds a float64 LSTM, runs forward and the hand-written backward, and "
                    "compares every gradient (input, initial state, each weight and bias) with "
                    "central finite differences. Prints an estimate of its duration first (2 forward "
                    "passes per checked number), then one row per tensor and one column per "
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


def _add_predict(commands):
    predict = commands.add_parser(
        "predict", help="run a saved model on an .npy file, or measure it on its task's held-out data",
        description="Loads a model saved by 'numpylstm train' (or numpylstm.io.save). With --input it "
                    "writes the model's predictions for the arrays in an .npy file: values (N, 1) for "
                    "sine and adding, class ids (N,) for classify, decoded tokens (N, L) for reverse "
                    "(source ids padded with 0), the most likely next characters' ids (N, T) for chars. "
                    "With --task it generates the task's held-out data and prints the task's metrics.")
    predict.add_argument("model", metavar="MODEL", help="weight file, e.g. runs/sine/sine.npz")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="X.npy", help="inputs, samples first, as the task's data")
    source.add_argument("--task", choices=TASKS,
                        help="measure on this task's held-out data (the one the model was trained on)")
    predict.add_argument("--output", metavar="FILE",
                         help="with --input: where to write the predictions (default: X-predictions.npy)")
    predict.add_argument("--force", action="store_true", help="replace an existing --output")
    predict.add_argument("--seed", type=_non_negative_int, metavar="N",
                         help="with --task: seed of the generated data (default: the training run's, "
                              "which gives the data it was measured on after training)")
    predict.set_defaults(run=run_predict)


def _add_sample(commands):
    sample = commands.add_parser(
        "sample", help="generate text with a saved character model",
        description="Loads a character model saved by 'numpylstm train --task chars' and writes "
                    "--length characters after --prompt, drawing each from the model's distribution "
                    "sharpened (temperature < 1) or flattened (> 1).")
    sample.add_argument("model", metavar="MODEL", help="weight file, e.g. runs/chars/chars.npz")
    sample.add_argument("--prompt", default=tasks.SAMPLE_PROMPT,
                        help=f"text to start from (default: {tasks.SAMPLE_PROMPT!r})")
    sample.add_argument("--length", type=_positive_int, default=240, metavar="N",
                        help="characters to generate (default: 240)")
    sample.add_argument("--temperature", type=_positive_float, default=0.8, metavar="X", help="default: 0.8")
    sample.add_argument("--seed", type=_non_negative_int, default=0, metavar="N",
                        help="seeds the draws: the same seed gives the same text (default: 0)")
    sample.set_defaults(run=run_sample)


# ------------------------------------------------------------------------ main
def main(argv=None):
    """Run the command in ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        with single_threaded_blas():
            return args.run(args)
    except SystemExit as stop:  # --help and --version print and exit 0
        return stop.code if isinstance(stop.code, int) else 1
    except (UsageError, ValueError, TypeError) as error:  # a size too large for memory too (_validate.TooLargeError)
        return _fail(2, error)
    except (FileProblem, FloatingPointError, MemoryError) as error:  # fit's divergence guard; memory that ran out anyway
        return _fail(1, error)
    except OSError as error:  # e.g. a disk that fills up while saving
        return _fail(1, _os_error_text(error))
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


def _os_error_text(error):
    """``"Permission denied: 'runs/x'"`` rather than ``"[Errno 13] Permission denied: 'runs/x'"``."""
    if error.strerror and error.filename:
        return f"{error.strerror}: {str(error.filename)!r}"
    return error.strerror or str(error)


# -------------------------------------------------------------------- output
def prepare_output(folder, names, force, option="--out"):
    """Before any work: create ``folder``, write a test file into it, and refuse to replace
    the files ``names`` there unless ``force``. Raises FileProblem naming ``option``."""
    folder = Path(folder)
    _create_folder(folder, option)
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".numpylstm-write-test-")
    except OSError as error:
        raise FileProblem(f"cannot write into {option} {str(folder)!r}: {error.strerror}") from None
    os.close(handle)
    os.unlink(probe)
    _check_replaceable([folder / name for name in names], force)
    return folder


def _create_folder(folder, option):
    if folder.exists() and not folder.is_dir():
        raise FileProblem(f"{option} {str(folder)!r} is a file, not a folder; choose another {option}")
    existing = next(parent for parent in (folder, *folder.parents) if parent.exists())
    if not existing.is_dir():
        raise FileProblem(f"cannot create {option} {str(folder)!r}: {str(existing)!r} is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FileProblem(f"cannot create {option} {str(folder)!r}: {error.strerror}") from None


def _check_replaceable(paths, force):
    """Refuse to overwrite existing ``paths`` without ``force``, and paths that cannot be replaced."""
    existing = [path for path in paths if path.exists() or path.is_symlink()]
    if existing and not force:
        names = ", ".join(path.name for path in existing)
        raise FileProblem(f"{str(existing[0].parent)!r} already holds {names} from an earlier run; add --force "
                          f"to replace {'them' if len(existing) > 1 else 'it'}, or choose another folder")
    for path in existing:
        if path.is_dir():
            raise FileProblem(f"cannot replace {str(path)!r}: it is a folder")
        if not os.access(path, os.W_OK):
            raise FileProblem(f"cannot replace {str(path)!r}: it is not writable")


def run_files(task, figure_format):
    """The files ``train_and_report`` writes for ``task``: the weights, then the figures."""
    figures = ["loss", "prediction"] if task == "sine" else ["loss"]
    return [f"{task}{io.SUFFIX}"] + [f"{name}.{figure_format}" for name in figures]


# ------------------------------------------------------------------- gradcheck
def run_gradcheck(args):
    started = time.perf_counter()
    plan = tasks.plan_gradient_check(args.layers, args.hidden, args.input_size, args.seq_len, args.batch,
                                     args.bidirectional, args.proj_size, args.seed)
    print(f"Gradient check of LSTM({plan.lstm.extra_repr()}) in float64 on an input of shape "
          f"(T={args.seq_len}, N={args.batch}, {args.input_size}) with random initial states:")
    print("each analytic gradient against central finite differences (eps 1e-6); "
          "relative error = ||analytic - numeric|| / max(||analytic||, ||numeric||)")
    print(estimate_line(plan))
    long_check = plan.estimated_seconds >= PROGRESS_AFTER_SECONDS
    report = tasks.run_gradient_check(plan, progress=ProgressLines(plan) if long_check else None)
    print()
    print(report)
    print(f"({time.perf_counter() - started:.1f}s)")
    return 0 if report.passed else 1


def estimate_line(plan):
    """How long a gradient check will take, and why."""
    return (f"{plan.forward_passes:,} forward passes (2 per number in the input, the initial states and the "
            f"weights) of about {_milliseconds(plan.seconds_per_pass)} ms each: about "
            f"{_duration(plan.estimated_seconds)}")


def _milliseconds(seconds):
    milliseconds = 1000 * seconds
    return f"{milliseconds:.2f}" if milliseconds < 1 else f"{milliseconds:.1f}" if milliseconds < 10 \
        else f"{milliseconds:.0f}"


def _duration(seconds):
    if seconds < 1:
        return "a second or less"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


class ProgressLines:
    """``check_gradients``'s ``progress``: a line per tensor with the share of forward passes done
    and the time left at the pace so far."""

    def __init__(self, plan):
        self.total, self.done = plan.forward_passes, 1
        self.seconds_per_pass, self.started = plan.seconds_per_pass, time.perf_counter()

    def __call__(self, name, shape):
        elapsed = time.perf_counter() - self.started
        pace = elapsed / (self.done - 1) if self.done > 1 and elapsed > 0 else self.seconds_per_pass
        passes = 2 * int(np.prod(shape))
        print(f"  {math.floor(100 * self.done / self.total):3d}% done after {elapsed:4.0f} s, about "
              f"{_duration(pace * (self.total - self.done))} left: {name} {tuple(shape)}, {passes:,} passes",
              flush=True)
        self.done += passes


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
    prepare_output(out, run_files(args.task, args.format), args.force)
    train_and_report(args.task, settings, out, quiet=args.quiet, figure_format=args.format, dpi=args.dpi)
    return 0


def train_and_report(task, settings, out, quiet=False, figure_format="png", dpi=None):
    """Train ``task``, print what it measured, save its weights and figures into ``out``; the TaskResult.

    ``out`` must exist and be writable (``prepare_output`` checks it before). ``dpi``: of png
    figures, None for ``plot.DEFAULT_DPI``.
    """
    print(f"Training on the {task} task: {tasks.DESCRIPTIONS[task]}")
    shown = ", ".join(f"{name} {value}" for name, value in settings._asdict().items() if value is not None)
    print(f"settings: {shown}")
    print(tasks.describe_recipe(settings))
    started = time.perf_counter()
    result = tasks.run(task, settings, quiet=quiet)
    print(tasks.summary(result))
    weights, *figure_names = run_files(task, figure_format)
    print(f"weights: {io.save(result.model, out / weights, metadata=tasks.run_metadata(result))}")
    from . import plot   # here, not at the top: matplotlib takes ~0.8 s to load, and most commands draw nothing
    for name, figure in zip(figure_names, _figures(plot, result)):
        saved = plot.save_figure(figure, out / name, dpi=plot.DEFAULT_DPI if dpi is None else dpi)
        print(f"{name.split('.')[0]} figure: {saved}")
    print(f"done in {time.perf_counter() - started:.1f}s; files in {out}/")
    return result


def _figures(plot, result):
    """The loss figure with the task's baselines, and for the sine task the prediction figure."""
    yield plot.plot_loss(result.history, title=tasks.LOSS_TITLES[result.task], **tasks.figure_baselines(result))
    if result.task == "sine":
        d = result.details
        yield plot.plot_prediction(d["y_true"], d["y_pred"], d["baseline"], title="sine: test part of the series",
                              labels=("truth", "LSTM", "last value"))


# ---------------------------------------------------------------- predict, sample
def run_predict(args):
    if args.task is None and (args.seed is not None):
        raise UsageError("--seed goes with --task (see 'numpylstm predict --help')")
    if args.task is not None and (args.output or args.force):
        raise UsageError("--output and --force go with --input (see 'numpylstm predict --help')")
    model, metadata = _load_model(args.model)
    if args.task is not None:
        return _measure(model, metadata, args)
    given = Path(args.input)
    output = Path(args.output) if args.output else given.with_name(f"{given.stem}-predictions.npy")
    prepare_output(output.parent, [output.name], args.force, option="--output folder")
    predictions = tasks.predictions(model, _load_array(given))
    # as io.save writes weights: a temporary file, fsynced, renamed over the target
    write_atomically(output, lambda file: np.save(file, predictions, allow_pickle=False),
                     io.STALE_TEMPORARY_SECONDS)
    print(f"predictions {predictions.shape} ({predictions.dtype}) of {type(model).__name__} for "
          f"{given}: {output}")
    return 0


def _measure(model, metadata, args):
    task, settings = tasks.saved_run(metadata, args.task, args.seed)
    print(f"{args.model}: a {type(model).__name__} measured on the {task} task's held-out data "
          f"(seed {settings.seed}{', as after training' if args.seed is None else ''})")
    metrics, details = tasks.evaluate(task, model, settings)
    print(tasks.summary(tasks.TaskResult(task, settings, model, None, metrics, details)))
    return 0


def run_sample(args):
    model, metadata = _load_model(args.model)
    vocab = tasks.saved_vocabulary(metadata, model)
    print(tasks.sample_text(model, vocab, args.prompt, args.length, args.temperature, args.seed))
    return 0


def _load_model(path):
    """``(model, metadata)`` from a weight file; a file that is missing or not one is a FileProblem."""
    try:
        return io.load_model(path), io.read_info(path)["metadata"]
    except (OSError, ValueError) as error:
        raise FileProblem(_os_error_text(error) if isinstance(error, OSError) else error) from None


def _load_array(path):
    """The array in an ``.npy`` file (never unpickled); anything else is a FileProblem."""
    try:
        array = np.load(path, allow_pickle=False)
    except OSError as error:
        raise FileProblem(f"cannot read --input: {_os_error_text(error)}") from None
    except ValueError as error:
        raise FileProblem(f"--input {str(path)!r} is not an .npy file of numbers ({error})") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise FileProblem(f"--input {str(path)!r} is an .npz archive; save the one input array with np.save")
    return array


# ------------------------------------------------------------------------- demo
def run_demo(args):
    out = prepare_output(args.out or DEMO_OUT, run_files("sine", args.format), args.force)
    return demo(out, quick=args.quick, figure_format=args.format, dpi=args.dpi)


def demo(out, quick=False, figure_format="png", dpi=None):
    """The main job: a gradient check, a training run on the sine task, figures in ``out`` (which must exist)."""
    started = time.perf_counter()
    print("numpylstm demo: an LSTM in NumPy, every gradient written by hand\n")
    print("[1/2] Gradient check: every gradient of a small 2-layer LSTM against finite differences\n")
    _, report = tasks.gradient_check(layers=2, hidden=3, input_size=2, seq_len=4, batch=2)
    print(report)
    print("\n[2/2] Training: predict the next value of a noisy sine from the last 25 values\n")
    settings = tasks.DEMO_QUICK if quick else DEFAULTS["sine"]
    result = train_and_report("sine", settings, Path(out), figure_format=figure_format, dpi=dpi)
    print("\n" + verdict(result.metrics, quick))
    figures = " and ".join(str(Path(out) / name) for name in run_files("sine", figure_format)[1:])
    print(f"Figures: {figures}   (total {time.perf_counter() - started:.1f}s)")
    return 0 if report.passed else 1


def verdict(metrics, quick=False):
    """The demo's last words: the LSTM's test error against the last-value forecast's."""
    ratio = metrics["test_mse"] / metrics["baseline_mse"]
    if ratio < 1:
        words = (f"The LSTM's test error is {ratio:.1%} of the naive forecast's "
                 f"({'below' if ratio < 0.1 else 'not below'} the 10% target).")
    else:
        words = f"The LSTM has not learned yet: its test error is {ratio:.1f} times the naive forecast's."
    if quick:
        words += " (--quick: a smaller model trained for seconds; 'numpylstm demo' trains the full one.)"
    return words
