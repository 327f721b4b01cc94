"""Open the configured ClickHouse (server or embedded chDB) as a :class:`sinks.base.Database`."""

from __future__ import annotations

from blo.settings import ClickHouseSettings
from sinks.base import Database


def open_database(ch: ClickHouseSettings) -> Database:
    target = ch.target()
    if target.kind == "chdb":
        from sinks.chdb import ChdbDatabase

        assert target.path is not None
        target.path.mkdir(parents=True, exist_ok=True)
        return ChdbDatabase(target)
    from sinks.clickhouse import ServerDatabase

    return ServerDatabase(target, ch)
