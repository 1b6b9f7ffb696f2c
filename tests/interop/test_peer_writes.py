"""zarr-python 3 and tensorstore write; exzarr reads exactly what they wrote."""

from __future__ import annotations

import json
import warnings

import numcodecs
import numpy as np
import pytest
import zarr
from data import ALL_V3, NUMERIC, data_for, dtype_id
from peers import assert_same, ts_write
from zarr.codecs import numcodecs as znc

import exzarr

SHAPE, CHUNKS = (7, 5), (3, 2)
REGION = (slice(0, 5), slice(1, 5))

ZARR_V2_DTYPES = NUMERIC + [
    "M8[ns]",
    "M8[10ns]",
    "m8[s]",
    "S5",
    "U4",
    "V3",
    [("a", "<i4"), ("b", "<f8")],
    str,
    ">i4",
    ">f8",
    ">c8",
]


def zarr_write(path, dt, fmt, **kw):
    x = data_for(dt, SHAPE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = zarr.create_array(
            str(path), shape=SHAPE, chunks=CHUNKS, dtype=np.dtype(dt) if dt is not str else str, zarr_format=fmt, **kw
        )
        z[REGION] = x[REGION]
        exp = np.asarray(z[...])  # what zarr-python itself reads back
    return x, exp


@pytest.mark.parametrize("dt", ZARR_V2_DTYPES, ids=dtype_id)
def test_zarr_v2_dtypes(tmp_path, dt):
    x, exp = zarr_write(tmp_path / "a", dt, 2)
    a = exzarr.open(tmp_path / "a")
    assert a.zarr_format == 2
    assert_same(a[...], exp)
    assert_same(a[REGION], x[REGION])


@pytest.mark.parametrize(
    "dt", [d for d in ALL_V3 if dtype_id(d) not in ("bytes", "struct")] + [[("a", "<i4"), ("b", "<f8")]], ids=dtype_id
)
def test_zarr_v3_dtypes(tmp_path, dt):
    x, exp = zarr_write(tmp_path / "a", dt, 3)
    a = exzarr.open(tmp_path / "a")
    assert a.zarr_format == 3
    assert_same(a[...], exp)
    assert_same(a[REGION], x[REGION])


def test_zarr_v3_variable_length_bytes(tmp_path):
    x = data_for(bytes, SHAPE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = zarr.create_array(str(tmp_path / "a"), shape=SHAPE, chunks=CHUNKS, dtype="variable_length_bytes", zarr_format=3)
        z[...] = x
    doc = json.loads((tmp_path / "a" / "zarr.json").read_text())
    assert doc["data_type"] == "variable_length_bytes"
    a = exzarr.open(tmp_path / "a", mode="r+")
    assert_same(a[...], x)
    # rewriting the metadata keeps the alias zarr-python used
    a.attrs["k"] = 1
    assert json.loads((tmp_path / "a" / "zarr.json").read_text())["data_type"] == "variable_length_bytes"


ZARR_V2_COMPRESSORS = [
    numcodecs.Zlib(level=3),
    numcodecs.GZip(level=5),
    numcodecs.BZ2(level=2),
    numcodecs.LZMA(),
    numcodecs.Zstd(level=3),
    numcodecs.Zstd(level=1, checksum=True),
    numcodecs.LZ4(acceleration=2),
] + [numcodecs.Blosc(cname=c, clevel=5, shuffle=s) for c in ("lz4", "lz4hc", "blosclz", "zstd", "zlib") for s in (-1, 0, 1, 2)]


@pytest.mark.parametrize("comp", ZARR_V2_COMPRESSORS, ids=repr)
def test_zarr_v2_compressors(tmp_path, comp):
    x, exp = zarr_write(tmp_path / "a", "float32", 2, compressors=comp)
    assert_same(exzarr.open(tmp_path / "a")[...], exp)


ZARR_V2_FILTERS = [
    ("int32", [numcodecs.Delta(dtype="<i4")]),
    ("float64", [numcodecs.FixedScaleOffset(offset=1, scale=10, dtype="<f8", astype="<i4")]),
    ("float32", [numcodecs.Quantize(digits=2, dtype="<f4")]),
    ("float64", [numcodecs.BitRound(keepbits=10)]),
    ("float64", [numcodecs.AsType(encode_dtype="<f4", decode_dtype="<f8")]),
    ("bool", [numcodecs.PackBits()]),
    ("int16", [numcodecs.Shuffle(elementsize=2)]),
    ("U6", [numcodecs.Categorize(labels=["ab0", "ab1", "ü1"], dtype="<U6", astype="u1")]),
]


@pytest.mark.parametrize("dt,filters", ZARR_V2_FILTERS, ids=lambda v: v if isinstance(v, str) else v[0].codec_id)
def test_zarr_v2_filters(tmp_path, dt, filters):
    x = data_for(dt, SHAPE)
    if dt == "U6":
        x = np.array([["ab0", "ab1", "ü1"][i % 3] for i in range(35)], dtype=dt).reshape(SHAPE)
    elif np.dtype(dt).kind == "f":
        x = np.nan_to_num(x, nan=1, posinf=2, neginf=3) / 1000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = zarr.create_array(
            str(tmp_path / "a"), shape=SHAPE, chunks=CHUNKS, dtype=dt, zarr_format=2, filters=filters, fill_value=None
        )
        z[...] = x
        exp = np.asarray(z[...])
    assert_same(exzarr.open(tmp_path / "a")[...], exp)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("sep", [".", "/"])
def test_zarr_v2_order_separator(tmp_path, order, sep):
    x = data_for("int32", (5, 6, 7))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = zarr.create_array(
            str(tmp_path / "a"), shape=x.shape, chunks=(2, 4, 3), dtype="int32", zarr_format=2, order=order,
            chunk_key_encoding={"name": "v2", "separator": sep},
        )  # fmt: skip
        z[...] = x
    a = exzarr.open(tmp_path / "a")
    assert a.order == order
    assert_same(a[...], x)
    assert_same(a[1:4, ::2, -3:], x[1:4, ::2, -3:])


ZARR_V3_CODECS = {
    "zstd": dict(compressors=[zarr.codecs.ZstdCodec(level=2)]),
    "zstd-checksum": dict(compressors=[zarr.codecs.ZstdCodec(level=2, checksum=True)]),
    "gzip": dict(compressors=[zarr.codecs.GzipCodec(level=4)]),
    "blosc": dict(compressors=[zarr.codecs.BloscCodec(cname="lz4", shuffle="bitshuffle")]),
    "crc32c": dict(compressors=[zarr.codecs.ZstdCodec(), zarr.codecs.Crc32cCodec()]),
    "big-endian": dict(serializer=zarr.codecs.BytesCodec(endian="big"), compressors=None),
    "transpose": dict(filters=[zarr.codecs.TransposeCodec(order=(1, 0))]),
    "numcodecs.zlib": dict(compressors=[znc.Zlib(level=2)]),
    "numcodecs.lz4": dict(compressors=[znc.LZ4()]),
    "numcodecs.bz2": dict(compressors=[znc.BZ2()]),
    "numcodecs.lzma": dict(compressors=[znc.LZMA()]),
    "numcodecs.shuffle": dict(compressors=[znc.Shuffle(elementsize=4)]),
    "numcodecs.crc32": dict(compressors=[znc.CRC32()]),
    "numcodecs.adler32": dict(compressors=[znc.Adler32()]),
    "numcodecs.delta": dict(filters=[znc.Delta(dtype="<i4")]),
    "numcodecs.fixedscaleoffset": dict(filters=[znc.FixedScaleOffset(offset=0, scale=1, dtype="<i4", astype="<i4")]),
    "numcodecs.bitround": dict(filters=[znc.BitRound(keepbits=8)], dtype="float32"),
    "numcodecs.quantize": dict(filters=[znc.Quantize(digits=3, dtype="<f8")], dtype="float64"),
    "numcodecs.astype": dict(filters=[znc.AsType(encode_dtype="<f4", decode_dtype="<f8")], dtype="float64"),
    "numcodecs.packbits": dict(filters=[znc.PackBits()], dtype="bool"),
}


@pytest.mark.parametrize("name", list(ZARR_V3_CODECS))
def test_zarr_v3_codecs(tmp_path, name):
    kw = dict(ZARR_V3_CODECS[name])
    dt = kw.pop("dtype", "int32")
    x = data_for(dt, SHAPE)
    if np.dtype(dt).kind == "f":
        x = np.nan_to_num(x, nan=1, posinf=2, neginf=3) / 1000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = zarr.create_array(str(tmp_path / "a"), shape=SHAPE, chunks=CHUNKS, dtype=dt, zarr_format=3, **kw)
        z[...] = x
        exp = np.asarray(z[...])
    doc = json.loads((tmp_path / "a" / "zarr.json").read_text())
    assert any(c["name"] == name.split("-")[0] or name in ("big-endian", "crc32c") for c in doc["codecs"])
    a = exzarr.open(tmp_path / "a")
    assert_same(a[...], exp)
    # and exzarr writes back through the same codec chain; zarr-python reads that
    b = exzarr.open(tmp_path / "a", mode="r+")
    b[0:2, 0:2] = exp[2:4, 2:4]
    exp2 = exp.copy()
    exp2[0:2, 0:2] = exp[2:4, 2:4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same(np.asarray(zarr.open_array(str(tmp_path / "a"), mode="r")[...]), exp2)


def test_zarr_v3_attributes_dimension_names_and_group(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = zarr.open_group(str(tmp_path / "g"), mode="w", attributes={"title": "peer"})
        arr = g.create_array("sub/x", shape=(4, 3), chunks=(2, 2), dtype="f4", dimension_names=["t", None], attributes={"u": 1})
        arr[...] = 7
    g2 = exzarr.open_group(tmp_path / "g", mode="r")
    assert dict(g2.attrs) == {"title": "peer"}
    x = g2["sub/x"]
    assert x.dimension_names == ("t", None)
    assert dict(x.attrs) == {"u": 1}
    assert x.get_slice(t=slice(1, 3)).tolist() == [[7.0] * 3] * 2
    assert "sub" in g2 and [n for n, _ in g2.members()] == ["sub"]


TS_V3 = {
    "zstd": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 3}}],
    "gzip+crc32c": [{"name": "bytes", "configuration": {"endian": "big"}}, {"name": "gzip", "configuration": {"level": 1}}, {"name": "crc32c"}],
    "blosc": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "typesize": 4}}],
    "transpose": [{"name": "transpose", "configuration": {"order": [1, 0]}}, {"name": "bytes", "configuration": {"endian": "little"}}],
}  # fmt: skip


@pytest.mark.parametrize("dt", NUMERIC, ids=str)
@pytest.mark.parametrize("codecs", list(TS_V3))
def test_tensorstore_v3(tmp_path, dt, codecs):
    x = data_for(dt, SHAPE)
    meta = {
        "shape": list(SHAPE),
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(CHUNKS)}},
        "data_type": np.dtype(dt).name,
        "codecs": TS_V3[codecs],
    }
    ts_write(tmp_path / "a", x, 3, meta)
    assert_same(exzarr.open(tmp_path / "a")[...], x)


TS_V2 = [None, {"id": "zlib", "level": 3}, {"id": "bz2", "level": 4}, {"id": "zstd", "level": 2},
         {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}]  # fmt: skip


@pytest.mark.parametrize("dt", NUMERIC + [">i4", ">f8", ">c16"], ids=str)
@pytest.mark.parametrize("comp", TS_V2, ids=lambda c: c["id"] if c else "none")
@pytest.mark.parametrize("order", ["C", "F"])
def test_tensorstore_v2(tmp_path, dt, comp, order):
    x = data_for(dt, SHAPE)
    meta = {"shape": list(SHAPE), "chunks": list(CHUNKS), "dtype": np.dtype(dt).str, "compressor": comp, "order": order}
    ts_write(tmp_path / "a", x, 2, meta)
    a = exzarr.open(tmp_path / "a")
    assert a.dtype == np.dtype(dt)
    assert_same(a[...], x)


def test_tensorstore_v3_fill_and_missing_chunks(tmp_path):
    import tensorstore as ts

    spec = {
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": str(tmp_path / "a")},
        "metadata": {
            "shape": [10, 10], "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 4]}},
            "data_type": "float32", "fill_value": "NaN", "chunk_key_encoding": {"name": "default"},
        },
        "create": True,
    }  # fmt: skip
    t = ts.open(spec).result()
    t[0:3, 0:3].write(np.ones((3, 3), "f4")).result()
    doc = json.loads((tmp_path / "a" / "zarr.json").read_text())
    assert doc["chunk_key_encoding"] == {"name": "default"}  # no configuration: separator defaults to "/"
    a = exzarr.open(tmp_path / "a")
    exp = np.full((10, 10), np.nan, "f4")
    exp[0:3, 0:3] = 1
    assert_same(a[...], exp)
    assert a.nchunks_initialized == 1
