"""Hostile input: crafted chunks, decompression bombs, planted links and special files, torn
reads. Each case must end in an exzarr error (or exact data), never a crash, a hang, a write
outside the store or memory far beyond the chunk size. Crashes and memory are observed in a
fresh interpreter (``isolate.run_isolated``), so the suite survives them."""

from __future__ import annotations

import os
import struct
import threading

import numcodecs
import numpy as np
import pytest
from isolate import run_isolated

import exzarr
from exzarr.errors import ChunkDecodeError, StoreError
from exzarr.storage import LocalStore

# ----------------------------------------------------------------------------- crafted framing


@pytest.mark.parametrize("claim", [8192, 16 * 2**20])
def test_blosc_header_claiming_more_than_the_chunk_holds(tmp_path, claim):
    """A 32-byte blosc chunk whose header claims ``claim`` compressed bytes: c-blosc used to read
    past the buffer (heap bytes returned as data, or SIGSEGV)."""
    real = bytearray(numcodecs.Blosc("lz4", 5, 1).encode(np.arange(1000.0)))
    crafted = bytes(real[:16]) + b"\x00" * 16
    crafted = crafted[:12] + struct.pack("<I", claim) + crafted[16:]
    out = run_isolated(
        """
        import exzarr, sys
        a = exzarr.create(sys.argv[1], shape=(1000,), chunks=(1000,), dtype="f8", compressor="blosc", zarr_format=2)
        a.store.set("0", open(sys.argv[2], "rb").read())
        try:
            a[...]
            _report(error=None)
        except Exception as exc:
            _report(error=type(exc).__name__, msg=str(exc))
        """,
        args=(str(tmp_path / "a"), _write(tmp_path / "chunk", crafted)),
    )
    assert not out.crashed, out.stderr
    assert out.result == {"error": "ChunkDecodeError", "msg": out.result["msg"]}, out.result
    assert "'0'" in out.result["msg"] and "compressed bytes" in out.result["msg"]


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    ("compressor", "mutate"),
    [
        ("lz4", lambda b: struct.pack("<I", 2**31) + b[4:]),  # the size prefix claims 2 GiB
        ("zstd", lambda b: b[: len(b) // 2]),  # truncated frame
        ("blosc", lambda b: b[:8] + struct.pack("<I", 1) + b[12:]),  # blocksize 1: a block table larger than the chunk
        ("blosc", lambda b: b[:4] + struct.pack("<I", 7) + b[8:]),  # nbytes not the chunk's size
        ("zlib", lambda b: b + b"trailing"),
        ("gzip", lambda b: b[:-4]),
        ("bz2", lambda b: b[:10]),
        ("lzma", lambda b: b[:20]),
    ],
)
def test_bad_framing_is_a_decode_error_naming_the_key(compressor, mutate):
    a = exzarr.create(shape=(64,), chunks=(64,), dtype="f8", compressor=compressor, zarr_format=2)
    a[...] = np.arange(64.0)
    a.store.set("0", mutate(a.store.get("0")))
    with pytest.raises(ChunkDecodeError, match="'0'"):
        a[...]
    with pytest.raises(ChunkDecodeError, match="'0'"):
        a[3] = 1.0  # a partial write decodes the chunk first


def test_leading_rows_of_a_wrong_sized_zstd_chunk_are_refused():
    """The "decode only the leading rows" fast path must check the frame's size like a full read."""
    import zstandard

    a = exzarr.create(shape=(32, 8), chunks=(16, 8), dtype="f8", compressor="zstd")
    a[...] = 1.0
    small = zstandard.ZstdCompressor().compress(np.zeros((4, 8)).tobytes())  # 4 rows instead of 16
    a.store.set("c/0/0", small)
    with pytest.raises(ChunkDecodeError, match="'c/0/0'"):
        a[0:2]
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(np.zeros((4, 8)).tobytes())
    a.store.set("c/0/0", unsized)
    with pytest.raises(ChunkDecodeError, match="'c/0/0'"):
        a[0:2]


@pytest.mark.parametrize("fmt", [2, 3])
def test_vlen_chunk_claiming_a_huge_element_count(fmt):
    a = exzarr.create(shape=(4,), chunks=(4,), dtype=str, zarr_format=fmt, compressor=None)
    a[...] = ["a", "b", "c", "d"]
    key = "0" if fmt == 2 else "c/0"
    raw = a.store.get(key)
    a.store.set(key, struct.pack("<I", 2**31) + raw[4:])
    with pytest.raises(ChunkDecodeError, match=repr(key)):
        a[...]


# ----------------------------------------------------------------------------- bombs

BOMB = 64 * 2**20  # bytes of zeros each bomb expands to; the chunks hold 8 KiB


def _bomb(codec: str) -> bytes:
    import bz2
    import lzma
    import zlib

    import zstandard

    z = b"\0" * BOMB
    return {
        "zlib": lambda: zlib.compress(z, 9),
        "gzip": lambda: numcodecs.GZip(9).encode(z),
        "bz2": lambda: bz2.compress(z, 9),
        "lzma": lambda: lzma.compress(z, preset=0),
        "zstd": lambda: zstandard.ZstdCompressor(level=3, write_content_size=False).compress(z),
        "lz4": lambda: numcodecs.LZ4().encode(z),
        "blosc": lambda: numcodecs.Blosc("lz4", 9, 0).encode(z),
    }[codec]()


BOMB_PATHS = (
    """
import exzarr, sys, numpy as np, zipfile
from exzarr.codecs.sharding import ShardingCodec
codec, bomb_path, d = sys.argv[1], sys.argv[2], sys.argv[3]
bomb = open(bomb_path, "rb").read()
results = {}
def attempt(name, fn):
    try:
        fn()
        results[name] = "no error"
    except Exception as exc:
        results[name] = type(exc).__name__
base = _rss_mb()
a = exzarr.create(f"{d}/plain", shape=(1024,), chunks=(1024,), dtype="f8", compressor=codec, zarr_format=2)
a.store.set("0", bomb)
attempt("read", lambda: a[...])
attempt("partial write", lambda: a.__setitem__(0, 1.0))
c = exzarr.open_array(f"{d}/plain", mode="r+", cache_bytes=1 << 26)
attempt("cached read", lambda: c[...])
s = exzarr.create(f"{d}/sharded", shape=(2048,), chunks=(1024,), shards=(2048,), dtype="f8", compressor=codec)
sh = s.codecs[0]
s.store.set("c/0", b"".join(sh.assemble({(0,): bomb})))
attempt("sharded inner chunk", lambda: s[0:10])
attempt("sharded partial write", lambda: s.__setitem__(5, 1.0))
with zipfile.ZipFile(f"{d}/z.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
    src = exzarr.create(exzarr.MemoryStore(), shape=(1024,), chunks=(1024,), dtype="f8", compressor=None, zarr_format=2)
    zf.writestr(".zarray", src.store.get(".zarray"))
    zf.writestr("0", b"\\0" * len(bomb) * 0 + bytes("""
    + str(BOMB)
    + """))
z = exzarr.open_array(f"{d}/z.zip")
attempt("deflated zip member", lambda: z[...])
_report(results=results, growth=_rss_mb() - base)
"""
)


@pytest.mark.parametrize("codec", ["zlib", "gzip", "bz2", "lzma", "zstd", "lz4", "blosc"])
def test_decompression_bombs_stay_near_the_chunk_size(tmp_path, codec):
    bomb = _bomb(codec)
    assert len(bomb) < BOMB // 50  # a real bomb: tiny on disk
    out = run_isolated(BOMB_PATHS, args=(codec, _write(tmp_path / "bomb", bomb), str(tmp_path)), timeout=120)
    assert not out.crashed and out.result is not None, out.stderr
    assert out.result["results"] == dict.fromkeys(
        ["read", "partial write", "cached read", "sharded inner chunk", "sharded partial write", "deflated zip member"],
        "ChunkDecodeError",
    ), out.result
    assert out.result["growth"] < 24, f"{codec}: memory grew by {out.result['growth']:.0f} MB for an 8 KiB chunk"


# ----------------------------------------------------------------------------- links and special files


@pytest.mark.parametrize("reuse_files", [False, True])
def test_a_symlink_at_a_chunk_key_is_never_written_through(tmp_path, reuse_files):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    store = LocalStore(tmp_path / "s", reuse_files=reuse_files)
    a = exzarr.create(store, shape=(4,), chunks=(2,), dtype="i4")
    a[...] = 1
    for _ in range(3):  # with spares, the planted link comes back into the spare slot after an exchange
        (tmp_path / "s" / "c" / "0").unlink()
        (tmp_path / "s" / "c" / "0").symlink_to(victim)
        a[...] = [5, 6, 7, 8]
        a[0] = 9
    assert victim.read_bytes() == b"precious"
    assert a[...].tolist() == [9, 6, 7, 8] and not (tmp_path / "s" / "c" / "0").is_symlink()


def test_a_hard_link_at_a_chunk_key_is_never_written_through(tmp_path):
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"precious")
    store = LocalStore(tmp_path / "s", reuse_files=True)
    a = exzarr.create(store, shape=(4,), chunks=(2,), dtype="i4")
    a[...] = 1
    for _ in range(3):
        (tmp_path / "s" / "c" / "0").unlink()
        os.link(victim, tmp_path / "s" / "c" / "0")
        a[0:2] = 7
        a[0:2] = 8
    assert victim.read_bytes() == b"precious" and a[...].tolist() == [8, 8, 1, 1]


def test_a_symlinked_directory_is_refused_for_writes(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    store = LocalStore(tmp_path / "s")
    a = exzarr.create(store, shape=(4,), chunks=(2,), dtype="i4")
    (tmp_path / "s" / "c").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StoreError, match="symlink"):
        a[...] = 1
    assert list(outside.iterdir()) == []


def test_fifo_and_directory_at_a_chunk_key(tmp_path):
    out = run_isolated(
        """
        import exzarr, os, sys
        d = sys.argv[1]
        a = exzarr.create(d, shape=(4,), chunks=(2,), dtype="i4")
        a[...] = 1
        os.unlink(f"{d}/c/0")
        os.mkfifo(f"{d}/c/0")
        res = {}
        for name, fn in [("read", lambda: a[...]), ("partial write", lambda: a.__setitem__(0, 5)),
                         ("get", lambda: a.store.get("c/0")), ("write", lambda: a.__setitem__(slice(0, 2), 5))]:
            try:
                fn()
                res[name] = "ok"
            except Exception as exc:
                res[name] = type(exc).__name__ + ": " + str(exc)
        _report(**res)
        """,
        args=(str(tmp_path / "f"),),
        timeout=30,
    )
    assert out.returncode == 0, f"hung or crashed: {out.stderr}"
    assert out.result["read"].startswith("StoreError") and "not a regular file" in out.result["read"]
    assert out.result["get"].startswith("StoreError")
    assert out.result["partial write"].startswith("StoreError")  # it must read the old chunk first
    assert out.result["write"] == "ok"  # a whole-chunk write replaces whatever was at the key
    (tmp_path / "d" / "c" / "0").mkdir(parents=True)
    b = exzarr.create(tmp_path / "d", shape=(4,), chunks=(2,), dtype="i4", mode="a")
    assert b[...].tolist() == [0, 0, 0, 0]  # a directory at a key is a prefix: the chunk is missing
    with pytest.raises(StoreError):
        b[...] = 3


def test_listing_refuses_to_leave_the_store(tmp_path):
    store = LocalStore(tmp_path / "s")
    store.set("a/b", b"1")
    (tmp_path / "secret").write_bytes(b"x")
    for fn in (store.list_prefix, store.list_dir, exzarr.MemoryStore().list_prefix, exzarr.MemoryStore().list_dir):
        for bad in ("..", "../", "a/../..", "a/../../x", "../s"):
            with pytest.raises(StoreError):
                list(fn(bad))


def test_leftover_temporary_files_are_reclaimed(tmp_path):
    """A writer killed between creating its temporary file and renaming it leaves the file behind:
    it is never listed as a key, and the next writer in that directory removes it."""
    out = run_isolated(
        """
        import exzarr, os, sys, signal
        import exzarr.storage.local as local
        a = exzarr.create(sys.argv[1], shape=(4,), chunks=(2,), dtype="i4")
        a[...] = 1
        def die(*args):
            os.kill(os.getpid(), signal.SIGKILL)
        local.os.replace = die  # killed after writing the temporary file, before the rename
        a[...] = 2
        """,
        args=(str(tmp_path / "k"),),
    )
    assert out.crashed
    leftovers = [p for p in (tmp_path / "k" / "c").iterdir() if p.name.startswith(".exzarr-tmp-")]
    assert leftovers, "the killed writer left no temporary file (the test did not exercise anything)"
    a = exzarr.open_array(tmp_path / "k", mode="r+")
    assert sorted(a.store.list()) == ["c/0", "c/1", "zarr.json"] and a[...].tolist() == [1, 1, 1, 1]
    a[0] = 3  # the first write into c/ sweeps what dead writers left there
    assert not [p for p in (tmp_path / "k" / "c").iterdir() if p.name.startswith(".exzarr-tmp-")]
    live = tmp_path / "k" / "c" / f".exzarr-tmp-0.{exzarr.storage.local._HOST}.{os.getpid()}.x.1"
    live.write_bytes(b"in flight")  # a writer that is still alive keeps its file
    assert LocalStore(tmp_path / "k").reclaim() == 0 and live.exists()


# ----------------------------------------------------------------------------- torn reads


@pytest.mark.parametrize("where", ["local", "memory"])
def test_sharded_reads_never_mix_two_versions_of_a_shard(tmp_path, where):
    """A reader racing a writer must never combine the index of one version of a shard with the
    bytes of another: the writer adds and removes inner chunks in front of the ones being read
    (fill values are left out), so their offsets move with every version."""
    store = LocalStore(tmp_path / "t") if where == "local" else exzarr.MemoryStore()
    a = exzarr.create(store, shape=(4,), chunks=(1,), shards=(4,), dtype="i4", compressor=None)
    a[...] = [0, 0, 22, 33]
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            a[0:2] = [11, 11]
            a[0:2] = [0, 0]

    t = threading.Thread(target=writer)
    t.start()
    seen = []
    try:
        for _ in range(3000):
            seen.append(tuple(a[2:4].tolist()))
    finally:
        stop.set()
        t.join()
    assert set(seen) == {(22, 33)}


# ----------------------------------------------------------------------------- raw dependency errors


def test_deeply_nested_json_is_a_metadata_error(tmp_path):
    from exzarr.errors import MetadataError

    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "zarr.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(MetadataError, match="nested too deeply"):
        exzarr.open(tmp_path / "deep")
    a = exzarr.create(tmp_path / "a", shape=(2,), chunks=(2,))
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(MetadataError, match="nested too deeply"):
        a.attrs["x"] = deep
    assert dict(exzarr.open(tmp_path / "a").attrs) == {}
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / ".zgroup").write_text('{"zarr_format": 2}')
    (tmp_path / "c" / ".zmetadata").write_text('{"metadata": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(MetadataError, match="nested too deeply"):
        exzarr.open_group(tmp_path / "c", mode="r")


def test_deeply_nested_sharding_is_refused():
    from exzarr.errors import MetadataError

    codec: dict = {"name": "bytes"}
    for _ in range(150):
        codec = {"name": "sharding_indexed", "configuration": {"chunk_shape": [1], "codecs": [codec]}}
    with pytest.raises(MetadataError, match="nested more than"):
        exzarr.create(shape=(4,), chunks=(4,), codecs=[codec])
    two = {"name": "sharding_indexed", "configuration": {"chunk_shape": [2], "codecs": [
        {"name": "sharding_indexed", "configuration": {"chunk_shape": [1]}}]}}  # fmt: skip
    a = exzarr.create(shape=(4,), chunks=(4,), codecs=[two], dtype="i2")  # nesting as real data does
    a[...] = [1, 2, 3, 4]
    assert a[...].tolist() == [1, 2, 3, 4]


def test_a_shard_index_too_large_to_read_is_refused_when_opening(tmp_path):
    import json

    from exzarr.errors import MetadataError

    doc = json.loads(exzarr.create(tmp_path / "s", shape=(4,), chunks=(1,), shards=(4,)).store.get("zarr.json"))
    doc["shape"] = [2**40]
    doc["chunk_grid"]["configuration"]["chunk_shape"] = [2**40]
    (tmp_path / "s" / "zarr.json").write_text(json.dumps(doc))
    with pytest.raises(MetadataError, match="index"):
        exzarr.open(tmp_path / "s")


def test_dot_dot_in_node_paths_is_a_path_error(tmp_path):
    from exzarr.errors import PathError

    g = exzarr.create_group(tmp_path / "g")
    for bad in ("../x", "a/../../b", "."):
        with pytest.raises(PathError):
            g.create_array(bad, shape=(1,))
        with pytest.raises(ValueError):  # still a ValueError for code written before
            exzarr.open(tmp_path / "g", node=bad)
    with pytest.raises(PathError):
        g.create_group("__reserved")
