r"""Auto-checked exercises, from the RNN step to backpropagation through time.

A student writes a function and hands it to its checker::

    from numpylstm.exercises import check_step_backward
    report = check_step_backward(my_lstm_step_backward)
    print(report)           # a table: each output, its error, each gate, and hints

Every checker runs the student's function and the library's reference on the same
random float64 inputs (several shapes, distinct non-zero biases) and returns an
``ExerciseReport``: ``.passed``, ``.status`` ("passed", "wrong", "not yet
implemented", "error"), ``.wrong_outputs()``, ``.wrong_gates(name)``, ``.hints``
(term -> advice, most specific first), ``.mistakes`` (the known mistakes matched),
``.points`` and ``.max_points``. A function that still raises ``NotImplementedError``
is "not yet implemented"; any other exception is reported with its message and the
student's line, never as a traceback, so a notebook keeps running.

The exercises
-------------
Each checker takes the student's function (named as the grading looks for it, see below):

- ``check_rnn_step_forward(rnn_step_forward)``: ``(x, h, W_ih, W_hh, b_ih, b_hh) -> (h_next, cache)``
- ``check_rnn_step_backward(rnn_step_backward)``:
  ``(dh_next, cache) -> (dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh)``
- ``check_step_forward(lstm_step_forward)``: ``(x, h, c, W_ih, W_hh, b_ih, b_hh) -> (h_next, c_next, cache)``
- ``check_step_backward(lstm_step_backward)``:
  ``(dh_next, dc_next, cache) -> (dx, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh)``
- ``check_sequence_backward(lstm_sequence_backward)``:
  ``(d_out, dh_n, dc_n, caches) -> (dx, dh0, dc0, dW_ih, dW_hh, db)``
- ``check_gradient_check(numerical_gradient)``: ``(f, x, eps=1e-6) -> the gradient of f() at x``

The shapes of every argument are in each checker's docstring. A returned cache (the
forward exercises) is the student's own and is not compared.

How a wrong answer is named
---------------------------
Each checker knows the realistic mistakes of its exercise (a gate's slope, one of
the two paths into dc, tanh of the old cell state, the gate blocks in CS231n's
order i, f, o, g, a transposed or wrongly summed weight gradient, a gradient source
missing from the loop through time, one-sided differences, ...), each written as
the reference with one formula replaced. It runs them on the same inputs and
keeps those whose outputs *equal* the student's: equal numbers cannot come from
a different computation, so the hint names the cause, not a consequence. What no
known mistake explains is analysed output by output and gate block by gate block.
The checkers also flag a function that changes its arguments in place (the cache,
``dc_next``, ...) or calls the library's own kernel (``lstm_step_backward`` in the
step exercise, ``lstm_backward`` in the sequence one, ...).

Points
------
=====================  ======  ===========================================
exercise               points  function
=====================  ======  ===========================================
RNN step forward       1       rnn_step_forward
RNN step backward      2       rnn_step_backward
LSTM step forward      2       lstm_step_forward
LSTM step backward     3       lstm_step_backward
sequence BPTT          3       lstm_sequence_backward
gradient check         1       numerical_gradient
total                  12
=====================  ======  ===========================================

A passed check earns all its points; an error, "not yet implemented" or a call of
the library's kernel none; otherwise the share of outputs right, rounded down, and
never all of them while a rule is broken (an argument changed in place).

Grading a folder of submitted notebooks: ``python -m numpylstm.exercises grade DIR``
(or ``grade_folder(DIR)``) runs only the code cells tagged ``exercise`` of each
submission (a notebook, or a folder of one student's notebooks), each in its own
process with a timeout per exercise, checks the functions above by name and prints
one line per student (see ``numpylstm.exercises.grading``).
"""
from ._report import DEFAULT_TOLERANCE, POINTS, ExerciseReport, OutputCheck
from .gradient_check import check_gradient_check
from .grading import StudentGrade, grade_folder
from .rnn import check_rnn_step_backward, check_rnn_step_forward
from .sequence import check_sequence_backward
from .step_backward import check_step_backward
from .step_forward import check_step_forward

__all__ = [
    "check_rnn_step_forward", "check_rnn_step_backward", "check_step_forward", "check_step_backward",
    "check_sequence_backward", "check_gradient_check", "ExerciseReport", "OutputCheck", "grade_folder",
    "StudentGrade", "POINTS", "DEFAULT_TOLERANCE",
]
