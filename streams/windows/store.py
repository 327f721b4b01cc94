"""Where window statistics are kept: tracks, series, windows, panes. Internal, pure.

:class:`WindowStore` folds accumulators into windows (creating them on first use), records
which window keys changed, and finds the windows a watermark or an idle mark closes or
purges. *What* to emit for them is :mod:`streams.windows.emit`'s business; *when* is
:class:`streams.windows.state.WindowState`'s.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection

from streams.windows.assign import Calendars
from streams.windows.config import CALENDAR_KINDS, WindowConfig
from streams.windows.series import LIVE, KeyT, Series, Track, Window
from streams.windows.stats import Acc, fold


class WindowStore:
    __slots__ = ("calendars", "dirty", "dirty_series", "gl", "grace", "live", "open_windows",
                 "reports", "specs")

    def __init__(self, config: WindowConfig) -> None:
        self.specs = config.windows
        self.grace = config.grace_s
        self.gl = config.grace_s + config.allowed_lateness_s
        self.calendars = Calendars()
        self.live: dict[str, Track] = {}
        self.reports: dict[str, Track] = {}
        self.dirty: dict[Window, None] = {}  # windows with changed keys (ordered set)
        self.dirty_series: dict[Series, None] = {}  # hopping series with changed panes
        self.open_windows = 0

    # -- tracks and windows --------------------------------------------------------------

    def track(self, station: str, stream: str) -> Track:
        tracks = self.live if stream == LIVE else self.reports
        track = tracks.get(station)
        if track is None:
            track = tracks[station] = Track(station, stream)
            track.series = [
                Series(track, i, spec) if stream == LIVE or spec.kind in CALENDAR_KINDS else None
                for i, spec in enumerate(self.specs)
            ]
        return track

    def window(self, series: Series, start: int, end: int, label: str) -> Window:
        """A new window; closed at once if its watermark is past its end + grace already,
        or if a restored memory says it was closed before a restart. (Idleness closes
        windows only at a tick whose ``caught_up`` holds the partition.)"""
        track = series.track
        w = Window(series, start, end, label)
        if track.restored:
            memory = track.restored.pop((series.spec_index, start), None)
            if memory:
                w.emitted = memory
                w.restored = True
                w.closed = any(m[0] for m in memory.values())
        if not w.closed and end + self.grace <= track.tick_wm:
            w.closed = True
        series.windows[start] = w
        if not w.closed:
            heapq.heappush(series.open_heap, (end, start))
            self.open_windows += 1
        heapq.heappush(series.purge_heap, (end, start))
        return w

    # -- folding -------------------------------------------------------------------------

    def apply(self, series: Series, start: int, end: int, label: str, key: KeyT,
              acc: Acc) -> None:
        """Fold ``acc`` into the tumbling/calendar window ``start`` of ``series``."""
        w = series.windows.get(start)
        if w is None:
            w = self.window(series, start, end, label)
        pane = w.keys
        assert pane is not None
        a = pane.get(key)
        if a is None:
            pane[key] = acc.copy()
        else:
            fold(a, acc)
        w.dirty[key] = None
        self.dirty[w] = None

    def apply_calendar(self, series: Series, tz: str, t: int, key: KeyT, acc: Acc) -> None:
        """Fold ``acc`` into the local day/month (zone ``tz``) holding instant ``t``."""
        b = series.last_bounds
        if not (b[0] == tz and b[1] <= t < b[2]):
            s, e, label = self.calendars.bounds(tz, series.unit, t)
            b = series.last_bounds = (tz, s, e, label)
        self.apply(series, b[1], b[2], b[3], key, acc)

    def apply_hopping(self, series: Series, pane_start: int, key: KeyT, acc: Acc) -> None:
        """Fold ``acc`` into one pane; the windows covering it are marked at the next
        :meth:`spread_hopping`. Windows already past their lateness are not created."""
        pane = series.panes.get(pane_start)
        if pane is None:
            pane = series.panes[pane_start] = {}
            limit = series.track.tick_wm - self.gl
            windows = series.windows
            for s in range(pane_start - series.size + series.hop, pane_start + 1, series.hop):
                if s not in windows and s + series.size > limit:
                    self.window(series, s, s + series.size, "")
        a = pane.get(key)
        if a is None:
            pane[key] = acc.copy()
        else:
            fold(a, acc)
        dirty = series.dirty_panes.get(pane_start)
        if dirty is None:
            dirty = series.dirty_panes[pane_start] = set()
            self.dirty_series[series] = None
        dirty.add(key)

    def spread_hopping(self) -> None:
        """Changed hopping panes → changed keys of every window covering them."""
        for series in self.dirty_series:
            windows = series.windows
            size, hop = series.size, series.hop
            for p, keys in series.dirty_panes.items():
                for s in range(p - size + hop, p + 1, hop):
                    w = windows.get(s)
                    if w is not None:
                        w.dirty.update(dict.fromkeys(keys))
                        self.dirty[w] = None
            series.dirty_panes = {}
        self.dirty_series = {}

    # -- closing and purging -------------------------------------------------------------

    def close_due(self, track: Track, idle_mark: float, force: bool = False) -> list[Window]:
        """Close the windows of ``track`` its watermark (end + grace ≤ watermark) or
        ``idle_mark`` (end < mark) has passed — every open one when ``force``."""
        closed = []
        close_end = track.tick_wm - self.grace
        for series in track.series:
            if series is None:
                continue
            heap = series.open_heap
            while heap and (force or heap[0][0] <= close_end or heap[0][0] < idle_mark):
                _, start = heapq.heappop(heap)
                w = series.windows.get(start)
                if w is None or w.closed:
                    continue
                w.closed = True
                self.open_windows -= 1
                self.dirty.pop(w, None)
                closed.append(w)
        return closed

    def mark_closed(self, w: Window) -> None:
        """Close ``w`` outside a watermark (a restored memory says it was closed)."""
        if not w.closed:
            w.closed = True
            self.open_windows -= 1
            w.dirty.update(dict.fromkeys(w.key_set()))
            self.dirty[w] = None

    def purge(self, track: Track) -> None:
        """Forget the windows of ``track`` past their allowed lateness (and unclaimed
        restored memories). They are closed and emitted already: the watermark that
        purges them closed them first, and the tick emitted their changes before this."""
        limit = track.tick_wm - self.gl
        for series in track.series:
            if series is None:
                continue
            heap = series.purge_heap
            while heap and heap[0][0] <= limit:
                _, start = heapq.heappop(heap)
                w = series.windows.pop(start, None)
                series.panes.pop(start, None)  # hopping: the last window covering pane `start`
                if w is not None and w.restored and w in self.dirty:
                    # a correction held back since a restore, its partition still catching
                    # up: the row written before the restart stands
                    del self.dirty[w]
                    w.dirty.clear()
                assert w is None or (w.closed and w not in self.dirty), (track.station, start)
        heap2 = track.restored_heap
        while heap2 and heap2[0][0] <= track.tick_wm:
            _, si, start = heapq.heappop(heap2)
            track.restored.pop((si, start), None)

    def forget(self, partitions: Collection[int]) -> set[str]:
        """Drop the tracks whose station's events came from ``partitions``; their stations."""
        gone: set[str] = set()
        for tracks in (self.live, self.reports):
            for station, track in list(tracks.items()):
                if track.partition not in partitions:
                    continue
                del tracks[station]
                gone.add(station)
                for series in track.series:
                    if series is None:
                        continue
                    self.dirty_series.pop(series, None)
                    for w in series.windows.values():
                        self.dirty.pop(w, None)
                        if not w.closed:
                            self.open_windows -= 1
        return gone

    def open_keys(self) -> int:
        """Keys of open windows (walks every window: for benchmarks and debugging)."""
        return sum(
            len(w.key_set())
            for tracks in (self.live, self.reports)
            for track in tracks.values()
            for series in track.series
            if series is not None
            for w in series.windows.values()
            if not w.closed
        )
