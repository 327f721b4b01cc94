"""The dashboard's ES modules (blo/api/static/js) in a real browser, without a server:
Debian's Chromium (Playwright) loads them from the package directory through a routed
origin, and the pure helpers (formatting, the keyed reconciler, what each panel computes
from a snapshot, the map geometry) are called and checked. Also: every static file is
shipped by the package data of pyproject.toml.

The page as a whole (index.html -> js/main.js, against the real stack) is
tests/integration/api/test_dashboard.py.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
STATIC = REPO / "blo" / "api" / "static"
JS = STATIC / "js"
CHROMIUM = "/usr/bin/chromium"
ORIGIN = "http://dashboard.invalid"
MODULES = sorted(p.stem for p in JS.glob("*.js"))


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (the test extras)")
    assert os.access(CHROMIUM, os.X_OK), \
        f"{CHROMIUM} is missing: `make services-deps` installs Debian's chromium"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-background-networking"])
        ctx = browser.new_context(timezone_id="UTC", locale="en-GB")
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))

        def route(r: Any) -> None:
            url = r.request.url
            if url == ORIGIN + "/":
                r.fulfill(status=200, content_type="text/html",
                          body="<!doctype html><html><body></body></html>")
            elif url.startswith(ORIGIN + "/static/js/") and \
                    (JS / url.rsplit("/", 1)[1]).is_file():
                r.fulfill(status=200, content_type="text/javascript",
                          body=(JS / url.rsplit("/", 1)[1]).read_bytes())
            else:
                r.abort()

        pg.route("**/*", route)
        pg.goto(ORIGIN + "/")
        try:
            yield pg
        finally:
            assert errors == [], errors
            browser.close()


def js(page: Any, expr: str, *modules: str) -> Any:
    """Evaluates ``expr`` with the named modules imported under their names."""
    names = ", ".join(m.replace("-", "_") for m in modules)  # lang-en -> lang_en
    imports = ", ".join(f"import('/static/js/{m}.js')" for m in modules)
    return page.evaluate(
        f"async () => {{ const [{names}] = await Promise.all([{imports}]); return ({expr}); }}")


def test_every_module_but_main_loads_and_links(page: Any) -> None:
    # an import of a name a module does not export fails the link: this catches it
    others = [m for m in MODULES if m != "main"]
    assert {"dom", "api", "format", "map", "alerts", "health", "stations", "main"} <= \
        set(MODULES)
    loaded = js(page, "true", *others)
    assert loaded is True


def test_index_loads_main_as_a_module_and_nothing_from_elsewhere() -> None:
    html = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == ['<script type="module" src="/static/js/main.js">'], scripts
    for f in JS.glob("*.js"):
        text = f.read_text()
        for spec in re.findall(r"""^import .* from '([^']+)';$""", text, re.MULTILINE):
            assert spec.startswith("./") and (JS / spec[2:]).is_file(), (f.name, spec)
        # offline: no address of another host (the SVG namespace is a name, not a request)
        urls = set(re.findall(r"""\w+://[^'"`\s)]*""", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, (f.name, urls)


def test_formatting(page: Any) -> None:
    got = js(page, """{
      ints: [format.fmtInt(12345), format.fmtInt(0), format.fmtInt(null), format.fmtInt(NaN)],
      durs: [42, 7 * 60 + 5, 3 * 3600 + 5 * 60, 49 * 3600, -3, null].map(format.fmtDur),
      ago: [format.fmtAgo(1e6 - 2000, 1e6), format.fmtAgo(1e6 - 600000, 1e6),
            format.fmtAgo(NaN, 1e6)],
      times: [format.hhmm(Date.UTC(2026, 0, 2, 3, 4, 5)), format.hhmmss(Date.UTC(2026, 0, 2, 3, 4, 5)),
              format.isoSeconds(Date.UTC(2026, 0, 2, 3, 4, 5, 678))],
      parsed: [format.parseT('2026-01-02T03:04:05Z'), format.parseT(null)],
      tz: [format.tzLabel('Asia/Almaty', 300), format.tzLabel('UTC', 0),
           format.tzLabel('', 330), format.tzLabel('America/St_Johns', -210)],
      levels: [[0, 10], [1, 1], [10, 10], [1, 100], [30, 100], [60, 100]].map(
        ([n, m]) => format.activityLevel(n, m)),
    }""", "format")
    assert got["ints"] == ["12,345", "0", "—", "—"]
    assert got["durs"] == ["42 s", "7 min", "3 h 05", "2 d", "0 s", "—"]
    assert got["ago"] == ["now", "10 min ago", "—"]
    assert got["times"] == ["03:04", "03:04:05", "2026-01-02T03:04:05Z"]
    assert got["parsed"][0] == 1767323045000 and math.isnan(got["parsed"][1])
    assert got["tz"] == ["Asia/Almaty (UTC+5)", "local (UTC+0)", "local (UTC+5:30)",
                         "America/St_Johns (UTC-3:30)"]
    assert got["levels"] == [0, 4, 4, 1, 3, 4]


def test_keyed_updates_rows_in_place_removes_reorders_and_shows_a_placeholder(
        page: Any) -> None:
    got = js(page, """(() => {
      const ul = document.createElement('ul');
      const made = [];
      const draw = (items) => dom.keyed(ul, items, (x) => x.id,
        (x) => { const li = dom.h('li'); made.push(x.id); return li; },
        (li, x) => { li.textContent = `${x.id}=${x.v}`; },
        () => dom.h('li', { class: 'none', text: 'nothing' }));
      const texts = () => [...ul.children].map((e) => e.textContent);
      draw([{ id: 'a', v: 1 }, { id: 'b', v: 2 }]);
      const a = ul.children[0];
      const first = texts();
      draw([{ id: 'b', v: 3 }, { id: 'a', v: 4 }, { id: 'c', v: 5 }]);
      const second = texts();
      const aKept = ul.children[1] === a;
      draw([]);
      const empty = texts();
      draw([{ id: 'c', v: 6 }]);
      return { first, second, aKept, empty, last: texts(), made };
    })()""", "dom")
    assert got["first"] == ["a=1", "b=2"]
    assert got["second"] == ["b=3", "a=4", "c=5"]
    assert got["aKept"] is True  # the same element, updated (a click on it survives)
    assert got["empty"] == ["nothing"]
    assert got["last"] == ["c=6"]
    assert got["made"] == ["a", "b", "c", "c"]  # c again: it was removed in between


def test_hyperscript_sets_text_attributes_and_children(page: Any) -> None:
    got = js(page, """(() => {
      const el = dom.h('td', { class: 'num', title: null, hidden: true, text: 'x',
                               dataset: { key: 'k' } }, dom.h('b', null, 7), null, ['y', 'z']);
      const svg = dom.s('circle', { r: 3 });
      return { html: el.outerHTML, ns: svg.namespaceURI, r: svg.getAttribute('r') };
    })()""", "dom")
    assert got["html"] == '<td class="num" hidden="" data-key="k">x<b>7</b>yz</td>'
    assert got["ns"] == "http://www.w3.org/2000/svg" and got["r"] == "3"


def test_connection_helpers(page: Any) -> None:
    got = js(page, """{
      iv: [[], [1000, 3000, 2000], [100, 100, 100], [9e5]].map(connection.intervalMs),
      retry: [[0, 0.5], [0, 0], [3, 0.999], [40, 0.5]].map(([n, r]) => connection.retryDelayMs(n, r)),
      stale: connection.bannerFor('stale', false, 12, Date.UTC(2026, 0, 1, 10, 0, 0)),
      dbDownOld: connection.bannerFor('live', true, 90, Date.UTC(2026, 0, 1, 10, 0, 0)),
      lost: connection.bannerFor('reconnecting', false, null, null),
      live: connection.bannerFor('live', false, 1, 0),
      unauth: connection.bannerFor('unauthorized', false, null, null),
      titles: [connection.titleFor(3, 'stale'), connection.titleFor(0, 'live'),
               connection.titleFor(undefined, 'reconnecting'), connection.titleFor(2, 'live')],
      skew: [clock.skewOf(1e6, 1e6), clock.skewOf(1e6 + 10000, 1e6)],
    }""", "connection", "clock")
    assert got["iv"] == [2000, 2000, 500, 60000]
    assert got["retry"][0] == 1000 and got["retry"][1] == 800
    assert 5000 * 1.19 < got["retry"][2] < 5000 * 1.2 and got["retry"][3] == 30000
    assert got["stale"] == {"msg": "No update from the server for 12 s. Showing data of "
                            "10:00:00 UTC (12 s old). Waiting for the stream…", "bad": False}
    assert got["dbDownOld"]["msg"].startswith("The database is not answering.")
    assert got["dbDownOld"]["bad"] is True
    assert got["lost"] == {"msg": "Connection to the server lost. Reconnecting automatically.",
                           "bad": False}
    assert got["live"] == {"msg": None, "bad": False}
    assert got["unauth"]["bad"] is True
    assert got["titles"] == ["⚠ (3) BLO network · live", "BLO network · live",
                             "⚠ BLO network · live", "(2) BLO network · live"]
    assert got["skew"] == [0, 10500]  # only a skew of more than 3 s is corrected


def test_api_helpers(page: Any) -> None:
    got = js(page, """{
      tokens: ['#token=blo_a%2Bb', '#x=1&token=t2', '#tokens=no', ''].map(api.tokenOfHash),
      errors: [api.errorText(400, { error: 'bad request', problems: ['from: not a time', 'x'] }),
               api.errorText(503, null), api.errorText(500, { detail: 1 })],
    }""", "api")
    assert got["tokens"] == ["blo_a+b", "t2", None, None]
    assert got["errors"] == ["bad request: from: not a time; x", "HTTP 503", "HTTP 500"]


SNAP = {
    "at": "2026-01-02T10:00:30Z", "events_1h": 1234, "alerts_open": 3,
    "stations": [
        {"station_id": "UZ-T1", "country": "UZ", "name": "Oybek", "events_1h": 0,
         "last_event_at": None, "lat": 40.9, "lon": 69.3},
        {"station_id": "KZ-T2", "country": "KZ", "name": "Konysbaev", "events_1h": 30,
         "last_event_at": "2026-01-02T09:59:00Z", "lat": 41.27, "lon": 69.05},
        {"station_id": "KZ-T1", "country": "KZ", "name": "Kordai", "events_1h": 1204,
         "last_event_at": "2026-01-02T10:00:10Z", "lat": 43.0, "lon": 74.7},
    ],
    "series": [{"t": "2026-01-02T09:59:00Z", "events": 40},
               {"t": "2026-01-02T10:00:00Z", "events": 7}],
    "alerts": [
        {"alert_id": "a1", "severity": "warning", "fired_at": "2026-01-02T09:50:00Z",
         "acked": False, "scope": "station", "scope_key": "KZ-T1", "station_id": "KZ-T1"},
        {"alert_id": "a2", "severity": "critical", "fired_at": "2026-01-02T09:40:00Z",
         "acked": True, "acked_by": "duty-officer (tok_abc)", "scope": "country",
         "scope_key": "KZ"},
        {"alert_id": "a3", "severity": "warning", "fired_at": "2026-01-02T09:55:00Z",
         "acked": False, "scope": "pair", "scope_key": "KZ-T1/KG-T1"},
    ],
}


def test_what_the_panels_show_of_a_snapshot(page: Any) -> None:
    got = page.evaluate("""async (snap) => {
      const [kpis, alerts, stations, chart] = await Promise.all(
        ['kpis', 'alerts', 'stations', 'chart'].map((m) => import(`/static/js/${m}.js`)));
      const now = Date.parse(snap.at);
      const total = chart.chartData(snap, null, null, now);
      const loading = chart.chartData(snap, { kind: 'station', id: 'KZ-T1' }, null, now);
      const sel = chart.chartData(snap, { kind: 'station', id: 'KZ-T1' },
        { key: 'station:KZ-T1', points: new Map([[Date.parse('2026-01-02T09:59:00Z'), 9]]) }, now);
      const other = chart.chartData(snap, { kind: 'country', id: 'KZ' },
        { key: 'station:KZ-T1', points: new Map() }, now);
      return {
        kpi: kpis.kpiView(snap),
        order: alerts.sortAlerts(snap.alerts).map((a) => a.alert_id),
        worst: [alerts.worstSeverity(snap.alerts), alerts.worstSeverity([])],
        subjects: snap.alerts.map(alerts.alertSubject),
        acker: alerts.ackedByName(snap.alerts[1]),
        posts: stations.sortStations(snap.stations).map((x) => x.station_id),
        countries: stations.countryTotals(stations.sortStations(snap.stations)),
        total: { n: total.slots.length, last: total.slots[59] === Date.parse('2026-01-02T10:00:00Z'),
                 tail: total.shown.slice(-2), step: total.step, msg: total.msg, sel: total.sel },
        loading: { msg: loading.msg, zero: loading.shown.every((v) => v === 0) },
        sel: { tail: sel.shown.slice(-2), total: sel.total.slice(-2), msg: sel.msg, step: sel.step },
        other: other.msg,
        waiting: chart.chartData(null, null, null, now).msg,
        steps: [0, 4, 7, 9, 100, 1000, 1234].map(chart.niceStep),
      };
    }""", SNAP)
    assert got["kpi"] == {"events": "1234", "eventsText": "1,234", "reporting": "2 / 3",
                          "alertsText": "3", "alertsClass": "kpi-v sev-critical",
                          "breakdown": "1 critical · 2 warning"}
    assert got["order"] == ["a2", "a3", "a1"]  # the worst, then the newest (the API's order)
    assert got["worst"] == ["critical", None]
    assert got["subjects"] == ["KZ-T1", "country KZ", "KZ-T1/KG-T1"]
    assert got["acker"] == "duty-officer"
    assert got["posts"] == ["KZ-T2", "KZ-T1", "UZ-T1"]  # by country, then name
    assert got["countries"] == [["KZ", 1234], ["UZ", 0]]
    assert got["total"] == {"n": 60, "last": True, "tail": [40, 7], "step": 10, "msg": None,
                            "sel": None}
    assert got["loading"] == {"msg": "loading…", "zero": True}
    assert got["sel"] == {"tail": [9, 0], "total": [40, 7], "msg": None, "step": 5}
    assert got["other"] == "loading…"  # a series of another selection is not shown
    assert got["waiting"] == "waiting for data…"
    assert got["steps"] == [1, 1, 2, 5, 25, 250, 500]  # 2.5 only where it is whole


def test_interior_posts_are_marked_in_the_posts_panel_and_the_map_tooltip(page: Any) -> None:
    airport = {"station_id": "KZ-ALMATY-AIRPORT", "name": "Almaty airport", "country": "KZ",
               "agency": "customs", "border": "", "interior": True, "paired_blo": None,
               "crossing_point": "Almaty airport", "active": True, "events_1h": 3,
               "last_event_at": None, "alert": None}
    post = {**airport, "station_id": "KZ-KORDAI", "border": "KG-KZ", "interior": False,
            "crossing_point": "Kordai", "active": False}
    got = page.evaluate("""async (posts) => {
      const [stations, map] = await Promise.all(
        ['stations', 'map'].map((m) => import(`/static/js/${m}.js`)));
      return {
        notes: posts.map(stations.stationNote),
        tips: posts.map((s) => map.stationTip(s, 0).filter(Boolean)
          .filter(([k]) => k === 'border' || k === 'site' || k === 'crossing')),
      };
    }""", [airport, post])
    assert got["notes"] == ["KZ-ALMATY-AIRPORT · interior", "KZ-KORDAI · inactive"]
    assert got["tips"] == [[["site", "Almaty airport"], ["border", "none: interior post"]],
                           [["crossing", "Kordai"], ["border", "KG-KZ"]]]


def test_health_view(page: Any) -> None:
    doc = {"at": "2026-01-02T10:00:30Z", "stations": [
        {"station_id": "KZ-T1", "last_event_at": "2026-01-02T09:58:00Z",
         "last_ingested_at": "2026-01-02T09:58:02Z", "late_events_24h": 2,
         "dead_letters_24h": 0, "events_30d": 10},
        {"station_id": "UZ-T1", "last_event_at": "2026-01-02T07:00:00Z",
         "last_ingested_at": "2026-01-02T07:10:00Z", "late_events_24h": 0,
         "dead_letters_24h": 5, "events_30d": 3},
        {"station_id": "XX-T9", "last_event_at": None, "last_ingested_at": None,
         "late_events_24h": None, "dead_letters_24h": None, "events_30d": 0},
    ]}
    got = page.evaluate("""async ([doc, snap]) => {
      const health = await import('/static/js/health.js');
      const v = health.healthView(doc, snap.stations, Date.parse('2026-01-02T10:00:30Z'));
      return { dlq: v.dlq, late: v.late, silent: v.silent, rows: v.rows.map((r) => ({
        id: r.r.station_id, name: r.live ? r.live.name : null, age: r.age, delay: r.delay,
        lastClass: r.lastClass, delayClass: r.delayClass })) };
    }""", [doc, SNAP])
    assert (got["dlq"], got["late"], got["silent"]) == (5, 2, 2)
    assert got["rows"] == [
        # the snapshot's last event (10:00:10) is newer than the report's (09:58)
        {"id": "KZ-T1", "name": "Kordai", "age": 20, "delay": 2, "lastClass": "num ",
         "delayClass": "num "},
        {"id": "UZ-T1", "name": "Oybek", "age": 10830, "delay": 600, "lastClass": "num bad",
         "delayClass": "num bad"},
        {"id": "XX-T9", "name": None, "age": None, "delay": None, "lastClass": "num zero",
         "delayClass": "num zero"},
    ]


def test_map_geometry(page: Any) -> None:
    proj = {"type": "lcc", "lon0": 66.0, "lat0": 42.0, "lat1": 36.0, "lat2": 50.0,
            "x0": -0.3, "y1": 0.2, "k": 1000}
    got = page.evaluate("""async (p) => {
      const geo = await import('/static/js/geo.js');
      const proj = geo.makeProjection(p);
      const st = [{ station_id: 'B', lon: 70, lat: 41 }, { station_id: 'A', lon: 70, lat: 41 },
                  { station_id: 'C', lon: 60, lat: 45 }];
      const k = 0.5;
      const lay = geo.layoutMarkers(st, proj, k);
      const d = (a, b) => Math.hypot(lay.get(a).x - lay.get(b).x, lay.get(a).y - lay.get(b).y);
      const m = { width: 1000, height: 800, extent: [0, 0, 1000, 800] };
      const wide = geo.viewBox(m, [[100, 100], [200, 150]], 'stations', 2);
      const region = geo.viewBox(m, [[100, 100]], 'region', 1000 / 800);
      const labels = geo.placeLabels(st.slice(2), lay, k, [], () => 40, 0.12);
      const blocked = geo.placeLabels(st.slice(2), lay, k,
        [{ x0: -1e6, y0: -1e6, x1: 1e6, y1: 1e6 }], () => 40, 0.12);
      return {
        origin: proj(66, 42), east: proj(70, 42)[0] > proj(66, 42)[0],
        north: proj(66, 45)[1] < proj(66, 42)[1],
        apart: d('A', 'B'), cMoved: Math.hypot(lay.get('C').x - lay.get('C').ax,
                                               lay.get('C').y - lay.get('C').ay),
        aAnchor: [lay.get('A').ax, lay.get('A').ay].join(), bAnchor: [lay.get('B').ax, lay.get('B').ay].join(),
        wide: [wide.w / wide.h, wide.w >= 230], region,
        label: labels.get('C') ? labels.get('C').anchor : null, blocked: blocked.size,
        path: geo.pathOf([[1, 2], [3.04, 4.06]]),
      };
    }""", proj)
    ox, oy = got["origin"]
    assert abs(ox - 300) < 1e-6 and abs(oy - 200) < 1e-6  # (lon0, lat0): (-x0 k, y1 k)
    assert got["east"] and got["north"]
    assert got["apart"] >= 26 * 0.5  # coincident posts spread to 26 px on screen
    assert got["aAnchor"] == got["bAnchor"]  # both still point at the true place
    assert got["cMoved"] == 0
    assert abs(got["wide"][0] - 2) < 1e-9 and got["wide"][1]
    assert got["region"] == {"x": 0, "y": 0, "w": 1000, "h": 800}
    assert got["label"] == "start"  # free room: the first place, right of the marker
    assert got["blocked"] == 0      # no room anywhere: no label (the tooltip tells)
    assert got["path"] == "M1.0,2.0L3.0,4.1"


def test_selection_series_query(page: Any) -> None:
    got = js(page, """selection.seriesQuery({ kind: 'country', id: 'KZ' },
                                            Date.parse('2026-01-02T10:00:30Z')).toString()""",
             "selection")
    assert got == ("stat=events&window=1m&from=2026-01-02T09%3A00%3A00Z"
                   "&to=2026-01-02T10%3A01%3A00Z&country=KZ")


def test_the_package_ships_every_dashboard_file() -> None:
    # setuptools' package-data globs, relative to the package (blo/api); a file they miss
    # is absent from a wheel (`pip install .`, the Docker image) and the page breaks there
    conf = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = conf["tool"]["setuptools"]["package-data"]["blo.api"]
    pkg = STATIC.parent
    shipped = {p for pat in patterns for p in pkg.glob(pat) if p.is_file()}
    files = {p for p in STATIC.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert files - shipped == set(), sorted(str(p.relative_to(pkg)) for p in files - shipped)
    assert JS / "main.js" in shipped


def test_languages_plurals_and_vocabularies(page: Any) -> None:
    got = js(page, """(async () => {
      const picks = [i18n.pickLang(['ru-RU', 'en'], null), i18n.pickLang(['de-DE', 'en-US'], null),
        i18n.pickLang(['ru'], 'en'), i18n.pickLang(['fr'], 'xx'), i18n.pickLang(undefined, null)];
      const en = [i18n.vocab('drug', 'heroin'), i18n.vocab('drug', 'new_stuff'),
        i18n.tn('feed.detained', 1), i18n.tn('feed.detained', 3), format.fmtKg(1250.5),
        format.utcAndLocal(Date.UTC(2026, 0, 2, 3, 4), 'Asia/Dushanbe'),
        format.utcAndLocal(Date.UTC(2026, 0, 2, 3, 4), '')];
      await i18n.setLang('ru', false);
      const ru = [i18n.vocab('drug', 'heroin'), i18n.tn('feed.detained', 1),
        i18n.tn('feed.detained', 3), i18n.tn('feed.detained', 5), i18n.tn('feed.detained', 21),
        format.fmtInt(12345), format.fmtKg(0.8), format.fmtDur(7 * 60), format.fmtAgo(0, 600000),
        format.utcAndLocal(Date.UTC(2026, 0, 2, 3, 4), 'Asia/Dushanbe'), i18n.t('no.such.key'),
        i18n.locale()];
      await i18n.setLang('en', false);
      return { picks, en, ru, back: i18n.t('feed.h') };
    })()""", "i18n", "format")
    assert got["picks"] == ["ru", "en", "en", "en", "en"]
    assert got["en"] == ["heroin", "new stuff", "1 person detained", "3 persons detained",
                         "1,250.5 kg", "03:04 UTC · 08:04 local", "03:04 UTC"]
    nbsp = "\u00a0"
    assert got["ru"][:5] == ["героин", "1 человек задержан", "3 человека задержаны",
                             "5 человек задержаны", "21 человек задержан"]
    assert got["ru"][5] in (f"12{nbsp}345", "12\u202f345")  # Intl's Russian grouping
    assert got["ru"][6:10] == ["0,8 кг", "7 мин", "10 мин назад", "03:04 UTC · 08:04 местн."]
    assert got["ru"][10:] == ["no.such.key", "ru-RU"]
    assert got["back"] == "What happened"


def test_what_the_feed_and_the_post_page_show(page: Any) -> None:
    got = js(page, """(() => {
      const items = [
        { event_type: 'seizure', drug: 'heroin', kg: 120, arrests: 2 },
        { event_type: 'seizure', drug: 'hashish', kg: 0.8, arrests: 0 },
        { event_type: 'detention', persons: 3, offence: 'smuggling' },
        { event_type: 'incident', incident_type: 'crisis', impact: 'high', persons: 4 }];
      const t0 = Date.parse('2026-01-02T00:00:00Z');
      const pts = [
        { t: '2026-01-02T00:00:00Z', event_type: 'crossing', events: 5, seizure_kg: 0 },
        { t: '2026-01-02T02:00:00Z', event_type: 'crossing', events: 7, seizure_kg: 0 },
        { t: '2026-01-02T02:00:00Z', event_type: 'seizure', events: 1, seizure_kg: 120 },
        { t: '2026-01-01T23:00:00Z', event_type: 'crossing', events: 99, seizure_kg: 0 }];
      const sts = [{ station_id: 'US-X', country: 'US', name: 'a' },
        { station_id: 'KZ-A', country: 'KZ', name: 'b' }, { station_id: 'TJ-A', country: 'TJ', name: 'a' }];
      const split = stations.splitRegion(sts);
      return {
        lines: items.map(feed.feedLine),
        rows: post.seriesRows(pts, t0, 3600000, 3),
        region: split.region.map((x) => x.station_id), others: split.others.map((x) => x.station_id),
        alerts: post.postAlerts([{ station_id: 'KZ-A', scope_key: 'KZ-A' },
          { station_id: '', scope_key: 'KG-B+KZ-A' }, { station_id: 'TJ-A', scope_key: 'TJ-A' },
          { station_id: '', scope_key: 'KZ' }], 'KZ-A').length,
      };
    })()""", "feed", "post", "stations")
    assert got["lines"] == [
        {"what": "heroin · 120 kg", "detail": "2 arrested", "level": "big"},
        {"what": "hashish · 0.8 kg", "detail": "", "level": ""},
        {"what": "3 persons detained", "detail": "smuggling", "level": ""},
        {"what": "crisis", "detail": "impact: high · 4 persons", "level": "big"}]
    assert got["rows"] == [
        {"event_type": "crossing", "values": [5, 0, 7], "total": 12, "kg": 0},
        {"event_type": "seizure", "values": [0, 0, 1], "total": 1, "kg": 120}]
    assert got["region"] == ["KZ-A", "TJ-A"] and got["others"] == ["US-X"]
    assert got["alerts"] == 2  # its own and its pair's, not another post's or a country's


COUNTS = {"firing": 2400, "alerts": 2500, "by_severity": {"critical": 10, "warning": 60, "info": 2330},
          "open": {"total": 2346, "critical": 8, "warning": 42, "info": 2296},
          "open_muted": {"total": 54, "critical": 2, "warning": 18, "info": 34}}


def test_the_alert_figures_are_the_apis_counts_not_the_page(page: Any) -> None:
    # a snapshot carries 3 alerts but counts 2,346 open (54 muted apart): the tile and the
    # panel header show the counts, the "N of M" the page against every firing one
    snap = {**SNAP, "alerts_open": 2346, "alerts_counts": COUNTS}
    got = js(page, """(() => {
      const s = __SNAP__;
      const few = { ...s, alerts_counts: { ...s.alerts_counts,
        open: { total: 1, critical: 0, warning: 0, info: 1 },
        open_muted: { total: 0, critical: 0, warning: 0, info: 0 } } };
      return { kpi: kpis.kpiView(s), few: kpis.kpiView(few), counts: alerts.openCounts(s),
               plain: alerts.openCounts({ alerts_open: 3, alerts: s.alerts }),
               sub: alerts.panelSub(alerts.openCounts(s)), shown: alerts.shownOf(3, 2400),
               firing: [alerts.firingTotal(s), alerts.firingTotal(few), alerts.firingTotal({ alerts_open: 3, alerts: [] })] };
    })()""".replace("__SNAP__", json.dumps(snap)), "kpis", "alerts")
    assert got["counts"] == {"total": 2346, "critical": 8, "warning": 42, "info": 2296,
                             "muted": 54}
    assert got["plain"] == {"total": 3, "critical": 1, "warning": 2, "info": 0, "muted": 0}
    assert got["kpi"]["alertsText"] == "2,346"
    assert got["kpi"]["breakdown"] == "8 critical · 42 warning · 2,296 info · 54 muted"
    assert got["kpi"]["alertsClass"] == "kpi-v sev-critical"
    # the worst is that of the counts, not of the page (whose a2 is critical)
    assert got["few"]["alertsClass"] == "kpi-v"
    assert got["sub"] == "· 2,346 open (8 critical · 42 warning · 2,296 info) · 54 muted"
    assert got["shown"] == "3 of 2,400"
    # the page is of every firing alert (muted or not); without counts: open + muted
    assert got["firing"] == [2400, 2400, 3]


def test_the_alert_panels_query_and_group_acknowledgement(page: Any) -> None:
    got = js(page, """(() => {
      const v = alerts.DEFAULT_VIEW;
      const g = { rule_id: 'sequence-gap', rule_name: 'Gap', scope: 'station',
                  scope_key: 'KZ-T1', count: 12, acked: 5, worst_severity: 'warning' };
      return {
        dflt: [alerts.isDefaultView(v), alerts.alertsQuery(v)],
        filtered: [alerts.isDefaultView({ ...v, country: 'KZ' }),
          alerts.alertsQuery({ ...v, severity: 'critical', acked: 'unacked', country: 'KZ',
                               station: 'KZ-T1', group: true }, 50)],
        any: alerts.alertsQuery({ ...v, state: '', acked: 'acked' }),
        grouped: alerts.isDefaultView({ ...v, group: true }),
        body: [alerts.groupAckBody(g, 'on it'), alerts.groupAckBody(g, '', true)],
        line: alerts.groupLine(g),
        one: alerts.groupLine({ ...g, count: 1, acked: 0 }),
      };
    })()""", "alerts")
    assert got["dflt"] == [True, "/api/v1/alerts?state=firing&sort=severity&limit=100"]
    assert got["filtered"] == [False, (
        "/api/v1/alerts?state=firing&severity=critical&acknowledged=false&country=KZ&"
        "station=KZ-T1&sort=severity&group=rule_scope&limit=50")]
    assert got["any"] == "/api/v1/alerts?acknowledged=true&sort=severity&limit=100"
    assert got["grouped"] is False
    assert got["body"] == [
        {"rule": "sequence-gap", "scope": "KZ-T1", "open": True, "comment": "on it",
         "dry_run": False},
        {"rule": "sequence-gap", "scope": "KZ-T1", "open": True, "comment": "",
         "dry_run": True}]
    assert got["line"] == "12 alerts · 7 not acknowledged"
    assert got["one"] == "1 alert · 1 not acknowledged"


def test_the_alert_panels_texts_in_russian(page: Any) -> None:
    got = js(page, """(async () => {
      await i18n.setLang('ru', false);
      try {
        const g = { rule_id: 'r', scope_key: 'KZ', count: 5, acked: 3 };
        return { line: alerts.groupLine(g), shown: alerts.shownOf(50, 2400),
                 kpi: kpis.kpiView({ stations: [], events_1h: 0, alerts_counts: __COUNTS__ }).breakdown };
      } finally { await i18n.setLang('en', false); }
    })()""".replace("__COUNTS__", json.dumps(COUNTS)), "alerts", "kpis", "i18n")
    assert got["line"] == "5 тревог · 2 не подтверждены"
    assert got["shown"].startswith("50 из 2")
    assert got["kpi"].endswith("54 заглушены")  # 54: the "few" form


def test_an_alerts_message_in_the_pages_language(page: Any) -> None:
    got = js(page, """(async () => {
      const a = { message: 'KZ-KORDAI: 60.0 kg seized',
                  messages: { en: 'KZ-KORDAI: 60.0 kg seized', ru: 'KZ-KORDAI: изъято 60.0 кг' } };
      const old = { message: 'stored before languages' };
      await i18n.setLang('ru', false);
      try {
        return [alerts.alertMessage(a), alerts.alertMessage(old), alerts.alertMessage(a, 'en'),
                alerts.alertMessage({ ...a, messages: { en: a.message } })];
      } finally { await i18n.setLang('en', false); }
    })()""", "alerts", "i18n")
    assert got == ["KZ-KORDAI: изъято 60.0 кг", "stored before languages",
                   "KZ-KORDAI: 60.0 kg seized", "KZ-KORDAI: 60.0 kg seized"]
