"""Deterministic tools: typed, pure computations over the store. No Slack, no LLM here."""
