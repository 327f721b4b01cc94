"""The emission rules of one tick: which row (if any) a window key gets. Internal, pure.

* closed window: ``final`` unless a final/corrected row was emitted before; then
  ``corrected`` only if the statistics differ from the last emitted ones (a replay that
  re-adds what was counted emits nothing);
* open window: ``provisional`` if the statistics differ from the last emitted ones;
* ``version`` = max(previous version + 1, now in µs).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from schemas.rows import Row
from streams.windows.assign import utc
from streams.windows.series import Emitted, KeyT, Window
from streams.windows.stats import MICRO, N_STATS, Acc, fold

_DT_CACHE_MAX = 100_000


class Emitter:
    """Collects one tick's ``window_stats`` rows and the count per status."""

    __slots__ = ("counts", "dt_cache", "now_dt", "now_us", "rows")

    def __init__(self, now_s: float, dt_cache: dict[int, datetime]) -> None:
        self.now_us = int(now_s * 1_000_000)
        self.now_dt = utc(now_s)
        self.rows: list[Row] = []
        self.counts = {"provisional": 0, "final": 0, "corrected": 0}
        if len(dt_cache) > _DT_CACHE_MAX:
            dt_cache.clear()
        self.dt_cache = dt_cache  # window bounds → datetime, shared across ticks

    def close(self, w: Window) -> None:
        """Every key of a window that just closed."""
        for key, acc in all_stats_of(w).items():
            self._closed(w, key, acc)

    def closed(self, w: Window, keys: Iterable[KeyT]) -> None:
        """Changed keys of a closed window."""
        for key in keys:
            acc = stats_of(w, key)
            if acc is not None:
                self._closed(w, key, acc)

    def _closed(self, w: Window, key: KeyT, acc: Acc) -> None:
        """Final once, then corrected whenever the stats differ from the last emitted."""
        previous = w.emitted.get(key)
        if previous is None or not previous[0]:
            self._emit(w, key, acc, "final", previous)
        elif previous[2] != tuple(acc[:N_STATS]):
            self._emit(w, key, acc, "corrected", previous)

    def provisional(self, w: Window, keys: Iterable[KeyT]) -> None:
        for key in keys:
            acc = stats_of(w, key)
            if acc is None:
                continue
            previous = w.emitted.get(key)
            if previous is None or previous[2] != tuple(acc[:N_STATS]):
                self._emit(w, key, acc, "provisional", previous)

    def _dt(self, t: int) -> datetime:
        d = self.dt_cache.get(t)
        if d is None:
            d = self.dt_cache[t] = utc(t)
        return d

    def _times(self, w: Window, acc: Acc) -> tuple[datetime, datetime]:
        """first_event_at, last_event_at; a key no event is left in (a correction) has the
        window's start as both."""
        if acc[0]:
            return utc(acc[11]), utc(acc[12])
        start = self._dt(w.start)
        return start, start

    def _emit(self, w: Window, key: KeyT, acc: Acc, status: str,
              previous: Emitted | None) -> None:
        version = self.now_us if previous is None else max(previous[1] + 1, self.now_us)
        w.emitted[key] = (status != "provisional", version, tuple(acc[:N_STATS]))
        series = w.series
        country, border, tz = acc[13]
        self.rows.append((
            series.name, self._dt(w.start), self._dt(w.end), w.label, series.track.station,
            country, border, tz, key[0], key[1], key[2],
            acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6] / MICRO, acc[7], acc[8],
            acc[9], acc[10] / MICRO, *self._times(w, acc),
            status, version, self.now_dt,
        ))
        self.counts[status] += 1


def all_stats_of(w: Window) -> dict[KeyT, Acc]:
    """Every key's accumulator in ``w`` (hopping: folded over its panes in one pass)."""
    if w.keys is not None:
        return w.keys
    series = w.series
    panes = series.panes
    out: dict[KeyT, Acc] = {}
    for p in range(w.start, w.end, series.hop):
        pane = panes.get(p)
        if not pane:
            continue
        for key, a in pane.items():
            acc = out.get(key)
            if acc is None:
                out[key] = a.copy()
            else:
                fold(acc, a)
    if w.cleared:
        for key, zero in w.cleared.items():
            out.setdefault(key, zero)
    return out


def stats_of(w: Window, key: KeyT) -> Acc | None:
    """The accumulator of ``key`` in ``w`` (hopping: the fold of its panes), or None."""
    if w.keys is not None:
        return w.keys.get(key)
    series = w.series
    panes = series.panes
    acc: Acc | None = None
    for p in range(w.start, w.end, series.hop):
        pane = panes.get(p)
        if pane is None:
            continue
        a = pane.get(key)
        if a is None:
            continue
        if acc is None:
            acc = a.copy()
        else:
            fold(acc, a)
    if acc is None and w.cleared:
        return w.cleared.get(key)
    return acc
