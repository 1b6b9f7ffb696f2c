"""Adapters that run the same workload through exzarr and each peer (same data, same process)."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import exzarr

warnings.filterwarnings("ignore")


class Lib:
    name = ""

    def create(self, path: Path, shape, chunks, dtype="float64", level=1, shards=None) -> Any: ...
    def open(self, path: Path) -> Any: ...
    def write(self, arr: Any, data: np.ndarray) -> None: ...
    def read(self, arr: Any, sel: Any = ...) -> np.ndarray: ...


class Exzarr(Lib):
    name = "exzarr"

    def __init__(self, max_concurrency: int | None = None) -> None:
        self.mc = max_concurrency

    def create(self, path, shape, chunks, dtype="float64", level=1, shards=None):
        return exzarr.create(
            path, shape=shape, chunks=chunks, dtype=dtype, compressor={"id": "zstd", "level": level}, mode="w", shards=shards
        )

    def open(self, path):
        return exzarr.open(path, mode="r+")

    def write(self, arr, data):
        arr.set_basic_selection(..., data, max_concurrency=self.mc)

    def read(self, arr, sel=...):
        return arr.get_basic_selection(sel, max_concurrency=self.mc)


class ZarrPython(Lib):
    name = "zarr-python"
    pipeline = "zarr.core.codec_pipeline.BatchedCodecPipeline"

    def _cfg(self):
        import zarr

        return zarr.config.set({"codec_pipeline.path": self.pipeline})

    def create(self, path, shape, chunks, dtype="float64", level=1, shards=None):
        import zarr

        with self._cfg():
            return zarr.create_array(str(path), shape=shape, chunks=chunks, dtype=dtype, shards=shards,
                                     compressors=[zarr.codecs.ZstdCodec(level=level)], overwrite=True)  # fmt: skip

    def open(self, path):
        import zarr

        with self._cfg():
            return zarr.open_array(str(path), mode="r+")

    def write(self, arr, data):
        with self._cfg():
            arr[...] = data

    def read(self, arr, sel=...):
        with self._cfg():
            return arr[sel]


class Zarrs(ZarrPython):
    name = "zarr-python+zarrs"
    pipeline = "zarrs.ZarrsCodecPipeline"


class TensorStore(Lib):
    name = "tensorstore"

    def _spec(self, path):
        return {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}

    def create(self, path, shape, chunks, dtype="float64", level=1, shards=None):
        import tensorstore as ts

        shutil.rmtree(path, ignore_errors=True)
        codecs = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": level}}]
        if shards is not None:
            codecs = [{"name": "sharding_indexed", "configuration": {"chunk_shape": list(chunks), "codecs": codecs}}]
        spec = self._spec(path) | {
            "metadata": {
                "shape": list(shape),
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(shards or chunks)}},
                "data_type": np.dtype(dtype).name,
                "codecs": codecs,
            },
            "create": True,
            "delete_existing": True,
        }
        return ts.open(spec).result()

    def open(self, path):
        import tensorstore as ts

        # a fresh context per open, so no cache is shared between timed runs
        return ts.open(self._spec(path), context=ts.Context({"cache_pool": {"total_bytes_limit": 0}})).result()

    def write(self, arr, data):
        arr.write(data).result()

    def read(self, arr, sel=...):
        return arr[sel].read().result() if sel is not ... else arr.read().result()


def peers() -> list[Lib]:
    out: list[Lib] = [Exzarr(), ZarrPython(), TensorStore()]
    try:
        import zarrs  # noqa: F401

        out.insert(2, Zarrs())
    except ImportError:  # pragma: no cover
        pass
    return out


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs. Dirty pages are flushed first and the disk given a
    moment to finish deferred work (journal commit, discards of freed blocks), all untimed, so a
    library never pays for what another library wrote just before."""
    import os
    import time

    times = []
    for _ in range(repeat):
        os.sync()
        time.sleep(0.2)
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
