"""KafkaSettings -> client kwargs, for every security protocol; secrets never shown."""

from __future__ import annotations

import inspect
import logging
import ssl
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from blo.kafka_config import (
    aiokafka_kwargs,
    check_security,
    faust_broker_kwargs,
    kafka_python_kwargs,
    redacted,
)
from blo.settings import KafkaSettings, SettingsError, load_settings
from tests.unit.sdk.tls import TlsFiles, make_tls_files

PASSWORD = "pä$$w0rd-never-shown"
BOOT = "k1.example:9093,k2.example:9093"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    try:
        return make_tls_files(tmp_path_factory.mktemp("tls"))
    except RuntimeError as e:
        pytest.skip(str(e))


def settings(**kw: Any) -> KafkaSettings:
    return KafkaSettings(**{"bootstrap": BOOT, **kw})


def sasl(protocol: str, mechanism: str = "PLAIN", **kw: Any) -> KafkaSettings:
    return settings(
        security_protocol=protocol, sasl_mechanism=mechanism, sasl_username="station-7",
        sasl_password=SecretStr(PASSWORD), **kw,
    )


def _ca_subjects(ctx: ssl.SSLContext) -> list[str]:
    return [str(c.get("subject")) for c in ctx.get_ca_certs()]


# -- PLAINTEXT ------------------------------------------------------------------------------
def test_plaintext() -> None:
    k = settings()
    assert kafka_python_kwargs(k) == {
        "bootstrap_servers": ["k1.example:9093", "k2.example:9093"],
        "security_protocol": "PLAINTEXT",
        "max_request_size": 1_048_576,
    }
    assert "max_request_size" not in kafka_python_kwargs(k, "consumer")
    assert aiokafka_kwargs(k) == {
        "bootstrap_servers": ["k1.example:9093", "k2.example:9093"],
        "security_protocol": "PLAINTEXT",
        "max_request_size": 1_048_576,
    }
    assert faust_broker_kwargs(k) == {
        "broker": "kafka://k1.example:9093,k2.example:9093",
        "producer_max_request_size": 1_048_576,
    }


# -- SSL ------------------------------------------------------------------------------------
def test_ssl_with_a_private_ca_and_a_client_certificate(tls: TlsFiles) -> None:
    k = settings(
        security_protocol="SSL", ssl_cafile=tls.ca_cert, ssl_certfile=tls.cert,
        ssl_keyfile=tls.key, ssl_check_hostname=False, max_request_bytes=2_000_000,
    )
    assert kafka_python_kwargs(k) == {
        "bootstrap_servers": ["k1.example:9093", "k2.example:9093"],
        "security_protocol": "SSL",
        "ssl_cafile": str(tls.ca_cert),
        "ssl_certfile": str(tls.cert),
        "ssl_keyfile": str(tls.key),
        "ssl_check_hostname": False,
        "max_request_size": 2_000_000,
    }
    aio = aiokafka_kwargs(k, "consumer")
    assert set(aio) == {"bootstrap_servers", "security_protocol", "ssl_context"}
    ctx = aio["ssl_context"]
    assert aio["security_protocol"] == "SSL"
    assert ctx.check_hostname is False and ctx.verify_mode == ssl.CERT_REQUIRED
    assert any("blo test CA" in s for s in _ca_subjects(ctx))

    import faust

    fk = faust_broker_kwargs(k)
    creds = fk["broker_credentials"]
    assert isinstance(creds, faust.SSLCredentials)
    assert creds.protocol.value == "SSL"
    assert any("blo test CA" in s for s in _ca_subjects(creds.context))


def test_ssl_without_ca_uses_the_system_store_and_checks_hostnames() -> None:
    k = settings(security_protocol="SSL")
    assert kafka_python_kwargs(k)["ssl_check_hostname"] is True
    assert "ssl_cafile" not in kafka_python_kwargs(k)
    assert aiokafka_kwargs(k)["ssl_context"].check_hostname is True


# -- SASL -----------------------------------------------------------------------------------
def test_sasl_plaintext_plain() -> None:
    k = sasl("SASL_PLAINTEXT")
    assert kafka_python_kwargs(k, "admin") == {
        "bootstrap_servers": ["k1.example:9093", "k2.example:9093"],
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "station-7",
        "sasl_plain_password": PASSWORD,
    }
    aio = aiokafka_kwargs(k)
    assert "ssl_context" not in aio and aio["sasl_plain_password"] == PASSWORD

    import faust

    creds = faust_broker_kwargs(k)["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol.value == "SASL_PLAINTEXT" and creds.mechanism.value == "PLAIN"
    assert creds.username == "station-7" and creds.password == PASSWORD
    assert creds.ssl_context is None


def test_sasl_ssl_scram_sha_512(tls: TlsFiles) -> None:
    k = sasl("SASL_SSL", "SCRAM-SHA-512", ssl_cafile=tls.ca_cert)
    kp = kafka_python_kwargs(k)
    assert kp["security_protocol"] == "SASL_SSL" and kp["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kp["sasl_plain_username"] == "station-7" and kp["sasl_plain_password"] == PASSWORD
    assert kp["ssl_cafile"] == str(tls.ca_cert) and kp["ssl_check_hostname"] is True
    aio = aiokafka_kwargs(k)
    assert aio["sasl_mechanism"] == "SCRAM-SHA-512"
    assert any("blo test CA" in s for s in _ca_subjects(aio["ssl_context"]))

    import faust

    creds = faust_broker_kwargs(k)["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.ssl_context is not None


# -- the kwargs fit the clients ------------------------------------------------------------
def test_kwargs_are_accepted_by_every_client(tls: TlsFiles) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    k = sasl("SASL_SSL", "SCRAM-SHA-256", ssl_cafile=tls.ca_cert)
    assert set(kafka_python_kwargs(k)) <= set(KafkaProducer.DEFAULT_CONFIG)
    assert set(kafka_python_kwargs(k, "consumer")) <= set(KafkaConsumer.DEFAULT_CONFIG)
    assert set(kafka_python_kwargs(k, "admin")) <= set(KafkaAdminClient.DEFAULT_CONFIG)
    assert set(aiokafka_kwargs(k)) <= set(inspect.signature(AIOKafkaProducer).parameters)
    consumer_params = set(inspect.signature(AIOKafkaConsumer).parameters)
    assert set(aiokafka_kwargs(k, "consumer")) <= consumer_params


def test_faust_app_takes_the_kwargs() -> None:
    import faust

    app = faust.App("blo-kwargs-test", **faust_broker_kwargs(sasl("SASL_PLAINTEXT")))
    assert [str(u) for u in app.conf.broker] == ["kafka://k1.example:9093", "kafka://k2.example:9093"]
    assert app.conf.broker_credentials.username == "station-7"
    assert app.conf.producer_max_request_size == 1_048_576


# -- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "named"),
    [
        ({"security_protocol": "SASL_SSL", "sasl_username": "u",
          "sasl_password": SecretStr(PASSWORD)}, "BLO_KAFKA_SASL_MECHANISM"),
        ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
          "sasl_password": SecretStr(PASSWORD)}, "BLO_KAFKA_SASL_USERNAME"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
          "sasl_username": "u"}, "BLO_KAFKA_SASL_PASSWORD"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u",
          "sasl_password": SecretStr("")}, "BLO_KAFKA_SASL_PASSWORD"),
        ({"sasl_username": "u", "sasl_password": SecretStr(PASSWORD)},
         ("BLO_KAFKA_SASL_USERNAME, BLO_KAFKA_SASL_PASSWORD given but "
          "BLO_KAFKA_SECURITY_PROTOCOL=PLAINTEXT")),
        ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
          "sasl_username": "u", "sasl_password": SecretStr(PASSWORD),
          "ssl_cafile": Path("/etc/hostname")}, "BLO_KAFKA_SSL_CAFILE given but"),
        ({"security_protocol": "SSL", "ssl_keyfile": Path("/etc/hostname")},
         "BLO_KAFKA_SSL_KEYFILE is set without BLO_KAFKA_SSL_CERTFILE"),
        ({"security_protocol": "SSL", "ssl_cafile": Path("/nonexistent/ca.pem")},
         "BLO_KAFKA_SSL_CAFILE='/nonexistent/ca.pem': no such file"),
        ({"bootstrap": None}, "BLO_KAFKA_BOOTSTRAP"),
    ],
)
def test_bad_security_settings_name_the_variable(kw: dict[str, Any], named: str) -> None:
    k = settings(**kw)
    for build in (check_security, kafka_python_kwargs, aiokafka_kwargs, faust_broker_kwargs):
        with pytest.raises(SettingsError, match=named) as info:
            build(k)
        assert PASSWORD not in str(info.value)


def test_unreadable_tls_material_is_a_settings_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(SettingsError, match="cannot load TLS material"):
        aiokafka_kwargs(settings(security_protocol="SSL", ssl_cafile=junk))


# -- secrets --------------------------------------------------------------------------------
def test_the_password_never_shows_in_repr_dumps_describe_or_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    k = sasl("SASL_SSL", "SCRAM-SHA-512")
    shown = [repr(k), str(k), k.model_dump_json(), repr(k.model_dump()), repr(k.sasl_password)]
    monkeypatch.setenv("BLO_KAFKA_BOOTSTRAP", BOOT)
    monkeypatch.setenv("BLO_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("BLO_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("BLO_KAFKA_SASL_USERNAME", "station-7")
    monkeypatch.setenv("BLO_KAFKA_SASL_PASSWORD", PASSWORD)
    full = load_settings()
    assert full.kafka.sasl_password is not None
    assert full.kafka.sasl_password.get_secret_value() == PASSWORD
    shown += [repr(full), str(full), repr(full.describe())]
    shown.append(repr(redacted(kafka_python_kwargs(k))))
    shown.append(repr(redacted(aiokafka_kwargs(k))))
    shown.append(repr(faust_broker_kwargs(k)["broker_credentials"]))
    for text in shown:
        assert PASSWORD not in text
    assert redacted(kafka_python_kwargs(k))["sasl_plain_password"] == "**********"


def test_the_password_never_reaches_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A publisher with SASL settings whose broker is unreachable logs its failures."""
    from blo.localservices.tansu import free_port
    from blo.sdk import StationPublisher

    k = KafkaSettings(
        bootstrap=f"127.0.0.1:{free_port()}", security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512", sasl_username="station-7",
        sasl_password=SecretStr(PASSWORD),
    )
    with caplog.at_level(logging.DEBUG):
        pub = StationPublisher(
            k, "raw", tmp_path / "outbox.db", connect_timeout_s=0.3, retry_initial_s=0.05,
        )
        pub.publish({"station_id": "A", "source_seq": 1})
        deadline = 50
        while pub.last_error is None and deadline:
            import time

            time.sleep(0.1)
            deadline -= 1
        pub.close(timeout=0.2)
    assert pub.last_error is not None
    assert "unreachable" in caplog.text
    assert PASSWORD not in caplog.text
