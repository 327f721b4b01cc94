"""The hot-path entry: one decoded JSON value in, one validated event or a rejection out.

:func:`parse_event` checks ``event_type`` and ``schema_version`` first (so each gets its own
dead-letter reason), then validates with the model of that type, then the clock. It never
raises anything but :class:`EventRejected` for bad input. It holds no state.

Events carry no names or other personal data, and the schemas have no field one could go
into; such data arrives as fields the schema does not have. A rejection lists where they are
(:attr:`EventRejected.withheld`) so that whoever keeps the rejected input (the dead letters)
can drop their values, and no message ever echoes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from schemas.events import EVENT_MODELS, SCHEMA_VERSION, Event

SUPPORTED_SCHEMA_VERSIONS: frozenset[int] = frozenset({SCHEMA_VERSION})
EVENT_TYPES: frozenset[str] = frozenset(EVENT_MODELS)

# Each model's compiled validator, called directly: model_validate adds ~0.5 us per call.
_VALIDATE: Mapping[str, Callable[[object], Event]] = MappingProxyType(
    {name: model.__pydantic_validator__.validate_python for name, model in EVENT_MODELS.items()}
)

# The union and the batch of it, validated straight from a record's bytes (parse_valid_json).
_ONE_FROM_JSON: Callable[[bytes], Event] = TypeAdapter(Event).validator.validate_json
_MANY_FROM_JSON: Callable[[bytes], list[Event]] = \
    TypeAdapter(list[Event]).validator.validate_json

NOT_AN_EVENT = "not_an_event"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
INVALID = "invalid"
FUTURE_EVENT = "future_event"

_TYPE_LIST = ", ".join(sorted(EVENT_TYPES))
_VERSION_LIST = ", ".join(str(v) for v in sorted(SUPPORTED_SCHEMA_VERSIONS))
_SHOWN_INPUT_CHARS = 60
# every field name any event type has: before validation (an unknown event type or schema
# version) the other top-level fields are the ones withheld
_ALL_FIELDS: frozenset[str] = frozenset(f for m in EVENT_MODELS.values() for f in m.model_fields)

Path = tuple[str | int, ...]
"""Where a value sits in a decoded JSON value: keys and array indexes."""
KEY = "[key]"
"""Last part of a withheld path that names a mapping key, not its value (pydantic's own
marker of an invalid key): e.g. a person's name used as an ``age_bands`` key."""

_JSON_TYPE_NAMES: Mapping[type, str] = MappingProxyType(
    {
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        type(None): "null",
    }
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an event was rejected: a dead-letter reason ``code``, the dotted ``field``
    it concerns ('' for the whole event) and a ``message`` for the station developer."""

    code: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.code}: {where}{self.message}"


class EventRejected(Exception):
    """The input is not a valid event; ``reasons`` lists every problem found (at least one).

    ``withheld``: the paths (in the decoded input) of values that must not be stored: those
    of fields the event's schema does not have, at any depth, where names or other personal
    data would be. Their field names are in ``reasons``; their values never are."""

    def __init__(self, reasons: tuple[Problem, ...], withheld: tuple[Path, ...] = ()) -> None:
        super().__init__(reasons, withheld)  # args: picklable as is
        self.reasons = reasons
        self.withheld = withheld

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.reasons)

    @property
    def code(self) -> str:
        """The primary dead-letter reason (that of the first problem)."""
        return self.reasons[0].code

    @property
    def codes(self) -> tuple[str, ...]:
        """Every distinct reason code, in order of first appearance."""
        return tuple(dict.fromkeys(p.code for p in self.reasons))

    def details(self) -> str:
        """Human-readable, one line per problem."""
        return "\n".join(str(p) for p in self.reasons)


def _reject(code: str, field: str, message: str, withheld: tuple[Path, ...] = ()
            ) -> EventRejected:
    return EventRejected((Problem(code, field, message),), withheld)


def _unknown_top_level(obj: dict[str, object], known: Iterable[str]) -> tuple[Path, ...]:
    names = set(known)
    return tuple((k,) for k in obj if k not in names)


def _shown(value: object) -> str:
    if isinstance(value, dict | list):  # its content may be exactly what is withheld
        return "an object" if isinstance(value, dict) else "an array"
    text = repr(value)
    if len(text) > _SHOWN_INPUT_CHARS:
        text = text[: _SHOWN_INPUT_CHARS - 3] + "..."
    return text


def _withheld(errors: list[ErrorDetails]) -> tuple[Path, ...]:
    return tuple(tuple(e["loc"]) for e in errors
                 if e["type"] == "extra_forbidden" or e["loc"][-1:] == (KEY,))


def _field(loc: Path, withheld: tuple[Path, ...]) -> tuple[str, bool]:
    """Dotted ``loc``, every withheld mapping key in it shown as ``[key]``; and whether it
    went through one (then the input is not echoed either)."""
    parts = [str(p) for p in loc]
    hidden = False
    for w in withheld:
        n = len(w) - 2  # where the key sits
        if w[-1:] == (KEY,) and tuple(loc[: n + 1]) == w[: n + 1]:
            parts[n], hidden = KEY, True
    if loc[-1:] == (KEY,):
        parts.pop()  # pydantic's marker after the key itself
    return ".".join(parts), hidden


def _problem(err: ErrorDetails, event_type: str, withheld: tuple[Path, ...]) -> Problem:
    field, hidden = _field(tuple(err["loc"]), withheld)
    kind = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    if kind == "rule":
        return Problem(INVALID, str(ctx.get("field", field)), err["msg"])
    if kind == "missing":
        return Problem(INVALID, field, "required field is missing")
    if kind == "extra_forbidden":
        # Never echo the value: it may be exactly the personal data we refuse to store.
        message = f"unknown field; {event_type} events (schema_version 1) do not have it"
        if event_type == "detention":
            message += " (detentions are counts only: never names or other personal data)"
        return Problem(INVALID, field, message)
    if hidden:  # a mapping key that is input, perhaps a name: neither it nor its value shown
        return Problem(INVALID, field, f"{err['msg']} (a key that is not allowed)")
    return Problem(INVALID, field, f"{err['msg']} (got {_shown(err['input'])})")


def parse_event(obj: object, *, now: datetime, max_future_skew: timedelta) -> Event:
    """Validate one decoded JSON value as an event.

    ``now`` (timezone-aware) and ``max_future_skew`` bound ``occurred_at``: an event more than
    the skew in the future is rejected as ``future_event``. Raises :class:`EventRejected`
    with the codes ``not_an_event``, ``unknown_event_type``, ``unknown_schema_version``,
    ``invalid`` (one problem per field error) or ``future_event``.
    """
    if now.tzinfo is None:
        raise ValueError("parse_event: now must be timezone-aware")
    if not isinstance(obj, dict):
        got = _JSON_TYPE_NAMES.get(type(obj), type(obj).__name__)
        raise _reject(NOT_AN_EVENT, "", f"an event is a JSON object; got {got}")
    event_type = obj.get("event_type")
    if not isinstance(event_type, str) or (validate := _VALIDATE.get(event_type)) is None:
        if event_type is None:
            message = f"event_type is missing; expected one of: {_TYPE_LIST}"
        else:
            message = f"unknown event_type {_shown(event_type)}; expected one of: {_TYPE_LIST}"
        raise _reject(UNKNOWN_EVENT_TYPE, "event_type", message,
                      _unknown_top_level(obj, _ALL_FIELDS))
    version = obj.get("schema_version")
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        if version is None:
            message = f"schema_version is missing; supported: {_VERSION_LIST}"
        else:
            message = f"unsupported schema_version {_shown(version)}; supported: {_VERSION_LIST}"
        raise _reject(UNKNOWN_SCHEMA_VERSION, "schema_version", message,
                      _unknown_top_level(obj, EVENT_MODELS[event_type].model_fields))
    try:
        event = validate(obj)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        withheld = _withheld(errors)
        raise EventRejected(
            tuple(_problem(err, event_type, withheld) for err in errors), withheld
        ) from None
    if event.occurred_at > now + max_future_skew:
        raise _reject(
            FUTURE_EVENT,
            "occurred_at",
            f"occurred_at {event.occurred_at.isoformat()} is more than "
            f"{max_future_skew.total_seconds():g} s ahead of the receiver's clock "
            f"({now.isoformat()}); check the station clock",
        )
    return event


def parse_valid_json(value: bytes, *, now: datetime, max_future_skew: timedelta
                     ) -> list[Event] | None:
    """Every event of a record (one event object, or a non-empty array of them) validated
    straight from its JSON bytes, when *all* of them are valid; ``None`` otherwise.

    The fast path of a clean record: pydantic-core parses and validates in one pass, without
    the decoded dicts in between (about 2.5 µs an event less than decoding and then
    :func:`parse_event` on each element). ``None`` says only "not all valid": the caller
    then judges the record element by element (decode, then :func:`parse_event`), which
    alone gives the reasons. So an error costs a record its fast path, never its verdicts.

    What this accepts, :func:`parse_event` accepts, as equal events (a test checks it on
    mutations of every field): the models read JSON as they read its decoded value
    (:class:`schemas.fields.JsonInt`, the JSON side of :data:`schemas.fields.Timestamp`);
    a value orjson refuses but pydantic's parser reads (``NaN``, ``Infinity``, ``1e400``)
    is a non-finite float, which no field takes (``allow_inf_nan=False``); an integer
    beyond 64 bits is out of every integer field's bounds, and in a float field is the same
    float either way. Only a record beginning with ``{`` or ``[`` is tried (leading white
    space takes the element-wise path)."""
    if now.tzinfo is None:
        raise ValueError("parse_valid_json: now must be timezone-aware")
    first = value[:1]
    try:
        if first == b"{":
            events = [_ONE_FROM_JSON(value)]
        elif first == b"[":
            events = _MANY_FROM_JSON(value)
        else:
            return None
    except ValidationError:
        return None
    if not events:
        return None
    limit = now + max_future_skew
    for event in events:
        if event.occurred_at > limit:
            return None
    return events
