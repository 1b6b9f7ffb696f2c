"""Turn ``path=``/``storage=`` arguments into a store and a node path inside it."""

from __future__ import annotations

import inspect
import os
import threading
from typing import Any

from .._fork import at_fork
from ..errors import StoreError
from .base import Store
from .local import LocalStore
from .memory import MemoryStore
from .zip import ZipStore

_named_memory: dict[str, MemoryStore] = {}
_named_lock = threading.Lock()


@at_fork
def _reset_after_fork() -> None:
    global _named_lock
    _named_lock = threading.Lock()


_STORAGE = ("filesystem", "local", "file", "memory", "zip")
_SCHEME_STORAGE = {"file": "file", "filesystem": "file", "local": "file", "memory": "memory", "zip": "zip"}


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
        if opts or storage is not None:
            given = "storage_options" if opts else "storage"
            raise TypeError(f"{given}= applies when a path or URL is given; {path!r} is a store object already")
        return path, ""
    if storage is not None and storage not in _STORAGE:
        raise StoreError(f"storage: unknown backend {storage!r} (expected one of {_STORAGE})")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise StoreError(f"path: expected a str, os.PathLike or Store, got {type(path).__name__}")
    spath = os.fspath(path) if path is not None else None
    if spath is not None and "://" in spath:
        scheme, rest = spath.split("://", 1)
        if storage is not None and _SCHEME_STORAGE.get(scheme) != _SCHEME_STORAGE.get(storage, storage):
            raise StoreError(f"path {spath!r} is a {scheme}:// URL but storage={storage!r} was given")
        if scheme == "memory":
            return _build(memory_store, opts, rest), ""
        if scheme == "file":
            return _build(LocalStore, opts, rest, read_only=read_only), ""
        if scheme == "zip":
            return _build(ZipStore, opts, rest, "r" if read_only else "a"), ""
        raise StoreError(f"path {spath!r}: the {scheme!r} scheme needs a cloud store, which exzarr does not have yet")
    if storage == "memory" or (spath is None and storage is None):
        return (_build(memory_store, opts, spath) if spath else _build(MemoryStore, opts)), ""
    if spath is None:
        raise StoreError(f"storage={storage!r} needs a path")
    if storage == "zip" or (storage is None and spath.endswith(".zip")):
        return _build(ZipStore, opts, spath, "r" if read_only else "a"), ""
    return _build(LocalStore, opts, spath, read_only=read_only), ""


def _build(factory: Any, opts: dict[str, Any], *args: Any, **kw: Any) -> Store:
    """``factory(*args, **kw, **opts)``, refusing ``storage_options`` the store does not take by name."""
    params = inspect.signature(factory).parameters
    allowed = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY or (p.default is not p.empty)]
    allowed = [n for n in allowed if n not in kw and n != "mode"]
    for name in opts:
        if name not in allowed:
            what = getattr(factory, "__name__", "this store")
            known = ", ".join(allowed) or "none"
            raise TypeError(f"storage_options: {name!r} is not an option of {what} (options: {known})")
    return factory(*args, **kw, **opts)
