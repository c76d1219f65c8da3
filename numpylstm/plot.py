r"""Figures for training runs and for looking inside an LSTM (matplotlib).

Every function returns its ``matplotlib.figure.Figure``, so a notebook shows
it, a script saves it (``save_figure``), and the CLI and the notebooks share
the same pictures. They are drawn for slides: whole-number ticks for epochs
and time steps, legends below the axes (never over a curve), accuracies in
percent, and ``save_figure`` writes PNG at ``DEFAULT_DPI`` (150), SVG or PDF.

===========================  ================================================
``plot_loss(history)``       training (and validation) loss per epoch, and
                             the validation metric when there is one, each
                             with an optional baseline (``Baseline``)
``plot_prediction(y, p)``    prediction against truth, optionally a baseline
``plot_gates(gates)``        heatmaps of the gates i, f, g, o over time
``plot_states(h, c)``        hidden and cell state trajectories
``plot_gradient_norms(d)``   :math:`\lVert \partial L / \partial h_t \rVert`
                             against t, one line per model
===========================  ================================================

This module only draws. What it draws inside an LSTM comes from
``numpylstm.analysis`` (``lstm_trace``, ``gates_from``, ``hidden_gradient_norms``).

On a machine without a display (a server, CI, the CLI over ssh) the Agg
backend is selected, which draws into memory and writes PNG files.
"""
import os
import sys
from typing import NamedTuple

import matplotlib

from . import _validate as check
from .analysis import gates_from, one_sequence
from .backend import to_numpy
from .functional import GATES


def _headless():
    """True on Linux without an X or Wayland display and with no backend chosen by the user."""
    if os.environ.get("MPLBACKEND"):  # Jupyter sets its inline backend here
        return False
    has_display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    return sys.platform.startswith("linux") and not has_display


if _headless():
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator, PercentFormatter  # noqa: E402

GATE_TITLES = {"i": "input gate i", "f": "forget gate f", "g": "candidate g", "o": "output gate o"}


DEFAULT_DPI = 150  # sharp on a projector and in print; 100 looked soft on slides
LOG_SCALE_RANGE = 10  # "auto" draws losses on a log axis when they span this factor or more


class Baseline(NamedTuple):
    """A horizontal reference line: what a trivial predictor scores, e.g. ``Baseline(1/3, "chance")``."""
    value: float
    label: str


def save_figure(fig, path, dpi=DEFAULT_DPI):
    """Write ``fig`` to ``path`` (the format follows the suffix: ``.png``, ``.svg``, ``.pdf``), close it, return ``path``."""
    dpi = check.positive_int(dpi, "dpi")
    try:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


# ------------------------------------------------------------------------- training
def plot_loss(history, logy="auto", title="Training", loss_baseline=None, metric_baseline=None,
              metric_percent=None):
    """Loss per epoch; a second panel shows the validation metric when the history has one.

    Parameters
    ----------
    history : ``train.History``, or a dict with ``"train_loss"`` and optionally
        ``"val_loss"``, ``"val_metric"``, ``"metric_name"``, ``"epoch"`` (lists per epoch)
    logy : True, False, or "auto": a log scale when the losses span a factor of
        ``LOG_SCALE_RANGE`` or more (they often fall by orders of magnitude), linear otherwise
    loss_baseline : optional ``Baseline`` (or a pair ``(value, label)``) drawn across the loss panel,
        e.g. the loss of always predicting the mean
    metric_baseline : optional ``Baseline`` drawn across the metric panel, e.g. chance accuracy
    metric_percent : show the metric as a percentage (a fraction 0..1 drawn as 0..100%);
        default: when the metric is named "accuracy"

    Returns
    -------
    Figure with one axes (loss: a line for training, one for validation, one for the
    baseline) or two (and the metric with its baseline). Epoch ticks are whole numbers and
    every legend sits below its panel, off the curves.
    """
    record = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    train_loss, epochs = _losses_and_epochs(record)
    val_loss = _present(record.get("val_loss"))
    val_metric = _present(record.get("val_metric"))
    loss_baseline = _baseline(loss_baseline, "loss_baseline")
    metric_baseline = _baseline(metric_baseline, "metric_baseline")
    panels = 2 if val_metric is not None else 1
    # The sizes the notebooks' committed outputs were drawn at; the legends below go outside them.
    fig, axes = plt.subplots(1, panels, figsize=(6 if panels == 1 else 10, 4), squeeze=False)
    ax = axes[0, 0]
    ax.plot(epochs, train_loss, marker=".", label="training loss")
    if val_loss is not None:
        ax.plot(epochs, val_loss, marker=".", label="validation loss")
    _draw_baseline(ax, loss_baseline)
    ax.set(ylabel="loss", title=title)
    if _use_log_scale(logy, [train_loss, val_loss, [loss_baseline.value] if loss_baseline else None]):
        ax.set_yscale("log")
    if val_metric is not None:
        name = record.get("metric_name") or "metric"
        ax = axes[0, 1]
        ax.plot(epochs, val_metric, marker=".", color="C2", label=f"validation {name}")
        _draw_baseline(ax, metric_baseline)
        ax.set(ylabel=name, title=f"validation {name}")
        if name == "accuracy" if metric_percent is None else check.boolean(metric_percent, "metric_percent"):
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    for ax in axes[0]:
        _epoch_axis(ax)
        _legend_below(ax)
    fig.tight_layout()
    return fig


def _losses_and_epochs(record):
    """The training losses (E,) and their epoch numbers (E,) of a history record."""
    if "train_loss" not in record:
        raise ValueError(f"history must hold 'train_loss', got keys {sorted(record)}")
    train_loss = np.asarray(record["train_loss"], dtype=float)
    if train_loss.ndim != 1 or train_loss.size == 0:
        raise ValueError(f"history['train_loss'] must be a non-empty list of numbers, got shape {train_loss.shape}")
    epochs = np.asarray(record.get("epoch") or np.arange(1, len(train_loss) + 1))
    return train_loss, epochs


def _present(values):
    """``values`` as a float array, or None when absent or all None."""
    if values is None or all(v is None for v in values):
        return None
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _baseline(value, name):
    """``value`` (None, a ``Baseline`` or a pair ``(value, label)``) as a ``Baseline`` or None."""
    if value is None:
        return None
    number, label = check.pair(value, name, "(value, label)")
    if not isinstance(label, str):
        raise TypeError(f"{name} label must be a string, got {type(label).__name__}")
    return Baseline(check.real(number, f"{name} value"), label)


def _draw_baseline(ax, baseline):
    if baseline is not None:
        ax.axhline(baseline.value, color="0.35", linestyle="--", linewidth=1.2, label=baseline.label)


def _use_log_scale(logy, series):
    """``logy`` if it is a bool; for "auto", whether the positive ``series`` span LOG_SCALE_RANGE or more."""
    if logy != "auto":
        return check.boolean(logy, "logy")
    values = np.concatenate([np.asarray(s, dtype=float) for s in series if s is not None])
    values = values[np.isfinite(values)]
    return bool(np.all(values > 0) and values.max() >= LOG_SCALE_RANGE * values.min())


def _epoch_axis(ax):
    """Whole-number ticks on the x axis: there is no epoch 2.5."""
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _legend_below(ax):
    """The legend under the axes (below its x label), where it cannot hide a curve."""
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(len(handles), 3), frameon=False)


def plot_prediction(y_true, y_pred, baseline=None, title="Prediction", labels=("truth", "prediction", "baseline")):
    """The prediction against the truth over the samples, with its mean squared error.

    Parameters
    ----------
    y_true : (N,) or (N, 1) array (NumPy or CuPy)
    y_pred : the same shape
    baseline : optional, the same shape (e.g. ``data.last_value_baseline(X)``)

    Returns
    -------
    Figure with one axes and two lines (three with a baseline); the legend, below the
    axes, gives each MSE
    """
    series = {"y_true": y_true, "y_pred": y_pred}
    if baseline is not None:
        series["baseline"] = baseline
    arrays = {name: _as_1d(value, name) for name, value in series.items()}
    for name, array in arrays.items():
        if array.shape != arrays["y_true"].shape:
            raise ValueError(f"{name} must have the shape of y_true {arrays['y_true'].shape} "
                             f"after flattening, got {array.shape}")
    fig, ax = plt.subplots(figsize=(9, 4))
    truth = arrays["y_true"]
    ax.plot(truth, color="black", linewidth=1.5, label=labels[0])
    for (name, array), label, style in zip(list(arrays.items())[1:], labels[1:], ("-", ":")):
        mse = float(np.mean((array - truth) ** 2))
        ax.plot(array, linestyle=style, label=f"{label} (MSE {mse:.3g})")
    ax.set(xlabel="sample", ylabel="value", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    _legend_below(ax)
    fig.tight_layout()
    return fig


def _as_1d(values, name):
    array = to_numpy(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty (N,) or (N, 1) array, got shape {array.shape}")
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array.astype(float)


def plot_gradient_norms(norms_by_model, logy=True, title=r"Gradient reaching each step"):
    r"""Norms of :math:`\partial L / \partial h_t` against t, one line per model.

    For a loss on the last step, the vanishing-gradient problem shows as a line
    that falls (exponentially, a straight line on the log scale) towards early t.

    Parameters
    ----------
    norms_by_model : dict ``name -> (T,) array`` of norms, one per time step t = 0 .. T-1

    Returns
    -------
    Figure with one axes and one line per model (whole-number ticks for t, the legend below)
    """
    if not isinstance(norms_by_model, dict) or not norms_by_model:
        raise TypeError("norms_by_model must be a non-empty dict name -> (T,) array of norms, "
                        f"got {type(norms_by_model).__name__}" + (" (empty)" if norms_by_model == {} else ""))
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, norms in norms_by_model.items():
        norms = to_numpy(norms).astype(float)
        if norms.ndim != 1 or norms.size == 0:
            raise ValueError(f"norms_by_model[{name!r}] must be a non-empty (T,) array, got shape {norms.shape}")
        ax.plot(np.arange(norms.size), norms, marker=".", label=str(name))
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel="time step t", ylabel=r"$\Vert \partial L / \partial h_t \Vert$", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    _legend_below(ax)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------- inside the LSTM
def plot_gates(gates, batch_index=0, title="LSTM gates"):
    """Heatmaps of the gates i, f, g, o of one sequence: hidden unit against time step.

    i, f and o lie in (0, 1) (how much to write, keep, show) and share a
    colour scale; g lies in (-1, 1) (the candidate values) and has its own.

    Parameters
    ----------
    gates : what ``analysis.gates_from`` takes: a dict of (T, H) / (T, N, H) arrays
        (``analysis.lstm_trace``), the definition's ``LSTMCache``, or a list of step caches
    batch_index : which sequence of the batch to show

    Returns
    -------
    Figure with four heatmap axes (plus one colour bar each)
    """
    gates = gates_from(gates, batch_index, name="gates")
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True, sharey=True)
    for ax, name in zip(axes.ravel(), GATES):
        bounds, cmap = ((-1, 1), "RdBu_r") if name == "g" else ((0, 1), "viridis")
        image = ax.imshow(gates[name].T, aspect="auto", origin="lower", interpolation="nearest",
                          vmin=bounds[0], vmax=bounds[1], cmap=cmap)
        ax.set(title=GATE_TITLES[name], xlabel="time step t", ylabel="hidden unit")
        fig.colorbar(image, ax=ax)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_states(h, c, batch_index=0, max_units=8, title="LSTM states"):
    """Trajectories of the hidden state h and the cell state c of one sequence, one line per unit.

    The hidden state stays in (-1, 1); the cell state is unbounded and can
    grow steadily, which is how the LSTM keeps a count or a memory.

    Parameters
    ----------
    h : (T, P) or (T, N, P) hidden states (e.g. ``lstm_trace(...)["h"]``)
    c : (T, H) or (T, N, H) cell states
    batch_index : which sequence of the batch to show
    max_units : at most this many units are drawn (the first ones)

    Returns
    -------
    Figure with two axes (h, then c), each with min(units, max_units) lines
    """
    max_units = check.positive_int(max_units, "max_units")
    h = one_sequence(h, "h", batch_index)
    c = one_sequence(c, "c", batch_index)
    if h.shape[0] != c.shape[0]:
        raise ValueError(f"h and c must have the same number of time steps, got {h.shape[0]} and {c.shape[0]}")
    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for ax, values, name in ((axes[0], h, "hidden state h"), (axes[1], c, "cell state c")):
        for unit in range(min(values.shape[1], max_units)):
            ax.plot(values[:, unit], label=f"unit {unit}")
        ax.set(ylabel=name)
        ax.grid(alpha=0.3)
    axes[1].set_xlabel("time step t")
    axes[0].legend(loc="upper left", fontsize="small", ncol=4)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
