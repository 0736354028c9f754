"""Prometheus metrics of the sink and Slack workers (labels are tables, methods, statuses:
never channel or game ids)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROWS_WRITTEN = Counter(
    "twitch_pulse_sink_rows_written_total", "Rows committed to the warehouse, per table", ["table"])
RECORDS_SKIPPED = Counter(
    "twitch_pulse_sink_records_skipped_total",
    "Records not written: invalid values or stream objects, or already in the warehouse (duplicate)",
    ["table", "reason"])
BATCH_SECONDS = Histogram(
    "twitch_pulse_sink_batch_duration_seconds", "Time to load and commit one batch, per table and method",
    ["table", "method"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
BATCH_ROWS = Histogram(
    "twitch_pulse_sink_batch_rows", "Records per written batch", ["table"],
    buckets=(1, 10, 100, 500, 1000, 5000, 10000, 20000, 50000))
BACKPRESSURE = Counter(
    "twitch_pulse_sink_backpressure_total", "Transient warehouse errors that paused a sink", ["sink"])
LAST_WRITE = Gauge(
    "twitch_pulse_sink_last_write_timestamp_seconds", "Unix time of the last committed batch", ["table"])
CONSUMER_LAG = Gauge(
    "twitch_pulse_sink_consumer_lag_messages",
    "Messages of a topic partition not yet written and committed, per sink (librdkafka statistics)",
    ["sink", "topic", "partition"])

SLACK_POSTS = Counter(
    "twitch_pulse_slack_posts_total",
    "Alert deliveries by outcome: HTTP status code, 'error' (no answer), 'console', 'duplicate' (already sent)",
    ["status"])
SLACK_BACKOFF = Counter(
    "twitch_pulse_slack_backoff_total", "Times the Slack worker paused (429 Retry-After, 5xx, network)")
