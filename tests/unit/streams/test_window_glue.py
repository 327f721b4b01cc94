"""The window glue without services: rows → windows-topic records, and the pure rebuild."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sinks.tables import EVENTS, WINDOW_STATS
from streams.window_rebuild import rebuild_rows
from streams.window_runtime import restored_event_row, window_records
from streams.windows import WindowConfig
from tests.unit.streams.test_ingest import event, processor, record, run

COLS = WINDOW_STATS.column_names
T0 = datetime(2025, 3, 10, 6, 0, tzinfo=UTC)


def _rows(times: list[tuple[str, datetime]]) -> list[tuple[Any, ...]]:
    recs = [record(event(st, occurred_at=t.isoformat(), reported_at=t.isoformat()))
            for st, t in times]
    out = run(processor(), recs, now=T0 + timedelta(days=30))
    assert not out.dead_letters
    return out.event_rows


def test_window_records_group_rows_per_station_as_json_arrays() -> None:
    rows = _rebuilt()
    records = window_records(rows)
    by_key: Counter[bytes] = Counter()
    for key, value in records:
        objs = json.loads(value)
        assert all(o["station_id"] == key.decode() for o in objs)
        assert set(objs[0]) == set(COLS)
        assert objs[0]["window_start"].endswith("Z")
        by_key[key] += len(objs)
    assert sum(by_key.values()) == len(rows)
    assert set(by_key) == {b"KZ-KORDAI", b"TJ-PYANJ"}


def _rebuilt(stored: list[tuple[Any, ...]] | None = None) -> list[tuple[Any, ...]]:
    times = [("KZ-KORDAI", T0 + timedelta(minutes=7 * i)) for i in range(20)] + \
            [("TJ-PYANJ", T0 + timedelta(minutes=11 * i)) for i in range(10)]
    cfg = WindowConfig()
    t1, t2 = int(T0.timestamp()), int((T0 + timedelta(hours=2)).timestamp())
    rows, _ = rebuild_rows(cfg, _rows(times), stored or [], t1, t2,
                           int((T0 - timedelta(days=40)).timestamp()),
                           int((T0 + timedelta(days=40)).timestamp()), now_s=2e9)
    return rows


def test_rebuild_counts_every_window_overlapping_the_range_from_the_events() -> None:
    rows = [dict(zip(COLS, r, strict=True)) for r in _rebuilt()]
    hourly = {(r["station_id"], r["window_start"]): r["events"] for r in rows
              if r["window_kind"] == "1h"}
    expected: Counter[tuple[str, datetime]] = Counter()
    for i in range(20):
        t = T0 + timedelta(minutes=7 * i)
        expected[("KZ-KORDAI", t.replace(minute=0))] += 1
    for i in range(10):
        t = T0 + timedelta(minutes=11 * i)
        expected[("TJ-PYANJ", t.replace(minute=0))] += 1
    in_range = {k: v for k, v in expected.items() if k[1] < T0 + timedelta(hours=2)}
    assert hourly == in_range
    assert {r["status"] for r in rows} == {"final"}
    # the month window overlapping the range is whole (all 20 + 10 events)
    month = {r["station_id"]: r["events"] for r in rows if r["window_kind"] == "month"}
    assert month == {"KZ-KORDAI": 20, "TJ-PYANJ": 10}


def test_rebuild_zeroes_keys_no_event_produces_any_more() -> None:
    live = _rebuilt()
    stale = list(live[0])
    stale[COLS.index("event_type")] = "seizure"  # a key that no stored event produces now
    stale[COLS.index("version")] = 5
    rows = [dict(zip(COLS, r, strict=True)) for r in _rebuilt([tuple(stale)])]
    zeroed = [r for r in rows if r["event_type"] == "seizure"]
    assert len(zeroed) == 1
    assert zeroed[0]["events"] == 0 and zeroed[0]["status"] == "corrected"
    assert zeroed[0]["version"] > max(r["version"] for r in rows if r["event_type"] != "seizure")


def test_restored_event_row_normalises_driver_types() -> None:
    row = list(_rows([("KZ-KORDAI", T0)])[0])
    eid = row[EVENTS.index("event_id")]
    row[EVENTS.index("event_id")] = str(eid)
    row[EVENTS.index("occurred_at")] = T0.replace(tzinfo=None)
    back = restored_event_row(row)
    assert back[EVENTS.index("event_id")] == eid
    assert back[EVENTS.index("occurred_at")] == T0
    assert back[EVENTS.index("occurred_at")].tzinfo is not None


def test_rebuild_leaves_windows_that_may_still_be_open_to_the_worker() -> None:
    times = [("KZ-KORDAI", T0 + timedelta(minutes=7 * i)) for i in range(20)]
    cfg = WindowConfig()
    t1, t2 = int(T0.timestamp()), int((T0 + timedelta(hours=2)).timestamp())
    now = (T0 + timedelta(hours=3)).timestamp()  # the day and the month are not over
    rows, report = rebuild_rows(cfg, _rows(times), [], t1, t2,
                                int((T0 - timedelta(days=40)).timestamp()),
                                int((T0 + timedelta(days=40)).timestamp()), now_s=now)
    kinds = {dict(zip(COLS, r, strict=True))["window_kind"] for r in rows}
    assert "day" not in kinds and "month" not in kinds and "1h" in kinds
    assert report.skipped_open >= 2
    ends = [dict(zip(COLS, r, strict=True))["window_end"].timestamp() for r in rows]
    assert max(ends) <= now - cfg.grace_s - cfg.allowed_lateness_s


class _Sink:
    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []

    async def submit(self, batch: dict[str, Any]) -> None:
        self.batches.append(batch)


def test_event_time_lag_of_a_station_whose_partition_went_away_is_not_left_behind() -> None:
    import asyncio

    from prometheus_client import CollectorRegistry

    from blo.metrics import Metrics
    from streams.window_runtime import WindowRuntime

    registry = CollectorRegistry()
    now = (T0 + timedelta(hours=3)).timestamp()
    wr = WindowRuntime(config=WindowConfig(), sink=_Sink(), database="blo",
                       metrics=Metrics(registry), produce=None, topic=None, raw_topic="raw",
                       clock=lambda: now)

    def lag(station: str) -> float | None:
        return registry.get_sample_value("blo_window_event_time_lag_seconds",
                                         {"station": station})

    kz = _rows([("KZ-KORDAI", T0 + timedelta(minutes=5))])
    tj = _rows([("TJ-PYANJ", T0 + timedelta(minutes=50))])

    async def go() -> None:
        wr.ready.set()
        for row in kz:
            wr.state.add(row, 0)
        for row in tj:
            wr.state.add(row, 1)
        await wr.tick(())
        ooo = WindowConfig().out_of_orderness_s
        assert lag("KZ-KORDAI") == now - (T0 + timedelta(minutes=5)).timestamp() + ooo
        assert lag("TJ-PYANJ") == now - (T0 + timedelta(minutes=50)).timestamp() + ooo
        wr.forget([1])  # partition 1 went to another worker: its owner reports TJ-PYANJ now
        await wr.tick(())
        assert lag("TJ-PYANJ") is None
        assert lag("KZ-KORDAI") is not None

    asyncio.run(go())


def test_durable_frontiers_name_only_kinds_whose_final_rows_fall_behind() -> None:
    """After a crash that lost final rows of some windows (their events, and later ones,
    stored), the restore must start where each station's durable finals end; in an
    uninterrupted run every kind is within one step of the watermark and nothing moves."""
    from streams.window_runtime import durable_frontiers

    wm = T0.timestamp()
    steps = {"1m": 60 + 90.0, "1h": 3600 + 90.0, "month": 33 * 86400 + 90.0}
    cap = 40 * 86400.0

    def at(s: float) -> datetime:  # a window end s seconds before the watermark
        return T0 - timedelta(seconds=s)

    rows = [
        ("KG-T1", 0, "1m", at(100)),      # within a step: nothing lost
        ("KG-T1", 0, "1h", at(7200)),     # the next hour should have closed: behind
        ("KG-T1", 0, "month", at(6 * 86400)),  # next month not due: says nothing
        ("KZ-A", 0, "1m", at(1000)),      # behind
        ("KZ-A", 0, "1m-gone", at(10**6)),  # a kind no longer configured
        ("KZ-A", 1, "month", at(90 * 86400)),  # count reports: never rewound
        ("TJ-X", 0, "1m", at(1000)),      # no watermark known: not restored here
        ("UZ-Q", 0, "month", at(200 * 86400)),  # quiet for months: capped
    ]
    watermarks = {("KG-T1", "live"): wm, ("KZ-A", "live"): wm, ("KZ-A", "reports"): wm,
                  ("UZ-Q", "live"): wm}
    got = durable_frontiers(rows, [], steps, watermarks, cap)
    assert got == {("KG-T1", "live"): at(7200).timestamp(),
                   ("KZ-A", "live"): at(1000).timestamp(),
                   ("UZ-Q", "live"): wm - cap}
    # uninterrupted: every kind's last final within its step
    fresh = [("KG-T1", 0, "1m", at(100)), ("KG-T1", 0, "1h", at(1800))]
    assert durable_frontiers(fresh, [], steps, watermarks, cap) == {}


def test_durable_frontiers_a_kind_without_final_rows_starts_at_the_first_stored_event(
        ) -> None:
    """A crash early in a backlog can lose every final row a station had (none written yet,
    its events stored): the kinds without a final row count from the station's first stored
    event, so the restore rewinds there; a station whose first windows have not closed yet
    is not behind."""
    from streams.window_runtime import durable_frontiers

    wm = T0.timestamp()
    steps = {"1m": 60 + 90.0, "1h": 3600 + 90.0, "month": 33 * 86400 + 90.0}
    cap = 6 * 3600.0

    def at(s: float) -> datetime:
        return T0 - timedelta(seconds=s)

    watermarks = {(s, "live"): wm for s in ("KG-T1", "KZ-A", "TJ-B", "UZ-C")}
    earliest = [("KG-T1", at(5400)),   # 90 min of events, no final row at all: behind
                ("KZ-A", at(100)),     # its first minute is not due yet: nothing lost
                ("TJ-B", at(30 * 3600)),  # long history, finals of 1m only: 1h lost
                ("UZ-C", at(5400)),    # every due kind written
                ("XX-Z", at(5400))]    # no watermark: not restored here
    rows = [("TJ-B", 0, "1m", at(100)),
            ("UZ-C", 0, "1m", at(100)), ("UZ-C", 0, "1h", at(1800))]
    got = durable_frontiers(rows, earliest, steps, watermarks, cap)
    assert got == {("KG-T1", "live"): at(5400).timestamp(),
                   ("TJ-B", "live"): wm - cap}
    # without the first events, the same rows would restore nothing for KG-T1
    assert ("KG-T1", "live") not in durable_frontiers(rows, [], steps, watermarks, cap)
