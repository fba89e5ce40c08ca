"""The follow-up check of a fix asks the REAL Prometheus whether the service's error rate
dropped (the golden signal's PromQL on http_requests_total): checkout's 5xx stop after the
restart → worked; search's do not after its webhook rollback → no effect; Prometheus down
→ the backend's outcome stands and the card says why the error rate is unknown."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.agent import actions
from bot.agent.actions import Suggestion
from tests import realservices
from tests.doubles.kubernetes import TOKEN as K8S_TOKEN
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.webhook import SECRET, DeployWebhookDouble
from tools.actions import outcomes
from tools.contract import ToolContext, ToolRegistry
from tools.settings import Settings
from tools.store.actions import action_requests

STEP = 15
END = (int(time.time()) // 3600 - 3) * 3600  # whole hour, safely in the past (blocks are immutable)
START = END - 2 * 3600
FIXED_AT = START + 3600  # when the fixes ran
CHECK_AT = FIXED_AT + 600  # the follow-up, TRIOPS_ACTION_VERIFY_DELAY later


def _openmetrics() -> str:
    """Counters of requests per service and code: 10/s ok; 5xx at 3/s, checkout's falling to
    0.02/s once fixed, search's never."""
    lines = ["# TYPE http_requests counter"]
    for service in ("checkout", "search"):
        for code, before, after in (("200", 10.0, 10.0), ("500", 3.0, 0.02 if service == "checkout" else 3.0)):
            total = 0.0
            for t in range(START, END + 1, STEP):
                total += (after if t > FIXED_AT else before) * STEP
                lines.append(f'http_requests_total{{service="{service}",code="{code}"}} {total:.1f} {t}')
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[realservices.Process]:
    with realservices.prometheus_with_series(tmp_path_factory.mktemp("prom"), _openmetrics()) as p:
        yield p


def configure(ctx: ToolContext, tmp_path: Path, prom_url: str, k8s: KubernetesDouble, hook: DeployWebhookDouble) -> None:
    ctx.settings = Settings(_env_file=None, home=tmp_path, database_url=None,
                            TRIOPS_ACTION_ALLOWLIST="restart_deployment,deploy_webhook", TRIOPS_ACTION_VERIFY_DELAY="300",
                            TRIOPS_ACTION_NAMESPACES="shop", TRIOPS_ACTION_SERVICES="checkout,search",
                            TRIOPS_KUBERNETES_API_URL=k8s.url, TRIOPS_KUBERNETES_TOKEN=K8S_TOKEN,
                            TRIOPS_ACTION_WEBHOOK_URL=hook.url + "/deploy", TRIOPS_ACTION_WEBHOOK_SECRET=SECRET,
                            TRIOPS_PROMETHEUS_URL=prom_url, TRIOPS_ACTION_HTTP_TIMEOUT="2")


def run_at(ctx: ToolContext, action: str, args: dict[str, Any]) -> str:
    """Suggested, approved, executed; then its execution moved to FIXED_AT (the TSDB's past)."""
    reg = ToolRegistry()
    s = actions.validate(reg, ctx.settings, Suggestion(action=action, args=args, reason="5xx"))
    rid = actions.record(ctx.store, s, key="k", by="agent", actor="U1").id
    assert actions.decide(reg, ctx, ctx.settings, rid, "UA", True, lambda u: True).ok
    with ctx.store.begin() as conn:
        conn.execute(action_requests.update().where(action_requests.c.id == rid).values(decided_at=FIXED_AT))
    return rid


def test_the_error_rate_decides_whether_a_fix_worked(ctx: ToolContext, tmp_path: Path, prom: realservices.Process) -> None:
    with KubernetesDouble() as k8s, DeployWebhookDouble() as hook:
        configure(ctx, tmp_path, prom.url, k8s, hook)  # type: ignore[arg-type]
        fixed = run_at(ctx, "restart_deployment", {"namespace": "shop", "deployment": "checkout"})
        stuck = run_at(ctx, "deploy_webhook", {"service": "search", "operation": "rollback"})
        assert outcomes.run_due_checks(ctx, now=FIXED_AT + 200) == []  # not due before the delay
        checks = dict(outcomes.run_due_checks(ctx, now=CHECK_AT))
    assert checks[fixed].outcome == "worked", checks[fixed].detail
    assert "error rate of checkout 23.08% before, 0.20% now (dropped)" in checks[fixed].detail
    assert checks[stuck].outcome == "no_effect", checks[stuck].detail
    assert checks[stuck].detail.startswith("the rollback succeeded; error rate of search 23.08% before, 23.08% now (did not drop)")
    s = outcomes.summary(ctx.store)
    assert s["kinds"]["restart_deployment"]["worked"] == 1 and s["kinds"]["deploy_webhook"]["no_effect"] == 1


def test_prometheus_down_leaves_the_outcome_and_says_why(ctx: ToolContext, tmp_path: Path) -> None:
    with KubernetesDouble() as k8s, DeployWebhookDouble() as hook:
        configure(ctx, tmp_path, "http://127.0.0.1:9", k8s, hook)  # type: ignore[arg-type]
        rid = run_at(ctx, "deploy_webhook", {"service": "checkout", "operation": "redeploy"})
        (check,) = [c for r, c in outcomes.run_due_checks(ctx, now=CHECK_AT) if r == rid]
    assert check.outcome == "worked" and "error rate unknown: Prometheus at http://127.0.0.1:9 is unreachable" in check.detail
