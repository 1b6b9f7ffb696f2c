"""Every store passes the shipped conformance kit, plus store-specific checks."""

from __future__ import annotations

import os
import zipfile

import pytest

from exzarr.errors import StoreError
from exzarr.storage import LocalStore, MemoryStore, ZipStore
from exzarr.storage.local import _TMP_MARK
from exzarr.testing.store import StoreConformance


class TestMemoryStore(StoreConformance):
    def make_store(self, tmp_path):
        return MemoryStore()


class TestLocalStore(StoreConformance):
    def make_store(self, tmp_path):
        return LocalStore(tmp_path / "root")

    def make_read_only(self, store, tmp_path):
        return LocalStore(store.root, read_only=True)


class TestZipStore(StoreConformance):
    def make_store(self, tmp_path):
        return ZipStore(tmp_path / "data.zip", mode="w")

    def make_read_only(self, store, tmp_path):
        store.close()
        return ZipStore(tmp_path / "data.zip", mode="r")


def test_local_store_writes_are_atomic(tmp_path, monkeypatch):
    s = LocalStore(tmp_path)
    s.set("c/0", b"old value")

    class Boom(Exception):
        pass

    real_replace = os.replace

    def failing_replace(src, dst):
        raise Boom("crash between write and rename")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(Boom):
        s.set("c/0", b"new value that never lands")
    monkeypatch.setattr(os, "replace", real_replace)
    assert s.get("c/0") == b"old value"
    assert not [p for p in (tmp_path / "c").iterdir() if _TMP_MARK in p.name]  # temp file cleaned up


def test_local_store_hides_temp_files(tmp_path):
    s = LocalStore(tmp_path)
    s.set("a/b", b"1")
    (tmp_path / "a" / f"{_TMP_MARK}b.123").write_bytes(b"partial")
    assert list(s.list()) == ["a/b"]
    assert list(s.list_dir("a")) == ["b"]


def test_local_store_refuses_escape(tmp_path):
    s = LocalStore(tmp_path / "root")
    with pytest.raises(StoreError, match="escape|segment"):
        s.set("../outside", b"x")
    assert not (tmp_path / "outside").exists()


def test_zip_store_is_a_real_zip(tmp_path):
    with ZipStore(tmp_path / "z.zip", mode="w") as s:
        s.set("a/zarr.json", b"{}")
        s.set("a/zarr.json", b'{"v": 2}')  # overwrite: newest member wins
    with zipfile.ZipFile(tmp_path / "z.zip") as zf:
        assert zf.testzip() is None
    r = ZipStore(tmp_path / "z.zip", mode="r")
    assert r.get("a/zarr.json") == b'{"v": 2}'
    assert list(r.list()) == ["a/zarr.json"]
    r.close()
    with pytest.raises(StoreError, match="closed"):
        r.get("a/zarr.json")


def test_zip_store_missing_file(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        ZipStore(tmp_path / "nope.zip", mode="r")
