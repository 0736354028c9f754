"""Prometheus metrics of `models build --every` (the long-running scheduler): builds by result,
their duration, and when the models were last built whole."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BUILDS = Counter("twitch_pulse_models_builds_total", "dbt builds of the analytics models by result", ["result"])
BUILD_SECONDS = Histogram(
    "twitch_pulse_models_build_duration_seconds", "Time of one dbt build of the analytics models",
    buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800))
LAST_SUCCESS = Gauge(
    "twitch_pulse_models_last_success_timestamp_seconds", "Unix time the last successful dbt build finished")
