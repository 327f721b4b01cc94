"""The named row types of schemas.rows agree with the table specs of sinks.tables."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.rows import AlertRow, EventRow, LateEventRow, WindowStatsRow
from sinks.tables import ALERTS, EVENTS, LATE_EVENTS, WINDOW_STATS, TableSpec


@pytest.mark.parametrize(("spec", "row_type"), [
    (EVENTS, EventRow), (WINDOW_STATS, WindowStatsRow), (LATE_EVENTS, LateEventRow),
    (ALERTS, AlertRow),
])
def test_each_row_type_has_the_columns_of_its_table_in_order(
        spec: TableSpec, row_type: Any) -> None:
    assert spec.row_type is row_type
    assert row_type._fields == spec.column_names


def test_a_spec_whose_columns_differ_from_its_row_type_does_not_load() -> None:
    swapped = (LATE_EVENTS.columns[1], LATE_EVENTS.columns[0], *LATE_EVENTS.columns[2:])
    with pytest.raises(ValueError, match="late_events"):
        TableSpec("late_events", swapped, LATE_EVENTS.storage, LateEventRow)
    with pytest.raises(ValueError, match="late_events"):
        TableSpec("late_events", LATE_EVENTS.columns[:-1], LATE_EVENTS.storage, LateEventRow)
