"""The alert engine's restore reads (``sinks.read_model.events``: sequence spans and
numbers) over hundreds of stations, on each real engine: the per-station conditions are
applied outside the table read (ClickHouse 18.16 analysed one OR over 1,000 stations on the
table for 10-56 s, past the read timeout), and the answers equal an independent
computation; the runtime reads them in runs of ``STATIONS_PER_READ``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sinks.base import Database
from sinks.read_model import events as event_reads
from streams.alert_runtime import STATIONS_PER_READ, _batches

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)
N_STATIONS = 250  # more than two runs of STATIONS_PER_READ


def _stored(db: Database) -> dict[str, list[tuple[int, datetime]]]:
    """Station i: numbers 1..6 a minute apart, number 3 missing at every third station,
    and one old number (100) reported with an event time a day earlier."""
    out: dict[str, list[tuple[int, datetime]]] = {}
    rows = []
    for i in range(N_STATIONS):
        sid = f"ZZ-P{i:04d}"
        nums = [(seq, T0 + timedelta(minutes=i % 7 + seq)) for seq in range(1, 7)
                if not (seq == 3 and i % 3 == 0)]
        nums.append((100, T0 - timedelta(days=1)))
        out[sid] = nums
        rows += [(uuid.uuid4(), sid, seq, t, t, t) for seq, t in nums]
    db.insert("events", ["event_id", "station_id", "source_seq", "occurred_at", "reported_at",
                         "ingested_at"], rows)
    return out


def test_sequence_spans_and_numbers_over_hundreds_of_stations(engine_db: Database) -> None:
    db = engine_db
    stored = _stored(db)
    reorder = 600
    # resume each station after its 5th minute of numbers: its spans are the numbers
    # whose event time lies in the 600 s before
    until = {sid: int((T0 + timedelta(minutes=i % 7 + 5)).timestamp())
             for i, sid in enumerate(sorted(stored))}
    want_spans = {}
    for sid, nums in stored.items():
        inside = [seq for seq, t in nums if until[sid] - reorder <= t.timestamp() < until[sid]]
        want_spans[sid] = (min(inside), max(inside))
    q = event_reads.sequence_spans(db.database, until, reorder)  # all stations in one read
    got_spans = {str(s): (int(lo), int(hi)) for s, lo, hi in db.query(q.sql, q.params)}
    assert got_spans == want_spans
    assert set(want_spans.values()) == {(1, 4)}

    spans = sorted((sid, lo, hi) for sid, (lo, hi) in got_spans.items())
    q = event_reads.sequence_numbers(db.database, spans)
    got = [(str(s), int(n)) for s, n, _ in db.query(q.sql, q.params)]
    want = sorted((sid, seq) for sid, nums in stored.items() for seq, _ in nums
                  if 1 <= seq <= 4)
    assert got == want  # in station and number order
    assert len(got) == N_STATIONS * 4 - len(range(0, N_STATIONS, 3))

    q = event_reads.sequence_numbers_final(db.database, spans)
    assert [(str(s), int(n)) for s, n, _ in db.query(q.sql, q.params)] == want


def test_restore_reads_go_in_runs_of_stations_each_station_in_one_run() -> None:
    items = sorted((f"ZZ-P{i:04d}", 1, 4) for i in range(N_STATIONS))
    runs = _batches(items)
    assert [len(r) for r in runs] == [STATIONS_PER_READ, STATIONS_PER_READ,
                                      N_STATIONS - 2 * STATIONS_PER_READ]
    assert [x for r in runs for x in r] == items
    assert _batches([]) == []
