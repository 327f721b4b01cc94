-- Migration 11: bulletin editions (docs/bulletins.md, "Scheduled bulletins"): each bulletin
-- made of a scope, month and language, kept with the data version it was cut from. Runs on
-- ClickHouse 18.16 and on chDB 26.9 alike. {db} is the database name. Every statement is
-- idempotent.

-- One row per edition; the data version is part of the key, so a correction of the month
-- adds an edition instead of replacing the first. The PDF is kept as base64 text, the HTML
-- page as it is. Read with the readers' view (latest made_at of each key).
CREATE TABLE IF NOT EXISTS {db}.bulletin_editions
(
    scope         String,
    period        String,
    lang          String,
    data_version  String,
    made_at       DateTime('UTC'),
    made_by       String,
    posts         UInt32,
    events        UInt64,
    last_ingested DateTime('UTC'),
    pdf_size      UInt64,
    html_size     UInt64,
    pdf           String,
    html          String
)
ENGINE = ReplacingMergeTree(made_at)
ORDER BY (scope, period, lang, data_version);
