"""Station records of an import, judged by the registry's own schema before anything is
published.

The importer derives station records from rows (:class:`blo.importer.records.Mapped`
``station``); the worker's registry accepts only what :class:`schemas.station.StationRecord`
accepts, so the same model decides here: an import with one record it refuses publishes
nothing (``blo import-csv`` lists each with its line and field). "Already registered" means
the same thing: a record on the stations topic that the schema refuses registers nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from blo.importer.records import StationRecordDict
from schemas.station import StationRecord, error_lines
from streams.registry_reader import INVALID_STATION_RECORD

# INVALID_STATION_RECORD: why an import was refused (and its rejected-row reason): a derived
# station record the registry's schema refuses. The worker dead-letters such a record found on
# the stations topic with the same reason.
__all__ = ["INVALID_STATION_RECORD"]


@dataclass(frozen=True, slots=True)
class StationProblem:
    """A derived station record the registry would refuse: where it came from and why."""

    line_no: int
    station_id: str
    problems: tuple[str, ...]  # one per field: "neighbour_country: Input should be ..."

    def describe(self) -> str:
        return f"line {self.line_no}: station {self.station_id}: {'; '.join(self.problems)}"


def check_station(record: StationRecordDict, line_no: int) -> StationProblem | None:
    """None when the registry accepts ``record``; else each field it refuses."""
    try:
        StationRecord.model_validate(record)
    except ValidationError as e:
        return StationProblem(line_no, record["station_id"], tuple(error_lines(e)))
    return None


def registered_stations(values: Iterable[bytes | None]) -> dict[str, str]:
    """station_id → IANA zone of the stations the registry knows, from the values of the
    stations topic in order: only records the registry's schema accepts count (the latest
    one's zone wins); a refused record registers nothing."""
    known: dict[str, str] = {}
    for value in values:
        if not value:
            continue
        try:
            rec = StationRecord.model_validate_json(value)
        except ValidationError:
            continue
        known[rec.station_id] = rec.tz
    return known
