"""Figures: each returns a Figure with the expected panels and lines, draws the right data, and saves a PNG."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

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


def visible_ticks(ax):
    """The x tick values matplotlib shows inside the axis limits (after drawing)."""
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    return [tick for tick in ax.get_xticks() if low <= tick <= high]


@pytest.mark.parametrize("epochs", [2, 3, 7, 10, 15])
def test_epoch_ticks_are_whole_numbers(epochs):
    """Matplotlib's default locator puts ticks at 1.5, 2.5 ... on a few epochs; there is no epoch 2.5."""
    history = {"train_loss": list(np.linspace(1.0, 0.5, epochs)), "val_metric": [0.5] * epochs,
               "metric_name": "accuracy"}
    fig = plot.plot_loss(history)
    for ax in fig.axes:
        ticks = visible_ticks(ax)
        assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks


def test_baselines_are_drawn_as_labelled_horizontal_lines():
    history = {"train_loss": [0.5, 0.2, 0.1], "val_loss": [0.6, 0.3, 0.2], "val_metric": [0.4, 0.6, 0.9],
               "metric_name": "accuracy"}
    fig = plot.plot_loss(history, loss_baseline=(1 / 6, "always 1.0"),
                         metric_baseline=plot.Baseline(1 / 3, "chance"))
    for ax, (value, label) in zip(fig.axes, [(1 / 6, "always 1.0"), (1 / 3, "chance")]):
        (line,) = [line for line in ax.lines if line.get_label() == label]
        np.testing.assert_array_equal(line.get_ydata(), [value, value])
        assert label in [text.get_text() for text in ax.get_legend().get_texts()]


def test_no_baseline_no_extra_line():
    fig = plot.plot_loss({"train_loss": [0.5, 0.2], "val_loss": [0.6, 0.3]})
    assert [line.get_label() for line in fig.axes[0].lines] == ["training loss", "validation loss"]


def legend_clear_of_the_data(ax):
    """True when the legend's box on the canvas does not overlap the plotting area of ``ax``."""
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    return not ax.get_legend().get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))


def test_legends_sit_outside_the_plotting_area():
    history = {"train_loss": [1.0, 0.5, 0.2], "val_loss": [1.1, 0.6, 0.3], "val_metric": [0.3, 0.6, 0.9],
               "metric_name": "accuracy"}
    fig = plot.plot_loss(history, loss_baseline=(1.0, "baseline"), metric_baseline=(1 / 3, "chance"))
    assert all(legend_clear_of_the_data(ax) for ax in fig.axes)
    y = np.sin(np.arange(50.0))
    fig = plot.plot_prediction(y, y + 0.1, baseline=np.roll(y, 1))
    assert legend_clear_of_the_data(fig.axes[0])
    ax = plt.figure().gca()                         # the check can fail: a legend over the curves
    ax.plot(y, label="y")
    ax.legend(loc="center")
    assert not legend_clear_of_the_data(ax)


def test_accuracy_is_drawn_in_percent_and_other_metrics_are_not():
    history = {"train_loss": [1.0, 0.5], "val_metric": [0.5, 0.75], "metric_name": "accuracy"}
    ax = plot.plot_loss(history).axes[1]
    assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)
    ax.figure.canvas.draw()
    shown = {label.get_text(): tick for label, tick in zip(ax.get_yticklabels(), ax.get_yticks())}
    assert len(shown) >= 2 and all(text.endswith("%") for text in shown), shown
    for text, tick in shown.items():          # 0.6 is drawn as 60% or 60.0%
        assert float(text[:-1]) == pytest.approx(100 * tick)
    other = dict(history, metric_name="exact match")
    assert not isinstance(plot.plot_loss(other).axes[1].yaxis.get_major_formatter(), PercentFormatter)
    assert isinstance(plot.plot_loss(other, metric_percent=True).axes[1].yaxis.get_major_formatter(),
                      PercentFormatter)


@pytest.mark.parametrize("losses, baseline, logy, expected", [
    ([3.0, 2.2, 1.65], (3.096, "unigram"), "auto", "linear"),   # the chars task: a factor 1.9
    ([0.5, 0.05, 0.004], None, "auto", "log"),                  # the sine task: orders of magnitude
    ([0.02, 0.01], (0.3, "baseline"), "auto", "log"),           # the baseline counts in the range
    ([3.0, 2.2, 1.65], None, True, "log"),
    ([0.5, 0.05, 0.004], None, False, "linear"),
    ([0.5, -0.1, 0.2], None, "auto", "linear"),                 # a loss <= 0 cannot be drawn on a log axis
])
def test_log_scale_only_when_the_losses_span_orders_of_magnitude(losses, baseline, logy, expected):
    fig = plot.plot_loss({"train_loss": losses}, logy=logy, loss_baseline=baseline)
    assert fig.axes[0].get_yscale() == expected


@pytest.mark.parametrize("suffix, signature", [(".png", PNG_MAGIC), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_save_figure_writes_the_format_of_the_suffix(tmp_path, suffix, signature):
    path = plot.save_figure(plot.plot_loss({"train_loss": [1.0, 0.5]}), tmp_path / f"loss{suffix}")
    assert path.read_bytes().startswith(signature)


def png_size(path):
    """(width, height) in pixels, read from the PNG's IHDR chunk."""
    header = path.read_bytes()[16:24]
    return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")


def test_save_figure_dpi_scales_the_image_and_defaults_to_150(tmp_path):
    sizes = {}
    for dpi in (None, 75, 300):
        fig = plot.plot_loss({"train_loss": [1.0, 0.5]})
        path = tmp_path / f"loss-{dpi}.png"
        plot.save_figure(fig, path) if dpi is None else plot.save_figure(fig, path, dpi=dpi)
        sizes[dpi] = png_size(path)
    assert plot.DEFAULT_DPI >= 150
    assert sizes[300][0] == pytest.approx(4 * sizes[75][0], rel=0.02)
    assert sizes[None][0] == pytest.approx(2 * sizes[75][0] * plot.DEFAULT_DPI / 150, rel=0.02)


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
    (lambda: plot.plot_loss({"train_loss": [1.0]}, loss_baseline=0.5), TypeError, ["loss_baseline", "(value, label)"]),
    (lambda: plot.plot_loss({"train_loss": [1.0]}, metric_baseline=(0.5, 3)), TypeError, ["metric_baseline", "label"]),
    (lambda: plot.plot_loss({"train_loss": [1.0]}, loss_baseline=(np.nan, "x")), ValueError, ["loss_baseline value"]),
    (lambda: plot.plot_loss({"train_loss": [1.0]}, logy="yes"), TypeError, ["logy", "'yes'"]),
    (lambda: plot.save_figure(plt.figure(), "x.png", dpi=0), ValueError, ["dpi", "0"]),
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
