"""``fit`` and ``predict``: the training loop, with a progress line and a history.

A model here is any ``Module`` with the library's two-call protocol::

    pred = model(*inputs)          # forward, records a cache in training mode
    model.backward(dpred)          # adds into every Parameter.grad

and a loss is a function ``loss, dpred = loss_fn(pred, *targets)`` returning
the mean loss over the batch and its gradient (``losses.mse_loss``,
``losses.cross_entropy``). Data are given as ``(inputs, targets)``, each one
array or a tuple of arrays, all with the samples on axis 0::

    fit(model, mse_loss, Adam(model.parameters(), lr=1e-2), (X, y), epochs=20, batch_size=32)
    fit(seq2seq, cross_entropy, optimizer, ((src, tgt_in, src_lengths), (target, mask)), ...)

One training step (``_train_step``) is::

    zero_grad -> forward -> loss -> backward -> [clip] -> optimizer.step

and with ``nan_guard`` each of loss, gradients and updated parameters is
checked (finite, and the loss below a bound), so a divergence stops at the
step where it starts, naming the tensor, and leaves the model at finite
weights, instead of silently filling it with NaN. Before the first step
``fit`` checks everything it is given, data included (``_dry_run``).
"""
import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from typing import List, NamedTuple, Optional

import numpy as np

from . import _validate as check
from .backend import get_array_module
from .data import make_rng, minibatches
from .losses import _checked_logits, _class_ids, _keep_weights
from .module import eval_mode
from .optim import clip_grad_norm, global_norm


class TrainingDiverged(FloatingPointError):
    """Raised by ``fit``'s NaN/Inf guard; ``history`` holds the epochs completed before it."""

    def __init__(self, message, epoch, step, tensor, history):
        super().__init__(message)
        self.epoch, self.step, self.tensor, self.history = epoch, step, tensor, history


@dataclass
class History:
    """What ``fit`` measured, one entry per completed epoch (lists plot directly).

    Attributes
    ----------
    epoch : epoch numbers, from 1
    train_loss : mean training loss of the epoch's batches (weighted by batch size),
        measured while the weights changed, as PyTorch and Keras report it
    val_loss : loss on the validation data after the epoch, in eval mode (None without val_data)
    val_metric : ``metric`` on the validation data (None without a metric)
    grad_norm : largest global gradient norm of the epoch, before clipping
    epoch_time : seconds the epoch took, validation included
    metric_name : the metric's name, e.g. "accuracy"
    best_epoch : with early stopping, the epoch whose weights the model ended with
    stopped_early : True when early stopping ended training before ``epochs``
    """
    epoch: List[int] = field(default_factory=list)
    train_loss: List[float] = field(default_factory=list)
    val_loss: List[Optional[float]] = field(default_factory=list)
    val_metric: List[Optional[float]] = field(default_factory=list)
    grad_norm: List[float] = field(default_factory=list)
    epoch_time: List[float] = field(default_factory=list)
    metric_name: Optional[str] = None
    best_epoch: Optional[int] = None
    stopped_early: bool = False

    def __len__(self):
        return len(self.epoch)

    @property
    def elapsed(self):
        """Seconds from the start of training to the end of each epoch."""
        return [float(t) for t in np.cumsum(self.epoch_time)]

    def as_dict(self):
        """A plain dict of the fields (JSON-serialisable), e.g. to save beside the weights."""
        return asdict(self)


# --------------------------------------------------------------------------- fit
# The divergence bound of the guard: a loss above max(DIVERGENCE_FLOOR, DIVERGENCE_FACTOR * |L0|), L0 the
# loss before training, is divergence. A loss 10,000 times its starting value has left training behind
# (a healthy run lowers it); the floor keeps a small L0 (0.01) from stopping a run at a loss of 100.
DIVERGENCE_FLOOR = 1e6
DIVERGENCE_FACTOR = 1e4


def fit(model, loss_fn, optimizer, train_data, epochs, batch_size=32, val_data=None, metric=None,
        clip=None, early_stopping=None, seed=None, quiet=False, nan_guard=True, shuffle=True, scheduler=None):
    """Train ``model`` for ``epochs`` passes over ``train_data``; returns a ``History``.

    Everything is checked before the first step, so a mistake costs no training and
    changes no weight: the arguments' types and ranges; every floating array of
    ``train_data`` and ``val_data`` must be finite (nan or inf are refused naming the
    array, also where a mask would hide them from the loss: put 0 at padded positions);
    and a dry run, in eval mode (it records nothing and draws no dropout mask), passes
    the first ``batch_size`` samples of each through the model, the loss and the metric,
    so data of the wrong shape or dtype is refused naming ``train_data`` or ``val_data``.
    A value refused only in a later batch (a token id out of range) stops training at
    that step, naming ``train_data`` (or ``val_data``), the epoch and the step, with the
    model at its weights from before that step.

    Parameters
    ----------
    model : Module with ``pred = model(*inputs)`` and ``model.backward(dpred)``
    loss_fn : callable, ``loss, dpred = loss_fn(pred, *targets)`` (mean over the batch)
    optimizer : object with ``zero_grad()`` and ``step()`` over ``model``'s parameters
        (``optim.SGD``, ``optim.Adam``)
    train_data : ``(inputs, targets)``; each an array or a tuple of arrays, all with the
        same number of samples N on axis 0 (use ``batch_first=True`` layers for sequences)
    epochs : int >= 1
    batch_size : int >= 1
    val_data : ``(inputs, targets)`` like ``train_data``, or None. Evaluated after every
        epoch in ``eval()`` mode (no dropout) with one ``loss_fn`` call over all of it.
    metric : callable ``metric(pred, *targets) -> float`` reported on ``val_data``
        (e.g. ``train.accuracy``), or None
    clip : float > 0: clip the global gradient norm to it every step (``optim.clip_grad_norm``)
    early_stopping : int >= 1 patience, or None. Needs ``val_data``: training stops after
        ``patience`` epochs without a lower validation loss, and the model gets back the
        weights of its best epoch (also when all epochs ran, or training diverged).
    seed : None, int or numpy Generator for the order of the batches. Two runs of the same
        model (built with the same seed) on the same data with the same ``seed`` give
        identical weights; dropout draws from the model's own seeded generator.
    quiet : bool, no progress lines
    nan_guard : bool, the divergence guard. True stops training with ``TrainingDiverged``,
        naming the epoch, the step and the tensor, at the first non-finite loss, gradient
        or parameter, or validation loss, and at the first loss (batch or validation) above
        the divergence bound ``max(1e6, 1e4 * |L0|)``, L0 being the dry run's loss on the
        first ``batch_size`` training samples before any step. The model is then left at
        its last finite weights: those it had before the step that failed (a parameter
        that an optimizer step made non-finite is put back), or the best epoch's with
        ``early_stopping``. For that the guard copies the parameters before every optimizer
        step (one copy of the model's size, reused); the optimizer's own state (Adam's
        moments) stays as the failed step left it.
    shuffle : bool, visit the training samples in a new random order every epoch
    scheduler : a learning-rate schedule of ``optimizer`` (``optim.CosineDecay``, ``optim.StepLR``),
        stepped after every optimizer step (once per batch), or None

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        (a ``FloatingPointError``) from the guard; its ``history`` has the epochs completed.
    ValueError, TypeError
        for any argument, before the first step.
    """
    _check_model(model)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(pred, *targets), got {type(loss_fn).__name__}")
    _check_optimizer(optimizer, model)
    _check_scheduler(scheduler, optimizer)
    train = _split_data(train_data, "train_data")
    val = None if val_data is None else _split_data(val_data, "val_data")
    epochs = check.positive_int(epochs, "epochs")
    batch_size = check.positive_int(batch_size, "batch_size")
    if metric is not None and not callable(metric):
        raise TypeError(f"metric must be callable as metric(pred, *targets) or None, got {type(metric).__name__}")
    clip = _positive_or_none(clip, "clip")
    patience = None if early_stopping is None else check.positive_int(early_stopping, "early_stopping")
    if patience is not None and val is None:
        raise ValueError("early_stopping needs val_data to watch, got val_data=None")
    quiet, nan_guard, shuffle = (check.boolean(flag, name) for flag, name in
                                 ((quiet, "quiet"), (nan_guard, "nan_guard"), (shuffle, "shuffle")))
    rng = make_rng(seed)
    _check_finite_parameters(model)
    starting_loss = _dry_run(model, loss_fn, None, train, batch_size)
    if val is not None:
        _dry_run(model, loss_fn, metric, val, batch_size)

    history = History(metric_name=None if metric is None else getattr(metric, "__name__", "metric"))
    stopper = _EarlyStopping(patience) if patience else None
    guard = _DivergenceGuard(starting_loss) if nan_guard else None
    loop = _Loop(model, loss_fn, optimizer, scheduler, clip, guard, batch_size, shuffle, rng)
    try:
        for epoch in range(1, epochs + 1):
            _run_epoch(loop, epoch, train, val, metric, history, epochs, quiet)
            if stopper is not None and stopper.update(epoch, history.val_loss[-1], model):
                history.stopped_early = epoch < epochs
                break
    except TrainingDiverged as diverged:
        raise _at_finite_weights(diverged, model, stopper, history) from None
    if stopper is not None:
        history.best_epoch = stopper.restore(model)
        if not quiet:
            print(stopper.summary(history.stopped_early), flush=True)
    model.train()
    return history


class _Loop(NamedTuple):
    """What every epoch of one ``fit`` uses."""
    model: object
    loss_fn: object
    optimizer: object
    scheduler: object
    clip: Optional[float]
    guard: Optional["_DivergenceGuard"]
    batch_size: int
    shuffle: bool
    rng: np.random.Generator


def _run_epoch(loop, epoch, train, val, metric, history, epochs, quiet):
    """Train one epoch, validate, and record both in ``history`` (and print them unless ``quiet``)."""
    started = time.perf_counter()
    loop.model.train()
    loss, grad_norm = _train_epoch(loop, train.inputs, train.targets, epoch, history)
    val_loss, val_metric = None, None
    if val is not None:
        with _naming(f"val_data, in the validation after epoch {epoch}"):
            val_loss, val_metric = _evaluate(loop.model, loop.loss_fn, metric, val.inputs, val.targets,
                                             loop.batch_size)
        if loop.guard is not None:
            loop.guard.check_loss(val_loss, (epoch, None, history), "the validation loss")
    history.epoch.append(epoch)
    history.train_loss.append(loss)
    history.val_loss.append(val_loss)
    history.val_metric.append(val_metric)
    history.grad_norm.append(grad_norm)
    history.epoch_time.append(time.perf_counter() - started)
    if not quiet:
        print(_progress_line(history, epochs), flush=True)


def _train_epoch(loop, inputs, targets, epoch, history):
    """One pass over the training data; returns (mean loss weighted by batch size, largest grad norm)."""
    n_in = len(inputs)
    total, seen, largest_norm = 0.0, 0, 0.0
    batches = minibatches(*inputs, *targets, batch_size=loop.batch_size, shuffle=loop.shuffle, seed=loop.rng)
    for step, batch in enumerate(batches, start=1):
        try:
            # The dry run saw the first batch; values refused in a later one are named here.
            with _naming(f"train_data, in the batch of epoch {epoch}, step {step} (the model holds its "
                         "weights from before that step)"):
                loss, norm = _train_step(loop, batch[:n_in], batch[n_in:], (epoch, step, history))
        except BaseException:
            loop.model.clear_caches()  # a failed step must not leave a cache for the next backward
            raise
        if loop.scheduler is not None:
            loop.scheduler.step()
        size = len(batch[0])
        total += loss * size
        seen += size
        largest_norm = max(largest_norm, norm)
    return total / seen, largest_norm


def _train_step(loop, inputs, targets, where):
    """zero_grad -> forward -> loss -> backward -> [clip] -> step; returns (loss, grad norm before clipping).

    With the guard, each of loss, gradients and updated parameters is checked before the next stage.
    """
    model, guard = loop.model, loop.guard
    loop.optimizer.zero_grad()
    pred = model(*inputs)
    loss, dpred = _loss_result(loop.loss_fn(pred, *targets))
    if guard is not None:
        guard.check_loss(loss, where)
    model.backward(dpred)
    if guard is not None:
        guard.check_gradients(model, where)
    params = model.parameters()
    norm = clip_grad_norm(params, loop.clip) if loop.clip else global_norm(params)
    if guard is None:
        loop.optimizer.step()
    else:
        guard.step(loop.optimizer, model, where)
    return loss, norm


def _loss_result(result):
    """``(float(loss), dpred)`` from what ``loss_fn`` returned, which must be a pair."""
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"loss_fn must return a pair (loss, dpred), got {type(result).__name__}")
    loss, dpred = result
    return float(loss), dpred


class _DivergenceGuard:
    """``nan_guard``: stops training at a non-finite or exploding loss, or a non-finite gradient or parameter.

    ``bound`` is ``max(DIVERGENCE_FLOOR, DIVERGENCE_FACTOR * |starting_loss|)``. Before every
    optimizer step the parameters are copied into buffers made once (``_saved``), so a step
    that makes any of them non-finite is undone before the error is raised.
    """

    def __init__(self, starting_loss):
        self.starting_loss = starting_loss
        self.bound = max(DIVERGENCE_FLOOR, DIVERGENCE_FACTOR * abs(starting_loss))
        self._saved = None

    def check_loss(self, loss, where, what="the loss"):
        if not math.isfinite(loss):
            _diverged(where, what, f"is {loss}")
        if loss > self.bound:
            _diverged(where, what, f"is {loss:.4g}, above the divergence bound {self.bound:.4g} "
                                   f"(max(1e6, 1e4 x {abs(self.starting_loss):.4g}, the loss before training))")

    def check_gradients(self, model, where):
        for name, param in model.named_parameters():
            problem = _non_finite(param.grad)
            if problem:
                _diverged(where, f"the gradient of parameter {name!r}", f"{problem} after backward")

    def step(self, optimizer, model, where):
        """``optimizer.step()``, undone if it leaves a parameter non-finite (then raises, naming it)."""
        named = list(model.named_parameters())
        if self._saved is None:
            self._saved = [get_array_module(p.data).empty_like(p.data) for _, p in named]
        for saved, (_, param) in zip(self._saved, named):
            saved[...] = param.data
        optimizer.step()
        for name, param in named:
            problem = _non_finite(param.data)
            if problem:
                for saved, (_, restored) in zip(self._saved, named):
                    restored.data[...] = saved
                _diverged(where, f"parameter {name!r}", f"{problem} after the optimizer step (undone)")


def _non_finite(array):
    """"holds 3 non-finite value(s) (nan and inf)" for an array with nan or inf; None for a finite one."""
    xp = get_array_module(array)
    if bool(xp.isfinite(array).all()):
        return None
    bad = int((~xp.isfinite(array)).sum())
    kinds = sorted({"nan" if bool(xp.isnan(array).any()) else None,
                    "inf" if bool(xp.isinf(array).any()) else None} - {None})
    return f"holds {bad} non-finite value(s) ({' and '.join(kinds)})"


def _diverged(where, what, detail):
    epoch, step, history = where
    place = f"epoch {epoch}, step {step}" if step is not None else f"epoch {epoch}, in validation"
    message = (f"training diverged at {place}: {what} {detail}. "
               "Try a smaller learning rate, gradient clipping (clip=1.0), or rescaled data.")
    raise TrainingDiverged(message, epoch, step, what, history)


def _at_finite_weights(diverged, model, stopper, history):
    """``diverged`` with the weights the model is left with said, after restoring the best ones (early stopping)."""
    if stopper is not None and stopper.best_state is not None:
        history.best_epoch = stopper.restore(model)
        weights = (f"Early stopping restored the weights of epoch {history.best_epoch}, the best val_loss "
                   f"({stopper.best_loss:.4g}).")
    elif diverged.step is None:
        weights = f"The model holds its weights from the end of epoch {diverged.epoch}."
    else:
        weights = "The model holds its last finite weights, from before that step."
    model.train()
    return TrainingDiverged(f"{diverged} {weights}", diverged.epoch, diverged.step, diverged.tensor,
                            diverged.history)


class _EarlyStopping:
    """Remembers the weights of the epoch with the lowest validation loss."""

    def __init__(self, patience):
        self.patience = patience
        self.best_loss, self.best_epoch, self.best_state, self.waited = math.inf, None, None, 0

    def update(self, epoch, val_loss, model):
        """Record this epoch; True when training should stop."""
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.waited = val_loss, epoch, 0
            self.best_state = model.state_dict()  # copies
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self, model):
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return self.best_epoch

    def summary(self, stopped_early):
        why = f"no lower val_loss for {self.patience} epochs" if stopped_early else "all epochs ran"
        if self.best_epoch is None:   # only without the guard: every val_loss was nan
            return f"early stopping ({why}): no epoch had a finite val_loss; the model keeps its last weights"
        return (f"early stopping ({why}): restored the weights of epoch {self.best_epoch} "
                f"(val_loss {self.best_loss:.4g})")


def _evaluate(model, loss_fn, metric, inputs, targets, batch_size):
    pred = predict(model, inputs, batch_size)
    loss, _ = _loss_result(loss_fn(pred, *targets))
    return loss, (None if metric is None else float(metric(pred, *targets)))


# ------------------------------------------------------------------- checked before the first step
def _check_finite_parameters(model):
    for name, param in model.named_parameters():
        check.all_finite(param.data, f"parameter {name!r} of the model",
                         ": fit starts from finite weights (load or rebuild the model)")


def _dry_run(model, loss_fn, metric, data, batch_size):
    """The loss of ``model`` on the first ``batch_size`` samples of ``data``, in eval mode (records nothing).

    Runs the forward, the loss and the metric the way training will, so that data the model
    or the loss refuses is refused now, naming the part of ``data`` (an error re-raised with
    it in front, the original chained); a non-finite loss is refused too.
    """
    n = min(batch_size, data.count)
    inputs, targets = tuple(a[:n] for a in data.inputs), tuple(a[:n] for a in data.targets)
    with eval_mode(model):
        with _naming(f"{data.name}[0] (inputs) do not fit the model"):
            pred = model(*inputs)
        with _naming(f"{data.name}[1] (targets) do not fit the model's output and loss_fn"):
            result = loss_fn(pred, *targets)
        loss, _ = _loss_result(result)
        if metric is not None:
            with _naming(f"metric failed on the first {n} samples of {data.name}"):
                float(metric(pred, *targets))
    if not math.isfinite(loss):
        raise ValueError(f"{data.name} gives the model a loss of {loss} before training (on its first {n} "
                         "samples): rescale the data, or check the model's weights")
    return loss


@contextlib.contextmanager
def _naming(prefix):
    """Re-raise a ValueError or TypeError of the block with ``prefix`` in front of its message."""
    try:
        yield
    except (ValueError, TypeError) as error:
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"{prefix}: {error}") from error


def _progress_line(history, epochs):
    width = len(str(epochs))
    parts = [f"epoch {history.epoch[-1]:>{width}}/{epochs}", f"loss {history.train_loss[-1]:.4g}"]
    if history.val_loss[-1] is not None:
        parts.append(f"val_loss {history.val_loss[-1]:.4g}")
    if history.val_metric[-1] is not None:
        parts.append(f"val_{history.metric_name} {history.val_metric[-1]:.4g}")
    parts.append(f"{history.epoch_time[-1]:.1f}s (total {history.elapsed[-1]:.1f}s)")
    return "  ".join(parts)


# ----------------------------------------------------------------------- predict
def predict(model, inputs, batch_size=None):
    """The model's output on ``inputs`` in ``eval()`` mode, batch by batch.

    Parameters
    ----------
    model : Module
    inputs : an array or a tuple of arrays with the samples on axis 0, passed as ``model(*inputs)``
    batch_size : int, or None for one batch of everything

    Returns
    -------
    The model's output for all samples: an array, or a tuple of arrays (nested as the
    model returns them), the batches joined along axis 0. With more than one batch every
    output must have the samples on axis 0; a recurrent state such as an LSTM's
    ``(h_n, c_n)`` (samples on axis 1) is refused with a ValueError. The model's train/eval
    mode is restored afterwards; eval mode records no caches, so nothing piles up.
    """
    _check_model(model)
    inputs = _as_tuple(inputs, "inputs")
    n = _sample_count(inputs, "inputs")
    batch_size = n if batch_size is None else check.positive_int(batch_size, "batch_size")
    with eval_mode(model):
        outputs = []
        for batch in minibatches(*inputs, batch_size=batch_size, shuffle=False):
            with _naming("inputs do not fit the model"):
                outputs.append(model(*batch))
            if batch_size < n:   # more than one batch: the outputs will be joined along axis 0
                _check_samples_first(outputs[-1], len(batch[0]))
    return _join(outputs)


def _join(outputs):
    """Concatenate a list of same-structured outputs (arrays or nested tuples) along axis 0."""
    first = outputs[0]
    if isinstance(first, (tuple, list)):
        return type(first)(_join([out[k] for out in outputs]) for k in range(len(first)))
    if len(outputs) == 1:
        return first
    return get_array_module(first).concatenate(outputs, axis=0)


def _check_samples_first(output, n_samples):
    """Refuse a batch output with an array whose axis 0 is not the samples (e.g. an LSTM's (h_n, c_n))."""
    for leaf in _leaves(output):
        if leaf.shape[:1] != (n_samples,):
            raise ValueError(
                f"predict joins the model's outputs along axis 0, so every output must have the samples "
                f"first; got an output of shape {tuple(leaf.shape)} for a batch of {n_samples} samples "
                "(a recurrent state such as h_n has them on axis 1): pass batch_size=None, or predict "
                "with a model that returns only its predictions"
            )


def _leaves(output):
    if isinstance(output, (tuple, list)):
        for item in output:
            yield from _leaves(item)
    else:
        yield output


# ----------------------------------------------------------------------- metrics
def accuracy(logits, target, mask=None):
    """The fraction of positions where ``argmax(logits)`` over the last axis equals ``target``.

    Parameters
    ----------
    logits : (..., C) float scores
    target : (...) integer class ids in [0, C) (``logits.shape[:-1]``); masked positions may hold
        anything (as in ``losses.cross_entropy``)
    mask : optional (...) bool / 0-1 array; only positions where it is true count

    Returns
    -------
    float in [0, 1]
    """
    logits = _checked_logits(logits)
    xp = get_array_module(logits)
    keep = _keep_weights(mask, logits.shape[:-1], logits.dtype, xp) > 0
    target = _class_ids(target, logits.shape[:-1], logits.shape[-1], keep, xp)
    correct = xp.argmax(logits, axis=-1) == target
    return float(correct[keep].mean())


# ------------------------------------------------------------------ arg checks
def _check_optimizer(optimizer, model):
    """Refuse an optimizer without step()/zero_grad(), or one that updates none of ``model``'s parameters.

    An optimizer over a subset of the parameters is allowed (freezing the
    rest); one over none of them, usually built for another model, would
    train nothing while the loss curve stays flat.
    """
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
        raise TypeError(f"optimizer must have step() and zero_grad() (optim.SGD, optim.Adam), "
                        f"got {type(optimizer).__name__}")
    held = getattr(optimizer, "params", None)
    if isinstance(held, list):
        model_params = {id(p) for p in model.parameters()}
        if model_params and not any(id(p) in model_params for p in held):
            raise ValueError(
                f"optimizer must update the model's parameters, got an optimizer over {len(held)} "
                f"parameter(s), none of them in this {type(model).__name__}; build it as "
                f"{type(optimizer).__name__}(model.parameters(), ...)"
            )


def _check_scheduler(scheduler, optimizer):
    """Refuse a scheduler without step(), or one that sets the rates of another optimizer."""
    if scheduler is None:
        return
    if not hasattr(scheduler, "step"):
        raise TypeError(f"scheduler must have step() (optim.CosineDecay, optim.StepLR) or be None, "
                        f"got {type(scheduler).__name__}")
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError("scheduler must set the learning rate of the optimizer given to fit, got a scheduler "
                         "of another optimizer")


def _check_model(model):
    needed = ("backward", "named_parameters", "parameters", "train", "eval", "clear_caches")
    if not callable(model) or not all(hasattr(model, name) for name in needed):
        raise TypeError(f"model must be a numpylstm Module (callable, with backward()), got {type(model).__name__}")


def _as_tuple(arrays, name, labels=None):
    """``arrays`` (one array or a tuple of them) as a tuple of arrays with a sample axis; ``labels`` name each."""
    arrays = tuple(arrays) if isinstance(arrays, (tuple, list)) else (arrays,)
    if not arrays:
        raise ValueError(f"{name} must hold at least one array, got an empty tuple")
    labels = labels or ([f"{name}[{k}]" for k in range(len(arrays))] if len(arrays) > 1 else [name])
    for a, label in zip(arrays, labels):
        if not hasattr(a, "shape") or len(a.shape) == 0:
            raise TypeError(f"{label} must be an array with the samples on axis 0, got {type(a).__name__}")
        check.not_masked(a, label)
    return arrays


def _sample_count(arrays, name):
    counts = [a.shape[0] for a in arrays]
    if len(set(counts)) > 1:
        raise ValueError(f"{name} must all have the same number of samples on axis 0, "
                         f"got shapes {[tuple(a.shape) for a in arrays]}")
    if counts[0] == 0:
        raise ValueError(f"{name} must not be empty, got 0 samples")
    return counts[0]


class _Data(NamedTuple):
    """``train_data`` or ``val_data``, checked: its arrays, and a label for each for the messages."""
    name: str           # "train_data" or "val_data"
    inputs: tuple
    targets: tuple
    count: int          # N, the samples of every array


def _split_data(data, name):
    """``(inputs, targets)`` as a ``_Data``: tuples of arrays with the same number of samples, all finite."""
    check.pair(data, name, "(inputs, targets)")
    labels = [_labels(data[0], name, 0), _labels(data[1], name, 1)]
    inputs = _as_tuple(data[0], f"{name}[0] (inputs)", labels[0])
    targets = _as_tuple(data[1], f"{name}[1] (targets)", labels[1])
    count = _sample_count(inputs + targets, f"{name} arrays")
    for array, label in zip(inputs + targets, labels[0] + labels[1]):
        check.all_finite(array, label, ": fit refuses nan and inf in its data, also at padded positions "
                                       "(put 0 there; a mask or lengths keeps them out of the loss)")
    return _Data(name, inputs, targets, count)


def _labels(part, name, index):
    """The name of each array of one part of the data: "train_data[0]", or "train_data[0][k]" in a tuple."""
    if isinstance(part, (tuple, list)):
        return [f"{name}[{index}][{k}]" for k in range(len(part))]
    return [f"{name}[{index}]"]


def _positive_or_none(value, name):
    return None if value is None else check.positive_real(value, name)
