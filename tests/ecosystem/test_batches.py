"""exzarr.batches: mini-batches over axis 0 (in order, shuffled chunk-aware, prefetched), on real arrays."""

from __future__ import annotations

import collections
import gc
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exzarr
from exzarr.errors import ChunkDecodeError

THREAD = "exzarr-batches-prefetch"


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD and t.is_alive()]


def wait_no_prefetch_threads(timeout: float = 5.0) -> list[threading.Thread]:
    deadline = time.monotonic() + timeout
    while prefetch_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return prefetch_threads()


def features_labels(n: int, width: int = 3, xchunk: int = 10, ychunk: int = 7, store: str | None = None, **kw):
    """Features whose row i is ``i * 10 + [0, 1, ...]`` (so pairing is checkable) and labels ``arange(n)``."""
    x = exzarr.create(f"{store}/x" if store else None, shape=(n, width), chunks=(xchunk, width), dtype="float64", **kw)
    x[...] = np.arange(n)[:, None] * 10.0 + np.arange(width)
    y = exzarr.create(f"{store}/y" if store else None, shape=(n,), chunks=(ychunk,), dtype="int64")
    y[...] = np.arange(n)
    return x, y


def check_paired(xb: np.ndarray, yb: np.ndarray) -> None:
    assert xb.shape[0] == yb.shape[0]
    np.testing.assert_array_equal(xb, yb[:, None] * 10.0 + np.arange(xb.shape[1]))


class ChunkReads:
    """Counts ``chunk_read`` telemetry events per stored key."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def __call__(self, event: exzarr.telemetry.Event) -> None:
        if event.name == "chunk_read":
            with self._lock:
                self.counts[f"{event.array}:{event.key}"] += 1

    def __enter__(self) -> ChunkReads:
        exzarr.telemetry.attach(self)
        return self

    def __exit__(self, *exc: object) -> None:
        exzarr.telemetry.detach(self)


# ----------------------------------------------------------------------------- in order


def test_in_order_batches_pairs_and_remainder():
    x, y = features_labels(103)
    b = exzarr.batches((x, y), batch_size=32)
    got = list(b)
    assert [len(yb) for _, yb in got] == [32, 32, 32, 7] and len(b) == 4
    for xb, yb in got:
        check_paired(xb, yb)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in got]), np.arange(103))
    dropped = exzarr.batches((x, y), batch_size=32, drop_remainder=True)
    assert [len(yb) for _, yb in dropped] == [32, 32, 32] and len(dropped) == 3
    single = list(exzarr.batches(y, batch_size=50))
    assert all(isinstance(v, np.ndarray) for v in single)
    assert [v.tolist() for v in single] == [list(range(50)), list(range(50, 100)), [100, 101, 102]]


def test_batch_size_larger_than_array_and_empty_array():
    x, y = features_labels(20)
    assert [len(yb) for _, yb in exzarr.batches((x, y), batch_size=1000)] == [20]
    assert list(exzarr.batches((x, y), batch_size=1000, drop_remainder=True)) == []
    assert len(exzarr.batches((x, y), batch_size=1000, drop_remainder=True)) == 0
    empty = exzarr.create(shape=(0, 4), chunks=(5, 4), dtype="f4")
    assert list(exzarr.batches(empty, 3, shuffle=True)) == [] and len(exzarr.batches(empty, 3)) == 0


def test_uneven_last_chunk_and_nd_arrays():
    cube = exzarr.create(shape=(50, 4, 5), chunks=(16, 2, 5), dtype="int32")
    cube[...] = np.arange(50 * 20, dtype="int32").reshape(50, 4, 5)
    b = exzarr.batches(cube, 12, shuffle=True, seed=3)
    assert b.blocks == [(0, 16), (16, 32), (32, 48), (48, 50)]
    got = list(b)
    assert [v.shape[1:] for v in got] == [(4, 5)] * len(got)
    rows = np.concatenate(got)
    order = rows[:, 0, 0] // 20
    assert sorted(order.tolist()) == list(range(50))
    np.testing.assert_array_equal(rows, cube[...][order])


# ----------------------------------------------------------------------------- shuffle


def test_shuffle_every_row_exactly_once_and_paired():
    x, y = features_labels(257, xchunk=16, ychunk=16)
    b = exzarr.batches((x, y), batch_size=20, shuffle=True, seed=11)
    for _ in range(2):  # two epochs
        got = list(b)
        assert [len(yb) for _, yb in got] == [20] * 12 + [17] and len(b) == 13
        for xb, yb in got:
            check_paired(xb, yb)
        labels = np.concatenate([yb for _, yb in got])
        assert sorted(labels.tolist()) == list(range(257))
        assert labels.tolist() != list(range(257))


def test_same_seed_same_order_other_seed_or_epoch_differs():
    x, y = features_labels(200, xchunk=10, ychunk=10)

    def order(b, epoch=None):
        it = b if epoch is None else b.epoch(epoch)
        return np.concatenate([yb for _, yb in it]).tolist()

    a1 = order(exzarr.batches((x, y), 16, shuffle=True, seed=5))
    a2 = order(exzarr.batches((x, y), 16, shuffle=True, seed=5))
    assert a1 == a2
    assert order(exzarr.batches((x, y), 16, shuffle=True, seed=6)) != a1
    b = exzarr.batches((x, y), 16, shuffle=True, seed=5)
    e0, e1 = order(b), order(b)  # re-iterating gives the next epoch
    assert e0 == a1 and e1 != e0 and order(b, 1) == e1 and order(b, 0) == e0
    # seed=None: a fresh order for each call
    assert order(exzarr.batches((x, y), 16, shuffle=True)) != order(exzarr.batches((x, y), 16, shuffle=True))


def test_shuffle_mixes_blocks_yet_reads_each_chunk_once():
    x, y = features_labels(400, xchunk=20, ychunk=20)  # 20 chunks of each
    b = exzarr.batches((x, y), batch_size=16, shuffle=True, seed=1, buffer_blocks=4)
    with ChunkReads() as reads:
        got = [yb for _, yb in b]
    assert sorted(np.concatenate(got).tolist()) == list(range(400))
    # every stored chunk of both arrays read exactly once in the epoch
    assert len(reads.counts) == 40 and set(reads.counts.values()) == {1}
    blocks_per_batch = [len(set((yb // 20).tolist())) for yb in got]
    assert max(blocks_per_batch) >= 3 and np.mean(blocks_per_batch) > 2  # rows of several chunks per batch
    first_blocks = [int(yb[0] // 20) for yb in got[:5]]
    assert first_blocks != sorted(first_blocks) or first_blocks[0] != 0  # block order shuffled too


def test_memory_stays_bounded_while_prefetching():
    y = exzarr.create(shape=(1000,), chunks=(10,), dtype="int64")
    y[...] = np.arange(1000)
    with ChunkReads() as reads:
        it = iter(exzarr.batches(y, batch_size=10, shuffle=True, seed=0, buffer_blocks=2, prefetch=1))
        next(it)
        time.sleep(0.3)  # give the prefetch thread every chance to run ahead
        ahead = sum(reads.counts.values())
        it.close()
    assert 2 <= ahead <= 3 * 2  # a couple of pools, not the 100 blocks
    assert wait_no_prefetch_threads() == []


# ----------------------------------------------------------------------------- chunkings, sharding


def test_tuple_with_different_chunkings_lcm_or_union_of_boundaries():
    x, y = features_labels(100, xchunk=4, ychunk=6)
    assert exzarr.batches((x, y), 8).blocks[:3] == [(0, 12), (12, 24), (24, 36)]  # lcm 12
    assert exzarr.batches((x, y), 8).blocks[-1] == (96, 100)
    x2, y2 = features_labels(100, xchunk=13, ychunk=40)  # lcm 520 > 8 * 40: union of boundaries
    b = exzarr.batches((x2, y2), 8, shuffle=True, seed=2)
    starts = [r0 for r0, _ in b.blocks]
    assert starts == sorted(set(range(0, 100, 13)) | set(range(0, 100, 40)))
    got = list(b)
    for xb, yb in got:
        check_paired(xb, yb)
    assert sorted(np.concatenate([yb for _, yb in got]).tolist()) == list(range(100))


def test_sharded_arrays_read_each_shard_once():
    x = exzarr.create(shape=(130, 4), chunks=(10, 4), shards=(40, 4), dtype="float32")
    x[...] = np.arange(130)[:, None] * 10.0 + np.arange(4)
    y = exzarr.create(shape=(130,), chunks=(20,), dtype="int64")
    y[...] = np.arange(130)
    b = exzarr.batches((x, y), batch_size=24, shuffle=True, seed=9, buffer_blocks=2)
    assert b.blocks == [(0, 40), (40, 80), (80, 120), (120, 130)]  # shard rows (lcm with 20 is 40)
    with ChunkReads() as reads:
        got = list(b)
    for xb, yb in got:
        check_paired(xb, yb)
    assert sorted(np.concatenate([yb for _, yb in got]).tolist()) == list(range(130))
    shard_reads = {k: v for k, v in reads.counts.items() if k.split(":", 1)[1].count("/") == 2}  # x's keys are c/i/0, y's c/i
    assert len(shard_reads) == 4 and set(shard_reads.values()) == {1}  # 4 shards, one read each
    assert sum(reads.counts.values()) == 4 + 7
    parts = exzarr.batches((x, y), batch_size=24, shuffle=True, seed=9, block_rows=20)  # huge shards read in parts
    assert parts.blocks[:2] == [(0, 20), (20, 40)] and len(parts.blocks) == 7
    got = list(parts)
    for xb, yb in got:
        check_paired(xb, yb)
    assert sorted(np.concatenate([yb for _, yb in got]).tolist()) == list(range(130))
    with pytest.raises(ValueError, match="block_rows must be >= 1"):
        exzarr.batches(x, 4, block_rows=0)


def test_shards_of_an_epoch_are_disjoint_and_cover_every_row():
    x, y = features_labels(95, xchunk=10, ychunk=10)
    b = exzarr.batches((x, y), 8, shuffle=True, seed=4)
    for epoch in (0, 1):
        parts = [np.concatenate([yb for _, yb in b.shard(i, 3).epoch(epoch)]).tolist() for i in range(3)]
        assert all(parts) and sorted(v for part in parts for v in part) == list(range(95))
    with pytest.raises(ValueError, match="shard index 3"):
        b.shard(3, 3)


# ----------------------------------------------------------------------------- prefetch, threads, errors


@pytest.mark.parametrize("prefetch", [0, 1, 4])
def test_prefetch_settings_give_the_same_batches(prefetch):
    x, y = features_labels(90)
    ref = [yb.tolist() for _, yb in exzarr.batches((x, y), 7, shuffle=True, seed=8, prefetch=0).epoch(0)]
    got = [yb.tolist() for _, yb in exzarr.batches((x, y), 7, shuffle=True, seed=8, prefetch=prefetch).epoch(0)]
    assert got == ref
    assert wait_no_prefetch_threads() == []


def test_early_break_stops_the_prefetch_thread():
    assert wait_no_prefetch_threads() == []
    x, y = features_labels(2000, xchunk=10, ychunk=10)
    b = exzarr.batches((x, y), 5, shuffle=True, seed=0, prefetch=2)
    for i, _ in enumerate(b):
        assert prefetch_threads(), "the batches are read in a prefetch thread"
        if i == 2:
            break
    gc.collect()
    assert wait_no_prefetch_threads() == []
    it = iter(b)  # explicitly closed
    next(it)
    it.close()
    assert wait_no_prefetch_threads() == []
    it = iter(b)  # dropped without close: garbage collection stops it
    next(it)
    del it
    gc.collect()
    assert wait_no_prefetch_threads() == []


@pytest.mark.parametrize("prefetch", [0, 2])
def test_a_corrupt_chunk_raises_in_the_consumer(tmp_path: Path, prefetch):
    x, y = features_labels(60, xchunk=10, ychunk=10, store=str(tmp_path / "data.zarr"))
    chunk = tmp_path / "data.zarr" / "x" / "c" / "3" / "0"
    assert chunk.is_file()
    chunk.write_bytes(b"\x00garbage" * 8)
    x = exzarr.open(str(tmp_path / "data.zarr" / "x"))
    seen = []
    with pytest.raises(ChunkDecodeError) as info:
        for _, yb in exzarr.batches((x, y), 10, prefetch=prefetch):
            seen.extend(yb.tolist())
    assert "c/3/0" in str(info.value)
    assert seen == list(range(30))  # the batches before the bad chunk, nothing from it
    assert wait_no_prefetch_threads() == []


def test_an_array_shrunk_during_iteration_is_an_error_not_short_data():
    y = exzarr.create(shape=(40,), chunks=(10,), dtype="int64")
    y[...] = np.arange(40)
    b = exzarr.batches(y, 10, prefetch=0)
    y.resize((15,))
    with pytest.raises(ValueError, match="resized"):
        list(b)


def test_bad_arguments_are_clear_errors():
    x, y = features_labels(30)
    short = exzarr.create(shape=(29,), chunks=(10,), dtype="int8")
    with pytest.raises(ValueError, match=r"same length along axis 0: arrays\[0\].* has 30, arrays\[1\].* has 29"):
        exzarr.batches((x, short), 4)
    for bad in (0, -3):
        with pytest.raises(ValueError, match="batch_size must be >= 1"):
            exzarr.batches(x, bad)
    for bad in (2.5, True, "8", None):
        with pytest.raises(TypeError, match="batch_size must be an int"):
            exzarr.batches(x, bad)
    with pytest.raises(ValueError, match="prefetch must be >= 0"):
        exzarr.batches(x, 4, prefetch=-1)
    with pytest.raises(TypeError, match="prefetch must be an int"):
        exzarr.batches(x, 4, prefetch=1.5)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        exzarr.batches(x, 4, shuffle=True, seed=-1)
    with pytest.raises(TypeError, match="shuffle must be a bool"):
        exzarr.batches(x, 4, shuffle="yes")
    with pytest.raises(TypeError, match=r"arrays must be an exzarr Array.*ndarray"):
        exzarr.batches(np.zeros((4, 2)), 2)
    with pytest.raises(TypeError, match=r"arrays\[1\] must be an exzarr Array.*list"):
        exzarr.batches((x, [1, 2, 3]), 2)
    with pytest.raises(ValueError, match="empty sequence"):
        exzarr.batches((), 2)
    with pytest.raises(ValueError, match="0-d"):
        exzarr.batches(exzarr.create(shape=(), chunks=(), dtype="f8"), 1)
    assert np.issubdtype(np.asarray(next(iter(exzarr.batches(x, np.int64(4))))).dtype, np.floating)  # numpy ints are fine


# ----------------------------------------------------------------------------- properties


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 70),
    xchunk=st.integers(1, 20),
    ychunk=st.integers(1, 20),
    batch_size=st.integers(1, 30),
    shuffle=st.booleans(),
    drop=st.booleans(),
    buffer_blocks=st.integers(1, 3),
    prefetch=st.integers(0, 2),
    seed=st.integers(0, 2**32),
)
def test_invariants_over_shapes_chunks_and_batch_sizes(
    n, xchunk, ychunk, batch_size, shuffle, drop, buffer_blocks, prefetch, seed
):
    x, y = features_labels(n, width=2, xchunk=xchunk, ychunk=ychunk)
    b = exzarr.batches(
        (x, y), batch_size, shuffle=shuffle, seed=seed, drop_remainder=drop, prefetch=prefetch, buffer_blocks=buffer_blocks
    )
    got = list(b)
    assert len(got) == len(b)
    sizes = [len(yb) for _, yb in got]
    full, rest = divmod(n, batch_size)
    assert sizes == [batch_size] * full + ([rest] if rest and not drop else [])
    for xb, yb in got:
        check_paired(xb, yb)
    labels = np.concatenate([yb for _, yb in got]) if got else np.zeros(0, "int64")
    assert len(set(labels.tolist())) == len(labels)  # no row twice
    if not drop:
        assert sorted(labels.tolist()) == list(range(n))
    if not shuffle:
        assert labels.tolist() == list(range(len(labels)))
    assert b.blocks[0][0] == 0 if n else b.blocks == []
    assert all(r0 < r1 for r0, r1 in b.blocks) and (not b.blocks or b.blocks[-1][1] == n)
