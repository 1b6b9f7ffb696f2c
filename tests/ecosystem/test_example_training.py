"""examples/training_loop.py runs as a user would run it, and its loss goes down."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "training_loop.py"


def test_training_loop_example_small(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--small", "--epochs", "3", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    losses = [float(v) for v in re.findall(r"^epoch \d+/3: loss ([0-9.]+)", proc.stdout, flags=re.M)]
    assert len(losses) == 3 and losses[-1] < losses[0], proc.stdout
    rows = re.findall(r"\((\d+) rows, (\d+) batches", proc.stdout)
    assert rows == [("4000", "63")] * 3  # every row, every epoch
    assert (tmp_path / "train.zarr" / "features" / "zarr.json").is_file()  # the data went through a real store
