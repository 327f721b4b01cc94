"""What the worker's two ClickHouse round trips cost, on a ClickHouse 18.16 server started
here: the sink's columnar INSERT, and the per-batch conflict lookup
(``streams/runtime.py::_lookup_hashes``) with two alternatives.

    .venv/bin/python bench/clickhouse_bench.py [--rows 200000] [--ids 5000] [--repeat 5]

INSERT: ``ServerDatabase.insert`` of ``--insert-batch`` real event rows (the sink's batch
size, ``BLO_BATCH_SINK_MAX_ROWS``): µs per row of wall time, of client CPU (rows →
columns, DateTime → epoch seconds, clickhouse-driver's serialisation: all Python, holding
the GIL the event loop needs) and of server CPU.

LOOKUP:
fills ``<db>.events`` (schema from ``sinks.migrations``) with real rows of simulated events
(the in-process chain of pipeline_bench), then times one lookup of ``--ids`` event ids,
all absent (a fresh backlog: the usual case) and all present, at several table sizes:

* ``runtime``: what the worker sends today -- ``event_id IN (toUUID('…'), …)`` inline in
  the text (≈46 bytes per id), one query per ``LOOKUP_CHUNK`` (2,000) ids, since over
  ~5,600 ids the text exceeds ``max_query_size`` (262144) and ClickHouse refuses it;
* ``strings``: ``event_id IN ('…', …)`` -- plain literals, converted by the server;
* ``external``: the ids sent as an external table (``external_tables=`` of
  clickhouse-driver, native protocol) and ``event_id IN _ids`` -- no parsing, no size
  limit.

Prints the median milliseconds per lookup (client wall time) and the server's user CPU per
lookup (``UserTimeMicroseconds`` from ``system.events``).
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

from pipeline_bench import _policy, make_backlog, rows_to_columns

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.settings import ClickHouseSettings, IngestSettings, parse_clickhouse_url
from schemas.station import Registry
from streams.runtime import LOOKUP_CHUNK


def build_rows(n: int) -> list[tuple[Any, ...]]:
    import asyncio
    from datetime import UTC, datetime

    from streams.decode import SourcePos
    from streams.ingest import IngestProcessor, RawRecord

    backlog = make_backlog(n, 100)
    proc = IngestProcessor(Registry(backlog.stations), _policy(IngestSettings()))

    async def none(*_: Any) -> dict:
        return {}

    raw = [RawRecord(v, SourcePos("lookup", 0, i)) for i, (_, v) in enumerate(backlog.single)]
    out = asyncio.run(proc.process(raw, datetime.now(UTC), none))
    return out.event_rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--ids", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--insert-batch", type=int, default=20_000)
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

        def q_runtime(ids: list[uuid.UUID]) -> Any:
            out: list[Any] = []
            for i in range(0, len(ids), LOOKUP_CHUNK):
                in_ids = ", ".join(f"toUUID('{u}')" for u in ids[i : i + LOOKUP_CHUNK])
                out += client.execute(
                    f"SELECT event_id, any(body_hash) FROM lookup.events WHERE station_id IN "
                    f"{stations!r} AND event_id IN ({in_ids}) GROUP BY event_id")
            return out

        def q_one_text(ids: list[uuid.UUID]) -> Any:
            in_ids = ", ".join(f"toUUID('{u}')" for u in ids)
            return client.execute(
                f"SELECT event_id, any(body_hash) FROM lookup.events WHERE station_id IN "
                f"{stations!r} AND event_id IN ({in_ids}) GROUP BY event_id")

        def q_strings(ids: list[uuid.UUID]) -> Any:
            in_ids = ", ".join(f"'{u}'" for u in ids)
            return client.execute(
                f"SELECT event_id, any(body_hash) FROM lookup.events WHERE station_id IN "
                f"{stations!r} AND event_id IN ({in_ids}) GROUP BY event_id")

        def q_external(ids: list[uuid.UUID]) -> Any:
            return client.execute(
                f"SELECT event_id, any(body_hash) FROM lookup.events WHERE station_id IN "
                f"{stations!r} AND event_id IN _ids GROUP BY event_id",
                external_tables=[{"name": "_ids", "structure": [("id", "UUID")],
                                  "data": [{"id": u} for u in ids]}])

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
        variants = {"runtime": q_runtime, "strings": q_strings, "external": q_external}
        sizes = sorted({0, args.rows // 2, args.rows})
        print(f"LOOKUP of {args.ids} ids, median of {args.repeat}; ms wall (server user CPU ms)")
        print(f"{'table rows':>10}  {'ids':8}" + "".join(f"{v:>22}" for v in variants))
        inserted = 0
        for size in sizes:
            while inserted < size:
                chunk = rows[inserted : min(size, inserted + 20000)]
                db.insert("events", cols, chunk)
                inserted += len(chunk)
            client.execute("OPTIMIZE TABLE lookup.events FINAL")
            present = [r[0] for r in rows[max(0, size - args.ids) : size]]
            absent = [uuid.uuid4() for _ in range(args.ids)]
            for kind, ids in (("absent", absent), ("present", present)):
                if not ids:
                    continue
                line = f"{size:>10,}  {kind:8}"
                for name, fn in variants.items():
                    times, cpus, found = [], [], 0
                    for _ in range(args.repeat):
                        c0 = user_us()
                        t = time.perf_counter()
                        found = len(fn(ids))
                        times.append((time.perf_counter() - t) * 1000)
                        cpus.append((user_us() - c0) / 1000)
                    assert found == (len(ids) if kind == "present" else 0), (name, found)
                    line += f"{statistics.median(times):>12.1f} ({statistics.median(cpus):5.1f})"
                    line += "   "
                print(line)
        too_many = [uuid.uuid4() for _ in range(6000)]
        for name, fn in {"runtime SQL as one text": q_one_text, **variants}.items():
            try:
                fn(too_many)
                print(f"6000 ids, {name}: OK")
            except Exception as e:  # noqa: BLE001
                print(f"6000 ids, {name}: {type(e).__name__}: {str(e).splitlines()[0][:100]}")
        db.close()
        client.disconnect()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
