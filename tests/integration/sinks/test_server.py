"""ServerDatabase against the real clickhouse-server 18.16: errors, auth, TLS, threads,
and the BatchingSink riding out a server that goes away and comes back."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable

import pytest

from blo.localservices.clickhouse_server import (
    PASSWORD_USER,
    PASSWORD_USER_PASSWORD,
    ClickHouseServer,
    free_port,
)
from blo.metrics import Metrics
from blo.settings import BatchSettings, ClickHouseSettings, parse_clickhouse_url
from sinks.base import SinkUnavailable, SinkWriteError
from sinks.batching import BatchingSink
from sinks.clickhouse import ServerDatabase
from sinks.tables import EVENTS
from tests.integration.sinks.factories import event_row

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MakeDb = Callable[..., ServerDatabase]


def test_unreachable_server_is_unavailable() -> None:
    url = f"clickhouse://default:@127.0.0.1:{free_port()}/blo"
    db = ServerDatabase(parse_clickhouse_url(url), ClickHouseSettings.model_validate({"connect_timeout_s": 1}))
    with pytest.raises(SinkUnavailable):
        db.insert("events", EVENTS.column_names, [event_row(1)])
    with pytest.raises(SinkUnavailable):
        db.query("SELECT 1")
    db.close()


def test_password_user_and_the_password_never_shows(
    clickhouse_server: ClickHouseServer, make_clickhouse_db: MakeDb
) -> None:
    from urllib.parse import quote

    secret = quote(PASSWORD_USER_PASSWORD, safe="")
    url = f"clickhouse://{PASSWORD_USER}:{secret}@127.0.0.1:{clickhouse_server.tcp_port}/pw"
    db = make_clickhouse_db(url=url)
    assert db.query("SELECT 1") == [(1,)]
    assert PASSWORD_USER_PASSWORD not in repr(db)
    bad = make_clickhouse_db(
        url=f"clickhouse://{PASSWORD_USER}:wrong@127.0.0.1:{clickhouse_server.tcp_port}/pw",
        migrated=False,
    )
    with pytest.raises(SinkWriteError) as info:
        bad.query("SELECT 1")
    assert "wrong" not in str(info.value).replace("Wrong", "")


def test_tls_with_the_servers_certificate(
    clickhouse_server: ClickHouseServer, make_clickhouse_db: MakeDb
) -> None:
    if clickhouse_server.secure_port is None:
        pytest.skip("no openssl: the session server has no TLS port")
    url = f"clickhouses://default:@127.0.0.1:{clickhouse_server.secure_port}/tls"
    db = make_clickhouse_db(url=url, ca_certs=clickhouse_server.ca_certs)
    assert db.target.secure
    db.insert("events", EVENTS.column_names, [event_row(1)])
    assert db.query(f"SELECT count() FROM {db.database}.events") == [(1,)]
    unverified = make_clickhouse_db(url=url, migrated=False, verify=False)
    assert unverified.query("SELECT 1") == [(1,)]
    untrusted = make_clickhouse_db(url=url, migrated=False)  # system CAs: self-signed fails
    with pytest.raises(SinkUnavailable):
        untrusted.query("SELECT 1")


def test_concurrent_inserts_from_threads(clickhouse_db: ServerDatabase) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for k in range(5):
                base = (t * 5 + k) * 100
                clickhouse_db.insert(
                    "events", EVENTS.column_names, [event_row(base + i) for i in range(100)]
                )
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert clickhouse_db.query(f"SELECT count() FROM {clickhouse_db.database}.events") == [
        (3000,)
    ]


def test_reconnects_after_a_restart(
    fresh_clickhouse_server: ClickHouseServer, make_clickhouse_db: MakeDb
) -> None:
    db = make_clickhouse_db(server=fresh_clickhouse_server)
    db.insert("events", EVENTS.column_names, [event_row(1)])
    fresh_clickhouse_server.stop()
    with pytest.raises(SinkUnavailable):
        db.insert("events", EVENTS.column_names, [event_row(2)])
    fresh_clickhouse_server.start()
    db.insert("events", EVENTS.column_names, [event_row(2)])
    assert db.query(f"SELECT count() FROM {db.database}.events") == [(2,)]


def test_sink_retries_while_the_server_is_down_and_lands_everything_once(
    fresh_clickhouse_server: ClickHouseServer, make_clickhouse_db: MakeDb
) -> None:
    server = fresh_clickhouse_server
    db = make_clickhouse_db(server=server, connect_timeout_s=1, send_receive_timeout_s=10)
    metrics = Metrics()
    batch = BatchSettings.model_validate(
        {
            "sink_max_rows": 500,
            "sink_max_age_s": 0.2,
            "sink_max_in_flight": 2,
            "sink_retry_initial_s": 0.05,
            "sink_retry_max_s": 0.5,
        }
    )
    durable: list[int] = []
    total = 5000

    def on_durable(n: int) -> Callable[[], Awaitable[None]]:
        async def cb() -> None:
            durable.append(n)

        return cb

    def retries() -> float:
        v = metrics.registry.get_sample_value(
            "blo_sink_retries_total", {"table": "events", "error": "unavailable"}
        )
        return v or 0.0

    async def main() -> None:
        sink = BatchingSink(db, batch, metrics, close_db=False)
        n = 0
        for _ in range(4):  # a first part lands normally
            await sink.submit({"events": [event_row(n + i) for i in range(250)]}, on_durable(n))
            n += 250
        await sink.flush()
        server.stop()
        blocked: asyncio.Task[None] | None = None
        while n < total:
            task = asyncio.create_task(
                sink.submit({"events": [event_row(n + i) for i in range(250)]}, on_durable(n))
            )
            n += 250
            done, _ = await asyncio.wait({task}, timeout=3)
            if not done:
                blocked = task
                break
        assert blocked is not None, "submit never blocked while ClickHouse was down"
        for _ in range(200):
            if retries() > 0 and sink.backpressured:
                break
            await asyncio.sleep(0.05)
        assert sink.backpressured and retries() > 0
        assert not blocked.done()
        await asyncio.sleep(1.0)  # a few more failing attempts
        await asyncio.get_running_loop().run_in_executor(None, server.start)
        await asyncio.wait_for(blocked, 60)
        while n < total:
            await sink.submit({"events": [event_row(n + i) for i in range(250)]}, on_durable(n))
            n += 250
        await asyncio.wait_for(sink.flush(), 60)
        await sink.close()

    asyncio.run(main())
    assert durable == sorted(durable) and len(durable) == total // 250
    d = db.database
    assert db.query(f"SELECT uniqExact(event_id), count() FROM {d}.events FINAL") == [
        (total, total)
    ]
    physical = db.query(f"SELECT count() FROM {d}.events")[0][0]
    assert total <= physical  # an insert cut by the stop may be written and retried


def test_lookup_through_the_sink_waits_out_an_outage(
    fresh_clickhouse_server: ClickHouseServer, make_clickhouse_db: MakeDb
) -> None:
    server = fresh_clickhouse_server
    db = make_clickhouse_db(server=server, connect_timeout_s=1, send_receive_timeout_s=10)
    row = event_row(1, station_id="TJ-A", body_hash="h1")
    stored_id = row[EVENTS.index("event_id")]
    db.insert("events", EVENTS.column_names, [row])
    metrics = Metrics()
    batch = BatchSettings.model_validate({"sink_retry_initial_s": 0.05, "sink_retry_max_s": 0.5})

    def retries() -> float:
        v = metrics.registry.get_sample_value(
            "blo_sink_retries_total", {"table": "events", "error": "unavailable"}
        )
        return v or 0.0

    async def main() -> None:
        sink = BatchingSink(db, batch, metrics, close_db=False)
        server.stop()
        lookup = asyncio.create_task(
            sink.stored_body_hashes(["TJ-A"], [stored_id, uuid.uuid4()])
        )
        for _ in range(200):
            if retries() >= 2 and sink.backpressured:
                break
            await asyncio.sleep(0.05)
        assert sink.backpressured and retries() >= 2
        assert not lookup.done()
        await asyncio.get_running_loop().run_in_executor(None, server.start)
        assert await asyncio.wait_for(lookup, 60) == {stored_id: "h1"}
        assert not sink.backpressured
        await sink.close()

    asyncio.run(main())
