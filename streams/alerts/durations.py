"""Durations for people: ``21600`` seconds read as ``6 h``, and ``6h`` typed for 21600. Pure.

* :func:`human` — seconds as the largest unit and, when not zero, the next one: ``6 h``,
  ``30 min``, ``2 d``, ``1 h 30 min``, ``1 min 5 s``, ``45 s``, ``0 s`` (``2 d 0 h 3 min``
  is ``2 d``). Fractions of a second are rounded.
* :func:`parse` — ``90s``, ``30m``/``30min``, ``6h``, ``2d``, ``1w``, combinations
  (``1h30m``, ``1d 12h``) or plain seconds (``3600``) → seconds; :class:`ValueError` saying
  what is wrong otherwise.
* :class:`Seconds` — a number of seconds that prints as a number (``{span_s}`` →
  ``21600``) and as a duration with the format spec ``duration`` (``{span_s:duration}`` →
  ``6 h``): what message templates get for ``silence_s`` and ``span_s``.
"""

from __future__ import annotations

import re

UNITS: tuple[tuple[str, int], ...] = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
"""Units of :func:`human`, largest first."""
UNIT_NAMES: dict[str, tuple[str, ...]] = {"en": ("d", "h", "min", "s"),
                                          "ru": ("д", "ч", "мин", "с")}
"""The units' names per language (Russian abbreviations take no plural)."""

_PARSE_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(w|d|h|min|m|s)\s*", re.IGNORECASE)
DURATION_SPEC = "duration"
DURATION_SPECS = {DURATION_SPEC: "en", "duration_ru": "ru"}
"""Format specs of :class:`Seconds`: ``{x:duration}`` in English, ``{x:duration_ru}`` in
Russian (``6 ч``, ``30 мин``, ``2 д``)."""


def human(seconds: float, lang: str = "en") -> str:
    """``seconds`` as at most two adjacent units, largest first (module docstring); unit
    names in ``lang`` (:data:`UNIT_NAMES`: ``6 h``, ``6 ч``)."""
    left = round(abs(float(seconds)))
    counts = []
    for (_, size), name in zip(UNITS, UNIT_NAMES[lang], strict=True):
        n, left = divmod(left, size)
        counts.append((n, name))
    first = next((i for i, (n, _) in enumerate(counts) if n), len(counts) - 1)
    parts = [counts[first]]
    if first + 1 < len(counts) and counts[first + 1][0]:
        parts.append(counts[first + 1])
    sign = "-" if seconds < 0 and any(n for n, _ in parts) else ""
    return sign + " ".join(f"{n} {name}" for n, name in parts)


def parse(text: str) -> int:
    """Seconds of ``6h``, ``30m``, ``2d``, ``1h30m``, ``3600`` (module docstring)."""
    s = text.strip()
    if not s:
        raise ValueError("empty duration (e.g. 6h, 30m, 2d)")
    if s.isdigit():
        return int(s)
    pos, total = 0, 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            raise ValueError(f"{text!r} is not a duration (e.g. 6h, 30m, 2d, 1h30m)")
        total += float(m.group(1)) * _PARSE_UNITS[m.group(2).lower()]
        pos = m.end()
    return round(total)


class Seconds(float):
    """A number of seconds for message templates: ``{x}`` prints the number (``21600``,
    ``1.5``), ``{x:duration}`` the duration (``6 h``), any other spec formats the number
    (``{x:.1f}``)."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        lang = DURATION_SPECS.get(spec)
        if lang is not None:
            return human(self, lang)
        v = float(self)
        return format(int(v) if v.is_integer() else v, spec)

    def __str__(self) -> str:
        return self.__format__("")

    __repr__ = __str__
