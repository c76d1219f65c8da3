"""The training loop: learning, seeding, early stopping, the NaN/Inf guard, clipping, eval-mode validation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numpylstm import data, Tanh, train
from numpylstm.backend import to_device, to_numpy
from numpylstm.layers import Dropout, Linear, Sequential
from numpylstm.losses import cross_entropy, mse_loss
from numpylstm.models import SequenceClassifier, SequenceRegressor
from numpylstm.module import Module
from numpylstm.optim import Adam, CosineDecay, SGD

from assertions import fuzzed_arguments_test, raises_naming, refused_naming
from strategies import hostile_values


def linear_problem(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------- learning
def test_loss_decreases_on_a_tiny_regression():
    X, y = linear_problem()
    model = Linear(3, 1, seed=0)
    history = train.fit(model, mse_loss, SGD(model.parameters(), lr=0.1), (X, y), epochs=20,
                        batch_size=16, seed=0, quiet=True)
    assert len(history) == 20 and history.epoch == list(range(1, 21))
    assert history.train_loss[-1] < 1e-3 * history.train_loss[0]
    np.testing.assert_allclose(model.weight.data, [[1.5, -2.0, 0.5]], atol=1e-2)


def test_an_lstm_learns_the_sine_task_beyond_the_last_value_baseline():
    task = data.sine_task(n_steps=260, window=12, seed=0)
    model = SequenceRegressor(1, 8, batch_first=True, seed=0)
    history = train.fit(model, mse_loss, Adam(model.parameters(), lr=0.02), (task.X_train, task.y_train),
                        epochs=6, batch_size=16, val_data=(task.X_test, task.y_test), seed=0, quiet=True)
    baseline = np.mean((data.last_value_baseline(task.X_test) - task.y_test) ** 2)
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]
    assert history.val_loss[-1] < baseline


def test_fit_and_predict_on_each_device_follow_the_cpu_run(device):
    """The whole loop (batches, Adam, validation, predict) on CuPy arrays gives the CPU's numbers."""
    task = data.sine_task(n_steps=120, window=12, seed=0)
    losses, predictions = {}, {}
    for where in ("cpu", device):
        def on(array):
            return to_device(array, where)
        model = SequenceRegressor(1, 8, batch_first=True, seed=0).to(where)
        history = train.fit(model, mse_loss, Adam(model.parameters(), lr=0.02),
                            (on(task.X_train), on(task.y_train)), epochs=3, batch_size=16,
                            val_data=(on(task.X_test), on(task.y_test)), seed=0, quiet=True)
        losses[where] = history.train_loss + history.val_loss
        predictions[where] = to_numpy(train.predict(model, on(task.X_test), batch_size=7))
    assert losses["cpu"][-1] < 0.5 * losses["cpu"][0]  # it learned something worth comparing
    np.testing.assert_allclose(losses[device], losses["cpu"], rtol=1e-10)
    np.testing.assert_allclose(predictions[device], predictions["cpu"], rtol=1e-9, atol=1e-12)


def test_classification_with_accuracy_metric_reports_it_per_epoch(capsys):
    X, y = data.classification_task(90, seq_len=14, n_classes=2, noise=0.2, seed=0)
    model = SequenceClassifier(1, 6, 2, batch_first=True, seed=0)
    history = train.fit(model, cross_entropy, Adam(model.parameters(), lr=0.03), (X, y), epochs=3,
                        batch_size=15, val_data=(X, y), metric=train.accuracy, seed=0)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("epoch 1/3") and "val_accuracy" in lines[0] and "val_loss" in lines[0]
    assert history.metric_name == "accuracy" and all(0 <= a <= 1 for a in history.val_metric)
    logits = train.predict(model, X)
    assert history.val_metric[-1] == pytest.approx(np.mean(np.argmax(logits, -1) == y), abs=0)


def test_quiet_prints_nothing(capsys):
    X, y = linear_problem(8)
    model = Linear(3, 1, seed=0)
    train.fit(model, mse_loss, SGD(model.parameters(), lr=0.1), (X, y), epochs=2, quiet=True)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- seeding
def run(fit_seed, model_seed=0, shuffle=True):
    task = data.adding_problem(40, seq_len=6, seed=1)
    model = SequenceRegressor(2, 4, batch_first=True, dropout=0.0, seed=model_seed)
    history = train.fit(model, mse_loss, Adam(model.parameters(), lr=0.01), task, epochs=2,
                        batch_size=8, seed=fit_seed, quiet=True, shuffle=shuffle)
    return weights(model), history


def test_training_is_reproducible_with_a_seed():
    (w1, h1), (w2, h2) = run(fit_seed=5), run(fit_seed=5)
    for name in w1:
        np.testing.assert_array_equal(w1[name], w2[name], err_msg=name)
    assert h1.train_loss == h2.train_loss and h1.grad_norm == h2.grad_norm


def test_the_seed_sets_the_batch_order():
    (w1, _), (w2, _) = run(fit_seed=5), run(fit_seed=6)
    assert any(not np.array_equal(w1[k], w2[k]) for k in w1)
    (w3, _), (w4, _) = run(fit_seed=5, shuffle=False), run(fit_seed=6, shuffle=False)
    assert all(np.array_equal(w3[k], w4[k]) for k in w3)


# ------------------------------------------------------------- early stopping
class ScriptedOptimizer:
    """Sets the single weight to the next value of a script at every step (one step per epoch)."""

    def __init__(self, model, script):
        self.model, self.script = model, list(script)

    def zero_grad(self):
        self.model.zero_grad()

    def step(self):
        self.model.weight.data[...] = self.script.pop(0)


def scripted_run(script, patience, epochs):
    X = np.ones((4, 1))
    model = Linear(1, 1, bias=False, seed=0)
    # Validation loss is (w - 1)^2: lowest for the script value nearest 1.
    history = train.fit(model, mse_loss, ScriptedOptimizer(model, script), (X, X), epochs=epochs,
                        batch_size=4, val_data=(X, X), early_stopping=patience, quiet=True)
    return model, history


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    model, history = scripted_run([3.0, 2.0, 1.25, 2.5, 3.0, 0.0, 1.0], patience=2, epochs=7)
    assert len(history) == 5 and history.stopped_early       # epochs 4 and 5 did not improve
    assert history.best_epoch == 3
    assert model.weight.data[0, 0] == 1.25
    assert history.val_loss[2] == pytest.approx(0.0625)


def test_early_stopping_restores_the_best_weights_when_all_epochs_ran(capsys):
    X = np.ones((4, 1))
    model = Linear(1, 1, bias=False, seed=0)
    history = train.fit(model, mse_loss, ScriptedOptimizer(model, [2.0, 1.5, 0.9, 3.0]), (X, X), epochs=4,
                        batch_size=4, val_data=(X, X), early_stopping=3)
    assert not history.stopped_early and len(history) == 4 and history.best_epoch == 3
    assert model.weight.data[0, 0] == 0.9
    assert "restored the weights of epoch 3" in capsys.readouterr().out


# ----------------------------------------------------------------- NaN guard
class NanAtCall(Module):
    """A Linear(3, 1) whose prediction is nan at one training-mode call (the dry run, in eval mode, is not counted)."""

    def __init__(self, at_call):
        super().__init__()
        self.linear = Linear(3, 1, seed=0)
        self.calls, self.at_call = 0, at_call

    def forward(self, x):
        y = self.linear(x)
        if self.training:
            self.calls += 1
            if self.calls == self.at_call:
                y = y * np.nan
        return y

    def backward(self, dy):
        return self.linear.backward(dy)


def test_nan_guard_names_the_loss_with_epoch_and_step():
    X, y = linear_problem(12)
    model = NanAtCall(at_call=3)                 # the third batch of 4
    with pytest.raises(train.TrainingDiverged, match=r"epoch 1, step 3: the loss is nan") as info:
        train.fit(model, mse_loss, SGD(model.parameters(), lr=0.1), (X, y), epochs=2, batch_size=4,
                  shuffle=False, quiet=True)
    assert isinstance(info.value, FloatingPointError)
    assert (info.value.epoch, info.value.step, info.value.tensor) == (1, 3, "the loss")
    assert len(info.value.history) == 0
    assert not model._caches and not model.linear._caches   # the step's forward cache was dropped
    assert "last finite weights" in str(info.value)
    assert np.isfinite(model.linear.weight.data).all()


class PlantsInf(Module):
    """Two Linear layers; backward plants an inf into second.weight's gradient at one call."""

    def __init__(self, at_call):
        super().__init__()
        self.first, self.second = Linear(3, 4, seed=0), Linear(4, 1, seed=1)
        self.calls, self.at_call = 0, at_call

    def forward(self, x):
        return self.second(self.first(x))

    def backward(self, dy):
        self.calls += 1
        dx = self.first.backward(self.second.backward(dy))
        if self.calls == self.at_call:
            self.second.weight.grad[0, 2] = np.inf
        return dx


def test_nan_guard_names_the_parameter_whose_gradient_is_not_finite():
    X, y = linear_problem(12)
    model = PlantsInf(at_call=5)                 # 3 steps per epoch: epoch 2, step 2
    with pytest.raises(train.TrainingDiverged) as info:
        train.fit(model, mse_loss, SGD(model.parameters(), lr=0.01), (X, y), epochs=3, batch_size=4,
                  quiet=True)
    message = str(info.value)
    assert "epoch 2, step 2" in message and "'second.weight'" in message and "inf" in message
    assert len(info.value.history) == 1          # epoch 1 completed
    assert all(not m._caches for m in model.modules())


def test_without_the_guard_a_nan_spreads_silently():
    X, y = linear_problem(12)
    model = NanAtCall(at_call=1)
    history = train.fit(model, mse_loss, SGD(model.parameters(), lr=0.1), (X, y), epochs=1, batch_size=4,
                        shuffle=False, quiet=True, nan_guard=False)
    assert np.isnan(history.train_loss[0]) and np.isnan(model.linear.weight.data).all()


# ------------------------------------------------------------------ clipping
def exploding_run(clip):
    """SGD with lr=3 on the adding problem with targets x10.

    Without clipping the loss grows by about ten orders of magnitude per epoch and would
    overflow float64 within 40 epochs (the LSTM's saturated gates stay finite; the head's
    weights and the loss do not); the guard's bound stops it in the first epoch.
    """
    X, y = data.adding_problem(64, seq_len=10, seed=0)
    model = SequenceRegressor(2, 4, batch_first=True, seed=0)
    history = train.fit(model, mse_loss, SGD(model.parameters(), lr=3.0), (X, 10 * y), epochs=40,
                        batch_size=16, seed=0, clip=clip, quiet=True)
    return model, history


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the unclipped run overflows, by design
def test_clipping_keeps_an_exploding_configuration_finite():
    with pytest.raises(train.TrainingDiverged, match=r"training diverged at epoch \d+, step \d+: ") as info:
        exploding_run(clip=None)
    assert info.value.tensor                               # the guard named a tensor
    model, history = exploding_run(clip=1.0)
    assert all(np.isfinite(p.data).all() for p in model.parameters())
    assert np.all(np.isfinite(history.train_loss))
    assert max(history.grad_norm) > 1.0          # clipping was active: norms are reported before it


# ------------------------------------------------------- eval mode and predict
def dropout_model():
    return Sequential(Linear(3, 16, seed=0), Dropout(0.5, seed=0), Linear(16, 1, seed=1))


def test_the_scheduler_is_stepped_after_every_optimizer_step():
    X, y = linear_problem(n=40)
    model = Linear(3, 1, seed=0)
    optimizer = SGD(model.parameters(), lr=0.1)
    schedule = CosineDecay(optimizer, total_steps=15, final_fraction=0.1)
    train.fit(model, mse_loss, optimizer, (X, y), epochs=3, batch_size=8, seed=0, quiet=True, scheduler=schedule)
    assert optimizer.steps_taken == schedule.last_step == 15        # 3 epochs of 5 batches, one step each
    assert optimizer.lr == pytest.approx(0.01, rel=1e-12)            # the end of the half cosine


def test_validation_runs_in_eval_mode():
    X, y = linear_problem(32)
    model = dropout_model()
    history = train.fit(model, mse_loss, SGD(model.parameters(), lr=0.01), (X, y), epochs=1,
                        batch_size=8, val_data=(X, y), seed=0, quiet=True)
    assert model.training                         # fit leaves the model in training mode
    model.eval()
    expected, _ = mse_loss(model(X), y)          # no dropout: what validation must have measured
    assert history.val_loss[0] == expected
    model.train()
    assert mse_loss(model(X), y)[0] != expected   # (the check above can fail: dropout changes it)


def test_predict_runs_in_eval_mode_in_batches_and_restores_the_mode():
    X, _ = linear_problem(10)
    model = dropout_model()
    whole = train.predict(model, X)
    batched = train.predict(model, X, batch_size=3)
    assert whole.shape == (10, 1) and model.training
    np.testing.assert_allclose(batched, whole, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(train.predict(model, X), whole)   # deterministic: no dropout
    assert all(not m._caches for m in model.modules())
    model.eval()
    train.predict(model, X)
    assert not model.training


class TwoOutputs(Module):
    def forward(self, a, b):
        return a + b, (a * b, a - b)


def test_predict_takes_several_inputs_and_joins_nested_outputs():
    a, b = np.arange(10.0)[:, None], np.ones((10, 1))
    s, (p, d) = train.predict(TwoOutputs(), (a, b), batch_size=4)
    np.testing.assert_array_equal(s, a + b)
    np.testing.assert_array_equal(p, a)
    np.testing.assert_array_equal(d, a - 1)


def test_accuracy_metric_with_and_without_mask():
    logits = np.array([[[2.0, 1.0], [0.0, 3.0]], [[1.0, 0.0], [1.0, 0.0]]])
    target = np.array([[0, 1], [1, 1]])
    assert train.accuracy(logits, target) == 0.5
    assert train.accuracy(logits, target, mask=np.array([[1, 1], [0, 0]])) == 1.0


def test_history_is_plot_and_json_friendly():
    import json
    X, y = linear_problem(8)
    model = Linear(3, 1, seed=0)
    history = train.fit(model, mse_loss, SGD(model.parameters(), lr=0.1), (X, y), epochs=3, quiet=True)
    record = json.loads(json.dumps(history.as_dict()))
    assert record["train_loss"] == history.train_loss and len(record["epoch_time"]) == 3
    assert len(history.elapsed) == 3 and history.elapsed == sorted(history.elapsed)


# ------------------------------------------------------------- bad arguments
def bad_fit(**changes):
    X, y = linear_problem(8)
    model = Linear(3, 1, seed=0)
    kwargs = dict(model=model, loss_fn=mse_loss, optimizer=SGD(model.parameters(), lr=0.1),
                  train_data=(X, y), epochs=1, quiet=True)
    kwargs.update(changes)
    return lambda: train.fit(**kwargs)


@pytest.mark.parametrize("call, error, words", [
    (bad_fit(epochs=0), ValueError, ["epochs", "0"]),
    (bad_fit(batch_size=2.5), TypeError, ["batch_size", "2.5"]),
    (bad_fit(train_data=np.zeros((8, 3))), TypeError, ["train_data", "pair", "ndarray"]),
    (bad_fit(train_data=(np.zeros((8, 3)), np.zeros((7, 1)))), ValueError, ["train_data", "(8, 3)", "(7, 1)"]),
    (bad_fit(train_data=([], np.zeros(3))), ValueError, ["train_data[0]", "empty"]),
    (bad_fit(val_data=(np.zeros((2, 3)),)), TypeError, ["val_data", "pair", "length 1"]),
    (bad_fit(clip=0.0), ValueError, ["clip", "0.0"]),
    (bad_fit(clip="1"), TypeError, ["clip", "'1'"]),
    (bad_fit(early_stopping=3), ValueError, ["early_stopping", "val_data"]),
    (bad_fit(early_stopping=0, val_data=linear_problem(4)), ValueError, ["early_stopping", "0"]),
    (bad_fit(metric="accuracy"), TypeError, ["metric", "str"]),
    (bad_fit(loss_fn=None), TypeError, ["loss_fn", "NoneType"]),
    (bad_fit(loss_fn=lambda p, t: 1.0), TypeError, ["loss_fn", "pair", "float"]),
    (bad_fit(optimizer=object()), TypeError, ["optimizer", "step", "object"]),
    (bad_fit(model=lambda x: x), TypeError, ["model", "Module", "function"]),
    (bad_fit(seed=-2), ValueError, ["seed", "-2"]),
    (bad_fit(scheduler="cosine"), TypeError, ["scheduler must have step()", "str"]),
    (bad_fit(scheduler=CosineDecay(SGD(Linear(3, 1).parameters()), 4)), ValueError,
     ["scheduler must set the learning rate of the optimizer given to fit"]),
    (lambda: train.predict(Linear(3, 1), np.zeros((4, 3)), batch_size=0), ValueError, ["batch_size", "0"]),
    (lambda: train.predict(Linear(3, 1), (np.zeros((4, 3)), np.zeros((3, 3)))), ValueError, ["inputs", "(4, 3)"]),
    (lambda: train.accuracy(np.zeros((4, 3)), np.zeros(5, int)), ValueError, ["target", "(4,)", "(5,)"]),
])
def test_bad_arguments(call, error, words):
    raises_naming(error, call, *words)


def test_predict_refuses_to_join_outputs_that_do_not_have_the_samples_first(rng):
    """An LSTM's (h_n, c_n) are (layers, N, H): joining them on axis 0 would be silently wrong."""
    from numpylstm import LSTM
    lstm = LSTM(2, 3, num_layers=2, batch_first=True, seed=0)
    X = rng.standard_normal((10, 4, 2))
    with pytest.raises(ValueError, match=r"samples first; got an output of shape \(2, 4, 3\) for a batch of 4"):
        train.predict(lstm, X, batch_size=4)
    out, (h_n, _) = train.predict(lstm, X)           # one batch: nothing to join
    assert out.shape == (10, 4, 3) and h_n.shape == (2, 10, 3)


def test_fit_refuses_an_optimizer_of_another_model():
    model, other = Linear(3, 1, seed=0), Linear(3, 1, seed=1)
    X, y = np.ones((4, 3)), np.ones((4, 1))
    raises_naming(ValueError, lambda: train.fit(model, mse_loss, SGD(other.parameters(), lr=0.1), (X, y), epochs=1,
                                                quiet=True), "optimizer", "none of them", "model.parameters()")


def test_fit_accepts_an_optimizer_over_some_of_the_parameters():
    model = Sequential(Linear(3, 4, seed=0), Tanh(), Linear(4, 1, seed=1))
    frozen = model[0].weight.data.copy()
    train.fit(model, mse_loss, SGD(model[2].parameters(), lr=0.1), (np.ones((4, 3)), np.zeros((4, 1))), epochs=2,
              quiet=True)
    np.testing.assert_array_equal(model[0].weight.data, frozen)


@pytest.mark.parametrize("target, mask, error, fragments", [
    (np.array([0.0, 1.0]), None, TypeError, ["target", "float64"]),
    (np.array([0, 1, 2]), None, ValueError, ["target", "(2,)", "(3,)"]),
    (np.array([0, 1]), np.array([0.5, 1.0]), ValueError, ["mask", "0 and 1"]),
    (np.array([0, 1]), np.zeros(2, dtype=bool), ValueError, ["mask", "at least one"]),
])
def test_accuracy_names_bad_targets_and_masks(target, mask, error, fragments):
    raises_naming(error, lambda: train.accuracy(np.eye(2, 3), target, mask), *fragments)


def test_accuracy_refuses_empty_logits_and_takes_lists():
    raises_naming(ValueError, lambda: train.accuracy(np.zeros((0, 3)), np.zeros(0, dtype=int)), "logits", "empty")
    assert train.accuracy(np.eye(2, 3), [0, 0]) == 0.5


def test_accuracy_refuses_class_ids_out_of_range_read_in_their_own_dtype():
    logits = np.eye(2, 3)
    raises_naming(ValueError, lambda: train.accuracy(logits, np.array([0, 3])), "target", "[0, 2]", "from 0 to 3")
    raises_naming(ValueError, lambda: train.accuracy(logits, np.array([0, 2 ** 64 - 1], dtype=np.uint64)),
                  "target", f"from 0 to {2 ** 64 - 1}")
    assert train.accuracy(logits, np.array([0, -100]), mask=[1, 0]) == 1.0   # padding is not read


# ------------------------------------------------- issue 14: everything checked before the first step
def checked_before_training(call, error, *fragments):
    """``call(model, optimizer)`` must raise ``error`` naming ``fragments`` with no step taken, no weight changed."""
    model = Linear(3, 1, seed=0)
    optimizer = SGD(model.parameters(), lr=0.1)
    before = weights(model)
    raises_naming(error, lambda: call(model, optimizer), *fragments)
    assert optimizer.steps_taken == 0 and not model._caches and model.training
    for name, value in weights(model).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def fit_with(model, optimizer, **changes):
    X, y = linear_problem(16)
    kwargs = dict(train_data=(X, y), epochs=2, batch_size=4, quiet=True, seed=0)
    kwargs.update(changes)
    return train.fit(model, mse_loss, optimizer, **kwargs)


X16, Y16 = linear_problem(16)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")   # the loss of 1e200 * X overflows
@pytest.mark.parametrize("changes, error, fragments", [
    (dict(val_data=(np.zeros((4, 5)), np.zeros((4, 1)))), ValueError,
     ["val_data[0] (inputs) do not fit the model", "in_features=3", "(4, 5)"]),
    (dict(val_data=(np.zeros((4, 3)), np.zeros((4, 2)))), ValueError,
     ["val_data[1] (targets) do not fit", "target must have shape (4, 1)", "(4, 2)"]),
    (dict(val_data=(np.zeros((4, 3)), np.zeros((4, 1), dtype=int))), TypeError, ["val_data[1] (targets)", "int64"]),
    (dict(train_data=(X16.astype(np.float16).view(np.int16), Y16)), TypeError, ["train_data[0] (inputs)", "int16"]),
    (dict(train_data=(X16, Y16[:, 0])), ValueError, ["train_data[1] (targets)", "(4, 1)", "(4,)"]),
    (dict(val_data=(np.zeros((4, 3)), np.array([[0.0], [np.nan], [1.0], [np.nan]]))), ValueError,
     ["val_data[1] must hold finite values, got 2 nan and 0 inf (the first at index (1, 0))", "put 0 there"]),
    (dict(train_data=(X16 * np.where(np.arange(16) == 5, np.inf, 1)[:, None], Y16)), ValueError,
     ["train_data[0] must hold finite values", "0 nan and 3 inf", "(5, 0)"]),
    (dict(train_data=((X16,), (Y16, np.full((16, 1), np.nan)))), ValueError, ["train_data[1][1] must hold finite"]),
    (dict(train_data=(np.ma.masked_array(X16), Y16)), TypeError, ["train_data[0] must be a plain array"]),
    (dict(train_data=(1e200 * X16, Y16)), ValueError, ["train_data gives the model a loss of inf before training"]),
    (dict(shuffle="no"), TypeError, ["shuffle must be True or False", "'no'"]),
    (dict(nan_guard="off"), TypeError, ["nan_guard must be True or False", "'off'"]),
    (dict(quiet=1), TypeError, ["quiet must be True or False"]),
    (dict(val_data=(X16, Y16), metric=lambda pred, y: train.accuracy(pred, y)), TypeError,
     ["metric failed on the first 4 samples of val_data", "target", "float64"]),
])
def test_fit_checks_everything_before_the_first_step(changes, error, fragments):
    checked_before_training(lambda model, optimizer: fit_with(model, optimizer, **changes), error, *fragments)


def test_fit_refuses_a_model_whose_weights_are_not_finite():
    model = Linear(3, 1, seed=0)
    model.bias.data[0] = np.nan
    raises_naming(ValueError, lambda: fit_with(model, SGD(model.parameters(), lr=0.1)),
                  "parameter 'bias' of the model must hold finite values, got 1 nan")


# ------------------------------------------------------------ issue 14: divergence handled
class ScriptedLoss:
    """A loss whose value follows a script (the dry run reads the first), with a zero gradient."""

    def __init__(self, script):
        self.script = list(script)

    def __call__(self, pred, target):
        return self.script.pop(0), np.zeros_like(pred)


@pytest.mark.parametrize("starting, fine, too_big", [(500.0, 4.99e6, 5.01e6), (1.0, 9.99e5, 1.01e6),
                                                     (20.0, 9.99e5, 1.01e6), (-200.0, 1.99e6, 2.01e6)])
def test_a_loss_above_the_documented_bound_is_divergence(starting, fine, too_big):
    """The bound is max(1e6, 1e4 * |L0|), L0 the dry run's loss before training."""
    model = Linear(3, 1, seed=0)
    X = np.ones((8, 3))
    loss = ScriptedLoss([starting, fine, too_big])
    with pytest.raises(train.TrainingDiverged, match=r"epoch 1, step 2: the loss is .* above the divergence bound"):
        train.fit(model, loss, SGD(model.parameters(), lr=0.1), (X, X[:, :1]), epochs=1, batch_size=4, quiet=True)
    assert not loss.script                         # the dry run, step 1 and step 2 read the script


def test_a_validation_loss_that_is_not_finite_or_too_big_is_divergence():
    model = Linear(3, 1, seed=0)
    X = np.ones((4, 3))
    script = [1.0, 1.0, 1.0, 0.5, 0.5, np.nan]     # dry runs (train, val), then per epoch: step, validation
    with pytest.raises(train.TrainingDiverged, match=r"epoch 2, in validation: the validation loss is nan") as info:
        train.fit(model, ScriptedLoss(script), SGD(model.parameters(), lr=0.1), (X, X[:, :1]), epochs=3,
                  batch_size=4, val_data=(X, X[:, :1]), quiet=True)
    assert info.value.step is None and len(info.value.history) == 1
    assert "The model holds its weights from the end of epoch 2." in str(info.value)


def test_sgd_at_lr_1_without_clipping_stops_at_the_bound_with_finite_weights():
    X, y = linear_problem(64)
    model = Linear(3, 1, seed=0)
    with pytest.raises(train.TrainingDiverged, match="above the divergence bound 1e\\+06") as info:
        train.fit(model, mse_loss, SGD(model.parameters(), lr=1.0), (X, y), epochs=30, batch_size=16,
                  val_data=(X, y), seed=0, quiet=True)
    assert info.value.epoch > 1 and len(info.value.history) == info.value.epoch - 1
    assert all(np.isfinite(p.data).all() for p in model.parameters())


class ExplodingOptimizer(ScriptedOptimizer):
    """Scripted weights; a script value of inf makes the step non-finite."""


def test_a_step_that_makes_a_parameter_non_finite_is_undone():
    X = np.ones((4, 1))
    model = Linear(1, 1, bias=False, seed=0)
    with pytest.raises(train.TrainingDiverged, match=r"epoch 3, step 1: parameter 'weight' holds 1 non-finite "
                                                     r"value\(s\) \(inf\) after the optimizer step \(undone\)"):
        train.fit(model, mse_loss, ExplodingOptimizer(model, [2.0, 1.5, np.inf]), (X, X), epochs=4, batch_size=4,
                  quiet=True)
    assert model.weight.data[0, 0] == 1.5          # the weights from before the failed step


def test_divergence_with_early_stopping_restores_the_best_weights():
    X = np.ones((4, 1))
    model = Linear(1, 1, bias=False, seed=0)
    with pytest.raises(train.TrainingDiverged) as info:
        train.fit(model, mse_loss, ScriptedOptimizer(model, [3.0, 1.25, 2.0, np.nan]), (X, X), epochs=6,
                  batch_size=4, val_data=(X, X), early_stopping=3, quiet=True)
    assert info.value.epoch == 4 and info.value.history.best_epoch == 2
    assert "Early stopping restored the weights of epoch 2, the best val_loss (0.0625)." in str(info.value)
    assert model.weight.data[0, 0] == 1.25


def test_without_the_guard_early_stopping_says_when_no_val_loss_was_finite(capsys):
    X = np.ones((4, 1))
    model = Linear(1, 1, bias=False, seed=0)
    script = [1.0, 1.0] + [1.0, np.nan] * 2
    history = train.fit(model, ScriptedLoss(script), SGD(model.parameters(), lr=0.1), (X, X), epochs=2,
                        batch_size=4, val_data=(X, X), early_stopping=5, nan_guard=False)
    assert history.best_epoch is None
    assert "no epoch had a finite val_loss; the model keeps its last weights" in capsys.readouterr().out


# ------------------------------------------------------------- issue 14: fuzzed arguments
def fit_arguments():
    """A valid fit call's arguments (epochs is left out of the fuzzing: any positive count is valid, and long)."""
    model = Linear(3, 1, seed=0)
    return dict(model=model, loss_fn=mse_loss, optimizer=SGD(model.parameters(), lr=0.1),
                train_data=(X16, Y16), batch_size=4, val_data=(X16[:4], Y16[:4]), metric=None, clip=None,
                early_stopping=None, seed=0, quiet=True, nan_guard=True, shuffle=True, scheduler=None)


@settings(max_examples=200)
@given(argument=st.sampled_from(sorted(fit_arguments())), value=hostile_values)
def test_fuzzed_fit_arguments_are_refused_naming_them_before_any_step(argument, value):
    kwargs = fit_arguments()
    model, optimizer = kwargs["model"], kwargs["optimizer"]
    before = weights(model)
    kwargs[argument] = value
    if refused_naming(lambda: train.fit(**kwargs, epochs=1), argument) is not None:
        assert optimizer.steps_taken == 0
        assert all(np.array_equal(now, before[name]) for name, now in weights(model).items())


PREDICT_AND_ACCURACY = {
    "predict": (lambda **kw: train.predict(Linear(3, 1, seed=0), **kw), dict(inputs=X16, batch_size=5)),
    "accuracy": (train.accuracy, dict(logits=np.eye(2, 3), target=np.array([0, 1]), mask=np.array([1, 0]))),
}


test_fuzzed_predict_and_accuracy_arguments_are_refused_naming_them = fuzzed_arguments_test(PREDICT_AND_ACCURACY, 100)


def test_a_value_refused_in_a_later_batch_names_the_data_the_epoch_and_the_step():
    X, y = data.classification_task(12, seq_len=7, n_classes=2, seed=0)
    y[9] = 5                                      # a class id out of range, in the third batch of 4
    model = SequenceClassifier(1, 3, 2, batch_first=True, seed=0)
    optimizer = SGD(model.parameters(), lr=0.1)
    raises_naming(ValueError, lambda: train.fit(model, cross_entropy, optimizer, (X, y), epochs=1, batch_size=4,
                                                shuffle=False, quiet=True),
                  "train_data, in the batch of epoch 1, step 3", "weights from before that step", "from 0 to 5")
    assert optimizer.steps_taken == 2 and all(not m._caches for m in model.modules())
    val = (X[:4], np.where(np.arange(4) == 3, 7, y[:4]))
    raises_naming(ValueError, lambda: train.fit(model, cross_entropy, optimizer, (X[:8], y[:8]), epochs=1,
                                                batch_size=2, val_data=val, quiet=True),
                  "val_data, in the validation after epoch 1", "from 0 to 7")
