"""Roll a model back in MLflow: move an alias (`champion`) to the previous version with
POST /api/2.0/mlflow/registered-models/alias; the check reads the alias back."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tools.actions.base import (
    ActionIn,
    ActionOut,
    ActionSpec,
    Check,
    Preview,
    allowed,
    call,
    require,
)
from tools.contract import ToolContext, tool
from tools.errors import ToolError
from tools.settings import Settings

BACKEND = "MLflow"


class AliasRollbackIn(ActionIn):
    """Move a registered model's alias back to the previous (or a given) version."""

    model: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,200}$")
    alias: str = Field(default="champion", pattern=r"^[A-Za-z0-9_-]{1,100}$")
    to_version: int | None = Field(default=None, ge=1, description="Default: the version before the current one")


def _api(settings: Settings) -> str:
    return str(require(settings.mlflow_tracking_uri, "MLFLOW_TRACKING_URI")).rstrip("/") + "/api/2.0/mlflow"


def _headers(settings: Settings) -> dict[str, str]:
    tok = settings.mlflow_tracking_token
    return {"Authorization": f"Bearer {tok.get_secret_value()}"} if tok else {}


def check(settings: Settings, args: AliasRollbackIn) -> None:
    _api(settings)
    allowed(args.model, Settings.csv(settings.action_models_csv), "Model", "TRIOPS_ACTION_MODELS")


def _current(ctx: ToolContext, args: AliasRollbackIn) -> int:
    got = call(ctx, "GET", f"{_api(ctx.settings)}/registered-models/alias", headers=_headers(ctx.settings),
               params={"name": args.model, "alias": args.alias}, ok=(200,), backend=BACKEND)
    version = ((got or {}).get("model_version") or {}).get("version")
    if version is None:
        raise ToolError(f"{args.model} has no alias @{args.alias}.")
    return int(version)


def plan(ctx: ToolContext, args: AliasRollbackIn) -> tuple[int, int]:
    """(current version, target version)."""
    cur = _current(ctx, args)
    if args.to_version is not None:
        return cur, args.to_version
    got = call(ctx, "GET", f"{_api(ctx.settings)}/model-versions/search", headers=_headers(ctx.settings),
               params={"filter": f"name='{args.model}'", "max_results": "100"}, ok=(200,), backend=BACKEND)
    older = sorted(int(v["version"]) for v in (got or {}).get("model_versions", []) if int(v["version"]) < cur)
    if not older:
        raise ToolError(f"{args.model} has no version before v{cur} to roll back to.")
    return cur, older[-1]


def preview(ctx: ToolContext, args: AliasRollbackIn) -> Preview:
    cur, to = plan(ctx, args)
    return Preview(effect=f"Move {args.model}@{args.alias} from v{cur} to v{to}.",
                   blast_radius=f"everything that loads models:/{args.model}@{args.alias} picks up v{to} on its next load")


@tool("rollback_model_alias", "Roll a model back: move its alias (champion) to the previous version in MLflow.", mutates=True)
def rollback_model_alias(ctx: ToolContext, args: AliasRollbackIn) -> ActionOut:
    check(ctx.settings, args)
    cur, to = plan(ctx, args)
    call(ctx, "POST", f"{_api(ctx.settings)}/registered-models/alias", headers=_headers(ctx.settings),
         json={"name": args.model, "alias": args.alias, "version": str(to)}, ok=(200,), backend=BACKEND)
    return ActionOut(summary=f"{args.model}@{args.alias} moved from v{cur} to v{to}.", ref=str(to),
                     details={"from": cur, "to": to})


def verify(ctx: ToolContext, args: AliasRollbackIn, result: dict[str, Any]) -> Check:
    now = _current(ctx, args)
    ok = str(now) == str(result.get("ref"))
    return Check(outcome="worked" if ok else "failed", detail=f"{args.model}@{args.alias} is v{now}")


SPECS = [ActionSpec(tool=rollback_model_alias, check=check, preview=preview, verify=verify, fixes=True)]
