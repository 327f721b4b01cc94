"""The dead-letter guard: stop only when the failure is global. Pure.

One station that is not registered, or sends an old format, is that station's problem: its
events are dead-lettered (replayable with ``blo dlq replay``) and every other station keeps
flowing. When almost *every station* fails at once — a producer writing the wrong format to
the whole topic, a topic pointed at the wrong cluster — dead-lettering a flood silently is
worse than stopping, and the guard stops the worker, naming the stations and their reasons.

It judges a window of recent batches that spans at least the last ``window_s`` seconds and
at least ``min_events`` events (older batches are kept until both hold), so a station that
sends one event a minute still counts as seen, and a burst of held records released at once
is judged beside the stations that kept flowing meanwhile. Over that window:

* a station *fails* when at least ``ratio`` of its events were dead-lettered;
* the guard trips when the window holds ``min_events`` events or more and at least ``ratio``
  of its stations fail — at least two of them, unless only one station was seen.

Events whose station cannot be read (not JSON, no ``station_id``) count as one station,
``(no station id)``: garbage from one producer is one failing source among the others, and
garbage on the whole topic is the only source, so it trips.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NO_STATION = "(no station id)"
SHOW_STATIONS = 5  # stations named in the stop message; the rest as "+N more"
SHOW_REASONS = 2  # reasons named per station


class DlqFloodError(RuntimeError):
    """Raised to stop the worker: almost every station's events are being dead-lettered."""


@dataclass(slots=True)
class _Tally:
    total: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, other: _Tally, sign: int = 1) -> None:
        self.total += sign * other.total
        self.failed += sign * other.failed
        if sign > 0:
            self.reasons.update(other.reasons)
        else:
            self.reasons.subtract(other.reasons)


@dataclass(slots=True)
class _Bucket:
    second: int
    total: int = 0
    stations: dict[str, _Tally] = field(default_factory=dict)


class DlqGuard:
    def __init__(self, ratio: float, min_events: int, window_s: float = 60.0) -> None:
        self.ratio = ratio
        self.min_events = min_events
        self.window_s = window_s
        self._buckets: deque[_Bucket] = deque()  # one per second with events, oldest first
        self._stations: dict[str, _Tally] = {}  # the sum of the buckets, per station
        self._total = 0

    def observe(self, accepted: Mapping[str, int], dead: Iterable[tuple[str, str]],
                now: float) -> DlqFloodError | None:
        """Record one batch: ``accepted`` events per station, the ``(station_id, reason)`` of
        each dead letter, ``now`` in seconds (monotonic). Returns the error to stop the
        worker with when the failure is global, else None (the caller writes the batch's
        dead letters first, then stops)."""
        batch: dict[str, _Tally] = {}
        for sid, n in accepted.items():
            if n > 0:
                batch.setdefault(sid or NO_STATION, _Tally()).total += n
        any_dead = False
        for sid, reason in dead:
            t = batch.setdefault(sid or NO_STATION, _Tally())
            t.total += 1
            t.failed += 1
            t.reasons[reason] += 1
            any_dead = True
        if not batch:
            return None  # no bucket without events: at most min_events + window_s of them
        sec = int(now)
        if not self._buckets or self._buckets[-1].second != sec:
            self._buckets.append(_Bucket(sec))
        bucket = self._buckets[-1]
        for sid, t in batch.items():
            bucket.stations.setdefault(sid, _Tally()).add(t)
            self._stations.setdefault(sid, _Tally()).add(t)
            bucket.total += t.total
            self._total += t.total
        self._forget(now)
        return self._verdict() if any_dead else None

    def _forget(self, now: float) -> None:
        """Drop the oldest buckets while what remains still spans ``window_s`` seconds and
        ``min_events`` events."""
        buckets = self._buckets
        while len(buckets) > 1:
            old = buckets[0]
            if old.second + 1 > now - self.window_s or self._total - old.total < self.min_events:
                break
            buckets.popleft()
            self._total -= old.total
            for sid, t in old.stations.items():
                left = self._stations[sid]
                left.add(t, -1)
                if left.total <= 0:
                    del self._stations[sid]
                else:
                    left.reasons += Counter()  # drop the reasons counted down to zero

    def _failing(self) -> dict[str, _Tally]:
        """The stations of the window at least ``ratio`` of whose events failed."""
        r = self.ratio
        return {sid: t for sid, t in self._stations.items()
                if t.failed > 0 and t.failed >= r * t.total}

    def _verdict(self) -> DlqFloodError | None:
        if self._total < self.min_events:
            return None
        seen = len(self._stations)
        failing = self._failing()
        n = len(failing)
        if n < min(2, seen) or n < math.ceil(self.ratio * seen - 1e-9):
            return None
        return DlqFloodError(self._message(failing, seen))

    def _message(self, failing: dict[str, _Tally], seen: int) -> str:
        worst = sorted(failing.items(), key=lambda kv: (-kv[1].failed, kv[0]))
        named = []
        for sid, t in worst[:SHOW_STATIONS]:
            reasons = ", ".join(f"{reason} {k}" for reason, k
                                in t.reasons.most_common(SHOW_REASONS))
            named.append(f"{sid} ({t.failed} of {t.total}: {reasons})")
        more = f", +{len(worst) - SHOW_STATIONS} more" if len(worst) > SHOW_STATIONS else ""
        failed = sum(t.failed for t in self._stations.values())
        return (
            f"{len(failing)} of the {seen} stations with events recently are failing — "
            f"{'; '.join(named)}{more} — ({failed} of the last {self._total} events "
            f"dead-lettered; a station fails at ≥ {self.ratio:.0%} of its events, the worker "
            f"stops at ≥ {self.ratio:.0%} of the stations, BLO_INGEST_DLQ_GUARD_RATIO): the "
            "failure is global (producers writing the wrong format or to the wrong topic, "
            "an empty station registry?). Stopping instead of dead-lettering a flood; the "
            "dead letters so far are written. Inspect with `blo dlq list --station ID`."
        )

    @property
    def failed_share(self) -> float:
        """The share of the window's events that were dead-lettered."""
        failed = sum(t.failed for t in self._stations.values())
        return failed / self._total if self._total else 0.0

    @property
    def stations_seen(self) -> int:
        return len(self._stations)
