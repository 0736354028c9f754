"""The Slack alerts worker: `twitch.alerts` -> one Block Kit message per alert (DESIGN §5).

Delivery is at least once and, in practice, exactly once:
- `SlackSink.flush()` runs at each Quix checkpoint, before the Kafka commit, and posts every
  pending alert; the offsets are committed only when all of them were accepted.
- 429 -> `SinkBackpressureError(Retry-After)`, 5xx or no answer -> the same with exponential
  backoff: Quix pauses, seeks back, and the alerts come again later.
- An accepted alert's id is appended (fsync'ed) to a delivered log under STATE_DIR before
  anything else happens, so a retry, a replay or a restart never posts it twice.
- No webhook: the alert is printed on the console instead. A malformed webhook URL, or a
  webhook Slack says does not exist (403/404/410), stops the worker with one clear line.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import httpx
from quixstreams.sinks import BaseSink, SinkBackpressureError

from pulse import topics
from pulse.settings import Settings
from pulse.watchdog import Watchdog

from . import metrics
from .worker import build_app, run_until_stopped

log = logging.getLogger(__name__)

KIND_TITLES = {
    "threshold": ":rotating_light: Viewer threshold crossed",
    "surge": ":chart_with_upwards_trend: Channel viewership surge",
    "game_surge": ":video_game: Game viewership surge",
}
MAX_BACKOFF = 60.0


class SlackError(Exception):
    """A Slack configuration problem retrying cannot fix; one readable line, never the URL."""


def validate_webhook(url: str) -> None:
    """Raise SlackError for a webhook URL that cannot work (the URL itself is a secret: not shown)."""
    parts = urlsplit(url)
    problems = []
    if parts.scheme not in ("http", "https"):
        problems.append("it must start with https://")
    if not parts.hostname or any(c.isspace() for c in url) or "." not in (parts.hostname or "") \
            and parts.hostname not in ("localhost",):
        problems.append("it has no valid host")
    try:
        parts.port
    except ValueError:
        problems.append("its port is not a number")
    if problems:
        raise SlackError("SLACK_WEBHOOK_URL is malformed: " + "; ".join(problems) + " (value not shown)")


def _fmt_int(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "?"


def _when(captured_at: str) -> str:
    return captured_at.replace("T", " ")[:16] + " UTC" if isinstance(captured_at, str) else "?"


def message(alert: dict[str, Any]) -> dict[str, Any]:
    """The Block Kit payload: a header, who (linked), viewers vs baseline, the time."""
    kind = str(alert.get("kind", "alert"))
    who = alert.get("subject_name") or alert.get("subject_id") or "?"
    url = alert.get("url") or ""
    link = f"<{url}|{who}>" if url else str(who)
    subject = "Game" if alert.get("subject_type") == "game" else "Channel"
    baseline = alert.get("baseline")
    base_text = _fmt_int(round(baseline)) if isinstance(baseline, (int, float)) else "n/a"
    fields = [
        {"type": "mrkdwn", "text": f"*{subject}:*\n{link}"},
        {"type": "mrkdwn", "text": f"*Viewers:*\n{_fmt_int(alert.get('viewers'))}"},
        {"type": "mrkdwn", "text": f"*Baseline (15 min mean):*\n{base_text}"},
        {"type": "mrkdwn", "text": f"*Threshold:*\n{_fmt_int(alert.get('threshold'))}"},
    ]
    if subject == "Channel" and alert.get("game_name"):
        fields.append({"type": "mrkdwn", "text": f"*Playing:*\n{alert['game_name']}"})
    text = f"{KIND_TITLES.get(kind, kind)}: {who} at {_fmt_int(alert.get('viewers'))} viewers"
    return {
        "text": text,  # notification fallback
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": KIND_TITLES.get(kind, kind)[:150], "emoji": True}},
            {"type": "section", "fields": fields},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"{kind} · {_when(alert.get('captured_at', ''))} · alert `{alert.get('alert_id', '?')}`"},
            ]},
        ],
    }


def console_line(alert: dict[str, Any]) -> str:
    baseline = alert.get("baseline")
    base = f" (baseline {round(baseline):,})" if isinstance(baseline, (int, float)) else ""
    return (f"ALERT {alert.get('kind')} {alert.get('subject_type')} {alert.get('subject_name')}: "
            f"{_fmt_int(alert.get('viewers'))} viewers{base} at {_when(alert.get('captured_at', ''))} "
            f"{alert.get('url', '')} [{alert.get('alert_id')}]")


class DeliveredLog:
    """Alert ids Slack accepted, one per line, fsync'ed: survives restarts and replays."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.ids: set[str] = set()
        if path.exists():
            self.ids = {line.strip() for line in path.read_text().splitlines() if line.strip()}
        self._handle = open(path, "a", encoding="utf-8")

    def __contains__(self, alert_id: str) -> bool:
        return alert_id in self.ids

    def add(self, alert_id: str) -> None:
        self._handle.write(alert_id + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.ids.add(alert_id)

    def close(self) -> None:
        self._handle.close()


class SlackSink(BaseSink):
    """Posts alerts at each checkpoint; see the module docstring for the delivery rules."""

    def __init__(self, settings: Settings, delivered: DeliveredLog, backoff_base: float = 1.0) -> None:
        super().__init__(on_client_connect_success=lambda: None)
        self.webhook = settings.slack.webhook_url.get_secret_value()
        self.timeout = settings.slack.timeout_seconds
        self.delivered = delivered
        self.backoff_base = backoff_base
        self._pending: list[dict[str, Any]] = []
        self._failures = 0
        self._client: Optional[httpx.Client] = None
        self.healthy: tuple[bool, str] = (True, "ok")

    def setup(self) -> None:
        if self.webhook:
            validate_webhook(self.webhook)
            self._client = httpx.Client(timeout=self.timeout)

    def add(self, value: Any, key: Any, timestamp: int, headers: Any, topic: str, partition: int,
            offset: int) -> None:
        if isinstance(value, dict) and value.get("alert_id"):
            self._pending.append(value)
        else:
            log.warning("alerts: %s[%d]@%d is not an alert; skipped", topic, partition, offset)

    def on_paused(self) -> None:
        self._pending.clear()

    def flush(self) -> None:
        try:
            for alert in self._pending:
                self._deliver(alert)
        finally:
            self._pending.clear()

    def _deliver(self, alert: dict[str, Any]) -> None:
        alert_id = str(alert["alert_id"])
        if alert_id in self.delivered:
            metrics.SLACK_POSTS.labels("duplicate").inc()
            return
        if self._client is None:
            print(console_line(alert), flush=True)
            metrics.SLACK_POSTS.labels("console").inc()
            self.delivered.add(alert_id)
            return
        try:
            response = self._client.post(self.webhook, json=message(alert))
        except httpx.HTTPError as exc:
            metrics.SLACK_POSTS.labels("error").inc()
            self._backoff(f"no answer from Slack ({type(exc).__name__})")
            return
        status = response.status_code
        metrics.SLACK_POSTS.labels(str(status)).inc()
        if 200 <= status < 300:
            self.delivered.add(alert_id)
            self._failures = 0
            self.healthy = (True, "ok")
            log.info("alerts: posted %s", alert_id)
        elif status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            metrics.SLACK_BACKOFF.inc()
            self.healthy = (False, "rate limited by Slack")
            log.warning("alerts: Slack rate limit; retrying in %.0fs", retry_after)
            raise SinkBackpressureError(retry_after=retry_after)
        elif status >= 500:
            self._backoff(f"Slack answered {status}")
        elif status in (401, 403, 404, 410):
            self.healthy = (False, f"webhook rejected ({status})")
            raise SlackError(f"Slack rejected the webhook (HTTP {status}: {response.text[:60].strip()}); "
                             "check SLACK_WEBHOOK_URL")
        else:  # 400 invalid_payload and the like: retrying cannot help, so it goes to the log and console
            log.error("alerts: Slack refused %s (HTTP %d: %s); printed instead", alert_id, status,
                      response.text[:100].strip())
            print(console_line(alert), flush=True)
            self.delivered.add(alert_id)

    def _backoff(self, reason: str) -> None:
        self._failures += 1
        delay = min(MAX_BACKOFF, self.backoff_base * 2 ** (self._failures - 1))
        metrics.SLACK_BACKOFF.inc()
        self.healthy = (False, reason)
        log.warning("alerts: %s; retrying in %.0fs", reason, delay)
        raise SinkBackpressureError(retry_after=delay)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.delivered.close()


def _retry_after(value: Optional[str]) -> float:
    try:
        return min(300.0, max(0.0, float(value))) if value is not None else 1.0
    except ValueError:
        return 1.0


def run_alerts(settings: Settings) -> int:
    """The worker: own consumer group, commit after each checkpoint's alerts were accepted."""
    webhook = settings.slack.webhook_url.get_secret_value()
    if webhook:
        validate_webhook(webhook)
    else:
        log.info("alerts: no SLACK_WEBHOOK_URL; alerts go to the console")
    delivered = DeliveredLog(Path(settings.state_dir) / "slack-alerts" / "delivered.log")
    sink = SlackSink(settings, delivered)
    watchdog = Watchdog("alerts", settings.sink.stall_seconds)

    def build():
        return build_app(settings, "slack-alerts", (topics.ALERTS,), sink, value_deserializer="json",
                         commit_interval=1.0, watchdog=watchdog)

    try:
        run_until_stopped(settings, build, sink, SlackError, "alerts", watchdog=watchdog)
    finally:
        sys.stdout.flush()
    return 0
