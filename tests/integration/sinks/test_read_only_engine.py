"""A reader's SQL is stopped by the engine's own read-only mode, on ClickHouse 18.16 and on
chDB, whatever the text looks like: these statements go straight to
``Database.read_only_query``, past the friendly text check, and nothing of what they try
happens — no file read or written, no request leaves, nothing written or dropped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sinks.base import Database, ReadOnlyRefused, SinkError
from sinks.chdb import ChdbDatabase
from tests.integration.api.processes import Listener

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def listener() -> Iterator[Listener]:
    got = Listener()
    yield got
    got.close()


SECRET = "ENV-SECRET-7d1f"


def hostile(db: Database, tmp: Path, port: int) -> dict[str, str]:
    secret_file = tmp / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    victim = tmp / "victim.txt"
    d = db.database
    return {
        "file": f"SELECT * FROM file('{secret_file}', 'LineAsString')",
        "file (18.16 form)": f"SELECT * FROM file('{secret_file}', 'TSV', 's String')",
        "file, comment between": f"SELECT * FROM file/**/('{secret_file}', 'LineAsString')",
        "environ": "SELECT * FROM file('/proc/self/environ', 'LineAsString')",
        # file() as a scalar function: chDB's readonly=1 lets it read any file (measured)
        "scalar file": f"SELECT file('{secret_file}') AS x",
        "scalar file in a heredoc's shadow": f"SELECT $$'$$ AS a, file('{secret_file}') AS x",
        "scalar environ": "SELECT lower(file('/proc/self/environ')) AS env",
        "server settings": "SELECT $$'$$ AS a, * FROM system.server_settings WHERE 1 != $$'$$",
        "url": f"SELECT * FROM url/**/('http://127.0.0.1:{port}/x', 'CSV', 'x String')",
        "remote": f"SELECT * FROM remote('127.0.0.1:{port}', system.one)",
        "settings readonly=0": f"SELECT count() FROM {d}.events SETTINGS readonly = 0",
        "settings then file": (f"SELECT * FROM file('{secret_file}', 'LineAsString') "
                               "SETTINGS readonly = 0"),
        "set": "SET readonly = 0",
        "insert": f"INSERT INTO {d}.api_audit (path) VALUES ('x')",
        "insert select": f"INSERT INTO {d}.api_audit (path) SELECT 'x'",
        "multi-statement drop": f"SELECT 1; DROP TABLE {d}.events",
        "multi-statement create": f"SELECT 1; CREATE TABLE {d}.pwned (x UInt8) ENGINE = Memory",
        "create": f"CREATE TABLE {d}.pwned (x UInt8) ENGINE = Memory",
        "alter": f"ALTER TABLE {d}.events DELETE WHERE 1",
        "drop": f"DROP TABLE {d}.events",
        "into outfile": f"SELECT 'x' INTO/**/OUTFILE '{victim}' FORMAT TSVRaw",
        "into outfile append": f"SELECT 'x' INTO OUTFILE '{victim}' APPEND FORMAT TSVRaw",
        "unicode look-alike": f"SELECT * FROM fіle('{secret_file}', 'LineAsString')",
        # (no oversize or deeply nested text here: ClickHouse 18.16's server process dies
        # on 1,000 nested brackets — the friendly check keeps those away, see
        # tests/unit/sinks/test_read_only.py)
        "oversize literal": "SELECT '" + "x" * 300_000 + "'",
    }


def test_the_engine_refuses_what_a_reader_must_not_do(engine_db: Database, tmp_path: Path,
                                                       listener: Listener) -> None:
    cases = hostile(engine_db, tmp_path, listener.port)
    came_back: list[str] = []
    for name, sql in cases.items():
        try:
            rows = engine_db.read_only_query(sql)
        except SinkError:
            continue
        # The only statements the server may answer are INTO OUTFILE ones: ClickHouse 18.16
        # sends the rows and writes no file (the clause is the client's business).
        assert engine_db.kind == "server" and "outfile" in name, (name, rows)
        came_back.append(repr(rows))
    assert not (tmp_path / "victim.txt").exists()
    assert listener.accepted == 0
    assert not any(SECRET in r for r in came_back)
    assert not any("PATH=" in r for r in came_back)
    # nothing was written, created or dropped
    d = engine_db.database
    assert engine_db.query(f"SELECT count() FROM {d}.api_audit")[0][0] == 0
    assert engine_db.query(f"EXISTS TABLE {d}.events")[0][0] == 1
    assert engine_db.query(f"EXISTS TABLE {d}.pwned")[0][0] == 0


def test_refusals_name_the_read_only_mode(engine_db: Database, tmp_path: Path) -> None:
    (tmp_path / "s.txt").write_text("x\n")
    table_function = f"SELECT * FROM file('{tmp_path / 's.txt'}', 'TSV', 's String')"
    insert = f"INSERT INTO {engine_db.database}.api_audit (path) SELECT 'x'"
    if isinstance(engine_db, ChdbDatabase):
        # chDB: the checks before the engine refuse these already; the connection itself
        # must refuse them too, whatever reaches it
        conn = engine_db._shared.readonly_connection()
        for sql in (table_function, insert, "SET readonly = 0"):
            with pytest.raises(Exception, match="READONLY"):
                conn.query(sql, "CSV")
        return
    with pytest.raises(ReadOnlyRefused, match="read-only mode"):
        engine_db.read_only_query(table_function)
    with pytest.raises(ReadOnlyRefused, match="read-only mode"):
        engine_db.read_only_query(insert)


def test_reads_still_read(engine_db: Database) -> None:
    d = engine_db.database
    engine_db.insert("api_audit", ("path", "status"), [("/a", 200), ("/b", 401)])
    assert engine_db.read_only_query(
        f"SELECT path, status FROM {d}.api_audit ORDER BY path") == [("/a", 200), ("/b", 401)]
    assert (engine_db.read_only_query(f"SHOW TABLES FROM {d}") and
            ("events",) in engine_db.read_only_query(f"SHOW TABLES FROM {d}"))
    # the writer is untouched by its reader's read-only mode
    engine_db.insert("api_audit", ("path", "status"), [("/c", 200)])
    assert engine_db.query(f"SELECT count() FROM {d}.api_audit")[0][0] == 3


def test_chdb_refuses_client_side_clauses_by_its_own_parser(chdb_db: Database,
                                                           tmp_path: Path) -> None:
    victim = tmp_path / "v.txt"
    for sql in (f"SELECT 1 INTO OUTFILE '{victim}'",
                f"SELECT 1 INTO/* x */OUTFILE '{victim}' TRUNCATE FORMAT CSV",
                "SELECT 1 FORMAT JSON"):
        with pytest.raises(ReadOnlyRefused, match="not allowed"):
            chdb_db.read_only_query(sql)
    assert not victim.exists()
    with pytest.raises(ReadOnlyRefused, match="one statement"):
        chdb_db.read_only_query("SELECT 1; SELECT 2")
    assert os.path.exists(tmp_path)


def test_chdb_answers_are_bounded_and_a_failure_leaves_nothing_behind(
        chdb_db: Database) -> None:
    with pytest.raises(SinkError, match="Limit for result"):
        chdb_db.read_only_query("SELECT number FROM numbers(2000000)")
    with pytest.raises(SinkError, match="throwIf"):
        chdb_db.read_only_query("SELECT throwIf(number = 5) FROM numbers(10)")
    # the next statement gets its own answer, not the rest of the failed one's
    assert chdb_db.read_only_query("SELECT 41 + 1") == [(42,)]
