"""Alert incidents as the surfaces see them: read one, and remember its Slack message.

The Slack notifier and the card's buttons use these instead of the store's tables, so a
surface never holds a database connection of its own (each call is one short transaction).
"""

from __future__ import annotations

from typing import Any

from tools.alerts.models import Alert
from tools.alerts.summary import IncidentSummary
from tools.store import alerts as alert_store


def get_incident(store: Any, incident_id: str) -> tuple[IncidentSummary, list[Alert]] | None:
    """The incident's summary and its member alerts (oldest first), or None."""
    with store.engine.connect() as conn:
        return alert_store.get_incident(conn, incident_id)


def slack_message(store: Any, incident_id: str) -> tuple[str, str] | None:
    """(channel, ts) of the incident's one Slack message, once it has been posted."""
    with store.engine.connect() as conn:
        return alert_store.slack_message(conn, incident_id)


def get_with_message(
    store: Any, incident_id: str
) -> tuple[tuple[IncidentSummary, list[Alert]] | None, tuple[str, str] | None]:
    """Both of the above from one snapshot (the notifier renders and places the card from it)."""
    with store.engine.connect() as conn:
        return alert_store.get_incident(conn, incident_id), alert_store.slack_message(conn, incident_id)


def open_incidents(store: Any, limit: int = 20) -> list[IncidentSummary]:
    """Open incidents, newest first."""
    with store.engine.connect() as conn:
        return alert_store.list_incidents(conn, status="open", limit=limit)


def count_open(store: Any) -> int:
    """How many incidents are open now (the bot's /metrics gauge)."""
    from sqlalchemy import func, select

    t = alert_store.alert_incidents
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t).where(t.c.status == "open")).scalar_one())


def set_slack_message(store: Any, incident_id: str, channel: str, ts: str) -> None:
    """Remember where the incident was posted, so later changes edit that message."""
    with store.engine.begin() as conn:
        alert_store.set_slack_message(conn, incident_id, channel, ts)


__all__ = ["get_incident", "get_with_message", "set_slack_message", "slack_message"]
