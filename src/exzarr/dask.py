"""Dask and executor support: :meth:`Array.to_dask`, :meth:`Array.store_dask`, and running chunk
work on any executor (a ``concurrent.futures`` pool or a ``distributed.Client``).

This module works on arrays through their public API only and imports neither ``exzarr.array``
nor ``exzarr.api`` (:func:`exzarr.from_dask`, which creates arrays, lives in ``exzarr.dask_io``).
Dask itself is imported inside the functions that need it: running chunk work on a
``concurrent.futures`` executor does not need Dask installed.

Writes are split into *write units* (the shards of a sharded array, else its chunks): a Dask array
whose blocks do not line up with them is first rechunked to multiples of the unit, so no two tasks
ever write one stored object (two writers of one object would lose each other's updates).
"""

from __future__ import annotations

import itertools
import os
import pickle
import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import numpy as np

from .engine.progress import Progress
from .errors import CallbackError, CastError, ReadOnlyError, ShapeMismatchError

__all__ = [
    "aligned_chunks",
    "check_dask_source",
    "check_destination",
    "executor_chunk_map",
    "require_dask",
    "run_on_executor",
    "store_dask",
    "to_dask",
    "write_units",
]

ChunkIndex = tuple[int, ...]


def write_units(array: Any) -> tuple[int, ...]:
    """The shape of what one stored object holds: the shards of a sharded array, else its chunks.

    >>> import exzarr
    >>> write_units(exzarr.create(shape=(8, 8), chunks=(2, 2), shards=(4, 4), dtype="u1"))
    (4, 4)
    """
    return tuple(array.shards) if array.shards is not None else tuple(array.chunks)


def require_dask(what: str) -> Any:
    """``dask.array``, or an ImportError telling how to install it for ``what``."""
    try:
        import dask.array as da
    except ImportError as exc:
        raise ImportError(f"{what} needs dask: pip install 'exzarr[dask]' (dask[array] and distributed)") from exc
    return da


# ----------------------------------------------------------------------------- reading


def to_dask(array: Any, chunks: Any = None, *, name: str | None = None, inline_array: bool = False) -> Any:
    """A ``dask.array.Array`` over ``array`` whose blocks are its write units (shards or chunks),
    each read by exzarr's engine. ``chunks=`` asks for other blocks (any Dask chunk spec).

    The name is ``"exzarr-" + dask.base.tokenize(array, chunks)``: the same array (store location,
    path and metadata) gives the same name in every call and every process.

    >>> import exzarr, numpy as np
    >>> a = exzarr.create(shape=(6, 4), chunks=(4, 4), dtype="i4")
    >>> a[...] = np.arange(24).reshape(6, 4)
    >>> x = to_dask(a)
    >>> x.chunks, int(x.sum().compute())
    (((4, 2), (4,)), 276)
    """
    da = require_dask("to_dask")
    from dask.base import tokenize

    blocks = write_units(array) if chunks is None else chunks
    key = name if name is not None else "exzarr-" + tokenize(array, blocks)
    meta = np.empty((0,) * array.ndim, dtype=array.dtype)
    return da.from_array(
        array, chunks=blocks, name=key, lock=False, asarray=True, fancy=False, meta=meta, inline_array=inline_array
    )


# ----------------------------------------------------------------------------- writing


def _dim_aligned(dim_chunks: tuple[int, ...], unit: int) -> bool:
    return all(b % unit == 0 for b in itertools.accumulate(dim_chunks[:-1]))


def aligned_chunks(chunks: tuple[tuple[int, ...], ...], units: tuple[int, ...], shape: tuple[int, ...]) -> tuple[Any, ...] | None:
    """Dask chunks whose block boundaries all fall on the write-unit grid, or ``None`` when
    ``chunks`` already do. A misaligned dimension gets regular blocks of the multiple of its unit
    nearest to its largest block (at least one unit); aligned dimensions keep their blocks.

    >>> aligned_chunks(((7, 7, 6),), (10,), (20,))
    ((10, 10),)
    >>> aligned_chunks(((10, 10),), (5,), (20,)) is None
    True
    """
    if all(_dim_aligned(c, u) for c, u in zip(chunks, units, strict=True)):
        return None
    out: list[tuple[int, ...]] = []
    for c, u, n in zip(chunks, units, shape, strict=True):
        if _dim_aligned(c, u):
            out.append(tuple(c))
            continue
        step = max(1, round(max(c) / u)) * u
        out.append(tuple(min(step, n - k) for k in range(0, n, step)) or (0,))
    return tuple(out)


def _memory_backed(store: Any) -> bool:
    """Whether the store's data lives in this process only (a pickled copy writes elsewhere)."""
    return str(store.lock_namespace).startswith("memory:")


def _check_castable(name: str, src: np.dtype, dst: np.dtype) -> None:
    if src == dst:
        return
    if dst.kind == "O" and src.kind in "OUS":
        return
    if src.kind == "O" or not np.can_cast(src, dst, casting="same_kind"):
        raise CastError(f"array {name!r}: cannot store a dask array of dtype {src} into dtype {dst}")


def check_dask_source(name: str, x: Any, shape: tuple[int, ...], dtype: np.dtype, store: Any, *, scheduler: Any = None) -> None:
    """Refuse the Dask array ``x`` for an array ``name`` of ``shape`` and ``dtype`` in ``store`` when
    :func:`store_dask` would: unknown chunk sizes, another shape, a dtype that does not cast
    (``same_kind``: float -> int is refused), or a scheduler whose workers cannot reach an in-process
    memory store. Needs no array, so :func:`exzarr.from_dask` checks before it creates (or replaces)
    anything. Values are not read: a vlen string array can still refuse one element when written.

    >>> import dask.array as da, numpy as np
    >>> from exzarr.storage import MemoryStore
    >>> check_dask_source("/a", da.zeros(4, dtype="f8", chunks=2), (4,), np.dtype("i4"), MemoryStore())
    Traceback (most recent call last):
    ...
    exzarr.errors.CastError: array '/a': cannot store a dask array of dtype float64 into dtype int32
    """
    import dask

    if any(isinstance(s, float) and np.isnan(s) for s in x.shape):
        raise ShapeMismatchError(
            f"array {name!r}: the dask array has unknown chunk sizes {x.shape}; call x.compute_chunk_sizes() first"
        )
    if tuple(x.shape) != tuple(shape):
        raise ShapeMismatchError(f"array {name!r}: cannot store a dask array of shape {x.shape} into shape {tuple(shape)}")
    _check_castable(name, np.dtype(x.dtype), np.dtype(dtype))
    get = dask.base.get_scheduler(scheduler=scheduler, collections=[x])
    local = get in (dask.threaded.get, dask.local.get_sync) or get is None
    if not local and _memory_backed(store):
        raise ValueError(
            f"array {name!r} lives in an in-process memory store: workers of another process would write into "
            "copies of it; use a local, SQLite or cloud store, or the threaded scheduler"
        )


def store_dask(array: Any, x: Any, *, scheduler: Any = None) -> Any:
    """Write the Dask array ``x`` into ``array`` in parallel, under the current (or the given)
    Dask scheduler, a ``distributed.Client`` included; returns ``array``.

    ``x`` must have the array's shape and a dtype that casts to it (``same_kind``). Blocks that do
    not line up with the write units are rechunked first (see :func:`aligned_chunks`), so each
    stored object is written by one task.

    >>> import exzarr, dask.array as da
    >>> a = exzarr.create(shape=(20,), chunks=(10,), dtype="i8")
    >>> _ = store_dask(a, da.arange(20, chunks=7))
    >>> int(a[...].sum())
    190
    """
    da = require_dask("store_dask")
    if not isinstance(x, da.Array):
        raise TypeError(f"array {array.name!r}: store_dask needs a dask.array.Array, got {type(x).__name__}")
    if array.read_only:
        raise ReadOnlyError(f"array {array.name!r} is read-only: open it with mode='r+' or 'a' to store a dask array")
    check_dask_source(array.name, x, tuple(array.shape), np.dtype(array.dtype), array.store, scheduler=scheduler)
    target = aligned_chunks(x.chunks, write_units(array), array.shape) if array.ndim else None
    if target is not None:
        x = x.rechunk(target)
    da.store(x, array, lock=False, compute=True, scheduler=scheduler)
    return array


# ----------------------------------------------------------------------------- executors


def _is_distributed(executor: Any) -> bool:
    return type(executor).__module__.split(".")[0] == "distributed" and hasattr(executor, "scatter")


def _check_executor(executor: Any) -> None:
    if not (_is_distributed(executor) or hasattr(executor, "submit")):
        raise TypeError(f"executor must be a concurrent.futures.Executor or a distributed.Client, got {type(executor).__name__}")


def _check_picklable(executor: Any, obj: Any, what: str) -> None:
    """Fail early, naming ``what``, when ``obj`` cannot travel to the executor's workers."""
    if isinstance(executor, ThreadPoolExecutor):
        return
    if _is_distributed(executor):
        from distributed.protocol.pickle import dumps
    elif isinstance(executor, ProcessPoolExecutor):
        dumps = pickle.dumps
    else:
        return  # an executor of unknown kind: its own errors tell
    try:
        dumps(obj)
    except Exception as exc:
        raise TypeError(
            f"{what} {obj!r} cannot be pickled to send it to the workers of {type(executor).__name__} "
            f"({type(exc).__name__}: {exc}); use a module-level function"
        ) from exc


def _default_window(executor: Any) -> int:
    if _is_distributed(executor):
        return max(2, 2 * sum(executor.nthreads().values()))
    return max(4, 2 * (os.cpu_count() or 1))


def _imap(
    executor: Any,
    fn: Callable[..., Any],
    items: Iterable[Any],
    args: tuple[Any, ...],
    *,
    window: int,
    ordered: bool,
    timeout: float | None,
    on_timeout: Callable[[Any], BaseException],
    drain: bool = False,
) -> Iterator[tuple[Any, BaseException | None, Any]]:
    """Submit ``fn(*args, item)`` per item with at most ``window`` in flight; yield
    ``(item, exception or None, result)`` in input order (``ordered``) or as they finish.
    Closing the iterator cancels what is still in flight; with ``drain``, it also waits for the
    calls already running on a ``concurrent.futures`` pool (a cluster's cannot be waited for once
    cancelled), so nothing they write lands after the caller cleaned up."""
    done_q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    pending: deque[tuple[Any, Any]] = deque()
    distributed = _is_distributed(executor)
    submit_kw = {"pure": False} if distributed else {}
    it = iter(items)

    def submit(item: Any) -> None:
        fut = executor.submit(fn, *args, item, **submit_kw)
        fut.add_done_callback(done_q.put)
        pending.append((item, fut))

    def outcome(item: Any, fut: Any) -> tuple[Any, BaseException | None, Any]:
        exc = fut.exception()
        return (item, exc, None) if exc is not None else (item, None, fut.result())

    def take() -> tuple[Any, BaseException | None, Any]:
        if ordered:
            item, fut = pending[0]
            try:
                fut.exception(timeout=timeout)
            except TimeoutError:
                pending.popleft()
                fut.cancel()
                return item, on_timeout(item), None
            pending.popleft()
            return outcome(item, fut)
        while True:
            try:
                fut = done_q.get(timeout=timeout)
            except queue.Empty:
                item, oldest = pending.popleft()
                oldest.cancel()
                return item, on_timeout(item), None
            for k, (item, f) in enumerate(pending):
                if f is fut or (distributed and f.key == fut.key):
                    del pending[k]
                    return outcome(item, f)

    try:
        for item in it:
            submit(item)
            if len(pending) >= window:
                yield take()
        while pending:
            yield take()
    finally:
        for _, f in pending:
            f.cancel()
        if drain and not distributed:
            for _, f in pending:
                if not f.cancelled():
                    f.exception()  # waits for the running call; its error is not the one raised


def _share(executor: Any, array: Any) -> Any:
    """What to send as the array: on a cluster, one copy scattered to every worker."""
    if _is_distributed(executor):
        return executor.scatter(array, broadcast=True, hash=False)
    return array


def _map_note(array: Any, idx: ChunkIndex) -> str:
    """The note an error of ``fn`` carries, as on the local thread path (``engine.streaming``)."""
    return f"while mapping chunk {idx} (key {array.chunk_key(idx)!r}) of array {array.name!r}"


def _map_one(array: Any, fn: Callable[[tuple[ChunkIndex, np.ndarray]], Any], pickled: bool, idx: ChunkIndex) -> Any:
    """One chunk of :func:`executor_chunk_map`, run on a worker. ``pickled``: the error goes back
    through :mod:`pickle` (a process pool), which an exception that cannot be rebuilt would break."""
    data = array.blocks[idx] if idx else np.asarray(array[...])
    try:
        return fn((idx, data))
    except Exception as exc:
        exc.add_note(_map_note(array, idx))
        why = _unsendable(exc) if pickled else None
        if why is None:
            raise
        failure = CallbackError(f"fn raised {type(exc).__name__}: {exc}, which cannot be sent back from a worker process: {why}")
    failure.add_note(_map_note(array, idx))
    raise failure  # outside the except block: no __context__ holding what cannot be pickled


def _unsendable(exc: BaseException) -> str | None:
    """Why ``exc`` cannot make the trip through :mod:`pickle`, or ``None`` when it can."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception as why:
        return f"{type(why).__name__}: {why}"
    return None


def _with_map_note(array: Any, idx: ChunkIndex, exc: BaseException) -> BaseException:
    """``exc`` with the chunk note, which the trip back from a worker can lose (an exception whose
    ``__reduce__`` drops its ``__dict__``, or one ``distributed`` could not pickle and replaced)."""
    note = _map_note(array, idx)
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)
    return exc


def executor_chunk_map(
    array: Any,
    fn: Callable[[tuple[ChunkIndex, np.ndarray]], Any],
    executor: Any,
    indices: Iterable[ChunkIndex],
    *,
    max_concurrency: int | None = None,
    ordered: bool = True,
    timeout: float | None = None,
    return_exceptions: bool = False,
    bar: Progress | None = None,
) -> Iterator[Any]:
    """:meth:`Array.parallel_chunk_map` on ``executor``, over the chunk ``indices`` it planned
    (arguments checked, filter applied): each chunk is read and mapped on a worker (a pool thread
    or process, or a ``distributed`` worker); results, order, errors and progress are those of
    the thread version. ``max_concurrency`` bounds the chunks in flight (default: twice the workers).

    >>> import exzarr
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> a = exzarr.create(shape=(6,), chunks=(2,), dtype="i4")
    >>> a[...] = [1, 2, 3, 4, 5, 6]
    >>> with ThreadPoolExecutor(2) as pool:
    ...     list(executor_chunk_map(a, lambda item: int(item[1].sum()), pool, [(0,), (1,), (2,)]))
    [3, 7, 11]
    """
    _check_executor(executor)
    _check_picklable(executor, fn, "fn")
    return _executor_map(array, fn, executor, list(indices), max_concurrency, ordered, timeout, return_exceptions, bar)


def _executor_map(
    array: Any,
    fn: Callable[..., Any],
    executor: Any,
    indices: list[ChunkIndex],
    max_concurrency: int | None,
    ordered: bool,
    timeout: float | None,
    return_exceptions: bool,
    bar: Progress | None,
) -> Iterator[Any]:
    total = len(indices)
    timeouts: list[BaseException] = []  # made here, already naming the chunk

    def on_timeout(idx: ChunkIndex) -> TimeoutError:
        err = TimeoutError(
            f"array {array.name!r}: chunk {idx} (key {array.chunk_key(idx)!r}) did not finish within {timeout:g} s"
        )
        timeouts.append(err)
        return err

    try:
        if not indices:
            return
        shared = _share(executor, array)
        window = max_concurrency or _default_window(executor)
        args = (shared, fn, isinstance(executor, ProcessPoolExecutor))
        for idx, exc, result in _imap(
            executor, _map_one, indices, args, window=window, ordered=ordered, timeout=timeout, on_timeout=on_timeout
        ):
            if bar is not None:
                bar.step(total)
            if exc is not None:
                if not any(exc is t for t in timeouts):
                    exc = _with_map_note(array, idx, exc)
                if not return_exceptions:
                    raise exc
                yield exc
            else:
                yield result
    finally:
        if bar is not None:
            bar.close()


def _call(job: Callable[[], Any]) -> None:
    job()


def check_destination(executor: Any, destination: Any) -> None:
    """Refuse an executor that cannot reach the store ``destination`` (or is no executor): the workers
    of a process pool or a cluster would write into copies of an in-process memory store.

    >>> from concurrent.futures import ThreadPoolExecutor
    >>> from exzarr.storage import MemoryStore
    >>> with ThreadPoolExecutor(1) as pool:
    ...     check_destination(pool, MemoryStore())  # threads share the memory: fine
    """
    _check_executor(executor)
    if destination is not None and _memory_backed(destination) and not isinstance(executor, ThreadPoolExecutor):
        raise ValueError(
            f"the destination {destination!r} is an in-process memory store: the workers of {type(executor).__name__} "
            "would write into copies of it; use a local, SQLite or cloud store, or a ThreadPoolExecutor"
        )


def run_on_executor(
    jobs: list[Callable[[], Any]],
    executor: Any,
    *,
    max_concurrency: int | None = None,
    progress: Progress | None = None,
    destination: Any = None,
) -> None:
    """Run each of ``jobs`` (picklable callables without arguments, for process and cluster
    executors) on ``executor``; stop submitting and re-raise at the first failure, once the jobs
    already running on a ``concurrent.futures`` pool have finished. ``destination``,
    the store the jobs write to, must be reachable from the workers (not an in-process memory
    store, unless the executor is a thread pool).

    >>> from concurrent.futures import ThreadPoolExecutor
    >>> seen = []
    >>> with ThreadPoolExecutor(2) as pool:
    ...     run_on_executor([lambda: seen.append(1), lambda: seen.append(2)], pool)
    >>> sorted(seen)
    [1, 2]
    """
    check_destination(executor, destination)
    if jobs:
        _check_picklable(executor, jobs[0], "copy job")
    window = max_concurrency or _default_window(executor)

    def on_timeout(job: Any) -> TimeoutError:  # pragma: no cover - no timeout is given
        return TimeoutError(f"{job!r} timed out")

    results = _imap(executor, _call, jobs, (), window=window, ordered=False, timeout=None, on_timeout=on_timeout, drain=True)
    try:
        for _job, exc, _ in results:
            if exc is not None:
                raise exc
            if progress is not None:
                progress.step(len(jobs))
    finally:
        results.close()  # now, not when the traceback is freed: cancel the rest, wait for the running ones
