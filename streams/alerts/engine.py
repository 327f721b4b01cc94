"""The alert engine: every rule over one stream of inputs, producing ``alerts`` rows. Pure.

No Kafka, ClickHouse, clock or randomness: time is what the inputs say (window rows' and
events' times, ``tick``'s ``now``), so the same inputs in the same order produce the same
rows — same ids, same versions (docs/alerts.md).

Inputs (each returns the :class:`AlertUpdate` s it caused; :meth:`AlertEngine.drain` hands
their rows over for the ``alerts`` table, the topic and the webhook):

* :meth:`on_window_rows` / :meth:`on_window_row` — ``window_stats`` rows (table column
  order), of *all* stations: roll-ups (country, border, all) are sums over station rows,
  so one engine must see every row. A batch is applied whole before any judgement: feed a
  tick's emission as one batch;
* :meth:`on_station_seen` — a station's latest event time (silence rules);
* :meth:`on_sequence` — a station's ``source_seq`` (sequence-gap rules);
* :meth:`on_event` — an event's station, type, time and id (paired rules);
* :meth:`tick` — the wall clock and whether the input is caught up: only a caught-up tick
  may declare silence, a lost number, a settled window or a passed span.

Historical input (imports, backfills: processed more than ``history_s`` after its time,
:mod:`streams.alerts.history`) raises no silence, gap or paired alert, and window rules
judge it only with ``judge_history: true``. The station inputs take the processing time
as ``processed_at_s`` (``None``: live).

Recovery: :meth:`restore` takes the latest ``alerts`` rows (``alerts FINAL``: every firing
alert, and the resolved ones of the horizon the runtime re-feeds) before any input; the
open alerts stay open without a new version, and an alert id fires at most once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from schemas.rows import AlertRow
from streams.alerts.baseline import BaselineProvider
from streams.alerts.book import AlertBook, AlertUpdate
from streams.alerts.gaps import GapTracker
from streams.alerts.history import DEFAULT_HISTORY_S, is_historical
from streams.alerts.paired import PairedTracker, partners
from streams.alerts.rows import Alert, whole
from streams.alerts.rules import (
    BaselineRule,
    RuleSet,
    SequenceGapRule,
    SilenceRule,
    ThresholdRule,
)
from streams.alerts.silence import SilenceTracker, Stations
from streams.alerts.windowed import WindowRow, WindowTracker

_PRUNE_STEP_S = 600  # forget old windows in steps, not on every batch

Tracker = WindowTracker | SilenceTracker | GapTracker | PairedTracker


class AlertEngine:
    """Evaluates a :class:`RuleSet`; holds every alert's latest version.

    ``pairs``: station → paired station (paired rules). ``baseline``: the history of
    baseline rules (required when the rule set has one). ``retain_s``: how long (event
    time, beyond a rule's ``settle_s + for_s``) a window stays in memory after it ended,
    for corrections and roll-ups of late stations. ``max_resolved``: resolved alerts kept
    for acknowledgements and de-duplication. ``history_s``: input processed more than
    this after its time is historical (:mod:`streams.alerts.history`).
    """

    def __init__(self, ruleset: RuleSet, pairs: Mapping[str, str] | None = None,
                 baseline: BaselineProvider | None = None, *, retain_s: float = 7200,
                 max_resolved: int = 10_000, history_s: float = DEFAULT_HISTORY_S) -> None:
        self.pairs = dict(pairs or {})
        self.baseline = baseline
        self.retain_s = retain_s
        self.history_s = history_s
        self.book = AlertBook(max_resolved)
        self.stations = Stations()
        self.progress: dict[tuple[str, str], int] = {}  # (window kind, station) → latest
        self.ruleset = RuleSet(version=1)
        self.windowed: list[WindowTracker] = []
        self.silences: list[SilenceTracker] = []
        self.gaps: list[GapTracker] = []
        self.paired: list[PairedTracker] = []
        self.reload(ruleset)

    def reload(self, ruleset: RuleSet) -> None:
        """Evaluate ``ruleset`` from now on (a rules file changed). Rules whose definition
        is unchanged keep their state; a new or changed rule starts afresh (window rules:
        from the next rows — re-feed recent ``window_stats`` rows for roll-ups, ``for_s``
        and hysteresis to see the past). Alerts, open or not, are kept: a changed rule
        resolves its open alerts by its new definition; alerts of a removed rule stay as
        they are (acknowledge them)."""
        if self.baseline is None and any(isinstance(r, BaselineRule) for r in ruleset.rules):
            raise ValueError("baseline rules need a BaselineProvider")
        trackers: list[Tracker] = [*self.windowed, *self.silences, *self.gaps, *self.paired]
        old = {t.rule.id: t for t in trackers}
        self.ruleset = ruleset
        self.windowed, self.silences, self.gaps, self.paired = [], [], [], []
        for rule in ruleset.rules:
            kept = old.get(rule.id)
            if kept is not None and kept.rule == rule:
                tracker: Tracker = kept
            elif isinstance(rule, ThresholdRule | BaselineRule):
                tracker = WindowTracker(rule, self.book, self.baseline, self.progress)
            elif isinstance(rule, SilenceRule):
                tracker = SilenceTracker(rule, self.book, self.stations)
            elif isinstance(rule, SequenceGapRule):
                tracker = GapTracker(rule, self.book, self.stations)
                for alert in self.book.alerts.values():
                    if alert.rule_id == rule.id and alert.is_open:
                        tracker.restore_gap(alert.scope_key)
            else:
                tracker = PairedTracker(rule, self.book, self.pairs)
            if isinstance(tracker, WindowTracker):
                self.windowed.append(tracker)
            elif isinstance(tracker, SilenceTracker):
                self.silences.append(tracker)
            elif isinstance(tracker, GapTracker):
                self.gaps.append(tracker)
            else:
                self.paired.append(tracker)

    def set_pairs(self, pairs: Mapping[str, str]) -> None:
        """The registry's pairs changed (a post registered or re-paired): paired rules use
        the new pairs from the next event on."""
        self.pairs = dict(pairs)
        for tracker in self.paired:
            tracker.partner = partners(self.pairs)

    # -- inputs --------------------------------------------------------------------------

    def on_window_rows(self, rows: Iterable[Sequence[Any]]) -> list[AlertUpdate]:
        """Apply every row, then judge what changed (see the module docstring)."""
        start = len(self.book.updates)
        for row in rows:
            r = WindowRow.parse(row)
            self.stations.describe(r.station_id, r.country, r.border)
            pk = (r.window_kind, r.station_id)
            self.progress[pk] = max(self.progress.get(pk, 0), r.last_event_at)
            historical = is_historical(r.window_end, r.updated_at, self.history_s)
            for tracker in self.windowed:
                tracker.add(r, historical)
        self._judge_windows(None)
        return self.book.updates[start:]

    def on_window_row(self, row: Sequence[Any]) -> list[AlertUpdate]:
        return self.on_window_rows((row,))

    def on_station_seen(self, station_id: str, last_event_time_s: float, *,
                        country: str = "", border: str = "",
                        processed_at_s: float | None = None) -> list[AlertUpdate]:
        """The station's latest event time (whole seconds count); older times are ignored,
        and so is a historical one (it neither makes a post active nor ends a silence)."""
        start = len(self.book.updates)
        self.stations.describe(station_id, country, border)
        if is_historical(last_event_time_s, processed_at_s, self.history_s):
            return []
        t = whole(last_event_time_s)
        if self.stations.seen(station_id, t):
            for tracker in self.silences:
                tracker.seen(station_id, t)
        return self.book.updates[start:]

    def on_sequence(self, station_id: str, source_seq: int, occurred_at_s: float, *,
                    processed_at_s: float | None = None) -> list[AlertUpdate]:
        """A station's number; a historical one never starts its count (see GapTracker)."""
        start = len(self.book.updates)
        historical = is_historical(occurred_at_s, processed_at_s, self.history_s)
        for tracker in self.gaps:
            tracker.seen(station_id, int(source_seq), whole(occurred_at_s), historical)
        return self.book.updates[start:]

    def on_event(self, station_id: str, event_type: str, occurred_at_s: float,
                 event_id: UUID | str, *, processed_at_s: float | None = None
                 ) -> list[AlertUpdate]:
        """An event of a type paired rules watch; a historical one is ignored."""
        if is_historical(occurred_at_s, processed_at_s, self.history_s):
            return []
        start = len(self.book.updates)
        for tracker in self.paired:
            tracker.seen(station_id, event_type, whole(occurred_at_s), str(event_id))
        return self.book.updates[start:]

    def tick(self, now_s: float, caught_up: bool) -> list[AlertUpdate]:
        """Wall-clock time passes. Not caught up (replaying a backlog): nothing that only
        the absence of input could show — silence, a lost number, a complete window."""
        start = len(self.book.updates)
        now = whole(now_s)
        self._judge_windows(now if caught_up else None)
        for s in self.silences:
            s.tick(now, caught_up)
        for g in self.gaps:
            g.tick(now, caught_up)
        for p in self.paired:
            p.tick(now, caught_up)
        return self.book.updates[start:]

    def acknowledge(self, alert_id: UUID | str, who: str, comment: str,
                    at_s: float) -> AlertUpdate:
        """A new version of the alert with ``acked``, who, when and why; the state stays.
        Raises :class:`UnknownAlert` (a ``KeyError``) for an id the engine does not hold."""
        aid = alert_id if isinstance(alert_id, UUID) else UUID(str(alert_id))
        return self.book.acknowledge(aid, who, comment, whole(at_s))

    # -- outputs -------------------------------------------------------------------------

    def drain(self) -> list[AlertRow]:
        """The ``alerts`` rows of every update since the last drain, in order."""
        rows = [u.row for u in self.book.updates]
        self.book.updates.clear()
        return rows

    def open_alerts(self) -> list[Alert]:
        """The firing alerts (latest versions), by id."""
        alerts = (self.book.alerts[aid] for aid in self.book.open.values())
        return sorted(alerts, key=lambda a: str(a.alert_id))

    def state_snapshot(self) -> list[AlertRow]:
        """The latest row of every alert held (open ones, and recently resolved ones): what
        :meth:`restore` needs, like ``SELECT * FROM alerts FINAL``."""
        return [a.row() for a in sorted(self.book.alerts.values(), key=lambda a: str(a.alert_id))]

    def restore(self, rows: Iterable[Sequence[Any]]) -> None:
        """Take the latest ``alerts`` rows (any order; the highest version of an id wins).
        Call before feeding input; emits nothing."""
        for row in rows:
            alert = Alert.from_row(row)
            rule = self.ruleset.rule(alert.rule_id)
            self.book.restore(alert, float(getattr(rule, "cooldown_s", 0)))
            if not alert.is_open or rule is None:
                continue
            if isinstance(rule, SilenceRule) and alert.station_id:
                self.stations.seen(alert.station_id, alert.window_start)
            if isinstance(rule, SequenceGapRule):
                for g in self.gaps:
                    if g.rule.id == rule.id:
                        g.restore_gap(alert.scope_key)
        for p in self.paired:
            p.due = 0  # restored alerts may be due

    # -- internals -----------------------------------------------------------------------

    def _judge_windows(self, now: int | None) -> None:
        latest: dict[str, int] = {}
        for (kind, _), t in self.progress.items():
            latest[kind] = max(latest.get(kind, 0), t)
        for tracker in self.windowed:
            tracker.settle(now)
            tracker.evaluate()
            top = latest.get(tracker.rule.window)
            if top is not None:
                rule = tracker.rule
                horizon = top - int(self.retain_s + rule.settle_s + rule.for_s)
                if horizon >= tracker.floor + _PRUNE_STEP_S:
                    tracker.prune(horizon)
