"""The rows the stream builds and reads back, one named tuple per table. Pure data.

A row is a ``NamedTuple``: a plain tuple to the ClickHouse drivers (``sinks/`` inserts it as
it is), read by field name in the stream (``row.occurred_at``, never ``row[5]``). Field order
is the table's column order; :mod:`sinks.tables` declares each table's ClickHouse types on
the same names and refuses to load when the two disagree (a unit test checks it too).

Adding a column: add the field here, the column (with its type) in :mod:`sinks.tables`, a
migration in ``sinks/sql``, and the value in the row's builder.

Builders in hot loops create rows with ``tuple.__new__(EventRow, values)`` (:func:`new_row`):
a ``NamedTuple``'s own ``__new__`` takes arguments one by one and costs about twice a plain
tuple for 41 columns; the copy costs a few per cent.

Rows read back from ClickHouse are plain tuples in column order: ``EventRow._make(values)``
names them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

_R = TypeVar("_R", bound=tuple[Any, ...])


def new_row(row_type: type[_R], values: tuple[Any, ...]) -> _R:
    """``values`` (every column, in order) as a ``row_type``, without its per-argument
    ``__new__``. No check of the count: builders are tested against the table."""
    return tuple.__new__(row_type, values)


class EventRow(NamedTuple):
    """One accepted event, enriched: a row of ``events`` (built by
    :mod:`streams.stages.rows`)."""

    event_id: UUID
    event_type: str
    schema_version: int
    station_id: str
    source_seq: int
    occurred_at: datetime
    reported_at: datetime
    ingested_at: datetime
    # enrichment from the station registry entry valid at occurred_at
    country: str
    agency: str
    crossing_point: str
    border: str
    neighbour_country: str
    paired_blo: str
    lat: float | None
    lon: float | None
    station_tz: str
    # crossings / detentions / seizures / inspections
    direction: str
    subject: str
    mode: str
    vehicle_class: str
    outcome: str
    persons: int | None
    vehicles: int | None
    arrests: int | None
    drug: str
    quantity: float | None
    quantity_unit: str
    quantity_kg: float | None
    # count reports
    period_start: datetime | None
    period_end: datetime | None
    measure: str
    dimension: str
    value: float | None
    unit: str
    # provenance and identity
    body_hash: str
    payload: str
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int


class WindowStatsRow(NamedTuple):
    """One emission of a window key: a row of ``window_stats`` (built by
    :mod:`streams.windows.emit`)."""

    window_kind: str
    window_start: datetime
    window_end: datetime
    window_label: str
    station_id: str
    country: str
    border: str
    station_tz: str
    event_type: str
    measure: str
    dimension: str
    events: int
    persons: int
    vehicles: int
    refused: int
    inbound: int
    outbound: int
    seizure_kg: float
    seizure_kg_max: float
    arrests: int
    inspections_with_finds: int
    value: float
    first_event_at: datetime
    last_event_at: datetime
    status: str
    version: int
    updated_at: datetime


class LateEventRow(NamedTuple):
    """A late event's miss of one window: a row of ``late_events``."""

    event_id: UUID
    station_id: str
    window_kind: str
    window_start: datetime
    window_end: datetime
    event_type: str
    occurred_at: datetime
    watermark: datetime
    recorded_at: datetime


class AlertRow(NamedTuple):
    """One version of an alert: a row of ``alerts`` (built by
    :meth:`streams.alerts.rows.Alert.row`)."""

    alert_id: UUID
    version: int
    rule_id: str
    rule_name: str
    kind: str
    severity: str
    state: str
    scope: str
    scope_key: str
    station_id: str
    window_kind: str
    window_start: datetime
    window_end: datetime
    value: float
    threshold: float
    provisional: int
    message: str
    labels: list[str]
    fired_at: datetime
    resolved_at: datetime
    acked: int
    acked_by: str
    acked_at: datetime
    ack_comment: str
    updated_at: datetime
