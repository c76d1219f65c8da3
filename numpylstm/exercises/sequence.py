"""The sequence exercise: backpropagation through time, ``lstm_sequence_backward(d_out, dh_n, dc_n, caches)``.

The reference is the library's public ``functional.lstm_backward``. A wrong answer
is matched against known mistakes of the loop (``bptt`` with one rule replaced):
which gradient source is missing (``d_out[t]``, ``dh_n``, ``dc_n``, the carried dh
or dc), the loop run forward in time, weight gradients not summed, and every
mistake of the step backward, which the loop inherits from the step function it
calls. What none explains is analysed gate by gate, and weight gradients that
equal one step's own are named with that step.
"""
import numpy as np

from ..functional import LSTMCache, lstm_backward, lstm_step_backward, lstm_step_forward
from ._report import DEFAULT_TOLERANCE, POINTS
from ._run import Exercise, Mistake, check_arguments, library_kernels, random_cases, run_exercise, same
from .step_backward import OUTPUT_HINTS, STEP_BACKWARD_MISTAKES, gate_diagnosis
from .step_forward import random_weights

SEQUENCE_OUTPUTS = ("dx", "dh0", "dc0", "dW_ih", "dW_hh", "db")
SEQUENCE_SHAPES = ((4, 2, 3, 2), (3, 3, 2, 3))            # (T, N, I, H), T > 1 so steps must be summed
WEIGHTS = ("dW_ih", "dW_hh", "db")

SEQUENCE_OUTPUT_HINTS = dict(
    OUTPUT_HINTS,
    dx="dx[t] is the dx that step t's backward returns, fed with the right dh_t and dc_t",
    dh0=("dh0 is the dh_prev of step 0. Going back, the gradient into h_t is d_out[t] plus the dh_prev "
         "returned by step t+1 (plus dh_n at the last step)"),
    dc0=("dc0 is the dc_prev of step 0. The cell gradient is carried: step t's dc_next is the dc_prev "
         "returned by step t+1 (dc_n at the last step)"),
    dW_ih="dW_ih is the sum over all steps of each step's dW_ih",
    dW_hh="dW_hh is the sum over all steps of each step's dW_hh",
    db="db = the sum over steps of each step's db_ih (the two biases share one gradient)",
)
ACCUMULATE_HINT = ("the weight gradients are wrong in every gate while dx, dh0 and dc0 are right: W_ih, W_hh "
                   "and the biases are shared by all T steps, so their gradient is the SUM of every step's "
                   "gradient (+=, starting from zeros, not =)")
BIAS_HINT = ("db is wrong while dW_ih and dW_hh are right: db is the gradient of b_ih alone (equal to b_hh's), "
             "the sum over the steps of each step's db_ih")


# ------------------------------------------------------------------------ the check
def check_sequence_backward(student_fn, tolerance=DEFAULT_TOLERANCE, seed=0, shapes=SEQUENCE_SHAPES):
    """Check a student's backpropagation through time built from the step kernels.

    ``student_fn(d_out, dh_n, dc_n, caches)`` takes

    - ``d_out`` (T, N, H): dL/dh_t for every step t (the layer's output)
    - ``dh_n`` (N, H): dL/dh_n for the final hidden state (which is also h_{T-1},
      so both gradients reach the last step)
    - ``dc_n`` (N, H): dL/dc_n for the final cell state
    - ``caches``: a list of the T ``LSTMStepCache`` of ``lstm_step_forward``, in time order

    and returns ``(dx, dh0, dc0, dW_ih, dW_hh, db)`` of shapes (T, N, I), (N, H),
    (N, H), (4H, I), (4H, H), (4H,): gradients with respect to the inputs, the
    initial state, and the weights shared by all steps (``db`` is the gradient of
    ``b_ih``, equal to that of ``b_hh``). A correct solution walks t = T-1 .. 0
    calling a step backward (the library's ``lstm_step_backward`` or the student's).

    Parameters and return value as ``check_step_backward``; ``shapes`` holds
    (T, N, I, H) per case.
    """
    tolerance, seed = check_arguments(tolerance, seed, shapes, ("T", "N", "I", "H"))
    cases = random_cases(np.random.default_rng(seed), shapes, random_sequence, reference_sequence_backward)

    def diagnose(checks, results):   # only for a wrong answer: then each step's gradients are worth computing
        per_step = [bptt(*case.args)[1] for case in cases]
        specific = _accumulation_diagnosis(checks, results, per_step, tolerance)
        general = gate_diagnosis(checks, SEQUENCE_OUTPUT_HINTS, tolerance)
        return {**specific, **{term: hint for term, hint in general.items() if term not in specific}}

    return run_exercise(SEQUENCE_EXERCISE, student_fn, cases, tolerance, SEQUENCE_MISTAKES, diagnose)


SEQUENCE_EXERCISE = Exercise(
    name="lstm_sequence_backward", arguments=("d_out", "dh_n", "dc_n", "caches"), outputs=SEQUENCE_OUTPUTS,
    compared=len(SEQUENCE_OUTPUTS), gated=WEIGHTS, max_points=POINTS["lstm_sequence_backward"],
    output_hints=SEQUENCE_OUTPUT_HINTS,
    forbidden=library_kernels("functional.lstm_backward", "fast.lstm_backward"))


def random_sequence(rng, T, N, I, H):
    """``(d_out, dh_n, dc_n, caches)`` for a random T-step forward pass."""
    x = rng.standard_normal((T, N, I))
    h, c = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    W_ih, W_hh, b_ih, b_hh = random_weights(rng, I, H)
    caches = []
    for t in range(T):
        h, c, cache = lstm_step_forward(x[t], h, c, W_ih, W_hh, b_ih, b_hh)
        caches.append(cache)
    return rng.standard_normal((T, N, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H)), caches


def reference_sequence_backward(d_out, dh_n, dc_n, caches):
    """``[dx, dh0, dc0, dW_ih, dW_hh, db]`` from the library's ``lstm_backward``."""
    cache = LSTMCache(steps=caches, W_hr=None, lengths=None, has_bias=True)
    dx, dh0, dc0, grads = lstm_backward(d_out, dh_n, dc_n, cache)
    return [dx, dh0, dc0, grads.W_ih, grads.W_hh, grads.b_ih]


# ---------------------------------------------------------------- the known mistakes
# The loop of backpropagation through time, one rule per entry: each known mistake replaces one.
BPTT = {
    "times": lambda T: reversed(range(T)),                           # newest step first
    "dh_start": lambda dh_n: dh_n,                                   # into h_{T-1} from after the sequence
    "dc_start": lambda dc_n: dc_n,
    "dh_t": lambda dh, d_out, dh_n, t: dh + d_out[t],                # both paths into h_t
    "step": lstm_step_backward,
    "dh_carry": lambda dh_prev, dh_n: dh_prev,                       # into h_{t-1}
    "dc_carry": lambda dc_prev, dc_n: dc_prev,                       # into c_{t-1}
    "db": lambda db_ih, db_hh: db_ih,                                # the gradient of b_ih (= b_hh's)
    "add": lambda total, grads, t, T: [a + b for a, b in zip(total, grads)],
    "dx": lambda dx: np.stack(dx),
}


def bptt(d_out, dh_n, dc_n, caches, **overrides):
    """Backpropagation through time by the rules of BPTT (some replaced by ``overrides``).

    Returns ``((dx, dh0, dc0, dW_ih, dW_hh, db), per_step)`` with ``per_step[t]`` the
    ``(dW_ih, dW_hh, db)`` of step t alone.
    """
    rule = {**BPTT, **overrides}
    T = len(caches)
    dh, dc = rule["dh_start"](dh_n), rule["dc_start"](dc_n)
    dx, per_step, sums = [None] * T, [None] * T, None
    for t in rule["times"](T):
        dx[t], dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh = rule["step"](rule["dh_t"](dh, d_out, dh_n, t), dc,
                                                                         caches[t])
        per_step[t] = [dW_ih, dW_hh, rule["db"](db_ih, db_hh)]
        sums = per_step[t] if sums is None else rule["add"](sums, per_step[t], t, T)
        dh, dc = rule["dh_carry"](dh_prev, dh_n), rule["dc_carry"](dc_prev, dc_n)
    return (rule["dx"](dx), dh, dc, *sums), per_step


def _bptt_with(**overrides):
    """A student-shaped function: the BPTT loop with some rules replaced."""
    return lambda d_out, dh_n, dc_n, caches: bptt(d_out, dh_n, dc_n, caches, **overrides)[0]


def _zeros(gradient, _=None):
    return np.zeros_like(gradient)


def _swapped_states(dx, dh_prev, dc_prev, *weight_grads):
    return (dx, dc_prev, dh_prev, *weight_grads)


_DH_T = "dh_t = d_out[t] + (the dh_prev returned by step t+1, or dh_n at t = T-1)"
_DC_T = "dc_t = the dc_prev returned by step t+1, or dc_n at t = T-1"
LOOP_MISTAKES = [
    Mistake("d_out[t] not added", "d_out",
            f"d_out: the loss reaches h_t directly too: {_DH_T}; d_out[t] is added at EVERY step",
            _bptt_with(dh_t=lambda dh, d_out, dh_n, t: dh)),
    Mistake("d_out added at the last step only", "d_out",
            f"d_out: d_out[t] is added at every step t, not only at the last: {_DH_T}",
            _bptt_with(dh_t=lambda dh, d_out, dh_n, t: dh + d_out[t] if t == len(d_out) - 1 else dh)),
    Mistake("dh_n dropped", "dh_n",
            f"dh_n: the gradient of the final hidden state enters at the last step: {_DH_T}",
            _bptt_with(dh_start=_zeros)),
    Mistake("dh_n added at every step", "dh_n",
            f"dh_n is the gradient of h_{{T-1}} only, so it enters once, at the last step: {_DH_T}",
            _bptt_with(dh_t=lambda dh, d_out, dh_n, t: dh + d_out[t] + (dh_n if t < len(d_out) - 1 else 0))),
    Mistake("dh not carried", "dh carry",
            f"dh carry: h_t also feeds step t+1, so {_DH_T}; the dh_prev of each step must be carried back",
            _bptt_with(dh_carry=_zeros)),
    Mistake("dc not carried", "dc carry",
            f"dc carry: the cell gradient is carried from step to step: {_DC_T}",
            _bptt_with(dc_carry=_zeros)),
    Mistake("dc_n at every step", "dc carry",
            f"dc carry: {_DC_T}; dc_n enters at the last step only, after that the carried dc_prev",
            _bptt_with(dc_carry=lambda dc_prev, dc_n: dc_n)),
    Mistake("dc_n dropped", "dc_n",
            f"dc_n: the gradient of the final cell state enters at the last step: {_DC_T}",
            _bptt_with(dc_start=_zeros)),
    Mistake("dh and dc swapped in the carry", "dh, dc swapped",
            "dh, dc swapped: the step backward returns (dx, dh_prev, dc_prev, ...) in that order; the dh you "
            "carry back is dh_prev and the dc is dc_prev",
            _bptt_with(step=lambda dh, dc, cache: _swapped_states(*lstm_step_backward(dh, dc, cache)))),
    Mistake("loop run forward in time", "direction",
            "direction: backpropagation runs from the LAST step to the first (for t in reversed(range(T))): "
            "step t needs the gradients that step t+1 sends back",
            _bptt_with(times=range)),
    Mistake("dx in reverse time order", "dx order",
            "dx order: dx[t] belongs to x[t]; collected while walking back, the list is in reverse time order",
            _bptt_with(dx=lambda dx: np.stack(dx[::-1]))),
    Mistake("weight gradients overwritten", "accumulate", ACCUMULATE_HINT,
            _bptt_with(add=lambda total, grads, t, T: grads)),
    Mistake("weight gradients of the last step only", "accumulate", ACCUMULATE_HINT,
            _bptt_with(add=lambda total, grads, t, T: total)),
    Mistake("db of one step only", "db",
            "db is shared by all steps like the weights: sum every step's db_ih (you kept one step's)",
            _bptt_with(add=lambda total, grads, t, T: [total[0] + grads[0], total[1] + grads[1], grads[2]])),
    Mistake("db = db_ih + db_hh", "db",
            "db is the gradient of b_ih alone (equal to b_hh's): adding db_ih and db_hh counts it twice",
            _bptt_with(db=lambda db_ih, db_hh: db_ih + db_hh)),
]
# Every mistake of the step backward, inherited by the loop that calls it; except two that cannot
# show here: db_hh is not returned, and a dh_prev of x's shape breaks the loop (an error, not a number).
STEP_MISTAKES = [Mistake(f"step backward: {m.name}", m.term,
                         f"{m.term} in the step backward your loop calls (the sequence inherits it): {m.hint}",
                         _bptt_with(step=m.run)) for m in STEP_BACKWARD_MISTAKES
                 if m.name not in ("db_hh zero", "dh_prev = da @ W_ih")]
SEQUENCE_MISTAKES = LOOP_MISTAKES + STEP_MISTAKES


# ------------------------------------------------------------- weights not summed
def _accumulation_diagnosis(checks, results, per_step, tolerance):
    """Hints for weight gradients that are one step's gradient, or wrong with dx, dh0 and dc0 right.

    Only the weights (dW_ih, dW_hh) wrong points at the sum over the steps; only db wrong
    does not (a bias-only mistake is a mistake in db, not in the accumulation).
    """
    by_name = {c.name: c for c in checks}
    weights = [name for name in WEIGHTS if not by_name[name].passed]
    if not weights or not all(by_name[name].passed for name in ("dx", "dh0", "dc0")):
        return {}
    hints = {"accumulate": ACCUMULATE_HINT} if {"dW_ih", "dW_hh"} & set(weights) else {}
    for name in weights:
        step = _matching_single_step([r[name] for r in results], per_step, WEIGHTS.index(name), tolerance)
        if step is not None:
            hints[name] = (f"{name} equals the gradient of step {step} alone: the other steps' "
                           f"contributions were overwritten or never added")
    if weights == ["db"]:
        hints.setdefault("db", BIAS_HINT)
    return hints


def _matching_single_step(got, per_step, k, tolerance):
    """Which single step's gradient ``k`` equals ``got`` in every case (a phrase), or None."""
    shortest = min(len(steps) for steps in per_step)
    labels = {0: "t = 0 (the first)", -1: "t = T-1 (the last)"}
    for t in (0, -1, *range(1, shortest - 1)):   # negative t: counted from each case's own end
        if all(same(value, steps[t][k], tolerance) for value, steps in zip(got, per_step)):
            return labels.get(t, f"t = {t}")
    return None
