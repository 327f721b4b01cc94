"""Sequence-gap rules: lost numbers fire once per gap; late numbers within the bound don't."""

from __future__ import annotations

import uuid

from streams.alerts import AlertEngine
from tests.unit.streams.alerts.factories import T0, alerts, dt, engine, rule_yaml, states

NS = uuid.UUID("ea5cbb95-d5c3-5fd4-90d0-d75c3207094f")
S = "TJ-PYANJ"


def gaps(body: str = "min_gap: 1") -> AlertEngine:
    return engine(rule_yaml(body, kind="sequence_gap",
                            message="{station_id} lost {gap_size}: {gap_from}..{gap_to}"))


def send(e: AlertEngine, seqs: list[int], step: int = 10, station: str = S) -> None:
    for i, seq in enumerate(seqs):
        e.on_sequence(station, seq, T0 + i * step)


def test_a_gap_fires_once_and_resolves_when_every_missing_number_arrives() -> None:
    e = gaps()
    send(e, [1, 2, 3, 6, 7, 7, 8])  # 6 arrives at T0 + 30
    [a] = alerts(e.drain())
    assert a["alert_id"] == uuid.uuid5(NS, f"r1|{S}:4-5|{T0 + 30}")
    assert (a["kind"], a["scope"], a["scope_key"], a["station_id"]) == (
        "sequence_gap", "station", f"{S}:4-5", S)
    assert (a["value"], a["threshold"], a["message"]) == (2.0, 1.0, f"{S} lost 2: 4..5")
    # between the last number before the gap and the first after it
    assert (a["window_start"], a["window_end"]) == (dt(T0 + 20), dt(T0 + 30))
    assert a["fired_at"] == dt(T0 + 30)
    e.on_sequence(S, 4, T0 + 100)
    assert e.drain() == []
    e.on_sequence(S, 4, T0 + 101)  # repeated: still one missing
    assert e.drain() == []
    e.on_sequence(S, 5, T0 + 102)
    [r] = alerts(e.drain())
    assert (r["state"], r["version"], r["value"]) == ("resolved", 2, 0.0)
    assert r["resolved_at"] == dt(T0 + 102)
    assert (r["window_start"], r["window_end"]) == (dt(T0 + 20), dt(T0 + 30))


def test_reordering_within_reorder_seqs_does_not_fire() -> None:
    e = gaps("reorder_seqs: 5")
    send(e, [1, 2, 4, 5, 3, 6, 8, 9, 7, 10, 11, 12, 13, 14])
    assert e.drain() == []


def test_a_real_gap_fires_once_past_reorder_seqs() -> None:
    e = gaps("reorder_seqs: 3")
    send(e, [1, 2, 5, 6])
    assert e.drain() == []
    send(e, [7, 8, 9])
    assert states(e.drain()) == [(f"{S}:3-4", "firing", 1)]


def test_reorder_s_needs_event_time_or_a_caught_up_clock() -> None:
    e = gaps("reorder_seqs: 2\nreorder_s: 60")
    send(e, [1, 3, 4, 5], step=1)  # 3 came at T0 + 1; three numbers past the gap, 2 s later
    e.tick(T0 + 100, caught_up=False)
    assert e.drain() == []
    e.tick(T0 + 60, caught_up=True)
    assert e.drain() == []
    e.tick(T0 + 61, caught_up=True)
    assert states(e.drain()) == [(f"{S}:2-2", "firing", 1)]


def test_a_late_number_within_reorder_s_does_not_fire() -> None:
    e = gaps("reorder_s: 60")
    e.on_sequence(S, 1, T0)
    e.on_sequence(S, 3, T0 + 10)
    e.on_sequence(S, 4, T0 + 20)
    e.on_sequence(S, 2, T0 + 30)
    e.on_sequence(S, 5, T0 + 200)
    assert e.drain() == []


def test_min_gap() -> None:
    e = gaps("min_gap: 3")
    send(e, [1, 4, 5, 9])  # 2-3 lost: too few; 6-8 lost
    assert states(e.drain()) == [(f"{S}:6-8", "firing", 1)]


def test_each_gap_is_its_own_alert_and_stations_are_separate() -> None:
    e = gaps()
    send(e, [10, 12, 13, 20])
    send(e, [1, 3], station="KZ-KORDAI")
    assert sorted(k for k, _, _ in states(e.drain())) == [
        "KZ-KORDAI:2-2", f"{S}:11-11", f"{S}:14-19"]


def test_numbers_before_the_first_seen_are_not_judged() -> None:
    e = gaps()
    send(e, [100, 101, 50, 102])
    assert e.drain() == []


def test_a_restored_gap_resolves_with_its_missing_numbers_after_priming() -> None:
    first = gaps()
    send(first, [1, 2, 5, 6])
    first.on_sequence(S, 3, T0 + 100)  # one of the two arrives before the crash
    rows = first.drain()
    assert states(rows) == [(f"{S}:3-4", "firing", 1)]
    restarted = gaps()
    restarted.restore(rows)
    # priming: the last stored numbers first, then those stored inside open gaps
    restarted.on_sequence(S, 6, T0 + 30)
    restarted.on_sequence(S, 3, T0 + 100)
    assert restarted.drain() == []
    restarted.on_sequence(S, 4, T0 + 200)
    [r] = alerts(restarted.drain())
    assert (r["scope_key"], r["state"], r["version"]) == (f"{S}:3-4", "resolved", 2)


def test_a_jump_beyond_max_gap_is_a_restarted_counter_not_lost_reports() -> None:
    e = gaps("min_gap: 1\nmax_gap: 100")
    send(e, [1, 2, 3, 5_000_000, 5_000_001])  # the station restarted counting higher
    assert e.drain() == []
    send(e, [5_000_003], step=0)  # a real gap after the restart still fires
    assert states(e.drain()) == [(f"{S}:5000002-5000002", "firing", 1)]
    e2 = gaps("min_gap: 1\nmax_gap: 100")
    send(e2, [1, 2, 103])  # 100 missing: at the limit, still lost reports
    assert states(e2.drain()) == [(f"{S}:3-102", "firing", 1)]


def test_the_numbers_held_above_the_mark_stay_exact_under_shuffled_arrivals() -> None:
    """The tracker keeps the numbers above its mark as a heap and their highest (each event
    O(log n) while a gap waits, not a scan of everything held): after every arrival, in any
    order, with repeats and real gaps, they are exactly the numbers seen above the mark."""
    import random

    rng = random.Random(20261207)
    for _ in range(30):
        e = gaps("reorder_seqs: 20\n    reorder_s: 100000")
        [tracker] = e.gaps
        seqs = [n for n in range(1, 400) if rng.random() > 0.05]  # ~5 % lost for good
        for i in range(0, len(seqs) - 8, 8):  # reordered within blocks, some repeated
            block = seqs[i:i + 8]
            rng.shuffle(block)
            seqs[i:i + 8] = block
        seqs += rng.sample(seqs, 20)
        seen: set[int] = set()
        for i, n in enumerate(seqs):
            e.on_sequence(S, n, T0 + i)
            seen.add(n)
            st = tracker.state[S]
            assert sorted(st.heap) == sorted(st.above)
            assert set(st.above) == {m for m in seen if m > st.mark + 1}
            if st.above:
                assert st.top == max(st.above) and st.heap[0] == min(st.above)
