"""Property tests: exzarr indexing, writes and resize behave exactly like NumPy."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exzarr
from exzarr.testing.strategies import basic_index, numpy_ix, orthogonal_index, shapes_and_chunks

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
layouts = st.sampled_from([(3, "C"), (2, "C"), (2, "F"), (3, "F")])


def make(shape, chunks, layout, fill=-1):
    fmt, order = layout
    a = exzarr.create(
        exzarr.MemoryStore(), shape=shape, chunks=chunks, dtype="int32", fill_value=fill, zarr_format=fmt, order=order
    )
    ref = np.full(shape, fill, dtype="int32")
    return a, ref


def populate(a, ref, data):
    x = np.arange(ref.size, dtype="int32").reshape(ref.shape)
    if data.draw(st.booleans()):
        a[...] = x
        ref[...] = x
    return x


@SETTINGS
@given(sc=shapes_and_chunks(), layout=layouts, data=st.data())
def test_basic_get(sc, layout, data):
    shape, chunks = sc
    a, ref = make(shape, chunks, layout)
    populate(a, ref, data)
    sel = data.draw(basic_index(shape))
    got = a[sel]
    exp = ref[sel]
    assert np.shape(got) == np.shape(exp)
    assert np.array_equal(got, exp)


@SETTINGS
@given(sc=shapes_and_chunks(), layout=layouts, data=st.data())
def test_basic_set(sc, layout, data):
    shape, chunks = sc
    a, ref = make(shape, chunks, layout)
    populate(a, ref, data)
    sel = data.draw(basic_index(shape))
    target = ref[sel]
    if data.draw(st.booleans()):
        value = 7
    else:
        value = np.arange(np.size(target), dtype="int32").reshape(np.shape(target)) + 1000
    a[sel] = value
    ref[sel] = value
    assert np.array_equal(a[...], ref)


@SETTINGS
@given(sc=shapes_and_chunks(), layout=layouts, data=st.data())
def test_orthogonal_get_set(sc, layout, data):
    shape, chunks = sc
    a, ref = make(shape, chunks, layout)
    populate(a, ref, data)
    sel = data.draw(orthogonal_index(shape))
    npsel = numpy_ix(sel, shape)
    assert np.array_equal(a.oindex[sel], ref[npsel])
    # writes: duplicates in an index array make NumPy's last-write-wins order unspecified, so dedupe
    wsel = tuple(np.unique(s) if isinstance(s, np.ndarray) and s.dtype != bool else s for s in sel)
    wnp = numpy_ix(wsel, shape)
    val = np.arange(np.size(ref[wnp]), dtype="int32").reshape(np.shape(ref[wnp])) + 500
    a.oindex[wsel] = val
    ref[wnp] = val
    assert np.array_equal(a[...], ref)


@SETTINGS
@given(sc=shapes_and_chunks(), layout=layouts, data=st.data())
def test_vindex_get_set(sc, layout, data):
    shape, chunks = sc
    if 0 in shape:
        return
    a, ref = make(shape, chunks, layout)
    populate(a, ref, data)
    n = data.draw(st.integers(0, 8))
    coords = tuple(np.array(data.draw(st.lists(st.integers(-s, s - 1), min_size=n, max_size=n)), dtype=np.int64) for s in shape)
    assert np.array_equal(a.vindex[coords], ref[coords])
    # unique points for writes (duplicate points have no defined winner)
    flat = np.unique(np.ravel_multi_index(tuple(c % s for c, s in zip(coords, shape, strict=True)), shape))
    pts = np.unravel_index(flat, shape)
    a.vindex[pts] = flat.astype("int32") + 3
    ref[pts] = flat.astype("int32") + 3
    assert np.array_equal(a[...], ref)


@SETTINGS
@given(sc=shapes_and_chunks(), layout=layouts, data=st.data())
def test_mask_get_set(sc, layout, data):
    shape, chunks = sc
    a, ref = make(shape, chunks, layout)
    populate(a, ref, data)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=ref.size, max_size=ref.size)), dtype=bool).reshape(shape)
    assert np.array_equal(a.vindex[mask], ref[mask])
    if len(shape) > 1:
        assert np.array_equal(a[mask], ref[mask])
    a.vindex[mask] = 99
    ref[mask] = 99
    assert np.array_equal(a[...], ref)


@SETTINGS
@given(sc=shapes_and_chunks(), layout=layouts, data=st.data())
def test_blocks(sc, layout, data):
    shape, chunks = sc
    a, ref = make(shape, chunks, layout)
    populate(a, ref, data)
    grid = a.nchunks_per_dim
    idx = tuple(data.draw(st.integers(0, g - 1)) if g else slice(None) for g in grid)
    np_sel = tuple(slice(i * c, (i + 1) * c) if isinstance(i, int) else slice(None) for i, c in zip(idx, chunks, strict=True))
    assert np.array_equal(a.blocks[idx], ref[np_sel])


@SETTINGS
@given(sc=shapes_and_chunks(max_ndim=2), layout=layouts, data=st.data())
def test_resize_sequence(sc, layout, data):
    shape, chunks = sc
    a, ref = make(shape, chunks, layout)
    populate(a, ref, data)
    for _ in range(data.draw(st.integers(1, 3))):
        new = tuple(data.draw(st.integers(0, 14)) for _ in shape)
        a.resize(new)
        grown = np.full(new, -1, dtype="int32")
        overlap = tuple(slice(0, min(o, n)) for o, n in zip(ref.shape, new, strict=True))
        grown[overlap] = ref[overlap]
        ref = grown
        assert a.shape == new
        assert np.array_equal(a[...], ref)
    # stored chunks never lie outside the grid, and reopening sees the same data
    assert all(all(i < g for i, g in zip(cc, a.nchunks_per_dim, strict=True)) for cc in a.stored_chunks())
    assert np.array_equal(exzarr.open(a.store, mode="r")[...], ref)


@SETTINGS
@given(sc=shapes_and_chunks(max_ndim=2), data=st.data())
def test_get_slice_matches_numpy(sc, data):
    shape, chunks = sc
    a, ref = make(shape, chunks, (3, "C"))
    populate(a, ref, data)
    start = tuple(data.draw(st.integers(0, s)) for s in shape)
    stop = tuple(data.draw(st.integers(b, s)) for b, s in zip(start, shape, strict=True))
    exp = ref[tuple(slice(b, e) for b, e in zip(start, stop, strict=True))]
    assert np.array_equal(a.get_slice(start=start, stop=stop), exp)
    neg_start = tuple(b - s if b < s else b for b, s in zip(start, shape, strict=True))
    assert np.array_equal(a.get_slice(start=neg_start, stop=stop), exp)
    a.set_slice(exp + 1, start=start, stop=stop)
    ref[tuple(slice(b, e) for b, e in zip(start, stop, strict=True))] += 1
    assert np.array_equal(a[...], ref)


@st.composite
def sharded_layout(draw):
    """A shape, inner chunks and shards that are whole multiples of them."""
    ndim = draw(st.integers(1, 3))
    chunks = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    shards = tuple(c * draw(st.integers(1, 3)) for c in chunks)
    shape = tuple(draw(st.integers(0, 13)) for _ in range(ndim))
    return shape, chunks, shards


@SETTINGS
@given(layout=sharded_layout(), data=st.data())
def test_sharded_get_set_resize(layout, data):
    shape, chunks, shards = layout
    a = exzarr.create(exzarr.MemoryStore(), shape=shape, chunks=chunks, shards=shards, dtype="int32", fill_value=-1)
    ref = np.full(shape, -1, dtype="int32")
    if data.draw(st.booleans()):
        a[...] = ref = np.arange(ref.size, dtype="int32").reshape(shape)
    for _ in range(data.draw(st.integers(1, 3))):
        sel = data.draw(basic_index(shape))
        target = ref[sel]
        value = np.arange(np.size(target), dtype="int32").reshape(np.shape(target)) + 1000
        a[sel] = value  # partial shard writes re-encode only touched inner chunks
        ref[sel] = value
        assert np.array_equal(a[...], ref)
        rsel = data.draw(basic_index(shape))
        assert np.array_equal(a[rsel], ref[rsel])
        osel = data.draw(orthogonal_index(shape))
        assert np.array_equal(a.oindex[osel], ref[numpy_ix(osel, shape)])
    new = tuple(data.draw(st.integers(0, 13)) for _ in shape)
    a.resize(new)
    grown = np.full(new, -1, dtype="int32")
    overlap = tuple(slice(0, min(o, n)) for o, n in zip(shape, new, strict=True))
    grown[overlap] = ref[overlap]
    assert np.array_equal(a[...], grown)
    assert np.array_equal(exzarr.open(a.store)[...], grown)
