""":func:`exzarr.from_dask`: create an array from a Dask array and write it in parallel.

Kept apart from :mod:`exzarr.dask` because it creates arrays (it imports :mod:`exzarr.api`), while
:mod:`exzarr.dask` is imported by ``array.py`` and so must not. Dask is imported only when called.
"""

from __future__ import annotations

from typing import Any

from . import api
from .array import Array
from .creation import create_with_data
from .dask import check_dask_source, require_dask, store_dask
from .errors import ShapeMismatchError
from .nodes import ArraySpec, check_mode, normalize_path, split_kwargs
from .storage.url import make_store

__all__ = ["from_dask"]


def from_dask(x: Any, path: Any = None, *, chunks: Any = None, scheduler: Any = None, **create_kwargs: Any) -> Array:
    """Create an array at ``path`` with the shape and dtype of the Dask array ``x`` and write
    ``x`` into it in parallel under the current (or the given) Dask scheduler, a
    ``distributed.Client`` included. Returns the array.

    ``chunks`` defaults to ``x.chunksize``; ``create_kwargs`` are those of :func:`exzarr.create`
    (``mode``, ``zarr_format``, ``compressor``, ``shards``, ``storage_options``, ``dtype``...).
    Blocks of ``x`` that do not line up with the chunks (shards when sharded) are rechunked to
    multiples of them before writing, so no two tasks write one stored object.

    Everything that can be checked without computing ``x`` is checked before anything at ``path``
    is created or replaced (``mode="w"``): the new metadata (shape, chunks, codecs...), that
    ``x.dtype`` casts to ``dtype`` (``same_kind``: float into int is refused), and that the
    scheduler's workers can reach the store.

    >>> import exzarr, dask.array as da
    >>> a = exzarr.from_dask(da.ones((30, 4), chunks=(7, 4)), "memory://doc-from-dask", chunks=(10, 4))
    >>> a.chunks, float(a[...].sum())
    ((10, 4), 120.0)
    """
    da = require_dask("from_dask")
    if not isinstance(x, da.Array):
        raise TypeError(f"from_dask needs a dask.array.Array, got {type(x).__name__}")
    if "shape" in create_kwargs and tuple(create_kwargs["shape"]) != tuple(x.shape):
        raise ShapeMismatchError(f"from_dask: shape={tuple(create_kwargs['shape'])} differs from the dask array's {x.shape}")
    if any(c != c for c in x.shape):  # NaN: unknown chunk sizes
        raise ShapeMismatchError(
            f"from_dask: the dask array has unknown chunk sizes {x.shape}; call x.compute_chunk_sizes() first"
        )
    create_kwargs.pop("shape", None)
    create_kwargs.setdefault("dtype", x.dtype)
    if chunks is None:
        chunks = tuple(max(1, int(c)) for c in x.chunksize)
    mode = check_mode(create_kwargs.pop("mode", "w-"))
    if mode in ("r", "r+"):
        raise ValueError(f"from_dask needs a writable mode ('w-', 'w' or 'a'), got {mode!r}")
    # resolve the store once, and check all that can be checked before create replaces anything
    storage, options = create_kwargs.pop("storage", None), create_kwargs.pop("storage_options", None)
    store, base = make_store(path, storage=storage, storage_options=options, mode=mode)
    node = "/".join(p for p in (base, normalize_path(create_kwargs.pop("node", None) or "")) if p)
    spec_kw, options = split_kwargs(create_kwargs, "from_dask")
    spec = ArraySpec(shape=tuple(x.shape), chunks=chunks, **spec_kw)
    meta = spec.build()
    options.check_store(store)
    check_dask_source("/" + node, x, meta.shape, meta.dtype.numpy, store, scheduler=scheduler)
    if mode == "a":  # the array may exist already: opened (never removed on failure) or created
        a = api.create(store, path=node, shape=x.shape, chunks=chunks, mode=mode, **create_kwargs)
        return store_dask(a, x, scheduler=scheduler)

    def write(a: Array, x: Any) -> None:
        store_dask(a, x, scheduler=scheduler)

    return create_with_data(store, node, mode, spec, x, options, "from_dask", write=write)
