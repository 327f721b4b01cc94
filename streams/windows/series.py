"""The objects behind :class:`streams.windows.state.WindowState`. Internal.

* :class:`Track` — one (station, stream): the watermark inputs, the idle mark, the
  partition the station's events came from, one :class:`Series` per applicable spec, and
  emission memories restored after a restart that no window has claimed yet.
* :class:`Series` — one (track, window spec): its windows (``start → Window``) with heaps
  by window end for closing and purging. Tumbling and calendar windows are their own
  single pane (``Window.keys``: key → accumulator); hopping windows fold the ``size/hop``
  panes of ``Series.panes`` they cover, and changes are recorded per pane
  (``Series.dirty_panes``) and spread to the covering windows once per tick.
* :class:`Window` — one window instance: whether it is closed, what was last emitted per
  key, and which keys changed since.

A key here is ``(event_type, measure, dimension)``; station, spec and window start come
from the objects holding it.
"""

from __future__ import annotations

from typing import Any

from streams.windows.assign import unit_of
from streams.windows.config import CALENDAR_KINDS, WindowSpec

KeyT = tuple[str, str, str]  # (event_type, measure, dimension)
Pane = dict[KeyT, list[Any]]
# what was last emitted for a key: (a final/corrected row was emitted, version, statistics)
Emitted = tuple[bool, int, tuple[Any, ...]]

LIVE = "live"
REPORTS = "reports"
STREAMS = (LIVE, REPORTS)


class Window:
    __slots__ = ("cleared", "closed", "dirty", "emitted", "end", "keys", "label", "restored",
                 "series", "start")

    def __init__(self, series: Series, start: int, end: int, label: str) -> None:
        self.series = series
        self.start = start
        self.end = end
        self.label = label
        # tumbling/calendar: the window's own pane; hopping: None (see Series.panes)
        self.keys: Pane | None = None if series.hop else {}
        self.closed = False
        self.emitted: dict[KeyT, Emitted] = {}
        self.dirty: dict[KeyT, None] = {}
        # emission memories came from a restore: corrections wait until caught up
        self.restored = False
        # hopping only: keys a correction left with no event in any pane of this window,
        # with zero figures (and the key's attributes) to emit once
        self.cleared: dict[KeyT, list[Any]] | None = None

    def key_set(self) -> Any:
        """Keys with data in this window (for a hopping window: in any of its panes)."""
        if self.keys is not None:
            return self.keys.keys()
        panes = self.series.panes
        found: set[KeyT] = set()
        for p in range(self.start, self.end, self.series.hop):
            pane = panes.get(p)
            if pane:
                found.update(pane)
        return found


class Series:
    __slots__ = ("dirty_panes", "hop", "last_bounds", "name", "open_heap", "panes",
                 "purge_heap", "size", "spec", "spec_index", "track", "unit", "windows")

    def __init__(self, track: Track, spec_index: int, spec: WindowSpec) -> None:
        self.track = track
        self.spec_index = spec_index
        self.spec = spec
        self.name = spec.name
        self.size = spec.size_s or 0  # 0 for calendar kinds
        self.hop = spec.hop_s if spec.kind == "hopping" and spec.hop_s else 0
        self.unit = unit_of(spec) if spec.kind in CALENDAR_KINDS else ""  # 'day' | 'month'
        self.windows: dict[int, Window] = {}
        self.panes: dict[int, Pane] = {}  # hopping only: pane start → key → accumulator
        self.dirty_panes: dict[int, set[KeyT]] = {}  # hopping only, until the next tick
        self.open_heap: list[tuple[int, int]] = []  # (end, start) of open windows
        self.purge_heap: list[tuple[int, int]] = []  # (end, start) of every window
        self.last_bounds: tuple[str, int, int, str] = ("", 0, 0, "")  # calendar: tz, s, e, label


class Track:
    __slots__ = ("idle_mark", "max_t", "partition", "restored", "restored_heap", "series",
                 "station", "stream", "tick_wm")

    def __init__(self, station: str, stream: str) -> None:
        self.station = station
        self.stream = stream
        self.max_t: float = float("-inf")  # max occurred_at seen
        self.tick_wm: float = float("-inf")  # the watermark as of the last tick
        # now - idle_timeout at the latest tick that found the partition caught up
        self.idle_mark: float = float("-inf")
        self.partition = -1
        self.series: list[Series | None] = []
        # restored emission memories not yet claimed: (spec index, window start) → key → memory
        self.restored: dict[tuple[int, int], dict[KeyT, Emitted]] = {}
        self.restored_heap: list[tuple[float, int, int]] = []  # (forget once wm ≥, spec, start)
