"""When the fast engine splits a batch, into how many shards, the BLAS threads meanwhile, and the runner.

That the shards give the same numbers as one piece is tested in tests/test_fast.py; here
the plan (``numpylstm.fast_threads``): small calls keep today's path without asking BLAS,
large ones are split within the thread budget, BLAS runs its share of that budget in
each shard and is restored after, and errors in a shard reach the caller.
"""
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from numpylstm import fast, fast_threads, threads
from numpylstm.fast_threads import SHARD_MIN_VALUES, ShardPlan, batch_slices, plan, run_in_threads
from numpylstm.threads import blas_threads, engine_threads, set_engine_threads


@pytest.fixture(autouse=True)
def no_engine_pin():
    set_engine_threads(None)
    yield
    set_engine_threads(None)


def budget_of(monkeypatch, count):
    """Make the engine's unpinned thread budget ``count`` (as NumPy's BLAS count would)."""
    monkeypatch.setattr(threads, "get_engine_threads", lambda: count)


# ------------------------------------------------------------------------ the plan
F64, F32 = np.float64, np.float32


def test_a_classroom_shape_keeps_todays_path_without_asking_blas(monkeypatch):
    def no_question(*_):
        raise AssertionError("a small call asked for the thread budget")

    monkeypatch.setattr(threads, "get_engine_threads", no_question)
    monkeypatch.setattr(threads, "_numpy_blas_library", no_question)
    for dtype in (F64, F32):
        assert plan(np, 8, 32, dtype) == ShardPlan(1, None)
        just_below_two_shards = 2 * SHARD_MIN_VALUES[np.dtype(dtype)] // 64 - 1
        assert plan(np, just_below_two_shards, 64, dtype) == ShardPlan(1, None)


@pytest.mark.parametrize("budget, N, H, dtype, expected", [
    (2, 64, 256, F64, ShardPlan(2, 1)),          # the benchmark's large shape on 2 cores
    (2, 64, 256, F32, ShardPlan(2, 1)),
    (2, 32, 256, F64, ShardPlan(2, 1)),          # N*H = 8192: float64 gains from two shards ...
    (2, 32, 256, F32, ShardPlan(1, None)),       # ... float32 does not
    (1, 64, 256, F64, ShardPlan(1, None)),       # BLAS on one thread (a user's limit): not split
    (16, 64, 256, F64, ShardPlan(4, 4)),         # as many shards as the work pays for, BLAS shares the rest
    (16, 64, 256, F32, ShardPlan(2, 8)),
    (3, 64, 256, F64, ShardPlan(3, 1)),
    (2, 64, 256, np.float16, ShardPlan(1, None)),   # a dtype nobody measured: one piece
])
def test_a_large_call_is_split_within_the_budget(monkeypatch, budget, N, H, dtype, expected):
    budget_of(monkeypatch, budget)
    assert plan(np, N, H, dtype) == expected


def test_a_pin_is_the_budget_and_holds_blas_even_unsplit():
    with engine_threads(1):
        assert plan(np, 64, 256, F64) == ShardPlan(1, 1)
        assert plan(np, 8, 32, F64) == ShardPlan(1, 1)
    with engine_threads(4):
        assert plan(np, 8, 32, F64) == ShardPlan(1, 4)      # small: one piece, BLAS on at most 4 threads
        assert plan(np, 64, 256, F64) == ShardPlan(4, 1)


def test_never_more_shards_than_rows(monkeypatch):
    monkeypatch.setattr(fast_threads, "SHARD_MIN_VALUES", {np.dtype(F64): 1})
    with engine_threads(8):
        assert plan(np, 3, 100, F64) == ShardPlan(3, 2)


def test_nothing_is_split_on_another_array_module():
    class CupyLike:
        pass

    with engine_threads(4):
        assert plan(CupyLike(), 64, 256, F64) == ShardPlan(1, None)


@given(N=st.integers(1, 200), shards=st.integers(1, 16))
def test_batch_slices_cover_every_row_once_in_near_equal_parts(N, shards):
    shards = min(shards, N)
    slices = batch_slices(N, shards)
    assert len(slices) == shards
    assert [n for s in slices for n in range(N)[s]] == list(range(N))
    sizes = [s.stop - s.start for s in slices]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


# ---------------------------------------------------------------------- the runner
def test_run_in_threads_runs_every_call_at_the_same_time_and_keeps_the_order():
    count = 4
    all_started = threading.Barrier(count, timeout=30)   # breaks (an error) unless all run at once
    names = run_in_threads([lambda k=k: (all_started.wait(), k, threading.current_thread().name)[1:]
                            for k in range(count)])
    assert [k for k, _ in names] == list(range(count))
    assert names[0][1] == threading.current_thread().name          # the first runs in the caller
    assert len({name for _, name in names}) == count


def test_an_error_in_a_shard_reaches_the_caller_after_every_shard_finished():
    finished = []

    def fails():
        raise MemoryError("shard 1")

    def slow(k):
        finished.append(k)
        return k

    with pytest.raises(MemoryError, match="shard 1"):
        run_in_threads([lambda: slow(0), fails, lambda: slow(2)])
    assert sorted(finished) == [0, 2]
    assert not [t for t in threading.enumerate() if t.name.startswith("numpylstm-shard")]


def test_the_shards_run_in_the_callers_context():
    """np.errstate (a context variable since NumPy 2) and the engine's pin hold in every shard."""
    with np.errstate(over="raise"), engine_threads(3):
        seen = run_in_threads([lambda: (np.geterr()["over"], threads.pinned_engine_threads())] * 3)
    assert seen == [("raise", 3)] * 3


def test_a_thread_that_cannot_start_leaves_the_started_ones_joined(monkeypatch):
    started, joined = [], []
    real_start, real_join = threading.Thread.start, threading.Thread.join

    def start_once(thread):
        if started:
            raise RuntimeError("can't start new thread")
        started.append(thread)
        real_start(thread)

    def noting_join(thread, *args, **kwargs):
        joined.append(thread)
        return real_join(thread, *args, **kwargs)

    monkeypatch.setattr(threading.Thread, "start", start_once)
    monkeypatch.setattr(threading.Thread, "join", noting_join)
    finished = []
    with pytest.raises(RuntimeError, match="can't start new thread"):
        run_in_threads([lambda: finished.append(0), lambda: finished.append(1), lambda: finished.append(2)])
    assert joined == started and finished == [1]


# ------------------------------------------------------ BLAS during a call of the engine
def large_problem(N=64, H=256, T=2, I=2, seed=0):
    """A layer large enough to be split by default (N * H = 16384), cheap enough for a test (T = 2)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((T, N, I)), np.zeros((N, H)), np.zeros((N, H)),
            0.1 * rng.standard_normal((4 * H, I)), 0.1 * rng.standard_normal((4 * H, H)))


def record_blas_in_shards(monkeypatch):
    """Replace fast._forward and fast._backward by wrappers that note NumPy's BLAS threads in each shard."""
    seen = []
    for name in ("_forward", "_backward"):
        def noting(*args, real=getattr(fast, name), name=name):
            seen.append((name, blas_threads()))
            return real(*args)
        monkeypatch.setattr(fast, name, noting)
    return seen


def test_a_large_batch_on_two_blas_threads_runs_two_shards_of_one_blas_thread_each(two_blas_threads, monkeypatch):
    seen = record_blas_in_shards(monkeypatch)
    cache = fast.lstm_forward(*large_problem())[3]
    assert isinstance(cache, fast.ShardedLSTMCache) and len(cache.caches) == 2
    assert blas_threads() == 2
    fast.lstm_backward(np.ones((2, 64, 256)), None, None, cache)
    assert sorted(seen) == [("_backward", 1)] * 2 + [("_forward", 1)] * 2
    assert blas_threads() == 2


def test_a_blas_limit_the_user_set_keeps_the_batch_in_one_piece(two_blas_threads, monkeypatch):
    seen = record_blas_in_shards(monkeypatch)
    with threadpool_limits(limits=1, user_api="blas"):
        cache = fast.lstm_forward(*large_problem())[3]
        assert isinstance(cache, fast.FastLSTMCache)
        assert blas_threads() == 1
    assert seen == [("_forward", 1)]


def test_a_thread_variable_the_user_set_is_the_budget_and_still_split(two_blas_threads, monkeypatch):
    """OMP_NUM_THREADS=2 (read by BLAS when it loaded): two shards of one BLAS thread, never 2 x 2."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    seen = record_blas_in_shards(monkeypatch)
    fast.lstm_forward(*large_problem())
    assert seen == [("_forward", 1)] * 2
    assert blas_threads() == 2


def test_a_pin_of_one_thread_runs_blas_on_one_thread_and_restores_it(two_blas_threads, monkeypatch):
    seen = record_blas_in_shards(monkeypatch)
    with engine_threads(1):
        cache = fast.lstm_forward(*large_problem())[3]
        fast.lstm_backward(np.ones((2, 64, 256)), None, None, cache)
    assert seen == [("_forward", 1), ("_backward", 1)]
    assert blas_threads() == 2


def test_a_shard_that_fails_restores_blas_and_leaves_no_thread_behind(two_blas_threads, monkeypatch):
    real_forward, calls = fast._forward, []

    def failing_second_shard(x, *args):
        calls.append(x.shape[1])
        if len(calls) == 2:
            raise MemoryError("no room for shard 2")
        return real_forward(x, *args)

    monkeypatch.setattr(fast, "_forward", failing_second_shard)
    with pytest.raises(MemoryError, match="shard 2"):
        fast.lstm_forward(*large_problem())
    assert calls == [32, 32]
    assert blas_threads() == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("numpylstm-shard")]
