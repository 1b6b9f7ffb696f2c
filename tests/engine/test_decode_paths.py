"""The fast decode paths (whole chunks decoded straight into the output; v2 raw layout) agree
with the generic pipeline and still report corrupt chunks by key."""

from __future__ import annotations

import numpy as np
import pytest

import exzarr
from exzarr.errors import ChunkDecodeError


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("comp", ["zstd", None, "blosc", "lz4", "zlib", "gzip", "bz2"])
@pytest.mark.parametrize("dt", ["<f8", ">i4", "u1"])
def test_whole_row_chunks_read_exactly(tmp_path, fmt, comp, dt):
    if fmt == 3 and dt.startswith(">"):
        dt = "i4"
    x = (np.arange(37 * 5 * 3) * 7 % 251).astype(dt).reshape(37, 5, 3)
    a = exzarr.create(tmp_path / "a", shape=x.shape, chunks=(4, 5, 3), dtype=dt, compressor=comp, zarr_format=fmt)
    a[...] = x
    b = exzarr.open(tmp_path / "a")
    assert np.array_equal(b[...], x) and np.array_equal(b[3:30:2], x[3:30:2]) and np.array_equal(b[::-1, 1], x[::-1, 1])
    assert np.array_equal(b.get_basic_selection(..., max_concurrency=1), x)


def test_decode_into_reports_corruption(tmp_path):
    a = exzarr.create(tmp_path / "a", shape=(20,), chunks=(5,), compressor="zstd")
    a[...] = np.arange(20.0)
    (tmp_path / "a" / "c" / "1").write_bytes(b"not zstd at all")
    with pytest.raises(ChunkDecodeError, match="'c/1'"):
        a[...]
    (tmp_path / "a" / "c" / "1").write_bytes(b"")
    with pytest.raises(ChunkDecodeError, match="'c/1'"):
        a[...]


@pytest.mark.parametrize("comp", ["zstd", None, ("zstd", {"level": 3, "checksum": True})])
@pytest.mark.parametrize("fmt", [2, 3])
def test_leading_rows_decode(tmp_path, comp, fmt):
    x = np.random.default_rng(3).standard_normal((64, 48, 5))
    a = exzarr.create(tmp_path / "a", shape=x.shape, chunks=(16, 12, 5), compressor=comp, zarr_format=fmt)
    a[...] = x
    # only uncompressed chunks are taken in part; compressed ones are decoded whole (damage anywhere is found)
    assert (a.metadata.pipeline.decode_rows is None) == (comp is not None)
    from exzarr.testing.strategies import numpy_ix

    sels = [
        np.s_[0:3],
        np.s_[16:20, 5:30],
        np.s_[1:60:16],
        (np.array([0, 33, 2]), slice(None), 1),
        np.s_[4],
        np.s_[50:49:-1, ::7],
    ]
    for sel in sels:
        full = sel if isinstance(sel, tuple) else (sel,)
        full = full + (slice(None),) * (3 - len(full))
        expected = x[numpy_ix(full, x.shape)] if any(isinstance(s, np.ndarray) for s in full) else x[full]
        for mc in (1, 4):
            assert np.array_equal(a.get_orthogonal_selection(sel, max_concurrency=mc), expected)


def test_leading_rows_decode_reports_corruption(tmp_path):
    a = exzarr.create(tmp_path / "a", shape=(32, 8), chunks=(16, 8), compressor="zstd")
    a[...] = np.arange(256.0).reshape(32, 8)
    raw = (tmp_path / "a" / "c" / "0" / "0").read_bytes()
    (tmp_path / "a" / "c" / "0" / "0").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ChunkDecodeError, match="'c/0/0'"):
        a[0:2]
