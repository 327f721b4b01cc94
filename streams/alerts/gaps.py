"""Sequence-gap rules: a station's ``source_seq`` skips numbers. Internal, pure.

Per station the tracker keeps ``mark`` — every number up to it is accounted for (seen, or
declared lost) — and the numbers seen above it. The first number seen for a station sets
the mark (nothing before it is judged). When numbers above the mark are missing, the
lowest seen one (``first``, which arrived with event time ``t_first``) starts a candidate
gap ``[mark + 1, first − 1]``. It is confirmed lost once the station has sent at least
``reorder_seqs`` numbers past it **and** its clock (latest event time, or a caught-up tick's
time) reached ``t_first + reorder_s``: a number merely late within either bound never
fires. A confirmed gap of at least ``min_gap`` numbers fires once (unless it
exceeds ``max_gap``: a counter restarted higher), keyed ``STATION:FROM-TO``; it resolves when every missing number has arrived, and stays open
otherwise (acknowledge it). Repeated numbers change nothing.

A *historical* number (its event processed long after it occurred: an import, a backfill;
:mod:`streams.alerts.history`) never starts a station's count, and is ignored when it lies
more than ``max_gap`` above the count: an importer's coded numbers (period and codes, not a
counter) are never judged, while a live post's late reports still fill its count.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from streams.alerts.book import AlertBook, Facts
from streams.alerts.rules import SequenceGapRule
from streams.alerts.silence import Stations


@dataclass
class _Gap:
    first: int
    last: int
    arrived: set[int] = field(default_factory=set)

    @property
    def size(self) -> int:
        return self.last - self.first + 1


@dataclass
class _Seq:
    mark: int
    mark_t: int
    clock: int
    above: dict[int, int] = field(default_factory=dict)  # seq → event time, all > mark + 1
    gaps: dict[str, _Gap] = field(default_factory=dict)  # open gaps by scope key
    # the numbers of ``above`` as a min-heap, and the highest of them: numbers only ever
    # leave ``above`` from the bottom (the mark moves up), so both stay exact and each new
    # event costs O(log n), not a scan of every number held while a gap waits
    heap: list[int] = field(default_factory=list)
    top: int = 0

    def hold(self, seq: int, t: int) -> None:
        """Keep ``seq`` (> mark + 1), seen with event time ``t`` (a repeat changes nothing)."""
        if seq not in self.above:
            self.above[seq] = t
            heapq.heappush(self.heap, seq)
            self.top = max(self.top, seq) if len(self.heap) > 1 else seq

    def advance(self) -> None:
        """Move the mark over the numbers held right above it."""
        heap = self.heap
        while heap and heap[0] == self.mark + 1:
            self.mark = heapq.heappop(heap)
            self.mark_t = self.above.pop(self.mark)

    def take_first(self) -> None:
        """Move the mark to the lowest number held (what lies between is judged lost)."""
        self.mark = heapq.heappop(self.heap)
        self.mark_t = self.above.pop(self.mark)


def gap_key(station_id: str, first: int, last: int) -> str:
    return f"{station_id}:{first}-{last}"


def parse_gap_key(key: str) -> tuple[str, int, int] | None:
    station, _, span = key.rpartition(":")
    first, _, last = span.partition("-")
    if not station or not first.isdigit() or not last.isdigit():
        return None
    return station, int(first), int(last)


class GapTracker:
    def __init__(self, rule: SequenceGapRule, book: AlertBook, stations: Stations) -> None:
        self.rule = rule
        self.book = book
        self.stations = stations
        self.state: dict[str, _Seq] = {}
        self.restored: dict[str, dict[str, _Gap]] = {}  # open gaps known before any number

    def restore_gap(self, key: str) -> None:
        parsed = parse_gap_key(key)
        if parsed is None:
            return
        station, first, last = parsed
        gaps = self.state[station].gaps if station in self.state \
            else self.restored.setdefault(station, {})
        gaps.setdefault(key, _Gap(first, last))

    def seen(self, station_id: str, seq: int, t: int, historical: bool = False) -> None:
        rule = self.rule
        if not rule.filters.station_matches(station_id, self.stations.country.get(station_id, "")):
            return
        st = self.state.get(station_id)
        if historical and (st is None or (rule.max_gap is not None
                                          and seq - st.mark > rule.max_gap + 1)):
            return
        if st is None:
            st = self.state[station_id] = _Seq(seq, t, t)
            st.gaps.update(self.restored.pop(station_id, {}))
        else:
            st.clock = max(st.clock, t)
            if seq == st.mark + 1:
                st.mark, st.mark_t = seq, t
                st.advance()
            elif seq > st.mark + 1:
                st.hold(seq, t)
        if st.gaps:
            self._fill(station_id, st, seq)
        self._confirm(station_id, st, None)

    def tick(self, now: int, caught_up: bool) -> None:
        for station_id in sorted(self.state):
            self._confirm(station_id, self.state[station_id], now if caught_up else None)

    def _fill(self, station_id: str, st: _Seq, seq: int) -> None:
        for key, gap in list(st.gaps.items()):
            if gap.first <= seq <= gap.last:
                gap.arrived.add(seq)
                if len(gap.arrived) < gap.size:
                    continue
                del st.gaps[key]
                alert = self.book.open_alert(self.rule.id, key)
                if alert is not None:
                    self.book.resolve(self.rule, key, self._facts(
                        station_id, gap, 0.0, alert.window_start, alert.window_end, st.clock))

    def _confirm(self, station_id: str, st: _Seq, now: int | None) -> None:
        rule = self.rule
        clock = st.clock if now is None else max(st.clock, now)
        while st.heap:
            first = st.heap[0]
            t_first = st.above[first]
            if st.top - (first - 1) < rule.reorder_seqs or clock < t_first + rule.reorder_s:
                return
            gap = _Gap(st.mark + 1, first - 1)
            restarted = rule.max_gap is not None and gap.size > rule.max_gap
            if gap.size >= rule.min_gap and not restarted:
                key = gap_key(station_id, gap.first, gap.last)
                st.gaps[key] = gap
                self.book.fire(rule, str(t_first), self._facts(
                    station_id, gap, float(gap.size), st.mark_t, t_first, t_first))
            st.take_first()
            st.advance()

    def _facts(self, station_id: str, gap: _Gap, value: float, start: int, end: int,
               at: int) -> Facts:
        return Facts(
            scope="station", scope_key=gap_key(station_id, gap.first, gap.last),
            station_id=station_id, window_kind="", window_start=start, window_end=end,
            value=value, threshold=float(self.rule.min_gap), at=at, context={
                "country": self.stations.country.get(station_id, ""),
                "border": self.stations.border.get(station_id, ""),
                "gap_from": gap.first, "gap_to": gap.last, "gap_size": gap.size,
            })
