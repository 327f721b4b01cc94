"""SQL text: the one place values become ClickHouse literals (and, as package data, the
migration files ``NNNN_name.sql`` of :mod:`sinks.migrations`).

Both engines get the same text: :func:`render` substitutes ``%(name)s`` placeholders with
:func:`quote` of the value (the convention of clickhouse-driver: with parameters,
a literal ``%`` is written ``%%``). Server-side ``{x:Type}`` parameters are not used
because ClickHouse 18.16 does not have them.

Only *query* parameters go through here. Insert data never becomes SQL text: it travels as
columnar blocks (server) or Arrow (chDB).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Every byte ClickHouse's lexer treats specially inside '...' (plus the quote itself).
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\0": "\\0",
    "\b": "\\b",
    "\f": "\\f",
    "\r": "\\r",
    "\n": "\\n",
    "\t": "\\t",
    "\a": "\\a",
    "\v": "\\v",
}
_NEEDS_ESCAPE = re.compile("[\\\\'\0\b\f\r\n\t\a\v]")


def check_identifier(name: str) -> str:
    """Return ``name`` if it is a plain identifier (database, table, column), else raise
    ``ValueError``. Identifiers are never quoted, so they must not need quoting."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a valid identifier (letters, digits, underscore)")
    return name


def quote_string(text: str) -> str:
    """``'...'`` with backslash escapes, safe for any Python string."""
    return "'" + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], text) + "'"


def _utc(value: datetime) -> datetime:
    # Naive datetimes are UTC by the project's convention (every column is DateTime('UTC')).
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def quote(value: Any) -> str:
    """A ClickHouse literal for ``value``.

    None → NULL; bool → 1/0; int; float (nan/inf too); str; bytes (each byte ``\\xHH``);
    datetime → ``toDateTime('…', 'UTC')`` (aware values converted to UTC, naive taken as
    UTC; whole seconds, like every DateTime column here); date; UUID → ``toUUID('…')``;
    Decimal; list → array; tuple/set/frozenset → ``tuple(…)`` (for ``x IN %(set)s``; it
    must not be empty: 18.16 has no empty IN set). Anything else raises ``TypeError``.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "'" + "".join(f"\\x{b:02X}" for b in bytes(value)) + "'"
    if isinstance(value, datetime):
        return f"toDateTime('{_utc(value).strftime('%Y-%m-%d %H:%M:%S')}', 'UTC')"
    if isinstance(value, date):
        return f"toDate('{value.isoformat()}')"
    if isinstance(value, uuid.UUID):
        return f"toUUID('{value}')"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"cannot render non-finite Decimal {value!r} as a literal")
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(quote(v) for v in value) + "]"
    if isinstance(value, tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        if not items:
            raise ValueError("an empty tuple/set has no ClickHouse literal (18.16)")
        return "tuple(" + ", ".join(quote(v) for v in items) + ")"
    raise TypeError(f"cannot render {type(value).__name__} as a ClickHouse literal")


def render(sql: str, params: Mapping[str, Any] | None) -> str:
    """Substitute ``%(name)s`` placeholders. Without params the SQL is returned unchanged
    (no ``%`` processing); with params, ``%%`` stands for ``%``. Unknown placeholders raise
    ``KeyError``."""
    if params is None:
        return sql
    return sql % {k: quote(v) for k, v in params.items()}


READ_ONLY_SETTINGS: dict[str, int] = {"readonly": 1, "max_execution_time": 120}
"""The settings a reader's own SQL runs with, on both engines. ``readonly=1`` is the
engine's own guard: no writes or DDL, no ``SET``/``SETTINGS`` changes (the setting itself
included), no table functions (``file``, ``url``, ``remote``, ``s3``, ...), whatever the
text looks like. ``max_execution_time`` bounds a runaway query (seconds)."""

_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"")
_CLIENT_SIDE = re.compile(r"\bINTO OUTFILE\b|\bFORMAT\b")


def client_side_clauses(canonical: str) -> list[str]:
    """``INTO OUTFILE`` / ``FORMAT`` clauses in ``canonical`` (a statement as ClickHouse's
    own formatter prints it: no comments, keywords upper case, one space between words).

    Embedded chDB executes these in the calling process, outside the read-only mode's
    reach (``INTO OUTFILE`` writes a file even with ``readonly=1``), so readers' SQL must
    not carry them. Quoted literals and identifiers are skipped."""
    bare = _QUOTED.sub("''", canonical)
    return sorted({m.group(0) for m in _CLIENT_SIDE.finditer(bare)})


_READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS)\b", re.IGNORECASE)
# what could reach outside the database from a SELECT: files, URLs, other servers, settings
_FORBIDDEN = re.compile(
    r"\bINTO\s+OUTFILE\b|\bSETTINGS\b|"
    r"\b(file|url|remote|remoteSecure|s3|s3Cluster|gcs|azureBlobStorage|hdfs|mysql|postgresql|"
    r"mongodb|redis|sqlite|jdbc|odbc|executable|input|cluster|clusterAllReplicas|python|"
    r"deltaLake|iceberg|hudi|dictionary|view|merge|fileCluster|urlCluster|loop)\s*\(",
    re.IGNORECASE,
)
# system tables a reader may look at (metadata of the database's own tables); the others can
# hold other sessions' query texts, server configuration or credentials
_SYSTEM_TABLE = re.compile(r"\bsystem\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
READER_SYSTEM_TABLES = frozenset({"one", "tables", "columns", "parts", "databases",
                                  "data_type_families", "functions", "table_engines"})
# literals and quoted identifiers (skipped), then the three comment forms (removed)
_LEXEMES = re.compile(
    r"\$([A-Za-z0-9_]*)\$.*?\$\1\$|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`\\]|\\.)*`"
    r"|/\*.*?(?:\*/|\Z)|--[^\n]*|#[^\n]*", re.DOTALL)


_SHOW = re.compile(r"^\s*SHOW\s+(TABLES|DATABASES|COLUMNS|CREATE\s+(TEMPORARY\s+)?TABLE)\b",
                   re.IGNORECASE)


MAX_READER_SQL_BYTES = 65536
MAX_READER_DEPTH = 128
"""Readers' statements are at most 64 KiB and nest brackets at most 128 deep, with at most
128 ``CASE`` and 128 ``INTERVAL`` expressions: ClickHouse 18.16 has no ``max_parser_depth``
and its server process dies (stack overflow in the parser) on 1,000 nested brackets or
``CASE``s, or 3,000 chained ``INTERVAL``s — measured; current servers refuse them."""


def _depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]":
            depth -= 1
    return deepest


def _visible(sql: str) -> str:
    """``sql`` as the checks should see it: comments become one space (so that
    ``INTO/**/OUTFILE`` reads ``INTO OUTFILE``), string literals become ``''``, quoted names
    lose their quotes (so that `` `system`.`processes` `` reads ``system.processes``)."""
    def one(m: re.Match[str]) -> str:
        t = m.group(0)
        if t[0] in "'$":  # a string literal, quoted or heredoc ($tag$ … $tag$)
            return "''"
        if t[0] in "\"`":
            return t[1:-1]
        return " "
    return _LEXEMES.sub(one, sql)


def is_read_only(sql: str) -> bool:
    """One read statement on the database's own tables: no ';' chaining, no table functions
    that reach files, URLs or other servers, no INTO OUTFILE, no SETTINGS overrides, no
    system tables but :data:`READER_SYSTEM_TABLES`, no NUL byte; comments are seen through.

    This is the friendly early message only: what actually stops a statement is the
    engine's read-only mode (:meth:`sinks.base.Database.read_only_query`)."""
    return read_only_problem(sql) is None


def read_only_problem(sql: str) -> str | None:
    """Why :func:`is_read_only` refuses ``sql`` (one sentence), or None."""
    if "\0" in sql:
        return "the statement contains a NUL byte"
    if len(sql.encode()) > MAX_READER_SQL_BYTES:
        return f"the statement is over {MAX_READER_SQL_BYTES // 1024} KiB"
    body = _visible(sql).strip().rstrip(";").strip()
    if _depth(body) > MAX_READER_DEPTH:
        return f"the statement nests brackets more than {MAX_READER_DEPTH} deep"
    for word in ("CASE", "INTERVAL"):  # nesting without brackets (18.16 dies on these too)
        if len(re.findall(rf"\b{word}\b", body, re.IGNORECASE)) > MAX_READER_DEPTH:
            return f"the statement has more than {MAX_READER_DEPTH} {word} expressions"
    if not _READ_ONLY.match(body):
        return "only SELECT, WITH, SHOW, DESCRIBE and EXISTS statements are allowed"
    if ";" in body:
        return "one statement only (no ';' between statements)"
    if body[:4].upper() == "SHOW" and not _SHOW.match(body):
        return "of the SHOW statements only SHOW TABLES/DATABASES/COLUMNS/CREATE TABLE"
    m = _FORBIDDEN.search(body)
    if m:
        return (f"{' '.join(m.group(0).split()).rstrip('(')} is not allowed here (no files, "
                "URLs, other servers, setting changes or output files from a reader)")
    for t in _SYSTEM_TABLE.findall(body):
        if t.lower() not in READER_SYSTEM_TABLES:
            return (f"system.{t} is not readable here (readers may see system."
                    f"{', system.'.join(sorted(READER_SYSTEM_TABLES))})")
    return None
