"""Year-over-year on real statistics: US BTS San Ysidro crossing counts of 2018–2019
(imported with the shipped mapping through a real worker into the ClickHouse server), and
``/api/v1/trends/compare`` and ``/ranked`` for a year, a quarter and a month against the
year before (and the month before) — equal to sums of the CSV's values computed here with
the csv module, by the rows' own months."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from blo.api.scope import Scope
from blo.api.tokens import create_token
from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.tansu import TansuBroker
from sinks.clickhouse import ServerDatabase
from tests.integration.api.inprocess import InProcessApi, bearer
from tests.integration.streams.harness import Pipeline, wait_for
from tests.unit.importer.helpers import SHARED_DATA

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

YEARS = ("2018", "2019")
STATION = "US-2504"


@pytest.fixture
def pipeline(kafka_broker: TansuBroker, clickhouse_server: ClickHouseServer,
             make_clickhouse_db: Any, tmp_path: Path
             ) -> Iterator[tuple[Pipeline, ServerDatabase]]:
    db: ServerDatabase = make_clickhouse_db(migrated=False)
    p = Pipeline(kafka_broker.bootstrap, clickhouse_server.url(db.database), db.database,
                 tmp_path)
    p.create_topics()
    yield p, db
    p.kill_workers()


def _slice(path: Path) -> dict[str, float]:
    """Write the rows of YEARS of the real file to ``path``; return the sum of their values
    per month (YYYY-MM), by the csv module."""
    with (SHARED_DATA / "bts_san_ysidro_1996_2021.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or ())
        rows = [r for r in reader if r["Date"].endswith(YEARS)]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(rows)
    per_month: dict[str, float] = defaultdict(float)
    for r in rows:
        per_month[datetime.strptime(r["Date"], "%b %Y").strftime("%Y-%m")] += float(r["Value"])
    return dict(per_month)


def test_year_over_year_on_san_ysidro_equals_the_csv(pipeline: Any) -> None:
    p, db = pipeline
    data = p.workdir / "san_ysidro_2018_2019.csv"
    per_month = _slice(data)
    w = p.worker(BLO_CLICKHOUSE_SEND_RECEIVE_TIMEOUT_S="60")
    w.wait_ready()
    res = p.blo("import-csv", str(data), "--mapping", "bts_san_ysidro")
    assert res.returncode == 0, res.stderr

    def month_total() -> float:
        got = db.query(f"SELECT sum(v) FROM (SELECT argMax(value, version) AS v "
                       f"FROM {db.database}.window_stats WHERE window_kind = 'month' "
                       "AND event_type = 'count_report' "
                       "GROUP BY station_id, measure, dimension, window_start)")[0][0]
        return float(got or 0)

    wait_for(lambda: month_total() == pytest.approx(sum(per_month.values())), 240,
             "the month windows of the import")
    w.terminate()

    def total(months: list[str]) -> float:
        return sum(per_month.get(m, 0.0) for m in months)

    api = InProcessApi(db)
    secret = create_token(db, "regional centre", Scope(all=True))[1]
    calls = {
        "year": {"period": "2019", "stat": "report_value", "group_by": "station"},
        "quarter": {"period": "2019-Q2", "stat": "report_value", "group_by": "country"},
        "month": {"period": "2019-03", "stat": "report_value", "group_by": "station",
                  "event_type": "count_report"},
    }

    async def body(client: TestClient[Any, Any]) -> dict[str, Any]:
        out = {}
        for name, q in calls.items():
            resp = await client.get("/api/v1/trends/compare", params=q,
                                    headers=bearer(secret))
            out[name] = (resp.status, await resp.json())
        resp = await client.get("/api/v1/trends/ranked", headers=bearer(secret), params={
            "period": "2019", "stat": "report_value", "against": "year_before",
            "direction": "rise", "min_base": "0"})
        out["ranked"] = (resp.status, await resp.json())
        return out

    try:
        got = api.run(body)
    finally:
        api.close()
    cases = {"year": (STATION, [f"2019-{m:02d}" for m in range(1, 13)],
                      {"previous": [f"2018-{m:02d}" for m in range(1, 13)],
                       "year_before": [f"2018-{m:02d}" for m in range(1, 13)]}),
             "quarter": ("US", ["2019-04", "2019-05", "2019-06"],
                         {"previous": ["2019-01", "2019-02", "2019-03"],
                          "year_before": ["2018-04", "2018-05", "2018-06"]}),
             "month": (STATION, ["2019-03"], {"previous": ["2019-02"],
                                              "year_before": ["2018-03"]})}
    for name, (group, months, bases) in cases.items():
        status, answer = got[name]
        assert status == 200, (name, answer)
        assert answer["current"]["months"] == months
        key = "station" if group == STATION else "country"
        for comp in answer["comparisons"]:
            want_base = total(bases[comp["against"]])
            assert comp["base"]["months"] == bases[comp["against"]]
            (row,) = comp["rows"]
            assert row[key] == group
            assert row["current"] == pytest.approx(total(months)), (name, comp["against"])
            assert row["base"] == pytest.approx(want_base), (name, comp["against"])
            assert row["change"] == pytest.approx(total(months) - want_base)
            assert row["change_pct"] == pytest.approx(
                (total(months) - want_base) / want_base * 100, abs=1e-4)
    status, answer = got["ranked"]
    y19, y18 = total(cases["year"][1]), total(cases["year"][2]["year_before"])
    assert status == 200
    assert [(r["station"], r["change"]) for r in answer["rows"]] == (
        [(STATION, pytest.approx(y19 - y18))] if y19 > y18 else [])
