"""A real HTTP server on 127.0.0.1 for fetch tests: routes the tests write, hit counts.

Use the ``local_server`` fixture (import it into the test module) or ``LocalServer`` directly:

    server.route("/a.html", body=b"<html>...</html>", content_type="text/html")
    server.route("/flaky", responses=[Reply(status=500), Reply(body=b"ok")])
    server.url("/a.html")  -> "http://127.0.0.1:PORT/a.html"
    server.hits["/a.html"] -> 1
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Reply:
    """One canned response."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0          # wait before answering
    drip_s: float = 0.0           # wait between 1 KiB chunks of the body (slow-loris)
    send_length: bool = True      # False: no Content-Length, body until close
    etag: str | None = None       # sent as ETag; a matching If-None-Match gets 304


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # clients hang up on purpose
        pass


@dataclass
class _Route:
    responses: list[Reply]


class LocalServer:
    """ThreadingHTTPServer on 127.0.0.1:0 with scripted routes; thread-safe hit counts."""

    def __init__(self, host: str = "127.0.0.1"):
        self.routes: dict[str, _Route] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                reply = server._next_reply(self.path, dict(self.headers.items()))
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                    self._answer(reply)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, reply: Reply) -> None:
                if reply.etag and self.headers.get("If-None-Match") == reply.etag:
                    reply = Reply(status=304, content_type=None, headers={"ETag": reply.etag})
                elif reply.etag:
                    reply = Reply(**{**reply.__dict__, "headers": {**reply.headers, "ETag": reply.etag}})
                try:
                    self.send_response(reply.status)
                    if reply.content_type:
                        self.send_header("Content-Type", reply.content_type)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if reply.send_length:
                        self.send_header("Content-Length", str(len(reply.body)))
                    else:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    if reply.drip_s:
                        for start in range(0, len(reply.body), 1024):
                            self.wfile.write(reply.body[start:start + 1024])
                            self.wfile.flush()
                            time.sleep(reply.drip_s)
                    else:
                        self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._httpd = _QuietServer((host, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.host = host
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _next_reply(self, path: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.hits[path] += 1
            self.requests.append((path, headers))
            route = self.routes.get(path)
            if route is None:
                return Reply(status=404, body=b"<html><body>not found</body></html>")
            if len(route.responses) > 1:
                return route.responses.pop(0)
            return route.responses[0]

    def route(self, path: str, body: bytes | str = b"", *, responses: list[Reply] | None = None,
              **reply_fields) -> None:
        """Serve ``path``: one reply for every request, or ``responses`` in turn (last repeats)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.routes[path] = _Route(responses or [Reply(body=body, **reply_fields)])

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return f"http://{self.host}:{self.port}{path}"

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A fresh LocalServer for one test."""
    server = LocalServer().start()
    try:
        yield server
    finally:
        server.stop()


def article_html(title: str, paragraphs: list[str], *, charset: str = "utf-8") -> str:
    """A plausible news article page for extraction."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="{charset}"><title>{title}</title>'
            f'</head><body><nav><a href="/">Home</a> | <a href="/world">World</a></nav>'
            f"<article><h1>{title}</h1>{body}</article>"
            f"<footer>Copyright Example News</footer></body></html>")
