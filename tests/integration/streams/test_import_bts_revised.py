"""Real data, revised: the US BTS 2018 border-crossing file imported, then a revised copy the
test derives from it — about 2 % of the values changed (all year), about 1 % of the rows
removed within a named period, a few rows moved to another month — imported again with
``--replaces`` over that period. Through the real worker, broker and ClickHouse 18.16:

* the readers' view of ``events`` equals the revised file, row for row;
* every month window equals an independent computation (pandas) on the revised file, keys
  no report is left in are zeroed;
* each changed window has a ``corrected`` version, and every unchanged one keeps its
  ``final`` row (nothing re-emitted);
* ``blo events history`` shows both revisions of a changed row.

December's windows are still in the worker's memory when the revision arrives (closed by
idleness, never purged by a later watermark); January to November are gone from it and are
corrected against ``window_stats``: both paths are exercised.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sinks.read_model import latest
from sinks.tables import EVENTS, WINDOW_STATS
from tests.integration.streams.harness import wait_for
from tests.unit.importer.helpers import SHARED_DATA

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

CSV = SHARED_DATA / "bts_border_crossing_2018.csv"
PERIOD = ("2018-03", "2018-08")
DATE_FORMAT = "%m/%d/%Y %I:%M:%S %p"


def _keyed(df: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """(station, month, measure) → value, from the CSV's columns alone (the mapping's
    renaming of the older container measures applied)."""
    month = pd.to_datetime(df["Date"], format=DATE_FORMAT).dt.strftime("%Y-%m")
    station = "US-" + df["Port Code"].astype(str)
    measure = df["Measure"].str.replace("Containers Full", "Containers Loaded")
    return {(s, m, meas): float(v)
            for s, m, meas, v in zip(station, month, measure, df["Value"], strict=True)}


def revise(df: pd.DataFrame, seed: int = 2018) -> tuple[pd.DataFrame, dict[str, int]]:
    """The revised copy: ~2 % of values changed, ~1 % of rows (all in PERIOD) removed, five
    rows moved to a month of PERIOD their (port, measure) has no row for."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    month = pd.to_datetime(out["Date"], format=DATE_FORMAT).dt.strftime("%Y-%m")
    in_period = (month >= PERIOD[0]) & (month <= PERIOD[1])
    n = len(out)
    changed = rng.choice(n, size=n * 2 // 100, replace=False)
    delta = rng.integers(1, 500, size=len(changed))
    out.loc[out.index[changed], "Value"] = out["Value"].to_numpy()[changed] + delta
    candidates = np.setdiff1d(np.flatnonzero(in_period.to_numpy()), changed)
    removed = rng.choice(candidates, size=n // 100, replace=False)
    # moves: a row of PERIOD to another month of PERIOD where its port and measure have none
    taken = set(zip(out["Port Code"], month, out["Measure"], strict=True))
    moved = 0
    months = [f"2018-{m:02d}" for m in range(int(PERIOD[0][-2:]), int(PERIOD[1][-2:]) + 1)]
    for i in rng.permutation(np.setdiff1d(candidates, removed)):
        port, measure, old = out.at[out.index[i], "Port Code"], out.at[out.index[i], "Measure"], \
            month.iloc[i]
        free = [m for m in months if m != old and (port, m, measure) not in taken]
        if not free:
            continue
        new = free[0]
        taken.add((port, new, measure))
        out.at[out.index[i], "Date"] = f"{new[5:]}/01/2018 12:00:00 AM"
        moved += 1
        if moved == 5:
            break
    out = out.drop(index=out.index[removed])
    return out, {"changed": len(changed), "removed": len(removed), "moved": moved}


def _events_view(db: Any) -> dict[tuple[str, str, str], float]:
    """The readers' view of the imported reports: (station, local month, measure) → value."""
    src = latest(db.database, EVENTS, ("station_id", "event_type", "period_start", "measure",
                                       "value", "station_tz"))
    rows = db.query(
        f"SELECT station_id, formatDateTime(toTimeZone(assumeNotNull(period_start), "
        f"'America/Denver'), '%Y-%m'), measure, value, period_start, station_tz FROM {src} "
        f"WHERE event_type = 'count_report'")
    return {(s, _local_month(ps, tz, m), meas): float(v) for s, m, meas, v, ps, tz in rows}


def _local_month(period_start: Any, tz: str, fallback: str) -> str:
    from zoneinfo import ZoneInfo

    import schemas.tz  # noqa: F401 - the pinned zone data

    if hasattr(period_start, "astimezone"):
        ps = period_start if period_start.tzinfo else period_start.replace(
            tzinfo=ZoneInfo("UTC"))
        return ps.astimezone(ZoneInfo(tz)).strftime("%Y-%m")
    return fallback


def _month_windows(db: Any) -> dict[tuple[str, str, str], tuple[float, int, str, int]]:
    """(station, local month, measure) → (value, events, status, version) of the readers'
    view of the month windows of count reports."""
    src = latest(db.database, WINDOW_STATS, ("window_kind", "window_start", "station_id",
                                             "event_type", "measure", "dimension",
                                             "window_label", "value", "events", "status",
                                             "version"))
    rows = db.query(f"SELECT station_id, window_label, measure, value, events, status, "
                    f"version FROM {src} WHERE window_kind = 'month' "
                    f"AND event_type = 'count_report'")
    return {(s, label, m): (float(v), int(n), st, int(ver))
            for s, label, m, v, n, st, ver in rows}


def test_a_revised_bts_file_replaces_the_figures_it_revises(pipeline, tmp_path: Path) -> None:
    p, db = pipeline
    original = pd.read_csv(CSV)
    first = _keyed(original)
    w = p.worker()
    w.wait_ready()
    res = p.blo("import-csv", str(CSV), "--mapping", "bts_border_crossing")
    assert res.returncode == 0, res.stderr

    def all_final() -> bool:
        rows = _month_windows(db)
        return len(rows) == len(first) and all(r[2] == "final" for r in rows.values())

    wait_for(lambda: _events_view(db) == first, 300, "the 2018 file stored", 1.0)
    wait_for(all_final, 180, "a final month row per port, month and measure", 1.0)
    before = _month_windows(db)

    revised, made = revise(original)
    assert made["changed"] > 150 and made["removed"] > 80 and made["moved"] == 5
    path = tmp_path / "bts_2018_revised.csv"
    revised.to_csv(path, index=False)
    second = _keyed(revised)
    changed = {k for k in second if k in first and second[k] != first[k]}
    gone = set(first) - set(second)
    added = set(second) - set(first)
    assert len(gone) == made["removed"] + made["moved"] and len(added) == made["moved"]

    res = p.blo("import-csv", str(path), "--mapping", "bts_border_crossing",
                "--replaces", f"{PERIOD[0]}..{PERIOD[1]}")
    assert res.returncode == 0, res.stderr + res.stdout
    counts = re.search(r"events new: (\d+), revised: (\d+), unchanged: (\d+).*voided: (\d+)",
                       res.stdout)
    assert counts, res.stdout
    assert tuple(map(int, counts.groups())) == (
        len(added), len(changed), len(second) - len(added) - len(changed), len(gone))

    # the readers' view of events is the revised file, row for row
    wait_for(lambda: _events_view(db) == second, 300, "the revised file stored", 1.0)

    # every month window: the revised file's figures, zeros where nothing is left
    want = dict(second) | {k: 0.0 for k in gone}
    diff: dict[Any, Any] = {}

    def windows_settled() -> bool:
        rows = _month_windows(db)
        got = {k: r[0] for k, r in rows.items()}
        diff.clear()
        diff.update({k: (got.get(k), want.get(k), rows.get(k)) for k in set(got) | set(want)
                     if got.get(k) != want.get(k)})
        return not diff and all(rows[k][1] == 0 for k in gone)

    try:
        wait_for(windows_settled, 300, "every month window recounted", 1.0)
    except AssertionError:
        raise AssertionError(f"{len(diff)} month windows differ, e.g. "
                             f"{sorted(diff.items())[:8]}") from None
    after = _month_windows(db)
    touched = changed | gone | added
    for key in touched:
        assert after[key][2] == "corrected", (key, after[key])
    for key in set(first) - touched:  # left alone: the same final row, not re-emitted
        assert after[key] == before[key], key
    # the roll-up per border equals pandas on the revised file too
    border = {"US-Mexico Border": "MX-US", "US-Canada Border": "CA-US"}
    revised = revised.assign(border=revised["Border"].map(border),
                             measure=revised["Measure"].str.replace("Containers Full",
                                                                    "Containers Loaded"))
    oracle = revised.groupby(["border", "measure"])["Value"].sum().to_dict()
    src = latest(db.database, WINDOW_STATS, ("window_kind", "window_start", "station_id",
                                             "event_type", "measure", "dimension", "border",
                                             "value"))
    got = {(b, m): float(v) for b, m, v in db.query(
        f"SELECT border, measure, sum(value) FROM {src} WHERE window_kind = 'month' "
        f"AND event_type = 'count_report' GROUP BY border, measure")}
    assert got == {k: float(v) for k, v in oracle.items()}

    # the history of a changed row: both revisions, the value's change named
    (eid,) = db.query(f"SELECT toString(event_id) FROM {latest(db.database, EVENTS)} "
                      f"WHERE revision = 1 AND event_type = 'count_report' LIMIT 1")[0]
    res = p.blo("events", "history", eid, "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    revs = doc["revisions"]
    assert [r["revision"] for r in revs] == [0, 1]
    assert [c["field"] for c in revs[1]["changes"]] == ["value"]
    assert revs[1]["changes"][0]["old"] != revs[1]["changes"][0]["new"]
    assert "revised file bts_2018_revised.csv" in revs[1]["reason"]
    assert w.metrics().get("blo_events_dead_lettered_total", 0) == 0
