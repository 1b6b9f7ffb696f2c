"""The seed's parallel I/O benchmark (``make demo``, ``exzarr bench``), on a local temporary store.

1000x1000 float64 in 100x100 chunks with zstd: sequential vs parallel reads, write throughput,
a concurrency sweep, the I/O-bound case (100 chunks behind a store that adds 100 ms to every
request), and the seed's cloud scenario on a real S3 emulator (moto) behind a proxy in its own
process adding 100 ms per request: 10 chunks read sequentially and in parallel through an
``s3://`` URL. ``quick=True`` runs the same steps on small sizes (seconds, for tests).

The cloud scenario needs moto and two files of the source checkout (``tests/cloud/servers.py``,
the emulator helpers the tests use, and ``tools/faultproxy.py``); without them it is skipped
with the reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .api import create, create_group, open, open_array
from .config import config
from .storage import LatencyStore, MemoryStore

__all__ = ["Sizes", "cloud_helpers", "main", "run"]


@dataclass(frozen=True)
class Sizes:
    """What the benchmark runs on: the seed's sizes, or ``QUICK`` ones."""

    shape: tuple[int, int] = (1000, 1000)
    chunks: tuple[int, int] = (100, 100)
    box: int = 400  # the read box [0:box, 0:box]
    repeat: int = 5
    sweep: tuple[int, ...] = (1, 2, 4, 8, 16)
    latency: float = 0.1
    cloud_delay_ms: int = 100


FULL = Sizes()
QUICK = Sizes(shape=(200, 200), chunks=(50, 50), box=100, repeat=1, sweep=(1, 2, 4), latency=0.01, cloud_delay_ms=10)


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of ``repeat`` timed runs of ``fn``, in seconds.

    >>> best(lambda: sum(range(10)), repeat=2) >= 0
    True
    """
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def row(label: str, value: str) -> None:
    print(f"| {label:<52} | {value:>16} |")


def cloud_helpers(repo: str | Path | None = None) -> tuple[Path | None, str]:
    """The ``tests`` directory holding the emulator helpers, or ``None`` and why the cloud scenario
    cannot run. Looks in ``repo``, else in the source checkout exzarr runs from, else the
    current directory.

    >>> cloud_helpers("/nonexistent")[0] is None
    True
    """
    if importlib.util.find_spec("moto") is None:
        return None, "moto is not installed (pip install 'moto[server]')"
    roots = [Path(repo)] if repo is not None else [Path(__file__).resolve().parents[2], Path.cwd()]
    for root in roots:
        if (root / "tests" / "cloud" / "servers.py").is_file() and (root / "tools" / "faultproxy.py").is_file():
            return root / "tests", ""
    where = " or ".join(str(r) for r in roots)
    return None, f"tests/cloud/servers.py and tools/faultproxy.py (the source checkout) are not in {where}"


def run(*, quick: bool = False, cloud: bool = True, repo: str | Path | None = None) -> None:
    """Run the benchmark and print its tables (``quick`` for small sizes; ``cloud=False`` skips
    the S3 scenario; ``repo`` is the source checkout holding the emulator helpers)."""
    sz = QUICK if quick else FULL
    cores = os.cpu_count() or 1
    print(f"exzarr {__version__} parallel I/O demo: {cores} cores, "
          f"cpu_workers={config.cpu_workers}, io_concurrency={config.io_concurrency}\n")  # fmt: skip
    data = np.random.default_rng(42).standard_normal(sz.shape).cumsum(axis=1)
    n = sz.shape[0] // sz.chunks[0] * (sz.shape[1] // sz.chunks[1])
    shape_text = f"{sz.shape[0]}x{sz.shape[1]} float64, {sz.chunks[0]}x{sz.chunks[1]} chunks, zstd"
    nbox = (sz.box // sz.chunks[0]) * (sz.box // sz.chunks[1])
    with tempfile.TemporaryDirectory(prefix="exzarr-demo-") as tmp:
        path = Path(tmp) / "benchmark_array.zarr"
        a = create(shape=sz.shape, chunks=sz.chunks, dtype="float64", compressor="zstd", storage="filesystem", path=str(path))
        mb = data.nbytes / 2**20
        t_wseq = best(lambda: a.set_basic_selection(..., data, max_concurrency=1), min(3, sz.repeat))
        t_wpar = best(lambda: a.set_basic_selection(..., data), min(3, sz.repeat))
        a = open(path)
        assert np.array_equal(a[...], data), "read-back mismatch"

        box = (sz.box, sz.box)
        t_seq = best(lambda: a.get_slice(start=(0, 0), stop=box, max_concurrency=1), sz.repeat)
        t_par = best(lambda: a.get_slice(start=(0, 0), stop=box), sz.repeat)
        print(f"| local store, {shape_text} | |")
        print("|---|---:|")
        row(f"read [0:{sz.box}, 0:{sz.box}] ({nbox} chunks), sequential", f"{t_seq * 1e3:.2f} ms")
        row(f"read [0:{sz.box}, 0:{sz.box}] ({nbox} chunks), parallel", f"{t_par * 1e3:.2f} ms")
        row("speedup", f"{t_seq / t_par:.2f}x")
        row(f"write all {n} chunks, sequential", f"{mb / t_wseq:.0f} MB/s")
        row(f"write all {n} chunks, parallel", f"{mb / t_wpar:.0f} MB/s")

        print(f"\n| concurrency sweep: read all {n} chunks | time | speedup |")
        print("|---:|---:|---:|")
        base = None
        for c in sz.sweep:
            t = best(lambda c=c: a.get_basic_selection(..., max_concurrency=c), sz.repeat)
            base = base or t
            print(f"| {c} | {t * 1e3:.2f} ms | {base / t:.2f}x |")

        slow = LatencyStore(MemoryStore(), latency=sz.latency)
        s = create(slow, shape=sz.shape, chunks=sz.chunks, dtype="float64")
        t_sw = best(lambda: s.set_basic_selection(..., data), 1)
        t_sseq = best(lambda: s.get_basic_selection(..., max_concurrency=1), 1)
        t_spar = best(lambda: s[...], 1)
        assert np.array_equal(s[...], data)
        print(f"\n| I/O-bound: {n} chunks, {sz.latency * 1e3:.0f} ms per request | |")
        print("|---|---:|")
        row("read all, sequential", f"{t_sseq:.2f} s")
        row(f"read all, parallel ({config.io_concurrency} requests in flight)", f"{t_spar:.3f} s")
        row("speedup", f"{t_sseq / t_spar:.1f}x")
        row("write all, parallel", f"{t_sw:.3f} s")

        if cloud:
            tests_dir, why = cloud_helpers(repo)
            if tests_dir is None:
                print(f"\n(the seed's cloud scenario was skipped: {why})")
            else:
                cloud_scenario(data, sz, tests_dir)
        else:
            print("\n(the seed's cloud scenario was skipped: --no-cloud)")

        g = create_group(Path(tmp) / "tree.zarr", attributes={"title": "demo"})
        g.create_array("climate/temperature", shape=(365, 180, 360), chunks=(30, 90, 90), dtype="float32",
                       dimension_names=["time", "lat", "lon"], fill_value=np.nan)  # fmt: skip
        g.create_array("climate/stations", shape=(50,), chunks=(10,), dtype=str)
        print("\ngroup tree written alongside:")
        print(g.tree())
    print("\ndemo OK: every read matched what was written")


def cloud_scenario(data: np.ndarray, sz: Sizes, tests_dir: Path) -> None:
    """The seed: "S3 latency 50-100 ms: 10 chunks sequential 1000 ms, parallel 100 ms"."""
    if str(tests_dir) not in sys.path:
        sys.path.insert(0, str(tests_dir))
    warnings.filterwarnings("ignore")
    from cloud import servers  # type: ignore[import-not-found]  # the emulator helpers the tests use

    s3 = servers.start_s3()
    proxy = None
    try:
        s3.create_bucket("demo")
        proxy = servers.start_fault_proxy(s3.endpoint, delay_ms=sz.cloud_delay_ms)
        opts = {**s3.storage_options, "endpoint_url": proxy.url}
        a = create("s3://demo/seed.zarr", shape=sz.shape, chunks=sz.chunks, dtype="float64", storage_options=opts)
        t_w = best(lambda: a.set_basic_selection(..., data), 1)
        r = open_array("s3://demo/seed.zarr", storage_options=opts)
        ten = np.s_[0 : sz.chunks[0], 0 : sz.shape[1]]  # one row of chunks (10 at the seed's sizes)
        nrow = sz.shape[1] // sz.chunks[1]
        n = nrow * (sz.shape[0] // sz.chunks[0])
        t_seq = best(lambda: r.get_basic_selection(ten, max_concurrency=1), 1)
        t_par = best(lambda: r.get_basic_selection(ten), 3)
        assert np.array_equal(r[...], data), "cloud read-back mismatch"
        print(f"\n| the seed's cloud scenario: s3:// on an S3 emulator, {sz.cloud_delay_ms} ms per request | |")
        print("|---|---:|")
        row(f"read {nrow} chunks, sequential", f"{t_seq * 1e3:.0f} ms")
        row(f"read {nrow} chunks, parallel", f"{t_par * 1e3:.0f} ms")
        row("speedup", f"{t_seq / t_par:.1f}x")
        row(f"write all {n} chunks, parallel", f"{t_w:.2f} s")
    finally:
        if proxy is not None:
            proxy.stop()
        s3.stop()


def main(argv: Sequence[str] | None = None, *, repo: str | Path | None = None) -> int:
    """``python examples/demo.py [--quick] [--no-cloud]``: run :func:`run`; returns the exit code."""
    parser = argparse.ArgumentParser(prog="demo", description="The seed's parallel I/O benchmark.")
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--no-cloud", action="store_true", help="skip the S3 emulator scenario")
    args = parser.parse_args(argv)
    run(quick=args.quick, cloud=not args.no_cloud, repo=repo)
    return 0
