"""Compiling a :class:`~blo.importer.mapping.FieldSpec` into a fast getter over a CSV row.

A getter takes the row (a list of cell strings) and returns text, ``""`` meaning empty.
Typed getters (:func:`text_getter`, :func:`number_getter`, :func:`bool_getter`) add the
target's conversion and checks. A bad cell raises :class:`RowError`; the row loop turns
it into a rejection, so nothing here escapes to the caller of ``iter_import``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from blo.importer.mapping import FieldSpec, Transform

Row = Sequence[str]
TextGetter = Callable[[Row], str]


class RowError(Exception):
    """A row cannot be mapped: ``reason`` is a stable code, ``message`` says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class ColumnRef:
    name: str


def parse_template(text: str) -> list[str | ColumnRef]:
    """``"US-{Port Code}"`` → ``["US-", ColumnRef("Port Code")]``; ``{{``/``}}`` escape."""
    out: list[str | ColumnRef] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "{}" and i + 1 < n and text[i + 1] == ch:
            buf.append(ch)
            i += 2
            continue
        if ch == "}":
            raise ValueError(f"unmatched '}}' at position {i} (write '}}}}' for a literal brace)")
        if ch == "{":
            close = text.find("}", i + 1)
            name = text[i + 1 : close] if close != -1 else ""
            if close == -1 or not name or "{" in name:
                raise ValueError(f"unclosed or empty '{{' at position {i}")
            if buf:
                out.append("".join(buf))
                buf = []
            out.append(ColumnRef(name))
            i = close + 1
            continue
        buf.append(ch)
        i += 1
    if buf:
        out.append("".join(buf))
    return out


def spec_columns(spec: FieldSpec) -> list[str]:
    """Every column a spec reads (templates, column, nested first_of)."""
    if spec.column is not None:
        return [spec.column]
    if spec.template is not None:
        return [p.name for p in parse_template(spec.template) if isinstance(p, ColumnRef)]
    subs = spec.first_of or spec.concat or []
    return [c for sub in subs for c in spec_columns(sub)]


_SLUG = re.compile(r"[^0-9a-z]+")


def _op(name: str) -> Callable[[str], str]:
    if name == "strip":
        return str.strip
    if name == "upper":
        return str.upper
    if name == "lower":
        return str.lower
    if name == "title":
        return str.title
    return lambda v: _SLUG.sub("-", v.lower()).strip("-")


def _step(t: Transform, where: str) -> Callable[[str], str]:
    if t.op is not None:
        return _op(t.op)
    if t.regex is not None:
        pat = re.compile(t.regex)

        def extract(v: str) -> str:
            m = pat.search(v)
            if m is None:
                raise RowError("bad_value", f"{where}: {v!r} does not match /{pat.pattern}/")
            return m.group(1) if pat.groups else m.group(0)

        return extract
    table = {k: ("" if v is None else v) for k, v in (t.map or {}).items()}
    if t.unmapped == "keep":
        return lambda v: table.get(v, v)
    if t.unmapped == "empty":
        return lambda v: table.get(v, "")

    def lookup(v: str) -> str:
        try:
            return table[v]
        except KeyError:
            raise RowError("unmapped_value", f"{where}: {v!r} is not in the value map") from None

    return lookup


def compile_text(spec: FieldSpec, index: dict[str, int], where: str) -> TextGetter:
    """The spec's text getter; ``index`` maps column names to positions."""
    source = _source(spec, index, where)
    steps = [_step(t, where) for t in spec.steps()]
    if not steps:
        return source
    if len(steps) == 1:
        only = steps[0]
        return lambda row: only(source(row))

    def chained(row: Row) -> str:
        v = source(row)
        for f in steps:
            v = f(v)
        return v

    return chained


def _source(spec: FieldSpec, index: dict[str, int], where: str) -> TextGetter:
    if spec.first_of is not None:
        subs = [compile_text(s, index, f"{where}.first_of[{i}]") for i, s in enumerate(spec.first_of)]

        def first(row: Row) -> str:
            for sub in subs:
                v = sub(row)
                if v:
                    return v
            return ""

        return first
    if spec.concat is not None:
        pieces = [compile_text(s, index, f"{where}.concat[{i}]") for i, s in enumerate(spec.concat)]
        return lambda row: "".join(p(row) for p in pieces)
    if spec.column is not None:
        col = index[spec.column]
        return lambda row: row[col]
    if spec.template is not None:
        parts = parse_template(spec.template)
        if len(parts) == 1 and isinstance(parts[0], ColumnRef):
            col = index[parts[0].name]
            return lambda row: row[col]
        if all(isinstance(p, str) for p in parts):
            text = "".join(p for p in parts if isinstance(p, str))
            return lambda row: text
        cells: list[str | int] = [index[p.name] if isinstance(p, ColumnRef) else p for p in parts]

        def fill(row: Row) -> str:
            out: list[str] = []
            for cell in cells:
                if isinstance(cell, int):
                    value = row[cell]
                    if not value:  # "US-{Port Code}" with no code is no id at all
                        return ""
                    out.append(value)
                else:
                    out.append(cell)
            return "".join(out)

        return fill
    const = spec.const
    text = "" if const is None else str(const).lower() if isinstance(const, bool) else str(const)
    return lambda row: text


# The event/station schema's text shapes, checked here so a bad cell is a rejected row
# rather than an event the pipeline dead-letters (schemas.fields: StationId, Label).
STATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
LABEL = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
_SEEN_LIMIT = 100_000


def text_getter(
    spec: FieldSpec,
    index: dict[str, int],
    where: str,
    *,
    required: bool,
    shape: re.Pattern[str] | None = None,
) -> Callable[[Row], str | None]:
    """Text target: empty is ``missing_value`` when required, else ``None``; a value not
    matching ``shape`` is ``bad_value`` (values already seen are not checked again)."""
    get = compile_text(spec, index, where)
    cols = ", ".join(spec_columns(spec)) or "constant"
    good: set[str] = set()

    def typed(row: Row) -> str | None:
        v = get(row)
        if v:
            if shape is None or v in good:
                return v
            if shape.match(v) is None:
                raise RowError("bad_value", f"{where}: {v!r} does not match {shape.pattern}")
            if len(good) >= _SEEN_LIMIT:
                good.clear()
            good.add(v)
            return v
        if required:
            raise RowError("missing_value", f"{where} is empty (from {cols})")
        return None

    return typed


def number_getter(
    spec: FieldSpec,
    index: dict[str, int],
    where: str,
    *,
    required: bool,
    minimum: float | None = None,
    maximum: float | None = None,
    negative_reason: str = "negative_value",
) -> Callable[[Row], float | None]:
    """Numeric target: parsed, scaled, rounded; integral unscaled values stay ``int``."""
    get = compile_text(spec, index, where)
    cols = ", ".join(spec_columns(spec)) or "constant"
    scale, ndigits = spec.scale, spec.round

    def typed(row: Row) -> float | None:
        text = get(row)
        if not text:
            if required:
                raise RowError("missing_value", f"{where} is empty (from {cols})")
            return None
        try:
            v = float(text)
        except ValueError:
            raise RowError("bad_number", f"{where}: {text!r} is not a number") from None
        if not math.isfinite(v):
            raise RowError("bad_number", f"{where}: {text!r} is not a finite number")
        if scale is not None:
            v *= scale
        elif v.is_integer() and abs(v) < 2**53:
            v = int(v)
        if ndigits is not None:
            v = round(v, ndigits)
        if minimum is not None and v < minimum:
            raise RowError(negative_reason, f"{where}: {text!r} is below {minimum:g}")
        if maximum is not None and v > maximum:
            raise RowError(negative_reason, f"{where}: {text!r} is above {maximum:g}")
        return v

    return typed


_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def bool_getter(spec: FieldSpec, index: dict[str, int], where: str) -> Callable[[Row], bool]:
    get = compile_text(spec, index, where)

    def typed(row: Row) -> bool:
        v = get(row).lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
        raise RowError("bad_value", f"{where}: {v!r} is not a boolean")

    return typed
