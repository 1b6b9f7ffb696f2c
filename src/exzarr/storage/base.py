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
    """Abstract key/value store. Subclasses implement the sync verbs.

    >>> import exzarr
    >>> store = exzarr.MemoryStore()  # one of the concrete stores
    >>> store.set("a/zarr.json", b"{}")
    >>> list(store.list()), store.get("a/zarr.json")
    (['a/zarr.json'], b'{}')
    """

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
        """Whether writes are refused (:class:`~exzarr.errors.ReadOnlyError`).

        >>> import exzarr
        >>> exzarr.MemoryStore().read_only, exzarr.MemoryStore(read_only=True).read_only
        (False, True)
        """
        return self._read_only

    @property
    def lock_namespace(self) -> str:
        """Identifies the data this store reaches, so writers through different store objects
        on the same data share chunk locks (a directory for local stores).

        >>> import exzarr
        >>> s = exzarr.MemoryStore()
        >>> s.lock_namespace == s.lock_namespace, s.lock_namespace.startswith("memory:")
        (True, True)
        """
        return f"{type(self).__name__}:{id(self)}"

    def location(self, path: str = "") -> str:
        """Where the node at ``path`` lives, comparable across store objects: two nodes overlap
        when one location is the other or lies below it (a copy refuses that).

        >>> import exzarr
        >>> s = exzarr.MemoryStore()
        >>> s.location("a/b") == s.location() + "/a/b"
        True
        """
        return "/".join(p for p in (self.lock_namespace.rstrip("/"), path.strip("/")) if p)

    @property
    def lock_root(self) -> str | None:
        """A local directory where cross-process chunk locks can live (``process_locks=True``);
        ``None`` for stores that have none.

        >>> import exzarr
        >>> exzarr.MemoryStore().lock_root is None
        True
        """
        return None

    def _check_writable(self, key: str) -> None:
        if self._read_only:
            raise ReadOnlyError(f"{self!r} is read-only: cannot write {key!r}")

    # -- required verbs -------------------------------------------------------------
    @abstractmethod
    def get(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        """The value at ``key`` (or the requested byte range of it), ``None`` if absent.

        >>> import exzarr
        >>> s = exzarr.MemoryStore()
        >>> s.set("k", b"hello")
        >>> s.get("k"), s.get("k", (1, 3)), s.get("missing")
        (b'hello', b'el', None)
        """

    @abstractmethod
    def set(self, key: str, value: bytes | bytearray | memoryview) -> None:
        """Store ``value`` at ``key`` atomically (readers see the old or the new value).

        ``value`` may also be a list of buffers, stored as their concatenation (a shard's
        inner chunks and index): stores that can write them without joining do so.

        >>> import exzarr
        >>> s = exzarr.MemoryStore()
        >>> s.set("k", b"ab")
        >>> s.set("parts", [b"ab", b"cd"])
        >>> s.get("k"), s.get("parts")
        (b'ab', b'abcd')
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error.

        >>> import exzarr
        >>> s = exzarr.MemoryStore({"k": b"v"})
        >>> s.delete("k")
        >>> s.delete("k")  # already gone: no error
        >>> s.exists("k")
        False
        """

    @abstractmethod
    def list(self) -> Iterator[str]:
        """Every key in the store.

        >>> import exzarr
        >>> sorted(exzarr.MemoryStore({"a": b"1", "b/c": b"2"}).list())
        ['a', 'b/c']
        """

    # -- derived verbs (override for speed) ---------------------------------------------
    def get_limited(self, key: str, limit: int) -> bytes | None:
        """:meth:`get`, refusing (:class:`~exzarr.errors.ChunkDecodeError`) a value larger than
        ``limit`` bytes; stores that can tell the size first refuse before reading it.

        >>> import exzarr
        >>> s = exzarr.MemoryStore({"k": b"12345"})
        >>> s.get_limited("k", 10)
        b'12345'
        >>> s.get_limited("k", 2)
        Traceback (most recent call last):
        ...
        exzarr.errors.ChunkDecodeError: ...
        """
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
        returns ``None`` when the key is missing.

        >>> import exzarr
        >>> s = exzarr.MemoryStore({"k": b"abcdef"})
        >>> with s.snapshot("k") as snap:
        ...     snap.read(ByteRange(0, 2)), snap.read_many([ByteRange(2, 4), ByteRange.from_suffix(1)])
        (b'ab', [b'cd', b'f'])
        """
        yield _RangeSnapshot(self, key)

    def exists(self, key: str) -> bool:
        """Whether a value is stored at ``key``.

        >>> import exzarr
        >>> s = exzarr.MemoryStore({"k": b""})
        >>> s.exists("k"), s.exists("other")
        (True, False)
        """
        return self.get(key, ByteRange(0, 0)) is not None

    def get_many(self, keys: Sequence[str], byte_ranges: Sequence[ByteRange | None] | None = None) -> list[bytes | None]:
        """Several values in one call (batched stores issue them concurrently).

        >>> import exzarr
        >>> s = exzarr.MemoryStore({"a": b"abc", "b": b"xyz"})
        >>> s.get_many(["a", "b", "c"], [None, ByteRange(1, 2), None])
        [b'abc', b'y', None]
        """
        ranges = byte_ranges if byte_ranges is not None else [None] * len(keys)
        return [self.get(k, r) for k, r in zip(keys, ranges, strict=True)]

    def set_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Store each ``(key, value)`` of ``items``.

        >>> import exzarr
        >>> s = exzarr.MemoryStore()
        >>> s.set_many([("a", b"1"), ("b", b"2")])
        >>> sorted(s.list())
        ['a', 'b']
        """
        for k, v in items:
            self.set(k, v)

    def set_if_not_exists(self, key: str, value: Any) -> bool:
        """Store ``value`` at ``key`` only if nothing is there; ``False`` if something was. Stores
        with a conditional put (object stores, local files) make this atomic, so two creators of
        one node cannot both succeed; this default checks, then writes.

        >>> import exzarr
        >>> s = exzarr.MemoryStore()
        >>> s.set_if_not_exists("k", b"first"), s.set_if_not_exists("k", b"second"), s.get("k")
        (True, False, b'first')
        """
        self._check_writable(key)
        if self.exists(key):
            return False
        self.set(key, value)
        return True

    def put_many(self, items: Sequence[tuple[str, Any]], *, concurrency: int | None = None) -> None:
        """Store each ``(key, value)``, deleting the keys whose value is ``None`` (batched stores
        run them concurrently).

        >>> import exzarr
        >>> s = exzarr.MemoryStore({"old": b"x"})
        >>> s.put_many([("new", b"y"), ("old", None)])
        >>> list(s.list())
        ['new']
        """
        for k, v in items:
            if v is None:
                self.delete(k)
            else:
                self.set(k, v)

    def fetch(
        self, keys: Sequence[str], *, limit: int | None = None, window: int = 0, concurrency: int | None = None
    ) -> Iterator[tuple[int, Any]]:
        """``(i, value or None)`` for each key (batched stores yield them as requests complete, with
        exceptions as values); this default reads them one by one.

        >>> import exzarr
        >>> list(exzarr.MemoryStore({"a": b"1"}).fetch(["a", "b"]))
        [(0, b'1'), (1, None)]
        """
        for i, k in enumerate(keys):
            yield i, (self.get(k) if limit is None else self.get_limited(k, limit))

    def getsize(self, key: str) -> int:
        """The size in bytes of the value at ``key`` (:class:`FileNotFoundError` if absent).

        >>> import exzarr
        >>> exzarr.MemoryStore({"k": b"abc"}).getsize("k")
        3
        """
        v = self.get(key)
        if v is None:
            raise FileNotFoundError(key)
        return len(v)

    def getsize_prefix(self, prefix: str) -> int:
        """Total size in bytes of the keys starting with ``prefix`` (``""``: the whole store);
        a key deleted while listing counts nothing.

        >>> import exzarr
        >>> s = exzarr.MemoryStore({"a/x": b"12", "a/y": b"345", "b": b"6"})
        >>> s.getsize_prefix("a/"), s.getsize_prefix("")
        (5, 6)
        """
        total = 0
        for k in self.list_prefix(prefix):
            try:
                total += self.getsize(k)
            except FileNotFoundError:
                pass
        return total

    def list_prefix(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` (a plain string prefix).

        >>> import exzarr
        >>> sorted(exzarr.MemoryStore({"a/x": b"", "ab": b"", "b": b""}).list_prefix("a"))
        ['a/x', 'ab']
        """
        check_prefix(prefix)
        return (k for k in self.list() if k.startswith(prefix))

    def list_dir(self, prefix: str) -> Iterator[str]:
        """Names of the immediate children (keys and "directories") under ``prefix``.

        >>> import exzarr
        >>> sorted(exzarr.MemoryStore({"g/zarr.json": b"", "g/x/c/0": b""}).list_dir("g"))
        ['x', 'zarr.json']
        """
        p = _dir_prefix(prefix)
        seen: set[str] = set()
        for k in self.list_prefix(p):
            name = k[len(p) :].split("/", 1)[0]
            if name and name not in seen:
                seen.add(name)
                yield name

    def delete_prefix(self, prefix: str) -> None:
        """Delete every key under the directory ``prefix`` (never its siblings).

        >>> import exzarr
        >>> s = exzarr.MemoryStore({"a/x": b"", "a/y/z": b"", "ab": b""})
        >>> s.delete_prefix("a")
        >>> list(s.list())
        ['ab']
        """
        p = _dir_prefix(prefix)
        self._check_writable(p or "/")
        for k in list(self.list_prefix(p)):
            self.delete(k)

    def is_empty(self, prefix: str = "") -> bool:
        """Whether no key lies under the directory ``prefix`` (``""``: the whole store).

        >>> import exzarr
        >>> s = exzarr.MemoryStore({"a/x": b""})
        >>> s.is_empty(), s.is_empty("a"), s.is_empty("b")
        (False, False, True)
        """
        return next(iter(self.list_prefix(_dir_prefix(prefix))), None) is None

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release resources (a no-op for most stores); ``with store:`` calls it on exit.

        >>> import exzarr
        >>> with exzarr.MemoryStore() as s:
        ...     s.set("k", b"v")
        >>> s.close()  # closing twice is harmless
        """

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- async twins ------------------------------------------------------------------
    async def get_async(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        """Async version of :meth:`get`.

        >>> import asyncio, exzarr
        >>> asyncio.run(exzarr.MemoryStore({"k": b"v"}).get_async("k"))
        b'v'
        """
        return await asyncio.to_thread(self.get, key, byte_range)

    async def set_async(self, key: str, value: bytes) -> None:
        """Async version of :meth:`set`.

        >>> import asyncio, exzarr
        >>> s = exzarr.MemoryStore()
        >>> asyncio.run(s.set_async("k", b"v"))
        >>> s.get("k")
        b'v'
        """
        await asyncio.to_thread(self.set, key, value)

    async def delete_async(self, key: str) -> None:
        """Async version of :meth:`delete`.

        >>> import asyncio, exzarr
        >>> s = exzarr.MemoryStore({"k": b"v"})
        >>> asyncio.run(s.delete_async("k"))
        >>> s.exists("k")
        False
        """
        await asyncio.to_thread(self.delete, key)

    async def exists_async(self, key: str) -> bool:
        """Async version of :meth:`exists`.

        >>> import asyncio, exzarr
        >>> asyncio.run(exzarr.MemoryStore({"k": b"v"}).exists_async("k"))
        True
        """
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
