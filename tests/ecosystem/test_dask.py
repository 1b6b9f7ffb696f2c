"""Dask support on a real ``distributed.LocalCluster`` (two worker processes) and on Dask's
threaded scheduler: ``Array.to_dask``, ``exzarr.from_dask``/``Array.store_dask``, and
``executor=`` for ``parallel_chunk_map`` and ``exzarr.copy``.

The client is not made the default: each distributed test passes it explicitly (``scheduler=``,
``client.compute``, ``executor=``), so the threaded tests really run on threads.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import dask
import dask.array as da
import numpy as np
import pytest
from dask.base import tokenize
from distributed import Client, LocalCluster

import exzarr
from exzarr.dask import aligned_chunks, write_units
from exzarr.errors import CastError, ReadOnlyError, ShapeMismatchError


@pytest.fixture(scope="module")
def client():
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        with Client(cluster, set_as_default=False) as c:
            yield c


def _data(shape, dtype="f8"):
    return (np.arange(int(np.prod(shape)), dtype="f8").reshape(shape) * 1.5 - 7).astype(dtype)


LAYOUTS = {
    "v3": dict(chunks=(10, 7)),
    "v3-sharded": dict(chunks=(4, 5), shards=(8, 10)),
    "v2": dict(chunks=(10, 7), zarr_format=2),
    "v3-F": dict(chunks=(10, 7), order="F"),
    "v2-F": dict(chunks=(10, 7), zarr_format=2, order="F"),
}


def _expected_blocks(shape, unit):
    return tuple(tuple(min(u, n - k) for k in range(0, n, u)) for n, u in zip(shape, unit, strict=True))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_to_dask_values_and_blocks(tmp_path, client, layout):
    shape = (33, 23)  # partial edge chunks (and shards) on both axes
    a = exzarr.create(tmp_path / "a.zarr", shape=shape, dtype="f8", **LAYOUTS[layout])
    ref = _data(shape)
    a[...] = ref
    x = a.to_dask()
    unit = (8, 10) if layout == "v3-sharded" else (10, 7)
    assert write_units(a) == unit
    assert x.chunks == _expected_blocks(shape, unit)
    assert x.dtype == a.dtype
    np.testing.assert_array_equal(x.compute(scheduler="threads"), ref)
    np.testing.assert_array_equal(client.compute(x).result(), ref)
    assert float(client.compute(x[3:30, 5:].sum()).result()) == float(ref[3:30, 5:].sum())


def test_to_dask_other_blocks_and_missing_chunks(tmp_path):
    a = exzarr.create(tmp_path / "a.zarr", shape=(20, 20), chunks=(5, 5), dtype="i4", fill_value=-1)
    a[0:5, 0:5] = 3  # the other chunks are not stored: they read as the fill value
    x = a.to_dask(chunks=(10, 20))
    assert x.chunks == ((10, 10), (20,))
    ref = np.full((20, 20), -1, "i4")
    ref[0:5, 0:5] = 3
    np.testing.assert_array_equal(x.compute(scheduler="threads"), ref)


def test_to_dask_zero_d_and_vlen_strings(tmp_path, client):
    z = exzarr.create(tmp_path / "z.zarr", shape=(), chunks=(), dtype="f8")
    z[()] = 2.5
    x = z.to_dask()
    assert x.shape == () and x.chunks == ()
    assert x.compute(scheduler="threads") == 2.5
    assert client.compute(x).result() == 2.5

    words = np.array(["a", "bb", "", "dddd", "é", "ff", "g"], dtype=object)
    s = exzarr.create(tmp_path / "s.zarr", shape=(7,), chunks=(3,), dtype=str)
    s[...] = words
    y = s.to_dask()
    assert y.dtype == object and y.chunks == ((3, 3, 1),)
    assert list(y.compute(scheduler="threads")) == list(words)
    assert list(client.compute(y).result()) == list(words)

    back = exzarr.from_dask(y, tmp_path / "s2.zarr", dtype=str, chunks=(2,), scheduler=client)
    assert list(back[...]) == list(words)
    blobs = np.array([b"\x00", b"", b"xyz", b"\xff" * 9], dtype=object)
    bb = exzarr.from_dask(da.from_array(blobs, chunks=3), tmp_path / "b.zarr", dtype=bytes, scheduler=client)
    assert list(client.compute(bb.to_dask()).result()) == list(blobs)
    with pytest.raises(CastError, match="must be str, got bytes"):  # object dtype defaults to vlen str
        exzarr.from_dask(da.from_array(blobs, chunks=3), tmp_path / "b2.zarr", scheduler="threads")
    z2 = exzarr.from_dask(x * 2, tmp_path / "z2.zarr", scheduler=client)
    assert z2.shape == () and z2[()] == 5.0


def test_token_is_stable_and_distinguishes_arrays(tmp_path, client):
    a = exzarr.create(tmp_path / "a.zarr", shape=(10, 10), chunks=(5, 5), dtype="f8")
    a[...] = 1.0
    name = a.to_dask().name
    assert name.startswith("exzarr-")
    assert a.to_dask().name == name == exzarr.open(tmp_path / "a.zarr").to_dask().name
    assert pickle.loads(pickle.dumps(a)).to_dask().name == name
    assert tokenize(pickle.loads(pickle.dumps(a))) == tokenize(a)
    # computed in another process (a cluster worker) it is the same
    assert client.submit(lambda arr: arr.to_dask().name, a, pure=False).result() == name
    b = exzarr.create(tmp_path / "b.zarr", shape=(10, 10), chunks=(5, 5), dtype="f8")  # same metadata, other path
    c = exzarr.create(tmp_path / "c.zarr", shape=(10, 10), chunks=(5, 5), dtype="f4")  # other metadata
    (tmp_path / "other").mkdir()
    d = exzarr.create(tmp_path / "other" / "a.zarr", shape=(10, 10), chunks=(5, 5), dtype="f8")  # other store dir
    names = {name, b.to_dask().name, c.to_dask().name, d.to_dask().name, a.to_dask(chunks=(10, 10)).name}
    assert len(names) == 5
    a.attrs["units"] = "K"  # the metadata changed
    assert a.to_dask().name != name


def test_aligned_chunks_plans_write_units():
    assert aligned_chunks(((7,) * 28 + (4,),), (10,), (200,)) == ((10,) * 20,)
    assert aligned_chunks(((20, 20, 10), (3, 3)), (10, 2), (50, 6)) == ((20, 20, 10), (4, 2))
    assert aligned_chunks(((30, 20),), (10,), (50,)) is None
    assert aligned_chunks(((25, 25),), (10,), (50,)) == ((20, 20, 10),)
    assert aligned_chunks(((3, 3, 3, 1),), (4,), (10,)) == ((4, 4, 2),)


@pytest.mark.parametrize(
    "dask_chunks, kwargs",
    [
        ((10, 30), dict(chunks=(10, 10))),  # aligned
        ((7, 30), dict(chunks=(10, 10))),  # misaligned: 7-row blocks into 10-row chunks
        ((7, 13), dict(chunks=(5, 10), shards=(20, 30))),  # misaligned with shards
        ((7, 30), dict(chunks=(10, 10), zarr_format=2, compressor="zlib")),
    ],
)
def test_from_dask_under_the_distributed_client_writes_every_value(tmp_path, client, dask_chunks, kwargs):
    ref = _data((200, 30))
    x = da.from_array(ref, chunks=dask_chunks) + 0.0  # a computed dask graph, not a plain copy
    assert x.numblocks[0] >= 10
    a = exzarr.from_dask(x, tmp_path / "a.zarr", scheduler=client, **kwargs)
    assert a.shape == ref.shape and a.dtype == ref.dtype and a.chunks == kwargs["chunks"]
    assert a.shards == kwargs.get("shards")
    back = exzarr.open(tmp_path / "a.zarr")
    np.testing.assert_array_equal(back[...], ref)  # no lost update anywhere
    stored = set(back.stored_chunks())
    assert stored == {(i, j) for i in range(back.nchunks_per_dim[0]) for j in range(back.nchunks_per_dim[1])}


def test_from_dask_default_chunks_and_store_dask_threaded(tmp_path):
    ref = _data((50, 40), "i8")
    a = exzarr.from_dask(da.from_array(ref, chunks=(25, 20)), tmp_path / "a.zarr")
    assert a.chunks == (25, 20)
    np.testing.assert_array_equal(a[...], ref)
    # an existing array, threaded scheduler, misaligned and with a cast that keeps the kind
    b = exzarr.create(tmp_path / "b.zarr", shape=(50, 40), chunks=(8, 8), dtype="i8", fill_value=0)
    with dask.config.set(scheduler="threads"):
        assert b.store_dask(da.from_array(ref.astype("i4"), chunks=(3, 11))) is b
    np.testing.assert_array_equal(b[...], ref)


def test_store_dask_with_the_client_as_default_scheduler(tmp_path, client):
    ref = _data((60, 6))
    a = exzarr.create(tmp_path / "a.zarr", shape=(60, 6), chunks=(10, 6), dtype="f8")
    with dask.config.set(scheduler=client):
        a.store_dask(da.from_array(ref, chunks=(7, 6)) * 2)
        np.testing.assert_array_equal(a.to_dask().compute(), ref * 2)


def test_store_dask_errors_are_clear(tmp_path, client):
    a = exzarr.create(tmp_path / "a.zarr", shape=(10, 10), chunks=(5, 5), dtype="i4")
    with pytest.raises(ShapeMismatchError, match=r"'/'.*shape \(10, 9\).*\(10, 10\)"):
        a.store_dask(da.zeros((10, 9), dtype="i4", chunks=5))
    with pytest.raises(CastError, match="float64 into dtype int32"):
        a.store_dask(da.zeros((10, 10), dtype="f8", chunks=5))
    with pytest.raises(TypeError, match="dask.array.Array"):
        a.store_dask(np.zeros((10, 10), "i4"))
    unknown = da.from_array(np.arange(10), chunks=3)
    unknown = unknown[unknown > 2]
    with pytest.raises(ShapeMismatchError, match="compute_chunk_sizes"):
        exzarr.from_dask(unknown, tmp_path / "u.zarr")
    with pytest.raises(ShapeMismatchError, match="shape="):
        exzarr.from_dask(da.zeros((4,), chunks=2), tmp_path / "s.zarr", shape=(5,))
    ro = exzarr.open(tmp_path / "a.zarr")
    with pytest.raises(ReadOnlyError, match="read-only"):
        ro.store_dask(da.zeros((10, 10), dtype="i4", chunks=5))
    m = exzarr.create("memory://dask-store-errors", shape=(10,), chunks=(5,), dtype="i4")
    with pytest.raises(ValueError, match="memory store"):
        m.store_dask(da.ones((10,), dtype="i4", chunks=5), scheduler=client)
    assert m.nchunks_initialized == 0
    m.store_dask(da.ones((10,), dtype="i4", chunks=3), scheduler="threads")  # threads share the memory store
    assert m[...].tolist() == [1] * 10
    assert a.nchunks_initialized == 0  # nothing was written by the failed calls


def test_from_dask_checks_before_replacing_anything(tmp_path, client):
    ref = np.array([1.5, 2.5, 3.5, 4.5])
    p = tmp_path / "old.zarr"
    exzarr.create(p, shape=(4,), chunks=(2,), dtype="f8")[...] = ref
    mem = exzarr.create("memory://from-dask-keep", shape=(4,), chunks=(2,), dtype="f8")
    mem[...] = ref
    x = da.from_array(np.arange(6.0), chunks=3)
    with pytest.raises(CastError, match="'/': cannot store a dask array of dtype float64 into dtype int32"):
        exzarr.from_dask(x, p, mode="w", dtype="i4")
    with pytest.raises(CastError, match="'/sub/a'.*float64 into dtype int32"):
        exzarr.from_dask(x, p, mode="w", dtype="i4", node="sub/a")
    with pytest.raises(ValueError, match="chunks"):  # chunks of another rank
        exzarr.from_dask(x, p, mode="w", chunks=(3, 3))
    with pytest.raises(ValueError, match="in-process memory store"):  # the cluster's workers cannot reach it
        exzarr.from_dask(x, "memory://from-dask-keep", mode="w", scheduler=client)
    with pytest.raises(ValueError, match="writable mode"):
        exzarr.from_dask(x, p, mode="r+")
    for where in (p, "memory://from-dask-keep"):
        back = exzarr.open_array(where)
        assert back.dtype == np.dtype("f8") and back[...].tolist() == ref.tolist()
    a = exzarr.from_dask(x.astype("i2"), tmp_path / "new.zarr", dtype="i4", node="sub/a", chunks=(4,))  # int16 -> int32
    assert a.name == "/sub/a" and a.chunks == (4,) and a[...].tolist() == list(range(6))
    assert exzarr.open_array(tmp_path / "new.zarr", path="sub/a").dtype == np.dtype("i4")


# ----------------------------------------------------------------------------- executors


def chunk_summary(item):
    """Module level, so a process pool pickles it by reference (the pool forks)."""
    idx, data = item
    return idx, data.shape, float(data.sum())


def _fork_pool():
    return ProcessPoolExecutor(2, mp_context=mp.get_context("fork"))


@pytest.fixture
def mapped(tmp_path):
    a = exzarr.create(tmp_path / "m.zarr", shape=(45, 17), chunks=(10, 5), dtype="f8", fill_value=0.5)
    a[...] = _data((45, 17))
    a[10:20, :] = 0.5  # chunk row 1 is all fill: not stored
    return a


@pytest.mark.parametrize("kind", ["client", "threads", "processes"])
def test_parallel_chunk_map_on_executors_matches_threads(mapped, client, kind):
    a = mapped
    want = list(a.parallel_chunk_map(chunk_summary))
    assert len(want) == a.nchunks - 4
    want_all = list(a.parallel_chunk_map(chunk_summary, include_missing=True, filter=lambda i: i[1] != 2))
    pool = None
    if kind == "client":
        executor, fn = client, lambda item: (item[0], item[1].shape, float(item[1].sum()))
    elif kind == "threads":
        executor = pool = ThreadPoolExecutor(3)
        fn = chunk_summary
    else:
        executor = pool = _fork_pool()
        fn = chunk_summary
    try:
        seen = []
        got = list(a.parallel_chunk_map(fn, executor=executor, progress=lambda d, t: seen.append((d, t))))
        assert got == want
        assert seen == [(k, len(want)) for k in range(1, len(want) + 1)]
        unordered = list(a.parallel_chunk_map(fn, executor=executor, ordered=False, max_concurrency=2))
        assert sorted(unordered) == sorted(want)
        got_all = list(
            a.parallel_chunk_map(fn, executor=executor, include_missing=True, filter=lambda i: i[1] != 2, max_concurrency=3)
        )
        assert got_all == want_all
    finally:
        if pool is not None:
            pool.shutdown()


def test_parallel_chunk_map_executor_errors(mapped, client):
    a = mapped

    def fails(item):
        if item[0] == (2, 1):
            raise ValueError("bad chunk")
        return item[0]

    with pytest.raises(ValueError, match="bad chunk") as info:
        list(a.parallel_chunk_map(fails, executor=client))
    assert any("(2, 1)" in n and "key" in n for n in getattr(info.value, "__notes__", []))
    out = list(a.parallel_chunk_map(fails, executor=client, return_exceptions=True))
    assert [type(r).__name__ for r in out].count("ValueError") == 1
    assert [r for r in out if isinstance(r, tuple)] == [i for i in sorted(a.stored_chunks()) if i != (2, 1)]

    lock = threading.Lock()
    with _fork_pool() as pool, pytest.raises(TypeError, match="fn .* cannot be pickled.*ProcessPoolExecutor"):
        a.parallel_chunk_map(lambda item: item[0], executor=pool)
    with pytest.raises(TypeError, match="cannot be pickled.*Client"):
        a.parallel_chunk_map(lambda item: (lock, item[0]), executor=client)
    with pytest.raises(TypeError, match="executor must be"):
        a.parallel_chunk_map(chunk_summary, executor=object())
    with ThreadPoolExecutor(2) as pool:  # threads need no pickling; a slow chunk times out, named
        import time

        with pytest.raises(TimeoutError, match=r"chunk \(0, 0\)"):
            list(a.parallel_chunk_map(lambda item: time.sleep(0.6 if item[0] == (0, 0) else 0), executor=pool, timeout=0.2))


class NotesDroppedError(Exception):
    """Pickles without its ``__dict__``, so without the notes added on the worker."""

    def __reduce__(self):
        return (type(self), self.args)


class NotRebuiltError(Exception):
    """Pickles, but cannot be rebuilt from its args: it would break a process pool."""

    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


def fails_in_column_1(item):
    idx, _ = item
    if idx == (0, 1):
        raise NotesDroppedError("dropped")
    if idx == (2, 1):
        err = ValueError("holds a lock")
        err.lock = threading.Lock()  # distributed cannot pickle it and sends a bare Exception back
        raise err
    if idx == (3, 1):
        raise NotRebuiltError(1, 2)
    return idx


@pytest.mark.parametrize("kind", ["client", "processes"])
def test_parallel_chunk_map_executor_errors_carry_the_chunk_note(mapped, client, kind):
    a = mapped
    note = "while mapping chunk (0, 1) (key 'c/0/1') of array '/'"
    with pytest.raises(NotesDroppedError) as local:
        list(a.parallel_chunk_map(fails_in_column_1))
    assert note in local.value.__notes__  # the local thread path
    with _fork_pool() if kind == "processes" else contextlib.nullcontext(client) as executor:
        with pytest.raises(NotesDroppedError) as info:
            list(a.parallel_chunk_map(fails_in_column_1, executor=executor))
        assert note in info.value.__notes__ and len(info.value.__notes__) == 1
        keep = lambda i: i[0] != 0  # noqa: E731
        out = list(a.parallel_chunk_map(fails_in_column_1, executor=executor, return_exceptions=True, filter=keep))
        idxs = sorted(i for i in a.stored_chunks() if keep(i))
        errors = {i: r for i, r in zip(idxs, out, strict=True) if isinstance(r, BaseException)}
        assert sorted(errors) == [(2, 1), (3, 1)]
        for idx, err in errors.items():
            assert any(f"chunk {idx}" in n for n in err.__notes__), (idx, err)
        assert "1/2" in str(errors[(3, 1)])  # the unrebuildable error did not break the pool
        assert list(a.parallel_chunk_map(chunk_summary, executor=executor, max_concurrency=2))  # still usable


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # raw copy of the stored objects
        dict(chunks=(7, 9)),  # rechunk
        dict(zarr_format=3),  # v2 -> v3
        dict(zarr_format=3, chunks=(4, 4), shards=(8, 12), compressor="zstd"),
    ],
)
def test_copy_on_the_cluster_is_exact(tmp_path, client, kwargs):
    ref = _data((30, 24))
    src = exzarr.create(tmp_path / "src.zarr", shape=(30, 24), chunks=(10, 8), dtype="f8", zarr_format=2, compressor="zlib")
    src[...] = ref
    src[0:10, 0:8] = 0  # one chunk not stored
    ref[0:10, 0:8] = 0
    threaded_seen, seen = [], []
    exzarr.copy(src, tmp_path / "t.zarr", progress=lambda d, t: threaded_seen.append((d, t)), **kwargs)
    dst = exzarr.copy(src, tmp_path / "d.zarr", executor=client, progress=lambda d, t: seen.append((d, t)), **kwargs)
    assert seen == threaded_seen and len(seen) > 1
    back = exzarr.open(tmp_path / "d.zarr")
    assert back.zarr_format == kwargs.get("zarr_format", 2) and back.chunks == kwargs.get("chunks", (10, 8))
    np.testing.assert_array_equal(back[...], ref)
    assert dst.shards == kwargs.get("shards")


def test_copy_group_tree_with_process_pool_and_refuses_memory_targets(tmp_path, client):
    g = exzarr.create_group(tmp_path / "g.zarr")
    g.create_array("a", shape=(20,), chunks=(3,), dtype="i4")[...] = np.arange(20)
    g.create_array("sub/b", shape=(5, 5), chunks=(2, 2), dtype="f4")[...] = np.eye(5)
    with _fork_pool() as pool:
        out = exzarr.copy(g, tmp_path / "h.zarr", chunks=None, executor=pool)
    assert out["a"][...].tolist() == list(range(20))
    np.testing.assert_array_equal(out["sub/b"][...], np.eye(5, dtype="f4"))
    with pytest.raises(ValueError, match="memory store"):
        exzarr.copy(g, "memory://dask-copy-target", executor=client)
    with pytest.raises(exzarr.errors.NodeNotFoundError):  # refused before anything was written
        exzarr.open("memory://dask-copy-target")
    with ThreadPoolExecutor(2) as pool:  # threads share memory: allowed
        m = exzarr.copy(g, "memory://dask-copy-target-threads", executor=pool)
    assert m["a"][...].tolist() == list(range(20))


def test_sqlite_store_on_the_cluster(tmp_path, client):
    ref = _data((64, 12))
    url = f"sqlite://{tmp_path / 'db.sqlite'}"  # sqlite:///abs/path
    a = exzarr.from_dask(da.from_array(ref, chunks=(9, 12)), url, chunks=(8, 6), scheduler=client)
    np.testing.assert_array_equal(exzarr.open_array(url)[...], ref)
    np.testing.assert_array_equal(client.compute(a.to_dask()).result(), ref)
    assert a.to_dask().name == exzarr.open_array(url).to_dask().name
