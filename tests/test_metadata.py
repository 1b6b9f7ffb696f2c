"""Metadata documents: parse, re-serialise, and the fill-value / key-encoding forms of the specs."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import exzarr
from exzarr.chunk_grid import ChunkKeyEncoding
from exzarr.dtypes import DataType, fill_value_from_json, fill_value_to_json, parse_v3_dtype
from exzarr.metadata import v2, v3


def v3_doc(**kw):
    doc = {
        "zarr_format": 3, "node_type": "array", "shape": [10, 20], "data_type": "float64",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [5, 5]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0.0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "attributes": {},
    }  # fmt: skip
    doc.update(kw)
    return doc


V3_CASES = [
    v3_doc(),
    v3_doc(fill_value="NaN"),
    v3_doc(fill_value="Infinity"),
    v3_doc(fill_value="-Infinity"),
    v3_doc(fill_value="0x7ff4000000000000"),
    v3_doc(data_type="complex128", fill_value=["NaN", "-Infinity"]),
    v3_doc(data_type="uint64", fill_value=18446744073709551615),
    v3_doc(data_type="int64", fill_value=-9223372036854775808),
    v3_doc(data_type="bool", fill_value=True),
    v3_doc(
        data_type={"name": "numpy.datetime64", "configuration": {"unit": "ns", "scale_factor": 1}},
        fill_value=-9223372036854775808,
    ),
    v3_doc(data_type="string", fill_value="", codecs=[{"name": "vlen-utf8", "configuration": {}}]),
    v3_doc(data_type="variable_length_bytes", fill_value="AQID", codecs=[{"name": "vlen-bytes", "configuration": {}}]),
    v3_doc(dimension_names=["y", None]),
    v3_doc(chunk_key_encoding={"name": "v2", "configuration": {"separator": "."}}),
    v3_doc(
        codecs=[
            {"name": "transpose", "configuration": {"order": [1, 0]}},
            {"name": "bytes", "configuration": {"endian": "big"}},
            {"name": "zstd", "configuration": {"level": 3, "checksum": True}},
            {"name": "crc32c"},
        ]
    ),  # fmt: skip
    v3_doc(attributes={"nested": {"a": [1, None, "x"]}}),
]


@pytest.mark.parametrize("doc", V3_CASES, ids=range(len(V3_CASES)))
def test_v3_roundtrip_exact(doc):
    meta = v3.parse_zarr_json(copy.deepcopy(doc))
    out = v3.zarr_json(meta)
    assert json.loads(json.dumps(out)) == doc


def test_v3_shorthands_normalise():
    meta = v3.parse_zarr_json(v3_doc(chunk_key_encoding={"name": "default"}, codecs=["bytes"]))
    assert meta.key_encoding == ChunkKeyEncoding("default", "/")
    meta2 = v3.parse_zarr_json(v3_doc(chunk_key_encoding="v2"))
    assert meta2.key_encoding == ChunkKeyEncoding("v2", ".")
    assert (
        v3.parse_zarr_json(v3_doc(data_type="bytes", fill_value=[1, 2, 3], codecs=[{"name": "vlen-bytes"}])).fill_value
        == b"\x01\x02\x03"
    )


def test_v3_group_doc():
    g = v3.parse_zarr_json({"zarr_format": 3, "node_type": "group", "attributes": {"a": 1}})
    assert v3.zarr_json(g) == {"zarr_format": 3, "node_type": "group", "attributes": {"a": 1}}


V2_CASES = [
    {"zarr_format": 2, "shape": [10], "chunks": [3], "dtype": "<f8", "compressor": None, "fill_value": "NaN", "order": "C",
     "filters": None, "dimension_separator": "."},
    {"zarr_format": 2, "shape": [4, 4], "chunks": [2, 2], "dtype": ">i4", "compressor": {"id": "blosc", "cname": "zstd", "clevel": 5,
     "shuffle": 2, "blocksize": 0}, "fill_value": -1, "order": "F", "filters": [{"id": "delta", "dtype": ">i4"}], "dimension_separator": "/"},
    {"zarr_format": 2, "shape": [3], "chunks": [3], "dtype": "|S6", "compressor": {"id": "zlib", "level": 1}, "fill_value": "YWIAAAAA",
     "order": "C", "filters": None, "dimension_separator": "."},
    {"zarr_format": 2, "shape": [3], "chunks": [3], "dtype": [["a", "<i4"], ["b", "<f8", [2]]], "compressor": None,
     "fill_value": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "order": "C", "filters": None, "dimension_separator": "."},
    {"zarr_format": 2, "shape": [3], "chunks": [3], "dtype": "<c16", "compressor": None, "fill_value": ["NaN", 1.5],
     "order": "C", "filters": None, "dimension_separator": "."},
    {"zarr_format": 2, "shape": [3], "chunks": [3], "dtype": "<M8[10ns]", "compressor": None, "fill_value": None,
     "order": "C", "filters": None, "dimension_separator": "."},
    {"zarr_format": 2, "shape": [3], "chunks": [3], "dtype": "|O", "compressor": None, "fill_value": "",
     "order": "C", "filters": [{"id": "vlen-utf8"}], "dimension_separator": "."},
]  # fmt: skip


@pytest.mark.parametrize("doc", V2_CASES, ids=range(len(V2_CASES)))
def test_v2_roundtrip_exact(doc):
    meta = v2.parse_zarray(copy.deepcopy(doc), None)
    assert json.loads(json.dumps(v2.zarray_json(meta))) == doc


def test_v2_missing_zattrs_and_separator(tmp_path):
    (tmp_path / "a").mkdir()
    doc = {
        "zarr_format": 2,
        "shape": [4],
        "chunks": [2],
        "dtype": "<i2",
        "compressor": None,
        "fill_value": 0,
        "order": "C",
        "filters": None,
    }
    (tmp_path / "a" / ".zarray").write_text(json.dumps(doc))
    (tmp_path / "a" / "0").write_bytes(np.array([1, 2], "<i2").tobytes())
    a = exzarr.open(tmp_path / "a")
    assert a.metadata.key_encoding == ChunkKeyEncoding("v2", ".") and dict(a.attrs) == {}
    assert a[...].tolist() == [1, 2, 0, 0]


@pytest.mark.parametrize(
    "dt,value,fmt,js",
    [
        ("f8", np.nan, 3, "NaN"),
        ("f4", -np.inf, 2, "-Infinity"),
        ("f2", 0.5, 3, 0.5),
        ("c8", complex(1, np.inf), 3, [1.0, "Infinity"]),
        ("u8", np.iinfo("u8").max, 3, 18446744073709551615),
        ("M8[s]", np.datetime64("NaT"), 3, -9223372036854775808),
        ("S3", b"a", 2, "YQAA"),
        ("<U2", "hé", 2, "hé"),
        ("bool", True, 2, True),
    ],
)
def test_fill_value_json(dt, value, fmt, js):
    d = DataType(np.dtype(dt))
    fv = exzarr.dtypes.normalize_fill_value(value, d)
    assert fill_value_to_json(fv, d, zarr_format=fmt) == js
    back = fill_value_from_json(js, d, zarr_format=fmt)
    assert np.array(back, dtype=dt).tobytes() == np.array(fv, dtype=dt).tobytes()


def test_fill_value_rejects():
    f8 = DataType(np.dtype("f8"))
    for bad in ["nan", "0x7ff8", True, [1, 2]]:
        with pytest.raises(exzarr.errors.MetadataError):
            fill_value_from_json(bad, f8, zarr_format=3)
    with pytest.raises(exzarr.errors.MetadataError, match="out of range"):
        fill_value_from_json(256, DataType(np.dtype("u1")), zarr_format=3)
    with pytest.raises(exzarr.errors.MetadataError, match="null"):
        fill_value_from_json(None, f8, zarr_format=3)


def test_v3_dtype_table():
    assert parse_v3_dtype("r16").numpy == np.dtype("V2")
    assert parse_v3_dtype({"name": "fixed_length_utf32", "configuration": {"length_bytes": 8}}).numpy == np.dtype("U2")
    with pytest.raises(exzarr.errors.MetadataError):
        parse_v3_dtype({"name": "fixed_length_utf32", "configuration": {"length_bytes": 7}})
    with pytest.raises(exzarr.errors.MetadataError):
        parse_v3_dtype({"name": "numpy.datetime64", "configuration": {"unit": "parsec", "scale_factor": 1}})


def test_struct_data_type_registered_form_roundtrips():
    """zarr-extensions "struct": fields as {name, data_type} objects and an object fill value."""
    dt = {"name": "struct", "configuration": {"fields": [
        {"name": "x", "data_type": "float32"}, {"name": "y", "data_type": "float32"},
        {"name": "when", "data_type": {"name": "numpy.datetime64", "configuration": {"unit": "ns", "scale_factor": 1}}}]}}  # fmt: skip
    doc = v3_doc(
        data_type=dt,
        fill_value={"x": 0.0, "y": 1.0, "when": 0},
        shape=[4],
        chunk_grid={"name": "regular", "configuration": {"chunk_shape": [2]}},
    )
    meta = v3.parse_zarr_json(copy.deepcopy(doc))
    assert meta.dtype.numpy.names == ("x", "y", "when")
    assert json.loads(json.dumps(v3.zarr_json(meta))) == doc
    store = exzarr.MemoryStore()
    exzarr.metadata.write_metadata(store, "", meta)
    a = exzarr.open(store, mode="r+")
    first = a[0]
    assert (first["x"], first["y"], first["when"]) == (0.0, 1.0, np.datetime64(0, "ns"))
    a[1] = (2.0, 3.0, np.datetime64(5, "ns"))  # a tuple is one record, as in NumPy
    assert a[1]["y"] == 3.0 and a[0]["y"] == 1.0
    with pytest.raises(exzarr.errors.MetadataError, match="do not match"):
        v3.parse_zarr_json(
            v3_doc(
                data_type=dt,
                fill_value={"x": 0.0},
                shape=[4],
                chunk_grid={"name": "regular", "configuration": {"chunk_shape": [2]}},
            )
        )


@pytest.mark.parametrize(
    "dt,js,bits", [("float16", "0x7d00", 0x7D00), ("float16", "0x0000", 0), ("float32", "0x7fc00001", 0x7FC00001)]
)
def test_hex_fill_values_keep_their_bits(dt, js, bits):
    d = DataType(np.dtype(dt))
    v = fill_value_from_json(js, d, zarr_format=3)
    assert int(np.array(v, dtype=dt).view(f"u{d.numpy.itemsize}")) == bits
    assert fill_value_to_json(v, d, zarr_format=3) in (js, 0.0, "NaN") or js == "0x0000"


def test_raw_and_v2_structured_zero_fills():
    assert fill_value_from_json([0, 0, 0, 0], parse_v3_dtype("r32"), zarr_format=3).tobytes() == b"\0" * 4
    st = DataType(np.dtype([("x", "<f4"), ("c", "<i4", (3,))]))
    assert fill_value_from_json(0, st, zarr_format=2).tobytes() == b"\0" * 16
