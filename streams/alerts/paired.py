"""Paired-post rules: events at both posts of a BLO pair close together. Internal, pure.

Pairs come from the caller (station → paired station; a pair given in one direction counts
both ways). Each event of the rule's types at a paired post (``on_event``; a repeated event
id changes nothing) is matched against the partner's recent events of those types: every
pair of events at most ``span_s`` apart belongs to the *span bucket* ``[k·span_s,
(k+1)·span_s)`` of the earlier one, and each (pair, bucket) fires once — whatever order the
events arrive in, the same buckets fire. The alert (scope ``pair``, key ``A+B`` sorted,
window = the bucket) fires at the later event's time with ``value`` = the seconds between
the two events, and resolves ``span_s`` after it fired, once the event clock (the latest
``on_event`` time, or a caught-up tick's time) gets there. Events older than the clock by
more than twice ``span_s`` are forgotten.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Mapping

from streams.alerts.book import AlertBook, Facts
from streams.alerts.durations import Seconds
from streams.alerts.rows import Alert
from streams.alerts.rules import PairedRule

_KEEP_PER_STATION = 1000
_NEVER = 2**62


def partners(pairs: Mapping[str, str]) -> dict[str, str]:
    """Both directions of every pair (an explicit entry wins over the mirrored one)."""
    out = {b: a for a, b in pairs.items() if a and b and a != b}
    out.update({a: b for a, b in pairs.items() if a and b and a != b})
    return out


class PairedTracker:
    def __init__(self, rule: PairedRule, book: AlertBook, pairs: Mapping[str, str]) -> None:
        self.rule = rule
        self.book = book
        self.partner = partners(pairs)
        self.recent: dict[str, list[tuple[int, str]]] = {}  # station → [(t, event id)], sorted
        self.ids: dict[str, set[str]] = {}  # station → the event ids in recent
        self.clock = 0
        self.due = 0  # earliest resolve time of this rule's open alerts (0: look again)

    def seen(self, station_id: str, event_type: str, t: int, event_id: str) -> None:
        rule = self.rule
        self.advance(t)
        other = self.partner.get(station_id)
        if other is None or event_type not in rule.event_types:
            return
        ids = self.ids.setdefault(station_id, set())
        if event_id in ids:
            return
        ids.add(event_id)
        insort(self.recent.setdefault(station_id, []), (t, event_id))
        span = rule.span_s
        a, b = sorted((station_id, other))
        theirs = self.recent.get(other, [])
        # The partner's events within span of t, earliest first; the first one of each
        # span bucket fires it (later ones would find it fired). At most two or three
        # buckets: jump from one to the next instead of walking every event.
        i = bisect_left(theirs, (t - span,))
        while i < len(theirs):
            tp = theirs[i][0]
            if tp > t + span:
                break
            bucket = int(min(t, tp) // span * span)
            self.due = min(self.due, max(t, tp) + int(span)) if self.due else 0
            self.book.fire(rule, str(bucket), Facts(
                scope="pair", scope_key=f"{a}+{b}", station_id="", window_kind="",
                window_start=bucket, window_end=int(bucket + span), value=float(abs(t - tp)),
                threshold=span, at=max(t, tp),
                context={"station_a": a, "station_b": b, "span_s": Seconds(span)}))
            if tp >= t or bucket + span > t:
                break  # every later partner event falls in this bucket (or t's)
            i = bisect_left(theirs, (bucket + span,), i + 1)
        self._forget()

    def advance(self, now: int) -> None:
        """Move the event clock; resolve alerts whose span has passed."""
        self.clock = max(self.clock, now)
        if self.due and self.clock < self.due:
            return
        rule = self.rule
        self.due = _NEVER
        for (rid, key), aid in sorted(self.book.open.items()):
            if rid != rule.id:
                continue
            alert = self.book.alerts[aid]
            due = alert.fired_at + int(rule.span_s)
            if self.clock >= due:
                self.book.resolve(rule, key, _same(alert, due, rule))
            else:
                self.due = min(self.due, due)

    def tick(self, now: int, caught_up: bool) -> None:
        if caught_up:
            self.advance(now)

    def _forget(self) -> None:
        horizon = self.clock - 2 * self.rule.span_s
        for station_id, events in self.recent.items():  # each sorted by time
            cut = bisect_left(events, (horizon,))
            cut = max(cut, len(events) - _KEEP_PER_STATION)
            if cut > 0:
                ids = self.ids[station_id]
                for _, eid in events[:cut]:
                    ids.discard(eid)
                del events[:cut]


def _same(alert: Alert, at: int, rule: PairedRule) -> Facts:
    a, _, b = alert.scope_key.partition("+")
    return Facts(
        scope=alert.scope, scope_key=alert.scope_key, station_id="", window_kind="",
        window_start=alert.window_start, window_end=alert.window_end, value=alert.value,
        threshold=alert.threshold, at=at,
        context={"station_a": a, "station_b": b, "span_s": Seconds(rule.span_s)})
