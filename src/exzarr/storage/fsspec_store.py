"""An adapter for fsspec filesystems and mappers (sftp, gcsfs, adlfs, ... the long tail).

fsspec is optional: the adapter is built only when a user passes an fsspec object. For the
clouds obstore serves directly (S3, GCS, Azure, HTTP), URLs give an :class:`ObjectStore`, which
is faster and more robust; this adapter is for everything else fsspec reaches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..errors import StoreError
from .base import ByteRange, Store, _dir_prefix, check_key, check_prefix, too_large


class FsspecStore(Store):
    """Keys under ``root`` of an fsspec filesystem ``fs``.

    >>> import fsspec
    >>> s = FsspecStore(fsspec.filesystem("memory"), "/doc-fsspec")
    >>> s.set("a/b", b"xyz"); s.get("a/b", (1, 3))
    b'yz'
    """

    def __init__(self, fs: Any, root: str = "", *, read_only: bool = False) -> None:
        super().__init__(read_only=read_only)
        self.fs = fs
        self.root = str(root).rstrip("/")
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.protocol = protocol
        self.io_bound = protocol not in ("file", "local", "memory")

    @classmethod
    def from_mapper(cls, mapper: Any, *, read_only: bool = False) -> FsspecStore:
        return cls(mapper.fs, mapper.root, read_only=read_only)

    def __repr__(self) -> str:
        return f"FsspecStore({self.protocol}://{self.root.lstrip('/')}{', read_only=True' if self.read_only else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FsspecStore) and other.fs == self.fs and other.root == self.root

    def __hash__(self) -> int:
        return hash((self.protocol, self.root))

    def __getstate__(self) -> dict[str, Any]:
        return {"fs": self.fs, "root": self.root, "read_only": self._read_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["fs"], state["root"], read_only=state["read_only"])  # type: ignore[misc]

    @property
    def lock_namespace(self) -> str:
        return f"fsspec:{self.protocol}:{self.root}"

    def location(self, path: str = "") -> str:
        if self.protocol in ("file", "local"):  # the same files as a LocalStore: the same location
            return os.path.realpath(os.path.join(self.root or "/", *[p for p in path.split("/") if p]))
        return "/".join(p for p in (self.lock_namespace, path.strip("/")) if p)

    def _p(self, key: str) -> str:
        return f"{self.root}/{key}" if self.root else key

    def _fail(self, op: str, key: str, exc: BaseException) -> StoreError:
        return StoreError(f"{self!r}: cannot {op} {key!r}: {exc}")

    def get(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        check_key(key)
        r = ByteRange.coerce(byte_range)
        path = self._p(key)
        try:
            if r is None:
                return self.fs.cat_file(path)
            if r.suffix is not None or r.stop is None:
                size = self.fs.size(path)
                a, b = r.resolve(size)
            else:
                a, b = r.start, r.stop
            return self.fs.cat_file(path, start=a, end=b) if b > a else b""
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return None
        except Exception as exc:
            raise self._fail("read", key, exc) from exc

    def get_limited(self, key: str, limit: int) -> bytes | None:
        check_key(key)
        try:
            size = self.fs.size(self._p(key))
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._fail("read", key, exc) from exc
        if size is not None and size > limit:
            raise too_large(self, key, size, limit)
        return self.get(key)

    def set(self, key: str, value: Any) -> None:
        check_key(key)
        self._check_writable(key)
        data = b"".join(memoryview(v).cast("B") for v in value) if isinstance(value, list) else bytes(memoryview(value).cast("B"))
        path = self._p(key)
        try:
            parent = path.rpartition("/")[0]
            if parent and self.protocol in ("file", "local"):
                self.fs.makedirs(parent, exist_ok=True)
            self.fs.pipe_file(path, data)
        except Exception as exc:
            raise self._fail("write", key, exc) from exc

    def delete(self, key: str) -> None:
        check_key(key)
        self._check_writable(key)
        try:
            self.fs.rm_file(self._p(key))
        except FileNotFoundError:
            pass
        except Exception as exc:
            if self.fs.exists(self._p(key)):
                raise self._fail("delete", key, exc) from exc

    def exists(self, key: str) -> bool:
        check_key(key)
        return bool(self.fs.isfile(self._p(key)))

    def list(self) -> Iterator[str]:
        return self._find(self.root)

    def _find(self, base: str) -> Iterator[str]:
        try:
            found = self.fs.find(base or "/", withdirs=False)
        except FileNotFoundError:
            return iter(())
        root = self.fs._strip_protocol(self.root) if self.root else ""
        cut = len(root.rstrip("/")) + 1 if root else 0
        keys = [self.fs._strip_protocol(p)[cut:] for p in found]
        return iter(sorted(k for k in keys if k))

    def list_prefix(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        head = prefix.rpartition("/")[0]
        return (k for k in self._find(self._p(head) if head else self.root) if k.startswith(prefix))

    def list_dir(self, prefix: str) -> Iterator[str]:
        p = _dir_prefix(prefix)
        base = self._p(p.rstrip("/")) if p else self.root
        try:
            entries = self.fs.ls(base or "/", detail=False)
        except FileNotFoundError:
            return iter(())
        return iter(sorted({e.rstrip("/").rsplit("/", 1)[-1] for e in entries}))
