"""Fuzzing exzarr's readers with mutated chunks, shards and metadata documents.

What is fuzzed
--------------
* **Chunk bytes** (``test_chunk_mutations``): a known array is written with exzarr for every
  codec configuration in :mod:`fuzz.fixtures` (v2: no compressor, zstd, blosc with several
  cnames/shuffles/blocksizes, lz4, zlib, gzip, bz2, lzma, F order, big-endian, vlen-utf8 and
  vlen-bytes, 0-d; v3: bytes (both endians), zstd (with and without checksum), gzip, blosc, crc32c,
  transpose, numcodecs.lz4/bz2, vlen-utf8/bytes, 0-d, and ``sharding_indexed`` with the index at the
  start and at the end, with and without an index crc32c, inner compression, and sharding followed
  by zstd/gzip). One stored object is then mutated: bit flips, byte sets, truncation, extension and
  insertion of junk (up to 70 kB), deleted and duplicated ranges, integer splices into headers and
  trailers (``splice_int``), codec-aware splices (blosc header fields, the lz4 size prefix, the zstd
  frame content size, the gzip ISIZE, the vlen item count), a re-sealed crc32c (``fix_crc``, so the
  bytes behind a checksum are reached), swapping in another chunk, an empty object, a deleted key.
  With ``layer="payload"`` the mutation is applied *inside* the outer compression, and the result
  re-compressed into a valid frame, so the checks after decompression are reached too.
* **Shard indexes** (``test_shard_index_mutations``): ``(offset, nbytes)`` entries set to
  interesting values (0, 2**64-1, past the end, another entry's value...), with or without
  re-sealing the index crc32c, and single inner chunks corrupted inside an otherwise valid shard.
* **Metadata** (``test_metadata_documents``, ``test_metadata_bytes``): ``.zarray``/``.zattrs``/
  ``.zgroup``/``.zmetadata``/``zarr.json`` of arrays, sharded arrays, groups and consolidated
  hierarchies, mutated structurally (deleted keys, replaced values of other types, huge and negative
  numbers, NaN/Infinity tokens, 100 000-deep nesting, 100 000-digit integers, unknown codecs and bad
  codec options, lone surrogates) and as bytes (truncation, flips, BOMs, invalid UTF-8).
* **Huge claims** (``test_huge_claims``): shapes, chunk shapes and shard inner-chunk shapes of
  2**31...2**64 (and 0, and mismatched ranks). Reads are bounded (``a[:3, :3]``, the last 3x3
  corner), so any large allocation is exzarr trusting the metadata.

The oracle
----------
Every read (``a[...]``, 0-2 drawn basic or orthogonal selections, and sometimes a one-element write
into the mutated object followed by a re-read) must either raise an
:class:`exzarr.errors.ExzarrError` or return *exactly the right data*:

* elements outside the mutated object must equal what was written, bit for bit (NaN payloads
  included; for object arrays the same type and value);
* inside it, each (inner) chunk region must equal either what was written (the mutation did not
  change the decoded values: a flipped bit in a zstd literal that maps to the same bytes, junk after
  a complete zlib stream, a truncated-but-absent inner chunk...) **or** what an independent
  reference decoder (``worker.ref_decode``: numcodecs, zstandard, zlib, bz2, lzma and crc32c used
  directly, with its own framing and size checks and no code from exzarr) makes of the mutated bytes.
  A region the reference decoder refuses may not come back changed. So an uncompressed chunk with a
  flipped bit must read as the flipped value, a chunk behind a failing crc32c must raise, and a
  corrupt chunk never reads as the fill value.

A metadata case passes if opening and reading raise only ``ExzarrError``, or succeed
consistently: shapes are non-negative ints, a selection has the shape it should, two reads agree,
and an array whose metadata still parses to the original (attributes aside) reads the original data.

Anything else is a finding: another exception type escaping (``ValueError``, ``TypeError``,
``RecursionError``, ``OverflowError``, ``MemoryError``...), wrong data, a crash of the worker, a
case that takes longer than ``EXZARR_FUZZ_TIMEOUT`` (10 s), or peak RSS growing more than
``EXZARR_FUZZ_RSS_MB`` (256) during one case; the address space of the worker is also capped
(``RLIMIT_AS``, ``EXZARR_FUZZ_AS_MB`` = 1536 MiB above its size after warm-up), so a huge allocation
surfaces as ``MemoryError`` rather than exhausting the machine.

How it runs
-----------
Hypothesis draws cases in this process; one worker interpreter (:mod:`fuzz.worker`, started once
and restarted only after it dies or hangs) executes them. Findings do not stop a test: they are
collected, de-duplicated by signature, and reported together at the end of the test with a
runnable reproducer each. ``EXZARR_FUZZ_EXAMPLES`` (default 600) is the total number of inputs
across the suite; ``EXZARR_FUZZ_SEED`` empty (default) runs derandomized, ``random`` or an integer
seeds Hypothesis (printed in the summary). ``make fuzz`` runs 12 000 inputs with a random seed.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from .fixtures import CHUNK_FIXTURES, META_FIXTURES
from .harness import SEED, Findings, Worker, budget
from .strategies import chunk_cases, huge_claim_cases, meta_cases

SHARDED = [f for f in CHUNK_FIXTURES if f.inner is not None]
HUGE_FIXTURES = ["v2-array", "v3-array", "v3-sharded", "v3-consolidated"]

# shares of EXZARR_FUZZ_EXAMPLES
W_CHUNK, W_INDEX, W_DOC, W_BYTES, W_HUGE = 0.55, 0.10, 0.15, 0.08, 0.12


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    w.start()
    yield w
    w.stop()


def _fuzz(strategy, n: int, findings: Findings, worker: Worker) -> None:
    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def run(case):
        findings.add(worker.run(case))

    if SEED is not None:
        run = seed(SEED)(run)
    run()
    findings.check()


@pytest.mark.parametrize("fx", CHUNK_FIXTURES, ids=lambda f: f.name)
def test_chunk_mutations(worker, fx):
    findings = Findings(f"chunk mutations of {fx.name}")
    _fuzz(chunk_cases(fx), budget(W_CHUNK, len(CHUNK_FIXTURES), 4), findings, worker)


@pytest.mark.parametrize("fx", SHARDED, ids=lambda f: f.name)
def test_shard_index_mutations(worker, fx):
    findings = Findings(f"shard index mutations of {fx.name}")
    _fuzz(chunk_cases(fx, index_only=True), budget(W_INDEX, len(SHARDED), 4), findings, worker)


@pytest.mark.parametrize("name", META_FIXTURES)
def test_metadata_documents(worker, name):
    findings = Findings(f"metadata documents of {name}")
    _fuzz(meta_cases(name, byte_level=False), budget(W_DOC, len(META_FIXTURES), 6), findings, worker)


@pytest.mark.parametrize("name", META_FIXTURES)
def test_metadata_bytes(worker, name):
    findings = Findings(f"metadata bytes of {name}")
    _fuzz(meta_cases(name, structural=False), budget(W_BYTES, len(META_FIXTURES), 4), findings, worker)


@pytest.mark.parametrize("name", HUGE_FIXTURES)
def test_huge_claims(worker, name):
    findings = Findings(f"huge size claims in {name}")
    _fuzz(huge_claim_cases(name), budget(W_HUGE, len(HUGE_FIXTURES), 8), findings, worker)


# ----------------------------------------------------------------------------- the harness itself


@pytest.mark.parametrize("what", ["crash", "hang", "memory", "escape"])
def test_harness_reports_crashes_hangs_memory_and_escapes(what):
    """A selftest case must come back as a finding (and the worker be usable afterwards)."""
    w = Worker()
    try:
        w.start()
        res = w.run({"type": "selftest", "what": what}, timeout=2.0)
        cats = {p["category"] for p in res["problems"]}
        assert cats == {"crash": {"crash"}, "hang": {"hang"}, "memory": {"memory"}, "escape": {"exception"}}[what], res
        res = w.run({"type": "selftest", "what": "ok"})
        assert res["problems"] == []
    finally:
        w.stop()
