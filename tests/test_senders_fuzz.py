"""Every real fixture with one field replaced by a value of the wrong type: a source's
parse either accepts it or raises the errors the route turns into a 4xx naming the field,
never anything that would be a 5xx."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tools.alerts.sources import ALERT_SOURCES
from tools.delivery.sources import CHANGE_SOURCES
from tools.errors import PayloadError

FIX = Path(__file__).parent / "fixtures" / "senders"
WRONG: list[Any] = [None, 7, "x", [], {}, True, 10**20, "0001-01-01T00:00:00Z"]


def paths(obj: Any, prefix: tuple = (), depth: int = 3) -> Iterator[tuple]:
    if depth == 0:
        return
    items = obj.items() if isinstance(obj, dict) else enumerate(obj[:2]) if isinstance(obj, list) else []
    for k, v in items:
        yield (*prefix, k)
        yield from paths(v, (*prefix, k), depth - 1)


def mutated(body: Any, values: list[Any] = WRONG, depth: int = 3) -> Iterator[Any]:
    for p in paths(body, depth=depth):
        for value in values:
            b = copy.deepcopy(body)
            target = b
            for k in p[:-1]:
                target = target[k]
            target[p[-1]] = value
            yield b


def _sources(path: Path) -> Any:
    name = path.parent.name
    if name == "mlflow":
        return None
    return ALERT_SOURCES.get(name) or CHANGE_SOURCES[name]


@pytest.mark.parametrize("path", sorted(p for p in FIX.glob("*/*.json") if p.parent.name != "mlflow"),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_wrong_types_in_any_field_are_a_4xx_never_a_crash(path: Path) -> None:
    src = _sources(path)
    body = json.loads(path.read_bytes())
    headers = {"x-github-event": path.name.split("__")[0]}
    query = {"revision": "abc", "app": "guestbook"}
    for b in mutated(body):
        try:
            if path.parent.name in ALERT_SOURCES:
                src.parse(b, headers, lambda: datetime.now(UTC))
            else:
                src.parse(b, headers, query)
        except (PayloadError, ValueError, ValidationError):
            pass


@pytest.mark.parametrize("body", [None, 7, "x", [], [1], {"alerts": "x"}, {"event": []}, {"action": 1, "alert": []}])
@pytest.mark.parametrize("name", [*ALERT_SOURCES, *CHANGE_SOURCES])
def test_wrong_shapes_are_a_4xx_never_a_crash(name: str, body: Any) -> None:
    src = ALERT_SOURCES.get(name) or CHANGE_SOURCES[name]
    try:
        if name in ALERT_SOURCES:
            src.parse(body, {"x-github-event": "deployment_status"}, lambda: datetime.now(UTC))
        else:
            src.parse(body, {"x-github-event": "deployment_status"}, {})
    except (PayloadError, ValueError, ValidationError):
        pass


def test_wrong_types_through_the_real_app_are_never_a_5xx(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bot.router import Router
    from bot.runtime import Runtime
    from bot.web import create_app
    from tools.scenario.topology import catalog
    from tools.settings import Settings

    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=catalog())
    picks = ["alertmanager/firing-2alerts__zulip.json", "grafana/legacy-alerting__grafana-docs-old-alerting-notifications.json",
             "pagerduty/v3-incident.resolved__zulip.json", "opsgenie/close__zulip.json",
             "gitlab/deployment-success__gitlab-docs-webhook-events.json",
             "cdevents/service.deployed__cdevents-spec-conformance-v0.5.1.json",
             "github/deployment_status__octokit-default.json"]
    with TestClient(create_app(Router(rt)), raise_server_exceptions=False) as http:
        for pick in picks:
            path = FIX / pick
            body = json.loads(path.read_bytes())
            for b in mutated(body, [None, 7, []], depth=2):
                r = http.post(f"/hooks/{path.parent.name}", content=json.dumps(b),
                              headers={"X-GitHub-Event": "deployment_status"})
                assert r.status_code < 500, (pick, b, r.text)
                assert r.status_code in (202, 422), (pick, r.status_code, r.text)
