"""Ride out a broker outage: run a Quix Streams `Application` again and again until SIGTERM.

A Quix application does not survive its broker going away for long: a commit fails with
`CheckpointConsumerCommitError ... Waiting for coordinator`, a transaction times out, or
`KafkaBrokerUnavailableError` ends `run()` after `broker_availability_timeout`; a broker
that is down at start fails topic creation. `run_resilient` catches exactly those errors,
reports the outage on `/healthz` (through `BrokerProbe`, which asks the broker for metadata
every few seconds, so an outage shows within seconds even while the consumer only retries
quietly), waits until the broker answers again, with backoff, builds a fresh application
from the worker's factory and runs it. A transactional producer fenced because its transaction
outlived `transaction.timeout.ms` (the broker aborts it and bumps the producer's epoch: a stall of
the process, or an outage that cut a commit off) is rebuilt the same way, as Kafka Streams
does: the new producer takes the next epoch and the input is replayed from the last commit.
A static consumer fenced by the group (another member joined with its `group.instance.id`)
is rebuilt once: after an outage the member can be the worker's own earlier session (a join
the broker took while the client gave up on it). Fenced again within `Backoff.settled`, it is a
second replica with the same PROCESSOR_INSTANCE_ID: the worker ends with a one-line error
instead of fencing the other replica in turn forever (`InstanceConflict`). A consumer whose
partitions a rebalance took while Quix assigned a store's changelog is rebuilt too
(`rebuild_reason`). A failed application lets go of its RocksDB stores before the next one
opens them (`release_stores`); a store that this process still holds locked all the same ends
the worker with exit 70 for its supervisor to restart it (`StoreLocked`): only a fresh process
is sure to open it. Anything else (a bug, a permanent warehouse error, a fatal Kafka error
such as failed authentication) still ends the worker. Quix's consumer logs a librdkafka error
with its traceback before it raises it; `on_consumer_error` leaves these to the one line
`run_resilient` writes.

SIGTERM/SIGINT are honoured at every moment, also while building or waiting: the first one
stops the current application (Quix finishes the checkpoint and commits) and returns.

Typical use (see `sinks.worker.run_sink`):

    stop = StopSignal()
    probe = BrokerProbe(settings).start()
    server = start_metrics_server(port, combine(probe, my_own_check))
    run_resilient(lambda: build_app(...), probe, stop)
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time
import traceback
import types
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from quixstreams import Application
from quixstreams.checkpointing.exceptions import CheckpointProducerTimeout
from quixstreams.error_callbacks import default_on_consumer_error
from quixstreams.exceptions import PartitionAssignmentError
from quixstreams.internal_producer import InternalProducer
from quixstreams.kafka.exceptions import BaseKafkaException, KafkaBrokerUnavailableError
from quixstreams.models import RawConfluentKafkaMessageProto
from quixstreams.models.topics.exceptions import CreateTopicTimeout, TopicNotFoundError
from quixstreams.state.exceptions import ChangelogFlushError, ChangelogTopicPartitionNotAssigned
from rocksdict import ColumnFamily, DbClosedError, RdictIter, Snapshot

from .cli import EXIT_RESTART, CommandError
from .errors import first_line
from .kafka import client_config
from .metrics import HealthCheck
from .settings import Settings
from .watchdog import Watchdog

log = logging.getLogger(__name__)

# errors a broker outage (or a broker still settling after a restart) raises; among them a
# store's changelog that took no record within its flush timeout (Quix's one-off TTL re-stamp of
# a store, at its first TTL write, met the outage): Quix aborts before the local commit, so the
# store is never ahead of its changelog and the rebuilt application resumes exactly; and a store
# closed under a checkpoint (`DbClosedError` from Quix's TTL sweep in `prepare`): the consumer
# lost its partitions to a session timeout during the outage and Quix closed their stores while
# the checkpoint still held their transactions; it fails before any commit, so the rebuilt
# application reads the stores and their changelogs as they were
_BROKER_ERRORS: tuple[type[BaseException], ...] = (
    KafkaException, BaseKafkaException, KafkaBrokerUnavailableError, CheckpointProducerTimeout,
    CreateTopicTimeout, TopicNotFoundError, PartitionAssignmentError, ChangelogFlushError, DbClosedError,
)
# a producer fenced by the broker: a new application (and producer) goes on from the last commit
_FENCED_CODES = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
# ... but these mean "a person must act", not "wait"
_FATAL_CODES = {
    KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    KafkaError._SSL, KafkaError._INVALID_ARG,
}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: Optional[BaseException] = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _kafka_errors(exc: BaseException) -> Iterator[KafkaError]:
    """The librdkafka errors inside `exc` and its causes, outermost first."""
    for link in _chain(exc):
        for arg in getattr(link, "args", ()):
            if isinstance(arg, KafkaError):
                yield arg
        error = getattr(link, "error", None)
        if isinstance(error, KafkaError):
            yield error


def kafka_error(exc: BaseException) -> Optional[KafkaError]:
    """The librdkafka error inside `exc` or its causes, if any."""
    return next(_kafka_errors(exc), None)


def producer_fenced(exc: BaseException) -> bool:
    """True if the broker fenced this worker's transactional producer (librdkafka's fatal
    `_FENCED`): its open transaction outlived `transaction.timeout.ms`, so the broker aborted
    it and bumped the producer's epoch. Only a new producer can go on; a second replica that
    shares the transactional.id is stopped by its consumer instead (`FENCED_INSTANCE_ID`)."""
    return any(error.code() in _FENCED_CODES for error in _kafka_errors(exc))


def instance_fenced(exc: BaseException) -> bool:
    """True if the group fenced this worker's static consumer: another member joined with its
    `group.instance.id`. librdkafka makes that the consumer's fatal error: a poll returns
    `_FATAL` ("Static consumer fenced by other consumer with same group.instance.id")."""
    return any(error.code() == KafkaError.FENCED_INSTANCE_ID
               or (error.code() == KafkaError._FATAL and "group.instance.id" in error.str())
               for error in _kafka_errors(exc))


class InstanceConflict(CommandError):
    """Two replicas run with one `group.instance.id`: each rebuild would fence the other."""


def on_consumer_error(exc: Exception, message: Optional[RawConfluentKafkaMessageProto], logger: logging.Logger) -> bool:
    """Quix's `on_consumer_error`: a librdkafka error, or an assignment a rebalance took,
    goes up to `run_resilient`, which logs it in one line (an outage it waits out, a fence
    or a lost assignment it rebuilds, or the error that ends the worker), not as Quix's
    default does, with a traceback; anything else as Quix logs it."""
    if isinstance(exc, (BaseKafkaException, ChangelogTopicPartitionNotAssigned)):
        logger.debug("consumer error, raised to the worker: %s", first_line(exc))
        return False
    return bool(default_on_consumer_error(exc, message, logger))


def is_broker_outage(exc: BaseException) -> bool:
    """True if `exc` is what an unreachable or restarting broker raises (worth waiting out)."""
    error = kafka_error(exc)
    if error is not None and (error.fatal() or error.code() in _FATAL_CODES):
        return False
    return any(isinstance(link, _BROKER_ERRORS) for link in _chain(exc))


def outage_reason(exc: BaseException) -> str:
    """What `run_resilient` logs and /healthz shows for an outage it waits out. librdkafka's
    "Erroneous state" alone says nothing: it is every produce after a message of the open
    transaction failed delivery (a broker that timed it out, or one that refused it)."""
    reason = f"kafka broker unavailable: {first_line(exc, with_type=True)}"
    error = kafka_error(exc)
    if error is not None and error.code() == KafkaError._STATE:
        reason += " (the transaction failed: a message of it was not delivered; librdkafka's TXNERR error before this says why)"
    return reason


class BrokerProbe:
    """Asks the broker for cluster metadata every `interval` seconds in a daemon thread.

    Its call is a `/healthz` check: (False, "kafka broker unreachable: ...") while the
    broker does not answer within `timeout`, and also while `run_resilient` waits out an
    outage it caught. After `renew_after` seconds without an answer it asks through a new
    admin client: twice in CI a processor's probe never heard a broker back that every other
    client reached (five minutes, `test_outage_exact`), and the waiting worker with it.
    """

    def __init__(self, settings: Settings, interval: float = 2.0, timeout: float = 3.0,
                 renew_after: float = 30.0, admin: Callable[[], AdminClient] | None = None) -> None:
        # its own connection errors would only repeat what the health reason says
        self._new_admin = admin or (lambda: AdminClient(client_config(settings, log_level=0)))
        self._admin = self._new_admin()
        self.interval = interval
        self.timeout = timeout
        self.renew_after = renew_after
        self.renewals = 0
        self._failing_since: Optional[float] = None
        self._state: tuple[bool, str] = (True, "ok")
        self._outage: Optional[str] = None  # set by run_resilient while it waits
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="broker-probe", daemon=True)

    def start(self) -> "BrokerProbe":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> tuple[bool, str]:
        """Probe once now (blocking up to `timeout`) and record the answer."""
        try:
            self._admin.list_topics(timeout=self.timeout)
            state = (True, "ok")
            self._failing_since = None
        except KafkaException as exc:
            state = (False, f"kafka broker unreachable: {first_line(exc, with_type=True)}")
            self._renew_if_stuck()
        with self._changed:
            self._state = state
            self._changed.notify_all()
        return state

    def _renew_if_stuck(self) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failing_since >= self.renew_after:
            self._admin = self._new_admin()  # the old one is destroyed once no call uses it
            self._failing_since = now
            self.renewals += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.interval)

    def report_outage(self, reason: Optional[str]) -> None:
        self._outage = reason

    def __call__(self) -> tuple[bool, str]:
        ok, reason = self._state
        if not ok:
            return ok, reason
        if self._outage:
            return False, self._outage
        return True, "ok"

    def wait_reachable(self, stop: threading.Event, poll: float = 0.5, name: str = "worker",
                       say_every: float = 30.0) -> bool:
        """Block until the broker answers (True) or `stop` is set (False); every `say_every`
        seconds, log that it still waits and why."""
        began = said = time.monotonic()
        while not stop.is_set():
            if self._state[0] and (not self._thread.is_alive() or self.check()[0]):
                return True
            if time.monotonic() - said >= say_every:
                said = time.monotonic()
                log.info("%s: still waiting for the kafka broker after %.0fs (%s; probe clients renewed: %d)",
                         name, said - began, self._state[1], self.renewals)
            with self._changed:
                self._changed.wait(poll)
        return False


def combine(*checks: HealthCheck) -> HealthCheck:
    """One `/healthz` check from several: the first failing one's reason, else "ok"."""

    def check() -> tuple[bool, str]:
        for part in checks:
            ok, reason = part()
            if not ok:
                return ok, reason
        return True, "ok"

    return check


class StopSignal:
    """SIGTERM/SIGINT -> a stop flag, also stopping the application that runs at that moment.

    Quix installs its own handlers in `run()` and marks itself running only afterwards, so a
    signal in between is lost (issue 10 §9); `run_resilient` keeps these handlers in place
    and stops the application again until `run()` returns.
    """

    def __init__(self, install: bool = True) -> None:
        self.event = threading.Event()
        self.app: Optional[Application] = None
        if install and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._handle)
            signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.set()

    def set(self) -> None:
        self.event.set()
        app = self.app
        if app is not None:
            app.stop()

    def is_set(self) -> bool:
        return self.event.is_set()


@dataclass
class Backoff:
    """Seconds to wait before the n-th consecutive rebuild: first, doubling, up to `most`."""

    first: float = 1.0
    most: float = 30.0
    settled: float = 60.0  # an application that ran this long resets the backoff

    def delay(self, attempt: int) -> float:
        return min(self.most, self.first * 2 ** max(0, attempt - 1))


LOST_ASSIGNMENT_REASON = ("the consumer lost its partitions while Quix assigned a store's changelog (a rebalance "
                          "raced the assignment)")
INSTANCE_FENCED_REASON = ("the consumer was fenced by another member with its group.instance.id (its own earlier "
                          "session after an outage, or a second replica with the same instance id)")
FENCED_REASON = ("the producer was fenced: its transaction outlived transaction.timeout.ms (the process stalled, "
                 "or an outage cut its commit off) and the broker aborted it")


def run_resilient(build: Callable[[], Application], probe: BrokerProbe, stop: StopSignal,
                  backoff: Backoff = Backoff(), name: str = "worker",
                  on_outage: Optional[Callable[[BaseException], None]] = None,
                  watchdog: Optional[Watchdog] = None) -> None:
    """Run `build()`'s application until `stop`; rebuild it after each broker outage, each
    fence of its producer, and the first fence of its consumer (`rebuild_reason`).

    `build` is called again for every attempt (a fresh Application, consumer and producer);
    objects it closes over, such as a sink, are reused. Returns when stopped; re-raises any
    other error. A `watchdog` watches only `run()`: building and
    waiting out an outage are not its main loop.
    """
    attempt = 0
    failed: Optional[Application] = None
    fenced_at: Optional[float] = None  # when the consumer was last fenced by its own instance id
    resting = watchdog.idle if watchdog is not None else nullcontext
    while not stop.is_set():
        app: Optional[Application] = None
        began = time.monotonic()
        try:
            with resting():
                if failed is not None:
                    retire_producer(failed._producer, name)
                    failed = None
                    gc.collect()  # its reference cycles may still hold RocksDB handles (`release_stores`)
                app = build()
            app._setup_signal_handlers = lambda: None  # type: ignore[method-assign]  # keep StopSignal's (see its doc)
            stop.app = app
            if stop.is_set():
                return
            watcher = _StopWatcher(app, stop)
            try:
                app.run()
            finally:
                watcher.done()
            return  # run() returns only when stopped
        except Exception as exc:
            if stop.is_set():
                log.info("%s: stopped during %s", name, first_line(exc, with_type=True))
                return
            release_stores(app, exc, name)
            if store_locked_here(exc):
                log.warning("%s: RocksDB handles still alive: %s", name, rocksdb_holders() or "none found")
                raise StoreLocked(
                    f"{name}: a state store is still locked by this process after its failed application "
                    f"({first_line(exc)}); exiting ({EXIT_RESTART}) so that a restarted process opens it") from None
            twin = instance_fenced(exc)
            if twin:
                if fenced_at is not None and time.monotonic() - fenced_at < backoff.settled:
                    raise InstanceConflict(
                        f"{name}: fenced twice within {backoff.settled:.0f}s by another consumer with its group.instance.id: "
                        "another replica runs with the same PROCESSOR_INSTANCE_ID; give each replica its own") from None
                fenced_at = time.monotonic()
            rebuild = rebuild_reason(exc, twin)
            if rebuild is None and not is_broker_outage(exc):
                raise
            if time.monotonic() - began > backoff.settled:
                attempt = 0  # it ran fine for a while: start the backoff afresh
            attempt += 1
            if rebuild is not None:  # the broker answers (a fence, a lost assignment): nothing for /healthz
                reason = rebuild
            else:
                reason = outage_reason(exc)
                probe.report_outage(reason)
            if on_outage is not None:
                on_outage(exc)
            delay = backoff.delay(attempt)
            log.warning("%s: %s; rebuilding in %.0fs (attempt %d)", name, reason, delay, attempt)
            with resting():
                if stop.event.wait(delay) or not probe.wait_reachable(stop.event, name=name):
                    return
            log.info("%s: %srestarting the application", name, "" if rebuild else "kafka broker reachable again; ")
            probe.report_outage(None)
            failed = app  # retired at the top of the loop, once this traceback is gone
        finally:
            stop.app = None


class StoreLocked(CommandError):
    """A state store that this process still holds locked: only a new process can open it."""
    exit_code = EXIT_RESTART


_LOCKED_HERE = "lock hold by current process"  # RocksDB's own words for a lock this process holds


def store_locked_here(exc: BaseException) -> bool:
    """RocksDB refused to open a store because this very process holds its lock."""
    return any(_LOCKED_HERE in str(link) for link in _chain(exc))


def release_stores(app: Optional[Application], exc: BaseException, name: str = "worker") -> None:
    """Let go of what the failed application held of its RocksDB stores.

    RocksDB releases a store's lock only once nothing references its database: a closed
    `Rdict` still holds it while any of its column families, iterators or snapshots lives.
    The frames of the failure's traceback can hold such handles as locals, and whatever keeps
    the exception (a callback's saved error, a future) keeps them too; so those frames are
    cleared. Quix closes the stores as the application ends, but stops at the first store whose
    close fails; each one is closed here on its own.
    """
    for link in _chain(exc):
        traceback.clear_frames(link.__traceback__)
    manager = getattr(app, "_state_manager", None)
    for stores in (manager._stores.values() if manager is not None else ()):
        for store in stores.values():
            for partition in list(store.partitions):
                try:
                    store.revoke_partition(partition)
                except Exception as close_error:  # noqa: BLE001 - the next store still gets its close
                    log.info("%s: closing store %s[%s] of the failed application: %s", name, store.name, partition,
                             first_line(close_error, with_type=True))


def rocksdb_holders(limit: int = 8) -> str:
    """Which objects reference live RocksDB handles (column families, iterators, snapshots):
    what kept a store locked, for the log line before the worker exits."""
    gc.collect()
    running = [frame for top in sys._current_frames().values() for frame, _ in traceback.walk_stack(top)]
    found: list[str] = []
    for holder in {id(holder): holder for holder in [*gc.get_objects(), *running]}.values():
        referents = holder.f_locals.values() if isinstance(holder, types.FrameType) else gc.get_referents(holder)
        handles = [type(r).__name__ for r in referents if isinstance(r, (ColumnFamily, RdictIter, Snapshot))]
        if handles:
            found.append(f"{_describe(holder)} -> {', '.join(handles)}")
    return "; ".join(found[:limit]) + (f" (+{len(found) - limit} more)" if len(found) > limit else "")


def _describe(holder: object) -> str:
    if isinstance(holder, types.FrameType):
        return f"frame {holder.f_code.co_name} {holder.f_code.co_filename}:{holder.f_lineno}"
    if isinstance(holder, dict):  # an instance's attributes: name the instance's class
        for owner in gc.get_referrers(holder):
            if getattr(owner, "__dict__", None) is holder:
                return f"{type(owner).__qualname__} attributes"
    return type(holder).__qualname__


def rebuild_reason(exc: BaseException, twin: bool) -> Optional[str]:
    """Why a broker that answers still needs a new application, or None: a fenced producer,
    a consumer fenced by its instance id (`twin`), or a consumer whose assignment a rebalance
    took away while Quix assigned a store's changelog (seen when a member joined with the same
    instance id at the same moment; nothing of the partition was processed yet)."""
    if twin:
        return INSTANCE_FENCED_REASON
    if producer_fenced(exc):
        return FENCED_REASON
    if any(isinstance(link, ChangelogTopicPartitionNotAssigned) for link in _chain(exc)):
        return LOST_ASSIGNMENT_REASON
    return None


def retire_producer(producer: InternalProducer, name: str = "worker", timeout: float = 30.0) -> None:
    """Finish the failed application's transaction, then destroy its Kafka producer.

    Quix never closes an application's producer. After an outage its abort had timed out
    ("retry call to resume"), and librdkafka finishes it in the background once the broker
    is back: the epoch bump of that late abort fenced the rebuilt application's producer,
    which shares the `transactional.id`, and the worker died with `_FENCED` (issue 24).
    So the abort is completed here, within `timeout`, and the producer is destroyed before
    the next application initialises its transactions. Errors are only logged: a producer
    that is already fenced or still cut off is destroyed all the same.
    """
    inner = producer._producer  # Quix's Producer wrapper; its librdkafka handle is created lazily
    if inner._inner_producer is None:
        return
    try:
        producer.abort_transaction(timeout)
    except KafkaException as exc:
        log.info("%s: the failed application's transaction did not abort (%s); destroying its producer",
                 name, first_line(exc, with_type=True))
    handle, inner._inner_producer = inner._inner_producer, None
    try:
        handle.purge()
    except KafkaException:
        pass  # a fatally failed producer refuses even this; destroying it is all that is left
    del handle
    gc.collect()  # the failed run's traceback cycles may still reach the handle; its last reference destroys it


class _StopWatcher:
    """While `run()` starts, repeat `app.stop()` once stopped, so no signal is lost."""

    def __init__(self, app: Application, stop: StopSignal) -> None:
        self._app = app
        self._stop = stop
        self._done = threading.Event()
        threading.Thread(target=self._loop, name="stop-watcher", daemon=True).start()

    def _loop(self) -> None:
        while not self._done.is_set():
            if self._stop.is_set():
                self._app.stop()
            self._done.wait(0.5)

    def done(self) -> None:
        self._done.set()
