-- Migration 9: alert mutes (streams/alerts/mutes.py, docs/alerts.md "Mutes"). Runs on
-- ClickHouse 18.16 and on chDB 26.9 alike. {db} is the database name. Statements end with
-- ';' at the end of a line. Every statement is idempotent.

-- One row per version of a mute (1: created, 2: unmuted), written by the alert engine. The
-- current state of each mute is its highest version. A mute is active from created_at until
-- ends_at; expired mutes stay.
CREATE TABLE IF NOT EXISTS {db}.alert_mutes
(
    mute_id     String,
    version     UInt64,
    rule_id     String,
    scope       String,
    scope_key   String,
    reason      String,
    created_by  String,
    created_at  DateTime('UTC'),
    ends_at     DateTime('UTC'),
    expired_by  String,
    expired_at  DateTime('UTC'),
    updated_at  DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY mute_id;
