#!/usr/bin/env python3
"""A fault-injecting HTTP reverse proxy for testing object-store clients (stdlib only).

Run it as its own process in front of an emulator (moto, Azurite, fake-gcs-server, ...)::

    python tools/faultproxy.py --listen-port 0 --upstream http://127.0.0.1:5000 \\
        --delay-ms 50 --error-rate 0.2 --status 503 --reset-rate 0.0 --seed 1

It prints ``faultproxy listening on 127.0.0.1:PORT`` once it accepts connections (use
``--listen-port 0`` to let the OS pick the port and read it from that line).

Every request is forwarded to the upstream with the client's ``Host`` header kept, so AWS SigV4
and Azure SharedKey signatures still verify. Before forwarding, the proxy can:

- wait ``delay_ms`` (plus up to ``jitter_ms`` more, drawn from the seeded RNG);
- answer the first ``fail_first`` requests, and then a share ``error_rate`` of them, with
  ``status`` (default 503) and an S3-style XML error body (``<Error><Code>SlowDown</Code>...``);
- reset the connection (TCP RST, no response) for a share ``reset_rate`` of requests;
- answer every request whose path matches ``fail_path_regex`` (all requests when that is empty)
  with ``fail_status``, e.g. 403: a permanent error that clients must not retry.

Control endpoints (never forwarded, never faulted, not counted):

- ``GET /__faultproxy__/stats``: JSON counters ``requests`` (data requests received),
  ``forwarded``, ``injected_errors``, ``permanent_errors``, ``resets``, ``upstream_errors``,
  ``by_status`` (status sent to clients, as strings) and ``by_method``;
- ``GET /__faultproxy__/config``: the current settings as JSON;
- ``POST /__faultproxy__/config`` with a JSON object: changes the given settings (``seed``
  re-seeds the RNG) and answers the new settings;
- ``POST /__faultproxy__/reset``: zeroes the counters.

Settings: delay_ms, jitter_ms, error_rate, status, reset_rate, fail_first, fail_status,
fail_path_regex, seed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

CONTROL = "/__faultproxy__/"
_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
_ERRORS = {
    400: ("BadRequest", "Injected bad request."),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    429: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "Injected bad gateway."),
    503: ("SlowDown", "Please reduce your request rate."),
    504: ("GatewayTimeout", "Injected gateway timeout."),
}
DEFAULTS: dict[str, Any] = {
    "delay_ms": 0.0,
    "jitter_ms": 0.0,
    "error_rate": 0.0,
    "status": 503,
    "reset_rate": 0.0,
    "fail_first": 0,
    "fail_status": None,
    "fail_path_regex": "",
    "seed": None,
}


class State:
    """Settings, the seeded RNG and the counters, shared by all handler threads."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.lock = threading.Lock()
        self.settings = dict(DEFAULTS)
        self.rng = random.Random()
        self.regex: re.Pattern[str] | None = None
        self.update(settings)
        self.reset_counters()

    def reset_counters(self) -> None:
        with self.lock:
            self.counters = Counter()
            self.by_status: Counter[str] = Counter()
            self.by_method: Counter[str] = Counter()
            self.seen = 0  # data requests seen since the last fail_first change / reset

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)} (known: {sorted(DEFAULTS)})")
        with self.lock:
            new = {**self.settings, **changes}
            for key in ("delay_ms", "jitter_ms", "error_rate", "reset_rate"):
                new[key] = float(new[key])
                if new[key] < 0 or (key.endswith("rate") and new[key] > 1):
                    raise ValueError(f"{key}={new[key]} out of range")
            new["status"] = int(new["status"])
            new["fail_first"] = int(new["fail_first"])
            new["fail_status"] = None if new["fail_status"] in (None, "", 0) else int(new["fail_status"])
            regex = re.compile(new["fail_path_regex"]) if new["fail_path_regex"] else None
            self.settings, self.regex = new, regex
            if "seed" in changes:
                self.rng.seed(new["seed"])
            if "fail_first" in changes:
                self.seen = 0
            return dict(self.settings)

    def decide(self, method: str, path: str) -> tuple[str, float, int | None]:
        """("forward" | "error" | "permanent" | "reset", delay in s, status) for one data request."""
        with self.lock:
            s = self.settings
            self.counters["requests"] += 1
            self.by_method[method] += 1
            self.seen += 1
            delay = s["delay_ms"] / 1000
            if s["jitter_ms"]:
                delay += self.rng.random() * s["jitter_ms"] / 1000
            if s["fail_status"] is not None and (self.regex is None or self.regex.search(path)):
                self.counters["permanent_errors"] += 1
                return "permanent", delay, s["fail_status"]
            if self.seen <= s["fail_first"]:
                self.counters["injected_errors"] += 1
                return "error", delay, s["status"]
            draw = self.rng.random()
            if draw < s["reset_rate"]:
                self.counters["resets"] += 1
                return "reset", delay, None
            if draw < s["reset_rate"] + s["error_rate"]:
                self.counters["injected_errors"] += 1
                return "error", delay, s["status"]
            self.counters["forwarded"] += 1
            return "forward", delay, None

    def count_status(self, status: int) -> None:
        with self.lock:
            self.by_status[str(status)] += 1

    def count(self, name: str) -> None:
        with self.lock:
            self.counters[name] += 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            out = {
                k: self.counters.get(k, 0)
                for k in ("requests", "forwarded", "injected_errors", "permanent_errors", "resets", "upstream_errors")
            }
            out["by_status"] = dict(self.by_status)
            out["by_method"] = dict(self.by_method)
            return out


def error_body(status: int) -> bytes:
    code, message = _ERRORS.get(status, (f"Injected{status}", f"Injected HTTP {status}."))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        f"<RequestId>faultproxy</RequestId></Error>"
    ).encode()


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # without it, Nagle + delayed ACK add ~40 ms per response
    server: ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write("faultproxy: " + format % args + "\n")

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        return self.rfile.read(int(length)) if int(length) else b""

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, *, head: bool = False) -> None:
        # counted before the client can see the response, so stats read after a request include it
        self.server.state.count_status(status)
        self.send_response(status)
        has_length = False
        for name, value in headers:
            low = name.lower()
            if low in _HOP or low in ("date", "server"):
                continue
            if low == "content-length":
                has_length = True
                if not head:
                    continue
            self.send_header(name, value)
        if not (head and has_length):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _control(self, body: bytes | None) -> None:
        state = self.server.state
        what = self.path[len(CONTROL) :].split("?", 1)[0].strip("/")
        try:
            if what == "stats" and self.command == "GET":
                self._json(200, state.stats())
            elif what == "config" and self.command == "GET":
                self._json(200, dict(state.settings))
            elif what == "config" and self.command in ("POST", "PUT", "PATCH"):
                self._json(200, state.update(json.loads(body or b"{}")))
            elif what == "reset" and self.command == "POST":
                state.reset_counters()
                self._json(200, state.stats())
            else:
                self._json(404, {"error": f"unknown control request {self.command} {self.path}"})
        except (ValueError, TypeError, re.error) as exc:
            self._json(400, {"error": str(exc)})

    def _reset_connection(self) -> None:
        """Close with SO_LINGER 0, so the client sees a TCP RST instead of a response."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        self.wfile = _Discard()  # BaseHTTPRequestHandler flushes wfile after the method returns
        try:
            self.rfile.close()  # drop the makefile reference, so close() below really closes (RST)
            self.connection.close()
        except OSError:
            pass

    def _upstream(self, body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP and k.lower() != "content-length"]
        for attempt in (0, 1):
            conn = getattr(self, "_conn", None)
            if conn is None:
                conn = self._conn = http.client.HTTPConnection(*self.server.upstream, timeout=self.server.upstream_timeout)
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:  # Host included, as the client sent it
                    conn.putheader(name, value)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body if body else None)
                resp = conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    conn.close()
                    self._conn = None
                return resp.status, resp.getheaders(), data
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _handle(self) -> None:
        body = self._read_body()
        if self.path.startswith(CONTROL):
            self._control(body)
            return
        state = self.server.state
        action, delay, status = state.decide(self.command, self.path)
        if delay > 0:
            time.sleep(delay)
        if action == "reset":
            self._reset_connection()
            return
        head = self.command == "HEAD"
        if action in ("error", "permanent"):
            assert status is not None
            self._send(
                status, [("Content-Type", "application/xml"), ("x-amz-request-id", "faultproxy")], error_body(status), head=head
            )
            return
        try:
            up_status, up_headers, data = self._upstream(body)
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            state.count("upstream_errors")
            self._send(502, [("Content-Type", "text/plain")], f"faultproxy: upstream failed: {exc}".encode(), head=head)
            return
        self._send(up_status, up_headers, data, head=head)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _handle

    def __getattr__(self, name: str) -> Any:
        # any other method (PROPFIND, MKCOL, COPY, ...) is forwarded too
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


class _Discard:
    """Stands in for wfile after a reset: whatever the request machinery still writes goes nowhere."""

    closed = False

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        listen: tuple[str, int],
        upstream: tuple[str, int],
        state: State,
        *,
        verbose: bool = False,
        upstream_timeout: float = 60.0,
    ) -> None:
        super().__init__(listen, ProxyHandler)
        self.upstream = upstream
        self.state = state
        self.verbose = verbose
        self.upstream_timeout = upstream_timeout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Fault-injecting HTTP reverse proxy (see the module docstring).")
    p.add_argument("--listen-host", default="127.0.0.1")
    p.add_argument("--listen-port", type=int, default=0, help="0: pick a free port (printed on stdout)")
    p.add_argument("--upstream", required=True, help="base URL of the server to forward to, e.g. http://127.0.0.1:5000")
    p.add_argument("--delay-ms", type=float, default=0.0, help="latency added to every request")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="extra random latency, uniform in [0, jitter)")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered with --status")
    p.add_argument("--status", type=int, default=503, help="status of injected transient errors (503: S3 SlowDown)")
    p.add_argument("--reset-rate", type=float, default=0.0, help="share of requests whose connection is reset")
    p.add_argument("--fail-first", type=int, default=0, help="answer the first N requests with --status")
    p.add_argument("--fail-status", type=int, default=None, help="answer every (matching) request with this status, e.g. 403")
    p.add_argument(
        "--fail-status-for-path-regex",
        "--fail-path-regex",
        dest="fail_path_regex",
        default="",
        help="only requests whose path matches this regex get --fail-status (default: all)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--upstream-timeout", type=float, default=60.0)
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")
    a = p.parse_args(argv)
    up = urlsplit(a.upstream)
    if up.scheme != "http" or not up.hostname:
        p.error("--upstream must be an http:// URL")
    state = State(
        {
            "delay_ms": a.delay_ms,
            "jitter_ms": a.jitter_ms,
            "error_rate": a.error_rate,
            "status": a.status,
            "reset_rate": a.reset_rate,
            "fail_first": a.fail_first,
            "fail_status": a.fail_status,
            "fail_path_regex": a.fail_path_regex,
            "seed": a.seed,
        }
    )
    server = ProxyServer(
        (a.listen_host, a.listen_port),
        (up.hostname, up.port or 80),
        state,
        verbose=a.verbose,
        upstream_timeout=a.upstream_timeout,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"faultproxy listening on {server.server_address[0]}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
