"""Station registry records, their history, and station files.

A station (a BLO or another post) is described by a :class:`StationRecord` valid from
``valid_from`` until the next record of the same station. :class:`Registry` keeps every
station's history and answers "which record was valid when this event occurred".

:func:`load_station_file` reads records from YAML or JSON (a list, or ``{stations: [...]}``)
or CSV (a header row of field names; empty cells mean "not given"). Errors name the file,
the entry (CSV: line number; YAML/JSON: 0-based index) and the field.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

import schemas.tz  # noqa: F401 - zone rules from the pinned tzdata package
from schemas.base import StrictModel, rule_error
from schemas.countries import are_neighbours, border_of, in_border_table
from schemas.fields import (
    STATION_ID_PATTERN,
    CountryCode,
    Label,
    Lax,
    RegistryTimestamp,
    StationId,
)
from schemas.vocab import Agency


def _check_tz(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "time_zone", "Input should be an IANA time zone name, e.g. 'Asia/Dushanbe'"
        ) from None
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_tz)]


def _empty_is_none(value: object) -> object:
    return None if value == "" else value


NeighbourCountry = Annotated[
    CountryCode | None,
    BeforeValidator(_empty_is_none),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": "^[A-Z]{2}$"},
                              {"const": ""}, {"type": "null"}]}),
]
"""A country code, or ``None`` for an interior post (``""`` is read as ``None``)."""

PairedBlo = Annotated[
    StationId | None,
    BeforeValidator(_empty_is_none),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": STATION_ID_PATTERN},
                              {"const": ""}, {"type": "null"}]}),
]
"""A station id, or ``None`` (``""`` is read as ``None``)."""


class StationRecord(StrictModel):
    """One version of a station's registry entry, valid from `valid_from` until the next.

    A post with no land neighbour (an airport, an inland customs office, a mail or rail
    terminal) is an *interior* post: `neighbour_country` is empty (null or ""), its border
    is "" and it is in no border's roll-up.
    """

    station_id: StationId
    """Station identifier, e.g. 'TJ-NIZHNIY-PYANJ' (country code, dash, site name)."""
    name: Label
    """Human-readable name of the post."""
    country: CountryCode
    """Country operating the post (ISO 3166-1 alpha-2)."""
    agency: Annotated[Agency, Lax]
    """Agency staffing the post; 'joint' for a multi-agency BLO."""
    crossing_point: Label
    """Name of the border crossing the post sits at, the same on both sides; for an interior
    post, the place it works at (the airport, the office)."""
    neighbour_country: NeighbourCountry = None
    """Country on the other side of the border; a land neighbour of `country` whenever
    either is a Central Asian country. Empty (null or "") for an interior post: one with no
    land neighbour (an airport, an inland customs office, a mail or rail terminal)."""
    paired_blo: PairedBlo = None
    """The partner BLO across the border (for an interior post, its partner abroad), if
    any; null or "" for none."""
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    """Latitude in decimal degrees (WGS 84)."""
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    """Longitude in decimal degrees (WGS 84)."""
    tz: TimeZoneName
    """IANA time zone of the post, e.g. 'Asia/Dushanbe'."""
    coord_source: Label | None = None
    """Where the coordinates come from (a gazetteer, a survey, a public release)."""
    coord_approximate: bool = True
    """True unless the coordinates were surveyed at the post."""
    valid_from: RegistryTimestamp
    """Start of validity of this record (RFC 3339 with UTC offset)."""
    active: bool = True
    """False once the post is closed."""

    @property
    def interior(self) -> bool:
        """True for a post with no land neighbour (no `neighbour_country`)."""
        return self.neighbour_country is None

    @property
    def border(self) -> str:
        """The border the post sits on, e.g. 'AF-TJ'; '' for an interior post."""
        if self.neighbour_country is None:
            return ""
        return border_of(self.country, self.neighbour_country)

    @model_validator(mode="after")
    def _check_relations(self) -> StationRecord:
        a, b = self.country, self.neighbour_country
        if b is not None:
            if a == b:
                raise rule_error("neighbour_country", "must differ from country")
            if (in_border_table(a) or in_border_table(b)) and not are_neighbours(a, b):
                raise rule_error("neighbour_country", f"{b} has no land border with {a}")
        if self.paired_blo == self.station_id:
            raise rule_error("paired_blo", "a station cannot be paired with itself")
        if (self.lat is None) != (self.lon is None):
            raise rule_error("lat", "give both lat and lon, or neither")
        return self


class StationHistory:
    """All records of one station, ordered by ``valid_from``. Not thread-safe."""

    __slots__ = ("_records", "_starts", "station_id")

    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self._starts: list[float] = []  # valid_from as POSIX seconds, ascending
        self._records: list[StationRecord] = []

    def upsert(self, record: StationRecord) -> None:
        """Add ``record``; one with the same ``valid_from`` is replaced (a correction)."""
        if record.station_id != self.station_id:
            raise ValueError(f"record of {record.station_id!r} in history of {self.station_id!r}")
        start = record.valid_from.timestamp()
        i = bisect.bisect_left(self._starts, start)
        if i < len(self._starts) and self._starts[i] == start:
            self._records[i] = record
        else:
            self._starts.insert(i, start)
            self._records.insert(i, record)

    def at(self, when: datetime) -> StationRecord | None:
        """The record valid at ``when`` (aware): greatest ``valid_from <= when``, else None."""
        if when.tzinfo is None:
            raise ValueError("when must be timezone-aware")
        i = bisect.bisect_right(self._starts, when.timestamp())
        return self._records[i - 1] if i else None

    @property
    def first(self) -> StationRecord | None:
        """The oldest record, or None if empty."""
        return self._records[0] if self._records else None

    @property
    def last(self) -> StationRecord | None:
        """The newest record, or None if empty."""
        return self._records[-1] if self._records else None

    @property
    def records(self) -> tuple[StationRecord, ...]:
        """Every record, oldest first."""
        return tuple(self._records)

    def __len__(self) -> int:
        return len(self._records)


class Registry:
    """Histories of all known stations. Pure (no I/O); not thread-safe."""

    __slots__ = ("_histories",)

    def __init__(self, records: Iterable[StationRecord] = ()) -> None:
        self._histories: dict[str, StationHistory] = {}
        for record in records:
            self.upsert(record)

    def upsert(self, record: StationRecord) -> None:
        """Add a record to its station's history (replacing one with the same valid_from)."""
        history = self._histories.get(record.station_id)
        if history is None:
            history = self._histories[record.station_id] = StationHistory(record.station_id)
        history.upsert(record)

    def lookup(self, station_id: str, at: datetime) -> StationRecord | None:
        """The record of ``station_id`` valid at ``at``; None if the station is unknown or
        ``at`` predates its first record (the caller decides what that means)."""
        history = self._histories.get(station_id)
        return history.at(at) if history is not None else None

    def earliest(self, station_id: str) -> StationRecord | None:
        """The first record of ``station_id``, or None."""
        history = self._histories.get(station_id)
        return history.first if history is not None else None

    def latest(self, station_id: str) -> StationRecord | None:
        """The most recent record of ``station_id``, or None."""
        history = self._histories.get(station_id)
        return history.last if history is not None else None

    def history(self, station_id: str) -> tuple[StationRecord, ...]:
        """Every record of ``station_id``, oldest first (empty if unknown)."""
        history = self._histories.get(station_id)
        return history.records if history is not None else ()

    def known(self, station_id: str) -> bool:
        """True if at least one record of ``station_id`` exists."""
        return station_id in self._histories

    def station_ids(self) -> Iterator[str]:
        """Known station ids, in insertion order."""
        return iter(self._histories)

    def __contains__(self, station_id: object) -> bool:
        return station_id in self._histories

    def __len__(self) -> int:
        """Number of known stations (not of records)."""
        return len(self._histories)


class StationFileError(ValueError):
    """A station file cannot be read or holds invalid records: :attr:`problems` lists each
    (file, entry or line, field), one line each; the message is the lines joined."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else problems
        super().__init__("\n".join(self.problems))


def error_lines(e: ValidationError) -> list[str]:
    """One line per error of ``e``: the field, then what is wrong with it."""
    parts = []
    for err in e.errors(include_url=False):
        ctx = err.get("ctx") or {}
        field = ctx.get("field") if err["type"] == "rule" else None
        field = field or ".".join(str(p) for p in err["loc"]) or "(record)"
        if err["type"] == "missing":
            parts.append(f"{field}: required field is missing")
        elif err["type"] in ("rule", "extra_forbidden"):
            parts.append(f"{field}: {err['msg']}")
        else:
            parts.append(f"{field}: {err['msg']} (got {str(err['input'])[:60]!r})")
    return parts


def _describe(e: ValidationError) -> str:
    return "; ".join(error_lines(e))


def _entries(path: Path, data: Any) -> list[Any]:
    if isinstance(data, dict) and set(data) == {"stations"}:
        data = data["stations"]
    if not isinstance(data, list):
        raise StationFileError(f"{path}: expected a list of stations or {{stations: [...]}}")
    return data


def _parse_structured(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as e:
            raise StationFileError(f"{path}: not valid JSON: {e}") from None
    import yaml  # only needed here; the models themselves do not depend on it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise StationFileError(f"{path}: not valid YAML: {e}") from None


def _load_structured(path: Path, text: str) -> list[StationRecord]:
    data = _parse_structured(path, text)
    records, problems = [], []
    for i, entry in enumerate(_entries(path, data)):
        try:
            records.append(StationRecord.model_validate(entry))
        except ValidationError as e:
            problems.append(f"{path}: entry {i}: {_describe(e)}")
    if problems:
        raise StationFileError(problems)
    return records


def _load_csv(path: Path, text: str) -> list[StationRecord]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise StationFileError(f"{path}: empty file (expected a header row of field names)")
    unknown = set(reader.fieldnames) - set(StationRecord.model_fields)
    if unknown:
        raise StationFileError(f"{path}: line 1: unknown columns: {', '.join(sorted(unknown))}")
    records, problems = [], []
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append(f"{path}: line {line}: more cells than header columns")
            continue
        cells = {k: v.strip() for k, v in row.items() if v and v.strip()}
        try:
            # Cells are text: lax mode converts '43.0' and 'true' (timestamps stay RFC 3339).
            records.append(StationRecord.model_validate(cells, strict=False))
        except ValidationError as e:
            problems.append(f"{path}: line {line}: {_describe(e)}")
    if problems:
        raise StationFileError(problems)
    return records


def load_station_file(path: Path | str) -> list[StationRecord]:
    """All records in a ``.yaml``/``.yml``, ``.json`` or ``.csv`` file, in file order.

    Raises :class:`StationFileError` listing every bad record (file, entry or line, field),
    or if the file cannot be read: then nothing of the file is returned.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json", ".csv"):
        raise StationFileError(f"{path}: unsupported file type (use .yaml, .json or .csv)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise StationFileError(f"{path}: cannot read: {e}") from None
    if suffix == ".csv":
        return _load_csv(path, text)
    return _load_structured(path, text)
