"""A store inside a single zip file (read and write)."""

from __future__ import annotations

import os
import threading
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._fork import track
from ..errors import StoreError
from .base import ByteRange, Snapshot, Store, check_key, join_parts, too_large


class ZipStore(Store):
    """Keys are members of a zip archive (stored uncompressed: chunks are compressed already).

    Zip archives cannot delete members: overwriting a key appends a new member that
    shadows the old one, and ``delete`` raises :class:`~exzarr.errors.StoreError`.
    Call :meth:`close` (or use ``with``) after writing so the archive's directory
    is written.

    ``mode`` is ``"r"`` (read-only), ``"w"`` (truncate) or ``"a"`` (append/create).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "data.zip")
    >>> with ZipStore(path, mode="w") as z:
    ...     z.set("a/zarr.json", b"{}")
    >>> ZipStore(path, mode="r").get("a/zarr.json")
    b'{}'
    """

    supports_deletes = False
    single_writer = True

    def __init__(self, path: str | os.PathLike[str], mode: str = "a", *, compression: int = zipfile.ZIP_STORED) -> None:
        if mode not in ("r", "w", "a"):
            raise ValueError(f"ZipStore: mode must be 'r', 'w' or 'a', got {mode!r}")
        super().__init__(read_only=mode == "r")
        self.path = Path(path).expanduser().absolute()
        self.mode = mode
        self.compression = compression
        self._lock = threading.RLock()
        self._zf: zipfile.ZipFile | None = None
        self._open(mode)
        track(self)

    def _after_fork(self) -> None:
        """A forked child shares the parent's file offset: it reopens the archive for itself, read
        only (the parent stays the one writer; what it had not flushed is not visible)."""
        self._lock = threading.RLock()
        if self._zf is not None:
            inherited = self._zf
            inherited.mode, inherited._didModify = "r", False  # closing it here must not write a directory
            self._zf = None
            self._read_only, self.mode = True, "r"
            try:
                self._open("r")
            except StoreError:
                self._zf = None

    def _open(self, mode: str) -> None:
        if mode == "a" and not self.path.exists():
            mode = "w"
        try:
            self._zf = zipfile.ZipFile(self.path, mode=mode, compression=self.compression, allowZip64=True)
        except FileNotFoundError:
            raise StoreError(f"ZipStore: {str(self.path)!r} does not exist") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise StoreError(f"ZipStore: cannot open {str(self.path)!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"ZipStore({str(self.path)!r}, mode={self.mode!r})"

    def __getstate__(self) -> dict[str, Any]:
        # a zip has one writer: a copy (another process, a Dask worker) reads what was written so
        # far and cannot write (two writers appending to one archive lose each other's members)
        self.flush()
        return {"path": str(self.path), "mode": "r", "compression": self.compression}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["mode"], compression=state["compression"])  # type: ignore[misc]

    def _zip(self) -> zipfile.ZipFile:
        if self._zf is None:
            raise StoreError(f"{self!r} is closed")
        return self._zf

    def get(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        check_key(key)
        r = ByteRange.coerce(byte_range)
        with self._lock:
            zf = self._zip()
            try:
                info = zf.getinfo(key)
            except KeyError:
                return None
            with zf.open(info) as f:
                if r is None:
                    return f.read()
                a, b = r.resolve(info.file_size)
                f.seek(a)
                return f.read(b - a)

    def get_limited(self, key: str, limit: int) -> bytes | None:
        """A member of at most ``limit`` bytes (by its directory entry, checked before any byte is
        inflated, so a deflated member cannot expand past it).

        >>> import os, tempfile
        >>> z = ZipStore(os.path.join(tempfile.mkdtemp(), "l.zip"), mode="w")
        >>> z.set("k", b"12345")
        >>> z.get_limited("k", 10), z.get_limited("missing", 10)
        (b'12345', None)
        """
        check_key(key)
        with self._lock:
            zf = self._zip()
            try:
                info = zf.getinfo(key)
            except KeyError:
                return None
            if info.file_size > limit:
                raise too_large(self, key, info.file_size, limit)
            with zf.open(info) as f:
                data = f.read(limit + 1)
        if len(data) > limit:  # pragma: no cover - zipfile stops at file_size
            raise too_large(self, key, len(data), limit)
        return data

    def snapshot(self, key: str) -> Any:
        """Range reads of the member ``key`` as the archive's directory lists it now (a later write
        appends a new member; the one read here does not change).

        >>> import os, tempfile
        >>> z = ZipStore(os.path.join(tempfile.mkdtemp(), "s.zip"), mode="w")
        >>> z.set("k", b"abcdef")
        >>> with z.snapshot("k") as snap:
        ...     snap.read(ByteRange(1, 3))
        b'bc'
        """
        import contextlib

        check_key(key)
        with self._lock:
            try:
                info = self._zip().getinfo(key)
            except KeyError:
                return contextlib.nullcontext(None)
        return contextlib.nullcontext(_MemberSnapshot(self, info))

    def exists(self, key: str) -> bool:
        check_key(key)
        with self._lock:
            return key in self._zip().NameToInfo

    def getsize(self, key: str) -> int:
        with self._lock:
            try:
                return self._zip().getinfo(check_key(key)).file_size
            except KeyError:
                raise FileNotFoundError(key) from None

    def set(self, key: str, value: bytes | bytearray | memoryview) -> None:
        check_key(key)
        self._check_writable(key)
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": newest member wins
            info = zipfile.ZipInfo(key, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = self.compression
            info.external_attr = 0o644 << 16
            self._zip().writestr(info, bytes(join_parts(value)))

    def delete(self, key: str) -> None:
        check_key(key)
        self._check_writable(key)
        with self._lock:
            if key in self._zip().NameToInfo:
                raise StoreError(f"{self!r}: zip archives cannot delete members (key {key!r})")

    def list(self) -> Iterator[str]:
        with self._lock:
            names = list(dict.fromkeys(n for n in self._zip().namelist() if not n.endswith("/")))
        return iter(names)

    def flush(self) -> None:
        """Write the archive directory so other readers see what was written so far.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "f.zip")
        >>> z = ZipStore(path, mode="w")
        >>> z.set("k", b"v")
        >>> z.flush()
        >>> ZipStore(path, mode="r").get("k")
        b'v'
        """
        with self._lock:
            if self._zf is not None and not self.read_only:
                self._zf.close()
                self._open("a")

    def close(self) -> None:
        with self._lock:
            if self._zf is not None:
                self._zf.close()
                self._zf = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class _MemberSnapshot(Snapshot):
    def __init__(self, store: ZipStore, info: zipfile.ZipInfo) -> None:
        self._store, self._info, self.size = store, info, info.file_size

    def read(self, byte_range: ByteRange | None = None) -> bytes:
        a, b = (0, self.size) if byte_range is None else byte_range.resolve(self.size)
        with self._store._lock, self._store._zip().open(self._info) as f:
            f.seek(a)
            return f.read(b - a)
