"""Parallel ingestion from S3 with progress and checkpoints (the seed's practical example 2).

Source tiles are ``.npy`` objects ``{i}_{j}.npy`` under an S3 prefix, with a ``manifest.json``
giving the grid. ``ingest`` downloads them with many requests in flight and writes each as one
whole chunk of a target array (anywhere exzarr writes: a local path or another ``s3://`` URL).
After every batch of chunks written, a checkpoint file lists the chunks that are stored, so a
run that stops (a crash, Ctrl-C, ``--stop-after``) resumes where it left off (rewriting at most
the chunks of the batch in flight when it stopped; a chunk write is atomic and idempotent).

    # with an S3 endpoint at http://127.0.0.1:5000 (e.g. `python -m moto.server`) and a bucket
    python examples/s3_ingest.py make-tiles s3://bucket/tiles --grid 8 8 --tile 100 \\
        -o endpoint_url=http://127.0.0.1:5000 -o key=test -o secret=test -o region=us-east-1
    python examples/s3_ingest.py ingest s3://bucket/tiles mosaic.zarr --checkpoint ingest.ckpt.json -o ...
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

import exzarr
from exzarr.storage import make_store


def storage_options(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"s3_ingest: -o expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def tile_values(i: int, j: int, tile: int) -> np.ndarray:
    """The synthetic source data: a smooth field plus the tile's coordinates (so a misplaced tile shows)."""
    y, x = np.mgrid[0:tile, 0:tile]
    return (np.sin((y + i * tile) / 37.0) * np.cos((x + j * tile) / 23.0) + i * 1000 + j).astype("float32")


def make_tiles(url: str, rows: int, cols: int, tile: int, opts: dict[str, Any]) -> None:
    store, base = make_store(url, storage_options=opts, mode="w")
    prefix = f"{base}/" if base else ""
    items = []
    for i in range(rows):
        for j in range(cols):
            buf = io.BytesIO()
            np.save(buf, tile_values(i, j, tile))
            items.append((f"{prefix}{i}_{j}.npy", buf.getvalue()))
    manifest = {"rows": rows, "cols": cols, "tile": tile, "dtype": "float32"}
    items.append((f"{prefix}manifest.json", json.dumps(manifest).encode()))
    store.put_many(items)  # concurrent PUTs
    print(f"wrote {rows * cols} tiles of {tile}x{tile} to {url}")


def load_checkpoint(path: str) -> set[tuple[int, int]]:
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {(int(i), int(j)) for i, j in json.load(f)["written"]}


def save_checkpoint(path: str, done: set[tuple[int, int]]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"written": sorted(done)}, f)
    os.replace(tmp, path)  # atomic: a crash leaves the old checkpoint or the new one


def ingest(
    src: str, dst: str, checkpoint: str, opts: dict[str, Any], dst_opts: dict[str, Any], concurrency: int, stop_after: int | None
) -> int:
    store, base = make_store(src, storage_options=opts, mode="r")
    prefix = f"{base}/" if base else ""
    raw = store.get(f"{prefix}manifest.json")
    if raw is None:
        raise SystemExit(f"s3_ingest: no manifest.json under {src}")
    m = json.loads(raw)
    rows, cols, tile = m["rows"], m["cols"], m["tile"]
    done = load_checkpoint(checkpoint)
    if done:
        target = exzarr.open_array(dst, mode="r+", storage_options=dst_opts)
    else:
        target = exzarr.create_array(
            dst, shape=(rows * tile, cols * tile), chunks=(tile, tile), dtype=m["dtype"], storage_options=dst_opts, overwrite=True
        )
    todo = [(i, j) for i in range(rows) for j in range(cols) if (i, j) not in done]
    if stop_after is not None:
        todo = todo[:stop_after]
    print(f"{len(done)} tiles already ingested (checkpoint), {len(todo)} to go", flush=True)

    def fetch(ij: tuple[int, int]) -> tuple[tuple[int, int], np.ndarray]:
        data = store.get(f"{prefix}{ij[0]}_{ij[1]}.npy")
        if data is None:
            raise FileNotFoundError(f"tile {ij} is missing from {src}")
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        if arr.shape != (tile, tile):
            raise ValueError(f"tile {ij} has shape {arr.shape}, expected {(tile, tile)}")
        return ij, arr

    def downloaded() -> Iterator[tuple[tuple[int, int], np.ndarray]]:
        """Tiles as their downloads finish, with up to ``concurrency`` requests in flight."""
        with ThreadPoolExecutor(concurrency) as pool:
            pending: set[Future] = set()
            queue = iter(todo)
            for ij in queue:
                pending.add(pool.submit(fetch, ij))
                if len(pending) >= concurrency:
                    break
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    yield fut.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(pool.submit(fetch, nxt))

    def on_batch(summary: Any) -> None:
        done.update((int(i), int(j)) for i, j in summary.written)
        save_checkpoint(checkpoint, done)

    summary = target.write_stream(downloaded(), checkpoint=on_batch, batch_size=8, progress=True)
    on_batch(summary)
    left = rows * cols - len(done)
    print(f"ingested {len(summary.written)} tiles this run; {len(done)}/{rows * cols} stored", flush=True)
    if left:
        print(f"stopped with {left} tiles to go: run again to resume from {checkpoint}", flush=True)
        return 3
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make-tiles", help="upload synthetic source tiles")
    mk.add_argument("url")
    mk.add_argument("--grid", type=int, nargs=2, default=(8, 8), metavar=("ROWS", "COLS"))
    mk.add_argument("--tile", type=int, default=100)
    mk.add_argument("-o", "--storage-option", action="append", default=[])
    ing = sub.add_parser("ingest", help="download tiles in parallel into an array, resumably")
    ing.add_argument("src")
    ing.add_argument("dst")
    ing.add_argument("--checkpoint", required=True)
    ing.add_argument("--max-concurrency", type=int, default=20)
    ing.add_argument("--stop-after", type=int, default=None, help="ingest only this many tiles (as if interrupted)")
    ing.add_argument("-o", "--storage-option", action="append", default=[], help="for the source (and an s3:// target)")
    args = p.parse_args(argv)
    opts = storage_options(args.storage_option)
    if args.cmd == "make-tiles":
        make_tiles(args.url, args.grid[0], args.grid[1], args.tile, opts)
        return 0
    dst_opts = opts if "://" in args.dst and not args.dst.startswith("file://") else {}
    return ingest(args.src, args.dst, args.checkpoint, opts, dst_opts, args.max_concurrency, args.stop_after)


if __name__ == "__main__":
    sys.exit(main())
