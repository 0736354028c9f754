"""The handlers of `twitch-pulse producer`, `record` and `replay` (arguments: `producers.cli`)."""

from __future__ import annotations

import argparse
import logging

from confluent_kafka import KafkaException

from pulse.cli import CommandError
from pulse.logs import setup_logging
from pulse.metrics import start_metrics_server
from pulse.resilience import BrokerProbe, StopSignal, combine
from pulse.settings import ConfigError, Settings, load_settings

from .emitter import Emitter
from .helix import HelixError
from .poller import Poller, credential_pairs
from .recording import Recorder, RecordingError
from .replay import replay as replay_file
from .sharding import Shard

log = logging.getLogger("producers.cli")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "shard", None):
        overrides["producer_shard"] = args.shard
    settings = load_settings(**overrides)
    setup_logging(settings.log_level, settings.secret_values, settings.log_format)
    return settings


def _unreachable(exc: Exception, settings: Settings) -> Exception:
    return CommandError(f"Twitch API not usable at {settings.twitch.auth_url} / {settings.twitch.api_url}: {exc}")


def _poll_command(args: argparse.Namespace, record: bool) -> int:
    settings = _settings(args)
    credential_pairs(settings)  # a configuration error is one line now, not after waiting for Kafka
    stop = StopSignal().event
    if record and args.file.suffix not in (".jsonl", ".gz", ".json", ".ndjson") and args.file.suffix:
        raise ConfigError(f"record: {args.file} should end in .jsonl or .jsonl.gz")
    recorder = Recorder(args.file) if record else None
    poller = None
    produce = not record or args.produce
    probe = BrokerProbe(settings) if produce else None
    checks = ([probe] if probe else []) + [lambda: poller.health() if poller is not None else (False, "starting")]
    # bound first, so a port clash is one line before anything else happens
    server = start_metrics_server(settings.metrics_port, combine(*checks))
    try:
        if server is not None:
            log.info("metrics on :%d/metrics", server.port)
        if probe is not None:
            # a broker that is down at start is waited for (issue 10 §10), and shown on /healthz
            probe.start()
            if not probe.check()[0]:
                log.warning("kafka broker %s not reachable; waiting", settings.kafka.bootstrap)
                if not probe.wait_reachable(stop, name="producer"):
                    return 0
                log.info("kafka broker reachable")
        poller = Poller(settings, stop=stop, recorder=recorder, produce=produce)
        poller.start()
        polls = poller.run(args.polls)
        log.info("stopped after %d polls", polls)
    except HelixError as exc:
        raise _unreachable(exc, settings) from None
    except KafkaException as exc:
        raise CommandError(f"Kafka not usable at {settings.kafka.bootstrap}: {exc}") from None
    finally:
        if poller is not None:
            poller.close()
        elif recorder is not None:
            recorder.close()
        if server is not None:
            server.stop()
        if probe is not None:
            probe.stop()
    return 0


def producer(args: argparse.Namespace) -> int:
    return _poll_command(args, record=False)


def record(args: argparse.Namespace) -> int:
    return _poll_command(args, record=True)


def replay(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not args.file.is_file():
        raise ConfigError(f"replay: no such file {args.file}")
    stop = StopSignal().event
    probe = BrokerProbe(settings)
    emitter = Emitter(settings, Shard.parse(settings.producer.shard), stop=stop)
    server = start_metrics_server(settings.metrics_port, combine(probe, emitter.health))
    probe.start()
    try:
        report = replay_file(settings, args.file, args.speed, stop, emitter=emitter)
    except RecordingError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        emitter.close()
        probe.stop()
        if server is not None:
            server.stop()
    print(f"replayed {report.polls} polls, {report.events} events in {report.seconds:.1f}s "
          f"({report.events_per_second:.0f} events/s)")
    return 1 if report.undelivered else 0


