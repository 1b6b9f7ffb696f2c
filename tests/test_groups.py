"""Groups: hierarchy, members, tree rendering, require/create, deletion."""

from __future__ import annotations

import pytest

import exzarr
from exzarr.errors import NodeExistsError, ReadOnlyError


@pytest.mark.parametrize("fmt", [2, 3])
def test_hierarchy(tmp_path, fmt):
    root = exzarr.create_group(tmp_path / "h", zarr_format=fmt, attributes={"a": 1})
    root.create_array("temp", shape=(10, 10), chunks=(5, 5), dtype="f4")
    sub = root.create_group("obs")
    sub.create_array("wind", shape=(3,), chunks=(2,), dtype="i2")
    root.create_array("x/y/z", shape=(2,), chunks=(2,), dtype="u1")
    assert root.keys() == ["obs", "temp", "x"]
    assert [n for n, _ in root.arrays()] == ["temp"] and [n for n, _ in root.groups()] == ["obs", "x"]
    assert isinstance(root["obs/wind"], exzarr.Array) and root["obs/wind"].path == "obs/wind"
    assert isinstance(root["x/y"], exzarr.Group) and "x/y/z" in root and "nope" not in root
    with pytest.raises(KeyError):
        root["nope"]
    assert root.tree() == "\n".join([
        "/",
        "├── obs",
        "│   └── wind (3,) int16",
        "├── temp (10, 10) float32",
        "└── x",
        "    └── y",
        "        └── z (2,) uint8",
    ])  # fmt: skip
    assert root.require_group("obs") == sub
    with pytest.raises(NodeExistsError):
        root.create_group("obs")
    with pytest.raises(NodeExistsError):
        root.require_group("temp")
    del root["obs"]
    assert "obs" not in root and not (tmp_path / "h" / "obs").exists()
    reopened = exzarr.open_group(tmp_path / "h", mode="r")
    assert reopened.keys() == ["temp", "x"] and dict(reopened.attrs) == {"a": 1}
    with pytest.raises(ReadOnlyError):
        reopened.create_group("new")


def test_group_rules(tmp_path):
    g = exzarr.create_group(tmp_path / "r")
    for bad in ("__hidden", "..", "a/../b", "zarr.json"):
        with pytest.raises(ValueError):
            g.create_group(bad)
    with pytest.raises(exzarr.errors.MetadataError, match="v3"):
        g.create_array("v2arr", shape=(1,), zarr_format=2)
    a = g.require_array("arr", shape=(2,), chunks=(2,))
    assert g.require_array("arr") == a
    g.create_array("arr", shape=(3,), chunks=(3,), overwrite=True)
    assert g["arr"].shape == (3,)
