"""Read an MLflow tracking server's model registry over its REST API and copy it into the
local registry. Read-only towards MLflow.

Endpoints (mlflow.org/docs/latest/api_reference/rest-api.html), under /api/2.0/mlflow:
registered-models/search, model-versions/search, registered-models/alias, runs/get.
Aliases are preferred; `current_stage` (deprecated since MLflow 2.9) is kept as the legacy
stage and used for "live" only when a model has no alias.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel

from tools.errors import ToolError
from tools.mlops.schemas import ModelIn, ModelVersionIn
from tools.store.models import remove_aliases_not_in, upsert_models

if TYPE_CHECKING:
    from tools.store import Store

API = "/api/2.0/mlflow/"
PAGE = 100
_TRAINING_DATA_KEYS = ("training_data", "train_data", "dataset", "data_path", "training_dataset")


class SyncReport(BaseModel):
    url: str
    models: int
    versions: int
    runs_read: int
    skipped: list[str]


def _ms(ts: Any) -> datetime | None:
    try:
        return None if ts in (None, "", 0, "0") else datetime.fromtimestamp(int(ts) / 1000, tz=UTC)
    except (TypeError, ValueError):
        return None


def _tags(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {t.get("key", ""): t.get("value", "") for t in items or []}


class MlflowClient:
    """A thin httpx client over the REST API; every error becomes a ToolError saying what failed."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0, transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url + API, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> MlflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            resp = self.http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise ToolError(f"MLflow at {self.url} is not reachable: {exc.__class__.__name__}",
                            hint="Check MLFLOW_TRACKING_URI.") from exc
        if path == "registered-models/alias" and resp.status_code in (400, 404) and "not found" in resp.text:
            return {}  # MLflow answers 400 INVALID_PARAMETER_VALUE for an alias that is not set
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("message") or resp.text[:200]
            except ValueError:
                detail = resp.text[:200]
            raise ToolError(f"MLflow answered {resp.status_code} to {path}: {detail}")
        try:
            return resp.json()
        except ValueError as exc:
            raise ToolError(f"MLflow's answer to {path} is not JSON.") from exc

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._get(path, {**params, "max_results": PAGE, **({"page_token": token} if token else {})})
            yield from page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                return

    def registered_models(self) -> Iterator[dict[str, Any]]:
        return self._pages("registered-models/search", "registered_models", {})

    def model_versions(self, name: str) -> Iterator[dict[str, Any]]:
        quoted = name.replace("'", "\\'")
        return self._pages("model-versions/search", "model_versions", {"filter": f"name='{quoted}'"})

    def alias(self, name: str, alias: str) -> dict[str, Any] | None:
        return self._get("registered-models/alias", {"name": name, "alias": alias}).get("model_version")

    def run(self, run_id: str) -> dict[str, Any]:
        return self._get("runs/get", {"run_id": run_id}).get("run", {})


def _training_data(run: dict[str, Any]) -> str | None:
    for item in (run.get("inputs") or {}).get("dataset_inputs") or []:
        ds = item.get("dataset") or {}
        if ds.get("source") or ds.get("name"):
            src = ds.get("source") or ""
            # MLflow stores the source as JSON text, e.g. {"uri": "s3://…"}
            if src.startswith("{"):
                try:
                    parsed = json.loads(src)
                    src = parsed.get("uri") or parsed.get("url") or src
                except (ValueError, AttributeError):
                    pass
            return src or ds.get("name")
    data = run.get("data") or {}
    for source in (_tags(data.get("params")), _tags(data.get("tags"))):
        for key in _TRAINING_DATA_KEYS:
            if source.get(key):
                return source[key]
    return None


def model_from_mlflow(
    client: MlflowClient, rm: dict[str, Any], alias_names: tuple[str, ...], runs: dict[str, dict[str, Any]]
) -> ModelIn:
    """One registered model, its versions, aliases, stages and run metrics."""
    name = rm["name"]
    tags = _tags(rm.get("tags"))
    alias_of: dict[str, list[str]] = {}
    listed = rm.get("aliases")
    if listed is None:  # an older server: ask for the aliases we care about one by one
        listed = []
        for a in alias_names:
            mv = client.alias(name, a)
            if mv:
                listed.append({"alias": a, "version": mv["version"]})
    for item in listed:
        alias_of.setdefault(str(item["version"]), []).append(item["alias"])
    versions = []
    for mv in client.model_versions(name):
        run: dict[str, Any] = {}
        run_id = mv.get("run_id")
        if run_id:
            if run_id not in runs:
                try:
                    runs[run_id] = client.run(run_id)
                except ToolError:
                    runs[run_id] = {}  # a deleted run must not stop the sync
            run = runs[run_id]
        info = run.get("info") or {}
        metrics = {m["key"]: float(m["value"]) for m in (run.get("data") or {}).get("metrics") or [] if "key" in m and "value" in m}
        stage = mv.get("current_stage")
        versions.append(ModelVersionIn(
            version=str(mv["version"]),
            aliases=sorted(set(alias_of.get(str(mv["version"]), [])) | set(mv.get("aliases") or [])),
            stage=None if stage in (None, "", "None") else stage,
            status=mv.get("status"),
            run_id=run_id,
            source=mv.get("source"),
            training_data=_training_data(run),
            trained_at=_ms(info.get("end_time")) or _ms(info.get("start_time")) or _ms(mv.get("creation_timestamp")),
            registered_at=_ms(mv.get("creation_timestamp")),
            metrics=metrics,
            description=mv.get("description") or None,
        ))
    return ModelIn(
        name=name,
        service=tags.get("service") or tags.get("triops.service"),
        team=tags.get("team") or tags.get("triops.team"),
        description=rm.get("description") or None,
        source="mlflow",
        versions=versions,
    )


def sync(
    store: Store, client: MlflowClient, now: float, *, names: list[str] | None = None,
    alias_names: tuple[str, ...] = ("champion", "challenger"),
) -> SyncReport:
    """Copy MLflow's registry into the local one; aliases MLflow dropped are dropped here too."""
    runs: dict[str, dict[str, Any]] = {}
    n_models = n_versions = 0
    skipped: list[str] = []
    for rm in client.registered_models():
        if names and rm.get("name") not in names:
            continue
        try:
            model = model_from_mlflow(client, rm, alias_names, runs)
        except (KeyError, ValueError) as exc:
            skipped.append(f"{rm.get('name', '?')}: {exc}")
            continue
        with store.engine.begin() as conn:
            n_versions += upsert_models(conn, [model], now)
            remove_aliases_not_in(conn, model.name, {a: v.version for v in model.versions for a in v.aliases})
        n_models += 1
    return SyncReport(url=client.url, models=n_models, versions=n_versions, runs_read=len(runs), skipped=skipped)
