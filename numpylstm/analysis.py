"""Looking inside: the gates of a trained LSTM, and how far gradients travel back in time.

Everything here runs the definition (``numpylstm.functional``) on the module's own
weights, and records nothing in the module: no cache is pushed, popped or read, no
mode or dropout setting is changed, so these can be called at any time, also between
a forward and its backward.

=================================  ==================================================
``lstm_trace(lstm, x)``            the gates, cell and hidden states of one layer at
                                   every step (NumPy arrays, ready to plot)
``gates_from(source)``             the four gates of one sequence, from a trace, the
                                   definition's caches, or a list of step caches
``hidden_gradient_norms(m, x)``    ||dL/dh_t|| for every t, for a loss on the last step,
                                   for an ``RNN`` or an ``LSTM``
=================================  ==================================================
"""
import copy

import numpy as np

from . import _validate as check
from .backend import get_array_module, to_numpy
from .functional import GATES, LSTMCache, lstm_forward, reverse_padded
from .recurrent import LSTM
from .rnn import RNN


# -------------------------------------------------------------- inside the LSTM
def lstm_trace(lstm, x, state=None, lengths=None, layer=0, direction=0):
    """Run ``lstm``'s layers with the definition's kernels and return one layer's values at every step.

    Evaluation semantics (no dropout); nothing is recorded in ``lstm``.

    Parameters
    ----------
    lstm : numpylstm.LSTM
    x, state, lengths : as ``LSTM.forward``
    layer : int in 0 .. num_layers - 1
    direction : 0 (forward) or 1 (reverse, bidirectional only); reverse-direction
        values are put back in the order of the input's time steps

    Returns
    -------
    dict of NumPy arrays, time-major whatever the LSTM's layout:
    ``"i", "f", "g", "o"``: (T, N, H) gate activations; ``"c"``: (T, N, H) cell state after
    each step; ``"h"``: (T, N, P) hidden state (P = proj_size or hidden_size). Past a
    sequence's length (with ``lengths``) h is zero, c stays frozen and the gates are not
    meaningful.
    """
    check.instance_of(lstm, LSTM, "lstm", "a numpylstm LSTM")
    check.non_negative_int(layer, "layer")
    index = _layer_index(layer, direction, lstm.num_layers, lstm.num_directions)
    x, h0, c0, lengths, _ = lstm.time_major_arguments(x, state, lengths)
    runs = []

    def definition(*args, **kwargs):       # functional.lstm_forward, keeping its cache and output
        out, h_n, c_n, cache = lstm_forward(*args, **{**kwargs, "keep_cache": True})
        runs.append((out, c_n, cache))
        return out, h_n, c_n, cache

    lstm.run_layers(definition, x, h0, c0, lengths)
    out, c_n, cache = runs[index]
    values = {gate: _stack([getattr(step, gate) for step in cache.steps]) for gate in GATES}
    # The cell state after step t is what step t+1 read (frozen past a length); c_n after the last.
    values["c"] = _stack([step.c_prev for step in cache.steps[1:]] + [c_n])
    values["h"] = out
    if direction == 1:  # the reverse direction ran on the time-reversed input
        values = {name: reverse_padded(v, lengths) for name, v in values.items()}
    return {name: to_numpy(v).copy() for name, v in values.items()}


def _stack(arrays):
    return get_array_module(arrays[0]).stack(arrays)


def _layer_index(layer, direction, num_layers, directions):
    """Where (layer, direction) sits in the per-layer lists; ValueError if either is out of range."""
    if not 0 <= layer < num_layers:
        raise ValueError(f"layer must be in 0..{num_layers - 1}, got {layer}")
    if direction not in range(directions):
        raise ValueError(f"direction must be in 0..{directions - 1}, got {direction!r}")
    return layer * directions + direction


def gates_from(source, batch_index=0, name="source"):
    """The four gates (T, H) of one sequence, from whatever holds them.

    ``source`` is one of: a dict with keys ``"i", "f", "g", "o"`` holding (T, H) or
    (T, N, H) arrays (e.g. from ``lstm_trace``); the ``LSTMCache`` of
    ``functional.lstm_forward``; or a list of ``LSTMStepCache`` (``lstm_step_forward``, one
    per time step). The caches an ``LSTM`` records are refused: the fast engine's hold
    gradients in place of the gates once a backward has run; use ``lstm_trace`` instead.
    ``name`` is what error messages call ``source`` (``plot.plot_gates`` says "gates").
    """
    if isinstance(source, dict):
        missing = [g for g in GATES if g not in source]
        if missing:
            raise ValueError(f"{name} must hold the keys {list(GATES)}, missing {missing}")
        gates = {g: to_numpy(source[g]) for g in GATES}
    elif isinstance(source, LSTMCache) or _is_step_cache_list(source):
        steps = source.steps if isinstance(source, LSTMCache) else source
        gates = {g: np.stack([to_numpy(getattr(step, g)) for step in steps]) for g in GATES}
    else:
        raise TypeError(f"{name} must be a dict of 'i', 'f', 'g', 'o' arrays (analysis.lstm_trace), the LSTMCache "
                        "of functional.lstm_forward or a list of LSTMStepCache, got "
                        f"{type(source).__name__}; for an LSTM module use analysis.lstm_trace(lstm, x)")
    return {g: one_sequence(v, f"gates[{g!r}]", batch_index) for g, v in gates.items()}


def _is_step_cache_list(source):
    return isinstance(source, (list, tuple)) and bool(source) and all(hasattr(s, "tanh_c") for s in source)


def one_sequence(array, name, batch_index):
    """(T, H) from (T, H) or the ``batch_index``-th sequence of (T, N, H)."""
    array = to_numpy(array)
    if array.ndim == 3:
        if not 0 <= batch_index < array.shape[1]:
            raise ValueError(f"batch_index must be in 0..{array.shape[1] - 1}, got {batch_index}")
        array = array[:, batch_index]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty (T, H) or (T, N, H) array, got shape {array.shape}")
    return array


# ------------------------------------------------------------ gradient norms in time
def hidden_gradient_norms(module, x, state=None, d_last=None):
    r"""``||dL/dh_t||`` for every step t, for a loss on the last output only.

    The loss is ``L = sum(d_last * out[T-1])`` (``d_last`` defaults to ones),
    so every gradient that reaches an earlier ``h_t`` has travelled back
    through ``T-1-t`` recurrent steps. ``h_t`` is the last layer's hidden
    state, the output at step t. Plotting the result on a log scale shows
    the vanilla RNN's gradient vanishing and the LSTM's surviving.

    It uses only the modules' public API: ``dL/dh_t`` is exactly the
    ``dh0`` that ``backward`` returns when the sequence is restarted at step
    t+1 from the state the full run had after step t. That costs
    O(T^2) steps, which is nothing at the sizes of a teaching notebook.
    It runs on a private copy of the module (an LSTM's with the reference engine),
    so the module's caches, gradients and mode are left as they were.

    Parameters
    ----------
    module : RNN, or LSTM without ``bidirectional`` or ``dropout``
    x : its input: (T, N, I), (N, T, I) with ``batch_first``, or (T, I) unbatched
    state : its initial state (``h0`` for the RNN, ``(h0, c0)`` for the LSTM), or None
    d_last : dL/d out[T-1], of shape (N, H) (or (H,) unbatched); None for ones

    Returns
    -------
    ndarray (T,) of float: the Frobenius norm over the batch of dL/dh_t, t = 0 .. T-1
    """
    _check_gradient_norm_module(module)
    twin = _private_copy(module)       # the caller's module, its caches and gradients stay untouched
    xp = get_array_module(twin.parameters()[0].data)
    x = check.float_array(x, "x", twin.dtype)
    check.ndim_in(x, "x", (2, 3), "(T, N, I), (N, T, I) with batch_first, or (T, I) unbatched")
    check.non_empty(x, "x")
    unbatched = x.ndim == 2
    time_axis = 1 if twin.batch_first and not unbatched else 0
    T = x.shape[time_axis]
    step = lambda start, stop: x[(slice(None),) * time_axis + (slice(start, stop),)]  # noqa: E731
    states = _states_after_each_step(twin, step, T, state)
    last_shape = _last_output_shape(twin, x, unbatched, time_axis)
    d_last = xp.ones(last_shape, twin.dtype) if d_last is None else check.float_array(d_last, "d_last", twin.dtype)
    check.shape_equal(d_last, "d_last", last_shape, "(the shape of the last output step)")
    twin.train()
    norms = np.empty(T)
    norms[T - 1] = float(xp.linalg.norm(d_last))
    for t in range(T - 1):
        out, _ = twin(step(t + 1, T), states[t])
        d_out = xp.zeros_like(out)
        d_out[(slice(None),) * time_axis + (-1,)] = d_last
        _, d_state = twin.backward(d_out)
        dh0 = d_state[0] if isinstance(twin, LSTM) else d_state
        norms[t] = float(xp.linalg.norm(dh0[-1]))   # the last layer's h_t
    return norms


def _private_copy(module):
    """A deep copy of ``module`` without caches; an LSTM copy runs the definition's kernels."""
    twin = copy.deepcopy(module)
    twin.clear_caches()
    if isinstance(twin, LSTM):
        twin.engine = "reference"
    return twin


def _check_gradient_norm_module(module):
    if not isinstance(module, (RNN, LSTM)):
        raise TypeError(f"module must be an RNN or an LSTM, got {type(module).__name__}")
    if getattr(module, "bidirectional", False):
        raise ValueError("module must not be bidirectional (h_t of the reverse direction depends on later steps), "
                         "got bidirectional=True")
    if getattr(module, "dropout", 0.0) > 0:
        raise ValueError(f"module must have dropout=0 (each pass would draw new masks), got dropout={module.dropout}")


def _states_after_each_step(module, step, T, state):
    """The module's full state after each step t, by running it one step at a time without caches."""
    module.eval()
    states = []
    for t in range(T):
        _, state = module(step(t, t + 1), state)
        states.append(state)
    return states


def _last_output_shape(module, x, unbatched, time_axis):
    size = module.output_size if isinstance(module, LSTM) else module.hidden_size
    if unbatched:
        return (size,)
    return (x.shape[1 - time_axis], size)
