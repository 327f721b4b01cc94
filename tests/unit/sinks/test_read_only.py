import pytest

from sinks.sql import is_read_only


@pytest.mark.parametrize("sql", [
    "SELECT count() FROM blo.events FINAL",
    "  with x as (select 1) select * from x",
    "SHOW TABLES FROM blo",
    "DESCRIBE TABLE blo.events;",
    "SELECT station_id, sum(value) FROM blo.events FINAL WHERE measure = 'file' GROUP BY 1",
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
])
def test_writes_and_escapes_are_refused(sql: str) -> None:
    assert not is_read_only(sql)
