"""Remediation actions: each a `mutates=True` tool with a typed input, a dry-run, an executor
and a follow-up check (docs/actions.md). They run only through bot.agent.actions.decide."""
