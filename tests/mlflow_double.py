"""A loopback HTTP double of MLflow's REST API that replays answers recorded from a real
`mlflow server` (tests/fixtures/mlflow/record.py). Requests it has no recording for get
MLflow's own 404 JSON; `page_size` splits search results into pages with next_page_token.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).parent / "fixtures" / "mlflow" / "responses.json"
PREFIX = "/api/2.0/mlflow/"
LISTS = {"registered-models/search": "registered_models", "model-versions/search": "model_versions"}


class MlflowDouble:
    def __init__(self, answers: dict[str, Any] | None = None, page_size: int | None = None):
        self.answers = answers if answers is not None else json.loads(RECORDED.read_text())
        self.page_size = page_size
        self.requests: list[str] = []
        self.auth: list[str | None] = []
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> MlflowDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, body = double._answer(self.path, self.headers.get("Authorization"))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, raw_path: str, auth: str | None) -> tuple[int, dict[str, Any]]:
        parts = urllib.parse.urlsplit(raw_path)
        path = parts.path.removeprefix(PREFIX)
        query = dict(urllib.parse.parse_qsl(parts.query))
        token = query.pop("page_token", None)
        self.requests.append(path)
        self.auth.append(auth)
        if path in LISTS:
            query["max_results"] = "100"
        key = f"GET {path}?{urllib.parse.urlencode(sorted(query.items()))}"
        if key not in self.answers:
            return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no recording for {key}"}
        body = dict(self.answers[key])
        status = int(body.pop("__status__", 200))
        if path in LISTS and self.page_size:
            items = body.get(LISTS[path], [])
            start = int(token or 0)
            body[LISTS[path]] = items[start : start + self.page_size]
            if start + self.page_size < len(items):
                body["next_page_token"] = str(start + self.page_size)
        return status, body
