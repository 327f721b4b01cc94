"""Corrections in the window core: recount the windows a revised or voided event touches.
Pure.

A correction (docs/corrections.md) changes or withdraws an event that was counted already,
possibly moving it to another window, local day or drug. Counts and sums could be undone,
but not the largest seizure nor the first and last event times, so nothing is subtracted:
every window key the old or the new revision falls in (:func:`touched`) is *recounted*
from the stored events of that key (the readers' view, after the revision was written),
which the runtime reads with :func:`sinks.read_model.events.events_of_keys` over
:func:`read_ranges`. Then :meth:`streams.windows.WindowState.recount`:

* a window the state still holds (or that may still change: it is made there) gets the
  recounted figures (a hopping window: each of
  its panes) and emits at the next tick like any change — ``provisional`` while open,
  ``corrected`` once closed, nothing if the figures did not change;
* a window the state no longer holds (past its allowed lateness, or never seen by this
  worker: imported history) is returned with its recount, and :func:`historical_rows`
  turns it into a ``corrected`` row against what ``window_stats`` holds for the key
  (nothing if equal; zero figures if no event is left in it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.rows import Row
from streams.windows.assign import Calendars, windows_of
from streams.windows.config import CALENDAR_KINDS, WindowConfig
from streams.windows.emit import Emitter
from streams.windows.rows import WindowKey
from streams.windows.series import LIVE, REPORTS, KeyT, Series, Window
from streams.windows.stats import (
    ATTRS,
    C_DIMENSION,
    C_DRUG,
    C_EVENT_TYPE,
    C_MEASURE,
    C_OCCURRED,
    C_PARTITION,
    C_PERIOD_END,
    C_PERIOD_START,
    C_STATION,
    C_TZ,
    Acc,
    WindowStats,
    comparable,
    fold_row,
    new_acc,
    to_acc,
)
from streams.windows.store import WindowStore

_floor = math.floor


@dataclass(frozen=True, slots=True)
class Touched:
    """One window key a correction touches: a window of spec ``spec_index`` and one key."""

    spec_index: int
    window_kind: str
    start: int
    end: int
    label: str
    station: str
    key: KeyT  # (event_type, measure, dimension)
    tz: str
    partition: int  # of the raw topic, the station's

    @property
    def stream(self) -> str:
        return REPORTS if self.key[0] == "count_report" else LIVE

    def window_key(self) -> WindowKey:
        return WindowKey(self.window_kind, self.start, self.station, *self.key)


def key_of(row: Row) -> KeyT:
    """The window key (event type, measure, dimension) of an ``events`` row."""
    et = row[C_EVENT_TYPE]
    if et == "count_report":
        return (et, row[C_MEASURE], row[C_DIMENSION])
    return (et, "", row[C_DRUG])


def touched(config: WindowConfig, calendars: Calendars, row: Row) -> list[Touched]:
    """Every window key ``row`` (an ``events`` row) is counted in: for each spec the window
    (hopping: each window) holding its ``occurred_at``; a count report only in the calendar
    windows that hold its whole period (as :meth:`WindowState.add` counts it)."""
    key = key_of(row)
    station, tz, part = row[C_STATION], row[C_TZ], int(row[C_PARTITION])
    out: list[Touched] = []
    if key[0] == "count_report":
        ps = _floor(row[C_PERIOD_START].timestamp())
        pe = math.ceil(row[C_PERIOD_END].timestamp())
        for i, spec in enumerate(config.windows):
            if spec.kind not in CALENDAR_KINDS:
                continue
            start, end, label = windows_of(spec, calendars, tz, ps)[0]
            if pe <= end:
                out.append(Touched(i, spec.name, start, end, label, station, key, tz, part))
        return out
    t = _floor(row[C_OCCURRED].timestamp())
    for i, spec in enumerate(config.windows):
        for start, end, label in windows_of(spec, calendars, tz, t):
            out.append(Touched(i, spec.name, start, end, label, station, key, tz, part))
    return out


def read_ranges(windows: Iterable[Touched]) -> list[tuple[str, str, str, str, int, int]]:
    """What to read to recount ``windows``: per (station, key) the spans its windows cover,
    overlapping or adjacent ones merged (a correction that moves an event years away reads
    its two places, not the years between), as
    :func:`sinks.read_model.events.events_of_keys` takes them."""
    by_key: dict[tuple[str, KeyT], list[tuple[int, int]]] = {}
    for w in windows:
        by_key.setdefault((w.station, w.key), []).append((w.start, w.end))
    out: list[tuple[str, str, str, str, int, int]] = []
    for (station, key), spans in sorted(by_key.items()):
        spans.sort()
        lo, hi = spans[0]
        for a, b in spans[1:]:
            if a <= hi:
                hi = max(hi, b)
                continue
            out.append((station, *key, lo, hi))
            lo, hi = a, b
        out.append((station, *key, lo, hi))
    return out


READ_GROUPS_PER_QUERY = 40
"""At most this many ``(station, key, span)`` groups per recount read (a station's groups are
never split: the reads stay in ``ORDER BY station_id, occurred_at`` when concatenated).
One OR-condition per group: a revised file touching hundreds of keys in one query kept
ClickHouse 18.16 analysing it past the read timeout, retried forever."""


def by_station_batches(groups: Sequence[tuple[str, str, str, str, int, int]],
                       limit: int = READ_GROUPS_PER_QUERY
                       ) -> list[list[tuple[str, str, str, str, int, int]]]:
    """``groups`` (sorted by station, as :func:`read_ranges` gives them) cut into batches of
    at most ``limit``, a station's groups all in one batch (a station with more than
    ``limit`` groups makes a batch of its own)."""
    out: list[list[tuple[str, str, str, str, int, int]]] = []
    current: list[tuple[str, str, str, str, int, int]] = []
    i = 0
    while i < len(groups):
        j = i
        while j < len(groups) and groups[j][0] == groups[i][0]:
            j += 1
        station = list(groups[i:j])
        if current and len(current) + len(station) > limit:
            out.append(current)
            current = []
        current.extend(station)
        i = j
    if current:
        out.append(current)
    return out


def recount_of(w: Touched, lo: int, hi: int, rows: Sequence[Row]) -> Acc | None:
    """The accumulator of key ``w.key`` over the events of ``rows`` in [lo, hi) (a count
    report: with its whole period in it), or None if there are none."""
    acc: Acc | None = None
    report = w.key[0] == "count_report"
    for row in rows:
        if row[C_STATION] != w.station or key_of(row) != w.key:
            continue
        if report:
            ps = _floor(row[C_PERIOD_START].timestamp())
            pe = math.ceil(row[C_PERIOD_END].timestamp())
            if not (lo <= ps and pe <= hi):
                continue
            t = _floor(row[C_OCCURRED].timestamp())
        else:
            t = _floor(row[C_OCCURRED].timestamp())
            if not lo <= t < hi:
                continue
        if acc is None:
            acc = new_acc()
        fold_row(acc, row, t)
    return acc


def zero_acc(attrs: tuple[str, str, str]) -> Acc:
    """Figures of a key no event is left in (emitted as zeros, the window's start as its
    event times)."""
    return new_acc(attrs)


def find_window(store: WindowStore, w: Touched) -> tuple[Series, Window] | None:
    """The window of ``w`` in the state — made there if it may still change (not past its
    allowed lateness: a later event of it must find the recount, not start from nothing);
    None if it is past that (history)."""
    tracks = store.reports if w.stream == REPORTS else store.live
    track = tracks.get(w.station)
    if track is None:
        track = store.track(w.station, w.stream)
        track.partition = w.partition
    series = track.series[w.spec_index] if w.spec_index < len(track.series) else None
    if series is None:
        return None
    win = series.windows.get(w.start)
    if win is None:
        if w.end <= track.tick_wm - store.gl:
            return None
        win = store.window(series, w.start, w.end, w.label)
    return series, win


def historical_rows(recounts: Sequence[tuple[Touched, Acc | None]],
                    stored: Mapping[WindowKey, tuple[str, int, WindowStats, Any]],
                    config: WindowConfig, now_s: float) -> list[Row]:
    """``corrected`` rows for windows the state does not hold: each recount against what
    ``window_stats`` holds for its key (``stored``: key → (status, version, statistics,
    attrs (country, border, station_tz))). Nothing when the figures are the same; zeros
    when no event is left in a key that has a row; a key without a row and without events
    emits nothing."""
    store = WindowStore(config)
    out = Emitter(now_s, {})
    for w, acc in recounts:
        memory = stored.get(w.window_key())
        if memory is None and acc is None:
            continue
        _, version, stats, attrs = memory if memory is not None else ("", 0, None, None)
        track = store.track(w.station, w.stream)
        series = track.series[w.spec_index]
        if series is None:
            continue
        win = Window(series, w.start, w.end, w.label)
        if acc is None:
            acc = zero_acc(attrs or ("", "", w.tz))
        win.emitted[w.key] = (True, int(version),
                              comparable(to_acc(stats)) if stats is not None else ())
        if win.keys is not None:
            win.keys[w.key] = acc
        else:
            series.panes[w.start] = {w.key: acc}
        out.closed(win, [w.key])
        series.panes.pop(w.start, None)
    return out.rows


__all__ = ["ATTRS", "Touched", "historical_rows", "key_of", "read_ranges", "recount_of",
           "touched"]
