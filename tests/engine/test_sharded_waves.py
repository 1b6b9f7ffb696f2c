"""Sharded slices whose shards need very different numbers of inner chunks are read in waves
(fetch a few shards, then decode all their chunks on every worker); the values must be those
of NumPy whatever the wave boundaries, with missing inner chunks, a cache, and many shards."""

from __future__ import annotations

import numpy as np
import pytest

import exzarr
from exzarr.engine.core import ChunkEngine, EngineSpec
from exzarr.indexing import basic_selection


@pytest.mark.parametrize("cache", [None, 1 << 22])
@pytest.mark.parametrize("conc", [2, 3])
def test_unbalanced_sharded_slices_equal_numpy(cache, conc, monkeypatch):
    from exzarr.engine.sharded import ShardIO

    waves = []
    real = ShardIO._read_wave
    monkeypatch.setattr(ShardIO, "_read_wave", staticmethod(lambda wave, *rest: (waves.append(len(wave)), real(wave, *rest))))
    rng = np.random.default_rng(5)
    data = rng.integers(0, 1000, size=(96, 90)).astype("i4")
    a = exzarr.create(shape=data.shape, chunks=(4, 5), shards=(32, 30), dtype="i4", fill_value=-7, cache_bytes=cache)
    a[...] = data
    a[40:44, 0:5] = -7  # an inner chunk equal to the fill value: not stored, read as fill
    data[40:44, 0:5] = -7
    for sel in [
        (slice(0, 33), slice(0, 31)),  # shard (0, 0) needs 48 inner chunks, the others 8, 6 and 1
        (slice(3, 95), slice(7, 89)),
        (slice(30, 96), slice(28, 31)),
        (slice(0, 33), slice(0, 90)),
        (slice(5, 70, 3), slice(80, 2, -4)),
    ]:
        np.testing.assert_array_equal(a.get_basic_selection(sel, max_concurrency=conc), data[sel])
        # the plain twin decodes whole shards (no inner-chunk reads, no waves): the same values
        twin = ChunkEngine(EngineSpec.from_metadata(a.store, a.path, a.metadata, fast=False))
        np.testing.assert_array_equal(twin.read(basic_selection(sel, a.shape, a.metadata.chunks), conc), data[sel])
    many = exzarr.create(shape=(400, 40), chunks=(2, 2), shards=(40, 40), dtype="i4")  # waves of 64*conc chunks
    big = np.arange(16000, dtype="i4").reshape(400, 40)
    many[...] = big
    np.testing.assert_array_equal(many.get_basic_selection((slice(1, 45), slice(3, 40)), max_concurrency=conc), big[1:45, 3:])
    np.testing.assert_array_equal(many.get_basic_selection((slice(1, 400), slice(3, 40)), max_concurrency=conc), big[1:, 3:])
    np.testing.assert_array_equal(many.oindex[[0, 5, 399], 3:17], big[[0, 5, 399], 3:17])
    assert waves, "the unbalanced slices must take the wave path"


def test_wave_reads_of_stored_shards_in_a_fresh_process(tmp_path):
    """Shards written here and read back by another interpreter, across shard corners (waves)."""
    from isolate import run_isolated

    data = np.arange(96 * 90, dtype="i4").reshape(96, 90)
    a = exzarr.create(tmp_path / "s", shape=data.shape, chunks=(4, 5), shards=(32, 30), dtype="i4", fill_value=-7)
    a[...] = data
    out = run_isolated(
        f"""
import numpy as np, exzarr
a = exzarr.open({str(tmp_path / "s")!r})
got = a.get_basic_selection((slice(0, 33), slice(0, 31)), max_concurrency=2)
_report(sum=int(got.astype("i8").sum()), shape=list(got.shape))
"""
    )
    assert out.result == {"sum": int(data[:33, :31].astype("i8").sum()), "shape": [33, 31]}, out.stderr
