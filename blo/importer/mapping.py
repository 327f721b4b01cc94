"""The mapping file of ``blo import-csv``: a YAML document validated by :class:`ImportMapping`.

A mapping says how to read one kind of CSV (``csv``), which events a row yields (``event``,
``fields``), how its period is read and anchored in time (``time``), how each event gets a
stable ``source_seq`` (``source_seq``) and, optionally, how to derive station records for
stations the registry does not know yet (``stations``). The format is documented in
``docs/import-csv.md``; the bundled mappings live in ``blo/data/mappings/``.

:func:`load_mapping` raises :class:`MappingError` whose message lists every problem, each
prefixed with the key path (``fields.station_id.template: unknown column 'Port Cod'``).
Only loading may raise; the compiled mapping never raises on a row (see :mod:`.rows`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

import schemas.tz  # noqa: F401 - zone rules from the pinned tzdata package


class MappingError(ValueError):
    """The mapping file is unreadable or invalid; the message names every bad key path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid import mapping {source}:\n{lines}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


StringOp = Literal["strip", "upper", "lower", "title", "slug"]
Unmapped = Literal["reject", "keep", "empty"]


class Transform(_Strict):
    """One step on a cell's text: a named op, a value map, or a regex extraction.

    YAML: ``upper`` · ``{map: {US-Mexico Border: MX}, unmapped: reject}`` ·
    ``{regex: '^(\\d{4})'}`` (first group, else the whole match; no match rejects the row).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    op: StringOp | None = None
    map: dict[str, str | None] | None = None
    unmapped: Unmapped = "reject"
    regex: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"op": data}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Transform:
        given = [k for k in ("op", "map", "regex") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a transform is one of: strip, upper, lower, title, slug, "
                "{map: {...}, unmapped: reject|keep|empty}, {regex: '...'}"
            )
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"bad regex {self.regex!r}: {exc}") from None
        return self


class FieldSpec(_Strict):
    """Where a target value comes from: a column, a constant, a template, the first
    non-empty of several specs (``first_of``) or their concatenation (``concat``); then
    transforms; then (numeric targets) scale and round.

    YAML shorthand: a string is a template (``"US-{Port Code}"``; no braces = constant
    text, ``{{``/``}}`` escape braces; empty if any placeholder's cell is empty); a number,
    boolean or null is a constant.
    """

    column: str | None = None
    template: str | None = None
    const: str | float | bool | None = None
    first_of: list[FieldSpec] | None = None
    concat: list[FieldSpec] | None = None
    transforms: list[Transform] = Field(default_factory=list)
    map: dict[str, str | None] | None = None
    unmapped: Unmapped = "reject"
    scale: float | None = None
    round: int | None = Field(default=None, ge=0, le=12)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"template": data}
        if data is None or isinstance(data, bool | int | float):
            return {"const": data}
        return data

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys_text(cls, v: Any) -> Any:
        return _texts(v)

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        kinds = ("column", "template", "const", "first_of", "concat")
        sources = [k for k in kinds if k in self.model_fields_set]
        if len(sources) != 1:
            raise ValueError(f"give exactly one of: {', '.join(kinds)}")
        for name in ("first_of", "concat"):
            if name in sources and not getattr(self, name):
                raise ValueError(f"{name} needs at least one spec")
        return self

    def steps(self) -> list[Transform]:
        """Transforms in order, the ``map`` sugar last."""
        if self.map is None:
            return list(self.transforms)
        return [*self.transforms, Transform(map=self.map, unmapped=self.unmapped)]


def _texts(v: Any) -> Any:
    """Numbers in value maps are text (port codes); booleans are a YAML accident."""
    if not isinstance(v, dict):
        return v
    out: dict[Any, Any] = {}
    for k, val in v.items():
        key = str(k) if isinstance(k, int | float) and not isinstance(k, bool) else k
        out[key] = str(val) if isinstance(val, int | float) and not isinstance(val, bool) else val
    return out


class CsvSpec(_Strict):
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    header: bool = True
    columns: list[str] | None = None
    strip: bool = True

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        import codecs

        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r}") from None
        return v



def _one_event() -> list[dict[str, FieldSpec]]:
    return [{}]


class EventSpec(_Strict):
    type: Literal["count_report"]
    emit: list[dict[str, FieldSpec]] = Field(default_factory=_one_event, min_length=1)


class FiscalSpec(_Strict):
    """Fiscal year + month columns. FY N starts in ``first_month`` of calendar year N-1
    (US federal: first_month 10, so FY2023 October = October 2022)."""

    year: FieldSpec
    month: FieldSpec
    first_month: int = Field(default=10, ge=1, le=12)


class WindowSpec(_Strict):
    """Accepted period starts, station-local dates, ``start`` inclusive, ``end`` exclusive."""

    start: date | None = None
    end: date | None = None


Period = Literal["day", "month", "year", "explicit"]
PeriodKey = Literal["yyyy", "yyyymm", "yyyymmdd", "yyyymmddhh"]


class TimeSpec(_Strict):
    date: FieldSpec | None = None
    formats: list[str] = Field(default_factory=list)
    fiscal: FiscalSpec | None = None
    period: Period = "month"
    end: FieldSpec | None = None
    end_inclusive: bool = False
    default_tz: str | None = None
    window: WindowSpec | None = None


class SeqPart(_Strict):
    """One positional component of ``source_seq``: ``digits`` decimal digits holding the
    code of a target field's value (``field``) or of a raw column's value (``column``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    field: str | None = None
    column: str | None = None
    digits: int = Field(ge=1, le=6)
    codes: dict[str, int]

    @field_validator("codes", mode="before")
    @classmethod
    def _code_keys_text(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        return {(str(k) if isinstance(k, int) and not isinstance(k, bool) else k): c
                for k, c in v.items()}


class SourceSeqSpec(_Strict):
    period_key: PeriodKey | None = None
    parts: list[SeqPart] = Field(default_factory=list)


class StationsSpec(_Strict):
    valid_from: datetime
    fields: dict[str, FieldSpec]

    @field_validator("valid_from", mode="before")
    @classmethod
    def _date_is_utc_midnight(cls, v: Any) -> Any:
        if isinstance(v, str) and len(v) == 10:
            try:
                v = date.fromisoformat(v)
            except ValueError:
                return v
        if isinstance(v, date) and not isinstance(v, datetime):
            return datetime.combine(v, time(0), UTC)
        return v

    @field_validator("valid_from")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("give an offset (e.g. 1990-01-01T00:00:00Z) or a plain date")
        return v.astimezone(UTC)


class ImportMapping(_Strict):
    version: Literal[1] = 1
    name: str
    description: str = ""
    csv: CsvSpec = Field(default_factory=CsvSpec)
    event: EventSpec
    fields: dict[str, FieldSpec]
    time: TimeSpec
    source_seq: SourceSeqSpec = Field(default_factory=SourceSeqSpec)
    stations: StationsSpec | None = None


def valid_tz(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True



def bundled_mappings() -> list[str]:
    """Names of the mappings shipped in ``blo/data/mappings`` (without ``.yaml``)."""
    root = resources.files("blo") / "data" / "mappings"
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_mapping(source: str | Path) -> ImportMapping:
    """Load and validate a mapping: a file path, or the name of a bundled mapping.

    Raises :class:`MappingError` (unreadable file, bad YAML, or each invalid key with its
    path). Never returns a mapping that can fail to compile.
    """
    text, label = read_mapping_text(source)
    return parse_mapping(text, label)


def read_mapping_text(source: str | Path) -> tuple[str, str]:
    """The text of a mapping (a file path, or the name of a bundled mapping) and its label
    (the path, or ``NAME (bundled)``); :class:`MappingError` when there is neither."""
    path = Path(source)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as e:
            raise MappingError(str(source), [f"cannot read: {e}"]) from None
    name = str(source).removesuffix(".yaml")
    if name not in bundled_mappings():
        known = ", ".join(bundled_mappings())
        problem = f"no such file, and no bundled mapping of that name (bundled: {known})"
        raise MappingError(str(source), [problem])
    res = resources.files("blo") / "data" / "mappings" / f"{name}.yaml"
    return res.read_text(encoding="utf-8"), f"{name} (bundled)"


def parse_mapping(text: str, label: str = "<text>") -> ImportMapping:
    """Validate mapping YAML text; see :func:`load_mapping`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(label, [f"not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise MappingError(label, ["the document must be a mapping of keys (csv, event, ...)"])
    try:
        mapping = ImportMapping.model_validate(raw)
    except ValidationError as exc:
        raise MappingError(label, [_describe(e) for e in exc.errors()]) from None
    from blo.importer.checks import mapping_problems  # checks import this module

    problems = mapping_problems(mapping)
    if problems:
        raise MappingError(label, problems)
    return mapping


def _describe(err: Any) -> str:
    loc = list(err["loc"])
    if loc[-1:] == ["[key]"] and len(loc) >= 2:
        loc[-2:] = [str(err.get("input")), " (key)"]  # pydantic puts 0 for a key False
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int) and not isinstance(item, bool):
            parts.append(f"[{item}]")
        elif item == " (key)":
            parts.append(item)
        else:
            parts.append(("." if parts else "") + str(item))
    path = "".join(parts) or "(top)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if isinstance(err.get("input"), bool):
        msg += " (YAML reads unquoted yes/no/on/off/true/false as booleans: quote the text)"
    return f"{path}: {msg}"
