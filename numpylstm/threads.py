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
"""
import contextlib
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
_counts_before = []        # [(library, its thread count before the first open block)]


def blas_threads():
    """The number of threads NumPy's BLAS uses now, or None where threadpoolctl finds no BLAS."""
    libraries = _blas_libraries()
    if not libraries:
        return None
    bundled = [library for library in libraries if _bundled_with_numpy(library.filepath)]
    return (bundled or libraries)[0].num_threads


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
    _open(n)
    try:
        yield
    finally:
        _close(n)


def _user_chose_threads():
    """True if one of ``USER_CHOICE_VARIABLES`` is set to something (an empty value is no choice)."""
    return any(os.environ.get(name) for name in USER_CHOICE_VARIABLES)


def _open(n):
    with _lock:
        if not _open_limits:
            counts = [(library, library.num_threads) for library in _blas_libraries()]
            # None: a library that does not tell its count; it is not changed either
            _counts_before[:] = [(library, count) for library, count in counts if count is not None]
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
    release = getattr(library, "clear_controlling_thread", None)
    if release is not None:
        release(force=True)
    library.set_num_threads(count)
    if release is not None:
        release()


def _blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (NumPy's among them)."""
    return ThreadpoolController().select(user_api="blas").lib_controllers


def _bundled_with_numpy(path):
    """True for a library inside NumPy's installation (numpy.libs/ beside it, or a folder in it)."""
    numpy_folder = Path(np.__file__).resolve().parent
    folders = Path(path).resolve().parents
    return numpy_folder in folders or numpy_folder.parent / "numpy.libs" in folders
