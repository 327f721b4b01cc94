-- Migration 10: alert messages in every language of the rules file (docs/alerts.md,
-- "Languages"). Runs on ClickHouse 18.16 and on chDB 26.9 alike. {db} is the database name.
-- Every statement is idempotent.

-- A JSON object {"en": ..., "ru": ...}: the alert's message rendered from each language's
-- template. `message` stays the English one; rows written before this migration hold ''.
ALTER TABLE {db}.alerts ADD COLUMN messages String AFTER updated_at;
