"""Exports through the API on the real ClickHouse server (18.16): CSV, XLSX and Parquet read
back with pandas/pyarrow/openpyxl equal ``/api/v1/stats`` for the same query; an events
export equals the readers' view computed here from the rows the test wrote (latest
revision, voided events left out); a KZ token's exports hold no other country's rows; every
export is audited; a large export is streamed in pages and chunks.

The app runs in-process (aiohttp's test server) over a real ``ServerDatabase``.
"""

from __future__ import annotations

import io
import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
from aiohttp.test_utils import TestClient

from blo.analytics.columns import EVENT_COLUMNS, STATS_VALUES, stats_columns
from blo.analytics.exports import PAGE_ROWS
from blo.api.scope import Scope
from blo.api.tokens import create_token
from sinks.clickhouse import ServerDatabase
from sinks.tables import EVENTS, STATIONS, WINDOW_STATS
from tests.integration.api.inprocess import InProcessApi
from tests.unit.streams.alerts.factories import wrow

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
# station → (country, agency, border, paired BLO)
POSTS = {
    "KZ-KORDAI": ("KZ", "border_guard", "KG-KZ", "KG-AK-JOL"),
    "KZ-KARASU": ("KZ", "customs", "KG-KZ", ""),
    "KG-AK-JOL": ("KG", "customs", "KG-KZ", "KZ-KORDAI"),
    "TJ-PYANJ": ("TJ", "joint", "AF-TJ", ""),
}
PER_HOUR = {"KZ-KORDAI": 7, "KZ-KARASU": 3, "KG-AK-JOL": 5, "TJ-PYANJ": 11}
# events: a range over two UTC months
E0 = datetime(2026, 9, 20, tzinfo=UTC)
E1 = datetime(2026, 10, 10, tzinfo=UTC)
DRUGS = ("heroin", "opium", "hashish")
ROUTES = (("AF", "AF", ["TJ", "UZ"], "RU"), ("AF", "TJ", [], "KZ"), ("", "", [], ""))


def _default(ch_type: str) -> Any:
    if ch_type.startswith("Nullable"):
        return None
    if ch_type.startswith("DateTime"):
        return datetime(1970, 1, 1, tzinfo=UTC)
    if ch_type == "String":
        return ""
    return 0.0 if ch_type.startswith("Float") else 0


def _station_rows() -> list[tuple[Any, ...]]:
    out = []
    for sid, (country, agency, border, paired) in POSTS.items():
        v = {"station_id": sid, "valid_from": datetime(2018, 1, 1, tzinfo=UTC), "name": sid,
             "country": country, "agency": agency, "crossing_point": sid, "border": border,
             "paired_blo": paired, "lat": 40.0, "lon": 70.0, "tz": "Asia/Almaty",
             "coord_source": "test", "coord_approximate": 1, "active": 1, "updated_at": NOW}
        out.append(tuple(v.get(c, _default(t)) for c, t in STATIONS.columns))
    return out


def _window_rows() -> list[tuple[Any, ...]]:
    """Three past hours of crossings per post (1h windows), a heroin seizure hour at
    TJ-PYANJ and one at KZ-KORDAI."""
    rows = []

    def add(sid: str, h: int, event_type: str, dimension: str, **v: Any) -> None:
        country, _, border, _ = POSTS[sid]
        r = dict(zip(WINDOW_STATS.column_names, wrow(
            int((NOW - timedelta(hours=h)).timestamp()), event_type=event_type,
            dimension=dimension, version=1, **v), strict=True))
        r.update(station_id=sid, country=country, border=border)
        rows.append(tuple(r[c] for c in WINDOW_STATS.column_names))

    for sid, n in PER_HOUR.items():
        for h in (1, 2, 3):
            add(sid, h, "crossing", "", events=n, persons=2 * n)
    add("TJ-PYANJ", 2, "seizure", "heroin", events=1, seizure_kg=12.5)
    add("KZ-KORDAI", 1, "seizure", "opium", events=2, seizure_kg=3.25)
    return rows


def event_row(sid: str, i: int, *, revision: int = 0, voided: int = 0,
              persons: int | None = None, occurred: datetime | None = None,
              ingested: datetime | None = None, reason: str = "",
              event_id: uuid.UUID | None = None) -> tuple[Any, ...]:
    """Event ``i`` of ``sid`` (a seizure every fifth, a crossing otherwise), as the ingest
    step stores it (the typed columns and a canonical-looking payload)."""
    country, agency, border, paired = POSTS[sid]
    eid = event_id or uuid.uuid5(uuid.NAMESPACE_URL, f"{sid}/{i}")
    t = occurred or E0 + timedelta(minutes=37 * i + len(sid))
    seizure = i % 5 == 0
    v: dict[str, Any] = {
        "event_id": eid, "event_type": "seizure" if seizure else "crossing",
        "schema_version": 1, "station_id": sid, "source_seq": i, "occurred_at": t,
        "reported_at": t + timedelta(seconds=30), "ingested_at": ingested or t + timedelta(
            minutes=1), "country": country, "agency": agency, "crossing_point": sid,
        "border": border, "paired_blo": paired, "station_tz": "Asia/Almaty",
        "revision": revision, "voided": voided, "correction_reason": reason,
        "kafka_topic": "blo.events.raw", "kafka_offset": i}
    if seizure:
        prod, dep, transit, dest = ROUTES[i % 3]
        drug = DRUGS[i % 3]
        v.update(drug=drug, quantity=1.5 * (i % 7 + 1), quantity_unit="kg",
                 quantity_kg=1.5 * (i % 7 + 1), arrests=i % 3)
        body: dict[str, Any] = {"event_type": "seizure", "drug": drug,
                                "concealment": "vehicle", "detection_method": "dog"}
        body |= {k: x for k, x in (("producing_country", prod), ("departure_country", dep),
                                   ("destination_country", dest)) if x}
        body["transit_countries"] = transit
    else:
        v.update(direction="inbound" if i % 2 else "outbound", subject="person",
                 persons=1 + i % 4 if persons is None else persons, outcome="cleared")
        body = {"event_type": "crossing", "direction": v["direction"]}
    v["payload"] = json.dumps(body, separators=(",", ":"))
    return tuple(v.get(c, _default(ct)) for c, ct in EVENTS.columns)


N_EVENTS = {"KZ-KORDAI": 700, "KZ-KARASU": 300, "KG-AK-JOL": 200, "TJ-PYANJ": 400}


def _event_rows() -> list[tuple[Any, ...]]:
    rows = [event_row(sid, i) for sid, n in N_EVENTS.items() for i in range(n)]
    later = E0 + timedelta(days=60)
    # a correction (persons 1 → 9, a formula-looking reason), a voided event, and an
    # event moved to another month (a withdrawn copy in the old month)
    rows.append(event_row("KZ-KORDAI", 201, revision=1, persons=9, ingested=later,
                          reason="=HYPERLINK(\"http://x\")"))
    rows.append(event_row("KZ-KORDAI", 202, revision=1, voided=1, ingested=later))
    moved_to = E0 + timedelta(days=12, hours=3)
    rows.append(event_row("TJ-PYANJ", 151, revision=1, voided=1, ingested=later))
    rows.append(event_row("TJ-PYANJ", 151, revision=1, occurred=moved_to, ingested=later))
    return rows


def expected_events(rows: list[tuple[Any, ...]], stations: set[str], t0: datetime,
                    t1: datetime) -> dict[str, dict[str, Any]]:
    """The readers' view, computed here: per (station, event id, month) the row of the
    highest (revision, ingested_at); voided ones left out; in [t0, t1)."""
    cols = EVENTS.column_names
    best: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in rows:
        d = dict(zip(cols, r, strict=True))
        key = (d["station_id"], str(d["event_id"]),
               d["occurred_at"].year * 100 + d["occurred_at"].month)
        old = best.get(key)
        if old is None or (d["revision"], d["ingested_at"]) > (old["revision"],
                                                               old["ingested_at"]):
            best[key] = d
    return {str(d["event_id"]): d for d in best.values()
            if not d["voided"] and d["station_id"] in stations
            and t0 <= d["occurred_at"] < t1}


class Api(InProcessApi):
    def __init__(self, db: ServerDatabase) -> None:
        super().__init__(db)
        self.db = db
        self.tokens = {
            "kz": create_token(db, "KZ centre", Scope(countries=frozenset({"KZ"})))[1],
            "all": create_token(db, "Regional centre", Scope(all=True))[1],
        }

    def get(self, path: str, token: str, **params: Any) -> tuple[int, dict[str, str], bytes]:
        async def body(client: TestClient[Any, Any]) -> tuple[int, dict[str, str], bytes]:
            resp = await client.get(path, params=params, headers={
                "Authorization": f"Bearer {self.tokens[token]}"})
            return resp.status, dict(resp.headers), await resp.read()

        return self.run(body)  # type: ignore[no-any-return]

    def stats(self, token: str, **params: Any) -> dict[str, Any]:
        status, _, raw = self.get("/api/v1/stats", token, **params)
        assert status == 200, raw
        return json.loads(raw)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def api(clickhouse_server: Any) -> Iterator[Api]:
    from blo.settings import ClickHouseSettings, parse_clickhouse_url
    from sinks.migrations import migrate

    name = f"exp_{uuid.uuid4().hex[:8]}"
    db = ServerDatabase(parse_clickhouse_url(clickhouse_server.url(name)),
                        ClickHouseSettings.model_validate({}))
    db.command(f"CREATE DATABASE IF NOT EXISTS {name}")
    migrate(db)
    db.insert("stations", STATIONS.column_names, _station_rows())
    db.insert("window_stats", WINDOW_STATS.column_names, _window_rows())
    a = Api(db)
    a.event_rows = _event_rows()  # type: ignore[attr-defined]
    db.insert("events", EVENTS.column_names, a.event_rows)  # type: ignore[attr-defined]
    yield a
    a.close()
    db.command(f"DROP DATABASE IF EXISTS {name}")
    db.close()


def read_back(fmt: str, raw: bytes) -> pd.DataFrame:
    if fmt == "csv":
        assert raw.startswith("\ufeff".encode())
        return pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", keep_default_na=False,
                           na_values=[""])
    if fmt == "xlsx":
        return pd.read_excel(io.BytesIO(raw), sheet_name=0)
    return pq.read_table(io.BytesIO(raw)).to_pandas()


RANGE = {"from": (NOW - timedelta(hours=4)).isoformat(), "to": NOW.isoformat()}


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_stats_export_reads_back_to_the_figures_of_the_stats_api(
        api: Api, fmt: str, lang: str) -> None:
    params = {**RANGE, "window": "1h", "group_by": "station,event_type"}
    status, headers, raw = api.get("/api/v1/export/stats", "all", format=fmt, lang=lang,
                                   **params)
    assert status == 200, raw
    assert headers["Transfer-Encoding"] == "chunked"
    assert f".{fmt}\"" in headers["Content-Disposition"]
    df = read_back(fmt, raw)
    cols = stats_columns(("station", "event_type"))
    assert list(df.columns) == [c.header(lang) for c in cols]
    h = {c.key: c.header(lang) for c in cols}
    got = {(r[h["station"]], r[h["event_type"]]): {k: r[h[k]] for k in STATS_VALUES}
           for _, r in df.iterrows()}
    body = api.stats("all", **params)
    want = {(r["station"], r["event_type"]): {k: r[k] for k in STATS_VALUES}
            for r in body["rows"]}
    assert set(got) == set(want) and len(df) == len(body["rows"]) == 6
    for key, values in want.items():
        for k, v in values.items():
            g = got[key][k]
            if v is None:
                assert g is None or (isinstance(g, float) and math.isnan(g)), (key, k, g)
            else:
                assert g == pytest.approx(v), (key, k, g, v)
    # the independent figures: 3 hours of each post's crossings
    assert got[("TJ-PYANJ", "crossing")]["events"] == 3 * PER_HOUR["TJ-PYANJ"]
    assert got[("TJ-PYANJ", "seizure")]["seizure_kg"] == pytest.approx(12.5)
    if fmt == "parquet":
        schema = pq.read_schema(io.BytesIO(raw))
        f = schema.field(h["seizure_kg"])
        assert str(f.type) == "double" and f.metadata[b"key"] == b"seizure_kg"
        assert f.metadata[b"description"].decode() == STATS_VALUES["seizure_kg"].description(
            lang)
        assert str(schema.field(h["from"]).type) == "timestamp[ms, tz=UTC]"
        assert str(schema.field(h["events"]).type) == "int64"
    if fmt == "xlsx":
        wb = openpyxl.load_workbook(io.BytesIO(raw))
        about = wb.worksheets[1]
        descs = [r[3] for r in about.iter_rows(min_row=2, values_only=True) if r and r[3]]
        assert descs[:len(cols)] == [c.description(lang) for c in cols]


def test_a_kz_tokens_exports_hold_no_other_countrys_rows(api: Api) -> None:
    params = {**RANGE, "window": "1h", "group_by": "station"}
    status, _, raw = api.get("/api/v1/export/stats", "kz", format="csv", **params)
    assert status == 200, raw
    df = read_back("csv", raw)
    own = df[df["block"] == "own"]
    assert set(own["station"]) == {"KZ-KORDAI", "KZ-KARASU"}
    # the paired foreign post: in aggregate only, never per station
    paired = df[df["block"] == "paired"]
    assert len(paired) == 1 and paired["station"].isna().all()
    body = api.stats("kz", **params)
    assert int(paired["events"].iloc[0]) == body["paired"]["rows"][0]["events"] \
        == 3 * PER_HOUR["KG-AK-JOL"]
    text = raw.decode("utf-8-sig")
    assert "TJ-PYANJ" not in text and "KG-AK-JOL" not in text
    # events: only KZ posts'
    ev = {"from": E0.isoformat(), "to": E1.isoformat()}
    status, _, raw = api.get("/api/v1/export/events", "kz", format="parquet", **ev)
    assert status == 200
    table = pq.read_table(io.BytesIO(raw)).to_pandas()
    assert set(table["station"]) == {"KZ-KORDAI", "KZ-KARASU"}
    assert set(table["country"]) == {"KZ"}
    # another country, station or border is refused exactly as /stats refuses it
    for path in ("/api/v1/export/stats", "/api/v1/export/events"):
        for bad in ({"country": "TJ"}, {"station": "TJ-PYANJ"}, {"border": "AF-TJ"}):
            status, _, raw = api.get(path, "kz", **bad)
            assert status == 403, (path, bad, raw)
            assert api.get("/api/v1/stats", "kz", **bad)[0] == 403


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_an_events_export_is_the_readers_view_of_the_events_written(
        api: Api, fmt: str) -> None:
    t0, t1 = E0 + timedelta(days=3), E1
    status, _, raw = api.get("/api/v1/export/events", "all", format=fmt, lang="en",
                                   **{"from": t0.isoformat(), "to": t1.isoformat()})
    assert status == 200, raw
    df = read_back(fmt, raw)
    assert list(df.columns) == [c.en for c in EVENT_COLUMNS]
    want = expected_events(api.event_rows, set(POSTS), t0, t1)  # type: ignore[attr-defined]
    assert len(df) == len(want) and df["event id"].is_unique
    assert set(df["event id"]) == set(want)
    # ordered by post, then time
    keys = list(zip(df["station"], pd.to_datetime(df["occurred at (UTC)"], utc=True),
                    strict=True))
    assert keys == sorted(keys)
    for _, r in df.iterrows():
        d = want[r["event id"]]
        assert r["station"] == d["station_id"] and r["event type"] == d["event_type"]
        assert pd.Timestamp(r["occurred at (UTC)"]).tz_localize(None) == pd.Timestamp(
            d["occurred_at"]).tz_localize(None)
        if d["event_type"] == "crossing":
            assert int(r["persons"]) == d["persons"]
            assert pd.isna(r["quantity (kg)"])
        else:
            assert float(r["quantity (kg)"]) == pytest.approx(d["quantity_kg"])
            payload = json.loads(d["payload"])
            assert (r["producing country"] if not pd.isna(r["producing country"]) else "") \
                == payload.get("producing_country", "")
            transit = r["transit countries"]
            assert ("" if pd.isna(transit) else transit) == ",".join(
                payload["transit_countries"])
    corrected = df[df["event id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, "KZ-KORDAI/201"))]
    assert int(corrected["persons"].iloc[0]) == 9 and int(corrected["revision"].iloc[0]) == 1
    reason = corrected["correction reason"].iloc[0]
    # a spreadsheet never runs it: CSV prefixes a quote, XLSX stores it as text
    assert reason == ("'=HYPERLINK(\"http://x\")" if fmt == "csv" else
                      "=HYPERLINK(\"http://x\")")
    if fmt == "xlsx":
        ws = openpyxl.load_workbook(io.BytesIO(raw)).worksheets[0]
        col = [c.en for c in EVENT_COLUMNS].index("correction reason") + 1
        cells = [row[col - 1] for row in ws.iter_rows(min_row=2) if row[col - 1].value]
        assert cells and all(c.data_type == "s" for c in cells)
    assert str(uuid.uuid5(uuid.NAMESPACE_URL, "KZ-KORDAI/202")) not in set(df["event id"])


def test_exports_are_audited_with_kind_format_filters_and_rows(api: Api) -> None:
    ev = {"from": E0.isoformat(), "to": E1.isoformat(), "station": "KZ-KARASU",
          "event_type": "crossing"}
    status, _, raw = api.get("/api/v1/export/events", "kz", format="xlsx", lang="ru", **ev)
    assert status == 200
    n = len(read_back("xlsx", raw))
    assert n == len([d for d in expected_events(
        api.event_rows, {"KZ-KARASU"}, E0, E1).values()  # type: ignore[attr-defined]
        if d["event_type"] == "crossing"])
    assert api.get("/api/v1/export/stats", "kz", country="TJ")[0] == 403
    rows = api.db.query(
        f"SELECT path, query, status, rows, detail, token_name FROM {api.db.database}.api_audit "
        "WHERE path LIKE '/api/v1/export/%' ORDER BY at")
    ok = [r for r in rows if r[0] == "/api/v1/export/events" and r[2] == 200
          and "station=KZ-KARASU" in r[1]]
    assert ok, rows
    _, query, _, n_rows, detail, who = ok[-1]
    assert n_rows == n and who == "KZ centre"
    assert "format=xlsx" in query and "event_type=crossing" in query and "lang=ru" in query
    assert detail.startswith(f"export events xlsx ru: {n} rows")
    assert any(r[0] == "/api/v1/export/stats" and r[2] == 403 and "country=TJ" in r[1]
               for r in rows)


def test_a_large_events_export_streams_in_pages_and_chunks(api: Api) -> None:
    """125,000 events of one post in one month: 13 pages of at most PAGE_ROWS rows, sent as
    they are read (many HTTP chunks, one Parquet row group per page)."""
    sid, n = "KG-AK-JOL", 125_000
    base = datetime(2026, 11, 3, tzinfo=UTC)
    rows = [event_row(sid, 10_000_000 + i, occurred=base + timedelta(seconds=7 * i))
            for i in range(n)]
    for k in range(0, n, 50_000):
        api.db.insert("events", EVENTS.column_names, rows[k:k + 50_000])
    span = {"from": base.isoformat(), "to": (base + timedelta(days=20)).isoformat(),
            "station": sid}

    async def body(client: TestClient[Any, Any]) -> tuple[int, bytes]:
        resp = await client.get("/api/v1/export/events", params={**span, "format": "parquet"},
                                headers={"Authorization": f"Bearer {api.tokens['all']}"})
        assert resp.headers["Transfer-Encoding"] == "chunked"
        chunks = 0
        out = bytearray()
        async for data, end_of_chunk in resp.content.iter_chunks():
            out += data
            chunks += end_of_chunk
        return chunks, bytes(out)

    chunks, raw = api.run(body)
    pages = n // PAGE_ROWS + 1  # the last page is short (n is no multiple of the page)
    f = pq.ParquetFile(io.BytesIO(raw))
    assert f.metadata.num_rows == n
    assert f.num_row_groups == pages
    assert max(f.metadata.row_group(i).num_rows for i in range(pages)) == PAGE_ROWS
    assert chunks >= pages  # each page went out before the next was read
    ids = f.read(columns=["event id"]).column(0).to_pylist()
    assert len(set(ids)) == n
    audit = api.db.query(f"SELECT query, rows, detail FROM {api.db.database}.api_audit "
                         "WHERE path = '/api/v1/export/events'")
    assert (n, f"export events parquet en: {n} rows, {pages} pages") in [
        (int(r), d) for q, r, d in audit if sid in q], audit
