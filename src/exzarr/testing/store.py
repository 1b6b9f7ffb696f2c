"""A pytest mixin that checks a :class:`~exzarr.storage.Store` against the behaviour Zarr expects.

Subclass it and implement :meth:`StoreConformance.make_store`; every ``test_*``
method then runs against your store. Override :meth:`make_read_only` if the store
cannot be reopened read-only from a ``read_only=True`` constructor argument.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
from pathlib import Path

import pytest

from ..errors import ReadOnlyError, StoreError
from ..storage.base import ByteRange, Store


class StoreConformance:
    """Behavioural spec for stores (key semantics, byte ranges, listing, read-only, pickling)."""

    def make_store(self, tmp_path: Path) -> Store:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def make_read_only(self, store: Store, tmp_path: Path) -> Store:
        """A read-only view of the same data (default: pickle round trip of a read-only clone)."""
        clone = pickle.loads(pickle.dumps(store))
        clone._read_only = True
        return clone

    @pytest.fixture
    def store(self, tmp_path: Path) -> Store:
        s = self.make_store(tmp_path)
        yield s
        s.close()

    # -- get / set ---------------------------------------------------------------
    def test_set_get_roundtrip(self, store: Store) -> None:
        store.set("a", b"hello")
        store.set("x/y/z", b"\x00\x01")
        assert store.get("a") == b"hello"
        assert store.get("x/y/z") == b"\x00\x01"

    def test_get_missing_is_none(self, store: Store) -> None:
        assert store.get("missing") is None
        assert store.get("missing/deeper", ByteRange(0, 3)) is None
        assert not store.exists("missing")

    def test_empty_value(self, store: Store) -> None:
        store.set("empty", b"")
        assert store.get("empty") == b""
        assert store.exists("empty")

    def test_overwrite(self, store: Store) -> None:
        store.set("k", b"first")
        store.set("k", b"second!")
        assert store.get("k") == b"second!"
        assert store.getsize("k") == 7

    def test_accepts_buffers(self, store: Store) -> None:
        store.set("mv", memoryview(b"abcdef")[1:4])
        store.set("ba", bytearray(b"xyz"))
        assert store.get("mv") == b"bcd" and store.get("ba") == b"xyz"

    # -- byte ranges ---------------------------------------------------------------
    def test_byte_ranges(self, store: Store) -> None:
        store.set("r", b"0123456789")
        assert store.get("r", ByteRange(2, 5)) == b"234"
        assert store.get("r", (2, 5)) == b"234"
        assert store.get("r", ByteRange(7)) == b"789"
        assert store.get("r", ByteRange.from_suffix(3)) == b"789"
        assert store.get("r", ByteRange(8, 100)) == b"89"
        assert store.get("r", ByteRange(20, 30)) == b""
        assert store.get("r", ByteRange(4, 4)) == b""
        assert store.get("r", ByteRange.from_suffix(50)) == b"0123456789"

    def test_invalid_byte_ranges_raise(self, store: Store) -> None:
        store.set("r", b"0123456789")
        with pytest.raises(ValueError):
            store.get("r", ByteRange(5, 2))
        with pytest.raises(ValueError):
            store.get("r", ByteRange(-1, 2))
        with pytest.raises(ValueError):
            store.get("r", ByteRange.from_suffix(-1))

    def test_get_many(self, store: Store) -> None:
        store.set("a", b"aaaa")
        store.set("b", b"bbbb")
        assert store.get_many(["a", "nope", "b"]) == [b"aaaa", None, b"bbbb"]
        assert store.get_many(["a", "b"], [ByteRange(1, 2), None]) == [b"a", b"bbbb"]

    def test_getsize(self, store: Store) -> None:
        store.set("s", b"12345")
        assert store.getsize("s") == 5
        with pytest.raises(FileNotFoundError):
            store.getsize("nope")

    # -- delete ---------------------------------------------------------------------
    def test_delete(self, store: Store) -> None:
        store.set("d", b"x")
        if not store.supports_deletes:
            with pytest.raises(StoreError):
                store.delete("d")
            assert store.get("d") == b"x"
            return
        store.delete("d")
        assert store.get("d") is None and not store.exists("d")
        store.delete("d")  # deleting a missing key is not an error

    def test_delete_prefix_spares_siblings(self, store: Store) -> None:
        if not store.supports_deletes:
            pytest.skip("store cannot delete (checked in test_delete)")
        for k in ("foo/a", "foo/b/c", "foo-bar/a", "foobar"):
            store.set(k, b"1")
        store.delete_prefix("foo")
        assert sorted(store.list()) == ["foo-bar/a", "foobar"]

    # -- listing -----------------------------------------------------------------------
    def _fill(self, store: Store) -> None:
        for k in ("zarr.json", "a/zarr.json", "a/c/0/0", "a/c/0/1", "b/x", "foo-bar/y"):
            store.set(k, b"v")

    def test_list(self, store: Store) -> None:
        assert list(store.list()) == []
        self._fill(store)
        assert sorted(store.list()) == ["a/c/0/0", "a/c/0/1", "a/zarr.json", "b/x", "foo-bar/y", "zarr.json"]

    def test_list_prefix(self, store: Store) -> None:
        self._fill(store)
        assert sorted(store.list_prefix("a/")) == ["a/c/0/0", "a/c/0/1", "a/zarr.json"]
        assert sorted(store.list_prefix("a/c/0/")) == ["a/c/0/0", "a/c/0/1"]
        assert sorted(store.list_prefix("")) == sorted(store.list())
        assert list(store.list_prefix("nothing/")) == []

    def test_list_dir(self, store: Store) -> None:
        self._fill(store)
        assert sorted(store.list_dir("")) == ["a", "b", "foo-bar", "zarr.json"]
        assert sorted(store.list_dir("a")) == ["c", "zarr.json"]
        assert sorted(store.list_dir("a/")) == ["c", "zarr.json"]
        assert sorted(store.list_dir("a/c/0")) == ["0", "1"]
        assert list(store.list_dir("missing")) == []

    def test_is_empty_prefix_semantics(self, store: Store) -> None:
        store.set("foo/x", b"1")
        assert not store.is_empty("foo")
        assert not store.is_empty("foo/")
        assert store.is_empty("fo")
        assert not store.is_empty("")

    # -- keys -----------------------------------------------------------------------------
    @pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "a//b", "./a", "", "a\\b"])
    def test_bad_keys_refused(self, store: Store, key: str) -> None:
        with pytest.raises(StoreError):
            store.set(key, b"x")
        with pytest.raises(StoreError):
            store.get(key)

    # -- read-only ----------------------------------------------------------------------------
    def test_read_only(self, store: Store, tmp_path: Path) -> None:
        store.set("k", b"v")
        ro = self.make_read_only(store, tmp_path)
        assert ro.read_only
        assert ro.get("k") == b"v"
        with pytest.raises(ReadOnlyError):
            ro.set("k", b"w")
        with pytest.raises(ReadOnlyError):
            ro.delete("k")
        assert ro.get("k") == b"v"

    # -- pickling, threads, async -------------------------------------------------------------
    def test_pickle_keeps_data(self, store: Store) -> None:
        store.set("p/q", b"data")
        clone = pickle.loads(pickle.dumps(store))
        assert clone.get("p/q") == b"data"
        assert clone.read_only == (store.read_only or store.single_writer)  # one writer: copies only read

    def test_concurrent_writers(self, store: Store) -> None:
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                for j in range(20):
                    store.set(f"t{i}/k{j}", bytes([i, j]) * 10)
                    assert store.get(f"t{i}/k{j}") == bytes([i, j]) * 10
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert len(list(store.list())) == 160

    def test_async_twins(self, store: Store) -> None:
        async def go() -> tuple[bytes | None, bool]:
            await store.set_async("as/k", b"async")
            return await store.get_async("as/k", ByteRange(1, 3)), await store.exists_async("as/k")

        assert asyncio.run(go()) == (b"sy", True)
