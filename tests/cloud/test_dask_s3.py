"""Dask on the S3 emulator: a real ``distributed.LocalCluster`` (two worker processes) writes and
reads an array through its ``s3://`` URL and ``storage_options`` (each worker opens the bucket
itself), and maps and copies chunks with ``executor=``."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import exzarr


@pytest.fixture(scope="module")
def client():
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        with Client(cluster, set_as_default=False) as c:
            yield c


@pytest.mark.parametrize("kwargs", [dict(chunks=(10, 8)), dict(chunks=(5, 4), shards=(10, 16))])
def test_cluster_writes_and_reads_s3_through_the_url(s3_bucket, client, kwargs):
    ref = np.arange(120 * 16, dtype="f8").reshape(120, 16) / 3
    url, so = f"{s3_bucket.url}/data/a.zarr", s3_bucket.storage_options
    x = da.from_array(ref, chunks=(7, 16)) * 1.0  # 7-row blocks into 10-row chunks/shards: rechunked first
    a = exzarr.from_dask(x, url, storage_options=so, scheduler=client, **kwargs)
    assert a.store.io_bound and a.chunks == kwargs["chunks"]
    back = exzarr.open_array(url, storage_options=so)  # what the bucket holds, read here
    np.testing.assert_array_equal(back[...], ref)
    y = back.to_dask()
    assert y.chunks[0] == (10,) * 12
    np.testing.assert_array_equal(client.compute(y).result(), ref)
    assert float(client.compute(y.sum()).result()) == pytest.approx(float(ref.sum()))

    sums = list(back.parallel_chunk_map(lambda item: (item[0], float(item[1].sum())), executor=client))
    assert sums == list(back.parallel_chunk_map(lambda item: (item[0], float(item[1].sum()))))
    assert len(sums) == back.nchunks


def test_cluster_copies_local_to_s3_v2_to_v3(tmp_path, s3_bucket, client):
    ref = np.arange(30 * 20, dtype="i4").reshape(30, 20)
    src = exzarr.create(tmp_path / "src.zarr", shape=ref.shape, chunks=(10, 10), dtype="i4", zarr_format=2)
    src[...] = ref
    url, so = f"{s3_bucket.url}/copy.zarr", s3_bucket.storage_options
    out = exzarr.copy(src, url, storage_options=so, zarr_format=3, chunks=(6, 8), executor=client)
    assert out.zarr_format == 3
    back = exzarr.open_array(url, storage_options=so)
    assert back.chunks == (6, 8)
    np.testing.assert_array_equal(back[...], ref)
