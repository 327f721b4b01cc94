-- Migration 4: the query API's tokens and audit log (blo/api, docs/api.md). Runs on
-- ClickHouse 18.16 and on chDB 26.9 alike. {db} is the database name. Statements end with
-- ';' at the end of a line. Every statement is idempotent.

-- API tokens, one row per version (created, revoked). Only the SHA-256 of the secret is
-- stored; the secret is shown once, by `blo tokens create`. The current state of each
-- token is SELECT ... FROM api_tokens FINAL.
CREATE TABLE IF NOT EXISTS {db}.api_tokens
(
    token_id    String,
    version     UInt64,
    name        String,
    token_hash  String,
    scope_all   UInt8,
    countries   Array(String),
    agencies    Array(String),
    created_at  DateTime('UTC'),
    revoked     UInt8,
    revoked_at  DateTime('UTC'),
    updated_at  DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY token_id;

-- Every API call: who (token), what (method, path, query string), when, the answer's
-- status and row count. Append-only.
CREATE TABLE IF NOT EXISTS {db}.api_audit
(
    at          DateTime('UTC'),
    token_id    String,
    token_name  String,
    method      String,
    path        String,
    query       String,
    status      UInt16,
    rows        UInt32,
    duration_ms Float64,
    remote      String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, token_id);
