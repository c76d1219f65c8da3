"""The command line: each command runs on tiny settings, writes its files, and fails cleanly."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numpylstm.recurrent as recurrent
from numpylstm import io, models
from numpylstm.cli import DEFAULTS, TASKS, main
from numpylstm.seq2seq import Seq2Seq

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert path.stat().st_size > 1000, f"{path} is (nearly) empty"


def error_lines(stderr):
    """The lines of stderr that report an error (argparse prints its usage lines before)."""
    return [line for line in stderr.splitlines() if "error:" in line]


def assert_clean_failure(capsys, code, expected_code=2):
    err = capsys.readouterr().err
    assert code == expected_code, err
    assert "Traceback" not in err
    assert len(error_lines(err)) == 1, err
    return error_lines(err)[0]


# ---------------------------------------------------------------------------- demo
def test_quick_demo_runs_and_writes_both_figures(tmp_path, capsys):
    out = tmp_path / "figures"  # does not exist yet: the demo creates it
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "all 11 gradients agree with finite differences" in text
    assert "epoch 2/2" in text
    assert "last-value baseline" in text and "of the baseline" in text
    assert_png(out / "loss.png")
    assert_png(out / "prediction.png")
    assert str(out / "loss.png") in text and str(out / "prediction.png") in text


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


# -------------------------------------------------------------------- bad input
@pytest.mark.parametrize("argv, message", [
    (["train", "--task", "poetry"], "argument --task: invalid choice: 'poetry'"),
    (["train", "--task", "sine", "--hidden", "0"], "argument --hidden: must be a positive integer, got 0"),
    (["train", "--task", "sine", "--lr", "fast"], "argument --lr: must be a positive number, got 'fast'"),
    (["train", "--epochs", "1"], "the following arguments are required: --task"),
    (["gradcheck", "--colour"], "unrecognized arguments: --colour"),
    ([], "the following arguments are required: COMMAND"),
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

    monkeypatch.setattr("numpylstm.tasks.gradient_check", refuse)
    line = assert_clean_failure(capsys, main(["gradcheck"]))
    assert line == "numpylstm: error: first problem:; second problem"


def test_an_unwritable_output_folder_is_one_line_and_exit_1(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["train", "--task", "sine", "--epochs", "1", "--samples", "32", "--out", str(blocker / "sub")])
    line = assert_clean_failure(capsys, code, expected_code=1)
    assert "a-file" in line


def test_python_dash_m_numpylstm_reports_bad_values_without_a_traceback():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-m", "numpylstm", "gradcheck", "--hidden", "2", "--proj-size", "5"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == ("numpylstm: error: proj_size must be smaller than hidden_size, "
                             "got proj_size=5 and hidden_size=2\n")


@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["gradcheck"]])
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
    monkeypatch.setattr("numpylstm.tasks.gradient_check", out_of_memory)
    line = assert_clean_failure(capsys, main(["gradcheck"]), expected_code=1)
    assert line == "numpylstm: error: Unable to allocate 47.7 GiB for an array with shape (160000, 40000)"
