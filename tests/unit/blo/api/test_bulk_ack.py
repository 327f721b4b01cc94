"""Bulk acknowledgement, the pure parts: the body (at least one filter, times, order), the
scope filter a token may name, and the SQL's conditions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from blo.api.params import ParamError, parse_bulk_ack
from blo.api.queries import alerts_to_ack_sql
from blo.api.routes.alerts import scope_refusal
from blo.api.scope import Scope, visibility
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
