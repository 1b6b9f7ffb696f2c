"""Dask reduction benchmark: exzarr's ``Array.to_dask()`` vs ``dask.array.from_zarr`` (zarr-python).

One array (default 4096x4096 float64, 256x256 chunks, zstd, Zarr v3) is written once by exzarr,
checked to read identically with zarr-python, then summed on a ``distributed.LocalCluster`` with two
worker processes (one thread each), alternating the two readers for ``--repeats`` rounds. Each timing
covers opening the array, building the Dask graph and ``.sum().compute()``. Prints a markdown table
(best and median seconds, GB/s of the best) and the ratio exzarr speed / zarr-python speed;
``--out bench/DASK.md`` also writes it there. ``--quick`` runs a small array (for tests).

    python bench/dask_bench.py [--quick] [--repeats 7] [--out bench/DASK.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import zarr
from distributed import Client, LocalCluster

import exzarr


def make_data(shape: tuple[int, int]) -> np.ndarray:
    """Smooth values with noise in the low bits: compresses like measured data, not like zeros."""
    rng = np.random.default_rng(42)
    rows = np.linspace(0, 20, shape[0])[:, None]
    cols = np.linspace(0, 30, shape[1])[None, :]
    return np.round(np.sin(rows) * np.cos(cols) * 100 + rng.normal(0, 0.01, shape), 3)


def sum_exzarr(path: Path) -> float:
    return float(exzarr.open(path).to_dask().sum().compute())


def sum_zarr(path: Path) -> float:
    return float(da.from_zarr(zarr.open_array(str(path), mode="r")).sum().compute())


def chunk_reads_exzarr(path: Path, chunk: int, count: int) -> float:
    """Seconds per chunk to read ``count`` chunks one by one (run on a worker)."""
    a = exzarr.open(path)
    t0 = time.perf_counter()
    for i in range(count):
        a[i * chunk : (i + 1) * chunk, 0:chunk]
    return (time.perf_counter() - t0) / count


def chunk_reads_zarr(path: Path, chunk: int, count: int) -> float:
    z = zarr.open_array(str(path), mode="r")
    t0 = time.perf_counter()
    for i in range(count):
        z[i * chunk : (i + 1) * chunk, 0:chunk]
    return (time.perf_counter() - t0) / count


def run(args: argparse.Namespace) -> str:
    n, c = (1024, 128) if args.quick else (args.size, args.chunk)
    repeats = 2 if args.quick else args.repeats
    data = make_data((n, n))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.zarr"
        a = exzarr.create(path, shape=data.shape, chunks=(c, c), dtype="f8", compressor="zstd", zarr_format=3)
        a[...] = data
        if not np.array_equal(zarr.open_array(str(path), mode="r")[...], data):
            raise SystemExit("zarr-python does not read the array exzarr wrote identically")
        expected = float(data.sum())
        readers = {"exzarr `to_dask()`": sum_exzarr, "zarr-python `da.from_zarr`": sum_zarr}
        times: dict[str, list[float]] = {k: [] for k in readers}
        per_chunk: dict[str, list[float]] = {k: [] for k in readers}
        chunk_fns = dict(zip(readers, (chunk_reads_exzarr, chunk_reads_zarr), strict=True))
        with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                for fn in readers.values():  # warm-up: imports and first connections on the workers
                    fn(path)
                for _ in range(repeats):
                    for name, fn in readers.items():  # interleaved, so drift hits both alike
                        t0 = time.perf_counter()
                        got = fn(path)
                        times[name].append(time.perf_counter() - t0)
                        if not np.isclose(got, expected, rtol=1e-12):
                            raise SystemExit(f"{name}: sum {got!r} != {expected!r}")
                        per_chunk[name].append(client.submit(chunk_fns[name], path, c, n // c, pure=False).result())
        stored = a.nbytes_stored()
    gb = data.nbytes / 1e9
    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    ex, zp = readers
    lines = [
        f"Sum of a {n}x{n} float64 array ({data.nbytes / 2**20:.0f} MiB, {c}x{c} chunks, zstd, v3, "
        f"{stored / 2**20:.1f} MiB stored) on a `distributed.LocalCluster`: 2 worker processes x 1 thread; "
        f"{repeats} interleaved rounds after a warm-up. Python {platform.python_version()}, dask {dask.__version__}, "
        f"zarr {zarr.__version__}, exzarr {exzarr.__version__}, {platform.machine()}.",
        "",
        "| reader | best (s) | median (s) | GB/s (best) | one chunk read on a worker, best (ms) |",
        "|---|---:|---:|---:|---:|",
        *(f"| {k} | {best[k]:.3f} | {med[k]:.3f} | {gb / best[k]:.2f} | {min(per_chunk[k]) * 1e3:.2f} |" for k in readers),
        "",
        f"Ratio exzarr speed / zarr-python speed: **{best[zp] / best[ex]:.2f}x** (best), {med[zp] / med[ex]:.2f}x (median). "
        f"Reading one chunk on a worker (the reader's part of a task): {min(per_chunk[zp]) / min(per_chunk[ex]):.2f}x. "
        "On 2 cores the end-to-end time is mostly Dask's own scheduling and communication "
        "(the scheduler, the client and both workers share the cores).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1024x1024 with 128x128 chunks, 2 rounds")
    parser.add_argument("--size", type=int, default=4096, help="side of the square array (default 4096)")
    parser.add_argument("--chunk", type=int, default=256, help="side of the square chunks (default 256)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table to this file")
    args = parser.parse_args(argv)
    table = run(args)
    print(table)
    if args.out is not None:
        args.out.write_text(
            "# Dask reduction: exzarr vs zarr-python\n\n"
            + table
            + f"\n\nMade by `python bench/dask_bench.py --repeats {args.repeats} --out {args.out}`.\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
