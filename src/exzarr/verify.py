"""``exzarr.verify``: read and check every stored chunk and shard index of an array or group tree.

Every chunk key that exists must decode (checksums, codec framing, decoded sizes) and every
shard index must decode and point inside its shard. Missing chunks are fine: they read as the
fill value. Work runs on exzarr's shared pool, in parallel across all arrays of a tree; a
damaged object is recorded and the check goes on, so one run lists every damaged key.

Stored data that no read can reach is reported as a warning, not as damage (what the arrays read
is still right): keys inside an array that are not chunk keys of its grid (outside the shape, as
writers leave behind when an array shrinks; the wrong number of dimensions; unparseable), and keys
of a group's child that has no node metadata (an array or group whose ``zarr.json`` or
``.zarray``/``.zgroup`` is gone: its chunks cannot be checked). The listing of each array's
prefix that finds its chunks finds these too; each group costs one more listing of its children.

Only public API is used: :meth:`Array.read_chunk` for chunks (for sharded arrays one inner chunk
at a time, which also checks the index), the array's store and metadata to list the stored
objects, and the sharding codec's ``decode_index`` to find the inner chunks a shard holds.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import metadata as md
from .array import Array
from .codecs.sharding import ShardingCodec
from .engine.executor import resolve_concurrency, run_tasks
from .engine.progress import ProgressArg, make_progress
from .errors import ChunkDecodeError, ConsolidatedMetadataWarning
from .group import Group, node_from_metadata
from .metadata import METADATA_KEYS
from .storage.base import ByteRange

__all__ = ["Damage", "VerifyReport", "verify"]

Index = tuple[int, ...]


@dataclass(frozen=True)
class Damage:
    """One damaged stored object: the ``array`` (its name), the store ``key``, the inner chunk
    index inside a shard (``inner``, ``None`` for a plain chunk or a whole shard index) and why.

    >>> d = Damage(array="/x", key="x/c/0", reason="crc32c checksum mismatch")
    >>> str(d)
    'x/c/0: crc32c checksum mismatch'
    """

    array: str
    key: str
    reason: str
    inner: Index | None = None
    part: str = "chunk"  # "chunk", "inner", "index" or "metadata"

    def __str__(self) -> str:
        where = self.key if self.inner is None else f"{self.key} (inner chunk {self.inner})"
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping.

        >>> Damage(array="/x", key="x/c/0", reason="bad", inner=(1,), part="inner").to_dict()
        {'array': '/x', 'key': 'x/c/0', 'inner': [1], 'part': 'inner', 'reason': 'bad'}
        """
        return {
            "array": self.array,
            "key": self.key,
            "inner": None if self.inner is None else list(self.inner),
            "part": self.part,
            "reason": self.reason,
        }


@dataclass
class VerifyReport:
    """What :func:`verify` found. ``ok`` is true when nothing is damaged.

    >>> import exzarr
    >>> a = exzarr.create_array(shape=(4,), chunks=(2,), dtype="u1", compressors="crc32c")
    >>> a[:] = 1
    >>> report = exzarr.verify(a)
    >>> report.ok, report.arrays, report.chunks, report.damaged
    (True, 1, 2, [])
    """

    arrays: int = 0
    chunks: int = 0
    shards: int = 0
    damaged: list[Damage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: arrays whose chunks carry no checksum: bytes changed inside their compressed data can
    #: decode without an error, so "no damage" means "nothing a decoder could detect"
    unchecked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is damaged.

        >>> VerifyReport().ok, VerifyReport(damaged=[Damage("/", "c/0", "bad")]).ok
        (True, False)
        """
        return not self.damaged

    def summary(self) -> str:
        """One line: what was checked, how much is damaged, and how many warnings there are.

        >>> VerifyReport(arrays=1, chunks=4, damaged=[Damage("/", "c/0", "bad")]).summary()
        'DAMAGED: 1 damaged object; checked 1 array, 4 chunks'
        >>> VerifyReport(arrays=1, chunks=4, warnings=["stray keys"]).summary()
        'OK: checked 1 array, 4 chunks: no damage; 1 warning'
        """
        n = len(self.warnings)
        return self._summary() + (f"; {n} warning{'s' if n != 1 else ''}" if n else "")

    def _summary(self) -> str:
        shards = f", {self.shards} shard indexes" if self.shards else ""
        what = f"{self.arrays} array{'s' if self.arrays != 1 else ''}, {self.chunks} chunks{shards}"
        if self.ok:
            line = f"OK: checked {what}: no damage"
            if self.unchecked:
                n = len(self.unchecked)
                line += (
                    f" detected ({n} array{'s' if n != 1 else ''} without a checksum codec, e.g. {self.unchecked[0]!r}:"
                    " changed bytes inside compressed chunks can decode without error; add crc32c to catch them)"
                )
            return line
        return f"DAMAGED: {len(self.damaged)} damaged object{'s' if len(self.damaged) != 1 else ''}; checked {what}"

    def __str__(self) -> str:
        return "\n".join([*(f"warning: {w}" for w in self.warnings), *(f"damaged: {d}" for d in self.damaged), self.summary()])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (what ``exzarr verify --json`` prints).

        >>> VerifyReport(arrays=1, chunks=2).to_dict()
        {'ok': True, 'arrays': 1, 'chunks': 2, 'shards': 0, 'damaged': [], 'warnings': [], 'unchecked': []}
        """
        return {
            "ok": self.ok,
            "arrays": self.arrays,
            "chunks": self.chunks,
            "shards": self.shards,
            "damaged": [d.to_dict() for d in self.damaged],
            "warnings": list(self.warnings),
            "unchecked": list(self.unchecked),
        }


# codecs whose stored form carries a checksum of the data (a changed byte fails the decode)
_CHECKSUMMED = ("crc32c", "crc32", "adler32", "fletcher32", "gzip", "zlib", "bz2", "lzma")


def _has_checksum(a: Array) -> bool:
    """Whether every stored chunk of ``a`` passes a checksum on decode (inner chunks for shards)."""
    if a.zarr_format == 2:
        codecs = [*(a.filters or ()), *(a.compressors or ())]
        return any(getattr(c, "codec_id", "") in _CHECKSUMMED or getattr(c, "checksum", False) for c in codecs)
    for c in a.codecs:
        js = c.to_json()
        name = js["name"].removeprefix("numcodecs.")
        cfg = js.get("configuration") or {}
        if name in _CHECKSUMMED or (name == "zstd" and cfg.get("checksum")):
            return True
        if name == "sharding_indexed":
            inner = cfg.get("codecs") or []
            return any(
                i["name"].removeprefix("numcodecs.") in _CHECKSUMMED
                or (i["name"] == "zstd" and (i.get("configuration") or {}).get("checksum"))
                for i in inner
            )
    return False


def verify(
    node: Array | Group | str | os.PathLike[str], *, max_concurrency: int | None = None, progress: ProgressArg = False
) -> VerifyReport:
    """Read and check every stored chunk (and shard index) of ``node``, recursively for a group.

    Returns a :class:`VerifyReport`; nothing raises for damaged data: each damaged key is listed
    with the reason (for a sharded array, the shard key and the inner chunk index). A node whose
    metadata cannot be read is reported too. ``max_concurrency`` bounds the parallel reads
    (default: the engine's); ``progress=True`` draws a tqdm bar, a callable gets ``(done, total)``.

    >>> import exzarr, numpy as np
    >>> g = exzarr.create_group("memory://doc-verify", mode="w")
    >>> a = g.create_array("x", shape=(10, 10), chunks=(5, 5), dtype="i4")
    >>> a[:5] = 1
    >>> s = g.create_array("y", shape=(8,), chunks=(2,), shards=(4,), dtype="u1")
    >>> s[:] = 7
    >>> report = exzarr.verify(g)
    >>> report.ok, report.arrays, report.chunks, report.shards
    (True, 2, 6, 2)
    >>> g.store.set("x/c/0/1", b"garbage")
    >>> report = exzarr.verify(g)
    >>> report.ok, [d.key for d in report.damaged]
    (False, ['x/c/0/1'])

    Keys no read can reach are warnings (``report.ok`` stays true when nothing else is wrong):

    >>> g.store.delete("x/c/0/1")
    >>> g.store.set("x/c/7/0", b"left behind")
    >>> g.store.set("old/c/0", b"an array whose metadata is gone")
    >>> report = exzarr.verify(g)
    >>> report.ok
    True
    >>> for w in report.warnings:
    ...     print(w)
    orphaned data without metadata: 'old/' holds keys but no zarr.json (a deleted array or group?); not checked
    /x: 1 stored key outside the chunk grid (2, 2) (never read; left behind when the array shrank?): 'x/c/7/0'
    """
    if isinstance(node, str | os.PathLike):  # a path or URL, as the `exzarr verify` command takes
        from .api import open as open_node

        node = open_node(node, mode="r")
    if not isinstance(node, (Array, Group)):
        raise TypeError(f"verify: expected an exzarr Array or Group (or a path or URL), got {type(node).__name__}")
    report = VerifyReport()
    lock = threading.Lock()

    def damaged(d: Damage) -> None:
        with lock:
            report.damaged.append(d)

    arrays = list(_arrays(node, report, damaged))
    report.arrays = len(arrays)
    report.unchecked = [a.name for a in arrays if not _has_checksum(a)]
    io_bound = any(a.store.io_bound for a in arrays)
    conc = resolve_concurrency(max_concurrency, io_bound=io_bound)

    # 1. the stored objects of every array; the index of every shard (in parallel)
    chunks: list[tuple[Array, Index]] = []
    shards: list[tuple[Array, ShardingCodec, Index]] = []
    for a in arrays:
        try:
            found, stray = _stored_objects(a)
            objects = sorted(found)
        except Exception as exc:  # a listing that fails (a store error) is damage of the whole array
            damaged(Damage(a.name, _prefix(a) or "/", f"cannot list the stored chunks: {_reason(exc)}", part="metadata"))
            continue
        report.warnings.extend(_stray_warnings(a, stray))
        sharding = _sharding(a)
        if sharding is None:
            chunks.extend((a, idx) for idx in objects)
        else:
            shards.extend((a, sharding, obj) for obj in objects)
    report.shards = len(shards)

    def check_shard(item: tuple[Array, ShardingCodec, Index]) -> None:
        a, sh, obj = item
        key = a.chunk_key(tuple(o * n for o, n in zip(obj, sh.cps, strict=True)))
        try:
            present = _inner_chunks(a, sh, key)
        except Exception as exc:
            damaged(Damage(a.name, key, f"shard index: {_reason(exc)}", part="index"))
            return
        with lock:
            for local in present:
                idx = tuple(o * n + i for o, n, i in zip(obj, sh.cps, local, strict=True))
                if all(i < g for i, g in zip(idx, a.nchunks_per_dim, strict=True)):
                    chunks.append((a, idx))

    _run(check_shard, shards, conc, progress, "verify shard indexes", "shard")

    # 2. decode every stored chunk (inner chunks of sharded arrays one by one)
    def check_chunk(item: tuple[Array, Index]) -> None:
        a, idx = item
        try:
            a.read_chunk(idx)
        except Exception as exc:
            key = getattr(exc, "key", None) or a.chunk_key(idx)
            inner = getattr(exc, "inner", None)
            if inner is None and _sharding(a) is not None:
                sh = _sharding(a)
                inner = tuple(i % n for i, n in zip(idx, sh.cps, strict=True))  # type: ignore[union-attr]
            damaged(Damage(a.name, key, _reason(exc), inner=None if inner is None else tuple(inner),
                           part="chunk" if inner is None else "inner"))  # fmt: skip

    chunks.sort(key=lambda item: (item[0].name, item[1]))
    report.chunks = len(chunks)
    _run(check_chunk, chunks, conc, progress, "verify chunks", "chunk")
    report.damaged.sort(key=lambda d: (d.array, d.key, d.inner or ()))
    return report


# ----------------------------------------------------------------------------- helpers


def _run(fn: Callable[[Any], None], items: list[Any], conc: int, progress: ProgressArg, desc: str, unit: str) -> None:
    if not items:
        return
    total = len(items)
    bar = make_progress(progress, None, total=total, desc=desc, unit=unit)

    def one(item: Any) -> None:
        fn(item)
        if bar is not None:
            bar.step(total)

    try:
        run_tasks(one, items, max_concurrency=conc)
    finally:
        if bar is not None:
            bar.close()


def _reason(exc: BaseException) -> str:
    """The error text without the ``array '...': chunk '...'`` preamble a decode error carries
    (the report names the array and key itself)."""
    text = str(exc)
    if isinstance(exc, ChunkDecodeError):
        for marker in (" could not be decoded: ", " failed its checksum "):
            if marker in text:
                tail = text.split(marker, 1)[1]
                text = f"checksum mismatch: {tail.strip().strip('()')}" if "checksum" in marker else tail
                break
    return f"{type(exc).__name__}: {text}"


def _arrays(node: Array | Group, report: VerifyReport, damaged: Callable[[Damage], None]) -> Iterator[Array]:
    """Every array of the tree, each node opened from its own metadata (a child whose metadata
    cannot be read is reported, and the walk goes on)."""
    if isinstance(node, Array):
        yield node
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConsolidatedMetadataWarning)
        names: list[str] | None
        try:
            names = node.keys()
        except Exception as exc:
            damaged(Damage(node.name, _prefix(node) or "/", f"cannot list the members: {_reason(exc)}", part="metadata"))
            names = None
        children: list[Array | Group] = []
        for name in names or ():
            try:
                child = node.get(name)
            except Exception as exc:
                path = f"{node.path}/{name}" if node.path else name
                damaged(Damage("/" + path, path, f"metadata: {_reason(exc)}", part="metadata"))
                continue
            if child is not None:
                children.append(child)
    report.warnings.extend(str(w.message) for w in caught if issubclass(w.category, ConsolidatedMetadataWarning))
    try:
        if names is not None:  # (a listing that failed is reported already)
            notes, implicit = _orphans(node, names)
            report.warnings.extend(notes)
            for path in implicit:  # nodes below a prefix without group metadata (tensorstore writes those)
                try:
                    meta = md.read_metadata(node.store, path)
                    if meta is not None:
                        children.append(node_from_metadata(node.store, path, meta, read_only=True))
                except Exception as exc:
                    damaged(Damage("/" + path, path, f"metadata: {_reason(exc)}", part="metadata"))
    except Exception as exc:
        damaged(Damage(node.name, _prefix(node) or "/", f"cannot list the members: {_reason(exc)}", part="metadata"))
    for child in children:
        yield from _arrays(child, report, damaged)


def _prefix(node: Array | Group) -> str:
    return f"{node.path}/" if node.path else ""


def _sharding(a: Array) -> ShardingCodec | None:
    if a.shards is None:
        return None
    codec = a.codecs[0]
    return codec if isinstance(codec, ShardingCodec) else None


def _grid(a: Array) -> Index:
    """The grid of the stored objects: chunks, or shards when sharded."""
    unit = a.shards if a.shards is not None else a.chunks
    return tuple(math.ceil(s / u) for s, u in zip(a.shape, unit, strict=True))


def _stored_objects(a: Array) -> tuple[list[Index], dict[str, list[str]]]:
    """Grid indices of the stored chunk objects (shards when sharded) inside the shape, and the
    other keys under the array's prefix (not metadata) by kind: ``"outside"`` the grid,
    ``"ndim"`` (the wrong number of dimensions) and ``"unparseable"``. One listing of the prefix."""
    grid = _grid(a)
    prefix = _prefix(a)
    enc = a.metadata.key_encoding
    found: list[Index] = []
    stray: dict[str, list[str]] = {"outside": [], "ndim": [], "unparseable": []}
    for key in a.store.list_prefix(prefix):
        rest = key[len(prefix) :]
        if rest in METADATA_KEYS or (rest.startswith(".") and "/" not in rest):  # metadata, .DS_Store and the like
            continue
        try:
            coords = enc.decode(rest)
        except ValueError:  # digits int() refuses ("²")
            coords = None
        if a.ndim == 0 and rest == enc.encode(()):  # the v2 encoding spells the 0-d key "0"
            coords = ()
        if coords is None or (len(coords) == a.ndim and rest != enc.encode(coords)):  # "c/01": not the chunk's key
            stray["unparseable"].append(key)
        elif len(coords) != a.ndim:
            stray["ndim"].append(key)
        elif any(c >= g for c, g in zip(coords, grid, strict=True)):
            stray["outside"].append(key)
        else:
            found.append(coords)
    return found, stray


def _stray_warnings(a: Array, stray: dict[str, list[str]], examples: int = 3) -> list[str]:
    """One warning per kind of stray key of ``a`` (a count and a few keys, not one line per key:
    a shrunk array can leave millions behind)."""
    what = "shard" if a.shards is not None else "chunk"
    why = {
        "outside": f"outside the {what} grid {_grid(a)} (never read; left behind when the array shrank?)",
        "ndim": f"with the wrong number of dimensions for a {a.ndim}-d array (never read)",
        "unparseable": f"that are not {what} keys of this array (never read)",
    }
    out = []
    for kind, keys in stray.items():
        if keys:
            keys = sorted(keys)
            shown = ", ".join(repr(k) for k in keys[:examples]) + (", ..." if len(keys) > examples else "")
            out.append(f"{a.name}: {len(keys)} stored key{'s' if len(keys) != 1 else ''} {why[kind]}: {shown}")
    return out


def _orphans(g: Group, members: list[str]) -> tuple[list[str], list[str]]:
    """``(warnings, nodes)`` for the children of group ``g`` in the store that are no node: a
    prefix with no metadata of its own may hold nodes further down (an implicit group, as
    tensorstore writes them: those are returned to be checked), else it is orphaned data (an
    array or group whose metadata was deleted; its chunks cannot be checked)."""
    known = set(members)
    meta = ("zarr.json",) if g.zarr_format == 3 else (".zarray", ".zgroup")
    out: list[str] = []
    nested: list[str] = []
    for name in sorted(g.store.list_dir(g.path)):
        if name in known or name in METADATA_KEYS or name == ".zmetadata" or name.startswith("."):
            continue
        path = _prefix(g) + name
        if any(g.store.exists(f"{path}/{k}") for k in meta):  # a node left out of consolidated metadata
            continue
        if g.store.exists(path):
            out.append(f"orphaned data without metadata: key {path!r} in group {g.name!r} is not a node")
            continue
        below = sorted({k.rsplit("/", 1)[0] for k in g.store.list_prefix(path) if k.rsplit("/", 1)[-1] in meta})
        tops = [b for b in below if not any(b.startswith(o + "/") for o in below if o != b)]
        if tops:
            nested.extend(tops)
            continue
        out.append(
            f"orphaned data without metadata: '{path}/' holds keys but no {' or '.join(meta)}"
            " (a deleted array or group?); not checked"
        )
    return out, nested


def _inner_chunks(a: Array, sh: ShardingCodec, key: str) -> list[Index]:
    """The inner chunks shard ``key`` holds, from its index; raises if the index does not decode or
    an entry points outside the shard."""
    n = sh.index_nbytes()
    size = a.store.getsize(key)
    if size < n:
        raise ValueError(f"the shard is {size} bytes, too short for its {n}-byte index")
    rng = ByteRange.from_suffix(n) if sh.index_location == "end" else ByteRange(0, n)
    raw = a.store.get(key, rng)
    if raw is None:  # deleted while we looked: nothing to check
        return []
    index = sh.decode_index(raw)
    present = []
    for local in itertools.product(*(range(c) for c in sh.cps)):
        if sh.stored_range(index, local, size) is not None:
            present.append(local)
    return present
