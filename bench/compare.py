"""exzarr against zarr-python 3, zarr-python + zarrs and tensorstore: same data, same process, one run.

Prints a markdown report (tables plus exzarr/peer throughput ratios) and, with
``--out``, writes it to a file (``make bench`` writes ``bench/RESULTS.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from peers import Exzarr, best_of, peers

import exzarr
from exzarr.storage import LatencyStore, LocalStore, MemoryStore

N = 4096
SLICE = (slice(100, 1100), slice(200, 1200))
TARGETS = {  # (layout, op, peer): minimum exzarr/peer throughput ratio (issue 11, on the compressible data)
    ("256", "read", "tensorstore"): 1.25,
    ("256", "write", "tensorstore"): 1.15,
    ("256", "slice", "tensorstore"): 1.2,
    ("64", "read", "tensorstore"): 1.1,
    ("64", "write", "tensorstore"): 1.1,
    ("64", "slice", "tensorstore"): 1.1,
    ("sharded", "read", "tensorstore"): 1.1,
    ("sharded", "write", "tensorstore"): 1.1,
    ("sharded", "slice", "tensorstore"): 1.1,
}
DECODE_LIMIT_TARGET = 0.85  # exzarr's 256x256 read-all as a share of the decode limit
LAYOUTS = {  # name: (chunks, shards)
    "256": ((256, 256), None),
    "64": ((64, 64), None),
    "sharded": ((64, 64), (1024, 1024)),
}


def compressible(n: int = N) -> np.ndarray:
    """Data that compresses like real measurements: a smooth field plus noise, rounded to 2 decimals."""
    rng = np.random.default_rng(0)
    y = np.linspace(0, 6 * np.pi, n)[:, None]
    x = np.linspace(0, 4 * np.pi, n)[None, :]
    return (10 * np.sin(y) * np.cos(x) + 20 + rng.normal(0, 0.05, (n, n))).round(2)


def incompressible(n: int = N) -> np.ndarray:
    """Cumulative sums of standard normals: zstd level 1 stores them nearly raw."""
    return np.random.default_rng(0).standard_normal((n, n)).cumsum(axis=1)


def zstd_ratio(data: np.ndarray) -> float:
    """Stored / raw size with zstd level 1 on 256x256 blocks (what the chunks hold)."""
    import zstandard

    c = zstandard.ZstdCompressor(level=1)
    blocks = [np.ascontiguousarray(data[r : r + 256, q : q + 256]) for r in range(0, 1024, 256) for q in range(0, 1024, 256)]
    return sum(len(c.compress(b.tobytes())) for b in blocks) / sum(b.nbytes for b in blocks)


def big_workloads(
    tmp: Path, data: np.ndarray, repeat: int, lines: list[str], layouts: tuple[str, ...], limit: bool = False
) -> dict:
    """Write, read and slice with every library; repeats are interleaved round-robin across the
    libraries so that machine noise (a shared 2-core VM) hits all of them alike, and the best
    time of each is kept. The order rotates with each repeat: what one library leaves behind
    (memory it keeps or fragments, pages it dirties) must not always land on the same next one
    (in a fixed order, exzarr's whole reads always followed tensorstore's and took 134 ms, the
    same reads back to back 79 ms in the same run). With ``limit``, the :class:`DecodeLimit` of
    each layout takes its turn in the rotation of the reads (``results[(layout, "limit")]``)."""
    results: dict = {}
    mb = data.nbytes / 1e6
    libs = peers()
    for layout in layouts:
        chunks, shards = LAYOUTS[layout]
        title = f"{chunks[0]}x{chunks[1]} chunks ({(N // chunks[0]) ** 2} chunks" + (
            f" in {shards[0]}x{shards[1]} shards)" if shards else ")"
        )
        lines += [f"\n#### 4096x4096 float64, zstd level 1, {title}, {mb:.0f} MB\n",
                  "| library | write MB/s | read all MB/s | read [100:1100, 200:1200] MB/s |", "|---|---:|---:|---:|"]  # fmt: skip
        best: dict = {(lib.name, op): float("inf") for lib in libs for op in ("write", "read", "slice")}
        arrays = {lib.name: lib.create(tmp / f"{lib.name}-{layout}", data.shape, chunks, shards=shards) for lib in libs}
        for r in range(repeat):
            for lib in libs[r % len(libs) :] + libs[: r % len(libs)]:  # each repeat starts with the next library
                best[(lib.name, "write")] = min(
                    best[(lib.name, "write")], best_of(lambda lib=lib, arr=arrays[lib.name]: lib.write(arr, data), 1)
                )
        opened = {lib.name: lib.open(tmp / f"{lib.name}-{layout}") for lib in libs}
        floor = DecodeLimit(tmp, layout, data.shape) if limit else None
        readers: list = libs + ([floor] if floor else [])
        best_limit = float("inf")
        for r in range(repeat):
            for lib in readers[r % len(readers) :] + readers[: r % len(readers)]:
                if lib is floor:
                    best_limit = min(best_limit, best_of(floor.run, 1))
                    continue
                arr = opened[lib.name]
                best[(lib.name, "read")] = min(best[(lib.name, "read")], best_of(lambda lib=lib, arr=arr: lib.read(arr), 1))
                best[(lib.name, "slice")] = min(
                    best[(lib.name, "slice")], best_of(lambda lib=lib, arr=arr: lib.read(arr, SLICE), 1)
                )
        if floor is not None:
            assert np.array_equal(floor.out, data), "the decode limit decoded wrong data"
            floor.close()
            results[(layout, "limit")] = best_limit
        for lib in libs:
            assert np.array_equal(np.asarray(lib.read(opened[lib.name])), data), f"{lib.name} read back wrong data"
            assert np.array_equal(np.asarray(lib.read(opened[lib.name], SLICE)), data[SLICE]), f"{lib.name} wrong slice"
            res = {
                "write": mb / best[(lib.name, "write")],
                "read": mb / best[(lib.name, "read")],
                "slice": 8.0 / best[(lib.name, "slice")],
                "read_s": best[(lib.name, "read")],
            }
            results[(layout, lib.name)] = res
            lines.append(f"| {lib.name} | {res['write']:.0f} | {res['read']:.0f} | {res['slice']:.0f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    return results


class DecodeLimit:
    """The floor no reader can beat: every stored chunk of exzarr's array, already in memory,
    decoded with the libzstd exzarr's zstd codec calls (:mod:`exzarr.codecs.libzstd`) into a
    per-thread buffer and copied into its place in a preallocated output (its pages already
    touched: a reader's fresh output costs it page faults that the limit does not pay), on all
    cores. Sharded arrays hold the same inner chunks as the 64x64 layout, so their limit is that
    layout's. Timed in the same interleaved rotation as the libraries' reads (see
    :func:`big_workloads`): measured minutes apart, the floor and the reads met different moments
    of a noisy machine (once 66 ms against reads that matched it when run side by side)."""

    def __init__(self, tmp: Path, layout: str, shape: tuple[int, ...]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.side = LAYOUTS[layout][0][0]
        root = tmp / f"exzarr-{'64' if layout == 'sharded' else layout}" / "c"
        items = []
        for f in root.rglob("*"):
            if f.is_file():
                i, j = (int(p) for p in f.relative_to(root).parts)
                items.append((i, j, f.read_bytes()))
        self.out = np.empty(shape)
        workers = os.cpu_count() or 1
        self.parts = [items[k::workers] for k in range(workers)]
        self.pool = ThreadPoolExecutor(workers)
        self.run()  # warm: threads started, the pages of the output touched

    def _decode(self, part: list) -> None:
        from exzarr.codecs import libzstd

        side, out = self.side, self.out
        scratch = np.empty((side, side))
        for i, j, blob in part:
            libzstd.decompress(blob, scratch)
            out[i * side : (i + 1) * side, j * side : (j + 1) * side] = scratch

    def run(self) -> None:
        list(self.pool.map(self._decode, self.parts))

    def close(self) -> None:
        self.pool.shutdown()
        del self.out


def libzstd_in_use() -> str:
    """Which libzstd exzarr decodes and encodes with (both its C loops and its Python path)."""
    from exzarr.codecs import libzstd

    return libzstd.LIBRARY or "the zstandard package (no libzstd bound to the C module)"


def ratio_table(results: dict, lines: list[str], targets: bool) -> list[tuple[str, float, float, bool]]:
    lines += ["\n#### Ratios exzarr / peer (throughput, same run; > 1 means exzarr is faster)\n",
              "| layout | op | vs zarr-python | vs zarr-python+zarrs | vs tensorstore |", "|---|---|---:|---:|---:|"]  # fmt: skip
    checks = []
    for layout in LAYOUTS:
        if (layout, "exzarr") not in results:
            continue
        for op in ("write", "read", "slice"):
            ours = results[(layout, "exzarr")][op]
            cells = []
            for peer in ("zarr-python", "zarr-python+zarrs", "tensorstore"):
                theirs = results.get((layout, peer))
                if theirs is None:
                    cells.append("n/a")
                    continue
                r = ours / theirs[op]
                target = TARGETS.get((layout, op, peer)) if targets else None
                cells.append(f"{r:.2f}" + (f" (target >= {target})" if target else ""))
                if target:
                    checks.append((f"{layout} {op} vs {peer}", r, target, r >= target))
            lines.append(f"| {layout} | {op} | " + " | ".join(cells) + " |")
    return checks


def limit_table(results: dict, lines: list[str]) -> list[tuple[str, float, float, bool]]:
    lines += ["\n#### The decode limit: every stored chunk, in memory, decoded into a preallocated output on all cores"
              " (timed in the rotation of the reads)\n",
              "| layout | decode limit | exzarr read all | exzarr's share of the limit | tensorstore's share |",
              "|---|---:|---:|---:|---:|"]  # fmt: skip
    checks = []
    for layout in LAYOUTS:
        if (layout, "exzarr") not in results or (layout, "limit") not in results:
            continue
        t = results[(layout, "limit")]
        ours = results[(layout, "exzarr")]["read_s"]
        ts = results.get((layout, "tensorstore"), {}).get("read_s")
        share_ts = "n/a" if ts is None else f"{t / ts:.2f}"
        lines.append(f"| {layout} | {t * 1e3:.0f} ms | {ours * 1e3:.0f} ms | {t / ours:.2f} | {share_ts} |")
        if layout == "256":
            checks.append(
                ("256 read as a share of the decode limit", t / ours, DECODE_LIMIT_TARGET, t / ours >= DECODE_LIMIT_TARGET)
            )
    return checks


def cache_scenario(tmp: Path, repeat: int, lines: list[str]) -> list[tuple[str, float, float, bool]]:
    """Overlapping 512x512 windows inside one 2048x2048 region, read with and without the chunk cache."""
    rng = np.random.default_rng(7)
    corners = [(int(rng.integers(0, 1536)), int(rng.integers(0, 1536))) for _ in range(100)]

    def windows(arr):
        for r, c in corners:
            arr[r : r + 512, c : c + 512]

    plain = exzarr.open(tmp / "compressible" / "exzarr-256")
    cached = exzarr.open(tmp / "compressible" / "exzarr-256", cache_bytes=256 * 2**20)
    windows(cached)  # warm: the region's 64 chunks are decoded once
    t_plain = best_of(lambda: windows(plain), repeat)
    t_cached = best_of(lambda: windows(cached), repeat)
    st = cached.cache_stats()
    lines += ["\n### Chunk cache: 100 overlapping 512x512 windows in a 2048x2048 region (256x256 chunks)\n",
              "| reader | time | speedup |", "|---|---:|---:|",
              f"| no cache | {t_plain * 1e3:.0f} ms | 1.00x |",
              f"| `cache_bytes=256 MiB` | {t_cached * 1e3:.0f} ms | {t_plain / t_cached:.2f}x |",
              f"\nCache after the runs: {st.entries} chunks, {st.nbytes / 2**20:.0f} MiB, hit rate {st.hit_rate:.3f}."]  # fmt: skip
    return [("cached overlapping reads faster than uncached", t_plain / t_cached, 1.0, t_plain / t_cached > 1.0)]


def seed_scenario(tmp: Path, repeat: int, lines: list[str]) -> list[tuple[str, float, float, bool]]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1000, 1000))
    path = tmp / "seed"
    a = exzarr.create(
        shape=(1000, 1000), chunks=(100, 100), dtype="float64", compressor="zstd", storage="filesystem", path=str(path)
    )
    a[...] = x
    a = exzarr.open(path)
    t_seq = best_of(lambda: a.get_slice(start=(0, 0), stop=(400, 400), max_concurrency=1), repeat * 3)
    t_par = best_of(lambda: a.get_slice(start=(0, 0), stop=(400, 400)), repeat * 3)
    lines += ["\n### The seed's scenario: 1000x1000 float64, 100x100 chunks, zstd, local store\n",
              "| read [0:400, 0:400] (16 chunks) | time |", "|---|---:|",
              f"| sequential (`max_concurrency=1`) | {t_seq * 1e3:.2f} ms |", f"| parallel (default) | {t_par * 1e3:.2f} ms |",
              f"| speedup | {t_seq / t_par:.2f}x |"]  # fmt: skip
    lines += [
        "\nConcurrency sweep, read the whole 1000x1000 array (100 chunks):\n",
        "| max_concurrency | time | speedup |",
        "|---:|---:|---:|",
    ]
    base = None
    for c in (1, 2, 4, 8, 16):
        t = best_of(lambda c=c: a.get_basic_selection(..., max_concurrency=c), repeat * 3)
        base = base or t
        lines.append(f"| {c} | {t * 1e3:.2f} ms | {base / t:.2f}x |")
    return []


def cpu_speedup(tmp: Path, repeat: int, lines: list[str]) -> list[tuple[str, float, float, bool]]:
    a = Exzarr().open(tmp / "compressible" / "exzarr-256")
    t1 = best_of(lambda: a.get_basic_selection(..., max_concurrency=1), repeat)
    tn = best_of(lambda: a.get_basic_selection(...), repeat)
    cores = os.cpu_count() or 1
    lines += [f"\n### CPU-bound: read all of 4096x4096 (256x256 chunks), {cores} cores\n", "| max_concurrency | time |", "|---|---:|",
              f"| 1 | {t1 * 1e3:.0f} ms |", f"| default ({exzarr.config.cpu_workers}) | {tn * 1e3:.0f} ms |", f"| speedup | {t1 / tn:.2f}x |"]  # fmt: skip
    return [("CPU-bound read-all speedup over max_concurrency=1", t1 / tn, 1.5, t1 / tn >= 1.5)]


def io_scenario(lines: list[str]) -> list[tuple[str, float, float, bool]]:
    store = LatencyStore(MemoryStore(), latency=0.1)
    a = exzarr.create(store, shape=(1000, 1000), chunks=(100, 100), dtype="float64")
    a[...] = np.ones((1000, 1000))
    t_seq = best_of(lambda: a.get_basic_selection(..., max_concurrency=1), 1)
    t_par = best_of(lambda: a[...], 2)
    t_w = best_of(lambda: a.set_basic_selection(..., 2.0), 1)
    lines += ["\n### I/O-bound: 100 chunks behind `LatencyStore(latency=0.1)`\n", "| operation | time |", "|---|---:|",
              f"| read all, sequential | {t_seq:.2f} s |", f"| read all, parallel ({exzarr.config.io_concurrency} in flight) | {t_par:.3f} s |",
              f"| write all, parallel | {t_w:.3f} s |", f"| read speedup | {t_seq / t_par:.1f}x |"]  # fmt: skip
    return [("I/O-bound read speedup", t_seq / t_par, 20.0, t_seq / t_par >= 20)]


# VmHWM (peak RSS of this address space) resets on exec; ru_maxrss would inherit the parent's peak.
_PEAK = r"""
import sys, json, numpy as np
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
sys.path.insert(0, {bench!r})
from peers import {cls}
lib = {cls}()
arr = lib.open({path!r})
before = hwm()
out = np.asarray(lib.read(arr))
after = hwm()
print(json.dumps({{"extra_kb": after - before, "out_kb": out.nbytes / 1024}}))
"""


def peak_memory(tmp: Path, lines: list[str]) -> list[tuple[str, float, float, bool]]:
    lines += ["\n### Peak memory of a whole-array read (4096x4096 float64, 64x64 chunks; fresh process each)\n",
              "| library | peak RSS growth / output size |", "|---|---:|"]  # fmt: skip
    checks = []
    for lib in peers():
        path = str(tmp / "compressible" / f"{lib.name}-64")
        code = _PEAK.format(bench=str(Path(__file__).parent), cls=type(lib).__name__, path=path)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        info = json.loads(res.stdout.strip().splitlines()[-1])
        ratio = info["extra_kb"] / info["out_kb"]
        lines.append(f"| {lib.name} | {ratio:.2f} |")
        if lib.name == "exzarr":
            checks.append(("exzarr peak memory / output size", ratio, 1.05, ratio <= 1.05))
    return checks


def lost_rows(tmp: Path, lines: list[str]) -> list[tuple[str, float, float, bool]]:
    import warnings

    import zarr

    warnings.filterwarnings("ignore")
    results = {}
    for name in ("exzarr", "zarr-python"):
        path = tmp / f"rows-{name}"
        if name == "exzarr":
            arr = exzarr.create(LocalStore(path), shape=(160, 64), chunks=(160, 64), dtype="i4", fill_value=-1)
        else:
            arr = zarr.create_array(str(path), shape=(160, 64), chunks=(160, 64), dtype="i4", fill_value=-1)
        barrier = threading.Barrier(16)

        def writer(t, arr=arr, barrier=barrier):
            barrier.wait()
            for row in range(t, 160, 16):
                arr[row, :] = row

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        got = np.asarray(arr[...])
        results[name] = sum(1 for r in range(160) if not (got[r] == r).all())
    lines += [
        "\n### Same-chunk writers: 16 threads write interleaved rows of one 160x64 chunk\n",
        "| library | rows lost (of 160) |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v} |" for k, v in results.items()]
    return [("rows lost by 16 same-chunk writer threads", results["exzarr"], 0, results["exzarr"] == 0)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    lines = ["# Benchmark results", "",
             f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
             f"exzarr {exzarr.__version__}, zarr-python {v('zarr')}, zarrs {v('zarrs')}, tensorstore {v('tensorstore')}, "
             f"numpy {np.__version__}. Generated by `make bench` (`bench/compare.py`), {time.strftime('%Y-%m-%d')}.",
             "Each figure is the best of the repeats (interleaved across libraries, the order rotating with each repeat);",
             "all libraries ran in one process. exzarr's zstd: "
             f"{libzstd_in_use()}."]  # fmt: skip
    checks = []
    with tempfile.TemporaryDirectory(prefix="exzarr-bench-") as d:
        tmp = Path(d)
        for kind, make, layouts, targets in (
            ("compressible", compressible, tuple(LAYOUTS), True),
            ("incompressible", incompressible, ("256", "64"), False),
        ):
            data = make()
            sub = tmp / kind
            sub.mkdir()
            what = "a smooth field plus noise, rounded to 2 decimals" if targets else "cumulative sums of normals"
            lines += [f"\n### {kind.capitalize()} data: {what}; zstd level 1 stores it at {zstd_ratio(data):.0%} of its size"]
            results = big_workloads(sub, data, args.repeat if targets else max(2, args.repeat // 2), lines, layouts, targets)
            checks += ratio_table(results, lines, targets)
            if targets:
                checks += limit_table(results, lines)
        lines.append("\n### Other scenarios")
        checks += cpu_speedup(tmp, args.repeat, lines)
        checks += cache_scenario(tmp, args.repeat, lines)
        checks += seed_scenario(tmp, args.repeat, lines)
        checks += io_scenario(lines)
        checks += peak_memory(tmp, lines)
        checks += lost_rows(tmp, lines)
    lines += ["\n### Targets from the issue\n", "| check | measured | target | met |", "|---|---:|---:|---|"]
    for name, value, target, ok in checks:
        lines.append(
            f"| {name} | {value:.2f} | {'<=' if 'memory' in name or 'lost' in name else '>='} {target} | {'yes' if ok else 'NO'} |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
