"""engine="exzarr" for xarray: the same datasets as engine="zarr" (real xarray, real zarr-python as
the reference), lazily read through exzarr's parallel engine, dask-chunked by the stored chunks."""

from __future__ import annotations

import pickle
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import exzarr
from exzarr.errors import ExzarrError, MetadataError, NodeNotFoundError
from exzarr.xarray_backend import ExzarrBackendArray, ExzarrBackendEntrypoint, MissingDimensionsError

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # engine="zarr"'s "no consolidated metadata" warning

# encoding keys whose values must agree with engine="zarr" (the codec objects are zarr-python's own)
ENCODING_KEYS = (
    "chunks",
    "preferred_chunks",
    "shards",
    "dtype",
    "fill_value",
    "_FillValue",
    "missing_value",
    "scale_factor",
    "add_offset",
    "units",
    "calendar",
    "coordinates",
)


def make_dataset() -> xr.Dataset:
    rng = np.random.default_rng(0)
    temp = rng.standard_normal((6, 4, 5)) + 280.0
    temp[0, 0, :2] = np.nan
    ds = xr.Dataset(
        {
            "temp": (("time", "lat", "lon"), temp, {"units": "K", "long_name": "air temperature"}),
            "scaled": (("time", "lat"), np.round(np.linspace(0, 10, 24).reshape(6, 4), 2)),
            "label": (("lat",), np.array(["a", "bb", "ccc", "dddd"])),
            "vlen": (("lat",), np.array(["x", "yy", "", "zzzz"], dtype=object)),
            "raw": (("lat",), np.array([b"p", b"qq", b"r", b"s"])),
            "count": (("lon",), np.arange(5, dtype="i4"), {"missing_value": -1}),
            "flag": (("lon",), np.array([True, False, True, True, False])),
            "elapsed": (("time",), pd.to_timedelta(np.arange(6), unit="h").values),
            "scalar": ((), 3.5, {"note": "0-d"}),
        },
        coords={
            "time": pd.date_range("2000-01-01", periods=6, freq="D"),
            "lat": np.linspace(-30.0, 30.0, 4),
            "lon": np.arange(5) * 1.5,
            "station": (("lat",), np.array([10, 11, 12, 13], dtype="i2")),
        },
        attrs={"title": "exzarr xarray test", "history": "made by a test"},
    )
    ds["scaled"][0, 0] = np.nan
    ds["scaled"].encoding = {"dtype": "int16", "scale_factor": 0.01, "add_offset": 1.0, "_FillValue": -999}
    ds["temp"].encoding = {"chunks": (2, 2, 5)}
    ds["count"].encoding = {"chunks": (2,)}
    return ds


def assert_same_encoding(a: xr.Dataset, b: xr.Dataset) -> None:
    assert set(a.variables) == set(b.variables)
    for name in b.variables:
        ea, eb = a[name].encoding, b[name].encoding
        for key in ENCODING_KEYS:
            assert (key in ea) == (key in eb), (name, key, ea, eb)
            if key in eb:
                va, vb = ea[key], eb[key]
                same = va == vb or (isinstance(vb, float) and np.isnan(vb) and np.isnan(va))
                assert same, (name, key, va, vb)
                assert type(va) is type(vb) or np.asarray(va).dtype == np.asarray(vb).dtype, (name, key, va, vb)
        assert a[name].dtype == b[name].dtype, name


def open_both(path, **kw) -> tuple[xr.Dataset, xr.Dataset]:
    return xr.open_dataset(path, engine="exzarr", **kw), xr.open_dataset(path, engine="zarr", **kw)


@pytest.fixture(
    scope="module", params=[(2, True), (2, False), (3, True), (3, False)], ids=lambda p: f"v{p[0]}-{'cons' if p[1] else 'plain'}"
)
def written(request, tmp_path_factory):
    fmt, consolidated = request.param
    path = tmp_path_factory.mktemp("xr") / f"ds{fmt}.zarr"
    make_dataset().to_zarr(path, zarr_format=fmt, consolidated=consolidated, mode="w")
    return path, fmt, consolidated


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"decode_cf": False},
        {"mask_and_scale": False},
        {"decode_times": False},
        {"decode_timedelta": False},
        {"decode_coords": False},
        {"concat_characters": False},
        {"chunks": {}},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default",
)
def test_identical_to_engine_zarr(written, kw):
    path, fmt, consolidated = written
    ours, ref = open_both(path, consolidated=consolidated, **kw)
    assert_same_encoding(ours, ref)
    xr.testing.assert_identical(ours.load(), ref.load())
    if not kw:
        # the values round trip too: what was written is what is read
        src = make_dataset()
        for name in ("temp", "label", "vlen", "raw", "flag", "elapsed", "scalar", "time", "station"):
            xr.testing.assert_identical(ours[name], src[name])
        xr.testing.assert_allclose(ours["scaled"], src["scaled"], atol=0.006)
        assert ours["scaled"].encoding["scale_factor"] == 0.01 and np.isnan(ours["scaled"].values[0, 0])
        assert ours["count"].dtype == np.float64 and ours["count"].encoding["missing_value"] == -1
        assert "_ARRAY_DIMENSIONS" not in ours["temp"].attrs and "_ARRAY_DIMENSIONS" not in ours["temp"].encoding


def test_use_zarr_fill_value_as_mask(written):
    # engine="zarr" (xarray 2026.9) drops this option in open_dataset; engine="exzarr" honours it:
    # True masks with the Zarr fill_value (the v2 default), False keeps it in encoding (the v3 default)
    path, fmt, consolidated = written
    masked = xr.open_dataset(path, engine="exzarr", use_zarr_fill_value_as_mask=True)
    plain = xr.open_dataset(path, engine="exzarr", use_zarr_fill_value_as_mask=False)
    default = xr.open_dataset(path, engine="exzarr")
    xr.testing.assert_identical(default.load(), (masked if fmt == 2 else plain).load())
    assert np.isnan(masked["temp"].values[0, 0, :2]).all() and np.isnan(plain["temp"].values[0, 0, :2]).all()
    if fmt == 3:  # v3 int fill_value 0: a mask turns the zeros of count into NaN (with a warning: two fill values)
        warnings.simplefilter("ignore")
        assert masked["count"].encoding["_FillValue"] == 0 and np.isnan(masked["count"].values[0])
        assert plain["count"].encoding["fill_value"] == 0 and plain["count"].values[0] == 0
    else:
        assert "fill_value" not in plain["temp"].encoding and plain["count"].values[0] == 0
        # v2 keeps _FillValue as the Zarr fill_value: without the mask the raw -999 shows through, scaled
        assert "_FillValue" not in plain["scaled"].encoding and plain["scaled"].values[0, 0] == pytest.approx(-8.99)
        assert masked["scaled"].encoding["_FillValue"] == -999 and np.isnan(masked["scaled"].values[0, 0])


def test_drop_variables_and_consolidated_none(written):
    path, fmt, consolidated = written
    ours, ref = open_both(path, drop_variables=["temp", "raw"])
    assert "temp" not in ours and "raw" not in ours
    xr.testing.assert_identical(ours.load(), ref.load())
    ours1 = xr.open_dataset(path, engine="exzarr", drop_variables="temp")
    assert "temp" not in ours1 and "scaled" in ours1


def test_consolidated_true_without_consolidated_metadata(tmp_path):
    make_dataset().to_zarr(tmp_path / "p.zarr", zarr_format=3, consolidated=False)
    with pytest.raises(MetadataError, match="consolidated"):
        xr.open_dataset(tmp_path / "p.zarr", engine="exzarr", consolidated=True)
    with pytest.raises(ValueError):  # engine="zarr" refuses too
        xr.open_dataset(tmp_path / "p.zarr", engine="zarr", consolidated=True)


def test_open_is_lazy_and_reads_data_chunks_only_when_asked(tmp_path):
    path = tmp_path / "lazy.zarr"
    make_dataset().to_zarr(path, zarr_format=3, consolidated=True)
    events = []
    exzarr.telemetry.attach(events.append)
    try:
        ds = xr.open_dataset(path, engine="exzarr")
        opened = [e for e in events if e.name == "chunk_read"]
        # only the indexed dimension coordinates are read on open (xarray builds their indexes)
        assert {e.array for e in opened} <= {"/time", "/lat", "/lon"}
        assert not any(e.array == "/temp" for e in opened)
        assert ds["temp"].attrs["units"] == "K" and ds["temp"].shape == (6, 4, 5)
        sub = ds["temp"].isel(time=slice(0, 2), lat=slice(0, 2))  # one chunk (2, 2, 5)
        assert not any(e.array == "/temp" for e in events)
        sub.load()
        temp_reads = [e for e in events if e.name == "chunk_read" and e.array == "/temp"]
        assert len(temp_reads) == 1
    finally:
        exzarr.telemetry.detach(events.append)

    # metadata alone opens the dataset: with every data chunk of temp deleted, opening still works
    shutil.rmtree(path / "temp" / "c")
    again = xr.open_dataset(path, engine="exzarr")
    assert again["temp"].dims == ("time", "lat", "lon") and again["temp"].encoding["chunks"] == (2, 2, 5)


def test_dask_chunks_follow_stored_chunks(written):
    path, fmt, consolidated = written
    ds = xr.open_dataset(path, engine="exzarr", chunks={})
    assert ds["temp"].chunks == ((2, 2, 2), (2, 2), (5,))
    assert ds["count"].chunks == ((2, 2, 1),)
    ref = xr.open_dataset(path, engine="zarr", chunks={})
    for name in ds.data_vars:
        assert ds[name].chunks == ref[name].chunks, name
    xr.testing.assert_identical(ds.compute(), ref.compute())
    part = xr.open_dataset(path, engine="exzarr", chunks={"lat": 4})
    assert part["temp"].chunks == ((2, 2, 2), (4,), (5,))  # several stored chunks per dask chunk, none split
    np.testing.assert_allclose(part["temp"].mean("time").values, ref["temp"].mean("time").values, rtol=1e-12)


def test_sharded_array_dask_chunks_are_shards(tmp_path):
    g = exzarr.create_group(tmp_path / "sh.zarr", attributes={"title": "sharded"})
    a = g.create_array(
        "v", shape=(40, 30), chunks=(5, 5), shards=(20, 15), dtype="float32", dimension_names=["y", "x"], fill_value=np.nan
    )
    data = np.arange(1200, dtype="float32").reshape(40, 30)
    a[...] = data
    ds = xr.open_dataset(tmp_path / "sh.zarr", engine="exzarr", chunks={})
    enc = ds["v"].encoding
    assert enc["chunks"] == (5, 5) and enc["shards"] == (20, 15) and enc["preferred_chunks"] == {"y": 20, "x": 15}
    assert ds["v"].chunks == ((20, 20), (15, 15))
    np.testing.assert_array_equal(ds["v"].values, data)
    ref = xr.open_dataset(tmp_path / "sh.zarr", engine="zarr")
    assert ref["v"].encoding["shards"] == (20, 15) and ref["v"].encoding["chunks"] == (5, 5)
    xr.testing.assert_identical(ds.compute(), ref.load())


@pytest.mark.parametrize("chunks", [None, {}], ids=["lazy", "dask"])
def test_indexing_matches_numpy(tmp_path, chunks):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((13, 11, 7))
    xr.Dataset({"v": (("a", "b", "c"), data)}).to_zarr(tmp_path / "i.zarr", zarr_format=3, encoding={"v": {"chunks": (4, 3, 5)}})
    v = xr.open_dataset(tmp_path / "i.zarr", engine="exzarr", chunks=chunks)["v"]
    cases = [
        ({"a": slice(2, 11, 3), "b": slice(None, None, -2)}, data[2:11:3, ::-2]),
        ({"a": 5, "c": slice(1, 6)}, data[5, :, 1:6]),
        ({"a": [0, 12, 3, 3], "b": [10, 0]}, data[[0, 12, 3, 3]][:, [10, 0]]),
        ({"a": [-1, 0], "c": -2}, data[[-1, 0]][:, :, -2]),
        ({"a": [], "b": slice(0, 2)}, data[[]][:, 0:2]),
        ({"a": 12, "b": 10, "c": 6}, data[12, 10, 6]),
    ]
    for sel, expect in cases:
        got = v.isel(sel).values
        assert got.shape == expect.shape, sel
        np.testing.assert_array_equal(got, expect, err_msg=str(sel))
    # vectorized (point-wise) selections with DataArray indexers, with and without a slice
    ia = xr.DataArray([0, 5, 12, 7], dims="p")
    ib = xr.DataArray([10, 0, 3, 3], dims="p")
    np.testing.assert_array_equal(v.isel(a=ia, b=ib).values, data[[0, 5, 12, 7], [10, 0, 3, 3]])
    np.testing.assert_array_equal(v.isel(a=ia, b=ib, c=slice(1, 4)).values, data[[0, 5, 12, 7], [10, 0, 3, 3], 1:4])
    ja = xr.DataArray([[1, 2], [3, 4]], dims=("p", "q"))
    jc = xr.DataArray([[6, 5], [0, 1]], dims=("p", "q"))
    np.testing.assert_array_equal(v.isel(a=ja, c=jc).values, np.moveaxis(data[[[1, 2], [3, 4]], :, [[6, 5], [0, 1]]], -1, -1))
    assert v.isel(a=ja, c=jc).dims == ("p", "q", "b")


def test_backend_array_pickles_and_reads_from_threads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from xarray.core import indexing

    data = np.arange(2400.0).reshape(40, 60)
    a = exzarr.save(tmp_path / "p.zarr", data, chunks=(7, 9))
    b = ExzarrBackendArray(exzarr.open_array(tmp_path / "p.zarr"))
    c = pickle.loads(pickle.dumps(b))
    assert c.shape == b.shape and c.dtype == b.dtype and c.get_array().path == a.path
    keys = [indexing.BasicIndexer((slice(i, i + 5), slice(None))) for i in range(0, 35)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda k: c[k], keys))
    for i, r in enumerate(results):
        np.testing.assert_array_equal(r, data[i : i + 5])


def test_distributed_cluster_computes_from_exzarr(tmp_path):
    distributed = pytest.importorskip("distributed")
    make_dataset().to_zarr(tmp_path / "d.zarr", zarr_format=2, consolidated=True)
    ds = xr.open_dataset(tmp_path / "d.zarr", engine="exzarr", chunks={})
    ref = xr.open_dataset(tmp_path / "d.zarr", engine="zarr").load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
            distributed.Client(cluster),
        ):
            mean = ds["temp"].mean("time").compute()
            scaled = ds["scaled"].sum().compute()
    xr.testing.assert_allclose(mean, ref["temp"].mean("time"))
    assert float(scaled) == pytest.approx(float(ref["scaled"].sum()))


@pytest.mark.parametrize("fmt", [2, 3])
def test_exzarr_written_group(tmp_path, fmt):
    g = exzarr.create_group(tmp_path / "e.zarr", attributes={"title": "from exzarr"}, zarr_format=fmt)
    t = g.create_array(
        "t", shape=(5, 8), chunks=(2, 4), dtype="float32", dimension_names=["y", "x"], fill_value=-9.0, zarr_format=fmt
    )
    t[...] = np.arange(40, dtype="float32").reshape(5, 8)
    t[4, :] = -9.0
    t.attrs.update({"units": "m", "scale_factor": 2.0})
    x = g.create_array("x", shape=(8,), chunks=(8,), dtype="int64", dimension_names=["x"], zarr_format=fmt)
    x[...] = np.arange(8) * 10
    ours, ref = open_both(tmp_path / "e.zarr")
    assert ours.attrs == {"title": "from exzarr"}
    assert ours["t"].dims == ("y", "x") and "x" in ours.coords
    xr.testing.assert_identical(ours.load(), ref.load())
    assert_same_encoding(ours, ref)
    if fmt == 2:  # the v2 fill value masks (and the scale factor applies), as with engine="zarr"
        assert np.isnan(ours["t"].values[4]).all() and ours["t"].values[0, 1] == 2.0
    else:  # v3: fill_value is not a mask; it is kept in the encoding
        assert (ours["t"].values[4] == -18.0).all() and ours["t"].encoding["fill_value"] == -9.0


@pytest.mark.parametrize("fmt", [2, 3])
def test_array_without_dimension_names_is_an_error_like_engine_zarr(tmp_path, fmt):
    g = exzarr.create_group(tmp_path / "n.zarr", zarr_format=fmt)
    g.create_array("nodims", shape=(3, 4), chunks=(3, 4), zarr_format=fmt)
    with pytest.raises(MissingDimensionsError, match="'/nodims'") as info:
        xr.open_dataset(tmp_path / "n.zarr", engine="exzarr")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ExzarrError)
    with pytest.raises(KeyError):
        xr.open_dataset(tmp_path / "n.zarr", engine="zarr")
    # dropping the array opens the rest
    assert len(xr.open_dataset(tmp_path / "n.zarr", engine="exzarr", drop_variables=["nodims"]).variables) == 0


@pytest.mark.parametrize("fmt", [2, 3])
def test_sub_groups_and_datatree(tmp_path, fmt):
    path = tmp_path / "tree.zarr"
    root = make_dataset()[["temp", "label"]]
    inner = xr.Dataset({"w": (("k",), np.arange(3.0), {"units": "m/s"})}, coords={"k": [1, 2, 3]}, attrs={"level": "inner"})
    root.to_zarr(path, zarr_format=fmt, consolidated=False)
    inner.to_zarr(path, group="a/b", zarr_format=fmt, consolidated=False, mode="a")
    exzarr.consolidate_metadata(path)
    for consolidated in (None, True, False):
        for group in ("a/b", "/a/b"):
            ours, ref = open_both(path, group=group, consolidated=consolidated)
            xr.testing.assert_identical(ours.load(), ref.load())
            xr.testing.assert_identical(ours, inner)
    ours_a = xr.open_dataset(path, engine="exzarr", group="a")
    assert len(ours_a.variables) == 0
    tree = xr.open_datatree(path, engine="exzarr")
    ref_tree = xr.open_datatree(path, engine="zarr")
    xr.testing.assert_identical(tree.load(), ref_tree.load())
    assert set(xr.open_groups(path, engine="exzarr")) == {"/", "/a", "/a/b"}
    sub_tree = xr.open_datatree(path, engine="exzarr", group="a")
    xr.testing.assert_identical(sub_tree["b"].to_dataset().load(), inner)


def test_error_cases(tmp_path):
    with pytest.raises(NodeNotFoundError) as info:
        xr.open_dataset(tmp_path / "missing.zarr", engine="exzarr")
    assert isinstance(info.value, FileNotFoundError) and "missing.zarr" in str(info.value)
    make_dataset()[["temp"]].to_zarr(tmp_path / "g.zarr", zarr_format=3, consolidated=True)
    with pytest.raises(NodeNotFoundError, match="'nope'"):
        xr.open_dataset(tmp_path / "g.zarr", engine="exzarr", group="nope")
    with pytest.raises(NodeNotFoundError, match="/nope"):
        xr.open_dataset(tmp_path / "g.zarr", engine="exzarr", group="nope", consolidated=False)
    with pytest.raises(NodeNotFoundError, match="'temp'.*array, not a group"):
        xr.open_dataset(tmp_path / "g.zarr", engine="exzarr", group="temp")
    with pytest.raises(ExzarrError):  # an array is no dataset
        xr.open_dataset(tmp_path / "g.zarr" / "temp", engine="exzarr")
    with pytest.raises(NodeNotFoundError):
        xr.open_dataset("memory://nothing-here", engine="exzarr")


def test_guess_can_open(tmp_path):
    entry = ExzarrBackendEntrypoint()
    make_dataset()[["temp"]].to_zarr(tmp_path / "v3", zarr_format=3, consolidated=False)
    make_dataset()[["temp"]].to_zarr(tmp_path / "v2", zarr_format=2, consolidated=False)
    assert entry.guess_can_open(tmp_path / "v3") and entry.guess_can_open(str(tmp_path / "v2"))
    assert not entry.guess_can_open(tmp_path) and not entry.guess_can_open(tmp_path / "v3" / "zarr.json")
    assert not entry.guess_can_open(tmp_path / "absent") and not entry.guess_can_open(b"bytes")
    # xarray picks the engine itself for a directory without the .zarr suffix
    xr.testing.assert_identical(xr.open_dataset(tmp_path / "v2").load(), xr.open_dataset(tmp_path / "v2", engine="exzarr").load())
