"""Every ```sql block of docs/clickhouse.md and docs/corrections.md runs on both engines and
returns what the example data implies under corrections: the latest revision of each event,
voided events left out, a revision that moved an event (within its month, or to another
month with a withdrawn copy left behind) counted where it is now — each answer computed here
from the rows, independently of the query."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sinks.base import Database, Row
from sinks.tables import DLQ, EVENTS
from tests.integration.sinks.factories import T0, dlq_row, event_row

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DOCS = Path(__file__).resolve().parents[3] / "docs"
H = timedelta(hours=1)


def doc_queries() -> list[tuple[str, str]]:
    return [(f"{name} #{i}", sql) for name in ("clickhouse.md", "corrections.md")
            for i, sql in enumerate(re.findall(r"```sql\n(.*?)```",
                                               (DOCS / name).read_text(), re.DOTALL))]


def test_the_docs_have_queries() -> None:
    names = [n for n, _ in doc_queries()]
    assert sum(n.startswith("clickhouse.md") for n in names) >= 5
    assert sum(n.startswith("corrections.md") for n in names) == 1


# --- the data: events with copies, revisions and voids ------------------------------------

def _rows() -> list[Row]:
    """Physical rows as the pipeline writes them (docs/corrections.md, "What happens in
    storage"): originals written at T0 (imported late, for the older ones), each revision
    later (``ReplacingMergeTree(ingested_at)`` may merge the rows of a key at any time, and
    keeps the latest written)."""
    rows: list[Row] = []
    n = 0

    def event(base: dict[str, Any], **kw: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        return dict(zip(EVENTS.column_names, event_row(n, **{**base, **kw}), strict=True))

    def put(e: dict[str, Any], **changes: Any) -> dict[str, Any]:
        row = {**e, **changes}
        rows.append(tuple(row[c] for c in EVENTS.column_names))
        return row

    seizure = {"event_type": "seizure", "border": "AF-TJ", "drug": "heroin",
               "ingested_at": T0}
    s1 = put(event(seizure, quantity_kg=1.5))
    put(s1, ingested_at=T0 + H, kafka_offset=999)  # a redelivery
    put(event(seizure, quantity_kg=0.5))
    # an interior post (no land neighbour): border ''
    put(event(seizure, station_id="TJ-DUSHANBE-AIRPORT", border="", neighbour_country="",
              quantity_kg=0.25))
    # revised in its month: heroin 3 kg was opium 2 kg
    s2 = put(event(seizure, quantity_kg=3.0))
    put(s2, drug="opium", quantity_kg=2.0, revision=1, correction_reason="laboratory",
        ingested_at=T0 + 2 * H)
    # voided: a withdrawn copy of the live row, the original columns kept
    s3 = put(event(seizure, quantity_kg=7.0))
    put(s3, revision=1, voided=1, correction_reason="entered twice", ingested_at=T0 + 3 * H)
    # crossings at TJ-PYANJ-01, station time Asia/Dushanbe
    crossing = {"event_type": "crossing", "station_id": "TJ-PYANJ-01", "border": "AF-TJ",
                "direction": "inbound", "ingested_at": T0}
    put(event(crossing, persons=4, occurred_at=T0 + timedelta(minutes=5)))
    # revised to outbound, 6 persons, and moved an hour later within the month
    c2 = put(event(crossing, persons=2, occurred_at=T0))
    put(c2, direction="outbound", persons=6, occurred_at=T0 + 2 * H, revision=1,
        correction_reason="wrong hour", ingested_at=T0 + 4 * H)
    # moved to the next month: the new row there, a withdrawn copy of the old one here
    c3 = put(event(crossing, persons=9, occurred_at=T0 + H))
    put(c3, persons=3, occurred_at=datetime(2024, 6, 3, 8, tzinfo=UTC), revision=1,
        correction_reason="wrong month", ingested_at=T0 + 5 * H)
    put(c3, revision=1, voided=1, correction_reason="wrong month", ingested_at=T0 + 5 * H)
    # a void of an id never stored: its own withdrawn row
    put(event({**crossing, "event_type": "void", "direction": ""}, persons=None,
              revision=2, voided=1, correction_reason="never sent", occurred_at=T0 + 3 * H))
    # January: the per-day query starts on the 15th, so only where each event is *now*
    jan = datetime(2024, 1, 10, 9, tzinfo=UTC)
    into = put(event(crossing, persons=1, occurred_at=jan))  # revised into the 20th
    put(into, occurred_at=jan + 10 * 24 * H, revision=1, correction_reason="day",
        ingested_at=T0 + 6 * H)
    out = put(event(crossing, persons=1, occurred_at=jan + 10 * 24 * H))  # … out of it
    put(out, occurred_at=jan, revision=1, correction_reason="day",
        ingested_at=T0 + 6 * H)
    # docs/corrections.md's example: KZ-KORDAI, 14 February 2024
    kordai = {**crossing, "station_id": "KZ-KORDAI", "border": "KG-KZ"}
    day = datetime(2024, 2, 14, 3, tzinfo=UTC)
    put(event(kordai, persons=4, occurred_at=day))
    away = put(event(kordai, persons=4, occurred_at=day + H))  # revised to the 20th
    put(away, occurred_at=day + 150 * H, revision=1, correction_reason="wrong day",
        ingested_at=T0 + 7 * H)
    back = put(event(kordai, persons=4, occurred_at=day + 100 * H))  # … into the 14th
    put(back, occurred_at=day + 2 * H, persons=6, revision=1, correction_reason="wrong day",
        ingested_at=T0 + 7 * H)
    gone = put(event({**kordai, **seizure, "border": "KG-KZ", "direction": ""},
                     quantity_kg=70.0, occurred_at=day + 4 * H))
    put(gone, revision=1, voided=1, correction_reason="entered twice",
        ingested_at=T0 + 7 * H)
    return rows


def readers_view(rows: list[Row]) -> list[dict[str, Any]]:
    """Per (station, event, month) the row of the highest (revision, ingested_at), without
    the withdrawn ones: computed here, not by the engine."""
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        e = dict(zip(EVENTS.column_names, r, strict=True))
        at = e["occurred_at"]
        k = (e["station_id"], e["event_id"], at.year, at.month)
        if k not in best or (e["revision"], e["ingested_at"]) >= \
                (best[k]["revision"], best[k]["ingested_at"]):
            best[k] = e
    return [e for e in best.values() if not e["voided"]]


NOW = datetime.now(UTC).replace(microsecond=0)
DEAD = [dlq_row(1, dlq_id="a", reason="invalid", station_id="S1", failed_at=NOW - H),
        dlq_row(2, dlq_id="b", reason="invalid", station_id="S2", failed_at=NOW - 2 * H),
        dlq_row(3, dlq_id="c", reason="not_json", station_id="S1", failed_at=NOW - 3 * H),
        dlq_row(4, dlq_id="d", reason="invalid", station_id="S1",
                failed_at=NOW - 30 * H)]  # more than a day ago


# --- what each query must answer, computed from the view -----------------------------------

def _count(v: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(len(v),)]


def _per_day(v: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    since = datetime(2024, 1, 15, tzinfo=UTC)
    n = Counter((e["station_id"], e["occurred_at"].date(), e["event_type"])
                for e in v if e["occurred_at"] >= since)
    return [(*k, c) for k, c in sorted(n.items())]


def _seizures(v: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    kg: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
    for e in v:
        if e["event_type"] == "seizure":
            kg[(e["border"] or "interior", e["drug"])].append(e["quantity_kg"])
    out = [(b, d, round(sum(x), 3), len(x)) for (b, d), x in kg.items()]
    return sorted(out, key=lambda r: (-r[2], r[0], r[1]))


def _hours(v: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    n: defaultdict[tuple[datetime, str], int] = defaultdict(int)
    for e in v:
        if e["station_id"] == "TJ-PYANJ-01" and e["event_type"] == "crossing":
            hour = e["occurred_at"].replace(minute=0, second=0)
            n[(hour.astimezone(ZoneInfo("Asia/Dushanbe")), e["direction"])] += e["persons"]
    return [(h, w, p) for (h, w), p in sorted(n.items())]


def _dead(_: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    recent = [dict(zip(DLQ.column_names, r, strict=True)) for r in DEAD]
    by: defaultdict[str, set[str]] = defaultdict(set)
    n: Counter[str] = Counter()
    for d in recent:
        if d["failed_at"] >= NOW - 24 * H:
            n[d["reason"]] += 1
            by[d["reason"]].add(d["station_id"])
    return sorted(((r, c, len(by[r])) for r, c in n.items()), key=lambda x: (-x[1], x[0]))


def _kordai_day(v: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    lo = datetime(2024, 2, 14, tzinfo=UTC)
    n: Counter[str] = Counter()
    persons: Counter[str] = Counter()
    for e in v:
        if e["station_id"] == "KZ-KORDAI" and lo <= e["occurred_at"] < lo + 24 * H:
            n[e["event_type"]] += 1
            persons[e["event_type"]] += e["persons"] or 0
    return [(t, n[t], persons[t]) for t in sorted(n)]


EXPECTED: dict[str, Callable[[list[dict[str, Any]]], list[tuple[Any, ...]]]] = {
    "clickhouse.md #0": _count, "clickhouse.md #1": _per_day, "clickhouse.md #2": _seizures,
    "clickhouse.md #3": _hours, "clickhouse.md #4": _dead, "corrections.md #0": _kordai_day}


def test_every_doc_query_has_its_expected_answer() -> None:
    assert [n for n, _ in doc_queries()] == list(EXPECTED)
    v = readers_view(_rows())
    # the data exercises what the queries must get right
    assert _per_day(v) and _seizures(v) and _hours(v) and _kordai_day(v)
    assert {e["revision"] for e in v} == {0, 1} and len(v) < len(_rows())


@pytest.mark.parametrize("name", list(EXPECTED))
def test_doc_query_is_exact_under_corrections(engine_db: Database, name: str) -> None:
    db = engine_db
    rows = _rows()
    for i in range(0, len(rows), 5):  # several parts, nothing merged
        db.insert("events", EVENTS.column_names, rows[i:i + 5])
    db.insert("dlq", DLQ.column_names, DEAD)
    db.insert("dlq", DLQ.column_names, DEAD[:1])  # a redelivered dead letter
    sql = dict(doc_queries())[name].replace("blo.", f"{db.database}.")
    got = [tuple(r) for r in db.query(sql)]
    assert got == EXPECTED[name](readers_view(rows)), sql
