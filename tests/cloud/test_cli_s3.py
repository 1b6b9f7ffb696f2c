"""The ``exzarr`` command on ``s3://`` URLs against the S3 emulator, storage options given with -o."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

import exzarr
from exzarr.cli import cli


def options(bucket) -> list[str]:
    so = bucket.storage_options
    out = []
    for key in ("endpoint_url", "key", "secret", "region"):
        out += ["-o", f"{key}={so[key]}"]
    return [*out, "-o", "use_ssl=false", "-o", "anon=false"]  # JSON values: False, not the string "false"


def test_cli_on_s3_with_storage_options(s3_bucket, tmp_path):
    so = s3_bucket.storage_options
    url = f"{s3_bucket.url}/cli.zarr"
    g = exzarr.create_group(url, storage_options=so)
    a = g.create_array("x", shape=(30, 20), chunks=(10, 10), shards=(10, 20), dtype="i4")
    a[...] = np.arange(600).reshape(30, 20)
    run = CliRunner().invoke
    opts = options(s3_bucket)

    r = run(cli, ["info", f"{url}/x", "--json", *opts])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["shards"] == [10, 20] and doc["chunks_initialized"] == 6 and "s3" in doc["store"].lower()

    assert run(cli, ["ls", url, *opts]).stdout.splitlines() == ["array  x  (30, 20) int32"]
    r = run(cli, ["verify", url, *opts])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("OK: checked 1 array, 6 chunks, 3 shard indexes: no damage")

    # copy to a local directory (destination options are not inherited across schemes)
    r = run(cli, ["copy", url, str(tmp_path / "local.zarr"), "--zarr-format", "2", "--shards", "none", *opts])
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(exzarr.open_array(tmp_path / "local.zarr" / "x")[...], a[...])
    # and back into the bucket (same scheme: the -o options apply to the destination too)
    r = run(cli, ["copy", str(tmp_path / "local.zarr"), f"{s3_bucket.url}/back.zarr", "--dst-storage-option",
                  f"endpoint_url={so['endpoint_url']}", "--dst-storage-option", f"key={so['key']}",
                  "--dst-storage-option", f"secret={so['secret']}", "--dst-storage-option", f"region={so['region']}"])  # fmt: skip
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(exzarr.open_array(f"{s3_bucket.url}/back.zarr/x", storage_options=so)[...], a[...])
    r = run(cli, ["copy", url, f"{s3_bucket.url}/same.zarr", "--chunks", "5,5", *opts])
    assert r.exit_code == 0, r.output
    assert exzarr.open_array(f"{s3_bucket.url}/same.zarr/x", storage_options=so).chunks == (5, 5)

    r = run(cli, ["consolidate", url, *opts])
    assert r.exit_code == 0 and exzarr.open_group(url, mode="r", storage_options=so).consolidated

    # damage one shard's index in the bucket: verify names it
    key = "cli.zarr/x/c/1/0"
    store = exzarr.open_array(f"{url}/x", mode="r+", storage_options=so).store
    raw = store.get("c/1/0")
    store.set("c/1/0", raw[:-3])
    r = run(cli, ["verify", url, *opts])
    assert r.exit_code == 1
    assert r.stdout.splitlines()[0].startswith(f"damaged: {key.removeprefix('cli.zarr/')}: shard index: ")


def test_cli_s3_option_errors(s3_bucket):
    url = f"{s3_bucket.url}/nothing.zarr"
    opts = options(s3_bucket)
    r = CliRunner().invoke(cli, ["info", url, *opts])
    assert r.exit_code == 1 and r.stderr.startswith("exzarr: error: no array or group at") and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["info", url, *opts, "-o", "endpont_url=http://x"])
    assert r.exit_code == 1 and "did you mean 'endpoint_url'" in r.stderr
