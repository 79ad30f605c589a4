"""Work spread over the machine's cores, results in input order: a process pool for decoding
and preparing many picture files (engines.inputs), which holds the GIL in Pillow and NumPy
code for most of a picture's millisecond and so gains nothing from threads.

Bounded: at most WINDOW tasks of CHUNK items are in flight, so memory does not grow with the
number of inputs. Ctrl-C: the workers ignore SIGINT (the terminal sends it to the whole
process group) and the pool is cancelled and shut down by the parent, which alone reports it.
With one core (or NNMNIST_WORKERS=1) nothing is started and the items are done here.
"""

from __future__ import annotations

import collections
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 16  # items per task: a task's cost (a pickle each way) is paid per 16 pictures
WINDOW = 16  # tasks in flight per worker
MIN_ITEMS = 64  # fewer pictures than this are done here: a pool's start would cost more


def workers() -> int:
    """The processes to use: NNMNIST_WORKERS if set (1 turns the pool off), else the cores
    this process may run on."""
    given = os.environ.get("NNMNIST_WORKERS", "")
    if given.isdigit() and int(given) >= 1:
        return min(int(given), 64)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _worker_start() -> None:
    """Ctrl-C is the parent's to handle; and one BLAS thread a worker (the workers are the
    parallelism: BLAS's own threads on top would fight them for the cores)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _run_chunk(fn: Callable[[Any], Any], chunk: list[Any]) -> list[Any]:
    return [fn(item) for item in chunk]


def _context() -> Any:
    """fork where there is one (a worker starts in milliseconds, with the parent's imports),
    else the platform's default."""
    import multiprocessing  # here: it imports socket, which a command without a pool need not

    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def ordered_map(fn: Callable[[T], R], items: Sequence[T], count: int | None = None) -> Iterator[R]:
    """fn(item) for every item, in order, on count processes (default: workers()); fn must be a
    module-level function and its results picklable. Exceptions fn raises are the caller's to
    turn into results: one raised here stops the map."""
    count = workers() if count is None else count
    if count < 2 or len(items) < MIN_ITEMS:
        yield from map(fn, items)
        return
    from concurrent.futures import ProcessPoolExecutor

    chunks = [list(items[i : i + CHUNK]) for i in range(0, len(items), CHUNK)]
    with warnings.catch_warnings():
        # Python 3.12+ warns of fork beside threads (a terminal's progress display, BLAS's
        # idle pool): the workers only decode pictures, and touch none of those threads' locks
        warnings.simplefilter("ignore", DeprecationWarning)
        pool = ProcessPoolExecutor(count, mp_context=_context(), initializer=_worker_start)
    pending: collections.deque[Future[list[R]]] = collections.deque()
    from threadpoolctl import threadpool_limits

    # and one BLAS thread here while the workers run: OpenBLAS's threads spin between calls
    # and would take the cores the workers decode on (measured: no gain at all without this)
    limits = threadpool_limits(1)
    try:
        for chunk in chunks:
            pending.append(pool.submit(_run_chunk, fn, chunk))
            if len(pending) >= WINDOW * count:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        limits.restore_original_limits()
        pool.shutdown(wait=True, cancel_futures=True)
