"""Local reads and writes with the chunk loop in C (``exzarr._native``), the GIL released for a whole batch.

For an array in a :class:`~exzarr.storage.LocalStore` whose chunks are their raw bytes or one
zstd frame of them (:attr:`CodecPipeline.native_codec`), a read of slices with step 1 (and
integers) hands batches of chunks (their grid indices) to ``read_grid``, which names each file
itself (the key head is checked once here), opens, reads, checks and decodes it into the output
(straight into it when the chunk's block is contiguous). On two
cores the Python loop released and re-took the GIL about six times per chunk (four syscalls, the
decompression, the copy), and each hand-off under contention cost more than the syscall; the C
loop takes it once per batch.

Every chunk the C loop does not decode (a missing file is filled here; anything else: a
non-regular file, a size over the limit, a framing or decoding failure) is left to the ordinary
path, which reads it again and reports errors exactly as without this module. The plain twin of
this path is the engine's ``fast=False`` read, and the tests compare the two.

Sharded arrays (:func:`read_sharded`): each shard's index is read and checked in Python as on the
ordinary path, then its inner chunks are read through the shard's open descriptor by ``read_ranges``.
Writes (:func:`write_local`): chunks the value covers whole are encoded and stored by
``write_chunks`` (temporary file, rename) under the engine's chunk locks; whole shards encode their
inner chunks with ``encode_chunks`` (:func:`encode_inner` for one shard, :func:`write_shards` for all
the whole shards of a write in one run). Partial chunks, and any chunk the C loop
does not write, go to the ordinary path.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..codecs import libzstd
from ..codecs.base import fill_bytes
from ..config import config
from ..errors import StoreError
from ..indexing import IntDim, OrthogonalSelection, SliceDim

# (the engine and ShardIO are typed Any here: they import this module)
ChunkEngine = ShardIO = Any

try:
    from .. import _native
except ImportError:  # pragma: no cover - built by `pip install` wherever a C compiler is present
    _native = None

__all__ = ["available", "read_local", "read_sharded", "write_local", "write_shards"]

_CODECS: dict[str, int] = {}
_ENCODERS: dict[str, int] = {}
if _native is not None:
    _CODECS["raw"] = _ENCODERS["raw"] = _native.CODEC_RAW
    if libzstd.BOUND:  # the library the Python path decodes with too (exzarr.codecs.libzstd)
        _CODECS["zstd"] = _ENCODERS["zstd"] = _native.CODEC_ZSTD

OK, MISSING = 0, 1
MAX_LIMIT = 2**62  # the C loop takes a signed 64-bit size limit; larger ones mean "no limit" alike


def available(codec: str | None = "raw") -> bool:
    """Whether the C loop is built and decodes ``codec`` (``"raw"`` or ``"zstd"``)."""
    return codec in _CODECS


def _readable(pipe: Any, store: Any, chunk_shape: tuple[int, ...], dtype: np.dtype, sel: Any) -> bool:
    """Chunks of ``pipe`` in a local directory, of a size the C loop takes, read by slices with step 1 (or integers)."""
    from ..storage.local import LocalStore

    return (
        pipe.native_codec in _CODECS
        and type(store) is LocalStore
        and 0 < math.prod(chunk_shape) * dtype.itemsize <= MAX_LIMIT
        and isinstance(sel, OrthogonalSelection)
        and len(sel.dims) > 0
        and all(isinstance(d, IntDim) or (isinstance(d, SliceDim) and d.step == 1) for d in sel.dims)
    )


def eligible(engine: ChunkEngine, sel: Any) -> bool:
    """Whether :func:`read_local` can read ``sel`` (already planned on the chunk grid)."""
    return _readable(engine.layout.pipeline, engine.store, engine.layout.object_shape, engine.dtype, sel)


def sharded_eligible(io: ShardIO, sel: Any) -> bool:
    """Whether :func:`read_sharded` can read ``sel`` (planned on the inner chunk grid)."""
    return _readable(io.sh.inner_pipeline, io.store, io.sh.chunk_shape, io.dtype, sel)


def _axis_rows(d: IntDim | SliceDim) -> np.ndarray:
    """``(chunk, chunk start, chunk stop, output start)`` of every chunk one axis touches (an
    integer, or a slice with step 1: computed at once, as :meth:`SliceDim.projections` would list them)."""
    if isinstance(d, IntDim):
        c, r = divmod(d.index, d.chunk_len)
        return np.array([[c, r, r + 1, 0]], dtype=np.int64)
    cl = d.chunk_len
    if d.stop <= d.start:
        return np.empty((0, 4), dtype=np.int64)
    c = np.arange(d.start // cl, (d.stop - 1) // cl + 1, dtype=np.int64)
    c0 = c * cl
    first = np.maximum(c0, d.start)
    rows = np.empty((len(c), 4), dtype=np.int64)
    rows[:, 0] = c
    rows[:, 1] = first - c0
    rows[:, 2] = np.minimum(cl, d.stop - c0)  # (not c0 + cl: that overflows int64 on an axis near 2**63; stop <= dim_len)
    rows[:, 3] = first - d.start
    return rows


def _blocks(sel: OrthogonalSelection) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """``(coords, spans, out_shape)``: each touched chunk's grid index, its ``(chunk start, chunk
    stop, output start)`` per axis (chunks in C order of the grid), and the output's shape with
    the axes of integers kept (size 1)."""
    per_axis = [_axis_rows(d) for d in sel.dims]  # type: ignore[arg-type]
    out_shape = tuple(1 if isinstance(d, IntDim) else d.nitems for d in sel.dims)
    counts = [len(a) for a in per_axis]
    total = math.prod(counts)
    coords = np.empty((total, len(per_axis)), dtype=np.int64)
    spans = np.empty((total, len(per_axis), 3), dtype=np.int64)
    for k, rows in enumerate(per_axis):  # axis k's rows, each repeated for the later axes, all tiled for the earlier
        col = np.tile(np.repeat(rows, math.prod(counts[k + 1 :]), axis=0), (math.prod(counts[:k]), 1))
        coords[:, k] = col[:, 0]
        spans[:, k, :] = col[:, 1:]
    return coords, spans, out_shape


def _batches(n: int, conc: int) -> tuple[int, list[tuple[int, int]]]:
    """Workers, and batches of chunks ``[i, j)`` in shrinking sizes (each a share of what is left),
    so the cores finish together: the workers pull them in order, and the last ones are single
    chunks. With equal batches (n / 16 on two cores) one core idled for up to a batch at the end
    (4-13 ms of a 256x256-chunk read of about 80 ms). The list is shared between calls (callers
    only read it)."""
    workers = max(1, min(conc, config.cpu_workers, n))
    return workers, _shrinking(n, workers)


@functools.lru_cache(maxsize=256)
def _shrinking(n: int, workers: int) -> list[tuple[int, int]]:
    # cached: a 1000x1000 slice of a sharded array spent 50 us of its 8 ms here on every call
    bounds, i = [], 0
    while i < n:
        size = max(1, min(256, (n - i) // (workers * 4)))
        bounds.append((i, i + size))
        i += size
    return bounds


def _region(span: list[list[int]]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """A block's ``(chunk region, output region)``."""
    return tuple(slice(a, b) for a, b, _ in span), tuple(slice(o, o + b - a) for a, b, o in span)


def read_local(engine: ChunkEngine, sel: OrthogonalSelection, out: np.ndarray, conc: int) -> list[tuple[int, ...]]:
    """Read ``sel`` into ``out`` (a new C-contiguous array) with the C loop; fills missing chunks;
    returns the grid indices of the chunks left to the ordinary path."""
    store = engine.store
    layout = engine.layout
    pipe = layout.pipeline
    coords, spans, out_shape = _blocks(sel)
    n = len(coords)
    if n == 0:
        return []
    full = out.reshape(out_shape)  # a view: `out` is new and contiguous
    head, sep = engine.key_head
    base = store.grid_base(head)
    if base is None:
        return [tuple(c) for c in coords.tolist()]
    grid = np.ascontiguousarray(coords, dtype=np.int64)
    sepb = sep.encode()
    codec = _CODECS[pipe.native_codec]  # type: ignore[index]
    chunk_shape = layout.object_shape
    limit = min(pipe.stored_limit, MAX_LIMIT)
    flags = store.read_flags
    workers, bounds = _batches(n, conc)
    status = bytearray(n)
    buf = full.reshape(-1).view(np.uint8) if full.size else full

    def batch(b: tuple[int, int]) -> None:
        i, j = b
        src = (base, sepb, grid[i:j])
        status[i:j] = _native.read_grid(src, spans[i:j], buf, out_shape, chunk_shape, out.itemsize, codec, limit, flags)

    engine.run(batch, bounds, workers)  # type: ignore[arg-type]
    if status.count(OK) == n:  # every chunk decoded (the common case: no scan below)
        return []
    st = np.frombuffer(bytes(status), dtype=np.uint8)
    for i in np.flatnonzero(st == MISSING).tolist():
        full[_region(spans[i].tolist())[1]] = engine.fill
    return [tuple(c) for c in coords[st > MISSING].tolist()]


#: shards open at once in :func:`read_sharded` (each holds a file descriptor)
SHARDS_PER_WAVE = 64


def read_sharded(io: ShardIO, sel: OrthogonalSelection, out: np.ndarray, conc: int, run: Callable[..., None]) -> None:
    """Read ``sel`` (planned on the inner chunks) of a sharded array into ``out`` with the C loop.

    Each shard is opened once; its index is read and checked exactly as on the Python path
    (:meth:`ShardIO.index`, :func:`shard_ranges`: entries beyond the shard or larger than an inner
    chunk can be are refused), then its inner chunks are read through that descriptor, so index
    and chunks come from one version of the shard even if a writer replaces it meanwhile. An
    inner chunk the C loop leaves is decoded here, from the same descriptor, as the Python path
    decodes it (same errors)."""
    import contextlib

    from ..codecs.sharding import shard_ranges
    from ..errors import ChunkDecodeError, decoding
    from ..storage.local import _pread_all

    sh = io.sh
    cps = np.asarray(sh.cps, dtype=np.int64)
    coords, spans, out_shape = _blocks(sel)
    if not len(coords):
        return
    full = out.reshape(out_shape)
    buf = full.reshape(-1).view(np.uint8)
    pipe = sh.inner_pipeline
    codec = _CODECS[pipe.native_codec]  # type: ignore[index]
    itemsize, chunk_shape, limit = out.itemsize, sh.chunk_shape, min(io.inner_limit, MAX_LIMIT)
    shard_of = coords // cps
    order = np.lexsort(shard_of.T[::-1]) if coords.shape[1] > 1 else np.argsort(shard_of[:, 0], kind="stable")
    cuts = np.flatnonzero(np.any(np.diff(shard_of[order], axis=0) != 0, axis=1)) + 1
    groups = np.split(order, cuts)
    empty = np.uint64(2**64 - 1)
    for w in range(0, len(groups), SHARDS_PER_WAVE):
        with contextlib.ExitStack() as stack:
            parts: list[np.ndarray] = []  # per shard: rows of (block, fd, offset, length, shard number)
            shard_keys: list[str] = []
            for members in groups[w : w + SHARDS_PER_WAVE]:
                shard = tuple(shard_of[members[0]].tolist())
                key = io.key_of(shard)
                snap = stack.enter_context(io.store.snapshot(key))
                index = io.index(key, snap)
                if index is None:  # no shard: every chunk of it is fill
                    for r in members.tolist():
                        full[_region(spans[r].tolist())[1]] = io.fill
                    continue
                local = coords[members] - cps * shard_of[members]
                entries = index[tuple(local.T)]  # (m, 2): offset, length (the index was checked by io.index)
                off, n = entries[:, 0], entries[:, 1]
                absent = (off == empty) & (n == empty)
                size = np.uint64(snap.size)
                bad = ~absent & ((n > np.uint64(limit)) | (n > size) | (off > size - np.minimum(n, size)))
                if bad.any():  # refused exactly as on the Python path (its message names the entry)
                    with decoding(io.name, key, part="index"):
                        shard_ranges(index, [tuple(x) for x in local.tolist()], limit=limit, size=snap.size)
                for r in members[absent].tolist():
                    full[_region(spans[r].tolist())[1]] = io.fill
                keep = ~absent
                m = int(keep.sum())
                if m:
                    part = np.empty((m, 5), dtype=np.int64)
                    part[:, 0] = members[keep]
                    part[:, 1] = snap.fd
                    part[:, 2] = off[keep].astype(np.int64)
                    part[:, 3] = n[keep].astype(np.int64)
                    part[:, 4] = len(shard_keys)
                    parts.append(part)
                shard_keys.append(key)
            if not parts:
                continue
            table = np.concatenate(parts)
            part_spans = np.ascontiguousarray(spans[table[:, 0]])
            ranges_arr = np.ascontiguousarray(table[:, 1:4])
            status = bytearray(len(table))
            workers, bounds = _batches(len(table), conc)

            def batch(b: tuple[int, int], ranges_arr: np.ndarray = ranges_arr, part_spans: np.ndarray = part_spans,
                      status: bytearray = status) -> None:  # fmt: skip
                i, j = b
                status[i:j] = _native.read_ranges(ranges_arr[i:j], part_spans[i:j], buf, out_shape, chunk_shape, itemsize,
                                                  codec, limit, 0)  # fmt: skip

            run(batch, bounds, workers)
            if status.count(OK) == len(status):  # every inner chunk decoded
                continue
            for k in np.flatnonzero(np.frombuffer(bytes(status), dtype=np.uint8) != OK).tolist():
                r, fd, off_k, n_k, s = table[k].tolist()
                key = shard_keys[s]
                idx = tuple((coords[r] - cps * shard_of[r]).tolist())
                data = _pread_all(fd, n_k, off_k)
                if len(data) != n_k:  # the shard was cut short in place since its size was read
                    raise ChunkDecodeError(
                        f"array {io.name!r}: shard {key!r}: inner chunk bytes [{off_k}, {off_k + n_k}) lie outside the shard",
                        array=io.name,
                        key=key,
                    )
                with decoding(io.name, key, inner=idx):
                    chunk = pipe.decode(data)
                inner_region, out_region = _region(spans[r].tolist())
                full[out_region] = chunk[inner_region]


# ----------------------------------------------------------------------------- writes

#: chunks per C call (and per set of chunk locks held): small, so that the lock stripes of two
#: workers' batches rarely meet
WRITE_BATCH = 8
ST_FILL = 3


def _spread(bounds: list[tuple[int, int]], workers: int) -> list[tuple[int, int]]:
    """The batches in an order where consecutive ones come from ``workers`` distant parts of the
    list, so workers pulling them in turn write into different chunk directories: creating and
    renaming files takes the directory's lock, and two workers in the same directory waited on it
    (a 64x64-chunk write of 4096x4096 f8 took 625 ms in the chunk order, 490-539 ms spread)."""
    n = len(bounds)
    parts = [bounds[k * n // workers : (k + 1) * n // workers] for k in range(workers)]
    return [b for group in itertools.zip_longest(*parts) for b in group if b is not None]


def write_eligible(engine: ChunkEngine, sel: Any, val: np.ndarray) -> bool:
    """Whether :func:`write_local` can write the whole chunks of ``sel`` from ``val``."""
    from ..storage.local import LocalStore

    enc = engine.layout.pipeline.native_encoding
    store = engine.store
    return (
        enc is not None
        and enc[0] in _ENCODERS
        and engine.shards is None
        and type(store) is LocalStore
        and not store.reuse_files
        and isinstance(sel, OrthogonalSelection)
        and engine.ndim > 0
        and val.ndim == engine.ndim
        and val.dtype == engine.dtype
        and not val.dtype.hasobject
        and val.flags.c_contiguous
        and 0 < math.prod(engine.layout.object_shape) * val.dtype.itemsize <= MAX_LIMIT
    )


def write_local(engine: ChunkEngine, tasks: list[Any], val: np.ndarray, whole: Callable[[Any], bool], conc: int) -> list[Any]:
    """Write the chunks of ``tasks`` that ``val`` covers whole (``whole(task)``) in C: each encoded
    and stored atomically (a new temporary file renamed over the key) under the same chunk locks as
    the Python path, all-fill chunks deleted when empty chunks are not written. Returns the tasks
    left to the ordinary path (partial chunks, and any chunk the C loop did not write)."""
    from .locks import chunk_locks

    store = engine.store
    pipe = engine.layout.pipeline
    codec_name, level, checksum = pipe.native_encoding  # type: ignore[misc]
    chunk_shape = engine.layout.object_shape
    mine, rest = [], []
    for t in tasks:
        (mine if whole(t) else rest).append(t)
    if not mine:
        return rest
    keys, tmps, finals, blocked = [], [], [], []
    for t in mine:  # a key whose directory cannot be made is left to the ordinary path (its error, after the rest)
        key = engine.object_key(t.chunk_coords)
        try:
            (tmp,), (final,) = store.write_paths([key])
        except StoreError:
            blocked.append(t)
            continue
        keys.append(key)
        tmps.append(tmp)
        finals.append(final)
    if blocked:
        gone = {id(t) for t in blocked}
        mine = [t for t in mine if id(t) not in gone]
    rest += blocked
    if not mine:
        return rest
    spans = np.asarray(
        [[(0, c, o.start) for c, o in zip(chunk_shape, t.out_selection, strict=True)] for t in mine], dtype=np.int64
    ).reshape(len(mine), len(chunk_shape), 3)
    fill = None if engine.write_empty else fill_bytes(engine.fill, engine.dtype)
    src = val.reshape(-1).view(np.uint8)
    codec = _ENCODERS[codec_name]
    locks = engine.spec.locks
    left: list[list[Any]] = []
    bounds = [(i, min(i + WRITE_BATCH, len(mine))) for i in range(0, len(mine), WRITE_BATCH)]
    workers = max(1, min(len(bounds), conc, max(config.cpu_workers, store.write_concurrency)))
    bounds = _spread(bounds, workers)

    def batch(b: tuple[int, int]) -> None:
        i, j = b
        with chunk_locks(store, keys[i:j], processes=locks.processes, timeout=locks.timeout):
            status = _native.write_chunks(tmps[i:j], finals[i:j], spans[i:j], src, val.shape, chunk_shape, val.itemsize,
                                          codec, level, checksum, fill, store.fsync)  # fmt: skip
            left.append([mine[i + k] for k, st in enumerate(status) if st not in (OK, ST_FILL)])
            if engine.cache is not None:  # every written chunk first: a failing delete below must not leave them stale
                for k, st in enumerate(status):
                    if st == OK:
                        engine.layout.invalidate(engine.cache, keys[i + k])
            for k, st in enumerate(status):
                if st == ST_FILL:
                    engine.put(keys[i + k], None)  # delete it, as the Python path does (cache dropped there)

    engine.run(batch, bounds, workers)  # type: ignore[arg-type]
    return rest + [t for part in left for t in part]


def shard_encode_eligible(io: ShardIO, chunk: np.ndarray) -> bool:
    """Whether :func:`encode_inner` can encode the inner chunks of the whole shard ``chunk``."""
    enc = io.sh.inner_pipeline.native_encoding
    return (
        enc is not None
        and enc[0] in _ENCODERS
        and chunk.dtype == io.dtype
        and not chunk.dtype.hasobject
        and chunk.ndim > 0
        and chunk.shape == io.sh.shard_shape
        # rows contiguous; the stride of a length-1 axis means nothing (NumPy gave 0 for a (2, 1) value)
        and (chunk.strides[-1] == chunk.itemsize or chunk.shape[-1] == 1)
        and all(s >= 0 for s in chunk.strides)
        and 0 < math.prod(io.sh.chunk_shape) * chunk.itemsize <= MAX_LIMIT
    )


def _inner_spans(io: ShardIO) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """The inner chunks of a shard in C order, and their spans for ``encode_chunks`` (per inner
    chunk and axis: 0, its extent, its start in the shard)."""
    inner = io.sh.chunk_shape
    todo = io.sh.inner_indices()
    spans = np.asarray([[(0, c, i * c) for i, c in zip(idx, inner, strict=True)] for idx in todo], dtype=np.int64)
    return todo, spans


def _inner_bytes(todo: list[tuple[int, ...]], bounds: list[tuple[int, int]], results: list[Any]) -> dict:
    """The stored bytes of each inner chunk (``None``: equal to the fill value) from the results
    of ``encode_chunks`` on the batches ``bounds`` of ``todo``."""
    out: dict[tuple[int, ...], memoryview | None] = {}
    for (i, j), (blob, sizes) in zip(bounds, results, strict=True):
        mv = memoryview(blob)
        pos = 0
        for idx, n in zip(todo[i:j], np.frombuffer(sizes, dtype=np.int64).tolist(), strict=True):
            if n < 0:
                out[idx] = None
            else:
                out[idx] = mv[pos : pos + n]
                pos += n
    return out


def encode_inner(io: ShardIO, chunk: np.ndarray) -> dict[tuple[int, ...], memoryview | None]:
    """The stored bytes of every inner chunk of the shard ``chunk`` (``None``: equal to the fill
    value, left out), encoded in C on every core straight from ``chunk`` (a view of the caller's
    value: no copy of the shard), as :meth:`ShardingCodec.encode_inner_chunk` encodes them."""
    from .executor import run_tasks

    sh = io.sh
    codec_name, level, checksum = sh.inner_pipeline.native_encoding  # type: ignore[misc]
    todo, spans = _inner_spans(io)
    src = chunk.view(np.uint8) if chunk.size else chunk
    fill = fill_bytes(sh.fill_value, chunk.dtype)
    workers, bounds = _batches(len(todo), config.cpu_workers)
    results: list[Any] = [None] * len(bounds)

    def enc(k: int) -> None:
        i, j = bounds[k]
        results[k] = _native.encode_chunks(
            spans[i:j], src, sh.chunk_shape, chunk.itemsize, _ENCODERS[codec_name], level, checksum, fill
        )

    run_tasks(enc, range(len(bounds)), max_concurrency=workers)  # type: ignore[arg-type]
    return _inner_bytes(todo, bounds, results)


def _shard_batches(shards: int, per_shard: int, workers: int) -> list[tuple[int, int, int, int]]:
    """Batches ``(shard, n, i, j)``: the ``n``-th batch of shard ``shard``, its inner chunks
    ``[i, j)``, shard after shard; each batch is a share of what is left in all the shards (at
    most 256 inner chunks, never across two shards), so the cores finish together (see
    :func:`_batches`)."""
    out, left = [], shards * per_shard
    for k in range(shards):
        i = n = 0
        while i < per_shard:
            size = max(1, min(256, left // (workers * 4), per_shard - i))
            out.append((k, n, i, i + size))
            i += size
            n += 1
            left -= size
    return out


def write_shards(engine: ChunkEngine, tasks: list[Any], val: np.ndarray, whole: Callable[[Any], bool], conc: int) -> list[Any]:
    """Write the shards of ``tasks`` that ``val`` replaces whole (``whole(task)``), two or more:
    the inner chunks of all of them are encoded in C in one run over the cores, shard after
    shard, and the worker that encodes the last batch of a shard assembles and stores it (or
    deletes it when every inner chunk equals the fill value). Per shard on the ordinary path,
    each shard's last inner chunks left a core idle, and the CPU gate let one shard's encoding
    wait for another's file. Returns the tasks left to the ordinary path (partial shards, shards
    the C encoder cannot take).

    The chunk locks of up to :data:`SHARD_GROUP` shards are held by the caller over their whole
    run, as the ordinary path holds a shard's lock over its encoding and store. When the run
    stops early (an error, Ctrl-C), no shard is stored after the call leaves: the workers store
    nothing more, and the caller waits for a store in progress before it lets the locks go
    (otherwise a worker could store a shard of an interrupted write after a later write of the
    same shard, found in review)."""
    from ..storage.local import LocalStore
    from .locks import chunk_locks

    io = engine.shards
    store = engine.store
    if io is None or type(store) is not LocalStore or val.dtype.hasobject:
        return tasks
    enc = io.sh.inner_pipeline.native_encoding
    if enc is None or enc[0] not in _ENCODERS:
        return tasks
    mine: list[tuple[Any, np.ndarray]] = []
    rest: list[Any] = []
    for t in tasks:
        piece = val[t.out_selection] if whole(t) else None
        if piece is not None and shard_encode_eligible(io, piece):
            mine.append((t, piece))
        else:
            rest.append(t)
    if len(mine) < 2:  # one shard: ShardIO.encode spreads its inner chunks over the cores
        return tasks
    sh = io.sh
    codec_name, level, checksum = enc
    codec = _ENCODERS[codec_name]
    todo, spans = _inner_spans(io)
    fill = fill_bytes(sh.fill_value, val.dtype)
    # one worker more than cores: a worker storing a shard leaves its core to the others (a
    # sharded 4096x4096 f8 write went from 1.81 to 1.92 cores busy)
    workers = max(1, min(conc, config.cpu_workers + 1))
    locks = engine.spec.locks
    for g in range(0, len(mine), SHARD_GROUP):
        group = mine[g : g + SHARD_GROUP]
        keys = [engine.object_key(t.chunk_coords) for t, _ in group]
        with chunk_locks(store, keys, processes=locks.processes, timeout=locks.timeout):
            _write_group(engine, keys, [piece.view(np.uint8) for _, piece in group], todo, spans,
                         (codec, level, checksum, fill), val.itemsize, workers)  # fmt: skip
    return rest


SHARD_GROUP = 64  # whole shards written per group: their locks are held together


def _write_group(engine: ChunkEngine, keys: list[str], srcs: list[np.ndarray], todo: list[tuple[int, ...]],
                 spans: np.ndarray, coding: tuple[int, int, bool, bytes], itemsize: int, workers: int) -> None:  # fmt: skip
    """Encode and store the whole shards ``srcs`` (their keys held locked by the caller)."""
    from .executor import run_tasks

    sh = engine.shards.sh
    codec, level, checksum, fill = coding
    batches = _shard_batches(len(keys), len(todo), workers)
    bounds: list[list[tuple[int, int]]] = [[] for _ in keys]
    for k, _, i, j in batches:
        bounds[k].append((i, j))
    results: list[list[Any]] = [[None] * len(b) for b in bounds]
    left = [len(b) for b in bounds]
    idle = threading.Condition()  # guards results, left, busy and stopped
    busy = [0]  # workers inside encode()
    stopped = [False]

    def encode(b: tuple[int, int, int, int]) -> None:
        k, n, i, j = b
        with idle:
            if stopped[0]:
                return
            busy[0] += 1
        try:
            done = _native.encode_chunks(spans[i:j], srcs[k], sh.chunk_shape, itemsize, codec, level, checksum, fill)
            with idle:
                results[k][n] = done
                left[k] -= 1
                last = left[k] == 0 and not stopped[0]
            if last:  # this shard's inner chunks are all encoded: store it (the others go on encoding)
                parts = sh.assemble(_inner_bytes(todo, bounds[k], results[k]))
                results[k] = []
                engine.put(keys[k], None if sh.is_empty(parts) else parts)
        finally:
            with idle:
                busy[0] -= 1
                idle.notify_all()

    try:
        run_tasks(encode, batches, max_concurrency=workers)
    except BaseException:  # workers may still run (Ctrl-C leaves run_tasks at once): none stores after this
        with idle:
            stopped[0] = True
            idle.wait_for(lambda: busy[0] == 0)
        raise
