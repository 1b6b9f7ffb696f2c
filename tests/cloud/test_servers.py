"""The cloud test infrastructure works: each emulator, driven by obstore directly, and the fault proxy."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import obstore
import pytest
from obstore.exceptions import AlreadyExistsError, BaseError, NotSupportedError, PermissionDeniedError, PreconditionError

from . import servers
from .servers import _http

DATA = bytes(range(256)) * 4 + b"tail"  # 1028 bytes
FAST_RETRY = {
    "max_retries": 10,
    "backoff": {"init_backoff": timedelta(milliseconds=5), "max_backoff": timedelta(milliseconds=50), "base": 2},
    "retry_timeout": timedelta(seconds=20),
}
NO_RETRY = {"max_retries": 0}
WRITABLE = ["s3", "gcs", "azure"]


@pytest.fixture(params=WRITABLE)
def bucket(request: pytest.FixtureRequest):
    return request.getfixturevalue({"s3": "s3_bucket", "gcs": "gcs_bucket", "azure": "azure_container"}[request.param])


def _paths(store, prefix: str | None = None) -> list[str]:
    return sorted(m["path"] for batch in obstore.list(store, prefix=prefix) for m in batch)


# -- object stores: S3 (moto), GCS (fake-gcs-server + shim), Azure (Azurite) ---------------------


def test_put_get_head(bucket):
    store = bucket.store(retry_config=NO_RETRY)
    assert _paths(store) == []  # a fresh bucket per test
    result = obstore.put(store, "dir/a.bin", DATA)
    assert result["e_tag"]
    assert bytes(obstore.get(store, "dir/a.bin").bytes()) == DATA
    meta = obstore.head(store, "dir/a.bin")
    assert meta["size"] == len(DATA)
    assert meta["e_tag"] == result["e_tag"]
    with pytest.raises(FileNotFoundError):
        obstore.get(store, "dir/missing.bin")


def test_ranges(bucket):
    store = bucket.store(retry_config=NO_RETRY)
    obstore.put(store, "r.bin", DATA)
    assert bytes(obstore.get_range(store, "r.bin", start=10, end=20)) == DATA[10:20]
    assert bytes(obstore.get_range(store, "r.bin", start=1000, length=28)) == DATA[1000:]
    assert bytes(obstore.get_range(store, "r.bin", start=1020, end=5000)) == DATA[1020:]  # clipped at the end
    parts = obstore.get_ranges(store, "r.bin", starts=[0, 100, 1024], ends=[4, 300, 1028], coalesce=0)
    assert [bytes(p) for p in parts] == [DATA[0:4], DATA[100:300], DATA[1024:1028]]
    assert bytes(obstore.get(store, "r.bin", options={"range": {"offset": 1000}}).bytes()) == DATA[1000:]
    if bucket.kind == "azure":
        # object_store refuses suffix ranges for Azure client-side (the Blob API has no bytes=-n);
        # callers need head() + an offset range instead
        with pytest.raises(NotSupportedError, match="suffix"):
            obstore.get(store, "r.bin", options={"range": {"suffix": 6}})
    else:
        assert bytes(obstore.get(store, "r.bin", options={"range": {"suffix": 6}}).bytes()) == DATA[-6:]


def test_list_and_delete(bucket):
    store = bucket.store(retry_config=NO_RETRY)
    for key in ("a/x.bin", "a/y.bin", "a/sub/z.bin", "b.bin"):
        obstore.put(store, key, key.encode())
    assert _paths(store) == ["a/sub/z.bin", "a/x.bin", "a/y.bin", "b.bin"]
    assert _paths(store, "a/sub") == ["a/sub/z.bin"]
    listing = obstore.list_with_delimiter(store, "a")
    assert sorted(listing["common_prefixes"]) == ["a/sub"]
    assert sorted(m["path"] for m in listing["objects"]) == ["a/x.bin", "a/y.bin"]
    obstore.delete(store, "a/x.bin")
    obstore.delete(store, ["a/y.bin", "b.bin"])
    assert _paths(store) == ["a/sub/z.bin"]
    with pytest.raises(FileNotFoundError):
        obstore.get(store, "a/x.bin")


def test_put_create_and_update_modes(bucket):
    store = bucket.store(retry_config=NO_RETRY)
    first = obstore.put(store, "k", b"one", mode="create")
    with pytest.raises(AlreadyExistsError):
        obstore.put(store, "k", b"two", mode="create")
    assert bytes(obstore.get(store, "k").bytes()) == b"one"
    version = {k: first[k] for k in ("e_tag", "version") if first.get(k) is not None}
    second = obstore.put(store, "k", b"three", mode=version)
    with pytest.raises(PreconditionError):  # stale e_tag / generation
        obstore.put(store, "k", b"four", mode=version)
    assert bytes(obstore.get(store, "k").bytes()) == b"three"
    assert second["e_tag"] != first["e_tag"]


def test_copy(bucket):
    store = bucket.store(retry_config=NO_RETRY)
    obstore.put(store, "src", DATA)
    obstore.copy(store, "src", "dst")
    assert bytes(obstore.get(store, "dst").bytes()) == DATA
    if bucket.kind == "s3":
        return  # S3 has no copy-if-not-exists without extra configuration
    with pytest.raises(AlreadyExistsError):
        obstore.copy(store, "src", "dst", overwrite=False)


def test_async_roundtrip(bucket):
    store = bucket.store(retry_config=NO_RETRY)

    async def go() -> list[bytes]:
        await asyncio.gather(*(obstore.put_async(store, f"k{i}", DATA[i:]) for i in range(8)))
        results = await asyncio.gather(*(obstore.get_async(store, f"k{i}") for i in range(8)))
        return [bytes(await r.bytes_async()) for r in results]

    assert asyncio.run(go()) == [DATA[i:] for i in range(8)]


def test_buckets_are_unique(s3_bucket, s3_server):
    other = servers.unique_name("other")
    assert other != s3_bucket.name
    s3_server.create_bucket(other)
    obstore.put(s3_bucket.store(), "only-here", b"1")
    from obstore.store import S3Store

    assert _paths(S3Store(other, **s3_server.obstore_kwargs)) == []
    s3_server.delete_bucket(other)


def test_moto_reset(s3_server):
    name = servers.unique_name("reset")
    s3_server.create_bucket(name)
    from obstore.store import S3Store

    store = S3Store(name, **s3_server.obstore_kwargs, retry_config=NO_RETRY)
    obstore.put(store, "k", b"v")
    s3_server.reset()
    with pytest.raises(FileNotFoundError):  # the bucket is gone (S3 NoSuchBucket maps to NotFound)
        obstore.put(store, "k", b"v")


def test_connection_parameters(s3_server, gcs_server, azure_server, http_server):
    assert s3_server.storage_options == {"endpoint_url": s3_server.endpoint, "key": "x", "secret": "x", "region": "us-east-1"}
    assert s3_server.obstore_kwargs["client_options"] == {"allow_http": True}
    assert gcs_server.storage_options == {"endpoint_url": gcs_server.endpoint, "token": "anon"}
    assert gcs_server.obstore_kwargs["base_url"] == gcs_server.endpoint
    assert azure_server.storage_options == {
        "account_name": "devstoreaccount1",
        "account_key": servers.AZURITE_KEY,
        "endpoint": azure_server.endpoint,
    }
    assert azure_server.endpoint.endswith("/devstoreaccount1")
    assert http_server.storage_options == {}
    for srv in (s3_server, gcs_server, azure_server, http_server):
        assert srv.endpoint.startswith("http://127.0.0.1:")
    for srv in (s3_server, gcs_server, azure_server):
        assert srv.pids and all(servers.os.getpgid(pid) == pid for pid in srv.pids)  # own process groups


# -- HTTP (read-only, stdlib range server) ------------------------------------------------------


def test_http_get_ranges_list(http_dir):
    http_dir.write("a.bin", DATA)
    http_dir.write("d/b.bin", b"xyz")
    store = http_dir.store(retry_config=NO_RETRY)
    assert bytes(obstore.get(store, "a.bin").bytes()) == DATA
    assert obstore.head(store, "a.bin")["size"] == len(DATA)
    assert bytes(obstore.get_range(store, "a.bin", start=10, end=20)) == DATA[10:20]
    parts = obstore.get_ranges(store, "a.bin", starts=[0, 500], ends=[3, 510], coalesce=0)
    assert [bytes(p) for p in parts] == [DATA[0:3], DATA[500:510]]
    assert bytes(obstore.get(store, "a.bin", options={"range": {"suffix": 4}}).bytes()) == b"tail"
    assert bytes(obstore.get(store, "a.bin", options={"range": {"offset": 1024}}).bytes()) == b"tail"
    with pytest.raises(FileNotFoundError):
        obstore.get(store, "missing.bin")
    # object_store's HTTPStore.list reports the server path (including the store URL's path), not
    # paths relative to the store URL; see the report
    top = http_dir.url.rsplit("/", 1)[1]
    assert _paths(store) == [f"{top}/a.bin", f"{top}/d/b.bin"]
    assert _paths(store, "d") == [f"{top}/d/b.bin"]
    with pytest.raises(BaseError):  # read-only: DELETE answers 405
        obstore.delete(store, "a.bin")


def test_http_range_server_status_codes(http_dir):
    http_dir.write("f", b"0123456789")
    url = f"{http_dir.url}/f"

    def get(spec: str | None):
        return _http("GET", url, headers={"Range": spec} if spec else {})

    assert get(None)[0] == 200 and get(None)[2] == b"0123456789"
    status, headers, body = get("bytes=2-4")
    assert (status, headers["content-range"], body) == (206, "bytes 2-4/10", b"234")
    assert get("bytes=7-")[0::2] == (206, b"789")
    assert get("bytes=-3")[0::2] == (206, b"789")
    assert get("bytes=-30")[0::2] == (206, b"0123456789")  # longer suffix: the whole file
    assert get("bytes=8-100")[0::2] == (206, b"89")
    status, headers, _ = get("bytes=10-")
    assert (status, headers["content-range"]) == (416, "bytes */10")
    assert get("bytes=-0")[0] == 416
    assert get("bytes=5-2")[0::2] == (200, b"0123456789")  # invalid: ignored
    assert _http("HEAD", url, headers={"Range": "bytes=1-2"})[1]["content-length"] == "2"


# -- the fault proxy ------------------------------------------------------------------------------


def test_fault_proxy_retries_absorb_503s(s3_bucket, fault_proxy):
    direct = s3_bucket.store()
    for i in range(100):
        obstore.put(direct, f"k{i}", DATA[i:])
    proxy = fault_proxy(s3_bucket.endpoint, error_rate=0.2, status=503, seed=1)
    store = s3_bucket.store(endpoint=proxy.url, retry_config=FAST_RETRY)
    for i in range(100):
        assert bytes(obstore.get(store, f"k{i}").bytes()) == DATA[i:]
    stats = proxy.stats()
    assert stats["injected_errors"] > 0
    assert stats["by_status"]["503"] == stats["injected_errors"]
    assert stats["by_status"]["200"] == 100
    assert stats["requests"] == stats["forwarded"] + stats["injected_errors"] == 100 + stats["injected_errors"]


def test_fault_proxy_resets_are_retried(s3_bucket, fault_proxy):
    obstore.put(s3_bucket.store(), "k", DATA)
    proxy = fault_proxy(s3_bucket.endpoint, reset_rate=0.3, seed=2)
    store = s3_bucket.store(endpoint=proxy.url, retry_config=FAST_RETRY)
    for _ in range(20):
        assert bytes(obstore.get(store, "k").bytes()) == DATA
    stats = proxy.stats()
    assert stats["resets"] > 0 and stats["forwarded"] == 20


def test_fault_proxy_permanent_403_fails_fast(s3_bucket, fault_proxy):
    obstore.put(s3_bucket.store(), "k", DATA)
    proxy = fault_proxy(s3_bucket.endpoint, fail_status=403)
    store = s3_bucket.store(endpoint=proxy.url)  # obstore's default retries: 4xx is not retried
    t0 = time.monotonic()
    with pytest.raises(PermissionDeniedError):
        obstore.get(store, "k")
    assert time.monotonic() - t0 < 1.0
    assert proxy.stats()["permanent_errors"] == 1


def test_fault_proxy_runtime_config(s3_bucket, fault_proxy):
    obstore.put(s3_bucket.store(), "k", DATA)
    obstore.put(s3_bucket.store(), "secret/k", DATA)
    proxy = fault_proxy(s3_bucket.endpoint)
    store = s3_bucket.store(endpoint=proxy.url, retry_config=NO_RETRY)
    assert bytes(obstore.get(store, "k").bytes()) == DATA
    assert proxy.config(delay_ms=150)["delay_ms"] == 150
    t0 = time.monotonic()
    obstore.get(store, "k")
    assert time.monotonic() - t0 >= 0.15
    proxy.config(delay_ms=0, error_rate=1.0, status=500)
    with pytest.raises(BaseError):
        obstore.get(store, "k")
    proxy.config(error_rate=0.0, fail_status=403, fail_path_regex="/secret/")
    assert bytes(obstore.get(store, "k").bytes()) == DATA
    with pytest.raises(PermissionDeniedError):
        obstore.get(store, "secret/k")
    stats = proxy.stats()
    assert stats["by_status"] == {"200": 3, "500": 1, "403": 1}
    assert proxy.reset_stats()["requests"] == 0
    with pytest.raises(servers.EmulatorError):
        proxy.config(no_such_setting=1)


def test_fault_proxy_forwards_to_every_backend(bucket, fault_proxy):
    """Signed requests (SigV4, SharedKey, bearer) pass through the proxy unchanged."""
    upstream = bucket.server.endpoint
    proxy = fault_proxy(upstream, delay_ms=5)
    if bucket.kind == "s3":
        store = bucket.store(endpoint=proxy.url)
    elif bucket.kind == "gcs":
        store = bucket.store(base_url=proxy.url)
    else:
        store = bucket.store(endpoint=f"{proxy.url}/{servers.AZURITE_ACCOUNT}")
    obstore.put(store, "p/k", DATA)
    assert bytes(obstore.get_range(store, "p/k", start=3, end=9)) == DATA[3:9]
    assert _paths(store) == ["p/k"]
    obstore.delete(store, "p/k")
    stats = proxy.stats()
    assert stats["requests"] == stats["forwarded"] >= 4
    assert not set(stats["by_status"]) - {"200", "201", "202", "204", "206"}
