"""One shuffled training epoch: ``exzarr.batches`` against random-row reads batch by batch.

    python bench/batches_bench.py [--rows 200000] [--width 64] [--chunk-rows 4096] [--batch-size 256]
                                  [--repeats 3] [--naive-batches 40] [--out bench/BATCHES.md] [--quick]

Data: a ``rows x width`` float32 features array (``chunk-rows`` rows per chunk, zstd) and an int64
labels array (same chunking) on a temporary local store. Measured, repeats interleaved:

* ``exzarr.batches((x, y), batch_size, shuffle=True)``: a whole epoch (default ``prefetch=2``, and
  ``prefetch=0``), and the in-order epoch for reference;
* the naive baseline: a random permutation of the rows, cut into batches, each batch read with
  ``x.oindex[sorted(idx)]`` and ``y.oindex[sorted(idx)]``. Each such batch touches almost every chunk,
  so only the first ``--naive-batches`` batches are timed and the epoch time is extrapolated from
  them (the output says so).

Every epoch is checked: each row exactly once, features and labels paired. Rows/s are per epoch
(median of the repeats); the ratio is against the naive baseline.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import exzarr


def make_data(root: Path, rows: int, width: int, chunk_rows: int) -> tuple[exzarr.Array, exzarr.Array]:
    x = exzarr.create(str(root / "x"), shape=(rows, width), chunks=(chunk_rows, width), dtype="float32", compressor="zstd")
    y = exzarr.create(str(root / "y"), shape=(rows,), chunks=(chunk_rows,), dtype="int64", compressor="zstd")
    rng = np.random.default_rng(0)
    for r0 in range(0, rows, chunk_rows * 8):
        r1 = min(rows, r0 + chunk_rows * 8)
        block = rng.standard_normal((r1 - r0, width), dtype="float32")
        block[:, 0] = np.arange(r0, r1)  # column 0 holds the row id (exact in float32 below 2**24)
        x[r0:r1] = block
        y[r0:r1] = np.arange(r0, r1)
    return exzarr.open(str(root / "x")), exzarr.open(str(root / "y"))


def check_batch(xb: np.ndarray, yb: np.ndarray) -> None:
    if not np.array_equal(xb[:, 0].astype("int64"), yb):
        raise AssertionError("features and labels are not paired")


def epoch_batches(
    x: exzarr.Array, y: exzarr.Array, batch_size: int, shuffle: bool, prefetch: int, seed: int, step: float = 0.0
) -> tuple[float, int]:
    seen = np.zeros(x.shape[0], dtype=bool)
    t0 = time.perf_counter()
    for xb, yb in exzarr.batches((x, y), batch_size, shuffle=shuffle, seed=seed, prefetch=prefetch):
        if step:
            time.sleep(step)  # a training step that does not hold the GIL (an accelerator, a native kernel)
        check_batch(xb, yb)
        if seen[yb].any():
            raise AssertionError("a row came twice")
        seen[yb] = True
    dt = time.perf_counter() - t0
    if not seen.all():
        raise AssertionError("a row is missing")
    return dt, x.shape[0]


def epoch_naive(x: exzarr.Array, y: exzarr.Array, batch_size: int, max_batches: int, seed: int) -> tuple[float, int, int]:
    """Seconds for ``max_batches`` random batches, rows read, and the number of batches in an epoch."""
    n = x.shape[0]
    perm = np.random.default_rng(seed).permutation(n)
    nbatches = -(-n // batch_size)
    t0 = time.perf_counter()
    done = 0
    for b in range(min(nbatches, max_batches)):
        idx = np.sort(perm[b * batch_size : (b + 1) * batch_size])
        xb, yb = x.oindex[idx], y.oindex[idx]
        check_batch(xb, yb)
        done += len(idx)
    return time.perf_counter() - t0, done, nbatches


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--chunk-rows", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--naive-batches", type=int, default=40, help="naive batches timed (the epoch is extrapolated)")
    p.add_argument("--step-ms", type=float, default=1.0, help="simulated training step per batch for the overlap rows")
    p.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    p.add_argument("--quick", action="store_true", help="a small smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.chunk_rows, args.repeats, args.naive_batches = 20_000, 1024, 1, 5

    with tempfile.TemporaryDirectory(prefix="exzarr-batches-bench-") as tmp:
        t0 = time.perf_counter()
        x, y = make_data(Path(tmp) / "data.zarr", args.rows, args.width, args.chunk_rows)
        setup = time.perf_counter() - t0
        kinds = [
            "batches shuffle prefetch=2",
            "batches shuffle prefetch=0",
            "batches in order prefetch=2",
            "naive",
            "step2",
            "step0",
        ]
        step = args.step_ms / 1e3
        times: dict[str, list[float]] = {k: [] for k in kinds}
        naive_info = (0, 0)
        epoch_batches(x, y, args.batch_size, True, 2, seed=99)  # warm-up (thread pools, page cache), not timed
        nb = -(-args.rows // args.batch_size)
        t0 = time.perf_counter()
        for _ in range(nb):
            time.sleep(args.step_ms / 1e3)
        step_alone = time.perf_counter() - t0
        for rep in range(args.repeats):  # interleaved: every method once per repeat
            times[kinds[0]].append(epoch_batches(x, y, args.batch_size, True, 2, seed=rep)[0])
            times[kinds[1]].append(epoch_batches(x, y, args.batch_size, True, 0, seed=rep)[0])
            times[kinds[2]].append(epoch_batches(x, y, args.batch_size, False, 2, seed=rep)[0])
            dt, done, nbatches = epoch_naive(x, y, args.batch_size, args.naive_batches, seed=rep)
            times["naive"].append(dt * args.rows / done)  # extrapolated to the epoch
            naive_info = (min(nbatches, args.naive_batches), nbatches)
            times["step2"].append(epoch_batches(x, y, args.batch_size, True, 2, seed=rep, step=step)[0])
            times["step0"].append(epoch_batches(x, y, args.batch_size, True, 0, seed=rep, step=step)[0])

    rate = {k: args.rows / statistics.median(v) for k, v in times.items()}
    mb = args.rows * args.width * 4 / 1e6
    lines = [
        "# exzarr.batches: one shuffled epoch",
        "",
        f"Features {args.rows} x {args.width} float32 ({mb:.0f} MB), labels int64, {args.chunk_rows}-row chunks, zstd, "
        f"local store; batch_size {args.batch_size}; median of {args.repeats} interleaved repeat(s); "
        f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end: other work on the machine slows"
        f" every row alike), Python {platform.python_version()}, data written in {setup:.1f} s.",
        "",
        "| method | epoch s | rows/s | vs naive |",
        "|---|---:|---:|---:|",
    ]
    labels = {
        kinds[0]: "`exzarr.batches(shuffle=True)` (prefetch=2)",
        kinds[1]: "`exzarr.batches(shuffle=True, prefetch=0)`",
        kinds[2]: "`exzarr.batches()` in order (reference)",
        "naive": f"naive: permutation, `oindex[sorted(batch)]` per batch (extrapolated from {naive_info[0]} of {naive_info[1]} batches)",
    }
    for k in kinds[:4]:
        lines.append(f"| {labels[k]} | {statistics.median(times[k]):.2f} | {rate[k]:,.0f} | {rate[k] / rate['naive']:.1f}x |")
    lines += [
        "",
        f"With a simulated training step of {args.step_ms:g} ms per batch (`time.sleep`; {nb} steps alone take {step_alone:.2f} s"
        " here), read-ahead hides the reads behind the step:",
        "",
        "| method | epoch s | rows/s |",
        "|---|---:|---:|",
        f"| `exzarr.batches(shuffle=True)` (prefetch=2) + step | {statistics.median(times['step2']):.2f} | {rate['step2']:,.0f} |",
        f"| `exzarr.batches(shuffle=True, prefetch=0)` + step | {statistics.median(times['step0']):.2f} | {rate['step0']:,.0f} |",
        "",
        "Every epoch was checked: each row exactly once, features and labels paired. The naive baseline's random",
        "rows touch nearly every chunk in every batch, so it decodes the whole array about once per batch; only",
        f"its first {naive_info[0]} batches were timed and its epoch time is that time scaled to all {args.rows} rows.",
        "",
        "Command: `python bench/batches_bench.py" + (" --quick" if args.quick else "") + "`",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
