"""Selections -> per-chunk projections. Pure functions: no stores, no codecs.

A selection (``a[0:400, ::2]``, ``a.oindex[[1, 5], :]``, ``a.vindex[i, j]``...) is
normalised into one *dimension indexer* per array axis. Each indexer knows, for
every chunk along its axis, which part of that chunk it touches and where that
part lands in the output. The engine takes the cartesian product of those
per-axis projections (orthogonal selections) or groups points by chunk
(coordinate selections) to build its plan of chunk tasks.

Negative-step slices are turned into the equivalent positive-step slice plus a
flip of the output axis, so chunk arithmetic only ever deals with ascending
ranges.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import BoundsError, SelectionError

Index = int | slice | np.ndarray


@dataclass(frozen=True, slots=True)
class DimProjection:
    """The part of one chunk (along one axis) a selection touches."""

    chunk: int
    chunk_sel: Index  # int, slice or int array inside the chunk
    out_sel: slice | np.ndarray | None  # None: the axis is dropped (integer index)
    complete: bool  # covers the chunk's whole in-bounds extent, in order


@dataclass(frozen=True, slots=True)
class IntDim:
    index: int
    dim_len: int
    chunk_len: int
    nitems = 1
    drops_axis = True

    def projections(self) -> Iterator[DimProjection]:
        c, r = divmod(self.index, self.chunk_len)
        whole = min(self.chunk_len, self.dim_len - c * self.chunk_len) == 1
        yield DimProjection(c, r, None, whole)


@dataclass(frozen=True, slots=True)
class SliceDim:
    start: int
    stop: int
    step: int  # > 0
    dim_len: int
    chunk_len: int
    drops_axis = False

    @property
    def nitems(self) -> int:
        return max(0, -(-(self.stop - self.start) // self.step))

    def projections(self) -> Iterator[DimProjection]:
        n = self.nitems
        if n == 0:
            return
        cl, step = self.chunk_len, self.step
        last = self.start + (n - 1) * step
        for c in range(self.start // cl, last // cl + 1):
            c0 = c * cl
            c1 = min(c0 + cl, self.dim_len)
            # first selected index >= c0
            if self.start >= c0:
                first = self.start
            else:
                first = self.start + -(-(c0 - self.start) // step) * step
            if first >= c1 or first > last:
                continue
            lst = min(last, c1 - 1)
            k0 = (first - self.start) // step
            k1 = (lst - self.start) // step + 1
            complete = step == 1 and first == c0 and lst == c1 - 1
            yield DimProjection(c, slice(first - c0, lst - c0 + 1, step), slice(k0, k1), complete)


@dataclass(frozen=True, slots=True)
class ArrayDim:
    indices: np.ndarray  # int64, in bounds, any order, duplicates allowed
    dim_len: int
    chunk_len: int
    drops_axis = False

    @property
    def nitems(self) -> int:
        return int(self.indices.size)

    def projections(self) -> Iterator[DimProjection]:
        idx = self.indices
        if idx.size == 0:
            return
        chunk_of = idx // self.chunk_len
        if idx.size > 1 and np.any(chunk_of[1:] < chunk_of[:-1]):
            order = np.argsort(chunk_of, kind="stable")
        else:
            order = np.arange(idx.size)
        sorted_chunks = chunk_of[order]
        bounds = np.flatnonzero(np.diff(sorted_chunks)) + 1
        for grp in np.split(order, bounds):
            c = int(chunk_of[grp[0]])
            local = idx[grp] - c * self.chunk_len
            yield DimProjection(c, local, grp, False)


DimIndexer = IntDim | SliceDim | ArrayDim


def _as_index_int(x: Any) -> int | None:
    if isinstance(x, (bool, np.bool_)):
        return None
    try:
        return operator.index(x)
    except TypeError:
        return None


def _norm_int(i: int, dim_len: int, axis: int) -> int:
    j = i + dim_len if i < 0 else i
    if not 0 <= j < dim_len:
        raise BoundsError(f"index {i} is out of bounds for axis {axis} with size {dim_len}")
    return j


def _norm_slice(s: slice, dim_len: int, chunk_len: int, axis: int) -> tuple[SliceDim, bool]:
    for v in (s.start, s.stop, s.step):
        if v is not None and _as_index_int(v) is None:
            raise SelectionError(f"slice {s} on axis {axis}: start, stop and step must be integers")
    if s.step == 0:
        raise SelectionError(f"slice {s} on axis {axis}: step cannot be zero")
    start, stop, step = s.indices(dim_len)
    if step > 0:
        return SliceDim(start, stop, step, dim_len, chunk_len), False
    n = len(range(start, stop, step))
    if n == 0:
        return SliceDim(0, 0, 1, dim_len, chunk_len), False
    lo = start + (n - 1) * step
    return SliceDim(lo, start + 1, -step, dim_len, chunk_len), True


def _norm_array(x: Any, dim_len: int, chunk_len: int, axis: int) -> ArrayDim:
    arr = np.asarray(x)
    if arr.dtype == bool:
        if arr.ndim != 1 or arr.shape[0] != dim_len:
            raise SelectionError(f"boolean index on axis {axis} has shape {arr.shape}, expected ({dim_len},)")
        return ArrayDim(np.flatnonzero(arr).astype(np.int64), dim_len, chunk_len)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise SelectionError(f"index array on axis {axis} must be integer or boolean, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise SelectionError(f"orthogonal index arrays must be 1-D; axis {axis} got shape {arr.shape}")
    arr = arr.astype(np.int64)
    if arr.size:
        if arr.min() < -dim_len or arr.max() >= dim_len:
            bad = arr[(arr < -dim_len) | (arr >= dim_len)][0]
            raise BoundsError(f"index {bad} is out of bounds for axis {axis} with size {dim_len}")
        arr = np.where(arr < 0, arr + dim_len, arr)
    return ArrayDim(arr, dim_len, chunk_len)


def _expand(selection: Any, ndim: int) -> tuple[Any, ...]:
    if not isinstance(selection, tuple):
        selection = (selection,)
    n_ell = sum(1 for s in selection if s is Ellipsis)
    if n_ell > 1:
        raise SelectionError("an index can only have a single ellipsis ('...')")
    if any(s is None for s in selection):
        raise SelectionError("np.newaxis / None is not supported in selections")
    explicit = len(selection) - n_ell
    if explicit > ndim:
        raise SelectionError(f"too many indices: array is {ndim}-dimensional, but {explicit} were indexed")
    if n_ell:
        i = next(k for k, s in enumerate(selection) if s is Ellipsis)
        selection = selection[:i] + (slice(None),) * (ndim - explicit) + selection[i + 1 :]
    return selection + (slice(None),) * (ndim - len(selection))


def _is_array_like(x: Any) -> bool:
    return isinstance(x, (list, np.ndarray)) or (hasattr(x, "__array__") and not np.isscalar(x))


@dataclass(frozen=True)
class OrthogonalSelection:
    """A selection that is an outer product of per-axis indexers (basic or oindex)."""

    dims: tuple[DimIndexer, ...]
    flip_axes: tuple[int, ...] = ()  # output axes to reverse (negative steps)

    @property
    def shape(self) -> tuple[int, ...]:
        """Output shape (integer-indexed axes dropped)."""
        return tuple(d.nitems for d in self.dims if not d.drops_axis)

    @property
    def nchunks_touched(self) -> int:
        return math.prod(len(list(d.projections())) for d in self.dims)

    def projections(self) -> Iterator[tuple[DimProjection, ...]]:
        per_dim = [list(d.projections()) for d in self.dims]
        return itertools.product(*per_dim)

    @property
    def has_arrays(self) -> bool:
        return any(isinstance(d, ArrayDim) for d in self.dims)


def basic_selection(
    selection: Any, shape: tuple[int, ...], chunks: tuple[int, ...], *, allow_arrays: bool = False
) -> OrthogonalSelection:
    """Normalise ints, slices and ``...`` (and, with ``allow_arrays``, 1-D int/bool arrays per axis)."""
    sel = _expand(selection, len(shape))
    dims: list[DimIndexer] = []
    flips: list[int] = []
    out_axis = 0
    for axis, (s, n, c) in enumerate(zip(sel, shape, chunks, strict=True)):
        i = _as_index_int(s)
        if i is not None:
            dims.append(IntDim(_norm_int(i, n, axis), n, c))
            continue
        if isinstance(s, slice):
            d, flip = _norm_slice(s, n, c, axis)
            dims.append(d)
            if flip:
                flips.append(out_axis)
        elif allow_arrays and _is_array_like(s):
            dims.append(_norm_array(s, n, c, axis))
        elif _is_array_like(s):
            raise SelectionError(f"axis {axis}: arrays are not allowed in a basic selection; use .oindex or .vindex")
        else:
            raise SelectionError(f"axis {axis}: unsupported index {s!r} (expected int, slice, '...' or an index array)")
        out_axis += 1
    return OrthogonalSelection(tuple(dims), tuple(flips))


def block_selection(selection: Any, shape: tuple[int, ...], chunks: tuple[int, ...]) -> OrthogonalSelection:
    """``a.blocks[i, j]``: select whole chunks by chunk-grid index (ints and step-1 slices)."""
    sel = _expand(selection, len(shape))
    out = []
    for axis, (s, n, c) in enumerate(zip(sel, shape, chunks, strict=True)):
        nblocks = -(-n // c) if c else 0
        i = _as_index_int(s)
        if i is not None:
            b = _norm_int(i, nblocks, axis)
            out.append(slice(b * c, min((b + 1) * c, n)))
        elif isinstance(s, slice):
            if s.step not in (None, 1):
                raise SelectionError(f"block selection on axis {axis}: only step 1 is supported, got {s}")
            b0, b1, _ = s.indices(nblocks)
            out.append(slice(b0 * c, min(b1 * c, n)) if b1 > b0 else slice(0, 0))
        else:
            raise SelectionError(f"block selection on axis {axis}: expected an int or a slice, got {s!r}")
    return basic_selection(tuple(out), shape, chunks)


@dataclass(frozen=True)
class CoordinateSelection:
    """Point-wise selection (vindex, masks): output has the broadcast shape of the index arrays."""

    coords: tuple[np.ndarray, ...]  # flat, normalised, one per axis
    shape: tuple[int, ...]  # output shape
    chunks: tuple[int, ...]

    def groups(self) -> Iterator[tuple[tuple[int, ...], tuple[np.ndarray, ...], np.ndarray]]:
        """Yield ``(chunk_coords, in_chunk_coords, output_positions)`` per touched chunk."""
        if not self.coords:  # a 0-d array: the one element, at the one chunk
            yield (), (), np.zeros(1, dtype=np.int64)
            return
        n = self.coords[0].size
        if n == 0:
            return
        chunk_coords = [c // cl for c, cl in zip(self.coords, self.chunks, strict=True)]
        grid = [int(cc.max()) + 1 for cc in chunk_coords]
        flat = np.ravel_multi_index(chunk_coords, grid) if chunk_coords else np.zeros(n, dtype=np.int64)
        order = np.argsort(flat, kind="stable")
        bounds = np.flatnonzero(np.diff(flat[order])) + 1
        for grp in np.split(order, bounds):
            cc = tuple(int(x[grp[0]]) for x in chunk_coords)
            local = tuple(c[grp] - k * cl for c, k, cl in zip(self.coords, cc, self.chunks, strict=True))
            yield cc, local, grp


def coordinate_selection(selection: Any, shape: tuple[int, ...], chunks: tuple[int, ...]) -> CoordinateSelection:
    """Normalise a vindex selection: one integer array per axis, or a full-shape boolean mask."""
    if not isinstance(selection, tuple):
        selection = (selection,)
    if len(selection) == 1:
        m = np.asarray(selection[0]) if _is_array_like(selection[0]) else None
        if m is not None and m.dtype == bool:
            if m.shape != shape:
                raise SelectionError(f"boolean mask has shape {m.shape}, expected the array shape {shape}")
            return CoordinateSelection(tuple(np.nonzero(m)), (int(m.sum()),), chunks)
    if len(selection) != len(shape):
        raise SelectionError(f"vindex needs one index array per dimension ({len(shape)}), got {len(selection)}")
    arrays = []
    for axis, s in enumerate(selection):
        i = _as_index_int(s)
        if i is not None:
            arrays.append(np.asarray(i))
            continue
        if isinstance(s, slice):
            arrays.append(np.arange(*s.indices(shape[axis])))
            continue
        if not _is_array_like(s):
            raise SelectionError(f"vindex axis {axis}: expected an integer array, got {s!r}")
        a = np.asarray(s)
        if a.size == 0:
            a = a.astype(np.int64)
        if a.dtype.kind not in "iu":
            raise SelectionError(f"vindex axis {axis}: index array must be integer, got dtype {a.dtype}")
        arrays.append(a)
    try:
        b = np.broadcast_arrays(*arrays)
    except ValueError:
        raise SelectionError(f"vindex index arrays do not broadcast: shapes {[a.shape for a in arrays]}") from None
    out_shape = b[0].shape if b else ()
    coords = []
    for axis, a in enumerate(b):
        flat = a.reshape(-1).astype(np.int64)
        n = shape[axis]
        if flat.size and (flat.min() < -n or flat.max() >= n):
            bad = flat[(flat < -n) | (flat >= n)][0]
            raise BoundsError(f"index {bad} is out of bounds for axis {axis} with size {n}")
        coords.append(np.where(flat < 0, flat + n, flat))
    return CoordinateSelection(tuple(coords), tuple(out_shape), chunks)


def ix(sel: tuple[Any, ...], lengths: tuple[int, ...]) -> tuple[Any, ...]:
    """Make an outer-product selection work with NumPy indexing.

    NumPy broadcasts several advanced indices together (and moves their axes when
    an integer splits them); orthogonal semantics want an outer product. With
    more than one array, or arrays mixed with integers, every non-integer entry
    becomes an open-mesh index array (as ``np.ix_`` does); integers stay scalars.
    """
    n_arr = sum(isinstance(s, np.ndarray) for s in sel)
    if n_arr == 0 or (n_arr == 1 and not any(isinstance(s, (int, np.integer)) for s in sel)):
        return sel
    keep = [k for k, s in enumerate(sel) if not isinstance(s, (int, np.integer))]
    out: list[Any] = list(sel)
    for pos, k in enumerate(keep):
        s = sel[k]
        a = np.arange(*s.indices(lengths[k])) if isinstance(s, slice) else s
        shape = [1] * len(keep)
        shape[pos] = -1
        out[k] = a.reshape(shape)
    return tuple(out)


def rechunk(sel: OrthogonalSelection | CoordinateSelection, chunks: tuple[int, ...]) -> OrthogonalSelection | CoordinateSelection:
    """The same selection planned on another chunk grid (e.g. the inner chunks of shards)."""
    from dataclasses import replace

    if isinstance(sel, CoordinateSelection):
        return replace(sel, chunks=tuple(chunks))
    return replace(sel, dims=tuple(replace(d, chunk_len=c) for d, c in zip(sel.dims, chunks, strict=True)))
