"""The seed's "xarray dataset round trip": a dataset with coordinates and CF attributes is written
with ``Dataset.to_zarr`` (Zarr v2 and v3), opened again with ``engine="exzarr"`` (lazily, then with
dask chunks), a monthly mean is computed, and the result is shown to equal ``engine="zarr"``.

Run: ``python examples/xarray_roundtrip.py [--small] [--dir DIR]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr


def build(ntime: int, nlat: int, nlon: int) -> xr.Dataset:
    rng = np.random.default_rng(42)
    lat = np.linspace(-89.5, 89.5, nlat)
    temp = 273.15 + 30 * np.cos(np.deg2rad(lat))[None, :, None] + rng.standard_normal((ntime, nlat, nlon))
    temp[0, 0, 0] = np.nan  # a missing value, stored as the fill value
    ds = xr.Dataset(
        {
            "temperature": (("time", "lat", "lon"), temp.astype("float32"), {"units": "K", "standard_name": "air_temperature"}),
            "precip": (("time", "lat", "lon"), rng.gamma(1.0, 2.0, (ntime, nlat, nlon)), {"units": "mm/day"}),
        },
        coords={
            "time": pd.date_range("2000-01-01", periods=ntime, freq="D"),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", np.linspace(0, 360, nlon, endpoint=False), {"units": "degrees_east"}),
        },
        attrs={"title": "exzarr xarray round trip", "Conventions": "CF-1.8"},
    )
    # a CF-packed variable: int16 on disk, float in memory
    ds["precip"].encoding = {"dtype": "int16", "scale_factor": 0.01, "add_offset": 0.0, "_FillValue": -32768}
    ds["temperature"].encoding = {"chunks": (min(ntime, 30), nlat // 2, nlon // 2)}
    return ds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a small dataset (fast; used by the tests)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary directory)")
    args = parser.parse_args()
    shape = (60, 18, 36) if args.small else (365, 90, 180)
    ds = build(*shape)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dir or Path(tmp)
        for fmt in (2, 3):
            path = root / f"climate_v{fmt}.zarr"
            t0 = time.perf_counter()
            with warnings.catch_warnings():  # zarr-python: "consolidated metadata is not in the v3 spec"
                warnings.simplefilter("ignore")
                ds.to_zarr(path, zarr_format=fmt, consolidated=True, mode="w")
            written = time.perf_counter() - t0

            t0 = time.perf_counter()
            lazy = xr.open_dataset(path, engine="exzarr")
            opened = time.perf_counter() - t0
            print(f"v{fmt}: wrote {ds.nbytes / 1e6:.1f} MB in {written:.2f} s, opened lazily in {opened * 1e3:.1f} ms")
            print(
                f"v{fmt}: temperature {dict(lazy.sizes)} units={lazy['temperature'].attrs['units']} "
                f"chunks={lazy['temperature'].encoding['chunks']} precip packed as {lazy['precip'].encoding['dtype']}"
            )

            dasked = xr.open_dataset(path, engine="exzarr", chunks={})
            t0 = time.perf_counter()
            monthly = dasked["temperature"].resample(time="MS").mean().compute()
            print(
                f"v{fmt}: monthly mean temperature {monthly.shape} in {time.perf_counter() - t0:.2f} s, "
                f"global mean {float(monthly.mean()):.3f} K"
            )

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reference = xr.open_dataset(path, engine="zarr").load()
            same_as_zarr = lazy.load().identical(reference)
            # what was written comes back (precip to its 0.01 packing precision, NaN where it was NaN)
            same_as_written = lazy["temperature"].identical(ds["temperature"]) and bool(
                np.allclose(lazy["precip"], ds["precip"], atol=0.006)
            )
            expected = ds["temperature"].resample(time="MS").mean()
            same_mean = bool(np.allclose(monthly, expected, equal_nan=True, rtol=1e-6))
            print(
                f"v{fmt}: identical to engine='zarr': {same_as_zarr}; equals the written dataset: {same_as_written}; "
                f"monthly mean matches: {same_mean}"
            )
            if not (same_as_zarr and same_as_written and same_mean):
                print(f"v{fmt}: MISMATCH")
                return 1
    print("round trip OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
