"""Route flows from seizure events written to real databases (the ClickHouse server and
chDB): equal to the flows computed here from the events as sent — transit chains, unknown
countries, a revised, a voided and a moved seizure (the readers' view)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from blo.analytics.routes import flows_from_rows, routes_sql
from sinks.base import Database
from tests.integration.api.route_events import POSTS, SENT, expected_flows, write

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

OCT = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))


def _flows(db: Database, stations: tuple[str, ...], t0: datetime, t1: datetime,
           drug: str | None = None) -> dict[tuple[object, ...], tuple[float, int]]:
    sql, params = routes_sql(db.database, stations, t0, t1, drug)
    return {(f.producing, f.departure, f.transit, f.destination, f.drug): (f.kg, f.cases)
            for f in flows_from_rows(db.query(sql, params))}


def test_flows_equal_the_readers_view_of_the_events(engine_db: Database) -> None:
    write(engine_db, SENT)
    every = tuple(sorted(POSTS))
    got = _flows(engine_db, every, *OCT)
    assert got == expected_flows(SENT, set(POSTS), *OCT)
    assert ("AF", "AF", ("TJ", "UZ", "KZ"), "RU", "heroin") in got  # a transit chain
    assert ("", "KG", (), "", "hashish") in got  # unknown countries
    assert got[("AF", "TJ", (), "KZ", "opium")] == (13.5, 2)  # moved in, voided out
    assert got[("AF", "TJ", (), "KZ", "heroin")] == (27.5, 1)  # the revision only
    # a drug, and the posts of one country only
    assert _flows(engine_db, every, *OCT, drug="opium") == \
        expected_flows(SENT, set(POSTS), *OCT, drug="opium")
    kz = ("KZ-KARASU", "KZ-KORDAI")
    assert _flows(engine_db, kz, *OCT) == expected_flows(SENT, set(kz), *OCT)
    # September lost the moved seizure to October
    sep = (datetime(2026, 9, 1, tzinfo=UTC), OCT[0])
    assert _flows(engine_db, every, *sep) == {}
