"""BLAS thread control: limits, restores, respects the user's choice, copes with no BLAS and with threads."""
import os
import random
import shutil
import subprocess
import sys
import textwrap
import threading

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from assertions import raises_naming
from numpylstm import threads
from numpylstm.threads import (USER_CHOICE_VARIABLES, blas_threads, engine_threads, get_engine_threads,
                               limit_blas_threads, limit_numpy_blas_threads, pinned_engine_threads,
                               set_engine_threads)


@pytest.fixture(autouse=True)
def no_user_choice(monkeypatch):
    """No thread-count variable set (notebooks/execute.py sets OPENBLAS_NUM_THREADS in this process)."""
    for name in USER_CHOICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def no_engine_pin():
    """No process-wide pin of the engine's threads before or after a test."""
    set_engine_threads(None)
    yield
    set_engine_threads(None)


def blas_counts():
    """{library path: thread count} of every BLAS library, as threadpoolctl reports them."""
    return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_blas_threads_is_what_threadpoolctl_reports_for_numpys_blas(two_blas_threads):
    assert blas_threads() == 2
    with threadpool_limits(limits=1, user_api="blas"):
        assert blas_threads() == 1


def test_limit_blas_threads_limits_inside_and_restores_after(two_blas_threads):
    before = blas_counts()
    with limit_blas_threads(1):
        during = blas_counts()
    assert during == {path: 1 for path in before}
    assert blas_counts() == before == {path: 2 for path in before}


def test_the_counts_are_restored_when_the_block_raises(two_blas_threads):
    with pytest.raises(KeyError):
        with limit_blas_threads(1):
            assert blas_threads() == 1
            raise KeyError("inside the block")
    assert blas_threads() == 2


def test_nested_blocks_keep_the_smallest_limit_and_never_add_threads(two_blas_threads):
    with limit_blas_threads(5):
        assert blas_threads() == 2      # a limit above the count leaves it
        with limit_blas_threads(1):
            assert blas_threads() == 1
            with limit_blas_threads(2):
                assert blas_threads() == 1
            assert blas_threads() == 1
        assert blas_threads() == 2
    assert blas_threads() == 2


@pytest.mark.parametrize("limit, count_inside", [
    (limit_blas_threads, 2),          # the user's choice is left alone
    (limit_numpy_blas_threads, 1),    # the engine splits the count the user chose over its own threads
])
@pytest.mark.parametrize("name", USER_CHOICE_VARIABLES)
def test_a_thread_count_the_user_set_in_the_environment(two_blas_threads, monkeypatch, name, limit, count_inside):
    monkeypatch.setenv(name, "2")
    with limit(1):
        assert blas_threads() == count_inside
    assert blas_threads() == 2


def test_an_empty_variable_is_no_choice(two_blas_threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    with limit_blas_threads(1):
        assert blas_threads() == 1


class StandInLibrary:
    """A BLAS library as threadpoolctl's controllers show it: a count to read and one to set."""

    def __init__(self, num_threads, filepath="/nowhere/libstandin.so"):
        self.num_threads, self.filepath, self.counts_set = num_threads, filepath, []

    def set_num_threads(self, count):
        self.counts_set.append(count)
        self.num_threads = count


def controller_finding(*libraries):
    """Stands in for threadpoolctl's ThreadpoolController where it finds exactly ``libraries``."""

    class Controller:
        lib_controllers = list(libraries)

        def select(self, **selection):
            return self

    return Controller


def test_without_a_blas_that_threadpoolctl_finds_nothing_changes_and_nothing_fails(monkeypatch):
    monkeypatch.setattr(threads, "ThreadpoolController", controller_finding())
    assert blas_threads() is None
    ran = []
    with limit_blas_threads(1):
        ran.append(blas_threads())
    assert ran == [None]


def test_a_library_that_does_not_tell_its_count_is_left_alone(monkeypatch):
    silent, counted = StandInLibrary(None), StandInLibrary(4)
    monkeypatch.setattr(threads, "ThreadpoolController", controller_finding(silent, counted))
    with limit_blas_threads(1):
        assert counted.num_threads == 1
    assert counted.counts_set == [1, 4]
    assert silent.counts_set == []


class FailingOnceLibrary(StandInLibrary):
    def set_num_threads(self, count):
        if not self.counts_set:
            self.counts_set.append("failed")
            raise OSError("the library refused")
        super().set_num_threads(count)


def test_a_block_that_fails_to_open_restores_the_counts_and_holds_no_limit(monkeypatch):
    fine, failing = StandInLibrary(4), FailingOnceLibrary(3)
    monkeypatch.setattr(threads, "ThreadpoolController", controller_finding(fine, failing))
    with pytest.raises(OSError, match="refused"):
        with limit_blas_threads(1):
            pytest.fail("the block must not run")
    assert (fine.num_threads, failing.num_threads) == (4, 3)
    with limit_blas_threads(2):
        assert (fine.num_threads, failing.num_threads) == (2, 2)
    assert (fine.num_threads, failing.num_threads) == (4, 3)


@pytest.mark.parametrize("n, error, fragments", [
    (0, ValueError, ("n must be a positive integer", "got 0")),
    (-2, ValueError, ("n must be a positive integer", "got -2")),
    (1.5, TypeError, ("n must be a positive integer", "1.5", "float")),
    ("2", TypeError, ("n must be a positive integer", "'2'", "str")),
    (True, TypeError, ("n must be a positive integer", "True", "bool")),
])
def test_a_bad_thread_count_is_refused_before_anything_changes(two_blas_threads, n, error, fragments):
    raises_naming(error, lambda: limit_blas_threads(n).__enter__(), *fragments)
    assert blas_threads() == 2
    with limit_blas_threads(1):          # and nothing was left half-open
        assert blas_threads() == 1
    assert blas_threads() == 2


def test_blocks_opened_and_closed_in_different_threads_restore_the_counts(two_blas_threads):
    # main opens, a worker opens, main closes, the worker closes last: the worker must restore.
    # (threadpoolctl >= 3.8 ignores a count set by another thread than the last one to set it.)
    worker_opened, main_closed, seen = threading.Event(), threading.Event(), []

    def worker():
        with limit_blas_threads(1):
            worker_opened.set()
            main_closed.wait(10)
            seen.append(blas_threads())

    main_block = limit_blas_threads(1)
    main_block.__enter__()
    thread = threading.Thread(target=worker)
    thread.start()
    assert worker_opened.wait(10)
    main_block.__exit__(None, None, None)
    main_closed.set()
    thread.join(10)
    assert seen == [1]                   # the worker's block still held after main's closed
    assert blas_threads() == 2


def test_many_threads_opening_and_closing_blocks_at_once_see_their_limit_and_restore(two_blas_threads):
    errors = []

    def work(seed):
        draw = random.Random(seed)
        for _ in range(40):
            n = draw.choice((1, 2, 3))
            with limit_blas_threads(n):
                if blas_threads() > n:
                    errors.append((n, blas_threads()))

    workers = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert errors == []
    assert blas_threads() == 2


# A library that exports OpenBLAS's functions under NumPy 1.22-1.26's names, with the 64_
# suffix of its 64-bit-integer build. The ctypes lookup the CLI had before threads.py tried
# openblas_set_num_threads and scipy_openblas_set_num_threads(64_), never this name, so with
# those NumPy versions it left BLAS alone (checked with NumPy 1.23.5's own OpenBLAS).
FAKE_OPENBLAS64 = r"""
static int threads = 4;
int openblas_get_num_threads64_(void) { return threads; }
void openblas_set_num_threads64_(int n) { threads = n; }
int openblas_get_parallel64_(void) { return 1; }   /* 1: the pthreads threading layer */
const char *openblas_get_config64_(void) { return "OpenBLAS 0.3.18 fake"; }
const char *openblas_get_corename64_(void) { return "fake"; }
"""

USE_FAKE_OPENBLAS64 = """
import ctypes, sys
from numpylstm.threads import limit_blas_threads
library = ctypes.CDLL(sys.argv[1])
seen = [library.openblas_get_num_threads64_()]
with limit_blas_threads(1):
    seen.append(library.openblas_get_num_threads64_())
seen.append(library.openblas_get_num_threads64_())
print(seen)
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc) to build a stand-in OpenBLAS")
def test_an_openblas_with_64_suffixed_symbols_is_limited_and_restored(tmp_path):
    source = tmp_path / "fake_openblas64.c"
    source.write_text(FAKE_OPENBLAS64)
    library = tmp_path / "libopenblas64_p-r0-fake.so"   # named as NumPy 1.22's wheels name it
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    # In a child process, so that the stand-in is never loaded beside the real BLAS of this one.
    env = {key: value for key, value in os.environ.items() if key not in USER_CHOICE_VARIABLES}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(USE_FAKE_OPENBLAS64), str(library)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[4, 1, 4]"


# ------------------------------------------------------------- NumPy's BLAS alone, for the engine
def test_limit_numpy_blas_threads_limits_inside_and_restores_after(two_blas_threads):
    with limit_numpy_blas_threads(1):
        assert blas_threads() == 1
    assert blas_threads() == 2


def test_the_engines_limit_never_adds_threads(two_blas_threads):
    with limit_numpy_blas_threads(3):
        assert blas_threads() == 2


def test_engine_blocks_and_general_blocks_overlapping_in_two_threads_restore_the_counts(two_blas_threads):
    """An engine call opens its limit, a general block opens in another thread, the engine's closes
    first: the general block must still hold, and the counts of before come back after it."""
    engine_opened, general_opened, engine_closed = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def general():
        engine_opened.wait(10)
        with limit_blas_threads(1):
            general_opened.set()
            engine_closed.wait(10)
            seen.append(blas_threads())

    thread = threading.Thread(target=general)
    thread.start()
    with limit_numpy_blas_threads(1):
        engine_opened.set()
        assert general_opened.wait(10)
    engine_closed.set()
    thread.join(10)
    assert seen == [1]
    assert blas_counts() == {path: 2 for path in blas_counts()}


def test_a_general_block_inside_an_engine_block_limits_the_other_libraries_too_and_restores_all(monkeypatch):
    numpy_blas, other = StandInLibrary(4, "/numpy.libs/libblas.so"), StandInLibrary(3, "/elsewhere/libblas.so")
    monkeypatch.setattr(threads, "_numpy_blas_library", lambda: numpy_blas)
    monkeypatch.setattr(threads, "ThreadpoolController", controller_finding(numpy_blas, other))
    with limit_numpy_blas_threads(2):
        assert (numpy_blas.num_threads, other.num_threads) == (2, 3)
        with limit_blas_threads(1):
            assert (numpy_blas.num_threads, other.num_threads) == (1, 1)
    assert (numpy_blas.num_threads, other.num_threads) == (4, 3)


def test_the_engines_limit_without_a_blas_that_threadpoolctl_finds_changes_nothing(monkeypatch):
    monkeypatch.setattr(threads, "_numpy_blas_library", lambda: None)
    ran = []
    with limit_numpy_blas_threads(1):
        ran.append(True)
    assert ran == [True]
    assert get_engine_threads() == 1


# ------------------------------------------------------------------ the engine's thread count
def test_the_engine_follows_numpys_blas_when_nothing_is_pinned(two_blas_threads):
    assert pinned_engine_threads() is None
    assert get_engine_threads() == 2
    with threadpool_limits(limits=1, user_api="blas"):   # a limit the user set
        assert get_engine_threads() == 1


def test_a_pin_for_the_process_and_a_pin_for_a_block(two_blas_threads):
    set_engine_threads(3)
    assert get_engine_threads() == pinned_engine_threads() == 3
    with engine_threads(1):
        assert get_engine_threads() == 1
        with engine_threads(5):
            assert get_engine_threads() == 5
        assert get_engine_threads() == 1
    assert get_engine_threads() == 3
    set_engine_threads(None)
    assert pinned_engine_threads() is None and get_engine_threads() == 2


def test_a_blocks_pin_holds_in_its_own_thread_only():
    seen = []
    with engine_threads(7):
        thread = threading.Thread(target=lambda: seen.append(pinned_engine_threads()))
        thread.start()
        thread.join(10)
        assert pinned_engine_threads() == 7
    assert seen == [None]


def test_a_pin_block_that_raises_restores_the_pin_before_it():
    with pytest.raises(KeyError):
        with engine_threads(2):
            raise KeyError("inside")
    assert pinned_engine_threads() is None


@pytest.mark.parametrize("set_pin", [set_engine_threads, lambda n: engine_threads(n).__enter__(),
                                     lambda n: limit_numpy_blas_threads(n).__enter__()])
@pytest.mark.parametrize("n, error, fragments", [
    (0, ValueError, ("n must be a positive integer", "got 0")),
    (2.0, TypeError, ("n must be a positive integer", "2.0", "float")),
    ("1", TypeError, ("n must be a positive integer", "'1'", "str")),
])
def test_a_bad_engine_thread_count_is_refused_before_anything_changes(two_blas_threads, set_pin, n, error,
                                                                      fragments):
    raises_naming(error, lambda: set_pin(n), *fragments)
    assert pinned_engine_threads() is None
    assert blas_threads() == 2
