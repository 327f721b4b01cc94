"""The alert runtime in-process against each real engine (ClickHouse server 18.16, chDB):
commit after write, restore from ClickHouse, and no new (id, version) when the same input
is read again after a restart; the baseline history read from ``window_stats``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from blo.metrics import Metrics
from blo.settings import AlertSettings, BatchSettings
from schemas.alert_input import partition_progress_record
from sinks.base import Database, Row
from sinks.batching import BatchingSink
from sinks.tables import ALERTS, EVENTS, WINDOW_STATS
from streams.alert_baseline import BaselineHistory
from streams.alert_input import station_progress_record, window_input_records
from streams.alert_runtime import AlertRuntime
from streams.alerts import load_rules
from streams.windows import WindowConfig
from tests.unit.streams.alerts.factories import wrow
from tests.unit.streams.test_ingest import event, processor, record, registry, run

H = 3600
WEEK = 7 * 86_400
START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # a Monday, on the hour
T0 = int(START.timestamp())


def _event_rows() -> list[Row]:
    """KZ-KORDAI numbers 1-5 and 9-10 (6-8 lost), seizures at both posts of the
    KZ-KORDAI / KG-AK-JOL pair an hour apart, TJ-PYANJ crossings."""
    evs = []
    for i, seq in enumerate([1, 2, 3, 4, 5, 9, 10]):
        t = START + timedelta(minutes=10 * i)
        evs.append(event("KZ-KORDAI", occurred_at=t.isoformat(), reported_at=t.isoformat(),
                         source_seq=seq))
    for st, minutes, seq in (("KZ-KORDAI", 75, 11), ("KG-AK-JOL", 135, 1)):
        t = START + timedelta(minutes=minutes)
        evs.append(event(st, event_type="seizure", occurred_at=t.isoformat(),
                         reported_at=t.isoformat(), source_seq=seq))
    for i in range(6):
        t = START + timedelta(minutes=30 * i)
        evs.append(event("TJ-PYANJ", occurred_at=t.isoformat(), reported_at=t.isoformat(),
                         source_seq=100 + i))
    out = run(processor(), [record(e) for e in evs], now=START + timedelta(days=1))
    assert not out.dead_letters, out.dead_letters
    return out.event_rows


def _window_rows() -> list[Row]:
    """Four weeks of hourly refused-crossing history at TJ-PYANJ, then the scenario's hours:
    a 60 kg heroin hour at TJ-PYANJ (fires the 50 kg rule) and 25 refusals (above its
    usual 2-4: fires the baseline rule)."""
    rows = []
    for week, refused in zip((4, 3, 2, 1), (2, 3, 4, 3), strict=True):
        rows.append(wrow(T0 - week * WEEK, station="TJ-PYANJ", event_type="crossing",
                         dimension="", refused=refused, events=refused * 5, version=1))
    rows.append(wrow(T0, station="TJ-PYANJ", event_type="seizure", dimension="heroin",
                     seizure_kg=60.0, version=1))
    rows.append(wrow(T0, station="TJ-PYANJ", event_type="crossing", dimension="",
                     refused=25, events=40, version=1))
    rows.append(wrow(T0 + H, station="TJ-PYANJ", event_type="seizure", dimension="heroin",
                     seizure_kg=1.0, version=1))
    return rows


def _faust_event(value: bytes, offset: int) -> Any:
    """What the Faust agent hands over: the record value and its position."""
    return SimpleNamespace(value=value, message=SimpleNamespace(
        topic="alert-input", partition=0, offset=offset))


def _inputs(event_rows: list[Row], window_rows: list[Row], now: float) -> list[Any]:
    values = [v for _, v in window_input_records(window_rows)]
    values.append(station_progress_record(event_rows, frozenset({"seizure", "incident"}))[1])  # type: ignore[index]
    values.append(partition_progress_record({0: True}, now)[1])
    return [_faust_event(v, i) for i, v in enumerate(values)]


def _runtime(db: Database, sink: BatchingSink, now: float) -> AlertRuntime:
    return AlertRuntime(
        settings=AlertSettings(), window_config=WindowConfig(), registry=registry(),
        sink=sink, database=db.database, metrics=Metrics(), produce=_no_produce,
        alerts_topic=None, raw_partitions=1, clock=lambda: now)


async def _no_produce(topic: str, key: bytes, value: bytes) -> None:
    raise AssertionError("no topic configured, nothing may be produced")


def _alerts(db: Database, final: bool = True) -> list[tuple[str, int, str, str]]:
    rows = db.query(f"SELECT toString(alert_id), version, rule_id, state FROM "
                    f"{db.database}.alerts {'FINAL' if final else ''} "
                    "ORDER BY rule_id, alert_id, version")
    return [(str(a), int(v), str(r), str(s)) for a, v, r, s in rows]


def test_restored_engine_writes_nothing_new_for_input_read_again(engine_db: Database) -> None:
    db = engine_db
    event_rows, window_rows = _event_rows(), _window_rows()
    db.insert("events", EVENTS.column_names, event_rows)
    db.insert("window_stats", WINDOW_STATS.column_names, window_rows)
    now = float(T0 + 2 * H + 45 * 60)  # 35 min after KG-AK-JOL's seizure, all posts silent

    async def first_run() -> tuple[list[Any], list[Any]]:
        sink = BatchingSink(db, BatchSettings(), Metrics(), close_db=False)
        rt = _runtime(db, sink, now)
        await rt.restore()  # an empty alerts table: a fresh engine
        acked: list[Any] = []

        async def ack(h: Any) -> None:
            acked.append(h)

        events = _inputs(event_rows, window_rows, now)
        await rt.handle(events, ack)
        await rt.tick(input_caught_up=True)
        await sink.flush()
        assert [h.message.offset for h in acked] == [e.message.offset for e in events]
        open_ids = sorted(str(a.alert_id) for a in rt.engine.open_alerts())  # type: ignore[union-attr]
        await sink.close()
        return events, open_ids

    events, open_before = asyncio.run(first_run())
    written = _alerts(db)
    rules = {r for _, _, r, _ in written}
    # the spike, the baseline, the lost numbers 6-8, the pair, and silence of every post
    assert {"seizure-kg-station-1h", "refused-crossings-baseline-1h", "sequence-gap",
            "paired-seizure-incident-6h", "station-silence-30m"} <= rules, written
    gap = [a for a in written if a[2] == "sequence-gap"]
    assert len(gap) == 1
    raw_before = _alerts(db, final=False)

    async def after_restart() -> list[str]:
        sink = BatchingSink(db, BatchSettings(), Metrics(), close_db=False)
        rt = _runtime(db, sink, now)
        await rt.restore()

        async def ack(h: Any) -> None:
            pass

        await rt.handle(events, ack)  # redelivered: offsets were never committed
        await rt.tick(input_caught_up=True)
        await sink.flush()
        open_ids = sorted(str(a.alert_id) for a in rt.engine.open_alerts())  # type: ignore[union-attr]
        await sink.close()
        return open_ids

    assert asyncio.run(after_restart()) == open_before
    assert _alerts(db, final=False) == raw_before  # not one row more: same ids, same versions
    assert _alerts(db) == written


def test_baseline_history_reads_past_weeks_and_tells_missing_from_zero(
        engine_db: Database) -> None:
    db = engine_db
    rows = _window_rows()
    # a second post that reported crossings in weeks 1-2 only, never refusing anyone
    for week in (2, 1):
        rows.append(wrow(T0 - week * WEEK, station="KZ-KORDAI", event_type="crossing",
                         dimension="", refused=0, events=9, version=1))
    db.insert("window_stats", WINDOW_STATS.column_names, rows)
    ruleset = load_rules(Path("blo/data/rules.yaml"))
    [rule] = [r for r in ruleset.rules if r.id == "refused-crossings-baseline-1h"]

    async def main() -> tuple[int, int, Sequence[float], Sequence[float], Sequence[float]]:
        sink = BatchingSink(db, BatchSettings(), Metrics(), close_db=False)
        history = BaselineHistory(lambda sql, p: sink.query(sql, p, table="alerts"),
                                  db.database)
        now_rows = [wrow(T0, station=s, event_type="crossing", dimension="", refused=1)
                    for s in ("TJ-PYANJ", "KZ-KORDAI")]
        n1 = await history.prefetch(ruleset, now_rows)
        n2 = await history.prefetch(ruleset, now_rows)  # cached: no second query
        got = (history(rule, "TJ-PYANJ", T0), history(rule, "KZ-KORDAI", T0),
               history(rule, "UZ-NEW", T0))  # type: ignore[arg-type]
        await sink.close()
        return n1, n2, *got

    n1, n2, tj, kz, unknown = asyncio.run(main())
    assert (n1, n2) == (1, 0)
    assert list(tj) == [3.0, 4.0, 3.0, 2.0]  # weeks 1..4 back, most recent first
    assert list(kz) == [0.0, 0.0]  # reporting, no refusals: 0; weeks 3-4 did not exist
    assert list(unknown) == []
    _ = ALERTS  # the table the runtime writes (checked in the test above)


def test_a_number_reported_late_is_not_taken_for_lost_after_a_restart(
        engine_db: Database) -> None:
    """KZ-KORDAI's report 6 arrives late, carrying an event time two hours older than its
    neighbours 5 and 7. The restarted engine primes its count from the stored numbers
    around where it resumes (by event time); 6 must be among them."""
    db = engine_db

    def rows(spec: list[tuple[int, datetime]]) -> list[Row]:
        evs = [event("KZ-KORDAI", occurred_at=t.isoformat(), reported_at=t.isoformat(),
                     source_seq=seq) for seq, t in spec]
        out = run(processor(), [record(e) for e in evs], now=START + timedelta(days=1))
        assert not out.dead_letters
        return out.event_rows

    at = [(seq, START + timedelta(minutes=80 + seq)) for seq in range(1, 6)]
    first = rows([*at, (6, START - timedelta(hours=2)), (7, START + timedelta(minutes=86))])
    later = rows([(8, START + timedelta(minutes=91))])
    db.insert("events", EVENTS.column_names, first)
    now = float(T0 + 2 * H)

    async def main() -> list[str]:
        sink = BatchingSink(db, BatchSettings(), Metrics(), close_db=False)
        rt = _runtime(db, sink, now)
        await rt.restore()  # a restart after the first numbers were stored and judged
        values = [station_progress_record(later, frozenset())[1],  # type: ignore[index]
                  partition_progress_record({0: True}, now)[1]]

        async def ack(h: Any) -> None:
            pass

        await rt.handle([_faust_event(v, i) for i, v in enumerate(values)], ack)
        await rt.tick(input_caught_up=True)  # caught up, far past every reorder bound
        await sink.flush()
        await sink.close()
        return [r for _, _, r, _ in _alerts(db)]

    assert "sequence-gap" not in asyncio.run(main())
