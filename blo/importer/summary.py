"""Counting an import as it streams: :class:`ImportSummary`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from blo.importer.records import ImportItem, Mapped


@dataclass
class ImportSummary:
    """Counts of an import; feed it items as they stream (:meth:`add`)."""

    rows: int = 0
    mapped_rows: int = 0
    rejected_rows: int = 0
    events: int = 0
    stations: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    max_examples: int = 5

    def add(self, item: ImportItem) -> None:
        self.rows += 1
        if isinstance(item, Mapped):
            self.mapped_rows += 1
            self.events += len(item.events)
            self.stations += item.station is not None
            return
        self.rejected_rows += 1
        self.rejections[item.reason_code] = self.rejections.get(item.reason_code, 0) + 1
        shown = self.examples.setdefault(item.reason_code, [])
        if len(shown) < self.max_examples:
            shown.append((item.line_no, item.message))

    def lines(self) -> list[str]:
        """A human-readable report, one line each."""
        head = (f"rows {self.rows}: mapped {self.mapped_rows} ({self.events} events, "
                f"{self.stations} new stations), rejected {self.rejected_rows}")
        out = [head]
        for reason, count in sorted(self.rejections.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  {reason}: {count}")
            out.extend(f"    line {n}: {msg}" for n, msg in self.examples[reason])
        return out


def summarise(items: Iterable[ImportItem]) -> ImportSummary:
    """Consume ``items`` and count them."""
    summary = ImportSummary()
    for item in items:
        summary.add(item)
    return summary
