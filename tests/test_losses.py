"""mse_loss and cross_entropy: values, gradients against finite differences, PyTorch parity, input checks."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from numpylstm.gradcheck import numerical_gradient, rel_error
from numpylstm.losses import cross_entropy, log_softmax, mse_loss

from assertions import assert_finite, fuzzed_arguments_test, raises_naming, random_array
from strategies import (array_of_dtype, float_arrays, float_dtypes, input_scales, refused_dtypes, seeds, small_sizes,
                        wrong_shapes)

TOLERANCE = 1e-6
PARITY = 1e-9


def gradient_error(loss_fn, x, *args):
    """Relative error between the gradient ``loss_fn`` returns and finite differences of its loss."""
    _, analytic = loss_fn(x, *args)
    return rel_error(analytic, numerical_gradient(lambda: loss_fn(x, *args)[0], x))


# ------------------------------------------------------------------------------ MSE
def test_mse_on_a_hand_computed_example():
    loss, dpred = mse_loss(np.array([1.0, 2.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.0, 1.0]))
    assert loss == pytest.approx((1 + 4 + 0 + 1) / 4, rel=1e-15)
    np.testing.assert_allclose(dpred, [2 * 1 / 4, 2 * 2 / 4, 0, 2 * -1 / 4], rtol=1e-15)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)])
def test_mse_gradient_matches_finite_differences(shape, rng):
    assert gradient_error(mse_loss, rng.standard_normal(shape), rng.standard_normal(shape)) < TOLERANCE


def mse_summed_gradient(pred, target):
    loss, dpred = mse_loss(pred, target)
    return loss, dpred * pred.size     # planted bug: the gradient of the sum, not of the mean


def test_gradient_check_catches_a_wrong_mse_gradient(rng):
    assert gradient_error(mse_summed_gradient, rng.standard_normal((3, 4)), rng.standard_normal((3, 4))) > 1e-2


def test_mse_matches_torch(torch, rng):
    pred, target = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    pred_t = torch.tensor(pred, requires_grad=True)
    loss_t = torch.nn.functional.mse_loss(pred_t, torch.tensor(target))
    loss_t.backward()
    loss, dpred = mse_loss(pred, target)
    assert rel_error(loss, loss_t.item()) < PARITY
    assert rel_error(dpred, pred_t.grad.numpy()) < PARITY


def test_mse_keeps_float32():
    loss, dpred = mse_loss(np.ones(3, dtype=np.float32), np.zeros(3))
    assert isinstance(loss, float) and dpred.dtype == np.float32


def test_mse_refuses_mismatched_or_bad_input():
    with pytest.raises(ValueError, match=r"target must have shape \(4, 1\).*got \(4,\)"):
        mse_loss(np.zeros((4, 1)), np.zeros(4))
    with pytest.raises(TypeError, match="pred.*int64"):
        mse_loss(np.zeros(3, dtype=np.int64), np.zeros(3))
    with pytest.raises(TypeError, match="target.*int64"):
        mse_loss(np.zeros(3), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="pred must not be empty"):
        mse_loss(np.zeros((0, 3)), np.zeros((0, 3)))


# -------------------------------------------------------------------- cross-entropy
def test_cross_entropy_of_uniform_logits_is_log_c():
    loss, d_logits = cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    assert loss == pytest.approx(math.log(4), rel=1e-15)
    # softmax = 1/4 everywhere; minus 1 at the target; divided by the 2 positions
    np.testing.assert_allclose(d_logits, [[-3 / 8, 1 / 8, 1 / 8, 1 / 8], [1 / 8, 1 / 8, 1 / 8, -3 / 8]], rtol=1e-15)


def test_cross_entropy_on_a_hand_computed_example():
    logits = np.array([[1.0, 2.0, 3.0]])
    expected = -(1.0 - math.log(math.exp(1) + math.exp(2) + math.exp(3)))
    assert cross_entropy(logits, np.array([0]))[0] == pytest.approx(expected, rel=1e-14)


def class_ids(rng, shape):
    """Integer targets for logits of ``shape`` (..., C): one class id per position."""
    return rng.integers(0, shape[-1], size=shape[:-1])


def random_distributions(rng, shape, concentration=1.0):
    """Soft targets of ``shape`` (..., C): rows drawn from a Dirichlet, so >= 0 and summing to 1."""
    return rng.dirichlet(np.full(shape[-1], concentration), size=shape[:-1])


TARGET_KINDS = pytest.mark.parametrize("make_target", [class_ids, random_distributions],
                                       ids=["class ids", "probabilities"])


@TARGET_KINDS
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)])
def test_cross_entropy_gradient_matches_finite_differences(shape, make_target, rng):
    target = make_target(rng, shape)
    assert gradient_error(cross_entropy, rng.standard_normal(shape) * 2, target) < TOLERANCE


@TARGET_KINDS
def test_cross_entropy_gradient_with_a_mask_matches_finite_differences(make_target, rng):
    logits, target = rng.standard_normal((4, 3, 5)), make_target(rng, (4, 3, 5))
    mask = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 1], [0, 0, 0]], dtype=bool)
    assert gradient_error(cross_entropy, logits, target, mask) < TOLERANCE
    _, d_logits = cross_entropy(logits, target, mask)
    np.testing.assert_array_equal(d_logits[~mask], 0)


def cross_entropy_ignoring_mask_in_mean(logits, target, mask):
    loss, d_logits = cross_entropy(logits, target, mask)
    return loss, d_logits * mask.sum() / mask.size   # planted bug: divided by all positions


def test_gradient_check_catches_a_wrong_cross_entropy_gradient(rng):
    logits, target = rng.standard_normal((4, 3, 5)), rng.integers(0, 5, size=(4, 3))
    mask = rng.random((4, 3)) < 0.5
    mask[0, 0] = True
    assert gradient_error(cross_entropy_ignoring_mask_in_mean, logits, target, mask) > 1e-2


@pytest.mark.parametrize("masked", [False, True])
def test_cross_entropy_matches_torch(masked, torch, rng):
    T, N, C = 5, 3, 6
    logits, target = rng.standard_normal((T, N, C)) * 3, rng.integers(0, C, size=(T, N))
    mask = rng.random((T, N)) < 0.6 if masked else np.ones((T, N), dtype=bool)
    mask[0, 0] = True
    torch_target = torch.tensor(np.where(mask, target, -100))   # ignore_index = -100
    logits_t = torch.tensor(logits, requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(logits_t.reshape(-1, C), torch_target.reshape(-1),
                                               reduction="mean", ignore_index=-100)
    loss_t.backward()
    loss, d_logits = cross_entropy(logits, target, mask if masked else None)
    assert rel_error(loss, loss_t.item()) < PARITY
    assert rel_error(d_logits, logits_t.grad.numpy()) < PARITY


@given(logits=float_arrays((3, 4), scale=5.0), shift=st.floats(-1e4, 1e4), seed=seeds)
def test_cross_entropy_is_stable_and_shift_invariant(logits, shift, seed):
    target = np.random.default_rng(seed).integers(0, 4, size=3)
    loss, d_logits = cross_entropy(logits, target)
    shifted_loss, shifted_d_logits = cross_entropy(logits + shift, target)
    assert np.isfinite(shifted_loss) and np.all(np.isfinite(shifted_d_logits))
    # adding a constant to every logit changes nothing; only rounding of logits + shift differs
    assert shifted_loss == pytest.approx(loss, abs=1e-11 * (1 + abs(shift)))
    np.testing.assert_allclose(shifted_d_logits, d_logits, atol=1e-11 * (1 + abs(shift)))


def test_cross_entropy_of_huge_logits_is_finite():
    loss, d_logits = cross_entropy(np.array([[1000.0, -1000.0, 0.0]]), np.array([1]))
    assert loss == pytest.approx(2000.0, rel=1e-15)
    np.testing.assert_allclose(d_logits, [[1.0, -1.0, 0.0]], atol=1e-300)


def test_cross_entropy_accepts_any_padding_value_where_masked():
    logits = np.zeros((2, 3))
    loss, _ = cross_entropy(logits, np.array([1, -100]), mask=np.array([1, 0]))
    assert loss == pytest.approx(math.log(3), rel=1e-15)


def test_cross_entropy_keeps_float32():
    loss, d_logits = cross_entropy(np.zeros((2, 3), dtype=np.float32), np.array([0, 1]))
    assert isinstance(loss, float) and d_logits.dtype == np.float32


def test_cross_entropy_refuses_bad_input():
    logits = np.zeros((2, 3, 4))
    with pytest.raises(TypeError, match=r"target must be integer class ids of shape \(2, 3\) or floating class "
                                        r"probabilities of the logits' shape \(2, 3, 4\), got dtype float64"):
        cross_entropy(logits, np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"target must be integer class ids.*got dtype bool and shape \(2, 3, 4\)"):
        cross_entropy(logits, np.zeros((2, 3, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"target must have shape \(2, 3\).*got \(2, 3, 4\).*astype\(float\)"):
        cross_entropy(logits, np.zeros((2, 3, 4), dtype=int))     # an integer one-hot
    with pytest.raises(ValueError, match=r"target must have shape \(2, 3, 4\) \(the logits' shape.*got \(2, 4\)"):
        cross_entropy(logits, np.full((2, 4), 0.25))
    with pytest.raises(ValueError, match=r"target must have shape \(2, 3\).*got \(3, 2\)"):
        cross_entropy(logits, np.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\].*C=4.*from 0 to 4"):
        cross_entropy(logits, np.array([[0, 1, 2], [3, 4, 0]]))
    with pytest.raises(ValueError, match="from -1 to 2"):
        cross_entropy(logits, np.array([[0, 1, 2], [-1, 0, 0]]))
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 3\).*got \(2,\)"):
        cross_entropy(logits, np.zeros((2, 3), dtype=int), mask=np.ones(2))
    with pytest.raises(ValueError, match="only 0 and 1.*from 0.0 to 2.0"):
        cross_entropy(logits, np.zeros((2, 3), dtype=int), mask=np.array([[0, 1, 2], [1, 1, 1]]))
    with pytest.raises(ValueError, match="at least one position"):
        cross_entropy(logits, np.zeros((2, 3), dtype=int), mask=np.zeros((2, 3), dtype=bool))
    with pytest.raises(TypeError, match="logits.*int64"):
        cross_entropy(np.zeros((2, 3), dtype=np.int64), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="logits must be an array"):
        cross_entropy(np.float64(1.0), np.array(0))


def test_losses_on_device_match_the_cpu(device, xp, rng):
    from numpylstm.backend import to_numpy
    logits, target = rng.standard_normal((3, 2, 5)), rng.integers(0, 5, size=(3, 2))
    mask = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    cpu_ce, cpu_mse = cross_entropy(logits, target, mask), mse_loss(logits, logits ** 2)
    dev_ce = cross_entropy(xp.asarray(logits), xp.asarray(target), xp.asarray(mask))
    dev_mse = mse_loss(xp.asarray(logits), xp.asarray(logits ** 2))
    for (cpu_loss, cpu_grad), (dev_loss, dev_grad) in ((cpu_ce, dev_ce), (cpu_mse, dev_mse)):
        assert dev_loss == pytest.approx(cpu_loss, rel=1e-12)
        np.testing.assert_allclose(to_numpy(dev_grad), cpu_grad, rtol=1e-12, atol=1e-15)


def test_losses_follow_the_dtype_of_the_prediction():
    loss, dpred = mse_loss(np.ones(3, dtype=np.float32), np.zeros(3))
    assert dpred.dtype == np.float32 and loss == 1.0
    _, d_logits = cross_entropy(np.zeros((2, 3), dtype=np.float32), np.array([0, 2]))
    assert d_logits.dtype == np.float32
    raises_naming(TypeError, lambda: mse_loss(np.ones(3), np.ones(3, dtype=np.complex128)), "target", "complex128")
    raises_naming(TypeError, lambda: cross_entropy(np.ones((2, 3), dtype=bool), np.array([0, 2])), "logits", "bool")


@given(shape=st.lists(small_sizes, min_size=1, max_size=3), data=st.data(),
       mistake=st.sampled_from(["mse target shape", "mse dtype", "ce target shape", "ce target dtype",
                                "ce target range", "ce mask shape"]))
def test_malformed_loss_calls_raise_naming_the_argument(shape, mistake, data):
    shape = tuple(shape)
    pred, leading, C = np.ones(shape), shape[:-1], shape[-1]
    target = np.zeros(leading, dtype=np.int64)
    if mistake == "mse target shape":
        bad = np.ones(data.draw(wrong_shapes(shape)))
        call, error, words = lambda: mse_loss(pred, bad), ValueError, ["target", str(shape), str(bad.shape)]
    elif mistake == "mse dtype":
        which = data.draw(st.sampled_from(["pred", "target"]))
        bad = array_of_dtype(shape, data.draw(refused_dtypes))
        args = (bad, pred) if which == "pred" else (pred, bad)
        call, error, words = lambda: mse_loss(*args), TypeError, [which, str(bad.dtype)]
    elif mistake == "ce target shape":
        bad = np.zeros(data.draw(wrong_shapes(leading)), dtype=np.int64)
        call, error, words = lambda: cross_entropy(pred, bad), ValueError, ["target", str(leading), str(bad.shape)]
    elif mistake == "ce target dtype":
        bad = target.astype(data.draw(st.sampled_from([np.float64, np.bool_, np.complex128])))
        call, error, words = lambda: cross_entropy(pred, bad), TypeError, ["target", str(bad.dtype)]
    elif mistake == "ce target range":
        bad = target.copy()
        bad.flat[data.draw(st.integers(0, bad.size - 1))] = data.draw(st.sampled_from([-1, C, C + 4]))
        call, error, words = lambda: cross_entropy(pred, bad), ValueError, ["target", f"[0, {C - 1}]"]
    else:
        bad = np.ones(data.draw(wrong_shapes(leading)))
        call, error, words = lambda: cross_entropy(pred, target, bad), ValueError, ["mask", str(leading),
                                                                                   str(bad.shape)]
    raises_naming(error, call, *words)


@pytest.mark.filterwarnings("error")
@given(shape=st.lists(small_sizes, min_size=1, max_size=3), dtype=float_dtypes, scale=input_scales, seed=seeds,
       masked=st.booleans(), data=st.data())
def test_well_formed_loss_calls(shape, dtype, scale, seed, masked, data):
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    pred = random_array(rng, shape, scale, dtype)
    loss, dpred = mse_loss(pred, random_array(rng, shape, scale))
    assert np.isfinite(loss) and loss >= 0 and dpred.shape == shape and dpred.dtype == dtype
    target = rng.integers(0, shape[-1], shape[:-1])
    mask = None
    if masked:
        mask = np.asarray(rng.random(shape[:-1]) < 0.5)
        mask.flat[data.draw(st.integers(0, mask.size - 1))] = True     # at least one position is kept
    loss, d_logits = cross_entropy(pred, target, mask)
    assert np.isfinite(loss) and loss >= 0 and d_logits.shape == shape and d_logits.dtype == dtype
    assert_finite(dpred, d_logits)


# ------------------------------------------------ cross-entropy with class probabilities
def softmax_of(logits):
    return np.exp(log_softmax(logits))


def test_soft_cross_entropy_on_a_hand_computed_example():
    # logits [1, 2, 3], p [0.2, 0.3, 0.5]: L = logsumexp(z) - sum p z, dL/dz = softmax(z) - p
    logsumexp = math.log(math.exp(1) + math.exp(2) + math.exp(3))
    loss, d_logits = cross_entropy(np.array([[1.0, 2.0, 3.0]]), np.array([[0.2, 0.3, 0.5]]))
    assert loss == pytest.approx(logsumexp - (0.2 * 1 + 0.3 * 2 + 0.5 * 3), rel=1e-14)
    expected = [math.exp(k - logsumexp) - p for k, p in ((1, 0.2), (2, 0.3), (3, 0.5))]
    np.testing.assert_allclose(d_logits, [expected], rtol=1e-14)


@pytest.mark.parametrize("masked", [False, True])
def test_a_one_hot_target_gives_what_its_class_ids_give(masked, rng):
    logits, ids = rng.standard_normal((4, 3, 5)) * 2, rng.integers(0, 5, size=(4, 3))
    mask = (rng.random((4, 3)) < 0.5) | np.eye(4, 3, dtype=bool) if masked else None
    one_hot = np.eye(5)[ids]
    loss, d_logits = cross_entropy(logits, one_hot, mask)
    id_loss, id_d_logits = cross_entropy(logits, ids, mask)
    assert loss == pytest.approx(id_loss, rel=1e-15)
    np.testing.assert_allclose(d_logits, id_d_logits, rtol=1e-15, atol=1e-17)


def soft_cross_entropy_without_the_softmax_term(logits, target, mask):
    loss, d_logits = cross_entropy(logits, target, mask)
    # planted bug: the gradient of -sum p z alone, forgetting that logsumexp(z) depends on z too
    return loss, d_logits - softmax_of(logits) * (mask / mask.sum())[..., None]


def test_gradient_check_catches_a_wrong_soft_cross_entropy_gradient(rng):
    logits, target = rng.standard_normal((4, 3, 5)), random_distributions(rng, (4, 3, 5))
    mask = rng.random((4, 3)) < 0.5
    mask[0, 0] = True
    assert gradient_error(cross_entropy, logits, target, mask) < TOLERANCE           # the real one passes
    assert gradient_error(soft_cross_entropy_without_the_softmax_term, logits, target, mask) > 1e-2


@pytest.mark.parametrize("masked", [False, True])
def test_soft_cross_entropy_matches_torch(masked, torch, rng):
    T, N, C = 5, 3, 6
    logits, target = rng.standard_normal((T, N, C)) * 3, random_distributions(rng, (T, N, C), 0.5)
    mask = rng.random((T, N)) < 0.6 if masked else np.ones((T, N), dtype=bool)
    mask[0, 0] = True
    # torch has no mask for probability targets: its mean over the kept rows is the masked loss
    logits_t = torch.tensor(logits, requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(logits_t[torch.tensor(mask)], torch.tensor(target[mask]))
    loss_t.backward()
    loss, d_logits = cross_entropy(logits, target, mask if masked else None)
    assert rel_error(loss, loss_t.item()) < 1e-12
    assert rel_error(d_logits, logits_t.grad.numpy()) < 1e-12


@given(logits=float_arrays((3, 4), scale=5.0), seed=seeds)
def test_soft_cross_entropy_is_at_least_the_entropy_of_the_target(logits, seed):
    # Gibbs' inequality: -sum p log q >= -sum p log p, with equality at q = p
    target = random_distributions(np.random.default_rng(seed), (3, 4))
    entropy = -np.mean(np.sum(target * np.log(target), axis=-1))
    assert cross_entropy(logits, target)[0] >= entropy - 1e-12
    assert cross_entropy(np.log(target), target)[0] == pytest.approx(entropy, rel=1e-12, abs=1e-12)


def test_probability_targets_must_be_distributions():
    logits = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"finite and >= 0, got values from -0.5 to 1.0"):
        cross_entropy(logits, np.array([[0.5, 1.0, -0.5], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"finite and >= 0, got values from nan"):
        cross_entropy(logits, np.array([[np.nan, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"must sum to 1 \(within 1.0e-06\), got row sums from 1 to 6"):
        cross_entropy(logits, np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]]))      # logits passed as target
    with pytest.raises(ValueError, match=r"must sum to 1 \(within 1.0e-06\), got row sums from 0.999998 to 1\b"):
        cross_entropy(logits, np.array([[0.5, 0.499998, 0.0], [1.0, 0.0, 0.0]]))


def test_probability_rows_may_be_off_by_the_rounding_of_their_dtype(rng):
    loss, _ = cross_entropy(np.zeros((2, 3)), np.array([[0.5, 0.4999995, 0.0], [1.0, 0.0, 0.0]]))  # within 1e-6
    assert loss == pytest.approx((math.log(3) * 0.9999995 + math.log(3)) / 2, rel=1e-14)
    # a float16 softmax sums to 1 only within its rounding: refused by 1e-6, accepted by sqrt(C) * eps
    scores = (rng.standard_normal((8, 10)) * 3).astype(np.float16)
    teacher = np.exp(scores - scores.max(-1, keepdims=True))
    teacher /= teacher.sum(-1, keepdims=True)
    assert np.abs(teacher.astype(np.float64).sum(-1) - 1).max() > 1e-5
    loss, d_logits = cross_entropy(rng.standard_normal((8, 10)), teacher)
    assert np.isfinite(loss) and d_logits.dtype == np.float64
    with pytest.raises(ValueError, match=r"within 3.1e-03\), got row sums from 0.99[0-9]* to 1\b"):
        cross_entropy(np.zeros((2, 10)), np.vstack([teacher[0] * np.float16(0.99), teacher[1]]))


def test_a_torch_float32_softmax_over_a_large_vocabulary_is_a_target(torch, rng):
    # torch's float32 softmax over 32000 classes sums to 1 only within ~5e-6
    teacher = torch.softmax(torch.tensor(rng.standard_normal((16, 32000)) * 3, dtype=torch.float32), dim=-1)
    assert np.abs(teacher.numpy().astype(np.float64).sum(-1) - 1).max() > 1e-6
    loss, _ = cross_entropy(rng.standard_normal((16, 32000)), teacher)
    assert np.isfinite(loss)


def test_masked_probability_rows_are_not_read(rng):
    logits, target = rng.standard_normal((3, 4)), random_distributions(rng, (3, 4))
    padded = target.copy()
    padded[1] = [np.nan, -100.0, 7.0, 0.0]
    mask = np.array([True, False, True])
    loss, d_logits = cross_entropy(logits, padded, mask)
    expected_loss, expected_d_logits = cross_entropy(logits, target, mask)
    assert loss == expected_loss
    np.testing.assert_array_equal(d_logits, expected_d_logits)


def test_losses_take_torch_tensors(torch, rng):
    logits, ids = rng.standard_normal((4, 3)), rng.integers(0, 3, size=4)
    soft, mask = random_distributions(rng, (4, 3)), np.array([True, True, False, True])
    logits_t = torch.tensor(logits, requires_grad=True)   # a tensor that requires grad is read detached
    for target in (ids, soft):
        expected = cross_entropy(logits, target, mask)
        got = cross_entropy(logits_t, torch.tensor(target), torch.tensor(mask))
        assert got[0] == expected[0]
        np.testing.assert_array_equal(got[1], expected[1])
    expected = mse_loss(logits, soft)
    got = mse_loss(logits_t, torch.tensor(soft))
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])


def test_losses_refuse_tensors_off_the_cpu(torch):
    off_cpu = torch.zeros((2, 3), device="meta")    # a tensor NumPy cannot read, as one on a GPU
    with pytest.raises(TypeError, match="logits must be an array of floats on the CPU, got a Tensor on device "
                                        "'meta': call .cpu"):
        cross_entropy(off_cpu, np.zeros(2, dtype=int))
    with pytest.raises(TypeError, match="target must be .* on the CPU.*'meta'"):
        cross_entropy(np.zeros((2, 3)), torch.zeros(2, dtype=torch.int64, device="meta"))


# ------------------------------------------------------------------- issue 14: types and names
@pytest.mark.parametrize("dtype", [np.uint64, np.uint32, np.int8])
def test_class_ids_are_range_checked_in_their_own_dtype(dtype):
    largest = np.iinfo(dtype).max
    target = np.array([0, largest], dtype=dtype)
    raises_naming(ValueError, lambda: cross_entropy(np.zeros((2, 3)), target), "target", "[0, 2]", "C=3",
                  f"from 0 to {largest}")
    loss, _ = cross_entropy(np.zeros((2, 3)), target, mask=[1, 0])   # masked: not read, whatever it holds
    assert loss == pytest.approx(np.log(3), rel=1e-12)


@pytest.mark.parametrize("call, name", [
    (lambda: cross_entropy(np.zeros((2, 3)), [0, 1], mask=[[1], [1, 0]]), "mask"),
    (lambda: cross_entropy(np.zeros((2, 3)), [[0], [1, 2]]), "target"),
    (lambda: mse_loss(np.zeros((2, 2)), [[0.0], [1.0, 2.0]]), "target"),
])
def test_ragged_lists_are_refused_naming_the_argument(call, name):
    raises_naming(ValueError, call, f"{name} must be a rectangular", "ragged list")


@pytest.mark.parametrize("call, name", [
    (lambda: mse_loss(np.ma.masked_array(np.zeros(3), [0, 1, 0]), np.zeros(3)), "pred"),
    (lambda: mse_loss(np.zeros(3), np.ma.masked_array(np.zeros(3), [0, 1, 0])), "target"),
    (lambda: cross_entropy(np.ma.masked_array(np.zeros((2, 3))), [0, 1]), "logits"),
    (lambda: cross_entropy(np.zeros((2, 3)), np.ma.masked_array([0, 1], [0, 1])), "target"),
    (lambda: cross_entropy(np.zeros((2, 3)), [0, 1], mask=np.ma.masked_array([1, 1], [0, 1])), "mask"),
])
def test_masked_arrays_are_refused_naming_the_argument(call, name):
    raises_naming(TypeError, call, f"{name} must be a plain array", "MaskedArray")


def test_a_float64_target_beyond_float32_is_refused_for_float32_predictions():
    raises_naming(ValueError, lambda: mse_loss(np.zeros(2, np.float32), np.array([1.0, 1e39])), "target",
                  "1e+39", "float32")


LOSS_CALLS = {
    "mse_loss": (mse_loss, dict(pred=np.zeros((2, 1)), target=np.ones((2, 1)))),
    "cross_entropy": (cross_entropy, dict(logits=np.zeros((2, 3)), target=np.array([0, 2]), mask=np.array([1, 0]))),
}


test_fuzzed_arguments_are_refused_naming_them = fuzzed_arguments_test(LOSS_CALLS, 100)
