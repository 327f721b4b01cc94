"""Recovery and rebalance: minute partials, restored emissions and watermarks, forgotten
partitions, forced close."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest

from streams.windows import WindowKey, WindowState, WindowStats, emitted_from_row
from streams.windows.config import WindowConfig, WindowSpec
from tests.unit.streams.windows.driver import Run
from tests.unit.streams.windows.oracle import (
    STATIONS,
    Ev,
    as_dict,
    content,
    epoch,
    expected,
    finals,
    random_events,
    utc,
)

T0 = epoch("2024-05-01T10:00:00+00:00")


def minute_panes(events: list[Ev]) -> list[dict[str, Any]]:
    """add_partial arguments per (station, type, measure, dimension, minute or period),
    summed here with plain Python."""
    groups: dict[tuple[Any, ...], list[Ev]] = defaultdict(list)
    for e in events:
        if e.event_type == "count_report":
            assert e.period is not None
            groups[(e.station, e.event_type, e.measure, e.dimension, e.period)].append(e)
        else:
            groups[(e.station, e.event_type, "", e.drug, e.t - e.t % 60)].append(e)
    out = []
    for (station, et, measure, dim, when), evs in groups.items():
        country, border, tz = STATIONS[station]
        kg = [e.kg for e in evs if e.kg is not None]
        stats = WindowStats(
            events=len(evs), persons=sum(e.persons or 0 for e in evs),
            vehicles=sum(e.vehicles or 0 for e in evs),
            refused=sum(e.outcome == "refused" for e in evs if et == "crossing"),
            inbound=sum(e.direction == "inbound" for e in evs if et == "crossing"),
            outbound=sum(e.direction == "outbound" for e in evs if et == "crossing"),
            seizure_kg=sum(kg), seizure_kg_max=max(kg, default=0.0),
            arrests=sum(e.arrests or 0 for e in evs),
            inspections_with_finds=sum(e.outcome == "find" for e in evs if et == "inspection"),
            value=sum(e.value or 0 for e in evs),
            first_event_at=min(e.t for e in evs), last_event_at=max(e.t for e in evs),
        )
        report = et == "count_report"
        out.append({
            "station_id": station, "country": country, "border": border, "station_tz": tz,
            "event_type": et, "measure": measure, "dimension": dim,
            "occurred_at_s": min(e.t for e in evs) // 60 * 60 if report else when,
            "period_start_s": when[0] if report else None,
            "period_end_s": when[1] if report else None,
            "stats": stats, "partition": 0,
        })
    return out


def test_minute_partials_give_the_same_rows_as_their_events() -> None:
    rng = random.Random(11)
    events = random_events(rng, 1200, T0, 4 * 3600, stations=["TJ-PYANJ", "KZ-KORDAI"])
    s, e = epoch("2024-05-01T00:00:00+06:00"), epoch("2024-05-02T00:00:00+06:00")
    events += [Ev(s + 7, "KZ-KORDAI", "count_report", measure="trucks", value=v, period=(s, e))
               for v in (3.5, 4.25)]
    by_event, by_pane = Run(WindowState()), Run(WindowState())
    by_event.add(events)
    for pane in minute_panes(events):
        by_pane.state.add_partial(**pane)
    for r in (by_event, by_pane):
        r.tick()
        r.close_all()
    assert by_pane.rows == by_event.rows  # every column, versions included
    assert {k: content(v) for k, v in finals(by_pane.rows).items()} == expected(events)


def test_partials_follow_events_and_both_close_the_same() -> None:
    # recovery: panes of what was counted before the crash, then the replayed tail
    rng = random.Random(12)
    events = random_events(rng, 600, T0, 3 * 3600)
    head, tail = events[:400], events[400:]
    r = Run(WindowState())
    for pane in minute_panes(head):
        r.state.add_partial(**pane)
    r.tick()
    r.add(tail)
    r.tick()
    r.close_all()
    assert {k: content(v) for k, v in finals(r.rows).items()} == expected(events)


def test_a_partial_of_a_purged_window_is_counted_and_changes_nothing() -> None:
    config = WindowConfig(windows=(WindowSpec(name="1m", kind="tumbling", size_s=60),))
    st = WindowState(config)
    st.add(Ev(T0 + 2 * 3600, event_type="incident").row(), 0)
    st.tick(1.0, ())
    (pane,) = minute_panes([Ev(T0 + 5, event_type="incident"), Ev(T0 + 6, event_type="incident")])
    st.add_partial(**pane)
    em = st.tick(2.0, ())
    assert em.rows == [] and em.late == [] and em.dropped_partial_events == 2


def test_partials_outside_their_minute_are_refused() -> None:
    (pane,) = minute_panes([Ev(T0 + 5, event_type="incident")])
    pane["occurred_at_s"] = T0 + 60
    with pytest.raises(ValueError, match="not inside the minute"):
        WindowState().add_partial(**pane)
    (rep,) = minute_panes([Ev(T0, event_type="count_report", value=1.0, period=(T0, T0 + 60))])
    rep["period_end_s"] = None
    with pytest.raises(ValueError, match="period"):
        WindowState().add_partial(**rep)


def test_window_rows_read_back_as_restore_arguments() -> None:
    events = [Ev(T0 + 5, event_type="seizure", drug="heroin", kg=2.5, arrests=1),
              Ev(T0 + 9, event_type="seizure", drug="heroin", kg=0.125, arrests=None)]
    r = Run(WindowState())
    r.add(events)
    r.tick()
    row = next(x for x in r.rows if as_dict(x)["window_kind"] == "1m")
    key, status, version, stats = emitted_from_row(row)
    assert key == WindowKey("1m", T0, "TJ-PYANJ", "seizure", "", "heroin")
    assert status == "provisional" and version == as_dict(row)["version"]
    assert stats == WindowStats(events=2, arrests=1, seizure_kg=2.625, seizure_kg_max=2.5,
                                first_event_at=T0 + 5, last_event_at=T0 + 9)
    naive = tuple(v.replace(tzinfo=None) if hasattr(v, "tzinfo") and v.tzinfo else v for v in row)
    assert emitted_from_row(naive) == (key, status, version, stats)  # the driver's datetimes


def test_a_restored_provisional_window_is_finalised_once_and_not_repeated() -> None:
    config = WindowConfig(windows=(WindowSpec(name="1m", kind="tumbling", size_s=60),))
    events = [Ev(T0 + i, event_type="incident") for i in range(0, 50, 5)]
    first = Run(WindowState(config))
    first.add(events)
    first.tick()
    (row,) = first.rows
    second = Run(WindowState(config), now=first.now)
    second.state.restore_emitted(*emitted_from_row(row))
    second.add(events)  # the replay
    assert second.tick() == []  # unchanged since the provisional row
    second.add([Ev(T0 + 200, event_type="incident")])
    final = [as_dict(x) for x in second.tick() if as_dict(x)["window_start"] == utc(T0)]
    assert [(d["status"], d["events"]) for d in final] == [("final", 10)]
    assert final[0]["version"] > as_dict(row)["version"]


def test_restore_checks_and_ignores() -> None:
    st = WindowState()
    key = WindowKey("5m", T0, "TJ-PYANJ", "incident", "", "")
    st.restore_emitted(key, "final", 1, WindowStats(events=1))  # no longer configured: ignored
    with pytest.raises(ValueError, match="status"):
        st.restore_emitted(key._replace(window_kind="1m"), "done", 1, WindowStats(events=1))
    with pytest.raises(ValueError, match="stream"):
        st.restore_watermark("TJ-PYANJ", "other", 0)
    # a memory no event claims is forgotten once the watermark passes its window
    st.restore_emitted(key._replace(window_kind="1m"), "provisional", 1, WindowStats(events=1))
    track = st._store.live["TJ-PYANJ"]
    assert list(track.restored) == [(0, T0)]  # waiting for the window's events
    st.add(Ev(T0 + 3 * 3600, event_type="incident").row(), 0)
    st.tick(1.0, ())
    assert track.restored == {}


def test_a_restored_watermark_judges_replayed_events() -> None:
    st = WindowState(WindowConfig(windows=(WindowSpec(name="1m", kind="tumbling", size_s=60),)))
    st.restore_watermark("TJ-PYANJ", "live", T0 + 2 * 3600)
    assert st.watermarks() == {"TJ-PYANJ": T0 + 2 * 3600}
    st.add(Ev(T0, event_type="incident").row(), 0)
    em = st.tick(1.0, ())
    assert em.rows == [] and [x[2] for x in em.late] == ["1m"]


def test_forgotten_partitions_leave_nothing_behind() -> None:
    r = Run(WindowState())
    r.state.add(Ev(T0, "TJ-PYANJ", "incident").row(), 1)
    r.state.add(Ev(T0, "KZ-KORDAI", "incident").row(), 2)
    r.tick()
    assert r.state.open_windows == 2 * 16  # 1m, 1h, 12 hopping, day, month per station
    r.state.add(Ev(T0 + 1, "TJ-PYANJ", "incident").row(), 1)  # staged, not yet spread
    r.state.forget_partitions({1})
    assert r.state.open_windows == 16
    assert set(r.state.watermarks()) == {"KZ-KORDAI"}
    rows = r.close_all()
    assert {as_dict(x)["station_id"] for x in rows} == {"KZ-KORDAI"}
    assert r.state.open_windows == 0


def test_close_all_finalises_everything_open() -> None:
    r = Run(WindowState())
    r.add([Ev(T0 + 5, event_type="incident"), Ev(T0 + 65, event_type="incident")])
    r.tick()
    assert r.state.open_windows == 2 + 1 + 12 + 1 + 1  # two minutes, an hour, 12 hopping
    assert r.state.open_keys() == r.state.open_windows  # one key each
    rows = [as_dict(x) for x in r.close_all()]
    assert {d["status"] for d in rows} == {"final"} and len(rows) == 17
    assert r.state.open_windows == 0 and r.state.open_keys() == 0
    assert r.close_all() == []
