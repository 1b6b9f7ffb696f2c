"""Sharded I/O: reading inner chunks by byte range and rewriting parts of shards.

Used by the engine for the ``sharded`` layout (:mod:`exzarr.engine.layout`). A read of a
selection groups its inner chunks by shard, fetches each shard's index with one range
request (the last or first ``index_nbytes`` bytes), then the inner chunks it needs with one
request per run of adjacent chunks, and decodes them on the pool. A partial write decodes,
updates and re-encodes only the inner chunks it touches and keeps every other inner chunk's
stored bytes. Inner chunks of a whole shard are encoded in parallel here (the codec itself
never runs a pool).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import telemetry
from ..cache import ChunkCache
from ..codecs.base import Buffer
from ..codecs.sharding import ShardingCodec, byte_view, shard_ranges
from ..config import config
from ..errors import ChunkDecodeError, decoding
from ..indexing import CoordinateSelection, OrthogonalSelection, rechunk
from ..storage.base import ByteRange, Snapshot, SnapshotChanged, Store
from . import native
from .executor import cpu_gate, resolve_concurrency, run_tasks
from .plan import ChunkTask, plan_coordinate, plan_orthogonal

Index = tuple[int, ...]
SNAPSHOT_RETRIES = 3  # a shard replaced between reading its index and its chunks is read again


class ShardIO:
    """Partial reads and writes of the shards of one array (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        name: str,
        key_of: Callable[[Index], str],
        sharding: ShardingCodec,
        dtype: np.dtype,
        fill: Any,
        cache: ChunkCache | None,
    ) -> None:
        self.store, self.name, self.key_of = store, name, key_of
        self.sh, self.dtype, self.fill, self.cache = sharding, dtype, fill, cache
        n = sharding.index_nbytes()
        self._index_range = ByteRange.from_suffix(n) if sharding.index_location == "end" else ByteRange(0, n)
        self._inner_limit = sharding.inner_pipeline.stored_limit
        self.inner_limit = self._inner_limit  # the most bytes an inner chunk can hold

    # -- reading -----------------------------------------------------------------------------
    def index(self, key: str, snap: Snapshot | None) -> np.ndarray | None:
        """The index of the shard ``snap`` reads (one range request), ``None`` if the shard is missing."""
        raw = snap.read(self._index_range) if snap is not None else None
        if raw is None:
            return None
        with decoding(self.name, key, part="index"):
            return self.sh.decode_index(raw)

    def fetch(self, key: str, snap: Snapshot, index: np.ndarray, wanted: list[Index]) -> dict[Index, memoryview]:
        """Stored bytes of the ``wanted`` inner chunks present in a shard, read from the same
        snapshot as its index, one range request per run of adjacent chunks. Entries that point
        outside the shard or claim more bytes than an inner chunk can hold are refused first."""
        with decoding(self.name, key, part="index"):
            ranges = shard_ranges(index, wanted, limit=self._inner_limit, size=snap.size)
        blobs = snap.read_many([ByteRange(a, b) for a, b, _ in ranges])
        found: dict[Index, memoryview] = {}
        for (a, b, members), blob in zip(ranges, blobs, strict=True):
            if blob is None or len(blob) != b - a:
                raise ChunkDecodeError(
                    f"array {self.name!r}: shard {key!r}: inner chunk bytes [{a}, {b}) lie outside the shard",
                    array=self.name,
                    key=key,
                )
            mv = memoryview(blob)
            for idx, off, n in members:
                found[idx] = mv[off - a : off - a + n]
        return found

    def decode_inner(self, key: str, local: Index, data: Buffer) -> np.ndarray:
        with decoding(self.name, key, inner=local):
            return self.sh.inner_pipeline.decode(data)

    def read_unit(self, shard: Index, local: Index) -> tuple[np.ndarray | None, int]:
        """One whole inner chunk (``None`` when absent) and its stored size."""
        key = self.key_of(shard)
        with self.store.snapshot(key) as snap:
            index = self.index(key, snap)
            data = self.fetch(key, snap, index, [local]).get(local) if index is not None else None  # type: ignore[arg-type]
        if data is None:
            return None, 0
        return self.decode_inner(key, local, data), len(data)

    def stored_chunks(self, shards: Iterator[Index], grid: tuple[int, ...]) -> Iterator[Index]:
        """Grid indices of the inner chunks present in the given stored shards."""
        cps = self.sh.cps
        for shard, key, raw in self._indexes(list(shards)):
            if raw is None:
                continue
            with decoding(self.name, key, part="index"):
                index = self.sh.decode_index(raw)
            present = ~((index[..., 0] == np.uint64(2**64 - 1)) & (index[..., 1] == np.uint64(2**64 - 1)))
            for local in zip(*np.nonzero(present), strict=True):
                idx = tuple(int(s * n + i) for s, n, i in zip(shard, cps, local, strict=True))
                if all(i < g for i, g in zip(idx, grid, strict=True)):
                    yield idx

    def _indexes(self, shards: list[Index], batch: int = 256) -> Iterator[tuple[Index, str, bytes | None]]:
        """``(shard, key, raw index or None)`` for many shards, a batch of concurrent range requests
        at a time on object stores (memory stays bounded by the batch)."""
        for start in range(0, len(shards), batch):
            part = shards[start : start + batch]
            keys = [self.key_of(s) for s in part]
            yield from zip(part, keys, self.store.get_many(keys, [self._index_range] * len(keys)), strict=True)

    def read(self, sel: OrthogonalSelection | CoordinateSelection, out: np.ndarray, conc: int, run: Callable[..., None]) -> None:
        """Fill ``out`` with a selection, touching only the inner chunks it needs."""
        sh = self.sh
        inner_shape, cps = sh.chunk_shape, sh.cps
        sel = rechunk(sel, inner_shape)
        if self.cache is None and not telemetry.enabled() and native.sharded_eligible(self, sel):
            native.read_sharded(self, sel, out, conc, run)  # type: ignore[arg-type]
            return
        if isinstance(sel, OrthogonalSelection):
            tasks, flat = list(plan_orthogonal(sel, inner_shape)), out
        else:
            tasks, flat = list(plan_coordinate(sel)), out.reshape(-1)
        groups: dict[Index, list[ChunkTask]] = {}
        for t in tasks:
            groups.setdefault(tuple(c // n for c, n in zip(t.chunk_coords, cps, strict=True)), []).append(t)
        key_of, fill, cache, name = self.key_of, self.fill, self.cache, self.name
        inner_decode = sh.inner_pipeline.decode
        traced = telemetry.enabled()
        if traced:
            inner_decode = telemetry.timed("decode", inner_decode, name)

        def fetch(shard: Index, ts: list[ChunkTask]) -> list[tuple[ChunkTask, str, Index, Any, int]]:
            key = key_of(shard)
            token = cache.token() if cache is not None else 0
            local = {tuple(c - s * n for c, s, n in zip(t.chunk_coords, shard, cps, strict=True)): t for t in ts}
            if cache is not None:
                hits = {i: cache.get((key, t.chunk_coords)) for i, t in local.items()}
                if all(h is not None for h in hits.values()):
                    return [(t, key, i, hits[i], token) for i, t in local.items()]
            timer = telemetry.Timer("chunk_read", name, shard, key) if traced else None
            if timer is not None:
                timer.__enter__()
            for attempt in range(SNAPSHOT_RETRIES + 1):
                try:
                    with self.store.snapshot(key) as snap:  # the index and the chunks from one version of the shard
                        index = self.index(key, snap)
                        if index is None:
                            return [(t, key, i, None, token) for i, t in local.items()]
                        found = self.fetch(key, snap, index, list(local))  # type: ignore[arg-type]
                    break
                except SnapshotChanged:  # replaced between the index and the chunks: read the new version
                    if attempt == SNAPSHOT_RETRIES:
                        raise
            if timer is not None:
                timer.nbytes = sum(len(v) for v in found.values())
                timer.__exit__(None, None, None)
            return [(t, key, i, found.get(i), token) for i, t in local.items()]

        def decode_one(item: tuple[ChunkTask, str, Index, Any, int]) -> None:
            t, key, local, data, token = item
            if data is None:
                flat[t.out_selection] = fill
                return
            if isinstance(data, np.ndarray):  # from the cache
                flat[t.out_selection] = data[t.chunk_selection]
                return
            with decoding(name, key, inner=local):
                chunk = inner_decode(data)
            if cache is not None:
                cache.put((key, t.chunk_coords), chunk, token)
            flat[t.out_selection] = chunk[t.chunk_selection]

        if getattr(self.store, "batched", False) and not traced and len(groups) > 1:
            self._read_batched(groups, decode_one, cache, conc)
            return
        sizes = [len(ts) for ts in groups.values()]
        balanced = len(groups) >= conc and max(sizes) * len(groups) <= 2 * sum(sizes)
        if len(groups) >= conc and not balanced and conc > 1:
            # shards needing very different numbers of inner chunks (a slice across shard corners): a
            # worker per shard would leave the others idle behind the big one, so fetch a wave of
            # shards (one range read per run of chunks each), then decode all their chunks on every
            # worker; a wave holds the stored bytes of at most ~64 inner chunks per worker
            wave: list[tuple[Index, list[ChunkTask]]] = []
            budget = 64 * conc
            for item in groups.items():
                wave.append(item)
                if sum(len(ts) for _, ts in wave) >= budget:
                    self._read_wave(wave, fetch, decode_one, conc, run)
                    wave = []
            if wave:
                self._read_wave(wave, fetch, decode_one, conc, run)
            return
        if len(groups) >= conc:
            # many shards: each worker fetches one shard and decodes its inner chunks, then takes the next
            # (I/O overlaps decoding; at most `conc` shards of stored bytes are held at once)
            gate = cpu_gate(conc)

            def shard_task(item: tuple[Index, list[ChunkTask]]) -> None:
                fetched = fetch(*item)
                with gate:
                    for f in fetched:
                        decode_one(f)

            run(shard_task, list(groups.items()), conc)
        else:
            # few shards (a small read, or one big shard): decode each shard's inner chunks in parallel
            for shard, ts in groups.items():
                run(decode_one, fetch(shard, ts), resolve_concurrency(None) if conc > 1 else 1)

    @staticmethod
    def _read_wave(
        wave: list[tuple[Index, list[ChunkTask]]],
        fetch: Callable[..., list[Any]],
        decode_one: Callable[..., None],
        conc: int,
        run: Callable[..., None],
    ) -> None:
        fetched: list[list[Any]] = [[] for _ in wave]

        def fetch_one(i: int) -> None:
            fetched[i] = fetch(*wave[i])

        run(fetch_one, list(range(len(wave))), conc)
        run(decode_one, [f for part in fetched for f in part], conc)

    def _read_batched(self, groups: dict[Index, list[ChunkTask]], decode_one: Callable[..., None], cache: Any, conc: int) -> None:
        """Sharded reads from a store that runs many requests without a thread each: per shard,
        its index then (pinned to that version) its inner chunks, all shards in flight at once;
        the cores decode whole shards as they arrive."""
        cps = self.sh.cps
        token = cache.token() if cache is not None else 0
        jobs: list[tuple[str, dict[Index, ChunkTask]]] = []
        gate = cpu_gate(config.cpu_workers + 1)
        for shard, ts in groups.items():
            key = self.key_of(shard)
            local = {tuple(c - s * n for c, s, n in zip(t.chunk_coords, shard, cps, strict=True)): t for t in ts}
            if cache is not None:
                hits = {i: cache.get((key, t.chunk_coords)) for i, t in local.items()}
                if all(h is not None for h in hits.values()):
                    for i, t in local.items():
                        decode_one((t, key, i, hits[i], token))
                    continue
            jobs.append((key, local))
        if not jobs:
            return
        name, sh, limit = self.name, self.sh, self._inner_limit

        def plan(j: int, raw: bytes, size: int | None) -> list[Any]:
            key, local = jobs[j]
            with decoding(name, key, part="index"):
                index = sh.decode_index(raw)
                return shard_ranges(index, list(local), limit=limit, size=size)

        workers = min(config.cpu_workers, len(jobs))
        results = self.store.fetch_shards(
            [k for k, _ in jobs], self._index_range, plan, window=getattr(self.store, "max_in_flight", 64) + 4 * workers
        )  # type: ignore[attr-defined]
        take = threading.Lock()

        def decode_next(_: int) -> None:
            with take:
                j, payload = next(results)
            if isinstance(payload, BaseException):
                raise payload
            key, local = jobs[j]
            found: dict[Index, memoryview] = {}
            if payload is not None:
                _, ranges, blobs = payload
                for (a, b, members), blob in zip(ranges, blobs, strict=True):
                    if len(blob) != b - a:
                        raise ChunkDecodeError(
                            f"array {name!r}: shard {key!r}: inner chunk bytes [{a}, {b}) lie outside the shard",
                            array=name,
                            key=key,
                        )
                    mv = memoryview(blob)
                    for idx, off, n in members:
                        found[idx] = mv[off - a : off - a + n]
            with gate:
                for i, t in local.items():
                    decode_one((t, key, i, found.get(i), token))

        try:
            run_tasks(decode_next, range(len(jobs)), max_concurrency=workers)  # type: ignore[arg-type]
        finally:
            results.close()

    # -- writing -----------------------------------------------------------------------------
    def encode(
        self, chunk: np.ndarray, raw: dict[Index, bytes] | None = None, only: set[Index] | None = None
    ) -> list[bytes] | None:
        """A shard from a whole decoded shard ``chunk``: the inner chunks in ``only`` (default: all)
        are encoded, in parallel on the pool, the others are taken from ``raw`` (stored bytes kept
        as they are). ``None`` when no inner chunk is left (the shard is deleted)."""
        sh = self.sh
        if only is None and not raw and native.shard_encode_eligible(self, chunk):
            parts = sh.assemble(native.encode_inner(self, chunk))  # type: ignore[arg-type]
            return None if sh.is_empty(parts) else parts
        todo = sh.inner_indices() if only is None else sorted(only)
        encoded: dict[Index, bytes | None] = dict(raw or {})
        inner_encode = sh.encode_inner_chunk  # looked up per call: tests may instrument the pipeline

        def enc(idx: Index) -> None:
            encoded[idx] = inner_encode(chunk[sh.region(idx)])

        run_tasks(enc, todo)
        parts = sh.assemble(encoded)
        return None if sh.is_empty(parts) else parts

    def rewrite(self, key: str, data: Buffer, csel: tuple[Any, ...], piece: np.ndarray) -> list[bytes] | None:
        """Write ``piece`` into part of the stored shard ``data``: the inner chunks the selection
        touches are decoded, updated and re-encoded; every other inner chunk keeps its stored
        bytes. Returns the new shard's parts, or ``None`` when it ends up empty (delete it)."""
        sh = self.sh
        raw = byte_view(data)
        with decoding(self.name, key, part="index"):
            index = sh.decode_index(sh.index_bytes_of(raw))
        per_dim = []
        for sel, n, c in zip(csel, sh.shard_shape, sh.chunk_shape, strict=True):
            picked = np.arange(n)[sel] if not isinstance(sel, (int, np.integer)) else np.array([sel])
            per_dim.append(np.unique(np.asarray(picked).ravel() // c).tolist())
        touched = set(itertools.product(*per_dim))

        def stored(idx: Index) -> memoryview | None:
            with decoding(self.name, key, part="index"):
                where = sh.stored_range(index, idx, len(raw))
            return None if where is None else raw[where[0] : where[0] + where[1]]

        chunk = np.full(sh.shard_shape, self.fill, dtype=self.dtype)
        for idx in touched:
            b = stored(idx)
            if b is not None:
                chunk[sh.region(idx)] = self.decode_inner(key, idx, b)
        chunk[(*csel, ...)] = piece  # (with ..., object elements are copied, not boxed)
        keep = {}
        for idx in sh.inner_indices():
            if idx not in touched:
                b = stored(idx)
                if b is not None:
                    keep[idx] = bytes(b)
        return self.encode(chunk, raw=keep, only=touched)
