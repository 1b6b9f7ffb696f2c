"""exzarr.copy: raw copies, v2 <-> v3 conversion, re-encoding, rechunking, groups, progress."""

from __future__ import annotations

import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import exzarr
from exzarr.errors import NodeExistsError
from exzarr.storage import LocalStore, MemoryStore, ZipStore


def zarr_read(path):
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(zarr.open_array(str(path), mode="r")[...])


@pytest.fixture
def x():
    v = np.random.default_rng(0).standard_normal((30, 20)).astype("f4")
    v[20:, :] = 0  # whole chunks of fill: never stored
    return v


def test_unchanged_copy_moves_bytes_without_decoding(tmp_path, x):
    a = exzarr.create(tmp_path / "a", shape=x.shape, chunks=(8, 8), dtype="f4", compressor="zstd")
    a[...] = x
    calls = []
    real = a.metadata.pipeline.decode
    a.metadata.pipeline.decode = lambda data: calls.append(1) or real(data)
    b = exzarr.copy(a, tmp_path / "b")
    assert calls == [] and np.array_equal(b[...], x)
    src, dst = LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b")
    keys = sorted(k for k in src.list() if k != "zarr.json")
    assert keys == sorted(k for k in dst.list() if k != "zarr.json") and all(src.get(k) == dst.get(k) for k in keys)


def test_v2_to_v3_with_equivalent_chain_renames_keys_only(tmp_path, x):
    a = exzarr.create(
        tmp_path / "a", shape=x.shape, chunks=(8, 8), dtype=">f4", compressor={"id": "zstd", "level": 3}, zarr_format=2
    )
    a[...] = x
    b = exzarr.copy(tmp_path / "a", tmp_path / "b", zarr_format=3)
    src, dst = LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b")
    assert b.zarr_format == 3 and [c.name for c in b.codecs] == ["bytes", "zstd"] and b.codecs[0].endian == "big"
    assert src.get("1.2") == dst.get("c/1/2")  # the same bytes, under the v3 key
    assert np.array_equal(b[...], x) and np.array_equal(zarr_read(tmp_path / "b"), x)


@pytest.mark.parametrize("src_fmt,dst_fmt", [(2, 3), (3, 2), (2, 2), (3, 3)])
def test_conversion_reencode_and_rechunk(tmp_path, x, src_fmt, dst_fmt):
    filters = [{"id": "shuffle", "elementsize": 4}] if src_fmt == 2 else None  # lossless: values must match exactly
    a = exzarr.create(tmp_path / "a", shape=x.shape, chunks=(7, 9), dtype="f4", zarr_format=src_fmt, filters=filters,
                      compressor="zlib", attributes={"k": 1}, dimension_names=["y", "x"], fill_value=0)  # fmt: skip
    a[...] = x
    b = exzarr.copy(a, tmp_path / "b", zarr_format=dst_fmt, compressor=("gzip", {"level": 2}), chunks=(10, 4))
    assert b.zarr_format == dst_fmt and b.chunks == (10, 4) and b.dimension_names == ("y", "x")
    assert b.attrs["k"] == 1 and np.array_equal(b[...], a[...])
    assert np.array_equal(zarr_read(tmp_path / "b"), a[...])
    assert b.nchunks_initialized == 10  # a 3x5 grid, and the chunk row covering rows 20-29 is all fill


def test_shard_and_unshard(tmp_path, x):
    a = exzarr.create(tmp_path / "a", shape=x.shape, chunks=(10, 10), dtype="f4")
    a[...] = x
    s = exzarr.copy(a, tmp_path / "s", chunks=(5, 5), shards=(10, 20))
    assert s.chunks == (5, 5) and s.shards == (10, 20) and np.array_equal(s[...], x)
    u = exzarr.copy(s, tmp_path / "u", shards=None)
    assert u.shards is None and u.chunks == (5, 5) and np.array_equal(u[...], x)
    v2 = exzarr.copy(s, tmp_path / "v2", zarr_format=2)
    assert v2.zarr_format == 2 and v2.chunks == (5, 5) and np.array_equal(zarr_read(tmp_path / "v2"), x)


def test_group_tree_between_store_kinds(tmp_path, x):
    g = exzarr.create_group(MemoryStore(), attributes={"title": "t"})
    g.create_array("a", shape=x.shape, chunks=(8, 8), dtype="f4")[...] = x
    g.create_array("sub/b", shape=(5,), chunks=(2,), dtype=str)[...] = ["a", "bb", "", "c", "d"]
    done = []
    z = exzarr.copy(g, str(tmp_path / "t.zip"), progress_callback=lambda d, t: done.append((d, t)))
    z.store.close()
    assert done[-1][0] == done[-1][1] == len(done) > 0
    r = exzarr.open(str(tmp_path / "t.zip"))
    assert isinstance(r.store, ZipStore) and dict(r.attrs) == {"title": "t"}
    assert np.array_equal(r["a"][...], x) and r["sub/b"][...].tolist() == ["a", "bb", "", "c", "d"]
    local = exzarr.copy(r, tmp_path / "local", zarr_format=2)
    assert local.zarr_format == 2 and local["sub/b"][...].tolist() == ["a", "bb", "", "c", "d"]


def test_copy_modes_and_progress_bar(tmp_path, x, capsys):
    a = exzarr.save(tmp_path / "a", x)
    exzarr.copy(a, tmp_path / "b", progress=True)
    assert "copy" in capsys.readouterr().err
    with pytest.raises(NodeExistsError):
        exzarr.copy(a, tmp_path / "b")
    b = exzarr.copy(a, tmp_path / "b", mode="w", chunks=(3, 3))
    assert b.chunks == (3, 3) and np.array_equal(b[...], x)


def _climate(where):
    """A group holding a 3-D, a 2-D and a 1-D array."""
    g = exzarr.create_group(where, attributes={"title": "climate"})
    g.create_array("climate/temperature", shape=(40, 36, 24), chunks=(16, 16, 16), dtype="f4")[...] = np.arange(
        40 * 36 * 24, dtype="f4"
    ).reshape(40, 36, 24)
    g.create_array("climate/pressure", shape=(64, 64), chunks=(16, 16), dtype="f4")[...] = np.eye(64, dtype="f4")
    g.create_array("time", shape=(64,), chunks=(16,), dtype="i8")[...] = np.arange(64)
    return g


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_group_chunks_of_another_rank_are_refused_before_writing(tmp_path):
    g = _climate(tmp_path / "src")
    with pytest.raises(ValueError, match=r"chunks=\(10, 15, 10\) has 3 dimensions but array '/climate/pressure' has 2.*dict"):
        exzarr.copy(g, tmp_path / "dst", chunks=(10, 15, 10), shards=(20, 30, 20))
    assert _files(tmp_path / "dst") == []  # no group, no climate/, no empty-looking temperature
    with pytest.raises(ValueError, match="has 3 dimensions but array '/climate/pressure'"):
        exzarr.copy(g, tmp_path / "dst", chunks=(100000000, 100000, 1000))
    assert _files(tmp_path / "dst") == []
    with pytest.raises(ValueError, match=r"chunks names \['nope'\], not arrays of the source group"):
        exzarr.copy(g, tmp_path / "dst", chunks={"nope": (2,), "time": (8,)})
    with pytest.raises(TypeError, match="dict .* is for copying a group"):
        exzarr.copy(g["time"], tmp_path / "dst", chunks={"time": (8,)})
    assert _files(tmp_path / "dst") == []


def test_group_chunks_and_shards_per_array_as_a_dict(tmp_path):
    g = _climate(tmp_path / "src")
    out = exzarr.copy(
        g,
        tmp_path / "dst",
        chunks={"climate/temperature": (10, 12, 8), "/climate/pressure": (32, 16)},
        shards={"climate/temperature": (20, 36, 24)},
    )
    t, p, tm = out["climate/temperature"], out["climate/pressure"], out["time"]
    assert (t.chunks, t.shards) == ((10, 12, 8), (20, 36, 24)) and (p.chunks, p.shards) == ((32, 16), None)
    assert tm.chunks == (16,)  # not named: kept as it is
    for name in ("climate/temperature", "climate/pressure", "time"):
        assert np.array_equal(exzarr.open(tmp_path / "dst")[name][...], g[name][...])
    same_rank = exzarr.create_group(tmp_path / "two")  # a tuple still applies to arrays all of its rank
    same_rank.create_array("a", shape=(6, 6), chunks=(3, 3), dtype="u1")[...] = 1
    same_rank.create_array("b/c", shape=(4, 8), chunks=(4, 4), dtype="u1")[...] = 2
    two = exzarr.copy(same_rank, tmp_path / "two-copy", chunks=(2, 2))
    assert two["a"].chunks == two["b/c"].chunks == (2, 2) and int(two["b/c"][...].sum()) == 64


def test_chunks_over_max_chunk_bytes_are_refused_before_writing(tmp_path):
    g = _climate(tmp_path / "src")
    with pytest.raises(exzarr.errors.MetadataError, match="'/climate/temperature'.*max_chunk_bytes"):
        exzarr.copy(g, tmp_path / "dst", chunks={"climate/temperature": (100000000, 100000, 1000)})
    assert _files(tmp_path / "dst") == []
    # the 2-D array's 32*64*4 bytes do not fit (unchanged arrays are copied as stored)
    with exzarr.config.set(max_chunk_bytes=4096):
        with pytest.raises(exzarr.errors.MetadataError, match="'/climate/pressure'.*max_chunk_bytes"):
            exzarr.copy(g, tmp_path / "dst", chunks={"time": (8,), "climate/pressure": (32, 64)})
    assert _files(tmp_path / "dst") == []


class FailingStore(MemoryStore):
    """Fails to store one chunk of climate/pressure, as a store that goes away midway would."""

    def set(self, key, value):
        if key.startswith("climate/pressure/") and key[-1] == "1" and not key.endswith((".json", ".zarray", ".zattrs")):
            raise exzarr.errors.StoreError(f"cannot put {key!r}: connection reset")  # v3 "c/0/1", v2 "0.1"
        super().set(key, value)


@pytest.mark.parametrize("kwargs", [{}, dict(zarr_format=2), dict(chunks={"climate/pressure": (8, 8)})])
def test_a_copy_failing_midway_removes_what_it_created(tmp_path, kwargs):
    g = _climate(tmp_path / "src")
    dst = FailingStore()
    exzarr.create(dst, path="keep", shape=(3,), dtype="i4")[...] = [1, 2, 3]  # not the copy's: must survive
    with pytest.raises(exzarr.errors.StoreError, match="connection reset"):
        exzarr.copy(g, dst, max_concurrency=1, **kwargs)
    assert [k for k in dst.list() if not k.startswith("keep/")] == []  # no node left looking complete
    assert exzarr.open_array(dst, path="keep")[...].tolist() == [1, 2, 3]
    out = exzarr.copy(g, MemoryStore(), **kwargs)  # the same copy into a working store
    assert np.array_equal(out["climate/pressure"][...], np.eye(64, dtype="f4"))


class SlowFailingStore(FailingStore):
    """Slow chunk writes: when one fails, others are still running on the executor."""

    def set(self, key, value):
        if "/c/" in key:
            time.sleep(0.02)
        super().set(key, value)


def test_a_copy_failing_on_an_executor_waits_for_running_jobs_before_cleaning_up():
    g = _climate(MemoryStore())
    dst = SlowFailingStore()
    with ThreadPoolExecutor(4) as pool, pytest.raises(exzarr.errors.StoreError, match="connection reset"):
        exzarr.copy(g, dst, executor=pool, max_concurrency=8)
    time.sleep(0.2)  # a job still running after the clean-up would write now
    assert sorted(dst.list()) == []


def test_overlap_message_names_both_locations(tmp_path):
    a = exzarr.save(tmp_path / "a", np.arange(4))
    inside = str(tmp_path / "a" / "sub")
    src = str(tmp_path / "a")
    with pytest.raises(
        ValueError, match=f"destination '{inside}' .* overlaps the source '{src}' .*array '/'.*lies inside the source"
    ):
        exzarr.copy(a, inside)
    with pytest.raises(ValueError, match=f"'{src}' .*LocalStore.* overlaps the source '{src}' .*: they are the same location"):
        exzarr.copy(a, LocalStore(tmp_path / "a"))
    g = exzarr.create_group(tmp_path / "g")
    g.create_array("x", shape=(2,), dtype="u1")
    with pytest.raises(
        ValueError, match=f"'{tmp_path / 'g'}' .* overlaps the source '{tmp_path / 'g' / 'x'}' .*contains the source"
    ):
        exzarr.copy(g["x"], tmp_path / "g", mode="w")


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_failed_array_copy_to_a_store_root_removes_only_its_own_keys(tmp_path, zarr_format):
    """Undoing an array copied to the root of a store that holds other nodes deletes that array's
    metadata and chunk keys only (a prefix delete of the root would take every node with it)."""
    src = exzarr.create(tmp_path / "src", shape=(64, 64), chunks=(8, 8), dtype="f4", zarr_format=zarr_format)
    src[...] = 1.0

    class RootFailing(MemoryStore):
        def set(self, key, value):
            if key in ("c/3/1", "3.1"):
                raise exzarr.errors.StoreError(f"cannot put {key!r}: connection reset")
            super().set(key, value)

    dst = RootFailing()
    exzarr.create(dst, path="keep", shape=(3,), dtype="i4", zarr_format=zarr_format)[...] = [1, 2, 3]
    with pytest.raises(exzarr.errors.StoreError, match="connection reset"):
        exzarr.copy(src, dst, max_concurrency=1, zarr_format=zarr_format)
    assert exzarr.open_array(dst, path="keep")[...].tolist() == [1, 2, 3]
    assert all(k.startswith("keep/") for k in dst.list())


def test_a_failed_copy_to_a_store_root_keeps_another_nodes_chunk_like_keys(tmp_path):
    """v2 keys with '/' separators: another node's ``3/0`` parses as chunk (3, 0) of a 2-d array
    copied to the root; undoing the failed copy must leave it alone."""

    class FailOnFirstChunk(MemoryStore):
        def set(self, key, value):
            if key == "0/0":
                raise exzarr.errors.StoreError(f"cannot put {key!r}: connection reset")
            super().set(key, value)

    st = FailOnFirstChunk()
    other = exzarr.create(st, path="3", shape=(4,), chunks=(1,), dtype="u1", zarr_format=2, mode="w")
    other[...] = 7
    src = exzarr.create(tmp_path / "s", shape=(8, 8), chunks=(2, 2), dtype="f8", zarr_format=2, dimension_separator="/")
    src[...] = 1
    with pytest.raises(exzarr.errors.StoreError, match="connection reset"):
        exzarr.copy(src, st, mode="w-", max_concurrency=1)
    assert exzarr.open_array(st, path="3")[...].tolist() == [7, 7, 7, 7]
    assert sorted(st.list()) == ["3/.zarray", "3/.zattrs", "3/0", "3/1", "3/2", "3/3"]
