"""The executor: runs a plan's chunk tasks on a shared thread pool.

Codecs (zstd, lz4, zlib, blosc via numcodecs) and NumPy copies release the GIL, so
threads decode on every core, and store requests overlap. Tasks are batched per
worker rather than one future per chunk. A call made from inside a worker (e.g.
a mapped function that reads another array) runs inline, so nested calls never
deadlock and never multiply the thread budget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from ..config import config

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_local = threading.local()


def _get_pool(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < size:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="exzarr", initializer=_mark_worker)
            _pool_size = size
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _mark_worker() -> None:
    _local.in_worker = True


def in_worker() -> bool:
    return getattr(_local, "in_worker", False)


def resolve_concurrency(max_concurrency: int | None, *, io_bound: bool = True) -> int:
    if max_concurrency is None:
        return max(config.cpu_workers, config.io_concurrency) if io_bound else config.cpu_workers
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be a positive integer or None, got {max_concurrency!r}")
    return max_concurrency


def run_tasks(fn: Callable[[T], None], tasks: Sequence[T], *, max_concurrency: int | None = None) -> None:
    """Run ``fn`` over ``tasks``, at most ``max_concurrency`` at a time; re-raise the first error.

    When a task fails the batches that have not started are cancelled and the
    first exception propagates once running batches finish.
    """
    n = len(tasks)
    conc = min(resolve_concurrency(max_concurrency, io_bound=False), n)
    if conc <= 1 or in_worker():
        for t in tasks:
            fn(t)
        return
    batches = [tasks[i::conc] for i in range(conc)]
    stop = threading.Event()

    def run_batch(batch: Sequence[T]) -> None:
        for t in batch:
            if stop.is_set():
                return
            fn(t)

    pool = _get_pool(conc)
    futures: list[Future[None]] = [pool.submit(run_batch, b) for b in batches]
    done, pending = wait(futures, return_when=FIRST_EXCEPTION)
    for f in done:
        if f.exception() is not None:
            stop.set()
            for p in pending:
                p.cancel()
            wait(pending)
            raise f.exception()  # type: ignore[misc]
