"""examples/: each of the five programs against its original framework, and each script run without them.

The PyTorch originals of programs 1, 3 and 5 run from the code the scripts quote in their docstrings;
those of programs 2 and 4 (scripts rather than classes) are written out here. Both sides get the same
weights and data, in float64, and must agree to PARITY (relative error) in their outputs, their
gradients and, for programs 2 and 3, the losses of 100 training steps. Each comparison also meets a
planted difference (a gradient that stops early, the other framework's epsilon, a second trained
bias, a tanh too many) that it must catch. Without torch or Keras these tests skip (conftest.py's
fixtures; CI makes the skips failures).
"""
import ast
import importlib.util
import itertools
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from numpylstm import train
from numpylstm.gradcheck import rel_error
from numpylstm.interop import from_fused_gates, to_fused_gates, to_keras_dense, to_keras_lstm, to_torch_state_dict
from numpylstm.losses import cross_entropy
from numpylstm.optim import Adam
from numpylstm.threads import limit_blas_threads
from torch_reference import assert_distinct_biases

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PARITY = 1e-9
CAUGHT = 1e-7      # a planted difference must show at least this far above PARITY


def example(name):
    """examples/NAME.py as a module (its main() does not run)."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def original(name, framework, changes=()):
    """The classes of the original that examples/NAME.py quotes (the literal block after its docstring's
    "::"), defined with ``framework`` (torch, as ``torch`` and ``nn``): the tests run the very code the
    script shows. ``changes`` are (old, new) replacements that plant a difference in it."""
    lines = example(name).__doc__.split("::\n", 1)[1].splitlines()
    block = list(itertools.takewhile(lambda line: not line.strip() or line.startswith("    "), lines))
    code = textwrap.dedent("\n".join(block))
    for old, new in changes:
        assert old in code, f"{old!r} is not in the original of {name}"
        code = code.replace(old, new)
    tree = ast.parse(code)
    tree.body = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    namespace = {"torch": framework, "nn": framework.nn}
    exec(compile(tree, f"the docstring of examples/{name}.py", "exec"), namespace)
    return namespace


def errors(ours, theirs):
    """``{name: rel_error}`` over two dicts of arrays with the same names."""
    assert set(ours) == set(theirs)
    return {name: rel_error(ours[name], theirs[name]) for name in ours}


def assert_parity(ours, theirs):
    worst = max(errors(ours, theirs).items(), key=lambda item: item[1])
    assert worst[1] < PARITY, f"{worst[0]} differs: relative error {worst[1]:.2e}"


def numpy_of(tensors):
    return {name: t.detach().numpy().copy() for name, t in tensors.items()}


def grad(tensor):
    """``tensor.grad``, zeros where no gradient reached it (a planted cut)."""
    return tensor.new_zeros(tensor.shape) if tensor.grad is None else tensor.grad


# ====================================================================== the scripts
EXPECTED_LINES = {   # lines each script must print (the original's first, then numpylstm's extras)
    "encoder_decoder": ["(16, 8, 5)", "predicted frames: (16, 12, 5)"],
    "keras_classifier": ["(8, 10)"],
    "time_series_regressor": [],      # its ten "Epoch [k/100], Loss: ..." lines are checked below
    "lstm_vs_cell": ["True", "same gradients: True"],
    "lstm_from_scratch": ["(4, 9, 3) (4, 16) (4, 16)"],
}
# Runs a script as `python examples/NAME.py` would, with torch and Keras made unimportable.
WITHOUT_TORCH_OR_KERAS = ("import runpy, sys; sys.modules.update(torch=None, keras=None); "
                          "runpy.run_path(sys.argv[1], run_name='__main__')")


def run_script(path):
    return subprocess.run([sys.executable, "-c", WITHOUT_TORCH_OR_KERAS, str(path)], capture_output=True,
                          text=True, timeout=600)


def test_every_example_is_listed_short_and_quotes_its_original():
    assert sorted(path.stem for path in EXAMPLES.glob("*.py")) == sorted(EXPECTED_LINES)
    for name in EXPECTED_LINES:
        text = (EXAMPLES / f"{name}.py").read_text()
        assert len(text.splitlines()) <= 80, name
        assert "The original" in example(name).__doc__, name


@pytest.mark.parametrize("name", sorted(EXPECTED_LINES))
def test_each_example_runs_as_a_script_without_torch_or_keras(name):
    result = run_script(EXAMPLES / f"{name}.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for line in EXPECTED_LINES[name]:
        assert line in lines, f"{line!r} not printed; got {lines}"
    if name == "time_series_regressor":
        assert [line.split(",")[0] for line in lines] == [f"Epoch [{k}/100]" for k in range(10, 101, 10)]
    if name == "keras_classifier":
        assert sum(line.startswith("epoch") for line in lines) == 10


def test_the_script_runner_does_block_torch_and_keras(tmp_path):
    for framework in ("torch", "keras"):
        script = tmp_path / f"uses_{framework}.py"
        script.write_text(f"import {framework}\n")
        result = run_script(script)
        assert result.returncode != 0 and f"import of {framework} halted" in result.stderr, result.stderr


# ============================================================ 1. encoder-decoder (torch)
def program1_run(torch, model, x, y, d_out, changes=()):
    """The original's output and gradients (x, y and every weight under numpylstm's names)."""
    ex = example("encoder_decoder")
    classes = original("encoder_decoder", torch, changes)
    twin = classes["Seq2Seq"](classes["Encoder"](ex.INPUT_SIZE, ex.HIDDEN_SIZE, ex.NUM_LAYERS),
                              classes["Decoder"](ex.HIDDEN_SIZE, ex.OUTPUT_SIZE, ex.NUM_LAYERS))
    twin.load_state_dict({name.replace("decoder.head.", "decoder.fc."): tensor
                          for name, tensor in to_torch_state_dict(model).items()})
    x_t, y_t = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    out = twin(x_t, y_t)
    (out * torch.tensor(d_out)).sum().backward()
    grads = {name.replace("decoder.fc.", "decoder.head."): grad(p) for name, p in twin.named_parameters()}
    return numpy_of({"output": out, "dx": grad(x_t), "dy": grad(y_t), **grads})


def test_program1_encoder_decoder_matches_pytorch(torch, rng):
    ex = example("encoder_decoder")
    model = ex.build_model(seed=3)
    assert_distinct_biases(model.encoder.lstm), assert_distinct_biases(model.decoder.lstm)
    x, y = rng.standard_normal((5, 7, ex.INPUT_SIZE)), rng.standard_normal((5, 4, ex.OUTPUT_SIZE))
    output = model(x, y)
    d_out = rng.standard_normal(output.shape)
    dx, dy = model.backward(d_out)
    ours = {"output": output, "dx": dx, "dy": dy, **{name: p.grad for name, p in model.named_parameters()}}
    assert_parity(ours, program1_run(torch, model, x, y, d_out))
    # planted: the original with its decoder's state detached; every encoder gradient must show it
    cut = [("self.decoder(y, hn, cn)", "self.decoder(y, hn.detach(), cn.detach())")]
    planted = errors(ours, program1_run(torch, model, x, y, d_out, cut))
    assert {name for name, error in planted.items() if error > CAUGHT} == \
        {"dx"} | {name for name in ours if name.startswith("encoder.")}


# ==================================================== 2. Keras classifier, trained (Keras)
@pytest.fixture
def keras64(keras, torch, monkeypatch):
    """Keras computing in float64 all through.

    Keras 3.15 turns the float64 results of ops.matmul, add, multiply, ... into float32 (its
    result_type maps 64-bit dtypes to 32-bit ones, as JAX does without x64; keras-team/keras#23704):
    its Dense layer, loss and Adam update then round to float32 (measured: losses 5e-8 apart from
    numpylstm's after 100 steps). Emptying that map lets Keras compute in the float64 its floatx
    asks for; the check below fails loudly if a later Keras computes differently. Keras runs on
    torch, here on one thread (the ``torch`` fixture above).
    """
    from keras.src.backend.common import dtypes
    monkeypatch.setattr(dtypes, "BIT64_TO_BIT32_DTYPE", {})
    a, b = np.random.default_rng(0).standard_normal((2, 3, 3))
    product = keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
    if product.dtype != np.float64 or rel_error(product, a @ b) > 1e-15:
        pytest.fail(f"Keras {keras.__version__} no longer computes float64 matmul in float64 with this patch")
    return keras


def original_classifier(keras, ex):
    """Program 2 as written in Keras."""
    model = keras.Sequential([keras.Input((None, ex.FEATURES)), keras.layers.LSTM(units=ex.UNITS),
                              keras.layers.Dense(units=ex.CLASSES)])
    model.compile(optimizer=keras.optimizers.Adam(0.001), metrics=["accuracy"],
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def numpylstm_losses(model, optimizer, batches):
    """One numpylstm.train.fit step per batch, as Keras's fit takes them; the loss of each step."""
    with limit_blas_threads(1):
        return [train.fit(model, cross_entropy, optimizer, batch, epochs=1, batch_size=len(batch[0]),
                          shuffle=False, quiet=True).train_loss[0] for batch in batches]


def worst_step(ours, theirs):
    """The largest relative difference of two runs' losses, step by step."""
    return max(abs(a - b) / abs(b) for a, b in zip(ours, theirs))


def test_program2_keras_classifier_trains_step_for_step_as_keras(keras64, rng):
    ex = example("keras_classifier")
    batches = [ex.random_data(rng, 32) for _ in range(100)]
    model = ex.build_model(seed=1)
    keras_model = original_classifier(keras64, ex)
    keras_model.layers[0].set_weights(to_keras_lstm(model.lstm))
    keras_model.layers[1].set_weights(to_keras_dense(model.head))
    keras_losses = [keras_model.train_on_batch(x, y, return_dict=True)["loss"] for x, y in batches]

    losses = numpylstm_losses(model, ex.build_optimizer(model), batches)
    assert worst_step(losses, keras_losses) < PARITY
    assert keras_losses[-1] < keras_losses[0]            # it did train
    weights = dict(enumerate(to_keras_lstm(model.lstm) + to_keras_dense(model.head)))
    assert_parity(weights, dict(enumerate(keras_model.get_weights())))
    x_test, y_test = ex.random_data(rng, 64)
    with limit_blas_threads(1):
        logits = train.predict(model, x_test)
    assert rel_error(logits, keras_model.predict(x_test, verbose=0)) < PARITY
    keras_accuracy = keras_model.evaluate(x_test, y_test, return_dict=True, verbose=0)["accuracy"]
    assert ex.accuracy(logits, y_test) == pytest.approx(keras_accuracy, abs=1e-12)

    # planted: the two differences the example removes; each must drift from Keras's run
    torch_eps = ex.build_model(seed=1)
    drift = worst_step(numpylstm_losses(torch_eps, Adam(torch_eps.parameters(), lr=0.001, eps=1e-7), batches),
                       keras_losses)
    assert drift > CAUGHT, f"PyTorch's epsilon drifted only {drift:.1e}"
    two_biases = ex.build_model(seed=1).requires_grad_(True)
    drift = worst_step(numpylstm_losses(two_biases, ex.build_optimizer(two_biases), batches), keras_losses)
    assert drift > CAUGHT, f"a second trained bias drifted only {drift:.1e}"


# ================================================== 3. time-series regressor, trained (torch)
def torch_training(torch, model, batches):
    """The original's loop (MSELoss, Adam(lr=0.001)) from ``model``'s weights; its losses and final weights."""
    twin = original("time_series_regressor", torch)["LSTMModel"](input_size=10, hidden_size=20, num_layers=2,
                                                                 output_size=1)
    twin.load_state_dict({name.replace("head.", "fc."): t for name, t in to_torch_state_dict(model).items()})
    criterion, optimizer = torch.nn.MSELoss(), torch.optim.Adam(twin.parameters(), lr=0.001)
    losses = []
    for x, y in batches:
        loss = criterion(twin(torch.tensor(x)), torch.tensor(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, numpy_of({name.replace("fc.", "head."): p for name, p in twin.named_parameters()})


def test_program3_regressor_trains_step_for_step_as_pytorch(torch, rng):
    ex = example("time_series_regressor")
    batches = [(rng.standard_normal((32, 5, 10)), rng.standard_normal((32, 1))) for _ in range(100)]
    model = ex.build_model(seed=2)
    assert_distinct_biases(model.lstm)
    torch_losses, torch_weights = torch_training(torch, model, batches)

    def numpylstm_run(model, optimizer):
        with limit_blas_threads(1):
            return [ex.train_step(model, optimizer, x, y) for x, y in batches]

    assert worst_step(numpylstm_run(model, ex.build_optimizer(model)), torch_losses) < PARITY
    assert_parity(model.state_dict(), torch_weights)
    # planted: Keras's epsilon in place of PyTorch's must drift
    keras_eps = ex.build_model(seed=2)
    drift = worst_step(numpylstm_run(keras_eps, Adam(keras_eps.parameters(), lr=0.001, eps_style="keras")),
                       torch_losses)
    assert drift > CAUGHT, f"Keras's epsilon drifted only {drift:.1e}"


# ====================================================================== 4. LSTM vs LSTMCell
def original_lstm_and_cell(torch, lstm):
    """Program 4's two modules sharing the numpylstm ``lstm``'s weights, as the original shares them."""
    twin = torch.nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True)
    twin.load_state_dict(to_torch_state_dict(lstm))
    cell = torch.nn.LSTMCell(lstm.input_size, lstm.hidden_size)
    cell.weight_ih, cell.weight_hh = twin.weight_ih_l0, twin.weight_hh_l0
    cell.bias_ih, cell.bias_hh = twin.bias_ih_l0, twin.bias_hh_l0
    return twin, cell


def original_cell_loop(torch, cell, x, truncated=False):
    """The original's loop; ``truncated`` plants a loop whose gradient stops at each step's state."""
    h = c = torch.zeros(x.size(0), cell.hidden_size)
    outputs = []
    for t in range(x.size(1)):
        h, c = cell(x[:, t, :], (h.detach(), c.detach()) if truncated else (h, c))
        outputs.append(h)
    return torch.stack(outputs, dim=1)


def torch_gradients(torch, run, module, x, d_out):
    """Output, dx and the weight gradients (under the cell's names) of ``run(x_tensor)``."""
    module.zero_grad()
    x_t = torch.tensor(x, requires_grad=True)
    out = run(x_t)
    (out * torch.tensor(d_out)).sum().backward()
    grads = {name.replace("_l0", ""): grad(p) for name, p in module.named_parameters()}
    return numpy_of({"output": out, "dx": grad(x_t), **grads})


def test_program4_lstm_and_cell_loop_match_pytorch(torch, rng):
    ex = example("lstm_vs_cell")
    lstm, cell = ex.build(seed=4)
    assert_distinct_biases(lstm)
    twin, twin_cell = original_lstm_and_cell(torch, lstm)
    x = rng.standard_normal((3, 6, ex.INPUT_SIZE))
    d_out = rng.standard_normal((3, 6, ex.HIDDEN_SIZE))

    out_lstm, _ = lstm(x)
    dx_lstm, _ = lstm.backward(d_out)
    ours_lstm = {"output": out_lstm, "dx": dx_lstm,
                 **{name.replace("_l0", ""): p.grad for name, p in lstm.named_parameters()}}
    out_cell, _ = ex.run_cell(cell, x)
    ours_cell = {"output": out_cell, "dx": ex.run_cell_backward(cell, d_out),
                 **{name: p.grad for name, p in cell.named_parameters()}}
    assert_parity(ours_lstm, torch_gradients(torch, lambda x_t: twin(x_t)[0], twin, x, d_out))
    loop = lambda x_t: original_cell_loop(torch, twin_cell, x_t)  # noqa: E731
    assert_parity(ours_cell, torch_gradients(torch, loop, twin_cell, x, d_out))
    assert_parity(ours_cell, ours_lstm)                  # the program's own claim, gradients included
    # planted: truncated backpropagation in the original's loop; every gradient but the output shows it
    truncated = lambda x_t: original_cell_loop(torch, twin_cell, x_t, truncated=True)  # noqa: E731
    planted = errors(ours_cell, torch_gradients(torch, truncated, twin_cell, x, d_out))
    assert {name for name, error in planted.items() if error > CAUGHT} == set(ours_cell) - {"output"}


# ================================================================ 5. an LSTM from scratch
def program5_run(torch, model, x, d_out, changes=()):
    """The original's outputs, (h, c) and gradients, its gate Linear's in numpylstm's LSTM layout."""
    I, H = model.lstm.input_size, model.lstm.hidden_size
    twin = original("lstm_from_scratch", torch, changes)["LSTMFromScratch"](I, H, model.head[-1].out_features)
    weight, bias = to_fused_gates(model.lstm, order="fiog")
    twin.gates.load_state_dict({"weight": torch.tensor(weight), "bias": torch.tensor(bias)})
    twin.head.load_state_dict(to_torch_state_dict(model.head))
    x_t = torch.tensor(x, requires_grad=True)
    outputs, (h, c) = twin(x_t)
    (outputs * torch.tensor(d_out)).sum().backward()
    gate_grads = from_fused_gates(twin.gates.weight.grad.numpy(), twin.gates.bias.grad.numpy(), I, order="fiog")
    head_grads = numpy_of({f"head.{name}": p.grad for name, p in twin.head.named_parameters()})
    lstm_grads = {f"lstm.{name}": grad for name, grad in gate_grads.items()}
    return {**numpy_of({"outputs": outputs, "h": h, "c": c, "dx": x_t.grad}), **lstm_grads, **head_grads}


def test_program5_from_scratch_lstm_matches_pytorch(torch, rng):
    ex = example("lstm_from_scratch")
    model = ex.LSTMFromScratch(input_size=5, hidden_size=8, output_size=3, seed=5)
    x = rng.standard_normal((3, 7, 5))
    outputs, (h, c) = model(x)
    d_out = rng.standard_normal(outputs.shape)
    dx = model.backward(d_out)
    ours = {"outputs": outputs, "h": h, "c": c, "dx": dx, **{name: p.grad for name, p in model.named_parameters()}}
    assert_parity(ours, program5_run(torch, model, x, d_out))
    assert not model.lstm.bias_hh_l0.grad.any()           # frozen: the original has one bias
    # planted: the other reading of the "tanh for g; c = f*c + i*tanh(g)": tanh applied twice
    tanh_twice = [("c = f * c + i * torch.tanh(g)", "c = f * c + i * torch.tanh(torch.tanh(g))")]
    planted = errors(ours, program5_run(torch, model, x, d_out, tanh_twice))
    assert min(planted["outputs"], planted["lstm.weight_ih_l0"]) > CAUGHT


def test_program5_initialises_every_matrix_xavier_uniform_as_the_original():
    # U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) of the matrix as the original holds it: the gate
    # Linear's (4H, I + H) as one, not weight_ih and weight_hh apart (their bounds would be wider)
    model = example("lstm_from_scratch").LSTMFromScratch(input_size=10, hidden_size=32, output_size=4, seed=0)
    gate_weight, _ = to_fused_gates(model.lstm, order="fiog")
    for weight in (gate_weight, model.head[0].weight.data, model.head[2].weight.data):
        bound = math.sqrt(6 / sum(weight.shape))
        assert 0.95 * bound < np.abs(weight).max() <= bound
        assert np.var(weight) == pytest.approx(bound ** 2 / 3, rel=0.2)
    assert math.sqrt(6 / (10 + 4 * 32)) > 1.05 * math.sqrt(6 / sum(gate_weight.shape))
