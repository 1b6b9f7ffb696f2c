"""An in-memory, thread-safe store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from .._fork import track
from .base import ByteRange, Snapshot, Store, check_key, join_parts


class MemoryStore(Store):
    """A dict of bytes guarded by a lock; picklable (the copy carries the data).

    >>> s = MemoryStore()
    >>> s.set("a/b", b"hello")
    >>> s.get("a/b", (1, 3))
    b'el'
    """

    def __init__(self, data: dict[str, bytes] | None = None, *, read_only: bool = False) -> None:
        super().__init__(read_only=read_only)
        self._data: dict[str, bytes] = dict(data or {})
        self._lock = threading.Lock()
        track(self)

    @classmethod
    def from_dict(cls, data: dict[str, bytes], *, read_only: bool = False) -> MemoryStore:
        """A store over ``data`` itself (not a copy): writes appear in the dict, as zarr-python
        does with a ``dict`` given as the store.

        >>> import exzarr
        >>> d = {}
        >>> _ = exzarr.create_array(d, shape=(2,), dtype="i1")
        >>> sorted(d)
        ['zarr.json']
        """
        store = cls(read_only=read_only)
        store._data = data
        return store

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStore(<{len(self._data)} keys>)"

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            return {"data": dict(self._data), "read_only": self._read_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["data"], read_only=state["read_only"])  # type: ignore[misc]

    @property
    def lock_namespace(self) -> str:
        return f"memory:{id(self._data)}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MemoryStore) and other._data is self._data

    __hash__ = object.__hash__

    def get(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        check_key(key)
        r = ByteRange.coerce(byte_range)
        with self._lock:
            v = self._data.get(key)
        if v is None or r is None:
            return v
        a, b = r.resolve(len(v))
        return v[a:b]

    def snapshot(self, key: str) -> Any:
        """Range reads of the value ``key`` holds now (values are immutable bytes: a later write
        replaces the object, not its contents).

        >>> s = MemoryStore({"k": b"abcdef"})
        >>> with s.snapshot("k") as snap:
        ...     s.set("k", b"new")
        ...     snap.read(ByteRange(2, 4))
        b'cd'
        """
        import contextlib

        check_key(key)
        with self._lock:
            v = self._data.get(key)
        return contextlib.nullcontext(None if v is None else Snapshot(v))

    def exists(self, key: str) -> bool:
        check_key(key)
        with self._lock:
            return key in self._data

    def getsize(self, key: str) -> int:
        v = self.get(key)
        if v is None:
            raise FileNotFoundError(key)
        return len(v)

    def set(self, key: str, value: bytes | bytearray | memoryview) -> None:
        check_key(key)
        self._check_writable(key)
        b = bytes(join_parts(value))
        with self._lock:
            self._data[key] = b

    def set_if_not_exists(self, key: str, value: Any) -> bool:
        check_key(key)
        self._check_writable(key)
        b = bytes(join_parts(value))
        with self._lock:
            if key in self._data:
                return False
            self._data[key] = b
            return True

    def delete(self, key: str) -> None:
        check_key(key)
        self._check_writable(key)
        with self._lock:
            self._data.pop(key, None)

    def list(self) -> Iterator[str]:
        with self._lock:
            keys = list(self._data)
        return iter(keys)
