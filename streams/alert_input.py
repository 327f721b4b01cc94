"""Table rows → alert input records (:mod:`schemas.alert_input`, the contract and its JSON
form): what the window runtime and the ingest runtime send the alert engine. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from schemas.alert_input import StationProgress, StationsProgress, WindowRows, encode
from sinks.base import Row
from sinks.tables import EVENTS, WINDOW_STATS

ROWS_PER_RECORD = 500
"""Window rows per input record (about 150 bytes each in JSON)."""

WINDOW_ROW_WIDTH = len(WINDOW_STATS.columns)
"""What :func:`schemas.alert_input.decode` checks every ``w`` row against."""

_W_TIMES = tuple(i for i, (_, t) in enumerate(WINDOW_STATS.columns) if t.startswith("DateTime"))
_E_STATION = EVENTS.index("station_id")
_E_TYPE = EVENTS.index("event_type")
_E_TIME = EVENTS.index("occurred_at")
_E_INGESTED = EVENTS.index("ingested_at")
_E_SEQ = EVENTS.index("source_seq")
_E_ID = EVENTS.index("event_id")
_E_COUNTRY = EVENTS.index("country")
_E_BORDER = EVENTS.index("border")


def _epoch(v: Any) -> Any:
    return int(v.timestamp()) if isinstance(v, datetime) else v


def window_input_records(rows: Sequence[Row]) -> list[tuple[bytes, bytes]]:
    """``window_stats`` rows → ``w`` records of at most :data:`ROWS_PER_RECORD` rows."""
    out = []
    for i in range(0, len(rows), ROWS_PER_RECORD):
        chunk = []
        for r in rows[i:i + ROWS_PER_RECORD]:
            lst = list(r)
            for j in _W_TIMES:
                lst[j] = _epoch(lst[j])
            chunk.append(tuple(lst))
        out.append(encode(WindowRows(chunk)))
    return out


def station_progress_record(event_rows: Iterable[Row], paired_types: frozenset[str]
                            ) -> tuple[bytes, bytes] | None:
    """``events`` rows of one slice → one ``s`` record (``None`` when there are none),
    with the slice's processing time (the latest ``ingested_at``)."""
    st: dict[str, StationProgress] = {}
    at: float | None = None
    for r in event_rows:
        sid = r[_E_STATION]
        t = r[_E_TIME].timestamp()
        ingested = r[_E_INGESTED].timestamp()
        at = ingested if at is None or ingested > at else at
        entry = st.get(sid)
        if entry is None:
            entry = st[sid] = StationProgress(sid, t, r[_E_COUNTRY], r[_E_BORDER])
        elif t > entry.last_event_s:
            entry.last_event_s = t
        entry.seqs.append((r[_E_SEQ], t))
        if r[_E_TYPE] in paired_types:
            entry.events.append((r[_E_TYPE], t, str(r[_E_ID])))
    if not st:
        return None
    return encode(StationsProgress(list(st.values()), at))
