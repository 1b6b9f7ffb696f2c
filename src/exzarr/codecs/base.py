"""The three codec kinds of the Zarr v3 codec chain, and the chunk representation they pass.

A codec is a plain synchronous object (never async): array->array codecs map a
NumPy chunk to another NumPy chunk, exactly one array->bytes codec serialises a
chunk, and bytes->bytes codecs (compressors, checksums) transform the bytes.
``resolve`` tells what representation a codec hands to the next one, which is how
``transpose`` before another codec gets the right shape.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..dtypes import DataType
from ..errors import MetadataError
from . import bounded
from .bounded import Expect

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

    def decode_bounded(self, data: Buffer, expect: Expect, out: np.ndarray | None = None) -> Buffer:
        """Decode stored bytes that must produce what ``expect`` says (into ``out`` when given).

        Codecs that decompress override this to check their framing and cap their output
        (:mod:`exzarr.codecs.bounded`); this default decodes, then checks the size."""
        res = self.decode(data)
        expect.check(len(bounded.view(res)), f"codec {self.name!r}")
        return bounded.into(res, out)

    def encoded_expect(self, decoded: Expect) -> Expect:
        """What this codec's output can be for an input that ``decoded`` describes (default: a
        compressor's worst-case expansion)."""
        return Expect(None, bounded.compressed_limit(decoded.limit))


def check_options(codec: str, cfg: dict[str, Any], known: Iterable[str]) -> None:
    """Refuse configuration keys a codec does not define, naming them (a misspelled option
    would otherwise be dropped and its default used without a word)."""
    known = sorted(known)
    unknown = [k for k in cfg if k not in known]
    if not unknown:
        return
    bad = unknown[0]
    close = difflib.get_close_matches(str(bad), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise MetadataError(f"codec {codec!r}: unknown option {bad!r} (options: {', '.join(known) or 'none'}){hint}")


def fill_bytes(fill: Any, dtype: np.dtype) -> bytes:
    """The bytes of one ``fill`` element of ``dtype``: what :func:`is_fill` compares every element with
    (also the C loops of :mod:`exzarr.engine.native`).

    >>> fill_bytes(1, np.dtype("<i2"))
    b'\\x01\\x00'
    """
    return np.array(fill, dtype=dtype).tobytes()


def is_fill(arr: np.ndarray, fill: Any) -> bool:
    """Bit-exact "every element equals ``fill``" (NaN equals NaN, -0.0 differs from 0.0).

    Looks at the first and last elements before scanning (most chunks differ there), and
    never copies a non-contiguous view just to decide.

    >>> is_fill(np.zeros(4), 0.0), is_fill(np.array([0.0, -0.0]), 0.0)
    (True, False)
    """
    if arr.dtype.kind == "O":
        return all(x == fill for x in arr.reshape(-1))
    if not arr.size:
        return True
    one = fill_bytes(fill, arr.dtype)
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
