"""The processor: one Quix Streams `Application`, three keyed stages, exactly-once.

    twitch.streams (key: chunk key) ──► stage 1 `chunk_stage` (Δ, channel alerts, partials)
        │                                 ├──► twitch.alerts, twitch.streams.dlq
        ├──► twitch.processor.partials (key: window start) ──► stage 2 `merge_stage`
        │                                 └──► twitch.windows.games / .channels / .top_channels
        └──► twitch.processor.game_polls (key: "games")    ──► stage 3 `game_surge` ──► twitch.alerts

Kafka transactions cover all three stages, their state and their outputs, dead letters
included. Bad input never stops the worker: a message that is not a chunk goes whole to the
DLQ, a bad stream object goes alone and the rest of its chunk is processed.
"""

from __future__ import annotations

import gc
import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Optional

from confluent_kafka import Producer as ConfluentProducer
from confluent_kafka.admin import AdminClient
from quixstreams import Application
from quixstreams.context import message_context
from quixstreams.models.topics import TopicConfig
from quixstreams.state.rocksdb import RocksDBOptions

from pulse import topics
from pulse.events import format_ts
from pulse.kafka import (
    CONSUMER_POLL_SECONDS,
    DeferredTopics,
    app_connection,
    client_config,
    partition_lags,
    processor_clients,
)
from pulse.metrics import start_metrics_server
from pulse.resilience import BrokerProbe, StopSignal, on_consumer_error, run_resilient
from pulse.settings import Settings

from . import compiled, metrics
from .catch_up import InternalFirst
from .chunk_handler import handle_chunk, key_state_cache
from .chunk_stage import ChunkStats
from .config import ProcessorConfig
from .game_surge import on_game_poll
from .merge_stage import on_partial
from .routing import (
    ALERTS,
    CHANNELS,
    DLQ,
    GAME_POLLS,
    GAMES,
    LANGUAGES,
    PARTIALS,
    STREAMS,
    TOP_CHANNELS,
    Produce,
    produce_outputs,
    transactional_produce,
)

log = logging.getLogger(__name__)



def _source() -> str:
    ctx = message_context()
    return f"{ctx.topic}[{ctx.partition}]@{ctx.offset}"


# Stage 1 keeps its state decoded in memory and RocksDB only makes it durable, so small
# memtables and a small read cache do: Quix's defaults (3 x 64 MB memtables per store
# partition, a 1 GB cache) would cost more memory than the state itself at 250k channels.
# Stages 2 and 3 write some keys without a TTL before their first TTL write; on that write
# Quix stamps the keys already stored with an expiry, once per store partition, and warns when
# it has to guess that expiry. It is named here: 3 days of event time, longer than any of
# those keys goes without being rewritten or deleted.
ROCKSDB = RocksDBOptions(write_buffer_size=16 * 1024 * 1024, max_write_buffer_number=2,
                         block_cache_size=64 * 1024 * 1024, legacy_records_ttl=timedelta(days=3))


# Stage 1 keeps a few million small objects alive at full Twitch scale (channel state, open
# windows) and they form no reference cycles. At CPython's default thresholds (700, 10, 10) the
# cyclic collector walks them over and over: 20% of the processor's time in bench.processor_bench.
GC_THRESHOLDS = (10_000, 50, 1000)


class ReorderLog:
    """Reordered input is counted per sample and logged once per episode and chunk key (from
    the first reordered chunk to the next chunk that is in order), so an operator sees it."""

    def __init__(self) -> None:
        self._in_episode: set[Optional[bytes]] = set()

    def observe(self, key: Optional[bytes], stats: ChunkStats) -> None:
        if stats.reordered_after < 0:
            self._in_episode.discard(key)
            return
        metrics.DROPPED.labels("reordered").inc(stats.reordered)
        if key not in self._in_episode:
            self._in_episode.add(key)
            log.warning("reordered input on chunk key %s (%s): a chunk older than its shard's complete poll %s; "
                        "dropped with its %d samples (counted in dropped_total{reason=\"reordered\"})",
                        (key or b"?").decode(errors="replace"), _source(), format_ts(stats.reordered_after),
                        stats.reordered)


def chunk_stage(cfg: ProcessorConfig, produce: Produce, names: dict[str, str]) -> Callable[..., None]:
    """Stage 1's step: its outputs go straight to the transactional producer (`produce_outputs`)."""
    cache = key_state_cache(cfg)
    reordering = ReorderLog()

    def process(value: Optional[bytes], key: Optional[bytes], timestamp: int, headers: Any, state: Any) -> None:
        out, stats = handle_chunk(cfg, cache, value, key, state, _source)
        produce_outputs(produce, names, out, timestamp)
        if stats is None:
            metrics.DROPPED.labels("invalid").inc()
            return
        metrics.CHUNKS.inc()
        metrics.EVENTS.inc(stats.accepted)
        if stats.duplicate:
            metrics.DROPPED.labels("duplicate").inc(stats.duplicate)
        if stats.late:
            metrics.DROPPED.labels("late").inc(stats.late)
        if stats.invalid:
            metrics.DROPPED.labels("invalid").inc(stats.invalid)
        reordering.observe(key, stats)
        if stats.alerts:
            for o in out:
                if o.route == ALERTS:
                    metrics.ALERTS.labels(o.value.kind).inc()
        metrics.EVENT_AGE.observe(max(0.0, time.time() - timestamp / 1000))

    return process


class IdleCommit:
    """Commits as soon as the input runs dry instead of at the end of the commit interval.

    Each stage reads the one before it read_committed, so a window's partials reach the merge,
    and its rows the sinks, one commit after they were produced: at the end of a poll's burst
    (or of a backlog) every hop waited for the rest of the interval, up to a second each.
    Quix Streams commits on an interval only; this runs as one of the application's periodic
    tasks, after each consumer poll, and commits when that poll found nothing (it waits
    `CONSUMER_POLL_SECONDS`) while the checkpoint holds work. In a backlog the consumer is never
    idle, so commits keep to the interval there."""

    def __init__(self) -> None:
        # True while the input is paused for the internal topics (`InternalFirst`): an empty
        # poll then is not the input running dry
        self.held: Callable[[], bool] = lambda: False
        self._context: Any = None
        self._messages = 0
        self._seen = 0
        self.commits = 0

    def attach(self, app: Application) -> None:
        """Runs `tick` after each consumer poll. Quix Streams 3.28 has no public accessor for
        either the processing context or the periodic tasks its lookup joins use."""
        self._context = app._processing_context
        app._dataframe_registry.register_periodic_task(self.tick)

    def processed(self, topic: str, partition: int, offset: int) -> None:
        """`Application(on_message_processed=...)`: one message done."""
        self._messages += 1

    @property
    def messages(self) -> int:
        """Messages processed so far."""
        return self._messages

    def tick(self) -> None:
        idle = self._messages == self._seen
        self._seen = self._messages
        if idle and not self.held() and not self._context.checkpoint.empty():
            self._context.commit_checkpoint(force=True)
            self.commits += 1


def ensure_state_dir(app: Application) -> Path:
    """Create the application's state directory (`STATE_DIR/<name>/<consumer group>`) now.

    Quix Streams creates it when the application runs, with a check and then a mkdir: two
    replicas that share one state volume and start together race there, and the loser dies
    with FileExistsError (seen in bench.scale_bench). Created here, idempotently, it exists
    before either checks."""
    path = Path(app.config.state_dir).absolute() / app.config.consumer_group
    path.mkdir(parents=True, exist_ok=True)
    return path


def _lag_from_stats(stats_json: str) -> None:
    """librdkafka statistics -> consumer lag gauge per topic partition (read position: its
    offsets are committed through the transaction, see pulse.kafka.partition_lags)."""
    for topic_name, pid, lag in partition_lags(stats_json):
        metrics.CONSUMER_LAG.labels(topic_name, pid).set(lag)


def create_missing(manager: Optional[DeferredTopics]) -> None:
    created = manager.create_missing() if manager is not None else []
    if created:
        log.info("processor: created %d topics: %s", len(created), ", ".join(created))


def start_transactions(app: Application, timeout: float = 30.0) -> None:
    """Create the application's transactional producer now, connected before it asks for its
    transaction coordinator.

    Quix Streams creates the producer when the first checkpoint begins and calls
    `init_transactions` at once. librdkafka then looks for the coordinator before any broker
    connection is up, finds none, and looks again 500 ms later (a fixed timer): measured on
    the bench broker, `init_transactions` took 0.5 s in 9 of 12 fresh producers (0.05 s in
    the others), a fifth of the processor's start-up. One metadata request first (about 50 ms)
    brings the connection up, and `init_transactions` then takes about 5 ms. Quix Streams 3.28
    has no hook for it: the producer is made here as Quix's `_producer` property makes it."""
    producer = app._producer._producer
    if producer._inner_producer is not None or not producer._transactional:
        return
    inner = ConfluentProducer(producer._producer_config)
    inner.list_topics(timeout=timeout)
    inner.init_transactions()
    producer._inner_producer = inner


def build(settings: Settings, commit_interval: Optional[float] = None) -> Application:
    """Create the topics the processor needs and wire the three stages."""
    gc.set_threshold(*GC_THRESHOLDS)
    out = {name: settings.topic(name) for name in topics.ALL}
    cfg = ProcessorConfig.from_settings(settings)
    consumer_extra, producer_extra = processor_clients(settings, _lag_from_stats)
    # Missing topics are created in two admin calls, without Quix's fixed second per topic
    # (`DeferredTopics`): DESIGN's and the internal ones, then the stores' changelogs. On
    # Quix-managed Kafka, Quix's own manager creates them.
    manager = None if settings.kafka.uses_quix_broker else DeferredTopics(settings, "processor", producer_extra)
    idle = IdleCommit()
    app = Application(
        **app_connection(settings, "processor"),
        consumer_group=settings.group("processor"),
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=commit_interval or settings.processor.commit_seconds,
        consumer_poll_timeout=CONSUMER_POLL_SECONDS,  # stage 1 done, the merge waiting: commit on time
        consumer_extra_config=consumer_extra,
        producer_extra_config=producer_extra,
        loglevel=None,  # records go through pulse.logs (secrets redacted, LOG_FORMAT)
        rocksdb_options=ROCKSDB,
        topic_manager=manager,
        on_message_processed=idle.processed,
        on_consumer_error=on_consumer_error,  # a Kafka error: one line from run_resilient, no traceback
    )
    idle.attach(app)
    ensure_state_dir(app)
    if manager is not None:
        internal_names = [settings.topic(name) for name in topics.PROCESSOR_INTERNAL]
        manager.prefetch(list(out.values()) + internal_names, stateful=(out[topics.STREAMS], *internal_names))
    public = TopicConfig(num_partitions=settings.topics.partitions, replication_factor=settings.topics.replication)
    streams = app.topic(out[topics.STREAMS], key_deserializer="bytes", value_deserializer="bytes", config=public)
    partitions = streams.broker_config.num_partitions
    internal = TopicConfig(num_partitions=partitions, replication_factor=settings.topics.replication)

    routes = {GAMES: topics.WINDOWS_GAMES, CHANNELS: topics.WINDOWS_CHANNELS, TOP_CHANNELS: topics.WINDOWS_TOP_CHANNELS,
              STREAMS: topics.WINDOWS_STREAMS, LANGUAGES: topics.WINDOWS_LANGUAGES, ALERTS: topics.ALERTS,
              DLQ: topics.STREAMS_DLQ}
    names = {route: app.topic(out[name], config=public).name for route, name in routes.items()}
    partials = app.topic(settings.topic(topics.PROCESSOR_PARTIALS), key_deserializer="str", value_deserializer="bytes",
                         config=internal)
    game_polls = app.topic(settings.topic(topics.PROCESSOR_GAME_POLLS), key_deserializer="str",
                           value_deserializer="bytes", config=internal)
    names[PARTIALS], names[GAME_POLLS] = partials.name, game_polls.name
    create_missing(manager)  # the stores' changelog topics derive their settings from these

    # Every stage hands its outputs straight to the application's transactional producer
    # (`transactional_produce`): the same transaction as the stage's state and input offsets,
    # without `to_topic`'s per-message path (about 4 us a message: 1 s of a 250k-channel
    # window's rows, a fifth of what a chunk with no samples costs) or Quix's own (1.5-2 us).
    chunks = app.dataframe(streams)
    produce = transactional_produce(chunks.processing_context.producer)
    chunks.update(chunk_stage(cfg, produce, names), stateful=True, metadata=True)
    app.dataframe(partials).update(
        lambda value, key, timestamp, headers, state:
        produce_outputs(produce, names, on_partial(cfg, value, state), timestamp), stateful=True, metadata=True)
    app.dataframe(game_polls).update(
        lambda value, key, timestamp, headers, state:
        produce_outputs(produce, names, on_game_poll(cfg, value, state), timestamp), stateful=True, metadata=True)
    create_missing(manager)
    # the catch-up's own admin client, new with each application: not `BrokerProbe`'s, whose
    # answers say whether the broker is back after an outage (a shared one never said so again
    # once, in test_outage_exact)
    first = InternalFirst(AdminClient(client_config(settings, log_level=0)), streams.name,
                          frozenset({partials.name, game_polls.name}), lambda: idle.messages,
                          patience=settings.processor.catch_up_patience_seconds)
    first.attach(app)
    idle.held = first.holding
    start_transactions(app)
    log.info("processor: %s", compiled.describe())
    log.info("processor: %d input partitions, window %ss, grace %ss, interval %ss", partitions,
             settings.processor.window_seconds, settings.processor.window_grace_seconds, settings.producer.poll_interval_seconds)
    return app


def run(settings: Settings) -> None:
    """Until SIGTERM/SIGINT (honoured from the first instant, also while starting): serve
    /metrics and /healthz, and rebuild the application after each broker outage, which
    /healthz reports within seconds (`pulse.resilience`)."""
    stop = StopSignal()
    probe = BrokerProbe(settings)
    server = start_metrics_server(settings.metrics_port, probe)  # a port clash ends here, in one line
    probe.start()
    try:
        run_resilient(lambda: build(settings), probe, stop, name="processor")
    finally:
        probe.stop()
        if server:
            server.stop()
