"""A local double of Slack's Web API (and of `response_url`s) on an ephemeral loopback port.

It speaks Slack's wire format: form or JSON bodies in, `{"ok": …}` JSON out, `Retry-After`
on 429, and records every call so tests assert on what the bot actually sent to Slack.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Call:
    method: str  # "chat.postMessage", or "response_url" for posts to a response URL
    params: dict[str, Any]
    headers: dict[str, str]
    path: str


@dataclass
class SlackDouble:
    calls: list[Call] = field(default_factory=list)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel -> top-level posts
    replies: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)  # (channel, thread) -> posts
    _failures: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = field(default_factory=dict)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> SlackDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                status, headers, body = double._handle(self.path, dict(self.headers), raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def response_url(self, name: str = "cmd") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/response/{name}"

    # --- behaviour ------------------------------------------------------------------------
    def fail_next(self, method: str, status: int = 429, retry_after: int = 1, body: dict | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if status == 429 else {}
        self._failures.setdefault(method, []).append(
            (status, headers, body or {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"})
        )

    def _handle(self, path: str, headers: dict[str, str], raw: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        params = _parse_body(headers, raw)
        path_only = path.split("?", 1)[0]
        if path_only.startswith("/response/"):
            method = "response_url"
        else:
            method = path_only.removeprefix("/api/")
            if "?" in path:
                params.update({k: v[0] for k, v in parse_qs(path.split("?", 1)[1]).items()})
        with self._lock:
            failures = self._failures.get(method)
            if failures:
                status, h, body = failures.pop(0)
                self._record(Call(method + ":failed", params, headers, path))
                return status, h, body
            self._record(Call(method, params, headers, path))
            return 200, {}, self._answer(method, params)

    def _record(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method in self.responses:
            return self.responses[method]
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "team": "test", "url": "https://test.slack.com/"}
        if method in ("chat.postMessage", "chat.postEphemeral"):
            ts = f"{1700000000 + next(self._ts)}.000100"
            channel = params.get("channel", "C0")
            message = {"text": params.get("text"), "ts": ts, "thread_ts": params.get("thread_ts")}
            meta = params.get("metadata")
            if method == "chat.postMessage" and not params.get("thread_ts"):
                self.history.setdefault(channel, []).append({**message, **({"metadata": meta} if meta else {})})
            elif method == "chat.postMessage":
                self.replies.setdefault((channel, str(params["thread_ts"])), []).append(
                    {**message, **({"metadata": meta} if meta else {})})
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "conversations.history":  # top-level messages, newest first; metadata on request
            include = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
            oldest = float(params.get("oldest") or 0)
            msgs = [m if include else {k: v for k, v in m.items() if k != "metadata"}
                    for m in reversed(self.history.get(params.get("channel", ""), [])) if float(m["ts"]) > oldest]
            return {"ok": True, "messages": msgs[: int(params.get("limit") or 100)], "has_more": False}
        if method == "conversations.replies":  # the parent, then its replies, oldest first
            include = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
            channel, ts = params.get("channel", ""), str(params.get("ts", ""))
            parent = [m for m in self.history.get(channel, []) if m["ts"] == ts]
            if not parent:
                return {"ok": False, "error": "thread_not_found"}
            msgs = [m if include else {k: v for k, v in m.items() if k != "metadata"}
                    for m in parent + self.replies.get((channel, ts), [])]
            return {"ok": True, "messages": msgs[: int(params.get("limit") or 1000)], "has_more": False,
                    "response_metadata": {"next_cursor": ""}}
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts"), "text": params.get("text")}
        if method == "response_url":
            return {"ok": True}
        return {"ok": True}

    # --- assertions -----------------------------------------------------------------------
    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"Slack double: expected {count} {method} call(s), got {len(found)}: {[c.method for c in self.calls]}")
                self._cond.wait(left)


def _parse_body(headers: dict[str, str], raw: str) -> dict[str, Any]:
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if not raw:
        return {}
    if "json" in ctype:
        return json.loads(raw)
    out: dict[str, Any] = {}
    for k, v in parse_qs(raw, keep_blank_values=True).items():
        val: Any = v[0]
        if isinstance(val, str) and val[:1] in "[{":
            with contextlib.suppress(json.JSONDecodeError):
                val = json.loads(val)
        out[k] = val
    return out


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers of a request signed as Slack signs it: v0=HMAC-SHA256(secret, 'v0:ts:body')."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}
