"""exzarr.copy: raw copies, v2 <-> v3 conversion, re-encoding, rechunking, groups, progress."""

from __future__ import annotations

import warnings

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
