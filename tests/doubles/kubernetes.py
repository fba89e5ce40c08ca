"""A Kubernetes API double (apps/v1 JSON): one Deployment and its ReplicaSets. Answers
GET/PATCH deployments (strategic-merge, merge and JSON patch), PATCH the scale
subresource, LIST replicasets; checks the Bearer token (401 Status like the API server).
A template change makes a new revision/ReplicaSet and rolls out at once."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from tests.doubles.http import HttpDouble, Request

TOKEN = "k8s-test-token-SECRET"
REV = "deployment.kubernetes.io/revision"
BASE = r"/apis/apps/v1/namespaces/([a-z0-9-]+)"


def _status(code: int, reason: str, message: str) -> tuple[int, Any]:
    return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "code": code}


def _template(image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "checkout"}},
            "spec": {"containers": [{"name": "app", "image": image}]}}


def _merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v


class KubernetesDouble(HttpDouble):
    def __init__(self) -> None:
        super().__init__()
        self.deployment: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "checkout", "namespace": "shop", "uid": "dep-uid-1", "generation": 2,
                         "annotations": {REV: "2"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "checkout"}}, "template": _template("checkout:v42")},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3},
        }
        self.replicasets = [self._rs(1, _template("checkout:v41")), self._rs(2, _template("checkout:v42"))]
        self.rollout = True  # a template change rolls out at once; False: it stays stuck
        self.route("GET", BASE + r"/deployments/([a-z0-9-]+)", self._get)
        self.route("PATCH", BASE + r"/deployments/([a-z0-9-]+)", self._patch)
        self.route("PATCH", BASE + r"/deployments/([a-z0-9-]+)/scale", self._scale)
        self.route("GET", BASE + r"/replicasets", self._list_rs)

    def _rs(self, rev: int, template: dict[str, Any]) -> dict[str, Any]:
        t = copy.deepcopy(template)
        h = hashlib.sha1(json.dumps(t, sort_keys=True).encode()).hexdigest()[:10]
        t["metadata"].setdefault("labels", {})["pod-template-hash"] = h
        return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"checkout-{h}", "namespace": "shop", "annotations": {REV: str(rev)},
                             "labels": {"app": "checkout", "pod-template-hash": h},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout",
                                                  "uid": "dep-uid-1", "controller": True}]},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "checkout", "pod-template-hash": h}},
                         "template": t}}

    def _find(self, req: Request, m: re.Match[str]) -> tuple[int, Any] | None:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return _status(401, "Unauthorized", "Unauthorized")
        ns, name = m.group(1), m.group(2)
        if (ns, name) != ("shop", "checkout"):
            return _status(404, "NotFound", f'deployments.apps "{name}" not found')
        return None

    def _get(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        return self._find(req, m) or (200, self.deployment)

    def _patch(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (bad := self._find(req, m)) is not None:
            return bad
        ctype = req.headers.get("content-type", "")
        before = copy.deepcopy(self.deployment["spec"]["template"])
        if ctype.startswith("application/json-patch+json"):
            for op in req.body:
                if op["op"] != "replace" or op["path"] != "/spec/template":
                    return _status(422, "Invalid", f"unsupported op {op}")
                self.deployment["spec"]["template"] = op["value"]
        elif ctype.startswith(("application/strategic-merge-patch+json", "application/merge-patch+json")):
            _merge(self.deployment, req.body)
        else:
            return _status(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}")
        if self.deployment["spec"]["template"] != before:
            self._new_revision()
        return 200, self.deployment

    def _new_revision(self) -> None:
        meta = self.deployment["metadata"]
        meta["generation"] += 1
        rev = max(int(rs["metadata"]["annotations"][REV]) for rs in self.replicasets) + 1
        meta["annotations"][REV] = str(rev)
        self.replicasets.append(self._rs(rev, self.deployment["spec"]["template"]))
        if self.rollout:
            n = self.deployment["spec"]["replicas"]
            self.deployment["status"] = {"observedGeneration": meta["generation"], "replicas": n,
                                         "updatedReplicas": n, "availableReplicas": n}
        else:
            self.deployment["status"]["updatedReplicas"] = 0

    def _scale(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (bad := self._find(req, m)) is not None:
            return bad
        n = int(((req.body or {}).get("spec") or {}).get("replicas", -1))
        if n < 0:
            return _status(422, "Invalid", "spec.replicas: Invalid value")
        self.deployment["spec"]["replicas"] = n
        if self.rollout:
            self.deployment["status"].update(replicas=n, updatedReplicas=n, availableReplicas=n)
        return 200, {"kind": "Scale", "apiVersion": "autoscaling/v1",
                     "metadata": {"name": "checkout", "namespace": "shop"},
                     "spec": {"replicas": n}, "status": {"replicas": n, "selector": "app=checkout"}}

    def _list_rs(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return _status(401, "Unauthorized", "Unauthorized")
        want = dict(p.split("=", 1) for p in req.query.get("labelSelector", "").split(",") if p)
        items = [rs for rs in self.replicasets
                 if m.group(1) == rs["metadata"]["namespace"]
                 and all(rs["metadata"]["labels"].get(k) == v for k, v in want.items())]
        return 200, {"kind": "ReplicaSetList", "apiVersion": "apps/v1", "metadata": {}, "items": items}
