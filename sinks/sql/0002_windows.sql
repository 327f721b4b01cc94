-- Migration 2: event-time window statistics and the ledger of late events (streams/windows,
-- docs/windows.md). Runs on ClickHouse 18.16 and on chDB 26.9 alike. {db} is the database
-- name. Statements end with ';' at the end of a line. Every statement is idempotent.

-- One row per emission of a window key; the readers' view is FINAL (or argMax by version).
CREATE TABLE IF NOT EXISTS {db}.window_stats
(
    window_kind            String,
    window_start           DateTime('UTC'),
    window_end             DateTime('UTC'),
    window_label           String,
    station_id             String,
    country                String,
    border                 String,
    station_tz             String,
    event_type             String,
    measure                String,
    dimension              String,
    events                 UInt64,
    persons                UInt64,
    vehicles               UInt64,
    refused                UInt64,
    inbound                UInt64,
    outbound               UInt64,
    seizure_kg             Float64,
    seizure_kg_max         Float64,
    arrests                UInt64,
    inspections_with_finds UInt64,
    value                  Float64,
    first_event_at         DateTime('UTC'),
    last_event_at          DateTime('UTC'),
    status                 String,
    version                UInt64,
    updated_at             DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_kind, station_id, event_type, measure, dimension, window_start);

-- One row per (late event, window it missed); a redelivery collapses under FINAL.
CREATE TABLE IF NOT EXISTS {db}.late_events
(
    event_id     UUID,
    station_id   String,
    window_kind  String,
    window_start DateTime('UTC'),
    window_end   DateTime('UTC'),
    event_type   String,
    occurred_at  DateTime('UTC'),
    watermark    DateTime('UTC'),
    recorded_at  DateTime('UTC')
)
ENGINE = ReplacingMergeTree(recorded_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (station_id, window_kind, window_start, event_id);
