"""Hypothesis strategies for shapes, chunks and selections (shared by exzarr's own tests)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


@st.composite
def shapes_and_chunks(
    draw: st.DrawFn, max_ndim: int = 3, max_side: int = 12, min_ndim: int = 1
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """An array shape (dimensions may be 0; ``min_ndim=0`` allows 0-d) and a chunk shape (every chunk side >= 1)."""
    ndim = draw(st.integers(min_ndim, max_ndim))
    shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=ndim, max_size=ndim)))
    chunks = tuple(draw(st.integers(1, max(1, s + 1))) for s in shape)
    return shape, chunks


@st.composite
def basic_index(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple:
    """A NumPy basic index: ints, slices with any step (negative too), maybe an Ellipsis."""
    items: list = []
    for n in shape:
        kind = draw(st.sampled_from(["slice", "slice", "int", "full"]) if n else st.sampled_from(["slice", "full"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "full":
            items.append(slice(None))
        else:
            start = draw(st.none() | st.integers(-n - 2, n + 2))
            stop = draw(st.none() | st.integers(-n - 2, n + 2))
            step = draw(st.none() | st.integers(-4, 4).filter(lambda s: s != 0))
            items.append(slice(start, stop, step))
    if items and draw(st.booleans()):
        k = draw(st.integers(0, len(items)))
        cut = draw(st.integers(k, len(items)))
        if all(i == slice(None) for i in items[k:cut]):
            items = [*items[:k], Ellipsis, *items[cut:]]
    return tuple(items)


@st.composite
def orthogonal_index(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple:
    """Per-axis ints, slices, integer arrays (unsorted, duplicates, negative) or boolean masks."""
    items: list = []
    for n in shape:
        kinds = ["slice", "intarr", "bool"] + (["int"] if n else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            step = draw(st.integers(1, 3))
            items.append(slice(draw(st.none() | st.integers(0, n)), draw(st.none() | st.integers(0, n)), step))
        elif kind == "intarr":
            vals = draw(st.lists(st.integers(-n, n - 1), max_size=6)) if n else []
            items.append(np.array(vals, dtype=np.int64))
        else:
            items.append(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool))
    return tuple(items)


def numpy_ix(sel: tuple, shape: tuple[int, ...]) -> tuple:
    """The NumPy index with outer-product semantics for an orthogonal selection."""
    out = []
    arrays = []
    for s, n in zip(sel, shape, strict=True):
        if isinstance(s, (int, np.integer)):
            out.append(int(s))
            continue
        if isinstance(s, slice):
            a = np.arange(n)[s]
        elif s.dtype == bool:
            a = np.flatnonzero(s)
        else:
            a = s
        arrays.append(len(out))
        out.append(a)
    k = len(arrays)
    for pos, i in enumerate(arrays):
        shp = [1] * k
        shp[pos] = -1
        out[i] = np.asarray(out[i]).reshape(shp)
    return tuple(out)
