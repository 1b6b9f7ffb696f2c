"""Minimal reproducers of the defects the fuzz suite found, one test each (all fixed since).

They state the behaviour the fuzz oracle requires (an :class:`~exzarr.errors.ExzarrError`, or the
right data): regression tests, marked ``fuzz_finding`` so they can be selected or listed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import zstandard

import exzarr
from exzarr.errors import ChunkDecodeError, ExzarrError

pytestmark = pytest.mark.fuzz_finding


def _v3_array_with(mutate) -> exzarr.MemoryStore:
    a = exzarr.create(shape=(6, 10), chunks=(4, 4), dtype="i4")
    a[...] = np.arange(60).reshape(6, 10)
    doc = json.loads(a.store.get("zarr.json"))
    mutate(doc)
    a.store.set("zarr.json", json.dumps(doc).encode())
    return a.store


def test_integer_literal_over_4300_digits_is_a_metadata_error():
    """``json.loads`` refuses int literals above ``sys.get_int_max_str_digits()`` with a bare
    ``ValueError``, which escapes ``exzarr.open`` (every metadata document, every format)."""
    store = _v3_array_with(lambda d: None)
    store.set("zarr.json", store.get("zarr.json").replace(b'"fill_value": 0', b'"fill_value": ' + b"9" * 5000))
    with pytest.raises(ExzarrError):
        exzarr.open(store, mode="r")


def test_chunk_shape_beyond_float_range_is_refused():
    """A chunk side of 10**400 is accepted by ``open``; the read then raises ``OverflowError``."""

    def mutate(d):
        d["chunk_grid"]["configuration"]["chunk_shape"] = [10**400, 4]

    store = _v3_array_with(mutate)
    with pytest.raises(ExzarrError):
        exzarr.open(store, mode="r")[:3, :3]


def test_non_finite_sharding_chunk_shape_is_a_metadata_error():
    """``"chunk_shape": [Infinity, 5]`` in a sharding codec: ``int(inf)`` raises ``OverflowError``
    in ``ShardingCodec.__init__``, which only catches ``TypeError``/``ValueError``."""
    a = exzarr.create(shape=(6, 10), chunks=(2, 5), shards=(4, 10), dtype="f4")
    raw = a.store.get("zarr.json").decode()
    doc = json.loads(raw)
    doc["codecs"][0]["configuration"]["chunk_shape"] = "@INF@"
    a.store.set("zarr.json", json.dumps(doc).replace('"@INF@"', "[Infinity, 5]").encode())
    with pytest.raises(ExzarrError):
        exzarr.open(a.store, mode="r")


@pytest.mark.parametrize("shape", [[2**63, 0], [0, 2**62]])
def test_dimension_beyond_int64_is_refused(shape):
    """``shape: [2**63, 0]`` (or ``[0, 2**62]``) opens; ``a[...]`` then raises NumPy's bare
    ``ValueError`` ("Maximum allowed dimension exceeded" / "array is too big")."""

    def mutate(d):
        d["shape"] = shape

    store = _v3_array_with(mutate)
    with pytest.raises(ExzarrError):
        exzarr.open(store, mode="r")[...]


def test_sharded_chunk_grid_beyond_int64_is_a_metadata_error():
    """``chunk_grid`` ``[2**63, 0]`` on a sharded array: the codec pipeline is resolved (and a
    ``(2**62, 0, 2)`` index probe allocated) before the chunk shape is validated, so ``open``
    raises NumPy's ``ValueError: array is too big`` (``[4, 0]`` alone is a proper MetadataError)."""
    a = exzarr.create(shape=(6, 10), chunks=(2, 5), shards=(4, 10), dtype="f4")
    doc = json.loads(a.store.get("zarr.json"))
    doc["shape"] = [0, 0]
    doc["chunk_grid"]["configuration"]["chunk_shape"] = [2**63, 0]
    a.store.set("zarr.json", json.dumps(doc).encode())
    with pytest.raises(ExzarrError):
        exzarr.open(a.store, mode="r")


@pytest.mark.parametrize("entry", [5, [["x"]], "text"])
def test_consolidated_v2_attributes_that_are_not_an_object(entry):
    """A ``.zmetadata`` whose ``a/.zattrs`` is not a JSON object: ``TypeError``/``ValueError``
    from ``dict(attrs)`` in ``v2.parse_zarray`` escape ``exzarr.open``."""
    g = exzarr.create_group(zarr_format=2)
    g.create_array("a", shape=(3,), chunks=(3,), dtype="f8")
    exzarr.consolidate_metadata(g.store)
    doc = json.loads(g.store.get(".zmetadata"))
    doc["metadata"]["a/.zattrs"] = entry
    g.store.set(".zmetadata", json.dumps(doc).encode())
    with pytest.raises(ExzarrError):
        exzarr.open(g.store, mode="r")


@pytest.mark.parametrize("tail", ["frame", "junk"])
def test_bytes_after_a_zstd_frame_are_not_ignored(tail):
    """A zstd frame that states its content size is decoded alone; whatever follows it (another
    frame, junk) is silently dropped. numcodecs rejects such a chunk, and the fuzz suite saw corrupted
    chunks read back as *wrong values* this way (a flipped bit in a block header ends the frame early
    and the rest is ignored)."""
    a = exzarr.create(shape=(8,), chunks=(8,), dtype="f8", codecs=[{"name": "bytes"}, {"name": "zstd"}])
    a[...] = np.arange(8.0)
    extra = zstandard.ZstdCompressor(write_content_size=True).compress(np.ones(8).tobytes()) if tail == "frame" else b"junk"
    a.store.set("c/0", a.store.get("c/0") + extra)
    with pytest.raises(ChunkDecodeError):
        a[...]


def test_reading_an_empty_array_with_a_huge_dimension_returns_at_once():
    """``shape: [2**40, 0]`` has no elements, yet ``a[...]`` works through the 2**38 chunk rows
    one by one (about 0.7 us per row: hours). Run in a subprocess with a 5 s budget."""
    code = textwrap.dedent(
        """
        import json, exzarr
        a = exzarr.create(shape=(6, 10), chunks=(4, 4), dtype="i4")
        d = json.loads(a.store.get("zarr.json")); d["shape"] = [2**40, 0]
        a.store.set("zarr.json", json.dumps(d).encode())
        try:
            print(exzarr.open(a.store, mode="r")[...].shape)
        except exzarr.errors.ExzarrError as exc:
            print("refused", exc)
        """
    )
    try:
        subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=5, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("a[...] of a zero-element array with shape [2**40, 0] did not finish within 5 s")
