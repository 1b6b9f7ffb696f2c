"""Turn ``path=``/``storage=`` arguments into a store and a node path inside it."""

from __future__ import annotations

import os
import threading
from typing import Any

from ..errors import StoreError
from .base import Store
from .local import LocalStore
from .memory import MemoryStore
from .zip import ZipStore

_named_memory: dict[str, MemoryStore] = {}
_named_lock = threading.Lock()
_STORAGE = ("filesystem", "local", "file", "memory", "zip")


def memory_store(name: str) -> MemoryStore:
    """The process-wide memory store named ``name`` (``memory://name``); new if unknown."""
    with _named_lock:
        store = _named_memory.get(name)
        if store is None:
            store = _named_memory[name] = MemoryStore()
        return store


def make_store(
    path: Any = None,
    *,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    mode: str = "r",
) -> tuple[Store, str]:
    """Resolve user arguments to ``(store, node_path)``.

    - a :class:`Store` object is used as is, node path ``""``;
    - ``storage="memory"`` or ``"memory://name"``: a named in-process memory store;
    - ``storage="zip"``, ``"zip://file.zip"`` or a path ending in ``.zip``: a :class:`ZipStore`;
    - ``storage="filesystem"``, ``"file://dir"`` or a plain path: a :class:`LocalStore` at that directory.
    """
    opts = dict(storage_options or {})
    read_only = mode == "r"
    if isinstance(path, Store):
        return path, ""
    if storage is not None and storage not in _STORAGE:
        raise StoreError(f"storage: unknown backend {storage!r} (expected one of {_STORAGE})")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise StoreError(f"path: expected a str, os.PathLike or Store, got {type(path).__name__}")
    spath = os.fspath(path) if path is not None else None
    if spath is not None and "://" in spath:
        scheme, rest = spath.split("://", 1)
        if scheme == "memory":
            return memory_store(rest), ""
        if scheme == "file":
            return LocalStore(rest, read_only=read_only, **opts), ""
        if scheme == "zip":
            return ZipStore(rest, "r" if read_only else "a", **opts), ""
        raise StoreError(f"path {spath!r}: the {scheme!r} scheme needs a cloud store, which exzarr does not have yet")
    if storage == "memory" or (spath is None and storage is None):
        return (memory_store(spath) if spath else MemoryStore()), ""
    if spath is None:
        raise StoreError(f"storage={storage!r} needs a path")
    if storage == "zip" or (storage is None and spath.endswith(".zip")):
        return ZipStore(spath, "r" if read_only else "a", **opts), ""
    return LocalStore(spath, read_only=read_only, **opts), ""
