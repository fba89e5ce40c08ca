"""CDEvents `dev.cdevents.service.deployed|upgraded|rolledback.<version>` (structured JSON,
spec v0.3 to v0.6; binary-mode CloudEvents put the context in `ce-*` headers).

Identity: `context.id`. Service: the last path segment of `subject.id` (a service id),
environment `subject.content.environment.id`, version from `artifactId` (a purl). A
rollback is stored as kind "rollback". Other CDEvents types are 202 "ignored". No signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.alerts.sources.base import parse_time
from tools.delivery.models import DeploymentEvent
from tools.delivery.sources.base import Changes, NoSignature, require
from tools.errors import PayloadError

KINDS = {"deployed": "normal", "upgraded": "normal", "rolledback": "rollback"}


def _version(artifact: str | None) -> str | None:
    if not artifact:
        return None
    tail = artifact.rsplit("@", 1)[-1] if "@" in artifact else artifact.rsplit("/", 1)[-1]
    return tail.replace("%3A", ":")[:128]


class CDEventsSource(NoSignature):
    name = "cdevents"

    def parse(self, body: Any, headers: Mapping[str, str], query: Mapping[str, str]) -> Changes:
        if not isinstance(body, dict):
            raise ValueError("body: not a JSON object")
        context = body.get("context")
        if not isinstance(context, dict) and headers.get("ce-type"):  # binary mode
            context = {"type": headers["ce-type"], "id": headers.get("ce-id"), "timestamp": headers.get("ce-time"),
                       "source": headers.get("ce-source")}
            body = {"context": context, "subject": body.get("subject", body)}
        if not isinstance(context, dict):
            raise ValueError("context: missing or not an object (is this a CDEvent?)")
        ctype = str(require(context, "type", "context"))
        parts = ctype.split(".")
        if ctype.startswith("dev.cdevents.service.") and len(parts) >= 4 and parts[3] in KINDS:
            verb = parts[3]
        else:
            return Changes.skip(ctype)
        subject = require(body, "subject", "")
        sid = str(require(subject, "id", "subject"))
        content = subject.get("content") if isinstance(subject.get("content"), dict) else {}
        env = content.get("environment") if isinstance(content, dict) and isinstance(content.get("environment"), dict) else {}
        assert isinstance(context, dict) and isinstance(content, dict) and isinstance(env, dict)
        try:
            at = parse_time(require(context, "timestamp", "context"), "context.timestamp")
        except PayloadError as exc:
            raise ValueError(str(exc)) from None
        dep = DeploymentEvent.model_validate({
            "id": f"cdevents-{require(context, 'id', 'context')}",
            "service": query.get("service") or sid.rstrip("/").rsplit("/", 1)[-1],
            "environment": query.get("environment") or env.get("id") or "production",
            "finished_at": at,
            "status": "success",
            "kind": KINDS[verb],
            "version": _version(str(content["artifactId"]) if content.get("artifactId") else None),
        })
        return Changes(deployments=[dep])


SOURCE = CDEventsSource()
