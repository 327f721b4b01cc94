"""Bulk acknowledgement, the pure parts: the body (at least one filter, times, order), the
scope filter a token may name, and the SQL's conditions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from blo.api import shape
from blo.api.params import ParamError, parse_bulk_ack
from blo.api.queries import alerts_to_ack_sql
from blo.api.routes.alerts import scope_refusal
from blo.api.scope import Scope, visibility
from sinks.chdb import ChdbDatabase
from sinks.sql import render
from tests.unit.blo.alert_rows import T0, insert_alerts, make_alert
from tests.unit.blo.api.test_scope import ALL, KZ, KZ_CUSTOMS, REGISTRY


def test_a_bulk_body_names_at_least_one_filter_and_an_ordered_range() -> None:
    b = parse_bulk_ack(b'{"rule": "sequence-gap", "since": "2018-01-01", "comment": "import"}')
    assert (b.rule, b.since, b.until, b.open, b.dry_run) == (
        "sequence-gap", datetime(2018, 1, 1, tzinfo=UTC), None, False, False)
    for raw, why in ((b"", "at least one of rule, scope, since, until"),
                     (b'{"comment": "all of them"}', "at least one of"),
                     (b'{"since": "2019-01-01", "until": "2018-01-01"}', "before 'until'"),
                     (b'{"since": "yesterday"}', "not an ISO 8601 time"),
                     (b'{"rule": "r", "who": "me"}', "who"),
                     (b'["r"]', "a JSON object")):
        with pytest.raises(ParamError) as e:
            parse_bulk_ack(raw)
        assert why in str(e.value), (raw, e.value)


@pytest.mark.parametrize("scope, key, refused", [
    (KZ, "KZ-KORDAI", False), (KZ, "KZ-KORDAI:15-16", False), (KZ, "TJ-PYANJ", True),
    (KZ, "TJ-PYANJ:1-2", True), (KZ, "KZ", False), (KZ, "TJ", True), (KZ, "KG-KZ", False),
    (KZ, "AF-TJ", True), (KZ, "all", True), (KZ, "KG-AK-JOL+KZ-KORDAI", False),
    (KZ, "AF-SHERKHAN+TJ-PYANJ", True), (KZ_CUSTOMS, "KZ-KORDAI", True),
    (KZ_CUSTOMS, "KZ-KARASU", False), (ALL, "all", False), (ALL, "TJ-PYANJ", False),
])
def test_a_token_names_only_scopes_it_sees(scope: Scope, key: str, refused: bool) -> None:
    v = visibility(scope, REGISTRY)
    assert bool(scope_refusal(scope, v, key)) is refused


def test_the_sql_binds_every_filter_and_skips_acknowledged_alerts() -> None:
    sql, params = alerts_to_ack_sql("blo", rule="r'; DROP", scope="US-3604", since=datetime(
        2018, 1, 1, tzinfo=UTC), until=None, open_only=True, limit=10)
    assert "r'; DROP" not in sql and params["rule"] == "r'; DROP"
    assert "acked = 0" in sql and "state = 'firing'" in sql and "%(until)s" not in sql
    assert params["since"] == 1514764800 and params["scope"] == "US-3604"


def test_a_bulk_body_takes_the_lists_filters() -> None:
    b = parse_bulk_ack(b'{"severity": "critical,warning", "country": "KZ", "station": "KZ-A",'
                       b' "acknowledged": false, "open": true}')
    assert (b.severity, b.country, b.station, b.acknowledged, b.rule) == (
        ("critical", "warning"), "KZ", "KZ-A", False, None)
    assert parse_bulk_ack(b'{"severity": ["info"]}').severity == ("info",)
    assert parse_bulk_ack(b'{"country": "TJ"}').country == "TJ"
    for raw, why in ((b'{"severity": "fatal"}', "severity"),
                     (b'{"country": "kz"}', "country"),
                     (b'{"rule": "r", "acknowledged": true}', "acknowledged"),
                     (b'{"acknowledged": false}', "at least one of")):
        with pytest.raises(ParamError) as e:
            parse_bulk_ack(raw)
        assert why in str(e.value), (raw, e.value)


# -- the query the route runs, over alerts stored in embedded chDB ----------------------------

def test_other_countries_alerts_never_crowd_out_the_tokens_own(chdb_db: ChdbDatabase) -> None:
    """Visibility and the list's filters apply before the limit: a national token's bulk
    acknowledgement finds its own alerts however many older ones other countries have."""
    from blo.api.routes.alerts import bulk_ack_sql, places_of

    foreign = [make_alert(scope_key="TJ-PYANJ", station_id="TJ-PYANJ", fired_at=T0 + i)
               for i in range(5)]  # older than every KZ alert
    own = [make_alert(scope_key="KZ-KORDAI", station_id="KZ-KORDAI", fired_at=T0 + 100 + i,
                      severity=sev) for i, sev in enumerate(("critical", "warning"))]
    done = make_alert(scope_key="KZ-KORDAI", station_id="KZ-KORDAI", fired_at=T0 + 99,
                      acked=True, acked_by="day shift", acked_at=T0 + 200)
    insert_alerts(chdb_db, *foreign, *own, done)
    places = places_of(shape.Registry((), tuple(REGISTRY)))

    def matched(scope: Scope, raw: bytes, limit: int) -> set[str]:
        v = visibility(scope, REGISTRY)
        sql, params = bulk_ack_sql(chdb_db.database, scope, v, places, parse_bulk_ack(raw),
                                   limit)
        rows = chdb_db.query(render(sql, params))
        return {str(a["alert_id"]) for a in shape.visible_alerts(rows, scope, v, limit)}

    rule = b'{"rule": "seizure-kg-station-1h"}'
    ids = {str(a.alert_id) for a in own}
    assert matched(KZ, rule, 3) == ids
    assert matched(KZ, b'{"since": "2024-05-01"}', 2) == ids
    critical = {str(own[0].alert_id)}
    assert matched(ALL, b'{"severity": "critical", "country": "KZ"}', 2) == critical
    assert matched(ALL, b'{"station": "KZ-KORDAI", "severity": "critical"}', 1) == critical
    assert len(matched(ALL, rule, 100)) == 7  # the region sees all, acknowledged ones aside
