"""The demo's ML model: `search-ranker` serves the ranking service. Its inputs come from the
feature store; the feature store's most recent deployment starts sending `ctr_7d` as a
percentage instead of a fraction, a new device type appears, and the ranker's scores move.
The drift check on the window after that deployment records a drift event on `ranking`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tools.mlops.schemas import ModelIn

if TYPE_CHECKING:
    from tools.scenario import Scenario
    from tools.store import Store

MODEL = "search-ranker"
SERVICE = "ranking"
UPSTREAM = "feature-store"
PREDICTION = "score"
WINDOW_ROWS = 4000
DEVICES = np.array(["ios", "android", "web"], dtype=object)
LOCALES = np.array(["en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "nl-NL", "pl-PL"], dtype=object)


@dataclass
class ModelWindow:
    label: str
    start: datetime
    end: datetime
    frame: pd.DataFrame


@dataclass
class ModelsPart:
    models: list[ModelIn] = field(default_factory=list)
    windows: list[ModelWindow] = field(default_factory=list)
    registered_at: dict[str, datetime] = field(default_factory=dict)  # version -> alias set time
    drift_deployment: str | None = None  # the deployment after which the inputs drift
    reference_labels: list[int] = field(default_factory=list)  # clicked or not, per reference row


def _features(rng: np.random.Generator, n: int, broken: bool) -> pd.DataFrame:
    ctr = rng.beta(2, 30, n)  # a click-through rate, a fraction
    device = DEVICES[rng.choice(3, n, p=[0.45, 0.35, 0.20])]
    if broken:
        ctr = ctr * 100  # the feature store now sends a percentage
        device = device.copy()
        device[rng.random(n) < 0.08] = "tv"
    frame = pd.DataFrame({
        "query_len": rng.poisson(3.2, n) + 1,
        "price": rng.lognormal(3.4, 0.7, n).round(2),
        "user_tenure_days": rng.gamma(1.6, 220, n).round(0),
        "ctr_7d": ctr,
        "device": device,
        "locale": LOCALES[rng.choice(8, n, p=[0.35, 0.15, 0.15, 0.1, 0.08, 0.07, 0.05, 0.05])],
        "is_member": rng.random(n) < 0.3,
    })
    logit = -1.2 + 6.0 * np.minimum(frame["ctr_7d"].to_numpy(), 1.0) + 0.4 * frame["is_member"] - 0.02 * frame["query_len"]
    frame[PREDICTION] = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.3, n))))
    return frame


def build(sc: Scenario, rng: np.random.Generator) -> ModelsPart:
    part = ModelsPart()
    now = sc.now
    day = timedelta(days=1)
    versions: list[dict[str, Any]] = [
        {"version": "1", "trained_at": now - 150 * day, "training_data": "s3://ml-data/search-ranker/2026-06",
         "metrics": {"ndcg@10": 0.402, "logloss": 0.512, "p95_latency_ms": 18.0}},
        {"version": "2", "trained_at": now - 75 * day, "training_data": "s3://ml-data/search-ranker/2026-08",
         "metrics": {"ndcg@10": 0.415, "logloss": 0.498, "p95_latency_ms": 19.0}},
        {"version": "3", "trained_at": now - 24 * day, "training_data": "s3://ml-data/search-ranker/2026-10",
         "metrics": {"ndcg@10": 0.421, "logloss": 0.489, "p95_latency_ms": 21.0}},
        {"version": "4", "trained_at": now - 3 * day, "training_data": "s3://ml-data/search-ranker/2026-11",
         "metrics": {"ndcg@10": 0.425, "logloss": 0.487, "p95_latency_ms": 26.0}},
    ]
    # Each version is registered (and its alias set) a day after training; v4 is the challenger.
    for v in versions:
        registered = v["trained_at"] + day
        alias = ["champion"] if v["version"] != "4" else ["challenger"]
        part.models.append(ModelIn(
            name=MODEL, service=SERVICE, team=sc.catalog.team_of(SERVICE), prediction_column=PREDICTION,
            description="Learning-to-rank model behind search results",
            versions=[{**v, "registered_at": registered, "aliases": alias,
                       "stage": "Production" if v["version"] == "3" else ("Staging" if v["version"] == "4" else "Archived")}],
        ))
        part.registered_at[v["version"]] = registered

    upstream = [d for d in sc.deployments if d.service == UPSTREAM and d.status == "success" and d.finished_at < now - timedelta(hours=6)]
    anchor = upstream[-1].finished_at if upstream else now - 2 * day
    part.drift_deployment = upstream[-1].id if upstream else None
    reference = _features(rng, WINDOW_ROWS * 2, broken=False)
    part.windows.append(ModelWindow("reference", now - 25 * day, now - 24 * day, reference))
    clicks = np.random.default_rng(15)  # its own stream: the windows above stay as they were
    part.reference_labels = (clicks.random(len(reference)) < reference[PREDICTION].to_numpy()).astype(int).tolist()
    before_end = anchor
    part.windows.append(ModelWindow(f"before-{anchor:%Y-%m-%d}", before_end - day, before_end, _features(rng, WINDOW_ROWS, broken=False)))
    after_end = min(now, anchor + day)
    part.windows.append(ModelWindow(f"after-{anchor:%Y-%m-%d}", anchor, after_end, _features(rng, WINDOW_ROWS, broken=True)))
    return part


def load(store: Store, part: ModelsPart) -> None:
    """Register the model, store the windows, and run the drift checks each window would have had."""
    from tools.drift import compute_drift
    from tools.store import models as reg

    with store.engine.begin() as conn:
        for m in part.models:
            version = m.versions[0].version
            reg.upsert_models(conn, [m], part.registered_at[version].timestamp())
        for w in part.windows:
            reg.save_window(conn, MODEL, w.label, w.frame, w.end.timestamp(), start=w.start.timestamp(), end=w.end.timestamp())
        reference = next(w for w in part.windows if w.label == "reference")
        # the reference's clicks (drawn from its scores), delivered as delayed labels: what the
        # performance estimate calibrates on
        reg.save_labels(conn, MODEL, "reference", pd.DataFrame({"label": part.reference_labels}), reference.end.timestamp())
        for w in part.windows:
            if w is reference:
                continue
            report = compute_drift(reference.frame, w.frame, target=PREDICTION)
            reg.record_drift(conn, report, at=w.end.timestamp(), model=MODEL, version="3", service=SERVICE,
                             reference=f"{MODEL}/reference", current=f"{MODEL}/{w.label}")
