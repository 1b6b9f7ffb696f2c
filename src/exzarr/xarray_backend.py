"""The xarray backend: ``xr.open_dataset(path_or_url, engine="exzarr")``.

Reads what :meth:`xarray.Dataset.to_zarr` writes (Zarr v2 and v3, consolidated or not) and what
exzarr writes (arrays with ``dimension_names``), lazily: every variable is a
:class:`xarray.backends.BackendArray` whose basic, outer and vectorized reads go to exzarr's
parallel chunk engine. CF decoding (``scale_factor``/``add_offset``, ``_FillValue``, times,
``coordinates``) is xarray's own, so the result equals ``engine="zarr"`` on the same store:
for v2 the Zarr ``fill_value`` becomes ``_FillValue`` (masked), for v3 it stays in
``encoding["fill_value"]`` and only a ``_FillValue`` attribute masks, as xarray's zarr backend does.

>>> import exzarr, numpy as np, xarray as xr
>>> g = exzarr.create_group("memory://doc-xr")
>>> t = g.create_array("t", shape=(4,), chunks=(2,), dtype="float64", dimension_names=["x"])
>>> t[...] = np.arange(4.0)
>>> t.attrs["units"] = "K"
>>> opened = xr.open_dataset("memory://doc-xr", engine="exzarr", chunks=None)
>>> opened["t"].attrs, float(opened["t"].sum())
({'units': 'K'}, 6.0)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from xarray import Dataset, Variable
from xarray.backends.common import AbstractDataStore, BackendArray, BackendEntrypoint, datatree_from_dict_with_io_cleanup
from xarray.backends.store import StoreBackendEntrypoint
from xarray.backends.zarr import DIMENSION_KEY, FillValueCoder
from xarray.core import indexing
from xarray.core.utils import FrozenDict

from .api import open_group
from .array import Array
from .errors import MetadataError, NodeNotFoundError
from .group import Group

__all__ = ["ExzarrBackendArray", "ExzarrBackendEntrypoint", "ExzarrDataStore", "MissingDimensionsError"]

_STRING_DTYPE = np.dtypes.StringDType()


class MissingDimensionsError(MetadataError, KeyError):
    """An array has no dimension names (no v3 ``dimension_names``, no v2 ``_ARRAY_DIMENSIONS``).

    A :class:`KeyError` too, like the error ``engine="zarr"`` raises for the same store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ExzarrBackendArray(BackendArray):
    """An exzarr :class:`~exzarr.Array` as xarray's lazily indexed backend array.

    Basic keys go to ``Array.__getitem__``, outer keys to ``get_orthogonal_selection`` and
    vectorized keys to ``vindex``: each is one parallel read. It pickles (the array reopens its
    store on the other side) and is safe to read from many threads at once.

    >>> import exzarr, numpy as np
    >>> from xarray.core import indexing
    >>> a = exzarr.save("memory://doc-xr-array", np.arange(12.0).reshape(3, 4), chunks=(2, 2))
    >>> b = ExzarrBackendArray(a)
    >>> b[indexing.OuterIndexer((np.array([0, 2]), slice(1, 3)))]
    array([[ 1.,  2.],
           [ 9., 10.]])
    """

    __slots__ = ("_exzarr_array", "dtype", "shape")

    def __init__(self, array: Array) -> None:
        self._exzarr_array = array
        self.shape = array.shape
        # variable-length strings come back as NumPy's StringDType, as zarr-python returns them
        self.dtype = _STRING_DTYPE if array.metadata.dtype.vlen == "string" else array.dtype

    def get_array(self) -> Array:
        """The exzarr array behind this variable."""
        return self._exzarr_array

    def __getstate__(self) -> dict[str, Any]:
        return {"array": self._exzarr_array}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["array"])  # type: ignore[misc]

    def _result(self, value: Any) -> np.ndarray:
        out = np.asarray(value)
        if self.dtype is _STRING_DTYPE and out.dtype != _STRING_DTYPE:
            out = out.astype(_STRING_DTYPE)
        return out

    def _basic(self, key: tuple[Any, ...]) -> np.ndarray:
        return self._result(self._exzarr_array[key] if key else self._exzarr_array[...])

    def _outer(self, key: tuple[Any, ...]) -> np.ndarray:
        return self._result(self._exzarr_array.get_orthogonal_selection(key))

    def _vectorized(self, key: tuple[Any, ...]) -> np.ndarray:
        if any(isinstance(k, slice) for k in key):
            # slices become arange index arrays placed after the broadcast dimensions, which is
            # what a vectorized key means in xarray
            key = indexing._arrayize_vectorized_indexer(indexing.VectorizedIndexer(key), self.shape).tuple
        return self._result(self._exzarr_array.vindex[key])

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        if isinstance(key, indexing.VectorizedIndexer):
            method = self._vectorized
        elif isinstance(key, indexing.OuterIndexer):
            method = self._outer
        elif isinstance(key, indexing.BasicIndexer):
            method = self._basic
        else:
            raise TypeError(f"unexpected indexer {type(key).__name__} for exzarr array {self._exzarr_array.name!r}")
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.VECTORIZED, method)


def _dimensions(array: Array) -> tuple[str, ...]:
    """The dimension names of ``array``, from v3 ``dimension_names`` or the v2 ``_ARRAY_DIMENSIONS``
    attribute; raises :class:`MissingDimensionsError` (a ``KeyError``, as ``engine="zarr"``) without."""
    names = array.dimension_names
    if array.zarr_format == 2 and DIMENSION_KEY not in array.attrs:
        names = None
    if array.zarr_format == 3 and names is None and array.ndim == 0:
        names = ()
    if names is None or len(names) != array.ndim:
        where = "`dimension_names` metadata" if array.zarr_format == 3 else f"attribute `{DIMENSION_KEY}`"
        raise MissingDimensionsError(
            f"array {array.name!r} has no {where}, which xarray needs to name its dimensions "
            f"(shape {array.shape}); give it dimension_names when creating it"
        )
    if any(not isinstance(n, str) for n in names):
        raise MissingDimensionsError(f"array {array.name!r} has an unnamed dimension: dimension names {list(names)!r}")
    return tuple(names)


class ExzarrDataStore(AbstractDataStore):
    """A read-only xarray data store over an exzarr :class:`~exzarr.Group`: one variable per array.

    >>> import exzarr
    >>> g = exzarr.create_group("memory://doc-xr-store", attributes={"title": "demo"})
    >>> _ = g.create_array("v", shape=(3,), chunks=(3,), dtype="int32", dimension_names=["x"])
    >>> store = ExzarrDataStore(g)
    >>> store.get_attrs(), store.get_variables()["v"].dims
    ({'title': 'demo'}, ('x',))
    """

    def __init__(
        self, group: Group, *, use_zarr_fill_value_as_mask: bool | None = None, drop_variables: Iterable[str] = ()
    ) -> None:
        self.group = group
        if use_zarr_fill_value_as_mask is None:
            # xarray's defaults: the Zarr fill_value masks for v2 data, not for v3
            use_zarr_fill_value_as_mask = group.zarr_format == 2
        self.use_zarr_fill_value_as_mask = use_zarr_fill_value_as_mask
        self.drop_variables = frozenset(drop_variables)
        self._lock = threading.Lock()
        self._arrays: list[tuple[str, Array]] | None = None

    def arrays(self) -> list[tuple[str, Array]]:
        """``(name, Array)`` of the group's arrays (listed once)."""
        with self._lock:
            if self._arrays is None:
                self._arrays = self.group.arrays()
            return self._arrays

    def open_store_variable(self, name: str, array: Array) -> Variable:
        """The lazily indexed :class:`xarray.Variable` of one array, with the attributes and
        encoding ``engine="zarr"`` gives it (before CF decoding)."""
        dims = _dimensions(array)
        attrs = {k: v for k, v in array.attrs.asdict().items() if k != DIMENSION_KEY and not k.lower().startswith("_nc")}
        backend = ExzarrBackendArray(array)
        data = indexing.LazilyIndexedArray(backend)
        shards = array.shards
        preferred = shards if shards is not None else array.chunks
        encoding: dict[str, Any] = {
            "chunks": array.chunks,
            "preferred_chunks": dict(zip(dims, preferred, strict=True)),
            "shards": shards,
        }
        if backend.dtype is _STRING_DTYPE:
            encoding["dtype"] = _STRING_DTYPE
        if self.use_zarr_fill_value_as_mask:
            if array.fill_value is not None:
                attrs["_FillValue"] = array.fill_value
        else:
            if array.zarr_format == 3:
                encoding["fill_value"] = array.fill_value
            if "_FillValue" in attrs:
                attrs["_FillValue"] = FillValueCoder.decode(attrs["_FillValue"], array.dtype)
        return Variable(dims, data, attrs, encoding)

    def get_variables(self) -> FrozenDict:
        return FrozenDict(
            (name, self.open_store_variable(name, array)) for name, array in self.arrays() if name not in self.drop_variables
        )

    def get_attrs(self) -> dict[str, Any]:
        return {k: v for k, v in self.group.attrs.asdict().items() if not k.lower().startswith("_nc")}

    def get_dimensions(self) -> dict[str, int]:
        dims: dict[str, int] = {}
        for name, array in self.arrays():
            if name in self.drop_variables:
                continue
            for d, n in zip(_dimensions(array), array.shape, strict=True):
                if dims.setdefault(d, n) != n:
                    raise ValueError(f"conflicting lengths for dimension {d!r} ({n} in array {array.name!r} != {dims[d]})")
        return dims


def _open_group(
    filename_or_obj: Any,
    group: str | None,
    consolidated: bool | None,
    storage_options: dict[str, Any] | None,
    zarr_format: int | None,
) -> Group:
    """The group to read: the root opened on its consolidated metadata (``consolidated`` ``None``/``True``,
    as ``engine="zarr"`` does) and then ``group`` inside it, or ``group`` opened on its own metadata."""
    if isinstance(filename_or_obj, Group):
        root = filename_or_obj
    else:
        if isinstance(filename_or_obj, os.PathLike):
            filename_or_obj = os.fspath(filename_or_obj)
        if isinstance(filename_or_obj, str) and "://" not in filename_or_obj:
            filename_or_obj = os.path.abspath(os.path.expanduser(filename_or_obj))
        if consolidated is False:
            node = (group or "").strip("/") or None
            return open_group(
                filename_or_obj,
                mode="r",
                node=node,
                storage_options=storage_options,
                zarr_format=zarr_format,
                use_consolidated=False,
            )
        root = open_group(
            filename_or_obj, mode="r", storage_options=storage_options, zarr_format=zarr_format, use_consolidated=consolidated
        )
    sub = (group or "").strip("/")
    if not sub:
        return root
    node = root.get(sub)
    if node is None:
        raise NodeNotFoundError(f"no group {sub!r} in {root.name!r} of {root.store!r}")
    if not isinstance(node, Group):
        raise NodeNotFoundError(f"{sub!r} in {root.name!r} of {root.store!r} is an array, not a group: open its parent group")
    return node


def _walk(group: Group, path: str) -> Iterator[tuple[str, Group]]:
    yield path, group
    for name, child in group.groups():
        yield from _walk(child, f"{path.rstrip('/')}/{name}")


class ExzarrBackendEntrypoint(BackendEntrypoint):
    """``engine="exzarr"`` for :func:`xarray.open_dataset`, :func:`xarray.open_datatree` and
    :func:`xarray.open_groups`.

    Options: ``group=`` (a sub-group), ``consolidated=None|True|False`` (as ``engine="zarr"``),
    ``storage_options=`` (for ``s3://`` and other URLs), ``zarr_format=``,
    ``use_zarr_fill_value_as_mask=`` and xarray's CF decoding options.

    >>> import exzarr, xarray as xr
    >>> g = exzarr.create_group("memory://doc-xr-entry")
    >>> a = g.create_array("v", shape=(4,), chunks=(2,), dtype="float32", dimension_names=["x"], fill_value=-1)
    >>> a[:2] = 5.0
    >>> ds = xr.open_dataset("memory://doc-xr-entry", engine="exzarr", chunks={})
    >>> ds["v"].encoding["preferred_chunks"], ds["v"].data.chunks
    ({'x': 2}, ((2, 2),))
    >>> ds["v"].values  # v3: the fill_value is no mask (as with engine="zarr"); it stays in the encoding
    array([ 5.,  5., -1., -1.], dtype=float32)
    >>> float(ds["v"].encoding["fill_value"])
    -1.0
    """

    description = "Open Zarr v2/v3 stores with exzarr's parallel chunk engine"
    url = "https://github.com/exzarr/exzarr"
    supports_groups = True
    open_dataset_parameters = (
        "filename_or_obj",
        "mask_and_scale",
        "decode_times",
        "concat_characters",
        "decode_coords",
        "drop_variables",
        "use_cftime",
        "decode_timedelta",
        "group",
        "consolidated",
        "storage_options",
        "zarr_format",
        "use_zarr_fill_value_as_mask",
    )

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        if isinstance(filename_or_obj, Group):
            return True
        if not isinstance(filename_or_obj, str | os.PathLike):
            return False
        path = os.fspath(filename_or_obj)
        if not isinstance(path, str) or "://" in path:
            return False
        return any(os.path.isfile(os.path.join(path, name)) for name in ("zarr.json", ".zgroup", ".zmetadata"))

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: Any,
        *,
        mask_and_scale: bool = True,
        decode_times: Any = True,
        concat_characters: bool = True,
        decode_coords: Any = True,
        drop_variables: str | Iterable[str] | None = None,
        use_cftime: bool | None = None,
        decode_timedelta: Any = None,
        group: str | None = None,
        consolidated: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        zarr_format: int | None = None,
        use_zarr_fill_value_as_mask: bool | None = None,
    ) -> Dataset:
        """Open one group of a Zarr store as a :class:`xarray.Dataset` (lazily)."""
        root = _open_group(filename_or_obj, group, consolidated, storage_options, zarr_format)
        drop = [drop_variables] if isinstance(drop_variables, str) else list(drop_variables or ())
        store = ExzarrDataStore(root, use_zarr_fill_value_as_mask=use_zarr_fill_value_as_mask, drop_variables=drop)
        return StoreBackendEntrypoint().open_dataset(
            store,
            mask_and_scale=mask_and_scale,
            decode_times=decode_times,
            concat_characters=concat_characters,
            decode_coords=decode_coords,
            drop_variables=drop,
            use_cftime=use_cftime,
            decode_timedelta=decode_timedelta,
        )

    def open_groups_as_dict(  # type: ignore[override]
        self,
        filename_or_obj: Any,
        *,
        mask_and_scale: bool = True,
        decode_times: Any = True,
        concat_characters: bool = True,
        decode_coords: Any = True,
        drop_variables: str | Iterable[str] | None = None,
        use_cftime: bool | None = None,
        decode_timedelta: Any = None,
        group: str | None = None,
        consolidated: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        zarr_format: int | None = None,
        use_zarr_fill_value_as_mask: bool | None = None,
    ) -> dict[str, Dataset]:
        """Every group at and below ``group`` as ``{"/path": Dataset}`` (paths relative to ``group``)."""
        top = _open_group(filename_or_obj, group, consolidated, storage_options, zarr_format)
        drop = [drop_variables] if isinstance(drop_variables, str) else list(drop_variables or ())
        out = {}
        for path, g in _walk(top, "/"):
            store = ExzarrDataStore(g, use_zarr_fill_value_as_mask=use_zarr_fill_value_as_mask, drop_variables=drop)
            out[path] = StoreBackendEntrypoint().open_dataset(
                store,
                mask_and_scale=mask_and_scale,
                decode_times=decode_times,
                concat_characters=concat_characters,
                decode_coords=decode_coords,
                drop_variables=drop,
                use_cftime=use_cftime,
                decode_timedelta=decode_timedelta,
            )
        return out

    def open_datatree(self, filename_or_obj: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """The groups at and below ``group`` as an :class:`xarray.DataTree` (same options as
        :meth:`open_groups_as_dict`)."""
        return datatree_from_dict_with_io_cleanup(self.open_groups_as_dict(filename_or_obj, **kwargs))
