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
callers do not ask with an empty set). The readers' view of a ReplacingMergeTree is
:func:`latest` (``argMax`` by the table's version, what ``FINAL`` returns), never ``FINAL``:
on 18.16 ``FINAL`` opens every part of every partition it reads at once, about 1 MB per
part and column read, so deep history (hundreds of monthly partitions) needs gigabytes
(docs/clickhouse.md, "Read exactly").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sinks.sql import check_identifier
from sinks.tables import TableSpec


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


def latest(database: str, spec: TableSpec, columns: Sequence[str] = (), where: str = ""
           ) -> str:
    """A derived table ``(SELECT …)``: the readers' view of ``spec``'s ReplacingMergeTree —
    of each sorting key within a partition, the row of the highest version — with
    ``columns`` (default: all, in table order) under their own names. What ``SELECT
    columns FROM t FINAL WHERE where`` returns, without ``FINAL``.

    One ``GROUP BY`` of the sorting key (and the partition expression, when it reads a
    column outside the key: ``FINAL`` never collapses rows of two partitions) with
    ``argMax(tuple(the other columns), version)``: one tuple, so every column comes from
    the same row. Its memory grows with the keys read and the columns asked, not with the
    parts (``FINAL`` on ClickHouse 18.16: ~1 MB per part and column). ``where`` filters
    the physical rows before they collapse, so it may use only columns every version of a
    key shares (the key's, the partition key's); filter others in an outer query. Rows
    of equal version are copies of one row here (a redelivery, a replay), so which one
    ``argMax`` keeps does not matter. A spec with ``Storage.read_version`` orders the rows by
    that tuple instead (``events``: the highest revision wins, then the latest copy), and
    with ``Storage.is_deleted`` a key whose latest row is withdrawn (``voided``) is not in
    the view at all, as ``ReplacingMergeTree(version, is_deleted)`` does on current
    releases."""
    st = spec.storage
    if st.engine != "ReplacingMergeTree" or len(st.engine_args) != 1:
        raise ValueError(f"table {spec.name}: no ReplacingMergeTree version to read by")
    version = f"tuple({', '.join(st.read_version)})" if st.read_version \
        else st.engine_args[0]
    wanted = tuple(columns) or spec.column_names
    unknown = [c for c in wanted if c not in spec.column_names]
    if unknown:
        raise ValueError(f"table {spec.name} has no column {unknown}")
    keys = st.order_by
    group = list(keys)
    if st.partition_by and any(c not in keys for c in _columns_in(st.partition_by, spec)):
        group.append(st.partition_by)
    rest = [c for c in wanted if c not in keys]
    deleted = st.is_deleted
    inner = list(keys)
    if deleted:  # withdrawn keys leave the view: the flag travels in the tuple, last
        tupled = [*rest, deleted]
        inner.append(f"argMax(tuple({', '.join(tupled)}), {version}) AS _latest")
        outer_of = {c: f"tupleElement(_latest, {i}) AS {c}" for i, c in enumerate(rest, 1)}
        cond_out = f" WHERE tupleElement(_latest, {len(tupled)}) = 0"
    elif len(rest) == 1:
        inner.append(f"argMax({rest[0]}, {version}) AS _latest")
        outer_of = {rest[0]: f"_latest AS {rest[0]}"}
        cond_out = ""
    elif rest:
        inner.append(f"argMax(tuple({', '.join(rest)}), {version}) AS _latest")
        outer_of = {c: f"tupleElement(_latest, {i}) AS {c}" for i, c in enumerate(rest, 1)}
        cond_out = ""
    else:
        outer_of, cond_out = {}, ""
    outer = ", ".join(outer_of.get(c, c) for c in wanted)
    cond = f" WHERE {where}" if where else ""
    return (f"(SELECT {outer} FROM (SELECT {', '.join(inner)} "
            f"FROM {table(database, spec.name)}{cond} GROUP BY {', '.join(group)}){cond_out})")


def _columns_in(expression: str, spec: TableSpec) -> list[str]:
    return [c for c in spec.column_names if re.search(rf"\b{c}\b", expression)]


__all__ = ["Query", "any_of", "latest", "table"]
