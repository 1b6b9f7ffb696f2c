"""Chunk locks: a whole read-modify-write of one chunk happens under its lock.

Metadata read-modify-writes (shape, attributes) hold :func:`metadata_lock`, striped apart
from the chunk locks. Within a process, locks are striped: a chunk's ``(store namespace, key)`` hashes to one
of a fixed set of locks, so memory stays bounded and two arrays opened separately on
the same directory still share locks. A task holds one chunk lock at a time, so
stripes can only serialise writers, never deadlock them.

Across processes, ``process_locks=True`` adds an OS file lock (``fcntl.flock``) per chunk
in a hidden ``.exzarr-locks`` directory of a :class:`~exzarr.storage.LocalStore`. The
kernel drops the lock when its holder exits or is killed, which is the stale-lock
recovery: a crashed writer never blocks others. Waiting longer than ``timeout``
raises :class:`TimeoutError` naming the chunk key.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

from .._fork import at_fork
from ..errors import StoreError
from ..storage.base import Store

_STRIPES = [threading.Lock() for _ in range(1024)]
# metadata documents have their own stripes: a metadata update holds one while it writes chunks
# (append), and chunk stripes are never held while waiting for a metadata stripe, so no deadlock
_META_STRIPES = [threading.Lock() for _ in range(64)]
LOCK_DIR = ".exzarr-locks"


@at_fork
def _reset_after_fork() -> None:
    # a stripe held by another parent thread at the fork would stay held in the child for ever
    _STRIPES[:] = [threading.Lock() for _ in range(len(_STRIPES))]
    _META_STRIPES[:] = [threading.Lock() for _ in range(len(_META_STRIPES))]


def thread_lock(store: Store, key: str) -> threading.Lock:
    return _STRIPES[hash((store.lock_namespace, key)) % len(_STRIPES)]


@contextlib.contextmanager
def process_lock(store: Store, key: str, *, timeout: float = 60.0, poll: float = 0.005) -> Iterator[None]:
    """Hold an exclusive OS lock for ``key`` (LocalStore only)."""
    import fcntl

    root = store.lock_root
    if root is None:
        raise StoreError(f"process_locks need a LocalStore; {store!r} cannot hold lock files")
    path = os.path.join(root, LOCK_DIR, key.replace("/", "%") + ".lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"chunk {key!r}: lock held by another process for over {timeout:g} s") from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def chunk_lock(store: Store, key: str, *, processes: bool = False, timeout: float = 60.0) -> Iterator[None]:
    """The lock a chunk write holds over its whole read-modify-write."""
    with thread_lock(store, key):
        if processes:
            with process_lock(store, key, timeout=timeout):
                yield
        else:
            yield


@contextlib.contextmanager
def metadata_lock(store: Store, path: str, *, processes: bool = False, timeout: float = 60.0) -> Iterator[None]:
    """The lock a read-modify-write of the node ``path``'s metadata (shape, attributes) holds:
    within the process always, across processes too with ``processes=True``."""
    name = f"{path}/.metadata" if path else ".metadata"
    with _META_STRIPES[hash((store.lock_namespace, name)) % len(_META_STRIPES)]:
        if processes:
            with process_lock(store, name, timeout=timeout):
                yield
        else:
            yield


@contextlib.contextmanager
def chunk_locks(store: Store, keys: list[str], *, processes: bool = False, timeout: float = 60.0) -> Iterator[None]:
    """The locks of many chunks at once, for a batched writer: the distinct stripes are taken in
    index order and process locks in key order, so two batched writers never wait on each other
    in a cycle (a single-chunk writer holds one stripe and waits for nothing while holding it)."""
    stripes = sorted({hash((store.lock_namespace, k)) % len(_STRIPES) for k in keys})
    with contextlib.ExitStack() as stack:
        for i in stripes:
            stack.enter_context(_STRIPES[i])
        if processes:
            for k in sorted(set(keys)):
                stack.enter_context(process_lock(store, k, timeout=timeout))
        yield
