"""Streaming over chunks: ``chunk_stream``, ``parallel_chunk_map``, ``stream_slices``, ``write_stream``.

Reads run ahead only as far as the requested concurrency (a sliding window of
futures on the shared pool), so memory stays bounded for any number of chunks.
Chunks yielded to users are trimmed to the array bounds. These functions work on a
:class:`~exzarr.engine.core.ChunkEngine`; :class:`~exzarr.array.Array` exposes them as methods.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import telemetry
from ..errors import BoundsError, CallbackError, ShapeMismatchError
from ..indexing import basic_selection
from .core import ChunkEngine
from .executor import check_concurrency, imap_bounded, run_tasks
from .progress import Progress, ProgressArg, make_progress

ChunkIndex = tuple[int, ...]


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk of a stream with its place in the array (``with_info=True``).

    ``start``/``stop`` are the chunk's bounds in array coordinates (``stop`` exclusive,
    trimmed to the array); ``nbytes`` is the size stored (0 for a missing chunk).

    >>> import exzarr
    >>> a = exzarr.create_array(shape=(5,), chunks=(2,), dtype="u1", fill_value=1)
    >>> rec = list(a.chunk_stream(include_missing=True, with_info=True))[-1]
    >>> rec.index, rec.start, rec.stop, rec.nbytes, rec.data.tolist()
    ((2,), (4,), (5,), 0, [1])
    """

    index: ChunkIndex
    start: tuple[int, ...]
    stop: tuple[int, ...]
    nbytes: int
    data: np.ndarray


@dataclass
class WriteSummary:
    """What :meth:`Array.write_stream` did: chunk indices written and failed (with the error).

    >>> import exzarr
    >>> a = exzarr.create_array(shape=(4,), chunks=(2,), dtype="u1")
    >>> a.write_stream([((0,), [1, 2]), ((1,), [3, 4])])
    WriteSummary(written=[(0,), (1,)], failed=[], last_index=(1,))
    """

    written: list[ChunkIndex] = field(default_factory=list)
    failed: list[tuple[ChunkIndex, BaseException]] = field(default_factory=list)
    last_index: ChunkIndex | None = None

    @property
    def failed_indices(self) -> list[ChunkIndex]:
        """The chunk indices of :attr:`failed`, without their errors.

        >>> WriteSummary(failed=[((3,), ValueError("bad"))]).failed_indices
        [(3,)]
        """
        return [i for i, _ in self.failed]


# ----------------------------------------------------------------------------- helpers


def _check_callable(value: Any, name: str) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {type(value).__name__}")


def _check_on_error(on_error: Any) -> None:
    if not (on_error in ("raise", "skip") or callable(on_error)):
        raise ValueError(f"on_error must be 'raise', 'skip' or a callable, got {on_error!r}")


def _check_timeout(timeout: Any) -> None:
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")


def _call(cb: Callable[..., Any], name: str, *args: Any) -> Any:
    try:
        return cb(*args)
    except Exception as exc:
        raise CallbackError(f"{name} raised {type(exc).__name__}: {exc}") from exc


def _indices(
    engine: ChunkEngine, include_missing: bool, filt: Callable[[ChunkIndex], bool] | None
) -> tuple[Iterable[ChunkIndex], int]:
    if include_missing:
        grid: Iterable[ChunkIndex] = itertools.product(*(range(g) for g in engine.layout.grid))
        total = engine.layout.nchunks
    else:
        grid = sorted(engine.stored_chunks())
        total = len(grid)  # type: ignore[arg-type]
    if filt is None:
        return grid, total
    chosen = [i for i in grid if _call(filt, "filter", i)]
    return chosen, len(chosen)


def _stream(engine: ChunkEngine, task: Callable[[ChunkIndex], Any], indices: Iterable[ChunkIndex], concurrency: int,
            ordered: bool, timeout: float | None) -> Iterator[tuple[ChunkIndex, Any]]:  # fmt: skip
    """Run ``task`` per chunk index with bounded read-ahead; timeouts name the chunk."""
    return imap_bounded(
        task, indices, concurrency=concurrency, ordered=ordered, timeout=timeout,
        on_timeout=lambda i: _timeout_error(engine, i, timeout),
    )  # fmt: skip


def _timeout_error(engine: ChunkEngine, idx: ChunkIndex, timeout: float | None) -> TimeoutError:
    return TimeoutError(f"array {engine.name!r}: chunk {idx} (key {engine.chunk_key(idx)!r}) did not finish within {timeout:g} s")


def _event(name: str, engine: ChunkEngine, **info: Any) -> None:
    if telemetry.enabled():
        telemetry.emit(telemetry.Event(name, engine.name, info=info))


# ----------------------------------------------------------------------------- reading


def chunk_stream(
    engine: ChunkEngine,
    *,
    max_concurrency: int | None = None,
    ordered: bool = True,
    filter: Callable[[ChunkIndex], bool] | None = None,
    progress: ProgressArg = False,
    progress_callback: Callable[[int, int], Any] | None = None,
    include_missing: bool = False,
    on_error: str | Callable[[ChunkIndex, BaseException], Any] = "raise",
    timeout: float | None = None,
    with_info: bool = False,
) -> Iterator[tuple[ChunkIndex, np.ndarray]] | Iterator[ChunkRecord]:
    """Check the arguments now; the returned iterator reads lazily."""
    conc = engine.concurrency(max_concurrency)
    _check_callable(filter, "filter")
    _check_callable(progress_callback, "progress_callback")
    _check_on_error(on_error)
    _check_timeout(timeout)
    indices, total = _indices(engine, include_missing, filter)
    bar = make_progress(progress, progress_callback, total=total, desc=f"chunks of {engine.name}")
    return _chunk_stream(engine, indices, total, conc, ordered, bar, on_error, timeout, with_info)


def _chunk_stream(
    engine: ChunkEngine,
    indices: Iterable[ChunkIndex],
    total: int,
    conc: int,
    ordered: bool,
    bar: Progress | None,
    on_error: Any,
    timeout: float | None,
    with_info: bool,
) -> Iterator[Any]:
    _event("stream_start", engine, total=total, kind="chunk_stream")
    done = 0
    try:
        for idx, fut in _stream(engine, engine.read_unit, indices, conc, ordered, timeout):
            exc = fut.exception()
            done += 1
            if exc is not None:
                if on_error == "raise":
                    raise exc
                if callable(on_error):
                    _call(on_error, "on_error", idx, exc)
            else:
                data, nbytes = fut.result()  # type: ignore[misc]
                if with_info:
                    start, stop = engine.chunk_bounds(idx)
                    yield ChunkRecord(idx, start, stop, nbytes, data)
                else:
                    yield idx, data
            if bar is not None:
                bar.step(total)
    finally:
        if bar is not None:
            bar.close()
    _event("stream_stop", engine, total=total, done=done, kind="chunk_stream")


def parallel_chunk_map(
    engine: ChunkEngine,
    fn: Callable[[tuple[ChunkIndex, np.ndarray]], Any],
    *,
    max_concurrency: int | None = None,
    ordered: bool = True,
    timeout: float | None = None,
    return_exceptions: bool = False,
    filter: Callable[[ChunkIndex], bool] | None = None,
    progress: ProgressArg = False,
    progress_callback: Callable[[int, int], Any] | None = None,
    include_missing: bool = False,
) -> Iterator[Any]:
    conc = engine.concurrency(max_concurrency)
    indices, total, bar = plan_map(engine, fn, filter, progress, progress_callback, timeout, include_missing)
    return _map(engine, fn, indices, total, conc, ordered, timeout, return_exceptions, bar)


def plan_map(
    engine: ChunkEngine,
    fn: Any,
    filter: Callable[[ChunkIndex], bool] | None,
    progress: ProgressArg,
    progress_callback: Callable[[int, int], Any] | None,
    timeout: float | None,
    include_missing: bool,
) -> tuple[Iterable[ChunkIndex], int, Progress | None]:
    """What a parallel chunk map runs over, whatever runs it (the pool or an executor): the
    arguments checked, the chunk indices chosen (``filter`` applied), and the progress bar.

    >>> import exzarr
    >>> a = exzarr.create(shape=(6,), chunks=(2,), dtype="i4")
    >>> a[:4] = 1
    >>> idx, total, bar = plan_map(a._engine, print, None, False, None, None, False)
    >>> list(idx), total, bar
    ([(0,), (1,)], 2, None)
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    _check_callable(filter, "filter")
    _check_callable(progress_callback, "progress_callback")
    _check_timeout(timeout)
    indices, total = _indices(engine, include_missing, filter)
    return indices, total, make_progress(progress, progress_callback, total=total, desc=f"chunks of {engine.name}")


def _map(
    engine: ChunkEngine,
    fn: Callable[[tuple[ChunkIndex, np.ndarray]], Any],
    indices: Iterable[ChunkIndex],
    total: int,
    conc: int,
    ordered: bool,
    timeout: float | None,
    return_exceptions: bool,
    bar: Progress | None,
) -> Iterator[Any]:
    def task(idx: ChunkIndex) -> Any:
        data, _ = engine.read_unit(idx)
        try:
            return fn((idx, data))
        except Exception as exc:
            exc.add_note(f"while mapping chunk {idx} (key {engine.chunk_key(idx)!r}) of array {engine.name!r}")
            raise

    done = 0
    _event("stream_start", engine, total=total, kind="parallel_chunk_map")
    try:
        for _idx, fut in _stream(engine, task, indices, conc, ordered, timeout):
            exc = fut.exception()
            done += 1
            if bar is not None:
                bar.step(total)
            if exc is not None:
                if not return_exceptions:
                    raise exc
                yield exc
            else:
                yield fut.result()
    finally:
        if bar is not None:
            bar.close()
        _event("stream_stop", engine, total=total, done=done, kind="parallel_chunk_map")


def stream_slices(
    engine: ChunkEngine,
    axis: int = 0,
    *,
    start: int | None = None,
    stop: int | None = None,
    step: int | None = None,
    max_concurrency: int | None = None,
    progress: ProgressArg = False,
) -> Iterator[tuple[int, np.ndarray]]:
    """Check the arguments now; the returned iterator reads lazily."""
    ndim = engine.ndim
    if not ndim:
        raise BoundsError(f"array {engine.name!r}: a 0-d array has no axis to stream along")
    if not -ndim <= axis < ndim:
        raise BoundsError(f"array {engine.name!r}: axis {axis} is out of range for {ndim} dimensions")
    axis %= ndim
    if step == 0:
        raise ValueError("step cannot be zero")
    engine.concurrency(max_concurrency)  # validates it now
    n, c = engine.layout.shape[axis], engine.layout.chunk_shape[axis]
    positions = list(range(*slice(start, stop, step).indices(n)))
    bar = make_progress(progress, None, total=len(positions), desc=f"slices of {engine.name}", unit="slice")
    return _slices(engine, axis, positions, c, n, max_concurrency, bar)


def _slices(
    engine: ChunkEngine, axis: int, positions: list[int], c: int, n: int, max_concurrency: int | None, bar: Progress | None
) -> Iterator[tuple[int, np.ndarray]]:
    shape, chunks = engine.layout.shape, engine.layout.object_shape
    try:
        for row, group in itertools.groupby(positions, key=lambda i: i // c):
            idx = list(group)
            lo, hi = row * c, min((row + 1) * c, n)
            sel = tuple(slice(lo, hi) if k == axis else slice(None) for k in range(engine.ndim))
            slab = engine.read(basic_selection(sel, shape, chunks), max_concurrency=max_concurrency)
            for i in idx:
                yield i, np.take(slab, i - lo, axis=axis)
                if bar is not None:
                    bar.step(len(positions))
    finally:
        if bar is not None:
            bar.close()


# ----------------------------------------------------------------------------- writing


def _validate_chunk(engine: ChunkEngine, idx: Any, data: Any) -> tuple[ChunkIndex, np.ndarray]:
    index = engine.check_chunk_index(idx)
    arr = np.asarray(data)
    start, stop = engine.chunk_bounds(index)
    inner = tuple(b - a for a, b in zip(start, stop, strict=True))
    if arr.shape not in (inner, tuple(engine.layout.chunk_shape)):
        key = engine.chunk_key(index)
        raise ShapeMismatchError(
            f"array {engine.name!r}: data for chunk {index} (key {key!r}) has shape {arr.shape}, expected {inner}"
        )
    return index, arr


def _write_whole(engine: ChunkEngine, index: ChunkIndex, data: np.ndarray) -> None:
    start, stop = engine.chunk_bounds(index)
    sel = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
    trimmed = data[tuple(slice(0, b - a) for a, b in zip(start, stop, strict=True))]
    engine.write(basic_selection(sel, engine.layout.shape, engine.layout.object_shape), trimmed, max_concurrency=1)


def write_chunks(
    engine: ChunkEngine, items: Iterable[tuple[Any, Any]], *, max_concurrency: int | None = None, progress: ProgressArg = False
) -> list[ChunkIndex]:
    """Write whole chunks concurrently; each item is ``(chunk_index, data)``. Returns the indices written."""
    engine.check_writable()
    checked = [_validate_chunk(engine, i, d) for i, d in items]
    conc = engine.concurrency(max_concurrency)
    bar = make_progress(progress, None, total=len(checked), desc=f"write {engine.name}")

    def one(item: tuple[ChunkIndex, np.ndarray]) -> None:
        _write_whole(engine, *item)
        if bar is not None:
            bar.step(len(checked))

    try:
        run_tasks(one, checked, max_concurrency=conc)
    finally:
        if bar is not None:
            bar.close()
    return [i for i, _ in checked]


def write_stream(
    engine: ChunkEngine,
    items: Iterable[Any],
    *,
    max_concurrency: int | None = None,
    validate: bool = True,
    on_error: str | Callable[[ChunkIndex, BaseException], Any] = "raise",
    checkpoint: Callable[[WriteSummary], Any] | None = None,
    batch_size: int | None = None,
    progress: ProgressArg = False,
) -> WriteSummary:
    engine.check_writable()
    _check_on_error(on_error)
    _check_callable(checkpoint, "checkpoint")
    conc = engine.concurrency(max_concurrency)
    batch = check_concurrency(batch_size, "batch_size") or max(conc, 1) * 4
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    bar = make_progress(progress, None, total=total, desc=f"write {engine.name}")
    summary = WriteSummary()
    _event("stream_start", engine, kind="write_stream")
    it = iter(items)
    try:
        while True:
            chunk_items = list(itertools.islice(it, batch))
            if not chunk_items:
                break
            prepared: list[tuple[ChunkIndex, np.ndarray]] = []
            for item in chunk_items:
                idx, data = (item["index"], item["data"]) if isinstance(item, dict) else item
                try:
                    if validate:
                        prepared.append(_validate_chunk(engine, idx, data))
                    else:
                        prepared.append((engine.check_chunk_index(idx), np.asarray(data)))
                except Exception as exc:
                    _record_failure(summary, tuple(np.atleast_1d(idx).tolist()) if idx is not None else (), exc, on_error)
            results = _write_batch(engine, prepared, conc)
            for k, (index, _) in enumerate(prepared):
                exc = results[k]
                if exc is None:
                    summary.written.append(index)
                    summary.last_index = index
                else:
                    _record_failure(summary, index, exc, on_error)
            if bar is not None:
                bar.step(total, len(chunk_items))
            if checkpoint is not None:
                _call(checkpoint, "checkpoint", summary)
    finally:
        if bar is not None:
            bar.close()
    _event("stream_stop", engine, kind="write_stream", written=len(summary.written), failed=len(summary.failed))
    return summary


def _write_batch(engine: ChunkEngine, prepared: list[tuple[ChunkIndex, np.ndarray]], conc: int) -> list[BaseException | None]:
    """Write whole chunks concurrently; one slot per item holds its error (or ``None``)."""
    results: list[BaseException | None] = [None] * len(prepared)

    def one(k: int) -> None:
        try:
            _write_whole(engine, *prepared[k])
        except Exception as exc:
            results[k] = exc

    run_tasks(one, list(range(len(prepared))), max_concurrency=conc)
    return results


def _record_failure(summary: WriteSummary, index: ChunkIndex, exc: BaseException, on_error: Any) -> None:
    summary.failed.append((index, exc))
    if on_error == "raise":
        exc.add_note(f"write_stream: {len(summary.written)} chunks written before chunk {index} failed")
        raise exc
    if callable(on_error):
        _call(on_error, "on_error", index, exc)
