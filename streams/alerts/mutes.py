"""Mutes (Alertmanager's silences): a rule, a scope or both muted for a time, with a reason.
Pure.

A muted alert still fires, resolves and is stored like any other; it is only not notified
(the webhook) and counted apart from the open ones. A mute names a rule (``rule_id``,
``''``: every rule) and/or a scope — a country (``KZ``), a border (``KG-KZ``) or a station
— and is **active** from ``created_at`` until ``ends_at``: it expires by itself, or earlier
when someone unmutes it (a new version with ``ends_at`` = then, ``expired_by``). Expired
mutes stay listed.

An alert is **within** a scope when everything it is about is:

* a station's alert (its own rules, its gaps, its silence): the station is the mute's
  station, or lies in the mute's country, or on the mute's border;
* a pair's alert: both posts are (so a border mute covers the BLO pairs across it, a
  country or station mute only pairs wholly inside it);
* a roll-up (country, border, all): the mute names that very country or border; an ``all``
  roll-up only a mute without scope.

Where a station lies (country, border) is the registry's: :data:`Places`. Of several active
mutes that match an alert, the one ending last is *the* mute (ties: the smaller id):
:func:`ordered` is that order, which the API's SQL form follows too.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.alert_input import MuteRequest
from schemas.rows import MuteRow
from streams.alerts.rows import epoch, utc, whole

Places = Mapping[str, tuple[str, str]]
"""station id → (country, border) of its latest registry record (border '' : interior)."""

MAX_MUTE_S = 30 * 86400
"""The longest mute (30 days): longer is a rule to change, not a mute."""
SCOPE_KINDS = ("country", "border", "station")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_BORDER = re.compile(r"^[A-Z]{2}-[A-Z]{2}$")
_STATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_RULE = re.compile(r"^[a-z0-9_.\-]{1,64}$")


def scope_of(key: str) -> str:
    """The kind of a mute's scope key: ``''`` (none), ``country`` (two capitals),
    ``border`` (``XX-YY``) or ``station``; :class:`ValueError` for a key that is none of
    them (a pair ``A+B``, a gap key ``S:1-2``, ``all``: mute without a scope instead)."""
    if key == "":
        return ""
    if _COUNTRY.match(key):
        return "country"
    if _BORDER.match(key):
        return "border"
    if key != "all" and _STATION.match(key):
        return "station"
    raise ValueError(f"scope {key[:80]!r}: a country (KZ), a border (KG-KZ) or a station id")


MAX_TEXT_CHARS = 2000
"""The longest mute reason or acknowledgement comment (the API and the CLI refuse longer)."""

MAX_WHO_CHARS = 200
"""The longest "who" of a mute or an acknowledgement sent from the CLI."""


def request_problems(rule_id: str, scope_key: str, for_s: float, reason: str) -> list[str]:
    """What is wrong with a mute's creation (empty: nothing)."""
    problems = []
    if not rule_id and not scope_key:
        problems.append("name a rule, a scope, or both")
    if rule_id and not _RULE.match(rule_id):
        problems.append(f"rule {rule_id[:80]!r}: not a rule id")
    try:
        scope_of(scope_key)
    except ValueError as e:
        problems.append(str(e))
    if not 0 < for_s <= MAX_MUTE_S:
        problems.append(f"duration: more than 0 and at most {MAX_MUTE_S // 86400} days")
    if not reason.strip():
        problems.append("reason: say why (it is shown with every muted alert)")
    elif len(reason) > MAX_TEXT_CHARS:
        problems.append(f"reason: at most {MAX_TEXT_CHARS} characters ({len(reason)} given)")
    return problems


@dataclass(frozen=True, slots=True)
class Mute:
    """One version of a mute (one ``alert_mutes`` row); times whole epoch seconds."""

    mute_id: str
    version: int
    rule_id: str
    scope: str
    scope_key: str
    reason: str
    created_by: str
    created_at: int
    ends_at: int
    expired_by: str = ""
    expired_at: int = 0
    updated_at: int = 0

    def active(self, now_s: float) -> bool:
        return self.created_at <= now_s < self.ends_at

    def status(self, now_s: float) -> str:
        """``active``, ``expired`` (its time ran out) or ``unmuted`` (ended early)."""
        if self.active(now_s):
            return "active"
        return "unmuted" if self.expired_at else "expired"

    def row(self) -> MuteRow:
        return MuteRow(self.mute_id, self.version, self.rule_id, self.scope, self.scope_key,
                       self.reason, self.created_by, utc(self.created_at), utc(self.ends_at),
                       self.expired_by, utc(self.expired_at), utc(self.updated_at))

    @classmethod
    def from_row(cls, values: Sequence[Any]) -> Mute:
        """An ``alert_mutes`` row (all columns, table order)."""
        v = MuteRow._make(values)
        return cls(str(v.mute_id), int(v.version), str(v.rule_id), str(v.scope),
                   str(v.scope_key), str(v.reason), str(v.created_by), epoch(v.created_at),
                   epoch(v.ends_at), str(v.expired_by), epoch(v.expired_at),
                   epoch(v.updated_at))


def ordered(mutes: Iterable[Mute]) -> list[Mute]:
    """Mutes in the order that decides which of several matching ones is *the* mute: the
    one ending last first, then by id."""
    return sorted(mutes, key=lambda m: (-m.ends_at, m.mute_id))


def alert_stations(scope: str, scope_key: str, station_id: str) -> tuple[str, ...]:
    """The stations an alert is about: its station, or a pair's two posts; none for a
    roll-up."""
    if scope == "pair":
        return tuple(s for s in scope_key.split("+") if s)
    if scope == "station" and station_id:
        return (station_id,)
    return ()


def matches(mute: Mute, rule_id: str, scope: str, scope_key: str, station_id: str,
            places: Places) -> bool:
    """Whether ``mute`` (active or not) covers an alert of ``rule_id`` about ``scope`` /
    ``scope_key`` / ``station_id`` (module docstring: "within")."""
    if mute.rule_id and mute.rule_id != rule_id:
        return False
    if not mute.scope:
        return True
    if scope in ("country", "border", "all"):
        return scope == mute.scope and scope_key == mute.scope_key
    stations = alert_stations(scope, scope_key, station_id)
    if not stations:
        return False
    if mute.scope == "station":
        return all(s == mute.scope_key for s in stations)
    at = 0 if mute.scope == "country" else 1
    return all(s in places and places[s][at] == mute.scope_key for s in stations)


def muting(mutes: Iterable[Mute], rule_id: str, scope: str, scope_key: str,
           station_id: str, places: Places, now_s: float) -> Mute | None:
    """*The* active mute of an alert (:func:`ordered`), or None."""
    for m in ordered(m for m in mutes if m.active(now_s)):
        if matches(m, rule_id, scope, scope_key, station_id, places):
            return m
    return None


class MuteBook:
    """The mutes the alert engine holds: restored from ``alert_mutes``, changed by
    :class:`schemas.alert_input.MuteRequest` records. It owns the versions: a request read
    twice (a redelivery) changes nothing the second time."""

    def __init__(self) -> None:
        self.mutes: dict[str, Mute] = {}

    def restore(self, rows: Iterable[Sequence[Any]]) -> None:
        for r in rows:
            m = Mute.from_row(r)
            held = self.mutes.get(m.mute_id)
            if held is None or held.version < m.version:
                self.mutes[m.mute_id] = m

    def apply(self, req: MuteRequest) -> tuple[Mute | None, str]:
        """The new version ``req`` makes (to write), or None and why nothing changed."""
        at = whole(req.at_s)
        held = self.mutes.get(req.mute_id)
        if req.op == "create":
            if held is not None:
                return None, "already created"
            problems = request_problems(req.rule_id, req.scope_key, req.for_s, req.reason)
            if problems:
                return None, "; ".join(problems)
            new = Mute(req.mute_id, 1, req.rule_id, scope_of(req.scope_key), req.scope_key,
                       req.reason, req.by, at, at + whole(req.for_s), updated_at=at)
        else:
            if held is None:
                return None, "no such mute"
            if held.ends_at <= at:
                return None, "already expired"
            new = dataclasses.replace(held, version=held.version + 1,
                                      ends_at=max(at, held.created_at), expired_by=req.by,
                                      expired_at=at, updated_at=at)
        self.mutes[new.mute_id] = new
        return new, ""

    def active(self, now_s: float) -> list[Mute]:
        return ordered(m for m in self.mutes.values() if m.active(now_s))
