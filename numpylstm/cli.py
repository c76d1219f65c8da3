"""The ``numpylstm`` command line (also ``python -m numpylstm``).

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
from typing import NamedTuple, Optional

import numpy as np

from . import __version__
from .gradcheck import check_gradients
from .recurrent import LSTM
from .threads import limit_blas_threads

TASKS = ("sine", "adding", "reverse", "classify", "chars")
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
    except (ValueError, TypeError) as error:
        return _fail(2, error)
    except OSError as error:  # e.g. --out in a folder that cannot be written
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
def gradcheck_report(layers=2, hidden=4, input_size=3, seq_len=5, batch=2, bidirectional=False,
                     proj_size=0, seed=0):
    """``(LSTM, GradientReport)``: every gradient of a float64 LSTM on random data, with random
    initial states, against finite differences."""
    lstm = LSTM(input_size, hidden, num_layers=layers, bidirectional=bidirectional,
                proj_size=proj_size, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed)
    states = layers * lstm.num_directions
    x = rng.standard_normal((seq_len, batch, input_size))
    state = (rng.standard_normal((states, batch, lstm.output_size)),
             rng.standard_normal((states, batch, hidden)))
    return lstm, check_gradients(lstm, (x, state))


def run_gradcheck(args):
    started = time.perf_counter()
    lstm, report = gradcheck_report(args.layers, args.hidden, args.input_size, args.seq_len, args.batch,
                                    args.bidirectional, args.proj_size, args.seed)
    print(f"Gradient check of LSTM({lstm.extra_repr()}) in float64 on an input of shape "
          f"(T={args.seq_len}, N={args.batch}, {args.input_size}) with random initial states:")
    print("each analytic gradient against central finite differences (eps 1e-6); "
          "relative error = ||analytic - numeric|| / max(||analytic||, ||numeric||)")
    print()
    print(report)
    print(f"({time.perf_counter() - started:.1f}s)")
    return 0 if report.passed else 1


# ---------------------------------------------------------------- task recipes
class Settings(NamedTuple):
    """What one training run uses; ``DEFAULTS`` holds each task's, flags override them."""
    hidden: int
    layers: int
    epochs: int
    lr: float
    batch_size: int
    samples: Optional[int]  # training sequences (chars: windows of the text; None: all of them)
    seed: int = 0
    dtype: str = "float32"


# Tuned on a 2-core machine so that each run reaches the README's result with margin
# in about a minute or less (see the README for the measured numbers and times).
DEFAULTS = {
    "sine": Settings(hidden=32, layers=1, epochs=20, lr=1e-2, batch_size=32, samples=800),
    "adding": Settings(hidden=32, layers=1, epochs=15, lr=1e-2, batch_size=32, samples=5000),
    "reverse": Settings(hidden=64, layers=1, epochs=8, lr=1e-2, batch_size=64, samples=10000),
    "classify": Settings(hidden=32, layers=1, epochs=10, lr=1e-2, batch_size=32, samples=2000),
    "chars": Settings(hidden=128, layers=1, epochs=15, lr=5e-3, batch_size=32, samples=None),
}
TASK_HELP = {
    "sine": "predict the next value of a noisy sine from the last 25 (LSTM + Linear on the last step); "
            "metric: test MSE against the last-value forecast",
    "adding": "the adding problem, T=50: add the two marked numbers of a sequence (Hochreiter & "
              "Schmidhuber 1997); metric: validation MSE (always predicting 1.0 scores 1/6 ≈ 0.167)",
    "reverse": "Seq2Seq encoder-decoder reverses sequences of 3-8 symbols out of 10; metric: share of "
               "sequences decoded exactly (greedy)",
    "classify": "tell which of 3 frequencies a noisy sine of 30 steps has (LSTM + MLP head); "
                "metric: accuracy (chance 33%)",
    "chars": "character language model on 25 Shakespeare sonnets (Embedding + LSTM + Linear); "
             "metric: test cross-entropy against the unigram entropy, and samples",
}
CLIP = 1.0  # global gradient-norm clipping: LSTMs occasionally produce one huge gradient
FORGET_BIAS = 1.0
FINAL_LR_FRACTION = 0.05  # the learning rate ends at 5% of its start (CosineDecay)


def describe_tasks(width=79):
    """The task list for ``numpylstm train --help``: each task, its model and metric, its defaults."""
    lines = ["tasks:"]
    for task in TASKS:
        d = DEFAULTS[task]
        defaults = (f"defaults: --hidden {d.hidden} --layers {d.layers} --epochs {d.epochs} --lr {d.lr:g} "
                    f"--batch-size {d.batch_size}" + (f" --samples {d.samples}" if d.samples else ""))
        lines.append(textwrap.fill(TASK_HELP[task], width, initial_indent=f"  {task:<9} ",
                                   subsequent_indent=" " * 12, break_on_hyphens=False))
        lines.append(textwrap.fill(defaults, width, initial_indent=" " * 12, subsequent_indent=" " * 12,
                                   break_on_hyphens=False))
    return "\n".join(lines)


def train_task(task, out, seed=0, dtype="float32", quiet=False, **overrides):
    """Train ``task`` with its defaults (``overrides`` replace some), save into ``out``; returns 0."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    settings = DEFAULTS[task]._replace(seed=seed, dtype=dtype, **overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"Training on the {task} task: {TASK_HELP[task]}")
    shown = ", ".join(f"{name} {getattr(settings, name)}" for name in Settings._fields
                      if getattr(settings, name) is not None)
    print(f"settings: {shown}")
    print(f"training: Adam, learning rate decaying from {settings.lr:g} to {settings.lr * FINAL_LR_FRACTION:g} "
          f"(half cosine), gradient norm clipped at {CLIP:g}, forget-gate bias {FORGET_BIAS:g}")
    started = time.perf_counter()
    TRAINERS[task](settings, out, quiet)
    print(f"done in {time.perf_counter() - started:.1f}s; files in {out}/")
    return 0


def _fit(model, loss_fn, settings, train_data, val_data, quiet, metric=None):
    """Adam with a cosine-decaying learning rate, gradient clipping and an open forget gate."""
    from .init import forget_gate_bias_
    from .optim import Adam, CosineDecay
    from .train import fit
    # Start every forget gate at sigmoid(1) ~ 0.73 rather than 0.5, so cells keep what they
    # stored from the first step (Gers et al. 2000). On the adding problem this shortened
    # the plateau before learning from 900-1200 steps to 700-800 (4 seeds each).
    forget_gate_bias_(model.model if isinstance(model, _LogitsOnly) else model, FORGET_BIAS)
    n_samples = len(train_data[0][0] if isinstance(train_data[0], tuple) else train_data[0])
    total_steps = settings.epochs * -(-n_samples // settings.batch_size)
    optimizer = CosineDecay(Adam(model.parameters(), lr=settings.lr), total_steps, FINAL_LR_FRACTION)
    return fit(model, loss_fn, optimizer, train_data, epochs=settings.epochs, batch_size=settings.batch_size,
               val_data=val_data, metric=metric, clip=CLIP, seed=settings.seed, quiet=quiet)


def _data_seeds(seed, count):
    """Independent generators for the training data, the validation data, ..."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]


def _save(model, out, name, settings, results):
    from . import io
    path = io.save(model, out / name, metadata={"settings": settings._asdict(), "results": results})
    print(f"weights: {path}")
    return path


def _save_loss_plot(history, out, title):
    from .plot import plot_loss, save_figure
    path = save_figure(plot_loss(history, title=title), out / "loss.png")
    print(f"loss curve: {path}")
    return path


# ----- sine
def sine_data(settings, window=25):
    """The sine task with about ``settings.samples`` training windows (80/20 split in time)."""
    from .data import sine_task
    n_windows = int(np.ceil(settings.samples / 0.8))
    return sine_task(n_steps=n_windows + window, window=window, test_fraction=0.2, seed=settings.seed,
                     dtype=settings.dtype)


def train_sine(settings, out, quiet, prediction_plot="prediction.png"):
    """Train the sine regressor; returns ``(test MSE, baseline MSE)``."""
    from .data import last_value_baseline
    from .losses import mse_loss
    from .models import SequenceRegressor
    from .train import predict
    task = sine_data(settings)
    model = SequenceRegressor(1, settings.hidden, num_layers=settings.layers, batch_first=True,
                              dtype=settings.dtype, seed=settings.seed)
    history = _fit(model, mse_loss, settings, (task.X_train, task.y_train), (task.X_test, task.y_test), quiet)
    pred = predict(model, task.X_test)
    baseline = last_value_baseline(task.X_test)
    mse, base = _mse(pred, task.y_test), _mse(baseline, task.y_test)
    print(f"test MSE {mse:.3g} vs last-value baseline {base:.3g}: {mse / base:.1%} of the baseline "
          f"(on {len(task.y_test)} test windows after the training part of the series)")
    _save(model, out, "sine", settings, {"test_mse": mse, "baseline_mse": base})
    _save_loss_plot(history, out, "sine: next-value prediction")
    from .plot import plot_prediction, save_figure
    figure = plot_prediction(task.y_test, pred, baseline, title="sine: test part of the series",
                             labels=("truth", "LSTM", "last value"))
    print(f"prediction plot: {save_figure(figure, out / prediction_plot)}")
    return mse, base


def _mse(pred, target):
    return float(np.mean((np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)) ** 2))


# ----- adding problem
def train_adding(settings, out, quiet, seq_len=50, n_val=1000):
    from .data import adding_problem
    from .losses import mse_loss
    from .models import SequenceRegressor
    train_rng, val_rng = _data_seeds(settings.seed, 2)
    X, y = adding_problem(settings.samples, seq_len, seed=train_rng, dtype=settings.dtype)
    X_val, y_val = adding_problem(n_val, seq_len, seed=val_rng, dtype=settings.dtype)
    model = SequenceRegressor(2, settings.hidden, num_layers=settings.layers, batch_first=True,
                              dtype=settings.dtype, seed=settings.seed)
    history = _fit(model, mse_loss, settings, (X, y), (X_val, y_val), quiet)
    mse, constant = history.val_loss[-1], _mse(np.ones_like(y_val), y_val)
    print(f"validation MSE {mse:.3g} (T={seq_len}, {n_val} new sequences); predicting 1.0 scores "
          f"{constant:.3g}, so the LSTM removed {1 - mse / constant:.1%} of that error")
    _save(model, out, "adding", settings, {"val_mse": mse, "constant_mse": constant})
    _save_loss_plot(history, out, f"adding problem, T={seq_len}")


# ----- reversal
def train_reverse(settings, out, quiet, n_val=1000, embedding_dim=16):
    from .data import END, START, exact_match, reversal_task
    from .losses import cross_entropy
    from .seq2seq import Seq2Seq
    from .train import accuracy
    train_rng, val_rng = _data_seeds(settings.seed, 2)
    data, val = reversal_task(settings.samples, seed=train_rng), reversal_task(n_val, seed=val_rng)
    model = Seq2Seq(data.n_tokens, embedding_dim, settings.hidden, num_layers=settings.layers,
                    batch_first=True, dtype=settings.dtype, seed=settings.seed)

    def teacher_forced(d):
        return (d.source, d.decoder_input, d.source_lengths), (d.target, d.target_mask)

    history = _fit(model, cross_entropy, settings, teacher_forced(data), teacher_forced(val), quiet,
                   metric=accuracy)
    tokens, _ = model.greedy_decode(val.source, START, END, max_len=val.target.shape[1],
                                    src_lengths=val.source_lengths)
    exact = exact_match(tokens, val.target, val.target_mask)
    print(f"greedy decoding: {exact:.1%} of {n_val} new sequences reversed exactly "
          f"(teacher-forced token accuracy {history.val_metric[-1]:.1%})")
    for k in range(3):
        n = int(val.source_lengths[k])
        print(f"  {_symbols(val.source[k, :n])}  ->  {_symbols(tokens[k, :n])}")
    _save(model, out, "reverse", settings, {"exact_match": exact})
    _save_loss_plot(history, out, "Seq2Seq sequence reversal")


def _symbols(tokens):
    from .data import FIRST_SYMBOL
    return " ".join(str(int(t) - FIRST_SYMBOL) if t >= FIRST_SYMBOL else "?" for t in tokens)


# ----- classification
def train_classify(settings, out, quiet, n_val=1000, n_classes=3):
    from .data import classification_task
    from .losses import cross_entropy
    from .models import SequenceClassifier
    from .train import accuracy
    train_rng, val_rng = _data_seeds(settings.seed, 2)
    X, y = classification_task(settings.samples, n_classes=n_classes, seed=train_rng, dtype=settings.dtype)
    X_val, y_val = classification_task(n_val, n_classes=n_classes, seed=val_rng, dtype=settings.dtype)
    model = SequenceClassifier(1, settings.hidden, n_classes, num_layers=settings.layers, batch_first=True,
                               dtype=settings.dtype, seed=settings.seed)
    history = _fit(model, cross_entropy, settings, (X, y), (X_val, y_val), quiet, metric=accuracy)
    correct = history.val_metric[-1]
    print(f"validation accuracy {correct:.1%} on {n_val} new sequences (chance: {1 / n_classes:.1%})")
    _save(model, out, "classify", settings, {"val_accuracy": correct, "chance": 1 / n_classes})
    _save_loss_plot(history, out, f"classifying {n_classes} frequencies")


# ----- character language model
class _LogitsOnly:
    """Shows ``fit`` a ``CharLM`` as a model with one output: the logits, not ``(logits, state)``."""

    def __init__(self, model):
        self.model = model

    def __call__(self, ids):
        return self.model(ids)[0]

    def backward(self, d_logits):
        return self.model.backward(d_logits)

    def __getattr__(self, name):  # parameters, train, eval, clear_caches, ...: the model's own
        return getattr(self.model, name)


def train_chars(settings, out, quiet, seq_len=64, step=16, embedding_dim=32,
                prompt="When ", temperatures=(0.5, 0.8, 1.0), sample_length=240):
    from .data import char_task, unigram_entropy
    from .losses import cross_entropy
    from .models import CharLM
    task = char_task(seq_len=seq_len, step=step, test_fraction=0.1)
    X, Y = task.X_train[:settings.samples], task.Y_train[:settings.samples]
    model = CharLM(task.vocab.size, embedding_dim, settings.hidden, num_layers=settings.layers,
                   batch_first=True, dtype=settings.dtype, seed=settings.seed)
    history = _fit(_LogitsOnly(model), cross_entropy, settings, (X, Y), (task.X_test, task.Y_test), quiet)
    unigram = unigram_entropy(task.Y_train, task.vocab.size)
    test, train = history.val_loss[-1], history.train_loss[-1]
    nats_to_bits = 1 / np.log(2)
    print(f"test cross-entropy {test:.3f} nats/char ({test * nats_to_bits:.2f} bits), training "
          f"{train:.3f} nats/char; unigram entropy of the text {unigram:.3f} nats/char "
          f"({unigram * nats_to_bits:.2f} bits)")
    for temperature in temperatures:
        ids = model.sample(task.vocab.encode(prompt), sample_length, temperature=temperature, seed=settings.seed)
        text = prompt + task.vocab.decode(ids)
        print(f"--- sample at temperature {temperature}:\n{text}")
    print("---")
    _save(model, out, "chars", settings._replace(samples=len(X)),
          {"test_loss": test, "train_loss": train, "unigram_entropy": unigram, "vocab": "".join(task.vocab.chars)})
    _save_loss_plot(history, out, "character language model (nats/char)")


TRAINERS = {"sine": train_sine, "adding": train_adding, "reverse": train_reverse,
            "classify": train_classify, "chars": train_chars}


# ------------------------------------------------------------------------- demo
DEMO_QUICK = Settings(hidden=8, layers=1, epochs=2, lr=1e-2, batch_size=32, samples=200)


def run_demo(args):
    return demo(Path(args.out), quick=args.quick)


def demo(out, quick=False):
    """The main job: a gradient check, a training run on the sine task, figures in ``out``."""
    started = time.perf_counter()
    print("numpylstm demo: an LSTM in NumPy, every gradient written by hand\n")
    print("[1/2] Gradient check: every gradient of a small 2-layer LSTM against finite differences\n")
    _, report = gradcheck_report(layers=2, hidden=3, input_size=2, seq_len=4, batch=2)
    print(report)
    print("\n[2/2] Training: predict the next value of a noisy sine from the last 25 values\n")
    settings = DEMO_QUICK if quick else DEFAULTS["sine"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mse, base = train_sine(settings, out, quiet=False)
    verdict = "below" if mse < 0.1 * base else "NOT below"
    print(f"\nThe LSTM's test error is {mse / base:.1%} of the naive forecast's ({verdict} the 10% target"
          f"{', as expected of a --quick run' if quick and verdict != 'below' else ''}).")
    print(f"Figures: {out / 'loss.png'} and {out / 'prediction.png'}   "
          f"(total {time.perf_counter() - started:.1f}s)")
    return 0 if report.passed else 1


# ------------------------------------------------------------------------ train
def run_train(args):
    out = Path(args.out) if args.out else Path(TRAIN_OUT) / args.task
    options = {name: getattr(args, name) for name in
               ("hidden", "layers", "epochs", "lr", "batch_size", "samples") if getattr(args, name) is not None}
    return train_task(args.task, out, seed=args.seed, dtype=args.dtype, quiet=args.quiet, **options)
