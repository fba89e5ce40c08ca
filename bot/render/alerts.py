"""Alert incidents: the incident-channel card, lists, one incident's detail, noise figures.

Alert text comes from outside (labels, annotations): it is escaped before it reaches
Slack so an annotation cannot ping `<!channel>` or smuggle a link.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

from rich.console import Group
from rich.table import Table
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.render import fmt
from bot.render.registry import Renderer
from bot.render.tables import NARROW, Fit, column, key_column
from tools.alerts.stats import NoiseStats
from tools.alerts.summary import IncidentSummary
from tools.alerts.tool import IncidentDetail, IncidentList

SEVERITY_EMOJI = {"critical": ":red_circle:", "error": ":large_orange_circle:", "warning": ":large_yellow_circle:", "info": ":white_circle:"}
ACK, RESOLVE, SHOW = "alerts_ack", "alerts_resolve", "alerts_show"
# a human's decisions (bot/slack/incident_actions.py): the suspect change, merge, split
CONFIRM_CAUSE, REJECT_CAUSE = "alerts_confirm_cause", "alerts_reject_cause"
MERGE_PICK, MERGE_INTO = "alerts_merge_pick", "alerts_merge_into"
SPLIT_PICK, SPLIT_SERVICE = "alerts_split_pick", "alerts_split_service"
# a runbook step whose command is an action: the click only *suggests* it (bot/agent/slack.py)
RUNBOOK_ACTION = "alerts_runbook_action"
MAX_STEPS = 3  # the steps the card shows (bot/render/runbooks.py suggestion_blocks)

# (alert name, text) -> (title, url) or None: the runbook hook the knowledge helper provides
RunbookLookup = Callable[[str, str], Any]


def esc(text: str | None, limit: int = 600) -> str:
    text = (text or "")[:limit]
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _status(s: IncidentSummary) -> str:
    if s.status == "resolved":
        who = f" by <@{s.resolved_by}>" if s.resolved_by and s.resolved_by.startswith("U") else (f" by {esc(s.resolved_by)}" if s.resolved_by else "")
        return f":white_check_mark: resolved {fmt.when(s.resolved_at)}{who}"
    if s.acked_at:
        who = f"<@{s.acked_by}>" if s.acked_by and s.acked_by.startswith("U") else esc(s.acked_by)
        return f":eyes: acknowledged by {who} {fmt.when(s.acked_at)}"
    return ":rotating_light: open"


def _cause_lines(s: IncidentSummary, n: int = 2) -> list[str]:
    lines = []
    if s.no_clear_cause:
        lines.append(f"_no clear cause_: {esc(s.cause_note, 300)}")
        names = ", ".join(f"{esc(c.service)} ({c.score:g})" for c in s.causes[:3])
        return lines + ([f"candidates, none convincing: {names}"] if names else [])
    for c in s.causes[:n]:
        ev = "; ".join(esc(e, 200) for e in c.evidence[:3])
        lines.append(f"*{esc(c.service)}* (score {c.score:g}): {ev}")
    return lines


def _change_line(s: IncidentSummary) -> str | None:
    ch = s.suspect_change
    if ch is None:
        return None
    kind = ch.kind.replace("_", " ")
    extra = f" — {esc(ch.summary, 200)}" if ch.summary else ""
    return f"{kind} `{esc(ch.id, 120)}` of *{esc(ch.service)}* at {fmt.when(ch.at)}{extra}"


def _metric_line(s: IncidentSummary, n: int = 3) -> str | None:
    """Which golden signals broke first (metric evidence), or why there is none."""
    from tools.alerts.metric_evidence import describe

    first = s.opened_at.timestamp()
    lines = [esc(describe(b, first), 200) for b in s.metric_breaks[:n]]
    if s.metric_note:
        lines.append(f"_{esc(s.metric_note, 300)}_")
    return "\n".join(lines) or None


def runbook_actions(hit: Any, incident_id: str, allowed: Collection[str] | None = None) -> list[Block]:
    """A button per shown runbook step whose command is exactly an action
    (tools/actions/commands.py), only those in `allowed` when given. The value carries the
    step's command line, parsed again on click: the click suggests, an approver decides."""
    from knowledge.models import RunbookSuggestion
    from tools.actions.commands import action_for_command

    if not isinstance(hit, RunbookSuggestion):
        return []
    buttons: list[ButtonElement] = []
    for step in hit.steps[:MAX_STEPS]:
        for line in (ln.strip() for c in step.commands for ln in c.splitlines()):
            found = action_for_command(line)
            if found is None or (allowed is not None and found[0] not in allowed):
                continue
            value = json.dumps({"i": incident_id, "s": step.number, "c": line})
            if len(value) <= 2000 and len(buttons) < 5:
                buttons.append(ButtonElement(text=f"Suggest {found[0]} (step {step.number})"[:75],
                                             action_id=f"{RUNBOOK_ACTION}:{len(buttons)}", value=value))
    if not buttons:
        return []
    return [ActionsBlock(block_id=f"runbook:{incident_id}"[:255], elements=buttons),
            ContextBlock(elements=[MarkdownTextObject(text="A runbook button only suggests the step; an approver decides.")])]


def runbook_blocks(hit: Any) -> list[Block]:
    """The runbook part of the card: the knowledge helper's RunbookSuggestion renders
    itself; a (title, url) pair becomes a link."""
    from bot.render.runbooks import SUGGESTION
    from knowledge.models import RunbookSuggestion

    if isinstance(hit, RunbookSuggestion):
        return list(SUGGESTION.blocks(hit))
    if isinstance(hit, tuple):
        title, url = str(hit[0]), str(hit[1]) if len(hit) > 1 and hit[1] else ""
    else:
        title, url = str(getattr(hit, "title", hit)), str(getattr(hit, "url", "") or "")
    link = f"<{url}|{esc(title, 150)}>" if url.startswith(("http://", "https://")) else esc(title, 150)
    return [SectionBlock(text=MarkdownTextObject(text=f"*Runbook*\n{link}"))]


def incident_card(s: IncidentSummary, runbook: Any = None, *, buttons: bool = True,
                  actions: Collection[str] | None = None) -> list[Block]:
    """The ONE message per incident in the incident channel (updated in place). `actions`:
    the allowlisted actions its runbook steps may be offered as (None: any they match)."""
    sev = SEVERITY_EMOJI.get(s.severity, "")
    services = ", ".join(esc(x) for x in s.services[:8]) + (" …" if len(s.services) > 8 else "")
    firing = f"{s.firing_count} firing" if s.status == "open" else "all resolved"
    fields = [
        MarkdownTextObject(text=f"*Severity*\n{sev} {s.severity}"),
        MarkdownTextObject(text=f"*Status*\n{_status(s)}"),
        MarkdownTextObject(text=f"*Services*\n{services or 'unknown'}"),
        MarkdownTextObject(text=f"*Alerts*\n{s.alert_count} ({firing}; {s.notifications} notifications)"),
        MarkdownTextObject(text=f"*First seen*\n{fmt.when(s.opened_at)}"),
        MarkdownTextObject(text=f"*Last alert*\n{fmt.when(s.last_alert_at)}"),
    ]
    out: list[Block] = [
        HeaderBlock(text=f"{s.severity.upper()}: {s.title}"[:150]),
        SectionBlock(fields=fields),
    ]
    causes = _cause_lines(s)
    if causes:
        out.append(SectionBlock(text=MarkdownTextObject(text=("*Probable cause*\n" + "\n".join(causes))[:3000])))
    change = _change_line(s)
    if change:
        out.append(SectionBlock(text=MarkdownTextObject(text=f"*Suspect change*\n{change}"[:3000])))
        ch = s.suspect_change
        if buttons and ch is not None and ch.kind == "deployment":
            value = f"{s.id}|{ch.id}"[:2000]
            out.append(ActionsBlock(block_id=f"cause:{s.id}", elements=[
                ButtonElement(text="Confirm cause", action_id=CONFIRM_CAUSE, value=value, style="primary"),
                ButtonElement(text="Not this", action_id=REJECT_CAUSE, value=value),
            ]))
    metrics = _metric_line(s)
    if metrics:
        out.append(SectionBlock(text=MarkdownTextObject(text=f"*Metrics*\n{metrics}"[:3000])))
    if runbook is not None:
        out.extend(runbook_blocks(runbook))
        if buttons and s.status == "open":
            out.extend(runbook_actions(runbook, s.id, actions))
    elif s.first_alert and s.first_alert.runbook_url and s.first_alert.runbook_url.startswith(("http://", "https://")):
        out.append(SectionBlock(text=MarkdownTextObject(text=f"*Runbook*\n<{s.first_alert.runbook_url}|{esc(s.first_alert.name)}>")))
    if s.flapping:
        out.append(ContextBlock(elements=[MarkdownTextObject(text=f":repeat: flapping (damped): {esc(', '.join(s.flapping), 300)}")]))
    if s.held_back:
        out.append(ContextBlock(elements=[MarkdownTextObject(text=f":warning: {esc('; '.join(s.held_back), 300)}")]))
    if buttons:
        elements = []
        if s.status == "open" and not s.acked_at:
            elements.append(ButtonElement(text="Acknowledge", action_id=ACK, value=s.id, style="primary"))
        if s.status == "open":
            elements.append(ButtonElement(text="Resolve", action_id=RESOLVE, value=s.id, style="danger"))
        elements.append(ButtonElement(text="Show alerts", action_id=SHOW, value=s.id))
        if s.status == "open":
            elements.append(ButtonElement(text="Merge…", action_id=MERGE_PICK, value=s.id))
            if len(s.services) > 1:
                elements.append(ButtonElement(text="Split…", action_id=SPLIT_PICK, value=s.id))
        out.append(ActionsBlock(block_id=f"incident:{s.id}", elements=elements))
    out.append(ContextBlock(elements=[MarkdownTextObject(text=f"`{s.id}` · `/triops incident {s.id}`")]))
    return out


def incident_text(s: IncidentSummary) -> str:
    cause = "no clear cause" if s.no_clear_cause else (s.causes[0].service if s.causes else "unknown")
    return f"[{s.severity}] {s.title} — {s.alert_count} alerts on {', '.join(s.services) or 'unknown services'}; probable cause: {cause} ({s.status})"


# --- lists ------------------------------------------------------------------------------------
def _list_title(r: IncidentList) -> str:
    what = {"open": "Open", "resolved": "Resolved", "all": "All"}[r.state]
    return f"{what} alert incidents" + (f" · {r.service}" if r.service else "")


def list_blocks(r: IncidentList) -> list[Block]:
    out: list[Block] = [HeaderBlock(text=_list_title(r)[:150])]
    if not r.incidents:
        out.append(SectionBlock(text=MarkdownTextObject(text="None. :relieved:")))
        return out
    for s in r.incidents[:20]:
        cause = " · no clear cause" if s.no_clear_cause else (f" · cause: *{esc(s.causes[0].service)}*" if s.causes else "")
        out.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=(f"{SEVERITY_EMOJI.get(s.severity, '')} `{s.id}` *{esc(s.title, 150)}*\n"
                          f"{s.alert_count} alerts · {', '.join(esc(x) for x in s.services[:5])} · since {fmt.when(s.opened_at)}"
                          f"{cause} · {_status(s)}")[:3000]
                )
            )
        )
    return out


def list_text(r: IncidentList) -> str:
    lines = [_list_title(r)]
    lines += [f"- {s.id}: {incident_text(s)}" for s in r.incidents] or ["- none"]
    return "\n".join(lines)


def list_rich(r: IncidentList) -> Fit:
    """Narrow consoles drop status and opening time; ids, counts and titles stay whole."""

    def build(width: int) -> Table:
        wide = width >= NARROW
        t = Table(title=_list_title(r))
        key_column(t, "Id", [s.id for s in r.incidents])
        if wide:
            t.add_column("Status", no_wrap=True)
        t.add_column("Severity", no_wrap=True)
        t.add_column("Alerts", justify="right", no_wrap=True)
        if wide:
            t.add_column("Opened (UTC)", no_wrap=True)
        column(t, "Incident (probable cause)")
        for s in r.incidents:
            cause = " (no clear cause)" if s.no_clear_cause else (f" (cause: {s.causes[0].service})" if s.causes else "")
            row = [s.id, s.status, s.severity, str(s.alert_count), s.opened_at.strftime("%m-%d %H:%M"), s.title + cause]
            t.add_row(*(row if wide else [row[0], row[2], row[3], row[5]]))
        return t

    return Fit(build)


# --- one incident -------------------------------------------------------------------------------
def alert_lines(d: IncidentDetail, limit: int = 25) -> list[str]:
    lines = []
    for a in d.alerts[:limit]:
        flap = " :repeat:" if a.flapping else ""
        state = "resolved" if a.status == "resolved" else "firing"
        lines.append(f"• {fmt.when(a.starts_at)} *{esc(a.name, 120)}* on {esc(a.service or '?')} ({a.severity}, {state}){flap} — {esc(a.message, 160)}")
    if len(d.alerts) > limit:
        lines.append(f"… and {len(d.alerts) - limit} more")
    return lines


def detail_blocks(d: IncidentDetail) -> list[Block]:
    out = incident_card(d.incident, buttons=False)
    text = "\n".join(alert_lines(d))
    for i in range(0, len(text), 2900):
        out.append(SectionBlock(text=MarkdownTextObject(text=text[i : i + 2900])))
    if d.actions:
        acts = ", ".join(f"{a.action} by {esc(a.user)} {fmt.when(a.at)}" for a in d.actions[-5:])
        out.append(ContextBlock(elements=[MarkdownTextObject(text=acts[:3000])]))
    return out


def detail_text(d: IncidentDetail) -> str:
    s = d.incident
    lines = [incident_text(s), f"opened {fmt.when(s.opened_at)}; id {s.id}"]
    for c in s.causes[:3]:
        lines.append(f"cause candidate {c.service} (score {c.score:g}): {'; '.join(c.evidence)}")
    if s.suspect_change:
        ch = s.suspect_change
        lines.append(f"suspect change: {ch.kind} {ch.id} of {ch.service} at {fmt.when(ch.at)}")
    lines += [f"- {a.name} on {a.service or '?'} ({a.severity}, {a.status}) since {fmt.when(a.starts_at)}" for a in d.alerts]
    lines += [f"action: {a.action} by {a.user} at {fmt.when(a.at)}" for a in d.actions]
    return "\n".join(lines)


def detail_rich(d: IncidentDetail) -> Group:
    def build(width: int) -> Table:
        wide = width >= NARROW
        t = Table(title=f"{d.incident.id}: {d.incident.title}")
        if wide:
            t.add_column("Started", no_wrap=True)
        column(t, "Alert")
        key_column(t, "Service", [a.service or "" for a in d.alerts])
        t.add_column("Severity", no_wrap=True)
        column(t, "Status")
        for a in d.alerts:
            row = [fmt.when(a.starts_at), a.name, a.service or "", a.severity,
                   a.status + (" (flapping)" if a.flapping else "")]
            t.add_row(*(row if wide else row[1:]))
        return t

    return Group(detail_text(d).split("\n- ")[0], Fit(build))


# --- noise figures ----------------------------------------------------------------------------
def _stats_rows(s: NoiseStats) -> list[tuple[str, str]]:
    def secs(x: float | None) -> str:
        return "n/a" if x is None else fmt.hours(x / 3600)

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x * 100:.1f} %"

    return [
        ("Notifications", f"{s.notifications:,}"),
        ("Distinct alerts", f"{s.alerts:,} (dedup ratio {pct(s.dedup_ratio)})"),
        ("Incidents", f"{s.incidents:,} ({s.open_incidents} open; compression {pct(s.compression)})"),
        ("Time to acknowledge", f"median {secs(s.median_time_to_ack_s)}, p90 {secs(s.p90_time_to_ack_s)} ({s.acked} acked)"),
        ("Time to resolve", f"median {secs(s.median_time_to_resolve_s)}, p90 {secs(s.p90_time_to_resolve_s)} ({s.resolved} resolved)"),
    ] + ([("Parked", f"{s.parked:,} alerts could not be correlated (see the log references)")] if s.parked else []) \
      + ([("Remediation", "\n".join(s.remediation))] if s.remediation else [])


def stats_blocks(s: NoiseStats) -> list[Block]:
    return [
        HeaderBlock(text=f"Alert noise · last {s.window}"),
        SectionBlock(fields=[MarkdownTextObject(text=f"*{k}*\n{v}") for k, v in _stats_rows(s)]),
    ]


def stats_text(s: NoiseStats) -> str:
    return "\n".join([f"Alert noise, last {s.window}"] + [f"- {k}: {v}" for k, v in _stats_rows(s)])


def stats_rich(s: NoiseStats) -> Table:
    t = Table(title=f"Alert noise · last {s.window}")
    column(t, "Figure")
    column(t, "Value")
    for k, v in _stats_rows(s):
        t.add_row(k, v)
    return t


LIST = Renderer(blocks=list_blocks, text=list_text, rich=list_rich)
DETAIL = Renderer(blocks=detail_blocks, text=detail_text, rich=detail_rich)
STATS = Renderer(blocks=stats_blocks, text=stats_text, rich=stats_rich)
