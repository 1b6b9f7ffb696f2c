"""The executor: runs a plan's chunk tasks on one shared thread pool.

Codecs (zstd, lz4, zlib, blosc via numcodecs) and NumPy copies release the GIL, so
threads decode on every core and store requests overlap. A call submits one future
per *worker*, and the workers pull tasks from a shared iterator (dynamic batching:
no future per chunk, no idle worker while another has a backlog).

Concurrency: a call on a local store runs ``config.cpu_workers`` workers; on an
I/O-bound store (``store.io_bound``, e.g. a cloud or :class:`LatencyStore`) it keeps
``config.io_concurrency`` requests in flight, while :func:`cpu_gate` keeps the
decode/encode work to ``cpu_workers`` at a time. ``max_concurrency=`` overrides both
for one call (``1`` is sequential). A call made from inside a worker (a mapped
function that reads another array) runs inline, so nested calls never deadlock and
never multiply the budget.

Failure: the first task that raises stops the others from starting new tasks; the
exception propagates once running tasks return. ``KeyboardInterrupt`` in the caller
does the same and re-raises promptly.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from .._fork import at_fork
from ..config import config

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_local = threading.local()
_gates: dict[int, threading.BoundedSemaphore] = {}


@at_fork
def _reset_after_fork() -> None:
    """In a forked child the pool has no threads and the locks may be held: start afresh."""
    global _pool, _pool_size, _pool_lock, _local, _gates
    _pool, _pool_size = None, 0
    _pool_lock = threading.Lock()
    _local = threading.local()
    _gates = {}


def get_pool(size: int) -> ThreadPoolExecutor:
    """The shared pool, grown (never shrunk) to at least ``size`` threads."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < size:
            old = _pool
            _pool_size = max(size, config.cpu_workers, 4)
            _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="exzarr", initializer=_mark_worker)
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _mark_worker() -> None:
    _local.in_worker = True


def in_worker() -> bool:
    """True on an exzarr pool thread (nested calls then run inline)."""
    return getattr(_local, "in_worker", False)


def check_concurrency(value: object, name: str = "max_concurrency") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return value


def resolve_concurrency(max_concurrency: int | None, *, io_bound: bool = False) -> int:
    mc = check_concurrency(max_concurrency)
    if mc is not None:
        return mc
    return config.io_concurrency if io_bound else config.cpu_workers


def cpu_gate(concurrency: int) -> contextlib.AbstractContextManager[object]:
    """A context manager limiting CPU-bound sections to ``config.cpu_workers`` threads when a
    call runs more workers than cores (I/O-bound stores); a no-op otherwise."""
    n = config.cpu_workers
    if concurrency <= n:
        return contextlib.nullcontext()
    with _pool_lock:
        gate = _gates.get(n)
        if gate is None:
            gate = _gates[n] = threading.BoundedSemaphore(n)
    return gate


def run_tasks(
    fn: Callable[[T], None],
    tasks: Sequence[T],
    *,
    max_concurrency: int | None = None,
    io_bound: bool = False,
) -> None:
    """Run ``fn`` over ``tasks`` on the shared pool; re-raise the first error.

    The calling thread is one of the workers: it pulls tasks from the same shared iterator as
    the pool threads it asked for. So a call always finishes even when every pool thread is busy
    (or blocked on a lock the caller holds): nested calls from threads outside the pool cannot
    starve each other. Pool workers that start after the tasks ran out return at once, and
    those that never started are cancelled.
    """
    n = len(tasks)
    conc = min(resolve_concurrency(max_concurrency, io_bound=io_bound), n)
    if conc <= 1 or in_worker():
        for t in tasks:
            fn(t)
        return
    shared: Iterator[T] = iter(tasks)  # list iterators hand out items atomically under the GIL
    stop = threading.Event()

    def worker() -> None:
        try:
            for t in shared:
                if stop.is_set():
                    return
                fn(t)
        except BaseException:
            stop.set()  # the first failure, in any worker or the caller, stops the others
            raise

    pool = get_pool(conc - 1)
    futures: list[Future[None]] = [pool.submit(worker) for _ in range(conc - 1)]
    try:
        worker()  # the caller works too
    except BaseException:
        stop.set()
        for f in futures:
            f.cancel()
        if not isinstance(sys.exc_info()[1], Exception):
            raise  # KeyboardInterrupt / SystemExit: leave at once, running tasks see stop
        wait([f for f in futures if not f.cancelled()])
        raise
    for f in futures:
        f.cancel()  # a worker that never started has nothing left to do
    _wait_all([f for f in futures if not f.cancelled()], stop)


def _wait_all(futures: list[Future[None]], stop: threading.Event) -> None:
    try:
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
    except BaseException:  # KeyboardInterrupt / SystemExit in the caller
        stop.set()
        for f in futures:
            f.cancel()
        raise
    for f in done:
        exc = f.exception()
        if exc is not None:
            stop.set()
            for p in pending:
                p.cancel()
            wait(pending)
            raise exc


def imap_bounded(
    fn: Callable[[T], object],
    items: Iterable[T],
    *,
    concurrency: int,
    ordered: bool = True,
    timeout: float | None = None,
    on_timeout: Callable[[T], BaseException] | None = None,
) -> Iterator[tuple[T, Future[object]]]:
    """Lazily map ``fn`` over ``items`` with at most ``concurrency`` calls in flight.

    Yields ``(item, finished_future)`` in input order (``ordered=True``) or completion
    order. Only ``concurrency`` results are ever held, so memory stays bounded however
    many items there are. Closing the iterator cancels what has not started.
    ``timeout`` bounds each call: a call still running that long after it became the
    one being waited on yields a future holding ``on_timeout(item)``.
    """
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED
    from concurrent.futures import TimeoutError as FutTimeout

    it = iter(items)
    if concurrency <= 1 or in_worker():
        for item in it:
            f: Future[object] = Future()
            try:
                f.set_result(fn(item))
            except Exception as exc:
                f.set_exception(exc)
            yield item, f
        return
    pool = get_pool(concurrency)
    window: deque[tuple[T, Future[object]]] = deque()
    try:
        for item in it:
            window.append((item, pool.submit(fn, item)))
            if len(window) >= concurrency:
                yield _pop(window, ordered, timeout, on_timeout, FIRST_COMPLETED, FutTimeout)
        while window:
            yield _pop(window, ordered, timeout, on_timeout, FIRST_COMPLETED, FutTimeout)
    finally:
        for _, f in window:
            f.cancel()


def _pop(window, ordered, timeout, on_timeout, first_completed, fut_timeout):  # type: ignore[no-untyped-def]
    if ordered:
        item, f = window.popleft()
        try:
            f.exception(timeout=timeout)
        except fut_timeout:
            f.cancel()
            return item, _failed(on_timeout(item) if on_timeout else TimeoutError(f"task for {item!r} timed out"))
        return item, f
    done, _ = wait([f for _, f in window], timeout=timeout, return_when=first_completed)
    if not done:
        item, f = window.popleft()
        f.cancel()
        return item, _failed(on_timeout(item) if on_timeout else TimeoutError(f"task for {item!r} timed out"))
    for k, (item, f) in enumerate(window):
        if f in done:
            del window[k]
            return item, f
    raise AssertionError("unreachable")  # pragma: no cover


def _failed(exc: BaseException) -> Future[object]:
    f: Future[object] = Future()
    f.set_exception(exc)
    return f
