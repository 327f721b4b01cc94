"""Streaming a CSV file through a mapping: one :class:`Mapped` or :class:`Rejected` per row.

Contract of :func:`iter_import`:

* File-level problems (file missing, undecodable header, header not matching the
  mapping's ``csv.columns``, a referenced column absent) raise :class:`ImportFileError`
  *when iter_import is called*, before any item. After that nothing raises: every bad row
  is a :class:`Rejected` with a stable ``reason_code``.
* A row is atomic: all its events, or a rejection.
* ``event_id = derive_event_id(station_id, source_seq)`` and ``source_seq`` is a pure
  function of (period, coded fields), so importing the same file twice yields the same
  ids. The second row with an already used (station_id, source_seq) in one file is
  rejected as ``duplicate_key`` (first one wins).
* A station record is attached to the first mapped row of each station that is not in
  ``known_stations``; its ``tz`` is then the station's zone for the rest of the file.
* Memory: the file is streamed; only the set of used keys and seen stations grows.
* An I/O error while reading (disk, permissions) propagates as ``OSError``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from blo.importer.checks import referenced_columns
from blo.importer.fields import RowError
from blo.importer.mapping import ImportMapping
from blo.importer.periods import Period
from blo.importer.plan import RowPlan
from blo.importer.records import (
    CountReportDict,
    ImportItem,
    Mapped,
    Rejected,
    StationRecordDict,
)
from blo.importer.summary import ImportSummary, summarise
from schemas.identity import derive_event_id

__all__ = ["ImportFileError", "ImportItem", "ImportSummary", "Mapped", "Rejected", "iter_import",
           "summarise"]

EventIdFn = Callable[[str, int], object]
Record = tuple[int, list[str] | None, str, str]  # start line, cells (None: bad), reason, why


class ImportFileError(ValueError):
    """The file cannot be read as this mapping's CSV at all (not a row problem)."""


def iter_import(
    csv_path: str | Path,
    mapping: ImportMapping,
    *,
    reported_at: datetime,
    known_stations: Mapping[str, str] | None = None,
    event_id: EventIdFn | None = None,
) -> Iterator[ImportItem]:
    """Map ``csv_path`` row by row; see the module docstring for the contract.

    ``known_stations``: station_id → IANA zone of stations already in the registry (no
    record is derived for them; their zone anchors naive dates). ``event_id``: defaults
    to ``schemas.identity.derive_event_id``; its result is rendered with ``str``.
    Raises ImportFileError or ValueError (naive ``reported_at``) on the call itself.
    """
    if reported_at.tzinfo is None:
        raise ValueError("reported_at must be timezone-aware")
    if event_id is None:
        event_id = derive_event_id
    path = Path(csv_path)
    columns = read_columns(path, mapping)
    plan = RowPlan(mapping, columns)
    return _iterate(path, mapping, plan, reported_at.astimezone(UTC), dict(known_stations or {}),
                    event_id)


def _open(path: Path, mapping: ImportMapping) -> Generator[Record, None, None]:
    """One :data:`Record` per CSV record; bytes the encoding cannot decode make a
    ``bad_encoding`` record (cells None), not an exception."""
    spec = mapping.csv
    with path.open(encoding=spec.encoding, errors="surrogateescape", newline="") as f:
        bad: set[int] = set()

        def lines() -> Iterator[str]:
            for n, line in enumerate(f, 1):
                if not line.isascii():
                    try:
                        line.encode("utf-8")
                    except UnicodeEncodeError:
                        bad.add(n)
                yield line

        reader = csv.reader(lines(), delimiter=spec.delimiter, quotechar=spec.quotechar)
        prev = 0
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                start, prev = prev + 1, reader.line_num
                yield start, None, "bad_csv", str(exc)
                continue
            start, prev = prev + 1, reader.line_num
            if bad and any(n in bad for n in range(start, prev + 1)):
                yield start, None, "bad_encoding", f"bytes not valid {spec.encoding}"
                continue
            yield start, record, "", ""


def read_columns(path: Path, mapping: ImportMapping) -> list[str]:
    """The column names rows are read with; checks the header against the mapping."""
    declared = mapping.csv.columns
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    if not mapping.csv.header:
        assert declared is not None  # checked at load
        return list(declared)
    try:
        with closing(_open(path, mapping)) as records:
            first = next(records, None)
    except (OSError, UnicodeError) as exc:
        raise ImportFileError(f"{path}: cannot read the header: {exc}") from None
    if first is None or first[1] is None:
        why = f"{first[2]}: {first[3]}" if first else "empty file"
        raise ImportFileError(f"{path}: no readable header line ({why})")
    header = [c.strip() for c in first[1]]
    if declared is not None:
        if header != declared:
            raise ImportFileError(
                f"{path}: header {header} does not match csv.columns {declared} of mapping "
                f"{mapping.name!r}"
            )
        return header
    if len(set(header)) != len(header):
        raise ImportFileError(f"{path}: the header repeats a column name: {header}")
    missing = sorted(referenced_columns(mapping) - set(header))
    if missing:
        raise ImportFileError(f"{path}: columns {missing} used by mapping {mapping.name!r} are "
                              f"not in the header {header}")
    return header


def _iterate(
    path: Path,
    mapping: ImportMapping,
    plan: RowPlan,
    reported_at: datetime,
    known: dict[str, str],
    event_id: EventIdFn,
) -> Iterator[ImportItem]:
    reported_iso = reported_at.isoformat()
    used: dict[tuple[str, int], int] = {}  # (station_id, source_seq) → line first used
    zones: dict[str, str] = dict(known)  # station_id → zone, registry first, then derived
    with closing(_open(path, mapping)) as records:
        if mapping.csv.header:
            next(records, None)
        yield from _map_records(records, plan, reported_at, reported_iso, used, zones, event_id)


def _map_records(
    records: Iterator[Record],
    plan: RowPlan,
    reported_at: datetime,
    reported_iso: str,
    used: dict[tuple[str, int], int],
    zones: dict[str, str],
    event_id: EventIdFn,
) -> Iterator[ImportItem]:
    width, strip = plan.width, plan.strip
    for line_no, record, reason, message in records:
        if record is None:
            yield Rejected(line_no, reason, message)
            continue
        if not record:
            yield Rejected(line_no, "blank_line", "empty line")
            continue
        if len(record) != width:
            yield Rejected(line_no, "column_count", f"{len(record)} columns, expected {width}")
            continue
        row = [c.strip() for c in record] if strip else record
        try:
            station_id = plan.station_id(row)
            assert station_id is not None  # required: empty raises
            station: StationRecordDict | None = None
            tz = zones.get(station_id)
            if tz is None:
                if plan.stations is not None:
                    station = plan.stations.build(row, station_id)
                    tz = station["tz"]
                elif plan.default_tz is not None:
                    tz = plan.default_tz
                else:  # pragma: no cover - excluded by the mapping checks
                    raise RowError("unknown_station", f"no time zone for {station_id!r}")
            period = plan.periods.read(row, tz)
            if period.start > reported_at:
                raise RowError("future_period", f"period starts {period.start_iso}, after "
                               f"reported_at {reported_iso}")
            events = _events(row, plan, station_id, period, reported_iso, used, line_no, event_id)
        except RowError as err:
            yield Rejected(line_no, err.reason, err.message)
            continue
        for ev in events:
            used[(station_id, ev["source_seq"])] = line_no
        if station is not None:
            zones[station_id] = tz
        yield Mapped(line_no, events, station)


def _events(
    row: list[str],
    plan: RowPlan,
    station_id: str,
    period: Period,
    reported_iso: str,
    used: dict[tuple[str, int], int],
    line_no: int,
    event_id: EventIdFn,
) -> list[CountReportDict]:
    out: list[CountReportDict] = []
    seen_here: set[int] = set()
    for emit in plan.emits:
        measure = emit.measure(row) or ""
        dimension = emit.dimension(row)
        value = emit.value(row)
        unit = emit.unit(row) or ""
        seq = period.key
        for part in plan.seq:
            if part.column is not None:
                text = part.column(row)
            elif part.field == "measure":
                text = measure
            elif part.field == "unit":
                text = unit
            else:
                text = dimension or ""
            seq = seq * part.scale + part.code(text)
        first = used.get((station_id, seq))
        if first is not None or seq in seen_here:
            where = f"line {first}" if first is not None else "this row"
            raise RowError("duplicate_key", f"{station_id} source_seq {seq} ({measure}"
                           f"{'/' + dimension if dimension else ''}, {period.start_iso}) "
                           f"already imported from {where}")
        seen_here.add(seq)
        ev: CountReportDict = {
            "event_id": str(event_id(station_id, seq)),
            "schema_version": 1,
            "event_type": "count_report",
            "station_id": station_id,
            "occurred_at": period.start_iso,
            "reported_at": reported_iso,
            "source_seq": seq,
            "period_start": period.start_iso,
            "period_end": period.end_iso,
            "measure": measure,
            "value": value if value is not None else 0.0,
            "unit": unit,
        }
        if dimension:
            ev["dimension"] = dimension
        out.append(ev)
    return out
