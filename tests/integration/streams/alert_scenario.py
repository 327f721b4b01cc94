"""Scenario builders for the alert tests (test_alerts.py): stations, a rules file, a windows
configuration, events published at wall-clock times by a background "heartbeat", the expected
alerts computed independently of streams/alerts, a local webhook receiver and readers of the
alerts table and topic.

The expected alerts restate docs/alerts.md with nothing of ``streams.alerts``: ids are
``uuid5(ALERT_NAMESPACE, f"{rule_id}|{scope_key}|{instant}")``, ``instant`` being the firing
window's start (threshold), the last event before the silence, the event time of the first
number after a gap, or the start of the paired span bucket.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.integration.streams.harness import Pipeline, crossing, station
from tests.integration.streams.window_oracle import seizure

ALERT_NAMESPACE = UUID("ea5cbb95-d5c3-5fd4-90d0-d75c3207094f")
assert ALERT_NAMESPACE == uuid.uuid5(uuid.NAMESPACE_URL, "urn:blo-stream:alert")


def expected_id(rule_id: str, scope_key: str, instant: int | str) -> str:
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{rule_id}|{scope_key}|{instant}"))


# -- stations, rules, windows -----------------------------------------------------------------

SPIKE, SILENT, GAPPY, PAIR_TJ, PAIR_AF = "UZ-P1", "KZ-S1", "KG-G1", "TJ-A1", "AF-A1"

STATIONS = [
    station(SPIKE, "UZ", "TJ", "Asia/Tashkent"),
    station(SILENT, "KZ", "KG", "Asia/Almaty"),
    station(GAPPY, "KG", "KZ", "Asia/Bishkek"),
    station(PAIR_TJ, "TJ", "AF", "Asia/Dushanbe", paired_blo=PAIR_AF),
    station(PAIR_AF, "AF", "TJ", "Asia/Kabul", paired_blo=PAIR_TJ),
]

R_SPIKE, R_SILENCE, R_GAP, R_PAIRED = "spike-kg-1m", "silence-30s", "seq-gap", "paired-seizure"
SILENCE_S = 30
REORDER_S = 5
SPAN_S = 300
RAISE_KG = 50

RULES_YAML = f"""\
version: 1
rules:
  - id: {R_SPIKE}
    name: Seizure spike at a post
    severity: critical
    labels: {{team: drugs}}
    message: "{{station_id}}: {{value:.1f}} kg between {{window_start}} and {{window_end}}"
    kind: threshold
    statistic: seizure_kg
    window: 1m
    scope: station
    filters: {{event_type: seizure}}
    op: ">="
    raise: {RAISE_KG}
    settle_s: 5
  - id: {R_SILENCE}
    name: Post silent
    severity: warning
    labels: {{team: operations}}
    message: "{{station_id}} has sent nothing since {{last_event_at}}"
    kind: silence
    silence_s: {SILENCE_S}
    active_within_s: 3600
  - id: {R_GAP}
    name: Reports lost
    severity: warning
    labels: {{team: operations}}
    message: "{{station_id}}: reports {{gap_from}} to {{gap_to}} ({{gap_size}}) are missing"
    kind: sequence_gap
    min_gap: 1
    max_gap: 1000
    reorder_s: {REORDER_S}
  - id: {R_PAIRED}
    name: Seizures at both posts of a pair
    severity: critical
    labels: {{team: liaison}}
    message: "{{station_a}} and {{station_b}}: seizures within {{span_s}} s"
    kind: paired
    event_types: [seizure]
    span_s: {SPAN_S}
"""

GAP_ONLY_YAML = f"""\
version: 1
rules:
  - id: {R_GAP}
    name: Reports lost
    severity: warning
    labels: {{team: operations}}
    message: "{{station_id}}: reports {{gap_from}} to {{gap_to}} are missing"
    kind: sequence_gap
    min_gap: 1
    max_gap: 1000
    reorder_s: 2
"""


def write_config(tmp: Path, rules_yaml: str) -> tuple[Path, Path]:
    """(rules file, windows config): one-minute tumbling windows that close within seconds."""
    rules = tmp / "rules.yaml"
    rules.write_text(rules_yaml)
    windows = tmp / "windows.json"
    windows.write_text(json.dumps({
        "windows": [{"name": "1m", "kind": "tumbling", "size_s": 60}],
        "out_of_orderness_s": 3, "grace_s": 2, "allowed_lateness_s": 3600,
        "idle_timeout_s": 5, "provisional_interval_s": 1}))
    return rules, windows


def alert_env(p: Pipeline, tmp: Path, rules_yaml: str, webhook_url: str, **extra: str
              ) -> dict[str, str]:
    rules, windows = write_config(tmp, rules_yaml)
    # the pipeline's own topics (alert input, alerts, windows) come with p.env()
    env = {"BLO_ALERTS_RULES": str(rules), "BLO_WINDOWS_CONFIG": str(windows),
           "BLO_ALERTS_WEBHOOK_URL": webhook_url,
           "BLO_ALERTS_TICK_INTERVAL_S": "0.5"}
    env.update(extra)
    return env


# -- events ---------------------------------------------------------------------------------

def _iso(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class Feed:
    """Publishes events with per-station ``source_seq`` numbers (one producer, so each
    station's events stay in order), and a heartbeat thread: one crossing per active station
    every ``every_s`` seconds at the current time, so that only stations taken out of
    :attr:`active` fall silent. ``skip(station)`` makes the next number of a station go
    missing (a lost report)."""

    def __init__(self, p: Pipeline, every_s: float = 1.0) -> None:
        self.p = p
        self.every_s = every_s
        self.producer = KafkaProducer(bootstrap_servers=p.bootstrap, acks="all", linger_ms=5)
        self.seq: dict[str, int] = {}
        self.active: set[str] = set()
        self.lock = threading.Lock()
        self.on_beat: Callable[[Feed, int, int], None] | None = None  # (feed, round, now)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.sent = 0

    def next_seq(self, station_id: str) -> int:
        n = self.seq[station_id] = self.seq.get(station_id, 0) + 1
        return n

    def skip(self, station_id: str) -> int:
        """The next number of ``station_id`` is never sent; returns it."""
        with self.lock:
            return self.next_seq(station_id)

    def _event_id(self) -> str:
        return f"00000000-0000-4000-a000-{uuid.uuid4().int % 10**12:012d}"

    def cross(self, station_id: str, t: int) -> dict[str, Any]:
        return crossing(station_id, self.next_seq(station_id), at=_iso(t),
                        event_id=self._event_id())

    def seize(self, station_id: str, t: int, kg: float) -> dict[str, Any]:
        return seizure(station_id, self.next_seq(station_id), at=_iso(t), drug="heroin", kg=kg,
                       arrests=0, event_id=self._event_id())

    def send(self, make: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Number and publish the events ``make`` builds (under the lock: numbers and
        publication order agree), and flush."""
        with self.lock:
            events = make()
            for e in events:
                self.producer.send(self.p.topic_raw, key=e["station_id"].encode(),
                                   value=json.dumps(e).encode())
            self.producer.flush()
            self.sent += len(events)
        return events

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rounds = itertools.count()
        while not self._stop.wait(self.every_s):
            now = int(time.time())
            i = next(rounds)
            if self.on_beat is not None:
                self.on_beat(self, i, now)
            self.send(lambda now=now: [self.cross(s, now) for s in sorted(self.active)])

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.producer.close()


# -- expected alerts ------------------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    """What one alert version must say (the fields the scenario determines)."""

    alert_id: str
    version: int
    rule_id: str
    state: str
    scope_key: str
    value: float
    fired_at: int
    resolved_at: int = 0
    acked: bool = False
    window_start: int | None = None
    window_end: int | None = None


@dataclass
class Scenario:
    """The four conditions of the issue over the stations above; times are relative to
    ``t0`` (wall clock when the scenario starts, whole seconds)."""

    t0: int
    feed: Feed
    expected: dict[tuple[str, int], Version] = field(default_factory=dict)
    silence_last: int = 0
    gap_id: str = ""
    silence_id: str = ""

    def history(self, *, with_paired_af: bool = True) -> None:
        """Everything up to ``t0``, then the heartbeat of every station but the silent one.

        * UZ-P1: crossings, 60 kg at t0-150 (minute W1 fires), 3 kg at t0-90 (a later
          minute below the threshold resolves it);
        * KG-G1: numbers 1-10 at t0-200.., 11-13 never sent, 14.. from t0-100: one gap;
        * KZ-S1: three events ending at t0-20, then nothing (silent from t0+10);
        * TJ-A1: 5 kg at t0-400; AF-A1: 4 kg at t0-390, reported late (after its crossings):
          one paired alert, resolved 300 s after it fired (t0-90), i.e. at once;
        * every busy station reports every 20 s before t0 and every second after.
        """
        t0, f = self.t0, self.feed

        def make() -> list[dict[str, Any]]:
            plan: list[tuple[int, str, float]] = [(t0 - 400, PAIR_TJ, 5.0)]  # kg 0: crossing
            for t in range(t0 - 200, t0 + 1, 20):
                plan += [(t, SPIKE, 0.0), (t, PAIR_TJ, 0.0), (t, PAIR_AF, 0.0)]
            plan += [(t0 - 150, SPIKE, 60.0), (t0 - 90, SPIKE, 3.0)]
            plan += [(t, GAPPY, 0.0) for t in range(t0 - 200, t0 + 1, 10)
                     if not t0 - 110 < t < t0 - 100]  # numbers 1-10, then 14-24
            plan += [(t, SILENT, 0.0) for t in (t0 - 22, t0 - 21, t0 - 20)]
            ev: list[dict[str, Any]] = []
            for t, sid, kg in sorted(plan):  # each station's events in time order
                if sid == GAPPY and f.seq.get(GAPPY) == 10:
                    f.seq[GAPPY] = 13  # reports 11-13 are lost on the way
                ev.append(f.seize(sid, t, kg) if kg else f.cross(sid, t))
            if with_paired_af:  # reported late: after the crossings that followed it
                ev.append(f.seize(PAIR_AF, t0 - 390, 4.0))
            return ev

        f.send(make)
        self.silence_last = t0 - 20
        f.active |= {SPIKE, GAPPY, PAIR_TJ, PAIR_AF}
        self._expect()

    def paired_af(self) -> None:
        """AF-A1's late report of its seizure at t0-390 (when the history left it out)."""
        self.feed.send(lambda: [self.feed.seize(PAIR_AF, self.t0 - 390, 4.0)])

    def _expect(self) -> None:
        t0 = self.t0
        w1 = (t0 - 150) // 60 * 60
        w2 = (t0 - 90) // 60 * 60
        spike = expected_id(R_SPIKE, SPIKE, w1)
        self._add(Version(spike, 1, R_SPIKE, "firing", SPIKE, 60.0, t0 - 150,
                          window_start=w1, window_end=w1 + 60))
        self._add(Version(spike, 2, R_SPIKE, "resolved", SPIKE, 3.0, t0 - 150, w2 + 60,
                          window_start=w2, window_end=w2 + 60))
        t10, t14 = t0 - 110, t0 - 100
        key = f"{GAPPY}:11-13"
        self.gap_id = gap = expected_id(R_GAP, key, t14)
        self._add(Version(gap, 1, R_GAP, "firing", key, 3.0, t14, window_start=t10,
                          window_end=t14))
        bucket = (t0 - 400) // SPAN_S * SPAN_S
        pair_key = f"{PAIR_AF}+{PAIR_TJ}"
        paired = expected_id(R_PAIRED, pair_key, bucket)
        self._add(Version(paired, 1, R_PAIRED, "firing", pair_key, 10.0, t0 - 390,
                          window_start=bucket, window_end=bucket + SPAN_S))
        self._add(Version(paired, 2, R_PAIRED, "resolved", pair_key, 10.0, t0 - 390,
                          t0 - 390 + SPAN_S, window_start=bucket, window_end=bucket + SPAN_S))
        last = self.silence_last
        self.silence_id = sil = expected_id(R_SILENCE, SILENT, last)
        self._add(Version(sil, 1, R_SILENCE, "firing", SILENT, float(SILENCE_S),
                          last + SILENCE_S, window_start=last, window_end=0))

    def resume_silent(self) -> int:
        """KZ-S1 reports again (one event now): the silence resolves at that time."""
        now = int(time.time())
        self.feed.send(lambda: [self.feed.cross(SILENT, now)])
        last = self.silence_last
        self._add(Version(self.silence_id, 2, R_SILENCE, "resolved", SILENT, float(now - last),
                          last + SILENCE_S, now, window_start=last, window_end=now))
        return now

    def expect_ack(self, alert_id: str) -> None:
        latest = max((v for v in self.expected.values() if v.alert_id == alert_id),
                     key=lambda v: v.version)
        self._add(Version(alert_id, latest.version + 1, latest.rule_id, latest.state,
                          latest.scope_key, latest.value, latest.fired_at, latest.resolved_at,
                          True, latest.window_start, latest.window_end))

    def _add(self, v: Version) -> None:
        self.expected[(v.alert_id, v.version)] = v

    def final_view(self) -> dict[str, tuple[int, str]]:
        """alert id → (latest version, state): what ``alerts FINAL`` must hold."""
        out: dict[str, tuple[int, str]] = {}
        for (aid, ver), v in self.expected.items():
            if aid not in out or ver > out[aid][0]:
                out[aid] = (ver, v.state)
        return out


# -- webhook receiver -----------------------------------------------------------------------

@dataclass
class Post:
    headers: dict[str, str]
    body: bytes
    answered: int  # the status sent, 0 when the request was left hanging


class WebhookReceiver:
    """A local HTTP server (a thread of the test process) recording every POST.

    ``behaviour(n)`` decides the answer to the n-th request (0-based): a status code, or
    ``"hang"`` — hold the request until :meth:`release` (the worker times out first)."""

    def __init__(self, behaviour: Callable[[int], int | str] = lambda n: 200) -> None:
        self.behaviour = behaviour
        self.posts: list[Post] = []
        self.hanging = 0  # requests being held right now
        self.hung_total = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with receiver._lock:
                    index = len(receiver.posts)
                    action = receiver.behaviour(index)
                    post = Post({k.lower(): v for k, v in self.headers.items()}, body, 0)
                    receiver.posts.append(post)
                    if action == "hang":
                        receiver.hanging += 1
                        receiver.hung_total += 1
                if action == "hang":
                    receiver._release.wait(120)
                    with receiver._lock:
                        receiver.hanging -= 1
                    status = 200
                else:
                    status = int(action)
                    post.answered = status
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the worker gave up on a hung request and closed the connection

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/blo?token=s3cret"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def pairs(self) -> set[tuple[str, int]]:
        """Distinct (alert id, version) of the bodies received."""
        with self._lock:
            posts = list(self.posts)
        out = set()
        for post in posts:
            doc = json.loads(post.body)
            out.add((doc["alert_id"], int(doc["version"])))
        return out

    def snapshot(self) -> list[Post]:
        with self._lock:
            return list(self.posts)

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


# -- readers --------------------------------------------------------------------------------

ALERT_COLUMNS = ("toString(alert_id), version, rule_id, state, scope_key, station_id, "
                 "toUInt32(window_start), toUInt32(window_end), value, threshold, "
                 "toUInt32(fired_at), toUInt32(resolved_at), acked, acked_by, "
                 "toUInt32(acked_at), ack_comment, toUInt32(updated_at), message, kind, "
                 "severity, scope, window_kind, provisional, labels, rule_name")


def table_final(db: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.query(
        f"SELECT {ALERT_COLUMNS} FROM {db.database}.alerts FINAL ORDER BY alert_id")]


def table_raw(db: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.query(
        f"SELECT {ALERT_COLUMNS} FROM {db.database}.alerts ORDER BY alert_id, version")]


def read_topic(bootstrap: str, topic: str, idle_ms: int = 1500) -> list[tuple[bytes, bytes]]:
    """Every record of a one-partition topic, from the beginning (no consumer group)."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      consumer_timeout_ms=idle_ms)
    try:
        if not c.partitions_for_topic(topic):
            return []
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        return [(m.key, m.value) for m in c]
    finally:
        c.close()
