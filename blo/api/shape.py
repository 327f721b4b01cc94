"""The API's answers, shaped from the rows ClickHouse returns. Pure.

Every function here takes rows (as :meth:`sinks.base.Database.query` gives them) and plain
values and returns the JSON body docs/api.md shows; nothing here does I/O. Times are
``YYYY-MM-DDTHH:MM:SSZ`` (UTC) and a zero epoch (ClickHouse's "no time") is ``null``;
floats are rounded to 6 decimals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from blo.api.params import INTERIOR, STATISTICS
from blo.api.queries import ALERT_COLUMNS, GROUP_COLUMNS, RANKED_SEVERITIES
from blo.api.scope import Scope, StationInfo, Visibility, alert_visible
from blo.api.tokens import Token, iso
from blo.event_history import EventHistory
from streams.alerts.mutes import Mute
from streams.alerts.rows import parse_messages, parse_rule_names

JsonObject = dict[str, Any]
"""One JSON object of an answer (its keys are those docs/api.md lists)."""

STATION_FIELDS = ("station_id", "name", "country", "agency", "border", "paired_blo",
                  "crossing_point", "lat", "lon", "tz", "active")
"""The columns of :func:`blo.api.queries.stations_sql`: the keys of a station object, which
also has ``interior`` (true for a post with no land neighbour: its ``border`` is '')."""
_ALERT_TIMES = ("window_start", "window_end", "fired_at", "resolved_at", "acked_at")
_SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def epoch_iso(t: Any) -> str | None:
    """Seconds since the epoch as an ISO time; 0 (no time) as None."""
    t = int(t)
    return iso(datetime.fromtimestamp(t, UTC)) if t else None


def plain_value(v: Any) -> Any:
    """A value of a row as JSON: floats rounded, times as ISO (naive = UTC), the rest as
    text."""
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, int | str | bool) or v is None:
        return v
    if isinstance(v, datetime):
        return iso(v) if v.tzinfo else v.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(v)


def plain(row: Sequence[Any]) -> list[Any]:
    return [plain_value(v) for v in row]


def num(v: Any) -> Any:
    """A statistic: a float rounded, an integer as int."""
    if isinstance(v, float):
        return round(v, 6)
    return int(v) if isinstance(v, int) else v


def worse(a: str | None, b: str) -> str:
    """The more severe of two alert severities (``a`` None: none yet)."""
    return b if a is None or _SEVERITY.get(b, 0) > _SEVERITY.get(a, 0) else a


# -- the registry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Registry:
    """The stations' latest records: as JSON objects (``STATION_FIELDS``) and for scopes."""

    stations: tuple[JsonObject, ...]
    infos: tuple[StationInfo, ...]

    def visible(self, v: Visibility) -> list[JsonObject]:
        """The station objects ``v`` sees, in registry order."""
        return [s for s in self.stations if s["station_id"] in v.stations]


def registry(rows: Iterable[Sequence[Any]]) -> Registry:
    stations, infos = [], []
    for r in rows:
        raw = dict(zip(STATION_FIELDS, r, strict=True))
        stations.append({**{k: plain_value(v) for k, v in raw.items()},
                         "interior": raw["border"] == ""})
        infos.append(StationInfo(str(raw["station_id"]), str(raw["country"]),
                                 str(raw["agency"]), str(raw["border"]),
                                 str(raw["paired_blo"])))
    return Registry(tuple(stations), tuple(infos))


# -- statistics -----------------------------------------------------------------------------
def stat_rows(group_by: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[JsonObject]:
    """Rows of :func:`blo.api.queries.stats_sql`: the groups, then every statistic. The
    interior posts' group (border '') has the border ``"interior"``."""
    names = [*group_by, *STATISTICS]
    out = [dict(zip(names, plain(r), strict=True)) for r in rows]
    if "border" in group_by:
        for row in out:
            row["border"] = row["border"] or INTERIOR
    return out


def paired_groups(group_by: Sequence[str]) -> tuple[str, ...]:
    """How the paired posts' block is grouped: as asked, but never per station (the
    foreign side is seen in aggregate only); by country when nothing else is left."""
    return tuple(g for g in group_by if g != "station") or ("country",)


def ranged_body(window: str, t0: datetime, t1: datetime, stat: str, scope: Scope,
                key: str, items: list[JsonObject]) -> JsonObject:
    """A ``/top`` (``key`` rows) or ``/series`` (``key`` points) answer."""
    return {"window": window, "from": iso(t0), "to": iso(t1), "stat": stat,
            "scope": scope.describe(), key: items}


def stats_body(window: str, t0: datetime, t1: datetime, scope: Scope,
               group_by: Sequence[str], rows: list[JsonObject],
               paired: tuple[Sequence[str], list[JsonObject]] | None) -> JsonObject:
    """A ``/stats`` answer; ``paired``: the groups and rows of the paired posts' block."""
    body: JsonObject = {"window": window, "from": iso(t0), "to": iso(t1),
                        "group_by": list(group_by),
                        "scope": scope.describe(), "rows": rows}
    if paired is not None:
        groups, prows = paired
        body["paired"] = {"group_by": list(groups), "rows": prows}
    return body


def top_rows(rows: Iterable[Sequence[Any]]) -> list[JsonObject]:
    """Rows of :func:`blo.api.queries.top_sql`."""
    return [{"station_id": s, "country": c, "value": num(x)} for s, c, x in rows]


def series_points(rows: Iterable[Sequence[Any]]) -> list[JsonObject]:
    """Rows of :func:`blo.api.queries.series_sql`; an empty label is null."""
    return [{"t": epoch_iso(t), "label": label or None, "value": num(x)}
            for t, label, x in rows]


# -- station health -------------------------------------------------------------------------
def health_stations(stations: Iterable[str], now: datetime,
                    seen: Iterable[Sequence[Any]], late: Iterable[Sequence[Any]],
                    dead: Iterable[Sequence[Any]]) -> list[JsonObject]:
    """One object per station (sorted), from the three reads of
    :func:`blo.api.queries.health_sql`; a station with no row has zeros and nulls."""
    last_seen = {s: (int(a), int(b), int(n)) for s, a, b, n in seen}
    late_n = {s: int(n) for s, n in late}
    dead_n = {s: int(n) for s, n in dead}
    out = []
    for sid in sorted(stations):
        last, ingested, n = last_seen.get(sid, (0, 0, 0))
        out.append({"station_id": sid, "last_event_at": epoch_iso(last),
                    "last_ingested_at": epoch_iso(ingested),
                    "event_time_lag_s": round(now.timestamp() - last) if last else None,
                    "events_30d": n, "late_events_24h": late_n.get(sid, 0),
                    "dead_letters_24h": dead_n.get(sid, 0)})
    return out


def health_body(scope: Scope, now: datetime, stations: list[JsonObject]) -> JsonObject:
    return {"scope": scope.describe(), "at": iso(now), "stations": stations}


# -- alerts ---------------------------------------------------------------------------------
def alert_messages(message: Any, messages: Any) -> JsonObject:
    """The ``messages`` object of an alert (``{"en": ..., "ru": ...}``) from its columns;
    ``{"en": message}`` for alerts stored before messages had languages."""
    return {"en": str(message), **parse_messages(messages)}


def rule_names(rule_name: Any, messages: Any) -> JsonObject:
    """The ``rule_names`` object of an alert or group (``{"en": ..., "ru": ...}``: the
    rule's name per language of the rules file) from its columns; ``{"en": rule_name}``
    for alerts stored before names had languages."""
    return {"en": str(rule_name), **parse_rule_names(messages)}


def visible_alerts(rows: Iterable[Sequence[Any]], scope: Scope, v: Visibility,
                   limit: int) -> list[JsonObject]:
    """The first ``limit`` rows of :func:`blo.api.queries.alerts_sql` that ``scope`` may
    see (:func:`blo.api.scope.alert_visible`), as the alert objects of an answer."""
    out = []
    for r in rows:
        a = dict(zip(ALERT_COLUMNS, plain(r), strict=True))
        if alert_visible(scope, v, a):
            for k in _ALERT_TIMES:
                a[k] = epoch_iso(a[k])
            a["provisional"], a["acked"] = bool(a["provisional"]), bool(a["acked"])
            a["rule_names"] = rule_names(a["rule_name"], a["messages"])
            a["messages"] = alert_messages(a["message"], a["messages"])
            out.append(a)
            if len(out) >= limit:
                break
    return out


SEVERITIES = ("critical", "warning", "info")
"""Severities, worst first (the order of every count object)."""


def _by_severity() -> dict[str, int]:
    return dict.fromkeys(SEVERITIES, 0)


def alert_counts(rows: Iterable[Sequence[Any]]) -> JsonObject:
    """The exact counts of an alert list, from :func:`blo.api.queries.alert_counts_sql`'s
    rows (severity, state, acked, muted, count): every alert the filter keeps (``alerts``)
    by severity, state and acknowledgement; ``muted`` of them; ``open`` — firing and not
    muted, what needs a duty officer — and ``open_muted``, by severity with their total."""
    out: JsonObject = {"alerts": 0, "by_severity": _by_severity(),
                       "by_state": {"firing": 0, "resolved": 0},
                       "by_ack": {"acked": 0, "unacked": 0}, "muted": 0,
                       "open": {"total": 0, **_by_severity()},
                       "open_muted": {"total": 0, **_by_severity()}}
    for severity, state, acked, muted, n in rows:
        n, sev = int(n), str(severity)
        out["alerts"] += n
        out["by_severity"][sev] = out["by_severity"].get(sev, 0) + n
        out["by_state"][str(state)] = out["by_state"].get(str(state), 0) + n
        out["by_ack"]["acked" if int(acked) else "unacked"] += n
        if int(muted):
            out["muted"] += n
        if state == "firing":
            bucket = out["open_muted" if int(muted) else "open"]
            bucket["total"] += n
            bucket[sev] = bucket.get(sev, 0) + n
    return out


def mute_object(m: Mute, now_s: float) -> JsonObject:
    """A mute as the API and ``blo alerts mutes --format json`` show it."""
    return {"mute_id": m.mute_id, "rule_id": m.rule_id or None,
            "scope": m.scope or None, "scope_key": m.scope_key or None,
            "reason": m.reason, "created_by": m.created_by,
            "created_at": epoch_iso(m.created_at), "ends_at": epoch_iso(m.ends_at),
            "status": m.status(now_s), "expired_by": m.expired_by or None,
            "expired_at": epoch_iso(m.expired_at), "version": m.version}


def muted_ref(m: Mute) -> JsonObject:
    """What an alert carries of the mute that mutes it."""
    return {"mute_id": m.mute_id, "reason": m.reason, "created_by": m.created_by,
            "ends_at": epoch_iso(m.ends_at)}


def alert_page(rows: Iterable[Sequence[Any]], mutes: Mapping[str, Mute]) -> list[JsonObject]:
    """Alert objects of :func:`blo.api.queries.alert_page_sql`'s rows; ``muted`` is the
    mute muting each (:func:`muted_ref`) or null."""
    out = []
    for r in rows:
        a = dict(zip(ALERT_COLUMNS, plain(r[:len(ALERT_COLUMNS)]), strict=True))
        for k in _ALERT_TIMES:
            a[k] = epoch_iso(a[k])
        a["provisional"], a["acked"] = bool(a["provisional"]), bool(a["acked"])
        a["rule_names"] = rule_names(a["rule_name"], a["messages"])
        a["messages"] = alert_messages(a["message"], a["messages"])
        ref = str(r[len(ALERT_COLUMNS)])
        a["muted"] = muted_ref(mutes[ref]) if ref in mutes else None
        out.append(a)
    return out


def alert_groups(rows: Iterable[Sequence[Any]]) -> list[JsonObject]:
    """Group objects of :func:`blo.api.queries.alert_groups_sql`'s rows: one per (rule,
    scope key — a station for its gaps), with ``count`` and how many are ``firing``,
    ``acked`` and ``muted``, the ``worst_severity``, ``first_fired_at``,
    ``latest_fired_at`` and ``latest_alert_id``; ``rule_names`` as the latest alert of the
    group names its rule (:func:`rule_names`)."""
    out = []
    for r in rows:
        g = dict(zip(GROUP_COLUMNS, r, strict=True))
        out.append({"rule_id": str(g["rule_id"]), "rule_name": str(g["rule_name"]),
                    "rule_names": rule_names(g["rule_name"], g["latest_messages"]),
                    "scope": str(g["scope"]), "scope_key": str(g["group_key"]),
                    "count": int(g["count"]), "firing": int(g["firing"]),
                    "acked": int(g["acked"]), "muted": int(g["muted"]),
                    "worst_severity": RANKED_SEVERITIES[int(g["worst"])],
                    "first_fired_at": epoch_iso(g["first_fired_at"]),
                    "latest_fired_at": epoch_iso(g["latest_fired_at"]),
                    "latest_alert_id": str(g["latest_alert_id"])})
    return out


def station_worst(rows: Iterable[Sequence[Any]], v: Visibility) -> dict[str, str]:
    """Visible station → the worst severity of the firing, unmuted alerts naming it, from
    :func:`blo.api.queries.alert_station_worst_sql`'s rows."""
    return {str(s): RANKED_SEVERITIES[int(rank)] for s, rank in rows if s in v.stations}


def firing_by_station(alerts: Iterable[Mapping[str, Any]], v: Visibility) -> dict[str, str]:
    """Visible station → the worst severity of the open alerts naming it (its own, or a
    pair it is in)."""
    out: dict[str, str] = {}
    for a in alerts:
        for sid in (a["station_id"], *str(a["scope_key"]).split("+")):
            if sid in v.stations:
                out[sid] = worse(out.get(sid), a["severity"])
    return out


# -- the live dashboard ---------------------------------------------------------------------
def live_window(windows: Sequence[str]) -> str:
    """The window kind the live snapshot sums: ``1m`` when configured, else the first."""
    return "1m" if "1m" in windows else windows[0]


def snapshot(now: datetime, scope: Scope, window: str, interval_s: float,
             stations: Iterable[Mapping[str, Any]], v: Visibility,
             per_station: Iterable[Sequence[Any]], minutes: Iterable[Sequence[Any]],
             open_alerts: list[JsonObject], counts: JsonObject | None = None,
             worst: Mapping[str, str] | None = None) -> JsonObject:
    """One snapshot of the live stream, from the visible station objects and the two
    reads of :func:`blo.api.queries.live_sql`; ``open_alerts`` the first page of the open
    alerts, ``counts`` (:func:`alert_counts` of every firing alert) and ``worst`` (each
    station's worst open unmuted severity) exact over all of them. Without ``counts``
    they are taken from ``open_alerts``."""
    per = {s: (int(n), int(t)) for s, n, t in per_station}
    firing = dict(worst) if worst is not None else firing_by_station(open_alerts, v)
    if counts is None:
        counts = alert_counts((a["severity"], "firing", a["acked"], 0, 1) for a in open_alerts)
    return {
        "at": iso(now), "scope": scope.describe(), "window": window,
        "interval_s": interval_s,
        "stations": [{**s, "events_1h": per.get(s["station_id"], (0, 0))[0],
                      "last_event_at": epoch_iso(per.get(s["station_id"], (0, 0))[1]),
                      "alert": firing.get(s["station_id"])} for s in stations],
        "series": [{"t": epoch_iso(t), "events": int(n)} for t, n in minutes],
        "events_1h": sum(n for n, _ in per.values()),
        "alerts": open_alerts[:50], "alerts_open": counts["open"]["total"],
        "alerts_counts": {"open": counts["open"], "open_muted": counts["open_muted"],
                          "firing": counts["by_state"]["firing"]},
    }


def sse(event: str, data: Any) -> bytes:
    """One server-sent event."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


# -- the token ------------------------------------------------------------------------------
def whoami(token: Token, windows: Sequence[str]) -> JsonObject:
    s = token.scope
    return {"token_id": token.token_id, "name": token.name, "scope": s.describe(),
            "all": s.all, "countries": sorted(s.countries), "agencies": sorted(s.agencies),
            "windows": list(windows),
            "expires_at": iso(token.expires_at) if token.expires_at else None}


# -- an event's history ---------------------------------------------------------------------
def event_history_body(scope: Scope, history: EventHistory) -> JsonObject:
    """A ``/events/{event_id}/history`` answer: the token's scope and the history
    (:meth:`blo.event_history.EventHistory.document`)."""
    return {"scope": scope.describe(), **history.document()}


# -- the live picture: the feed and the post page -------------------------------------------
FEED_DETAILS = {"incident": ("incident_type", "impact", "confidence"),
                "detention": ("offence",)}
"""What the feed takes of the stored payload, by event type: coded fields only (a
detention is counts and an offence, never a name or any other personal detail)."""


def feed_detail_ids(rows: Iterable[Sequence[Any]]) -> tuple[str, ...]:
    """The ids of the rows of :func:`blo.api.queries.feed_sql` whose details live in the
    payload (incidents, detentions)."""
    return tuple(str(r[0]) for r in rows if r[2] in FEED_DETAILS)


def _details(event_type: str, payload: str) -> JsonObject:
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    return {k: (doc.get(k) if isinstance(doc.get(k), str) else None)
            for k in FEED_DETAILS.get(event_type, ())}


def feed_items(rows: Iterable[Sequence[Any]], payloads: Iterable[Sequence[Any]],
               countries: Mapping[str, str]) -> list[JsonObject]:
    """The feed's items, newest first, from the rows of :func:`blo.api.queries.feed_sql`
    and the payloads of :func:`blo.api.queries.feed_details_sql`: a seizure has its drug,
    kg (UNODC kg-equivalent) and arrests; a detention its persons (a count) and offence; an
    incident its type, impact, confidence and persons."""
    by_id = {str(i): str(p) for i, p in payloads}
    out = []
    for eid, sid, etype, occurred, ingested, drug, kg, persons, arrests in rows:
        item: JsonObject = {"event_id": str(eid), "station_id": sid,
                            "country": countries.get(sid, ""), "event_type": etype,
                            "occurred_at": epoch_iso(occurred),
                            "ingested_at": epoch_iso(ingested)}
        if etype == "seizure":
            item |= {"drug": drug, "kg": round(float(kg), 3), "arrests": int(arrests)}
        else:
            item["persons"] = int(persons)
            item |= _details(etype, by_id.get(str(eid), ""))
        out.append(item)
    return out


def feed_body(scope: Scope, now: datetime, since: datetime, items: list[JsonObject]
              ) -> JsonObject:
    return {"scope": scope.describe(), "at": iso(now), "since": iso(since), "items": items}


def post_series(rows: Iterable[Sequence[Any]]) -> list[JsonObject]:
    """Rows of :func:`blo.api.queries.post_series_sql` as points ``{t, event_type, events,
    seizure_kg}``."""
    return [{"t": epoch_iso(t), "event_type": et, "events": int(n), "seizure_kg": num(kg)}
            for t, et, n, kg in rows]


def post_body(scope: Scope, now: datetime, station: JsonObject,
              series: Mapping[str, tuple[str, datetime, list[JsonObject]]],
              health: JsonObject | None) -> JsonObject:
    """A ``/posts/{station_id}`` answer: the registry card, per range (``24h``, ``7d``) its
    window kind, start and points, and the post's health row."""
    return {"scope": scope.describe(), "at": iso(now), "station": station,
            "series": {k: {"window": w, "from": iso(t0), "to": iso(now), "points": pts}
                       for k, (w, t0, pts) in series.items()},
            "health": health}
