"""The worker's Kafka consumers take their fetch waits from the settings (Faust hard-codes
1500 ms; on Tansu the wait bounds how soon a live record reaches the worker): the raw
topic's consumer BLO_KAFKA_FETCH_MAX_WAIT_MS, Faust's (the alert input)
BLO_KAFKA_ALERT_INPUT_FETCH_MAX_WAIT_MS."""

from __future__ import annotations

import asyncio

import pytest

from blo.metrics import Metrics
from blo.settings import load_settings
from streams.app import faust_app
from streams.raw_consumer import RawConsumer
from streams.raw_feed import RawFeed


async def _nothing(*_: object) -> None:
    return None


@pytest.mark.parametrize(("raw_ms", "alert_ms"), [(None, None), (250, 800)])
def test_each_consumer_fetches_with_its_configured_wait(
        raw_ms: int | None, alert_ms: int | None, monkeypatch: pytest.MonkeyPatch,
        tmp_path: object) -> None:
    monkeypatch.setenv("BLO_KAFKA_BOOTSTRAP", "127.0.0.1:9")
    monkeypatch.setenv("BLO_DATA_DIR", str(tmp_path))
    if raw_ms is not None:
        monkeypatch.setenv("BLO_KAFKA_FETCH_MAX_WAIT_MS", str(raw_ms))
    if alert_ms is not None:
        monkeypatch.setenv("BLO_KAFKA_ALERT_INPUT_FETCH_MAX_WAIT_MS", str(alert_ms))
    settings = load_settings()
    k = settings.kafka
    want_raw = raw_ms or k.fetch_max_wait_ms
    want_alert = alert_ms or k.alert_input_fetch_max_wait_ms
    assert 1500 not in (want_raw, want_alert) and want_raw != want_alert

    async def built() -> tuple[int, int]:
        app = faust_app(settings)
        thread = app.consumer._thread  # type: ignore[attr-defined]
        faust_consumer = thread._create_worker_consumer(app.transport)  # no I/O until started
        raw = RawConsumer(k, RawFeed(k.topic_raw, 10), Metrics(), on_assign=_nothing,
                          on_revoke=_nothing, on_error=lambda e: None)
        raw_consumer = raw._new_consumer()
        try:
            return int(raw_consumer._fetch_max_wait_ms), int(faust_consumer._fetch_max_wait_ms)
        finally:
            await faust_consumer.stop()
            await raw_consumer.stop()

    assert asyncio.run(built()) == (want_raw, want_alert)
