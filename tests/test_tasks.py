"""The built-in experiments (``numpylstm.tasks``): recipes callable from Python, results as data."""
import numpy as np
import pytest

from numpylstm import losses, tasks, train
from numpylstm.data import adding_problem
from assertions import raises_naming


def test_settings_for_overrides_the_defaults_and_names_mistakes():
    settings = tasks.settings_for("adding", epochs=3, hidden=8)
    assert settings == tasks.DEFAULTS["adding"]._replace(epochs=3, hidden=8)
    raises_naming(ValueError, lambda: tasks.settings_for("music"), "task", "'music'", "sine")
    raises_naming(TypeError, lambda: tasks.settings_for("sine", hiden=8), "unknown setting", "hiden")


def test_a_run_returns_its_model_and_metrics_that_the_model_reproduces():
    """The reported validation MSE is the trained model's own on freshly generated validation data."""
    result = tasks.run("adding", epochs=1, hidden=4, samples=64, dtype="float64")
    assert isinstance(result, tasks.TaskResult) and result.task == "adding" and len(result.history) == 1
    _, val_rng = tasks._data_seeds(result.settings.seed, 2)
    X_val, y_val = adding_problem(1000, 50, seed=val_rng)
    mse, _ = losses.mse_loss(train.predict(result.model, X_val), y_val)
    assert mse == pytest.approx(result.metrics["val_mse"], rel=1e-12)
    assert result.metrics["constant_mse"] == pytest.approx(float(np.mean((1 - y_val) ** 2)), rel=1e-12)
    assert "validation MSE" in tasks.summary(result)


def test_the_character_task_samples_at_each_temperature():
    result = tasks.run("chars", epochs=1, hidden=4, samples=8)
    assert sorted(result.details["samples"]) == [0.5, 0.8, 1.0]
    assert all(text.startswith("When ") for text in result.details["samples"].values())
    assert tasks.summary(result).count("--- sample at temperature") == 3


def test_gradient_check_of_a_random_lstm_passes():
    lstm, report = tasks.gradient_check(layers=1, hidden=2, seq_len=3)
    assert report.passed and lstm.num_layers == 1
