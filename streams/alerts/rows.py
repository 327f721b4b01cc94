"""Alerts as rows: one :class:`Alert` is one version of an alert, i.e. one ``alerts`` row.

Rows are :class:`schemas.rows.AlertRow` (the column order of ``alerts``). Inside
the core, times are whole epoch seconds (``0``: not applicable / not yet); rows carry aware
UTC datetimes, truncated to the second as ``DateTime('UTC')`` stores them, so a row read
back from ClickHouse equals the row written.

Identity: ``alert_id = uuid5(ALERT_NAMESPACE, f"{rule_id}|{scope_key}|{instant}")`` where
``instant`` is the opening window's start (its local date for calendar windows), or the
event-time instant that opened the alert (silence: the last event before it; gap: the
first number after it; paired: the start of the span bucket). Nothing else — no clock, no
randomness — so a replay of the same input yields the same ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid5

import orjson

from schemas.rows import AlertRow

ALERT_NAMESPACE = UUID("ea5cbb95-d5c3-5fd4-90d0-d75c3207094f")
"""Namespace of alert ids (= uuid5(NAMESPACE_URL, 'urn:blo-stream:alert')). Fixed."""

State = Literal["firing", "resolved"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def alert_id(rule_id: str, scope_key: str, instant: str) -> UUID:
    return uuid5(ALERT_NAMESPACE, f"{rule_id}|{scope_key}|{instant}")


def whole(t: float) -> int:
    """Epoch seconds → whole seconds (floor), as ``DateTime`` keeps them."""
    return int(t // 1)


def utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC) if t else _EPOCH


def epoch(v: object) -> int:
    """A row's time back to whole epoch seconds (clickhouse-driver may give naive UTC)."""
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        return whole(v.timestamp())
    if isinstance(v, int | float):
        return whole(v)
    raise TypeError(f"not a time: {v!r}")


def rfc3339(t: int) -> str:
    """``2024-05-01T10:00:00Z``; '' for 0."""
    return utc(t).strftime("%Y-%m-%dT%H:%M:%SZ") if t else ""


@dataclass(frozen=True)
class Alert:
    """One version of one alert (an ``alerts`` row). Times: whole epoch seconds, 0 = none."""

    alert_id: UUID
    version: int
    rule_id: str
    rule_name: str
    kind: str
    severity: str
    state: State
    scope: str  # station | country | border | all | pair
    scope_key: str
    station_id: str  # '' unless the alert is about one station
    window_kind: str  # '' for rules not over windows
    window_start: int
    window_end: int
    value: float
    threshold: float
    provisional: bool
    message: str
    labels: tuple[str, ...]  # 'k=v', sorted
    fired_at: int
    resolved_at: int
    acked: bool
    acked_by: str
    acked_at: int
    ack_comment: str
    updated_at: int
    messages: tuple[tuple[str, str], ...] = ()
    """``(language, message)`` sorted, every language of the rule's templates (English is
    ``message`` too); stored as the JSON object of the ``messages`` column."""
    rule_names: tuple[tuple[str, str], ...] = ()
    """``(language, name)`` sorted: the rule's name per language (English is ``rule_name``
    too); stored in the ``messages`` column under ``rule_name`` (:func:`messages_json`)."""

    @property
    def is_open(self) -> bool:
        return self.state == "firing"

    def next_version(self, **changes: object) -> Alert:
        return dataclasses.replace(self, version=self.version + 1, **changes)  # type: ignore[arg-type]

    def row(self) -> AlertRow:
        return AlertRow(
            self.alert_id, self.version, self.rule_id, self.rule_name, self.kind,
            self.severity, self.state, self.scope, self.scope_key, self.station_id,
            self.window_kind, utc(self.window_start), utc(self.window_end),
            float(self.value), float(self.threshold), int(self.provisional), self.message,
            list(self.labels), utc(self.fired_at), utc(self.resolved_at), int(self.acked),
            self.acked_by, utc(self.acked_at), self.ack_comment, utc(self.updated_at),
            messages_json(self.messages_by_language, dict(self.rule_names)),
        )

    @property
    def messages_by_language(self) -> dict[str, str]:
        """``{"en": ..., "ru": ...}``: every rendered language; at least English (the
        ``message``), also for alerts stored before messages had languages."""
        return {"en": self.message, **dict(self.messages)}

    @property
    def rule_names_by_language(self) -> dict[str, str]:
        """``{"en": ..., "ru": ...}``: the rule's name per language; at least English (the
        ``rule_name``), also for alerts stored before names had languages."""
        return {"en": self.rule_name, **dict(self.rule_names)}

    def message_in(self, language: str) -> str:
        """The message in ``language``, else in English."""
        return self.messages_by_language.get(language) or self.message

    @classmethod
    def from_row(cls, values: Sequence[Any]) -> Alert:
        """An ``alerts`` row (all columns, table order, as ``SELECT * … FINAL`` returns it)."""
        n = len(AlertRow._fields)
        if len(values) == n - 1:  # read without messages (before migration 10)
            values = (*values, "")
        if len(values) != n:
            raise ValueError(f"an alerts row has {n} columns, not {len(values)}")
        v = AlertRow._make(values)
        state = str(v.state)
        if state not in ("firing", "resolved"):
            raise ValueError(f"alerts row {v.alert_id}: unknown state {state!r}")
        aid = v.alert_id
        return cls(
            alert_id=aid if isinstance(aid, UUID) else UUID(str(aid)),
            version=int(v.version), rule_id=str(v.rule_id),
            rule_name=str(v.rule_name), kind=str(v.kind), severity=str(v.severity),
            state="firing" if state == "firing" else "resolved",
            scope=str(v.scope), scope_key=str(v.scope_key),
            station_id=str(v.station_id), window_kind=str(v.window_kind),
            window_start=epoch(v.window_start), window_end=epoch(v.window_end),
            value=float(v.value), threshold=float(v.threshold),
            provisional=bool(v.provisional), message=str(v.message),
            labels=tuple(str(x) for x in v.labels), fired_at=epoch(v.fired_at),
            resolved_at=epoch(v.resolved_at), acked=bool(v.acked),
            acked_by=str(v.acked_by), acked_at=epoch(v.acked_at),
            ack_comment=str(v.ack_comment), updated_at=epoch(v.updated_at),
            messages=tuple(sorted(parse_messages(v.messages).items())),
            rule_names=tuple(sorted(parse_rule_names(v.messages).items())),
        )


RULE_NAME_KEY = "rule_name"
"""The key of the ``messages`` column holding the rule's names per language (an object;
every other key is a language and its message, a string)."""


def messages_json(messages: Mapping[str, str],
                  rule_names: Mapping[str, str] | None = None) -> str:
    """The ``messages`` column: a JSON object, keys sorted (``{"en": ..., "ru": ...}``),
    with the rule's names per language under ``rule_name`` when given
    (``{"en": ..., "ru": ..., "rule_name": {"en": ..., "ru": ...}}``)."""
    data: dict[str, object] = dict(messages)
    if rule_names:
        data[RULE_NAME_KEY] = dict(rule_names)
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


def _column_object(text: object) -> dict[str, object]:
    try:
        data = orjson.loads(str(text or "{}"))
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def parse_messages(text: object) -> dict[str, str]:
    """The ``messages`` column back to ``{language: message}``; ``{}`` when empty or not a
    JSON object of strings (a row written before migration 10 holds ''). The rule's names
    (an object) are not messages: :func:`parse_rule_names`."""
    return {str(k): v for k, v in _column_object(text).items() if isinstance(v, str)}


def parse_rule_names(text: object) -> dict[str, str]:
    """The rule's names per language from the ``messages`` column; ``{}`` for rows written
    before names had languages."""
    names = _column_object(text).get(RULE_NAME_KEY)
    if not isinstance(names, dict):
        return {}
    return {str(k): v for k, v in names.items() if isinstance(v, str)}


def series_key(kind: str, scope_key: str, window_start: int) -> str:
    """What "one open alert per (rule, key)" counts: the scope key, and for paired rules
    also the span bucket (one alert per pair and bucket)."""
    return f"{scope_key}@{window_start}" if kind == "paired" else scope_key


def labels_of(labels: dict[str, str]) -> tuple[str, ...]:
    return tuple(sorted(f"{k}={v}" for k, v in labels.items()))
