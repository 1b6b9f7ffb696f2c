"""The main job on a local temporary directory store: create, write, read back, a group tree.

Run with ``make demo``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

import exzarr


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="exzarr-demo-") as tmp:
        root = Path(tmp)
        path = root / "data" / "a.zarr"
        print(f"exzarr {exzarr.__version__}: local store under {root}")

        # the seed's array: 1000x1000 float64, 100x100 chunks, zstd, on the filesystem
        a = exzarr.create(shape=(1000, 1000), chunks=(100, 100), dtype="float64", compressor="zstd",
                          storage="filesystem", path=str(path))  # fmt: skip
        print(f"created  {a!r}")
        data = np.random.default_rng(42).standard_normal((1000, 1000))
        t0 = time.perf_counter()
        a[...] = data
        t_write = time.perf_counter() - t0
        stored = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        print(f"wrote    {a.nbytes / 1e6:.1f} MB in {t_write * 1000:.1f} ms -> {stored / 1e6:.1f} MB on disk, "
              f"{a.nchunks_initialized}/{a.nchunks} chunks")  # fmt: skip

        b = exzarr.open(path=str(path))
        t0 = time.perf_counter()
        part = b.get_slice(start=(0, 0), stop=(400, 400))
        t_read = time.perf_counter() - t0
        assert np.array_equal(part, data[0:400, 0:400]), "read-back mismatch"
        assert np.array_equal(b[...], data), "whole-array read-back mismatch"
        print(f"read     [0:400, 0:400] (16 chunks) in {t_read * 1000:.1f} ms: identical to what was written")
        print(f"         num_chunks={exzarr.metadata.num_chunks(b.metadata)}, read_only={b.read_only}")

        # a small hierarchy in v2 and v3
        for fmt in (3, 2):
            g = exzarr.create_group(root / f"tree_v{fmt}.zarr", zarr_format=fmt, attributes={"title": "demo"})
            t = g.create_array("climate/temperature", shape=(365, 180, 360), chunks=(30, 90, 90), dtype="float32",
                               dimension_names=["time", "lat", "lon"], fill_value=np.nan)  # fmt: skip
            t.set_slice(np.full((30, 180, 360), 15.0, dtype="float32"), start=(0, 0, 0), stop=(30, 180, 360))
            g.create_array("climate/stations", shape=(50,), chunks=(10,), dtype=str)[...] = [f"st{i}" for i in range(50)]
            g.require_group("meta").attrs["source"] = "exzarr demo"
            january = t.get_slice(time=slice(0, 31))
            print(f"\nv{fmt} group tree ({'zarr.json' if fmt == 3 else '.zgroup/.zarray'}):")
            print(g.tree())
            print(f"  temperature[time 0:31]: {np.nansum(~np.isnan(january))} set values, "
                  f"{np.isnan(january).sum()} fill (NaN) values")  # fmt: skip
        print("\ndemo OK")


if __name__ == "__main__":
    main()
