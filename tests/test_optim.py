"""Optimizers, schedules and clip_grad_norm: parity with torch.optim (every option, param groups, state
dicts), Keras's Adam epsilon, resuming, frozen parameters, hand-checked steps, input checks."""
import copy
import itertools
import math
import os

import numpy as np
import pytest

from numpylstm.gradcheck import rel_error
from numpylstm.layers import Linear
from numpylstm.losses import mse_loss
from numpylstm.models import SequenceRegressor
from numpylstm.module import Parameter
from numpylstm.optim import SGD, Adam, AdamW, CosineDecay, StepLR, clip_grad_norm
from assertions import raises_naming

STEPS = 20
PARITY = 1e-12


def gradient_at(p, noise):
    """A gradient that depends on where the parameter is, so the whole trajectory is compared."""
    return 2.0 * np.sin(p) + noise


def race(make_ours, make_theirs, torch, rng, steps=STEPS):
    """``steps`` updates of three parameters with numpylstm and with torch, from the same start and noise.

    ``make_ours`` / ``make_theirs`` build an optimizer from the list of three parameters (tensors).
    Returns (our parameters, torch's tensors, our optimizer, torch's optimizer).
    """
    start = [rng.standard_normal((3, 4)), rng.standard_normal(5), rng.standard_normal((2, 2))]
    noises = [[rng.standard_normal(p.shape) for p in start] for _ in range(steps)]
    ours = [Parameter(p.copy()) for p in start]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in start]
    optimizer, torch_optimizer = make_ours(ours), make_theirs(theirs)
    for step_noise in noises:
        optimizer.zero_grad()
        torch_optimizer.zero_grad()
        for param, tensor, noise in zip(ours, theirs, step_noise):
            param.grad += gradient_at(param.data, noise)
            tensor.grad = torch.tensor(gradient_at(tensor.detach().numpy(), noise))
        optimizer.step()
        torch_optimizer.step()
    return ours, theirs, optimizer, torch_optimizer


def largest_error(ours, theirs):
    return max(rel_error(p.data, t.detach().numpy()) for p, t in zip(ours, theirs))


def torch_class(optimizer_class, torch):
    return getattr(torch.optim, optimizer_class.__name__)


# ------------------------------------------------------------ parity with torch.optim
SGD_SETTINGS = [dict(lr=0.05, momentum=m, dampening=d, nesterov=n, weight_decay=w)
                for m, d, n, w in itertools.product([0.0, 0.9], [0.0, 0.3], [False, True], [0.0, 0.1])
                if not (n and (m == 0 or d != 0))]          # torch refuses nesterov without momentum / with dampening
ADAM_SETTINGS = [(cls, dict(lr=3e-2, betas=b, eps=1e-6, weight_decay=w, amsgrad=a))
                 for cls, b, w, a in itertools.product([Adam, AdamW], [(0.9, 0.999), (0.8, 0.99)], [0.0, 0.1],
                                                       [False, True])]


@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=str)
def test_sgd_matches_torch_over_twenty_steps(settings, torch, rng):
    ours, theirs, _, _ = race(lambda p: SGD(p, **settings), lambda p: torch.optim.SGD(p, **settings), torch, rng)
    assert largest_error(ours, theirs) < PARITY


@pytest.mark.parametrize("cls, settings", ADAM_SETTINGS, ids=lambda x: getattr(x, "__name__", str(x)))
def test_adam_and_adamw_match_torch_over_twenty_steps(cls, settings, torch, rng):
    ours, theirs, _, _ = race(lambda p: cls(p, **settings), lambda p: torch_class(cls, torch)(p, **settings),
                              torch, rng)
    assert largest_error(ours, theirs) < PARITY


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_defaults_are_torchs(cls, torch, rng):
    ours, theirs, optimizer, torch_optimizer = race(cls, torch_class(cls, torch), torch, rng)
    torch_group = torch_optimizer.param_groups[0]
    for name, value in optimizer.defaults.items():
        if name != "eps_style":
            assert torch_group[name] == value, name
    assert largest_error(ours, theirs) < PARITY


def test_param_groups_with_their_own_options_match_torch(torch, rng):
    def groups(p):
        return [{"params": [p[0]], "lr": 0.1, "momentum": 0.5}, {"params": p[1:], "nesterov": True}]
    ours, theirs, _, _ = race(lambda p: SGD(groups(p), lr=0.01, momentum=0.9),
                              lambda p: torch.optim.SGD(groups(p), lr=0.01, momentum=0.9), torch, rng)
    assert largest_error(ours, theirs) < PARITY

    def adam_groups(p):
        return [{"params": p[:2], "betas": (0.5, 0.9), "weight_decay": 0.2}, {"params": p[2:], "amsgrad": True}]
    ours, theirs, _, _ = race(lambda p: AdamW(adam_groups(p), lr=0.03), lambda p: torch.optim.AdamW(adam_groups(p),
                                                                                                 lr=0.03), torch, rng)
    assert largest_error(ours, theirs) < PARITY


class AdamWithoutBiasCorrection(Adam):
    """A planted bug: the raw running means, without dividing by 1 - beta**t."""

    def _update(self, param, state, group):
        (beta1, beta2), lr, eps = group["betas"], group["lr"], group["eps"]
        state.setdefault("m", np.zeros_like(param.data))
        state.setdefault("v", np.zeros_like(param.data))
        state["m"] = beta1 * state["m"] + (1 - beta1) * param.grad
        state["v"] = beta2 * state["v"] + (1 - beta2) * param.grad ** 2
        param.data -= lr * state["m"] / (np.sqrt(state["v"]) + eps)


def test_parity_check_catches_planted_bugs(torch, rng):
    ours, theirs, _, _ = race(lambda p: AdamWithoutBiasCorrection(p, lr=1e-2), lambda p: torch.optim.Adam(p, lr=1e-2),
                              torch, rng)
    assert largest_error(ours, theirs) > 1e-4
    # L2 decay through the gradient is not AdamW's decoupled decay: the check tells them apart.
    ours, theirs, _, _ = race(lambda p: Adam(p, lr=1e-2, weight_decay=0.5),
                              lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.5), torch, rng)
    assert largest_error(ours, theirs) > 1e-4


def test_first_adam_step_moves_each_entry_by_lr():
    # With m = (1 - b1) g and v = (1 - b2) g**2, bias correction gives m_hat / sqrt(v_hat) = sign(g).
    param = Parameter(np.array([1.0, -2.0, 3.0]))
    param.grad[...] = [0.5, -4.0, 1e-3]
    Adam([param], lr=0.1, eps=0.0).step()
    np.testing.assert_allclose(param.data, [1.0 - 0.1, -2.0 + 0.1, 3.0 - 0.1], rtol=1e-14)


def test_first_adamw_step_shrinks_the_weights_before_the_adam_step():
    param = Parameter(np.array([2.0, -4.0]))
    param.grad[...] = [1.0, -1.0]
    AdamW([param], lr=0.1, eps=0.0, weight_decay=0.5).step()
    np.testing.assert_allclose(param.data, [2.0 * 0.95 - 0.1, -4.0 * 0.95 + 0.1], rtol=1e-14)


def test_sgd_momentum_dampening_and_nesterov_by_hand():
    param = Parameter(np.array([1.0]))
    optimizer = SGD([param], lr=0.1, momentum=0.5, dampening=0.5)
    # b1 = g = 2 (no dampening on the first step); b2 = 0.5 * 2 + 0.5 * 2 = 2
    for expected in (1.0 - 0.1 * 2.0, 0.8 - 0.1 * 2.0):
        param.grad[...] = 2.0
        optimizer.step()
        assert param.data[0] == pytest.approx(expected, rel=1e-15)
    param = Parameter(np.array([1.0]))
    optimizer = SGD([param], lr=0.1, momentum=0.5, nesterov=True)
    # b1 = 2, step along g + 0.5 b1 = 3; b2 = 0.5 * 2 + 2 = 3, step along 2 + 1.5 = 3.5
    for expected in (1.0 - 0.1 * 3.0, 0.7 - 0.1 * 3.5):
        param.grad[...] = 2.0
        optimizer.step()
        assert param.data[0] == pytest.approx(expected, rel=1e-15)


def test_optimizer_updates_a_module_in_place_and_zero_grad_clears():
    linear = Linear(3, 2, seed=0)
    weight_array, before = linear.weight.data, linear.weight.data.copy()
    linear(np.ones((4, 3)))
    linear.backward(np.ones((4, 2)))
    optimizer = SGD(linear.parameters(), lr=0.1)
    optimizer.step()
    assert linear.weight.data is weight_array            # the same array, changed in place
    np.testing.assert_allclose(linear.weight.data, before - 0.1 * 4.0, rtol=1e-15)
    optimizer.zero_grad()
    assert all(np.all(p.grad == 0) for p in linear.parameters())
    assert len(Adam(linear).params) == 2                 # a Module is accepted as well


# ------------------------------------------------------------------------ param groups
def two_groups():
    first, second = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    return first, second, SGD([{"params": [first], "lr": 0.1}, {"params": [second]}], lr=0.01, momentum=0.9)


def test_each_group_steps_with_its_own_options_and_reads_them_at_every_step():
    first, second, optimizer = two_groups()
    assert optimizer.param_groups[0] == {"params": [first], "lr": 0.1, "momentum": 0.9, "dampening": 0.0,
                                         "weight_decay": 0.0, "nesterov": False}
    assert optimizer.param_groups[1]["lr"] == 0.01 and optimizer.params == [first, second]
    first.grad[...], second.grad[...] = 1.0, 1.0
    optimizer.step()
    np.testing.assert_array_equal(first.data, [-0.1, -0.1])
    np.testing.assert_array_equal(second.data, [-0.01] * 3)
    optimizer.param_groups[1]["lr"] = 1.0
    optimizer.param_groups[1]["momentum"] = 0.0
    optimizer.step()
    np.testing.assert_allclose(second.data, [-1.01] * 3, rtol=1e-15)


def test_lr_attribute_reads_the_first_group_and_sets_it_with_one_group():
    param = Parameter(np.zeros(1))
    optimizer = Adam([param], lr=0.1)
    optimizer.lr = 0.5
    assert optimizer.param_groups[0]["lr"] == 0.5 and optimizer.lr == 0.5 and optimizer.betas == (0.9, 0.999)
    raises_naming(ValueError, lambda: setattr(optimizer, "lr", -1.0), "lr must be a finite number >= 0, got -1.0")
    _, _, grouped = two_groups()
    assert grouped.lr == 0.1
    raises_naming(ValueError, lambda: setattr(grouped, "lr", 0.5), "SGD.lr can be set only with one param group",
                  "param_groups[k]['lr']")
    assert grouped.param_groups[0]["lr"] == 0.1


def test_add_param_group_takes_the_defaults():
    first, second, optimizer = two_groups()
    third = Parameter(np.zeros(1))
    optimizer.add_param_group({"params": [third], "weight_decay": 0.1})
    assert optimizer.param_groups[2]["lr"] == 0.01 and optimizer.param_groups[2]["weight_decay"] == 0.1
    assert optimizer.params == [first, second, third]


@pytest.mark.parametrize("groups, error, fragments", [
    (lambda a, b: [{"params": [a]}, {"params": [b, a]}], ValueError,
     ["params[1]['params'] holds a Parameter (position 1, shape (2,)) that is already in param group 0 at position 0"]),
    (lambda a, b: [{"params": [a, b, a]}], ValueError,
     ["params[0]['params'] holds the same Parameter more than once (positions 0 and 2, shape (2,))"]),
    (lambda a, b: [a, b, a], ValueError, ["params holds the same Parameter more than once (positions 0 and 2"]),
    (lambda a, b: [{"params": [a]}, {"lr": 0.1}], ValueError, ["params[1] must hold 'params'", "['lr']"]),
    (lambda a, b: [{"params": [a], "momentun": 0.9}], ValueError,
     ["params[0] has unknown option(s) ['momentun']", "'momentum'"]),
    (lambda a, b: [{"params": [a]}, {"params": [b], "lr": -0.5}], ValueError,
     ["params[1]['lr'] must be a finite number >= 0, got -0.5"]),
    (lambda a, b: [{"params": [a]}, {"params": [b], "nesterov": True}], ValueError,
     ["params[1]: nesterov=True requires momentum > 0 and dampening = 0", "momentum=0.0"]),
    (lambda a, b: [{"params": [a]}, b], TypeError, ["a mix of both"]),
    (lambda a, b: {"params": [a, b]}, TypeError, ["got one dict; wrap it in a list"]),
    (lambda a, b: [{"params": []}], ValueError, ["params[0]['params'] must hold at least one Parameter"]),
])
def test_bad_param_groups_are_refused_naming_the_group(groups, error, fragments):
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    raises_naming(error, lambda: SGD(groups(a, b), lr=0.1), *fragments)


def test_a_refused_param_group_changes_nothing():
    first, second, optimizer = two_groups()
    before = copy.copy(optimizer.param_groups)
    raises_naming(ValueError, lambda: optimizer.add_param_group({"params": [second]}),
                  "param_group['params'] holds a Parameter (position 0, shape (3,)) that is already in param group 1")
    raises_naming(ValueError, lambda: optimizer.add_param_group({"params": [Parameter(np.zeros(1))], "lr": -1}),
                  "param_group['lr'] must be a finite number >= 0, got -1")
    assert optimizer.param_groups == before


# ---------------------------------------------------------------------- frozen parameters
@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
                                  lambda p: Adam(p, lr=0.1, weight_decay=0.1), lambda p: AdamW(p, lr=0.1)],
                         ids=["SGD", "Adam", "AdamW"])
def test_frozen_parameters_keep_their_values_and_get_no_state(make):
    frozen, trained = Parameter(np.ones(3)), Parameter(np.ones(3))
    frozen.requires_grad = False
    optimizer = make([frozen, trained])
    for _ in range(3):
        frozen.grad[...], trained.grad[...] = 1.0, 1.0
        optimizer.step()
    np.testing.assert_array_equal(frozen.data, np.ones(3))      # no step, no weight decay
    assert frozen not in optimizer.state and optimizer.state[trained]
    assert not np.allclose(trained.data, 1.0)
    assert list(optimizer.state_dict()["state"]) == [1]
    frozen.requires_grad = True                                   # unfrozen, it trains from a fresh state
    optimizer.step()
    assert not np.allclose(frozen.data, 1.0)


# --------------------------------------------------------------------------- parameter dtype
@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_integer_parameters_are_refused_at_construction(cls):
    params = [Parameter(np.zeros(2)), Parameter(np.zeros((2, 3)))]
    params[1].data = np.zeros((2, 3), dtype=np.int64)        # Parameter() refuses it; .data can still be replaced
    raises_naming(TypeError, lambda: cls(params, lr=0.1), "params must hold floating-point Parameters",
                  "got dtype int64 at position 1 (shape (2, 3))")


# --------------------------------------------------------------------------- state dicts
def regression_batches(rng, count):
    return [(rng.standard_normal((4, 5, 1)), rng.standard_normal((4, 1))) for _ in range(count)]


def train_steps(model, optimizer, schedule, batches):
    for x, y in batches:
        optimizer.zero_grad()
        _, dpred = mse_loss(model(x), y)
        model.backward(dpred)
        optimizer.step()
        schedule.step()


RESUMABLE = [lambda p: SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
             lambda p: SGD([{"params": p[:2], "lr": 0.1}, {"params": p[2:], "dampening": 0.2}], lr=0.05,
                           momentum=0.8),
             lambda p: Adam(p, lr=0.01, amsgrad=True, weight_decay=0.01),
             lambda p: AdamW(p, lr=0.01, eps_style="keras"),
             lambda p: AdamW([{"params": p[:3], "lr": 0.02}, {"params": p[3:]}])]


def resumed_run(make, batches, *, load_optimizer=True):
    """10 steps without stopping, and 5 steps + saving + a new model and optimizer loaded + 5 steps."""
    straight = SequenceRegressor(1, 4, batch_first=True, seed=0)
    optimizer = make(straight.parameters())
    train_steps(straight, optimizer, CosineDecay(optimizer, total_steps=10, final_fraction=0.1), batches)

    first = SequenceRegressor(1, 4, batch_first=True, seed=0)
    optimizer = make(first.parameters())
    schedule = CosineDecay(optimizer, total_steps=10, final_fraction=0.1)
    train_steps(first, optimizer, schedule, batches[:5])
    saved = copy.deepcopy((first.state_dict(), optimizer.state_dict(), schedule.state_dict()))

    second = SequenceRegressor(1, 4, batch_first=True, seed=7)
    second.load_state_dict(saved[0])
    # With one group, a fresh optimizer of default options: the loaded options must replace them.
    fresh = make if len(saved[1]["param_groups"]) > 1 else type(optimizer)
    optimizer = fresh(second.parameters())
    schedule = CosineDecay(optimizer, total_steps=1)
    if load_optimizer:
        optimizer.load_state_dict(saved[1])
    schedule.load_state_dict(saved[2])
    train_steps(second, optimizer, schedule, batches[5:])
    return straight.state_dict(), second.state_dict()


@pytest.mark.parametrize("make", RESUMABLE)
def test_resuming_from_a_state_dict_gives_the_run_that_never_stopped(make, rng):
    straight, resumed = resumed_run(make, regression_batches(rng, 10))
    for name in straight:
        np.testing.assert_array_equal(resumed[name], straight[name], err_msg=name)


def test_resuming_without_the_optimizer_state_is_detected(rng):
    straight, resumed = resumed_run(RESUMABLE[2], regression_batches(rng, 10), load_optimizer=False)
    assert any(not np.array_equal(resumed[name], straight[name]) for name in straight)


def assert_plain(value, where="state_dict"):
    """Only dicts, lists, tuples, str, bool, int, float and NumPy arrays: nothing that refers to the optimizer."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, (int, str)), f"{where} has the key {key!r}"
            assert_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            assert_plain(item, f"{where}[{k}]")
    else:
        assert type(value) in (str, bool, int, float, np.ndarray), f"{where} is a {type(value).__name__}"


def test_state_dict_is_plain_copies_laid_out_as_torchs(torch, rng):
    def make(params):
        return [{"params": params[:1], "lr": 0.02}, {"params": params[1:]}]
    ours, theirs, optimizer, torch_optimizer = race(lambda p: Adam(make(p), amsgrad=True, weight_decay=0.1),
                                                    lambda p: torch.optim.Adam(make(p), amsgrad=True, weight_decay=0.1),
                                                    torch, rng, steps=3)
    state, torch_state = optimizer.state_dict(), torch_optimizer.state_dict()
    assert_plain(state)
    assert state["state"].keys() == torch_state["state"].keys() == {0, 1, 2}
    for index, buffers in state["state"].items():
        assert buffers.keys() == torch_state["state"][index].keys()
        assert buffers["step"] == torch_state["state"][index]["step"].item() == 3
        for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert rel_error(buffers[name], torch_state["state"][index][name].numpy()) < PARITY
    for group, torch_group in zip(state["param_groups"], torch_state["param_groups"]):
        assert {k: v for k, v in group.items() if k != "eps_style"} == {k: torch_group[k] for k in group
                                                                        if k != "eps_style"}
    state["state"][0]["exp_avg"][...] = 0                       # a copy: the optimizer keeps its own
    state["param_groups"][0]["params"].append(9)
    assert np.all(optimizer.state[ours[0]]["exp_avg"] != 0) and optimizer.param_groups[0]["params"] == ours[:1]


def trained_adam():
    params = [Parameter(np.ones((3, 4))), Parameter(np.ones(2))]
    optimizer = Adam(params, lr=0.1)
    for param in params:
        param.grad[...] = 0.5
    optimizer.step()
    return params, optimizer


def assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert np.array_equal(a, b) and type(a) is type(b)


def _set(path, value):
    def change(state_dict):
        *parents, last = path
        for key in parents:
            state_dict = state_dict[key]
        state_dict[last] = value
    return change


def _delete(*path):
    def change(state_dict):
        *parents, last = path
        for key in parents:
            state_dict = state_dict[key]
        del state_dict[last]
    return change


@pytest.mark.parametrize("change, fragments", [
    (lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])),
     ["'param_groups' must be a list of 1 param group(s), got 2"]),
    (_set(("param_groups", 0, "params"), [0]), ["param_groups[0]['params'] is [0], this optimizer's is [0, 1]"]),
    (_delete("param_groups", 0, "eps"), ["param_groups[0] lacks ['eps']"]),
    (_set(("param_groups", 0, "momentum"), 0.9), ["param_groups[0] has unexpected entries ['momentum']"]),
    (_set(("param_groups", 0, "lr"), -1.0), ["param_groups[0]['lr'] must be a finite number >= 0, got -1.0"]),
    (_set(("param_groups", 0, "eps_style"), "tf"), ["param_groups[0]['eps_style'] must be one of"]),
    (_set(("state", 0, "exp_avg"), np.zeros((4, 3))),
     ["state[0]['exp_avg'] must have shape (3, 4) (the shape of its parameter), got (4, 3)"]),
    (_set(("state", 1, "exp_avg_sq"), np.zeros(2, dtype=np.int64)),
     ["state[1]['exp_avg_sq'] must hold floating-point values, got dtype int64"]),
    (_set(("state", 2), {"step": 1}), ["the key 2 of 'state' must be an integer in [0, 1] (a position in optimizer.params), got 2"]),
    (_delete("state", 1, "exp_avg_sq"), ["state[1] lacks 'exp_avg_sq'"]),
    (_set(("state", 0, "momentum_buffer"), np.zeros((3, 4))),
     ["state[0]['momentum_buffer'] is not a buffer of Adam"]),
    (_set(("state", 0, "step"), -1), ["state[0]['step'] must be a non-negative integer, got -1"]),
    (_delete("state"), ["state_dict lacks ['state']"]),
])
def test_a_state_dict_that_does_not_fit_is_refused_naming_the_difference_and_changes_nothing(change, fragments):
    params, optimizer = trained_adam()
    bad = copy.deepcopy(optimizer.state_dict())
    change(bad)
    before = copy.deepcopy(optimizer.state_dict())
    raises_naming(ValueError, lambda: optimizer.load_state_dict(bad), "load_state_dict into Adam failed", *fragments)
    assert_same(optimizer.state_dict(), before)


def test_every_problem_of_a_state_dict_is_listed_at_once():
    params, optimizer = trained_adam()
    bad = copy.deepcopy(optimizer.state_dict())
    bad["state"][0]["exp_avg"] = np.zeros(1)
    bad["state"][1]["step"] = 1.5
    bad["param_groups"][0]["amsgrad"] = "no"
    raises_naming(ValueError, lambda: optimizer.load_state_dict(bad), "state[0]['exp_avg']", "state[1]['step']",
                  "param_groups[0]['amsgrad'] must be True or False")
    raises_naming(TypeError, lambda: optimizer.load_state_dict([1]), "state_dict must be a dict", "got list")


def test_sgd_state_dict_checks_nesterov_with_the_loaded_momentum():
    param = Parameter(np.zeros(2))
    optimizer = SGD([param], lr=0.1)
    bad = optimizer.state_dict()
    bad["param_groups"][0]["nesterov"] = True
    raises_naming(ValueError, lambda: optimizer.load_state_dict(bad), "param_groups[0]: nesterov=True requires")
    assert optimizer.nesterov is False


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loaded_buffers_are_copies_of_the_parameters_dtype(dtype):
    param = Parameter(np.zeros(3, dtype=dtype))
    optimizer = SGD([param], lr=0.1, momentum=0.9)
    saved = {"state": {0: {"momentum_buffer": np.ones(3)}}, "param_groups": optimizer.state_dict()["param_groups"]}
    optimizer.load_state_dict(saved)
    saved["state"][0]["momentum_buffer"][...] = 5.0          # the saved dict is the caller's to change
    buffer = optimizer.state[param]["momentum_buffer"]
    assert buffer.dtype == dtype and np.all(buffer == 1.0)


# ------------------------------------------------------------------ Keras's epsilon
def keras_adam(start, gradients, lr, beta1, beta2, eps):
    """Keras 3's Adam.update_step (keras/src/optimizers/adam.py), written out with NumPy."""
    p, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t, noise in enumerate(gradients, start=1):
        g = gradient_at(p, noise)
        alpha = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        m = m + (g - m) * (1 - beta1)
        v = v + (g * g - v) * (1 - beta2)
        p = p - (m * alpha) / (np.sqrt(v) + eps)
    return p


def our_adam(start, gradients, **options):
    param = Parameter(start.copy())
    optimizer = Adam([param], **options)
    for noise in gradients:
        optimizer.zero_grad()
        param.grad += gradient_at(param.data, noise)
        optimizer.step()
    return param.data


def test_keras_eps_style_follows_the_keras_update_and_differs_from_torchs(rng):
    start, gradients = rng.standard_normal((3, 4)), [0.1 * rng.standard_normal((3, 4)) for _ in range(100)]
    options = dict(lr=0.01, betas=(0.8, 0.99), eps=1e-3)   # a large eps makes where it is added visible
    expected = keras_adam(start, gradients, 0.01, 0.8, 0.99, 1e-3)
    assert rel_error(our_adam(start, gradients, eps_style="keras", **options), expected) < PARITY
    assert rel_error(our_adam(start, gradients, eps_style="torch", **options), expected) > 1e-4


def test_keras_eps_style_matches_keras_itself(torch, rng, monkeypatch):
    if "KERAS_BACKEND" not in os.environ:
        monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="keras is not installed: the Keras cross-check is skipped")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on {keras.backend.backend()} here; this check needs KERAS_BACKEND=torch")
    start, gradients = rng.standard_normal((3, 4)), [0.1 * rng.standard_normal((3, 4)) for _ in range(100)]
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")    # else Keras keeps the learning rate in float32
    try:
        variable = keras.Variable(start.copy(), dtype="float64")
        optimizer = keras.optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-3)
        for noise in gradients:     # the torch backend holds the variable as a torch tensor
            gradient = gradient_at(variable.value.detach().numpy(), noise)
            optimizer.apply_gradients([(torch.tensor(gradient), variable)])
        theirs = variable.value.detach().numpy().copy()
    finally:
        keras.config.set_floatx(floatx)
    assert theirs.dtype == np.float64
    ours = our_adam(start, gradients, lr=0.01, betas=(0.8, 0.99), eps=1e-3, eps_style="keras")
    assert rel_error(ours, theirs) < PARITY
    assert rel_error(our_adam(start, gradients, lr=0.01, betas=(0.8, 0.99), eps=1e-3), theirs) > 1e-4


# ---------------------------------------------------------------------- clip_grad_norm
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(max_norm, torch, rng):
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    params = [Parameter(np.zeros_like(g)) for g in grads]
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for param, tensor, grad in zip(params, tensors, grads):
        param.grad[...] = grad
        tensor.grad = torch.tensor(grad)
    norm = clip_grad_norm(params, max_norm)
    torch_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    assert rel_error(norm, torch_norm.item()) < PARITY
    assert norm == pytest.approx(math.sqrt(sum((g ** 2).sum() for g in grads)), rel=1e-14)
    for param, tensor in zip(params, tensors):
        assert rel_error(param.grad, tensor.grad.numpy()) < PARITY
    new_norm = math.sqrt(sum((p.grad ** 2).sum() for p in params))
    assert new_norm <= max_norm * (1 + 1e-12)


def test_clip_grad_norm_keeps_the_direction(rng):
    param = Parameter(np.zeros(6))
    param.grad[...] = direction = rng.standard_normal(6) * 10
    clip_grad_norm([param], 1.0)
    np.testing.assert_allclose(param.grad / np.linalg.norm(param.grad), direction / np.linalg.norm(direction),
                               rtol=1e-14)


# ---------------------------------------------------------------------- input checks
@pytest.mark.parametrize("call, error, message", [
    (lambda p: SGD(p, lr=-0.1), ValueError, "lr must be a finite number >= 0, got -0.1"),
    (lambda p: Adam(p, lr="0.1"), TypeError, "lr must be a number >= 0, got '0.1' (str)"),
    (lambda p: Adam(p, lr=float("nan")), ValueError, "lr must be a finite number >= 0, got nan"),
    (lambda p: SGD(p, lr=0.1, momentum=-1), ValueError, "momentum must be a finite number >= 0, got -1"),
    (lambda p: SGD(p, lr=0.1, dampening=-0.5), ValueError, "dampening must be a finite number >= 0, got -0.5"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), ValueError,
     "nesterov=True requires momentum > 0 and dampening = 0 (as torch.optim.SGD), got momentum=0.0"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening=0.1"),
    (lambda p: SGD(p, lr=0.1, nesterov="yes"), TypeError, "nesterov must be True or False, got 'yes'"),
    (lambda p: Adam(p, betas=(0.9, 1.0)), ValueError, "betas[1] must be in [0, 1), got 1.0"),
    (lambda p: Adam(p, betas=(-0.5, 0.9)), ValueError, "betas[0] must be in [0, 1), got -0.5"),
    (lambda p: Adam(p, betas=0.9), TypeError, "betas must be a pair (beta1, beta2), got 0.9"),
    (lambda p: Adam(p, eps=-1e-8), ValueError, "eps must be a finite number >= 0, got -1e-08"),
    (lambda p: AdamW(p, weight_decay=-0.01), ValueError, "weight_decay must be a finite number >= 0, got -0.01"),
    (lambda p: Adam(p, amsgrad=1), TypeError, "amsgrad must be True or False, got 1"),
    (lambda p: Adam(p, eps_style="tensorflow"), ValueError,
     "eps_style must be one of ['torch', 'keras'], got 'tensorflow'"),
])
def test_optimizers_refuse_bad_hyperparameters(call, error, message):
    raises_naming(error, lambda: call([Parameter(np.zeros(2))]), message)


def test_optimizers_refuse_bad_parameter_lists():
    raises_naming(ValueError, lambda: SGD([], lr=0.1), "params must hold at least one Parameter, got an empty list")
    raises_naming(TypeError, lambda: Adam([np.zeros(2)]), "params must hold Parameters, got ndarray at position 0")
    raises_naming(TypeError, lambda: Adam(Parameter(np.zeros(2))), "got one Parameter; wrap it in a list")
    raises_naming(TypeError, lambda: Adam(3), "params must be an iterable of Parameters", "got int")
    param = Parameter(np.zeros(2))
    raises_naming(ValueError, lambda: clip_grad_norm([param], 0), "max_norm must be a finite number > 0, got 0")
    raises_naming(TypeError, lambda: clip_grad_norm([param], None), "max_norm must be a positive number")


def test_optimizers_on_device_match_the_cpu(device, xp, rng):
    from numpylstm.backend import to_numpy
    grads = [rng.standard_normal((3, 2)) for _ in range(3)]
    finals = {}
    for where in ("cpu", device):
        array = xp if where == device else np
        linear = Linear(2, 3, seed=0).to(where)
        for make in (lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                     lambda p: Adam(p, lr=0.1, weight_decay=0.1, amsgrad=True),
                     lambda p: AdamW(p, lr=0.1, eps_style="keras")):
            optimizer = make(linear.parameters())
            for grad in grads:
                optimizer.zero_grad()
                linear.weight.grad[...] = array.asarray(grad)
                clip_grad_norm(linear.parameters(), 1.0)
                optimizer.step()
            optimizer.load_state_dict(optimizer.state_dict())     # buffers back onto the device
            optimizer.step()
        finals[where] = to_numpy(linear.weight.data)
    assert not np.allclose(finals["cpu"], Linear(2, 3, seed=0).weight.data)   # the steps did move it
    np.testing.assert_allclose(finals[device], finals["cpu"], rtol=1e-12)


# ------------------------------------------------------------------------- schedules
def test_a_schedule_only_sets_the_rate_so_torchs_loop_moves_parameters_once():
    param = Parameter(np.zeros(1))
    optimizer = SGD([param], lr=1.0)
    schedule = CosineDecay(optimizer, total_steps=100)
    param.grad[...] = 1.0
    optimizer.step()
    schedule.step()
    assert param.data[0] == -1.0                       # one step of lr 1, not two
    assert schedule.get_last_lr() == [optimizer.param_groups[0]["lr"]] and optimizer.lr < 1.0


def test_stepping_the_schedule_instead_of_the_optimizer_is_an_error():
    param = Parameter(np.zeros(1))
    optimizer = SGD([param], lr=1.0)
    schedule = CosineDecay(optimizer, total_steps=10)
    for call in (schedule.step, lambda: (optimizer.step(), schedule.step(), schedule.step())):
        raises_naming(RuntimeError, call, "CosineDecay.step() was called without optimizer.step()",
                      "optimizer.step(); schedule.step()")
    assert not hasattr(schedule, "zero_grad")          # it cannot stand in for the optimizer any more


def test_cosine_decay_follows_the_half_cosine():
    optimizer = SGD([Parameter(np.zeros(1))], lr=1.0)
    schedule = CosineDecay(optimizer, total_steps=4, final_fraction=0.0)
    rates = [optimizer.lr]
    for _ in range(5):
        optimizer.step()
        schedule.step()
        rates.append(schedule.get_last_lr()[0])
    np.testing.assert_allclose(rates, [1.0, (1 + np.cos(np.pi / 4)) / 2, 0.5, (1 + np.cos(3 * np.pi / 4)) / 2, 0.0,
                                       0.0], atol=1e-15)


def schedule_race(make_ours, make_theirs, torch, steps):
    """Our schedule and torch's over ``steps`` optimizer steps on two param groups; the rates before each step."""
    def groups(params):
        return [{"params": params[:1], "lr": 0.3}, {"params": params[1:]}]
    params, tensors = [Parameter(np.zeros(1)), Parameter(np.zeros(2))], [torch.zeros(1), torch.zeros(2)]
    optimizer, torch_optimizer = SGD(groups(params), lr=0.1), torch.optim.SGD(groups(tensors), lr=0.1)
    schedule, torch_schedule = make_ours(optimizer), make_theirs(torch_optimizer)
    ours, theirs = [], []
    for _ in range(steps):
        ours.append([g["lr"] for g in optimizer.param_groups])
        theirs.append([g["lr"] for g in torch_optimizer.param_groups])
        optimizer.step()
        torch_optimizer.step()
        schedule.step()
        torch_schedule.step()
    return np.array(ours), np.array(theirs)


def test_cosine_decay_matches_torchs_cosine_annealing_up_to_total_steps(torch):
    f, K = 0.05, 12
    # eta_min is one number in torch, f * lr per group here: the groups' lrs differ, so compare group by group.
    for column, lr in enumerate([0.3, 0.1]):
        def make_theirs(o, lr=lr):
            return torch.optim.lr_scheduler.CosineAnnealingLR(o, K, eta_min=f * lr)
        ours, theirs = schedule_race(lambda o: CosineDecay(o, K, f), make_theirs, torch, K + 1)
        assert rel_error(ours[:, column], theirs[:, column]) < PARITY
        assert ours[-1, column] == pytest.approx(f * lr, rel=1e-15)


def test_step_lr_matches_torch(torch):
    ours, theirs = schedule_race(lambda o: StepLR(o, 3, gamma=0.3),
                                 lambda o: torch.optim.lr_scheduler.StepLR(o, 3, gamma=0.3), torch, 13)
    assert rel_error(ours, theirs) < PARITY
    np.testing.assert_allclose(ours[-1], [0.3 * 0.3 ** 4, 0.1 * 0.3 ** 4], rtol=1e-14)


def test_schedule_state_dict_round_trip_and_refusals():
    optimizer = SGD([Parameter(np.zeros(1))], lr=1.0)
    schedule = CosineDecay(optimizer, total_steps=8, final_fraction=0.2)
    for _ in range(3):
        optimizer.step()
        schedule.step()
    saved = schedule.state_dict()
    assert saved == {"total_steps": 8, "final_fraction": 0.2, "base_lrs": [1.0], "last_step": 3}
    optimizer.lr = 1.0
    other = CosineDecay(optimizer, total_steps=1)
    other.load_state_dict(saved)
    assert other.state_dict() == saved and optimizer.lr == schedule.get_last_lr()[0]
    raises_naming(ValueError, lambda: other.load_state_dict({**saved, "base_lrs": [1.0, 2.0]}),
                  "base_lrs must be a list of 1 rates", "[1.0, 2.0]")
    raises_naming(ValueError, lambda: other.load_state_dict({**saved, "total_steps": 0}),
                  "total_steps must be a positive integer, got 0")
    raises_naming(ValueError, lambda: other.load_state_dict({"last_step": 3}),
                  "state_dict lacks ['base_lrs', 'final_fraction', 'total_steps']")
    assert other.state_dict() == saved


def test_a_schedule_refuses_an_optimizer_that_gained_a_group():
    optimizer = SGD([Parameter(np.zeros(1))], lr=1.0)
    schedule = StepLR(optimizer, 1)
    optimizer.add_param_group({"params": [Parameter(np.zeros(1))]})
    optimizer.step()
    raises_naming(ValueError, schedule.step, "the optimizer has 2 param groups, the schedule was made for 1")


@pytest.mark.parametrize("make, error, word", [
    (lambda p: CosineDecay(object(), 10), TypeError, "optimizer must be an optimizer of numpylstm.optim"),
    (lambda p: CosineDecay(SGD(p, lr=0.1), 0), ValueError, "total_steps must be a positive integer, got 0"),
    (lambda p: CosineDecay(SGD(p, lr=0.1), 10, final_fraction="a"), TypeError, "final_fraction must be a number"),
    (lambda p: CosineDecay(SGD(p, lr=0.1), 10, final_fraction=1.5), ValueError, "final_fraction must be in [0, 1]"),
    (lambda p: StepLR(SGD(p, lr=0.1), 2.5), TypeError, "step_size must be a positive integer, got 2.5"),
    (lambda p: StepLR(SGD(p, lr=0.1), 2, gamma=-1), ValueError, "gamma must be a finite number >= 0, got -1"),
])
def test_schedules_name_bad_arguments(make, error, word):
    raises_naming(error, lambda: make([Parameter(np.zeros(2))]), word)
