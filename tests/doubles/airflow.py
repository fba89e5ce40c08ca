"""Airflow 2 stable REST API double: POST /api/v1/dags/{dag_id}/dagRuns with basic auth or a
bearer token -> 200 and the DAGRun ({dag_id, dag_run_id, state: queued, conf, ...}); 401
without credentials, 404 for an unknown DAG, 409 for a dag_run_id that exists, 400 for a
conf that is not an object (airflow.apache.org/docs/apache-airflow/2.10.0/stable-rest-api-ref.html)."""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.doubles.http import HttpDouble, Request

USER, PASSWORD, TOKEN = "triops", "airflow-pass-SECRET", "airflow-token-SECRET"


class AirflowDouble(HttpDouble):
    def __init__(self) -> None:
        super().__init__()
        self.dags = {"retrain_search_ranker"}
        self.runs: dict[str, dict[str, Any]] = {}
        self.route("POST", r"/api/v1/dags/([\w.-]+)/dagRuns", self._trigger)

    def _auth(self, req: Request) -> bool:
        basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return req.headers.get("authorization") in (basic, f"Bearer {TOKEN}")

    def _trigger(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if not self._auth(req):
            return 401, {"title": "Unauthorized", "status": 401, "type": "https://airflow.apache.org/docs/apache-airflow/2.10.0/stable-rest-api-ref.html#section/Errors/Unauthenticated"}
        if m.group(1) not in self.dags:
            return 404, {"title": "DAG not found", "status": 404, "detail": f"DAG with dag_id: '{m.group(1)}' not found"}
        body = req.body or {}
        if not isinstance(body.get("conf", {}), dict):
            return 400, {"title": "Bad Request", "status": 400, "detail": "conf must be an object"}
        run_id = body.get("dag_run_id") or f"manual__{len(self.runs)}"
        if run_id in self.runs:
            return 409, {"title": "Conflict", "status": 409, "detail": f"DAGRun with DAG ID: '{m.group(1)}' and DAGRun ID: '{run_id}' already exists"}
        run = {"dag_id": m.group(1), "dag_run_id": run_id, "state": "queued", "conf": body.get("conf") or {},
               "note": body.get("note"), "run_type": "manual", "external_trigger": True}
        self.runs[run_id] = run
        return 200, run
