"""Scheduled bulletins over simulated traffic on the session's real ClickHouse server (and
chDB): the schedule (:class:`blo.analytics.bulletin.schedule.BulletinSchedule`, as the
worker runs it) makes no edition of a month while a post of the scope still has it
provisional; once its windows turn final it makes one edition per scope and language,
cut from the data version of the bulletin made by hand for the same data (same bytes);
running it again makes nothing; a correction of an event of that month makes new editions
of the scopes it touches (both listed); a worker that does not own the schedule makes
nothing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from blo.analytics.bulletin import make, render
from blo.analytics.bulletin.editions import (
    document_bytes,
    document_query,
    editions_from_rows,
    list_query,
    make_editions,
)
from blo.analytics.bulletin.schedule import BulletinSchedule
from blo.analytics.periods import Period
from blo.localservices.clickhouse_server import ClickHouseServer
from blo.metrics import Metrics
from sinks.base import Database, Row
from sinks.clickhouse import ServerDatabase
from sinks.tables import BULLETIN_EDITIONS, EVENT_REVISIONS, EVENTS, WINDOW_STATS
from tests.integration.analytics.bulletin_data import C, Loaded, local_month, simulate
from tests.integration.sinks.factories import make_row

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
START = datetime(2026, 8, 31, 0, tzinfo=UTC)
END = datetime(2026, 10, 31, 0, tzinfo=UTC)
MONTH = "2026-10"
MADE_AT = datetime(2026, 11, 5, 3, tzinfo=UTC)
"""The time the test's schedule states it made its editions (no clock in assertions)."""


def reader(db: Database) -> Callable[[str, dict[str, Any]], list[Any]]:
    return lambda sql, params: list(db.query(sql, params))


def schedule(db: Database, metrics: Metrics, *, owner: bool = True) -> BulletinSchedule:
    async def read(sql: str, params: Any) -> list[Any]:
        return list(await asyncio.to_thread(db.query, sql, params))

    async def write(rows: Any) -> None:
        await asyncio.to_thread(db.insert, BULLETIN_EDITIONS.name,
                                BULLETIN_EDITIONS.column_names, rows)

    return BulletinSchedule(read=read, write=write, database=db.database, months=1,
                            metrics=metrics, is_owner=lambda: owner, now=lambda: MADE_AT)


def listed(db: Database) -> list[tuple[str, str, str, str]]:
    return sorted((e.scope, e.period, e.lang, e.data_version)
                  for e in editions_from_rows(db.query(*list_query(db.database))))


def set_status(db: Database, station: str, label: str, status: str) -> None:
    """Write a newer version of every month row of ``station`` and ``label`` with
    ``status`` (as the worker's windows re-emit them)."""
    cols = ", ".join(WINDOW_STATS.column_names)
    rows = db.query(f"SELECT {cols} FROM {db.database}.window_stats FINAL "
                    "WHERE window_kind = 'month' AND station_id = %(s)s "
                    "AND window_label = %(l)s", {"s": station, "l": label})
    assert rows
    v, st = WINDOW_STATS.index("version"), WINDOW_STATS.index("status")
    out: list[Row] = []
    for r in rows:
        x = list(r)
        x[v], x[st] = int(x[v]) + 1, status
        out.append(tuple(x))
    db.insert("window_stats", WINDOW_STATS.column_names, out)


def correct_a_seizure(db: Database, loaded: Loaded, country: str) -> None:
    """Revision 1 of one October seizure of ``country`` with 2 kg more, and its month
    window re-emitted ``corrected`` (as the worker does)."""
    seizure = next(r for r in loaded.rows if r[C["event_type"]] == "seizure"
                   and r[C["station_id"]].startswith(f"{country}-")
                   and local_month(r) == MONTH)
    fixed = list(seizure)
    fixed[C["quantity_kg"]] = (seizure[C["quantity_kg"]] or 0) + 2.0
    fixed[C["quantity"]] = fixed[C["quantity_kg"]]
    fixed[C["quantity_unit"]] = "kg"
    fixed[C["revision"]] = 1
    fixed[C["correction_reason"]] = "weighed again"
    fixed[C["ingested_at"]] = seizure[C["ingested_at"]] + timedelta(days=30)
    db.insert("events", EVENTS.column_names, [tuple(fixed)])
    db.insert("event_revisions", EVENT_REVISIONS.column_names, [
        make_row(EVENT_REVISIONS, 0, event_id=seizure[C["event_id"]],
                 station_id=seizure[C["station_id"]], revision=1, voided=0,
                 correction_reason="weighed again", event_type="seizure",
                 occurred_at=seizure[C["occurred_at"]], ingested_at=fixed[C["ingested_at"]])])
    cols = ", ".join(WINDOW_STATS.column_names)
    [win] = db.query(
        f"SELECT {cols} FROM {db.database}.window_stats WHERE window_kind = 'month' "
        "AND station_id = %(s)s AND event_type = 'seizure' AND dimension = %(d)s "
        "AND window_label = %(l)s ORDER BY version DESC LIMIT 1",
        {"s": seizure[C["station_id"]], "d": seizure[C["drug"]], "l": MONTH})
    w = dict(zip(WINDOW_STATS.column_names, win, strict=True))
    w.update(seizure_kg=w["seizure_kg"] + 2.0, status="corrected", version=w["version"] + 1)
    db.insert("window_stats", WINDOW_STATS.column_names, [tuple(w.values())])


def stored_document(db: Database, scope: str, lang: str, fmt: str,
                    version: str | None = None) -> tuple[str, bytes]:
    [(ver, doc)] = db.query(*document_query(db.database, scope, MONTH, lang, fmt, version))
    return str(ver), document_bytes(fmt, str(doc))


@pytest.fixture
def sim(make_clickhouse_db: Callable[..., ServerDatabase]) -> tuple[ServerDatabase, Loaded]:
    db = make_clickhouse_db()
    return db, simulate(db, START, END, stations=3)


def test_the_schedule_makes_each_edition_once_when_the_month_closes(
        sim: tuple[ServerDatabase, Loaded]) -> None:
    db, loaded = sim
    metrics = Metrics()
    period = Period.parse(MONTH)
    # one KZ post still has October open: neither KZ nor the region may have its bulletin
    set_status(db, "KZ-KORDAI", MONTH, "provisional")
    assert asyncio.run(schedule(db, metrics, owner=False).run()) == 0
    assert listed(db) == []
    assert asyncio.run(schedule(db, metrics).run()) == 2
    kg = make(reader(db), db.database, "KG", period)
    assert listed(db) == [("KG", MONTH, "en", kg.version.digest),
                          ("KG", MONTH, "ru", kg.version.digest)]

    # its windows turn final: the KZ and regional editions, once, in both languages
    set_status(db, "KZ-KORDAI", MONTH, "final")
    assert asyncio.run(schedule(db, metrics).run()) == 4
    by_hand = {s: make(reader(db), db.database, s, period) for s in ("region", "KG", "KZ")}
    assert listed(db) == sorted((s, MONTH, lang, b.version.digest)
                                for s, b in by_hand.items() for lang in ("ru", "en"))
    for scope, b in by_hand.items():
        for lang in ("ru", "en"):
            for fmt in ("pdf", "html"):
                ver, doc = stored_document(db, scope, lang, fmt)
                assert ver == b.version.digest
                assert doc == render(b, lang, fmt), (scope, lang, fmt)  # type: ignore[arg-type]
    [e] = [e for e in editions_from_rows(db.query(*list_query(db.database, ["KZ"])))
           if e.lang == "ru"]
    assert (e.made_at, e.made_by, e.posts) == (MADE_AT, "schedule", 2)
    assert e.pdf_size == len(stored_document(db, "KZ", "ru", "pdf")[1])
    assert e.events == by_hand["KZ"].version.events
    assert asyncio.run(schedule(db, metrics).run()) == 0  # nothing new: nothing made
    assert asyncio.run(schedule(db, metrics).run()) == 0

    # a correction of an October KZ seizure: new KZ and regional editions, the first kept
    correct_a_seizure(db, loaded, "KZ")
    assert asyncio.run(schedule(db, metrics).run()) == 4
    after = {s: make(reader(db), db.database, s, period) for s in ("region", "KZ")}
    assert after["KZ"].current.seizure_ukg == by_hand["KZ"].current.seizure_ukg + 2_000_000
    want = {(s, MONTH, lang, b.version.digest) for b in (*by_hand.values(), *after.values())
            for s in (b.scope,) for lang in ("ru", "en")}
    assert listed(db) == sorted(want)
    assert len(want) == 10
    # the latest by default, the first one by its version, each its own bytes
    assert stored_document(db, "KZ", "en", "pdf")[0] == after["KZ"].version.digest
    first = stored_document(db, "KZ", "en", "pdf", by_hand["KZ"].version.digest)[1]
    assert first == render(by_hand["KZ"], "en", "pdf")
    text = "".join(p.extract_text() for p in PdfReader(__import__("io").BytesIO(first)).pages)
    assert by_hand["KZ"].version.digest in text

    made = metrics.registry.get_sample_value
    assert made("blo_bulletin_editions_total", {"made_by": "schedule", "lang": "ru"}) == 5
    assert made("blo_bulletin_editions_total", {"made_by": "schedule", "lang": "en"}) == 5
    assert made("blo_bulletin_schedule_runs_total", {"outcome": "made"}) == 3
    assert made("blo_bulletin_schedule_runs_total", {"outcome": "none"}) == 2
    assert made("blo_bulletin_render_seconds_count", {}) == 5  # one child per bulletin


def test_the_command_line_lists_gets_and_makes(sim: tuple[ServerDatabase, Loaded],
                                               clickhouse_server: ClickHouseServer,
                                               tmp_path: Path) -> None:
    db, _ = sim
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env.update(BLO_CLICKHOUSE_URL=clickhouse_server.url(db.database),
               BLO_DATA_DIR=str(tmp_path), PYTHONPATH=str(REPO))

    def blo(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "blo", "report", "editions", *args],
                              env=env, cwd=tmp_path, capture_output=True, timeout=300,
                              check=False)

    for args in ((), ("list",), ("get",), ("make",)):
        r = blo(*args, "--help")
        assert r.returncode == 0 and b"Usage:" in r.stdout, args
    made = blo("make", "--months", "1", "--scope", "KZ")
    assert made.returncode == 0 and b"2 edition" in made.stderr, made.stderr
    kz = make(reader(db), db.database, "KZ", Period.parse(MONTH))
    out = blo("list", "--scope", "KZ", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {(r["scope"], r["period"], r["lang"]) for r in rows} == {("KZ", MONTH, "ru"),
                                                                   ("KZ", MONTH, "en")}
    assert kz.version.digest in {r["data_version"] for r in rows}
    pdf = tmp_path / "kz.pdf"
    got = blo("get", "--scope", "KZ", "--period", MONTH, "--lang", "en", "--out", str(pdf))
    assert got.returncode == 0, got.stderr
    assert pdf.read_bytes() == render(kz, "en", "pdf")
    assert kz.version.digest.encode() in got.stderr
    again = blo("make", "--months", "1", "--scope", "KZ")
    assert again.returncode == 0 and b"0 edition" in again.stderr, again.stderr
    missing = blo("get", "--scope", "TJ", "--period", MONTH)
    assert missing.returncode == 2 and b"no edition" in missing.stderr


def test_editions_on_chdb(make_chdb_db: Callable[..., Database]) -> None:
    db = make_chdb_db()
    simulate(db, START, END, stations=2)
    rows = make_editions(reader(db), db.database, 1, "cli", langs=("en",), scopes=("KG",),
                         now=lambda: MADE_AT)
    db.insert(BULLETIN_EDITIONS.name, BULLETIN_EDITIONS.column_names, rows)
    b = make(reader(db), db.database, "KG", Period.parse(MONTH))
    assert listed(db) == [("KG", MONTH, "en", b.version.digest)]
    assert stored_document(db, "KG", "en", "pdf") == (b.version.digest,
                                                      render(b, "en", "pdf"))
    assert make_editions(reader(db), db.database, 1, "cli", langs=("en",),
                         scopes=("KG",)) == []
