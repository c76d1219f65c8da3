"""How many threads NumPy's BLAS uses, and a context manager that limits them for a while.

::

    blas_threads()                 # e.g. 2; None where no BLAS library can be found
    with limit_blas_threads(1):    # BLAS on one thread inside the block,
        ...                        # the previous thread counts again after it

Why limit them: these models multiply small matrices (a batch of 32 by a hidden size
of 32 to 128). Splitting such a product over threads costs more than it saves, and
when the cores are busy with other work the threads wait for each other: on a shared
2-core machine one training step of the character model took 2.7 s with OpenBLAS's
default threads and 0.09 s with one.

A user who chose a thread count by setting ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` keeps it: ``limit_blas_threads`` then
leaves BLAS alone.

threadpoolctl finds the BLAS libraries that are loaded (OpenBLAS under each symbol
name NumPy's wheels have used: ``openblas_*64_`` in NumPy 1.22-1.26,
``scipy_openblas_*64_`` since 2.0; MKL; BLIS; FlexiBLAS) and sets their thread counts.

Threads and processes: a BLAS library has one thread count for the whole process, so a
limit set in one Python thread holds in all of them. Blocks of ``limit_blas_threads``
may be open in several threads at once, and nested: while any is open, BLAS uses the
smallest count any open block asked for (never more threads than before the first
block), and the counts from before the first block come back when the last one closes,
whichever thread closes it. Finding the libraries takes about a millisecond: open one
block around a whole computation, not one per matrix product.

The fast engine's threads (``numpylstm.fast`` splits a large batch over threads of its own)::

    get_engine_threads()           # how many it may use now: the pinned count, else NumPy's BLAS threads
    set_engine_threads(1)          # pin it for the process (None: follow NumPy's BLAS again)
    with engine_threads(1):        # pin it for the block, in this thread (and its context) only
        ...

Unpinned, the engine takes NumPy's BLAS thread count as its budget, so whatever limited
BLAS (``OPENBLAS_NUM_THREADS``, a ``threadpoolctl`` limit, ``limit_blas_threads``) limits
the engine too. During a split call ``limit_numpy_blas_threads`` gives each of its threads
an equal part of that budget, so that the call never runs more threads than the budget.
"""
import contextlib
import contextvars
import functools
import os
import threading
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from . import _validate as check

# Environment variables through which a user chooses BLAS's thread count.
USER_CHOICE_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

_lock = threading.Lock()   # guards the two below: blocks may open and close in several threads
_open_limits = []          # the n of every block open now, in any thread
_counts_before = []        # [(library, its thread count before the first open block that limits it)]

_engine_pin = [None]       # set_engine_threads(n): the process-wide pin, or None
_engine_pin_here = contextvars.ContextVar("numpylstm_engine_threads", default=None)  # engine_threads(n)


def blas_threads():
    """The number of threads NumPy's BLAS uses now, or None where threadpoolctl finds no BLAS."""
    library = _numpy_blas_among(_blas_libraries())
    return None if library is None else library.num_threads


@contextlib.contextmanager
def limit_blas_threads(n):
    """Run the block with every loaded BLAS library on at most ``n`` threads, then restore them.

    Nothing changes where the user set ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or
    ``MKL_NUM_THREADS``, or where no BLAS library can be found. The limit is process-wide
    (see the module's docstring for blocks open in several threads at once).
    """
    n = check.positive_int(n, "n")
    if _user_chose_threads():
        yield
        return
    with _limited(n, _blas_libraries()):
        yield


@contextlib.contextmanager
def limit_numpy_blas_threads(n):
    """Run the block with NumPy's BLAS on at most ``n`` threads, then restore it (the fast engine's limit).

    Unlike ``limit_blas_threads`` it holds where the user set a thread variable too: it is
    meant for a caller that spreads the BLAS thread count it was given (``engine_threads()``)
    over threads of its own, each on ``n`` BLAS threads, so the total stays within the
    user's choice. Only NumPy's BLAS is limited, the library that NumPy's products call; it
    is found once per process, so a block costs microseconds instead of a millisecond.
    Blocks of this kind and of ``limit_blas_threads`` nest and overlap across threads as the
    module's docstring says.
    """
    n = check.positive_int(n, "n")
    library = _numpy_blas_library()
    with _limited(n, [] if library is None else [library]):
        yield


@contextlib.contextmanager
def _limited(n, libraries):
    _open(n, libraries)
    try:
        yield
    finally:
        _close(n)


def get_engine_threads():
    """How many threads the fast engine may use for one call now (at least 1).

    The count pinned by ``engine_threads`` or ``set_engine_threads``, else NumPy's BLAS
    thread count (so a limit the user set on BLAS holds for the engine too), else 1 where
    no BLAS library can be found.
    """
    pinned = pinned_engine_threads()
    if pinned is not None:
        return pinned
    library = _numpy_blas_library()
    count = None if library is None else library.num_threads
    return count or 1


def pinned_engine_threads():
    """The count pinned for the fast engine here (``engine_threads``, else ``set_engine_threads``), or None."""
    pinned = _engine_pin_here.get()
    return _engine_pin[0] if pinned is None else pinned


def set_engine_threads(n):
    """Pin how many threads the fast engine uses, for the whole process; None unpins.

    Parameters
    ----------
    n : positive int, or None to follow NumPy's BLAS thread count again (the default)
    """
    _engine_pin[0] = None if n is None else check.positive_int(n, "n")


@contextlib.contextmanager
def engine_threads(n):
    """Run the block with the fast engine on ``n`` threads (positive int), in this thread and its context only.

    It takes precedence over ``set_engine_threads``; the pin before it comes back after it.
    """
    token = _engine_pin_here.set(check.positive_int(n, "n"))
    try:
        yield
    finally:
        _engine_pin_here.reset(token)


def _user_chose_threads():
    """True if one of ``USER_CHOICE_VARIABLES`` is set to something (an empty value is no choice)."""
    return any(os.environ.get(name) for name in USER_CHOICE_VARIABLES)


def _open(n, libraries):
    with _lock:
        # Libraries no open block limits yet (all of them, before the first block); a library
        # is known by its file, because every search makes new controllers for the same library.
        known = {library.filepath for library, _ in _counts_before}
        counts = [(library, library.num_threads) for library in libraries if library.filepath not in known]
        # None: a library that does not tell its count; it is not changed either
        _counts_before.extend((library, count) for library, count in counts if count is not None)
        _open_limits.append(n)
        try:
            _apply_smallest_limit()
        except BaseException:
            _forget(n)      # a block that failed to open must not hold the limit for ever
            raise


def _close(n):
    with _lock:
        _forget(n)


def _forget(n):
    """Drop the limit ``n`` of a block that closes; restore the counts after the last one (_lock held)."""
    _open_limits.remove(n)
    if _open_limits:
        _apply_smallest_limit()
        return
    for library, count in _counts_before:
        _set_threads(library, count)
    _counts_before.clear()


def _apply_smallest_limit():
    limit = min(_open_limits)
    for library, count in _counts_before:
        _set_threads(library, min(limit, count))


def _set_threads(library, count):
    # threadpoolctl >= 3.8 lets one Python thread at a time set an OpenBLAS count (the thread
    # that set one first, for as long as it holds on); counts set by other threads are ignored,
    # silently. Here _lock keeps the changes apart and a block may close in another thread
    # than the one that opened it, so take hold for this one change and let go at once.
    if library.num_threads == count:   # reading costs a microsecond, a change ten or more
        return
    release = getattr(library, "clear_controlling_thread", None)
    if release is not None:
        release(force=True)
    library.set_num_threads(count)
    if release is not None:
        release()


def _blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (NumPy's among them)."""
    return ThreadpoolController().select(user_api="blas").lib_controllers


@functools.lru_cache(maxsize=None)
def _numpy_blas_library():
    """threadpoolctl's controller of NumPy's BLAS (as ``blas_threads`` chooses it), or None.

    Found once: NumPy loads its BLAS when it is imported, and a process cannot unload it.
    The controller reads and sets the count of the library each time it is asked.
    """
    return _numpy_blas_among(_blas_libraries())


def _numpy_blas_among(libraries):
    """The library bundled with NumPy, else the first one found, else None."""
    bundled = [library for library in libraries if _bundled_with_numpy(library.filepath)]
    return (bundled or libraries or [None])[0]


def _bundled_with_numpy(path):
    """True for a library inside NumPy's installation (numpy.libs/ beside it, or a folder in it)."""
    numpy_folder = Path(np.__file__).resolve().parent
    folders = Path(path).resolve().parents
    return numpy_folder in folders or numpy_folder.parent / "numpy.libs" in folders
