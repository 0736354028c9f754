"""Sinks: Snowflake writers and the Slack alerts worker (DESIGN §5, §6)."""
