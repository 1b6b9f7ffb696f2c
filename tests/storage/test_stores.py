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


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "temp+rename"])
def test_local_store_writes_are_atomic(tmp_path, monkeypatch, exchange):
    import exzarr.storage.local as local

    if not exchange:
        monkeypatch.setattr(local, "_exchange", None)
    elif local._exchange is None:
        pytest.skip("renameat2 exchange not available on this platform")
    s = LocalStore(tmp_path)
    s.set("c/0", b"old value")

    class Boom(Exception):
        pass

    def crash(*args):
        raise Boom("crash between writing the new bytes and committing them")

    monkeypatch.setattr(os, "replace", crash)
    if exchange:
        monkeypatch.setattr(local, "_exchange", crash)
    with pytest.raises(Boom):
        s.set("c/0", b"new value that never lands")
    monkeypatch.undo()
    assert s.get("c/0") == b"old value"
    assert list(s.list()) == ["c/0"]  # whatever scratch file is left is never a key
    if not exchange:
        assert not [p for p in (tmp_path / "c").iterdir() if _TMP_MARK in p.name]  # temp file cleaned up


def test_local_store_exchange_keeps_spares_hidden_and_empty(tmp_path):
    s = LocalStore(tmp_path)
    for i in range(3):
        s.set("c/0/0", bytes([i]) * 1000)
        s.set("c/0/1", b"x" * 500)
    assert s.get("c/0/0") == bytes([2]) * 1000
    hidden = [p for p in (tmp_path / "c" / "0").iterdir() if p.name.startswith(".exzarr-")]
    assert all(p.stat().st_size == 0 for p in hidden)  # no stale chunk bytes left behind
    assert sorted(s.list()) == ["c/0/0", "c/0/1"] and sorted(s.list_dir("c/0")) == ["0", "1"]
    s.delete_prefix("c")
    assert not (tmp_path / "c").exists()


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
