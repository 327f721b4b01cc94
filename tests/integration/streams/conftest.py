from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.tansu import TansuBroker
from sinks.clickhouse import ServerDatabase
from tests.integration.streams.harness import TEST_STATIONS, Pipeline


@pytest.fixture
def pipeline(kafka_broker: TansuBroker, clickhouse_server: ClickHouseServer,
             make_clickhouse_db, tmp_path: Path) -> Iterator[tuple[Pipeline, ServerDatabase]]:
    """Unique topics/group/database on the session broker and ClickHouse server, with the
    test stations registered. Yields (pipeline, database to read from)."""
    db: ServerDatabase = make_clickhouse_db(migrated=False)
    p = Pipeline(kafka_broker.bootstrap, clickhouse_server.url(db.database), db.database,
                 tmp_path)
    p.create_topics()
    p.load_stations(TEST_STATIONS)
    yield p, db
    p.kill_workers()


def final_count(db: ServerDatabase, where: str = "1") -> int:
    return int(db.query(f"SELECT count() FROM {db.database}.events FINAL WHERE {where}")[0][0])


def raw_count(db: ServerDatabase) -> int:
    return int(db.query(f"SELECT count() FROM {db.database}.events")[0][0])


def new_id() -> str:
    return str(uuid.uuid4())
