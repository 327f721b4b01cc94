"""Silence rules: an active station that sends nothing for silence_s."""

from __future__ import annotations

import uuid

from streams.alerts import AlertEngine
from tests.unit.streams.alerts.factories import T0, alerts, dt, engine, rule_yaml, states, wrow

NS = uuid.UUID("ea5cbb95-d5c3-5fd4-90d0-d75c3207094f")
SILENCE = """
    silence_s: 1800
    active_within_s: 604800
"""


def silence(extra: str = "",
            message: str = "{station_id} silent since {last_event_at}") -> AlertEngine:
    return engine(rule_yaml(SILENCE + extra, kind="silence", message=message))


def test_fires_after_silence_s_of_caught_up_clock_once() -> None:
    e = silence()
    e.on_station_seen("TJ-PYANJ", T0 + 0.7)
    e.tick(T0 + 1799, caught_up=True)
    assert e.drain() == []
    e.tick(T0 + 1830, caught_up=True)
    e.tick(T0 + 1900, caught_up=True)
    [a] = alerts(e.drain())
    assert a["alert_id"] == uuid.uuid5(NS, f"r1|TJ-PYANJ|{T0}")
    assert (a["kind"], a["state"], a["scope"], a["scope_key"], a["station_id"]) == (
        "silence", "firing", "station", "TJ-PYANJ", "TJ-PYANJ")
    # fired at last event + silence_s, whatever the tick's time
    assert a["fired_at"] == a["updated_at"] == dt(T0 + 1800)
    assert (a["window_kind"], a["window_start"], a["window_end"]) == ("", dt(T0), dt(0))
    assert (a["value"], a["threshold"]) == (1800.0, 1800.0)
    assert a["message"] == "TJ-PYANJ silent since 2024-05-01T10:00:00Z"


def test_never_fires_while_the_input_is_not_caught_up() -> None:
    e = silence()
    e.on_station_seen("TJ-PYANJ", T0)
    for minutes in range(30, 300, 10):
        e.tick(T0 + minutes * 60, caught_up=False)
    e.on_station_seen("TJ-PYANJ", T0 + 17000)  # the replay reaches the station's events
    e.tick(T0 + 18000, caught_up=True)
    assert e.drain() == []


def test_the_next_event_resolves_it() -> None:
    e = silence()
    e.on_station_seen("TJ-PYANJ", T0)
    e.tick(T0 + 2000, caught_up=True)
    e.on_station_seen("TJ-PYANJ", T0 - 50)  # an older time changes nothing
    assert states(e.drain()) == [("TJ-PYANJ", "firing", 1)]
    updates = e.on_station_seen("TJ-PYANJ", T0 + 2400)
    assert [u.transition for u in updates] == ["resolved"]
    [a] = alerts(e.drain())
    assert (a["state"], a["version"], a["value"]) == ("resolved", 2, 2400.0)
    assert a["resolved_at"] == a["updated_at"] == a["window_end"] == dt(T0 + 2400)
    assert a["fired_at"] == dt(T0 + 1800)


def test_a_station_silent_longer_than_active_within_s_is_not_active() -> None:
    e = silence()
    e.on_station_seen("TJ-PYANJ", T0)
    e.tick(T0 + 604801, caught_up=True)
    assert e.drain() == []


def test_cooldown_delays_the_next_firing() -> None:
    e = silence("cooldown_s: 3600\n")
    e.on_station_seen("TJ-PYANJ", T0)
    e.tick(T0 + 1800, caught_up=True)
    e.on_station_seen("TJ-PYANJ", T0 + 2000)  # resolved at T0 + 2000: quiet until T0 + 5600
    e.tick(T0 + 3800, caught_up=True)
    e.tick(T0 + 5599, caught_up=True)
    assert [a["state"] for a in alerts(e.drain())] == ["firing", "resolved"]
    e.tick(T0 + 5600, caught_up=True)
    [a] = alerts(e.drain())
    assert a["alert_id"] == uuid.uuid5(NS, f"r1|TJ-PYANJ|{T0 + 2000}")
    assert a["fired_at"] == dt(T0 + 5600)


def test_filters_and_the_station_country_learnt_from_window_rows() -> None:
    e = silence('filters: {countries: [TJ]}\n', message="{station_id} ({country}, {border})")
    e.on_window_row(wrow(T0 - 3600, station="TJ-PYANJ"))
    e.on_window_row(wrow(T0 - 3600, station="KZ-KORDAI"))
    e.on_station_seen("TJ-PYANJ", T0)
    e.on_station_seen("KZ-KORDAI", T0)
    e.on_station_seen("AF-SHERKHAN", T0, country="AF", border="AF-TJ")
    e.tick(T0 + 1800, caught_up=True)
    assert [a["message"] for a in alerts(e.drain())] == ["TJ-PYANJ (TJ, AF-TJ)"]


def test_every_silent_station_fires_in_station_order() -> None:
    e = silence()
    for s in ("TJ-PYANJ", "KZ-KORDAI", "KG-AK-JOL"):
        e.on_station_seen(s, T0)
    e.on_station_seen("KG-AK-JOL", T0 + 1000)
    e.tick(T0 + 1800, caught_up=True)
    assert [k for k, _, _ in states(e.drain())] == ["KZ-KORDAI", "TJ-PYANJ"]
