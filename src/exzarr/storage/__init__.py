"""Stores: the :class:`Store` interface; local, memory, zip and SQLite backends; object storage
(S3, GCS, Azure, HTTP) through obstore; an fsspec adapter."""

from .base import ByteRange, Store, check_key
from .fsspec_store import FsspecStore
from .local import LocalStore
from .memory import MemoryStore
from .objectstore import ObjectStore
from .sqlite import SQLiteStore
from .url import make_store, memory_store
from .wrappers import LatencyStore
from .zip import ZipStore

__all__ = [
    "ByteRange",
    "FsspecStore",
    "LatencyStore",
    "LocalStore",
    "MemoryStore",
    "ObjectStore",
    "SQLiteStore",
    "Store",
    "ZipStore",
    "check_key",
    "make_store",
    "memory_store",
]
