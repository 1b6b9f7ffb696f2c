"""0-d arrays: every writer (exzarr, zarr-python, tensorstore), every key form (v2 ``0``, v3 ``c``,
v3 with the v2 key encoding ``0``), compressed or not, read back exactly, also from a fresh process.

The bug this guards against: the read allocated a 0-d output and decoded "into" ``out[()]``,
which for a 0-d array is a NumPy scalar copy, so the output kept whatever memory it started with.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import exzarr

CASES = [  # (zarr_format, chunk_key_encoding, expected key)
    (2, None, "0"),
    (3, None, "c"),
    (3, {"name": "v2", "configuration": {"separator": "."}}, "0"),
]


def read_in_fresh_process(path) -> dict:
    code = (
        "import exzarr, json, sys\n"
        "a = exzarr.open_array(sys.argv[1])\n"
        "print(json.dumps({'item': a[...].item(), 'getitem': float(a[()]), 'chunk': a.read_chunk(()).item(),"
        " 'plain': a.get_basic_selection(..., max_concurrency=1).item(), 'np': float(a[...])}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("compressor", [None, "zstd", "blosc"])
@pytest.mark.parametrize(("fmt", "enc", "key"), CASES)
def test_exzarr_writes_reads_back_in_this_and_a_fresh_process(tmp_path, fmt, enc, key, compressor):
    p = tmp_path / "a.zarr"
    a = exzarr.create(p, shape=(), chunks=(), dtype="f8", compressor=compressor, zarr_format=fmt, chunk_key_encoding=enc)
    a[...] = 42.5
    assert (p / key).is_file()
    b = exzarr.open_array(p)
    assert b[...].shape == () and b[...] == 42.5 and b[()] == 42.5 and b.read_chunk(()) == 42.5
    assert b.get_basic_selection(...) == 42.5 and b.get_basic_selection(..., max_concurrency=1) == 42.5
    assert read_in_fresh_process(p) == {"item": 42.5, "getitem": 42.5, "chunk": 42.5, "plain": 42.5, "np": 42.5}
    b2 = exzarr.open_array(p, mode="r+")
    b2[()] = -1.25  # overwrite, then read again
    assert exzarr.open_array(p)[...] == -1.25


@pytest.mark.parametrize("compressors", [None, "default"])
@pytest.mark.parametrize(("fmt", "enc", "key"), CASES)
def test_zarr_python_writes(tmp_path, fmt, enc, key, compressors):
    import zarr

    p = tmp_path / "z.zarr"
    kw = {} if compressors == "default" else {"compressors": None}
    if enc is not None:
        kw["chunk_key_encoding"] = enc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = zarr.create_array(str(p), shape=(), dtype="f8", zarr_format=fmt, fill_value=7.0, **kw)
        z[...] = 42.5
    assert (p / key).is_file()
    assert exzarr.open_array(p)[...] == 42.5
    assert read_in_fresh_process(p)["item"] == 42.5


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize(("fmt", "key"), [(2, "0"), (3, "c")])
def test_tensorstore_writes(tmp_path, fmt, key, compressed):
    import tensorstore as ts

    p = tmp_path / "t.zarr"
    if fmt == 2:
        meta = {"shape": [], "chunks": [], "dtype": "<f8", "compressor": {"id": "zstd", "level": 1} if compressed else None}
    else:
        codecs = [{"name": "bytes", "configuration": {"endian": "little"}}]
        if compressed:
            codecs.append({"name": "zstd", "configuration": {"level": 1}})
        meta = {"shape": [], "data_type": "float64", "codecs": codecs}
    spec = {"driver": "zarr3" if fmt == 3 else "zarr", "kvstore": {"driver": "file", "path": str(p)}, "metadata": meta}
    t = ts.open({**spec, "create": True}).result()
    t.write(np.float64(42.5)).result()
    assert (p / key).is_file()
    assert exzarr.open_array(p)[...] == 42.5
    assert read_in_fresh_process(p)["item"] == 42.5


def test_peers_read_exzarr_zero_d(tmp_path):
    import tensorstore as ts
    import zarr

    for fmt in (2, 3):
        p = tmp_path / f"v{fmt}"
        exzarr.create(p, shape=(), chunks=(), dtype="i8", zarr_format=fmt)[...] = -7
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert zarr.open_array(str(p), mode="r")[...] == -7
        spec = {"driver": "zarr3" if fmt == 3 else "zarr", "kvstore": {"driver": "file", "path": str(p)}}
        assert ts.open(spec).result().read().result() == -7


def test_missing_zero_d_chunk_reads_fill():
    a = exzarr.create(shape=(), chunks=(), dtype="f4", fill_value=3.5)
    assert a[...] == 3.5 and a.read_chunk(()) == 3.5 and a.nchunks_initialized == 0
    a[...] = 3.5  # equal to the fill value: not stored
    assert a.nchunks_initialized == 0 and a[()] == 3.5
