"""The chunk I/O engine behind :class:`~exzarr.array.Array`: reads, writes and sharded reads.

Every multi-chunk operation comes here as a selection. Reads and writes plan it into
:class:`~exzarr.engine.plan.ChunkTask` objects and run them on the shared pool
(:mod:`exzarr.engine.executor`); sharded arrays are read per shard, fetching each shard's
index with one range request and then only the inner chunks the selection needs. The
methods live on a mixin so that ``array.py`` stays the user-facing API.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import telemetry
from ..codecs.sharding import shard_ranges
from ..errors import CastError, ChunkDecodeError, ShapeMismatchError, StoreError
from ..indexing import CoordinateSelection, OrthogonalSelection, rechunk
from ..storage.base import ByteRange
from .executor import cpu_gate, resolve_concurrency, run_tasks
from .locks import chunk_lock
from .plan import ChunkTask, plan_coordinate, plan_orthogonal


def _rows_needed(sel0: Any) -> int:
    """How many leading rows (axis 0) of a chunk a chunk selection touches."""
    if isinstance(sel0, slice):
        return sel0.stop if sel0.step is None or sel0.step > 0 else sel0.start + 1
    if isinstance(sel0, np.ndarray):
        return int(sel0.max()) + 1 if sel0.size else 0
    return int(sel0) + 1


class ChunkIO:
    """Chunk-level reading and writing; mixed into :class:`~exzarr.array.Array`."""

    def _chunk_bounds(self, idx: tuple[int, ...]) -> tuple[list[int], list[int]]:
        """Start and (exclusive, in-bounds) stop of user-level chunk ``idx`` in array coordinates."""
        lo = [i * c for i, c in zip(idx, self.chunks, strict=True)]  # type: ignore[attr-defined]
        hi = [min(a + c, s) for a, c, s in zip(lo, self.chunks, self.shape, strict=True)]  # type: ignore[attr-defined]
        return lo, hi

    def _decode_failed(self, key: str, exc: BaseException, inner: Any = None) -> ChunkDecodeError:
        where = f"inner chunk {inner} of shard {key!r}" if inner is not None else f"chunk {key!r}"
        return ChunkDecodeError(f"array {self.name!r}: {where} could not be decoded: {exc}")  # type: ignore[attr-defined]

    def _inner_chunk(self, idx: tuple[int, ...]) -> tuple[np.ndarray, int]:
        """One (user-level) chunk, trimmed to the array bounds, and its stored size in bytes.

        For plain sharded arrays this costs two small range requests (index entry, chunk bytes)."""
        lo, hi = self._chunk_bounds(idx)
        trim = tuple(slice(0, b - a) for a, b in zip(lo, hi, strict=True))
        sh = self._sharding
        if sh is None:
            if self._shard_codec is not None:  # compressed shards: decode through the whole-shard path
                return self.get_basic_selection(tuple(slice(a, b) for a, b in zip(lo, hi, strict=True)), max_concurrency=1), 0
            key = self._key(idx)
            data = self._store.get(key)
            if data is None:
                return np.full(tuple(b - a for a, b in zip(lo, hi, strict=True)), self._meta.effective_fill, dtype=self.dtype), 0
            return self._decode(key, data)[trim], len(data)
        shard = tuple(i // n for i, n in zip(idx, sh.cps, strict=True))
        local = tuple(i - s * n for i, s, n in zip(idx, shard, sh.cps, strict=True))
        key = self._key(shard)
        index = self._shard_index(key)
        found = self._fetch_inner(key, index, [local]) if index is not None else {}
        data = found.get(local)
        if data is None:
            return np.full(tuple(b - a for a, b in zip(lo, hi, strict=True)), self._meta.effective_fill, dtype=self.dtype), 0
        try:
            chunk = sh.inner_pipeline.decode(data)
        except Exception as exc:
            raise self._decode_failed(key, exc, idx) from exc
        return chunk[trim], len(data)

    def _concurrency(self, max_concurrency: int | None) -> int:
        return resolve_concurrency(max_concurrency, io_bound=self._store.io_bound)

    def _read(self, sel: OrthogonalSelection | CoordinateSelection, max_concurrency: int | None = None) -> np.ndarray:
        if self._sharding is not None:
            out = self._read_sharded(sel, self._concurrency(max_concurrency))
            if isinstance(sel, OrthogonalSelection) and sel.flip_axes:
                out = np.flip(out, sel.flip_axes)
            return out
        out = np.empty(sel.shape, dtype=self.dtype)
        if isinstance(sel, OrthogonalSelection):
            tasks = list(plan_orthogonal(sel, self._meta.chunks))
            flat = out
        else:
            tasks = list(plan_coordinate(sel))
            flat = out.reshape(-1)
        conc = self._concurrency(max_concurrency)
        fill = self._meta.effective_fill
        get = self._store.get
        key_of = self._key
        decode = self._decode
        gate = cpu_gate(conc)
        traced = telemetry.enabled()
        if traced:  # decided once per call: untraced reads pay nothing per chunk
            get = telemetry.timed_get(get, self.name)
            decode = telemetry.timed("decode", decode, self.name)
        into = self._meta.pipeline.decode_into
        rows = self._meta.pipeline.decode_rows
        rows_limit = int(self._meta.chunks[0] * 0.75) if self._meta.chunks else 0
        interior = self._meta.interior_grid

        cache = self._cache
        if cache is not None or traced:
            into = rows = None  # whole decoded chunks are what the cache keeps (and what events measure)

        def read_one(task: ChunkTask) -> None:
            key = key_of(task.chunk_coords)
            if cache is not None:
                hit = cache.get(key)
                if hit is not None:
                    flat[task.out_selection] = hit[task.chunk_selection]
                    return
            data = get(key)
            if data is None:
                flat[task.out_selection] = fill
                return
            if cache is not None:
                with gate:
                    chunk = decode(key, data)
                    cache.put(key, chunk)
                    flat[task.out_selection] = chunk[task.chunk_selection]
                return
            with gate:
                if into is not None and task.is_complete and all(c < e for c, e in zip(task.chunk_coords, interior, strict=True)):
                    dest = flat[task.out_selection]
                    if dest.flags.c_contiguous and dest.shape == self._meta.chunks:
                        try:
                            into(data, dest)  # decode straight into the output: no intermediate chunk
                        except Exception as exc:
                            raise self._decode_failed(key, exc) from exc
                        return
                if rows is not None and not task.is_complete:
                    k = _rows_needed(task.chunk_selection[0])
                    if k <= rows_limit:  # only a leading part of the chunk is needed: decode just that
                        try:
                            part = rows(data, k)
                        except Exception as exc:
                            raise self._decode_failed(key, exc) from exc
                        flat[task.out_selection] = part[task.chunk_selection]
                        return
                flat[task.out_selection] = decode(key, data)[task.chunk_selection]

        self._run(read_one, tasks, conc)
        if isinstance(sel, OrthogonalSelection) and sel.flip_axes:
            out = np.flip(out, sel.flip_axes)
        return out

    def _index_range(self) -> ByteRange:
        sh = self._sharding
        assert sh is not None
        n = sh.index_nbytes()
        return ByteRange.from_suffix(n) if sh.index_location == "end" else ByteRange(0, n)

    def _shard_index(self, key: str) -> np.ndarray | None:
        """The index of the shard at ``key`` (one range request), or ``None`` if the shard is missing."""
        sh = self._sharding
        assert sh is not None
        raw = self._store.get(key, self._index_range())
        if raw is None:
            return None
        try:
            return sh.decode_index(raw)
        except Exception as exc:
            raise ChunkDecodeError(f"array {self.name!r}: shard {key!r} has an unreadable index: {exc}") from exc

    def _fetch_inner(self, key: str, index: np.ndarray, wanted: list[tuple[int, ...]]) -> dict[tuple[int, ...], memoryview]:
        """Encoded bytes of the ``wanted`` inner chunks (local coordinates) present in a shard,
        fetched with one byte-range request per run of adjacent chunks."""
        ranges = shard_ranges(index, wanted)
        blobs = self._store.get_many([key] * len(ranges), [ByteRange(a, b) for a, b, _ in ranges])
        found: dict[tuple[int, ...], memoryview] = {}
        for (a, b, members), blob in zip(ranges, blobs, strict=True):
            if blob is None or len(blob) != b - a:
                raise ChunkDecodeError(f"array {self.name!r}: shard {key!r}: inner chunk bytes [{a}, {b}) lie outside the shard")
            mv = memoryview(blob)
            for idx, off, n in members:
                found[idx] = mv[off - a : off - a + n]
        return found

    def _read_sharded(self, sel: OrthogonalSelection | CoordinateSelection, conc: int) -> np.ndarray:
        """Read a selection of a sharded array touching only the inner chunks it needs."""
        sh = self._sharding
        assert sh is not None
        inner_shape, cps = sh.chunk_shape, sh.cps
        sel = rechunk(sel, inner_shape)
        out = np.empty(sel.shape, dtype=self.dtype)
        if isinstance(sel, OrthogonalSelection):
            tasks, flat = list(plan_orthogonal(sel, inner_shape)), out
        else:
            tasks, flat = list(plan_coordinate(sel)), out.reshape(-1)
        groups: dict[tuple[int, ...], list[ChunkTask]] = {}
        for t in tasks:
            groups.setdefault(tuple(c // n for c, n in zip(t.chunk_coords, cps, strict=True)), []).append(t)
        key_of = self._key
        inner = sh.inner_pipeline
        inner_decode = inner.decode
        fill = self._meta.effective_fill
        cache = self._cache
        traced = telemetry.enabled()
        if traced:
            inner_decode = telemetry.timed("decode", inner_decode, self.name)

        def fetch(shard: tuple[int, ...], ts: list[ChunkTask]) -> list[tuple[ChunkTask, str, Any]]:
            key = key_of(shard)
            if cache is not None:
                hits = [(t, cache.get((key, t.chunk_coords))) for t in ts]
                if all(h is not None for _, h in hits):
                    return [(t, key, h) for t, h in hits]
            timer = telemetry.Timer("chunk_read", self.name, shard, key) if traced else None
            t0 = timer.__enter__() if timer is not None else None
            index = self._shard_index(key)
            if index is None:
                return [(t, key, None) for t in ts]
            local = {tuple(c - s * n for c, s, n in zip(t.chunk_coords, shard, cps, strict=True)): t for t in ts}
            found = self._fetch_inner(key, index, list(local))
            if t0 is not None:
                t0.nbytes = sum(len(v) for v in found.values())
                t0.__exit__(None, None, None)
            return [(t, key, found.get(idx)) for idx, t in local.items()]

        def decode_one(item: tuple[ChunkTask, str, memoryview | None]) -> None:
            t, key, data = item
            if data is None:
                flat[t.out_selection] = fill
                return
            if isinstance(data, np.ndarray):  # from the cache
                flat[t.out_selection] = data[t.chunk_selection]
                return
            try:
                chunk = inner_decode(data)
                if cache is not None:
                    cache.put((key, t.chunk_coords), chunk)
            except Exception as exc:
                raise self._decode_failed(key, exc, t.chunk_coords) from exc
            flat[t.out_selection] = chunk[t.chunk_selection]

        if len(groups) >= conc:
            # many shards: each worker fetches one shard and decodes its inner chunks, then takes the next
            # (I/O overlaps decoding; at most `conc` shards of encoded bytes are held at once)
            gate = cpu_gate(conc)

            def shard_task(item: tuple[tuple[int, ...], list[ChunkTask]]) -> None:
                fetched = fetch(*item)
                with gate:
                    for f in fetched:
                        decode_one(f)

            self._run(shard_task, list(groups.items()), conc)
        else:
            # few shards (a small read, or one big shard): decode each shard's inner chunks in parallel
            for shard, ts in groups.items():
                self._run(decode_one, fetch(shard, ts), resolve_concurrency(None) if conc > 1 else 1)
        return out

    def _run(self, fn: Any, tasks: list[ChunkTask], conc: int) -> None:
        """Run chunk tasks on the engine; store failures name the chunk key."""
        try:
            run_tasks(fn, tasks, max_concurrency=conc)
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(f"array {self.name!r}: {exc}") from exc

    def _prepare_value(self, value: Any, shape: tuple[int, ...]) -> np.ndarray:
        nd = self.dtype
        if isinstance(value, ChunkIO):  # another exzarr array: read it whole
            value = value[...]  # type: ignore[index]
        if isinstance(value, np.ndarray) and value.dtype == nd:
            arr = value
        elif nd.fields is not None and not isinstance(value, np.ndarray):
            try:  # as NumPy does: a tuple is one record, a list of tuples is records
                arr = np.array(value, dtype=nd)
            except (ValueError, TypeError) as exc:
                raise CastError(f"array {self.name!r}: cannot cast {type(value).__name__} value to dtype {nd}: {exc}") from None
        else:
            try:
                arr = np.empty(np.shape(value), dtype=nd)
                if arr.ndim == 0:
                    arr[()] = value
                else:
                    arr[...] = value
            except (ValueError, TypeError, OverflowError) as exc:
                raise CastError(f"array {self.name!r}: cannot cast {type(value).__name__} value to dtype {nd}: {exc}") from None
        try:
            return np.broadcast_to(arr, shape)
        except ValueError:
            raise ShapeMismatchError(
                f"array {self.name!r}: data of shape {arr.shape} does not broadcast to selection shape {shape}"
            ) from None

    def _write(self, sel: OrthogonalSelection | CoordinateSelection, value: Any, max_concurrency: int | None = None) -> None:
        self._check_writable()
        val = self._prepare_value(value, sel.shape)
        if isinstance(sel, OrthogonalSelection):
            if sel.flip_axes:
                val = np.flip(val, sel.flip_axes)
            tasks = list(plan_orthogonal(sel, self._meta.chunks))
        else:
            val = val.reshape(-1)
            tasks = list(plan_coordinate(sel))
        conc = self._concurrency(max_concurrency)
        if max_concurrency is None and self._store.write_concurrency:
            conc = max(conc, self._store.write_concurrency)  # overlap file creation; the CPU gate bounds encoding
        chunk_shape = self._meta.chunks
        grid_edge = self._meta.interior_grid
        key_of = self._key
        gate = cpu_gate(conc)
        encode_chunk, put_chunk, get = self._encode_chunk, self._put_chunk, self._store.get
        if telemetry.enabled():
            encode_chunk = telemetry.timed("encode", encode_chunk, self.name)
            get = telemetry.timed_get(get, self.name)

            def put_chunk(key: str, encoded: Any, chunk: np.ndarray) -> None:
                with telemetry.Timer("chunk_write", self.name, None, key) as t:
                    t.nbytes = (
                        sum(len(memoryview(p).cast("B")) for p in encoded)
                        if isinstance(encoded, list)
                        else (len(memoryview(encoded).cast("B")) if encoded is not None else 0)
                    )
                    self._put_chunk(key, encoded, chunk)

        def write_one(task: ChunkTask) -> None:
            key = key_of(task.chunk_coords)
            piece = val[task.out_selection]
            with self._chunk_lock(key):  # the whole read-modify-write: concurrent writers never lose updates
                data = None if task.is_complete else get(key)  # I/O outside the CPU gate
                with gate:
                    if task.is_complete:
                        on_edge = any(c >= e for c, e in zip(task.chunk_coords, grid_edge, strict=True))
                        if not on_edge and piece.shape == chunk_shape and piece.dtype.kind != "O":
                            chunk = piece  # the value covers the whole chunk: encode it as it is, no copy
                        else:
                            chunk = self._fill_chunk() if on_edge else np.empty(chunk_shape, dtype=self.dtype)
                            chunk[task.chunk_selection] = piece
                    elif data is not None and self._sharding is not None:
                        # part of an existing shard: re-encode only the inner chunks written to
                        put_chunk(key, self._rewrite_shard(key, data, task.chunk_selection, piece), None)
                        return
                    else:
                        chunk = self._writable(key, data)
                        chunk[task.chunk_selection] = piece
                    encoded = encode_chunk(chunk)
                put_chunk(key, encoded, chunk)

        self._run(write_one, tasks, conc)

    def _rewrite_shard(self, key: str, data: Any, csel: tuple[Any, ...], piece: np.ndarray) -> Any:
        """Write ``piece`` into part of the stored shard ``data``: the inner chunks the selection
        touches are decoded, updated and re-encoded; every other inner chunk keeps its stored
        bytes. Returns the new shard's parts, or ``None`` when it ends up empty (delete it)."""
        import itertools

        sh = self._sharding
        raw = memoryview(data).cast("B")
        try:
            index = sh.decode_index(sh.index_bytes_of(raw))
        except Exception as exc:
            raise ChunkDecodeError(f"array {self.name!r}: shard {key!r} has an unreadable index: {exc}") from exc
        inner, shard_shape, fill = sh.chunk_shape, self._meta.chunks, self._meta.effective_fill
        per_dim = []
        for sel, n, c in zip(csel, shard_shape, inner, strict=True):
            picked = np.arange(n)[sel] if not isinstance(sel, (int, np.integer)) else np.array([sel])
            per_dim.append(np.unique(np.asarray(picked).ravel() // c).tolist())
        touched = set(itertools.product(*per_dim))
        empty = np.uint64(2**64 - 1)

        def stored(idx: tuple[int, ...]) -> memoryview | None:
            off, n = index[idx]
            if off == empty and n == empty:
                return None
            if int(off) + int(n) > len(raw):
                raise ChunkDecodeError(f"array {self.name!r}: shard {key!r}: inner chunk {idx} lies outside the shard")
            return raw[int(off) : int(off) + int(n)]

        def region(idx: tuple[int, ...]) -> tuple[slice, ...]:
            return tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, inner, strict=True))

        chunk = np.full(shard_shape, fill, dtype=self.dtype)
        for idx in touched:
            b = stored(idx)
            if b is not None:
                try:
                    chunk[region(idx)] = sh.inner_pipeline.decode(b)
                except Exception as exc:
                    raise self._decode_failed(key, exc, idx) from exc
        chunk[csel] = piece
        keep = {}
        for idx in itertools.product(*(range(n) for n in sh.cps)):
            if idx not in touched:
                b = stored(idx)
                if b is not None:
                    keep[idx] = bytes(b)
        parts = sh.encode_inner({idx: chunk[region(idx)] for idx in touched}, raw=keep)
        return None if sh.is_empty(parts) else parts

    def _chunk_lock(self, key: str) -> Any:
        return chunk_lock(self._store, key, processes=self._process_locks)
