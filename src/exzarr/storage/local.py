"""A store on the local file system, with crash-safe writes."""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .base import ByteRange, Store, _dir_prefix, check_key

_TMP_MARK = ".exzarr-tmp-"
_SPARES = ".exzarr-spares"
_HIDDEN = ".exzarr-"  # temp files and the process-lock directory: never listed as keys


def _tag() -> str:
    return f"{os.getpid()}-{threading.get_ident()}"


_counter = itertools.count()
_process = {"pid": -1, "tag": ""}


def _unique() -> str:
    """A temp-file suffix unique across processes and threads: a random per-process tag (renewed
    after fork) plus a counter. One uuid4 per write costs a getrandom syscall (~4% of a shard write)."""
    pid = os.getpid()
    if _process["pid"] != pid:
        _process["pid"], _process["tag"] = pid, uuid.uuid4().hex[:16]
    return f"{_process['tag']}.{next(_counter)}"


_EXCHANGE_STATE = {"ok": True}


def _exchange_supported() -> bool:
    return _EXCHANGE_STATE["ok"]


def _make_exchange() -> Callable[[str, str], bool] | None:
    """``renameat2(RENAME_EXCHANGE)`` through libc, or ``None`` where it does not exist."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    state = _EXCHANGE_STATE

    def exchange(src: str, dst: str) -> bool:
        """Swap ``src`` and ``dst`` atomically; False if ``dst`` is missing or the FS cannot."""
        if not state["ok"]:
            return False
        if fn(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), rename_exchange) == 0:
            return True
        err = ctypes.get_errno()
        if err == errno.ENOENT:
            return False
        if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
            state["ok"] = False  # e.g. a filesystem without exchange support: fall back for good
            return False
        raise OSError(err, os.strerror(err), dst)

    return exchange


_exchange = _make_exchange()


class LocalStore(Store):
    """Keys are files under ``root``; ``set`` writes a temporary file and renames it.

    A crash therefore leaves either the old value or the new one, never a
    half-written chunk. Keys that would escape ``root`` (``../x``, absolute paths)
    are refused.

    >>> import tempfile
    >>> s = LocalStore(tempfile.mkdtemp())
    >>> s.set("a/zarr.json", b"{}")
    >>> sorted(s.list())
    ['a/zarr.json']
    """

    write_concurrency = 8  # measured: 4096 small chunks, 2 cores: 86 MB/s with 2 writers, 104 MB/s with 8

    def __init__(
        self, root: str | os.PathLike[str], *, read_only: bool = False, fsync: bool = False, reuse_files: bool = False
    ) -> None:
        super().__init__(read_only=read_only)
        self.root = Path(root).expanduser().absolute()
        self._root = str(self.root) + os.sep
        self.fsync = fsync
        self.reuse_files = reuse_files

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r}{', read_only=True' if self.read_only else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalStore) and other.root == self.root and other.read_only == self.read_only

    def __hash__(self) -> int:
        return hash((self.root, self.read_only))

    def __getstate__(self) -> dict[str, Any]:
        return {"root": str(self.root), "read_only": self._read_only, "fsync": self.fsync, "reuse_files": self.reuse_files}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["root"], read_only=state["read_only"], fsync=state["fsync"], reuse_files=state.get("reuse_files", False)
        )

    def with_read_only(self, read_only: bool = True) -> LocalStore:
        return LocalStore(self.root, read_only=read_only, fsync=self.fsync, reuse_files=self.reuse_files)

    @property
    def lock_namespace(self) -> str:
        return self._root

    def _path(self, key: str) -> Path:
        return Path(self._fspath(key))

    def _fspath(self, key: str) -> str:
        # plain string join: pathlib costs ~10 us a call, which matters per chunk
        return self._root + check_key(key) if os.sep == "/" else self._root + check_key(key).replace("/", os.sep)

    def get(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        path = self._fspath(key)
        r = ByteRange.coerce(byte_range) if byte_range is not None else None
        try:
            with open(path, "rb", buffering=0) as f:
                if r is None:
                    return f.readall()
                size = os.fstat(f.fileno()).st_size
                a, b = r.resolve(size)
                f.seek(a)
                return f.read(b - a)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            return None
        except OSError as exc:
            raise StoreError(f"{self!r}: cannot read {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._fspath(key))

    def getsize(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise FileNotFoundError(key) from None

    def set(self, key: str, value: bytes | bytearray | memoryview) -> None:
        """Write atomically: readers see the old value or the new one, never a mix.

        The bytes go to a new temporary file next to the key, which ``os.replace`` then moves
        over the key. A reader that opened the old file keeps reading the old bytes (the old
        inode lives on until it is closed), in this process or any other.

        With ``reuse_files=True`` (Linux) the bytes instead go into this thread's reusable
        *spare* file (``.exzarr-spares/`` under the root), which is atomically exchanged with
        the key's file (``renameat2(RENAME_EXCHANGE)``) and then holds the old bytes until the
        next write overwrites it in place. That avoids allocating new blocks per write (on
        ext4 with ``discard``: ~20 us instead of ~500 us per 32 KB chunk), but a reader that
        opened the old file just before the exchange could see it overwritten: use it only
        while nothing else reads the store (a bulk ingest).
        """
        path = self._fspath(key)
        self._check_writable(key)
        if self.reuse_files and _exchange is not None and self._set_by_exchange(path, value):
            return
        head, name = os.path.split(path)
        tmp = os.path.join(head, f"{_TMP_MARK}{name}.{_unique()}")
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            except FileNotFoundError:
                os.makedirs(head, exist_ok=True)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                self._write_fd(fd, value)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if isinstance(exc, OSError):
                raise StoreError(f"{self!r}: cannot write {key!r}: {exc}") from exc
            raise

    def _write_fd(self, fd: int, value: Any) -> None:
        views = [memoryview(v).cast("B") for v in (value if isinstance(value, list) else [value])]
        total = sum(len(v) for v in views)
        while views:  # one writev for all parts; os.writev may be partial, so continue where it stopped
            n = os.writev(fd, views[:1024])
            while n and views:
                if n >= len(views[0]):
                    n -= len(views.pop(0))
                else:
                    views[0] = views[0][n:]
                    n = 0
            views = [v for v in views if len(v)]
        os.ftruncate(fd, total)  # a reused spare may have held more bytes
        if self.fsync:
            os.fsync(fd)

    def _set_by_exchange(self, path: str, value: bytes | bytearray | memoryview) -> bool:
        """The exchange write; False when exchange turned out to be unsupported here."""
        spare = os.path.join(self._root, _SPARES, _tag())
        try:
            try:
                fd = os.open(spare, os.O_WRONLY | os.O_CREAT, 0o644)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(spare), exist_ok=True)
                fd = os.open(spare, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                self._write_fd(fd, value)
            finally:
                os.close(fd)
            if _exchange(spare, path):  # type: ignore[misc]
                return True
            if not _exchange_supported():
                os.unlink(spare)
                return False
            try:  # nothing to exchange with yet: the spare becomes the key's file
                os.rename(spare, path)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                os.rename(spare, path)
            return True
        except OSError as exc:
            raise StoreError(f"{self!r}: cannot write {path[len(self._root) :]!r}: {exc}") from exc

    def delete(self, key: str) -> None:
        path = self._fspath(key)
        self._check_writable(key)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except IsADirectoryError:
            pass

    def delete_prefix(self, prefix: str) -> None:
        super().delete_prefix(prefix)
        p = _dir_prefix(prefix)
        if p:  # remove our hidden spare/temp files, then the now-empty directories (never the root or siblings)
            base = self._path(p.rstrip("/"))
            for dirpath, _dirs, files in sorted(os.walk(base), key=lambda t: -len(t[0])) if base.is_dir() else []:
                for f in files:
                    if f.startswith(_HIDDEN):
                        try:
                            os.unlink(os.path.join(dirpath, f))
                        except OSError:
                            pass
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass

    def _walk(self, base: Path, rel: str) -> Iterator[str]:
        try:
            entries = list(os.scandir(base))
        except (FileNotFoundError, NotADirectoryError):
            return
        for e in entries:
            if e.name.startswith(_HIDDEN):
                continue
            key = f"{rel}{e.name}"
            if e.is_dir(follow_symlinks=False):
                yield from self._walk(Path(e.path), key + "/")
            else:
                yield key

    def list(self) -> Iterator[str]:
        return self._walk(self.root, "")

    def list_prefix(self, prefix: str) -> Iterator[str]:
        # walk only the deepest directory the prefix names
        head, _, _ = prefix.rpartition("/")
        base = self.root.joinpath(*head.split("/")) if head else self.root
        rel = head + "/" if head else ""
        return (k for k in self._walk(base, rel) if k.startswith(prefix))

    def list_dir(self, prefix: str) -> Iterator[str]:
        p = _dir_prefix(prefix)
        base = self.root.joinpath(*p.rstrip("/").split("/")) if p else self.root
        try:
            names = sorted(e.name for e in os.scandir(base) if not e.name.startswith(_HIDDEN))
        except (FileNotFoundError, NotADirectoryError):
            return iter(())
        return iter(names)
