"""Sink workers: one Quix Streams application per sink, each with its own consumer group,
so a slow warehouse never slows the processor or the other sinks."""

from __future__ import annotations

import logging
from typing import Callable, Literal, Optional, Protocol

from quixstreams import Application
from quixstreams.sinks import BaseSink

from pulse import topics
from pulse.kafka import CONSUMER_POLL_SECONDS, app_connection, ensure_topics, partition_lags, sink_consumer
from pulse.metrics import HealthCheck, start_metrics_server
from pulse.resilience import BrokerProbe, StopSignal, combine, on_consumer_error, run_resilient
from pulse.settings import Settings
from pulse.watchdog import Watchdog

from . import metrics
from .base import WarehouseSink
from .choice import chosen, where
from .errors import PermanentSinkError
from .probe import WarehouseProbe
from .writers import MergeSink, RawSink

log = logging.getLogger(__name__)

KINDS = {
    "raw": (topics.STREAMS,),
    "windows": topics.WINDOW_TOPICS,
    "alerts": (topics.ALERTS,),
}


def build_sink(settings: Settings, kind: str, method: Optional[str] = None) -> WarehouseSink:
    warehouse = chosen(settings)  # the setting WAREHOUSE (sinks.choice)
    if kind == "raw":
        return RawSink(settings, warehouse, method, sink_name=settings.group("sink-raw"))
    return MergeSink(settings, warehouse, list(KINDS[kind]), method, label=kind)


def _lag_gauge(group: str, watchdog: Optional[Watchdog] = None) -> Callable[[str], None]:
    """A librdkafka stats_cb setting this sink's lag gauges (`sink` = its worker name); served
    by the main loop's `poll()`, it is also the loop's heartbeat for `watchdog`."""
    def update(stats_json: str) -> None:
        if watchdog is not None:
            watchdog.beat()
        for topic, partition, lag in partition_lags(stats_json, committed=True):
            metrics.CONSUMER_LAG.labels(group, topic, partition).set(lag)
    return update


def build_app(settings: Settings, group: str, topic_names: tuple[str, ...], sink: BaseSink,
              value_deserializer: Literal["json", "bytes"] = "json", commit_every: int = 0,
              commit_interval: Optional[float] = None, watchdog: Optional[Watchdog] = None) -> Application:
    """A consumer of `topic_names` (un-prefixed) feeding every record into `sink`."""
    names = [settings.topic(name) for name in topic_names]
    ensure_topics(settings, names)
    app = Application(
        **app_connection(settings, group),  # plain Kafka or Quix-managed; state dir
        consumer_group=settings.group(group),
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",  # the sinks make the warehouse side exactly once
        commit_interval=commit_interval if commit_interval is not None else settings.sink.commit_interval_seconds,
        commit_every=commit_every,
        consumer_poll_timeout=CONSUMER_POLL_SECONDS,  # an idle sink still writes its batch on time
        loglevel=None,  # records go through pulse.logs (secrets redacted)
        auto_create_topics=settings.kafka.uses_quix_broker,  # Quix: missing topics via the Portal API
        consumer_extra_config=sink_consumer(settings, _lag_gauge(group, watchdog)),
        on_consumer_error=on_consumer_error,  # a Kafka error: one line from run_resilient, no traceback
    )
    for name in names:
        topic = app.topic(name, key_deserializer="bytes", value_deserializer=value_deserializer)
        app.dataframe(topic).sink(sink)
    return app


class RunningSink(Protocol):
    """What `run_until_stopped` needs of a sink (a warehouse sink, the Slack sink)."""

    healthy: tuple[bool, str]

    def on_paused(self) -> None: ...

    def close(self) -> None: ...


def run_until_stopped(settings: Settings, build: Callable[[], Application], sink: RunningSink,
                      permanent: type[Exception] | tuple[type[Exception], ...], name: str,
                      health: Optional[HealthCheck] = None, stop: Optional[StopSignal] = None,
                      watchdog: Optional[Watchdog] = None) -> None:
    """Serve metrics and `/healthz`, then run `build()`'s application until SIGTERM/SIGINT,
    rebuilding it after each broker outage (`pulse.resilience`). A permanent error the sink
    raised comes back unwrapped, so the CLI prints it as one line; the sink, the probes and
    the metrics server are closed whatever happens. `watchdog` (fed by `build_app`'s consumer)
    ends a worker whose main loop stopped turning (`pulse.watchdog`)."""
    probe = BrokerProbe(settings)
    # a stalled main loop first: while it lasts, nothing else the check could say is acted on
    checks = ([watchdog] if watchdog else []) + [probe] + ([health] if health else []) + [lambda: sink.healthy]
    server = start_metrics_server(settings.metrics_port, combine(*checks))  # a port clash ends here
    stop = stop or StopSignal()
    probe.start()
    if watchdog is not None:
        watchdog.start()
    try:
        # a failed application leaves its last batch in the sink: drop it, Kafka replays it
        run_resilient(build, probe, stop, name=name, on_outage=lambda _exc: sink.on_paused(), watchdog=watchdog)
    except Exception as exc:
        cause = exc if isinstance(exc, permanent) else (exc.__cause__ or exc.__context__)
        if isinstance(cause, permanent):
            raise cause from None
        raise
    finally:
        if watchdog is not None:
            watchdog.stop()
        probe.stop()
        sink.close()
        if server:
            server.stop()


def run_sink(settings: Settings, kind: str, method: Optional[str] = None) -> int:
    """Run until SIGTERM/SIGINT (returns 0); a permanent warehouse error raises PermanentSinkError."""
    stop = StopSignal()  # first: a SIGTERM while starting stops the worker cleanly too
    sink = build_sink(settings, kind, method)
    warehouse = WarehouseProbe(settings, chosen(settings))
    # the raw sink's messages are chunks of up to CHUNK_STREAMS rows each
    commit_every = max(1, settings.sink.batch_rows // settings.producer.chunk_streams) if kind == "raw" \
        else settings.sink.batch_rows

    watchdog = Watchdog(f"sink {kind}", settings.sink.stall_seconds)

    def build() -> Application:
        return build_app(settings, f"sink-{kind}", KINDS[kind], sink,
                         value_deserializer="bytes", commit_every=commit_every, watchdog=watchdog)

    log.info("sink %s: %s -> warehouse %s (%s)", kind, ", ".join(settings.topic(t) for t in KINDS[kind]),
             where(settings), sink.method)
    warehouse.start()
    try:
        run_until_stopped(settings, build, sink, PermanentSinkError, f"sink {kind}", warehouse, stop, watchdog)
    finally:
        warehouse.stop()
    log.info("sink %s stopped", kind)
    return 0
