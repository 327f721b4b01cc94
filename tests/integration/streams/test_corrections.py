"""Corrections and voids through the real worker, broker and ClickHouse 18.16 server.

A post sends events, then corrects some (a seizure's weight, its drug; a crossing moved to
another minute), voids one, resends an old revision and reuses a revision number with
another body. What must hold, against an independent computation on the events as they
finally are:

* the readers' view of ``events`` holds exactly the latest revision of each event, no
  voided one;
* every window key the old or the new revision touched has the recounted figures, as a
  ``corrected`` row (zeros where nothing is left) — both while the windows are still in the
  worker's memory (``allowed_lateness_s`` 3600) and once they are gone from it (0: purged at
  once, so the correction compares against ``window_stats``);
* the history keeps every revision; a stale revision is skipped; a reused revision number
  with another body is an ``id_conflict``;
* a live seizure corrected from 60 kg to 30 kg resolves the large-seizure alert it raised.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sinks.read_model import latest
from sinks.tables import EVENTS, WINDOW_STATS
from tests.integration.streams.harness import Pipeline, crossing, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

STATION = "KZ-T1"
RULE = "seizure-kg-1m"
RULES_YAML = f"""\
version: 1
rules:
  - id: {RULE}
    name: Large seizure at a post
    severity: critical
    message: "{{station_id}}: {{value:.1f}} kg seized (threshold {{threshold}} kg)"
    kind: threshold
    statistic: seizure_kg
    window: 1m
    scope: station
    filters: {{event_type: seizure}}
    op: ">="
    raise: 50
"""


def _env(p: Pipeline, tmp: Path, lateness_s: int) -> dict[str, str]:
    rules = tmp / "rules.yaml"
    rules.write_text(RULES_YAML)
    windows = tmp / "windows.json"
    windows.write_text(json.dumps({
        "windows": [{"name": "1m", "kind": "tumbling", "size_s": 60},
                    {"name": "day", "kind": "calendar_day"}],
        "out_of_orderness_s": 3, "grace_s": 2, "allowed_lateness_s": lateness_s,
        "idle_timeout_s": 5, "provisional_interval_s": 1}))
    return {"BLO_ALERTS_RULES": str(rules), "BLO_WINDOWS_CONFIG": str(windows),
            "BLO_ALERTS_TICK_INTERVAL_S": "0.5"}


def seizure(seq: int, at: datetime, kg: float, drug: str = "heroin", **kw: Any
            ) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "schema_version": 1, "event_type": "seizure",
            "station_id": STATION, "occurred_at": at.isoformat(),
            "reported_at": at.isoformat(), "source_seq": seq, "drug": drug, "quantity": kg,
            "unit": "kg", "concealment": "container", "detection_method": "xray", **kw}


def revised(event: dict[str, Any], revision: int, reason: str, **changes: Any
            ) -> dict[str, Any]:
    return {**event, **changes, "revision": revision, "correction_reason": reason}


def void(event: dict[str, Any], revision: int, reason: str) -> dict[str, Any]:
    return {k: event[k] for k in ("event_id", "schema_version", "station_id", "occurred_at",
                                  "reported_at", "source_seq")} | {
        "event_type": "void", "revision": revision, "correction_reason": reason}


def _send(p: Pipeline, *events: dict[str, Any]) -> None:
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in events)


def _readers_events(db: Any) -> dict[str, tuple[Any, ...]]:
    src = latest(db.database, EVENTS, ("event_id", "event_type", "occurred_at", "persons",
                                       "drug", "quantity_kg", "revision"))
    return {str(r[0]): tuple(r[1:]) for r in db.query(f"SELECT * FROM {src}")}


def _windows(db: Any, kind: str) -> dict[tuple[int, str, str], tuple[int, int, float, str]]:
    """(window start, event type, dimension) → (events, persons, seizure_kg, status) of the
    readers' view of ``window_stats`` for the test station."""
    src = latest(db.database, WINDOW_STATS, ("window_kind", "window_start", "station_id",
                                             "event_type", "measure", "dimension", "events",
                                             "persons", "seizure_kg", "status"))
    rows = db.query(f"SELECT toUInt32(window_start), event_type, dimension, events, persons, "
                    f"seizure_kg, status FROM {src} WHERE window_kind = %(k)s "
                    f"AND station_id = %(s)s", {"k": kind, "s": STATION})
    return {(int(r[0]), r[1], r[2]): (int(r[3]), int(r[4]), round(float(r[5]), 6), r[6])
            for r in rows}


def _oracle(events: list[dict[str, Any]]) -> dict[tuple[int, str, str], tuple[int, int, float]]:
    """Independent computation: 1m windows (UTC minutes) of the events as they finally are."""
    out: dict[tuple[int, str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for e in events:
        t = int(datetime.fromisoformat(e["occurred_at"]).timestamp())
        key = (t - t % 60, e["event_type"], e.get("drug", ""))
        acc = out[key]
        acc[0] += 1
        acc[1] += e.get("persons", 0) if e["event_type"] == "crossing" else 0
        acc[2] += e["quantity"] if e["event_type"] == "seizure" else 0.0
    return {k: (int(v[0]), int(v[1]), round(v[2], 6)) for k, v in out.items()}


def _minute(offset_min: int) -> datetime:
    """A time ``offset_min`` whole minutes before the current minute, 10 s into it."""
    now = int(time.time())
    return datetime.fromtimestamp(now - now % 60 - 60 * offset_min + 10, UTC)


@pytest.mark.parametrize("lateness_s", [3600, 0], ids=["in-memory", "purged"])
def test_revisions_and_voids_recount_every_window_they_touch(
        pipeline: tuple[Pipeline, Any], tmp_path: Path, lateness_s: int) -> None:
    p, db = pipeline
    w = p.worker(**_env(p, tmp_path, lateness_s))
    w.wait_ready()
    m1, m2 = _minute(4), _minute(3)
    c1 = crossing(STATION, 1, at=m1, persons=2)
    c2 = crossing(STATION, 2, at=m1, persons=3)
    c3 = crossing(STATION, 3, at=m1, persons=4)
    s1 = seizure(4, m1, 10.0)
    s2 = seizure(5, m1, 7.5, drug="opium")
    # a later live event moves the watermark on: with lateness 0 the minute m1 is purged
    later = crossing(STATION, 6, at=_minute(0))
    _send(p, c1, c2, c3, s1, s2, later)
    wait_for(lambda: len(_readers_events(db)) == 6, 60, "the six events stored")
    wait_for(lambda: _windows(db, "1m").get((_epoch(m1), "crossing", ""), (0,))[-1] == "final",
             60, "the final 1m row of m1")

    # corrections: c2 moved to m2; s1 re-weighed and its drug corrected; c3 voided
    c2b = revised(c2, 1, "wrong minute", occurred_at=m2.isoformat())
    s1b = revised(s1, 1, "laboratory: it is morphine", quantity=9.25, drug="morphine")
    c3v = void(c3, 1, "entered twice")
    # and s2 belongs 40 days back: another month partition, windows long gone
    back = _minute(40 * 24 * 60)
    s2b = revised(s2, 1, "wrong date", occurred_at=back.isoformat())
    _send(p, c2b, s1b, c3v, s2b)
    final = [c1, c2b, s1b, s2b, later]

    def settled() -> bool:
        minutes = (_epoch(m1), _epoch(m2), _epoch(back))
        got = {k: v[:3] for k, v in _windows(db, "1m").items() if k[0] in minutes}
        want = {k: v for k, v in _oracle(final).items() if k[0] in minutes}
        # keys no event is left in are zeroed, not dropped
        want |= {k: (0, 0, 0.0) for k in got if k not in want}
        return got == want

    wait_for(settled, 90, "the 1m windows of m1 and m2 recounted")
    m1_rows = _windows(db, "1m")
    assert m1_rows[(_epoch(m1), "seizure", "heroin")] == (0, 0, 0.0, "corrected")
    assert m1_rows[(_epoch(m1), "seizure", "morphine")][:3] == (1, 0, 9.25)
    assert m1_rows[(_epoch(m1), "crossing", "")] == (1, 2, 0.0, "corrected")
    # the day window (one local day: the minutes are minutes apart, day edges aside) adds up
    # (an open window: its provisional row follows at the next tick)
    persons = sum(e.get("persons", 0) for e in final if e["event_type"] == "crossing")
    wait_for(lambda: sum(v[1] for k, v in _windows(db, "day").items()
                         if k[1] == "crossing") == persons, 30, "the day window recounted")

    # the readers' view: latest revisions only, the void gone
    events = _readers_events(db)
    assert c3["event_id"] not in events
    assert events[c2["event_id"]][1] == m2 and events[c2["event_id"]][-1] == 1
    assert events[s1["event_id"]][3:] == ("morphine", 9.25, 1)
    assert events[s2["event_id"]][1] == back
    # the old month keeps a withdrawn copy of s2, so that partition's view leaves it out
    copies = db.query(f"SELECT toYYYYMM(occurred_at), voided, revision FROM {db.database}"
                      ".events WHERE toString(event_id) = %(id)s ORDER BY revision, voided",
                      {"id": s2["event_id"]})
    assert sorted(tuple(r) for r in copies) == sorted(
        [(_yyyymm(m1), 0, 0), (_yyyymm(m1), 1, 1), (_yyyymm(back), 0, 1)])
    assert m1_rows[(_epoch(m1), "seizure", "opium")] == (0, 0, 0.0, "corrected")
    assert _windows(db, "1m")[(_epoch(back), "seizure", "opium")] == (1, 0, 7.5, "corrected")

    # history: every revision of a corrected event, with its reason
    hist = db.query(f"SELECT revision, voided, correction_reason FROM {db.database}."
                    "event_revisions WHERE toString(event_id) = %(id)s GROUP BY revision, "
                    "voided, correction_reason ORDER BY revision", {"id": c3["event_id"]})
    assert [tuple(r) for r in hist] == [(0, 0, ""), (1, 1, "entered twice")]

    # a stale revision is skipped; a reused revision number with another body is refused
    before = w.metric("blo_events_superseded_total")
    _send(p, c2, revised(s1, 1, "another story", quantity=1.0))
    wait_for(lambda: w.metric("blo_events_superseded_total") >= before + 1, 60,
             "the stale revision skipped")
    wait_for(lambda: db.query(f"SELECT count() FROM {db.database}.dlq WHERE reason = "
                              "'id_conflict'")[0][0] == 1, 60, "the id_conflict dead letter")
    assert _readers_events(db) == events
    assert w.terminate() == 0


def _yyyymm(t: datetime) -> int:
    u = t.astimezone(UTC)
    return u.year * 100 + u.month


def _epoch(t: datetime) -> int:
    s = int(t.timestamp())
    return s - s % 60


def _alert(db: Any) -> tuple[str, float] | None:
    rows = db.query(f"SELECT argMax(state, version), argMax(value, version) "
                    f"FROM {db.database}.alerts WHERE rule_id = %(r)s GROUP BY alert_id",
                    {"r": RULE})
    return (rows[0][0], float(rows[0][1])) if rows else None


def test_a_seizure_corrected_below_the_threshold_resolves_its_alert(
        pipeline: tuple[Pipeline, Any], tmp_path: Path) -> None:
    p, db = pipeline
    w = p.worker(**_env(p, tmp_path, 3600))
    w.wait_ready()
    at = _minute(2)
    big = seizure(1, at, 60.0)
    _send(p, big)
    wait_for(lambda: _alert(db) == ("firing", 60.0), 90, "the large-seizure alert firing")
    _send(p, revised(big, 1, "laboratory weight", quantity=30.0))
    wait_for(lambda: (_alert(db) or ("",))[0] == "resolved", 90, "the alert resolved")
    assert _alert(db) == ("resolved", 30.0)
    assert _windows(db, "1m")[(_epoch(at), "seizure", "heroin")] == (
        1, 0, 30.0, "corrected")
    assert w.terminate() == 0
