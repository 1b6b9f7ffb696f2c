"""Plans: a selection turned into named chunk tasks (no I/O)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..indexing import CoordinateSelection, OrthogonalSelection


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """One chunk's share of an operation.

    ``chunk_selection`` indexes the decoded chunk, ``out_selection`` the output (or the
    value being written); ``is_complete`` means the selection covers every in-bounds
    element of the chunk, so a write need not read the old chunk first.
    """

    chunk_coords: tuple[int, ...]
    chunk_selection: tuple[Any, ...]
    out_selection: tuple[Any, ...]
    is_complete: bool


def plan_orthogonal(sel: OrthogonalSelection) -> Iterator[ChunkTask]:
    for projs in sel.projections():
        yield ChunkTask(
            tuple(p.chunk for p in projs),
            tuple(p.chunk_sel for p in projs),
            tuple(p.out_sel for p in projs if p.out_sel is not None),
            all(p.complete for p in projs),
        )


def plan_coordinate(sel: CoordinateSelection) -> Iterator[ChunkTask]:
    for cc, local, positions in sel.groups():
        yield ChunkTask(cc, local, (positions,), False)
