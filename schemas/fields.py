"""Field types shared by the event and station models.

Models validate in strict mode (no ``"5"`` for an integer, no ``true`` for a count); the
types here relax exactly what JSON cannot express natively:

* :data:`Timestamp` takes an RFC 3339 string *with* a UTC offset (or an aware ``datetime``
  from Python callers). Naive times, dates, and numbers are rejected.
* UUIDs (:data:`Uuid`) and vocabulary values (:data:`Lax`) are accepted as strings.
* Sequences are accepted as JSON arrays and stored as tuples.

All checks run inside pydantic-core except the country-code lookup.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from schemas.countries import is_country

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

STATION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$"
RFC3339_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
TIMESTAMP_ERROR = (
    "Input should be an RFC 3339 date-time with a UTC offset, "
    "e.g. '2024-05-01T08:30:00+05:00' or '2024-05-01T03:30:00Z'"
)

Lax = Strict(False)
"""Marker: accept the JSON form (a string) for an enum/UUID/tuple field of a strict model."""


class _Rfc3339:
    """Core schema of :data:`Timestamp`: an aware datetime, or an RFC 3339 string with an
    offset parsed into one. One custom error for every bad form.

    JSON input (``validate_json``) takes the string form only: pydantic's strict datetime
    reads any ISO 8601 text from JSON (``2024-05-01T03:30Z``, nanoseconds, ``+0500``), which
    the pattern refuses, so JSON bytes and their decoded value are judged alike."""

    json_pattern_only = True

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from_text = core_schema.chain_schema(
            [
                core_schema.str_schema(strict=True, pattern=RFC3339_PATTERN),
                core_schema.datetime_schema(strict=False, tz_constraint="aware"),
            ]
        )
        either = core_schema.union_schema(
            [core_schema.datetime_schema(strict=True, tz_constraint="aware"), from_text],
            mode="left_to_right",
        )
        return core_schema.json_or_python_schema(
            json_schema=_timestamp_error(from_text if cls.json_pattern_only else either),
            python_schema=_timestamp_error(either),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}


def _timestamp_error(schema: core_schema.CoreSchema) -> core_schema.CoreSchema:
    return core_schema.custom_error_schema(
        schema, custom_error_type="timestamp", custom_error_message=TIMESTAMP_ERROR
    )


class JsonInt:
    """Marker for an integer ``Literal``: JSON input must write it as an integer.

    pydantic's literal validator takes ``1.0`` and ``true`` for ``1`` from JSON bytes (not
    from their decoded value, in a strict model), so JSON input is first checked as a strict
    integer; Python input and the JSON Schema are the literal's own."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        literal = handler(source)
        return core_schema.json_or_python_schema(
            json_schema=core_schema.chain_schema([core_schema.int_schema(strict=True), literal]),
            python_schema=literal,
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if schema["type"] == "json-or-python":
            return handler(schema["python_schema"])
        return handler(schema)


def _check_country(code: str) -> str:
    if not is_country(code):
        raise PydanticCustomError(
            "country_code",
            "Input should be an upper-case ISO 3166-1 alpha-2 country code, e.g. 'TJ'",
        )
    return code


def _check_nationality(code: str) -> str:
    return code if code == "XX" else _check_country(code)


class _Rfc3339AnyIsoFromJson(_Rfc3339):
    """:class:`_Rfc3339` whose JSON side also takes what pydantic's strict datetime reads
    from JSON (any ISO 8601 form with an offset), as every timestamp did before events got
    their fast path: for records already kept that were read that way."""

    json_pattern_only = False


Timestamp = Annotated[datetime, _Rfc3339]
"""Timezone-aware instant; on the wire an RFC 3339 string with offset."""

RegistryTimestamp = Annotated[datetime, _Rfc3339AnyIsoFromJson]
"""A station record's :data:`Timestamp`. Read from JSON (the registry topic, the station
importer) it also takes the other ISO 8601 forms pydantic reads there (``+0500``, no
seconds, nanoseconds), as before: the registry topic is compacted and kept for good, and a
record written so once must keep registering its station. Python input is as strict as
:data:`Timestamp`'s."""

Uuid = Annotated[UUID, Lax]
"""UUID; on the wire its canonical string."""

StationId = Annotated[str, StringConstraints(pattern=STATION_ID_PATTERN)]
"""Station identifier: 2-64 characters, letters, digits, '_', '.', '-', starting with a
letter or digit."""

_COUNTRY_SCHEMA = {"type": "string", "pattern": "^[A-Z]{2}$"}

CountryCode = Annotated[str, AfterValidator(_check_country), WithJsonSchema(_COUNTRY_SCHEMA)]
"""ISO 3166-1 alpha-2 country code, upper case."""

NationalityCode = Annotated[
    str, AfterValidator(_check_nationality), WithJsonSchema(_COUNTRY_SCHEMA)
]
"""ISO 3166-1 alpha-2 code, or 'XX' for stateless / nationality unknown."""

Count = Annotated[int, Field(ge=0, le=UINT32_MAX)]
"""Non-negative integer count."""

PositiveCount = Annotated[int, Field(ge=1, le=UINT32_MAX)]
"""Integer count of at least one."""

SequenceNumber = Annotated[int, Field(ge=0, le=UINT64_MAX)]
"""Non-negative 64-bit counter."""

Revision = Annotated[int, Field(ge=1, le=UINT32_MAX)]
"""Correction number of an event: 1, 2, ... (the original has none)."""

Amount = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""Non-negative finite number (integers accepted)."""

Label = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
]
"""Short single-line text, 1-128 characters, no control characters."""
