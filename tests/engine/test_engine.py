"""The parallel engine: results at every concurrency, limits, nesting, locks, faults, Ctrl-C, async."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
import threading
import time

import numpy as np
import pytest
from helpers import CountingStore

import exzarr
from exzarr.engine.locks import LOCK_DIR, process_lock
from exzarr.errors import ChunkDecodeError, StoreError
from exzarr.storage import LatencyStore, LocalStore, MemoryStore


@pytest.mark.parametrize("mc", [1, 2, 3, 8, 64, None])
def test_results_identical_at_every_concurrency(mc):
    x = np.random.default_rng(0).standard_normal((97, 61))
    a = exzarr.create(shape=x.shape, chunks=(10, 7), dtype="f8")
    a.set_basic_selection(..., x, max_concurrency=mc)
    assert np.array_equal(a.get_basic_selection(..., max_concurrency=mc), x)
    assert np.array_equal(a.get_slice(start=(5, 3), stop=(90, 60), max_concurrency=mc), x[5:90, 3:60])
    assert np.array_equal(a.get_orthogonal_selection(([3, 1, 50], slice(None)), max_concurrency=mc), x[[3, 1, 50]])
    assert np.array_equal(a.get_coordinate_selection(([3, 1, 96], [0, 60, 2]), max_concurrency=mc), x[[3, 1, 96], [0, 60, 2]])


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4"])
def test_invalid_concurrency(bad):
    a = exzarr.create(shape=(4,), chunks=(2,))
    with pytest.raises(ValueError, match="max_concurrency"):
        a.get_basic_selection(..., max_concurrency=bad)
    with pytest.raises(ValueError, match="parallel"):
        a.chunk_stream(parallel=bad)


def test_config_validation_and_context():
    with pytest.raises(ValueError, match="cpu_workers"):
        exzarr.config.update(cpu_workers=0)
    with pytest.raises(AttributeError, match="nope"):
        exzarr.config.update(nope=1)
    before = exzarr.config.io_concurrency
    with exzarr.config.set(io_concurrency=3):
        assert exzarr.config.io_concurrency == 3
    assert exzarr.config.io_concurrency == before


def test_concurrency_limits_requests_in_flight():
    store = CountingStore(latency=0.01, io_bound=True)
    a = exzarr.create(store, shape=(40, 40), chunks=(4, 4))
    a[...] = 1.0
    store.reset()
    a.get_basic_selection(..., max_concurrency=5)
    assert 2 <= store.max_in_flight <= 5
    store.reset()
    with exzarr.config.set(io_concurrency=7):
        a[...]
    assert 2 <= store.max_in_flight <= 7
    store.reset()
    a.get_basic_selection(..., max_concurrency=1)
    assert store.max_in_flight == 1


def test_nested_calls_do_not_deadlock_or_multiply_budget():
    inner_store = CountingStore(latency=0.002)
    other = exzarr.create(inner_store, shape=(64, 64), chunks=(8, 8))
    other[...] = 2.0
    outer = exzarr.create(shape=(64, 64), chunks=(8, 8))
    outer[...] = 1.0
    inner_store.reset()
    done = []

    def fn(item):
        idx, data = item
        return float(data.sum() + other[...].sum())  # a whole engine call inside a worker

    t = threading.Thread(target=lambda: done.append(list(outer.parallel_chunk_map(fn, max_concurrency=4))))
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "nested engine call deadlocked"
    assert done[0] == [64.0 + 2.0 * 64 * 64] * 64
    assert inner_store.max_in_flight <= 4  # nested reads ran inline: 4 workers, never 4 x 4


def test_same_chunk_writers_across_threads_lose_nothing():
    store = LatencyStore(MemoryStore(), latency=0.001)  # widen the read-modify-write window
    a = exzarr.create(store, shape=(64, 32), chunks=(64, 32), dtype="i4", fill_value=-1)
    barrier = threading.Barrier(16)

    def writer(t):
        barrier.wait()
        for row in range(t, 64, 16):
            a[row, :] = row

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    got = a[...]
    lost = [r for r in range(64) if not (got[r] == r).all()]
    assert lost == []


def _process_writer(root, rows, process_locks):
    a = exzarr.open(root, mode="r+", process_locks=process_locks)
    for r in rows:
        a[r, :] = r


def test_same_chunk_writers_across_processes(tmp_path):
    root = str(tmp_path / "p")
    exzarr.create(root, shape=(48, 16), chunks=(48, 16), dtype="i4", fill_value=-1, process_locks=True)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(root, range(k, 48, 4), True)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    got = exzarr.open(root)[...]
    assert [r for r in range(48) if not (got[r] == r).all()] == []
    assert os.path.isdir(os.path.join(root, LOCK_DIR))
    assert not any(k.startswith(".exzarr") for k in LocalStore(root).list())  # lock files are never keys


def _hold_lock_forever(root, key, ready):
    with process_lock(LocalStore(root), key):
        ready.set()
        time.sleep(600)


def test_stale_lock_of_a_killed_process_is_recovered(tmp_path):
    root = str(tmp_path / "s")
    os.makedirs(root)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=_hold_lock_forever, args=(root, "c/0/0", ready))
    p.start()
    assert ready.wait(60)
    with pytest.raises(TimeoutError, match="c/0/0"):
        with process_lock(LocalStore(root), "c/0/0", timeout=0.2):
            pass
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    t0 = time.monotonic()
    with process_lock(LocalStore(root), "c/0/0", timeout=10):
        pass
    assert time.monotonic() - t0 < 5


def test_process_locks_need_a_local_store():
    store = MemoryStore()
    with pytest.raises(StoreError, match="LocalStore"):
        exzarr.create(store, shape=(4,), chunks=(2,), process_locks=True)
    assert list(store.list()) == []  # refused before anything was written
    exzarr.create(store, shape=(4,), chunks=(2,))
    with pytest.raises(StoreError, match="LocalStore"):
        exzarr.open(store, mode="r+", process_locks=True)


def test_failing_chunk_names_key_and_cancels_the_rest():
    store = CountingStore(latency=0.005, io_bound=True)
    a = exzarr.create(store, shape=(200, 10), chunks=(2, 10))
    a[...] = 1.0
    store.inner.set("c/3/0", b"corrupt")
    store.reset()
    with pytest.raises(ChunkDecodeError, match="'c/3/0'"):
        a.get_basic_selection(..., max_concurrency=2)
    assert len(store.gets) < 100  # the remaining tasks never started


def test_store_error_names_chunk_key():
    store = CountingStore(fail_keys={"c/1"})
    a = exzarr.create(store, shape=(10,), chunks=(5,))
    with pytest.raises(StoreError, match="c/1"):
        a[...]


def test_failed_write_leaves_no_partial_chunk(tmp_path):
    base = LocalStore(tmp_path / "w")
    a0 = exzarr.create(base, shape=(20,), chunks=(5,), dtype="i4")
    a0[...] = np.arange(20)
    store = CountingStore(inner=base, fail_set_keys={"c/2"})
    a = exzarr.open(store, mode="r+")
    with pytest.raises(StoreError, match="c/2"):
        a.set_basic_selection(..., np.full(20, 7, "i4"), max_concurrency=1)
    got = exzarr.open(base)[...]
    for c in range(4):  # every chunk is entirely old or entirely new
        part = got[c * 5 : (c + 1) * 5]
        assert (part == 7).all() or (part == np.arange(c * 5, c * 5 + 5)).all()
    assert (got[10:15] == np.arange(10, 15)).all()


def test_keyboard_interrupt_stops_promptly():
    store = LatencyStore(MemoryStore(), latency=0.05)
    a = exzarr.create(store, shape=(2000,), chunks=(1,))
    with exzarr.config.set(io_concurrency=2):  # a full read would take ~50 s
        timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            a[...]
        assert time.monotonic() - t0 < 5


def test_async_twins():
    a = exzarr.create(shape=(10, 10), chunks=(3, 3), dtype="i4")
    x = np.arange(100, dtype="i4").reshape(10, 10)

    async def go():
        await a.set_slice_async(x, start=(0, 0), stop=(10, 10))
        r1, r2 = await asyncio.gather(a.get_slice_async(start=(0, 0), stop=(5, 5)), a.getitem_async((slice(5, None), 1)))
        await a.setitem_async((0, 0), -1)
        return r1, r2, await a.read_chunk_async((0, 0))

    r1, r2, chunk = asyncio.run(go())
    assert np.array_equal(r1, x[:5, :5]) and np.array_equal(r2, x[5:, 1]) and chunk[0, 0] == -1


def test_latency_store_keeps_many_requests_in_flight():
    inner = CountingStore()
    store = LatencyStore(inner, latency=0.02)
    a = exzarr.create(store, shape=(100,), chunks=(1,))
    a[...] = 3.0
    sleeping = []
    real_sleep = time.sleep

    def observed_sleep(s):  # LatencyStore's delay: count how many requests wait at once
        sleeping.append(1)
        observed_sleep.peak = max(observed_sleep.peak, len(sleeping))
        try:
            real_sleep(s)
        finally:
            sleeping.pop()

    observed_sleep.peak = 0
    import exzarr.storage.wrappers as w

    w.time.sleep = observed_sleep
    try:
        with exzarr.config.set(io_concurrency=16):
            assert (a[...] == 3).all()
    finally:
        w.time.sleep = real_sleep
    assert store.io_bound and observed_sleep.peak >= 8
    assert pickle_roundtrip(LatencyStore(MemoryStore(), latency=0.02)).latency == 0.02
    with pytest.raises(ValueError, match="latency"):
        LatencyStore(MemoryStore(), latency=-1)


def pickle_roundtrip(obj):
    import pickle

    return pickle.loads(pickle.dumps(obj))
