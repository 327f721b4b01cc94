"""``blo import-csv``'s retention warning: would ``blo db retention`` drop what is being
imported?

The import command feeds every event it publishes to :meth:`ImportRetentionCheck.add` and
prints :meth:`ImportRetentionCheck.warnings` at the end. The verdict is the planner's own
rule (:mod:`sinks.retention`: a month goes once it ended at least the limit of its table
and source ago), applied to the months of the events' ``occurred_at`` at the import's
"now". By default count reports — all an import writes — are kept for ever, so it warns
only when ``BLO_RETENTION_EVENTS_REPORTS_DAYS`` or ``BLO_RETENTION_WINDOW_STATS_REPORTS_DAYS``
is set. For ``window_stats`` the month of ``occurred_at`` stands for the month of the
window's start (a station-local month can start on the last day of the UTC month before).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sinks.retention import (
    RETENTION_FIELDS,
    RetentionLimits,
    expired,
    limits_of,
    month_end,
    source_of_event_type,
)

TABLES = ("events", "window_stats")  # what an import writes that has a limit


class ImportRetentionCheck:
    """Counts the imported events per (source, month); says what the next retention run
    would drop of them."""

    def __init__(self, retention: RetentionLimits, now: datetime) -> None:
        self.limits = limits_of(retention)
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.months: Counter[tuple[str, str]] = Counter()  # (source, 'YYYYMM') -> events

    def add(self, events: Iterable[Mapping[str, object]]) -> None:
        """Note events (dicts with ``occurred_at`` RFC 3339 and ``event_type``)."""
        for e in events:
            at = datetime.fromisoformat(str(e["occurred_at"])).astimezone(UTC)
            self.months[(source_of_event_type(str(e["event_type"])),
                         f"{at.year:04d}{at.month:02d}")] += 1

    def warnings(self) -> list[str]:
        """One line per (table, source) of which the next run would drop imported rows."""
        total = sum(self.months.values())
        out = []
        for table in TABLES:
            for (t, source), setting in RETENTION_FIELDS.items():
                days = self.limits[(t, source)]
                if t != table or days <= 0:
                    continue
                going = sorted((m, n) for (s, m), n in self.months.items() if s == source
                               and expired(_end(m), days, self.now))
                if not going:
                    continue
                oldest = _end(going[0][0])  # kept by a limit longer than its age
                keep = int((self.now - oldest).total_seconds() // 86400) + 1
                var = f"BLO_RETENTION_{setting.upper()}"
                n = f"{sum(n for _, n in going)} of the {total} events imported here"
                what = f"{n} from events" if table == "events" \
                    else f"the window rows (window_stats) of {n}"
                out.append(
                    f"warning: the next `blo db retention` would drop {what} "
                    f"({_label(going[0][0])} to {_label(going[-1][0])}): {source} are kept "
                    f"{days} days ({var}={days}). To keep them set {var}=0 (for ever) or at "
                    f"least {keep}.")
        return out


def _end(partition_id: str) -> datetime:
    end = month_end(partition_id)
    assert end is not None
    return end


def _label(partition_id: str) -> str:
    return f"{partition_id[:4]}-{partition_id[4:]}"
