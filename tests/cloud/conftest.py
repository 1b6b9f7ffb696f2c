"""Fixtures for tests against real cloud-storage emulators (see servers.py).

Session scope (started on first use, stopped at the end of the session):

- ``s3_server``: :class:`~servers.S3Server` (moto), ``gcs_server``: :class:`~servers.GCSServer`
  (fake-gcs-server + XML shim), ``azure_server``: :class:`~servers.AzureServer` (Azurite),
  ``http_server``: :class:`~servers.RangeHTTPServer` (stdlib, serves a temporary directory).

Function scope (a fresh, uniquely named bucket per test, deleted afterwards):

- ``s3_bucket``, ``gcs_bucket``, ``azure_container``: :class:`Bucket`;
- ``http_dir``: :class:`HttpDir`, a fresh directory under the HTTP server's root;
- ``fault_proxy``: a factory ``fault_proxy(upstream_url, **settings) -> servers.FaultProxy``
  (``tools/faultproxy.py`` in its own process); every proxy it made is stopped after the test.

Nothing here skips: a missing emulator fails the test with the command that installs it.
While emulators run, SIGTERM ends the session like Ctrl-C (``pytest.exit``), so the servers are
stopped; the emulators also die with this process (PR_SET_PDEATHSIG) and at interpreter exit.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import servers


@pytest.fixture(scope="session")
def _sigterm_ends_session() -> Iterator[None]:
    """Turn SIGTERM into the end of the pytest session (with teardown), like Ctrl-C.

    A plain ``SystemExit`` raised inside a test would only fail that test (pytest catches it), so
    the handler calls ``pytest.exit``, which pytest lets through and answers with a full teardown.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills outright
        pytest.exit("SIGTERM: stopping the cloud emulators", returncode=128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _session_server(start: Callable[[], Any]) -> Iterator[Any]:
    server = start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(_sigterm_ends_session: None) -> Iterator[servers.S3Server]:
    yield from _session_server(servers.start_s3)


@pytest.fixture(scope="session")
def gcs_server(_sigterm_ends_session: None) -> Iterator[servers.GCSServer]:
    yield from _session_server(servers.start_gcs)


@pytest.fixture(scope="session")
def azure_server(_sigterm_ends_session: None) -> Iterator[servers.AzureServer]:
    yield from _session_server(servers.start_azure)


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.RangeHTTPServer]:
    yield from _session_server(lambda: servers.start_http(tmp_path_factory.mktemp("http-root")))


@dataclass
class Bucket:
    """A fresh bucket (container, for Azure) on an emulator, for one test.

    ``name``; ``kind`` ("s3", "gcs", "azure"); ``url`` (``s3://name``, ``gs://name``, ``az://name``);
    ``endpoint``; ``obstore_kwargs`` and ``storage_options`` of the server (without the bucket);
    ``server`` (the session server object); ``store(**overrides)`` builds the obstore store.
    """

    name: str
    kind: str
    server: Any
    url: str = field(init=False)
    endpoint: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = self.server.url(self.name)
        self.endpoint = self.server.endpoint

    @property
    def obstore_kwargs(self) -> dict[str, Any]:
        return self.server.obstore_kwargs

    @property
    def storage_options(self) -> dict[str, Any]:
        return self.server.storage_options

    def store(self, **overrides: Any) -> Any:
        """``S3Store``/``GCSStore``/``AzureStore`` on this bucket; ``overrides`` replace or add kwargs
        (e.g. ``retry_config=...``, or ``endpoint=proxy.url`` for S3)."""
        from obstore.store import AzureStore, GCSStore, S3Store

        kwargs = {**self.obstore_kwargs, **overrides}
        cls = {"s3": S3Store, "gcs": GCSStore, "azure": AzureStore}[self.kind]
        return cls(self.name, **kwargs)


def _bucket(server: Any, kind: str, request: pytest.FixtureRequest) -> Iterator[Bucket]:
    name = servers.unique_name(request.node.name)
    server.create_bucket(name)
    try:
        yield Bucket(name, kind, server)
    finally:
        with contextlib.suppress(Exception):
            server.delete_bucket(name)


@pytest.fixture
def s3_bucket(s3_server: servers.S3Server, request: pytest.FixtureRequest) -> Iterator[Bucket]:
    yield from _bucket(s3_server, "s3", request)


@pytest.fixture
def gcs_bucket(gcs_server: servers.GCSServer, request: pytest.FixtureRequest) -> Iterator[Bucket]:
    yield from _bucket(gcs_server, "gcs", request)


@pytest.fixture
def azure_container(azure_server: servers.AzureServer, request: pytest.FixtureRequest) -> Iterator[Bucket]:
    yield from _bucket(azure_server, "azure", request)


@dataclass
class HttpDir:
    """A fresh directory served by ``http_server``: write files under ``path``, read them at ``url``.

    ``path`` (local directory), ``url`` (``http://127.0.0.1:PORT/<dir>``), ``server``,
    ``obstore_kwargs``/``storage_options`` of the server; ``write(relpath, data)``;
    ``store(**overrides)`` builds an ``HTTPStore`` on ``url``.
    """

    path: Path
    url: str
    server: servers.RangeHTTPServer

    @property
    def obstore_kwargs(self) -> dict[str, Any]:
        return self.server.obstore_kwargs

    @property
    def storage_options(self) -> dict[str, Any]:
        return self.server.storage_options

    def write(self, relpath: str, data: bytes) -> Path:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target

    def store(self, **overrides: Any) -> Any:
        from obstore.store import HTTPStore

        return HTTPStore(self.url, **{**self.obstore_kwargs, **overrides})


@pytest.fixture
def http_dir(http_server: servers.RangeHTTPServer, request: pytest.FixtureRequest) -> HttpDir:
    name = servers.unique_name(request.node.name)
    path = http_server.root / name
    path.mkdir()
    return HttpDir(path, http_server.url(name), http_server)


@pytest.fixture
def fault_proxy(_sigterm_ends_session: None) -> Iterator[Callable[..., servers.FaultProxy]]:
    """``fault_proxy(upstream_url, delay_ms=, jitter_ms=, error_rate=, status=, reset_rate=, fail_first=,
    fail_status=, fail_path_regex=, seed=)``: a started :class:`servers.FaultProxy` (``.url``,
    ``.stats()``, ``.config(**changes)``, ``.reset_stats()``), stopped after the test."""
    made: list[servers.FaultProxy] = []

    def make(upstream: str, **settings: Any) -> servers.FaultProxy:
        proxy = servers.start_fault_proxy(upstream, **settings)
        made.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in made:
            proxy.stop()
