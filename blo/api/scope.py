"""What a token may see. Pure.

A token's :class:`Scope` is ``all`` (the regional coordination centre) or a set of countries,
optionally narrowed to agencies. A **station is visible** when its country (and, if the scope
names agencies, its agency) is in the scope; every station row, event and roll-up an answer
carries is computed from visible stations only. A national centre also sees the
**aggregated** figures (never station rows, never events) of the foreign posts paired with
its own (:attr:`Visibility.paired`): the other side of its BLO pairs.

Alerts: a station or pair alert is visible when its station (or one of the pair) is; a
country, border or ``all`` alert is a roll-up over stations of other agencies too, so it is
visible only to country-wide scopes (no agencies) whose countries it concerns, and ``all``
alerts only to the regional scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from blo.api.params import INTERIOR


@dataclass(frozen=True)
class Scope:
    all: bool = False
    countries: frozenset[str] = frozenset()
    agencies: frozenset[str] = frozenset()  # empty: every agency of the countries

    def __post_init__(self) -> None:
        if not self.all and not self.countries:
            raise ValueError("a scope is 'all' or at least one country")
        if self.all and (self.countries or self.agencies):
            raise ValueError("an 'all' scope names no countries or agencies")

    def describe(self) -> str:
        if self.all:
            return "all"
        text = ",".join(sorted(self.countries))
        return text + (f" (agencies {','.join(sorted(self.agencies))})" if self.agencies else "")

    def sees_station(self, country: str, agency: str) -> bool:
        if self.all:
            return True
        return country in self.countries and (not self.agencies or agency in self.agencies)

    def sees_country(self, country: str) -> bool:
        """Country-level roll-ups (alerts, figures) of ``country``."""
        return self.all or (not self.agencies and country in self.countries)


@dataclass(frozen=True)
class StationInfo:
    station_id: str
    country: str
    agency: str
    border: str
    paired_blo: str


@dataclass(frozen=True)
class Visibility:
    """The stations a scope sees, and the foreign paired posts it sees in aggregate."""

    scope: Scope
    stations: frozenset[str]
    paired: frozenset[str]

    def station_ids(self) -> tuple[str, ...]:
        """For ``IN %(stations)s``: never empty (an impossible id keeps the SQL valid)."""
        return tuple(sorted(self.stations)) or ("",)

    def paired_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.paired)) or ("",)


def visibility(scope: Scope, stations: Iterable[StationInfo]) -> Visibility:
    infos = {s.station_id: s for s in stations}
    visible = frozenset(sid for sid, s in infos.items() if scope.sees_station(s.country, s.agency))
    paired: set[str] = set()
    if not scope.all:
        for sid in visible:
            other = infos[sid].paired_blo
            if other and other not in visible:
                paired.add(other)
        for sid, s in infos.items():  # pairs declared on the foreign side only
            if sid not in visible and s.paired_blo in visible:
                paired.add(sid)
    return Visibility(scope, visible, frozenset(paired))


def border_countries(border: str) -> tuple[str, ...]:
    return tuple(p for p in border.split("-") if p)


def alert_visible(scope: Scope, vis: Visibility, alert: Mapping[str, str]) -> bool:
    """``alert``: ``scope``, ``scope_key``, ``station_id`` of an alerts row."""
    if scope.all:
        return True
    kind, key = alert.get("scope", ""), alert.get("scope_key", "")
    if kind == "station":
        return alert.get("station_id", "") in vis.stations
    if kind == "pair":
        return any(s in vis.stations for s in key.split("+"))
    if kind == "country":
        return scope.sees_country(key)
    if kind == "border":
        return any(scope.sees_country(c) for c in border_countries(key))
    return False  # 'all' roll-ups: the regional scope only


def key_fully_visible(vis: Visibility, stations: Iterable[StationInfo], kind: str,
                      key: str) -> bool:
    """Whether every post that a roll-up of ``kind`` (station, country, border, all) and
    ``key`` sums is one ``vis`` sees: a series of such a roll-up (a baseline band) shows
    figures of all of them, so a token may read it only then. A border shared with a
    neighbour whose posts the token does not see is refused, a border whose far side has
    no posts here (Afghanistan's) is not."""
    if vis.scope.all:
        return True
    column = {"station": "station_id", "country": "country", "border": "border"}.get(kind)
    if column is None:
        return False  # 'all' roll-ups: the regional scope only
    summed = {s.station_id for s in stations if getattr(s, column) == key}
    return bool(summed) and summed <= vis.stations


def filter_refusal(scope: Scope, vis: Visibility, station: str | None = None,
                   country: str | None = None, border: str | None = None) -> str:
    """Why a query filtered on ``station``, ``country`` or ``border`` asks for more than
    ``scope`` covers ('' when it does not): the API answers 403 with it. A station must be
    visible; a country must be one of the scope's (its agencies aside: the answer is still
    computed from visible stations only); a border must touch one of them (``interior``, the
    posts on no border, is never refused: the answer is the visible ones)."""
    if station and station not in vis.stations:
        return f"station {station} is outside this token's scope ({scope.describe()})"
    if country and not scope.all and country not in scope.countries:
        return f"country {country} is outside this token's scope ({scope.describe()})"
    if (border and border != INTERIOR and not scope.all
            and not any(c in scope.countries for c in border.split("-"))):
        return f"border {border} does not touch this token's countries ({scope.describe()})"
    return ""


def visible_posts(vis: Visibility, stations: Iterable[StationInfo], station: str | None = None,
                  country: str | None = None, border: str | None = None) -> tuple[str, ...]:
    """The visible stations (never the paired posts') that match the ``station``,
    ``country`` and ``border`` filters (``interior``: the posts on no border), sorted;
    empty when none does."""
    b = None if border is None else ("" if border == INTERIOR else border)
    return tuple(sorted(
        s.station_id for s in stations if s.station_id in vis.stations
        and station in (None, s.station_id) and country in (None, s.country)
        and b in (None, s.border)))


def event_stations(vis: Visibility, station: str | None = None) -> tuple[str, ...]:
    """The stations whose events a token may read: the visible ones (never the paired
    posts': those are seen in aggregate only), narrowed to ``station`` when given. A
    station outside the scope leaves none (``("",)``: the SQL stays valid and finds
    nothing), so its events are answered as unknown ones, never as refused: whether they
    exist does not leak. For ``IN %(stations)s``: never empty."""
    if station:
        return (station,) if station in vis.stations else ("",)
    return vis.station_ids()


# -- alert mutes ----------------------------------------------------------------------------
def mute_refusal(scope: Scope, vis: Visibility, scope_kind: str, key: str) -> str:
    """Why ``scope`` may not create (or end) a mute of ``scope_kind`` / ``key`` ('' when it
    may): only scopes **within** its countries — a station it sees; a country of its own, a
    border both of whose countries are its own, for a country-wide scope (no agencies); a
    mute without a scope (every country's alerts of a rule) only for the regional scope."""
    if scope.all:
        return ""
    who = f"({scope.describe()})"
    if scope_kind == "":
        return f"a mute without a scope mutes every country's alerts: only the regional " \
               f"scope may create one {who}"
    if scope_kind == "station":
        return "" if key in vis.stations else \
            f"station {key} is outside this token's scope {who}"
    if scope.agencies:
        return f"a {scope_kind} mute covers other agencies' posts: this token's scope is " \
               f"limited to agencies {who}"
    if scope_kind == "country":
        return "" if key in scope.countries else \
            f"country {key} is outside this token's scope {who}"
    if all(c in scope.countries for c in border_countries(key)):
        return ""
    return f"border {key} is not within this token's countries {who}: a border mute also " \
           "mutes the other side's alerts"


def mute_visible(scope: Scope, vis: Visibility, scope_kind: str, key: str) -> bool:
    """Whether a mute may mute alerts ``scope`` sees (then the token lists it): one
    without a scope, of one of its countries, of a border touching them, of a station it
    sees."""
    if scope.all or scope_kind == "":
        return True
    if scope_kind == "station":
        return key in vis.stations
    if scope_kind == "country":
        return key in scope.countries
    return any(c in scope.countries for c in border_countries(key))
