"""Imports and backfills raise nothing: historical input (processed more than ``history_s``
after its time) is told from live input by its two times alone, per rule kind."""

from __future__ import annotations

import pytest

from streams.alerts import AlertEngine, RulesError
from streams.alerts.history import DEFAULT_HISTORY_S, is_historical
from tests.unit.streams.alerts.factories import (
    T0,
    H,
    dt,
    engine,
    rule_yaml,
    rules,
    states,
    wrow,
)

DAY = 86_400
YEARS = 8 * 365 * DAY
S = "TJ-PYANJ"
SEIZURE = """
    statistic: seizure_kg
    window: 1h
    filters: {event_type: seizure}
    raise: 50
"""


def test_is_historical_compares_processing_time_with_the_time_it_is_about() -> None:
    assert DEFAULT_HISTORY_S == DAY
    assert not is_historical(T0, T0 + DAY, DAY)  # exactly the horizon: still live
    assert is_historical(T0, T0 + DAY + 1, DAY)
    assert not is_historical(T0, T0 - 5, DAY)  # a clock running ahead
    assert not is_historical(T0 - YEARS, None, DAY)  # no processing time known: live


def test_judge_history_is_off_by_default_and_only_for_window_rules() -> None:
    r = rules(rule_yaml(SEIZURE)).rules[0]
    assert r.judge_history is False  # type: ignore[union-attr]
    assert rules(rule_yaml(SEIZURE + "judge_history: true")).rules[0].judge_history \
        is True  # type: ignore[union-attr]
    with pytest.raises(RulesError, match="judge_history"):
        rules(rule_yaml("silence_s: 60\nactive_within_s: 600\njudge_history: true",
                        kind="silence", message="{station_id}"))


def test_a_historical_window_fires_only_when_the_rule_opts_in() -> None:
    old = T0 - YEARS  # a window of 2016, emitted (imported) now
    spike = wrow(old, seizure_kg=80, updated_at=dt(T0))
    e = engine(rule_yaml(SEIZURE))
    assert e.on_window_rows([spike]) == []
    assert e.drain() == []
    opted = engine(rule_yaml(SEIZURE + "judge_history: true"))
    opted.on_window_rows([spike])
    assert states(opted.drain()) == [(S, "firing", 1)]


def test_a_live_spike_among_imported_rows_still_fires() -> None:
    e = engine(rule_yaml(SEIZURE))
    imported = [wrow(T0 - YEARS + i * H, seizure_kg=500, updated_at=dt(T0 + 10))
                for i in range(50)]
    live = wrow(T0, seizure_kg=60, updated_at=dt(T0 + H + 60))  # final a minute late
    e.on_window_rows([*imported, live, *imported])
    [a] = e.drain()
    assert (a.window_start, a.value, a.state) == (dt(T0), 60.0, "firing")


def test_a_late_but_live_window_is_judged() -> None:
    e = engine(rule_yaml(SEIZURE))
    e.on_window_rows([wrow(T0, seizure_kg=60, updated_at=dt(T0 + H + DAY))])  # the horizon
    assert states(e.drain()) == [(S, "firing", 1)]


def test_the_horizon_is_the_engines() -> None:
    e = AlertEngine(rules(rule_yaml(SEIZURE)), history_s=60)
    e.on_window_rows([wrow(T0, seizure_kg=60, updated_at=dt(T0 + H + 61))])
    assert e.drain() == []


GAPS = rule_yaml("min_gap: 1\nmax_gap: 100000", kind="sequence_gap",
                 message="{station_id} lost {gap_size}")


def test_coded_numbers_of_an_import_never_open_gaps() -> None:
    e = engine(GAPS)
    now = T0 + YEARS
    # the importer's source_seq: period key and codes (20181113, 20181201, ...), not a count
    for month in range(1, 13):
        for code in (1, 5, 13, 40):
            e.on_sequence(S, 2018_00_00 + month * 100 + code, T0 + month * 30 * DAY,
                          processed_at_s=now)
    e.tick(now + DAY, True)
    assert e.drain() == []


def test_a_live_count_is_judged_beside_an_import_of_the_same_station() -> None:
    e = engine(GAPS)
    now = T0 + YEARS
    e.on_sequence(S, 1, now, processed_at_s=now)
    e.on_sequence(S, 2018_11_13, T0, processed_at_s=now + 1)  # imported: far above
    e.on_sequence(S, 2, now + 10, processed_at_s=now + 10)
    e.on_sequence(S, 5, now + 20, processed_at_s=now + 20)
    e.tick(now + 30, True)
    assert states(e.drain()) == [(f"{S}:3-4", "firing", 1)]


def test_late_reports_of_a_live_post_fill_its_count() -> None:
    """A post's buffer re-sent days later: the numbers are historical, but they follow its
    live count, so they fill it and no gap is reported for them."""
    e = engine(GAPS)
    e.on_sequence(S, 10, T0, processed_at_s=T0)
    for i, seq in enumerate(range(11, 40)):
        e.on_sequence(S, seq, T0 + i, processed_at_s=T0 + 3 * DAY)
    e.on_sequence(S, 40, T0 + 3 * DAY, processed_at_s=T0 + 3 * DAY)
    e.tick(T0 + 3 * DAY + 600, True)
    assert e.drain() == []


SILENCE = rule_yaml("silence_s: 1800\nactive_within_s: 604800", kind="silence",
                    message="{station_id}")


def test_a_post_with_only_imported_events_is_never_silent() -> None:
    e = engine(SILENCE)
    # an import of the current day's counts, two hours after they occurred
    e.on_station_seen(S, T0, processed_at_s=T0 + 2 * DAY)
    e.tick(T0 + 2 * DAY + 3600, True)
    assert e.drain() == []
    # the same event live: the post was active, and is silent now
    e.on_station_seen(S, T0, processed_at_s=T0 + 5)
    e.tick(T0 + 3600, True)
    assert states(e.drain()) == [(S, "firing", 1)]


def test_an_imported_event_does_not_end_a_silence() -> None:
    e = engine(SILENCE)
    e.on_station_seen(S, T0, processed_at_s=T0)
    e.tick(T0 + 3600, True)
    assert states(e.drain()) == [(S, "firing", 1)]
    e.on_station_seen(S, T0 + 7200, processed_at_s=T0 + 7200 + 2 * DAY)
    assert e.drain() == []
    e.on_station_seen(S, T0 + 7300, processed_at_s=T0 + 7300)
    assert states(e.drain()) == [(S, "resolved", 2)]


def test_paired_rules_ignore_imported_events() -> None:
    pairs = {"TJ-PYANJ": "AF-SHERKHAN"}
    e = engine(rule_yaml("event_types: [seizure]\nspan_s: 3600", kind="paired",
                         message="{station_a} {station_b}"), pairs)
    e.on_event("TJ-PYANJ", "seizure", T0, "a", processed_at_s=T0 + YEARS)
    e.on_event("AF-SHERKHAN", "seizure", T0 + 60, "b", processed_at_s=T0 + YEARS)
    assert e.drain() == []
    e.on_event("TJ-PYANJ", "seizure", T0, "c", processed_at_s=T0)
    e.on_event("AF-SHERKHAN", "seizure", T0 + 60, "d", processed_at_s=T0 + 60)
    assert [s[1] for s in states(e.drain())] == ["firing"]
