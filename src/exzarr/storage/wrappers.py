"""Store wrappers: :class:`LatencyStore` (simulated round trips)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from .base import ByteRange, Store


class LatencyStore(Store):
    """Wrap a store and add a fixed delay to every request, like a cloud object store.

    The engine sees ``io_bound = True`` and keeps ``exzarr.config.io_concurrency``
    requests in flight, so the effect of parallel I/O shows on a laptop:

    >>> import exzarr
    >>> slow = LatencyStore(exzarr.MemoryStore(), latency=0.01)
    >>> a = exzarr.create(slow, shape=(40,), chunks=(4,))
    >>> a[...] = 1.0
    >>> float(a[...].sum())
    40.0
    """

    io_bound = True

    def __init__(self, store: Store, latency: float = 0.1) -> None:
        if not isinstance(latency, (int, float)) or latency < 0:
            raise ValueError(f"LatencyStore: latency must be a non-negative number of seconds, got {latency!r}")
        super().__init__(read_only=store.read_only)
        self.inner = store
        self.latency = float(latency)
        self.supports_deletes = store.supports_deletes

    def __repr__(self) -> str:
        return f"LatencyStore({self.inner!r}, latency={self.latency})"

    def __getstate__(self) -> dict[str, Any]:
        return {"inner": self.inner, "latency": self.latency}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["inner"], state["latency"])  # type: ignore[misc]

    @property
    def lock_namespace(self) -> str:
        return self.inner.lock_namespace

    @property
    def lock_root(self) -> str | None:
        return self.inner.lock_root

    def location(self, path: str = "") -> str:
        return self.inner.location(path)

    def _wait(self) -> None:
        if self.latency:
            time.sleep(self.latency)

    def get(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        self._wait()
        return self.inner.get(key, byte_range)

    def get_limited(self, key: str, limit: int) -> bytes | None:
        self._wait()
        return self.inner.get_limited(key, limit)

    def exists(self, key: str) -> bool:
        self._wait()
        return self.inner.exists(key)

    def getsize(self, key: str) -> int:
        self._wait()
        return self.inner.getsize(key)

    def set(self, key: str, value: bytes | bytearray | memoryview) -> None:
        self._check_writable(key)
        self._wait()
        self.inner.set(key, value)

    def delete(self, key: str) -> None:
        self._check_writable(key)
        self._wait()
        self.inner.delete(key)

    def list(self) -> Iterator[str]:
        self._wait()
        return self.inner.list()

    def list_prefix(self, prefix: str) -> Iterator[str]:
        self._wait()
        return self.inner.list_prefix(prefix)

    def list_dir(self, prefix: str) -> Iterator[str]:
        self._wait()
        return self.inner.list_dir(prefix)

    def close(self) -> None:
        self.inner.close()
