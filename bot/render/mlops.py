"""Model status and drift reports: Block Kit, plain text and rich, plus the drift chart."""

from __future__ import annotations

import re

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
from bot.render.charts import _DRAW, drift_chart_png, register_chart
from bot.render.registry import Renderer
from bot.render.tables import NARROW, Fit, column, key_column
from tools.drift.models import P_VALUE_METHODS, FeatureDrift
from tools.mlops.perf_models import MetricEstimate, PerformanceResult, describe
from tools.mlops.status import ModelStatus, VersionStatus
from tools.mlops.tool import DriftResult

RETRAIN = "triops_model_retrain"  # the button under a "retrain" status: bot/slack/mlops.py
REC_EMOJI = {"keep": ":large_green_circle:", "investigate": ":large_yellow_circle:", "retrain": ":red_circle:"}
METHOD_LABEL = {
    "ks": "KS p", "chisquare": "χ² p", "chi2_contingency": "χ² (2×k) p", "z": "Z p",
    "wasserstein": "Wasserstein/σ", "jensenshannon": "Jensen–Shannon", "psi": "PSI",
}
TABLE_ROWS = 12


def _score(f: FeatureDrift) -> str:
    s = f.score
    if f.method in P_VALUE_METHODS:
        return "<1e-16" if s < 1e-16 else f"{s:.2g}" if s < 0.001 else f"{s:.3f}"
    return f"{s:.3f}"


def _cmp(f: FeatureDrift) -> str:
    if f.method == "ks":
        return "≤"  # evidently ks_stattest.py: p_value <= threshold
    return "<" if f.method in P_VALUE_METHODS else "≥"


def _notes(f: FeatureDrift) -> str:
    parts = []
    if f.missing_current:
        parts.append(f"{f.missing_share_current:.0%} missing")
    if f.unseen_count:
        parts.append(f"{f.unseen_count} unseen ({f.unseen_share:.0%}): {', '.join(f.unseen_categories[:3])}")
    if f.reference_mean is not None and f.current_mean is not None:
        parts.append(f"mean {f.reference_mean:.3g}→{f.current_mean:.3g}")
    return "; ".join(parts)


def feature_rows(r: DriftResult, limit: int = TABLE_ROWS) -> list[tuple[str, str, str, str, str, str]]:
    """(flag, column, test, score, threshold, notes), prediction first, then worst first."""
    feats = ([r.report.prediction] if r.report.prediction else []) + r.report.features[:limit]
    rows = []
    for f in feats:
        name = f"{f.column} (prediction)" if f is r.report.prediction else f.column
        rows.append((
            "DRIFT" if f.drifted else "ok", name, METHOD_LABEL.get(f.method, f.method), _score(f),
            f"{_cmp(f)} {f.threshold:g}" if f.drifted else f"thr {f.threshold:g}", _notes(f),
        ))
    return rows


def _drift_title(r: DriftResult) -> str:
    who = f"{r.model}" + (f" ({r.service})" if r.service else "") if r.model else "data"
    return f"Drift · {who} · {r.current} vs {r.reference}"


def _drift_summary(r: DriftResult) -> str:
    rep = r.report
    verdict = "DATASET DRIFT" if rep.dataset_drift else "no dataset drift"
    line = (f"{verdict}: {rep.n_drifted} of {rep.n_features} features drifted "
            f"({rep.share_drifted:.0%}; threshold {rep.drift_share_threshold:.0%})")
    if rep.prediction is not None:
        line += f" · prediction {rep.prediction.column}: {'DRIFTED' if rep.prediction.drifted else 'stable'}"
    return line


def drift_blocks(r: DriftResult) -> list[Block]:
    rows = feature_rows(r)
    width = max(len(x[1]) for x in rows) if rows else 10
    table = "\n".join(
        f"{'🔴' if flag == 'DRIFT' else '⚪'} {name[:28]:<{min(width, 28)}}  {test:<14} {score:>8}  {thr}"
        for flag, name, test, score, thr, _ in rows
    )
    notes = [f"• *{name}*: {n}" for flag, name, _, _, _, n in rows if n and flag == "DRIFT"][:6]
    out: list[Block] = [
        HeaderBlock(text=_drift_title(r)[:150]),
        SectionBlock(text=MarkdownTextObject(text=f"*{_drift_summary(r)}*")),
    ]
    if table:
        out.append(SectionBlock(text=MarkdownTextObject(text=f"```{table[:2900]}```")))
    if notes:
        out.append(SectionBlock(text=MarkdownTextObject(text="\n".join(notes)[:2900])))
    more = len(r.report.features) - TABLE_ROWS
    context = f"{r.report.reference_rows:,} reference rows vs {r.report.current_rows:,} current · {r.report.method_rule}"
    if more > 0:
        context = f"{more} more features not shown · " + context
    if r.report.skipped:
        context += " · skipped: " + ", ".join(f"{s.column} ({s.reason})" for s in r.report.skipped[:5])
    out.append(ContextBlock(elements=[MarkdownTextObject(text=context[:2900])]))
    return out


def drift_text(r: DriftResult) -> str:
    lines = [_drift_title(r), _drift_summary(r)]
    for flag, name, test, score, thr, notes in feature_rows(r, limit=50):
        lines.append(f"- [{flag}] {name}: {test} {score} ({thr})" + (f" — {notes}" if notes else ""))
    for s in r.report.skipped:
        lines.append(f"- skipped {s.column}: {s.reason}")
    return "\n".join(lines)


def drift_rich(r: DriftResult) -> Group:
    rows = feature_rows(r, limit=50)

    def build(width: int) -> Table:
        """Narrow consoles drop the test's name and the notes; features and scores stay whole."""
        wide = width >= NARROW
        table = Table(title=_drift_title(r), caption=r.report.method_rule, expand=False)
        table.add_column("", no_wrap=True)
        key_column(table, "Feature", [row[1] for row in rows])
        if wide:
            table.add_column("Test", no_wrap=True)
        table.add_column("Score", no_wrap=True)
        table.add_column("Threshold", no_wrap=True)
        if wide:
            column(table, "Notes")
        for flag, name, test, score, thr, notes in rows:
            style = "bold red" if flag == "DRIFT" else ""
            table.add_row(*([flag, name, test, score, thr, notes] if wide else [flag, name, score, thr]), style=style)
        return table

    return Group(_drift_summary(r), Fit(build))


def drift_chart(r: DriftResult) -> tuple[str, bytes] | None:
    if not r.report.features and r.report.prediction is None:
        return None
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", r.model or "data")
    return f"drift-{slug}.png", drift_chart_png(r.report, _drift_title(r))


# ---- model status ----------------------------------------------------------------------


def _version_line(v: VersionStatus) -> str:
    label = v.alias or (v.stage and f"stage {v.stage}") or "latest"
    age = f", trained {v.age_days:.0f} days ago" if v.age_days is not None else ""
    prev = f" (replaced v{v.previous_version})" if v.previous_version else ""
    return f"{label}: v{v.version}{prev}{age}"


def _metric_lines(v: VersionStatus) -> list[str]:
    out = []
    for m in v.metrics:
        if m.previous is None:
            out.append(f"{m.key} {m.value:.4g}")
        else:
            word = "same" if m.better is None else ("better" if m.better else "worse")
            rel = f"{m.relative_change:+.1%}" if m.relative_change is not None else ""
            out.append(f"{m.key} {m.value:.4g} vs {m.previous:.4g} ({rel}, {word})")
    return out


def _drift_line(s: ModelStatus) -> str:
    d = s.drift
    if d is None:
        return "no drift check recorded"
    top = ", ".join(f"{f.column}" for f in d.top if f.drifted) or "none"
    pred = "" if d.prediction_drifted is None else f"; prediction {'drifted' if d.prediction_drifted else 'stable'}"
    return (f"last check {fmt.when(d.computed_at)} ({d.age_hours:.0f} h ago): {d.n_drifted}/{d.n_features} "
            f"features drifted{pred}; drifted: {top}")


def _performance_line(s: ModelStatus) -> str | None:
    p = s.performance
    if p is None:
        return None
    if p.error:
        return f"cannot estimate: {p.error}"
    if p.headline is None:
        return None
    alerts = ", ".join(m.metric for m in p.alerts)
    return (f"{describe(p.headline)} on {p.current} ({p.method}"
            + (f"; labels: {p.labels}" if p.labels != "none" else "") + ")"
            + (f"; outside the reference range: {alerts}" if alerts else ""))


def _ops_line(s: ModelStatus) -> str | None:
    o = s.ops
    if o is None or (not o.retrains_90d and not o.n_versions and o.last is None):
        return None
    parts = [f"{o.retrains_90d} retrain{'s' if o.retrains_90d != 1 else ''} in 90 days ({o.per_month:.1f}/month)"]
    if o.success_rate is not None:
        parts.append(f"{o.succeeded} of {o.succeeded + o.failed} finished runs succeeded ({o.success_rate:.0%})")
    if o.last is not None:
        last = f"last run {o.last.status}"
        if o.last.new_version:
            last += f" → v{o.last.new_version}" + (" (promoted)" if o.last.promoted else " (registered)" if o.last.registered else "")
        parts.append(last)
    if o.lineage_coverage is not None:
        parts.append(f"lineage: {o.versions_with_lineage} of {o.n_versions} versions ({o.lineage_coverage:.0%}) "
                     "have training-data and run references")
    return "; ".join(parts)


def status_blocks(s: ModelStatus) -> list[Block]:
    head = f"{REC_EMOJI[s.recommendation]} *{s.recommendation.upper()}* — " + "; ".join(s.reasons)
    out: list[Block] = [
        HeaderBlock(text=f"Model · {s.name}" + (f" · serves {s.service}" if s.service else "")),
        SectionBlock(text=MarkdownTextObject(text=head[:2900])),
    ]
    fields = []
    for v in ([s.live] if s.live else []) + [a for a in s.aliases if s.live is None or a.alias != s.live.alias]:
        body = "\n".join([_version_line(v), *_metric_lines(v)])
        if v.training_data:
            body += f"\ndata: `{v.training_data}`"
        fields.append(MarkdownTextObject(text=(("*live* " if v is s.live else "") + body)[:1900]))
    if fields:
        out.append(SectionBlock(fields=fields[:10]))
    perf = _performance_line(s)
    if perf:
        out.append(SectionBlock(text=MarkdownTextObject(text=f"*Performance*: {perf}"[:2900])))
    out.append(SectionBlock(text=MarkdownTextObject(text=f"*Drift*: {_drift_line(s)}"[:2900])))
    ops = _ops_line(s)
    if ops:
        out.append(SectionBlock(text=MarkdownTextObject(text=f"*Retraining*: {ops}"[:2900])))
    if s.suggested_actions:
        out.append(ActionsBlock(block_id=f"retrain:{s.name}"[:255], elements=[
            ButtonElement(text="Retrain…", action_id=RETRAIN, value=s.name[:2000]),
        ]))
    out.append(ContextBlock(elements=[MarkdownTextObject(
        text=f"{s.n_versions} versions · source {s.source}" + (f" · team {s.team}" if s.team else "")
        + f" · checked {fmt.when(s.checked_at)}"
    )]))
    return out


def status_text(s: ModelStatus) -> str:
    lines = [f"Model {s.name}" + (f" (serves {s.service})" if s.service else ""),
             f"Recommendation: {s.recommendation.upper()} — " + "; ".join(s.reasons)]
    for v in ([s.live] if s.live else []) + [a for a in s.aliases if s.live is None or a.alias != s.live.alias]:
        lines.append(("- live " if v is s.live else "- ") + _version_line(v))
        lines.extend(f"    {m}" for m in _metric_lines(v))
    perf = _performance_line(s)
    if perf:
        lines.append(f"- performance: {perf}")
    lines.append(f"- drift: {_drift_line(s)}")
    ops = _ops_line(s)
    if ops:
        lines.append(f"- retraining: {ops}")
    return "\n".join(lines)


def status_rich(s: ModelStatus) -> Group:
    table = Table(title=f"Model {s.name}" + (f" · serves {s.service}" if s.service else ""), expand=False)
    for col in ("Alias / stage", "Version", "Trained"):
        column(table, col)
    column(table, "Metrics vs previous", min_width=20)
    for v in ([s.live] if s.live else []) + [a for a in s.aliases if s.live is None or a.alias != s.live.alias]:
        label = (v.alias or (v.stage and f"stage {v.stage}") or "latest") + (" (live)" if v is s.live else "")
        age = f"{v.age_days:.0f} d ago" if v.age_days is not None else "n/a"
        table.add_row(label, f"v{v.version}" + (f" (was v{v.previous_version})" if v.previous_version else ""),
                      age, "\n".join(_metric_lines(v)) or "—")
    colour = {"keep": "green", "investigate": "yellow", "retrain": "red"}[s.recommendation]
    perf = _performance_line(s)
    ops = _ops_line(s)
    return Group(table, *([f"Performance: {perf}"] if perf else []), f"Drift: {_drift_line(s)}",
                 *([f"Retraining: {ops}"] if ops else []),
                 f"[bold {colour}]{s.recommendation.upper()}[/] — " + "; ".join(s.reasons))


# ---- performance without labels --------------------------------------------------------------


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def perf_rows(r: PerformanceResult) -> list[tuple[str, str, str, str, str, str, str]]:
    """(flag, metric, estimated, band, realised, reference, alert range) for the whole window."""
    out = []
    for m in r.estimate.overall.metrics:
        band = f"{m.lower:.3f}–{m.upper:.3f}" if m.lower is not None and m.upper is not None else "—"
        rng = f"{_num(m.alert_lower)}–{_num(m.alert_upper)}"
        out.append(("ALERT" if m.alert else "ok", m.metric, _num(m.estimate), band, _num(m.realised), _num(m.reference), rng))
    return out


def _perf_title(r: PerformanceResult) -> str:
    who = r.model + (f" ({r.service})" if r.service else "")
    return f"Performance · {who} · {r.current} vs {r.reference}"


def _perf_summary(r: PerformanceResult) -> str:
    e = r.estimate
    head: MetricEstimate = r.headline()
    what = "classifier" if e.method == "CBPE" else "regressor"
    verdict = "PERFORMANCE ALERT" if e.alerts else "performance holds"
    labels = {"none": "no labels yet", "partial": "some labels arrived", "all": "labels arrived"}[r.labels]
    line = f"{verdict}: {describe(head)} ({e.method}, {what}; {e.current_rows:,} rows; {labels})"
    if e.skipped_rows:
        line += f" · {e.skipped_rows:,} rows without a probability skipped"
    return line


def _perf_context(r: PerformanceResult) -> str:
    e = r.estimate
    cal = f"calibration {e.calibration}" if e.method == "CBPE" else "loss model: gradient boosting"
    return (f"{e.reference_rows:,} labelled reference rows · {cal} · band = estimate ± 3 sampling errors · "
            f"alert outside the reference's mean ± 3 std over chunks of {e.chunk_size:,} rows")


def perf_blocks(r: PerformanceResult) -> list[Block]:
    rows = perf_rows(r)
    table = "\n".join(f"{'🔴' if f == 'ALERT' else '⚪'} {m:<9} est {est:>6}  band {band:<13} real {real:>6}  ref {ref:>6}"
                      for f, m, est, band, real, ref, _ in rows)
    out: list[Block] = [
        HeaderBlock(text=_perf_title(r)[:150]),
        SectionBlock(text=MarkdownTextObject(text=f"*{_perf_summary(r)}*"[:2900])),
        SectionBlock(text=MarkdownTextObject(text=f"```{table[:2900]}```")),
    ]
    if r.estimate.chunks:
        head = r.headline().metric
        trend = " → ".join(_num(m.estimate if m else None) for m in (c.get(head) for c in r.estimate.chunks[:20]))
        out.append(SectionBlock(text=MarkdownTextObject(text=f"{head} per chunk: {trend}"[:2900])))
    out.append(ContextBlock(elements=[MarkdownTextObject(text=_perf_context(r)[:2900])]))
    return out


def perf_text(r: PerformanceResult) -> str:
    lines = [_perf_title(r), _perf_summary(r)]
    for f, m, est, band, real, ref, rng in perf_rows(r):
        lines.append(f"- [{f}] {m}: estimated {est} (band {band}), realised {real}, reference {ref}, alert outside {rng}")
    for c in r.estimate.chunks:
        lines.append(f"- rows {c.key}: " + ", ".join(f"{m.metric} {_num(m.estimate)}" + ("!" if m.alert else "") for m in c.metrics))
    lines.append(_perf_context(r))
    return "\n".join(lines)


def perf_rich(r: PerformanceResult) -> Group:
    table = Table(title=_perf_title(r), caption=_perf_context(r), expand=False)
    for col in ("", "Metric", "Estimated", "Band", "Realised", "Reference", "Alert outside"):
        table.add_column(col, no_wrap=True)
    for row in perf_rows(r):
        table.add_row(*row, style="bold red" if row[0] == "ALERT" else "")
    return Group(_perf_summary(r), table)


def perf_chart(r: PerformanceResult) -> tuple[str, bytes] | None:
    """The headline metric per chunk: estimate with its band, realised where labelled, alert range."""
    chunks = r.estimate.chunks or [r.estimate.overall]
    head = r.headline().metric
    ms = [c.get(head) for c in chunks]
    if not any(m is not None and m.estimate is not None for m in ms):
        return None
    import io
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xs = list(range(len(ms)))
    est = [m.estimate if m and m.estimate is not None else float("nan") for m in ms]
    lo = [m.lower if m and m.lower is not None else float("nan") for m in ms]
    hi = [m.upper if m and m.upper is not None else float("nan") for m in ms]
    real = [m.realised if m and m.realised is not None else float("nan") for m in ms]
    first = next(m for m in ms if m is not None)
    with _DRAW:
        fig = Figure(figsize=(6.4, 3.2), dpi=110)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        ax.fill_between(xs, lo, hi, color="#1f77b4", alpha=0.2, label="band (±3 σ)")
        ax.plot(xs, est, marker="o", color="#1f77b4", label=f"estimated {head}")
        if any(v == v for v in real):
            ax.plot(xs, real, marker="x", linestyle="--", color="black", label="realised")
        for bound in (first.alert_lower, first.alert_upper):
            if bound is not None:
                ax.axhline(bound, color="#d62728", linewidth=1, linestyle=":")
        alerts = [i for i, m in enumerate(ms) if m is not None and m.alert]
        ax.scatter(alerts, [est[i] for i in alerts], color="#d62728", zorder=3, label="alert")
        ax.set_xticks(xs, [c.key for c in chunks], rotation=30, fontsize=6)
        ax.set_title(textwrap.fill(_perf_title(r), 70), fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", r.model)
    return f"performance-{slug}.png", buf.getvalue()


PERFORMANCE = Renderer(blocks=perf_blocks, text=perf_text, rich=perf_rich)
DRIFT = Renderer(blocks=drift_blocks, text=drift_text, rich=drift_rich)
STATUS = Renderer(blocks=status_blocks, text=status_text, rich=status_rich)
register_chart(DriftResult, drift_chart)
register_chart(PerformanceResult, perf_chart)
