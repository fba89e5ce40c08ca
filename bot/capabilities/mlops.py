"""Models: which version is live and whether to retrain; input and prediction drift."""

from __future__ import annotations

from typing import Any

from bot.capabilities.base import Capability
from tools.errors import ToolError

ORDER = 40


def parse_model(words: list[str]) -> dict[str, Any]:
    if words and words[0] == "status":
        words = words[1:]
    if len(words) != 1:
        raise ToolError("Which model?", hint="Usage: model NAME")
    return {"name": words[0]}


def parse_drift(words: list[str]) -> dict[str, Any]:
    names = [w for w in words if "=" not in w]
    options = dict(w.split("=", 1) for w in words if "=" in w)
    usage = "Usage: drift NAME [target=COLUMN] [window=LABEL] [reference=LABEL]"
    unknown = set(options) - {"target", "window", "reference"}
    if unknown:
        raise ToolError(f"I don't know the option '{sorted(unknown)[0]}'.", hint=usage,
                        choices=["target", "window", "reference"])
    if len(names) != 1:
        raise ToolError("Which model?", hint=usage)
    name = names[0]
    call: dict[str, Any] = {"model": name}
    if "target" in options:
        call["target"] = options["target"]
    if "window" in options:
        call["current"] = f"store:{name}/{options['window']}"
    if "reference" in options:
        call["reference"] = f"store:{name}/{options['reference']}"
    return call


def parse_performance(words: list[str]) -> dict[str, Any]:
    names = [w for w in words if "=" not in w]
    options = dict(w.split("=", 1) for w in words if "=" in w)
    usage = "Usage: performance NAME [window=LABEL] [chunk=ROWS]"
    known = ["window", "chunk", "reference", "target", "proba", "prediction"]
    unknown = set(options) - set(known)
    if unknown:
        raise ToolError(f"I don't know the option '{sorted(unknown)[0]}'.", hint=usage, choices=known)
    if len(names) != 1:
        raise ToolError("Which model?", hint=usage)
    call: dict[str, Any] = {"model": names[0]}
    for key in ("window", "reference", "target", "prediction"):
        if key in options:
            call[key] = options[key]
    if "proba" in options:
        call["proba"] = options["proba"].split(",")
    if "chunk" in options:
        if not options["chunk"].isdigit():
            raise ToolError(f"chunk={options['chunk']} is not a number of rows.", hint=usage)
        call["chunk_size"] = int(options["chunk"])
    return call


CAPABILITIES = [
    Capability(
        name="model_status",
        tool="tools.mlops.tool:model_status",
        input="tools.mlops.queries:ModelStatusQuery",
        summary="Which version of a model is live, its metrics vs the previous one, drift, keep/investigate/retrain",
        verbs=("model", "models", "mlops"),
        usage="NAME",
        examples=("model search-ranker",),
        parse=parse_model,
        render="bot.render.mlops:STATUS",
        cli="model",
        cli_args=("name",),
        intents="mlops.yaml",
        module=__file__,
        status="Checking the models…",
        choices="tools.mlops.tool:known_models",
    ),
    Capability(
        name="drift_report",
        tool="tools.mlops.tool:drift_report",
        input="tools.mlops.queries:DriftQuery",
        summary="Input and prediction drift of a model's newest logged window against its reference, worst first",
        verbs=("drift",),
        usage="NAME [target=COLUMN] [window=LABEL]",
        examples=("drift search-ranker",),
        parse=parse_drift,
        render="bot.render.mlops:DRIFT",
        cli="drift",
        cli_args=("model",),
        intents="drift.yaml",
        module=__file__,
        status="Comparing the model's input with its reference…",
        choices="tools.mlops.tool:known_models",
    ),
    Capability(
        name="model_performance",
        tool="tools.mlops.tool:model_performance",
        input="tools.mlops.queries:PerformanceQuery",
        summary="A model's accuracy/AUC/F1 (or MAE/RMSE) on its newest window estimated without labels, with band and realised",
        verbs=("performance", "perf"),
        usage="NAME [window=LABEL] [chunk=ROWS]",
        examples=("performance fraud-scorer",),
        parse=parse_performance,
        render="bot.render.mlops:PERFORMANCE",
        cli="model performance",
        cli_args=("model",),
        intents="performance.yaml",
        module=__file__,
        status="Estimating the model's performance…",
        choices="tools.mlops.tool:known_models",
    ),
]
