"""Which errors `run_resilient` waits out as a broker outage, and how it retires a failed application."""

from __future__ import annotations

import weakref
from typing import Optional

from confluent_kafka import KafkaError, KafkaException
from quixstreams.checkpointing.exceptions import CheckpointConsumerCommitError
from quixstreams.internal_producer import InternalProducer
from quixstreams.state.exceptions import ChangelogFlushError
from rocksdict import DbClosedError

from pulse.resilience import is_broker_outage, outage_reason, producer_fenced, retire_producer


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
