"""Parallel CSV export of a 2-D array: bands of chunk rows are read and formatted in parallel,
and written to the file in order.

Each task reads one band (one row of chunks, every column) and formats it as CSV text; exzarr's
``parallel_chunk_map`` runs the tasks on its pool (``ordered=True``: results come back in band
order, with bounded read-ahead), so memory holds a few bands, not the array. The band read inside
a task runs inline on its worker. Floats are written with 17 significant digits, so the CSV
re-reads exactly; the script checks that.

    python examples/csv_export.py                              # 20000 x 50 float64
    python examples/csv_export.py --shape 1000 7 --chunks 128 4 --out /tmp/a.csv
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import exzarr


def export_csv(a: exzarr.Array, out: Path, *, header: bool = True, max_concurrency: int | None = None) -> int:
    """Write ``a`` (2-D) to ``out`` as CSV; returns the number of data rows written."""
    if a.ndim != 2:
        raise ValueError(f"array {a.name!r}: CSV export needs 2 dimensions, got {a.ndim}")
    band = a.chunks[0]
    fmt = "%.17g" if a.dtype.kind == "f" else "%d" if a.dtype.kind in "iub" else "%s"

    def band_text(item: tuple[tuple[int, ...], np.ndarray]) -> str:
        r0 = item[0][0] * band
        rows = a[r0 : min(r0 + band, a.shape[0]), :]  # the whole band: every chunk column
        buf = io.StringIO()
        np.savetxt(buf, rows, fmt=fmt, delimiter=",")
        return buf.getvalue()

    written = 0
    with open(out, "w", newline="") as f:
        if header:
            f.write(",".join(f"c{j}" for j in range(a.shape[1])) + "\n")
        # one task per band: the chunks of column 0, missing ones included (they read as fill)
        tasks = a.parallel_chunk_map(
            band_text, max_concurrency=max_concurrency, ordered=True, include_missing=True, filter=lambda idx: idx[1] == 0
        )
        for text in tasks:
            f.write(text)
            written += text.count("\n")
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=2, default=(20000, 50))
    p.add_argument("--chunks", type=int, nargs=2, default=(1000, 10))
    p.add_argument("--out", type=Path, default=None, help="the CSV file (default: in a temporary directory)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="exzarr-csv-") as tmp:
        out = args.out or Path(tmp) / "export.csv"
        data = np.random.default_rng(3).standard_normal(tuple(args.shape))
        data[: args.chunks[0]] = 0.0  # a band of fill-value chunks: not stored, still exported
        a = exzarr.create(Path(tmp) / "a.zarr", shape=data.shape, chunks=tuple(args.chunks), dtype="float64")
        a[...] = data
        t0 = time.perf_counter()
        n = export_csv(a, out)
        elapsed = time.perf_counter() - t0
        back = np.loadtxt(out, delimiter=",", skiprows=1, ndmin=2)
        print(f"wrote {n} rows x {data.shape[1]} columns to {out} in {elapsed * 1e3:.1f} ms")
        if n != data.shape[0] or not np.array_equal(back, data):
            print("MISMATCH: the CSV does not re-read equal to the array", file=sys.stderr)
            return 1
    print("OK: the CSV re-reads equal to the array")
    return 0


if __name__ == "__main__":
    sys.exit(main())
