"""Threshold and baseline rules over ``window_stats`` rows. Internal, pure.

Per rule, scope key and window (a *bucket*: the window start, or the local date for
calendar windows, whose stations may sit in different zones) the tracker keeps the latest
row of every station key (station, event type, measure, dimension) the rule's filters
accept — by ``version``: a later row *replaces* its station key's earlier one, an older or
repeated one changes nothing — and the statistic summed over them (``seizure_kg_max``: the
largest). ``on: final`` rules take only ``final``/``corrected`` rows.

**Judging a bucket.** A bucket's value may go either way: rows add to a window, and a
newer version of a station key (a ``corrected`` row after a correction or void, or a later
``provisional`` row of an open window) may lower what an earlier one said. Still, a
bucket is judged *hot* as soon as its value passes ``raise`` — an early warning that a
correction may withdraw (below) — but *cold* (past ``clear``) or *neutral* only once it is
**settled**: every station that contributed to it has rows of this window kind reaching
``end + settle_s`` (event time), or a caught-up tick's clock has. For ``<=``/``<`` the
roles swap. A firing alert resolves on a settled cold bucket of a *later* window than the
one that fired it; a cold bucket then lets later hot buckets fire again once the cooldown
ended.

**Corrections.** Whenever the bucket a firing alert fired on changes and its value is now
past ``clear`` (``<`` clear for ``>=``, ``<=`` clear for ``>``, ``<=`` mean + clear_k·sd
for baselines, ``>``/``>=`` clear for ``<=``/``<``), the alert resolves at once — no later
window and no settling needed: a correction is a fact. So does a ``for_s`` alert whose
run of hot buckets up to the firing one no longer spans ``for_s`` because one of them is
now past ``clear``. The resolved version carries the corrected bucket (its window, its
value, the clear level), ``resolved_at`` is the latest event that bucket counts (never
before ``fired_at``), the cooldown starts from there as after any resolve, and the
message context has ``corrected = 1`` (0 otherwise). The bucket that fired cannot fire
again (an alert id opens once); later hot buckets can, cooldown permitting. A change of
any other bucket is judged as usual: lowering a bucket that did not fire resolves nothing
unless it is a settled cold bucket of a later window.

``for_s``: a run of consecutive hot buckets (each starting where the previous ended, or
earlier) whose span from the first start reaches ``for_s`` fires, with the first bucket
at which it does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from schemas.rows import WindowStatsRow
from streams.alerts.baseline import BaselineProvider, mean_stddev
from streams.alerts.book import AlertBook, Facts
from streams.alerts.rows import Alert, alert_id, epoch
from streams.alerts.rules import BaselineRule, ThresholdRule
from streams.alerts.templates import number

FINAL_STATUSES = frozenset({"final", "corrected"})


class WindowRow(NamedTuple):
    """The columns of a ``window_stats`` row the rules read."""

    window_kind: str
    window_start: int
    window_end: int
    window_label: str
    station_id: str
    country: str
    border: str
    event_type: str
    measure: str
    dimension: str
    last_event_at: int
    status: str
    version: int
    updated_at: int
    """When the row was emitted (processing time): tells a historical window."""
    row: WindowStatsRow

    @classmethod
    def parse(cls, values: Sequence[Any]) -> WindowRow:
        """A ``window_stats`` row: all columns in table order (as decoded from the input
        topic or read back, plain values)."""
        row = WindowStatsRow._make(values)
        return cls(
            str(row.window_kind), epoch(row.window_start), epoch(row.window_end),
            str(row.window_label), str(row.station_id), str(row.country), str(row.border),
            str(row.event_type), str(row.measure), str(row.dimension),
            epoch(row.last_event_at), str(row.status), int(row.version),
            epoch(row.updated_at), row,
        )


class Verdict(Enum):
    HOT = "hot"
    COLD = "cold"
    NEUTRAL = "neutral"
    UNKNOWN = "unknown"


Order = tuple[int, str]  # (window start, '') or (0, local date) for calendar windows
StationKey = tuple[str, str, str, str]  # station, event type, measure, dimension


@dataclass
class _Part:
    version: int
    value: float
    start: int
    end: int
    last_event_at: int
    country: str
    border: str


@dataclass
class Bucket:
    instant: str  # for the alert id: the window start, or the local date
    label: str  # the local date/month of calendar windows, '' otherwise
    parts: dict[StationKey, _Part] = field(default_factory=dict)
    value: float = 0.0
    start: int = 0
    end: int = 0
    last_event_at: int = 0
    country: str = ""
    border: str = ""
    settled: bool = False
    levels: tuple[float, float, dict[str, object]] | None = None
    levels_known: bool = False


class Levels(NamedTuple):
    raise_: float
    clear: float
    context: dict[str, object]


class WindowTracker:
    """One threshold or baseline rule."""

    def __init__(self, rule: ThresholdRule | BaselineRule, book: AlertBook,
                 baseline: BaselineProvider | None, progress: Mapping[tuple[str, str], int]):
        self.rule = rule
        self.book = book
        self.baseline = baseline
        self.progress = progress  # (window kind, station) → latest last_event_at of its rows
        self.series: dict[str, dict[Order, Bucket]] = {}
        self.dirty: set[tuple[str, Order]] = set()
        self.unsettled: set[tuple[str, Order]] = set()
        self.floor = 0  # buckets ending at or before this were dropped

    # -- input ---------------------------------------------------------------------------

    def add(self, r: WindowRow, historical: bool = False) -> None:
        """Take a row; a ``historical`` one only when the rule judges history."""
        rule = self.rule
        if r.window_kind != rule.window or r.window_end <= self.floor:
            return
        if historical and not rule.judge_history:
            return
        if rule.on == "final" and r.status not in FINAL_STATUSES:
            return
        if not rule.filters.row_matches(r.station_id, r.country, r.border, r.event_type,
                                        r.measure, r.dimension):
            return
        if rule.scope == "border" and not r.border:
            return  # an interior post is on no border: in no border's roll-up
        key = {"station": r.station_id, "country": r.country, "border": r.border,
               "all": "all"}[rule.scope]
        order: Order = (0, r.window_label) if r.window_label else (r.window_start, "")
        buckets = self.series.setdefault(key, {})
        b = buckets.get(order)
        if b is None:
            b = buckets[order] = Bucket(r.window_label or str(r.window_start), r.window_label)
            self.unsettled.add((key, order))
        skey = (r.station_id, r.event_type, r.measure, r.dimension)
        old = b.parts.get(skey)
        if old is not None and old.version >= r.version:
            return
        stat = float(getattr(r.row, rule.statistic))
        b.parts[skey] = _Part(r.version, stat, r.window_start, r.window_end, r.last_event_at,
                              r.country, r.border)
        self._refold(b)
        self.dirty.add((key, order))

    def _refold(self, b: Bucket) -> None:
        parts = list(b.parts.values())
        values = [p.value for p in parts]
        b.value = max(values) if self.rule.statistic == "seizure_kg_max" else math.fsum(values)
        b.start = min(p.start for p in parts)
        b.end = max(p.end for p in parts)
        latest = max(parts, key=lambda p: (p.last_event_at, p.version))
        b.last_event_at, b.country, b.border = latest.last_event_at, latest.country, latest.border

    def settle(self, now: int | None) -> None:
        """Mark buckets settled by the rows' progress, or by a caught-up clock ``now``."""
        wait = self.rule.settle_s
        for key, order in sorted(self.unsettled):
            b = self.series[key][order]
            due = b.end + wait
            done = now is not None and now >= due
            if not done:
                stations = {s for s, _, _, _ in b.parts}
                done = min(self.progress.get((self.rule.window, s), 0) for s in stations) >= due
            if done:
                b.settled = True
                self.unsettled.discard((key, order))
                self.dirty.add((key, order))

    def prune(self, before: int) -> None:
        """Judge, then forget buckets ending at or before ``before``."""
        for key, order in sorted(self.unsettled):
            if self.series[key][order].end <= before:
                self.series[key][order].settled = True
                self.unsettled.discard((key, order))
                self.dirty.add((key, order))
        self.evaluate()
        for key in list(self.series):
            buckets = self.series[key]
            for order in [o for o, b in buckets.items() if b.end <= before]:
                del buckets[order]
            if not buckets:
                del self.series[key]
        self.floor = max(self.floor, before)

    # -- judging -------------------------------------------------------------------------

    def evaluate(self) -> None:
        dirty, self.dirty = sorted(self.dirty), set()
        for key, order in dirty:
            b = self.series.get(key, {}).get(order)
            if b is None or self._withdrawn(key, order):
                continue
            verdict = self.judge(key, b)
            if verdict is Verdict.HOT:
                self._hot(key, order)
            elif verdict is Verdict.COLD:
                self._cold(key, order)

    def levels(self, key: str, b: Bucket) -> Levels | None:
        rule = self.rule
        if isinstance(rule, ThresholdRule):
            return Levels(rule.raise_, rule.clear_level, {"op": rule.op})
        if not b.levels_known:
            b.levels_known = True
            history = list(self.baseline(rule, key, b.start))[: rule.weeks] if self.baseline \
                else []
            if len(history) >= rule.min_weeks:
                mean, sd = mean_stddev(history)
                clear_k = rule.k if rule.clear_k is None else rule.clear_k
                b.levels = (mean + rule.k * sd, mean + clear_k * sd, {
                    "mean": number(mean), "stddev": number(sd), "k": number(rule.k),
                    "history_weeks": len(history)})
        return Levels(*b.levels) if b.levels is not None else None

    def conditions(self, key: str, b: Bucket) -> tuple[bool, bool] | None:
        """(past raise, past clear) of the bucket's value as it stands; None: no levels."""
        lv = self.levels(key, b)
        if lv is None:
            return None
        v, rule = b.value, self.rule
        if isinstance(rule, BaselineRule):
            return v > lv.raise_ and v >= rule.min_value, v <= lv.clear
        op = rule.op
        hot = {">=": v >= lv.raise_, ">": v > lv.raise_, "<=": v <= lv.raise_,
               "<": v < lv.raise_}[op]
        cold = {">=": v < lv.clear, ">": v <= lv.clear, "<=": v > lv.clear,
                "<": v >= lv.clear}[op]
        return hot, cold

    def judge(self, key: str, b: Bucket) -> Verdict:
        now = self.conditions(key, b)
        if now is None:
            return Verdict.NEUTRAL if b.settled else Verdict.UNKNOWN
        hot, cold = now
        if self.rule.rising:
            if hot:
                return Verdict.HOT
            if not b.settled:
                return Verdict.UNKNOWN
            return Verdict.COLD if cold else Verdict.NEUTRAL
        if cold:
            return Verdict.COLD
        if not b.settled:
            return Verdict.UNKNOWN
        return Verdict.HOT if hot else Verdict.NEUTRAL

    def _eligible(self, key: str, b: Bucket) -> bool:
        until = self.book.cooldown_until(self.rule.id, key)
        return until is None or b.start >= until

    def _hot(self, key: str, order: Order) -> None:
        rule = self.rule
        if self.book.open_alert(rule.id, key) is not None:
            return
        buckets = self.series[key]
        b = buckets[order]
        if not self._eligible(key, b):
            return
        if rule.for_s <= 0:
            self._fire(key, order)
            return
        orders = sorted(buckets)
        i = j = orders.index(order)

        def ok(x: Bucket) -> bool:
            return self._eligible(key, x) and self.judge(key, x) is Verdict.HOT

        while i > 0 and buckets[orders[i - 1]].end >= buckets[orders[i]].start \
                and ok(buckets[orders[i - 1]]):
            i -= 1
        while j + 1 < len(orders) and buckets[orders[j + 1]].start <= buckets[orders[j]].end \
                and ok(buckets[orders[j + 1]]):
            j += 1
        first = buckets[orders[i]].start
        for o in orders[i: j + 1]:
            if buckets[o].end - first >= rule.for_s:
                self._fire(key, o)
                return

    def _cold(self, key: str, order: Order) -> None:
        rule = self.rule
        alert = self.book.open_alert(rule.id, key)
        b = self.series[key][order]
        if alert is None or b.start <= alert.window_start:
            return
        lv = self.levels(key, b)
        assert lv is not None  # a cold verdict has levels
        self.book.resolve(rule, key, self._facts(key, b, lv.clear, b.end, lv.context),
                          rule.cooldown_s)
        self._fire_after(key, order)

    def _fire_after(self, key: str, order: Order) -> None:
        """After a resolve: the first later hot bucket that may fire does."""
        for later in sorted(o for o in self.series[key] if o > order):
            if self.judge(key, self.series[key][later]) is Verdict.HOT:
                self._hot(key, later)
                if self.book.open_alert(self.rule.id, key) is not None:
                    return

    # -- corrections ---------------------------------------------------------------------

    def _withdrawn(self, key: str, order: Order) -> bool:
        """Resolve the key's firing alert if the changed bucket ``order`` no longer bears
        it out: it is the bucket that fired and is now past clear, or (``for_s``) an
        earlier one whose fall past clear cut the run that fired below ``for_s``."""
        alert = self.book.open_alert(self.rule.id, key)
        if alert is None:
            return False
        fired = self._fired_order(key, alert)
        if fired is None or order > fired:
            return False
        buckets = self.series[key]
        if order == fired:
            now = self.conditions(key, buckets[order])
            culprit = buckets[order] if now is not None and now[1] else None
        else:
            culprit = self._run_cut(key, fired) if self.rule.for_s > 0 else None
        if culprit is None:
            return False
        lv = self.levels(key, culprit)
        assert lv is not None  # past clear: it has levels
        at = max(alert.fired_at, min(max(culprit.last_event_at, culprit.start),
                                     max(culprit.end - 1, culprit.start)))
        self.book.resolve(self.rule, key,
                          self._facts(key, culprit, lv.clear, at,
                                      {**lv.context, "corrected": 1}),
                          self.rule.cooldown_s)
        self._fire_after(key, fired)
        return True

    def _fired_order(self, key: str, alert: Alert) -> Order | None:
        """The bucket the alert fired on (by its id), if still kept."""
        buckets = self.series.get(key, {})
        start: Order = (alert.window_start, "")
        if start in buckets:
            return start if self._opened(key, buckets[start], alert) else None
        for o, b in buckets.items():  # calendar buckets, by local date
            if o[1] and self._opened(key, b, alert):
                return o
        return None

    def _opened(self, key: str, b: Bucket, alert: Alert) -> bool:
        return alert_id(self.rule.id, key, b.instant) == alert.alert_id

    def _run_cut(self, key: str, fired: Order) -> Bucket | None:
        """The bucket now past clear that ends the run of hot buckets before ``fired`` too
        early for ``for_s``; None when the run still spans it, or stops for another reason
        (a missing window, a forgotten one: as when it fired)."""
        buckets = self.series[key]
        orders = sorted(buckets)
        i = orders.index(fired)
        while i > 0:
            prev, cur = buckets[orders[i - 1]], buckets[orders[i]]
            if prev.end < cur.start:
                return None
            if not (self._eligible(key, prev) and self.judge(key, prev) is Verdict.HOT):
                break
            i -= 1
        else:
            return None
        if buckets[fired].end - buckets[orders[i]].start >= self.rule.for_s:
            return None
        stop = buckets[orders[i - 1]]
        now = self.conditions(key, stop)
        return stop if now is not None and now[1] else None

    def _fire(self, key: str, order: Order) -> None:
        """Fire on a bucket; a corrected old window may fire behind windows already judged
        cold, which then resolve it at once."""
        b = self.series[key][order]
        lv = self.levels(key, b)
        assert lv is not None  # a hot verdict has levels
        at = min(max(b.last_event_at, b.start), max(b.end - 1, b.start))
        fired = self.book.fire(self.rule, b.instant,
                               self._facts(key, b, lv.raise_, at, lv.context),
                               provisional=self.rule.on == "provisional")
        if fired is None:
            return
        for later in sorted(o for o in self.series[key] if o > order):
            verdict = self.judge(key, self.series[key][later])
            if verdict is Verdict.COLD:
                self._cold(key, later)
                return

    def _facts(self, key: str, b: Bucket, threshold: float, at: int,
               extra: dict[str, object]) -> Facts:
        scope = self.rule.scope
        country = {"station": b.country, "country": key}.get(scope, "")
        border = {"station": b.border, "border": key}.get(scope, "")
        return Facts(
            scope=scope, scope_key=key, station_id=key if scope == "station" else "",
            window_kind=self.rule.window, window_start=b.start, window_end=b.end,
            value=b.value, threshold=threshold, at=at,
            context={"country": country, "border": border, "statistic": self.rule.statistic,
                     "window_label": b.label, "corrected": 0, **extra},
        )
