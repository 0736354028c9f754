"""A real single-node Apache Kafka broker (KRaft) on 127.0.0.1, run with the machine's Java.

`fetch()` resolves the broker jars from Maven Central with the machine's Maven into a cache
directory once (offline afterwards); `start()` formats KRaft storage on first use, writes a
one-node config whose offsets topic and transaction log have replication factor 1 and min
ISR 1 (so transactions, hence exactly-once processing, work), and waits until the broker
answers a metadata request.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from .service import Service, ServiceError

HERE = Path(__file__).resolve().parent
POM = HERE / "kafka-pom.xml"
LOG4J = HERE / "log4j2.yaml"


def cache_dir() -> Path:
    return Path(os.environ.get("TWITCH_PULSE_CACHE", Path.home() / ".cache" / "twitch-pulse"))


def kafka_version() -> str:
    text = POM.read_text()
    return text.split("<kafka.version>")[1].split("</kafka.version>")[0]


def libs_dir() -> Path:
    return cache_dir() / f"kafka-{kafka_version()}" / "libs"


def fetch(quiet: bool = False) -> Path:
    """Copy the broker and its runtime dependencies from Maven Central into the cache (once)."""
    libs = libs_dir()
    stamp = libs / ".complete"
    if stamp.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError("Maven (mvn) is not on PATH: it is needed once to fetch the Kafka jars")
    if shutil.which("java") is None:
        raise ServiceError("Java (java) is not on PATH: Kafka needs Java 17+")
    tmp = libs.with_name("libs.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print(f"fetching Apache Kafka {kafka_version()} from Maven Central into {libs.parent} (once) ...",
              file=sys.stderr, flush=True)
    started = time.monotonic()
    proc = subprocess.run(
        [mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
         f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise ServiceError(f"fetching Kafka with Maven failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    stamp.write_text(kafka_version())
    if not quiet:
        jars = len(list(libs.glob("*.jar")))
        print(f"fetched {jars} jars in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
    return libs


class KafkaBroker:
    """One KRaft node (broker + controller) with its data, config, pid and log under `run_dir`."""

    def __init__(self, run_dir: Path, port: int = 9092, host: str = "127.0.0.1", heap: str = "512m") -> None:
        self.run_dir = Path(run_dir).resolve()
        self.port = port
        self.controller_port = port + 1
        self.host = host
        self.heap = heap
        self.data_dir = self.run_dir / "kafka-data"
        self.config = self.run_dir / "kafka-server.properties"
        self.service = Service("kafka", self.run_dir, host, port, ready=self._answers_metadata)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def _answers_metadata(self) -> bool:
        try:
            md = AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=2)
            return bool(md.brokers)
        except Exception:
            return False

    def write_config(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(f"""# written by devstack/kafka.py: one KRaft node for local runs and tests
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{self.host}:{self.controller_port}
listeners=PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}
advertised.listeners=PLAINTEXT://{self.host}:{self.port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={self.data_dir}
num.partitions=1
auto.create.topics.enable=true
# one node: every internal topic has replication factor 1 and min ISR 1, so
# consumer offsets and transactions (exactly-once processing) work
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
default.replication.factor=1
group.initial.rebalance.delay.ms=0
# local data is kept until `make clean`: replays of old recordings carry old timestamps,
# which time-based retention would delete at once
log.retention.ms=-1
# the accelerated demo clock stamps records ahead of real time; Kafka 4 rejects records more
# than an hour in the future by default
log.message.timestamp.after.max.ms=9223372036854775807
log.segment.bytes=104857600
""")

    def _format(self, java: str, classpath: str) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = uuid.uuid4().bytes
        cid = base64.urlsafe_b64encode(cluster_id).decode().rstrip("=")
        proc = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
             f"--cluster-id={cid}", "-c", str(self.config)],  # "=": an id may start with "-"
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise ServiceError(f"formatting KRaft storage failed:\n{(proc.stdout + proc.stderr)[-2000:]}")

    def start(self, timeout: float = 90.0) -> bool:
        """Start (fetching the jars the first time). Returns False if it was already running."""
        if self.service.pid() is not None:
            self.service.wait_ready(timeout)
            return False
        libs = fetch()
        java = shutil.which("java")
        assert java is not None
        classpath = f"{libs}/*"
        self.write_config()
        self._format(java, classpath)
        argv = [
            java, f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={LOG4J}",
            "-cp", classpath, "kafka.Kafka", str(self.config),
        ]
        return self.service.start(argv, timeout=timeout)

    def stop(self) -> bool:
        return self.service.stop(timeout=30)

    def status(self) -> str:
        return self.service.status()
