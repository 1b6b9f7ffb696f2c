"""examples/s3_ingest.py on the S3 emulator: tiles downloaded in parallel into an array, stopped
part way, resumed from its checkpoint, every value in place."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import exzarr

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "s3_ingest.py"


def _run(*args: str, expect: int = 0) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_ingest_stops_and_resumes_from_its_checkpoint(s3_bucket, tmp_path):
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        from s3_ingest import tile_values
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    opts = [f"-o{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in s3_bucket.storage_options.items()]
    tiles = f"{s3_bucket.url}/tiles"
    _run("make-tiles", tiles, "--grid", "4", "5", "--tile", "30", *opts)
    ckpt = tmp_path / "ckpt.json"
    dst = f"{s3_bucket.url}/mosaic.zarr"
    out = _run("ingest", tiles, dst, "--checkpoint", str(ckpt), "--stop-after", "7", *opts, expect=3)
    assert "0 tiles already ingested (checkpoint), 7 to go" in out and "run again to resume" in out
    assert len(json.loads(ckpt.read_text())["written"]) == 7
    out = _run("ingest", tiles, dst, "--checkpoint", str(ckpt), "--max-concurrency", "8", *opts)
    assert "7 tiles already ingested (checkpoint), 13 to go" in out and "ingested 13 tiles this run; 20/20 stored" in out
    a = exzarr.open_array(dst, storage_options=s3_bucket.storage_options)
    expected = np.block([[tile_values(i, j, 30) for j in range(5)] for i in range(4)])
    np.testing.assert_array_equal(a[...], expected)
    assert a.nchunks_initialized == 20
