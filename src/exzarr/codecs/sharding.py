"""The v3 ``sharding_indexed`` codec: many inner chunks stored in one object (a shard).

Layout (zarr-specs, codecs/sharding-indexed): the encoded inner chunks, in any order,
plus an index of ``(offset, nbytes)`` uint64 pairs over the full grid of inner chunks
per shard (shape ``(*chunks_per_shard, 2)``), encoded with ``index_codecs`` (default
little-endian ``bytes`` + ``crc32c``) and placed at the ``end`` (default) or ``start``.
An inner chunk equal to the fill value is left out, with ``2**64 - 1`` in both fields.

Besides whole-shard ``encode``/``decode``, the codec exposes the pieces the engine uses
for partial I/O: :meth:`index_nbytes`, :meth:`decode_index`, :meth:`inner_pipeline`.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..dtypes import DataType
from ..errors import MetadataError
from .base import ArrayBytesCodec, Buffer, ChunkSpec, Codec
from .pipeline import CodecPipeline

EMPTY = np.uint64(2**64 - 1)
_U64 = DataType(np.dtype("<u8").newbyteorder("="))


class ShardingCodec(ArrayBytesCodec):
    """``sharding_indexed``: ``chunk_shape`` (inner chunks), ``codecs``, ``index_codecs``, ``index_location``."""

    name = "sharding_indexed"

    def __init__(
        self,
        chunk_shape: Any,
        codecs: Any = None,
        index_codecs: Any = None,
        index_location: str = "end",
    ) -> None:
        from . import BytesCodec, Crc32cCodec, codec_from_json  # circular at import time

        try:
            self.chunk_shape = tuple(int(c) for c in chunk_shape)
        except (TypeError, ValueError):
            raise MetadataError(f"codec 'sharding_indexed': invalid chunk_shape {chunk_shape!r}") from None
        if not self.chunk_shape or any(c < 1 for c in self.chunk_shape):
            raise MetadataError(f"codec 'sharding_indexed': chunk_shape must be positive integers, got {chunk_shape!r}")
        if index_location not in ("start", "end"):
            raise MetadataError(f"codec 'sharding_indexed': index_location must be 'start' or 'end', got {index_location!r}")
        self.codecs: tuple[Codec, ...] = tuple(
            c
            for c in (codec_from_json(c, field="sharding_indexed.codecs") for c in (codecs or [BytesCodec("little")]))
            if c is not None
        )
        self.index_codecs: tuple[Codec, ...] = tuple(
            c
            for c in (
                codec_from_json(c, field="sharding_indexed.index_codecs")
                for c in (index_codecs or [BytesCodec("little"), Crc32cCodec()])
            )
            if c is not None
        )
        self.index_location = index_location
        self._spec: ChunkSpec | None = None

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ShardingCodec:
        if "chunk_shape" not in cfg:
            raise MetadataError("codec 'sharding_indexed': missing chunk_shape")
        return cls(cfg["chunk_shape"], cfg.get("codecs"), cfg.get("index_codecs"), cfg.get("index_location", "end"))

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
        out = ShardingCodec(self.chunk_shape, self.codecs, self.index_codecs, self.index_location)
        out._spec = spec
        out.cps = tuple(s // c for s, c in zip(spec.shape, self.chunk_shape, strict=True))
        out._inner = CodecPipeline(self.codecs, ChunkSpec(self.chunk_shape, spec.dtype, spec.fill_value))
        out._index = CodecPipeline(self.index_codecs, ChunkSpec((*out.cps, 2), _U64, None))
        probe = out._index.encode(np.zeros((*out.cps, 2), dtype=_U64.numpy))
        out._index_nbytes = len(memoryview(probe).cast("B")) if not isinstance(probe, np.ndarray) else probe.nbytes
        for c in out._index.codecs:
            if c.name not in ("bytes", "crc32c", "transpose"):
                raise MetadataError(f"codec 'sharding_indexed': index_codecs must have a fixed size; {c.name!r} does not")
        return out

    def _ready(self) -> None:
        if self._spec is None:  # pragma: no cover - pipelines always evolve codecs first
            raise MetadataError("codec 'sharding_indexed' used before it was resolved against a chunk")

    @property
    def inner_pipeline(self) -> CodecPipeline:
        self._ready()
        return self._inner

    def index_nbytes(self) -> int:
        self._ready()
        return self._index_nbytes

    def decode_index(self, data: Buffer) -> np.ndarray:
        """The ``(*chunks_per_shard, 2)`` uint64 index from its encoded bytes."""
        self._ready()
        if len(memoryview(data).cast("B") if not isinstance(data, np.ndarray) else data.reshape(-1)) != self._index_nbytes:
            raise ValueError(f"shard index must be {self._index_nbytes} bytes")
        return np.asarray(self._index.decode(data), dtype=np.uint64)

    def index_bytes_of(self, shard: Buffer) -> Buffer:
        n = self._index_nbytes
        mv = memoryview(shard).cast("B") if not isinstance(shard, np.ndarray) else memoryview(shard.reshape(-1).view(np.uint8))
        if len(mv) < n:
            raise ValueError(f"shard of {len(mv)} bytes is too short for its {n}-byte index")
        return mv[:n] if self.index_location == "start" else mv[len(mv) - n :]

    # -- whole shards ------------------------------------------------------------------------
    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer | list[bytes]:
        """The encoded shard as a list of parts (inner chunks and index); joined by the
        pipeline only when a bytes->bytes codec follows the sharding codec."""
        self._ready()
        return self.encode_inner(
            {
                idx: chunk[tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, self.chunk_shape, strict=True))]
                for idx in self.inner_indices()
            }
        )

    def inner_indices(self) -> list[tuple[int, ...]]:
        return list(itertools.product(*(range(n) for n in self.cps)))

    def encode_inner(
        self, chunks: dict[tuple[int, ...], np.ndarray | None], *, raw: dict[tuple[int, ...], bytes] | None = None
    ) -> bytes:
        """Assemble a shard from decoded inner chunks (``None`` or all-fill: left out) and/or
        already-encoded inner chunks (``raw``, copied as they are). Inner chunks are encoded in
        parallel on the engine when called outside a worker."""
        from ..engine.executor import run_tasks

        fill = self._spec.fill_value  # type: ignore[union-attr]
        todo = [(i, a) for i, a in chunks.items() if a is not None]
        encoded: dict[tuple[int, ...], bytes] = dict(raw or {})

        def enc(item: tuple[tuple[int, ...], np.ndarray]) -> None:
            idx, arr = item
            if arr.dtype.kind != "O":
                arr = np.ascontiguousarray(arr)  # the one copy of this inner chunk; checks and codecs reuse it
            if all_fill(arr, fill):
                return
            out = self._inner.encode(arr)
            if isinstance(out, list):  # nested sharding returns parts
                out = b"".join(out)
            encoded[idx] = out if isinstance(out, bytes) else bytes(out)

        run_tasks(enc, todo)
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
        idx_bytes = self._index.encode(index.astype(_U64.numpy))
        idx_raw = bytes(memoryview(idx_bytes).cast("B")) if not isinstance(idx_bytes, np.ndarray) else idx_bytes.tobytes()
        # the shard as a list of parts: stores write them without first joining them into one buffer
        return [idx_raw, *parts] if self.index_location == "start" else [*parts, idx_raw]

    def is_empty(self, parts: list[Any]) -> bool:
        """Whether an encoded shard (as parts) holds no inner chunk: only its index."""
        return len(parts) == 1

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        self._ready()
        raw = bytes(memoryview(data).cast("B")) if not isinstance(data, bytes) else data
        index = self.decode_index(self.index_bytes_of(raw))
        out = np.full(spec.shape, spec.fill_value, dtype=spec.dtype.numpy)
        for idx in self.inner_indices():
            off, n = (int(v) for v in index[idx])
            if off == int(EMPTY) and n == int(EMPTY):
                continue
            if off + n > len(raw):
                raise ValueError(f"inner chunk {idx} points outside the shard ({off}+{n} > {len(raw)} bytes)")
            region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, self.chunk_shape, strict=True))
            out[region] = self._inner.decode(raw[off : off + n])
        return out


def all_fill(arr: np.ndarray, fill: Any) -> bool:
    """Bit-exact "every element equals ``fill``" (NaN equals NaN, -0.0 differs from 0.0).

    Looks at the first and last elements before scanning (most chunks differ there), and
    never copies a non-contiguous view just to decide."""
    if arr.dtype.kind == "O":
        return all(x == fill for x in arr.reshape(-1))
    if not arr.size:
        return True
    one = np.array(fill, dtype=arr.dtype).tobytes()
    if arr.flags.c_contiguous:  # byte view: the first/last-element test costs well under a microsecond
        raw = arr.reshape(-1).view(np.uint8)
        n = len(one)
        if raw[:n].tobytes() != one or raw[-n:].tobytes() != one:
            return False
        return bool(np.all(raw.reshape(-1, n) == np.frombuffer(one, dtype=np.uint8)))
    ends = (0,) * arr.ndim, (-1,) * arr.ndim
    if any(np.array(arr[e], dtype=arr.dtype).tobytes() != one for e in ends):
        return False
    flat = np.ascontiguousarray(arr).reshape(-1)
    return bool(np.all(flat.view(np.uint8).reshape(flat.size, -1) == np.frombuffer(one, dtype=np.uint8)))


def shard_ranges(
    index: np.ndarray, wanted: list[tuple[int, ...]], *, gap: int = 0
) -> list[tuple[int, int, list[tuple[tuple[int, ...], int, int]]]]:
    """Merge the byte ranges of ``wanted`` inner chunks: ``[(start, stop, [(idx, off, n), ...]), ...]``.

    Chunks absent from the shard are skipped. Ranges closer than ``gap`` bytes are merged, so
    adjacent inner chunks cost one request.
    """
    present = []
    for idx in wanted:
        off, n = (int(v) for v in index[idx])
        if off == int(EMPTY) and n == int(EMPTY):
            continue
        present.append((off, n, idx))
    present.sort()
    merged: list[tuple[int, int, list[tuple[tuple[int, ...], int, int]]]] = []
    for off, n, idx in present:
        if merged and off <= merged[-1][1] + gap:
            start, stop, members = merged[-1]
            merged[-1] = (start, max(stop, off + n), [*members, (idx, off, n)])
        else:
            merged.append((off, off + n, [(idx, off, n)]))
    return merged
