"""The chunk layout of an array, decided once from its metadata.

Every place that asks "what is one chunk here?" (the read unit, the unit a cache entry
holds, the chunk shape users see, what a write invalidates) reads it from one
:class:`ChunkLayout`, so those answers cannot disagree:

``plain``
    Each stored object is one chunk, decoded whole.
``sharded``
    The codec chain is exactly ``[sharding_indexed]``: stored objects are shards whose inner
    chunks are fetched by byte range and decoded one by one. Users see the inner chunks
    (``chunks``) and the shards (``shards``), as in zarr-python.
``sharded_whole``
    A sharding codec sits inside a longer chain (compressed after sharding, or transposed
    before it): the shard's bytes only make sense whole, so a stored object is one chunk,
    exactly as in ``plain``; ``chunks`` is the shard shape (zarr-python reports the same).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..chunk_grid import grid_shape
from ..codecs.pipeline import CodecPipeline
from ..codecs.sharding import ShardingCodec
from ..metadata.model import ArrayMetadata


class LayoutKind(StrEnum):
    PLAIN = "plain"
    SHARDED = "sharded"
    SHARDED_WHOLE = "sharded_whole"


@dataclass(frozen=True, eq=False)
class ChunkLayout:
    """What one chunk is for an array: see the module docstring.

    ``object_shape`` is the shape of one stored object (the metadata's chunk grid);
    ``chunk_shape`` is the shape of one read unit (an inner chunk when ``sharded``, else the
    stored object); ``pipeline`` decodes a stored object and ``unit_pipeline`` a read unit.
    """

    kind: LayoutKind
    shape: tuple[int, ...]
    object_shape: tuple[int, ...]
    chunk_shape: tuple[int, ...]
    pipeline: CodecPipeline
    sharding: ShardingCodec | None = None

    @classmethod
    def of(cls, meta: ArrayMetadata) -> ChunkLayout:
        pipe = meta.pipeline
        codecs = pipe.codecs
        if len(codecs) == 1 and isinstance(codecs[0], ShardingCodec):
            sh = codecs[0]
            return cls(LayoutKind.SHARDED, meta.shape, meta.chunks, sh.chunk_shape, pipe, sh)
        kind = LayoutKind.SHARDED_WHOLE if any(isinstance(c, ShardingCodec) for c in codecs) else LayoutKind.PLAIN
        return cls(kind, meta.shape, meta.chunks, meta.chunks, pipe)

    @property
    def sharded(self) -> bool:
        """Whether inner chunks are read individually (the ``sharded`` kind)."""
        return self.sharding is not None

    @property
    def unit_pipeline(self) -> CodecPipeline:
        return self.sharding.inner_pipeline if self.sharding is not None else self.pipeline

    @property
    def chunks_per_object(self) -> tuple[int, ...]:
        return self.sharding.cps if self.sharding is not None else (1,) * len(self.shape)

    @property
    def grid(self) -> tuple[int, ...]:
        """Read units along each dimension."""
        return grid_shape(self.shape, self.chunk_shape)

    @property
    def object_grid(self) -> tuple[int, ...]:
        """Stored objects along each dimension."""
        return grid_shape(self.shape, self.object_shape)

    @property
    def interior_grid(self) -> tuple[int, ...]:
        """Stored objects per dimension that lie wholly inside the array (the rest are edge objects)."""
        return tuple(s // c if c else 0 for s, c in zip(self.shape, self.object_shape, strict=True))

    @property
    def nchunks(self) -> int:
        return math.prod(self.grid)

    def object_of(self, idx: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The stored object holding read unit ``idx``, and ``idx``'s position inside it."""
        cps = self.chunks_per_object
        obj = tuple(i // n for i, n in zip(idx, cps, strict=True))
        return obj, tuple(i - o * n for i, o, n in zip(idx, obj, cps, strict=True))

    def cache_key(self, key: str, unit: tuple[int, ...] | None = None) -> Any:
        """The cache entry of a read unit: the stored key, or ``(shard key, chunk index)`` when sharded."""
        return (key, unit) if self.sharding is not None else key

    def invalidate(self, cache: Any, key: str) -> None:
        """Drop what a write of stored object ``key`` makes stale."""
        if self.sharding is not None:
            cache.invalidate_shard(key)
        else:
            cache.invalidate(key)
