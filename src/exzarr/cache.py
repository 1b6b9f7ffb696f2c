"""An LRU cache of decoded chunks with a byte budget (opt-in: ``exzarr.open(..., cache_bytes=...)``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._fork import track


@dataclass(frozen=True)
class CacheStats:
    """Counters of a :class:`ChunkCache`."""

    hits: int
    misses: int
    evictions: int
    entries: int
    nbytes: int
    capacity: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class ChunkCache:
    """Decoded chunks by key, least recently used evicted first once ``capacity`` bytes are held.

    Entries are read-only arrays shared with readers (never modified in place). Writes
    through the owning array drop the entries they change. Thread-safe.

    A reader takes a :meth:`token` before it fetches a chunk and passes it to :meth:`put`:
    if any write invalidated entries in between, the put is dropped, so a chunk decoded from
    bytes a concurrent write replaced never lands in the cache after that write.

    >>> c = ChunkCache(1024)
    >>> c.put("c/0", np.zeros(16))
    >>> c.get("c/0").nbytes, c.stats().hits
    (128, 1)
    """

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"cache_bytes must be a non-negative integer, got {capacity!r}")
        self.capacity = capacity
        self._data: OrderedDict[Any, np.ndarray] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self._epoch = 0
        track(self)
        self.hits = self.misses = self.evictions = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"capacity": self.capacity}  # a copy starts empty (e.g. on a Dask worker)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["capacity"])  # type: ignore[misc]

    def get(self, key: Any) -> np.ndarray | None:
        with self._lock:
            v = self._data.get(key)
            if v is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return v

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def token(self) -> int:
        """The write epoch now: pass it to :meth:`put` for data fetched after this call."""
        return self._epoch

    def put(self, key: Any, chunk: np.ndarray, token: int | None = None) -> None:
        size = chunk.nbytes
        if size > self.capacity:
            return
        chunk = chunk.view()
        chunk.flags.writeable = False
        with self._lock:
            if token is not None and token != self._epoch:
                return  # a write happened since the data was fetched: it may be stale
            old = self._data.pop(key, None)
            if old is not None:
                self._nbytes -= old.nbytes
            self._data[key] = chunk
            self._nbytes += size
            while self._nbytes > self.capacity:
                _, ev = self._data.popitem(last=False)
                self._nbytes -= ev.nbytes
                self.evictions += 1

    def invalidate(self, key: Any) -> None:
        with self._lock:
            self._epoch += 1
            old = self._data.pop(key, None)
            if old is not None:
                self._nbytes -= old.nbytes

    def invalidate_shard(self, shard_key: str) -> None:
        """Drop the inner chunks cached for one shard (keys ``(shard_key, chunk_index)``)."""
        with self._lock:
            self._epoch += 1
            for k in [k for k in self._data if isinstance(k, tuple) and k[0] == shard_key]:
                self._nbytes -= self._data.pop(k).nbytes

    def clear(self) -> None:
        with self._lock:
            self._epoch += 1
            self._data.clear()
            self._nbytes = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.hits, self.misses, self.evictions, len(self._data), self._nbytes, self.capacity)


class CachePool:
    """The caches of the arrays one group opens, by path: every handle ``g["x"]`` returns shares
    one cache (so a write through one handle is seen through the others, and reads hit what an
    earlier handle decoded). Copies start empty."""

    def __init__(self) -> None:
        self._caches: dict[str, ChunkCache] = {}
        self._lock = threading.Lock()
        track(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def for_path(self, path: str, capacity: int) -> ChunkCache:
        with self._lock:
            cache = self._caches.get(path)
            if cache is None or cache.capacity != capacity:
                cache = self._caches[path] = ChunkCache(capacity)
            return cache
