"""Run a snippet in a fresh interpreter: a crash (SIGSEGV), a hang (timeout) or a memory spike
there cannot take the test process with it, and is reported as data."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass

PRELUDE = """
import json, resource, sys
def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def _report(**kw):
    print("@@RESULT@@" + json.dumps(kw))
"""


@dataclass
class Outcome:
    returncode: int | None  # None: killed after the timeout (a hang)
    result: dict | None
    stderr: str

    @property
    def crashed(self) -> bool:
        return self.returncode is not None and self.returncode < 0


def run_isolated(code: str, timeout: float = 60.0, args: tuple[str, ...] = ()) -> Outcome:
    """Run ``code`` (which calls ``_report(**json-able)`` once) in a new interpreter."""
    src = PRELUDE + textwrap.dedent(code)
    try:
        p = subprocess.run([sys.executable, "-c", src, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return Outcome(
            None, None, (exc.stderr or b"").decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr)
        )
    result = None
    for line in p.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            result = json.loads(line[len("@@RESULT@@") :])
    return Outcome(p.returncode, result, p.stderr)
