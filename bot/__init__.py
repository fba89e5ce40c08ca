"""The surfaces of triops: Slack, HTTP webhooks, the console and the CLI."""
