"""The raw topic's consumer: an aiokafka consumer on the worker's own loop, its own group
member (:func:`raw_group_id`), feeding a :class:`streams.raw_feed.RawFeed`.

Why not Faust's consumer. Faust runs aiokafka in a thread of its own and carries every fetch
to the worker's loop and back (a method queue, ``call_soon_threadsafe``, self-pipe writes:
about 23 loop wake-ups per fetch across the two threads, docs/performance.md session 11).
Live, that per-fetch cost was about half of the Faust process's CPU whatever the rate, and
reaching the fetched records meant reading Faust's private bookkeeping (read offsets, gaps,
acknowledged offsets). Here the raw topic uses aiokafka's public API only; Faust keeps the
alert input topic, its agent and its timers (another group, :attr:`KafkaSettings.group_id`).

The guarantees, as before:

* **Commit after write.** A record is acknowledged (:meth:`RawConsumer.ack`) by the ingest
  backend once what it produced is durable, in fetch order per partition; :class:`OffsetBook`
  keeps the offsets handed to the feed and commits up to the first one not acknowledged
  (so a gap in the offsets, a compacted record or a transaction marker, never holds a
  partition back and an unacknowledged record is never committed past). Commits run every
  ``BLO_KAFKA_COMMIT_INTERVAL_S``, on revoke and at shutdown.
* **Rebalances** (:class:`_Listener`). Revoke: the feed forgets the partitions' records
  not yet taken, the backend finishes and writes what it processed, the acknowledged offsets
  are committed, then the partitions are forgotten. Assign: each partition starts at its
  committed offset, and the backend restores its window state before any of its records
  goes on (aiokafka fetches for a new assignment while the listener still runs: what it
  returns meanwhile waits). A fetch in hand across a revoke is dropped: the revoke resets
  the positions to the committed offsets, so its records are fetched again.
* **Backpressure.** While the sink is backpressured the assigned partitions are paused
  (aiokafka then drops what it prefetched for them and fetches it again from the position
  once resumed: nothing is skipped) and ``getmany`` goes on being called, so the member is
  never taken for dead (``max.poll.interval.ms``).

**Upgrade.** Until this consumer, the raw topic was read by Faust's group
(``BLO_KAFKA_GROUP_ID``). Before it first joins, a worker gives every raw partition the raw
group has no offset for the one that group committed (:meth:`RawConsumer._carry_over`): an
upgrade neither re-reads the topic nor skips any of it. Stop every worker of the older
version before starting the new one: the two groups would otherwise both read the topic
(docs/deployment.md, "Upgrade").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from blo.kafka_config import aiokafka_kwargs
from blo.metrics import Metrics
from blo.settings import KafkaSettings
from streams.backend import TP, Positions
from streams.ingest import RawRecord
from streams.raw_feed import RawFeed

log = logging.getLogger("blo.raw_consumer")

GETMANY_TIMEOUT_MS = 500
"""How long one ``getmany`` waits for records (a stop or a pause is seen within this)."""


def raw_group_id(k: KafkaSettings) -> str:
    """The raw topic's consumer group: ``<BLO_KAFKA_GROUP_ID>.raw``."""
    return f"{k.group_id}.raw"


class OffsetBook:
    """Per partition: the offsets handed on (in fetch order), which of them are
    acknowledged, and the offset that may be committed. Pure."""

    def __init__(self) -> None:
        self._pending: dict[TP, deque[int]] = {}
        self._acked: dict[TP, set[int]] = {}
        self._next: dict[TP, int] = {}  # the offset to commit: one past the last done
        self._committed: dict[TP, int | None] = {}

    def start(self, tp: TP, committed: int | None) -> None:
        """``tp`` was assigned; fetching starts at ``committed`` (None: nothing committed)."""
        self._pending[tp] = deque()
        self._acked[tp] = set()
        self._committed[tp] = committed
        self._next.pop(tp, None)

    def started(self, tp: TP) -> bool:
        return tp in self._pending

    def fetched(self, tp: TP, offsets: Iterable[int]) -> None:
        """Offsets handed to the feed, ascending (and above any handed before)."""
        pending = self._pending.get(tp)
        if pending is not None:
            pending.extend(offsets)

    def ack(self, tp: TP, offset: int) -> bool:
        """Mark one offset done; False if ``tp`` is not ours (revoked) or it was not
        handed on."""
        pending = self._pending.get(tp)
        if pending is None or not pending or offset < pending[0]:
            return False
        acked = self._acked[tp]
        if offset == pending[0]:  # the usual case: acknowledgements come in order
            pending.popleft()
            last = offset
            while pending and pending[0] in acked:
                last = pending.popleft()
                acked.discard(last)
            self._next[tp] = last + 1
            return True
        if offset in acked:
            return False
        acked.add(offset)
        return True

    def to_commit(self, tps: Iterable[TP] | None = None) -> dict[TP, int]:
        """The offsets to commit (of ``tps``, or every partition): those that moved since
        the last :meth:`committed`."""
        keys = self._next.keys() if tps is None else [t for t in tps if t in self._next]
        return {tp: self._next[tp] for tp in keys
                if self._next[tp] != self._committed.get(tp)}

    def committed(self, offsets: dict[TP, int]) -> None:
        for tp, off in offsets.items():
            if tp in self._pending:
                self._committed[tp] = off

    def committed_offset(self, tp: TP) -> int | None:
        return self._committed.get(tp)

    def waiting(self, tp: TP) -> int:
        """Offsets handed on and not yet committable."""
        pending = self._pending.get(tp)
        return len(pending) if pending is not None else 0

    def forget(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self._pending.pop(tp, None)
            self._acked.pop(tp, None)
            self._next.pop(tp, None)
            self._committed.pop(tp, None)

    def partitions(self) -> list[TP]:
        return list(self._pending)


Rebalance = Callable[[Sequence[TP]], Awaitable[None]]


class RawConsumer:
    """The raw topic's group member. ``on_assign`` / ``on_revoke``: the backend's
    (:meth:`streams.backend.IngestBackend.assign`, ``revoke``); ``on_error``: an error that
    must stop the worker."""

    def __init__(self, k: KafkaSettings, feed: RawFeed, metrics: Metrics, *,
                 on_assign: Callable[[set[TP]], Awaitable[None]],
                 on_revoke: Rebalance,
                 on_error: Callable[[BaseException], None]) -> None:
        self.k = k
        self.topic = k.topic_raw
        self.group_id = raw_group_id(k)
        self.feed = feed
        self.metrics = metrics
        self.on_assign = on_assign
        self.on_revoke = on_revoke
        self.on_error = on_error
        self.book = OffsetBook()
        self.generation = 0  # moves at every revoke (which resets the fetch positions)
        self.paused = False
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = False
        self._commit_lock = asyncio.Lock()
        self._settled = asyncio.Event()  # set while no rebalance is in progress

    # -- what the worker calls ---------------------------------------------------------
    async def run(self) -> None:
        """Join the group and fetch until :meth:`stop_fetching` (the app's task)."""
        consumer = self._consumer = self._new_consumer()
        await self._start(consumer)
        await self._carry_over(consumer)
        consumer.subscribe([self.topic], listener=_Listener(self))
        committer = asyncio.ensure_future(self._commit_every(self.k.commit_interval_s))
        try:
            while not self._stopping:
                await self._fetch_once(consumer)
        finally:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer

    async def ack(self, record: RawRecord) -> bool:
        """The backend's acknowledgement of one record (durable)."""
        src = record.source
        return self.book.ack((src.topic, src.partition), src.offset)

    def pause(self, active: bool) -> None:
        """The events sink is backpressured (``active``) or has room again."""
        self.paused = active
        consumer = self._consumer
        if consumer is None:
            return
        tps = list(consumer.assignment())
        if active:
            consumer.pause(*tps)
            self.metrics.pauses.inc()
            self.metrics.paused_partitions.set(len(tps))
            log.debug("sink backpressured: paused %d partitions", len(tps))
        else:
            consumer.resume(*tps)
            self.metrics.paused_partitions.set(0)
            log.debug("sink has room again: resumed %d partitions", len(tps))

    def partitions(self) -> set[int]:
        """The raw partitions this worker owns (assigned to it in the raw group)."""
        return {p for t, p in self.book.partitions() if t == self.topic}

    def positions(self) -> Positions:
        """The fetch high watermark and committed offset of each assigned raw partition."""
        consumer = self._consumer
        if consumer is None:
            return {}
        return {(tp.topic, tp.partition): (consumer.highwater(tp),
                                           self.book.committed_offset((tp.topic, tp.partition)))
                for tp in consumer.assignment()}

    async def stop_fetching(self) -> None:
        """The shutdown begins: no fetch from here (what was fetched is still processed)."""
        self._stopping = True

    async def close(self) -> None:
        """After the backend drained: commit what it acknowledged and leave the group."""
        self._stopping = True
        consumer = self._consumer
        if consumer is None:
            return
        try:
            await self.commit()
            left = sum(self.book.waiting(tp) for tp in self.book.partitions())
            if left:
                log.info("raw consumer closing: %d records fetched and not written, "
                         "read again at the next start", left)
        finally:
            self._consumer = None
            await consumer.stop()

    async def commit(self, tps: Iterable[TP] | None = None) -> None:
        """Commit the acknowledged offsets (of ``tps``, or of every partition). A commit the
        broker refuses is logged and tried again on the next interval: at worst records are
        delivered again, never lost."""
        consumer = self._consumer
        if consumer is None:
            return
        async with self._commit_lock:
            offsets = self.book.to_commit(tps)
            if not offsets:
                return
            try:
                await consumer.commit({TopicPartition(*tp): OffsetAndMetadata(off, "")
                                       for tp, off in offsets.items()})
            except KafkaError as e:
                log.warning("committing %d raw partitions failed (%s): tried again on the "
                            "next interval", len(offsets), e)
                return
            self.book.committed(offsets)

    # -- internals ---------------------------------------------------------------------
    def _new_consumer(self) -> AIOKafkaConsumer:
        k = self.k
        return AIOKafkaConsumer(
            **aiokafka_kwargs(k, "consumer"),
            group_id=self.group_id,
            client_id=f"{self.group_id}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=k.fetch_max_wait_ms,
            session_timeout_ms=int(k.session_timeout_s * 1000),
            heartbeat_interval_ms=int(max(0.5, k.session_timeout_s / 4) * 1000),
            rebalance_timeout_ms=int(max(k.session_timeout_s * 2, 20.0) * 1000),
        )

    async def _start(self, consumer: AIOKafkaConsumer) -> None:
        """Connect, retrying while the broker is unreachable (an outage at start is ridden
        out, as everywhere else)."""
        delay = 0.5
        while True:
            try:
                await consumer.start()
                return
            except KafkaError as e:
                log.warning("raw consumer cannot reach the broker (%s): retrying in %.0f s",
                            e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _fetch_once(self, consumer: AIOKafkaConsumer) -> None:
        batch = await consumer.getmany(timeout_ms=GETMANY_TIMEOUT_MS)
        # What getmany returns is of the assignment it returns in: a rebalance may have come
        # while it waited, and aiokafka fetches for a new assignment while the listener is
        # still restoring it. So nothing goes on before the listener is done; nothing at all
        # if a revoke came since (it resets the positions to the committed offsets: the
        # records are fetched again).
        generation = self.generation
        if batch and not self._settled.is_set():
            await self._settled.wait()
        feed = self.feed
        for tp, records in batch.items():
            if not records:
                continue
            await feed.wait_room()
            if self._stopping or generation != self.generation:
                return
            key = (tp.topic, tp.partition)
            if not self.book.started(key):  # not restored yet (cannot happen: checked)
                log.error("raw partition %d fetched before its assignment was restored: "
                          "fetched again", tp.partition)
                consumer.seek(tp, records[0].offset)
                continue
            feed.offer(key, records)
            self.book.fetched(key, [r.offset for r in records])

    async def _commit_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.commit()
            except Exception:
                log.exception("committing the raw partitions failed")

    async def _revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.generation += 1
        self._settled.clear()  # until the next assignment is restored
        tps = [(tp.topic, tp.partition) for tp in revoked]
        if not tps:
            return
        t0 = time.monotonic()
        self.feed.forget(tps)  # fetched, not taken: the new owner reads them again
        await self.on_revoke(tps)  # the batch in progress finishes and is written
        await self.commit(tps)
        self.book.forget(tps)
        log.info("raw partitions %s revoked in %.1f s", sorted(p for _, p in tps),
                 time.monotonic() - t0)

    async def _assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._settled.clear()  # (cleared by the revoke already; not before the first one)
        try:
            consumer = self._consumer
            if consumer is None:
                return
            tps = sorted(assigned)
            for tp in tps:
                self.book.start((tp.topic, tp.partition), await consumer.committed(tp))
            await self.on_assign({(tp.topic, tp.partition) for tp in tps})
            if self.paused and tps:
                consumer.pause(*tps)
                self.metrics.paused_partitions.set(len(tps))
            log.info("raw partitions %s assigned", [tp.partition for tp in tps])
        finally:
            self._settled.set()

    async def _carry_over(self, consumer: AIOKafkaConsumer) -> None:
        """Before joining: a raw partition the raw group has no offset for gets the one the
        worker's former group committed, if any (see *Upgrade* above)."""
        k = self.k
        await consumer.topics()  # the topic's metadata
        parts = consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        missing = [tp for tp in tps if await consumer.committed(tp) is None]
        if not missing:
            return
        legacy = await self._legacy_offsets(missing)
        if not legacy:
            return
        mover = AIOKafkaConsumer(**aiokafka_kwargs(k, "consumer"), group_id=self.group_id,
                                 enable_auto_commit=False)
        try:
            await mover.start()
            mover.assign(list(legacy))
            await mover.commit({tp: OffsetAndMetadata(off, "") for tp, off in legacy.items()})
        except KafkaError as e:  # another worker of the new version carried them first
            log.warning("could not carry the raw offsets over from group %s (%s): another "
                        "worker of this version may have", k.group_id, e)
            return
        finally:
            await mover.stop()
        log.info("raw offsets carried over from group %s to group %s: %s", k.group_id,
                 self.group_id, {tp.partition: off for tp, off in sorted(legacy.items())})

    async def _legacy_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The offsets the worker's former group (Faust's, ``BLO_KAFKA_GROUP_ID``) committed
        on the raw topic, read without joining it."""
        k = self.k
        old = AIOKafkaConsumer(**aiokafka_kwargs(k, "consumer"), group_id=k.group_id,
                               enable_auto_commit=False)
        out: dict[TopicPartition, int] = {}
        try:
            await old.start()
            for tp in tps:
                off = await old.committed(tp)
                if off is not None:
                    out[tp] = off
        finally:
            await old.stop()
        return out


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka awaits these around every rebalance, and logs and swallows what they raise:
    so an error here stops the worker instead (nothing guessed)."""

    def __init__(self, owner: RawConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        try:
            await self.owner._revoked(revoked)
        except Exception as e:
            log.exception("revoking raw partitions failed")
            self.owner.on_error(e)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        try:
            await self.owner._assigned(assigned)
        except Exception as e:
            log.exception("assigning raw partitions failed")
            self.owner.on_error(e)
