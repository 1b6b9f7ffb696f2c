"""Telemetry events, debug logging, stats, and no work when nothing listens."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import exzarr
from exzarr import telemetry


@pytest.fixture
def events():
    seen: list[telemetry.Event] = []
    telemetry.attach(seen.append)
    yield seen
    telemetry.detach(seen.append)


@pytest.mark.parametrize("shards", [None, (4, 4)])
def test_read_write_decode_encode_events(events, shards):
    a = exzarr.create(shape=(8, 8), chunks=(2, 2), shards=shards)
    a[...] = np.arange(64.0).reshape(8, 8)
    writes = [e for e in events if e.name == "chunk_write"]
    encodes = [e for e in events if e.name == "encode"]
    assert len(writes) == (4 if shards else 16) and len(encodes) == len(writes)
    assert all(e.array == "/" and e.key.startswith("c/") and e.nbytes > 0 and e.duration >= 0 for e in writes)
    events.clear()
    a[0:3, 0:3]
    reads = [e for e in events if e.name == "chunk_read"]
    decodes = [e for e in events if e.name == "decode"]
    assert len(reads) == (1 if shards else 4) and len(decodes) == 4
    assert all(e.nbytes > 0 for e in reads) and all(d.nbytes == 2 * 2 * 8 for d in decodes)


def test_stream_events(events):
    a = exzarr.create(shape=(6,), chunks=(2,))
    a[...] = 1.0
    events.clear()
    list(a.chunk_stream(parallel=2))
    list(a.parallel_chunk_map(lambda it: 0))
    a.write_stream([((0,), np.ones(2))])
    marks = [(e.name, e.info.get("kind")) for e in events if e.name.startswith("stream")]
    assert marks == [("stream_start", "chunk_stream"), ("stream_stop", "chunk_stream"), ("stream_start", "parallel_chunk_map"),
                     ("stream_stop", "parallel_chunk_map"), ("stream_start", "write_stream"), ("stream_stop", "write_stream")]  # fmt: skip


def test_debug_logging(caplog):
    a = exzarr.create(shape=(4,), chunks=(2,))
    with caplog.at_level(logging.DEBUG, logger="exzarr"):
        a[...] = 1.0
        a[...]
    assert any("chunk_write" in r.message and "c/0" in r.message for r in caplog.records)
    assert any("decode" in r.message for r in caplog.records)


def test_stats_and_broken_handlers(caplog):
    telemetry.stats(reset=True)
    a = exzarr.create(shape=(10,), chunks=(5,))
    a[...] = 2.0
    a[...]
    s = telemetry.stats()
    assert s["chunk_write"]["count"] == 2 and s["chunk_read"]["count"] == 2 and s["chunk_read"]["bytes"] > 0
    telemetry.stop_stats()

    def broken(event):
        raise RuntimeError("handler bug")

    telemetry.attach(broken)
    try:
        a[...] = 3.0  # a failing handler never breaks I/O
    finally:
        telemetry.detach(broken)
    assert (a[...] == 3.0).all()
    with pytest.raises(TypeError):
        telemetry.attach(42)
    with pytest.raises(ValueError):
        telemetry.detach(broken)


def test_nothing_listens_by_default():
    assert not telemetry.enabled()
