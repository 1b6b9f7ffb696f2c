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
    s = LocalStore(tmp_path, reuse_files=exchange)
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


def test_local_store_exchange_spares_are_bounded_and_hidden(tmp_path):
    import threading

    import exzarr.storage.local as local

    if local._exchange is None:
        pytest.skip("renameat2 exchange not available on this platform")
    s = LocalStore(tmp_path, reuse_files=True)
    for i in range(3):
        s.set("c/0/0", bytes([i]) * 1000)
        s.set("c/0/1", b"x" * (500 - i))
        s.set("c/9/9", b"y" * 10)
    assert s.get("c/0/0") == bytes([2]) * 1000 and s.get("c/0/1") == b"x" * 498
    threads = [threading.Thread(target=lambda k=k: [s.set(f"t/{k}/{j}", b"z" * 100) for j in range(20)]) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spares = list((tmp_path / ".exzarr-spares").iterdir())
    assert 1 <= len(spares) <= 5  # one per writing thread, however many keys were written
    assert sorted(s.list()) == ["c/0/0", "c/0/1", "c/9/9"] + sorted(f"t/{k}/{j}" for k in range(4) for j in range(20))
    assert sorted(s.list_dir("")) == ["c", "t"]
    s.delete_prefix("c")
    assert not (tmp_path / "c").exists() and s.get("t/0/0") == b"z" * 100


def test_default_writes_never_disturb_an_open_reader(tmp_path):
    """A reader that opened a chunk keeps seeing exactly the old bytes while it is rewritten
    and other keys are written (the default, temp-file + rename path)."""
    s = LocalStore(tmp_path)
    old = bytes(range(256)) * 4096
    s.set("c/0", old)
    f = open(tmp_path / "c" / "0", "rb")  # held open across the writes on purpose
    head = f.read(1000)
    for i in range(20):
        s.set("c/0", bytes([i]) * len(old))
        s.set(f"c/{i + 1}", bytes([255 - i]) * len(old))
    rest = f.read()
    f.close()
    assert head + rest == old
    assert s.get("c/0") == bytes([19]) * len(old)


class TestLocalStoreReuseFiles(StoreConformance):
    def make_store(self, tmp_path):
        return LocalStore(tmp_path / "root", reuse_files=True)

    def make_read_only(self, store, tmp_path):
        return LocalStore(store.root, read_only=True)


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
