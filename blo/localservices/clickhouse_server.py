"""Run Debian's ``clickhouse-server`` (18.16) on free loopback ports, for tests and demos.

:class:`ClickHouseServer` writes a minimal ``<yandex>`` config into a directory it owns,
starts the server there, waits until a native-protocol ping answers, and stops it with
SIGTERM (then SIGKILL). Ports and data survive :meth:`ClickHouseServer.stop`, so
``stop()`` + ``start()`` is a restart of the *same* server (tests that take ClickHouse away
for a while rely on that).

Users, all only from 127.0.0.1: ``default`` (empty password), ``blo_secret`` (password
:data:`PASSWORD_USER_PASSWORD`), and the query API's two least-privilege users, as
docs/deployment.md ("ClickHouse users") describes them: ``blo_reader`` (profile
``readonly = 1``: no write, no DDL, no setting changed, no table function; only the
databases ``api_databases``) and ``blo_audit`` (``allow_ddl = 0``; only ``<db>_audit`` of
each of those databases, the door of migration 0006 into ``api_audit``/``api_token_use``).
:meth:`ClickHouseServer.reader_url` / :meth:`ClickHouseServer.audit_url` name them. With
``tls=True`` a self-signed certificate is made with ``openssl`` and the native TLS port
(``secure_port``) is opened too.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Self
from urllib.parse import quote
from xml.sax.saxutils import escape

from blo.localservices.process import ManagedProcess, free_port

__all__ = [  # free_port is re-exported: callers import it from here
    "AUDIT_PASSWORD", "AUDIT_USER", "PASSWORD_USER", "PASSWORD_USER_PASSWORD", "READER_PASSWORD",
    "READER_USER", "ClickHouseServer", "ClickHouseServerError", "ensure_installed", "free_port",
]

PASSWORD_USER = "blo_secret"
PASSWORD_USER_PASSWORD = "s3cr\u00e9t pass'word"  # deliberately awkward characters
READER_USER, READER_PASSWORD = "blo_reader", "reader-only-here"
AUDIT_USER, AUDIT_PASSWORD = "blo_audit", "audit-only-here"
AUDIT_SUFFIX = "_audit"  # the audit door's database: sinks/sql/0006_audit_writer.sql

_INSTALL_HINT = (
    "clickhouse-server is not installed. Install Debian's package with\n"
    "    apt-get update && apt-get install -y --no-install-recommends "
    "clickhouse-server clickhouse-client\n"
    "(or put a `clickhouse` binary on PATH)."
)


class ClickHouseServerError(RuntimeError):
    """The server binary is missing, or the server did not start / answer in time."""


def ensure_installed() -> list[str]:
    """Return the command prefix that runs the server (``[/usr/sbin/clickhouse-server]`` or
    ``[clickhouse, server]``); raise :class:`ClickHouseServerError` telling how to install it."""
    for candidate in ("/usr/sbin/clickhouse-server", shutil.which("clickhouse-server")):
        if candidate and os.access(candidate, os.X_OK):
            return [candidate]
    multi = shutil.which("clickhouse")
    if multi:
        return [multi, "server"]
    raise ClickHouseServerError(_INSTALL_HINT)


def _config_xml(root: Path, tcp_port: int, http_port: int, secure_port: int | None) -> str:
    tls = ""
    if secure_port is not None:
        tls = f"""
    <tcp_port_secure>{secure_port}</tcp_port_secure>
    <openSSL>
        <server>
            <certificateFile>{root / "tls" / "server.crt"}</certificateFile>
            <privateKeyFile>{root / "tls" / "server.key"}</privateKeyFile>
            <verificationMode>none</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>"""
    return f"""<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>{root / "log" / "clickhouse-server.log"}</log>
        <errorlog>{root / "log" / "clickhouse-server.err.log"}</errorlog>
        <size>20M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp_port}</tcp_port>
    <http_port>{http_port}</http_port>{tls}
    <path>{root / "data"}/</path>
    <tmp_path>{root / "tmp"}/</tmp_path>
    <user_files_path>{root / "user_files"}/</user_files_path>
    <format_schema_path>{root / "format_schemas"}/</format_schema_path>
    <users_config>{root / "users.xml"}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>67108864</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <max_connections>512</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <!-- filled only by queries run with log_queries = 1 (tests read memory_usage there) -->
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <flush_interval_milliseconds>1000</flush_interval_milliseconds>
    </query_log>
</yandex>
"""


def _databases_xml(names: Sequence[str]) -> str:
    return "".join(f"<database>{escape(n)}</database>" for n in names)


def _users_xml(api_databases: Sequence[str]) -> str:
    readable = _databases_xml(api_databases)
    audit = _databases_xml([d + AUDIT_SUFFIX for d in api_databases])
    # no API database: no API users (an empty allow_databases would allow them every one)
    api_users = f"""        <{READER_USER}>
            <password>{escape(READER_PASSWORD)}</password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>blo_api_reader</profile>
            <quota>default</quota>
            <allow_databases>{readable}</allow_databases>
        </{READER_USER}>
        <{AUDIT_USER}>
            <password>{escape(AUDIT_PASSWORD)}</password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>blo_api_audit</profile>
            <quota>default</quota>
            <allow_databases>{audit}</allow_databases>
        </{AUDIT_USER}>
""" if api_databases else ""
    return f"""<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
        </default>
        <blo_api_reader>
            <readonly>1</readonly>
            <max_memory_usage>4000000000</max_memory_usage>
            <!-- what sinks.sql.READ_ONLY_SETTINGS sends: under readonly = 1, 18.16 takes
                 a setting only at the value it already has -->
            <max_execution_time>120</max_execution_time>
        </blo_api_reader>
        <blo_api_audit>
            <readonly>0</readonly>
            <allow_ddl>0</allow_ddl>
        </blo_api_audit>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <{PASSWORD_USER}>
            <password>{escape(PASSWORD_USER_PASSWORD)}</password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </{PASSWORD_USER}>
{api_users}    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"""


def _make_self_signed(tls_dir: Path) -> None:
    openssl = shutil.which("openssl")
    if not openssl:
        raise ClickHouseServerError("tls=True needs the openssl command (apt-get install openssl)")
    tls_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(tls_dir / "server.key"), "-out", str(tls_dir / "server.crt"),
        ],
        check=True,
        capture_output=True,
    )


class ClickHouseServer(ManagedProcess):
    """One clickhouse-server process under ``directory`` on free loopback ports.

    Usable as a context manager (start on enter, stop on exit). ``stop()`` keeps ports and
    data: a later ``start()`` brings the same server back.
    """

    process_name = "clickhouse-server"
    error = ClickHouseServerError

    def __init__(
        self,
        directory: Path | str,
        *,
        tcp_port: int | None = None,
        http_port: int | None = None,
        tls: bool = False,
        api_databases: Sequence[str] = ("blo",),
        start_timeout_s: float = 30.0,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.host = "127.0.0.1"
        self.tcp_port = tcp_port or free_port()
        self.http_port = http_port or free_port()
        self.secure_port: int | None = free_port() if tls else None
        # what blo_reader / blo_audit may use; () = no such users (a test of its own users.d)
        self.api_databases = tuple(api_databases)
        super().__init__(start_timeout_s)
        self._command = ensure_installed()
        self._prepared = False

    # -- paths -------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.directory / "config.xml"

    @property
    def log_path(self) -> Path:
        return self.directory / "log" / "clickhouse-server.log"

    @property
    def err_log_path(self) -> Path:
        return self.directory / "log" / "clickhouse-server.err.log"

    @property
    def ca_certs(self) -> Path | None:
        """The self-signed certificate to trust (``tls=True`` only)."""
        return self.directory / "tls" / "server.crt" if self.secure_port else None

    def url(self, database: str = "blo") -> str:
        """``clickhouse://default:@127.0.0.1:PORT/<database>``."""
        return f"clickhouse://default:@{self.host}:{self.tcp_port}/{database}"

    def reader_url(self, database: str = "blo") -> str:
        """The API's read-only user (``readonly = 1``) on ``database``."""
        return (f"clickhouse://{READER_USER}:{quote(READER_PASSWORD, safe='')}@{self.host}:"
                f"{self.tcp_port}/{database}")

    def audit_url(self, database: str = "blo") -> str:
        """The API's audit writer: the door ``<database>_audit`` and nothing else."""
        return (f"clickhouse://{AUDIT_USER}:{quote(AUDIT_PASSWORD, safe='')}@{self.host}:"
                f"{self.tcp_port}/{database}{AUDIT_SUFFIX}")

    # -- lifecycle ---------------------------------------------------------------------
    def _prepare(self) -> None:
        if self._prepared:
            return
        for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        if self.secure_port is not None:
            _make_self_signed(self.directory / "tls")
        self.config_path.write_text(
            _config_xml(self.directory, self.tcp_port, self.http_port, self.secure_port)
        )
        (self.directory / "users.xml").write_text(_users_xml(self.api_databases))
        self._prepared = True

    def start(self) -> Self:
        """Start (or restart after :meth:`stop`) and wait for a native ping to succeed."""
        if self.running:
            return self
        self._prepare()
        self._launch(
            [*self._command, f"--config-file={self.config_path}"],
            cwd=self.directory,
            log_path=self.directory / "log" / "stdout.log",
            readiness=f"a native ping on {self.host}:{self.tcp_port}",
        )
        return self

    def ping(self, timeout_s: float = 1.0) -> bool:
        """True if the native protocol answers (clickhouse-driver ``SELECT 1``)."""
        try:  # cheap check first: the driver logs a traceback for every refused connect
            socket.create_connection((self.host, self.tcp_port), timeout_s).close()
        except OSError:
            return False
        from clickhouse_driver import Client  # local: only needed while starting

        client = Client(
            host=self.host,
            port=self.tcp_port,
            user="default",
            connect_timeout=timeout_s,
            send_receive_timeout=timeout_s,
            sync_request_timeout=timeout_s,
        )
        try:
            return bool(client.execute("SELECT 1") == [(1,)])
        except Exception:  # noqa: BLE001 - any failure means "not ready yet"
            return False
        finally:
            client.disconnect()

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL. Ports and data stay."""
        super().stop(timeout_s)

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in (self.err_log_path, self.directory / "log" / "stdout.log"):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    parts.append(f"--- tail of {path} ---\n" + "\n".join(text))
        return "\n".join(parts) or f"(no log written under {self.directory / 'log'})"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"ClickHouseServer({self.host}:{self.tcp_port}, {state}, dir={self.directory})"
