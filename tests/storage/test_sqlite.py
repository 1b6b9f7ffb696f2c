"""SQLiteStore: the conformance kit, exzarr round trips (also in a fresh process), threads and
processes writing at once, a writer killed mid-transaction, range reads through blob I/O, fork
and pickling."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import multiprocessing as mp
import os
import pickle
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

import exzarr
import exzarr.storage.sqlite as sqlite_mod
from exzarr.errors import ChecksumError, ChunkDecodeError, ReadOnlyError, StoreError
from exzarr.storage.base import ByteRange
from exzarr.storage.sqlite import SQLiteStore
from exzarr.testing.store import StoreConformance

SRC = str(Path(exzarr.__file__).resolve().parents[1])
CRC_CODECS = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]


class TestSQLiteStore(StoreConformance):
    def make_store(self, tmp_path):
        return SQLiteStore(tmp_path / "s.db")

    def make_read_only(self, store, tmp_path):
        return SQLiteStore(store.path, read_only=True)


# ------------------------------------------------------------------------------- helpers
def stamped(key: str, version: int, size: int) -> bytes:
    """A value that names its key and version and ends with a CRC32 of the rest."""
    head = struct.pack("<QI", version, zlib.crc32(key.encode())) + key.encode()
    body = (head + hashlib.sha256(head).digest() * (size // 32 + 1))[:size]
    return body + struct.pack("<I", zlib.crc32(body))


def unstamp(key: str, value: bytes) -> int:
    """The version a :func:`stamped` value carries; fails on a torn or foreign value."""
    body, crc = value[:-4], struct.unpack("<I", value[-4:])[0]
    assert zlib.crc32(body) == crc, f"{key}: torn value (checksum mismatch)"
    version, kcrc = struct.unpack("<QI", body[:12])
    assert kcrc == zlib.crc32(key.encode()), f"{key}: holds another key's value"
    return version


def run_python(code: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert p.returncode == 0, p.stderr
    return p


def spawn(code: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as c:
        return c.execute("PRAGMA integrity_check").fetchone()[0]


# ------------------------------------------------------------------------------- the file
def test_creates_wal_database_with_zarr_python_schema(tmp_path):
    s = SQLiteStore(tmp_path / "sub" / "a.db")  # the directory is created
    s.set("k", b"v")
    with contextlib.closing(sqlite3.connect(tmp_path / "sub" / "a.db")) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental: a pointer map for blob seeks
        assert c.execute("SELECT sql FROM sqlite_master WHERE name = 'zarr'").fetchone()[0] == (
            "CREATE TABLE zarr(k TEXT PRIMARY KEY, v BLOB)"
        )
        assert c.execute("SELECT k, v FROM zarr").fetchall() == [("k", b"v")]


def test_read_only_missing_file(tmp_path):
    path = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="missing.db"):
        SQLiteStore(path, read_only=True)
    assert not path.exists()


def test_not_a_database(tmp_path):
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    for ro in (False, True):
        with pytest.raises(StoreError, match="junk.db"):
            SQLiteStore(tmp_path / "junk.db", read_only=ro)
    with contextlib.closing(sqlite3.connect(tmp_path / "other.db")) as c:
        c.execute("CREATE TABLE t(x)")
    with pytest.raises(StoreError, match="no 'zarr' table"):
        SQLiteStore(tmp_path / "other.db", read_only=True)
    with pytest.raises(StoreError, match="not a file path"):
        SQLiteStore(":memory:")


def test_opens_zarr_python_2_files(tmp_path):
    """A file as zarr-python 2's SQLiteStore writes it (rollback journal, same table)."""
    path = tmp_path / "z2.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as c:
        c.execute("CREATE TABLE IF NOT EXISTS zarr(k TEXT PRIMARY KEY, v BLOB)")
        c.execute("REPLACE INTO zarr VALUES (?, ?)", ("a/.zarray", b"{}"))
        c.execute("REPLACE INTO zarr VALUES (?, ?)", ("a/txt", "h\u00e9llo"))  # TEXT from some other tool
    ro = SQLiteStore(path, read_only=True)
    assert ro.get("a/.zarray") == b"{}" and ro.get("a/txt") == "h\u00e9llo".encode()
    assert ro.getsize("a/txt") == 6 and ro.get("a/txt", ByteRange.from_suffix(3)) == b"llo"
    with ro.snapshot("a/txt") as snap:
        assert snap.size == 6 and snap.read(ByteRange(1, 3)) == "\u00e9".encode()
    rw = SQLiteStore(path)
    rw.set("a/0", b"x")
    assert sorted(ro.list()) == ["a/.zarray", "a/0", "a/txt"]


def test_identity_pickle_and_close(tmp_path):
    s = SQLiteStore(tmp_path / "a.db", timeout=5)
    os.symlink(tmp_path / "a.db", tmp_path / "link.db")
    via_link = SQLiteStore(tmp_path / "link.db")
    real = os.path.realpath(tmp_path / "a.db")
    assert s == via_link and hash(s) == hash(via_link)
    assert s.lock_namespace == via_link.lock_namespace == "sqlite:" + real
    assert s.location("g/a/") == real + "/g/a" and s.location() == real and s.lock_root is None
    ro = SQLiteStore(tmp_path / "a.db", read_only=True)
    assert ro != s and repr(ro) == f"SQLiteStore({str(tmp_path / 'a.db')!r}, read_only=True)"
    s.set("k", b"v")
    for orig in (s, ro):
        clone = pickle.loads(pickle.dumps(orig))
        assert clone == orig and clone.read_only == orig.read_only and clone.timeout == orig.timeout
        assert clone.get("k") == b"v"
    with pytest.raises(ReadOnlyError):
        pickle.loads(pickle.dumps(ro)).set("k", b"w")
    s.close()
    assert s.get("k") == b"v"  # reconnects
    with s.snapshot("k") as snap:
        s.close()  # a connection in use is closed when given back
        assert snap.read() == b"v"
    assert s.get("k") == b"v" and not s._closing


def test_keys_and_prefix_ranges(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_mod, "_BATCH", 3)  # page through every listing
    s = SQLiteStore(tmp_path / "a.db")
    keys = ["foo/a", "foo/b/c", "foo/b/d", "foo-bar/a", "foo.x", "foo0", "foobar", "fop", "foo/\u00e9/x", "\U0010ffff/x"]
    keys += [f"foo/c/{i}" for i in range(10)] + [f"foo/k{i}" for i in range(7)]
    for k in keys:
        s.set(k, b"1")
    assert list(s.list()) == sorted(keys)
    assert list(s.list_prefix("foo/")) == sorted(k for k in keys if k.startswith("foo/"))
    assert list(s.list_prefix("foo")) == sorted(k for k in keys if k.startswith("foo"))
    assert list(s.list_prefix("\U0010ffff")) == ["\U0010ffff/x"]
    assert list(s.list_dir("foo")) == sorted({"a", "b", "c", "\u00e9", *(f"k{i}" for i in range(7))})
    assert list(s.list_dir("")) == sorted({"foo", "foo-bar", "foo.x", "foo0", "foobar", "fop", "\U0010ffff"})
    assert not s.is_empty("foo") and s.is_empty("fo") and s.is_empty("foo/zz")
    with pytest.raises(StoreError):
        list(s.list_prefix("../x"))
    with pytest.raises(StoreError):
        s.list_dir("a/../..")
    with pytest.raises(StoreError):
        s.set("bad\ud800", b"x")  # a lone surrogate cannot be a key
    s.delete_prefix("foo")
    assert list(s.list()) == sorted(k for k in keys if not k.startswith("foo/"))
    s.delete_prefix("\U0010ffff")
    s.delete_prefix("")
    assert list(s.list()) == [] and s.is_empty()


def test_get_limited_and_errors(tmp_path):
    s = SQLiteStore(tmp_path / "a.db", timeout=0.05)
    s.set("c/0", b"x" * 100)
    assert s.get_limited("c/0", 100) == b"x" * 100 and s.get_limited("nope", 1) is None
    with pytest.raises(ChunkDecodeError, match="100 bytes"):
        s.get_limited("c/0", 99)
    with contextlib.closing(sqlite3.connect(tmp_path / "a.db", isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreError, match=r"a\.db.*'c/1'.*locked"):
            s.set("c/1", b"y")
        assert s.get("c/0") == b"x" * 100  # readers never wait for a writer
        other.execute("ROLLBACK")
    s.set("c/1", b"y")


def test_set_many_is_one_transaction(tmp_path):
    s = SQLiteStore(tmp_path / "a.db")
    s.set_many((f"k{i}", bytes([i]) * 10) for i in range(5))
    assert s.get_many(["k0", "k4", "k9"]) == [b"\0" * 10, b"\4" * 10, None]

    def failing():
        yield "k0", b"new"
        raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError):
        s.set_many(failing())
    with pytest.raises(StoreError, match="'a/../b'"):
        s.set_many([("k1", b"new"), ("a/../b", b"x")])
    assert s.get("k0") == b"\0" * 10 and s.get("k1") == b"\1" * 10  # neither batch left a trace
    s.set_many([("k0", [b"ab", memoryview(b"xcdx")[1:3]]), ("k1", np.arange(2, dtype="u1"))])
    assert s.get("k0") == b"abcd" and s.get("k1") == b"\0\1"


def test_conditional_put_and_put_many(tmp_path):
    s = SQLiteStore(tmp_path / "a.db")
    assert s.set_if_not_exists("g/zarr.json", b"first") is True
    assert s.set_if_not_exists("g/zarr.json", b"second") is False
    assert s.get("g/zarr.json") == b"first"
    s.put_many([("g/zarr.json", None), ("c/0", [b"a", b"b"]), ("c/1", b"x")])
    assert sorted(s.list()) == ["c/0", "c/1"] and s.get("c/0") == b"ab"
    with pytest.raises(StoreError, match="'/abs'"):
        s.put_many([("c/0", None), ("/abs", b"x")])
    assert s.get("c/0") == b"ab"  # the batch rolled back
    ro = SQLiteStore(tmp_path / "a.db", read_only=True)
    for call in (lambda: ro.set_if_not_exists("new", b"x"), lambda: ro.put_many([("c/0", None)])):
        with pytest.raises(ReadOnlyError):
            call()
    # racing creators in threads: exactly one wins each key
    wins: list[str] = []

    def create(t: int) -> None:
        for j in range(20):
            if s.set_if_not_exists(f"race/{j}", str(t).encode()):
                wins.append(f"race/{j}")

    threads = [threading.Thread(target=create, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(wins) == sorted(f"race/{j}" for j in range(20))


def test_snapshot_pins_one_version(tmp_path):
    s = SQLiteStore(tmp_path / "a.db")
    other = SQLiteStore(tmp_path / "a.db")
    old = bytes(range(256)) * 400
    s.set("shard", old)
    with s.snapshot("shard") as snap, s.snapshot("missing") as none:
        assert none is None
        assert snap.size == len(old) and snap.read(ByteRange(0, 4)) == old[:4]
        other.set("shard", b"new" * 10)  # a writer does not wait for the reader ...
        assert other.get("shard") == b"new" * 10
        assert snap.read_many([ByteRange.from_suffix(3), ByteRange(1000, 1010)]) == [old[-3:], old[1000:1010]]
        other.delete("shard")  # ... and the reader keeps its version
        assert snap.read() == old
    assert s.get("shard") is None
    s.set("e", b"")
    with s.snapshot("e") as snap:
        assert snap.size == 0 and snap.read() == b"" and snap.read(ByteRange.from_suffix(3)) == b""


def test_range_reads_use_blob_io(tmp_path):
    s = SQLiteStore(tmp_path / "a.db")
    big = np.random.default_rng(0).integers(0, 256, 50_000_000, dtype=np.uint8).tobytes()
    s.set("big", big)
    statements: list[str] = []
    s.close()  # new connections from here on trace their SQL
    connect = s._connect

    def traced():
        conn = connect()
        conn.set_trace_callback(statements.append)
        return conn

    s._connect = traced
    n = len(big)
    cases = [ByteRange(0, 10), ByteRange(n // 2, n // 2 + 10), ByteRange(n - 10), ByteRange.from_suffix(10)]
    cases += [ByteRange(n - 5, n + 100), ByteRange(n + 1, n + 9), ByteRange.from_suffix(0)]
    for r in cases:
        a, b = r.resolve(n)
        assert s.get("big", r) == big[a:b]
    assert s.get_many(["big", "big"], [ByteRange(7, 9), ByteRange.from_suffix(2)]) == [big[7:9], big[-2:]]
    with s.snapshot("big") as snap:
        assert snap.read_many([ByteRange(123, 133), ByteRange.from_suffix(1)]) == [big[123:133], big[-1:]]
    with pytest.raises(ChunkDecodeError):
        s.get_limited("big", 1000)
    # no statement returned the value: the ranges came through incremental blob I/O
    assert statements and not [q for q in statements if "substr" in q.lower() or q.startswith("SELECT v FROM")]


# ------------------------------------------------------------------------------- exzarr round trips
def _build_hierarchy(store, zarr_format: int = 3) -> dict[str, np.ndarray]:
    """A group tree with arrays of the given format (v3: plain, sharded, crc32c) filled with data."""
    rng = np.random.default_rng(zarr_format)
    data = {
        "a": rng.standard_normal((40, 30)),
        "g/b": rng.integers(0, 1000, (25, 17)).astype("i4"),
        "g/sub/c": np.arange(100, dtype="u2"),
    }
    root = exzarr.create_group(store, attributes={"title": "sqlite"}, zarr_format=zarr_format, mode="w")
    root.create_array("a", shape=(40, 30), chunks=(8, 7), dtype="f8")[...] = data["a"]
    g = root.create_group("g")
    g.create_array("b", shape=(25, 17), chunks=(10, 10), dtype="i4")[...] = data["g/b"]
    if zarr_format == 3:
        g.create_array("sub/c", shape=(100,), chunks=(30,), dtype="u2", codecs=CRC_CODECS, compressor=None)[...] = data["g/sub/c"]
        data["g/sharded"] = rng.standard_normal((64, 48)).astype("f4")
        g.create_array("sharded", shape=(64, 48), chunks=(8, 8), shards=(32, 24), dtype="f4")[...] = data["g/sharded"]
    else:
        g.create_array("sub/c", shape=(100,), chunks=(30,), dtype="u2", compressor="zlib")[...] = data["g/sub/c"]
    return data


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_exzarr_round_trip(tmp_path, zarr_format):
    path = tmp_path / "a.db"
    data = _build_hierarchy(SQLiteStore(path), zarr_format)
    store = SQLiteStore(path, read_only=True)  # a new store object
    root = exzarr.open_group(store, mode="r")
    assert root.attrs["title"] == "sqlite" and root.zarr_format == zarr_format
    for name, expected in data.items():
        assert np.array_equal(root[name][...], expected), name
    assert np.array_equal(root["g/b"][3:21:4, 5], data["g/b"][3:21:4, 5])
    if zarr_format == 3:
        assert np.array_equal(root["g/sharded"][3:5, 40:44], data["g/sharded"][3:5, 40:44])
        # a partial read of a shard reads its index and the one inner chunk, not the shard
        reads: list[int] = []
        counted = _CountingStore(path, read_only=True, reads=reads)
        part = exzarr.open_array(counted, node="g/sharded")
        assert np.array_equal(part[9:11, 17:20], data["g/sharded"][9:11, 17:20])
        shard_bytes = counted.getsize("g/sharded/c/0/0")
        assert 0 < sum(reads) < shard_bytes / 4, (reads, shard_bytes)
    # consolidated metadata
    exzarr.consolidate_metadata(SQLiteStore(path))
    cons = exzarr.open_group(SQLiteStore(path, read_only=True), mode="r", use_consolidated=True)
    assert cons.consolidated
    for name, expected in data.items():
        assert np.array_equal(cons[name][...], expected), name


class _CountingStore(SQLiteStore):
    """Counts the bytes snapshot reads return (the engine reads shards through snapshots)."""

    def __init__(self, *args, reads, **kw):
        super().__init__(*args, **kw)
        self.reads = reads

    def snapshot(self, key):
        inner = super().snapshot(key)
        reads = self.reads

        @contextlib.contextmanager
        def cm():
            with inner as snap:
                if snap is None:
                    yield None
                    return
                read_many = snap.read_many

                def counted(ranges):
                    out = read_many(ranges)
                    reads.extend(len(b) for b in out)
                    return out

                snap.read_many = counted
                snap.read = lambda r=None: counted([r])[0]
                yield snap

        return cm()


def test_exzarr_round_trip_in_a_fresh_process(tmp_path):
    path = tmp_path / "a.db"
    store = SQLiteStore(path)
    data = _build_hierarchy(store)
    data.update({f"v2/{k}": v for k, v in _build_hierarchy(SQLiteStore(tmp_path / "b.db"), 2).items()})
    code = """
    import hashlib, json, sys
    import numpy as np, exzarr
    from exzarr.storage.sqlite import SQLiteStore
    store = SQLiteStore(sys.argv[1])
    root, v2 = exzarr.open_group(store, mode="r"), exzarr.open_group(SQLiteStore(sys.argv[3], read_only=True), mode="r")
    def read(n):
        return v2[n[3:]][...] if n.startswith("v2/") else root[n][...]
    out = {n: hashlib.sha256(np.ascontiguousarray(read(n)).tobytes()).hexdigest() for n in json.loads(sys.argv[2])}
    out["part"] = root["g/sharded"][10:12, 5].tolist()
    a = exzarr.create(store, node="from_child", shape=(6,), chunks=(4,), dtype="i8", mode="w")
    a[...] = np.arange(6) * 7
    print(json.dumps(out))
    """
    p = run_python(code, str(path), json.dumps(list(data)), str(tmp_path / "b.db"))
    out = json.loads(p.stdout)
    for name, arr in data.items():
        assert out[name] == hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest(), name
    assert out["part"] == data["g/sharded"][10:12, 5].tolist()
    assert np.array_equal(exzarr.open_array(store, node="from_child")[...], np.arange(6) * 7)  # the old object sees it


# ------------------------------------------------------------------------------- concurrency
def test_many_threads_write_distinct_keys(tmp_path):
    s = SQLiteStore(tmp_path / "a.db")
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(t: int) -> None:
        try:
            for j in range(40):
                key = f"t{t}/k{j}"
                s.set(key, stamped(key, 1, 500 + 97 * j))
                if j % 10 == 9:
                    s.set_many((f"t{t}/m{j}/{i}", stamped(f"t{t}/m{j}/{i}", 2, 300)) for i in range(3))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            while not done.is_set():
                for key in list(s.list())[:200]:
                    value = s.get(key)
                    if value is not None:
                        unstamp(key, value)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for th in writers + readers:
        th.start()
    for th in writers:
        th.join()
    done.set()
    for th in readers:
        th.join()
    assert not errors, errors
    keys = list(s.list())
    assert len(keys) == 16 * (40 + 12)
    assert all(unstamp(k, s.get(k)) in (1, 2) for k in keys)
    # exzarr's own parallel writes
    x = np.random.default_rng(2).standard_normal((300, 300))
    a = exzarr.create(s, node="par", shape=x.shape, chunks=(10, 10), dtype="f8", mode="w")
    a[...] = x
    assert np.array_equal(exzarr.open_array(SQLiteStore(s.path), node="par")[...], x)


WRITER = """
import sys
import numpy as np, exzarr
from exzarr.storage.sqlite import SQLiteStore
path, w = sys.argv[1], int(sys.argv[2])
a = exzarr.open_array(SQLiteStore(path), mode="r+")
print("ready", flush=True)
sys.stdin.readline()
for i in range(200):
    row = w * 200 + i
    a[row] = row * 1000 + np.arange(256)
    assert np.array_equal(a[row], row * 1000 + np.arange(256))
print("done", flush=True)
"""

READER = """
import json, os, sys
import numpy as np, exzarr
from exzarr.storage.sqlite import SQLiteStore
path, stop = sys.argv[1], sys.argv[2]
a = exzarr.open_array(SQLiteStore(path, read_only=True), mode="r")
expected = np.arange(600)[:, None] * 1000 + np.arange(256)
print("ready", flush=True)
sys.stdin.readline()
passes, partial, bad = 0, 0, []
while True:
    last = os.path.exists(stop)
    x = a[...]  # a torn chunk would fail its crc32c check here
    written = (x == expected).all(axis=1)
    empty = (x == 0).all(axis=1)
    bad += [int(r) for r in np.nonzero(~(written | empty))[0]]
    passes += 1
    partial += int(0 < written.sum() < 600)
    if last:
        break
print(json.dumps({"passes": passes, "partial": partial, "bad": bad, "final": int(written.sum())}), flush=True)
"""


def test_writer_processes_and_a_reader_process(tmp_path):
    path = tmp_path / "a.db"
    exzarr.create(SQLiteStore(path), shape=(600, 256), chunks=(1, 256), dtype="i8", codecs=CRC_CODECS, compressor=None)
    stop = tmp_path / "stop"
    procs = [spawn(WRITER, str(path), str(w)) for w in range(3)] + [spawn(READER, str(path), str(stop))]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:  # all at once
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs[:3]:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0 and out.strip() == "done", err
        stop.touch()
        out, err = procs[3].communicate(timeout=60)
        assert procs[3].returncode == 0, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    report = json.loads(out)
    assert report["bad"] == [] and report["passes"] >= 1 and report["final"] == 600, report
    x = exzarr.open_array(SQLiteStore(path, read_only=True))[...]
    assert np.array_equal(x, np.arange(600)[:, None] * 1000 + np.arange(256))
    assert integrity(path) == "ok"


def test_processes_racing_to_create_one_file(tmp_path):
    code = """
    import sys
    from exzarr.storage.sqlite import SQLiteStore
    SQLiteStore(sys.argv[1]).set(f"k{sys.argv[2]}", b"x")
    """
    procs = [spawn(code, str(tmp_path / "new.db"), str(i)) for i in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert sorted(SQLiteStore(tmp_path / "new.db", read_only=True).list()) == ["k0", "k1", "k2", "k3"]
    assert integrity(tmp_path / "new.db") == "ok"


def test_checksum_catches_a_torn_value(tmp_path):
    """The reader test relies on crc32c: a damaged chunk does fail to decode."""
    s = SQLiteStore(tmp_path / "a.db")
    a = exzarr.create(s, shape=(4,), chunks=(4,), dtype="i8", codecs=CRC_CODECS, compressor=None)
    a[...] = 1
    v = bytearray(s.get("c/0"))
    v[3] ^= 1
    s.set("c/0", v)
    with pytest.raises(ChecksumError):
        a[...]


KILLED_HEAD = """
import hashlib, struct, sys, time, zlib
from exzarr.storage.sqlite import SQLiteStore
"""
KILLED_BODY = """
path, mode = sys.argv[1], sys.argv[2]
s = SQLiteStore(path)
if mode == "mid":
    def items():
        for i in range(20):
            if i == 10:
                print("mid", flush=True)  # half the batch is in the open transaction
                time.sleep(60)
            yield f"b/{i}", stamped(f"b/{i}", 1, 200_000)
    s.set_many(items())
else:
    print("go", flush=True)
    v = 1
    while True:
        s.set("big", stamped("big", v, 8_000_000))
        s.set_many((f"b/{i}", stamped(f"b/{i}", v, 500_000)) for i in range(20))
        v += 1
"""
KILLED = KILLED_HEAD + inspect.getsource(stamped) + KILLED_BODY


def test_killed_writer_leaves_old_or_new_values(tmp_path):
    path = tmp_path / "a.db"
    s = SQLiteStore(path)
    s.set("big", stamped("big", 0, 8_000_000))
    s.set_many((f"b/{i}", stamped(f"b/{i}", 0, 200_000)) for i in range(20))
    rng = random.Random()
    for trial, mode in enumerate(["mid", "timed", "timed"]):
        p = spawn(KILLED, str(path), mode)
        try:
            line = p.stdout.readline().strip()
            assert line in ("mid", "go"), p.stderr.read()
            if mode == "timed":
                time.sleep(rng.uniform(0.05, 0.4))
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        reader = SQLiteStore(path, read_only=True)
        batch = {unstamp(f"b/{i}", reader.get(f"b/{i}")) for i in range(20)}
        assert len(batch) == 1, f"trial {trial}: a batch was half applied: {batch}"
        big = unstamp("big", reader.get("big"))
        if mode == "mid":
            assert batch == {0} and big == 0  # nothing of the killed transaction is visible
        assert integrity(path) == "ok"
        s.set("after", stamped("after", trial, 1000))  # the dead writer's lock is gone
        assert unstamp("after", reader.get("after")) == trial


# ------------------------------------------------------------------------------- fork
def _child(store: SQLiteStore, q) -> None:
    try:
        inherited = len(store._conns)
        store.set("from_child", b"child")
        q.put((inherited, store.get("k"), len(store._conns), store.get("from_child")))
    except BaseException as exc:  # pragma: no cover - reported to the parent
        q.put(repr(exc))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_opens_its_own_connections(tmp_path):
    s = SQLiteStore(tmp_path / "a.db")
    s.set("k", b"parent")
    assert s._conns  # the parent holds pooled connections
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    with s.snapshot("k") as snap:  # and one in a read transaction while it forks
        p = ctx.Process(target=_child, args=(s, q))
        p.start()
        result = q.get(timeout=30)
        p.join(30)
        assert snap.read() == b"parent"
    assert result == (0, b"parent", 1, b"child"), result
    assert p.exitcode == 0
    # a child forked inside a snapshot block cannot read through the parent's transaction, and
    # leaving the block there touches none of the parent's connections
    pid, ok = -1, False
    try:
        with s.snapshot("k") as snap:
            pid = os.fork()
            if pid == 0:
                with contextlib.suppress(StoreError):
                    snap.read()  # refused: the read transaction is the parent's
                    raise AssertionError("read through the parent's connection")
            else:
                _, status = os.waitpid(pid, 0)
                assert os.waitstatus_to_exitcode(status) == 0
                assert snap.read() == b"parent"
        ok = pid == 0 and s.get("k") == b"parent"  # the child left the block: its own connection now
    finally:
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            os._exit(0 if ok else 1)
    # the parent's connections were left alone by the children
    assert s.get("from_child") == b"child"
    s.set("k", b"again")
    assert s.get("k") == b"again" and integrity(tmp_path / "a.db") == "ok"


def test_four_slash_url_reopens_read_only(tmp_path):
    """``sqlite:////abs/path.db`` (an absolute path after ``sqlite:///``-style URLs with one more
    slash) used to create the file and then fail to reopen it read-only ("invalid uri authority")."""
    url = "sqlite:///" + str(tmp_path / "four.db")  # str(tmp_path) starts with "/": four slashes
    assert url.startswith("sqlite:////")
    a = exzarr.create(url, shape=(3,), chunks=(3,), dtype="i4")
    a[...] = [1, 2, 3]
    assert exzarr.open_array(url, mode="r")[...].tolist() == [1, 2, 3]
    assert exzarr.open_array(url, mode="r").store.path == tmp_path / "four.db"
