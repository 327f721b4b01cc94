"""Exports of statistics and events as CSV, XLSX and Parquet, streamed in chunks. Pure.

Two halves, both without I/O of their own:

* **Writers** (:func:`writer`): take the rows of an export a chunk at a time and give back
  the bytes to send or write so far; memory holds one chunk. CSV is UTF-8 with a BOM (Excel
  then reads Cyrillic right), text cells a spreadsheet would run as formulas are text
  (:func:`blo.cli.tables.formula_guard`). XLSX is written with openpyxl's write-only
  workbook (rows go to a temporary file as they come; the zip is assembled at the end, so
  its bytes come last) with a second sheet describing the columns. Parquet is one row
  group per chunk (pyarrow ``ParquetWriter``): numbers as numbers, times as timestamps in
  UTC, each field's description and key in its metadata.
* **Events queries** (:func:`event_plan_sql`, :func:`event_bound_sql`,
  :func:`event_page_sql`, driven by :class:`EventPager`): the readers' view of ``events``
  (latest revision, voided events left out) read per post and month partition, in pages
  of at most ``limit`` rows that are ranges of the table's primary key ``(station_id,
  event_id)`` — never an OFFSET — so whatever the size each query collapses one page's
  rows. Rows come out by post, then month; within a page by time (a post's month of at
  most one page is in time order).

Statistics are the rows of :func:`blo.api.queries.stats_sql` (what ``/api/v1/stats``
answers), shaped by :func:`stats_rows`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from blo.analytics.columns import EVENT_COLUMNS, Column, Lang
from blo.api.params import INTERIOR, STATISTICS, Filters
from blo.api.queries import filters_sql
from sinks.read_model import latest, table
from sinks.read_model.events import months_from
from sinks.tables import EVENTS

Format = Literal["csv", "xlsx", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "xlsx", "parquet")
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}
PAGE_ROWS = 10_000
"""Rows per page of an events export (one query, one chunk, one Parquet row group)."""
MAX_ROWS = 2_000_000
"""The most rows one export carries (CSV, Parquet); narrow the range or the filters."""
XLSX_MAX_ROWS = 1_048_575
"""A worksheet holds 1,048,576 rows, the header included."""

Row = tuple[Any, ...]


class TooLarge(ValueError):
    """An export would exceed its row limit."""


def max_rows(fmt: str) -> int:
    return min(MAX_ROWS, XLSX_MAX_ROWS) if fmt == "xlsx" else MAX_ROWS


def too_large_message(fmt: str, rows: int) -> str:
    return (f"this export would hold up to {rows} rows, more than the {max_rows(fmt)} a "
            f"{fmt} export may: narrow the time range or the filters (station, country, "
            "type), or export in several parts")


# -- values ---------------------------------------------------------------------------------
def epoch_time(v: Any) -> datetime | None:
    """Seconds since the epoch (as every export query selects times) as an aware UTC time;
    NULL stays None. ClickHouse's zero time (none) is None too."""
    if v is None:
        return None
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    t = int(v)
    return datetime.fromtimestamp(t, UTC) if t else None


def typed(columns: Sequence[Column], row: Sequence[Any]) -> Row:
    """A row as its columns' kinds want it: ints, floats, aware UTC times, text."""
    out: list[Any] = []
    for c, v in zip(columns, row, strict=True):
        if v is None:
            out.append(None)
        elif c.kind == "time":
            out.append(epoch_time(v))
        elif c.kind == "int":
            out.append(int(v))
        elif c.kind == "float":
            out.append(float(v))
        else:
            out.append(str(v))
    return tuple(out)


# -- writers --------------------------------------------------------------------------------
class Writer(Protocol):
    """Rows in, bytes out: ``write`` a chunk (the bytes ready so far come back), then
    ``close`` (the rest)."""

    rows: int

    def write(self, rows: Sequence[Row]) -> bytes: ...

    def close(self) -> bytes: ...


class _Drain:
    """A write-only file that hands over what was written since the last :meth:`take`."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buf += data
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


def _arrow_table(schema: Any, rows: Sequence[Row]) -> Any:
    import pyarrow as pa

    arrays = [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(schema)]
    return pa.Table.from_arrays(arrays, schema=schema)


class CsvWriter:
    """UTF-8 with a BOM, a header row, RFC 4180 quoting (where needed), ``\\r\\n``
    records (what Excel writes); NULL is an empty field; times ``YYYY-MM-DD HH:MM:SS``
    (UTC); text a spreadsheet would run as a formula gets a leading ``'``
    (:func:`blo.cli.tables.formula_guard`, applied column-wise). Rows are formatted by
    Arrow's CSV writer (C++), a chunk at a time."""

    def __init__(self, columns: Sequence[Column], lang: Lang) -> None:
        self.columns, self.lang, self.rows = tuple(columns), lang, 0
        self.schema = parquet_schema(columns, lang)
        self._started = False

    def _head(self) -> bytes:
        if self._started:
            return b""
        from blo.cli.tables import formula_guard

        self._started = True
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerow(
            [formula_guard(c.header(self.lang)) for c in self.columns])
        return "\ufeff".encode() + out.getvalue().encode()

    def write(self, rows: Sequence[Row]) -> bytes:
        import pyarrow.csv as pacsv

        head = self._head()
        if not rows:
            return head
        table = _guarded(_arrow_table(self.schema, rows))
        out = io.BytesIO()
        pacsv.write_csv(table, out, pacsv.WriteOptions(
            include_header=False, eol="\r\n", quoting_style="needed"))
        self.rows += len(rows)
        return head + out.getvalue()

    def close(self) -> bytes:
        return self._head()


def _guarded(table: Any) -> Any:
    """``table`` with its times as text and :func:`blo.cli.tables.formula_guard` applied to
    its text columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from blo.cli.tables import _NUMBER, FORMULA_STARTS

    starts = "^[" + re.escape("".join(FORMULA_STARTS)) + "]"
    number = f"^(?:{_NUMBER.pattern})$"
    cols = []
    for col in table.columns:
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col.cast(pa.timestamp("s", tz="UTC")),
                              format="%Y-%m-%d %H:%M:%S")
        elif pa.types.is_string(col.type):
            risky = pc.and_(pc.match_substring_regex(col, starts),
                            pc.invert(pc.match_substring_regex(col, number)))
            col = pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col)
        cols.append(col)
    return pa.Table.from_arrays(cols, names=table.column_names)


_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")  # what XML 1.0 cannot hold
_XLSX_FORMATS = {"time": "yyyy-mm-dd hh:mm:ss", "float": "0.000", "int": "0"}


class XlsxWriter:
    """A write-only workbook: sheet ``data`` (bold, frozen header; dates as Excel date-times
    in UTC; kg with three decimals; text never read as a formula) and sheet ``columns``
    (header, key, type, description of each column). Rows go to a temporary file as they
    come; the workbook's bytes are all given by :meth:`close`."""

    def __init__(self, columns: Sequence[Column], lang: Lang, title: str = "") -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self.columns, self.lang, self.rows = tuple(columns), lang, 0
        self._cell = WriteOnlyCell
        self.wb = Workbook(write_only=True)
        self.ws = self.wb.create_sheet("data" if lang == "en" else "данные")
        self.ws.freeze_panes = "A2"
        for i, c in enumerate(self.columns, 1):
            self.ws.column_dimensions[get_column_letter(i)].width = \
                max(10, min(40, len(c.header(lang)) + 2))
        bold = Font(bold=True)
        head = []
        for c in self.columns:
            cell = WriteOnlyCell(self.ws, value=c.header(lang))
            cell.font = bold
            head.append(cell)
        self.ws.append(head)
        self._styled = {i: _XLSX_FORMATS[c.kind] for i, c in enumerate(self.columns)
                        if c.kind in ("time", "float")}
        about = self.wb.create_sheet("columns" if lang == "en" else "столбцы")
        names = (("column", "key", "type", "description") if lang == "en"
                 else ("столбец", "ключ", "тип", "описание"))
        about.column_dimensions["A"].width = 28
        about.column_dimensions["D"].width = 90
        about.append([self._bold(about, n, bold) for n in names])
        for c in self.columns:
            about.append([c.header(lang), c.key, c.kind, c.description(lang)])
        if title:
            about.append([])
            about.append([title])

    def _bold(self, ws: Any, value: str, font: Any) -> Any:
        cell = self._cell(ws, value=value)
        cell.font = font
        return cell

    def _value(self, i: int, v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, datetime):
            v = v.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones
        elif isinstance(v, str):
            v = _ILLEGAL.sub("", v)
            if v.startswith("="):  # openpyxl would store it as a formula
                cell = self._cell(self.ws, value=v)
                cell.data_type = "s"
                return cell
        fmt = self._styled.get(i)
        if fmt is None:
            return v
        cell = self._cell(self.ws, value=v)
        cell.number_format = fmt
        return cell

    def write(self, rows: Sequence[Row]) -> bytes:
        if self.rows + len(rows) > XLSX_MAX_ROWS:
            raise TooLarge(too_large_message("xlsx", self.rows + len(rows)))
        for r in rows:
            self.ws.append([self._value(i, v) for i, v in enumerate(r)])
        self.rows += len(rows)
        return b""

    def close(self) -> bytes:
        with tempfile.TemporaryFile() as f:
            self.wb.save(f)
            f.seek(0)
            return f.read()


def arrow_type(kind: str) -> Any:
    import pyarrow as pa

    return {"int": pa.int64(), "float": pa.float64(), "time": pa.timestamp("ms", tz="UTC"),
            "text": pa.string()}[kind]


def parquet_schema(columns: Sequence[Column], lang: Lang, title: str = "") -> Any:
    """Field names are the headers in ``lang``; each field's metadata has ``key``,
    ``description`` (in ``lang``) and ``kind``."""
    import pyarrow as pa

    fields = [pa.field(c.header(lang), arrow_type(c.kind), nullable=True,
                       metadata={"key": c.key, "description": c.description(lang),
                                 "kind": c.kind})
              for c in columns]
    return pa.schema(fields, metadata={"blo.export": title, "blo.lang": lang})


class ParquetWriter:
    """One row group per chunk; typed columns (int64, float64, timestamp[ms, UTC], string);
    zstd-compressed."""

    def __init__(self, columns: Sequence[Column], lang: Lang, title: str = "") -> None:
        import pyarrow.parquet as pq

        self.columns, self.lang, self.rows = tuple(columns), lang, 0
        self.schema = parquet_schema(columns, lang, title)
        self._drain = _Drain()
        self._w = pq.ParquetWriter(self._drain, self.schema, compression="zstd")
        self.row_groups = 0

    def write(self, rows: Sequence[Row]) -> bytes:

        if not rows:
            return b""
        self._w.write_table(_arrow_table(self.schema, rows))
        self.rows += len(rows)
        self.row_groups += 1
        return self._drain.take()

    def close(self) -> bytes:
        self._w.close()
        return self._drain.take()


def writer(fmt: str, columns: Sequence[Column], lang: Lang, title: str = "") -> Writer:
    """The writer of ``fmt`` (csv, xlsx, parquet)."""
    if fmt == "csv":
        return CsvWriter(columns, lang)
    if fmt == "xlsx":
        return XlsxWriter(columns, lang, title)
    if fmt == "parquet":
        return ParquetWriter(columns, lang, title)
    raise ValueError(f"format: one of {', '.join(FORMATS)}")


def filename(kind: str, t0: datetime, t1: datetime, fmt: str) -> str:
    """``blo-events-20261001-20261101.csv``."""
    return f"blo-{kind}-{t0.strftime('%Y%m%d')}-{t1.strftime('%Y%m%d')}.{fmt}"


# -- statistics -----------------------------------------------------------------------------
def stats_rows(block: str, group_by: Sequence[str], window: str, t0: datetime, t1: datetime,
               rows: Iterable[Sequence[Any]]) -> list[Row]:
    """Rows of :func:`blo.api.queries.stats_sql` (the groups, then every statistic) as rows
    of :func:`blo.analytics.columns.stats_columns`: the block (``own`` or ``paired``), the
    groups (a border '' is ``interior``), the window and range, the statistics."""
    out = []
    n = len(group_by)
    border = group_by.index("border") if "border" in group_by else -1
    for r in rows:
        groups = ["" if v is None else str(v) for v in r[:n]]
        if border >= 0:
            groups[border] = groups[border] or INTERIOR
        values = [None if v is None else (float(v) if isinstance(v, float) else int(v))
                  for v in r[n:n + len(STATISTICS)]]
        out.append((block, *groups, window, t0, t1, *values))
    return out


# -- events ---------------------------------------------------------------------------------
_PAYLOAD_TEXT = ("concealment", "detection_method", "producing_country",
                 "departure_country", "destination_country")
_TIMES = ("occurred_at", "reported_at", "ingested_at", "period_start", "period_end")
_STORED = ("event_id", "event_type", "station_id", "occurred_at", "reported_at",
           "ingested_at", "country", "agency", "crossing_point", "border", "station_tz",
           "direction", "subject", "mode", "vehicle_class", "outcome", "persons", "vehicles",
           "arrests", "drug", "quantity", "quantity_unit", "quantity_kg", "period_start",
           "period_end", "measure", "dimension", "value", "unit", "payload", "revision",
           "correction_reason")


def _select(c: Column) -> str:
    if c.key == "event_id":
        return "toString(event_id) AS eid"
    if c.key in _TIMES:
        return f"toUInt32({c.key})"
    if c.key in _PAYLOAD_TEXT:
        return f"visitParamExtractString(payload, '{c.key}')"
    if c.key == "transit_countries":
        return "visitParamExtractRaw(payload, 'transit_countries')"
    return c.key


EVENT_SELECT = ", ".join(_select(c) for c in EVENT_COLUMNS)


@dataclass(frozen=True)
class EventQuery:
    """What an events export reads: the stations (the visible ones, already narrowed to
    the ``station`` filter), ``[t0, t1)`` of ``occurred_at``, and filters on the event's
    own columns."""

    database: str
    stations: tuple[str, ...]
    t0: datetime
    t1: datetime
    filters: Filters

    def _conds(self, params: dict[str, Any]) -> list[str]:
        # the stations are narrowed already; a seizure's drug is the event's own column
        return filters_sql(self.filters, params, drug_column="drug", station=False)


def event_plan_sql(q: EventQuery) -> tuple[str, dict[str, Any]]:
    """How many stored rows (every revision and copy: an upper bound of the events) each
    (station, UTC month partition) holds in the range, of the asked type: the pages to read
    and the progress's total. Rows: station, month (YYYYMM), rows; ordered."""
    t0, t1 = int(q.t0.timestamp()), int(q.t1.timestamp())
    params: dict[str, Any] = {"stations": q.stations, "t0": t0, "t1": t1}
    conds = ["station_id IN %(stations)s", months_from(t0, t1),
             "occurred_at >= toDateTime(%(t0)s)", "occurred_at < toDateTime(%(t1)s)"]
    if q.filters.event_type:
        conds.append("event_type = %(f_type)s")
        params["f_type"] = q.filters.event_type
    sql = (f"SELECT station_id, toYYYYMM(occurred_at) AS m, count() "
           f"FROM {table(q.database, EVENTS.name)} WHERE {' AND '.join(conds)} "
           "GROUP BY station_id, m ORDER BY station_id, m")
    return sql, params


def event_bound_sql(q: EventQuery, station: str, month: int, after: str | None,
                    limit: int = PAGE_ROWS) -> tuple[str, dict[str, Any]]:
    """Where the next page of ``station``'s month partition ``month`` ends: the event id
    of the ``limit``-th stored row after ``after`` (in the table's own order, its primary
    key ``(station_id, event_id)``), of the rows in the range; no row when fewer are left
    (the page is the last). One narrow column sorted, whatever the partition's size. The
    time condition only sizes the pages (a correction may move an event within its
    month); which events a page holds is decided by its id range alone."""
    params: dict[str, Any] = {"station": station, "month": int(month),
                              "t0": int(q.t0.timestamp()), "t1": int(q.t1.timestamp())}
    conds = ["station_id = %(station)s", "toYYYYMM(occurred_at) = %(month)s",
             "occurred_at >= toDateTime(%(t0)s)", "occurred_at < toDateTime(%(t1)s)"]
    if after is not None:
        conds.append("event_id > toUUID(%(after)s)")
        params["after"] = after
    sql = (f"SELECT toString(event_id) FROM {table(q.database, EVENTS.name)} "
           f"WHERE {' AND '.join(conds)} ORDER BY event_id LIMIT {int(limit) - 1}, 1")
    return sql, params


def event_page_sql(q: EventQuery, station: str, month: int, after: str | None,
                   upto: str | None) -> tuple[str, dict[str, Any]]:
    """One page of the readers' view of ``station``'s events in the month partition
    ``month`` (YYYYMM, UTC): the events whose id is after ``after`` and at most ``upto``
    (None: no bound) — a range of the primary key, filtered before the revisions of each
    event collapse, so a page reads and collapses its own rows only — that are in the
    range and the filters after collapsing, ordered by time then event id. Rows in
    :data:`blo.analytics.columns.EVENT_COLUMNS` order, times as epoch seconds."""
    t0, t1 = int(q.t0.timestamp()), int(q.t1.timestamp())
    params: dict[str, Any] = {"station": station, "month": int(month), "t0": t0, "t1": t1}
    keys = ["station_id = %(station)s", "toYYYYMM(occurred_at) = %(month)s"]
    if after is not None:
        keys.append("event_id > toUUID(%(after)s)")
        params["after"] = after
    if upto is not None:
        keys.append("event_id <= toUUID(%(upto)s)")
        params["upto"] = upto
    src = latest(q.database, EVENTS, _STORED, " AND ".join(keys))
    conds = ["occurred_at >= toDateTime(%(t0)s)", "occurred_at < toDateTime(%(t1)s)",
             *q._conds(params)]
    sql = (f"SELECT {EVENT_SELECT} FROM {src} WHERE {' AND '.join(conds)} "
           "ORDER BY occurred_at, eid")
    return sql, params


_BORDER = [c.key for c in EVENT_COLUMNS].index("border")
_TRANSIT = [c.key for c in EVENT_COLUMNS].index("transit_countries")


def event_rows(raw: Iterable[Sequence[Any]]) -> list[Row]:
    """Raw page rows as export rows: typed, a border '' as ``interior``, the transit
    countries (a JSON array in the payload) as ``AF,TJ``."""
    out = []
    for r in raw:
        row = list(typed(EVENT_COLUMNS, r))
        row[_BORDER] = row[_BORDER] or INTERIOR
        row[_TRANSIT] = transit_text(row[_TRANSIT])
        out.append(tuple(row))
    return out


def transit_text(raw: Any) -> str:
    if not raw:
        return ""
    try:
        items = json.loads(raw)
    except ValueError:
        return str(raw)
    return ",".join(str(x) for x in items) if isinstance(items, list) else str(items)


@dataclass(frozen=True)
class Chunk:
    """One (station, month partition) of an events export and its stored rows."""

    station: str
    month: int
    stored: int


def plan(rows: Iterable[Sequence[Any]]) -> list[Chunk]:
    """The chunks of :func:`event_plan_sql`'s rows, empty ones left out."""
    return [Chunk(str(s), int(m), int(n)) for s, m, n in rows if int(n)]


class EventPager:
    """The pages of an events export, as a loop any caller drives (async in the API,
    sync in the CLI): ``while (q := pager.next()) is not None: rows = pager.feed(run(q))``.

    Built from the rows of :func:`event_plan_sql`; ``stored`` is their total (an upper
    bound of the rows to come, the progress's total). A chunk (a post's month) of at most
    ``limit`` stored rows is one page, ordered by time. A larger one is read in ranges of
    its primary key of ``limit`` stored rows each: first the range's end
    (:func:`event_bound_sql`; ``feed`` returns no rows for it), then the page
    (:func:`event_page_sql`), each page ordered by time — never an OFFSET over the
    events, never a query collapsing more than one page's rows."""

    def __init__(self, q: EventQuery, plan_rows: Iterable[Sequence[Any]],
                 limit: int = PAGE_ROWS) -> None:
        self.q, self.limit = q, limit
        self.chunks = plan(plan_rows)
        self.stored = sum(c.stored for c in self.chunks)
        self.pages = 0
        self.rows = 0
        self.largest_page = 0
        self._i = 0
        self._after: str | None = None
        self._upto: str | None = None
        self._bounded = False  # the current page's end is known

    def next(self) -> tuple[str, dict[str, Any]] | None:
        """The next query; None when every chunk is read."""
        if self._i >= len(self.chunks):
            return None
        c = self.chunks[self._i]
        if c.stored > self.limit and not self._bounded:
            return event_bound_sql(self.q, c.station, c.month, self._after, self.limit)
        return event_page_sql(self.q, c.station, c.month, self._after, self._upto)

    def feed(self, raw: Sequence[Sequence[Any]]) -> list[Row]:
        """The answer to the query :meth:`next` gave; a page's rows as export rows."""
        c = self.chunks[self._i]
        if c.stored > self.limit and not self._bounded:
            self._bounded = True
            self._upto = str(raw[0][0]) if raw else None
            return []
        self.pages += 1
        self.rows += len(raw)
        self.largest_page = max(self.largest_page, len(raw))
        if self._upto is None:  # the chunk's last page
            self._i += 1
            self._after = None
        else:
            self._after = self._upto
        self._upto, self._bounded = None, False
        return event_rows(raw)
