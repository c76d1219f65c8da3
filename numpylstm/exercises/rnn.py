"""The warm-up: one step of the vanilla (Elman) RNN with tanh, forward and backward.

Forward: ``rnn_step_forward(x, h, W_ih, W_hh, b_ih, b_hh) -> (h_next, cache)``, only
``h_next`` compared. Backward: ``rnn_step_backward(dh_next, cache)`` with the library's
``RNNStepCache`` -> ``(dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh)``. The equations are
those of ``numpylstm.functional_rnn``::

    h_next = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
    da = dh_next * (1 - h_next**2)
    dx = da @ W_ih    dh_prev = da @ W_hh    dW_ih = da.T @ x    dW_hh = da.T @ h_prev    db = da.sum(axis=0)
"""
import numpy as np

from ..functional import sigmoid
from ..functional_rnn import rnn_step_backward, rnn_step_forward
from ._report import DEFAULT_TOLERANCE, POINTS
from ._run import (Exercise, Mistake, check_arguments, evaluate, library_kernels, output_hints_for, random_cases,
                   run_exercise)
from .step_forward import random_weights

RNN_SHAPES = ((2, 3, 4), (3, 5, 2), (4, 2, 3))     # (N, I, H): no two sizes equal
RNN_BACKWARD_OUTPUTS = ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")

RNN_OUTPUT_HINTS = {
    "h_next": "h_next = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)",
    "dx": "dx = da @ W_ih: (N, H) @ (H, I), with da = dh_next * (1 - h_next**2)",
    "dh_prev": "dh_prev = da @ W_hh: (N, H) @ (H, H), with da = dh_next * (1 - h_next**2)",
    "dW_ih": "dW_ih = da.T @ x: (H, N) @ (N, I)",
    "dW_hh": "dW_hh = da.T @ h_prev: the hidden state the step read",
    "db_ih": "db_ih = da.sum(axis=0): the bias is added to every row of the batch",
    "db_hh": "db_hh = da.sum(axis=0), the same as db_ih",
}

RNN_FORWARD = {
    "a": lambda v: v.x @ v.W_ih.T + v.b_ih + v.h @ v.W_hh.T + v.b_hh,
    "h_next": lambda v: np.tanh(v.a),
}
RNN_BACKWARD = {
    **{field: (lambda field: lambda v: getattr(v.cache, field))(field)
       for field in ("x", "h_prev", "h_next", "W_ih", "W_hh")},
    "slope": lambda v: 1 - v.h_next ** 2,                # tanh'(a), read from tanh(a) = h_next
    "da": lambda v: v.dh_next * v.slope,
    "dx": lambda v: v.da @ v.W_ih,
    "dh_prev": lambda v: v.da @ v.W_hh,
    "dW_ih": lambda v: v.da.T @ v.x,
    "dW_hh": lambda v: v.da.T @ v.h_prev,
    "db_ih": lambda v: v.da.sum(axis=0),
    "db_hh": lambda v: v.da.sum(axis=0),
}


# ----------------------------------------------------------------------- the checks
def check_rnn_step_forward(student_fn, tolerance=DEFAULT_TOLERANCE, seed=0, shapes=RNN_SHAPES):
    """Check a student's ``rnn_step_forward(x, h, W_ih, W_hh, b_ih, b_hh) -> (h_next, cache)`` (tanh).

    Arguments: ``x`` (N, I), ``h`` (N, H), ``W_ih`` (H, I), ``W_hh`` (H, H), ``b_ih`` and
    ``b_hh`` (H,). ``h_next`` (N, H) is compared; ``cache`` is the student's own.
    Parameters and return value as ``check_step_backward``; ``shapes`` holds (N, I, H).
    """
    tolerance, seed = check_arguments(tolerance, seed, shapes, ("N", "I", "H"))
    cases = random_cases(np.random.default_rng(seed), shapes, _random_rnn_inputs,
                         lambda *args: rnn_step_forward(*args)[:1])
    return run_exercise(RNN_FORWARD_EXERCISE, student_fn, cases, tolerance, RNN_FORWARD_MISTAKES,
                        lambda checks, results: output_hints_for(checks, RNN_OUTPUT_HINTS))


def check_rnn_step_backward(student_fn, tolerance=DEFAULT_TOLERANCE, seed=0, shapes=RNN_SHAPES):
    """Check a student's ``rnn_step_backward(dh_next, cache) -> (dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh)``.

    ``dh_next`` is (N, H); ``cache`` is the ``RNNStepCache`` of ``functional_rnn.rnn_step_forward``
    (tanh) with fields ``x`` (N, I), ``h_prev`` (N, H), ``h_next`` (N, H), ``W_ih`` (H, I),
    ``W_hh`` (H, H), ``nonlinearity``. The gradients have the shapes of x, h_prev, W_ih,
    W_hh, b_ih (H,), b_hh (H,). Parameters and return value as ``check_step_backward``.
    """
    tolerance, seed = check_arguments(tolerance, seed, shapes, ("N", "I", "H"))
    cases = random_cases(np.random.default_rng(seed), shapes, _random_rnn_backward_args, rnn_step_backward)
    return run_exercise(RNN_BACKWARD_EXERCISE, student_fn, cases, tolerance, RNN_BACKWARD_MISTAKES,
                        lambda checks, results: output_hints_for(checks, RNN_OUTPUT_HINTS))


RNN_FORWARD_EXERCISE = Exercise(
    name="rnn_step_forward", arguments=("x", "h", "W_ih", "W_hh", "b_ih", "b_hh"), outputs=("h_next", "cache"),
    compared=1, max_points=POINTS["rnn_step_forward"], output_hints=RNN_OUTPUT_HINTS,
    forbidden=library_kernels("functional_rnn.rnn_step_forward", "functional_rnn.rnn_forward"))
RNN_BACKWARD_EXERCISE = Exercise(
    name="rnn_step_backward", arguments=("dh_next", "cache"), outputs=RNN_BACKWARD_OUTPUTS,
    compared=len(RNN_BACKWARD_OUTPUTS), max_points=POINTS["rnn_step_backward"], output_hints=RNN_OUTPUT_HINTS,
    forbidden=library_kernels("functional_rnn.rnn_step_backward", "functional_rnn.rnn_backward"))


def _random_rnn_inputs(rng, N, I, H):
    """``(x, h, W_ih, W_hh, b_ih, b_hh)``: the first H rows of an LSTM's random weights (distinct biases)."""
    W_ih, W_hh, b_ih, b_hh = random_weights(rng, I, H)
    return rng.standard_normal((N, I)), rng.standard_normal((N, H)), W_ih[:H], W_hh[:H], b_ih[:H], b_hh[:H]


def _random_rnn_backward_args(rng, N, I, H):
    """``(dh_next, cache)``: a random forward step's cache and a random dh_next (N, H)."""
    _, cache = rnn_step_forward(*_random_rnn_inputs(rng, N, I, H))
    return rng.standard_normal((N, H)), cache


# ---------------------------------------------------------------- the known mistakes
def _forward_with(**overrides):
    def mistaken(x, h, W_ih, W_hh, b_ih, b_hh):
        v = evaluate(RNN_FORWARD, dict(x=x, h=h, W_ih=W_ih, W_hh=W_hh, b_ih=b_ih, b_hh=b_hh), overrides)
        return v["h_next"], None
    return mistaken


def _backward_with(**overrides):
    def mistaken(dh_next, cache):
        v = evaluate(RNN_BACKWARD, dict(dh_next=dh_next, cache=cache), overrides)
        return tuple(v[name] for name in RNN_BACKWARD_OUTPUTS)
    return mistaken


_A = "a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh"
RNN_FORWARD_MISTAKES = [
    Mistake("sigmoid for tanh", "tanh", "tanh: h_next = tanh(a), not sigmoid: the RNN's state lies in (-1, 1)",
            _forward_with(h_next=lambda v: sigmoid(v.a))),
    Mistake("relu for tanh", "tanh", "tanh: h_next = tanh(a), not relu (this exercise is the tanh RNN)",
            _forward_with(h_next=lambda v: np.maximum(v.a, 0))),
    Mistake("no activation", "tanh", "tanh: h_next = tanh(a): the activation is missing",
            _forward_with(h_next=lambda v: v.a)),
    Mistake("W_hh not transposed", "W_hh", f"W_hh: {_A}: row j of W_hh holds unit j's weights, so h @ W_hh.T; "
            "h @ W_hh has the right shape (W_hh is square) but uses the columns",
            _forward_with(a=lambda v: v.x @ v.W_ih.T + v.b_ih + v.h @ v.W_hh + v.b_hh)),
    Mistake("h left out", "W_hh", f"W_hh: {_A}: the recurrent term h @ W_hh.T is missing",
            _forward_with(a=lambda v: v.x @ v.W_ih.T + v.b_ih + v.b_hh)),
    Mistake("x left out", "W_ih", f"W_ih: {_A}: the input term x @ W_ih.T is missing",
            _forward_with(a=lambda v: v.h @ v.W_hh.T + v.b_ih + v.b_hh)),
    Mistake("b_hh left out", "bias", f"bias: {_A}: b_hh is missing (PyTorch has two biases and adds both)",
            _forward_with(a=lambda v: v.x @ v.W_ih.T + v.b_ih + v.h @ v.W_hh.T)),
    Mistake("b_ih left out", "bias", f"bias: {_A}: b_ih is missing (PyTorch has two biases and adds both)",
            _forward_with(a=lambda v: v.x @ v.W_ih.T + v.h @ v.W_hh.T + v.b_hh)),
    Mistake("both biases left out", "bias", f"bias: {_A}: the biases are missing",
            _forward_with(a=lambda v: v.x @ v.W_ih.T + v.h @ v.W_hh.T)),
    Mistake("biases added after tanh", "bias", f"bias: h_next = tanh(a) with {_A}: the biases go inside the tanh",
            _forward_with(h_next=lambda v: np.tanh(v.x @ v.W_ih.T + v.h @ v.W_hh.T) + v.b_ih + v.b_hh)),
]

_SLOPE = "da = dh_next * (1 - h_next**2): tanh's slope, read from its output h_next = tanh(a)"
RNN_BACKWARD_MISTAKES = [
    Mistake("sigmoid's slope", "slope", f"slope: {_SLOPE}; h_next * (1 - h_next) is the sigmoid's",
            _backward_with(slope=lambda v: v.h_next * (1 - v.h_next))),
    Mistake("slope missing", "slope", f"slope: {_SLOPE}; the slope is missing",
            _backward_with(slope=lambda v: 1.0)),
    Mistake("slope from h_prev", "slope", f"slope: {_SLOPE}; you used h_prev, the state the step read",
            _backward_with(slope=lambda v: 1 - v.h_prev ** 2)),
    Mistake("slope not squared", "slope", f"slope: {_SLOPE}; 1 - h_next is missing the square",
            _backward_with(slope=lambda v: 1 - v.h_next)),
    Mistake("tanh applied twice in the slope", "slope", f"slope: {_SLOPE}; h_next already is tanh(a), so "
            "1 - tanh(h_next)**2 applies tanh twice", _backward_with(slope=lambda v: 1 - np.tanh(v.h_next) ** 2)),
    Mistake("dx = da @ W_hh", "dx", "dx = da @ W_ih: x enters through W_ih; W_hh belongs to h_prev",
            _backward_with(dx=lambda v: v.da @ v.W_hh)),
    Mistake("dh_prev = da @ W_ih", "dh_prev", "dh_prev = da @ W_hh: h_prev enters through W_hh; W_ih belongs "
            "to x", _backward_with(dh_prev=lambda v: v.da @ v.W_ih)),
    Mistake("dh_prev = da @ W_hh.T", "dh_prev", "dh_prev = da @ W_hh, not da @ W_hh.T: the forward used "
            "h @ W_hh.T, whose gradient with respect to h is da @ W_hh (same shape, W_hh is square)",
            _backward_with(dh_prev=lambda v: v.da @ v.W_hh.T)),
    Mistake("dh_prev without the slope", "dh_prev", "dh_prev = da @ W_hh with da = dh_next * (1 - h_next**2): "
            "the slope is missing here", _backward_with(dh_prev=lambda v: v.dh_next @ v.W_hh)),
    Mistake("dW_ih = x.T @ da", "dW_ih", "dW_ih = da.T @ x, of W_ih's shape (H, I); x.T @ da is its transpose",
            _backward_with(dW_ih=lambda v: v.x.T @ v.da)),
    Mistake("dW_hh = h_prev.T @ da", "dW_hh", "dW_hh = da.T @ h_prev; h_prev.T @ da is its transpose (the same "
            "shape, since W_hh is square)", _backward_with(dW_hh=lambda v: v.h_prev.T @ v.da)),
    Mistake("dW_hh from h_next", "dW_hh", "dW_hh = da.T @ h_prev: the hidden state the step READ, not h_next",
            _backward_with(dW_hh=lambda v: v.da.T @ v.h_next)),
    Mistake("db summed over axis 1", "db", "db = da.sum(axis=0): sum over the batch (the rows), shape (H,)",
            _backward_with(db_ih=lambda v: v.da.sum(axis=1), db_hh=lambda v: v.da.sum(axis=1))),
    Mistake("db not summed", "db", "db = da.sum(axis=0): the bias is added to every row of the batch",
            _backward_with(db_ih=lambda v: v.da, db_hh=lambda v: v.da)),
    Mistake("db averaged", "db", "db = da.sum(axis=0), not the mean: every row's gradient counts in full",
            _backward_with(db_ih=lambda v: v.da.mean(axis=0), db_hh=lambda v: v.da.mean(axis=0))),
    Mistake("db without the slope", "db", "db = da.sum(axis=0) with da = dh_next * (1 - h_next**2): the slope "
            "is missing here", _backward_with(db_ih=lambda v: v.dh_next.sum(axis=0),
                                              db_hh=lambda v: v.dh_next.sum(axis=0))),
    Mistake("db_hh zero", "db_hh", "db_hh = da.sum(axis=0), the same as db_ih: b_hh is added to the same sum",
            _backward_with(db_hh=lambda v: np.zeros_like(v.db_ih))),
]
