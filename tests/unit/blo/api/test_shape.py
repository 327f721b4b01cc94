"""The API's answers shaped from rows (blo/api/shape.py), without ClickHouse: rows here are
what the queries of blo/api/queries.py return, column for column."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from blo.api import shape
from blo.api.params import STATISTICS
from blo.api.queries import ALERT_COLUMNS
from blo.api.scope import Scope, visibility
from blo.api.tokens import Token

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
T = int(NOW.timestamp())
KZ = Scope(countries=frozenset({"KZ"}))
ALL = Scope(all=True)


def station_row(sid: str, country: str, agency: str = "customs", paired: str = "",
                **over: object) -> tuple[object, ...]:
    values = {"station_id": sid, "name": sid.title(), "country": country, "agency": agency,
              "border": "KG-KZ", "paired_blo": paired, "crossing_point": sid,
              "lat": 43.123456789, "lon": 74.7, "tz": "Asia/Almaty", "active": 1, **over}
    return tuple(values[f] for f in shape.STATION_FIELDS)


REG = shape.registry([station_row("KG-AK-JOL", "KG"),
                      station_row("KZ-KORDAI", "KZ", "border_guard", "KG-AK-JOL"),
                      station_row("KZ-KARASU", "KZ")])


def alert_row(name: str, scope: str, key: str, station: str = "", severity: str = "warning",
              **over: object) -> tuple[object, ...]:
    values: dict[str, object] = dict.fromkeys(ALERT_COLUMNS, "")
    values.update(alert_id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)), version=1,
                  rule_id=name, severity=severity, state="firing", scope=scope,
                  scope_key=key, station_id=station, window_start=T - 3600, window_end=T,
                  value=3.0, threshold=2.0, provisional=1, fired_at=T, resolved_at=0,
                  acked=0, acked_at=0)
    values.update(over)
    return tuple(values[c] for c in ALERT_COLUMNS)


def test_values_become_json_times_utc_and_zero_times_null() -> None:
    assert shape.epoch_iso(T) == "2026-11-28T10:00:00Z"
    assert shape.epoch_iso(0) is None
    assert shape.plain_value(0.1 + 0.2) == 0.3
    assert shape.plain_value(datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=5)))) \
        == "2026-01-01T00:00:00Z"
    assert shape.plain_value(datetime(2026, 1, 1, 5)) == "2026-01-01T05:00:00Z"  # naive: UTC
    assert shape.plain_value(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert shape.plain_value(Decimal("1.5")) == "1.5"
    assert [shape.plain_value(v) for v in (None, True, 3, "x")] == [None, True, 3, "x"]
    assert shape.num(2.0000004) == 2.0 and shape.num(7) == 7 and shape.num("n") == "n"


def test_the_registry_gives_json_stations_and_what_scopes_need() -> None:
    assert [s.station_id for s in REG.infos] == ["KG-AK-JOL", "KZ-KORDAI", "KZ-KARASU"]
    kordai = REG.infos[1]
    assert (kordai.country, kordai.agency, kordai.paired_blo) == ("KZ", "border_guard",
                                                                  "KG-AK-JOL")
    assert REG.stations[0]["lat"] == 43.123457  # rounded
    assert list(REG.stations[0]) == [*shape.STATION_FIELDS, "interior"]
    assert REG.stations[0]["interior"] is False
    v = visibility(KZ, REG.infos)
    assert [s["station_id"] for s in REG.visible(v)] == ["KZ-KORDAI", "KZ-KARASU"]


def test_statistics_rows_are_named_groups_then_every_statistic() -> None:
    stats = [float(i) + 0.0000001 for i in range(len(STATISTICS))]
    rows = shape.stat_rows(("country", "event_type"), [("KZ", "crossing", *stats)])
    assert list(rows[0]) == ["country", "event_type", *STATISTICS]
    assert rows[0]["country"] == "KZ" and rows[0]["events"] == 0.0
    assert rows[0]["report_value"] == float(len(STATISTICS) - 1)


def test_an_interior_post_is_marked_and_grouped_by_border_as_interior() -> None:
    reg = shape.registry([station_row("KZ-ALMATY-AIRPORT", "KZ", border="")])
    assert (reg.stations[0]["border"], reg.stations[0]["interior"]) == ("", True)
    stats = [0.0] * len(STATISTICS)
    rows = shape.stat_rows(("border", "country"), [("", "KZ", *stats), ("KG-KZ", "KZ", *stats)])
    assert [(r["border"], r["country"]) for r in rows] == [("interior", "KZ"), ("KG-KZ", "KZ")]
    # grouped otherwise, an empty value stays as it is
    assert shape.stat_rows(("drug",), [("", *stats)])[0]["drug"] == ""


def test_the_paired_block_is_never_grouped_by_station() -> None:
    assert shape.paired_groups(("station", "event_type")) == ("event_type",)
    assert shape.paired_groups(("station",)) == ("country",)
    assert shape.paired_groups(()) == ("country",)
    assert shape.paired_groups(("border", "drug")) == ("border", "drug")


def test_a_stats_answer_carries_the_paired_block_only_when_given() -> None:
    body = shape.stats_body("1h", NOW - timedelta(days=1), NOW, KZ, ("station",), [], None)
    assert body == {"window": "1h", "from": "2026-11-27T10:00:00Z",
                    "to": "2026-11-28T10:00:00Z", "group_by": ["station"], "scope": "KZ",
                    "rows": []}
    body = shape.stats_body("1h", NOW, NOW, KZ, ("station",), [],
                            (("country",), [{"country": "KG", "events": 4}]))
    assert body["paired"] == {"group_by": ["country"], "rows": [{"country": "KG", "events": 4}]}


def test_top_and_series() -> None:
    assert shape.top_rows([("KZ-KORDAI", "KZ", 12), ("KZ-KARASU", "KZ", 2.5)]) == [
        {"station_id": "KZ-KORDAI", "country": "KZ", "value": 12},
        {"station_id": "KZ-KARASU", "country": "KZ", "value": 2.5}]
    assert shape.series_points([(T, "", 3), (0, "Mon", 1.25)]) == [
        {"t": "2026-11-28T10:00:00Z", "label": None, "value": 3},
        {"t": None, "label": "Mon", "value": 1.25}]
    body = shape.ranged_body("1d", NOW, NOW, "persons", ALL, "points", [])
    assert body == {"window": "1d", "from": "2026-11-28T10:00:00Z",
                    "to": "2026-11-28T10:00:00Z", "stat": "persons", "scope": "all",
                    "points": []}


def test_health_lists_every_station_asked_for_with_zeros_where_nothing_was_seen() -> None:
    out = shape.health_stations(
        {"KZ-KORDAI", "KZ-KARASU"}, NOW,
        seen=[("KZ-KORDAI", T - 90, T - 30, 17)], late=[("KZ-KORDAI", 2)],
        dead=[("KZ-KARASU", 5), ("TJ-PYANJ", 1)])
    assert out == [
        {"station_id": "KZ-KARASU", "last_event_at": None, "last_ingested_at": None,
         "event_time_lag_s": None, "events_30d": 0, "late_events_24h": 0,
         "dead_letters_24h": 5},
        {"station_id": "KZ-KORDAI", "last_event_at": "2026-11-28T09:58:30Z",
         "last_ingested_at": "2026-11-28T09:59:30Z", "event_time_lag_s": 90,
         "events_30d": 17, "late_events_24h": 2, "dead_letters_24h": 0}]


def test_alerts_are_filtered_by_scope_shaped_and_limited() -> None:
    rows = [alert_row("tj", "station", "TJ-PYANJ", "TJ-PYANJ"),
            alert_row("kz", "station", "KZ-KORDAI", "KZ-KORDAI", acked=1, acked_at=T),
            alert_row("all", "all", "all"),
            alert_row("kz-country", "country", "KZ")]
    v = visibility(KZ, REG.infos)
    out = shape.visible_alerts(rows, KZ, v, 100)
    assert [a["rule_id"] for a in out] == ["kz", "kz-country"]
    kz = out[0]
    assert list(kz) == [*ALERT_COLUMNS, "rule_names"]
    assert kz["rule_names"] == {"en": kz["rule_name"]}  # a row without names per language
    assert kz["fired_at"] == "2026-11-28T10:00:00Z" and kz["resolved_at"] is None
    assert kz["window_start"] == "2026-11-28T09:00:00Z" and kz["acked_at"] == kz["fired_at"]
    assert kz["provisional"] is True and kz["acked"] is True
    assert [a["rule_id"] for a in shape.visible_alerts(rows, KZ, v, 1)] == ["kz"]
    assert len(shape.visible_alerts(rows, ALL, visibility(ALL, REG.infos), 100)) == 4


def test_a_station_shows_the_worst_open_alert_naming_it_its_pairs_included() -> None:
    v = visibility(KZ, REG.infos)
    alerts = shape.visible_alerts([
        alert_row("a", "station", "KZ-KARASU", "KZ-KARASU", "info"),
        alert_row("b", "station", "KZ-KARASU", "KZ-KARASU", "critical"),
        alert_row("c", "station", "KZ-KARASU", "KZ-KARASU", "warning"),
        alert_row("pair", "pair", "KG-AK-JOL+KZ-KORDAI", "", "warning"),
    ], KZ, v, 100)
    assert shape.firing_by_station(alerts, v) == {"KZ-KARASU": "critical",
                                                  "KZ-KORDAI": "warning"}
    assert shape.worse(None, "info") == "info" and shape.worse("critical", "info") == "critical"


def test_a_live_snapshot() -> None:
    v = visibility(KZ, REG.infos)
    alerts = shape.visible_alerts(
        [alert_row(f"k{i}", "station", "KZ-KORDAI", "KZ-KORDAI") for i in range(60)],
        KZ, v, 200)
    snap = shape.snapshot(NOW, KZ, "1m", 2.0, REG.visible(v), v,
                          per_station=[("KZ-KORDAI", 7, T - 60)],
                          minutes=[(T - 120, 3), (T - 60, 4)], open_alerts=alerts)
    assert snap["at"] == "2026-11-28T10:00:00Z" and snap["scope"] == "KZ"
    assert (snap["window"], snap["interval_s"]) == ("1m", 2.0)
    kordai, karasu = snap["stations"]
    assert (kordai["events_1h"], kordai["last_event_at"], kordai["alert"]) == \
        (7, "2026-11-28T09:59:00Z", "warning")
    assert (karasu["events_1h"], karasu["last_event_at"], karasu["alert"]) == (0, None, None)
    assert kordai["name"] == "Kz-Kordai"  # the registry fields come along
    assert snap["series"] == [{"t": "2026-11-28T09:58:00Z", "events": 3},
                              {"t": "2026-11-28T09:59:00Z", "events": 4}]
    assert snap["events_1h"] == 7
    assert len(snap["alerts"]) == 50 and snap["alerts_open"] == 60


def test_the_live_window_is_one_minute_when_there_is_one() -> None:
    assert shape.live_window(("1h", "1m", "1d")) == "1m"
    assert shape.live_window(("1h", "1d")) == "1h"


def test_a_server_sent_event() -> None:
    raw = shape.sse("error", {"error": "token tok_1 was revoked"})
    assert raw == b'event: error\ndata: {"error":"token tok_1 was revoked"}\n\n'
    event, data = raw.rstrip(b"\n").split(b"\n")
    assert event == b"event: error"
    assert json.loads(data.removeprefix(b"data: ")) == {"error": "token tok_1 was revoked"}


def test_whoami() -> None:
    token = Token("tok_0123456789ab", 1, "KZ customs", "h", Scope(
        countries=frozenset({"KZ", "KG"}), agencies=frozenset({"customs"})), NOW, False, None,
        NOW + timedelta(days=90))
    assert shape.whoami(token, ("1m", "1h")) == {
        "token_id": "tok_0123456789ab", "name": "KZ customs",
        "scope": "KG,KZ (agencies customs)", "all": False, "countries": ["KG", "KZ"],
        "agencies": ["customs"], "windows": ["1m", "1h"], "expires_at": "2027-02-26T10:00:00Z"}
    never = Token("tok_0123456789ab", 1, "r", "h", ALL, NOW, False, None, None)
    assert shape.whoami(never, ("1h",))["expires_at"] is None
