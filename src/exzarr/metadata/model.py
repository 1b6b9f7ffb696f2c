"""The one internal metadata model shared by v2 and v3 arrays and groups."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from ..chunk_grid import ChunkKeyEncoding, grid_shape
from ..codecs.base import ChunkSpec, Codec
from ..codecs.pipeline import CodecPipeline
from ..dtypes import DataType, null_fill_value


@dataclass(frozen=True, eq=False)
class ArrayMetadata:
    """Everything needed to read and write an array, independent of the Zarr format.

    ``codecs`` is always a v3-style chain. For v2 arrays it is ``[transpose]`` (when
    ``order="F"``), a v2 array->bytes codec holding the numcodecs filters, then the
    compressor; ``filters``/``compressor``/``order`` keep the v2 JSON faithful.
    """

    zarr_format: int
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: DataType
    fill_value: Any
    codecs: tuple[Codec, ...]
    key_encoding: ChunkKeyEncoding
    attributes: dict[str, Any] = field(default_factory=dict)
    dimension_names: tuple[str | None, ...] | None = None
    order: str = "C"
    filters: tuple[Any, ...] | None = None
    compressor: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    v2_codec_json: tuple[Any, Any] | None = None  # (filters, compressor) exactly as a .zarray stated them

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return grid_shape(self.shape, self.chunks)

    @property
    def nchunks(self) -> int:
        return math.prod(self.grid_shape)

    @property
    def effective_fill(self) -> Any:
        """The value missing chunks read as (v2 ``null``: zero, or NaT for datetimes)."""
        return null_fill_value(self.dtype) if self.fill_value is None else self.fill_value

    @cached_property
    def pipeline(self) -> CodecPipeline:
        return CodecPipeline(self.codecs, ChunkSpec(self.chunks, self.dtype, self.effective_fill))

    def with_(self, **kw: Any) -> ArrayMetadata:
        return replace(self, **kw)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("pipeline", None)  # derived; rebuilt lazily after unpickling (e.g. on a Dask worker)
        return state


@dataclass(frozen=True, eq=False)
class GroupMetadata:
    """A group: its format, attributes and extra (e.g. consolidated) fields."""

    zarr_format: int
    attributes: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def with_(self, **kw: Any) -> GroupMetadata:
        return replace(self, **kw)
