"""chDB specifics: one directory per process (with a clear error), shared sessions, and the
BatchingSink writing through it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from blo.metrics import Metrics
from blo.settings import BatchSettings, parse_clickhouse_url
from sinks.batching import BatchingSink
from sinks.chdb import ChdbDatabase
from sinks.tables import DLQ, EVENTS
from tests.integration.sinks.factories import dlq_row, event_row

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_a_second_process_gets_a_clear_error(chdb_db: ChdbDatabase, chdb_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        from blo.settings import parse_clickhouse_url
        from sinks.base import SinkError
        from sinks.chdb import ChdbDatabase
        try:
            ChdbDatabase(parse_clickhouse_url("chdb://{chdb_path}"))
        except SinkError as e:
            print("SINKERROR:", e)
        else:
            print("OPENED")
        """
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=90,
        check=False,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert "SINKERROR:" in out.stdout, out.stdout + out.stderr
    message = out.stdout.split("SINKERROR:", 1)[1]
    assert f"PID {os.getpid()}" in message
    assert "blo worker" in message and "HTTP endpoint" in message
    assert chdb_db.query("SELECT 1") == [(1,)]  # the owner is unaffected


def test_handles_of_one_directory_share_the_engine(
    make_chdb_db: Callable[..., ChdbDatabase],
) -> None:
    a, b = make_chdb_db(), make_chdb_db()
    a.insert("events", EVENTS.column_names, [event_row(1)])
    b.insert("events", EVENTS.column_names, [event_row(1), event_row(2)])
    a.close()  # b's session stays open
    assert b.query(f"SELECT count() FROM {b.database}.events") == [(2,)]


def test_another_directory_in_the_same_process_is_refused(
    chdb_db: ChdbDatabase, tmp_path: Path
) -> None:
    from sinks.base import SinkError

    with pytest.raises(SinkError, match="one data directory per process"):
        ChdbDatabase(parse_clickhouse_url(f"chdb://{tmp_path / 'other'}"))


def test_batching_sink_writes_through_chdb(chdb_db: ChdbDatabase) -> None:
    metrics = Metrics()
    acked: list[int] = []

    async def main() -> None:
        sink = BatchingSink(
            chdb_db, BatchSettings.model_validate({"sink_max_rows": 1000, "sink_max_in_flight": 2}), metrics,
            close_db=False,
        )
        for k in range(5):
            async def ack(k: int = k) -> None:
                acked.append(k)

            await sink.submit(
                {
                    "events": [event_row(k * 700 + i) for i in range(700)],
                    "dlq": [dlq_row(k, dlq_id=f"d{k}")],
                },
                ack,
            )
        await sink.close()

    asyncio.run(main())
    d = chdb_db.database
    assert acked == [0, 1, 2, 3, 4]
    assert chdb_db.query(f"SELECT count() FROM {d}.events FINAL") == [(3500,)]
    assert chdb_db.query(f"SELECT count() FROM {d}.dlq") == [(5,)]
    assert metrics.registry.get_sample_value(
        "blo_sink_rows_written_total", {"table": "events"}
    ) == 3500
    assert len(DLQ.columns) == len(dlq_row(0))
