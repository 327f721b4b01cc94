"""A revised file against what is stored: which events are unchanged, revised, new, and
which stored reports a replaced period voids (blo/importer/revise.py). The "stored" side is
built as the worker stores events: the canonical JSON of the validated event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from blo.importer import CountReportDict, Mapped, iter_import, parse_mapping
from blo.importer.revise import (
    FileFacts,
    ReplacedPeriod,
    RevisionPlan,
    StoredIndex,
    StoredRow,
    StoredState,
    content_of_event,
    content_of_payload,
    judge,
    lookup_chunks,
    parse_period,
    revision_reason,
    scope_measures,
    void_reason,
)
from schemas.events import CountReportEvent, VoidEvent
from schemas.identity import canonical_json
from tests.unit.importer.helpers import REPORTED_AT, make_mapping

LA = "America/Los_Angeles"
HEADER = "Port,Date,Measure,Value\n"
FIRST = HEADER + "P1,2018-01-01,a,10\nP1,2018-02-01,a,20\nP1,2018-03-01,a,30\nP2,2018-01-01,b,5\n"
# February changed, March gone, April new
REVISED = HEADER + "P1,2018-01-01,a,10\nP1,2018-02-01,a,21\nP1,2018-04-01,a,40\nP2,2018-01-01,b,5\n"
LATER = REPORTED_AT + timedelta(days=30)


def events_of(tmp_path: Path, text: str, name: str, at: datetime = REPORTED_AT
              ) -> tuple[list[CountReportDict], Any]:
    path = tmp_path / name
    path.write_text(text)
    m = parse_mapping(yaml.safe_dump(make_mapping(**{"time.default_tz": LA})))
    items = list(iter_import(path, m, reported_at=at))
    assert all(isinstance(i, Mapped) for i in items)
    return [ev for i in items if isinstance(i, Mapped) for ev in i.events], m


def stored(event: CountReportDict | dict[str, Any], *, voided: bool = False,
           tz: str = LA) -> StoredRow:
    """The row the worker stores for ``event`` (its readers' view columns)."""
    model = CountReportEvent.model_validate(event)

    def s(t: datetime) -> int:
        return int(t.timestamp())

    return StoredRow(str(model.event_id), model.station_id, "count_report",
                     model.revision or 0, voided, s(model.occurred_at), model.source_seq,
                     s(model.period_start), s(model.period_end), model.measure, tz,
                     canonical_json(model))


def plan_for(revised: list[CountReportDict], rows: list[StoredRow], measures: frozenset[str],
             period: ReplacedPeriod | None) -> RevisionPlan:
    facts = FileFacts()
    facts.add(revised)
    index = StoredIndex(facts.ids, measures)
    for row in rows:
        index.add(row)
    return RevisionPlan(index, facts, revision_reason("rev.csv", "ab" * 32),
                        void_reason("rev.csv"), LATER, period)


# -- the period ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "first", "last"), [
    ("2018-03", (2018, 3), (2018, 3)),
    ("2018-01..2018-12", (2018, 1), (2018, 12)),
    (" 2018-11..2019-02 ", (2018, 11), (2019, 2)),
    ("2018", (2018, 1), (2018, 12)),
    ("2018..2019", (2018, 1), (2019, 12)),
    ("2018..2019-06", (2018, 1), (2019, 6)),
])
def test_period_forms(text: str, first: tuple[int, int], last: tuple[int, int]) -> None:
    p = parse_period(text)
    assert (p.first, p.last) == (first, last)
    assert parse_period(str(p)) == p


@pytest.mark.parametrize("text", ["", "2018-13", "2018-00", "18-01", "2018-1", "2018/01",
                                  "2018-01..", "2018-03..2018-01", "2018..2019..2020",
                                  "2018-01-05", "jan 2018"])
def test_bad_periods_name_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"YYYY-MM\.\.YYYY-MM"):
        parse_period(text)


def test_a_report_lies_in_the_period_on_its_station_clock() -> None:
    year = parse_period("2018-01..2018-12")

    def local(y: int, m: int, tz: str) -> int:
        from zoneinfo import ZoneInfo
        return int(datetime(y, m, 1, tzinfo=ZoneInfo(tz)).timestamp())

    # December 2018 in Los Angeles ends 2019-01-01T08:00Z, after the UTC year: still in
    assert year.holds(local(2018, 12, LA), local(2019, 1, LA), LA)
    assert not year.holds(local(2019, 1, LA), local(2019, 2, LA), LA)
    assert not year.holds(local(2017, 12, LA), local(2018, 1, LA), LA)
    # Tokyo's January 2018 starts in 2017 by UTC: in
    assert year.holds(local(2018, 1, "Asia/Tokyo"), local(2018, 2, "Asia/Tokyo"), "Asia/Tokyo")
    # a whole-year report lies in the year, not in one month of it
    assert year.holds(local(2018, 1, LA), local(2019, 1, LA), LA)
    assert not parse_period("2018-03").holds(local(2018, 1, LA), local(2019, 1, LA), LA)
    lo, hi = year.utc_bounds()
    assert lo < local(2018, 1, "Asia/Tokyo") and local(2019, 1, LA) < hi


# -- content --------------------------------------------------------------------------------

def test_content_ignores_reported_at_revision_and_reason_only(tmp_path: Path) -> None:
    events, _ = events_of(tmp_path, FIRST, "a.csv")
    again, _ = events_of(tmp_path, FIRST, "b.csv", at=LATER)
    ev = events[1]
    assert again[1]["reported_at"] != ev["reported_at"]
    assert content_of_event(again[1]) == content_of_payload(stored(ev).payload)
    corrected = {**ev, "revision": 3, "correction_reason": "laboratory weight"}
    assert content_of_payload(stored(corrected).payload) == content_of_event(ev)
    assert content_of_event({**ev, "value": 21}) != content_of_event(ev)  # type: ignore[typeddict-item]
    assert content_of_event({**ev, "unit": "persons"}) != content_of_event(ev)  # type: ignore[typeddict-item]
    with_dim = {**ev, "dimension": "inbound"}
    assert content_of_event(with_dim) != content_of_event(ev)  # type: ignore[arg-type]


def test_judge_new_unchanged_revised() -> None:
    ev = {"event_id": "9f0ba3f6-3b6e-5a1c-9d0c-1b5a7e6c2d11", "schema_version": 1,
          "event_type": "count_report", "station_id": "X-P1",
          "occurred_at": "2018-02-01T08:00:00+00:00", "reported_at": "2026-01-15T12:00:00Z",
          "source_seq": 2018021, "period_start": "2018-02-01T08:00:00+00:00",
          "period_end": "2018-03-01T08:00:00+00:00", "measure": "a", "value": 20, "unit": "count"}
    reason = revision_reason("rev.csv", "0123456789abcdef" * 4)
    assert reason == "revised file rev.csv (sha256 0123456789ab)"
    assert judge(ev, None, reason) == ("new", ev)  # type: ignore[arg-type]
    same = content_of_payload(stored(ev).payload)
    assert judge(ev, StoredState(2, same), reason) == ("unchanged", None)  # type: ignore[arg-type]
    verdict, out = judge({**ev, "value": 21}, StoredState(2, same), reason)  # type: ignore[arg-type]
    assert verdict == "revised" and out is not None
    assert (out["revision"], out["correction_reason"], out["value"]) == (3, reason, 21)
    assert "revision" not in ev  # the input is not changed
    CountReportEvent.model_validate(out)  # a revision the schema accepts
    # stored but voided: the same content comes back as the next revision
    verdict, out = judge(ev, StoredState(4, None), reason)  # type: ignore[arg-type]
    assert verdict == "revised" and out is not None and out["revision"] == 5


def test_reasons_fit_a_label() -> None:
    long = "x" * 300 + "\n.csv"
    for reason in (revision_reason(long, "f" * 64), void_reason(long)):
        assert len(reason) <= 128 and "\n" not in reason


# -- the plan ------------------------------------------------------------------------------

def test_revised_file_against_stored_first_import(tmp_path: Path) -> None:
    first, m = events_of(tmp_path, FIRST, "first.csv")
    revised, _ = events_of(tmp_path, REVISED, "rev.csv", at=LATER)
    rows = [stored(ev) for ev in first]
    measures = scope_measures(m, [])
    assert measures == {"a", "b"}  # the mapping's measure codes
    by_month = {ev["period_start"][:7]: ev for ev in first if ev["measure"] == "a"}

    plan = plan_for(revised, rows, measures, parse_period("2018-01..2018-12"))
    out = {ev["period_start"][:7] + ev["measure"]: plan.judge(ev) for ev in revised}
    assert out["2018-01a"] is None and out["2018-01b"] is None  # unchanged
    feb = out["2018-02a"]
    assert feb is not None and feb["revision"] == 1 and feb["value"] == 21
    apr = out["2018-04a"]
    assert apr is not None and "revision" not in apr  # new: as a first import
    assert (plan.counts.new, plan.counts.revised, plan.counts.unchanged,
            plan.counts.voided) == (1, 1, 2, 1)
    [void] = plan.voids
    march = by_month["2018-03"]
    assert (void["event_id"], void["station_id"], void["source_seq"], void["revision"]) == (
        march["event_id"], march["station_id"], march["source_seq"], 1)
    assert void["correction_reason"] == "absent from revised file rev.csv"
    v = VoidEvent.model_validate(void)
    assert v.occurred_at == datetime.fromisoformat(march["occurred_at"])
    assert v.reported_at == LATER

    # without a replaced period nothing is voided; the absent report is counted
    kept = plan_for(revised, rows, measures, None)
    assert kept.voids == [] and kept.counts.absent == 1
    # a replaced period that does not hold March voids nothing
    assert plan_for(revised, rows, measures, parse_period("2018-01..2018-02")).voids == []
    # nor are other measures' reports, nor reports of a revision, voided at the wrong number
    other = plan_for(revised, rows, frozenset({"b"}), parse_period("2018"))
    assert other.voids == []
    revised_rows = rows + [stored({**march, "revision": 2, "correction_reason": "x"})]
    [void] = plan_for(revised, revised_rows, measures, parse_period("2018")).voids
    assert void["revision"] == 3


def test_revisions_count_from_the_highest_stored(tmp_path: Path) -> None:
    first, m = events_of(tmp_path, FIRST, "first.csv")
    revised, _ = events_of(tmp_path, REVISED, "rev.csv", at=LATER)
    feb = next(ev for ev in first if ev["period_start"].startswith("2018-02"))
    jan = next(ev for ev in first if ev["period_start"].startswith("2018-01")
               and ev["measure"] == "a")
    rows = [stored({**feb, "revision": 4, "correction_reason": "x"}),
            # Jan: voided at revision 2 (a withdrawn copy), then the file brings it back
            stored({**jan, "revision": 2, "correction_reason": "x"}, voided=True)]
    plan = plan_for(revised, rows, scope_measures(m, []), None)
    out = {ev["event_id"]: plan.judge(ev) for ev in revised}
    assert out[feb["event_id"]]["revision"] == 5  # type: ignore[index]
    assert out[jan["event_id"]]["revision"] == 3  # type: ignore[index]
    # the same content as a stored revision is unchanged, whatever that revision's number
    same = plan_for(first, [stored({**feb, "revision": 4, "correction_reason": "x"})],
                    scope_measures(m, []), None)
    assert same.judge(feb) is None and same.counts.unchanged == 1


def test_nothing_stored_everything_new(tmp_path: Path) -> None:
    first, m = events_of(tmp_path, FIRST, "first.csv")
    plan = plan_for(first, [], scope_measures(m, []), parse_period("2018"))
    assert [plan.judge(ev) for ev in first] == first
    assert (plan.counts.new, plan.voids) == (4, [])


def test_measures_without_codes_are_the_files() -> None:
    m = parse_mapping(yaml.safe_dump(make_mapping(**{
        "fields.measure": "persons",
        "source_seq.parts": [{"column": "Measure", "digits": 1, "codes": {"a": 1, "b": 2}}]})))
    assert scope_measures(m, ["persons"]) == {"persons"}


# -- bounded reads ---------------------------------------------------------------------------

def test_lookup_chunks_per_year_and_bounded_groups() -> None:
    facts = FileFacts()
    t = "{y}-0{m}-01T08:00:00+00:00"
    events: list[Any] = []
    for st, n in (("A", 5), ("B", 3), ("C", 1)):
        for i in range(n):
            for y in (2018, 2019):
                events.append({"event_id": f"{st}{i}{y}", "station_id": st, "measure": "a",
                               "occurred_at": t.format(y=y, m=i % 9 + 1),
                               "period_start": t.format(y=y, m=i % 9 + 1),
                               "period_end": t.format(y=y, m=i % 9 + 2)})
    facts.add(events)
    chunks = lookup_chunks(facts, max_events=6)
    y18 = int(datetime(2018, 1, 1, tzinfo=UTC).timestamp())
    y19 = int(datetime(2019, 1, 1, tzinfo=UTC).timestamp())
    y20 = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
    assert chunks == [(("A",), y18, y19), (("B", "C"), y18, y19),
                      (("A",), y19, y20), (("B", "C"), y19, y20)]
    # a replaced period outside the file's span widens the reads; stations with no event
    # in a year count one each
    wider = lookup_chunks(facts, parse_period("2017-06"), max_stations=2)
    y17 = int(datetime(2017, 1, 1, tzinfo=UTC).timestamp())
    assert wider[:2] == [(("A", "B"), y17, y18), (("C",), y17, y18)]
    assert len(wider) == 6
    assert facts.overlaps(parse_period("2018-03")) and not facts.overlaps(parse_period("2016"))
    assert lookup_chunks(FileFacts()) == []
