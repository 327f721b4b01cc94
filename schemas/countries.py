"""Country codes and land borders.

Codes are ISO 3166-1 alpha-2, upper case (``pycountry``). The land-border table is complete
for the five Central Asian countries (GeoNames neighbours; Caspian shores are not land
borders) and says nothing about borders elsewhere.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

import pycountry

CENTRAL_ASIA: frozenset[str] = frozenset({"KZ", "KG", "TJ", "TM", "UZ"})
"""The five countries whose land borders :data:`CENTRAL_ASIA_NEIGHBOURS` lists completely."""

CENTRAL_ASIA_NEIGHBOURS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "KZ": frozenset({"CN", "KG", "RU", "TM", "UZ"}),
        "KG": frozenset({"CN", "KZ", "TJ", "UZ"}),
        "TJ": frozenset({"AF", "CN", "KG", "UZ"}),
        "TM": frozenset({"AF", "IR", "KZ", "UZ"}),
        "UZ": frozenset({"AF", "KG", "KZ", "TJ", "TM"}),
    }
)
"""Land neighbours of each Central Asian country."""


def border_of(a: str, b: str) -> str:
    """The border between two countries as their sorted codes joined by '-': ``'AF-TJ'``."""
    return f"{a}-{b}" if a <= b else f"{b}-{a}"


LAND_BORDERS: frozenset[str] = frozenset(
    border_of(country, other)
    for country, others in CENTRAL_ASIA_NEIGHBOURS.items()
    for other in others
)
"""Every land border touching Central Asia, as :func:`border_of` strings."""


@functools.cache
def iso_alpha2_codes() -> frozenset[str]:
    """All ISO 3166-1 alpha-2 codes known to ``pycountry`` (built once, on first use)."""
    return frozenset(c.alpha_2 for c in pycountry.countries)


def is_country(code: str) -> bool:
    """True for an upper-case ISO 3166-1 alpha-2 code of an existing country."""
    return code in iso_alpha2_codes()


def in_border_table(code: str) -> bool:
    """True when the land borders of ``code`` are fully known here (Central Asia)."""
    return code in CENTRAL_ASIA


def are_neighbours(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` share a land border in the table (symmetric).

    False for pairs the table does not cover (neither country in Central Asia).
    """
    return a != b and border_of(a, b) in LAND_BORDERS


def same_or_neighbouring(a: str, b: str) -> bool:
    """True for the same country or two land neighbours: who may exchange liaison messages."""
    return a == b or are_neighbours(a, b)
