"""Cross-key checks of a mapping that pydantic field types cannot express.

Each problem is ``"key.path: message"``; :func:`~blo.importer.mapping.parse_mapping`
raises them all at once in a :class:`~blo.importer.mapping.MappingError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from blo.importer.fields import parse_template, spec_columns
from blo.importer.mapping import FieldSpec, ImportMapping, valid_tz

# count_report targets; station_id is per row, the rest may differ per emitted event
ROW_TARGETS = frozenset({"station_id"})
EVENT_TARGETS = frozenset({"measure", "dimension", "value", "unit"})
REQUIRED_EVENT = ("station_id", "measure", "value", "unit")
NUMERIC = frozenset({"value", "lat", "lon"})
BOOLEAN = frozenset({"coord_approximate", "active"})
STATION_TARGETS = frozenset({
    "name", "country", "agency", "crossing_point", "neighbour_country", "paired_blo",
    "lat", "lon", "tz", "coord_source", "coord_approximate", "active",
})
REQUIRED_STATION = ("name", "country")
SEQ_FIELDS = frozenset({"measure", "dimension", "unit"})
KEY_DIGITS = {"yyyy": 4, "yyyymm": 6, "yyyymmdd": 8, "yyyymmddhh": 10}
DEFAULT_KEY = {"year": "yyyy", "month": "yyyymm", "day": "yyyymmdd"}
FINEST_NEEDED = {"year": 4, "month": 6, "day": 8}
MAX_SEQ_DIGITS = 18  # fits a signed 64-bit integer


def all_specs(m: ImportMapping) -> Iterator[tuple[str, str, FieldSpec]]:
    """(path, target, spec) of every field spec in the mapping."""
    for target, spec in m.fields.items():
        yield f"fields.{target}", target, spec
    for i, item in enumerate(m.event.emit):
        for target, spec in item.items():
            yield f"event.emit[{i}].{target}", target, spec
    t = m.time
    if t.date is not None:
        yield "time.date", "date", t.date
    if t.end is not None:
        yield "time.end", "date", t.end
    if t.fiscal is not None:
        yield "time.fiscal.year", "date", t.fiscal.year
        yield "time.fiscal.month", "date", t.fiscal.month
    if m.stations is not None:
        for target, spec in m.stations.fields.items():
            yield f"stations.fields.{target}", target, spec


def referenced_columns(m: ImportMapping) -> set[str]:
    cols = {c for _, _, spec in all_specs(m) for c in spec_columns(spec)}
    cols.update(p.column for p in m.source_seq.parts if p.column is not None)
    return cols


def mapping_problems(m: ImportMapping) -> list[str]:
    problems: list[str] = []
    for path, target, spec in all_specs(m):
        problems.extend(_spec_problems(path, target, spec, m.csv.columns))
    problems.extend(_csv_problems(m))
    problems.extend(_target_problems(m))
    problems.extend(_time_problems(m))
    problems.extend(_seq_problems(m))
    return problems


def _spec_problems(
    path: str, target: str, spec: FieldSpec, columns: list[str] | None, nested: bool = False
) -> list[str]:
    out: list[str] = []
    if spec.template is not None:
        try:
            parse_template(spec.template)
        except ValueError as exc:
            return [f"{path}.template: {exc}"]
    for i, sub in enumerate(spec.first_of or []):
        out.extend(_spec_problems(f"{path}.first_of[{i}]", target, sub, columns, True))
    for i, sub in enumerate(spec.concat or []):  # pieces are text, checked as a whole
        out.extend(_spec_problems(f"{path}.concat[{i}]", "", sub, columns, True))
    own = spec.first_of is None and spec.concat is None
    if columns is not None and own:
        known = set(columns)
        for col in spec_columns(spec):
            if col not in known:
                key = "column" if spec.column is not None else "template"
                out.append(f"{path}.{key}: unknown column {col!r} (columns: {', '.join(columns)})")
    numeric_opts = spec.scale is not None or spec.round is not None
    if numeric_opts and (nested or target not in NUMERIC):
        out.append(f"{path}: scale/round go on the top spec of a numeric target "
                   f"({', '.join(sorted(NUMERIC))})")
    if "const" in spec.model_fields_set and not spec.steps() and target:
        out.extend(_const_problems(path, target, spec.const))
    if target == "tz":
        for step in spec.steps():
            for key, zone in (step.map or {}).items():
                if zone and not valid_tz(zone):
                    out.append(f"{path}.map.{key}: unknown IANA time zone {zone!r}")
        if isinstance(spec.const, str) and not valid_tz(spec.const):
            out.append(f"{path}.const: unknown IANA time zone {spec.const!r}")
    return out


def _const_problems(path: str, target: str, const: object) -> list[str]:
    is_number = isinstance(const, int | float) and not isinstance(const, bool)
    if target in NUMERIC and not is_number and not (const is None and target in {"lat", "lon"}):
        return [f"{path}: {target} needs a number, got {const!r}"]
    if target in BOOLEAN and not isinstance(const, bool):
        return [f"{path}: {target} needs true or false, got {const!r}"]
    if target == "country" and not (isinstance(const, str) and len(const) == 2 and const.isupper()):
        return [f"{path}: country needs an ISO 3166 alpha-2 code, got {const!r}"]
    return []


def _csv_problems(m: ImportMapping) -> list[str]:
    cols = m.csv.columns
    if not m.csv.header and not cols:
        return ["csv.columns: required when csv.header is false"]
    if cols is not None and len(set(cols)) != len(cols):
        return ["csv.columns: names must be unique"]
    return []


def _target_problems(m: ImportMapping) -> list[str]:
    out: list[str] = []
    for target in m.fields:
        if target not in ROW_TARGETS | EVENT_TARGETS:
            out.append(f"fields.{target}: unknown count_report target "
                       f"(known: {', '.join(sorted(ROW_TARGETS | EVENT_TARGETS))})")
    for i, item in enumerate(m.event.emit):
        for target in item:
            if target not in EVENT_TARGETS:
                out.append(f"event.emit[{i}].{target}: an emitted event may set only "
                           f"{', '.join(sorted(EVENT_TARGETS))}")
        for target in REQUIRED_EVENT:
            if target not in item and target not in m.fields:
                out.append(f"fields.{target}: required (or set it in every event.emit item)")
    if m.stations is not None:
        for target in m.stations.fields:
            if target not in STATION_TARGETS:
                out.append(f"stations.fields.{target}: unknown station field "
                           f"(known: {', '.join(sorted(STATION_TARGETS))})")
        for target in REQUIRED_STATION:
            if target not in m.stations.fields:
                out.append(f"stations.fields.{target}: required")
        if "tz" not in m.stations.fields and m.time.default_tz is None:
            out.append("stations.fields.tz: required unless time.default_tz is given")
    return sorted(set(out), key=out.index)


def _time_problems(m: ImportMapping) -> list[str]:
    t, out = m.time, []
    if (t.date is None) == (t.fiscal is None):
        out.append("time: give exactly one of date (with formats) or fiscal")
    if t.date is not None and not t.formats:
        out.append("time.formats: at least one strptime format is needed with time.date")
    for i, fmt in enumerate(t.formats):
        if not _format_ok(fmt):
            out.append(f"time.formats[{i}]: {fmt!r} is not a usable strptime format")
    if t.fiscal is not None and t.formats:
        out.append("time.formats: not used with time.fiscal (months are names or numbers)")
    if (t.period == "explicit") != (t.end is not None):
        out.append("time.end: required exactly when time.period is explicit")
    if t.end_inclusive and t.period != "explicit":
        out.append("time.end_inclusive: only with time.period explicit")
    if t.fiscal is not None and t.period != "month":
        out.append("time.period: fiscal year + month rows are monthly (period: month)")
    if t.default_tz is not None and not valid_tz(t.default_tz):
        out.append(f"time.default_tz: unknown IANA time zone {t.default_tz!r}")
    if m.stations is None and t.default_tz is None:
        out.append("time.default_tz: required when there is no stations block "
                   "(stations not in the registry need a time zone)")
    w = t.window
    if w is not None and w.start is not None and w.end is not None and w.start >= w.end:
        out.append("time.window: start must be before end (end is exclusive)")
    return out


def _format_ok(fmt: str) -> bool:
    sample = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    try:
        datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError:
        return False
    return True


def _seq_problems(m: ImportMapping) -> list[str]:
    s, out = m.source_seq, []
    key = s.period_key or DEFAULT_KEY.get(m.time.period)
    if key is None:
        out.append("source_seq.period_key: required with time.period explicit")
        key_digits = 10
    else:
        key_digits = KEY_DIGITS[key]
        need = FINEST_NEEDED.get(m.time.period, 0)
        if key_digits < need:
            out.append(f"source_seq.period_key: {key} is coarser than the {m.time.period} period "
                       "(two periods would share a key)")
    total = key_digits
    for i, part in enumerate(s.parts):
        where = f"source_seq.parts[{i}]"
        total += part.digits
        if (part.field is None) == (part.column is None):
            out.append(f"{where}: give exactly one of field or column")
        if part.field is not None and part.field not in SEQ_FIELDS:
            out.append(f"{where}.field: one of {', '.join(sorted(SEQ_FIELDS))}")
        if part.column is not None and m.csv.columns is not None and part.column not in m.csv.columns:
            out.append(f"{where}.column: unknown column {part.column!r}")
        limit = 10**part.digits
        for name, code in part.codes.items():
            if not 0 <= code < limit:
                out.append(f"{where}.codes.{name}: {code} does not fit {part.digits} digit(s)")
        seen: dict[int, str] = {}
        for name, code in part.codes.items():
            if code in seen:
                out.append(f"{where}.codes.{name}: code {code} already used by {seen[code]!r}")
            seen[code] = name
    if total > MAX_SEQ_DIGITS:
        out.append(f"source_seq: {total} digits in all, at most {MAX_SEQ_DIGITS}")
    if len(m.event.emit) > 1:
        fields = {p.field for p in s.parts if p.field is not None}
        if not any(all(f in item for item in m.event.emit) for f in fields):
            out.append("source_seq.parts: several events per row need a part on a field that "
                       "every event.emit item sets (e.g. field: measure)")
    return out
