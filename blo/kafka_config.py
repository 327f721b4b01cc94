"""The one place where :class:`~blo.settings.KafkaSettings` become Kafka client arguments.

Three client families use the broker: kafka-python (station SDK, tools), aiokafka, and
Faust (which drives aiokafka). Each gets its keyword arguments from here, so TLS and SASL
are configured once:

* :func:`kafka_python_kwargs` -- ``KafkaProducer`` / ``KafkaConsumer`` / ``KafkaAdminClient``
* :func:`aiokafka_kwargs` -- ``AIOKafkaProducer`` / ``AIOKafkaConsumer`` (TLS as an
  :class:`ssl.SSLContext`)
* :func:`faust_broker_kwargs` -- ``faust.App(..., **kwargs)``

All three first call :func:`check_security`, which raises
:class:`~blo.settings.SettingsError` naming the ``BLO_KAFKA_*`` variable at fault.

Secrets: the returned mappings necessarily hold the SASL password in clear text (the
clients need it). Never log them; log :func:`redacted` of them instead. kafka-python's
``KafkaAdminClient`` itself logs its configuration at DEBUG level: the ``blo`` commands
redact the password from it (and from every other log record) with :mod:`blo.redact`;
an application using these clients elsewhere should install that too.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, TypedDict

from blo.settings import KafkaSettings, SettingsError

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

ClientRole = Literal["producer", "consumer", "admin"]
"""Only producers accept ``max_request_size``; consumers and admin clients reject it."""

_SECRET_KEYS = frozenset({"sasl_plain_password"})


class _ConnectionKwargs(TypedDict, total=False):
    """What kafka-python and aiokafka spell alike: see :func:`_add_connection`."""

    bootstrap_servers: list[str]
    security_protocol: str
    sasl_mechanism: str
    sasl_plain_username: str
    sasl_plain_password: str


class KafkaPythonKwargs(_ConnectionKwargs, total=False):
    ssl_cafile: str
    ssl_certfile: str
    ssl_keyfile: str
    ssl_check_hostname: bool
    max_request_size: int


class AiokafkaKwargs(_ConnectionKwargs, total=False):
    ssl_context: ssl.SSLContext
    max_request_size: int


class FaustBrokerKwargs(TypedDict, total=False):
    broker: str
    broker_credentials: CredentialsT
    producer_max_request_size: int


def _uses_sasl(k: KafkaSettings) -> bool:
    return k.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def _uses_ssl(k: KafkaSettings) -> bool:
    return k.security_protocol in ("SSL", "SASL_SSL")


def check_security(k: KafkaSettings) -> None:
    """Fail fast on an incomplete or contradictory TLS/SASL configuration.

    * ``SASL_PLAINTEXT``/``SASL_SSL`` need ``BLO_KAFKA_SASL_MECHANISM``,
      ``BLO_KAFKA_SASL_USERNAME`` and ``BLO_KAFKA_SASL_PASSWORD``;
    * SASL or TLS settings given while the protocol would not use them are an error (the
      operator meant to secure the link, and it would silently not be);
    * ``BLO_KAFKA_SSL_KEYFILE`` needs ``BLO_KAFKA_SSL_CERTFILE``; every given file must exist;
    * ``BLO_KAFKA_BOOTSTRAP`` must be set.

    Raises :class:`SettingsError`; messages never contain the password.
    """
    k.bootstrap_servers()  # raises SettingsError naming BLO_KAFKA_BOOTSTRAP
    proto = f"BLO_KAFKA_SECURITY_PROTOCOL={k.security_protocol}"
    sasl_given = {
        "BLO_KAFKA_SASL_MECHANISM": k.sasl_mechanism,
        "BLO_KAFKA_SASL_USERNAME": k.sasl_username,
        "BLO_KAFKA_SASL_PASSWORD": (
            k.sasl_password.get_secret_value() if k.sasl_password is not None else None
        ),
    }
    if _uses_sasl(k):
        missing = [var for var, v in sasl_given.items() if not v]
        if missing:
            raise SettingsError(f"{proto} needs {', '.join(missing)} to be set")
    else:
        stray = [var for var, v in sasl_given.items() if v]
        if stray:
            raise SettingsError(
                f"{', '.join(stray)} given but {proto} does not use SASL: "
                "set BLO_KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT), or unset them"
            )
    ssl_files = {
        "BLO_KAFKA_SSL_CAFILE": k.ssl_cafile,
        "BLO_KAFKA_SSL_CERTFILE": k.ssl_certfile,
        "BLO_KAFKA_SSL_KEYFILE": k.ssl_keyfile,
    }
    if _uses_ssl(k):
        if k.ssl_keyfile is not None and k.ssl_certfile is None:
            raise SettingsError("BLO_KAFKA_SSL_KEYFILE is set without BLO_KAFKA_SSL_CERTFILE")
        for var, path in ssl_files.items():
            if path is not None and not path.is_file():
                raise SettingsError(f"{var}={str(path)!r}: no such file")
    else:
        stray = [var for var, v in ssl_files.items() if v is not None]
        if stray:
            raise SettingsError(
                f"{', '.join(stray)} given but {proto} does not use TLS: "
                "set BLO_KAFKA_SECURITY_PROTOCOL=SSL (or SASL_SSL), or unset them"
            )


def _add_connection(kw: _ConnectionKwargs, k: KafkaSettings) -> None:
    """:func:`check_security`, then put bootstrap servers, protocol and (SASL protocols)
    the SASL credentials into ``kw``: the part kafka-python and aiokafka spell alike."""
    check_security(k)
    kw["bootstrap_servers"] = k.bootstrap_servers()
    kw["security_protocol"] = k.security_protocol
    if _uses_sasl(k):
        assert k.sasl_mechanism and k.sasl_username and k.sasl_password  # check_security
        kw["sasl_mechanism"] = k.sasl_mechanism
        kw["sasl_plain_username"] = k.sasl_username
        kw["sasl_plain_password"] = k.sasl_password.get_secret_value()


def kafka_python_kwargs(k: KafkaSettings, role: ClientRole = "producer") -> KafkaPythonKwargs:
    """Connection arguments for kafka-python clients (plus ``max_request_size`` for a
    producer). Raises :class:`SettingsError` (see :func:`check_security`)."""
    kw: KafkaPythonKwargs = {}
    _add_connection(kw, k)
    if _uses_ssl(k):
        if k.ssl_cafile is not None:
            kw["ssl_cafile"] = str(k.ssl_cafile)
        if k.ssl_certfile is not None:
            kw["ssl_certfile"] = str(k.ssl_certfile)
        if k.ssl_keyfile is not None:
            kw["ssl_keyfile"] = str(k.ssl_keyfile)
        kw["ssl_check_hostname"] = k.ssl_check_hostname
    if role == "producer":
        kw["max_request_size"] = k.max_request_bytes
    return kw


def ssl_context(k: KafkaSettings) -> ssl.SSLContext:
    """A client TLS context from the ``BLO_KAFKA_SSL_*`` files (system CAs when no CA file)."""
    from aiokafka.helpers import create_ssl_context

    try:
        ctx: ssl.SSLContext = create_ssl_context(
            cafile=k.ssl_cafile, certfile=k.ssl_certfile, keyfile=k.ssl_keyfile
        )
    except (ssl.SSLError, OSError) as e:
        raise SettingsError(
            f"cannot load TLS material (BLO_KAFKA_SSL_CAFILE/CERTFILE/KEYFILE): {e}"
        ) from None
    ctx.check_hostname = k.ssl_check_hostname
    return ctx


def aiokafka_kwargs(k: KafkaSettings, role: ClientRole = "producer") -> AiokafkaKwargs:
    """Connection arguments for aiokafka clients (plus ``max_request_size`` for a
    producer). TLS is an :class:`ssl.SSLContext`. Raises :class:`SettingsError`."""
    kw: AiokafkaKwargs = {}
    _add_connection(kw, k)
    if _uses_ssl(k):
        kw["ssl_context"] = ssl_context(k)
    if role == "producer":
        kw["max_request_size"] = k.max_request_bytes
    return kw


def faust_broker_kwargs(k: KafkaSettings) -> FaustBrokerKwargs:
    """``faust.App`` arguments: ``broker="kafka://h1:p,h2:p"``, ``broker_credentials``
    (:class:`faust.SASLCredentials` / :class:`faust.SSLCredentials`, absent for
    PLAINTEXT) and ``producer_max_request_size``. Raises :class:`SettingsError`."""
    check_security(k)
    import faust  # local: heavy, and only Faust apps need it

    kw: FaustBrokerKwargs = {
        "broker": "kafka://" + ",".join(k.bootstrap_servers()),
        "producer_max_request_size": k.max_request_bytes,
    }
    ctx = ssl_context(k) if _uses_ssl(k) else None
    if _uses_sasl(k):
        assert k.sasl_mechanism and k.sasl_username and k.sasl_password  # check_security
        kw["broker_credentials"] = faust.SASLCredentials(
            mechanism=k.sasl_mechanism,
            username=k.sasl_username,
            password=k.sasl_password.get_secret_value(),
            ssl_context=ctx,
        )
    elif ctx is not None:
        kw["broker_credentials"] = faust.SSLCredentials(ctx)
    return kw


def redacted(kwargs: Mapping[str, object]) -> dict[str, object]:
    """A copy of client kwargs that is safe to log: secrets masked."""
    return {
        key: ("**********" if key in _SECRET_KEYS and value else value)
        for key, value in kwargs.items()
    }
