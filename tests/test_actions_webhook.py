"""The generic signed deploy webhook against a loopback receiver that verifies it: the HMAC
over timestamp + body, the idempotency key (a retried delivery starts nothing new), the
status URL (only on the webhook's own host), bounds and settings, a wrong secret refused."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.agent import actions
from bot.agent.actions import Suggestion
from tests.doubles.webhook import SECRET, DeployWebhookDouble
from tests.test_actions_pagers import no_secret
from tools.actions import outcomes
from tools.actions.base import request_scope
from tools.actions.webhook import WebhookDeployIn, deploy_webhook, sign
from tools.contract import ToolContext, ToolRegistry
from tools.errors import ToolError
from tools.settings import Settings


def configure(ctx: ToolContext, tmp_path: Path, **over: Any) -> None:
    env = {"TRIOPS_ACTION_ALLOWLIST": "deploy_webhook", "TRIOPS_ACTION_VERIFY_DELAY": "0", "TRIOPS_ACTION_SERVICES": "checkout",
           "TRIOPS_ACTION_HTTP_TIMEOUT": "0.5", **over}
    ctx.settings = Settings(_env_file=None, home=tmp_path, database_url=None, **env)


def run(ctx: ToolContext, args: dict[str, Any]) -> actions.Decision:
    s = actions.validate(ToolRegistry(), ctx.settings, Suggestion(action="deploy_webhook", args=args, reason="r"))
    rid = actions.record(ctx.store, s, key="k", by="agent", actor="U1", ctx=ctx).id
    return actions.decide(ToolRegistry(), ctx, ctx.settings, rid, "UA", True, lambda u: True)


def test_signature_matches_the_documented_recipe() -> None:
    # hex HMAC-SHA256("s3cret", "1700000000." + body), as any receiver computes it
    import hashlib
    import hmac

    body = b'{"operation":"rollback","service":"checkout"}'
    want = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", "1700000000", body) == f"sha256={want}"


def test_signed_idempotent_rollback_checked_by_status(ctx: ToolContext, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with DeployWebhookDouble() as hook:
        configure(ctx, tmp_path, TRIOPS_ACTION_WEBHOOK_URL=hook.url + "/deploy", TRIOPS_ACTION_WEBHOOK_SECRET=SECRET)
        d = run(ctx, {"service": "checkout", "operation": "rollback", "version": "v41", "incident_id": "INC-7"})
        assert d.ok, d.message
        (post,) = hook.calls("POST")
        assert hook.valid(post) is None and post.headers["idempotency-key"] == d.request.id  # type: ignore[union-attr]
        assert post.body["incident_id"] == "INC-7" and post.headers["content-type"] == "application/json"

        # a retried delivery with the same key (the executor run again for the same request) starts nothing new
        with request_scope(d.request.id):  # type: ignore[union-attr]
            deploy_webhook.func(ctx, WebhookDeployIn(service="checkout", operation="rollback", version="v41", incident_id="INC-7"))
        assert len(hook.calls("POST")) == 2 and len(hook.deploys) == 1

        hook.outcome = "failed"
        d2 = run(ctx, {"service": "checkout", "operation": "redeploy"})
        checks = dict(outcomes.run_due_checks(ctx))
        assert checks[d.request.id].outcome == "worked" and checks[d.request.id].detail == "the rollback succeeded"  # type: ignore[union-attr]
        assert checks[d2.request.id].outcome == "failed" and checks[d2.request.id].detail == "the redeploy failed"  # type: ignore[union-attr]
        assert {r.path for r in hook.calls("GET")} == {f"/deploys/{d.request.id}", f"/deploys/{d2.request.id}"}  # type: ignore[union-attr]
        assert all(hook.valid(r) is None for r in hook.calls("GET"))  # the status reads are signed too
        no_secret(ctx, caplog, SECRET)


def test_wrong_secret_bounds_and_settings(ctx: ToolContext, tmp_path: Path) -> None:
    with DeployWebhookDouble() as hook:
        configure(ctx, tmp_path, TRIOPS_ACTION_WEBHOOK_URL=hook.url + "/deploy")
        with pytest.raises(ToolError, match="TRIOPS_ACTION_WEBHOOK_SECRET"):
            run(ctx, {"service": "checkout", "operation": "rollback"})
        configure(ctx, tmp_path, TRIOPS_ACTION_WEBHOOK_URL=hook.url + "/deploy", TRIOPS_ACTION_WEBHOOK_SECRET="not-the-SECRET")
        d = run(ctx, {"service": "checkout", "operation": "rollback"})
        assert d.status == "failed" and "Deploy webhook refused: HTTP 401 bad signature" in d.message and hook.deploys == {}
        for bad, why in [({"service": "payments", "operation": "rollback"}, "Service 'payments' is not allowed"),
                         ({"service": "checkout", "operation": "rollback", "version": "v1; rm -rf /"}, "Bad arguments"),
                         ({"service": "checkout", "operation": "delete"}, "Bad arguments"),
                         ({"service": "checkout", "operation": "rollback", "url": "http://evil"}, "Bad arguments")]:
            with pytest.raises(ToolError, match=why):
                run(ctx, bad)


def test_a_status_url_on_another_host_is_never_read(ctx: ToolContext, tmp_path: Path) -> None:
    with DeployWebhookDouble() as hook, DeployWebhookDouble() as elsewhere:
        hook.route("POST", r"/redirecting", lambda req, m: (202, {"status_url": elsewhere.url + "/deploys/x"}))
        configure(ctx, tmp_path, TRIOPS_ACTION_WEBHOOK_URL=hook.url + "/redirecting", TRIOPS_ACTION_WEBHOOK_SECRET=SECRET)
        d = run(ctx, {"service": "checkout", "operation": "redeploy"})
        assert d.ok
        (check,) = [c for r, c in outcomes.run_due_checks(ctx) if r == d.request.id]  # type: ignore[union-attr]
        assert check.outcome == "worked" and "gives no status" in check.detail
        assert elsewhere.requests == [] and httpx.get(elsewhere.url + "/deploys/x").status_code == 401


def test_the_preview_shows_the_host_never_the_urls_credentials(ctx: ToolContext, tmp_path: Path) -> None:
    from tools.actions.webhook import preview

    configure(ctx, tmp_path, TRIOPS_ACTION_WEBHOOK_URL="https://deployer:hunter2@deploy.example:8443/hook",
              TRIOPS_ACTION_WEBHOOK_SECRET=SECRET)
    effect = preview(ctx, WebhookDeployIn(service="checkout", operation="rollback")).effect
    assert "deploy.example:8443" in effect
    assert "hunter2" not in effect and "deployer" not in effect
