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
