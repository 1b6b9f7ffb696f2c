"""A program that ends while (or right after) cloud requests are in flight exits cleanly.

obstore finishes requests on its own (Rust) threads, which take the GIL to hand results back;
one that takes it after the interpreter began shutting down was ended mid-Rust and killed the
process (SIGABRT or SIGSEGV, no message): about 1 exit in 3 with requests in flight, and the
CI failure of examples/s3_ingest.py right after its last PUT (1 in 7 on a loaded machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import exzarr
from exzarr.storage import make_store

CHILD = textwrap.dedent(
    """
    import json, sys
    from exzarr.storage import make_store

    url, opts, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    store, base = make_store(url, storage_options=opts, mode="w")
    prefix = f"{base}/" if base else ""
    items = [(f"{prefix}k{i}", b"v" * 1000) for i in range(60)]
    store.put_many(items)  # the example's pattern: exit right after the last request returned
    if mode == "in-flight":  # take the first of 60 reads and leave with the others in flight
        next(iter(store.fetch([k for k, _ in items])))
    print("leaving", flush=True)
    """
)


def _children(bucket, mode: str, runs: int) -> None:
    opts = json.dumps(bucket.storage_options)
    for run in range(runs):
        url = f"{bucket.url}/{mode}{run}"
        proc = subprocess.run([sys.executable, "-c", CHILD, url, opts, mode], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"run {run}: exit {proc.returncode}: {proc.stdout}{proc.stderr}"
        store, base = make_store(url, storage_options=bucket.storage_options)
        prefix = f"{base}/" if base else ""
        stored = sorted(store.list_prefix(prefix)) if prefix else sorted(store.list())
        assert stored == sorted(f"{prefix}k{i}" for i in range(60)), f"run {run}: lost writes"


def test_exit_with_requests_in_flight(s3_bucket):
    _children(s3_bucket, "in-flight", 10)  # before the fix: 3 or 4 of 10 such exits crashed


def test_exit_right_after_the_last_request(s3_bucket):
    _children(s3_bucket, "after", 6)


def test_cancelled_requests_give_back_their_slots(s3_bucket):
    """A caller that stops waiting (a timeout, a stopped stream) frees its request slot: before, each
    cancelled request kept one, and after ``max_in_flight`` of them every call on the store hung."""
    import asyncio

    from exzarr.storage import aioloop

    store, base = make_store(s3_bucket.url, storage_options=s3_bucket.storage_options, mode="w")

    async def cancel_many() -> None:
        for i in range(3 * store.max_in_flight):
            task = asyncio.ensure_future(store._get(f"{base}/missing{i}"))
            await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    aioloop.run(cancel_many())
    assert store.limit.in_flight == 0
    a = exzarr.zeros(
        (4,), chunks=(2,), dtype="i4", store=f"{s3_bucket.url}/after.zarr", storage_options=s3_bucket.storage_options
    )
    a[:] = [1, 2, 3, 4]
    assert a[...].tolist() == [1, 2, 3, 4]
