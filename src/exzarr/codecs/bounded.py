"""Decoding untrusted bytes: framing is checked against the stored length before a C decoder
sees it, and no decoder produces more than the metadata says a chunk can hold.

A stored chunk is hostile input. Two classes of attack are closed here:

* **Framing lies.** A blosc header whose ``cbytes`` exceeds the buffer made c-blosc read past it
  (heap bytes returned as data, or a crash); an lz4 size prefix or a zstd frame content size can
  claim any output size. Each header is parsed here and compared with the stored length and with
  the size the chunk must decode to, and only then handed to the decoder.
* **Bombs.** zlib, gzip, bz2, lzma and zstd frames without a content size are decompressed as
  streams with an output cap (``limit``), so memory stays near the chunk size whatever a 785-byte
  file claims; lzma's decoder also gets a memory limit for its dictionary.

:class:`Expect` carries what a decode must produce: ``exact`` bytes when the metadata fixes it
(fixed-size data types), else at most ``limit`` bytes.
"""

from __future__ import annotations

import bz2 as _bz2
import itertools
import lzma as _lzma
import struct
import zlib as _zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import libzstd

try:
    import zstandard
except ImportError:  # pragma: no cover - numcodecs' zstd is the fallback
    zstandard = None

Buffer = Any

#: lzma dictionaries above this are refused (xz presets need at most 64 MiB + overhead)
LZMA_MEMLIMIT = 512 * 2**20


@dataclass(frozen=True, slots=True)
class Expect:
    """What decoding one stage must produce: ``exact`` bytes if known, never more than ``limit``."""

    exact: int | None
    limit: int

    def check(self, n: int, what: str) -> None:
        if self.exact is not None and n != self.exact:
            raise ValueError(f"{what} decodes to {n} bytes, expected {self.exact}")
        if n > self.limit:
            raise ValueError(f"{what} decodes to {n} bytes, more than the {self.limit} a chunk can hold")

    def cap(self) -> int:
        """The most bytes to let a decoder produce (one more than allowed, to detect excess)."""
        return (self.exact if self.exact is not None else self.limit) + 1


def view(data: Buffer) -> memoryview:
    if isinstance(data, np.ndarray):
        return memoryview(np.ascontiguousarray(data).reshape(-1).view(np.uint8))
    return memoryview(data).cast("B")


def into(result: Buffer, out: np.ndarray | None) -> Buffer:
    if out is None:
        return result
    target = out.reshape(-1).view(np.uint8)
    src = np.frombuffer(result, dtype=np.uint8)
    if src.size != target.size:  # pragma: no cover - sizes were checked before
        raise ValueError(f"decoded {src.size} bytes into a {target.size}-byte block")
    target[:] = src
    return out


# ----------------------------------------------------------------------------- zstd


def frame_content_size(data: Buffer) -> int:
    """The decoded size a zstd frame header states (-1 when it states none)."""
    try:
        return zstandard.frame_content_size(view(data))
    except zstandard.ZstdError as exc:
        raise ValueError(f"not a zstd frame ({exc})") from None


#: the length of the zstd frame at the start of a buffer (block headers walked)
zstd_frame_size = libzstd.frame_size


def zstd_frames(mv: memoryview) -> Iterator[tuple[int, int, int]]:
    """``(start, end, stated size or -1)`` of each zstd frame of a chunk, walked lazily; the
    chunk's bytes must be whole frames and nothing else: zstd frames (at least one) and
    skippable frames (skipped), as libzstd and so numcodecs decode them. Block headers are
    walked, so a truncated frame or bytes after the last one are refused."""
    pos, seen = 0, False
    while pos < len(mv):
        rest = mv[pos:]
        if len(rest) >= 8 and int.from_bytes(rest[:4], "little") & 0xFFFFFFF0 == _ZSTD_SKIPPABLE:
            skip = 8 + int.from_bytes(rest[4:8], "little")
            if skip > len(rest):
                raise ValueError(f"zstd chunk has a skippable frame of {skip} bytes in its last {len(rest)}")
            pos += skip
            continue
        try:
            end = zstd_frame_size(rest)
        except ValueError as exc:
            if seen:
                raise ValueError(f"zstd chunk has {len(rest)} bytes after its frames that are not a frame ({exc})") from None
            raise
        seen = True
        yield pos, pos + end, frame_content_size(rest[:end])
        pos += end
    if not seen:
        raise ValueError("zstd chunk holds no zstd frame")


_ZSTD_SKIPPABLE = 0x184D2A50


def zstd(data: Buffer, expect: Expect, out: np.ndarray | None = None) -> Buffer:
    """The frames of a zstd chunk (usually one), each one's framing and stated size checked before
    it is decompressed, their total bounded by ``expect``."""
    mv = view(data)
    if zstandard is None:  # pragma: no cover
        import numcodecs

        res = numcodecs.Zstd().decode(mv)
        expect.check(len(view(res)), "zstd frame")
        return into(res, out)
    frames = zstd_frames(mv)
    first = next(frames)
    second = next(frames, None)
    if second is None:
        start, end, size = first
        return _zstd_frame(mv[start:end], size, expect, out)
    if libzstd.BOUND:
        return _zstd_frames_c(mv, expect, out)
    return _zstd_frames(mv, itertools.chain((first, second), frames), expect, out)


def _several(mv: memoryview, expect: Expect) -> tuple[int, int, int]:
    """``(allowed, cap, first size)`` of the buffer the frames of a chunk are decoded into: ``cap``
    is one byte more than allowed (frames that fill it hold too much); the buffer has that size
    when the metadata fixes the chunk's size, else it starts smaller and grows."""
    allowed = expect.exact if expect.exact is not None else expect.limit
    cap = allowed + 1
    return allowed, cap, cap if expect.exact is not None else min(cap, max(2**20, 8 * len(mv)))


def _decoded(buf: np.ndarray, n: int, out: np.ndarray | None) -> Buffer:
    """The first ``n`` decoded bytes of ``buf``, copied into ``out`` if given; never a view that
    keeps much spare room alive."""
    if out is not None:
        return into(buf[:n], out)
    return buf[:n] if len(buf) - n <= 4096 else buf[:n].copy()


def _zstd_frames_c(mv: memoryview, expect: Expect, out: np.ndarray | None) -> Buffer:
    """A chunk of several frames decoded by the C module in one call (the frames walked and
    checked there as :func:`_zstd_frames` walks them, about 100x faster on many tiny frames),
    into a buffer of the exact size when the metadata fixes it, else one grown (and the chunk
    decoded again) while the frames fill it."""
    allowed, cap, size = _several(mv, expect)
    while True:
        buf = np.empty(size, dtype=np.uint8)
        n = libzstd.frames(mv, buf)
        if n >= 0:
            break
        if size == cap:
            raise ValueError(f"zstd chunk of several frames decodes to more than the {allowed} bytes a chunk can hold")
        size = min(cap, 4 * size)
    expect.check(n, "zstd chunk of several frames")
    return _decoded(buf, n, out)


def _zstd_frames(mv: memoryview, frames: Iterator[tuple[int, int, int]], expect: Expect, out: np.ndarray | None) -> Buffer:
    """A chunk of several frames, decoded in turn into one buffer, each frame within what the
    chunk may still hold: memory stays within about twice what the chunk may hold however many
    frames there are (a buffer of the exact size when the metadata fixes it, else one grown while
    the frames fill it), and time grows with the stored bytes."""
    allowed, cap, size = _several(mv, expect)
    buf = np.empty(size, dtype=np.uint8)
    pos = 0

    def room(n: int) -> None:  # at least n bytes from pos on (never past cap)
        nonlocal buf
        if pos + n > len(buf):
            grown = np.empty(min(cap, max(pos + n, 2 * len(buf))), dtype=np.uint8)
            grown[:pos] = buf[:pos]
            buf = grown

    def run(decoder: Callable[[Any, Any], int], frame: memoryview, dest: np.ndarray, start: int) -> int:
        try:
            return decoder(frame, dest)
        except ValueError as exc:  # the frame at fault named by its place, as the C walk names it
            raise ValueError(f"{exc} (frame at byte {start})") from None

    for start, end, size in frames:
        frame = mv[start:end]
        left = allowed - pos
        if size >= 0:
            if size > left:
                raise ValueError(
                    f"zstd frame at byte {start} decodes to {size} bytes (by its header), more than the {left} "
                    f"left of the {allowed} a chunk can hold"
                )
            room(size)
            n = run(libzstd.decompress, frame, buf[pos : pos + size], start)
            if n != size:
                raise ValueError(f"zstd frame at byte {start} decodes to {n} bytes, its header says {size}")
        else:  # no stated size: a stream capped at what is left, the buffer grown while the stream fills it
            want = min(left + 1, max(2**16, 8 * len(frame)))
            while True:
                room(want)
                n = run(libzstd.stream, frame, buf[pos : pos + want], start)
                if n < want or want == left + 1:
                    break
                want = min(left + 1, 4 * want)
            if n > left:
                raise ValueError(
                    f"zstd frame at byte {start} decodes to more than the {left} bytes left of the {allowed} a chunk can hold"
                )
        pos += n
    expect.check(pos, "zstd chunk of several frames")
    return _decoded(buf, pos, out)


def _zstd_frame(mv: memoryview, size: int, expect: Expect, out: np.ndarray | None) -> Buffer:
    """One zstd frame whose framing was checked (``size``: its stated content size, or -1)."""
    if size >= 0:
        expect.check(size, "zstd frame (by its header)")
        direct = out is not None and out.flags.c_contiguous and out.nbytes == size
        dest = out.reshape(-1).view(np.uint8) if direct else np.empty(size, dtype=np.uint8)
        n = libzstd.decompress(mv, dest)  # at most the checked size
        expect.check(n, "zstd data")
        return out if direct else into(dest, out)
    # no content size in the header: read the stream with a cap, in a buffer grown (and the
    # stream decoded again) only while the stream fills it, so memory follows the data, not the cap
    cap = expect.cap()
    size = min(cap, max(2**20, 8 * len(mv)))
    while True:
        dest = np.empty(size, dtype=np.uint8)
        n = libzstd.stream(mv, dest)
        if n < size or size == cap:
            break
        size = min(cap, 4 * size)
    expect.check(n, "zstd stream")
    return into(dest[:n], out) if out is not None else dest[:n].copy()  # (not a view keeping the spare room)


# ----------------------------------------------------------------------------- blosc

_BLOSC_MEMCPYED = 0x02
_BLOSC_MAX_OVERHEAD = 16


def blosc_header(mv: memoryview) -> tuple[int, int, int, int]:
    """``(flags, typesize, nbytes, blocksize)`` of a blosc1 chunk, after checking its framing."""
    if len(mv) < _BLOSC_MAX_OVERHEAD:
        raise ValueError(f"blosc chunk of {len(mv)} bytes is shorter than its 16-byte header")
    version, _versionlz, flags, typesize, nbytes, blocksize, cbytes = struct.unpack_from("<BBBBIII", mv, 0)
    if version not in (1, 2):
        raise ValueError(f"blosc chunk has an unknown format version {version}")
    if cbytes != len(mv):
        raise ValueError(f"blosc header claims {cbytes} compressed bytes, the chunk holds {len(mv)}")
    if typesize == 0:
        raise ValueError("blosc header has a zero typesize")
    if flags & _BLOSC_MEMCPYED:
        if cbytes != nbytes + _BLOSC_MAX_OVERHEAD:
            raise ValueError(f"blosc header of a copied chunk claims {nbytes} bytes, it holds {cbytes - 16}")
    elif nbytes:
        if blocksize == 0:
            raise ValueError("blosc header has a zero blocksize")
        nblocks = -(-nbytes // blocksize)
        table = _BLOSC_MAX_OVERHEAD + 4 * nblocks
        if table > cbytes:
            raise ValueError(f"blosc chunk of {cbytes} bytes cannot hold the offsets of its {nblocks} blocks")
        starts = np.frombuffer(mv[_BLOSC_MAX_OVERHEAD:table], dtype="<u4")
        if starts.size and (int(starts.min()) < table or int(starts.max()) >= cbytes):
            raise ValueError("blosc block offsets point outside the chunk")
    return flags, typesize, nbytes, blocksize


def blosc(data: Buffer, expect: Expect, out: np.ndarray | None = None, *, impl: Any = None) -> Buffer:
    import numcodecs

    mv = view(data)
    _, _, nbytes, _ = blosc_header(mv)
    expect.check(nbytes, "blosc chunk (by its header)")
    dest = out.reshape(-1).view(np.uint8) if out is not None else np.empty(nbytes, dtype=np.uint8)
    (impl or numcodecs.Blosc()).decode(mv, out=dest)
    return out if out is not None else dest


# ----------------------------------------------------------------------------- lz4


def lz4(data: Buffer, expect: Expect, out: np.ndarray | None = None, *, impl: Any = None) -> Buffer:
    import numcodecs

    mv = view(data)
    if len(mv) < 4:
        raise ValueError(f"lz4 chunk of {len(mv)} bytes has no size prefix")
    (size,) = struct.unpack_from("<I", mv, 0)
    expect.check(size, "lz4 block (by its size prefix)")
    dest = out.reshape(-1).view(np.uint8) if out is not None else np.empty(size, dtype=np.uint8)
    (impl or numcodecs.LZ4()).decode(mv, out=dest)
    return out if out is not None else dest


# ----------------------------------------------------------------------------- streams with a cap


def _streams(make: Callable[[], Any], mv: memoryview, expect: Expect, what: str) -> bytes:
    """Decompress (possibly concatenated) streams, never producing more than ``expect`` allows."""
    parts: list[bytes] = []
    got = 0
    cap = expect.cap()
    data: Any = mv
    while True:
        d = make()
        chunk = d.decompress(data, max_length=cap - got)
        parts.append(chunk)
        got += len(chunk)
        if got >= cap:
            raise ValueError(f"{what} decodes to more than the {cap - 1} bytes a chunk can hold")
        if not d.eof:
            raise ValueError(f"{what} is truncated")
        data = d.unused_data
        if not data:
            break
    res = b"".join(parts)
    expect.check(len(res), what)
    return res


class _Zlib:
    """zlib's decompressobj behind the interface the bz2/lzma decompressors have."""

    def __init__(self, wbits: int) -> None:
        self._d = _zlib.decompressobj(wbits)

    def decompress(self, data: Any, max_length: int) -> bytes:
        return self._d.decompress(data, max_length)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data


def zlib(data: Buffer, expect: Expect, out: np.ndarray | None = None) -> Buffer:
    return into(_streams(lambda: _Zlib(_zlib.MAX_WBITS), view(data), expect, "zlib stream"), out)


def gzip(data: Buffer, expect: Expect, out: np.ndarray | None = None) -> Buffer:
    return into(_streams(lambda: _Zlib(16 + _zlib.MAX_WBITS), view(data), expect, "gzip stream"), out)


def bz2(data: Buffer, expect: Expect, out: np.ndarray | None = None) -> Buffer:
    return into(_streams(_bz2.BZ2Decompressor, view(data), expect, "bz2 stream"), out)


def lzma(data: Buffer, expect: Expect, out: np.ndarray | None = None, *, impl: Any = None) -> Buffer:
    fmt = getattr(impl, "format", _lzma.FORMAT_AUTO)
    filters = getattr(impl, "filters", None) if fmt == _lzma.FORMAT_RAW else None

    def make() -> Any:
        if fmt == _lzma.FORMAT_RAW:
            return _lzma.LZMADecompressor(fmt, filters=filters)
        return _lzma.LZMADecompressor(fmt, memlimit=LZMA_MEMLIMIT)

    try:
        return into(_streams(make, view(data), expect, "lzma stream"), out)
    except _lzma.LZMAError as exc:
        raise ValueError(f"lzma stream cannot be decoded ({exc})") from None


#: bounded decoders by numcodecs codec id; ``impl`` is the numcodecs codec (for its settings)
DECODERS: dict[str, Callable[..., Buffer]] = {
    "zstd": lambda data, expect, out=None, impl=None: zstd(data, expect, out),
    "blosc": blosc,
    "lz4": lz4,
    "zlib": lambda data, expect, out=None, impl=None: zlib(data, expect, out),
    "gzip": lambda data, expect, out=None, impl=None: gzip(data, expect, out),
    "bz2": lambda data, expect, out=None, impl=None: bz2(data, expect, out),
    "lzma": lzma,
}

#: codec ids whose encoded size is the decoded size plus a fixed trailer or prefix
CHECKSUM_IDS = {"crc32": 4, "adler32": 4, "fletcher32": 4, "crc32c": 4}
SAME_SIZE_IDS = {"shuffle"}


def compressed_limit(n: int) -> int:
    """An upper bound on the stored size of ``n`` bytes after any compressor (their worst-case
    expansion is well under 1/8 plus a header)."""
    return n + n // 8 + 65536


def encoded_expect(codec_id: str, decoded: Expect) -> Expect:
    """What a bytes->bytes codec's encoded output can be, given what it encodes."""
    if codec_id in CHECKSUM_IDS:
        extra = CHECKSUM_IDS[codec_id]
        return Expect(None if decoded.exact is None else decoded.exact + extra, decoded.limit + extra)
    if codec_id in SAME_SIZE_IDS:
        return decoded
    return Expect(None, compressed_limit(decoded.limit))
