"""Defects found by an adversarial review of the engine/factory redesign, one test each."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest

import exzarr
from exzarr.errors import CastError, MetadataError, NodeExistsError, NodeNotFoundError, StoreError


def test_zero_d_vindex_reads_and_writes():
    b = exzarr.create(shape=(), dtype="f8")
    b[()] = 1.0
    assert b.vindex[()] == 1.0
    b.vindex[()] = 5.0
    assert b[()] == 5.0 and isinstance(b[()], np.floating) and b[...].shape == ()


@pytest.mark.parametrize(("fmt", "enc"), [(2, None), (3, {"name": "v2"}), (3, None)])
def test_zero_d_chunk_is_listed_and_copied(fmt, enc):
    a = exzarr.create(exzarr.MemoryStore(), shape=(), dtype="f8", zarr_format=fmt, chunk_key_encoding=enc)
    a[()] = 42.5
    assert a.nchunks_initialized == 1 and [i for i, _ in a.chunk_stream()] == [()]
    assert exzarr.copy(a, exzarr.MemoryStore())[()] == 42.5
    ((idx, chunk),) = a.chunk_stream()
    assert isinstance(chunk, np.ndarray) and chunk.shape == ()


def test_zero_d_strings():
    s = exzarr.create(shape=(), dtype=str)
    s[()] = "hi"
    assert s[()] == "hi"
    s.write_chunk((), "yo")
    assert s[...].tolist() == "yo"
    t = exzarr.create(shape=(5,), chunks=(2,), dtype=str)
    t[...] = ["a", "b", "c", "d", "e"]
    t[1] = "x"  # one element of a chunk, not the whole chunk
    assert t[...].tolist() == ["a", "x", "c", "d", "e"]


def test_tensorstore_zero_d_sharded(tmp_path):
    import tensorstore as ts

    spec = {
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": str(tmp_path / "t")},
        "metadata": {
            "shape": [],
            "data_type": "int32",
            "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": []}}],
        },
        "create": True,
    }
    t = ts.open(spec).result()
    t.write(np.int32(7)).result()
    a = exzarr.open_array(tmp_path / "t")
    assert a[()] == 7


def test_failed_overwrite_keeps_the_old_node(tmp_path):
    p = tmp_path / "a"
    exzarr.create(p, shape=(3,))[...] = 1
    with pytest.raises(MetadataError):
        exzarr.create(p, mode="w", shape=(3,), attributes={"x": b"not JSON"})
    with pytest.raises(MetadataError):
        exzarr.create_group(p, mode="w", attributes={"x": object()})
    with pytest.raises(CastError):
        exzarr.save(p, np.array(["a", "b"]), dtype="f8")
    assert exzarr.open(p)[...].tolist() == [1, 1, 1]


def test_copy_onto_itself_is_refused(tmp_path):
    p = tmp_path / "a"
    exzarr.save(p, np.arange(3))
    with pytest.raises(ValueError, match="overlaps"):
        exzarr.copy(str(p), str(p), mode="w")
    g = exzarr.create_group(tmp_path / "g")
    g.create_array("x", shape=(2,), chunks=(2,))[...] = 4
    with pytest.raises(ValueError, match="overlaps"):
        exzarr.copy(g, str(tmp_path / "g"), mode="w")
    with pytest.raises(ValueError, match="overlaps"):
        exzarr.copy(g, str(tmp_path / "g" / "sub"))
    assert exzarr.open(p)[...].tolist() == [0, 1, 2] and g["x"][...].tolist() == [4, 4]


def test_shrinking_on_a_zip_store(tmp_path):
    z = exzarr.create(str(tmp_path / "c.zip"), shape=(10,), chunks=(4,), dtype="i4")
    z[...] = np.arange(1, 11)
    z.resize(5)
    assert z.shape == (5,) and z[...].tolist() == [1, 2, 3, 4, 5]
    z.resize(10)
    assert z[...].tolist() == [1, 2, 3, 4, 5, 0, 0, 0, 0, 0]
    z.store.close()
    assert exzarr.open(str(tmp_path / "c.zip"))[...].tolist() == [1, 2, 3, 4, 5, 0, 0, 0, 0, 0]


def test_copies_of_a_writable_zip_are_read_only(tmp_path):
    z = exzarr.create(str(tmp_path / "d.zip"), shape=(4,), chunks=(2,), dtype="i4")
    z[0:2] = 5
    z2 = pickle.loads(pickle.dumps(z))
    assert z2.read_only and z2[...].tolist() == [5, 5, 0, 0]
    with pytest.raises(exzarr.errors.ReadOnlyError):
        z2[2:4] = 7
    z[2:4] = 8
    z.store.close()
    assert exzarr.open(str(tmp_path / "d.zip"))[...].tolist() == [5, 5, 8, 8]
    with zipfile.ZipFile(tmp_path / "d.zip") as zf:
        assert zf.testzip() is None


def test_vlen_values_are_checked_before_writing():
    a = exzarr.create(shape=(4,), chunks=(2,), dtype=str)
    a[...] = ["p", "q", "r", "s"]
    for bad in ([1, 2, 3, 4], ["a", "b", None, "d"], ["a", "b", "c", b"d"]):
        with pytest.raises(CastError, match="str"):
            a[...] = bad
    assert a[...].tolist() == ["p", "q", "r", "s"]  # nothing was written, not even the first chunk
    b = exzarr.create(shape=(2,), chunks=(2,), dtype=bytes)
    with pytest.raises(CastError, match="bytes"):
        b[...] = ["a", "b"]


@pytest.mark.parametrize(
    ("dtype", "value", "why"),
    [
        ("u1", np.array([300, -1, 256]), "out of range"),
        ("i4", np.array([1.0, np.nan, 2.0]), "finite"),
        ("i2", np.float64(1e6), "out of range"),
        ("f4", np.array([1e300, 1, 2]), "largest"),
        ("i8", np.array([1 + 2j, 0, 0]), "imaginary"),
        ("S2", np.array([b"abc", b"d", b"e"]), "longer"),
        ("u8", [-1, 0, 0], "out of range"),
    ],
)
def test_lossy_casts_are_refused_before_writing(dtype, value, why):
    a = exzarr.create(shape=(3,), chunks=(1,), dtype=dtype)
    before = a[...].copy()
    with pytest.raises(CastError, match=why):
        a[...] = value
    assert a[...].tobytes() == before.tobytes()


def test_exact_casts_still_work():
    a = exzarr.create(shape=(3,), chunks=(3,), dtype="u1")
    a[...] = np.array([0, 255, 7], dtype="i8")
    assert a[...].tolist() == [0, 255, 7]
    a[...] = [1.9, 2.0, 3.5]  # finite floats truncate toward zero, as NumPy and zarr-python do
    assert a[...].tolist() == [1, 2, 3]
    f = exzarr.create(shape=(2,), chunks=(2,), dtype="f4")
    f[...] = np.array([np.inf, np.nan])  # non-finite values a float can hold are kept
    assert np.isinf(f[0]) and np.isnan(f[1])


def test_mode_a_checks_the_request_and_keeps_zarr_semantics(tmp_path):
    p = tmp_path / "a"
    exzarr.create(p, shape=(4,))[...] = 1
    with pytest.raises(MetadataError, match="levle"):
        exzarr.create(p, mode="a", shape=(4,), compressor={"id": "zstd", "levle": 1})
    with pytest.raises(MetadataError, match="levle"):
        exzarr.open(p, mode="a", shape=(4,), compressor=("zstd", {"levle": 1}))
    assert exzarr.create(p, mode="a", shape=(99,)).shape == (4,)  # "create or reopen" after growth
    exzarr.create_group(tmp_path / "g")
    with pytest.raises(NodeExistsError, match="group"):
        exzarr.open(tmp_path / "g", mode="a", shape=(4,))  # an array was asked for


def test_require_array_checks_and_applies_arguments(tmp_path):
    g = exzarr.create_group(tmp_path / "g")
    a = g.create_array("b", shape=(3,), dtype=">i4")
    assert g.require_array("b", shape=(3,), dtype=">i4") == a
    with pytest.raises(TypeError, match="bogus"):
        g.require_array("b", bogus=1)
    with pytest.raises(MetadataError, match="levle"):
        g.require_array("b", compressor=("zstd", {"levle": 1}))
    assert g.require_array("b", cache_bytes=100).options.cache_bytes == 100


def test_store_arguments_that_cannot_apply_are_refused(tmp_path):
    with pytest.raises(TypeError, match="storage_options"):
        exzarr.create(exzarr.MemoryStore(), shape=(4,), storage_options={"bogus": 1})
    with pytest.raises(TypeError, match="storage"):
        exzarr.create(exzarr.MemoryStore(), shape=(4,), storage="zip")
    with pytest.raises(StoreError, match="storage='zip'"):
        exzarr.create("memory://conflict", shape=(4,), storage="zip")
    with pytest.raises(MetadataError, match="'x'"):
        exzarr.create(shape=(4,), chunk_key_encoding={"name": "default", "configuration": {"separator": "/", "x": 1}})


def test_a_group_shares_one_cache_per_array(tmp_path):
    g = exzarr.create_group(tmp_path / "g")
    g.create_array("x", shape=(4,), chunks=(2,), dtype="i4")[...] = 1
    h = exzarr.open_group(tmp_path / "g", mode="r+", cache_bytes=1 << 20)
    x = h["x"]
    assert x[...].tolist() == [1] * 4
    assert h["x"][...].tolist() == [1] * 4 and h["x"].cache_stats().hits == 2  # a second handle hits
    h["x"][...] = 7
    assert x[...].tolist() == [7] * 4  # the first handle sees the write made through another one


def test_aliases_and_keywords_everywhere(tmp_path):
    a = exzarr.create(shape=(6,), chunks=(2,), dtype="i4")
    a[...] = 1
    seen = []
    list(a.stream_slices(parallel=2, progress_callback=lambda d, t: seen.append(d)))
    a.write_chunks([((0,), [2, 2])], parallel=2, progress_callback=lambda d, t: seen.append(d))
    a.write_stream([((1,), [3, 3])], progress_callback=lambda d, t: seen.append(d))
    exzarr.copy(a, exzarr.MemoryStore(), parallel=2)
    assert seen == [1, 2, 3, 4, 5, 6, 1, 1] and a[...].tolist() == [2, 2, 3, 3, 1, 1]
    with pytest.raises(TypeError, match="parallel"):
        a.get_slice(parallel=2)
    g = exzarr.create_group(tmp_path / "g", cache_bytes=64, write_empty_chunks=True)
    assert g.create_array("x", shape=(2,)).options.cache_bytes == 64
    with pytest.raises(TypeError, match="multiple values for argument 'store'"):
        exzarr.open(tmp_path / "g", store=exzarr.MemoryStore())
    assert exzarr.open(store=tmp_path / "g").name == "/"  # store= as zarr-python spells it


def test_error_paths_name_metadata_documents_once(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "array"}')
    with pytest.raises(MetadataError) as info:
        exzarr.open(tmp_path / "bad")
    assert "//" not in str(info.value) and "/zarr.json" in str(info.value)
    with pytest.raises(NodeNotFoundError, match="mode='w' creates a new array"):
        exzarr.open_array(tmp_path / "nothing", mode="w")
    assert not os.path.exists(tmp_path / "nothing" / "zarr.json")
