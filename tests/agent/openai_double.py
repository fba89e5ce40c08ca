"""An OpenAI-compatible HTTP double on loopback: replays /v1/chat/completions responses.

It speaks the real wire format (tool_calls with JSON-string arguments, usage with
prompt/completion tokens), so the real `openai` client and ChatOpenAI are exercised end to
end; it records every request body so tests can check what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class StreamScript:
    items: list[dict[str, Any]]
    every: float = 0.0  # seconds between chunks (a slow model)


def completion(
    *,
    content: str | None = None,
    tool_calls: list[tuple[str, dict[str, Any]]] | None = None,
    prompt_tokens: int = 500,
    completion_tokens: int = 50,
    model: str = "gpt-4o-mini",
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}_{name}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(tool_calls)
        ]
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if tool_calls else "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def chunks(
    *,
    content: list[str] | None = None,
    tool_calls: list[tuple[str, dict[str, Any]]] | None = None,
    usage: tuple[int, int] | None = (500, 50),
    model: str = "llama",
    finish_reason: str | None = None,
) -> list[dict[str, Any]]:
    """A streamed chat completion as its SSE `data:` payloads, in the shape llama.cpp, vLLM
    and Ollama send: a role delta, content deltas, tool calls split into name and argument
    fragments, a finish_reason, and (with stream_options.include_usage) a usage chunk."""
    base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    for piece in content or []:
        out.append(chunk({"content": piece}))
    for i, (name, args) in enumerate(tool_calls or []):
        text = json.dumps(args)
        out.append(chunk({"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                          "function": {"name": name, "arguments": ""}}]}))
        for j in range(0, len(text), 7):  # arguments arrive in fragments
            out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": text[j:j + 7]}}]}))
    out.append(chunk({}, finish_reason or ("tool_calls" if tool_calls else "stop")))
    if usage:
        out.append({**base, "choices": [], "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                                     "total_tokens": sum(usage)}})
    return out


class OpenAIDouble:
    """Queue responses with `push` (status, body, delay seconds, headers) or `push_stream`
    (SSE chunks, each after `every` seconds); `cancelled` counts streams the client closed."""

    def __init__(self) -> None:
        self.queue: list[tuple[int, Any, float, dict[str, str]]] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.cancelled = 0
        self.sent_chunks = 0
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                double.requests.append({"path": self.path, **body})
                double.headers.append(dict(self.headers))
                extra: dict[str, str] = {}
                if not self.path.endswith("/chat/completions") or not double.queue:
                    status, payload, delay = 404 if double.queue else 500, {"error": {"message": "no scripted response", "type": "server_error"}}, 0.0
                else:
                    status, payload, delay, extra = double.queue.pop(0)
                if isinstance(payload, StreamScript):
                    self._stream(payload, delay)
                    return
                if delay:
                    time.sleep(delay)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

            def _stream(self, script: StreamScript, delay: float) -> None:
                try:
                    if delay:
                        time.sleep(delay)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for item in script.items:
                        self.wfile.write(f"data: {json.dumps(item)}\n\n".encode())
                        self.wfile.flush()
                        double.sent_chunks += 1
                        time.sleep(script.every)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):  # the client closed: stop generating
                    double.cancelled += 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def push(self, body: dict[str, Any], status: int = 200, delay: float = 0.0,
             headers: dict[str, str] | None = None) -> None:
        self.queue.append((status, body, delay, headers or {}))

    def push_stream(self, items: list[dict[str, Any]], every: float = 0.0, delay: float = 0.0) -> None:
        self.queue.append((200, StreamScript(items, every), delay, {}))

    def __enter__(self) -> OpenAIDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
