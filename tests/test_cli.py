"""The command line: each command runs on tiny settings, writes its files, and fails cleanly."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numpylstm.recurrent as recurrent
from numpylstm import cli, io, models, tasks, train
from numpylstm.cli import DEFAULTS, TASKS, main
from numpylstm.seq2seq import Seq2Seq

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert path.stat().st_size > 1000, f"{path} is (nearly) empty"


def assert_clean_failure(capsys, code, expected_code=2):
    """The command failed with ``expected_code`` and printed one line, with the one prefix, on stderr."""
    err = capsys.readouterr().err
    assert code == expected_code, err
    assert err.count("\n") == 1 and err.startswith("numpylstm: error: "), err
    return err.rstrip("\n")


def refuse_to_train(monkeypatch):
    """Make any training fail the test: the command must stop before it."""
    def no_training(*args, **kwargs):
        raise AssertionError("training started")
    monkeypatch.setattr(tasks, "run", no_training)


# ---------------------------------------------------------------------------- demo
def test_quick_demo_runs_and_writes_both_figures(tmp_path, capsys):
    out = tmp_path / "figures"  # does not exist yet: the demo creates it
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "all 11 gradients agree with finite differences" in text
    assert f"epoch {tasks.DEMO_QUICK.epochs}/{tasks.DEMO_QUICK.epochs}" in text
    assert "last-value baseline" in text and "of the baseline" in text
    assert_png(out / "loss.png")
    assert_png(out / "prediction.png")
    assert str(out / "loss.png") in text and str(out / "prediction.png") in text


def test_the_quick_demo_learns_and_says_it_is_a_smoke_test(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    verdict = capsys.readouterr().out.strip().splitlines()[-2]
    ratio = float(re.search(r"test error is ([\d.]+)% of the naive forecast's", verdict).group(1))
    assert ratio < 10 and "(below the 10% target)" in verdict
    assert "--quick" in verdict and "smaller model" in verdict


@pytest.mark.parametrize("ratio, words", [
    (0.05, "is 5.0% of the naive forecast's (below the 10% target)"),
    (0.5, "is 50.0% of the naive forecast's (not below the 10% target)"),
    (12.551, "has not learned yet: its test error is 12.6 times the naive forecast's"),   # never "1255.1%"
])
def test_the_demo_verdict_reads_well_whatever_the_ratio(ratio, words):
    assert words in cli.verdict({"test_mse": ratio, "baseline_mse": 1.0})


# --------------------------------------------------------------------------- train
TINY = {
    "sine": ["--samples", "64"],
    "adding": ["--samples", "64"],
    "reverse": ["--samples", "64"],
    "classify": ["--samples", "64"],
    "chars": ["--samples", "8"],
}


def rebuild(path, task):
    """A model with the configuration stored in the weight file (Seq2Seq: its tiny CLI sizes)."""
    config = io.read_info(path)["config"]
    if task == "reverse":
        assert config["class"] == "Seq2Seq"
        return Seq2Seq(13, 16, 4, batch_first=True, dtype=np.float32)
    return getattr(models, config["class"])(**config["args"])


@pytest.mark.parametrize("task", TASKS)
def test_train_every_task_for_one_epoch_saves_loadable_weights(tmp_path, capsys, task):
    argv = ["train", "--task", task, "--epochs", "1", "--hidden", "4", "--batch-size", "16",
            "--out", str(tmp_path), *TINY[task]]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "epoch 1/1" in text
    path = tmp_path / f"{task}.npz"
    model = io.load(rebuild(path, task), path)
    for name, param in model.named_parameters():
        assert np.all(np.isfinite(param.data)), name
    assert io.read_info(path)["metadata"]["settings"]["hidden"] == 4
    assert_png(tmp_path / "loss.png")
    if task == "sine":
        assert_png(tmp_path / "prediction.png")
    if task == "chars":
        assert text.count("--- sample at temperature") == 3
        assert "unigram entropy" in text


def test_train_quiet_prints_no_progress_but_the_result(tmp_path, capsys):
    assert main(["train", "--task", "classify", "--epochs", "2", "--hidden", "4", "--samples", "32",
                 "--quiet", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "epoch 1/2" not in text and "epoch 2/2" not in text
    assert "validation accuracy" in text and "chance: 33.3%" in text


def test_train_help_lists_every_task_with_its_defaults(capsys):
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for task in TASKS:
        assert f"  {task} " in text
    assert f"--hidden {DEFAULTS['chars'].hidden}" in text


# ----------------------------------------------------------------------- gradcheck
def test_gradcheck_prints_the_table_and_exits_0(capsys):
    assert main(["gradcheck", "--layers", "1", "--hidden", "3", "--seq-len", "3"]) == 0
    text = capsys.readouterr().out
    assert "rel. error" in text and "weight_hh_l0" in text
    assert "all 7 gradients agree with finite differences" in text


def test_gradcheck_with_both_directions_and_a_projection(capsys):
    assert main(["gradcheck", "--layers", "2", "--hidden", "3", "--proj-size", "2", "--bidirectional",
                 "--seq-len", "3", "--batch", "1"]) == 0
    text = capsys.readouterr().out
    assert "weight_hr_l1_reverse" in text and "WRONG" not in text


def test_gradcheck_exits_1_and_names_the_gate_of_a_planted_bug(capsys, monkeypatch):
    real_forward, real_backward = recurrent.ENGINES["fast"]

    def forget_gate_halved(*args):
        dx, dh0, dc0, grads = real_backward(*args)
        W_hh = grads.W_hh.copy()
        H = W_hh.shape[0] // 4
        W_hh[H:2 * H] *= 0.5
        return dx, dh0, dc0, grads._replace(W_hh=W_hh)

    monkeypatch.setitem(recurrent.ENGINES, "fast", (real_forward, forget_gate_halved))
    assert main(["gradcheck", "--layers", "1", "--hidden", "3", "--seq-len", "3"]) == 1
    text = capsys.readouterr().out
    assert "WRONG" in text and "weight_hh_l0: relative error" in text and "in gate f" in text


def lstm_numbers(layers, hidden, input_size, seq_len, batch, directions=1):
    """How many numbers a gradient check perturbs: input, h0, c0 and every weight and bias."""
    weights = 0
    for layer in range(layers):
        layer_input = input_size if layer == 0 else directions * hidden
        weights += directions * (4 * hidden * layer_input + 4 * hidden * hidden + 2 * 4 * hidden)
    states = 2 * layers * directions * batch * hidden
    return seq_len * batch * input_size + states + weights


def test_gradcheck_estimates_its_forward_passes_before_the_table(capsys):
    assert main(["gradcheck", "--layers", "2", "--hidden", "3", "--seq-len", "3", "--bidirectional"]) == 0
    text = capsys.readouterr().out
    passes = 1 + 2 * lstm_numbers(layers=2, hidden=3, input_size=3, seq_len=3, batch=2, directions=2)
    estimate = re.search(r"^([\d,]+) forward passes \(2 per number in the input, the initial states and the "
                         r"weights\) of about [\d.e+-]+ ms each: about (.+)$", text, re.M)
    assert estimate is not None, text
    assert int(estimate.group(1).replace(",", "")) == passes
    assert text.index(estimate.group(0)) < text.index("rel. error")
    assert "% done" not in text            # a check of a second or less prints no progress lines


def test_a_long_gradcheck_prints_a_progress_line_per_tensor(capsys, monkeypatch):
    monkeypatch.setattr(cli, "PROGRESS_AFTER_SECONDS", 0.0)   # as if the check were long
    assert main(["gradcheck", "--layers", "1", "--hidden", "3", "--seq-len", "2"]) == 0
    text = capsys.readouterr().out
    progress = re.findall(r"^ +(\d+)% done after +\d+ s, about .+ left: (\w+) \(([\d, ]*)\), ([\d,]+) passes$",
                          text, re.M)
    names = ["input", "h0", "c0", "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert [name for _, name, _, _ in progress] == names
    assert [int(p.replace(",", "")) for *_, p in progress] == [2 * 2 * 2 * 3, 2 * 2 * 3, 2 * 2 * 3, 2 * 12 * 3,
                                                                 2 * 12 * 3, 2 * 12, 2 * 12]
    shares = [int(share) for share, *_ in progress]
    assert shares[0] == 0 and shares == sorted(shares) and shares[-1] < 100
    assert text.index("% done") < text.index("rel. error")


# -------------------------------------------------------------------- predict, sample
def summary_after_training(text):
    """The lines ``numpylstm train`` prints between its recipe line and the weights line."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("training: Adam")) + 1
    end = next(k for k, line in enumerate(lines) if line.startswith("weights: "))
    return "\n".join(lines[start:end])


@pytest.mark.parametrize("task", TASKS)
def test_predict_task_measures_a_saved_model_as_training_did(tmp_path, capsys, task):
    assert tiny_train(task, tmp_path) == 0
    after_training = summary_after_training(capsys.readouterr().out)
    after_training = re.sub(r", training [\d.]+ nats/char", "", after_training)   # chars: not measured again
    assert main(["predict", str(tmp_path / f"{task}.npz"), "--task", task]) == 0
    first, *rest = capsys.readouterr().out.splitlines()
    assert first.endswith(f"measured on the {task} task's held-out data (seed 0, as after training)")
    assert "\n".join(rest) == after_training


def test_predict_task_on_other_data_and_on_the_wrong_task(tmp_path, capsys):
    assert tiny_train("classify", tmp_path) == 0
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "classify.npz"), "--task", "classify", "--seed", "5"]) == 0
    assert "(seed 5)" in capsys.readouterr().out
    line = assert_clean_failure(capsys, main(["predict", str(tmp_path / "classify.npz"), "--task", "sine"]))
    assert line == "numpylstm: error: task must be the one the model was trained on, 'classify', got 'sine'"


def test_predict_input_writes_the_models_predictions(tmp_path, capsys):
    assert tiny_train("sine", tmp_path) == 0
    X = tasks.sine_data(tasks.DEFAULTS["sine"]._replace(samples=64)).X_test[:7]
    np.save(tmp_path / "windows.npy", X)
    assert main(["predict", str(tmp_path / "sine.npz"), "--input", str(tmp_path / "windows.npy")]) == 0
    written = np.load(tmp_path / "windows-predictions.npy")
    model = io.load_model(tmp_path / "sine.npz")
    np.testing.assert_array_equal(written, train.predict(model, X))
    assert written.shape == (7, 1)
    assert str(tmp_path / "windows-predictions.npy") in capsys.readouterr().out
    # An existing output is kept unless --force; --output chooses another.
    line = assert_clean_failure(capsys, main(["predict", str(tmp_path / "sine.npz"), "--input",
                                              str(tmp_path / "windows.npy")]), 1)
    assert "already holds windows-predictions.npy" in line and "--force" in line
    assert main(["predict", str(tmp_path / "sine.npz"), "--input", str(tmp_path / "windows.npy"),
                 "--output", str(tmp_path / "p" / "mine.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "p" / "mine.npy"), written)


def test_predict_input_for_each_kind_of_model(tmp_path):
    cases = {
        "classify": (np.random.default_rng(0).standard_normal((6, 30, 1)), (6,)),
        "chars": (np.array([[3, 4, 5, 6], [7, 8, 9, 10]]), (2, 4)),
        "reverse": (np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]]), (2, 6)),
    }
    for task, (inputs, shape) in cases.items():
        assert tiny_train(task, tmp_path / task) == 0
        np.save(tmp_path / f"{task}.npy", inputs)
        assert main(["predict", str(tmp_path / task / f"{task}.npz"), "--input", str(tmp_path / f"{task}.npy")]) == 0
        written = np.load(tmp_path / f"{task}-predictions.npy")
        assert written.shape == shape and written.dtype.kind == "i", (task, written.shape, written.dtype)


def test_predict_refuses_files_it_cannot_use_in_one_line(tmp_path, capsys):
    assert tiny_train("classify", tmp_path) == 0
    model = str(tmp_path / "classify.npz")
    (tmp_path / "text.npy").write_text("not an array")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "pair.npz", a=np.zeros(2))
    np.save(tmp_path / "wrong-shape.npy", np.zeros((4, 30, 2)))
    capsys.readouterr()
    for argv, code, words in [
        (["predict", str(tmp_path / "missing.npz"), "--task", "classify"], 1, "no weight file at"),
        (["predict", str(tmp_path / "text.npy"), "--task", "classify"], 1, "text.npy"),
        (["predict", model, "--input", str(tmp_path / "missing.npy")], 1, "No such file or directory"),
        (["predict", model, "--input", str(tmp_path / "text.npy")], 1, "is not an .npy file of numbers"),
        (["predict", model, "--input", str(tmp_path / "objects.npy")], 1, "is not an .npy file of numbers"),
        (["predict", model, "--input", str(tmp_path / "pair.npz")], 1, "is an .npz archive"),
        (["predict", model, "--input", str(tmp_path / "wrong-shape.npy")], 2, "2"),
    ]:
        line = assert_clean_failure(capsys, main(argv), code)
        assert words in line, (argv, line)


def test_sample_writes_what_training_sampled_and_follows_its_options(tmp_path, capsys):
    assert tiny_train("chars", tmp_path) == 0
    trained = capsys.readouterr().out
    at_half = re.search(r"--- sample at temperature 0.5:\n(.*?)\n---", trained, re.S).group(1)
    model = str(tmp_path / "chars.npz")
    assert main(["sample", model, "--temperature", "0.5", "--length", "240", "--seed", "0"]) == 0
    assert capsys.readouterr().out == at_half + "\n"
    assert main(["sample", model, "--prompt", "Shall I ", "--length", "30", "--seed", "3"]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("Shall I ") and len(text) == len("Shall I ") + 30
    assert main(["sample", model, "--prompt", "Shall I ", "--length", "30", "--seed", "3"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == text


def test_sample_refuses_unknown_characters_and_other_models(tmp_path, capsys):
    assert tiny_train("chars", tmp_path / "chars") == 0 and tiny_train("adding", tmp_path / "adding") == 0
    capsys.readouterr()
    line = assert_clean_failure(capsys, main(["sample", str(tmp_path / "chars" / "chars.npz"), "--prompt", "Thoë€"]))
    assert line == "numpylstm: error: prompt holds characters the model does not know: ['ë', '€']"
    line = assert_clean_failure(capsys, main(["sample", str(tmp_path / "adding" / "adding.npz")]))
    assert "model must be a CharLM" in line and "SequenceRegressor" in line


# -------------------------------------------------------------------- bad input
@pytest.mark.parametrize("argv, message", [
    (["train", "--task", "poetry"], "argument --task: invalid choice: 'poetry'"),
    (["train", "--task", "sine", "--hidden", "0"], "argument --hidden: must be a positive integer, got 0"),
    (["train", "--task", "sine", "--lr", "fast"], "argument --lr: must be a positive number, got 'fast'"),
    (["train", "--epochs", "1"], "the following arguments are required: --task"),
    (["gradcheck", "--colour"], "unrecognized arguments: --colour"),
    ([], "the following arguments are required: COMMAND"),
    # errors of a command's own parser once said "numpylstm gradcheck: error:" under a usage block
    (["gradcheck", "--hidden", "0"], "argument --hidden: must be a positive integer, got 0 (see 'numpylstm gradcheck --help')"),
    (["demo", "--format", "gif"], "argument --format: invalid choice: 'gif'"),
    (["train", "--task", "sine", "--dpi", "0"], "argument --dpi: must be a positive integer, got 0"),
    (["predict", "model.npz"], "one of the arguments --input --task is required"),
    (["predict", "m.npz", "--input", "x.npy", "--task", "sine"], "not allowed with argument"),
    (["predict", "m.npz", "--input", "x.npy", "--seed", "3"], "--seed goes with --task"),
    (["sample", "m.npz", "--temperature", "0"], "argument --temperature: must be a positive finite number"),
])
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, message):
    line = assert_clean_failure(capsys, main(argv))
    assert message in line


def test_a_value_the_library_refuses_gives_one_line_and_exit_2(capsys):
    line = assert_clean_failure(capsys, main(["gradcheck", "--hidden", "3", "--proj-size", "3"]))
    assert line == ("numpylstm: error: proj_size must be smaller than hidden_size, "
                    "got proj_size=3 and hidden_size=3")


def test_a_multi_line_library_error_is_joined_into_one_line(capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise ValueError("first problem:\n  second problem")

    monkeypatch.setattr("numpylstm.tasks.plan_gradient_check", refuse)
    line = assert_clean_failure(capsys, main(["gradcheck"]))
    assert line == "numpylstm: error: first problem:; second problem"


def test_an_unwritable_output_folder_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    refuse_to_train(monkeypatch)
    code = main(["train", "--task", "sine", "--epochs", "1", "--samples", "32", "--out", str(blocker / "sub")])
    line = assert_clean_failure(capsys, code, expected_code=1)
    assert "a-file" in line and "is a file" in line


# -------------------------------------------------------------- where commands write
def test_an_out_that_is_a_file_is_refused_before_training(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "results.txt"
    blocker.write_text("a user's notes")
    refuse_to_train(monkeypatch)
    line = assert_clean_failure(capsys, main(["train", "--task", "adding", "--out", str(blocker)]), 1)
    assert line == f"numpylstm: error: --out {str(blocker)!r} is a file, not a folder; choose another --out"
    assert blocker.read_text() == "a user's notes"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions (root writes anyway)")
def test_a_read_only_out_folder_is_refused_before_training(tmp_path, capsys, monkeypatch):
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    refuse_to_train(monkeypatch)
    try:
        line = assert_clean_failure(capsys, main(["train", "--task", "sine", "--out", str(read_only)]), 1)
    finally:
        read_only.chmod(0o755)
    assert line == f"numpylstm: error: cannot write into --out {str(read_only)!r}: Permission denied"


def test_a_folder_that_refuses_writes_is_named_not_a_hidden_temporary_file(tmp_path, capsys, monkeypatch):
    """Root ignores permission bits: a read-only file system is simulated at the write test."""
    def read_only_file_system(*args, **kwargs):
        raise OSError(30, "Read-only file system", str(tmp_path / ".numpylstm-write-test-x"))
    monkeypatch.setattr(cli.tempfile, "mkstemp", read_only_file_system)
    refuse_to_train(monkeypatch)
    line = assert_clean_failure(capsys, main(["demo", "--out", str(tmp_path)]), 1)
    assert line == f"numpylstm: error: cannot write into --out {str(tmp_path)!r}: Read-only file system"


def tiny_train(task, out, *options):
    return main(["train", "--task", task, "--epochs", "1", "--hidden", "4", "--batch-size", "16", "--quiet",
                 "--out", str(out), *TINY[task], *options])


def test_an_earlier_run_is_not_overwritten_without_force(tmp_path, capsys, monkeypatch):
    assert tiny_train("classify", tmp_path) == 0
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert sorted(before) == ["classify.npz", "loss.png"]
    real_run = tasks.run
    refuse_to_train(monkeypatch)
    capsys.readouterr()
    line = assert_clean_failure(capsys, tiny_train("classify", tmp_path, "--seed", "1"), 1)
    assert line == (f"numpylstm: error: {str(tmp_path)!r} already holds classify.npz, loss.png from an earlier "
                    "run; add --force to replace them, or choose another folder")
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before
    monkeypatch.setattr(tasks, "run", real_run)
    assert tiny_train("classify", tmp_path, "--seed", "1", "--force") == 0
    assert io.read_info(tmp_path / "classify.npz")["metadata"]["settings"]["seed"] == 1


def test_other_files_in_the_out_folder_are_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "loss.svg").write_text("<svg/>")     # another format: not this run's file
    assert tiny_train("adding", tmp_path) == 0
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "loss.svg").read_text() == "<svg/>"


def test_force_cannot_replace_a_folder_and_says_so_before_training(tmp_path, capsys, monkeypatch):
    (tmp_path / "loss.png").mkdir()
    refuse_to_train(monkeypatch)
    line = assert_clean_failure(capsys, tiny_train("adding", tmp_path, "--force"), 1)
    assert line == f"numpylstm: error: cannot replace {str(tmp_path / 'loss.png')!r}: it is a folder"


def test_the_default_out_is_runs_task_and_make_clean_removes_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert tiny_train("adding", "runs/adding") == 0 and (tmp_path / "runs" / "adding" / "adding.npz").is_file()
    assert main(["train", "--task", "adding", "--epochs", "1", "--hidden", "2", "--samples", "16", "--quiet"]) == 1
    clean = re.search(r"^clean:\n\t(.*)$", (REPO / "Makefile").read_text(), re.M).group(1).split()
    assert cli.DEMO_OUT in clean and cli.TRAIN_OUT in clean


@pytest.mark.parametrize("figure_format, signature", [("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_figures_in_another_format(tmp_path, figure_format, signature):
    assert tiny_train("sine", tmp_path, "--format", figure_format) == 0
    for name in ("loss", "prediction"):
        assert (tmp_path / f"{name}.{figure_format}").read_bytes().startswith(signature)
    assert not list(tmp_path.glob("*.png"))


def test_dpi_sets_the_resolution_of_png_figures(tmp_path):
    widths = {}
    for dpi in ("100", "300"):
        assert tiny_train("adding", tmp_path / dpi, "--dpi", dpi) == 0
        widths[dpi] = int.from_bytes((tmp_path / dpi / "loss.png").read_bytes()[16:20], "big")
    # Text is laid out a little differently at each resolution, so the width is not exactly 3x.
    assert widths["300"] == pytest.approx(3 * widths["100"], rel=0.03)


def test_the_default_dpi_in_help_is_the_one_figures_get(tmp_path, capsys):
    from numpylstm import plot
    assert cli.FIGURE_DPI == plot.DEFAULT_DPI
    assert main(["train", "--help"]) == 0
    assert f"(default: {plot.DEFAULT_DPI})" in capsys.readouterr().out
    assert tiny_train("adding", tmp_path / "default") == 0
    assert tiny_train("adding", tmp_path / "given", "--dpi", str(plot.DEFAULT_DPI)) == 0
    assert (tmp_path / "default" / "loss.png").read_bytes()[16:24] == (tmp_path / "given" / "loss.png").read_bytes()[16:24]


def test_commands_that_draw_nothing_do_not_load_matplotlib():
    code = "import sys, numpylstm.cli; assert 'matplotlib' not in sys.modules, 'matplotlib loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_help_says_why_float32_and_that_python_defaults_to_float64(capsys):
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "default: float32, about twice as fast as float64" in text
    assert "numpylstm's modules default to float64 in Python" in text


def test_python_dash_m_numpylstm_reports_bad_values_without_a_traceback():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-m", "numpylstm", "gradcheck", "--hidden", "2", "--proj-size", "5"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == ("numpylstm: error: proj_size must be smaller than hidden_size, "
                             "got proj_size=5 and hidden_size=2\n")


@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["gradcheck"], ["predict"], ["sample"]])
def test_help_everywhere(capsys, command):
    assert main([*command, "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: numpylstm")


# ------------------------------------------------------------- training helpers
def test_cosine_decay_runs_the_learning_rate_down_half_a_cosine():
    from numpylstm.module import Parameter
    from numpylstm.optim import SGD, CosineDecay
    optimizer = SGD([Parameter(np.zeros(1))], lr=0.1)
    schedule = CosineDecay(optimizer, total_steps=5, final_fraction=0.1)
    seen = []
    for _ in range(7):          # steps k = 0 .. 6: the one past the end stays at the floor
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    # lr_k = 0.1 * (0.1 + 0.9 * (1 + cos(pi k / 5)) / 2), written out for k = 0 .. 5
    cos = [1.0, 0.8090169943749475, 0.30901699437494745, -0.30901699437494734, -0.8090169943749473, -1.0]
    expected = [0.1 * (0.1 + 0.45 * (1 + c)) for c in cos] + [0.01]
    np.testing.assert_allclose(seen, expected, rtol=1e-12)


def test_commands_run_with_one_blas_thread_and_restore_the_count(monkeypatch):
    from threadpoolctl import threadpool_limits
    from numpylstm import cli
    from numpylstm.threads import USER_CHOICE_VARIABLES, blas_threads
    seen = []
    monkeypatch.setattr(cli, "run_gradcheck", lambda args: seen.append(blas_threads()) or 0)
    for name in USER_CHOICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != 2:
            pytest.skip(f"NumPy's BLAS cannot run 2 threads here ({blas_threads()}); nothing to limit")
        assert main(["gradcheck"]) == 0
        assert blas_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "2")   # the user's choice is kept
        assert main(["gradcheck"]) == 0
    assert seen == [1, 2]


# ------------------------------------------------------------------ sizes (issue 14)
@pytest.mark.parametrize("argv, fragments", [
    (["gradcheck", "--hidden", "1000000"], ["LSTM(3, 1000000, num_layers=2) needs", "TiB"]),
    (["gradcheck", "--layers", "99999999999999999999"], ["num_layers=99999999999999999999", "needs"]),
])
def test_a_size_that_cannot_fit_is_one_line_and_exit_2(capsys, argv, fragments):
    line = assert_clean_failure(capsys, main(argv))
    assert line.startswith("numpylstm: error: ") and all(fragment in line for fragment in fragments)


def test_memory_that_runs_out_anyway_is_one_line_and_exit_1(capsys, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 47.7 GiB for an array with shape (160000, 40000)")
    monkeypatch.setattr("numpylstm.tasks.plan_gradient_check", out_of_memory)
    line = assert_clean_failure(capsys, main(["gradcheck"]), expected_code=1)
    assert line == "numpylstm: error: Unable to allocate 47.7 GiB for an array with shape (160000, 40000)"
