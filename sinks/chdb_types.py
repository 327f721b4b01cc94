"""Python values ⇄ chDB, per ClickHouse column type.

Inserts: row tuples → a ``pyarrow.Table`` typed from the target columns' ClickHouse types
(UUIDs as strings, ``DateTime`` as ``timestamp[us, UTC]``, ``Array(T)`` as lists), sent to
chDB as one ArrowStream. Queries: chDB answers in ``JSONCompact`` (names, types, data) and
:func:`result_rows` turns each value back into what clickhouse-driver returns for the same
type (``uuid.UUID``, aware UTC ``datetime``, ``int``, ``list``...), so code reading a
``Database`` does not care which engine is behind it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa

from sinks.base import Row

Convert = Callable[[Any], Any]

_INTS: dict[str, pa.DataType] = {
    "Int8": pa.int8(), "Int16": pa.int16(), "Int32": pa.int32(), "Int64": pa.int64(),
    "UInt8": pa.uint8(), "UInt16": pa.uint16(), "UInt32": pa.uint32(), "UInt64": pa.uint64(),
}  # fmt: skip
_WRAPPERS = ("Nullable", "LowCardinality", "SimpleAggregateFunction")


def split_type(ch_type: str) -> tuple[str, list[str]]:
    """``"Nullable(DateTime('UTC'))"`` → ``("Nullable", ["DateTime('UTC')"])``."""
    ch_type = ch_type.strip()
    name, sep, rest = ch_type.partition("(")
    if not sep or not rest.endswith(")"):
        return ch_type, []
    args: list[str] = []
    depth, quoted, start = 0, False, 0
    body = rest[:-1]
    for i, ch in enumerate(body):
        if quoted:
            if ch == "'" and body[i - 1] != "\\":
                quoted = False
        elif ch == "'":
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(body[start:i].strip())
            start = i + 1
    args.append(body[start:].strip())
    return name.strip(), args


def _unwrap(ch_type: str) -> tuple[str, list[str]]:
    name, args = split_type(ch_type)
    while name in _WRAPPERS and args:
        name, args = split_type(args[-1])
    return name, args


# -- insert: rows → Arrow --------------------------------------------------------------
def arrow_type(ch_type: str) -> pa.DataType | None:
    """The Arrow type chDB reads into ``ch_type`` (None: let pyarrow infer)."""
    name, args = _unwrap(ch_type)
    if name in ("String", "FixedString", "Enum8", "Enum16", "UUID", "IPv4", "IPv6"):
        return pa.string()
    if name in _INTS:
        return _INTS[name]
    if name in ("Float32", "Float64"):
        return pa.float32() if name == "Float32" else pa.float64()
    if name in ("DateTime", "DateTime64"):
        return pa.timestamp("us", tz="UTC")
    if name in ("Date", "Date32"):
        return pa.date32()
    if name == "Bool":
        return pa.bool_()
    if name == "Decimal" and len(args) == 2:
        return pa.decimal128(int(args[0]), int(args[1]))
    if name == "Array" and args:
        inner = arrow_type(args[0])
        return pa.list_(inner) if inner is not None else None
    return None


def _prepare(ch_type: str, values: Sequence[Any]) -> Sequence[Any]:
    name, args = _unwrap(ch_type)
    if name == "UUID":
        return [None if v is None else str(v) for v in values]
    if name == "Array" and args and _unwrap(args[0])[0] == "UUID":
        return [None if v is None else [str(x) for x in v] for v in values]
    if name in _INTS and any(isinstance(v, bool) for v in values):
        return [None if v is None else int(v) for v in values]
    return values


def rows_to_arrow(columns: Sequence[tuple[str, str]], rows: Sequence[Row]) -> pa.Table:
    """Build a table from row tuples; ``columns`` are (name, ClickHouse type) in row order.

    Raises ``ValueError`` naming the column whose values do not fit its type.
    """
    try:
        by_column = list(zip(*rows, strict=True))
    except ValueError:
        by_column = []
    if len(by_column) != len(columns):
        raise ValueError(f"every row must have {len(columns)} values (one per column)")
    arrays = []
    for (name, ch_type), values in zip(columns, by_column, strict=True):
        typ = arrow_type(ch_type)
        try:
            arrays.append(pa.array(_prepare(ch_type, values), typ))
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as e:
            if typ == pa.string() and any(isinstance(v, bytes) for v in values):
                arrays.append(pa.array(values, pa.binary()))
                continue
            raise ValueError(f"column {name} ({ch_type}): {e}") from e
    return pa.Table.from_arrays(arrays, names=[n for n, _ in columns])


def arrow_stream_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


# -- query: JSONCompact → rows ---------------------------------------------------------
def _datetime(tz: str) -> Convert:
    zone = UTC if tz in ("", "UTC") else ZoneInfo(tz)

    def convert(v: Any) -> datetime:
        return datetime.fromisoformat(v).replace(tzinfo=zone)

    return convert


@lru_cache(maxsize=512)
def converter(ch_type: str) -> Convert:
    """A function turning one JSONCompact value of ``ch_type`` into the driver's Python type."""
    name, args = split_type(ch_type)
    if name in _WRAPPERS and args:
        inner = converter(args[-1])
        return lambda v: None if v is None else inner(v)
    if name == "Nothing":
        return lambda v: None
    if name == "UUID":
        return lambda v: None if v is None else uuid.UUID(v)
    if name in ("DateTime", "DateTime64"):
        tz_arg = [a for a in args if a.startswith("'")]
        return _datetime(tz_arg[0].strip("'") if tz_arg else "UTC")
    if name in ("Date", "Date32"):
        return date.fromisoformat
    if name in _INTS:
        return int
    if name in ("Float32", "Float64"):
        return lambda v: None if v is None else float(v)
    if name == "Decimal" or name.startswith("Decimal"):
        return lambda v: Decimal(str(v))
    if name == "Bool":
        return bool
    if name == "Array" and args:
        item = converter(args[0])
        return lambda v: [item(x) for x in v]
    if name == "Tuple" and args:
        items = [converter(a.split(" ", 1)[-1] if " " in a and "(" not in a else a) for a in args]
        return lambda v: tuple(f(x) for f, x in zip(items, v, strict=False))
    if name == "Map" and len(args) == 2:
        key, val = converter(args[0]), converter(args[1])
        return lambda v: {key(k): val(x) for k, x in v.items()}
    return lambda v: v


def result_rows(payload: bytes) -> list[Row]:
    """Rows of a chDB ``JSONCompact`` answer (empty payload → no rows)."""
    if not payload.strip():
        return []
    doc = orjson.loads(payload)
    convs = [converter(str(m["type"])) for m in doc.get("meta", [])]
    return [tuple(f(v) for f, v in zip(convs, row, strict=True)) for row in doc.get("data", [])]
