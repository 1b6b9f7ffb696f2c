"""The practical examples run as scripts on small data and check themselves against NumPy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=120)


def test_parallel_stats_matches_numpy(tmp_path):
    path = tmp_path / "stats.zarr"
    r = run("parallel_stats.py", "--shape", "300", "130", "--chunks", "64", "50", "--path", str(path))
    assert r.returncode == 0, r.stderr
    assert "OK: equal to numpy" in r.stdout
    assert "15 chunks, 39000 elements" in r.stdout  # 5 x 3 chunks, every element counted (the fill chunk too)
    assert (path / "zarr.json").is_file()
    # the printed figures are NumPy's on the data the script wrote
    import exzarr

    data = exzarr.open_array(path)[...]
    mean = float(next(line for line in r.stdout.splitlines() if line.startswith("mean")).split()[1])
    assert np.isclose(mean, data.mean(), rtol=1e-10)


def test_parallel_stats_refuses_to_overwrite(tmp_path):
    path = tmp_path / "stats.zarr"
    assert run("parallel_stats.py", "--shape", "20", "20", "--chunks", "10", "10", "--path", str(path)).returncode == 0
    r = run("parallel_stats.py", "--shape", "20", "20", "--chunks", "10", "10", "--path", str(path))
    assert r.returncode != 0 and "already exists" in r.stderr


def test_csv_export_rereads_equal(tmp_path):
    out = tmp_path / "a.csv"
    r = run("csv_export.py", "--shape", "1001", "7", "--chunks", "128", "3", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "OK: the CSV re-reads equal to the array" in r.stdout
    lines = out.read_text().splitlines()
    assert lines[0] == "c0,c1,c2,c3,c4,c5,c6"
    assert len(lines) == 1 + 1001  # header + every row, in order, the fill band included
    assert lines[1] == "0,0,0,0,0,0,0"
    back = np.loadtxt(out, delimiter=",", skiprows=1)
    assert back.shape == (1001, 7) and not np.all(back[128:] == 0)
