"""engine="exzarr" on an s3:// URL of the real S3 emulator (moto), with ``storage_options``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

import exzarr


def test_open_dataset_from_s3(s3_bucket, tmp_path):
    so = s3_bucket.storage_options
    ds = xr.Dataset(
        {"temp": (("time", "x"), np.arange(40.0).reshape(8, 5), {"units": "K"})},
        coords={"time": pd.date_range("2001-01-01", periods=8), "x": np.arange(5) * 0.5},
        attrs={"title": "on s3"},
    )
    ds["temp"][0, 0] = np.nan
    ds["temp"].encoding = {"chunks": (4, 5)}
    for fmt in (2, 3):
        local = tmp_path / f"v{fmt}.zarr"
        ds.to_zarr(local, zarr_format=fmt, consolidated=True)
        url = f"{s3_bucket.url}/data/v{fmt}.zarr"
        exzarr.copy(exzarr.open_group(local, mode="r"), url, storage_options=so)
        remote = xr.open_dataset(url, engine="exzarr", storage_options=so, chunks={})
        assert remote["temp"].chunks == ((4, 4), (5,))
        reference = xr.open_dataset(local, engine="zarr")
        xr.testing.assert_identical(remote.compute(), reference.load())
        xr.testing.assert_identical(remote.compute(), ds)
        # a lazy point selection reads from the bucket through exzarr's engine
        lazy = xr.open_dataset(url, engine="exzarr", storage_options=so, consolidated=False)
        assert float(lazy["temp"].isel(time=7, x=4)) == 39.0
