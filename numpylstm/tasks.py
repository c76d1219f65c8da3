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

A trained model is measured by ``evaluate(task, model, settings)``, which regenerates the
held-out data from the settings, so a model loaded from its file (``io.load_model``; the
CLI stores ``run_metadata(result)`` beside the weights and reads it back with ``saved_run``)
gives the numbers its run gave (``numpylstm predict --task``). ``predictions`` and
``sample_text`` serve ``numpylstm predict --input`` and ``numpylstm sample``;
``figure_baselines`` gives each loss figure the score of a trivial predictor;
``plan_gradient_check`` counts and times a gradient check before it runs.
"""
import time
from typing import Any, Dict, NamedTuple, Optional

import numpy as np

from . import _validate as check
from .data import (END, FIRST_SYMBOL, PAD, START, CharVocab, adding_problem, char_task, classification_task,
                   exact_match, last_value_baseline, load_text, reversal_task, sine_task, unigram_entropy)
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
# About a second, and still far below the last-value forecast (1.5-2.4% of its MSE, seeds 0-9).
DEMO_QUICK = Settings(hidden=16, layers=1, epochs=6, lr=2e-2, batch_size=32, samples=400)
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
SAMPLE_PROMPT = "When "  # how the chars task's samples start (many sonnets' lines do)


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
    optimizer = Adam(model.parameters(), lr=settings.lr)
    schedule = CosineDecay(optimizer, total_steps, FINAL_LR_FRACTION)
    trained = model if output is None else _FirstOutput(model)
    return fit(trained, loss_fn, optimizer, train_data, epochs=settings.epochs, batch_size=settings.batch_size,
               val_data=val_data, metric=metric, clip=CLIP, seed=settings.seed, quiet=quiet, scheduler=schedule)


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
# Each task has a data function (what ``settings`` make: training and held-out data), a
# trainer (data -> model -> ``_fit`` -> ``evaluate``) and an evaluator (a model measured on
# the held-out data), so ``numpylstm predict --task`` measures a saved model as training did.
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
    return _result("sine", settings, model, history, task)


def _evaluate_sine(model, task, settings):
    pred = predict(model, task.X_test)
    baseline = last_value_baseline(task.X_test)
    metrics = {"test_mse": _mse(pred, task.y_test), "baseline_mse": _mse(baseline, task.y_test),
               "test_windows": len(task.y_test)}
    return metrics, {"y_true": task.y_test, "y_pred": pred, "baseline": baseline}


def adding_data(settings, seq_len=50, n_val=1000):
    """``((X, y), (X_val, y_val))``: ``settings.samples`` training and ``n_val`` new sequences of the adding problem."""
    train_rng, val_rng = _data_seeds(settings.seed, 2)
    return (adding_problem(settings.samples, seq_len, seed=train_rng, dtype=settings.dtype),
            adding_problem(n_val, seq_len, seed=val_rng, dtype=settings.dtype))


def train_adding(settings, quiet=True):
    """The adding problem; metrics: validation MSE and that of always predicting 1.0."""
    data = adding_data(settings)
    model = SequenceRegressor(2, settings.hidden, num_layers=settings.layers, batch_first=True,
                              dtype=settings.dtype, seed=settings.seed)
    history = _fit(model, mse_loss, settings, *data, quiet)
    return _result("adding", settings, model, history, data)


def _evaluate_adding(model, data, settings):
    X_val, y_val = data[1]
    metrics = {"val_mse": _mse(predict(model, X_val), y_val), "constant_mse": _mse(np.ones_like(y_val), y_val),
               "seq_len": X_val.shape[1], "val_sequences": len(X_val)}
    return metrics, {}


def reverse_data(settings, n_val=1000):
    """``(training, validation)`` ``ReversalData`` of ``settings.samples`` and ``n_val`` sequences."""
    train_rng, val_rng = _data_seeds(settings.seed, 2)
    return reversal_task(settings.samples, seed=train_rng), reversal_task(n_val, seed=val_rng)


def train_reverse(settings, quiet=True, embedding_dim=16):
    """Seq2Seq reverses sequences; metric: the share of new sequences decoded exactly."""
    data, val = reverse_data(settings)
    model = Seq2Seq(data.n_tokens, embedding_dim, settings.hidden, num_layers=settings.layers,
                    batch_first=True, dtype=settings.dtype, seed=settings.seed)
    history = _fit(model, cross_entropy, settings, _teacher_forced(data), _teacher_forced(val), quiet,
                   metric=accuracy)
    return _result("reverse", settings, model, history, (data, val))


def _teacher_forced(d):
    """``(inputs, targets)`` of ``ReversalData`` for ``fit``: the decoder reads the true previous token."""
    return (d.source, d.decoder_input, d.source_lengths), (d.target, d.target_mask)


def _evaluate_reverse(model, data, settings):
    val = data[1]
    tokens, _ = model.greedy_decode(val.source, START, END, max_len=val.target.shape[1],
                                    src_lengths=val.source_lengths)
    inputs, (target, mask) = _teacher_forced(val)
    examples = [(_symbols(val.source[k, :n]), _symbols(tokens[k, :n]))
                for k, n in enumerate(val.source_lengths[:3].tolist())]
    metrics = {"exact_match": exact_match(tokens, val.target, val.target_mask),
               "token_accuracy": accuracy(predict(model, inputs), target, mask),
               # A target token is one of the symbols or END: guessing among them is right 1 time in n.
               "token_chance": 1 / (val.n_tokens - FIRST_SYMBOL + 1), "val_sequences": len(val.source)}
    return metrics, {"examples": examples}


def _symbols(tokens):
    return " ".join(str(int(t) - FIRST_SYMBOL) if t >= FIRST_SYMBOL else "?" for t in tokens)


def classify_data(settings, n_val=1000, n_classes=3):
    """``((X, y), (X_val, y_val))``: noisy sines of ``n_classes`` frequencies and their class ids."""
    train_rng, val_rng = _data_seeds(settings.seed, 2)
    return (classification_task(settings.samples, n_classes=n_classes, seed=train_rng, dtype=settings.dtype),
            classification_task(n_val, n_classes=n_classes, seed=val_rng, dtype=settings.dtype))


def train_classify(settings, quiet=True, n_classes=3):
    """Classify noisy sines by frequency; metric: validation accuracy against chance."""
    data = classify_data(settings, n_classes=n_classes)
    model = SequenceClassifier(1, settings.hidden, n_classes, num_layers=settings.layers, batch_first=True,
                               dtype=settings.dtype, seed=settings.seed)
    history = _fit(model, cross_entropy, settings, *data, quiet, metric=accuracy)
    return _result("classify", settings, model, history, data)


def _evaluate_classify(model, data, settings):
    X_val, y_val = data[1]
    logits = predict(model, X_val)
    metrics = {"val_accuracy": accuracy(logits, y_val), "chance": 1 / logits.shape[-1],
               "val_sequences": len(X_val)}
    return metrics, {}


CHAR_WINDOWS = {"seq_len": 64, "step": 16, "test_fraction": 0.1}  # how the chars task cuts the sonnets


def chars_data(settings):
    """The sonnets as ``CharTask`` windows; the training part cut to the first ``settings.samples``."""
    task = char_task(**CHAR_WINDOWS)
    return task._replace(X_train=task.X_train[:settings.samples], Y_train=task.Y_train[:settings.samples])


def char_vocabulary():
    """The ``CharVocab`` of the chars task (the characters of the sonnets)."""
    return CharVocab(load_text("sonnets"))


def train_chars(settings, quiet=True, embedding_dim=32):
    """A character model of the sonnets; metrics: test cross-entropy against the unigram entropy."""
    task = chars_data(settings)
    settings = settings._replace(samples=len(task.X_train))
    model = CharLM(task.vocab.size, embedding_dim, settings.hidden, num_layers=settings.layers,
                   batch_first=True, dtype=settings.dtype, seed=settings.seed)
    history = _fit(model, cross_entropy, settings, (task.X_train, task.Y_train), (task.X_test, task.Y_test), quiet,
                   output="logits")
    result = _result("chars", settings, model, history, task)
    result.metrics["train_loss"] = history.train_loss[-1]
    return result


def _evaluate_chars(model, task, settings, prompt=SAMPLE_PROMPT, temperatures=(0.5, 0.8, 1.0),
                    sample_length=240):
    logits, _ = predict(model, task.X_test)
    samples = {t: sample_text(model, task.vocab, prompt, sample_length, t, seed=settings.seed)
               for t in temperatures}
    # The unigram entropy of all training windows, not only of the first ``samples``.
    metrics = {"test_loss": cross_entropy(logits, task.Y_test)[0],
               "unigram_entropy": unigram_entropy(char_task(**CHAR_WINDOWS).Y_train, task.vocab.size),
               "vocab": "".join(task.vocab.chars)}
    return metrics, {"samples": samples}


def sample_text(model, vocab, prompt=SAMPLE_PROMPT, length=240, temperature=1.0, seed=0):
    """``prompt`` and ``length`` characters a ``CharLM`` writes after it (``CharLM.sample``), as a string.

    Parameters
    ----------
    model : CharLM
    vocab : CharVocab of the model's characters (``char_vocabulary()`` for the chars task)
    prompt : non-empty string of characters in ``vocab``
    """
    check.instance_of(model, CharLM, "model", "a CharLM (a character model, as 'numpylstm train --task chars' saves)")
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
    unknown = sorted(set(prompt) - set(vocab.chars))
    if unknown:
        raise ValueError(f"prompt holds characters the model does not know: {unknown}")
    return prompt + vocab.decode(model.sample(vocab.encode(prompt), length, temperature=temperature, seed=seed))


_DATA = {"sine": sine_data, "adding": adding_data, "reverse": reverse_data, "classify": classify_data,
         "chars": chars_data}
_TRAINERS = {"sine": train_sine, "adding": train_adding, "reverse": train_reverse,
             "classify": train_classify, "chars": train_chars}
_EVALUATORS = {"sine": _evaluate_sine, "adding": _evaluate_adding, "reverse": _evaluate_reverse,
               "classify": _evaluate_classify, "chars": _evaluate_chars}


def evaluate(task, model, settings):
    """``(metrics, details)`` of ``model`` on the held-out data of ``task`` that ``settings`` make.

    With the settings of the run that trained ``model`` (its seed, dtype and samples), that is
    the data the run measured it on after training, so the metrics repeat those ``run`` gave.
    """
    check.one_of(task, "task", TASKS)
    check.instance_of(settings, Settings, "settings", "a tasks.Settings")
    return _EVALUATORS[task](model, _DATA[task](settings), settings)


def _result(task, settings, model, history, data):
    metrics, details = _EVALUATORS[task](model, data, settings)
    return TaskResult(task, settings, model, history, metrics, details)


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
    training = f", training {m['train_loss']:.3f} nats/char" if "train_loss" in m else ""   # not after a load
    lines = [f"test cross-entropy {m['test_loss']:.3f} nats/char ({m['test_loss'] * bits:.2f} bits){training}; "
             f"unigram entropy of the text {m['unigram_entropy']:.3f} nats/char ({m['unigram_entropy'] * bits:.2f} bits)"]
    for temperature, text in details["samples"].items():
        lines.append(f"--- sample at temperature {temperature}:\n{text}")
    return "\n".join(lines + ["---"])


_SUMMARIES = {"sine": _sine_summary, "adding": _adding_summary, "reverse": _reverse_summary,
              "classify": _classify_summary, "chars": _chars_summary}

LOSS_TITLES = {"sine": "sine: next-value prediction", "adding": "adding problem, T=50",
               "reverse": "Seq2Seq sequence reversal", "classify": "classifying 3 frequencies",
               "chars": "character language model (nats/char)"}


# ------------------------------------------------------------------------ figures
def figure_baselines(result):
    """What a trivial predictor scores, for the loss figure: ``{"loss_baseline": (value, label)}``
    and/or ``{"metric_baseline": (value, label)}`` (``plot.plot_loss``'s keywords)."""
    m = result.metrics
    return {
        "sine": lambda: {"loss_baseline": (m["baseline_mse"], f"last-value forecast ({m['baseline_mse']:.3g})")},
        "adding": lambda: {"loss_baseline": (m["constant_mse"], f"always predicting 1.0 ({m['constant_mse']:.3g})")},
        "reverse": lambda: _chance_baselines(m["token_chance"]),
        "classify": lambda: _chance_baselines(m["chance"]),
        "chars": lambda: {"loss_baseline": (m["unigram_entropy"], f"unigram entropy ({m['unigram_entropy']:.3f})")},
    }[result.task]()


def _chance_baselines(chance):
    """Guessing uniformly among 1/chance answers: its accuracy, and its cross-entropy ln(1/chance)."""
    guess_loss = float(np.log(1 / chance))
    return {"loss_baseline": (guess_loss, f"uniform guess ({guess_loss:.3f})"),
            "metric_baseline": (chance, f"chance ({chance:.1%})")}


# ------------------------------------------------------------------ saved runs
def run_metadata(result):
    """What ``numpylstm train`` stores beside the weights: the task, its settings and results."""
    return {"task": result.task, "settings": result.settings._asdict(), "results": result.metrics}


def saved_run(metadata, task=None, seed=None):
    """``(task, Settings)`` to measure a saved model with, from its file's metadata (``run_metadata``).

    Parameters
    ----------
    metadata : dict, ``io.read_info(path)["metadata"]`` (empty for a model saved without it)
    task : the task to measure on; must be the saved one when the file names one
    seed : seeds the generated data (default: the training run's, i.e. its held-out data)
    """
    saved_task = metadata.get("task")
    if task is None and saved_task is None:
        raise ValueError("the weight file names no task; give one with --task")
    if task is not None and saved_task is not None and task != saved_task:
        raise ValueError(f"task must be the one the model was trained on, {saved_task!r}, got {task!r}")
    task = check.one_of(task or saved_task, "task", TASKS)
    stored = metadata.get("settings") or {}
    settings = DEFAULTS[task]._replace(**{k: v for k, v in stored.items() if k in Settings._fields})
    return task, settings if seed is None else settings._replace(seed=check.non_negative_int(seed, "seed"))


def saved_vocabulary(metadata, model):
    """The ``CharVocab`` of a saved ``CharLM``: the file's (``run_metadata``), else the chars task's
    when the sizes agree."""
    check.instance_of(model, CharLM, "model", "a CharLM (a character model, as 'numpylstm train --task chars' saves)")
    chars = (metadata.get("results") or {}).get("vocab")
    vocab = CharVocab(chars) if isinstance(chars, str) and chars else char_vocabulary()
    if vocab.size != model.vocab_size:
        raise ValueError(f"the model reads {model.vocab_size} characters and its file names "
                         f"no vocabulary; the chars task's has {vocab.size}")
    return vocab


def predictions(model, inputs):
    """What ``numpylstm predict`` writes for the inputs of a saved model, by its class.

    Parameters
    ----------
    model : SequenceRegressor, SequenceClassifier, CharLM or Seq2Seq
    inputs : for a regressor or classifier (N, T, I) floats (batch_first; (T, N, I) otherwise);
        for a CharLM (N, T) character ids; for a Seq2Seq (N, T) source token ids, padded with
        PAD (0) after each sequence's end

    Returns
    -------
    regressor: (N, 1) predicted values; classifier: (N,) class ids; CharLM: (N, T) the most
    likely next character id at each position; Seq2Seq: (N, L) greedily decoded tokens
    (END after each sequence's end)
    """
    if isinstance(model, Seq2Seq):
        return _decoded(model, check.integer_array(inputs, "inputs", low=0))
    check.instance_of(model, (SequenceRegressor, SequenceClassifier, CharLM), "model",
                      "a SequenceRegressor, SequenceClassifier, CharLM or Seq2Seq (what 'numpylstm train' saves)")
    output = predict(model, inputs)
    if isinstance(model, CharLM):
        return np.argmax(output[0], axis=-1)
    return np.argmax(output, axis=-1) if isinstance(model, SequenceClassifier) else output


def _decoded(model, source):
    """Greedy decoding of padded ``source`` ids: each sequence's length is where its PAD tokens start."""
    check.ndim_in(source, "inputs", (2,), "source token ids (N, T)")
    tokens = source != PAD if model.batch_first else (source != PAD).T    # (N, T)
    lengths = tokens.sum(axis=1)
    if np.any(tokens != (np.arange(tokens.shape[1])[None, :] < lengths[:, None])):
        raise ValueError(f"inputs must hold PAD ({PAD}) only after each sequence's last token")
    decoded, _ = model.greedy_decode(source, START, END, max_len=tokens.shape[1] + 1, src_lengths=lengths)
    return decoded


# ------------------------------------------------------------------ gradient check
class GradientCheckPlan(NamedTuple):
    """A gradient check set up, and what it will cost: ``forward_passes`` of about ``seconds_per_pass``."""
    lstm: LSTM
    inputs: tuple            # (x (T, N, I), (h0, c0) each (layers * directions, N, H or P))
    forward_passes: int      # 1 for the analytic gradients + 2 per entry of every checked tensor
    seconds_per_pass: float

    @property
    def estimated_seconds(self):
        return self.forward_passes * self.seconds_per_pass


def plan_gradient_check(layers=2, hidden=4, input_size=3, seq_len=5, batch=2, bidirectional=False,
                        proj_size=0, seed=0):
    """A float64 LSTM, random data and random initial states, the number of forward passes the
    check takes (central differences: 2 per entry of the input, the states and every parameter)
    and the time one takes here."""
    lstm = LSTM(input_size, hidden, num_layers=layers, bidirectional=bidirectional,
                proj_size=proj_size, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed)
    states = layers * lstm.num_directions
    x = rng.standard_normal((seq_len, batch, input_size))
    state = (rng.standard_normal((states, batch, lstm.output_size)),
             rng.standard_normal((states, batch, hidden)))
    entries = x.size + sum(s.size for s in state) + sum(p.data.size for p in lstm.parameters())
    return GradientCheckPlan(lstm, (x, state), 1 + 2 * entries, _seconds_per_forward(lstm, (x, state)))


def _seconds_per_forward(module, inputs, budget=0.1, most=20):
    """The mean time of forward passes run for about ``budget`` seconds (3 to ``most`` of them).

    A mean over many passes, not one pass: on a shared machine single passes vary fivefold.
    """
    count, started = 0, time.perf_counter()
    while count < 3 or (count < most and time.perf_counter() - started < budget):
        module(*inputs)
        module.clear_caches()
        count += 1
    return (time.perf_counter() - started) / count


def run_gradient_check(plan, progress=None):
    """The ``GradientReport`` of ``plan`` (``check_gradients``, telling ``progress(name, shape)`` each tensor)."""
    return check_gradients(plan.lstm, plan.inputs, progress=progress)


def gradient_check(layers=2, hidden=4, input_size=3, seq_len=5, batch=2, bidirectional=False,
                   proj_size=0, seed=0):
    """``(LSTM, GradientReport)``: every gradient of a float64 LSTM on random data, with random
    initial states, against finite differences (``numpylstm gradcheck``)."""
    plan = plan_gradient_check(layers, hidden, input_size, seq_len, batch, bidirectional, proj_size, seed)
    return plan.lstm, run_gradient_check(plan)
