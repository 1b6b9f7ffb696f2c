"""Children created with ``fork`` (multiprocessing on Linux, PyTorch DataLoader workers) read and
write with the arrays they inherit, after the parent has used the pool, even when a parent thread
held an engine lock at the moment of the fork."""

from __future__ import annotations

import multiprocessing as mp
import threading

import numpy as np
import pytest

import exzarr
from exzarr.engine.locks import thread_lock

fork = mp.get_context("fork")
HANG = 30  # seconds: far above what the child needs (well under one)


def run_child(target, *args):
    q = fork.Queue()
    p = fork.Process(target=target, args=(q, *args))
    p.start()
    p.join(HANG)
    if p.is_alive():
        p.kill()
        p.join()
        pytest.fail("the forked child hung")
    assert p.exitcode == 0, f"child exited with {p.exitcode}"
    return q.get(timeout=5)


def _read_inherited(q, a):
    q.put(float(a[...].sum()) + float(a.get_basic_selection(..., max_concurrency=2).sum()))


def _read_reopened(q, path):
    q.put(float(exzarr.open_array(path)[...].sum()))


def _write_then_read(q, a):
    a[0:8, 0:8] = 2.0  # the chunk whose lock a parent thread holds
    a[8:16, :] = 3.0
    q.put(float(a[...].sum()))


def _stream(q, a):
    q.put(sum(float(d.sum()) for _, d in a.chunk_stream(max_concurrency=4)))


@pytest.fixture
def arr(tmp_path):
    x = np.arange(64 * 64, dtype="f8").reshape(64, 64)
    a = exzarr.create(tmp_path / "a", shape=x.shape, chunks=(8, 8), cache_bytes=1 << 20)
    a[...] = x
    assert np.array_equal(a.get_basic_selection(..., max_concurrency=2), x)  # the parent's pool is now running
    return a, x


def test_child_reads_after_the_parent_used_the_pool(arr):
    a, x = arr
    assert run_child(_read_inherited, a) == 2 * x.sum()
    assert run_child(_read_reopened, str(a.store.root)) == x.sum()
    assert run_child(_stream, a) == x.sum()


def test_child_writes_while_a_parent_thread_holds_a_chunk_lock(arr):
    a, x = arr
    held, done = threading.Event(), threading.Event()

    def hold():
        with thread_lock(a.store, a.chunk_key((0, 0))):
            held.set()
            done.wait(HANG)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(5)
        y = x.copy()
        y[0:8, 0:8] = 2.0
        y[8:16, :] = 3.0
        assert run_child(_write_then_read, a) == y.sum()
    finally:
        done.set()
        t.join()
    assert np.array_equal(exzarr.open_array(a.store.root)[...], y)  # the child's writes landed


def test_memory_store_arrays_in_a_child(arr):
    m = exzarr.create(shape=(100,), chunks=(10,), dtype="i4")
    m[...] = 1
    m.get_basic_selection(..., max_concurrency=2)
    assert run_child(_read_inherited, m) == 200.0
