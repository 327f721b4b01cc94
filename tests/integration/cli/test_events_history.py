"""``blo events history`` as a subprocess against the session's real ClickHouse server
(18.16), over histories written straight into ``events`` and ``event_revisions``
(tests/integration/api/event_history_rows.py): the JSON and the table, an unknown id,
``--station``, an id two stations used, and stored text escaped in the table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blo.localservices.clickhouse_server import ClickHouseServer
from sinks.clickhouse import ServerDatabase
from sinks.tables import EVENT_REVISIONS, EVENTS
from streams.stages.rows import revision_row
from tests.integration.api.event_history_rows import (
    T0,
    _base,
    build,
    event_row,
    never_stored,
    store,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]


class Cli:
    def __init__(self, server: ClickHouseServer, db: ServerDatabase, workdir: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
        self.env.update(BLO_CLICKHOUSE_URL=server.url(db.database), BLO_DATA_DIR=str(workdir),
                        PYTHONPATH=str(REPO))
        self.workdir = workdir

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "blo", "events", "history", *args],
                              env=self.env, cwd=self.workdir, check=False,
                              capture_output=True, text=True, timeout=120)

    def json(self, *args: str) -> dict[str, Any]:
        res = self.run(*args, "--format", "json")
        assert res.returncode == 0, res.stderr
        doc: dict[str, Any] = json.loads(res.stdout)
        return doc


@pytest.fixture
def cli(clickhouse_server: ClickHouseServer,
        make_clickhouse_db: Callable[..., ServerDatabase],
        tmp_path: Path) -> tuple[Cli, ServerDatabase, dict[str, str]]:
    db = make_clickhouse_db()
    return Cli(clickhouse_server, db, tmp_path), db, store(db).ids


def test_history_as_json_and_as_a_table(cli: tuple[Cli, ServerDatabase, dict[str, str]]
                                        ) -> None:
    c, _, ids = cli
    v = c.json(ids["voided"])
    assert (v["event_id"], v["station_id"], v["source"], v["voided"],
            v["current_revision"]) == (ids["voided"], "KZ-KORDAI", "event_revisions", True, 2)
    assert [(r["revision"], r["kind"], r["reason"], r["changes"]) for r in v["revisions"]] == [
        (0, "original", "", []),
        (1, "revision", "laboratory weight",
         [{"field": "quantity", "old": 700.0, "new": 770.5}]),
        (2, "void", "entered twice", [])]
    assert set(v["revisions"][0]) == {"revision", "kind", "reason", "event_type",
                                      "occurred_at", "reported_at", "ingested_at",
                                      "body_hash", "changes", "event"}

    p = c.json(ids["plain"])
    assert (p["source"], len(p["revisions"]), p["revisions"][0]["kind"]) == (
        "events", 1, "original")

    m = c.json(ids["moved"])
    assert m["revisions"][1]["changes"] == [
        {"field": "occurred_at", "old": "2024-02-29T23:00:00Z", "new": "2024-03-01T01:00:00Z"}]
    assert m["voided"] is False and m["current_revision"] == 1

    table = c.run(ids["corrected"])
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == (f"event {ids['corrected']} of station TJ-PYANJ: 2 revisions stored, "
                        "current: revision 1")
    assert lines[3].split()[:2] == ["0", "original"]
    assert lines[4].split()[:2] == ["1", "revision"]
    assert lines[4].endswith("laboratory result")
    assert lines[5:] == ["    duration_min: (absent) → 29.0",
                         "    outcome: nothing_found → find"]


def test_station_narrows_and_an_unknown_id_exits_1(
        cli: tuple[Cli, ServerDatabase, dict[str, str]]) -> None:
    c, _, ids = cli
    assert c.json(ids["voided"], "--station", "KZ-KORDAI")["current_revision"] == 2
    for args in ((never_stored(),), (ids["voided"], "--station", "KZ-KARASU")):
        res = c.run(*args)
        assert res.returncode == 1 and res.stdout == ""
        assert res.stderr.startswith(f"error: no event {args[0]}"), res.stderr
    bad = c.run("nope")
    assert bad.returncode == 2 and "'nope' is not an event id" in bad.stderr


def test_an_id_two_stations_used_needs_station(
        cli: tuple[Cli, ServerDatabase, dict[str, str]]) -> None:
    c, db, ids = cli
    [plain] = [r for r in build().events if str(r[0]) == ids["plain"]]
    other = dict(zip(EVENTS.column_names, plain, strict=True)) | {"station_id": "KZ-KORDAI"}
    db.insert("events", EVENTS.column_names, [tuple(other.values())])
    res = c.run(ids["plain"])
    assert res.returncode == 1
    assert "is used by 2 stations (KZ-KARASU, KZ-KORDAI): name one with --station" \
        in res.stderr
    assert c.json(ids["plain"], "--station", "KZ-KORDAI")["station_id"] == "KZ-KORDAI"


def test_the_table_escapes_what_a_terminal_would_act_on(
        cli: tuple[Cli, ServerDatabase, dict[str, str]]) -> None:
    """A correction reason is a label (no C0 control characters), but C1 controls (8-bit
    CSI) and bidirectional overrides pass the schema: the table shows them escaped, the
    JSON carries them exactly."""
    c, db, _ = cli
    reason = "scale \u202eexe.txt\x9b31m fixed"
    crossing = _base("KZ-KARASU", 77, "crossing", T0, T0, direction="inbound",
                     subject="vehicle", mode="road", persons=2, vehicles=1,
                     document_check="passed")
    r0 = event_row(crossing, T0 + timedelta(hours=1), 90)
    r1 = event_row({**crossing, "persons": 3, "revision": 1, "correction_reason": reason},
                   T0 + timedelta(hours=2), 91)
    db.insert("events", EVENTS.column_names, [r0, r1])
    db.insert("event_revisions", EVENT_REVISIONS.column_names,
              [revision_row(r0), revision_row(r1)])
    table = c.run(crossing["event_id"])
    assert table.returncode == 0, table.stderr
    assert "\u202e" not in table.stdout and "\x9b" not in table.stdout
    assert table.stdout.splitlines()[4].endswith("scale \\u202eexe.txt\\x9b31m fixed")
    assert c.json(crossing["event_id"])["revisions"][1]["reason"] == reason
