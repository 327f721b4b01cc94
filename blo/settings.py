"""The one settings object.

Every knob is an environment variable with the ``BLO_`` prefix, grouped by concern
(``BLO_KAFKA_*``, ``BLO_CLICKHOUSE_*``, ``BLO_BATCH_*``, ``BLO_INGEST_*``, ``BLO_WEB_*``).
The CLI builds a :class:`Settings` once (:func:`load_settings`) and passes it down; nothing
reads the environment anywhere else.

Invalid values fail fast with :class:`SettingsError`, whose message names the variable.
Secrets (SASL password, ClickHouse password inside the URL) are :class:`SecretStr` and are
never rendered by ``repr``/``str``/:meth:`Settings.describe`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from blo.redact import Redactor, credentials_need_encoding, is_secret_field, mask_url

DEFAULT_CLICKHOUSE_URL = "chdb://.blo/chdb"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


def _group(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", frozen=True)


class KafkaSettings(BaseSettings):
    model_config = _group("BLO_KAFKA_")

    bootstrap: str | None = Field(None, description="host:port[,host:port...]")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True
    topic_raw: str = "blo.events.raw"
    topic_stations: str = "blo.stations"
    topic_dlq: str = "blo.dlq"
    topic_enriched: str = "blo.events.enriched"
    topic_windows: str = "blo.windows"
    topic_alert_input: str = Field(
        "blo.alert-input", description="window rows, station progress and acknowledgements "
        "for the alert engine (one partition: one engine sees every station)")
    topic_alerts: str = "blo.alerts"
    partitions: int = Field(4, ge=1, le=1024)
    replication_factor: int = Field(1, ge=1, le=16)
    group_id: str = "blo-ingest"
    session_timeout_s: float = Field(10.0, gt=0)
    commit_interval_s: float = Field(2.0, gt=0)
    fetch_max_wait_ms: int = Field(
        100, ge=1, le=30_000, description="how long the worker's consumer lets the broker "
        "hold a fetch that finds no new records (Faust hard-codes 1500; Apache Kafka answers "
        "as soon as a record arrives, but Tansu holds a fetch for a good part of this wait "
        "even when records arrive, so it bounds live latency there; lower costs only more "
        "empty fetches while idle)")
    alert_input_fetch_max_wait_ms: int = Field(
        500, ge=1, le=30_000, description="the same for the alert input topic (read by "
        "Faust's consumer): a few records a second, whose half-second matters little next "
        "to the alert tick; each fetch is a hop through Faust's consumer thread")
    max_request_bytes: int = Field(1_048_576, ge=1024)

    @field_validator("bootstrap")
    @classmethod
    def _check_bootstrap(cls, v: str | None) -> str | None:
        if v is None:
            return v
        hosts = [h.strip() for h in v.split(",") if h.strip()]
        if not hosts:
            raise ValueError("empty list of brokers")
        for h in hosts:
            host, sep, port = h.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{h!r} is not host:port")
        return ",".join(hosts)

    def bootstrap_servers(self) -> list[str]:
        if not self.bootstrap:
            raise SettingsError(
                "BLO_KAFKA_BOOTSTRAP is not set: give the broker list as host:port[,host:port]"
            )
        return self.bootstrap.split(",")


@dataclass(frozen=True)
class ClickHouseTarget:
    """A parsed ``BLO_CLICKHOUSE_URL``: either a server (native protocol) or embedded chDB."""

    kind: Literal["server", "chdb"]
    database: str
    host: str = ""
    port: int = 9000
    user: str = "default"
    password: SecretStr = field(default_factory=lambda: SecretStr(""))
    path: Path | None = None
    secure: bool = False

    def __repr__(self) -> str:  # never print the password
        if self.kind == "chdb":
            return f"ClickHouseTarget(chdb, path={self.path}, database={self.database})"
        return (
            f"ClickHouseTarget(server, {self.user}@{self.host}:{self.port}/{self.database}, "
            f"secure={self.secure})"
        )

    __str__ = __repr__


def parse_clickhouse_url(url: str, default_database: str = "blo") -> ClickHouseTarget:
    """Parse ``clickhouse[s]://user:password@host:port/db`` or ``chdb://path``."""
    if url.startswith("chdb://"):
        raw = url[len("chdb://"):]
        path_part, _, query = raw.partition("?")
        if not path_part:
            raise ValueError("chdb:// needs a directory, e.g. chdb:///var/lib/blo/chdb")
        db = default_database
        for kv in filter(None, query.split("&")):
            k, _, v = kv.partition("=")
            if k == "database" and v:
                db = v
        return ClickHouseTarget(kind="chdb", database=db, path=Path(path_part))
    # Messages never quote a part of the URL: the caller shows it through mask_url().
    if credentials_need_encoding(url):
        raise ValueError(
            "the user name or password holds a character that ends the credentials part of "
            "a URL: percent-encode the password: / → %2F, # → %23, @ → %40 (also ? → %3F, "
            "% → %25), e.g. python3 -c 'import urllib.parse,getpass; "
            "print(urllib.parse.quote(getpass.getpass(), safe=\"\"))'"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("clickhouse", "clickhouses"):
        raise ValueError(
            "scheme must be clickhouse:// (server, native protocol), clickhouses:// (TLS) "
            "or chdb:// (embedded)"
        )
    if not parts.hostname:
        raise ValueError("no host in the URL")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port is not a number from 1 to 65535 (a password with a "
                         "raw '#' or '/' also looks like this: percent-encode it: "
                         "/ → %2F, # → %23, @ → %40)") from None
    if parts.query:  # e.g. ?password=…: ignored silently, it would connect without it
        raise ValueError("a clickhouse:// URL takes no ?options: put the user and password "
                         "before the host (clickhouse://user:password@host:9000/blo) and "
                         "TLS in BLO_CLICKHOUSE_SECURE / BLO_CLICKHOUSE_CA_CERTS")
    secure = parts.scheme == "clickhouses"
    db = parts.path.lstrip("/") or default_database
    if not db.replace("_", "").isalnum():
        raise ValueError(f"database name {db!r} must be alphanumeric/underscore")
    return ClickHouseTarget(
        kind="server",
        database=db,
        host=parts.hostname,
        port=port or (9440 if secure else 9000),
        user=unquote(parts.username) if parts.username else "default",
        password=SecretStr(unquote(parts.password) if parts.password else ""),
        secure=secure,
    )


class ClickHouseSettings(BaseSettings):
    model_config = _group("BLO_CLICKHOUSE_")

    url: SecretStr = SecretStr(DEFAULT_CLICKHOUSE_URL)
    secure: bool | None = Field(None, description="force TLS on/off (default: from scheme)")
    ca_certs: Path | None = None
    verify: bool = True
    connect_timeout_s: float = Field(5.0, gt=0)
    send_receive_timeout_s: float = Field(
        10.0, gt=0, description="the longest a call waits on a silent server before it "
        "fails as a timeout (a timed-out insert is retried). Long queries are not cut: the "
        "server sends progress while it reads; raise it for statements that wait without "
        "reading (ON CLUSTER DDL on a slow replica)")

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: SecretStr) -> SecretStr:
        parse_clickhouse_url(v.get_secret_value())
        return v

    def target(self) -> ClickHouseTarget:
        t = parse_clickhouse_url(self.url.get_secret_value())
        if self.secure is not None and t.kind == "server":
            t = ClickHouseTarget(**{**t.__dict__, "secure": self.secure})
        return t


class BatchSettings(BaseSettings):
    """How the stream and the sinks batch work."""

    model_config = _group("BLO_BATCH_")

    take_max: int = Field(5000, ge=1, description="Kafka records per agent batch")
    take_within_s: float = Field(
        0.0, ge=0, description="how long a take smaller than take_max waits for more records "
        "after its first (0, the default: what has arrived is taken at once; while a take is "
        "processed, the next one grows by itself, so takes are small when traffic is light "
        "and large when it is heavy; more trades CPU per event for latency)")
    take_follows_sink_s: float = Field(
        0.25, ge=0, le=60, description="adaptive batching of takes: a small take (light "
        "traffic: under 64 KiB of records) waits, at most this long, until the sink would "
        "write its events at once (no insert of them in flight, the last one "
        "sink_min_interval_s ago), so that light traffic is processed in one take per "
        "insert instead of many small ones; rows taken earlier would wait in the sink's "
        "buffer for that insert anyway. An idle worker takes at once. 0: take at once "
        "whatever the sink is doing")
    slice_max_bytes: int = Field(
        4 * 1024 * 1024, ge=1024,
        description="a take is processed and written in slices of at most this many value "
                    "bytes (batched records carry many events each)",
    )
    sink_max_rows: int = Field(20000, ge=1)
    sink_max_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    sink_max_age_s: float = Field(
        1.0, gt=0, description="a buffered row is written at the latest this old (while "
        "writes are slow or failing, or with sink_write_when_idle off)")
    sink_write_when_idle: bool = Field(
        True, description="adaptive batching: a table whose last write has ended is written "
        "at once (at most once per sink_min_interval_s); while a write of it is in flight, its "
        "rows gather into the next batch. Off: rows wait for sink_max_rows/bytes/age")
    sink_min_interval_s: float = Field(
        0.2, ge=0, le=60, description="with sink_write_when_idle, the shortest time between "
        "two writes of one table that are not full batches (bounds the parts ClickHouse "
        "must merge: at most 1/interval small inserts per table and worker process)")
    sink_max_in_flight: int = Field(2, ge=1, le=16)
    sink_retry_initial_s: float = Field(0.5, gt=0)
    sink_retry_max_s: float = Field(10.0, gt=0)
    sink_stall_s: float = Field(
        15.0, gt=0, description="/readyz answers 503 (sink_stalled) while the oldest row "
        "not yet written to ClickHouse is older than this")
    shutdown_flush_timeout_s: float = Field(
        30.0, gt=0, description="SIGTERM: how long the final flush may take before giving up"
    )


class IngestSettings(BaseSettings):
    """Validation and enrichment policy."""

    model_config = _group("BLO_INGEST_")

    max_record_bytes: int = Field(512 * 1024, ge=256, description="larger records are DLQ'd")
    dlq_payload_limit_bytes: int = Field(64 * 1024, ge=64)
    max_future_skew_s: float = Field(300.0, ge=0)
    hold_unknown_station_s: float = Field(30.0, ge=0)
    hold_max_events: int = Field(50_000, ge=0)
    hold_max_events_per_station: int = Field(
        5_000, ge=0, description="one unregistered station holds at most this many events "
        "(the rest are dead-lettered at once), so it cannot take the others' hold budget")
    dlq_guard_ratio: float = Field(
        0.95, gt=0, le=1.0, description="the worker stops when at least this share of the "
        "stations seen recently fail, a station failing when at least this share of its "
        "events is dead-lettered")
    dlq_guard_min_events: int = Field(2000, ge=1)
    dlq_guard_window_s: float = Field(
        60.0, gt=0, description="the guard judges at least the last this many seconds "
        "(and at least BLO_INGEST_DLQ_GUARD_MIN_EVENTS events)")
    tablet_mass_mg: float = Field(200.0, gt=0, description="mass of one tablet, for kg")
    produce_enriched: bool = False
    conflict_cache_size: int = Field(
        250_000, ge=0, description="event ids remembered in memory for the id-conflict "
        "check (misses ask ClickHouse); keep it above the rows the sink may hold unwritten "
        "((BLO_BATCH_SINK_MAX_IN_FLIGHT + 1) x BLO_BATCH_SINK_MAX_ROWS, 60,000 by default): "
        "an id seen but not yet written is recognised only through it")
    process: Literal["auto", "inline", "separate"] = Field(
        "auto", description="where the per-event work runs: in the Faust process (inline) "
        "or in a second process beside it (separate: another core; needs a ClickHouse "
        "server); auto = separate with a server on a multi-core machine")
    processes: int = Field(
        0, ge=0, le=32, description="ingest processes per worker in the separate mode, "
        "the worker's raw partitions dealt between them (each its own core, sink, windows "
        "and conflict cache); 0 = auto: one per available CPU beyond the first, at most 4")


class WindowSettings(BaseSettings):
    """Event-time windows (docs/windows.md). The windows themselves, watermarks, grace,
    lateness and idleness are in a YAML file (``BLO_WINDOWS_CONFIG``; default: the shipped
    blo/data/windows.yaml)."""

    model_config = _group("BLO_WINDOWS_")

    enabled: bool = True
    config: Path | None = Field(None, description="window configuration file (YAML/JSON)")
    tick_interval_s: float = Field(1.0, gt=0, le=60)
    produce: bool = Field(True, description="also produce window rows to the windows topic")

    @field_validator("config")
    @classmethod
    def _check_config(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"no such file: {v}")
        return v

    def config_path(self) -> Path:
        """The window configuration file in use (the shipped default when none is
        configured); :func:`streams.windows.window_config` reads it."""
        if self.config is not None:
            return self.config
        from importlib.resources import files

        return Path(str(files("blo") / "data" / "windows.yaml"))


class AlertSettings(BaseSettings):
    """Threshold alerting (docs/alerts.md). Needs the windows (``BLO_WINDOWS_ENABLED``)."""

    model_config = _group("BLO_ALERTS_")

    enabled: bool = True
    rules: Path | None = Field(None, description="rules file (YAML; default: the shipped "
                               "blo/data/rules.yaml); reloaded when it changes")
    reload_interval_s: float = Field(2.0, gt=0, le=3600)
    tick_interval_s: float = Field(1.0, gt=0, le=60)
    produce: bool = Field(True, description="also produce alert versions to the alerts topic")
    retain_s: float = Field(7200.0, ge=0, description="how long (event time) ended windows "
                            "stay in memory for corrections and late stations")
    max_resolved: int = Field(10_000, ge=1)
    history_s: float = Field(
        86_400.0, gt=0, description="input processed more than this after its time (an "
        "event after it occurred, a window row after its window ended) is historical: an "
        "import or backfill raises no silence, gap or paired alert, and window rules judge "
        "it only with judge_history: true")
    progress_stale_s: float = Field(
        15.0, gt=0, description="raw partitions whose worker reported no progress for this "
        "long count as not caught up (no silence alerts while a worker is down or behind)")
    webhook_url: SecretStr | None = Field(None, description="POST every alert version here")
    webhook_timeout_s: float = Field(5.0, gt=0)
    webhook_max_attempts: int = Field(6, ge=1)
    webhook_concurrency: int = Field(4, ge=1, le=64)
    webhook_queue_max: int = Field(10_000, ge=1)

    @field_validator("rules")
    @classmethod
    def _check_rules(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"no such file: {v}")
        return v

    def rules_path(self) -> Path:
        """The rules file in use (the shipped default when none is configured)."""
        if self.rules is not None:
            return self.rules
        from importlib.resources import files

        return Path(str(files("blo") / "data" / "rules.yaml"))


class RetentionSettings(BaseSettings):
    """How long ``blo db retention`` keeps each table's rows, per source (days; 0 = for
    ever). A month goes once all of it is older than the limit. In ``events`` and
    ``window_stats`` the count reports (``reports``: every row ``blo import-csv`` writes,
    and the count reports stations send) have their own limits, for ever by default; the
    plain limits are for every other event type (``live``). docs/clickhouse.md#retention."""

    model_config = _group("BLO_RETENTION_")

    events_days: int = Field(730, ge=0, description="live events (and their payloads)")
    events_reports_days: int = Field(
        0, ge=0, description="count reports in events: imported statistics (the archive)")
    dlq_days: int = Field(180, ge=0, description="dead letters")
    window_stats_days: int = Field(1830, ge=0, description="window statistics of live events")
    window_stats_reports_days: int = Field(
        0, ge=0, description="window statistics of count reports (imported statistics)")
    late_events_days: int = Field(730, ge=0, description="the late-event ledger")
    alerts_days: int = Field(1830, ge=0, description="alert versions")
    api_audit_days: int = Field(400, ge=0, description="the query API's audit log")


class ApiSettings(BaseSettings):
    """The monitoring centres' query API and dashboard (``blo api``; in embedded mode the
    worker serves it on BLO_WEB_PORT)."""

    model_config = _group("BLO_API_")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, lt=65536)
    max_range_days: int = Field(400, ge=1, description="longest time range one query may ask")
    max_rows: int = Field(10_000, ge=1, description="most rows one answer may carry")
    audit: bool = Field(True, description="record every call in the api_audit table")
    live_interval_s: float = Field(2.0, gt=0, le=60, description="dashboard update cadence")
    query_timeout_s: float = Field(
        10.0, gt=0, le=600, description="an API call whose ClickHouse work takes longer "
        "answers 503 (ClickHouse is not answering) instead of waiting")
    # least privilege (docs/deployment.md, "ClickHouse users"); server mode (`blo api`) only
    clickhouse_url: SecretStr | None = Field(
        None, description="the API's read-only ClickHouse user (profile readonly=1), "
        "clickhouse://blo_reader:…@host:9000/blo; default BLO_CLICKHOUSE_URL")
    audit_clickhouse_url: SecretStr | None = Field(
        None, description="the user that writes the API's audit rows and nothing else, "
        "clickhouse://blo_audit:…@host:9000/blo_audit (the door of migration 0006); needed "
        "with BLO_API_CLICKHOUSE_URL while BLO_API_AUDIT is on")
    allow_unsafe_users: bool = Field(
        False, description="let `blo api` start although its ClickHouse users can write or "
        "run DDL (a loud warning instead of a refusal; development only)")

    @field_validator("clickhouse_url", "audit_clickhouse_url")
    @classmethod
    def _check_server_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and parse_clickhouse_url(v.get_secret_value()).kind != "server":
            raise ValueError("must be a ClickHouse server URL (clickhouse:// or clickhouses://)")
        return v


class BulletinSettings(BaseSettings):
    """Scheduled bulletins (docs/bulletins.md, "Scheduled bulletins"): one worker of a
    deployment (the owner of raw partition 0) makes the bulletin of every scope and
    language when a month closes and stores it in ``bulletin_editions``."""

    model_config = _group("BLO_BULLETINS_")

    schedule: bool = Field(True, description="make and store a bulletin edition per scope "
                           "and language when a month closes")
    interval_s: float = Field(600.0, ge=1, le=86_400,
                              description="how often the schedule looks for closed months")
    months: int = Field(3, ge=1, le=120, description="the newest months of each scope's "
                        "data the schedule watches (a correction of an older month makes "
                        "no new edition by itself: `blo report editions make`)")


class WebSettings(BaseSettings):
    model_config = _group("BLO_WEB_")

    host: str = "127.0.0.1"
    port: int = Field(6066, ge=0, lt=65536)


class Settings(BaseModel):
    """Everything, grouped. Build with :func:`load_settings`."""

    model_config = {"frozen": True}

    kafka: KafkaSettings
    clickhouse: ClickHouseSettings
    batch: BatchSettings
    ingest: IngestSettings
    web: WebSettings
    windows: WindowSettings
    alerts: AlertSettings
    retention: RetentionSettings
    api: ApiSettings
    bulletins: BulletinSettings
    data_dir: Path = Path(".blo")

    def describe(self) -> dict[str, object]:
        """A loggable view: secrets masked."""
        out: dict[str, object] = {}
        for name in ("kafka", "clickhouse", "batch", "ingest", "web", "windows", "alerts",
                     "retention", "api", "bulletins"):
            group: BaseModel = getattr(self, name)
            for k, v in group.model_dump().items():
                if isinstance(v, SecretStr):
                    v = "**********" if v.get_secret_value() else ""
                out[f"{name}.{k}"] = v
        out["clickhouse.url"] = str(self.clickhouse.target())
        return out


_PREFIX = {
    KafkaSettings: "BLO_KAFKA_",
    ClickHouseSettings: "BLO_CLICKHOUSE_",
    BatchSettings: "BLO_BATCH_",
    IngestSettings: "BLO_INGEST_",
    WebSettings: "BLO_WEB_",
    WindowSettings: "BLO_WINDOWS_",
    AlertSettings: "BLO_ALERTS_",
    RetentionSettings: "BLO_RETENTION_",
    ApiSettings: "BLO_API_",
    BulletinSettings: "BLO_BULLETINS_",
}


def _secret_problem(var: str, value: object, msg: str) -> str:
    """``VAR='scheme://user:***@host…': message`` -- a secret's value is never echoed: a URL
    is shown masked (:func:`blo.redact.mask_url`), anything else not at all, and whatever
    of it the message might quote is redacted too."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(text, str) or not text:
        return f"{var}: {msg}"
    msg = Redactor([text])(msg)
    if "://" in text:
        return f"{var}={mask_url(text)!r}: {msg}"
    return f"{var}: {msg}"


def _load_group(cls: type[BaseSettings], overrides: dict[str, object]) -> BaseSettings:
    try:
        return cls.model_validate(overrides)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            var = _PREFIX[cls] + field.upper()
            msg = str(err["msg"]).removeprefix("Value error, ")
            if "url" in field or "password" in field or is_secret_field(cls, field):
                problems.append(_secret_problem(var, err.get("input"), msg))
            else:
                problems.append(f"{var}={err.get('input')!r}: {msg}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


def load_settings(**overrides: dict[str, object]) -> Settings:
    """Read the environment once. ``overrides`` maps group name → field values (tests, CLI)."""
    data_dir = Path(os.environ.get("BLO_DATA_DIR", ".blo"))
    return Settings(
        kafka=_load_group(KafkaSettings, overrides.get("kafka", {})),  # type: ignore[arg-type]
        clickhouse=_load_group(ClickHouseSettings, overrides.get("clickhouse", {})),  # type: ignore[arg-type]
        batch=_load_group(BatchSettings, overrides.get("batch", {})),  # type: ignore[arg-type]
        ingest=_load_group(IngestSettings, overrides.get("ingest", {})),  # type: ignore[arg-type]
        web=_load_group(WebSettings, overrides.get("web", {})),  # type: ignore[arg-type]
        windows=_load_group(WindowSettings, overrides.get("windows", {})),  # type: ignore[arg-type]
        alerts=_load_group(AlertSettings, overrides.get("alerts", {})),  # type: ignore[arg-type]
        retention=_load_group(RetentionSettings, overrides.get("retention", {})),  # type: ignore[arg-type]
        api=_load_group(ApiSettings, overrides.get("api", {})),  # type: ignore[arg-type]
        bulletins=_load_group(BulletinSettings, overrides.get("bulletins", {})),  # type: ignore[arg-type]
        data_dir=data_dir,
    )
