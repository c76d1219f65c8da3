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
from numpylstm.threads import USER_CHOICE_VARIABLES, blas_threads, limit_blas_threads


@pytest.fixture(autouse=True)
def no_user_choice(monkeypatch):
    """No thread-count variable set (notebooks/execute.py sets OPENBLAS_NUM_THREADS in this process)."""
    for name in USER_CHOICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def two_blas_threads():
    """NumPy's BLAS on 2 threads for the test (restored after), or a skip where that cannot be."""
    if blas_threads() is None:
        pytest.skip("threadpoolctl finds no BLAS library here")
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != 2:
            pytest.skip(f"NumPy's BLAS cannot run 2 threads here (it runs {blas_threads()})")
        yield


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


@pytest.mark.parametrize("name", USER_CHOICE_VARIABLES)
def test_a_thread_count_the_user_set_in_the_environment_is_left_alone(two_blas_threads, monkeypatch, name):
    monkeypatch.setenv(name, "2")
    with limit_blas_threads(1):
        assert blas_threads() == 2
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
