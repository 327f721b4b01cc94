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


_READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS)\b", re.IGNORECASE)
# what could reach outside the database from a SELECT: files, URLs, other servers, settings
_FORBIDDEN = re.compile(
    r"\bINTO\s+OUTFILE\b|\bSETTINGS\b|\bSYSTEM\b|"
    r"\b(file|url|remote|remoteSecure|s3|s3Cluster|gcs|azureBlobStorage|hdfs|mysql|postgresql|"
    r"mongodb|redis|sqlite|jdbc|odbc|executable|input|cluster|clusterAllReplicas|python|"
    r"deltaLake|iceberg|hudi|dictionary|view|merge)\s*\(",
    re.IGNORECASE,
)


def is_read_only(sql: str) -> bool:
    """One read statement on the database's own tables: no ';' chaining, no table functions
    that reach files, URLs or other servers, no INTO OUTFILE, no SETTINGS overrides."""
    body = sql.strip().rstrip(";")
    return bool(_READ_ONLY.match(body)) and ";" not in body and not _FORBIDDEN.search(body)
