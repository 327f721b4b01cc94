"""The read the stream cannot do without: the stored body hashes of a batch's event ids
(the id-conflict check across restarts), shared by both engines'
:meth:`sinks.base.Database.stored_body_hashes`.

The ids never become SQL text. They travel as a one-column table of their own (a
native-protocol external table on the server, a temporary ``Memory`` table in chDB) and the
query reads ``event_id IN <that table>``: one query per batch whatever its size. Ids written
into the text as ``toUUID('…')`` literals cost ClickHouse more to parse than the lookup
itself, and over ~5,600 of them the text exceeds ``max_query_size`` (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from sinks.sql import check_identifier, render

IDS_TABLE = "_blo_lookup_ids"  # the table the ids travel in: one column ``id UUID``
IDS_STRUCTURE = (("id", "UUID"),)


def stored_body_hashes_sql(
    database: str, station_ids: Sequence[str], *, id_as_text: bool = False
) -> str:
    """``SELECT event_id, any(body_hash)`` of the ids in :data:`IDS_TABLE` stored under one of
    ``station_ids`` (not empty), one row per id however many physical rows it has (a
    ReplacingMergeTree keeps redelivered copies until a merge). The station filter lets
    ClickHouse use the primary key ``(station_id, event_id)``. ``id_as_text``: the id as
    ``toString(event_id)`` (cheaper for chDB's answer than a UUID to convert)."""
    key = "toString(event_id)" if id_as_text else "event_id"
    return render(
        f"SELECT {key}, any(body_hash) FROM {check_identifier(database)}.events "
        f"WHERE station_id IN %(stations)s AND event_id IN {IDS_TABLE} GROUP BY event_id",
        {"stations": tuple(station_ids)},
    )
