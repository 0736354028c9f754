"""Which errors `run_resilient` waits out as a broker outage, and which it lets through."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from quixstreams.checkpointing.exceptions import CheckpointConsumerCommitError
from quixstreams.state.exceptions import ChangelogFlushError

from pulse.resilience import is_broker_outage


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
    assert not is_broker_outage(ValueError("a bug"))
