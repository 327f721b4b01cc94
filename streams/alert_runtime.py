"""The glue between the worker and the pure alert core (:mod:`streams.alerts`).

* **Input.** The one-partition alert input topic (:mod:`schemas.alert_input`): window rows,
  station progress (latest event time, ``source_seq`` numbers, the events paired rules
  watch), partition progress and acknowledgements, produced by every ingest worker and by
  ``blo alerts ack``. Whichever worker the consumer group gives that partition runs the one
  :class:`~streams.alerts.AlertEngine`; the others only feed it. So roll-ups over several
  stations are exact with any number of workers.
* **Output.** Every alert version goes to the ``alerts`` table (through the sink), the
  alerts topic and the webhook; the input records are acknowledged only once the table
  write is durable (commit after write).
* **Recovery.** On assignment of the input partition the engine is rebuilt from ClickHouse
  (:meth:`AlertRuntime.restore`, the order of docs/alerts.md "After a restart"): the latest
  ``alerts`` rows, each station's latest event time and recent ``source_seq`` numbers, the
  events of paired rules' types and the recent ``window_stats`` rows. Input redelivered
  after a crash then changes nothing it already changed: alert ids are deterministic and an
  id fires at most once, so each (alert id, version) is written once in the readers' view.
* **Caught up.** The engine may declare silence, a lost number or a settled window only on
  a tick where its own input is read to the end *and* every raw partition's worker reported
  itself caught up within ``BLO_ALERTS_PROGRESS_STALE_S``: a restart, a replay or a dead
  worker is not a silent post.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from blo.metrics import Metrics
from blo.settings import AlertSettings
from schemas.alert_input import (
    Acknowledgement,
    AlertInput,
    BadInput,
    MuteRequest,
    PartitionProgress,
    StationsProgress,
    WindowRows,
    decode,
)
from schemas.station import Registry
from sinks.base import ReadingSink, Row
from sinks.read_model import Query
from sinks.read_model import alerts as alert_reads
from sinks.read_model import events as event_reads
from sinks.read_model import windows as window_reads
from sinks.tables import ALERTS
from sinks.webhook import WebhookNotifier
from streams.alert_baseline import BaselineHistory
from streams.alert_input import WINDOW_ROW_WIDTH
from streams.alerts import (
    AlertEngine,
    AlertUpdate,
    PairedRule,
    RulesError,
    RuleSet,
    SequenceGapRule,
    UnknownAlert,
    alert_message,
    format_problems,
    load_rules,
)
from streams.alerts.gaps import parse_gap_key
from streams.alerts.history import is_historical
from streams.alerts.mutes import MuteBook, Places, muting
from streams.alerts.rules import WindowRule
from streams.windows.assign import max_length_s
from streams.windows.config import WindowConfig

log = logging.getLogger("blo.alerts")

Producer = Callable[[str, bytes, bytes], Awaitable[Any]]
Acker = Callable[[Any], Awaitable[Any]]

STATIONS_PER_READ = 100
"""At most this many stations per restore read: each is one OR term, and ClickHouse 18.16
analyses an OR in time growing with the square of its terms (1,000 stations: 10-56 s, past
the read timeout, on an empty table), besides the 256 KiB query size limit."""


def _batches(items: Sequence[Any], n: int = STATIONS_PER_READ) -> list[Sequence[Any]]:
    """``items`` in consecutive runs of at most ``n`` (stations sorted: each station's
    reads stay in one run and in order)."""
    return [items[i:i + n] for i in range(0, len(items), n)]


_A_ID = ALERTS.index("alert_id")
_A_VERSION = ALERTS.index("version")
_A_RULE = ALERTS.index("rule_id")
_A_STATE = ALERTS.index("state")
_A_SCOPE = ALERTS.index("scope")
_A_SCOPE_KEY = ALERTS.index("scope_key")
_A_STATION = ALERTS.index("station_id")


def paired_types(ruleset: RuleSet) -> frozenset[str]:
    """The event types any paired rule watches (what ingest workers send as events)."""
    return frozenset(t for r in ruleset.rules if isinstance(r, PairedRule)
                     for t in r.event_types)


def registry_pairs(registry: Registry) -> dict[str, str]:
    """station → paired station, from each station's latest registry record."""
    out = {}
    for sid in registry.station_ids():
        rec = registry.latest(sid)
        if rec is not None and rec.paired_blo:
            out[sid] = rec.paired_blo
    return out


def registry_places(registry: Registry) -> dict[str, tuple[str, str]]:
    """station → (country, border), from each station's latest registry record (where a
    mute's country or border scope finds it)."""
    out = {}
    for sid in registry.station_ids():
        rec = registry.latest(sid)
        if rec is not None:
            out[sid] = (rec.country, rec.border)
    return out


class RulesFile:
    """The rules file and its last good content; :meth:`changed` re-reads it when its
    modification time or size changed. A broken edit keeps the previous rules."""

    def __init__(self, path: Path, windows: Sequence[str]) -> None:
        self.path = path
        self.windows = tuple(windows)
        self._stamp: tuple[int, int] | None = None
        self.ruleset = load_rules(path, self.windows)  # the first load must succeed
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def changed(self) -> RuleSet | None:
        """The new rules if the file changed and loads; raises :class:`RulesError` if it
        changed and does not (the caller keeps the old rules); ``None`` if unchanged."""
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return None
        self._stamp = stamp
        new = load_rules(self.path, self.windows)
        if new == self.ruleset:
            return None
        self.ruleset = new
        return new


class AlertRuntime:
    def __init__(
        self,
        *,
        settings: AlertSettings,
        window_config: WindowConfig,
        registry: Registry,
        sink: ReadingSink,
        database: str,
        metrics: Metrics,
        produce: Producer,
        alerts_topic: str | None,
        raw_partitions: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.window_config = window_config
        self.registry = registry
        self.sink = sink
        self.database = database
        self.metrics = metrics
        self.produce = produce
        self.alerts_topic = alerts_topic
        self.raw_partitions = raw_partitions
        self.clock = clock
        self.rules = RulesFile(settings.rules_path(),
                               [w.name for w in window_config.windows])
        self.baseline = BaselineHistory(self._query, database)
        self.engine: AlertEngine | None = None  # only on the owner of the input partition
        self.ready = asyncio.Event()  # set once the engine is restored
        self.processed_next: int | None = None  # next input offset after the last handled
        self.progress: dict[int, tuple[bool, float]] = {}  # raw partition → (caught up, at)
        self.webhook: WebhookNotifier | None = None
        self.on_rules_changed: list[Callable[[RuleSet], None]] = []
        # restored stations whose sequence count is not started yet → latest stored time
        self._unprimed: dict[str, int] = {}
        self._restored_alerts: list[Row] = []
        self.mutes = MuteBook()  # held with the engine; restored from alert_mutes
        self._mute_rows: list[Row] = []  # mute versions not yet written
        self._lock = asyncio.Lock()
        self._gauge_keys: set[tuple[str, str]] = set()
        metrics.alert_rules.set(len(self.rules.ruleset.rules))
        # NaN, not 0, on workers that do not run the engine: `== 0` alerts only its owner
        metrics.alert_engine_caught_up.set(float("nan"))

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the webhook senders (inside the running loop)."""
        url = self.settings.webhook_url
        if url is not None and self.webhook is None:
            s = self.settings
            self.webhook = WebhookNotifier(
                url.get_secret_value(), timeout_s=s.webhook_timeout_s,
                max_attempts=s.webhook_max_attempts, concurrency=s.webhook_concurrency,
                queue_max=s.webhook_queue_max,
                on_outcome=lambda o: self.metrics.webhook_deliveries.labels(o).inc())
            self.webhook.start()

    def _resend_webhook(self) -> None:
        """The webhook queue lives in memory: deliveries pending at a crash would be lost,
        and input read again after it writes nothing new. So the latest version of every
        restored alert (firing, or resolved within the horizon) is sent again; receivers
        de-duplicate on (alert id, version)."""
        self.start()
        if self.webhook is None:
            return
        places, now = self._places(), self.clock()
        for row in self._restored_alerts:
            if self._muted(row, places, now):
                continue
            self.webhook.notify(str(row[_A_ID]), int(row[_A_VERSION]), alert_message(row))

    async def close(self) -> None:
        if self.webhook is not None:
            await self.webhook.close(timeout_s=5.0)

    async def _query(self, sql: str, params: Any) -> list[Row]:
        rows: list[Row] = await self.sink.query(sql, params, table="alerts")
        return rows

    async def _read(self, q: Query) -> list[Row]:
        return await self._query(*q)

    # -- rules -----------------------------------------------------------------------------
    def paired_types(self) -> frozenset[str]:
        return paired_types(self.rules.ruleset)

    async def reload_rules(self) -> bool:
        """Timer: apply a changed rules file. Returns True when the rules changed."""
        m = self.metrics
        try:
            new = self.rules.changed()
        except RulesError as e:
            m.alert_rule_reloads.labels("error").inc()
            log.error("rules file %s changed but cannot be used; keeping the previous rules:"
                      "\n%s", self.rules.path, format_problems(e.problems))
            return False
        except OSError as e:
            m.alert_rule_reloads.labels("error").inc()
            log.error("cannot read the rules file %s: %s", self.rules.path, e)
            return False
        if new is None:
            return False
        m.alert_rule_reloads.labels("ok").inc()
        m.alert_rules.set(len(new.rules))
        log.info("rules reloaded from %s: %d rules", self.rules.path, len(new.rules))
        for cb in self.on_rules_changed:
            cb(new)
        async with self._lock:
            engine = self.engine
            if engine is not None:
                engine.reload(new)
                # new or changed window rules see the recent past (docs/alerts.md)
                await self._refeed_windows(engine, self.clock())
                await self._write(_drain(engine), None)
        return True

    # -- partitions ------------------------------------------------------------------------
    def forget(self) -> None:
        """The input partition went to another worker."""
        self.engine = None
        self.metrics.alert_engine_caught_up.set(float("nan"))
        self.ready.clear()
        self.processed_next = None
        self.progress.clear()
        self.baseline.forget()
        self._unprimed.clear()
        self._restored_alerts = []
        self.mutes = MuteBook()
        self._mute_rows = []

    async def restore(self) -> None:
        """Rebuild the engine from ClickHouse (this worker got the input partition)."""
        self.ready.clear()
        started = time.monotonic()
        async with self._lock:
            engine = AlertEngine(
                self.rules.ruleset, pairs=registry_pairs(self.registry),
                baseline=self.baseline, retain_s=self.settings.retain_s,
                max_resolved=self.settings.max_resolved, history_s=self.settings.history_s)
            counts = await self._restore(engine, self.clock())
            self.engine = engine
            self.start()  # versions the re-fed input makes are notified like any other
            await self._write(_drain(engine), None)
            self._resend_webhook()
            self.ready.set()
        took = time.monotonic() - started
        self.metrics.alert_restores.inc()
        self._gauges()
        log.info("alert engine restored in %.2f s: %d alerts, %d stations, %d paired events, "
                 "%d window rows", took, *counts)

    def _horizon_s(self) -> int:
        """How far back (event time) restore re-feeds window rows and events."""
        span = 0.0
        for r in self.rules.ruleset.rules:
            if isinstance(r, WindowRule):
                w = next((w for w in self.window_config.windows if w.name == r.window), None)
                length = max_length_s(w) if w is not None else 0
                span = max(span, length + r.for_s + r.settle_s + self.settings.retain_s)
            elif isinstance(r, PairedRule):
                span = max(span, 2 * r.span_s)
            elif isinstance(r, SequenceGapRule):
                span = max(span, r.reorder_s)
        return int(span) + 60

    async def _restore(self, engine: AlertEngine, now: float) -> tuple[int, int, int, int]:
        db, read = self.database, self._read
        rules = self.rules.ruleset.rules
        # mutes first (a few rows), even on a fresh pipeline: restored alerts that are
        # muted are not notified again
        self.mutes = MuteBook()
        self.mutes.restore(await read(alert_reads.current_mutes(db)))
        latest_rows = await read(window_reads.latest_window_event(db))
        seen = await read(event_reads.latest_event_per_station(db))
        top = max([_epoch_or_0(r[0]) for r in latest_rows]
                  + [_epoch_or_0(r[3]) for r in seen] or [0])
        if top == 0:
            return 0, 0, 0, 0  # nothing stored yet: a fresh pipeline
        horizon = top - self._horizon_s()
        # 1. alerts: every firing one, and the resolved ones of the horizon
        alerts = await read(alert_reads.current_alerts(db, horizon))
        engine.restore(alerts)
        # 2. station trackers: latest event time, then recent numbers, then gap ranges
        live: dict[str, int] = {}
        for sid, country, border, t, ingested in seen:
            engine.on_station_seen(str(sid), _epoch_or_0(t), country=str(country),
                                   border=str(border), processed_at_s=_epoch_or_0(ingested))
            if not is_historical(_epoch_or_0(t), _epoch_or_0(ingested), engine.history_s):
                live[str(sid)] = _epoch_or_0(t)
        # sequence numbers: primed per station when its first number arrives (_prime); a
        # station whose latest event is historical (imported) has no live count to resume
        self._unprimed = live
        self._restored_alerts = alerts
        # paired rules: the stored events of their types within two spans
        n_ev = 0
        types = paired_types(self.rules.ruleset)
        if types:
            span = max(r.span_s for r in rules if isinstance(r, PairedRule))
            evs = await read(event_reads.events_of_types_since(db, types, int(top - 2 * span)))
            for sid, et, t, eid in evs:
                engine.on_event(str(sid), str(et), _epoch_or_0(t), str(eid))
                n_ev += 1
        # 3. the recent window rows
        n_rows = await self._refeed_windows(engine, now, top=top)
        return len(alerts), len(seen), n_ev, n_rows

    async def _prime(self, engine: AlertEngine, until: dict[str, int]) -> int:
        """Start the sequence count of restored stations where the previous engine left it.

        Each station's stored numbers of the reorder window before ``until`` (the event
        time of its first number read after the restart, or its latest stored one) are fed
        in number order — every stored number between the lowest and the highest of that
        window, so a number reported late with an older event time is not taken for lost —
        then the stored numbers inside its restored open gaps. Numbers before that window
        were judged by the previous engine; numbers after it arrive again from the input
        topic. Priming from the latest stored number instead would set the count past
        numbers the previous engine never read (it lagged, or its input was not committed)
        and they would be ignored as old: gaps lost.
        """
        for sid in until:
            self._unprimed.pop(sid, None)
        gap_rules = [r for r in self.rules.ruleset.rules if isinstance(r, SequenceGapRule)]
        if not gap_rules or not until:
            return 0
        reorder = int(max(r.reorder_s for r in gap_rules)) + 60
        spans: list[Row] = []
        for part in _batches(sorted(until.items())):
            spans += await self._read(event_reads.sequence_spans(self.database, dict(part),
                                                                 reorder))
        got: list[Row] = []
        for chunk in _batches(sorted((str(sid), int(lo), int(hi)) for sid, lo, hi in spans)):
            got += await self._read(event_reads.sequence_numbers(self.database, chunk))
        for sid, seq, t in got:
            engine.on_sequence(str(sid), int(seq), _epoch_or_0(t))
        alerts = [r for r in self._restored_alerts if str(r[_A_STATION]) in until]
        return len(got) + await self._refill_gaps(engine, alerts, {r.id for r in gap_rules})

    async def _refill_gaps(self, engine: AlertEngine, alerts: list[Row], rule_ids: set[str]
                           ) -> int:
        """Feed the stored numbers inside restored open gaps (one query for all), so a gap
        partly filled before the crash can still resolve."""
        ranges: dict[str, list[tuple[int, int]]] = {}
        for row in alerts:
            if row[_A_STATE] != "firing" or row[_A_RULE] not in rule_ids:
                continue
            parsed = parse_gap_key(str(row[_A_SCOPE_KEY]))
            if parsed is not None:
                sid, lo, hi = parsed
                ranges.setdefault(sid, []).append((lo, hi))
        if not ranges:
            return 0
        got: list[Row] = []
        for chunk in _batches([(sid, min(lo for lo, _ in spans), max(hi for _, hi in spans))
                               for sid, spans in sorted(ranges.items())]):
            got += await self._read(event_reads.sequence_numbers_final(self.database, chunk))
        n = 0
        for sid, seq, t in got:
            sid, seq = str(sid), int(seq)
            if any(lo <= seq <= hi for lo, hi in ranges[sid]):
                engine.on_sequence(sid, seq, _epoch_or_0(t))
                n += 1
        return n

    async def _refeed_windows(self, engine: AlertEngine, now: float, top: int | None = None
                              ) -> int:
        db = self.database
        kinds = tuple(sorted({r.window for r in self.rules.ruleset.rules
                              if isinstance(r, WindowRule)}))
        if not kinds:
            return 0
        if top is None:
            got = await self._read(window_reads.latest_window_event(db))
            top = _epoch_or_0(got[0][0]) if got else 0
        since = max(0, (top or int(now)) - self._horizon_s())
        rows = await self._read(window_reads.window_rows_ending_after(db, kinds, since))
        if rows:
            await self.baseline.prefetch(self.rules.ruleset, rows)
            engine.on_window_rows(rows)
        return len(rows)

    # -- input -----------------------------------------------------------------------------
    async def handle(self, events: Sequence[Any], acker: Acker) -> None:
        """One batch of input records (Faust events, raw values), in offset order."""
        if not self.ready.is_set():
            await self.ready.wait()
        async with self._lock:
            engine = self.engine
            if engine is None:
                return  # revoked meanwhile: the new owner reads these records again
            self._update_pairs(engine)
            m = self.metrics
            decoded: list[AlertInput] = []
            for ev in events:
                try:
                    decoded.append(decode(ev.value, window_row_width=WINDOW_ROW_WIDTH))
                except BadInput as e:
                    m.alert_input_records.labels("bad").inc()
                    log.warning("alert input %s[%d]@%d skipped: %s", ev.message.topic,
                                ev.message.partition, ev.message.offset, e)
            rows = [r for d in decoded if isinstance(d, WindowRows) for r in d.rows]
            if rows:
                await self.baseline.prefetch(self.rules.ruleset, rows)
            if self._unprimed:
                first: dict[str, int] = {}
                for d in decoded:
                    if not isinstance(d, StationsProgress):
                        continue
                    for st in d.stations:
                        if st.station_id in self._unprimed and st.seqs:
                            t = int(min(t for _, t in st.seqs))
                            first[st.station_id] = min(first.get(st.station_id, t), t)
                if first:
                    await self._prime(engine, first)
            for d in decoded:
                m.alert_input_records.labels(d.KIND).inc()
                self._apply(engine, d)
            if events:
                self.processed_next = events[-1].message.offset + 1
            handles = list(events)

            async def on_durable() -> None:
                for h in handles:
                    await acker(h)

            await self._write(_drain(engine), on_durable)
        self._gauges()

    def _apply(self, engine: AlertEngine, d: AlertInput) -> None:
        match d:
            case WindowRows(rows=rows):
                engine.on_window_rows(rows)
            case StationsProgress(stations=stations, at_s=at_s):
                for st in stations:
                    engine.on_station_seen(st.station_id, st.last_event_s, country=st.country,
                                           border=st.border, processed_at_s=at_s)
                    for seq, t in st.seqs:
                        engine.on_sequence(st.station_id, seq, t, processed_at_s=at_s)
                    for et, t, eid in st.events:
                        engine.on_event(st.station_id, et, t, eid, processed_at_s=at_s)
            case PartitionProgress(parts=parts, at_s=at_s):
                for p, caught_up in parts.items():
                    self.progress[p] = (caught_up, at_s)
            case Acknowledgement(alert_id=aid, by=who, comment=comment, at_s=at_s):
                self._acknowledge(engine, aid, who, comment, at_s)
            case MuteRequest():
                self._mute(d)

    def _mute(self, req: MuteRequest) -> None:
        new, why = self.mutes.apply(req)
        if new is None:
            log.warning("mute %s (%s by %s) changes nothing: %s", req.mute_id, req.op, req.by,
                        why)
            return
        self._mute_rows.append(new.row())
        log.info("mute %s %s by %s: rule %r, scope %r, until %d, reason %r", new.mute_id,
                 "created" if req.op == "create" else "ended", req.by, new.rule_id,
                 new.scope_key, new.ends_at, new.reason)

    def _places(self) -> Places:
        return registry_places(self.registry)

    def _muted(self, row: Row, places: Places, now: float) -> bool:
        """Whether an active mute covers the alert of ``row`` (then it is not notified)."""
        return muting(self.mutes.mutes.values(), str(row[_A_RULE]), str(row[_A_SCOPE]),
                      str(row[_A_SCOPE_KEY]), str(row[_A_STATION]), places, now) is not None

    def _acknowledge(self, engine: AlertEngine, aid: str, who: str, comment: str,
                     at_s: float) -> None:
        try:
            engine.acknowledge(aid, who, comment, at_s)
            self.metrics.alert_acks.labels("ok").inc()
            log.info("alert %s acknowledged by %s", aid, who)
        except UnknownAlert:
            self.metrics.alert_acks.labels("unknown").inc()
            log.warning("acknowledgement of %s by %s ignored: no such alert (or resolved "
                        "too long ago)", aid, who)

    def raw_caught_up(self, now: float) -> bool:
        """Every raw partition reported caught up within ``progress_stale_s``."""
        stale = self.settings.progress_stale_s
        for p in range(self.raw_partitions):
            got = self.progress.get(p)
            if got is None or not got[0] or now - got[1] > stale:
                return False
        return True

    async def tick(self, input_caught_up: bool) -> None:
        """Timer: wall-clock time passes (see the module docstring for "caught up")."""
        if not self.ready.is_set() or self.engine is None:
            return
        now = self.clock()
        caught_up = input_caught_up and self.raw_caught_up(now)
        self.metrics.alert_engine_caught_up.set(1 if caught_up else 0)
        async with self._lock:
            engine = self.engine
            if engine is None:
                return
            self._update_pairs(engine)
            if caught_up and self._unprimed:  # stations silent since the restart
                await self._prime(engine, {sid: t + 1 for sid, t in self._unprimed.items()})
            engine.tick(now, caught_up)
            await self._write(_drain(engine), None)
        self._gauges()

    def _update_pairs(self, engine: AlertEngine) -> None:
        """Follow the registry's pairs (a post registered or re-paired since the restore)."""
        pairs = registry_pairs(self.registry)
        if pairs != engine.pairs:
            engine.set_pairs(pairs)

    # -- output ----------------------------------------------------------------------------
    async def _write(self, updates: list[AlertUpdate],
                     on_durable: Callable[[], Awaitable[None]] | None) -> None:
        m = self.metrics
        rows = [u.row for u in updates]
        for u in updates:
            m.alert_versions.labels(u.alert.rule_id, u.alert.severity, u.transition).inc()
        if rows:
            messages = [(str(u.alert.alert_id), u.alert.version, alert_message(u.row))
                        for u in updates]
            if self.alerts_topic:
                await asyncio.gather(*(self.produce(self.alerts_topic, aid.encode(), body)
                                       for aid, _, body in messages))
            if self.webhook is not None:
                # a muted alert is stored and published, never notified (docs/alerts.md)
                places, now = self._places(), self.clock()
                for (aid, version, body), row in zip(messages, rows, strict=True):
                    if self._muted(row, places, now):
                        m.webhook_deliveries.labels("muted").inc()
                        continue
                    self.webhook.notify(aid, version, body)
        mute_rows, self._mute_rows = self._mute_rows, []
        if rows or mute_rows or on_durable is not None:
            tables: dict[str, list[Row]] = {"alerts": list(rows)}
            if mute_rows:
                tables["alert_mutes"] = mute_rows
            await self.sink.submit(tables, on_durable=on_durable)

    def _gauges(self) -> None:
        engine = self.engine
        if engine is None:
            return
        counts: dict[tuple[str, str], int] = {}
        for a in engine.open_alerts():
            k = (a.rule_id, a.severity)
            counts[k] = counts.get(k, 0) + 1
        g = self.metrics.alerts_open
        for k in self._gauge_keys - counts.keys():
            g.labels(*k).set(0)
        for k, n in counts.items():
            g.labels(*k).set(n)
        self._gauge_keys = set(counts)


def _drain(engine: AlertEngine) -> list[AlertUpdate]:
    """The engine's updates since the last drain (rows and transitions), emptied."""
    updates = list(engine.book.updates)
    engine.drain()
    return updates


def _epoch_or_0(v: Any) -> int:
    from streams.alerts.rows import epoch

    return epoch(v) if v is not None else 0


