"""The Slack alerts worker against a real local HTTP server whose answers are scripted."""

from __future__ import annotations

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

import pytest

from pulse import topics
from pulse.settings import Settings
from sinks.slack import SlackError, message, validate_webhook
from tests.sink_support import Worker, alert, committed_all, produce, wait_for


class FakeSlack:
    """Answers each POST with the next scripted (status, headers); 200 once the script is used up.

    `kill_after_accept`: once that many posts were accepted, the next request SIGKILLs the
    worker (`victim` pid) before answering: a crash after Slack accepted alerts (and the worker
    recorded them) but before the Kafka commit. (A kill between Slack's 200 and the worker's
    fsync of the delivered log cannot be covered: incoming webhooks have no idempotency key.)
    """

    def __init__(self, script: list[tuple[int, dict]] = ()) -> None:
        self.script = list(script)
        self.requests: list[tuple[int, dict]] = []
        self.accepted: list[dict] = []
        self.victim: Optional[int] = None
        self.kill_after_accept = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.kill_after_accept and len(outer.accepted) == outer.kill_after_accept and outer.victim:
                    os.kill(outer.victim, signal.SIGKILL)
                    outer.victim = None
                    return
                status, headers = outer.script.pop(0) if outer.script else (200, {})
                outer.requests.append((status, body))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no_service" if status == 404 else b"err")
                self.wfile.flush()
                if status == 200:
                    outer.accepted.append(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/secretpart"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted_ids(self) -> list[str]:
        return [_alert_id(body) for body in self.accepted]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _alert_id(body: dict) -> str:
    context = body["blocks"][-1]["elements"][0]["text"]
    return context.split("`")[1]


@pytest.fixture
def slack():
    server = FakeSlack()
    yield server
    server.close()


ENV = {"SLACK_TIMEOUT_SECONDS": 5, "SINK_SESSION_TIMEOUT_MS": 6000}


def test_block_kit_message_is_readable() -> None:
    a = alert(3, "surge")
    body = message(a)
    text = json.dumps(body)
    assert body["blocks"][0]["type"] == "header" and "surge" in body["blocks"][0]["text"]["text"].lower()
    assert f"<{a['url']}|{a['subject_name']}>" in text
    assert "5,003" in text and "1,200" in text and "2026-01-01 00:03 UTC" in text and a["alert_id"] in text
    game = dict(alert(4, "game_surge"), subject_type="game", url="https://www.twitch.tv/directory/category/x")
    assert "*Game:*" in json.dumps(message(game))


@pytest.mark.parametrize("url", ["https://", "https://hooks slack.com/x", "http://:80/x", "https://hooks.slack.com:xx/"])
def test_malformed_webhook_is_rejected(url: str) -> None:
    with pytest.raises(SlackError, match="SLACK_WEBHOOK_URL is malformed") as err:
        validate_webhook(url)
    assert url not in str(err.value)
    validate_webhook("https://hooks.slack.com/services/T0/B0/x")


def test_retry_after_backoff_and_no_double_post_after_crash(settings: Settings, slack: FakeSlack,
                                                            tmp_path: Path) -> None:
    """429 (Retry-After) and 5xx are retried; a crash after Slack accepted (before the Kafka
    commit) and a restart post nothing twice; every alert arrives exactly once."""
    alerts = [alert(i, kind) for i, kind in enumerate(["threshold", "surge", "game_surge", "surge"])]
    slack.script = [(429, {"Retry-After": "1"}), (503, {})]
    produce(settings, topics.ALERTS, [(a["alert_id"], a) for a in alerts[:3]], partitions=1)
    slack.kill_after_accept = 2
    env = dict(ENV, SLACK_WEBHOOK_URL=slack.url)
    first = Worker(settings, ["alerts"], tmp_path / "s1.log", **env)
    slack.victim = first.proc.pid
    assert first.wait(60) == -9, first.log()
    assert [s for s, _ in slack.requests[:2]] == [429, 503]
    assert not committed_all(settings, "slack-alerts", [topics.ALERTS])
    produce(settings, topics.ALERTS, [(a["alert_id"], a) for a in alerts[3:]], partitions=1)
    with Worker(settings, ["alerts"], tmp_path / "s2.log", **env) as second:
        wait_for(lambda: committed_all(settings, "slack-alerts", [topics.ALERTS]), 60, "alerts committed")
        assert second.stop() == 0, second.log()
        assert slack.url not in second.log() and "secretpart" not in second.log()
    assert sorted(slack.accepted_ids()) == sorted(a["alert_id"] for a in alerts)


def test_no_webhook_prints_to_console(settings: Settings, tmp_path: Path) -> None:
    alerts = [alert(i) for i in range(3)]
    produce(settings, topics.ALERTS, [(a["alert_id"], a) for a in alerts], partitions=1)
    with Worker(settings, ["alerts"], tmp_path / "c.log", **ENV) as worker:
        wait_for(lambda: committed_all(settings, "slack-alerts", [topics.ALERTS]), 60, "alerts committed")
        assert worker.stop() == 0
        out = worker.log()
    for a in alerts:
        assert out.count(a["alert_id"]) == 1 and a["url"] in out


def test_malformed_webhook_stops_at_start(settings: Settings, tmp_path: Path) -> None:
    worker = Worker(settings, ["alerts"], tmp_path / "m.log", SLACK_WEBHOOK_URL="https://hooks slack.com/sec ret")
    assert worker.wait(60) == 1
    lines = [line for line in worker.log().splitlines() if line.startswith("twitch-pulse:")]
    assert len(lines) == 1 and "SLACK_WEBHOOK_URL is malformed" in lines[0] and "sec ret" not in worker.log()


def test_revoked_webhook_ends_worker(settings: Settings, slack: FakeSlack, tmp_path: Path) -> None:
    slack.script = [(404, {})]
    produce(settings, topics.ALERTS, [(alert(1)["alert_id"], alert(1))], partitions=1)
    worker = Worker(settings, ["alerts"], tmp_path / "r.log", SLACK_WEBHOOK_URL=slack.url, **ENV)
    assert worker.wait(60) == 1, worker.log()
    assert "Slack rejected the webhook (HTTP 404" in worker.log()
    assert not committed_all(settings, "slack-alerts", [topics.ALERTS])
