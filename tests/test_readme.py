"""The README's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_every_python_block_compiles():
    for b in blocks():
        compile(b, "README.md", "exec")


def test_quick_start_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(blocks()[0], "README.md", "exec"), ns)
    assert ns["block"].shape == (400, 400)
    assert (ns["block"] == ns["same"]).all()
    assert ns["t"].shape == (10, 180, 360) and ns["t"].attrs["units"] == "K"
    out = capsys.readouterr().out
    assert "└── climate" in out and "temperature (100, 100) float32" in out
    assert ns["exzarr"].load("data/s.zarr").tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_sharding_copy_cache_block_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = next(b for b in blocks() if "shards=(1024, 1024)" in b)
    ns: dict = {}
    try:
        exec(compile(block, "README.md", "exec"), ns)
    finally:
        ns["exzarr"].telemetry.stop_stats()
        for h in list(ns["exzarr"].telemetry._handlers):
            ns["exzarr"].telemetry.detach(h)
    assert ns["s"].chunks == (64, 64) and ns["s"].shards == (1024, 1024) and ns["part"].shape == (64, 64)
    assert ns["tree"].consolidated and ns["v2"].zarr_format == 2 and ns["c"].cache_stats().hits > 0


def test_zarr_python_3_block_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    block = next(b for b in blocks() if "exzarr.create_array(" in b and "BloscCodec" in b)
    ns: dict = {}
    exec(compile(block, "README.md", "exec"), ns)
    a, c = ns["a"], ns["c"]
    assert a.name == "/t/x" and a.shards == (2000, 2000) and a.chunks == (500, 500)
    assert c.zarr_format == 2 and c.chunks == (500, 500) and c.shards is None
    assert ns["b"][...].tolist() == list(range(10)) and ns["g"].attrs["title"] == "demo"
    assert "Shard shape        : (2000, 2000)" in capsys.readouterr().out
