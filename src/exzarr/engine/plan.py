"""Plans: a selection turned into named chunk tasks (no I/O)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..indexing import CoordinateSelection, OrthogonalSelection, ix


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """One chunk's share of an operation.

    ``chunk_selection`` indexes the decoded chunk, ``out_selection`` the output (or the
    value being written); both are ready for NumPy indexing as they are.
    ``is_complete`` means the selection covers every in-bounds element of the chunk,
    so a write need not read the old chunk first.
    """

    chunk_coords: tuple[int, ...]
    chunk_selection: tuple[Any, ...]
    out_selection: tuple[Any, ...]
    is_complete: bool


def plan_orthogonal(sel: OrthogonalSelection, chunk_shape: tuple[int, ...]) -> Iterator[ChunkTask]:
    """Cartesian product of the per-axis projections; index arrays become open meshes."""
    out_shape = sel.shape
    outer = sel.has_arrays
    for projs in sel.projections():
        csel = tuple(p.chunk_sel for p in projs)
        osel = tuple(p.out_sel for p in projs if p.out_sel is not None)
        if outer:
            csel, osel = ix(csel, chunk_shape), ix(osel, out_shape)
        yield ChunkTask(tuple(p.chunk for p in projs), csel, osel, all(p.complete for p in projs))


def plan_coordinate(sel: CoordinateSelection) -> Iterator[ChunkTask]:
    """One task per touched chunk; selections are point lists (output is flat)."""
    for cc, local, positions in sel.groups():
        yield ChunkTask(cc, local, (positions,), False)
