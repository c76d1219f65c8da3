"""The exercise checkers: the reference passes, planted bugs are caught and named, stubs are 'not yet implemented'."""
import numpy as np
import pytest

from numpylstm import LSTM, exercises, rel_error
from numpylstm import functional as F
from numpylstm.exercises import check_sequence_backward, check_step_backward

STEP_OUTPUTS = ["dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"]
WEIGHT_OUTPUTS = ["dW_ih", "dW_hh", "db_ih", "db_hh"]


def student_step_backward(dh_next, dc_next, cache, bug=None):
    """A student's lstm_step_backward written from the equations, with one optional planted bug."""
    x, h_prev, c_prev, i, f, g, o, tanh_c = (cache.x, cache.h_prev, cache.c_prev, cache.i, cache.f,
                                             cache.g, cache.o, cache.tanh_c)
    do = dh_next * tanh_c
    dc = dc_next if bug == "dropped dc term" else dc_next + dh_next * o * (1 - tanh_c ** 2)
    slope = {"i": i * (1 - i), "f": f * (1 - f), "g": 1 - g ** 2, "o": o * (1 - o)}
    if bug and bug.startswith("wrong slope in "):   # sigmoid's slope for g, tanh's for the sigmoid gates
        gate = bug[-1]
        slope[gate] = g * (1 - g) if gate == "g" else 1 - {"i": i, "f": f, "o": o}[gate] ** 2
    da = np.concatenate([dc * g * slope["i"], dc * c_prev * slope["f"], dc * i * slope["g"], do * slope["o"]],
                        axis=1)
    dW_ih = x.T @ da if bug == "missing transpose in dW_ih" else da.T @ x
    dc_prev = dc_next * f if bug == "dc_prev without the h path" else dc * f
    db = da.sum(axis=0)
    return da @ cache.W_ih, da @ cache.W_hh, dc_prev, dW_ih, da.T @ h_prev, db, db.copy()


def with_bug(bug):
    return lambda dh_next, dc_next, cache: student_step_backward(dh_next, dc_next, cache, bug)


# --------------------------------------------------------------------- step exercise
@pytest.mark.parametrize("solution", [F.lstm_step_backward, student_step_backward], ids=["reference", "student"])
def test_a_correct_step_backward_passes(solution):
    report = check_step_backward(solution)
    assert report.passed and report.status == "passed"
    assert report.cases == 3 and report.wrong_outputs() == [] and report.hints == {}
    assert [o.name for o in report.outputs] == STEP_OUTPUTS
    assert max(o.rel_error for o in report.outputs) < 1e-13
    assert str(report).startswith("lstm_step_backward: passed")


def test_a_dropped_cell_term_is_attributed_to_dc():
    report = check_step_backward(with_bug("dropped dc term"))
    assert not report.passed and report.status == "wrong"
    assert set(report.wrong_outputs()) == set(STEP_OUTPUTS)   # dc feeds every output
    for name in WEIGHT_OUTPUTS:
        assert report.wrong_gates(name) == ["i", "f", "g"], name   # o does not go through c_t
    assert "h_t = o*tanh(c_t)" in report.hints["dc"] and "dc_next + dh_t * o" in report.hints["dc"]
    assert "dc_prev = dc_t * f" in report.hints["dc_prev"]
    assert list(report.hints) == ["dc", "dx", "dh_prev", "dc_prev"]


@pytest.mark.parametrize("gate", ["i", "f", "g", "o"])
def test_a_wrong_slope_is_attributed_to_its_gate(gate):
    report = check_step_backward(with_bug(f"wrong slope in {gate}"))
    assert not report.passed
    assert report.wrong_outputs() == ["dx", "dh_prev"] + WEIGHT_OUTPUTS   # dc_prev does not see da
    for name in WEIGHT_OUTPUTS:
        assert report.wrong_gates(name) == [gate], name
    assert list(report.hints) == [f"d{gate}", "dx", "dh_prev"]   # no noise about the weight formulas
    assert f"da_{gate} = d{gate} * " in report.hints[f"d{gate}"]
    assert f"gate(s) {gate}: fix those first" in report.hints["dx"]
    text = str(report)
    assert f"d{gate} is wrong" in text and "Traceback" not in text


def test_the_forget_gate_hint_names_the_cell_equation():
    report = check_step_backward(with_bug("wrong slope in f"))
    assert report.hints["df"].startswith(
        "df is wrong: remember dc_t reaches f through c_t = f*c_{t-1} + i*g")


def test_a_missing_transpose_is_reported_as_a_wrong_shape():
    report = check_step_backward(with_bug("missing transpose in dW_ih"))
    assert report.wrong_outputs() == ["dW_ih"]
    check = report["dW_ih"]
    assert check.expected_shape == (16, 3) and check.shape == (3, 16)
    assert "a transpose is missing" in check.problem
    assert "dW_ih has the wrong shape (3, 16), expected (16, 3)" in report.hints["dW_ih"]
    assert "bad shape" in str(report)


def test_a_cell_gradient_that_skips_the_hidden_path_is_attributed_to_dc_prev():
    report = check_step_backward(with_bug("dc_prev without the h path"))
    assert report.wrong_outputs() == ["dc_prev"]
    assert list(report.hints) == ["dc_prev"]
    assert "also flows through h_t = o*tanh(c_t)" in report.hints["dc_prev"]


def test_a_stub_is_not_yet_implemented():
    def lstm_step_backward(dh_next, dc_next, cache):
        raise NotImplementedError("write me")

    report = check_step_backward(lstm_step_backward)
    assert report.passed is False and report.status == "not yet implemented"
    assert str(report).startswith("lstm_step_backward: not yet implemented")
    assert "Traceback" not in str(report)


def test_an_exception_is_reported_with_the_students_line_not_a_traceback():
    def crashing(dh_next, dc_next, cache):
        da = np.ones((dh_next.shape[0], 4 * dh_next.shape[1]))
        return da @ cache.W_ih.T, None, None, None, None, None, None   # a transpose too many

    report = check_step_backward(crashing)
    assert report.status == "error" and not report.passed
    assert "ValueError" in report.message and "da @ cache.W_ih.T" in report.message
    assert "Traceback" not in str(report)


@pytest.mark.parametrize("returned, words", [
    (lambda: (1, 2), "a tuple of 7 arrays, got 2 values"),
    (lambda: None, "a tuple of 7 arrays, got a NoneType"),
])
def test_returning_the_wrong_thing_is_reported(returned, words):
    report = check_step_backward(lambda dh_next, dc_next, cache: returned())
    assert report.status == "error" and words in report.message


def test_a_none_among_the_outputs_is_a_wrong_output():
    def partial(dh_next, dc_next, cache):
        grads = list(F.lstm_step_backward(dh_next, dc_next, cache))
        grads[2] = None   # dc_prev not written yet
        return tuple(grads)

    report = check_step_backward(partial)
    assert report.wrong_outputs() == ["dc_prev"]
    assert "is None or not numbers" in report["dc_prev"].problem
    assert report.hints["dc_prev"].startswith("dc_prev is None or not numbers; expected an array of shape (2, 4)")


def test_the_table_lists_every_output_and_marks_the_wrong_gate():
    text = str(check_step_backward(with_bug("wrong slope in o")))
    lines = text.splitlines()
    assert lines[0] == "lstm_step_backward: 6 of 7 outputs wrong"
    header = lines[1].split()
    assert header[:3] == ["output", "shape", "rel."] and header[-4:] == ["i", "f", "g", "o"]
    rows = {line.split()[0]: line.split() for line in lines[3:3 + len(STEP_OUTPUTS)]}
    assert set(rows) == set(STEP_OUTPUTS)
    assert rows["dW_hh"][-4:] == ["ok", "ok", "ok", "WRONG"]
    assert rows["dc_prev"][-1] == "ok" and rows["dx"][-1] == "WRONG"
    assert "Hints:" in lines


# ----------------------------------------------------------------- sequence exercise
def student_sequence_backward(d_out, dh_n, dc_n, caches, bug=None):
    """A student's BPTT from the step kernel, with one optional planted bug."""
    T = len(caches)
    dx = [None] * T
    dW_ih, dW_hh, db = (np.zeros_like(caches[0].W_ih), np.zeros_like(caches[0].W_hh),
                        np.zeros(caches[0].W_ih.shape[0]))
    dh, dc = dh_n, dc_n
    for t in reversed(range(T)):
        dh_t = dh if bug == "no d_out" and t < T - 1 else dh + d_out[t]
        dx[t], dh, dc_prev, dW_ih_t, dW_hh_t, db_t, _ = F.lstm_step_backward(dh_t, dc, caches[t])
        dc = np.zeros_like(dc) if bug == "cell gradient not carried" else dc_prev
        if bug == "overwritten weight gradients":
            dW_ih, dW_hh, db = dW_ih_t, dW_hh_t, db_t
        elif bug == "weight gradients never added" and t < T - 1:
            pass
        else:
            dW_ih, dW_hh, db = dW_ih + dW_ih_t, dW_hh + dW_hh_t, db + db_t
    return np.stack(dx), dh, dc, dW_ih, dW_hh, db


def sequence_with_bug(bug):
    return lambda d_out, dh_n, dc_n, caches: student_sequence_backward(d_out, dh_n, dc_n, caches, bug)


def test_the_sequence_reference_equals_lstm_backward(rng):
    """The checker's own reference (the step kernel chained) against the LSTM module's fast backward."""
    T, N, I, H = 4, 3, 2, 5
    lstm = LSTM(I, H, seed=3)
    x, h0, c0 = rng.standard_normal((T, N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    lstm(x, (h0[None], c0[None]))
    d_out, dh_n, dc_n = rng.standard_normal((T, N, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dx, (dh0, dc0) = lstm.backward(d_out, (dh_n[None], dc_n[None]))
    weights = [p.data for p in (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)]
    h, c, caches = h0, c0, []
    for t in range(T):
        h, c, cache = F.lstm_step_forward(x[t], h, c, *weights)
        caches.append(cache)
    reference, per_step = exercises._reference_sequence_backward(d_out, dh_n, dc_n, caches)
    expected = (dx, dh0[0], dc0[0], lstm.weight_ih_l0.grad, lstm.weight_hh_l0.grad, lstm.bias_ih_l0.grad)
    for name, ours, theirs in zip(["dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"], reference, expected):
        assert rel_error(ours, theirs) < 1e-12, name
    assert len(per_step) == T
    assert rel_error(sum(step[0] for step in per_step), lstm.weight_ih_l0.grad) < 1e-12


def test_a_correct_sequence_backward_passes():
    report = check_sequence_backward(student_sequence_backward)
    assert report.passed, str(report)
    assert report.cases == 2
    assert [o.name for o in report.outputs] == ["dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"]
    assert max(o.rel_error for o in report.outputs) < 1e-12


@pytest.mark.parametrize("bug, step", [("overwritten weight gradients", "t = 0 (the first)"),
                                       ("weight gradients never added", "t = T-1 (the last)")])
def test_forgetting_to_accumulate_weight_gradients_is_caught(bug, step):
    report = check_sequence_backward(sequence_with_bug(bug))
    assert report.wrong_outputs() == ["dW_ih", "dW_hh", "db"]
    for name in ("dW_ih", "dW_hh", "db"):
        assert report.wrong_gates(name) == ["i", "f", "g", "o"], name
        assert report.hints[name].startswith(f"{name} equals the gradient of step {step} alone")
    assert "SUM of every step's gradient" in report.hints["accumulate"]
    assert not {"di", "df", "dg", "do", "da", "dc"} & set(report.hints)   # da itself is right


def test_a_cell_gradient_not_carried_back_is_attributed_to_dc0():
    report = check_sequence_backward(sequence_with_bug("cell gradient not carried"))
    assert "dc0" in report.wrong_outputs() and "dx" in report.wrong_outputs()
    assert "The cell gradient is carried" in report.hints["dc0"]
    assert "accumulate" not in report.hints


def test_a_missing_output_gradient_is_attributed_to_dh0():
    report = check_sequence_backward(sequence_with_bug("no d_out"))
    assert "dh0" in report.wrong_outputs()
    assert "d_out[t] plus the dh_prev returned by step t+1" in report.hints["dh0"]


def test_a_sequence_stub_is_not_yet_implemented():
    def lstm_sequence_backward(d_out, dh_n, dc_n, caches):
        raise NotImplementedError

    report = check_sequence_backward(lstm_sequence_backward)
    assert not report.passed and report.status == "not yet implemented"
    assert "not yet implemented" in str(report) and "Traceback" not in str(report)


def test_a_batch_first_dx_is_a_wrong_shape():
    def batch_first_dx(d_out, dh_n, dc_n, caches):
        dx, *rest = student_sequence_backward(d_out, dh_n, dc_n, caches)
        return (dx.transpose(1, 0, 2), *rest)

    report = check_sequence_backward(batch_first_dx)
    assert report.wrong_outputs() == ["dx"]
    assert report["dx"].expected_shape == (4, 2, 3) and report["dx"].shape == (2, 4, 3)
    assert "dx has the wrong shape (2, 4, 3), expected (4, 2, 3)" in report.hints["dx"]

