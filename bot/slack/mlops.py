"""The "Retrain…" button under a model status that recommends retraining: it records a
retrain_model suggestion (through the same approval path as every action: allowlist, bounds,
dry-run, approver group, once, audited) and posts its Approve/Deny card in the thread.
Nothing runs on this click. Wire it as a Bolt extension: `build_app(router, extensions=[...,
register_model_actions])`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools import approvals
from tools.errors import ToolError

if TYPE_CHECKING:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.router import Router

# the button's action_id; bot/render/mlops.py draws it (its RETRAIN, kept equal: a test clicks
# the rendered button through this listener). Not imported from there: serve's start-up must
# not load the model renderers (pandas) before the first /healthz.
RETRAIN = "triops_model_retrain"


def register_model_actions(app: App, router: Router) -> None:
    rt = router.runtime

    @app.action(RETRAIN)
    def retrain(ack: Ack, body: dict, client: WebClient) -> None:
        from bot.agent import actions
        from bot.agent.slack import suggestion_blocks

        ack()
        user = str(body.get("user", {}).get("id", "?"))
        channel = (body.get("channel") or {}).get("id")
        ts = (body.get("message") or {}).get("ts")
        model = str(((body.get("actions") or [{}])[0]).get("value", ""))[:200]
        status = rt.run("model_status", {"name": model}, actor=user)
        offered = getattr(status.output, "suggested_actions", None) or []
        if not channel:
            return
        if not offered:
            client.chat_postEphemeral(channel=channel, user=user, text=f"{model} no longer needs a retrain "
                                      "(or a retraining run is already under way); nothing was suggested.")
            return
        item = offered[0]
        try:
            s = actions.validate(rt.registry, rt.settings,
                                 actions.Suggestion(action=item["action"], args=item["args"], reason=item.get("reason")))
        except ToolError as exc:
            client.chat_postEphemeral(channel=channel, user=user, text=f"Retraining cannot be offered: {exc.message}"
                                      + (f" {exc.hint}" if exc.hint else ""))
            return
        req = actions.record(rt.store, s, key=None, by="model_status", actor=user, ctx=rt.ctx)
        preview = (approvals.followup(rt.store, req.id) or {}).get("preview")
        resp = client.chat_postMessage(channel=channel, thread_ts=ts, text=f"Suggested action: {req.action} (needs approval)",
                                       blocks=suggestion_blocks(req, preview))
        approvals.mark_posted(rt.store, req.id, channel, resp["ts"])
