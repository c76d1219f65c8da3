r"""The LSTM step backward exercise: ``lstm_step_backward(dh_next, dc_next, cache)``.

The derivatives the reference applies (see ``numpylstm.functional``)::

    do   = dh_t * tanh(c_t)
    dc_t = dc_next + dh_t * o * (1 - tanh(c_t)**2)   # both paths into c_t
    di = dc_t * g    df = dc_t * c_{t-1}    dg = dc_t * i    dc_prev = dc_t * f
    da = [di * i(1-i), df * f(1-f), dg * (1-g^2), do * o(1-o)]
    dx = da @ W_ih   dh_prev = da @ W_hh   dW_ih = da.T @ x   dW_hh = da.T @ h_prev   db = sum_n da

A wrong answer is matched against the known mistakes below (``STEP_BACKWARD_MISTAKES``,
each a replacement of one or two of these lines). What no known mistake explains is
analysed gate by gate (``gate_diagnosis``): ``dW_ih``, ``dW_hh`` and ``db`` are split into
their four blocks i, f, g, o, and the blocks that are wrong locate the term.
"""
import itertools

import numpy as np

from ..functional import GATES, lstm_step_backward, lstm_step_forward
from ._report import DEFAULT_TOLERANCE, POINTS
from ._run import Exercise, Mistake, check_arguments, evaluate, library_kernels, random_cases, run_exercise
from .step_forward import STEP_SHAPES, random_step_inputs

STEP_OUTPUTS = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")
GATED_OUTPUTS = ("dW_ih", "dW_hh", "db_ih", "db_hh", "db")   # row blocks i, f, g, o

GATE_HINTS = {
    "i": ("di", "di is wrong: c_t = f*c_{t-1} + i*g, so di = dc_t * g, and i = sigmoid(a_i) gives "
                "da_i = di * i * (1 - i)"),
    "f": ("df", "df is wrong: remember dc_t reaches f through c_t = f*c_{t-1} + i*g, so df = dc_t * c_{t-1}, "
                "and f = sigmoid(a_f) gives da_f = df * f * (1 - f)"),
    "g": ("dg", "dg is wrong: c_t = f*c_{t-1} + i*g, so dg = dc_t * i, and g = tanh(a_g) gives "
                "da_g = dg * (1 - g**2) (the tanh slope, not the sigmoid's)"),
    "o": ("do", "do is wrong: h_t = o*tanh(c_t), so do = dh_t * tanh(c_t), and o = sigmoid(a_o) gives "
                "da_o = do * o * (1 - o)"),
}
_DC = "dc_t = dc_next + dh_t * o * (1 - tanh(c_t)**2)"
CELL_HINT = (f"dc_t is wrong (the i, f and g blocks, which reach the loss through c_t, are all off while o is "
             f"right): dc_t collects two paths, the gradient dc_next from the step after and the path through "
             f"h_t = o*tanh(c_t), so {_DC}; check that both terms are there")
ALL_GATES_HINT = ("every gate block of da is wrong (i, f, g and o): look for what they share. That is tanh(c_t) "
                  f"(do = dh_t * tanh(c_t), and {_DC}), dh_t itself, or the order of the gates: PyTorch's blocks "
                  "and the cache's fields are i, f, g, o (CS231n's are i, f, o, g)")
OUTPUT_HINTS = {
    "dx": "dx = da @ W_ih: (N, 4H) @ (4H, I)",
    "dh_prev": "dh_prev = da @ W_hh: (N, 4H) @ (4H, H)",
    "dc_prev": ("dc_prev is wrong: c_{t-1} reaches c_t only through f*c_{t-1}, so dc_prev = dc_t * f, where "
                "dc_t = dc_next + dh_t * o * (1 - tanh(c_t)**2) also flows through h_t = o*tanh(c_t)"),
    "dW_ih": "dW_ih = da.T @ x: (4H, N) @ (N, I), summed over the batch by the product",
    "dW_hh": "dW_hh = da.T @ h_prev: the hidden state the step read, not the one it produced",
    "db_ih": "db_ih = da.sum(axis=0): the bias is added to every row of the batch",
    "db_hh": "db_hh = da.sum(axis=0): b_hh is added to the same sum as b_ih, so it gets the same gradient",
}

# The backward step, one term per line, in the order of the derivation. The cache's fields
# are terms too, so that a mistake can read them wrongly (unpacked in another order).
STEP_BACKWARD = {
    **{field: (lambda field: lambda v: getattr(v.cache, field))(field)
       for field in ("x", "h_prev", "c_prev", "i", "f", "g", "o", "tanh_c", "W_ih", "W_hh")},
    "dc": lambda v: v.dc_next + v.dh_next * v.o * (1 - v.tanh_c ** 2),
    "do": lambda v: v.dh_next * v.tanh_c,
    "di": lambda v: v.dc * v.g,
    "df": lambda v: v.dc * v.c_prev,
    "dg": lambda v: v.dc * v.i,
    "da_i": lambda v: v.di * v.i * (1 - v.i),
    "da_f": lambda v: v.df * v.f * (1 - v.f),
    "da_g": lambda v: v.dg * (1 - v.g ** 2),
    "da_o": lambda v: v.do * v.o * (1 - v.o),
    "da": lambda v: np.concatenate([v.da_i, v.da_f, v.da_g, v.da_o], axis=1),
    "dx": lambda v: v.da @ v.W_ih,
    "dh_prev": lambda v: v.da @ v.W_hh,
    "dc_prev": lambda v: v.dc * v.f,
    "dW_ih": lambda v: v.da.T @ v.x,
    "dW_hh": lambda v: v.da.T @ v.h_prev,
    "db_ih": lambda v: v.da.sum(axis=0),
    "db_hh": lambda v: v.da.sum(axis=0),
}


# ------------------------------------------------------------------------ the check
def check_step_backward(student_fn, tolerance=DEFAULT_TOLERANCE, seed=0, shapes=STEP_SHAPES):
    """Check a student's ``lstm_step_backward(dh_next, dc_next, cache)``.

    ``student_fn`` must have the signature of
    ``numpylstm.functional.lstm_step_backward``: it takes

    - ``dh_next`` (N, H): dL/dh_t
    - ``dc_next`` (N, H): dL/dc_t arriving from the next step
    - ``cache``: an ``LSTMStepCache`` from ``lstm_step_forward`` with fields
      ``x`` (N, I), ``h_prev``, ``c_prev``, ``i``, ``f``, ``g``, ``o``, ``tanh_c``
      (N, H), ``W_ih`` (4H, I), ``W_hh`` (4H, H)

    and returns the 7 gradients ``(dx, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh)``
    of shapes (N, I), (N, H), (N, H), (4H, I), (4H, H), (4H,), (4H,).

    Parameters
    ----------
    student_fn : callable
    tolerance : largest relative error that counts as right
    seed : seeds the random inputs
    shapes : (N, I, H) of each random case

    Returns
    -------
    ExerciseReport (``.passed``, ``.status``, ``.wrong_outputs()``, ``.wrong_gates(name)``, ``.hints``)
    """
    tolerance, seed = check_arguments(tolerance, seed, shapes, ("N", "I", "H"))
    cases = random_cases(np.random.default_rng(seed), shapes, random_step_backward_args, lstm_step_backward)

    def diagnose(checks, results):
        return gate_diagnosis(checks, OUTPUT_HINTS, tolerance)

    return run_exercise(BACKWARD_EXERCISE, student_fn, cases, tolerance, STEP_BACKWARD_MISTAKES, diagnose)


BACKWARD_EXERCISE = Exercise(
    name="lstm_step_backward", arguments=("dh_next", "dc_next", "cache"), outputs=STEP_OUTPUTS,
    compared=len(STEP_OUTPUTS), gated=GATED_OUTPUTS, max_points=POINTS["lstm_step_backward"], output_hints=OUTPUT_HINTS,
    forbidden=library_kernels("functional.lstm_step_backward", "functional.lstm_backward", "fast.lstm_backward"))


def random_step_backward_args(rng, N, I, H):
    """``(dh_next, dc_next, cache)``: a forward step on random inputs (distinct non-zero biases), random dh, dc."""
    _, _, cache = lstm_step_forward(*random_step_inputs(rng, N, I, H))
    return rng.standard_normal((N, H)), rng.standard_normal((N, H)), cache


# ---------------------------------------------------------------- the known mistakes
def step_backward_with(**overrides):
    """``lstm_step_backward`` with some formulas of STEP_BACKWARD replaced (a known mistake)."""
    def mistaken(dh_next, dc_next, cache):
        v = evaluate(STEP_BACKWARD, dict(dh_next=dh_next, dc_next=dc_next, cache=cache), overrides)
        return tuple(v[name] for name in STEP_OUTPUTS)
    return mistaken


_SLOPES = {"sigmoid": lambda y: y * (1 - y), "tanh": lambda y: 1 - y ** 2, "none": lambda y: 1.0}
_SLOPE_TEXT = {"sigmoid": "{k} * (1 - {k})", "tanh": "(1 - {k}**2)"}


def _slope_mistakes():
    """Each gate's da with the other activation's slope, or with none."""
    mistakes = []
    for gate in GATES:
        right = "tanh" if gate == "g" else "sigmoid"
        formula = f"da_{gate} = d{gate} * " + _SLOPE_TEXT[right].format(k=gate)
        for used in ("tanh" if right == "sigmoid" else "sigmoid", "none"):
            slope = (lambda gate, used: lambda v: v[f"d{gate}"] * _SLOPES[used](v[gate]))(gate, used)
            problem = ("is missing the slope of its activation" if used == "none" else
                       f"uses {used}'s slope {_SLOPE_TEXT[used].format(k=gate)}")
            hint = f"da_{gate} {problem}, but {gate} = {right}(a_{gate}): {formula}"
            mistakes.append(Mistake(f"da_{gate} with {used} slope", f"d{gate}", hint,
                                    step_backward_with(**{f"da_{gate}": slope})))
    return mistakes


def _gate_order_mistakes():
    """da's blocks concatenated in each of the 23 other orders, and the cache unpacked as CS231n's i, f, o, g."""
    mistakes = [Mistake(
        "cache unpacked as i, f, o, g", "gate order",
        "gate order: the cache's fields are x, h_prev, c_prev, i, f, g, o, tanh_c, W_ih, W_hh (PyTorch's gate "
        "order i, f, g, o); unpacking them in CS231n's order i, f, o, g swaps g and o. Read them by name: "
        "cache.g, cache.o", step_backward_with(g=lambda v: v.cache.o, o=lambda v: v.cache.g))]
    for order in itertools.permutations(range(4)):
        if order != (0, 1, 2, 3):
            written = ", ".join(f"da_{GATES[k]}" for k in order)
            da = (lambda order: lambda v: np.concatenate([v[f"da_{GATES[k]}"] for k in order], axis=1))(order)
            mistakes.append(Mistake(
                f"da concatenated as {written}", "gate order",
                f"gate order: da's blocks are concatenated as [{written}]; the rows of W_ih and W_hh are in "
                f"PyTorch's order i, f, g, o, so da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)",
                step_backward_with(da=da)))
    return mistakes


def _mistake(name, term, hint, **overrides):
    return Mistake(name, term, hint, step_backward_with(**overrides))


_C_T = "c_t = f*c_{t-1} + i*g"
CELL_MISTAKES = [
    _mistake("tanh(c_prev) for tanh(c_t)", "tanh(c)",
             "tanh(c): every gate block is wrong because tanh(c_t) is: the cache's tanh_c is tanh of the NEW "
             f"cell state c_t; you used tanh(c_prev). Both do = dh_t * tanh(c_t) and {_DC} need it",
             tanh_c=lambda v: np.tanh(v.c_prev)),
    _mistake("dc_t without the path through h_t", "dc",
             f"dc_t is missing its path through h_t = o*tanh(c_t): c_t reaches the loss through the next step "
             f"(dc_next) AND through h_t, so {_DC}", dc=lambda v: v.dc_next),
    _mistake("dc_t without dc_next", "dc_next",
             f"dc_next: dc_t is missing the gradient dc_next carried from the step after: {_DC}",
             dc=lambda v: v.dh_next * v.o * (1 - v.tanh_c ** 2)),
    _mistake("tanh slope not squared in dc_t", "dc",
             f"dc_t's path through h_t uses 1 - tanh(c_t) instead of the tanh slope 1 - tanh(c_t)**2: {_DC}",
             dc=lambda v: v.dc_next + v.dh_next * v.o * (1 - v.tanh_c)),
    _mistake("1 - c_t**2 in dc_t", "dc",
             f"dc_t's path through h_t uses 1 - c_t**2: the slope of tanh at c_t is 1 - tanh(c_t)**2, and "
             f"cache.tanh_c holds tanh(c_t): {_DC}",
             dc=lambda v: v.dc_next + v.dh_next * v.o * (1 - (v.f * v.c_prev + v.i * v.g) ** 2)),
    _mistake("o missing in dc_t", "dc",
             f"dc_t's path through h_t = o*tanh(c_t) is missing the factor o: {_DC}",
             dc=lambda v: v.dc_next + v.dh_next * (1 - v.tanh_c ** 2)),
    _mistake("di and dg swapped", "di, dg",
             f"di and dg are swapped: {_C_T}, so di = dc_t * g and dg = dc_t * i (each gets the OTHER factor)",
             di=lambda v: v.dc * v.i, dg=lambda v: v.dc * v.g),
    _mistake("di = dc * i", "di", f"di = dc_t * g (the other factor of i*g in {_C_T}), not dc_t * i",
             di=lambda v: v.dc * v.i),
    _mistake("dg = dc * g", "dg", f"dg = dc_t * i (the other factor of i*g in {_C_T}), not dc_t * g",
             dg=lambda v: v.dc * v.g),
    _mistake("df = dc * c_t", "df",
             f"df = dc_t * c_{{t-1}}: in {_C_T}, f multiplies the PREVIOUS cell state (cache.c_prev), not c_t",
             df=lambda v: v.dc * (v.f * v.c_prev + v.i * v.g)),
    _mistake("df = dc * f", "df", "df = dc_t * c_{t-1} (the other factor of f*c_{t-1}), not dc_t * f",
             df=lambda v: v.dc * v.f),
    _mistake("df = dc * h_prev", "df",
             f"df = dc_t * c_{{t-1}}: in {_C_T}, f multiplies the previous cell state c_prev, not h_prev",
             df=lambda v: v.dc * v.h_prev),
    _mistake("do = dh * o", "do", "do = dh_t * tanh(c_t) (the other factor of o*tanh(c_t)), not dh_t * o",
             do=lambda v: v.dh_next * v.o),
    _mistake("do = dh", "do", "do = dh_t * tanh(c_t): the factor tanh(c_t) is missing",
             do=lambda v: v.dh_next),
    _mistake("do = dc * tanh_c", "do",
             "do = dh_t * tanh(c_t): o reaches the loss only through h_t = o*tanh(c_t), so use dh_t, not dc_t",
             do=lambda v: v.dc * v.tanh_c),
    _mistake("dc_prev = dc_next * f", "dc_prev",
             f"dc_prev = dc_t * f with the whole dc_t, not dc_next * f: the gradient into c_t also flows "
             f"through h_t = o*tanh(c_t), {_DC}", dc_prev=lambda v: v.dc_next * v.f),
    _mistake("dc_prev = dc", "dc_prev",
             "dc_prev = dc_t * f: c_{t-1} reaches c_t only through f*c_{t-1}, so the factor f is missing",
             dc_prev=lambda v: v.dc),
]
WEIGHT_MISTAKES = [
    _mistake("dx = da @ W_hh", "dx", "dx = da @ W_ih: x enters the step through W_ih (x @ W_ih.T); W_hh "
             "belongs to h_prev", dx=lambda v: v.da @ v.W_hh),
    _mistake("dh_prev = da @ W_ih", "dh_prev", "dh_prev = da @ W_hh: h_prev enters the step through W_hh "
             "(h_prev @ W_hh.T); W_ih belongs to x", dh_prev=lambda v: v.da @ v.W_ih),
    _mistake("dW_ih = x.T @ da", "dW_ih", "dW_ih = da.T @ x, of W_ih's shape (4H, I); x.T @ da is its "
             "transpose", dW_ih=lambda v: v.x.T @ v.da),
    _mistake("dW_hh = h_prev.T @ da", "dW_hh", "dW_hh = da.T @ h_prev, of W_hh's shape (4H, H); h_prev.T @ da "
             "is its transpose", dW_hh=lambda v: v.h_prev.T @ v.da),
    _mistake("dW_hh from h_t", "dW_hh", "dW_hh = da.T @ h_prev: the hidden state the step READ (cache.h_prev), "
             "not the one it produced, o * tanh(c_t)", dW_hh=lambda v: v.da.T @ (v.o * v.tanh_c)),
    _mistake("dW_ih and dW_hh swapped", "dW_ih, dW_hh", "dW_ih = da.T @ x and dW_hh = da.T @ h_prev: each "
             "weight's gradient pairs da with what that weight multiplied",
             dW_ih=lambda v: v.da.T @ v.h_prev, dW_hh=lambda v: v.da.T @ v.x),
    _mistake("db summed over axis 1", "db", "db = da.sum(axis=0): sum over the batch (the rows), one entry per "
             "gate unit, shape (4H,)", db_ih=lambda v: v.da.sum(axis=1), db_hh=lambda v: v.da.sum(axis=1)),
    _mistake("db not summed", "db", "db = da.sum(axis=0): the bias is added to every row of the batch, so its "
             "gradient sums da over the rows", db_ih=lambda v: v.da, db_hh=lambda v: v.da),
    _mistake("db averaged", "db", "db = da.sum(axis=0), not the mean: the bias is added to every row, and each "
             "row's gradient counts in full", db_ih=lambda v: v.da.mean(axis=0), db_hh=lambda v: v.da.mean(axis=0)),
    _mistake("db_hh zero", "db_hh", "db_hh = da.sum(axis=0), the same as db_ih: b_hh is added to the same sum "
             "as b_ih", db_hh=lambda v: np.zeros_like(v.db_ih)),
]
STEP_BACKWARD_MISTAKES = CELL_MISTAKES[:1] + _gate_order_mistakes() + _slope_mistakes() + CELL_MISTAKES[1:] \
    + WEIGHT_MISTAKES


# ------------------------------------------------------------ the gate-by-gate analysis
def gate_diagnosis(checks, output_hints, tolerance):
    """Name the terms to fix, from which outputs and gate blocks are wrong.

    The pre-activation gradient ``da`` feeds dx (``da @ W_ih``) and every
    weight gradient. When dx or dh is wrong too, a gate block that is wrong
    in every weight gradient locates the bug in that gate's ``da``; when
    dx and dh are right, ``da`` is right and the weight formulas are at fault.
    When all four blocks are wrong, the cause is something they share, and
    that hint comes first.
    """
    by_name = {c.name: c for c in checks}
    gated = [c for c in checks if c.gates]
    da_is_wrong = any(not by_name[name].passed for name in ("dx", "dh_prev", "dh0") if name in by_name)
    bad_gates = [gate for gate in GATES
                 if da_is_wrong and gated and all(not c.gates[gate] < tolerance for c in gated)]
    hints = {}
    if len(bad_gates) == len(GATES):
        hints["da"] = ALL_GATES_HINT
    elif set(bad_gates) == {"i", "f", "g"}:
        hints["dc"] = CELL_HINT
    else:
        hints.update(GATE_HINTS[gate] for gate in bad_gates)
    for check in checks:
        if check.passed or (check.gates and bad_gates and _only_gates(check, bad_gates, tolerance)):
            continue   # right, or explained by the gate hints above
        hint = output_hints.get(check.name)
        if check.name in ("dx", "dh_prev", "dh0") and bad_gates and len(bad_gates) < len(GATES):
            hint = f"{check.name} follows from da, which is wrong in gate(s) {', '.join(bad_gates)}: fix those first"
        if check.shape != check.expected_shape:
            hint = f"{check.name} {check.problem}" + (f". {hint}" if hint else "")
        if hint:
            hints.setdefault(check.name, hint)
    return hints


def _only_gates(check, gates, tolerance):
    """True when the wrong blocks of ``check`` are exactly among ``gates``."""
    return all(error < tolerance or gate in gates for gate, error in check.gates.items())
