-- Migration 1: the tables of sinks/tables.py as of the first release.
-- Runs on ClickHouse 18.16 and on chDB 26.9 alike. {db} is the database name.
-- Statements end with ';' at the end of a line. Every statement is idempotent.

CREATE DATABASE IF NOT EXISTS {db};

CREATE TABLE IF NOT EXISTS {db}.events
(
    event_id          UUID,
    event_type        String,
    schema_version    UInt8,
    station_id        String,
    source_seq        UInt64,
    occurred_at       DateTime('UTC'),
    reported_at       DateTime('UTC'),
    ingested_at       DateTime('UTC'),
    country           String,
    agency            String,
    crossing_point    String,
    border            String,
    neighbour_country String,
    paired_blo        String,
    lat               Nullable(Float64),
    lon               Nullable(Float64),
    station_tz        String,
    direction         String,
    subject           String,
    mode              String,
    vehicle_class     String,
    outcome           String,
    persons           Nullable(UInt32),
    vehicles          Nullable(UInt32),
    arrests           Nullable(UInt32),
    drug              String,
    quantity          Nullable(Float64),
    quantity_unit     String,
    quantity_kg       Nullable(Float64),
    period_start      Nullable(DateTime('UTC')),
    period_end        Nullable(DateTime('UTC')),
    measure           String,
    dimension         String,
    value             Nullable(Float64),
    unit              String,
    body_hash         String,
    payload           String,
    kafka_topic       String,
    kafka_partition   UInt32,
    kafka_offset      UInt64
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (station_id, event_id);

CREATE TABLE IF NOT EXISTS {db}.dlq
(
    dlq_id            String,
    failed_at         DateTime('UTC'),
    reason            String,
    reasons           Array(String),
    details           String,
    station_id        String,
    event_type        String,
    event_id          String,
    kafka_topic       String,
    kafka_partition   UInt32,
    kafka_offset      UInt64,
    element_index     Int32,
    payload           String,
    payload_encoding  String,
    payload_size      UInt64,
    payload_sha256    String,
    payload_truncated UInt8
)
ENGINE = ReplacingMergeTree(failed_at)
PARTITION BY toYYYYMM(failed_at)
ORDER BY dlq_id;

CREATE TABLE IF NOT EXISTS {db}.stations
(
    station_id        String,
    valid_from        DateTime('UTC'),
    name              String,
    country           String,
    agency            String,
    crossing_point    String,
    neighbour_country String,
    border            String,
    paired_blo        String,
    lat               Nullable(Float64),
    lon               Nullable(Float64),
    tz                String,
    coord_source      String,
    coord_approximate UInt8,
    active            UInt8,
    updated_at        DateTime('UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (station_id, valid_from);

-- Exact readers' view: redelivered duplicates collapsed (ReplacingMergeTree FINAL).
CREATE VIEW IF NOT EXISTS {db}.events_current AS SELECT * FROM {db}.events FINAL;
