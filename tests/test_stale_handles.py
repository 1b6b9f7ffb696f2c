"""A handle whose shape is out of date (another writer appended or resized since it opened the
array) must never overwrite what lies past its shape: an edge chunk (or shard) written "whole"
as far as the handle knows is read, merged and written back, as zarr-python does."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import exzarr


def _grown(path, **kw):
    a = exzarr.create(path, shape=(10,), chunks=(3,), dtype="f8", mode="w", **kw)
    a[:] = np.arange(10)
    stale = exzarr.open(path, mode="r+")
    a.append(np.arange(10, 20))  # now 20 rows; the stale handle still says 10
    return stale


def _expect(path, changed: dict[int, float], n: int = 20) -> None:
    want = np.arange(n, dtype="f8")
    for i, v in changed.items():
        want[i] = v
    np.testing.assert_array_equal(exzarr.open(path)[:], want)
    np.testing.assert_array_equal(zarr.open_array(str(path), mode="r")[:], want)


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize(
    "how",
    ["setitem", "slice_to_end", "write_chunk", "write_chunks", "write_stream"],
)
def test_stale_handle_keeps_rows_written_past_its_shape(tmp_path, zarr_format, how):
    path = tmp_path / "a"
    h = _grown(path, zarr_format=zarr_format)
    if how == "setitem":
        h[9] = -1
    elif how == "slice_to_end":
        h[6:] = -1  # chunks 2 (interior) and 3 (edge, "complete" for the stale shape)
    elif how == "write_chunk":
        h.write_chunk((3,), np.array([-1.0]))
    elif how == "write_chunks":
        h.write_chunks([((3,), np.array([-1.0]))])
    else:
        h.write_stream([((3,), np.array([-1.0]))])
    _expect(path, {9: -1} if how != "slice_to_end" else {6: -1, 7: -1, 8: -1, 9: -1})


def test_stale_handle_on_a_sharded_array(tmp_path):
    path = tmp_path / "s"
    a = exzarr.create(path, shape=(20,), chunks=(2,), shards=(6,), dtype="f8", mode="w")
    a[:] = np.arange(20)
    h = exzarr.open(path, mode="r+")
    a.append(np.arange(20, 30))
    h[18:20] = -5  # the edge shard 3 (rows 18..23) is "complete" for a 20-row handle
    _expect(path, {18: -5, 19: -5}, n=30)


def test_stale_handle_from_consolidated_metadata(tmp_path):
    path = tmp_path / "g"
    g = exzarr.create_group(path)
    x = g.create_array("x", shape=(10,), chunks=(3,), dtype="f8")
    x[:] = np.arange(10)
    exzarr.consolidate_metadata(path)
    x.append(np.arange(10, 20))  # the consolidated document still says 10 rows
    stale = exzarr.open_group(path, mode="r+")["x"]
    assert stale.shape == (10,)
    stale[9] = -1
    got = exzarr.open_array(path / "x")[:]
    want = np.arange(20.0)
    want[9] = -1
    np.testing.assert_array_equal(got, want)


def test_whole_array_writes_still_replace_interior_chunks_without_reading(tmp_path):
    """The fast path stays: interior chunks written whole are not read first (telemetry counts reads)."""
    a = exzarr.create(tmp_path / "w", shape=(12, 12), chunks=(4, 4), dtype="i4", mode="w")
    a[...] = 1
    exzarr.stats(reset=True)
    try:
        a[...] = 2
        counts = exzarr.stats()
    finally:
        exzarr.telemetry.stop_stats()
    assert counts["chunk_write"]["count"] == 9 and "chunk_read" not in counts, counts
    assert (a[...] == 2).all()


def test_stale_handle_writes_read_back_in_a_fresh_process(tmp_path):
    """What a stale handle wrote, and the rows it must have kept, as another interpreter reads them."""
    from isolate import run_isolated

    for name, kw in (("plain", {}), ("sharded", {"shards": (6,), "chunks": (2,)})):
        path = tmp_path / name
        a = exzarr.create(path, shape=(10,), dtype="f8", mode="w", **{"chunks": (3,), **kw})
        a[:] = np.arange(10)
        stale = exzarr.open(path, mode="r+")
        a.append(np.arange(10, 20))
        stale[8:10] = -1
        out = run_isolated(
            f"""
import exzarr
_report(values=exzarr.open({str(path)!r})[...].tolist())
"""
        )
        want = [float(i) for i in range(20)]
        want[8] = want[9] = -1.0
        assert out.result == {"values": want}, (name, out.stderr)
