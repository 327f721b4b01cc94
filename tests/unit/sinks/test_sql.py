"""The one escaping function: hostile strings stay data, every type renders as a literal."""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from sinks.sql import check_identifier, quote, render

HOSTILE = [
    "a'b",
    "back\\slash",
    "\\'; DROP TABLE blo.events; --",
    "' OR 1=1 --",
    "nul\x00byte",
    "new\nline\ttab\rcr",
    "\a\b\f\v",
    "ünïcödé 😀 中文",
    "\\",
    "'",
    "''",
    "\\\\'",
    "",
    "%(x)s %s %%",
    "`backtick` \"double\"",
    "ends with backslash\\",
]

_UNESCAPE = {"\\": "\\", "'": "'", "0": "\0", "b": "\b", "f": "\f", "r": "\r", "n": "\n",
             "t": "\t", "a": "\a", "v": "\v"}  # fmt: skip


def parse_clickhouse_string(literal: str) -> str:
    """A reference reader of ClickHouse's '...' literal (what the lexer does)."""
    assert literal[0] == "'" and literal[-1] == "'", literal
    out, i, body = [], 0, literal[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            out.append(_UNESCAPE[body[i + 1]])
            i += 2
            continue
        assert ch != "'", f"unescaped quote inside {literal!r}"
        out.append(ch)
        i += 1
    return "".join(out)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_round_trip_through_the_lexer_rules(text: str) -> None:
    literal = quote(text)
    assert parse_clickhouse_string(literal) == text
    assert "\n" not in literal and "\0" not in literal


@pytest.mark.parametrize("text", HOSTILE)
def test_render_keeps_a_hostile_value_inside_one_literal(text: str) -> None:
    sql = render("SELECT %(v)s AS v", {"v": text})
    m = re.fullmatch(r"SELECT ('.*') AS v", sql, re.DOTALL)
    assert m is not None
    assert parse_clickhouse_string(m.group(1)) == text


def test_scalars() -> None:
    assert quote(None) == "NULL"
    assert quote(True) == "1" and quote(False) == "0"
    assert quote(-42) == "-42"
    assert quote(1.5) == "1.5"
    assert quote(math.nan) == "nan" and quote(-math.inf) == "-inf"
    assert quote(Decimal("12.50")) == "12.50"
    assert quote(b"\x00\xffA") == "'\\x00\\xFF\\x41'"
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert quote(u) == "toUUID('12345678-1234-5678-1234-567812345678')"
    assert quote(date(2024, 2, 29)) == "toDate('2024-02-29')"


def test_datetimes_are_rendered_in_utc() -> None:
    aware = datetime(2024, 5, 1, 17, 0, 5, 999, tzinfo=timezone(timedelta(hours=5)))
    assert quote(aware) == "toDateTime('2024-05-01 12:00:05', 'UTC')"
    assert quote(datetime(2024, 5, 1, 12, 0)) == "toDateTime('2024-05-01 12:00:00', 'UTC')"


def test_collections() -> None:
    assert quote(["a'", 1, None]) == "['a\\'', 1, NULL]"
    assert quote(("x", "y")) == "tuple('x', 'y')"
    assert quote(("x",)) == "tuple('x')"
    assert quote({"b", "a"}) == "tuple('a', 'b')"
    with pytest.raises(ValueError, match="empty"):
        quote(())


def test_unsupported_type_is_refused() -> None:
    with pytest.raises(TypeError, match="object"):
        quote(object())


def test_render_placeholders() -> None:
    assert render("SELECT 100%", None) == "SELECT 100%"  # no params: no % processing
    assert render("SELECT %(a)s, '100%%'", {"a": 1}) == "SELECT 1, '100%'"
    with pytest.raises(KeyError):
        render("SELECT %(missing)s", {"a": 1})


@pytest.mark.parametrize("name", ["blo", "t_0a1b", "_x"])
def test_identifiers_ok(name: str) -> None:
    assert check_identifier(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "a.b", "a b", "a;drop", "a`", "ü"])
def test_identifiers_refused(name: str) -> None:
    with pytest.raises(ValueError):
        check_identifier(name)
