"""examples/xarray_roundtrip.py --small runs and reports a correct round trip."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "xarray_roundtrip.py"


def test_xarray_roundtrip_example(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--small", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for fmt in (2, 3):
        assert f"v{fmt}: identical to engine='zarr': True; equals the written dataset: True; monthly mean matches: True" in out
        assert re.search(
            rf"v{fmt}: temperature \{{'time': 60, 'lat': 18, 'lon': 36\}} units=K chunks=\(30, 9, 18\) precip packed as int16",
            out,
        )
        assert re.search(
            rf"v{fmt}: monthly mean temperature \(2, 18, 36\) in [0-9.]+ s, global mean 2[0-9]{{2}}\.[0-9]{{3}} K", out
        )
        assert (tmp_path / f"climate_v{fmt}.zarr").is_dir()
    assert out.rstrip().endswith("round trip OK")
    assert "Warning" not in proc.stderr, proc.stderr
