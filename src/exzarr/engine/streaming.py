"""Streaming over chunks: ``chunk_stream``, ``parallel_chunk_map``, ``stream_slices``, ``write_stream``.

Reads run ahead only as far as the requested concurrency (a sliding window of
futures on the shared pool), so memory stays bounded for any number of chunks.
Chunks yielded to users are trimmed to the array bounds.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BoundsError, CallbackError, ShapeMismatchError
from .executor import check_concurrency, imap_bounded, resolve_concurrency, run_tasks

if TYPE_CHECKING:
    from ..array import Array

ChunkIndex = tuple[int, ...]


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk of a stream with its place in the array (``with_info=True``).

    ``start``/``stop`` are the chunk's bounds in array coordinates (``stop`` exclusive,
    trimmed to the array); ``nbytes`` is the size stored (0 for a missing chunk).
    """

    index: ChunkIndex
    start: tuple[int, ...]
    stop: tuple[int, ...]
    nbytes: int
    data: np.ndarray


@dataclass
class WriteSummary:
    """What :meth:`Array.write_stream` did: chunk indices written and failed (with the error)."""

    written: list[ChunkIndex] = field(default_factory=list)
    failed: list[tuple[ChunkIndex, BaseException]] = field(default_factory=list)
    last_index: ChunkIndex | None = None

    @property
    def failed_indices(self) -> list[ChunkIndex]:
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


def bounds(array: Array, idx: ChunkIndex) -> tuple[tuple[int, ...], tuple[int, ...]]:
    lo, hi = array._chunk_bounds(idx)
    return tuple(lo), tuple(hi)


def _indices(array: Array, include_missing: bool, filt: Callable[[ChunkIndex], bool] | None) -> tuple[Iterable[ChunkIndex], int]:
    if include_missing:
        grid: Iterable[ChunkIndex] = itertools.product(*(range(g) for g in array.nchunks_per_dim))
        total = array.nchunks
    else:
        grid = sorted(array.stored_chunks())
        total = len(grid)  # type: ignore[arg-type]
    if filt is None:
        return grid, total
    chosen = [i for i in grid if _call(filt, "filter", i)]
    return chosen, len(chosen)


def _stream(array: Array, task: Callable[[ChunkIndex], Any], indices: Iterable[ChunkIndex], concurrency: int,
            ordered: bool, timeout: float | None) -> Iterator[tuple[ChunkIndex, Any]]:  # fmt: skip
    """Run ``task`` per chunk index with bounded read-ahead; timeouts name the chunk."""
    return imap_bounded(
        task, indices, concurrency=concurrency, ordered=ordered, timeout=timeout,
        on_timeout=lambda i: _timeout_error(array, i, timeout),
    )  # fmt: skip


def _timeout_error(array: Array, idx: ChunkIndex, timeout: float | None) -> TimeoutError:
    return TimeoutError(f"array {array.name!r}: chunk {idx} (key {array._key(idx)!r}) did not finish within {timeout:g} s")


# ----------------------------------------------------------------------------- reading


def chunk_stream(
    array: Array,
    *,
    parallel: int = 1,
    ordered: bool = True,
    filter: Callable[[ChunkIndex], bool] | None = None,
    progress_callback: Callable[[int, int], Any] | None = None,
    include_missing: bool = False,
    on_error: str | Callable[[ChunkIndex, BaseException], Any] = "raise",
    timeout: float | None = None,
    with_info: bool = False,
) -> Iterator[tuple[ChunkIndex, np.ndarray]] | Iterator[ChunkRecord]:
    check_concurrency(parallel, "parallel")
    _check_callable(filter, "filter")
    _check_callable(progress_callback, "progress_callback")
    _check_on_error(on_error)
    _check_timeout(timeout)
    indices, total = _indices(array, include_missing, filter)
    return _chunk_stream(array, indices, total, parallel, ordered, progress_callback, on_error, timeout, with_info)


def _chunk_stream(
    array: Array,
    indices: Iterable[ChunkIndex],
    total: int,
    parallel: int,
    ordered: bool,
    progress_callback: Callable[[int, int], Any] | None,
    on_error: Any,
    timeout: float | None,
    with_info: bool,
) -> Iterator[Any]:
    _event("stream_start", array, total=total, kind="chunk_stream")
    done = 0
    for idx, fut in _stream(array, array._inner_chunk, indices, parallel, ordered, timeout):
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
                start, stop = bounds(array, idx)
                yield ChunkRecord(idx, start, stop, nbytes, data)
            else:
                yield idx, data
        if progress_callback is not None:
            _call(progress_callback, "progress_callback", done, total)
    _event("stream_stop", array, total=total, done=done, kind="chunk_stream")


def _event(name: str, array: Array, **info: Any) -> None:
    from .. import telemetry

    if telemetry.enabled():
        telemetry.emit(telemetry.Event(name, array.name, info=info))


def parallel_chunk_map(
    array: Array,
    fn: Callable[[tuple[ChunkIndex, np.ndarray]], Any],
    *,
    max_concurrency: int | None = None,
    ordered: bool = True,
    timeout: float | None = None,
    return_exceptions: bool = False,
    filter: Callable[[ChunkIndex], bool] | None = None,
    progress_callback: Callable[[int, int], Any] | None = None,
    progress: bool = False,
    include_missing: bool = False,
) -> Iterator[Any]:
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    conc = resolve_concurrency(max_concurrency, io_bound=array.store.io_bound)
    _check_callable(filter, "filter")
    _check_callable(progress_callback, "progress_callback")
    _check_timeout(timeout)
    indices, total = _indices(array, include_missing, filter)
    bar = _progress_bar(total, array) if progress else None
    return _map(array, fn, indices, total, conc, ordered, timeout, return_exceptions, progress_callback, bar)


def _map(
    array: Array,
    fn: Callable[[tuple[ChunkIndex, np.ndarray]], Any],
    indices: Iterable[ChunkIndex],
    total: int,
    conc: int,
    ordered: bool,
    timeout: float | None,
    return_exceptions: bool,
    progress_callback: Callable[[int, int], Any] | None,
    bar: Any,
) -> Iterator[Any]:
    def task(idx: ChunkIndex) -> Any:
        data, _ = array._inner_chunk(idx)
        try:
            return fn((idx, data))
        except Exception as exc:
            exc.add_note(f"while mapping chunk {idx} (key {array._key(idx)!r}) of array {array.name!r}")
            raise

    done = 0
    _event("stream_start", array, total=total, kind="parallel_chunk_map")
    try:
        for _idx, fut in _stream(array, task, indices, conc, ordered, timeout):
            exc = fut.exception()
            done += 1
            if bar is not None:
                bar.update(1)
            if progress_callback is not None:
                _call(progress_callback, "progress_callback", done, total)
            if exc is not None:
                if not return_exceptions:
                    raise exc
                yield exc
            else:
                yield fut.result()
    finally:
        if bar is not None:
            bar.close()
        _event("stream_stop", array, total=total, done=done, kind="parallel_chunk_map")


def _progress_bar(total: int, array: Array) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("progress=True needs tqdm: pip install tqdm (or pass progress_callback=)") from None
    return tqdm(total=total, desc=f"chunks of {array.name}", unit="chunk")


def stream_slices(
    array: Array,
    axis: int = 0,
    *,
    start: int | None = None,
    stop: int | None = None,
    step: int | None = None,
    max_concurrency: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Check the arguments now; the returned iterator reads lazily."""
    if not array.ndim:
        raise BoundsError(f"array {array.name!r}: a 0-d array has no axis to stream along")
    if not -array.ndim <= axis < array.ndim:
        raise BoundsError(f"array {array.name!r}: axis {axis} is out of range for {array.ndim} dimensions")
    axis %= array.ndim
    if step == 0:
        raise ValueError("step cannot be zero")
    n, c = array.shape[axis], array.chunks[axis]
    positions = list(range(*slice(start, stop, step).indices(n)))
    return _slices(array, axis, positions, c, n, max_concurrency)


def _slices(
    array: Array, axis: int, positions: list[int], c: int, n: int, max_concurrency: int | None
) -> Iterator[tuple[int, np.ndarray]]:
    slab_of = itertools.groupby(positions, key=lambda i: i // c)
    for row, group in slab_of:
        idx = list(group)
        lo, hi = row * c, min((row + 1) * c, n)
        sel = tuple(slice(lo, hi) if k == axis else slice(None) for k in range(array.ndim))
        slab = array.get_basic_selection(sel, max_concurrency=max_concurrency)
        for i in idx:
            yield i, np.take(slab, i - lo, axis=axis)


# ----------------------------------------------------------------------------- writing


def _validate_chunk(array: Array, idx: Any, data: Any) -> tuple[ChunkIndex, np.ndarray]:
    try:
        index = array._check_chunk_index(idx)
    except (TypeError, ValueError):
        raise BoundsError(f"array {array.name!r}: {idx!r} is not a chunk index") from None
    arr = np.asarray(data)
    start, stop = bounds(array, index)
    inner = tuple(b - a for a, b in zip(start, stop, strict=True))
    if arr.shape not in (inner, tuple(array.chunks)):
        raise ShapeMismatchError(
            f"array {array.name!r}: data for chunk {index} (key {array._key(index)!r}) has shape {arr.shape}, expected {inner}"
        )
    return index, arr


def write_chunks(array: Array, items: Iterable[tuple[Any, Any]], *, max_concurrency: int | None = None) -> list[ChunkIndex]:
    """Write whole chunks concurrently; each item is ``(chunk_index, data)``. Returns the indices written."""
    array._check_writable()
    checked = [_validate_chunk(array, i, d) for i, d in items]
    conc = resolve_concurrency(max_concurrency, io_bound=array.store.io_bound)
    run_tasks(lambda item: _write_whole(array, *item), checked, max_concurrency=conc)
    return [i for i, _ in checked]


def _write_whole(array: Array, index: ChunkIndex, data: np.ndarray) -> None:
    start, stop = bounds(array, index)
    array.set_basic_selection(
        tuple(slice(a, b) for a, b in zip(start, stop, strict=True)),
        data[tuple(slice(0, b - a) for a, b in zip(start, stop, strict=True))],
        max_concurrency=1,
    )


def write_stream(
    array: Array,
    items: Iterable[Any],
    *,
    parallel: int | None = None,
    validate: bool = True,
    on_error: str | Callable[[ChunkIndex, BaseException], Any] = "raise",
    checkpoint: Callable[[WriteSummary], Any] | None = None,
    batch_size: int | None = None,
) -> WriteSummary:
    array._check_writable()
    _check_on_error(on_error)
    _check_callable(checkpoint, "checkpoint")
    conc = resolve_concurrency(parallel, io_bound=array.store.io_bound)
    batch = check_concurrency(batch_size, "batch_size") or max(conc, 1) * 4
    summary = WriteSummary()
    _event("stream_start", array, kind="write_stream")
    it = iter(items)
    while True:
        chunk_items = list(itertools.islice(it, batch))
        if not chunk_items:
            break
        prepared: list[tuple[ChunkIndex, np.ndarray]] = []
        for item in chunk_items:
            idx, data = (item["index"], item["data"]) if isinstance(item, dict) else item
            try:
                if validate:
                    prepared.append(_validate_chunk(array, idx, data))
                else:
                    prepared.append((array._check_chunk_index(idx), np.asarray(data)))
            except Exception as exc:
                _record_failure(summary, tuple(np.atleast_1d(idx).tolist()) if idx is not None else (), exc, on_error)
        results = _write_batch(array, prepared, conc)
        for k, (index, _) in enumerate(prepared):
            exc = results[k]
            if exc is None:
                summary.written.append(index)
                summary.last_index = index
            else:
                _record_failure(summary, index, exc, on_error)
        if checkpoint is not None:
            _call(checkpoint, "checkpoint", summary)
    _event("stream_stop", array, kind="write_stream", written=len(summary.written), failed=len(summary.failed))
    return summary


def _write_batch(array: Array, prepared: list[tuple[ChunkIndex, np.ndarray]], conc: int) -> list[BaseException | None]:
    """Write whole chunks concurrently; one slot per item holds its error (or ``None``)."""
    results: list[BaseException | None] = [None] * len(prepared)

    def one(k: int) -> None:
        try:
            _write_whole(array, *prepared[k])
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
