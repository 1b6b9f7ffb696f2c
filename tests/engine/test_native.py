"""The C chunk loop of local reads (exzarr.engine.native) against its plain twin and NumPy.

The fast path must exist where the suite runs (else every comparison below would compare the
Python path with itself), must give exactly what the plain twin (``fast=False``: whole decode,
then copy) and NumPy give, and must leave every chunk it does not decode, hostile files above
all, to the ordinary path, so that errors are the same errors as without it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
import tempfile

import numcodecs
import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from isolate import run_isolated

import exzarr
from exzarr.engine import native
from exzarr.engine.core import ChunkEngine, EngineSpec
from exzarr.indexing import basic_selection
from exzarr.testing.strategies import basic_index, shapes_and_chunks

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
COMPRESSORS = [None, "zstd", ("zstd", {"level": 3, "checksum": True})]
DTYPES = ["f8", "<i2", "u1", ">i4", "c8", "M8[s]", "S3"]


def test_the_c_loop_is_built_with_zstd():
    assert native.available("raw") and native.available("zstd"), "exzarr._native was not built (or libzstd not found)"


class Spy:
    """Counts the calls of one C path of exzarr.engine.native (``read_local`` by default,
    ``read_sharded``, ``write_local``) and the chunks or tasks it left to the ordinary path."""

    def __init__(self, monkeypatch, name: str = "read_local"):
        self.calls = 0
        self.left = 0
        real = getattr(native, name)

        def spy(*args, **kw):
            self.calls += 1
            left = real(*args, **kw)
            self.left += len(left) if isinstance(left, list) else 0
            return left

        monkeypatch.setattr(native, name, spy)


def same(x, y) -> bool:
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind in "Mm" and y.dtype.kind in "Mm":  # NaT (the default fill) is never equal to itself
        return x.shape == y.shape and np.array_equal(x.view("i8"), y.view("i8"))
    return np.array_equal(x, y)


def plain(a):
    return ChunkEngine(EngineSpec.from_metadata(a.store, a.path, a.metadata, fast=False))


def make(root, shape, chunks, dtype, compressor, fmt):
    fill = {"S": b"ab", "M": None}.get(np.dtype(dtype).kind, 7)
    kw = {"shape": shape, "chunks": chunks, "dtype": dtype, "fill_value": fill}
    if fmt == 2:
        return exzarr.create(f"{root}/a.zarr", zarr_format=2, compressor=compressor, **kw)
    kw["dtype"] = np.dtype(dtype).newbyteorder("=").str
    return exzarr.create(f"{root}/a.zarr", compressor=compressor, **kw)


def values(shape, dtype, seed):
    v = np.random.default_rng(seed).integers(0, 120, size=shape)
    return v.astype("S3") if np.dtype(dtype).kind == "S" else v.astype(dtype)


@SETTINGS
@given(
    sc=shapes_and_chunks(max_ndim=3, max_side=11),
    dtype=st.sampled_from(DTYPES),
    compressor=st.sampled_from(COMPRESSORS),
    fmt=st.sampled_from([2, 3]),
    data=st.data(),
)
def test_c_reads_equal_the_plain_twin_and_numpy(monkeypatch, sc, dtype, compressor, fmt, data):
    shape, chunks = sc
    spy = Spy(monkeypatch)
    with tempfile.TemporaryDirectory() as root:
        a = make(root, shape, chunks, dtype, compressor, fmt)
        ref = np.full(shape, a.fill_value, dtype=a.dtype)
        for k in range(data.draw(st.integers(0, 3))):  # some chunks written, others missing (fill)
            sel = data.draw(basic_index(shape))
            v = values(np.shape(ref[sel]), a.dtype, k)
            ref[sel] = v
            a[sel] = v
        a = exzarr.open_array(f"{root}/a.zarr")
        twin = plain(a)
        for _ in range(3):
            sel = data.draw(basic_index(shape))
            got = a[sel]
            assert same(got, ref[sel])
            if isinstance(got, np.ndarray):  # (a NumPy scalar's dtype is native and as long as its value)
                assert got.dtype == ref.dtype
            assert same(twin.read(basic_selection(sel, shape, a.metadata.chunks)), ref[sel])
            assert same(a.get_basic_selection(sel, max_concurrency=1), ref[sel])
        assert same(a[...], ref)
        assert spy.left == 0
        if ref.size:
            assert spy.calls > 0  # the C loop read them (steps other than 1 go the other way)


@settings(max_examples=300, deadline=None)
@given(sc=shapes_and_chunks(max_ndim=4, max_side=13), data=st.data())
def test_the_blocks_of_a_selection_are_the_projections_of_its_axes(sc, data):
    """native._blocks computes every chunk's span at once; the indexer's projections list them
    one by one: the same chunks, in C order of the grid, with the same spans."""
    import itertools

    from exzarr.indexing import IntDim, SliceDim

    shape, chunks = sc
    sel = basic_selection(data.draw(basic_index(shape)), shape, chunks)
    if not all(isinstance(d, IntDim) or (isinstance(d, SliceDim) and d.step == 1) for d in sel.dims):
        return
    per_axis = []
    for d in sel.dims:
        if isinstance(d, IntDim):
            per_axis.append([(p.chunk, (p.chunk_sel, p.chunk_sel + 1, 0)) for p in d.projections()])
        else:
            per_axis.append([(p.chunk, (p.chunk_sel.start, p.chunk_sel.stop, p.out_sel.start)) for p in d.projections()])
    expected = list(itertools.product(*per_axis))
    coords, spans, out_shape = native._blocks(sel)
    assert out_shape == tuple(1 if isinstance(d, IntDim) else d.nitems for d in sel.dims)
    assert coords.shape == (len(expected), len(shape)) and spans.shape == (len(expected), len(shape), 3)
    assert coords.tolist() == [[c for c, _ in combo] for combo in expected]
    assert spans.tolist() == [[list(sp) for _, sp in combo] for combo in expected]


def test_reads_of_every_chunk_shape_go_through_the_c_loop_and_agree(monkeypatch, tmp_path):
    spy = Spy(monkeypatch)
    x = np.arange(37 * 29 * 5, dtype="f8").reshape(37, 29, 5)
    for compressor in (None, "zstd"):
        for chunks in [(8, 8, 5), (8, 4, 2), (37, 29, 5), (1, 1, 1), (40, 30, 6)]:
            root = tmp_path / f"{compressor}-{'x'.join(map(str, chunks))}"
            a = exzarr.create(str(root), shape=x.shape, chunks=chunks, dtype="f8", compressor=compressor)
            a[...] = x
            twin = plain(a)
            for sel in [(...,), (slice(3, 30), slice(1, 28), slice(1, 4)), (5, slice(None), 2), (slice(9, 10), 3), (36, 28, 4)]:
                assert np.array_equal(a[sel], x[sel]), (chunks, sel)
                assert np.array_equal(twin.read(basic_selection(sel, x.shape, chunks)), x[sel])
    assert spy.calls == 50 and spy.left == 0


def test_a_fresh_interpreter_reads_what_the_c_loop_reads(tmp_path):
    x = np.random.default_rng(3).normal(size=(300, 200)).round(2)
    a = exzarr.create(str(tmp_path / "a.zarr"), shape=x.shape, chunks=(64, 48), dtype="f8", compressor="zstd")
    a[:250] = x[:250]
    expected = x.copy()
    expected[250:] = 0
    out = run_isolated(
        """
        import hashlib, sys, exzarr
        from exzarr.engine import native
        a = exzarr.open_array(sys.argv[1])
        digest = lambda x: hashlib.sha256(x.tobytes()).hexdigest()
        _report(digests=[digest(a[...]), digest(a[10:290, 7:190])], native=native.available("zstd"))
        """,
        args=(str(tmp_path / "a.zarr"),),
    )
    digests = [
        hashlib.sha256(expected.tobytes()).hexdigest(),
        hashlib.sha256(expected[10:290, 7:190].copy().tobytes()).hexdigest(),
    ]
    assert out.result == {"digests": digests, "native": True}, out.stderr


# ----------------------------------------------------------------------------- hostile files


def _frame(raw: bytes, **kw) -> bytes:
    return zstandard.ZstdCompressor(level=1, **kw).compress(raw)


CHUNK = np.arange(16, dtype="<f8").reshape(4, 4)
RAW = CHUNK.tobytes()
HOSTILE = {
    "truncated frame": lambda: _frame(RAW)[:-5],
    "bytes after the frame": lambda: _frame(RAW) + b"\0\0\0\0",
    "two frames, then bytes": lambda: _frame(RAW[:64]) + _frame(RAW[64:]) + b"\0",
    "two frames, too long": lambda: _frame(RAW[:64]) + _frame(RAW[64:] + b"12345678"),
    "content size too small": lambda: _frame(RAW[:120]),
    "content size too large": lambda: _frame(RAW + RAW[:8]),
    "no content size, too long": lambda: _frame(RAW + RAW[:8], write_content_size=False),
    "no content size, too short": lambda: _frame(RAW[:120], write_content_size=False),
    "skippable frame": lambda: (0x184D2A50).to_bytes(4, "little") + (128).to_bytes(4, "little") + RAW,
    "not zstd": lambda: b"\x00" * 50,
    "empty file": lambda: b"",
    "reserved block type": lambda: (lambda f: f[:6] + bytes([f[6] | 0x06]) + f[7:])(_frame(RAW)),
    "bad checksum": lambda: _frame(RAW, write_checksum=True)[:-1] + b"\x00",
}


def _outcome(fn):
    try:
        return ("ok", fn().tolist())
    except Exception as exc:  # the error class and message are the contract
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_zstd_chunks_fail_as_on_the_plain_path(tmp_path, monkeypatch, case):
    spy = Spy(monkeypatch)
    a = exzarr.create(str(tmp_path / "a.zarr"), shape=(8, 8), chunks=(4, 4), dtype="<f8", compressor="zstd")
    a[...] = np.arange(64).reshape(8, 8)
    (tmp_path / "a.zarr" / "c" / "1" / "0").write_bytes(HOSTILE[case]())
    twin = plain(a)
    fast = _outcome(lambda: a[...])
    slow = _outcome(lambda: twin.read(basic_selection(..., (8, 8), (4, 4))))
    assert fast == slow
    assert fast[0] != "ok" and "c/1/0" in fast[1]
    assert spy.left == 1  # the other three chunks were decoded in C; the hostile one was left to Python
    assert np.array_equal(a[:4], np.arange(32).reshape(4, 8))  # the neighbours read fine


SKIP = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"xyz"
MULTI = {
    "two frames": lambda: _frame(RAW[:64]) + _frame(RAW[64:]),
    "two frames without sizes": lambda: _frame(RAW[:40], write_content_size=False) + _frame(RAW[40:], write_content_size=False),
    "frame, skippable frame": lambda: _frame(RAW) + SKIP,
    "skippable frame, frame": lambda: SKIP + _frame(RAW),
}


@pytest.mark.parametrize("case", sorted(MULTI))
def test_chunks_of_several_frames_are_read_as_zarr_python_reads_them(tmp_path, monkeypatch, case):
    """A chunk may hold several whole frames (zstd and skippable ones), as libzstd decodes them
    and so numcodecs and zarr-python: the C loop leaves it to the Python path, which reads it."""
    import zarr

    blob = MULTI[case]()
    assert bytes(numcodecs.Zstd().decode(blob)) == RAW
    spy = Spy(monkeypatch)
    a = exzarr.create(str(tmp_path / "a.zarr"), shape=(8, 8), chunks=(4, 4), dtype="<f8", compressor="zstd")
    a[...] = np.arange(64).reshape(8, 8)
    (tmp_path / "a.zarr" / "c" / "1" / "0").write_bytes(blob)
    exp = np.arange(64.0).reshape(8, 8)
    exp[4:, :4] = CHUNK
    assert np.array_equal(a[...], exp) and spy.left == 1
    assert np.array_equal(plain(a).read(basic_selection(..., (8, 8), (4, 4))), exp)
    assert np.array_equal(zarr.open_array(str(tmp_path / "a.zarr"), mode="r")[...], exp)


def test_a_fresh_interpreter_reads_chunks_of_several_frames(tmp_path):
    """Every multi-frame layout in one array, read back by a new process (its own libzstd binding
    and C walk of the frames): the values zarr-python reads."""
    import zarr

    exzarr.create(str(tmp_path / "a.zarr"), shape=(4 * len(MULTI), 4), chunks=(4, 4), dtype="<f8", compressor="zstd")
    for k, case in enumerate(sorted(MULTI)):
        (tmp_path / "a.zarr" / "c" / str(k) / "0").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "a.zarr" / "c" / str(k) / "0").write_bytes(MULTI[case]())
    exp = np.tile(CHUNK, (len(MULTI), 1))
    assert np.array_equal(zarr.open_array(str(tmp_path / "a.zarr"), mode="r")[...], exp)
    out = run_isolated(
        """
        import hashlib, sys, exzarr
        _report(digest=hashlib.sha256(exzarr.open_array(sys.argv[1])[...].tobytes()).hexdigest())
        """,
        args=(str(tmp_path / "a.zarr"),),
    )
    assert out.result == {"digest": hashlib.sha256(exp.tobytes()).hexdigest()}, out.stderr


def test_a_frame_without_content_size_is_read_by_both_paths(tmp_path, monkeypatch):
    spy = Spy(monkeypatch)
    a = exzarr.create(str(tmp_path / "a.zarr"), shape=(8, 8), chunks=(4, 4), dtype="<f8", compressor="zstd")
    a[...] = 1
    a[...] = 0  # zero chunks are not stored: the directory stays
    (tmp_path / "a.zarr" / "c" / "1").mkdir(parents=True, exist_ok=True)
    (tmp_path / "a.zarr" / "c" / "1" / "0").write_bytes(_frame(RAW, write_content_size=False))
    exp = np.zeros((8, 8))
    exp[4:, :4] = CHUNK
    assert np.array_equal(a[...], exp) and np.array_equal(plain(a).read(basic_selection(..., (8, 8), (4, 4))), exp)
    assert spy.calls > 0 and spy.left == 1  # a stream is decoded on the Python path, within its window


@pytest.mark.parametrize("case", ["short", "long", "empty"])
def test_raw_chunks_of_the_wrong_size_fail_as_on_the_plain_path(tmp_path, monkeypatch, case):
    spy = Spy(monkeypatch)
    a = exzarr.create(str(tmp_path / "a.zarr"), shape=(8, 8), chunks=(4, 4), dtype="<f8", compressor=None)
    a[...] = 1
    data = {"short": RAW[:-1], "long": RAW + b"x", "empty": b""}[case]
    (tmp_path / "a.zarr" / "c" / "0" / "1").write_bytes(data)
    fast, slow = _outcome(lambda: a[...]), _outcome(lambda: plain(a).read(basic_selection(..., (8, 8), (4, 4))))
    assert fast == slow and fast[0] != "ok" and "c/0/1" in fast[1]
    assert spy.left == 1


def test_files_that_are_not_chunks(tmp_path, monkeypatch):
    spy = Spy(monkeypatch)
    a = exzarr.create(str(tmp_path / "a.zarr"), shape=(8, 8), chunks=(4, 4), dtype="<f8", compressor="zstd", fill_value=5)
    a[...] = 1
    c = tmp_path / "a.zarr" / "c"
    (c / "0" / "1").unlink()
    (c / "0" / "1").mkdir()  # a directory where a chunk would be: a prefix, so the chunk is missing
    (c / "1" / "0").unlink()
    os.mkfifo(c / "1" / "0")  # a FIFO: refused (and never waited on)
    fast, slow = _outcome(lambda: a[...]), _outcome(lambda: plain(a).read(basic_selection(..., (8, 8), (4, 4))))
    assert fast == slow and fast[0] == "StoreError" and "c/1/0" in fast[1] and "not a regular file" in fast[1]
    exp = np.ones((4, 8))
    exp[:, 4:] = 5
    assert np.array_equal(a[:4], exp)
    (c / "1" / "0").unlink()
    (c / "1" / "0").symlink_to(c / "0" / "0")  # reads follow symlinks, as on the Python path
    assert np.array_equal(a[4:, :4], np.ones((4, 4)))
    assert spy.left >= 1


def test_a_chunk_larger_than_a_chunk_can_be_is_refused_before_it_is_read(tmp_path, monkeypatch):
    spy = Spy(monkeypatch)
    a = exzarr.create(str(tmp_path / "a.zarr"), shape=(8, 8), chunks=(4, 4), dtype="<f8", compressor="zstd")
    a[...] = 1
    limit = a.metadata and plain(a).layout.pipeline.stored_limit
    (tmp_path / "a.zarr" / "c" / "1" / "1").write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * limit)
    fast, slow = _outcome(lambda: a[...]), _outcome(lambda: plain(a).read(basic_selection(..., (8, 8), (4, 4))))
    assert fast == slow and fast[0] != "ok" and "c/1/1" in fast[1]
    assert spy.left == 1


def test_bad_arguments_to_the_c_loop_are_refused():
    from exzarr import _native

    out = np.zeros((4, 4))
    buf = out.reshape(-1).view(np.uint8)
    spans = np.array([[[0, 4, 0], [0, 4, 0]]], dtype=np.int64)
    one = (b"/nonexistent/", b"/", np.zeros((1, 2), np.int64))
    with pytest.raises(ValueError, match="outside its chunk or the output"):
        _native.read_grid(one, np.array([[[0, 5, 0], [0, 4, 0]]], dtype=np.int64), buf, (4, 4), (4, 4), 8, 0, 10**6, 0)
    with pytest.raises(ValueError, match="outside its chunk or the output"):
        _native.read_grid(one, np.array([[[0, 4, 1], [0, 4, 0]]], dtype=np.int64), buf, (4, 4), (4, 4), 8, 0, 10**6, 0)
    with pytest.raises(ValueError, match="spans"):
        _native.read_grid((b"/a", b"/", np.zeros((2, 2), np.int64)), spans, buf, (4, 4), (4, 4), 8, 0, 10**6, 0)
    with pytest.raises(ValueError, match="out"):
        _native.read_grid(one, spans, buf[:-1], (4, 4), (4, 4), 8, 0, 10**6, 0)
    with pytest.raises(TypeError, match="bytes"):
        _native.read_grid(("/a", b"/", np.zeros((1, 2), np.int64)), spans, buf, (4, 4), (4, 4), 8, 0, 10**6, 0)
    with pytest.raises(TypeError, match="grid"):
        _native.read_grid([b"/a"], spans, buf, (4, 4), (4, 4), 8, 0, 10**6, 0)
    with pytest.raises(ValueError, match="separator"):
        _native.read_grid((b"/a/", b"\\", np.zeros((1, 2), np.int64)), spans, buf, (4, 4), (4, 4), 8, 0, 10**6, 0)
    with pytest.raises(ValueError, match="negative index"):
        _native.read_grid((b"/a/", b"/", np.array([[0, -1]], np.int64)), spans, buf, (4, 4), (4, 4), 8, 0, 10**6, 0)
    with pytest.raises(ValueError, match="2 int64 indices per chunk"):
        _native.read_grid((b"/a/", b"/", np.zeros(3, np.int64)), spans, buf, (4, 4), (4, 4), 8, 0, 10**6, 0)
    # a name longer than a path can be is left to the ordinary path (which reports it), not refused here
    assert bytes(_native.read_grid((b"/a" * 5000, b"/", np.zeros((1, 2), np.int64)), spans, buf, (4, 4), (4, 4), 8, 0,
                                   10**6, 0)) == b"\x02"  # fmt: skip
    with pytest.raises(ValueError, match="codec"):
        _native.read_grid(one, spans, buf, (4, 4), (4, 4), 8, 9, 10**6, 0)
    with pytest.raises(BufferError):
        _native.read_grid(one, spans, bytes(128), (4, 4), (4, 4), 8, 0, 10**6, 0)
    assert bytes(_native.read_grid(one, spans, buf, (4, 4), (4, 4), 8, 0, 10**6, os.O_RDONLY)) == b"\x01"


def test_the_c_loop_spells_chunk_files_as_the_key_encodings_do(tmp_path, monkeypatch):
    """Every key encoding and separator, arrays at the root and deep in groups, indices of
    several digits: the C loop names the same files as the store (a wrong name would read
    fill silently, so every chunk holds a value distinct from the fill)."""
    spy = Spy(monkeypatch)
    x = np.arange(1, 1 + 23 * 1201, dtype="i4").reshape(23, 1201)
    cases = [(3, kind, sep, path) for kind in ("default", "v2") for sep in ("/", ".") for path in ("", "g/sub/arr")]
    cases += [(2, None, sep, path) for sep in ("/", ".") for path in ("", "g/arr")]
    for k, (fmt, kind, sep, path) in enumerate(cases):
        store = exzarr.storage.LocalStore(str(tmp_path / f"s{k}"))
        encoding = {"name": kind, "configuration": {"separator": sep}}
        kw = {"chunk_key_encoding": encoding} if fmt == 3 else {"dimension_separator": sep}
        a = exzarr.create(store, path=path or None, shape=x.shape, chunks=(2, 10), dtype="i4", zarr_format=fmt,
                          compressor="zstd", fill_value=0, **kw)  # fmt: skip
        a[...] = x
        assert os.path.isfile(os.path.join(store.root, plain(a).object_key((11, 120))))  # a three-digit index
        b = exzarr.open_array(store, path=path or None)
        before = spy.calls
        assert np.array_equal(b[...], x) and np.array_equal(b[5:21, 999:1201], x[5:21, 999:1201])
        assert spy.calls == before + 2 and spy.left == 0, (fmt, kind, sep, path)


# ----------------------------------------------------------------------------- sharded arrays


def python_path(a, monkeypatch, fn):
    """``fn()`` with the C loop switched off: the ordinary inner-chunk path of ShardIO."""
    with monkeypatch.context() as m:
        m.setattr(native, "sharded_eligible", lambda *args: False)
        return _outcome(fn)


@SETTINGS
@given(
    sc=shapes_and_chunks(max_ndim=3, max_side=11),
    factor=st.lists(st.integers(1, 3), min_size=3, max_size=3),
    dtype=st.sampled_from(["f8", "<i2", "u1", "c8", "M8[s]"]),
    compressor=st.sampled_from(COMPRESSORS),
    data=st.data(),
)
def test_c_sharded_reads_equal_the_plain_twin_and_numpy(monkeypatch, sc, factor, dtype, compressor, data):
    shape, chunks = sc
    shards = tuple(c * f for c, f in zip(chunks, factor, strict=False))
    spy = Spy(monkeypatch, "read_sharded")
    with tempfile.TemporaryDirectory() as root:
        fill = None if dtype.startswith("M") else 7
        a = exzarr.create(
            f"{root}/s.zarr", shape=shape, chunks=chunks, shards=shards, dtype=dtype, compressor=compressor, fill_value=fill
        )
        ref = np.full(shape, a.fill_value, dtype=a.dtype)
        for k in range(data.draw(st.integers(0, 3))):
            sel = data.draw(basic_index(shape))
            v = values(np.shape(ref[sel]), a.dtype, k)
            ref[sel] = v
            a[sel] = v
        a = exzarr.open_array(f"{root}/s.zarr")
        twin = plain(a)
        for _ in range(3):
            sel = data.draw(basic_index(shape))
            assert same(a[sel], ref[sel])
            assert same(twin.read(basic_selection(sel, shape, a.metadata.chunks)), ref[sel])
        assert same(a[...], ref)
        if ref.size:
            assert spy.calls > 0


def _sharded(tmp_path):
    a = exzarr.create(str(tmp_path / "s.zarr"), shape=(8, 8), chunks=(4, 4), shards=(8, 8), dtype="<f8", compressor="zstd")
    a[...] = np.arange(64).reshape(8, 8)
    path = tmp_path / "s.zarr" / "c" / "0" / "0"
    blob = bytearray(path.read_bytes())
    index = np.frombuffer(bytes(blob[-(16 * 4 + 4) : -4]), dtype="<u8").reshape(2, 2, 2)
    return a, path, blob, index


def test_a_corrupt_inner_chunk_fails_as_on_the_python_path(tmp_path, monkeypatch):
    spy = Spy(monkeypatch, "read_sharded")
    a, path, blob, index = _sharded(tmp_path)
    off, n = (int(v) for v in index[1, 0])
    blob[off + n - 3] ^= 0xFF  # the frame's last block: the decoder notices
    blob[off : off + 4] = b"\0\0\0\0"  # and the magic number, certainly
    path.write_bytes(bytes(blob))
    fast = _outcome(lambda: a[...])
    assert fast == python_path(a, monkeypatch, lambda: a[...])
    assert fast[0] == "ChunkDecodeError" and "c/0/0" in fast[1]
    assert np.array_equal(a[:4], np.arange(32).reshape(4, 8))
    assert spy.calls == 2


@pytest.mark.parametrize("case", ["past the end", "too large", "empty entry", "short shard"])
def test_hostile_shard_indexes_fail_as_on_the_python_path(tmp_path, monkeypatch, case):
    """The index is checked by the same code on both paths (crc32c first: forged indexes carry a right checksum)."""
    import crc32c

    spy = Spy(monkeypatch, "read_sharded")
    a, path, blob, index = _sharded(tmp_path)
    index = index.copy()
    if case == "past the end":
        index[0, 1, 0] = len(blob) - 10
    elif case == "too large":
        index[0, 1, 1] = 10**9
    elif case == "empty entry":
        index[0, 1] = 2**64 - 1  # a missing inner chunk: fill
    if case == "short shard":
        forged = bytes(blob[-40:])
    else:
        raw = index.astype("<u8").tobytes()
        forged = bytes(blob[: -(len(raw) + 4)]) + raw + crc32c.crc32c(raw).to_bytes(4, "little")
    path.write_bytes(forged)
    fast = _outcome(lambda: a[...])
    assert fast == python_path(a, monkeypatch, lambda: a[...])
    if case == "empty entry":
        exp = np.arange(64.0).reshape(8, 8)
        exp[:4, 4:] = 0
        assert fast == ("ok", exp.tolist())
    else:
        assert fast[0] == "ChunkDecodeError" and "c/0/0" in fast[1]
    assert spy.calls == 1


def test_a_sharded_read_keeps_one_version_of_a_shard(tmp_path, monkeypatch):
    """A writer replacing the shard between the index read and the chunk reads does not mix versions."""
    a = exzarr.create(str(tmp_path / "s.zarr"), shape=(8, 8), chunks=(4, 4), shards=(8, 8), dtype="<f8", compressor="zstd")
    a[...] = 1
    from exzarr.engine.sharded import ShardIO

    real_index = ShardIO.index
    other = exzarr.open_array(str(tmp_path / "s.zarr"), mode="r+")
    calls = []

    def index_then_replace(self, key, snap):
        idx = real_index(self, key, snap)
        if not calls:
            calls.append(key)
            other[...] = np.arange(64).reshape(8, 8)  # rewrites the shard file (a new file renamed over it)
        return idx

    monkeypatch.setattr(ShardIO, "index", index_then_replace)
    assert np.array_equal(a[...], np.ones((8, 8)))  # the version whose index was read, whole
    assert calls and np.array_equal(a[...], np.arange(64).reshape(8, 8))


# ----------------------------------------------------------------------------- found by review


def test_spans_that_overflow_or_alias_the_output_are_refused_or_harmless(tmp_path):
    from exzarr import _native

    def grid(f, ndim, n=1):  # the file f0, or f0/0, named n times
        return (bytes(f), b"/", np.zeros((n, ndim), np.int64))

    f = tmp_path / "c"
    (tmp_path / "c0").write_bytes(b"\x11" * 4)
    out = np.zeros(4, np.uint8)
    with pytest.raises(ValueError, match="outside its chunk"):  # o0 + (c1 - c0) wrapped past the check
        _native.read_grid(grid(f, 1), np.array([[[0, 1, 2**63 - 1]]], dtype=np.int64), out, (4,), (4,), 1, 0, 100, os.O_RDONLY)
    with pytest.raises(ValueError, match="too many bytes"):  # the output's size wrapped to 0
        _native.read_grid(grid(f, 2), np.array([[[0, 1, 5], [0, 1, 5]]], dtype=np.int64), np.zeros(0, np.uint8),
                          (2**32, 2**32), (1, 1), 1, 0, 100, os.O_RDONLY)  # fmt: skip
    with pytest.raises(ValueError, match="descriptor"):
        _native.read_ranges(np.array([[2**40, 0, 1]], dtype=np.int64), np.array([[[0, 1, 0]]], dtype=np.int64), out,
                            (4,), (4,), 1, 0, 100, 0)  # fmt: skip
    # the spans live in the output: chunk 0 decodes over chunk 1's (checked) span, which must not be re-read
    g = tmp_path / "c0"
    g.write_bytes(np.array([0, 1, 2**40], "<i8").tobytes())  # (over the file above)
    shared = np.zeros(48, np.uint8)
    spans = shared.view(np.int64).reshape(2, 1, 3)
    spans[0, 0] = (0, 24, 24)
    spans[1, 0] = (0, 1, 0)
    st = _native.read_grid(grid(f, 1, 2), spans, shared, (48,), (24,), 1, 0, 100, os.O_RDONLY)
    assert bytes(st) == b"\x00\x00"  # chunk 1 used its span as checked (0, 1, 0), not the bytes chunk 0 wrote over it
    assert shared[0] == 0 and shared[24:].tobytes() == g.read_bytes()


def test_a_stream_with_a_window_over_zstds_limit_is_refused_by_both_paths(tmp_path, monkeypatch):
    spy = Spy(monkeypatch)
    a = exzarr.create(str(tmp_path / "a.zarr"), shape=(8, 8), chunks=(4, 4), dtype="<f8", compressor="zstd")
    a[...] = 1
    params = zstandard.ZstdCompressionParameters(window_log=28, write_content_size=False)
    stream = zstandard.ZstdCompressor(compression_params=params).compressobj()
    (tmp_path / "a.zarr" / "c" / "1" / "0").write_bytes(stream.compress(RAW) + stream.flush())
    fast, slow = _outcome(lambda: a[...]), _outcome(lambda: plain(a).read(basic_selection(..., (8, 8), (4, 4))))
    assert fast == slow and fast[0] == "ChunkDecodeError"
    assert _outcome(lambda: a[::2, ::2])[0] == "ChunkDecodeError"  # and the same on the other path of the same array
    assert spy.left == 1


def test_sparse_arrays_with_enormous_chunks_read_their_fill(tmp_path):
    from exzarr.config import config

    for i, (shape, chunks) in enumerate([((2**22,) * 2, (2**21,) * 2), ((2**22,) * 3, (2**21,) * 3)]):
        with config.set(max_chunk_bytes=2**70):  # as another tool may have written it
            exzarr.create(str(tmp_path / f"a{i}.zarr"), shape=shape, chunks=chunks, dtype="f8", compressor=None, fill_value=3)
        a = exzarr.open_array(str(tmp_path / f"a{i}.zarr"))
        sel = (slice(0, 2),) * len(shape)
        assert (a[sel] == 3).all() and a[sel].shape == (2,) * len(shape)


# ----------------------------------------------------------------------------- writes


def test_the_c_write_loop_is_built_with_zstd():
    assert native._ENCODERS.get("zstd") == native._CODECS.get("zstd") is not None


@SETTINGS
@given(
    sc=shapes_and_chunks(max_ndim=3, max_side=11),
    dtype=st.sampled_from(["f8", "<i2", "u1", ">i4", "c8", "M8[s]", "S3"]),
    compressor=st.sampled_from(COMPRESSORS),
    fmt=st.sampled_from([2, 3]),
    write_empty=st.booleans(),
    data=st.data(),
)
def test_c_writes_equal_the_plain_twin_and_numpy(monkeypatch, sc, dtype, compressor, fmt, write_empty, data):
    shape, chunks = sc
    spy = Spy(monkeypatch, "write_local")
    with tempfile.TemporaryDirectory() as root:
        a = make(root, shape, chunks, dtype, compressor, fmt)
        a = exzarr.open_array(f"{root}/a.zarr", mode="r+", write_empty_chunks=write_empty)
        twin_root = f"{root}/twin"
        make(twin_root, shape, chunks, dtype, compressor, fmt)
        twin_arr = exzarr.open_array(f"{twin_root}/a.zarr", mode="r+", write_empty_chunks=write_empty)
        twin = ChunkEngine(EngineSpec.from_metadata(twin_arr.store, twin_arr.path, twin_arr.metadata, fast=False,
                                                    write_empty=write_empty))  # fmt: skip
        ref = np.full(shape, a.fill_value, dtype=a.dtype)
        for k in range(data.draw(st.integers(1, 4))):
            sel = data.draw(basic_index(shape)) if data.draw(st.booleans()) else (...,)
            target = ref[sel]
            if data.draw(st.integers(0, 3)) == 0:  # all fill: such chunks are deleted (or kept, with write_empty)
                v = np.full(np.shape(target), a.fill_value, dtype=a.dtype)
            else:
                v = values(np.shape(target), a.dtype, k)
            ref[sel] = v
            a[sel] = v
            twin.write(basic_selection(sel, shape, a.metadata.chunks), v)
        assert same(a[...], ref) and same(plain(a).read(basic_selection(..., shape, a.metadata.chunks)), ref)
        assert same(twin_arr[...], ref)
        assert sorted(a.stored_chunks()) == sorted(twin_arr.stored_chunks())
        leftovers = [f for _, _, fs in os.walk(root) for f in fs if f.startswith(".exzarr-tmp")]
        assert not leftovers
        if ref.size and shape and all(n >= c for n, c in zip(shape, chunks, strict=True)):
            a[...] = values(shape, a.dtype, 9)  # at least one whole interior chunk: the C loop writes it
            assert spy.calls > 0


def test_c_writes_are_read_by_zarr_python_and_a_fresh_interpreter(tmp_path, monkeypatch):
    import zarr

    spy = Spy(monkeypatch, "write_local")
    x = np.random.default_rng(5).normal(size=(130, 70)).round(2)
    for fmt, compressor in [(2, "zstd"), (3, "zstd"), (3, ("zstd", {"level": 5, "checksum": True})), (2, None), (3, None)]:
        path = str(tmp_path / f"a{fmt}{compressor}.zarr")
        a = exzarr.create(path, shape=x.shape, chunks=(32, 32), dtype="f8", compressor=compressor, zarr_format=fmt)
        a[...] = x
        assert np.array_equal(zarr.open_array(path, mode="r")[...], x)
        out = run_isolated(
            """
            import hashlib, sys, exzarr
            _report(digest=hashlib.sha256(exzarr.open_array(sys.argv[1])[...].tobytes()).hexdigest())
            """,
            args=(path,),
        )
        assert out.result == {"digest": hashlib.sha256(x.tobytes()).hexdigest()}, out.stderr
    assert spy.calls == 5


@given(n=st.integers(0, 20_000), conc=st.integers(1, 64))
@settings(max_examples=200, deadline=None)
def test_read_batches_cover_every_chunk_once_in_shrinking_sizes(n, conc):
    """The C loops' batches: consecutive, non-empty, covering [0, n) exactly; no larger than 256
    chunks nor than the one before; single chunks at the end, so the cores finish together."""
    workers, bounds = native._batches(n, conc)
    assert 1 <= workers <= max(1, min(conc, n))
    assert [k for i, j in bounds for k in range(i, j)] == list(range(n))  # in order, each chunk once
    sizes = [j - i for i, j in bounds]
    assert all(1 <= s <= 256 for s in sizes) and sizes == sorted(sizes, reverse=True)
    if n:
        assert sizes[-1] == 1


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 64, 65])
@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_write_batches_are_spread_over_distant_parts(n, workers):
    """Every batch once, and two consecutive ones never neighbours in the chunk order (when there
    are more parts than one), so concurrent workers write into different directories."""
    bounds = [(i, i + 1) for i in range(n)]
    spread = native._spread(bounds, workers)
    assert sorted(spread) == bounds
    if workers > 1 and n >= 2 * workers:
        assert all(abs(a[0] - b[0]) >= n // workers - 1 for a, b in itertools.pairwise(spread[:workers]))


def test_c_writes_hold_the_chunk_locks(tmp_path, monkeypatch):
    from exzarr import _native
    from exzarr.engine import locks

    a = exzarr.create(str(tmp_path / "a.zarr"), shape=(64, 64), chunks=(16, 16), dtype="f8", compressor="zstd",
                      process_locks=True)  # fmt: skip
    seen = []
    real = _native.write_chunks

    def checking(tmps, finals, *rest):
        for f in finals:
            key = os.path.relpath(os.fsdecode(f), a.store.root).replace(os.sep, "/")
            held = locks.thread_lock(a.store, key).locked()
            lockfile = any(os.scandir(os.path.join(a.store.root, locks.LOCK_DIR))) if held else False
            seen.append((key, held, lockfile))
        return real(tmps, finals, *rest)

    monkeypatch.setattr(_native, "write_chunks", checking)
    a[...] = np.arange(64 * 64.0).reshape(64, 64)
    assert len(seen) == 16 and all(held and lockfile for _, held, lockfile in seen), seen
    assert np.array_equal(a[...], np.arange(64 * 64.0).reshape(64, 64))


def test_a_chunk_the_c_loop_cannot_write_fails_as_on_the_python_path(tmp_path, monkeypatch):
    a = exzarr.create(str(tmp_path / "a.zarr"), shape=(8, 8), chunks=(4, 4), dtype="f8", compressor="zstd")
    a[...] = 1
    (tmp_path / "a.zarr" / "c" / "1" / "1").unlink()
    (tmp_path / "a.zarr" / "c" / "1" / "1").mkdir()  # a directory where the chunk goes: rename fails
    (tmp_path / "a.zarr" / "c" / "1" / "1" / "x").write_bytes(b"")
    v = np.arange(64.0).reshape(8, 8)
    fast = _outcome(lambda: a.__setitem__(Ellipsis, v))
    with monkeypatch.context() as m:
        m.setattr(native, "write_eligible", lambda *args: False)
        slow = _outcome(lambda: a.__setitem__(Ellipsis, v))
    tmp_name = re.compile(r"\.exzarr-tmp-[^']*")  # each attempt has its own temporary file
    assert (fast[0], tmp_name.sub("TMP", fast[1])) == (slow[0], tmp_name.sub("TMP", slow[1]))
    assert fast[0] == "StoreError" and "c/1/1" in fast[1]
    assert np.array_equal(a[:4], v[:4]) and np.array_equal(a[4:, :4], v[4:, :4])  # the other chunks were written
    assert not [f for _, _, fs in os.walk(tmp_path) for f in fs if f.startswith(".exzarr-tmp")]


def test_bad_arguments_to_the_c_write_loop_are_refused(tmp_path):
    from exzarr import _native

    src = np.zeros((4, 4))
    buf = src.reshape(-1).view(np.uint8)
    whole = np.array([[[0, 4, 0], [0, 4, 0]]], dtype=np.int64)
    t, p = [bytes(tmp_path / "t")], [bytes(tmp_path / "p")]
    with pytest.raises(ValueError, match="whole chunk"):
        _native.write_chunks(
            t, p, np.array([[[0, 4, 1], [0, 4, 0]]], dtype=np.int64), buf, (4, 4), (4, 4), 8, 0, 0, 0, None, False
        )
    with pytest.raises(ValueError, match="whole chunk"):
        _native.write_chunks(
            t, p, np.array([[[0, 3, 0], [0, 4, 0]]], dtype=np.int64), buf, (4, 4), (4, 4), 8, 0, 0, 0, None, False
        )
    with pytest.raises(ValueError, match="src"):
        _native.write_chunks(t, p, whole, buf[:-8], (4, 4), (4, 4), 8, 0, 0, 0, None, False)
    with pytest.raises(ValueError, match="fill"):
        _native.write_chunks(t, p, whole, buf, (4, 4), (4, 4), 8, 0, 0, 0, b"\0", False)
    with pytest.raises(ValueError, match="differ in length"):
        _native.write_chunks(t + t, p, whole, buf, (4, 4), (4, 4), 8, 0, 0, 0, None, False)
    with pytest.raises(ValueError, match="too many bytes"):
        _native.write_chunks(t, p, whole, buf, (2**32, 2**32), (4, 4), 8, 0, 0, 0, None, False)
    assert bytes(_native.write_chunks(t, p, whole, buf, (4, 4), (4, 4), 8, 0, 0, 0, bytes(8), False)) == b"\x03"
    assert not (tmp_path / "p").exists()  # all fill: nothing written
    assert bytes(_native.write_chunks(t, p, whole, buf, (4, 4), (4, 4), 8, 1, 3, 1, None, False)) == b"\x00"
    assert zstandard.ZstdDecompressor().decompress((tmp_path / "p").read_bytes()) == bytes(128)
    assert bytes(_native.write_chunks(t, p, whole, buf, (4, 4), (4, 4), 8, 1, 3, 1, None, False)) == b"\x00"  # t renamed away


def test_c_encoded_shards_equal_the_python_encoder_and_zarr_python_reads_them(tmp_path, monkeypatch):
    import zarr

    calls = []
    real = native.encode_inner
    monkeypatch.setattr(native, "encode_inner", lambda *a: calls.append(1) or real(*a))
    x = np.random.default_rng(6).normal(size=(96, 80)).round(2)
    x[:32, :16] = 3  # inner chunks equal to the fill value are left out of the shard
    for compressor in ["zstd", ("zstd", {"level": -2, "checksum": True}), None]:
        for name, native_on in (("c", True), ("py", False)):
            path = str(tmp_path / f"{name}-{compressor}.zarr")
            a = exzarr.create(path, shape=x.shape, chunks=(16, 16), shards=(32, 48), dtype="f8", compressor=compressor,
                              fill_value=3)  # fmt: skip
            with monkeypatch.context() as m:
                if not native_on:
                    m.setattr(native, "shard_encode_eligible", lambda *args: False)
                a[...] = x
            assert np.array_equal(zarr.open_array(path, mode="r")[...], x)
            assert np.array_equal(exzarr.open_array(path)[...], x)
        c, py = (
            exzarr.open_array(str(tmp_path / f"c-{compressor}.zarr")),
            exzarr.open_array(str(tmp_path / f"py-{compressor}.zarr")),
        )
        assert sorted(c.stored_chunks()) == sorted(py.stored_chunks()) and (0, 0) not in set(c.stored_chunks())
    assert len(calls) >= 3


# ------------------------------------------------------------- whole shards written together


def _files(root):
    """Every stored file under ``root`` (relative path: bytes), lock and temporary files aside."""
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


@SETTINGS
@given(
    sc=shapes_and_chunks(max_ndim=3, max_side=12),
    factor=st.lists(st.integers(1, 3), min_size=3, max_size=3),
    dtype=st.sampled_from(["f8", "<i2", "u1", "c8", "M8[s]"]),
    compressor=st.sampled_from(COMPRESSORS),
    write_empty=st.booleans(),
    data=st.data(),
)
def test_whole_shards_written_together_equal_the_per_shard_path(monkeypatch, sc, factor, dtype, compressor, write_empty,
                                                                data):  # fmt: skip
    """write_shards (all whole shards of a write encoded in one run, each stored by the worker that
    finishes it) against the per-shard path (ShardIO.encode under the CPU gate) on the same writes:
    the same files byte for byte, the same values as NumPy, whole fill shards deleted alike."""
    shape, chunks = sc
    shards = tuple(c * f for c, f in zip(chunks, factor, strict=False))
    spy = Spy(monkeypatch, "write_shards")
    with tempfile.TemporaryDirectory() as root:
        fill = None if dtype.startswith("M") else 7
        arrays = []
        for name in ("together", "per-shard"):
            exzarr.create(f"{root}/{name}.zarr", shape=shape, chunks=chunks, shards=shards, dtype=dtype,
                          compressor=compressor, fill_value=fill)  # fmt: skip
            arrays.append(exzarr.open_array(f"{root}/{name}.zarr", mode="r+", write_empty_chunks=write_empty))
        together, per_shard = arrays
        ref = np.full(shape, together.fill_value, dtype=together.dtype)
        for k in range(data.draw(st.integers(1, 3))):
            sel = data.draw(basic_index(shape)) if data.draw(st.booleans()) else (...,)
            v = values(np.shape(ref[sel]), together.dtype, k)
            kind = data.draw(st.integers(0, 3))
            if kind == 0:  # all fill: whole fill shards are deleted
                v = np.full(np.shape(ref[sel]), together.fill_value, dtype=together.dtype)
            elif kind == 1 and v.size:  # some inner chunks fill, others not
                v.reshape(-1)[: v.size // 2] = np.asarray(together.fill_value, dtype=together.dtype)
            ref[sel] = v
            together[sel] = v
            with monkeypatch.context() as m:
                m.setattr(native, "write_shards", lambda engine, tasks, *rest: tasks)
                per_shard[sel] = v
        assert same(together[...], ref) and same(plain(together).read(basic_selection(..., shape, together.metadata.chunks)), ref)
        assert same(per_shard[...], ref)
        a, b = _files(f"{root}/together.zarr"), _files(f"{root}/per-shard.zarr")
        assert a == b
        assert not [f for f in a if ".exzarr-tmp" in f]
        grid = [n // s for n, s in zip(shape, shards, strict=False)]
        if shape and math.prod(grid) >= 2:  # two or more whole shards: written together
            spy.left = 0
            together[...] = values(shape, together.dtype, 9)
            assert spy.calls > 0 and spy.left == math.prod(-(-n // s) for n, s in zip(shape, shards, strict=False)) - math.prod(
                grid
            )


def test_whole_shards_written_together_are_read_by_zarr_python_and_a_fresh_interpreter(tmp_path, monkeypatch):
    import zarr

    spy = Spy(monkeypatch, "write_shards")
    x = np.random.default_rng(8).normal(size=(200, 130)).round(2)
    x[:40, :60] = 3  # a whole shard of fill: not stored
    for compressor in ["zstd", ("zstd", {"level": -2, "checksum": True}), None]:
        path = str(tmp_path / f"{compressor}.zarr")
        a = exzarr.create(path, shape=x.shape, chunks=(20, 20), shards=(40, 60), dtype="f8", compressor=compressor,
                          fill_value=3)  # fmt: skip
        a[...] = x
        assert np.array_equal(zarr.open_array(path, mode="r")[...], x)
        assert (0, 0) not in {idx[:2] for idx in a.stored_chunks()} and (2, 3) in set(a.stored_chunks())
        out = run_isolated(  # a fresh interpreter reopens what was written
            """
            import hashlib, sys, exzarr
            _report(digest=hashlib.sha256(exzarr.open_array(sys.argv[1])[...].tobytes()).hexdigest())
            """,
            args=(path,),
        )
        assert out.result == {"digest": hashlib.sha256(x.tobytes()).hexdigest()}, out.stderr
    assert spy.calls == 3 and spy.left == 3 * 5  # the 5 edge shards (column 2, row 5) went the ordinary way


def test_shard_batches_cover_every_inner_chunk_once_shard_after_shard():
    for shards, per_shard, workers in itertools.product([1, 2, 3, 16, 40], [1, 2, 7, 256, 1000], [1, 2, 3, 8]):
        batches = native._shard_batches(shards, per_shard, workers)
        assert [(k, c) for k, _, i, j in batches for c in range(i, j)] == [
            (k, c) for k in range(shards) for c in range(per_shard)
        ]
        for k in range(shards):
            assert [n for kk, n, _, _ in batches if kk == k] == list(range(sum(kk == k for kk, *_ in batches)))
        sizes = [j - i for _, _, i, j in batches]
        assert all(1 <= s <= 256 for s in sizes) and sizes[-1] == 1


def test_whole_shards_written_together_hold_their_locks(tmp_path, monkeypatch):
    from exzarr import _native
    from exzarr.engine import locks

    a = exzarr.create(str(tmp_path / "s.zarr"), shape=(64, 64), chunks=(8, 8), shards=(16, 32), dtype="f8",
                      compressor="zstd", process_locks=True)  # fmt: skip
    keys = [f"c/{i}/{j}" for i in range(4) for j in range(2)]
    seen = []
    real = _native.encode_chunks

    def checking(*args):
        held = [locks.thread_lock(a.store, k).locked() for k in keys]
        lockfiles = len(list(os.scandir(os.path.join(a.store.root, locks.LOCK_DIR))))
        seen.append((all(held), lockfiles))
        return real(*args)

    monkeypatch.setattr(_native, "encode_chunks", checking)
    x = np.arange(64 * 64.0).reshape(64, 64)
    a[...] = x
    assert seen and all(held and files == len(keys) for held, files in seen), seen
    assert np.array_equal(a[...], x)


def test_a_shard_that_cannot_be_stored_fails_as_on_the_per_shard_path(tmp_path, monkeypatch):
    spy = Spy(monkeypatch, "write_shards")
    outcomes = []
    for name, together in (("t", True), ("p", False)):
        a = exzarr.create(str(tmp_path / f"{name}.zarr"), shape=(16, 16), chunks=(4, 4), shards=(8, 8), dtype="f8",
                          compressor="zstd")  # fmt: skip
        a[...] = 1
        target = tmp_path / f"{name}.zarr" / "c" / "1" / "0"
        target.unlink()
        target.mkdir()  # a directory where the shard goes: storing it fails
        (target / "x").write_bytes(b"")
        with monkeypatch.context() as m:
            if not together:
                m.setattr(native, "write_shards", lambda engine, tasks, *rest: tasks)
            outcomes.append(_outcome(lambda a=a: a.__setitem__(Ellipsis, np.full((16, 16), 2.0))))
        assert a[:8, :8].tolist() == np.full((8, 8), 2.0).tolist()  # the shard before it was written
    assert spy.calls >= 1
    assert outcomes[0][0] == outcomes[1][0] != "ok"
    rel = re.compile(r"'[^']*'")
    assert rel.sub("", outcomes[0][1]) == rel.sub("", outcomes[1][1])


@pytest.mark.parametrize("dtype", ["u1", "?", "<i2", "f8"])
@pytest.mark.parametrize("layout", ["C", "F", "step"])
@pytest.mark.parametrize("shards", [(2, 2, 1), (4, 2, 1)])  # several whole shards, and one
def test_a_length_1_last_axis_of_any_stride_is_encoded_as_the_per_shard_python_path(tmp_path, monkeypatch, dtype, layout,
                                                                                   shards):  # fmt: skip
    """A length-1 last axis may have any stride (Fortran order, a step): the C encoder takes the
    value (1-byte items were refused: the uint8 view kept the odd stride) and stores what the
    Python encoder stores."""
    v = (np.arange(16) % 3).astype(dtype).reshape(4, 2, 2)
    val = {"C": v[..., :1], "F": np.asfortranarray(v[..., :1]), "step": np.repeat(v, 2, -1)[..., ::4]}[layout]
    assert val.shape == (4, 2, 1)
    stored = []
    for name, c_encoder in (("c", True), ("py", False)):
        a = exzarr.create(str(tmp_path / f"{name}.zarr"), shape=(4, 2, 1), chunks=(2, 1, 1), shards=shards, dtype=dtype,
                          compressor="zstd")  # fmt: skip
        with monkeypatch.context() as m:
            if not c_encoder:
                m.setattr(native, "shard_encode_eligible", lambda *args: False)
            a[...] = val
        assert np.array_equal(a[...], val)
        stored.append(_files(str(tmp_path / f"{name}.zarr" / "c")))
    assert stored[0] == stored[1]


def test_an_interrupted_write_of_whole_shards_stores_nothing_after_it_leaves(tmp_path, monkeypatch):
    """Ctrl-C while whole shards are encoded: workers in the middle of a batch store no shard once
    the call has left (and released the locks); a later write of the same shards is the one kept."""
    import threading
    import time

    from exzarr import _native
    from exzarr.engine import locks
    from exzarr.engine.core import ChunkEngine

    a = exzarr.create(str(tmp_path / "s.zarr"), shape=(64, 64), chunks=(8, 8), shards=(16, 16), dtype="f8")
    real_encode, real_put = _native.encode_chunks, ChunkEngine.put
    state = {"interrupt": True, "main": 0}
    puts = []

    def encode(*args):
        if state["interrupt"]:
            if threading.current_thread() is threading.main_thread():
                state["main"] += 1
                if state["main"] == 2:
                    raise KeyboardInterrupt  # as a SIGINT handler raises when the C call returns
            else:
                time.sleep(0.3)  # a pool worker in the middle of a batch
        return real_encode(*args)

    def put(self, key, encoded, chunk=None):
        puts.append((time.monotonic(), key, locks.thread_lock(self.store, key).locked()))
        return real_put(self, key, encoded, chunk)

    monkeypatch.setattr(_native, "encode_chunks", encode)
    monkeypatch.setattr(ChunkEngine, "put", put)
    with pytest.raises(KeyboardInterrupt):
        a[...] = np.ones((64, 64))
    state["interrupt"] = False
    a[...] = np.full((64, 64), 7.0)
    done = time.monotonic()
    time.sleep(0.5)  # long enough for a worker that was still encoding to store its shard
    assert [key for t, key, _ in puts if t > done] == []
    assert all(held for _, _, held in puts)
    assert np.unique(a[...]).tolist() == [7.0]


def test_a_snapshot_never_entered_holds_no_descriptor(tmp_path):
    from exzarr.storage import LocalStore

    s = LocalStore(str(tmp_path))
    s.set("k", b"abc")
    before = len(os.listdir("/proc/self/fd"))
    snaps = [s.snapshot("k") for _ in range(50)]
    assert len(os.listdir("/proc/self/fd")) == before
    with snaps[0] as snap:
        assert snap.read() == b"abc" and len(os.listdir("/proc/self/fd")) == before + 1
    assert len(os.listdir("/proc/self/fd")) == before
    with s.snapshot("missing") as snap:
        assert snap is None
    twice = s.snapshot("k")
    with twice as snap:
        with pytest.raises(RuntimeError, match="already open"), twice:
            pass
        assert snap.read() == b"abc"  # the first one still reads
    with twice as snap:  # entered again after it was left: opened again
        assert snap.read() == b"abc"
    assert len(os.listdir("/proc/self/fd")) == before


def test_bad_arguments_to_the_c_encoder_are_refused():
    from exzarr import _native

    src = np.zeros((4, 4))
    view = src.view(np.uint8)
    whole = np.array([[[0, 4, 0], [0, 4, 0]]], dtype=np.int64)
    blob, sizes = _native.encode_chunks(whole, view, (4, 4), 8, 1, 1, 0, None)
    assert zstandard.ZstdDecompressor().decompress(bytes(blob)) == bytes(128) and np.frombuffer(sizes, np.int64).tolist() == [
        len(blob)
    ]
    assert np.frombuffer(_native.encode_chunks(whole, view, (4, 4), 8, 0, 0, 0, bytes(8))[1], np.int64).tolist() == [-1]
    with pytest.raises(ValueError, match="whole chunk"):
        _native.encode_chunks(np.array([[[0, 4, 1], [0, 4, 0]]], dtype=np.int64), view, (4, 4), 8, 1, 1, 0, None)
    with pytest.raises(ValueError, match="contiguous rows"):
        _native.encode_chunks(whole, src, (4, 4), 8, 1, 1, 0, None)  # not bytes on the last axis
    with pytest.raises(ValueError, match="contiguous rows"):
        _native.encode_chunks(whole, np.zeros((4, 8), np.uint8)[:, ::2], (4, 4), 1, 1, 1, 0, None)
    with pytest.raises(ValueError, match="whole elements"):
        _native.encode_chunks(whole, np.zeros((4, 31), np.uint8), (4, 4), 8, 1, 1, 0, None)
    with pytest.raises(ValueError, match="negative strides"):
        _native.encode_chunks(whole, view[::-1], (4, 4), 8, 1, 1, 0, None)
    with pytest.raises(ValueError, match="fill"):
        _native.encode_chunks(whole, view, (4, 4), 8, 1, 1, 0, b"\0")


def test_a_chunk_directory_that_cannot_be_made_stops_only_its_chunks(tmp_path, monkeypatch):
    """(found by review) the directories of every whole chunk were made before any was written."""
    v = np.arange(64.0).reshape(8, 8)
    outcomes = []
    for native_on in (True, False):
        root = tmp_path / str(native_on)
        a = exzarr.create(str(root / "a.zarr"), shape=(8, 8), chunks=(4, 4), dtype="f8", compressor="zstd")
        (root / "a.zarr" / "c").mkdir()
        (root / "a.zarr" / "c" / "1").write_bytes(b"")  # a file where the directory of row 1 goes
        with monkeypatch.context() as m:
            if not native_on:
                m.setattr(native, "write_eligible", lambda *args: False)
            kind, text = _outcome(lambda a=a: a.__setitem__(Ellipsis, v))
            # (either chunk of the blocked row may be the one reported: the chunks are written concurrently)
            outcomes.append((kind, re.sub(r"c/1/[01]", "c/1/N", text.replace(str(root), "ROOT"))))
        assert np.array_equal(a[:4], v[:4])  # row 0 was written on both paths
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "StoreError" and "'c/1/N'" in outcomes[0][1]


def test_a_failing_delete_leaves_no_stale_chunk_in_the_cache(tmp_path, monkeypatch):
    """(found by review) a chunk written in the same batch as an all-fill chunk whose delete failed
    stayed cached with its old values."""
    a = exzarr.create(str(tmp_path / "a.zarr"), shape=(8, 4), chunks=(4, 4), dtype="f8", compressor="zstd", fill_value=0)
    a[...] = 1
    a = exzarr.open_array(str(tmp_path / "a.zarr"), mode="r+", cache_bytes=1 << 20)
    assert a[...].sum() == 32  # both chunks cached
    real_delete = type(a.store).delete

    def refusing(self, key):
        raise exzarr.errors.StoreError(f"cannot delete {key!r}")

    monkeypatch.setattr(type(a.store), "delete", refusing)
    v = np.zeros((8, 4))
    v[4:] = 5
    with pytest.raises(exzarr.errors.StoreError, match="c/0/0"):
        a[...] = v
    monkeypatch.setattr(type(a.store), "delete", real_delete)
    assert np.array_equal(a[4:], v[4:])  # the written chunk, not the cached old one


def test_paths_with_a_nul_byte_are_refused_by_the_c_loops(tmp_path):
    from exzarr import _native

    src = np.zeros((4, 4))
    whole = np.array([[[0, 4, 0], [0, 4, 0]]], dtype=np.int64)
    bad = [bytes(tmp_path / "x") + b"\0/../y"]
    with pytest.raises(ValueError, match="null"):
        _native.write_chunks(bad, bad, whole, src.reshape(-1).view(np.uint8), (4, 4), (4, 4), 8, 0, 0, 0, None, False)
    with pytest.raises(ValueError, match="null"):
        _native.read_grid((bad[0], b"/", np.zeros((1, 2), np.int64)), whole, src.reshape(-1).view(np.uint8), (4, 4), (4, 4), 8, 0,
                          100, os.O_RDONLY)  # fmt: skip
    assert not (tmp_path / "x").exists()


def test_leading_rows_are_decoded_as_on_the_python_path(tmp_path, monkeypatch):
    spy = Spy(monkeypatch)
    x = np.random.default_rng(8).normal(size=(40, 24)).round(3)
    for checksum in (False, True):
        a = exzarr.create(str(tmp_path / f"{checksum}.zarr"), shape=x.shape, chunks=(20, 12), dtype="f8",
                          compressor=("zstd", {"level": 1, "checksum": checksum}))  # fmt: skip
        a[...] = x
        for k in range(1, 21):  # leading rows of the first row of chunks (and of the second, from row 20)
            assert np.array_equal(a[:k], x[:k]) and np.array_equal(a[20 : 20 + k, 5:17], x[20 : 20 + k, 5:17])
    assert spy.left == 0
    # a checksummed frame is never decoded in part: a bad checksum is found even when 2 rows are read
    path = tmp_path / "True.zarr" / "c" / "0" / "0"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))
    a = exzarr.open_array(str(tmp_path / "True.zarr"))
    fast = _outcome(lambda: a[:2])
    assert fast == _outcome(lambda: plain(a).read(basic_selection((slice(0, 2),), x.shape, (20, 12))))
    assert fast[0] == "ChecksumError" or "checksum" in fast[1].lower()


def test_a_read_of_leading_rows_finds_damage_past_them(tmp_path, monkeypatch):
    """A chunk is decoded whole even when a read needs only its first rows: damage in its last
    block fails a read of 4 rows on the C loop, the Python fast path and the plain twin, as it
    does in zarr-python (decoding only the prefix returned those rows, found by review)."""
    import zarr

    x = np.random.default_rng(9).normal(size=(256, 256)).round(3)  # 512 KiB: zstd blocks of 128 KiB
    a = exzarr.create(str(tmp_path / "a.zarr"), shape=x.shape, chunks=(256, 256), dtype="f8", compressor="zstd")
    a[...] = x
    path = tmp_path / "a.zarr" / "c" / "0" / "0"
    blob = bytearray(path.read_bytes())
    blob[-8:] = b"\xff" * 8  # the end of the last block
    path.write_bytes(bytes(blob))
    spy = Spy(monkeypatch)
    c = _outcome(lambda: a[:4])
    assert spy.calls > 0
    with monkeypatch.context() as m:
        m.setattr(native, "eligible", lambda *args: False)
        py = _outcome(lambda: a[:4])
    twin = _outcome(lambda: plain(a).read(basic_selection((slice(0, 4),), x.shape, x.shape)))
    assert c[0] == py[0] == twin[0] == "ChunkDecodeError", (c, py, twin)
    with pytest.raises(Exception, match="(?i)corrupt|error"):
        zarr.open_array(str(tmp_path / "a.zarr"), mode="r")[:4]


def test_a_frame_whose_matches_reach_past_its_window_is_refused_by_both_paths(tmp_path, monkeypatch):
    """A frame without a content size whose header declares a 128 KiB window while its matches
    reach 300 KB back: a one-shot decode (which has the whole output as history) decoded it, the
    stream decode of the Python path and numcodecs refuse it. The C loop leaves such frames to the
    Python path."""
    n = 1_200_000
    data = np.random.default_rng(5).integers(0, 256, size=300_000, dtype=np.uint8).tobytes() * 4
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=21, write_content_size=0)
    frame = bytearray(zstandard.ZstdCompressor(compression_params=params).compress(data))
    frame[5] = (17 - 10) << 3  # the window descriptor now says 2**17 bytes
    with pytest.raises(Exception, match="(?i)corrupt"):
        numcodecs.Zstd().decode(bytes(frame))
    a = exzarr.create(str(tmp_path / "a"), shape=(n,), chunks=(n,), dtype="u1", compressor="zstd", fill_value=0)
    a[...] = 1
    (tmp_path / "a" / "c" / "0").write_bytes(bytes(frame))
    spy = Spy(monkeypatch)
    fast = _outcome(lambda: a[...])
    assert spy.calls > 0 and spy.left == 1  # handed to the Python path
    twin = _outcome(lambda: plain(a).read(basic_selection((...,), (n,), (n,))))
    assert fast[0] == twin[0] == "ChunkDecodeError"


# ----------------------------------------------------------------------------- per-thread state


def _forked_reads(paths: list[str]) -> list[str]:
    """In a forked child: read and rewrite each array with the C loops, return the digests."""
    out = []
    for p in paths:
        a = exzarr.open_array(p, mode="r+")
        x = a[...]
        a[...] = x  # whole chunks: the C writer (and its compression context) in the child
        out.append(hashlib.sha256(exzarr.open_array(p)[...].tobytes()).hexdigest())
    return out


def test_per_thread_contexts_and_buffers_serve_arrays_of_any_chunk_size_in_turn(tmp_path, monkeypatch):
    """Each thread keeps its zstd contexts and its read, scratch and output buffers between
    batches: arrays whose chunks are smaller, larger and far larger (over the 4 MiB a thread keeps)
    than the last ones, read and written in turn, raw and zstd with different levels and
    checksums, sharded too, must all come back exact; so must they in a forked child."""
    import multiprocessing as mp

    spy = Spy(monkeypatch)
    rng = np.random.default_rng(5)
    specs = [((64, 64), "zstd"), ((1024, 640), ("zstd", {"level": 5, "checksum": True})), ((40, 24), None),
             ((700, 1000), "zstd"), ((33, 70), ("zstd", {"level": -2})), ((1024, 640), None)]  # fmt: skip
    x = rng.normal(size=(1100, 1300)).round(1)
    paths = []
    for k, (chunks, compressor) in enumerate(specs * 2):
        p = str(tmp_path / f"a{k}")
        shards = (2 * chunks[0], 2 * chunks[1]) if k >= len(specs) and chunks[0] < 100 else None
        a = exzarr.create(p, shape=x.shape, chunks=chunks, dtype="f8", compressor=compressor, shards=shards)
        a[...] = x
        paths.append(p)
    for _ in range(2):  # every array after every other: buffers grow, shrink back and grow again
        for p in paths:
            a = exzarr.open_array(p)
            assert np.array_equal(a[...], x) and np.array_equal(a[7:1011, 5:1299], x[7:1011, 5:1299]), p
    assert spy.calls >= 12 and spy.left == 0
    digest = hashlib.sha256(x.tobytes()).hexdigest()
    with mp.get_context("fork").Pool(1) as pool:
        assert pool.apply(_forked_reads, (paths,)) == [digest] * len(paths)


# ----------------------------------------------------------------------------- one libzstd for both paths


def _damaged_outcome(read):
    try:
        return ("ok", read().tobytes())
    except Exception as exc:  # (the error's kind is what is compared)
        return ("error", type(exc).__name__)


def test_damaged_zstd_chunks_get_the_same_outcome_on_both_paths(tmp_path, monkeypatch):
    """The C loop decodes with the libzstd the Python path decodes with (exzarr.codecs.libzstd).
    With another one (the system's 1.5.4) a damaged frame that 1.5.7 refuses decoded to wrong bytes
    on the fast path while the plain path raised (tests/engine/data/zstd_damaged.zst is one such
    frame). Bit flips in many frames, whole reads and leading rows: same value or same error, and
    the same outcome as zarr-python's decoder (numcodecs) on the chunk's bytes."""
    import random

    spy = Spy(monkeypatch)
    rng = random.Random(7)
    a = exzarr.create(str(tmp_path / "a"), shape=(64, 64), chunks=(64, 64), dtype="u1", compressor="zstd", fill_value=0)
    a[...] = 1
    path = tmp_path / "a" / "c" / "0" / "0"
    with open(os.path.join(os.path.dirname(__file__), "data", "zstd_damaged.zst"), "rb") as f:
        blobs = [f.read()]
    for k in range(300):
        raw = np.random.default_rng(k).integers(0, 4, size=(64, 64), dtype=np.uint8).tobytes()
        comp = bytearray(zstandard.ZstdCompressor(level=rng.choice([1, 3, 9, -5]), write_content_size=True).compress(raw))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(12, len(comp))
            comp[i] ^= 1 << rng.randrange(8)
        blobs.append(bytes(comp))
    twin = plain(a)
    differ = []
    for k, blob in enumerate(blobs):
        path.write_bytes(blob)
        for sel in ((...,), (slice(0, 20), slice(3, 60))):
            fast = _damaged_outcome(lambda sel=sel: a[sel])
            slow = _damaged_outcome(lambda sel=sel: twin.read(basic_selection(sel, (64, 64), (64, 64))))
            if fast != slow:
                differ.append((k, sel, fast[0], slow[0]))
        whole = _damaged_outcome(lambda: a[...])
        peer = _damaged_outcome(lambda blob=blob: np.frombuffer(numcodecs.Zstd().decode(blob), np.uint8).reshape(64, 64))
        if peer[0] != whole[0] or (peer[0] == "ok" and peer[1] != whole[1]):
            differ.append((k, "numcodecs", whole[0], peer[0]))
    # chunks of four 128 KiB blocks, damaged anywhere; reads of leading rows, of a middle band, whole
    b = exzarr.create(str(tmp_path / "b"), shape=(256, 256), chunks=(256, 256), dtype="f8", compressor="zstd")
    b[...] = 1.0
    bpath = tmp_path / "b" / "c" / "0" / "0"
    btwin = plain(b)
    y, x = np.mgrid[0:256, 0:256]
    for k in range(40):
        value = np.round(np.sin(x / 40 + k) * np.cos(y / 30) * 100 + np.random.default_rng(k).normal(size=(256, 256)), 2)
        comp = bytearray(zstandard.ZstdCompressor(level=1).compress(value.tobytes()))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(12, len(comp))
            comp[i] ^= 1 << rng.randrange(8)
        bpath.write_bytes(bytes(comp))
        for sel in ((slice(0, 20),), (slice(100, 140), slice(5, 250)), (...,)):
            fast = _damaged_outcome(lambda sel=sel: b[sel])
            slow = _damaged_outcome(lambda sel=sel: btwin.read(basic_selection(sel, (256, 256), (256, 256))))
            if fast != slow:
                differ.append((f"block {k}", sel, fast[0], slow[0]))
        peer = _damaged_outcome(lambda comp=comp: np.frombuffer(numcodecs.Zstd().decode(bytes(comp)), "<f8").reshape(256, 256))
        if peer[0] != fast[0] or (peer[0] == "ok" and peer[1] != fast[1]):
            differ.append((f"block {k}", "numcodecs", fast[0], peer[0]))
    assert spy.calls > 0 and not differ, differ[:5]
    path.write_bytes(blobs[0])
    with pytest.raises(exzarr.errors.ChunkDecodeError):
        a[...]


def test_the_libzstd_in_use_cannot_be_swapped():
    from exzarr import _native
    from exzarr.codecs import libzstd

    found = libzstd.numcodecs_functions() if "numcodecs" in str(libzstd.LIBRARY) else libzstd.zstandard_functions()
    assert found is not None
    funcs = found[0]
    assert _native.use_zstd(funcs) is True  # the same library again: accepted
    other = libzstd.zstandard_functions() if "numcodecs" in str(libzstd.LIBRARY) else libzstd.numcodecs_functions()
    if other is not None:  # the other library, genuinely: refused
        with pytest.raises(RuntimeError, match="already in use"):
            _native.use_zstd(other[0])
    with pytest.raises(RuntimeError, match="already in use"):
        _native.use_zstd({**funcs, "ZSTD_decompressDCtx": funcs["ZSTD_freeDCtx"]})
    with pytest.raises(KeyError, match="ZSTD_compress2"):
        _native.use_zstd({k: v for k, v in funcs.items() if k != "ZSTD_compress2"})
    with pytest.raises(TypeError):
        _native.use_zstd(list(funcs.items()))


def test_an_array_under_a_long_path_is_read_by_the_c_loop(tmp_path, monkeypatch):
    """A store path of about 3,500 bytes (found by review: the C loop refused bases over 3,392
    bytes, so every read of such an array failed)."""
    spy = Spy(monkeypatch)
    root = tmp_path.joinpath(*["d" * 250] * 14)
    x = np.arange(40 * 30, dtype="f8").reshape(40, 30)
    a = exzarr.create(str(root), shape=x.shape, chunks=(16, 16), dtype="f8", compressor="zstd")
    a[...] = x
    assert len(os.fsencode(str(root))) > 3400
    assert np.array_equal(exzarr.open_array(str(root))[...], x) and spy.calls == 1 and spy.left == 0


def test_an_axis_near_the_int64_limit_is_read_exactly(tmp_path):
    """The last partial chunk of an axis of 2**63 - 1 elements: its span was computed with an
    int64 overflow (found by review; the C loop refused it, so the read failed)."""
    a = exzarr.create(str(tmp_path / "a"), shape=(2**63 - 1,), chunks=(1000,), dtype="u1", fill_value=3)
    a[-20:-10] = 7
    want = np.array([7] * 10 + [3] * 10, dtype="u1")
    assert np.array_equal(a[-20:], want)
    assert np.array_equal(plain(a).read(basic_selection((slice(-20, None),), a.shape, a.metadata.chunks)), want)


def test_encoding_no_chunks_on_a_new_thread_gives_empty_results():
    import threading

    from exzarr import _native

    got = []
    src = np.zeros((4, 4))
    t = threading.Thread(target=lambda: got.append(_native.encode_chunks(np.zeros((0, 2, 3), np.int64), src.view(np.uint8), (4, 4), 8,
                                                                       native._ENCODERS["zstd"], 1, 0, None)))  # fmt: skip
    t.start()
    t.join()
    assert got and bytes(got[0][0]) == b"" and bytes(got[0][1]) == b""
