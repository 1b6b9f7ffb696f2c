"""zarr-python's own hypothesis writers (``zarr.testing.strategies.arrays``) produce random v2/v3
arrays (random dtypes, shapes, chunks, fill values, attributes, paths); exzarr must read every one
exactly as zarr-python does."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from peers import assert_same

import exzarr

warnings.filterwarnings("ignore")
from zarr.testing import strategies as zst  # noqa: E402


def copy_store(zstore) -> exzarr.MemoryStore:
    ours = exzarr.MemoryStore()
    for key, buf in zstore._store_dict.items():
        ours.set(key, buf.to_bytes())
    return ours


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_read_what_zarr_python_writes(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = data.draw(zst.arrays())
        meta = z.metadata.to_dict()
        sharded = any(isinstance(c, dict) and c.get("name") == "sharding_indexed" for c in meta.get("codecs", []))
        expected = np.asarray(z[...])
    store = copy_store(z.store)
    event("sharded" if sharded else f"v{z.metadata.zarr_format}")
    a = exzarr.open(store, node=z.path)
    assert a.shape == z.shape and a.chunks == z.chunks
    assert_same(a[...], expected)
    assert dict(a.attrs) == dict(z.attrs)
