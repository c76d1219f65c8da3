"""What a checker hands back: ``ExerciseReport`` (one per check) and ``OutputCheck`` (one per output)."""
from typing import Dict, NamedTuple, Optional

from ..functional import GATES

DEFAULT_TOLERANCE = 1e-8   # both sides are exact formulas in float64: they agree to ~1e-15 when right

# What each exercise is worth, by the name of the function the student writes (the table in __init__).
POINTS = {"rnn_step_forward": 1, "rnn_step_backward": 2, "lstm_step_forward": 2, "lstm_step_backward": 3,
          "lstm_sequence_backward": 3, "numerical_gradient": 1}


class OutputCheck(NamedTuple):
    """The comparison of one output of the student's function with the reference."""
    name: str
    expected_shape: tuple
    shape: Optional[tuple]                # what the student returned (None: not an array)
    rel_error: float                      # worst over the random cases (inf for a wrong shape)
    gates: Optional[Dict[str, float]]     # gate -> worst relative error, for dW_ih, dW_hh, db
    passed: bool
    problem: str                          # "" when passed, else a short description


class ExerciseReport:
    """What a checker found; ``print(report)`` shows a table and the hints.

    Attributes
    ----------
    exercise : str, the name of the function being checked
    status : "passed", "wrong", "not yet implemented" or "error"
    outputs : list of OutputCheck (empty when the function did not return)
    hints : dict, term -> advice, most specific first. Terms name the part to fix: a gate's
        gradient ("df"), a shared cause ("tanh(c)", "gate order"), an output ("dW_ih"), a
        gradient source ("d_out", "dh_n", "dc carry"), or a rule broken ("in place", "library")
    mistakes : list of str, the known mistakes whose outputs the student's equal (empty if none)
    message : str, what happened when the function raised or returned the wrong thing
    tolerance : float, the largest relative error that passes
    cases : int, how many random cases were compared
    points, max_points : int, the grade (see the points table in ``numpylstm.exercises``)
    """

    def __init__(self, exercise, status, outputs=(), hints=None, message="", tolerance=DEFAULT_TOLERANCE,
                 cases=0, mistakes=(), points=0, max_points=0):
        self.exercise = exercise
        self.status = status
        self.outputs = list(outputs)
        self.hints = dict(hints or {})
        self.mistakes = list(mistakes)
        self.message = message
        self.tolerance = tolerance
        self.cases = cases
        self.points = points
        self.max_points = max_points

    @property
    def passed(self):
        return self.status == "passed"

    def __getitem__(self, name):
        for output in self.outputs:
            if output.name == name:
                return output
        raise KeyError(f"no output named {name!r}; outputs: {[o.name for o in self.outputs]}")

    def wrong_outputs(self):
        """Names of the outputs that do not match the reference."""
        return [o.name for o in self.outputs if not o.passed]

    def wrong_gates(self, name):
        """Gate names whose block of output ``name`` is wrong (empty for outputs without gates)."""
        gates = self[name].gates or {}
        return [gate for gate, error in gates.items() if not error < self.tolerance]

    def summary(self):
        """One short phrase for a grading line: "ok", "WRONG (df)", "ERROR (raised ...)", "not done".

        A wrong answer names at most two terms to fix, never one that only follows from another.
        """
        if self.passed:
            return "ok"
        if self.status == "not yet implemented":
            return "not done"
        if self.status == "error":
            return f"ERROR ({self.message})"
        causes = [term for term, hint in self.hints.items() if "follows from" not in hint][:2]
        return f"WRONG ({', '.join(causes) or ', '.join(self.wrong_outputs())})"

    def __str__(self):
        title = f"{self.exercise}: "
        if self.status in ("not yet implemented", "error") or not self.outputs:
            return title + self.status + (f"\n  {self.message}" if self.message else "")
        wrong = self.wrong_outputs()
        if self.passed:
            title += (f"passed: all {len(self.outputs)} outputs match the reference on {self.cases} random "
                      f"cases (float64, relative error < {self.tolerance:g})")
        elif wrong:
            title += f"{len(wrong)} of {len(self.outputs)} outputs wrong"
        else:
            title += f"the outputs are right, but see the hints ({', '.join(self.hints)})"
        return "\n".join([title, self._table()] + self._hint_lines())

    __repr__ = __str__

    def _table(self):
        width = max(len("output"), *(len(o.name) for o in self.outputs))
        gated = any(o.gates for o in self.outputs)
        header = f"{'output':<{width}}  {'shape':<10} {'rel. error':>10}  {'':<5}"
        header += "".join(f"  {gate:>7}" for gate in GATES) if gated else ""
        lines = [header, "-" * len(header)]
        for o in self.outputs:
            error = "bad shape" if o.shape != o.expected_shape else f"{o.rel_error:.1e}"
            row = f"{o.name:<{width}}  {str(o.expected_shape):<10} {error:>10}  {'ok' if o.passed else 'WRONG':<5}"
            if o.gates:
                row += "".join(f"  {'ok' if e < self.tolerance else 'WRONG':>7}" for e in o.gates.values())
            lines.append(row)
        return "\n".join(lines)

    def _hint_lines(self):
        return ["Hints:"] + [f"  - {hint}" for hint in self.hints.values()] if self.hints else []
