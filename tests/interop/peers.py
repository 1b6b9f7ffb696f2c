"""Helpers that drive the real peers (zarr-python 3 and tensorstore) on local directories."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

warnings.filterwarnings("ignore", module="zarr")
import tensorstore as ts  # noqa: E402
import zarr  # noqa: E402


def zarr_read(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = zarr.open_array(str(path), mode="r")
        return np.asarray(a[...])


def zarr_open(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return zarr.open_array(str(path), mode="r")


def ts_read(path: Path, zarr_format: int) -> np.ndarray:
    spec = {"driver": "zarr3" if zarr_format == 3 else "zarr", "kvstore": {"driver": "file", "path": str(path)}}
    t = ts.open(spec, open=True, read=True).result()
    return np.asarray(t.read().result())


def ts_write(path: Path, data: np.ndarray, zarr_format: int, metadata: dict[str, Any]) -> None:
    spec = {
        "driver": "zarr3" if zarr_format == 3 else "zarr",
        "kvstore": {"driver": "file", "path": str(path)},
        "metadata": metadata,
        "create": True,
        "delete_existing": True,
    }
    t = ts.open(spec).result()
    t.write(data).result()


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    """Exact equality, NaN == NaN, same shape; object arrays compared element-wise."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.dtype.kind in "OTU" or b.dtype.kind in "OTU":
        assert [str(x) if not isinstance(x, bytes) else x for x in a.reshape(-1)] == [
            str(x) if not isinstance(x, bytes) else x for x in b.reshape(-1)
        ]
        return
    if a.dtype.fields is not None or a.dtype.kind == "V":
        assert a.tobytes() == b.astype(a.dtype).tobytes()
        return
    if a.dtype.kind in "Mm":  # NaT != NaT, so compare the underlying integers
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        assert np.array_equal(a.view("i8"), b.view("i8")), (a, b)
        return
    if a.dtype.kind in "fc":
        assert np.array_equal(a, b, equal_nan=True), (a, b)
        return
    assert np.array_equal(a, b), (a, b)
