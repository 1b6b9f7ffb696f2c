"""Bad input gets a clear error naming the array, chunk key or field, and loses nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

import exzarr
from exzarr import errors
from exzarr.errors import (
    BoundsError,
    CastError,
    ChecksumError,
    ChunkDecodeError,
    MetadataError,
    ReadOnlyError,
    SelectionError,
    ShapeMismatchError,
    UnknownCodecError,
    UnsupportedDtypeError,
)  # fmt: skip

BUILTIN = {
    errors.NodeNotFoundError: FileNotFoundError,
    errors.NodeExistsError: FileExistsError,
    errors.ReadOnlyError: PermissionError,
    errors.StoreError: OSError,
    errors.MetadataError: ValueError,
    errors.UnknownCodecError: ValueError,
    errors.UnsupportedDtypeError: ValueError,
    errors.ChunkDecodeError: ValueError,
    errors.ChecksumError: ValueError,
    errors.BoundsError: IndexError,
    errors.SelectionError: IndexError,
    errors.ShapeMismatchError: ValueError,
    errors.CastError: ValueError,
}


@pytest.mark.parametrize("cls,builtin", BUILTIN.items(), ids=lambda c: c.__name__)
def test_hierarchy(cls, builtin):
    assert issubclass(cls, errors.ExzarrError) and issubclass(cls, builtin)
    assert cls.__name__ in errors.__all__


@pytest.fixture
def arr(tmp_path):
    a = exzarr.create(tmp_path / "arr", shape=(10, 10), chunks=(4, 4), dtype="f8")
    a[...] = np.arange(100.0).reshape(10, 10)
    return a


@pytest.mark.parametrize(
    "sel,exc",
    [
        ((10, 0), BoundsError),
        ((0, -11), BoundsError),
        ((0, 0, 0), SelectionError),
        (("a", 0), SelectionError),
        ((1.5, 0), SelectionError),
        ((slice(0, 5, 0), 0), SelectionError),
        ((None,), SelectionError),
        ((Ellipsis, Ellipsis), SelectionError),
        ((slice(0, 1.5), 0), SelectionError),
    ],
)
def test_malformed_or_out_of_bounds_selection(arr, sel, exc):
    with pytest.raises(exc, match="array '/'"):
        arr[sel]
    with pytest.raises(exc):
        arr[sel] = 1.0


def test_fancy_errors(arr):
    with pytest.raises(BoundsError, match="out of bounds"):
        arr.oindex[[0, 10], :]
    with pytest.raises(BoundsError):
        arr.vindex[[0, 1], [2, 30]]
    with pytest.raises(SelectionError, match="broadcast"):
        arr.vindex[[0, 1], [2, 3, 4]]
    with pytest.raises(SelectionError, match="boolean"):
        arr.oindex[np.ones(3, bool), :]
    with pytest.raises(SelectionError, match="mask"):
        arr.vindex[np.ones((3, 3), bool)]
    with pytest.raises(SelectionError, match="integer"):
        arr.oindex[[0.5], :]
    cube = exzarr.create(shape=(3, 3, 3), chunks=(2, 2, 2))
    with pytest.raises(SelectionError, match="oindex"):
        cube[[0, 1], :, [1, 2]]  # NumPy would move the advanced axes; we refuse the ambiguity
    with pytest.raises(BoundsError):
        arr.blocks[3, 0]


def test_shape_mismatch_and_cast(arr):
    before = arr[...]
    with pytest.raises(ShapeMismatchError, match=r"\(3,\).*\(2, 2\)"):
        arr[0:2, 0:2] = np.ones(3)
    with pytest.raises(CastError, match="float64"):
        arr[0:2, 0:2] = "not a number"
    i = exzarr.create(shape=(3,), chunks=(3,), dtype="uint8")
    with pytest.raises(CastError):
        i[0] = 300
    assert np.array_equal(arr[...], before)  # nothing was written


def test_truncated_and_malformed_metadata(tmp_path):
    a = exzarr.create(tmp_path / "m", shape=(4,), chunks=(2,))
    doc = (tmp_path / "m" / "zarr.json").read_text()
    (tmp_path / "m" / "zarr.json").write_text(doc[: len(doc) // 2])
    with pytest.raises(MetadataError, match="zarr.json.*truncated"):
        exzarr.open(tmp_path / "m")
    bad = json.loads(doc)
    for field, value, msg in [
        ("shape", [-1], "shape"),
        ("zarr_format", 4, "zarr_format"),
        ("node_type", "table", "node_type"),
        ("chunk_grid", {"name": "rectangular"}, "chunk_grid"),
        ("fill_value", "banana", "fill_value"),
        ("codecs", [], "codecs"),
        ("codecs", [{"name": "zstd"}], "array->bytes"),
        ("dimension_names", ["x", "y"], "dimension_names"),
        ("unknown_required_ext", {"x": 1}, "unknown_required_ext"),
        ("storage_transformers", [{"name": "x"}], "storage_transformers"),
    ]:
        d = dict(bad, **{field: value})
        (tmp_path / "m" / "zarr.json").write_text(json.dumps(d))
        with pytest.raises(MetadataError, match=msg):
            exzarr.open(tmp_path / "m")
    del a


def test_must_understand_false_is_ignored(tmp_path):
    a = exzarr.create(tmp_path / "x", shape=(4,), chunks=(2,))
    a[...] = 1
    doc = json.loads((tmp_path / "x" / "zarr.json").read_text())
    doc["my_ext"] = {"must_understand": False, "stuff": [1]}
    doc["codecs"].append({"name": "optional-thing", "must_understand": False})
    (tmp_path / "x" / "zarr.json").write_text(json.dumps(doc))
    b = exzarr.open(tmp_path / "x", mode="r+")
    assert b[...].tolist() == [1, 1, 1, 1]
    b.attrs["k"] = "v"  # rewrite keeps the extension field
    assert json.loads((tmp_path / "x" / "zarr.json").read_text())["my_ext"] == {"must_understand": False, "stuff": [1]}


def test_unknown_codecs_and_dtypes(tmp_path):
    with pytest.raises(UnknownCodecError, match="snappy9"):
        exzarr.create(shape=(2,), chunks=(2,), compressor="snappy9")
    with pytest.raises(UnknownCodecError, match="nope"):
        exzarr.create(shape=(2,), chunks=(2,), codecs=[{"name": "bytes"}, {"name": "nope"}])
    with pytest.raises(UnsupportedDtypeError):
        exzarr.create(shape=(2,), chunks=(2,), dtype="float128x")
    a = exzarr.create(tmp_path / "u", shape=(2,), chunks=(2,), zarr_format=2)
    doc = json.loads((tmp_path / "u" / ".zarray").read_text())
    for field, value, exc in [("compressor", {"id": "mystery"}, UnknownCodecError), ("dtype", "<q9", UnsupportedDtypeError),
                              ("dtype", "f8", MetadataError), ("order", "Z", MetadataError)]:  # fmt: skip
        (tmp_path / "u" / ".zarray").write_text(json.dumps(dict(doc, **{field: value})))
        with pytest.raises(exc, match=field):
            exzarr.open(tmp_path / "u")
    del a
    v3 = json.loads(json.dumps({"zarr_format": 3, "node_type": "array", "shape": [2], "data_type": "complex256",
                                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
                                "chunk_key_encoding": {"name": "default"}, "fill_value": 0, "codecs": [{"name": "bytes"}]}))  # fmt: skip
    (tmp_path / "v3").mkdir()
    (tmp_path / "v3" / "zarr.json").write_text(json.dumps(v3))
    with pytest.raises(UnsupportedDtypeError, match="complex256"):
        exzarr.open(tmp_path / "v3")


@pytest.mark.parametrize("fmt", [2, 3])
def test_corrupt_chunk_names_key(tmp_path, fmt):
    a = exzarr.create(tmp_path / "c", shape=(8,), chunks=(4,), zarr_format=fmt, compressor="zstd")
    a[...] = np.arange(8.0)
    key = "1" if fmt == 2 else "c/1"
    (tmp_path / "c" / key).write_bytes(b"garbage that is not zstd")
    with pytest.raises(ChunkDecodeError, match=f"'{key}'"):
        a[...]
    assert a[0:4].tolist() == [0, 1, 2, 3]  # the healthy chunk still reads
    with pytest.raises(ChunkDecodeError):
        a[5] = 1.0  # read-modify-write of a corrupt chunk fails...
    assert (tmp_path / "c" / key).read_bytes() == b"garbage that is not zstd"  # ...and leaves it untouched


def test_checksum_failure(tmp_path):
    a = exzarr.create(tmp_path / "k", shape=(4,), chunks=(4,), codecs=[{"name": "bytes"}, {"name": "crc32c"}], compressor=None)
    a[...] = [1.0, 2.0, 3.0, 4.0]
    p = tmp_path / "k" / "c" / "0"
    raw = bytearray(p.read_bytes())
    raw[3] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match="'c/0'.*checksum"):
        a[...]
    p.write_bytes(bytes(raw[:2]))
    with pytest.raises(ChunkDecodeError, match="c/0"):
        a[...]


def test_truncated_uncompressed_chunk(tmp_path):
    a = exzarr.create(tmp_path / "t", shape=(4,), chunks=(4,), compressor=None)
    a[...] = 1.0
    (tmp_path / "t" / "c" / "0").write_bytes(b"\x00" * 5)
    with pytest.raises(ChunkDecodeError, match="expected 32 bytes"):
        a[...]


def test_failed_write_keeps_old_data(tmp_path, monkeypatch):
    a = exzarr.create(tmp_path / "f", shape=(8,), chunks=(4,), dtype="i4")
    a[...] = np.arange(8)
    import os

    import exzarr.storage.local as local

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    monkeypatch.setattr(local, "_exchange", boom if local._exchange else None)
    with pytest.raises(OSError, match="disk full"):
        a[0:8] = 99
    monkeypatch.undo()
    assert exzarr.open(tmp_path / "f")[...].tolist() == list(range(8))


def test_read_only_store(tmp_path):
    exzarr.create(tmp_path / "r", shape=(2,), chunks=(2,))
    g = exzarr.open(tmp_path / "r", mode="r")
    with pytest.raises(ReadOnlyError, match="read-only"):
        g[0] = 1
    with pytest.raises(ReadOnlyError):
        g.store.set("x", b"1")


def test_invalid_create_arguments():
    for kw, msg in [
        (dict(shape=(2, 2), chunks=(2,)), "chunks"),
        (dict(shape=(2,), chunks=(0,)), "chunks"),
        (dict(shape=(-2,), chunks=(2,)), "shape"),
        (dict(shape=(2,), chunks=(2,), order="K"), "order"),
        (dict(shape=(2,), chunks=(2,), zarr_format=4), "zarr_format"),
        (dict(shape=(2,), chunks=(2,), dimension_names=["a", "b"]), "dimension_names"),
        (dict(shape=(2,), chunks=(2,), zarr_format=2, codecs=[{"name": "bytes"}]), "codecs"),
        (dict(shape=(2,), chunks=(2,), dtype="i4", fill_value="x"), "fill_value"),
        (
            dict(shape=(2,), chunks=(2,), codecs=[{"name": "transpose", "configuration": {"order": [1, 0]}}, {"name": "bytes"}]),
            "transpose",
        ),
    ]:
        with pytest.raises(MetadataError, match=msg):
            exzarr.create(**kw)


def test_v3_filters_are_placed_by_kind():
    a = exzarr.create(
        shape=(8,), chunks=(4,), dtype="i4", filters=[{"id": "shuffle", "elementsize": 4}, {"id": "delta", "dtype": "<i4"}]
    )
    assert [c.name for c in a.codecs] == ["numcodecs.delta", "bytes", "numcodecs.shuffle", "zstd"]
    a[...] = np.arange(8)
    assert a[...].tolist() == list(range(8))


INNER_CRC = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]


def _flip_inner_chunk_byte(path, sh, local):
    raw = bytearray(path.read_bytes())
    index = sh.decode_index(sh.index_bytes_of(bytes(raw)))
    off, n = (int(v) for v in index[local])
    raw[off + 1] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "layout",
    ["sharded", "transposed-sharded-whole"],
)
def test_inner_chunk_checksum_failure_is_a_checksum_error_on_every_path(tmp_path, layout):
    sharding = {"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 2], "codecs": INNER_CRC}}
    codecs = [sharding] if layout == "sharded" else [{"name": "transpose", "configuration": {"order": [1, 0]}}, sharding]
    a = exzarr.create(tmp_path / "s", shape=(4, 4), chunks=(4, 4), dtype="i4", codecs=codecs, compressor=None)
    a[...] = np.arange(16).reshape(4, 4) + 1
    sh = a.codecs[-1]
    _flip_inner_chunk_byte(tmp_path / "s" / "c" / "0" / "0", sh, (1, 0))
    reads = [
        lambda: a[...],
        lambda: a[2:4, 0],
        lambda: a.get_basic_selection(..., max_concurrency=1),
        lambda: a.oindex[[0, 3], :],
        lambda: a.vindex[[3], [1]],
        lambda: list(a.chunk_stream()),
        lambda: a.read_chunk((1, 0) if layout == "sharded" else (0, 0)),
    ]
    for read in reads:
        with pytest.raises(ChecksumError, match="'c/0/0'.*checksum") as info:
            read()
        assert isinstance(info.value.__cause__, ChecksumError)  # chained to the codec's own error
        assert info.value.key == "c/0/0" and info.value.array == "/"
        if layout == "sharded":
            assert "inner chunk (1, 0)" in str(info.value) and info.value.inner == (1, 0)
    with pytest.raises(ChecksumError):
        a[3, 1] = 0  # a partial write decodes the touched inner chunk first
    if layout == "sharded":  # inner chunks are read one by one: the healthy ones still read
        assert a[0:2, :].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_shard_index_checksum_failure_is_a_checksum_error(tmp_path):
    a = exzarr.create(tmp_path / "s", shape=(4, 4), chunks=(2, 2), shards=(4, 4), dtype="i4")
    a[...] = 1
    p = tmp_path / "s" / "c" / "0" / "0"
    raw = bytearray(p.read_bytes())
    raw[-6] ^= 0xFF  # inside the index
    p.write_bytes(bytes(raw))
    for read in (lambda: a[...], lambda: a[0, 0], lambda: list(a.stored_chunks()), lambda: a.read_chunk((0, 0))):
        with pytest.raises(ChecksumError, match="index of shard 'c/0/0'"):
            read()
