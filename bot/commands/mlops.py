"""`/triops model NAME` and `/triops drift NAME [target=COLUMN]`."""

from __future__ import annotations

from bot.commands.base import Command, Reply, run_tool
from bot.runtime import Runtime
from tools.store.models import model_names


def _known(rt: Runtime) -> list[str]:
    with rt.store.engine.connect() as conn:
        return model_names(conn)


def _need_name(rt: Runtime, usage: str) -> Reply:
    names = _known(rt)
    hint = f"Usage: {usage}. " + (f"Models: {', '.join(names[:15])}" if names else "No models are registered yet.")
    return Reply(error={"error": "Which model?", "hint": hint, "choices": names[:15]}, ephemeral=True)


def handle_model(rt: Runtime, args: list[str]) -> Reply:
    if args and args[0] == "status":
        args = args[1:]
    if len(args) != 1:
        return _need_name(rt, "model NAME")
    return run_tool(rt, "model_status", {"name": args[0]})


def handle_drift(rt: Runtime, args: list[str]) -> Reply:
    names = [a for a in args if "=" not in a]
    options = dict(a.split("=", 1) for a in args if "=" in a)
    if len(names) != 1 or set(options) - {"target", "window", "reference"}:
        return _need_name(rt, "drift NAME [target=COLUMN] [window=LABEL] [reference=LABEL]")
    name = names[0]
    call: dict[str, object] = {"model": name}
    if "target" in options:
        call["target"] = options["target"]
    if "window" in options:
        call["current"] = f"store:{name}/{options['window']}"
    if "reference" in options:
        call["reference"] = f"store:{name}/{options['reference']}"
    return run_tool(rt, "drift_report", call)


COMMANDS = [
    Command(
        verb="model",
        usage="model NAME",
        summary="Which version of a model is live, its metrics vs the previous one, drift, keep/investigate/retrain",
        handler=handle_model,
        aliases=("models", "mlops"),
        examples=("model search-ranker",),
    ),
    Command(
        verb="drift",
        usage="drift NAME [target=COLUMN] [window=LABEL]",
        summary="Input and prediction drift of a model's newest logged window against its reference, worst first",
        handler=handle_drift,
        examples=("drift search-ranker",),
    ),
]
