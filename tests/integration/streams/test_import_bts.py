"""Real data through the whole path: the US BTS 2018 border-crossing file, imported with the
shipped mapping, lands as 9,534 count reports whose totals match pandas on the CSV."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import wait_for
from tests.unit.importer.helpers import SHARED_DATA

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

BORDER = {"US-Mexico Border": "MX-US", "US-Canada Border": "CA-US"}


def test_bts_2018_import_matches_independent_totals(pipeline) -> None:
    p, db = pipeline
    csv = SHARED_DATA / "bts_border_crossing_2018.csv"
    w = p.worker()
    w.wait_ready()
    res = p.blo("import-csv", str(csv), "--mapping", "bts_border_crossing")
    assert res.returncode == 0, res.stderr
    assert "rows published: 9534" in res.stdout
    assert "rows rejected: 0" in res.stdout
    where = "event_type = 'count_report'"
    wait_for(lambda: final_count(db, where) >= 9534, 240, "9,534 count reports")
    assert final_count(db, where) == 9534

    df = pd.read_csv(csv)
    df["border"] = df["Border"].map(BORDER)
    # the mapping renames the older "... Containers Full" measures to "... Loaded"
    df["measure"] = df["Measure"].str.replace("Containers Full", "Containers Loaded")
    oracle = df.groupby(["border", "measure"])["Value"].sum().to_dict()
    got = {(b, m): v for b, m, v in db.query(
        f"SELECT border, measure, sum(value) FROM {db.database}.events FINAL "
        f"WHERE {where} GROUP BY border, measure")}
    assert set(got) == set(oracle)
    for key, total in oracle.items():
        assert got[key] == pytest.approx(total), key
    ped = oracle[("MX-US", "Pedestrians")]
    assert got[("MX-US", "Pedestrians")] == pytest.approx(ped) and ped > 1_000_000
    ports = db.query(f"SELECT uniqExact(station_id) FROM {db.database}.events FINAL "
                     f"WHERE {where}")[0][0]
    assert ports == df["Port Code"].nunique()
    assert w.metrics().get("blo_events_dead_lettered_total", 0) == 0

    # Event-time windows: the file runs December first; the importer publishes each port's
    # reports in event-time order, so calendar-month rows per port and measure, and their
    # roll-up per border, equal the CSV's totals (the last month closes by idleness).
    df["month"] = pd.to_datetime(df["Date"], format="%m/%d/%Y %I:%M:%S %p").dt.strftime("%Y-%m")
    df["station"] = "US-" + df["Port Code"].astype(str)
    per_port = df.groupby(["station", "month", "measure"])["Value"].sum().to_dict()

    def month_rows() -> dict[tuple[str, str, str], tuple[float, str]]:
        return {(st, label, m): (v, status) for st, label, m, v, status in db.query(
            f"SELECT station_id, window_label, measure, value, status "
            f"FROM {db.database}.window_stats FINAL "
            f"WHERE window_kind = 'month' AND event_type = 'count_report'")}

    def all_final() -> bool:
        rows = month_rows()
        return len(rows) == len(per_port) and all(st != "provisional" for _, st in rows.values())

    wait_for(all_final, 120, "a final month row per port, month and measure", 1.0)
    rows = month_rows()
    assert set(rows) == set(per_port)
    for key, total in per_port.items():
        assert rows[key][0] == pytest.approx(total), key
    border_oracle = df.groupby(["border", "measure"])["Value"].sum().to_dict()
    border_rows = {(b, m): v for b, m, v in db.query(
        f"SELECT border, measure, sum(value) FROM {db.database}.window_stats FINAL "
        f"WHERE window_kind = 'month' AND event_type = 'count_report' GROUP BY border, measure")}
    assert border_rows.keys() == border_oracle.keys()
    for key, total in border_oracle.items():
        assert border_rows[key] == pytest.approx(total), key
    # monthly reports fit no day window, and nothing was late
    assert db.query(f"SELECT count() FROM {db.database}.window_stats "
                    f"WHERE window_kind != 'month'")[0][0] == 0
    assert db.query(f"SELECT count() FROM {db.database}.late_events")[0][0] == 0
    w.terminate()
