"""Threshold rules over window rows: firing, hysteresis, for, cooldown, dedup, roll-ups."""

from __future__ import annotations

import uuid

from tests.unit.streams.alerts import factories
from tests.unit.streams.alerts.factories import (
    CROSSINGS_LOW,
    T0,
    H,
    M,
    alerts,
    dt,
    engine,
    feed,
    rule_yaml,
    states,
    wrow,
)

NS = uuid.UUID("ea5cbb95-d5c3-5fd4-90d0-d75c3207094f")  # uuid5(NAMESPACE_URL, 'urn:blo-stream:alert')

SEIZURE_1H = factories.SEIZURE_1H + "settle_s: 0\n"


def test_a_value_at_raise_fires_one_alert_with_every_column() -> None:
    e = engine(rule_yaml(SEIZURE_1H, message="{station_id}: {value:.1f} kg >= {threshold}"))
    rows = feed(e, [wrow(T0, seizure_kg=49.9), wrow(T0 + H, seizure_kg=50, last_event_at=T0 + H + 600)])
    [a] = alerts(rows)
    assert a["alert_id"] == uuid.uuid5(NS, f"r1|TJ-PYANJ|{T0 + H}")
    assert a["version"] == 1
    assert (a["rule_id"], a["rule_name"], a["kind"], a["severity"], a["state"]) == (
        "r1", "Rule r1", "threshold", "warning", "firing")
    assert (a["scope"], a["scope_key"], a["station_id"], a["window_kind"]) == (
        "station", "TJ-PYANJ", "TJ-PYANJ", "1h")
    assert (a["window_start"], a["window_end"]) == (dt(T0 + H), dt(T0 + 2 * H))
    assert (a["value"], a["threshold"], a["provisional"]) == (50.0, 50.0, 0)
    assert a["message"] == "TJ-PYANJ: 50.0 kg >= 50"
    assert a["labels"] == ["area=south", "team=drugs"]
    assert a["fired_at"] == a["updated_at"] == dt(T0 + H + 600)  # the latest event counted
    assert (a["resolved_at"], a["acked"], a["acked_by"], a["acked_at"], a["ack_comment"]) == (
        dt(0), 0, "", dt(0), "")


def test_filters_select_the_rows_summed() -> None:
    e = engine(rule_yaml(SEIZURE_1H))
    rows = feed(e, [
        wrow(T0, event_type="crossing", dimension="", seizure_kg=80),  # not a seizure row
        wrow(T0, kind="1m", size=M, seizure_kg=80),  # another window kind
        wrow(T0, dimension="heroin", seizure_kg=30),
        wrow(T0, dimension="opium", seizure_kg=25),  # same station, another drug: summed
    ])
    [a] = alerts(rows)
    assert a["value"] == 55.0


def test_hysteresis_a_value_oscillating_around_raise_fires_once_and_resolves_once() -> None:
    e = engine(rule_yaml(SEIZURE_1H + "clear: 40\n"))
    values = [45, 55, 48, 52, 49, 51, 45, 41, 30, 35]
    rows = feed(e, [wrow(T0 + i * H, seizure_kg=v) for i, v in enumerate(values)])
    assert states(rows) == [("TJ-PYANJ", "firing", 1), ("TJ-PYANJ", "resolved", 2)]
    fired, resolved = alerts(rows)
    assert fired["alert_id"] == resolved["alert_id"]
    assert fired["window_start"] == dt(T0 + 1 * H) and fired["value"] == 55
    # resolved by the first window below clear (30, the 9th), once it is complete
    assert resolved["window_start"] == dt(T0 + 8 * H) and resolved["value"] == 30
    assert resolved["threshold"] == 40  # the clear level it went past
    assert resolved["resolved_at"] == resolved["updated_at"] == dt(T0 + 9 * H)
    assert resolved["fired_at"] == fired["fired_at"]


def test_without_clear_the_same_values_flap() -> None:
    e = engine(rule_yaml(SEIZURE_1H))
    values = [45, 55, 48, 52, 49, 51, 45, 41, 30, 35]
    rows = feed(e, [wrow(T0 + i * H, seizure_kg=v) for i, v in enumerate(values)])
    fired = [a for a in alerts(rows) if a["state"] == "firing"]
    assert len(fired) == 3  # 55, 52, 51: the reason clear exists


def test_a_cold_window_resolves_only_once_it_is_complete() -> None:
    e = engine(rule_yaml(SEIZURE_1H + "clear: 40\n"))
    assert states(feed(e, [wrow(T0, seizure_kg=60)])) == [("TJ-PYANJ", "firing", 1)]
    assert feed(e, [wrow(T0 + H, seizure_kg=10)]) == []  # the station's hour is not over
    e.tick(T0 + 2 * H - 1, caught_up=True)
    assert e.drain() == []
    e.tick(T0 + 2 * H, caught_up=False)  # a replay's clock proves nothing
    assert e.drain() == []
    e.tick(T0 + 2 * H, caught_up=True)
    assert states(e.drain()) == [("TJ-PYANJ", "resolved", 2)]


def test_settle_s_waits_for_later_rows() -> None:
    e = engine(rule_yaml(SEIZURE_1H.replace("settle_s: 0", "settle_s: 300")))
    feed(e, [wrow(T0, seizure_kg=60), wrow(T0 + H, seizure_kg=0)])
    assert feed(e, [wrow(T0 + 2 * H, kind="1h", seizure_kg=0, last_event_at=T0 + 2 * H + 299)]) == []
    rows = feed(e, [wrow(T0 + 2 * H, kind="1h", seizure_kg=0, last_event_at=T0 + 2 * H + 300)])
    assert states(rows) == [("TJ-PYANJ", "resolved", 2)]


def test_for_fires_only_after_consecutive_windows_spanning_for_s() -> None:
    body = SEIZURE_1H.replace("window: 1h", "window: 1m") + "for_s: 180\n"
    e = engine(rule_yaml(body))
    kg = {0: 60, 1: 60, 2: 10, 3: 60, 5: 60, 6: 60, 7: 60}  # minute → kg; minute 4 has no row
    rows = feed(e, [wrow(T0 + m * M, M, kind="1m", seizure_kg=v) for m, v in kg.items()])
    [a] = alerts(rows)
    # minutes 0-1 span 120 s; 3 stands alone (4 is missing); 5, 6, 7 reach 180 s at 7
    assert a["window_start"] == dt(T0 + 7 * M)


def test_for_counts_a_window_that_turns_hot_late() -> None:
    body = SEIZURE_1H.replace("window: 1h", "window: 1m") + "for_s: 180\n"
    e = engine(rule_yaml(body))
    assert feed(e, [wrow(T0, M, kind="1m", seizure_kg=60),
                    wrow(T0 + 2 * M, M, kind="1m", seizure_kg=60),
                    wrow(T0 + M, M, kind="1m", seizure_kg=10, version=1)]) == []
    rows = feed(e, [wrow(T0 + M, M, kind="1m", seizure_kg=55, version=2)])  # a correction
    [a] = alerts(rows)
    assert a["window_start"] == dt(T0 + 2 * M)


def test_cooldown_blocks_windows_starting_before_it_ends() -> None:
    e = engine(rule_yaml(SEIZURE_1H + "cooldown_s: 7200\n"))
    kg = [60, 10, 60, 60, 60]
    rows = feed(e, [wrow(T0 + i * H, seizure_kg=v) for i, v in enumerate(kg)])
    a = alerts(rows)
    assert [(x["state"], x["window_start"]) for x in a] == [
        ("firing", dt(T0)),
        ("resolved", dt(T0 + H)),  # resolved at T0 + 2h: no firing before T0 + 4h
        ("firing", dt(T0 + 4 * H)),
    ]
    assert a[0]["alert_id"] == a[1]["alert_id"] != a[2]["alert_id"]
    assert a[2]["version"] == 1


def test_without_cooldown_the_next_hot_window_fires_again() -> None:
    e = engine(rule_yaml(SEIZURE_1H))
    rows = feed(e, [wrow(T0 + i * H, seizure_kg=v) for i, v in enumerate([60, 10, 60])])
    assert [x["state"] for x in alerts(rows)] == ["firing", "resolved", "firing"]


def test_the_same_row_twice_is_one_alert() -> None:
    e = engine(rule_yaml(SEIZURE_1H))
    row = wrow(T0, seizure_kg=60)
    assert len(feed(e, [row, row])) == 1
    e.on_window_rows([row, row])
    assert e.drain() == []


def test_provisional_then_final_of_one_window_is_one_alert() -> None:
    e = engine(rule_yaml(SEIZURE_1H + "on: provisional\n"))
    rows = feed(e, [wrow(T0, seizure_kg=55, status="provisional", version=1),
                    wrow(T0, seizure_kg=70, status="final", version=2)])
    [a] = alerts(rows)
    assert (a["provisional"], a["value"]) == (1, 55.0)


def test_final_rules_ignore_provisional_rows() -> None:
    e = engine(rule_yaml(SEIZURE_1H))
    assert feed(e, [wrow(T0, seizure_kg=55, status="provisional", version=1)]) == []
    [a] = alerts(feed(e, [wrow(T0, seizure_kg=51, status="final", version=2)]))
    assert (a["provisional"], a["value"]) == (0, 51.0)


def test_an_older_version_of_a_row_changes_nothing() -> None:
    e = engine(rule_yaml(SEIZURE_1H + "on: provisional\n"))
    feed(e, [wrow(T0, seizure_kg=20, version=5, status="provisional")])
    assert feed(e, [wrow(T0, seizure_kg=90, version=4, status="provisional")]) == []


COUNTRY = """
    statistic: seizure_kg
    window: 1h
    scope: {scope}
    op: ">="
    raise: 100
    settle_s: 0
    on: provisional
"""


def test_country_roll_up_replaces_a_stations_provisional_value_with_its_final_one() -> None:
    e = engine(rule_yaml(COUNTRY.format(scope="country")))
    rows = feed(e, [
        wrow(T0, station="TJ-PYANJ", seizure_kg=60, status="provisional", version=1),
        wrow(T0, station="TJ-PYANJ", seizure_kg=70, status="final", version=2),
        wrow(T0, station="TJ-ISHKASHIM", seizure_kg=20, status="final", version=3),
        wrow(T0, station="AF-SHERKHAN", seizure_kg=500),  # another country
    ])
    assert [a["scope_key"] for a in alerts(rows)] == ["AF"]  # TJ: 70 + 20 = 90, not 150
    rows = feed(e, [wrow(T0, station="TJ-ISHKASHIM", seizure_kg=31, status="corrected",
                         version=4)])
    [a] = alerts(rows)
    assert (a["scope"], a["scope_key"], a["station_id"], a["value"]) == (
        "country", "TJ", "", 101.0)


def test_border_and_all_roll_ups_sum_the_latest_row_of_each_station() -> None:
    border = engine(rule_yaml(COUNTRY.format(scope="border")))
    everything = engine(rule_yaml(COUNTRY.format(scope="all")))
    inputs = [
        wrow(T0, station="KZ-KORDAI", seizure_kg=30, version=1),
        wrow(T0, station="TJ-PYANJ", seizure_kg=40, version=2),
        wrow(T0, station="TJ-PYANJ", seizure_kg=45, version=3),
        wrow(T0, station="AF-SHERKHAN", seizure_kg=60, version=4),
    ]
    [b] = alerts(feed(border, inputs))
    [a] = alerts(feed(everything, inputs))
    assert (b["scope"], b["scope_key"], b["value"]) == ("border", "AF-TJ", 105.0)
    assert (a["scope"], a["scope_key"], a["value"]) == ("all", "all", 135.0)


def test_an_interior_post_is_in_its_country_and_all_but_in_no_border_roll_up() -> None:
    by = {scope: engine(rule_yaml(COUNTRY.format(scope=scope)))
          for scope in ("border", "country", "all")}
    inputs = [wrow(T0, station="TJ-PYANJ", seizure_kg=10),
              wrow(T0, station="TJ-DUSHANBE-AIRPORT", seizure_kg=150)]
    got = {scope: [(a["scope_key"], a["value"]) for a in alerts(feed(e, inputs))]
           for scope, e in by.items()}
    assert got == {"border": [], "country": [("TJ", 160.0)], "all": [("all", 160.0)]}
    # the border's own posts still add up: 10 + 95 = 105
    [b] = alerts(feed(by["border"], [wrow(T0, station="AF-SHERKHAN", seizure_kg=95)]))
    assert (b["scope_key"], b["value"]) == ("AF-TJ", 105.0)


def test_seizure_kg_max_takes_the_largest_not_the_sum() -> None:
    body = COUNTRY.format(scope="country").replace("seizure_kg\n", "seizure_kg_max\n")
    e = engine(rule_yaml(body.replace("raise: 100", "raise: 50")))
    assert feed(e, [wrow(T0, station="TJ-PYANJ", seizure_kg_max=30),
                    wrow(T0, station="TJ-ISHKASHIM", seizure_kg_max=40)]) == []
    [a] = alerts(feed(e, [wrow(T0, station="TJ-ISHKASHIM", seizure_kg_max=50)]))
    assert a["value"] == 50.0


def test_calendar_days_of_stations_in_different_zones_are_one_bucket() -> None:
    body = """
        statistic: seizure_kg
        window: day
        scope: border
        filters: {event_type: seizure, dimension: [heroin, opium]}
        raise: 20
        settle_s: 0
    """
    e = engine(rule_yaml(body))
    tj_start = T0 - 15 * H  # 2024-04-30T19:00Z: Dushanbe (UTC+5) midnight
    af_start = tj_start + 1800  # Kabul (UTC+4:30)
    rows = feed(e, [
        wrow(tj_start, 24 * H, kind="day", label="2024-05-01", dimension="heroin", seizure_kg=12),
        wrow(af_start, 24 * H, kind="day", label="2024-05-01", station="AF-SHERKHAN",
             dimension="opium", seizure_kg=9),
        wrow(tj_start, 24 * H, kind="day", label="2024-05-01", dimension="hashish", seizure_kg=99),
    ])
    [a] = alerts(rows)
    assert a["value"] == 21.0
    assert (a["window_start"], a["window_end"]) == (dt(tj_start), dt(af_start + 24 * H))
    assert a["alert_id"] == uuid.uuid5(NS, "r1|AF-TJ|2024-05-01")


def test_a_low_condition_waits_for_the_window_to_be_complete() -> None:
    e = engine(rule_yaml(CROSSINGS_LOW))
    assert feed(e, [wrow(T0, event_type="crossing", dimension="", events=1)]) == []
    # more crossings of the same hour could still come; the next hour's row completes it
    rows = feed(e, [wrow(T0 + H, event_type="crossing", dimension="", events=4)])
    assert states(rows) == [("TJ-PYANJ", "firing", 1)]
    # 4 is between raise and clear: still firing; 6 is past clear at once (it can only grow)
    assert feed(e, [wrow(T0 + 2 * H, event_type="crossing", dimension="", events=4)]) == []
    rows = feed(e, [wrow(T0 + 3 * H, event_type="crossing", dimension="", events=6,
                         last_event_at=T0 + 3 * H + 5)])
    assert states(rows) == [("TJ-PYANJ", "resolved", 2)]


def test_a_batch_is_applied_whole_before_judging() -> None:
    e = engine(rule_yaml(SEIZURE_1H + "clear: 40\n"))
    feed(e, [wrow(T0, seizure_kg=60)])
    # one tick's emission: the next hour's rows, two drugs that together stay above clear
    e.on_window_rows([wrow(T0 + 2 * H, seizure_kg=0), wrow(T0 + H, dimension="heroin",
                      seizure_kg=20), wrow(T0 + H, dimension="opium", seizure_kg=25)])
    assert e.drain() == []


def test_a_corrected_old_window_fires_and_later_cold_windows_resolve_it() -> None:
    e = engine(rule_yaml(SEIZURE_1H))
    assert feed(e, [wrow(T0 + i * H, seizure_kg=10, version=i + 1) for i in range(4)]) == []
    rows = feed(e, [wrow(T0 + H, seizure_kg=80, status="corrected", version=10)])
    assert [(a["state"], a["window_start"]) for a in alerts(rows)] == [
        ("firing", dt(T0 + H)), ("resolved", dt(T0 + 2 * H))]


def test_old_windows_are_judged_then_forgotten() -> None:
    e = engine(rule_yaml(SEIZURE_1H))
    feed(e, [wrow(T0, seizure_kg=60), wrow(T0 + H, seizure_kg=0, last_event_at=T0 + H + 60)])
    assert e.drain() == []  # the second hour is not complete: no judgement yet
    # other stations' rows move the event time 3 hours on: the hour is forgotten, judged first
    rows = feed(e, [wrow(T0 + 4 * H, station="KZ-KORDAI", event_type="crossing")])
    assert states(rows) == [("TJ-PYANJ", "resolved", 2)]
    # a row for a forgotten window changes nothing (it would be a partial bucket)
    assert feed(e, [wrow(T0, station="TJ-PYANJ", seizure_kg=500, version=99)]) == []
