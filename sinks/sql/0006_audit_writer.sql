-- Migration 6: the door through which the query API writes what it writes (its audit rows
-- and the tokens' last use) and nothing else (docs/deployment.md, "ClickHouse users").
-- Runs on ClickHouse 18.16 and on chDB 26.9 alike. {db} is the database name. Every
-- statement is idempotent.
--
-- ClickHouse 18.16 grants per database only (users.xml allow_databases), so the API's
-- writing user is allowed database {db}_audit alone, which holds only what is created here:
-- a row inserted into a table of {db}_audit (engine Null: nothing is kept there) is carried
-- by a materialized view, which runs with the server's rights, into the table of the same
-- name in {db}, where every reader finds it. That user can neither read nor write any other
-- table of {db}; with allow_ddl = 0 it cannot change these either.
-- A column added later to {db}.api_audit or {db}.api_token_use must be added here too
-- (ALTER TABLE {db}_audit.<t> ADD COLUMN, and the view dropped and created again with it);
-- until then the API's insert of that column fails here and is retried with the next rows.
CREATE DATABASE IF NOT EXISTS {db}_audit;

CREATE TABLE IF NOT EXISTS {db}_audit.api_audit
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
    remote      String,
    detail      String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}_audit.api_audit_feed TO {db}.api_audit
AS SELECT at, token_id, token_name, method, path, query, status, rows, duration_ms, remote,
    detail
FROM {db}_audit.api_audit;

CREATE TABLE IF NOT EXISTS {db}_audit.api_token_use
(
    token_id    String,
    used_at     DateTime('UTC')
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}_audit.api_token_use_feed TO {db}.api_token_use
AS SELECT token_id, used_at
FROM {db}_audit.api_token_use;
