"""The nearest peer: the BLO ingest job written with Quix Streams 3.28, bench-only.

Runs in its own virtualenv (``bench/quix/setup.sh`` → ``bench/.venv-quix``: Quix Streams
3.28 pins pydantic < 2.14, the project uses 2.14) with the repository on ``PYTHONPATH``, so
it validates with the project's own models (``schemas.parse.parse_event``, pydantic 2.13
here) and hashes with ``schemas.identity.canonical_json_and_hash``. ``pipeline_bench.py``
starts it (its (q) and (r)) on the same backlog as the worker's (c) and (d):

- the raw topic's values are JSON events or JSON arrays of events (``expand``);
- each event is validated and becomes a row (event id, station, type, source_seq, event
  and report times, body hash, canonical payload); a ``BatchingSink`` inserts each
  checkpoint's rows into ``<db>.events`` with clickhouse-driver (columnar), so rows are
  written before the offsets are committed, as in the project;
- one tumbling window (1 hour of event time per station: events and persons),
  ``.final()``, into ``<db>.window_stats`` through a second ``BatchingSink``;
- checkpoints every second (``commit_interval=1.0``), at-least-once.

What it does less than ``blo worker``: no conflict lookup, no enrichment from the station
registry, no DLQ, no alerts, one window kind instead of five; no changelog topics (the
bench measures throughput, not recovery).

Tansu answers neither DescribeConfigs nor the topic-config part of Quix's topic check, so
``TopicAdmin.inspect_topics`` is replaced here by one that reads partitions from the
metadata (the only difference to a real Kafka; it changes nothing on the data path).

    PYTHONPATH=REPO bench/.venv-quix/bin/python bench/quix/job.py --bootstrap H:P \\
        --topic T --group G --clickhouse H:PORT --db DB --expect N --result OUT.json

When the sinks have written ``--expect`` event rows, it writes ``OUT.json`` (times and CPU
seconds of the first event processed and of the last rows written) and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from clickhouse_driver import Client
from quixstreams import Application
from quixstreams.models.topics.admin import TopicAdmin
from quixstreams.models.topics.topic import TopicConfig
from quixstreams.sinks import BatchingSink, SinkBatch

from schemas.identity import canonical_json_and_hash
from schemas.parse import EventRejected, parse_event

EVENT_COLUMNS = ("event_id", "station_id", "event_type", "source_seq", "occurred_at",
                 "reported_at", "body_hash", "payload")


def _inspect_topics(self: TopicAdmin, topic_names: list[str],
                    timeout: float = 30) -> dict[str, TopicConfig | None]:
    cluster = self.list_topics(timeout=timeout)
    return {t: (TopicConfig(num_partitions=len(cluster[t].partitions), replication_factor=1,
                            extra_config={"retention.ms": "-1", "retention.bytes": "-1"})
                if t in cluster else None) for t in topic_names}


TopicAdmin.inspect_topics = _inspect_topics  # type: ignore[method-assign]


class State:
    def __init__(self, expect: int, result: Path) -> None:
        self.expect, self.result = expect, result
        self.t_first: float | None = None
        self.cpu_first = 0.0
        self.rows = 0
        self.rejected = 0
        self.windows = 0
        self.app: Application | None = None

    def first(self) -> None:
        if self.t_first is None:
            self.t_first = time.monotonic()
            self.cpu_first = _cpu()

    def written(self, n: int) -> None:
        self.rows += n
        if self.rows + self.rejected >= self.expect and self.app is not None:
            assert self.t_first is not None
            self.result.write_text(json.dumps({
                "t_first": self.t_first, "t_last": time.monotonic(), "cpu_first": self.cpu_first,
                "cpu_last": _cpu(), "rows": self.rows, "rejected": self.rejected,
                "windows": self.windows}))
            self.app.stop()


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


class EventsSink(BatchingSink):
    """Each checkpoint's event rows → one columnar INSERT per partition batch."""

    def __init__(self, client: Client, db: str, state: State) -> None:
        super().__init__()
        self.client, self.db, self.state = client, db, state

    def write(self, batch: SinkBatch) -> None:
        rows = [item.value for item in batch]
        if not rows:
            return
        columns = [list(c) for c in zip(*rows, strict=True)]
        self.client.execute(f"INSERT INTO {self.db}.events ({', '.join(EVENT_COLUMNS)}) VALUES",
                            columns, columnar=True)
        self.state.written(len(rows))


class WindowSink(BatchingSink):
    def __init__(self, client: Client, db: str, state: State) -> None:
        super().__init__()
        self.client, self.db, self.state = client, db, state

    def write(self, batch: SinkBatch) -> None:
        rows = [(item.key.decode() if isinstance(item.key, bytes) else str(item.key),
                 datetime.fromtimestamp(item.value["start"] / 1000, UTC),
                 item.value["value"]["events"], item.value["value"]["persons"])
                for item in batch]
        if rows:
            self.client.execute(f"INSERT INTO {self.db}.window_stats "
                                "(station_id, window_start, events, persons) VALUES", rows)
            self.state.windows += len(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--clickhouse", required=True, help="host:tcp_port")
    ap.add_argument("--db", required=True)
    ap.add_argument("--expect", type=int, required=True, help="events to write, then stop")
    ap.add_argument("--result", type=Path, required=True)
    ap.add_argument("--state-dir", type=Path, default=Path("quix-state"))
    args = ap.parse_args()
    host, port = args.clickhouse.rsplit(":", 1)
    client = Client(host=host, port=int(port), user="default", send_receive_timeout=120)
    client.execute(f"CREATE DATABASE IF NOT EXISTS {args.db}")
    client.execute(f"""CREATE TABLE IF NOT EXISTS {args.db}.events (event_id UUID,
        station_id String, event_type String, source_seq UInt64, occurred_at DateTime('UTC'),
        reported_at DateTime('UTC'), body_hash String, payload String)
        ENGINE = ReplacingMergeTree ORDER BY (station_id, event_id)""")
    client.execute(f"""CREATE TABLE IF NOT EXISTS {args.db}.window_stats (station_id String,
        window_start DateTime('UTC'), events UInt64, persons UInt64)
        ENGINE = ReplacingMergeTree ORDER BY (station_id, window_start)""")
    state = State(args.expect, args.result)
    app = Application(broker_address=args.bootstrap, consumer_group=args.group,
                      auto_offset_reset="earliest", commit_interval=1.0,
                      state_dir=str(args.state_dir), use_changelog_topics=False,
                      loglevel="WARNING")
    state.app = app
    topic = app.topic(args.topic, value_deserializer="bytes", key_deserializer="bytes")
    skew = timedelta(minutes=5)

    def rows(raw: bytes) -> list[tuple[Any, ...]]:
        state.first()
        obj = orjson.loads(raw)
        out = []
        now = datetime.now(UTC)
        for o in obj if isinstance(obj, list) else (obj,):
            try:
                ev = parse_event(o, now=now, max_future_skew=skew)
            except EventRejected:
                state.rejected += 1
                continue
            payload, body_hash = canonical_json_and_hash(ev)
            persons = getattr(ev, "persons", None) or 0
            out.append((ev.event_id, ev.station_id, ev.event_type, ev.source_seq,
                        ev.occurred_at, ev.reported_at, body_hash, payload, persons))
        return out

    sdf = app.dataframe(topic)
    sdf = sdf.apply(rows, expand=True)
    sdf = sdf.set_timestamp(lambda value, key, ts, headers: int(value[4].timestamp() * 1000))
    sdf.apply(lambda r: r[:8]).sink(EventsSink(client, args.db, state))
    win = sdf.apply(lambda r: {"persons": r[8]})
    win = win.tumbling_window(timedelta(hours=1)).reduce(
        reducer=lambda agg, v: {"events": agg["events"] + 1, "persons": agg["persons"] + v["persons"]},
        initializer=lambda v: {"events": 1, "persons": v["persons"]}).final()
    win.sink(WindowSink(client, args.db, state))
    app.run()
    return 0 if args.result.exists() else 1


if __name__ == "__main__":
    sys.exit(main())
