"""Pytest plugin: the real ClickHouse server (Debian's clickhouse-server 18.16) and chDB.

Nothing starts unless a test asks for it, so unit tests run without ClickHouse.

* ``clickhouse_server`` (session): one server on free loopback ports under a tmp dir.
* ``clickhouse_db``: a migrated :class:`ServerDatabase` on a unique database ``t_<hex>``,
  dropped afterwards. ``make_clickhouse_db(...)`` is the factory behind it (another
  ``url=`` — user, password, TLS port —, ``server=``, ``migrated=``, ClickHouseSettings
  fields as keywords).
* ``fresh_clickhouse_server``: a server of the test's own, for tests that stop and restart
  it (the session server must stay up for everyone else).
* ``engine_db``: parametrized over both engines (``clickhouse_db`` then ``chdb_db``).
* ``chdb_path`` (session) / ``chdb_db``: chDB allows one data directory per process, so the
  whole test session shares one directory and each test gets a unique database in it.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.settings import ClickHouseSettings, parse_clickhouse_url
from sinks.base import Database, SinkError
from sinks.chdb import ChdbDatabase
from sinks.clickhouse import ServerDatabase
from sinks.migrations import migrate


def unique_database() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    # TLS (a self-signed certificate) needs the openssl command; without it the TLS test skips.
    tls = shutil.which("openssl") is not None
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse"), tls=tls)
    with server:
        yield server


@pytest.fixture
def fresh_clickhouse_server(tmp_path: Path) -> Iterator[ClickHouseServer]:
    server = ClickHouseServer(tmp_path / "clickhouse")
    with server:
        yield server


MakeServerDb = Callable[..., ServerDatabase]


@pytest.fixture
def make_clickhouse_db(clickhouse_server: ClickHouseServer) -> Iterator[MakeServerDb]:
    """Factory: ``make_clickhouse_db(database=None, *, migrated=True, server=None, url=None,
    settings=None, **ClickHouseSettings fields)`` → an open ServerDatabase; its database is
    dropped at teardown. ``url`` may name another user/port (its path is the database)."""
    made: list[ServerDatabase] = []

    def make(
        database: str | None = None,
        *,
        migrated: bool = True,
        server: ClickHouseServer | None = None,
        url: str | None = None,
        settings: ClickHouseSettings | None = None,
        **settings_overrides: Any,
    ) -> ServerDatabase:
        srv = server or clickhouse_server
        name = database or unique_database()
        target = parse_clickhouse_url(url or srv.url(name))
        ch = settings or ClickHouseSettings(**settings_overrides)
        db = ServerDatabase(target, ch)
        made.append(db)
        if migrated:
            migrate(db)
        return db

    yield make
    for db in made:
        if db.closed:  # the test closed it: drop through a new client
            db = ServerDatabase(db.target, db.settings)
        with contextlib.suppress(SinkError):  # a test that stopped its server cannot drop
            db.command(f"DROP DATABASE IF EXISTS {db.database}")
        db.close()


@pytest.fixture
def clickhouse_db(make_clickhouse_db: MakeServerDb) -> ServerDatabase:
    return make_clickhouse_db()


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


MakeChdbDb = Callable[..., ChdbDatabase]


@pytest.fixture
def make_chdb_db(chdb_path: Path) -> Iterator[MakeChdbDb]:
    made: list[ChdbDatabase] = []

    def make(database: str | None = None, *, migrated: bool = True) -> ChdbDatabase:
        name = database or unique_database()
        db = ChdbDatabase(parse_clickhouse_url(f"chdb://{chdb_path}?database={name}"))
        made.append(db)
        if migrated:
            migrate(db)
        return db

    yield make
    for db in made:
        if db.closed:  # the test closed it: drop through a new handle
            db = ChdbDatabase(db.target)
        try:
            db.command(f"DROP DATABASE IF EXISTS {db.database}")
        finally:
            db.close()


@pytest.fixture
def chdb_db(make_chdb_db: MakeChdbDb) -> ChdbDatabase:
    return make_chdb_db()


@pytest.fixture(params=["server", "chdb"])
def engine_db(request: pytest.FixtureRequest) -> Database:
    """A migrated database on each engine in turn: the test runs once per engine."""
    name = "clickhouse_db" if request.param == "server" else "chdb_db"
    database: Database = request.getfixturevalue(name)
    return database
