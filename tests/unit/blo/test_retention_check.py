"""`blo import-csv`'s retention warning (blo/retention_check.py): it names the months the
next `blo db retention` would drop of an import and the setting that keeps them, by the
planner's own rule."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from blo.retention_check import ImportRetentionCheck
from blo.settings import RetentionSettings
from sinks.retention import Partition, limits_of, plan_retention

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def reports(first_year: int, last_year: int) -> list[dict[str, object]]:
    """One count report a month, as the importer makes them (UTC instants)."""
    return [{"event_type": "count_report",
             "occurred_at": datetime(y, m, 1, tzinfo=UTC).isoformat()}
            for y in range(first_year, last_year + 1) for m in range(1, 13)]


def check(events: list[dict[str, object]], **limits: int) -> list[str]:
    c = ImportRetentionCheck(RetentionSettings(**limits), NOW)
    c.add(events)
    return c.warnings()


def test_by_default_nothing_imported_would_be_dropped() -> None:
    assert check(reports(1996, 2021)) == []
    assert check(reports(1996, 2021), events_days=30, window_stats_days=30) == []


def test_a_finite_limit_for_reports_names_the_months_and_the_setting() -> None:
    [w] = check(reports(1996, 2021), events_reports_days=3650)
    # 3650 days before 2026-12-06 is 2016-12-08: the months up to 2016-11 have ended
    assert w.startswith("warning: the next `blo db retention` would drop 251 of the 312 "
                        "events imported here from events (1996-01 to 2016-11): reports are "
                        "kept 3650 days (BLO_RETENTION_EVENTS_REPORTS_DAYS=3650). To keep them "
                        "set BLO_RETENTION_EVENTS_REPORTS_DAYS=0 (for ever) or at least ")
    both = check(reports(1996, 2021), events_reports_days=3650, window_stats_reports_days=5000)
    assert len(both) == 2 and "the window rows (window_stats) of" in both[1]
    assert "BLO_RETENTION_WINDOW_STATS_REPORTS_DAYS=5000" in both[1]


def test_the_suggested_limit_is_the_least_that_keeps_everything() -> None:
    [w] = check(reports(1996, 2021), events_reports_days=3650)
    m = re.search(r"at least (\d+)\.$", w)
    assert m
    least = int(m.group(1))
    parts = [Partition("events", f"{y}{mo:02d}", 1, 0, (("live", 0), ("reports", 1)))
             for y in range(1996, 2022) for mo in range(1, 13)]

    def dropped(days: int) -> int:
        limits = limits_of(RetentionSettings(events_reports_days=days))
        return len(plan_retention(parts, limits, NOW).drops)

    assert dropped(least) == 0 and dropped(least - 1) == 1
    assert check(reports(1996, 2021), events_reports_days=least) == []


def test_live_events_in_an_import_follow_the_live_limit() -> None:
    crossings = [{"event_type": "crossing", "occurred_at": "2020-03-01T10:00:00+05:00"}]
    w, windows = check(crossings, events_days=730)  # and window_stats' 1830 days
    assert "BLO_RETENTION_WINDOW_STATS_DAYS=1830" in windows
    assert "1 of the 1 events imported here from events (2020-03 to 2020-03)" in w
    assert "live are kept 730 days (BLO_RETENTION_EVENTS_DAYS=730)" in w
