"""What the worker's two ClickHouse round trips cost, on a ClickHouse 18.16 server started
here (and the lookup on embedded chDB too): the sink's columnar INSERT, and the per-batch
conflict lookup (``Database.stored_body_hashes``) against the literal form it replaced.

    .venv/bin/python bench/clickhouse_bench.py [--rows 200000] [--ids 5000] [--repeat 5]
                                               [--big-ids 100000] [--no-chdb]

INSERT: ``ServerDatabase.insert`` of ``--insert-batch`` real event rows (the sink's batch
size, ``BLO_BATCH_SINK_MAX_ROWS``): µs per row of wall time, of client CPU (rows →
columns, DateTime → epoch seconds, clickhouse-driver's serialisation: all Python, holding
the GIL the event loop needs) and of server CPU.

LOOKUP:
fills ``<db>.events`` (schema from ``sinks.migrations``) with real rows of simulated events
(the in-process chain of pipeline_bench), then times one lookup of ``--ids`` event ids,
all absent (a fresh backlog: the usual case) and all present, at several table sizes, and
one of ``--big-ids`` ids (a large take) at the full size:

* ``literals``: what the worker sent until the lookup became a ``Database`` method --
  ``event_id IN (toUUID('…'), …)`` inline in the text (≈46 bytes per id) through
  ``Database.query``, one query per 2,000 ids, since over ~5,600 ids the text exceeds
  ``max_query_size`` (262144) and ClickHouse refuses it;
* ``product``: ``Database.stored_body_hashes`` -- one query, the ids sent as data (an
  external table on the server, a temporary Memory table in chDB): no parsing, no size
  limit.

Prints the median milliseconds per lookup (client wall time) and, in parentheses, the
ClickHouse CPU per lookup: the server's user CPU (``UserTimeMicroseconds`` from
``system.events``) for the server, this process's CPU for chDB (it runs in-process).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from backlog import make_backlog
from inprocess import ingest_policy, rows_to_columns

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.settings import ClickHouseSettings, IngestSettings, parse_clickhouse_url
from schemas.station import Registry
from sinks.base import Database

OLD_LOOKUP_CHUNK = 2000  # ids per query of the literal form (under max_query_size)


def build_rows(n: int) -> list[tuple[Any, ...]]:
    from datetime import UTC, datetime

    from streams.ingest import IngestProcessor, RawRecord
    from streams.stages.decode import SourcePos

    backlog = make_backlog(n, 100)
    proc = IngestProcessor(Registry(backlog.stations), ingest_policy(IngestSettings()))

    raw = [RawRecord(v, SourcePos("lookup", 0, i)) for i, (_, v) in enumerate(backlog.single)]
    out = proc.finish(proc.prepare(raw, datetime.now(UTC)), {})
    return out.event_rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--ids", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--insert-batch", type=int, default=20_000)
    ap.add_argument("--big-ids", type=int, default=100_000)
    ap.add_argument("--no-chdb", action="store_true", help="the server only")
    args = ap.parse_args()

    from clickhouse_driver import Client

    from sinks.clickhouse import ServerDatabase, _is_datetime
    from sinks.migrations import migrate
    from sinks.tables import EVENTS

    print(f"building {args.rows} rows …", file=sys.stderr)
    rows = build_rows(args.rows)
    stations = tuple(sorted({r[3] for r in rows}))
    work = Path(tempfile.mkdtemp(prefix="blo-chbench-"))
    server = ClickHouseServer(work / "ch").start()
    try:
        url = server.url("lookup")
        db = ServerDatabase(parse_clickhouse_url(url),
                            ClickHouseSettings.model_validate({"url": url}))
        migrate(db)
        client = Client(host=server.host, port=server.tcp_port, send_receive_timeout=120)

        def user_us() -> int:
            return int(client.execute(
                "SELECT value FROM system.events WHERE event = 'UserTimeMicroseconds'")[0][0])

        # -- INSERT ------------------------------------------------------------------
        cols = EVENTS.column_names
        client.execute("CREATE TABLE lookup.events_ins AS lookup.events")
        size = min(args.insert_batch, len(rows))
        walls, cpus, srv_cpu = [], [], []
        for i in range(args.repeat):
            chunk = rows[(i * size) % len(rows):][:size]
            c0, s0 = time.process_time(), user_us()
            t = time.perf_counter()
            db.insert("events_ins", cols, chunk)
            walls.append((time.perf_counter() - t) / len(chunk) * 1e6)
            cpus.append((time.process_time() - c0) / len(chunk) * 1e6)
            srv_cpu.append((user_us() - s0) / len(chunk))
        print(f"INSERT of {size:,} event rows (ServerDatabase.insert), median of {args.repeat}: "
              f"{statistics.median(walls):.1f} µs/row wall, {statistics.median(cpus):.1f} µs/row "
              f"client CPU (Python, in the sink thread), {statistics.median(srv_cpu):.1f} µs/row "
              f"server user CPU → {1e6 / statistics.median(walls):,.0f} rows/s")
        dt_idx = [i for i, (_, t) in enumerate(EVENTS.columns) if _is_datetime(t)]
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            rows_to_columns(rows[:size], dt_idx)
            best = min(best, time.perf_counter() - t)
        print(f"  of which rows → columns + DateTime → epoch seconds (best of 3): "
              f"{best / size * 1e6:.1f} µs/row")
        client.execute("DROP TABLE lookup.events_ins")

        # -- LOOKUP ------------------------------------------------------------------
        def server_cpu_ms() -> float:
            return user_us() / 1000

        lookup_bench(db, rows, stations, args, server_cpu_ms, "ClickHouse server 18.16")
        db.close()
        client.disconnect()
        if not args.no_chdb:
            from sinks.chdb import ChdbDatabase

            chdb = ChdbDatabase(parse_clickhouse_url(f"chdb://{work / 'chdb'}?database=lookup"))
            migrate(chdb)

            def own_cpu_ms() -> float:
                return time.process_time() * 1000

            lookup_bench(chdb, rows, stations, args, own_cpu_ms, "chDB (embedded)")
            chdb.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def literal_lookup(db: Database, stations: tuple[str, ...], ids: list[uuid.UUID],
                   chunk: int = OLD_LOOKUP_CHUNK) -> dict[uuid.UUID, str]:
    """The lookup as the runtime sent it before ``Database.stored_body_hashes``."""
    out: dict[uuid.UUID, str] = {}
    for i in range(0, len(ids), chunk):
        in_ids = ", ".join(f"toUUID('{u}')" for u in ids[i : i + chunk])
        sql = (f"SELECT event_id, any(body_hash) FROM {db.database}.events "
               f"WHERE station_id IN %(stations)s AND event_id IN ({in_ids}) GROUP BY event_id")
        for r in db.query(sql, {"stations": stations}):
            out[r[0] if isinstance(r[0], uuid.UUID) else uuid.UUID(str(r[0]))] = str(r[1])
    return out


def lookup_bench(db: Database, rows: list[tuple[Any, ...]], stations: tuple[str, ...],
                 args: argparse.Namespace, cpu_ms: Any, engine: str) -> None:
    from sinks.tables import EVENTS

    variants = {
        "literals": lambda ids: literal_lookup(db, stations, ids),
        "product": lambda ids: db.stored_body_hashes(stations, ids),
    }

    def measure(fn: Any, ids: list[uuid.UUID], expect: int, repeat: int) -> str:
        times, cpus = [], []
        for _ in range(repeat):
            c0 = cpu_ms()
            t = time.perf_counter()
            found = len(fn(ids))
            times.append((time.perf_counter() - t) * 1000)
            cpus.append(cpu_ms() - c0)
            assert found == expect, (found, expect)
        return f"{statistics.median(times):>11.1f} ({statistics.median(cpus):7.1f})"

    sizes = sorted({0, args.rows // 2, args.rows})
    print(f"LOOKUP on {engine}, median of {args.repeat}; ms wall (ClickHouse CPU ms)")
    print(f"{'table rows':>10}  {'ids':>8} {'':8}" + "".join(f"{v:>22}" for v in variants))
    inserted = 0
    for size in sizes:
        while inserted < size:
            chunk = rows[inserted : min(size, inserted + 20000)]
            db.insert("events", EVENTS.column_names, chunk)
            inserted += len(chunk)
        db.command(f"OPTIMIZE TABLE {db.database}.events FINAL")
        cases = [(args.ids, args.repeat)]
        if size == args.rows and args.big_ids:
            cases.append((args.big_ids, max(1, args.repeat // 2)))
        for n, repeat in cases:
            present = [r[0] for r in rows[max(0, size - n) : size]]
            absent = [uuid.uuid4() for _ in range(n)]
            for kind, ids in (("absent", absent), ("present", present)):
                if not ids:
                    continue
                expect = len(ids) if kind == "present" else 0
                line = f"{size:>10,}  {len(ids):>8,} {kind:8}"
                for fn in variants.values():
                    line += measure(fn, ids, expect, repeat)
                print(line, flush=True)
    too_many = [uuid.uuid4() for _ in range(6000)]
    for name, fn in {"literals as one text": lambda ids: literal_lookup(
                         db, stations, ids, chunk=len(ids)), **variants}.items():
        try:
            fn(too_many)
            print(f"6000 ids, {name}: OK")
        except Exception as e:  # noqa: BLE001
            print(f"6000 ids, {name}: {type(e).__name__}: {str(e).splitlines()[0][:100]}")


if __name__ == "__main__":
    sys.exit(main())
