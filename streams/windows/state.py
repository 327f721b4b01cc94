"""Event-time window state: events in, ``window_stats`` and ``late_events`` rows out. Pure.

The runtime calls :meth:`WindowState.add` for every *new* accepted event (its ``events``
row; duplicates are filtered before), and :meth:`WindowState.tick` regularly; tick returns
the rows to write. Nothing here does I/O or reads a clock: time is ``occurred_at`` (event
time) plus the ``now_s`` the runtime passes to :meth:`tick`.

Contract (docs/windows.md has the whole story):

* **Watermark** per (station, stream): max occurred_at seen − out_of_orderness_s. Stream is
  ``reports`` for count reports and ``live`` for every other type; a window key belongs to
  exactly one (station, stream). Closing and lateness use the watermark *as of the last
  tick* (adding only raises the max), so an event is late exactly when its window was
  already past its lateness at the last tick — never because of a purge after it came.
* **Close**: at a tick, a window closes once watermark ≥ end + grace_s, or once end <
  now − idle_timeout_s while the station's partition is in ``caught_up``. Each key gets one
  ``final`` row (none if that final was emitted already, e.g. before a restart).
* **Open**: keys that changed get a ``provisional`` row at most every provisional_interval_s.
* **Closed, retained** until watermark ≥ end + grace + allowed_lateness: a change yields a
  ``corrected`` row at the next tick if the statistics differ from the last emitted ones.
* **Purged**: an event for such a window changes nothing; it becomes a ledger row per
  window it missed (lateness is decided per window, so per spec).
* ``version`` = max(previous version of the key + 1, now in µs): strictly increasing.

The hot path (an on-time :meth:`add`) folds the event into a per-minute staging pane; the
tick spreads staged minutes over the configured windows (every size and hop is whole
minutes, so a minute never straddles a window edge). Count reports, partials and events
that may be late take the direct path, window by window.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.rows import LateEventRow, Row
from streams.windows.assign import max_length_s, windows_of
from streams.windows.config import WindowConfig
from streams.windows.corrections import Touched, find_window, recount_of, touched, zero_acc
from streams.windows.emit import Emitter, stats_of
from streams.windows.rows import STATUSES, LateEvent, WindowKey, late_row
from streams.windows.series import LIVE, REPORTS, STREAMS, Emitted, KeyT, Series, Track
from streams.windows.stats import (
    ATTRS,
    C_DIMENSION,
    C_DRUG,
    C_EVENT_ID,
    C_EVENT_TYPE,
    C_MEASURE,
    C_OCCURRED,
    C_PERIOD_END,
    C_PERIOD_START,
    C_STATION,
    C_TZ,
    FIRST,
    LAST,
    Acc,
    WindowStats,
    comparable,
    fold,
    fold_row,
    new_acc,
    to_acc,
)
from streams.windows.store import WindowStore

_floor = math.floor


@dataclass(slots=True)
class Emission:
    """What one :meth:`WindowState.tick` produced, and the counters behind the metrics."""

    rows: list[Row] = field(default_factory=list)  # window_stats rows (WindowStatsRow order)
    late: list[LateEventRow] = field(default_factory=list)
    emitted: dict[str, int] = field(
        default_factory=lambda: {"provisional": 0, "final": 0, "corrected": 0})
    unwindowed_reports: int = 0  # count-report events that fit no configured window
    dropped_partial_events: int = 0  # events of partials whose windows were purged already


class WindowState:
    """Window state of the stations whose events this worker consumes."""

    __slots__ = ("_dropped_partial", "_dt_cache", "_gl", "_late", "_next_provisional",
                 "_ooo", "_spec_by_name", "_staged", "_store", "_unwindowed", "config")

    def __init__(self, config: WindowConfig | None = None) -> None:
        self.config = config or WindowConfig()
        self._store = WindowStore(self.config)
        self._spec_by_name = {s.name: i for i, s in enumerate(self.config.windows)}
        self._staged: dict[tuple[str, str, str, str, int], Acc] = {}
        self._late: list[LateEvent] = []
        self._unwindowed = 0
        self._dropped_partial = 0
        self._gl = self._store.gl
        self._ooo = self.config.out_of_orderness_s
        self._next_provisional = float("-inf")
        self._dt_cache: dict[int, datetime] = {}

    # -- input ---------------------------------------------------------------------------

    def add(self, row: tuple[Any, ...], partition: int) -> None:
        """Count one new ``events`` row (EventRow order) consumed from ``partition``."""
        t = _floor(row[C_OCCURRED].timestamp())
        et = row[C_EVENT_TYPE]
        if et == "count_report":
            self._add_report(row, partition, t)
            return
        station = row[C_STATION]
        track = self._store.live.get(station)
        if track is None:
            track = self._store.track(station, LIVE)
        track.partition = partition
        if t > track.max_t:  # noqa: PLR1730 - cheaper than max() in the hot loop
            track.max_t = t
        if t + self._gl <= track.tick_wm:  # may be late for some window: each one decides
            acc = new_acc()
            fold_row(acc, row, t)
            self._add_direct(track, (et, "", row[C_DRUG]), t, acc, row)
            return
        key = (station, et, "", row[C_DRUG], t - t % 60)
        staged = self._staged.get(key)
        if staged is None:
            staged = self._staged[key] = new_acc()
        fold_row(staged, row, t)

    def add_partial(
        self, *, station_id: str, country: str, border: str, station_tz: str, event_type: str,
        measure: str, dimension: str, occurred_at_s: int, period_start_s: int | None,
        period_end_s: int | None, stats: WindowStats, partition: int,
    ) -> None:
        """Count a pre-aggregated pane (recovery): the events of one key that occurred in
        the minute starting at ``occurred_at_s`` (``stats.first_event_at`` and
        ``last_event_at`` inside it), or count reports of one period. The windows are the
        same as from adding those events one by one. A partial whose windows were purged
        already changes nothing and is counted (no ledger rows: no event ids).

        Raises :class:`ValueError` when the event times are outside the minute, or a count
        report partial lacks its period.
        """
        if stats.events <= 0:
            return
        acc = to_acc(stats, (country, border, station_tz))
        key = (event_type, measure, dimension)
        if event_type == "count_report":
            if period_start_s is None or period_end_s is None:
                raise ValueError("a count_report partial needs period_start_s and period_end_s")
            track = self._store.track(station_id, REPORTS)
            track.partition = partition
            track.max_t = max(track.max_t, acc[LAST])
            self._report_into(track, key, int(period_start_s), int(period_end_s), station_tz,
                              acc, None)
            return
        m = int(occurred_at_s) - int(occurred_at_s) % 60
        if not m <= acc[FIRST] <= acc[LAST] < m + 60:
            raise ValueError(
                f"partial of {station_id}/{event_type}: event times {acc[FIRST]}..{acc[LAST]}"
                f" are not inside the minute starting at {m}")
        track = self._store.track(station_id, LIVE)
        track.partition = partition
        track.max_t = max(track.max_t, acc[LAST])
        if m + self._gl <= track.tick_wm:
            self._add_direct(track, key, m, acc, None)
            return
        skey = (station_id, event_type, measure, dimension, m)
        staged = self._staged.get(skey)
        if staged is None:
            self._staged[skey] = acc
        else:
            fold(staged, acc)

    def restore_emitted(self, key: WindowKey, status: str, version: int,
                        stats: WindowStats) -> None:
        """What ``window_stats`` last held for ``key`` (after a restart; see
        :func:`streams.windows.rows.emitted_from_row`). This counts nothing: the window's
        events must be added again (events or partials) before the next tick; then an
        unchanged window emits nothing, a changed one a higher version. Keys of window
        kinds no longer configured are ignored."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        si = self._spec_by_name.get(key.window_kind)
        if si is None:
            return
        stream = REPORTS if key.event_type == "count_report" else LIVE
        track = self._store.track(key.station_id, stream)
        series = track.series[si]
        if series is None:
            return
        memory: Emitted = (status != "provisional", int(version), comparable(to_acc(stats)))
        k = (key.event_type, key.measure, key.dimension)
        w = series.windows.get(key.window_start)
        if w is not None:
            w.emitted[k] = memory
            w.restored = True
            if memory[0]:
                self._store.mark_closed(w)
            return
        slot = (si, key.window_start)
        if slot not in track.restored:
            track.restored[slot] = {}
            forget_at = key.window_start + max_length_s(series.spec) + self._gl
            heapq.heappush(track.restored_heap, (forget_at, si, key.window_start))
        track.restored[slot][k] = memory

    def restore_watermark(self, station_id: str, stream: str, t: float) -> None:
        """The watermark of (station, stream) before a restart (it never goes back)."""
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}, not {stream!r}")
        track = self._store.track(station_id, stream)
        track.max_t = max(track.max_t, t + self._ooo)
        track.tick_wm = max(track.tick_wm, t)

    def forget_partitions(self, partitions: Collection[int]) -> None:
        """Drop the state of stations whose events came from ``partitions`` (revoked)."""
        gone = self._store.forget(partitions)
        if gone:
            self._staged = {k: v for k, v in self._staged.items() if k[0] not in gone}

    # -- corrections ----------------------------------------------------------------------

    def touched(self, row: tuple[Any, ...]) -> list[Touched]:
        """The window keys an ``events`` row is counted in (a correction recounts them)."""
        return touched(self.config, self._store.calendars, row)

    def recount(self, windows: Iterable[Touched], rows: Sequence[tuple[Any, ...]]
                ) -> list[tuple[Touched, Acc | None]]:
        """Replace the figures of ``windows`` by a recount of ``rows`` -- every stored
        event of their keys and spans (:func:`streams.windows.corrections.read_ranges`),
        read after the correction was written, with nothing added since that is not in
        them. Windows the state holds emit at the next tick; the others are returned with
        their recount (None: no event left) for
        :func:`streams.windows.corrections.historical_rows`."""
        self._drain()
        store = self._store
        historical: list[tuple[Touched, Acc | None]] = []
        for w in dict.fromkeys(windows):
            found = find_window(store, w)
            if found is None:
                historical.append((w, recount_of(w, w.start, w.end, rows)))
                continue
            series, win = found
            key = w.key
            if series.hop:
                before = stats_of(win, key)
                for p in range(w.start, w.end, series.hop):
                    acc = recount_of(w, p, p + series.hop, rows)
                    pane = series.panes.get(p)
                    if acc is not None:
                        if pane is None:
                            pane = series.panes[p] = {}
                        pane[key] = acc
                    elif pane is not None:
                        pane.pop(key, None)
                if win.cleared:
                    win.cleared.pop(key, None)
                if key in win.emitted and stats_of(win, key) is None:
                    # zeros for this window only (its panes are shared with others)
                    attrs = before[ATTRS] if before is not None else ("", "", w.tz)
                    if win.cleared is None:
                        win.cleared = {}
                    win.cleared[key] = zero_acc(attrs)
            else:
                assert win.keys is not None
                acc = recount_of(w, w.start, w.end, rows)
                old = win.keys.get(key)
                if acc is not None:
                    win.keys[key] = acc
                elif key in win.emitted:
                    win.keys[key] = zero_acc(old[ATTRS] if old is not None else ("", "", w.tz))
                else:
                    win.keys.pop(key, None)
            win.dirty[key] = None
            store.dirty[win] = None
        return historical

    # -- output --------------------------------------------------------------------------

    def tick(self, now_s: float, caught_up: Container[int]) -> Emission:
        """Close, correct, purge; return the rows to write. ``caught_up``: the partitions
        whose consumer is at the fetch high watermark (only those may idle-close)."""
        return self._tick(now_s, caught_up, force=False)

    def close_all(self, now_s: float) -> Emission:
        """Close every window now (``final`` rows; ``blo windows rebuild``)."""
        return self._tick(now_s, (), force=True)

    @property
    def open_windows(self) -> int:
        """Open window instances (spec × station × stream × window start)."""
        return self._store.open_windows

    def open_keys(self) -> int:
        """Open window keys — the rows closing everything would finalise. Walks the state."""
        self._drain()
        return self._store.open_keys()

    def watermarks(self) -> dict[str, float]:
        """Live watermark per station (for the event-time lag metric)."""
        ooo = self._ooo
        return {s: t.max_t - ooo for s, t in self._store.live.items() if t.max_t > -math.inf}

    # -- internals -----------------------------------------------------------------------

    def _late_row(self, row: tuple[Any, ...] | None, track: Track, series: Series,
                  start: int, end: int) -> None:
        if row is not None:
            self._late.append(LateEvent(row[C_EVENT_ID], track.station, series.name, start,
                                        end, row[C_EVENT_TYPE], row[C_OCCURRED], track.tick_wm))

    def _add_direct(self, track: Track, key: KeyT, t: int, acc: Acc,
                    row: tuple[Any, ...] | None) -> None:
        """A live event (``row``) or minute partial (``row`` None) that may be late for
        some windows: each window decides."""
        store = self._store
        limit = track.tick_wm - self._gl
        tz = acc[ATTRS][2]
        missed = False
        for series in track.series:
            assert series is not None
            bounds = windows_of(series.spec, store.calendars, tz, t)
            late = [b for b in bounds if b[1] <= limit]
            for b in late:
                self._late_row(row, track, series, b[0], b[1])
            missed = missed or bool(late)
            if len(late) == len(bounds):
                continue
            if series.hop:
                store.apply_hopping(series, t - t % series.hop, key, acc)
            else:
                store.apply(series, bounds[0][0], bounds[0][1], bounds[0][2], key, acc)
        if missed and row is None:
            self._dropped_partial += acc[0]

    def _add_report(self, row: tuple[Any, ...], partition: int, t: int) -> None:
        track = self._store.track(row[C_STATION], REPORTS)
        track.partition = partition
        track.max_t = max(track.max_t, t)
        acc = new_acc()
        fold_row(acc, row, t)
        ps = _floor(row[C_PERIOD_START].timestamp())
        pe = math.ceil(row[C_PERIOD_END].timestamp())
        key = ("count_report", row[C_MEASURE], row[C_DIMENSION])
        self._report_into(track, key, ps, pe, row[C_TZ], acc, row)

    def _report_into(self, track: Track, key: KeyT, ps: int, pe: int, tz: str, acc: Acc,
                     row: tuple[Any, ...] | None) -> None:
        """A count report feeds each calendar window that holds its whole period."""
        store = self._store
        limit = track.tick_wm - self._gl
        fitted = late = False
        for series in track.series:
            if series is None:
                continue
            start, end, label = store.calendars.bounds(tz, series.unit, ps)
            if pe > end:
                continue
            fitted = True
            if end <= limit:
                late = True
                self._late_row(row, track, series, start, end)
            else:
                store.apply(series, start, end, label, key, acc)
        if not fitted:
            self._unwindowed += acc[0]
        elif late and row is None:
            self._dropped_partial += acc[0]

    def _drain(self) -> None:
        """Spread the staged minute panes over every configured window."""
        staged = self._staged
        if staged:
            self._staged = {}
            store = self._store
            live = store.live
            apply, apply_hopping, apply_calendar = (
                store.apply, store.apply_hopping, store.apply_calendar)
            for (station, et, measure, dim, m), acc in staged.items():
                track = live.get(station)
                if track is None:
                    continue  # forgotten since
                key = (et, measure, dim)
                for series in track.series:
                    assert series is not None
                    if series.hop:
                        apply_hopping(series, m - m % series.hop, key, acc)
                    elif series.size:
                        s = m - m % series.size
                        apply(series, s, s + series.size, "", key, acc)
                    else:
                        apply_calendar(series, acc[ATTRS][2], m, key, acc)
        self._store.spread_hopping()

    def _tick(self, now_s: float, caught_up: Container[int], *, force: bool) -> Emission:
        self._drain()
        store = self._store
        out = Emitter(now_s, self._dt_cache)
        idle_mark = now_s - self.config.idle_timeout_s
        ooo = self._ooo
        moved: list[Track] = []
        for tracks in (store.live, store.reports):
            for track in tracks.values():
                wm = track.max_t - ooo
                advanced = wm > track.tick_wm
                if advanced:
                    track.tick_wm = wm
                    moved.append(track)
                # idleness counts only while the partition is caught up, at this tick
                idle = track.partition in caught_up
                if idle:
                    track.idle_mark = max(track.idle_mark, idle_mark)
                if advanced or idle or force:
                    mark = track.idle_mark if idle else -math.inf
                    for w in store.close_due(track, mark, force):
                        out.close(w)
                        w.dirty.clear()
        interval = self.config.provisional_interval_s
        # due, or the wall clock went back (it must not hold provisional rows back for long)
        provisional = (force or now_s >= self._next_provisional
                       or now_s < self._next_provisional - interval)
        for w in list(store.dirty):
            if w.closed:
                if w.restored and not force:
                    if w.series.track.partition not in caught_up:
                        # After a restart the replayed tail re-adds events the restored row
                        # already counted: a key whose final row was written waits until the
                        # partition is caught up, when its figures tell whether anything
                        # really changed. Keys still owed a final row get it now.
                        due = [k for k in w.dirty if not _was_final(w.emitted.get(k))]
                        if due:
                            out.closed(w, due)
                            for k in due:
                                del w.dirty[k]
                        if not w.dirty:
                            del store.dirty[w]
                        continue
                    w.restored = False
                out.closed(w, w.dirty)
            elif provisional:
                out.provisional(w, w.dirty)
            else:
                continue
            w.dirty.clear()
            del store.dirty[w]
        if provisional:
            self._next_provisional = now_s + interval
        for track in moved:
            store.purge(track)
        em = Emission(out.rows, [late_row(x, out.now_dt) for x in self._late], out.counts,
                      self._unwindowed, self._dropped_partial)
        self._late = []
        self._unwindowed = 0
        self._dropped_partial = 0
        return em


def _was_final(memory: Emitted | None) -> bool:
    """Whether the last row emitted for a key was final or corrected."""
    return memory is not None and memory[0]
