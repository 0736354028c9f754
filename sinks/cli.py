"""`twitch-pulse sink raw|windows|alerts`, `alerts`, `bootstrap`, `prune`, `status`: the
warehouse writers, the Slack alerts worker, the schema tools and the health check. Only the
arguments live here; the handlers (`sinks.commands`, `sinks.status`) load when their command runs."""

from __future__ import annotations

import argparse

from pulse.cli import Formatter


def register(sub: argparse._SubParsersAction) -> None:
    sink = sub.add_parser(
        "sink", help="write a topic to Snowflake (raw events, windows or alerts), exactly once",
        description=(
            "Run one warehouse writer, a long-running Quix Streams worker with its own consumer group:\n"
            "  raw      twitch.streams (chunks) -> STREAM_LOGS, one row per stream object: RAW_DATA = the v1\n"
            "           event, + Kafka position and CHUNK_INDEX; invalid values and stream objects skipped\n"
            "  windows  twitch.windows.games|channels|top_channels -> GAME_WINDOWS, CHANNEL_WINDOWS,\n"
            "           GAME_TOP_CHANNELS (MERGE on the natural key)\n"
            "  alerts   twitch.alerts -> ALERTS (MERGE on ALERT_ID)\n"
            "Each table holds every record once after any crash and restart. Transient warehouse\n"
            "errors pause and retry (nothing lost); permanent ones exit 1 with one line.\n"
            "Stops cleanly on SIGTERM/SIGINT. Metrics and /healthz on METRICS_PORT."),
        formatter_class=Formatter)
    sink.add_argument("kind", choices=("raw", "windows", "alerts"), help="which topic(s) to write")
    sink.add_argument("--method", choices=("copy", "insert"), default=None,
                      help="loading method (default: SINK_LOAD_METHOD, copy = PUT + COPY INTO staged NDJSON)")
    sink.add_argument("--no-bootstrap", action="store_true",
                      help="do not create or upgrade the schema at start (for a role without DDL rights)")
    sink.set_defaults(handler="sinks.commands:sink")

    alerts = sub.add_parser(
        "alerts", help="post spike alerts to Slack (or the console without a webhook)",
        description=(
            "Read twitch.alerts and post one Block Kit message per alert to SLACK_WEBHOOK_URL.\n"
            "Honours 429 Retry-After and backs off on 5xx; an alert's offset is committed only\n"
            "after Slack accepted it, and an alert is never posted twice, even after a restart.\n"
            "Without a webhook the alerts are printed to the console. Stops cleanly on SIGTERM/SIGINT."),
        formatter_class=Formatter)
    alerts.set_defaults(handler="sinks.commands:alerts")

    boot = sub.add_parser(
        "bootstrap", help="create or upgrade the warehouse schema (idempotent, versioned)",
        description=(
            "Apply the numbered SQL files of sinks/snowflake/sql/ that SCHEMA_VERSION does not list yet:\n"
            "the tables the sinks write (the derived models, STG_TWITCH_STREAMS and the rollups, are\n"
            "dbt's: `twitch-pulse models build`). Safe to re-run."),
        formatter_class=Formatter)
    boot.set_defaults(handler="sinks.commands:bootstrap")

    prune = sub.add_parser(
        "prune", help="delete raw STREAM_LOGS rows older than an age",
        description="Delete STREAM_LOGS rows whose CAPTURED_AT is older than the given age (raw retention).",
        formatter_class=Formatter)
    prune.add_argument("--older-than", default=None, metavar="AGE",
                       help="age such as 7d, 36h, 90m (default: RAW_RETENTION, 7d)")
    prune.set_defaults(handler="sinks.commands:prune")


STATUS_DESCRIPTION = '''`twitch-pulse status`: is this deployment healthy, in one screen.

Checks, in order, each printed as one line:
  broker     reachable? (bootstrap servers, number of brokers)
  topic      every topic of DESIGN §1 and the processor's internal topics: partitions, or missing
  group      every consumer group of this deployment (CONSUMER_GROUP_PREFIX-*): committed lag
  warehouse  reachable? (database.schema, schema version)
  window     newest window in GAME_WINDOWS, CHANNEL_WINDOWS, GAME_TOP_CHANNELS; newest alert

Exit 0 when the broker and the warehouse answer, 1 when one of them is down (its line says
why, in one line; the checks that need it are skipped). Missing topics, groups that never
committed and empty tables are reported but are not failures: a fresh deployment has them.
'''


def register_status(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="check the deployment: broker, topics, consumer lag, warehouse, newest windows",
                       description=STATUS_DESCRIPTION, formatter_class=Formatter)
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for the broker and the warehouse before calling them down")
    p.add_argument("--skip", action="append", choices=("kafka", "warehouse"), default=None,
                   help="leave out a check (repeatable)")
    p.set_defaults(handler="sinks.status:status_command")
