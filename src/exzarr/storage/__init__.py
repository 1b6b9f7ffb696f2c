"""Stores: the :class:`Store` interface and the local, memory and zip backends."""

from .base import ByteRange, Store, check_key
from .local import LocalStore
from .memory import MemoryStore
from .url import make_store, memory_store
from .wrappers import LatencyStore
from .zip import ZipStore

__all__ = [
    "ByteRange",
    "LatencyStore",
    "LocalStore",
    "MemoryStore",
    "Store",
    "ZipStore",
    "check_key",
    "make_store",
    "memory_store",
]
