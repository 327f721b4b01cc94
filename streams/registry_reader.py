"""Follows the station-registry topic and keeps the in-memory registry current.

Every worker reads the whole topic (assign all partitions, no consumer group, from the
beginning): the registry is small, each worker needs all of it, and Tansu does not compact.
"Caught up" is judged from the high watermark that arrives with each fetch response, never
from the broker's end-offset lookup (wrong on Tansu). New entries are also written to the
``stations`` table for readers.

A record the registry's own schema (:class:`schemas.station.StationRecord`) refuses is never
fatal and never enters the registry: it becomes a dead letter with the reason
:data:`INVALID_STATION_RECORD` (:func:`station_dead_letter`, handed to ``on_bad``), so it is
in ``dlq`` and on the DLQ topic like a bad event, and every other station goes on. Its
station stays unknown (its events are held, then dead-lettered ``unknown_station``) until a
valid record arrives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from blo.backoff import delays
from blo.kafka_config import aiokafka_kwargs
from blo.metrics import Metrics
from blo.settings import KafkaSettings
from schemas.station import Registry, StationRecord, error_lines
from sinks.base import Row
from streams.dead_letters import WITHHELD_NOTE, DeadLetter, withhold
from streams.stages.decode import SourcePos

log = logging.getLogger("blo.registry")

RETRY_FIRST_S = 1.0  # reconnect backoff: doubling to RETRY_MAX_S
RETRY_MAX_S = 30.0

INVALID_STATION_RECORD = "invalid_station_record"
"""Dead-letter reason of a record on the stations topic that the registry's schema refuses."""


def station_row(rec: StationRecord, updated_at: datetime) -> Row:
    """One row of :data:`sinks.tables.STATIONS`."""
    return (
        rec.station_id, rec.valid_from.astimezone(UTC), rec.name, rec.country,
        str(getattr(rec.agency, "value", rec.agency)), rec.crossing_point,
        rec.neighbour_country or "", rec.border, rec.paired_blo or "", rec.lat, rec.lon, rec.tz,
        rec.coord_source or "", 1 if rec.coord_approximate else 0, 1 if rec.active else 0, updated_at,
    )


def station_dead_letter(value: bytes, key: bytes | None, source: SourcePos, error: ValidationError,
                        failed_at: datetime) -> DeadLetter:
    """The dead letter of a station record ``error`` refused: one detail per field error.

    Fields the schema does not have are withheld as in event dead letters (their values
    replaced, the note added): an unknown field is where personal data would be."""
    details = error_lines(error)
    payload = value
    extra = [tuple(e["loc"]) for e in error.errors() if e["type"] == "extra_forbidden"]
    if extra:
        try:
            payload = withhold(orjson.loads(value), extra)
        except orjson.JSONDecodeError:  # pragma: no cover - extra fields imply an object
            pass
        else:
            details.append(WITHHELD_NOTE)
    station = (key or b"").decode("utf-8", "replace")[:64]
    return DeadLetter((INVALID_STATION_RECORD,), tuple(details), payload, source, -1, failed_at,
                      station_id=station, event_type="station")


class RegistryReader:
    def __init__(
        self,
        kafka: KafkaSettings,
        registry: Registry,
        metrics: Metrics,
        on_records: Callable[[list[StationRecord]], None],
        on_bad: Callable[[DeadLetter], None] | None = None,
    ) -> None:
        """``on_records``: the new valid records of each fetch; ``on_bad``: the dead letter
        of each refused record (None: only logged and counted, e.g. where another reader of
        the same process's worker writes them)."""
        self.kafka = kafka
        self.registry = registry
        self.metrics = metrics
        self.on_records = on_records
        self.on_bad = on_bad
        self.ready = asyncio.Event()
        self.bad_records = 0
        self._fetched = False  # the current connection has fetched (resets the backoff)

    async def run(self) -> None:
        """Read forever (cancel to stop), reconnecting after failures with backoff.

        Sets :attr:`ready` once caught up. Re-reading after a reconnect is harmless:
        upserting the same record twice changes nothing."""
        waits = delays(RETRY_FIRST_S, RETRY_MAX_S)
        while True:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure: log, back off, reconnect
                if self._fetched:  # it had been reading: a new outage starts from the first wait
                    waits = delays(RETRY_FIRST_S, RETRY_MAX_S)
                    self._fetched = False
                delay = next(waits)
                log.error("station registry reader failed (%s: %s); retrying in %.0f s",
                          type(e).__name__, e, delay)
                await asyncio.sleep(delay)

    async def _run_once(self) -> None:
        topic = self.kafka.topic_stations
        consumer = AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
            **aiokafka_kwargs(self.kafka, role="consumer"),
        )
        await consumer.start()
        try:
            parts: set[int] | None = None
            while not parts:
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    await consumer._client.force_metadata_update()
                    parts = consumer.partitions_for_topic(topic)
                    if not parts:
                        log.warning("station topic %s not found yet; retrying", topic)
                        await asyncio.sleep(1.0)
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                self._fetched = True
                records: list[StationRecord] = []
                for msgs in batch.values():
                    for m in msgs:
                        rec = self._parse(m.value, m.key, m.partition, m.offset)
                        if rec is not None:
                            self.registry.upsert(rec)
                            records.append(rec)
                if records:
                    self.metrics.registry_stations.set(len(self.registry))
                    self.on_records(records)
                if not self.ready.is_set() and await self._caught_up(consumer, tps):
                    log.info("station registry loaded: %d stations", len(self.registry))
                    self.metrics.registry_stations.set(len(self.registry))
                    self.ready.set()
        finally:
            await consumer.stop()

    @staticmethod
    async def _caught_up(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> bool:
        for tp in tps:
            hw = consumer.highwater(tp)
            if hw is None or await consumer.position(tp) < hw:
                return False
        return True

    def _parse(self, value: bytes | None, key: bytes | None, partition: int,
               offset: int) -> StationRecord | None:
        if value is None:
            return None
        try:
            return StationRecord.model_validate_json(value)
        except ValidationError as e:
            self.bad_records += 1
            source = SourcePos(self.kafka.topic_stations, partition, offset)
            dl = station_dead_letter(value, key, source, e, datetime.now(UTC))
            log.warning("station record at partition %d offset %d refused (%s): %s", partition,
                        offset, INVALID_STATION_RECORD, "; ".join(dl.details[:3]))
            if self.on_bad is not None:
                self.metrics.events_dead_lettered.labels(INVALID_STATION_RECORD, "station").inc()
                self.on_bad(dl)
            return None
