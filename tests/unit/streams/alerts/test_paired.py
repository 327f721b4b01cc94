"""Paired-post rules: seizures/incidents at both posts of a BLO pair within span_s."""

from __future__ import annotations

import itertools
import uuid

from streams.alerts import AlertEngine
from tests.unit.streams.alerts.factories import T0, H, alerts, dt, engine, rule_yaml

NS = uuid.UUID("ea5cbb95-d5c3-5fd4-90d0-d75c3207094f")
SPAN = 6 * H
PAIRS = {"TJ-PYANJ": "AF-SHERKHAN", "KZ-KORDAI": "KG-AK-JOL"}
PAIR = "AF-SHERKHAN+TJ-PYANJ"
_ids = itertools.count(1)


def paired() -> AlertEngine:
    body = f"event_types: [seizure, incident]\nspan_s: {SPAN}"
    return engine(rule_yaml(body, kind="paired", message="{station_a} & {station_b}"), PAIRS)


def ev(e: AlertEngine, station: str, t: int, event_type: str = "seizure",
       event_id: str | None = None) -> None:
    e.on_event(station, event_type, t, event_id or f"ev-{next(_ids)}")


def test_both_posts_within_span_fire_one_alert() -> None:
    e = paired()
    ev(e, "TJ-PYANJ", T0 + H)
    ev(e, "AF-SHERKHAN", T0 + 3 * H, "incident")
    ev(e, "AF-SHERKHAN", T0 + 4 * H)  # same pair and bucket: no second alert
    [a] = alerts(e.drain())
    bucket = (T0 + H) // SPAN * SPAN  # the span bucket of the earlier event
    assert a["alert_id"] == uuid.uuid5(NS, f"r1|{PAIR}|{bucket}")
    assert (a["kind"], a["scope"], a["scope_key"], a["station_id"]) == (
        "paired", "pair", PAIR, "")
    assert (a["window_start"], a["window_end"]) == (dt(bucket), dt(bucket + SPAN))
    assert (a["value"], a["threshold"]) == (2 * H, SPAN)
    assert a["fired_at"] == dt(T0 + 3 * H)
    assert a["message"] == "AF-SHERKHAN & TJ-PYANJ"


def test_outside_the_span_nothing() -> None:
    e = paired()
    ev(e, "TJ-PYANJ", T0)
    ev(e, "AF-SHERKHAN", T0 + SPAN + 1)
    assert e.drain() == []


def test_one_post_only_or_other_types_or_unpaired_posts_nothing() -> None:
    e = paired()
    for i in range(5):
        ev(e, "TJ-PYANJ", T0 + i * 60)
    ev(e, "AF-SHERKHAN", T0, "crossing")
    ev(e, "TJ-ISHKASHIM", T0)  # no pair
    ev(e, "KZ-KORDAI", T0)  # paired, but with another post
    assert e.drain() == []


def test_a_repeated_event_id_is_one_event() -> None:
    e = paired()
    ev(e, "TJ-PYANJ", T0, event_id="x")
    ev(e, "TJ-PYANJ", T0, event_id="x")
    assert e.drain() == []


def test_arrival_order_does_not_change_the_alerts() -> None:
    # disorder up to 11 h: within the 2 × span_s the tracker remembers
    events = [("TJ-PYANJ", T0), ("AF-SHERKHAN", T0 + 5 * H), ("TJ-PYANJ", T0 + 9 * H),
              ("AF-SHERKHAN", T0 + 11 * H), ("KZ-KORDAI", T0 + H), ("KG-AK-JOL", T0 + 2 * H)]
    seen = set()
    for order in itertools.permutations(range(len(events))):
        e = paired()
        for i in order:
            station, t = events[i]
            ev(e, station, t, event_id=f"{station}-{t}")
        seen.add(frozenset(a["alert_id"] for a in alerts(e.drain()) if a["state"] == "firing"))
    assert len(seen) == 1
    # pairs 0h-5h, 5h-9h, 9h-11h, and KZ-KG 1h-2h: each in the bucket of its earlier event
    expected = {
        uuid.uuid5(NS, f"r1|{PAIR}|{t // SPAN * SPAN}") for t in (T0, T0 + 5 * H, T0 + 9 * H)
    } | {uuid.uuid5(NS, f"r1|KG-AK-JOL+KZ-KORDAI|{(T0 + H) // SPAN * SPAN}")}
    assert seen == {frozenset(expected)}


def test_resolves_span_s_after_firing_on_the_event_clock() -> None:
    e = paired()
    ev(e, "TJ-PYANJ", T0)
    ev(e, "AF-SHERKHAN", T0 + H)
    e.drain()
    ev(e, "KZ-KORDAI", T0 + H + SPAN - 1, "crossing")
    e.tick(T0 + 2 * SPAN, caught_up=False)
    assert e.drain() == []
    ev(e, "KZ-KORDAI", T0 + H + SPAN, "crossing")
    [r] = alerts(e.drain())
    assert (r["state"], r["version"]) == ("resolved", 2)
    assert r["resolved_at"] == r["updated_at"] == dt(T0 + H + SPAN)


def test_a_caught_up_tick_resolves_too() -> None:
    e = paired()
    ev(e, "TJ-PYANJ", T0)
    ev(e, "AF-SHERKHAN", T0 + H)
    e.tick(T0 + H + SPAN, caught_up=True)
    assert [a["state"] for a in alerts(e.drain())] == ["firing", "resolved"]


def _reference(events: list[tuple[str, int, str]]) -> set[tuple[str, int, float, int]]:
    """The rule by definition, over all events at once: for every pair of events at the two
    posts at most SPAN apart, the bucket of the earlier one; each bucket's first firing is
    the one by arrival, then by the partner's (time, id) — what the engine writes. Events
    older than the latest event time by more than two spans are forgotten."""
    partner = {**PAIRS, **{b: a for a, b in PAIRS.items()}}
    seen: dict[str, list[tuple[int, str]]] = {}
    fired: dict[tuple[str, int], tuple[float, int]] = {}
    clock = 0
    for station, t, eid in events:
        clock = max(clock, t)
        for k, kept in seen.items():
            seen[k] = [(tt, e) for tt, e in kept if tt >= clock - 2 * SPAN]
        mine = seen.setdefault(station, [])
        if any(e == eid for _, e in mine):
            continue
        mine.append((t, eid))
        pair = "+".join(sorted((station, partner[station])))
        for tp, _ in sorted(seen.get(partner[station], [])):
            if abs(t - tp) <= SPAN:
                bucket = min(t, tp) // SPAN * SPAN
                fired.setdefault((pair, bucket), (float(abs(t - tp)), max(t, tp)))
    return {(p, b, v, at) for (p, b), (v, at) in fired.items()}


def test_paired_buckets_equal_the_definition_over_many_random_events() -> None:
    import random

    rng = random.Random(7)
    stations = ["TJ-PYANJ", "AF-SHERKHAN", "KZ-KORDAI", "KG-AK-JOL"]
    events = [(rng.choice(stations), T0 + rng.randrange(0, 3 * SPAN), f"id-{i}")
              for i in range(600)]
    events += [events[i] for i in rng.sample(range(600), 50)]  # redelivered ids
    e = paired()
    for station, t, eid in events:  # arrival order is not time order
        e.on_event(station, "seizure", t, eid)
    got = {(a["scope_key"], int(a["window_start"].timestamp()), a["value"],
            int(a["fired_at"].timestamp()))
           for a in alerts(e.drain()) if a["version"] == 1}
    assert got == _reference(events)


def test_pairs_registered_later_are_used_from_the_next_event() -> None:
    e = engine(rule_yaml("event_types: [seizure]\nspan_s: 3600", kind="paired",
                         message="{station_a} & {station_b}"), {})
    ev(e, "TJ-PYANJ", T0)
    ev(e, "AF-SHERKHAN", T0 + 60)
    assert e.drain() == []  # not a pair (yet)
    e.set_pairs({"TJ-PYANJ": "AF-SHERKHAN"})
    ev(e, "TJ-PYANJ", T0 + 100)  # events of unpaired posts were not kept
    ev(e, "AF-SHERKHAN", T0 + 120)
    [a] = alerts(e.drain())
    assert (a["scope_key"], a["value"]) == (PAIR, 20.0)
