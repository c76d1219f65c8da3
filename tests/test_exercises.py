"""The exercise checkers: right answers pass, every planted mistake is caught and named, grading works.

Each planted mistake is written here the way a student would write it (a small function, or a
``bug`` switch in a student's solution), never generated from the checker's own list of known
mistakes, so that a checker that stops recognising one fails here. For each, the tests assert
the status, the part named first (the first hint key) and, where it matters, what the hint says.
The last sections check the checkers' own tables of formulas and known mistakes, the points,
the argument checks, and grading a folder of notebooks.
"""
import sys

import numpy as np
import pytest

from numpylstm import LSTM, exercises, functional_rnn, rel_error
from numpylstm import functional as F
from numpylstm.exercises import (POINTS, check_gradient_check, check_rnn_step_backward, check_rnn_step_forward,
                                 check_sequence_backward, check_step_backward, check_step_forward, grade_folder)
from numpylstm.exercises import _run, grading, gradient_check, rnn, sequence, step_backward, step_forward
from numpylstm.gradcheck import numerical_gradient as library_numerical_gradient
from assertions import raises_naming

STEP_OUTPUTS = ["dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"]
WEIGHT_OUTPUTS = ["dW_ih", "dW_hh", "db_ih", "db_hh"]


def assert_named(report, term, wrong=None):
    """The report is "wrong", names ``term`` first, and lists ``wrong`` as the wrong outputs (if given)."""
    text = str(report)
    assert report.status == "wrong" and not report.passed, text
    assert list(report.hints)[0] == term, text
    assert report.points < report.max_points
    if wrong is not None:
        assert report.wrong_outputs() == wrong, text
    assert "Traceback" not in text and "Hints:" in text


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ======================================================================= RNN forward
def student_rnn_forward(x, h, W_ih, W_hh, b_ih, b_hh, bug=None):
    """A student's tanh RNN step, with one optional planted bug."""
    pre = x @ W_ih.T + h @ W_hh.T + b_ih + b_hh
    if bug == "W_hh not transposed":
        pre = x @ W_ih.T + h @ W_hh + b_ih + b_hh
    elif bug == "b_hh forgotten":
        pre = x @ W_ih.T + h @ W_hh.T + b_ih
    elif bug == "recurrence forgotten":
        pre = x @ W_ih.T + b_ih + b_hh
    if bug == "sigmoid":
        h_next = sigmoid(pre)
    elif bug == "relu":
        h_next = np.where(pre > 0, pre, 0.0)
    elif bug == "biases after tanh":
        h_next = np.tanh(x @ W_ih.T + h @ W_hh.T) + b_ih + b_hh
    elif bug == "halved (unknown to the checker)":
        h_next = 0.5 * np.tanh(pre)
    else:
        h_next = np.tanh(pre)
    return h_next, (x, h, h_next)


def test_a_correct_rnn_step_forward_passes():
    report = check_rnn_step_forward(student_rnn_forward)
    assert report.passed and report.status == "passed" and report.hints == {}
    assert report.points == report.max_points == POINTS["rnn_step_forward"] == 1
    assert [o.name for o in report.outputs] == ["h_next"] and report.cases == 3


RNN_FORWARD_BUGS = [("sigmoid", "tanh"), ("relu", "tanh"), ("W_hh not transposed", "W_hh"),
                    ("b_hh forgotten", "bias"), ("biases after tanh", "bias"), ("recurrence forgotten", "W_hh")]


@pytest.mark.parametrize("bug, term", RNN_FORWARD_BUGS)
def test_rnn_forward_mistakes_are_named(bug, term):
    report = check_rnn_step_forward(lambda *args: student_rnn_forward(*args, bug=bug))
    assert_named(report, term, ["h_next"])
    assert report.points == 0 and len(report.mistakes) == 1


def test_an_rnn_forward_mistake_the_checker_does_not_know_gets_the_formula():
    report = check_rnn_step_forward(lambda *args: student_rnn_forward(*args, bug="halved (unknown to the checker)"))
    assert_named(report, "h_next", ["h_next"])
    assert report.mistakes == [] and "tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)" in report.hints["h_next"]


def test_merging_the_biases_in_place_is_flagged_with_the_argument():
    def rnn_step_forward(x, h, W_ih, W_hh, b_ih, b_hh):
        b_ih += b_hh                       # "one bias is enough" - but b_ih is the caller's
        return np.tanh(x @ W_ih.T + h @ W_hh.T + b_ih), None

    report = check_rnn_step_forward(rnn_step_forward)
    assert_named(report, "in place", [])   # the numbers are right
    assert report.hints["in place"].startswith("changes b_ih in place")
    assert report.points == 0   # max 1 point, one less for the rule broken


def test_calling_the_librarys_rnn_step_is_flagged_and_gets_no_points():
    report = check_rnn_step_forward(lambda x, h, *weights: functional_rnn.rnn_step_forward(x, h, *weights))
    assert_named(report, "library", [])
    assert "calls the library's own rnn_step_forward: write the computation yourself" in report.hints["library"]
    assert report.points == 0


# ====================================================================== RNN backward
def student_rnn_backward(dh_next, cache, bug=None):
    """A student's tanh RNN step backward, with one optional planted bug."""
    x, h_prev, h_next, W_ih, W_hh, _ = cache
    local = 1 - h_next * h_next
    if bug == "sigmoid slope":
        local = h_next * (1 - h_next)
    elif bug == "slope from h_prev":
        local = 1 - h_prev * h_prev
    da = dh_next * local
    dx = da @ W_hh if bug == "dx from W_hh" else da @ W_ih
    dh_prev = da @ W_hh.T if bug == "W_hh transposed in dh_prev" else da @ W_hh
    dW_ih = x.T @ da if bug == "dW_ih transposed" else da.T @ x
    dW_hh = da.T @ h_prev
    if bug == "dW_hh transposed":
        dW_hh = h_prev.T @ da
    elif bug == "dW_hh from h_next":
        dW_hh = da.T @ h_next
    db = np.sum(da, axis=1) if bug == "db over the units" else np.sum(da, axis=0)
    db_hh = np.zeros_like(db) if bug == "db_hh forgotten" else db.copy()
    return dx, dh_prev, dW_ih, dW_hh, db, db_hh


def test_a_correct_rnn_step_backward_passes():
    report = check_rnn_step_backward(student_rnn_backward)
    assert report.passed and report.points == report.max_points == 2
    assert [o.name for o in report.outputs] == ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"]
    assert max(o.rel_error for o in report.outputs) < 1e-13


RNN_BACKWARD_BUGS = [
    ("sigmoid slope", "slope", ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"]),
    ("slope from h_prev", "slope", ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"]),
    ("dx from W_hh", "dx", ["dx"]),
    ("W_hh transposed in dh_prev", "dh_prev", ["dh_prev"]),
    ("dW_ih transposed", "dW_ih", ["dW_ih"]),
    ("dW_hh transposed", "dW_hh", ["dW_hh"]),
    ("dW_hh from h_next", "dW_hh", ["dW_hh"]),
    ("db over the units", "db", ["db_ih", "db_hh"]),
    ("db_hh forgotten", "db_hh", ["db_hh"]),
]


@pytest.mark.parametrize("bug, term, wrong", RNN_BACKWARD_BUGS)
def test_rnn_backward_mistakes_are_named(bug, term, wrong):
    report = check_rnn_step_backward(lambda dh_next, cache: student_rnn_backward(dh_next, cache, bug))
    assert_named(report, term, wrong)


def test_a_transposed_square_weight_gradient_is_named_although_its_shape_is_right():
    report = check_rnn_step_backward(lambda dh, cache: student_rnn_backward(dh, cache, "dW_hh transposed"))
    assert report["dW_hh"].shape == report["dW_hh"].expected_shape   # W_hh is square: no shape to catch it
    assert "h_prev.T @ da is its transpose" in report.hints["dW_hh"]
    assert report.points == 1   # 5 of 6 outputs right: floor(2 * 5/6)


def test_a_wrong_shape_is_said_with_the_cause():
    report = check_rnn_step_backward(lambda dh, cache: student_rnn_backward(dh, cache, "dx from W_hh"))
    assert report.hints["dx"].startswith("dx has the wrong shape (2, 4), expected (2, 3). dx = da @ W_ih")


# ======================================================================= LSTM forward
def student_lstm_forward(x, h, c, W_ih, W_hh, b_ih, b_hh, bug=None):
    """A student's LSTM step (CS231n style: one product, then slices), with one optional planted bug."""
    H = h.shape[1]
    z = x @ W_ih.T + h @ W_hh.T + (b_hh if bug == "b_ih forgotten" else b_ih + b_hh)
    z_i, z_f, z_g, z_o = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
    if bug == "CS231n gate order":
        z_i, z_f, z_o, z_g = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
    elif bug == "i and f blocks swapped":
        z_f, z_i = z_i, z_f
    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o)
    g = sigmoid(z_g) if bug == "sigmoid for g" else np.tanh(z_g)
    if bug == "tanh for f":
        f = np.tanh(z_f)
    elif bug == "sign typo in i (unknown)":
        i = 1 / (1 + np.exp(z_i))
    elif bug == "f as 'how much to forget' (unknown)":
        f = 1 - sigmoid(z_f)
    elif bug == "g as 2 sigmoid - 1 (unknown)":
        g = 2 * sigmoid(z_g) - 1
    elif bug == "sign typo in o (unknown)":
        o = 1 / (1 + np.exp(z_o))
    if bug == "cell updated in place":
        c_next = c
        c_next *= f
        c_next += i * g
    else:
        c_next = f * c + i * g
    squashed = np.tanh(c_next)
    if bug == "tanh of the old cell":
        squashed = np.tanh(c)
    elif bug == "no tanh":
        squashed = c_next
    return o * squashed, c_next, (i, f, g, o)


def test_a_correct_lstm_step_forward_passes():
    report = check_step_forward(student_lstm_forward)
    assert report.passed and report.points == report.max_points == 2
    assert [o.name for o in report.outputs] == ["h_next", "c_next"]   # the cache is the student's own


LSTM_FORWARD_BUGS = [
    ("CS231n gate order", "gate order", ["h_next", "c_next"]),
    ("i and f blocks swapped", "gate order", ["h_next", "c_next"]),
    ("sigmoid for g", "g", ["h_next", "c_next"]),
    ("tanh for f", "f", ["h_next", "c_next"]),
    ("b_ih forgotten", "bias", ["h_next", "c_next"]),
    ("tanh of the old cell", "tanh(c)", ["h_next"]),
    ("no tanh", "tanh(c)", ["h_next"]),
    # Not in the checker's list: found by the gate probes.
    ("sign typo in i (unknown)", "i", ["h_next", "c_next"]),
    ("f as 'how much to forget' (unknown)", "f", ["h_next", "c_next"]),
    ("g as 2 sigmoid - 1 (unknown)", "g", ["h_next", "c_next"]),
    ("sign typo in o (unknown)", "o", ["h_next"]),
]


@pytest.mark.parametrize("bug, term, wrong", LSTM_FORWARD_BUGS)
def test_lstm_forward_mistakes_are_named(bug, term, wrong):
    report = check_step_forward(lambda *args: student_lstm_forward(*args, bug=bug))
    assert_named(report, term, wrong)
    assert bool(report.mistakes) == ("unknown" not in bug)
    if "unknown" in bug:   # the probe names one gate, and only that one
        assert not {"i", "f", "g", "o"} - {term} & set(report.hints)


def test_the_gate_order_hint_says_which_order_was_read():
    cs231n = check_step_forward(lambda *args: student_lstm_forward(*args, bug="CS231n gate order"))
    assert "i, f, o, g (CS231n's order)" in cs231n.hints["gate order"]
    assert cs231n.mistakes == ["gate blocks read as i, f, o, g"]
    swapped = check_step_forward(lambda *args: student_lstm_forward(*args, bug="i and f blocks swapped"))
    assert "you read the four blocks of a as f, i, g, o;" in swapped.hints["gate order"]


def test_the_old_cell_in_tanh_is_named_and_c_next_is_right():
    report = check_step_forward(lambda *args: student_lstm_forward(*args, bug="tanh of the old cell"))
    assert "NEW cell state" in report.hints["tanh(c)"]
    assert report["c_next"].passed and report.points == 1


def test_updating_the_cell_state_in_place_is_flagged():
    report = check_step_forward(lambda *args: student_lstm_forward(*args, bug="cell updated in place"))
    assert_named(report, "in place", [])
    assert report.hints["in place"].startswith("changes c in place")
    assert report.points == 1


# ====================================================================== LSTM backward
def student_step_backward(dh_next, dc_next, cache, bug=None):
    """A student's lstm_step_backward written from the equations, with one optional planted bug."""
    x, h_prev, c_prev, i, f, g, o, tanh_c = (cache.x, cache.h_prev, cache.c_prev, cache.i, cache.f,
                                             cache.g, cache.o, cache.tanh_c)
    if bug == "cache unpacked in CS231n's order":
        x, h_prev, c_prev, i, f, o, g, tanh_c, _, _ = cache
    if bug == "tanh of the old cell":
        tanh_c = np.tanh(c_prev)
    do = dh_next * tanh_c
    dc = dc_next if bug == "dropped dc term" else dc_next + dh_next * o * (1 - tanh_c ** 2)
    if bug == "dc_next not added":
        dc = dh_next * o * (1 - tanh_c ** 2)
    elif bug == "dh halved (unknown)":
        do, dc = 0.5 * do, dc_next + 0.5 * dh_next * o * (1 - tanh_c ** 2)
    slope = {"i": i * (1 - i), "f": f * (1 - f), "g": 1 - g ** 2, "o": o * (1 - o)}
    if bug and bug.startswith("wrong slope in "):   # sigmoid's slope for g, tanh's for the sigmoid gates
        gate = bug[-1]
        slope[gate] = g * (1 - g) if gate == "g" else 1 - {"i": i, "f": f, "o": o}[gate] ** 2
    if bug == "f slope doubled (unknown)":
        slope["f"] = 2 * f * (1 - f)
    di, df, dg = dc * g, dc * c_prev, dc * i
    if bug == "di and dg swapped":
        di, dg = dc * i, dc * g
    elif bug == "df from the new cell":
        df = dc * (f * c_prev + i * g)
    blocks = [di * slope["i"], df * slope["f"], dg * slope["g"], do * slope["o"]]
    if bug == "da in CS231n's order":
        blocks = [blocks[0], blocks[1], blocks[3], blocks[2]]
    da = np.concatenate(blocks, axis=1)
    dW_ih = x.T @ da if bug == "missing transpose in dW_ih" else da.T @ x
    dW_hh = da.T @ (o * tanh_c) if bug == "dW_hh from h_t" else da.T @ h_prev
    dc_prev = dc_next * f if bug == "dc_prev without the h path" else dc * f
    dx = da @ cache.W_hh if bug == "dx from W_hh" else da @ cache.W_ih
    dh_prev = da @ cache.W_ih if bug == "dh_prev from W_ih" else da @ cache.W_hh
    db = da.sum(axis=1) if bug == "db over the units" else da.sum(axis=0)
    db_hh = np.zeros_like(db) if bug == "db_hh forgotten" else db.copy()
    return dx, dh_prev, dc_prev, dW_ih, dW_hh, db, db_hh


def with_bug(bug):
    return lambda dh_next, dc_next, cache: student_step_backward(dh_next, dc_next, cache, bug)


def test_a_correct_step_backward_passes():
    report = check_step_backward(student_step_backward)
    assert report.passed and report.status == "passed"
    assert report.cases == 3 and report.wrong_outputs() == [] and report.hints == {}
    assert [o.name for o in report.outputs] == STEP_OUTPUTS
    assert max(o.rel_error for o in report.outputs) < 1e-13
    assert str(report).startswith("lstm_step_backward: passed")
    assert report.points == report.max_points == 3


def test_handing_in_the_librarys_own_kernel_is_flagged():
    # Was a passing answer before issue 12: the library's kernel now counts as not written.
    report = check_step_backward(F.lstm_step_backward)
    assert_named(report, "library", [])
    assert "calls the library's own lstm_step_backward: write the computation yourself" in report.hints["library"]
    assert report.points == 0


def test_calling_the_librarys_kernel_inside_is_flagged_however_it_was_imported():
    from numpylstm import lstm_step_backward as imported_from_the_package

    def lstm_step_backward(dh_next, dc_next, cache):
        return imported_from_the_package(dh_next, dc_next, cache._replace(c_prev=cache.c_prev))

    report = check_step_backward(lstm_step_backward)
    assert list(report.hints) == ["library"] and report.points == 0


def test_a_dropped_cell_term_is_attributed_to_dc():
    report = check_step_backward(with_bug("dropped dc term"))
    assert not report.passed and report.status == "wrong"
    assert set(report.wrong_outputs()) == set(STEP_OUTPUTS)   # dc feeds every output
    for name in WEIGHT_OUTPUTS:
        assert report.wrong_gates(name) == ["i", "f", "g"], name   # o does not go through c_t
    assert "h_t = o*tanh(c_t)" in report.hints["dc"] and "dc_next + dh_t * o" in report.hints["dc"]
    # Before issue 12 dc_prev got its generic formula; now it is named a consequence of dc.
    assert report.hints["dc_prev"] == "dc_prev follows from dc (above): fix that first"
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
    # The hint now names the slope itself (it said "d{gate} is wrong" before issue 12).
    used = "sigmoid's slope g * (1 - g)" if gate == "g" else f"tanh's slope (1 - {gate}**2)"
    text = str(report)
    assert f"da_{gate} uses {used}" in text and "Traceback" not in text


def test_the_forget_gate_hint_names_the_cell_equation():
    # A mistake in the f block that the checker does not know: the gate-by-gate analysis names df.
    report = check_step_backward(with_bug("f slope doubled (unknown)"))
    assert report.mistakes == []
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


STEP_BACKWARD_BUGS = [   # (bug, the part named first, the wrong outputs)
    ("tanh of the old cell", "tanh(c)", STEP_OUTPUTS),
    ("cache unpacked in CS231n's order", "gate order", STEP_OUTPUTS),
    ("da in CS231n's order", "gate order", ["dx", "dh_prev"] + WEIGHT_OUTPUTS),
    ("dc_next not added", "dc_next", STEP_OUTPUTS),
    ("di and dg swapped", "di, dg", ["dx", "dh_prev"] + WEIGHT_OUTPUTS),
    ("df from the new cell", "df", ["dx", "dh_prev"] + WEIGHT_OUTPUTS),
    ("dx from W_hh", "dx", ["dx"]),
    ("dh_prev from W_ih", "dh_prev", ["dh_prev"]),
    ("dW_hh from h_t", "dW_hh", ["dW_hh"]),
    ("db over the units", "db", ["db_ih", "db_hh"]),
    ("db_hh forgotten", "db_hh", ["db_hh"]),
]


@pytest.mark.parametrize("bug, term, wrong", STEP_BACKWARD_BUGS)
def test_step_backward_mistakes_are_named(bug, term, wrong):
    report = check_step_backward(with_bug(bug))
    assert_named(report, term, wrong)
    assert len(report.mistakes) == 1


@pytest.mark.parametrize("bug, cause", [("tanh of the old cell", "tanh(c_prev)"),
                                        ("cache unpacked in CS231n's order", "CS231n's order i, f, o, g")])
def test_all_four_blocks_wrong_point_at_the_shared_cause_first(bug, cause):
    report = check_step_backward(with_bug(bug))
    for name in WEIGHT_OUTPUTS:
        assert report.wrong_gates(name) == ["i", "f", "g", "o"]
    first = list(report.hints)[0]
    assert first in ("tanh(c)", "gate order") and cause in report.hints[first]
    assert report.hints["dc_prev"] == f"dc_prev follows from {first} (above): fix that first"
    assert "da" not in report.hints   # the generic "every block is wrong" is replaced by the cause


def test_all_four_blocks_wrong_by_an_unknown_mistake_point_at_what_they_share_first():
    report = check_step_backward(with_bug("dh halved (unknown)"))
    assert report.mistakes == []
    assert list(report.hints)[0] == "da"
    assert "look for what they share" in report.hints["da"] and "tanh(c_t)" in report.hints["da"]


def test_updating_dc_next_in_place_is_flagged():
    def lstm_step_backward(dh_next, dc_next, cache):
        dc_next += dh_next * cache.o * (1 - cache.tanh_c ** 2)   # the caller's dc_next changes
        return _backward_from_dc(dh_next, dc_next, cache)

    report = check_step_backward(lstm_step_backward)
    assert_named(report, "in place", [])
    assert report.hints["in place"].startswith("changes dc_next in place: dc_next is the caller's gradient")
    assert report.points == 2


def _backward_from_dc(dh_next, dc, cache):
    """The rest of a right step backward, from the full dc_t."""
    i, f, g, o = cache.i, cache.f, cache.g, cache.o
    da = np.concatenate([dc * g * i * (1 - i), dc * cache.c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                         dh_next * cache.tanh_c * o * (1 - o)], axis=1)
    db = da.sum(axis=0)
    return da @ cache.W_ih, da @ cache.W_hh, dc * f, da.T @ cache.x, da.T @ cache.h_prev, db, db.copy()


def test_writing_into_the_cache_is_flagged():
    def lstm_step_backward(dh_next, dc_next, cache):
        i = cache.i
        i *= 1 - i          # "the slope in place, to save memory" - it overwrites the cache's i
        return student_step_backward(dh_next, dc_next, cache)

    report = check_step_backward(lstm_step_backward)
    assert list(report.hints)[0] == "in place"
    assert report.hints["in place"].startswith("changes cache.i in place: the cache belongs to the forward pass")


def test_a_stub_is_not_yet_implemented():
    def lstm_step_backward(dh_next, dc_next, cache):
        raise NotImplementedError("write me")

    report = check_step_backward(lstm_step_backward)
    assert report.passed is False and report.status == "not yet implemented"
    assert str(report).startswith("lstm_step_backward: not yet implemented")
    assert "Traceback" not in str(report) and report.points == 0 and report.max_points == 3


def test_an_exception_is_reported_with_the_students_line_not_a_traceback():
    def crashing(dh_next, dc_next, cache):
        da = np.ones((dh_next.shape[0], 4 * dh_next.shape[1]))
        return da @ cache.W_ih.T, None, None, None, None, None, None   # a transpose too many

    report = check_step_backward(crashing)
    assert report.status == "error" and not report.passed
    assert "ValueError" in report.message and "da @ cache.W_ih.T" in report.message
    assert "Traceback" not in str(report) and report.points == 0


@pytest.mark.parametrize("returned, words", [
    (lambda: (1, 2), "a tuple of 7 arrays, got 2 values"),
    (lambda: None, "a tuple of 7 arrays, got a NoneType"),
])
def test_returning_the_wrong_thing_is_reported(returned, words):
    report = check_step_backward(lambda dh_next, dc_next, cache: returned())
    assert report.status == "error" and words in report.message


def test_a_none_among_the_outputs_is_a_wrong_output():
    def partial(dh_next, dc_next, cache):
        grads = list(student_step_backward(dh_next, dc_next, cache))
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


# ============================================================ sequence backward (BPTT)
def student_sequence_backward(d_out, dh_n, dc_n, caches, bug=None, step=F.lstm_step_backward):
    """A student's BPTT from a step backward (``step``), with one optional planted bug."""
    T = len(caches)
    dx = [None] * T
    dW_ih, dW_hh, db = (np.zeros_like(caches[0].W_ih), np.zeros_like(caches[0].W_hh),
                        np.zeros(caches[0].W_ih.shape[0]))
    dh = np.zeros_like(dh_n) if bug == "dh_n dropped" else dh_n
    dc = np.zeros_like(dc_n) if bug == "dc_n dropped" else dc_n
    times = range(T) if bug == "loop forward in time" else reversed(range(T))
    for t in times:
        dh_t = dh + d_out[t]
        if bug == "no d_out" and t < T - 1:
            dh_t = dh
        elif bug == "d_out never added":
            dh_t = dh
        elif bug == "dh_n added at every step" and t < T - 1:
            dh_t = dh + d_out[t] + dh_n
        dx[t], dh, dc_prev, dW_ih_t, dW_hh_t, db_t, db_hh_t = step(dh_t, dc, caches[t])
        if bug == "dh and dc swapped":
            dh, dc_prev = dc_prev, dh
        dc = np.zeros_like(dc) if bug == "cell gradient not carried" else dc_prev
        if bug == "overwritten weight gradients":
            dW_ih, dW_hh, db = dW_ih_t, dW_hh_t, db_t
        elif bug == "weight gradients never added" and t < T - 1:
            pass
        else:
            dW_ih, dW_hh = dW_ih + dW_ih_t, dW_hh + dW_hh_t
            db = db_t if bug == "db overwritten" else db + db_t
            if bug == "both biases added":
                db = db + db_hh_t
    if bug == "dx in the order computed":
        dx = [dx[t] for t in reversed(range(T))]
    return np.stack(dx), dh, dc, dW_ih, dW_hh, db


def sequence_with_bug(bug, step=F.lstm_step_backward):
    return lambda d_out, dh_n, dc_n, caches: student_sequence_backward(d_out, dh_n, dc_n, caches, bug, step)


def test_the_sequence_reference_is_lstm_backward_and_equals_the_lstm_module(rng):
    """The checker's reference (the public functional.lstm_backward) and its BPTT rules against the LSTM module."""
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
    expected = (dx, dh0[0], dc0[0], lstm.weight_ih_l0.grad, lstm.weight_hh_l0.grad, lstm.bias_ih_l0.grad)
    reference = sequence.reference_sequence_backward(d_out, dh_n, dc_n, caches)
    rules, per_step = sequence.bptt(d_out, dh_n, dc_n, caches)
    for name, ours, by_rules, theirs in zip(["dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"], reference, rules, expected):
        assert rel_error(ours, theirs) < 1e-12, name
        assert rel_error(by_rules, theirs) < 1e-12, name
    assert len(per_step) == T
    assert rel_error(sum(step[0] for step in per_step), lstm.weight_ih_l0.grad) < 1e-12


def test_the_sequence_reference_is_the_librarys_public_lstm_backward(monkeypatch):
    calls = []
    monkeypatch.setattr(sequence, "lstm_backward", lambda *args: calls.append(args) or F.lstm_backward(*args))
    check_sequence_backward(student_sequence_backward)
    assert len(calls) == 2 and all(isinstance(args[3], F.LSTMCache) for args in calls)


def test_a_correct_sequence_backward_passes():
    report = check_sequence_backward(student_sequence_backward)
    assert report.passed, str(report)
    assert report.cases == 2 and report.points == report.max_points == 3
    assert [o.name for o in report.outputs] == ["dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"]
    assert max(o.rel_error for o in report.outputs) < 1e-12


def test_a_sequence_backward_built_on_the_students_own_step_passes():
    report = check_sequence_backward(sequence_with_bug(None, step=student_step_backward))
    assert report.passed and report.hints == {}


@pytest.mark.parametrize("bug, step", [("overwritten weight gradients", "t = 0 (the first)"),
                                       ("weight gradients never added", "t = T-1 (the last)")])
def test_forgetting_to_accumulate_weight_gradients_is_caught(bug, step):
    report = check_sequence_backward(sequence_with_bug(bug))
    assert report.wrong_outputs() == ["dW_ih", "dW_hh", "db"]
    assert list(report.hints)[0] == "accumulate"
    for name in ("dW_ih", "dW_hh", "db"):
        assert report.wrong_gates(name) == ["i", "f", "g", "o"], name
        assert report.hints[name].startswith(f"{name} equals the gradient of step {step} alone")
    assert "SUM of every step's gradient" in report.hints["accumulate"]
    assert not {"di", "df", "dg", "do", "da", "dc"} & set(report.hints)   # da itself is right


def test_a_cell_gradient_not_carried_back_is_attributed_to_the_carry():
    # Before issue 12: a generic hint on dc0; now the missing source is named.
    report = check_sequence_backward(sequence_with_bug("cell gradient not carried"))
    assert "dc0" in report.wrong_outputs() and "dx" in report.wrong_outputs()
    assert_named(report, "dc carry")
    assert "carried from step to step" in report.hints["dc carry"]
    assert "accumulate" not in report.hints


def test_a_missing_output_gradient_is_attributed_to_d_out():
    # Before issue 12: a generic hint on dh0; now the missing source is named.
    report = check_sequence_backward(sequence_with_bug("no d_out"))
    assert "dh0" in report.wrong_outputs()
    assert_named(report, "d_out")
    assert "not only at the last" in report.hints["d_out"]


SEQUENCE_BUGS = [   # (bug, the part named first)
    ("d_out never added", "d_out"),
    ("dh_n dropped", "dh_n"),
    ("dh_n added at every step", "dh_n"),
    ("dc_n dropped", "dc_n"),
    ("loop forward in time", "direction"),
    ("dh and dc swapped", "dh, dc swapped"),
    ("dx in the order computed", "dx order"),
]


@pytest.mark.parametrize("bug, term", SEQUENCE_BUGS)
def test_sequence_mistakes_name_the_missing_source_or_the_direction(bug, term):
    report = check_sequence_backward(sequence_with_bug(bug))
    assert_named(report, term)
    assert "accumulate" not in report.hints


def test_the_six_sequence_mistakes_of_the_issue_get_six_different_first_hints():
    bugs = ["no d_out", "dh_n dropped", "dh_n added at every step", "cell gradient not carried", "dc_n dropped",
            "loop forward in time"]
    first = [list(check_sequence_backward(sequence_with_bug(bug)).hints.items())[0] for bug in bugs]
    assert len({hint for _, hint in first}) == 6
    assert [term for term, _ in first] == ["d_out", "dh_n", "dh_n", "dc carry", "dc_n", "direction"]


@pytest.mark.parametrize("bug", ["db overwritten", "both biases added"])
def test_a_bias_only_mistake_is_never_blamed_on_accumulation(bug):
    report = check_sequence_backward(sequence_with_bug(bug))
    assert_named(report, "db", ["db"])
    assert "accumulate" not in report.hints and "accumulat" not in report.hints["db"]


def test_a_bias_only_mistake_the_checker_does_not_know_gets_the_bias_hint_not_accumulation():
    def lstm_sequence_backward(d_out, dh_n, dc_n, caches):
        dx, dh0, dc0, dW_ih, dW_hh, db = student_sequence_backward(d_out, dh_n, dc_n, caches)
        return dx, dh0, dc0, dW_ih, dW_hh, db * 0.5

    report = check_sequence_backward(lstm_sequence_backward)
    assert_named(report, "db", ["db"])
    assert report.mistakes == [] and "dW_ih and dW_hh are right" in report.hints["db"]
    assert "accumulate" not in report.hints


def test_a_mistake_in_the_step_it_calls_is_named_in_the_sequence():
    step_with_f_slope = with_bug("wrong slope in f")
    report = check_sequence_backward(sequence_with_bug(None, step=step_with_f_slope))
    assert_named(report, "df")
    assert "in the step backward your loop calls" in report.hints["df"]


def test_reversing_the_caches_in_place_is_flagged():
    def lstm_sequence_backward(d_out, dh_n, dc_n, caches):
        caches.reverse()                    # "walk them backwards" - the caller's list is now reversed
        result = student_sequence_backward(d_out[::-1], dh_n, dc_n, caches[::-1])
        return result

    report = check_sequence_backward(lstm_sequence_backward)
    assert list(report.hints)[0] == "in place"
    assert "caches[0]" in report.hints["in place"] and "not caches.reverse() or pop()" in report.hints["in place"]


def test_calling_the_librarys_lstm_backward_is_flagged():
    def lstm_sequence_backward(d_out, dh_n, dc_n, caches):
        dx, dh0, dc0, grads = F.lstm_backward(d_out, dh_n, dc_n, F.LSTMCache(caches, None, None, True))
        return dx, dh0, dc0, grads.W_ih, grads.W_hh, grads.b_ih

    report = check_sequence_backward(lstm_sequence_backward)
    assert_named(report, "library", [])
    assert "lstm_backward" in report.hints["library"] and report.points == 0


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


# ==================================================================== gradient check
def student_numerical_gradient(f, x, eps=1e-6, bug=None):
    """A student's central differences (CS231n's eval_numerical_gradient), with one optional planted bug."""
    grad = np.zeros_like(x)
    fx = f()
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    rows = [(i,) for i in range(len(x))] if bug == "one index per row" else None
    for ix in (rows if rows is not None else (entry.multi_index for entry in _iterate(it))):
        if bug == "perturbs a copy":
            old, work = x[ix], x.copy()
            work[ix] = old + eps
            fxph = f()
            work[ix] = old - eps
            fxmh = f()
        elif bug == "minus step from the shifted value":
            x[ix] += eps
            fxph = f()
            x[ix] -= eps
            fxmh = f()
        else:
            old = x[ix].copy()
            x[ix] = old + eps
            fxph = f()
            x[ix] = old - eps
            fxmh = f()
            if bug != "not restored":
                x[ix] = old
        if bug == "forward difference":
            grad[ix] = (fxph - fx) / eps
        elif bug == "backward difference":
            grad[ix] = (fx - fxmh) / eps
        elif bug == "divided by eps":
            grad[ix] = (fxph - fxmh) / eps
        else:
            grad[ix] = (fxph - fxmh) / (2 * eps)
    return grad


def _iterate(it):
    while not it.finished:
        yield it
        it.iternext()


def test_a_correct_numerical_gradient_passes():
    report = check_gradient_check(student_numerical_gradient)
    assert report.passed, str(report)
    assert [o.name for o in report.outputs] == ["sin", "quadratic", "cubic"]
    assert report.points == report.max_points == 1 and max(o.rel_error for o in report.outputs) < 1e-8


def test_restoring_x_with_plus_and_minus_eps_counts_as_restored():
    def numerical_gradient(f, x, eps=1e-6):
        grad = np.zeros_like(x)
        for index in np.ndindex(*x.shape):
            x[index] += eps
            f_plus = f()
            x[index] -= 2 * eps
            f_minus = f()
            x[index] += eps          # back, up to round-off in the last bit
            grad[index] = (f_plus - f_minus) / (2 * eps)
        return grad

    assert check_gradient_check(numerical_gradient).passed


GRADIENT_BUGS = [
    ("forward difference", "central"),
    ("backward difference", "central"),
    ("divided by eps", "2 eps"),
    ("minus step from the shifted value", "x - eps"),
    ("not restored", "restore"),
    ("perturbs a copy", "perturb x"),
    ("one index per row", "every entry"),
]


@pytest.mark.parametrize("bug, term", GRADIENT_BUGS)
def test_gradient_check_mistakes_are_named(bug, term):
    report = check_gradient_check(lambda f, x, eps=1e-6: student_numerical_gradient(f, x, eps, bug))
    assert_named(report, term)
    assert report.points == 0


def test_x_not_restored_is_found_from_x_itself():
    report = check_gradient_check(lambda f, x, eps=1e-6: student_numerical_gradient(f, x, eps, "not restored"))
    assert report.hints["restore"].startswith("x is not as it was after the call (for f = cubic, quadratic, sin)")


def test_rows_perturbed_at_once_are_wrong_only_for_x_of_two_or_more_dimensions():
    report = check_gradient_check(lambda f, x, eps=1e-6: student_numerical_gradient(f, x, eps, "one index per row"))
    assert report.wrong_outputs() == ["quadratic", "cubic"]


def test_a_one_sided_difference_the_checker_does_not_know_is_found_by_its_order():
    def numerical_gradient(f, x, eps=1e-6):   # forward difference over 2 eps: O(eps) error
        grad = np.zeros_like(x)
        f_x = f()
        for index in np.ndindex(*x.shape):
            original = x[index]
            x[index] = original + 2 * eps
            grad[index] = (f() - f_x) / (2 * eps)
            x[index] = original
        return grad

    report = check_gradient_check(numerical_gradient)
    assert_named(report, "central")
    assert report.mistakes == [] and "your error shrinks like eps" in report.hints["central"]


def test_a_flattened_gradient_is_a_wrong_shape():
    report = check_gradient_check(lambda f, x, eps=1e-6: student_numerical_gradient(f, x, eps).ravel())
    assert report.wrong_outputs() == ["quadratic", "cubic"]
    assert report.hints["quadratic"].startswith("quadratic has the wrong shape (12,), expected (3, 4). the gradient")


def test_calling_the_librarys_numerical_gradient_is_flagged():
    report = check_gradient_check(library_numerical_gradient)
    assert_named(report, "library", [])
    assert "numerical_gradient" in report.hints["library"]


def test_a_gradient_check_that_calls_f_with_an_argument_is_an_error_with_its_line():
    def numerical_gradient(f, x, eps=1e-6):
        return np.array([f(x)])

    report = check_gradient_check(numerical_gradient)
    assert report.status == "error" and "TypeError" in report.message and "f(x)" in report.message


# =========================================================================== grading
RIGHT_CELLS = {
    "rnn_step_forward": '''
def rnn_step_forward(x, h, W_ih, W_hh, b_ih, b_hh):
    h_next = np.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
    return h_next, (x, h, h_next)
''',
    "rnn_step_backward": '''
def rnn_step_backward(dh_next, cache):
    da = dh_next * (1 - cache.h_next ** 2)
    db = da.sum(axis=0)
    return da @ cache.W_ih, da @ cache.W_hh, da.T @ cache.x, da.T @ cache.h_prev, db, db.copy()
''',
    "lstm_step_forward": '''
def sigmoid(z):
    return 1 / (1 + np.exp(-z))

def lstm_step_forward(x, h, c, W_ih, W_hh, b_ih, b_hh):
    H = h.shape[1]
    a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2*H]), np.tanh(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:])
    c_next = f * c + i * g
    return o * np.tanh(c_next), c_next, (i, f, g, o)
''',
    "lstm_step_backward": '''
def lstm_step_backward(dh_next, dc_next, cache):
    i, f, g, o, tanh_c = cache.i, cache.f, cache.g, cache.o, cache.tanh_c
    dc = dc_next + dh_next * o * (1 - tanh_c ** 2)
    da = np.concatenate([dc * g * i * (1 - i), dc * cache.c_prev * SLOPE_F, dc * i * (1 - g ** 2),
                         dh_next * tanh_c * o * (1 - o)], axis=1)
    db = da.sum(axis=0)
    return da @ cache.W_ih, da @ cache.W_hh, dc * f, da.T @ cache.x, da.T @ cache.h_prev, db, db.copy()
''',
    "lstm_sequence_backward": '''
def lstm_sequence_backward(d_out, dh_n, dc_n, caches):
    dh, dc, dx = dh_n, dc_n, []
    sums = None
    for t in reversed(range(len(caches))):
        dx_t, dh, dc, dW_ih, dW_hh, db, _ = lstm_step_backward(dh + d_out[t], dc, caches[t])
        dx.insert(0, dx_t)
        sums = [dW_ih, dW_hh, db] if sums is None else [s + g for s, g in zip(sums, [dW_ih, dW_hh, db])]
    return (np.stack(dx), dh, dc, *sums)
''',
    "numerical_gradient": '''
def numerical_gradient(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        original = x[index]
        x[index] = original + eps
        f_plus = f()
        x[index] = original - eps
        f_minus = f()
        x[index] = original
        grad[index] = (f_plus - f_minus) / (2 * eps)
    return grad
''',
}
RIGHT_SLOPE, TANH_SLOPE = "f * (1 - f)", "(1 - f ** 2)"   # the planted mistake: tanh's slope for f


def write_notebook(folder, student, cells, untagged=("raise RuntimeError('an untagged cell must not run')",)):
    """A submission: each source in ``cells`` a code cell tagged "exercise", plus untagged cells."""
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Homework")] + [nbformat.v4.new_code_cell(source)
                                                                     for source in untagged]
    for source in cells:
        notebook.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": ["exercise"]}))
    nbformat.write(notebook, str(folder / f"{student}.ipynb"))


def solution_cells(slope_f=RIGHT_SLOPE, **replaced):
    sources = dict(RIGHT_CELLS, **replaced)
    sources["lstm_step_backward"] = sources["lstm_step_backward"].replace("SLOPE_F", slope_f)
    return list(sources.values())


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    """Three submissions: all right, one planted mistake, and one whose cells raise."""
    tmp_path = tmp_path_factory.mktemp("submissions")
    write_notebook(tmp_path, "ada", ["%matplotlib inline"] + solution_cells())
    write_notebook(tmp_path, "bob", solution_cells(slope_f=TANH_SLOPE))
    write_notebook(tmp_path, "cy", solution_cells(
        rnn_step_forward="def rnn_step_forward(x, h, W_ih, W_hh, b_ih, b_hh):\n    return 1 / 0\n",
        lstm_step_forward="def lstm_step_forward(x, h, c, W_ih, W_hh, b_ih, b_hh):\n"
                          "    # YOUR CODE HERE\n    raise NotImplementedError()\n",
        numerical_gradient="import numpylstm_that_does_not_exist\n" + RIGHT_CELLS["numerical_gradient"]))
    (tmp_path / "notes.txt").write_text("not a notebook")
    return tmp_path


@pytest.fixture(scope="module")
def graded(submissions):
    return grade_folder(submissions)


def test_grading_a_folder_gives_each_student_their_points(graded):
    grades = {g.student: g for g in graded}
    assert list(grades) == ["ada", "bob", "cy"]
    assert all(g.max_points == sum(POINTS.values()) == 12 for g in grades.values())
    ada, bob, cy = grades["ada"], grades["bob"], grades["cy"]
    assert ada.points == 12 and all(e.summary == "ok" for e in ada.exercises)
    summaries = {e.function: e.summary for e in bob.exercises}
    assert summaries["lstm_step_backward"] == "WRONG (df)"
    assert summaries["lstm_sequence_backward"].startswith("WRONG (df")   # it calls bob's own step
    assert bob.points == 12 - 3 - 3
    summaries = {e.function: (e.points, e.summary) for e in cy.exercises}
    assert summaries["rnn_step_forward"] == (0, "ERROR (the function raised ZeroDivisionError: division by zero "
                                                "(line 2: `return 1 / 0`))")
    assert summaries["lstm_step_forward"] == (0, "not done")
    assert summaries["numerical_gradient"][1].startswith("missing (no function numerical_gradient; exercise cell 6 "
                                                         "raised ModuleNotFoundError")
    assert cy.points == 12 - 1 - 2 - 1


def test_the_grade_command_prints_one_line_per_student(submissions, graded, capsys, monkeypatch):
    monkeypatch.setattr(grading, "grade_folder", lambda path, timeout: graded if path == str(submissions) else [])
    assert grading.main(["grade", str(submissions)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["ada", "12/12"], ["bob", "6/12"], ["cy", "8/12"]]
    assert lines[0] == ("ada  12/12  rnn_step_forward ok, rnn_step_backward ok, lstm_step_forward ok, "
                        "lstm_step_backward ok, lstm_sequence_backward ok, numerical_gradient ok")
    assert "lstm_step_backward WRONG (df)" in lines[1]


def test_python_dash_m_runs_the_grade_command(tmp_path):
    import subprocess
    write_notebook(tmp_path, "ada", solution_cells())
    done = subprocess.run([sys.executable, "-m", "numpylstm.exercises", "grade", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ada  12/12  rnn_step_forward ok")


def test_an_exercise_that_runs_forever_or_ends_the_process_costs_only_that_exercise(tmp_path):
    write_notebook(tmp_path, "dan", solution_cells(
        rnn_step_backward="import os\ndef rnn_step_backward(dh_next, cache):\n    os._exit(3)\n",
        lstm_step_forward="def lstm_step_forward(x, h, c, W_ih, W_hh, b_ih, b_hh):\n    while True:\n        pass\n"))
    (grade,) = grade_folder(tmp_path, timeout=3)
    summaries = {e.function: (e.points, e.summary) for e in grade.exercises}
    assert summaries["rnn_step_backward"] == (0, "ERROR (the process stopped: exit code 3)")
    assert summaries["lstm_step_forward"] == (0, "TIMEOUT (more than 3 s)")
    assert summaries["lstm_step_backward"] == (3, "ok") and summaries["numerical_gradient"] == (1, "ok")
    assert grade.points == 12 - 2 - 2


def test_cells_that_never_finish_cost_every_exercise_once(tmp_path):
    write_notebook(tmp_path, "eve", ["import time\nwhile True:\n    time.sleep(0.01)\n"] + solution_cells())
    (grade,) = grade_folder(tmp_path, timeout=2)
    assert grade.points == 0
    assert {e.summary for e in grade.exercises} == {"TIMEOUT (more than 2 s) in the exercise cells"}


def test_a_folder_per_student_is_graded_as_one_submission(tmp_path):
    """Exercises spread over several notebooks (the course's notebooks 1 to 4) count together."""
    cells = solution_cells()
    (tmp_path / "ida").mkdir()
    (tmp_path / "ida" / ".ipynb_checkpoints").mkdir()   # Jupyter's copies: not read
    write_notebook(tmp_path / "ida" / ".ipynb_checkpoints", "01_rnn-checkpoint", ["raise SystemExit(1)"])
    write_notebook(tmp_path / "ida", "01_rnn", cells[:2])
    write_notebook(tmp_path / "ida", "03_lstm_bptt", cells[3:5])   # lstm_step_forward (notebook 2) not handed in
    write_notebook(tmp_path / "ida", "04_gradient_checking", cells[5:])
    (tmp_path / "empty").mkdir()
    (grade,) = grade_folder(tmp_path)
    summaries = {e.function: e.summary for e in grade.exercises}
    assert grade.student == "ida" and grade.points == 10
    assert summaries["lstm_step_forward"] == "missing (no function lstm_step_forward)"
    assert summaries["lstm_sequence_backward"] == "ok"   # it calls lstm_step_backward from another notebook


def test_only_cells_tagged_exercise_run(tmp_path):
    cells = exercises.grading.exercise_cells
    write_notebook(tmp_path, "gus", ["x = 1\n%time y = 2\n  !ls"], untagged=["z = 3"])
    assert cells(tmp_path / "gus.ipynb") == ["x = 1\npass\n  pass"]


def test_grading_refuses_what_is_not_a_folder_and_reports_a_broken_notebook(tmp_path):
    raises_naming(ValueError, lambda: grade_folder(tmp_path / "missing"), "path", "missing", "not a folder")
    raises_naming(ValueError, lambda: grade_folder(tmp_path, timeout=0), "timeout", "0")
    (tmp_path / "hal.ipynb").write_text("{not json")
    (grade,) = grade_folder(tmp_path)
    assert grade.points == 0 and grade.exercises[0].summary.startswith("ERROR (hal.ipynb is not a readable notebook")


# ==================================================== the checkers' own tables and rules
@pytest.mark.parametrize("N, I, H", step_forward.STEP_SHAPES)
def test_the_formula_tables_are_the_librarys_kernels(N, I, H):
    """Each known mistake replaces a line of these tables: unreplaced, they must be the reference."""
    rng = np.random.default_rng(N)
    args = step_forward.random_step_inputs(rng, N, I, H)
    h_next, c_next, cache = F.lstm_step_forward(*args)
    forward = step_forward.STEP_FORWARD
    values = _run.evaluate(forward, dict(zip(("x", "h", "c", "W_ih", "W_hh", "b_ih", "b_hh"), args)))
    assert rel_error(values["h_next"], h_next) < 1e-14 and rel_error(values["c_next"], c_next) < 1e-14
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    values = _run.evaluate(step_backward.STEP_BACKWARD, dict(dh_next=dh, dc_next=dc, cache=cache))
    for name, expected in zip(STEP_OUTPUTS, F.lstm_step_backward(dh, dc, cache)):
        assert rel_error(values[name], expected) < 1e-14, name
    x, h, W_ih, W_hh, b_ih, b_hh = args[0], args[1], args[3][:H], args[4][:H], args[5][:H], args[6][:H]
    h_rnn, rnn_cache = functional_rnn.rnn_step_forward(x, h, W_ih, W_hh, b_ih, b_hh)
    values = _run.evaluate(rnn.RNN_FORWARD, dict(x=x, h=h, W_ih=W_ih, W_hh=W_hh, b_ih=b_ih, b_hh=b_hh))
    assert rel_error(values["h_next"], h_rnn) < 1e-14
    values = _run.evaluate(rnn.RNN_BACKWARD, dict(dh_next=dh, cache=rnn_cache))
    for name, expected in zip(rnn.RNN_BACKWARD_OUTPUTS, functional_rnn.rnn_step_backward(dh, rnn_cache)):
        assert rel_error(values[name], expected) < 1e-14, name


def test_the_finite_differences_rule_table_is_central_differences(rng):
    x = rng.standard_normal((3, 4))
    f = lambda: float(np.sum(np.sin(x) * x))   # noqa: E731
    assert rel_error(gradient_check.differences(f, x, 1e-5), library_numerical_gradient(f, x, 1e-5)) < 1e-12


KNOWN_MISTAKES = (
    [(check_rnn_step_forward, m) for m in rnn.RNN_FORWARD_MISTAKES]
    + [(check_rnn_step_backward, m) for m in rnn.RNN_BACKWARD_MISTAKES]
    + [(check_step_forward, m) for m in step_forward.FORWARD_MISTAKES]
    + [(check_step_backward, m) for m in step_backward.STEP_BACKWARD_MISTAKES]
    + [(check_sequence_backward, m) for m in sequence.LOOP_MISTAKES]   # the inherited step mistakes: above
    + [(check_gradient_check, m) for m in gradient_check.GRADIENT_MISTAKES])


@pytest.mark.parametrize("checker, mistake", KNOWN_MISTAKES, ids=[f"{c.__name__}: {m.name}" for c, m in KNOWN_MISTAKES])
def test_every_known_mistake_is_caught_and_named_by_itself(checker, mistake):
    """A known mistake that changed no output, or that an earlier one with another term shadowed, would fail here."""
    report = checker(mistake.run)
    assert report.status == "wrong" and report.wrong_outputs(), mistake.name
    assert report.mistakes[0] == mistake.name and list(report.hints)[0] == mistake.term


def test_the_inherited_step_mistakes_of_the_sequence_change_its_outputs():
    args = sequence.random_sequence(np.random.default_rng(0), 3, 2, 3, 2)
    reference = sequence.reference_sequence_backward(*args)
    for mistake in sequence.STEP_MISTAKES:
        outputs = mistake.run(*args)
        assert any(np.shape(o) != np.shape(r) or rel_error(o, r) > 1e-6 for o, r in zip(outputs, reference)), \
            mistake.name


@pytest.mark.parametrize("status, right, rule, points", [
    ("passed", 7, "", 3), ("error", 0, "", 0), ("not yet implemented", 0, "", 0),
    ("wrong", 7, "library", 0), ("wrong", 7, "in place", 2), ("wrong", 6, "", 2), ("wrong", 1, "", 0),
])
def test_points(status, right, rule, points):
    checks = [_run.OutputCheck(str(k), (1,), (1,), 0.0, None, k < right, "") for k in range(7)]
    assert _run.grade(status, checks, {rule: ""} if rule else {}, 3) == points


def test_the_points_table_in_the_docstring_is_the_one_graded():
    doc = exercises.__doc__
    for name, points in POINTS.items():
        assert f"{points}       {name}" in doc, name
    assert f"total                  {sum(POINTS.values())}" in doc


@pytest.mark.parametrize("checker", [check_rnn_step_forward, check_rnn_step_backward, check_step_forward,
                                     check_step_backward, check_sequence_backward, check_gradient_check])
def test_the_checkers_refuse_bad_arguments_naming_them(checker):
    raises_naming(TypeError, lambda: checker("lstm_step_backward"), "student_fn", "function", "str")
    raises_naming(ValueError, lambda: checker(print, tolerance=-1.0), "tolerance", "-1.0")
    raises_naming(TypeError, lambda: checker(print, seed="zero"), "seed", "'zero'")


def test_the_shapes_argument_is_checked():
    raises_naming(ValueError, lambda: check_step_backward(print, shapes=[(2, 3)]), "shapes", "(N, I, H)", "(2, 3)")
    raises_naming(ValueError, lambda: check_sequence_backward(print, shapes=[(2, 0, 3, 4)]), "shapes: N", "0")
    raises_naming(TypeError, lambda: check_step_forward(print, shapes=[]), "shapes", "[]")


def test_other_shapes_and_seeds_give_the_same_verdicts():
    report = check_step_backward(with_bug("wrong slope in g"), seed=7, shapes=[(3, 2, 5), (1, 4, 2)])
    assert report.cases == 2 and list(report.hints)[0] == "dg"
    assert check_step_backward(student_step_backward, seed=7, shapes=[(3, 2, 5)]).passed


def test_watching_for_the_librarys_kernels_keeps_a_profile_function_already_set():
    seen = []
    previous = lambda frame, event, arg: seen.append(event)   # noqa: E731
    sys.setprofile(previous)
    try:
        report = check_step_backward(F.lstm_step_backward)
        assert sys.getprofile() is previous
    finally:
        sys.setprofile(None)
    assert "library" in report.hints and "call" in seen


def test_changed_paths_names_fields_items_and_lists():
    cache = F.LSTMStepCache(*[np.zeros(2) for _ in range(10)])
    before = [cache, cache._replace()]
    after = [cache._replace(i=np.ones(2)), cache]
    assert _run.changed_paths("caches", before, after) == ["caches[0].i"]
    assert _run.changed_paths("caches", before, before[:1]) == ["caches"]
    assert _run.changed_paths("x", np.zeros(2), np.full(2, 1e-20), rtol=1e-12) == ["x"]   # rtol only, no atol
    assert _run.changed_paths("x", np.ones(2), np.ones(2) + 1e-15, rtol=1e-12) == []


def test_summary_phrases():
    assert check_step_backward(student_step_backward).summary() == "ok"
    assert check_step_backward(with_bug("wrong slope in f")).summary() == "WRONG (df)"   # dx only follows
    assert check_step_backward(with_bug("dh halved (unknown)")).summary() == "WRONG (da, dx)"
    report = check_step_backward(lambda *args: None)
    assert report.summary().startswith("ERROR (the function must return a tuple of 7 arrays")
