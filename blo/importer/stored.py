"""What is stored of a file's stations, read for a revised import (:mod:`.revise`).

The query is :func:`sinks.read_model.events.stored_reports_of`, run one chunk at a time
(:func:`blo.importer.revise.lookup_chunks`: per UTC year and group of stations) through
:func:`blo.readers.run_query` — the connection the import's run record uses (the server, or
embedded chDB directly or through a running worker's admin door).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from blo.importer.revise import Chunk, StoredIndex, StoredRow
from blo.readers import QueryError, run_query
from blo.settings import Settings
from sinks.base import SinkError
from sinks.read_model.events import stored_reports_of
from sinks.sql import render


class StoredReadError(Exception):
    """What is stored could not be read; the message says why and what to do."""


def stored_rows(settings: Settings, chunks: Iterable[Chunk],
                progress: Callable[[int], None] | None = None) -> Iterator[StoredRow]:
    """The rows of each chunk in turn (one query each); :class:`StoredReadError` when
    ClickHouse cannot answer. ``progress`` is told the rows of each chunk once read."""
    database = settings.clickhouse.target().database
    for stations, lo, hi in chunks:
        q = stored_reports_of(database, stations, lo, hi)
        try:
            rows = run_query(settings, render(q.sql, q.params))
        except (QueryError, SinkError, OSError) as e:  # QueryError: refused, or the door
            raise StoredReadError(
                f"cannot read the stored reports of {len(stations)} station(s) to compare "
                f"the file with ({e}); is ClickHouse reachable and migrated (`blo db "
                "migrate`)?") from None
        if progress is not None:
            progress(len(rows))
        for row in rows:
            yield StoredRow.of(row)


def read_index(settings: Settings, chunks: Iterable[Chunk], index: StoredIndex,
               progress: Callable[[int], None] | None = None) -> StoredIndex:
    """Feed ``index`` every stored row of ``chunks``; returns it."""
    for row in stored_rows(settings, chunks, progress):
        index.add(row)
    return index
