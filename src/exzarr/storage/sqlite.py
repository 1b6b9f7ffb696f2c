"""A store in one SQLite database file: a whole Zarr hierarchy in a single file.

The counterpart of ExZarr's embedded-database backends. The schema is zarr-python 2's
``SQLiteStore`` table, ``zarr(k TEXT PRIMARY KEY, v BLOB)`` (created when missing), so files it
wrote open here (and the other way round). It is a rowid table, not ``WITHOUT ROWID``: incremental
blob I/O (``Connection.blobopen``), which reads a byte range of a value without loading the rest
of it, needs a rowid. A new file gets 16 KiB pages and ``auto_vacuum=INCREMENTAL``: the pointer map
that keeps lets blob I/O find the page holding an offset without walking the value's whole
overflow chain (a 10-byte suffix of a 50 MB value: ~1 ms instead of ~20 ms).

Concurrency: WAL journal mode (``synchronous=NORMAL``: every commit is atomic; the last ones may
be lost on power failure, never half-applied) and a busy timeout (``timeout=``, seconds), so many
reader processes and writer processes share the file: writers serialise on SQLite's write lock,
readers never wait for a writer. Within one process, writes to the same file also take a
process-wide lock, so this process's threads queue on it instead of sleeping in SQLite's busy
handler. Every ``set`` is one transaction (readers see the old or the new value); ``set_many``,
``put_many`` and ``delete_prefix`` are one transaction each, and ``set_if_not_exists`` is an
atomic conditional insert.

Connections: a pool per store object; each call borrows one connection and gives it back, so a
connection is used by one thread at a time and there are never more than the threads that used
the store at once. After a fork the child abandons the inherited connections without closing them
(``sqlite3_close`` in a child can disturb the parent's locks and WAL) and opens its own. A pickled
copy reopens the same file with the same ``read_only`` flag.

>>> import os, tempfile
>>> s = SQLiteStore(os.path.join(tempfile.mkdtemp(), "data.db"))
>>> s.set("a/zarr.json", b"{}")
>>> s.set("a/c/0", [b"01234", b"56789"])
>>> s.get("a/c/0", ByteRange.from_suffix(3)), sorted(s.list_dir("a"))
(b'789', ['c', 'zarr.json'])
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .._fork import at_fork, generation, track
from ..errors import StoreError
from .base import ByteRange, Snapshot, Store, _dir_prefix, check_key, check_prefix, join_parts, too_large

__all__ = ["SQLiteStore"]

_PAGE_SIZE = 16384  # for new files; 4 KiB pages halve large-value throughput, 64 KiB ones small-value writes
_WAL_LIMIT = 64 << 20  # the WAL file is truncated back to this after a checkpoint resets it
_BATCH = 1000  # keys per listing query (listings page through the index, no long read transaction)
_MAX_LIMIT = (1 << 63) - 1
# the byte length of a value without loading it (length() of a TEXT value counts characters)
_LEN = "CASE typeof(v) WHEN 'text' THEN length(CAST(v AS BLOB)) ELSE length(v) END"
_SQL_GET = "SELECT v FROM zarr WHERE k = ?"
_SQL_HEAD = f"SELECT rowid, {_LEN} FROM zarr WHERE k = ?"
_SQL_LIMITED = f"SELECT {_LEN}, CASE WHEN {_LEN} <= ? THEN v END FROM zarr WHERE k = ?"
_SQL_SET = "INSERT INTO zarr(k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v"
_SQL_CREATE = "INSERT INTO zarr(k, v) VALUES (?, ?) ON CONFLICT(k) DO NOTHING"

# One write lock per database file in this process (shared by every store object on it).
_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


@at_fork
def _reset_after_fork() -> None:
    """A lock another parent thread held at the fork would stay held in the child forever."""
    global _write_locks_guard
    _write_locks_guard = threading.Lock()
    _write_locks.clear()


def _write_lock(real: str) -> threading.Lock:
    with _write_locks_guard:
        lock = _write_locks.get(real)
        if lock is None:
            lock = _write_locks[real] = threading.Lock()
        return lock


_abandoned: list[Any] = []


def _abandon(objs: Iterable[Any]) -> None:
    """Keep connections (and blob handles) inherited over a fork alive for good: freeing one would
    call ``sqlite3_close``, which SQLite says a child must never do to a parent's connection. (An
    extra reference also survives interpreter shutdown; the OS closes the descriptors at exit,
    which is safe.)"""
    for obj in objs:
        try:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
        except Exception:  # pragma: no cover - no ctypes.pythonapi (not CPython)
            _abandoned.append(obj)


def _successor(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix`` (``None``: no bound).
    SQLite compares TEXT as UTF-8 bytes, which orders like code points."""
    chars = list(prefix)
    while chars:
        c = ord(chars.pop())
        if c < 0x10FFFF:
            n = 0xE000 if 0xD800 <= c + 1 <= 0xDFFF else c + 1
            return "".join(chars) + chr(n)
    return None


def _as_bytes(v: Any) -> bytes:
    """A stored value as bytes (TEXT written by another tool: its UTF-8 bytes; NULL: empty)."""
    if isinstance(v, bytes):
        return v
    if v is None:
        return b""
    return v.encode() if isinstance(v, str) else bytes(v)


def _blob(value: Any) -> Any:
    """A value SQLite can bind as a BLOB without a copy where possible (a list of buffers is joined:
    a blob is one contiguous value)."""
    value = join_parts(value)
    if type(value) is bytes:
        return value
    mv = memoryview(value)
    return mv if mv.c_contiguous else mv.tobytes()


class SQLiteStore(Store):
    """Keys and values in one SQLite file (``zarr(k TEXT PRIMARY KEY, v BLOB)``), shared safely
    by threads and processes; see the module documentation for the design.

    ``read_only=True`` opens an existing file without ever writing it (a missing file is a
    :class:`~exzarr.errors.StoreError`). ``timeout`` is how long (seconds) a call waits for
    another process's lock before failing with :class:`~exzarr.errors.StoreError`.
    :meth:`close` closes the connections; the store stays usable and reconnects when used again.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False, timeout: float = 30.0) -> None:
        super().__init__(read_only=read_only)
        spath = os.fspath(path)
        if spath in ("", ":memory:") or spath.startswith("file:"):
            raise StoreError(f"SQLiteStore: {spath!r} is not a file path (for data in memory use MemoryStore)")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
            raise ValueError(f"SQLiteStore: timeout must be a number of seconds >= 0, got {timeout!r}")
        if spath.startswith("//"):  # sqlite:////abs/path.db gives "//abs/path.db": one root, not a network host
            spath = "/" + spath.lstrip("/")
        self.path = Path(spath).expanduser().absolute()
        self.timeout = float(timeout)
        self._real = os.path.realpath(self.path)
        self._lock = threading.Lock()  # guards the pool
        self._idle: list[sqlite3.Connection] = []
        self._conns: set[sqlite3.Connection] = set()  # every open connection of this process
        self._closing: set[sqlite3.Connection] = set()  # in use when close() ran: closed when given back
        if read_only and not self.path.is_file():
            raise StoreError(f"SQLiteStore: {str(self.path)!r} does not exist")
        self._release(self._acquire())  # create or check the file now, not at the first request
        self._real = os.path.realpath(self.path)  # the file exists now: resolve a symlink to it
        self._wlock = _write_lock(self._real)
        track(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        _abandon(self._conns | self._closing)
        self._conns, self._closing, self._idle = set(), set(), []
        self._wlock = _write_lock(self._real)

    # -- identity -------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}{', read_only=True' if self.read_only else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SQLiteStore) and other._real == self._real and other.read_only == self.read_only

    def __hash__(self) -> int:
        return hash((self._real, self.read_only))

    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "read_only": self._read_only, "timeout": self.timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], read_only=state["read_only"], timeout=state["timeout"])  # type: ignore[misc]

    def with_read_only(self, read_only: bool = True) -> SQLiteStore:
        return SQLiteStore(self.path, read_only=read_only, timeout=self.timeout)

    @property
    def lock_namespace(self) -> str:
        return "sqlite:" + self._real

    def location(self, path: str = "") -> str:
        return "/".join(p for p in (self._real, path.strip("/")) if p)

    # -- connections ------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            if not self._read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self!r}: cannot create the directory of the database file: {exc}") from exc
        try:
            if self._read_only:
                uri = "file:" + urllib.parse.quote(str(self.path)) + "?mode=ro"
                conn = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            else:
                conn = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"{self!r}: cannot open the database file: {exc}") from exc
        try:
            self._prepare(conn)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{self!r}: cannot open the database file: {exc}") from exc
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check (read-only) or set up (WAL, schema) a new connection's database."""
        if self._read_only:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'zarr'").fetchone() is None:
                raise StoreError(f"{self!r}: the database has no 'zarr' table (not a Zarr SQLite store)")
            return
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
        deadline = time.monotonic() + self.timeout
        while True:  # another process may be creating the same file right now
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute(f"PRAGMA page_size={_PAGE_SIZE}")  # both only apply to an empty database
                    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
                    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                    if mode.lower() != "wal":
                        raise StoreError(f"{self!r}: cannot switch the database to WAL mode (got {mode!r})")
                conn.execute("CREATE TABLE IF NOT EXISTS zarr(k TEXT PRIMARY KEY, v BLOB)")
                return
            except sqlite3.OperationalError as exc:
                msg = str(exc).lower()
                if ("locked" not in msg and "busy" not in msg) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def _acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        conn = self._connect()
        with self._lock:
            self._conns.add(conn)
        return conn

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if conn not in self._conns and conn not in self._closing:
                return  # inherited over a fork: abandoned, never touched here
        healthy = True
        if conn.in_transaction:  # an error left a transaction open: end it before reuse
            try:
                conn.rollback()
            except sqlite3.Error:
                healthy = False
        with self._lock:
            if conn in self._conns and healthy:
                self._idle.append(conn)
                return
            self._conns.discard(conn)
            self._closing.discard(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    @contextlib.contextmanager
    def _connection(self, key: str, verb: str) -> Iterator[sqlite3.Connection]:
        conn = self._acquire()
        try:
            yield conn
        except sqlite3.Error as exc:
            raise self._error(exc, key, verb) from exc
        except UnicodeEncodeError as exc:
            raise StoreError(f"{self!r}: invalid key {key!r}: {exc}") from exc
        finally:
            self._release(conn)

    def _error(self, exc: BaseException, key: str, verb: str) -> StoreError:
        return StoreError(f"{self!r}: cannot {verb} {key!r}: {exc}")

    def close(self) -> None:
        """Close the connections (those in use close when given back); using the store again
        opens new ones."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._conns.difference_update(idle)
            self._closing |= self._conns
            self._conns = set()
        for conn in idle:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # -- reading ------------------------------------------------------------------------------
    @staticmethod
    @contextlib.contextmanager
    def _read_txn(conn: sqlite3.Connection) -> Iterator[None]:
        """A read transaction: every statement inside sees one version of the file."""
        conn.execute("BEGIN")
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("COMMIT")

    def _read(self, conn: sqlite3.Connection, key: str, r: ByteRange | None) -> bytes | None:
        """One value or a range of it; ranges must run inside a read transaction (the rowid
        looked up must still be this key's row when the blob is opened)."""
        if r is None:
            row = conn.execute(_SQL_GET, (key,)).fetchone()
            return None if row is None else _as_bytes(row[0])
        row = conn.execute(_SQL_HEAD, (key,)).fetchone()
        if row is None:
            return None
        a, b = r.resolve(row[1] or 0)
        if a == b:
            return b""
        with conn.blobopen("zarr", "v", row[0], readonly=True) as blob:
            blob.seek(a)
            return blob.read(b - a)

    def get(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        check_key(key)
        r = ByteRange.coerce(byte_range)
        with self._connection(key, "read") as conn:
            if r is None:
                return self._read(conn, key, None)
            with self._read_txn(conn):
                return self._read(conn, key, r)

    def get_limited(self, key: str, limit: int) -> bytes | None:
        """The value, refused when its length (checked first, in the same statement) exceeds ``limit``."""
        check_key(key)
        with self._connection(key, "read") as conn:
            row = conn.execute(_SQL_LIMITED, (min(int(limit), _MAX_LIMIT), key)).fetchone()
        if row is None:
            return None
        size = row[0] or 0
        if size > limit:
            raise too_large(self, key, size, limit)
        return _as_bytes(row[1])

    def get_many(self, keys: Sequence[str], byte_ranges: Sequence[ByteRange | None] | None = None) -> list[bytes | None]:
        """Several values (or ranges) from one read transaction: one consistent version of the file."""
        ranges = [ByteRange.coerce(r) for r in byte_ranges] if byte_ranges is not None else [None] * len(keys)
        if len(ranges) != len(keys):
            raise ValueError(f"get_many: {len(keys)} keys but {len(ranges)} byte ranges")
        for k in keys:
            check_key(k)
        if not keys:
            return []
        with self._connection(keys[0], "read") as conn, self._read_txn(conn):
            return [self._read(conn, k, r) for k, r in zip(keys, ranges, strict=True)]

    def snapshot(self, key: str) -> Any:
        """Range reads of one version of ``key``: a read transaction on a connection held for the
        ``with`` block, reading through one blob handle (only the pages of the ranges asked for
        are read; a writer meanwhile does not wait, and is not seen)."""
        check_key(key)
        return self._snapshot(key)

    @contextlib.contextmanager
    def _snapshot(self, key: str) -> Iterator[Snapshot | None]:
        conn = self._acquire()
        gen = generation()
        snap: _BlobSnapshot | None = None
        try:
            try:
                conn.execute("BEGIN")
                row = conn.execute(_SQL_HEAD, (key,)).fetchone()
                if row is not None:
                    size = row[1] or 0
                    blob = conn.blobopen("zarr", "v", row[0], readonly=True) if size else None
                    snap = _BlobSnapshot(self, key, blob, size)
            except sqlite3.Error as exc:
                raise self._error(exc, key, "read") from exc
            yield snap
        finally:
            if snap is not None:
                snap.close()
            if generation() == gen:  # (a child forked inside the block leaves the parent's connection alone)
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("COMMIT")
                self._release(conn)

    def exists(self, key: str) -> bool:
        check_key(key)
        with self._connection(key, "read") as conn:
            return conn.execute("SELECT 1 FROM zarr WHERE k = ?", (key,)).fetchone() is not None

    def getsize(self, key: str) -> int:
        check_key(key)
        with self._connection(key, "read") as conn:
            row = conn.execute(f"SELECT {_LEN} FROM zarr WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise FileNotFoundError(key)
        return row[0] or 0

    # -- writing ------------------------------------------------------------------------------
    def set(self, key: str, value: bytes | bytearray | memoryview) -> None:
        """Store ``value`` in one transaction (a list of buffers: their concatenation)."""
        check_key(key)
        self._check_writable(key)
        blob = _blob(value)
        with self._connection(key, "write") as conn, self._wlock:
            conn.execute(_SQL_SET, (key, blob))

    def set_if_not_exists(self, key: str, value: Any) -> bool:
        """Store ``value`` only if ``key`` holds nothing, atomically (one ``INSERT ... DO NOTHING``):
        of several creators, in any processes, exactly one succeeds. ``False`` if a value was there."""
        check_key(key)
        self._check_writable(key)
        blob = _blob(value)
        with self._connection(key, "write") as conn, self._wlock:
            return conn.execute(_SQL_CREATE, (key, blob)).rowcount == 1

    def set_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Store several values in one transaction: all of them or (on any error, a crash) none.
        ``items`` is consumed inside the transaction, one value at a time."""
        self._write_batch(items, deletes=False)

    def put_many(self, items: Sequence[tuple[str, Any]]) -> None:
        """Store each ``(key, value)`` and delete each key whose value is ``None``, in one transaction."""
        self._write_batch(items, deletes=True)

    def _write_batch(self, items: Iterable[tuple[str, Any]], *, deletes: bool) -> None:
        self._check_writable("/")
        current = ["(batch)"]  # the key being written, for an error message
        conn = self._acquire()
        try:
            with self._wlock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if deletes:
                        for k, v in items:
                            current[0] = check_key(k)
                            if v is None:
                                conn.execute("DELETE FROM zarr WHERE k = ?", (k,))
                            else:
                                conn.execute(_SQL_SET, (k, _blob(v)))
                    else:

                        def rows() -> Iterator[tuple[str, Any]]:
                            for k, v in items:
                                current[0] = k
                                yield check_key(k), _blob(v)

                        conn.executemany(_SQL_SET, rows())
                    conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        conn.rollback()
                    raise
        except sqlite3.Error as exc:
            raise self._error(exc, current[0], "write") from exc
        except UnicodeEncodeError as exc:
            raise StoreError(f"{self!r}: invalid key {current[0]!r}: {exc}") from exc
        finally:
            self._release(conn)

    def delete(self, key: str) -> None:
        check_key(key)
        self._check_writable(key)
        with self._connection(key, "delete") as conn, self._wlock:
            conn.execute("DELETE FROM zarr WHERE k = ?", (key,))

    def delete_prefix(self, prefix: str) -> None:
        """Delete every key under the directory ``prefix`` in one statement (a range of the primary
        key: ``foo/`` never touches ``foo-bar/`` or ``foobar``)."""
        p = _dir_prefix(prefix)
        self._check_writable(p or "/")
        hi = _successor(p)
        with self._connection(p or "/", "delete") as conn, self._wlock:
            if not p:
                conn.execute("DELETE FROM zarr")
            elif hi is None:
                conn.execute("DELETE FROM zarr WHERE k >= ?", (p,))
            else:
                conn.execute("DELETE FROM zarr WHERE k >= ? AND k < ?", (p, hi))

    # -- listing ------------------------------------------------------------------------------
    def _page(self, lo: str, inclusive: bool, hi: str | None) -> list[str]:
        """Up to ``_BATCH`` keys from ``lo`` (in ``[lo, hi)`` or ``(lo, hi)``), in order."""
        op = ">=" if inclusive else ">"
        with self._connection(lo or "/", "list") as conn:
            if hi is None:
                rows = conn.execute(f"SELECT k FROM zarr WHERE k {op} ? ORDER BY k LIMIT ?", (lo, _BATCH)).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT k FROM zarr WHERE k {op} ? AND k < ? ORDER BY k LIMIT ?", (lo, hi, _BATCH)
                ).fetchall()
        return [_as_key(r[0]) for r in rows]

    def _scan(self, prefix: str) -> Iterator[str]:
        hi = _successor(prefix) if prefix else None
        keys = self._page(prefix, True, hi)
        while True:
            yield from keys
            if len(keys) < _BATCH:
                return
            keys = self._page(keys[-1], False, hi)

    def list(self) -> Iterator[str]:
        """Every key, in order (paged: no transaction stays open while the caller iterates)."""
        return self._scan("")

    def list_prefix(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix``: a range scan of the primary key, in order."""
        check_prefix(prefix)
        return self._scan(prefix)

    def list_dir(self, prefix: str) -> Iterator[str]:
        """Sorted names of the immediate children of ``prefix``: a scan that jumps over each child
        directory's keys (a query per child directory, not a read of every chunk key below)."""
        p = _dir_prefix(prefix)
        hi = _successor(p) if p else None
        names: set[str] = set()
        lo, inclusive = p, True
        while True:
            keys = self._page(lo, inclusive, hi)
            for k in keys:
                name, sep, _ = k[len(p) :].partition("/")
                if name:
                    names.add(name)
                if sep:  # a directory: continue after its last key ('0' follows '/')
                    lo, inclusive = p + name + "0", True
                    break
            else:
                if len(keys) < _BATCH:
                    return iter(sorted(names))
                lo, inclusive = keys[-1], False

    def is_empty(self, prefix: str = "") -> bool:
        p = _dir_prefix(prefix)
        hi = _successor(p) if p else None
        with self._connection(p or "/", "list") as conn:
            if hi is None:
                row = conn.execute("SELECT 1 FROM zarr WHERE k >= ? LIMIT 1", (p,)).fetchone()
            else:
                row = conn.execute("SELECT 1 FROM zarr WHERE k >= ? AND k < ? LIMIT 1", (p, hi)).fetchone()
        return row is None


def _as_key(k: Any) -> str:
    return k if isinstance(k, str) else bytes(k).decode()


class _BlobSnapshot(Snapshot):
    """Range reads through one open blob handle inside a read transaction (one version)."""

    def __init__(self, store: SQLiteStore, key: str, blob: sqlite3.Blob | None, size: int) -> None:
        self._store, self._key, self._blob, self.size = store, key, blob, size
        self._lock = threading.Lock()
        self._gen = generation()

    def read(self, byte_range: ByteRange | None = None) -> bytes:
        return self.read_many([byte_range])[0]

    def read_many(self, ranges: Sequence[ByteRange | None]) -> list[bytes]:
        out = []
        with self._lock:
            for r in ranges:
                a, b = (0, self.size) if r is None else r.resolve(self.size)
                if a == b:
                    out.append(b"")
                    continue
                if self._blob is None:
                    raise StoreError(f"{self._store!r}: the snapshot of {self._key!r} is closed")
                if self._gen != generation():
                    raise StoreError(f"{self._store!r}: the snapshot of {self._key!r} was opened before a fork")
                try:
                    self._blob.seek(a)
                    out.append(self._blob.read(b - a))
                except sqlite3.Error as exc:
                    raise self._store._error(exc, self._key, "read") from exc
        return out

    def close(self) -> None:
        with self._lock:
            if self._blob is not None:
                if self._gen != generation():
                    _abandon([self._blob])  # the parent's handle: never closed in a child
                else:
                    with contextlib.suppress(sqlite3.Error):
                        self._blob.close()
                self._blob = None
