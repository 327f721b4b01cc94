"""The alert input topic's records: what ingest workers send is what the engine reads."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from schemas.alert_input import (
    Acknowledgement,
    AlertInput,
    BadInput,
    PartitionProgress,
    StationProgress,
    StationsProgress,
    WindowRows,
    ack_record,
    decode,
    encode,
    partition_progress_record,
)
from sinks.tables import WINDOW_STATS
from streams.alert_input import (
    ROWS_PER_RECORD,
    WINDOW_ROW_WIDTH,
    station_progress_record,
    window_input_records,
)
from streams.alert_runtime import RulesFile, paired_types, registry_pairs
from streams.alerts import AlertEngine, load_rules
from streams.alerts.windowed import WindowRow
from tests.unit.streams.alerts.factories import wrow
from tests.unit.streams.test_ingest import event, processor, record, run
from tests.unit.streams.test_window_glue import T0

COLS = WINDOW_STATS.column_names


def decode_input(value: bytes | None) -> AlertInput:
    return decode(value, window_row_width=WINDOW_ROW_WIDTH)


def rows_of(value: bytes) -> list[tuple[object, ...]]:
    d = decode_input(value)
    assert isinstance(d, WindowRows)
    return d.rows


def test_window_rows_survive_the_topic_as_the_engine_reads_them() -> None:
    rows = [wrow(3600 * i, events=i, seizure_kg=1.5 * i) for i in range(ROWS_PER_RECORD + 3)]
    records = window_input_records(rows)
    assert len(records) == 2  # at most ROWS_PER_RECORD rows per record
    back = [r for _, v in records for r in rows_of(v)]
    assert len(back) == len(rows)
    for sent, got in zip(rows, back, strict=True):
        assert WindowRow.parse(got)[:-1] == WindowRow.parse(sent)[:-1]  # all but the row
        assert got[COLS.index("seizure_kg")] == sent[COLS.index("seizure_kg")]
        assert got[COLS.index("events")] == sent[COLS.index("events")]


def test_an_engine_fed_through_the_topic_writes_the_same_alerts_as_one_fed_directly() -> None:
    rules = load_rules(Path("blo/data/rules.yaml"))
    direct, via_topic = AlertEngine(rules, baseline=lambda *a: []), \
        AlertEngine(rules, baseline=lambda *a: [])
    rows = [wrow(3600 * i, event_type="seizure", dimension="heroin", status="final",
                 seizure_kg=kg) for i, kg in enumerate([10, 60, 70, 5, 1, 80])]
    direct.on_window_rows(rows)
    for _, value in window_input_records(rows):
        via_topic.on_window_rows(rows_of(value))
    fired = direct.drain()
    assert fired, "the spike must fire"
    assert via_topic.drain() == fired


def test_station_progress_carries_latest_time_every_number_and_paired_events() -> None:
    times = [T0 + timedelta(minutes=m) for m in (5, 1, 9)]
    recs = [record(event("TJ-PYANJ", occurred_at=t.isoformat(), reported_at=t.isoformat(),
                         source_seq=i + 10)) for i, t in enumerate(times)]
    recs.append(record(event("TJ-PYANJ", event_type="seizure", occurred_at=times[0].isoformat(),
                             reported_at=times[0].isoformat(), source_seq=13)))
    out = run(processor(), recs, now=T0 + timedelta(days=1))
    assert not out.dead_letters, out.dead_letters
    key, value = station_progress_record(out.event_rows, frozenset({"seizure"}))  # type: ignore[misc]
    d = decode_input(value)
    assert isinstance(d, StationsProgress) and key == b"s"
    [st] = d.stations
    assert st.station_id == "TJ-PYANJ" and st.country == "TJ" and st.border
    assert st.last_event_s == times[2].timestamp()
    assert [q for q, _ in st.seqs] == [10, 11, 12, 13]
    assert [(et, t) for et, t, _ in st.events] == [("seizure", times[0].timestamp())]
    # the slice's processing time: what tells an import from live input
    assert d.at_s == (T0 + timedelta(days=1)).timestamp()
    assert station_progress_record([], frozenset()) is None


def test_partition_progress_and_acks_round_trip() -> None:
    d = decode_input(partition_progress_record({0: True, 3: False}, 1234.5)[1])
    assert d == PartitionProgress({0: True, 3: False}, 1234.5)
    aid = uuid.uuid4()
    key, value = ack_record(aid, "duty officer KZ", "seen, patrol sent", 99.0)
    assert key == b"a"
    assert decode_input(value) == Acknowledgement(str(aid), "duty officer KZ",
                                                  "seen, patrol sent", 99.0)
    with pytest.raises(ValueError):
        ack_record(aid, "  ", "", 1.0)
    with pytest.raises(ValueError):
        ack_record("not-a-uuid", "x", "", 1.0)


def test_the_json_form_is_the_documented_one() -> None:
    """The wire format of schemas/alert_input.py's docstring (workers of an older release
    and the engine of a newer one read each other's records)."""
    assert encode(WindowRows([(1, "a"), (2, "b")])) == (
        b"w", b'{"k":"w","rows":[[1,"a"],[2,"b"]]}')
    st = StationProgress("S", 5.0, "KZ", "KG-KZ", [(7, 4.0), (8, 5.0)], [("seizure", 4.0, "e")])
    assert encode(StationsProgress([st])) == (
        b"s", b'{"k":"s","st":{"S":[5.0,"KZ","KG-KZ",[[7,4.0],[8,5.0]],[["seizure",4.0,"e"]]]}}')
    assert encode(PartitionProgress({2: False}, 1.5)) == (
        b"p", b'{"k":"p","parts":{"2":false},"at":1.5}')
    aid = "6f1c1a52-59c3-4bd4-9d77-5e0f3c2d2a10"
    assert encode(Acknowledgement(aid, "me", "", 2.0)) == (
        b"a", b'{"k":"a","id":"' + aid.encode() + b'","by":"me","comment":"","at":2.0}')
    assert encode(StationsProgress([], 9.5)) == (b"s", b'{"k":"s","st":{},"at":9.5}')
    for one in (WindowRows([(1, "a")]), StationsProgress([st]), StationsProgress([st], 9.5),
                PartitionProgress({2: False}, 1.5), Acknowledgement(aid, "me", "", 2.0)):
        assert decode(encode(one)[1], window_row_width=2) == one


@pytest.mark.parametrize("value, reason", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"k": "zz"}', "unknown record kind"),
    (b'{"k": "w", "rows": [[1, 2]]}', "window rows must be lists"),
    (b'{"k": "s", "st": {"A": [1]}}', "malformed 's' record"),
    (b'{"k": "a", "id": "nope", "by": "x", "at": 1}', "malformed 'a' record"),
    (None, "not JSON"),
])
def test_bad_input_is_refused_with_its_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(BadInput, match=reason):
        decode_input(value)


def test_paired_types_and_pairs_come_from_rules_and_registry() -> None:
    rules = load_rules(Path("blo/data/rules.yaml"))
    assert paired_types(rules) == {"seizure", "incident"}
    from tests.unit.streams.test_ingest import registry

    assert registry_pairs(registry()) == {"KZ-KORDAI": "KG-AK-JOL", "KG-AK-JOL": "KZ-KORDAI"}


def test_rules_file_reload_keeps_the_last_good_rules(tmp_path: Path) -> None:
    from streams.alerts import RulesError

    f = tmp_path / "rules.yaml"
    text = Path("blo/data/rules.yaml").read_text()
    f.write_text(text)
    rf = RulesFile(f, ["1m", "1h", "1h/5m", "day", "month"])
    first = rf.ruleset
    assert rf.changed() is None  # untouched
    f.write_text(text + "\n# a comment only\n")
    assert rf.changed() is None  # same rules
    f.write_text(text.replace("raise: 50", "raise: 40"))
    new = rf.changed()
    assert new is not None and new != first and rf.ruleset is new
    f.write_text(text.replace("raise: 50", "raise: lots"))
    with pytest.raises(RulesError) as e:
        rf.changed()
    assert any("raise" in p.path for p in e.value.problems)
    assert rf.ruleset is new  # a broken edit keeps the previous rules
    f.write_text(text.replace("window: 1h", "window: 2h", 1))
    with pytest.raises(RulesError, match="2h"):
        rf.changed()
