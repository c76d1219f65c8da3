r"""The fast engine: ``lstm_forward`` and ``lstm_backward`` of ``numpylstm.functional``, made fast.

Same signatures, same return types, same results (to 1e-12 in float64; tests/test_fast.py
compares every output and gradient with the definition, on CPU and GPU, with projections,
lengths and every block size). ``LSTM(engine="fast")``, the default, runs it. Read
``numpylstm.functional`` first: this module computes exactly its equations, rearranged in
the ways below. Each trick names the lines of the definition it replaces.

1. One exponential per value (replaces ``sigmoid`` and ``tanh`` in ``lstm_step_forward``).
   NumPy's float64 tanh is a scalar loop, about 2.5 times slower than its exp, so the
   nonlinearities here are made from exp, in one form::

       1 - k / (1 + exp(z))  =  sigmoid(z) for k = 1,  tanh(z / 2) for k = 2.

   The gates use z = a (i, f, o) and z = 2a with k = 2 (g); the factor 2 is folded into
   copies of the g rows of the weights and biases (exact: a power of two), so one pass
   over all 4H columns activates the four gates (``_gate_scaled_weights``, ``gate_scale``).
   z is clipped to [-L, L] first (``_exp_limit``), far beyond where the result is -1, 0 or
   1 to working precision, so exp never overflows or underflows: no warnings and no NaN
   even for pre-activations of 1e6. The final "1 - ..." rounds to the absolute precision
   of 1, as the definition's (1 + tanh(a/2)) / 2 does, so a saturated gate is exactly 0 or
   1 and its slope exactly 0 (a slope of 1e-30 times a weight of 1e30 would not be small).
2. Blocks of time steps (replaces ``x[t] @ W_ih.T`` inside the step loop, and the
   ``i * (1 - i)``-style slopes of ``lstm_step_backward``). Both passes go through time in
   blocks of about ``BLOCK_VALUES`` gate values, which are still in the CPU cache when the
   step loop reads them. The forward computes a block's input projections as one matrix
   product. The backward computes for a block every factor of the derivative table that
   does not depend on the incoming gradient (``_LocalDerivatives``), writing them over the
   cached gates; its step loop then only multiplies them by dc and dh and does one matrix
   product (``dh_prev = da @ W_hh``).
3. Large products (replace the per-step ``da.T @ x``, ``da.T @ h_prev``, ``da @ W_ih`` and
   their sums over t in ``lstm_backward``): the weight gradients and dx are single products
   over all steps (``_weight_gradients``).
4. Less memory (replaces the list of step caches): the cache keeps the gates and cell
   states of every step and the layer's output, which serves as every step's h; tanh(c)
   is recomputed. The backward writes dL/da over the cached gates, so a cache serves one
   backward pass only (a second raises). Buffers are allocated once per call and every
   operation is an ``xp`` ufunc or product with ``out=``, so the loops allocate nothing.
5. Lengths as masks (replaces ``xp.where(running, ...)`` per step): a (T, N, 1) mask
   ``valid`` freezes finished sequences in place (``copyto(..., where=)``).
6. On the GPU a kernel launch costs more than the arithmetic of a step, so each step's
   element-wise lines run as one CUDA kernel with the same equations
   (``_CUDA_STEP_KERNELS``), and the blocks are larger (``GPU_BLOCK_VALUES``): there they
   only bound the size of the buffers.
7. Shards of the batch in threads (replaces nothing: the definition's loops run over all
   rows at once, and the rows never meet). NumPy runs its element-wise work on one core;
   a large batch is split into slices, each run by ``_forward`` and ``_backward`` in its
   own thread with its share of the BLAS threads, and the weight gradients of the slices
   are summed (``_sharded_forward``, ``_sharded_backward``). When and into how many
   shards: ``numpylstm.fast_threads``; how many threads: ``numpylstm.threads``.
"""
import functools
from typing import NamedTuple, Optional

import numpy as np

from . import _validate as check
from . import fast_threads
from .backend import elementwise_kernel, get_array_module
from .functional import LSTMWeightGrads, check_sequence_arguments, split_gates

BLOCK_VALUES = 2 ** 17      # 1 MB of float64
GPU_BLOCK_VALUES = 2 ** 23  # 64 MB of float64


class FastLSTMCache(NamedTuple):
    """What ``lstm_backward`` needs from ``lstm_forward``.

    Only the gates and the cell states are stored per step (plus ``out``, the
    layer's output, which exists anyway and serves as the h of every step);
    tanh(c) is recomputed by the backward pass.
    """
    x: np.ndarray                  # (T, N, I), C-contiguous
    h0: np.ndarray                 # (N, P)
    c0: np.ndarray                 # (N, H)
    gates: np.ndarray              # (T, N, 4H) activated gates i, f, g, o (dL/da after backward)
    cells: np.ndarray              # (T, N, H) cell state after each step
    out: np.ndarray                # (T, N, P) output (zero past each sequence's length)
    W_ih: np.ndarray               # (4H, I)
    W_hh: np.ndarray               # (4H, P)
    W_hr: Optional[np.ndarray]     # (P, H) or None
    valid: Optional[np.ndarray]    # (T, N, 1) bool, True where t < length; None: all valid
    has_bias: bool
    spent: list                    # [False]; [True] once a backward pass has used (overwritten) it


class ShardedLSTMCache(NamedTuple):
    """What ``lstm_backward`` needs from a ``lstm_forward`` that split the batch into shards.

    The backward runs the same shards, each in its own thread, as the forward did.
    """
    rows: tuple                    # the slice of the batch (rows of h0) each shard ran
    caches: tuple                  # the FastLSTMCache of each shard


def lengths_to_valid(lengths, T):
    """A (T, N, 1) boolean mask, True where time step t < lengths[n]; None for None."""
    if lengths is None:
        return None
    xp = get_array_module(lengths)
    return (xp.arange(T)[:, None] < lengths[None, :])[:, :, None]


def _exp_limit(dtype):
    """L = -2 log(eps) for ``dtype``: about 72 for float64 and 32 for float32.

    ``1 - k / (1 + exp(z))`` is -1, 0 or 1 to working precision beyond
    |z| = -log(eps), so clipping z to [-L, L] changes nothing, while exp(L)
    and exp(-L) stay normal numbers: no overflow, no underflow.
    """
    return float(-2.0 * np.log(np.finfo(dtype).eps))


def _activate_via_exp(z, k, limit):
    """In place: ``z <- 1 - k / (1 + exp(z))``, z clipped to [-limit, limit] first.

    That is sigmoid(z) for k = 1 and tanh(z / 2) for k = 2; ``k`` may be an
    array broadcast against z (one k per column). Returns z.
    """
    xp = get_array_module(z)
    z.clip(-limit, limit, out=z)  # the method: np.clip adds a Python wrapper's overhead
    xp.exp(z, out=z)
    z += 1
    xp.divide(k, z, out=z)
    xp.subtract(1, z, out=z)
    return z


def _tanh_via_exp(a, out, limit):
    """``out <- tanh(a) = 1 - 2 / (1 + exp(2a))``: one exp instead of NumPy's slower tanh."""
    xp = get_array_module(a)
    return _activate_via_exp(xp.multiply(a, 2, out=out), 2, limit)


def _tanh_into(a, out, limit):
    """``out <- tanh(a)``, by whichever way is faster here.

    NumPy's float64 tanh is a scalar loop (13 ns a value against 7 ns for
    ``_tanh_via_exp`` on the machine of benchmarks/README.md), but
    ``_tanh_via_exp`` makes six calls instead of one, which cost more than
    they save below about a thousand values.
    float32 tanh is vectorized in NumPy, and CuPy's tanh is fast on the GPU.
    """
    xp = get_array_module(a)
    if xp is np and a.dtype == np.float64 and a.size >= 1024:
        return _tanh_via_exp(a, out, limit)
    return xp.tanh(a, out=out)


class _GateScaledWeights(NamedTuple):
    """The forward's copies of a layer's weights with the g rows doubled (trick 1)."""
    W_ih_zT: np.ndarray            # (I, 4H): the transpose of W_ih with the g rows doubled
    W_hh_zT: np.ndarray            # (P, 4H)
    bias_z: Optional[np.ndarray]   # (4H,) b_ih + b_hh with the g block doubled, or None
    gate_scale: np.ndarray         # (4H,) k: 1 for i, f, o and 2 for g


def _gate_scaled_weights(W_ih, W_hh, b_ih, b_hh):
    """Copies of the weights and the summed bias with the g rows doubled, and the gate scale k per column.

    The products then give z = a for i, f, o and z = 2a for g, and
    ``_activate_via_exp(z, k)`` with k = (1, 1, 2, 1) per gate block gives
    sigmoid(a) and tanh(a) = 1 - 2 / (1 + exp(2a)) in one pass.
    """
    xp = get_array_module(W_ih)
    H = W_ih.shape[0] // 4
    gate_scale = xp.ones(4 * H, dtype=W_ih.dtype)
    gate_scale[2 * H:3 * H] = 2
    bias = None if b_ih is None else (b_ih + b_hh) * gate_scale
    return _GateScaledWeights((W_ih * gate_scale[:, None]).T, (W_hh * gate_scale[:, None]).T, bias, gate_scale)


def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, W_hr=None, lengths=None, keep_cache=True):
    """One LSTM layer, one direction, over a whole batch of sequences (``functional.lstm_forward``, fast).

    Parameters
    ----------
    x : (T, N, I) inputs, time first (any strides: a non-contiguous view is copied once)
    h0 : (N, P) initial hidden state (P = H, or proj_size with ``W_hr``)
    c0 : (N, H) initial cell state
    W_ih : (4H, I), W_hh : (4H, P), b_ih, b_hh : (4H,) or None, W_hr : (P, H) or None
    lengths : (N,) integer array or None. Sequence n uses steps 0 .. lengths[n]-1;
        past its length its state stays frozen and its output is zero.
    keep_cache : bool, default True. False (inference: no backward will follow) keeps
        the gates of one block of steps and two cell states instead of all T, and
        returns None for the cache.

    Returns
    -------
    out : (T, N, P) hidden state at every step
    h_n : (N, P) hidden state at each sequence's last step
    c_n : (N, H) cell state at each sequence's last step
    cache : FastLSTMCache (ShardedLSTMCache for a batch split into shards), or None with
        ``keep_cache=False``

    On the CPU a large batch is split into shards run in threads (trick 7;
    ``numpylstm.fast_threads`` decides, ``numpylstm.threads.set_engine_threads`` or
    ``with numpylstm.threads.engine_threads(n):`` pins the thread count).
    """
    check_sequence_arguments("fast.lstm_forward", x, h0, c0, W_ih, W_hh, b_ih, b_hh, W_hr, lengths)
    weights = (W_ih, W_hh, b_ih, b_hh, W_hr)
    plan = fast_threads.plan(get_array_module(x), x.shape[1], W_ih.shape[0] // 4, x.dtype)
    with plan.blas_limit():
        scaled = _gate_scaled_weights(W_ih, W_hh, b_ih, b_hh)   # one copy, shared by the shards
        if plan.shards == 1:
            return _forward(x, h0, c0, weights, scaled, lengths, keep_cache)
        return _sharded_forward(plan.shards, x, h0, c0, weights, scaled, lengths, keep_cache)


def _forward(x, h0, c0, weights, scaled, lengths, keep_cache, out=None):
    """``lstm_forward`` on one shard of the batch (or all of it), arguments already checked.

    ``weights`` : (W_ih, W_hh, b_ih, b_hh, W_hr) as given to ``lstm_forward``
    ``scaled`` : their ``_GateScaledWeights``
    ``out`` : (T, N, P) array to write the output into (a shard's columns of the whole
        batch's output), or None for a new one.
    """
    xp = get_array_module(x)
    if keep_cache:   # a reversed, batch-first or shard's view: one copy, reused by backward
        x = xp.ascontiguousarray(x)
    W_ih, W_hh, b_ih, _, W_hr = weights
    W_ih_zT, W_hh_zT, bias_z, gate_scale = scaled
    T, N, I = x.shape
    H4, P = W_ih.shape[0], W_hh.shape[1]
    H = H4 // 4
    block = _block_steps(T, N, H4, xp)
    # The gates of every step are kept for backward; inference needs one block's only.
    gates = xp.empty((T if keep_cache else block, N, H4), dtype=x.dtype)
    cells = xp.empty((T if keep_cache else 2, N, H), dtype=x.dtype)
    out = xp.empty((T, N, P), dtype=x.dtype) if out is None else out
    recurrent = xp.empty((N, H4), dtype=x.dtype)
    scratch = None if W_hr is None else xp.empty((N, H), dtype=x.dtype)
    valid = lengths_to_valid(lengths, T)
    invalid = None if valid is None else ~valid
    h = h0 if valid is None else h0.copy()  # with lengths, h is a buffer updated in place
    c = c0
    limit = _exp_limit(x.dtype)
    for start in range(0, T, block):
        stop = min(T, start + block)
        # The input projections of a block of steps as one product: still in the CPU
        # cache when the loop reads them, and inference needs a buffer for one block only.
        z_block = gates[start:stop] if keep_cache else gates[:stop - start]
        # (reshape copies a block of a view that inference did not copy whole)
        xp.matmul(x[start:stop].reshape(-1, I), W_ih_zT, out=z_block.reshape(-1, H4))
        if bias_z is not None:
            z_block += bias_z
        for t in range(start, stop):
            c_t = cells[t if keep_cache else t % 2]
            o_tanh_c = out[t] if W_hr is None else scratch  # h' = o * tanh(c'), or projected
            _step_pointwise(z_block[t - start], xp.matmul(h, W_hh_zT, out=recurrent),
                            c, c_t, o_tanh_c, gate_scale, limit)
            if W_hr is not None:
                xp.matmul(o_tanh_c, W_hr.T, out=out[t])
            if valid is None:
                h, c = out[t], c_t
            else:  # finished sequences keep their state and output zero
                xp.copyto(c_t, c, where=invalid[t])
                xp.copyto(h, out[t], where=valid[t])
                out[t] *= valid[t]
                c = c_t
    cache = None
    if keep_cache:
        cache = FastLSTMCache(x, h0, c0, gates, cells, out, W_ih, W_hh, W_hr, valid, b_ih is not None, [False])
    return out, h.copy(), c.copy(), cache


def _sharded_forward(shards, x, h0, c0, weights, scaled, lengths, keep_cache):
    """``_forward`` on ``shards`` slices of the batch, each in its own thread; the results joined.

    The rows of a batch never meet in an LSTM, so each shard is the same computation as
    the whole batch restricted to its rows (trick 7 of the module's docstring).
    """
    T, N = x.shape[:2]
    rows = fast_threads.batch_slices(N, shards)
    out = np.empty((T, N, h0.shape[1]), dtype=x.dtype)   # each shard writes its own rows
    results = fast_threads.run_in_threads([
        functools.partial(_forward, x[:, r], h0[r], c0[r], weights, scaled, None if lengths is None else lengths[r],
                          keep_cache, out[:, r])
        for r in rows])
    _, h_n, c_n, caches = zip(*results)
    cache = ShardedLSTMCache(rows, caches) if keep_cache else None
    return out, np.concatenate(h_n), np.concatenate(c_n), cache


def _sharded_backward(d_out, dh_n, dc_n, cache):
    """``_backward`` of every shard of ``cache`` in its own thread; dx and the state gradients joined,
    the weight gradients summed over the shards (each shard's are sums over its rows)."""
    results = fast_threads.run_in_threads([
        functools.partial(_backward, d_out[:, r], None if dh_n is None else dh_n[r],
                          None if dc_n is None else dc_n[r], shard)
        for r, shard in zip(cache.rows, cache.caches)])
    dx, dh0, dc0, grads = zip(*results)
    summed = LSTMWeightGrads(*(None if parts[0] is None else _sum_over_shards(parts) for parts in zip(*grads)))
    return np.concatenate(dx, axis=1), np.concatenate(dh0), np.concatenate(dc0), summed


def _sum_over_shards(parts):
    """One weight gradient of the whole batch from its ``parts``, one per shard."""
    return sum(parts[1:], parts[0])


def _block_steps(T, N, H4, xp):
    """Steps per block: about ``BLOCK_VALUES`` gate values (GPU: ``GPU_BLOCK_VALUES``), 1 to T."""
    values = BLOCK_VALUES if xp is np else GPU_BLOCK_VALUES
    return min(T, max(1, values // max(1, N * H4)))   # N = 0 (an empty batch): one block


def _step_pointwise(z, recurrent, c_prev, c_next, o_tanh_c, gate_scale, limit):
    """The element-wise part of one forward step, written into the buffers given.

    ``z`` (N, 4H) holds the input projection (g rows doubled, see above) and
    receives the activated gates; ``recurrent`` (N, 4H) is h @ W_hh_z^T::

        i, f, g, o = 1 - k / (1 + exp(z + recurrent))     (the four gates in one pass, k = gate_scale)
        c_next     = f * c_prev + i * g
        o_tanh_c   = o * tanh(c_next)

    On the GPU this is one CUDA kernel (``_CUDA_STEP_KERNELS``, the same
    equations) instead of about ten launches, which cost more than the arithmetic.
    """
    xp = get_array_module(z)
    if xp is not np:
        H = c_next.shape[-1]
        return _cuda_kernel("step_forward")(recurrent, c_prev, H, z.dtype.type(limit), z, c_next, o_tanh_c)
    z += recurrent
    i, f, g, o = split_gates(_activate_via_exp(z, gate_scale, limit))
    xp.multiply(f, c_prev, out=c_next)
    c_next += xp.multiply(i, g, out=o_tanh_c)  # o_tanh_c as scratch first
    xp.multiply(o, _tanh_into(c_next, o_tanh_c, limit), out=o_tanh_c)


def lstm_backward(d_out, dh_n, dc_n, cache):
    """Backpropagation through time for ``lstm_forward`` (``functional.lstm_backward``, fast).

    The gradients with respect to the gates are written over the cached gates
    (the largest buffer; PyTorch frees its saved tensors after backward in the
    same spirit), so a cache serves one backward pass only; a second raises.

    Parameters
    ----------
    d_out : (T, N, P) gradient with respect to ``out`` (ignored past each length)
    dh_n : (N, P) gradient with respect to ``h_n``, or None
    dc_n : (N, H) gradient with respect to ``c_n``, or None
    cache : FastLSTMCache or ShardedLSTMCache from ``lstm_forward`` (used up by this call);
        a split forward's backward runs the same shards in threads

    Returns
    -------
    dx : (T, N, I)
    dh0 : (N, P)
    dc0 : (N, H)
    grads : LSTMWeightGrads
    """
    check.instance_of(cache, (FastLSTMCache, ShardedLSTMCache), "fast.lstm_backward: cache",
                      "the FastLSTMCache or ShardedLSTMCache of fast.lstm_forward")
    shards = cache.caches if isinstance(cache, ShardedLSTMCache) else (cache,)
    if any(shard.spent[0] for shard in shards):
        raise RuntimeError("fast.lstm_backward: this cache was already used by a backward pass "
                           "(its gates were overwritten by their gradients); run the forward pass again")
    out_shape, h_shape, c_shape = _cached_shapes(shards)
    check.kernel_shapes("fast.lstm_backward", ("d_out", d_out, out_shape), ("dh_n", dh_n, h_shape),
                        ("dc_n", dc_n, c_shape))
    for shard in shards:
        shard.spent[0] = True
    with fast_threads.plan_for(len(shards)).blas_limit():   # the forward's shards, whatever the budget now
        if len(shards) == 1:
            return _backward(d_out, dh_n, dc_n, cache)
        return _sharded_backward(d_out, dh_n, dc_n, cache)


def _cached_shapes(shards):
    """The shapes of ``out`` (T, N, P), h (N, P) and c (N, H) of the whole batch that ``shards`` cached."""
    N = sum(shard.c0.shape[0] for shard in shards)
    T, _, P = shards[0].out.shape
    H = shards[0].c0.shape[1]
    return (T, N, P), (N, P), (N, H)


def _backward(d_out, dh_n, dc_n, cache):
    """``lstm_backward`` on one shard's cache, arguments already checked."""
    x, h0, c0, gates, cells, out, W_ih, W_hh, W_hr, valid, has_bias, _ = cache
    xp = get_array_module(gates)
    T, N, H4 = gates.shape
    H, P = H4 // 4, W_hh.shape[1]
    if valid is not None:  # finished steps get no output gradient
        d_out = d_out * valid
        invalid = ~valid
    dh = _state_grad(dh_n, (N, P), gates)     # dL/dh arriving through the recurrence
    dc = _state_grad(dc_n, (N, H), gates)     # dL/dc, from the step after
    d_gates = gates                           # dL/da is written over the gates, block by block
    block = _block_steps(T, N, H4, xp)
    local = _LocalDerivatives(block, N, H, gates.dtype, xp)
    r = None if W_hr is None else xp.empty((T, N, H), dtype=x.dtype)  # o * tanh(c), for dW_hr
    dh_steps = xp.empty((T if W_hr is not None else 1, N, P), dtype=x.dtype)  # dL/dh_t
    dr = xp.empty((N, H), dtype=x.dtype)      # dL/d(o * tanh(c_t)); dh_t itself without projection
    scratch = xp.empty((N, H), dtype=x.dtype)
    for stop in range(T, 0, -block):          # blocks of steps, newest first
        start = max(0, stop - block)
        steps = slice(start, stop)
        local.compute(gates[steps], cells[steps], c0 if start == 0 else cells[start - 1],
                      None if valid is None else valid[steps], None if r is None else r[steps])
        for t in range(stop - 1, start - 1, -1):
            s = t - start                                        # step t is row s of the block
            dh_t = xp.add(dh, d_out[t], out=dh_steps[t if W_hr is not None else 0])
            dr_t = dh_t if W_hr is None else xp.matmul(dh_t, W_hr, out=dr)
            _step_pointwise_backward(dr_t, dc, local, s, d_gates[t], scratch)
            xp.matmul(d_gates[t], W_hh, out=dh)                  # dh_prev = da @ W_hh
            if valid is not None:  # finished sequences pass dh straight through
                xp.copyto(dh, dh_t, where=invalid[t])
    grads = _weight_gradients(x, h0, out, d_gates, has_bias, dh_steps if W_hr is not None else None, r)
    dx = xp.matmul(d_gates.reshape(T * N, H4), W_ih).reshape(x.shape)
    return dx, dh, dc, grads


def _step_pointwise_backward(dr, dc, local, s, d_gates, scratch):
    """The element-wise part of one backward step, with the factors in row s of ``local``.

    ``dr`` (N, H) is dL/d(o * tanh(c)) at this step; ``dc`` (N, H) arrives from
    the step after and leaves as dL/dc_prev; ``d_gates`` (N, 4H) receives dL/da::

        dc        += dr * o (1 - tanh(c)^2)
        da_i, da_f, da_g = local.gate_factors[s] * dc,  da_o = local.gate_factors[s] * dr
        dc        *= f

    One CUDA kernel on the GPU (``_CUDA_STEP_KERNELS``), as for the forward step.
    """
    xp = get_array_module(dc)
    if xp is not np:
        H = dc.shape[-1]
        return _cuda_kernel("step_backward")(dr, local.cell_factor[s], local.forget[s], local.gate_factors[s],
                                             H, dc, d_gates)
    dc += xp.multiply(dr, local.cell_factor[s], out=scratch)
    d_gates_by_gate = d_gates.reshape(-1, 4, dc.shape[-1])
    xp.multiply(local.factors_by_gate[s, :, :3], dc[:, None, :], out=d_gates_by_gate[:, :3])
    xp.multiply(local.factors_by_gate[s, :, 3], dr, out=d_gates_by_gate[:, 3])
    dc *= local.forget[s]


# The two step functions above as CUDA kernels: one thread per (n, j) of the (N, H) state,
# reading and writing that unit's four gates at columns j, H + j, 2H + j and 3H + j of row n.
# Raw arrays are C-contiguous (N, 4H) rows; T is float or double, as the arrays are.
_CUDA_STEP_KERNELS = {
    "step_forward": ("raw T recurrent, T c_prev, int64 H, T limit", "raw T z, T c_next, T o_tanh_c", """
    const long long n = i / H, at = n * 4 * H + (i - n * H);
    T gate[4];
    for (int q = 0; q < 4; ++q) {            // k = 2 for g (its rows were doubled), else 1
        const T a = min(max(z[at + q * H] + recurrent[at + q * H], -limit), limit);
        gate[q] = 1 - (q == 2 ? 2 : 1) / (1 + exp(a));
        z[at + q * H] = gate[q];
    }
    c_next = gate[1] * c_prev + gate[0] * gate[2];
    o_tanh_c = gate[3] * tanh(c_next);
"""),
    "step_backward": ("T dr, T cell_factor, T forget, raw T factors, int64 H", "T dc, raw T d_gates", """
    const long long n = i / H, at = n * 4 * H + (i - n * H);
    const T dc_t = dc + dr * cell_factor;
    for (int q = 0; q < 3; ++q)
        d_gates[at + q * H] = factors[at + q * H] * dc_t;
    d_gates[at + 3 * H] = factors[at + 3 * H] * dr;
    dc = dc_t * forget;
""")}


def _cuda_kernel(name):
    """The CuPy kernel ``_CUDA_STEP_KERNELS[name]`` (compiled once, then cached by the backend)."""
    return elementwise_kernel(f"numpylstm_{name}", *_CUDA_STEP_KERNELS[name])


def _state_grad(grad, shape, like):
    """A fresh buffer holding ``grad``, or zeros for None, to be updated in place."""
    xp = get_array_module(like)
    if grad is None:
        return xp.zeros(shape, dtype=like.dtype)
    return xp.array(grad, dtype=like.dtype)


class _LocalDerivatives:
    """The factors of the derivative table that do not depend on the incoming gradient.

    ``compute`` fills them for a block of K consecutive steps at once, in
    buffers allocated once (shapes (K, N, H) per gate)::

        gate_factors = [g * i(1-i),  c_prev * f(1-f),  i * (1-g^2),  tanh(c) * o(1-o)]
        cell_factor  = o * (1 - tanh(c)^2)
        forget       = f                                   (1 past a sequence's length)

    and, with a projection, r = o * tanh(c) (for dW_hr). Then
    da = gate_factors * [dc, dc, dc, dr], dc_t = dc + dr * cell_factor and
    dc_prev = dc_t * forget. Past each sequence's length ``gate_factors``,
    ``cell_factor`` and r are zero: the state gradient passes through unchanged.
    Row s of each buffer belongs to the s-th step of the last block computed.
    """

    def __init__(self, K, N, H, dtype, xp):
        self.xp = xp
        self.gate_factors = xp.empty((K, N, 4 * H), dtype=dtype)
        self.factors_by_gate = self.gate_factors.reshape(K, N, 4, H)
        self.cell_factor = xp.empty((K, N, H), dtype=dtype)
        self.forget = xp.empty((K, N, H), dtype=dtype)

    def compute(self, gates, cells, c_before, valid, r):
        """Fill the buffers for ``gates`` (K', N, 4H) and ``cells`` (K', N, H) of K' <= K steps.

        ``c_before`` (N, H) is the cell state before the block's first step;
        ``valid`` (K', N, 1) or None; ``r`` (K', N, H) or None, written.
        """
        xp, K = self.xp, gates.shape[0]
        i, f, g, o = split_gates(gates)
        d_i, d_f, d_g, d_o = split_gates(self.gate_factors[:K])
        tanh_c = _tanh_into(cells, self.cell_factor[:K], _exp_limit(cells.dtype))
        _sigmoid_slope(i, out=d_i)
        d_i *= g
        _sigmoid_slope(f, out=d_f)
        d_f[0] *= c_before
        d_f[1:] *= cells[:-1]
        xp.square(g, out=d_g)                 # tanh's slope 1 - g^2 ...
        xp.subtract(1, d_g, out=d_g)
        d_g *= i                              # ... times i
        _sigmoid_slope(o, out=d_o)
        d_o *= tanh_c
        if r is not None:
            xp.multiply(o, tanh_c, out=r)
        cell_factor = xp.square(tanh_c, out=tanh_c)  # tanh(c) is not needed any more
        xp.subtract(1, cell_factor, out=cell_factor)
        cell_factor *= o
        xp.copyto(self.forget[:K], f)         # the gates will be overwritten by dL/da
        if valid is not None:
            xp.copyto(self.forget[:K], 1, where=~valid)
            for array in (self.gate_factors[:K], cell_factor) + (() if r is None else (r,)):
                array *= valid


def _sigmoid_slope(s, out):
    """``out <- s * (1 - s)``: the derivative of a sigmoid whose output is ``s``."""
    xp = get_array_module(s)
    xp.subtract(1, s, out=out)
    out *= s
    return out


def _weight_gradients(x, h0, out, d_gates, has_bias, dh_steps, r):
    """All weight gradients of a layer as single large matrix products."""
    T, N, H4 = d_gates.shape
    P = out.shape[-1]
    da = d_gates.reshape(T * N, H4)
    dW_ih = da.T @ x.reshape(T * N, x.shape[-1])
    # Step t used h_{t-1}: h0 for t = 0, out[t-1] after (where t is valid, so was t-1).
    dW_hh = d_gates[0].T @ h0
    if T > 1:
        dW_hh += d_gates[1:].reshape(-1, H4).T @ out[:-1].reshape(-1, P)
    db = da.sum(axis=0) if has_bias else None
    dW_hr = None
    if dh_steps is not None:
        dW_hr = dh_steps.reshape(T * N, P).T @ r.reshape(T * N, r.shape[-1])
    return LSTMWeightGrads(dW_ih, dW_hh, db, None if db is None else db.copy(), dW_hr)
