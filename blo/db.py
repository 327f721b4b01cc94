"""Open the configured ClickHouse (server or embedded chDB) as a :class:`sinks.base.Database`."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from blo.settings import ClickHouseSettings
from sinks.base import Database, SinkError

log = logging.getLogger("blo.db")


def private_dir(path: Path) -> Path:
    """``path`` (parents too) as a directory of this OS user only (mode 0700): the embedded
    database, the admin key, the SDK buffers and logs under ``BLO_DATA_DIR`` are readable by
    no other local user. An existing directory of this user that others could enter is
    closed (and logged); one that belongs to another user is refused (root may use any)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    euid = os.geteuid()
    if euid != 0 and st.st_uid != euid:
        raise SinkError(f"{path} belongs to another OS user (uid {st.st_uid}): the data "
                        "directory must be this user's own (chown it, or choose another)")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
        log.warning("%s was open to other OS users (mode %o): now 0700, this user only",
                    path, st.st_mode & 0o777)
    return path


def open_database(ch: ClickHouseSettings) -> Database:
    target = ch.target()
    if target.kind == "chdb":
        from sinks.chdb import ChdbDatabase

        assert target.path is not None
        private_dir(target.path)
        return ChdbDatabase(target)
    from sinks.clickhouse import ServerDatabase

    return ServerDatabase(target, ch)
