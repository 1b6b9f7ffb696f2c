"""The public types are precise (issue 10): mypy checks a user's snippet against exzarr's annotations.

``a[0:2]`` is an ``NDArray``, ``a.shape`` a ``tuple[int, ...]``, ``a.chunk_stream()`` yields
``(tuple[int, ...], NDArray)`` pairs (``ChunkRecord`` objects with ``with_info=True``). An integer
index may give a scalar (``a[1, 2]``, ``a[()]`` on a 0-d array), so it is typed ``NDArray | Any``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import exzarr

pytest.importorskip("mypy", reason="mypy is not installed (pip install mypy, or the project's [test] extra)")

GOOD = """
    from typing import Any

    import numpy as np
    from numpy.typing import NDArray

    import exzarr
    from exzarr.engine.streaming import ChunkRecord

    a = exzarr.create_array(shape=(4, 4), chunks=(2, 2), dtype="i4")
    x: np.ndarray = a[0:2]
    y: NDArray[Any] = a[...]
    z: NDArray[Any] = a.get_basic_selection((0, slice(None)))
    s: tuple[int, ...] = a.shape
    n: int = a.shape[0] + 1
    for idx, block in a.chunk_stream():
        first: int = idx[0] + 1
        block.sum()
    for rec in a.chunk_stream(with_info=True):
        r: ChunkRecord = rec
        rec.data.sum()
    reveal_type(a[0:2])
    reveal_type(a[1, 2])
    reveal_type(a.shape)
    reveal_type(a.chunk_stream())
    reveal_type(a.chunk_stream(with_info=True))
    reveal_type(a.oindex[[0, 1], :])
"""

# what must NOT type-check: proves the types above are not just Any
BAD = """
    import exzarr

    a = exzarr.create_array(shape=(4,), dtype="i4")
    wrong_shape: str = a.shape
    wrong_slice: int = a[0:2]
    for idx, block in a.chunk_stream():
        wrong_index: str = idx
"""


def _mypy(tmp_path: Path) -> str:
    (tmp_path / "good.py").write_text(textwrap.dedent(GOOD))
    (tmp_path / "bad.py").write_text(textwrap.dedent(BAD))
    env = {**os.environ, "MYPYPATH": str(Path(exzarr.__file__).parent.parent)}
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--follow-imports=silent",
        "--no-error-summary",
        "--config-file=",
        "--cache-dir",
        str(tmp_path / "cache"),
        "good.py",
        "bad.py",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 2: mypy itself failed
    return proc.stdout


def test_public_types_are_precise(tmp_path: Path) -> None:
    out = _mypy(tmp_path)
    good = [line for line in out.splitlines() if line.startswith("good.py")]
    assert not [line for line in good if ": error:" in line], out
    revealed = [line.split("Revealed type is ", 1)[1].strip('"') for line in good if "Revealed type is" in line]
    # numpy versions spell NDArray's shape parameter differently: compare up to it
    revealed = [re.sub(r"numpy\.ndarray\[.*?numpy\.dtype\[Any\]\]", "NDArray", t) for t in revealed]
    assert revealed == [
        "NDArray",
        "NDArray | Any",
        "tuple[int, ...]",
        "typing.Iterator[tuple[tuple[int, ...], NDArray]]",
        "typing.Iterator[exzarr.engine.streaming.ChunkRecord]",
        "NDArray",
    ], out
    bad = [line for line in out.splitlines() if line.startswith("bad.py") and ": error:" in line]
    assert [line.split(":")[1] for line in bad] == ["5", "6", "8"], out
