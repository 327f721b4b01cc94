"""Silence rules: an active station that sends nothing. Internal, pure.

The engine keeps, per station, the latest event time it was told of
(:meth:`AlertEngine.on_station_seen`, whole seconds) and its country/border when known. On
a tick whose input is *caught up*, a station whose last event ``L`` is at least
``silence_s`` and at most ``active_within_s`` old fires; a tick that is not caught up (a
replay, a restart reading its backlog) never does. The alert opens at ``L`` (its id's
instant, ``window_start``) and fires at ``L + silence_s``, whatever the tick's time; the
next event (``T > L``) resolves it at ``T`` with ``value = T − L``, the silence's length.
After a resolve, ``cooldown_s`` delays the next firing to ``resolved_at + cooldown_s`` if
the station is still silent then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.alerts.book import AlertBook, Facts
from streams.alerts.durations import Seconds
from streams.alerts.rows import rfc3339
from streams.alerts.rules import SilenceRule


@dataclass
class Stations:
    """What the engine knows of each station: last event time, country, border."""

    last_seen: dict[str, int] = field(default_factory=dict)
    country: dict[str, str] = field(default_factory=dict)
    border: dict[str, str] = field(default_factory=dict)

    def seen(self, station_id: str, t: int) -> bool:
        """Record an event time; True when it is the station's latest."""
        if t > self.last_seen.get(station_id, t - 1):
            self.last_seen[station_id] = t
            return True
        return False

    def describe(self, station_id: str, country: str, border: str) -> None:
        if country:
            self.country[station_id] = country
        if border:
            self.border[station_id] = border


class SilenceTracker:
    def __init__(self, rule: SilenceRule, book: AlertBook, stations: Stations) -> None:
        self.rule = rule
        self.book = book
        self.stations = stations

    def seen(self, station_id: str, t: int) -> None:
        alert = self.book.open_alert(self.rule.id, station_id)
        if alert is None or t <= alert.window_start:
            return
        last = alert.window_start
        self.book.resolve(self.rule, station_id,
                          self._facts(station_id, last, t, float(t - last), t),
                          self.rule.cooldown_s)

    def tick(self, now: int, caught_up: bool) -> None:
        if not caught_up:
            return
        rule = self.rule
        for station_id in sorted(self.stations.last_seen):
            last = self.stations.last_seen[station_id]
            if not rule.filters.station_matches(
                    station_id, self.stations.country.get(station_id, "")):
                continue
            if self.book.open_alert(rule.id, station_id) is not None:
                continue
            at = last + int(rule.silence_s)
            until = self.book.cooldown_until(rule.id, station_id)
            if until is not None:
                at = max(at, until)
            if now < at or now - last > rule.active_within_s:
                continue
            self.book.fire(rule, str(last),
                           self._facts(station_id, last, 0, float(rule.silence_s), at))

    def _facts(self, station_id: str, last: int, end: int, value: float, at: int) -> Facts:
        return Facts(
            scope="station", scope_key=station_id, station_id=station_id, window_kind="",
            window_start=last, window_end=end, value=value, threshold=self.rule.silence_s,
            at=at, context={
                "country": self.stations.country.get(station_id, ""),
                "border": self.stations.border.get(station_id, ""),
                "last_event_at": rfc3339(last), "silence_s": Seconds(self.rule.silence_s),
            })
