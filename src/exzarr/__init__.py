"""exzarr: chunked, compressed N-dimensional arrays in the Zarr v2 and v3 formats.

>>> import exzarr, numpy as np
>>> a = exzarr.create(shape=(1000, 1000), chunks=(100, 100), dtype="float64")
>>> a[0:400, 0:400] = np.ones((400, 400))
>>> float(a[0:400, 0:400].sum())
160000.0
"""

from __future__ import annotations

from . import errors, metadata, storage, telemetry
from .api import (
    array,
    consolidate_metadata,
    create,
    create_array,
    create_group,
    empty,
    empty_like,
    from_array,
    full,
    full_like,
    load,
    ones,
    ones_like,
    open,
    open_array,
    open_consolidated,
    open_group,
    save,
    save_group,
    zeros,
    zeros_like,
)
from .array import Array
from .batches import Batches, batches
from .config import config
from .convert import copy
from .dask_io import from_dask
from .group import Group
from .storage import LocalStore, MemoryStore, Store, ZipStore
from .telemetry import stats
from .verify import verify

__version__ = "0.1.0"

__all__ = [
    "Array",
    "Batches",
    "Group",
    "LocalStore",
    "MemoryStore",
    "Store",
    "ZipStore",
    "__version__",
    "array",
    "batches",
    "config",
    "consolidate_metadata",
    "copy",
    "create",
    "create_array",
    "create_group",
    "empty",
    "empty_like",
    "errors",
    "from_array",
    "from_dask",
    "full",
    "full_like",
    "load",
    "metadata",
    "ones",
    "ones_like",
    "open",
    "open_array",
    "open_consolidated",
    "open_group",
    "save",
    "save_group",
    "stats",
    "storage",
    "telemetry",
    "verify",
    "zeros",
    "zeros_like",
]
