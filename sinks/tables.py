"""Column contracts of the tables the pipeline writes.

Rows cross from ``streams/`` to ``sinks/`` as tuples in exactly this column order; the
tables the stream builds rows for have a named row type in :mod:`schemas.rows` (a
``NamedTuple``, so still a tuple), and a spec given its ``row_type`` refuses to load unless
the names agree. The DDL in :mod:`sinks.migrations` declares the same columns with their
ClickHouse types, and the engine and keys each spec's :class:`Storage` holds. Tests check the
two agree. This module is the one place a column is added: add it here (with the migration's
number in its ``Storage.added_in``), in the row type, in a new migration, and in the row
builder of ``streams/``; the cluster DDL (:mod:`sinks.cluster`) follows from the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.rows import (
    AlertRow,
    EventRevisionRow,
    EventRow,
    LateEventRow,
    MuteRow,
    WindowStatsRow,
)


@dataclass(frozen=True)
class Storage:
    """How a table is stored — what its ``CREATE TABLE`` says after the columns — and which
    migrations made it. The migrations (``sinks/sql``) write the same clauses for one
    server; the cluster DDL (:mod:`sinks.cluster`) is generated from these and the columns.
    Tests check both against the real servers."""

    engine: str
    """A MergeTree-family engine: ``MergeTree``, ``ReplacingMergeTree``, ..."""
    order_by: tuple[str, ...]
    """The sorting key (columns), which is also the key a ReplacingMergeTree collapses on."""
    engine_args: tuple[str, ...] = ()
    """The engine's own arguments, e.g. ``("version",)``: a ReplacingMergeTree's version."""
    partition_by: str = ""
    """An expression (``toYYYYMM(occurred_at)``); ``""``: no partitions."""
    created_in: int = 1
    """The migration that creates the table (0: the bootstrap, before any migration)."""
    added_in: tuple[tuple[str, int], ...] = ()
    """``(column, migration)`` for each column a later migration added (``ALTER TABLE ...
    ADD COLUMN``); every other column is there from ``created_in`` on."""
    read_version: tuple[str, ...] = ()
    """What the readers' view (:func:`sinks.read_model.latest`) orders the rows of one key
    by, when not the engine's version alone: e.g. ``("revision", "ingested_at")``."""
    is_deleted: str = ""
    """A UInt8 column whose value 1 on the latest row of a key takes the key out of the
    readers' view (a withdrawn event); ``""``: none."""

    def engine_sql(self) -> str:
        """``ReplacingMergeTree(version)``; ``MergeTree`` (no parentheses) without
        arguments, as the migrations write it."""
        return f"{self.engine}({', '.join(self.engine_args)})" if self.engine_args \
            else self.engine

    def key_sql(self) -> str:
        """``PARTITION BY …`` (when partitioned) and ``ORDER BY …``, one per line."""
        order = self.order_by[0] if len(self.order_by) == 1 \
            else f"({', '.join(self.order_by)})"
        partition = f"PARTITION BY {self.partition_by}\n" if self.partition_by else ""
        return f"{partition}ORDER BY {order}"


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, ClickHouse type), insert order
    storage: Storage
    row_type: type[tuple[Any, ...]] | None = None  # the named row of schemas.rows, if any

    def __post_init__(self) -> None:
        rt = self.row_type
        if rt is not None and (fields := tuple(getattr(rt, "_fields", ()))) != self.column_names:
            raise ValueError(f"table {self.name}: the columns {self.column_names} are not "
                             f"the fields of {rt.__name__}: {fields}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    def index(self, column: str) -> int:
        return self.column_names.index(column)

    def columns_as_of(self, migration: int) -> tuple[tuple[str, str], ...]:
        """The columns the table has once ``migration`` is applied (none before it is
        created)."""
        if migration < self.storage.created_in:
            return ()
        added = dict(self.storage.added_in)
        return tuple((c, t) for c, t in self.columns
                     if added.get(c, self.storage.created_in) <= migration)


# Raw events, one row per accepted event, enriched. ReplacingMergeTree(ingested_at) ordered by
# (station_id, event_id): a redelivered event is a second physical row that FINAL collapses.
EVENTS = TableSpec(
    "events",
    (
        ("event_id", "UUID"),
        ("event_type", "String"),
        ("schema_version", "UInt8"),
        ("station_id", "String"),
        ("source_seq", "UInt64"),
        ("occurred_at", "DateTime('UTC')"),
        ("reported_at", "DateTime('UTC')"),
        ("ingested_at", "DateTime('UTC')"),
        # enrichment from the station registry entry valid at occurred_at
        ("country", "String"),
        ("agency", "String"),
        ("crossing_point", "String"),
        ("border", "String"),  # sorted ISO pair, e.g. 'AF-TJ'
        ("neighbour_country", "String"),
        ("paired_blo", "String"),
        ("lat", "Nullable(Float64)"),
        ("lon", "Nullable(Float64)"),
        ("station_tz", "String"),
        # crossings / detentions / seizures
        ("direction", "String"),
        ("subject", "String"),
        ("mode", "String"),
        ("vehicle_class", "String"),
        ("outcome", "String"),  # crossing document check / inspection outcome
        ("persons", "Nullable(UInt32)"),
        ("vehicles", "Nullable(UInt32)"),
        ("arrests", "Nullable(UInt32)"),
        ("drug", "String"),
        ("quantity", "Nullable(Float64)"),
        ("quantity_unit", "String"),
        ("quantity_kg", "Nullable(Float64)"),
        # count reports
        ("period_start", "Nullable(DateTime('UTC'))"),
        ("period_end", "Nullable(DateTime('UTC'))"),
        ("measure", "String"),
        ("dimension", "String"),
        ("value", "Nullable(Float64)"),
        ("unit", "String"),
        # provenance and identity
        ("body_hash", "String"),  # hex digest of the canonical body; conflicts are DLQ'd
        ("payload", "String"),  # canonical JSON of the validated event
        ("kafka_topic", "String"),
        ("kafka_partition", "UInt32"),
        ("kafka_offset", "UInt64"),
        # corrections (docs/corrections.md)
        ("revision", "UInt32"),  # 0: the event as first sent
        ("voided", "UInt8"),  # 1: withdrawn from this partition (void, or moved away)
        ("correction_reason", "String"),
    ),
    Storage("ReplacingMergeTree", ("station_id", "event_id"), ("ingested_at",),
            "toYYYYMM(occurred_at)",
            added_in=(("revision", 8), ("voided", 8), ("correction_reason", 8)),
            read_version=("revision", "ingested_at"), is_deleted="voided"),
    row_type=EventRow,
)

# Every revision of an event that was corrected or voided (the original included), for
# `blo events history`. ReplacingMergeTree(ingested_at) ordered by (station_id, event_id,
# revision): a redelivered revision is one row in the readers' view.
EVENT_REVISIONS = TableSpec(
    "event_revisions",
    (
        ("event_id", "UUID"),
        ("station_id", "String"),
        ("revision", "UInt32"),
        ("voided", "UInt8"),  # 1: this revision voids the event
        ("correction_reason", "String"),
        ("event_type", "String"),
        ("occurred_at", "DateTime('UTC')"),
        ("reported_at", "DateTime('UTC')"),
        ("ingested_at", "DateTime('UTC')"),
        ("body_hash", "String"),
        ("payload", "String"),  # canonical JSON of the revision as received
        ("kafka_topic", "String"),
        ("kafka_partition", "UInt32"),
        ("kafka_offset", "UInt64"),
    ),
    Storage("ReplacingMergeTree", ("station_id", "event_id", "revision"), ("ingested_at",),
            "toYYYYMM(occurred_at)", created_in=8),
    row_type=EventRevisionRow,
)

# Dead letters. ReplacingMergeTree ordered by dlq_id (hash of topic/partition/offset/element),
# so a redelivered bad record is one row in the readers' view too.
DLQ = TableSpec(
    "dlq",
    (
        ("dlq_id", "String"),
        ("failed_at", "DateTime('UTC')"),
        ("reason", "String"),  # primary reason code (first of reasons)
        ("reasons", "Array(String)"),  # every reason code
        ("details", "String"),  # human-readable, one line per problem
        ("station_id", "String"),  # '' when unreadable
        ("event_type", "String"),
        ("event_id", "String"),
        ("kafka_topic", "String"),
        ("kafka_partition", "UInt32"),
        ("kafka_offset", "UInt64"),
        ("element_index", "Int32"),  # index inside a batched record, -1 for the whole record
        ("payload", "String"),  # possibly truncated
        ("payload_encoding", "String"),  # 'utf-8' or 'base64' (payload was not UTF-8)
        ("payload_size", "UInt64"),
        ("payload_sha256", "String"),
        ("payload_truncated", "UInt8"),
    ),
    Storage("ReplacingMergeTree", ("dlq_id",), ("failed_at",), "toYYYYMM(failed_at)"),
)

# Station registry history, for readers (dashboards join on it). Source of truth is the
# stations topic; ReplacingMergeTree(updated_at) ordered by (station_id, valid_from).
STATIONS = TableSpec(
    "stations",
    (
        ("station_id", "String"),
        ("valid_from", "DateTime('UTC')"),
        ("name", "String"),
        ("country", "String"),
        ("agency", "String"),
        ("crossing_point", "String"),
        ("neighbour_country", "String"),
        ("border", "String"),
        ("paired_blo", "String"),
        ("lat", "Nullable(Float64)"),
        ("lon", "Nullable(Float64)"),
        ("tz", "String"),
        ("coord_source", "String"),
        ("coord_approximate", "UInt8"),
        ("active", "UInt8"),
        ("updated_at", "DateTime('UTC')"),
    ),
    Storage("ReplacingMergeTree", ("station_id", "valid_from"), ("updated_at",)),
)

# Event-time window statistics (streams/windows). One row per emission of a window key
# (window_kind, window_start, station_id, event_type, measure, dimension); ReplacingMergeTree
# (version) ordered by that key, so the readers' view (FINAL / argMax by version) holds the
# latest emission of each key. status: 'provisional' (open), 'final' (at close), 'corrected'
# (a late event changed a closed window). docs/windows.md.
WINDOW_STATS = TableSpec(
    "window_stats",
    (
        ("window_kind", "String"),  # the configured window name: '1m', '1h/5m', 'day', ...
        ("window_start", "DateTime('UTC')"),
        ("window_end", "DateTime('UTC')"),  # exclusive
        ("window_label", "String"),  # station-local 'YYYY-MM-DD' / 'YYYY-MM'; '' otherwise
        ("station_id", "String"),
        ("country", "String"),
        ("border", "String"),
        ("station_tz", "String"),
        ("event_type", "String"),
        ("measure", "String"),  # count reports' measure, '' otherwise
        ("dimension", "String"),  # drug of seizures, count reports' dimension, '' otherwise
        ("events", "UInt64"),
        ("persons", "UInt64"),
        ("vehicles", "UInt64"),
        ("refused", "UInt64"),  # crossings whose document check was 'refused'
        ("inbound", "UInt64"),  # crossing events by direction
        ("outbound", "UInt64"),
        ("seizure_kg", "Float64"),
        ("seizure_kg_max", "Float64"),
        ("arrests", "UInt64"),
        ("inspections_with_finds", "UInt64"),
        ("value", "Float64"),  # sum of count-report values
        ("first_event_at", "DateTime('UTC')"),
        ("last_event_at", "DateTime('UTC')"),
        ("status", "String"),
        ("version", "UInt64"),  # strictly increasing per key
        ("updated_at", "DateTime('UTC')"),
    ),
    Storage("ReplacingMergeTree",
            ("window_kind", "station_id", "event_type", "measure", "dimension", "window_start"),
            ("version",), "toYYYYMM(window_start)", created_in=2),
    row_type=WindowStatsRow,
)

# Events later than a window's allowed lateness: one row per (event, window it missed). The
# event itself is in `events`; ReplacingMergeTree(recorded_at) ordered by (station_id,
# window_kind, window_start, event_id), so a redelivered late event is one ledger row.
LATE_EVENTS = TableSpec(
    "late_events",
    (
        ("event_id", "UUID"),
        ("station_id", "String"),
        ("window_kind", "String"),
        ("window_start", "DateTime('UTC')"),
        ("window_end", "DateTime('UTC')"),
        ("event_type", "String"),
        ("occurred_at", "DateTime('UTC')"),
        ("watermark", "DateTime('UTC')"),  # the window's watermark that judged it late
        ("recorded_at", "DateTime('UTC')"),
    ),
    Storage("ReplacingMergeTree", ("station_id", "window_kind", "window_start", "event_id"),
            ("recorded_at",), "toYYYYMM(window_start)", created_in=2),
    row_type=LateEventRow,
)

# Alerts (streams/alerts): one row per version of an alert (fired, resolved, acknowledged).
# ReplacingMergeTree(version) ordered by alert_id, partitioned by the month of fired_at
# (constant across an alert's versions), so `alerts FINAL` is the current state of each
# alert. Ids are uuid5 of (rule, key, opening instant): a replay writes the same
# (alert_id, version) pairs again. docs/alerts.md.
ALERTS = TableSpec(
    "alerts",
    (
        ("alert_id", "UUID"),
        ("version", "UInt64"),  # 1, 2, 3... per alert_id
        ("rule_id", "String"),
        ("rule_name", "String"),
        ("kind", "String"),  # threshold | baseline | silence | sequence_gap | paired
        ("severity", "String"),  # info | warning | critical
        ("state", "String"),  # firing | resolved
        ("scope", "String"),  # station | country | border | all | pair
        ("scope_key", "String"),  # 'TJ-PYANJ', 'KZ', 'AF-TJ', 'all', 'A+B', 'S:12-15'
        ("station_id", "String"),  # '' unless the alert is about one station
        ("window_kind", "String"),  # '' for rules not over windows
        ("window_start", "DateTime('UTC')"),  # epoch 0 when not applicable
        ("window_end", "DateTime('UTC')"),
        ("value", "Float64"),
        ("threshold", "Float64"),
        ("provisional", "UInt8"),  # the rule judges provisional windows (early warning)
        ("message", "String"),
        ("labels", "Array(String)"),  # 'k=v', sorted
        ("fired_at", "DateTime('UTC')"),  # event time; the same in every version
        ("resolved_at", "DateTime('UTC')"),  # epoch 0 while firing
        ("acked", "UInt8"),
        ("acked_by", "String"),
        ("acked_at", "DateTime('UTC')"),  # epoch 0 when not acknowledged
        ("ack_comment", "String"),
        ("updated_at", "DateTime('UTC')"),  # event time of the change (ack: its time)
        ("messages", "String"),  # JSON object {"en": ..., "ru": ...}: message per language
    ),
    Storage("ReplacingMergeTree", ("alert_id",), ("version",), "toYYYYMM(fired_at)",
            created_in=3, added_in=(("messages", 10),)),
    row_type=AlertRow,
)

# The query API's tokens: one row per version (created, revoked); only the SHA-256 of the
# secret is stored. ReplacingMergeTree(version) ordered by token_id. docs/api.md.
# expires_at (migration 5): epoch 0 = never expires.
API_TOKENS = TableSpec(
    "api_tokens",
    (
        ("token_id", "String"),  # public id, e.g. 'tok_3f9a1c2e'
        ("version", "UInt64"),
        ("name", "String"),
        ("token_hash", "String"),  # hex SHA-256 of the secret
        ("scope_all", "UInt8"),  # the regional centre: every country
        ("countries", "Array(String)"),
        ("agencies", "Array(String)"),  # empty: every agency of the countries
        ("created_at", "DateTime('UTC')"),
        ("revoked", "UInt8"),
        ("revoked_at", "DateTime('UTC')"),
        ("updated_at", "DateTime('UTC')"),
        ("expires_at", "DateTime('UTC')"),  # epoch 0: never
    ),
    Storage("ReplacingMergeTree", ("token_id",), ("version",), created_in=4,
            added_in=(("expires_at", 5),)),
)

# Last use of each API token, apart from api_tokens so that a use never replaces a newer
# (revoked) version of the token: ReplacingMergeTree(used_at) ordered by token_id, read with
# max(used_at). Written by the API at most once a minute per token and process.
API_TOKEN_USE = TableSpec(
    "api_token_use",
    (
        ("token_id", "String"),
        ("used_at", "DateTime('UTC')"),
    ),
    Storage("ReplacingMergeTree", ("token_id",), ("used_at",), created_in=5),
)

# Every API call (who, what, when, outcome). MergeTree partitioned by month of `at`.
API_AUDIT = TableSpec(
    "api_audit",
    (
        ("at", "DateTime('UTC')"),
        ("token_id", "String"),
        ("token_name", "String"),
        ("method", "String"),
        ("path", "String"),
        ("query", "String"),
        ("status", "UInt16"),
        ("rows", "UInt32"),
        ("duration_ms", "Float64"),
        ("remote", "String"),
        ("detail", "String"),  # why it was refused (HTTP layer, token check); '' otherwise
    ),
    Storage("MergeTree", ("at", "token_id"), (), "toYYYYMM(at)", created_in=4,
            added_in=(("detail", 5),)),
)

# Each run of `blo import-csv` (blo/importer/runs.py): what was imported (file and mapping,
# with their SHA-256), the outcome and the counts. ReplacingMergeTree(finished_at) ordered by
# run_id, no partitions (one row per run; retention never looks at it). docs/import-csv.md.
IMPORT_RUNS = TableSpec(
    "import_runs",
    (
        ("run_id", "String"),  # 16 hex digits
        ("started_at", "DateTime('UTC')"),
        ("finished_at", "DateTime('UTC')"),
        ("file_name", "String"),  # as given on the command line
        ("file_sha256", "String"),
        ("file_bytes", "UInt64"),
        ("mapping", "String"),  # its path, or 'NAME (bundled)'
        ("mapping_sha256", "String"),
        ("mapping_text", "String"),  # the YAML as used (first 256 KiB)
        ("dry_run", "UInt8"),
        ("outcome", "String"),  # published / buffered / refused / dry_run
        ("rows_read", "UInt64"),
        ("events_published", "UInt64"),
        ("rows_rejected", "UInt64"),
        ("stations_registered", "UInt64"),
    ),
    Storage("ReplacingMergeTree", ("run_id",), ("finished_at",), created_in=7),
)

# Each row an import run rejected: its physical line, reason code and message.
# ReplacingMergeTree(recorded_at) ordered by (run_id, line_no), no partitions.
IMPORT_REJECTIONS = TableSpec(
    "import_rejections",
    (
        ("run_id", "String"),
        ("line_no", "UInt64"),
        ("reason", "String"),  # docs/import-csv.md "Rejections"; invalid_station_record
        ("message", "String"),  # first 300 characters
        ("recorded_at", "DateTime('UTC')"),
    ),
    Storage("ReplacingMergeTree", ("run_id", "line_no"), ("recorded_at",), created_in=7),
)

# Alert mutes (streams/alerts/mutes.py): one row per version of a mute (created, unmuted),
# written by the alert engine. ReplacingMergeTree(version) ordered by mute_id, no
# partitions (a few rows a day; expired mutes stay listed). docs/alerts.md, "Mutes".
ALERT_MUTES = TableSpec(
    "alert_mutes",
    (
        ("mute_id", "String"),  # a UUID's text
        ("version", "UInt64"),  # 1 created, 2 unmuted
        ("rule_id", "String"),  # '' : every rule
        ("scope", "String"),  # '' (everywhere) | country | border | station
        ("scope_key", "String"),  # 'KZ', 'KG-KZ', 'KG-KARAMYK'; '' without scope
        ("reason", "String"),
        ("created_by", "String"),
        ("created_at", "DateTime('UTC')"),  # active from here ...
        ("ends_at", "DateTime('UTC')"),  # ... until here (earlier once unmuted)
        ("expired_by", "String"),  # who unmuted it; '' otherwise
        ("expired_at", "DateTime('UTC')"),  # epoch 0 unless unmuted
        ("updated_at", "DateTime('UTC')"),
    ),
    Storage("ReplacingMergeTree", ("mute_id",), ("version",), created_in=9),
    row_type=MuteRow,
)

# Bulletin editions (blo/analytics/bulletin/editions.py, docs/bulletins.md "Scheduled
# bulletins"): one row per bulletin made of a scope, month and language, with the data
# version it was cut from in its key, so a later correction of the month (a new data
# version) adds an edition and never replaces one. ReplacingMergeTree(made_at): the same
# data makes the same bytes, so a repeat (two makers in a rebalance) collapses harmlessly.
BULLETIN_EDITIONS = TableSpec(
    "bulletin_editions",
    (
        ("scope", "String"),  # 'region' or a country code
        ("period", "String"),  # the month, 'YYYY-MM' (each post's local month)
        ("lang", "String"),  # 'ru' | 'en'
        ("data_version", "String"),  # the bulletin's data version (16 hex digits)
        ("made_at", "DateTime('UTC')"),
        ("made_by", "String"),  # 'schedule' (a worker) | 'cli' (blo report editions make)
        ("posts", "UInt32"),
        ("events", "UInt64"),  # events the data version counts
        ("last_ingested", "DateTime('UTC')"),  # the newest ingestion the bulletin read
        ("pdf_size", "UInt64"),
        ("html_size", "UInt64"),
        ("pdf", "String"),  # the PDF, base64 (text: the same through every reader)
        ("html", "String"),  # the HTML page (UTF-8)
    ),
    Storage("ReplacingMergeTree", ("scope", "period", "lang", "data_version"), ("made_at",),
            created_in=11),
)

ALL_TABLES: tuple[TableSpec, ...] = (
    EVENTS, DLQ, STATIONS, WINDOW_STATS, LATE_EVENTS, ALERTS, API_TOKENS, API_AUDIT,
    API_TOKEN_USE, IMPORT_RUNS, IMPORT_REJECTIONS, EVENT_REVISIONS, ALERT_MUTES,
    BULLETIN_EDITIONS)
BY_NAME: dict[str, TableSpec] = {t.name: t for t in ALL_TABLES}

# The record of applied migrations (sinks/migrations.py), made by the bootstrap before the
# first migration; not a table the pipeline writes (not in ALL_TABLES).
SCHEMA_MIGRATIONS = TableSpec(
    "schema_migrations",
    (
        ("version", "UInt32"),
        ("name", "String"),
        ("applied_at", "DateTime('UTC')"),
    ),
    Storage("ReplacingMergeTree", ("version",), ("applied_at",), created_in=0),
)
