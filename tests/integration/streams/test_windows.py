"""Event-time windows on the real broker and the real ClickHouse 18.16 server: exact final
rows through shuffled input, SIGKILLs with writes ahead of commits, two workers, and the
BTS 2018 file as a backfill. Oracles: tests/integration/streams/window_oracle.py (plain
Python and zoneinfo)."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from tests.integration.streams.conftest import final_count, raw_count
from tests.integration.streams.harness import TEST_STATIONS, Pipeline, crossing, wait_for
from tests.integration.streams.window_oracle import STAT_NAMES, oracle, seizure, window_starts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

TZ = {s["station_id"]: s["tz"] for s in TEST_STATIONS}
COUNTRY = {s["station_id"]: s["country"] for s in TEST_STATIONS}
DRUGS = ("heroin", "hashish", "opium")


def _window_config(tmp: Path, **over: float) -> Path:
    cfg = {"out_of_orderness_s": 30, "grace_s": 30, "allowed_lateness_s": 3600,
           "idle_timeout_s": 5, "provisional_interval_s": 2}
    cfg.update(over)
    path = tmp / "windows.json"
    path.write_text(json.dumps(cfg))
    return path


def _events(n: int, seed: int, span_s: int, end: datetime) -> list[dict[str, Any]]:
    """``n`` events of the test stations over ``span_s`` seconds ending at ``end``, in
    event-time order; crossings with varied direction and checks, 2 % seizures."""
    rng = random.Random(seed)
    start = end - timedelta(seconds=span_s)
    times = sorted(rng.uniform(0, span_s) for _ in range(n))
    out = []
    seqs: dict[str, int] = {}  # per station, as posts number their reports
    for off in times:
        st = rng.choice(TEST_STATIONS)["station_id"]
        i = seqs[st] = seqs.get(st, 0) + 1
        at = (start + timedelta(seconds=off)).replace(microsecond=0)
        eid = f"{rng.getrandbits(128):032x}"
        eid = f"{eid[:8]}-{eid[8:12]}-4{eid[13:16]}-a{eid[17:20]}-{eid[20:32]}"
        if rng.random() < 0.02:
            out.append(seizure(st, i, at=at, drug=rng.choice(DRUGS),
                               kg=round(rng.uniform(0.1, 40), 3), arrests=rng.randint(0, 2),
                               event_id=eid))
        else:
            e = crossing(st, i, at=at, persons=rng.randint(1, 4), event_id=eid)
            e["direction"] = rng.choice(("inbound", "outbound"))
            e["document_check"] = "refused" if rng.random() < 0.05 else "passed"
            out.append(e)
    return out


def _shuffle_within(events: list[dict[str, Any]], bound_s: float, seed: int
                    ) -> list[dict[str, Any]]:
    """Arrival order = event time + a random delay below ``bound_s``: any event arrives at
    most ``bound_s`` after one that occurred later (within the out-of-orderness bound)."""
    rng = random.Random(seed)
    keyed = [(datetime.fromisoformat(e["occurred_at"]).timestamp() + rng.uniform(0, bound_s), i)
             for i, e in enumerate(events)]
    return [events[i] for _, i in sorted(keyed)]


def _view(db: Any) -> dict[tuple[Any, ...], tuple[dict[str, float], str]]:
    """The readers' view of window_stats (FINAL): key → (statistics, status)."""
    cols = ", ".join(STAT_NAMES)
    rows = db.query(
        f"SELECT window_kind, toUInt32(window_start), toUInt32(window_end), station_id, "
        f"event_type, measure, dimension, {cols}, status FROM {db.database}.window_stats FINAL")
    out = {}
    for r in rows:
        key = tuple(r[:7])
        stats = dict(zip(STAT_NAMES, r[7:7 + len(STAT_NAMES)], strict=True))
        out[key] = (stats, r[-1])
    return out


def _mismatches(expected: dict[tuple[Any, ...], dict[str, float]],
                view: dict[tuple[Any, ...], tuple[dict[str, float], str]],
                closed_before: float) -> list[str]:
    """Every expected key present with equal statistics; windows that ended before
    ``closed_before`` no longer provisional; no key the oracle does not know."""
    bad = []
    for key, stats in expected.items():
        got = view.get(key)
        if got is None:
            bad.append(f"missing {key}")
            continue
        for name in STAT_NAMES:
            if abs(got[0][name] - stats[name]) > 1e-6:
                bad.append(f"{key}: {name} {got[0][name]} != {stats[name]}")
                break
        if key[2] < closed_before and got[1] == "provisional":
            bad.append(f"{key}: still provisional")
    bad += [f"unexpected {k}" for k in view.keys() - expected.keys()]
    return bad


def _window_topic_statuses(p: Pipeline, topic: str) -> dict[str, int]:
    consumer = KafkaConsumer(topic, bootstrap_servers=p.bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000, group_id=None)
    counts: dict[str, int] = {}
    for msg in consumer:
        for row in json.loads(msg.value):
            counts[row["status"]] = counts.get(row["status"], 0) + 1
    consumer.close()
    return counts


def test_final_window_rows_are_exact_through_shuffle_and_three_sigkills(
        pipeline, tmp_path: Path) -> None:
    p, db = pipeline
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    events = _events(200_000, seed=11, span_s=4 * 3600, end=end)
    expected = oracle(events, TZ)
    arrival = _shuffle_within(events, 25, seed=12)
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in arrival)
    env = {"BLO_WINDOWS_CONFIG": str(_window_config(tmp_path)),
           "BLO_KAFKA_TOPIC_WINDOWS": f"win-{p.uid}",
           # a long commit interval widens the window where rows are written, not committed
           "BLO_KAFKA_COMMIT_INTERVAL_S": "8", "BLO_BATCH_TAKE_MAX": "2000"}
    kills = []
    for round_ in range(3):
        w = p.worker(**env)
        w.wait_ready()
        floor = raw_count(db)

        def written_ahead(floor: int = floor) -> tuple[int, int] | None:
            written, committed = raw_count(db), p.committed_total()
            ok = written > committed + 1000 and written > floor + 5000 and \
                final_count(db) < len(events)
            return (written, committed) if ok else None

        written, committed = wait_for(written_ahead, 180, f"writes ahead of commits ({round_})",
                                      0.05)
        w.kill()
        kills.append((written, committed))
    assert all(wr > co for wr, co in kills), kills
    w = p.worker(**env)
    w.wait_ready()
    wait_for(lambda: final_count(db) >= len(events), 300, "every event after the restarts")
    assert final_count(db) == len(events)
    # every window that ended before now - idle timeout is closed by idleness once the
    # partitions are caught up; the current day and month stay provisional
    closed_before = time.time() - 10

    def settled() -> list[str] | None:
        bad = _mismatches(expected, _view(db), closed_before)
        return None if bad else ["ok"]

    try:
        wait_for(settled, 180, "window rows equal to the oracle", 1.0)
    except AssertionError:
        bad = _mismatches(expected, _view(db), closed_before)
        raise AssertionError(f"{len(bad)} mismatches, e.g. {bad[:8]}") from None
    # provisional rows were written during the run, and the windows topic carries the rows
    statuses = _window_topic_statuses(p, f"win-{p.uid}")
    assert statuses.get("provisional", 0) > 0, statuses
    assert statuses.get("final", 0) > 0, statuses
    # nothing was late: the shuffle stayed within the out-of-orderness bound
    late = db.query(f"SELECT count() FROM {db.database}.late_events FINAL")[0][0]
    assert late == 0
    w.terminate()


BORDER_RULE = """version: 1
rules:
  - id: busy-border-1h
    name: Busy border
    severity: info
    message: "{border}: {value} events in the hour from {window_start}"
    kind: threshold
    statistic: events
    window: 1h
    scope: border
    op: ">="
    raise: 4000
    on: provisional
"""


def test_two_workers_give_exact_country_and_border_rollups(pipeline, tmp_path: Path) -> None:
    p, db = pipeline
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    events = _events(30_000, seed=21, span_s=2 * 3600, end=end)
    rules = tmp_path / "rules.yaml"
    rules.write_text(BORDER_RULE)
    env = {"BLO_WINDOWS_CONFIG": str(_window_config(tmp_path)),
           "BLO_KAFKA_TOPIC_WINDOWS": f"win-{p.uid}", "BLO_BATCH_TAKE_MAX": "500",
           "BLO_ALERTS_RULES": str(rules)}
    w1 = p.worker(**env)
    w2 = p.worker(**{**env, "BLO_WEB_PORT": str(p.web_port + 1)})
    w1.wait_ready()

    def second_worker_has_partitions() -> bool:  # joined the group, its windows restored
        try:
            return _metric_on_port(p.web_port + 1, "blo_window_restores_total") > 0
        except OSError:  # not listening yet (a loaded machine starts it slowly)
            return False

    wait_for(second_worker_has_partitions, 120, "the second worker's share of the partitions")
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in events)
    wait_for(lambda: final_count(db) >= len(events), 240, "every event")
    assert final_count(db) == len(events)  # each event once in the readers' view
    # both workers took part (4 partitions, one consumer group)
    assert w1.metric("blo_records_consumed_total") > 0
    assert _metric_on_port(p.web_port + 1, "blo_records_consumed_total") > 0
    # window metrics: rows emitted by status, open windows, event-time lag per station
    finals = w1.metric("blo_window_rows_emitted_total", status="final") + _metric_on_port(
        p.web_port + 1, 'blo_window_rows_emitted_total{status="final"}')
    assert finals > 0
    assert w1.metric("blo_windows_open") + _metric_on_port(p.web_port + 1,
                                                           "blo_windows_open") > 0
    lags = {s["station_id"]: max(  # the owner's gauge (a former owner removes its own)
        w1.metric("blo_window_event_time_lag_seconds", station=s["station_id"]),
        _metric_on_port(p.web_port + 1,
                        'blo_window_event_time_lag_seconds{{station="{}"}}'.format(s["station_id"])))
        for s in TEST_STATIONS}
    # the newest events are ~2 min old: lag = now - (latest event time - out-of-orderness)
    assert all(120 <= lag < 3600 for lag in lags.values()), lags
    closed_before = time.time() - 10
    expected_country: dict[tuple[Any, ...], int] = {}
    for (kind, start, _end, station, _et, _m, _d), s in oracle(events, TZ).items():
        if kind in ("1m", "1h") and _end < closed_before:
            k = (kind, start, COUNTRY[station])
            expected_country[k] = expected_country.get(k, 0) + s["events"]

    def rollup() -> dict[tuple[Any, ...], int]:
        rows = db.query(
            f"SELECT window_kind, toUInt32(window_start), country, sum(events) "
            f"FROM {db.database}.window_stats FINAL WHERE window_kind IN ('1m', '1h') "
            f"AND status != 'provisional' AND window_end < toDateTime({int(closed_before)}) "
            f"GROUP BY window_kind, window_start, country")
        return {(r[0], r[1], r[2]): r[3] for r in rows}

    wait_for(lambda: rollup() == expected_country, 120, "country roll-ups equal the oracle", 1)
    per_border: dict[str, int] = {}
    for e in events:
        st = next(s for s in TEST_STATIONS if s["station_id"] == e["station_id"])
        b = "-".join(sorted((st["country"], st["neighbour_country"])))
        per_border[b] = per_border.get(b, 0) + 1

    def borders() -> dict[str, int]:  # every 1h window, the open one's provisional row too
        return dict(db.query(
            f"SELECT border, sum(events) FROM {db.database}.window_stats FINAL "
            f"WHERE window_kind = '1h' GROUP BY border"))

    try:
        wait_for(lambda: borders() == per_border, 60, "border roll-ups equal the oracle", 1)
    except AssertionError:
        raise AssertionError(f"{borders()} != {per_border}; rows: " + repr(db.query(
            f"SELECT station_id, toUInt32(window_start), events, status, version "
            f"FROM {db.database}.window_stats FINAL WHERE window_kind = '1h' "
            f"ORDER BY station_id, window_start"))) from None
    # A border alert sums stations the workers may ingest separately: one engine (on the
    # owner of the one-partition alert input) sees both. KG-KZ's two posts together pass
    # 4000 events in an hour, neither alone does (~3750): so the alert exists only if the
    # roll-up is whole. Which busy hour opens it depends on arrival order (one open alert
    # per border at a time), so the test checks that it is one of them, and that no alert
    # id ever has two different first versions.
    hourly: dict[tuple[str, int], int] = {}
    for e in events:
        st = next(s for s in TEST_STATIONS if s["station_id"] == e["station_id"])
        b = "-".join(sorted((st["country"], st["neighbour_country"])))
        t = int(datetime.fromisoformat(e["occurred_at"]).timestamp()) // 3600 * 3600
        hourly[(b, t)] = hourly.get((b, t), 0) + 1
    single = {}
    for e in events:
        t = int(datetime.fromisoformat(e["occurred_at"]).timestamp()) // 3600 * 3600
        single[(e["station_id"], t)] = single.get((e["station_id"], t), 0) + 1
    assert max(single.values()) < 4000 <= hourly.get(("KG-KZ", max(t for _, t in hourly)
                                                      - 3600), 0), (single, hourly)
    ns = uuid.UUID("ea5cbb95-d5c3-5fd4-90d0-d75c3207094f")
    busy = {str(uuid.uuid5(ns, f"busy-border-1h|{b}|{t}")): b
            for (b, t), n in hourly.items() if n >= 4000}

    def fired() -> dict[str, str]:
        return {str(a): str(k) for a, k in db.query(
            f"SELECT toString(alert_id), scope_key FROM {db.database}.alerts "
            "WHERE version = 1")}

    got = wait_for(lambda: "KG-KZ" in fired().values() and fired(), 60,
                   "the KG-KZ border alert", 1)
    assert set(got) <= set(busy), (got, busy)  # each opened by a busy border-hour
    assert all(busy[a] == k for a, k in got.items())
    open_per_border = db.query(
        f"SELECT scope_key, count() FROM (SELECT * FROM {db.database}.alerts FINAL) "
        "WHERE state = 'firing' GROUP BY scope_key")
    assert all(int(n) == 1 for _, n in open_per_border), open_per_border
    firsts = db.query(f"SELECT alert_id, uniqExact(value, fired_at, scope_key) FROM "
                      f"{db.database}.alerts WHERE version = 1 GROUP BY alert_id")
    assert all(int(n) == 1 for _, n in firsts), firsts  # never two different first versions
    w1.terminate()
    w2.terminate()


def _metric_on_port(port: int, name: str) -> float:
    import urllib.request

    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_events_later_than_lateness_go_to_the_ledger_and_rebuild_counts_them(
        pipeline, tmp_path: Path) -> None:
    """A station's recent events, then a backfill of its older events published afterwards:
    the old ones are past the allowed lateness for their minute/hour windows, so those
    windows keep their figures and the ledger (and the metric) records every miss; `blo
    windows rebuild` over the old range then counts them from `events`."""
    p, db = pipeline
    now = datetime.now(UTC).replace(microsecond=0)
    recent = [crossing("KZ-T1", i, at=now - timedelta(minutes=30) + timedelta(seconds=5 * i),
                       event_id=f"00000000-0000-4000-a000-{i:012d}") for i in range(100)]
    old_start = now - timedelta(hours=5)
    old = [crossing("KZ-T1", 1000 + i, at=old_start + timedelta(seconds=37 * i),
                    persons=2, event_id=f"00000000-0000-4000-b000-{i:012d}") for i in range(200)]
    env = {"BLO_WINDOWS_CONFIG": str(_window_config(tmp_path)),
           "BLO_KAFKA_TOPIC_WINDOWS": f"win-{p.uid}"}
    w = p.worker(**env)
    w.wait_ready()
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in recent)
    wait_for(lambda: final_count(db) >= len(recent), 60, "the recent events")
    time.sleep(2.5)  # a tick: the watermark moves to the recent events
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in old)
    wait_for(lambda: final_count(db) >= len(recent) + len(old), 60, "the old events")
    # 1m, 1h and 1h/5m windows of the old events were purged: one ledger row per event and
    # window missed, none of them counted; the metric says the same
    t_old = [int(datetime.fromisoformat(e["occurred_at"]).timestamp()) for e in old]
    # a window is past its lateness once the watermark (latest event - out-of-orderness)
    # reaches its end + grace + allowed lateness; which calendar windows are depends on the
    # time of day in Asia/Almaty, so the oracle decides per window
    wm = max(int(datetime.fromisoformat(e["occurred_at"]).timestamp()) for e in recent) - 30
    misses: dict[str, int] = {}
    for t in t_old:
        for kind in ("1m", "1h", "1h/5m", "day", "month"):
            for _start, w_end in window_starts(kind, t, TZ["KZ-T1"]):
                if w_end + 30 + 3600 <= wm:
                    misses[kind] = misses.get(kind, 0) + 1
    expected_misses = set(misses.items())
    assert ("1m", len(old)) in expected_misses  # the scenario: every minute window missed

    def ledger() -> set[tuple[str, int]]:
        return {(k, n) for k, n in db.query(
            f"SELECT window_kind, count() FROM {db.database}.late_events FINAL "
            f"GROUP BY window_kind")}

    try:
        wait_for(lambda: ledger() == expected_misses, 60, "one ledger row per missed window")
    except AssertionError:
        raise AssertionError(f"ledger {ledger()} != {expected_misses}") from None
    assert w.metric("blo_late_events_total", station="KZ-T1", window_kind="1m") == len(old)
    hourly = {r[0]: r[1] for r in db.query(
        f"SELECT toUInt32(window_start), events FROM {db.database}.window_stats FINAL "
        f"WHERE window_kind = '1h' AND station_id = 'KZ-T1'")}
    old_hours = {t - t % 3600 for t in t_old}
    assert not old_hours & set(hourly)  # never created: every old event was too late
    w.terminate()

    res = p.blo("windows", "rebuild", "--from", (old_start - timedelta(hours=1)).isoformat(),
                "--to", (now - timedelta(hours=2)).isoformat(), "--station", "KZ-T1", **env)
    assert res.returncode == 0, res.stderr
    assert "window rows written" in res.stdout
    expected_hourly: dict[int, int] = {}
    for t in t_old:
        expected_hourly[t - t % 3600] = expected_hourly.get(t - t % 3600, 0) + 1
    rebuilt = {r[0]: (r[1], r[2], r[3]) for r in db.query(
        f"SELECT toUInt32(window_start), events, persons, status FROM {db.database}.window_stats"
        f" FINAL WHERE window_kind = '1h' AND station_id = 'KZ-T1' "
        f"AND window_start < toDateTime({int((now - timedelta(hours=2)).timestamp())})")}
    assert {h: v[0] for h, v in rebuilt.items()} == expected_hourly
    assert all(v[1] == 2 * v[0] and v[2] == "final" for v in rebuilt.values())
    minutes = db.query(
        f"SELECT sum(events) FROM {db.database}.window_stats FINAL WHERE window_kind = '1m' "
        f"AND station_id = 'KZ-T1' AND window_start < toDateTime("
        f"{int((now - timedelta(hours=2)).timestamp())})")[0][0]
    assert minutes == len(old)
