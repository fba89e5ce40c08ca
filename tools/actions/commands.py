"""A runbook step's command → the action that does the same, so it can be offered as a button.

Only a few exact shapes are recognised (kubectl rollout restart/undo, kubectl scale, amtool
silence add, gh workflow run); the parsed values then go through the action's model and
bounds like any suggestion. Nothing here runs a command, and anything with shell syntax in
it (pipes, `;`, `$()`, backticks, redirects) is not matched at all."""

from __future__ import annotations

import re
import shlex
from typing import Any

SHELL = re.compile(r"[;|&`$<>\\\n]")
DEPLOY = re.compile(r"^(?:deployment|deploy|deployments)/([a-z0-9-]+)$")
DURATION = re.compile(r"^(\d+)([mh])$")


def _opts(words: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional words and --flag=value / -n value options."""
    pos: list[str] = []
    opts: dict[str, str] = {}
    it = iter(words)
    for w in it:
        if w.startswith("-"):
            key, _, val = w.lstrip("-").partition("=")
            opts[key] = val if val else next(it, "")
        else:
            pos.append(w)
    return pos, opts


def action_for_command(command: str) -> tuple[str, dict[str, Any]] | None:
    cmd = command.strip()
    if not cmd or SHELL.search(cmd):
        return None
    try:
        words = shlex.split(cmd)
    except ValueError:
        return None
    if words[:1] == ["kubectl"]:
        return _kubectl(words[1:])
    if words[:3] == ["amtool", "silence", "add"]:
        return _amtool(words[3:])
    if words[:3] == ["gh", "workflow", "run"]:
        return _gh(words[3:])
    return None


def _kubectl(words: list[str]) -> tuple[str, dict[str, Any]] | None:
    pos, opts = _opts(words)
    ns = opts.get("n") or opts.get("namespace") or "default"
    if pos[:2] in (["rollout", "restart"], ["rollout", "undo"]) and len(pos) == 3 and (m := DEPLOY.match(pos[2])):
        name = "restart_deployment" if pos[1] == "restart" else "undo_deployment"
        if set(opts) - {"n", "namespace"}:
            return None
        return name, {"namespace": ns, "deployment": m.group(1)}
    if pos[:1] == ["scale"] and len(pos) == 2 and (m := DEPLOY.match(pos[1])) and opts.get("replicas", "").isdigit():
        if set(opts) - {"n", "namespace", "replicas"}:
            return None
        return "scale_deployment", {"namespace": ns, "deployment": m.group(1), "replicas": int(opts["replicas"])}
    return None


def _amtool(words: list[str]) -> tuple[str, dict[str, Any]] | None:
    pos, opts = _opts(words)
    d = DURATION.match(opts.get("duration", "1h"))
    if not pos or d is None or set(opts) - {"duration", "comment", "d", "c"}:
        return None
    matchers = []
    for p in pos:
        m = re.fullmatch(r"([a-zA-Z_][a-zA-Z0-9_]*)(=~|!=|!~|=)\"?([^\"]*)\"?", p)
        if m is None:
            return None
        op = m.group(2)
        matchers.append({"name": m.group(1), "value": m.group(3), "is_regex": "~" in op, "is_equal": not op.startswith("!")})
    minutes = int(d.group(1)) * (60 if d.group(2) == "h" else 1)
    args: dict[str, Any] = {"matchers": matchers, "minutes": minutes}
    if opts.get("comment") or opts.get("c"):
        args["comment"] = opts.get("comment") or opts.get("c")
    return "silence_alerts", args


def _gh(words: list[str]) -> tuple[str, dict[str, Any]] | None:
    workflow, *rest = words or [""]
    inputs: dict[str, str] = {}
    repo, ref = None, "main"
    it = iter(rest)
    for w in it:
        if w in ("-R", "--repo"):
            repo = next(it, None)
        elif w in ("-f", "--field", "-F", "--raw-field"):
            k, _, v = (next(it, "") or "").partition("=")
            inputs[k] = v
        elif w in ("-r", "--ref"):
            ref = next(it, "main") or "main"
        else:
            return None
    if not repo:
        return None
    return "dispatch_workflow", {"repo": repo, "workflow": workflow, "ref": ref, "inputs": inputs}
