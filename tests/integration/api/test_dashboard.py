"""The live dashboard in a real browser: Debian's Chromium driven by Playwright, against
the real stack (Tansu broker, ClickHouse server, ``blo worker``, ``blo api``).

The page must load without console errors and without one request leaving the machine,
show a marker per visible station, update its events-per-hour figure from the live stream
after new events are published, show and acknowledge alerts, honour the token's scope, ask
for a token (and refuse a bad one), show a silent stream as stale and reconnect after the
server drops. The page is native ES modules (blo/api/static/js, no bundler), served as
JavaScript. Full-page screenshots are kept in ``test-artifacts/`` (dashboard.png, the
regional view; dashboard-kz.png, a national one; dashboard-stale.png).

One stack serves the module (~40 s on 2 cores): unique topics and database on the session's
broker and ClickHouse server, a worker with a one-rule rules file, `blo api` in server mode.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.tansu import TansuBroker, free_port
from blo.settings import ClickHouseSettings, parse_clickhouse_url
from sinks.clickhouse import ServerDatabase
from tests.fixtures_clickhouse import unique_database
from tests.integration.api.chromium import ARTIFACTS, browser, screenshot, watched_page
from tests.integration.streams.harness import REPO, Pipeline, crossing, station, wait_for

__all__ = ["browser"]  # the fixture, shared with test_dashboard_live.py

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]


# distinct, plausible positions (near real BLO sites) so the map and screenshot mean something
STATIONS = [
    station("KZ-T1", "KZ", "KG", "Asia/Almaty", name="Kordai test", lat=43.0, lon=74.7),
    station("KZ-T2", "KZ", "UZ", "Asia/Almaty", name="Konysbaev test", lat=41.27, lon=69.05),
    station("KG-T1", "KG", "TJ", "Asia/Bishkek", name="Bor-Dobo test", lat=39.48, lon=73.4),
    station("TJ-T1", "TJ", "AF", "Asia/Dushanbe", name="Pyanj test", lat=37.2, lon=68.6),
    station("UZ-T1", "UZ", "TJ", "Asia/Tashkent", name="Oybek test", lat=40.9, lon=69.3),
    station("TM-T1", "TM", "UZ", "Asia/Ashgabat", name="Farap test", lat=39.17, lon=63.61),
]
INITIAL = {"KZ-T1": 6, "KZ-T2": 4, "KG-T1": 5, "TJ-T1": 8, "UZ-T1": 3, "TM-T1": 4}
BUSY = 7  # events in one minute that raise the test rule's alert (INITIAL: TJ-T1 only)
RULES_YAML = f"""\
version: 1
rules:
  - id: busy-minute
    name:
      en: Unusually busy minute at a post
      ru: Необычно много событий за минуту на посту
    severity: critical
    labels: {{team: operations}}
    message: "{{station_id}}: {{value}} events in the minute from {{window_start}} (threshold {{threshold}})"
    kind: threshold
    statistic: events
    window: 1m
    scope: station
    op: ">="
    raise: {BUSY}
    on: provisional
"""


@dataclass
class ApiProc:
    """`blo api` (server mode) as a subprocess: start, stop, pause, on one fixed port."""

    pipeline: Pipeline
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "blo", "api"], cwd=self.pipeline.workdir, stdout=log,
                stderr=subprocess.STDOUT,
                env=self.pipeline.env(BLO_API_HOST="127.0.0.1", BLO_API_PORT=str(self.port),
                                      BLO_API_LIVE_INTERVAL_S="1",
                                      # the admin user (least privilege is
                                      # test_least_privilege.py)
                                      BLO_API_ALLOW_UNSAFE_USERS="true"))

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_path.read_text()
            return _get(self.base + "/healthz")[0] == 200

        wait_for(up, 60, "blo api to answer /healthz")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)  # in case a test left it paused
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)


@dataclass
class Stack:
    pipeline: Pipeline
    api: ApiProc
    tokens: dict[str, str] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.api.base

    def publish(self, counts: dict[str, int], at: datetime | None = None) -> int:
        """``counts`` crossings per station (consecutive report numbers per station)."""
        records = []
        for sid, n in counts.items():
            for _ in range(n):
                self.seqs[sid] = self.seqs.get(sid, 0) + 1
                body = crossing(sid, self.seqs[sid], at=at)
                records.append((sid.encode(), json.dumps(body).encode()))
        return self.pipeline.produce(records)


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token
                                 else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, bytes(r.read())
    except urllib.error.HTTPError as e:
        return e.code, bytes(e.read())
    except OSError:
        return 0, b""


@pytest.fixture(scope="module")
def stack(kafka_broker: TansuBroker, clickhouse_server: ClickHouseServer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One pipeline for the module: unique topics and database, a worker, `blo api` (server
    mode) on a free port, an all-countries and a KZ-only token, the stations registered and
    INITIAL events stored."""
    name = unique_database()
    workdir = tmp_path_factory.mktemp("dashboard")
    rules = workdir / "rules.yaml"
    rules.write_text(RULES_YAML)
    p = Pipeline(kafka_broker.bootstrap, clickhouse_server.url(name), name, workdir,
                 extra_env={"BLO_ALERTS_RULES": str(rules)})
    p.create_topics()
    p.load_stations(STATIONS)
    api = ApiProc(p, free_port(), workdir / "api.log")
    try:
        w = p.worker()
        w.wait_ready(120)
        tokens = {}
        for tname, args in (("duty-officer", ["--all"]), ("kz-centre", ["--country", "KZ"])):
            res = p.blo("tokens", "create", tname, *args)
            assert res.returncode == 0, res.stderr
            tokens[tname] = res.stdout.strip()
        api.start()
        s = Stack(p, api, tokens)
        # all in one minute (its start: far enough from the next one), so TJ-T1's 8 events
        # share a 1-minute window and raise the rule's alert
        s.publish(INITIAL, at=datetime.now(UTC).replace(second=0, microsecond=0))

        def stored() -> bool:
            code, body = _get(s.base + "/api/v1/stats?group_by=station&window=1m",
                              tokens["duty-officer"])
            rows = json.loads(body).get("rows", []) if code == 200 else []
            return {r["station"]: r["events"] for r in rows} == INITIAL

        wait_for(stored, 120, "the initial events in window_stats (through the API)", every=1)
        yield s
    finally:
        api.stop()
        p.kill_workers()
        db = ServerDatabase(parse_clickhouse_url(clickhouse_server.url(name)), ClickHouseSettings())
        with contextlib.suppress(Exception):
            db.command(f"DROP DATABASE IF EXISTS {name}")
        db.close()


def _markers(page: Any) -> set[str]:
    return set(page.eval_on_selector_all(
        "#map [data-station-id]", "els => els.map(e => e.dataset.stationId)"))


def _events_shown(page: Any) -> int | None:
    # one read of both (two reads could straddle an update: '40' shown, '37' before it)
    raw, text = page.eval_on_selector(
        '[data-testid="events-1h"]', "e => [e.getAttribute('data-value'), e.textContent]")
    text = text or ""
    if not raw:
        return None
    assert text.replace(",", "") == raw, (text, raw)  # what is shown is that number
    return int(raw)


def test_the_modules_are_served_as_javascript_and_nothing_beside_them(stack: Stack) -> None:
    # a module script with another MIME type is refused by the browser (the page would stay
    # blank); the one subfolder the static route allows is js/, and only plain names in it
    static = REPO / "blo" / "api" / "static"
    modules = sorted(static.glob("js/*.js"))
    assert len(modules) >= 10
    for f in modules:
        with urllib.request.urlopen(f"{stack.base}/static/js/{f.name}", timeout=5) as r:
            assert r.headers.get_content_type() in ("text/javascript", "application/javascript")
            assert r.read() == f.read_bytes()
    for path in ("/static/js/..%2f..%2fapp.py", "/static/js/%2e%2e/app.py", "/static/js/.x.js",
                 "/static/js/js/main.js", "/static/other/main.js", "/static/js/"):
        code, body = _get(stack.base + path)
        assert code == 404, (path, code, body[:200])


def test_dashboard_shows_the_stations_and_follows_new_events(stack: Stack, browser: Any) -> None:
    token = stack.tokens["duty-officer"]
    with watched_page(browser) as w:
        page = w.page
        page.goto(f"{stack.base}/#token={token}")
        ids = {s["station_id"] for s in STATIONS}
        wait_for(lambda: _markers(page) == ids, 60, "a map marker per station")
        assert "token=" not in page.url  # taken from the fragment, then removed
        before = sum(INITIAL.values())
        wait_for(lambda: _events_shown(page) == before, 60,
                 f"the events of the last hour shown as {before}")
        assert page.get_attribute("#conn", "data-state") == "live"
        # the station list and the health table know every station too
        assert set(page.eval_on_selector_all(
            "[data-row-station]", "els => els.map(e => e.dataset.rowStation)")) == ids
        wait_for(lambda: page.locator("[data-health-station]").count() == len(ids), 60,
                 "the pipeline health rows")

        more = {"KZ-T1": 5, "TM-T1": 2}
        stack.publish(more)
        after = before + sum(more.values())
        wait_for(lambda: _events_shown(page) == after, 90,
                 f"the shown number to follow the new events ({before} -> {after})", every=0.5)
        wait_for(lambda: "Kordai test" in (page.text_content("#station-table") or ""), 10,
                 "the station list")

        # the rule's alert is in the feed, and the station's marker is ringed
        # (KZ-T1 may have one too: its 6 + 5 events can share a minute)
        alert = '#alert-feed li[data-alert-id]:has-text("TJ-T1")'
        wait_for(lambda: page.locator(alert).count() == 1, 60,
                 "the busy-minute alert of TJ-T1 in the feed")
        assert page.get_attribute(f"{alert} .chip", "class") == "chip critical"
        assert page.locator('#map [data-station-id="TJ-T1"] .ring.critical').count() == 1
        assert page.text_content('[data-testid="alerts-open"]') == str(
            page.locator("#alert-feed li[data-alert-id]").count())

        # acknowledged from the page (POST /api/v1/alerts/{id}/ack as the token's name)
        page.click(f"{alert} button[data-ack]")
        page.wait_for_selector("#ack-dialog[open]")
        page.fill("#ack-comment", "checked with the post, a bus of pilgrims")
        page.click("#ack-send")
        wait_for(lambda: "acked by duty-officer" in (page.text_content(alert) or ""), 60,
                 "the acknowledgement to come back through the stream")

        # a click on a station draws its own series (GET /api/v1/series)
        page.click('[data-row-station="KZ-T1"]')
        wait_for(lambda: "Kordai test" in (page.text_content("#sel-name") or "")
                 and "in the hour" in (page.text_content("#sel-name") or ""), 30,
                 "the selected station's series")
        sel = page.text_content("#sel-name") or ""
        assert f"{INITIAL['KZ-T1'] + more['KZ-T1']} in the hour" in sel, sel
        page.click("#sel-clear")

        page.wait_for_timeout(1500)  # let the last snapshot's animations settle
        screenshot(page, "dashboard.png", 1600, full_page=True)
        assert w.errors == [], w.errors
        assert w.outside == [], f"requests leaving the machine: {w.outside}"


def test_a_national_token_sees_only_its_country(stack: Stack, browser: Any) -> None:
    with watched_page(browser, 1280, 800) as w:
        page = w.page
        page.goto(f"{stack.base}/#token={stack.tokens['kz-centre']}")
        kz = {s["station_id"] for s in STATIONS if s["country"] == "KZ"}
        wait_for(lambda: _markers(page) == kz, 60, "markers for the KZ stations only")
        wait_for(lambda: _events_shown(page) is not None, 30, "the events figure")
        shown = _events_shown(page)
        assert shown is not None and shown >= sum(INITIAL[s] for s in kz)
        assert set(page.eval_on_selector_all(
            "[data-row-station]", "els => els.map(e => e.dataset.rowStation)")) == kz
        assert page.text_content("#scope") == "KZ"
        screenshot(page, "dashboard-kz.png", 1280, full_page=True)
        assert w.errors == [], w.errors
        assert w.outside == [], f"requests leaving the machine: {w.outside}"


def test_without_a_token_the_page_asks_for_one_and_refuses_a_bad_one(
        stack: Stack, browser: Any) -> None:
    with watched_page(browser, 1280, 800) as w:
        page = w.page
        page.goto(stack.base + "/")
        page.wait_for_selector("#login-dialog[open]", timeout=30_000)
        page.fill("#login-token", "blo_not-a-real-token")
        page.click("#login-form button[type=submit]")
        wait_for(lambda: "refused" in (page.text_content("#login-msg") or ""), 30,
                 "the refusal of a bad token")
        assert page.is_visible("#login-dialog")
        page.fill("#login-token", stack.tokens["kz-centre"])
        page.click("#login-form button[type=submit]")
        wait_for(lambda: _markers(page) == {"KZ-T1", "KZ-T2"}, 60, "the map after login")
        assert not page.is_visible("#login-dialog")
        # the only error allowed: the browser's own log line for the refused token (401)
        assert all("401" in e for e in w.errors), w.errors
        assert w.outside == [], f"requests leaving the machine: {w.outside}"


def test_the_page_shows_a_stale_stream_and_reconnects_after_a_drop(
        stack: Stack, browser: Any) -> None:
    with watched_page(browser, 1280, 800) as w:
        page = w.page
        page.goto(f"{stack.base}/#token={stack.tokens['duty-officer']}")

        def state() -> str | None:
            return page.get_attribute("#conn", "data-state")

        wait_for(lambda: state() == "live", 60, "the stream")
        # a server that says nothing (paused): stale after 3 intervals, with a banner
        stack.api.signal(signal.SIGSTOP)
        try:
            wait_for(lambda: state() == "stale", 30, "the stale state")
            assert page.is_visible("#banner")
            assert "No update" in (page.text_content("#banner") or "")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-stale.png"), full_page=True)
        finally:
            stack.api.signal(signal.SIGCONT)
        wait_for(lambda: state() == "live", 30, "live again once the server answers")
        assert not page.is_visible("#banner")
        # a dropped server (killed: a graceful stop waits for the open stream): the page
        # retries with backoff and is live again after a restart
        stack.api.kill()
        wait_for(lambda: state() in ("reconnecting", "connecting", "stale"), 30,
                 "the page to notice the drop")
        stack.api.start()
        wait_for(lambda: state() == "live", 60, "the stream after the restart")
        before = _events_shown(page)
        assert before is not None
        stack.publish({"UZ-T1": 3})
        wait_for(lambda: (_events_shown(page) or 0) >= before + 3, 90,
                 "new events shown after the reconnect", every=0.5)
        # only the browser's log lines for the refused connections while the server was down
        assert all("ERR_CONNECTION_REFUSED" in e or "net::" in e for e in w.errors), w.errors
        assert w.outside == [], f"requests leaving the machine: {w.outside}"
