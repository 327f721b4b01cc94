from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from blo.simulate import TrafficGenerator, seed_stations, simulation_stations
from schemas.identity import derive_event_id
from schemas.parse import parse_event

START = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)


def test_every_simulated_event_is_valid() -> None:
    gen = TrafficGenerator(seed_stations(), rate=2.0, start=START)
    now = START + timedelta(days=2)
    events = list(gen.events(8000))
    for e in events:  # the SDK fills event_id from (station, seq) before sending
        e["event_id"] = str(derive_event_id(e["station_id"], e["source_seq"]))
    types = Counter(parse_event(e, now=now, max_future_skew=timedelta(0)).event_type
                    for e in events)
    # a realistic mix: crossings dominate, every type appears over ~1 h of traffic
    assert types["crossing"] > 0.8 * len(events)
    for t in ("inspection", "seizure", "detention", "incident", "liaison_message",
              "count_report"):
        assert types[t] > 0, t


def test_sequence_numbers_increase_per_station_and_runs_differ() -> None:
    stations = seed_stations()
    seqs: dict[str, list[int]] = defaultdict(list)
    for e in TrafficGenerator(stations, 50.0, start=START).events(3000):
        seqs[e["station_id"]].append(e["source_seq"])
    assert all(s == sorted(s) and len(set(s)) == len(s) for s in seqs.values())
    later = TrafficGenerator(stations, 50.0, start=START + timedelta(seconds=1))
    first_later = next(later.events(1))
    assert first_later["source_seq"] > max(max(s) for s in seqs.values())


def test_same_seed_same_traffic() -> None:
    a = list(TrafficGenerator(seed_stations(), 10.0, seed=3, start=START).events(500))
    b = list(TrafficGenerator(seed_stations(), 10.0, seed=3, start=START).events(500))
    assert a == b


def test_hourly_count_reports_cover_the_crossings_of_the_hour() -> None:
    stations = seed_stations()[:3]
    gen = TrafficGenerator(stations, 1.0, start=datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    events = list(gen.events(3600 + 3 + 50))
    reports = [e for e in events if e["event_type"] == "count_report"]
    assert len(reports) == 3
    crossings = Counter(e["station_id"] for e in events
                        if e["event_type"] == "crossing" and e["occurred_at"] < "2026-03-01T11")
    for r in reports:
        assert r["value"] == crossings[r["station_id"]]


def test_more_stations_than_the_seed_are_synthesised_and_valid() -> None:
    posts = simulation_stations(len(seed_stations()) + 8)
    assert len({p.station_id for p in posts}) == len(posts)
    assert sum(p.coord_source.startswith("synthetic") for p in posts) == 8
