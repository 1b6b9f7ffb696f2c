"""Faults (a proxy in its own process injecting 503 SlowDown, dropped connections and 403s in
front of the S3 emulator) and interop with zarr-python and tensorstore on S3."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest

import exzarr
from exzarr.errors import StoreError

Y = np.random.default_rng(7).standard_normal((200, 100))


def test_twenty_percent_slowdowns_and_resets_lose_nothing(s3_bucket, fault_proxy):
    proxy = fault_proxy(s3_bucket.endpoint, error_rate=0.2, status=503, reset_rate=0.03, seed=3)
    so = {**s3_bucket.storage_options, "endpoint_url": proxy.url}
    for kw in ({"chunks": (10, 10)}, {"chunks": (10, 10), "shards": (50, 50)}):
        url = f"{s3_bucket.url}/faults-{len(kw)}.zarr"
        a = exzarr.create(url, shape=Y.shape, storage_options=so, **kw)
        a[...] = Y  # 200 chunks (or 8 shards of 25)
        a[3:197, 5:95] = Y[3:197, 5:95] * 2  # partial writes: read-modify-write through the faults
        r = exzarr.open_array(url, storage_options=so)
        expected = Y.copy()
        expected[3:197, 5:95] *= 2
        assert np.array_equal(r[...], expected) and np.array_equal(r[17:133, 2:99], expected[17:133, 2:99])
    stats = proxy.stats()
    assert stats["injected_errors"] >= 20 and stats["requests"] > 400
    assert a.store.limit.throttled > 0 and a.store.retried > 0  # 503s reached exzarr and were retried...
    assert a.store.limit.lowest >= a.store.max_in_flight // 2  # ...without collapsing the budget (random 503s)
    clean = exzarr.open_array(url, storage_options=s3_bucket.storage_options)  # ...and the data is exact
    assert np.array_equal(clean[...], expected)


def test_a_permanent_403_fails_fast_with_a_clear_error(s3_bucket, fault_proxy):
    exzarr.create(f"{s3_bucket.url}/p.zarr", shape=(4,), chunks=(2,), storage_options=s3_bucket.storage_options)
    proxy = fault_proxy(s3_bucket.endpoint, fail_status=403)
    so = {**s3_bucket.storage_options, "endpoint_url": proxy.url}
    t0 = time.monotonic()
    with pytest.raises(StoreError, match=r"permission denied.*zarr\.json|zarr\.json.*403") as info:
        exzarr.open_array(f"{s3_bucket.url}/p.zarr", storage_options=so)
    assert time.monotonic() - t0 < 1.0
    assert s3_bucket.url in str(info.value)


def test_the_limit_grows_back_after_throttling(s3_bucket, fault_proxy):
    proxy = fault_proxy(s3_bucket.endpoint, error_rate=0.5, status=503, seed=1)
    so = {**s3_bucket.storage_options, "endpoint_url": proxy.url}
    a = exzarr.create(f"{s3_bucket.url}/g.zarr", shape=(100, 100), chunks=(10, 10), storage_options=so)
    a[...] = 1.0
    low = a.store.limit.limit
    assert a.store.limit.throttled > 0 and low < a.store.max_in_flight
    proxy.config(error_rate=0.0)
    for _ in range(6):
        a[...] = 2.0
    assert a.store.limit.limit > low  # additive increase once the store stops throttling
    assert (exzarr.open_array(f"{s3_bucket.url}/g.zarr", storage_options=so)[...] == 2.0).all()


# ----------------------------------------------------------------------------- interop on S3


def _zarr_store(bucket, prefix, read_only):
    import zarr
    from obstore.store import S3Store

    return zarr.storage.ObjectStore(S3Store(bucket.name, prefix=prefix, **bucket.obstore_kwargs), read_only=read_only)


def _ts_spec(bucket, prefix, zarr_format=3):
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "x")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "x")
    kv = {"driver": "s3", "bucket": bucket.name, "path": prefix + "/", "endpoint": bucket.endpoint, "aws_region": "us-east-1",
          "aws_credentials": {"type": "environment"}}  # fmt: skip
    return {"driver": "zarr3" if zarr_format == 3 else "zarr", "kvstore": kv}


@pytest.mark.parametrize(
    "kw",
    [{"chunks": (10, 10)}, {"chunks": (10, 10), "zarr_format": 2}, {"chunks": (10, 10), "shards": (50, 50)}],
    ids=["v3", "v2", "sharded"],
)
def test_peers_read_what_exzarr_writes_on_s3(s3_bucket, kw):
    import tensorstore as ts

    a = exzarr.create(f"{s3_bucket.url}/ex.zarr", shape=Y.shape, storage_options=s3_bucket.storage_options, **kw)
    a[...] = Y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import zarr

        z = zarr.open_array(_zarr_store(s3_bucket, "ex.zarr", True), mode="r")
        assert np.array_equal(np.asarray(z[...]), Y)
    t = ts.open(_ts_spec(s3_bucket, "ex.zarr", kw.get("zarr_format", 3))).result()
    assert np.array_equal(t.read().result(), Y)


def test_exzarr_reads_what_peers_write_on_s3(s3_bucket):
    import tensorstore as ts

    so = s3_bucket.storage_options
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import zarr

        root = zarr.open_group(_zarr_store(s3_bucket, "zp", False), mode="w")
        root.create_array("plain", shape=Y.shape, chunks=(10, 10), dtype="f8")[...] = Y
        root.create_array("sharded", shape=Y.shape, chunks=(10, 10), shards=(50, 50), dtype="f8")[...] = Y
        zarr.consolidate_metadata(_zarr_store(s3_bucket, "zp", False))
    g = exzarr.open_group(f"{s3_bucket.url}/zp", mode="r", storage_options=so)
    assert g.consolidated
    assert np.array_equal(g["plain"][...], Y) and np.array_equal(g["sharded"][20:80, 5:55], Y[20:80, 5:55])
    spec = {**_ts_spec(s3_bucket, "ts.zarr"), "create": True,
            "metadata": {"shape": list(Y.shape), "data_type": "float64",
                         "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [50, 50]}},
                         "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [10, 10]}}]}}  # fmt: skip
    ts.open(spec).result().write(Y).result()
    assert np.array_equal(exzarr.open_array(f"{s3_bucket.url}/ts.zarr", storage_options=so)[...], Y)
