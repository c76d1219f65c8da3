"""Linear, activations, Dropout, Embedding, Sequential and mlp: gradients, PyTorch parity, input checks."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from numpylstm.gradcheck import check_gradients, numerical_gradient, rel_error
from numpylstm.layers import Dropout, Embedding, Linear, mlp, ReLU, Sequential, Sigmoid, Tanh

from assertions import assert_finite, memory_of, raises_naming, random_array
from strategies import array_of_dtype, float_dtypes, input_scales, refused_dtypes, seeds, small_sizes, wrong_shapes

TOLERANCE = 1e-6        # finite differences, float64
PARITY = 1e-9           # against PyTorch, float64


def away_from_zero(rng, shape):
    """Inputs with |x| >= 0.1, so finite differences never straddle ReLU's kink."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)


# --------------------------------------------------------------------------- Linear
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)])
def test_linear_gradients_match_finite_differences(shape, rng):
    report = check_gradients(Linear(4, 3, seed=0), (rng.standard_normal(shape),))
    assert report.passed, str(report)
    assert {c.name for c in report.checks} == {"input", "weight", "bias"}


def test_linear_without_bias_has_no_bias_parameter(rng):
    linear = Linear(4, 3, bias=False, seed=0)
    assert [name for name, _ in linear.named_parameters()] == ["weight"]
    assert linear.bias is None
    report = check_gradients(linear, (rng.standard_normal((2, 4)),))
    assert report.passed, str(report)


class LinearAveragingWeightGrad(Linear):
    """A planted bug: the weight gradient averaged over the batch instead of summed."""

    def backward(self, dy):
        before = self.weight.grad.copy()
        dx = super().backward(dy)
        self.weight.grad[...] = before + (self.weight.grad - before) / dy.shape[0]
        return dx


def test_gradient_check_catches_a_wrong_linear_weight_gradient(rng):
    report = check_gradients(LinearAveragingWeightGrad(4, 3, seed=0), (rng.standard_normal((5, 4)),))
    assert not report.passed
    assert [c.name for c in report.failures()] == ["weight"]


@given(leading=st.lists(small_sizes, min_size=0, max_size=3), fan_in=small_sizes, fan_out=small_sizes, seed=seeds)
def test_linear_applies_the_same_map_at_every_position(leading, fan_in, fan_out, seed):
    rng = np.random.default_rng(seed)
    linear = Linear(fan_in, fan_out, seed=seed)
    x = rng.standard_normal(tuple(leading) + (fan_in,))
    y = linear(x)
    assert y.shape == tuple(leading) + (fan_out,)
    W, b = linear.weight.data, linear.bias.data
    for index in np.ndindex(*leading):
        row = [sum(W[o, i] * x[index][i] for i in range(fan_in)) + b[o] for o in range(fan_out)]
        np.testing.assert_allclose(y[index], row, rtol=1e-12, atol=1e-14)
    dx = linear.backward(rng.standard_normal(y.shape))
    assert dx.shape == x.shape


def test_linear_matches_torch(torch, rng):
    linear = Linear(5, 3, seed=7)
    twin = torch.nn.Linear(5, 3, dtype=torch.float64)
    twin.load_state_dict({k: torch.tensor(v) for k, v in linear.state_dict().items()})
    x = rng.standard_normal((4, 2, 5))
    dy = rng.standard_normal((4, 2, 3))
    x_t = torch.tensor(x, requires_grad=True)
    y_t = twin(x_t)
    (y_t * torch.tensor(dy)).sum().backward()
    y = linear(x)
    dx = linear.backward(dy)
    assert rel_error(y, y_t.detach().numpy()) < PARITY
    assert rel_error(dx, x_t.grad.numpy()) < PARITY
    assert rel_error(linear.weight.grad, twin.weight.grad.numpy()) < PARITY
    assert rel_error(linear.bias.grad, twin.bias.grad.numpy()) < PARITY


def test_linear_init_is_pytorch_uniform_and_seeded():
    fan_in = 16
    linear = Linear(fan_in, 400, seed=3)
    bound = 1 / np.sqrt(fan_in)
    for param in (linear.weight.data, linear.bias.data):
        assert np.abs(param).max() <= bound
        assert np.abs(param).max() > 0.9 * bound   # the full range is used, not a narrower one
    assert np.std(linear.weight.data) == pytest.approx(bound / np.sqrt(3), rel=0.05)
    np.testing.assert_array_equal(Linear(fan_in, 400, seed=3).weight.data, linear.weight.data)
    assert not np.array_equal(Linear(fan_in, 400, seed=4).weight.data, linear.weight.data)


def test_linear_float32_follows_its_parameters(rng):
    linear = Linear(3, 2, dtype=np.float32, seed=0)
    assert linear.weight.data.dtype == np.float32
    y = linear(rng.standard_normal((4, 3)))
    assert y.dtype == np.float32
    assert linear.backward(np.ones((4, 2))).dtype == np.float32


def test_linear_backward_adds_into_grad(rng):
    linear = Linear(3, 2, seed=0)
    x, dy = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    linear(x)
    linear.backward(dy)
    once = linear.weight.grad.copy(), linear.bias.grad.copy()
    linear(x)
    linear.backward(dy)
    np.testing.assert_allclose(linear.weight.grad, 2 * once[0], rtol=1e-14)
    np.testing.assert_allclose(linear.bias.grad, 2 * once[1], rtol=1e-14)


def test_linear_refuses_bad_input():
    linear = Linear(3, 2, seed=0)
    with pytest.raises(ValueError, match=r"in_features=3.*\(4, 5\)"):
        linear(np.zeros((4, 5)))
    with pytest.raises(TypeError, match="input.*int64"):
        linear(np.zeros((4, 3), dtype=np.int64))
    linear(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"dy must have shape \(4, 2\).*got \(4, 3\)"):
        linear.backward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="in_features must be a positive integer, got 0"):
        Linear(0, 2)
    with pytest.raises(TypeError, match="out_features"):
        Linear(2, 2.5)


# ---------------------------------------------------------------------- activations
ACTIVATIONS = {"relu": (ReLU, "relu"), "tanh": (Tanh, "tanh"), "sigmoid": (Sigmoid, "sigmoid")}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradients_match_finite_differences(name, rng):
    module = ACTIVATIONS[name][0]()
    report = check_gradients(module, (away_from_zero(rng, (3, 4)),))
    assert report.passed, str(report)


class ReLUWithoutMask(ReLU):
    def backward(self, dy):
        self._pop_cache()
        return dy                      # planted bug: forgot the (x > 0) mask


class TanhWrongSlope(Tanh):
    def backward(self, dy):
        y = self._pop_cache()
        return dy * (1 - y)            # planted bug: 1 - y instead of 1 - y**2


class SigmoidWrongSlope(Sigmoid):
    def backward(self, dy):
        y = self._pop_cache()
        return dy * y                  # planted bug: missing the (1 - y) factor


@pytest.mark.parametrize("module", [ReLUWithoutMask(), TanhWrongSlope(), SigmoidWrongSlope()],
                         ids=lambda m: type(m).__name__)
def test_gradient_check_catches_a_wrong_activation_gradient(module, rng):
    report = check_gradients(module, (away_from_zero(rng, (3, 4)),))
    assert not report.passed
    assert report["input"].rel_error > 1e-2


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_torch(name, torch, rng):
    module, torch_name = ACTIVATIONS[name][0](), ACTIVATIONS[name][1]
    x = rng.standard_normal((2, 3, 4)) * 3
    dy = rng.standard_normal(x.shape)
    x_t = torch.tensor(x, requires_grad=True)
    y_t = getattr(torch, torch_name)(x_t)
    (y_t * torch.tensor(dy)).sum().backward()
    assert rel_error(module(x), y_t.detach().numpy()) < PARITY
    assert rel_error(module.backward(dy), x_t.grad.numpy()) < PARITY


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_keeps_the_input_dtype(name, dtype):
    module = ACTIVATIONS[name][0]()
    y = module(np.linspace(-2, 2, 5).astype(dtype))
    assert y.dtype == dtype
    assert module.backward(np.ones(5, dtype=dtype)).dtype == dtype


def test_sigmoid_saturates_without_overflow():
    with np.errstate(over="raise"):
        y = Sigmoid()(np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(y, [0.0, 1.0])


# -------------------------------------------------------------------------- Dropout
def test_dropout_drops_about_p_and_scales_the_rest(rng):
    p = 0.3
    dropout = Dropout(p, seed=0)
    x = rng.uniform(1.0, 2.0, size=(100, 100))
    y = dropout(x)
    dropped = y == 0
    assert abs(dropped.mean() - p) < 0.02
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - p), rtol=1e-15)


def test_dropout_backward_uses_the_forward_mask(rng):
    dropout = Dropout(0.5, seed=1)
    x = rng.uniform(1.0, 2.0, size=(6, 7))
    y = dropout(x)
    dy = rng.standard_normal(x.shape)
    dx = dropout.backward(dy)
    np.testing.assert_array_equal(dx == 0, y == 0)
    np.testing.assert_allclose(dx[y != 0], dy[y != 0] * 2.0, rtol=1e-15)


def test_dropout_gradients_match_finite_differences(rng):
    report = check_gradients(Dropout(0.4, seed=2), (rng.standard_normal((4, 5)),))
    assert report.passed, str(report)


class DropoutFreshMaskInBackward(Dropout):
    def backward(self, dy):
        self._pop_cache()              # planted bug: a new mask instead of the forward's
        return dy * (self._rng.random(dy.shape) >= self.p) / (1 - self.p)


def test_gradient_check_catches_a_dropout_backward_with_a_new_mask(rng):
    report = check_gradients(DropoutFreshMaskInBackward(0.4, seed=2), (rng.standard_normal((4, 5)),))
    assert not report.passed


def test_dropout_is_the_identity_in_eval_mode_and_records_nothing(rng):
    dropout = Dropout(0.9, seed=0).eval()
    x = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(dropout(x), x)
    assert dropout._caches == []


def test_dropout_is_seeded(rng):
    x = np.ones((10, 10))
    np.testing.assert_array_equal(Dropout(0.5, seed=5)(x), Dropout(0.5, seed=5)(x))
    assert not np.array_equal(Dropout(0.5, seed=5)(x), Dropout(0.5, seed=6)(x))


def test_dropout_refuses_bad_p():
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        Dropout(1.5)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 2"):
        Dropout(0.5).p = 2
    with pytest.raises(ValueError, match="got -0.1"):
        Dropout(-0.1)
    with pytest.raises(TypeError, match="p must be a number"):
        Dropout("0.5")


# ------------------------------------------------------------------------ Embedding
def embedding_gradient_error(embedding, ids, rng):
    """Relative error between Embedding.backward and finite differences of sum(R * embedding(ids))."""
    R = rng.standard_normal(np.shape(ids) + (embedding.embedding_dim,))

    def loss():
        out = embedding(ids)
        embedding.clear_caches()
        return float(np.sum(R * out))

    embedding.zero_grad()
    embedding(ids)
    assert embedding.backward(R) is None
    return rel_error(embedding.weight.grad, numerical_gradient(loss, embedding.weight.data))


REPEATED_IDS = np.array([[1, 3, 1], [0, 1, 3]])   # id 1 three times: the scatter-add must sum them


def test_embedding_gradient_matches_finite_differences(rng):
    assert embedding_gradient_error(Embedding(5, 3, seed=0), REPEATED_IDS, rng) < TOLERANCE


class EmbeddingFancyIndexAdd(Embedding):
    def backward(self, dy):
        ids = self._pop_cache()
        self.weight.grad[ids] += dy    # planted bug: repeated ids keep only one contribution
        return None


def test_gradient_check_catches_an_embedding_backward_without_scatter_add(rng):
    assert embedding_gradient_error(EmbeddingFancyIndexAdd(5, 3, seed=0), REPEATED_IDS, rng) > 1e-2


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch(padding_idx, torch, rng):
    embedding = Embedding(6, 4, padding_idx=padding_idx, seed=1)
    twin = torch.nn.Embedding(6, 4, padding_idx=padding_idx, dtype=torch.float64)
    twin.load_state_dict({k: torch.tensor(v) for k, v in embedding.state_dict().items()})
    ids = np.array([[0, 2, 5, 2], [5, 1, 2, 3]])
    dy = rng.standard_normal(ids.shape + (4,))
    y_t = twin(torch.tensor(ids))
    (y_t * torch.tensor(dy)).sum().backward()
    assert rel_error(embedding(ids), y_t.detach().numpy()) < PARITY
    embedding.backward(dy)
    assert rel_error(embedding.weight.grad, twin.weight.grad.numpy()) < PARITY


def test_embedding_padding_row_starts_at_zero_and_gets_no_gradient(rng):
    embedding = Embedding(5, 3, padding_idx=4, seed=0)
    np.testing.assert_array_equal(embedding.weight.data[4], 0)
    ids = np.array([4, 4, 1])
    embedding(ids)
    embedding.backward(rng.standard_normal((3, 3)))
    np.testing.assert_array_equal(embedding.weight.grad[4], 0)
    assert np.all(embedding.weight.grad[1] != 0)


def test_embedding_init_is_standard_normal_and_seeded():
    weight = Embedding(200, 50, seed=0).weight.data
    assert weight.mean() == pytest.approx(0, abs=0.03)
    assert weight.std() == pytest.approx(1, abs=0.03)
    np.testing.assert_array_equal(Embedding(200, 50, seed=0).weight.data, weight)


def test_embedding_output_shape():
    assert Embedding(7, 4, seed=0)(np.zeros((3, 2, 5), dtype=np.int32)).shape == (3, 2, 5, 4)


def test_embedding_refuses_bad_ids():
    embedding = Embedding(5, 3, seed=0)
    with pytest.raises(TypeError, match="integer token ids, got dtype float64"):
        embedding(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="dtype bool"):
        embedding(np.array([True, False]))
    with pytest.raises(ValueError, match=r"\[0, 4\].*from 0 to 5"):
        embedding(np.array([0, 5]))
    with pytest.raises(ValueError, match="from -1 to 2"):
        embedding(np.array([-1, 2]))
    with pytest.raises(ValueError, match=r"padding_idx must be an integer in \[-5, 4\].*got 5"):
        Embedding(5, 3, padding_idx=5)


# ----------------------------------------------------------------------- Sequential
def test_mlp_is_linear_relu_linear_with_pytorch_names():
    head = mlp(4, 8, 2, seed=0)
    assert [type(m).__name__ for m in head] == ["Linear", "ReLU", "Linear"]
    assert [(name, p.shape) for name, p in head.named_parameters()] == [
        ("0.weight", (8, 4)), ("0.bias", (8,)), ("2.weight", (2, 8)), ("2.bias", (2,))]
    assert [type(m).__name__ for m in mlp(4, (8, 6), 2)] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]


def test_mlp_is_seeded_and_its_layers_differ():
    a, b = mlp(4, 4, 4, seed=1), mlp(4, 4, 4, seed=1)
    np.testing.assert_array_equal(a[0].weight.data, b[0].weight.data)
    assert not np.array_equal(a[0].weight.data, a[2].weight.data)
    assert not np.array_equal(mlp(4, 4, 4, seed=2)[0].weight.data, a[0].weight.data)


def test_mlp_gradients_match_finite_differences(rng):
    report = check_gradients(mlp(3, 5, 2, seed=0), (away_from_zero(rng, (2, 4, 3)),))
    assert report.passed, str(report)
    assert len(report.checks) == 5


class SequentialBackwardInForwardOrder(Sequential):
    def backward(self, dy):
        self._pop_cache()
        for module in self:            # planted bug: children in forward order
            dy = module.backward(dy)
        return dy


def test_gradient_check_catches_a_sequential_backward_in_the_wrong_order(rng):
    layers = (Linear(3, 3, seed=0), Tanh(), Linear(3, 3, seed=1))
    assert check_gradients(Sequential(*layers), (rng.standard_normal((2, 3)),)).passed
    report = check_gradients(SequentialBackwardInForwardOrder(*layers), (rng.standard_normal((2, 3)),))
    assert not report.passed


def test_mlp_matches_torch(torch, rng):
    head = mlp(5, 7, 3, seed=4)
    twin = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3)).double()
    twin.load_state_dict({k: torch.tensor(v) for k, v in head.state_dict().items()})
    x, dy = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
    x_t = torch.tensor(x, requires_grad=True)
    y_t = twin(x_t)
    (y_t * torch.tensor(dy)).sum().backward()
    assert rel_error(head(x), y_t.detach().numpy()) < PARITY
    assert rel_error(head.backward(dy), x_t.grad.numpy()) < PARITY
    torch_grads = {name: p.grad.numpy() for name, p in twin.named_parameters()}
    for name, param in head.named_parameters():
        assert rel_error(param.grad, torch_grads[name]) < PARITY, name


def test_sequential_refuses_non_modules():
    with pytest.raises(TypeError, match="Module instances, got ufunc at position 1"):
        Sequential(ReLU(), np.tanh)


# --------------------------------------------------------- the cache-stack contract
@pytest.mark.parametrize("module", [Linear(2, 2), ReLU(), Tanh(), Sigmoid(), Dropout(0.5), Embedding(3, 2),
                                    Sequential(Linear(2, 2), ReLU())], ids=lambda m: type(m).__name__)
def test_backward_without_forward_is_a_clear_error(module):
    with pytest.raises(RuntimeError, match=f"{type(module).__name__}.backward\\(\\) was called without"):
        module.backward(np.zeros((1, 2)))


def test_forward_in_eval_mode_records_nothing(rng):
    head = mlp(2, 3, 1, seed=0).eval()
    head(rng.standard_normal((4, 2)))
    assert all(m._caches == [] for m in head.modules())
    with pytest.raises(RuntimeError):
        head.backward(np.zeros((4, 1)))


# -------------------------------------------------------------------------- devices
def test_layers_on_device_match_the_cpu(device, xp, rng):
    """The same numbers on every available device (the CPU always; the GPU where CuPy finds one)."""
    from numpylstm.backend import to_numpy
    x, ids = rng.standard_normal((3, 2, 4)), np.array([[0, 2], [2, 1], [4, 0]])
    results = {}
    for where in ("cpu", device):
        head, embedding = mlp(4, 5, 3, seed=0).to(where), Embedding(5, 4, padding_idx=0, seed=0).to(where)
        dropout = Dropout(0.5, seed=0)
        array = xp if where == device else np
        y = dropout(head(array.asarray(x)) + embedding(array.asarray(ids))[..., :3])
        dx = head.backward(dropout.backward(array.asarray(np.ones((3, 2, 3)))))
        embedding.backward(array.asarray(np.ones((3, 2, 4))))
        results[where] = [to_numpy(a) for a in (y, dx, head[0].weight.grad, embedding.weight.grad)]
    for cpu, other in zip(results["cpu"], results[device]):
        np.testing.assert_allclose(other, cpu, rtol=1e-12, atol=1e-14)


def test_dropout_of_one_outputs_zeros_and_passes_no_gradient():
    """p = 1 drops everything, as torch.nn.Dropout(1.0) does, without 0 * inf = NaN."""
    dropout = Dropout(1.0, seed=0)
    y = dropout(np.ones((3, 4)))
    assert not y.any() and np.isfinite(y).all()
    assert not dropout.backward(np.ones((3, 4))).any()


@pytest.mark.parametrize("module, shape", [
    (Linear(3, 2), (0, 3)), (ReLU(), (0, 4)), (Tanh(), (2, 0)), (Sigmoid(), (0,)), (Dropout(0.5), (0, 2)),
    (Embedding(4, 2), (3, 0)),
], ids=["Linear", "ReLU", "Tanh", "Sigmoid", "Dropout", "Embedding"])
def test_layers_take_an_empty_batch_as_torch_does(torch, module, shape):
    """An empty batch gives an empty output of the shape PyTorch gives, and an empty backward."""
    x = np.zeros(shape, dtype=np.int64) if isinstance(module, Embedding) else np.zeros(shape)
    y = module(x)
    twin = {Linear: lambda: torch.nn.Linear(3, 2), Embedding: lambda: torch.nn.Embedding(4, 2)}.get(
        type(module), lambda: torch.nn.Identity())()
    assert y.shape == tuple(twin(torch.tensor(x)).shape)
    dx = module.backward(np.zeros(y.shape))
    assert (dx is None) if isinstance(module, Embedding) else dx.shape == x.shape
    assert not any(p.grad.any() for p in module.parameters())


@pytest.mark.parametrize("hidden, error, fragments", [
    (2.5, TypeError, ["hidden", "2.5"]), ("8", TypeError, ["hidden", "'8'"]),
    ([4, 0], ValueError, ["hidden[1]", "0"]), (0, ValueError, ["hidden", "0"]),
])
def test_mlp_names_a_bad_hidden_width(hidden, error, fragments):
    raises_naming(error, lambda: mlp(3, hidden, 1), *fragments)


@given(leading=st.lists(small_sizes, min_size=0, max_size=3), fan_in=small_sizes, fan_out=small_sizes,
       mistake=st.sampled_from(["features", "dtype", "dy shape", "dy dtype"]), data=st.data())
def test_malformed_linear_calls_raise_naming_the_argument(leading, fan_in, fan_out, mistake, data):
    linear, shape = Linear(fan_in, fan_out), tuple(leading) + (fan_in,)
    out_shape = tuple(leading) + (fan_out,)
    if mistake == "features":
        bad = np.ones(data.draw(wrong_shapes(shape, axes=[len(shape) - 1])))
        call, error, words = lambda: linear(bad), ValueError, ["input", f"in_features={fan_in}", str(bad.shape)]
    elif mistake == "dtype":
        bad = array_of_dtype(shape, data.draw(refused_dtypes))
        call, error, words = lambda: linear(bad), TypeError, ["input", str(bad.dtype)]
    else:
        linear(np.ones(shape))
        if mistake == "dy shape":
            bad = np.ones(data.draw(wrong_shapes(out_shape)))
            call, error, words = lambda: linear.backward(bad), ValueError, ["dy", str(out_shape), str(bad.shape)]
        else:
            bad = array_of_dtype(out_shape, data.draw(refused_dtypes))
            call, error, words = lambda: linear.backward(bad), TypeError, ["dy", str(bad.dtype)]
    raises_naming(error, call, *words)


@given(vocab=small_sizes, dim=small_sizes, ids_shape=st.lists(small_sizes, min_size=1, max_size=3),
       mistake=st.sampled_from(["float ids", "id too large", "negative id", "dy shape"]), data=st.data())
def test_malformed_embedding_calls_raise_naming_the_argument(vocab, dim, ids_shape, mistake, data):
    embedding, ids = Embedding(vocab, dim), np.zeros(ids_shape, dtype=np.int64)
    if mistake == "float ids":
        bad = ids.astype(data.draw(st.sampled_from([np.float32, np.float64, np.bool_])))
        call, error, words = lambda: embedding(bad), TypeError, ["input", "integer token ids", str(bad.dtype)]
    elif mistake in ("id too large", "negative id"):
        bad = ids.copy()
        bad.flat[data.draw(st.integers(0, bad.size - 1))] = vocab + 2 if mistake == "id too large" else -3
        call, error, words = lambda: embedding(bad), ValueError, ["input", f"[0, {vocab - 1}]"]
    else:
        embedding(ids)
        good = tuple(ids_shape) + (dim,)
        bad = np.ones(data.draw(wrong_shapes(good)))
        call, error, words = lambda: embedding.backward(bad), ValueError, ["dy", str(good), str(bad.shape)]
    raises_naming(error, call, *words)


@pytest.mark.filterwarnings("error")
@given(leading=st.lists(small_sizes, min_size=0, max_size=3), fan_in=small_sizes, fan_out=small_sizes,
       bias=st.booleans(), dtype=float_dtypes, scale=input_scales, seed=seeds)
def test_well_formed_linear_calls(leading, fan_in, fan_out, bias, dtype, scale, seed):
    rng = np.random.default_rng(seed)
    linear = Linear(fan_in, fan_out, bias=bias, dtype=dtype, seed=seed)
    x = random_array(rng, tuple(leading) + (fan_in,), scale)
    y = linear(x)
    assert y.shape == tuple(leading) + (fan_out,) and y.dtype == dtype
    dx = linear.backward(random_array(rng, y.shape, 1.0))
    assert dx.shape == x.shape and dx.dtype == dtype
    assert_finite(y, dx, *(p.grad for p in linear.parameters()))


@pytest.mark.filterwarnings("error")
@given(vocab=small_sizes, dim=small_sizes, ids_shape=st.lists(small_sizes, min_size=0, max_size=3),
       padding=st.booleans(), dtype=float_dtypes, seed=seeds, data=st.data())
def test_well_formed_embedding_calls(vocab, dim, ids_shape, padding, dtype, seed, data):
    embedding = Embedding(vocab, dim, padding_idx=0 if padding else None, dtype=dtype, seed=seed)
    ids = np.array(data.draw(st.lists(st.integers(0, vocab - 1), min_size=int(np.prod(ids_shape)),
                                      max_size=int(np.prod(ids_shape))))).reshape(ids_shape).astype(np.int64)
    y = embedding(ids)
    assert y.shape == tuple(ids_shape) + (dim,) and y.dtype == dtype
    assert embedding.backward(np.ones(y.shape)) is None
    assert_finite(y, embedding.weight.grad)
    if padding:
        assert not np.any(embedding.weight.grad[0])


# ------------------------------------------------------------------ sizes bounded by memory
@pytest.mark.parametrize("build, fragments", [
    (lambda: Linear(10 ** 6, 10 ** 7), ["Linear(1000000, 10000000, bias=True)", "145.5 TiB"]),
    (lambda: Linear(10 ** 6, 10 ** 7, bias=False), ["Linear(1000000, 10000000, bias=False)"]),
    (lambda: Embedding(10 ** 12, 8), ["Embedding(1000000000000, 8)", "116.4 TiB"]),
    (lambda: mlp(10 ** 7, 10 ** 6, 2), ["Linear(10000000, 1000000"]),
])
def test_sizes_that_cannot_fit_are_refused_before_allocating(monkeypatch, build, fragments):
    import numpylstm.layers as layers

    def allocated(*args, **kwargs):
        raise AssertionError("a parameter was allocated before the size was refused")
    monkeypatch.setattr(layers, "Parameter", allocated)
    raises_naming(ValueError, build, "needs", "for its parameters and their gradients", *fragments)


@pytest.mark.parametrize("build, n_values", [(lambda: Linear(300, 200), 300 * 200 + 200),
                                             (lambda: Linear(300, 200, bias=False), 300 * 200),
                                             (lambda: Embedding(1000, 50), 1000 * 50)])
def test_the_size_check_counts_values_and_gradients(monkeypatch, build, n_values):
    memory_of(monkeypatch, 2 * 8 * n_values - 1)
    raises_naming(MemoryError, build, "available")
    memory_of(monkeypatch, 2 * 8 * n_values)
    assert sum(p.data.size for p in build().parameters()) == n_values
