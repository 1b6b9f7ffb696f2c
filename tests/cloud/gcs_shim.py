"""An XML-API shim in front of fake-gcs-server, so obstore's GCS client can write to it.

obstore (Rust ``object_store``) talks to GCS through the XML API. fake-gcs-server answers the
XML ``GET``/``HEAD``/``DELETE``/``?list-type=2`` requests itself (when started with
``-public-host 127.0.0.1``) but takes ``PUT /{bucket}/{object}`` only as a signed-URL upload and
has no XML copy. This shim forwards every request unchanged except the XML ``PUT``, which it
turns into what fake-gcs-server does support:

- a plain ``PUT`` is forwarded with ``X-Goog-Algorithm`` added to the query (the signed-URL
  form), and the JSON object it returns becomes the ``ETag`` and ``x-goog-generation`` headers
  obstore reads;
- ``PUT`` with ``x-goog-copy-source`` becomes the JSON ``copyTo`` call;
- ``x-goog-if-generation-match`` (``0``: "must not exist", as ``put(mode="create")`` and
  ``copy(overwrite=False)`` send it; ``N``: "must be generation N") is checked with a ``HEAD``
  first and answered with ``412 Precondition Failed``. The check and the write run under one
  lock per object, so they are atomic among writers that go through the shim.

XML multipart uploads (``POST ?uploads``) are not implemented by fake-gcs-server; pass bytes
or ``use_multipart=False``.

Run as its own process: ``python gcs_shim.py --listen-port 0 --upstream http://127.0.0.1:PORT``;
it prints ``gcs-shim listening on 127.0.0.1:PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

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
_SIGNED = "X-Goog-Algorithm=GOOG4-RSA-SHA256"


class _Locks:
    """One lock per (bucket, object), created on demand."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def get(self, key: tuple[str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


def _xml_error(code: str, message: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'.encode()


class ShimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ShimServer

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            sys.stderr.write("gcs-shim: " + format % args + "\n")

    # -- upstream -------------------------------------------------------------------------
    def _upstream(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> tuple[int, list, bytes]:
        """One request to fake-gcs-server on this handler's kept-alive connection (reconnects once)."""
        for attempt in (0, 1):
            conn = getattr(self, "_conn", None)
            if conn is None:
                conn = self._conn = http.client.HTTPConnection(*self.server.upstream, timeout=60)
            try:
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers.items():
                    conn.putheader(name, value)
                if body is not None or method in ("PUT", "POST"):
                    conn.putheader("Content-Length", str(len(body or b"")))
                conn.endheaders(body or None)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, resp.getheaders(), data
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _read_body(self) -> bytes:
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
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k.lower() not in _HOP and k.lower() != "content-length"}

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes, *, head: bool = False) -> None:
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
        if not head or not has_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    # -- pass-through ---------------------------------------------------------------------
    def _passthrough(self) -> None:
        body = self._read_body() if self.command not in ("GET", "HEAD", "DELETE") or self.headers.get("Content-Length") else None
        status, headers, data = self._upstream(self.command, self.path, self._forward_headers(), body)
        self._reply(status, headers, data, head=self.command == "HEAD")

    do_GET = do_HEAD = do_DELETE = do_POST = do_PATCH = do_OPTIONS = _passthrough

    # -- the XML PUT ----------------------------------------------------------------------
    def do_PUT(self) -> None:
        split = urlsplit(self.path)
        parts = split.path.lstrip("/").split("/", 1)
        if split.path.startswith(("/storage/", "/upload/", "/download/", "/_internal/")) or len(parts) < 2 or not parts[1]:
            self._passthrough()
            return
        body = self._read_body()
        bucket, name = unquote(parts[0]), unquote(parts[1])
        match = self.headers.get("x-goog-if-generation-match")
        source = self.headers.get("x-goog-copy-source")
        with self.server.locks.get((bucket, name)):
            if match is not None:
                current = self._generation(bucket, name)
                if (match.strip() == "0" and current is not None) or (match.strip() != "0" and current != match.strip()):
                    self._reply(
                        412,
                        [("Content-Type", "application/xml")],
                        _xml_error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold."),
                    )
                    return
            if source is not None:
                self._copy(source, bucket, name)
            else:
                self._put(split, body)

    def _generation(self, bucket: str, name: str) -> str | None:
        status, headers, _ = self._upstream(
            "HEAD", f"/{quote(bucket, safe='')}/{quote(name, safe='')}", {"Host": self.headers.get("Host", "")}, None
        )
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"gcs-shim: HEAD {bucket}/{name} answered {status}")
        return dict((k.lower(), v) for k, v in headers).get("x-goog-generation")

    @staticmethod
    def _object_headers(obj: dict) -> list[tuple[str, str]]:
        out = [
            ("ETag", f'"{obj["etag"]}"'),
            ("x-goog-generation", str(obj["generation"])),
            ("x-goog-metageneration", str(obj.get("metageneration", "1"))),
        ]
        if obj.get("md5Hash") or obj.get("crc32c"):
            out.append(("x-goog-hash", f"crc32c={obj.get('crc32c', '')},md5={obj.get('md5Hash', '')}"))
        return out

    def _put(self, split, body: bytes) -> None:
        query = f"{split.query}&{_SIGNED}" if split.query else _SIGNED
        headers = self._forward_headers()
        headers = {k: v for k, v in headers.items() if not k.lower().startswith("x-goog-if-")}
        status, up_headers, data = self._upstream("PUT", f"{split.path}?{query}", headers, body)
        if status != 200:
            self._reply(status, up_headers, data)
            return
        self._reply(200, self._object_headers(json.loads(data)), b"")

    def _copy(self, source: str, bucket: str, name: str) -> None:
        src = unquote(source).lstrip("/")
        src_bucket, _, src_name = src.partition("/")
        target = (
            f"/storage/v1/b/{quote(src_bucket, safe='')}/o/{quote(src_name, safe='')}"
            f"/copyTo/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
        )
        status, up_headers, data = self._upstream(
            "POST", target, {"Host": self.headers.get("Host", ""), "Content-Type": "application/json"}, b""
        )
        if status == 404:
            self._reply(404, [("Content-Type", "application/xml")], _xml_error("NoSuchKey", "The specified key does not exist."))
            return
        if status != 200:
            self._reply(status, up_headers, data)
            return
        obj = json.loads(data)
        result = (
            f'<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult><LastModified>{obj.get("updated", "")}'
            f'</LastModified><ETag>"{obj["etag"]}"</ETag></CopyObjectResult>'
        ).encode()
        self._reply(200, [*self._object_headers(obj), ("Content-Type", "application/xml")], result)


class ShimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int], *, verbose: bool = False) -> None:
        super().__init__(listen, ShimHandler)
        self.upstream = upstream
        self.locks = _Locks()
        self.verbose = verbose


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--upstream", required=True, help="fake-gcs-server base URL, e.g. http://127.0.0.1:4443")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    up = urlsplit(args.upstream)
    server = ShimServer((args.listen_host, args.listen_port), (up.hostname or "127.0.0.1", up.port or 80), verbose=args.verbose)
    print(f"gcs-shim listening on {server.server_address[0]}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
