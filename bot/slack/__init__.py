"""The Slack surface: a Bolt app whose listeners only parse, route and post."""
