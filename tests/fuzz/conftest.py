"""Fuzz-suite hooks: the ``fuzz_finding`` marker and a summary of what the fuzz run did."""

from __future__ import annotations

import time

from .harness import SEED, STATS, TOTAL_EXAMPLES

_T0 = time.monotonic()


def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz_finding: a minimal reproducer of a defect the fuzz suite found (a regression test)")


def pytest_terminal_summary(terminalreporter):
    if not STATS["cases"]:
        return
    terminalreporter.write_sep("-", "exzarr fuzz summary")
    terminalreporter.write_line(
        f"fuzz inputs run: {int(STATS['cases'])} (EXZARR_FUZZ_EXAMPLES={TOTAL_EXAMPLES}), "
        f"seed: {'derandomized' if SEED is None else SEED}, distinct findings: {int(STATS['findings'])}, "
        f"worker restarts: {int(STATS['restarts'])}, time in worker: {STATS['seconds_in_worker']:.1f} s, "
        f"wall since fuzz collection: {time.monotonic() - _T0:.1f} s"
    )
