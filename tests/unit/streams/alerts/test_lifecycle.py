"""Determinism, restore after a restart, acknowledgement, rows and messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import orjson
import pytest

from sinks.base import Row
from sinks.tables import ALERTS
from streams.alerts import AlertEngine, UnknownAlert, alert_json_schema, alert_message
from tests.unit.streams.alerts.factories import T0, H, alerts, dt, rules, wrow

RULES = """
version: 1
rules:
  - id: seizure-kg-station-1h
    name: Large seizure at a post
    severity: critical
    labels: {team: drugs}
    message: "{station_id}: {value} kg in {window_start}"
    kind: threshold
    statistic: seizure_kg
    window: 1h
    filters: {event_type: seizure}
    op: ">="
    raise: 50
    clear: 40
    cooldown_s: 3600
    settle_s: 0
  - id: seizure-kg-country-1h
    name: Seizures in a country
    severity: warning
    message: "{country}: {value} kg"
    kind: threshold
    statistic: seizure_kg
    window: 1h
    scope: country
    raise: 80
    settle_s: 0
    on: provisional
  - id: refused-baseline
    name: Refusals above usual
    severity: warning
    message: "{value} refused, usual {mean}"
    kind: baseline
    statistic: refused
    window: 1h
    k: 2
    min_weeks: 2
    settle_s: 0
  - id: silence
    name: Post silent
    severity: warning
    message: "{station_id} silent"
    kind: silence
    silence_s: 1800
    active_within_s: 86400
  - id: gap
    name: Lost reports
    severity: info
    message: "{gap_size} lost"
    kind: sequence_gap
  - id: paired
    name: Paired seizures
    severity: critical
    message: "{station_a} and {station_b}"
    kind: paired
    event_types: [seizure]
    span_s: 21600
"""
PAIRS = {"TJ-PYANJ": "AF-SHERKHAN"}

Step = tuple[str, tuple[Any, ...]]  # (engine method, arguments)


def history(rule: Any, key: str, start: int) -> list[float]:
    return [2, 4, 2, 4]  # mean 3, stddev 1: level 5


def new_engine() -> AlertEngine:
    return AlertEngine(rules(RULES), PAIRS, history)


def scenario() -> list[Step]:
    """A day at three posts: inputs only (built once, so replays see the same rows)."""
    steps: list[Step] = []
    seq = {"TJ-PYANJ": 0, "KZ-KORDAI": 0, "AF-SHERKHAN": 0}
    for hour in range(12):
        start = T0 + hour * H
        kg = {3: 70, 4: 45, 5: 30, 6: 20, 8: 90}.get(hour, 5)
        rows = [
            wrow(start, station="TJ-PYANJ", seizure_kg=kg, status="provisional"),
            wrow(start, station="TJ-PYANJ", seizure_kg=kg),
            wrow(start, station="TJ-ISHKASHIM", seizure_kg=20 if hour == 8 else 0),
            wrow(start, station="KZ-KORDAI", event_type="crossing", dimension="",
                 refused=9 if hour in (2, 3) else 1),
        ]
        steps.append(("on_window_rows", (rows,)))
        for station, n in list(seq.items()):
            if station == "KZ-KORDAI" and 4 <= hour <= 6:
                continue  # KZ-KORDAI falls silent for three hours
            for minute in (5, 35):
                n += 3 if (station, hour, minute) == ("AF-SHERKHAN", 7, 5) else 1
                t = start + minute * 60
                steps.append(("on_station_seen", (station, t)))
                steps.append(("on_sequence", (station, n, t)))
            seq[station] = n
        if hour in (3, 5):
            station = "TJ-PYANJ" if hour == 3 else "AF-SHERKHAN"
            t = start + 600
            steps.append(("on_event", (station, "seizure", t, f"{station}{t}")))
        steps.append(("tick", (start + H, True)))
    return steps


def run(engine: AlertEngine, steps: list[Step]) -> list[Row]:
    out: list[Row] = []
    for step in steps:
        method, args = step
        getattr(engine, method)(*args)
        out.extend(engine.drain())
    return out


def readers_view(rows: list[Row]) -> dict[Any, Row]:
    """What SELECT * FROM alerts FINAL returns: the highest version of each alert id."""
    latest: dict[Any, Row] = {}
    for row in rows:
        if row[0] not in latest or row[1] > latest[row[0]][1]:
            latest[row[0]] = row
    return latest


def test_the_scenario_exercises_every_kind() -> None:
    rows = run(new_engine(), scenario())
    kinds = {(a["kind"], a["state"]) for a in alerts(rows)}
    assert {k for k, _ in kinds} == {"threshold", "baseline", "silence", "sequence_gap",
                                     "paired"}
    assert ("threshold", "resolved") in kinds and ("silence", "resolved") in kinds


def test_replaying_the_same_input_yields_identical_rows() -> None:
    steps = scenario()
    first, second = run(new_engine(), steps), run(new_engine(), steps)
    assert first == second
    assert len(first) >= 8
    pairs = [(r[0], r[1]) for r in first]
    assert len(set(pairs)) == len(pairs)  # every (alert_id, version) once
    for aid in {r[0] for r in first}:
        assert [r[1] for r in first if r[0] == aid] == list(range(1, 1 + sum(
            1 for r in first if r[0] == aid)))


@pytest.mark.parametrize("crash_after", [10, 25, 40, 60, 80])
def test_restore_after_a_restart_adds_no_alert_and_no_version(crash_after: int) -> None:
    steps = scenario()
    uninterrupted = run(new_engine(), steps)
    before = run(new_engine(), steps[:crash_after])
    restarted = new_engine()
    restarted.restore(list(readers_view(before).values()))
    after = run(restarted, steps)  # the runtime re-feeds from an earlier point
    written = {(r[0], r[1]): r for r in before}
    for row in after:
        assert (row[0], row[1]) not in written, alerts([row])
    assert readers_view(before + after) == readers_view(uninterrupted)


def test_restore_then_the_same_input_again_emits_nothing() -> None:
    steps = scenario()
    rows = run(new_engine(), steps)
    restarted = new_engine()
    restarted.restore(list(readers_view(rows).values()))
    assert run(restarted, steps) == []


def test_state_snapshot_is_the_readers_view() -> None:
    e = new_engine()
    rows = run(e, scenario())
    assert sorted(e.state_snapshot()) == sorted(readers_view(rows).values())
    copy = new_engine()
    copy.restore(e.state_snapshot())
    assert copy.state_snapshot() == e.state_snapshot()
    assert [a.alert_id for a in copy.open_alerts()] == [a.alert_id for a in e.open_alerts()]


def test_acknowledge_is_a_new_version_with_who_when_and_comment() -> None:
    e = new_engine()
    e.on_window_row(wrow(T0, seizure_kg=60))
    [fired] = alerts(e.drain())
    update = e.acknowledge(fired["alert_id"], "duty officer", "called the post", T0 + 5000.9)
    assert update.transition == "acked"
    [acked] = alerts(e.drain())
    assert (acked["alert_id"], acked["version"], acked["state"]) == (
        fired["alert_id"], 2, "firing")
    assert (acked["acked"], acked["acked_by"], acked["ack_comment"]) == (
        1, "duty officer", "called the post")
    assert acked["acked_at"] == acked["updated_at"] == dt(T0 + 5000)
    assert acked["fired_at"] == fired["fired_at"]
    # a later resolve keeps the acknowledgement
    e.on_window_rows([wrow(T0 + H, seizure_kg=0), wrow(T0 + 2 * H, seizure_kg=0)])
    [resolved] = alerts(e.drain())
    assert (resolved["version"], resolved["state"], resolved["acked_by"]) == (
        3, "resolved", "duty officer")
    # a resolved alert can be acknowledged too, by its id as a string
    e.acknowledge(str(fired["alert_id"]), "chief", "", T0 + 9000)
    [again] = alerts(e.drain())
    assert (again["version"], again["state"], again["acked_by"]) == (4, "resolved", "chief")


def test_acknowledging_an_unknown_alert_raises() -> None:
    with pytest.raises(UnknownAlert):
        new_engine().acknowledge("00000000-0000-0000-0000-000000000000", "x", "", T0)
    with pytest.raises(KeyError):
        new_engine().acknowledge("00000000-0000-0000-0000-000000000000", "x", "", T0)


def test_rows_follow_the_alerts_columns() -> None:
    assert ALERTS.column_names == (
        "alert_id", "version", "rule_id", "rule_name", "kind", "severity", "state", "scope",
        "scope_key", "station_id", "window_kind", "window_start", "window_end", "value",
        "threshold", "provisional", "message", "labels", "fired_at", "resolved_at", "acked",
        "acked_by", "acked_at", "ack_comment", "updated_at", "messages")
    rows = run(new_engine(), scenario())
    for a in alerts(rows):
        for name, ch_type in ALERTS.columns:
            v = a[name]
            if ch_type.startswith("DateTime"):
                assert isinstance(v, datetime) and v.tzinfo == UTC and v.microsecond == 0
            elif ch_type == "String":
                assert isinstance(v, str)
            elif ch_type in ("UInt8", "UInt64"):
                assert isinstance(v, int)
            elif ch_type == "Float64":
                assert isinstance(v, float)
            elif ch_type == "Array(String)":
                assert v == sorted(v)
        assert a["state"] in ("firing", "resolved")
        assert (a["resolved_at"] == dt(0)) == (a["state"] == "firing")


def test_messages_satisfy_the_published_schema() -> None:
    schema = alert_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    rows = run(new_engine(), scenario())
    for row in rows:
        body = alert_message(row)
        assert body == alert_message(row)
        doc = orjson.loads(body)
        validator.validate(doc)
        a = alerts([row])[0]
        assert doc["alert_id"] == str(a["alert_id"]) and doc["version"] == a["version"]
        assert doc["fired_at"] == a["fired_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert doc["provisional"] is bool(a["provisional"])
        assert doc["labels"] == dict(x.split("=", 1) for x in a["labels"])
        if a["state"] == "firing":
            assert doc["resolved_at"] is None
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**orjson.loads(alert_message(rows[0])), "version": 0})


ONE = """
version: 1
rules:
  - id: kg
    name: kg
    severity: critical
    message: "{value}"
    kind: threshold
    statistic: seizure_kg
    window: 1m
    raise: {raise_}
    for_s: 180
    settle_s: 0
"""


def test_reload_keeps_the_state_of_unchanged_rules() -> None:
    e = AlertEngine(rules(ONE.replace("{raise_}", "50")))
    e.on_window_rows([wrow(T0, 60, kind="1m", seizure_kg=60),
                      wrow(T0 + 60, 60, kind="1m", seizure_kg=60)])
    e.reload(rules(ONE.replace("{raise_}", "50")))  # same definition: the streak goes on
    [update] = e.on_window_row(wrow(T0 + 120, 60, kind="1m", seizure_kg=60))
    assert update.transition == "fired"
    [a] = alerts(e.drain())
    assert (a["state"], a["window_start"]) == ("firing", dt(T0 + 120))
    # a changed rule starts afresh but resolves the open alert by its new definition
    e.reload(rules(ONE.replace("{raise_}", "100")))
    e.on_window_rows([wrow(T0 + 180, 60, kind="1m", seizure_kg=70),
                      wrow(T0 + 240, 60, kind="1m", seizure_kg=70)])
    [r] = alerts(e.drain())
    assert (r["alert_id"], r["version"], r["state"], r["threshold"]) == (
        a["alert_id"], 2, "resolved", 100.0)
    # a removed rule's alerts stay, and can be acknowledged
    e.reload(rules("version: 1\n"))
    e.acknowledge(a["alert_id"], "ops", "rule retired", T0 + 999)
    assert alerts(e.drain())[0]["version"] == 3


def test_a_restored_open_alert_resolves_with_the_next_version() -> None:
    first = new_engine()
    first.on_window_row(wrow(T0, seizure_kg=60))
    first.acknowledge(alerts(first.drain())[0]["alert_id"], "ops", "seen", T0 + 10)
    snapshot = first.state_snapshot()
    restarted = new_engine()
    restarted.restore(snapshot)
    restarted.on_window_rows([wrow(T0, seizure_kg=60), wrow(T0 + H, seizure_kg=10),
                              wrow(T0 + 2 * H, seizure_kg=10)])
    [r] = alerts(restarted.drain())
    assert (r["version"], r["state"], r["acked_by"]) == (3, "resolved", "ops")
