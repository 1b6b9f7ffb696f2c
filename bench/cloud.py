"""Object storage benchmark: exzarr, zarr-python 3 (``ObjectStore``) and tensorstore (``s3`` driver)
on the S3 emulator (moto) behind a proxy that adds latency to every request (its own process).

200 chunks of 100x100 float64 (16 MB): write all, read all; repeats interleaved across the
libraries, best time kept. Also: the emulator's own request rate (the ceiling any client meets
here), exzarr sequential vs parallel (the seed's cloud scenario), and 20% of requests answered
``503 SlowDown`` (nothing may be lost; the time against the clean run).

    python bench/cloud.py [--delays 50,200] [--repeat 3] [--out bench/CLOUD.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
warnings.filterwarnings("ignore")

from cloud import servers  # noqa: E402 - the emulator helpers the tests use

import exzarr  # noqa: E402

SHAPE, CHUNKS = (2000, 1000), (100, 100)  # 200 chunks of 100x100 float64
TARGETS = {"read vs tensorstore": 1.6, "read vs zarr-python": 4.0, "write vs zarr-python": 2.5}


class Exz:
    name = "exzarr"

    def __init__(self, s3, endpoint, bucket):
        self.url = f"s3://{bucket}/exzarr.zarr"
        self.so = {**s3.storage_options, "endpoint_url": endpoint}

    def create(self):
        return exzarr.create(self.url, shape=SHAPE, chunks=CHUNKS, dtype="f8", compressor=None, mode="w", storage_options=self.so)

    def open(self):
        return exzarr.open_array(self.url, mode="r+", storage_options=self.so)

    def write(self, a, data):
        a[...] = data

    def read(self, a):
        return a[...]


class ZarrPython:
    name = "zarr-python"

    def __init__(self, s3, endpoint, bucket):
        from obstore.store import S3Store

        self.kw = {**s3.obstore_kwargs, "endpoint": endpoint}
        self.bucket = bucket
        self.S3Store = S3Store

    def _store(self):
        import zarr

        return zarr.storage.ObjectStore(self.S3Store(self.bucket, prefix="zarr-python.zarr", **self.kw))

    def create(self):
        import zarr

        return zarr.create_array(self._store(), shape=SHAPE, chunks=CHUNKS, dtype="f8", compressors=None, overwrite=True)

    def open(self):
        import zarr

        return zarr.open_array(self._store(), mode="r+")

    def write(self, a, data):
        a[...] = data

    def read(self, a):
        return a[...]


class TensorStore:
    name = "tensorstore"

    def __init__(self, s3, endpoint, bucket):
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "x")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "x")
        kv = {"driver": "s3", "bucket": bucket, "path": "tensorstore.zarr/", "endpoint": endpoint, "aws_region": "us-east-1",
              "aws_credentials": {"type": "environment"}}  # fmt: skip
        self.spec = {"driver": "zarr3", "kvstore": kv}

    def create(self):
        import tensorstore as ts

        meta = {"shape": list(SHAPE), "data_type": "float64",
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(CHUNKS)}},
                "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]}  # fmt: skip
        return ts.open({**self.spec, "metadata": meta, "create": True, "delete_existing": True}).result()

    def open(self):
        import tensorstore as ts

        return ts.open(self.spec).result()

    def write(self, a, data):
        a.write(data).result()

    def read(self, a):
        return a.read().result()


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def emulator_rate(s3, bucket: str, n: int = 600) -> float:
    """Requests per second the emulator serves on its own: small gets, many in flight, no proxy."""
    import obstore as obs
    from obstore.store import S3Store

    store = S3Store(bucket, prefix="rate", **s3.obstore_kwargs)
    obs.put(store, "k", b"x" * 1024)

    async def go():
        sem = asyncio.Semaphore(64)

        async def one():
            async with sem:
                await (await obs.get_async(store, "k")).bytes_async()

        await asyncio.gather(*(one() for _ in range(n)))

    t, _ = timed(lambda: asyncio.run(go()))
    return n / t


def compare(s3, bucket: str, delay_ms: int, repeat: int, data: np.ndarray, lines: list[str]) -> tuple[dict, object, object]:
    """Write and read with every library through a proxy adding ``delay_ms``; a table and the ratios."""
    mb = data.nbytes / 1e6
    proxy = servers.start_fault_proxy(s3.endpoint, delay_ms=delay_ms)
    libs = [Exz(s3, proxy.url, bucket), ZarrPython(s3, proxy.url, bucket), TensorStore(s3, proxy.url, bucket)]
    best = {(lib.name, op): float("inf") for lib in libs for op in ("write", "read")}
    arrays = {lib.name: lib.create() for lib in libs}
    for _ in range(repeat):
        for lib in libs:
            t, _ = timed(lambda lib=lib: lib.write(arrays[lib.name], data))
            best[(lib.name, "write")] = min(best[(lib.name, "write")], t)
    opened = {lib.name: lib.open() for lib in libs}
    for _ in range(repeat):
        for lib in libs:
            t, out = timed(lambda lib=lib: lib.read(opened[lib.name]))
            assert np.array_equal(np.asarray(out), data), f"{lib.name} read back wrong data"
            best[(lib.name, "read")] = min(best[(lib.name, "read")], t)
    lines += [
        "",
        f"### {delay_ms} ms per request",
        "",
        "| library | write s | read s | write MB/s | read MB/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for lib in libs:
        w, r = best[(lib.name, "write")], best[(lib.name, "read")]
        lines.append(f"| {lib.name} | {w:.2f} | {r:.2f} | {mb / w:.1f} | {mb / r:.1f} |")
    ratio = {
        "read vs tensorstore": best[("tensorstore", "read")] / best[("exzarr", "read")],
        "read vs zarr-python": best[("zarr-python", "read")] / best[("exzarr", "read")],
        "write vs zarr-python": best[("zarr-python", "write")] / best[("exzarr", "write")],
        "write vs tensorstore": best[("tensorstore", "write")] / best[("exzarr", "write")],
    }
    lines += ["", "| exzarr / peer (same run) | ratio | target |", "|---|---:|---:|"]
    for k, v in ratio.items():
        target = TARGETS.get(k)
        lines.append(f"| {k} | {v:.2f} | {'>= ' + str(target) if target else '-'} |")
    return {"best": best, "ratio": ratio}, proxy, opened["exzarr"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--delays", default="50,200", help="latencies to add, ms (the first also runs the seed and fault cases)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    delays = [int(d) for d in args.delays.split(",")]
    data = np.random.default_rng(0).standard_normal(SHAPE)
    mb = data.nbytes / 1e6
    lines = ["# Object storage benchmark", "",
             f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; exzarr {exzarr.__version__}. "
             f"Generated by `bench/cloud.py` ({time.strftime('%Y-%m-%d')}).",
             "S3 emulator (moto) behind a proxy in its own process adding a fixed latency to every request; "
             f"{SHAPE[0] * SHAPE[1] // (CHUNKS[0] * CHUNKS[1])} chunks of {CHUNKS[0]}x{CHUNKS[1]} float64 ({mb:.0f} MB), no compression; "
             f"best of {args.repeat} interleaved repeats. The emulator, the proxy and the clients share the 2 cores."]  # fmt: skip
    s3 = servers.start_s3()
    proxies = []
    checks = []
    try:
        bucket = "bench"
        s3.create_bucket(bucket)
        rate = emulator_rate(s3, bucket)
        results = {}
        for delay in delays:
            res, proxy, ex = compare(s3, bucket, delay, args.repeat, data, lines)
            proxies.append(proxy)
            results[delay] = (res, proxy, ex)
            checks += [(f"{k} ({delay} ms)", res["ratio"][k], TARGETS[k], res["ratio"][k] >= TARGETS[k]) for k in TARGETS]
        res, proxy, ex = results[delays[0]]
        best = res["best"]
        # the seed's scenario: the same reads one at a time
        n_chunks = 20
        sel = np.s_[0:200, 0:1000]  # 20 chunks
        t_seq, _ = timed(lambda: ex.get_basic_selection(sel, max_concurrency=1))
        t_par, _ = timed(lambda: ex.get_basic_selection(sel))
        requests = ex.store.requests
        t_all, _ = timed(lambda: ex[...])
        rps = (ex.store.requests - requests) / t_all
        # 20% of requests answered 503 SlowDown
        proxy.config(error_rate=0.2, status=503)
        proxy.reset_stats()
        faulty = Exz(s3, proxy.url, bucket)
        faulty.url = f"s3://{bucket}/exzarr-faults.zarr"
        fa = faulty.create()
        t_fw, _ = timed(lambda: faulty.write(fa, data))
        t_fr, got = timed(lambda: faulty.read(faulty.open()))
        exact = np.array_equal(got, data)
        stats = proxy.stats()
        proxy.config(error_rate=0.0)
        clean_total = best[("exzarr", "write")] + best[("exzarr", "read")]
        slowdown = (t_fw + t_fr) / clean_total
        lines += [
            "",
            f"### The seed's cloud scenario: {n_chunks} chunks, {delays[0]} ms per request",
            "",
            "| read | time |",
            "|---|---:|",
            f"| sequential (`max_concurrency=1`) | {t_seq * 1e3:.0f} ms |",
            f"| parallel (default) | {t_par * 1e3:.0f} ms |",
            f"| speedup | {t_seq / t_par:.1f}x |",
            "",
            f"### Limits and faults ({delays[0]} ms per request)",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| requests/s the emulator serves alone (64 in flight, no proxy, 1 KB gets) | {rate:.0f} |",
            f"| requests/s of exzarr's whole read through the proxy | {rps:.0f} ({rps / rate:.0%} of the emulator's rate) |",
            f"| with 20% of requests answered 503: write + read time / clean time | {slowdown:.2f}x (target < 3) |",
            f"| with 20% 503s: data exact | {'yes' if exact else 'NO'} |",
            f"| with 20% 503s: requests / injected 503s / retried by exzarr | {stats['requests']} / {stats['injected_errors']} / {fa.store.retried} |",
            f"| adaptive limit of the faulty run: smallest / peak in flight (of {fa.store.max_in_flight}) | {fa.store.limit.lowest} / {fa.store.limit.peak} |",
        ]
        checks.append(("20% 503s: time / clean time", slowdown, 3.0, slowdown < 3.0 and exact))
        lines += ["", "### Targets", "", "| check | measured | target | met |", "|---|---:|---:|---|"]
        for name, value, target, ok in checks:
            lines.append(f"| {name} | {value:.2f} | {'<' if 'time' in name else '>='} {target} | {'yes' if ok else 'NO'} |")
    finally:
        for p in proxies:
            p.stop()
        s3.stop()
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
