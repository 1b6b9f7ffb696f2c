"""Writer process, operation model and checker for the crash harness (``tests/test_crash.py``).

Run as a script, this module is a *writer*: it opens (or, in the first trial, creates) a set of
arrays on a :class:`~exzarr.storage.LocalStore` and performs a deterministic stream of operations
(chunk writes, partial shard writes, attribute updates, resizes, appends) until the parent kills
it with SIGKILL. Before each operation it appends ``S i`` to a journal file, after it ``D i``
(plain ``os.write``, so a killed process never loses a line it finished). The parent regenerates
the same operation stream from the seed, replays the finished operations on a model, and checks
the store against it: the at most one operation in flight may have happened in part (each chunk
old or new), the finished ones must all be there, nothing else may be.

Values make every written block recognisable: a *cell* (a rectangle that divides the chunk
shape) written in version ``v`` holds ``cell_id << 47 | v << 20 | mix(element)`` in every
element, so a reader knows, element by element, which cell and which version it is looking at
(``0``, the fill value, means never written). A cell that is not exactly one such pattern is
torn or garbage.

Protocol (stdin/stdout, one line each): the parent may start the writer early (imports
overlap the previous trial's checks) and sends ``START``; the writer runs operation 0, the
*recovery* (every array back to its canonical shape, every cell rewritten, every node's
attributes written, so it writes into every directory of the store), prints ``READY`` and
waits for ``GO``; then it runs operations 1, 2, ... until killed.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OPS_CAP = 20000  # operations per trial; versions are trial * OPS_CAP + op index + 1
_MIX_BITS = 20
_VERSION_BITS = 27
_VERSION_MASK = (1 << _VERSION_BITS) - 1


# ------------------------------------------------------------------------------------- arrays
@dataclass(frozen=True)
class Spec:
    """One array: shapes counted in *cells* of ``cell`` elements; ``chunks`` (and ``shards``)
    in elements. A cell divides a chunk, so a write of whole cells may still be a partial
    chunk write (a read-modify-write)."""

    name: str
    zarr_format: int
    cell: tuple[int, int]
    chunks: tuple[int, int]
    shape_cells: tuple[int, int]  # canonical shape (what the recovery resets to)
    shards: tuple[int, int] | None = None
    dimension_separator: str | None = None
    resizable: bool = False
    appendable: bool = False
    attrs: bool = False

    def create_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "shape": (self.shape_cells[0] * self.cell[0], self.shape_cells[1] * self.cell[1]),
            "chunks": self.chunks,
            "dtype": "int64",
            "compressor": "zstd",
            "fill_value": 0,
            "zarr_format": self.zarr_format,
        }
        if self.shards is not None:
            kw["shards"] = self.shards
        if self.dimension_separator is not None:
            kw["dimension_separator"] = self.dimension_separator
        return kw


KINDS: dict[str, list[Spec]] = {
    # plain chunks: v3 zstd ("c/i/j" keys), v2 with "." and with "/" separators
    "plain": [
        Spec("p3", 3, (16, 32), (32, 32), (8, 4)),
        Spec("p2", 2, (32, 16), (32, 32), (4, 6)),
        Spec("p2s", 2, (16, 16), (32, 32), (6, 6), dimension_separator="/"),
    ],
    # sharded: partial shard writes touch some inner chunks (read-modify-write of the shard)
    "sharded": [
        Spec("s3", 3, (16, 32), (32, 32), (16, 8), shards=(128, 128)),
        Spec("s3b", 3, (16, 16), (16, 16), (12, 10), shards=(64, 64)),
    ],
    # metadata: attributes (v2 .zattrs, v3 zarr.json, the root group), resize, append
    "meta": [
        Spec("a3", 3, (8, 8), (8, 8), (1, 1), attrs=True),
        Spec("a2", 2, (8, 8), (8, 8), (1, 1), attrs=True),
        Spec("r3", 3, (8, 16), (16, 16), (6, 3), resizable=True),
        Spec("r2", 2, (8, 16), (16, 16), (6, 3), resizable=True),
        Spec("rs", 3, (8, 16), (16, 16), (6, 3), shards=(32, 32), resizable=True),
        Spec("ap", 3, (8, 16), (16, 16), (2, 2), resizable=True, appendable=True),
    ],
}
GROUP = ""  # the root group: its attributes are updated in the "meta" kind


def spec_of(kind: str, name: str) -> Spec:
    return next(s for s in KINDS[kind] if s.name == name)


def object_key(spec: Spec, i: int, j: int) -> str:
    """The store key of chunk (or shard) ``(i, j)`` of ``spec``."""
    if spec.zarr_format == 3:
        return f"{spec.name}/c/{i}/{j}"
    return f"{spec.name}/{i}{spec.dimension_separator or '.'}{j}"


def object_grid(spec: Spec, shape_cells: tuple[int, int]) -> tuple[int, int]:
    obj = spec.shards or spec.chunks
    return tuple(-(-(n * c) // o) for n, c, o in zip(shape_cells, spec.cell, obj, strict=True))  # type: ignore[return-value]


def canonical_dirs(kind: str) -> set[str]:
    """The directories the recovery writes into: every node's metadata directory and the
    directory of every chunk (or shard) of the canonical shapes (each is stored: no cell is 0)."""
    dirs = {""}
    for s in KINDS[kind]:
        dirs.add(s.name)
        gi, gj = object_grid(s, s.shape_cells)
        dirs |= {object_key(s, i, j).rsplit("/", 1)[0] for i in range(gi) for j in range(gj)}
    return dirs


# ----------------------------------------------------------------------------------- contents
def cell_id(ci: int, cj: int) -> int:
    assert 0 <= ci < 256 and 0 <= cj < 256
    return ci * 256 + cj


_MIX_CACHE: dict[tuple[int, int], np.ndarray] = {}


def _mix(shape: tuple[int, int]) -> np.ndarray:
    m = _MIX_CACHE.get(shape)
    if m is None:
        idx = np.arange(shape[0] * shape[1], dtype=np.int64).reshape(shape)
        m = _MIX_CACHE[shape] = (idx * 2654435761 + 40503) & ((1 << _MIX_BITS) - 1)
    return m


def cell_block(ci: int, cj: int, version: int, shape: tuple[int, int]) -> np.ndarray:
    """The content of cell ``(ci, cj)`` written in ``version`` (0: the fill value)."""
    if version == 0:
        return np.zeros(shape, np.int64)
    assert 0 < version <= _VERSION_MASK
    return (cell_id(ci, cj) << 47) | (version << _MIX_BITS) | _mix(shape)


def region_block(spec: Spec, r0: int, r1: int, c0: int, c1: int, version: int) -> np.ndarray:
    h, w = spec.cell
    out = np.empty(((r1 - r0) * h, (c1 - c0) * w), np.int64)
    for ci in range(r0, r1):
        for cj in range(c0, c1):
            out[(ci - r0) * h : (ci - r0 + 1) * h, (cj - c0) * w : (cj - c0 + 1) * w] = cell_block(ci, cj, version, spec.cell)
    return out


def decode_cell(block: np.ndarray, ci: int, cj: int) -> int | None:
    """The version ``block`` is a complete copy of (0 for the fill value), ``None`` if it is
    none: a torn cell, another cell's data, or garbage."""
    first = int(block.flat[0])
    if first == 0:
        return 0 if not block.any() else None
    if first >> 47 != cell_id(ci, cj):
        return None
    version = (first >> _MIX_BITS) & _VERSION_MASK
    if version == 0 or not np.array_equal(block, cell_block(ci, cj, version, block.shape)):
        return None
    return version


# ----------------------------------------------------------------------------------- operations
def version_of(trial: int, op_index: int) -> int:
    return trial * OPS_CAP + op_index + 1


def attrs_value(version: int) -> dict[str, Any]:
    """Attributes written in ``version``; the padding varies the document's length, so a torn
    metadata write could not parse as another version."""
    return {"k": version, "pad": "p" * (version % 997)}


@dataclass
class State:
    shapes: dict[str, tuple[int, int]]  # in cells
    cells: dict[str, dict[tuple[int, int], int]]  # cell -> version; absent = 0 (fill)
    attrs: dict[str, int] = field(default_factory=dict)  # node -> "k" attribute


def canonical_state(kind: str, version: int) -> State:
    """The state after the recovery (operation 0)."""
    specs = KINDS[kind]
    st = State({s.name: s.shape_cells for s in specs}, {}, {})
    for s in specs:
        st.cells[s.name] = {(i, j): version for i in range(s.shape_cells[0]) for j in range(s.shape_cells[1])}
        st.attrs[s.name] = version
    if kind == "meta":
        st.attrs[GROUP] = version
    return st


def skipped_arrays() -> set[str]:
    """``EXZARR_CRASH_SKIP=ap,r2``: generate no operation on these arrays (to look past a known
    defect in one of them; the writer and the checker both read it)."""
    return {n for n in os.environ.get("EXZARR_CRASH_SKIP", "").split(",") if n}


def iter_ops(kind: str, seed: int, trial: int, state: State) -> Iterator[tuple]:
    """Operations 1, 2, ... of a trial, a deterministic function of ``(kind, seed, trial)`` and
    the canonical start state (tracked here as the writer would change it)."""
    rng = random.Random(f"{kind}:{seed}:{trial}")
    specs = KINDS[kind]
    skip = skipped_arrays()
    shapes = dict(state.shapes)
    n = 0
    while n < OPS_CAP - 1:
        v = version_of(trial, n + 1)
        op, shape = _candidate(rng, kind, specs, shapes, v)
        if op[1] in skip:
            continue
        if shape is not None:
            shapes[op[1]] = shape
        n += 1
        yield op


def generate_ops(kind: str, seed: int, trial: int, state: State, n: int) -> list[tuple]:
    """Operations 1..n of a trial (see :func:`iter_ops`)."""
    return list(itertools.islice(iter_ops(kind, seed, trial, state), n))


def _candidate(
    rng: random.Random, kind: str, specs: list[Spec], shapes: dict[str, tuple[int, int]], v: int
) -> tuple[tuple, tuple[int, int] | None]:
    """One random operation and the shape it leaves its array with (``None``: unchanged)."""
    x = rng.random()
    if kind == "meta" and x < 0.3:
        node = rng.choice([s.name for s in specs if s.attrs] + [GROUP, "r3", "ap"])
        return ("attrs", node, v), None
    if kind == "meta" and x < 0.55:
        s = rng.choice([s for s in specs if s.resizable])
        if s.appendable:  # rows only (appends need a fixed width): grow or shrink
            new = (rng.randint(1, 40), shapes[s.name][1])
        else:
            new = (rng.randint(1, 12), rng.randint(1, 4))
        return ("resize", s.name, new), new
    if kind == "meta" and x < 0.75:
        R, C = shapes["ap"]
        if R >= 40:
            return ("resize", "ap", (2, C)), (2, C)
        k = rng.randint(1, 3)
        return ("append", "ap", k, v), (R + k, C)
    s = rng.choice([s for s in specs if not s.attrs])
    R, C = shapes[s.name]
    if rng.random() < 0.1:  # the whole array
        r0, r1, c0, c1 = 0, R, 0, C
    else:
        r0 = rng.randrange(R)
        r1 = min(R, r0 + rng.randint(1, 4))
        c0 = rng.randrange(C)
        c1 = min(C, c0 + rng.randint(1, 3))
    return ("write", s.name, (r0, r1, c0, c1), v), None


def apply(state: State, kind: str, op: tuple) -> None:
    """Apply a finished operation to the model."""
    what = op[0]
    if what == "write":
        _, name, (r0, r1, c0, c1), v = op
        for i in range(r0, r1):
            for j in range(c0, c1):
                state.cells[name][(i, j)] = v
    elif what == "attrs":
        state.attrs[op[1]] = op[2]
    elif what == "resize":
        _, name, (R, C) = op
        state.shapes[name] = (R, C)
        state.cells[name] = {(i, j): v for (i, j), v in state.cells[name].items() if i < R and j < C}
    elif what == "append":
        _, name, k, v = op
        R, C = state.shapes[name]
        state.shapes[name] = (R + k, C)
        for i in range(R, R + k):
            for j in range(C):
                state.cells[name][(i, j)] = v
    else:
        raise AssertionError(op)


# --------------------------------------------------------------------------------------- writer
def _journal(fd: int, text: str) -> None:
    os.write(fd, text.encode())


def _open_nodes(root: str, kind: str, trial: int, opts: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    import exzarr
    from exzarr.storage import LocalStore

    store = LocalStore(root, reuse_files=bool(opts.get("reuse_files")))
    aopts = {"process_locks": bool(opts.get("process_locks")), "cache_bytes": opts.get("cache_bytes")}
    arrays = {}
    if trial == 0:
        group = exzarr.create_group(store, attributes={"k": 0}, mode="w-", **aopts)
        for s in KINDS[kind]:
            arrays[s.name] = exzarr.create(store, node=s.name, mode="w-", **s.create_kwargs(), **aopts)
    else:
        group = exzarr.open_group(store, mode="r+", **aopts)
        for s in KINDS[kind]:
            arrays[s.name] = exzarr.open(store, node=s.name, mode="r+", **aopts)
    return group, arrays


def run_op(kind: str, group: Any, arrays: dict[str, Any], op: tuple) -> None:
    what = op[0]
    if what == "write":
        _, name, (r0, r1, c0, c1), v = op
        s = spec_of(kind, name)
        h, w = s.cell
        arrays[name][r0 * h : r1 * h, c0 * w : c1 * w] = region_block(s, r0, r1, c0, c1, v)
    elif what == "attrs":
        node = group if op[1] == GROUP else arrays[op[1]]
        node.attrs.update(attrs_value(op[2]))
    elif what == "resize":
        _, name, (R, C) = op
        s = spec_of(kind, name)
        arrays[name].resize((R * s.cell[0], C * s.cell[1]))
    elif what == "append":
        _, name, k, v = op
        s = spec_of(kind, name)
        R, C = (n // c for n, c in zip(arrays[name].shape, s.cell, strict=True))
        arrays[name].append(region_block(s, R, R + k, 0, C, v), axis=0)
    else:
        raise AssertionError(op)


def recover(kind: str, group: Any, arrays: dict[str, Any], version: int) -> None:
    """Operation 0: canonical shapes, every cell rewritten, every node's attributes written."""
    for s in KINDS[kind]:
        a = arrays[s.name]
        shape = (s.shape_cells[0] * s.cell[0], s.shape_cells[1] * s.cell[1])
        if a.shape != shape:
            a.resize(shape)
        a[...] = region_block(s, 0, s.shape_cells[0], 0, s.shape_cells[1], version)
        a.attrs.update(attrs_value(version))
    group.attrs.update(attrs_value(version))


def writer_main(argv: list[str]) -> None:
    root, kind, trial_s, seed_s, journal, opts_json = argv
    trial, seed, opts = int(trial_s), int(seed_s), json.loads(opts_json)
    if sys.stdin.readline().strip() != "START":
        return
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    v0 = version_of(trial, 0)
    _journal(fd, "S 0\n")
    group, arrays = _open_nodes(root, kind, trial, opts)
    recover(kind, group, arrays, v0)
    _journal(fd, "D 0\n")
    print("READY", flush=True)
    if sys.stdin.readline().strip() != "GO":
        return
    for i, op in enumerate(iter_ops(kind, seed, trial, canonical_state(kind, v0)), start=1):
        _journal(fd, f"S {i}\n")
        run_op(kind, group, arrays, op)
        _journal(fd, f"D {i}\n")
    print("EXHAUSTED", flush=True)
    time.sleep(3600)


# -------------------------------------------------------------------------------------- checker
def read_journal(path: str) -> tuple[int, int | None]:
    """``(last finished op, op in flight or None)``."""
    done, started = -1, -1
    if not os.path.exists(path):  # killed before it opened the journal
        return done, None
    with open(path) as f:
        for line in f:
            tag, _, num = line.strip().partition(" ")
            if tag == "S":
                started = int(num)
            elif tag == "D":
                done = int(num)
    return done, (started if started > done else None)


class CrashCheckError(AssertionError):
    pass


def _origin(version: int) -> str:
    """Which trial and operation wrote ``version``."""
    trial, op = divmod(version - 1, OPS_CAP)
    return f"trial {trial} {'recovery' if op == 0 else f'operation {op}'}"


def _grid_index(spec: Spec, key: str) -> tuple[int, int] | None:
    rest = key[len(spec.name) + 1 :]
    if spec.zarr_format == 3:
        if not rest.startswith("c/"):
            return None
        rest = rest[2:]
    parts = rest.split("/" if spec.zarr_format == 3 else (spec.dimension_separator or "."))
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def _inside(idx: tuple[int, int], grid: tuple[int, int]) -> bool:
    return idx[0] < grid[0] and idx[1] < grid[1]


def _shape_in_cells(spec: Spec, shape: tuple[int, ...]) -> tuple[int, int]:
    h, w = spec.cell
    if len(shape) != 2 or shape[0] % h or shape[1] % w:
        raise CrashCheckError(f"{spec.name}: shape {shape} is not a whole number of {spec.cell} cells")
    return shape[0] // h, shape[1] // w


def expected(kind: str, seed: int, trial: int, journal: str) -> tuple[State | None, tuple | None, int]:
    """The model after the finished operations, the operation in flight, how many finished
    (``None, None, -1`` when the writer was killed during its recovery)."""
    done, inflight = read_journal(journal)
    if done < 0:
        return None, None, -1  # killed during the recovery: the start state is not known
    state = canonical_state(kind, version_of(trial, 0))
    n = max(done, inflight or 0)
    ops = generate_ops(kind, seed, trial, state, n)
    for op in ops[:done]:
        apply(state, kind, op)
    return state, (ops[inflight - 1] if inflight else None), done


def check_store(root: str, kind: str, state: State | None, inflight: tuple | None) -> dict[str, Any]:
    """Check a store a killed writer left against the model; raises :class:`CrashCheckError`.
    Returns counts (cells checked, cells found at the in-flight version, ...).

    ``state=None`` (the writer was killed during its recovery, so the start state is one of
    several): only self-consistency is checked, every cell one complete version of itself,
    every attribute document one complete version, metadata parses, listings clean."""
    import exzarr
    from exzarr.storage import LocalStore

    store = LocalStore(root, read_only=True)
    stats = {"cells": 0, "inflight_new": 0, "inflight_old": 0, "orphans": 0}
    errors: list[str] = []

    # metadata: every document parses as JSON, and every node opens
    for key in store.list():
        base = key.rsplit("/", 1)[-1]
        if base in ("zarr.json", ".zarray", ".zattrs", ".zgroup"):
            raw = store.get(key)
            try:
                json.loads(raw)
            except Exception as exc:
                errors.append(f"metadata {key!r} does not parse: {exc}: {raw[:80]!r}")
    try:
        group = exzarr.open_group(store, mode="r")
    except Exception as exc:
        raise CrashCheckError(f"root group does not open: {exc!r}") from exc

    def allowed_attrs(node: str) -> set[int] | None:
        if state is None:
            return None
        ok = {state.attrs[node]}
        if inflight and inflight[0] == "attrs" and inflight[1] == node:
            ok.add(inflight[2])
        return ok

    def check_attrs(node: str, attrs: Any) -> None:
        k, ok = attrs.get("k"), allowed_attrs(node)
        if not isinstance(k, int) or (ok is not None and k not in ok) or attrs.get("pad") != attrs_value(k)["pad"]:
            errors.append(f"node {node!r}: attributes {dict(attrs)!r:.120} are none of versions {sorted(ok or [])}")

    if kind == "meta":
        check_attrs(GROUP, group.attrs)

    for s in KINDS[kind]:
        try:
            a = exzarr.open(store, node=s.name, mode="r")
        except Exception as exc:
            errors.append(f"{s.name}: does not open: {exc!r}")
            continue
        check_attrs(s.name, a.attrs)
        shape = _shape_in_cells(s, a.shape)
        ok_shapes = {state.shapes[s.name] if state is not None else shape}
        if inflight and inflight[0] == "resize" and inflight[1] == s.name:
            ok_shapes.add(inflight[2])
        if inflight and inflight[0] == "append" and inflight[1] == s.name:
            R, C = state.shapes[s.name]
            ok_shapes.add((R + inflight[2], C))
        if shape not in ok_shapes:
            errors.append(f"{s.name}: shape {shape} cells is none of {sorted(ok_shapes)}")
            continue
        try:
            data = a[...]
        except Exception as exc:
            errors.append(f"{s.name}: reading the array fails: {exc!r}")
            continue
        h, w = s.cell
        R0, C0 = state.shapes[s.name] if state is not None else shape
        for i in range(shape[0]):
            for j in range(shape[1]):
                got = decode_cell(data[i * h : (i + 1) * h, j * w : (j + 1) * w], i, j)
                stats["cells"] += 1
                if state is None:
                    if got is None:
                        errors.append(f"{s.name}: cell {(i, j)} is torn or garbage")
                    continue
                base = state.cells[s.name].get((i, j), 0) if i < R0 and j < C0 else 0
                ok = {base}
                new = None
                if inflight and inflight[1] == s.name:
                    if inflight[0] == "write":
                        r0, r1, c0, c1 = inflight[2]
                        if r0 <= i < r1 and c0 <= j < c1:
                            new = inflight[3]
                    elif inflight[0] == "resize":
                        R, C = inflight[2]
                        if not (i < R and j < C):
                            new = 0  # shrinking deletes what falls outside before the shape changes
                    elif inflight[0] == "append" and i >= R0:
                        new = inflight[3]
                if new is not None:
                    ok.add(new)
                if got is None:
                    errors.append(f"{s.name}: cell {(i, j)} is torn or garbage (expected one of versions {sorted(ok)})")
                elif got not in ok:
                    errors.append(f"{s.name}: cell {(i, j)} holds version {got} ({_origin(got)}), expected one of {sorted(ok)}")
                elif new is not None and new != base:
                    stats["inflight_new" if got == new else "inflight_old"] += 1
        gi, gj = object_grid(s, shape)
        stats["orphans"] += sum(
            1
            for k in store.list_prefix(s.name + "/")
            if _grid_index(s, k) is not None and not _inside(_grid_index(s, k), (gi, gj))
        )
        if len(errors) > 20:
            break

    # listing: no temporary or spare file is ever a key
    listed = list(store.list())
    for s in KINDS[kind]:
        listed += list(store.list_prefix(s.name + "/"))
        listed += list(store.list_dir(s.name))
    dirs = {""} | {k.rsplit("/", 1)[0] for k in store.list() if "/" in k}
    for d in dirs:
        listed += [f"{d}/{n}" for n in store.list_dir(d)]
    bad = sorted({k for k in listed if any(p.startswith(".exzarr-") for p in k.split("/"))})
    if bad:
        errors.append(f"listing returned hidden temporary/spare names: {bad[:5]}")
    for s in KINDS[kind]:
        try:
            a = exzarr.open(store, node=s.name, mode="r")
            list(a.stored_chunks())
        except Exception as exc:
            errors.append(f"{s.name}: stored_chunks() fails: {exc!r}")
    if errors:
        raise CrashCheckError("\n".join(errors[:20]))
    return stats


def watch_live(root: str, kind: str, seconds: float, reads: bool) -> dict[str, int]:
    """While a writer runs: list the store again and again (no ``.exzarr-`` name may appear) and,
    with ``reads``, read every array from this process (every cell one complete version of itself,
    whatever the writer is doing: readers in other processes see the old or the new chunk).
    Not with ``reuse_files=True`` writers, whose documented trade-off is that a concurrent reader
    can see a chunk overwritten. Raises :class:`CrashCheckError`; returns counts."""
    import exzarr
    from exzarr.storage import LocalStore

    store = LocalStore(root, read_only=True)
    deadline = time.monotonic() + seconds
    counts = {"listings": 0, "reads": 0}
    k = 0
    while time.monotonic() < deadline:
        bad = [n for n in store.list() if any(p.startswith(".exzarr-") for p in n.split("/"))]
        if bad:
            raise CrashCheckError(f"a listing during a write returned hidden names: {bad[:5]}")
        counts["listings"] += 1
        time.sleep(0.002)  # leave the writer most of the two cores
        if reads:
            s = KINDS[kind][k % len(KINDS[kind])]
            k += 1
            a = exzarr.open(store, node=s.name, mode="r")
            data = a[...]
            h, w = s.cell
            for i in range(a.shape[0] // h):
                for j in range(a.shape[1] // w):
                    if decode_cell(data[i * h : (i + 1) * h, j * w : (j + 1) * w], i, j) is None:
                        raise CrashCheckError(f"{s.name}: a read during a write saw cell {(i, j)} torn")
            counts["reads"] += 1
    return counts


if __name__ == "__main__":
    writer_main(sys.argv[1:])
