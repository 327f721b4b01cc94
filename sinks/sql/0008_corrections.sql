-- Migration 8: event corrections and voids (docs/corrections.md). Runs on ClickHouse 18.16
-- and on chDB 26.9 alike. {db} is the database name. Every statement is idempotent.

-- An event's revision (0: as first sent), whether this row withdraws the event from its
-- partition (a void, or a revision that moved the event to another month), and the reason.
-- The readers' view of events is the row of the highest (revision, ingested_at) of each key,
-- unless voided.
ALTER TABLE {db}.events ADD COLUMN revision UInt32 AFTER kafka_offset;
ALTER TABLE {db}.events ADD COLUMN voided UInt8 AFTER revision;
ALTER TABLE {db}.events ADD COLUMN correction_reason String AFTER voided;

-- Every revision of a corrected or voided event, the original included.
CREATE TABLE IF NOT EXISTS {db}.event_revisions
(
    event_id          UUID,
    station_id        String,
    revision          UInt32,
    voided            UInt8,
    correction_reason String,
    event_type        String,
    occurred_at       DateTime('UTC'),
    reported_at       DateTime('UTC'),
    ingested_at       DateTime('UTC'),
    body_hash         String,
    payload           String,
    kafka_topic       String,
    kafka_partition   UInt32,
    kafka_offset      UInt64
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (station_id, event_id, revision);

-- The view of migration 1 without withdrawn rows.
DROP TABLE IF EXISTS {db}.events_current;
CREATE VIEW IF NOT EXISTS {db}.events_current AS SELECT * FROM {db}.events FINAL WHERE voided = 0;
