"""The :class:`Array`: a chunked, compressed N-dimensional array in a store."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import numpy as np

from . import metadata as md
from .attrs import Attributes
from .cache import CacheStats, ChunkCache
from .chunk_grid import normalize_shape
from .codecs.base import Buffer
from .codecs.sharding import ShardingCodec, all_fill
from .engine import streaming
from .engine.chunk_io import ChunkIO
from .errors import (
    BoundsError,
    ChecksumError,
    ReadOnlyError,
    SelectionError,
    ShapeMismatchError,
)
from .indexing import (
    CoordinateSelection,
    IntDim,
    OrthogonalSelection,
    basic_selection,
    block_selection,
    coordinate_selection,
)
from .metadata.model import ArrayMetadata
from .storage.base import Store

__all__ = ["Array"]


class Array(ChunkIO):
    """A Zarr v2 or v3 array. Create one with :func:`exzarr.create` or :func:`exzarr.open`.

    Indexing follows NumPy: ``a[0:400, 0:400]``, ``a[...]``, integers, steps
    (negative too), Ellipsis, boolean masks; ``a.oindex`` (outer), ``a.vindex``
    (point-wise) and ``a.blocks`` (by chunk) cover the rest. Reads return
    :class:`numpy.ndarray`; writes broadcast like NumPy.

    >>> import exzarr, numpy as np
    >>> a = exzarr.create(shape=(1000, 1000), chunks=(100, 100), dtype="float64")
    >>> a[0:2, 0:3] = 1.5
    >>> a.get_slice(start=(0, 0), stop=(2, 4))
    array([[1.5, 1.5, 1.5, 0. ],
           [1.5, 1.5, 1.5, 0. ]])
    >>> a.nchunks_per_dim
    (10, 10)
    """

    def __init__(
        self,
        store: Store,
        path: str,
        metadata: ArrayMetadata,
        *,
        read_only: bool = False,
        write_empty_chunks: bool | None = None,
        process_locks: bool = False,
        cache_bytes: int | None = None,
    ) -> None:
        self._cache = ChunkCache(cache_bytes) if cache_bytes else None
        self._store = store
        self._path = path.strip("/")
        self._meta = metadata
        self._read_only = read_only or store.read_only
        self._write_empty_chunks = write_empty_chunks
        self._process_locks = process_locks
        self._key = metadata.key_encoding.encoder(f"{self._path}/" if self._path else "")

    # ------------------------------------------------------------------ properties
    @property
    def store(self) -> Store:
        return self._store

    @property
    def path(self) -> str:
        """Path of the array inside its store (``""`` for the root)."""
        return self._path

    @property
    def name(self) -> str:
        return "/" + self._path

    @property
    def metadata(self) -> ArrayMetadata:
        return self._meta

    @property
    def zarr_format(self) -> int:
        return self._meta.zarr_format

    @property
    def shape(self) -> tuple[int, ...]:
        return self._meta.shape

    @property
    def chunks(self) -> tuple[int, ...]:
        """The chunk shape; for sharded arrays the *inner* chunk shape (as zarr-python reports it)."""
        sh = self._shard_codec
        return sh.chunk_shape if sh is not None else self._meta.chunks

    @property
    def shards(self) -> tuple[int, ...] | None:
        """The shard shape of a sharded array (what each stored object holds), else ``None``."""
        return self._meta.chunks if self._shard_codec is not None else None

    @cached_property
    def _shard_codec(self) -> ShardingCodec | None:
        """The sharding codec when it is the array->bytes codec with no array->array codec before it."""
        pipe = self._meta.pipeline
        ab = pipe.array_bytes_codec
        return ab if isinstance(ab, ShardingCodec) and not pipe._aa else None

    @cached_property
    def _sharding(self) -> ShardingCodec | None:
        """The sharding codec when the chain is exactly ``[sharding_indexed]`` (the layout whose
        inner chunks exzarr reads individually); ``None`` otherwise."""
        codecs = self._meta.pipeline.codecs
        return codecs[0] if len(codecs) == 1 and isinstance(codecs[0], ShardingCodec) else None

    @property
    def dtype(self) -> np.dtype:
        return self._meta.dtype.numpy

    @property
    def ndim(self) -> int:
        return len(self._meta.shape)

    @property
    def size(self) -> int:
        return math.prod(self._meta.shape)

    @property
    def nbytes(self) -> int:
        """Bytes the whole array occupies uncompressed in memory."""
        return self.size * self.dtype.itemsize

    @property
    def fill_value(self) -> Any:
        return self._meta.fill_value

    @property
    def order(self) -> str:
        return self._meta.order

    @property
    def attrs(self) -> Attributes:
        return Attributes(self)

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def nchunks(self) -> int:
        return math.prod(self.nchunks_per_dim)

    @property
    def nchunks_per_dim(self) -> tuple[int, ...]:
        """Chunks along each dimension (inner chunks for sharded arrays)."""
        return tuple(-(-s // c) if c else 0 for s, c in zip(self.shape, self.chunks, strict=True))

    @property
    def dimension_names(self) -> tuple[str | None, ...] | None:
        return self._meta.dimension_names

    @property
    def codecs(self) -> tuple[Any, ...]:
        return self._meta.pipeline.codecs

    def cache_stats(self) -> CacheStats | None:
        """Hit/miss counters of the decoded-chunk cache (``None`` without ``cache_bytes=``)."""
        return self._cache.stats() if self._cache is not None else None

    @property
    def write_empty_chunks(self) -> bool:
        from .config import config

        return config.write_empty_chunks if self._write_empty_chunks is None else self._write_empty_chunks

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __repr__(self) -> str:
        return (
            f"<exzarr.Array {self.name!r} shape={self.shape} chunks={self.chunks} dtype={self._meta.dtype} v{self.zarr_format}>"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Array) and other._store == self._store and other._path == self._path

    __hash__ = object.__hash__

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_key")  # a compiled closure; rebuilt from the metadata
        state.pop("_sharding", None)
        state.pop("_shard_codec", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._key = self._meta.key_encoding.encoder(f"{self._path}/" if self._path else "")

    def __enter__(self) -> Array:
        return self

    def __exit__(self, *exc: object) -> None:
        self._store.close()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = np.asarray(self[...])
        return out.astype(dtype) if dtype is not None else out

    # ------------------------------------------------------------------ chunk primitives
    def chunk_key(self, chunk_index: tuple[int, ...]) -> str:
        """The store key of the chunk at grid position ``chunk_index``."""
        return self._key(tuple(chunk_index))

    def _decode(self, key: str, data: Buffer) -> np.ndarray:
        try:
            return self._meta.pipeline.decode(data)
        except ChecksumError as exc:
            raise ChecksumError(f"array {self.name!r}: chunk {key!r} failed its checksum ({exc})") from exc
        except Exception as exc:  # codecs raise all sorts of things on corrupt input
            raise self._decode_failed(key, exc) from exc

    def _fill_chunk(self) -> np.ndarray:
        return np.full(self._meta.chunks, self._meta.effective_fill, dtype=self.dtype)

    def _is_fill(self, chunk: np.ndarray) -> bool:
        """Bit-exact "every element equals the fill value" (so -0.0 is not 0.0 and NaN is NaN)."""
        return all_fill(chunk, self._meta.effective_fill)

    def _load_chunk(self, key: str) -> np.ndarray:
        """The chunk at ``key`` as a writable array (fill if missing)."""
        return self._writable(key, self._store.get(key))

    def _writable(self, key: str, data: Buffer | None) -> np.ndarray:
        if data is None:
            return self._fill_chunk()
        chunk = self._decode(key, data)
        if not chunk.flags.writeable or not chunk.flags.c_contiguous:
            chunk = np.array(chunk, order="C")
        return chunk

    def _encode_chunk(self, chunk: np.ndarray) -> Buffer | None:
        """Encoded bytes to store, or ``None`` when the chunk is all fill and should not be stored."""
        if not self.write_empty_chunks and self._is_fill(chunk):
            return None
        return self._meta.pipeline.encode(chunk)

    def _put_chunk(self, key: str, encoded: Buffer | None, chunk: np.ndarray | None) -> None:
        if self._cache is not None:
            if self._shard_codec is not None:
                self._cache.invalidate_shard(key)
            else:
                self._cache.invalidate(key)
        if encoded is not None:
            self._store.set(key, encoded)
        elif self._store.supports_deletes:
            self._store.delete(key)
        elif self._store.exists(key):  # cannot delete (zip): overwrite with the fill chunk instead
            self._store.set(key, self._meta.pipeline.encode(self._fill_chunk() if chunk is None else chunk))

    def _store_chunk(self, key: str, chunk: np.ndarray) -> None:
        self._put_chunk(key, self._encode_chunk(chunk), chunk)

    def _check_writable(self) -> None:
        if self._read_only:
            raise ReadOnlyError(f"array {self.name!r} is read-only")

    def read_chunk(self, chunk_index: tuple[int, ...]) -> np.ndarray:
        """Decode one whole chunk (full chunk shape, edge overhang included; for sharded
        arrays one inner chunk, fetched with byte-range requests)."""
        idx = self._check_chunk_index(chunk_index)
        if self._shard_codec is None:
            return self._load_chunk(self._key(idx))
        out = np.full(self.chunks, self._meta.effective_fill, dtype=self.dtype)
        lo, hi = self._chunk_bounds(idx)
        out[tuple(slice(0, b - a) for a, b in zip(lo, hi, strict=True))] = self.get_basic_selection(
            tuple(slice(a, b) for a, b in zip(lo, hi, strict=True)), max_concurrency=1
        )
        return out

    def write_chunk(self, chunk_index: tuple[int, ...], data: Any) -> None:
        """Encode and store one whole chunk; ``data`` must have the chunk shape
        (or, for edge chunks, the in-bounds part of it)."""
        self._check_writable()
        idx = self._check_chunk_index(chunk_index)
        lo, hi = self._chunk_bounds(idx)
        self[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = data

    def _check_chunk_index(self, chunk_index: Any) -> tuple[int, ...]:
        idx = tuple(int(i) for i in np.atleast_1d(chunk_index)) if self.ndim else ()
        if len(idx) != self.ndim or any(not 0 <= i < g for i, g in zip(idx, self.nchunks_per_dim, strict=True)):
            raise BoundsError(f"array {self.name!r}: chunk index {chunk_index} is outside the grid {self.nchunks_per_dim}")
        return idx

    def stored_chunks(self) -> Iterator[tuple[int, ...]]:
        """Grid indices of the chunks present in the store (inner chunks for sharded arrays,
        found by reading each stored shard's index)."""
        sh = self._sharding
        if sh is None:
            if self._shard_codec is None:
                yield from self._stored_grid()
                return
            # compressed shards: the index is inside the compression; report every inner chunk of stored shards
            per = tuple(g // c for g, c in zip(self._meta.chunks, self.chunks, strict=True))
            grid = self.nchunks_per_dim
            for shard in sorted(self._stored_grid()):
                for local in itertools.product(*(range(n) for n in per)):
                    idx = tuple(s * n + i for s, n, i in zip(shard, per, local, strict=True))
                    if all(i < g for i, g in zip(idx, grid, strict=True)):
                        yield idx
            return
        grid = self.nchunks_per_dim
        for shard in sorted(self._stored_grid()):
            index = self._shard_index(self._key(shard))
            if index is None:
                continue
            present = ~((index[..., 0] == np.uint64(2**64 - 1)) & (index[..., 1] == np.uint64(2**64 - 1)))
            for local in zip(*np.nonzero(present), strict=True):
                idx = tuple(int(s * n + i) for s, n, i in zip(shard, sh.cps, local, strict=True))
                if all(i < g for i, g in zip(idx, grid, strict=True)):
                    yield idx

    def _stored_grid(self) -> Iterator[tuple[int, ...]]:
        """Storage-grid indices (shards for sharded arrays) of the objects present in the store."""
        prefix = f"{self._path}/" if self._path else ""
        enc = self._meta.key_encoding
        grid = self._meta.grid_shape
        for key in self._store.list_prefix(prefix):
            coords = enc.decode(key[len(prefix) :])
            if coords is not None and len(coords) == self.ndim and all(c < g for c, g in zip(coords, grid, strict=True)):
                yield coords

    @property
    def nchunks_initialized(self) -> int:
        """How many chunks are stored."""
        return sum(1 for _ in self.stored_chunks())

    # ------------------------------------------------------------------ engine entry points
    # ------------------------------------------------------------------ sharded reads
    # ------------------------------------------------------------------ NumPy-style indexing
    def _dispatch(self, selection: Any) -> OrthogonalSelection | CoordinateSelection:
        sel = selection if isinstance(selection, tuple) else (selection,)
        if (
            len(sel) == 1
            and isinstance(sel[0], np.ndarray)
            and sel[0].dtype == bool
            and sel[0].ndim == self.ndim
            and self.ndim > 1
        ):
            return coordinate_selection(sel[0], self.shape, self._meta.chunks)
        n_arr = sum(1 for s in sel if isinstance(s, (list, np.ndarray)))
        if n_arr <= 1:
            return basic_selection(selection, self.shape, self._meta.chunks, allow_arrays=True)
        if all(isinstance(s, (list, np.ndarray, int, np.integer)) for s in sel) and len(sel) == self.ndim:
            return coordinate_selection(sel, self.shape, self._meta.chunks)
        raise SelectionError(
            f"array {self.name!r}: several index arrays mixed with slices are ambiguous; use a.oindex[...] or a.vindex[...]"
        )

    def _named_errors(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except (BoundsError, SelectionError) as exc:
            if str(exc).startswith("array "):
                raise
            raise type(exc)(f"array {self.name!r}: {exc}") from None

    def __getitem__(self, selection: Any) -> Any:
        sel = self._named_errors(self._dispatch, selection)
        out = self._read(sel)
        if isinstance(sel, OrthogonalSelection) and sel.dims and all(isinstance(d, IntDim) for d in sel.dims):
            return out[()]
        return out

    def __setitem__(self, selection: Any, value: Any) -> None:
        self._write(self._named_errors(self._dispatch, selection), value)

    def get_basic_selection(self, selection: Any = Ellipsis, *, max_concurrency: int | None = None) -> np.ndarray:
        """Read ints/slices/``...`` (NumPy basic indexing)."""
        return self._read(self._named_errors(basic_selection, selection, self.shape, self._meta.chunks), max_concurrency)

    def set_basic_selection(self, selection: Any, value: Any, *, max_concurrency: int | None = None) -> None:
        self._write(self._named_errors(basic_selection, selection, self.shape, self._meta.chunks), value, max_concurrency)

    def get_orthogonal_selection(self, selection: Any, *, max_concurrency: int | None = None) -> np.ndarray:
        """Outer-product selection: each axis indexed independently (ints, slices, int/bool arrays)."""
        sel = self._named_errors(lambda s: basic_selection(s, self.shape, self._meta.chunks, allow_arrays=True), selection)
        return self._read(sel, max_concurrency)

    def set_orthogonal_selection(self, selection: Any, value: Any, *, max_concurrency: int | None = None) -> None:
        sel = self._named_errors(lambda s: basic_selection(s, self.shape, self._meta.chunks, allow_arrays=True), selection)
        self._write(sel, value, max_concurrency)

    def get_coordinate_selection(self, selection: Any, *, max_concurrency: int | None = None) -> np.ndarray:
        """Point-wise selection: index arrays broadcast together, or one full-shape boolean mask."""
        return self._read(self._named_errors(coordinate_selection, selection, self.shape, self._meta.chunks), max_concurrency)

    def set_coordinate_selection(self, selection: Any, value: Any, *, max_concurrency: int | None = None) -> None:
        self._write(self._named_errors(coordinate_selection, selection, self.shape, self._meta.chunks), value, max_concurrency)

    def get_block_selection(self, selection: Any, *, max_concurrency: int | None = None) -> np.ndarray:
        """Whole chunks by grid index: ``a.blocks[1, 2]`` is chunk (1, 2) trimmed to the bounds."""
        return self._read(self._named_errors(block_selection, selection, self.shape, self._meta.chunks), max_concurrency)

    def set_block_selection(self, selection: Any, value: Any, *, max_concurrency: int | None = None) -> None:
        self._write(self._named_errors(block_selection, selection, self.shape, self._meta.chunks), value, max_concurrency)

    @property
    def oindex(self) -> _Indexer:
        """Orthogonal (outer) indexing: ``a.oindex[[0, 2], 1:3]``."""
        return _Indexer(self.get_orthogonal_selection, self.set_orthogonal_selection)

    @property
    def vindex(self) -> _Indexer:
        """Vectorised (point-wise) indexing: ``a.vindex[[0, 2], [1, 3]]`` or ``a.vindex[mask]``."""
        return _Indexer(self.get_coordinate_selection, self.set_coordinate_selection)

    @property
    def blocks(self) -> _Indexer:
        """Chunk-wise indexing: ``a.blocks[0, 1]``."""
        return _Indexer(self.get_block_selection, self.set_block_selection)

    # ------------------------------------------------------------------ seed-style slices
    def _slice_selection(self, start: Any, stop: Any, step: Any, named: dict[str, Any]) -> tuple[slice | int, ...]:
        nd = self.ndim

        def tup(v: Any, default: tuple[int | None, ...], what: str) -> tuple[Any, ...]:
            if v is None:
                return default
            if isinstance(v, (int, np.integer)) and what == "step":
                return (int(v),) * nd
            t = tuple(v) if isinstance(v, (tuple, list)) else (v,)
            if len(t) != nd:
                raise SelectionError(f"array {self.name!r}: {what} {v!r} has {len(t)} entries for {nd} dimensions")
            return t

        starts = tup(start, (None,) * nd, "start")
        stops = tup(stop, (None,) * nd, "stop")
        steps = tup(step, (None,) * nd, "step")
        sel: list[slice | int] = []
        for axis in range(nd):
            a, b, s = starts[axis], stops[axis], steps[axis]
            n = self.shape[axis]
            for v, what in ((a, "start"), (b, "stop")):
                if v is not None and (int(v) > n or int(v) < -n):
                    raise BoundsError(f"array {self.name!r}: {what} {v} is out of bounds for axis {axis} with size {n}")
            if (s is None or s > 0) and a is not None and b is not None:
                if (a + n if a < 0 else a) > (b + n if b < 0 else b):
                    raise SelectionError(f"array {self.name!r}: start {a} is after stop {b} on axis {axis}")
            sel.append(slice(a, b, s))
        if named:
            names = self.dimension_names or ()
            for dim, v in named.items():
                if dim not in names:
                    raise SelectionError(f"array {self.name!r}: no dimension named {dim!r} (dimension_names={names!r})")
                axis = names.index(dim)
                if isinstance(v, range):
                    v = slice(v.start, v.stop, v.step)
                elif isinstance(v, tuple) and len(v) == 2:
                    v = slice(v[0], v[1])
                sel[axis] = v
        return tuple(sel)

    def get_slice(
        self,
        start: Any = None,
        stop: Any = None,
        step: Any = None,
        *,
        max_concurrency: int | None = None,
        **dims: Any,
    ) -> np.ndarray:
        """Read the box ``[start, stop)`` (tuples, exclusive stop, negative indices allowed).

        Named dimensions select by name when the array has ``dimension_names``:
        ``a.get_slice(time=slice(0, 30))``, ``time=5`` or ``time=(0, 30)``.
        """
        return self.get_basic_selection(self._slice_selection(start, stop, step, dims), max_concurrency=max_concurrency)

    def set_slice(
        self,
        data: Any,
        start: Any = None,
        stop: Any = None,
        step: Any = None,
        *,
        max_concurrency: int | None = None,
        **dims: Any,
    ) -> None:
        """Write ``data`` into the box ``[start, stop)``; scalars and compatible shapes broadcast."""
        self.set_basic_selection(self._slice_selection(start, stop, step, dims), data, max_concurrency=max_concurrency)

    # ------------------------------------------------------------------ streaming
    def chunk_stream(
        self,
        parallel: int = 1,
        ordered: bool = True,
        filter: Any = None,
        progress_callback: Any = None,
        include_missing: bool = False,
        on_error: Any = "raise",
        timeout: float | None = None,
        with_info: bool = False,
    ) -> Iterator[Any]:
        """Iterate ``(chunk_index, ndarray)`` over the chunks, edge chunks trimmed to the bounds.

        Only stored chunks are visited unless ``include_missing=True`` (then every grid
        position, missing ones as fill). ``parallel`` reads run ahead at most; ``ordered``
        keeps grid order; ``filter(chunk_index) -> bool`` selects chunks;
        ``progress_callback(done, total)`` reports progress; ``on_error`` is ``"raise"``,
        ``"skip"`` or ``callable(chunk_index, exc)``; ``timeout`` bounds each chunk read;
        ``with_info=True`` yields :class:`~exzarr.engine.streaming.ChunkRecord` objects.

        >>> import exzarr, numpy as np
        >>> a = exzarr.create(shape=(5, 4), chunks=(2, 4), dtype="i4")
        >>> a[...] = np.arange(20).reshape(5, 4)
        >>> [(i, d.shape) for i, d in a.chunk_stream(parallel=2)]
        [((0, 0), (2, 4)), ((1, 0), (2, 4)), ((2, 0), (1, 4))]
        """
        return streaming.chunk_stream(
            self,
            parallel=parallel,
            ordered=ordered,
            filter=filter,
            progress_callback=progress_callback,
            include_missing=include_missing,
            on_error=on_error,
            timeout=timeout,
            with_info=with_info,
        )

    def parallel_chunk_map(
        self,
        fn: Any,
        max_concurrency: int | None = None,
        ordered: bool = True,
        timeout: float | None = None,
        return_exceptions: bool = False,
        filter: Any = None,
        progress_callback: Any = None,
        progress: bool = False,
        include_missing: bool = False,
    ) -> Iterator[Any]:
        """Iterate ``fn((chunk_index, ndarray))`` over the chunks, computed in parallel.

        A task over ``timeout`` seconds raises :class:`TimeoutError` naming the chunk (or is
        yielded with ``return_exceptions=True``, as are errors ``fn`` raises).
        ``progress=True`` draws a tqdm progress bar. ``fn`` may itself read arrays: nested
        engine calls run inline on the worker.

        >>> import exzarr
        >>> a = exzarr.create(shape=(6,), chunks=(2,), dtype="i4")
        >>> a[...] = [1, 2, 3, 4, 5, 6]
        >>> list(a.parallel_chunk_map(lambda item: int(item[1].sum())))
        [3, 7, 11]
        """
        return streaming.parallel_chunk_map(
            self,
            fn,
            max_concurrency=max_concurrency,
            ordered=ordered,
            timeout=timeout,
            return_exceptions=return_exceptions,
            filter=filter,
            progress_callback=progress_callback,
            progress=progress,
            include_missing=include_missing,
        )

    def stream_slices(
        self,
        axis: int = 0,
        start: int | None = None,
        stop: int | None = None,
        step: int | None = None,
        *,
        max_concurrency: int | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(i, a[..., i, ...])`` for ``i`` in ``range(start, stop, step)`` along ``axis``,
        reading each chunk once (one chunk-row slab at a time)."""
        return streaming.stream_slices(self, axis, start=start, stop=stop, step=step, max_concurrency=max_concurrency)

    def write_stream(
        self,
        items: Any,
        parallel: int | None = None,
        validate: bool = True,
        on_error: Any = "raise",
        checkpoint: Any = None,
        batch_size: int | None = None,
    ) -> streaming.WriteSummary:
        """Write ``(chunk_index, ndarray)`` items (or ``{"index", "data"}`` dicts) as whole chunks.

        Returns a :class:`~exzarr.engine.streaming.WriteSummary` of written and failed chunk
        indices. ``validate`` checks each item's shape against its chunk (edge chunks may
        be given trimmed); ``checkpoint(summary)`` runs after each batch so an ingest can
        resume from ``summary.last_index``.
        """
        return streaming.write_stream(
            self, items, parallel=parallel, validate=validate, on_error=on_error, checkpoint=checkpoint, batch_size=batch_size
        )

    def write_chunks(self, items: Any, max_concurrency: int | None = None) -> list[tuple[int, ...]]:
        """Write many whole chunks concurrently: ``items`` of ``(chunk_index, data)``."""
        return streaming.write_chunks(self, items, max_concurrency=max_concurrency)

    # ------------------------------------------------------------------ async twins
    async def get_slice_async(self, start: Any = None, stop: Any = None, step: Any = None, **kw: Any) -> np.ndarray:
        """Async version of :meth:`get_slice`."""
        return await asyncio.to_thread(self.get_slice, start, stop, step, **kw)

    async def set_slice_async(self, data: Any, start: Any = None, stop: Any = None, step: Any = None, **kw: Any) -> None:
        """Async version of :meth:`set_slice`."""
        await asyncio.to_thread(self.set_slice, data, start, stop, step, **kw)

    async def getitem_async(self, selection: Any) -> Any:
        """Async version of ``a[selection]``."""
        return await asyncio.to_thread(self.__getitem__, selection)

    async def setitem_async(self, selection: Any, value: Any) -> None:
        """Async version of ``a[selection] = value``."""
        await asyncio.to_thread(self.__setitem__, selection, value)

    async def read_chunk_async(self, chunk_index: tuple[int, ...]) -> np.ndarray:
        """Async version of :meth:`read_chunk`."""
        return await asyncio.to_thread(self.read_chunk, chunk_index)

    async def write_chunk_async(self, chunk_index: tuple[int, ...], data: Any) -> None:
        """Async version of :meth:`write_chunk`."""
        await asyncio.to_thread(self.write_chunk, chunk_index, data)

    # ------------------------------------------------------------------ shape changes
    def _write_metadata(self, meta: ArrayMetadata, *, attrs_only: bool = False) -> None:
        self._check_writable()
        md.write_metadata(self._store, self._path, meta, attrs_only=attrs_only)
        self._meta = meta

    def _read_attributes(self) -> dict[str, Any]:
        return dict(self._meta.attributes)

    def _write_attributes(self, attrs: dict[str, Any]) -> None:
        self._write_metadata(self._meta.with_(attributes=attrs), attrs_only=True)

    def resize(self, *new_shape: Any) -> None:
        """Change the shape. Data inside both shapes is kept; new regions read as the fill value.

        Chunks wholly outside the new shape are deleted, and the cut-off part of edge
        chunks is reset to the fill value, so growing again never resurrects old data.
        """
        self._check_writable()
        shape = normalize_shape(new_shape[0] if len(new_shape) == 1 and not isinstance(new_shape[0], int) else new_shape)
        if len(shape) != self.ndim:
            raise ShapeMismatchError(f"array {self.name!r}: resize to {shape} changes the number of dimensions ({self.ndim})")
        old = self.shape
        for axis, (n_new, n_old, c) in enumerate(zip(shape, old, self._meta.chunks, strict=True)):
            if c and n_new < n_old and n_new % c:
                edge_stop = min(-(-n_new // c) * c, n_old)
                sel = tuple(slice(n_new, edge_stop) if k == axis else slice(None) for k in range(self.ndim))
                self.set_basic_selection(sel, self._meta.effective_fill)
        new_grid = tuple(-(-s // c) if c else 0 for s, c in zip(shape, self._meta.chunks, strict=True))
        if any(n < o for n, o in zip(shape, old, strict=True)):
            doomed = [self._key(cc) for cc in self.stored_chunks() if any(i >= g for i, g in zip(cc, new_grid, strict=True))]
            for key in doomed:
                self._store.delete(key)
        meta = self._meta.with_(shape=shape)
        self._write_metadata(meta)
        if self._cache is not None:
            self._cache.clear()

    def append(self, data: Any, axis: int = 0) -> tuple[int, ...]:
        """Grow along ``axis`` and write ``data`` at the end; returns the new shape."""
        self._check_writable()
        arr = np.asarray(data)
        if not -self.ndim <= axis < self.ndim:
            raise BoundsError(f"array {self.name!r}: axis {axis} is out of range for {self.ndim} dimensions")
        axis %= self.ndim
        if arr.ndim != self.ndim or any(arr.shape[k] != self.shape[k] for k in range(self.ndim) if k != axis):
            raise ShapeMismatchError(
                f"array {self.name!r}: cannot append data of shape {arr.shape} to shape {self.shape} along axis {axis}"
            )
        old = self.shape[axis]
        new_shape = tuple(s + arr.shape[axis] if k == axis else s for k, s in enumerate(self.shape))
        self.resize(new_shape)
        self[tuple(slice(old, None) if k == axis else slice(None) for k in range(self.ndim))] = arr
        return new_shape

    @property
    def info(self) -> str:
        """A short human-readable summary."""
        codecs = ", ".join(c.name for c in self.codecs)
        return (
            f"Name        : {self.name}\nType        : Array (zarr v{self.zarr_format})\n"
            f"Shape       : {self.shape}\nChunks      : {self.chunks}\nData type   : {self._meta.dtype}\n"
            f"Fill value  : {self.fill_value!r}\nCodecs      : {codecs}\nStore       : {self._store!r}\n"
        )


class _Indexer:
    __slots__ = ("_get", "_set")

    def __init__(self, get: Any, set_: Any) -> None:
        self._get, self._set = get, set_

    def __getitem__(self, selection: Any) -> np.ndarray:
        return self._get(selection)

    def __setitem__(self, selection: Any, value: Any) -> None:
        self._set(selection, value)
