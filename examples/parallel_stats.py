"""Parallel statistics over a large array: mean, standard deviation, minimum and maximum.

Each chunk is reduced to ``(count, mean, M2, min, max)`` on exzarr's thread pool
(``Array.parallel_chunk_map``: decoding runs on every core), and the partial results are merged
with the pairwise update of Chan et al., which stays accurate where a running sum of squares
would not. The result is checked against NumPy on the same data.

    python examples/parallel_stats.py                       # 4000 x 4000 float64, 500 x 500 chunks
    python examples/parallel_stats.py --shape 300 200 --chunks 64 50 --path /tmp/stats.zarr
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import exzarr


@dataclass(frozen=True)
class Moments:
    count: int
    mean: float
    m2: float  # sum of squared deviations from the mean
    min: float
    max: float

    @classmethod
    def of(cls, block: np.ndarray) -> Moments:
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        mean = float(x.mean())
        return cls(x.size, mean, float(((x - mean) ** 2).sum()), float(x.min()), float(x.max()))

    def merge(self, other: Moments) -> Moments:
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / n
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n
        return Moments(n, mean, m2, min(self.min, other.min), max(self.max, other.max))

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.count)


def array_stats(a: exzarr.Array, max_concurrency: int | None = None) -> Moments:
    """Mean, std, min and max of every element of ``a`` (missing chunks count as the fill value)."""
    parts = a.parallel_chunk_map(lambda item: Moments.of(item[1]), max_concurrency=max_concurrency, include_missing=True)
    total: Moments | None = None
    for part in parts:
        total = part if total is None else total.merge(part)
    if total is None:
        raise ValueError(f"array {a.name!r} has no elements")
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=2, default=(4000, 4000))
    p.add_argument("--chunks", type=int, nargs=2, default=(500, 500))
    p.add_argument("--path", type=Path, default=None, help="where to write the array (default: a temporary directory)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="exzarr-stats-") as tmp:
        path = args.path or Path(tmp) / "stats.zarr"
        rng = np.random.default_rng(7)
        data = rng.normal(10.0, 3.0, tuple(args.shape))
        data[: args.chunks[0], : args.chunks[1]] = 0.0  # one chunk equal to the fill value: not stored, still counted
        a = exzarr.create(path, shape=data.shape, chunks=tuple(args.chunks), dtype="float64", mode="w-")
        a[...] = data
        t0 = time.perf_counter()
        s = array_stats(exzarr.open_array(path))
        elapsed = time.perf_counter() - t0
        expect = (data.mean(), data.std(), data.min(), data.max())
        got = (s.mean, s.std, s.min, s.max)
        print(f"{a.nchunks} chunks, {s.count} elements, {elapsed * 1e3:.1f} ms")
        for name, g, e in zip(("mean", "std", "min", "max"), got, expect, strict=True):
            print(f"{name:<4} {g:.12g} (numpy {e:.12g})")
        if s.count != data.size or not np.allclose(got, expect, rtol=1e-12, atol=0):
            print("MISMATCH with numpy", file=sys.stderr)
            return 1
    print("OK: equal to numpy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
