"""Token and cost usage as a table (console) and as text (Slack, `/triops usage`)."""

from __future__ import annotations

from rich.table import Table

from tools.conversations import UsageLine


def _cost(v: float | None) -> str:
    return "unknown price" if v is None else f"${v:.4f}"


def usage_text(lines: list[UsageLine], days: int) -> str:
    if not lines:
        return f"No answers in the last {days} days."
    out = [f"*Agent usage, last {days} days*"]
    for u in lines:
        who = f"{u.path} ({u.model})" if u.model else u.path
        tokens = f"{u.input_tokens:,} in + {u.output_tokens:,} out tokens, {_cost(u.cost_usd)}" if u.path == "llm" else "no LLM tokens"
        out.append(f"• {who}: {u.answers} answers, {u.tool_calls} tool calls, {tokens}; "
                   f"{u.fallbacks} fallbacks, {u.ungrounded} ungrounded drafts replaced")
    return "\n".join(out)


def usage_table(lines: list[UsageLine], days: int) -> Table:
    t = Table(title=f"agent usage · last {days} days")
    for col in ("path", "model", "answers", "tool calls", "input tokens", "output tokens", "cost", "fallbacks", "ungrounded"):
        t.add_column(col, justify="left" if col in ("path", "model") else "right")
    for u in lines:
        t.add_row(u.path, u.model or "–", str(u.answers), str(u.tool_calls), f"{u.input_tokens:,}",
                  f"{u.output_tokens:,}", _cost(u.cost_usd) if u.path == "llm" else "–", str(u.fallbacks), str(u.ungrounded))
    return t
