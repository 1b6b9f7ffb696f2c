"""The :class:`Array`: a chunked, compressed N-dimensional array in a store."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from types import EllipsisType
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import NDArray

from . import metadata as md
from .attrs import Attributes
from .cache import CacheStats, ChunkCache
from .chunk_grid import normalize_shape
from .engine import streaming
from .engine.core import ChunkEngine, EngineSpec, LockPolicy
from .engine.locks import metadata_lock
from .engine.progress import ProgressArg, concurrency_arg, progress_arg
from .errors import BoundsError, NodeNotFoundError, SelectionError, ShapeMismatchError
from .indexing import (
    CoordinateSelection,
    IntDim,
    OrthogonalSelection,
    basic_selection,
    block_selection,
    coordinate_selection,
)
from .info import ArrayInfo, array_info
from .metadata.model import ArrayMetadata
from .nodes import ArrayOptions
from .storage.base import Store

__all__ = ["Array"]


class Array:
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
        options: ArrayOptions | None = None,
        cache: ChunkCache | None = None,
    ) -> None:
        self._store = store
        self._path = path.strip("/")
        self._meta = metadata
        self._options = options if options is not None else ArrayOptions()
        self._read_only = read_only or store.read_only
        self._options.check_store(store)
        if cache is None and self._options.cache_bytes:
            cache = ChunkCache(self._options.cache_bytes)
        self._engine = ChunkEngine(
            EngineSpec.from_metadata(
                store,
                self._path,
                metadata,
                cache=cache,
                locks=LockPolicy(processes=self._options.process_locks),
                write_empty=self._options.write_empty_chunks,
                read_only=self._read_only,
            )
        )

    # ------------------------------------------------------------------ properties
    @property
    def store(self) -> Store:
        """The store holding the array.

        >>> import exzarr
        >>> exzarr.create_array(shape=(2,), dtype="u1").store
        MemoryStore(<1 keys>)
        """
        return self._store

    @property
    def path(self) -> str:
        """Path of the array inside its store (``""`` for the root).

        >>> import exzarr
        >>> exzarr.create_group().create_array("a/x", shape=(2,)).path
        'a/x'
        """
        return self._path

    @property
    def name(self) -> str:
        """The array's absolute name in its hierarchy: ``"/"`` plus its path.

        >>> import exzarr
        >>> exzarr.create_group().create_array("a/x", shape=(2,)).name
        '/a/x'
        """
        return "/" + self._path

    @property
    def basename(self) -> str:
        """The last part of the array's path (``""`` at the root of a store).

        >>> import exzarr
        >>> exzarr.create_array("memory://doc-basename", name="a/b", shape=(1,), dtype="i1").basename
        'b'
        """
        return self._path.rsplit("/", 1)[-1]

    @property
    def metadata(self) -> ArrayMetadata:
        """The array's metadata as read (or written) by this handle.

        >>> import exzarr
        >>> m = exzarr.create_array(shape=(4,), chunks=(2,), dtype="i2").metadata
        >>> m.shape, m.chunks, m.zarr_format
        ((4,), (2,), 3)
        """
        return self._meta

    @property
    def zarr_format(self) -> int:
        """2 or 3.

        >>> import exzarr
        >>> exzarr.create_array(shape=(2,), dtype="u1", zarr_format=2).zarr_format
        2
        """
        return self._meta.zarr_format

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's extent along each dimension (``()`` for a 0-d array).

        >>> import exzarr
        >>> exzarr.create_array(shape=(3, 4), dtype="u1").shape
        (3, 4)
        """
        return self._meta.shape

    @property
    def chunks(self) -> tuple[int, ...]:
        """The chunk shape: what one read decodes. For sharded arrays (codecs exactly
        ``[sharding_indexed]``) the *inner* chunk shape, as zarr-python reports it.

        >>> import exzarr
        >>> exzarr.create_array(shape=(8,), chunks=(2,), shards=(4,), dtype="u1").chunks
        (2,)
        """
        return self._engine.layout.chunk_shape

    @property
    def shards(self) -> tuple[int, ...] | None:
        """The shard shape of a sharded array (what each stored object holds), else ``None``.

        >>> import exzarr
        >>> exzarr.create_array(shape=(8,), chunks=(2,), shards=(4,), dtype="u1").shards
        (4,)
        >>> exzarr.create_array(shape=(8,), chunks=(2,), dtype="u1").shards is None
        True
        """
        layout = self._engine.layout
        return layout.object_shape if layout.sharded else None

    @property
    def options(self) -> ArrayOptions:
        """How this array was opened: ``write_empty_chunks``, ``process_locks``, ``cache_bytes``.

        >>> import exzarr
        >>> exzarr.create_array(shape=(2,), dtype="u1", cache_bytes=1024).options.cache_bytes
        1024
        """
        return self._options

    @property
    def dtype(self) -> np.dtype:
        """The NumPy data type of the elements.

        >>> import exzarr
        >>> exzarr.create_array(shape=(2,), dtype="<u2").dtype
        dtype('uint16')
        """
        return self._meta.dtype.numpy

    @property
    def ndim(self) -> int:
        """Number of dimensions.

        >>> import exzarr
        >>> exzarr.create_array(shape=(3, 4), dtype="u1").ndim
        2
        """
        return len(self._meta.shape)

    @property
    def size(self) -> int:
        """Number of elements (the product of the shape).

        >>> import exzarr
        >>> exzarr.create_array(shape=(3, 4), dtype="u1").size
        12
        """
        return math.prod(self._meta.shape)

    @property
    def nbytes(self) -> int:
        """Bytes the whole array occupies uncompressed in memory.

        >>> import exzarr
        >>> exzarr.create_array(shape=(3, 4), dtype="f8").nbytes
        96
        """
        return self.size * self.dtype.itemsize

    @property
    def fill_value(self) -> Any:
        """The value unwritten elements read as.

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(2,), dtype="i4", fill_value=7)
        >>> int(a.fill_value), a[...].tolist()
        (7, [7, 7])
        """
        return self._meta.fill_value

    @property
    def order(self) -> str:
        """Memory layout of the chunks: ``"C"`` (row-major) or ``"F"``.

        >>> import exzarr
        >>> exzarr.create_array(shape=(2,), dtype="u1").order
        'C'
        """
        return self._meta.order

    @property
    def attrs(self) -> Attributes:
        """The user attributes, a mutable mapping written through to the store.

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(2,), dtype="u1")
        >>> a.attrs["units"] = "m"
        >>> dict(a.attrs)
        {'units': 'm'}
        """
        return Attributes(self._read_attributes, self._modify_attributes)

    @property
    def read_only(self) -> bool:
        """Whether writes are refused.

        >>> import exzarr
        >>> _ = exzarr.create_array("memory://doc-a-ro", shape=(2,), dtype="u1")
        >>> exzarr.open_array("memory://doc-a-ro", mode="r").read_only
        True
        """
        return self._read_only

    @property
    def nchunks(self) -> int:
        """Number of chunks in the grid (stored or not; inner chunks for sharded arrays).

        >>> import exzarr
        >>> exzarr.create_array(shape=(5, 4), chunks=(2, 2), dtype="u1").nchunks
        6
        """
        return math.prod(self.nchunks_per_dim)

    @property
    def nchunks_per_dim(self) -> tuple[int, ...]:
        """Chunks along each dimension (inner chunks for sharded arrays).

        >>> import exzarr
        >>> exzarr.create_array(shape=(5, 4), chunks=(2, 2), dtype="u1").nchunks_per_dim
        (3, 2)
        """
        return self._engine.layout.grid

    @property
    def dimension_names(self) -> tuple[str | None, ...] | None:
        """The names of the dimensions (v3), or ``None``.

        >>> import exzarr
        >>> exzarr.create_array(shape=(2, 3), dtype="u1", dimension_names=("t", "x")).dimension_names
        ('t', 'x')
        """
        return self._meta.dimension_names

    @property
    def codecs(self) -> tuple[Any, ...]:
        """The codec pipeline's codec objects (v2 arrays: their v3 equivalent chain).

        >>> import exzarr
        >>> exzarr.create_array(shape=(2,), dtype="i4", compressors=None).codecs
        (BytesCodec({'endian': 'little'}),)
        """
        return self._meta.pipeline.codecs

    def _codec_parts(self) -> tuple[tuple[Any, ...], Any, tuple[Any, ...]]:
        meta = self._meta
        if meta.zarr_format == 2:
            return tuple(meta.filters or ()), None, (() if meta.compressor is None else (meta.compressor,))
        codecs = list(meta.codecs)
        if len(codecs) == 1 and codecs[0].name == "sharding_indexed":
            codecs = list(getattr(codecs[0], "codecs", ()))  # a sharded array: its inner chunks' codecs, as zarr-python reports
        serializer = next((c for c in codecs if c.kind == "array_bytes"), None)
        return (
            tuple(c for c in codecs if c.kind == "array_array"),
            serializer,
            tuple(c for c in codecs if c.kind == "bytes_bytes"),
        )

    @property
    def filters(self) -> tuple[Any, ...]:
        """v3: the array->array codecs before the serializer; v2: the numcodecs filters.

        >>> import exzarr, numcodecs
        >>> exzarr.create_array(shape=(4,), dtype="i4", filters=[numcodecs.Delta("i4")], zarr_format=2).filters
        (Delta(dtype='<i4'),)
        """
        return self._codec_parts()[0]

    @property
    def serializer(self) -> Any:
        """v3: the array->bytes codec (``bytes``, ``vlen-utf8``...); ``None`` for v2 arrays.

        >>> import exzarr
        >>> exzarr.create_array(shape=(4,), dtype="i4").serializer
        BytesCodec({'endian': 'little'})
        """
        return self._codec_parts()[1]

    @property
    def compressors(self) -> tuple[Any, ...]:
        """v3: the bytes->bytes codecs after the serializer; v2: the compressor, if any.

        >>> import exzarr
        >>> exzarr.create_array(shape=(4,), dtype="i4", compressors="gzip").compressors
        (GzipCodec({'level': 1}),)
        """
        return self._codec_parts()[2]

    @property
    def compressor(self) -> Any:
        """The one compressor of a v2 array (``None`` if it has none). v3 arrays: use
        :attr:`compressors` (this raises ``TypeError`` there, as in zarr-python).

        >>> import exzarr
        >>> exzarr.create_array(shape=(4,), dtype="i4", zarr_format=2).compressor
        Zstd(level=0)
        """
        if self.zarr_format != 2:
            raise TypeError(f"array {self.name!r} is v3: use .compressors (a v3 array can have several)")
        return self._meta.compressor

    def cache_stats(self) -> CacheStats | None:
        """Hit/miss counters of the decoded-chunk cache (``None`` without ``cache_bytes=``).

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(4,), chunks=(2,), dtype="i4", cache_bytes=1 << 20)
        >>> a[:] = 1
        >>> _, _ = a[0], a[1]  # one chunk decoded once, then served from the cache
        >>> s = a.cache_stats()
        >>> s.misses, s.hits
        (1, 1)
        """
        cache = self._engine.spec.cache
        return cache.stats() if cache is not None else None

    @property
    def write_empty_chunks(self) -> bool:
        """Whether chunks equal to the fill value everywhere are stored (else deleted/skipped).

        >>> import exzarr
        >>> exzarr.create_array(shape=(2,), dtype="u1", write_empty_chunks=True).write_empty_chunks
        True
        """
        return self._engine.write_empty

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
        # what the array is, not its engine (rebuilt on the other side; a cache starts empty)
        return {
            "store": self._store,
            "path": self._path,
            "meta": self._meta,
            "read_only": self._read_only,
            "options": self._options,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["store"], state["path"], state["meta"], read_only=state["read_only"], options=state["options"])  # type: ignore[misc]

    def __enter__(self) -> Array:
        return self

    def __exit__(self, *exc: object) -> None:
        self._store.close()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> NDArray[Any]:
        out = np.asarray(self[...])
        return out.astype(dtype) if dtype is not None else out

    # ------------------------------------------------------------------ chunk primitives
    def chunk_key(self, chunk_index: tuple[int, ...]) -> str:
        """The store key of the object holding chunk ``chunk_index`` (its shard when sharded).

        >>> import exzarr
        >>> exzarr.create_array(shape=(4, 4), chunks=(2, 2), dtype="u1").chunk_key((1, 0))
        'c/1/0'
        """
        return self._engine.chunk_key(tuple(chunk_index))

    def _check_writable(self) -> None:
        self._engine.check_writable()

    def read_chunk(self, chunk_index: tuple[int, ...]) -> NDArray[Any]:
        """Decode one whole chunk (full chunk shape, edge overhang included; for sharded
        arrays one inner chunk, fetched with byte-range requests).

        >>> import exzarr, numpy as np
        >>> a = exzarr.create_array(shape=(5,), chunks=(2,), dtype="i4")
        >>> a[:] = np.arange(5)
        >>> a.read_chunk((1,)), a.read_chunk((2,))  # the edge chunk has the full chunk shape
        (array([2, 3], dtype=int32), array([4, 0], dtype=int32))
        """
        return self._engine.read_chunk(chunk_index)

    def write_chunk(self, chunk_index: tuple[int, ...], data: Any) -> None:
        """Encode and store one whole chunk; ``data`` must have the chunk shape
        (or, for edge chunks, the in-bounds part of it).

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(5,), chunks=(2,), dtype="i4")
        >>> a.write_chunk((0,), [1, 2])
        >>> a.write_chunk((2,), [5])  # the edge chunk: its in-bounds part
        >>> a[...].tolist()
        [1, 2, 0, 0, 5]
        """
        self._check_writable()
        streaming.write_chunks(self._engine, [(chunk_index, data)], max_concurrency=1)

    def stored_chunks(self) -> Iterator[tuple[int, ...]]:
        """Grid indices of the chunks present in the store (inner chunks for sharded arrays,
        found by reading each stored shard's index).

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(6,), chunks=(2,), dtype="i4")
        >>> a[4:] = 1
        >>> sorted(a.stored_chunks())
        [(2,)]
        """
        return self._engine.stored_chunks()

    @property
    def nchunks_initialized(self) -> int:
        """How many chunks are stored.

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(6,), chunks=(2,), dtype="i4")
        >>> a[:3] = 1
        >>> a.nchunks_initialized, a.nchunks
        (2, 3)
        """
        return sum(1 for _ in self.stored_chunks())

    def _read(self, sel: OrthogonalSelection | CoordinateSelection, max_concurrency: int | None = None) -> NDArray[Any]:
        return self._engine.read(sel, max_concurrency)

    def _write(self, sel: OrthogonalSelection | CoordinateSelection, value: Any, max_concurrency: int | None = None) -> None:
        self._engine.write(sel, value, max_concurrency)

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

    @overload
    def __getitem__(self, selection: slice | EllipsisType | list[Any]) -> NDArray[Any]: ...
    @overload
    def __getitem__(self, selection: Any) -> NDArray[Any] | Any: ...
    def __getitem__(self, selection: Any) -> NDArray[Any] | Any:
        """Read a selection as NumPy does: an array, or a scalar when every dimension is indexed
        by an integer (``a[1, 2]``; ``a[()]`` on a 0-d array). Scalars are NumPy scalars, or the
        Python objects of an object array (strings). A slice, ``...`` or a list always gives an
        array: ``a[...]`` on a 0-d array and ``a[1, ..., 2]`` give 0-d arrays, as in NumPy.

        >>> import exzarr, numpy as np
        >>> a = exzarr.create_array(shape=(2, 3), dtype="i4")
        >>> a[...] = np.arange(6).reshape(2, 3)
        >>> a[1], a[1, ::2], a[1, 2], a[1, ..., 2]
        (array([3, 4, 5], dtype=int32), array([3, 5], dtype=int32), np.int32(5), array(5, dtype=int32))
        >>> z = exzarr.create_array(shape=(), dtype="f8", fill_value=1.5)
        >>> z[()], z[...]
        (np.float64(1.5), array(1.5))
        """
        sel = self._named_errors(self._dispatch, selection)
        out = self._read(sel)
        if isinstance(sel, OrthogonalSelection) and all(isinstance(d, IntDim) for d in sel.dims):
            parts = selection if isinstance(selection, tuple) else (selection,)
            if any(p is Ellipsis for p in parts):
                return out  # NumPy: an index with an Ellipsis gives an array, 0-d when every axis is an integer
            if sel.dims or parts == ():
                return out[()]  # a scalar, as NumPy gives for all-integer (and, on 0-d, empty) indexes
        return out

    def __setitem__(self, selection: Any, value: Any) -> None:
        """Write ``value`` (broadcast like NumPy) at a selection (the forms ``a[...]`` reads).

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(2, 3), dtype="i4")
        >>> a[0] = [1, 2, 3]
        >>> a[1, 1:] = 9
        >>> a[...].tolist()
        [[1, 2, 3], [0, 9, 9]]
        """
        self._write(self._named_errors(self._dispatch, selection), value)

    def get_basic_selection(self, selection: Any = Ellipsis, *, max_concurrency: int | None = None) -> NDArray[Any]:
        """Read ints/slices/``...`` (NumPy basic indexing); always an array (0-d for all-int).

        >>> import exzarr, numpy as np
        >>> a = exzarr.create_array(shape=(2, 3), dtype="i4")
        >>> a[...] = np.arange(6).reshape(2, 3)
        >>> a.get_basic_selection((1, slice(0, 2))), a.get_basic_selection((0, 0))
        (array([3, 4], dtype=int32), array(0, dtype=int32))
        """
        return self._read(self._named_errors(basic_selection, selection, self.shape, self._meta.chunks), max_concurrency)

    def set_basic_selection(self, selection: Any, value: Any, *, max_concurrency: int | None = None) -> None:
        """Write ``value`` (broadcast like NumPy) at ints/slices/``...``.

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(4,), dtype="i4")
        >>> a.set_basic_selection(slice(1, 3), 9)
        >>> a[...].tolist()
        [0, 9, 9, 0]
        """
        self._write(self._named_errors(basic_selection, selection, self.shape, self._meta.chunks), value, max_concurrency)

    def get_orthogonal_selection(self, selection: Any, *, max_concurrency: int | None = None) -> NDArray[Any]:
        """Outer-product selection: each axis indexed independently (ints, slices, int/bool arrays).

        >>> import exzarr, numpy as np
        >>> a = exzarr.create_array(shape=(3, 3), dtype="i4")
        >>> a[...] = np.arange(9).reshape(3, 3)
        >>> a.get_orthogonal_selection(([0, 2], [0, 2]))
        array([[0, 2],
               [6, 8]], dtype=int32)
        """
        sel = self._named_errors(lambda s: basic_selection(s, self.shape, self._meta.chunks, allow_arrays=True), selection)
        return self._read(sel, max_concurrency)

    def set_orthogonal_selection(self, selection: Any, value: Any, *, max_concurrency: int | None = None) -> None:
        """Write ``value`` at an outer-product selection (see :meth:`get_orthogonal_selection`).

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(3, 3), dtype="i4")
        >>> a.set_orthogonal_selection(([0, 2], [0, 2]), 1)
        >>> int(a[...].sum()), int(a[1, 1])
        (4, 0)
        """
        sel = self._named_errors(lambda s: basic_selection(s, self.shape, self._meta.chunks, allow_arrays=True), selection)
        self._write(sel, value, max_concurrency)

    def get_coordinate_selection(self, selection: Any, *, max_concurrency: int | None = None) -> NDArray[Any]:
        """Point-wise selection: index arrays broadcast together, or one full-shape boolean mask.

        >>> import exzarr, numpy as np
        >>> a = exzarr.create_array(shape=(3, 3), dtype="i4")
        >>> a[...] = np.arange(9).reshape(3, 3)
        >>> a.get_coordinate_selection(([0, 2], [1, 2]))
        array([1, 8], dtype=int32)
        """
        if not self.ndim:  # a 0-d array has no points to broadcast: as in NumPy, this is basic indexing
            return self.get_basic_selection(selection, max_concurrency=max_concurrency)
        return self._read(self._named_errors(coordinate_selection, selection, self.shape, self._meta.chunks), max_concurrency)

    def set_coordinate_selection(self, selection: Any, value: Any, *, max_concurrency: int | None = None) -> None:
        """Write ``value`` at points (see :meth:`get_coordinate_selection`).

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(2, 2), dtype="i4")
        >>> a.set_coordinate_selection(([0, 1], [0, 1]), [5, 6])
        >>> a[...].tolist()
        [[5, 0], [0, 6]]
        """
        if not self.ndim:
            return self.set_basic_selection(selection, value, max_concurrency=max_concurrency)
        self._write(self._named_errors(coordinate_selection, selection, self.shape, self._meta.chunks), value, max_concurrency)

    def get_block_selection(self, selection: Any, *, max_concurrency: int | None = None) -> NDArray[Any]:
        """Whole chunks by grid index: ``a.blocks[1, 2]`` is chunk (1, 2) trimmed to the bounds.

        >>> import exzarr, numpy as np
        >>> a = exzarr.create_array(shape=(5,), chunks=(2,), dtype="i4")
        >>> a[...] = np.arange(5)
        >>> a.get_block_selection(2), a.get_block_selection(slice(0, 2))
        (array([4], dtype=int32), array([0, 1, 2, 3], dtype=int32))
        """
        return self._read(self._named_errors(block_selection, selection, self.shape, self.chunks), max_concurrency)

    def set_block_selection(self, selection: Any, value: Any, *, max_concurrency: int | None = None) -> None:
        """Write ``value`` over whole chunks by grid index (see :meth:`get_block_selection`).

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(5,), chunks=(2,), dtype="i4")
        >>> a.set_block_selection(1, 7)
        >>> a[...].tolist()
        [0, 0, 7, 7, 0]
        """
        self._write(self._named_errors(block_selection, selection, self.shape, self.chunks), value, max_concurrency)

    @property
    def oindex(self) -> _Indexer:
        """Orthogonal (outer) indexing: ``a.oindex[[0, 2], 1:3]``.

        >>> import exzarr, numpy as np
        >>> a = exzarr.create_array(shape=(3, 3), dtype="i4")
        >>> a[...] = np.arange(9).reshape(3, 3)
        >>> a.oindex[[0, 2], 1:3]
        array([[1, 2],
               [7, 8]], dtype=int32)
        """
        return _Indexer(self.get_orthogonal_selection, self.set_orthogonal_selection)

    @property
    def vindex(self) -> _Indexer:
        """Vectorised (point-wise) indexing: ``a.vindex[[0, 2], [1, 3]]`` or ``a.vindex[mask]``.

        >>> import exzarr, numpy as np
        >>> a = exzarr.create_array(shape=(3, 3), dtype="i4")
        >>> a[...] = np.arange(9).reshape(3, 3)
        >>> a.vindex[[0, 2], [1, 2]], a.vindex[np.eye(3, dtype=bool)]
        (array([1, 8], dtype=int32), array([0, 4, 8], dtype=int32))
        """
        return _Indexer(self.get_coordinate_selection, self.set_coordinate_selection)

    @property
    def blocks(self) -> _Indexer:
        """Chunk-wise indexing: ``a.blocks[0, 1]``.

        >>> import exzarr, numpy as np
        >>> a = exzarr.create_array(shape=(4, 4), chunks=(2, 2), dtype="i4")
        >>> a[...] = np.arange(16).reshape(4, 4)
        >>> a.blocks[0, 1]
        array([[2, 3],
               [6, 7]], dtype=int32)
        """
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
                    known = f"its dimensions are {list(names)}" if names else "it has no dimension_names"
                    raise TypeError(f"array {self.name!r}: unexpected keyword argument {dim!r}: not a dimension name ({known})")
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
    ) -> NDArray[Any]:
        """Read the box ``[start, stop)`` (tuples, exclusive stop, negative indices allowed).

        Named dimensions select by name when the array has ``dimension_names``:
        ``a.get_slice(time=slice(0, 30))``, ``time=5`` or ``time=(0, 30)``.

        >>> import exzarr, numpy as np
        >>> a = exzarr.create_array(shape=(3, 4), dtype="i4", dimension_names=("t", "x"))
        >>> a[...] = np.arange(12).reshape(3, 4)
        >>> a.get_slice(start=(1, 0), stop=(3, 2))
        array([[4, 5],
               [8, 9]], dtype=int32)
        >>> a.get_slice(t=2)
        array([ 8,  9, 10, 11], dtype=int32)
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
        """Write ``data`` into the box ``[start, stop)``; scalars and compatible shapes broadcast.

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(2, 3), dtype="i4")
        >>> a.set_slice(1, start=(0, 1), stop=(2, 3))
        >>> a[...].tolist()
        [[0, 1, 1], [0, 1, 1]]
        """
        self.set_basic_selection(self._slice_selection(start, stop, step, dims), data, max_concurrency=max_concurrency)

    # ------------------------------------------------------------------ streaming
    @overload
    def chunk_stream(
        self,
        max_concurrency: int | None = None,
        ordered: bool = True,
        filter: Any = None,
        progress: ProgressArg = False,
        include_missing: bool = False,
        on_error: Any = "raise",
        timeout: float | None = None,
        with_info: Literal[False] = False,
        *,
        parallel: int | None = None,
        progress_callback: Any = None,
    ) -> Iterator[tuple[tuple[int, ...], NDArray[Any]]]: ...
    @overload
    def chunk_stream(
        self,
        max_concurrency: int | None = None,
        ordered: bool = True,
        filter: Any = None,
        progress: ProgressArg = False,
        include_missing: bool = False,
        on_error: Any = "raise",
        timeout: float | None = None,
        *,
        with_info: Literal[True],
        parallel: int | None = None,
        progress_callback: Any = None,
    ) -> Iterator[streaming.ChunkRecord]: ...
    @overload
    def chunk_stream(
        self,
        max_concurrency: int | None = None,
        ordered: bool = True,
        filter: Any = None,
        progress: ProgressArg = False,
        include_missing: bool = False,
        on_error: Any = "raise",
        timeout: float | None = None,
        with_info: bool = False,
        *,
        parallel: int | None = None,
        progress_callback: Any = None,
    ) -> Iterator[tuple[tuple[int, ...], NDArray[Any]]] | Iterator[streaming.ChunkRecord]: ...
    def chunk_stream(
        self,
        max_concurrency: int | None = None,
        ordered: bool = True,
        filter: Any = None,
        progress: ProgressArg = False,
        include_missing: bool = False,
        on_error: Any = "raise",
        timeout: float | None = None,
        with_info: bool = False,
        *,
        parallel: int | None = None,
        progress_callback: Any = None,
    ) -> Iterator[tuple[tuple[int, ...], NDArray[Any]]] | Iterator[streaming.ChunkRecord]:
        """Iterate ``(chunk_index, ndarray)`` over the chunks, edge chunks trimmed to the bounds.

        Only stored chunks are visited unless ``include_missing=True`` (then every grid
        position, missing ones as fill). At most ``max_concurrency`` reads run ahead (default:
        the engine's; ``parallel=`` is an alias); ``ordered`` keeps grid order;
        ``filter(chunk_index) -> bool`` selects chunks; ``progress=True`` draws a progress bar
        and a callable ``progress(done, total)`` is called per chunk (``progress_callback=`` is
        an alias); ``on_error`` is ``"raise"``, ``"skip"`` or ``callable(chunk_index, exc)``;
        ``timeout`` bounds each chunk read; ``with_info=True`` yields
        :class:`~exzarr.engine.streaming.ChunkRecord` objects instead of pairs.

        >>> import exzarr, numpy as np
        >>> a = exzarr.create(shape=(5, 4), chunks=(2, 4), dtype="i4")
        >>> a[...] = np.arange(20).reshape(5, 4)
        >>> [(i, d.shape) for i, d in a.chunk_stream(max_concurrency=2)]
        [((0, 0), (2, 4)), ((1, 0), (2, 4)), ((2, 0), (1, 4))]
        """
        return streaming.chunk_stream(
            self._engine,
            max_concurrency=concurrency_arg(max_concurrency, parallel),
            ordered=ordered,
            filter=filter,
            progress=progress,
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
        progress: ProgressArg = False,
        include_missing: bool = False,
        *,
        parallel: int | None = None,
        progress_callback: Any = None,
        executor: Any = None,
    ) -> Iterator[Any]:
        """Iterate ``fn((chunk_index, ndarray))`` over the chunks, computed in parallel.

        A task over ``timeout`` seconds raises :class:`TimeoutError` naming the chunk (or is
        yielded with ``return_exceptions=True``, as are errors ``fn`` raises).
        ``progress=True`` draws a tqdm progress bar, a callable ``progress(done, total)`` is
        called per chunk. ``fn`` may itself read arrays: nested engine calls run inline on
        the worker.

        >>> import exzarr
        >>> a = exzarr.create(shape=(6,), chunks=(2,), dtype="i4")
        >>> a[...] = [1, 2, 3, 4, 5, 6]
        >>> list(a.parallel_chunk_map(lambda item: int(item[1].sum())))
        [3, 7, 11]

        ``executor=`` (a ``concurrent.futures`` pool or a ``distributed.Client``) reads and maps each
        chunk on its workers instead (``fn`` must then pickle, for processes and clusters);
        ``max_concurrency`` then bounds the chunks in flight.
        """
        if executor is not None:
            from .dask import executor_chunk_map

            indices, _, bar = streaming.plan_map(self._engine, fn, filter, progress, progress_callback, timeout, include_missing)
            return executor_chunk_map(
                self,
                fn,
                executor,
                indices,
                max_concurrency=concurrency_arg(max_concurrency, parallel),
                ordered=ordered,
                timeout=timeout,
                return_exceptions=return_exceptions,
                bar=bar,
            )
        return streaming.parallel_chunk_map(
            self._engine,
            fn,
            max_concurrency=concurrency_arg(max_concurrency, parallel),
            ordered=ordered,
            timeout=timeout,
            return_exceptions=return_exceptions,
            filter=filter,
            progress=progress,
            progress_callback=progress_callback,
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
        progress: ProgressArg = False,
        parallel: int | None = None,
        progress_callback: Any = None,
    ) -> Iterator[tuple[int, NDArray[Any]]]:
        """Yield ``(i, a[..., i, ...])`` for ``i`` in ``range(start, stop, step)`` along ``axis``,
        reading each chunk once (one chunk-row slab at a time).

        >>> import exzarr, numpy as np
        >>> a = exzarr.create_array(shape=(3, 2), chunks=(2, 2), dtype="i4")
        >>> a[...] = np.arange(6).reshape(3, 2)
        >>> [(i, row.tolist()) for i, row in a.stream_slices(axis=0)]
        [(0, [0, 1]), (1, [2, 3]), (2, [4, 5])]
        """
        return streaming.stream_slices(
            self._engine,
            axis,
            start=start,
            stop=stop,
            step=step,
            max_concurrency=concurrency_arg(max_concurrency, parallel),
            progress=progress_arg(progress, progress_callback),
        )

    def write_stream(
        self,
        items: Any,
        max_concurrency: int | None = None,
        validate: bool = True,
        on_error: Any = "raise",
        checkpoint: Any = None,
        batch_size: int | None = None,
        progress: ProgressArg = False,
        *,
        parallel: int | None = None,
        progress_callback: Any = None,
    ) -> streaming.WriteSummary:
        """Write ``(chunk_index, ndarray)`` items (or ``{"index", "data"}`` dicts) as whole chunks.

        Returns a :class:`~exzarr.engine.streaming.WriteSummary` of written and failed chunk
        indices. ``validate`` checks each item's shape against its chunk (edge chunks may
        be given trimmed); ``checkpoint(summary)`` runs after each batch so an ingest can
        resume from ``summary.last_index``; ``progress`` counts items (``total`` is ``None``
        for an iterator without a length).

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(4,), chunks=(2,), dtype="i4")
        >>> summary = a.write_stream(iter([((0,), [1, 2]), {"index": (1,), "data": [3, 4]}]))
        >>> summary.written, a[...].tolist()
        ([(0,), (1,)], [1, 2, 3, 4])
        """
        return streaming.write_stream(
            self._engine,
            items,
            max_concurrency=concurrency_arg(max_concurrency, parallel),
            validate=validate,
            on_error=on_error,
            checkpoint=checkpoint,
            batch_size=batch_size,
            progress=progress_arg(progress, progress_callback),
        )

    def write_chunks(
        self,
        items: Any,
        max_concurrency: int | None = None,
        progress: ProgressArg = False,
        *,
        parallel: int | None = None,
        progress_callback: Any = None,
    ) -> list[tuple[int, ...]]:
        """Write many whole chunks concurrently: ``items`` of ``(chunk_index, data)``; returns
        the indices written.

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(4,), chunks=(2,), dtype="i4")
        >>> sorted(a.write_chunks([((1,), [3, 4]), ((0,), [1, 2])]))
        [(0,), (1,)]
        """
        return streaming.write_chunks(
            self._engine,
            items,
            max_concurrency=concurrency_arg(max_concurrency, parallel),
            progress=progress_arg(progress, progress_callback),
        )

    # ------------------------------------------------------------------ Dask
    def to_dask(self, chunks: Any = None, *, name: str | None = None, inline_array: bool = False) -> Any:
        """A ``dask.array.Array`` whose blocks are this array's shards (sharded arrays) or chunks,
        read with exzarr's engine; ``chunks=`` asks for other blocks. Its name is stable: the
        same array gives the same name in every call and process (see ``__dask_tokenize__``).

        >>> import exzarr
        >>> a = exzarr.create(shape=(6, 4), chunks=(4, 4), dtype="i4", fill_value=1)
        >>> x = a.to_dask()
        >>> x.chunks, int(x.sum().compute()), x.name == a.to_dask().name
        (((4, 2), (4,)), 24, True)
        """
        from .dask import to_dask

        return to_dask(self, chunks, name=name, inline_array=inline_array)

    def store_dask(self, x: Any, *, scheduler: Any = None) -> Array:
        """Write the Dask array ``x`` (same shape) into this array in parallel under the current
        (or given) Dask scheduler, a ``distributed.Client`` included; blocks that do not line up
        with the chunks (shards) are rechunked first so no two tasks write one object. Returns self.

        >>> import exzarr, dask.array as da
        >>> a = exzarr.create(shape=(20,), chunks=(10,), dtype="i8")
        >>> int(a.store_dask(da.arange(20, chunks=7))[...].sum())
        190
        """
        from .dask import store_dask

        return store_dask(self, x, scheduler=scheduler)

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        """What identifies this array's data for Dask: store kind and location, path, metadata."""
        return ("exzarr.Array", type(self._store).__name__, self._store.location(self._path), md.dumps(md.documents(self._meta)))

    # ------------------------------------------------------------------ async twins
    async def get_slice_async(self, start: Any = None, stop: Any = None, step: Any = None, **kw: Any) -> NDArray[Any]:
        """Async version of :meth:`get_slice`.

        >>> import asyncio, exzarr
        >>> a = exzarr.create_array(shape=(4,), dtype="i4", fill_value=2)
        >>> asyncio.run(a.get_slice_async(start=(1,), stop=(3,)))
        array([2, 2], dtype=int32)
        """
        return await asyncio.to_thread(self.get_slice, start, stop, step, **kw)

    async def set_slice_async(self, data: Any, start: Any = None, stop: Any = None, step: Any = None, **kw: Any) -> None:
        """Async version of :meth:`set_slice`.

        >>> import asyncio, exzarr
        >>> a = exzarr.create_array(shape=(4,), dtype="i4")
        >>> asyncio.run(a.set_slice_async(5, start=(2,)))
        >>> a[...].tolist()
        [0, 0, 5, 5]
        """
        await asyncio.to_thread(self.set_slice, data, start, stop, step, **kw)

    async def getitem_async(self, selection: Any) -> NDArray[Any] | Any:
        """Async version of ``a[selection]``.

        >>> import asyncio, exzarr
        >>> a = exzarr.create_array(shape=(4,), dtype="i4", fill_value=3)
        >>> asyncio.run(a.getitem_async(slice(0, 2)))
        array([3, 3], dtype=int32)
        """
        return await asyncio.to_thread(self.__getitem__, selection)

    async def setitem_async(self, selection: Any, value: Any) -> None:
        """Async version of ``a[selection] = value``.

        >>> import asyncio, exzarr
        >>> a = exzarr.create_array(shape=(3,), dtype="i4")
        >>> asyncio.run(a.setitem_async(slice(1, None), 4))
        >>> a[...].tolist()
        [0, 4, 4]
        """
        await asyncio.to_thread(self.__setitem__, selection, value)

    async def read_chunk_async(self, chunk_index: tuple[int, ...]) -> NDArray[Any]:
        """Async version of :meth:`read_chunk`.

        >>> import asyncio, exzarr
        >>> a = exzarr.create_array(shape=(4,), chunks=(2,), dtype="i4", fill_value=1)
        >>> asyncio.run(a.read_chunk_async((1,)))
        array([1, 1], dtype=int32)
        """
        return await asyncio.to_thread(self.read_chunk, chunk_index)

    async def write_chunk_async(self, chunk_index: tuple[int, ...], data: Any) -> None:
        """Async version of :meth:`write_chunk`.

        >>> import asyncio, exzarr
        >>> a = exzarr.create_array(shape=(4,), chunks=(2,), dtype="i4")
        >>> asyncio.run(a.write_chunk_async((1,), [8, 9]))
        >>> a[...].tolist()
        [0, 0, 8, 9]
        """
        await asyncio.to_thread(self.write_chunk, chunk_index, data)

    # ------------------------------------------------------------------ shape changes
    def _metadata_lock(self) -> Any:
        return metadata_lock(self._store, self._path, processes=self._options.process_locks)

    def _reload(self) -> ArrayMetadata:
        """The metadata as stored now (read under the metadata lock by the updates below)."""
        meta = md.read_metadata(self._store, self._path, zarr_format=self.zarr_format)
        if not isinstance(meta, ArrayMetadata):
            raise NodeNotFoundError(f"array {self.name!r} is no longer in {self._store!r}")
        return meta

    def _adopt(self, meta: ArrayMetadata) -> None:
        self._meta = meta
        if meta.shape != self._engine.layout.shape:
            self._engine = self._engine.with_metadata(meta)

    def _read_attributes(self) -> dict[str, Any]:
        return dict(self._meta.attributes)

    def _modify_attributes(self, change: Any) -> None:
        """Apply ``change(stored attributes)`` to the document as stored now, under the metadata
        lock, changing nothing else (a shape another handle wrote stays)."""
        self._check_writable()
        with self._metadata_lock():
            current = self._reload()
            new = current.with_(attributes=change(dict(current.attributes)))
            md.write_metadata(self._store, self._path, new, attrs_only=True)
            self._adopt(new)

    def refresh(self) -> None:
        """Re-read the metadata (shape, attributes) other handles or processes may have changed.

        >>> import exzarr
        >>> a = exzarr.create_array("memory://doc-a-refresh", shape=(2,), dtype="u1")
        >>> exzarr.open_array("memory://doc-a-refresh", mode="r+").resize(5)  # another handle grows it
        >>> a.shape, (a.refresh(), a.shape)[1]
        ((2,), (5,))
        """
        self._adopt(self._reload())

    def resize(self, *new_shape: Any) -> None:
        """Change the shape. Data inside both shapes is kept; new regions read as the fill value.

        Chunks wholly outside the new shape are deleted, and the cut-off part of edge
        chunks is reset to the fill value, so growing again never resurrects old data.
        The update starts from the shape as stored now (another handle may have grown it) and
        holds the array's metadata lock.

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(4,), chunks=(2,), dtype="i4", fill_value=0)
        >>> a[:] = 1
        >>> a.resize(2)
        >>> a.resize(5)  # the cut-off values do not come back
        >>> a[...].tolist()
        [1, 1, 0, 0, 0]
        """
        self._check_writable()
        shape = normalize_shape(new_shape[0] if len(new_shape) == 1 and not isinstance(new_shape[0], int) else new_shape)
        if len(shape) != self.ndim:
            raise ShapeMismatchError(f"array {self.name!r}: resize to {shape} changes the number of dimensions ({self.ndim})")
        with self._metadata_lock():
            self._adopt(self._reload())
            new = self._meta.with_(shape=shape)
            self._engine.shrink(shape)
            if any(n > o for n, o in zip(shape, self.shape, strict=True)):
                self._engine.grow(shape, new)
            md.write_metadata(self._store, self._path, new)
            self._adopt(new)

    def append(self, data: Any, axis: int = 0) -> tuple[int, ...]:
        """Grow along ``axis`` and write ``data`` at the end; returns the new shape.

        Appends from several threads, handles or (with ``process_locks=True``) processes are
        serialised by the array's metadata lock: each lands after the others, none is lost. The
        data is written before the new shape, so a crash in between leaves the old shape.

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(2, 2), dtype="i4")
        >>> a.append([[1, 1]])
        (3, 2)
        >>> a.append([[5], [5], [5]], axis=1)
        (3, 3)
        """
        self._check_writable()
        arr = np.asarray(data)
        if not -self.ndim <= axis < self.ndim:
            raise BoundsError(f"array {self.name!r}: axis {axis} is out of range for {self.ndim} dimensions")
        axis %= self.ndim
        with self._metadata_lock():
            self._adopt(self._reload())
            shape = self.shape
            if arr.ndim != self.ndim or any(arr.shape[k] != shape[k] for k in range(self.ndim) if k != axis):
                raise ShapeMismatchError(
                    f"array {self.name!r}: cannot append data of shape {arr.shape} to shape {shape} along axis {axis}"
                )
            old = shape[axis]
            grown = self._meta.with_(shape=tuple(s + arr.shape[axis] if k == axis else s for k, s in enumerate(shape)))
            engine = self._engine.with_metadata(grown)
            region = tuple(slice(old, None) if k == axis else slice(None) for k in range(self.ndim))
            engine.write(basic_selection(region, grown.shape, grown.chunks), arr)
            md.write_metadata(self._store, self._path, grown)
            self._adopt(grown)
        return grown.shape

    def nbytes_stored(self) -> int:
        """Bytes the array takes in its store: its metadata documents and every stored chunk
        (shard) object, listed once (an object store reports sizes with the listing).

        >>> import exzarr
        >>> a = exzarr.create(shape=(100,), chunks=(10,), dtype="i4", compressor=None)
        >>> a[:] = 7
        >>> a.nbytes_stored() - a.nbytes > 0  # the chunks plus zarr.json
        True
        """
        return self._store.getsize_prefix(f"{self._path}/" if self._path else "")

    @property
    def info(self) -> ArrayInfo:
        """A table of what the array is and what it costs: shape, chunks, shards, order, codecs
        (v2 filters and compressor), read-only, stored bytes, compression ratio and chunks
        initialized (so it lists the array's keys once). ``info.to_dict()`` is JSON-ready.

        >>> import exzarr
        >>> a = exzarr.create(shape=(10, 10), chunks=(5, 5), shards=(10, 10), dtype="u1")
        >>> a.info.shards, a.info.serializer.startswith("sharding_indexed")
        ((10, 10), True)
        """
        return array_info(self)

    def info_complete(self) -> ArrayInfo:
        """The same as :attr:`info` (zarr-python spells the complete report this way).

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(4,), chunks=(2,), dtype="u1")
        >>> a.info_complete() == a.info
        True
        """
        return array_info(self)

    def update_attributes(self, new_attributes: dict[str, Any]) -> Array:
        """Merge ``new_attributes`` into the stored attributes (one write, under the metadata
        lock, other fields untouched) and return the array, as zarr-python does.

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(2,), dtype="i1", attributes={"a": 1})
        >>> dict(a.update_attributes({"b": 2}).attrs)
        {'a': 1, 'b': 2}
        """
        if not isinstance(new_attributes, dict):
            raise TypeError(f"update_attributes() takes a dict, got {type(new_attributes).__name__}")
        self.attrs.update(new_attributes)
        return self


class _Indexer:
    __slots__ = ("_get", "_set")

    def __init__(self, get: Any, set_: Any) -> None:
        self._get, self._set = get, set_

    def __getitem__(self, selection: Any) -> NDArray[Any]:
        return self._get(selection)

    def __setitem__(self, selection: Any, value: Any) -> None:
        self._set(selection, value)
