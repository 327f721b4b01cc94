"""The dirty headerless BTS file: rejections with reasons, accepted totals equal pandas."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest

from blo.importer import summarise
from tests.unit.importer.helpers import (
    PORTS_COORDS,
    Items,
    mapped,
    rejected,
    require,
    run,
    schema_problems,
)

COLUMNS = ["port", "state", "code", "border", "date", "measure", "value", "lat", "lon", "point"]


@pytest.fixture(scope="module")
def items() -> Items:
    return run(require(PORTS_COORDS), "bts_ports_with_coords")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    df = pd.read_csv(require(PORTS_COORDS), header=None, names=COLUMNS,
                     dtype={"code": str, "date": str})
    df["line_no"] = df.index + 1  # no header: row i is line i + 1
    return df


def _oracle_rejections(frame: pd.DataFrame) -> dict[int, str]:
    """Lines the mapping must reject, found with pandas: dates outside 2020-21, then the
    second copy of a (port, month, measure) key."""
    date = pd.to_datetime(frame["date"], format="%Y-%m-%d")
    outside = frame[(date < "2020-01-01") | (date >= "2022-01-01")]
    inside = frame.drop(outside.index)
    dupes = inside[inside.duplicated(["code", "date", "measure"], keep="first")]
    out = {int(n): "out_of_window" for n in outside["line_no"]}
    out.update({int(n): "duplicate_key" for n in dupes["line_no"]})
    return out


def test_rejections_have_reasons(items: Items, frame: pd.DataFrame) -> None:
    expected = _oracle_rejections(frame)
    assert len(expected) == 7  # 6 stray dates, 1 duplicate (Sasabe 2021-02 Bus Passengers)
    got = {r.line_no: r.reason_code for r in rejected(items)}
    assert got == expected
    dup = next(r for r in rejected(items) if r.reason_code == "duplicate_key")
    first_line = int(frame[(frame["code"] == "2606") & (frame["date"] == "2021-02-01")
                           & (frame["measure"] == "Bus Passengers")]["line_no"].min())
    assert f"line {first_line}" in dup.message and "US-2606" in dup.message
    assert all(r.message for r in rejected(items))
    summary = summarise(items)
    assert summary.rejections == {"out_of_window": 6, "duplicate_key": 1}
    assert summary.mapped_rows == len(frame) - 7
    assert any("duplicate_key: 1" in line for line in summary.lines())


def test_accepted_totals_equal_pandas(items: Items, frame: pd.DataFrame) -> None:
    accepted = frame[~frame["line_no"].isin(_oracle_rejections(frame))]
    oracle = accepted.groupby(["code", "measure"])["value"].sum()
    got: dict[tuple[str, str], float] = defaultdict(float)
    for m in mapped(items):
        for e in m.events:
            got[(e["station_id"].removeprefix("US-"), e["measure"])] += e["value"]
    assert dict(got) == {k: v for k, v in oracle.items()}
    assert sum(got.values()) == accepted["value"].sum()


def test_stations_carry_bts_coordinates(items: Items, frame: pd.DataFrame) -> None:
    stations = {m.station["station_id"]: m.station for m in mapped(items) if m.station}
    assert len(stations) == frame["code"].nunique()
    coords = frame.groupby("code")[["lat", "lon"]].first()
    for code, row in coords.iterrows():
        s = stations[f"US-{code}"]
        assert (s["lat"], s["lon"]) == (row["lat"], row["lon"])
        assert s["coord_source"] == "BTS" and s["coord_approximate"] is True
    assert stations["US-2606"]["tz"] == "America/Phoenix"  # Sasabe, Arizona: no DST


def test_output_validates_with_schemas(items: Items) -> None:
    pytest.importorskip("schemas.station")
    assert schema_problems(items) == []
