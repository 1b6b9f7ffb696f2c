"""Write-through attribute mappings for arrays and groups."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any, Protocol


class _Node(Protocol):
    def _read_attributes(self) -> dict[str, Any]: ...
    def _write_attributes(self, attrs: dict[str, Any]) -> None: ...


class Attributes(MutableMapping[str, Any]):
    """A dict-like view of a node's attributes; every change is written to storage at once.

    In v2 attributes live in ``.zattrs``; in v3 in the ``attributes`` of ``zarr.json``.

    >>> import exzarr
    >>> a = exzarr.create(shape=(2,), chunks=(2,))
    >>> a.attrs["units"] = "m"
    >>> dict(a.attrs)
    {'units': 'm'}
    """

    def __init__(self, node: _Node) -> None:
        self._node = node

    def _get(self) -> dict[str, Any]:
        return self._node._read_attributes()

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        attrs = dict(self._get())
        del attrs[key]
        self._node._write_attributes(attrs)

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def update(self, *args: Any, **kw: Any) -> None:  # type: ignore[override]
        """Set several attributes with a single write."""
        attrs = dict(self._get())
        attrs.update(*args, **kw)
        self._node._write_attributes(attrs)

    def put(self, attrs: dict[str, Any]) -> None:
        """Replace all attributes with ``attrs`` (one write)."""
        self._node._write_attributes(dict(attrs))

    def asdict(self) -> dict[str, Any]:
        return dict(self._get())

    def __repr__(self) -> str:
        return f"Attributes({self._get()!r})"
