"""A processor that starts on a backlog emits its windows' rows while it reads the backlog,
not once it is over, and the rows are still exact, once, across the pauses (`processors.catch_up`:
the input is paused once committed partials and game totals have waited unread
PROCESSOR_CATCH_UP_PATIENCE_SECONDS; before it,
librdkafka kept fetching the backlogged input and not the internal topics,
confluentinc/librdkafka#1854: in `bench.cli_bench` every window came after the whole input)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import httpx
from confluent_kafka import Consumer, TopicPartition

from devstack.service import free_port
from pulse import topics
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings
from tests import reference
from tests.pipeline import OUTPUTS, Sender, TopicReader, check_outputs, make_event, start_worker, stop_worker
from tests.scenario import I_S, T0, TOP_N, W_S

CHANNELS, POLLS, PARTITIONS = 2000, 120, 2  # 240k samples, 12 windows: a few seconds of reading


def unread_input(settings: Settings, group: Consumer, ends: dict[int, int]) -> float:
    """The share of the backlog the processor has not committed yet."""
    committed = group.committed([TopicPartition(settings.topic(topics.STREAMS), p) for p in ends], timeout=10)
    done = sum(max(tp.offset, 0) for tp in committed)
    return 1 - done / sum(ends.values())


def test_a_catch_up_emits_its_windows_while_it_reads_the_backlog(make_settings: Callable[..., Settings],
                                                               tmp_path: Path) -> None:
    # a patience of 50 ms (5 s by default) and commits ten times a second: many pauses
    # over a backlog this short, each one a chance to skip or double a chunk on resume
    settings = make_settings(window_seconds=W_S, poll_interval_seconds=I_S, top_n=TOP_N, chunk_keys=16,
                             topic_partitions=PARTITIONS, processor_catch_up_patience_seconds=0.05,
                             processor_commit_seconds=0.1)
    ensure_topics(settings, [settings.topic(name) for name in topics.ALL])
    sender = Sender(settings, settings.topic(topics.STREAMS), PARTITIONS)
    for k in range(POLLS):
        t = T0 + k * I_S * 1000
        for c in range(CHANNELS):
            sender.event(make_event(t, f"s{c}", str(c), 10 + (7 * c + 3 * k) % 500, f"g{c % 40}"))
        sender.ticks(t)
    sender.ticks(T0 + (POLLS - 1) * I_S * 1000, final=True)
    assert sender.producer.flush(60) == 0 and not sender.errors, sender.errors
    group = Consumer(client_config(settings, **{"group.id": settings.group("processor")}))
    ends = {p: group.get_watermark_offsets(TopicPartition(settings.topic(topics.STREAMS), p), timeout=10)[1]
            for p in range(PARTITIONS)}

    log = tmp_path / "processor.log"
    metrics_port = free_port()
    proc = start_worker(["processor"], settings, log, METRICS_PORT=str(metrics_port))
    reader = TopicReader(settings, [settings.topic(t) for t in OUTPUTS.values()])
    games = settings.topic(topics.WINDOWS_GAMES)
    unread_at_first_rows: list[float] = []

    def first_rows(records: dict[str, list]) -> bool:
        if records.get(games) and not unread_at_first_rows:
            unread_at_first_rows.append(unread_input(settings, group, ends))
        return bool(unread_at_first_rows)

    def alive() -> None:
        assert proc.poll() is None, "the processor exited:\n" + log.read_text()[-3000:]

    try:
        reader.poll_until(first_rows, 180, settle=0, alive=alive)
        # the first window closes a 12th of the way in; its rows come a commit or two later
        assert unread_at_first_rows[0] >= 0.1, (
            f"the first window's rows came when only {unread_at_first_rows[0]:.0%} of the backlog was unread")
        expected = reference.compute(sender.sent, W_S, I_S, TOP_N)
        total = sum(len(v) for v in expected.values())
        reader.poll_until(lambda r: sum(len(r.get(settings.topic(t), [])) for t in OUTPUTS.values()) >= total,
                          240, alive=alive)
        check_outputs(settings, expected, reader)
        pauses = re.search(r"^twitch_pulse_processor_input_pauses_total (\S+)$",
                           httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text, re.M)
        assert pauses and float(pauses.group(1)) >= 1, "the input was never paused for the internal topics"
    finally:
        reader.close()
        group.close()
        assert stop_worker(proc) == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
