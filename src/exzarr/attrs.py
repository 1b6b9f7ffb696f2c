"""Write-through attribute mappings for arrays and groups."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any


class Attributes(MutableMapping[str, Any]):
    """A dict-like view of a node's attributes; every change is written to storage at once.

    In v2 attributes live in ``.zattrs``; in v3 in the ``attributes`` of ``zarr.json``. A change
    is a function of the stored attributes, applied by the node under its metadata lock to the
    document re-read from the store: concurrent writers of different keys (threads, handles,
    processes with ``process_locks=True``) never lose each other's changes.

    >>> import exzarr
    >>> a = exzarr.create(shape=(2,), chunks=(2,))
    >>> a.attrs["units"] = "m"
    >>> dict(a.attrs)
    {'units': 'm'}
    """

    def __init__(
        self, read: Callable[[], dict[str, Any]], modify: Callable[[Callable[[dict[str, Any]], dict[str, Any]]], None]
    ) -> None:
        self._read, self._modify = read, modify

    def _get(self) -> dict[str, Any]:
        return self._read()

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        if key not in self._get():
            raise KeyError(key)

        def drop(attrs: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in attrs.items() if k != key}

        self._modify(drop)

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def update(self, *args: Any, **kw: Any) -> None:  # type: ignore[override]
        """Set several attributes with a single write."""
        changes = dict(*args, **kw)
        self._modify(lambda attrs: {**attrs, **changes})

    def put(self, attrs: dict[str, Any]) -> None:
        """Replace all attributes with ``attrs`` (one write)."""
        new = dict(attrs)
        self._modify(lambda _: new)

    def asdict(self) -> dict[str, Any]:
        return dict(self._get())

    def __repr__(self) -> str:
        return f"Attributes({self._get()!r})"
