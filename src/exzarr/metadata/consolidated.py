"""Consolidated metadata: every node's metadata in one document at a group.

v2 (a zarr-python convention): ``.zmetadata`` holds
``{"zarr_consolidated_format": 1, "metadata": {"<path>/.zarray": ..., "<path>/.zattrs": ..., ...}}``.
v3: the group's ``zarr.json`` carries ``"consolidated_metadata": {"kind": "inline",
"must_understand": false, "metadata": {"<path>": <child zarr.json>, ...}}``. Paths are
relative to the consolidating group. With it, opening a group and listing or opening any
node below it costs no further requests.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import MetadataError
from . import v2, v3
from .model import ArrayMetadata, GroupMetadata

if TYPE_CHECKING:
    from ..storage.base import Store

ZMETADATA = ".zmetadata"
Nodes = dict[str, ArrayMetadata | GroupMetadata]


def _join(path: str, key: str) -> str:
    return f"{path}/{key}" if path else key


def collect(store: Store, path: str, zarr_format: int) -> dict[str, Any]:
    """The metadata documents of every node below ``path`` (relative paths), read from the store."""
    from . import read_metadata

    out: dict[str, Any] = {}

    def walk(rel: str) -> None:
        full = _join(path, rel) if rel else path
        for name in sorted(store.list_dir(full)):
            if name.startswith(".") or name in ("zarr.json",):
                continue
            child_rel = _join(rel, name)
            meta = read_metadata(store, _join(full, name), zarr_format=zarr_format)
            if meta is None:
                continue
            out[child_rel] = meta
            if isinstance(meta, GroupMetadata):
                walk(child_rel)

    walk("")
    return out


def write(store: Store, path: str, group: GroupMetadata, nodes: Nodes) -> GroupMetadata:
    """Write consolidated metadata for the group at ``path``; returns the group's new metadata."""
    from . import dumps, write_metadata

    if group.zarr_format == 2:
        docs: dict[str, Any] = {".zgroup": {"zarr_format": 2}, ".zattrs": group.attributes}
        for rel, meta in nodes.items():
            for name, doc in v2.documents(meta).items():
                docs[f"{rel}/{name}"] = doc
        store.set(_join(path, ZMETADATA), dumps({"metadata": docs, "zarr_consolidated_format": 1}, where=_join(path, ZMETADATA)))
        return group
    children = {rel: _child_doc(meta) for rel, meta in nodes.items()}
    extra = dict(group.extra)
    extra["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": children}
    new = group.with_(extra=extra)
    write_metadata(store, path, new)
    return new


def _child_doc(meta: ArrayMetadata | GroupMetadata) -> dict[str, Any]:
    doc = v3.zarr_json(meta)
    doc.pop("consolidated_metadata", None)
    return doc


def read(store: Store, path: str, group: GroupMetadata) -> Nodes | None:
    """The consolidated nodes of the group at ``path``, or ``None`` if it has none."""
    if group.zarr_format == 3:
        cm = group.extra.get("consolidated_metadata")
        if cm is None:
            return None
        where = f"{_join(path, 'zarr.json')}: consolidated_metadata"
        if not isinstance(cm, dict) or cm.get("kind") != "inline" or not isinstance(cm.get("metadata"), dict):
            raise MetadataError(f"{where}: expected {{'kind': 'inline', 'metadata': {{...}}}}")
        return {rel: v3.parse_zarr_json(doc, path=_join(path, rel)) for rel, doc in cm["metadata"].items()}
    raw = store.get(_join(path, ZMETADATA))
    if raw is None:
        return None
    where = _join(path, ZMETADATA)
    from . import parse_json

    doc = parse_json(raw, where)
    if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
        raise MetadataError(f"{where}: expected an object with a 'metadata' mapping")
    if doc.get("zarr_consolidated_format", 1) != 1:
        raise MetadataError(f"{where}: unsupported zarr_consolidated_format {doc.get('zarr_consolidated_format')!r}")
    by_node: dict[str, dict[str, Any]] = {}
    for key, value in doc["metadata"].items():
        node, _, name = key.rpartition("/")
        if name not in (".zarray", ".zgroup", ".zattrs"):
            continue
        by_node.setdefault(node, {})[name] = value
    out: Nodes = {}
    for rel, docs in by_node.items():
        if not rel:
            continue
        if ".zarray" in docs:
            out[rel] = v2.parse_zarray(docs[".zarray"], docs.get(".zattrs"), path=_join(path, rel))
        elif ".zgroup" in docs:
            out[rel] = v2.parse_zgroup(docs[".zgroup"], docs.get(".zattrs"), path=_join(path, rel))
    return out


def documents_equal(a: ArrayMetadata | GroupMetadata, b: ArrayMetadata | GroupMetadata) -> bool:
    """Whether two nodes' metadata serialise identically (ignoring consolidated metadata)."""
    from . import documents

    def norm(m: ArrayMetadata | GroupMetadata) -> str:
        docs = documents(m)
        for d in docs.values():
            if isinstance(d, dict):
                d.pop("consolidated_metadata", None)
        return json.dumps(docs, sort_keys=True, default=str)

    return norm(a) == norm(b)


def subset(nodes: Nodes, prefix: str) -> Nodes:
    """The entries below ``prefix``, re-keyed relative to it."""
    p = prefix + "/"
    return {k[len(p) :]: v for k, v in nodes.items() if k.startswith(p)}
