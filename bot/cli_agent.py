"""`triops ask` and `triops eval agent`: the agent on the command line.

(`triops usage` is generated from the assistant_usage capability.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli_common import console

if TYPE_CHECKING:
    from bot.agent.models import AgentAnswer

app = typer.Typer(help="Ask triops in plain words.")
eval_app = typer.Typer(help="Evaluations with printed figures.")


def _json(ans: AgentAnswer) -> dict:
    return {
        "question": ans.question,
        "answer": ans.text,
        "path": ans.path,
        "intent": ans.intent,
        "fallback": ans.fallback,
        "tool_calls": [
            {"tool": c.tool, "args": c.args, "ok": c.ok, "refused": c.refused, "error": c.error,
             "output": c.output.model_dump(mode="json") if c.output is not None else None}
            for c in ans.calls
        ],
        "grounding": ans.grounding.model_dump() if ans.grounding else None,
        "usage": ans.usage.model_dump() | {"total_tokens": ans.usage.total_tokens},
        "latency_ms": round(ans.latency_ms, 1),
    }


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in plain words")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the tool calls, their arguments and the answer as JSON")] = False,
    planner: Annotated[bool, typer.Option("--planner", help="Use the built-in planner even if an LLM is configured")] = False,
    thread: Annotated[str | None, typer.Option(help="Conversation key, to ask follow-ups across runs")] = None,
) -> None:
    """Answer one question, non-interactively (the LLM agent if configured, else the planner)."""
    from bot import logs
    from bot.agent.surface import assistant_for, to_reply
    from bot.render import to_rich
    from bot.runtime import Runtime
    from tools.settings import Settings

    logs.setup("WARNING")
    rt = Runtime.build(Settings())
    key = f"cli:{thread}" if thread else None
    ans = assistant_for(rt).ask(question, key=key, actor="cli", use_llm=False if planner else None, remember=bool(key))
    if as_json:
        typer.echo(json.dumps(_json(ans), indent=2, default=str))
    else:
        console.print(to_rich(to_reply(ans)))


@eval_app.command("agent")
def eval_agent(
    cases: Annotated[Path, typer.Option(help="Labelled questions (YAML)")] = Path("bench/agent_eval.yaml"),
    llm: Annotated[bool | None, typer.Option("--llm/--no-llm", help="Run the LLM agent (default: when configured)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    show: Annotated[bool, typer.Option(help="List every question's result")] = False,
) -> None:
    """Per path (planner, and the LLM when configured): routing, arguments, facts, answer
    correctness, grounded and fallback rates, latency p50/p95, tokens and cost per question."""
    from rich.table import Table

    from bot import logs
    from bot.agent.evaluation import load_cases, run_eval
    from tools.settings import Settings

    logs.setup("ERROR")
    if not cases.exists():
        console.print(f"[red]error:[/] no such file: {cases}")
        raise typer.Exit(2)
    settings = Settings()
    if llm and not settings.llm_enabled:
        console.print("[red]error:[/] --llm needs an endpoint: set OPENAI_BASE_URL (and TRIOPS_LLM_MODEL) or OPENAI_API_KEY.")
        raise typer.Exit(2)
    report = run_eval(load_cases(cases), settings, llm=llm)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    table = Table(title=f"triops eval agent · {report.cases} questions · tools: {', '.join(report.tools)}")
    for col in ("path", "routing", "args", "facts", "correct", "grounded", "fallback", "p50", "p95",
                "tokens/q", "cost/q"):
        table.add_column(col, justify="right" if col != "path" else "left")
    for s in report.summaries:
        table.add_row(
            s.path + (f" ({s.model})" if s.model else ""),
            f"{s.routing_accuracy:.1%} ({s.routing_scored})" if s.routing_accuracy is not None else "–",
            f"{s.args_accuracy:.1%} ({s.args_scored})" if s.args_accuracy is not None else "–",
            f"{s.facts_accuracy:.1%} ({s.facts_scored})" if s.facts_accuracy is not None else "–",
            f"{s.correctness:.1%}",
            f"{s.grounded_share:.1%}",
            f"{s.fallback_rate:.1%}",
            f"{s.p50_latency_ms:.0f} ms",
            f"{s.p95_latency_ms:.0f} ms",
            f"{s.tokens_per_question:.0f}",
            f"${s.cost_per_question_usd:.5f}" if s.cost_per_question_usd is not None else "–",
        )
    console.print(table)
    for s in report.summaries:
        if s.fallback_reasons:
            console.print(f"{s.path} fallbacks: " + ", ".join(f"{k} {v}" for k, v in sorted(s.fallback_reasons.items())))
    if report.llm_intents is not None:
        console.print("LLM at least as correct as the planner on: " + (", ".join(report.llm_intents) or "no intent")
                      + f" → TRIOPS_LLM_INTENTS={','.join(report.llm_intents) or 'none'}")
    if report.llm_choice:  # where the choice was saved, or why not
        console.print(report.llm_choice, markup=False)
    if not any(s.path == "llm" for s in report.summaries):
        console.print("LLM agent: not run (set OPENAI_API_KEY and/or OPENAI_BASE_URL, TRIOPS_LLM_MODEL).")
    misses = [r for r in report.results if r.routed is False or r.facts_missing or not r.grounded]
    for r in report.results if show else misses:
        flag = "ok" if r.routed is not False and not r.facts_missing and r.grounded else "MISS"
        console.print(
            f"[{'green' if flag == 'ok' else 'red'}]{flag}[/] {r.path:7} {r.question!r} → "
            f"{r.intent or ','.join(r.tools_called) or '-'} (want {r.expected_intent})"
            + (f" missing facts {r.facts_missing}" if r.facts_missing else "")
            + ("" if r.grounded else " UNGROUNDED")
        )
    planner = next(s for s in report.summaries if s.path == "planner")
    if (planner.routing_accuracy or 0) < 0.9 or planner.grounded_share < 1.0:
        raise typer.Exit(1)
