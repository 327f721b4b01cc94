"""Run the real worker (``python -m blo worker``) against the session's broker and ClickHouse.

Each test gets its own topics, consumer group, database and HTTP port, so tests never see
each other's data. Observations go through public surfaces only: ClickHouse tables,
``/metrics``, ``/readyz``, the consumer group's committed offsets, the process exit code.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from blo.door import HEADER, KEY_FILE
from blo.localservices.tansu import free_port
from blo.settings import parse_clickhouse_url

REPO = Path(__file__).resolve().parents[3]
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_METRIC = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN|\+Inf)$')


def wait_for(pred: Callable[[], Any], timeout: float, what: str, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class Pipeline:
    """Names and settings of one test's pipeline; start workers with :meth:`worker`."""

    bootstrap: str
    clickhouse_url: str
    database: str
    workdir: Path
    partitions: int = 4
    extra_env: dict[str, str] = field(default_factory=dict)
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    web_port: int = field(default_factory=free_port)
    workers: list[WorkerProc] = field(default_factory=list)

    @property
    def topic_raw(self) -> str:
        return f"raw-{self.uid}"

    @property
    def topic_stations(self) -> str:
        return f"stations-{self.uid}"

    @property
    def topic_dlq(self) -> str:
        return f"dlq-{self.uid}"

    @property
    def topic_windows(self) -> str:
        return f"win-{self.uid}"

    @property
    def topic_alert_input(self) -> str:
        return f"ain-{self.uid}"

    @property
    def topic_alerts(self) -> str:
        return f"alerts-{self.uid}"

    @property
    def group_id(self) -> str:
        return f"g-{self.uid}"

    @property
    def raw_group_id(self) -> str:
        """The raw topic's consumer group (streams.raw_consumer.raw_group_id)."""
        return f"{self.group_id}.raw"

    def env(self, **overrides: str) -> dict[str, str]:
        e = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
        e.update(
            BLO_KAFKA_BOOTSTRAP=self.bootstrap, BLO_CLICKHOUSE_URL=self.clickhouse_url,
            BLO_KAFKA_TOPIC_RAW=self.topic_raw, BLO_KAFKA_TOPIC_STATIONS=self.topic_stations,
            BLO_KAFKA_TOPIC_DLQ=self.topic_dlq, BLO_KAFKA_GROUP_ID=self.group_id,
            BLO_KAFKA_PARTITIONS=str(self.partitions), BLO_KAFKA_SESSION_TIMEOUT_S="6",
            BLO_WEB_PORT=str(self.web_port), BLO_DATA_DIR=str(self.workdir),
            BLO_BATCH_SINK_MAX_AGE_S="0.5", BLO_KAFKA_TOPIC_WINDOWS=self.topic_windows,
            BLO_KAFKA_TOPIC_ALERT_INPUT=self.topic_alert_input,
            BLO_KAFKA_TOPIC_ALERTS=self.topic_alerts,
        )
        e.update(self.extra_env)
        e.update(overrides)
        return e

    def create_topics(self) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics([NewTopic(self.topic_raw, self.partitions, 1),
                                 NewTopic(self.topic_dlq, self.partitions, 1),
                                 NewTopic(self.topic_stations, 1, 1)])
        finally:
            admin.close()

    def blo(self, *args: str, input: str | None = None, timeout: float = 300,
            **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "blo", *args], env=self.env(**env), check=False,
                              input=input, capture_output=True, text=True, timeout=timeout,
                              cwd=self.workdir)

    def worker(self, **env: str) -> WorkerProc:
        w = WorkerProc(self, env)
        self.workers.append(w)
        return w

    def kill_workers(self) -> None:
        """Teardown: no worker outlives its test, whatever the test's outcome."""
        for w in self.workers:
            if w.alive():
                w.kill()

    def produce(self, records: Iterable[tuple[bytes | None, bytes]], topic: str | None = None
                ) -> int:
        p = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                          max_request_size=4 * 1024 * 1024)
        n = 0
        for k, v in records:
            p.send(topic or self.topic_raw, key=k, value=v)
            n += 1
        p.flush()
        p.close()
        return n

    def produce_positions(self, records: Iterable[tuple[bytes | None, bytes]],
                          topic: str | None = None) -> list[tuple[int, int]]:
        """Send in order; return each record's (partition, offset) as the broker gave it."""
        p = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                          max_request_size=4 * 1024 * 1024)
        try:
            futures = [p.send(topic or self.topic_raw, key=k, value=v) for k, v in records]
            p.flush()
            return [(md.partition, md.offset) for md in (f.get(timeout=60) for f in futures)]
        finally:
            p.close()

    def load_stations(self, stations: list[dict[str, Any]]) -> None:
        self.produce(((s["station_id"].encode(), json.dumps(s).encode()) for s in stations),
                     topic=self.topic_stations)

    def committed_total(self) -> int:
        """Sum of the raw consumer group's committed offsets on the raw topic (0 where
        none)."""
        c = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.raw_group_id,
                          enable_auto_commit=False)
        try:
            total = 0
            for p in range(self.partitions):
                off = c.committed(TopicPartition(self.topic_raw, p))
                total += off or 0
            return total
        finally:
            c.close()

    def read_dlq_topic(self, expected: int, timeout: float = 60) -> list[dict[str, Any]]:
        c = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                          enable_auto_commit=False, consumer_timeout_ms=2000)
        tps = [TopicPartition(self.topic_dlq, p) for p in range(self.partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            for m in c:
                out.append(json.loads(m.value))
        c.close()
        return out


class WorkerProc:
    def __init__(self, pipeline: Pipeline, env: dict[str, str]) -> None:
        self.pipeline = pipeline
        log = pipeline.workdir / f"worker-{time.monotonic_ns()}.log"
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in wait/kill
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "blo", "worker", "--migrate"], env=pipeline.env(**env),
            stdout=self._log, stderr=subprocess.STDOUT, cwd=pipeline.workdir,
        )
        self.base = f"http://127.0.0.1:{pipeline.web_port}"

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(self.base + path, timeout=3) as r:
                return bytes(r.read())
        except OSError as e:
            if hasattr(e, "read"):
                return bytes(e.read())
            return None

    def wait_ready(self, timeout: float = 90) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log_tail()}")
            body = self._get("/readyz")
            return bool(body) and json.loads(body).get("ready") is True

        try:
            wait_for(ready, timeout, "worker readiness")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.log_tail()}") from None

    def metrics(self) -> dict[str, float]:
        """name{labels} → value, plus name → sum over labels."""
        body = self._get("/metrics")
        out: dict[str, float] = {}
        if not body:
            return out
        for line in body.decode().splitlines():
            m = _METRIC.match(line)
            if not m:
                continue
            name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
            out[name + labels] = value
            out[name] = out.get(name, 0.0) + value if labels else value
        return out

    def metric(self, name: str, **labels: str) -> float:
        """Sum of ``name`` over the series whose labels include ``labels`` (0 if none)."""
        values = self.metrics()
        if not labels:
            return values.get(name, 0.0)
        total = 0.0
        for key, value in values.items():
            base, brace, rest = key.partition("{")
            if base == name and brace:
                got = dict(_LABEL.findall(rest))
                if all(got.get(k) == v for k, v in labels.items()):
                    total += value
        return total

    def query(self, sql: str) -> list[list[Any]]:
        """Rows of a read-only query through the worker's admin door (embedded mode), with
        the key the worker wrote into its chDB directory, as ``blo query`` does."""
        target = parse_clickhouse_url(self.pipeline.clickhouse_url)
        path = Path(str(target.path))
        key = ((path if path.is_absolute() else self.pipeline.workdir / path)
               / KEY_FILE).read_text().split("\n")[0]
        req = urllib.request.Request(self.base + "/api/query", data=json.dumps(
            {"sql": sql}).encode(), headers={HEADER: key}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                doc = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"/api/query: {e.code} {e.read()[:300]!r}") from None
        except OSError as e:
            raise AssertionError(f"the worker's /api/query did not answer: {e}") from None
        return list(doc["rows"])

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.wait(30)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def alive(self) -> bool:
        return self.proc.poll() is None


def station(station_id: str, country: str, neighbour: str, tz: str, **kw: Any) -> dict[str, Any]:
    d = {"station_id": station_id, "name": station_id.title(), "country": country,
         "agency": "border_guard", "crossing_point": f"{station_id} crossing",
         "neighbour_country": neighbour, "paired_blo": None, "lat": 40.0, "lon": 70.0,
         "tz": tz, "coord_source": "test", "coord_approximate": True,
         "valid_from": "2018-01-01T00:00:00Z", "active": True}
    d.update(kw)
    return d


TEST_STATIONS = [
    station("KZ-T1", "KZ", "KG", "Asia/Almaty"),
    station("KG-T1", "KG", "KZ", "Asia/Bishkek"),
    station("TJ-T1", "TJ", "AF", "Asia/Dushanbe"),
    station("UZ-T1", "UZ", "TJ", "Asia/Tashkent"),
]


def crossing(station_id: str, seq: int, *, event_id: str | None = None,
             at: datetime | None = None, persons: int = 1) -> dict[str, Any]:
    at = at or datetime.now(UTC).replace(microsecond=0)
    return {"event_id": event_id or str(uuid.uuid4()), "schema_version": 1,
            "event_type": "crossing", "station_id": station_id,
            "occurred_at": at.isoformat(), "reported_at": at.isoformat(), "source_seq": seq,
            "direction": "inbound", "subject": "person", "mode": "pedestrian",
            "persons": persons, "vehicles": 0, "vehicle_class": "none",
            "document_check": "passed"}
