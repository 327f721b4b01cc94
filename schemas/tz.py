"""Time zone data: the pinned ``tzdata`` package, never the operating system's database.

Calendar windows and station-local dates depend on zone rules, and those change (Asia/Almaty
moved from UTC+6 to UTC+5 on 2024-03-01). Results must not depend on which Debian or
container image a worker runs on, so every module that computes with zones imports this one
first: it points :mod:`zoneinfo` at the ``tzdata`` package only (its exact version is pinned
in pyproject.toml; ``IANA_VERSION`` names the release). Zones are looked up by name through
:func:`zone`.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

import tzdata

IANA_VERSION: str = tzdata.IANA_VERSION

if zoneinfo.TZPATH:  # once per process; ZoneInfo then reads the tzdata package only
    zoneinfo.reset_tzpath(to=())


@lru_cache(maxsize=1024)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone ``name`` from the pinned data (raises ``ZoneInfoNotFoundError``)."""
    return zoneinfo.ZoneInfo(name)
