"""Seen-once keys: a sender's retry (Slack's event_id, a webhook delivery id) is handled once."""

from __future__ import annotations

from tools.store.slack_events import first_time_seen

__all__ = ["first_time_seen"]
