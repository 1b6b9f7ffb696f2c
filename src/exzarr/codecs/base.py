"""The three codec kinds of the Zarr v3 codec chain, and the chunk representation they pass.

A codec is a plain synchronous object (never async): array->array codecs map a
NumPy chunk to another NumPy chunk, exactly one array->bytes codec serialises a
chunk, and bytes->bytes codecs (compressors, checksums) transform the bytes.
``resolve`` tells what representation a codec hands to the next one, which is how
``transpose`` before another codec gets the right shape.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..dtypes import DataType

Buffer = bytes | bytearray | memoryview | np.ndarray


@dataclass(frozen=True)
class ChunkSpec:
    """What a codec receives: the chunk's shape, data type and fill value."""

    shape: tuple[int, ...]
    dtype: DataType
    fill_value: Any = None

    def with_(self, **kw: Any) -> ChunkSpec:
        return replace(self, **kw)


class Codec:
    """Common base: a v3 ``name``, a JSON form, and how it changes the representation."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """The v3 ``{"name", "configuration"}`` form of this codec."""
        cfg = self.configuration()
        return {"name": self.name, "configuration": cfg} if cfg is not None else {"name": self.name}

    def configuration(self) -> dict[str, Any] | None:
        return {}

    def resolve(self, spec: ChunkSpec) -> ChunkSpec:
        """The representation this codec produces when encoding ``spec``."""
        return spec

    def evolve(self, spec: ChunkSpec) -> Codec:
        """Fill in parameters that depend on the array (e.g. blosc ``typesize``)."""
        return self

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_json() == other.to_json()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash(repr(self.to_json()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json().get('configuration', {})})"


class ArrayArrayCodec(Codec):
    kind = "array_array"

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        raise NotImplementedError

    def decode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        """Decode ``chunk`` back to ``spec`` (the representation *before* encoding)."""
        raise NotImplementedError


class ArrayBytesCodec(Codec):
    kind = "array_bytes"

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        raise NotImplementedError

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        raise NotImplementedError


class BytesBytesCodec(Codec):
    kind = "bytes_bytes"

    def encode(self, data: Buffer) -> Buffer:
        raise NotImplementedError

    def decode(self, data: Buffer) -> Buffer:
        raise NotImplementedError
