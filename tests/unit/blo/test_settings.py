import logging
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from blo.cli import main
from blo.redact import uninstall_redaction
from blo.settings import SettingsError, load_settings, parse_clickhouse_url

SECRET = "s3cr3t-Pa55"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import os

    for k in list(os.environ):
        if k.startswith("BLO_"):
            monkeypatch.delenv(k)
    yield
    uninstall_redaction()  # `main` installs the log redaction process-wide


def test_missing_bootstrap_names_the_variable() -> None:
    s = load_settings()
    with pytest.raises(SettingsError, match="BLO_KAFKA_BOOTSTRAP"):
        s.kafka.bootstrap_servers()


def test_invalid_values_name_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLO_KAFKA_BOOTSTRAP", "broker-without-port")
    with pytest.raises(SettingsError, match="BLO_KAFKA_BOOTSTRAP"):
        load_settings()
    monkeypatch.setenv("BLO_KAFKA_BOOTSTRAP", "b1:9092,b2:9093")
    monkeypatch.setenv("BLO_BATCH_SINK_MAX_ROWS", "0")
    with pytest.raises(SettingsError, match="BLO_BATCH_SINK_MAX_ROWS"):
        load_settings()


def test_a_bad_clickhouse_url_is_reported_without_its_password(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLO_CLICKHOUSE_URL", f"mysql://u:{SECRET}@h:1/db")
    with pytest.raises(SettingsError) as e:
        load_settings()
    assert "BLO_CLICKHOUSE_URL" in str(e.value) and SECRET not in str(e.value)


@pytest.mark.parametrize("password", ["12/S3cretPass", "ab#S3cretPass", "S3cret@Pass/x",
                                      "S3cret?Pass", "a/b#c@d"])
def test_a_raw_password_that_breaks_the_url_is_named_never_shown(
        monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    monkeypatch.setenv("BLO_CLICKHOUSE_URL", f"clickhouse://blo:{password}@host:32000/blo")
    with pytest.raises(SettingsError) as e:
        load_settings()
    msg = str(e.value)
    assert "BLO_CLICKHOUSE_URL='clickhouse://blo:***@host:32000/blo'" in msg
    assert "percent-encode the password: / → %2F, # → %23, @ → %40" in msg
    for piece in [password, *password.replace("#", "/").replace("@", "/")
                  .replace("?", "/").split("/")]:
        if len(piece) >= 3:
            assert piece not in msg


@pytest.mark.parametrize(("url", "shown"), [
    (f"clickhouse://blo:{SECRET}@host:32000/b-lo", "clickhouse://blo:***@host:32000/b-lo"),
    (f"clickhouse://blo:{SECRET}@host:99999/blo", "clickhouse://blo:***@host:99999/blo"),
    (f"clickhouse://blo:ab#{SECRET}", "clickhouse://***"),
    (f"postgres://blo:{SECRET}@host/blo", "postgres://blo:***@host/***"),
])
def test_every_clickhouse_url_error_masks_the_url(monkeypatch: pytest.MonkeyPatch, url: str,
                                                  shown: str) -> None:
    monkeypatch.setenv("BLO_CLICKHOUSE_URL", url)
    with pytest.raises(SettingsError) as e:
        load_settings()
    assert f"BLO_CLICKHOUSE_URL={shown!r}: " in str(e.value)
    assert SECRET not in str(e.value) and "ab#" not in str(e.value)


def test_a_percent_encoded_password_with_every_breaking_character_parses() -> None:
    from urllib.parse import quote

    password = "a/b#c@d?e%f:g"
    t = parse_clickhouse_url(f"clickhouse://blo:{quote(password, safe='')}@h:9000/blo")
    assert t.password.get_secret_value() == password and (t.user, t.host) == ("blo", "h")


def test_the_cli_error_for_a_bad_url_shows_no_secret() -> None:
    res = CliRunner().invoke(main, ["stats"], env={
        "BLO_CLICKHOUSE_URL": f"clickhouse://blo:12/{SECRET}@127.0.0.1:32000/blo"})
    assert res.exit_code == 2
    assert "clickhouse://blo:***@127.0.0.1:32000/blo" in res.output
    assert SECRET not in res.output and "12/" not in res.output


def test_urls_parse_to_targets() -> None:
    t = parse_clickhouse_url(f"clickhouse://blo:{SECRET}@ch.example:9001/stats")
    assert (t.kind, t.host, t.port, t.user, t.database) == ("server", "ch.example", 9001,
                                                            "blo", "stats")
    assert t.password.get_secret_value() == SECRET and not t.secure
    tls = parse_clickhouse_url("clickhouses://ch.example/blo")
    assert tls.secure and tls.port == 9440
    emb = parse_clickhouse_url("chdb:///var/lib/blo/chdb")
    assert emb.kind == "chdb" and str(emb.path) == "/var/lib/blo/chdb" and emb.database == "blo"


def test_secrets_never_reach_repr_describe_or_logs(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("BLO_KAFKA_BOOTSTRAP", "b1:9092")
    monkeypatch.setenv("BLO_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("BLO_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("BLO_KAFKA_SASL_USERNAME", "post7")
    monkeypatch.setenv("BLO_KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("BLO_CLICKHOUSE_URL", f"clickhouse://blo:{SECRET}@ch:9000/blo")
    s = load_settings()
    described = s.describe()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("blo.test").info("settings: %s %r %s", described, s, s.clickhouse.target())
    for text in (repr(s), str(s), str(described), caplog.text, repr(s.clickhouse.target())):
        assert SECRET not in text
    assert described["kafka.sasl_password"] == "**********"
    assert s.kafka.sasl_password is not None and s.kafka.sasl_password.get_secret_value() == SECRET


def test_the_cli_fails_fast_with_the_variable_name() -> None:
    res = CliRunner().invoke(main, ["worker"], env={"BLO_KAFKA_BOOTSTRAP": ""})
    assert res.exit_code == 2
    assert "BLO_KAFKA_BOOTSTRAP" in res.output


def test_every_command_has_help() -> None:
    runner = CliRunner()

    def walk(cmd, path):  # type: ignore[no-untyped-def]
        res = runner.invoke(main, [*path, "--help"])
        assert res.exit_code == 0, (path, res.output)
        assert "Usage:" in res.output
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(main, [])
    names = set(main.commands)
    assert {"worker", "demo", "db", "stations", "publish", "import-csv", "simulate", "dlq",
            "schema", "query", "stats"} <= names


def test_schema_export_writes_one_json_schema_per_event_type(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    res = CliRunner().invoke(main, ["schema", "export", str(tmp_path / "schemas")])
    assert res.exit_code == 0, res.output
    files = {p.name: json.loads(p.read_text()) for p in (tmp_path / "schemas").glob("*.json")}
    for et in ("crossing", "inspection", "seizure", "detention", "incident",
               "liaison_message", "count_report"):
        match = [s for n, s in files.items() if n.startswith(et)]
        assert match, (et, sorted(files))
        props = match[0]["properties"]
        assert {"event_id", "station_id", "occurred_at", "source_seq"} <= set(props)
    # the alerts topic's and webhook's messages: a real alert version validates
    import jsonschema

    from streams.alerts import AlertEngine, alert_message, load_rules
    from tests.unit.streams.alerts.factories import wrow

    engine = AlertEngine(load_rules("blo/data/rules.yaml"), baseline=lambda *a: [])
    engine.on_window_rows([wrow(0, seizure_kg=75.0)])
    [row] = engine.drain()
    jsonschema.validate(json.loads(alert_message(row)), files["alert.schema.json"])


def test_the_readme_documents_every_setting() -> None:
    from pathlib import Path

    from blo.settings import (
        BatchSettings,
        BulletinSettings,
        ClickHouseSettings,
        IngestSettings,
        KafkaSettings,
        WebSettings,
    )

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    groups = {KafkaSettings: "BLO_KAFKA_", ClickHouseSettings: "BLO_CLICKHOUSE_",
              BatchSettings: "BLO_BATCH_", IngestSettings: "BLO_INGEST_", WebSettings: "BLO_WEB_",
              BulletinSettings: "BLO_BULLETINS_"}
    missing = [prefix + name.upper() for cls, prefix in groups.items()
               for name in cls.model_fields if f"`{prefix}{name.upper()}`" not in readme]
    assert not missing, missing


def test_a_server_url_with_options_is_refused_not_half_read() -> None:
    """?password=… was ignored and the connection made without it."""
    with pytest.raises(ValueError, match="takes no \\?options"):
        parse_clickhouse_url("clickhouse://default@127.0.0.1:9000/blo?password=S3cret")
