"""The built-in experiments: each task's data, model, optimizer, schedule, clipping and initialisation.

The command line (``numpylstm train``, ``numpylstm demo``) runs these, and so can a script
or a notebook::

    from numpylstm import tasks
    result = tasks.run("adding", epochs=3)         # the recipe's defaults, some overridden
    print(tasks.summary(result))                   # what the CLI prints
    result.metrics["val_mse"], result.model, result.history

Every task trains with the same recipe (``_fit``): Adam with a learning rate decaying
along a half cosine, the global gradient norm clipped at ``CLIP``, and the forget-gate
bias set to ``FORGET_BIAS``. Nothing here prints (``fit``'s progress lines aside, when
``quiet=False``) or writes files: the CLI does that with what ``run`` returns.
"""
from typing import Any, Dict, NamedTuple, Optional

import numpy as np

from . import _validate as check
from .data import (END, FIRST_SYMBOL, START, adding_problem, char_task, classification_task, exact_match,
                   last_value_baseline, reversal_task, sine_task, unigram_entropy)
from .gradcheck import check_gradients
from .init import forget_gate_bias_
from .losses import cross_entropy, mse_loss
from .models import CharLM, SequenceClassifier, SequenceRegressor
from .module import Module
from .optim import Adam, CosineDecay
from .recurrent import LSTM
from .seq2seq import Seq2Seq
from .train import accuracy, fit, predict

TASKS = ("sine", "adding", "reverse", "classify", "chars")


class Settings(NamedTuple):
    """What one training run uses; ``DEFAULTS`` holds each task's, ``run``'s keywords override them."""
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
DEMO_QUICK = Settings(hidden=8, layers=1, epochs=2, lr=1e-2, batch_size=32, samples=200)
DESCRIPTIONS = {
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


class TaskResult(NamedTuple):
    """What ``run`` returns: the trained model and what was measured.

    ``metrics`` holds the task's numbers (e.g. ``{"test_mse": ..., "baseline_mse": ...}``);
    ``details`` what a report or a figure needs besides (predictions, decoded examples, samples).
    """
    task: str
    settings: Settings
    model: Module
    history: Any           # train.History
    metrics: Dict[str, Any]
    details: Dict[str, Any]


def settings_for(task, **overrides):
    """The task's ``DEFAULTS`` with ``overrides`` (hidden, layers, epochs, lr, batch_size, samples, seed, dtype)."""
    check.one_of(task, "task", TASKS)
    unknown = sorted(set(overrides) - set(Settings._fields))
    if unknown:
        raise TypeError(f"unknown setting(s) {unknown}; settings are {list(Settings._fields)}")
    return DEFAULTS[task]._replace(**overrides)


def run(task, settings=None, quiet=True, **overrides):
    """Train ``task`` with ``settings`` (default: ``settings_for(task, **overrides)``); returns a TaskResult."""
    settings = settings_for(task, **overrides) if settings is None else settings
    return _TRAINERS[task](settings, quiet)


def describe_recipe(settings):
    """One line: how every task trains (optimizer, schedule, clipping, forget-gate bias)."""
    return (f"training: Adam, learning rate decaying from {settings.lr:g} to {settings.lr * FINAL_LR_FRACTION:g} "
            f"(half cosine), gradient norm clipped at {CLIP:g}, forget-gate bias {FORGET_BIAS:g}")


# --------------------------------------------------------------------- the recipe
def _fit(model, loss_fn, settings, train_data, val_data, quiet, metric=None, output=None):
    """Adam with a cosine-decaying learning rate, gradient clipping and an open forget gate."""
    # Start every forget gate at sigmoid(1) ~ 0.73 rather than 0.5, so cells keep what they
    # stored from the first step (Gers et al. 2000). On the adding problem this shortened
    # the plateau before learning from 900-1200 steps to 700-800 (4 seeds each).
    forget_gate_bias_(model, FORGET_BIAS)
    n_samples = len(train_data[0][0] if isinstance(train_data[0], tuple) else train_data[0])
    total_steps = settings.epochs * -(-n_samples // settings.batch_size)
    optimizer = CosineDecay(Adam(model.parameters(), lr=settings.lr), total_steps, FINAL_LR_FRACTION)
    trained = model if output is None else _FirstOutput(model)
    return fit(trained, loss_fn, optimizer, train_data, epochs=settings.epochs, batch_size=settings.batch_size,
               val_data=val_data, metric=metric, clip=CLIP, seed=settings.seed, quiet=quiet)


class _FirstOutput:
    """Shows ``fit`` a model that returns ``(logits, state)`` (``CharLM``) as one with the logits only."""

    def __init__(self, model):
        self.model = model

    def __call__(self, ids):
        return self.model(ids)[0]

    def backward(self, d_logits):
        return self.model.backward(d_logits)

    def __getattr__(self, name):  # parameters, train, eval, clear_caches, ...: the model's own
        return getattr(self.model, name)


def _data_seeds(seed, count):
    """Independent generators for the training data, the validation data, ..."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]


def _mse(pred, target):
    return float(np.mean((np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)) ** 2))


# ------------------------------------------------------------------------ the tasks
def sine_data(settings, window=25):
    """The sine task with about ``settings.samples`` training windows (80/20 split in time)."""
    n_windows = int(np.ceil(settings.samples / 0.8))
    return sine_task(n_steps=n_windows + window, window=window, test_fraction=0.2, seed=settings.seed,
                     dtype=settings.dtype)


def train_sine(settings, quiet=True):
    """Predict the next value of a noisy sine; metrics: test MSE and the last-value forecast's."""
    task = sine_data(settings)
    model = SequenceRegressor(1, settings.hidden, num_layers=settings.layers, batch_first=True,
                              dtype=settings.dtype, seed=settings.seed)
    history = _fit(model, mse_loss, settings, (task.X_train, task.y_train), (task.X_test, task.y_test), quiet)
    pred = predict(model, task.X_test)
    baseline = last_value_baseline(task.X_test)
    metrics = {"test_mse": _mse(pred, task.y_test), "baseline_mse": _mse(baseline, task.y_test),
               "test_windows": len(task.y_test)}
    return TaskResult("sine", settings, model, history, metrics,
                      {"y_true": task.y_test, "y_pred": pred, "baseline": baseline})


def train_adding(settings, quiet=True, seq_len=50, n_val=1000):
    """The adding problem; metrics: validation MSE and that of always predicting 1.0."""
    train_rng, val_rng = _data_seeds(settings.seed, 2)
    X, y = adding_problem(settings.samples, seq_len, seed=train_rng, dtype=settings.dtype)
    X_val, y_val = adding_problem(n_val, seq_len, seed=val_rng, dtype=settings.dtype)
    model = SequenceRegressor(2, settings.hidden, num_layers=settings.layers, batch_first=True,
                              dtype=settings.dtype, seed=settings.seed)
    history = _fit(model, mse_loss, settings, (X, y), (X_val, y_val), quiet)
    metrics = {"val_mse": history.val_loss[-1], "constant_mse": _mse(np.ones_like(y_val), y_val),
               "seq_len": seq_len, "val_sequences": n_val}
    return TaskResult("adding", settings, model, history, metrics, {})


def train_reverse(settings, quiet=True, n_val=1000, embedding_dim=16):
    """Seq2Seq reverses sequences; metric: the share of new sequences decoded exactly."""
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
    examples = [(_symbols(val.source[k, :n]), _symbols(tokens[k, :n]))
                for k, n in enumerate(val.source_lengths[:3].tolist())]
    metrics = {"exact_match": exact_match(tokens, val.target, val.target_mask),
               "token_accuracy": history.val_metric[-1], "val_sequences": n_val}
    return TaskResult("reverse", settings, model, history, metrics, {"examples": examples})


def _symbols(tokens):
    return " ".join(str(int(t) - FIRST_SYMBOL) if t >= FIRST_SYMBOL else "?" for t in tokens)


def train_classify(settings, quiet=True, n_val=1000, n_classes=3):
    """Classify noisy sines by frequency; metric: validation accuracy against chance."""
    train_rng, val_rng = _data_seeds(settings.seed, 2)
    X, y = classification_task(settings.samples, n_classes=n_classes, seed=train_rng, dtype=settings.dtype)
    X_val, y_val = classification_task(n_val, n_classes=n_classes, seed=val_rng, dtype=settings.dtype)
    model = SequenceClassifier(1, settings.hidden, n_classes, num_layers=settings.layers, batch_first=True,
                               dtype=settings.dtype, seed=settings.seed)
    history = _fit(model, cross_entropy, settings, (X, y), (X_val, y_val), quiet, metric=accuracy)
    metrics = {"val_accuracy": history.val_metric[-1], "chance": 1 / n_classes, "val_sequences": n_val}
    return TaskResult("classify", settings, model, history, metrics, {})


def train_chars(settings, quiet=True, seq_len=64, step=16, embedding_dim=32, prompt="When ",
                temperatures=(0.5, 0.8, 1.0), sample_length=240):
    """A character model of the sonnets; metrics: test cross-entropy against the unigram entropy."""
    task = char_task(seq_len=seq_len, step=step, test_fraction=0.1)
    X, Y = task.X_train[:settings.samples], task.Y_train[:settings.samples]
    settings = settings._replace(samples=len(X))
    model = CharLM(task.vocab.size, embedding_dim, settings.hidden, num_layers=settings.layers,
                   batch_first=True, dtype=settings.dtype, seed=settings.seed)
    history = _fit(model, cross_entropy, settings, (X, Y), (task.X_test, task.Y_test), quiet, output="logits")
    samples = {t: prompt + task.vocab.decode(model.sample(task.vocab.encode(prompt), sample_length,
                                                          temperature=t, seed=settings.seed))
               for t in temperatures}
    metrics = {"test_loss": history.val_loss[-1], "train_loss": history.train_loss[-1],
               "unigram_entropy": unigram_entropy(task.Y_train, task.vocab.size),
               "vocab": "".join(task.vocab.chars)}
    return TaskResult("chars", settings, model, history, metrics, {"samples": samples})


_TRAINERS = {"sine": train_sine, "adding": train_adding, "reverse": train_reverse,
             "classify": train_classify, "chars": train_chars}


# ------------------------------------------------------------------------ reports
def summary(result):
    """What the task measured, in words (the lines ``numpylstm train`` prints after training)."""
    return _SUMMARIES[result.task](result.metrics, result.details)


def _sine_summary(m, _):
    return (f"test MSE {m['test_mse']:.3g} vs last-value baseline {m['baseline_mse']:.3g}: "
            f"{m['test_mse'] / m['baseline_mse']:.1%} of the baseline (on {m['test_windows']} test windows "
            f"after the training part of the series)")


def _adding_summary(m, _):
    return (f"validation MSE {m['val_mse']:.3g} (T={m['seq_len']}, {m['val_sequences']} new sequences); "
            f"predicting 1.0 scores {m['constant_mse']:.3g}, so the LSTM removed "
            f"{1 - m['val_mse'] / m['constant_mse']:.1%} of that error")


def _reverse_summary(m, details):
    lines = [f"greedy decoding: {m['exact_match']:.1%} of {m['val_sequences']} new sequences reversed exactly "
             f"(teacher-forced token accuracy {m['token_accuracy']:.1%})"]
    lines += [f"  {source}  ->  {decoded}" for source, decoded in details["examples"]]
    return "\n".join(lines)


def _classify_summary(m, _):
    return (f"validation accuracy {m['val_accuracy']:.1%} on {m['val_sequences']} new sequences "
            f"(chance: {m['chance']:.1%})")


def _chars_summary(m, details):
    bits = 1 / np.log(2)
    lines = [f"test cross-entropy {m['test_loss']:.3f} nats/char ({m['test_loss'] * bits:.2f} bits), training "
             f"{m['train_loss']:.3f} nats/char; unigram entropy of the text {m['unigram_entropy']:.3f} "
             f"nats/char ({m['unigram_entropy'] * bits:.2f} bits)"]
    for temperature, text in details["samples"].items():
        lines.append(f"--- sample at temperature {temperature}:\n{text}")
    return "\n".join(lines + ["---"])


_SUMMARIES = {"sine": _sine_summary, "adding": _adding_summary, "reverse": _reverse_summary,
              "classify": _classify_summary, "chars": _chars_summary}

LOSS_TITLES = {"sine": "sine: next-value prediction", "adding": "adding problem, T=50",
               "reverse": "Seq2Seq sequence reversal", "classify": "classifying 3 frequencies",
               "chars": "character language model (nats/char)"}


# ------------------------------------------------------------------ gradient check
def gradient_check(layers=2, hidden=4, input_size=3, seq_len=5, batch=2, bidirectional=False,
                   proj_size=0, seed=0):
    """``(LSTM, GradientReport)``: every gradient of a float64 LSTM on random data, with random
    initial states, against finite differences (``numpylstm gradcheck``)."""
    lstm = LSTM(input_size, hidden, num_layers=layers, bidirectional=bidirectional,
                proj_size=proj_size, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed)
    states = layers * lstm.num_directions
    x = rng.standard_normal((seq_len, batch, input_size))
    state = (rng.standard_normal((states, batch, lstm.output_size)),
             rng.standard_normal((states, batch, hidden)))
    return lstm, check_gradients(lstm, (x, state))
