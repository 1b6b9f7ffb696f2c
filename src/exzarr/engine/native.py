"""Local reads with the chunk loop in C (``exzarr._native``), the GIL released for a whole batch.

For an array in a :class:`~exzarr.storage.LocalStore` whose chunks are their raw bytes or one
zstd frame of them (:attr:`CodecPipeline.native_codec`), a read of slices with step 1 (and
integers) hands batches of chunk files to ``read_chunks``, which opens, reads, checks and
decodes each into the output (straight into it when the chunk's block is contiguous). On two
cores the Python loop released and re-took the GIL about six times per chunk (four syscalls, the
decompression, the copy), and each hand-off under contention cost more than the syscall; the C
loop takes it once per batch.

Every chunk the C loop does not decode (a missing file is filled here; anything else: a
non-regular file, a size over the limit, a framing or decoding failure) is left to the ordinary
path, which reads it again and reports errors exactly as without this module. The plain twin of
this path is the engine's ``fast=False`` read, and the tests compare the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import config
from ..indexing import IntDim, OrthogonalSelection, SliceDim

# (the engine and ShardIO are typed Any here: they import this module)
ChunkEngine = ShardIO = Any

try:
    from .. import _native
except ImportError:  # pragma: no cover - built by `pip install` wherever a C compiler is present
    _native = None

__all__ = ["available", "read_local", "read_sharded", "write_local"]

_CODECS: dict[str, int] = {}
_ENCODERS: dict[str, int] = {}
if _native is not None:
    _CODECS["raw"] = _ENCODERS["raw"] = _native.CODEC_RAW
    if _native.zstd:
        _CODECS["zstd"] = _native.CODEC_ZSTD
    if _native.zstd_encode:
        _ENCODERS["zstd"] = _native.CODEC_ZSTD

OK, MISSING = 0, 1
MAX_LIMIT = 2**62  # the C loop takes a signed 64-bit size limit; larger ones mean "no limit" alike


def available(codec: str | None = "raw") -> bool:
    """Whether the C loop is built and decodes ``codec`` (``"raw"`` or ``"zstd"``)."""
    return codec in _CODECS


def _slices(sel: Any) -> bool:
    return (
        isinstance(sel, OrthogonalSelection)
        and len(sel.dims) > 0
        and all(isinstance(d, IntDim) or (isinstance(d, SliceDim) and d.step == 1) for d in sel.dims)
    )


def eligible(engine: ChunkEngine, sel: Any) -> bool:
    """Whether :func:`read_local` can read ``sel`` (already planned on the chunk grid)."""
    from ..storage.local import LocalStore

    return (
        engine.layout.pipeline.native_codec in _CODECS
        and type(engine.store) is LocalStore
        and 0 < math.prod(engine.layout.object_shape) * engine.dtype.itemsize <= MAX_LIMIT
        and _slices(sel)
    )


def sharded_eligible(io: ShardIO, sel: Any) -> bool:
    """Whether :func:`read_sharded` can read ``sel`` (planned on the inner chunk grid)."""
    from ..storage.local import LocalStore

    return (
        io.sh.inner_pipeline.native_codec in _CODECS
        and type(io.store) is LocalStore
        and 0 < math.prod(io.sh.chunk_shape) * io.dtype.itemsize <= MAX_LIMIT
        and _slices(sel)
    )


def _blocks(sel: OrthogonalSelection) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """``(coords, spans, out_shape)``: each touched chunk's grid index, its ``(chunk start, chunk
    stop, output start)`` per axis, and the output's shape with the axes of integers kept (size 1)."""
    per_axis = []
    out_shape = []
    for d in sel.dims:
        if isinstance(d, IntDim):
            rows = [(p.chunk, p.chunk_sel, p.chunk_sel + 1, 0) for p in d.projections()]
            out_shape.append(1)
        else:
            rows = [(p.chunk, p.chunk_sel.start, p.chunk_sel.stop, p.out_sel.start) for p in d.projections()]
            out_shape.append(d.nitems)
        per_axis.append(np.array(rows, dtype=np.int64).reshape(-1, 4))
    grids = np.meshgrid(*(np.arange(len(a)) for a in per_axis), indexing="ij")
    picks = [g.reshape(-1) for g in grids]
    coords = np.stack([a[i, 0] for a, i in zip(per_axis, picks, strict=True)], axis=1)
    spans = np.ascontiguousarray(np.stack([a[i, 1:] for a, i in zip(per_axis, picks, strict=True)], axis=1))
    return coords, spans, tuple(out_shape)


def _batches(n: int, conc: int) -> tuple[int, list[tuple[int, int]]]:
    """Workers, and batches of chunks ``[i, j)``: several per worker, so the cores finish together."""
    workers = max(1, min(conc, config.cpu_workers, n))
    size = max(1, min(256, math.ceil(n / (workers * 8))))
    return workers, [(i, min(i + size, n)) for i in range(0, n, size)]


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
    keys = [engine.object_key(c) for c in map(tuple, coords.tolist())]
    paths = store.file_paths(keys)
    codec = _CODECS[pipe.native_codec]  # type: ignore[index]
    chunk_shape = layout.object_shape
    limit = min(pipe.stored_limit, MAX_LIMIT)
    flags = store.read_flags
    workers, bounds = _batches(n, conc)
    status = bytearray(n)
    buf = full.reshape(-1).view(np.uint8) if full.size else full

    def batch(b: tuple[int, int]) -> None:
        i, j = b
        status[i:j] = _native.read_chunks(paths[i:j], spans[i:j], buf, out_shape, chunk_shape, out.itemsize, codec, limit, flags)

    engine.run(batch, bounds, workers)  # type: ignore[arg-type]
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
    for w in range(0, len(groups), SHARDS_PER_WAVE):
        with contextlib.ExitStack() as stack:
            rows: list[int] = []
            triples: list[tuple[int, int, int]] = []
            keys: dict[int, tuple[str, Any]] = {}
            for members in groups[w : w + SHARDS_PER_WAVE]:
                shard = tuple(shard_of[members[0]].tolist())
                key = io.key_of(shard)
                snap = stack.enter_context(io.store.snapshot(key))
                index = io.index(key, snap)
                if index is None:  # no shard: every chunk of it is fill
                    for r in members.tolist():
                        full[_region(spans[r].tolist())[1]] = io.fill
                    continue
                local = {tuple((coords[r] - cps * shard_of[r]).tolist()): r for r in members.tolist()}
                with decoding(io.name, key, part="index"):
                    ranges = shard_ranges(index, list(local), limit=limit, size=snap.size)
                stored = {idx: (off, n) for _, _, part in ranges for idx, off, n in part}
                for idx, r in local.items():
                    if idx not in stored:
                        full[_region(spans[r].tolist())[1]] = io.fill
                        continue
                    off, n = stored[idx]
                    rows.append(r)
                    triples.append((snap.fd, off, n))
                    keys[r] = (key, idx)
            if not rows:
                continue
            picked = np.asarray(rows, dtype=np.int64)
            part_spans = np.ascontiguousarray(spans[picked])
            ranges_arr = np.asarray(triples, dtype=np.int64)
            status = bytearray(len(rows))
            workers, bounds = _batches(len(rows), conc)

            def batch(b: tuple[int, int], ranges_arr: np.ndarray = ranges_arr, part_spans: np.ndarray = part_spans,
                      status: bytearray = status) -> None:  # fmt: skip
                i, j = b
                status[i:j] = _native.read_ranges(ranges_arr[i:j], part_spans[i:j], buf, out_shape, chunk_shape, itemsize,
                                                  codec, limit, 0)  # fmt: skip

            run(batch, bounds, workers)
            for k in np.flatnonzero(np.frombuffer(bytes(status), dtype=np.uint8) != OK).tolist():
                fd, off, n = triples[k]
                key, idx = keys[rows[k]]
                data = _pread_all(fd, n, off)
                if len(data) != n:  # the shard was cut short in place since its size was read
                    raise ChunkDecodeError(
                        f"array {io.name!r}: shard {key!r}: inner chunk bytes [{off}, {off + n}) lie outside the shard",
                        array=io.name,
                        key=key,
                    )
                with decoding(io.name, key, inner=idx):
                    chunk = pipe.decode(data)
                inner_region, out_region = _region(spans[rows[k]].tolist())
                full[out_region] = chunk[inner_region]


# ----------------------------------------------------------------------------- writes

#: chunks per C call (and per set of chunk locks held): small, so that the lock stripes of two
#: workers' batches rarely meet
WRITE_BATCH = 8
ST_FILL = 3


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
        and val.dtype.kind != "O"
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
    keys = [engine.object_key(t.chunk_coords) for t in mine]
    tmps, finals = store.write_paths(keys)
    spans = np.asarray(
        [[(0, c, o.start) for c, o in zip(chunk_shape, t.out_selection, strict=True)] for t in mine], dtype=np.int64
    ).reshape(len(mine), len(chunk_shape), 3)
    fill = None if engine.write_empty else np.array(engine.fill, dtype=engine.dtype).tobytes()
    src = val.reshape(-1).view(np.uint8)
    codec = _ENCODERS[codec_name]
    locks = engine.spec.locks
    left: list[list[Any]] = []
    bounds = [(i, min(i + WRITE_BATCH, len(mine))) for i in range(0, len(mine), WRITE_BATCH)]
    workers = max(1, min(len(bounds), conc, max(config.cpu_workers, store.write_concurrency)))

    def batch(b: tuple[int, int]) -> None:
        i, j = b
        with chunk_locks(store, keys[i:j], processes=locks.processes, timeout=locks.timeout):
            status = _native.write_chunks(tmps[i:j], finals[i:j], spans[i:j], src, val.shape, chunk_shape, val.itemsize,
                                          codec, level, checksum, fill, store.fsync)  # fmt: skip
            failed = []
            for k, st in enumerate(status):
                if st == ST_FILL:
                    engine.put(keys[i + k], None)  # delete it, as the Python path does (cache dropped there)
                elif st != OK:
                    failed.append(mine[i + k])
                elif engine.cache is not None:
                    engine.layout.invalidate(engine.cache, keys[i + k])
        if failed:
            left.append(failed)

    engine.run(batch, bounds, workers)  # type: ignore[arg-type]
    return rest + [t for part in left for t in part]
