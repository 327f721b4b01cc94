"""``blo demo``: the whole pipeline on one machine, zero services to install.

Starts a local Kafka-protocol broker (Tansu, in-memory storage), loads the station registry
— the seed stations and every record ClickHouse's ``stations`` table holds from an earlier
run (:func:`restore_registry`: the broker forgets its topics when it stops) — runs ``blo
worker`` on embedded chDB (data under ``DATA_DIR/chdb``) and ``blo simulate``; prints where
to look and a status line; Ctrl-C stops everything in order (simulator, then worker — which
flushes and commits — then broker).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from blo import door
from blo.settings import Settings
from schemas.station import StationRecord

if TYPE_CHECKING:
    from blo.sim.scenarios import Plan


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _get(url: str, timeout: float = 2.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return bytes(r.read())
    except OSError:
        return None


def _spawn(args: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "blo", *args], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def scenario_plan(name: str, stations: int, rate: float, start: datetime,
                  at_s: float) -> Plan:
    """The plan of scenario ``name`` as the demo's simulator (``stations`` posts at
    ``rate``) builds it when started at ``start`` with ``--at at_s``; raises
    :class:`~blo.sim.scenarios.ScenarioError` for an unknown scenario or a post it needs
    that the demo does not simulate."""
    from blo.sim.scenarios import SCENARIOS, ScenarioError
    from blo.simulate import TrafficGenerator, simulation_stations

    if name not in SCENARIOS:
        raise ScenarioError(f"unknown scenario {name!r}; one of: {', '.join(SCENARIOS)} "
                            "(blo simulate --list-scenarios)")
    posts = simulation_stations(stations)
    scale = TrafficGenerator(posts, rate, start=start).scale
    return SCENARIOS[name].plan({p.station_id: p for p in posts},
                                start + timedelta(seconds=at_s), scale)


def scenario_lines(name: str, plan: Plan, start: datetime, at_s: float) -> list[str]:
    """What the demo prints of a scenario: when it begins, the alerts it should raise (rule,
    scope key, when they become decidable), its notes."""
    began = start + timedelta(seconds=at_s)
    n = len(plan.expected)
    head = (f"scenario {name} from {began:%H:%M:%S} UTC; it should raise {n} "
            f"alert{'s' if n != 1 else ''} (the simulator's own list: simulate.log):")
    lines = [head]
    for x in plan.expected:
        when = "after the window ending" if x.closes_window else "at"
        lines.append(f"  {x.rule_id} {x.scope_key} ({when} {x.ready_at:%H:%M:%S} UTC)")
    lines.extend(f"  note: {note}" for note in plan.notes)
    return lines


def run_demo(data_dir: Path, *, stations: int, rate: float, web_port: int,
             api_port: int = 8080, scenario: str | None = None,
             scenario_at_s: float = 60.0) -> int:
    from blo.db import private_dir
    from blo.kafka_io import ensure_pipeline_topics, produce
    from blo.localservices.tansu import TansuBroker
    from blo.settings import load_settings
    from blo.simulate import seed_stations

    data_dir = private_dir(data_dir.resolve())
    if scenario is not None:
        from blo.sim.scenarios import ScenarioError
        try:  # refuse an unknown scenario or missing posts before starting anything
            scenario_plan(scenario, stations, rate, datetime.now(UTC), scenario_at_s)
        except ScenarioError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    for port, option, var in ((web_port, "--port", "BLO_WEB_PORT"),
                              (api_port, "--api-port", "BLO_API_PORT")):
        if not _port_free(port):
            print(f"error: port {port} is in use (another demo or worker?); choose another "
                  f"with {option} N or {var}=N (make demo ARGS=\"{option} N\")",
                  file=sys.stderr)
            return 2
    interrupted = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    broker = TansuBroker(workdir=data_dir / "broker")
    worker = sim = None
    logs: list[IO[bytes]] = []
    try:
        print("starting the local Kafka-protocol broker (Tansu) …", flush=True)
        broker.start()
        env = {**os.environ, "BLO_KAFKA_BOOTSTRAP": broker.bootstrap,
               "BLO_CLICKHOUSE_URL": f"chdb://{data_dir / 'chdb'}",
               "BLO_WEB_PORT": str(web_port), "BLO_WEB_HOST": "127.0.0.1",
               "BLO_API_PORT": str(api_port), "BLO_API_HOST": "127.0.0.1",
               "BLO_DATA_DIR": str(data_dir)}
        os.environ.update({k: env[k] for k in ("BLO_KAFKA_BOOTSTRAP", "BLO_CLICKHOUSE_URL",
                                               "BLO_WEB_PORT", "BLO_WEB_HOST")})
        s = load_settings()
        ensure_pipeline_topics(s.kafka)
        seeds = seed_stations()
        records = {(r.station_id, r.valid_from): r for r in seeds}
        restored = [r for r in restore_registry(s, env)
                    if records.get((r.station_id, r.valid_from)) != r]
        records.update(((r.station_id, r.valid_from), r) for r in restored)
        produce(s.kafka, s.kafka.topic_stations,
                ((r.station_id.encode(), r.model_dump_json().encode())
                 for r in records.values()))
        print(f"loaded {len(seeds)} seed stations (real BLO sites, approximate coordinates)")
        if restored:
            print(f"restored {len(restored)} station record(s) of an earlier run from "
                  "ClickHouse's stations table (`blo stations load`, imports)")

        wlog = open(data_dir / "worker.log", "ab")  # noqa: SIM115 - closed in finally
        slog = open(data_dir / "simulate.log", "ab")  # noqa: SIM115
        logs += [wlog, slog]
        print("starting the worker on embedded ClickHouse (chDB) …", flush=True)
        worker = _spawn(["worker", "--migrate"], env, wlog)
        base = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 120
        while not interrupted:
            body = _get(base + "/readyz")
            if body and json.loads(body).get("ready"):
                break
            if worker.poll() is not None or time.monotonic() > deadline:
                print(f"error: the worker did not become ready; see {data_dir / 'worker.log'}",
                      file=sys.stderr)
                return 1
            time.sleep(0.5)
        sim_args = ["simulate", "--stations", str(stations), "--rate", str(rate),
                    "--no-register" if stations <= len(seeds) else "--register"]
        if scenario is not None:
            sim_args += ["--scenario", scenario, "--at", str(scenario_at_s)]
        sim_start = datetime.now(UTC)
        sim = _spawn(sim_args, env, slog)
        token = demo_token(s, data_dir)
        _print_banner(base, env, data_dir, api_port, token)
        if scenario is not None:
            plan = scenario_plan(scenario, stations, rate, sim_start, scenario_at_s)
            print("\n".join(scenario_lines(scenario, plan, sim_start, scenario_at_s)),
                  flush=True)
        last = 0.0
        while not interrupted:
            if worker.poll() is not None:
                print(f"error: the worker exited; see {data_dir / 'worker.log'}", file=sys.stderr)
                return 1
            if time.monotonic() - last >= 10:
                last = time.monotonic()
                _print_status(s)
            time.sleep(0.3)
        print("\nstopping: simulator, worker (flush + commit), broker …", flush=True)
        return 0
    finally:
        _stop(sim, signal.SIGINT, 15)
        _stop(worker, signal.SIGTERM, 60)
        broker.stop()
        for f in logs:
            f.close()
        print("demo stopped", flush=True)


def restore_registry(s: Settings, env: dict[str, str]) -> list[StationRecord]:
    """The station records ClickHouse's ``stations`` table holds (the latest row of each
    station and ``valid_from``), read before the worker starts: the demo's broker keeps its
    topics in memory, so the registry of an earlier run — stations added with ``blo
    stations load`` or an import — would be gone, and their new events dead-lettered
    ``unknown_station`` while the dashboard still shows them. Read by a ``blo query``
    subprocess (chDB lets one process open the directory, and the worker opens it next).
    Nothing on a first run (no table yet); a row the registry's schema refuses is skipped
    with a note."""
    from pydantic import ValidationError

    from sinks.tables import STATIONS

    fields = [f for f in StationRecord.model_fields
              if f in STATIONS.column_names and f != "valid_from"]
    sql = ("SELECT station_id, toString(valid_from), "
           + ", ".join(f"argMax({f}, updated_at)" for f in fields if f != "station_id")
           + f" FROM {s.clickhouse.target().database}.stations "
           "GROUP BY station_id, valid_from ORDER BY station_id, valid_from")
    res = subprocess.run([sys.executable, "-m", "blo", "query", "--format", "json", sql],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    if res.returncode != 0:
        return []  # a first run: no database yet
    out = []
    names = ["station_id", "valid_from", *(f for f in fields if f != "station_id")]
    for line in res.stdout.splitlines():  # JSON Lines: one object per row, in column order
        row = list(json.loads(line).values())
        rec: dict[str, Any] = dict(zip(names, row, strict=True))
        rec["valid_from"] = rec["valid_from"].replace(" ", "T") + "Z"
        for flag in ("coord_approximate", "active"):
            rec[flag] = bool(rec[flag])
        for name, info in StationRecord.model_fields.items():
            if rec.get(name) == "" and not info.is_required():  # '' is how the table says none
                del rec[name]
        try:
            out.append(StationRecord.model_validate(rec))
        except ValidationError as e:
            print(f"not restored: station {rec['station_id']!r}: "
                  f"{e.errors()[0]['loc']} {e.errors()[0]['msg']}", file=sys.stderr)
    return out


EXAMPLE_STATION = Path(__file__).resolve().parent / "data" / "examples" / "new-station.yaml"

# The readers' view of events (docs/clickhouse.md, "Read exactly"): per event and month the
# latest revision, voided events left out; argMax rather than FINAL, which on ClickHouse
# 18.16 runs out of memory over years of history.
EVENTS_PER_STATION_SQL = (
    "SELECT station_id, count() FROM (SELECT station_id, "
    "argMax(voided, tuple(revision, ingested_at)) AS withdrawn FROM blo.events "
    "GROUP BY station_id, event_id, toYYYYMM(occurred_at)) WHERE withdrawn = 0 "
    "GROUP BY station_id")
"""The events per station the demo suggests trying with ``blo query``."""
STATUS_SQL = (
    "SELECT count(), uniqExact(station_id), max(at) FROM (SELECT station_id, "
    "argMax(tuple(occurred_at, voided), tuple(revision, ingested_at)) AS e, e.1 AS at, "
    "e.2 AS withdrawn FROM blo.events GROUP BY station_id, event_id, toYYYYMM(occurred_at)) "
    "WHERE withdrawn = 0")
"""The demo's status line: events stored, stations, the latest event time."""


DEMO_TOKEN_NAME = "blo demo"
"""The name of the demo's own API token (scope: all countries). The demo creates it once,
reuses it at every start while it works (the dashboard address stays the same), replaces it
when it is gone, revoked or expiring, and revokes any other active all-countries token of
this name (an earlier run whose saved token was lost). Tokens of any other name or scope are
never touched."""
TOKEN_FILE = "demo-token.json"
"""In the demo's data directory (mode 0700; the file 0600): the demo token's id and secret,
so that the next start can reuse it (only the secret's hash is in the database)."""
RENEW_BEFORE_S = 86_400
"""A saved token that expires within this is replaced rather than reused."""


@dataclass(frozen=True, slots=True)
class DemoTokenPlan:
    reuse: str | None
    """The id of the saved token to reuse; None: create a new one."""
    revoke: tuple[str, ...]
    """The other active demo tokens, revoked once the one in use is settled."""


def plan_demo_token(tokens: Sequence[Mapping[str, Any]], saved_id: str | None,
                    now: datetime) -> DemoTokenPlan:
    """What to do with the demo's tokens, from ``blo tokens list --json``'s records and the
    id of the token the last run saved: reuse it if it is one of the demo's own
    (:data:`DEMO_TOKEN_NAME`, all countries), active and not expiring within
    :data:`RENEW_BEFORE_S`; revoke every other active one of the demo's own."""
    ours = [t for t in tokens if t.get("name") == DEMO_TOKEN_NAME and t.get("scope") == "all"
            and t.get("state") == "active"]

    def lasting(t: Mapping[str, Any]) -> bool:
        until = t.get("expires_at")
        return until is None or (datetime.fromisoformat(str(until)).timestamp()
                                 > now.timestamp() + RENEW_BEFORE_S)

    reuse = next((str(t["token_id"]) for t in ours
                  if t.get("token_id") == saved_id and lasting(t)), None)
    return DemoTokenPlan(reuse, tuple(str(t["token_id"]) for t in ours
                                      if t["token_id"] != reuse))


def _saved_token(path: Path) -> tuple[str, str] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return str(doc["token_id"]), str(doc["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_token(path: Path, token_id: str, secret: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"token_id": token_id, "token": secret}, f)
    os.replace(tmp, path)


def demo_token(s: Settings, data_dir: Path) -> str | None:
    """The demo's regional (all countries) API token for the dashboard, through the worker's
    admin door (:mod:`blo.door`): the saved one when it still works, else a new one (saved
    for the next start); other active demo tokens are revoked (:func:`plan_demo_token`).
    None when the door does not answer."""
    path = data_dir / TOKEN_FILE
    saved = _saved_token(path)
    try:
        listing = door.call(s, "tokens", {"op": "list"})
        if not isinstance(listing, list):
            return None
        plan = plan_demo_token(listing, saved[0] if saved else None, datetime.now(UTC))
        if plan.reuse is not None and saved is not None:
            secret = saved[1]
        else:
            got = door.call(s, "tokens", {"op": "create", "all": True,
                                          "name": DEMO_TOKEN_NAME})
            if not got:
                return None
            secret = str(got["token"])
            _save_token(path, str(got["token_id"]), secret)
        for token_id in plan.revoke:
            door.call(s, "tokens", {"op": "revoke", "token_id": token_id})
        return secret
    except (door.DoorError, KeyError, TypeError, ValueError, OSError):
        return None


def _door_rows(s: Settings, sql: str) -> list[list[Any]] | None:
    try:
        got = door.call(s, "query", {"sql": sql}, timeout=5)
    except door.DoorError:
        return None
    return list(got["rows"]) if got else None


def _print_banner(base: str, env: dict[str, str], data_dir: Path, api_port: int,
                  token: str | None) -> None:
    dashboard = f"http://127.0.0.1:{api_port}/" + (f"#token={token}" if token else "")
    print(f"""
BLO demo is running. Stop it with Ctrl-C.

  dashboard    {dashboard}
               (the demo's regional token, "blo demo", kept for the next start;
               more with `blo tokens create`)
  API          http://127.0.0.1:{api_port}/api/v1/openapi.json

  metrics      {base}/metrics
  readiness    {base}/readyz
  logs         {data_dir / 'worker.log'}, {data_dir / 'simulate.log'}

In another terminal (same virtualenv), these go through the running worker:

  export BLO_KAFKA_BOOTSTRAP={env['BLO_KAFKA_BOOTSTRAP']}
  export BLO_CLICKHOUSE_URL={env['BLO_CLICKHOUSE_URL']} BLO_WEB_PORT={env['BLO_WEB_PORT']}
  blo stats                                   # headline numbers
  blo query "{EVENTS_PER_STATION_SQL}"
                                              # events per station (docs/clickhouse.md)
  blo stations load {EXAMPLE_STATION}
                                              # a new post, picked up without a restart
  blo stations list                           # the registry as the worker sees it
  blo dlq list                                # dead letters with reasons
  blo alerts list --open                      # alerts firing now (rules: blo/data/rules.yaml)
""", flush=True)


def _print_status(s: Settings) -> None:
    rows = _door_rows(s, STATUS_SQL)
    if rows:
        n, st, last = rows[0]
        latest = f" (latest event time {last})" if n else ""
        firing = ""
        sql = "SELECT count() FROM (SELECT * FROM blo.alerts FINAL) WHERE state = 'firing'"
        alerts = _door_rows(s, sql)
        if alerts:
            firing = f", alerts firing: {alerts[0][0]}"
        print(f"[{time.strftime('%H:%M:%S')}] events stored: {n} from {st} stations{latest}"
              f"{firing}", flush=True)