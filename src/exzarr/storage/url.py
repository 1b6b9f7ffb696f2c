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
    if not isinstance(path, (Store, str, os.PathLike)) and path is not None:
        path = foreign_store(path, read_only=read_only)  # obstore, fsspec or zarr-python store objects
    if isinstance(path, Store):
        if opts or storage is not None:
            given = "storage_options" if opts else "storage"
            raise TypeError(f"{given}= applies when a path or URL is given; {path!r} is a store object already")
        return path, ""
    if storage is not None and storage not in _STORAGE:
        raise StoreError(f"storage: unknown backend {storage!r} (expected one of {_STORAGE})")
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
        if scheme == "sqlite":  # sqlite:///abs/path.db or sqlite://rel/path.db
            from .sqlite import SQLiteStore

            return _build(SQLiteStore, opts, rest, read_only=read_only), ""
        from .cloud import SCHEMES, open_url

        if scheme.lower() in SCHEMES:
            return open_url(spath, opts, mode), ""
        raise StoreError(f"path {spath!r}: unknown scheme {scheme!r} (known: file, memory, zip, sqlite, {', '.join(SCHEMES)})")
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


def foreign_store(obj: Any, *, read_only: bool = False) -> Store:
    """A store object of another library as an exzarr :class:`Store`: an obstore store, an fsspec
    filesystem or mapper, or a zarr-python ``ObjectStore``/``FsspecStore``/``LocalStore``."""
    mod = type(obj).__module__ or ""
    name = type(obj).__name__
    if type(obj) is dict:  # zarr-python's StoreLike: a dict of key -> bytes, used in place
        bad = next((k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, bytes | bytearray)), None)
        if bad is not None:
            raise StoreError(f"path: a dict used as a store must map str keys to bytes; {bad!r} does not")
        return MemoryStore.from_dict(obj, read_only=read_only)
    if mod.startswith("obstore"):
        from .objectstore import ObjectStore

        return ObjectStore(obj, read_only=read_only)
    if mod.startswith("zarr."):
        ro = read_only or bool(getattr(obj, "read_only", False))
        if name == "ObjectStore" and hasattr(obj, "store"):
            from .objectstore import ObjectStore

            return ObjectStore(obj.store, read_only=ro)
        if name == "FsspecStore" and hasattr(obj, "fs"):
            from .fsspec_store import FsspecStore

            return FsspecStore(obj.fs, getattr(obj, "path", ""), read_only=ro)
        if name == "LocalStore" and hasattr(obj, "root"):
            return LocalStore(obj.root, read_only=ro)
    if mod.startswith("fsspec") or hasattr(obj, "cat_file") or (hasattr(obj, "fs") and hasattr(obj, "root")):
        from .fsspec_store import FsspecStore

        if hasattr(obj, "cat_file"):
            return FsspecStore(obj, "", read_only=read_only)
        return FsspecStore.from_mapper(obj, read_only=read_only)
    raise StoreError(
        f"path: expected a str, os.PathLike, an exzarr Store, a dict, an obstore store, an fsspec filesystem or mapper, "
        f"or a zarr-python ObjectStore/FsspecStore/LocalStore; got {type(obj).__name__}"
    )
