"""Typed runtime configuration, with a context manager and ``EXZARR_*`` environment overrides.

>>> import exzarr
>>> exzarr.config.cpu_workers >= 1
True
>>> with exzarr.config.set(io_concurrency=8):
...     exzarr.config.io_concurrency
8
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from ._fork import track

__all__ = ["Config", "config"]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} must be an integer") from None
    if v < 1:
        raise ValueError(f"environment variable {name}={raw!r} must be >= 1")
    return v


@dataclass
class Config:
    """Process-wide defaults. Per-call arguments (``max_concurrency=``) override them.

    Attributes
    ----------
    cpu_workers:
        Threads that decode/encode chunks (default: the number of cores).
    io_concurrency:
        Storage requests in flight at once (default 64).
    write_empty_chunks:
        Store chunks that equal the fill value (default ``False``: they are skipped/deleted).
    max_chunk_bytes:
        The most bytes one chunk may decode to when its metadata does not fix the size
        (variable-length strings, filters that change the size): a stored chunk claiming more
        is refused instead of decompressed (default 1 GiB). Fixed-size data types are held to
        their exact chunk size whatever this says.
    """

    cpu_workers: int = 0
    io_concurrency: int = 0
    write_empty_chunks: bool = False
    max_chunk_bytes: int = 2**30

    def __post_init__(self) -> None:
        if not self.cpu_workers:
            self.cpu_workers = _env_int("EXZARR_CPU_WORKERS", os.cpu_count() or 1)
        if not self.io_concurrency:
            self.io_concurrency = _env_int("EXZARR_IO_CONCURRENCY", 64)
        self._lock = threading.Lock()
        track(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def _validate(self, key: str, value: Any) -> None:
        names = {f.name for f in fields(self)}
        if key not in names:
            raise AttributeError(f"exzarr.config has no setting {key!r} (known: {sorted(names)})")
        positive = ("cpu_workers", "io_concurrency", "max_chunk_bytes")
        if key in positive and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"exzarr.config.{key} must be a positive integer, got {value!r}")
        if key == "write_empty_chunks" and not isinstance(value, bool):
            raise ValueError(f"exzarr.config.write_empty_chunks must be a bool, got {value!r}")

    def update(self, **kw: Any) -> None:
        """Change settings permanently."""
        for k, v in kw.items():
            self._validate(k, v)
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, v)

    @contextlib.contextmanager
    def set(self, **kw: Any) -> Iterator[Config]:
        """Change settings inside a ``with`` block, restoring them afterwards."""
        old = {k: getattr(self, k) for k in kw if hasattr(self, k)}
        self.update(**kw)
        try:
            yield self
        finally:
            self.update(**old)


config = Config()
