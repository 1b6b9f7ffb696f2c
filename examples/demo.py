"""The seed's parallel I/O benchmark, on a local temporary directory store (``make demo``).

1000x1000 float64 in 100x100 chunks with zstd: sequential vs parallel reads, write
throughput, a concurrency sweep, the I/O-bound case (100 chunks behind a store that adds
100 ms to every request), and the seed's cloud scenario on a real S3 emulator (moto) behind
a proxy in its own process adding 100 ms per request: 10 chunks read sequentially and in
parallel through an ``s3://`` URL.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import exzarr
from exzarr.storage import LatencyStore, MemoryStore


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def row(label: str, value: str) -> None:
    print(f"| {label:<52} | {value:>16} |")


def main() -> None:
    cores = os.cpu_count() or 1
    print(f"exzarr {exzarr.__version__} parallel I/O demo: {cores} cores, "
          f"cpu_workers={exzarr.config.cpu_workers}, io_concurrency={exzarr.config.io_concurrency}\n")  # fmt: skip
    data = np.random.default_rng(42).standard_normal((1000, 1000)).cumsum(axis=1)
    with tempfile.TemporaryDirectory(prefix="exzarr-demo-") as tmp:
        path = Path(tmp) / "benchmark_array.zarr"
        a = exzarr.create(shape=(1000, 1000), chunks=(100, 100), dtype="float64", compressor="zstd",
                          storage="filesystem", path=str(path))  # fmt: skip
        mb = data.nbytes / 2**20
        t_wseq = best(lambda: a.set_basic_selection(..., data, max_concurrency=1), 3)
        t_wpar = best(lambda: a.set_basic_selection(..., data), 3)
        a = exzarr.open(path)
        assert np.array_equal(a[...], data), "read-back mismatch"

        t_seq = best(lambda: a.get_slice(start=(0, 0), stop=(400, 400), max_concurrency=1))
        t_par = best(lambda: a.get_slice(start=(0, 0), stop=(400, 400)))
        print("| local store, 1000x1000 float64, 100x100 chunks, zstd | |")
        print("|---|---:|")
        row("read [0:400, 0:400] (16 chunks), sequential", f"{t_seq * 1e3:.2f} ms")
        row("read [0:400, 0:400] (16 chunks), parallel", f"{t_par * 1e3:.2f} ms")
        row("speedup", f"{t_seq / t_par:.2f}x")
        row("write all 100 chunks, sequential", f"{mb / t_wseq:.0f} MB/s")
        row("write all 100 chunks, parallel", f"{mb / t_wpar:.0f} MB/s")

        print("\n| concurrency sweep: read all 100 chunks | time | speedup |")
        print("|---:|---:|---:|")
        base = None
        for c in (1, 2, 4, 8, 16):
            t = best(lambda c=c: a.get_basic_selection(..., max_concurrency=c))
            base = base or t
            print(f"| {c} | {t * 1e3:.2f} ms | {base / t:.2f}x |")

        slow = LatencyStore(MemoryStore(), latency=0.1)
        s = exzarr.create(slow, shape=(1000, 1000), chunks=(100, 100), dtype="float64")
        t_sw = best(lambda: s.set_basic_selection(..., data), 1)
        t_sseq = best(lambda: s.get_basic_selection(..., max_concurrency=1), 1)
        t_spar = best(lambda: s[...], 1)
        assert np.array_equal(s[...], data)
        print("\n| I/O-bound: 100 chunks, 100 ms per request | |")
        print("|---|---:|")
        row("read all, sequential", f"{t_sseq:.2f} s")
        row(f"read all, parallel ({exzarr.config.io_concurrency} requests in flight)", f"{t_spar:.3f} s")
        row("speedup", f"{t_sseq / t_spar:.1f}x")
        row("write all, parallel", f"{t_sw:.3f} s")

        cloud_scenario(data)

        g = exzarr.create_group(Path(tmp) / "tree.zarr", attributes={"title": "demo"})
        g.create_array("climate/temperature", shape=(365, 180, 360), chunks=(30, 90, 90), dtype="float32",
                       dimension_names=["time", "lat", "lon"], fill_value=np.nan)  # fmt: skip
        g.create_array("climate/stations", shape=(50,), chunks=(10,), dtype=str)
        print("\ngroup tree written alongside:")
        print(g.tree())
    print("\ndemo OK: every read matched what was written")


def cloud_scenario(data: np.ndarray) -> None:
    """The seed: "S3 latency 50-100 ms: 10 chunks sequential 1000 ms, parallel 100 ms"."""
    import sys
    import warnings

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    warnings.filterwarnings("ignore")
    from cloud import servers  # the emulator helpers the tests use

    s3 = servers.start_s3()
    proxy = None
    try:
        s3.create_bucket("demo")
        proxy = servers.start_fault_proxy(s3.endpoint, delay_ms=100)
        opts = {**s3.storage_options, "endpoint_url": proxy.url}
        a = exzarr.create("s3://demo/seed.zarr", shape=(1000, 1000), chunks=(100, 100), dtype="float64", storage_options=opts)
        t_w = best(lambda: a.set_basic_selection(..., data), 1)
        r = exzarr.open_array("s3://demo/seed.zarr", storage_options=opts)
        ten = np.s_[0:100, 0:1000]  # 10 chunks
        t_seq = best(lambda: r.get_basic_selection(ten, max_concurrency=1), 1)
        t_par = best(lambda: r.get_basic_selection(ten), 3)
        assert np.array_equal(r[...], data), "cloud read-back mismatch"
        print("\n| the seed's cloud scenario: s3:// on an S3 emulator, 100 ms per request | |")
        print("|---|---:|")
        row("read 10 chunks, sequential", f"{t_seq * 1e3:.0f} ms")
        row("read 10 chunks, parallel", f"{t_par * 1e3:.0f} ms")
        row("speedup", f"{t_seq / t_par:.1f}x")
        row("write all 100 chunks, parallel", f"{t_w:.2f} s")
    finally:
        if proxy is not None:
            proxy.stop()
        s3.stop()


if __name__ == "__main__":
    main()
