-- Migration 7: the record of `blo import-csv` runs and of the rows they rejected
-- (blo/importer/runs.py, docs/import-csv.md). Runs on ClickHouse 18.16 and on chDB 26.9
-- alike. {db} is the database name. Every statement is idempotent.

-- One row per run: the file and mapping (with their SHA-256, the mapping's text), the
-- outcome and the counts. Read with FINAL.
CREATE TABLE IF NOT EXISTS {db}.import_runs
(
    run_id              String,
    started_at          DateTime('UTC'),
    finished_at         DateTime('UTC'),
    file_name           String,
    file_sha256         String,
    file_bytes          UInt64,
    mapping             String,
    mapping_sha256      String,
    mapping_text        String,
    dry_run             UInt8,
    outcome             String,
    rows_read           UInt64,
    events_published    UInt64,
    rows_rejected       UInt64,
    stations_registered UInt64
)
ENGINE = ReplacingMergeTree(finished_at)
ORDER BY run_id;

-- One row per rejected row of a run: line, reason code, message.
CREATE TABLE IF NOT EXISTS {db}.import_rejections
(
    run_id      String,
    line_no     UInt64,
    reason      String,
    message     String,
    recorded_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (run_id, line_no);
