"""Corrections as a station sends them, built from the event they correct (plain dicts, as
``tests.unit.schemas.factories.make_event`` gives them): ``revision(of, rev, ...)``,
``void(of, rev, ...)``, and ``eid(obj)``, the id they share. For the ingest and stage tests
of corrections (docs/corrections.md)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

VOID_KEEPS = ("event_id", "schema_version", "station_id", "occurred_at", "reported_at",
              "source_seq")
"""What a void keeps of the event it withdraws."""


def revision(of: dict[str, Any], rev: int, reason: str = "miscounted",
             **changes: Any) -> dict[str, Any]:
    """``of`` sent again whole as revision ``rev``, with ``changes``."""
    return {**of, "revision": rev, "correction_reason": reason, **changes}


def void(of: dict[str, Any], rev: int, reason: str = "entered twice") -> dict[str, Any]:
    """A void of ``of`` at revision ``rev``."""
    return {**{k: of[k] for k in VOID_KEEPS}, "event_type": "void", "revision": rev,
            "correction_reason": reason}


def eid(obj: dict[str, Any]) -> UUID:
    return UUID(obj["event_id"])
