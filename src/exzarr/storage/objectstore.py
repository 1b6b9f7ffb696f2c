"""Object storage (S3, GCS, Azure, HTTP) through obstore, many requests in flight.

:class:`ObjectStore` wraps an ``obstore`` store (Rust ``object_store``: signing, HTTP and
retries with exponential backoff and jitter are its job, nothing here re-implements them). All
requests run as coroutines on one background event loop (:mod:`exzarr.storage.aioloop`), so
hundreds are in flight without a thread each; :meth:`ObjectStore.fetch` streams results back as
they complete, and the engine decodes them on the cores meanwhile.

On top of obstore (whose own retries are turned off for stores made from URLs, so that this
layer sees the throttling it must react to):

- an adaptive limit on requests in flight (:class:`~exzarr.storage.limits.AdaptiveLimit`): it
  halves when the store throttles (``503 SlowDown``, ``429``) and grows back one at a time;
- transient failures that obstore's retries did not absorb are retried here too, with
  exponential backoff and full jitter, while permanent ones (403, a bucket that does not exist,
  bad credentials) fail at once with a :class:`~exzarr.errors.StoreError` naming the URL and key;
- a read of a missing object is ``None`` (a missing chunk reads as the fill value), but a missing
  *bucket* is an error, never a silent fill value;
- multi-range reads of one object pin its version with ``If-Match`` on the ETag the first read
  returned (:meth:`snapshot`), so a shard's index and inner chunks always come from one version;
- every chunk write is a single PUT (no multipart), and :meth:`set_if_not_exists` uses the
  store's conditional put, so two creators of one node cannot both succeed.

Secrets given in the configuration never appear in ``repr``, error messages or logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from ..config import config
from ..errors import StoreError
from . import aioloop
from .base import ByteRange, Snapshot, SnapshotChanged, Store, check_key, check_prefix, too_large
from .limits import AdaptiveLimit

__all__ = ["ObjectStore", "SnapshotChanged"]

_THROTTLED = re.compile(r"\b(429|503)\b|SlowDown|Too ?Many ?Requests|TooManyRequests|ServerBusy|Throttl", re.I)
_TRANSIENT = re.compile(
    r"\b(500|502|504)\b|connection|timed? ?out|reset by peer|broken pipe|error sending request|incomplete|IncompleteBody", re.I
)
_NO_BUCKET = re.compile(r"NoSuchBucket|bucket does not exist|ContainerNotFound|container does not exist|BucketNotFound", re.I)


def _obstore() -> Any:
    try:
        import obstore
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("cloud storage needs obstore: pip install obstore") from None
    return obstore


def _range_option(r: ByteRange | None) -> Any:
    if r is None:
        return None
    if r.suffix is not None:
        return {"suffix": r.suffix}
    if r.stop is None:
        return {"offset": r.start}
    return (r.start, r.stop)


class ObjectStore(Store):
    """A :class:`~exzarr.storage.Store` on an obstore store object.

    ``url`` names it in messages (``s3://bucket/prefix``); ``max_in_flight`` caps requests in
    flight (default ``exzarr.config.io_concurrency``); ``retries`` are this layer's retries of
    transient failures on top of obstore's own; ``secrets`` are strings to redact from messages.
    """

    io_bound = True
    batched = True

    def __init__(
        self,
        store: Any,
        *,
        url: str | None = None,
        read_only: bool = False,
        max_in_flight: int | None = None,
        retries: int = 8,
        secrets: Sequence[str] = (),
    ) -> None:
        super().__init__(read_only=read_only)
        self._store = store
        self.url = (url or _describe(store)).rstrip("/")
        self.max_in_flight = max_in_flight or config.io_concurrency
        self.retries = retries
        self._secrets = tuple(s for s in secrets if s and len(s) >= 4)  # (1-character "secrets" are placeholders)
        self.limit = AdaptiveLimit(self.max_in_flight)
        self.requests = 0  # requests this store object asked for (each retry of one counts once more in `attempts`)
        self.attempts = 0
        self.retried = 0  # transient failures this layer retried
        kind = type(store).__name__
        self._suffix_ranges = kind != "AzureStore"  # Azure Blob has no "last n bytes" ranges
        # obstore's HTTP store lists paths with the URL's own path in front: strip it
        self._list_strip = (str(getattr(store, "prefix", "") or "").strip("/") + "/") if kind == "HTTPStore" else ""

    # -- identity ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r}{', read_only=True' if self.read_only else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectStore) and other.url == self.url and other.read_only == self.read_only

    def __hash__(self) -> int:
        return hash((self.url, self.read_only))

    def __getstate__(self) -> dict[str, Any]:
        return {
            "store": self._store,
            "url": self.url,
            "read_only": self._read_only,
            "max_in_flight": self.max_in_flight,
            "retries": self.retries,
            "secrets": self._secrets,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["store"],
            url=state["url"],
            read_only=state["read_only"],
            max_in_flight=state["max_in_flight"],
            retries=state["retries"],
            secrets=state["secrets"],
        )

    @property
    def lock_namespace(self) -> str:
        return self.url

    def location(self, path: str = "") -> str:
        return "/".join(p for p in (self.url, path.strip("/")) if p)

    @property
    def obstore(self) -> Any:
        """The wrapped obstore store object."""
        return self._store

    # -- the request core -------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def _error(self, exc: BaseException, op: str, key: str) -> StoreError:
        msg = self._redact(str(exc).split("\n\nDebug source:")[0])
        obs = _obstore()
        if isinstance(exc, obs.exceptions.PermissionDeniedError):
            why = "permission denied"
        elif isinstance(exc, obs.exceptions.UnauthenticatedError):
            why = "authentication failed (check the credentials in storage_options)"
        elif isinstance(exc, FileNotFoundError) and _NO_BUCKET.search(msg):
            why = "the bucket or container does not exist"
        else:
            why = f"{op} failed"
        err = StoreError(f"{self.url}: {why} for key {key!r}: {msg}")
        return err

    async def _call(self, op: str, key: str, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """One request with the adaptive limit and this layer's retries of transient failures."""
        obs = _obstore()
        attempt = 0
        self.requests += 1
        while True:
            await self.limit.acquire()
            self.attempts += 1
            try:
                result = await make()
            except asyncio.CancelledError:  # the caller stopped waiting (the request itself finishes: aioloop.native)
                self.limit.release(ok=True)
                raise
            except FileNotFoundError as exc:
                self.limit.release(ok=True)
                if _NO_BUCKET.search(str(exc)):
                    raise self._error(exc, op, key) from None
                raise
            except (obs.exceptions.PreconditionError, obs.exceptions.AlreadyExistsError, obs.exceptions.NotModifiedError):
                self.limit.release(ok=True)
                raise
            except (obs.exceptions.PermissionDeniedError, obs.exceptions.UnauthenticatedError) as exc:
                self.limit.release(ok=False)
                raise self._error(exc, op, key) from None
            except Exception as exc:
                text = str(exc)
                throttled = bool(_THROTTLED.search(text))
                self.limit.release(ok=False, throttled=throttled)
                if (throttled or _TRANSIENT.search(text)) and attempt < self.retries:
                    attempt += 1
                    self.retried += 1
                    await asyncio.sleep(random.uniform(0, min(2.0, 0.025 * 2**attempt)))  # exponential, full jitter
                    continue
                raise self._error(exc, op, key) from None
            else:
                self.limit.release(ok=True)
                return result

    async def _get(self, key: str, byte_range: ByteRange | None = None, *, limit: int | None = None,
                   if_match: str | None = None) -> tuple[bytes | None, str | None, int | None]:  # fmt: skip
        """``(value, etag, size)`` of a (range of a) key; ``(None, None, None)`` when it is missing."""
        obs = _obstore()
        if byte_range is not None and byte_range.suffix is not None and not self._suffix_ranges:
            meta = await self._head_async(key)  # the size first, then an ordinary range
            if meta is None:
                return None, None, None
            size = int(meta["size"])
            byte_range = ByteRange(max(0, size - byte_range.suffix), size)
            if_match = if_match or meta.get("e_tag")
        options: dict[str, Any] = {}
        opt = _range_option(byte_range)
        if opt is not None:
            options["range"] = opt
        if if_match is not None:
            options["if_match"] = if_match

        async def request() -> tuple[bytes, str | None, int | None]:
            if byte_range is not None and byte_range.stop is not None and byte_range.stop <= byte_range.start:
                return b"", None, None  # an empty range: nothing to ask for
            t0 = time.monotonic()
            try:
                res = await aioloop.native(obs.get_async(self._store, key, options=options or None))
                self.limit.observe(time.monotonic() - t0)  # the time to the headers: a latency signal
            except Exception as exc:
                if _is_range_error(exc, byte_range):
                    return b"", None, None  # a range past the end of the value: nothing there
                raise
            meta = res.meta
            size = meta.get("size")
            if limit is not None and size is not None and size > limit:
                raise too_large(self, key, size, limit)
            value = bytes(await aioloop.native(res.bytes_async()))
            want = _expected_length(byte_range, size)
            if want is not None and len(value) != want:  # a body cut short (a dropped connection)
                raise _Incomplete(f"incomplete body for {key!r}: {len(value)} of {want} bytes")
            return value, meta.get("e_tag"), size

        try:
            return await self._call("get", key, request)
        except FileNotFoundError:
            return None, None, None
        except obs.exceptions.PreconditionError:
            raise SnapshotChanged(f"{self.url}: {key!r} changed while it was being read") from None
        except StoreError:
            raise
        except Exception as exc:
            raise self._error(exc, "get", key) from None

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return aioloop.run(coro)

    # -- the Store verbs --------------------------------------------------------------------
    def get(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        check_key(key)
        r = ByteRange.coerce(byte_range)
        return self._run(self._get(key, r))[0]

    def get_limited(self, key: str, limit: int) -> bytes | None:
        check_key(key)
        return self._run(self._get(key, limit=limit))[0]

    def get_many(self, keys: Sequence[str], byte_ranges: Sequence[ByteRange | None] | None = None) -> list[bytes | None]:
        ranges = list(byte_ranges) if byte_ranges is not None else [None] * len(keys)
        for k in keys:
            check_key(k)

        async def all_of() -> list[bytes | None]:
            got = await asyncio.gather(*(self._get(k, ByteRange.coerce(r)) for k, r in zip(keys, ranges, strict=True)))
            return [g[0] for g in got]

        return self._run(all_of())

    def _stream(
        self, n: int, job: Callable[[int], Coroutine[Any, Any, Any]], window: int, concurrency: int | None = None
    ) -> Iterator[tuple[int, Any]]:
        """Run ``job(i)`` for ``i < n`` on the loop (the adaptive limit caps requests in flight) and
        yield ``(i, result or exception)`` as they complete; with ``window``, at most that many jobs
        are in flight or done and not yet taken by the caller, so memory stays bounded however
        large ``n`` is (pass more than the limit, or the window caps the requests in flight); with
        ``concurrency``, at most that many jobs run at once (``max_concurrency=`` of a call)."""
        import queue

        results: queue.Queue[tuple[int, Any]] = queue.Queue()
        holder: dict[str, asyncio.Semaphore | None] = {}

        async def one(i: int, room: asyncio.Semaphore | None, slots: asyncio.Semaphore | None) -> None:
            if room is not None:
                await room.acquire()
            try:
                if slots is not None:
                    async with slots:
                        value: Any = await job(i)
                else:
                    value = await job(i)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                value = exc
            results.put((i, value))

        async def start() -> None:
            room = holder["room"] = asyncio.Semaphore(window) if window else None
            slots = asyncio.Semaphore(concurrency) if concurrency else None
            await asyncio.gather(*(one(i, room, slots) for i in range(n)))

        fut = aioloop.submit(start())
        lp = aioloop.loop()
        try:
            for _ in range(n):
                item = results.get()
                room = holder.get("room")
                if room is not None:
                    lp.call_soon_threadsafe(room.release)
                yield item
        finally:
            if not fut.done():
                fut.cancel()

    def fetch(
        self, keys: Sequence[str], *, limit: int | None = None, window: int = 0, concurrency: int | None = None
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(i, value or None or exception)`` for ``keys`` as the requests complete (see
        :meth:`_stream` for the bounds)."""

        async def job(i: int) -> Any:
            return (await self._get(keys[i], limit=limit))[0]

        return self._stream(len(keys), job, window, concurrency)

    def fetch_shards(
        self,
        keys: Sequence[str],
        first: ByteRange,
        plan: Callable[[int, bytes, int | None], list[Any]],
        *,
        window: int = 0,
        concurrency: int | None = None,
    ) -> Iterator[tuple[int, Any]]:
        """Two dependent reads per key, all keys in flight at once: ``first`` (a shard's index), then
        the ranges ``plan(i, first_bytes, object_size)`` returns (its inner chunks), pinned with
        ``If-Match`` to the version the first read saw (read again from the start if it changed).
        Yields ``(i, (first_bytes, ranges, values))``, ``(i, None)`` for a missing object, or
        ``(i, exception)``, as they complete."""

        async def job(i: int) -> Any:
            key = keys[i]
            for attempt in range(4):
                try:
                    raw, etag, size = await self._get(key, first)
                    if raw is None:
                        return None
                    ranges = plan(i, raw, size)
                    got = await asyncio.gather(*(self._get(key, ByteRange(a, b), if_match=etag) for a, b, _ in ranges))
                    if any(g[0] is None for g in got):
                        raise SnapshotChanged(f"{self.url}: {key!r} disappeared while it was being read")
                    return raw, ranges, [g[0] for g in got]
                except SnapshotChanged:
                    if attempt == 3:
                        raise
            return None  # pragma: no cover - the loop returns or raises

        return self._stream(len(keys), job, window, concurrency)

    def set(self, key: str, value: Any) -> None:
        check_key(key)
        self._check_writable(key)
        data = _as_bytes(value)
        obs = _obstore()
        self._run(self._call("put", key, lambda: aioloop.native(obs.put_async(self._store, key, data, use_multipart=False))))

    def set_many(self, items: Any) -> None:
        obs = _obstore()
        pairs = [(check_key(k), _as_bytes(v)) for k, v in items]
        for k, _ in pairs:
            self._check_writable(k)

        async def all_of() -> None:
            await asyncio.gather(
                *(
                    self._call("put", k, lambda k=k, v=v: aioloop.native(obs.put_async(self._store, k, v, use_multipart=False)))
                    for k, v in pairs
                )
            )

        self._run(all_of())

    def put_many(self, items: Sequence[tuple[str, Any]], *, concurrency: int | None = None) -> None:
        obs = _obstore()
        for k, _ in items:
            check_key(k)
            self._check_writable(k)
        puts = [(k, _as_bytes(v)) for k, v in items if v is not None]
        deletes = [k for k, v in items if v is None]

        async def delete(k: str) -> None:
            with contextlib.suppress(FileNotFoundError):
                await self._call("delete", k, lambda: aioloop.native(obs.delete_async(self._store, k)))

        async def put(k: str, v: bytes, slots: asyncio.Semaphore | None) -> None:
            async with slots if slots is not None else contextlib.nullcontext():
                await self._call("put", k, lambda: aioloop.native(obs.put_async(self._store, k, v, use_multipart=False)))

        async def all_of() -> None:
            slots = asyncio.Semaphore(concurrency) if concurrency else None
            await asyncio.gather(*(put(k, v, slots) for k, v in puts), *(delete(k) for k in deletes))

        self._run(all_of())

    def delete_prefix(self, prefix: str) -> None:
        from .base import _dir_prefix

        p = _dir_prefix(prefix)
        self._check_writable(p or "/")
        keys = list(self.list_prefix(p))
        self.put_many([(k, None) for k in keys])

    def set_if_not_exists(self, key: str, value: Any) -> bool:
        """Write ``key`` only if nothing is there (a conditional put): ``False`` if it exists."""
        check_key(key)
        self._check_writable(key)
        data = _as_bytes(value)
        obs = _obstore()
        try:
            self._run(
                self._call(
                    "put", key, lambda: aioloop.native(obs.put_async(self._store, key, data, mode="create", use_multipart=False))
                )
            )
        except (obs.exceptions.AlreadyExistsError, obs.exceptions.PreconditionError):
            return False
        return True

    def delete(self, key: str) -> None:
        check_key(key)
        self._check_writable(key)
        obs = _obstore()
        with contextlib.suppress(FileNotFoundError):
            self._run(self._call("delete", key, lambda: aioloop.native(obs.delete_async(self._store, key))))

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def getsize(self, key: str) -> int:
        meta = self._head(key)
        if meta is None:
            raise FileNotFoundError(key)
        return int(meta["size"])

    def _head(self, key: str) -> dict[str, Any] | None:
        check_key(key)
        return self._run(self._head_async(key))

    async def _head_async(self, key: str) -> dict[str, Any] | None:
        obs = _obstore()
        try:
            return await self._call("head", key, lambda: aioloop.native(obs.head_async(self._store, key)))
        except FileNotFoundError:
            return None

    def list(self) -> Iterator[str]:
        return self._list("")

    def _list(self, directory: str) -> Iterator[str]:
        return (key for key, _ in self._list_meta(directory))

    def _list_meta(self, directory: str) -> Iterator[tuple[str, int]]:
        """``(key, size)`` of every object under ``directory``, a page of 1000 at a time."""
        obs = _obstore()
        try:
            strip = self._list_strip
            for batch in obs.list(self._store, directory or None, chunk_size=1000):  # paginated
                for meta in batch:
                    path = meta["path"]
                    yield (path[len(strip) :] if strip and path.startswith(strip) else path), int(meta["size"])
        except FileNotFoundError as exc:
            if _NO_BUCKET.search(str(exc)):
                raise self._error(exc, "list", directory) from None
        except Exception as exc:
            raise self._error(exc, "list", directory) from None

    def getsize_prefix(self, prefix: str) -> int:
        """Sizes come with the listing: one paginated LIST, no request per object."""
        check_prefix(prefix)
        return sum(size for key, size in self._list_meta(prefix.rpartition("/")[0]) if key.startswith(prefix))

    def list_prefix(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        head = prefix.rpartition("/")[0]  # object stores list whole path segments: filter the rest
        return (k for k in self._list(head) if k.startswith(prefix))

    def list_dir(self, prefix: str) -> Iterator[str]:
        from .base import _dir_prefix

        p = _dir_prefix(prefix)
        obs = _obstore()
        try:
            res = obs.list_with_delimiter(self._store, p.rstrip("/") or None)
        except Exception as exc:
            raise self._error(exc, "list", p) from None
        strip = self._list_strip
        base = (strip + p).rstrip("/") if strip else p.rstrip("/")
        names = {c.rstrip("/").rsplit("/", 1)[-1] for c in res["common_prefixes"] if c.rstrip("/") != base}
        names.update(m["path"].rsplit("/", 1)[-1] for m in res["objects"])
        return iter(sorted(n for n in names if n))

    def snapshot(self, key: str) -> Any:
        """Range reads of one version of ``key``: the first read records the ETag, later reads
        send ``If-Match`` and raise :class:`SnapshotChanged` if the object was replaced."""
        check_key(key)
        return contextlib.nullcontext(_ObjectSnapshot(self, key))

    # -- async twins (on the store's loop) ------------------------------------------------------
    async def get_async(self, key: str, byte_range: ByteRange | tuple[int, int] | None = None) -> bytes | None:
        """Async version of :meth:`get`."""
        check_key(key)
        return (await aioloop.run_async(self._get(key, ByteRange.coerce(byte_range))))[0]


class _ObjectSnapshot(Snapshot):
    def __init__(self, store: ObjectStore, key: str) -> None:
        self._store, self._key = store, key
        self._etag: str | None = None
        self._seen = False
        self.size: int | None = None

    def read(self, byte_range: ByteRange | None = None) -> bytes | None:  # type: ignore[override]
        value, etag, size = self._store._run(self._store._get(self._key, byte_range, if_match=self._etag))
        if value is None:
            if self._seen:
                raise SnapshotChanged(f"{self._store.url}: {self._key!r} disappeared while it was being read")
            return None
        if not self._seen:
            self._seen, self._etag, self.size = True, etag, size
        return value

    def read_many(self, ranges: Sequence[ByteRange]) -> list[bytes]:
        st = self._store

        async def all_of() -> list[Any]:
            return await asyncio.gather(*(st._get(self._key, r, if_match=self._etag) for r in ranges))

        got = st._run(all_of())
        if any(v is None for v, _, _ in got):
            raise SnapshotChanged(f"{st.url}: {self._key!r} disappeared while it was being read")
        return [v for v, _, _ in got]


class _Incomplete(Exception):
    """A response body shorter than its headers promised (retried as a transient failure)."""


def _expected_length(r: ByteRange | None, size: int | None) -> int | None:
    if size is None:
        return None
    if r is None:
        return size
    a, b = r.resolve(size)
    return b - a


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, list):
        return b"".join(memoryview(v).cast("B") for v in value)
    if isinstance(value, bytes):
        return value
    return bytes(memoryview(value).cast("B"))


_RANGE_ERROR = re.compile(r"\b416\b|InvalidRange|not satisfiable", re.IGNORECASE)


def _is_range_error(exc: BaseException, byte_range: ByteRange | None) -> bool:
    """A range past the end of a value that exists. A missing key is never one, whatever its
    message holds: Azurite's 404 text carries a request id that can contain "416" (a missing
    key once read back as empty bytes)."""
    if byte_range is None or isinstance(exc, FileNotFoundError):
        return False
    return _RANGE_ERROR.search(str(exc)) is not None


def _describe(store: Any) -> str:
    prefix = getattr(store, "prefix", None)
    return f"{type(store).__name__}({prefix!r})" if prefix else type(store).__name__
