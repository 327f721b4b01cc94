"""The history of one event: every revision of it, what each changed. Pure.

Where it comes from (docs/corrections.md): an event ever corrected or voided has one row
per revision in ``event_revisions`` (the original included); an event never corrected has
its history in its one ``events`` row. So :func:`history_queries` reads the readers' view
(:func:`sinks.read_model.latest`) of both, and :func:`histories` takes the revisions when
there are any, else the live row. A voided event has no live row: its history is only in
``event_revisions``.

Per revision: its number, its kind (``original`` for revision 0, ``void``, else
``revision``), the reason, the times, the body hash, and the fields that changed from the
previous revision, read from the stored payloads (canonical JSON: an absent field is
``None``). Nested objects are compared field by field (``sex.male``), lists as a whole.
Left out of the changes: ``revision``, ``correction_reason`` and ``reported_at`` (each
has its own column, and none of them is part of what a revision corrects; the body hash
ignores ``reported_at`` too). A void carries no fields to compare: its changes are empty,
and a revision after a void is compared with the last revision before it.

``blo events history`` and ``GET /api/v1/events/{event_id}/history`` both show this.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sinks.read_model import Query, latest
from sinks.tables import EVENT_REVISIONS, EVENTS

ORIGINAL, REVISION, VOID = "original", "revision", "void"
_NOT_COMPARED = frozenset({"revision", "correction_reason", "reported_at"})

_READ = ("event_id", "station_id", "revision", "correction_reason", "event_type",
         "occurred_at", "reported_at", "ingested_at", "body_hash", "payload")
# the id as text and times as epoch seconds: the same values whichever way the query runs
# (clickhouse-driver, chDB, the worker's JSON door)
_SELECT = ("toString(event_id), station_id, revision, {voided}, correction_reason, "
           "event_type, toUInt32(occurred_at), toUInt32(reported_at), toUInt32(ingested_at), "
           "body_hash, payload")


def history_queries(database: str, event_id: str, stations: Sequence[str] | None = None
                    ) -> tuple[Query, Query]:
    """(the revisions of ``event_id`` in ``event_revisions``, its live row in ``events``),
    both the readers' view, restricted to ``stations`` when given (not empty). Rows as
    :func:`histories` reads them. Both filter only the sorting key before collapsing."""
    where = "event_id = toUUID(%(event_id)s)"
    params: dict[str, Any] = {"event_id": event_id}
    if stations is not None:
        where += " AND station_id IN %(stations)s"
        params["stations"] = tuple(stations)
    revisions = latest(database, EVENT_REVISIONS, (*_READ, "voided"), where)
    live = latest(database, EVENTS, _READ, where)
    return (Query(f"SELECT {_SELECT.format(voided='voided')} FROM {revisions} "
                  "ORDER BY station_id, revision, ingested_at", params),
            Query(f"SELECT {_SELECT.format(voided='toUInt8(0)')} FROM {live} "
                  "ORDER BY station_id, ingested_at", params))


@dataclass(frozen=True, slots=True)
class Change:
    """One field a revision changed: ``old`` → ``new`` (``None``: absent)."""

    field: str
    old: Any
    new: Any

    def document(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new}

    def text(self) -> str:
        return f"{self.field}: {_value_text(self.old)} → {_value_text(self.new)}"


@dataclass(frozen=True, slots=True)
class Revision:
    """One revision of an event, as stored (times: epoch seconds, UTC)."""

    revision: int
    kind: str
    reason: str
    event_type: str
    occurred_at: int
    reported_at: int
    ingested_at: int
    body_hash: str
    event: Mapping[str, Any]  # the stored payload, parsed ({} if unreadable)
    changes: tuple[Change, ...]

    def document(self) -> dict[str, Any]:
        return {"revision": self.revision, "kind": self.kind, "reason": self.reason,
                "event_type": self.event_type, "occurred_at": rfc3339(self.occurred_at),
                "reported_at": rfc3339(self.reported_at),
                "ingested_at": rfc3339(self.ingested_at), "body_hash": self.body_hash,
                "changes": [c.document() for c in self.changes], "event": dict(self.event)}


@dataclass(frozen=True, slots=True)
class EventHistory:
    """Every stored revision of one event of one station, by revision number. ``source``:
    ``event_revisions`` (corrected or voided) or ``events`` (never corrected)."""

    event_id: str
    station_id: str
    source: str
    revisions: tuple[Revision, ...]

    @property
    def current(self) -> Revision:
        return self.revisions[-1]

    @property
    def voided(self) -> bool:
        return self.current.kind == VOID

    def document(self) -> dict[str, Any]:
        """The JSON object of ``blo events history --format json`` and of the API."""
        return {"event_id": self.event_id, "station_id": self.station_id,
                "current_revision": self.current.revision, "voided": self.voided,
                "source": self.source,
                "revisions": [r.document() for r in self.revisions]}

    def summary(self) -> str:
        n = len(self.revisions)
        state = (f"voided at revision {self.current.revision}" if self.voided
                 else f"current: revision {self.current.revision}")
        return (f"event {self.event_id} of station {self.station_id}: {n} revision"
                f"{'' if n == 1 else 's'} stored, {state}")


def rfc3339(t: int) -> str | None:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ``; 0 (ClickHouse's "no time") as None."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def kind_of(revision: int, voided: bool) -> str:
    if voided:
        return VOID
    return ORIGINAL if revision == 0 else REVISION


def _flat(payload: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[Change, ...]:
    """The fields whose value differs between two payloads (absent = ``None``), by name;
    ``revision``, ``correction_reason`` and ``reported_at`` not compared."""
    a, b = _flat(old), _flat(new)
    names = sorted((a.keys() | b.keys()) - _NOT_COMPARED)
    return tuple(Change(n, a.get(n), b.get(n)) for n in names if a.get(n) != b.get(n))


def _payload(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _revisions(rows: Sequence[Sequence[Any]]) -> tuple[Revision, ...]:
    """Rows of one station's event (:data:`_SELECT` order), one per revision number (the
    latest copy of a number wins), with what each changed."""
    by_number: dict[int, Sequence[Any]] = {}
    for r in rows:
        n = int(r[2])
        if n not in by_number or int(r[8]) >= int(by_number[n][8]):
            by_number[n] = r
    out: list[Revision] = []
    compared: Mapping[str, Any] | None = None  # the last revision that was not a void
    for n in sorted(by_number):
        r = by_number[n]
        kind = kind_of(n, bool(int(r[3])))
        event = _payload(str(r[10]))
        diff: tuple[Change, ...] = ()
        if kind != VOID:
            if compared is not None:
                diff = changes(compared, event)
            compared = event
        out.append(Revision(n, kind, str(r[4]), str(r[5]), int(r[6]), int(r[7]), int(r[8]),
                            str(r[9]), event, diff))
    return tuple(out)


def histories(revision_rows: Iterable[Sequence[Any]], event_rows: Iterable[Sequence[Any]]
              ) -> list[EventHistory]:
    """The history of the event per station that stored it (normally one), from the rows
    of :func:`history_queries`: the revisions where there are any, else the live row.
    Empty when neither has a row (an unknown id, or one outside the stations asked)."""
    out: list[EventHistory] = []
    for source, rows in (("event_revisions", list(revision_rows)),
                         ("events", list(event_rows))):
        by_station: dict[str, list[Sequence[Any]]] = {}
        for r in rows:
            by_station.setdefault(str(r[1]), []).append(r)
        known = {h.station_id for h in out}
        for station, its in sorted(by_station.items()):
            if station not in known:
                out.append(EventHistory(str(its[0][0]), station, source, _revisions(its)))
    return sorted(out, key=lambda h: h.station_id)


# -- the CLI's table ------------------------------------------------------------------------
def _value_text(v: Any) -> str:
    if v is None:
        return "(absent)"
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _plain(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S") if t else ""


_HEADER = ("revision", "kind", "occurred_at (UTC)", "reported_at (UTC)", "ingested_at (UTC)",
           "body_hash", "reason")


def table_lines(h: EventHistory) -> list[str]:
    """``blo events history``'s table: a summary line, one line per revision, each
    followed by its changes (indented, ``field: old → new``)."""
    rows = [[str(r.revision), r.kind, _plain(r.occurred_at), _plain(r.reported_at),
             _plain(r.ingested_at), r.body_hash, " ".join(r.reason.split())]
            for r in h.revisions]
    widths = [max(len(x) for x in col) for col in zip(_HEADER, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [h.summary(), line(_HEADER), "  ".join("-" * w for w in widths)]
    for r, cells in zip(h.revisions, rows, strict=True):
        out.append(line(cells))
        out.extend(f"    {c.text()}" for c in r.changes)
    return out
