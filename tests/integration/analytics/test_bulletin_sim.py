"""Bulletins over two months of simulated traffic (the simulator through the pipeline's pure
cores, written to the session's real ClickHouse server 18.16): every figure equals an
independent computation from the event rows (the figure model and what the HTML shows);
the same bulletin twice is the same bytes and the same data version; a corrected event
changes the version (and the figure it corrects); a KZ bulletin holds only KZ posts; the
command line gives the same; Russian and English PDFs carry their words, with no glyph
missing from the fonts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from blo.analytics.bulletin import make, render
from blo.analytics.bulletin.figures import Bulletin
from blo.analytics.bulletin.strings import Lang, kg, number, percent
from blo.analytics.periods import Period
from blo.localservices.clickhouse_server import ClickHouseServer
from sinks.clickhouse import ServerDatabase
from sinks.tables import ALERTS, EVENT_REVISIONS, EVENTS, WINDOW_STATS
from tests.integration.analytics.bulletin_data import (
    C,
    Loaded,
    local_month,
    micro,
    oracle,
    simulate,
)
from tests.integration.sinks.factories import make_row

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
PERIOD = Period.parse("2026-10")
START = datetime(2026, 8, 31, 0, tzinfo=UTC)
END = datetime(2026, 11, 1, 12, tzinfo=UTC)
HEADLINE = ("seizure_cases", "seizure_ukg", "arrests", "crossings", "persons", "vehicles",
            "refused", "detentions", "detained", "incidents")


class Cells(HTMLParser):
    """``data-fig`` key → text of every figure cell of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, str] = {}
        self._key: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._key = dict(attrs).get("data-fig")
        if self._key is not None:
            self.cells[self._key] = ""

    def handle_data(self, data: str) -> None:
        if self._key is not None:
            self.cells[self._key] += data

    def handle_endtag(self, tag: str) -> None:
        self._key = None


def cells_of(page: bytes) -> dict[str, str]:
    p = Cells()
    p.feed(page.decode())
    return p.cells


def reader(db: ServerDatabase) -> Callable[[str, dict[str, Any]], list[Any]]:
    return lambda sql, params: db.query(sql, params)


def alert(i: int, station: str, fired: datetime, *, version: int = 1, state: str = "firing",
          severity: str = "warning", rule: str = "seizure_spike") -> tuple[Any, ...]:
    return make_row(
        ALERTS, i, alert_id=uuid.uuid5(uuid.NAMESPACE_URL, f"alert-{i}"), version=version,
        rule_id=rule, rule_name=f"{rule} (en)", kind="threshold", severity=severity,
        state=state, scope="station", scope_key=station, station_id=station,
        window_kind="month", fired_at=fired, resolved_at=datetime(1970, 1, 1, tzinfo=UTC),
        acked=0, acked_at=datetime(1970, 1, 1, tzinfo=UTC), labels=[],
        messages=json.dumps({"en": "m", "ru": "м",
                             "rule_name": {"en": f"{rule} (en)", "ru": f"правило {rule}"}}))


OCT = datetime(2026, 10, 10, tzinfo=UTC)
ALERTS_ROWS = [
    alert(1, "KZ-KORDAI", OCT),
    alert(1, "KZ-KORDAI", OCT, version=2, state="resolved"),  # latest: resolved
    alert(2, "KZ-KONYSBAEV", OCT + timedelta(days=3), severity="critical"),
    alert(3, "TJ-ISHKASHIM", OCT, severity="critical"),  # another country's post
    alert(4, "KZ-KORDAI", datetime(2026, 11, 5, tzinfo=UTC)),  # after the period
]


@pytest.fixture
def sim(make_clickhouse_db: Callable[..., ServerDatabase]) -> tuple[ServerDatabase, Loaded]:
    db = make_clickhouse_db()
    loaded = simulate(db, START, END)
    db.insert("alerts", ALERTS.column_names, ALERTS_ROWS)
    return db, loaded


def check_figures(b: Bulletin, rows: list[tuple[Any, ...]], stations: set[str]) -> None:
    """The figure model against the oracle: headline (with both comparisons), drugs, posts."""
    cur = oracle(rows, PERIOD.months(), stations)
    prev = oracle(rows, PERIOD.previous().months(), stations)
    yb = oracle(rows, PERIOD.year_before().months(), stations)
    for h in b.headline:
        assert (h.key, h.current, h.previous, h.year_before) == (
            h.key, cur["totals"][h.key], prev["totals"][h.key], yb["totals"][h.key])
    assert [h.key for h in b.headline] == list(HEADLINE)
    assert {d.drug: (d.cases, d.ukg) for d in b.drugs} == {
        d: (cur["drug_cases"][d], cur["drug_ukg"][d]) for d in cur["drug_cases"]}
    assert b.flows or not cur["flows"]
    got = {(f.producing, f.departure, f.transit, f.destination, f.drug): f for f in b.flows}
    assert got.keys() == cur["flows"].keys()
    for k, (ukg, cases) in cur["flows"].items():
        assert abs(round(got[k].kg * 1_000_000) - ukg) <= 1 and got[k].cases == cases, k
    for p in b.post_lines:
        o = cur["post"].get(p.station_id, {})
        for k in HEADLINE:
            if k in ("incidents", "arrests"):
                continue
            assert getattr(p.totals, k) == o.get(k, 0), (p.station_id, k)


def check_page(page: bytes, b: Bulletin, rows: list[tuple[Any, ...]], stations: set[str],
               lang: Lang) -> None:
    """What the HTML shows, against the oracle formatted as the language writes numbers."""
    cells = cells_of(page)
    cur = oracle(rows, PERIOD.months(), stations)["totals"]
    prev = oracle(rows, PERIOD.previous().months(), stations)["totals"]
    for k in HEADLINE:
        name = "seizure_kg" if k == "seizure_ukg" else k
        fmt = (lambda v: kg(v, lang)) if k == "seizure_ukg" else (lambda v: number(v, lang))
        assert cells[f"headline.{name}.current"] == fmt(cur[k]), k
        assert cells[f"headline.{name}.previous"] == fmt(prev[k]), k
        want = None if prev[k] == 0 else round((cur[k] - prev[k]) * 100 / prev[k], 1)
        assert cells[f"headline.{name}.previous_pct"] == percent(want, lang), k
        # nothing a year before: no relative change
        assert cells[f"headline.{name}.year_before_pct"] == ("n/a" if lang == "en" else "н/д")
    o = oracle(rows, PERIOD.months(), stations)
    for d, ukg in o["drug_ukg"].items():
        assert cells[f"drug.{d}.kg"] == kg(ukg, lang)
        assert cells[f"drug.{d}.cases"] == number(o["drug_cases"][d], lang)
    for sid in stations:
        p = o["post"].get(sid, {})
        assert cells[f"post.{sid}.refused"] == number(p.get("refused", 0), lang)
        assert cells[f"post.{sid}.seizure_kg"] == kg(p.get("seizure_ukg", 0), lang)
    posts_shown = {k.split(".")[1] for k in cells if k.startswith("post.")}
    assert posts_shown == stations


def test_bulletin_figures_equal_an_independent_computation(sim: tuple[ServerDatabase, Loaded]
                                                           ) -> None:
    db, loaded = sim
    region = {p.station_id for p in loaded.posts}
    assert sum(1 for r in loaded.rows if r[C["event_type"]] == "seizure"
               and local_month(r) in PERIOD.months()) >= 5  # enough to mean something
    b = make(reader(db), db.database, "region", PERIOD)
    check_figures(b, loaded.rows, region)
    assert b.method.provisional_months == ()  # every window was closed
    assert b.version.events >= sum(n for _, n in b.method.events) > 0
    every = Counter(r[C["event_type"]] for r in loaded.rows if local_month(r) == "2026-10")
    assert dict(b.method.events) == dict(every)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "Glyph … missing from font(s)" fails
        for lang in ("en", "ru"):
            check_page(render(b, lang, "html"), b, loaded.rows, region, lang)  # type: ignore[arg-type]

    # alerts: the latest version of each, by rule and severity, fired in the period
    assert {(a.rule_id, a.severity): (a.count, a.firing) for a in b.alerts} == {
        ("seizure_spike", "warning"): (1, 0), ("seizure_spike", "critical"): (2, 2)}
    assert b.alerts[0].name("ru") == "правило seizure_spike"

    # KZ: only KZ posts; its alerts only
    kz = make(reader(db), db.database, "KZ", PERIOD)
    assert {p.country for p in kz.posts} == {"KZ"}
    assert {p.station_id for p in kz.post_lines} == {"KZ-KORDAI", "KZ-KONYSBAEV"}
    check_figures(kz, loaded.rows, {"KZ-KORDAI", "KZ-KONYSBAEV"})
    assert {(a.rule_id, a.severity): (a.count, a.firing) for a in kz.alerts} == {
        ("seizure_spike", "warning"): (1, 0), ("seizure_spike", "critical"): (1, 1)}
    page = render(kz, "en", "html").decode()
    others = {p.station_id for p in loaded.posts if p.country != "KZ"}
    assert not [s for s in others if s in page]
    assert not [p.name for p in loaded.posts if p.country != "KZ" and p.name in page]


def test_same_command_same_bulletin_and_a_correction_changes_the_version(
        sim: tuple[ServerDatabase, Loaded]) -> None:
    db, loaded = sim
    first = make(reader(db), db.database, "KZ", PERIOD)
    again = make(reader(db), db.database, "KZ", PERIOD)
    assert first == again
    for fmt in ("json", "html", "pdf"):
        assert render(first, "ru", fmt) == render(again, "ru", fmt), fmt  # type: ignore[arg-type]

    # correct one KZ seizure of October: revision 1 with 2 kg more; its month window
    # re-emitted with the new total (as the worker does)
    seizure = next(r for r in loaded.rows if r[C["event_type"]] == "seizure"
                   and r[C["station_id"]].startswith("KZ-") and local_month(r) == "2026-10")
    fixed = list(seizure)
    fixed[C["quantity_kg"]] = (seizure[C["quantity_kg"]] or 0) + 2.0
    fixed[C["quantity"]] = fixed[C["quantity_kg"]]
    fixed[C["quantity_unit"]] = "kg"
    fixed[C["revision"]] = 1
    fixed[C["correction_reason"]] = "weighed again"
    fixed[C["ingested_at"]] = seizure[C["ingested_at"]] + timedelta(days=30)
    db.insert("events", EVENTS.column_names, [tuple(fixed)])
    db.insert("event_revisions", EVENT_REVISIONS.column_names, [
        make_row(EVENT_REVISIONS, 0, event_id=seizure[C["event_id"]],
                 station_id=seizure[C["station_id"]], revision=1, voided=0,
                 correction_reason="weighed again", event_type="seizure",
                 occurred_at=seizure[C["occurred_at"]], ingested_at=fixed[C["ingested_at"]])])
    cols = ", ".join(WINDOW_STATS.column_names)
    [win] = db.query(
        f"SELECT {cols} FROM {db.database}.window_stats WHERE window_kind = 'month' "
        "AND station_id = %(s)s AND event_type = 'seizure' AND dimension = %(d)s "
        "AND window_label = '2026-10' ORDER BY version DESC LIMIT 1",
        {"s": seizure[C["station_id"]], "d": seizure[C["drug"]]})
    w = dict(zip(WINDOW_STATS.column_names, win, strict=True))
    w.update(seizure_kg=w["seizure_kg"] + 2.0, status="corrected", version=w["version"] + 1)
    db.insert("window_stats", WINDOW_STATS.column_names, [tuple(w.values())])

    after = make(reader(db), db.database, "KZ", PERIOD)
    assert after.version.digest != first.version.digest
    assert after.current.seizure_ukg == first.current.seizure_ukg + 2_000_000
    assert after.current.seizure_cases == first.current.seizure_cases
    assert after.method.revised == first.method.revised + 1
    rows = [tuple(fixed) if r is seizure else r for r in loaded.rows]
    check_figures(after, rows, {"KZ-KORDAI", "KZ-KONYSBAEV"})
    # and a bulletin of another country is not affected
    tj = [make(reader(db), db.database, "TJ", PERIOD) for _ in range(2)]
    assert tj[0] == tj[1]


def test_the_command_line_bulletin(sim: tuple[ServerDatabase, Loaded],
                                   clickhouse_server: ClickHouseServer, tmp_path: Path) -> None:
    db, loaded = sim
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env.update(BLO_CLICKHOUSE_URL=clickhouse_server.url(db.database),
               BLO_DATA_DIR=str(tmp_path), PYTHONPATH=str(REPO))

    def blo(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-W", "error::UserWarning", "-m", "blo",
                               "report", "bulletin", *args], env=env, cwd=tmp_path,
                              check=False, capture_output=True, timeout=300)

    one = blo("--scope", "KZ", "--period", "2026-10", "--format", "json")
    two = blo("--scope", "kz", "--period", "2026-10", "--format", "json")
    assert one.returncode == 0, one.stderr.decode()
    assert one.stdout == two.stdout
    figures = json.loads(one.stdout)
    assert {p["country"] for p in figures["posts"]} == {"KZ"}
    o = oracle(loaded.rows, PERIOD.months(), {"KZ-KORDAI", "KZ-KONYSBAEV"})["totals"]
    assert figures["totals"]["refused"] == o["refused"]
    assert round(figures["totals"]["seizure_kg"] * 1_000_000) == o["seizure_ukg"]
    version = figures["data_version"]["digest"]
    assert version in one.stderr.decode()

    for lang, words in (("ru", ("Бюллетень", "Изъятия", "Методологическая", "Версия данных")),
                        ("en", ("bulletin", "Seizures by drug", "Method note"))):
        out = tmp_path / f"kz-{lang}.pdf"
        res = blo("--scope", "KZ", "--period", "2026-10", "--lang", lang, "--format", "pdf",
                  "--out", str(out))
        assert res.returncode == 0, res.stderr.decode()
        assert b"Glyph" not in res.stderr, res.stderr.decode()
        pdf = out.read_bytes()
        extracted = "\n".join(p.extract_text() for p in PdfReader(BytesIO(pdf)).pages)
        for w in words:
            assert w in extracted, (lang, w)
        assert version in extracted
        assert "\u25a1" not in extracted and "\ufffd" not in extracted
        assert "TJ-" not in extracted and "UZ-" not in extracted
        again = blo("--scope", "KZ", "--period", "2026-10", "--lang", lang, "--format", "pdf",
                    "--out", str(out))
        assert again.returncode == 0 and out.read_bytes() == pdf  # byte-stable

    html = blo("--scope", "region", "--period", "2026-10", "--lang", "en")
    assert html.returncode == 0, html.stderr.decode()
    cells = cells_of(html.stdout)
    o = oracle(loaded.rows, PERIOD.months(), {p.station_id for p in loaded.posts})["totals"]
    assert cells["headline.persons.current"] == number(o["persons"], "en")
    assert cells["headline.seizure_kg.current"] == kg(o["seizure_ukg"], "en")

    bad = blo("--scope", "FR", "--period", "2026-10")
    assert bad.returncode == 2 and b"no post" in bad.stderr
    assert micro(1.5) == 1_500_000


def test_both_engines_give_the_same_bulletin(
        make_clickhouse_db: Callable[..., ServerDatabase], make_chdb_db: Callable[..., Any]
) -> None:
    """The same simulated week written to the ClickHouse server (18.16) and to chDB (26.9):
    every query runs on both and the bulletins are equal, data version included."""
    start, end = datetime(2026, 9, 28, tzinfo=UTC), datetime(2026, 10, 6, tzinfo=UTC)
    got = []
    for db in (make_clickhouse_db(), make_chdb_db()):
        simulate(db, start, end)
        db.insert("alerts", ALERTS.column_names, ALERTS_ROWS)
        got.append([make(reader(db), db.database, s, PERIOD) for s in ("region", "KZ")])
    server, chdb = got
    assert server[0].current.crossings > 0 and server[0].flows
    assert server == chdb
    assert render(server[1], "ru", "html") == render(chdb[1], "ru", "html")
