"""Consolidated metadata: exzarr <-> zarr-python, request counts, use_consolidated modes, stale entries."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import exzarr
from exzarr.errors import ConsolidatedMetadataWarning, MetadataError
from exzarr.storage import LocalStore

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from helpers import CountingStore


def build(root, fmt):
    g = exzarr.create_group(root, zarr_format=fmt, attributes={"title": "t"})
    g.create_array("top", shape=(4,), chunks=(2,), dtype="f4", attributes={"units": "K"})[...] = [1, 2, 3, 4]
    sub = g.create_group("sub", attributes={"u": 2})
    sub.create_array("deep/arr", shape=(3, 2), chunks=(2, 2), dtype="i2")[...] = [[1, 2], [3, 4], [5, 6]]
    return g


@pytest.mark.parametrize("fmt", [2, 3])
def test_zarr_python_reads_our_consolidated(tmp_path, fmt):
    build(tmp_path / "g", fmt)
    g = exzarr.consolidate_metadata(tmp_path / "g")
    assert g.consolidated
    if fmt == 2:
        doc = json.loads((tmp_path / "g" / ".zmetadata").read_text())
        assert doc["zarr_consolidated_format"] == 1 and "sub/deep/arr/.zarray" in doc["metadata"]
    else:
        cm = json.loads((tmp_path / "g" / "zarr.json").read_text())["consolidated_metadata"]
        assert cm["kind"] == "inline" and cm["must_understand"] is False and "sub/deep/arr" in cm["metadata"]
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zg = zarr.open_consolidated(str(tmp_path / "g"), zarr_format=fmt)
        assert sorted(k for k, _ in zg.members(max_depth=None)) == ["sub", "sub/deep", "sub/deep/arr", "top"]
        assert zg["sub/deep/arr"][...].tolist() == [[1, 2], [3, 4], [5, 6]]
        assert dict(zg["top"].attrs) == {"units": "K"}


@pytest.mark.parametrize("fmt", [2, 3])
def test_we_read_zarr_python_consolidated(tmp_path, fmt):
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zg = zarr.open_group(str(tmp_path / "z"), mode="w", zarr_format=fmt, attributes={"a": 1})
        zg.create_group("s").create_array("x", shape=(5,), chunks=(2,), dtype="u2")[...] = np.arange(5)
        zarr.consolidate_metadata(str(tmp_path / "z"))
    store = CountingStore(inner=LocalStore(tmp_path / "z"))
    g = exzarr.open_group(store, mode="r")
    assert g.consolidated
    before = len(store.gets)
    assert g.keys() == ["s"] and g["s"].keys() == ["x"]
    x = g["s/x"]
    assert x.shape == (5,) and len(store.gets) == before  # listing and opening cost no requests
    assert x[...].tolist() == [0, 1, 2, 3, 4]


def test_opening_a_big_hierarchy_costs_one_request(tmp_path):
    g = exzarr.create_group(tmp_path / "big")
    for i in range(200):
        g.create_array(f"grp{i % 10}/arr{i}", shape=(2,), chunks=(2,))
    exzarr.consolidate_metadata(tmp_path / "big")
    store = CountingStore(inner=LocalStore(tmp_path / "big"))
    root = exzarr.open(store)
    tree = root.tree()
    arrays = [root[f"grp{i % 10}/arr{i}"] for i in range(200)]
    assert len(store.gets) == 1 and tree.count("arr") == 200 and len(arrays) == 200


@pytest.mark.parametrize("fmt", [2, 3])
def test_use_consolidated_modes_and_stale_entries(tmp_path, fmt):
    build(tmp_path / "g", fmt)
    with pytest.raises(MetadataError, match="no consolidated metadata"):
        exzarr.open_group(tmp_path / "g", mode="r", use_consolidated=True)
    exzarr.consolidate_metadata(tmp_path / "g")
    assert exzarr.open_group(tmp_path / "g", mode="r", use_consolidated=True).consolidated
    # change a node after consolidating: the consolidated entry is now stale
    a = exzarr.open(tmp_path / "g" / "sub" / "deep" / "arr", mode="r+")
    a.resize((10, 2))
    trusting = exzarr.open_group(tmp_path / "g", mode="r")
    assert trusting["sub/deep/arr"].shape == (3, 2)  # the consolidated view, as zarr-python would serve it
    own = exzarr.open_group(tmp_path / "g", mode="r", use_consolidated=False)
    assert not own.consolidated
    with pytest.warns(ConsolidatedMetadataWarning, match="sub/deep/arr"):
        assert own["sub/deep/arr"].shape == (10, 2)  # the node's own metadata, and the disagreement reported
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert own["top"].shape == (4,)  # an entry that agrees: no warning


def test_writes_through_a_consolidated_group_are_visible(tmp_path):
    build(tmp_path / "g", 3)
    g = exzarr.consolidate_metadata(tmp_path / "g")
    g2 = exzarr.open_group(tmp_path / "g", mode="r+")
    g2.create_array("new", shape=(1,), chunks=(1,))
    assert "new" in g2 and not g2.consolidated
    assert "new" not in exzarr.open_group(tmp_path / "g", mode="r")  # until consolidated again
    assert "new" in exzarr.consolidate_metadata(tmp_path / "g")
    del g
