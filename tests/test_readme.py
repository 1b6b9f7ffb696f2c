"""The README's quick start runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python block"
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)
    assert ns["block"].shape == (400, 400)
    assert (ns["block"] == ns["same"]).all()
    assert ns["t"].shape == (10, 180, 360) and ns["t"].attrs["units"] == "K"
    out = capsys.readouterr().out
    assert "└── climate" in out and "temperature (100, 100) float32" in out
    assert ns["exzarr"].load("data/s.zarr").tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
