"""A tiny loopback HTTP server for API doubles: routes by (method, path regex), records every
request (method, path, query, headers, JSON body), and can be told to fail the next calls
with a status or to stall past the client's timeout."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[["Request", re.Match[str]], tuple[int, Any]]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw: bytes = b""  # the exact bytes (for a receiver that checks a signature over them)


@dataclass
class HttpDouble:
    routes: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    fail_with: tuple[int, Any] | None = None  # every request answers this (4xx/5xx)
    stall: float = 0.0  # seconds to wait before answering (a timeout)
    _server: ThreadingHTTPServer | None = None

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + "$"), handler))

    def start(self) -> HttpDouble:
        double = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                req = Request(self.command, parts.path, dict(urllib.parse.parse_qsl(parts.query)),
                              {k.lower(): v for k, v in self.headers.items()}, json.loads(raw) if raw else None, raw)
                double.requests.append(req)
                if double.stall:
                    time.sleep(double.stall)
                status, body = double.fail_with or double._route_request(req)
                out = b"" if body is None else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> HttpDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _route_request(self, req: Request) -> tuple[int, Any]:
        for method, pattern, handler in self.routes:
            m = pattern.match(req.path)
            if m and method == req.method:
                return handler(req, m)
        return 404, {"error": {"message": f"no route {req.method} {req.path}"}}

    def calls(self, method: str, prefix: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]
