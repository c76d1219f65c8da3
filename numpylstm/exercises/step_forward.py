"""The LSTM step forward exercise: ``lstm_step_forward(x, h, c, W_ih, W_hh, b_ih, b_hh)``.

The student's ``h_next`` and ``c_next`` are compared with the library's; the cache
the student returns is their own and is not compared. A wrong answer is first
matched against known mistakes (the gate blocks read in another order, a gate
with the wrong activation, tanh of the previous cell state, a bias left out);
when none matches, *gate probes* find the wrong gate: inputs on which one gate
varies and the other three are held at constants, so that a right gate shows as
``c_next`` (or ``h_next``) proportional to its activation, whatever the student's
other gates compute.
"""
import copy
import itertools

import numpy as np

from ..functional import GATES, lstm_step_forward, sigmoid, split_gates
from ._report import DEFAULT_TOLERANCE, POINTS
from ._run import (Exercise, Mistake, check_arguments, evaluate, library_kernels, output_hints_for,
                   random_cases, run_exercise)

STEP_SHAPES = ((2, 3, 4), (3, 5, 2), (1, 2, 3))   # (N, I, H): no two sizes that hide a transpose

# The forward step, one term per line: each known mistake replaces one or two of these formulas.
STEP_FORWARD = {
    "a": lambda v: v.x @ v.W_ih.T + v.b_ih + v.h @ v.W_hh.T + v.b_hh,   # (N, 4H)
    "blocks": lambda v: split_gates(v.a),                               # (a_i, a_f, a_g, a_o)
    "i": lambda v: sigmoid(v.blocks[0]),
    "f": lambda v: sigmoid(v.blocks[1]),
    "g": lambda v: np.tanh(v.blocks[2]),
    "o": lambda v: sigmoid(v.blocks[3]),
    "c_next": lambda v: v.f * v.c + v.i * v.g,
    "tanh_c": lambda v: np.tanh(v.c_next),
    "h_next": lambda v: v.o * v.tanh_c,
}
FORWARD_OUTPUT_HINTS = {
    "c_next": "c_next = f * c + i * g: the forget gate scales the old cell state, the input gate the candidate",
    "h_next": "h_next = o * tanh(c_next): the output gate times the tanh of the NEW cell state",
}
GATE_FORWARD_HINTS = {
    "i": ("i is wrong: i = sigmoid(a_i) with a_i = a[:, :H], the first of the blocks i, f, g, o; "
          "it scales g in c_next = f * c + i * g"),
    "f": ("f is wrong: f = sigmoid(a_f) with a_f = a[:, H:2H], the second block; it scales the old cell "
          "state in c_next = f * c + i * g"),
    "g": ("g is wrong: g = tanh(a_g) with a_g = a[:, 2H:3H], the third block (tanh, not sigmoid: the "
          "candidate can be negative)"),
    "o": ("o (or tanh(c_next)) is wrong: o = sigmoid(a_o) with a_o = a[:, 3H:], the last block, and "
          "h_next = o * tanh(c_next)"),
}
ACTIVATIONS = {"sigmoid": sigmoid, "tanh": np.tanh, "no activation": lambda a: a}


# ------------------------------------------------------------------- random inputs
def random_weights(rng, I, H):
    """``W_ih, W_hh, b_ih, b_hh`` for a random step: moderate weights, distinct non-zero biases."""
    W_ih, W_hh = rng.standard_normal((4 * H, I)) * 0.5, rng.standard_normal((4 * H, H)) * 0.5
    return W_ih, W_hh, rng.uniform(0.1, 1.0, 4 * H), rng.uniform(-1.0, -0.1, 4 * H)


def random_step_inputs(rng, N, I, H):
    """``(x, h, c, W_ih, W_hh, b_ih, b_hh)``: x (N, I), h and c (N, H), random weights."""
    x, h, c = rng.standard_normal((N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    return (x, h, c) + random_weights(rng, I, H)


# ------------------------------------------------------------------------ the check
def check_step_forward(student_fn, tolerance=DEFAULT_TOLERANCE, seed=0, shapes=STEP_SHAPES):
    """Check a student's ``lstm_step_forward(x, h, c, W_ih, W_hh, b_ih, b_hh) -> (h_next, c_next, cache)``.

    Arguments the function receives: ``x`` (N, I), ``h`` and ``c`` (N, H), ``W_ih`` (4H, I),
    ``W_hh`` (4H, H), ``b_ih`` and ``b_hh`` (4H,), rows in PyTorch's gate order i, f, g, o.
    ``h_next`` (N, H) and ``c_next`` (N, H) are compared; ``cache`` is the student's own.
    Parameters and return value as ``check_step_backward``; ``shapes`` holds (N, I, H).
    """
    tolerance, seed = check_arguments(tolerance, seed, shapes, ("N", "I", "H"))
    rng = np.random.default_rng(seed)
    cases = random_cases(rng, shapes, random_step_inputs, lambda *args: lstm_step_forward(*args)[:2])
    probes = [gate_probe(rng, gate, N, I, H) for gate in GATES for N, I, H in shapes[:1]]

    def diagnose(checks, results):
        return _probe_diagnosis(student_fn, probes, checks, tolerance)

    return run_exercise(FORWARD_EXERCISE, student_fn, cases, tolerance, FORWARD_MISTAKES, diagnose)


FORWARD_EXERCISE = Exercise(
    name="lstm_step_forward", arguments=("x", "h", "c", "W_ih", "W_hh", "b_ih", "b_hh"),
    outputs=("h_next", "c_next", "cache"), compared=2, max_points=POINTS["lstm_step_forward"],
    output_hints=FORWARD_OUTPUT_HINTS,
    forbidden=library_kernels("functional.lstm_step_forward", "functional.lstm_forward", "fast.lstm_forward"))


# ---------------------------------------------------------------- the known mistakes
def _forward_with(**overrides):
    """A forward step with some formulas of STEP_FORWARD replaced: ``(h_next, c_next, None)``."""
    def mistaken(x, h, c, W_ih, W_hh, b_ih, b_hh):
        v = evaluate(STEP_FORWARD, dict(x=x, h=h, c=c, W_ih=W_ih, W_hh=W_hh, b_ih=b_ih, b_hh=b_hh), overrides)
        return v["h_next"], v["c_next"], None
    return mistaken


def _gate_order_mistakes():
    """The gate blocks of ``a`` read in each of the 23 other orders."""
    mistakes = []
    for order in itertools.permutations(range(4)):
        if order == (0, 1, 2, 3):
            continue
        read = ", ".join(GATES[k] for k in order)
        note = " (CS231n's order)" if read == "i, f, o, g" else ""
        hint = (f"gate order: you read the four blocks of a as {read}{note}; W_ih, W_hh and the biases hold "
                f"them in PyTorch's order i, f, g, o: a_i = a[:, :H], a_f = a[:, H:2H], a_g = a[:, 2H:3H], "
                f"a_o = a[:, 3H:]")
        blocks = (lambda order: lambda v: tuple(split_gates(v.a)[k] for k in order))(order)
        mistakes.append(Mistake(f"gate blocks read as {read}", "gate order", hint, _forward_with(blocks=blocks)))
    return mistakes


def _activation_mistakes():
    """Each gate with each wrong activation."""
    mistakes = []
    for k, gate in enumerate(GATES):
        right = "tanh" if gate == "g" else "sigmoid"
        why = ("the candidate values lie in (-1, 1), so the cell can also decrease" if gate == "g"
               else "a gate is a fraction in (0, 1)")
        for used, activation in ACTIVATIONS.items():
            if used == right:
                continue
            formula = (lambda k, activation: lambda v: activation(v.blocks[k]))(k, activation)
            hint = f"{gate} = {right}(a_{gate}), not {used}: {why}"
            if used == "no activation":
                hint = f"{gate} = {right}(a_{gate}): the activation is missing ({why})"
            mistakes.append(Mistake(f"{used} for {gate}", gate, hint, _forward_with(**{gate: formula})))
    return mistakes


_CELL = "c_next = f * c + i * g"
FORWARD_MISTAKES = _gate_order_mistakes() + _activation_mistakes() + [
    Mistake("tanh(c_prev) for tanh(c_next)", "tanh(c)",
            "tanh(c): h_next = o * tanh(c_next) uses the NEW cell state c_next = f * c + i * g; you used "
            "tanh of the old one, c: compute c_next first", _forward_with(tanh_c=lambda v: np.tanh(v.c))),
    Mistake("no tanh on the cell state", "tanh(c)", "tanh(c): h_next = o * tanh(c_next): the tanh is missing",
            _forward_with(tanh_c=lambda v: v.c_next)),
    Mistake("sigmoid(c_next) for tanh(c_next)", "tanh(c)", "tanh(c): h_next = o * tanh(c_next), not sigmoid",
            _forward_with(tanh_c=lambda v: sigmoid(v.c_next))),
    Mistake("i missing in c_next", "i", f"i: {_CELL}: the input gate i must scale the candidate g",
            _forward_with(c_next=lambda v: v.f * v.c + v.g)),
    Mistake("f missing in c_next", "f", f"f: {_CELL}: the forget gate f must scale the old cell state c",
            _forward_with(c_next=lambda v: v.c + v.i * v.g)),
    Mistake("o missing in h_next", "o", "o: h_next = o * tanh(c_next): the output gate o is missing",
            _forward_with(h_next=lambda v: v.tanh_c)),
    Mistake("h for c in c_next", "c_next", f"c_next: {_CELL}: f scales the previous CELL state c, not h",
            _forward_with(c_next=lambda v: v.f * v.h + v.i * v.g)),
    Mistake("b_hh left out", "bias", "bias: a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh: b_hh is missing "
            "(PyTorch has two biases and adds both)",
            _forward_with(a=lambda v: v.x @ v.W_ih.T + v.b_ih + v.h @ v.W_hh.T)),
    Mistake("b_ih left out", "bias", "bias: a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh: b_ih is missing "
            "(PyTorch has two biases and adds both)",
            _forward_with(a=lambda v: v.x @ v.W_ih.T + v.h @ v.W_hh.T + v.b_hh)),
    Mistake("both biases left out", "bias", "bias: a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh: the biases "
            "are missing", _forward_with(a=lambda v: v.x @ v.W_ih.T + v.h @ v.W_hh.T)),
]


# ------------------------------------------------------------------ the gate probes
# In the probe of one gate, the other three gates' pre-activations are these constants (the same
# for every unit: biases only, zero weights), and only the probed gate varies. Then, whatever
# the student's other gates compute, they are constants too, and a right probed gate shows as
#   i: c_next = K * sigmoid(a_i)        (c = 0)        g: c_next = K * tanh(a_g)   (c = 0)
#   f: c_next = K * sigmoid(a_f) * c + K2               o: h_next = K * sigmoid(a_o) (c = 0)
# for some constants K != 0 and K2: a least-squares fit tells whether the output has that form.
_CONSTANT = {"i": 0.5, "f": 0.3, "g": 0.8, "o": 0.6}
_ACTIVATION = {"i": sigmoid, "f": sigmoid, "g": np.tanh, "o": sigmoid}


def gate_probe(rng, gate, N, I, H):
    """``(gate, arguments, output index, columns)``: inputs on which only ``gate`` varies, and the
    columns the output must be a combination of (the first with a non-zero coefficient)."""
    x, h = rng.standard_normal((N, I)), rng.standard_normal((N, H))
    c = rng.standard_normal((N, H)) if gate == "f" else np.zeros((N, H))
    W_ih, W_hh, b = np.zeros((4 * H, I)), np.zeros((4 * H, H)), np.zeros(4 * H)
    for k, name in enumerate(GATES):
        rows = slice(k * H, (k + 1) * H)
        if name == gate:
            W_ih[rows], W_hh[rows], b[rows] = rng.standard_normal((H, I)), rng.standard_normal((H, H)), \
                rng.uniform(-1, 1, H)
        else:
            b[rows] = _CONSTANT[name]
    k = GATES.index(gate)
    rows = slice(k * H, (k + 1) * H)
    activation = _ACTIVATION[gate](x @ W_ih[rows].T + h @ W_hh[rows].T + b[rows])
    columns = [activation * c, np.ones_like(c)] if gate == "f" else [activation]
    return gate, (x, h, c, W_ih, W_hh, b / 2, b / 2), 0 if gate == "o" else 1, columns


def _has_the_form(output, columns, tolerance):
    """True when ``output`` = a combination of ``columns`` (to ``tolerance``) whose first coefficient is not 0."""
    A = np.stack([column.ravel() for column in columns], axis=1)
    y = np.asarray(output, dtype=float).ravel()
    if y.shape[0] != A.shape[0] or not np.all(np.isfinite(y)):
        return False
    coefficients = np.linalg.lstsq(A, y, rcond=None)[0]
    residual = np.linalg.norm(y - A @ coefficients)
    return residual <= tolerance * max(np.linalg.norm(y), 1e-300) and abs(coefficients[0]) > tolerance


def _probe_diagnosis(student_fn, probes, checks, tolerance):
    """The gates whose probe the student's function gets wrong, else the formulas of the wrong outputs."""
    hints = {}
    for gate, args, output, columns in probes:
        try:
            got = student_fn(*copy.deepcopy(args))[output]
        except Exception:          # the probes are only a help: a function that fails on them is not
            return output_hints_for(checks, FORWARD_OUTPUT_HINTS)
        if not _has_the_form(got, columns, tolerance):
            hints[gate] = GATE_FORWARD_HINTS[gate]
    by_name = {c.name: c for c in checks}
    if not hints and by_name["c_next"].passed:
        hints["tanh(c)"] = "h_next is wrong while c_next is right: h_next = o * tanh(c_next)"
    return {**hints, **output_hints_for(checks, FORWARD_OUTPUT_HINTS)}
