"""Write-through attribute mappings for arrays and groups."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any


class Attributes(MutableMapping[str, Any]):
    """A dict-like view of a node's attributes; every change is written to storage at once.

    In v2 attributes live in ``.zattrs``; in v3 in the ``attributes`` of ``zarr.json``.

    >>> import exzarr
    >>> a = exzarr.create(shape=(2,), chunks=(2,))
    >>> a.attrs["units"] = "m"
    >>> dict(a.attrs)
    {'units': 'm'}
    """

    def __init__(self, read: Callable[[], dict[str, Any]], write: Callable[[dict[str, Any]], None]) -> None:
        self._read, self._write = read, write

    def _get(self) -> dict[str, Any]:
        return self._read()

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        attrs = dict(self._get())
        del attrs[key]
        self._write(attrs)

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def update(self, *args: Any, **kw: Any) -> None:  # type: ignore[override]
        """Set several attributes with a single write."""
        attrs = dict(self._get())
        attrs.update(*args, **kw)
        self._write(attrs)

    def put(self, attrs: dict[str, Any]) -> None:
        """Replace all attributes with ``attrs`` (one write)."""
        self._write(dict(attrs))

    def asdict(self) -> dict[str, Any]:
        return dict(self._get())

    def __repr__(self) -> str:
        return f"Attributes({self._get()!r})"
