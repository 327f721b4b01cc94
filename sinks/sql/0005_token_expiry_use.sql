-- Migration 5: API tokens that expire, their last use, and why a call was refused
-- (blo/api, docs/api.md). Runs on ClickHouse 18.16 and on chDB 26.9 alike. {db} is the
-- database name. Statements end with ';' at the end of a line. Every statement is
-- idempotent (a repeated ADD COLUMN is treated as done by sinks/migrations.py).

-- When the token stops working; epoch 0 (the value of every row written before this
-- migration) means never. Copied into every later version of the token's row.
ALTER TABLE {db}.api_tokens ADD COLUMN expires_at DateTime('UTC');

-- Last use of each token, written by the API at most once a minute per token and API
-- process. A table apart from api_tokens, so that a last-use write can never replace a
-- newer (revoked) version of the token's row; read with max(used_at) per token. The
-- ReplacingMergeTree keeps one row per token once merged.
CREATE TABLE IF NOT EXISTS {db}.api_token_use
(
    token_id    String,
    used_at     DateTime('UTC')
)
ENGINE = ReplacingMergeTree(used_at)
ORDER BY token_id;

-- Why a call was refused, for refusals that carry a reason: the HTTP layer's (a request
-- line or header over its limit, not HTTP at all) or the token check's (expired, revoked,
-- access_token outside /live). '' otherwise.
ALTER TABLE {db}.api_audit ADD COLUMN detail String;
