"""exzarr.codecs.libzstd: one libzstd for the C loops and the Python path, and its fallback.

The bound library (numcodecs' build where it exposes its functions) and the ``zstandard``
package's fallback must give the same bytes for every valid frame (with and without a content
size, with a checksum, several levels), the same prefix for a stream that stops early, and both
must refuse damaged, truncated and oversized frames.
"""

from __future__ import annotations

import os
import random

import numcodecs
import numpy as np
import pytest
import zstandard

import exzarr
from exzarr.codecs import libzstd
from exzarr.codecs.bounded import Expect
from exzarr.codecs.bounded import zstd as bounded_zstd


@pytest.fixture(params=["bound", "zstandard"])
def backend(request, monkeypatch):
    """Each test runs on the bound library and on the ``zstandard`` fallback."""
    if request.param == "bound":
        assert libzstd.BOUND, "no libzstd was bound to exzarr._native"
    else:
        monkeypatch.setattr(libzstd, "BOUND", False)
    return request.param


def frames():
    rng = np.random.default_rng(3)
    smooth = np.round(np.cumsum(rng.normal(size=20_000)), 2).tobytes()
    noise = rng.integers(0, 256, size=5_000, dtype=np.uint8).tobytes()
    for data in (b"", b"x", bytes(70_000), smooth, noise):
        for level, checksum, size in ((1, False, True), (3, True, True), (-5, False, True), (9, False, False)):
            c = zstandard.ZstdCompressor(level=level, write_checksum=checksum, write_content_size=size)
            yield data, c.compress(data)


def test_the_library_in_use_is_zarr_pythons_where_numcodecs_exposes_it():
    found = libzstd.numcodecs_functions()
    if found is None:  # pragma: no cover - a numcodecs build that hides libzstd
        pytest.skip("numcodecs does not expose its libzstd here")
    assert found[1] >= libzstd.MIN_VERSION
    assert libzstd.LIBRARY and "from numcodecs" in libzstd.LIBRARY
    # exzarr's frames are read by numcodecs and the other way round
    data = np.arange(5000, dtype="<f8").tobytes()
    assert bytes(numcodecs.Zstd().decode(libzstd.compress(data, 1, False))) == data
    out = bytearray(len(data))
    assert libzstd.decompress(numcodecs.Zstd(level=5).encode(data), out) == len(data) and out == data


def test_valid_frames_decode_to_their_data(backend):
    for data, frame in frames():
        out = np.zeros(len(data) + 1, dtype=np.uint8)  # one byte spare: must stay untouched
        assert libzstd.decompress(frame, out) == len(data)
        assert out[: len(data)].tobytes() == data and out[-1] == 0
        out[:] = 0
        assert libzstd.stream(frame, out) == len(data)
        assert out[: len(data)].tobytes() == data
        if len(data) > 10:
            head = bytearray(10)
            assert libzstd.stream(frame, head) == 10 and head == data[:10]  # stops when the buffer is full


def test_compressed_frames_state_their_size_and_checksum(backend):
    data = np.round(np.cumsum(np.random.default_rng(0).normal(size=10_000)), 2).tobytes()
    for level, checksum in ((1, False), (3, True), (-3, False), (19, True)):
        frame = libzstd.compress(data, level, checksum)
        assert zstandard.frame_content_size(frame) == len(data)
        assert zstandard.get_frame_parameters(frame).has_checksum == checksum
        assert zstandard.ZstdDecompressor().decompress(frame) == data
        assert bytes(numcodecs.Zstd().decode(frame)) == data


def test_a_frame_larger_than_its_buffer_is_refused(backend):
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(5000))
    with pytest.raises(ValueError, match="zstd"):
        libzstd.decompress(frame, bytearray(4999))
    sized = zstandard.ZstdCompressor().compress(bytes(5000))
    with pytest.raises(ValueError, match="zstd"):
        libzstd.decompress(sized, bytearray(100))


def test_damaged_frames_are_refused_by_both_backends_alike(monkeypatch):
    """On damaged frames the two libraries (numcodecs' 1.5.6, zstandard's 1.5.7) may differ in
    principle; on these they must not, and the saved frame that 1.5.4 accepted is refused by both."""
    here = os.path.dirname(__file__)
    with open(os.path.join(here, "data", "zstd_damaged.zst"), "rb") as f:
        blobs = [f.read()]
    rng = random.Random(11)
    for k in range(150):
        raw = np.random.default_rng(k).integers(0, 4, size=4096, dtype=np.uint8).tobytes()
        comp = bytearray(zstandard.ZstdCompressor(level=rng.choice([1, 3, -5]), write_content_size=True).compress(raw))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(12, len(comp))
            comp[i] ^= 1 << rng.randrange(8)
        blobs.append(bytes(comp))

    def outcome(blob):
        try:
            return ("ok", bytes(bounded_zstd(blob, Expect(4096, 4096))))
        except ValueError:
            return ("error", None)

    bound = [outcome(b) for b in blobs]
    monkeypatch.setattr(libzstd, "BOUND", False)
    fallback = [outcome(b) for b in blobs]
    assert bound == fallback
    assert bound[0][0] == "error"
    assert any(o[0] == "error" for o in bound[1:]) and any(o[0] == "ok" for o in bound[1:])


def test_anything_but_exactly_one_frame_is_refused(backend):
    """Both backends take exactly one frame: not two, not a skippable frame, not trailing bytes,
    not nothing (the two libraries' own calls differ on each of these)."""
    one = zstandard.ZstdCompressor().compress(b"abc" * 10)
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"xyz"
    for src in (one + one, skippable + one, one + skippable, one + b"\0", one[:-1], b"", skippable):
        for fn in (libzstd.decompress, libzstd.stream):
            with pytest.raises(ValueError, match="zstd"):
                fn(src, bytearray(100))


def test_a_stream_without_a_size_is_bounded_by_the_chunk(backend):
    """A 785-byte frame without a content size that inflates to 100 MB: refused after at most
    one byte more than the chunk holds, whatever it claims."""
    bomb = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(100_000_000))
    with pytest.raises(ValueError, match="more than"):
        bounded_zstd(bomb, Expect(None, 4096))
    small = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(3_000_000))
    assert bytes(bounded_zstd(small, Expect(None, 2**62))) == bytes(3_000_000)  # grows past its first guess


def test_bad_arguments_to_the_c_functions_are_refused():
    from exzarr import _native

    with pytest.raises(BufferError):
        _native.zstd_decompress(b"abc", b"read-only")
    with pytest.raises(BufferError):
        _native.zstd_stream(b"abc", bytes(10))
    with pytest.raises(TypeError):
        _native.zstd_compress("text", 1, False)
    with pytest.raises(ValueError, match="zstd decompression error"):
        _native.zstd_decompress(b"not a frame", bytearray(10))
    with pytest.raises(ValueError, match="zstd decompression error"):
        _native.zstd_stream(b"not a frame either", bytearray(10))


def test_arrays_written_by_one_backend_are_read_by_the_other(tmp_path, monkeypatch, backend):
    data = np.round(np.random.default_rng(1).normal(size=(40, 30)), 2)
    a = exzarr.create(str(tmp_path / "a"), shape=data.shape, chunks=(16, 16), dtype="f8", compressor="zstd")
    a[...] = data
    monkeypatch.setattr(libzstd, "BOUND", not libzstd.BOUND)
    b = exzarr.open(str(tmp_path / "a"))
    np.testing.assert_array_equal(b[...], data)
    np.testing.assert_array_equal(b[3:20, 5:7], data[3:20, 5:7])


def test_a_window_lie_is_refused_whatever_the_thread_decoded_before(backend):
    """A frame without a content size declaring a 128 KiB window while its matches reach 300 KB
    back: refused, also right after a stream with a larger window was decoded on this thread (a
    reused context kept that history buffer and decoded the lie)."""
    data = np.random.default_rng(5).integers(0, 256, size=300_000, dtype=np.uint8).tobytes() * 4
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=21, write_content_size=0)
    honest = zstandard.ZstdCompressor(compression_params=params).compress(data)
    lie = bytearray(honest)
    lie[5] = (17 - 10) << 3  # the window descriptor now says 2**17 bytes
    for _ in range(2):
        assert bytes(bounded_zstd(honest, Expect(None, 2**62))) == data
        with pytest.raises(ValueError, match="(?i)corrupt"):
            bounded_zstd(bytes(lie), Expect(None, 2**62))


def test_several_frames_are_bounded_by_the_chunk_together(backend):
    """Frames of one chunk are decoded in turn, each within what the chunk may still hold: two
    frames that each fit but together do not are refused, sized or not."""
    sized = zstandard.ZstdCompressor().compress(bytes(3000))
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(3000))
    for a, b in ((sized, sized), (sized, unsized), (unsized, unsized)):
        assert bytes(bounded_zstd(a + b, Expect(6000, 6000))) == bytes(6000)
        with pytest.raises(ValueError, match="more than"):
            bounded_zstd(a + b, Expect(None, 5000))
        with pytest.raises(ValueError, match="more than the (2000 bytes left of the |2000 left of the )?5000"):
            bounded_zstd(a + b, Expect(5000, 6000))
    bomb = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(50_000_000))
    with pytest.raises(ValueError, match="more than"):
        bounded_zstd(sized + bomb, Expect(None, 10_000))


def _stating_nothing_then_garbage() -> bytes:
    """A frame whose header states 0 bytes, then a compressed block of 20 bytes of garbage."""
    header = bytes([0x28, 0xB5, 0x2F, 0xFD, 0x20, 0x00])  # single segment, content size 0
    return header + (1 | (2 << 1) | (20 << 3)).to_bytes(3, "little") + b"\xff" * 20


def test_a_frame_stating_no_bytes_is_decoded_not_trusted(backend):
    """The zstandard package returns b"" for a frame stating 0 bytes without decoding it; its
    blocks must still be decoded, alone and after another frame, as libzstd and numcodecs do."""
    lie = _stating_nothing_then_garbage()
    with pytest.raises(ValueError):
        libzstd.decompress(lie, bytearray(0))
    data = bytes(range(200))
    good = zstandard.ZstdCompressor().compress(data)
    with pytest.raises(RuntimeError, match="Src size is incorrect"):  # numcodecs refuses it too
        numcodecs.Zstd().decode(good + lie)
    with pytest.raises(ValueError):
        bounded_zstd(good + lie, Expect(len(data), len(data)))
    damaged = bytearray(zstandard.ZstdCompressor().compress(data * 3))
    damaged[-4] ^= 0x40
    with pytest.raises(ValueError, match=f"at byte {len(good)}"):  # the frame at fault, named by its place
        bounded_zstd(good + bytes(damaged) + good, Expect(None, 2**20))
    empty = zstandard.ZstdCompressor().compress(b"")
    assert libzstd.decompress(empty, bytearray(0)) == 0
    assert bytes(bounded_zstd(empty + good + empty, Expect(len(data), len(data)))) == data


def test_a_chunk_of_many_tiny_frames_stays_within_the_chunk_in_memory(backend):
    """20,000 empty frames before the data: the frames are walked lazily and decoded into one
    buffer of the chunk's size (a list of frames and a part per frame took about 50x the
    chunk's limit), and each frame is still checked (a lying one among them is refused)."""
    import tracemalloc

    data = np.arange(16, dtype="<f8").tobytes()
    empty = zstandard.ZstdCompressor().compress(b"")
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(b"")
    blob = (empty + unsized) * 10_000 + zstandard.ZstdCompressor().compress(data)
    assert bytes(numcodecs.Zstd().decode(blob)) == data
    tracemalloc.start()
    try:
        got = bytes(bounded_zstd(blob, Expect(len(data), 2**16)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == data
    assert peak < 256 * 1024, f"decoding {len(blob)} stored bytes into {len(data)} took a peak of {peak} bytes"
    with pytest.raises(ValueError):
        bounded_zstd(empty * 5000 + _stating_nothing_then_garbage() + empty, Expect(len(data), 2**16))


_PIECES = {  # pieces a crafted chunk of several frames is made of
    "sized": lambda d: zstandard.ZstdCompressor().compress(d),
    "unsized": lambda d: zstandard.ZstdCompressor(write_content_size=False).compress(d),
    "checksummed": lambda d: zstandard.ZstdCompressor(write_checksum=True).compress(d),
    "skippable": lambda d: (0x184D2A53).to_bytes(4, "little") + len(d).to_bytes(4, "little") + d,
    "lie": lambda d: _stating_nothing_then_garbage(),
    "truncated": lambda d: zstandard.ZstdCompressor().compress(d)[:-3],
    "garbage": lambda d: b"\x01\x02\x03" + d[:5],
    "damaged": lambda d: (lambda f: f[:-4] + bytes([f[-4] ^ 0x40]) + f[-3:])(zstandard.ZstdCompressor().compress(d * 3)),
}


def _outcome(blob, expect):
    try:
        return bytes(bounded_zstd(blob, expect))
    except ValueError:
        return ValueError


@pytest.mark.parametrize("seed", range(12))
def test_chunks_of_several_frames_decode_alike_in_c_and_in_python(monkeypatch, seed):
    """The C walk of a chunk of several frames (bound library) and the Python walk (the fallback)
    give the same bytes or both refuse, on random mixes of valid, empty, skippable and broken
    frames and totals at, under and over what the chunk may hold; valid chunks equal numcodecs'."""
    assert libzstd.BOUND
    rng = random.Random(seed)
    for _ in range(40):
        parts, total = [], b""
        for _ in range(rng.randint(2, 6)):
            kind = rng.choices(list(_PIECES), weights=[5, 4, 2, 2, 1, 1, 1, 1])[0]
            data = os.urandom(rng.choice([0, 1, 40, 3000])) if rng.random() < 0.3 else bytes(rng.choice([0, 7, 500, 9000]))
            parts.append(_PIECES[kind](data))
            if kind in ("sized", "unsized", "checksummed"):
                total += data
        blob = b"".join(parts)
        exact = len(total) + rng.choice([0, 0, 0, -1, 1])
        for expect in (Expect(exact, max(exact, 0) + 10), Expect(None, max(exact, 0))):
            if expect.limit < 0:
                continue
            fast = _outcome(blob, expect)
            with monkeypatch.context() as m:
                m.setattr(libzstd, "BOUND", False)
                slow = _outcome(blob, expect)
            assert fast == slow, (seed, [p[:12] for p in parts], expect)
            if fast is not ValueError:
                assert fast == total
                if total:  # (numcodecs refuses chunks decoding to nothing when the first frame states 0 bytes)
                    assert fast == bytes(numcodecs.Zstd().decode(blob))


def test_a_window_lie_after_a_larger_frame_of_the_same_chunk_decodes_as_numcodecs_decodes_it():
    """In a chunk of several frames the C walk decodes the frames without a size on one stream
    context (reset between them, new for each chunk), as numcodecs' one stream does: a frame
    whose matches reach past its declared window into what a larger earlier frame of the same
    chunk left decodes as numcodecs decodes it; alone, or in another chunk afterwards, it is
    still refused (the context is this chunk's only)."""
    assert libzstd.BOUND
    data = np.random.default_rng(5).integers(0, 256, size=300_000, dtype=np.uint8).tobytes() * 4
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=21, write_content_size=0)
    honest = zstandard.ZstdCompressor(compression_params=params).compress(data)
    lie = bytearray(honest)
    lie[5] = (17 - 10) << 3  # the window descriptor now says 2**17 bytes
    both = honest + bytes(lie)
    assert bytes(bounded_zstd(both, Expect(None, 2**62))) == bytes(numcodecs.Zstd().decode(both)) == data * 2
    small = zstandard.ZstdCompressor(write_content_size=False).compress(b"x" * 100)
    for chunk in (bytes(lie), small + bytes(lie)):
        with pytest.raises(ValueError, match="(?i)corrupt"):
            bounded_zstd(chunk, Expect(None, 2**62))
