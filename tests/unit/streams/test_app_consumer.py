"""The worker's Kafka consumer takes its fetch wait from the settings (Faust hard-codes
1500 ms; on Tansu the wait bounds how soon a live record reaches the worker)."""

from __future__ import annotations

import asyncio

import pytest

from blo.settings import load_settings
from streams.app import faust_app


@pytest.mark.parametrize("wait_ms", [None, 250])
def test_the_worker_consumer_fetches_with_the_configured_wait(
        wait_ms: int | None, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("BLO_KAFKA_BOOTSTRAP", "127.0.0.1:9")
    monkeypatch.setenv("BLO_DATA_DIR", str(tmp_path))
    if wait_ms is not None:
        monkeypatch.setenv("BLO_KAFKA_FETCH_MAX_WAIT_MS", str(wait_ms))
    settings = load_settings()
    want = wait_ms or settings.kafka.fetch_max_wait_ms
    assert want != 1500

    async def built() -> int:
        app = faust_app(settings)
        thread = app.consumer._thread  # type: ignore[attr-defined]
        consumer = thread._create_worker_consumer(app.transport)  # no I/O until started
        try:
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()

    assert asyncio.run(built()) == want
