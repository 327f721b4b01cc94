"""A validated mapping compiled against the file's columns: getters per target.

:class:`RowPlan` is built once per file; its getters raise :class:`RowError` on a bad
cell and nothing else, so the row loop in :mod:`.rows` only catches that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from blo.importer.checks import DEFAULT_KEY
from blo.importer.fields import (
    LABEL,
    STATION_ID,
    Row,
    RowError,
    bool_getter,
    compile_text,
    number_getter,
    text_getter,
)
from blo.importer.mapping import FieldSpec, ImportMapping, SeqPart, valid_tz
from blo.importer.periods import PeriodReader
from blo.importer.records import StationRecordDict
from schemas.vocab import Agency


@dataclass(frozen=True, slots=True)
class SeqCode:
    """One positional ``source_seq`` component: multiply by ``scale``, add the code."""

    scale: int
    codes: dict[str, int]
    field: str | None  # target field, or None for a raw column
    column: Callable[[Row], str] | None
    label: str  # what an unknown value is called in the rejection

    def code(self, value: str) -> int:
        try:
            return self.codes[value]
        except KeyError:
            reason = f"unknown_{self.field}" if self.field is not None else "unknown_code"
            raise RowError(reason, f"{self.label} {value!r} has no code in source_seq") from None


@dataclass(frozen=True, slots=True)
class EmitPlan:
    """Getters of one emitted event (common fields merged with the emit item)."""

    measure: Callable[[Row], str | None]
    dimension: Callable[[Row], str | None]
    value: Callable[[Row], float | None]
    unit: Callable[[Row], str | None]


COUNTRY = re.compile(r"^[A-Z]{2}$")
AGENCY = re.compile("^(" + "|".join(re.escape(a.value) for a in Agency) + ")$")


def _no_dimension(row: Row) -> None:
    return None


class StationPlan:
    """Derives a station record (and its time zone) from a row."""

    def __init__(self, mapping: ImportMapping, index: dict[str, int]) -> None:
        assert mapping.stations is not None
        spec = mapping.stations
        self.valid_from = spec.valid_from.isoformat()
        f = spec.fields
        where = "stations.fields."

        def text(
            name: str, required: bool = False, shape: re.Pattern[str] | None = LABEL
        ) -> Callable[[Row], str | None]:
            if name not in f:
                return lambda row: None
            return text_getter(f[name], index, where + name, required=required, shape=shape)

        def coord(name: str, limit: float) -> Callable[[Row], float | None]:
            if name not in f:
                return lambda row: None
            return number_getter(f[name], index, where + name, required=False,
                                 minimum=-limit, maximum=limit, negative_reason="bad_coordinate")

        def flag(name: str, default: bool) -> Callable[[Row], bool]:
            if name not in f:
                return lambda row: default
            return bool_getter(f[name], index, where + name)

        self._name = text("name", True)
        self._country = text("country", True, COUNTRY)
        self._agency = text("agency", shape=AGENCY)
        self._crossing = text("crossing_point")
        self._neighbour = text("neighbour_country", shape=COUNTRY)
        self._paired = text("paired_blo", shape=STATION_ID)
        self._lat, self._lon = coord("lat", 90.0), coord("lon", 180.0)
        default_tz = mapping.time.default_tz
        tz_spec = f.get("tz") or FieldSpec(const=default_tz)
        self._tz = text_getter(tz_spec, index, where + "tz", required=True)
        self._source = text("coord_source")
        self._approx = flag("coord_approximate", True)  # the registry's default
        self._active = flag("active", True)

    def build(self, row: Row, station_id: str) -> StationRecordDict:
        tz = self._tz(row) or ""
        if not valid_tz(tz):
            raise RowError("bad_tz", f"stations.fields.tz: {tz!r} is not an IANA time zone")
        return {
            "station_id": station_id,
            "name": self._name(row) or "",
            "country": self._country(row) or "",
            "agency": self._agency(row),
            "crossing_point": self._crossing(row),
            "neighbour_country": self._neighbour(row),
            "paired_blo": self._paired(row),
            "lat": self._lat(row),
            "lon": self._lon(row),
            "tz": tz,
            "coord_source": self._source(row),
            "coord_approximate": self._approx(row),
            "valid_from": self.valid_from,
            "active": self._active(row),
        }


class RowPlan:
    def __init__(self, mapping: ImportMapping, columns: list[str]) -> None:
        index = {name: i for i, name in enumerate(columns)}
        self.width = len(columns)
        self.strip = mapping.csv.strip
        self.default_tz = mapping.time.default_tz
        self.station_id = text_getter(
            mapping.fields["station_id"], index, "fields.station_id", required=True,
            shape=STATION_ID,
        )
        self.emits = [self._emit(mapping, item, index, i) for i, item in enumerate(mapping.event.emit)]
        self.seq = self._seq(mapping, index)
        key = mapping.source_seq.period_key or DEFAULT_KEY[mapping.time.period]
        self.periods = PeriodReader(mapping.time, index, key)
        self.stations = StationPlan(mapping, index) if mapping.stations is not None else None

    @staticmethod
    def _emit(
        mapping: ImportMapping, item: dict[str, FieldSpec], index: dict[str, int], i: int
    ) -> EmitPlan:
        def spec(target: str) -> tuple[FieldSpec | None, str]:
            if target in item:
                return item[target], f"event.emit[{i}].{target}"
            return mapping.fields.get(target), f"fields.{target}"

        def text(target: str) -> Callable[[Row], str | None]:
            s, where = spec(target)
            assert s is not None  # required targets are checked at load
            return text_getter(s, index, where, required=True, shape=LABEL)

        dim, dim_where = spec("dimension")
        value, value_where = spec("value")
        assert value is not None
        return EmitPlan(
            measure=text("measure"),
            dimension=_no_dimension if dim is None
            else text_getter(dim, index, dim_where, required=False, shape=LABEL),
            value=number_getter(value, index, value_where, required=True, minimum=0.0),
            unit=text("unit"),
        )

    @staticmethod
    def _seq(mapping: ImportMapping, index: dict[str, int]) -> list[SeqCode]:
        out: list[SeqCode] = []
        for i, part in enumerate(mapping.source_seq.parts):
            out.append(_seq_code(part, index, i))
        return out


def _seq_code(part: SeqPart, index: dict[str, int], i: int) -> SeqCode:
    column = None
    if part.column is not None:
        column = compile_text(FieldSpec(column=part.column), index, f"source_seq.parts[{i}]")
    label = part.field if part.field is not None else f"column {part.column!r} value"
    return SeqCode(10**part.digits, dict(part.codes), part.field, column, label)
