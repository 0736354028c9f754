"""The processor under faults (issue 10 §4, §9): it rides out its broker stopped (BROKER_OUTAGE, 40 s: past its transaction timeout)
(/healthz 503 with the reason within 10 s, no exit) and afterwards every window row equals the
independent computation, once; it rides out its own stall past its transaction timeout (the
broker aborts the open transaction and fences the producer); a second replica with its
instance id ends one of the two with one line; and the first SIGTERM stops it, even one that
arrives while it is still starting."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from devstack.kafka import KafkaBroker
from devstack.service import free_port
from pulse import topics
from pulse.kafka import ensure_topics
from pulse.settings import Settings
from tests import reference
from tests.pipeline import (
    BROKER_OUTAGE,
    HEALTH_DEADLINE,
    OUTPUTS,
    Sender,
    TopicReader,
    check_outputs,
    health,
    make_event,
    start_worker,
    stop_worker,
)
from tests.scenario import I_S, T0, TOP_N, W_S


def send_polls(sender: Sender, first: int, last: int) -> None:
    for k in range(first, last):
        t = T0 + k * I_S * 1000
        for user in ("1", "2", "3"):
            sender.event(make_event(t, f"s{user}", user, 10 * int(user) + k, f"g{user}"))
        sender.ticks(t)


def test_processor_rides_out_a_broker_outage(make_settings: Callable[..., Settings], own_broker: KafkaBroker,
                                             tmp_path: Path) -> None:
    settings = make_settings(kafka_bootstrap=own_broker.bootstrap, window_seconds=W_S, poll_interval_seconds=I_S,
                             top_n=TOP_N, chunk_keys=4, topic_partitions=2)
    ensure_topics(settings, [settings.topic(name) for name in topics.ALL])
    sender = Sender(settings, settings.topic(topics.STREAMS), 2)
    send_polls(sender, 0, 12)
    metrics_port = free_port()
    proc = start_worker(["processor"], settings, tmp_path / "processor.log", METRICS_PORT=str(metrics_port),
                        PROCESSOR_INSTANCE_ID="0")
    reader = TopicReader(settings, [settings.topic(t) for t in OUTPUTS.values()])
    try:
        reader.poll_until(lambda r: len(r.get(settings.topic(topics.WINDOWS_GAMES), [])) >= 3, 120, settle=0)
        reader.close()
        own_broker.stop()
        deadline = time.monotonic() + HEALTH_DEADLINE
        while health(metrics_port)[0] != 503:
            assert time.monotonic() < deadline, f"/healthz still {health(metrics_port)} after {HEALTH_DEADLINE}s"
            time.sleep(0.5)
        assert "kafka broker" in health(metrics_port)[1]
        outage_end = time.monotonic() + BROKER_OUTAGE
        while time.monotonic() < outage_end:
            assert proc.poll() is None, "the processor exited during the outage:\n" + \
                (tmp_path / "processor.log").read_text()[-3000:]
            time.sleep(1)
        own_broker.start(timeout=120)
        sender = Sender(settings, settings.topic(topics.STREAMS), 2)
        send_polls(sender, 12, 25)
        sender.ticks(T0 + 24 * I_S * 1000, final=True)
        expected = reference.compute(_all_events(), W_S, I_S, TOP_N)
        total = sum(len(v) for v in expected.values())
        reader = TopicReader(settings, [settings.topic(t) for t in OUTPUTS.values()])
        reader.poll_until(lambda r: sum(len(r.get(settings.topic(t), [])) for t in OUTPUTS.values()) >= total,
                          240, alive=lambda: _alive(proc))
        check_outputs(settings, expected, reader)
        deadline = time.monotonic() + 30
        while health(metrics_port)[0] != 200:
            assert time.monotonic() < deadline, f"/healthz {health(metrics_port)} after the broker came back"
            time.sleep(0.5)
    finally:
        reader.close()
        assert stop_worker(proc) == 0, (tmp_path / "processor.log").read_text()[-3000:]
    assert "Traceback" not in (tmp_path / "processor.log").read_text()


STALL = 25.0  # past the transaction timeout (10 s) plus the broker's sweep for timed-out transactions (10 s)


def test_processor_rides_out_a_stall_past_its_transaction_timeout(make_settings: Callable[..., Settings],
                                                                  tmp_path: Path) -> None:
    """A processor frozen (SIGSTOP: a paused VM, a starved container) while its transaction is
    open comes back to a broker that aborted that transaction and fenced its producer; it
    rebuilds its application as after an outage, and every window row is still exact, once.
    Polls keep arriving (one every 0.1 s), so a transaction is open at almost any moment; the
    stall is repeated until the log shows the fence (at most three times)."""
    settings = make_settings(window_seconds=W_S, poll_interval_seconds=I_S, top_n=TOP_N, chunk_keys=4,
                             topic_partitions=2, processor_transaction_timeout_ms=10_000,
                             processor_session_timeout_ms=120_000)  # only the transaction expires, not the session
    ensure_topics(settings, [settings.topic(name) for name in topics.ALL])
    log = tmp_path / "processor.log"
    proc = start_worker(["processor"], settings, log, PROCESSOR_INSTANCE_ID="0")
    sender = Sender(settings, settings.topic(topics.STREAMS), 2)
    polls = [0]
    done = threading.Event()

    def feed() -> None:
        while not done.wait(0.1):
            send_polls(sender, polls[0], polls[0] + 1)
            polls[0] += 1

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    reader = TopicReader(settings, [settings.topic(t) for t in OUTPUTS.values()])
    try:
        reader.poll_until(lambda r: len(r.get(settings.topic(topics.WINDOWS_GAMES), [])) >= 3, 120, settle=0,
                          alive=lambda: _alive(proc, log))
        for _ in range(3):
            proc.send_signal(signal.SIGSTOP)
            time.sleep(STALL)  # the stall itself is the fault: nothing to wait for
            proc.send_signal(signal.SIGCONT)
            # the rebuild's own line: librdkafka's "fenced by a newer instance" comes before it
            deadline = time.monotonic() + 60
            while "producer was fenced" not in log.read_text() and time.monotonic() < deadline:
                _alive(proc, log)
                time.sleep(0.5)
            if "producer was fenced" in log.read_text():
                break
        assert "producer was fenced" in log.read_text(), log.read_text()[-3000:]
        done.set()
        feeder.join(10)
        sender.ticks(T0 + (polls[0] - 1) * I_S * 1000, final=True)
        sender.producer.flush(30)
        assert not sender.errors, sender.errors
        expected = reference.compute(sender.sent, W_S, I_S, TOP_N)
        total = sum(len(v) for v in expected.values())
        reader.poll_until(lambda r: sum(len(r.get(settings.topic(t), [])) for t in OUTPUTS.values()) >= total,
                          240, alive=lambda: _alive(proc, log))
        check_outputs(settings, expected, reader)
    finally:
        done.set()
        reader.close()
        proc.send_signal(signal.SIGCONT)
        assert stop_worker(proc) == 0, log.read_text()[-3000:]


def test_a_second_replica_with_the_same_instance_id_ends_with_one_line(make_settings: Callable[..., Settings],
                                                                       tmp_path: Path) -> None:
    """Two processors with one PROCESSOR_INSTANCE_ID fence each other's consumer in turn. Each
    rebuilds once (after an outage the fence can come from its own earlier session); fenced
    again, one ends with a line that names the setting, and the other goes on computing
    windows. Neither log holds a traceback (before: both rebuilt forever, every few seconds a
    Quix traceback and "kafka broker unavailable")."""
    settings = make_settings(window_seconds=W_S, poll_interval_seconds=I_S, top_n=TOP_N, chunk_keys=4,
                             topic_partitions=2)
    ensure_topics(settings, [settings.topic(name) for name in topics.ALL])
    logs = [tmp_path / f"processor-{i}.log" for i in range(2)]
    procs = [start_worker(["processor"], settings, log, PROCESSOR_INSTANCE_ID="0", STATE_DIR=str(tmp_path / f"state-{i}"))
             for i, log in enumerate(logs)]
    reader = TopicReader(settings, [settings.topic(t) for t in OUTPUTS.values()])
    try:
        deadline = time.monotonic() + 120
        while all(proc.poll() is None for proc in procs):
            assert time.monotonic() < deadline, "both replicas still run:\n" + logs[0].read_text()[-2000:]
            time.sleep(0.5)
        ended = next(i for i, proc in enumerate(procs) if proc.poll() is not None)
        survivor = procs[1 - ended]
        assert procs[ended].returncode == 1, logs[ended].read_text()[-3000:]
        last = logs[ended].read_text().strip().splitlines()[-1]
        assert last == ("twitch-pulse: processor: fenced twice within 60s by another consumer with its group.instance.id: "
                        "another replica runs with the same PROCESSOR_INSTANCE_ID; give each replica its own"), last
        assert "rebuilding in" in logs[ended].read_text()  # the first fence was rebuilt, as an outage's ghost is
        sender = Sender(settings, settings.topic(topics.STREAMS), 2)
        send_polls(sender, 0, 12)
        reader.poll_until(lambda r: len(r.get(settings.topic(topics.WINDOWS_GAMES), [])) >= 3, 120, settle=0,
                          alive=lambda: _alive(survivor, logs[1 - ended]))
    finally:
        reader.close()
        codes = [stop_worker(proc) for proc in procs]
    assert codes[1 - ended] == 0, logs[1 - ended].read_text()[-3000:]
    for log in logs:
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def _alive(proc, log: Optional[Path] = None) -> None:
    assert proc.poll() is None, "the processor exited" + (":\n" + log.read_text()[-3000:] if log else "")


def _all_events() -> list[dict]:
    events = []
    for k in range(25):
        t = T0 + k * I_S * 1000
        for user in ("1", "2", "3"):
            events.append(make_event(t, f"s{user}", user, 10 * int(user) + k, f"g{user}"))
    return events


def test_the_first_sigterm_stops_the_processor_even_while_it_starts(make_settings: Callable[..., Settings],
                                                                    tmp_path: Path) -> None:
    settings = make_settings()
    for delay in (0.3, 1.5, 3.0):
        proc = start_worker(["processor"], settings, tmp_path / f"processor-{delay}.log")
        time.sleep(delay)  # the moment the signal lands: importing, building, starting to run
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, (tmp_path / f"processor-{delay}.log").read_text()[-3000:]
