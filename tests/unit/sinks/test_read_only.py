import pytest

from sinks.sql import client_side_clauses, is_read_only, read_only_problem


@pytest.mark.parametrize("sql", [
    "SELECT count() FROM blo.events FINAL",
    "  with x as (select 1) select * from x",
    "SHOW TABLES FROM blo",
    "DESCRIBE TABLE blo.events;",
    "SELECT station_id, sum(value) FROM blo.events FINAL WHERE measure = 'file' GROUP BY 1",
    # words in literals and comments are not statements
    "SELECT 'INTO OUTFILE; file(' AS note -- SETTINGS readonly=0",
    "SELECT count() /* ; DROP */ FROM blo.events",
    "SELECT $$file('/etc/passwd'); DROP$$ AS note",
    "SELECT " + "CASE WHEN 1 THEN 1 ELSE 0 END + " * 100 + "1",
    "SELECT name, type FROM system.columns WHERE database = 'blo'",
    "SHOW CREATE TABLE blo.events",
    "SELECT " + "(" * 100 + "1" + ")" * 100 + ", '" + "(" * 500 + "'",
    "SELECT * FROM blo.events WHERE station_id = 'KZ-\\'; DROP' LIMIT 1",
])
def test_reads_are_allowed(sql: str) -> None:
    assert is_read_only(sql)


@pytest.mark.parametrize("sql", [
    "DROP TABLE blo.events",
    "INSERT INTO blo.events SELECT * FROM blo.events",
    "SELECT 1; DROP TABLE blo.events",
    "SELECT 'x' INTO OUTFILE '/tmp/x' FORMAT TSV",
    "SELECT * FROM file('/etc/hostname', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:1/', CSV)",
    "SELECT * FROM remote('10.0.0.1', system.one)",
    "SELECT * FROM s3 ('http://x/y', 'CSV')",
    "SELECT 1 SETTINGS readonly = 0",
    "ALTER TABLE blo.events DELETE WHERE 1",
    "",
    # comments, quotes and case between words are seen through
    "SELECT * FROM file/**/('/proc/self/environ','LineAsString')",
    "SELECT 'x' INTO/**/OUTFILE 'victim.txt' APPEND FORMAT TSVRaw",
    "SELECT * FROM url/* a */ /* b */('http://127.0.0.1:1/', 'CSV')",
    "SELECT 1 --\n; DROP TABLE blo.events",
    "SELECT 1 /* ; */ ; DROP TABLE blo.events",
    "SELECT 1\nSETTINGS readonly=0",
    "select * from REMOTE('h', system.one)",
    # system tables beyond the metadata of the database's own tables
    "SELECT query FROM system.processes",
    "SELECT * FROM `system`.`query_log`",
    'SELECT * FROM "system"."users"',
    "SELECT * FROM system . named_collections",
    "SHOW PROCESSLIST",
    "SHOW GRANTS",
    "SHOW SETTINGS LIKE '%password%'",
    # what kills ClickHouse 18.16's parser (no max_parser_depth there), and oversize text
    "SELECT " + "(" * 1000 + "1" + ")" * 1000,
    "SELECT " + "[" * 129 + "1" + "]" * 129,
    "SELECT " + "1+" * 40_000 + "1",
    "SELECT " + "CASE WHEN 1 THEN " * 1000 + "1" + " END" * 1000,
    "SELECT " + "INTERVAL " * 3000 + "1 DAY",
    # a heredoc is a string literal: what follows it is read, not skipped
    "SELECT $$'$$ AS a, file('/proc/self/environ') AS env",
    "SELECT $x$'$x$ AS a, * FROM system.server_settings WHERE 1 != $x$'$x$",
    # NUL: C-string APIs would read a different statement than the checks saw
    "SELECT 1\x00; DROP TABLE blo.events",
])
def test_writes_and_escapes_are_refused(sql: str) -> None:
    assert not is_read_only(sql)


def test_each_refusal_says_why() -> None:
    assert "NUL" in (read_only_problem("SELECT 1\x00") or "")
    assert "one statement" in (read_only_problem("SELECT 1; SELECT 2") or "")
    assert "INTO OUTFILE" in (read_only_problem("SELECT 1 INTO/**/OUTFILE 'x'") or "")
    assert "system.processes" in (read_only_problem("SELECT * FROM system.processes") or "")
    assert read_only_problem("SELECT 1") is None


@pytest.mark.parametrize(("canonical", "found"), [
    ("SELECT 'x' INTO OUTFILE 'v.txt' APPEND FORMAT TSVRaw", ["FORMAT", "INTO OUTFILE"]),
    ("SELECT 1 FORMAT JSON", ["FORMAT"]),
    ("SELECT 'INTO OUTFILE' AS a, 'FORMAT' AS b", []),
    ("SELECT `FORMAT` FROM t", []),
    ("SELECT 'it\\'s INTO OUTFILE' FROM t", []),
])
def test_client_side_clauses_of_canonical_text(canonical: str, found: list[str]) -> None:
    assert client_side_clauses(canonical) == found
