"""A latency-injecting, call-counting HTTP proxy between an AWS SDK and the local emulator.

Why: moto answers in a few milliseconds on the same machine, so a benchmark against it hides
what matters against AWS, where every call costs a network round trip. This proxy sleeps a
configurable delay before forwarding each request, so call count and concurrency show up in
wall-clock time as they would at real latency. It also counts calls by AWS action
("iam:CreatePolicy", "glue:GetDatabases", "lakeformation:ListPermissions"), the way
tests/support/proxy.rs `action_of` names them, and can answer a fraction of calls with the
service's own throttling error.

How, and the measured pitfalls it avoids:
- One thread per client connection, HTTP/1.1 keep-alive towards the client, so an SDK
  reuses its connections as it would against AWS, and concurrent requests (the Rust client
  sends many in parallel) are delayed and forwarded concurrently.
- TCP_NODELAY on both sockets and every response written in one send. Without both, a
  keep-alive request stalls about 40 ms on delayed ACKs (Nagle meets delayed ACK) and every
  latency figure is wrong.
- Towards moto, a connection per request is fine (moto's server closes after each answer
  anyway); a kept one is reused when the upstream allows it.
- The delay is added before forwarding, once per request, including throttled answers.
  Connection set-up costs nothing here (no TLS), unlike AWS: the figures are a lower bound
  for a client that opens many connections.

Use as a module:

    with Proxy("http://127.0.0.1:5000", delay=0.05) as p:
        ... point AWS_ENDPOINT_URL at p.url ...
        print(p.counts())

or standalone (prints the counts when stopped with Ctrl-C):

    python scripts/benchlib/proxy.py --upstream http://127.0.0.1:5000 --delay-ms 50

A running proxy also answers `GET /__proxy/counts` (JSON), `POST /__proxy/reset` (zero the
counts) and `POST /__proxy/config?delay_ms=50&throttle=0.1`; those are never counted.

Stdlib only, so it runs from any Python 3.9+.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import random
import socket
import sys
import threading
import time
import urllib.parse

CONTROL_PREFIX = "/__proxy/"
# Hop-by-hop headers: they describe one connection, so they are never forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
MAX_LINE = 65536


class BadRequest(Exception):
    """The client sent something this proxy cannot parse; the connection is dropped."""


def action_of(path: str, headers: dict[str, str], body: bytes) -> str:
    """"service:Action" from a request in any protocol IAM, STS, Glue, Athena and Lake
    Formation use. The service comes from the SigV4 credential scope
    (Credential=AKID/date/region/SERVICE/aws4_request); the action from X-Amz-Target (JSON
    1.1: Glue, Athena), else `Action=` in a form body (query: IAM, STS), else the first path
    segment (REST-JSON: Lake Formation, e.g. POST /ListPermissions). Mirrors
    tests/support/proxy.rs `action_of`."""
    service = "unknown"
    auth = headers.get("authorization", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split("/")
        if len(scope) > 3:
            service = scope[3]
    target = headers.get("x-amz-target")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    text = body.decode("latin-1")
    for pair in text.split("&"):
        if pair.startswith("Action="):
            return f"{service}:{urllib.parse.unquote_plus(pair[len('Action='):])}"
    op = path.lstrip("/").split("?", 1)[0].split("/", 1)[0]
    return f"{service}:{op}"


def throttling_response(headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """The service's own throttling error, in its own protocol, so each SDK classifies it
    as throttling and retries it as it would for AWS."""
    request_id = "bench-throttled-%08x" % random.getrandbits(32)
    if "x-amz-target" in headers:
        # JSON 1.1 (Glue, Athena): the type in the body and in x-amzn-ErrorType.
        payload = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        return 400, [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-ErrorType", "ThrottlingException"),
            ("x-amzn-RequestId", request_id),
        ], payload
    if b"Action=" in body:
        # Query protocol (IAM, STS): XML with Type/Code/Message.
        payload = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            "<Message>Rate exceeded</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return 400, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], payload
    # REST-JSON (Lake Formation): the type only in x-amzn-ErrorType.
    payload = json.dumps({"message": "Rate exceeded"}).encode()
    return 400, [
        ("Content-Type", "application/json"),
        ("x-amzn-ErrorType", "ThrottlingException"),
        ("x-amzn-RequestId", request_id),
    ], payload


def _nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _read_request(rfile, client: socket.socket):
    """Reads one request from a client connection. Returns (method, target, version,
    headers as a list of (name, value), body), or None when the client closed the
    connection between requests."""
    line = rfile.readline(MAX_LINE + 1)
    while line in (b"\r\n", b"\n"):  # tolerate stray blank lines between requests
        line = rfile.readline(MAX_LINE + 1)
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split()
    if len(parts) != 3:
        raise BadRequest(f"bad request line {line[:80]!r}")
    method, target, version = parts
    headers: list[tuple[str, str]] = []
    while True:
        h = rfile.readline(MAX_LINE + 1)
        if not h:
            raise BadRequest("connection closed inside the headers")
        if h in (b"\r\n", b"\n"):
            break
        name, sep, value = h.decode("latin-1").partition(":")
        if not sep:
            raise BadRequest(f"bad header line {h[:80]!r}")
        headers.append((name.strip(), value.strip()))
    lower = {k.lower(): v for k, v in headers}
    if lower.get("expect", "").lower() == "100-continue":
        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in lower.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size_line = rfile.readline(MAX_LINE + 1)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            chunks.append(rfile.read(size))
            rfile.readline(MAX_LINE + 1)  # the CRLF after each chunk
        body = b"".join(chunks)
    else:
        length = int(lower.get("content-length", "0") or 0)
        body = rfile.read(length) if length else b""
        if len(body) != length:
            raise BadRequest("connection closed inside the body")
    return method, target, version, headers, body


def _wants_keep_alive(version: str, headers: dict[str, str]) -> bool:
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


def _response_bytes(status: int, reason: str, headers: list[tuple[str, str]], body: bytes, keep_alive: bool) -> bytes:
    """A whole response as one buffer (so it goes out in one send), with our own framing:
    Content-Length, no Transfer-Encoding, and a Connection header that says what we do."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in headers:
        if name.lower() in HOP_BY_HOP or name.lower() == "content-length":
            continue
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: " + ("keep-alive" if keep_alive else "close"))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Upstream:
    """One connection to the upstream server, owned by one client thread, reopened when the
    upstream closes it (moto closes after every answer)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.sock: socket.socket | None = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def exchange(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes):
        """Sends one request and returns (status, reason, headers, body). A kept
        connection the upstream closed meanwhile is retried once on a fresh one."""
        for attempt in (0, 1):
            fresh = self.sock is None
            if fresh:
                self.sock = socket.create_connection((self.host, self.port))
                _nodelay(self.sock)
            try:
                return self._send(method, target, headers, body)
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if fresh or attempt:
                    raise
        raise AssertionError("unreachable")

    def _send(self, method, target, headers, body):
        lines = [f"{method} {target} HTTP/1.1"]
        for name, value in headers:
            if name.lower() in HOP_BY_HOP or name.lower() in ("content-length", "expect"):
                continue
            lines.append(f"{name}: {value}")
        if body or method not in ("GET", "HEAD", "DELETE"):
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        resp = http.client.HTTPResponse(self.sock, method=method)
        try:
            resp.begin()
            data = resp.read()
        finally:
            resp.close()  # closes only the response's file object, not the socket
        if resp.will_close:
            self.close()
        return resp.status, resp.reason, resp.getheaders(), data


class Proxy:
    """The proxy server. `delay` (seconds) and `throttle` (a fraction of calls, 0..1) may be
    changed while it runs; they apply to requests that arrive afterwards."""

    def __init__(self, upstream: str, delay: float = 0.0, throttle: float = 0.0, *, host: str = "127.0.0.1",
                 port: int = 0, seed: int | None = None):
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be http://HOST:PORT, not {upstream!r}")
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.delay = delay
        self.throttle = throttle
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._throttled: collections.Counter[str] = collections.Counter()
        self._connections = 0  # client connections accepted: shows whether clients keep them alive
        self._listener = socket.create_server((host, port), backlog=256)
        self.url = "http://%s:%d" % self._listener.getsockname()[:2]
        self._clients: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> "Proxy":
        self._thread = threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closed = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "Proxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- counts ------------------------------------------------------------------------

    def counts(self) -> collections.Counter:
        """Calls so far by action, throttled ones included (a retried call counts twice)."""
        with self._lock:
            return collections.Counter(self._counts)

    def throttled(self) -> collections.Counter:
        """Calls answered with a throttling error, by action."""
        with self._lock:
            return collections.Counter(self._throttled)

    def connections(self) -> int:
        """Client connections accepted since the counts were last reset."""
        with self._lock:
            return self._connections

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()
            self._throttled.clear()
            self._connections = 0

    # -- serving -----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            _nodelay(conn)
            with self._lock:
                self._clients.add(conn)
                self._connections += 1
            threading.Thread(target=self._serve, args=(conn,), name="proxy-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = _Upstream(*self.upstream)
        rfile = client.makefile("rb")
        try:
            while True:
                request = _read_request(rfile, client)
                if request is None:
                    return
                method, target, version, headers, body = request
                lower = {k.lower(): v for k, v in headers}
                keep = _wants_keep_alive(version, lower)
                if target.startswith(CONTROL_PREFIX):
                    status, out_headers, payload = self._control(method, target)
                    client.sendall(_response_bytes(status, "OK" if status == 200 else "Not Found",
                                                   out_headers, payload, keep))
                else:
                    client.sendall(self._forward(upstream, method, target, headers, lower, body, keep))
                if not keep:
                    return
        except (BadRequest, ValueError, OSError, http.client.HTTPException) as e:
            if not self._closed and not isinstance(e, (BrokenPipeError, ConnectionResetError)):
                print(f"proxy: connection dropped: {e}", file=sys.stderr)
        finally:
            upstream.close()
            rfile.close()
            with self._lock:
                self._clients.discard(client)
            client.close()

    def _forward(self, upstream: _Upstream, method, target, headers, lower, body, keep) -> bytes:
        action = action_of(target, lower, body)
        throttle = self.throttle > 0 and self._random_below(self.throttle)
        with self._lock:
            self._counts[action] += 1
            if throttle:
                self._throttled[action] += 1
        if self.delay > 0:
            time.sleep(self.delay)
        if throttle:
            status, out_headers, payload = throttling_response(lower, body)
            return _response_bytes(status, "Bad Request", out_headers, payload, keep)
        try:
            status, reason, out_headers, payload = upstream.exchange(method, target, headers, body)
        except (OSError, http.client.HTTPException) as e:
            msg = json.dumps({"message": f"bench proxy: upstream unreachable: {e}"}).encode()
            return _response_bytes(502, "Bad Gateway", [("Content-Type", "application/json")], msg, keep)
        return _response_bytes(status, reason, out_headers, payload, keep)

    def _random_below(self, fraction: float) -> bool:
        with self._lock:
            return self._random.random() < fraction

    def _control(self, method: str, target: str):
        url = urllib.parse.urlsplit(target)
        what = url.path[len(CONTROL_PREFIX):]
        query = dict(urllib.parse.parse_qsl(url.query))
        if what == "reset" and method == "POST":
            self.reset_counts()
        elif what == "config" and method == "POST":
            if "delay_ms" in query:
                self.delay = float(query["delay_ms"]) / 1000
            if "throttle" in query:
                self.throttle = float(query["throttle"])
        elif what != "counts":
            return 404, [("Content-Type", "application/json")], b'{"message":"unknown control path"}'
        counts = self.counts()
        payload = {
            "total": sum(counts.values()),
            "counts": dict(sorted(counts.items())),
            "throttled": dict(sorted(self.throttled().items())),
            "connections": self.connections(),
            "delay_ms": self.delay * 1000,
            "throttle": self.throttle,
        }
        return 200, [("Content-Type", "application/json")], json.dumps(payload).encode()


def format_counts(counts: collections.Counter) -> str:
    """Counts as aligned lines, most frequent first."""
    if not counts:
        return "(no calls)"
    width = max(len(a) for a in counts)
    return "\n".join(f"{a:<{width}}  {n}" for a, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Latency-injecting, call-counting proxy in front of an AWS emulator.")
    ap.add_argument("--upstream", required=True, help="the emulator, e.g. http://127.0.0.1:5000")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--delay-ms", type=float, default=0.0, help="delay added to every request (default 0)")
    ap.add_argument("--throttle", type=float, default=0.0, metavar="FRACTION",
                    help="answer this fraction of calls with the service's throttling error")
    ap.add_argument("--seed", type=int, default=None, help="random seed for --throttle")
    args = ap.parse_args(argv)
    if not 0 <= args.throttle <= 1:
        ap.error("--throttle must be between 0 and 1")
    proxy = Proxy(args.upstream, args.delay_ms / 1000, args.throttle, port=args.port, seed=args.seed).start()
    print(f"proxy listening on {proxy.url} -> {args.upstream} (delay {args.delay_ms:g} ms, "
          f"throttle {args.throttle:g})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
        print(format_counts(proxy.counts()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
