"""The ``exzarr`` command: most cases through click's CliRunner (in-process), a handful through the
installed console script and ``python -m exzarr`` (real processes, real exit codes and streams)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

import exzarr
from exzarr.cli import cli, parse_storage_options

SCRIPT = Path(sys.executable).parent / "exzarr"


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def script(*args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"{SCRIPT} is missing: pip install -e . (the console script)"
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture
def tree(tmp_path):
    """A v3 group with a plain array and a sharded one, and a v2 array beside it."""
    root = tmp_path / "root.zarr"
    g = exzarr.create_group(root, attributes={"title": "demo"})
    t = g.create_array("climate/temperature", shape=(100, 100), chunks=(10, 10), dtype="f4", fill_value=-1.0)
    t[:50] = np.arange(5000, dtype="f4").reshape(50, 100)
    s = g.create_array("sharded", shape=(40, 40), chunks=(10, 10), shards=(20, 20), dtype="i2")
    s[...] = np.arange(1600).reshape(40, 40)
    v2 = exzarr.save(tmp_path / "v2.zarr", np.arange(1000.0).reshape(20, 50), chunks=(10, 10), zarr_format=2)
    return root, tmp_path / "v2.zarr", t, s, v2


# ----------------------------------------------------------------------------- info, tree, ls


def test_info_text_on_v2_v3_sharded_and_group(tree):
    root, v2, *_ = tree
    r = invoke("info", v2)
    assert r.exit_code == 0, r.output
    assert "Zarr format        : 2" in r.stdout and "Shape              : (20, 50)" in r.stdout
    assert "Chunks initialized : 10/10" in r.stdout and "Storage ratio" in r.stdout and "zstd(" in r.stdout
    r = invoke("info", root / "climate" / "temperature")
    assert r.exit_code == 0 and "Zarr format        : 3" in r.stdout and "Chunks initialized : 50/100" in r.stdout
    assert any(line.startswith("Fill value") and "-1.0" in line for line in r.stdout.splitlines())
    r = invoke("info", root / "sharded")
    assert "Shard shape        : (20, 20)" in r.stdout and "sharding_indexed(chunk_shape=(10, 10)" in r.stdout
    assert "Chunks initialized : 16/16" in r.stdout
    r = invoke("info", root)
    assert r.exit_code == 0 and "Type               : Group" in r.stdout and "No. arrays         : 1" in r.stdout


def test_info_json_is_only_json(tree):
    root, v2, *_ = tree
    r = script("info", root / "sharded", "--json")  # the real console script: stdout is JSON and nothing else
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["type"] == "array" and doc["shards"] == [20, 20] and doc["chunks"] == [10, 10] and doc["dtype"] == "int16"
    assert doc["chunks_initialized"] == 16 and doc["nbytes"] == 3200 and doc["nbytes_stored"] > 0
    doc = json.loads(invoke("info", "--json", v2).stdout)
    assert doc["zarr_format"] == 2 and doc["compressors"][0].startswith("zstd(") and doc["storage_ratio"] > 1
    doc = json.loads(invoke("info", "--json", root).stdout)
    assert doc["type"] == "group" and doc["arrays"] == ["sharded"] and doc["groups"] == ["climate"]


def test_tree_and_depth(tree):
    root, v2, *_ = tree
    r = invoke("tree", root)
    assert r.exit_code == 0
    assert r.stdout.splitlines() == ["/", "├── climate", "│   └── temperature (100, 100) float32", "└── sharded (40, 40) int16"]
    assert invoke("tree", root, "--depth", "1").stdout.splitlines() == ["/", "├── climate", "└── sharded (40, 40) int16"]
    assert "(an array)" in invoke("tree", v2).stdout
    assert invoke("tree", root, "--depth", "-1").exit_code == 2


def test_ls_group_and_array(tree):
    root, v2, *_ = tree
    r = invoke("ls", root)
    assert r.exit_code == 0
    assert r.stdout.splitlines() == ["group  climate", "array  sharded  (40, 40) int16"]
    assert invoke("ls", root / "climate").stdout.splitlines() == ["array  temperature  (100, 100) float32"]
    assert invoke("ls", v2).stdout.strip() == "/ is an array: (20, 50) float64"


# ----------------------------------------------------------------------------- copy, consolidate


def test_copy_changes_format_chunks_shards_compressor(tree, tmp_path):
    root, v2, _, _, src = tree
    dst = tmp_path / "v3.zarr"
    r = invoke("copy", v2, dst, "--zarr-format", "3", "--chunks", "5,25", "--shards", "10,50", "--compressor", "blosc")
    assert r.exit_code == 0, r.output
    assert "copied array" in r.stdout
    b = exzarr.open_array(dst)
    assert (b.zarr_format, b.chunks, b.shards) == (3, (5, 25), (10, 50))
    assert "blosc" in b.info.serializer
    np.testing.assert_array_equal(b[...], src[...])
    # back to v2, unsharded, uncompressed, new chunks
    r = invoke(
        "copy", dst, tmp_path / "back.zarr", "--zarr-format", "2", "--shards", "none", "--compressor", "none", "--chunks", "7,7"
    )
    assert r.exit_code == 0, r.output
    c = exzarr.open_array(tmp_path / "back.zarr")
    assert (c.zarr_format, c.chunks, c.shards, c.metadata.compressor) == (2, (7, 7), None, None)
    np.testing.assert_array_equal(c[...], src[...])
    # a whole group tree, numcodecs JSON compressor
    r = invoke("copy", root, tmp_path / "tree2.zarr", "--compressor", '{"id": "zlib", "level": 1}')
    assert r.exit_code == 0, r.output
    for name in ("climate/temperature", "sharded"):
        np.testing.assert_array_equal(exzarr.open_array(tmp_path / "tree2.zarr" / name)[...], exzarr.open_array(root / name)[...])


def test_copy_refuses_to_replace_without_overwrite(tree, tmp_path):
    _, v2, _, _, src = tree
    dst = tmp_path / "d.zarr"
    exzarr.save(dst, np.ones(3))
    r = invoke("copy", v2, dst)
    assert r.exit_code == 1
    assert r.stderr.startswith("exzarr: error: ") and "--overwrite" in r.stderr and "Traceback" not in r.output
    np.testing.assert_array_equal(exzarr.load(dst), np.ones(3))  # untouched
    assert invoke("copy", v2, dst, "--overwrite").exit_code == 0
    np.testing.assert_array_equal(exzarr.load(dst), src[...])


def test_consolidate_then_zarr_python_reads_it(tree):
    root, *_ = tree
    r = invoke("consolidate", root)
    assert r.exit_code == 0, r.output
    assert "consolidated" in r.stdout
    zg = zarr.open_consolidated(str(root), mode="r")
    assert zg.metadata.consolidated_metadata is not None
    assert set(zg.metadata.consolidated_metadata.metadata) == {"climate", "sharded"}  # children nest inside "climate"
    t = zg["climate/temperature"]
    assert t.shape == (100, 100) and float(t[0, 1]) == 1.0 and float(t[99, 99]) == -1.0
    np.testing.assert_array_equal(zg["sharded"][...], np.arange(1600).reshape(40, 40))
    assert invoke("info", root).stdout.count("Consolidated       : True") == 1


# ----------------------------------------------------------------------------- verify


def test_verify_clean_tree(tree):
    root, v2, *_ = tree
    r = invoke("verify", root)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("OK: checked 2 arrays, 66 chunks, 4 shard indexes: no damage")
    out = invoke("verify", v2).stdout
    assert out.startswith("OK: checked 1 array, 10 chunks: no damage detected (1 array without a checksum codec")


def test_verify_lists_every_damaged_key(tree):
    root, *_ = tree
    chunk = root / "climate" / "temperature" / "c" / "1" / "2"
    raw = bytearray(chunk.read_bytes())
    raw[8:40] = bytes(b ^ 0xFF for b in raw[8:40])  # flipped bytes inside the zstd frame
    chunk.write_bytes(bytes(raw))
    shard = root / "sharded" / "c" / "1" / "0"
    shard.write_bytes(shard.read_bytes()[:-5])  # the index (at the end) cut short
    inner = root / "sharded" / "c" / "0" / "1"
    raw = bytearray(inner.read_bytes())
    raw[4:30] = bytes(b ^ 0xFF for b in raw[4:30])  # the first inner chunk's bytes
    inner.write_bytes(bytes(raw))
    r = script("verify", root)  # the real console script
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("damaged: climate/temperature/c/1/2: ChunkDecodeError")
    assert lines[1].startswith("damaged: sharded/c/0/1 (inner chunk (0, 0)): ChunkDecodeError")
    assert lines[2].startswith("damaged: sharded/c/1/0: shard index: ") and "checksum" in lines[2]
    assert lines[3] == "DAMAGED: 3 damaged objects; checked 2 arrays, 62 chunks, 4 shard indexes"
    assert "Traceback" not in r.stderr
    doc = json.loads(invoke("verify", root, "--json").stdout)
    assert not doc["ok"]
    assert [(d["key"], d["part"], d["inner"]) for d in doc["damaged"]] == [
        ("climate/temperature/c/1/2", "chunk", None),
        ("sharded/c/0/1", "inner", [0, 0]),
        ("sharded/c/1/0", "index", None),
    ]


def test_verify_python_api_and_missing_chunks(tmp_path):
    a = exzarr.create(tmp_path / "a.zarr", shape=(30,), chunks=(10,), dtype="i4", compressor=None)
    a[:10] = 5  # chunks 1 and 2 are missing: fine
    rep = exzarr.verify(a, max_concurrency=1)
    assert rep.ok and rep.chunks == 1 and rep.arrays == 1
    (tmp_path / "a.zarr" / "c" / "0").write_bytes(b"\x00" * 7)  # the wrong size for 10 int32
    rep = exzarr.verify(exzarr.open(tmp_path / "a.zarr"), progress=lambda done, total: None)
    assert not rep.ok and [d.key for d in rep.damaged] == ["c/0"] and "ChunkDecodeError" in rep.damaged[0].reason
    with pytest.raises(TypeError, match="expected an exzarr Array or Group"):
        exzarr.verify(42)  # type: ignore[arg-type]
    with pytest.raises(exzarr.errors.NodeNotFoundError):
        exzarr.verify(tmp_path / "missing.zarr")
    assert [d.key for d in exzarr.verify(tmp_path / "a.zarr").damaged] == ["c/0"]  # a path works too


def test_verify_reports_a_child_with_broken_metadata(tree):
    root, *_ = tree
    (root / "climate" / "temperature" / "zarr.json").write_text("{not json")
    r = invoke("verify", root)
    assert r.exit_code == 1
    assert "damaged: climate/temperature: metadata: " in r.stdout
    assert "checked 1 array" in r.stdout  # the sharded array was still checked


def test_verify_warns_about_orphaned_data_and_stray_chunk_keys(tree):
    """Data no read can reach is a warning, printed on stdout (exit code 0), and in --json: a
    child whose zarr.json was deleted while its chunks remain, and keys inside an array that are
    not chunk keys of its 10x10 grid (outside it, unparseable, the wrong number of dimensions)."""
    root, *_ = tree
    (root / "sharded" / "zarr.json").unlink()  # 8 shards stay behind
    temp = root / "climate" / "temperature"
    for key in ("c/10/0", "c/0/99", "c/zz/0", "c/9/9/0", "c/01/0"):
        (temp / key).parent.mkdir(parents=True, exist_ok=True)
        (temp / key).write_bytes(b"stray")
    r = invoke("verify", root)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[:4] == [
        "warning: orphaned data without metadata: 'sharded/' holds keys but no zarr.json (a deleted array or group?);"
        " not checked",
        "warning: /climate/temperature: 2 stored keys outside the chunk grid (10, 10) (never read; left behind when the"
        " array shrank?): 'climate/temperature/c/0/99', 'climate/temperature/c/10/0'",
        "warning: /climate/temperature: 1 stored key with the wrong number of dimensions for a 2-d array (never read):"
        " 'climate/temperature/c/9/9/0'",
        "warning: /climate/temperature: 2 stored keys that are not chunk keys of this array (never read):"
        " 'climate/temperature/c/01/0', 'climate/temperature/c/zz/0'",
    ]
    assert len(lines) == 5 and lines[4].startswith("OK: checked 1 array, 50 chunks: no damage")
    assert lines[4].endswith("; 4 warnings")
    assert r.stderr == ""
    doc = json.loads(invoke("verify", root, "--json").stdout)
    assert doc["ok"] and doc["arrays"] == 1 and len(doc["warnings"]) == 4
    assert doc["warnings"][0].startswith("orphaned data without metadata: 'sharded/'")
    rep = exzarr.verify(exzarr.open_group(root))  # the Python API says the same
    assert rep.ok and rep.warnings == doc["warnings"] and str(rep).splitlines()[0].startswith("warning: orphaned data")


def test_verify_warns_about_chunks_a_shrink_left_behind_and_v2_orphans(tmp_path):
    """zarr-python can leave the chunks beyond a shrunk shape in the store: a warning, not damage.
    In a v2 group, an array whose .zarray is gone is orphaned data; 0-d arrays have no stray key."""
    import asyncio

    async def shrink() -> None:
        z = await zarr.api.asynchronous.create_array(str(tmp_path / "a.zarr"), shape=(50,), chunks=(10,), dtype="i4")
        await z.setitem(slice(None), 1)
        await z.resize((20,), delete_outside_chunks=False)

    asyncio.run(shrink())
    assert (tmp_path / "a.zarr" / "c" / "4").exists()  # still there
    r = invoke("verify", tmp_path / "a.zarr")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == (
        "warning: /: 3 stored keys outside the chunk grid (2,) (never read; left behind when the array shrank?):"
        " 'c/2', 'c/3', 'c/4'"
    )
    g = exzarr.create_group(tmp_path / "v2.zarr", zarr_format=2)
    for name in ("x", "y", "scalar"):
        a = g.create_array(name, shape=() if name == "scalar" else (4,), chunks=() if name == "scalar" else (2,), dtype="u1")
        a[...] = 3
    (tmp_path / "v2.zarr" / "y" / ".zarray").unlink()
    (tmp_path / "v2.zarr" / "x" / "7").write_bytes(b"?")
    rep = exzarr.verify(exzarr.open_group(tmp_path / "v2.zarr"))
    assert rep.ok and rep.arrays == 2 and rep.chunks == 3
    assert rep.warnings == [
        "orphaned data without metadata: 'y/' holds keys but no .zarray or .zgroup (a deleted array or group?); not checked",
        "/x: 1 stored key outside the chunk grid (2,) (never read; left behind when the array shrank?): 'x/7'",
    ]


def test_copy_onto_or_into_the_source_names_what_was_typed(tree):
    """The library names the nodes by their location and store (once '/' and '/' for two roots):
    the CLI names the SRC and DST given on the command line, one line, no store reprs."""
    root, *_ = tree
    cases = [(root, root), (root, root / "climate" / "c"), (root / "sharded", root / "sharded" / "x"), (root / "climate", root)]
    for src, dst in cases:
        r = invoke("copy", src, dst, "--overwrite")
        assert r.exit_code == 1
        assert r.stderr == (
            f"exzarr: error: copy: the destination {str(dst)!r} overlaps the source {str(src)!r} (the same location, or one"
            " inside the other): copy to a location outside the source\n"
        )
    assert exzarr.verify(exzarr.open_group(root)).ok  # nothing was touched


# ----------------------------------------------------------------------------- errors, options, misc


def test_missing_path_is_one_line_and_exit_1(tmp_path):
    r = script("info", tmp_path / "nope.zarr")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("exzarr: error: no array or group at") and r.stderr.count("\n") == 1
    assert not (tmp_path / "nope.zarr").exists()  # nothing created


def test_usage_errors_exit_2_without_traceback(tree, tmp_path):
    root, v2, *_ = tree
    cases = [
        (("copy", v2, tmp_path / "x.zarr", "--compressor", "zstdx"), "unknown numcodecs codec 'zstdx'"),
        (("copy", v2, tmp_path / "x.zarr", "--chunks", "10,x"), "is not comma-separated integers"),
        (("copy", v2, tmp_path / "x.zarr", "--chunks", "0,10"), "positive integer"),
        (("copy", v2, tmp_path / "x.zarr", "--zarr-format", "4"), "'4' is not one of '2', '3'"),
        (("info", v2, "-o", "novalue"), "'novalue' is not key=value"),
        (("info",), "Missing argument 'PATH'"),
        (("frobnicate",), "No such command 'frobnicate'"),
    ]
    for args, message in cases:
        r = invoke(*args)
        assert r.exit_code == 2, (args, r.output)
        assert message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.output
    assert not (tmp_path / "x.zarr").exists()  # a refused copy writes nothing
    r = invoke("info", v2, "-o", "anon=true")  # a well-formed option the local store does not take
    assert r.exit_code == 1 and r.stderr.startswith("exzarr: error: storage_options: 'anon' is not an option of LocalStore")


def test_storage_option_values():
    assert parse_storage_options(["anon=true", "n=3", "x=1.5", "name=abc", "url=http://h:9/p?a=b", "empty="]) == {
        "anon": True,
        "n": 3,
        "x": 1.5,
        "name": "abc",
        "url": "http://h:9/p?a=b",
        "empty": "",
    }
    assert parse_storage_options(['client_kwargs={"region_name": "eu"}']) == {"client_kwargs": {"region_name": "eu"}}


def test_version_help_and_python_m(tree):
    root, *_ = tree
    assert invoke("--version").stdout.strip() == f"exzarr {exzarr.__version__}"
    for cmd in ("info", "tree", "ls", "copy", "consolidate", "verify", "bench"):
        r = invoke(cmd, "--help")
        assert r.exit_code == 0 and "Examples:" in r.stdout and f"exzarr {cmd}" in r.stdout, cmd
    r = subprocess.run([sys.executable, "-m", "exzarr", "ls", str(root)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["group  climate", "array  sharded  (40, 40) int16"]
    r = script("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"exzarr {exzarr.__version__}"


def test_bench_quick():
    r = invoke("bench", "--quick", "--no-cloud")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "| local store, 200x200 float64, 50x50 chunks, zstd | |" in out
    assert "read [0:100, 0:100] (4 chunks), parallel" in out and "concurrency sweep: read all 16 chunks" in out
    assert "I/O-bound: 16 chunks, 10 ms per request" in out
    assert "cloud scenario was skipped: --no-cloud" in out
    assert out.rstrip().endswith("demo OK: every read matched what was written")


def test_demo_cloud_skip_reason():
    from exzarr.demo import cloud_helpers

    tests_dir, why = cloud_helpers("/nonexistent")
    assert tests_dir is None and "tools/faultproxy.py" in why
    tests_dir, why = cloud_helpers(Path(__file__).resolve().parents[2])  # this checkout has them
    assert tests_dir is not None and tests_dir.name == "tests" and why == ""


def test_verify_names_arrays_without_a_checksum():
    """zstd without its checksum can decode changed bytes silently: verify says so instead of
    promising "no damage"; crc32c, zstd's checksum, gzip/zlib (v2 too) and sharded crc32c count."""
    cases = [
        (dict(compressors="zstd"), False),
        (dict(compressors=["zstd", "crc32c"]), True),
        (dict(compressors=[{"name": "zstd", "configuration": {"checksum": True}}]), True),
        (dict(compressors="gzip", zarr_format=2), True),
        (dict(compressors="zstd", zarr_format=2), False),
        (dict(shards=(4,), compressors=["zstd", "crc32c"]), True),
        (dict(shards=(4,), compressors=["zstd"]), False),
    ]
    for kw, checked in cases:
        a = exzarr.create_array(shape=(8,), chunks=(2,), dtype="i4", **kw)
        a[:] = 1
        report = exzarr.verify(a)
        assert report.ok and (report.unchecked == []) is checked, kw
        assert ("without a checksum codec" in report.summary()) is not checked


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_verify_checks_nodes_below_an_implicit_group(tmp_path, zarr_format):
    """A node stored under a prefix with no group metadata of its own (tensorstore writes such
    hierarchies) is found and checked, not reported as orphaned data; damage in it is found."""
    root = tmp_path / "imp"
    exzarr.create_group(root, zarr_format=zarr_format)
    deep = exzarr.create(root / "sub" / "deep" / "arr", shape=(6,), chunks=(2,), dtype="i4", zarr_format=zarr_format)
    deep[...] = 5
    report = exzarr.verify(exzarr.open_group(root, mode="r"))
    assert report.ok and report.arrays == 1 and report.chunks == 3 and not report.warnings, report.to_dict()
    key = "c/1" if zarr_format == 3 else "1"
    (root / "sub" / "deep" / "arr" / key).write_bytes(b"garbage")
    report = exzarr.verify(exzarr.open_group(root, mode="r"))
    assert not report.ok and [d.key for d in report.damaged] == [f"sub/deep/arr/{key}"]


def test_copy_rechunks_arrays_of_a_group_by_path(tree, tmp_path):
    """--chunks/--shards PATH=N,N per array: a group whose arrays differ in rank can be rechunked
    from the command line; one shape for all and PATH=... together, or an unknown path, are refused."""
    root, *_ = tree
    exzarr.open_group(root, mode="r+").create_array("line", shape=(30,), chunks=(30,), dtype="i4")[...] = np.arange(30)
    dst = tmp_path / "re.zarr"
    r = invoke("copy", root, dst, "--chunks", "climate/temperature=25,50", "--chunks", "line=7", "--shards", "sharded=none")
    assert r.exit_code == 0, r.output
    g = exzarr.open_group(dst, mode="r")
    assert g["climate/temperature"].chunks == (25, 50) and g["line"].chunks == (7,) and g["sharded"].shards is None
    assert g["sharded"].chunks == (10, 10) and g["line"][...].tolist() == list(range(30))
    r = invoke("copy", root, tmp_path / "bad.zarr", "--chunks", "5,5")
    assert r.exit_code == 1 and "--chunks/--shards PATH=N,N" in r.stderr and "as a dict" not in r.stderr
    assert not (tmp_path / "bad.zarr").exists() or not any((tmp_path / "bad.zarr").rglob("c"))
    r = invoke("copy", root, tmp_path / "bad2.zarr", "--chunks", "5,5", "--chunks", "line=5")
    assert r.exit_code == 2 and "not both" in r.stderr
