"""How the fast engine splits a batch over threads: when, into how many shards, and running them.

The rows of a batch never meet in an LSTM: row n of every gate, state and output depends
on row n of the input and of the initial state only, and the weight gradients are sums
over the rows. So ``numpylstm.fast`` can run the layer on slices of the batch ("shards"),
each in its own thread, and sum the weight gradients: the same numbers as one run over
the whole batch (up to the order of the sums). The threads run at the same time because
NumPy releases the GIL inside its ufunc loops and matrix products; what a thread does
while it holds the GIL (the Python of the step loop, about 1 µs per NumPy call) does not
overlap, so a shard must have enough work per step to pay for it.

When: a shard gets at least ``SHARD_MIN_VALUES[dtype]`` state values per step (its rows
times H); smaller calls, the classroom shapes among them, run the batch in one piece as
before and do not even ask BLAS for its thread count. Into how many shards: at most the thread
budget of ``threads.get_engine_threads()`` (NumPy's BLAS thread count, or the count the
user pinned) and at most one per row. During a split call NumPy's BLAS runs on
budget // shards threads (``threads.limit_numpy_blas_threads``), restored after, so the
call runs no more threads than the budget. On the GPU nothing is split.
"""
import contextlib
import contextvars
import threading
from typing import NamedTuple, Optional

import numpy as np

from . import threads

# State values (rows * H) per shard and step below which a shard does not pay for its thread,
# by dtype. Measured with benchmarks/bench_lstm.py --threshold (benchmarks/README.md, "Shards
# in threads"): a float64 training step gained from N*H = 8192 (two shards of 4096), float32,
# whose work per value is about half, from 16384; smaller ones lost up to 2x. Both are 32 KiB
# of state per shard. Other dtypes are never split. (Keyed by dtype: reading dtype.name takes 3 µs.)
SHARD_MIN_VALUES = {np.dtype(np.float64): 4096, np.dtype(np.float32): 8192}


class ShardPlan(NamedTuple):
    """How one call runs: ``shards`` slices of the batch, NumPy's BLAS on ``blas_threads`` each.

    ``blas_threads`` None leaves BLAS as it is (an unpinned call that is not split).
    """
    shards: int
    blas_threads: Optional[int]

    def blas_limit(self):
        """A context manager holding NumPy's BLAS to ``blas_threads`` for the call (or doing nothing)."""
        if self.blas_threads is None:
            return contextlib.nullcontext()
        return threads.limit_numpy_blas_threads(self.blas_threads)


def plan(xp, N, H, dtype):
    """The plan for a forward pass over a batch of N rows with hidden size H, of ``dtype``, on ``xp``."""
    if xp is not np:
        return ShardPlan(1, None)
    pinned = threads.pinned_engine_threads()
    min_values = SHARD_MIN_VALUES.get(np.dtype(dtype), N * H + 1)   # more than N * H: one piece
    if pinned is None and N * H < 2 * min_values:
        return ShardPlan(1, None)      # today's path, and no question to BLAS (it costs ~10 µs)
    budget = threads.get_engine_threads()
    return plan_for(max(1, min(budget, N * H // min_values, N)), budget)


def plan_for(shards, budget=None):
    """The plan for a call that must run ``shards`` shards (a backward, as its forward did).

    ``budget``: the engine's threads (default: ``threads.get_engine_threads()`` now).
    """
    if shards == 1:
        return ShardPlan(1, threads.pinned_engine_threads())
    budget = threads.get_engine_threads() if budget is None else budget
    return ShardPlan(shards, max(1, budget // shards))


def batch_slices(N, shards):
    """``shards`` consecutive slices of range(N), their sizes differing by at most 1."""
    bounds = [N * k // shards for k in range(shards + 1)]
    return tuple(slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:]))


def run_in_threads(calls):
    """The results of ``calls`` (functions without arguments), in order: the first run in
    this thread, each other one in a new thread, all at the same time.

    Each new thread runs in a copy of this thread's context, so what is set there holds in
    the shards too (``np.errstate``, ``threads.engine_threads``). Every call that started
    finishes before this returns; then the first error any raised is raised here.
    """
    results, errors = [None] * len(calls), [None] * len(calls)

    def run(k):
        try:
            results[k] = calls[k]()
        except BaseException as error:   # handed to the calling thread below
            errors[k] = error

    workers = []
    try:
        for k in range(1, len(calls)):
            worker = threading.Thread(target=contextvars.copy_context().run, args=(run, k),
                                      name=f"numpylstm-shard-{k}")
            worker.start()
            workers.append(worker)
        run(0)
    finally:
        for worker in workers:
            worker.join()
    for error in errors:
        if error is not None:
            raise error
    return results
