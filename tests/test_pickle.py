"""Every Array and Group pickles (Dask distributed, multiprocessing) on every store that can be
shared, straight from ``create`` (no reopening first), and the copy reads and writes the same data,
also in a fresh interpreter."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import numpy as np
import pytest

import exzarr
from exzarr.storage import LocalStore, MemoryStore, ZipStore

X = np.arange(12 * 10, dtype="f8").reshape(12, 10)

KINDS = {
    "v3": {},
    "v2": {"zarr_format": 2},
    "v2-F-blosc": {"zarr_format": 2, "order": "F", "compressor": "blosc"},
    "sharded": {"shards": (8, 10)},
    "sharded-compressed-whole": {
        "chunks": (4, 10),
        "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 5]}}, {"name": "zstd"}],
    },
    "transposed-sharded": {
        "chunks": (4, 10),
        "codecs": [
            {"name": "transpose", "configuration": {"order": [1, 0]}},
            {"name": "sharding_indexed", "configuration": {"chunk_shape": [5, 2]}},
        ],
    },
    "cached-locked": {"cache_bytes": 1 << 16, "process_locks": True, "write_empty_chunks": True},
    "delta-filter": {"zarr_format": 2, "filters": [{"id": "delta", "dtype": "<f8"}]},
}


def make(store, kind):
    kw = dict(KINDS[kind])
    kw.setdefault("chunks", (4, 5))
    if kind == "cached-locked" and not isinstance(store, LocalStore):
        kw.pop("process_locks")
    a = exzarr.create(store, shape=X.shape, dtype="f8", mode="w", **kw)
    a[...] = X
    return a


def stores(tmp_path):
    return {"local": LocalStore(tmp_path / "l"), "memory": MemoryStore()}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("where", ["local", "memory"])
def test_arrays_from_create_pickle(tmp_path, kind, where):
    a = make(stores(tmp_path)[where], kind)
    b = pickle.loads(pickle.dumps(a))
    assert b.shape == a.shape and b.chunks == a.chunks and b.shards == a.shards and b.options == a.options
    assert np.array_equal(b[...], X) and np.array_equal(b[3:9, 2:7], X[3:9, 2:7])
    b[0, 0] = -1.0
    if where == "local":  # same files: the original sees the write
        assert a[0, 0] == -1.0
    else:  # a memory store pickles with its data: the copy is independent
        assert a[0, 0] == 0.0 and b[0, 0] == -1.0
    assert b.read_only is False and pickle.loads(pickle.dumps(exzarr.open(a.store))).read_only is True


def test_zero_d_and_strings_pickle():
    z = exzarr.create(shape=(), chunks=(), dtype="i2")
    z[...] = 9
    assert pickle.loads(pickle.dumps(z))[...] == 9
    s = exzarr.create(shape=(3,), chunks=(2,), dtype=str)
    s[...] = ["a", "bé", ""]
    assert pickle.loads(pickle.dumps(s))[...].tolist() == ["a", "bé", ""]


def _tree(store):
    g = exzarr.create_group(store, attributes={"t": 1}, mode="w")
    g.create_array("x/y", shape=(4,), chunks=(2,), dtype="i4")[...] = [1, 2, 3, 4]
    g.create_array("s", shape=(4, 4), chunks=(2, 2), shards=(4, 4), dtype="u1")[...] = 7
    return g


@pytest.mark.parametrize("consolidated", [False, True])
def test_groups_pickle(tmp_path, consolidated):
    g = _tree(LocalStore(tmp_path / "g"))
    if consolidated:
        g = exzarr.consolidate_metadata(g)
    g = exzarr.open_group(g.store, cache_bytes=1024) if not consolidated else g
    h = pickle.loads(pickle.dumps(g))
    assert h.consolidated == consolidated and h.attrs["t"] == 1
    assert h["x/y"][...].tolist() == [1, 2, 3, 4] and (h["s"][...] == 7).all()
    assert h["x/y"].options == g["x/y"].options
    assert pickle.loads(pickle.dumps(h["x"]))["y"][1] == 2


def test_zip_store_nodes_pickle(tmp_path):
    p = tmp_path / "a.zip"
    with ZipStore(p, "w") as zs:
        _tree(zs)
    g = exzarr.open_group(str(p), mode="r")
    h = pickle.loads(pickle.dumps(g))
    assert h["x/y"][...].tolist() == [1, 2, 3, 4]
    assert pickle.loads(pickle.dumps(g["s"]))[0, 0] == 7


def _read_in_worker(blob: bytes) -> list[np.ndarray]:
    node = pickle.loads(blob)
    if isinstance(node, exzarr.Group):
        return [node["x/y"][...], node["s"][...]]
    return [node[...], node[3:9, 2:7], node.oindex[[0, 11], :], node.get_basic_selection(..., max_concurrency=1)]


def test_nodes_unpickle_in_a_fresh_interpreter(tmp_path):
    blobs = [pickle.dumps(make(LocalStore(tmp_path / k), k)) for k in KINDS]
    blobs.append(pickle.dumps(make(MemoryStore(), "sharded")))
    blobs.append(pickle.dumps(_tree(LocalStore(tmp_path / "tree"))))
    with mp.get_context("spawn").Pool(1) as pool:
        results = pool.map(_read_in_worker, blobs)
    for whole, part, rows, plain in results[:-1]:
        assert np.array_equal(whole, X) and np.array_equal(plain, X)
        assert np.array_equal(part, X[3:9, 2:7]) and np.array_equal(rows, X[[0, 11]])
    assert results[-1][0].tolist() == [1, 2, 3, 4] and (results[-1][1] == 7).all()
