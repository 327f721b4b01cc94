"""Window rules under corrections and voids: a newer version of a station key may lower a
bucket. The bucket a firing alert fired on, once past clear, resolves it at once."""

from __future__ import annotations

from sinks.base import Row
from sinks.tables import WINDOW_STATS
from streams.alerts import AlertEngine
from tests.unit.streams.alerts.factories import (
    CROSSINGS_LOW,
    SEIZURE_1H,
    T0,
    H,
    History,
    M,
    alerts,
    dt,
    engine,
    feed,
    rule_yaml,
    states,
    wrow,
)

MESSAGE = "{scope_key} {value} {state} corrected={corrected}"

def seizure_engine(extra: str = "") -> AlertEngine:
    return engine(rule_yaml(SEIZURE_1H + extra, message=MESSAGE))


def test_a_correction_below_raise_of_the_bucket_that_fired_resolves_at_once() -> None:
    e = seizure_engine()  # settle_s 300 (the default): no wait for a correction
    [fired] = alerts(feed(e, [wrow(T0, seizure_kg=60, version=1, last_event_at=T0 + 600)]))
    assert (fired["state"], fired["value"], fired["message"]) == (
        "firing", 60.0, "TJ-PYANJ 60 firing corrected=0")
    rows = feed(e, [wrow(T0, seizure_kg=30, status="corrected", version=2,
                         last_event_at=T0 + 600)])
    [resolved] = alerts(rows)
    assert resolved["alert_id"] == fired["alert_id"] and resolved["version"] == 2
    assert resolved["state"] == "resolved"
    assert (resolved["value"], resolved["threshold"]) == (30.0, 50.0)  # corrected, clear
    assert (resolved["window_start"], resolved["window_end"]) == (dt(T0), dt(T0 + H))
    assert resolved["resolved_at"] == resolved["updated_at"] == dt(T0 + 600)
    assert resolved["message"] == "TJ-PYANJ 30 resolved corrected=1"
    assert e.open_alerts() == []


def test_a_correction_still_above_raise_keeps_the_alert_firing() -> None:
    e = seizure_engine("settle_s: 0\n")
    feed(e, [wrow(T0, seizure_kg=60, version=1)])
    assert feed(e, [wrow(T0, seizure_kg=55, status="corrected", version=2)]) == []
    [still] = e.open_alerts()
    assert still.window_start == T0
    # the usual way out is unchanged: a later cold window, not marked as a correction
    [resolved] = alerts(feed(e, [wrow(T0 + H, seizure_kg=10, version=3,
                                 last_event_at=T0 + 2 * H)]))
    assert (resolved["state"], resolved["window_start"], resolved["value"]) == (
        "resolved", dt(T0 + H), 10.0)
    assert resolved["message"] == "TJ-PYANJ 10 resolved corrected=0"


def test_between_clear_and_raise_a_correction_keeps_it_firing_below_clear_resolves() -> None:
    e = seizure_engine("clear: 40\n")
    feed(e, [wrow(T0, seizure_kg=60, version=1)])
    assert feed(e, [wrow(T0, seizure_kg=45, status="corrected", version=2)]) == []
    [resolved] = alerts(feed(e, [wrow(T0, seizure_kg=39, status="corrected", version=3)]))
    assert (resolved["state"], resolved["value"], resolved["threshold"]) == (
        "resolved", 39.0, 40.0)


def test_an_older_version_of_the_fired_row_changes_nothing() -> None:
    e = seizure_engine()
    feed(e, [wrow(T0, seizure_kg=60, status="corrected", version=5)])
    assert feed(e, [wrow(T0, seizure_kg=30, status="final", version=4)]) == []
    assert feed(e, [wrow(T0, seizure_kg=30, status="corrected", version=5)]) == []
    assert [a.value for a in e.open_alerts()] == [60.0]


def test_a_border_roll_up_resolves_when_one_stations_correction_takes_the_sum_below() -> None:
    body = SEIZURE_1H.replace("scope: station", "scope: border")
    e = engine(rule_yaml(body, message=MESSAGE))
    rows = feed(e, [wrow(T0, station="TJ-PYANJ", seizure_kg=40, version=1),
                    wrow(T0, station="AF-SHERKHAN", seizure_kg=30, version=2)])
    [fired] = alerts(rows)
    assert (fired["scope"], fired["scope_key"], fired["value"]) == ("border", "AF-TJ", 70.0)
    rows = feed(e, [wrow(T0, station="AF-SHERKHAN", seizure_kg=5, status="corrected",
                         version=3)])
    [resolved] = alerts(rows)
    assert resolved["alert_id"] == fired["alert_id"]
    assert (resolved["state"], resolved["scope_key"], resolved["value"]) == (
        "resolved", "AF-TJ", 45.0)  # TJ-PYANJ's 40 + AF-SHERKHAN's corrected 5
    assert resolved["message"] == "AF-TJ 45 resolved corrected=1"


def test_a_provisional_rule_resolves_when_a_later_provisional_row_lowers_the_window() -> None:
    e = seizure_engine("on: provisional\n")
    rows = feed(e, [wrow(T0, seizure_kg=60, status="provisional", version=1,
                         last_event_at=T0 + 900)])
    [fired] = alerts(rows)
    assert (fired["provisional"], fired["fired_at"]) == (1, dt(T0 + 900))
    # the hour is still open (not settled): a voided event lowers it
    rows = feed(e, [wrow(T0, seizure_kg=20, status="provisional", version=2,
                         last_event_at=T0 + 1200)])
    [resolved] = alerts(rows)
    assert (resolved["state"], resolved["value"], resolved["provisional"]) == (
        "resolved", 20.0, 1)
    assert resolved["resolved_at"] == dt(T0 + 1200)


def test_a_correction_of_a_window_that_did_not_fire_resolves_and_fires_nothing() -> None:
    e = seizure_engine("clear: 40\nsettle_s: 0\n")
    feed(e, [wrow(T0, seizure_kg=20, version=1), wrow(T0 + H, seizure_kg=60, version=2),
             wrow(T0 + 2 * H, seizure_kg=55, version=3)])
    [open_] = e.open_alerts()
    assert open_.window_start == T0 + H
    # an earlier window lowered, a later one lowered but still above clear: no change
    assert feed(e, [wrow(T0, seizure_kg=0, status="corrected", version=4),
                    wrow(T0 + 2 * H, seizure_kg=45, status="corrected", version=5)]) == []
    assert [a.alert_id for a in e.open_alerts()] == [open_.alert_id]


def test_a_correction_raising_a_window_fires_it() -> None:
    e = seizure_engine("settle_s: 0\n")
    assert feed(e, [wrow(T0, seizure_kg=20, version=1)]) == []
    [fired] = alerts(feed(e, [wrow(T0, seizure_kg=70, status="corrected", version=2)]))
    assert (fired["state"], fired["value"], fired["window_start"]) == ("firing", 70.0, dt(T0))


def test_after_a_correction_later_hot_windows_fire_again_subject_to_the_cooldown() -> None:
    no_cooldown = seizure_engine("settle_s: 0\n")
    feed(no_cooldown, [wrow(T0, seizure_kg=60, version=1),
                       wrow(T0 + H, seizure_kg=60, version=2)])  # hot, but the key is open
    rows = feed(no_cooldown, [wrow(T0, seizure_kg=30, status="corrected", version=3)])
    assert [(a["state"], a["window_start"]) for a in alerts(rows)] == [
        ("resolved", dt(T0)), ("firing", dt(T0 + H))]

    cooldown = seizure_engine("settle_s: 0\ncooldown_s: 7200\n")
    feed(cooldown, [wrow(T0, seizure_kg=60, version=1)])
    [resolved] = alerts(feed(cooldown, [wrow(T0, seizure_kg=30, status="corrected",
                                             version=2)]))
    assert resolved["resolved_at"] == dt(T0 + H - 1)  # the latest event the hour counts
    # the same window corrected back up opens no second alert for it (an id opens once)
    assert feed(cooldown, [wrow(T0, seizure_kg=80, status="corrected", version=3)]) == []
    # windows starting before resolved_at + 2 h cannot fire; the next one can
    assert feed(cooldown, [wrow(T0 + H, seizure_kg=60, version=4),
                           wrow(T0 + 2 * H, seizure_kg=60, version=5)]) == []
    [again] = alerts(feed(cooldown, [wrow(T0 + 3 * H, seizure_kg=60, version=6)]))
    assert (again["state"], again["window_start"]) == ("firing", dt(T0 + 3 * H))
    assert again["alert_id"] != resolved["alert_id"]


def test_for_s_resolves_when_a_correction_cuts_the_run_that_fired() -> None:
    body = SEIZURE_1H.replace("window: 1h", "window: 1m") + "settle_s: 0\nfor_s: 180\n"
    e = engine(rule_yaml(body, message=MESSAGE))

    def minute(m: int, kg: float, version: int, status: str = "final") -> Row:
        return wrow(T0 + m * M, M, kind="1m", seizure_kg=kg, version=version, status=status)

    [fired] = alerts(feed(e, [minute(0, 60, 1), minute(1, 60, 2), minute(2, 60, 3)]))
    assert fired["window_start"] == dt(T0 + 2 * M)
    # a correction of minute 1 that keeps it hot changes nothing
    assert feed(e, [minute(1, 51, 4, "corrected")]) == []
    # minute 1 corrected to 10: minute 2 alone spans 60 s, not 180
    [resolved] = alerts(feed(e, [minute(1, 10, 5, "corrected")]))
    assert (resolved["alert_id"], resolved["state"]) == (fired["alert_id"], "resolved")
    assert (resolved["window_start"], resolved["value"]) == (dt(T0 + M), 10.0)
    assert resolved["message"] == "TJ-PYANJ 10 resolved corrected=1"
    # a new run: minutes 3, 4, 5 reach 180 s at 5 (minute 2 fired already)
    assert feed(e, [minute(3, 60, 6), minute(4, 60, 7)]) == []
    [again] = alerts(feed(e, [minute(5, 60, 8)]))
    assert (again["state"], again["window_start"]) == ("firing", dt(T0 + 5 * M))


def test_for_s_ignores_a_correction_outside_the_run() -> None:
    body = SEIZURE_1H.replace("window: 1h", "window: 1m") + "settle_s: 0\nfor_s: 120\n"
    e = engine(rule_yaml(body))
    rows = [wrow(T0, M, kind="1m", seizure_kg=60, version=1),  # minute 1 has no row
            *(wrow(T0 + m * M, M, kind="1m", seizure_kg=60, version=m + 1) for m in (2, 3))]
    [fired] = alerts(feed(e, rows))
    assert fired["window_start"] == dt(T0 + 3 * M)
    assert feed(e, [wrow(T0, M, kind="1m", seizure_kg=0, status="corrected", version=9)]) == []
    assert len(e.open_alerts()) == 1


def crossings(i: int, events: int, version: int, status: str = "final") -> Row:
    return wrow(T0 + i * H, event_type="crossing", dimension="", events=events,
                version=version, status=status)


def test_a_low_condition_resolves_when_a_correction_raises_the_window_past_clear() -> None:
    e = engine(rule_yaml(CROSSINGS_LOW, message=MESSAGE))
    assert feed(e, [crossings(0, 1, 1)]) == []
    [fired] = alerts(feed(e, [crossings(1, 4, 2)]))  # the next hour settles hour 0
    assert (fired["window_start"], fired["value"]) == (dt(T0), 1.0)
    # raised to 4 (between raise and clear): still firing; to 6 (past clear): resolved
    assert feed(e, [crossings(0, 4, 3, "corrected")]) == []
    [resolved] = alerts(feed(e, [crossings(0, 6, 4, "corrected")]))
    assert (resolved["state"], resolved["window_start"], resolved["value"],
            resolved["threshold"]) == ("resolved", dt(T0), 6.0, 5.0)
    assert resolved["message"] == "TJ-PYANJ 6 resolved corrected=1"


def test_a_low_condition_ignores_a_correction_of_another_window() -> None:
    e = engine(rule_yaml(CROSSINGS_LOW))
    feed(e, [crossings(0, 1, 1), crossings(1, 4, 2)])
    assert feed(e, [crossings(1, 5, 3, "corrected")]) == []  # not past clear (> 5)
    assert len(e.open_alerts()) == 1


def test_a_baseline_alert_resolves_when_a_correction_takes_the_window_to_its_clear_level(
) -> None:
    body = """
        statistic: refused
        window: 1h
        filters: {event_type: crossing}
        k: 2
        clear_k: 1
        weeks: 4
        min_weeks: 2
        settle_s: 0
    """
    # history 8, 12: mean 10, stddev 2 → raise above 14, clear at or below 12
    e = engine(rule_yaml(body, kind="baseline", message=MESSAGE), baseline=History([8, 12]))

    def refused(n: int, version: int) -> Row:
        return wrow(T0, event_type="crossing", dimension="", refused=n, version=version,
                    status="corrected" if version > 1 else "final")

    [fired] = alerts(feed(e, [refused(20, 1)]))
    assert (fired["value"], fired["threshold"]) == (20.0, 14.0)
    assert feed(e, [refused(13, 2)]) == []  # above clear: still firing
    [resolved] = alerts(feed(e, [refused(12, 3)]))
    assert (resolved["state"], resolved["value"], resolved["threshold"]) == (
        "resolved", 12.0, 12.0)
    assert resolved["message"] == "TJ-PYANJ 12 resolved corrected=1"


def test_a_restored_alert_resolves_when_the_refed_window_was_corrected_meanwhile() -> None:
    before = seizure_engine()
    [fired] = alerts(feed(before, [wrow(T0, seizure_kg=60, version=1)]))
    after = seizure_engine()
    after.restore(before.state_snapshot())
    # restore re-feeds the readers' view: only the corrected version of the row
    after.on_window_rows([wrow(T0, seizure_kg=30, status="corrected", version=2)])
    [resolved] = alerts(after.drain())
    assert (resolved["alert_id"], resolved["version"], resolved["state"]) == (
        fired["alert_id"], 2, "resolved")


def test_a_correction_within_the_history_horizon_is_judged_an_older_one_is_not() -> None:
    recent = seizure_engine()
    feed(recent, [wrow(T0, seizure_kg=60, version=1)])
    late = wrow(T0, seizure_kg=30, status="corrected", version=2)
    recent.on_window_rows([_emitted(late, T0 + H + 6 * H)])  # six hours after the hour
    assert states(recent.drain()) == [("TJ-PYANJ", "resolved", 2)]

    old = seizure_engine()
    feed(old, [wrow(T0, seizure_kg=60, version=1)])
    old.on_window_rows([_emitted(late, T0 + H + 2 * 86_400)])  # historical: not judged
    assert old.drain() == [] and len(old.open_alerts()) == 1


def _emitted(row: Row, at: int) -> Row:
    """``row`` with another ``updated_at`` (its emission time)."""
    values = list(row)
    values[WINDOW_STATS.column_names.index("updated_at")] = dt(at)
    return tuple(values)


def test_a_calendar_day_rolled_up_across_zones_resolves_on_its_correction() -> None:
    body = """
        statistic: seizure_kg
        window: day
        scope: border
        filters: {event_type: seizure}
        raise: 20
        settle_s: 0
    """
    e = engine(rule_yaml(body, message=MESSAGE))
    tj_start = T0 - 15 * H  # Dushanbe midnight; Kabul's is half an hour later
    def day(start: int, kg: float, version: int, station: str = "TJ-PYANJ",
            status: str = "final") -> Row:
        return wrow(start, 24 * H, kind="day", label="2024-05-01", station=station,
                    seizure_kg=kg, version=version, status=status)

    [fired] = alerts(feed(e, [day(tj_start, 12, 1), day(tj_start + 1800, 9, 2, "AF-SHERKHAN")]))
    assert fired["value"] == 21.0
    [resolved] = alerts(feed(e, [day(tj_start, 2, 3, status="corrected")]))
    assert (resolved["alert_id"], resolved["state"], resolved["value"]) == (
        fired["alert_id"], "resolved", 11.0)
