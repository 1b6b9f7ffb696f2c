"""Telemetry: events for chunk I/O and codec work, delivered to handlers you attach.

Events: ``chunk_read`` (store fetch), ``decode``, ``encode``, ``chunk_write`` (store put),
``stream_start`` / ``stream_stop``. Each is an :class:`Event` with the array path, chunk
index and key, bytes and duration. They also go to the ``"exzarr"`` logger at DEBUG level.
When no handler is attached and DEBUG logging is off, exzarr does no telemetry work at all.

>>> import exzarr
>>> seen = []
>>> exzarr.telemetry.attach(seen.append)
>>> a = exzarr.create(shape=(4,), chunks=(2,))
>>> a[...] = 1.0
>>> sorted({e.name for e in seen})
['chunk_write', 'encode']
>>> exzarr.telemetry.detach(seen.append)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._fork import at_fork

__all__ = ["Event", "Stats", "attach", "detach", "enabled", "stats", "stop_stats"]

logger = logging.getLogger("exzarr")

_handlers: list[Callable[[Event], Any]] = []
_lock = threading.Lock()


@at_fork
def _reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()


@dataclass(frozen=True)
class Event:
    """One measured step: ``name``, the array path, chunk index and key, bytes, seconds."""

    name: str
    array: str
    chunk: tuple[int, ...] | None = None
    key: str | None = None
    nbytes: int = 0
    duration: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def attach(handler: Callable[[Event], Any]) -> None:
    """Call ``handler(event)`` for every event (from any thread) until :func:`detach`."""
    if not callable(handler):
        raise TypeError(f"telemetry handler must be callable, got {type(handler).__name__}")
    with _lock:
        _handlers.append(handler)


def detach(handler: Callable[[Event], Any]) -> None:
    with _lock:
        try:
            _handlers.remove(handler)
        except ValueError:
            raise ValueError("that telemetry handler is not attached") from None


def enabled() -> bool:
    """Whether anything listens (a handler, or the "exzarr" logger at DEBUG)."""
    return bool(_handlers) or logger.isEnabledFor(logging.DEBUG)


def emit(event: Event) -> None:
    for h in list(_handlers):
        try:
            h(event)
        except Exception:  # a broken handler must not break I/O
            logger.exception("telemetry handler %r raised", h)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s %s chunk=%s key=%s bytes=%d %.3f ms",
            event.name,
            event.array,
            event.chunk,
            event.key,
            event.nbytes,
            event.duration * 1e3,
        )


class Timer:
    """``with Timer(...) as t: ...`` emits one event with the measured duration (used only when enabled)."""

    __slots__ = ("array", "chunk", "key", "name", "nbytes", "t0")

    def __init__(self, name: str, array: str, chunk: tuple[int, ...] | None, key: str | None) -> None:
        self.name, self.array, self.chunk, self.key, self.nbytes = name, array, chunk, key, 0

    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        emit(Event(self.name, self.array, self.chunk, self.key, self.nbytes, time.perf_counter() - self.t0))


class Stats:
    """A handler that counts: chunks read/written, bytes, time per event kind.

    >>> s = Stats()
    >>> s(Event("chunk_read", "/a", (0,), "c/0", 100, 0.001))
    >>> s.summary()["chunk_read"]["count"]
    1
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, float]] = {}

    def __call__(self, event: Event) -> None:
        with self._lock:
            d = self._data.setdefault(event.name, {"count": 0, "bytes": 0, "seconds": 0.0})
            d["count"] += 1
            d["bytes"] += event.nbytes
            d["seconds"] += event.duration

    def summary(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {k: dict(v) for k, v in self._data.items()}

    def reset(self) -> None:
        with self._lock:
            self._data.clear()


_default_stats: Stats | None = None


def stats(reset: bool = False) -> dict[str, dict[str, float]]:
    """Process-wide counters since the first call (the first call starts counting).

    >>> import exzarr
    >>> _ = exzarr.stats()  # start counting
    >>> a = exzarr.create(shape=(4,), chunks=(2,)); a[...] = 2.0; _ = a[...]
    >>> exzarr.stats()["chunk_write"]["count"] >= 2
    True
    >>> exzarr.telemetry.stop_stats()
    """
    global _default_stats
    with _lock:
        if _default_stats is None:
            _default_stats = Stats()
            _handlers.append(_default_stats)
    out = _default_stats.summary()
    if reset:
        _default_stats.reset()
    return out


def stop_stats() -> None:
    """Stop the process-wide counters started by :func:`stats` (and drop them)."""
    global _default_stats
    with _lock:
        if _default_stats is not None:
            if _default_stats in _handlers:
                _handlers.remove(_default_stats)
            _default_stats = None


def timed_get(get: Callable[..., Any], array: str, coords_of: Callable[[str], Any] | None = None) -> Callable[..., Any]:
    """``store.get`` that emits ``chunk_read`` events."""

    def get_(key: str, *args: Any) -> Any:
        t0 = time.perf_counter()
        data = get(key, *args)
        emit(Event("chunk_read", array, None, key, len(data) if data is not None else 0, time.perf_counter() - t0))
        return data

    return get_


def timed(name: str, fn: Callable[..., Any], array: str) -> Callable[..., Any]:
    """``fn(key, data)`` (decode) or ``fn(chunk)`` (encode) emitting ``name`` events."""

    def fn_(*args: Any) -> Any:
        t0 = time.perf_counter()
        out = fn(*args)
        key = args[0] if args and isinstance(args[0], str) else None
        size = out.nbytes if hasattr(out, "nbytes") else (len(out) if isinstance(out, (bytes, bytearray, memoryview)) else 0)
        emit(Event(name, array, None, key, size, time.perf_counter() - t0))
        return out

    return fn_
