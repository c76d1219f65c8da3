"""SGD, Adam and clip_grad_norm: parity with torch.optim over several steps, hand-checked steps, input checks."""
import math

import numpy as np
import pytest

from numpylstm.gradcheck import rel_error
from numpylstm.layers import Linear
from numpylstm.module import Parameter
from numpylstm.optim import SGD, Adam, CosineDecay, clip_grad_norm

STEPS = 10
PARITY = 1e-12


def gradient_at(p, noise):
    """A gradient that depends on where the parameter is, so the whole trajectory is compared."""
    return 2.0 * np.sin(p) + noise


def run_both(make_ours, make_theirs, torch, rng):
    """STEPS updates of two parameters with numpylstm and with torch; returns the final values of both."""
    start = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    noises = [[rng.standard_normal(p.shape) for p in start] for _ in range(STEPS)]
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
    return [p.data for p in ours], [t.detach().numpy() for t in theirs]


SGD_SETTINGS = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, weight_decay=0.1)]
ADAM_SETTINGS = [dict(lr=1e-2), dict(lr=3e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)]


@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=str)
def test_sgd_matches_torch_over_ten_steps(settings, torch, rng):
    ours, theirs = run_both(lambda p: SGD(p, **settings), lambda p: torch.optim.SGD(p, **settings), torch, rng)
    for a, b in zip(ours, theirs):
        assert rel_error(a, b) < PARITY


@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=str)
def test_adam_matches_torch_over_ten_steps(settings, torch, rng):
    ours, theirs = run_both(lambda p: Adam(p, **settings), lambda p: torch.optim.Adam(p, **settings), torch, rng)
    for a, b in zip(ours, theirs):
        assert rel_error(a, b) < PARITY


class AdamWithoutBiasCorrection(Adam):
    """A planted bug: the raw running means, without dividing by 1 - beta**t."""

    def step(self):
        beta1, beta2 = self.betas
        for param, state in zip(self.params, self.state):
            state.setdefault("m", np.zeros_like(param.data))
            state.setdefault("v", np.zeros_like(param.data))
            state["m"] = beta1 * state["m"] + (1 - beta1) * param.grad
            state["v"] = beta2 * state["v"] + (1 - beta2) * param.grad ** 2
            param.data -= self.lr * state["m"] / (np.sqrt(state["v"]) + self.eps)


def test_parity_check_catches_adam_without_bias_correction(torch, rng):
    ours, theirs = run_both(lambda p: AdamWithoutBiasCorrection(p, lr=1e-2),
                            lambda p: torch.optim.Adam(p, lr=1e-2), torch, rng)
    assert max(rel_error(a, b) for a, b in zip(ours, theirs)) > 1e-4


def test_first_adam_step_moves_each_entry_by_lr():
    # With m = (1 - b1) g and v = (1 - b2) g**2, bias correction gives m_hat / sqrt(v_hat) = sign(g).
    param = Parameter(np.array([1.0, -2.0, 3.0]))
    param.grad[...] = [0.5, -4.0, 1e-3]
    Adam([param], lr=0.1, eps=0.0).step()
    np.testing.assert_allclose(param.data, [1.0 - 0.1, -2.0 + 0.1, 3.0 - 0.1], rtol=1e-14)


def test_sgd_momentum_by_hand():
    param = Parameter(np.array([1.0]))
    optimizer = SGD([param], lr=0.1, momentum=0.5)
    for grad, expected in ((2.0, 1.0 - 0.1 * 2.0), (2.0, 0.8 - 0.1 * (0.5 * 2.0 + 2.0))):
        param.grad[...] = grad
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


# ---------------------------------------------------------------- clip_grad_norm
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
def test_optimizers_refuse_bad_hyperparameters():
    params = [Parameter(np.zeros(2))]
    with pytest.raises(ValueError, match="lr must be a finite number >= 0, got -0.1"):
        SGD(params, lr=-0.1)
    with pytest.raises(TypeError, match="lr must be a non-negative number, got '0.1'"):
        Adam(params, lr="0.1")
    with pytest.raises(ValueError, match="lr must be a finite number >= 0, got nan"):
        Adam(params, lr=float("nan"))
    with pytest.raises(ValueError, match="momentum.*got -1"):
        SGD(params, lr=0.1, momentum=-1)
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0, 1\), got 1.0"):
        Adam(params, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"betas\[0\] must be in \[0, 1\), got -0.5"):
        Adam(params, betas=(-0.5, 0.9))
    with pytest.raises(TypeError, match=r"betas must be a pair \(beta1, beta2\), got 0.9"):
        Adam(params, betas=0.9)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0, got -1e-08"):
        Adam(params, eps=-1e-8)
    with pytest.raises(ValueError, match="weight_decay.*got -0.01"):
        Adam(params, weight_decay=-0.01)


def test_optimizers_refuse_bad_parameter_lists():
    with pytest.raises(ValueError, match="at least one Parameter, got an empty list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="must hold Parameters, got ndarray at position 0"):
        Adam([np.zeros(2)])
    with pytest.raises(TypeError, match="got one Parameter; wrap it in a list"):
        Adam(Parameter(np.zeros(2)))
    param = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="same Parameter more than once"):
        Adam([param, param])
    with pytest.raises(ValueError, match="max_norm must be a finite number > 0, got 0"):
        clip_grad_norm([param], 0)
    with pytest.raises(TypeError, match="max_norm must be a positive number"):
        clip_grad_norm([param], None)


def test_optimizers_on_device_match_the_cpu(device, xp, rng):
    from numpylstm.backend import to_numpy
    grads = [rng.standard_normal((3, 2)) for _ in range(3)]
    finals = {}
    for where in ("cpu", device):
        array = xp if where == device else np
        linear = Linear(2, 3, seed=0).to(where)
        for make in (lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p, lr=0.1, weight_decay=0.1)):
            optimizer = make(linear.parameters())
            for grad in grads:
                optimizer.zero_grad()
                linear.weight.grad[...] = array.asarray(grad)
                clip_grad_norm(linear.parameters(), 1.0)
                optimizer.step()
        finals[where] = to_numpy(linear.weight.data)
    assert not np.allclose(finals["cpu"], Linear(2, 3, seed=0).weight.data)   # the steps did move it
    np.testing.assert_allclose(finals[device], finals["cpu"], rtol=1e-12)


@pytest.mark.parametrize("make, error, word", [
    (lambda p: CosineDecay(object(), 10), TypeError, "optimizer"),
    (lambda p: CosineDecay(SGD(p, lr=0.1), 0), ValueError, "total_steps"),
    (lambda p: CosineDecay(SGD(p, lr=0.1), 10, final_fraction="a"), TypeError, "final_fraction"),
    (lambda p: CosineDecay(SGD(p, lr=0.1), 10, final_fraction=1.5), ValueError, "final_fraction"),
])
def test_cosine_decay_names_bad_arguments(make, error, word):
    with pytest.raises(error, match=word):
        make([Parameter(np.zeros(2))])


def test_cosine_decay_follows_the_half_cosine():
    param = Parameter(np.zeros(1))
    schedule = CosineDecay(SGD([param], lr=1.0), total_steps=4, final_fraction=0.0)
    rates = []
    for _ in range(5):
        schedule.step()
        rates.append(schedule.optimizer.lr)
    np.testing.assert_allclose(rates, [1.0, (1 + np.cos(np.pi / 4)) / 2, 0.5, (1 + np.cos(3 * np.pi / 4)) / 2, 0.0],
                               atol=1e-15)
