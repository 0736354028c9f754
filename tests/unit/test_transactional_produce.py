"""`transactional_produce`: the stages' outputs go to the confluent-kafka producer under the
application's own, the transactional one, positionally and without Quix's per-message steps.

A real Quix Streams `Application` (no broker needed to build one), so a Quix upgrade that
moves its producer's client fails here. The client itself is replaced by a recorder: a real
one would start a transaction against a broker on first use (the integration tests do that).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from quixstreams import Application

from processors.routing import transactional_produce


class Client:
    """Takes what `confluent_kafka.Producer.produce` takes; refuses the first `full` calls."""

    def __init__(self, full: int = 0) -> None:
        self.full, self.sent, self.polls = full, [], []

    def produce(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> None:
        if self.full:
            self.full -= 1
            raise BufferError("Local: Queue full")
        self.sent.append((topic, key, value, kwargs))

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        return 0


@pytest.fixture()
def app(tmp_path: Path) -> Application:
    return Application(broker_address="127.0.0.1:1", consumer_group="produce-test", state_dir=str(tmp_path),
                       processing_guarantee="exactly-once")


def test_the_client_is_the_transactional_confluent_producer_of_the_application(app: Application) -> None:
    quix_producer = app._processing_context.producer._producer
    assert quix_producer.transactional
    assert quix_producer._inner_producer is None  # made on first use (a property), not by building the stages
    assert isinstance(type(quix_producer).__dict__["_producer"], property)
    assert "ConfluentProducer(self._producer_config)" in inspect.getsource(type(quix_producer).__dict__["_producer"].fget)


def test_outputs_go_to_that_client_with_key_value_headers_and_timestamp(app: Application) -> None:
    client = Client()
    app._processing_context.producer._producer._inner_producer = client
    produce = transactional_produce(app._processing_context.producer)
    produce("t.rows", b"k", b"v", None, 1_700_000_000_000)
    produce("t.dlq", b"k2", b"bad", [("x-pulse-dlq-reason", b"why")], 5)
    assert client.sent == [("t.rows", b"k", b"v", {"timestamp": 1_700_000_000_000}),
                           ("t.dlq", b"k2", b"bad", {"headers": [("x-pulse-dlq-reason", b"why")], "timestamp": 5})]


def test_a_full_local_queue_is_waited_on_not_dropped(app: Application) -> None:
    client = Client(full=2)
    app._processing_context.producer._producer._inner_producer = client
    transactional_produce(app._processing_context.producer)("t.rows", b"k", b"v", None, 1)
    assert [s[:3] for s in client.sent] == [("t.rows", b"k", b"v")] and len(client.polls) == 2
