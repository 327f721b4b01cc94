"""The production shape, run: docker/'s images built and docker/compose.yaml brought up on a
Docker engine the session starts (tests/fixtures_docker.py), with local stand-ins only for
the images no registry gives here (compose.standins.yaml beside this file: Tansu for
Apache Kafka, Debian's ClickHouse 18.16 for 25.8, Debian's Prometheus 2.42 for 3.5; no
Grafana). docs/deployment.md, "The compose test and its stand-ins", says what that leaves
out.

Through the running stack: the one-shot services succeed, ``blo db migrate`` runs again
with the image, the seed stations are in ClickHouse and in every worker's registry, events
published from the host with ``blo publish`` become rows, every worker replica answers
``/readyz`` 200, Prometheus discovers every replica through Docker's DNS and has loaded
every rule of docker/prometheus/rules.yml, and the API answers a token made with
``blo tokens create`` (and refuses a request without one). Then ``--scale worker=2``:
events on the 4 partitions are stored once each, and both workers consumed some of them.
``docker compose down -v`` at the end leaves no container, network or volume.

The image is built twice: by compose with BuildKit (the stack's) and by compose with the
legacy builder (``DOCKER_BUILDKIT=0``), both from docker/ unchanged.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from clickhouse_driver import Client
from prometheus_client.parser import text_string_to_metric_families

from blo.localservices.docker_engine import DockerEngine
from blo.localservices.process import free_port
from blo.localservices.tansu import packaged_binary
from schemas.parse import parse_event
from tests.fixtures_docker import build_standin

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker" / "compose.yaml"
OVERRIDE = Path(__file__).resolve().parent / "compose.standins.yaml"
RULES = ROOT / "docker" / "prometheus" / "rules.yml"
SEED = ROOT / "blo" / "data" / "stations_seed.yaml"
PARTITIONS = 4
RAW_TOPIC = "blo.events.raw"
LEGACY_IMAGE = "blo-stream:legacy-builder"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 180.0,
             until: Callable[[T], bool] = lambda value: True, every_s: float = 1.0,
             explain: Callable[[], str] = str) -> T:
    """``probe()`` until it returns something other than None/False for which ``until``
    holds; fail after ``timeout_s`` naming ``what``, the last value or error, and
    ``explain()``."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        try:
            value = probe()
            if value is not None and value is not False and until(value):
                return value
            last = value
        except Exception as e:  # noqa: BLE001 (kept for the failure message)
            last = e
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s (last: {last!r}) {explain()}")
        time.sleep(every_s)


def http_get(url: str, headers: dict[str, str] | None = None,
             timeout: float = 5.0) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@dataclass
class Stack:
    engine: DockerEngine
    project: str
    workdir: Path
    variables: dict[str, str]
    published: dict[str, int] = field(default_factory=dict)
    legacy_build: subprocess.Popen[bytes] | None = None

    @property
    def env_file(self) -> Path:
        return self.workdir / "stack.env"

    def compose_command(self, *args: str, extra_env: dict[str, str] | None = None
                        ) -> tuple[list[str], dict[str, str]]:
        """argv and environment of ``docker compose`` on the production file plus the
        stand-ins' override, with only the stack's variables (no docker/.env of a
        checkout, nothing of this process's environment leaks in)."""
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
        env = self.engine.env(base)
        env.update(extra_env or {})
        return ["/usr/bin/docker", "compose", "--project-name", self.project,
                "--env-file", str(self.env_file), "-f", str(COMPOSE), "-f", str(OVERRIDE),
                *args], env

    def compose(self, *args: str, check: bool = True, timeout: float = 900,
                extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv, env = self.compose_command(*args, extra_env=extra_env)
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout,
                           cwd=self.workdir, check=False)
        if check and r.returncode != 0:
            pytest.fail(f"docker compose {' '.join(args)} exited {r.returncode}:\n"
                        f"{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
        return r

    def containers(self, service: str) -> list[dict[str, Any]]:
        ids = self.compose("ps", "-a", "-q", service).stdout.split()
        if not ids:
            return []
        return list(json.loads(self.engine.docker("inspect", *ids).stdout))

    def addresses(self, service: str) -> list[str]:
        """The IP of every running container of ``service`` on the stack's network."""
        return sorted(
            net["IPAddress"] for c in self.containers(service) if c["State"]["Running"]
            for net in c["NetworkSettings"]["Networks"].values()
        )

    def clickhouse(self) -> Client:
        return Client("127.0.0.1", port=self.published["CLICKHOUSE_HOST_NATIVE_PORT"],
                      user="blo", password=self.variables["CLICKHOUSE_PASSWORD"],
                      database="blo", connect_timeout=5, send_receive_timeout=60)

    def publish(self, events: list[dict[str, Any]], tmp: Path) -> None:
        """``blo publish`` on the host, to the broker's published port."""
        tmp.mkdir(parents=True, exist_ok=True)
        path = tmp / f"events-{uuid.uuid4().hex[:8]}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
        env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
        env.update(
            BLO_KAFKA_BOOTSTRAP=f"127.0.0.1:{self.published['KAFKA_HOST_PORT']}",
            BLO_KAFKA_PARTITIONS=str(PARTITIONS), BLO_DATA_DIR=str(tmp / "data"),
            PYTHONPATH=str(ROOT),
        )
        r = subprocess.run([sys.executable, "-m", "blo", "publish", "--timeout", "60",
                            str(path)], capture_output=True, text=True, env=env,
                           timeout=180, check=False)
        assert r.returncode == 0, r.stdout + r.stderr

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "200", check=False).stdout


def seed_stations() -> list[str]:
    return [s["station_id"] for s in yaml.safe_load(SEED.read_text("utf-8"))["stations"]]


def crossings(stations: list[str], per_station: int, run: str) -> list[dict[str, Any]]:
    """Valid crossing events from now back, unique ids for this run."""
    now = datetime.now(UTC).replace(microsecond=0)
    events = []
    for s_i, station in enumerate(stations):
        for i in range(per_station):
            at = now - timedelta(seconds=30 + i)
            events.append({
                "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run}/{station}/{i}")),
                "schema_version": 1, "event_type": "crossing", "station_id": station,
                "occurred_at": at.isoformat(), "reported_at": at.isoformat(),
                "source_seq": int(time.time() * 1000) * 100 + s_i * per_station + i,
                "direction": "inbound", "subject": "vehicle", "mode": "road",
                "persons": 1, "vehicles": 1, "vehicle_class": "truck",
                "document_check": "passed",
            })
    now_utc = datetime.now(UTC)
    for event in events:  # what the workers will accept, or this test's data is wrong
        parse_event(event, now=now_utc, max_future_skew=timedelta(minutes=5))
    return events


def stored(stack: Stack, ids: list[str]) -> tuple[int, int, set[int]]:
    """(rows under FINAL, distinct ids, Kafka partitions) of these event ids."""
    with_ids = "event_id IN %(ids)s"
    rows = stack.clickhouse().execute(
        f"SELECT count(), uniqExact(event_id), groupUniqArray(kafka_partition) "
        f"FROM blo.events FINAL WHERE {with_ids}", {"ids": tuple(ids)})
    count, distinct, partitions = rows[0]
    return int(count), int(distinct), {int(p) for p in partitions}


def diagnosis(stack: Stack, ids: list[str]) -> str:
    """Where the events went: per partition in ClickHouse, dead letters by reason, and
    each worker's counters."""
    client = stack.clickhouse()
    lines = [
        "stored per partition: " + repr(client.execute(
            "SELECT kafka_partition, count() FROM blo.events FINAL WHERE event_id IN %(ids)s "
            "GROUP BY kafka_partition ORDER BY kafka_partition", {"ids": tuple(ids)})),
        "dead letters: " + repr(client.execute(
            "SELECT reason, kafka_partition, count() FROM blo.dlq "
            "GROUP BY reason, kafka_partition")),
    ]
    for address in stack.addresses("worker"):
        wanted = ("blo_records_consumed_total", "blo_events_consumed_total",
                  "blo_events_valid_total", "blo_events_dead_lettered_total",
                  "blo_offsets_acked_total", "blo_sink_rows_written_total",
                  "blo_consumer_lag_records", "blo_events_held")
        values = {f"{n}{dict(labels)}": v for (n, labels), v in metrics(address).items()
                  if n in wanted}
        lines.append(f"worker {address}: {values}")
    return "\n".join(lines)


def metrics(address: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = http_get(f"http://{address}:6066/metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def raw_records_consumed(address: str) -> float:
    key = ("blo_records_consumed_total", (("topic", RAW_TOPIC),))
    return metrics(address).get(key, 0.0)


def workers_ready(stack: Stack, replicas: int) -> list[str] | None:
    addresses = stack.addresses("worker")
    if len(addresses) != replicas:
        return None
    if all(http_get(f"http://{a}:6066/readyz")[0] == 200 for a in addresses):
        return addresses
    return None


def prometheus_targets(stack: Stack) -> dict[str, str]:
    port = stack.published["PROMETHEUS_HOST_PORT"]
    status, body = http_get(f"http://127.0.0.1:{port}/api/v1/targets")
    assert status == 200, body
    return {t["labels"]["instance"]: t["health"] for t in json.loads(body)["data"]["activeTargets"]
            if t["labels"]["job"] == "blo-worker"}


def prometheus_sees(stack: Stack, addresses: list[str]) -> dict[str, str] | None:
    targets = prometheus_targets(stack)
    wanted = {f"{a}:6066" for a in addresses}
    return targets if targets == dict.fromkeys(wanted, "up") else None


# --- the stack ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(docker_engine: DockerEngine, docker_base_images: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("compose-stack")
    ports = {name: free_port() for name in (
        "KAFKA_HOST_PORT", "CLICKHOUSE_HOST_HTTP_PORT", "CLICKHOUSE_HOST_NATIVE_PORT",
        "PROMETHEUS_HOST_PORT", "API_HOST_PORT", "GRAFANA_HOST_PORT")}
    secret = uuid.uuid4().hex
    variables = {
        "CLICKHOUSE_PASSWORD": f"ch-{secret[:12]}",
        "CLICKHOUSE_GRAFANA_PASSWORD": f"gr-{secret[:12]}",
        "CLICKHOUSE_API_READER_PASSWORD": f"rd-{secret[:12]}",
        "CLICKHOUSE_API_AUDIT_PASSWORD": f"au-{secret[:12]}",
        "GRAFANA_ADMIN_PASSWORD": f"ad-{secret[:12]}",
        "BLO_KAFKA_PARTITIONS": str(PARTITIONS),
        "BLO_WORKER_REPLICAS": "1",
        # the machine's hard limit of open files (no CAP_SYS_RESOURCE to go above it)
        "STANDIN_NOFILE_LIMIT": str(min(262144, resource.getrlimit(resource.RLIMIT_NOFILE)[1])),
        **{k: str(v) for k, v in ports.items()},
    }
    stack = Stack(docker_engine, f"blotest{secret[:8]}", workdir, variables, ports)
    stack.env_file.write_text("".join(f"{k}={v}\n" for k, v in variables.items()))
    # the image again with the legacy builder (its own test), in the background meanwhile
    argv, env = stack.compose_command(
        "build", "--build-arg", f"PYTHON_IMAGE={docker_base_images['python']}", "migrate",
        extra_env={"DOCKER_BUILDKIT": "0", "BLO_IMAGE": LEGACY_IMAGE})
    with open(workdir / "legacy-build.log", "wb") as log:
        stack.legacy_build = subprocess.Popen(argv, env=env, cwd=workdir, stdout=log,
                                              stderr=subprocess.STDOUT)
    try:
        stack.compose("config", "-q")
        with ThreadPoolExecutor(3) as pool:
            for built in [
                pool.submit(build_standin, docker_engine, "tansu", "blo-test/tansu:local",
                            {"tansu": packaged_binary()}),
                pool.submit(build_standin, docker_engine, "clickhouse",
                            "blo-test/clickhouse:local"),
                pool.submit(build_standin, docker_engine, "prometheus",
                            "blo-test/prometheus:local"),
            ]:
                built.result()
        # the images of docker/ as they are, on the local stand-in of python:3.11-slim;
        # compose builds with BuildKit unless told otherwise
        stack.compose("build", "--build-arg", f"PYTHON_IMAGE={docker_base_images['python']}",
                      timeout=1500)
        stack.compose("up", "-d", "--no-build", timeout=600)
        wait_for("the worker replica ready", lambda: workers_ready(stack, 1), 240)
        yield stack
    finally:
        if stack.legacy_build.poll() is None:
            try:
                stack.legacy_build.wait(1500)
            except subprocess.TimeoutExpired:
                stack.legacy_build.kill()
        (workdir / "compose.log").write_text(stack.logs())
        down = stack.compose("down", "-v", "--remove-orphans", "--timeout", "60", check=False)
        left = docker_engine.docker("ps", "-a", "-q", "--filter",
                                    f"label=com.docker.compose.project={stack.project}").stdout
        volumes = docker_engine.docker("volume", "ls", "-q", "--filter",
                                       f"label=com.docker.compose.project={stack.project}").stdout
        assert down.returncode == 0 and not left.strip() and not volumes.strip(), (
            down.stderr, left, volumes)


def test_the_production_compose_file_runs_with_local_stand_ins(
        stack: Stack, tmp_path: Path) -> None:
    # the one-shot services ran to success before the workers started
    for service in ("migrate", "stations"):
        (container,) = stack.containers(service)
        assert container["State"]["Status"] == "exited", container["State"]
        assert container["State"]["ExitCode"] == 0, stack.logs()

    # `blo db migrate` with the image, through the stack: idempotent, every version applied
    migrate = stack.compose("run", "--rm", "--no-deps", "migrate", "db", "migrate")
    assert migrate.returncode == 0
    client = stack.clickhouse()
    versions = [v for (v,) in client.execute("SELECT version FROM blo.schema_migrations")]
    assert versions and sorted(set(versions)) == list(range(1, max(versions) + 1))

    # the seed registry: in ClickHouse and in the worker
    stations = seed_stations()
    wait_for("the seed stations in ClickHouse (written by the worker from the registry)",
             lambda: client.execute("SELECT groupUniqArray(station_id) FROM blo.stations"),
             60, until=lambda rows: set(stations) <= set(rows[0][0]))
    (worker,) = wait_for("the worker replica ready", lambda: workers_ready(stack, 1), 120)
    assert metrics(worker)[("blo_registry_stations", ())] == len(stations)

    # events published from the host become rows
    events = crossings(stations, 5, uuid.uuid4().hex)
    stack.publish(events, tmp_path)
    ids = [e["event_id"] for e in events]
    count, distinct, _ = wait_for("the published events in ClickHouse",
                                  lambda: stored(stack, ids), 120,
                                  until=lambda s: s[1] == len(ids))
    assert (count, distinct) == (len(ids), len(ids))

    # every replica ready; Prometheus finds each through Docker's DNS, with every rule
    assert workers_ready(stack, 1) == [worker]
    wait_for("Prometheus scraping every worker replica",
             lambda: prometheus_sees(stack, [worker]), 90)
    port = stack.published["PROMETHEUS_HOST_PORT"]
    status, body = http_get(f"http://127.0.0.1:{port}/api/v1/rules")
    assert status == 200
    loaded = {(g["name"], r["name"]) for g in json.loads(body)["data"]["groups"]
              for r in g["rules"]}
    shipped = {(g["name"], r["alert"]) for g in yaml.safe_load(RULES.read_text())["groups"]
               for r in g["rules"]}
    assert loaded == shipped

    # the API, with a token made by `blo tokens create` in the image
    made = stack.compose("run", "--rm", "--no-deps", "migrate", "tokens", "create",
                         "centre-kz", "--country", "KZ")
    token = re.search(r"^(blo_\S+)$", made.stdout, re.MULTILINE)
    assert token, made.stdout
    api = f"http://127.0.0.1:{stack.published['API_HOST_PORT']}/api/v1"
    assert http_get(f"{api}/stations")[0] == 401
    auth = {"Authorization": f"Bearer {token.group(1)}"}
    status, body = wait_for("the API answering", lambda: http_get(f"{api}/stations", auth),
                            60, until=lambda r: r[0] == 200)
    answered = json.loads(body)
    visible = {s["station_id"] for s in answered["stations"]}
    assert visible == {s for s in stations if s.startswith("KZ-")}
    status, body = http_get(f"{api}/whoami", auth)
    assert status == 200 and json.loads(body)["name"] == "centre-kz"


def owned_partitions(stack: Stack) -> dict[str, set[int]]:
    """The partitions each running worker replica was last assigned, from its log line
    ``window state of partitions [...] restored`` (one per assignment)."""
    owned = {}
    for container in stack.containers("worker"):
        if not container["State"]["Running"]:
            continue
        log = stack.engine.docker("logs", container["Id"]).stdout + stack.engine.docker(
            "logs", container["Id"]).stderr
        found = re.findall(r"window state of partitions \[([\d, ]*)\] restored", log)
        owned[container["Name"]] = {int(p) for p in found[-1].split(",") if p.strip()} \
            if found else set()
    return owned


def test_scaled_to_two_workers_each_event_is_stored_once(stack: Stack, tmp_path: Path) -> None:
    stack.compose("up", "-d", "--no-build", "--scale", "worker=2", timeout=600)
    workers = wait_for("both worker replicas ready", lambda: workers_ready(stack, 2), 240)
    # the group rebalanced: each replica owns some of the partitions, together all
    owned = wait_for(
        "the partitions shared by both replicas", lambda: owned_partitions(stack), 120,
        until=lambda o: len(o) == 2 and all(o.values())
        and set().union(*o.values()) == set(range(PARTITIONS))
        and sum(map(len, o.values())) == PARTITIONS)
    before = {a: raw_records_consumed(a) for a in workers}

    events = crossings(seed_stations(), 8, uuid.uuid4().hex)
    stack.publish(events, tmp_path)
    ids = [e["event_id"] for e in events]
    count, distinct, partitions = wait_for("every published event in ClickHouse",
                                           lambda: stored(stack, ids), 180,
                                           until=lambda s: s[1] == len(ids),
                                           explain=lambda: f"of {len(ids)}, owned {owned}\n"
                                           + diagnosis(stack, ids))
    assert (count, distinct) == (len(ids), len(ids)), "each event once under FINAL"
    assert partitions == set(range(PARTITIONS))
    # both replicas consumed part of them, and still own what they owned
    grew = {a: raw_records_consumed(a) - before[a] for a in workers}
    assert all(v > 0 for v in grew.values()), grew
    assert sum(grew.values()) >= len({e["station_id"] for e in events}), grew
    assert owned_partitions(stack) == owned
    assert set(workers_ready(stack, 2) or []) == set(workers)
    wait_for("Prometheus scraping both replicas", lambda: prometheus_sees(stack, workers), 90)


def test_the_image_builds_with_the_legacy_builder_too(stack: Stack) -> None:
    """``DOCKER_BUILDKIT=0 docker compose build`` (started by the fixture): the legacy
    builder reads the root .dockerignore and the same Dockerfile."""
    assert stack.legacy_build is not None
    code = stack.legacy_build.wait(1500)
    assert code == 0, (stack.workdir / "legacy-build.log").read_text()[-4000:]
    ran = stack.engine.docker("run", "--rm", "--cap-drop", "ALL", "--security-opt",
                              "no-new-privileges:true", "--entrypoint", "sh", LEGACY_IMAGE,
                              "-c", "id -u && blo --help")
    uid, _, help_text = ran.stdout.partition("\n")
    assert uid == "10001"
    assert "worker" in help_text and "publish" in help_text
