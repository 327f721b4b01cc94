"""Shared helpers of the importer tests (a plain module: the suite runs with --noconftest).

``SHARED_DATA`` is ``$BLO_SHARED_DATA``, else ``../shared/data`` beside the repository root
(``/work/shared/data`` here; CI checks ``shared/`` out at the same relative place).
Oracles in the tests read the CSVs with pandas / the csv module, never with the importer.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blo.importer import ImportItem, Mapped, Rejected, iter_import, load_mapping

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DATA = Path(os.environ.get("BLO_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

BTS_2018 = SHARED_DATA / "bts_border_crossing_2018.csv"
SAN_YSIDRO = SHARED_DATA / "bts_san_ysidro_1996_2021.csv"
PORTS_COORDS = SHARED_DATA / "bts_ports_with_coords_2020_21_noheader.csv"
CBP = SHARED_DATA / "cbp_drug_seizures_fy22_25.csv"

Items = list[ImportItem]

REPORTED_AT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def event_id_fn() -> Callable[[str, int], object]:
    """The project's derive_event_id; a same-recipe stand-in while schemas/ is absent."""
    try:
        from schemas.identity import derive_event_id
    except ImportError:  # pragma: no cover - only before schemas/ lands
        namespace = uuid.UUID("b23895f8-abd5-5db4-8539-8bc90c749aa3")
        return lambda station_id, seq: uuid.uuid5(namespace, f"{station_id}:{seq}")
    return derive_event_id


def run(csv_path: Path, mapping: str, **kwargs: object) -> list[ImportItem]:
    reported_at = kwargs.pop("reported_at", REPORTED_AT)
    assert isinstance(reported_at, datetime)
    return list(
        iter_import(csv_path, load_mapping(mapping), reported_at=reported_at,
                    event_id=event_id_fn(), **kwargs)  # type: ignore[arg-type]
    )


def mapped(items: list[ImportItem]) -> list[Mapped]:
    return [i for i in items if isinstance(i, Mapped)]


def rejected(items: list[ImportItem]) -> list[Rejected]:
    return [i for i in items if isinstance(i, Rejected)]


def require(path: Path) -> Path:
    assert path.is_file(), (
        f"{path} is missing: set BLO_SHARED_DATA to the folder holding the shared CSVs"
    )
    return path


BASE: dict[str, Any] = {
    "name": "t",
    "csv": {"header": True, "columns": ["Port", "Date", "Measure", "Value"]},
    "event": {"type": "count_report"},
    "fields": {"station_id": "X-{Port}", "measure": "{Measure}", "value": "{Value}",
               "unit": "count"},
    "time": {"date": "{Date}", "formats": ["%Y-%m-%d"], "period": "month",
             "default_tz": "UTC"},
    "source_seq": {"parts": [{"field": "measure", "digits": 1, "codes": {"a": 1, "b": 2}}]},
}


def make_mapping(**changes: Any) -> dict[str, Any]:
    """BASE with dotted-path overrides: make_mapping(**{"time.period": "day"})."""
    doc = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return doc


def schema_problems(items: list[ImportItem]) -> list[str]:
    """Events and station records that schemas/ refuses (the pipeline's own validation)."""
    from datetime import timedelta

    from pydantic import ValidationError

    from schemas.parse import EventRejected, parse_event
    from schemas.station import StationRecord

    now = datetime.now(UTC)
    out: list[str] = []
    for item in items:
        if not isinstance(item, Mapped):
            continue
        for event in item.events:
            try:
                parse_event(event, now=now, max_future_skew=timedelta(minutes=5))
            except EventRejected as exc:
                out.append(f"line {item.line_no}: event: {exc}")
        if item.station is not None:
            try:
                StationRecord.model_validate(item.station)
            except ValidationError as exc:
                fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
                out.append(f"station {item.station['station_id']}: {', '.join(fields)}")
    return out
