-- Migration 3: alerts (streams/alerts, docs/alerts.md). Runs on ClickHouse 18.16 and on
-- chDB 26.9 alike (no TTL, LowCardinality, DateTime64 or Map). {db} is the database name.
-- Statements end with ';' at the end of a line. Every statement is idempotent.

-- One row per version of an alert; the current state of each alert is
-- SELECT ... FROM alerts FINAL (the highest version of each alert_id). fired_at is the same
-- in every version of an alert, so all its versions share one partition.
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    alert_id     UUID,
    version      UInt64,
    rule_id      String,
    rule_name    String,
    kind         String,
    severity     String,
    state        String,
    scope        String,
    scope_key    String,
    station_id   String,
    window_kind  String,
    window_start DateTime('UTC'),
    window_end   DateTime('UTC'),
    value        Float64,
    threshold    Float64,
    provisional  UInt8,
    message      String,
    labels       Array(String),
    fired_at     DateTime('UTC'),
    resolved_at  DateTime('UTC'),
    acked        UInt8,
    acked_by     String,
    acked_at     DateTime('UTC'),
    ack_comment  String,
    updated_at   DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(fired_at)
ORDER BY alert_id;
