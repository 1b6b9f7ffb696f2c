"""The v3 ``sharding_indexed`` codec: many inner chunks stored in one object (a shard).

Layout (zarr-specs, codecs/sharding-indexed): the encoded inner chunks, in any order,
plus an index of ``(offset, nbytes)`` uint64 pairs over the full grid of inner chunks
per shard (shape ``(*chunks_per_shard, 2)``), encoded with ``index_codecs`` (default
little-endian ``bytes`` + ``crc32c``) and placed at the ``end`` (default) or ``start``.
An inner chunk equal to the fill value is left out, with ``2**64 - 1`` in both fields.

Besides whole-shard ``encode``/``decode`` (sequential: a codec never runs a thread pool), the
codec exposes the pieces the engine uses for partial and parallel I/O: :meth:`index_nbytes`,
:meth:`decode_index`, :attr:`inner_pipeline`, :meth:`encode_inner_chunk` and :meth:`assemble`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..dtypes import DataType
from ..errors import MetadataError
from .base import ArrayBytesCodec, Buffer, ChunkSpec, Codec, is_fill
from .bytes import BytesCodec
from .compressors import Crc32cCodec
from .pipeline import CodecPipeline

EMPTY = np.uint64(2**64 - 1)
#: a shard index above this is refused when the metadata is read (2**24 inner chunks per shard)
MAX_INDEX_BYTES = 16 * 2**24
_U64 = DataType(np.dtype("<u8").newbyteorder("="))

InnerIndex = tuple[int, ...]


def byte_view(data: Buffer) -> memoryview:
    """A flat byte view of any buffer (no copy)."""
    if isinstance(data, np.ndarray):
        return memoryview(np.ascontiguousarray(data).reshape(-1).view(np.uint8))
    return memoryview(data).cast("B")


class ShardingCodec(ArrayBytesCodec):
    """``sharding_indexed``: ``chunk_shape`` (inner chunks), ``codecs``, ``index_codecs``, ``index_location``.

    ``codecs`` and ``index_codecs`` are codec objects (the registry builds them from JSON).
    """

    name = "sharding_indexed"

    def __init__(
        self,
        chunk_shape: Any,
        codecs: Sequence[Codec] | None = None,
        index_codecs: Sequence[Codec] | None = None,
        index_location: str = "end",
    ) -> None:
        try:
            self.chunk_shape = tuple(int(c) for c in chunk_shape)
        except (TypeError, ValueError, OverflowError):
            raise MetadataError(f"codec 'sharding_indexed': invalid chunk_shape {chunk_shape!r}") from None
        if any(c < 1 or c > 2**63 - 1 for c in self.chunk_shape):  # () is a 0-d array's one inner chunk (tensorstore writes it)
            raise MetadataError(f"codec 'sharding_indexed': chunk_shape must be positive integers, got {chunk_shape!r}")
        if index_location not in ("start", "end"):
            raise MetadataError(f"codec 'sharding_indexed': index_location must be 'start' or 'end', got {index_location!r}")
        for c in [*(codecs or ()), *(index_codecs or ())]:
            if not isinstance(c, Codec):
                raise MetadataError(f"codec 'sharding_indexed': expected codec objects, got {c!r}")
        self.codecs: tuple[Codec, ...] = tuple(codecs) if codecs else (BytesCodec("little"),)
        self.index_codecs: tuple[Codec, ...] = tuple(index_codecs) if index_codecs else (BytesCodec("little"), Crc32cCodec())
        self.index_location = index_location
        self._spec: ChunkSpec | None = None

    def configuration(self) -> dict[str, Any]:
        inner = self._inner.codecs if self._spec is not None else self.codecs
        index = self._index.codecs if self._spec is not None else self.index_codecs
        return {
            "chunk_shape": list(self.chunk_shape),
            "codecs": [c.to_json() for c in inner],
            "index_codecs": [c.to_json() for c in index],
            "index_location": self.index_location,
        }

    # -- resolution against the shard's representation -------------------------------------
    def evolve(self, spec: ChunkSpec) -> ShardingCodec:
        if len(spec.shape) != len(self.chunk_shape):
            raise MetadataError(
                f"codec 'sharding_indexed': chunk_shape {list(self.chunk_shape)} does not match {len(spec.shape)} dimensions"
            )
        if any(s % c for s, c in zip(spec.shape, self.chunk_shape, strict=True)):
            raise MetadataError(
                f"codec 'sharding_indexed': shard shape {list(spec.shape)} is not a multiple of "
                f"the inner chunk shape {list(self.chunk_shape)}"
            )
        cps = tuple(s // c for s, c in zip(spec.shape, self.chunk_shape, strict=True))
        if 16 * math.prod(cps) > MAX_INDEX_BYTES:
            raise MetadataError(
                f"codec 'sharding_indexed': {math.prod(cps)} inner chunks per shard need a "
                f"{16 * math.prod(cps)}-byte index, more than the {MAX_INDEX_BYTES} exzarr reads"
            )
        out = ShardingCodec(self.chunk_shape, self.codecs, self.index_codecs, self.index_location)
        out._spec = spec
        out.cps = cps
        out._inner = CodecPipeline(self.codecs, ChunkSpec(self.chunk_shape, spec.dtype, spec.fill_value))
        out._index = CodecPipeline(self.index_codecs, ChunkSpec((*out.cps, 2), _U64, None))
        for c in out._index.codecs:
            if c.name not in ("bytes", "crc32c", "transpose"):
                raise MetadataError(f"codec 'sharding_indexed': index_codecs must have a fixed size; {c.name!r} does not")
        probe = out._index.encode(np.zeros((*out.cps, 2), dtype=_U64.numpy))
        out._index_nbytes = len(byte_view(probe))
        return out

    def _ready(self) -> None:
        if self._spec is None:  # pragma: no cover - pipelines always evolve codecs first
            raise MetadataError("codec 'sharding_indexed' used before it was resolved against a chunk")

    @property
    def shard_shape(self) -> tuple[int, ...]:
        """The shape of one shard (the chunk this codec encodes)."""
        self._ready()
        return self._spec.shape  # type: ignore[union-attr]

    @property
    def inner_pipeline(self) -> CodecPipeline:
        self._ready()
        return self._inner

    @property
    def fill_value(self) -> Any:
        """The fill value: inner chunks equal to it everywhere are left out of a shard."""
        self._ready()
        return self._spec.fill_value  # type: ignore[union-attr]

    @property
    def index_pipeline(self) -> CodecPipeline:
        self._ready()
        return self._index

    def encoded_limit(self) -> int:
        """The most bytes a stored shard can hold: every inner chunk at its largest, plus the index."""
        self._ready()
        return math.prod(self.cps) * self._inner.stored_limit + self._index_nbytes

    def index_nbytes(self) -> int:
        self._ready()
        return self._index_nbytes

    def decode_index(self, data: Buffer) -> np.ndarray:
        """The ``(*chunks_per_shard, 2)`` uint64 index from its encoded bytes."""
        self._ready()
        if len(byte_view(data)) != self._index_nbytes:
            raise ValueError(f"shard index must be {self._index_nbytes} bytes, got {len(byte_view(data))}")
        return np.asarray(self._index.decode(data), dtype=np.uint64)

    def index_bytes_of(self, shard: Buffer) -> memoryview:
        """The encoded index inside a whole shard's bytes."""
        n = self._index_nbytes
        mv = byte_view(shard)
        if len(mv) < n:
            raise ValueError(f"shard of {len(mv)} bytes is too short for its {n}-byte index")
        return mv[:n] if self.index_location == "start" else mv[len(mv) - n :]

    def inner_indices(self) -> list[InnerIndex]:
        return list(itertools.product(*(range(n) for n in self.cps)))

    def region(self, idx: InnerIndex) -> tuple[slice, ...]:
        """Where inner chunk ``idx`` lies in the shard."""
        return tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, self.chunk_shape, strict=True))

    def stored_range(self, index: np.ndarray, idx: InnerIndex, shard_nbytes: int | None = None) -> tuple[int, int] | None:
        """``(offset, nbytes)`` of inner chunk ``idx``, ``None`` when it is absent; entries that point
        outside the shard (when its size is known) raise."""
        off, n = index[idx]
        if off == EMPTY and n == EMPTY:
            return None
        off, n = int(off), int(n)
        if shard_nbytes is not None and off + n > shard_nbytes:
            raise ValueError(f"inner chunk {idx} points outside the shard ({off}+{n} > {shard_nbytes} bytes)")
        return off, n

    # -- encoding ----------------------------------------------------------------------------
    def encode_inner_chunk(self, arr: np.ndarray) -> bytes | None:
        """One inner chunk's stored bytes, or ``None`` when it equals the fill value (left out)."""
        self._ready()
        if arr.dtype.kind != "O":
            arr = np.ascontiguousarray(arr)  # the one copy of this inner chunk; checks and codecs reuse it
        if is_fill(arr, self._spec.fill_value):  # type: ignore[union-attr]
            return None
        out = self._inner.encode(arr)
        if isinstance(out, list):  # nested sharding returns parts
            return b"".join(out)
        return out if isinstance(out, bytes) else bytes(byte_view(out))

    def assemble(self, encoded: Mapping[InnerIndex, bytes | None]) -> list[bytes]:
        """A shard from its inner chunks' stored bytes (absent or ``None``: left out), as a list of
        parts (index and chunks, in file order) that stores write without joining them."""
        self._ready()
        index = np.full((*self.cps, 2), EMPTY, dtype=np.uint64)
        base = self._index_nbytes if self.index_location == "start" else 0
        parts: list[bytes] = []
        offset = base
        for idx in self.inner_indices():  # C order
            b = encoded.get(idx)
            if b is None:
                continue
            index[idx] = (offset, len(b))
            parts.append(b)
            offset += len(b)
        idx_raw = bytes(byte_view(self._index.encode(index.astype(_U64.numpy))))
        return [idx_raw, *parts] if self.index_location == "start" else [*parts, idx_raw]

    @staticmethod
    def is_empty(parts: list[Any]) -> bool:
        """Whether an assembled shard holds no inner chunk: only its index."""
        return len(parts) == 1

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> list[bytes]:
        """The encoded shard as a list of parts (inner chunks and index); joined by the
        pipeline only when a bytes->bytes codec follows the sharding codec."""
        self._ready()
        return self.assemble({idx: self.encode_inner_chunk(chunk[self.region(idx)]) for idx in self.inner_indices()})

    # -- decoding ----------------------------------------------------------------------------
    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        self._ready()
        raw = byte_view(data)
        index = self.decode_index(self.index_bytes_of(raw))
        out = np.full(spec.shape, spec.fill_value, dtype=spec.dtype.numpy)
        for idx in self.inner_indices():
            where = self.stored_range(index, idx, len(raw))
            if where is not None:
                off, n = where
                out[self.region(idx)] = self._inner.decode(raw[off : off + n])
        return out


def shard_ranges(
    index: np.ndarray, wanted: list[InnerIndex], *, gap: int = 0, limit: int | None = None, size: int | None = None
) -> list[tuple[int, int, list[tuple[InnerIndex, int, int]]]]:
    """Merge the byte ranges of ``wanted`` inner chunks: ``[(start, stop, [(idx, off, n), ...]), ...]``.

    Chunks absent from the shard are skipped. Ranges closer than ``gap`` bytes are merged, so
    adjacent inner chunks cost one request. An entry larger than ``limit`` (what an inner chunk
    can hold) or reaching past ``size`` (the shard's length, when known) raises ``ValueError``.
    """
    present = []
    for idx in wanted:
        off, n = (int(v) for v in index[idx])
        if off == int(EMPTY) and n == int(EMPTY):
            continue
        if limit is not None and n > limit:
            raise ValueError(f"inner chunk {idx} claims {n} bytes, more than the {limit} it can hold")
        if size is not None and off + n > size:
            raise ValueError(f"inner chunk {idx} points outside the shard ({off}+{n} > {size} bytes)")
        present.append((off, n, idx))
    present.sort()
    merged: list[tuple[int, int, list[tuple[InnerIndex, int, int]]]] = []
    for off, n, idx in present:
        if merged and off <= merged[-1][1] + gap:
            start, stop, members = merged[-1]
            merged[-1] = (start, max(stop, off + n), [*members, (idx, off, n)])
        else:
            merged.append((off, off + n, [(idx, off, n)]))
    return merged
