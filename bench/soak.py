"""Soak/load test: threads of mixed reads and writes on a local store, checked for lost updates
and torn reads.

    python bench/soak.py [--seconds 60] [--threads 16] [--out bench/SOAK.md] [--seed N]
                         [--cpu-workers N] [--stall S] [--inject] [--dir D] [--keep]

Four arrays on a temporary ``LocalStore``, each 1024x1024 uint64 and used through one handle
shared by all threads: plain v3 (zstd, 64x64 chunks) and sharded (64x64 inner chunks in 512x512
shards), each once with ``cache_bytes`` and once without.

The unit of checking is a 32x32 *tile* (a quarter of a chunk). A tile written in version ``v``
holds a header ``position << 32 | v`` in its first element, a body derived from the header, and
in its last element the CRC-32 of everything before it, so every read can tell whether a tile is
one complete version of itself. Operations (each thread picks an array and an operation at
random):

* ``write_chunk``: a whole chunk (4 tiles; the read half of read-modify-write is skipped);
* ``write_tile``: one tile, a partial chunk write (read-modify-write; in a sharded array a
  partial shard write);
* ``write_region``: a rectangle of 1-4 x 1-4 tiles at any tile offset, spanning chunks;
* ``read_tile``: one tile; ``read_slice``: a random slice of up to 256x256 elements at any
  offset, every tile wholly inside it is checked.

Each write takes a fresh version from one counter and is recorded with its start and end time.
Checks:

* **torn read**: a tile whose CRC, position or version is wrong (a mix of versions, another
  tile's bytes, garbage); counted on every read and in the final scan;
* **stale read**: a read returned version ``v`` although a write of the same tile that *started
  after v's write ended* had already completed before the read began;
* **lost update**: in the final scan (fresh handles, no cache), a tile holds version ``v`` although
  some write of that tile started after v's write had ended (that write was acknowledged and then
  overwritten by an older one). With concurrent writers of one tile any of the overlapping
  writes may legitimately be last; an ordered pair never may. The cached handles are compared
  with the fresh read as well.

Latency is the time of the exzarr call alone (bookkeeping and checking excluded).

A watchdog reports a *hang* when no operation finishes for ``--stall`` seconds: the report then
says where the threads are stuck (every thread's stack goes to stderr), the final scan still runs
(sequentially), and the exit status is 2 (1 for lost updates, torn or stale reads or errors, 0 when
clean). ``--inject`` is a self-test of the checks (it plants one lost update and one torn tile).
"""

from __future__ import annotations

import argparse
import faulthandler
import io
import itertools
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import exzarr
from exzarr.storage import LocalStore

SIDE = 1024
CHUNK = 64
SHARD = 512
TILE = 32
NT = SIDE // TILE  # tiles per side
TPC = CHUNK // TILE  # tiles per chunk side
CACHE_BYTES = 32 << 20
_BODY = (np.arange(TILE * TILE, dtype=np.uint64) * np.uint64(0x9E3779B1)) & np.uint64(0xFFFF)
_INF = np.iinfo(np.int64).max

WRITE_KINDS = ("write_chunk", "write_tile", "write_region")
READ_KINDS = ("read_tile", "read_slice")
MIX = (("read_tile", 0.25), ("read_slice", 0.25), ("write_chunk", 0.15), ("write_tile", 0.20), ("write_region", 0.15))


def make_tile(pos: int, version: int) -> np.ndarray:
    header = (pos << 32) | version
    t = _BODY ^ np.uint64(header)
    t[0] = header
    t[-1] = zlib.crc32(t[:-1].tobytes())
    return t.reshape(TILE, TILE)


def check_tile(t: np.ndarray, pos: int, max_version: int) -> int | None:
    """The version of a complete tile written for ``pos``, ``None`` if torn or foreign."""
    flat = t.reshape(-1)
    if int(flat[-1]) != zlib.crc32(np.ascontiguousarray(flat[:-1]).tobytes()):
        return None
    header = int(flat[0])
    version = header & 0xFFFFFFFF
    if header >> 32 != pos or not 0 < version <= max_version:
        return None
    return version


def tile_pos(i: int, j: int) -> int:
    return i * NT + j


@dataclass
class Target:
    """One array with its bookkeeping: per tile, the latest start (ns) among the writes of it
    that have completed (``floor``)."""

    name: str
    array: exzarr.Array
    floor: np.ndarray = field(default_factory=lambda: np.zeros((NT, NT), np.int64))


class Book:
    """Versions and their start/end times (arrays indexed by version), under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.issued = 0
        self.starts = np.zeros(1 << 20, np.int64)
        self.ends = np.full(1 << 20, _INF, np.int64)

    def begin(self, t: Target, ti: slice, tj: slice) -> int:
        with self.lock:
            v = next(self.counter)
            if v >= len(self.starts):
                self.starts = np.concatenate([self.starts, np.zeros_like(self.starts)])
                self.ends = np.concatenate([self.ends, np.full_like(self.ends, _INF)])
            self.starts[v] = time.monotonic_ns()
            self.issued = v
            return v

    def end(self, t: Target, ti: slice, tj: slice, v: int) -> None:
        now = time.monotonic_ns()
        with self.lock:
            self.ends[v] = now
            np.maximum(t.floor[ti, tj], self.starts[v], out=t.floor[ti, tj])

    def floor(self, t: Target, ti: slice, tj: slice) -> np.ndarray:
        with self.lock:
            return t.floor[ti, tj].copy()


def region_data(i0: int, i1: int, j0: int, j1: int, v: int) -> np.ndarray:
    out = np.empty(((i1 - i0) * TILE, (j1 - j0) * TILE), np.uint64)
    for i in range(i0, i1):
        for j in range(j0, j1):
            out[(i - i0) * TILE : (i - i0 + 1) * TILE, (j - j0) * TILE : (j - j0 + 1) * TILE] = make_tile(tile_pos(i, j), v)
    return out


@dataclass
class Tally:
    lat: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    torn: int = 0
    stale: int = 0
    tiles_read: int = 0
    tiles_written: int = 0
    errors: list[str] = field(default_factory=list)


def worker(seed: int, targets: list[Target], book: Book, deadline: float, tally: Tally) -> None:
    rng = random.Random(seed)
    kinds, weights = zip(*MIX, strict=True)
    while time.monotonic() < deadline:
        t = rng.choice(targets)
        kind = rng.choices(kinds, weights)[0]
        try:
            if kind in WRITE_KINDS:
                if kind == "write_chunk":
                    ci, cj = rng.randrange(SIDE // CHUNK), rng.randrange(SIDE // CHUNK)
                    i0, j0, i1, j1 = ci * TPC, cj * TPC, (ci + 1) * TPC, (cj + 1) * TPC
                elif kind == "write_tile":
                    i0, j0 = rng.randrange(NT), rng.randrange(NT)
                    i1, j1 = i0 + 1, j0 + 1
                else:
                    i0, j0 = rng.randrange(NT), rng.randrange(NT)
                    i1, j1 = min(NT, i0 + rng.randint(1, 4)), min(NT, j0 + rng.randint(1, 4))
                ti, tj = slice(i0, i1), slice(j0, j1)
                v = book.begin(t, ti, tj)
                data = region_data(i0, i1, j0, j1, v)
                t0 = time.perf_counter()
                t.array[i0 * TILE : i1 * TILE, j0 * TILE : j1 * TILE] = data
                dt = time.perf_counter() - t0
                book.end(t, ti, tj, v)
                tally.tiles_written += (i1 - i0) * (j1 - j0)
            else:
                if kind == "read_tile":
                    r0, c0 = rng.randrange(NT) * TILE, rng.randrange(NT) * TILE
                    r1, c1 = r0 + TILE, c0 + TILE
                else:
                    r0, c0 = rng.randrange(SIDE - 2 * TILE), rng.randrange(SIDE - 2 * TILE)
                    r1, c1 = min(SIDE, r0 + rng.randint(2 * TILE, 256)), min(SIDE, c0 + rng.randint(2 * TILE, 256))
                i0, j0, i1, j1 = -(-r0 // TILE), -(-c0 // TILE), r1 // TILE, c1 // TILE  # tiles wholly inside
                fl = book.floor(t, slice(i0, i1), slice(j0, j1))
                t0 = time.perf_counter()
                got = t.array[r0:r1, c0:c1]
                dt = time.perf_counter() - t0
                issued = book.issued
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        blk = got[i * TILE - r0 : (i + 1) * TILE - r0, j * TILE - c0 : (j + 1) * TILE - c0]
                        v = check_tile(blk, tile_pos(i, j), issued)
                        tally.tiles_read += 1
                        if v is None:
                            tally.torn += 1
                            if len(tally.errors) < 10:
                                tally.errors.append(f"torn tile {(i, j)} of {t.name} in {kind} [{r0}:{r1}, {c0}:{c1}]")
                        elif book.ends[v] < fl[i - i0, j - j0]:
                            tally.stale += 1
                            if len(tally.errors) < 10:
                                tally.errors.append(f"stale tile {(i, j)} of {t.name}: version {v} in {kind}")
            tally.lat.setdefault((t.name, kind), []).append(dt)
        except Exception:
            if len(tally.errors) < 10:
                tally.errors.append(f"{kind} on {t.name}: {traceback.format_exc(limit=3)}")
            tally.lat.setdefault((t.name, "error"), []).append(0.0)


def _progress(tallies: list[Tally]) -> int:
    return sum(len(xs) for tl in tallies for xs in list(tl.lat.values()))


def watch(threads: list[threading.Thread], tallies: list[Tally], deadline: float, stall: float, t0: float) -> tuple[str, float]:
    """Join the threads; if no operation finishes for ``stall`` seconds, return a summary of
    where every thread is stuck (a hang) and the time up to the last progress."""
    last, last_t = _progress(tallies), time.monotonic()
    while any(th.is_alive() for th in threads):
        for th in threads:
            th.join(timeout=0.5)
            if not th.is_alive():
                continue
            break
        now, n = time.monotonic(), _progress(tallies)
        if n != last:
            last, last_t = n, now
        elif now - last_t > stall and now > last_t:
            buf = io.StringIO()
            with tempfile.TemporaryFile("w+") as f:
                faulthandler.dump_traceback(file=f, all_threads=True)
                f.seek(0)
                dump = f.read()
            stuck = []
            for block in dump.split("\n\n"):
                frames = [ln.strip() for ln in block.splitlines() if "exzarr" in ln]
                if frames:
                    stuck.append(" <- ".join(fr.replace('File "', "").split("/src/")[-1] for fr in frames[:4]))
            counts: dict[str, int] = {}
            for s in stuck:
                counts[s] = counts.get(s, 0) + 1
            buf.write(f"after {last_t - t0:.1f} s, {sum(th.is_alive() for th in threads)} of {len(threads)} threads stuck\n")
            for s, c in sorted(counts.items(), key=lambda kv: -kv[1]):
                buf.write(f"{c} x {s}\n")
            sys.stderr.write(dump)
            return buf.getvalue(), last_t - t0
    return "", time.monotonic() - t0


def inject(root: Path, t: Target, book: Book) -> None:
    """Plant what the final scan must find: tile (0, 0) back at its first version (written at
    set-up, superseded by a later acknowledged write: a lost update) and tile (0, 1) made of two
    versions (torn)."""
    a = exzarr.open(LocalStore(root), node=t.name, mode="r+")
    first = next(v for v in range(1, book.issued + 1) if book.ends[v] < _INF)  # the set-up write of targets[0]
    v = book.begin(t, slice(0, 1), slice(0, 1))  # an acknowledged write after the set-up one
    a[0:TILE, 0:TILE] = make_tile(tile_pos(0, 0), v)
    book.end(t, slice(0, 1), slice(0, 1), v)
    a[0:TILE, 0:TILE] = make_tile(tile_pos(0, 0), first)  # ... lost: the older version is back
    torn = make_tile(tile_pos(0, 1), first)
    torn[TILE // 2 :] = make_tile(tile_pos(0, 1), v)[TILE // 2 :]
    a[0:TILE, TILE : 2 * TILE] = torn


def final_scan(root: Path, targets: list[Target], book: Book) -> dict[str, int]:
    """Fresh handles without cache: every tile complete, none holding a superseded version;
    the cached handles must agree with the fresh read."""
    res = {"tiles": 0, "torn": 0, "lost": 0, "cache_mismatch": 0}
    store = LocalStore(root, read_only=True)
    for t in targets:
        # sequential reads (no pool): the scan also runs when a hang has the pool stuck
        fresh = exzarr.open(store, node=t.name, mode="r").get_basic_selection(..., max_concurrency=1)
        through_handle = t.array.get_basic_selection(..., max_concurrency=1)
        res["cache_mismatch"] += int(np.count_nonzero((fresh != through_handle).reshape(NT, TILE, NT, TILE).any(axis=(1, 3))))
        for i in range(NT):
            for j in range(NT):
                v = check_tile(fresh[i * TILE : (i + 1) * TILE, j * TILE : (j + 1) * TILE], tile_pos(i, j), book.issued)
                res["tiles"] += 1
                if v is None:
                    res["torn"] += 1
                elif book.ends[v] < t.floor[i, j]:
                    res["lost"] += 1  # an acknowledged write of this tile began after v's had ended, and v is what is left
    return res


def create_targets(root: Path, book: Book) -> list[Target]:
    store = LocalStore(root)
    targets = []
    for name, shards in (("plain", None), ("sharded", (SHARD, SHARD))):
        for cached in (False, True):
            node = f"{name}{'-cache' if cached else ''}"
            a = exzarr.create(
                store,
                node=node,
                shape=(SIDE, SIDE),
                chunks=(CHUNK, CHUNK),
                shards=shards,
                dtype="uint64",
                compressor="zstd",
                cache_bytes=CACHE_BYTES if cached else None,
            )
            t = Target(node, a)
            whole = (slice(0, NT), slice(0, NT))
            v = book.begin(t, *whole)
            a[...] = region_data(0, NT, 0, NT, v)
            book.end(t, *whole, v)
            targets.append(t)
    return targets


def percentile_ms(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q) * 1e3) if xs else float("nan")


def report(
    args: argparse.Namespace, elapsed: float, tallies: list[Tally], scan: dict[str, int], targets: list[Target], hang: str
) -> str:
    lat: dict[tuple[str, str], list[float]] = {}
    for tl in tallies:
        for k, xs in tl.lat.items():
            lat.setdefault(k, []).extend(xs)
    torn_reads = sum(tl.torn for tl in tallies)
    stale = sum(tl.stale for tl in tallies)
    errors = sum(len(xs) for (_, kind), xs in lat.items() if kind == "error")
    reads = sum(len(xs) for (_, kind), xs in lat.items() if kind in READ_KINDS)
    writes = sum(len(xs) for (_, kind), xs in lat.items() if kind in WRITE_KINDS)
    lines = [
        "# Soak test",
        "",
        f"`python bench/soak.py --seconds {args.seconds:g} --threads {args.threads}"
        f"{f' --cpu-workers {args.cpu_workers}' if args.cpu_workers else ''}` (seed {args.seed}; "
        f"exzarr.config.cpu_workers={exzarr.config.cpu_workers}); "
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, exzarr {exzarr.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}.",
        f"Local store on `{args.dir or tempfile.gettempdir()}`; four {SIDE}x{SIDE} uint64 arrays: plain (zstd, {CHUNK}x{CHUNK} chunks) "
        f"and sharded ({CHUNK}x{CHUNK} in {SHARD}x{SHARD} shards), each with `cache_bytes={CACHE_BYTES >> 20} MB` (`-cache`) and without. "
        f"Checked unit: {TILE}x{TILE} tiles carrying a CRC-32 of their position and version.",
        "",
        "| result | value |",
        "|---|---:|",
        f"| duration | {elapsed:.1f} s |",
        f"| reads/s (all arrays) | {reads / elapsed:.0f} |",
        f"| writes/s (all arrays) | {writes / elapsed:.0f} |",
        f"| tiles read / written | {sum(tl.tiles_read for tl in tallies)} / {sum(tl.tiles_written for tl in tallies)} |",
        f"| **lost updates** (final scan, {scan['tiles']} tiles) | **{scan['lost']}** |",
        f"| **torn reads** (during the run + final scan) | **{torn_reads} + {scan['torn']}** |",
        f"| stale reads (older than a write completed before the read began) | {stale} |",
        f"| cached handle differs from a fresh read at the end (tiles) | {scan['cache_mismatch']} |",
        f"| errors (operations that raised) | {errors} |",
        f"| **hang** (no operation finished for {args.stall:g} s) | **{'yes: ' + hang.splitlines()[0] if hang else 'no'}** |",
        "",
        "| array | operation | ops | ops/s | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for t in targets:
        for kind, _ in MIX:
            xs = lat.get((t.name, kind), [])
            lines.append(
                f"| {t.name} | {kind} | {len(xs)} | {len(xs) / elapsed:.0f} | {percentile_ms(xs, 50):.2f} | {percentile_ms(xs, 99):.2f} |"
            )
    lines += ["", "| all arrays | operation | ops | ops/s | p50 ms | p99 ms |", "|---|---|---:|---:|---:|---:|"]
    for kind, _ in MIX:
        xs = [x for (_, k), v in lat.items() if k == kind for x in v]
        lines.append(
            f"| all | {kind} | {len(xs)} | {len(xs) / elapsed:.0f} | {percentile_ms(xs, 50):.2f} | {percentile_ms(xs, 99):.2f} |"
        )
    msgs = [m for tl in tallies for m in tl.errors][:10]
    if msgs:
        lines += ["", "First problems:", "", "```", *msgs, "```"]
    if hang:
        lines += [
            "",
            "Where the threads were stuck (exzarr frames, one line per thread):",
            "",
            "```",
            *hang.splitlines()[1:],
            "```",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--dir", default=None, help="parent directory of the temporary store (default: the system temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the store afterwards")
    p.add_argument(
        "--stall", type=float, default=None, help="seconds without any finished operation that count as a hang (10-30)"
    )
    p.add_argument("--cpu-workers", type=int, default=None, help="set exzarr.config.cpu_workers first")
    p.add_argument(
        "--inject", action="store_true", help="self-test: before the final scan, plant one lost update and one torn tile"
    )
    args = p.parse_args(argv)
    if args.stall is None:
        args.stall = max(10.0, min(30.0, args.seconds))
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 30)
    if args.cpu_workers:
        exzarr.config.update(cpu_workers=args.cpu_workers)
    root = Path(tempfile.mkdtemp(prefix="exzarr-soak-", dir=args.dir))
    hang = ""
    try:
        book = Book()
        targets = create_targets(root, book)
        tallies = [Tally() for _ in range(args.threads)]
        deadline = time.monotonic() + args.seconds
        threads = [
            threading.Thread(target=worker, args=(args.seed * 1000 + k, targets, book, deadline, tallies[k]), name=f"soak-{k}")
            for k in range(args.threads)
        ]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        hang, elapsed = watch(threads, tallies, deadline, args.stall, t0)
        if args.inject:
            inject(root, targets[0], book)
        scan = final_scan(root, targets, book)
        text = report(args, elapsed, tallies, scan, targets, hang)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(text)
    if args.inject:
        ok = scan["lost"] == 1 and scan["torn"] == 1
        print(f"self-test: {'ok' if ok else 'FAILED'} (expected 1 lost update and 1 torn tile in the final scan)")
        return 0 if ok else 1
    if args.out:
        args.out.write_text(text)
    bad = scan["lost"] + scan["torn"] + sum(tl.torn + tl.stale for tl in tallies) + scan["cache_mismatch"]
    errors = sum(len(xs) for tl in tallies for (_, k), xs in tl.lat.items() if k == "error")
    if hang:
        sys.stdout.flush()
        os._exit(2)  # stuck threads cannot be joined
    return 1 if bad or errors else 0


if __name__ == "__main__":
    sys.exit(main())
