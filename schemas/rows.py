"""The rows of the tables the stream writes, one named tuple per table. Pure data.

Each ``NamedTuple`` is the column contract of its table: field names, order and Python
types. :mod:`sinks.tables` declares each table's ClickHouse types on the same names and
refuses to load when the two disagree (a unit test checks it too), so this is where a reader
finds what a row holds, and the pure cores need nothing of ``sinks/``.

How rows travel:

* ``late_events`` and ``alerts`` rows are built as :class:`LateEventRow` / :class:`AlertRow`
  and read by name; rows read back from ClickHouse (plain tuples in column order) are named
  with ``AlertRow._make(values)`` / ``WindowStatsRow._make(values)``.
* ``events`` and ``window_stats`` rows, built once per event and per window emission, are
  plain tuples (:data:`Row`) in the field order of :class:`EventRow` /
  :class:`WindowStatsRow`, and the hot loops read them by position
  (``C_OCCURRED = EventRow._fields.index("occurred_at")``). Measured (bench/windows_bench.py,
  Python 3.11): as ``NamedTuple`` instances they cost +10 % in ``WindowState.add``, +12 % in
  ``tick`` and +24 % in ``close_all`` -- indexing and attribute access on a tuple *subclass*
  take the interpreter's slow path (about 25 ns more per read), the subclass's
  ``__new__``/``tuple.__new__`` copy costs 70--400 ns per row, and the garbage collector
  never untracks subclass instances as it does plain tuples of plain values.

Adding a column: add the field here, the column (with its ClickHouse type) in
:mod:`sinks.tables`, a migration in ``sinks/sql``, and the value in the row's builder.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

Row = tuple[Any, ...]
"""A row as the hot path carries it: a plain tuple in the field order of its named type."""


class EventRow(NamedTuple):
    """The columns of ``events``: one accepted event, enriched (built, as a plain tuple in
    this order, by :mod:`streams.stages.rows`)."""

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
    # corrections (migration 8): the event's revision (0: as first sent), 1 when this row
    # withdraws the event from its partition (a void, or a revision that moved it to
    # another month), and the revision's reason
    revision: int
    voided: int
    correction_reason: str


class EventRevisionRow(NamedTuple):
    """The columns of ``event_revisions``: every revision of a corrected or voided event,
    the original included (an event never corrected has its history in ``events``)."""

    event_id: UUID
    station_id: str
    revision: int
    voided: int
    correction_reason: str
    event_type: str
    occurred_at: datetime
    reported_at: datetime
    ingested_at: datetime
    body_hash: str
    payload: str
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int


class WindowStatsRow(NamedTuple):
    """The columns of ``window_stats``: one emission of a window key (built, as a plain
    tuple in this order, by :mod:`streams.windows.emit`)."""

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
    messages: str = ""  # JSON object {"en": ..., "ru": ...} (migration 10); '' before it


class MuteRow(NamedTuple):
    """One version of an alert mute: a row of ``alert_mutes`` (built by
    :meth:`streams.alerts.mutes.Mute.row`)."""

    mute_id: str
    version: int
    rule_id: str  # '' : every rule
    scope: str  # '' (everywhere) | country | border | station
    scope_key: str
    reason: str
    created_by: str
    created_at: datetime  # the mute starts then
    ends_at: datetime  # it expires then (by itself, or earlier when unmuted)
    expired_by: str  # who unmuted it; '' otherwise
    expired_at: datetime  # epoch 0 unless unmuted
    updated_at: datetime
