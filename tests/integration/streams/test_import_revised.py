"""A revised statistics file imported again (`blo import-csv FILE --mapping M`): unchanged
rows are not published, changed ones become revisions, new ones are new; a row absent from
the revised file stays unless the user names the period the file replaces (`--replaces`),
which voids it. The readers' view of `events` then equals the revised file, row for row."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sinks.read_model import latest
from sinks.tables import EVENTS
from tests.integration.streams.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

HEADER = "Port Name,State,Port Code,Border,Date,Measure,Value\n"
ROOSVILLE = "Roosville,Montana,3318,US-Canada Border"
SAN_YSIDRO = "San Ysidro,California,2504,US-Mexico Border"


def row(port: str, month: int, measure: str, value: int) -> str:
    return f"{port},{month:02d}/01/2018 12:00:00 AM,{measure},{value}\n"


FIRST = [row(ROOSVILLE, 1, "Buses", 3), row(ROOSVILLE, 2, "Buses", 4),
         row(ROOSVILLE, 3, "Trucks", 70), row(ROOSVILLE, 1, "Trucks", 60),
         row(SAN_YSIDRO, 1, "Pedestrians", 1000), row(SAN_YSIDRO, 2, "Pedestrians", 1100)]
# February's buses changed, March's trucks gone, San Ysidro's March added
REVISED = [FIRST[0], row(ROOSVILLE, 2, "Buses", 5), FIRST[3], FIRST[4], FIRST[5],
           row(SAN_YSIDRO, 3, "Pedestrians", 1200)]
# and, a second edition, January's trucks changed too
SECOND = [FIRST[0], REVISED[1], row(ROOSVILLE, 1, "Trucks", 61), FIRST[4], FIRST[5],
          REVISED[5]]


def write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(rows))
    return path


def expected(rows: list[str]) -> set[tuple[str, str, str, float]]:
    """(station, month, measure, value) of each row, read from the CSV text alone."""
    out = set()
    for line in rows:
        _, _, code, _, date, measure, value = line.strip().split(",")
        out.add((f"US-{code}", f"2018-{date[:2]}", measure, float(value)))
    return out


def view(db) -> set[tuple[str, str, str, float]]:
    """The readers' view of the imported reports: (station, month, measure, value); the
    month on Denver's clock, which puts Pacific and Mountain month starts in their month."""
    src = latest(db.database, EVENTS, ("station_id", "event_type", "period_start", "measure",
                                       "value"))
    return {(s, m, meas, float(v)) for s, m, meas, v in db.query(
        f"SELECT station_id, formatDateTime(toTimeZone(assumeNotNull(period_start), "
        f"'America/Denver'), '%Y-%m'), measure, value FROM {src} "
        "WHERE event_type = 'count_report'")}


def counts(stdout: str) -> tuple[int, ...]:
    m = re.search(r"events new: (\d+), revised: (\d+), unchanged: (\d+) \(not published\), "
                  r"voided: (\d+)", stdout)
    assert m, stdout
    return tuple(int(g) for g in m.groups())


def test_revised_file_revises_changed_rows_and_voids_only_a_replaced_period(pipeline) -> None:
    p, db = pipeline
    w = p.worker()
    w.wait_ready()

    first = p.blo("import-csv", str(write(p.workdir / "bts.csv", FIRST)),
                  "--mapping", "bts_border_crossing")
    assert first.returncode == 0, first.stderr
    assert counts(first.stdout) == (6, 0, 0, 0)  # nothing stored: everything new
    assert "not in this file" not in first.stdout
    wait_for(lambda: view(db) == expected(FIRST), 60, "the first edition")

    # the revised copy, same name, without --replaces: the removed row stays (published as
    # read: the file's order)
    revised = p.blo("import-csv", str(write(p.workdir / "bts.csv", REVISED)),
                    "--mapping", "bts_border_crossing", "--order", "file")
    assert revised.returncode == 0, revised.stderr
    assert counts(revised.stdout) == (1, 1, 4, 0)
    assert "1 stored reports are not in this file; pass --replaces PERIOD to void them" \
        in revised.stdout
    wait_for(lambda: view(db) == expected(REVISED) | expected([FIRST[2]]), 60,
             "the revision and the new row, the removed row kept")
    src = latest(db.database, EVENTS, ("station_id", "revision", "correction_reason"))
    revisions = db.query(f"SELECT revision, correction_reason FROM {src} WHERE revision > 0")
    assert [(r, reason[:22]) for r, reason in revisions] == [(1, "revised file bts.csv (")]

    # a bad period is refused before anything happens
    bad = p.blo("import-csv", str(p.workdir / "bts.csv"), "--mapping", "bts_border_crossing",
                "--replaces", "2018-13")
    assert bad.returncode == 2 and "YYYY-MM..YYYY-MM" in bad.stderr, bad.stderr

    # the second edition replaces 2018: one more revision, the removed row voided
    dry = p.blo("import-csv", str(write(p.workdir / "bts2.csv", SECOND)),
                "--mapping", "bts_border_crossing", "--replaces", "2018-01..2018-12",
                "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run, nothing published: events new: 0, revised: 1, unchanged: 5 (not " \
        "published), voided: 1 (--replaces 2018-01..2018-12)" in dry.stdout
    second = p.blo("import-csv", str(p.workdir / "bts2.csv"), "--mapping",
                   "bts_border_crossing", "--replaces", "2018-01..2018-12")
    assert second.returncode == 0, second.stderr
    assert counts(second.stdout) == (0, 1, 5, 1)
    assert "not in this file" not in second.stdout
    wait_for(lambda: view(db) == expected(SECOND), 60, "exactly the second edition")
    run_id = re.search(r"import run ([0-9a-f]{16}) recorded", second.stdout).group(1)  # type: ignore[union-attr]
    assert db.query(f"SELECT events_published FROM {db.database}.import_runs "
                    f"WHERE run_id = '{run_id}'") == [(2,)]  # one revision, one void

    # the same file again: nothing to publish
    again = p.blo("import-csv", str(p.workdir / "bts2.csv"), "--mapping",
                  "bts_border_crossing", "--replaces", "2018")
    assert again.returncode == 0, again.stderr
    assert counts(again.stdout) == (0, 0, 6, 0)
    assert w.metrics().get("blo_events_dead_lettered_total", 0) == 0
    w.terminate()
