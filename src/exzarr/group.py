"""The :class:`Group`: a node holding arrays and other groups."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from . import metadata as md
from .array import Array
from .attrs import Attributes
from .cache import CachePool
from .chunk_grid import normalize_shape
from .creation import create_with_data, is_v3_style, spec_from_kwargs
from .dtypes import as_data_type
from .engine.locks import metadata_lock
from .errors import ConsolidatedMetadataWarning, MetadataError, NodeExistsError, NodeNotFoundError, PathError, ReadOnlyError
from .info import GroupInfo, group_info
from .metadata import consolidated as consolidated_md
from .metadata.model import ArrayMetadata, GroupMetadata
from .nodes import (
    OPTION_FIELDS,
    ArrayOptions,
    ArraySpec,
    normalize_path,
    resolve_array,
    resolve_group,
    split_kwargs,
)
from .storage.base import Store

__all__ = ["Group", "node_from_metadata"]


def _check_name(name: str) -> None:
    for part in name.split("/"):
        if not part or part.startswith("__") or set(part) == {"."} or part in ("zarr.json", ".zarray", ".zgroup", ".zattrs"):
            raise PathError(f"invalid node name {name!r}: names must be non-empty, not all dots, not start with '__'")


def node_from_metadata(
    store: Store,
    path: str,
    meta: ArrayMetadata | GroupMetadata,
    *,
    read_only: bool = False,
    options: ArrayOptions | None = None,
    consolidated: consolidated_md.Nodes | None = None,
    check_against: consolidated_md.Nodes | None = None,
    caches: CachePool | None = None,
) -> Array | Group:
    """The :class:`Array` or :class:`Group` for stored metadata (``options`` apply to arrays, and
    to the arrays a group opens; with ``cache_bytes``, arrays at one path share ``caches``)."""
    if isinstance(meta, ArrayMetadata):
        cb = options.cache_bytes if options is not None else None
        cache = caches.for_path(path, cb) if caches is not None and cb else None
        return Array(store, path, meta, read_only=read_only, options=options, cache=cache)
    return Group(
        store,
        path,
        meta,
        read_only=read_only,
        options=options,
        consolidated=consolidated,
        check_against=check_against,
        caches=caches,
    )


class Group:
    """A Zarr group. Index it like a dict: ``g["a/b"]``.

    >>> import exzarr
    >>> g = exzarr.create_group("memory://doc-group")
    >>> sub = g.create_group("sub")
    >>> a = sub.create_array("x", shape=(4,), chunks=(2,), dtype="int32")
    >>> print(g.tree())
    /
    └── sub
        └── x (4,) int32
    """

    def __init__(
        self,
        store: Store,
        path: str,
        metadata: GroupMetadata,
        *,
        read_only: bool = False,
        options: ArrayOptions | None = None,
        consolidated: consolidated_md.Nodes | None = None,
        check_against: consolidated_md.Nodes | None = None,
        caches: CachePool | None = None,
    ) -> None:
        self._store = store
        self._path = normalize_path(path)
        self._meta = metadata
        self._read_only = read_only or store.read_only
        self._options = options if options is not None else ArrayOptions()  # for the arrays it opens
        self._caches = caches if caches is not None else CachePool()  # shared by its handles on one array
        # nodes below this group from consolidated metadata: lookups and listings then cost no requests
        self._consolidated = consolidated
        # with use_consolidated=False: consolidated entries to compare against (stale ones are reported)
        self._check_against = check_against

    # ------------------------------------------------------------------ properties
    @property
    def store(self) -> Store:
        """The store holding the group.

        >>> import exzarr
        >>> exzarr.create_group().store
        MemoryStore(<1 keys>)
        """
        return self._store

    @property
    def path(self) -> str:
        """Path of the group inside its store (``""`` for the root).

        >>> import exzarr
        >>> exzarr.create_group().create_group("a/b").path
        'a/b'
        """
        return self._path

    @property
    def name(self) -> str:
        """The group's absolute name in its hierarchy: ``"/"`` plus its path.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> g.name, g.create_group("a/b").name
        ('/', '/a/b')
        """
        return "/" + self._path

    @property
    def basename(self) -> str:
        """The last component of the path.

        >>> import exzarr
        >>> exzarr.create_group().create_group("a/b").basename
        'b'
        """
        return self._path.rsplit("/", 1)[-1]

    @property
    def metadata(self) -> GroupMetadata:
        """The group's metadata as read (or written) by this handle.

        >>> import exzarr
        >>> exzarr.create_group(attributes={"k": 1}).metadata
        GroupMetadata(zarr_format=3, attributes={'k': 1}, extra={})
        """
        return self._meta

    @property
    def zarr_format(self) -> int:
        """2 or 3.

        >>> import exzarr
        >>> exzarr.create_group(zarr_format=2).zarr_format
        2
        """
        return self._meta.zarr_format

    @property
    def read_only(self) -> bool:
        """Whether the group (and what it opens) refuses writes.

        >>> import exzarr
        >>> _ = exzarr.create_group("memory://doc-g-ro")
        >>> exzarr.open_group("memory://doc-g-ro", mode="r").read_only
        True
        """
        return self._read_only

    @property
    def attrs(self) -> Attributes:
        """The user attributes, a mutable mapping written through to the store.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> g.attrs["title"] = "demo"
        >>> dict(g.attrs)
        {'title': 'demo'}
        """
        return Attributes(self._read_attributes, self._modify_attributes)

    def update_attributes(self, new_attributes: dict[str, Any]) -> Group:
        """Merge ``new_attributes`` into the stored attributes (one write, under the metadata
        lock) and return the group, as zarr-python does.

        >>> import exzarr
        >>> g = exzarr.create_group(attributes={"a": 1})
        >>> dict(g.update_attributes({"b": 2}).attrs)
        {'a': 1, 'b': 2}
        """
        if not isinstance(new_attributes, dict):
            raise TypeError(f"update_attributes() takes a dict, got {type(new_attributes).__name__}")
        self.attrs.update(new_attributes)
        return self

    @property
    def info(self) -> GroupInfo:
        """What the group is: name, format, read-only, store, attributes and its direct members
        (a table as ``str``, a mapping with ``.to_dict()``).

        >>> import exzarr
        >>> g = exzarr.create_group("memory://doc-ginfo", mode="w")
        >>> _ = g.create_array("x", shape=(4,), chunks=(2,))
        >>> g.info.arrays, g.info.zarr_format
        (('x',), 3)
        """
        return group_info(self)

    def __repr__(self) -> str:
        return f"<exzarr.Group {self.name!r} v{self.zarr_format}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Group) and other._store == self._store and other._path == self._path

    __hash__ = object.__hash__

    def __enter__(self) -> Group:
        return self

    def __exit__(self, *exc: object) -> None:
        self._store.close()

    def _check_writable(self) -> None:
        if self._read_only:
            raise ReadOnlyError(f"group {self.name!r} is read-only")

    def _read_attributes(self) -> dict[str, Any]:
        return dict(self._meta.attributes)

    def _modify_attributes(self, change: Any) -> None:
        """Apply ``change(stored attributes)`` to the group's document as stored now, under its
        metadata lock (consolidated metadata and other fields stay as stored)."""
        self._check_writable()
        with metadata_lock(self._store, self._path, processes=self._options.process_locks):
            current = md.read_metadata(self._store, self._path, zarr_format=self.zarr_format)
            if not isinstance(current, GroupMetadata):
                raise NodeNotFoundError(f"group {self.name!r} is no longer in {self._store!r}")
            meta = current.with_(attributes=change(dict(current.attributes)))
            md.write_metadata(self._store, self._path, meta, attrs_only=True)
            self._meta = meta

    def _child(self, name: str) -> str:
        name = normalize_path(name)
        return f"{self._path}/{name}" if self._path else name

    # ------------------------------------------------------------------ members
    @property
    def consolidated(self) -> bool:
        """Whether lookups and listings are served from consolidated metadata.

        >>> import exzarr
        >>> g = exzarr.create_group("memory://doc-g-cons")
        >>> _ = exzarr.consolidate_metadata("memory://doc-g-cons")
        >>> g.consolidated, exzarr.open_consolidated("memory://doc-g-cons").consolidated
        (False, True)
        """
        return self._consolidated is not None

    def _get_node(self, name: str) -> Array | Group | None:
        path = self._child(name)
        rel = normalize_path(name)
        ro, opts = self._read_only, self._options
        if self._consolidated is not None:
            meta = self._consolidated.get(rel)
            if meta is None:
                return None
            sub = consolidated_md.subset(self._consolidated, rel) if isinstance(meta, GroupMetadata) else None
            return node_from_metadata(self._store, path, meta, read_only=ro, options=opts, consolidated=sub, caches=self._caches)
        meta = md.read_metadata(self._store, path, zarr_format=self.zarr_format)
        if meta is None:
            return None
        check = self._check_against
        if check is not None and rel in check and not consolidated_md.documents_equal(meta, check[rel]):
            warnings.warn(
                f"consolidated metadata of group {self.name!r} is stale for {'/' + path!r}: "
                "it disagrees with the node's own metadata (run exzarr.consolidate_metadata again)",
                ConsolidatedMetadataWarning,
                stacklevel=3,
            )
        sub = consolidated_md.subset(check, rel) if check is not None and isinstance(meta, GroupMetadata) else None
        return node_from_metadata(self._store, path, meta, read_only=ro, options=opts, check_against=sub, caches=self._caches)

    def __getitem__(self, name: str) -> Array | Group:
        node = self._get_node(name)
        if node is None:
            raise KeyError(name)
        return node

    def get(self, name: str, default: Any = None) -> Array | Group | Any:
        """The child node ``name`` (a path such as ``"a/b"`` too), or ``default`` if there is none.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> _ = g.create_group("a")
        >>> g.get("a"), g.get("missing", 0)
        (<exzarr.Group '/a' v3>, 0)
        """
        node = self._get_node(name)
        return default if node is None else node

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._get_node(name) is not None

    def _member_names(self) -> list[str]:
        if self._consolidated is not None:
            return sorted(k for k in self._consolidated if "/" not in k)
        names = []
        for name in sorted(self._store.list_dir(self._path)):
            if name in md.METADATA_KEYS or name.startswith("."):
                continue
            path = self._child(name)
            keys = ("zarr.json",) if self.zarr_format == 3 else (".zarray", ".zgroup")
            if any(self._store.exists(f"{path}/{k}") for k in keys):
                names.append(name)
        return names

    def members(self) -> list[tuple[str, Array | Group]]:
        """``(name, node)`` for every direct child, sorted by name.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> _ = g.create_group("b")
        >>> _ = g.create_array("a", shape=(2,), dtype="u1")
        >>> [(name, type(node).__name__) for name, node in g.members()]
        [('a', 'Array'), ('b', 'Group')]
        """
        out = []
        for name in self._member_names():
            node = self._get_node(name)
            if node is not None:
                out.append((name, node))
        return out

    def keys(self) -> list[str]:
        """Names of the direct children (arrays and groups), sorted.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> _ = g.create_group("b")
        >>> _ = g.create_array("a", shape=(2,))
        >>> g.keys()
        ['a', 'b']
        """
        return self._member_names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._member_names())

    def __len__(self) -> int:
        return len(self._member_names())

    def arrays(self) -> list[tuple[str, Array]]:
        """``(name, array)`` for every direct child array, sorted by name.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> _ = g.create_array("x", shape=(2,))
        >>> _ = g.create_group("sub")
        >>> g.arrays()
        [('x', <exzarr.Array '/x' shape=(2,) chunks=(2,) dtype=float64 v3>)]
        """
        return [(n, m) for n, m in self.members() if isinstance(m, Array)]

    def groups(self) -> list[tuple[str, Group]]:
        """``(name, group)`` for every direct child group, sorted by name.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> _ = g.create_array("x", shape=(2,))
        >>> _ = g.create_group("sub")
        >>> g.groups()
        [('sub', <exzarr.Group '/sub' v3>)]
        """
        return [(n, m) for n, m in self.members() if isinstance(m, Group)]

    def tree(self, *, max_depth: int | None = None) -> str:
        """A text rendering of the hierarchy, arrays shown with shape and dtype; ``max_depth``
        limits how many levels are shown.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> _ = g.create_array("a/x", shape=(3,), dtype="u1")
        >>> print(g.tree())
        /
        └── a
            └── x (3,) uint8
        >>> print(g.tree(max_depth=1))
        /
        └── a
        """
        lines = [self.name if self._path else "/"]

        def walk(g: Group, prefix: str, depth: int) -> None:
            if max_depth is not None and depth >= max_depth:
                return
            items = g.members()
            for i, (name, node) in enumerate(items):
                last = i == len(items) - 1
                branch = "└── " if last else "├── "
                if isinstance(node, Array):
                    lines.append(f"{prefix}{branch}{name} {node.shape} {node.metadata.dtype}")
                else:
                    lines.append(f"{prefix}{branch}{name}")
                    walk(node, prefix + ("    " if last else "│   "), depth + 1)

        walk(self, "", 0)
        return "\n".join(lines)

    # ------------------------------------------------------------------ creating
    def _ensure_parents(self, name: str) -> None:
        parts = normalize_path(name).split("/")[:-1]
        cur = self
        for p in parts:
            cur = cur.require_group(p)

    def create_group(self, name: str, *, attributes: dict[str, Any] | None = None, overwrite: bool = False) -> Group:
        """Create a child group (intermediate groups are created too).

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> g.create_group("a/b", attributes={"k": 1}).attrs["k"], g.keys()
        (1, ['a'])
        """
        self._check_writable()
        self._consolidated = None  # the consolidated view no longer covers the hierarchy
        _check_name(normalize_path(name))
        self._ensure_parents(name)
        path = self._child(name)
        mode = "w" if overwrite else "w-"
        meta, _ = resolve_group(self._store, path, mode, zarr_format=self.zarr_format, attributes=attributes)
        return Group(self._store, path, meta, options=self._options, caches=self._caches)

    def require_group(self, name: str) -> Group:
        """The child group ``name``, created if missing (like ``mkdir -p``).

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> g.require_group("a/b") == g.require_group("a/b")
        True
        """
        node = self._get_node(name)
        if isinstance(node, Group):
            return node
        if node is not None:
            raise NodeExistsError(f"{'/' + self._child(name)!r} is an array, not a group")
        return self.create_group(name)

    def _array_request(self, name: str, kwargs: dict[str, Any], caller: str) -> tuple[str, ArraySpec, ArrayOptions]:
        self._check_writable()
        _check_name(normalize_path(name))
        spec_kw, opts = split_kwargs(kwargs, caller)
        spec_kw.setdefault("zarr_format", self.zarr_format)
        if spec_kw["zarr_format"] != self.zarr_format:
            raise MetadataError(f"group {self.name!r} is v{self.zarr_format}; cannot hold a v{spec_kw['zarr_format']} array")
        if "shape" not in spec_kw:
            raise TypeError(f"{caller}() missing required keyword argument 'shape'")
        given = {k: v for k, v in vars(opts).items() if k in kwargs}
        merged = ArrayOptions(**{**vars(self._options), **given})  # the group's options, overridden per array
        return self._child(name), ArraySpec(**spec_kw), merged

    def create_array(self, name: str, *, overwrite: bool = False, **kwargs: Any) -> Array:
        """Create a child array; keyword arguments are those of :func:`exzarr.create`
        (``write_empty_chunks``, ``process_locks`` and ``cache_bytes`` included), or those of
        zarr-python 3's ``create_array`` (:func:`exzarr.create_array`: ``data=``,
        ``compressors=``, ``serializer=``, ``chunks="auto"``...), which also write ``data``.

        >>> import exzarr, numpy as np
        >>> g = exzarr.create_group("memory://doc-g-ca", mode="w")
        >>> a = g.create_array("t/x", data=np.arange(4), compressors=None)
        >>> a[...].tolist(), a.compressors, a.name
        ([0, 1, 2, 3], (), '/t/x')
        """
        if is_v3_style(kwargs):
            return self._create_array_v3_style(name, overwrite, kwargs)
        path, spec, opts = self._array_request(name, kwargs, "create_array")
        self._consolidated = None
        self._ensure_parents(name)
        meta, _ = resolve_array(self._store, path, "w" if overwrite else "w-", array=spec)
        cache = self._caches.for_path(path, opts.cache_bytes) if opts.cache_bytes else None
        return Array(self._store, path, meta, options=opts, cache=cache)

    def _create_array_v3_style(self, name: str, overwrite: bool, kwargs: dict[str, Any]) -> Array:
        self._check_writable()
        _check_name(normalize_path(name))
        given = {k: kwargs.pop(k) for k in OPTION_FIELDS if k in kwargs}
        kwargs.setdefault("zarr_format", self.zarr_format)
        if kwargs["zarr_format"] != self.zarr_format:
            raise MetadataError(f"group {self.name!r} is v{self.zarr_format}; cannot hold a v{kwargs['zarr_format']} array")
        spec, data = spec_from_kwargs(kwargs, "create_array", name="/" + self._child(name))
        opts = ArrayOptions(**{**vars(self._options), **given})
        path = self._child(name)
        self._consolidated = None
        self._ensure_parents(name)
        cache = self._caches.for_path(path, opts.cache_bytes) if opts.cache_bytes else None
        mode = "w" if overwrite else "w-"
        return create_with_data(self._store, path, mode, spec, data, opts, "create_array", cache=cache)

    def require_array(self, name: str, **kwargs: Any) -> Array:
        """The child array ``name``, created (with :func:`exzarr.create`'s keyword arguments) if
        missing. An existing array must match the ``shape`` and ``dtype`` given, if given; the
        other arguments are checked as for a creation, and the array options apply to the
        array returned.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> a = g.require_array("x", shape=(4,), dtype="i2")
        >>> g.require_array("x", shape=(4,), dtype="i2") == a
        True
        """
        node = self._get_node(name)
        if isinstance(node, Array):
            spec_kw, _ = split_kwargs(kwargs, "require_array")
            ArraySpec(**{"shape": node.shape, "zarr_format": self.zarr_format, **spec_kw}).validate()
            for key, have in (("shape", node.shape), ("dtype", node.dtype.newbyteorder("="))):
                want = kwargs.get(key)
                if want is None:
                    continue
                want = normalize_shape(want) if key == "shape" else as_data_type(want).numpy.newbyteorder("=")
                if want != have:
                    raise NodeExistsError(f"array {node.name!r} exists with {key} {have}, not {want}")
            given = {k: v for k, v in kwargs.items() if k in OPTION_FIELDS}
            if not given:
                return node
            return Array(
                self._store,
                node.path,
                node.metadata,
                read_only=node.read_only,
                options=ArrayOptions(**{**vars(node.options), **given}),
            )
        if node is not None:
            raise NodeExistsError(f"{'/' + self._child(name)!r} is a group, not an array")
        return self.create_array(name, **kwargs)

    def __delitem__(self, name: str) -> None:
        self._check_writable()
        self._consolidated = None
        path = self._child(name)
        if md.read_metadata(self._store, path) is None:
            raise KeyError(name)
        self._store.delete_prefix(path)

    def array_keys(self) -> list[str]:
        """Names of the direct child arrays, sorted.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> _ = g.create_array("x", shape=(2,))
        >>> _ = g.create_group("sub")
        >>> g.array_keys()
        ['x']
        """
        return [n for n, _ in self.arrays()]

    def group_keys(self) -> list[str]:
        """Names of the direct child groups, sorted.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> _ = g.create_array("x", shape=(2,))
        >>> _ = g.create_group("sub")
        >>> g.group_keys()
        ['sub']
        """
        return [n for n, _ in self.groups()]
