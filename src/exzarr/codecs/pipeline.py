"""The codec pipeline: array->array codecs, one array->bytes codec, then bytes->bytes codecs.

Built once per array from the codec list and the chunk representation, so the
per-chunk path is just a loop over pre-resolved codecs. It also works out, once, what every
decoding stage must produce (:class:`~exzarr.codecs.bounded.Expect`): the exact byte count
of a chunk of a fixed-size data type, carried through checksums and compressors, so each
decoder is told how much it may output before it sees a byte (:mod:`exzarr.codecs.bounded`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..config import config
from ..errors import MetadataError
from .base import ArrayArrayCodec, ArrayBytesCodec, Buffer, BytesBytesCodec, ChunkSpec, Codec
from .bounded import Expect


class CodecPipeline:
    """Encode and decode whole chunks through a validated v3-style codec chain."""

    def __init__(self, codecs: Sequence[Codec], spec: ChunkSpec) -> None:
        aa: list[tuple[ArrayArrayCodec, ChunkSpec]] = []
        ab: tuple[ArrayBytesCodec, ChunkSpec] | None = None
        bb: list[BytesBytesCodec] = []
        resolved: list[Codec] = []
        cur = spec
        for c in codecs:
            c = c.evolve(cur)
            resolved.append(c)
            if isinstance(c, ArrayArrayCodec):
                if ab is not None:
                    raise MetadataError(f"codecs: array->array codec {c.name!r} must come before the array->bytes codec")
                aa.append((c, cur))
                cur = c.resolve(cur)
            elif isinstance(c, ArrayBytesCodec):
                if ab is not None:
                    raise MetadataError(f"codecs: more than one array->bytes codec ({ab[0].name!r}, {c.name!r})")
                ab = (c, cur)
            elif isinstance(c, BytesBytesCodec):
                if ab is None:
                    raise MetadataError(f"codecs: bytes->bytes codec {c.name!r} must come after the array->bytes codec")
                bb.append(c)
            else:
                raise MetadataError(f"codecs: {c!r} is not a codec")
        if ab is None:
            raise MetadataError("codecs: exactly one array->bytes codec (e.g. 'bytes') is required")
        self.codecs: tuple[Codec, ...] = tuple(resolved)
        self.spec = spec
        self._aa = aa
        self._ab = ab
        self._bb = bb
        # expects[i]: what bytes->bytes stage i decodes to (expects[0]: the array->bytes encoding);
        # expects[-1]: the most a stored chunk can hold
        self.expects = [self._serialized_expect()]
        for b in bb:
            self.expects.append(b.encoded_expect(self.expects[-1]))
        self._fast = self._fast_decoder()
        self._fast_enc = self._fast_encoder()
        self.decode_into = self._into_decoder()
        self.decode_rows = self._rows_decoder()
        self.native_codec = self._native_codec()

    def _native_codec(self) -> str | None:
        """``"raw"`` when a stored chunk is the chunk's own bytes, ``"zstd"`` when it is one zstd
        frame of them, else ``None``: the chains whose local reads :mod:`exzarr.engine.native`
        decodes in C (fixed-size elements, no array->array codec, bytes as they are in memory)."""
        if self._fast is None:
            return None
        if not self._bb:
            return "raw"
        from .compressors import ZstdCodec

        b = self._bb[0]
        if len(self._bb) == 1 and (isinstance(b, ZstdCodec) or getattr(b, "codec_id", None) == "zstd"):
            return "zstd"
        return None

    @property
    def native_encoding(self) -> tuple[str, int, bool] | None:
        """``(codec, level, checksum)`` when :mod:`exzarr.engine.native` can encode chunks of this
        chain in C (what :attr:`native_codec` decodes), else ``None``."""
        codec = self.native_codec
        if codec is None:
            return None
        if codec == "raw":
            return "raw", 0, False
        impl = self._bb[0]
        impl = getattr(impl, "codec", impl)  # a v2 numcodecs codec, or the v3 codec itself
        level, checksum = getattr(impl, "level", None), getattr(impl, "checksum", False)
        if not isinstance(level, int) or not isinstance(checksum, bool):
            return None
        return "zstd", level, checksum

    def _serialized_expect(self) -> Expect:
        """What the array->bytes codec produces: exact for fixed-size data types, else a bound."""
        from .bytes import BytesCodec, V2ArrayBytesCodec

        ab, spec = self._ab
        nd = spec.dtype.numpy
        if nd.kind != "O" and (isinstance(ab, BytesCodec) or (isinstance(ab, V2ArrayBytesCodec) and not ab.filters)):
            n = math.prod(spec.shape) * nd.itemsize
            return Expect(n, n)
        bound = getattr(ab, "encoded_limit", None)
        if bound is not None:
            return Expect(None, bound())
        return Expect(None, config.max_chunk_bytes)

    @property
    def stored_limit(self) -> int:
        """The most bytes a stored chunk of this pipeline can hold."""
        return self.expects[-1].limit

    def _rows_decoder(self) -> Callable[[Buffer, int], np.ndarray] | None:
        """``decode_rows(data, k)``: only the first ``k`` rows (along axis 0) of a chunk stored
        without a compressor (C order: those rows are a prefix of its bytes, whose length is checked
        whole), without copying the rest.

        Compressed chunks are always decoded whole, zstd included although it streams: a prefix
        never reaches the blocks after it (nor the frame checksum), so a chunk damaged past the rows
        read would return them where a whole read, and zarr-python, refuse the chunk."""
        if self._fast is None or self._bb or not self.spec.shape:
            return None
        shape, nd = self.spec.shape, self.spec.dtype.numpy
        row_bytes = math.prod(shape[1:]) * nd.itemsize

        def raw_rows(data: Buffer, k: int) -> np.ndarray:
            buf = np.frombuffer(data, dtype=np.uint8)
            if buf.size != math.prod(shape) * nd.itemsize:
                raise ValueError(f"expected {math.prod(shape) * nd.itemsize} bytes for a {shape} chunk, got {buf.size}")
            return buf[: k * row_bytes].view(nd).reshape((k, *shape[1:]))

        return raw_rows

    def _fast_encoder(self) -> Callable[[np.ndarray], Buffer] | None:
        """Encoding for the same common chains as :meth:`_fast_decoder`: one contiguous byte
        view, then the compressors, with no per-codec dispatch."""
        if self._fast is None:
            return None
        encoders = [b.encode for b in self._bb]
        dtype = self.spec.dtype.numpy

        def encode(chunk: np.ndarray) -> Buffer:
            arr = np.ascontiguousarray(chunk, dtype=dtype)
            data: Buffer = memoryview(arr.reshape(-1).view(np.uint8))
            for e in encoders:
                data = e(data)
            return data

        return encode

    def _into_decoder(self) -> Callable[[Buffer, np.ndarray], None] | None:
        """``decode_into(data, out)`` for chains whose last decode step can write into a
        caller's buffer (no compressor, or one numcodecs compressor taking ``out=``): the
        engine uses it when a chunk's destination is one contiguous block of the output."""
        if self._fast is None or len(self._bb) > 1:
            return None
        nbytes = math.prod(self.spec.shape) * self.spec.dtype.numpy.itemsize
        if not self._bb:

            def copy_into(data: Buffer, out: np.ndarray) -> None:
                src = np.frombuffer(data, dtype=np.uint8)
                if src.size != nbytes:
                    raise ValueError(f"expected {nbytes} bytes for a {self.spec.shape} chunk, got {src.size}")
                out.reshape(-1).view(np.uint8)[:] = src

            return copy_into
        codec, expect = self._bb[0], self.expects[0]
        bounded_decode = codec.decode_bounded

        def decompress_into(data: Buffer, out: np.ndarray) -> None:
            if out.nbytes != nbytes:  # pragma: no cover - guarded by the caller
                raise ValueError("decode_into: output block has the wrong size")
            bounded_decode(data, expect, out)

        return decompress_into

    def _fast_decoder(self) -> Callable[[Buffer], np.ndarray] | None:
        """For the common chain ``bytes`` (native order) + compressors, a decoder without the
        generic per-codec dispatch: the chunk path then costs one call beyond the decompressor."""
        from .bytes import BytesCodec, V2ArrayBytesCodec, _needs_endian, _with_order

        ab, spec = self._ab
        nd = spec.dtype.numpy
        if self._aa or nd.kind == "O":
            return None
        if isinstance(ab, V2ArrayBytesCodec):
            if ab.filters:
                return None  # v2 without filters: raw elements in the declared dtype (byte order included)
        elif not isinstance(ab, BytesCodec) or _with_order(nd, ab.endian if _needs_endian(nd) else None) != nd:
            return None
        shape = spec.shape
        nbytes = math.prod(shape) * nd.itemsize
        decoders = [(b.decode_bounded, e) for b, e in reversed(list(zip(self._bb, self.expects, strict=False)))]

        def decode(data: Buffer) -> np.ndarray:
            for d, e in decoders:
                data = d(data, e)
            arr = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).reshape(-1)
            if arr.size != nbytes:
                raise ValueError(f"expected {nbytes} bytes for a {shape} {nd} chunk, got {arr.size}")
            return arr.view(nd).reshape(shape)

        return decode

    def __reduce__(self) -> tuple[Any, ...]:
        # the fast paths are closures (and thread-local contexts): rebuild them from the chain
        return (CodecPipeline, (self.codecs, self.spec))

    @property
    def array_array_codecs(self) -> tuple[ArrayArrayCodec, ...]:
        return tuple(c for c, _ in self._aa)

    @property
    def array_bytes_codec(self) -> ArrayBytesCodec:
        return self._ab[0]

    @property
    def bytes_bytes_codecs(self) -> tuple[BytesBytesCodec, ...]:
        return tuple(self._bb)

    def encode(self, chunk: np.ndarray) -> Buffer:
        if self._fast_enc is not None:
            return self._fast_enc(chunk)
        for codec, spec in self._aa:
            chunk = codec.encode(chunk, spec)
        ab, spec = self._ab
        data = ab.encode(chunk, spec)
        if isinstance(data, list) and self._bb:  # sharding hands back parts; compressors need one buffer
            data = b"".join(data)
        for b in self._bb:
            data = b.encode(data)
        return data

    def decode(self, data: Buffer) -> np.ndarray:
        if self._fast is not None:
            return self._fast(data)
        for b, e in reversed(list(zip(self._bb, self.expects, strict=False))):
            data = b.decode_bounded(data, e)
        ab, spec = self._ab
        chunk = ab.decode(data, spec)
        for codec, spec in reversed(self._aa):
            chunk = codec.decode(chunk, spec)
        return chunk
