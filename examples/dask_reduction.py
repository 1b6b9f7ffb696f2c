"""Dask-distributed reduction: write an array from Dask on a local cluster, then reduce it.

Starts a ``distributed.LocalCluster`` (worker processes), builds a Dask array, writes it into a
new exzarr array with :func:`exzarr.from_dask` (the blocks are deliberately not aligned with the
chunks: exzarr rechunks them so no two tasks write one chunk), reads it back with
:meth:`exzarr.Array.to_dask` and computes per-column means and the total on the cluster, checking
them against NumPy. ``--small`` uses tiny data (for tests); ``--path`` keeps the array there.

    python examples/dask_reduction.py [--small] [--workers 2] [--path data/reduction.zarr]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import exzarr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny data (a few hundred KB)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--path", default=None, help="where to write the array (default: a temporary directory)")
    args = parser.parse_args(argv)
    shape, chunks, blocks = ((300, 200), (50, 50), (35, 200)) if args.small else ((4000, 2000), (500, 500), (350, 2000))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.path) if args.path else Path(tmp) / "reduction.zarr"
        with LocalCluster(processes=True, n_workers=args.workers, threads_per_worker=1, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                print(f"cluster: {len(client.nthreads())} workers")
                # the data: a deterministic function of the position, made on the workers
                rows = da.arange(shape[0], chunks=blocks[0], dtype="f8")[:, None]
                cols = da.arange(shape[1], chunks=blocks[1], dtype="f8")[None, :]
                x = rows * 0.001 + da.sin(cols)
                t0 = time.perf_counter()
                a = exzarr.from_dask(x, path, chunks=chunks, compressor="zstd", mode="w")
                t_write = time.perf_counter() - t0
                print(f"wrote {a.shape} {a.dtype} in chunks {a.chunks} from dask blocks {blocks} in {t_write:.2f} s")

                y = exzarr.open(path).to_dask()  # one dask block per chunk
                t0 = time.perf_counter()
                col_means, total = client.compute([y.mean(axis=0), y.sum()], sync=True)
                t_reduce = time.perf_counter() - t0
                print(f"reduced {y.npartitions} blocks in {t_reduce:.2f} s")

        ref = np.arange(shape[0])[:, None] * 0.001 + np.sin(np.arange(shape[1]))[None, :]
        ok = bool(np.allclose(col_means, ref.mean(axis=0)) and np.isclose(total, ref.sum()))
        print(f"sum = {float(total):.6f}")
        print(f"mean of column 0 = {float(col_means[0]):.6f}")
        print(f"matches numpy: {ok}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
