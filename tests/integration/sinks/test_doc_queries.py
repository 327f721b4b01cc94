"""Every ```sql block of docs/clickhouse.md runs on both engines (and returns the numbers
the example data implies)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from sinks.base import Database
from sinks.tables import EVENTS
from tests.integration.sinks.factories import T0, event_row

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DOC = Path(__file__).resolve().parents[3] / "docs" / "clickhouse.md"


def doc_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.DOTALL)


def test_the_doc_has_queries() -> None:
    assert len(doc_queries()) >= 4


@pytest.mark.parametrize("index", range(len(doc_queries())))
def test_doc_query_runs(engine_db: Database, index: int) -> None:
    db = engine_db
    rows = [
        event_row(1, event_type="seizure", border="AF-TJ", drug="heroin", quantity_kg=1.5),
        event_row(2, event_type="seizure", border="AF-TJ", drug="heroin", quantity_kg=0.5),
        event_row(3, event_type="crossing", station_id="TJ-PYANJ-01", direction="inbound",
                  persons=4, occurred_at=T0 + timedelta(minutes=5)),
        # an interior post (no land neighbour): border ''
        event_row(4, event_type="seizure", station_id="TJ-DUSHANBE-AIRPORT", border="",
                  neighbour_country="", drug="heroin", quantity_kg=0.25),
    ]
    db.insert("events", EVENTS.column_names, rows)
    db.insert("events", EVENTS.column_names, rows[:1])  # a redelivery
    sql = doc_queries()[index].replace("blo.", f"{db.database}.")
    result = db.query(sql)
    if "quantity_kg" in sql:
        assert result == [("AF-TJ", "heroin", 2.0, 2), ("interior", "heroin", 0.25, 1)]
    if "sum(people)" in sql:
        assert [r[1:] for r in result] == [("inbound", 4)]
    if sql.startswith("SELECT count() FROM ("):
        assert result == [(4,)]
