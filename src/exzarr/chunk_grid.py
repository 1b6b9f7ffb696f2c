"""The regular chunk grid and the chunk key encodings (v3 ``default``/``v2``, v2 separators)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import MetadataError


@dataclass(frozen=True)
class ChunkKeyEncoding:
    """How chunk grid coordinates become store keys.

    ``kind="default"``: ``"c" + sep + "1" + sep + "2"`` (``"c"`` for 0-d);
    ``kind="v2"``: ``"1" + sep + "2"`` (``"0"`` for 0-d).

    >>> ChunkKeyEncoding("default", "/").encode((1, 2))
    'c/1/2'
    >>> ChunkKeyEncoding("v2", ".").encode((1, 2))
    '1.2'
    """

    kind: str = "default"
    separator: str = "/"

    def __post_init__(self) -> None:
        if self.kind not in ("default", "v2"):
            raise MetadataError(f"chunk_key_encoding: unknown encoding {self.kind!r}")
        if self.separator not in ("/", "."):
            raise MetadataError(f"chunk_key_encoding: separator must be '/' or '.', got {self.separator!r}")

    def encode(self, coords: tuple[int, ...]) -> str:
        sep = self.separator
        if self.kind == "default":
            return "c" + "".join(sep + str(c) for c in coords)
        return sep.join(map(str, coords)) if coords else "0"

    def encoder(self, prefix: str = "") -> Callable[[tuple[int, ...]], str]:
        """A fast ``coords -> prefix + key`` function (the per-chunk hot path)."""
        sep = self.separator
        if self.kind == "default":
            head = prefix + "c" + sep

            def enc_default(coords: tuple[int, ...]) -> str:
                return head + sep.join(map(str, coords)) if coords else prefix + "c"

            return enc_default

        def enc_v2(coords: tuple[int, ...]) -> str:
            return prefix + sep.join(map(str, coords)) if coords else prefix + "0"

        return enc_v2

    def head(self, prefix: str = "") -> tuple[str, str]:
        """``(head, separator)``: the key of grid coordinates ``coords`` (at least one) is ``head``
        followed by the coordinates joined by ``separator``, as :meth:`encoder` spells it.

        >>> ChunkKeyEncoding("default", ".").head("a/")
        ('a/c.', '.')
        >>> ChunkKeyEncoding("v2", "/").head()
        ('', '/')
        """
        sep = self.separator
        return (prefix + "c" + sep if self.kind == "default" else prefix), sep

    def decode(self, key: str) -> tuple[int, ...] | None:
        """Grid coordinates of a chunk key, or ``None`` if the key is not a chunk key."""
        sep = self.separator
        if self.kind == "default":
            if key == "c":
                return ()
            if not key.startswith("c" + sep):
                return None
            parts = key[2:].split(sep)
        else:
            parts = key.split(sep)
        if not all(p.isdigit() for p in parts):
            return None
        return tuple(int(p) for p in parts)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.kind, "configuration": {"separator": self.separator}}

    @classmethod
    def from_json(cls, obj: Any) -> ChunkKeyEncoding:
        if isinstance(obj, str):
            name, cfg = obj, {}
        elif isinstance(obj, dict) and isinstance(obj.get("name"), str):
            extra = set(obj) - {"name", "configuration"}
            if extra:
                raise MetadataError(f"chunk_key_encoding: unexpected keys {sorted(extra)}")
            name, cfg = obj["name"], obj.get("configuration") or {}
        else:
            raise MetadataError(f"chunk_key_encoding: expected a name or object, got {obj!r}")
        if name not in ("default", "v2"):
            raise MetadataError(f"chunk_key_encoding: unknown encoding {name!r}")
        if not isinstance(cfg, dict):
            raise MetadataError("chunk_key_encoding: configuration must be an object")
        unknown = sorted(set(cfg) - {"separator"})
        if unknown:
            raise MetadataError(f"chunk_key_encoding {name!r}: unknown option {unknown[0]!r} (options: separator)")
        sep = cfg.get("separator", "/" if name == "default" else ".")
        return cls(name, sep)


#: the largest dimension or chunk side: what a signed 64-bit index (NumPy's, and the specs') can address
MAX_EXTENT = 2**63 - 1


def grid_shape(shape: tuple[int, ...], chunks: tuple[int, ...]) -> tuple[int, ...]:
    """Number of chunks along each dimension (ceiling division)."""
    return tuple(-(-s // c) if c else 0 for s, c in zip(shape, chunks, strict=True))


def normalize_chunks(chunks: Any, shape: tuple[int, ...], *, name: str = "chunks", reading: bool = False) -> tuple[int, ...]:
    """Turn a user ``chunks`` argument into a tuple of positive ints.

    ``None`` means one chunk for the whole array, an int applies to every dimension,
    and ``-1``/``None`` inside a tuple means the full extent of that dimension.
    With ``reading=True`` a chunk size of 0 is accepted on a zero-length dimension:
    the specs forbid it but zarr-python writes it, and such a dimension has no chunks.
    """
    if chunks is None:
        return tuple(max(1, s) for s in shape)
    if _as_int(chunks) is not None:
        chunks = (chunks,) * len(shape)
    try:
        chunks = tuple(chunks)
    except TypeError:
        raise MetadataError(f"{name}: expected an int or a tuple of ints, got {chunks!r}") from None
    if len(chunks) != len(shape):
        raise MetadataError(f"{name}: {chunks} has {len(chunks)} dimensions but shape {shape} has {len(shape)}")
    out = []
    for c, s in zip(chunks, shape, strict=True):
        if c is None or c == -1:
            c = max(1, s)
        c = _as_int(c)
        if reading and c == 0 and s == 0:
            out.append(0)
            continue
        if c is None or c < 1:
            raise MetadataError(f"{name}: chunk sizes must be positive integers, got {chunks}")
        if c > MAX_EXTENT:
            raise MetadataError(f"{name}: chunk size {c} is larger than the {MAX_EXTENT} an index can address")
        out.append(c)
    return tuple(out)


def normalize_shape(shape: Any, *, name: str = "shape") -> tuple[int, ...]:
    if _as_int(shape) is not None:
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise MetadataError(f"{name}: expected a tuple of non-negative ints, got {shape!r}") from None
    out = [_as_int(s) for s in shape]
    if any(s is None or s < 0 for s in out):
        raise MetadataError(f"{name}: dimensions must be non-negative integers, got {shape}")
    if any(s > MAX_EXTENT for s in out):  # type: ignore[operator]
        raise MetadataError(f"{name}: dimensions must be at most {MAX_EXTENT} (a 64-bit index), got {shape}")
    return tuple(out)  # type: ignore[arg-type]


def _as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    try:
        return operator.index(v)
    except TypeError:
        return None
