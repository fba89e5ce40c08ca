"""DORA report: five metrics, the previous window beside them, and the DORA level."""

from __future__ import annotations

from rich.table import Table
from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.render import fmt
from bot.render.registry import Renderer
from bot.render.tables import NARROW, Fit, column
from tools.dora.models import DoraPeriod, DoraReport


def _rows(r: DoraReport) -> list[tuple[str, str, str, str | None, str]]:
    """(metric, current, previous, level, trend) — one source for all three renderings."""
    c, p = r.current, r.previous
    df, pdf = c.deployment_frequency, p.deployment_frequency
    rows: list[tuple[str, str, str, str | None, str]] = [
        (
            "Deployment frequency",
            # a window under a day has counts only: no rate or level is extrapolated from it
            f"{df.deployments} deploys in the window ({df.note})" if df.per_day is None else
            f"{fmt.number(df.per_day)}/day ({df.deployments} deploys, {fmt.number(df.median_deploy_days_per_week)} deploy-days/week)",
            f"{pdf.deployments} deploys" if pdf.per_day is None else f"{fmt.number(pdf.per_day)}/day ({pdf.deployments} deploys)",
            df.level,
            fmt.trend(df.per_day, pdf.per_day, higher_is_better=True),
        ),
        (
            "Change lead time",
            f"median {fmt.hours(c.lead_time.median_hours)}, p90 {fmt.hours(c.lead_time.p90_hours)} ({c.lead_time.commits} commits)",
            f"median {fmt.hours(p.lead_time.median_hours)}",
            c.lead_time.level,
            fmt.trend(c.lead_time.median_hours, p.lead_time.median_hours, higher_is_better=False),
        ),
        (
            "Change fail rate",
            f"{fmt.percent(c.change_fail_rate.rate_percent)} ({c.change_fail_rate.failed} of {c.change_fail_rate.deployments}"
            + (f"; {c.change_fail_rate.from_confirmed_incidents} from confirmed incidents"
               if c.change_fail_rate.from_confirmed_incidents else "") + ")",
            fmt.percent(p.change_fail_rate.rate_percent),
            c.change_fail_rate.level,
            fmt.trend(c.change_fail_rate.rate_percent, p.change_fail_rate.rate_percent, higher_is_better=False),
        ),
        (
            "Failed deployment recovery time",
            f"median {fmt.hours(c.recovery_time.median_hours)}, p90 {fmt.hours(c.recovery_time.p90_hours)} ({c.recovery_time.recovered} recovered, {len(c.recovery_time.open_failures)} open)",
            f"median {fmt.hours(p.recovery_time.median_hours)}",
            c.recovery_time.level,
            fmt.trend(c.recovery_time.median_hours, p.recovery_time.median_hours, higher_is_better=False),
        ),
        (
            "Deployment rework rate",
            f"{fmt.percent(c.rework_rate.rate_percent)} ({c.rework_rate.rollbacks} rollbacks, {c.rework_rate.hotfixes} hotfixes)",
            fmt.percent(p.rework_rate.rate_percent),
            None,
            fmt.trend(c.rework_rate.rate_percent, p.rework_rate.rate_percent, higher_is_better=False),
        ),
    ]
    if p.deployment_frequency.deployments == 0:  # nothing to compare with
        rows = [(n, cur, "no deployments", lvl, "") for n, cur, _, lvl, _ in rows]
    return rows


def _title(r: DoraReport) -> str:
    return f"DORA · {r.scope.label} · last {r.window}"


def _window_line(period: DoraPeriod, prev: DoraPeriod) -> str:
    return (
        f"{fmt.day(period.window.start)} → {fmt.day(period.window.end)} "
        f"(vs {fmt.day(prev.window.start)} → {fmt.day(prev.window.end)})"
    )


def blocks(r: DoraReport) -> list[Block]:
    fields = []
    for name, cur, prev, level, trend in _rows(r):
        level_txt = f"{fmt.LEVEL_EMOJI[level]} {level}" if level else ""
        fields.append(
            MarkdownTextObject(text=f"*{name}*\n{cur}\n{level_txt}  _{trend}; before: {prev}_".strip())
        )
    out: list[Block] = [
        HeaderBlock(text=_title(r)[:150]),
        SectionBlock(fields=fields[:4]),
        SectionBlock(fields=fields[4:]),
    ]
    open_f = r.current.recovery_time.open_failures
    if open_f:
        lines = [
            f"• `{o.deployment_id}` ({o.service}) failed {fmt.when(o.finished_at)}, open for {fmt.hours(o.open_hours)}"
            for o in open_f[:5]
        ]
        out.append(SectionBlock(text=MarkdownTextObject(text="*Still-open failures*\n" + "\n".join(lines))))
    out.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"{_window_line(r.current, r.previous)} · production only · levels: {r.level_source}"
                )
            ]
        )
    )
    return out


def text(r: DoraReport) -> str:
    lines = [_title(r), _window_line(r.current, r.previous)]
    for name, cur, prev, level, trend in _rows(r):
        lvl = f" [{level}]" if level else ""
        lines.append(f"- {name}: {cur}{lvl}; before: {prev} {trend}".rstrip())
    for o in r.current.recovery_time.open_failures[:5]:
        lines.append(f"- still open: {o.deployment_id} ({o.service}) for {fmt.hours(o.open_hours)}")
    return "\n".join(lines)


def rich(r: DoraReport) -> Fit:
    """Narrow consoles drop the previous window's column (the trend arrow stays)."""

    def build(width: int) -> Table:
        wide = width >= NARROW
        table = Table(title=_title(r), caption=_window_line(r.current, r.previous), expand=False)
        column(table, "Metric", min_width=10)
        column(table, "Now", min_width=16)
        table.add_column("Level", no_wrap=True)
        if wide:
            column(table, "Before")
        table.add_column("Trend", no_wrap=True)
        for name, cur, prev, level, trend in _rows(r):
            table.add_row(*([name, cur, level or "—", prev, trend] if wide else [name, cur, level or "—", trend]))
        return table

    return Fit(build)


RENDERER = Renderer(blocks=blocks, text=text, rich=rich)
