"""Figures: each returns a Figure with the expected panels and lines, draws the right data, and saves a PNG."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from numpylstm import LSTM, plot
from numpylstm.analysis import lstm_trace
from numpylstm.train import History
from assertions import raises_naming

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_writes_png(fig, tmp_path):
    path = plot.save_figure(fig, tmp_path / "figure.png", dpi=40)
    content = path.read_bytes()
    assert content.startswith(PNG_MAGIC) and len(content) > 500
    assert not plt.fignum_exists(fig.number)   # save_figure closes it


def image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((7, 3, 2))   # (T, N, I)


# ---------------------------------------------------------------- loss curves
def test_plot_loss_training_only(tmp_path):
    fig = plot.plot_loss(History(epoch=[1, 2, 3], train_loss=[1.0, 0.5, 0.2],
                                 val_loss=[None] * 3, val_metric=[None] * 3))
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    (line,) = fig.axes[0].lines
    np.testing.assert_array_equal(line.get_ydata(), [1.0, 0.5, 0.2])
    assert_writes_png(fig, tmp_path)


def test_plot_loss_with_validation_and_metric(tmp_path):
    history = {"epoch": [1, 2], "train_loss": [1.0, 0.4], "val_loss": [1.1, 0.6],
               "val_metric": [0.5, 0.8], "metric_name": "accuracy"}
    fig = plot.plot_loss(history)
    assert len(fig.axes) == 2
    assert [len(ax.lines) for ax in fig.axes] == [2, 1]
    np.testing.assert_array_equal(fig.axes[1].lines[0].get_ydata(), [0.5, 0.8])
    assert fig.axes[1].get_ylabel() == "accuracy"
    assert_writes_png(fig, tmp_path)


# ------------------------------------------------------------------ prediction
def test_plot_prediction_with_and_without_baseline(tmp_path):
    y = np.sin(np.arange(20.0))[:, None]
    fig = plot.plot_prediction(y, y + 0.1)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
    fig = plot.plot_prediction(y, y + 0.1, baseline=np.roll(y, 1))
    lines = fig.axes[0].lines
    assert len(lines) == 3
    np.testing.assert_array_equal(lines[0].get_ydata(), y[:, 0])
    assert "MSE 0.01" in lines[1].get_label()
    assert_writes_png(fig, tmp_path)


# ------------------------------------------------------------------- gradients
def test_plot_gradient_norms_one_line_per_model(tmp_path):
    norms = {"RNN": 0.5 ** np.arange(10)[::-1], "LSTM": np.linspace(0.5, 1.0, 10)}
    fig = plot.plot_gradient_norms(norms)
    assert len(fig.axes) == 1 and [l.get_label() for l in fig.axes[0].lines] == ["RNN", "LSTM"]
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), norms["RNN"])
    assert fig.axes[0].get_yscale() == "log"
    assert_writes_png(fig, tmp_path)


def test_plot_gates_from_a_trace_draws_each_gate_transposed(tmp_path, x):
    trace = lstm_trace(LSTM(2, 5, seed=1), x)
    fig = plot.plot_gates(trace, batch_index=2)
    axes = image_axes(fig)
    assert len(axes) == 4 and [ax.get_title() for ax in axes] == [plot.GATE_TITLES[g] for g in "ifgo"]
    for ax, gate in zip(axes, "ifgo"):
        np.testing.assert_array_equal(ax.images[0].get_array(), trace[gate][:, 2].T)   # (H, T)
    assert_writes_png(fig, tmp_path)


def test_plot_states_lines_per_unit(tmp_path, x):
    trace = lstm_trace(LSTM(2, 3, seed=0), x)
    fig = plot.plot_states(trace["h"], trace["c"], batch_index=1)
    assert len(fig.axes) == 2 and [len(ax.lines) for ax in fig.axes] == [3, 3]
    np.testing.assert_array_equal(fig.axes[1].lines[2].get_ydata(), trace["c"][:, 1, 2])
    fig = plot.plot_states(np.zeros((5, 12)), np.zeros((5, 12)), max_units=4)
    assert [len(ax.lines) for ax in fig.axes] == [4, 4]
    assert_writes_png(fig, tmp_path)


def test_headless_detection(monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(plot.sys, "platform", "linux")
    assert plot._headless()
    monkeypatch.setenv("DISPLAY", ":0")
    assert not plot._headless()
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    assert not plot._headless()


# -------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("call, error, words", [
    (lambda: plot.plot_loss({"val_loss": [1.0]}), ValueError, ["train_loss"]),
    (lambda: plot.plot_loss({"train_loss": []}), ValueError, ["train_loss", "non-empty"]),
    (lambda: plot.plot_prediction(np.zeros(5), np.zeros(4)), ValueError, ["y_pred", "(5,)", "(4,)"]),
    (lambda: plot.plot_prediction(np.zeros((5, 2)), np.zeros((5, 2))), ValueError, ["y_true", "(5, 2)"]),
    (lambda: plot.plot_gradient_norms([1.0, 2.0]), TypeError, ["norms_by_model", "dict", "list"]),
    (lambda: plot.plot_gradient_norms({"a": np.zeros((2, 2))}), ValueError, ["norms_by_model['a']", "(2, 2)"]),
    (lambda: plot.plot_gates({"i": np.zeros((3, 2))}), ValueError, ["gates", "missing", "'f'"]),
    (lambda: plot.plot_gates("cache"), TypeError, ["gates", "str"]),
    (lambda: plot.plot_gates({g: np.zeros((3, 2, 4)) for g in "ifgo"}, batch_index=2), ValueError,
     ["batch_index", "0..1", "2"]),
    (lambda: plot.plot_states(np.zeros((3, 2)), np.zeros((4, 2))), ValueError, ["time steps", "3", "4"]),
])
def test_bad_arguments(call, error, words):
    raises_naming(error, call, *words)
