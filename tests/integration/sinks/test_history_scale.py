"""History at scale: every readers' query the project ships stays exact and within 1 GB of
memory per query over 30 years of monthly data, on ClickHouse 18.16 and on chDB.

The data: 30 years (1996-01 to 2025-12, 360 monthly partitions) of ten stations — events
(count reports, seizures, crossings) with redelivered copies and corrections (revisions in
their month, some written twice; voids, as withdrawn copies; a void undone by a later
revision; a crossing moved 27 years later and a count report moved a month, each leaving a
withdrawn copy; a void of an id never stored) and ``event_revisions`` holding every revision
of each corrected event, month windows in up to three
versions (provisional, final, corrected) plus copies of some versions, a few days of hour
windows, alerts in up to three versions, dead letters written twice — inserted five years
at a time in two batches with merges stopped, so each table holds over 700 parts: the worst
case for ``FINAL`` on 18.16, which opens every part at once (the test checks that the old
``window_stats FINAL`` form does fail under the same 1 GB bound there).

The shipped queries: ``blo stats``, ``blo alerts list`` / ``show``, the API's window,
alert and health reads, the read model's restores (alerts, windows, events, baselines), the
reads of a correction (the events of the window keys it recounts, the window rows it
compares with, the live rows it replaces), ``blo events history`` / the API's history,
every ```sql block of docs/windows.md, docs/clickhouse.md, docs/corrections.md, docs/api.md
and docs/alerts.md, the demo's queries, and every query of the Grafana dashboards (expanded
as Grafana would, over the whole 30 years). ``stored_reports_of`` (a revised import's
comparison: withdrawn rows included) and the correction reads are also checked against
answers computed here directly from the rows.

Exact: each answer equals the same query's answer over a second database that holds only
the readers' view computed here in Python (the highest version of each key; of each event
the highest revision, voided events left out), where collapsing has nothing to do; and the headline figures (events by type,
month totals, open alerts) equal sums computed here directly.

Memory: every query runs with ``max_memory_usage`` = 1 GB (an overrun fails it). On the
server its peak is also read from ``system.query_log.memory_usage`` (the query run with
``log_queries = 1``). chDB 26.9 has no query log (embedded, no server config): there the
memory tracker's limit is the measure — a query that would pass 1 GB fails.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client

from blo.api.params import Filters
from blo.api.queries import (
    AlertFilter,
    alert_page_sql,
    alert_source,
    alerts_sql,
    event_history_sql,
    health_sql,
    live_sql,
    series_sql,
    stats_sql,
    top_sql,
)
from blo.api.scope import Scope
from blo.cli.alerts import alert_sql
from blo.demo import EVENTS_PER_STATION_SQL, STATUS_SQL
from blo.event_history import EventHistory, histories, history_queries
from blo.readers import stats_queries
from blo.settings import ClickHouseSettings, parse_clickhouse_url
from sinks.base import Database, Row
from sinks.chdb import ChdbDatabase
from sinks.clickhouse import ServerDatabase
from sinks.migrations import migrate
from sinks.read_model import Query
from sinks.read_model import alerts as alert_reads
from sinks.read_model import events as event_reads
from sinks.read_model import windows as window_reads
from sinks.sql import render
from sinks.tables import (
    ALERTS,
    DLQ,
    EVENT_REVISIONS,
    EVENTS,
    STATIONS,
    WINDOW_STATS,
    TableSpec,
)
from tests.fixtures_clickhouse import unique_database
from tests.integration.docker.test_grafana_queries import ALL, expand, load_dashboards
from tests.integration.sinks.factories import dlq_row, event_row, station_row

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "docs" / n for n in ("windows.md", "clickhouse.md", "corrections.md", "api.md",
                                    "alerts.md")]
LIMIT = 1_000_000_000  # bytes, per query
YEARS = range(1996, 2026)
STATIONS_OF = {"TJ-PYANJ": ("TJ", "AF-TJ"), "TJ-PYANJ-01": ("TJ", "AF-TJ"),
               "TJ-ISHKASHIM": ("TJ", "AF-TJ"), "KZ-KORDAI": ("KZ", "KG-KZ"),
               "KZ-KARASU": ("KZ", "CN-KZ"), "KG-AK-JOL": ("KG", "KG-KZ"),
               "AF-SHERKHAN": ("AF", "AF-TJ"), "US-SAN-YSIDRO": ("US", "MX-US"),
               "US-OTAY": ("US", "MX-US"), "US-CALEXICO": ("US", "MX-US")}
DRUGS = ("heroin", "hashish", "opium", "cocaine")
TOPIC = "blo.events.raw"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ts(y: int, m: int, d: int = 1, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def months() -> Iterator[tuple[int, int]]:
    for y in YEARS:
        for m in range(1, 13):
            yield y, m


def next_month(y: int, m: int) -> datetime:
    return ts(y + (m == 12), m % 12 + 1)


# --- the data: physical rows (with copies and old versions) by year --------------------

def event_rows() -> Iterator[tuple[int, list[Row]]]:
    """Per year, every physical events row: ~4 events per station and month, a quarter of
    them redelivered (a later ingested_at, another offset; the same body)."""
    n = 0
    for y in YEARS:
        rows: list[Row] = []
        for m in range(1, 13):
            for s_i, (sid, (country, border)) in enumerate(STATIONS_OF.items()):
                common: dict[str, Any] = {
                    "station_id": sid, "country": country, "border": border,
                    "station_tz": "UTC", "kafka_topic": TOPIC, "kafka_partition": s_i % 4,
                    "payload": "{}", "measure": "", "dimension": "", "direction": "",
                    "drug": "", "vehicle_class": "", "outcome": "", "subject": "", "mode": "",
                    "unit": "", "quantity_unit": ""}
                kinds = [("count_report", 10 + (y + m + s_i) % 7),
                         ("seizure", 0.5 + (m * s_i) % 9), ("crossing", (y + s_i) % 5 + 1)]
                if (m + s_i) % 3 == 0:
                    kinds.append(("seizure", 2.25))
                for k, (etype, amount) in enumerate(kinds):
                    n += 1
                    at = ts(y, m, 1 + (k * 7 + s_i) % 27, (s_i + k) % 24)
                    fields: dict[str, Any] = dict(common, event_type=etype, source_seq=n,
                                                  occurred_at=at, reported_at=at)
                    if etype == "count_report":
                        fields.update(measure="crossings", value=float(amount),
                                      unit="persons", period_start=ts(y, m),
                                      period_end=next_month(y, m))
                    elif etype == "seizure":
                        fields.update(drug=DRUGS[(m + k) % 4], quantity=float(amount),
                                      quantity_unit="kg", quantity_kg=float(amount),
                                      arrests=1)
                    else:
                        fields.update(direction="inbound" if k % 2 else "outbound",
                                      persons=int(amount), subject="person", mode="road",
                                      outcome="passed")
                    eid = uuid.uuid5(uuid.NAMESPACE_URL, f"{sid}:{n}")
                    first = event_row(n, event_id=eid, ingested_at=at, kafka_offset=n,
                                      **fields)
                    rows.append(first)
                    if n % 4 == 0:  # a redelivery: written again later
                        rows.append(event_row(n, event_id=eid, kafka_offset=n + 10**6,
                                              ingested_at=ts(y, m, 28, 23), **fields))
        yield y, rows


# --- corrections: what the ingest step writes for revisions and voids (docs/corrections.md)

Event = dict[str, Any]
FIGURES = {"seizure": "quantity_kg", "crossing": "persons", "count_report": "value"}


def _payload(e: Event) -> str:
    """The canonical JSON a revision is stored with (what the history compares)."""
    if e["event_type"] == "void":
        return json.dumps({"event_type": "void", "revision": e["revision"]}, sort_keys=True)
    keep = ("event_type", "drug", "direction", "measure", "period_start", "period_end",
            "occurred_at", *FIGURES.values())
    return json.dumps({k: (e[k].isoformat() if isinstance(e[k], datetime) else e[k])
                       for k in keep if e[k] not in (None, "")}, sort_keys=True)


def _history_row(e: Event) -> Row:
    return tuple({**e, "payload": _payload(e)}[c] for c in EVENT_REVISIONS.column_names)


def _event(r: Row) -> Event:
    return dict(zip(EVENTS.column_names, r, strict=True))


def _row(e: Event) -> Row:
    return tuple(e[c] for c in EVENTS.column_names)


def _revised(e: Event, revision: int, at: datetime, reason: str, **changes: Any) -> Event:
    return {**e, **changes, "revision": revision, "correction_reason": reason,
            "ingested_at": at, "reported_at": at,
            "kafka_offset": e["kafka_offset"] + revision * 10**7}


def _year_of(e: Event) -> int:
    return int(e["occurred_at"].year)


@functools.cache
def corrections() -> tuple[dict[int, list[Row]], dict[int, list[Row]], dict[str, Event]]:
    """(events rows to add per year, event_revisions rows per year, name → the latest
    revision of the events the tests look at). Every revision is written after the rows it
    replaces (a higher ``ingested_at``), as the worker does."""
    added: defaultdict[int, list[Row]] = defaultdict(list)
    history: defaultdict[int, list[Row]] = defaultdict(list)
    named: dict[str, Event] = {}

    def write(*revisions: Event, withdrawn: Event | None = None) -> None:
        for e in revisions[1:]:
            added[_year_of(e)].append(_row(e))
        if withdrawn is not None:
            added[_year_of(withdrawn)].append(_row(withdrawn))
        for e in revisions:
            history[_year_of(e)].append(_history_row(e))

    originals = [_event(r) for _, rows in event_rows() for r in rows
                 if r[EVENTS.index("kafka_offset")] < 10**6]
    first_of: dict[tuple[str, str, int, int], Event] = {}
    for e in originals:
        first_of.setdefault((e["station_id"], e["event_type"], e["occurred_at"].year,
                             e["occurred_at"].month), e)
    special = {
        "moved crossing": first_of[("KZ-KORDAI", "crossing", 1997, 3)],
        "moved report": first_of[("US-OTAY", "count_report", 2010, 5)],
        "void undone": first_of[("TJ-PYANJ", "seizure", 2001, 4)],
        "plain": first_of[("KG-AK-JOL", "seizure", 2005, 9)],
    }
    taken = {e["event_id"] for e in special.values()}
    for e in originals:
        if e["event_id"] in taken:
            continue
        later = next_month(e["occurred_at"].year, e["occurred_at"].month)
        seq = e["source_seq"]
        if seq % 37 == 5:  # revised in its month: another figure, another day
            figure = FIGURES[e["event_type"]]
            day = e["occurred_at"].day
            new = _revised(e, 1, later + timedelta(days=2), "laboratory",
                           occurred_at=e["occurred_at"].replace(day=day + 1 if day < 27
                                                                else day - 1),
                           **{figure: e[figure] + (1 if figure == "persons" else 1.25)})
            write(e, new)
            if seq % 74 == 5:  # the revision redelivered
                copy = {**new, "ingested_at": later + timedelta(days=3),
                        "kafka_offset": new["kafka_offset"] + 1}
                added[_year_of(new)].append(_row(copy))
                history[_year_of(new)].append(_history_row(copy))
            named.setdefault(f"revised {e['event_type']}", new)
        elif seq % 53 == 11:  # voided: a withdrawn copy of the live row
            void = _revised(e, 1, later + timedelta(days=2), "entered twice", voided=1)
            added[_year_of(e)].append(_row(void))
            history[_year_of(e)].append(_history_row({**void, "event_type": "void"}))
            history[_year_of(e)].append(_history_row(e))
            named.setdefault(f"voided {e['event_type']}", void)
    # a crossing of March 1997 corrected into August 2024, a report into the next month
    e = special["moved crossing"]
    new = _revised(e, 1, ts(2024, 9, 2), "wrong year", occurred_at=ts(2024, 8, 15, 10),
                   persons=e["persons"] + 2)
    write(e, new, withdrawn=_revised(e, 1, ts(2024, 9, 2), "wrong year", voided=1))
    named["moved crossing"] = new
    e = special["moved report"]
    new = _revised(e, 1, ts(2010, 8, 1), "wrong period", occurred_at=ts(2010, 6, 9),
                   period_start=ts(2010, 6), period_end=ts(2010, 7), value=e["value"] + 5)
    write(e, new, withdrawn=_revised(e, 1, ts(2010, 8, 1), "wrong period", voided=1))
    named["moved report"] = new
    # voided, then brought back by a higher revision with another quantity
    e = special["void undone"]
    void = _revised(e, 1, ts(2001, 6, 1), "thought a duplicate", voided=1)
    back = _revised(e, 2, ts(2001, 7, 1), "it was not", quantity=99.5, quantity_kg=99.5)
    added[2001] += [_row(void), _row(back)]
    history[2001] += [_history_row(e), _history_row({**void, "event_type": "void"}),
                      _history_row(back)]
    named["void undone"] = back
    named["plain"] = special["plain"]
    # a void of an id never stored: its own withdrawn row
    ghost = {**special["plain"], "event_id": uuid.uuid5(uuid.NAMESPACE_URL, "never stored"),
             "station_id": "TJ-PYANJ", "event_type": "void", "drug": "", "quantity": None,
             "quantity_kg": None, "quantity_unit": "", "arrests": None,
             "occurred_at": ts(2015, 7, 9), "source_seq": 10**6}
    ghost = _revised(ghost, 3, ts(2015, 8, 1), "never sent", voided=1)
    added[2015].append(_row(ghost))
    history[2015].append(_history_row(ghost))
    named["never stored void"] = ghost
    return dict(added), dict(history), named


def _window(sid: str, kind: str, start: datetime, end: datetime, label: str, etype: str,
            dimension: str, version: int, status: str, scale: int) -> Row:
    country, border = STATIONS_OF[sid]
    v: dict[str, Any] = dict.fromkeys(WINDOW_STATS.column_names, 0)
    v.update(window_kind=kind, window_start=start, window_end=end, window_label=label,
             station_id=sid, country=country, border=border, station_tz="UTC",
             event_type=etype, measure="crossings" if etype == "count_report" else "",
             dimension=dimension, events=3 * scale, persons=2 * scale,
             vehicles=scale, refused=scale % 2, inbound=scale, outbound=2 * scale,
             seizure_kg=1.5 * scale if etype == "seizure" else 0.0,
             seizure_kg_max=1.0 * scale if etype == "seizure" else 0.0,
             arrests=scale % 3, value=10.0 * scale if etype == "count_report" else 0.0,
             first_event_at=start, last_event_at=start, status=status, version=version,
             updated_at=start)
    return tuple(v[c] for c in WINDOW_STATS.column_names)


def window_rows() -> Iterator[tuple[int, list[Row]]]:
    """Per year: month windows of every station and type in two or three versions (and a
    second copy of some versions); in the last year also hour windows of three days."""
    for y in YEARS:
        rows: list[Row] = []
        for m in range(1, 13):
            for s_i, sid in enumerate(STATIONS_OF):
                for t_i, (etype, dim) in enumerate((("count_report", ""), ("crossing", ""),
                                                    ("seizure", DRUGS[m % 4]))):
                    seed = y + m + s_i + t_i
                    versions = [(1, "provisional"), (2, "final")]
                    if seed % 5 == 0:
                        versions.append((3, "corrected"))
                    for ver, status in versions:
                        row = _window(sid, "month", ts(y, m), next_month(y, m),
                                      f"{y}-{m:02d}", etype, dim, ver, status,
                                      scale=seed % 11 + ver)
                        rows.append(row)
                        if seed % 7 == ver:
                            rows.append(row)  # a replayed emission: the same version again
        if y == YEARS[-1]:
            for day in (29, 30, 31):
                for h in range(24):
                    for s_i, sid in enumerate(list(STATIONS_OF)[:4]):
                        start = ts(y, 12, day, h)
                        end = datetime.fromtimestamp(start.timestamp() + 3600, UTC)
                        last = 2 if (h + s_i) % 3 else 1
                        for ver in range(1, last + 1):
                            rows.append(_window(sid, "1h", start, end, "", "crossing", "",
                                                ver, "final" if ver == last else
                                                "provisional", scale=h + s_i + ver))
        yield y, rows


def alert_rows() -> Iterator[tuple[int, list[Row]]]:
    """Per year: two alerts per station — one resolved (and acknowledged), one still firing
    in the last years — each in its versions, some written twice (a replay)."""
    for y in YEARS:
        rows: list[Row] = []
        for s_i, sid in enumerate(STATIONS_OF):
            for a in range(2):
                fired = ts(y, 1 + (s_i + 5 * a) % 12, 3 + a, s_i)
                aid = uuid.uuid5(uuid.NAMESPACE_URL, f"alert:{sid}:{y}:{a}")
                stays_firing = a == 1 and y >= 2024
                versions = [(1, "firing", 0)] if stays_firing else \
                    [(1, "firing", 0), (2, "resolved", 0), (3, "resolved", 1)]
                for ver, state, acked in versions:
                    v: dict[str, Any] = dict.fromkeys(ALERTS.column_names, 0)
                    v.update(alert_id=aid, version=ver, rule_id=f"rule-{a}",
                             rule_name=f"rule {a}", kind="threshold",
                             severity=("warning", "critical")[a], state=state,
                             scope="station", scope_key=sid, station_id=sid,
                             window_kind="month", window_start=ts(y, 1), window_end=ts(y, 2),
                             value=60.0 + s_i, threshold=50.0, provisional=0,
                             message=f"{sid} {y} v{ver}", labels=[f"y={y}"], fired_at=fired,
                             resolved_at=fired if state == "resolved" else EPOCH,
                             acked=acked, acked_by="ops" if acked else "",
                             acked_at=fired if acked else EPOCH, ack_comment="",
                             updated_at=fired, messages="")
                    row = tuple(v[c] for c in ALERTS.column_names)
                    rows.append(row)
                    if (y + s_i + ver) % 4 == 0:
                        rows.append(row)
        yield y, rows


def dlq_rows() -> Iterator[tuple[int, list[Row]]]:
    for y in YEARS[-3:]:
        rows = []
        for i in range(6):
            r = dlq_row(y * 10 + i, dlq_id=f"dlq-{y}-{i}", failed_at=ts(y, 2, 1 + i),
                        reason=("invalid", "not_json")[i % 2], station_id="KZ-KORDAI")
            rows += [r, r]
        yield y, rows


def registry_rows() -> list[Row]:
    return [station_row(i, station_id=sid, valid_from=ts(1990, 1), country=c, border=b,
                        tz="UTC", active=1, updated_at=ts(1990, 1), paired_blo="", lat=None,
                        lon=None)
            for i, (sid, (c, b)) in enumerate(STATIONS_OF.items())]


# --- the readers' view, computed here -----------------------------------------------------

def readers_view(spec: TableSpec, rows: list[Row], *, withdrawn: bool = False) -> list[Row]:
    """Of each sorting key (within a partition, as the engine collapses): the row of the
    highest version — for ``events`` the highest (revision, ingested_at), and a key whose
    row is withdrawn (``voided``) left out unless ``withdrawn``."""
    st = spec.storage
    version = [spec.index(c) for c in (st.read_version or st.engine_args[:1])]
    key_at = [spec.index(c) for c in st.order_by]
    part_at = {"events": "occurred_at", "event_revisions": "occurred_at",
               "alerts": "fired_at", "dlq": "failed_at"}.get(spec.name)
    best: dict[tuple[Any, ...], Row] = {}
    for r in rows:
        k = tuple(r[i] for i in key_at)
        if part_at is not None:
            t = r[spec.index(part_at)]
            k += (t.year, t.month)
        if k not in best or [r[i] for i in version] >= [best[k][i] for i in version]:
            best[k] = r
    out = list(best.values())
    if st.is_deleted and not withdrawn:
        out = [r for r in out if not r[spec.index(st.is_deleted)]]
    return out


# --- the two databases ----------------------------------------------------------------------

@functools.cache
def generated() -> dict[str, list[list[Row]]]:
    """Table → its physical rows, one list per year (made once for both engines)."""
    added, history, _ = corrections()
    out = {name: [rows for _, rows in gen()] for name, gen in (
        ("window_stats", window_rows), ("alerts", alert_rows), ("dlq", dlq_rows))}
    out["events"] = [rows + added.get(y, []) for y, rows in event_rows()]
    out["event_revisions"] = [history.get(y, []) for y in YEARS]
    return out


SPECS = {"events": EVENTS, "event_revisions": EVENT_REVISIONS, "window_stats": WINDOW_STATS,
         "alerts": ALERTS, "dlq": DLQ}


class Runner:
    """Runs a query on one engine under the memory bound; on the server, keeps its id to
    read its peak from the query log."""

    def __init__(self, db: Database, client: Client | None) -> None:
        self.db, self.client = db, client
        self.query_ids: dict[str, str] = {}

    def run(self, name: str, sql: str) -> list[Row]:
        try:
            if self.client is not None:
                qid = str(uuid.uuid4())
                self.query_ids[qid] = name
                return [tuple(r) for r in self.client.execute(
                    sql, settings={"max_memory_usage": LIMIT, "log_queries": 1}, query_id=qid)]
            return self.db.query(f"{sql.rstrip().rstrip(';')}\n"
                                 f"SETTINGS max_memory_usage = {LIMIT}")
        except Exception as e:
            raise AssertionError(f"{name} failed: {str(e).splitlines()[:2]}\n{sql}") from e

    def peaks(self) -> dict[str, int]:
        """name → memory_usage of its finished run (server only)."""
        assert self.client is not None
        self.client.execute("SYSTEM FLUSH LOGS")
        got = self.client.execute(
            "SELECT query_id, max(memory_usage) FROM system.query_log WHERE type = 2 "
            "AND query_id IN %(ids)s GROUP BY query_id",  # 2: finished (UInt8 on 18.16)
            {"ids": tuple(self.query_ids)})
        return {self.query_ids[q]: int(m) for q, m in got}


@pytest.fixture(scope="module", params=["server", "chdb"])
def engines(request: pytest.FixtureRequest) -> Iterator[tuple[Runner, Runner, dict[str, Any]]]:
    """(the history as written, the readers' view computed here, the view's rows)."""
    kind = request.param
    made: list[Database] = []
    if kind == "server":
        server = request.getfixturevalue("clickhouse_server")
        url = server.url
    else:
        path = request.getfixturevalue("chdb_path")

        def url(name: str) -> str:
            return f"chdb://{path}?database={name}"

    def make() -> Database:
        target = parse_clickhouse_url(url(unique_database()))
        d: Database = ServerDatabase(target, ClickHouseSettings(send_receive_timeout_s=300)) \
            if kind == "server" \
            else ChdbDatabase(target)
        made.append(d)
        migrate(d)
        return d

    history, oracle = make(), make()
    for name in SPECS:
        history.command(f"SYSTEM STOP MERGES {history.database}.{name}")
    view: dict[str, list[Row]] = {}
    for name, by_year in generated().items():
        spec = SPECS[name]
        everything: list[Row] = []
        for first in range(0, len(by_year), 5):  # five years (60 partitions) an insert
            rows = [r for year in by_year[first:first + 5] for r in year]
            for part in (rows[0::2], rows[1::2]):  # twice: 720 parts and more
                if part:
                    history.insert(name, spec.column_names, part)
            everything += rows
        view[name] = readers_view(spec, everything)
        assert len(view[name]) < len(everything)  # copies and versions to collapse
        for i in range(0, len(view[name]), 2000):  # 18.16 writes a part per partition
            oracle.insert(name, spec.column_names, view[name][i:i + 2000])
    for d in (history, oracle):
        d.insert("stations", STATIONS.column_names, registry_rows())
    client = None
    if kind == "server":
        client = Client(server.host, port=server.tcp_port, database=history.database)
    yield Runner(history, client), Runner(oracle, None), view
    for d in made:
        try:
            if client is not None:  # dropping thousands of parts may outlast the sink's timeout
                client.execute(f"DROP DATABASE IF EXISTS {d.database}")
            else:
                d.command(f"DROP DATABASE IF EXISTS {d.database}")
        finally:
            d.close()
    if client is not None:
        client.disconnect()


# --- the shipped queries --------------------------------------------------------------------

def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6) if math.isfinite(v) else v
    if isinstance(v, (list, tuple)):
        return sorted((_norm(x) for x in v), key=repr)
    return v


def norm(rows: list[Row]) -> list[tuple[Any, ...]]:
    """Rows as a multiset (order of equal-key rows and of groupUniqArray may differ)."""
    return sorted((tuple(_norm(v) for v in r) for r in rows), key=repr)


def list_sql(db: str, *, open_only: bool = False, station: str | None = None,
             limit: int) -> str:
    """The page query of ``blo alerts list`` (and the API's alert list: the same SQL), for
    the whole region, no mute active."""
    f = AlertFilter(state="firing" if open_only else None, station=station)
    src, params = alert_source(db, Scope(all=True), None, f, [], {})
    return render(alert_page_sql(src, "severity", limit, 0), params)


def shipped_queries(db: str, view: dict[str, list[Row]]) -> list[tuple[str, str]]:
    """(name, SQL) of every readers' query the project ships, over database ``db``."""
    out: list[tuple[str, str]] = []
    for title, sql, _ in stats_queries(db):
        out.append((f"blo stats: {title}", sql))
    out += [("blo alerts list", list_sql(db, limit=100_000)),
            ("blo alerts list --open", list_sql(db, open_only=True, limit=100_000)),
            ("blo alerts list --station", list_sql(db, station="KZ-KORDAI", limit=100_000))]
    some_alert = view["alerts"][0][ALERTS.index("alert_id")]
    out.append(("blo alerts show", alert_sql(db, some_alert)))
    t0, t1 = ts(1996, 1), ts(2026, 1)
    stations = tuple(STATIONS_OF)
    for group in ((), ("country",), ("station", "event_type"), ("drug",), ("border",)):
        out.append((f"API stats {group}", render(*stats_sql(
            db, "month", t0, t1, stations, Filters(), group, 1_000_000))))
    out.append(("API stats seizures", render(*stats_sql(
        db, "month", t0, t1, stations, Filters(event_type="seizure"), ("drug",), 1000))))
    out.append(("API top", render(*top_sql(db, "month", t0, t1, stations, Filters(),
                                           "events", 10))))
    out.append(("API series", render(*series_sql(db, "month", t0, t1, stations, Filters(),
                                                 "seizure_kg", 1_000_000))))
    out.append(("API alerts", render(*alerts_sql(db, False, 1_000_000))))
    out.append(("API alerts open", render(*alerts_sql(db, True, 1_000_000))))
    for i, (sql, params) in enumerate(live_sql(db, "1h", stations, ts(2025, 12, 31, 12))):
        out.append((f"API live {i}", render(sql, params)))
    # the restores: the worst case, everything since the epoch
    parts = (0, 1, 2, 3)
    reads = {
        "restore: current alerts": alert_reads.current_alerts(db, 0),
        "restore: window rows ending after": window_reads.window_rows_ending_after(
            db, ("1h", "month"), 0),
        "restore: window rows since": window_reads.window_rows_since(db, stations, 0),
        "restore: window rows between": window_reads.window_rows_between(db, 0, 2**31),
        "restore: stored events since": event_reads.stored_events_since(
            db, TOPIC, parts, stations, 0),
        "restore: stored events between": event_reads.stored_events_between(db, 0, 2**31),
        "restore: events of types since": event_reads.events_of_types_since(
            db, {"seizure", "crossing"}, 0),
        "restore: sequence numbers": event_reads.sequence_numbers_final(
            db, [("KZ-KORDAI", 0, 10**9), ("US-OTAY", 500, 9000)]),
        "baseline history": window_reads.baseline_history(
            db, window_kind="month", week_starts=tuple(
                int(ts(y, m).timestamp()) for y, m in months()), scope="country",
            statistic="seizure_kg", aggregate="sum", filters={"event_type": ("seizure",)}),
    }
    reads |= correction_reads(db, view)
    out += [(name, render(*q)) for name, q in reads.items()]
    for i, (sql, params) in enumerate(health_sql(db, stations, ts(2026, 1, 1))):
        out.append((f"API health {i}", render(sql, params)))
    for name, e in corrections()[2].items():
        some = str(e["event_id"])
        for which, query in zip(("revisions", "live row"), history_queries(db, some),
                                strict=True):
            out.append((f"blo events history, {name}: {which}", render(*query)))
        for which, (sql, params) in zip(("revisions", "live row"),
                                        event_history_sql(db, some, stations), strict=True):
            out.append((f"API event history, {name}: {which}", render(sql, params)))
    out += [(f"demo: {name}", sql.replace("blo.", f"{db}."))
            for name, sql in (("events per station", EVENTS_PER_STATION_SQL),
                              ("status", STATUS_SQL))]
    for doc in DOCS:
        for i, sql in enumerate(re.findall(r"```sql\n(.*?)```", doc.read_text(), re.DOTALL)):
            out.append((f"{doc.name} #{i}", re.sub(r"\bblo\.(?=\w)", f"{db}.", sql)))
    for dash in load_dashboards():
        selection: dict[str, list[str] | str] = {}
        for name, var in dash.variables.items():
            selection[name] = [ALL] if var.multi else (var.options[0] if var.options
                                                       else "month")
            if name == "window_kind":
                selection[name] = "month"
        for q in dash.queries:
            out.append((f"grafana {dash.name}: {q.title}",
                        expand(q.sql, dash, selection, db, t_from=int(t0.timestamp()),
                               t_to=int(t1.timestamp()), interval_s=86400 * 30)))
    return out


def recount_groups() -> list[tuple[str, str, str, str, int, int]]:
    """What a correction of each named event recounts (``events_of_keys``' groups, as
    ``streams.windows.corrections.read_ranges`` makes them): the month of its key, from the
    old month to the new one for a moved event (27 years for the crossing)."""
    out = []
    for name, e in corrections()[2].items():
        if e["event_type"] == "void":
            continue
        at = e["occurred_at"]
        lo, hi = ts(at.year, at.month), next_month(at.year, at.month)
        if name == "moved crossing":
            lo = ts(1997, 3)
        if name == "moved report":
            lo = ts(2010, 5)
        dim = e["dimension"] if e["event_type"] == "count_report" else e["drug"]
        out.append((e["station_id"], e["event_type"], e["measure"], dim,
                    int(lo.timestamp()), int(hi.timestamp())))
    return out


def window_keys(view: dict[str, list[Row]]) -> list[tuple[str, int, str, str, str, str]]:
    """Window keys a correction compares with ``window_stats``: some of every kind, across
    the 30 years, and one never written."""
    at = [WINDOW_STATS.index(c) for c in ("window_kind", "window_start", "station_id",
                                          "event_type", "measure", "dimension")]
    keys = [tuple(r[i] for i in at) for r in view["window_stats"][::97]]
    keys.append(("month", ts(1990, 1), "KZ-KORDAI", "crossing", "", ""))
    return [(k, int(t.timestamp()), s, e, m, d) for k, t, s, e, m, d in keys]


def correction_reads(db: str, view: dict[str, list[Row]]) -> dict[str, Query]:
    """The read-model queries a correction runs (streams/ingest.py, WindowRuntime.correct)."""
    named = corrections()[2]
    return {
        "correction: events of keys": event_reads.events_of_keys(db, recount_groups()),
        "correction: live rows of": event_reads.live_rows_of(
            db, tuple(STATIONS_OF), [str(e["event_id"]) for e in named.values()]),
        "correction: window rows of keys": window_reads.window_rows_of_keys(
            db, window_keys(view)),
    }


# --- the tests --------------------------------------------------------------------------------

def test_every_shipped_query_is_exact_within_1_gb(
        engines: tuple[Runner, Runner, dict[str, Any]]) -> None:
    history, oracle, view = engines
    names = set()
    clock = f"toDateTime({int(time.time())})"
    for name, sql in shipped_queries(history.db.database, view):
        names.add(name)
        # one clock for both runs: a query's now() (silent_for = now() - last event) would
        # otherwise move between them
        sql = sql.replace("now()", clock)
        got = history.run(name, sql)
        want = oracle.run(name, sql.replace(history.db.database + ".",
                                            oracle.db.database + "."))
        assert norm(got) == norm(want), f"{name}: not the readers' view\n{sql}"
    assert len(names) >= 55, sorted(names)  # docs, Grafana, CLI, API and restores all there
    if history.client is not None:
        peaks = history.peaks()
        assert set(peaks) == names, set(names) - set(peaks)
        over = {n: m for n, m in peaks.items() if m >= LIMIT}
        assert not over, over
        print("peak memory per query on 18.16 (MB):",
              {n: round(m / 1e6) for n, m in sorted(peaks.items(), key=lambda x: -x[1])[:8]})


def test_headline_figures_equal_sums_computed_here(
        engines: tuple[Runner, Runner, dict[str, Any]]) -> None:
    history, _, view = engines
    db = history.db.database
    by_type = Counter(r[EVENTS.index("event_type")] for r in view["events"])
    got = {r[0]: r[1] for r in history.run("stats", stats_queries(db)[0][1])}
    assert got == dict(by_type)
    voided = Counter(r[EVENTS.index("event_type")] for r in
                     (r for rows in corrections()[0].values() for r in rows)
                     if r[EVENTS.index("correction_reason")] == "entered twice")
    assert voided["count_report"] and voided["crossing"] and voided["seizure"]
    # one a station and month, the voided ones left out
    assert got["count_report"] == 10 * 360 - voided["count_report"]
    assert got["crossing"] == 10 * 360 - voided["crossing"]
    kg: defaultdict[str, float] = defaultdict(float)
    for r in view["events"]:
        if r[EVENTS.index("event_type")] == "seizure":
            kg[r[EVENTS.index("drug")]] += r[EVENTS.index("quantity_kg")]
    drugs = {r[0]: r[2] for r in history.run("drugs", stats_queries(db)[2][1])}
    assert drugs == {d: round(v, 3) for d, v in kg.items()}
    # month windows: the API's total per country over 30 years
    want_events: defaultdict[str, int] = defaultdict(int)
    for r in view["window_stats"]:
        if r[WINDOW_STATS.index("window_kind")] == "month":
            want_events[r[WINDOW_STATS.index("country")]] += r[WINDOW_STATS.index("events")]
    sql = render(*stats_sql(db, "month", ts(1996, 1), ts(2026, 1), tuple(STATIONS_OF),
                            Filters(), ("country",), 1000))
    assert {r[0]: r[1] for r in history.run("api", sql)} == dict(want_events)
    firing = {str(r[ALERTS.index("alert_id")]) for r in view["alerts"]
              if r[ALERTS.index("state")] == "firing"}
    assert len(firing) == 20
    assert {r[0] for r in history.run("open", list_sql(db, open_only=True, limit=1000))} == \
        firing


def _key_dimension(e: Event) -> str:
    return str(e["dimension"] if e["event_type"] == "count_report" else e["drug"])


def _epoch(t: datetime | None) -> int | None:
    return None if t is None else int(t.timestamp())


def _kind(revision: int, voided: int) -> str:
    return "void" if voided else "original" if revision == 0 else "revision"


def _flat_payload(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value


def test_correction_reads_equal_answers_computed_here(
        engines: tuple[Runner, Runner, dict[str, Any]]) -> None:
    """The reads of a correction, of a revised import and of the event history, each against
    what the physical rows imply, computed here (not through the oracle database): the
    latest revision of each event, no voided one — ``stored_reports_of`` keeps the withdrawn
    rows, which a revised import compares with — and every run under the 1 GB bound."""
    history, _, view = engines
    db = history.db.database
    physical = [r for rows in generated()["events"] for r in rows]
    live = [_event(r) for r in readers_view(EVENTS, physical)]
    named = corrections()[2]
    ran: set[str] = set()

    def run(name: str, sql: str, params: dict[str, Any]) -> list[Row]:
        ran.add(f"here: {name}")
        return history.run(f"here: {name}", render(sql, params))

    # the events of the window keys a correction recounts (the moved crossing: 27 years)
    groups = recount_groups()
    want = []
    for e in live:
        t = e["occurred_at"]
        for sid, etype, measure, dim, lo, hi in groups:
            a, b = datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC)
            if (e["station_id"], e["event_type"], e["measure"], _key_dimension(e)) == \
                    (sid, etype, measure, dim) and a <= t < b and (
                    etype != "count_report" or a <= e["period_start"] and e["period_end"] <= b):
                want.append(_row({**e, "payload": ""}))
                break
    got = run("events of keys", *event_reads.events_of_keys(db, groups))
    assert norm(got) == norm(want)
    ids = Counter(r[EVENTS.index("event_id")] for r in got)
    moved = named["moved crossing"]
    assert ids[moved["event_id"]] == 1 and ids[named["void undone"]["event_id"]] == 1
    assert not ids[named["voided seizure"]["event_id"]]
    [row] = [r for r in got if r[EVENTS.index("event_id")] == moved["event_id"]]
    assert (row[EVENTS.index("persons")], row[EVENTS.index("revision")]) == \
        (moved["persons"], 1)

    # the live rows a correction replaces: one per event still live, its latest revision
    ids_text = [str(e["event_id"]) for e in named.values()]
    got = run("live rows of", *event_reads.live_rows_of(db, tuple(STATIONS_OF), ids_text))
    want = [_row(e) for e in live if str(e["event_id"]) in ids_text]
    assert norm(got) == norm(want)
    assert {(str(r[EVENTS.index("event_id")]), r[EVENTS.index("revision")]) for r in got} == {
        (str(e["event_id"]), e["revision"]) for e in named.values() if not e["voided"]}

    # the window rows a correction of windows no longer in memory compares with
    keys = window_keys(view)
    at = [WINDOW_STATS.index(c) for c in ("window_kind", "window_start", "station_id",
                                          "event_type", "measure", "dimension")]
    wanted = {(k, datetime.fromtimestamp(t, UTC), s, e, m, d) for k, t, s, e, m, d in keys}
    want = [r for r in readers_view(WINDOW_STATS,
                                    [r for rows in generated()["window_stats"] for r in rows])
            if tuple(r[i] for i in at) in wanted]
    assert len(want) == len(keys) - 1  # every key but the one never written
    got = run("window rows of keys", *window_reads.window_rows_of_keys(db, keys))
    assert norm(got) == norm(want)

    # a revised import of the whole 30 years: count reports and voids, withdrawn included
    first, end = ts(1996, 1), ts(2026, 1)
    cols = event_reads.STORED_REPORT_COLUMNS
    times = ("occurred_at", "period_start", "period_end")
    want = [tuple(str(e[c]) if c == "event_id" else _epoch(e[c]) if c in times else e[c]
                  for c in cols)
            for e in map(_event, readers_view(EVENTS, physical, withdrawn=True))
            if e["event_type"] in ("count_report", "void") and first <= e["occurred_at"] < end]
    got = run("stored reports of", *event_reads.stored_reports_of(
        db, tuple(STATIONS_OF), int(first.timestamp()), int(end.timestamp())))
    assert norm(got) == norm(want)
    i_id, i_voided = cols.index("event_id"), cols.index("voided")
    assert sorted(r[i_voided] for r in got if r[i_id] == str(named["moved report"]["event_id"])
                  ) == [0, 1]  # the new month live, the old one withdrawn
    assert [r[i_voided] for r in got
            if r[i_id] == str(named["never stored void"]["event_id"])] == [1]
    assert [r[i_voided] for r in got
            if r[i_id] == str(named["voided count_report"]["event_id"])] == [1]

    # blo events history and the API: every revision, kind, reason and change
    revisions = [dict(zip(EVENT_REVISIONS.column_names, r, strict=True))
                 for r in readers_view(EVENT_REVISIONS,
                                       [r for rows in generated()["event_revisions"]
                                        for r in rows])]
    seen: dict[str, EventHistory] = {}
    for name, e in named.items():
        eid = str(e["event_id"])
        q_rev, q_live = history_queries(db, eid)
        [h] = histories(run(f"history {name}: revisions", *q_rev),
                        run(f"history {name}: live row", *q_live))
        seen[name] = h
        (s1, p1), (s2, p2) = event_history_sql(db, eid, (e["station_id"],))
        api = histories(run(f"API history {name}: revisions", s1, p1),
                        run(f"API history {name}: live row", s2, p2))
        assert [x.document() for x in api] == [h.document()]
        mine = sorted((x for x in revisions if str(x["event_id"]) == eid),
                      key=lambda x: x["revision"])
        source = "event_revisions" if mine else "events"
        if not mine:
            mine = [{**x, "payload": "{}"} for x in live if str(x["event_id"]) == eid]
        assert (h.source, h.station_id) == (source, e["station_id"]), name
        assert [(r.revision, r.kind, r.reason, r.occurred_at, r.ingested_at)
                for r in h.revisions] == [
            (x["revision"], _kind(x["revision"], x["voided"]), x["correction_reason"],
             _epoch(x["occurred_at"]), _epoch(x["ingested_at"])) for x in mine], name
        before: dict[str, Any] | None = None
        for r, x in zip(h.revisions, mine, strict=True):
            if x["voided"]:
                assert r.changes == ()
                continue
            now = _flat_payload(x["payload"])
            if before is not None:
                assert [(c.field, c.old, c.new) for c in r.changes] == [
                    (k, before.get(k), now.get(k)) for k in sorted(before.keys() | now.keys())
                    if before.get(k) != now.get(k)], name
            before = now
        assert h.voided == bool(e["voided"]), name
    assert [r.kind for r in seen["void undone"].revisions] == ["original", "void", "revision"]
    assert [c.field for c in seen["void undone"].revisions[-1].changes] == ["quantity_kg"]
    assert [c.field for c in seen["moved crossing"].revisions[-1].changes] == [
        "occurred_at", "persons"]

    if history.client is not None:
        peaks = history.peaks()
        assert ran <= set(peaks), ran - set(peaks)
        over = {n: peaks[n] for n in ran if peaks[n] >= LIMIT}
        assert not over, over
        print("peak memory of the correction reads on 18.16 (MB):",
              {n: round(peaks[n] / 1e6) for n in sorted(ran, key=lambda n: -peaks[n])[:6]})


def test_the_old_final_form_does_not_fit_on_18_16(
        engines: tuple[Runner, Runner, dict[str, Any]]) -> None:
    """The data reproduces the failure: 18.16's FINAL over these parts needs more than the
    bound, which is why no shipped query uses it."""
    history, _, _ = engines
    if history.client is None:
        pytest.skip("chDB (26.9) reads FINAL partition by partition")
    with pytest.raises(AssertionError, match="Memory limit"):
        history.run("old", f"SELECT count() FROM {history.db.database}.window_stats FINAL")

