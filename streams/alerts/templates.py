"""Message templates: the placeholders each rule kind offers, checking and rendering. Pure.

A rule's ``message`` is a :meth:`str.format` template over named placeholders only
(``"{station_id}: {value:.1f} kg seized"``). :func:`template_problems` is what the rules
loader runs: an unknown name, a positional or dotted field, or a format spec that does
not suit the placeholder's type is an error at load time, so :func:`render` never meets
one in the stream (it still falls back to the bare template rather than raise).

Numbers (``value``, ``threshold``, ...) are ints when integral, else floats, so ``{value}``
prints ``12`` rather than ``12.0``; ``{value:.1f}`` works on both. Times are RFC 3339
strings (``2024-05-01T10:00:00Z``), ``''`` when not applicable; ``window_label`` is the
local date (``2024-05-01``) or month of calendar windows, ``''`` otherwise.

Durations in seconds (``silence_s``, ``span_s``) are :class:`~streams.alerts.durations.Seconds`:
``{span_s}`` prints ``21600``, ``{span_s:duration}`` prints ``6 h`` (``30 min``, ``2 d``,
``1 h 30 min``), ``{span_s:duration_ru}`` in Russian (``6 ч``). The ``duration`` specs are
refused on any other placeholder.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from streams.alerts.durations import Seconds

_STR = "s"
_NUM = 1.5
_INT = 7
_SECONDS = Seconds(5400)

COMMON: dict[str, object] = {
    "rule_id": _STR, "rule_name": _STR, "severity": _STR, "kind": _STR, "state": _STR,
    "scope": _STR, "scope_key": _STR, "station_id": _STR, "country": _STR, "border": _STR,
    "window_kind": _STR, "window_start": _STR, "window_end": _STR, "window_label": _STR,
    "value": _NUM,
    "threshold": _NUM, "fired_at": _STR, "resolved_at": _STR,
}
"""Placeholders of every kind, with a sample value of their type (for checking specs)."""

BY_KIND: dict[str, dict[str, object]] = {
    "threshold": {"statistic": _STR, "op": _STR, "corrected": _INT},
    "baseline": {"statistic": _STR, "mean": _NUM, "stddev": _NUM, "k": _NUM,
                 "history_weeks": _INT, "corrected": _INT},
    "silence": {"last_event_at": _STR, "silence_s": _SECONDS},
    "sequence_gap": {"gap_from": _INT, "gap_to": _INT, "gap_size": _INT},
    "paired": {"station_a": _STR, "station_b": _STR, "span_s": _SECONDS},
}
"""Extra placeholders per rule kind."""


def placeholders(kind: str) -> dict[str, object]:
    """Every placeholder a rule of ``kind`` may use, with a sample value."""
    return {**COMMON, **BY_KIND.get(kind, {})}


def template_problems(template: str, kind: str) -> list[str]:
    """What is wrong with ``template`` for a rule of ``kind`` (empty: nothing)."""
    known = placeholders(kind)
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        return [f"not a valid template: {e}"]
    problems = []
    for name in fields:
        if not name.isidentifier():
            problems.append(f"placeholder {{{name}}}: only plain names are allowed")
        elif name not in known:
            problems.append(
                f"unknown placeholder {{{name}}}; known for {kind}: {', '.join(sorted(known))}")
    if problems:
        return problems
    try:
        template.format_map(known)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        return [f"not a valid template: {e}"]
    return []


def number(v: float) -> int | float:
    """``12.0`` → ``12``; other values unchanged (for readable messages)."""
    return int(v) if float(v).is_integer() else float(v)


def render(template: str, context: Mapping[str, object]) -> str:
    """The message; a template that still fails (never, once checked) is returned as is."""
    try:
        return template.format_map(context)
    except (ValueError, TypeError, KeyError, IndexError):
        return template
