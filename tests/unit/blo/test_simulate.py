from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from blo.cli import main
from blo.sim.rates import routine_per_day
from blo.sim.scenarios import SCENARIOS, Injected, Plan, Silence
from blo.simulate import (
    DEMO_RATE,
    DEMO_STATIONS,
    REPORT_S,
    TrafficGenerator,
    seed_stations,
    simulation_stations,
)
from schemas.identity import derive_event_id
from schemas.parse import parse_event
from schemas.station import StationRecord

START = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)


def _post(station_id: str) -> StationRecord:
    return next(s for s in seed_stations() if s.station_id == station_id)


def test_every_simulated_event_is_valid() -> None:
    # rare events 200x so that every type shows up in a couple of hours
    gen = TrafficGenerator(seed_stations(), scale=1.0, rare_scale=200, start=START)
    events = list(gen.until(START + timedelta(hours=2)))
    now = START + timedelta(days=2)
    for e in events:  # the SDK fills event_id from (station, seq) before sending
        e["event_id"] = str(derive_event_id(e["station_id"], e["source_seq"]))
    types = Counter(parse_event(e, now=now, max_future_skew=timedelta(0)).event_type
                    for e in events)
    assert types["crossing"] > 0.8 * len(events)
    for t in ("inspection", "seizure", "detention", "incident", "liaison_message",
              "count_report"):
        assert types[t] > 0, t


def test_events_come_in_time_order_and_numbers_increase_per_station() -> None:
    stations = seed_stations()
    seqs: dict[str, list[int]] = defaultdict(list)
    events = list(TrafficGenerator(stations, 50.0, start=START).events(3000))
    times = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert times == sorted(times) and times[0] > START
    for e in events:
        seqs[e["station_id"]].append(e["source_seq"])
    assert all(s == sorted(s) and len(set(s)) == len(s) for s in seqs.values())
    later = TrafficGenerator(stations, 50.0, start=START + timedelta(seconds=1))
    assert next(later.events(1))["source_seq"] > max(max(s) for s in seqs.values())


def test_same_seed_same_traffic() -> None:
    a = list(TrafficGenerator(seed_stations(), 10.0, seed=3, start=START).events(500))
    b = list(TrafficGenerator(seed_stations(), 10.0, seed=3, start=START).events(500))
    assert a == b


def test_until_gives_what_occurred_by_then_and_nothing_twice() -> None:
    gen = TrafficGenerator(seed_stations(), 5.0, start=START)
    first = list(gen.until(START + timedelta(minutes=3)))
    second = list(gen.until(START + timedelta(minutes=5)))
    assert all(e["occurred_at"] <= (START + timedelta(minutes=3)).isoformat() for e in first)
    assert all(e["occurred_at"] > (START + timedelta(minutes=3)).isoformat() for e in second)
    assert first and second


def test_count_reports_every_15_minutes_cover_the_crossings_of_their_period() -> None:
    stations = seed_stations()[:3]
    t0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    events = list(TrafficGenerator(stations, scale=1.0, start=t0).until(
        t0 + timedelta(hours=1)))
    reports = [e for e in events if e["event_type"] == "count_report"]
    assert len(reports) == 3 * 3600 // REPORT_S
    for r in reports:
        assert r["occurred_at"] == r["period_end"]  # sent when the period ends
        n = sum(1 for e in events if e["event_type"] == "crossing"
                and e["station_id"] == r["station_id"]
                and r["period_start"] <= e["occurred_at"] < r["period_end"])
        assert r["value"] == n


def test_traffic_follows_the_local_day_and_the_week() -> None:
    post = _post("KZ-KORDAI")
    tz = ZoneInfo(post.tz)
    t0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
    by_hour: Counter[int] = Counter()
    by_day: Counter[int] = Counter()
    for e in TrafficGenerator([post], scale=0.3, seed=2, start=t0).until(
            t0 + timedelta(days=14)):
        if e["event_type"] == "crossing":
            local = datetime.fromisoformat(e["occurred_at"]).astimezone(tz)
            by_hour[local.hour] += 1
            by_day[local.weekday()] += 1
    day = sum(by_hour[h] for h in range(10, 16))
    night = sum(by_hour[h] for h in range(6))
    assert day > 8 * night
    assert by_day[4] > 1.2 * by_day[6]  # Friday busier than Sunday


def test_rare_events_are_as_rare_as_at_real_posts() -> None:
    # 4 weeks of the 16 seed posts; routine traffic scaled down (it does not matter here)
    posts = seed_stations()
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    days = 28
    gen = TrafficGenerator(posts, scale=0.02, seed=5, start=t0)
    seizures: Counter[str] = Counter()
    incidents = 0
    for e in gen.until(t0 + timedelta(days=days)):
        if e["event_type"] == "seizure":
            seizures[e["station_id"]] += 1
        incidents += e["event_type"] == "incident"
    per_day = sum(seizures.values()) / days
    assert 1.5 < per_day < 5, per_day  # a few a day in the whole region, not per minute
    for busy in ("KZ-KORDAI", "KZ-KONYSBAEV", "UZ-OYBEK"):  # "a seizure every few days"
        assert 1 <= seizures[busy] <= 20, seizures
    assert seizures["KG-BOR-DOBO"] <= 6  # a remote pass: a couple a month
    assert incidents / days < 1.5


def test_rate_sets_an_explicit_scale_of_routine_traffic() -> None:
    posts = seed_stations()
    gen = TrafficGenerator(posts, DEMO_RATE, start=START)
    assert abs(gen.rate - DEMO_RATE) < 1e-9
    assert abs(gen.scale - DEMO_RATE * 86400 / routine_per_day(posts)) < 1e-9
    assert 3 < gen.scale < 8  # the demo is ~5x the real routine traffic
    assert TrafficGenerator(posts, start=START).scale == 1.0


def test_the_demo_runs_the_defaults_the_harness_tests() -> None:
    demo = main.commands["demo"]
    defaults = {p.name: p.default for p in demo.params}
    assert defaults["stations"] == DEMO_STATIONS
    assert defaults["rate"] == DEMO_RATE


def test_a_plan_adds_its_events_and_silences_a_post() -> None:
    posts = seed_stations()
    at = START + timedelta(minutes=10)
    plan = Plan(events=(Injected(at, "TJ-ISHKASHIM", "seizure", {
        "drug": "opium", "quantity": 12.5, "unit": "kg", "concealment": "luggage",
        "detection_method": "canine", "producing_country": "AF", "departure_country": "AF",
        "transit_countries": [], "destination_country": None, "persons_arrested": 1}),),
        silences=(Silence("KZ-KORDAI", at, at + timedelta(minutes=20)),))
    events = list(TrafficGenerator(posts, 5.0, start=START, plan=plan).until(
        START + timedelta(hours=1)))
    [added] = [e for e in events if e["event_type"] == "seizure" and e["quantity"] == 12.5]
    assert added["occurred_at"] == at.isoformat() and added["station_id"] == "TJ-ISHKASHIM"
    kordai = [datetime.fromisoformat(e["occurred_at"]) for e in events
              if e["station_id"] == "KZ-KORDAI"]
    assert not [t for t in kordai if at <= t < at + timedelta(minutes=20)]
    assert [t for t in kordai if t >= at + timedelta(minutes=20)]  # and it comes back


def test_more_stations_than_the_seed_are_synthesised_and_valid() -> None:
    posts = simulation_stations(len(seed_stations()) + 8)
    assert len({p.station_id for p in posts}) == len(posts)
    assert sum(p.coord_source.startswith("synthetic") for p in posts) == 8


def test_cli_lists_scenarios_and_refuses_unknown_ones() -> None:
    res = CliRunner().invoke(main, ["simulate", "--list-scenarios"])
    assert res.exit_code == 0
    assert [line.split()[0] for line in res.output.splitlines()] == list(SCENARIOS)
    bad = CliRunner().invoke(main, ["simulate", "--scenario", "no-such"])
    assert bad.exit_code == 2 and "heroin-run" in bad.output


def test_a_scenario_needs_its_posts() -> None:
    res = CliRunner().invoke(main, ["simulate", "--stations", "4", "--scenario",
                                    "heroin-run", "--no-register"])
    assert res.exit_code == 2 and "TJ-NIZHNIY-PYANJ" in res.output
