"""Window statistics equal an independent oracle: every kind of window, every zone."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sinks.tables import WINDOW_STATS
from streams.windows import WindowConfig, WindowSpec
from tests.unit.streams.windows.driver import run
from tests.unit.streams.windows.oracle import (
    STATIONS,
    Ev,
    as_dict,
    content,
    epoch,
    expected,
    finals,
    random_events,
)

T0 = epoch("2024-05-01T10:00:00+00:00")


def test_rows_have_the_window_stats_columns_and_types() -> None:
    r = run([Ev(T0 + 5, event_type="crossing", persons=3, vehicles=1, direction="inbound",
                outcome="refused"),
             Ev(T0 + 7, event_type="seizure", drug="heroin", kg=1.25, arrests=2)])
    assert r.rows
    for row in r.rows:
        assert len(row) == len(WINDOW_STATS.columns)
        d = as_dict(row)
        for name, ch_type in WINDOW_STATS.columns:
            v = d[name]
            if ch_type.startswith("DateTime"):
                assert isinstance(v, datetime) and v.utcoffset() == timedelta(0), name
            elif ch_type == "String":
                assert isinstance(v, str), name
            elif ch_type == "UInt64":
                assert isinstance(v, int) and v >= 0, name
            else:
                assert isinstance(v, float), name
    crossing = next(as_dict(x) for x in r.rows
                    if as_dict(x)["event_type"] == "crossing" and as_dict(x)["window_kind"] == "1m")
    assert (crossing["events"], crossing["persons"], crossing["vehicles"], crossing["refused"],
            crossing["inbound"], crossing["outbound"]) == (1, 3, 1, 1, 1, 0)
    assert (crossing["country"], crossing["border"], crossing["station_tz"]) == STATIONS["TJ-PYANJ"]
    seizure = next(as_dict(x) for x in r.rows
                   if as_dict(x)["event_type"] == "seizure" and as_dict(x)["window_kind"] == "day")
    assert (seizure["dimension"], seizure["seizure_kg"], seizure["seizure_kg_max"],
            seizure["arrests"]) == ("heroin", 1.25, 1.25, 2)
    assert seizure["window_label"] == "2024-05-01"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_finals_equal_the_oracle_for_every_default_window(seed: int) -> None:
    rng = random.Random(seed)
    events = random_events(rng, 1500, epoch("2024-02-28T15:00:00+00:00"), 2 * 86400,
                           stations=list(STATIONS))
    r = run(events, per_tick=97)
    got = {k: content(v) for k, v in finals(r.rows).items()}
    want = expected(events)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == want[k], k


def test_pane_based_hopping_equals_brute_force_for_other_sizes() -> None:
    specs = (("10m/2m", "hopping", 600, 120), ("2h/30m", "hopping", 7200, 1800),
             ("7m", "tumbling", 420, None))
    config = WindowConfig(windows=tuple(
        WindowSpec.model_validate({"name": n, "kind": k, "size_s": s, "hop_s": h})
        for n, k, s, h in specs))
    rng = random.Random(7)
    events = random_events(rng, 800, T0, 6 * 3600)
    r = run(events, config, per_tick=31)
    got = {k: content(v) for k, v in finals(r.rows).items()}
    assert got == expected(events, specs)
    per_window = Counter(k[0] for k in got)
    assert per_window["10m/2m"] > per_window["7m"]  # each event is in 5 of them


def test_calendar_windows_at_local_midnights_in_each_zone() -> None:
    events = []
    for station, (_, _, tz) in STATIONS.items():
        for day in ("2024-01-31", "2024-02-28", "2024-02-29", "2024-03-01", "2023-02-28",
                    "2023-12-31"):
            midnight = datetime.fromisoformat(f"{day}T00:00:00").replace(tzinfo=ZoneInfo(tz))
            m = int(midnight.timestamp())
            events += [Ev(m - 1, station, "inspection", outcome="find"),
                       Ev(m, station, "inspection", outcome="find")]
    events.sort(key=lambda e: e.t)
    specs = (("day", "calendar_day", None, None), ("month", "calendar_month", None, None))
    config = WindowConfig(windows=(WindowSpec(name="day", kind="calendar_day"),
                                   WindowSpec(name="month", kind="calendar_month")))
    r = run(events, config)
    got = {k: content(v) for k, v in finals(r.rows).items()}
    assert got == expected(events, specs)
    labels = {(k[2], v["window_label"]) for k, v in got.items() if k[0] == "day"}
    assert {(st, "2024-02-29") for st in STATIONS} <= labels
    assert {(st, "2023-02-27") for st in STATIONS} <= labels  # the second before 02-28
    leap = got[("day", datetime(2024, 2, 28, 18, tzinfo=UTC), "KZ-KORDAI", "inspection", "", "")]
    assert leap["window_end"] == datetime(2024, 2, 29, 19, tzinfo=UTC)
    assert leap["events"] == 2  # the first second of the day and its last (23:59:59 +05)


def test_the_almaty_25_hour_day_collects_25_hours_of_events() -> None:
    start = epoch("2024-02-29T00:00:00+06:00")
    events = [Ev(start + 3600 * h, "KZ-KORDAI", "detention", persons=1) for h in range(26)]
    config = WindowConfig(windows=(WindowSpec(name="day", kind="calendar_day"),))
    view = finals(run(events, config).rows)
    days = sorted((v["window_label"], v["events"], v["window_start"], v["window_end"])
                  for v in view.values())
    h18, h19 = datetime(2024, 2, 28, 18, tzinfo=UTC), datetime(2024, 2, 29, 19, tzinfo=UTC)
    assert days == [
        ("2024-02-29", 25, h18, h19),
        ("2024-03-01", 1, h19, datetime(2024, 3, 1, 19, tzinfo=UTC)),
    ]


def test_null_numbers_are_not_counted_and_sums_are_exact() -> None:
    events = [Ev(T0 + i, event_type="seizure", drug="opium", kg=0.1, arrests=None)
              for i in range(10)]
    events.append(Ev(T0 + 20, event_type="seizure", drug="opium", kg=None, arrests=1))
    events.append(Ev(T0 + 21, event_type="crossing", persons=None, vehicles=None,
                     direction="outbound"))
    view = finals(run(events).rows)
    opium = next(v for k, v in view.items() if k[0] == "1m" and k[3] == "seizure")
    assert (opium["events"], opium["seizure_kg"], opium["seizure_kg_max"], opium["arrests"]) == (
        11, 1.0, 0.1, 1)  # 0.1 ten times is exactly 1.0 here, not 0.9999999999999999
    crossing = next(v for k, v in view.items() if k[0] == "1m" and k[3] == "crossing")
    assert (crossing["persons"], crossing["vehicles"], crossing["outbound"]) == (0, 0, 1)


def test_attributes_come_from_the_latest_event_of_the_key() -> None:
    events = [Ev(T0 + 10, event_type="incident", extra={"border": "AF-TJ"}),
              Ev(T0 + 50, event_type="incident", extra={"border": "CN-TJ"}),
              Ev(T0 + 30, event_type="incident", extra={"border": "KG-TJ"})]
    view = finals(run(events).rows)
    assert {v["border"] for k, v in view.items() if k[0] == "1m"} == {"CN-TJ"}
