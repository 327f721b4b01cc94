"""How the CLI prints rows: terminal tables for people, JSON Lines, CSV and TSV for programs.

Tables (``blo query``, ``blo stats``, ``blo dlq list``, ``blo stations list``, ``blo alerts
list``, …) keep one row per line whatever the data holds: control characters (C0, DEL, C1),
the bidirectional controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069) and the line
and paragraph separators are shown escaped (``\\n``, ``\\x00``, ``\\u202e``), so a payload
can neither break the table nor reorder what the terminal shows. A table fits the terminal
(``COLUMNS``, else the terminal's own width): the widest cells are cut first, with an
ellipsis; output that goes to a file or a pipe is never cut, nor is ``--wide`` output.

JSON Lines carry raw values (one object per row, keys in column order): any reader decodes
exactly what is stored; the same characters are written as ``\\uXXXX`` escapes there, which
JSON allows inside any string, so printing the JSON is as safe as printing a table. CSV
(RFC 4180 quoting, a header row) and TSV (ClickHouse's TabSeparated escaping) carry raw
values too, except that by default a text cell a spreadsheet would run as a formula gets a
leading ``'`` (:func:`formula_guard`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any

ELLIPSIS = "…"
GAP = 2
"""Spaces between two columns."""
MIN_CUT = 4
"""A column is not cut narrower than this (nor than its header), unless its cells are."""

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                          "\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    c = match.group()
    named = _NAMED.get(c)
    if named is not None:
        return named
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def escape(text: str) -> str:
    """``text`` with every character that could break a line or reorder the terminal's
    text shown as an escape: ``\\n``, ``\\r``, ``\\t``, ``\\xNN`` (other C0, DEL, C1),
    ``\\uNNNN`` (bidirectional controls, U+2028/U+2029). Everything else is left as is."""
    return _UNSAFE.sub(_escaped, text)


def cell_text(value: object) -> str:
    """A value as a table shows it (before escaping): NULL as an empty cell."""
    return "" if value is None else str(value)


def _char_width(c: str) -> int:
    if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK) characters two, combining marks and
    format characters none."""
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def truncate(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` terminal columns, ending in an ellipsis when cut."""
    if display_width(text) <= width:
        return text
    if width <= 0:
        return ""
    out: list[str] = []
    used = 0
    for c in text:
        w = _char_width(c)
        if used + w > width - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + ELLIPSIS


def column_widths(natural: Sequence[int], floors: Sequence[int], total: int | None,
                  gap: int = GAP) -> list[int]:
    """The width of each column so that the row fits ``total`` columns (None: no limit).

    Columns are cut from the widest down: every column wider than a cap is cut to it (never
    below its floor), with the largest cap that fits. When even the floors do not fit,
    the floors (the terminal wraps)."""
    natural = list(natural)
    if total is None or sum(natural) + gap * max(len(natural) - 1, 0) <= total:
        return natural
    budget = total - gap * max(len(natural) - 1, 0)

    def widths(cap: int) -> list[int]:
        return [max(min(f, n), min(n, cap)) for n, f in zip(natural, floors, strict=True)]

    lo, hi = 0, max(natural, default=0)  # sum(widths(lo)) is the floors; widths(hi) natural
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(widths(mid)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return widths(lo)


def terminal_width() -> int | None:
    """The width tables fit: ``COLUMNS`` when set to a positive number, else the
    terminal's width when standard output is one; None (no limit) for a file or a pipe."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        if sys.stdout.isatty():
            return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError, AttributeError):
        pass
    return None


def render_table(header: Sequence[str] | None, rows: Sequence[Sequence[object]],
                 width: int | None) -> list[str]:
    """The lines of a table: the header and a rule of dashes (when there is a header), then
    one line per row; cells escaped (:func:`escape`) and cut to fit ``width``
    (:func:`column_widths`; None: never cut), columns left-aligned, trailing spaces
    stripped. No lines for no header and no rows."""
    n = max([len(header or ())] + [len(r) for r in rows])
    body = [[escape(cell_text(v)) for v in r] + [""] * (n - len(r)) for r in rows]
    head = [escape(h) for h in header] + [""] * (n - len(header)) if header else None
    table = ([head] if head else []) + body
    if not table:
        return []
    natural = [max(display_width(r[i]) for r in table) for i in range(n)]
    floors = [max(MIN_CUT, display_width(head[i]) if head else 0) for i in range(n)]
    widths = column_widths(natural, floors, width)
    lines = []
    for k, r in enumerate(table):
        cells = [truncate(v, w) for v, w in zip(r, widths, strict=True)]
        lines.append((" " * GAP).join(c + " " * (w - display_width(c))
                                      for c, w in zip(cells, widths, strict=True)).rstrip())
        if k == 0 and head:
            lines.append((" " * GAP).join("-" * w for w in widths))
    return lines


def json_value(value: object) -> Any:
    """A value as JSON carries it: numbers, strings, booleans and null as they are, lists
    and tuples element by element, anything else (times, UUIDs, decimals) as its text."""
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def json_text(doc: object) -> str:
    """One line of JSON (UTF-8 text, no ASCII escaping) in which DEL, C1, the bidirectional
    controls and U+2028/U+2029 are ``\\uXXXX`` escapes (C0 always are, in JSON): the same
    value, decoded, and nothing a terminal would act on."""
    text = json.dumps(doc, ensure_ascii=False, default=str)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def unique_names(names: Sequence[str]) -> list[str]:
    """Column names as object keys: a repeated name gets ``_2``, ``_3``, … (``SELECT 1, 1``
    has two columns named ``1``)."""
    seen: set[str] = set()
    out = []
    for name in names:
        key, k = name, 1
        while key in seen:
            k += 1
            key = f"{name}_{k}"
        seen.add(key)
        out.append(key)
    return out


def json_lines(names: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """JSON Lines: one object per row, keys the column names (:func:`unique_names`) in
    column order, raw values (:func:`json_value`)."""
    keys = unique_names(names)
    return [json_text(dict(zip(keys, (json_value(v) for v in r), strict=True)))
            for r in rows]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a text cell must not start with in CSV or TSV a spreadsheet opens: the characters
that make Excel, LibreOffice or Google Sheets read the cell as a formula (OWASP, CSV
Injection)."""
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def formula_guard(value: object) -> object:
    """``value`` with a single quote in front when it is text that starts with one of
    :data:`FORMULA_STARTS` (``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``, which a
    spreadsheet shows as text); anything else as it is: numbers (``-3.5``, also as text,
    as some engines send 64-bit integers), NULL, times, arrays."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) \
            and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return json.dumps(json_value(value), ensure_ascii=False)
    return str(value)


def csv_text(names: Sequence[str], rows: Sequence[Sequence[object]], *,
             guard: bool = True) -> str:
    """CSV: a header row, then one record per row; fields quoted when they hold a comma, a
    quote or a line break (quotes doubled, RFC 4180), records ended by ``\\n``; NULL is an
    empty field, an array its JSON text. With ``guard``, cells (and names) that would run
    as formulas are text (:func:`formula_guard`); without, every value is as stored."""
    cell = (lambda v: _csv_cell(formula_guard(v))) if guard else _csv_cell
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([cell(n) for n in names])
    w.writerows([cell(v) for v in r] for r in rows)
    return out.getvalue()


_TSV = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def tsv_lines(rows: Sequence[Sequence[object]], *, guard: bool = True) -> list[str]:
    """Tab-separated rows without a header, escaped as ClickHouse's TabSeparated format
    escapes them (backslash, tab, line breaks, NUL; NULL is ``\\N``). With ``guard``,
    cells that would run as formulas are text first (:func:`formula_guard`)."""
    cell = formula_guard if guard else (lambda v: v)
    return ["\t".join("\\N" if v is None else str(cell(v)).translate(_TSV) for v in r)
            for r in rows]
