"""The store interface: a key/value map of bytes with byte-range reads and listing.

Keys are ``/``-separated relative paths (``"a/b/zarr.json"``, ``"a/c/0/1"``). A
missing key reads as ``None``; deleting a missing key is not an error. Every
store has ``*_async`` twins (by default running the sync verb on a thread) so an
async-capable cloud store can override them without changing callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ChunkDecodeError, ReadOnlyError, StoreError

__all__ = ["ByteRange", "Snapshot", "SnapshotChanged", "Store", "check_key"]


@dataclass(frozen=True)
class ByteRange:
    """A byte range of a value: ``[start, stop)``, ``[start, end)`` or the last ``suffix`` bytes.

    >>> ByteRange(2, 5).resolve(10)
    (2, 5)
    >>> ByteRange.from_suffix(3).resolve(10)
    (7, 10)
    """

    start: int = 0
    stop: int | None = None
    suffix: int | None = None

    def __post_init__(self) -> None:
        if self.suffix is not None:
            if self.suffix < 0:
                raise ValueError(f"byte range: suffix must be >= 0, got {self.suffix}")
        elif self.start < 0 or (self.stop is not None and self.stop < self.start):
            raise ValueError(f"byte range: invalid range [{self.start}, {self.stop})")

    @classmethod
    def from_suffix(cls, n: int) -> ByteRange:
        return cls(0, None, n)

    @classmethod
    def coerce(cls, r: Any) -> ByteRange | None:
        if r is None or isinstance(r, ByteRange):
            return r
        if isinstance(r, tuple) and len(r) == 2:
            return cls(r[0], r[1])
        if isinstance(r, slice) and r.step in (None, 1):
            return cls(r.start or 0, r.stop)
        raise ValueError(f"byte range: expected ByteRange, (start, stop) or slice, got {r!r}")

    def resolve(self, size: int) -> tuple[int, int]:
        """Clamp to a value of ``size`` bytes and return ``(start, stop)``."""
        if self.suffix is not None:
            return max(0, size - self.suffix), size
        stop = size if self.stop is None else min(self.stop, size)
        start = min(self.start, size)
        return start, max(start, stop)


_BAD_KEY = re.compile(r"(?:^|/)\.{0,2}(?:/|$)|^/|\\|\x00")


def join_parts(value: Any) -> Any:
    """A list of buffers as one ``bytes``; any other value unchanged."""
    if isinstance(value, list):
        return b"".join(value)
    return value


def check_key(key: str) -> str:
    """Refuse keys that are empty, absolute or would escape the store root."""
    if isinstance(key, str) and key and _BAD_KEY.search(key) is None:
        return key  # the common case: one regex search, no splitting
    if not isinstance(key, str) or not key:
        raise StoreError(f"invalid store key {key!r}: must be a non-empty string")
    if key.startswith("/") or "\\" in key or "\0" in key:
        raise StoreError(f"invalid store key {key!r}: must be a relative '/'-separated path")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise StoreError(f"invalid store key {key!r}: empty, '.' or '..' segment")
    return key


def _dir_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if prefix:
        check_key(prefix)  # no '..', no absolute paths: listing never leaves the store
    return prefix + "/" if prefix else ""


def check_prefix(prefix: str) -> str:
    """A listing prefix: ``""`` or a key-like path (a trailing ``/`` allowed), never ``..``."""
    if not isinstance(prefix, str):
        raise StoreError(f"invalid prefix {prefix!r}: must be a string")
    stripped = prefix.rstrip("/")
    if stripped:
        check_key(stripped)
    return prefix


class SnapshotChanged(StoreError):
    """The object a snapshot was reading changed in between (its ETag no longer matches)."""


def too_large(store: Any, key: str, size: int, limit: int) -> ChunkDecodeError:
    return ChunkDecodeError(f"{store!r}: {key!r} holds {size} bytes, more than the {limit} it can hold", key=key)


class Snapshot:
    """One version of one value, for several range reads that must agree with each other (a
    shard's index, then its inner chunks). Stores that can pin a version override
    :meth:`Store.snapshot`; this one holds the whole value."""

    size: int | None  # the value's length, when the store knows it without another request

    def __init__(self, data: bytes | memoryview) -> None:
        self._data = memoryview(data).cast("B") if not isinstance(data, memoryview) else data.cast("B")
        self.size = len(self._data)

    def read(self, byte_range: ByteRange | None = None) -> bytes:
        if byte_range is None:
            return bytes(self._data)
        a, b = byte_range.resolve(self.size)
        return bytes(self._data[a:b])

    def read_many(self, ranges: Sequence[ByteRange]) -> list[bytes]:
        return [self.read(r) for r in ranges]

    def close(self) -> None:
        """Release what the snapshot holds."""


class Store(ABC):
    """Abstract key/value store. Subclasses implement the sync verbs."""

    supports_deletes: bool = True
    supports_partial_reads: bool = True
    #: True for stores where each request waits on a network (or simulated) round trip:
    #: the engine then keeps ``config.io_concurrency`` requests in flight instead of one per core.
    io_bound: bool = False
    #: Writes in flight by default when the store gains from overlapping them beyond the core
    #: count (a local file system: creating and renaming files is kernel work that overlaps
    #: across directories). Encoding stays limited to the cores by the engine's CPU gate.
    write_concurrency: int | None = None
    #: True for stores only one object may write (a zip archive): copies (pickled, forked) are read-only.
    single_writer: bool = False

    def __init__(self, *, read_only: bool = False) -> None:
        self._read_only = read_only

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def lock_namespace(self) -> str:
        """Identifies the data this store reaches, so writers through different store objects
        on the same data share chunk locks (a directory for local stores)."""
        return f"{type(self).__name__}:{id(self)}"

    def location(self, path: str = "") -> str:
        """Where the node at ``path`` lives, comparable across store objects: two nodes overlap
        when one location is the other or lies below it (a copy refuses that)."""
        return "/".join(p for p in (self.lock_namespace.rstrip("/"), path.strip("/")) if p)

    @property
    def lock_root(self) -> str | None:
        """A local directory where cross-process chunk locks can live (``process_locks=True``);
        ``None`` for stores that have none."""
        return None

    def _check_writable(self, key: str) -> None:
        if self._read_only:
            raise ReadOnlyError(f"{self!r} is read-only: cannot write {key!r}")

    # -- required verbs -------------------------------------------------------------
    @abstractmethod
    def get(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        """The value at ``key`` (or the requested byte range of it), ``None`` if absent."""

    @abstractmethod
    def set(self, key: str, value: bytes | bytearray | memoryview) -> None:
        """Store ``value`` at ``key`` atomically (readers see the old or the new value).

        ``value`` may also be a list of buffers, stored as their concatenation (a shard's
        inner chunks and index): stores that can write them without joining do so."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    @abstractmethod
    def list(self) -> Iterator[str]:
        """Every key in the store."""

    # -- derived verbs (override for speed) ---------------------------------------------
    def get_limited(self, key: str, limit: int) -> bytes | None:
        """:meth:`get`, refusing (:class:`~exzarr.errors.ChunkDecodeError`) a value larger than
        ``limit`` bytes; stores that can tell the size first refuse before reading it."""
        value = self.get(key)
        if value is not None and len(value) > limit:
            raise too_large(self, key, len(value), limit)
        return value

    @contextlib.contextmanager
    def snapshot(self, key: str) -> Iterator[Snapshot | None]:
        """``with store.snapshot(key) as snap:`` range reads of one version of ``key``: ``None`` if
        it is missing; otherwise ``snap.read(range)`` and ``snap.read_many(ranges)``. Local, memory
        and zip stores pin the version they opened; this default makes plain range requests, so it
        promises no consistency (override it where a store can pin a version). Its first read
        returns ``None`` when the key is missing."""
        yield _RangeSnapshot(self, key)

    def exists(self, key: str) -> bool:
        return self.get(key, ByteRange(0, 0)) is not None

    def get_many(self, keys: Sequence[str], byte_ranges: Sequence[ByteRange | None] | None = None) -> list[bytes | None]:
        """Several values in one call (batched stores issue them concurrently)."""
        ranges = byte_ranges if byte_ranges is not None else [None] * len(keys)
        return [self.get(k, r) for k, r in zip(keys, ranges, strict=True)]

    def set_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        for k, v in items:
            self.set(k, v)

    def set_if_not_exists(self, key: str, value: Any) -> bool:
        """Store ``value`` at ``key`` only if nothing is there; ``False`` if something was. Stores
        with a conditional put (object stores, local files) make this atomic, so two creators of
        one node cannot both succeed; this default checks, then writes."""
        self._check_writable(key)
        if self.exists(key):
            return False
        self.set(key, value)
        return True

    def put_many(self, items: Sequence[tuple[str, Any]], *, concurrency: int | None = None) -> None:
        """Store each ``(key, value)``, deleting the keys whose value is ``None`` (batched stores
        run them concurrently)."""
        for k, v in items:
            if v is None:
                self.delete(k)
            else:
                self.set(k, v)

    def fetch(
        self, keys: Sequence[str], *, limit: int | None = None, window: int = 0, concurrency: int | None = None
    ) -> Iterator[tuple[int, Any]]:
        """``(i, value or None)`` for each key (batched stores yield them as requests complete, with
        exceptions as values); this default reads them one by one."""
        for i, k in enumerate(keys):
            yield i, (self.get(k) if limit is None else self.get_limited(k, limit))

    def getsize(self, key: str) -> int:
        v = self.get(key)
        if v is None:
            raise FileNotFoundError(key)
        return len(v)

    def getsize_prefix(self, prefix: str) -> int:
        """Total size in bytes of the keys starting with ``prefix`` (``""``: the whole store);
        a key deleted while listing counts nothing."""
        total = 0
        for k in self.list_prefix(prefix):
            try:
                total += self.getsize(k)
            except FileNotFoundError:
                pass
        return total

    def list_prefix(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` (a plain string prefix)."""
        check_prefix(prefix)
        return (k for k in self.list() if k.startswith(prefix))

    def list_dir(self, prefix: str) -> Iterator[str]:
        """Names of the immediate children (keys and "directories") under ``prefix``."""
        p = _dir_prefix(prefix)
        seen: set[str] = set()
        for k in self.list_prefix(p):
            name = k[len(p) :].split("/", 1)[0]
            if name and name not in seen:
                seen.add(name)
                yield name

    def delete_prefix(self, prefix: str) -> None:
        """Delete every key under the directory ``prefix`` (never its siblings)."""
        p = _dir_prefix(prefix)
        self._check_writable(p or "/")
        for k in list(self.list_prefix(p)):
            self.delete(k)

    def is_empty(self, prefix: str = "") -> bool:
        return next(iter(self.list_prefix(_dir_prefix(prefix))), None) is None

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release resources (a no-op for most stores)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- async twins ------------------------------------------------------------------
    async def get_async(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        """Async version of :meth:`get`."""
        return await asyncio.to_thread(self.get, key, byte_range)

    async def set_async(self, key: str, value: bytes) -> None:
        """Async version of :meth:`set`."""
        await asyncio.to_thread(self.set, key, value)

    async def delete_async(self, key: str) -> None:
        """Async version of :meth:`delete`."""
        await asyncio.to_thread(self.delete, key)

    async def exists_async(self, key: str) -> bool:
        """Async version of :meth:`exists`."""
        return await asyncio.to_thread(self.exists, key)


class _RangeSnapshot(Snapshot):
    """Range requests against a store that cannot pin a version (no consistency promised)."""

    size = None  # unknown without another request

    def __init__(self, store: Store, key: str) -> None:
        self._store, self._key = store, key
        self._seen = False

    def read(self, byte_range: ByteRange | None = None) -> bytes | None:  # type: ignore[override]
        value = self._store.get(self._key, byte_range)
        if value is None and self._seen:
            raise StoreError(f"{self._store!r}: {self._key!r} disappeared while it was being read")
        self._seen = True
        return value

    def read_many(self, ranges: Sequence[ByteRange]) -> list[bytes]:
        values = self._store.get_many([self._key] * len(ranges), list(ranges))
        if any(v is None for v in values):
            raise StoreError(f"{self._store!r}: {self._key!r} disappeared while it was being read")
        return values  # type: ignore[return-value]
