"""Crash harness: writers killed with SIGKILL at random points.

Each kind (plain chunks, sharded arrays, metadata updates) runs a chain of trials on one
LocalStore. In a trial a writer process (``tests/crash_worker.py``, spawned, never forked) first
*recovers* the store (rewrites every array, which also makes it sweep the directories it writes
to), then performs a deterministic stream of operations until it is killed with SIGKILL after a
random 5-150 ms. The test then checks, against a model replayed from the writer's journal:

* every node's metadata parses and opens; attributes and shapes are a version that was written;
* every cell (a block that divides the chunks) is one complete version: the one of the last
  finished operation, or the one in flight (each chunk old or new), never a mix, never garbage;
  data cut off by a shrink never comes back when the array grows;
* ``list``/``list_prefix``/``list_dir`` never return a ``.exzarr-`` name (temporary, spare, lock),
  neither after the kill nor while the writer runs (this process lists the store until the kill,
  and in some trials also reads every array: a reader in another process sees whole cells);
* the next writer removes the dead writers' temporary files from every directory it writes to
  (and their spare files when it uses ``reuse_files=True``), and ``LocalStore.reclaim()`` removes
  every one that is left, returning how many.

Trials: ``EXZARR_CRASH_TRIALS`` (default 30, spread over the three kinds; ``make fuzz`` sets 300).
``EXZARR_CRASH_SEED`` fixes the operation streams and delays (a failure message names the seed).
Writers alternate ``reuse_files=True`` (the spare-file exchange), ``process_locks=True`` (a killed
writer's file locks must not block the next one) and ``cache_bytes``.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import crash_worker as cw
import numpy as np
import pytest

from exzarr.storage import LocalStore

TRIALS = int(os.environ.get("EXZARR_CRASH_TRIALS", "30"))
SEED = int(os.environ.get("EXZARR_CRASH_SEED", str(random.SystemRandom().randrange(1 << 30))))
KIND_ORDER = ("plain", "sharded", "meta")
WORKER = str(Path(cw.__file__).resolve())
DELAY = (0.005, 0.150)  # seconds between GO and SIGKILL
_TOKEN = re.compile(r"^[0-9a-f]{8}$")


def trials_for(kind: str) -> int:
    k = KIND_ORDER.index(kind)
    return TRIALS // len(KIND_ORDER) + (1 if k < TRIALS % len(KIND_ORDER) else 0)


def options_for(trial: int) -> dict:
    """Every chain sees each store option alone and combined."""
    return {
        "reuse_files": trial % 3 == 1,
        "process_locks": trial % 2 == 1,
        "cache_bytes": (1 << 20) if trial % 4 == 3 else None,
    }


def writer_pid(name: str) -> int | None:
    """The pid in a temporary (``.exzarr-tmp-<key>.<host>.<pid>.<rand>.<n>``) or spare
    (``<host>.<pid>.<thread>``) file name."""
    parts = name.split(".")
    for i in range(len(parts) - 1):
        if _TOKEN.match(parts[i]) and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None


def hidden_files(root: Path) -> list[tuple[str, str]]:
    """``(directory relative to root, name)`` of every temporary and spare file in the tree
    (lock files excluded: a lock file is not garbage)."""
    out = []
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".exzarr-locks"]
        rel = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel = "" if rel == "." else rel
        for f in files:
            if f.startswith(".exzarr-tmp-") or rel == ".exzarr-spares":
                out.append((rel, f))
    return out


@dataclass
class Writer:
    proc: subprocess.Popen
    trial: int
    opts: dict
    journal: str
    stderr_path: Path

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, word: str, timeout: float = 60.0) -> None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().strip() if ready else "<timeout>"
        if line != word:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"writer of trial {self.trial} said {line!r}, not {word!r}; stderr:\n{self.stderr()}")

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text()[-4000:]
        except OSError:
            return ""

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


def spawn(root: Path, work: Path, kind: str, trial: int, seed: int) -> Writer:
    opts = options_for(trial)
    journal = str(work / f"journal-{kind}-{trial}.log")
    err = work / f"stderr-{kind}-{trial}.txt"
    with open(err, "w") as ef:
        proc = subprocess.Popen(
            [sys.executable, WORKER, str(root), kind, str(trial), str(seed), journal, json.dumps(opts)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=ef,
            text=True,
            close_fds=True,
        )
    return Writer(proc, trial, opts, journal, err)


def check_cleanup(root: Path, kind: str, dead: set[int], used_spares: bool, ctx: str) -> None:
    """After a writer's recovery: no dead writer's temporary file in a directory it wrote to
    (the recovery rewrote every chunk of the canonical shapes and every node's metadata), and,
    if it used spare files, no dead writer's spare."""
    written = cw.canonical_dirs(kind)
    left = [
        f"{d}/{f}"
        for d, f in hidden_files(root)
        if writer_pid(f) in dead and (d in written or (used_spares and d == ".exzarr-spares"))
    ]
    assert not left, f"{ctx}: the next writer left dead writers' temporary/spare files in directories it wrote: {left[:5]}"


def check_reclaim(root: Path, dead: set[int], ctx: str) -> int:
    """``reclaim()`` removes exactly the dead writers' leftovers and nothing is left after it."""
    stale = [(d, f) for d, f in hidden_files(root) if writer_pid(f) in dead]
    removed = LocalStore(root).reclaim()
    assert removed == len(stale), f"{ctx}: reclaim() returned {removed}, but there were {len(stale)} leftovers: {stale[:5]}"
    rest = [(d, f) for d, f in hidden_files(root) if writer_pid(f) in dead]
    assert not rest, f"{ctx}: reclaim() left {rest[:5]}"
    return removed


def run_chain(kind: str, trials: int, work: Path, seed: int) -> dict:
    root = work / "store"
    rng = random.Random(f"delays:{kind}:{seed}")
    totals = {
        "trials": 0,
        "ops_done": 0,
        "inflight": {},
        "inflight_new": 0,
        "inflight_old": 0,
        "leftovers": 0,
        "reclaimed": 0,
        "orphans": 0,
        "live_listings": 0,
        "live_reads": 0,
    }
    dead: set[int] = set()
    pending = spawn(root, work, kind, 0, seed)
    try:
        for t in range(trials):
            w = pending
            ctx = f"kind={kind} trial={t} seed={seed} opts={w.opts} (EXZARR_CRASH_SEED={seed} reproduces the streams)"
            w.send("START")
            if t % 5 == 4:  # killed during its recovery (resizes back, rewrites every array)
                time.sleep(rng.uniform(*DELAY))
            else:
                w.expect("READY")
                if t:
                    check_cleanup(root, kind, dead, w.opts["reuse_files"], ctx)
                w.send("GO")
                try:  # list (and read) from this process while the writer runs, until the kill
                    live = cw.watch_live(str(root), kind, rng.uniform(*DELAY), reads=t % 2 == 0 and not w.opts["reuse_files"])
                except cw.CrashCheckError as exc:
                    raise AssertionError(f"{ctx}: {exc}") from None
                totals["live_listings"] += live["listings"]
                totals["live_reads"] += live["reads"]
            exited = w.proc.poll()
            assert exited is None, f"{ctx}: the writer exited by itself ({exited}) before the kill:\n{w.stderr()}"
            w.kill()
            dead.add(w.proc.pid)
            if t + 1 < trials:  # its imports overlap the checks below
                pending = spawn(root, work, kind, t + 1, seed)

            left = [x for x in hidden_files(root) if writer_pid(x[1]) == w.proc.pid]
            totals["leftovers"] += len(left)
            state, inflight, done = cw.expected(kind, seed, t, w.journal)
            try:
                stats = cw.check_store(str(root), kind, state, inflight)
            except cw.CrashCheckError as exc:
                raise AssertionError(f"{ctx}: after {done} finished operations, in flight {inflight}:\n{exc}") from None
            totals["trials"] += 1
            totals["ops_done"] += max(done, 0)
            if state is None:
                totals["inflight"]["recovery"] = totals["inflight"].get("recovery", 0) + 1
            elif inflight:
                totals["inflight"][inflight[0]] = totals["inflight"].get(inflight[0], 0) + 1
            totals["inflight_new"] += stats["inflight_new"]
            totals["inflight_old"] += stats["inflight_old"]
            totals["orphans"] += stats["orphans"]
            if t % 3 == 2:
                totals["reclaimed"] += check_reclaim(root, dead, ctx)
        totals["reclaimed"] += check_reclaim(root, dead, f"kind={kind} end of chain seed={seed}")
    finally:
        if pending.proc.poll() is None:
            pending.kill()
    return totals


@pytest.mark.parametrize("kind", KIND_ORDER)
def test_killed_writers_leave_old_or_new(kind: str, tmp_path: Path) -> None:
    n = trials_for(kind)
    if n == 0:
        pytest.skip("EXZARR_CRASH_TRIALS leaves no trial for this kind")
    t0 = time.perf_counter()
    totals = run_chain(kind, n, tmp_path, SEED)
    print(f"\ncrash[{kind}] seed={SEED} {time.perf_counter() - t0:.1f}s {totals}")
    assert totals["trials"] == n


# ------------------------------------------------------------------ the checker has teeth
def _fresh(tmp_path: Path, kind: str):
    root = str(tmp_path / "store")
    group, arrays = cw._open_nodes(root, kind, 0, {})
    v0 = cw.version_of(0, 0)
    cw.recover(kind, group, arrays, v0)
    return root, arrays, cw.canonical_state(kind, v0), v0


def test_checker_accepts_a_clean_store_and_inflight_versions(tmp_path: Path) -> None:
    root, arrays, state, v0 = _fresh(tmp_path, "plain")
    assert cw.check_store(root, "plain", state, None)["cells"] == 8 * 4 + 4 * 6 + 6 * 6
    op = ("write", "p3", (0, 2, 0, 1), v0 + 5)  # finished in part: cell (0, 0) new, (1, 0) old
    s = cw.spec_of("plain", "p3")
    arrays["p3"][0:16, 0:32] = cw.cell_block(0, 0, v0 + 5, s.cell)
    stats = cw.check_store(root, "plain", state, op)
    assert stats["inflight_new"] == 1 and stats["inflight_old"] == 1
    with pytest.raises(cw.CrashCheckError, match="holds version"):
        cw.check_store(root, "plain", state, None)  # the same data without an operation in flight


def test_checker_detects_torn_foreign_and_corrupt_chunks(tmp_path: Path) -> None:
    root, arrays, state, v0 = _fresh(tmp_path, "plain")
    s = cw.spec_of("plain", "p3")
    block = cw.cell_block(1, 1, v0, s.cell)
    block[3, 3] ^= 1 << 40  # one element of another version: a torn cell
    arrays["p3"][16:32, 32:64] = block
    with pytest.raises(cw.CrashCheckError, match=r"cell \(1, 1\) is torn"):
        cw.check_store(root, "plain", state, None)
    arrays["p3"][16:32, 32:64] = cw.cell_block(0, 1, v0, s.cell)  # another cell's data
    with pytest.raises(cw.CrashCheckError, match=r"cell \(1, 1\) is torn"):
        cw.check_store(root, "plain", state, None)
    arrays["p3"][16:32, 32:64] = cw.cell_block(1, 1, v0, s.cell)
    cw.check_store(root, "plain", state, None)
    key = Path(root) / "p2" / "1.0"  # truncated chunk bytes
    key.write_bytes(key.read_bytes()[:-7])
    with pytest.raises(cw.CrashCheckError, match="p2: reading the array fails"):
        cw.check_store(root, "plain", state, None)


def test_checker_detects_metadata_and_shape_damage(tmp_path: Path) -> None:
    root, arrays, state, v0 = _fresh(tmp_path, "meta")
    cw.check_store(root, "meta", state, None)
    arrays["r3"].resize((16, 48))  # a shape nobody asked for
    with pytest.raises(cw.CrashCheckError, match="r3: shape"):
        cw.check_store(root, "meta", state, None)
    arrays["r3"].resize((48, 48))
    arrays["r3"].resize((32, 48))  # shrink then grow: cells 2 and 3 of rows must read as fill ...
    arrays["r3"].resize((48, 48))
    arrays["r3"][16:48, :] = cw.region_block(cw.spec_of("meta", "r3"), 2, 6, 0, 3, v0)
    cw.check_store(root, "meta", state, None)
    arrays["a2"].attrs["k"] = v0 + 1  # attributes of a version never written
    with pytest.raises(cw.CrashCheckError, match="a2.*attributes"):
        cw.check_store(root, "meta", state, None)
    (Path(root) / "a3" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "arr')  # torn JSON
    with pytest.raises(cw.CrashCheckError, match="does not parse"):
        cw.check_store(root, "meta", state, None)


def test_cell_encoding_round_trips() -> None:
    for ci, cj, v in [(0, 0, 1), (255, 255, (1 << 27) - 1), (3, 7, 123456)]:
        b = cw.cell_block(ci, cj, v, (8, 16))
        assert b.dtype == np.int64 and (b > 0).all()
        assert cw.decode_cell(b, ci, cj) == v
        assert cw.decode_cell(b, ci, cj + 1 if cj < 255 else cj - 1) is None
    assert cw.decode_cell(np.zeros((4, 4), np.int64), 1, 1) == 0


# ------------------------------------------------- deterministic kills at one chosen point
@pytest.mark.parametrize(
    ("shape", "append_rows", "regrow"),
    [
        ((16, 16), 24, [(8, 16), (48, 16)]),  # whole new chunks beyond the shape; shrink then grow
        ((10, 16), 4, [(16, 16)]),  # the edge chunk's rows past the shape; grow
    ],
    ids=["orphan-chunks", "edge-chunk"],
)
def test_append_killed_before_its_shape_never_resurfaces(tmp_path: Path, shape, append_rows, regrow) -> None:
    """SIGKILL inside ``append`` after its data, before its new shape: the append never
    happened, so growing the array later must show the fill value, not the lost rows."""
    from isolate import run_isolated

    import exzarr

    path = str(tmp_path / "a.zarr")
    out = run_isolated(
        f"""
        import os, signal, numpy as np, exzarr, exzarr.metadata as md
        a = exzarr.create({path!r}, shape={shape!r}, chunks=(16, 16), dtype="int64")
        a[...] = 1
        md.write_metadata = lambda *args, **kw: os.kill(os.getpid(), signal.SIGKILL)
        a.append(np.full(({append_rows}, 16), 7), axis=0)
        _report(survived=True)
        """,
        timeout=60,
    )
    assert out.returncode == -signal.SIGKILL, out.stderr
    a = exzarr.open(path, mode="r+")
    assert a.shape == shape
    for s in regrow:
        a.resize(s)
    grown = a[shape[0] :]
    assert (grown == 0).all(), f"rows of a killed append resurfaced: values {np.unique(grown).tolist()} after {regrow}"


# ------------------------------------------------------------- a hang found by bench/soak.py
def test_partial_shard_writes_from_threads_never_hang(tmp_path: Path) -> None:
    """Threads writing parts of shards while other threads write multi-chunk regions: every
    write finishes (``bench/soak.py`` hung within seconds: a partial shard write holds the CPU
    gate while it waits for its inner-chunk encodes on the shared pool, whose workers all wait
    for that gate)."""
    from isolate import run_isolated

    out = run_isolated(
        f"""
        import threading, numpy as np, exzarr
        root = {str(tmp_path)!r}
        sh = exzarr.create(root + "/s.zarr", shape=(1024, 1024), chunks=(64, 64), shards=(512, 512), dtype="uint64")
        pl = exzarr.create(root + "/p.zarr", shape=(1024, 1024), chunks=(64, 64), dtype="uint64")
        sh[...] = 1
        pl[...] = 1
        done = []
        def shard_writer(k):
            rng = np.random.default_rng(k)
            for _ in range(100):
                i, j = rng.integers(0, 15, 2) * 64 + 32
                sh[i:i + 64, j:j + 64] = k  # part of one shard: 4 inner chunks
            done.append(k)
        def plain_writer(k):
            rng = np.random.default_rng(100 + k)
            for _ in range(100):
                i, j = rng.integers(0, 12, 2) * 64 + 32
                pl[i:i + 128, j:j + 128] = k  # 9 chunks, on the pool
            done.append(k)
        ths = [threading.Thread(target=shard_writer, args=(k,), daemon=True) for k in range(4)]
        ths += [threading.Thread(target=plain_writer, args=(k,), daemon=True) for k in range(4)]
        import time
        deadline = time.monotonic() + 20
        for t in ths: t.start()
        for t in ths: t.join(timeout=max(0.0, deadline - time.monotonic()))
        _report(finished=len(done))
        import os; os._exit(0)  # stuck threads would keep the interpreter alive
        """,
        timeout=60,
    )
    assert out.result is not None, out.stderr
    assert out.result["finished"] == 8, f"{8 - out.result['finished']} of 8 writer threads hung"
