"""The read model: every query the stream side runs, as named, typed functions.

Each function builds one :class:`Query` (the SQL text and its ``%(name)s`` parameters) from
plain values; whoever holds a connection runs it (``await sink.query(*q, table=...)`` in the
runtimes, ``db.query(*q)`` in the commands). Nothing here does I/O, so the text of every
query the worker, the alert engine and ``blo windows rebuild`` send to ClickHouse is in this
package, one module per table read:

* :mod:`sinks.read_model.events` — ``events``: the id-conflict lookup, the stations' latest
  event times, their ``source_seq`` numbers, the events paired rules watch, the stored
  events of windows that may still change.
* :mod:`sinks.read_model.windows` — ``window_stats``: the rows a restore or a rebuild
  starts from, the recent rows the alert engine re-reads, baseline history.
* :mod:`sinks.read_model.alerts` — ``alerts``: the state an alert engine restores.

Every query is in the SQL subset ClickHouse 18.16 and chDB 26.9 both accept
(docs/clickhouse.md): client-side ``%(x)s`` parameters, ``IN`` sets as tuples (never empty:
callers do not ask with an empty set), ``FINAL`` for the readers' view.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sinks.sql import check_identifier


class Query(NamedTuple):
    """One query: ``sql`` with ``%(name)s`` placeholders, filled from ``params``."""

    sql: str
    params: dict[str, Any]


_PLACEHOLDER = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)s")


def any_of(clause: str, values: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, Any]]:
    """``(clause) OR (clause) OR …``, one copy of ``clause`` per mapping of ``values``.

    ``clause`` holds ``%(name)s`` placeholders; copy ``i`` names them ``%(w<i>_<name>)s`` and
    the returned parameters hold ``values[i][name]`` under those names, so any number of
    copies can share one query. For per-station ranges, e.g.
    ``any_of("station_id = %(s)s AND source_seq >= %(lo)s", [{"s": "A", "lo": 3}, ...])``.
    With no values the condition is ``0`` (nothing matches). A placeholder without its value
    raises ``KeyError``."""
    names = _PLACEHOLDER.findall(clause)
    if not names:
        raise ValueError(f"no %(name)s placeholder in {clause!r}")
    params: dict[str, Any] = {}
    parts = []
    for i, one in enumerate(values):
        for name in names:
            params[f"w{i}_{name}"] = one[name]
        parts.append(f"({_numbered(clause, i)})")
    return (" OR ".join(parts) or "0"), params


def _numbered(clause: str, i: int) -> str:
    return _PLACEHOLDER.sub(lambda m: f"%(w{i}_{m.group(1)})s", clause)


def table(database: str, name: str) -> str:
    """``database.name``, both checked to be plain identifiers."""
    return f"{check_identifier(database)}.{check_identifier(name)}"


__all__ = ["Query", "any_of", "table"]
