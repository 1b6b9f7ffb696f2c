"""``exzarr.copy``: copy arrays and group trees between stores, converting and rechunking.

Raw chunk bytes are copied without decoding when the target stores them identically
(same grid, data type, fill value and codec chain, including v2 -> v3 with an equivalent
chain: only the key names change). Otherwise the data is decoded and re-encoded one
target chunk (or shard) at a time on the engine, so memory stays bounded by the number
of workers. This replaces ExZarr's format converter and ``save`` to another backend.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import Any

from . import metadata as md
from .array import Array
from .codecs.base import ArrayArrayCodec, BytesBytesCodec
from .codecs.bytes import BytesCodec
from .codecs.numcodecs_compat import NumcodecsArrayArrayCodec
from .codecs.sharding import ShardingCodec
from .codecs.transpose import TransposeCodec
from .engine.core import ChunkEngine, EngineSpec
from .engine.executor import resolve_concurrency, run_tasks
from .engine.progress import ProgressArg, concurrency_arg, make_progress
from .errors import MetadataError
from .group import Group
from .metadata.model import ArrayMetadata, GroupMetadata
from .nodes import check_mode, remove_array, resolve_array, resolve_group
from .storage.base import Store
from .storage.url import make_store

__all__ = ["copy"]

KEEP: Any = object()


def _open_src(src: Any) -> Array | Group:
    if isinstance(src, (Array, Group)):
        return src
    from .api import open as open_node

    return open_node(src, mode="r")


def copy(
    src: Any,
    dst: Any,
    *,
    zarr_format: int | None = None,
    compressor: Any = KEEP,
    chunks: Any = None,
    shards: Any = KEEP,
    progress: ProgressArg = False,
    progress_callback: Callable[[int, int], Any] | None = None,
    max_concurrency: int | None = None,
    mode: str = "w-",
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    parallel: int | None = None,
    executor: Any = None,
) -> Array | Group:
    """Copy the array or group tree ``src`` to ``dst`` and return the copy.

    ``zarr_format`` converts between v2 and v3; ``compressor`` (as in :func:`exzarr.create`,
    ``None`` for none) re-encodes; ``chunks``/``shards`` rechunk (``shards=None`` unshards).
    Unchanged encodings copy the stored bytes as they are. ``progress=True`` draws a progress
    bar; a callable ``progress(done, total)`` (or ``progress_callback=``) is told of each stored
    object copied. ``mode`` is ``"w-"`` (refuse to replace anything at ``dst``) or ``"w"``.
    ``executor=`` (a ``concurrent.futures`` pool or a ``distributed.Client``) runs the copy jobs on its
    workers (the destination must then be reachable from them: not an in-process memory store).

    For a group, a ``chunks``/``shards`` tuple applies to every array, which must then all have its
    rank; a dict ``{array path: chunks}`` (paths relative to the group, e.g. ``"climate/temp"``)
    rechunks the arrays it names and keeps the others as they are.

    Every target array's metadata is built and checked for the whole tree before anything is
    written (ranks, codecs, a chunk or shard whose decoded size exceeds
    ``exzarr.config.max_chunk_bytes``...). Nodes are then created metadata first (``mode="w-"``
    claims each path with a conditional put, so a concurrent creator is never overwritten) and the
    data copied; if that fails midway (a store error...), every node this call created is removed
    again, so no array that looks complete is left without its data. With ``mode="w"`` what was
    at ``dst`` is gone once the copy starts writing.

    >>> import exzarr, numpy as np
    >>> a = exzarr.save("memory://doc-copy-src", np.arange(12).reshape(3, 4), zarr_format=2)
    >>> b = exzarr.copy(a, "memory://doc-copy-dst", zarr_format=3, chunks=(2, 2))
    >>> b.zarr_format, b.chunks, b[...].sum()
    (3, (2, 2), np.int64(66))
    """
    max_concurrency = concurrency_arg(max_concurrency, parallel)
    mode = check_mode(mode)
    if mode not in ("w", "w-"):
        raise ValueError(f"copy: mode must be 'w-' or 'w', got {mode!r}")
    node = _open_src(src)
    store, path = make_store(dst, storage=storage, storage_options=storage_options, mode="a")
    if executor is not None:
        from .dask import check_destination

        check_destination(executor, store)  # before anything is written
    src_loc, dst_loc = node.store.location(node.path), store.location(path)
    if _overlaps(src_loc, dst_loc):
        raise ValueError(_overlap_message(node, src_loc, store, path, dst_loc))
    if isinstance(dst, Store):
        path = ""
    opts = dict(zarr_format=zarr_format, compressor=compressor, chunks=chunks, shards=shards, mode=mode)
    plan = _plan(node, path, opts)  # every node's target metadata, checked before anything is written
    created: list[tuple[str, ArrayMetadata | GroupMetadata]] = []
    try:
        jobs: list[Callable[[], None]] = []
        out = _create(plan, store, mode, jobs, created)
        _run_jobs(jobs, progress, progress_callback, max_concurrency, node, executor, store)
    except BaseException as exc:
        _remove_created(store, created, exc)
        raise
    return out


def _overlaps(a: str, b: str) -> bool:
    """Whether one node location is the other or lies inside it."""
    return a == b or b.startswith(a.rstrip("/") + "/") or a.startswith(b.rstrip("/") + "/")


def _overlap_message(node: Array | Group, src_loc: str, store: Store, path: str, dst_loc: str) -> str:
    """Names both sides by location and store: node paths alone ('/' and '/') tell nothing."""
    if src_loc == dst_loc:
        how = "they are the same location"
    elif dst_loc.startswith(src_loc.rstrip("/") + "/"):
        how = "the destination lies inside the source"
    else:
        how = "the destination contains the source"
    kind = "array" if isinstance(node, Array) else "group"
    return (
        f"copy: the destination {dst_loc!r} (node {'/' + path!r} of {store!r}) overlaps the source {src_loc!r} "
        f"({kind} {node.name!r} of {node.store!r}): {how}; copy to a location outside the source"
    )


# one node of the copy: (source, destination path, target metadata)
_Planned = tuple[Array | Group, str, ArrayMetadata | GroupMetadata]


def _plan(node: Array | Group, path: str, opts: dict[str, Any]) -> list[_Planned]:
    """The nodes to create, parents first, with their target metadata: all built (and so checked)
    before anything is written. A dict ``chunks``/``shards`` must name arrays of the tree."""
    plan: list[_Planned] = []
    arrays: list[str] = []
    for what in ("chunks", "shards"):
        if isinstance(opts[what], dict) and isinstance(node, Array):
            raise TypeError(f"copy: {what} as a dict {{array path: {what}}} is for copying a group; give a tuple for one array")
    _plan_node(node, path, "", opts, plan, arrays)
    for what in ("chunks", "shards"):
        if isinstance(opts[what], dict):
            unknown = sorted(set(map(_rel_key, opts[what])) - set(arrays))
            if unknown:
                raise ValueError(f"copy: {what} names {unknown}, not arrays of the source group (its arrays: {sorted(arrays)})")
    return plan


def _plan_node(node: Array | Group, path: str, rel: str, opts: dict[str, Any], plan: list[_Planned], arrays: list[str]) -> None:
    if isinstance(node, Array):
        arrays.append(rel)
        meta: ArrayMetadata | GroupMetadata = _checked_target(node, rel, opts)
    else:
        meta = md.build_group_metadata(opts["zarr_format"] or node.zarr_format, dict(node.attrs))
    md.encode_metadata(path, meta)  # attributes JSON cannot hold fail now, not halfway through the tree
    plan.append((node, path, meta))
    if isinstance(node, Array):
        return
    for name, child in node.members():
        _plan_node(child, f"{path}/{name}" if path else name, f"{rel}/{name}" if rel else name, opts, plan, arrays)


def _rel_key(key: Any) -> str:
    return "/".join(p for p in str(key).split("/") if p)


def _option_for(src: Array, rel: str, opts: dict[str, Any], what: str, keep: Any) -> Any:
    """``chunks``/``shards`` for the array at ``rel``: its entry of a dict (``keep`` when it has
    none), else the value given, whose rank must be the array's."""
    value = opts[what]
    if isinstance(value, dict):
        entries = {_rel_key(k): v for k, v in value.items()}
        return entries.get(rel, keep)
    if isinstance(value, (tuple, list)) and len(value) != src.ndim:
        hint = f"; pass {what} as a dict {{array path: {what}}} to rechunk arrays of different ranks" if rel else ""
        raise MetadataError(
            f"copy: {what}={tuple(value)} has {len(value)} dimensions but array {src.name!r} has {src.ndim} "
            f"(shape {src.shape}){hint}"
        )
    return value


def _checked_target(src: Array, rel: str, opts: dict[str, Any]) -> ArrayMetadata:
    """The target metadata of ``src``, refused with an error naming it when it cannot be built or
    one stored object of it would decode to more than ``exzarr.config.max_chunk_bytes``."""
    own = dict(opts, chunks=_option_for(src, rel, opts, "chunks", None), shards=_option_for(src, rel, opts, "shards", KEEP))
    try:
        target = _target_metadata(src, own)
    except MetadataError as exc:
        raise MetadataError(f"copy: array {src.name!r}: {exc}") from exc
    if target is not src.metadata:
        from .config import config

        nd = target.dtype.numpy
        n = max(1, nd.itemsize) * math.prod(target.chunks)  # target.chunks: the shards when sharded
        if n > config.max_chunk_bytes:
            one = "shard" if isinstance(target.pipeline.array_bytes_codec, ShardingCodec) else "chunk"
            raise MetadataError(
                f"copy: array {src.name!r}: one {one} of {target.chunks} would hold {n:,} bytes decoded, over "
                f"exzarr.config.max_chunk_bytes ({config.max_chunk_bytes:,}); choose smaller chunks/shards or raise the setting"
            )
    return target


def _create(plan: list[_Planned], store: Store, mode: str, jobs: list, created: list) -> Array | Group:
    """Create the planned nodes (recording each in ``created`` as soon as it is written) and queue
    their copy jobs; returns the top node."""
    out: list[Array | Group] = []
    for src, path, target in plan:
        if isinstance(target, GroupMetadata):
            meta, _ = resolve_group(store, path, mode, zarr_format=target.zarr_format, attributes=dict(target.attributes))
            created.append((path, meta))
            out.append(Group(store, path, meta))
        else:
            assert isinstance(src, Array)
            ameta, _ = resolve_array(store, path, mode, array=target)
            created.append((path, ameta))
            out.append(_plan_array(src, store, path, ameta, jobs))
    return out[0]


def _remove_created(store: Store, created: list[tuple[str, ArrayMetadata | GroupMetadata]], exc: BaseException) -> None:
    """Undo a failed copy: delete each array this call created (metadata and the chunks written)
    and the metadata documents of each group it created, children first. What is under a group
    and was not created here is left alone."""
    try:
        for path, meta in reversed(created):
            if isinstance(meta, ArrayMetadata):  # at a store's root: only its own keys, never other nodes'
                remove_array(store, path, meta)
            else:
                for key in md.documents(meta):
                    store.delete(md.join(path, key))
    except Exception as cleanup:
        exc.add_note(f"copy: removing the partial copy failed too ({type(cleanup).__name__}: {cleanup}); remove it by hand")


def _target_metadata(src: Array, opts: dict[str, Any]) -> ArrayMetadata:
    meta = src.metadata
    fmt = opts["zarr_format"] or meta.zarr_format
    chunks = tuple(opts["chunks"]) if opts["chunks"] is not None else src.chunks
    shards = src.shards if opts["shards"] is KEEP else opts["shards"]
    if fmt == 2 and shards is not None:
        if opts["shards"] is not KEEP:
            raise MetadataError("shards: v2 arrays cannot be sharded")
        shards = None
    unchanged = fmt == meta.zarr_format and opts["compressor"] is KEEP and chunks == src.chunks and shards == src.shards
    if unchanged:
        return meta
    compressor, filters, order = _encoding_of(src, fmt)
    if opts["compressor"] is not KEEP:
        compressor = opts["compressor"]
    attrs = dict(meta.attributes)
    if fmt == 3:
        attrs.pop("_ARRAY_DIMENSIONS", None)
    target = md.build_array_metadata(
        shape=meta.shape,
        chunks=chunks,
        dtype=meta.dtype,
        compressor=compressor,
        filters=filters,
        fill_value=meta.fill_value if meta.fill_value is not None else meta.effective_fill,
        zarr_format=fmt,
        order=order,
        attributes=attrs,
        dimension_names=meta.dimension_names,
        shards=shards,
    )
    nd = meta.dtype.numpy
    if fmt == 3 and meta.zarr_format == 2 and nd.byteorder == ">" and shards is None:
        # keep big-endian elements big-endian on disk, so equivalent chains copy raw bytes
        codecs = tuple(BytesCodec("big") if isinstance(c, BytesCodec) else c for c in target.codecs)
        target = target.with_(codecs=codecs)
        target = target.with_(codecs=target.pipeline.codecs)
    return target


def _encoding_of(src: Array, fmt: int) -> tuple[Any, list[Any], str]:
    """The source's compressor, filters and order, in a form the target format accepts."""
    meta = src.metadata
    if meta.zarr_format == 2:
        comp = meta.compressor
        filters = [f for f in (meta.filters or ()) if not f.codec_id.startswith("vlen-")]
        return comp, filters, meta.order
    pipe = meta.pipeline
    ab = pipe.array_bytes_codec
    inner = ab.inner_pipeline if isinstance(ab, ShardingCodec) else pipe
    aa = [*inner.array_array_codecs, *(pipe.array_array_codecs if inner is not pipe else ())]
    order = "F" if any(isinstance(c, TransposeCodec) and c.order == tuple(reversed(range(len(c.order)))) for c in aa) else "C"
    filters = [c.codec if fmt == 2 else c for c in aa if isinstance(c, NumcodecsArrayArrayCodec)]
    comps = [c for c in inner.bytes_bytes_codecs if isinstance(c, BytesBytesCodec) and c.name != "crc32c"]
    return (comps[0] if comps else None), filters, order


def _signature(meta: ArrayMetadata) -> tuple[Any, ...] | None:
    """What decides the stored bytes of a chunk, comparable across v2 and v3; ``None`` when
    there is no cross-format equivalent (v2 filters, v3 sharding...)."""
    from .dtypes import fill_value_to_json

    nd = meta.dtype.numpy
    fill = fill_value_to_json(meta.effective_fill, meta.dtype, zarr_format=3)
    if meta.zarr_format == 2:
        if meta.filters or nd.kind == "O" or nd.fields is not None:
            return None
        chain: list[Any] = []
        if meta.order == "F" and meta.ndim > 1:
            chain.append(("transpose", tuple(range(meta.ndim - 1, -1, -1))))
        chain.append(("bytes", None if nd.itemsize == 1 or nd.kind in "SV" else ("big" if nd.byteorder == ">" else "little")))
        if meta.compressor is not None:
            cfg = md.v2.codec_config(meta.compressor)
            chain.append((cfg.pop("id"), _norm(cfg)))
    else:
        chain = []
        for c in meta.pipeline.codecs:
            js = c.to_json()
            name, cfg = js["name"], dict(js.get("configuration") or {})
            if isinstance(c, ArrayArrayCodec) and not isinstance(c, TransposeCodec):
                return None
            if isinstance(c, TransposeCodec):
                chain.append(("transpose", tuple(c.order)))
            elif isinstance(c, BytesCodec):
                chain.append(("bytes", c.endian if nd.itemsize > 1 and nd.kind not in "SV" else None))
            elif isinstance(c, ShardingCodec):
                return ("sharded", meta.chunks, json_key(js), fill)
            else:
                name = name.removeprefix("numcodecs.")
                if name == "blosc":
                    cfg["shuffle"] = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}.get(cfg.get("shuffle"), cfg.get("shuffle"))
                    cfg.pop("typesize", None)
                chain.append((name, _norm(cfg)))
    return (meta.chunks, nd.newbyteorder("=").str if nd.kind not in "SVO" else nd.str, fill, tuple(chain))


def json_key(obj: Any) -> str:
    import json

    return json.dumps(obj, sort_keys=True)


def _norm(cfg: dict[str, Any]) -> str:
    cfg = {k: v for k, v in cfg.items() if not (k == "checksum" and v is False)}
    return json_key(cfg)


def _plan_array(src: Array, store: Store, path: str, target: ArrayMetadata, jobs: list) -> Array:
    """Queue the jobs copying ``src`` into the array just created at ``path`` with ``target``."""
    dst = Array(store, path, target)
    src_io = ChunkEngine(EngineSpec.from_metadata(src.store, src.path, src.metadata, read_only=True))
    sig_src, sig_dst = _signature(src.metadata), _signature(target)
    if sig_src is not None and sig_src == sig_dst:
        dst_io = ChunkEngine(EngineSpec.from_metadata(store, path, target))
        for coords in sorted(src_io.stored_objects()):  # the stored objects, byte for byte, renamed for the target
            jobs.append(_raw_job(src_io, dst_io, coords))
        return dst
    # decode and re-encode, one target storage object (chunk or shard) at a time
    grid = dst.metadata.chunks
    regions = set()
    for coords in src_io.stored_objects():
        lo = [c * n for c, n in zip(coords, src.metadata.chunks, strict=True)]
        hi = [min(a + n, s) for a, n, s in zip(lo, src.metadata.chunks, src.shape, strict=True)]
        ranges = [range(a // g, -(-b // g)) for a, b, g in zip(lo, hi, grid, strict=True)]
        regions.update(itertools.product(*ranges))
    for region in sorted(regions):
        jobs.append(_recode_job(src, dst, region))
    return dst


def _raw_job(src: ChunkEngine, dst: ChunkEngine, coords: tuple[int, ...]) -> Callable[[], None]:
    return functools.partial(_copy_raw, src, dst, coords)  # a partial pickles: jobs can run in other processes


def _copy_raw(src: ChunkEngine, dst: ChunkEngine, coords: tuple[int, ...]) -> None:
    data = src.store.get(src.object_key(coords))
    if data is not None:
        dst.store.set(dst.object_key(coords), data)


def _recode_job(src: Array, dst: Array, region: tuple[int, ...]) -> Callable[[], None]:
    grid = dst.metadata.chunks
    sel = tuple(slice(r * g, min((r + 1) * g, s)) for r, g, s in zip(region, grid, dst.shape, strict=True))
    return functools.partial(_copy_region, src, dst, sel)


def _copy_region(src: Array, dst: Array, sel: tuple[slice, ...]) -> None:
    dst.set_basic_selection(sel, src.get_basic_selection(sel, max_concurrency=1), max_concurrency=1)


def _run_jobs(
    jobs: list[Callable[[], None]],
    progress: ProgressArg,
    progress_callback: Callable[[int, int], Any] | None,
    max_concurrency: int | None,
    node: Array | Group,
    executor: Any = None,
    store: Store | None = None,
) -> None:
    total = len(jobs)
    bar = make_progress(progress, progress_callback, total=total, desc=f"copy {node.name}", unit="obj")

    def run(job: Callable[[], None]) -> None:
        job()
        if bar is not None:
            bar.step(total)

    try:
        if executor is not None:
            from .dask import run_on_executor

            run_on_executor(jobs, executor, max_concurrency=max_concurrency, progress=bar, destination=store)
            return
        run_tasks(run, jobs, max_concurrency=resolve_concurrency(max_concurrency, io_bound=node.store.io_bound))
    finally:
        if bar is not None:
            bar.close()
