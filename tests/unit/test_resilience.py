"""Which errors `run_resilient` waits out as a broker outage, and how it retires a failed application."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Optional

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from quixstreams.checkpointing.exceptions import CheckpointConsumerCommitError
from quixstreams.exceptions import PartitionAssignmentError
from quixstreams.internal_producer import InternalProducer
from quixstreams.kafka.exceptions import KafkaBrokerUnavailableError, KafkaConsumerException
from quixstreams.state.exceptions import ChangelogFlushError, ChangelogTopicPartitionNotAssigned
from quixstreams.state.rocksdb import RocksDBStore
from rocksdict import DbClosedError, Options, Rdict

from devstack.service import free_port
from pulse import cli
from pulse.resilience import (
    Backoff,
    BrokerProbe,
    InstanceConflict,
    StopSignal,
    StoreLocked,
    instance_fenced,
    is_broker_outage,
    on_consumer_error,
    outage_reason,
    producer_fenced,
    retire_producer,
    rocksdb_holders,
    run_resilient,
)
from pulse.settings import Settings

# what a poll of a static consumer raises once another member joined with its group.instance.id
FENCED_TEXT = ("Fatal error: Broker: Static consumer fenced by other consumer with same group.instance.id: "
               "Fatal consumer error: Broker: Static consumer fenced by other consumer with same group.instance.id")


def test_broker_outage_classification() -> None:
    assert is_broker_outage(KafkaException(KafkaError(KafkaError._TRANSPORT)))
    assert is_broker_outage(CheckpointConsumerCommitError(KafkaError(KafkaError._WAIT_COORD)))
    try:
        try:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        except KafkaException as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_broker_outage(outer)
    assert not is_broker_outage(KafkaException(KafkaError(KafkaError.SASL_AUTHENTICATION_FAILED)))
    assert not is_broker_outage(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    # Quix's TTL re-stamp of a store could not get its changelog out while the broker was down
    assert is_broker_outage(ChangelogFlushError("14 legacy-TTL backfill changelog record(s) made no delivery progress"))
    # a store Quix closed under its checkpoint when the outage cost the consumer its partitions
    assert is_broker_outage(DbClosedError("DB instance already closed"))
    assert not is_broker_outage(ValueError("a bug"))


def test_a_failed_transaction_is_named_in_the_outage_reason() -> None:
    """After a message of the open transaction failed delivery, every produce fails with a bare
    "Erroneous state": the reason says what that means (and still names the broker: /healthz)."""
    failed = outage_reason(KafkaException(KafkaError(KafkaError._STATE, "Unable to produce message: Local: Erroneous state")))
    assert failed.startswith("kafka broker unavailable: KafkaException: ")
    assert failed.endswith("(the transaction failed: a message of it was not delivered; librdkafka's TXNERR error "
                           "before this says why)")
    down = outage_reason(KafkaException(KafkaError(KafkaError._TRANSPORT, "Local: Broker transport failure")))
    assert down.startswith("kafka broker unavailable: ") and "transaction" not in down


class _Handle:
    """Stands in for the librdkafka handle: records what the retirement asked of it."""

    def __init__(self, abort_error: Optional[KafkaError] = None) -> None:
        self.calls: list[str] = []
        self.abort_error = abort_error

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append(f"abort {timeout:.0f}")
        if self.abort_error is not None:
            raise KafkaException(self.abort_error)

    def poll(self, timeout: float = 0) -> int:
        return 0  # delivery reports of the aborted messages: none here

    def purge(self) -> None:
        self.calls.append("purge")


def _producer_with(handle: Optional[_Handle]) -> InternalProducer:
    producer = InternalProducer(broker_address="127.0.0.1:1", transactional=True)
    producer._producer._inner_producer = handle  # type: ignore[assignment]
    producer._active_transaction = handle is not None
    return producer


def test_a_failed_application_producer_finishes_its_abort_and_is_destroyed() -> None:
    handle = _Handle()
    calls, gone = handle.calls, weakref.ref(handle)
    producer = _producer_with(handle)
    del handle
    retire_producer(producer, timeout=7)
    assert calls == ["abort 7", "purge"]
    assert producer._producer._inner_producer is None and gone() is None


def test_a_fenced_producer_is_destroyed_without_an_error() -> None:
    handle = _Handle(KafkaError(KafkaError._FENCED, fatal=True))
    calls, gone = handle.calls, weakref.ref(handle)
    producer = _producer_with(handle)
    del handle
    retire_producer(producer, timeout=3)
    assert calls == ["abort 3", "purge"] and gone() is None


def test_a_producer_that_never_connected_is_left_alone() -> None:
    producer = _producer_with(None)
    retire_producer(producer)
    assert producer._producer._inner_producer is None


def test_a_fenced_producer_is_told_apart_from_an_outage_and_from_a_fatal_error() -> None:
    """The fence a timed-out transaction earns (fatal in librdkafka) is rebuilt, not fatal; an
    abort's fence raised while a commit's timeout was being handled is found in the chain."""
    timed_out = KafkaError(KafkaError._FENCED, "ProduceRequest ... failed: Broker: Producer attempted an operation "
                           "with an old epoch", fatal=True)
    assert producer_fenced(KafkaException(timed_out)) and not is_broker_outage(KafkaException(timed_out))
    try:
        try:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "commit_transaction timed out"))
        except KafkaException:
            raise KafkaException(KafkaError(KafkaError._FENCED, fatal=True))
    except KafkaException as during_abort:
        assert producer_fenced(during_abort)
    assert producer_fenced(KafkaException(KafkaError(KafkaError.INVALID_PRODUCER_EPOCH)))
    assert not producer_fenced(KafkaException(KafkaError(KafkaError._TRANSPORT)))
    assert not producer_fenced(KafkaException(KafkaError(KafkaError.FENCED_INSTANCE_ID, fatal=True)))
    assert not producer_fenced(ValueError("a bug"))


def _instance_fence() -> KafkaConsumerException:
    return KafkaConsumerException(KafkaError(KafkaError._FATAL, FENCED_TEXT))


def test_a_fenced_static_consumer_is_told_apart_from_other_fatal_errors() -> None:
    assert instance_fenced(_instance_fence())
    assert instance_fenced(KafkaException(KafkaError(KafkaError.FENCED_INSTANCE_ID)))
    assert not instance_fenced(KafkaConsumerException(KafkaError(KafkaError._FATAL, "Fatal error: something else")))
    assert not instance_fenced(KafkaException(KafkaError(KafkaError._FENCED, fatal=True)))  # the producer's
    assert not instance_fenced(KafkaException(KafkaError(KafkaError._TRANSPORT)))
    assert not instance_fenced(ValueError("a bug"))


class _App:
    """Stands in for a Quix application: `run()` raises its error, or stops the worker."""

    def __init__(self, error: Optional[BaseException], stop: StopSignal) -> None:
        self.error, self.stop_signal = error, stop
        self._producer = _producer_with(None)
        self._state_manager = None

    def _setup_signal_handlers(self) -> None:
        pass

    def run(self) -> None:
        if self.error is not None:
            raise self.error
        self.stop_signal.event.set()

    def stop(self) -> None:
        pass


class _Probe:
    def __init__(self) -> None:
        self.outages: list[Optional[str]] = []

    def wait_reachable(self, stop: threading.Event, poll: float = 0.5, name: str = "worker") -> bool:
        return True

    def report_outage(self, reason: Optional[str]) -> None:
        self.outages.append(reason)


def _run(errors: list[Optional[BaseException]], backoff: Backoff) -> tuple[int, _Probe]:
    """run_resilient over applications whose runs raise `errors` in turn (None: the run is stopped)."""
    stop, probe, built = StopSignal(install=False), _Probe(), []

    def build() -> _App:
        built.append(1)
        return _App(errors[len(built) - 1], stop)

    run_resilient(build, probe, stop, backoff, name="processor")  # type: ignore[arg-type]
    return len(built), probe


def test_a_consumer_fenced_once_is_rebuilt_and_not_reported_as_an_outage() -> None:
    """After an outage the fencing member can be the worker's own earlier session."""
    built, probe = _run([_instance_fence(), None], Backoff(first=0))
    assert built == 2
    assert [reason for reason in probe.outages if reason is not None] == []


def test_a_consumer_fenced_twice_in_a_row_ends_the_worker_with_one_line() -> None:
    with pytest.raises(InstanceConflict) as raised:
        _run([_instance_fence(), _instance_fence(), None], Backoff(first=0, settled=60))
    assert str(raised.value) == ("processor: fenced twice within 60s by another consumer with its group.instance.id: "
                                 "another replica runs with the same PROCESSOR_INSTANCE_ID; give each replica its own")


def test_fences_further_apart_than_settled_are_each_rebuilt() -> None:
    built, _ = _run([_instance_fence(), _instance_fence(), None], Backoff(first=0, settled=0))
    assert built == 3


def test_an_assignment_lost_while_quix_assigns_a_changelog_is_rebuilt() -> None:
    lost = ChangelogTopicPartitionNotAssigned('Changelog topic partition "changelog__x[1]" must be assigned to recover from it')
    built, probe = _run([lost, None], Backoff(first=0))
    assert built == 2 and [reason for reason in probe.outages if reason is not None] == []
    with pytest.raises(ValueError):
        _run([ValueError("a bug"), None], Backoff(first=0))


def test_kafka_errors_of_a_poll_are_left_to_the_worker_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.on_consumer_error")  # Quix's own logger may not propagate (pulse.logs)
    with caplog.at_level(logging.DEBUG):
        assert on_consumer_error(_instance_fence(), None, logger) is False
    assert [r.levelno for r in caplog.records] == [logging.DEBUG] and caplog.records[0].exc_info is None
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert on_consumer_error(ChangelogTopicPartitionNotAssigned("x"), None, logger) is False
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        try:
            raise ValueError("a bug")
        except ValueError as exc:
            assert on_consumer_error(exc, None, logger) is False
    assert [r.levelno for r in caplog.records] == [logging.ERROR] and caplog.records[0].exc_info is not None


class _StoreApp(_App):
    """An application with one real RocksDB store, as Quix keeps it: `run()` opens partition 0
    and, if `fail`, fails the way an outage can leave it (the store closed, an iterator still a
    local of a frame in the traceback, the exception kept by whoever saved it); else it checks
    that it could open the store and stops the worker."""

    def __init__(self, base: Path, fail: bool, stop: StopSignal, saved: list[BaseException]) -> None:
        super().__init__(None, stop)
        self.store = RocksDBStore("default", "t.stream", str(base))
        self._state_manager = SimpleNamespace(_stores={"t.stream": {"default": self.store}})
        self.fail, self.saved, self.opened = fail, saved, False

    def run(self) -> None:
        partition = self.store.assign_partition(0)
        self.opened = True
        if not self.fail:
            self.stop_signal.event.set()
            return
        cf = partition.get_or_create_column_family("default")
        rows = cf.iter()  # a local of this frame, held by the traceback  # noqa: F841
        try:
            raise KafkaBrokerUnavailableError("broker down")
        except KafkaBrokerUnavailableError as exc:
            self.saved.append(exc)  # like a callback's error kept for the next poll
            raise


def test_a_failed_application_lets_go_of_its_stores_before_the_next_one_opens_them(tmp_path: Path) -> None:
    """RocksDB keeps a closed store locked while an iterator of it lives; the next
    application in the same process would find it locked (stop 37's CI)."""
    stop, saved, apps = StopSignal(install=False), [], []

    def build() -> _StoreApp:
        apps.append(_StoreApp(tmp_path, not apps, stop, saved))
        return apps[-1]

    run_resilient(build, _Probe(), stop, Backoff(first=0), name="processor")  # type: ignore[arg-type]
    assert [app.opened for app in apps] == [True, True] and saved  # the failure's exception is still referenced
    assert not apps[0].store.partitions  # closed by run_resilient, though Quix did not


def test_a_store_this_process_still_holds_locked_ends_the_worker_for_a_restart(tmp_path: Path) -> None:
    held = Rdict(str(tmp_path / "db"))
    rows = held.iter()  # noqa: F841 - keeps the store locked after close()
    held.close()
    try:
        Rdict(str(tmp_path / "db"), Options())
    except Exception as locked:  # noqa: BLE001 - RocksDB's own error, whatever its type
        assignment = PartitionAssignmentError("Error during partition assignment")
        assignment.__cause__ = locked
    assert "test_a_store_this_process_still_holds_locked_ends_the_worker_for_a_restart" in rocksdb_holders()
    with pytest.raises(StoreLocked) as raised:
        _run([KafkaBrokerUnavailableError("broker down"), assignment, None], Backoff(first=0))
    assert raised.value.exit_code == 70
    assert str(raised.value).startswith("processor: a state store is still locked by this process after its failed "
                                        "application (Error during partition assignment); exiting (70)")


def test_a_worker_that_ends_itself_for_a_restart_exits_70_with_one_line(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    def processor(_args: object) -> None:
        raise StoreLocked("processor: a state store is still locked by this process")

    resolve = cli.resolve
    monkeypatch.setattr(cli, "resolve", lambda ref: processor if ref == "processors.commands:processor" else resolve(ref))
    assert cli.main(["processor"]) == 70
    assert capfd.readouterr().err == "twitch-pulse: processor: a state store is still locked by this process\n"


def test_a_probe_that_hears_nothing_asks_through_a_new_admin_client(make_settings: Callable[..., Settings]) -> None:
    """A probe whose client never heard a broker back kept a worker waiting in CI; after
    `renew_after` seconds of failures it asks through a fresh client (real ones, no broker)."""
    made: list[AdminClient] = []

    def admin() -> AdminClient:
        made.append(AdminClient({"bootstrap.servers": f"127.0.0.1:{free_port()}", "log_level": 0}))
        return made[-1]

    probe = BrokerProbe(make_settings(), timeout=0.2, renew_after=0.5, admin=admin)
    deadline = time.monotonic() + 30
    while probe.renewals < 2 and time.monotonic() < deadline:
        assert probe.check()[0] is False
    assert probe.renewals == 2 and len(made) == 3 and probe._admin is made[-1]
    said: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("pulse.resilience")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    try:
        assert probe.wait_reachable(stop, poll=0.1, name="processor", say_every=0.3) is False
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert said and said[0].startswith("processor: still waiting for the kafka broker after 0s (kafka broker unreachable: ")
