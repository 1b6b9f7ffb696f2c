"""Parent side of the fuzz suite: one long-lived worker process, findings, budgets, seeds.

``Worker.run(case)`` sends one case and waits for its outcome, at most ``EXZARR_FUZZ_TIMEOUT``
seconds (default 10). A worker that dies (signal, abort, ``os._exit``) or stops answering is
reported as a ``crash`` / ``hang`` finding with the reproducer it announced before running the
case, and is restarted for the next case, so one bad input never ends the run.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import select
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
WORKER = HERE / "worker.py"

# ----------------------------------------------------------------------------- configuration

#: total fuzz inputs across the whole suite (split between the tests by weight)
TOTAL_EXAMPLES = int(os.environ.get("EXZARR_FUZZ_EXAMPLES", "600"))
CASE_TIMEOUT = float(os.environ.get("EXZARR_FUZZ_TIMEOUT", "10"))
_SEED_ENV = os.environ.get("EXZARR_FUZZ_SEED", "").strip()
#: None: Hypothesis runs derandomized (the same inputs every run, as ``make test`` needs)
SEED: int | None = None
if _SEED_ENV == "random":
    SEED = random.SystemRandom().randrange(2**32)
elif _SEED_ENV:
    SEED = int(_SEED_ENV)


def budget(weight: float, n_tests: int, minimum: int = 2) -> int:
    """Examples for one test: its share (``weight`` of the total, split over ``n_tests``)."""
    return max(minimum, round(TOTAL_EXAMPLES * weight / n_tests))


# ----------------------------------------------------------------------------- statistics

STATS: dict[str, float] = {"cases": 0, "findings": 0, "restarts": 0, "seconds_in_worker": 0.0}


# ----------------------------------------------------------------------------- worker process


class Worker:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.stderr_path = Path(tempfile.mkstemp(prefix="exzarr-fuzz-worker-", suffix=".log")[1])
        self.info: dict = {}

    def start(self) -> None:
        env = dict(os.environ)
        env.setdefault("MALLOC_ARENA_MAX", "2")
        env.setdefault("PYTHONFAULTHANDLER", "1")
        if getattr(self, "_err", None) is not None:
            self._err.close()  # the previous (dead) worker's log
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, env=env
        )
        msg = self._read(deadline=time.monotonic() + 120)
        if not msg or msg[0] != "ready":
            raise RuntimeError(f"fuzz worker failed to start: {msg!r}\n{self.stderr_tail()}")
        self.info = msg[1]

    def stderr_tail(self, n: int = 3000) -> str:
        try:
            self._err.flush()
            data = self.stderr_path.read_bytes()
        except OSError:
            return ""
        return data[-n:].decode(errors="replace")

    def _read_exact(self, n: int, deadline: float) -> bytes | None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = b""
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                raise TimeoutError
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _read(self, deadline: float):
        head = self._read_exact(8, deadline)
        if head is None:
            return None
        (n,) = struct.unpack("<Q", head)
        body = self._read_exact(n, deadline)
        return None if body is None else pickle.loads(body)

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self._err.close()
        self.stderr_path.unlink(missing_ok=True)

    def _kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def run(self, case: dict, timeout: float | None = None) -> dict:
        """``{"problems": [...], "repro": {...}}``; crash/hang/startup problems included."""
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                STATS["restarts"] += 1
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        data = pickle.dumps(case, protocol=4)
        t0 = time.monotonic()
        repro: dict = {"case": case}
        phase = "preparing the case"
        try:
            self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
            self.proc.stdin.flush()
            deadline = t0 + (timeout or CASE_TIMEOUT)
            while True:
                msg = self._read(deadline)
                if msg is None:
                    raise EOFError
                if msg[0] == "prepared":
                    repro.update(msg[1])
                elif msg[0] == "phase":
                    phase = msg[1]
                elif msg[0] == "result":
                    res = msg[1]
                    res["repro"] = repro
                    if any(p["category"] == "memory" for p in res["problems"]):
                        self._kill()  # its peak RSS is spent: a fresh worker measures the next case
                    return res
        except TimeoutError:
            self._kill()
            tail = self.stderr_tail()
            return {
                "repro": repro,
                "problems": [
                    {
                        "category": "hang",
                        "where": phase,
                        "detail": f"no answer within {timeout or CASE_TIMEOUT:g} s (worker killed)",
                        "tb": tail,
                    }
                ],
            }
        except (EOFError, BrokenPipeError):
            rc = self.proc.wait()
            tail = self.stderr_tail()
            what = f"signal {-rc}" if rc < 0 else f"exit status {rc}"
            cat = "crash-in-reference-decoder" if phase == "reference-decode" else "crash"
            if rc == -9 or "MemoryError" in tail:
                cat = "memory"
            return {
                "repro": repro,
                "problems": [{"category": cat, "where": phase, "detail": f"worker died ({what})", "tb": tail}],
            }
        finally:
            STATS["cases"] += 1
            STATS["seconds_in_worker"] += time.monotonic() - t0


# ----------------------------------------------------------------------------- findings


def signature(p: dict) -> tuple:
    """Findings that are one defect share a signature: for an escaping exception its type and the
    line that raised it; otherwise the category and the shape of the message."""
    frames = re.findall(r'File "([^"]+)", line (\d+)', p.get("tb") or "")
    if p.get("exc_type") and frames:
        path, line = frames[-1]
        return (p.get("category"), p.get("exc_type"), f"{Path(path).name}:{line}")
    detail = p.get("detail", "")
    detail = re.sub(r"0x[0-9a-f]+|\d+", "N", detail)
    detail = re.sub(r"'[^']*'", "'…'", detail)[:60]
    where = re.sub(r"\[.*\]|\{.*\}|\(.*\)|'[^']*'", "…", p.get("where", ""))[:40]
    return (p.get("category"), p.get("exc_type"), detail, where)


@dataclass
class Findings:
    test: str
    seen: dict = field(default_factory=dict)  # signature -> [count, problem, repro]
    cases: int = 0

    def add(self, result: dict) -> None:
        self.cases += 1
        for p in result.get("problems", []):
            sig = signature(p)
            if sig in self.seen:
                self.seen[sig][0] += 1
                # keep the smallest reproducer
                if _repro_size(result["repro"]) < _repro_size(self.seen[sig][2]):
                    self.seen[sig][1:] = [p, result["repro"]]
            else:
                self.seen[sig] = [1, p, result["repro"]]
                STATS["findings"] += 1

    def report(self) -> str:
        lines = [
            f"{self.test}: {len(self.seen)} distinct defect(s) in {self.cases} fuzz inputs"
            + (f" (seed {SEED})" if SEED is not None else " (derandomized)")
        ]
        for n, (count, p, repro) in enumerate(sorted(self.seen.values(), key=lambda v: -v[0])[:12], 1):
            lines.append(f"\n--- [{n}] {p.get('category')} x{count}: {p.get('where')}\n    {p.get('detail')}")
            if p.get("tb"):
                lines.append("    " + p["tb"].strip().replace("\n", "\n    ")[-1500:])
            lines.append("    reproducer:\n" + reproducer(repro))
        return "\n".join(lines)

    def check(self) -> None:
        if self.seen:
            raise AssertionError(self.report())


def _repro_size(r: dict) -> int:
    return len(json.dumps(r, default=repr))


def reproducer(repro: dict) -> str:
    """A self-contained Python snippet (run from the repository root) for one finding."""
    case = repro.get("case", {})
    ind = "        "
    if case.get("type") == "chunk" and "key" in repro:
        mutated = repro.get("mutated_hex")
        lines = [
            "import sys; sys.path.insert(0, 'tests')",
            "import exzarr, numpy as np",
            "from fuzz.fixtures import FIXTURES, build_chunk_fixture",
            f"contents, data = build_chunk_fixture(FIXTURES[{repro['fixture']!r}])",
            (
                f"del contents[{repro['key']!r}]"
                if mutated is None
                else f"contents[{repro['key']!r}] = bytes.fromhex({mutated!r})"
            ),
            "a = exzarr.open(exzarr.MemoryStore(contents), mode='r')",
            "a[...]",
        ]
        for kind, sel in repro.get("sels") or []:
            lines.append(f"a{'' if kind == 'basic' else '.oindex'}[{sel!r}]")
        if repro.get("write") is not None:
            lines.append(f"# then a write into region {repro['write']} of the mutated object (mode='r+')")
        lines.append(f"# mutations: {case.get('ops')!r} (layer {case.get('layer', 'raw')})")
        return "\n".join(ind + x for x in lines)
    if case.get("type") == "meta" and "key" in repro:
        m = repro.get("mutated")
        value = "None" if m is None else (f"{m['text']!r}.encode()" if "text" in m else f"bytes.fromhex({m['hex']!r})")
        if m is not None and len(value) > 3000:
            value = value[:3000] + "...  # (truncated)"
        lines = [
            "import sys; sys.path.insert(0, 'tests')",
            "import exzarr",
            "from fuzz.fixtures import build_meta_fixture",
            f"contents = build_meta_fixture({repro['fixture']!r})",
            f"contents[{repro['key']!r}] = {value}",
            "node = exzarr.open(exzarr.MemoryStore(contents), mode='r')  # then read it (arrays: a[:3, ...], a[...])",
            f"# doc ops: {case.get('doc_ops')!r}; byte ops: {case.get('byte_ops')!r}",
        ]
        return "\n".join(ind + x for x in lines)
    return ind + f"case (worker died before preparing it): {case!r}"
