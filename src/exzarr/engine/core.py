"""The chunk engine: reads and writes selections of one array, chunk by chunk, on the pool.

A :class:`ChunkEngine` is built from one explicit record, :class:`EngineSpec` (store, key
encoding, chunk layout with its codec pipeline, dtype, fill, cache, lock policy,
write-empty policy), so it can be used and tested on its own against any store;
:class:`~exzarr.array.Array` holds one and adds the NumPy-facing API.

Reads plan a selection into :class:`~exzarr.engine.plan.ChunkTask` objects and run them on the
shared pool (:mod:`exzarr.engine.executor`). Fast paths, each with a plain twin
(``fast=False``) that the tests compare it against:

- decode straight into the output when a whole chunk's destination is one contiguous block;
- take only the leading rows of an uncompressed chunk when the read needs no more (compressed
  chunks are decoded whole, so damage anywhere in one is refused as on the plain path);
- read local raw or zstd chunks in C, a batch per call without the GIL (:mod:`exzarr.engine.native`),
  and encode and store wholly overwritten local chunks the same way;
- serve decoded chunks from the cache;
- read sharded arrays by inner chunk (:mod:`exzarr.engine.sharded`) instead of whole shards;
- encode a wholly overwritten chunk from the caller's block without a copy.

Every decode of stored bytes runs inside the :class:`~exzarr.errors.decoding` boundary, so a
corrupt object is reported by key with the right error class whatever path read it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .. import telemetry
from ..cache import ChunkCache
from ..casting import cast_value
from ..chunk_grid import ChunkKeyEncoding, grid_shape
from ..codecs.base import Buffer, is_fill
from ..config import config
from ..errors import ReadOnlyError, ResultTooLargeError, StoreError, decode_error, decoding
from ..indexing import CoordinateSelection, OrthogonalSelection, basic_selection, rechunk
from ..metadata.model import ArrayMetadata
from ..storage.base import Store
from . import native
from .executor import cpu_gate, resolve_concurrency, run_tasks
from .layout import ChunkLayout
from .locks import chunk_lock, chunk_locks
from .plan import ChunkTask, plan_coordinate, plan_orthogonal
from .sharded import ShardIO

Index = tuple[int, ...]
Selection = OrthogonalSelection | CoordinateSelection

__all__ = ["ChunkEngine", "EngineSpec", "LockPolicy", "alloc_output", "poison_outputs"]


# ----------------------------------------------------------------------------- output buffers

_POISON: dict[str, bool] = {"on": False}
_POISON_OBJECT = object()


def poison_outputs(on: bool = True) -> None:
    """Fill every freshly allocated read output with a marker pattern (``0xA5`` bytes) instead of
    leaving it uninitialised. The test suite turns this on, so a fast path that allocates an
    output and never writes part of it shows up as wrong values instead of lucky garbage."""
    _POISON["on"] = bool(on)


def alloc_output(shape: tuple[int, ...], dtype: np.dtype, name: str = "") -> np.ndarray:
    try:
        out = np.empty(shape, dtype=dtype)
    except (ValueError, MemoryError) as exc:  # "array is too big", or no memory for it
        raise ResultTooLargeError(f"array {name!r}: a result of shape {shape} {dtype} cannot be allocated ({exc})") from None
    if _POISON["on"]:
        if dtype.kind == "O":
            out.fill(_POISON_OBJECT)
        else:
            out.reshape(-1).view(np.uint8)[:] = 0xA5
    return out


def _block(out: np.ndarray, sel: tuple[Any, ...]) -> np.ndarray | None:
    """The contiguous block of ``out`` that ``sel`` names, as a *view*, or ``None``.

    Basic indexing of an array with only integers returns a copy (a NumPy scalar for a 0-d
    result), and decoding into a copy writes nothing to ``out``: that was the 0-d bug. Adding
    ``...`` always yields a view (basic indexing never copies); the base check refuses anything else."""
    view = out[(*sel, Ellipsis)]
    if not view.flags.c_contiguous or view.base is None:
        return None
    return view


def on_grid(sel: Selection, chunks: tuple[int, ...]) -> Selection:
    """``sel`` planned on the chunk grid ``chunks`` (selections may arrive planned on another one,
    e.g. block selections of a sharded array, made on its inner chunks)."""
    cur = sel.chunks if isinstance(sel, CoordinateSelection) else tuple(d.chunk_len for d in sel.dims)
    return sel if cur == tuple(chunks) else rechunk(sel, chunks)


def _interior(coords: Index, interior: Index) -> bool:
    """Whether a chunk lies wholly inside the array (no edge overhang)."""
    return all(c < e for c, e in zip(coords, interior, strict=True))


def _rows_needed(sel0: Any) -> int:
    """How many leading rows (axis 0) of a chunk a chunk selection touches."""
    if isinstance(sel0, slice):
        return sel0.stop if sel0.step is None or sel0.step > 0 else sel0.start + 1
    if isinstance(sel0, np.ndarray):
        return int(sel0.max()) + 1 if sel0.size else 0
    return int(sel0) + 1


# ----------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class LockPolicy:
    """How chunk writes are locked: always per chunk within the process; with ``processes=True``
    also across processes (a file lock per chunk, local stores), waiting at most ``timeout`` s."""

    processes: bool = False
    timeout: float = 60.0


@dataclass(frozen=True, eq=False)
class EngineSpec:
    """Everything the engine needs to read and write one array's chunks."""

    store: Store
    path: str
    layout: ChunkLayout
    key_encoding: ChunkKeyEncoding
    dtype: np.dtype
    fill: Any
    cache: ChunkCache | None = None
    locks: LockPolicy = field(default_factory=LockPolicy)
    write_empty: bool | None = None  # None: follow exzarr.config.write_empty_chunks
    read_only: bool = False
    vlen: str | None = None  # "string"/"bytes" for variable-length elements (what values must be)
    fast: bool = True  # False: the plain decode-then-copy twin of every fast path (for tests)

    @classmethod
    def from_metadata(cls, store: Store, path: str, meta: ArrayMetadata, **kw: Any) -> EngineSpec:
        return cls(
            store=store,
            path=path.strip("/"),
            layout=ChunkLayout.of(meta),
            key_encoding=meta.key_encoding,
            dtype=meta.dtype.numpy,
            fill=meta.effective_fill,
            vlen=meta.dtype.vlen,
            **kw,
        )

    def with_metadata(self, meta: ArrayMetadata) -> EngineSpec:
        """The same store and policies for new metadata (after a resize)."""
        return replace(self, layout=ChunkLayout.of(meta), key_encoding=meta.key_encoding, fill=meta.effective_fill)


# ----------------------------------------------------------------------------- the engine


class ChunkEngine:
    """Reads and writes selections of one array (see the module docstring).

    >>> from exzarr.metadata import build_array_metadata
    >>> from exzarr.storage import MemoryStore
    >>> from exzarr.indexing import basic_selection
    >>> meta = build_array_metadata(shape=(6,), chunks=(4,), dtype="i4")
    >>> eng = ChunkEngine(EngineSpec.from_metadata(MemoryStore(), "a", meta))
    >>> eng.write(basic_selection(slice(1, 5), (6,), (4,)), 7)
    >>> eng.read(basic_selection(..., (6,), (4,)))
    array([0, 7, 7, 7, 7, 0], dtype=int32)
    >>> sorted(eng.stored_objects()), eng.object_key((1,))
    ([(0,), (1,)], 'a/c/1')
    """

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.store = spec.store
        self.name = "/" + spec.path
        self.layout = spec.layout
        self.dtype = spec.dtype
        self.fill = spec.fill
        self.cache = spec.cache if spec.fast else None
        prefix = f"{spec.path}/" if spec.path else ""
        self.object_key: Callable[[Index], str] = spec.key_encoding.encoder(prefix)
        #: ``(head, separator)`` of the object keys (``object_key(c) == head + separator.join(map(str, c))``)
        self.key_head = spec.key_encoding.head(prefix)
        self.fast = spec.fast
        sh = self.layout.sharding
        self.shards = ShardIO(self.store, self.name, self.object_key, sh, self.dtype, self.fill, self.cache) if sh else None

    def __reduce__(self) -> tuple[Any, ...]:
        return (ChunkEngine, (self.spec,))

    def with_metadata(self, meta: ArrayMetadata) -> ChunkEngine:
        return ChunkEngine(self.spec.with_metadata(meta))

    # ------------------------------------------------------------------ geometry
    @property
    def ndim(self) -> int:
        return len(self.layout.shape)

    @property
    def read_only(self) -> bool:
        return self.spec.read_only or self.store.read_only

    @property
    def write_empty(self) -> bool:
        return config.write_empty_chunks if self.spec.write_empty is None else self.spec.write_empty

    def check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(f"array {self.name!r} is read-only")

    def chunk_key(self, idx: Index) -> str:
        """The store key of the object holding chunk ``idx`` (its shard when sharded)."""
        return self.object_key(self.layout.object_of(idx)[0])

    def check_chunk_index(self, chunk_index: Any) -> Index:
        from ..errors import BoundsError

        try:
            idx = tuple(int(i) for i in np.atleast_1d(chunk_index)) if self.ndim else ()
        except (TypeError, ValueError):
            raise BoundsError(f"array {self.name!r}: {chunk_index!r} is not a chunk index") from None
        grid = self.layout.grid
        if len(idx) != self.ndim or any(not 0 <= i < g for i, g in zip(idx, grid, strict=True)):
            raise BoundsError(f"array {self.name!r}: chunk index {chunk_index} is outside the grid {grid}")
        return idx

    def chunk_bounds(self, idx: Index) -> tuple[Index, Index]:
        """Start and (exclusive, in-bounds) stop of chunk ``idx`` in array coordinates."""
        cs, shape = self.layout.chunk_shape, self.layout.shape
        lo = tuple(i * c for i, c in zip(idx, cs, strict=True))
        hi = tuple(min(a + c, s) for a, c, s in zip(lo, cs, shape, strict=True))
        return lo, hi

    def concurrency(self, max_concurrency: int | None) -> int:
        return resolve_concurrency(max_concurrency, io_bound=self.store.io_bound)

    def run(self, fn: Callable[[Any], None], tasks: list[Any], conc: int) -> None:
        """Run tasks on the pool; store failures name the array (and, from the store, the key)."""
        try:
            run_tasks(fn, tasks, max_concurrency=conc)
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(f"array {self.name!r}: {exc}") from exc

    # ------------------------------------------------------------------ listing
    def stored_objects(self, *, outside: bool = False) -> Iterator[Index]:
        """Grid indices of the stored objects (chunks, or shards) present in the store; with
        ``outside=True`` also those beyond the shape (left by a writer killed while growing it)."""
        path = self.spec.path
        prefix = f"{path}/" if path else ""
        enc = self.spec.key_encoding
        grid = self.layout.object_grid
        if not self.ndim:  # a 0-d array's one key ("c", or "0", which would parse as 1-d)
            if self.store.exists(self.object_key(())):
                yield ()
            return
        for key in self.store.list_prefix(prefix):
            coords = enc.decode(key[len(prefix) :])
            if (
                coords is not None
                and len(coords) == self.ndim
                and (outside or all(c < g for c, g in zip(coords, grid, strict=True)))
            ):
                yield coords

    def stored_chunks(self) -> Iterator[Index]:
        """Grid indices of the chunks present (inner chunks of a sharded array, from each shard's index)."""
        if self.shards is None:
            return self.stored_objects()
        return self.shards.stored_chunks(iter(sorted(self.stored_objects())), self.layout.grid)

    # ------------------------------------------------------------------ single chunks
    def decode(self, key: str, data: Buffer) -> np.ndarray:
        """A stored object's bytes, decoded (the plain path)."""
        with decoding(self.name, key):
            return self.layout.pipeline.decode(data)

    def _unit(self, idx: Index) -> tuple[np.ndarray | None, int]:
        """Read unit ``idx`` whole (overhang included), ``None`` when absent, and its stored size."""
        obj, local = self.layout.object_of(idx)
        if self.shards is not None and self.fast:
            return self.shards.read_unit(obj, local)
        key = self.object_key(obj)
        data = self.store.get_limited(key, self.layout.pipeline.stored_limit)
        if data is None:
            return None, 0
        whole = self.decode(key, data)
        if self.shards is not None:  # the plain twin of an inner-chunk read: slice the decoded shard
            region = self.shards.sh.region(local)
            return whole[region], 0
        return whole, len(data)

    def read_chunk(self, idx: Index) -> np.ndarray:
        """Chunk ``idx`` whole: the full chunk shape, edge overhang included, as a new writable array."""
        chunk, _ = self._unit(self.check_chunk_index(idx))
        if chunk is None:
            return np.full(self.layout.chunk_shape, self.fill, dtype=self.dtype)
        return np.array(chunk, order="C")

    def read_unit(self, idx: Index) -> tuple[np.ndarray, int]:
        """Chunk ``idx`` trimmed to the array bounds, and its stored size (0 when missing)."""
        lo, hi = self.chunk_bounds(idx)
        chunk, nbytes = self._unit(idx)
        if chunk is None:
            return np.full(tuple(b - a for a, b in zip(lo, hi, strict=True)), self.fill, dtype=self.dtype), 0
        return chunk[(*(slice(0, b - a) for a, b in zip(lo, hi, strict=True)), Ellipsis)], nbytes  # an array even when 0-d

    # ------------------------------------------------------------------ reading selections
    def read(self, sel: Selection, max_concurrency: int | None = None) -> np.ndarray:
        """The selected elements as a new array (flipped axes already applied)."""
        conc = self.concurrency(max_concurrency)
        out = alloc_output(sel.shape, self.dtype, self.name)
        if out.size == 0:  # nothing selected: no chunk to plan (an empty axis may span 2**40 chunks)
            return out
        if self.shards is not None and self.fast:
            self.shards.read(sel, out, conc, self.run)
        else:
            self._read_plain(sel, out, conc)
        if isinstance(sel, OrthogonalSelection) and sel.flip_axes:
            out = np.flip(out, sel.flip_axes)
        return out

    def _read_plain(self, sel: Selection, out: np.ndarray, conc: int) -> None:
        layout = self.layout
        sel = on_grid(sel, layout.object_shape)
        left: set[Index] | None = None
        if self.fast and self.cache is None and not telemetry.enabled() and native.eligible(self, sel):
            left = set(native.read_local(self, sel, out, conc))  # type: ignore[arg-type]
            if not left:
                return
        if isinstance(sel, OrthogonalSelection):
            tasks, flat = list(plan_orthogonal(sel, layout.object_shape)), out
        else:
            tasks, flat = list(plan_coordinate(sel)), out.reshape(-1)
        if left is not None:  # the chunks the C loop left to this path (see exzarr.engine.native)
            tasks = [t for t in tasks if t.chunk_coords in left]
        fill, name, cache = self.fill, self.name, self.cache
        key_of = self.object_key
        gate = cpu_gate(conc)
        pipe = layout.pipeline
        get_limited, limit = self.store.get_limited, pipe.stored_limit

        def get(key: str) -> Buffer | None:  # nothing larger than a stored chunk can be is read
            return get_limited(key, limit)

        decode = pipe.decode
        traced = telemetry.enabled()
        if traced:  # decided once per call: untraced reads pay nothing per chunk
            get = telemetry.timed_get(get, name)
            timed_decode = telemetry.timed("decode", lambda key, data: pipe.decode(data), name)
        fast = self.fast and cache is None and not traced  # the cache keeps (and events time) whole chunks
        chunk_shape = layout.object_shape
        # decode-into needs a chunk's destination to be one contiguous block of the output: possible
        # only when the output keeps every axis and the chunk spans all but the first (or it is 0-d)
        blocks = isinstance(sel, OrthogonalSelection) and not sel.has_arrays and out.shape[1:] == chunk_shape[1:]
        into = pipe.decode_into if fast and blocks and out.ndim == len(chunk_shape) else None
        rows = pipe.decode_rows if fast else None
        rows_limit = int(chunk_shape[0] * 0.75) if chunk_shape else 0
        interior = layout.interior_grid

        def place(task: ChunkTask, key: str, data: Buffer | None, token: int) -> None:
            """Decode one fetched chunk into the output (or fill for a missing one)."""
            if data is None:
                flat[task.out_selection] = fill
                return
            with gate:
                # the decode boundary: a plain try (free in CPython 3.11 unless it raises) around the
                # codec calls only, so our own indexing errors are never reported as corrupt chunks
                try:
                    if into is not None and task.is_complete and _interior(task.chunk_coords, interior):
                        dest = _block(flat, task.out_selection)
                        if dest is not None and dest.shape == chunk_shape:
                            into(data, dest)  # decode straight into the output: no intermediate chunk
                            return
                    part = None
                    if rows is not None and not task.is_complete:
                        k = _rows_needed(task.chunk_selection[0])
                        if k <= rows_limit:  # only a leading part of the chunk is needed: decode just that
                            part = rows(data, k)
                    if part is not None:
                        chunk = part
                    else:
                        chunk = timed_decode(key, data) if traced else decode(data)
                except Exception as exc:
                    raise decode_error(exc, name, key) from exc
                if cache is not None:
                    cache.put(key, chunk, token)
                flat[task.out_selection] = chunk[task.chunk_selection]

        def cached(task: ChunkTask, key: str) -> bool:
            hit = cache.get(key)  # type: ignore[union-attr]
            if hit is None:
                return False
            flat[task.out_selection] = hit[task.chunk_selection]
            return True

        if getattr(self.store, "batched", False) and len(tasks) > 1 and not traced:
            self._read_batched(tasks, place, cached if cache is not None else None, limit, conc)
            return

        def read_one(task: ChunkTask) -> None:
            key = key_of(task.chunk_coords)
            token = 0
            if cache is not None:
                if cached(task, key):
                    return
                token = cache.token()
            place(task, key, get(key), token)

        self.run(read_one, tasks, conc)

    def _read_batched(
        self, tasks: list[ChunkTask], place: Callable[..., None], cached: Callable[..., bool] | None, limit: int, conc: int
    ) -> None:
        """Reads from a store that runs many requests without a thread each (``store.batched``):
        the store streams chunks back as they arrive, the cores decode them meanwhile."""
        keys = [self.object_key(t.chunk_coords) for t in tasks]
        if cached is not None:
            todo = [i for i, (t, k) in enumerate(zip(tasks, keys, strict=True)) if not cached(t, k)]
            tasks, keys = [tasks[i] for i in todo], [keys[i] for i in todo]
        if not tasks:
            return
        token = self.cache.token() if self.cache is not None else 0
        workers = min(config.cpu_workers, len(tasks), conc)
        window = min(conc, getattr(self.store, "max_in_flight", 64)) + 4 * workers
        results = self.store.fetch(keys, limit=limit, window=window, concurrency=conc)  # type: ignore[attr-defined]
        take = threading.Lock()

        def decode_next(_: int) -> None:
            with take:  # a generator is not thread-safe: one taker at a time
                i, data = next(results)
            if isinstance(data, BaseException):
                raise data
            place(tasks[i], keys[i], data, token)

        try:
            run_tasks(decode_next, range(len(tasks)), max_concurrency=workers)  # type: ignore[arg-type]
        finally:
            results.close()

    # ------------------------------------------------------------------ writing selections
    def prepare_value(self, value: Any, shape: tuple[int, ...]) -> np.ndarray:
        """``value`` cast to the dtype (refusing any lossy cast) and broadcast to ``shape``."""
        return cast_value(value, self.dtype, shape, name=self.name, vlen=self.spec.vlen)

    def lock(self, key: str) -> Any:
        """The lock held over a whole read-modify-write of the stored object ``key``."""
        return chunk_lock(self.store, key, processes=self.spec.locks.processes, timeout=self.spec.locks.timeout)

    def _fill_object(self) -> np.ndarray:
        return np.full(self.layout.object_shape, self.fill, dtype=self.dtype)

    def encode(self, chunk: np.ndarray) -> Any:
        """A stored object's bytes (or parts), ``None`` when it is all fill and need not be stored."""
        if not self.write_empty and is_fill(chunk, self.fill):
            return None
        if self.shards is not None and self.fast:
            return self.shards.encode(chunk)
        return self.layout.pipeline.encode(chunk)

    def put(self, key: str, encoded: Any, chunk: np.ndarray | None = None) -> None:
        """Store (or, for ``None``, delete) one object, then drop what the cache held of it."""
        store = self.store
        if encoded is not None:
            store.set(key, encoded)
        elif store.supports_deletes:
            store.delete(key)
        elif store.exists(key):  # cannot delete (zip): overwrite with the fill object instead
            store.set(key, self.layout.pipeline.encode(self._fill_object() if chunk is None else chunk))
        if self.cache is not None:  # after the write: a reader that fetched old bytes cannot cache them
            self.layout.invalidate(self.cache, key)

    def write(self, sel: Selection, value: Any, max_concurrency: int | None = None) -> None:
        self.check_writable()
        val = self.prepare_value(value, sel.shape)
        if val.size == 0:
            return
        layout = self.layout
        chunk_shape = layout.object_shape
        sel = on_grid(sel, chunk_shape)
        if isinstance(sel, OrthogonalSelection):
            if sel.flip_axes:
                val = np.flip(val, sel.flip_axes)
            tasks = list(plan_orthogonal(sel, chunk_shape))
        else:
            val = val.reshape(-1)
            tasks = list(plan_coordinate(sel))
        conc = self.concurrency(max_concurrency)
        if max_concurrency is None and self.store.write_concurrency:
            conc = max(conc, self.store.write_concurrency)  # overlap file creation; the CPU gate bounds encoding
        grid_edge = layout.interior_grid
        key_of, name = self.object_key, self.name
        get_limited, limit = self.store.get_limited, layout.pipeline.stored_limit

        def get(key: str) -> Buffer | None:
            return get_limited(key, limit)

        gate = cpu_gate(conc)
        encode, put = self.encode, self.put
        shards = self.shards if self.fast else None
        if telemetry.enabled():
            encode = telemetry.timed("encode", encode, name)
            get = telemetry.timed_get(get, name)

            def put(key: str, encoded: Any, chunk: np.ndarray | None = None) -> None:
                with telemetry.Timer("chunk_write", name, None, key) as t:
                    parts = encoded if isinstance(encoded, list) else ([encoded] if encoded is not None else [])
                    t.nbytes = sum(len(memoryview(p).cast("B")) for p in parts)
                    self.put(key, encoded, chunk)

        # object arrays: an all-integer index returns (and assigns) the element itself, so index
        # with a trailing ... to keep 0-d arrays as arrays
        boxed = val.dtype.kind == "O" or self.ndim == 0

        def replaces(task: ChunkTask) -> bool:
            """Whether the write replaces the whole stored object, so its old bytes need not be read.
            Never for an edge object: the part past this handle's shape may hold another writer's
            data (the array grew since this handle read its metadata), which must survive."""
            return task.is_complete and not any(c >= e for c, e in zip(task.chunk_coords, grid_edge, strict=True))

        def build(task: ChunkTask, key: str, data: Buffer | None) -> tuple[Any, np.ndarray | None]:
            """The new stored bytes of one object (``None``: delete it) and the chunk they encode."""
            piece = val[(*task.out_selection, ...)] if boxed else val[task.out_selection]
            with gate:
                if replaces(task):
                    if piece.shape == chunk_shape and piece.dtype.kind != "O":
                        chunk = piece  # the value covers the whole chunk: encode it as it is, no copy
                    else:
                        chunk = np.empty(chunk_shape, dtype=self.dtype)
                        chunk[(*task.chunk_selection, ...) if boxed else task.chunk_selection] = piece
                elif data is not None and shards is not None:
                    # part of an existing shard: re-encode only the inner chunks written to
                    return shards.rewrite(key, data, task.chunk_selection, piece), None
                else:
                    chunk = self._fill_object() if data is None else np.array(self.decode(key, data), order="C")
                    chunk[(*task.chunk_selection, ...) if boxed else task.chunk_selection] = piece
                return encode(chunk), chunk

        if self.fast and not telemetry.enabled() and native.write_eligible(self, sel, val):
            tasks = native.write_local(self, tasks, val, replaces, conc)  # whole chunks in C; the rest below
            if not tasks:
                return
        if shards is not None and not telemetry.enabled() and isinstance(sel, OrthogonalSelection) and not boxed:
            tasks = native.write_shards(self, tasks, val, replaces, conc)  # whole shards, inner chunks in C
            if not tasks:
                return
        if getattr(self.store, "batched", False) and len(tasks) > 1 and not telemetry.enabled():
            self._write_batched(tasks, build, replaces, limit, self.concurrency(max_concurrency))
            return

        def write_one(task: ChunkTask) -> None:
            key = key_of(task.chunk_coords)
            with self.lock(key):  # the whole read-modify-write: concurrent writers never lose updates
                data = None if replaces(task) else get(key)  # I/O outside the CPU gate
                encoded, chunk = build(task, key, data)
                put(key, encoded, chunk)

        self.run(write_one, tasks, conc)

    def _write_batched(
        self,
        tasks: list[ChunkTask],
        build: Callable[..., tuple[Any, Any]],
        replaces: Callable[[ChunkTask], bool],
        limit: int,
        conc: int,
    ) -> None:
        """Writes to a store that runs many requests without a thread each (``store.batched``), a
        batch of objects at a time: lock them (stripes in a fixed order, so writers never
        deadlock), fetch the ones only partly overwritten, encode on the cores, then put them
        all concurrently."""
        store = self.store
        batch_size = max(64, 4 * min(conc, getattr(store, "max_in_flight", 64)))
        workers = min(config.cpu_workers, conc)
        for start in range(0, len(tasks), batch_size):
            batch = tasks[start : start + batch_size]
            keys = [self.object_key(t.chunk_coords) for t in batch]
            with chunk_locks(store, keys, processes=self.spec.locks.processes, timeout=self.spec.locks.timeout):
                partial = [i for i, t in enumerate(batch) if not replaces(t)]
                old: dict[int, Any] = {}
                for j, data in store.fetch([keys[i] for i in partial], limit=limit, concurrency=conc):  # type: ignore[attr-defined]
                    if isinstance(data, BaseException):
                        raise data
                    old[partial[j]] = data
                built: list[Any] = [None] * len(batch)

                def encode_one(i: int, built: list[Any] = built, batch: list[ChunkTask] = batch, keys: list[str] = keys,
                               old: dict[int, Any] = old) -> None:  # fmt: skip
                    built[i] = build(batch[i], keys[i], old.get(i))[0]

                run_tasks(encode_one, range(len(batch)), max_concurrency=min(workers, len(batch)))  # type: ignore[arg-type]
                store.put_many(list(zip(keys, built, strict=True)), concurrency=conc)
                if self.cache is not None:
                    for k in keys:
                        self.layout.invalidate(self.cache, k)

    # ------------------------------------------------------------------ shape changes
    def shrink(self, new_shape: tuple[int, ...]) -> None:
        """Before the shape becomes ``new_shape``: reset the cut-off part of edge objects to the fill
        value and delete the objects wholly outside, so growing again never brings old data back."""
        old = self.layout.shape
        ndim = self.ndim
        for axis, (n_new, n_old, c) in enumerate(zip(new_shape, old, self.layout.object_shape, strict=True)):
            if c and n_new < n_old and n_new % c:
                edge_stop = min(-(-n_new // c) * c, n_old)
                sel = tuple(slice(n_new, edge_stop) if k == axis else slice(None) for k in range(ndim))
                self.write(basic_selection(sel, old, self.layout.object_shape), self.fill)
        new_grid = grid_shape(new_shape, self.layout.object_shape)
        if any(n < o for n, o in zip(new_shape, old, strict=True)):
            self._drop_outside(new_grid)
        if self.cache is not None:
            self.cache.clear()

    def _drop_outside(self, grid: Index) -> None:
        for obj in list(self.stored_objects(outside=True)):
            if any(i >= g for i, g in zip(obj, grid, strict=True)):
                key = self.object_key(obj)
                with self.lock(key):
                    self.put(key, None)  # deleted; a store that cannot delete (zip) gets the fill value

    def grow(self, new_shape: tuple[int, ...], meta: ArrayMetadata) -> None:
        """Before the shape grows to ``new_shape`` (``meta``): what lies beyond the current shape
        must read as the fill value, whatever a writer killed while growing the array left there
        (an append writes its chunks before the new shape). Objects wholly outside the current
        shape are deleted, and the part of edge objects past it that the new shape exposes is
        reset to the fill value."""
        old = self.layout.shape
        self._drop_outside(self.layout.object_grid)
        wider = ChunkEngine(self.spec.with_metadata(meta))
        for axis, (n_old, n_new, c) in enumerate(zip(old, new_shape, self.layout.object_shape, strict=True)):
            if c and n_new > n_old and n_old % c:
                stop = min(-(-n_old // c) * c, n_new)
                sel = tuple(
                    slice(n_old, stop) if k == axis else slice(0, min(o, n))
                    for k, (o, n) in enumerate(zip(old, new_shape, strict=True))
                )
                wider.write(basic_selection(sel, new_shape, self.layout.object_shape), self.fill)
        if self.cache is not None:
            self.cache.clear()
