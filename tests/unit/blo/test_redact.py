"""blo.redact: URL masking, every spelling of a secret, and the one logging hook that
covers every logger, level, handler and exception text."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from blo.redact import (
    MASK,
    RedactingFilter,
    Redactor,
    credentials_need_encoding,
    environ_secrets,
    install_redaction,
    installed_redactor,
    mask_url,
    mask_urls_in,
    secret_env_names,
    secret_parts,
    settings_secrets,
    uninstall_redaction,
)
from blo.settings import Settings, load_settings

PASSWORD = "S3cret/Pa#ss@9"  # every character that breaks a URL
CH_URL = f"clickhouse://blo:{quote(PASSWORD, safe='')}@ch.example:9000/blo"
RAW_CH_URL = f"clickhouse://blo:{PASSWORD}@ch.example:9000/blo"
SASL = "TopSecret'\\x"  # a quote and a backslash: repr and JSON escape them
WEBHOOK_TOKEN = "whk-3c9d1e77a0"
WEBHOOK_PATH_KEY = "pathkey-81f2b6"
WEBHOOK = f"http://ops:{WEBHOOK_TOKEN}@127.0.0.1:9/{WEBHOOK_PATH_KEY}/alerts?sig={WEBHOOK_TOKEN}"
SECRETS = (CH_URL, SASL, WEBHOOK)
NEVER = (PASSWORD, quote(PASSWORD, safe=""), "S3cret", "Pa#ss", SASL, WEBHOOK_TOKEN,
         WEBHOOK_PATH_KEY)


@pytest.fixture(autouse=True)
def no_hook_left() -> Iterator[None]:
    yield
    uninstall_redaction()


def assert_clean(text: str) -> None:
    for secret in NEVER:
        assert secret not in text, (secret, text)


# -- URLs ------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "shown"), [
    (CH_URL, "clickhouse://blo:***@ch.example:9000/blo"),
    (RAW_CH_URL, "clickhouse://blo:***@ch.example:9000/blo"),  # last @ ends the credentials
    ("clickhouse://blo:12/S3cretPass@host:32000/blo", "clickhouse://blo:***@host:32000/blo"),
    ("clickhouse://blo:ab#S3cretPass", "clickhouse://***"),  # cut before any @
    ("clickhouses://ch.example/blo", "clickhouses://ch.example/blo"),
    ("chdb:///var/lib/blo/chdb", "chdb:///var/lib/blo/chdb"),
    ("clickhouse://[::1]:9000/blo", "clickhouse://[::1]:9000/blo"),
    ("clickhouse://h:9000/db#S3cretPass", "clickhouse://h:9000/db#***"),
    (WEBHOOK, "http://ops:***@127.0.0.1:9/***"),
    ("https://TOKEN1234abcd@hooks.example/x", "https://***@hooks.example/***"),
    ("mysql://u:S3cretPass@h:1/db", "mysql://u:***@h:1/***"),
    ("not a url S3cretPass", MASK),
])
def test_mask_url_hides_credentials_even_when_the_url_does_not_parse(url: str,
                                                                     shown: str) -> None:
    assert mask_url(url) == shown
    assert mask_url(shown) == shown


def test_credentials_that_need_percent_encoding_are_detected() -> None:
    assert credentials_need_encoding("clickhouse://blo:12/S3cretPass@host:32000/blo")
    assert credentials_need_encoding("clickhouse://blo:ab#c@host/blo")
    assert credentials_need_encoding("clickhouse://blo:ab?c@host/blo")
    assert not credentials_need_encoding(CH_URL)
    assert not credentials_need_encoding("clickhouse://host:9000/blo")
    assert not credentials_need_encoding("clickhouse://blo:a@b@host/blo")  # raw @ parses


def test_urls_in_free_text_lose_their_credentials() -> None:
    text = ("connecting to clickhouse://blo:S3cretPass@host:9000/blo, then "
            "'http://x:y@z/' and https://host/path?mail=a")
    out = mask_urls_in(text)
    assert out == ("connecting to clickhouse://blo:***@host:9000/blo, then "
                   "'http://x:***@z/' and https://host/path?mail=a")
    assert mask_urls_in(out) == out


def test_secret_parts_of_a_webhook_are_its_tokens_not_its_words() -> None:
    parts = secret_parts(WEBHOOK)
    assert WEBHOOK_TOKEN in parts and WEBHOOK_PATH_KEY in parts and WEBHOOK in parts
    assert "alerts" not in parts and "ops" not in parts and "127.0.0.1" not in parts
    ch = secret_parts("clickhouse://blo:12/S3cretPass@host:32000/sec_1234567890")
    assert "12/S3cretPass" in ch and "S3cretPass" in ch
    assert "12" not in ch and "sec_1234567890" not in ch  # short piece; database name


def test_every_spelling_of_every_secret_is_redacted() -> None:
    r = Redactor(SECRETS)
    spellings = [PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD), quote_plus(PASSWORD),
                 quote(PASSWORD, safe="").lower(), SASL, repr(SASL), json.dumps(SASL),
                 quote_plus(SASL), WEBHOOK_TOKEN, quote(WEBHOOK, safe="")]
    for s in spellings:
        out = r(f"before {s} after")
        assert out.startswith("before ") and out.endswith(" after")
        assert_clean(out)
    assert r(f"url={CH_URL}") == "url=clickhouse://blo:***@ch.example:9000/blo"
    assert r(f"hook {WEBHOOK} failed") == "hook http://ops:***@127.0.0.1:9/*** failed"
    assert r("nothing secret here: alerts, 12, ops") == "nothing secret here: alerts, 12, ops"


# -- settings --------------------------------------------------------------------------
def test_every_secretstr_setting_is_known_by_its_variable() -> None:
    names = set(secret_env_names(Settings))
    assert {"BLO_KAFKA_SASL_PASSWORD", "BLO_CLICKHOUSE_URL", "BLO_ALERTS_WEBHOOK_URL"} <= names
    assert "BLO_KAFKA_SASL_USERNAME" not in names
    env = {"blo_kafka_sasl_password": SASL, "BLO_CLICKHOUSE_URL": RAW_CH_URL,
           "BLO_KAFKA_SASL_USERNAME": "post7", "HOME": "/root"}
    assert sorted(environ_secrets(Settings, env)) == sorted([SASL, RAW_CH_URL])


def test_settings_secrets_walks_the_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in [k for k in __import__("os").environ if k.startswith("BLO_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("BLO_KAFKA_SASL_PASSWORD", SASL)
    monkeypatch.setenv("BLO_CLICKHOUSE_URL", CH_URL)
    monkeypatch.setenv("BLO_ALERTS_WEBHOOK_URL", WEBHOOK)
    assert sorted(settings_secrets(load_settings())) == sorted(SECRETS)


# -- logging ---------------------------------------------------------------------------
def _capture(logger: logging.Logger, *filters: logging.Filter) -> io.StringIO:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    for f in filters:
        handler.addFilter(f)
    logger.addHandler(handler)
    return out


def test_every_logger_every_level_and_every_later_handler_is_covered() -> None:
    install_redaction(SECRETS)
    root_out = _capture(logging.getLogger())  # a handler added after the install
    # every logger used below at DEBUG, whatever earlier tests did (the SDK quiets "kafka")
    names = ("", "kafka", "aiokafka", "clickhouse_driver", "urllib3", "faust", "blo")
    old_levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.DEBUG)
    lone = logging.getLogger("thirdparty.quiet")  # does not propagate, own handler
    lone.propagate = False
    lone_out = _capture(lone)
    try:
        config = {"bootstrap_servers": ["b:9092"], "sasl_plain_password": SASL}
        logging.getLogger("kafka.admin.client").debug(
            "Starting KafkaAdminClient with configuration: %s", config)
        logging.getLogger("aiokafka").info("url %r", CH_URL)
        logging.getLogger("clickhouse_driver.connection").warning("raw %s", RAW_CH_URL)
        logging.getLogger("urllib3.connectionpool").error("POST %s", WEBHOOK)
        lone.critical("lone logger: %s %s", SASL, quote_plus(PASSWORD))
        try:
            raise ValueError(f"cannot use {RAW_CH_URL} with {SASL}")
        except ValueError:
            logging.getLogger("faust.worker").exception("failed for %s", WEBHOOK)
            lone.debug("again", exc_info=True)
        logging.getLogger("blo.x").info("stack", stack_info=True, extra={})
    finally:
        for n, level in old_levels.items():
            logging.getLogger(n).setLevel(level)
        for logger in (logging.getLogger(), lone):
            logger.handlers = [h for h in logger.handlers
                               if not isinstance(getattr(h, "stream", None), io.StringIO)]
    text = root_out.getvalue() + lone_out.getvalue()
    assert_clean(text)
    assert "'sasl_plain_password': \"***\"" in text  # repr chose double quotes
    assert "clickhouse://blo:***@ch.example:9000/blo" in text
    assert "ValueError: cannot use clickhouse://blo:***@ch.example:9000/blo" in text
    assert "lone logger: *** ***" in text and "again" in lone_out.getvalue()
    assert "Traceback" in lone_out.getvalue()  # exception text kept, redacted


def test_install_twice_replaces_the_secrets_and_never_stacks() -> None:
    before = logging.getLogRecordFactory()
    install_redaction(["first-secret-1"])
    factory = logging.getLogRecordFactory()
    install_redaction(["second-secret-2"])
    assert logging.getLogRecordFactory() is factory
    assert installed_redactor()("first-secret-1 second-secret-2") == "first-secret-1 ***"
    uninstall_redaction()
    assert logging.getLogRecordFactory() is before


def test_uncaught_exceptions_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    install_redaction(SECRETS)
    try:
        raise RuntimeError(f"boom {SASL} {RAW_CH_URL}")
    except RuntimeError as e:
        sys.excepthook(type(e), e, e.__traceback__)
    t = threading.Thread(target=lambda: (_ for _ in ()).throw(RuntimeError(WEBHOOK_TOKEN)))
    t.start()
    t.join()
    err = capsys.readouterr().err
    assert "RuntimeError: boom *** clickhouse://blo:***@ch.example:9000/blo" in err
    assert "Exception in thread" in err
    assert_clean(err)


def test_the_filter_alone_redacts_a_handler(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("embedding.app")
    out = _capture(logger, RedactingFilter(Redactor([SASL])))
    try:
        logger.warning("password is %s", SASL)
    finally:
        logger.handlers.clear()
    assert out.getvalue() == "WARNING embedding.app password is ***\n"
