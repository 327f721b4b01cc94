"""Query parameters of each endpoint, validated (pydantic): a bad one is a 400 naming it.

Values never reach SQL text: identifiers come from fixed tables here (:data:`STATISTICS`,
:data:`GROUPS`), everything else is a bound parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from streams.alerts.mutes import MAX_TEXT_CHARS

STATISTICS: dict[str, str] = {
    "events": "sum(events)", "persons": "sum(persons)", "vehicles": "sum(vehicles)",
    "refused": "sum(refused)", "inbound": "sum(inbound)", "outbound": "sum(outbound)",
    "seizure_kg": "sum(seizure_kg)", "seizure_kg_max": "max(seizure_kg_max)",
    "arrests": "sum(arrests)", "inspections_with_finds": "sum(inspections_with_finds)",
    "report_value": "sum(value)",
}
"""Statistic name → its aggregate over window_stats rows (all rows of a window: exact)."""

Stat = Literal["events", "persons", "vehicles", "refused", "inbound", "outbound",
               "seizure_kg", "seizure_kg_max", "arrests", "inspections_with_finds",
               "report_value"]

GROUPS: dict[str, str] = {"station": "station_id", "country": "country", "border": "border",
                          "event_type": "event_type", "drug": "dimension"}
Group = Literal["station", "country", "border", "event_type", "drug"]

INTERIOR = "interior"
"""The ``border`` of interior posts (no land neighbour; '' in the tables) in answers and
in the ``border=`` filter."""
BORDER_PATTERN = rf"^([A-Z]{{2}}-[A-Z]{{2}}|{INTERIOR})$"


class ParamError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _utc(v: Any) -> Any:
    if isinstance(v, str):
        try:
            d = datetime.fromisoformat(v)  # 3.11 reads a trailing Z
        except ValueError:
            raise ValueError("not an ISO 8601 time (e.g. 2026-11-28T10:00:00Z)") from None
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    return v


def _comma_list(v: Any) -> Any:
    """``critical,warning`` as ``("critical", "warning")`` (each once, in order)."""
    if isinstance(v, str):
        return tuple(dict.fromkeys(p.strip() for p in v.split(",") if p.strip()))
    return v


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filters(_Params):
    station: str | None = Field(None, max_length=64)
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    border: str | None = Field(None, pattern=BORDER_PATTERN)
    event_type: str | None = Field(None, pattern=r"^[a-z_]{1,32}$")
    drug: str | None = Field(None, pattern=r"^[a-z_]{1,32}$")


class Range(Filters):
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None
    window: str = "1h"

    _t = field_validator("from_", "to", mode="before")(_utc)

    @model_validator(mode="after")
    def _order(self) -> Range:
        if self.from_ is not None and self.to is not None and self.from_ >= self.to:
            raise ValueError("'from' must be before 'to'")
        return self

    def bounds(self, now: datetime, max_days: int) -> tuple[datetime, datetime]:
        to = self.to or now
        start = self.from_ or to - timedelta(days=1)
        if to - start > timedelta(days=max_days):
            raise ParamError([f"from/to: at most {max_days} days per query"])
        return start, to


class StatsParams(Range):
    group_by: tuple[Group, ...] = ("country",)

    @field_validator("group_by", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):  # "country,event_type"; a repeated group counts once
            return tuple(dict.fromkeys(p.strip() for p in v.split(",") if p.strip()))
        return v


class TopParams(Range):
    stat: Stat = "events"
    n: int = Field(10, ge=1, le=100)


class SeriesParams(Range):
    stat: Stat = "events"


ALERT_PAGE_MAX = 1000
"""At most this many alerts (or groups) per page: a larger ``limit`` is a 400 (``total`` and
the counts are always over every match; page on with ``offset``)."""
Severity = Literal["info", "warning", "critical"]


class AlertParams(_Params):
    """``GET /api/v1/alerts``: filters (all optional, combined with AND), sort, grouping and
    the page. ``open`` is ``state=firing``."""

    open: bool = False
    state: Literal["firing", "resolved"] | None = None
    severity: tuple[Severity, ...] = ()
    rule: str | None = Field(None, pattern=r"^[a-z0-9_.\-]{1,64}$")
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    station: str | None = Field(None, min_length=1, max_length=64)
    acknowledged: bool | None = None
    muted: bool | None = None
    sort: Literal["severity", "time"] = "severity"
    group: Literal["rule_scope"] | None = None
    limit: int = Field(100, ge=1)
    offset: int = Field(0, ge=0, le=10_000_000)

    _severities = field_validator("severity", mode="before")(_comma_list)

    @field_validator("limit")
    @classmethod
    def _page(cls, v: int) -> int:
        if v > ALERT_PAGE_MAX:
            raise ValueError(f"at most {ALERT_PAGE_MAX} per page ('total' and 'counts' count "
                             "every match whatever the page; page on with 'offset')")
        return v

    @model_validator(mode="after")
    def _one_state(self) -> AlertParams:
        if self.open and self.state == "resolved":
            raise ValueError("'open' (firing) contradicts state=resolved")
        return self

    def current_state(self) -> str | None:
        return "firing" if self.open else self.state


class MuteBody(_Params):
    """``POST /api/v1/alerts/mutes``: mute ``rule`` and/or ``scope`` (a country, a border or
    a station) for ``duration`` (``6h``, ``30m``, ``2d``, or seconds) with a ``reason``."""

    rule: str | None = Field(None, pattern=r"^[a-z0-9_.\-]{1,64}$")
    scope: str | None = Field(None, min_length=1, max_length=64)
    duration: str | int = Field(..., description="6h, 30m, 2d, 1h30m, or seconds")
    reason: str = Field(..., min_length=1, max_length=MAX_TEXT_CHARS)

    @model_validator(mode="after")
    def _something(self) -> MuteBody:
        if self.rule is None and self.scope is None:
            raise ValueError("name a rule, a scope, or both")
        return self


class MuteListParams(_Params):
    """``GET /api/v1/alerts/mutes``: ``active=true`` only the active ones."""

    active: bool = False


class AckBody(_Params):
    comment: str = Field("", max_length=MAX_TEXT_CHARS)


class BulkAckBody(AckBody):
    """``POST /api/v1/alerts/ack``: the not yet acknowledged alerts of ``rule``, about
    ``scope`` (a scope key, or a station: its own alerts, gaps and pairs), fired in
    ``[since, until)``, only firing ones with ``open``, of a ``severity``, about a
    ``country`` or a ``station`` (as ``GET /api/v1/alerts`` filters them;
    ``acknowledged`` can only be false); at least one filter. ``dry_run``: only count
    them."""

    rule: str | None = Field(None, min_length=1, max_length=64)
    scope: str | None = Field(None, min_length=1, max_length=160)
    since: datetime | None = None
    until: datetime | None = None
    open: bool = False
    severity: tuple[Severity, ...] = ()
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    station: str | None = Field(None, min_length=1, max_length=64)
    acknowledged: Literal[False] | None = None
    dry_run: bool = False

    _t = field_validator("since", "until", mode="before")(_utc)

    _severities = field_validator("severity", mode="before")(_comma_list)

    @model_validator(mode="after")
    def _some_filter(self) -> BulkAckBody:
        if self.rule is None and self.scope is None and self.since is None \
                and self.until is None and not self.severity and self.country is None \
                and self.station is None:
            raise ValueError("name at least one of rule, scope, since, until, severity, "
                             "country, station")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("'since' must be before 'until'")
        return self


class LiveParams(_Params):
    access_token: str | None = None  # EventSource cannot send headers


_P = TypeVar("_P", bound=_Params)


def parse(model: type[_P], query: dict[str, str]) -> _P:
    try:
        return model.model_validate(query)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "query"
            loc = "from" if loc == "from_" else loc
            problems.append(f"{loc}: {err['msg']}")
        raise ParamError(problems) from None




class HistoryParams(_Params):
    """``GET /api/v1/events/{event_id}/history``: ``station`` only when two stations used
    the same event id (and it must be in scope)."""

    station: str | None = Field(None, min_length=1, max_length=64)


def parse_event_id(event_id: str) -> str:
    """The event id of a history's path: a UUID, normalised."""
    try:
        return str(UUID(event_id))
    except ValueError:
        raise ParamError([f"event_id: not a UUID: {event_id[:60]!r}"]) from None


def parse_alert_id(alert_id: str) -> str:
    """The alert id of an acknowledgement's path: a UUID, normalised."""
    try:
        return str(UUID(alert_id))
    except ValueError:
        raise ParamError([f"alert_id: not a UUID: {alert_id[:60]!r}"]) from None


def parse_ack(raw: bytes) -> AckBody:
    """The body of an acknowledgement: absent or ``{"comment": "..."}``."""
    return parse(AckBody, _json_object(raw))


def parse_bulk_ack(raw: bytes) -> BulkAckBody:
    """The body of a bulk acknowledgement (:class:`BulkAckBody`)."""
    return parse(BulkAckBody, _json_object(raw))


def parse_mute(raw: bytes) -> MuteBody:
    """The body of a mute's creation (:class:`MuteBody`)."""
    return parse(MuteBody, _json_object(raw))


def parse_mute_id(mute_id: str) -> str:
    """The mute id of an unmute's path: a UUID, normalised."""
    try:
        return str(UUID(mute_id))
    except ValueError:
        raise ParamError([f"mute_id: not a UUID: {mute_id[:60]!r}"]) from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise ParamError(["body: not JSON (send {\"comment\": \"...\"})"]) from None
    if not isinstance(body, dict):
        raise ParamError(["body: a JSON object"])
    return body


# -- the live picture: the feed of significant events and the post page ---------------------
FEED_TYPES: tuple[str, ...] = ("seizure", "detention", "incident")
"""The event types the feed carries (the significant ones)."""
FeedType = Literal["seizure", "detention", "incident"]


class FeedParams(_Params):
    """``GET /api/v1/feed``: the newest ``limit`` significant events that occurred in
    ``[since, now]`` (default: the last 7 days, at most ``FEED_MAX_DAYS``), of one
    ``station`` (must be visible) or ``event_type`` when given."""

    limit: int = Field(50, ge=1, le=500)
    since: datetime | None = None
    station: str | None = Field(None, min_length=1, max_length=64)
    event_type: FeedType | None = None

    _t = field_validator("since", mode="before")(_utc)

    def lower_bound(self, now: datetime) -> datetime:
        """The earliest occurred_at read: ``since``, at most ``FEED_MAX_DAYS`` back."""
        if self.since is None:
            return now - timedelta(days=FEED_DEFAULT_DAYS)
        return max(self.since, now - timedelta(days=FEED_MAX_DAYS))


FEED_DEFAULT_DAYS = 7
FEED_MAX_DAYS = 31
"""The feed reads at most this far back (the readers' view of ``events`` collapses every
event of the months it reads: a bound keeps the read to one or two monthly partitions)."""


def parse_station_id(station_id: str) -> str:
    """The station id of a post page's path."""
    if not 1 <= len(station_id) <= 64 or not station_id.isprintable():
        raise ParamError([f"station_id: not a station id: {station_id[:60]!r}"])
    return station_id
