"""An MLflow double that can move aliases: the recorded answers of tests/mlflow_double.py
for GETs (registered-models/alias, model-versions/search), plus
POST /api/2.0/mlflow/registered-models/alias which moves the alias like MLflow does."""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
from typing import Any

from tests.doubles.http import HttpDouble, Request
from tests.mlflow_double import PREFIX, RECORDED


class MlflowWriteDouble(HttpDouble):
    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[str, Any] = json.loads(RECORDED.read_text())
        self.route("GET", PREFIX + r"(registered-models/alias|model-versions/search)", self._get)
        self.route("POST", PREFIX + r"registered-models/alias", self._set_alias)

    def _get(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        query = dict(req.query)
        key = f"GET {m.group(1)}?{urllib.parse.urlencode(sorted(query.items()))}"
        if key not in self.answers:
            return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no recording for {key}"}
        body = dict(self.answers[key])
        return int(body.pop("__status__", 200)), body

    def _set_alias(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        b = req.body or {}
        name, alias, version = b.get("name"), b.get("alias"), str(b.get("version"))
        versions = self.answers.get(f"GET model-versions/search?{urllib.parse.urlencode({'filter': f'name={chr(39)}{name}{chr(39)}', 'max_results': '100'})}")
        match = [v for v in (versions or {}).get("model_versions", []) if v["version"] == version]
        if not match:
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Model Version (name={name}, version={version}) not found"}
        mv = copy.deepcopy(match[0])
        mv["aliases"] = [alias]
        self.answers[f"GET registered-models/alias?{urllib.parse.urlencode(sorted({'name': name, 'alias': alias}.items()))}"] = {"model_version": mv}
        return 200, {}
