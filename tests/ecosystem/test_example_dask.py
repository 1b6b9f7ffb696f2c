"""``examples/dask_reduction.py --small`` runs as a user would run it (its own process, its own
cluster) and prints a reduction that matches NumPy; the array it leaves at ``--path`` is exact."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import exzarr

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dask_reduction.py"


def test_dask_reduction_example_small(tmp_path):
    path = tmp_path / "reduction.zarr"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--small", "--path", str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    ref = np.arange(300)[:, None] * 0.001 + np.sin(np.arange(200))[None, :]
    assert "cluster: 2 workers" in out
    assert "wrote (300, 200) float64 in chunks (50, 50) from dask blocks (35, 200)" in out
    assert "reduced 24 blocks" in out  # one dask block per 50x50 chunk
    total = float(re.search(r"^sum = (\S+)$", out, re.M).group(1))
    assert abs(total - ref.sum()) < 1e-5
    assert "matches numpy: True" in out
    a = exzarr.open(path)
    assert a.chunks == (50, 50)
    np.testing.assert_allclose(a[...], ref, rtol=0, atol=1e-12)
