"""The built-in experiments (``numpylstm.tasks``): recipes callable from Python, results as data."""
import numpy as np
import pytest

from numpylstm import losses, optim, tasks, train
from numpylstm.data import adding_problem
from numpylstm.models import SequenceRegressor
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


def test_the_recipe_steps_adam_once_per_batch_and_its_schedule_after_each_step(monkeypatch):
    captured = {}

    def recording_fit(*args, **kwargs):
        captured.update(kwargs)
        return train.fit(*args, **kwargs)
    monkeypatch.setattr(tasks, "fit", recording_fit)
    settings = tasks.DEFAULTS["sine"]._replace(epochs=2, batch_size=4, lr=0.01)
    model = SequenceRegressor(1, 3, batch_first=True, seed=0)
    tasks._fit(model, losses.mse_loss, settings, (np.ones((8, 5, 1)), np.zeros((8, 1))), None, quiet=True)
    schedule = captured["scheduler"]
    assert isinstance(schedule, optim.CosineDecay) and schedule.total_steps == 4 and schedule.last_step == 4
    assert schedule.optimizer.steps_taken == 4      # one Adam step per batch, not two
    assert schedule.get_last_lr() == [pytest.approx(0.01 * tasks.FINAL_LR_FRACTION, rel=1e-12)]


TINY = {"sine": 64, "adding": 64, "reverse": 64, "classify": 64, "chars": 8}


@pytest.fixture(scope="module")
def tiny_results():
    return {task: tasks.run(task, epochs=1, hidden=4, batch_size=16, samples=samples)
            for task, samples in TINY.items()}


@pytest.mark.parametrize("task", tasks.TASKS)
def test_evaluate_measures_a_model_as_its_training_run_did(tiny_results, task):
    """What ``numpylstm predict --task`` prints after a load: the run's metrics, regenerated from its settings."""
    result = tiny_results[task]
    metrics, details = tasks.evaluate(task, result.model, result.settings)
    expected = {name: value for name, value in result.metrics.items() if name != "train_loss"}
    assert metrics == expected
    assert tasks.summary(result._replace(metrics=metrics, details=details)) == \
        tasks.summary(result._replace(metrics=expected))


def test_the_run_reports_its_validation_loss_as_fit_measured_it(tiny_results):
    result = tiny_results["adding"]
    other, _ = tasks.evaluate("adding", result.model, result.settings._replace(seed=7))   # other data
    assert other["val_mse"] != result.metrics["val_mse"]
    assert result.metrics["val_mse"] == pytest.approx(result.history.val_loss[-1], rel=1e-6)   # float32 sums
    assert tiny_results["chars"].metrics["test_loss"] == pytest.approx(tiny_results["chars"].history.val_loss[-1],
                                                                      rel=1e-6)


def test_figure_baselines_are_what_a_trivial_predictor_scores(tiny_results):
    baselines = {task: tasks.figure_baselines(result) for task, result in tiny_results.items()}
    (value, label), = baselines["sine"].values()
    assert value == tiny_results["sine"].metrics["baseline_mse"] and "last-value forecast" in label
    assert baselines["adding"]["loss_baseline"][0] == pytest.approx(1 / 6, abs=0.01)
    assert baselines["chars"]["loss_baseline"] == (pytest.approx(3.096, abs=5e-4), "unigram entropy (3.096)")
    assert baselines["classify"] == {"metric_baseline": (1 / 3, "chance (33.3%)"),
                                     "loss_baseline": (pytest.approx(1.0986, abs=1e-4), "uniform guess (1.099)")}
    assert baselines["reverse"] == {"metric_baseline": (1 / 11, "chance (9.1%)"),     # 10 symbols or END
                                    "loss_baseline": (pytest.approx(2.3979, abs=1e-4), "uniform guess (2.398)")}


def test_saved_run_reads_the_task_and_settings_of_a_file_and_refuses_the_wrong_task(tiny_results):
    metadata = tasks.run_metadata(tiny_results["classify"])
    assert tasks.saved_run(metadata) == ("classify", tiny_results["classify"].settings)
    assert tasks.saved_run(metadata, "classify", seed=4)[1].seed == 4
    raises_naming(ValueError, lambda: tasks.saved_run(metadata, "sine"), "task", "'classify'", "'sine'")
    raises_naming(ValueError, lambda: tasks.saved_run({}), "names no task", "--task")
    assert tasks.saved_run({}, "adding") == ("adding", tasks.DEFAULTS["adding"])


def test_predictions_of_each_kind_of_model(tiny_results):
    X = np.random.default_rng(0).standard_normal((5, 30, 1))
    assert tasks.predictions(tiny_results["classify"].model, X).shape == (5,)
    assert tasks.predictions(tiny_results["sine"].model, X).shape == (5, 1)
    source = np.array([[3, 4, 5, 0], [6, 7, 8, 9]])
    decoded = tasks.predictions(tiny_results["reverse"].model, source)
    tokens, _ = tiny_results["reverse"].model.greedy_decode(source, 1, 2, max_len=5, src_lengths=[3, 4])
    np.testing.assert_array_equal(decoded, tokens)
    raises_naming(ValueError, lambda: tasks.predictions(tiny_results["reverse"].model, np.array([[3, 0, 4]])),
                  "inputs", "PAD (0) only after")
    raises_naming(TypeError, lambda: tasks.predictions(tiny_results["sine"].model.lstm, X), "model", "LSTM")


def test_sample_text_starts_with_the_prompt_and_refuses_unknown_characters(tiny_results):
    model, vocab = tiny_results["chars"].model, tasks.char_vocabulary()
    text = tasks.sample_text(model, vocab, "Thou ", length=12, temperature=0.5, seed=1)
    assert text.startswith("Thou ") and len(text) == 17
    assert tasks.sample_text(model, vocab, "Thou ", length=12, temperature=0.5, seed=1) == text
    raises_naming(ValueError, lambda: tasks.sample_text(model, vocab, "", 5), "prompt", "non-empty")
    raises_naming(ValueError, lambda: tasks.sample_text(model, vocab, "§", 5), "prompt", "'§'")
    assert tasks.saved_vocabulary(tasks.run_metadata(tiny_results["chars"]), model).chars == vocab.chars


@pytest.mark.parametrize("layers, hidden, bidirectional, proj_size", [(1, 3, False, 0), (2, 4, True, 0),
                                                                      (2, 5, False, 2)])
def test_a_gradient_check_plan_counts_two_forward_passes_per_checked_number(layers, hidden, bidirectional,
                                                                             proj_size):
    plan = tasks.plan_gradient_check(layers=layers, hidden=hidden, input_size=3, seq_len=4, batch=2,
                                     bidirectional=bidirectional, proj_size=proj_size)
    x, (h0, c0) = plan.inputs
    numbers = x.size + h0.size + c0.size + sum(p.data.size for p in plan.lstm.parameters())
    assert plan.forward_passes == 1 + 2 * numbers
    assert plan.estimated_seconds == plan.forward_passes * plan.seconds_per_pass > 0
    counted = []
    report = tasks.run_gradient_check(plan, progress=lambda name, shape: counted.append(int(np.prod(shape))))
    assert report.passed and 1 + 2 * sum(counted) == plan.forward_passes
