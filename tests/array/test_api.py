"""The public API: create/open modes, stores by URL, attrs, named dimensions, resize/append, empty chunks."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import exzarr
from exzarr.errors import NodeExistsError, NodeNotFoundError, ReadOnlyError


def test_seed_quick_start(tmp_path):
    a = exzarr.create(shape=(1000, 1000), chunks=(100, 100), dtype="float64", compressor="zstd",
                      storage="filesystem", path=str(tmp_path / "data" / "a.zarr"))  # fmt: skip
    data = np.random.default_rng(1).random((400, 400))
    a.set_slice(data, start=(0, 0), stop=(400, 400))
    assert np.array_equal(a.get_slice(start=(0, 0), stop=(400, 400)), data)
    assert np.array_equal(a[0:400, 0:400], data)
    assert exzarr.metadata.num_chunks(a.metadata) == (10, 10) == a.nchunks_per_dim
    assert a.nchunks == 100 and a.nchunks_initialized == 16
    b = exzarr.open(path=str(tmp_path / "data" / "a.zarr"))
    assert b.read_only and np.array_equal(b[0:400, 0:400], data)


def test_properties(tmp_path):
    a = exzarr.create(tmp_path / "p", shape=(5, 6), chunks=(2, 4), dtype="<i2", fill_value=3, attributes={"k": 1},
                      dimension_names=["y", "x"])  # fmt: skip
    assert (a.shape, a.chunks, a.ndim, a.size, a.nbytes) == ((5, 6), (2, 4), 2, 30, 60)
    assert a.dtype == np.dtype("int16") and a.fill_value == 3 and a.zarr_format == 3
    assert a.path == "" and isinstance(a.store, exzarr.LocalStore) and not a.read_only
    assert a.dimension_names == ("y", "x") and dict(a.attrs) == {"k": 1} and len(a) == 5
    assert "zstd" in str(a.info) and "(5, 6)" in repr(a)
    assert np.array_equal(np.asarray(a), np.full((5, 6), 3, "int16"))


@pytest.mark.parametrize("fmt", [2, 3])
def test_modes(tmp_path, fmt):
    p = tmp_path / "m"
    exzarr.create(p, shape=(4,), chunks=(2,), zarr_format=fmt)[...] = 1
    with pytest.raises(NodeExistsError):
        exzarr.create(p, shape=(4,), chunks=(2,), zarr_format=fmt)
    same = exzarr.create(p, shape=(9,), chunks=(2,), zarr_format=fmt, mode="a")
    assert same.shape == (4,) and same[...].tolist() == [1, 1, 1, 1]
    fresh = exzarr.create(p, shape=(3,), chunks=(2,), zarr_format=fmt, mode="w")
    assert fresh.shape == (3,) and fresh[...].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="mode"):
        exzarr.create(p, shape=(3,), chunks=(2,), mode="r")
    with pytest.raises(ValueError, match="mode"):
        exzarr.open(p, mode="q")


@pytest.mark.parametrize("mode", ["r", "r+"])
def test_open_missing_never_creates(tmp_path, mode):
    for fn in (exzarr.open, exzarr.open_array, exzarr.open_group):
        with pytest.raises(NodeNotFoundError):
            fn(tmp_path / "missing", mode=mode)
        with pytest.raises(FileNotFoundError):
            fn(tmp_path / "missing", mode=mode)
    assert not (tmp_path / "missing").exists()


def test_open_kinds(tmp_path):
    g = exzarr.open(tmp_path / "g", mode="a")
    assert isinstance(g, exzarr.Group)
    a = exzarr.open(tmp_path / "arr", mode="w", shape=(3,), chunks=(3,))
    assert isinstance(a, exzarr.Array)
    with pytest.raises(NodeNotFoundError, match="group"):
        exzarr.open_array(tmp_path / "g")
    with pytest.raises(NodeNotFoundError, match="array"):
        exzarr.open_group(tmp_path / "arr", mode="r")
    assert isinstance(exzarr.open_array(tmp_path / "new", mode="a", shape=(2,), chunks=(1,)), exzarr.Array)
    r = exzarr.open(tmp_path / "arr", mode="r+")
    r[0] = 5
    assert exzarr.open(tmp_path / "arr")[0] == 5


def test_store_forms(tmp_path):
    a = exzarr.create("memory://forms", shape=(3,), chunks=(2,), mode="w")
    a[...] = [1, 2, 3]
    assert exzarr.load("memory://forms").tolist() == [1, 2, 3]
    b = exzarr.create(shape=(2,), chunks=(2,), storage="memory", path="named-mem", mode="w")
    b[...] = 4
    assert exzarr.open(storage="memory", path="named-mem")[...].tolist() == [4, 4]
    c = exzarr.create(f"file://{tmp_path}/viaurl", shape=(2,), chunks=(2,))
    c[...] = 2
    assert exzarr.open(tmp_path / "viaurl")[...].tolist() == [2, 2]
    store = exzarr.MemoryStore()
    d = exzarr.create(store, shape=(2, 2), chunks=(1, 1), node="deep/arr")
    assert d.path == "deep/arr" and store.exists("deep/arr/zarr.json")
    with pytest.raises(exzarr.errors.StoreError, match="s3"):
        exzarr.open("s3://bucket/x")
    with pytest.raises(exzarr.errors.StoreError, match="unknown backend"):
        exzarr.create(shape=(1,), storage="tape", path="x")


@pytest.mark.parametrize("fmt", [2, 3])
def test_zip_store_roundtrip(tmp_path, fmt):
    p = tmp_path / "arr.zip"
    with exzarr.create(p, shape=(10, 10), chunks=(4, 4), dtype="u1", zarr_format=fmt) as a:
        a[...] = np.arange(100).reshape(10, 10)
        a[0:4, 0:4] = 0  # rewrite to fill: zip cannot delete, so the chunk is rewritten
    r = exzarr.open(p)
    exp = np.arange(100, dtype="u1").reshape(10, 10)
    exp[0:4, 0:4] = 0
    assert np.array_equal(r[...], exp)
    assert isinstance(r.store, exzarr.ZipStore)
    r.store.close()
    z = exzarr.open(p, storage="zip")
    assert np.array_equal(z[...], exp)


@pytest.mark.parametrize("fmt", [2, 3])
def test_save_load(tmp_path, fmt):
    x = np.arange(24, dtype="f4").reshape(2, 3, 4)
    exzarr.save(tmp_path / "s", x, chunks=(1, 2, 2), zarr_format=fmt, compressor="lz4")
    y = exzarr.load(tmp_path / "s")
    assert y.dtype == x.dtype and np.array_equal(x, y)
    g = exzarr.create_group(tmp_path / "g", zarr_format=fmt)
    g.create_array("a", shape=(2,), chunks=(2,), dtype="i1")[...] = [1, 2]
    g.create_array("sub/b", shape=(1,), chunks=(1,), dtype="i1")[...] = [3]
    loaded = exzarr.load(tmp_path / "g")
    assert sorted(loaded) == ["a", "sub/b"] and loaded["sub/b"].tolist() == [3]


@pytest.mark.parametrize("fmt", [2, 3])
def test_attrs_write_through(tmp_path, fmt):
    a = exzarr.create(tmp_path / "a", shape=(2,), chunks=(2,), zarr_format=fmt)
    a.attrs["units"] = "m"
    a.attrs.update({"scale": 2.5, "tags": ["x"]})
    del a.attrs["scale"]
    on_disk = json.loads((tmp_path / "a" / (".zattrs" if fmt == 2 else "zarr.json")).read_text())
    on_disk = on_disk if fmt == 2 else on_disk["attributes"]
    assert on_disk == {"units": "m", "tags": ["x"]}
    assert dict(exzarr.open(tmp_path / "a").attrs) == {"units": "m", "tags": ["x"]}
    g = exzarr.create_group(tmp_path / "g", zarr_format=fmt)
    g.attrs["title"] = "t"
    assert dict(exzarr.open_group(tmp_path / "g", mode="r").attrs) == {"title": "t"}
    with pytest.raises(exzarr.errors.MetadataError, match="JSON"):
        a.attrs["bad"] = object()
    assert "bad" not in exzarr.open(tmp_path / "a").attrs


def test_named_dimensions(tmp_path):
    a = exzarr.create(tmp_path / "n", shape=(50, 4, 3), chunks=(10, 2, 3), dtype="i4", dimension_names=["time", "lat", "lon"])
    x = np.arange(600, dtype="i4").reshape(50, 4, 3)
    a[...] = x
    assert np.array_equal(a.get_slice(time=slice(0, 30)), x[0:30])
    assert np.array_equal(a.get_slice(time=range(5, 10), lat=1), x[5:10, 1])
    assert np.array_equal(a.get_slice(time=(0, 31)), x[0:31])
    a.set_slice(-1, time=5)
    assert (a[5] == -1).all()
    with pytest.raises(TypeError, match="'depth'.*not a dimension name"):
        a.get_slice(depth=1)
    with pytest.raises(TypeError, match="'parallel'"):
        a.get_slice(parallel=2)  # a misspelled option is not silently a dimension
    v2 = exzarr.create(tmp_path / "n2", shape=(4, 2), chunks=(2, 2), zarr_format=2, dimension_names=["t", "x"])
    assert exzarr.open(tmp_path / "n2").dimension_names == ("t", "x")
    assert exzarr.open(tmp_path / "n2").attrs["_ARRAY_DIMENSIONS"] == ["t", "x"]
    assert v2.get_slice(t=1).shape == (2,)


def test_get_slice_forms():
    a = exzarr.create(shape=(10, 10), chunks=(3, 3), dtype="i4")
    x = np.arange(100, dtype="i4").reshape(10, 10)
    a[...] = x
    assert np.array_equal(a.get_slice(start=(-3, 0), stop=(10, 4)), x[-3:10, 0:4])
    assert np.array_equal(a.get_slice(start=(0, 0), stop=(10, 10), step=(2, -1)), x[0:10:2, 0:10:-1])
    assert np.array_equal(a.get_slice(start=(9, 0), stop=(None, None), step=(-1, 3)), x[9::-1, ::3])
    assert a.get_slice(start=(2, 2), stop=(2, 5)).shape == (0, 3)
    with pytest.raises(IndexError):
        a.get_slice(start=(0, 0), stop=(11, 10))
    with pytest.raises(IndexError):
        a.get_slice(start=(5, 0), stop=(4, 10))
    with pytest.raises(IndexError):
        a.get_slice(start=(0,), stop=(1, 1))


@pytest.mark.parametrize("fmt", [2, 3])
def test_write_empty_chunks(tmp_path, fmt):
    a = exzarr.create(tmp_path / "e", shape=(8, 8), chunks=(4, 4), fill_value=0, zarr_format=fmt)
    a[...] = 0
    assert a.nchunks_initialized == 0
    a[0, 0] = 1
    assert a.nchunks_initialized == 1
    a[0, 0] = 0  # chunk becomes all fill: deleted
    assert a.nchunks_initialized == 0
    nan = exzarr.create(tmp_path / "nan", shape=(4,), chunks=(2,), fill_value=np.nan, zarr_format=fmt)
    nan[...] = np.nan
    assert nan.nchunks_initialized == 0
    nan[...] = -0.0  # -0.0 == 0.0 but is not the fill bit pattern: must be stored
    assert nan.nchunks_initialized == 2 and np.signbit(nan[...]).all()
    keep = exzarr.create(tmp_path / "k", shape=(4,), chunks=(2,), zarr_format=fmt, write_empty_chunks=True)
    keep[...] = 0
    assert keep.nchunks_initialized == 2


def test_edge_chunks_stored_full_size(tmp_path):
    a = exzarr.create(tmp_path / "edge", shape=(5, 3), chunks=(4, 2), dtype="<u2", compressor=None)
    a[...] = 7
    assert (tmp_path / "edge" / "c" / "1" / "1").stat().st_size == 4 * 2 * 2
    assert a[...].tolist() == [[7] * 3] * 5


def test_resize_and_append(tmp_path):
    a = exzarr.create(tmp_path / "r", shape=(4, 4), chunks=(3, 3), dtype="i2", fill_value=-1)
    a[...] = np.arange(16).reshape(4, 4)
    a.resize((2, 5))
    assert a[...].tolist() == [[0, 1, 2, 3, -1], [4, 5, 6, 7, -1]]
    a.resize(4, 5)
    assert a[2:].tolist() == [[-1] * 5] * 2  # shrunk-away data does not come back
    assert exzarr.open(tmp_path / "r").shape == (4, 5)
    new = a.append(np.zeros((2, 5), "i2"))
    assert new == (6, 5) and a.shape == (6, 5) and (a[4:] == 0).all()
    a.append(np.ones((6, 1), "i2"), axis=1)
    assert a.shape == (6, 6) and (a[:, 5] == 1).all()
    with pytest.raises(ValueError, match="append"):
        a.append(np.ones((2, 2)), axis=0)
    with pytest.raises(ValueError, match="dimensions"):
        a.resize((2,))


def test_strings_and_bytes():
    s = exzarr.create(shape=(5,), chunks=(2,), dtype=str)
    s[...] = ["a", "bb", "", "ü", "long string"]
    assert s[...].tolist() == ["a", "bb", "", "ü", "long string"] and s.fill_value == ""
    s[1] = "x"
    assert s[0:3].tolist() == ["a", "x", ""]
    b = exzarr.create(shape=(3,), chunks=(2,), dtype=bytes, zarr_format=2)
    b[...] = [b"\x00", b"ab", b""]
    assert b[...].tolist() == [b"\x00", b"ab", b""]


def test_zero_dim():
    a = exzarr.create(shape=(), chunks=(), dtype="f8", fill_value=1.5)
    assert a[...] == 1.5 and a[()] == 1.5
    a[...] = 2
    assert float(a[...]) == 2.0 and a.nchunks == 1


def test_read_only_array(tmp_path):
    exzarr.create(tmp_path / "ro", shape=(2,), chunks=(2,))[...] = 5
    r = exzarr.open(tmp_path / "ro")
    for op in (lambda: r.__setitem__(0, 1), lambda: r.resize((3,)), lambda: r.attrs.update(a=1), lambda: r.append([1])):
        with pytest.raises(ReadOnlyError):
            op()
        with pytest.raises(PermissionError):
            op()
    assert exzarr.open(tmp_path / "ro")[...].tolist() == [5, 5]


def test_pickle_array(tmp_path):
    a = exzarr.create(tmp_path / "pk", shape=(6,), chunks=(4,), dtype="i8")
    a[...] = range(6)
    b = pickle.loads(pickle.dumps(a))
    assert b[...].tolist() == list(range(6)) and b == a
    m = exzarr.create(shape=(3,), chunks=(3,))
    m[...] = 1
    assert pickle.loads(pickle.dumps(m))[...].tolist() == [1, 1, 1]


def test_chunk_primitives():
    a = exzarr.create(shape=(5, 5), chunks=(2, 2), dtype="i4", fill_value=9)
    a.write_chunk((2, 2), [[1]])
    assert a.read_chunk((2, 2)).shape == (2, 2) and a.read_chunk((2, 2))[0, 0] == 1
    assert a[4, 4] == 1 and a.chunk_key((2, 2)) == "c/2/2"
    assert a.read_chunk((0, 0)).tolist() == [[9, 9], [9, 9]]
    with pytest.raises(IndexError):
        a.read_chunk((3, 0))
    assert list(a.stored_chunks()) == [(2, 2)]


def test_fancy_getitem_dispatch():
    a = exzarr.create(shape=(4, 5), chunks=(3, 2), dtype="i4")
    x = np.arange(20, dtype="i4").reshape(4, 5)
    a[...] = x
    assert np.array_equal(a[[3, 0, 3]], x[[3, 0, 3]])
    assert np.array_equal(a[:, [4, 1]], x[:, [4, 1]])
    assert np.array_equal(a[[0, 2], [1, 4]], x[[0, 2], [1, 4]])
    assert np.array_equal(a[x > 10], x[x > 10])
    a[x > 10] = 0
    x[x > 10] = 0
    assert np.array_equal(a[...], x)
    assert np.array_equal(a.oindex[[0, 1], [0, 1]], x[np.ix_([0, 1], [0, 1])])
    assert np.array_equal(a.blocks[1, 2], x[3:, 4:])
    a.blocks[0, 0] = 5
    assert (a[0:3, 0:2] == 5).all()


@pytest.mark.parametrize("shape", [(), (5,), (4, 5), (2, 3, 4)])
def test_getitem_gives_a_scalar_or_an_array_exactly_when_numpy_does(shape):
    """All-integer indexes give a scalar, unless an Ellipsis is among them: then NumPy gives a
    0-d array (``x[..., 0]`` on 1-d, ``x[1, ..., 2]``), and so must we."""
    x = np.arange(int(np.prod(shape)), dtype="i4").reshape(shape) + 1
    a = exzarr.create(shape=shape, chunks=tuple(max(1, n // 2) for n in shape), dtype="i4")
    a[...] = x
    ints = [1] * len(shape)
    selections = [(), ..., (...,), tuple(ints), (..., *ints), (*ints, ...), (*ints[:1], ..., *ints[1:])]
    selections += [(slice(None),) * len(shape), (..., *ints[1:])] if shape else []
    for sel in selections:
        want, got = x[sel], a[sel]
        assert type(got) is type(want), (shape, sel, type(got), type(want))
        assert np.shape(got) == np.shape(want) and np.array_equal(got, want), (shape, sel)
