"""The API's SQL (blo/api/queries.py) and request parsing (blo/api/params.py), as pure
functions: how a scope reaches a query (the visible stations, bound as a parameter, restrict
the rows before anything is summed) and that no value of a request becomes SQL text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from blo.api.params import (
    Filters,
    ParamError,
    StatsParams,
    TopParams,
    parse,
    parse_ack,
    parse_alert_id,
)
from blo.api.queries import (
    alerts_sql,
    health_sql,
    live_sql,
    series_sql,
    stats_sql,
    top_sql,
)
from blo.api.scope import Scope, StationInfo, visibility

T0 = datetime(2026, 11, 27, 10, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
REGISTRY = [StationInfo("KZ-KORDAI", "KZ", "border_guard", "KG-KZ", "KG-AK-JOL"),
            StationInfo("KZ-KARASU", "KZ", "customs", "KG-KZ", ""),
            StationInfo("KG-AK-JOL", "KG", "customs", "KG-KZ", ""),
            StationInfo("TJ-PYANJ", "TJ", "joint", "AF-TJ", "")]
KZ = visibility(Scope(countries=frozenset({"KZ"})), REGISTRY)
NOBODY = visibility(Scope(countries=frozenset({"UZ"})), REGISTRY)
NO_FILTER = Filters()


def _window_reads(stations: tuple[str, ...], f: Filters = NO_FILTER
                  ) -> list[tuple[str, dict[str, object]]]:
    """Every query of the statistics endpoints and the live snapshot for ``stations``."""
    out: list[tuple[str, dict[str, object]]] = [
        stats_sql("blo", "1h", T0, T1, stations, f, ("country",), 100),
        stats_sql("blo", "1h", T0, T1, stations, f, (), 100),
        top_sql("blo", "1h", T0, T1, stations, f, "events", 10),
        series_sql("blo", "1h", T0, T1, stations, f, "persons", 100)]
    out += live_sql("blo", "1m", stations, T1)
    return out


def test_every_read_of_window_rows_is_restricted_to_the_visible_stations() -> None:
    for sql, params in [*_window_reads(KZ.station_ids()), *health_sql(
            "blo", KZ.station_ids(), T1)]:
        assert "station_id IN %(stations)s" in sql, sql
        assert params["stations"] == ("KZ-KARASU", "KZ-KORDAI"), sql
        assert "KZ-K" not in sql  # bound, never written into the text


def test_the_restriction_applies_before_anything_is_summed() -> None:
    """The station condition is in the WHERE of the query that aggregates (over the
    readers' view of the window rows: the latest version of each key), not a filter on
    its groups."""
    for sql, _ in _window_reads(KZ.station_ids()):
        where = sql.index(" WHERE station_id IN %(stations)s")
        assert "HAVING" not in sql
        group = sql.find(" GROUP BY ", where)
        assert group == -1 or group > where, sql
        assert "FROM blo.window_stats WHERE window_kind = %(window)s" in sql, sql
        assert ", version) AS _latest" in sql and "FINAL" not in sql, sql


def test_a_scope_that_sees_nothing_reads_nothing_and_stays_valid_sql() -> None:
    for sql, params in _window_reads(NOBODY.station_ids()):
        assert "station_id IN %(stations)s" in sql and params["stations"] == ("",)


def test_the_paired_posts_are_read_with_their_own_ids() -> None:
    _, params = stats_sql("blo", "1h", T0, T1, KZ.paired_ids(), NO_FILTER, ("country",), 10)
    assert params["stations"] == ("KG-AK-JOL",)


def test_filters_are_bound_parameters_and_identifiers_come_from_fixed_tables() -> None:
    hostile = "x' OR 1=1 --"
    f = Filters.model_construct(station=hostile, country="KZ", border="KG-KZ",
                                event_type="seizure", drug="heroin")
    for sql, params in _window_reads(KZ.station_ids(), f)[:4]:
        assert hostile not in sql and params["f_station"] == hostile
        assert {"f_country", "f_border", "f_event_type", "f_drug"} <= set(params)
        assert "dimension = %(f_drug)s" in sql and "event_type = 'seizure'" in sql
    sql, _ = stats_sql("blo", "1h", T0, T1, ("S",), NO_FILTER, ("drug", "station"), 10)
    assert "dimension AS drug" in sql and "station_id AS station" in sql
    assert sql.endswith("GROUP BY drug, station ORDER BY drug, station LIMIT 10")


def test_the_border_filter_interior_selects_the_posts_on_no_border() -> None:
    f = Filters.model_validate({"border": "interior"})
    sql, params = stats_sql("blo", "1h", T0, T1, ("S",), f, ("border",), 10)
    assert "border = %(f_border)s" in sql and params["f_border"] == ""
    f = Filters.model_validate({"border": "KG-KZ"})
    assert stats_sql("blo", "1h", T0, T1, ("S",), f, (), 10)[1]["f_border"] == "KG-KZ"
    for bad in ("", "INTERIOR", "kg-kz", "KG-KZ-UZ", "interior2"):
        with pytest.raises(ValidationError):
            Filters.model_validate({"border": bad})


def test_the_time_range_and_limits_are_whole_numbers() -> None:
    sql, params = stats_sql("blo", "1h", T0, T1, ("S",), NO_FILTER, (), 10.9)  # type: ignore[arg-type]
    assert (params["t0"], params["t1"]) == (int(T0.timestamp()), int(T1.timestamp()))
    assert sql.endswith("LIMIT 10")
    q = {p["d30"] for _, p in health_sql("blo", ("S",), T1)}
    assert q == {int(T1.timestamp()) - 30 * 86400}


def test_alerts_are_read_for_every_scope_and_filtered_afterwards() -> None:
    """Alerts carry no country column to restrict on: scope is applied to the rows read
    (blo.api.shape.visible_alerts), so the query has no station condition."""
    sql, params = alerts_sql("blo", True, 5000)
    assert "station_id IN" not in sql and "state = 'firing'" in sql and params == {}
    sql, params = alerts_sql("blo", False, 1, "00000000-0000-0000-0000-000000000001")
    assert "alert_id = toUUID(%(id)s)" in sql and "state" not in sql.split("WHERE")[1]
    assert params == {"id": "00000000-0000-0000-0000-000000000001"}
    assert re.search(r"LIMIT 1$", sql)


# -- request parsing ---------------------------------------------------------------------
def test_a_bad_parameter_names_every_problem() -> None:
    with pytest.raises(ParamError) as e:
        parse(StatsParams, {"country": "kz", "group_by": "station,nope", "from": "yesterday"})
    names = sorted(p.split(":")[0] for p in e.value.problems)
    assert names == ["country", "from", "group_by.1"]
    with pytest.raises(ParamError, match="from"):
        parse(TopParams, {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"})


def test_the_range_defaults_to_the_last_day_and_is_bounded() -> None:
    p = parse(StatsParams, {})
    assert p.bounds(T1, 400) == (T0, T1)
    p = parse(StatsParams, {"from": "2026-01-01T00:00:00", "to": "2026-03-01T00:00:00Z"})
    assert p.bounds(T1, 400)[0] == datetime(2026, 1, 1, tzinfo=UTC)  # naive: UTC
    with pytest.raises(ParamError, match="at most 30 days"):
        p.bounds(T1, 30)
    assert parse(StatsParams, {"group_by": "event_type,event_type,country"}).group_by == (
        "event_type", "country")


def test_an_acknowledgement_is_a_uuid_and_an_optional_json_comment() -> None:
    aid = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
    assert parse_alert_id(aid) == aid.lower()
    with pytest.raises(ParamError, match="alert_id: not a UUID: '../../etc'"):
        parse_alert_id("../../etc")
    assert parse_ack(b"") == parse_ack(b"{}") == parse_ack(b" \n")
    assert parse_ack(b"").comment == ""
    assert parse_ack(b'{"comment": "seen"}').comment == "seen"
    for raw, why in ((b"{nope", "body: not JSON"), (b"[1]", "body: a JSON object"),
                     (b'{"comment": "x", "who": "y"}', "who"),
                     (b'{"comment": "' + b"x" * 2001 + b'"}', "comment")):
        with pytest.raises(ParamError) as e:
            parse_ack(raw)
        assert why in e.value.problems[0], (raw, e.value.problems)
