"""The one libzstd exzarr decodes and encodes zstd with, on every path.

exzarr's C loops (:mod:`exzarr.engine.native`) and its Python zstd codec must accept and refuse
exactly the same frames: libzstd versions differ in the damage they detect (the system's 1.5.4
decodes frames that 1.5.6 and later refuse), and a fast path that returns values where its plain
twin raises is the bug a storage library must not have. So one library is chosen here, once per
process, and handed to the C module (``exzarr._native.use_zstd``); when that succeeds, the Python
path also decodes and encodes through the C module (:func:`decompress`, :func:`stream`,
:func:`compress`, and :func:`frames` for chunks of several frames); one-shot decodes and
compression on the same per-thread contexts as the C loops, a stream decode on a context of its
own (a new one per frame; one per chunk in :func:`frames`).

Which library: the one inside numcodecs (the build zarr-python decodes with, so exzarr accepts
and refuses what zarr-python does, and it includes zstd's assembly Huffman decoder: reads here were about 7%
faster than with the single-file build in the ``zstandard`` package); else the one inside
``zstandard`` (its cffi backend). A library older than :data:`MIN_VERSION` is not used. When
neither can be bound (no C module, neither library exposes its functions, or both are older than
:data:`MIN_VERSION`), every zstd call
goes through the ``zstandard`` package and the C loops leave zstd chunks to the Python path.

>>> from exzarr.codecs import libzstd
>>> frame = libzstd.compress(bytes(1000), 3, False)
>>> out = bytearray(1000)
>>> libzstd.decompress(frame, out), out == bytes(1000)
(1000, True)
"""

from __future__ import annotations

import threading
from typing import Any

try:
    import zstandard
except ImportError:  # pragma: no cover - a dependency; without it zstd goes through numcodecs only
    zstandard = None

try:
    from .. import _native
except ImportError:  # pragma: no cover - built by `pip install` wherever a C compiler is present
    _native = None

__all__ = ["BOUND", "LIBRARY", "MIN_VERSION", "compress", "decompress", "frame_size", "stream"]

#: the libzstd functions the C module calls (exzarr._native.use_zstd)
FUNCTIONS = ("ZSTD_createDCtx", "ZSTD_freeDCtx", "ZSTD_decompressDCtx", "ZSTD_isError", "ZSTD_getFrameContentSize",
             "ZSTD_findFrameCompressedSize", "ZSTD_DCtx_reset", "ZSTD_decompressStream", "ZSTD_sizeof_DCtx",
             "ZSTD_createCCtx", "ZSTD_freeCCtx", "ZSTD_CCtx_setParameter", "ZSTD_CCtx_reset", "ZSTD_compress2",
             "ZSTD_compressBound", "ZSTD_sizeof_CCtx", "ZSTD_getErrorName")  # fmt: skip

#: the oldest libzstd used (1.5.6): 1.5.4 decodes damaged frames that later versions refuse
MIN_VERSION = 10506


def _version_text(number: int) -> str:
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"


def numcodecs_functions() -> tuple[dict[str, int], int] | None:
    """The addresses and version of the libzstd inside numcodecs' ``zstd`` extension (it exports
    them), or None when that module does not expose every function."""
    try:
        import ctypes

        import numcodecs.zstd as nz

        lib = ctypes.CDLL(nz.__file__)
        lib.ZSTD_versionNumber.restype = ctypes.c_uint
        version = int(lib.ZSTD_versionNumber())
        funcs = {n: ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in FUNCTIONS}
    except Exception:  # not a shared object exposing libzstd (another build of numcodecs)
        return None
    if any(not a for a in funcs.values()):
        return None
    return {n: int(a) for n, a in funcs.items() if a}, version


def zstandard_functions() -> tuple[dict[str, int], int] | None:
    """The addresses and version of the libzstd inside the ``zstandard`` package (its cffi backend),
    or None when that backend cannot be loaded (no cffi)."""
    try:
        from zstandard import _cffi  # type: ignore[attr-defined]

        funcs = {n: int(_cffi.ffi.cast("uintptr_t", _cffi.ffi.addressof(_cffi.lib, n))) for n in FUNCTIONS}
        return funcs, int(_cffi.lib.ZSTD_versionNumber())
    except Exception:
        return None


def _bind() -> str | None:
    """Hand the first usable library to the C module; its description, or None."""
    if _native is None:
        return None
    for name, find in (("numcodecs", numcodecs_functions), ("zstandard", zstandard_functions)):
        found = find()
        if found is None or found[1] < MIN_VERSION:
            continue
        try:
            if _native.use_zstd(found[0]):
                return f"libzstd {_version_text(found[1])} (from {name})"
        except RuntimeError:  # another library was bound first (not by this module): leave zstd to zstandard
            return None
    return None


#: which libzstd the C module and the Python path share (None: the ``zstandard`` package alone)
LIBRARY: str | None = _bind()
#: whether zstd goes through the C module on every path
BOUND: bool = LIBRARY is not None

_tls = threading.local()


def _compressor(level: int, checksum: bool) -> Any:
    """A per-thread reusable ``zstandard`` compressor (reusing the context is ~1.6x faster than a new one)."""
    cache = getattr(_tls, "cctx", None)
    if cache is None:
        cache = _tls.cctx = {}
    c = cache.get((level, checksum))
    if c is None:
        c = cache[(level, checksum)] = zstandard.ZstdCompressor(level=level, write_checksum=checksum, write_content_size=True)
    return c


def _dctx() -> Any:
    d = getattr(_tls, "dctx", None)
    if d is None:
        d = _tls.dctx = zstandard.ZstdDecompressor()
    return d


_MAGIC = 0xFD2FB528


def frame_size(mv: memoryview) -> int:
    """The length of the zstd frame at the start of ``mv``, walked block header by block header.

    Walking the blocks finds a truncated frame and a corrupt block header that ends the frame
    early; the caller then knows exactly which bytes follow the frame (another frame, or bytes
    that are not one and are refused)."""
    if len(mv) < 6 or int.from_bytes(mv[:4], "little") != _MAGIC:
        raise ValueError("not a zstd frame (bad magic number)")
    fhd = mv[4]
    try:
        pos = zstandard.frame_header_size(mv[:18])
    except zstandard.ZstdError as exc:
        raise ValueError(f"not a zstd frame ({exc})") from None
    while True:
        if pos + 3 > len(mv):
            raise ValueError("zstd frame is truncated inside a block header")
        b = int.from_bytes(mv[pos : pos + 3], "little")
        last, btype, bsize = b & 1, (b >> 1) & 3, b >> 3
        if btype == 3:
            raise ValueError("zstd frame has a reserved block type")
        pos += 3 + (1 if btype == 1 else bsize)
        if last:
            break
    if fhd & 0x04:  # content checksum
        pos += 4
    if pos > len(mv):
        raise ValueError(f"zstd frame is truncated ({len(mv)} of {pos} bytes)")
    return pos


def _one_frame(src: Any) -> memoryview:
    mv = memoryview(src).cast("B")
    if frame_size(mv) != len(mv):
        raise ValueError("zstd decompression error: bytes after the frame")
    return mv


def decompress(src: Any, dst: Any) -> int:
    """Decode ``src``, exactly one zstd frame, into the writable buffer ``dst`` in one call; the
    bytes written. ValueError when ``src`` is not one frame, is corrupt, or decodes to more than
    ``len(dst)`` bytes."""
    if BOUND:
        return _native.zstd_decompress(src, dst)
    src = _one_frame(src)
    out = memoryview(dst).cast("B")
    try:
        if zstandard.frame_content_size(src) == 0:
            # the package returns b"" for a frame stating 0 bytes without decoding its blocks:
            # decode them (a frame of garbage blocks is refused, as libzstd refuses it)
            with zstandard.ZstdDecompressor().stream_reader(src) as reader:
                res = reader.read(1)
        else:
            res = _dctx().decompress(src, max_output_size=len(out))
    except zstandard.ZstdError as exc:
        raise ValueError(f"zstd decompression error: {exc}") from None
    if len(res) > len(out):
        raise ValueError(f"zstd decompression error: {len(res)} bytes do not fit in {len(out)}")
    out[: len(res)] = res
    return len(res)


def stream(src: Any, dst: Any) -> int:
    """Decode ``src``, exactly one zstd frame, as a stream into ``dst`` until ``dst`` is full or
    the frame ends (the window limited to 2**27 bytes, zstd's default); the bytes written. Each
    call has a new context, so matches reaching past the frame's declared window are refused
    whatever was decoded before (a reused context keeps a larger history buffer)."""
    if BOUND:
        return _native.zstd_stream(src, dst)
    src = _one_frame(src)
    out = memoryview(dst).cast("B")
    got = 0
    try:
        with zstandard.ZstdDecompressor().stream_reader(src) as reader:  # a new context, as in the C module
            while got < len(out):  # readinto may return short counts
                n = reader.readinto(out[got:])
                if not n:
                    break
                got += n
    except zstandard.ZstdError as exc:
        raise ValueError(f"zstd decompression error: {exc}") from None
    return got


def frames(src: Any, dst: Any) -> int:
    """Decode ``src``, whole zstd and skippable frames (at least one zstd frame), into ``dst``
    one after the other; the bytes written, or -1 when they hold more than ``len(dst)``. Only
    with the bound library (:data:`BOUND`): the fallback walks the frames in Python
    (:func:`exzarr.codecs.bounded.zstd`). ValueError when a frame is corrupt or the bytes are not
    whole frames."""
    return _native.zstd_frames(src, dst)


def compress(src: Any, level: int, checksum: bool) -> bytes:
    """One zstd frame of ``src`` at ``level`` stating its content size (with a checksum if asked)."""
    if BOUND:
        return _native.zstd_compress(src, level, checksum)
    return _compressor(level, checksum).compress(src)
