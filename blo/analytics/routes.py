"""Trafficking routes: where the seized drugs came from and were going. Pure.

Every seizure event may carry its route in ``payload`` (the canonical JSON of the event):
``producing_country``, ``departure_country``, ``transit_countries`` (in route order) and
``destination_country``, each optional. A **route flow** is the seizures of one drug that
share the whole route, with their kilograms summed and their cases (events) counted; an
unknown country is ``''``. A **country edge** is one step of the routes between two known
countries (``AF → TJ``), weighted by every flow passing through it.

:func:`routes_sql` reads the seizures from the readers' view of ``events``
(:func:`sinks.read_model.latest`: the latest revision of each event, voided events left
out), one row per event (:data:`ROUTE_COLUMNS`); :func:`flows_from_rows` aggregates them,
optionally keeping only the events of some station-local months (the ``month`` window
labels, so a route picture of October counts each post's own October, as the statistics
do). Kilograms are ``quantity_kg`` (0 for a seizure counted in tablets or litres: it
counts as a case, not as weight).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from sinks.read_model import latest
from sinks.read_model.events import months_from
from sinks.tables import EVENTS
from streams.windows.assign import Calendars

ROUTE_COLUMNS = ("station_id", "station_tz", "occurred_at", "drug", "kg", "producing",
                 "departure", "transit", "destination")
"""The columns of :func:`routes_sql`'s rows, in order: ``occurred_at`` in epoch seconds,
``kg`` 0 when the quantity has no weight, the route countries '' when unknown, ``transit``
the raw JSON array of the payload ('' or '[]' when none)."""

_READ = ("station_id", "occurred_at", "station_tz", "event_type", "drug", "quantity_kg",
         "payload")


@dataclass(frozen=True)
class RouteFlow:
    """The seizures of ``drug`` along one route: ``kg`` summed, ``cases`` counted."""

    producing: str
    departure: str
    transit: tuple[str, ...]
    destination: str
    drug: str
    kg: float
    cases: int

    def as_json(self, chain: bool = True) -> dict[str, Any]:
        """The flow as the API and the bulletin's figures give it (``chain``: with
        :meth:`chain`)."""
        out: dict[str, Any] = {
            "producing": self.producing, "departure": self.departure,
            "transit": list(self.transit), "destination": self.destination,
            "drug": self.drug, "kg": self.kg, "cases": self.cases}
        if chain:
            out["chain"] = list(self.chain())
        return out

    def chain(self) -> tuple[str, ...]:
        """The known countries of the route in order, a country repeated in a row once
        (``AF, AF, TJ`` → ``AF, TJ``: produced and departed in Afghanistan)."""
        out: list[str] = []
        for c in (self.producing, self.departure, *self.transit, self.destination):
            if c and (not out or out[-1] != c):
                out.append(c)
        return tuple(out)


@dataclass(frozen=True)
class CountryEdge:
    """One step ``source → target`` of the routes, with the kg and cases of every flow
    whose :meth:`RouteFlow.chain` takes it (a flow counts once per step it takes)."""

    source: str
    target: str
    kg: float
    cases: int


def routes_sql(db: str, stations: tuple[str, ...], t0: datetime, t1: datetime,
               drug: str | None = None) -> tuple[str, dict[str, Any]]:
    """The seizure events of ``stations`` (not empty) that occurred in ``[t0, t1)``, of
    ``drug`` when given, from the readers' view of ``events``: restricted to the stations
    and the month partitions of the range before the copies collapse, to the type, drug and
    range after (a correction may change them). Rows: :data:`ROUTE_COLUMNS`. The route
    fields are read with ``visitParamExtract*`` (ClickHouse 18.16 and chDB alike)."""
    lo, hi = int(t0.timestamp()), int(t1.timestamp())
    src = latest(db, EVENTS, _READ, "station_id IN %(stations)s AND " + months_from(lo, hi))
    params: dict[str, Any] = {"stations": stations, "t0": lo, "t1": hi}
    cond = ""
    if drug is not None:
        cond = " AND drug = %(drug)s"
        params["drug"] = drug
    sql = ("SELECT station_id, station_tz, toUInt32(occurred_at), drug, "
           "ifNull(quantity_kg, 0), visitParamExtractString(payload, 'producing_country'), "
           "visitParamExtractString(payload, 'departure_country'), "
           "visitParamExtractRaw(payload, 'transit_countries'), "
           "visitParamExtractString(payload, 'destination_country') "
           f"FROM {src} WHERE event_type = 'seizure' AND occurred_at >= toDateTime(%(t0)s) "
           f"AND occurred_at < toDateTime(%(t1)s){cond}")
    return sql, params


def _transit(raw: Any) -> tuple[str, ...]:
    if not raw:
        return ()
    value = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return tuple(str(c) for c in value)


MICRO = 1_000_000


def micro_kg(kg: Any) -> int:
    """``kg`` as whole micrograms (sums of them do not depend on the order of the terms)."""
    return round(float(kg or 0) * MICRO)


def total_kg(flows: Iterable[RouteFlow]) -> float:
    """The kg of ``flows`` summed exactly (in micrograms)."""
    return sum(micro_kg(f.kg) for f in flows) / MICRO


def local_month(calendars: Calendars, tz: str, t: int) -> str:
    """The ``month`` window label (``YYYY-MM``) of instant ``t`` at a post of zone ``tz``
    (UTC when the post has none)."""
    return calendars.bounds(tz or "UTC", "month", t)[2]


def flows_from_rows(rows: Iterable[Sequence[Any]], months: tuple[str, ...] | None = None
                    ) -> list[RouteFlow]:
    """The route flows of ``rows`` (:data:`ROUTE_COLUMNS`), one per (route, drug), kg
    summed and events counted; with ``months``, only the events whose station-local month
    (in the row's ``station_tz``) is one of them. Ordered by kg (largest first), then by
    the route (producing, departure, transit, destination) and drug."""
    wanted = None if months is None else frozenset(months)
    calendars = Calendars()
    # kg summed as whole micrograms: the same total whatever order the rows come in
    sums: dict[tuple[str, str, tuple[str, ...], str, str], list[int]] = {}
    for _sid, tz, t, drug, kg, producing, departure, transit, destination in rows:
        if wanted is not None and local_month(calendars, str(tz), int(t)) not in wanted:
            continue
        key = (str(producing or ""), str(departure or ""), _transit(transit),
               str(destination or ""), str(drug))
        acc = sums.setdefault(key, [0, 0])
        acc[0] += micro_kg(kg)
        acc[1] += 1
    flows = [RouteFlow(p, d, tr, dest, drug, acc[0] / MICRO, acc[1])
             for (p, d, tr, dest, drug), acc in sums.items()]
    flows.sort(key=lambda f: (-f.kg, f.producing, f.departure, f.transit, f.destination,
                              f.drug))
    return flows


def country_edges(flows: Iterable[RouteFlow]) -> list[CountryEdge]:
    """The steps between known countries of ``flows`` (:meth:`RouteFlow.chain`), kg and
    cases summed over the flows taking each; largest kg first, then most cases, then the
    pair."""
    sums: dict[tuple[str, str], list[int]] = {}
    for f in flows:
        chain = f.chain()
        for a, b in pairwise(chain):
            acc = sums.setdefault((a, b), [0, 0])
            acc[0] += micro_kg(f.kg)
            acc[1] += f.cases
    edges = [CountryEdge(a, b, acc[0] / MICRO, acc[1]) for (a, b), acc in sums.items()]
    edges.sort(key=lambda e: (-e.kg, -e.cases, e.source, e.target))
    return edges
