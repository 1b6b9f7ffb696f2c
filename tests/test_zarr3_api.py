"""zarr-python 3's API carries over: create_array and friends write the documents zarr-python
writes for the same arguments, accept its codec objects, and read/write data both ways."""

from __future__ import annotations

import json
import math
import os
import warnings

import numcodecs
import numpy as np
import pytest
import zarr
import zarr.codecs as zc

import exzarr
from exzarr import creation
from exzarr.errors import MetadataError, NodeExistsError, NodeNotFoundError


def _doc(path, fmt):
    name = "zarr.json" if fmt == 3 else ".zarray"
    d = json.loads((path / name).read_text())
    d.pop("storage_transformers", None)  # zarr-python writes an empty list, exzarr omits it
    return d


# each case: (create_array keywords, given to both libraries); the documents must be equal
CASES = {
    "defaults-f8": dict(shape=(100, 100), dtype="f8", chunks=(10, 10)),
    "defaults-v2": dict(shape=(100, 100), dtype="f8", chunks=(10, 10), zarr_format=2),
    "blosc-unset-i2": dict(shape=(100, 100), dtype="i2", chunks=(10, 10), compressors=[zc.BloscCodec(cname="lz4")]),
    "blosc-unset-u1": dict(shape=(50,), dtype="u1", chunks=(10,), compressors=[zc.BloscCodec(cname="zstd", clevel=3)]),
    "blosc-set": dict(shape=(50,), dtype="f4", chunks=(10,), compressors=zc.BloscCodec(typesize=4, shuffle="noshuffle")),
    "blosc-json-unset": dict(
        shape=(50,), dtype="f8", chunks=(10,), compressors=[{"name": "blosc", "configuration": {"cname": "zstd"}}]
    ),
    "zstd-checksum": dict(shape=(100, 100), dtype="i2", chunks=(10, 10), compressors=[zc.ZstdCodec(level=3, checksum=True)]),
    "gzip-crc": dict(shape=(30,), dtype="i4", chunks=(7,), compressors=[zc.GzipCodec(level=2), zc.Crc32cCodec()]),
    "no-compressor": dict(shape=(100,), dtype="u1", chunks=(10,), compressors=None),
    "sharded": dict(shape=(100, 100), dtype="f4", chunks=(10, 10), shards=(50, 50)),
    "strings": dict(shape=(100,), dtype=str, chunks=(10,)),
    "strings-v2": dict(shape=(100,), dtype=str, chunks=(10,), zarr_format=2),
    "v2-blosc": dict(shape=(20, 20), dtype="f8", chunks=(10, 10), zarr_format=2, compressors=numcodecs.Blosc()),
    "v2-filters": dict(shape=(20,), dtype="i4", chunks=(10,), zarr_format=2, filters=[numcodecs.Delta("i4")]),
    "v2-F": dict(shape=(20, 20), dtype="f8", chunks=(10, 10), zarr_format=2, order="F"),
    "dims-fill-attrs": dict(
        shape=(100, 100), dtype="i4", chunks=(10, 10), dimension_names=["y", "x"], fill_value=5, attributes={"a": 1}
    ),
    "bool": dict(shape=(9,), dtype=bool, chunks=(4,)),
    "transpose-filter": dict(shape=(6, 4), dtype="i2", chunks=(3, 2), filters=[zc.TransposeCodec(order=(1, 0))]),
    "key-encoding-v2": dict(shape=(6,), dtype="i2", chunks=(3,), chunk_key_encoding={"name": "v2", "separator": "."}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_documents_equal_zarr_python(tmp_path, case):
    kw = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        za = zarr.create_array(str(tmp_path / "z"), **kw)
    ea = exzarr.create_array(str(tmp_path / "e"), **kw)
    fmt = kw.get("zarr_format", 3)
    assert _doc(tmp_path / "e", fmt) == _doc(tmp_path / "z", fmt)
    assert ea.chunks == za.chunks and ea.shards == za.shards and ea.fill_value == za.fill_value
    # and each reads what the other writes
    rng = np.random.default_rng(0)
    if np.dtype(ea.dtype).kind == "O":
        vals = np.array([f"s{i}" * (i % 4) for i in range(ea.size)], dtype=object).reshape(ea.shape)
    else:
        vals = (rng.random(ea.shape) * 100).astype(ea.dtype)
    ea[...] = vals
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "e"), mode="r")[...], vals)
    za[...] = vals[::-1]
    np.testing.assert_array_equal(exzarr.open_array(str(tmp_path / "z"))[...], vals[::-1])


@pytest.mark.parametrize(
    "spec",
    [
        "zstd",
        ("zstd", {"level": 3}),
        {"id": "zstd", "level": 3},
        {"name": "zstd", "configuration": {"level": 3, "checksum": False}},
        numcodecs.Zstd(level=3),
        zc.ZstdCodec(level=3),
    ],
    ids=["name", "pair", "numcodecs-json", "v3-json", "numcodecs", "zarr-python"],
)
@pytest.mark.parametrize("fmt", [2, 3])
def test_compressor_spellings(spec, fmt):
    a = exzarr.create_array(shape=(10,), dtype="i8", chunks=(5,), compressors=[spec], zarr_format=fmt)
    comp = a.compressor if fmt == 2 else a.compressors[0]
    text = json.dumps(comp.get_config() if fmt == 2 else comp.to_json())
    assert "zstd" in text
    if spec != "zstd":
        assert '"level": 3' in text
    a[...] = np.arange(10)
    assert a[...].tolist() == list(range(10))


def test_chunks_auto_near_one_mib():
    for shape, dtype in [
        ((1000, 1000), "f8"),
        ((4096, 4096), "f4"),
        ((10**7,), "f8"),
        ((100, 100, 100), "u1"),
        ((37, 10**6), "i2"),
    ]:
        a = exzarr.create_array(shape=shape, dtype=dtype)
        nbytes = math.prod(a.chunks) * np.dtype(dtype).itemsize
        assert (1 << 19) < nbytes <= (1 << 20), (shape, dtype, a.chunks)
    small = exzarr.create_array(shape=(10, 3), dtype="f8")
    assert small.chunks == (10, 3)
    sharded = exzarr.create_array(shape=(5000, 5000), dtype="f8", shards=(1000, 1500))
    assert all(s % c == 0 for s, c in zip(sharded.shards, sharded.chunks, strict=True))
    assert math.prod(sharded.chunks) * 8 <= 1 << 20
    assert exzarr.create_array(shape=(), dtype="f8").chunks == ()
    assert exzarr.create_array(shape=(0, 4), dtype="f8").chunks == (1, 4)


def test_data_argument(tmp_path):
    data = np.arange(24, dtype="i2").reshape(4, 6)
    a = exzarr.create_array(str(tmp_path / "a"), data=data, chunks=(3, 4))
    assert a.dtype == np.dtype("i2") and a.shape == (4, 6)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "a"), mode="r")[...], data)
    b = exzarr.create_array(data=data, write_data=False)
    assert b.nchunks_initialized == 0 and (b[...] == 0).all()
    s = exzarr.create_array(data=["a", "bb", ""])  # a list of str: a string array
    assert s[...].tolist() == ["a", "bb", ""]
    with pytest.raises(ValueError, match="data= or shape="):
        exzarr.create_array(data=data, shape=(4, 6))
    with pytest.raises(TypeError, match="dtype"):
        exzarr.create_array(shape=(4,))
    with pytest.raises(TypeError, match="shape"):
        exzarr.create_array(dtype="i4")


def test_data_from_array_objects_is_written_in_steps(monkeypatch):
    src = exzarr.create_array(shape=(1000, 7), dtype="f8", chunks=(30, 7))
    src[...] = np.random.default_rng(1).random((1000, 7))
    reads = []

    class Counting:
        shape, dtype = src.shape, src.dtype

        def __getitem__(self, sel):
            reads.append(sel)
            return src[sel]

    monkeypatch.setattr(creation, "WRITE_STEP_BYTES", 10_000)
    out = exzarr.create_array(data=Counting(), chunks=(50, 7))
    np.testing.assert_array_equal(out[...], src[...])
    assert len(reads) > 5 and all((sel.stop - sel.start) % 50 == 0 or sel.stop == 1000 for sel in reads)


def test_bad_codec_arguments():
    with pytest.raises(MetadataError, match="at most one compressor"):
        exzarr.create_array(shape=(4,), dtype="f8", zarr_format=2, compressors=["zstd", "gzip"])
    with pytest.raises(MetadataError, match="filters: a v3 filter must act on arrays"):
        exzarr.create_array(shape=(4,), dtype="f8", filters=[zc.ZstdCodec()])
    with pytest.raises(MetadataError, match="serializer"):
        exzarr.create_array(shape=(4,), dtype="f8", zarr_format=2, serializer="bytes")
    with pytest.raises(MetadataError, match="serializer: must be an array->bytes codec"):
        exzarr.create_array(shape=(4,), dtype="f8", serializer="zstd")
    with pytest.raises(MetadataError, match="compressors: must be bytes->bytes"):
        exzarr.create_array(shape=(4,), dtype="f8", compressors=["bytes"])
    with pytest.raises(TypeError, match="not both"):
        exzarr.create_array(shape=(4,), dtype="f8", compressors="zstd", compressor="gzip")
    with pytest.raises(TypeError, match="compresors"):
        exzarr.create_array(shape=(4,), dtype="f8", compresors="zstd")  # type: ignore[call-arg]
    with pytest.raises(exzarr.errors.UnknownCodecError):
        exzarr.create_array(shape=(4,), dtype="f8", compressors=["no-such-codec"])


def test_overwrite(tmp_path):
    p = str(tmp_path / "a")
    exzarr.create_array(p, shape=(4,), dtype="i4")[...] = 1
    with pytest.raises(NodeExistsError):
        exzarr.create_array(p, shape=(4,), dtype="i4")
    assert exzarr.open_array(p)[...].tolist() == [1, 1, 1, 1]  # refused: nothing was touched
    b = exzarr.create_array(p, shape=(3,), dtype="i4", overwrite=True)
    assert b[...].tolist() == [0, 0, 0]


def test_zeros_ones_full_empty_array(tmp_path):
    z = exzarr.zeros((3, 4), chunks=(2, 2), store=str(tmp_path / "s"), path="g/z")
    assert z.name == "/g/z" and z.dtype == np.dtype("f8") and (z[...] == 0).all()
    assert (exzarr.ones((5,), dtype="i2")[...] == 1).all()
    f = exzarr.full((2, 2), np.nan, dtype="f4")
    assert np.isnan(f[...]).all() and np.isnan(f.fill_value)
    assert exzarr.empty((2,), dtype="u1", fill_value=3)[...].tolist() == [3, 3]
    a = exzarr.array(np.arange(10), chunks=(4,), store=str(tmp_path / "s"), path="g/a")
    assert a[...].tolist() == list(range(10)) and a.chunks == (4,)
    assert zarr.open_array(str(tmp_path / "s"), path="g/a", mode="r")[...].tolist() == list(range(10))
    with pytest.raises(ValueError, match="mode"):
        exzarr.zeros((3,), mode="r")


def test_from_array_keeps_the_source(tmp_path):
    src = exzarr.create_array(
        str(tmp_path / "src"),
        shape=(40, 30),
        dtype="i4",
        chunks=(5, 5),
        shards=(10, 15),
        compressors=zc.GzipCodec(level=4),
        fill_value=-1,
        attributes={"u": "m"},
        dimension_names=["y", "x"],
    )
    vals = np.arange(1200, dtype="i4").reshape(40, 30)
    src[...] = vals
    b = exzarr.from_array(str(tmp_path / "b"), data=src)
    assert (b.chunks, b.shards, b.fill_value, dict(b.attrs), b.dimension_names) == ((5, 5), (10, 15), -1, {"u": "m"}, ("y", "x"))
    assert [c.name for c in b.compressors] == ["gzip"] and b.compressors[0].configuration()["level"] == 4
    np.testing.assert_array_equal(b[...], vals)
    v2 = exzarr.from_array(str(tmp_path / "v2"), data=src, zarr_format=2, chunks=(8, 8))
    assert v2.zarr_format == 2 and v2.chunks == (8, 8) and v2.shards is None and v2.compressor.codec_id == "gzip"
    assert dict(v2.attrs) == {"u": "m", "_ARRAY_DIMENSIONS": ["y", "x"]} and v2.dimension_names == ("y", "x")
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "v2"), mode="r")[...], vals)
    back = exzarr.from_array(str(tmp_path / "back"), data=v2, zarr_format=3)  # dims from _ARRAY_DIMENSIONS
    assert dict(back.attrs) == {"u": "m"} and back.dimension_names == ("y", "x")
    # a zarr-python source
    zsrc = zarr.create_array(str(tmp_path / "z"), shape=(20,), dtype="f4", chunks=(6,), compressors=zc.ZstdCodec(level=5))
    zsrc[...] = np.linspace(0, 1, 20, dtype="f4")
    c = exzarr.from_array(str(tmp_path / "c"), data=zsrc)
    assert c.chunks == (6,) and c.compressors[0].to_json()["configuration"]["level"] == 5
    np.testing.assert_array_equal(c[...], zsrc[...])
    # NumPy data: keep means auto
    d = exzarr.from_array(data=np.ones((3, 3), dtype="u2"))
    assert d.chunks == (3, 3) and d.compressors[0].name == "zstd"
    # strings stay strings
    s = exzarr.create_array(data=np.array(["x", "yy", "zzz"], dtype=object), zarr_format=2)
    assert exzarr.from_array(data=s)[...].tolist() == ["x", "yy", "zzz"]


def test_group_create_array_v3_style_and_update_attributes(tmp_path):
    g = exzarr.create_group(str(tmp_path / "g"), attributes={"a": 1})
    x = g.create_array("sub/x", data=np.arange(6).reshape(2, 3), compressors=[zc.ZstdCodec(level=2)])
    assert x[...].tolist() == [[0, 1, 2], [3, 4, 5]] and x.compressors[0].to_json()["configuration"]["level"] == 2
    y = g.create_array("y", shape=(1000, 1000), dtype="f4", chunks="auto")
    assert y.chunks == (500, 500)
    with pytest.raises(TypeError, match="unexpected keyword argument 'compressorz'; did you mean"):
        g.create_array("z", shape=(3,), compressorz="zstd", data=None, write_data=True)
    assert g.update_attributes({"b": 2}) is g and dict(exzarr.open_group(str(tmp_path / "g")).attrs) == {"a": 1, "b": 2}
    assert x.update_attributes({"k": [1]}) is x
    reopened = exzarr.open_array(str(tmp_path / "g"), path="sub/x")
    assert dict(reopened.attrs) == {"k": [1]} and reopened.shape == (2, 3)  # other fields untouched
    with pytest.raises(TypeError):
        x.update_attributes([("k", 1)])  # type: ignore[arg-type]


def test_open_forms(tmp_path):
    root = str(tmp_path / "s")
    exzarr.create_group(root, mode="w").create_array("a/b", shape=(3,), chunks=(3,), dtype="i1")
    assert exzarr.open_array(root, path="a/b").name == "/a/b"  # zarr-python: path inside the store
    assert exzarr.open_array(path=root + "/a/b").shape == (3,)  # the older form: path alone is where
    assert exzarr.open_array(root, node="a/b").name == "/a/b"
    assert exzarr.open(root, path="a").name == "/a"
    assert exzarr.open_group(exzarr.LocalStore(root), path="a", mode="r").name == "/a"
    with pytest.raises(TypeError, match="path= and node="):
        exzarr.open_array(root, path="a/b", node="a/b")
    with pytest.raises(NodeNotFoundError):
        exzarr.open_array(root, path="a/nope")
    c = exzarr.create(root, path="c", shape=(2,), chunks=(2,))
    assert c.name == "/c"
    assert exzarr.create((4, 4), chunks=(2, 2)).shape == (4, 4)  # zarr-python's create(shape, ...)


def test_open_consolidated_and_save_group(tmp_path):
    p = str(tmp_path / "sg")
    g = exzarr.save_group(p, np.arange(3), np.ones(2), labels=np.array([1, 0]))
    assert sorted(g.keys()) == ["arr_0", "arr_1", "labels"]
    zg = zarr.open_group(p, mode="r")
    assert zg["labels"][...].tolist() == [1, 0]
    with pytest.raises(MetadataError, match="consolidated"):
        exzarr.open_consolidated(p)
    exzarr.consolidate_metadata(p)
    oc = exzarr.open_consolidated(p)
    assert oc.consolidated and oc["arr_0"][...].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="at least one"):
        exzarr.save_group(p)
    with pytest.raises(ValueError, match="both"):
        exzarr.save_group(p, np.arange(2), arr_0=np.arange(3))


def test_info_tables(tmp_path):
    a = exzarr.create_array(
        str(tmp_path / "a"), shape=(100, 100), dtype="f8", chunks=(10, 10), shards=(50, 50), dimension_names=["y", "x"]
    )
    a[:50, :50] = 1.0
    info = a.info
    assert info.shards == (50, 50) and info.chunks == (10, 10) and info.order == "C" and not info.read_only
    assert info.chunks_initialized == 25 and info.nchunks == 100  # inner chunks, as zarr-python counts them
    on_disk = sum(
        os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tmp_path / "a") for f in fs
    )  # metadata too, as zarr-python
    assert a.nbytes_stored() == info.nbytes_stored == on_disk
    assert info.storage_ratio == pytest.approx(a.nbytes / on_disk)
    text = str(info)
    for label in (
        "Shard shape",
        "(50, 50)",
        "Order",
        "Read-only",
        "sharding_indexed",
        "Storage ratio",
        "Chunks initialized : 25/100",
    ):
        assert label in text, label
    assert json.loads(json.dumps(info.to_dict()))["shards"] == [50, 50]
    v2 = exzarr.create_array(
        str(tmp_path / "v2"), shape=(8,), dtype="i4", chunks=(4,), zarr_format=2, filters=[numcodecs.Delta("i4")]
    )
    ro = exzarr.open_array(str(tmp_path / "v2"), mode="r")
    assert "delta" in str(v2.info) and ro.info.read_only and ro.info.chunks_initialized == 0
    nan = exzarr.create_array(shape=(2,), dtype="f8", fill_value=np.nan)
    assert json.loads(json.dumps(nan.info.to_dict()))["fill_value"] == "nan"
    grp = exzarr.create_group(str(tmp_path / "grp"))
    grp.create_array("a", data=np.arange(3))
    grp.create_group("sub")
    g = exzarr.open_group(str(tmp_path / "grp"), mode="r")
    assert (
        g.info.arrays == ("a",)
        and g.info.groups == ("sub",)
        and g.info.read_only
        and g.info.to_dict()["type"] == "group"
        and "No. members        : 2" in str(g.info)
    )


@pytest.mark.parametrize("fmt", [2, 3])
def test_non_finite_attributes_as_zarr_python_writes_them(tmp_path, fmt):
    """zarr-python writes NaN/Infinity attributes as bare JSON tokens; a hierarchy holding them must
    stay writable (attributes, consolidation, copy) and both libraries read what the other wrote."""
    p = str(tmp_path / "g")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zg = zarr.open_group(p, mode="w", zarr_format=fmt)
        zg.attrs["n"] = float("nan")
        zg.create_array("x", shape=(2,), dtype="f4").attrs["inf"] = float("inf")
    g = exzarr.open_group(p, mode="r+")
    g.attrs["k"] = 1  # an unrelated change used to fail on the stored NaN
    g.update_attributes({"l": [1.5, float("-inf")]})
    exzarr.consolidate_metadata(p)
    exzarr.copy(g, str(tmp_path / "copy"))
    for where in (p, str(tmp_path / "copy")):
        back = dict(zarr.open_group(where, mode="r").attrs)
        assert np.isnan(back["n"]) and back["k"] == 1 and back["l"] == [1.5, float("-inf")]
        assert zarr.open_group(where, mode="r")["x"].attrs["inf"] == float("inf")
    mine = exzarr.open_consolidated(p)
    assert np.isnan(mine.attrs["n"]) and mine["x"].attrs["inf"] == float("inf")


def test_review_findings_on_creation(tmp_path):
    # a failed overwrite leaves the old array: chunk too large, lossy data cast
    p = str(tmp_path / "keep")
    exzarr.create_array(p, data=np.arange(4))
    with pytest.raises(MetadataError, match="max_chunk_bytes"):
        exzarr.create_array(p, data=np.arange(4), chunks=(10**12,), overwrite=True)
    with pytest.raises(ValueError, match="data= or dtype="):
        exzarr.create_array(p, data=np.array([1.7, 2.2]), dtype="i4", overwrite=True)
    with pytest.raises(exzarr.errors.CastError):
        exzarr.create_array(p, data=np.array([1, "x"], dtype=object), overwrite=True)
    assert exzarr.open_array(p)[...].tolist() == [0, 1, 2, 3]
    # datetimes default to NaT, as zarr-python 3 writes them
    t = exzarr.create_array(str(tmp_path / "t"), shape=(2,), dtype="M8[ns]")
    assert np.isnat(t[...]).all() and np.isnat(zarr.open_array(str(tmp_path / "t"), mode="r")[...]).all()
    # shards: a dict form, "auto" refused clearly, an awkward (prime) extent keeps chunks sensible
    s = exzarr.create_array(shape=(100,), dtype="f8", chunks=(10,), shards={"shape": (50,)})
    assert s.shards == (50,)
    with pytest.raises(MetadataError, match="shards='auto' is not supported"):
        exzarr.create_array(shape=(100,), dtype="f8", shards="auto")
    prime = exzarr.create_array(shape=(2_000_006,), dtype="f8", shards=(1_000_003,))
    assert prime.chunks == (1_000_003,)
    # zarr-python's config= and a dict as the store
    c = exzarr.create_array(shape=(4,), dtype="i1", config={"write_empty_chunks": True})
    assert c.write_empty_chunks
    with pytest.raises(TypeError, match="config"):
        exzarr.create_array(shape=(4,), dtype="i1", config={"write_empty_chunk": True})
    d: dict = {}
    exzarr.create_array(d, data=np.arange(3), chunks=(2,))
    assert sorted(d) == ["c/0", "c/1", "zarr.json"] and exzarr.open_array(d)[...].tolist() == [0, 1, 2]
    with pytest.raises(exzarr.errors.StoreError, match="dict used as a store"):
        exzarr.open_array({"zarr.json": "not bytes"})
    # *_like and basename
    src = exzarr.create_array(str(tmp_path / "g"), name="sub/x", shape=(6, 4), chunks=(3, 2), dtype="u2")
    assert src.basename == "x"
    z = exzarr.zeros_like(src)
    assert (z.shape, z.chunks, z.dtype) == ((6, 4), (3, 2), np.dtype("u2")) and int(z[...].sum()) == 0
    assert exzarr.full_like(src, 7)[0, 0] == 7 and exzarr.ones_like(np.zeros(3))[...].tolist() == [1, 1, 1]
    assert exzarr.empty_like(src, fill_value=5)[...].max() == 5


def test_group_create_array_refuses_before_replacing(tmp_path):
    g = exzarr.create_group(str(tmp_path / "g"))
    g.create_array("x", data=np.arange(3))
    with pytest.raises(exzarr.errors.CastError):
        g.create_array("x", data=np.array([1, "x"], dtype=object), overwrite=True)
    with pytest.raises(ValueError, match="dtype"):
        g.create_array("x", data=np.arange(3), dtype="f4", overwrite=True)
    assert g["x"][...].tolist() == [0, 1, 2]


def test_replacing_a_node_with_data_read_from_it_is_refused(tmp_path):
    """Overwriting an array with data that reads from that array would read what the replacement
    already deleted (fill values): refused for exzarr, zarr-python and dask sources alike."""
    import dask.array as da

    p = str(tmp_path / "a")
    exzarr.create_array(p, shape=(10,), chunks=(5,), dtype="f8")[...] = np.arange(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sources = [
            lambda: exzarr.open_array(p),
            lambda: exzarr.open_array(p).to_dask() * 2,
            lambda: zarr.open_array(p, mode="r"),
            lambda: da.from_zarr(p),
        ]
        for make in sources:
            with pytest.raises(ValueError, match="would delete first"):
                exzarr.create_array(p, data=make(), overwrite=True)
            with pytest.raises(ValueError, match="would delete first"):
                exzarr.from_array(p, data=make(), overwrite=True)
        with pytest.raises(ValueError, match="would delete first"):
            exzarr.from_dask(exzarr.open_array(p).to_dask() * 2, p, mode="w", chunks=(10,))
        g = exzarr.create_group(str(tmp_path / "g"))
        g.create_array("x", data=np.arange(3))
        with pytest.raises(ValueError, match="would delete first"):
            g.create_array("x", data=g["x"], overwrite=True)
    assert exzarr.open_array(p)[...].tolist() == list(range(10))
    # reading it into memory first is the way
    exzarr.create_array(p, data=np.asarray(exzarr.open_array(p)[...]) * 2, overwrite=True)
    assert exzarr.open_array(p)[...].tolist() == [2.0 * i for i in range(10)]


def test_a_data_source_failing_part_way_leaves_no_array(tmp_path):
    """A dask source raising while it is written: the half-written array is removed (it would
    otherwise open fine and read fill values), and the error says so."""
    import dask.array as da

    def boom(b):
        if b[0] > 5:
            raise ZeroDivisionError("bad block")
        return b

    bad = da.from_array(np.arange(10.0), chunks=3).map_blocks(boom)
    p = str(tmp_path / "a")
    g = exzarr.create_group(str(tmp_path / "g"))
    calls = [
        lambda: exzarr.create_array(p, data=bad, overwrite=True),
        lambda: exzarr.from_dask(bad, p, mode="w"),
        lambda: g.create_array("x", data=bad, overwrite=True),
    ]
    for call, where in zip(calls, [p, p, str(tmp_path / "g" / "x")], strict=True):
        exzarr.create_array(where, data=np.ones(4), overwrite=True)
        with pytest.raises(ZeroDivisionError) as info:
            call()
        assert any("was removed" in n for n in info.value.__notes__)
        with pytest.raises(exzarr.errors.NodeNotFoundError):
            exzarr.open_array(where)
    assert dict(g.members()) == {}


def test_creation_argument_errors_name_what_is_at_fault():
    g = exzarr.create_group()
    with pytest.raises(exzarr.errors.CastError, match="'/temps'"):
        g.create_array("temps", data=np.array([1, "a"], dtype=object))
    with pytest.raises(TypeError, match="not a generator"):
        exzarr.create_array(data=(i for i in range(3)))
    with pytest.raises(ValueError, match="disagree"):
        exzarr.create_array(shape=(2, 2), dtype="i1", order="F", config={"order": "C"})
