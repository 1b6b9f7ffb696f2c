"""Metadata read-modify-writes (shape, attributes) under a lock, re-reading the stored document
and changing only their own field: nothing concurrent threads, handles or processes do is lost."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import exzarr


def run_threads(fn, n=4):
    errors = []

    def wrap(i):
        try:
            fn(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


@pytest.mark.parametrize("fmt", [2, 3])
def test_concurrent_appends_lose_no_rows(tmp_path, fmt):
    a = exzarr.create(tmp_path / "a", shape=(0, 3), chunks=(4, 3), dtype="i4", zarr_format=fmt)

    def appender(i):
        for k in range(25):
            a.append(np.full((1, 3), i * 100 + k, dtype="i4"))

    run_threads(appender)
    b = exzarr.open_array(tmp_path / "a")
    assert b.shape == (100, 3)
    rows = b[...]
    assert sorted(rows[:, 0].tolist()) == sorted(i * 100 + k for i in range(4) for k in range(25))
    assert (rows == rows[:, :1]).all()  # every row whole


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("node", ["array", "group"])
def test_concurrent_attribute_writes_lose_nothing(tmp_path, fmt, node):
    if node == "array":
        exzarr.create(tmp_path / "n", shape=(2,), chunks=(2,), zarr_format=fmt)
    else:
        exzarr.create_group(tmp_path / "n", zarr_format=fmt)
    handles = [exzarr.open(tmp_path / "n", mode="r+") for _ in range(4)]  # separate handles too

    def writer(i):
        for k in range(50):
            handles[i].attrs[f"k{i}_{k}"] = k

    run_threads(writer)
    assert len(exzarr.open(tmp_path / "n").attrs) == 200


def test_a_stale_handle_writing_attributes_keeps_the_shape(tmp_path):
    a = exzarr.create(tmp_path / "a", shape=(10,), chunks=(4,), dtype="i4")
    a[...] = np.arange(10)
    stale = exzarr.open_array(tmp_path / "a", mode="r+")
    a.resize((4,))
    a.append(np.array([70, 71]))
    stale.attrs["note"] = "x"  # its cached shape is (10,): it must not be written back
    b = exzarr.open_array(tmp_path / "a")
    assert b.shape == (6,) and b.attrs["note"] == "x"
    assert b[...].tolist() == [0, 1, 2, 3, 70, 71]
    stale.append(np.array([9]))  # appends after what is stored now, not after its stale shape
    assert exzarr.open_array(tmp_path / "a")[...].tolist() == [0, 1, 2, 3, 70, 71, 9]
    stale.refresh()
    assert stale.shape == (7,)


def test_attributes_delete_and_put_are_updates_too(tmp_path):
    a = exzarr.create(tmp_path / "a", shape=(2,), chunks=(2,))
    other = exzarr.open_array(tmp_path / "a", mode="r+")
    a.attrs.update(x=1, y=2)
    other.attrs["z"] = 3  # other's cached attributes are empty: x and y must survive
    del a.attrs["x"]
    assert dict(exzarr.open_array(tmp_path / "a").attrs) == {"y": 2, "z": 3}
    with pytest.raises(KeyError):
        del a.attrs["nope"]
    a.attrs.put({"only": True})
    assert dict(exzarr.open_array(tmp_path / "a").attrs) == {"only": True}


APPENDER = """
import exzarr, numpy as np, sys
a = exzarr.open_array(sys.argv[1], mode="r+", process_locks=True)
i = int(sys.argv[2])
for k in range(20):
    a.append(np.full((1,), i * 100 + k, dtype="i4"))
    a.attrs[f"p{i}_{k}"] = k
_report(done=True)
"""


def test_appends_from_several_processes_with_process_locks(tmp_path):
    import subprocess
    import sys

    from isolate import PRELUDE

    exzarr.create(tmp_path / "a", shape=(0,), chunks=(8,), dtype="i4")
    procs = [
        subprocess.Popen([sys.executable, "-c", PRELUDE + APPENDER, str(tmp_path / "a"), str(i)], stdout=subprocess.PIPE)
        for i in range(3)
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0
    b = exzarr.open_array(tmp_path / "a")
    assert sorted(b[...].tolist()) == sorted(i * 100 + k for i in range(3) for k in range(20))
    assert len(b.attrs) == 60
